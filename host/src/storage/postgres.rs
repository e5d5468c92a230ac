//! The PostgreSQL backend, for `--database postgres://…`: the host's state
//! in a database the operator already runs, where several hosts can share
//! it. Its tables are named `wharf_*`, so the database may hold others.
//!
//! Each call runs in a transaction of its own on a pooled connection.
//! Where the SQLite backend gets its ordering from having one writer, this
//! one asks PostgreSQL for it:
//!
//! - A hook's outbox entries are put in under a lock on that hook
//!   (`pg_advisory_xact_lock`), so they commit in the order of their
//!   `seq` and a reader never sees a later one before an earlier one.
//! - A write to a session's store holds its session's row `FOR SHARE`
//!   and reads the run's [`WriteFence`] once it has it; emptying the store
//!   or deleting the session holds the row `FOR UPDATE`. So a write either
//!   commits before the store is emptied, or waits and then finds its
//!   fence closed.
//!
//! Keys of the session stores are `COLLATE "C"`: ordered by their bytes,
//! as SQLite orders them.

use std::{
    collections::{BTreeSet, HashMap},
    sync::Arc,
};

use anyhow::{Context, bail};
use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod};
use serde_json::Value;
use tokio_postgres::{NoTls, types::ToSql};
use wharf_engine_api::{KvOp, KvWrite};

use super::{
    KvWriteError, OutboxEntry, Pending, StorageError, StoredSession, WriteFence, prefix_end,
};

