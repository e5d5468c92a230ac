//! The embedded backend: an SQLite database in the data directory (WAL
//! mode, fully synchronous commits), so a crash never loses a committed
//! change and there is nothing to install.
//!
//! One thread owns the connection and commits the changes that arrive
//! together in one transaction (group commit): each caller is answered only
//! once its change is on disk, as before, but a thousand clients creating
//! sessions at once wait for a few syncs of the disk, not a thousand.
//!
//! Keys of the session stores are compared by their bytes (SQLite's
//! `BINARY` collation), which for UTF-8 is the order of code points, so a
//! prefix's keys are one range.

use std::{path::Path, sync::mpsc};

use anyhow::{Context, bail};
use rusqlite::{Connection, OptionalExtension, params};
use serde_json::Value;
use tokio::sync::oneshot;
use wharf_engine_api::{
    KvOp, KvWrite,
    support::{create_private_dir_all, create_private_file},
};

use super::{
    KvWriteError, OutboxEntry, Pending, StorageError, StoredSession, WriteFence, prefix_end,
};

/// Schema migrations, applied in order; `PRAGMA user_version` records how
/// many have run. Append new ones; never edit a released one.
const MIGRATIONS: &[&str] = &[
    "CREATE TABLE sessions (
        name        TEXT PRIMARY KEY NOT NULL,
        engine      TEXT NOT NULL,
        config      TEXT NOT NULL,
        should_run  INTEGER NOT NULL,
        created_at  TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
        updated_at  TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
    )",
    // Events waiting for a webhook, one row per hook and event, delivered
    // in `seq` order per hook.
    "CREATE TABLE webhook_outbox (
        seq         INTEGER PRIMARY KEY AUTOINCREMENT,
        hook        TEXT NOT NULL,
        session     TEXT NOT NULL,
        target      TEXT NOT NULL,
        request_id  TEXT NOT NULL,
        timestamp   INTEGER NOT NULL,
        body        TEXT NOT NULL,
        tries       INTEGER NOT NULL DEFAULT 0
    );
    CREATE INDEX webhook_outbox_by_hook ON webhook_outbox (hook, seq);
    CREATE INDEX webhook_outbox_by_session ON webhook_outbox (session);",
    // The session store of ABI 2.3: what engines keep to resume a session.
    "CREATE TABLE engine_kv (
        session     TEXT NOT NULL REFERENCES sessions (name) ON DELETE CASCADE,
        key         TEXT NOT NULL,
        value       BLOB NOT NULL,
        PRIMARY KEY (session, key)
    ) WITHOUT ROWID;",
];

/// The SQLite store. Cheap to clone; calls run on the store's own thread.
#[derive(Clone)]
pub struct SqliteStorage {
    jobs: mpsc::Sender<Job>,
}

/// One call's work, run in the transaction of its batch; it returns what
/// answers the caller once the batch is committed (or not). Given an
/// error instead of the connection when the batch cannot begin.
type Job = Box<dyn FnOnce(Result<&Connection, &StorageError>) -> Answer + Send>;
/// Answers a caller with the outcome of its batch's commit.
type Answer = Box<dyn FnOnce(Result<(), StorageError>) + Send>;

/// The most calls one transaction takes: a batch commits without waiting
/// for more, so this only bounds how long its first caller waits.
const MAX_BATCH: usize = 1024;

impl SqliteStorage {
    /// Opens (or creates) the database at `path`, brings its schema up to
    /// date, and starts the thread that writes to it.
    ///
    /// The database and the directory it is in are created private to the
    /// user (0600 and 0700): the file is made before SQLite opens it, as
    /// SQLite would make it readable by everyone, and SQLite gives the
    /// `-wal` and `-shm` files the database's mode.
    pub fn open(path: &Path) -> anyhow::Result<Self> {
        if let Some(dir) = path.parent() {
            create_private_dir_all(dir)
                .with_context(|| format!("cannot create {}", dir.display()))?;
        }
        create_private_file(path)
            .with_context(|| format!("cannot create the database {}", path.display()))?;
        let mut connection = Connection::open(path)
            .with_context(|| format!("cannot open the database {}", path.display()))?;
        connection
            .pragma_update(None, "journal_mode", "WAL")
            .and_then(|()| connection.pragma_update(None, "synchronous", "FULL"))
            .and_then(|()| connection.pragma_update(None, "foreign_keys", "ON"))
            .and_then(|()| connection.busy_timeout(std::time::Duration::from_secs(5)))
            .with_context(|| format!("cannot configure the database {}", path.display()))?;
        migrate(&mut connection)
            .with_context(|| format!("cannot migrate the database {}", path.display()))?;
        let (jobs, queue) = mpsc::channel();
        std::thread::Builder::new()
            .name("wharf-storage".into())
            .spawn(move || serve_jobs(connection, &queue))
            .context("cannot start the storage thread")?;
        Ok(Self { jobs })
    }

