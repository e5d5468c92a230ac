//! The host services an engine session calls back into: its log lines land in
//! the host's `tracing`, its events update the session's state.
//!
//! These calls arrive on the engine's own threads, so nothing here may need
//! the host's tokio runtime: only locks and `tracing`. The session store
//! calls are the exception, and they say how they keep to it (see
//! [`RunStore`]).

use std::sync::Arc;

use abi_stable::{
    sabi_trait::TD_Opaque,
    std_types::{RArc, ROption, RResult, RStr, RString, RVec},
};
use wharf_engine_api::{
    Contact, ContactChange, EngineError, HostServices, HostServices_TO, HostServicesBox, KvEntry,
    KvWrite, LogLevel, SessionStatus, ffi::FfiResult,
};

use crate::{
    events::names::contact_event,
    sessions::{Me, SessionState, Status, config_files::ConfigFiles, store::RunStore},
};

#[derive(Clone)]
pub(super) struct EngineBridge {
    session: Arc<str>,
    engine: Arc<str>,
    state: Arc<SessionState>,
    config_files: Arc<ConfigFiles>,
    store: RunStore,
}

impl EngineBridge {
    pub(super) fn boxed(
        session: &str,
        engine: &str,
        state: Arc<SessionState>,
        config_files: Arc<ConfigFiles>,
        store: RunStore,
    ) -> HostServicesBox {
        let bridge = EngineBridge {
            session: session.into(),
            engine: engine.into(),
            state,
            config_files,
            store,
        };
        HostServices_TO::from_ptr(RArc::new(bridge), TD_Opaque)
    }
}

/// `text` with its control characters escaped (`\n` for a line feed): an
/// engine's log line may carry what a REST user or a contact wrote (a
/// name, say), and must stay one line of the host's log, never forge the
/// next.
fn one_line(text: &str) -> String {
    let mut line = String::with_capacity(text.len());
    for c in text.chars() {
        if c.is_control() {
            line.extend(c.escape_default());
        } else {
            line.push(c);
        }
    }
    line
}

impl HostServices for EngineBridge {
    fn log(&self, level: LogLevel, message: RStr<'_>) {
        let message = one_line(&self.state.scrub(message.as_str()));
        let (session, engine, message) = (&*self.session, &*self.engine, message.as_str());
        match level {
            LogLevel::Error => {
                tracing::error!(target: "wharf::engine", session, engine, "{message}")
            }
            LogLevel::Warn => tracing::warn!(target: "wharf::engine", session, engine, "{message}"),
            LogLevel::Info => tracing::info!(target: "wharf::engine", session, engine, "{message}"),
            LogLevel::Debug => {
                tracing::debug!(target: "wharf::engine", session, engine, "{message}")
            }
            LogLevel::Trace => {
                tracing::trace!(target: "wharf::engine", session, engine, "{message}")
            }
        }
    }

    fn status(&self, reported: SessionStatus, reason: ROption<RStr<'_>>) {
        let reason = reason.into_option().map(|r| self.state.scrub(r.as_str()));
        let session = &*self.session;
        let Some(status) = Status::known(reported) else {
            tracing::warn!(
                session,
                engine = &*self.engine,
                code = reported.code(),
                reason = reason.as_deref(),
                "the engine reported a status this host does not know; ignored"
            );
            return;
        };
        tracing::info!(
            session,
            status = status.as_waha(),
            reason = reason.as_deref(),
            "session status"
        );
        self.state.set_status(status, reason);
    }

    fn qr(&self, value: RStr<'_>) {
        self.state.set_qr(value.as_str().to_owned());
    }

    fn account(&self, id: RStr<'_>, push_name: ROption<RStr<'_>>) {
        self.state.set_me(Me {
            id: id.as_str().to_owned(),
            push_name: push_name.into_option().map(|name| name.as_str().to_owned()),
        });
    }

    fn read_config_file(&self, field: RStr<'_>, name: RStr<'_>) -> RResult<RVec<u8>, EngineError> {
        self.config_files
            .read(field.as_str(), name.as_str())
            .map(RVec::from)
            .into()
    }

    fn contact_changed(&self, change: ContactChange, contact: &Contact) {
        match contact_event(change) {
            Some(event) => self.state.contact_changed(event, contact),
            None => tracing::warn!(
                session = &*self.session,
                engine = &*self.engine,
                code = change.code(),
                "the engine reported a contact change this host does not know; ignored"
            ),
        }
    }

    fn kv_get(&self, keys: RVec<RString>) -> FfiResult<RVec<ROption<RVec<u8>>>> {
        self.store.get(keys)
    }

    fn kv_scan(&self, prefix: RString, after: RString, limit: u32) -> FfiResult<RVec<KvEntry>> {
        self.store.scan(prefix, after, limit)
    }

