//! The session manager: which sessions exist, which engine each runs on, and
//! the status of each, with WAHA's lifecycle (create, start, stop, restart,
//! logout, update, delete).
//!
//! A session's definition (engine name, config, whether it should run) is
//! stored, so the host starts again after a restart or crash every session
//! that was running. Each start is a new [`Run`]: one engine instance, kept
//! until the session stops or restarts, whose events update only that run.
//!
//! # What each operation guarantees
//!
//! Lifecycle operations on one session (create, start, stop, restart,
//! update, logout, delete) take the session's lifecycle lock, so each one
//! happens whole, before or after any other; an operation that found the
//! session before a delete finished answers 404 and revives nothing.
//!
//! - `start`, `restart`, `update` and `create` answer promptly: the engine
//!   opens the session in the background (STARTING until it reports).
//! - Closing a run (`stop`, `restart`, `update` of a running session,
//!   `logout`, `delete`) first waits for that run's opening to finish, and
//!   for the engine calls in flight on it, each bounded by the engine
//!   deadline; then it closes the engine session the run opened. Calls that
//!   arrive once closing has begun see the new state (422, or 404 once
//!   deleted), never a closed engine session.
//! - `logout` and `delete` remove the data directory only after the run is
//!   fully closed, so nothing of the old run writes into it afterwards.
//!   `delete` removes the directory before the stored session, so a new
//!   session of the same name never inherits old data.
//! - When the call answers 200, the end state is the documented one:
//!   `stop` leaves the session STOPPED, `start`/`restart` running, `logout`
//!   running again (on fresh data) when it was running, `delete` gone with
//!   no directory and no engine session left open.

pub mod config_files;
mod errors;
mod feed;
mod host_services;
mod spec;
mod status;
mod store;

pub use errors::SessionError;
pub use status::Status;

use std::{
    collections::BTreeMap,
    path::PathBuf,
    sync::{
        Arc, Mutex, MutexGuard, PoisonError, RwLock,
        atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering},
    },
    time::Duration,
};

use abi_stable::std_types::RResult;
use futures_util::FutureExt;
use serde::Serialize;
use serde_json::Value;
use tokio::{sync::Notify, task::JoinHandle};
use utoipa::ToSchema;
use wharf_engine_api::{Contact, EngineError, SessionContext, ffi::SessionBox};

use self::{
    config_files::ConfigFiles,
    feed::{RunFeed, StatusFeed},
    host_services::EngineBridge,
    spec::{DefinedEngine, Spec},
    store::RunStore,
};
use crate::{
    engines::{
        EngineRef, LoadedEngine, Registry,
        call::{CallFailure, bounded},
    },
    events::{self, Events, Source},
    secrets,
    storage::{Storage, StoredSession, WriteFence},
};

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // The data behind these locks is replaced whole, never left half
    // written, so a panic elsewhere while holding one does not corrupt it.
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The live state of one run, shared with the engine's event bridge.
#[derive(Default)]
pub struct SessionState {
    inner: Mutex<Lifecycle>,
    /// Hides the run's config secrets in text the engine hands back.
    secrets: secrets::Scrubber,
    /// Where the run's status changes are told.
    feed: Option<RunFeed>,
}

struct Lifecycle {
    status: Status,
    reason: Option<String>,
    qr: Option<String>,
    me: Option<Me>,
    handle: Option<Arc<SessionBox>>,
}

impl Lifecycle {
    /// The status as REST users see it: an engine may report WORKING before
    /// the host holds its session, and until then requests cannot be served.
    fn shown(&self) -> (Status, Option<String>) {
        match (self.status, &self.handle) {
            (Status::Working, None) => (Status::Starting, None),
            (status, _) => (status, self.reason.clone()),
        }
    }
}

impl Default for Lifecycle {
    fn default() -> Self {
        Self {
            status: Status::Stopped,
            reason: None,
            qr: None,
            me: None,
            handle: None,
        }
    }
}

/// The account a session is logged in as (WAHA's `me`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Me {
    /// The account's chat id.
    #[schema(example = "11231231231@c.us")]
    pub id: String,
    /// The account's own display name.
    #[schema(example = "My Business")]
    pub push_name: Option<String>,
}

impl SessionState {
    /// The state of a new run, in `status`, reporting to `feed` once it is
    /// the session's current run ([`SessionState::announce`]).
    fn new(feed: Option<RunFeed>, status: Status, reason: Option<String>) -> Self {
        let state = Self {
            feed,
            ..Self::default()
        };
        state.set_status(status, reason);
        state
    }

    /// Makes this the run whose status changes are told, and tells its
    /// status now.
    fn announce(&self) {
        let state = lock(&self.inner);
        if let Some(feed) = &self.feed {
            let (status, reason) = state.shown();
            feed.activate(status, reason.as_deref(), state.me.as_ref());
        }
    }

    /// Tells the feed the status as it now is; called with the state
    /// locked, so reports keep the order of the changes.
    fn changed(&self, state: &Lifecycle) {
        if let Some(feed) = &self.feed {
            let (status, reason) = state.shown();
            feed.observe(status, reason.as_deref(), state.me.as_ref());
        }
    }