    /// Runs `work` in the next batch and answers once that batch is
    /// committed: a change is durable when this returns `Ok`. A change that
    /// fails is undone alone; the others of its batch stand.
    async fn with<T: Send + 'static>(
        &self,
        work: impl FnOnce(&Connection) -> rusqlite::Result<T> + Send + 'static,
    ) -> Result<T, StorageError> {
        let (answer, answered) = oneshot::channel();
        let job: Job = Box::new(move |connection| {
            let outcome = match connection {
                Ok(connection) => undone_on_error(connection, work),
                Err(err) => Err(err.clone()),
            };
            Box::new(move |committed: Result<(), StorageError>| {
                // A caller that went away needs no answer.
                let _ = answer.send(committed.and(outcome));
            })
        });
        self.jobs
            .send(job)
            .map_err(|_| StorageError::from("the storage thread has stopped".to_owned()))?;
        answered
            .await
            .map_err(|_| StorageError::from("the storage thread has stopped".to_owned()))?
    }

    /// Every stored session, by name.
    pub async fn sessions(&self) -> Result<Vec<StoredSession>, StorageError> {
        self.with(|c| {
            let mut statement =
                c.prepare("SELECT name, engine, config, should_run FROM sessions ORDER BY name")?;
            let rows = statement.query_map([], |row| {
                let config: String = row.get(2)?;
                Ok(StoredSession {
                    name: row.get(0)?,
                    engine: row.get(1)?,
                    // A config that no longer parses is kept visible as a
                    // string rather than dropped: nothing stored is lost.
                    config: serde_json::from_str(&config).unwrap_or(Value::String(config)),
                    should_run: row.get(3)?,
                })
            })?;
            rows.collect()
        })
        .await
    }

    /// Stores a new session; `Ok(false)` when the name is taken.
    pub async fn insert(&self, session: StoredSession) -> Result<bool, StorageError> {
        self.with(move |c| {
            let inserted = c.execute(
                "INSERT INTO sessions (name, engine, config, should_run) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT (name) DO NOTHING",
                params![
                    session.name,
                    session.engine,
                    session.config.to_string(),
                    session.should_run
                ],
            )?;
            Ok(inserted == 1)
        })
        .await
    }

    /// Replaces the engine and config of a stored session.
    pub async fn update(
        &self,
        name: &str,
        engine: &str,
        config: &Value,
    ) -> Result<(), StorageError> {
        let (name, engine, config) = (name.to_owned(), engine.to_owned(), config.to_string());
        self.with(move |c| {
            c.execute(
                "UPDATE sessions SET engine = ?2, config = ?3,
                 updated_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now') WHERE name = ?1",
                params![name, engine, config],
            )
            .map(drop)
        })
        .await
    }

    /// Records whether the session should run at the next boot.
    pub async fn set_should_run(&self, name: &str, should_run: bool) -> Result<(), StorageError> {
        let name = name.to_owned();
        self.with(move |c| {
            c.execute(
                "UPDATE sessions SET should_run = ?2,
                 updated_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now') WHERE name = ?1",
                params![name, should_run],
            )
            .map(drop)
        })
        .await
    }

    /// Puts events in the outbox; durable when this returns `Ok`.
    pub async fn enqueue(&self, entries: Vec<OutboxEntry>) -> Result<(), StorageError> {
        self.with(move |c| {
            let mut insert = c.prepare_cached(
                "INSERT INTO webhook_outbox (hook, session, target, request_id, timestamp, body)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            )?;
            for entry in entries {
                insert.execute(params![
                    entry.hook,
                    entry.session,
                    entry.target,
                    entry.request_id,
                    i64::try_from(entry.timestamp).unwrap_or(i64::MAX),
                    entry.body
                ])?;
            }
            Ok(())
        })
        .await
    }

    /// The webhooks with entries waiting.
    pub async fn outbox_hooks(&self) -> Result<Vec<String>, StorageError> {
        self.with(|c| {
            let mut statement = c.prepare("SELECT DISTINCT hook FROM webhook_outbox")?;
            let hooks = statement.query_map([], |row| row.get(0))?;
            hooks.collect()
        })
        .await
    }

    /// The first `limit` entries waiting for `hook`, oldest first.
    pub async fn pending(&self, hook: &str, limit: usize) -> Result<Vec<Pending>, StorageError> {
        let hook = hook.to_owned();
        self.with(move |c| {
            let mut statement = c.prepare_cached(
                "SELECT seq, target, request_id, timestamp, body, tries FROM webhook_outbox
                 WHERE hook = ?1 ORDER BY seq LIMIT ?2",
            )?;
            let rows = statement.query_map(params![hook, limit as i64], |row| {
                Ok(Pending {
                    seq: row.get(0)?,
                    target: row.get(1)?,
                    request_id: row.get(2)?,
                    timestamp: u64::try_from(row.get::<_, i64>(3)?).unwrap_or(0),
                    body: row.get(4)?,
                    tries: row.get(5)?,
                })
            })?;
            rows.collect()
        })
        .await
    }

    /// Records how many tries of an entry failed; `false` when the entry
    /// is gone.
    pub async fn record_try(&self, seq: i64, tries: u32) -> Result<bool, StorageError> {
        self.with(move |c| {
            c.execute(
                "UPDATE webhook_outbox SET tries = ?2 WHERE seq = ?1",
                params![seq, tries],
            )
            .map(|updated| updated == 1)
        })
        .await
    }

    /// Whether the outbox still holds the entry `seq`: not taken out with
    /// its session.
    pub async fn is_queued(&self, seq: i64) -> Result<bool, StorageError> {
        self.with(move |c| {
            c.query_row(
                "SELECT EXISTS(SELECT 1 FROM webhook_outbox WHERE seq = ?1)",
                [seq],
                |row| row.get(0),
            )
        })
        .await
    }

    /// Takes a session's events out of the outbox, undelivered.
    pub async fn forget_events(&self, session: &str) -> Result<(), StorageError> {
        let session = session.to_owned();
        self.with(move |c| {
            c.execute("DELETE FROM webhook_outbox WHERE session = ?1", [session])
                .map(drop)
        })
        .await
    }

    /// Takes an entry out of the outbox: delivered, or given up.
    pub async fn delivered(&self, seq: i64) -> Result<(), StorageError> {
        self.with(move |c| {
            c.execute("DELETE FROM webhook_outbox WHERE seq = ?1", [seq])
                .map(drop)
        })
        .await
    }

    /// Removes a session; removing one that is not stored is not an error.
    pub async fn delete(&self, name: &str) -> Result<(), StorageError> {
        let name = name.to_owned();
        self.with(move |c| {
            c.execute("DELETE FROM sessions WHERE name = ?1", [name])
                .map(drop)
        })
        .await
    }

    /// The values of `keys` in `session`'s store, in order.
    pub async fn kv_get(
        &self,
        session: &str,
        keys: Vec<String>,
    ) -> Result<Vec<Option<Vec<u8>>>, StorageError> {
        let session = session.to_owned();
        self.with(move |c| {
            let mut select =
                c.prepare_cached("SELECT value FROM engine_kv WHERE session = ?1 AND key = ?2")?;
            keys.iter()
                .map(|key| {
                    select
                        .query_row(params![session, key], |row| row.get(0))
                        .optional()
                })
                .collect()
        })
        .await
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
        let session = session.to_owned();
        // `after` itself is excluded, `prefix` itself included. Each bound
        // is written out rather than made optional in SQL, so SQLite
        // reads the range from the index.
        let (from, lower) = if !after.is_empty() && after >= prefix {
            (after.to_owned(), "key > ?2")
        } else {
            (prefix.to_owned(), "key >= ?2")
        };
        let end = prefix_end(prefix);
        let upper = if end.is_some() {
            "AND key < ?4"
        } else {
            "AND ?4 IS NULL"
        };
        let sql = format!(
            "SELECT key, value FROM engine_kv WHERE session = ?1 AND {lower} {upper}
             ORDER BY key LIMIT ?3"
        );
        self.with(move |c| {
            let mut select = c.prepare_cached(&sql)?;
            let rows = select.query_map(params![session, from, limit as i64, end], |row| {
                Ok((row.get(0)?, row.get(1)?))
            })?;
            rows.collect()
        })
        .await
    }

    /// Applies `batch` to `session`'s store whole, unless `fence` is closed.
    pub async fn kv_write(
        &self,
        session: &str,
        fence: &WriteFence,
        batch: Vec<KvWrite>,
    ) -> Result<(), KvWriteError> {
        let (session, fence) = (session.to_owned(), fence.clone());
        let written = self
            .with(move |c| {
                if fence.is_closed() {
                    return Ok(false);
                }
                for write in &batch {
                    let key = write.key.as_str();
                    match write.op {
                        KvOp::PUT => {
                            c.prepare_cached(
                                "INSERT INTO engine_kv (session, key, value) VALUES (?1, ?2, ?3)
                                 ON CONFLICT (session, key) DO UPDATE SET value = excluded.value",
                            )?
                            .execute(params![
                                session,
                                key,
                                write.value.as_slice()
                            ])?;
                        }
                        KvOp::DELETE => {
                            c.prepare_cached(
                                "DELETE FROM engine_kv WHERE session = ?1 AND key = ?2",
                            )?
                            .execute(params![session, key])?;
                        }
                        KvOp::DELETE_PREFIX => {
                            c.prepare_cached(
                                "DELETE FROM engine_kv WHERE session = ?1 AND key >= ?2
                                 AND (?3 IS NULL OR key < ?3)",
                            )?
                            .execute(params![
                                session,
                                key,
                                prefix_end(key)
                            ])?;
                        }
                        // The caller checks the batch first.
                        _ => return Err(rusqlite::Error::InvalidQuery),
                    }
                }
                Ok(true)
            })
            .await?;
        if written {
            Ok(())
        } else {
            Err(KvWriteError::Fenced)
        }
    }

    /// Empties `session`'s store.
    pub async fn kv_clear(&self, session: &str) -> Result<(), StorageError> {
        let session = session.to_owned();
        self.with(move |c| {
            c.execute("DELETE FROM engine_kv WHERE session = ?1", [session])
                .map(drop)
        })
        .await
    }
}