    fn kv_write(&self, batch: RVec<KvWrite>) -> FfiResult<()> {
        self.store.write(batch)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::storage::{Storage, StoredSession, WriteFence};
    use wharf_engine_api::ErrorKind;

    /// A bridge for session `s`, whose store is in `dir`.
    async fn bridge_in(
        dir: &tempfile::TempDir,
    ) -> (Arc<SessionState>, HostServicesBox, WriteFence) {
        let storage = Storage::sqlite(&dir.path().join("wharf.db")).unwrap();
        let stored = StoredSession {
            name: "s".into(),
            engine: "e".into(),
            config: serde_json::json!({}),
            should_run: true,
        };
        assert!(storage.insert(stored).await.unwrap());
        let fence = WriteFence::default();
        let store = RunStore::new(
            "s",
            storage,
            fence.clone(),
            tokio::runtime::Handle::current(),
        );
        let state = Arc::new(SessionState::default());
        let services = EngineBridge::boxed(
            "s",
            "e",
            Arc::clone(&state),
            Arc::new(ConfigFiles::none()),
            store,
        );
        (state, services, fence)
    }

    async fn bridge() -> (Arc<SessionState>, HostServicesBox) {
        let dir = tempfile::tempdir().unwrap();
        let (state, services, _) = bridge_in(&dir).await;
        (state, services)
    }

    /// The store through the boundary, as an engine's `Host` calls it: on
    /// a thread of its own, outside the host's runtime.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_store_answers_across_the_boundary_until_the_run_ends() {
        let dir = tempfile::tempdir().unwrap();
        let (_, services, fence) = bridge_in(&dir).await;
        let context = wharf_engine_api::SessionContext {
            session: "s".into(),
            config: "{}".into(),
            data_dir: dir.path().to_string_lossy().as_ref().into(),
            host: services,
        };
        let host = context.host();
        let engine_side = std::thread::spawn(move || {
            let engine_runtime = tokio::runtime::Builder::new_current_thread()
                .build()
                .unwrap();
            engine_runtime.block_on(async {
                host.kv_write(vec![
                    KvWrite::put("book/c/2", b"two".to_vec()),
                    KvWrite::put("book/c/1", b"one".to_vec()),
                    KvWrite::put("device", b"keys".to_vec()),
                ])
                .await
                .unwrap();
                let book = host.kv_prefix("book/c/").await.unwrap();
                let keys: Vec<_> = book.iter().map(|entry| entry.key.as_str()).collect();
                assert_eq!(keys, ["book/c/1", "book/c/2"]);
                assert_eq!(host.kv_get("device").await.unwrap().unwrap(), b"keys");
                assert_eq!(host.kv_get("nothing").await.unwrap(), None);
                let refused = host.kv_write(vec![KvWrite::delete("")]).await.unwrap_err();
                assert_eq!(refused.kind, ErrorKind::INVALID_INPUT);
                host
            })
        });
        let host = tokio::task::spawn_blocking(move || engine_side.join().unwrap())
            .await
            .unwrap();
        fence.close();
        let fenced = host
            .kv_write(vec![KvWrite::put("device", b"stale".to_vec())])
            .await
            .unwrap_err();
        assert_eq!(fenced.kind, ErrorKind::UNAVAILABLE);
        assert!(fenced.message.contains("no longer writes"), "{fenced:?}");
        assert_eq!(host.kv_get("device").await.unwrap().unwrap(), b"keys");
    }

    #[tokio::test]
    async fn a_status_from_a_later_contract_is_ignored_and_the_session_keeps_its_own() {
        let (state, services) = bridge().await;
        services.status(SessionStatus::FAILED, ROption::RSome("no network".into()));
        services.status(
            SessionStatus::from_code(77),
            ROption::RSome("paused".into()),
        );
        assert_eq!(
            state.status(),
            (Status::Failed, Some("no network".to_owned()))
        );
    }

    #[test]
    fn an_engine_log_line_stays_one_line() {
        assert_eq!(
            one_line("saved Linus\n2026-11-26T11:00:00Z ERROR wharf: forged\u{0}\r"),
            "saved Linus\\n2026-11-26T11:00:00Z ERROR wharf: forged\\u{0}\\r"
        );
        assert_eq!(one_line("Zoë, 🙂 ok\ttab"), "Zoë, 🙂 ok\\ttab");
    }

    #[tokio::test]
    async fn events_reach_the_session_state() {
        let (state, services) = bridge().await;
        services.status(SessionStatus::SCAN_QR_CODE, ROption::RNone);
        services.qr("2@abc".into());
        services.account("1555@c.us".into(), ROption::RSome("Ada".into()));
        assert_eq!(state.status().0, Status::ScanQrCode);
        assert_eq!(state.qr().as_deref(), Some("2@abc"));
        assert_eq!(
            state.me(),
            Some(Me {
                id: "1555@c.us".into(),
                push_name: Some("Ada".into())
            })
        );
    }
}
