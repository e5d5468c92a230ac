//! What the host hands an engine when it opens a session: the session's name,
//! its config, its own data directory, and a handle back to the host for logs
//! and events.

// `#[sabi_trait]` generates impls inside a const block, which rustc's
// `non_local_definitions` lint reports; the code is what abi_stable intends.
#![allow(non_local_definitions)]

use std::{fmt, path::PathBuf};

use abi_stable::{
    StableAbi, sabi_trait,
    std_types::{RArc, ROption, RResult, RStr, RString, RVec},
};
use serde::de::DeserializeOwned;

use crate::{
    Contact, EngineError,
    ffi::FfiResult,
    store::{KV_READ_MAX, KvEntry, KvWrite},
};

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
///
/// An open set, like [`crate::ErrorKind`]: a later version of the contract
/// may add statuses, so this is a number with named constants. A host that
/// is told a status it does not know logs it and keeps the session's
/// current status.
#[repr(transparent)]
#[derive(StableAbi, Clone, Copy, PartialEq, Eq, Hash)]
pub struct SessionStatus(u8);

impl SessionStatus {
    /// Not running.
    pub const STOPPED: Self = Self(1);
    /// Opening, connecting or resuming.
    pub const STARTING: Self = Self(2);
    /// Waiting for the user to scan a QR code or enter a pairing code.
    pub const SCAN_QR_CODE: Self = Self(3);
    /// Ready for operations.
    pub const WORKING: Self = Self(4);
    /// Gave up; the reason says why.
    pub const FAILED: Self = Self(5);

    /// Every status this version of the contract names (later versions
    /// add more).
    pub const ALL: &'static [Self] = &[
        Self::STOPPED,
        Self::STARTING,
        Self::SCAN_QR_CODE,
        Self::WORKING,
        Self::FAILED,
    ];

    /// WAHA's name for the status (`WORKING`, `SCAN_QR_CODE`, …); `None`
    /// for a status a later version of the contract added.
    pub const fn name(self) -> Option<&'static str> {
        Some(match self {
            Self::STOPPED => "STOPPED",
            Self::STARTING => "STARTING",
            Self::SCAN_QR_CODE => "SCAN_QR_CODE",
            Self::WORKING => "WORKING",
            Self::FAILED => "FAILED",
            _ => return None,
        })
    }

    /// WAHA's name for a status this version knows, `UNKNOWN` otherwise.
    pub const fn as_waha(self) -> &'static str {
        match self.name() {
            Some(name) => name,
            None => "UNKNOWN",
        }
    }

    /// The number that crosses the boundary, for logs about statuses this
    /// version does not know.
    pub const fn code(self) -> u8 {
        self.0
    }

    /// The status whose number is `code`, known or not: what an engine
    /// built against a later contract may report. Engines use the
    /// constants.
    pub const fn from_code(code: u8) -> Self {
        Self(code)
    }
}

impl fmt::Debug for SessionStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.name() {
            Some(name) => f.write_str(name),
            None => write!(f, "SessionStatus({})", self.0),
        }
    }
}

/// What changed about a contact, told with
/// [`HostServices::contact_changed`]. Since ABI 2.2.
///
/// An open set, like [`SessionStatus`]: a later version of the contract
/// may name more changes. A host that is told a change it does not know
/// logs it and tells no one.
#[repr(transparent)]
#[derive(StableAbi, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ContactChange(u8);

impl ContactChange {
    /// A contact the book did not have: saved by a REST user or on the
    /// phone, or met for the first time. It carries the name it was saved
    /// under, if any.
    pub const ADDED: Self = Self(1);
    /// How the address book has a contact the book had changed: its name,
    /// its short name, or whether it is saved at all.
    pub const RENAMED: Self = Self(2);
    /// The name the contact chose for themselves (`pushname`) changed.
    pub const PUSH_NAME: Self = Self(3);
    /// The session blocked the contact.
    pub const BLOCKED: Self = Self(4);
    /// The session unblocked the contact.
    pub const UNBLOCKED: Self = Self(5);
    /// The engine learned the contact's LID, or the number a LID stands
    /// for: the contact now has both (see [`Contact::lid`]).
    pub const LID: Self = Self(6);