/// Schema migrations, applied in order; `wharf_schema` records how many
/// have run. Append new ones; never edit a released one.
const MIGRATIONS: &[&str] = &["
    CREATE TABLE wharf_sessions (
        name        TEXT COLLATE \"C\" PRIMARY KEY,
        engine      TEXT NOT NULL,
        config      TEXT NOT NULL,
        should_run  BOOLEAN NOT NULL,
        created_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
        updated_at  TIMESTAMPTZ NOT NULL DEFAULT now()
    );
    CREATE TABLE wharf_outbox (
        seq         BIGSERIAL PRIMARY KEY,
        hook        TEXT NOT NULL,
        session     TEXT NOT NULL,
        target      TEXT NOT NULL,
        request_id  TEXT NOT NULL,
        timestamp   BIGINT NOT NULL,
        body        TEXT NOT NULL,
        tries       INTEGER NOT NULL DEFAULT 0
    );
    CREATE INDEX wharf_outbox_by_hook ON wharf_outbox (hook, seq);
    CREATE INDEX wharf_outbox_by_session ON wharf_outbox (session);
    CREATE TABLE wharf_kv (
        session     TEXT COLLATE \"C\" NOT NULL REFERENCES wharf_sessions (name) ON DELETE CASCADE,
        key         TEXT COLLATE \"C\" NOT NULL,
        value       BYTEA NOT NULL,
        PRIMARY KEY (session, key)
    );
"];

/// The advisory lock hosts take to migrate the schema one at a time.
const MIGRATION_LOCK: i64 = 0x7768_6172_6600_0001;

/// How long a connection may take, unless the URL says
/// (`connect_timeout=`).
const CONNECT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// The most connections one host opens.
const POOL_SIZE: usize = 16;

/// The advisory lock a host holds on its database while it runs.
const HOST_LOCK: i64 = 0x7768_6172_6600_0002;

/// How long a host waits for another to release the database.
const LOCK_PATIENCE: std::time::Duration = std::time::Duration::from_secs(5);

/// The PostgreSQL store. Cheap to clone: clones share the pool.
#[derive(Clone)]
pub struct PgStorage {
    pool: Pool,
    /// The connection that holds [`HOST_LOCK`], kept open while the store
    /// is.
    _lock: Arc<tokio_postgres::Client>,
}

/// A PostgreSQL failure, with the server's own message when it has one
/// (tokio-postgres alone says only `db error`).
fn failed(err: tokio_postgres::Error) -> StorageError {
    match err.as_db_error() {
        Some(db) => StorageError::from(format!("PostgreSQL: {}", db.message())),
        None => StorageError::from(format!("PostgreSQL: {err}")),
    }
}

fn unavailable(err: deadpool_postgres::PoolError) -> StorageError {
    StorageError::from(format!("PostgreSQL: no connection: {err}"))
}

/// Where `config` points, for messages: hosts and database, never the
/// password.
fn describe(config: &tokio_postgres::Config) -> String {
    let hosts: Vec<String> = config
        .get_hosts()
        .iter()
        .map(|host| match host {
            tokio_postgres::config::Host::Tcp(name) => name.clone(),
            tokio_postgres::config::Host::Unix(path) => path.display().to_string(),
        })
        .collect();
    format!(
        "database {:?} on {}",
        config.get_dbname().unwrap_or("(the user's)"),
        if hosts.is_empty() {
            "localhost".to_owned()
        } else {
            hosts.join(", ")
        }
    )
}

impl PgStorage {
    /// Connects to the database `url` names (`postgres://user:password@
    /// host/db`, or `postgres:///db?host=/run/postgresql` for a unix
    /// socket) and brings its schema up to date. Hosts that start together
    /// migrate one at a time. Errors name the host and database, never the
    /// password.
    pub async fn connect(url: &str) -> anyhow::Result<Self> {
        let mut config: tokio_postgres::Config = url
            .parse()
            .context("--database is not a PostgreSQL URL (postgres://user@host/database)")?;
        // A host that cannot reach its database says so rather than hang.
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(CONNECT_TIMEOUT);
        }
        let place = describe(&config);
        let lock = Self::lock_database(&config)
            .await
            .with_context(|| format!("cannot use the PostgreSQL {place}"))?;
        let manager = Manager::from_config(
            config,
            NoTls,
            ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let pool = Pool::builder(manager)
            .max_size(POOL_SIZE)
            .build()
            .context("cannot make a PostgreSQL connection pool")?;
        let storage = Self {
            pool,
            _lock: Arc::new(lock),
        };
        storage
            .migrate()
            .await
            .with_context(|| format!("cannot use the PostgreSQL {place}"))?;
        Ok(storage)
    }

    /// Takes the database's host lock on a connection of its own, which
    /// holds it until the connection closes: when the host stops, however
    /// it stops, PostgreSQL sees the connection end and releases it.
    ///
    /// Until hosts share sessions through leases, two hosts on one
    /// database would both run every session and overwrite each other's
    /// state; the second is refused, as a second host on one data
    /// directory is.
    async fn lock_database(
        config: &tokio_postgres::Config,
    ) -> anyhow::Result<tokio_postgres::Client> {
        let (client, connection) = config.connect(NoTls).await?;
        tokio::spawn(async move {
            if let Err(err) = connection.await {
                tracing::error!(
                    error = %err,
                    "lost the connection that holds this host's lock on its PostgreSQL database"
                );
            }
        });
        // A host restarted at once may find its own old connection not
        // yet gone: PostgreSQL releases the lock when it notices.
        let started = std::time::Instant::now();
        loop {
            let locked: bool = client
                .query_one("SELECT pg_try_advisory_lock($1)", &[&HOST_LOCK])
                .await?
                .get(0);
            if locked {
                break;
            }
            if started.elapsed() >= LOCK_PATIENCE {
                bail!(
                    "another wharf host uses this database: two hosts on one database would \
                     overwrite each other's sessions; stop the other host or give this one a \
                     database of its own"
                );
            }
            tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        }
        Ok(client)
    }

    async fn client(&self) -> Result<deadpool_postgres::Object, StorageError> {
        self.pool.get().await.map_err(unavailable)
    }

    async fn migrate(&self) -> anyhow::Result<()> {
        let mut client = self.pool.get().await?;
        let transaction = client.transaction().await?;
        transaction
            .execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])
            .await?;
        transaction
            .batch_execute("CREATE TABLE IF NOT EXISTS wharf_schema (version INTEGER NOT NULL)")
            .await?;
        let applied: Option<i32> = transaction
            .query_opt("SELECT version FROM wharf_schema", &[])
            .await?
            .map(|row| row.get(0));
        let applied = usize::try_from(applied.unwrap_or(0)).unwrap_or(usize::MAX);
        if applied > MIGRATIONS.len() {
            bail!(
                "the database has wharf schema version {applied}, newer than this wharf knows \
                 ({}); run a newer wharf",
                MIGRATIONS.len()
            );
        }
        for (index, migration) in MIGRATIONS.iter().enumerate().skip(applied) {
            transaction.batch_execute(migration).await?;
            tracing::info!(version = index + 1, "PostgreSQL schema migrated");
        }
        let version = i32::try_from(MIGRATIONS.len()).unwrap_or(i32::MAX);
        transaction.execute("DELETE FROM wharf_schema", &[]).await?;
        transaction
            .execute(
                "INSERT INTO wharf_schema (version) VALUES ($1)",
                &[&version],
            )
            .await?;
        transaction.commit().await?;
        Ok(())
    }

    /// Runs one statement; returns how many rows it changed.
    async fn execute(
        &self,
        sql: &str,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<u64, StorageError> {
        let client = self.client().await?;
        let statement = client.prepare_cached(sql).await.map_err(failed)?;
        client.execute(&statement, params).await.map_err(failed)
    }

    async fn query(
        &self,
        sql: &str,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<Vec<tokio_postgres::Row>, StorageError> {
        let client = self.client().await?;
        let statement = client.prepare_cached(sql).await.map_err(failed)?;
        client.query(&statement, params).await.map_err(failed)
    }

    pub async fn sessions(&self) -> Result<Vec<StoredSession>, StorageError> {
        let rows = self
            .query(
                "SELECT name, engine, config, should_run FROM wharf_sessions ORDER BY name",
                &[],
            )
            .await?;
        Ok(rows
            .into_iter()
            .map(|row| {
                let config: String = row.get(2);
                StoredSession {
                    name: row.get(0),
                    engine: row.get(1),
                    // As SQLite's: a config that no longer parses stays
                    // visible as a string.
                    config: serde_json::from_str(&config).unwrap_or(Value::String(config)),
                    should_run: row.get(3),
                }
            })
            .collect())
    }

    pub async fn insert(&self, session: StoredSession) -> Result<bool, StorageError> {
        let config = session.config.to_string();
        let inserted = self
            .execute(
                "INSERT INTO wharf_sessions (name, engine, config, should_run)
                 VALUES ($1, $2, $3, $4) ON CONFLICT (name) DO NOTHING",
                &[&session.name, &session.engine, &config, &session.should_run],
            )
            .await?;
        Ok(inserted == 1)
    }

    pub async fn update(
        &self,
        name: &str,
        engine: &str,
        config: &Value,
    ) -> Result<(), StorageError> {
        let config = config.to_string();
        self.execute(
            "UPDATE wharf_sessions SET engine = $2, config = $3, updated_at = now() WHERE name = $1",
            &[&name, &engine, &config],
        )
        .await
        .map(drop)
    }

    pub async fn set_should_run(&self, name: &str, should_run: bool) -> Result<(), StorageError> {
        self.execute(
            "UPDATE wharf_sessions SET should_run = $2, updated_at = now() WHERE name = $1",
            &[&name, &should_run],
        )
        .await
        .map(drop)
    }

    pub async fn delete(&self, name: &str) -> Result<(), StorageError> {
        self.execute("DELETE FROM wharf_sessions WHERE name = $1", &[&name])
            .await
            .map(drop)
    }

    pub async fn enqueue(&self, entries: Vec<OutboxEntry>) -> Result<(), StorageError> {
        let mut client = self.client().await?;
        let transaction = client.transaction().await.map_err(failed)?;
        // In one order, so two calls naming the same hooks cannot deadlock.
        let hooks: BTreeSet<&str> = entries.iter().map(|entry| entry.hook.as_str()).collect();
        for hook in hooks {
            transaction
                .execute(
                    "SELECT pg_advisory_xact_lock(hashtextextended($1, 0))",
                    &[&hook],
                )
                .await
                .map_err(failed)?;
        }
        let insert = transaction
            .prepare_cached(
                "INSERT INTO wharf_outbox (hook, session, target, request_id, timestamp, body)
                 VALUES ($1, $2, $3, $4, $5, $6)",
            )
            .await
            .map_err(failed)?;
        for entry in &entries {
            let timestamp = i64::try_from(entry.timestamp).unwrap_or(i64::MAX);
            transaction
                .execute(
                    &insert,
                    &[
                        &entry.hook,
                        &entry.session,
                        &entry.target,
                        &entry.request_id,
                        &timestamp,
                        &entry.body,
                    ],
                )
                .await
                .map_err(failed)?;
        }
        transaction.commit().await.map_err(failed)
    }

    pub async fn outbox_hooks(&self) -> Result<Vec<String>, StorageError> {
        let rows = self
            .query("SELECT DISTINCT hook FROM wharf_outbox", &[])
            .await?;
        Ok(rows.into_iter().map(|row| row.get(0)).collect())
    }

    pub async fn pending(&self, hook: &str, limit: usize) -> Result<Vec<Pending>, StorageError> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let rows = self
            .query(
                "SELECT seq, target, request_id, timestamp, body, tries FROM wharf_outbox
                 WHERE hook = $1 ORDER BY seq LIMIT $2",
                &[&hook, &limit],
            )
            .await?;
        Ok(rows
            .into_iter()
            .map(|row| Pending {
                seq: row.get(0),
                target: row.get(1),
                request_id: row.get(2),
                timestamp: u64::try_from(row.get::<_, i64>(3)).unwrap_or(0),
                body: row.get(4),
                tries: u32::try_from(row.get::<_, i32>(5)).unwrap_or(0),
            })
            .collect())
    }

    pub async fn record_try(&self, seq: i64, tries: u32) -> Result<bool, StorageError> {
        let tries = i32::try_from(tries).unwrap_or(i32::MAX);
        let updated = self
            .execute(
                "UPDATE wharf_outbox SET tries = $2 WHERE seq = $1",
                &[&seq, &tries],
            )
            .await?;
        Ok(updated == 1)
    }

    pub async fn is_queued(&self, seq: i64) -> Result<bool, StorageError> {
        let rows = self
            .query("SELECT 1 FROM wharf_outbox WHERE seq = $1", &[&seq])
            .await?;
        Ok(!rows.is_empty())
    }

    pub async fn forget_events(&self, session: &str) -> Result<(), StorageError> {
        self.execute("DELETE FROM wharf_outbox WHERE session = $1", &[&session])
            .await
            .map(drop)
    }

    pub async fn delivered(&self, seq: i64) -> Result<(), StorageError> {
        self.execute("DELETE FROM wharf_outbox WHERE seq = $1", &[&seq])
            .await
            .map(drop)
    }

    pub async fn kv_get(
        &self,
        session: &str,
        keys: Vec<String>,
    ) -> Result<Vec<Option<Vec<u8>>>, StorageError> {
        let rows = self
            .query(
                "SELECT key, value FROM wharf_kv WHERE session = $1 AND key = ANY($2)",
                &[&session, &keys],
            )
            .await?;
        let found: HashMap<String, Vec<u8>> = rows
            .into_iter()
            .map(|row| (row.get(0), row.get(1)))
            .collect();
        Ok(keys.iter().map(|key| found.get(key).cloned()).collect())
    }

    pub async fn kv_scan(
        &self,
        session: &str,
        prefix: &str,
        after: &str,
        limit: usize,
    ) -> Result<Vec<(String, Vec<u8>)>, StorageError> {
        let (from, lower) = if !after.is_empty() && after >= prefix {
            (after, "key > $2")
        } else {
            (prefix, "key >= $2")
        };
        let end = prefix_end(prefix);
        let upper = if end.is_some() {
            "AND key < $4"
        } else {
            "AND $4::text IS NULL"
        };
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let sql = format!(
            "SELECT key, value FROM wharf_kv WHERE session = $1 AND {lower} {upper}
             ORDER BY key LIMIT $3"
        );
        let rows = self.query(&sql, &[&session, &from, &limit, &end]).await?;
        Ok(rows
            .into_iter()
            .map(|row| (row.get(0), row.get(1)))
            .collect())
    }

    pub async fn kv_write(
        &self,
        session: &str,
        fence: &WriteFence,
        batch: Vec<KvWrite>,
    ) -> Result<(), KvWriteError> {
        let mut client = self.client().await?;
        let transaction = client.transaction().await.map_err(failed)?;
        let stored = transaction
            .query_opt(
                "SELECT 1 FROM wharf_sessions WHERE name = $1 FOR SHARE",
                &[&session],
            )
            .await
            .map_err(failed)?;
        if stored.is_none() {
            return Err(StorageError::from(format!("no session {session} is stored")).into());
        }
        // Read under the row's lock: see the module's docs.
        if fence.is_closed() {
            return Err(KvWriteError::Fenced);
        }
        for write in &batch {
            let key = write.key.as_str();
            let written = match write.op {
                KvOp::PUT => {
                    let value = write.value.as_slice();
                    transaction
                        .execute(
                            "INSERT INTO wharf_kv (session, key, value) VALUES ($1, $2, $3)
                             ON CONFLICT (session, key) DO UPDATE SET value = excluded.value",
                            &[&session, &key, &value],
                        )
                        .await
                }
                KvOp::DELETE => {
                    transaction
                        .execute(
                            "DELETE FROM wharf_kv WHERE session = $1 AND key = $2",
                            &[&session, &key],
                        )
                        .await
                }
                KvOp::DELETE_PREFIX => {
                    transaction
                        .execute(
                            "DELETE FROM wharf_kv WHERE session = $1 AND key >= $2
                             AND ($3::text IS NULL OR key < $3)",
                            &[&session, &key, &prefix_end(key)],
                        )
                        .await
                }
                unknown => {
                    return Err(StorageError::from(format!(
                        "unknown store operation {}",
                        unknown.code()
                    ))
                    .into());
                }
            };
            written.map_err(failed)?;
        }
        transaction.commit().await.map_err(failed)?;
        Ok(())
    }

    pub async fn kv_clear(&self, session: &str) -> Result<(), StorageError> {
        let mut client = self.client().await?;
        let transaction = client.transaction().await.map_err(failed)?;
        transaction
            .execute(
                "SELECT 1 FROM wharf_sessions WHERE name = $1 FOR UPDATE",
                &[&session],
            )
            .await
            .map_err(failed)?;
        transaction
            .execute("DELETE FROM wharf_kv WHERE session = $1", &[&session])
            .await
            .map_err(failed)?;
        transaction.commit().await.map_err(failed)
    }
}
