//! The host's durable state: which sessions exist, the engine and config of
//! each, and whether each should be running; the webhook outbox; and the
//! session stores engines keep what they need to resume a session in (ABI
//! 2.3).
//!
//! Two backends answer the same calls: an embedded SQLite database in the
//! data directory ([`sqlite`], the default: nothing to install), and
//! PostgreSQL ([`postgres`], with `--database postgres://…`: a database
//! the operator already runs, which several hosts can share). Everything
//! the host stores goes through [`Storage`], so its callers never know
//! which one they have. Either way, a call that changes something returns
//! `Ok` only once the change is committed.

mod data_dir;
mod postgres;
mod sqlite;

use std::{
    path::Path,
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
};

use serde_json::Value;
use wharf_engine_api::KvWrite;

pub use data_dir::{DataDirLock, lock_data_dir, prepare_data_dir};
use postgres::PgStorage;
use sqlite::SqliteStorage;

/// A session as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredSession {
    pub name: String,
    pub engine: String,
    pub config: Value,
    /// Whether the host should start it at boot: it was running when the
    /// host last ran, or was created to run.
    pub should_run: bool,
}

/// An event for one webhook, to be put in the outbox.
#[derive(Debug, Clone, PartialEq)]
pub struct OutboxEntry {
    /// Which webhook: its entries are delivered in order.
    pub hook: String,
    /// The session whose event it is.
    pub session: String,
    /// Where and how to deliver, as JSON.
    pub target: String,
    pub request_id: String,
    /// When the event happened (ms since the Unix epoch).
    pub timestamp: u64,
    pub body: String,
}

/// An entry of the outbox waiting for delivery.
#[derive(Debug, Clone, PartialEq)]
pub struct Pending {
    pub seq: i64,
    pub target: String,
    pub request_id: String,
    pub timestamp: u64,
    pub body: String,
    /// Failed tries so far.
    pub tries: u32,
}

/// A failed storage operation. It is a server-side failure (HTTP 500).
#[derive(Debug, Clone)]
pub struct StorageError(String);

impl std::fmt::Display for StorageError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "storage: {}", self.0)
    }
}

impl std::error::Error for StorageError {}

impl From<String> for StorageError {
    fn from(message: String) -> Self {
        Self(message)
    }
}

/// Whether a run may still write its session's store.
///
/// The host closes a run's fence once the run has ended (its engine
/// session closed, or given up on), before it deletes or hands over the
/// session's data. Each backend reads the fence inside the transaction
/// that writes, ordered after anything the host does to the session's
/// data once the fence is closed, so nothing a closed run still sends
/// lands afterwards.
#[derive(Clone, Default)]
pub struct WriteFence(Arc<AtomicBool>);

impl WriteFence {
    /// Refuses every write from now on.
    pub fn close(&self) {
        self.0.store(true, Ordering::SeqCst);
    }

    pub fn is_closed(&self) -> bool {
        self.0.load(Ordering::SeqCst)
    }
}

/// Why a batch was not written to a session's store.
#[derive(Debug)]
pub enum KvWriteError {
    /// The run that sent it has ended: it changed nothing.
    Fenced,
    Storage(StorageError),
}

impl From<StorageError> for KvWriteError {
    fn from(err: StorageError) -> Self {
        Self::Storage(err)
    }
}

/// The first key after every key that begins with `prefix`, in code point
/// order (which is UTF-8's byte order, the order both backends keep keys
/// in); `None` when no key comes after them (an empty prefix, or one of
/// only U+10FFFF).
fn prefix_end(prefix: &str) -> Option<String> {
    let mut chars: Vec<char> = prefix.chars().collect();
    while let Some(last) = chars.pop() {
        let next = (u32::from(last) + 1..=u32::from(char::MAX)).find_map(char::from_u32);
        if let Some(next) = next {
            chars.push(next);
            return Some(chars.into_iter().collect());
        }
    }
    None
}

/// Where the host keeps its state. Cheap to clone.
#[derive(Clone)]
pub enum Storage {
    Sqlite(SqliteStorage),
    Postgres(PgStorage),
}

/// Calls the same method on whichever backend `$storage` is.
macro_rules! on_backend {
    ($storage:expr, $backend:ident => $call:expr) => {
        match $storage {
            Storage::Sqlite($backend) => $call.await,
            Storage::Postgres($backend) => $call.await,
        }
    };
}

