//! The session manager: which sessions exist, which engine each runs on, and
//! the status of each. A session keeps the engine instance it was opened on
//! until it is restarted.

use std::{
    collections::BTreeMap,
    path::PathBuf,
    sync::{Arc, Mutex, MutexGuard, PoisonError, RwLock},
    time::Duration,
};

use abi_stable::std_types::RResult;
use serde::Serialize;
use serde_json::Value;
use wharf_engine_api::{SessionContext, SessionStatus, ffi::SessionBox};

use crate::{
    engine_bridge::EngineBridge,
    errors::ApiError,
    registry::{LoadedEngine, Registry},
};

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while holding the lock cannot leave this plain data half
    // written in a way that matters more than refusing to serve.
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The live state of one session, shared with the engine's event bridge.
#[derive(Default)]
pub struct SessionState {
    inner: Mutex<Lifecycle>,
}

struct Lifecycle {
    status: SessionStatus,
    reason: Option<String>,
    qr: Option<String>,
    handle: Option<Arc<SessionBox>>,
}

impl Default for Lifecycle {
    fn default() -> Self {
        Self {
            status: SessionStatus::Stopped,
            reason: None,
            qr: None,
            handle: None,
        }
    }
}

impl SessionState {
    pub fn set_status(&self, status: SessionStatus, reason: Option<String>) {
        let mut state = lock(&self.inner);
        state.status = status;
        state.reason = reason;
        if status != SessionStatus::ScanQrCode {
            state.qr = None;
        }
    }

    pub fn set_qr(&self, value: String) {
        lock(&self.inner).qr = Some(value);
    }

    /// The status as REST users see it: an engine may report WORKING before
    /// the host holds its session, and until then requests cannot be served.
    pub fn status(&self) -> (SessionStatus, Option<String>) {
        let state = lock(&self.inner);
        match (state.status, &state.handle) {
            (SessionStatus::Working, None) => (SessionStatus::Starting, None),
            (status, _) => (status, state.reason.clone()),
        }
    }

    /// The engine session, when the session can serve requests.
    pub fn working_handle(&self) -> Option<Arc<SessionBox>> {
        let state = lock(&self.inner);
        match state.status {
            SessionStatus::Working => state.handle.clone(),
            _ => None,
        }
    }

    fn opened(&self, handle: SessionBox) {
        let mut state = lock(&self.inner);
        state.handle = Some(Arc::new(handle));
        if state.status == SessionStatus::Stopped {
            state.status = SessionStatus::Starting;
        }
    }

    fn take_handle(&self) -> Option<Arc<SessionBox>> {
        lock(&self.inner).handle.take()
    }
}

/// A session the host knows about.
pub struct ManagedSession {
    name: String,
    engine: Arc<LoadedEngine>,
    config: Value,
    state: Arc<SessionState>,
}

impl ManagedSession {
    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn engine(&self) -> &Arc<LoadedEngine> {
        &self.engine
    }

    pub fn state(&self) -> &SessionState {
        &self.state
    }

    /// The WAHA session object.
    pub fn info(&self) -> SessionInfo {
        let (status, reason) = self.state.status();
        SessionInfo {
            name: self.name.clone(),
            status: status.as_waha(),
            reason,
            config: self.config.clone(),
            me: None,
            engine: EngineInfo {
                engine: self.engine.name().to_owned(),
                version: self.engine.manifest().version.to_string(),
            },
        }
    }
}

/// A session as `GET /api/sessions` shows it (WAHA's `SessionInfo`).
#[derive(Debug, Serialize)]
pub struct SessionInfo {
    pub name: String,
    pub status: &'static str,
    /// Why the session FAILED (or stopped), when the engine said.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    pub config: Value,
    pub me: Option<Value>,
    pub engine: EngineInfo,
}

#[derive(Debug, Serialize)]
pub struct EngineInfo {
    pub engine: String,
    pub version: String,
}

/// What a client asks for when it creates a session.
pub struct NewSession {
    pub name: String,
    pub engine: Option<String>,
    pub config: Value,
    pub start: bool,
}

/// Every session of this host.
pub struct SessionManager {
    registry: Arc<Registry>,
    sessions_dir: PathBuf,
    default_engine: String,
    deadline: Duration,
    sessions: RwLock<BTreeMap<String, Arc<ManagedSession>>>,
}

impl SessionManager {
    pub fn new(
        registry: Arc<Registry>,
        data_dir: PathBuf,
        default_engine: String,
        deadline: Duration,
    ) -> Self {
        Self {
            registry,
            sessions_dir: data_dir.join("sessions"),
            default_engine,
            deadline,
            sessions: RwLock::default(),
        }
    }

    pub fn registry(&self) -> &Arc<Registry> {
        &self.registry
    }