    /// Tells the contact event `name` of `contact`, if this is the
    /// session's current run.
    pub fn contact_changed(&self, name: &'static str, contact: &Contact) {
        if let Some(feed) = &self.feed {
            feed.contact(name, contact, self.me().as_ref());
        }
    }

    /// Text from the engine (a reason, an error, a log line) with the
    /// session config's secrets hidden.
    pub fn scrub(&self, text: &str) -> String {
        self.secrets.scrub(text)
    }

    pub fn set_status(&self, status: Status, reason: Option<String>) {
        let reason = reason.map(|reason| self.scrub(&reason));
        let mut state = lock(&self.inner);
        state.status = status;
        state.reason = reason;
        if status != Status::ScanQrCode {
            state.qr = None;
        }
        self.changed(&state);
    }

    /// Gives the status the run has now a reason, unless the engine has
    /// moved it on or given one: a note from the host about how the run
    /// began (or ended) that the engine's own reports replace.
    fn note(&self, status: Status, reason: String) {
        let mut state = lock(&self.inner);
        if state.status == status && state.reason.is_none() {
            state.reason = Some(self.scrub(&reason));
            self.changed(&state);
        }
    }

    pub fn set_qr(&self, value: String) {
        lock(&self.inner).qr = Some(value);
    }

    pub fn set_me(&self, me: Me) {
        lock(&self.inner).me = Some(me);
    }

    /// The status as REST users see it ([`Lifecycle::shown`]).
    pub fn status(&self) -> (Status, Option<String>) {
        lock(&self.inner).shown()
    }

    /// [`SessionState::status`] and [`SessionState::me`] at one moment.
    fn status_and_me(&self) -> (Status, Option<String>, Option<Me>) {
        let state = lock(&self.inner);
        let (status, reason) = state.shown();
        (status, reason, state.me.clone())
    }

    /// The QR code to scan, while the session waits for one.
    pub fn qr(&self) -> Option<String> {
        let state = lock(&self.inner);
        (state.status == Status::ScanQrCode)
            .then(|| state.qr.clone())
            .flatten()
    }

    pub fn me(&self) -> Option<Me> {
        lock(&self.inner).me.clone()
    }

    /// The engine session when the session is in `needed`; otherwise the
    /// status it is in as REST users see it ([`Lifecycle::shown`]), and why.
    pub fn handle_in(&self, needed: Status) -> Result<Arc<SessionBox>, (Status, Option<String>)> {
        let state = lock(&self.inner);
        match &state.handle {
            Some(handle) if state.status == needed => Ok(Arc::clone(handle)),
            _ => Err(state.shown()),
        }
    }

    /// The engine session while the engine has one open (any status but
    /// STOPPED and FAILED).
    pub fn handle(&self) -> Option<Arc<SessionBox>> {
        lock(&self.inner).handle.clone()
    }

    /// The engine session, when the session can serve contact requests.
    pub fn working_handle(&self) -> Option<Arc<SessionBox>> {
        let state = lock(&self.inner);
        match state.status {
            Status::Working => state.handle.clone(),
            _ => None,
        }
    }

    fn opened(&self, handle: SessionBox) {
        let mut state = lock(&self.inner);
        state.handle = Some(Arc::new(handle));
        if matches!(state.status, Status::Stopped) {
            state.status = Status::Starting;
        }
        self.changed(&state);
    }

    fn take_handle(&self) -> Option<Arc<SessionBox>> {
        let mut state = lock(&self.inner);
        let handle = state.handle.take();
        self.changed(&state);
        handle
    }
}

/// Distinguishes runs, so caches keyed by run forget a session's answers
/// when it restarts.
static NEXT_RUN_ID: AtomicU64 = AtomicU64::new(1);

/// Held by an engine call for its whole duration: the run it goes to does
/// not close until the call is done.
pub struct CallGuard(Arc<Run>);

impl CallGuard {
    /// The run the call goes to.
    pub fn run(&self) -> &Arc<Run> {
        &self.0
    }
}

impl Drop for CallGuard {
    fn drop(&mut self) {
        self.0.calls.leave();
    }
}

/// The engine calls in flight on a run, counted so that closing the run
/// can wait for them. A count and a flag rather than an async lock: every
/// engine call of a busy session passes here, on whichever thread, and
/// releasing an async lock takes a mutex of its own.
#[derive(Default)]
struct InFlight {
    count: AtomicUsize,
    closing: AtomicBool,
    /// Told when the last call leaves a closing run.
    quiet: Notify,
}

impl InFlight {
    /// Counts a call in, unless the run is closing. The count is raised
    /// before the flag is read, and [`InFlight::close`] raises the flag
    /// before it reads the count (both sequentially consistent): a call
    /// is either refused or waited for.
    fn enter(&self) -> bool {
        if self.closing.load(Ordering::SeqCst) {
            return false;
        }
        self.count.fetch_add(1, Ordering::SeqCst);
        if self.closing.load(Ordering::SeqCst) {
            self.leave();
            return false;
        }
        true
    }

