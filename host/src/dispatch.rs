//! The one place where a contact operation meets an engine.
//!
//! Every contacts route calls [`dispatch`]: it resolves the session, checks
//! the session's engine's feature matrix *before* anything reaches the
//! engine, checks that the session can serve, and bounds the engine's time.

use abi_stable::std_types::RResult;
use async_ffi::FfiFuture;
use wharf_engine_api::{EngineError, ffi::SessionBox};

use crate::{errors::ApiError, registry::Feature, sessions::SessionManager};

/// Runs `call` against the engine of `session` when that engine supports
/// `feature` and the session is WORKING; otherwise answers for the engine.
pub async fn dispatch<T>(
    sessions: &SessionManager,
    session: &str,
    feature: &str,
    call: impl FnOnce(&SessionBox) -> FfiFuture<RResult<T, EngineError>>,
) -> Result<T, ApiError> {
    let managed = sessions
        .get(session)
        .ok_or_else(|| ApiError::session_not_found(session))?;
    let engine = managed.engine();
    if let Feature::Unsupported { reason } = engine.feature(feature) {
        let supported_by = sessions.registry().supporting(feature);
        return Err(ApiError::unsupported(
            engine.name(),
            feature,
            reason,
            supported_by,
        ));
    }
    let Some(handle) = managed.state().working_handle() else {
        let (status, reason) = managed.state().status();
        return Err(ApiError::session_not_working(
            session,
            status,
            reason.as_deref(),
        ));
    };
    let deadline = sessions.deadline();
    match tokio::time::timeout(deadline, call(&handle)).await {
        Ok(RResult::ROk(value)) => Ok(value),
        Ok(RResult::RErr(error)) => {
            tracing::debug!(session, feature, engine = engine.name(), %error, "engine error");
            Err(ApiError::engine(engine.name(), error))
        }
        Err(_) => Err(ApiError::engine_timeout(
            engine.name(),
            feature,
            deadline.as_secs_f64(),
        )),
    }
}