/// The storage thread: takes the calls waiting, runs them in one
/// transaction, commits, answers each, and again, until every [`SqliteStorage`]
/// is dropped.
fn serve_jobs(mut connection: Connection, queue: &mpsc::Receiver<Job>) {
    while let Ok(first) = queue.recv() {
        let batch: Vec<Job> = std::iter::once(first)
            .chain(queue.try_iter().take(MAX_BATCH - 1))
            .collect();
        run_batch(&mut connection, batch);
    }
}

/// Runs `batch` in one transaction and answers each call with its outcome
/// once the transaction is committed (or has failed).
fn run_batch(connection: &mut Connection, batch: Vec<Job>) {
    let transaction = match connection.transaction() {
        Ok(transaction) => transaction,
        Err(err) => {
            let err = StorageError::from(err.to_string());
            for job in batch {
                job(Err(&err))(Err(err.clone()));
            }
            return;
        }
    };
    let answers: Vec<Answer> = batch.into_iter().map(|job| job(Ok(&transaction))).collect();
    let committed = transaction
        .commit()
        .map_err(|err| StorageError::from(err.to_string()));
    for answer in answers {
        answer(committed.clone());
    }
}

/// Runs `work` inside a savepoint: if it fails, what it changed is undone
/// and the rest of its transaction stands.
fn undone_on_error<T>(
    connection: &Connection,
    work: impl FnOnce(&Connection) -> rusqlite::Result<T>,
) -> Result<T, StorageError> {
    let failed = |err: rusqlite::Error| StorageError::from(err.to_string());
    connection.execute_batch("SAVEPOINT call").map_err(failed)?;
    match work(connection) {
        Ok(value) => {
            connection.execute_batch("RELEASE call").map_err(failed)?;
            Ok(value)
        }
        Err(err) => {
            connection
                .execute_batch("ROLLBACK TO call; RELEASE call")
                .map_err(failed)?;
            Err(failed(err))
        }
    }
}

