//! What both backends must do alike. Each test runs on SQLite, and on a
//! PostgreSQL of its own where one is installed (see
//! `wharf_e2e::postgres`).

use serde_json::json;
use wharf_e2e::postgres::Postgres;
use wharf_engine_api::KvWrite;

use super::*;

/// A store of each backend, each opened by `reopen` as often as a test
/// asks: SQLite in a temporary directory, and PostgreSQL when installed.
struct Backends {
    sqlite: tempfile::TempDir,
    postgres: Option<(Postgres, String)>,
}

impl Backends {
    fn new() -> Self {
        let postgres = Postgres::start().map(|server| {
            let url = server.database();
            (server, url)
        });
        Self {
            sqlite: tempfile::tempdir().unwrap(),
            postgres,
        }
    }

    /// A handle on each backend's store, named; the stores keep what
    /// earlier handles stored.
    async fn open(&self) -> Vec<(&'static str, Storage)> {
        let mut opened = vec![(
            "sqlite",
            Storage::sqlite(&self.sqlite.path().join("wharf.db")).unwrap(),
        )];
        if let Some((_, url)) = &self.postgres {
            opened.push(("postgres", Storage::postgres(url).await.unwrap()));
        }
        opened
    }
}

fn session(name: &str) -> StoredSession {
    StoredSession {
        name: name.into(),
        engine: "sandbox".into(),
        config: json!({"fixture": "/x.json"}),
        should_run: true,
    }
}

/// The permission bits of `path` itself (a link is not followed).
#[cfg(unix)]
pub(super) fn mode(path: &std::path::Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::symlink_metadata(path)
        .unwrap()
        .permissions()
        .mode()
        & 0o7777
}

fn keys(entries: &[(String, Vec<u8>)]) -> Vec<&str> {
    entries.iter().map(|(key, _)| key.as_str()).collect()
}

#[test]
fn a_prefix_ends_before_the_next_code_point() {
    assert_eq!(prefix_end("book/c/").as_deref(), Some("book/c0"));
    assert_eq!(prefix_end("a\u{10FFFF}").as_deref(), Some("b"));
    assert_eq!(prefix_end("\u{D7FF}").as_deref(), Some("\u{E000}"));
    assert_eq!(prefix_end(""), None);
    assert_eq!(prefix_end("\u{10FFFF}\u{10FFFF}"), None);
}

#[tokio::test]
async fn sessions_survive_reopening_the_store() {
    let backends = Backends::new();
    for (backend, storage) in backends.open().await {
        assert!(storage.insert(session("a")).await.unwrap(), "{backend}");
        assert!(
            !storage.insert(session("a")).await.unwrap(),
            "{backend}: names are unique"
        );
        assert!(storage.insert(session("b")).await.unwrap());
        storage.set_should_run("a", false).await.unwrap();
        storage
            .update("b", "counting", &json!({"delayMs": 1}))
            .await
            .unwrap();
        storage.delete("nobody").await.unwrap();
    }
    for (backend, storage) in backends.open().await {
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
            ],
            "{backend}"
        );
        storage.delete("a").await.unwrap();
        assert_eq!(storage.sessions().await.unwrap().len(), 1, "{backend}");
    }
}

#[tokio::test]
async fn the_outbox_gives_each_hook_its_entries_in_order() {
    let backends = Backends::new();
    for (backend, storage) in backends.open().await {
        let entry = |hook: &str, session: &str, body: &str| OutboxEntry {
            hook: hook.into(),
            session: session.into(),
            target: "{}".into(),
            request_id: format!("r-{body}"),
            timestamp: 1_700_000_000_000,
            body: body.into(),
        };
        storage
            .enqueue(vec![entry("h1", "s1", "1"), entry("h2", "s2", "2")])
            .await
            .unwrap();
        storage.enqueue(vec![entry("h1", "s1", "3")]).await.unwrap();
        let mut hooks = storage.outbox_hooks().await.unwrap();
        hooks.sort();
        assert_eq!(hooks, ["h1", "h2"], "{backend}");
        let pending = storage.pending("h1", 10).await.unwrap();
        let bodies: Vec<&str> = pending.iter().map(|p| p.body.as_str()).collect();
        assert_eq!(bodies, ["1", "3"], "{backend}");
        assert_eq!(pending[0].request_id, "r-1");
        assert_eq!(pending[0].timestamp, 1_700_000_000_000);

        assert!(storage.record_try(pending[0].seq, 2).await.unwrap());
        assert_eq!(storage.pending("h1", 1).await.unwrap()[0].tries, 2);
        storage.delivered(pending[0].seq).await.unwrap();
        assert!(
            !storage.is_queued(pending[0].seq).await.unwrap(),
            "{backend}"
        );
        assert!(!storage.record_try(pending[0].seq, 3).await.unwrap());
        assert!(storage.is_queued(pending[1].seq).await.unwrap());
        storage.forget_events("s1").await.unwrap();
        assert_eq!(storage.outbox_hooks().await.unwrap(), ["h2"], "{backend}");
    }
}