impl Storage {
    /// Opens (or creates) the SQLite database at `path` and brings its
    /// schema up to date. See [`SqliteStorage::open`].
    pub fn sqlite(path: &Path) -> anyhow::Result<Self> {
        SqliteStorage::open(path).map(Self::Sqlite)
    }

    /// Connects to the PostgreSQL database `url` names and brings its
    /// schema up to date. See [`PgStorage::connect`].
    pub async fn postgres(url: &str) -> anyhow::Result<Self> {
        PgStorage::connect(url).await.map(Self::Postgres)
    }

    /// Every stored session, by name.
    pub async fn sessions(&self) -> Result<Vec<StoredSession>, StorageError> {
        on_backend!(self, backend => backend.sessions())
    }

    /// Stores a new session; `Ok(false)` when the name is taken.
    pub async fn insert(&self, session: StoredSession) -> Result<bool, StorageError> {
        on_backend!(self, backend => backend.insert(session))
    }

    /// Replaces the engine and config of a stored session.
    pub async fn update(
        &self,
        name: &str,
        engine: &str,
        config: &Value,
    ) -> Result<(), StorageError> {
        on_backend!(self, backend => backend.update(name, engine, config))
    }

    /// Records whether the session should run at the next boot.
    pub async fn set_should_run(&self, name: &str, should_run: bool) -> Result<(), StorageError> {
        on_backend!(self, backend => backend.set_should_run(name, should_run))
    }

    /// Removes a session and its store; removing one that is not stored
    /// is not an error.
    pub async fn delete(&self, name: &str) -> Result<(), StorageError> {
        on_backend!(self, backend => backend.delete(name))
    }

    /// Puts events in the outbox; durable when this returns `Ok`. A
    /// hook's entries are delivered in the order they were put in.
    pub async fn enqueue(&self, entries: Vec<OutboxEntry>) -> Result<(), StorageError> {
        on_backend!(self, backend => backend.enqueue(entries))
    }

    /// The webhooks with entries waiting.
    pub async fn outbox_hooks(&self) -> Result<Vec<String>, StorageError> {
        on_backend!(self, backend => backend.outbox_hooks())
    }

    /// The first `limit` entries waiting for `hook`, oldest first.
    pub async fn pending(&self, hook: &str, limit: usize) -> Result<Vec<Pending>, StorageError> {
        on_backend!(self, backend => backend.pending(hook, limit))
    }

    /// Records how many tries of an entry failed; `false` when the entry
    /// is gone.
    pub async fn record_try(&self, seq: i64, tries: u32) -> Result<bool, StorageError> {
        on_backend!(self, backend => backend.record_try(seq, tries))
    }

    /// Whether the outbox still holds the entry `seq`: not taken out with
    /// its session.
    pub async fn is_queued(&self, seq: i64) -> Result<bool, StorageError> {
        on_backend!(self, backend => backend.is_queued(seq))
    }

    /// Takes a session's events out of the outbox, undelivered.
    pub async fn forget_events(&self, session: &str) -> Result<(), StorageError> {
        on_backend!(self, backend => backend.forget_events(session))
    }

    /// Takes an entry out of the outbox: delivered, or given up.
    pub async fn delivered(&self, seq: i64) -> Result<(), StorageError> {
        on_backend!(self, backend => backend.delivered(seq))
    }

    /// The values of `keys` in `session`'s store, in order.
    pub async fn kv_get(
        &self,
        session: &str,
        keys: Vec<String>,
    ) -> Result<Vec<Option<Vec<u8>>>, StorageError> {
        on_backend!(self, backend => backend.kv_get(session, keys))
    }

    /// Up to `limit` entries of `session`'s store whose keys begin with
    /// `prefix` and come after `after`, in key order.
    pub async fn kv_scan(
        &self,
        session: &str,
        prefix: &str,
        after: &str,
        limit: usize,
    ) -> Result<Vec<(String, Vec<u8>)>, StorageError> {
        on_backend!(self, backend => backend.kv_scan(session, prefix, after, limit))
    }

    /// Applies `batch` to `session`'s store whole, unless `fence` is
    /// closed; a session that is not stored has no store to write.
    pub async fn kv_write(
        &self,
        session: &str,
        fence: &WriteFence,
        batch: Vec<KvWrite>,
    ) -> Result<(), KvWriteError> {
        on_backend!(self, backend => backend.kv_write(session, fence, batch))
    }

    /// Empties `session`'s store.
    pub async fn kv_clear(&self, session: &str) -> Result<(), StorageError> {
        on_backend!(self, backend => backend.kv_clear(session))
    }
}

#[cfg(test)]
mod tests;
