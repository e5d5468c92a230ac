//! The one place where an operation meets an engine.
//!
//! Every route that calls an engine goes through [`gate`]: it resolves the
//! session, checks the feature matrix of the session's engine *before*
//! anything reaches the engine, and checks that the session can serve.
//! [`Target::call`] then bounds the engine's time and maps its errors.
//!
//! A [`Target`] holds its run open: stopping, restarting, logging out or
//! deleting the session waits until the calls made through it are done, so
//! an engine call never meets a closed engine session or a removed data
//! directory.

use std::sync::Arc;

use abi_stable::std_types::RResult;
use async_ffi::FfiFuture;
use wharf_engine_api::{EngineError, SessionStatus, ffi::SessionBox};

use crate::{
    engines::{
        Feature,
        call::{CallFailure, bounded},
    },
    http::errors::ApiError,
    sessions::{CallGuard, Run, SessionManager},
};

/// A session cleared to receive one operation.
pub struct Target<'a> {
    /// The run the operation goes to, kept from closing while it is in
    /// flight.
    open: CallGuard,
    handle: Arc<SessionBox>,
    feature: &'static str,
    session: &'a str,
    deadline: std::time::Duration,
}

/// Checks that `session` exists, that its engine supports `feature`, and
/// that it is in the status `feature` needs.
///
/// Every contact request of a busy session passes here, on whichever
/// worker thread it runs: what it shares with the other threads (locks,
/// reference counts) it touches as few times as it can.
fn gate_when<'a>(
    sessions: &SessionManager,
    session: &'a str,
    feature: &'static str,
    needed: SessionStatus,
) -> Result<Target<'a>, ApiError> {
    let (entered, defined_engine) = sessions.with(session, |managed| {
        let entered = managed.enter();
        let run = entered.as_ref().map_or_else(|run| run, CallGuard::run);
        let defined_engine = run.engine().is_none().then(|| managed.engine_name());
        (entered, defined_engine)
    })?;
    let run = entered.as_ref().map_or_else(|run| run, CallGuard::run);
    // A running session answers for the engine instance it runs on; a
    // stopped one for the engine it would start on.
    let stopped_on;
    let engine = match (run.engine(), defined_engine) {
        (Some(engine), _) => engine,
        (None, defined) => {
            stopped_on = defined
                .and_then(|name| sessions.registry().engine(&name))
                .ok_or_else(|| {
                    let (status, reason) = run.state().status();
                    ApiError::session_not_in(session, status, reason.as_deref(), needed)
                })?;
            &stopped_on
        }
    };
    if let Feature::Unsupported { reason } = engine.feature(feature) {
        let supported_by = sessions.registry().snapshot().supporting(feature);
        return Err(ApiError::unsupported(
            engine.name(),
            feature,
            reason,
            supported_by,
        ));
    }
    let Ok(open) = entered else {
        // Only a run a closing has already taken over refuses calls: it is
        // as good as stopped.
        return Err(ApiError::session_not_in(
            session,
            SessionStatus::STOPPED,
            None,
            needed,
        ));
    };
    let handle = open
        .run()
        .state()
        .handle_in(needed)
        .map_err(|(status, reason)| {
            ApiError::session_not_in(session, status, reason.as_deref(), needed)
        })?;
    Ok(Target {
        open,
        handle,
        feature,
        session,
        deadline: sessions.deadline(),
    })
}

/// [`gate_when`] for operations that need a WORKING session.
pub fn gate<'a>(
    sessions: &SessionManager,
    session: &'a str,
    feature: &'static str,
) -> Result<Target<'a>, ApiError> {
    gate_when(sessions, session, feature, SessionStatus::WORKING)
}

/// [`gate_when`] for pairing, which needs a session waiting for it.
pub fn gate_pairing<'a>(
    sessions: &SessionManager,
    session: &'a str,
    feature: &'static str,
) -> Result<Target<'a>, ApiError> {
    gate_when(sessions, session, feature, SessionStatus::SCAN_QR_CODE)
}

impl Target<'_> {
    /// The run the operation goes to, for keys of per-run caches.
    pub fn run(&self) -> &Arc<Run> {
        self.open.run()
    }

    /// Calls the engine, within the deadline ([`bounded`]).
    pub async fn call<T>(
        &self,
        call: impl FnOnce(&SessionBox) -> FfiFuture<RResult<T, EngineError>>,
    ) -> Result<T, ApiError> {
        let run = self.open.run();
        let engine = run.engine().map_or("", |engine| engine.name());
        match bounded(self.deadline, call(&self.handle)).await {
            Ok(value) => Ok(value),
            Err(CallFailure::Engine(mut error)) => {
                error.message = run.state().scrub(error.message.as_str()).into();
                tracing::debug!(session = self.session, feature = self.feature, engine, %error, "engine error");
                Err(ApiError::engine(engine, error))
            }
            Err(CallFailure::TimedOut(deadline)) => Err(ApiError::engine_timeout(
                engine,
                self.feature,
                deadline.as_secs_f64(),
            )),
        }
    }
}

/// Gates `feature` on `session` and calls the engine: the path of every
/// contacts operation.
pub async fn dispatch<T>(
    sessions: &SessionManager,
    session: &str,
    feature: &'static str,
    call: impl FnOnce(&SessionBox) -> FfiFuture<RResult<T, EngineError>>,
) -> Result<T, ApiError> {
    gate(sessions, session, feature)?.call(call).await
}