    fn leave(&self) {
        if self.count.fetch_sub(1, Ordering::SeqCst) == 1 && self.closing.load(Ordering::SeqCst) {
            self.quiet.notify_waiters();
        }
    }

    /// Refuses new calls and waits until the calls counted in are done.
    async fn close(&self) {
        self.closing.store(true, Ordering::SeqCst);
        loop {
            let quiet = self.quiet.notified();
            tokio::pin!(quiet);
            // Registered before the count is read, so the last call's
            // notice cannot come between the two.
            quiet.as_mut().enable();
            if self.count.load(Ordering::SeqCst) == 0 {
                return;
            }
            quiet.await;
        }
    }
}

/// One opening of a session on one engine instance.
pub struct Run {
    id: u64,
    engine: Option<Arc<LoadedEngine>>,
    state: Arc<SessionState>,
    /// The background opening, awaited before the run closes: what it opens
    /// must be closed, and it must not write into a directory being removed.
    opening: Mutex<Option<JoinHandle<()>>>,
    /// Engine calls are counted in and out; closing, once the run stopped
    /// being current, waits for the calls in flight and no call can start
    /// on it afterwards.
    calls: InFlight,
    /// Closed once the run has ended: the engine may write the session's
    /// store until then, and never after.
    fence: WriteFence,
}

impl Run {
    fn new(engine: Option<Arc<LoadedEngine>>, state: SessionState) -> Arc<Self> {
        Arc::new(Self {
            id: NEXT_RUN_ID.fetch_add(1, Ordering::Relaxed),
            engine,
            state: Arc::new(state),
            opening: Mutex::new(None),
            calls: InFlight::default(),
            fence: WriteFence::default(),
        })
    }

    pub fn id(&self) -> u64 {
        self.id
    }

    /// The engine this run was opened on, if it got that far.
    pub fn engine(&self) -> Option<&Arc<LoadedEngine>> {
        self.engine.as_ref()
    }

    pub fn state(&self) -> &SessionState {
        &self.state
    }

    fn is_active(&self) -> bool {
        self.state.status().0.is_active()
    }

    /// Whether the session was started and not stopped since: its run is
    /// opening, pairing, working, or failed. A failed run is still meant to
    /// run, and may still hold an engine session (an engine that keeps
    /// retrying its connection reports FAILED meanwhile).
    fn was_started(&self) -> bool {
        self.state.status().0 != Status::Stopped
    }

    /// Waits until nothing uses this run any more: its opening has finished
    /// (the opening bounds itself by the engine deadline) and the engine
    /// calls in flight are done (each bounded by the deadline too). Only for
    /// a run that is no longer current, which no new call can reach.
    async fn quiesce(&self, session: &str) {
        let opening = lock(&self.opening).take();
        if let Some(opening) = opening
            && let Err(err) = opening.await
        {
            tracing::warn!(session, %err, "the opening of the session ended abnormally");
        }
        self.calls.close().await;
    }

    /// Ends a quiesced run: closes its engine session, if it opened one
    /// and it is still held (waiting at most `deadline`), then refuses
    /// the run's writes to the session's store. The engine may still write
    /// while it closes (a last flush), never afterwards.
    async fn end(&self, session: &str, deadline: Duration) {
        if let Some(handle) = self.state.take_handle() {
            close_engine_session(session, &handle, deadline).await;
        }
        self.fence.close();
    }
}

/// A session the host knows about.
pub struct ManagedSession {
    name: String,
    spec: Mutex<Spec>,
    run: Mutex<Arc<Run>>,
    /// Serializes create, start, stop, restart, update, logout and delete of
    /// this session. A request that looked the session up before it was
    /// deleted must not act on it: it finds [`Existence::Deleted`] here.
    lifecycle: tokio::sync::Mutex<Existence>,
    /// Where its runs' status changes are told.
    feed: Arc<StatusFeed>,
}

/// Whether a session still exists, as its lifecycle lock holds it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Existence {
    Exists,
    Deleted,
}

impl ManagedSession {
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The engine the session is defined to run on, in the current scan of
    /// `registry`.
    pub fn defined_engine(&self, registry: &Registry) -> Option<Arc<LoadedEngine>> {
        let engine = lock(&self.spec).engine.clone();
        engine.resolve(&registry.snapshot())
    }

    /// The current (or last) run.
    pub fn run(&self) -> Arc<Run> {
        Arc::clone(&lock(&self.run))
    }

    /// The current run, held by a guard that keeps it from closing while
    /// one engine call is in flight; or, for a run already closing, the
    /// run alone.
    pub fn enter(&self) -> Result<CallGuard, Arc<Run>> {
        // Under the run lock, so a closing can only take a run over after
        // this call is counted, or this sees the run that replaced it.
        let current = lock(&self.run);
        let run = Arc::clone(&current);
        if run.calls.enter() {
            Ok(CallGuard(run))
        } else {
            Err(run)
        }
    }

