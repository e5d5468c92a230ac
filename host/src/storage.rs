//! The host's durable state: which sessions exist, the engine and config of
//! each, and whether each should be running. An embedded SQLite database in
//! the data directory (WAL mode, fully synchronous commits), so a crash never
//! loses a committed change and there is nothing to install.
//!
//! Everything the host stores goes through [`Storage`]; another backend
//! (PostgreSQL, for hosts that share sessions) replaces this module's
//! internals, not its callers.

use std::{
    path::Path,
    sync::{Arc, Mutex, PoisonError},
};

use anyhow::{Context, bail};
use rusqlite::{Connection, params};
use serde_json::Value;

/// Schema migrations, applied in order; `PRAGMA user_version` records how
/// many have run. Append new ones; never edit a released one.
const MIGRATIONS: &[&str] = &["CREATE TABLE sessions (
        name        TEXT PRIMARY KEY NOT NULL,
        engine      TEXT NOT NULL,
        config      TEXT NOT NULL,
        should_run  INTEGER NOT NULL,
        created_at  TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
        updated_at  TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
    )"];

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

/// A failed storage operation. It is a server-side failure (HTTP 500).
#[derive(Debug)]
pub struct StorageError(String);

impl std::fmt::Display for StorageError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "storage: {}", self.0)
    }
}

impl std::error::Error for StorageError {}

/// The session store. Cheap to clone; calls run on tokio's blocking pool.
#[derive(Clone)]
pub struct Storage {
    connection: Arc<Mutex<Connection>>,
}

impl Storage {
    /// Opens (or creates) the database at `path` and brings its schema up
    /// to date.
    pub fn open(path: &Path) -> anyhow::Result<Self> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)
                .with_context(|| format!("cannot create {}", dir.display()))?;
        }
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
        Ok(Self {
            connection: Arc::new(Mutex::new(connection)),
        })
    }

    async fn with<T: Send + 'static>(
        &self,
        work: impl FnOnce(&mut Connection) -> rusqlite::Result<T> + Send + 'static,
    ) -> Result<T, StorageError> {
        let connection = Arc::clone(&self.connection);
        tokio::task::spawn_blocking(move || {
            let mut connection = connection.lock().unwrap_or_else(PoisonError::into_inner);
            work(&mut connection)
        })
        .await
        .map_err(|err| StorageError(err.to_string()))?
        .map_err(|err| StorageError(err.to_string()))
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

    /// Removes a session; removing one that is not stored is not an error.
    pub async fn delete(&self, name: &str) -> Result<(), StorageError> {
        let name = name.to_owned();
        self.with(move |c| {
            c.execute("DELETE FROM sessions WHERE name = ?1", [name])
                .map(drop)
        })
        .await
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

    #[tokio::test]
    async fn sessions_survive_reopening_the_database() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("wharf.db");
        {
            let storage = Storage::open(&path).unwrap();
            assert!(storage.insert(session("a")).await.unwrap());
            assert!(
                !storage.insert(session("a")).await.unwrap(),
                "names are unique"
            );
            assert!(storage.insert(session("b")).await.unwrap());
            storage.set_should_run("a", false).await.unwrap();
            storage
                .update("b", "counting", &json!({"delayMs": 1}))
                .await
                .unwrap();
            storage.delete("nobody").await.unwrap();
        }
        let storage = Storage::open(&path).unwrap();
        let stored = storage.sessions().await.unwrap();
        assert_eq!(
            stored,
            [
                StoredSession {
                    should_run: false,
                    ..session("a")
                },
                StoredSession {
                    engine: "counting".into(),
                    config: json!({"delayMs": 1}),
                    ..session("b")
                },
            ]
        );
        storage.delete("a").await.unwrap();
        assert_eq!(storage.sessions().await.unwrap().len(), 1);
    }

    #[test]
    fn a_database_from_a_newer_wharf_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("wharf.db");
        Connection::open(&path)
            .unwrap()
            .pragma_update(None, "user_version", 99)
            .unwrap();
        let err = Storage::open(&path).err().unwrap();
        assert!(format!("{err:#}").contains("schema version 99"), "{err:#}");
    }

    #[test]
    fn the_database_is_in_wal_mode() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("wharf.db");
        drop(Storage::open(&path).unwrap());
        let mode: String = Connection::open(&path)
            .unwrap()
            .query_row("PRAGMA journal_mode", [], |row| row.get(0))
            .unwrap();
        assert_eq!(mode, "wal");
    }
}