    /// Every change this version of the contract names (later versions
    /// add more).
    pub const ALL: &'static [Self] = &[
        Self::ADDED,
        Self::RENAMED,
        Self::PUSH_NAME,
        Self::BLOCKED,
        Self::UNBLOCKED,
        Self::LID,
    ];

    /// The change's name (`added`, `push_name`, …); `None` for a change a
    /// later version of the contract added.
    pub const fn name(self) -> Option<&'static str> {
        Some(match self {
            Self::ADDED => "added",
            Self::RENAMED => "renamed",
            Self::PUSH_NAME => "push_name",
            Self::BLOCKED => "blocked",
            Self::UNBLOCKED => "unblocked",
            Self::LID => "lid",
            _ => return None,
        })
    }

    /// The number that crosses the boundary, for logs about changes this
    /// version does not know.
    pub const fn code(self) -> u8 {
        self.0
    }

    /// The change whose number is `code`, known or not: what an engine
    /// built against a later contract may report. Engines use the
    /// constants.
    pub const fn from_code(code: u8) -> Self {
        Self(code)
    }
}

impl fmt::Debug for ContactChange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.name() {
            Some(name) => f.write_str(name),
            None => write!(f, "ContactChange({})", self.0),
        }
    }
}

/// The host's side of a session: where the engine's logs and events go,
/// and what it may ask of the host.
///
/// Implemented by the host; engines use it through [`Host`]. Each event
/// an engine can report is a method, so the set of events grows the way
/// the contract grows everywhere: a later version adds methods after
/// [`HostServices::read_config_file`], each with a default body that runs
/// when the host that loaded the engine is older and lacks it (it logs
/// that the event was ignored). An older engine never calls them.
#[sabi_trait]
pub trait HostServices: Clone + Send + Sync {
    /// A log line, which lands in the host's `tracing` under the session's name.
    fn log(&self, level: LogLevel, message: RStr<'_>);

    /// The session moved to another status; `reason` says why, above all
    /// for [`SessionStatus::FAILED`].
    fn status(&self, status: SessionStatus, reason: ROption<RStr<'_>>);

    /// A new QR code to show the user, as the text it encodes.
    fn qr(&self, value: RStr<'_>);

    /// The account the session is logged in as (`digits@c.us`), once
    /// known, with its own display name.
    fn account(&self, id: RStr<'_>, push_name: ROption<RStr<'_>>);

    /// The bytes of a file that the session config names in `field`: only
    /// from the directory the host's operator set aside for such files,
    /// only a regular file, and only up to the host's size limit. Errors
    /// name the field and never quote the file. Blocks while it reads.
    #[sabi(last_prefix_field)]
    fn read_config_file(&self, field: RStr<'_>, name: RStr<'_>) -> RResult<RVec<u8>, EngineError>;

    /// A contact changed: `contact` is the contact after the change, as
    /// `contacts.get` would answer it now, and `change` says what
    /// changed. The host tells the session's webhooks and listeners
    /// (`contact.added`, `contact.blocked`, …). Report a change once, when
    /// it happens, whoever made it: a REST user, the phone, WhatsApp.
    /// Never blocks: the host only queues the event. Since ABI 2.2.
    ///
    /// This body runs when the host that loaded the engine is older than
    /// 2.2: the event is dropped, as an older host has no one to tell.
    fn contact_changed(&self, change: ContactChange, contact: &Contact) {
        let _ = (change, contact);
        self.log(
            LogLevel::Trace,
            "a contact event is dropped: the host is older than ABI 2.2".into(),
        );
    }

    // ABI 2.3: the session store (see `crate::store`). Each body below is
    // what an engine gets from a host older than 2.3, which keeps no store:
    // `UNSUPPORTED`, so the engine can fall back to its data directory.

    /// The values of `keys`, in the same order; `None` for a key with no
    /// value. At most [`KV_READ_MAX`] keys. Since ABI 2.3.
    fn kv_get(&self, keys: RVec<RString>) -> FfiResult<RVec<ROption<RVec<u8>>>> {
        let _ = keys;
        no_store()
    }

    /// The entries whose keys begin with `prefix` and come after `after`
    /// (from the first, when `after` is empty), in key order: exactly
    /// `limit` of them, or fewer when no more match. `limit` is at most
    /// [`KV_READ_MAX`]. Since ABI 2.3.
    fn kv_scan(&self, prefix: RString, after: RString, limit: u32) -> FfiResult<RVec<KvEntry>> {
        let _ = (prefix, after, limit);
        no_store()
    }

    /// Applies every write of `batch`, in order, or none of them; durable
    /// when it returns `Ok`. Fails with `UNAVAILABLE` once the run it was
    /// given to is closed. Since ABI 2.3.
    fn kv_write(&self, batch: RVec<KvWrite>) -> FfiResult<()> {
        let _ = batch;
        no_store()
    }
}

/// What a host older than ABI 2.3 answers a store call with.
fn no_store<T: Send + 'static>() -> FfiResult<T> {
    use async_ffi::FutureExt;
    let error = EngineError::unsupported(
        "the host is older than ABI 2.3 and keeps no session store: use the data directory",
    );
    async move { RResult::RErr(error) }.into_ffi()
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
    /// that does not fit is an [`crate::ErrorKind::INVALID_INPUT`] naming the problem.
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
        self.0.status(status, reason.map(RStr::from).into());
    }

    /// Reports the account the session is logged in as.
    pub fn account(&self, id: &str, push_name: Option<&str>) {
        self.0.account(id.into(), push_name.map(RStr::from).into());
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
        self.0.qr(value.into());
    }

    /// Reports that `contact` changed: see [`HostServices::contact_changed`].
    pub fn contact_changed(&self, change: ContactChange, contact: &Contact) {
        self.0.contact_changed(change, contact);
    }

    /// The value of `key` in the session store, if it has one. See
    /// [`crate::store`]; a host older than ABI 2.3 answers
    /// [`crate::ErrorKind::UNSUPPORTED`].
    pub async fn kv_get(&self, key: &str) -> Result<Option<Vec<u8>>, EngineError> {
        let mut values = self.kv_get_many(vec![key.to_owned()]).await?;
        Ok(values.pop().flatten())
    }

    /// The values of `keys`, in the same order: see [`HostServices::kv_get`].
    /// Any number of keys; they are asked for [`KV_READ_MAX`] at a time.
    pub async fn kv_get_many(
        &self,
        keys: Vec<String>,
    ) -> Result<Vec<Option<Vec<u8>>>, EngineError> {
        let mut values = Vec::with_capacity(keys.len());
        for chunk in keys.chunks(KV_READ_MAX) {
            let chunk = chunk
                .iter()
                .map(|key| RString::from(key.as_str()))
                .collect();
            let answered = self.0.kv_get(chunk).await.into_result()?;
            values.extend(
                answered
                    .into_iter()
                    .map(|value| value.into_option().map(RVec::into_vec)),
            );
        }
        Ok(values)
    }

    /// One page of the entries under `prefix` after `after`: see
    /// [`HostServices::kv_scan`].
    pub async fn kv_scan(
        &self,
        prefix: &str,
        after: &str,
        limit: u32,
    ) -> Result<Vec<KvEntry>, EngineError> {
        let page = self.0.kv_scan(prefix.into(), after.into(), limit).await;
        page.into_result().map(RVec::into_vec)
    }

    /// Every entry whose key begins with `prefix`, in key order, read a
    /// page at a time.
    pub async fn kv_prefix(&self, prefix: &str) -> Result<Vec<KvEntry>, EngineError> {
        const PAGE: u32 = 1000;
        let mut entries: Vec<KvEntry> = Vec::new();
        loop {
            let after = entries.last().map_or("", |entry| entry.key.as_str());
            let page = self.kv_scan(prefix, after, PAGE).await?;
            let complete = page.len() < PAGE as usize;
            entries.extend(page);
            if complete {
                return Ok(entries);
            }
        }
    }

    /// Applies `batch` whole or not at all: see [`HostServices::kv_write`].
    pub async fn kv_write(&self, batch: Vec<KvWrite>) -> Result<(), EngineError> {
        self.0.kv_write(batch.into()).await.into_result()
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
