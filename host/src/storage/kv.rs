//! The session store engines keep their durable state in (ABI 2.3): keys
//! and values per session, in the `engine_kv` table.
//!
//! Keys are compared by their bytes (SQLite's `BINARY` collation), which
//! for UTF-8 is the order of code points, so a prefix's keys are one range.

use std::sync::{
    Arc,
    atomic::{AtomicBool, Ordering},
};

use rusqlite::{OptionalExtension, params};
use wharf_engine_api::{KvOp, KvWrite};

use super::{Storage, StorageError};

/// Whether a run may still write its session's store.
///
/// The host closes a run's fence once the run has ended (its engine
/// session closed, or given up on), before it deletes or hands over the
/// session's data. A write reads the fence on the storage thread, in the
/// transaction that writes: every write that passed it was queued before
/// whatever the host queues after closing it, so nothing a closed run
/// still sends lands afterwards.
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

/// Why a batch was not written.
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
/// order; `None` when no key comes after them (an empty prefix, or one of
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

impl Storage {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::StoredSession;

    #[test]
    fn a_prefix_ends_before_the_next_code_point() {
        assert_eq!(prefix_end("book/c/").as_deref(), Some("book/c0"));
        assert_eq!(prefix_end("a\u{10FFFF}").as_deref(), Some("b"));
        assert_eq!(prefix_end("\u{D7FF}").as_deref(), Some("\u{E000}"));
        assert_eq!(prefix_end(""), None);
        assert_eq!(prefix_end("\u{10FFFF}\u{10FFFF}"), None);
    }

    async fn store_with(sessions: &[&str]) -> (tempfile::TempDir, Storage) {
        let dir = tempfile::tempdir().unwrap();
        let storage = Storage::open(&dir.path().join("wharf.db")).unwrap();
        for name in sessions {
            let session = StoredSession {
                name: (*name).to_owned(),
                engine: "sandbox".into(),
                config: serde_json::json!({}),
                should_run: true,
            };
            assert!(storage.insert(session).await.unwrap());
        }
        (dir, storage)
    }

    fn keys(entries: &[(String, Vec<u8>)]) -> Vec<&str> {
        entries.iter().map(|(key, _)| key.as_str()).collect()
    }

    #[tokio::test]
    async fn writes_land_whole_and_scans_keep_to_their_prefix() {
        let (_dir, storage) = store_with(&["s1", "s2"]).await;
        let fence = WriteFence::default();
        let batch = ["a", "b/1", "b/2", "b/3", "b0", "b\u{10FFFF}x", "c"]
            .map(|key| KvWrite::put(key, key.as_bytes().to_vec()));
        storage
            .kv_write("s1", &fence, batch.to_vec())
            .await
            .unwrap();
        storage
            .kv_write("s2", &fence, vec![KvWrite::put("b/1", b"other".to_vec())])
            .await
            .unwrap();

        let b = storage.kv_scan("s1", "b/", "", 100).await.unwrap();
        assert_eq!(keys(&b), ["b/1", "b/2", "b/3"]);
        assert_eq!(b[0].1, b"b/1");
        let paged = storage.kv_scan("s1", "b/", "b/1", 1).await.unwrap();
        assert_eq!(keys(&paged), ["b/2"]);
        let b_all = storage.kv_scan("s1", "b", "", 100).await.unwrap();
        assert_eq!(keys(&b_all), ["b/1", "b/2", "b/3", "b0", "b\u{10FFFF}x"]);
        let everything = storage.kv_scan("s1", "", "b0", 100).await.unwrap();
        assert_eq!(keys(&everything), ["b\u{10FFFF}x", "c"]);
        assert_eq!(
            storage
                .kv_get("s1", vec!["a".into(), "nope".into(), "c".into()])
                .await
                .unwrap(),
            [Some(b"a".to_vec()), None, Some(b"c".to_vec())]
        );

        storage
            .kv_write(
                "s1",
                &fence,
                vec![
                    KvWrite::delete_prefix("b/"),
                    KvWrite::delete("a"),
                    KvWrite::put("c", b"new".to_vec()),
                ],
            )
            .await
            .unwrap();
        let left = storage.kv_scan("s1", "", "", 100).await.unwrap();
        assert_eq!(keys(&left), ["b0", "b\u{10FFFF}x", "c"]);
        assert_eq!(left[2].1, b"new");
        let other = storage.kv_get("s2", vec!["b/1".into()]).await.unwrap();
        assert_eq!(
            other,
            [Some(b"other".to_vec())],
            "sessions do not share keys"
        );
    }

    #[tokio::test]
    async fn a_closed_fence_refuses_the_whole_batch() {
        let (_dir, storage) = store_with(&["s1"]).await;
        let fence = WriteFence::default();
        let put = |value: &[u8]| vec![KvWrite::put("k", value.to_vec())];
        storage.kv_write("s1", &fence, put(b"1")).await.unwrap();
        fence.close();
        let refused = storage.kv_write("s1", &fence, put(b"2")).await;
        assert!(matches!(refused, Err(KvWriteError::Fenced)), "{refused:?}");
        let value = storage.kv_get("s1", vec!["k".into()]).await.unwrap();
        assert_eq!(value, [Some(b"1".to_vec())]);
    }

    #[tokio::test]
    async fn a_deleted_session_takes_its_store_and_cannot_write_again() {
        let (_dir, storage) = store_with(&["s1"]).await;
        let fence = WriteFence::default();
        let put = vec![KvWrite::put("k", b"v".to_vec())];
        storage.kv_write("s1", &fence, put.clone()).await.unwrap();
        storage.delete("s1").await.unwrap();
        assert!(storage.kv_scan("s1", "", "", 10).await.unwrap().is_empty());
        assert!(
            storage.kv_write("s1", &fence, put).await.is_err(),
            "no store for a session that is not stored"
        );
    }
}