    /// Makes `run` the current run, tells its status, and returns the run
    /// it replaced.
    fn replace_run(&self, run: Arc<Run>) -> Arc<Run> {
        let mut current = lock(&self.run);
        run.state.announce();
        std::mem::replace(&mut *current, run)
    }

    /// Takes the lifecycle lock; a session deleted meanwhile is a 404.
    async fn lock_lifecycle(&self) -> Result<tokio::sync::MutexGuard<'_, Existence>, SessionError> {
        let lifecycle = self.lifecycle.lock().await;
        if *lifecycle == Existence::Deleted {
            return Err(SessionError::NotFound {
                session: self.name.clone(),
            });
        }
        Ok(lifecycle)
    }
}

/// A session as `GET /api/sessions` shows it (WAHA's `SessionInfo`).
#[derive(Debug, Serialize, ToSchema)]
pub struct SessionInfo {
    /// The session's name.
    #[schema(example = "default")]
    pub name: String,
    pub status: Status,
    /// Why the session FAILED, when the engine or host said.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// The engine's session config.
    #[schema(value_type = Object)]
    pub config: Value,
    /// The account the session is logged in as, once known.
    pub me: Option<Me>,
    /// The engine the session runs on.
    pub engine: EngineInfo,
}

/// The engine of a session, as WAHA's `engine` field shows it.
#[derive(Debug, Serialize, ToSchema)]
pub struct EngineInfo {
    /// The engine's name, or `name@version` when the session pins a version.
    #[schema(example = "sandbox")]
    pub engine: String,
    /// The version of the engine the session runs (or would run) on.
    #[schema(example = "0.1.0")]
    pub version: Option<String>,
}

/// What a client asks for when it creates a session.
pub struct NewSession {
    pub name: String,
    pub engine: Option<String>,
    pub config: Value,
    pub start: bool,
}

/// A change to a session's definition.
pub struct SessionUpdate {
    pub engine: Option<String>,
    pub config: Option<Value>,
}

/// Every session of this host.
pub struct SessionManager {
    registry: Arc<Registry>,
    storage: Storage,
    sessions_dir: PathBuf,
    default_engine: EngineRef,
    deadline: Duration,
    config_files: Arc<ConfigFiles>,
    events: Option<Arc<Events>>,
    sessions: RwLock<BTreeMap<String, Arc<ManagedSession>>>,
}

impl SessionManager {
    pub fn new(
        registry: Arc<Registry>,
        storage: Storage,
        data_dir: PathBuf,
        default_engine: EngineRef,
        deadline: Duration,
    ) -> Self {
        Self {
            registry,
            storage,
            sessions_dir: data_dir.join("sessions"),
            default_engine,
            deadline,
            config_files: Arc::new(ConfigFiles::none()),
            events: None,
            sessions: RwLock::default(),
        }
    }

    /// Tells `events` what happens to the sessions (no one by default).
    pub fn with_events(mut self, events: Arc<Events>) -> Self {
        self.events = Some(events);
        self
    }

