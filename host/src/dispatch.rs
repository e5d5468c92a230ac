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

use std::{
    fmt,
    sync::Arc,
    time::{Duration, Instant},
};

use abi_stable::std_types::RResult;
use async_ffi::FfiFuture;
use wharf_engine_api::{EngineError, ErrorKind, ffi::SessionBox};

use crate::{
    engines::{
        Feature, Operation,
        call::{CallFailure, bounded},
    },
    metrics,
    sessions::{CallGuard, Run, SessionError, SessionManager, Status},
};

/// Why an operation got no value from the engine.
#[derive(Debug)]
pub(crate) enum CallError {
    /// The session is not there.
    Session(SessionError),
    /// The session is not in the status the operation needs.
    NotIn {
        session: String,
        status: Status,
        reason: Option<String>,
        needed: Status,
    },
    /// The session's engine does not support the operation; the engine was
    /// not called. `supported_by` lists the loaded engines that do.
    Unsupported {
        engine: String,
        operation: Operation,
        reason: String,
        supported_by: Vec<String>,
    },
    /// The engine answered with an error, its message scrubbed of the
    /// session's secrets.
    Engine { engine: String, error: EngineError },
    /// The engine did not answer within the deadline.
    TimedOut {
        engine: String,
        operation: Operation,
        deadline: Duration,
    },
}

impl CallError {
    fn not_in(session: &str, (status, reason): (Status, Option<String>), needed: Status) -> Self {
        Self::NotIn {
            session: session.to_owned(),
            status,
            reason,
            needed,
        }
    }
}

impl CallError {
    /// The kind of error the engine answered, if it answered one: a kind
    /// from a later contract than the host's is [`ErrorKind::INTERNAL`],
    /// as the host answers it.
    pub(crate) fn engine_kind(&self) -> Option<ErrorKind> {
        match self {
            Self::Engine { error, .. } => Some(error.kind.known()),
            _ => None,
        }
    }
}

impl From<SessionError> for CallError {
    fn from(error: SessionError) -> Self {
        Self::Session(error)
    }
}

impl fmt::Display for CallError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Session(error) => write!(f, "{error}"),
            Self::NotIn {
                session,
                status,
                needed,
                ..
            } => write!(
                f,
                "session '{session}' is {}, not {}",
                status.as_waha(),
                needed.as_waha()
            ),
            Self::Unsupported {
                engine,
                operation,
                reason,
                ..
            } => write!(
                f,
                "engine '{engine}' does not support {operation}: {reason}"
            ),
            Self::Engine { error, .. } => write!(f, "{error}"),
            Self::TimedOut {
                engine,
                operation,
                deadline,
            } => write!(
                f,
                "engine '{engine}' did not answer {operation} within {deadline:?}"
            ),
        }
    }
}

impl std::error::Error for CallError {}

/// A session cleared to receive one operation.
pub(crate) struct Target<'a> {
    /// The run the operation goes to, kept from closing while it is in
    /// flight.
    open: CallGuard,
    handle: Arc<SessionBox>,
    operation: Operation,
    session: &'a str,
    deadline: Duration,
}

/// Checks that `session` exists, that its engine supports `operation`, and
/// that it is in the status `operation` needs.
///
/// Every contact request of a busy session passes here, on whichever
/// worker thread it runs: what it shares with the other threads (locks,
/// reference counts) it touches as few times as it can.
fn gate_when<'a>(
    sessions: &SessionManager,
    session: &'a str,
    operation: Operation,
    needed: Status,
) -> Result<Target<'a>, CallError> {
    let (entered, defined_engine) = sessions.with(session, |managed| {
        let entered = managed.enter();
        let run = entered.as_ref().map_or_else(|run| run, CallGuard::run);
        let defined_engine = run
            .engine()
            .is_none()
            .then(|| managed.defined_engine(sessions.registry()));
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
                .flatten()
                .ok_or_else(|| CallError::not_in(session, run.state().status(), needed))?;
            &stopped_on
        }
    };
    if let Feature::Unsupported { reason } = engine.feature(operation) {
        metrics::unsupported(engine.name(), operation);
        let supported_by = sessions.registry().snapshot().supporting(operation);
        return Err(CallError::Unsupported {
            engine: engine.name().to_owned(),
            operation,
            reason: reason.to_owned(),
            supported_by,
        });
    }
    let Ok(open) = entered else {
        // Only a run a closing has already taken over refuses calls: it is
        // as good as stopped.
        return Err(CallError::not_in(session, (Status::Stopped, None), needed));
    };
    let handle = open
        .run()
        .state()
        .handle_in(needed)
        .map_err(|status| CallError::not_in(session, status, needed))?;
    Ok(Target {
        open,
        handle,
        operation,
        session,
        deadline: sessions.deadline(),
    })
}

/// [`gate_when`] for operations that need a WORKING session.
pub(crate) fn gate<'a>(
    sessions: &SessionManager,
    session: &'a str,
    operation: Operation,
) -> Result<Target<'a>, CallError> {
    gate_when(sessions, session, operation, Status::Working)
}

/// [`gate_when`] for pairing, which needs a session waiting for it.
pub(crate) fn gate_pairing<'a>(
    sessions: &SessionManager,
    session: &'a str,
    operation: Operation,
) -> Result<Target<'a>, CallError> {
    gate_when(sessions, session, operation, Status::ScanQrCode)
}

impl Target<'_> {
    /// The run the operation goes to, for keys of per-run caches.
    pub(crate) fn run(&self) -> &Arc<Run> {
        self.open.run()
    }

    /// Calls the engine, within the deadline ([`bounded`]).
    pub(crate) async fn call<T>(
        &self,
        call: impl FnOnce(&SessionBox) -> FfiFuture<RResult<T, EngineError>>,
    ) -> Result<T, CallError> {
        let run = self.open.run();
        let engine = run.engine().map_or("", |engine| engine.name());
        let started = Instant::now();
        let answer = bounded(self.deadline, call(&self.handle)).await;
        metrics::engine_call(engine, self.operation, started.elapsed());
        match answer {
            Ok(value) => Ok(value),
            Err(CallFailure::Engine(mut error)) => {
                if error.kind.known() != error.kind {
                    tracing::warn!(
                        engine,
                        code = error.kind.code(),
                        "the engine answered with an error kind this host does not know; answered as internal"
                    );
                }
                error.message = run.state().scrub(error.message.as_str()).into();
                tracing::debug!(session = self.session, operation = %self.operation, engine, %error, "engine error");
                Err(CallError::Engine {
                    engine: engine.to_owned(),
                    error,
                })
            }
            Err(CallFailure::TimedOut(deadline)) => Err(CallError::TimedOut {
                engine: engine.to_owned(),
                operation: self.operation,
                deadline,
            }),
        }
    }
}

/// Gates `operation` on `session` and calls the engine: the path of every
/// contacts operation.
pub(crate) async fn dispatch<T>(
    sessions: &SessionManager,
    session: &str,
    operation: Operation,
    call: impl FnOnce(&SessionBox) -> FfiFuture<RResult<T, EngineError>>,
) -> Result<T, CallError> {
    gate(sessions, session, operation)?.call(call).await
}
