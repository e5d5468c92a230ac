//! What the host hands an engine when it opens a session: the session's name,
//! its config, its own data directory, and a handle back to the host for logs
//! and events.

// `#[sabi_trait]` generates impls inside a const block, which rustc's
// `non_local_definitions` lint reports; the code is what abi_stable intends.
#![allow(non_local_definitions)]

use std::path::PathBuf;

use abi_stable::{
    StableAbi, sabi_trait,
    std_types::{RArc, ROption, RResult, RStr, RString, RVec},
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

    /// The bytes of a file that the session config names in `field`: only
    /// from the directory the host's operator set aside for such files,
    /// only a regular file, and only up to the host's size limit. Errors
    /// name the field and never quote the file. Blocks while it reads.
    fn read_config_file(&self, field: RStr<'_>, name: RStr<'_>) -> RResult<RVec<u8>, EngineError>;
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
    ///
    /// The error names the field (`config.accessToken: invalid type:
    /// integer, expected a string`) but never quotes the value that was
    /// sent: config values are often secrets, and error messages end up in
    /// logs and in answers.
    pub fn config<T: DeserializeOwned>(&self) -> Result<T, EngineError> {
        parse_config(self.config.as_str())
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

fn parse_config<T: DeserializeOwned>(json: &str) -> Result<T, EngineError> {
    let mut json = serde_json::Deserializer::from_str(json);
    serde_path_to_error::deserialize(&mut json).map_err(|err| {
        let path = err.path().to_string();
        let field = if path == "." {
            "config".to_owned()
        } else {
            format!("config.{path}")
        };
        let problem = without_values(&err.into_inner().to_string());
        EngineError::invalid_input(format!("{field}: {problem}"))
    })
}

/// A serde error message without the value it quotes: serde says
/// ``invalid type: string "s3cr3t", expected u64`` and ``unknown variant
/// `x`, expected `fast` ``, and the value may be a secret. Names serde
/// quotes (fields, expected variants) stay. The position (`at line 1
/// column 9`) goes too: with the field named it adds nothing.
fn without_values(message: &str) -> String {
    let message = message
        .rsplit_once(" at line ")
        .map_or(message, |(head, _)| head);
    for lead in ["invalid type: ", "invalid value: ", "unknown variant "] {
        let Some(at) = message.find(lead) else {
            continue;
        };
        let after = at + lead.len();
        // The quoted value ends where serde's ", expected" begins.
        let Some(end) = message[after..].find(", expected") else {
            continue;
        };
        let described = &message[after..after + end];
        let kind = described
            .split(['`', '"'])
            .next()
            .unwrap_or_default()
            .trim_end();
        let lead = if kind.is_empty() {
            lead.trim_end()
        } else {
            lead
        };
        return format!("{}{lead}{kind}{}", &message[..at], &message[after + end..]);
    }
    message.to_owned()
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

    /// The bytes of the file that the session config names in `field`
    /// (`fixture`, say), read by the host from the directory its operator
    /// allows: see [`HostServices::read_config_file`]. It blocks while it
    /// reads, so call it from `tokio::task::spawn_blocking`.
    pub fn read_config_file(&self, field: &str, name: &str) -> Result<Vec<u8>, EngineError> {
        self.0
            .read_config_file(field.into(), name.into())
            .into_result()
            .map(RVec::into_vec)
    }

    /// Reports a new QR code to scan.
    pub fn qr(&self, value: &str) {
        self.0.emit(SessionEvent::Qr {
            value: value.into(),
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, serde::Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Config {
        #[allow(dead_code)]
        access_token: String,
        #[allow(dead_code)]
        retries: Option<u8>,
        #[allow(dead_code)]
        mode: Option<Mode>,
    }

    #[derive(Debug, serde::Deserialize)]
    #[serde(rename_all = "lowercase")]
    enum Mode {
        Fast,
    }

    fn config_error(json: &str) -> String {
        parse_config::<Config>(json)
            .unwrap_err()
            .message
            .into_string()
    }

    #[test]
    fn config_errors_name_the_field_and_never_quote_the_value() {
        assert_eq!(
            config_error(r#"{"accessToken": 918273645}"#),
            "config.accessToken: invalid type: integer, expected a string"
        );
        assert_eq!(
            config_error(r#"{"accessToken": "x", "retries": "TOPSECRET"}"#),
            "config.retries: invalid type: string, expected u8"
        );
        assert_eq!(
            config_error(r#"{"accessToken": "x", "retries": 300}"#),
            "config.retries: invalid value: integer, expected u8"
        );
        assert_eq!(
            config_error(r#"{"accessToken": "x", "mode": "TOPSECRET"}"#),
            "config.mode: unknown variant, expected `fast`"
        );
        assert_eq!(config_error("{}"), "config: missing field `accessToken`");
        assert!(!config_error(r#"{"accessToken": "TOPSECRET"#).contains("TOPSECRET"));
        assert!(matches!(Mode::Fast, Mode::Fast));
    }
}