fn migrate(connection: &mut Connection) -> anyhow::Result<()> {
    let applied: i64 = connection.query_row("PRAGMA user_version", [], |row| row.get(0))?;
    let applied = usize::try_from(applied).unwrap_or(usize::MAX);
    if applied > MIGRATIONS.len() {
        bail!(
            "the database has schema version {applied}, newer than this wharf knows ({}); \
             run a newer wharf",
            MIGRATIONS.len()
        );
    }
    for (index, migration) in MIGRATIONS.iter().enumerate().skip(applied) {
        let transaction = connection.transaction()?;
        transaction.execute_batch(migration)?;
        transaction.pragma_update(None, "user_version", (index + 1) as i64)?;
        transaction.commit()?;
        tracing::info!(version = index + 1, "database schema migrated");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn session(name: &str) -> StoredSession {
        StoredSession {
            name: name.into(),
            engine: "sandbox".into(),
            config: json!({"fixture": "/x.json"}),
            should_run: true,
        }
    }

    /// Calls that arrive together share a commit, each answered with its
    /// own outcome: a failing one is undone alone, the others are stored.
    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn calls_at_once_commit_together_and_fail_alone() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("wharf.db");
        let storage = SqliteStorage::open(&path).unwrap();
        let mut calls = tokio::task::JoinSet::new();
        for index in 0..200 {
            let storage = storage.clone();
            calls.spawn(async move {
                if index % 50 == 7 {
                    // Inserts a row, then fails: the row must not stay.
                    let failed = storage
                        .with(|c| {
                            c.execute(
                                "INSERT INTO sessions (name, engine, config, should_run)
                                 VALUES ('doomed', 'sandbox', '{}', 1)",
                                [],
                            )?;
                            c.execute("INSERT INTO nowhere VALUES (1)", [])
                        })
                        .await;
                    assert!(failed.is_err());
                } else {
                    let name = format!("s{index:03}");
                    assert!(storage.insert(session(&name)).await.unwrap());
                }
            });
        }
        while let Some(call) = calls.join_next().await {
            call.unwrap();
        }
        drop(storage);
        let stored = SqliteStorage::open(&path)
            .unwrap()
            .sessions()
            .await
            .unwrap();
        assert_eq!(stored.len(), 196);
        assert!(stored.iter().all(|session| session.name != "doomed"));
    }

    #[test]
    fn a_database_from_a_newer_wharf_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("wharf.db");
        Connection::open(&path)
            .unwrap()
            .pragma_update(None, "user_version", 99)
            .unwrap();
        let err = SqliteStorage::open(&path).err().unwrap();
        assert!(format!("{err:#}").contains("schema version 99"), "{err:#}");
    }

    #[cfg(unix)]
    use crate::storage::tests::mode;

    #[cfg(unix)]
    #[test]
    fn the_database_and_its_companions_are_private() {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        let storage = SqliteStorage::open(&data.join("wharf.db")).unwrap();
        assert_eq!(mode(&data), 0o700);
        for file in ["wharf.db", "wharf.db-wal", "wharf.db-shm"] {
            assert_eq!(mode(&data.join(file)), 0o600, "{file}");
        }
        drop(storage);
    }

    #[test]
    fn the_database_is_in_wal_mode() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("wharf.db");
        drop(SqliteStorage::open(&path).unwrap());
        let mode: String = Connection::open(&path)
            .unwrap()
            .query_row("PRAGMA journal_mode", [], |row| row.get(0))
            .unwrap();
        assert_eq!(mode, "wal");
    }
}