    /// Lets session configs name files in `files` (none by default).
    pub fn with_config_files(mut self, files: ConfigFiles) -> Self {
        self.config_files = Arc::new(files);
        self
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

    /// What `read` makes of the session, read under the sessions' lock
    /// rather than through a clone of it; or the 404 that names it.
    pub fn with<T>(
        &self,
        name: &str,
        read: impl FnOnce(&ManagedSession) -> T,
    ) -> Result<T, SessionError> {
        let sessions = self.sessions.read().unwrap_or_else(PoisonError::into_inner);
        sessions
            .get(name)
            .map(|session| read(session))
            .ok_or_else(|| SessionError::NotFound {
                session: name.to_owned(),
            })
    }

    /// The session, or the 404 that names it.
    pub fn find(&self, name: &str) -> Result<Arc<ManagedSession>, SessionError> {
        self.get(name).ok_or_else(|| SessionError::NotFound {
            session: name.to_owned(),
        })
    }

    pub fn list(&self) -> Vec<Arc<ManagedSession>> {
        self.sessions
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .values()
            .cloned()
            .collect()
    }

    /// The WAHA session object. Each lock is taken once and the config
    /// copied once (masked): a list of 10,000 sessions builds 10,000.
    pub fn info(&self, session: &ManagedSession) -> SessionInfo {
        let (engine, config) = {
            let spec = lock(&session.spec);
            (spec.engine.clone(), secrets::masked(&spec.config))
        };
        let run = session.run();
        let (status, reason, me) = run.state.status_and_me();
        let version = match run.engine.as_ref().filter(|_| status.is_active()) {
            Some(engine) => Some(engine.version().to_string()),
            None => (engine.resolve(&self.registry.snapshot())).map(|e| e.version().to_string()),
        };
        SessionInfo {
            name: session.name.clone(),
            status,
            reason,
            config,
            me,
            engine: EngineInfo {
                engine: engine.to_string(),
                version,
            },
        }
    }

    /// Checks an engine reference from a client and that it names a loaded
    /// engine.
    fn engine_reference(&self, field: &str, text: &str) -> Result<EngineRef, SessionError> {
        let reference =
            EngineRef::parse(text).map_err(|problem| SessionError::invalid(field, problem))?;
        self.loaded(field, reference)
    }

    /// `reference`, if it names a loaded engine.
    fn loaded(&self, field: &str, reference: EngineRef) -> Result<EngineRef, SessionError> {
        let snapshot = self.registry.snapshot();
        if snapshot.resolve(&reference).is_none() {
            return Err(SessionError::invalid(
                field,
                format!(
                    "no engine '{reference}' is loaded; loaded engines: [{}]",
                    snapshot.labels().join(", ")
                ),
            ));
        }
        Ok(reference)
    }

    /// Brings back the stored sessions and starts those that should run.
    /// One line says how many (each session's own is a debug line: a host
    /// of 10,000 sessions logs their starts anyway, as status changes).
    pub async fn restore(&self) -> Result<(), SessionError> {
        let stored = self.storage.sessions().await?;
        let (count, mut started) = (stored.len(), 0);
        for session in stored {
            let name = session.name.clone();
            let should_run = session.should_run;
            started += usize::from(should_run);
            let engine = DefinedEngine::stored(session.engine);
            if let DefinedEngine::Unparsable { text, problem } = &engine {
                tracing::warn!(
                    session = name,
                    engine = text,
                    problem,
                    "the stored engine of the session is not an engine reference"
                );
            }
            self.insert(session.name, engine, session.config, should_run)
                .await;
            tracing::debug!(session = name, should_run, "session restored");
        }
        tracing::info!(sessions = count, started, "stored sessions restored");
        Ok(())
    }

    /// Makes the session known and, when asked, starts it, under its
    /// lifecycle lock: a delete that finds it at once waits for the start.
    async fn insert(
        &self,
        name: String,
        engine: DefinedEngine,
        config: Value,
        start: bool,
    ) -> Arc<ManagedSession> {
        let session = Arc::new(ManagedSession {
            name: name.clone(),
            spec: Mutex::new(Spec { engine, config }),
            run: Mutex::new(Run::new(None, SessionState::default())),
            lifecycle: tokio::sync::Mutex::new(Existence::Exists),
            feed: StatusFeed::new(self.events.clone()),
        });
        {
            let _lifecycle = session.lifecycle.lock().await;
            self.sessions
                .write()
                .unwrap_or_else(PoisonError::into_inner)
                .insert(name, Arc::clone(&session));
            if start {
                self.start_run(&session);
            }
        }
        session
    }

    /// Creates and stores a session and, when asked, starts it.
    pub async fn create(&self, request: NewSession) -> Result<Arc<ManagedSession>, SessionError> {
        validate_session_name(&request.name)?;
        validate_config(&request.config)?;
        let engine = match &request.engine {
            Some(engine) => self.engine_reference("engine", engine)?,
            None => self.loaded("engine", self.default_engine.clone())?,
        };
        if self.get(&request.name).is_some() {
            return Err(SessionError::Exists {
                session: request.name,
            });
        }
        let stored = StoredSession {
            name: request.name.clone(),
            engine: engine.to_string(),
            config: request.config.clone(),
            should_run: request.start,
        };
        if !self.storage.insert(stored).await? {
            return Err(SessionError::Exists {
                session: request.name,
            });
        }
        Ok(self
            .insert(
                request.name,
                DefinedEngine::Ref(engine),
                request.config,
                request.start,
            )
            .await)
    }

    /// Starts a stopped or failed session; a running one is left as it is.
    pub async fn start(&self, session: &Arc<ManagedSession>) -> Result<(), SessionError> {
        let _lifecycle = session.lock_lifecycle().await?;
        self.storage.set_should_run(&session.name, true).await?;
        if !session.run().is_active() {
            // A run that failed or stopped on its own may still hold an
            // engine session; it is closed before the new one opens.
            self.close_run(session).await;
            self.start_run(session);
        }
        Ok(())
    }

    /// Stops a session; it stays stopped across host restarts.
    pub async fn stop(&self, session: &Arc<ManagedSession>) -> Result<(), SessionError> {
        let _lifecycle = session.lock_lifecycle().await?;
        self.storage.set_should_run(&session.name, false).await?;
        self.close_run(session).await;
        Ok(())
    }

    /// Stops the session if it runs, then starts it on a new engine instance.
    pub async fn restart(&self, session: &Arc<ManagedSession>) -> Result<(), SessionError> {
        let _lifecycle = session.lock_lifecycle().await?;
        self.storage.set_should_run(&session.name, true).await?;
        self.close_run(session).await;
        self.start_run(session);
        Ok(())
    }

    /// Changes the engine and/or config; a session that was started restarts
    /// on them (see [`Run::was_started`]).
    pub async fn update(
        &self,
        session: &Arc<ManagedSession>,
        update: SessionUpdate,
    ) -> Result<(), SessionError> {
        if let Some(config) = &update.config {
            validate_config(config)?;
        }
        let engine = update
            .engine
            .as_deref()
            .map(|engine| self.engine_reference("engine", engine))
            .transpose()?;
        let _lifecycle = session.lock_lifecycle().await?;
        let spec = {
            let current = lock(&session.spec).clone();
            Spec {
                engine: engine.map_or(current.engine, DefinedEngine::Ref),
                config: match update.config {
                    Some(config) => {
                        secrets::unmasked(config, &current.config).map_err(|refused| {
                            SessionError::invalid(
                                format!("config.{}", refused.changed),
                                refused.message(),
                            )
                        })?
                    }
                    None => current.config,
                },
            }
        };
        self.storage
            .update(&session.name, &spec.engine.to_string(), &spec.config)
            .await?;
        *lock(&session.spec) = spec;
        if session.run().was_started() {
            self.close_run(session).await;
            self.start_run(session);
        }
        Ok(())
    }

    /// Unlinks the account: the engine logs out, the session's data (its
    /// credentials) is deleted, and a session that was started starts again,
    /// ready to pair anew.
    pub async fn logout(&self, session: &Arc<ManagedSession>) -> Result<(), SessionError> {
        let _lifecycle = session.lock_lifecycle().await?;
        let was_started = session.run().was_started();
        // Quiesced first, so a session still opening logs out too and the
        // calls in flight finish before the engine forgets the account.
        let run = self.detach_run(session).await;
        // Why WhatsApp may still list the device, when the engine says so.
        let mut not_unlinked = None;
        if let Some(handle) = run.state.handle() {
            let engine = run.engine.as_ref().map_or("", |e| e.name());
            not_unlinked = match bounded(self.deadline, handle.logout()).await {
                Ok(()) => None,
                Err(CallFailure::Engine(err)) => Some(run.state.scrub(err.message.as_str())),
                Err(CallFailure::TimedOut(deadline)) => {
                    Some(format!("the engine did not log out within {deadline:?}"))
                }
            };
            if let Some(why) = &not_unlinked {
                tracing::warn!(session = session.name, engine, reason = %why, "the engine could not log out; deleting the session's data anyway");
            }
        }
        run.end(&session.name, self.deadline).await;
        self.remove_data(&session.name).await?;
        if was_started {
            self.start_run(session);
        }
        if let Some(why) = not_unlinked {
            // The answer shows the session as it now is: say that the
            // logout was only local, until the engine reports otherwise.
            let status = if was_started {
                Status::Starting
            } else {
                Status::Stopped
            };
            session.run().state.note(
                status,
                format!("logged out and its data deleted here, but the engine could not unlink the device from WhatsApp: {why}"),
            );
        }
        Ok(())
    }

    /// Stops the session and deletes it with its data and its events not
    /// yet delivered.
    pub async fn delete(&self, session: &Arc<ManagedSession>) -> Result<(), SessionError> {
        let mut existence = session.lock_lifecycle().await?;
        self.close_run(session).await;
        // Its undelivered events go with its data: they hold its account
        // and metadata, and no hook is to hear of the session again.
        if let Some(events) = &self.events {
            events.forget(&session.name).await?;
        }
        // The data goes before the stored session and the name: until both
        // are gone no new session of this name can be created, so it can
        // never find this one's data.
        self.remove_data(&session.name).await?;
        self.storage.delete(&session.name).await?;
        *existence = Existence::Deleted;
        self.sessions
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(&session.name);
        Ok(())
    }

    /// Deletes the session's data: its store, and its directory.
    async fn remove_data(&self, name: &str) -> Result<(), SessionError> {
        self.storage.kv_clear(name).await?;
        let dir = self.sessions_dir.join(name);
        match tokio::fs::remove_dir_all(&dir).await {
            Ok(()) => Ok(()),
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(err) => Err(SessionError::DataNotRemoved(format!(
                "cannot delete {}: {err}",
                dir.display()
            ))),
        }
    }

    /// Opens a new run of the session in the background. The status moves
    /// to STARTING now and on with the engine's events; an engine that is
    /// not loaded, cannot open, or does not within the deadline leaves the
    /// session FAILED with the reason.
    fn start_run(&self, session: &Arc<ManagedSession>) {
        let (defined, spec_config) = {
            let spec = lock(&session.spec);
            (spec.engine.clone(), spec.config.clone())
        };
        let snapshot = self.registry.snapshot();
        let resolved = defined.resolve(&snapshot);
        let hooks = events::session_hooks(&spec_config);
        let feed = session.feed.for_run(Source {
            session: session.name.clone(),
            engine: resolved
                .as_ref()
                .map_or_else(|| defined.to_string(), |engine| engine.name().to_owned()),
            metadata: hooks.as_ref().ok().and_then(|hooks| hooks.metadata.clone()),
            hooks: hooks
                .as_ref()
                .map(|hooks| hooks.webhooks.clone().into())
                .unwrap_or_default(),
        });
        let cannot_start = match (&resolved, &hooks) {
            (None, _) => Some(defined.why_unavailable(&session.name, &snapshot)),
            (Some(_), Err(refused)) => Some(format!("{}: {}", refused.field, refused.problem)),
            (Some(_), Ok(_)) => None,
        };
        let (Some(engine), None) = (resolved, cannot_start.as_ref()) else {
            let reason = cannot_start.unwrap_or_default();
            tracing::warn!(session = session.name, %reason, "session cannot start");
            session.replace_run(Run::new(
                None,
                SessionState::new(Some(feed), Status::Failed, Some(reason)),
            ));
            return;
        };
        let state = SessionState {
            secrets: secrets::Scrubber::for_config(&spec_config),
            ..SessionState::new(Some(feed), Status::Starting, None)
        };
        let run = Run::new(Some(Arc::clone(&engine)), state);
        session.replace_run(Arc::clone(&run));
        let data_dir = self.sessions_dir.join(&session.name);
        let deadline = self.deadline;
        let name = session.name.clone();
        let config = events::engine_config(&spec_config).to_string();
        let config_files = Arc::clone(&self.config_files);
        let store = RunStore::new(
            &name,
            self.storage.clone(),
            run.fence.clone(),
            tokio::runtime::Handle::current(),
        );
        let opening_run = Arc::clone(&run);
        let opening = tokio::spawn(async move {
            let run = opening_run;
            // Private to the user (0700): it holds the engine's credentials.
            let mut private = tokio::fs::DirBuilder::new();
            private.recursive(true);
            #[cfg(unix)]
            private.mode(0o700);
            if let Err(err) = private.create(&data_dir).await {
                let reason = format!("cannot create {}: {err}", data_dir.display());
                run.state.set_status(Status::Failed, Some(reason));
                return;
            }
            let context = SessionContext {
                session: name.as_str().into(),
                config: config.into(),
                data_dir: data_dir.to_string_lossy().as_ref().into(),
                host: EngineBridge::boxed(
                    &name,
                    engine.name(),
                    Arc::clone(&run.state),
                    config_files,
                    store,
                ),
            };
            match bounded(deadline, engine.open_session(context)).await {
                // Kept even when the run was closed meanwhile: the closing
                // waits for this task and then closes what it opened.
                Ok(handle) => run.state.opened(handle),
                Err(CallFailure::Engine(err)) => {
                    let reason = run.state.scrub(err.message.as_str());
                    tracing::warn!(session = name, %reason, "session failed to open");
                    run.state.set_status(Status::Failed, Some(reason));
                }
                Err(CallFailure::TimedOut(deadline)) => {
                    let reason = format!("the engine did not open the session within {deadline:?}");
                    run.state.set_status(Status::Failed, Some(reason));
                }
            }
        });
        *lock(&run.opening) = Some(opening);
    }

    /// Replaces the current run with a STOPPED one, so new requests see the
    /// session stopped at once, then waits until the old run is quiet (see
    /// [`Run::quiesce`]) and returns it, its engine session still open.
    async fn detach_run(&self, session: &ManagedSession) -> Arc<Run> {
        let feed = session.run().state.feed.as_ref().map(RunFeed::successor);
        let stopped = Run::new(None, SessionState::new(feed, Status::Stopped, None));
        let run = session.replace_run(stopped);
        run.quiesce(&session.name).await;
        run
    }

    /// Closes the current run: waits for its opening and the calls in
    /// flight, closes its engine session, and leaves the session STOPPED.
    async fn close_run(&self, session: &ManagedSession) {
        let run = self.detach_run(session).await;
        run.end(&session.name, self.deadline).await;
    }

    /// Closes every open session, for a clean shutdown. Stored intentions
    /// are left as they are, so the sessions start again at the next boot.
    /// The sessions close side by side: one slow engine does not hold up
    /// the others, and ten thousand sessions close as fast as a few.
    pub async fn close_all(self: &Arc<Self>) {
        let mut closing = tokio::task::JoinSet::new();
        for session in self.list() {
            let manager = Arc::clone(self);
            closing.spawn(async move {
                let _lifecycle = session.lifecycle.lock().await;
                manager.close_run(&session).await;
            });
        }
        while let Some(closed) = closing.join_next().await {
            if let Err(err) = closed {
                tracing::warn!(%err, "closing a session ended abnormally");
            }
        }
    }

    /// Makes sure the named session exists on the default engine and runs,
    /// for `--start-session`.
    pub async fn ensure_started(&self, name: &str) -> Result<(), SessionError> {
        match self.get(name) {
            Some(session) => self.start(&session).await,
            None => self
                .create(NewSession {
                    name: name.to_owned(),
                    engine: None,
                    config: Value::Object(Default::default()),
                    start: true,
                })
                .await
                .map(drop),
        }
    }
}

/// Closes an engine session, waiting at most `deadline`.
async fn close_engine_session(name: &str, handle: &SessionBox, deadline: Duration) {
    let closing = handle.close().map(RResult::<(), EngineError>::ROk);
    if let Err(CallFailure::TimedOut(_)) = bounded(deadline, closing).await {
        tracing::warn!(
            session = name,
            "the engine did not close the session in time"
        );
    }
}

/// A config is a JSON object, and the keys the host reads from it
/// (`webhooks`, `metadata`) are right.
fn validate_config(config: &Value) -> Result<(), SessionError> {
    if !config.is_object() {
        return Err(SessionError::invalid("config", "must be a JSON object"));
    }
    events::session_hooks(config)
        .map(drop)
        .map_err(|refused| SessionError::invalid(refused.field, refused.problem))
}

/// What [`validate_session_name`] accepts, as a JSON Schema pattern for the
/// OpenAPI document.
pub const SESSION_NAME_PATTERN: &str = "^[A-Za-z0-9_-]{1,64}$";

/// Session names become directory names and URL segments, so they are kept
/// to a safe alphabet.
fn validate_session_name(name: &str) -> Result<(), SessionError> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if ok {
        Ok(())
    } else {
        Err(SessionError::invalid(
            "name",
            format!("'{name}' must be 1 to 64 characters of letters, digits, '-' or '_'"),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    proptest::proptest! {
        #[test]
        fn names_the_documented_pattern_allows_are_accepted(
            name in crate::testing::strings_matching(SESSION_NAME_PATTERN),
        ) {
            proptest::prop_assert!(validate_session_name(&name).is_ok(), "{name}");
        }
    }

    #[tokio::test]
    async fn closing_a_run_waits_for_its_calls_and_then_refuses_new_ones() {
        let calls = Arc::new(InFlight::default());
        assert!(calls.enter());
        let closing = tokio::spawn({
            let calls = Arc::clone(&calls);
            async move { calls.close().await }
        });
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(!closing.is_finished(), "a call is still in flight");
        assert!(!calls.enter(), "a closing run takes no new call");
        calls.leave();
        tokio::time::timeout(Duration::from_secs(5), closing)
            .await
            .expect("closing ends once the last call leaves")
            .unwrap();
    }

    /// Calls racing a closing on other threads: when the closing returns,
    /// every call it let in has left and none is let in after.
    #[test]
    fn no_call_slips_past_a_closing() {
        for _ in 0..200 {
            let calls = Arc::new(InFlight::default());
            let in_after_close = Arc::new(AtomicUsize::new(0));
            let closed = Arc::new(AtomicBool::new(false));
            let callers: Vec<_> = (0..2)
                .map(|_| {
                    let (calls, closed, in_after_close) = (
                        Arc::clone(&calls),
                        Arc::clone(&closed),
                        Arc::clone(&in_after_close),
                    );
                    std::thread::spawn(move || {
                        for _ in 0..200 {
                            if calls.enter() {
                                if closed.load(Ordering::SeqCst) {
                                    in_after_close.fetch_add(1, Ordering::SeqCst);
                                }
                                calls.leave();
                            }
                        }
                    })
                })
                .collect();
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_time()
                .build()
                .unwrap();
            runtime.block_on(calls.close());
            closed.store(true, Ordering::SeqCst);
            for caller in callers {
                caller.join().unwrap();
            }
            assert_eq!(in_after_close.load(Ordering::SeqCst), 0);
        }
    }

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
        state.set_status(Status::Working, None);
        assert_eq!(state.status().0, Status::Starting);
        assert!(state.working_handle().is_none());
        state.set_status(Status::Failed, Some("boom".into()));
        assert_eq!(state.status(), (Status::Failed, Some("boom".into())));
    }

    /// A stored engine reference changed by hand into one that does not
    /// parse: the session is still there, as stored, and says why it cannot
    /// start.
    #[tokio::test]
    async fn a_session_whose_stored_engine_does_not_parse_is_kept_and_says_why() {
        let root = tempfile::tempdir().unwrap();
        let loader = crate::engines::Loader::new(
            crate::engines::PrivateCopies::temporary().unwrap(),
            crate::engines::testing::stand_in(),
        );
        let registry = Arc::new(Registry::load(&root.path().join("engines"), loader));
        let storage = Storage::sqlite(&root.path().join("wharf.db")).unwrap();
        let stored = StoredSession {
            name: "edited".into(),
            engine: "sand box!".into(),
            config: Value::Object(Default::default()),
            should_run: true,
        };
        assert!(storage.insert(stored).await.unwrap());
        let manager = SessionManager::new(
            registry,
            storage,
            root.path().to_owned(),
            EngineRef::parse("sandbox").unwrap(),
            Duration::from_secs(5),
        );
        manager.restore().await.unwrap();

        let info = manager.info(&manager.find("edited").unwrap());
        assert_eq!(info.engine.engine, "sand box!");
        assert_eq!(info.engine.version, None);
        assert_eq!(info.status, Status::Failed);
        let reason = info.reason.unwrap_or_default();
        assert!(
            reason.starts_with("the stored engine 'sand box!' is not an engine reference"),
            "{reason}"
        );
    }

    #[test]
    fn the_qr_code_is_served_only_while_waiting_for_a_scan() {
        let state = SessionState::default();
        state.set_status(Status::ScanQrCode, None);
        state.set_qr("2@abc".into());
        assert_eq!(state.qr().as_deref(), Some("2@abc"));
        state.set_status(Status::Working, None);
        assert_eq!(state.qr(), None);
    }
}
