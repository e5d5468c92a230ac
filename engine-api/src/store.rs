//! The session store: durable key-value storage the host keeps for each
//! session. Since ABI 2.3.
//!
//! An engine keeps what a session needs to resume (credentials, keys,
//! contact books) here rather than in files: the host stores it in its
//! own database (SQLite on one host, PostgreSQL when several hosts share
//! sessions), so the session resumes on whichever host runs it next, and
//! a session deleted or logged out takes its data with it.
//!
//! Keys are UTF-8 text, ordered by their bytes, one namespace per session.
//! A write is a batch of [`KvWrite`]s that lands whole or not at all, and
//! is durable when it returns `Ok`. Reads see every write that returned.
//!
//! Only the run the host opened the session for may write: once the host
//! closes the run (the session stopped, moved to another host, or the host
//! lost it), every write fails with [`crate::ErrorKind::UNAVAILABLE`] and
//! changes nothing. An engine treats that as the end of its run.
//!
//! ```no_run
//! # async fn example(host: wharf_engine_api::Host) -> Result<(), wharf_engine_api::EngineError> {
//! use wharf_engine_api::KvWrite;
//!
//! host.kv_write(vec![
//!     KvWrite::put("book/header", b"{}".to_vec()),
//!     KvWrite::delete_prefix("book/c/"),
//! ])
//! .await?;
//! assert_eq!(host.kv_get("book/header").await?.as_deref(), Some(&b"{}"[..]));
//! let contacts = host.kv_prefix("book/c/").await?;
//! # Ok(()) }
//! ```

use std::fmt;

use abi_stable::{
    StableAbi,
    std_types::{RString, RVec},
};

/// The longest key, in bytes.
pub const KV_KEY_MAX_BYTES: usize = 1024;
/// The largest value, in bytes.
pub const KV_VALUE_MAX_BYTES: usize = 16 * 1024 * 1024;
/// The most bytes (keys and values) one [`crate::HostServices::kv_write`]
/// batch may carry.
pub const KV_BATCH_MAX_BYTES: usize = 64 * 1024 * 1024;
/// The most keys one [`crate::HostServices::kv_get`] may ask for, and the
/// most entries one [`crate::HostServices::kv_scan`] may ask for.
pub const KV_READ_MAX: usize = 10_000;

/// What one write of a batch does. An open set, like
/// [`crate::ErrorKind`]: a host that is given an operation it does not
/// know refuses the whole batch with [`crate::ErrorKind::INVALID_INPUT`].
#[repr(transparent)]
#[derive(StableAbi, Clone, Copy, PartialEq, Eq, Hash)]
pub struct KvOp(u8);

impl KvOp {
    /// Sets the key's value, replacing any value it had.
    pub const PUT: Self = Self(1);
    /// Removes the key; removing a key that has no value is not an error.
    pub const DELETE: Self = Self(2);
    /// Removes every key that begins with the write's key.
    pub const DELETE_PREFIX: Self = Self(3);

    /// The operation's name (`put`, `delete`, `delete_prefix`); `None` for
    /// one a later version of the contract added.
    pub const fn name(self) -> Option<&'static str> {
        Some(match self {
            Self::PUT => "put",
            Self::DELETE => "delete",
            Self::DELETE_PREFIX => "delete_prefix",
            _ => return None,
        })
    }

    /// The number that crosses the boundary.
    pub const fn code(self) -> u8 {
        self.0
    }

    /// The operation whose number is `code`, known or not. Engines use the
    /// constants.
    pub const fn from_code(code: u8) -> Self {
        Self(code)
    }
}

impl fmt::Debug for KvOp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.name() {
            Some(name) => f.write_str(name),
            None => write!(f, "KvOp({})", self.0),
        }
    }
}

/// One write of a batch given to [`crate::HostServices::kv_write`].
#[repr(C)]
#[derive(StableAbi, Clone, PartialEq, Eq)]
pub struct KvWrite {
    /// What the write does.
    pub op: KvOp,
    /// The key, or for [`KvOp::DELETE_PREFIX`] the prefix.
    pub key: RString,
    /// The value to put; empty for the other operations.
    pub value: RVec<u8>,
}

impl KvWrite {
    /// Sets `key` to `value`.
    pub fn put(key: impl Into<RString>, value: impl Into<RVec<u8>>) -> Self {
        Self {
            op: KvOp::PUT,
            key: key.into(),
            value: value.into(),
        }
    }

    /// Removes `key`.
    pub fn delete(key: impl Into<RString>) -> Self {
        Self {
            op: KvOp::DELETE,
            key: key.into(),
            value: RVec::new(),
        }
    }

    /// Removes every key that begins with `prefix` (every key, for `""`).
    pub fn delete_prefix(prefix: impl Into<RString>) -> Self {
        Self {
            op: KvOp::DELETE_PREFIX,
            key: prefix.into(),
            value: RVec::new(),
        }
    }

    /// The bytes the write carries, as [`KV_BATCH_MAX_BYTES`] counts them.
    pub fn size(&self) -> usize {
        self.key.len() + self.value.len()
    }
}

impl fmt::Debug for KvWrite {
    /// Values are engines' secrets (keys, credentials): only their length
    /// is shown.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KvWrite")
            .field("op", &self.op)
            .field("key", &self.key.as_str())
            .field("value_len", &self.value.len())
            .finish()
    }
}

/// A key and its value, as [`crate::HostServices::kv_scan`] returns them.
#[repr(C)]
#[derive(StableAbi, Clone, PartialEq, Eq)]
pub struct KvEntry {
    /// The key.
    pub key: RString,
    /// Its value.
    pub value: RVec<u8>,
}

impl fmt::Debug for KvEntry {
    /// Values are engines' secrets: only their length is shown.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KvEntry")
            .field("key", &self.key.as_str())
            .field("value_len", &self.value.len())
            .finish()
    }
}

/// Why `key` cannot be stored, if it cannot: empty, longer than
/// [`KV_KEY_MAX_BYTES`], or holding a NUL (which PostgreSQL text cannot
/// hold). The host checks every key with this; engines may check first.
pub fn kv_key_problem(key: &str) -> Option<String> {
    if key.is_empty() {
        Some("a key cannot be empty".to_owned())
    } else if key.len() > KV_KEY_MAX_BYTES {
        Some(format!(
            "a key is at most {KV_KEY_MAX_BYTES} bytes; this one has {}",
            key.len()
        ))
    } else if key.contains('\0') {
        Some("a key cannot hold a NUL character".to_owned())
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_that_cannot_be_stored_say_why() {
        assert_eq!(kv_key_problem("book/c/1@c.us"), None);
        assert!(kv_key_problem("").unwrap().contains("empty"));
        assert!(kv_key_problem("a\0b").unwrap().contains("NUL"));
        let long = "k".repeat(KV_KEY_MAX_BYTES + 1);
        assert!(kv_key_problem(&long).unwrap().contains("1025"));
        assert_eq!(kv_key_problem(&long[1..]), None);
    }

    #[test]
    fn values_stay_out_of_debug_output() {
        let write = KvWrite::put("wa/identity/1", b"SECRET".to_vec());
        let shown = format!("{write:?}");
        assert!(
            !shown.contains("SECRET") && shown.contains("value_len: 6"),
            "{shown}"
        );
        assert_eq!(format!("{:?}", KvOp::from_code(9)), "KvOp(9)");
    }
}