    /// How long an engine may take for one operation.
    pub fn deadline(&self) -> Duration {
        self.deadline
    }

    pub fn get(&self, name: &str) -> Option<Arc<ManagedSession>> {
        self.sessions
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(name)
            .cloned()
    }

    pub fn list(&self) -> Vec<Arc<ManagedSession>> {
        self.sessions
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .values()
            .cloned()
            .collect()
    }

    /// Creates a session and, when asked, starts opening it in the background.
    pub fn create(&self, request: NewSession) -> Result<Arc<ManagedSession>, ApiError> {
        validate_session_name(&request.name)?;
        if !request.config.is_object() {
            return Err(ApiError::bad_request("config", "must be a JSON object"));
        }
        let engine_name = request.engine.as_deref().unwrap_or(&self.default_engine);
        let engine = self.registry.engine(engine_name).ok_or_else(|| {
            ApiError::bad_request(
                "engine",
                format!(
                    "no engine '{engine_name}' is loaded; loaded engines: [{}]",
                    self.registry.names().join(", ")
                ),
            )
        })?;
        let session = Arc::new(ManagedSession {
            name: request.name.clone(),
            engine,
            config: request.config,
            state: Arc::default(),
        });
        {
            let mut sessions = self
                .sessions
                .write()
                .unwrap_or_else(PoisonError::into_inner);
            if sessions.contains_key(&request.name) {
                return Err(ApiError::session_exists(&request.name));
            }
            sessions.insert(request.name, Arc::clone(&session));
        }
        if request.start {
            self.start(&session);
        }
        Ok(session)
    }

    /// Opens the session on its engine in the background. The status moves
    /// to STARTING now, and on with the engine's events; an engine that
    /// cannot open, or does not within the deadline, leaves it FAILED.
    pub fn start(&self, session: &Arc<ManagedSession>) {
        session.state.set_status(SessionStatus::Starting, None);
        let data_dir = self.sessions_dir.join(&session.name);
        let deadline = self.deadline;
        let session = Arc::clone(session);
        tokio::spawn(async move {
            if let Err(err) = tokio::fs::create_dir_all(&data_dir).await {
                let reason = format!("cannot create {}: {err}", data_dir.display());
                session
                    .state
                    .set_status(SessionStatus::Failed, Some(reason));
                return;
            }
            let context = SessionContext {
                session: session.name.as_str().into(),
                config: session.config.to_string().into(),
                data_dir: data_dir.to_string_lossy().as_ref().into(),
                host: EngineBridge::boxed(
                    &session.name,
                    session.engine.name(),
                    Arc::clone(&session.state),
                ),
            };
            let opening = session.engine.open_session(context);
            match tokio::time::timeout(deadline, opening).await {
                Ok(RResult::ROk(handle)) => session.state.opened(handle),
                Ok(RResult::RErr(err)) => {
                    let reason = err.message.into_string();
                    tracing::warn!(session = session.name, %reason, "session failed to open");
                    session
                        .state
                        .set_status(SessionStatus::Failed, Some(reason));
                }
                Err(_) => {
                    let reason = format!("the engine did not open the session within {deadline:?}");
                    session
                        .state
                        .set_status(SessionStatus::Failed, Some(reason));
                }
            }
        });
    }

    /// Closes every open session, for a clean shutdown.
    pub async fn close_all(&self) {
        for session in self.list() {
            if let Some(handle) = session.state.take_handle() {
                if tokio::time::timeout(self.deadline, handle.close())
                    .await
                    .is_err()
                {
                    tracing::warn!(
                        session = session.name,
                        "the engine did not close the session in time"
                    );
                }
                session.state.set_status(SessionStatus::Stopped, None);
            }
        }
    }
}

/// Session names become directory names and URL segments, so they are kept
/// to a safe alphabet.
fn validate_session_name(name: &str) -> Result<(), ApiError> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if ok {
        Ok(())
    } else {
        Err(ApiError::bad_request(
            "name",
            format!("'{name}' must be 1 to 64 characters of letters, digits, '-' or '_'"),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn session_names_cannot_escape_the_data_directory() {
        for ok in ["default", "sales-2", "A_b"] {
            assert!(validate_session_name(ok).is_ok(), "{ok}");
        }
        for bad in ["", "..", "a/b", "a b", "ü", &"x".repeat(65)] {
            assert!(validate_session_name(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn working_is_shown_as_starting_until_the_host_holds_the_session() {
        let state = SessionState::default();
        state.set_status(SessionStatus::Working, None);
        assert_eq!(state.status().0, SessionStatus::Starting);
        assert!(state.working_handle().is_none());
        state.set_status(SessionStatus::Failed, Some("boom".into()));
        assert_eq!(state.status(), (SessionStatus::Failed, Some("boom".into())));
    }
}