#[tokio::test]
async fn store_writes_land_whole_and_scans_keep_to_their_prefix() {
    let backends = Backends::new();
    for (backend, storage) in backends.open().await {
        for name in ["s1", "s2"] {
            assert!(storage.insert(session(name)).await.unwrap());
        }
        let fence = WriteFence::default();
        let batch = ["a", "b/1", "b/2", "b/3", "b0", "b\u{10FFFF}x", "c", "é"]
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
        assert_eq!(keys(&b), ["b/1", "b/2", "b/3"], "{backend}");
        assert_eq!(b[0].1, b"b/1");
        let paged = storage.kv_scan("s1", "b/", "b/1", 1).await.unwrap();
        assert_eq!(keys(&paged), ["b/2"], "{backend}");
        let b_all = storage.kv_scan("s1", "b", "", 100).await.unwrap();
        assert_eq!(
            keys(&b_all),
            ["b/1", "b/2", "b/3", "b0", "b\u{10FFFF}x"],
            "{backend}"
        );
        let rest = storage.kv_scan("s1", "", "b0", 100).await.unwrap();
        assert_eq!(
            keys(&rest),
            ["b\u{10FFFF}x", "c", "é"],
            "{backend}: byte order"
        );
        assert_eq!(
            storage
                .kv_get(
                    "s1",
                    vec!["a".into(), "nope".into(), "c".into(), "a".into()]
                )
                .await
                .unwrap(),
            [
                Some(b"a".to_vec()),
                None,
                Some(b"c".to_vec()),
                Some(b"a".to_vec())
            ],
            "{backend}"
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
        assert_eq!(keys(&left), ["b0", "b\u{10FFFF}x", "c", "é"], "{backend}");
        assert_eq!(left[2].1, b"new");
        let other = storage.kv_get("s2", vec!["b/1".into()]).await.unwrap();
        assert_eq!(
            other,
            [Some(b"other".to_vec())],
            "{backend}: sessions do not share keys"
        );

        storage.kv_clear("s1").await.unwrap();
        assert!(storage.kv_scan("s1", "", "", 10).await.unwrap().is_empty());
        assert_eq!(storage.kv_scan("s2", "", "", 10).await.unwrap().len(), 1);
    }
}

#[tokio::test]
async fn a_closed_fence_refuses_the_whole_batch() {
    let backends = Backends::new();
    for (backend, storage) in backends.open().await {
        assert!(storage.insert(session("s1")).await.unwrap());
        let fence = WriteFence::default();
        let put = |value: &[u8]| {
            vec![
                KvWrite::put("k", value.to_vec()),
                KvWrite::delete_prefix(""),
            ]
        };
        storage
            .kv_write("s1", &fence, vec![KvWrite::put("k", b"1".to_vec())])
            .await
            .unwrap();
        fence.close();
        let refused = storage.kv_write("s1", &fence, put(b"2")).await;
        assert!(
            matches!(refused, Err(KvWriteError::Fenced)),
            "{backend}: {refused:?}"
        );
        let value = storage.kv_get("s1", vec!["k".into()]).await.unwrap();
        assert_eq!(value, [Some(b"1".to_vec())], "{backend}");
    }
}

#[tokio::test]
async fn a_deleted_session_takes_its_store_and_cannot_write_again() {
    let backends = Backends::new();
    for (backend, storage) in backends.open().await {
        assert!(storage.insert(session("s1")).await.unwrap());
        let fence = WriteFence::default();
        let put = vec![KvWrite::put("k", b"v".to_vec())];
        storage.kv_write("s1", &fence, put.clone()).await.unwrap();
        storage.delete("s1").await.unwrap();
        assert!(
            storage.kv_scan("s1", "", "", 10).await.unwrap().is_empty(),
            "{backend}"
        );
        assert!(
            storage.kv_write("s1", &fence, put).await.is_err(),
            "{backend}: no store for a session that is not stored"
        );
    }
}

/// Writes racing the emptying of their store, as a run still writing while
/// the host logs its session out: once the fence is closed and the store
/// emptied, nothing a write sent before can be found there.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn no_write_lands_after_its_fence_closed_and_the_store_was_emptied() {
    let backends = Backends::new();
    for (backend, storage) in backends.open().await {
        assert!(storage.insert(session("s1")).await.unwrap());
        for round in 0..20 {
            let fence = WriteFence::default();
            let mut writers = tokio::task::JoinSet::new();
            for writer in 0..8 {
                let (storage, fence) = (storage.clone(), fence.clone());
                writers.spawn(async move {
                    for n in 0..20 {
                        let key = format!("w{writer}/{n}");
                        let _ = storage
                            .kv_write("s1", &fence, vec![KvWrite::put(key, vec![1])])
                            .await;
                    }
                });
            }
            tokio::time::sleep(std::time::Duration::from_millis(round % 5)).await;
            fence.close();
            storage.kv_clear("s1").await.unwrap();
            while writers.join_next().await.is_some() {}
            let left = storage.kv_scan("s1", "", "", 1000).await.unwrap();
            assert_eq!(keys(&left), Vec::<&str>::new(), "{backend}, round {round}");
        }
    }
}
