//! What the host hands an engine when it opens a session: the session's name,
//! its config, its own data directory, and a handle back to the host for logs
//! and events.

// `#[sabi_trait]` generates impls inside a const block, which rustc's
// `non_local_definitions` lint reports; the code is what abi_stable intends.
#![allow(non_local_definitions)]

use std::path::PathBuf;

use abi_stable::{
    StableAbi, sabi_trait,
    std_types::{RArc, ROption, RStr, RString},
};
use serde::de::DeserializeOwned;

use crate::EngineError;

/// Severity of a log line an engine sends to the host's `tracing`.
#[repr(u8)]
#[derive(StableAbi, Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogLevel {
    /// Something failed.
    Error,
    /// Something looks wrong but work goes on.
    Warn,
    /// Normal operation worth an operator's attention.
    Info,
    /// Detail for debugging.
    Debug,
    /// Very fine detail.
    Trace,
}

/// A session's status, with WAHA's names.
#[repr(u8)]
#[derive(StableAbi, Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SessionStatus {
    /// Not running.
    Stopped,
    /// Opening, connecting or resuming.
    Starting,
    /// Waiting for the user to scan a QR code or enter a pairing code.
    ScanQrCode,
    /// Ready for operations.
    Working,
    /// Gave up; the event carries the reason.
    Failed,
}

impl SessionStatus {
    /// WAHA's name for the status (`WORKING`, `SCAN_QR_CODE`, …).
    pub fn as_waha(self) -> &'static str {
        match self {
            SessionStatus::Stopped => "STOPPED",
            SessionStatus::Starting => "STARTING",
            SessionStatus::ScanQrCode => "SCAN_QR_CODE",
            SessionStatus::Working => "WORKING",
            SessionStatus::Failed => "FAILED",
        }
    }
}

/// Something that happened in a session, sent to the host.
#[repr(u8)]
#[derive(StableAbi, Debug, Clone, PartialEq, Eq)]
pub enum SessionEvent {
    /// The session moved to another status. `reason` says why, above all for
    /// [`SessionStatus::Failed`].
    Status {
        /// The new status.
        status: SessionStatus,
        /// Why, when there is something to say.
        reason: ROption<RString>,
    },
    /// A new QR code to show the user, as the text it encodes.
    Qr {
        /// The text inside the QR code.
        value: RString,
    },
    /// The account the session is logged in as, once known.
    Account {
        /// The account's chat id (`digits@c.us`).
        id: RString,
        /// The account's own display name.
        push_name: ROption<RString>,
    },
}

/// The host's side of a session: where the engine's logs and events go.
///
/// Implemented by the host; engines use it through [`Host`].
#[sabi_trait]
pub trait HostServices: Clone + Send + Sync {
    /// A log line, which lands in the host's `tracing` under the session's name.
    fn log(&self, level: LogLevel, message: RStr<'_>);

    /// A session event (status change, QR code).
    #[sabi(last_prefix_field)]
    fn emit(&self, event: SessionEvent);
}

/// The host services object as it crosses the boundary.
pub type HostServicesBox = HostServices_TO<'static, RArc<()>>;

/// Everything an engine gets when a session opens.
#[repr(C)]
#[derive(StableAbi, Clone)]
pub struct SessionContext {
    /// The session's name, unique in the host.
    pub session: RString,
    /// The session's engine config as JSON text (`{}` when none was given).
    pub config: RString,
    /// A directory that belongs to this session alone and survives restarts.
    pub data_dir: RString,
    /// Logs and events back to the host.
    pub host: HostServicesBox,
}

impl SessionContext {
    /// Parses the session config into the engine's own config type. A config
    /// that does not fit is an [`crate::ErrorKind::InvalidInput`] naming the problem.
    pub fn config<T: DeserializeOwned>(&self) -> Result<T, EngineError> {
        serde_json::from_str(self.config.as_str())
            .map_err(|err| EngineError::invalid_input(format!("config: {err}")))
    }

    /// The session's data directory.
    pub fn data_dir(&self) -> PathBuf {
        PathBuf::from(self.data_dir.as_str())
    }

    /// A handle for logs and events, to keep for the life of the session.
    pub fn host(&self) -> Host {
        Host(self.host.clone())
    }
}

/// A cheap, cloneable handle to the host for one session.
#[derive(Clone)]
pub struct Host(HostServicesBox);

impl Host {
    /// Logs at `level`.
    pub fn log(&self, level: LogLevel, message: &str) {
        self.0.log(level, message.into());
    }

    /// Logs an error.
    pub fn error(&self, message: &str) {
        self.log(LogLevel::Error, message);
    }

    /// Logs a warning.
    pub fn warn(&self, message: &str) {
        self.log(LogLevel::Warn, message);
    }

    /// Logs an informational line.
    pub fn info(&self, message: &str) {
        self.log(LogLevel::Info, message);
    }

    /// Logs a debugging line.
    pub fn debug(&self, message: &str) {
        self.log(LogLevel::Debug, message);
    }

    /// Reports a status change.
    pub fn status(&self, status: SessionStatus, reason: Option<&str>) {
        self.0.emit(SessionEvent::Status {
            status,
            reason: reason.map(RString::from).into(),
        });
    }

    /// Reports the account the session is logged in as.
    pub fn account(&self, id: &str, push_name: Option<&str>) {
        self.0.emit(SessionEvent::Account {
            id: id.into(),
            push_name: push_name.map(RString::from).into(),
        });
    }

    /// Reports a new QR code to scan.
    pub fn qr(&self, value: &str) {
        self.0.emit(SessionEvent::Qr {
            value: value.into(),
        });
    }
}
