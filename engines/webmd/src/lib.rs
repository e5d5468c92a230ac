//! The webmd engine: WhatsApp's multi-device protocol on the `whatsapp-rust`
//! crate — no browser. It pairs by QR code or pairing code, keeps its
//! credentials in the session's data directory (so a paired session resumes
//! after a restart), and serves contacts from what the protocol tells it.
//!
//! Session config (all optional):
//!
//! ```json
//! { "websocketUrl": "wss://…", "markOnline": false }
//! ```
//!
//! `websocketUrl` replaces WhatsApp's own address, for relays and tests.
//! `markOnline` shows the session online to contacts once connected; it is
//! off by default because a device shown online keeps the phone from
//! notifying its owner.
//!
//! The logic lives in `core` over the `net::Network` seam, so tests drive
//! it with real whatsapp-rust events and a fake network.

mod core;
mod jid;
mod logging;
mod net;
mod people;
mod transport;

use std::sync::{Arc, Mutex, OnceLock, PoisonError};

use serde::Deserialize;
use wharf_engine_api::{
    Contact, ContactName, Engine, EngineError, Host, LidMapping, ListQuery, Manifest, NumberExists,
    Session, SessionContext, SessionStatus, features,
};
use whatsapp_rust::prelude::{Bot, BotHandle, SqliteStore};

use crate::core::Core;
use net::ClientNetwork;
use people::Book;
use transport::WatchedTransport;

/// The webmd engine.
#[derive(Default)]
pub struct WebMdEngine;

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
struct WebMdConfig {
    websocket_url: Option<String>,
    mark_online: bool,
}

impl Engine for WebMdEngine {
    type Session = WebMdSession;

    fn manifest(&self) -> Manifest {
        Manifest::new(
            "webmd",
            env!("CARGO_PKG_VERSION"),
            "WhatsApp multi-device protocol (whatsapp-rust), paired like a linked device",
        )
        .supports_all(&[
            // Named one by one, not `features::CONTACTS`: that list grows
            // with the contract, and this engine implements these.
            features::CONTACTS_LIST,
            features::CONTACTS_GET,
            features::CONTACTS_CHECK_EXISTS,
            features::CONTACTS_ABOUT,
            features::CONTACTS_PROFILE_PICTURE,
            features::CONTACTS_BLOCK,
            features::CONTACTS_UNBLOCK,
            features::CONTACTS_UPSERT,
        ])
        .supports_all(&[
            features::LIDS_LIST,
            features::LIDS_COUNT,
            features::LIDS_FIND_PN,
            features::LIDS_FIND_LID,
        ])
        .supports_all(&[features::AUTH_QR, features::AUTH_CODE])
    }

    async fn open_session(&self, context: SessionContext) -> Result<WebMdSession, EngineError> {
        let config: WebMdConfig = context.config()?;
        let host = context.host();
        let dir = context.data_dir();
        let book = tokio::task::spawn_blocking({
            let dir = dir.clone();
            move || Book::load(&dir)
        })
        .await
        .map_err(|err| EngineError::internal(format!("loading the contact book: {err}")))??;
        let database = dir.join("whatsapp.db");
        let store = SqliteStore::new(&database.to_string_lossy())
            .await
            .map_err(|err| {
                EngineError::internal(format!("cannot open {}: {err}", database.display()))
            })?;
        let logs = logging::SessionLogs::new(context.session.as_str(), host.clone());
        // The handler is registered before the core exists (it needs the
        // client the builder makes); no event comes before `spawn`.
        let slot: Arc<OnceLock<Arc<Core<ClientNetwork>>>> = Arc::new(OnceLock::new());
        let events = Arc::clone(&slot);
        let bot = Bot::builder()
            .with_backend(store)
            .with_runtime(logging::ScopedRuntime::new(logs.clone()))
            .with_transport_factory(WatchedTransport::new(
                config.websocket_url.as_deref(),
                host.clone(),
                logs.clone(),
            ))
            .on_event(move |event, _client| {
                let core = events.get().cloned();
                async move {
                    let Some(core) = core else { return };
                    let Some(_running) = core.handlers.enter() else {
                        return;
                    };
                    core.handle_event(&event).await;
                }
            })
            .build()
            .await
            .map_err(|err| {
                EngineError::internal(format!("cannot build the WhatsApp client: {err}"))
            })?;
        let core = Arc::new(Core::new(
            ClientNetwork(bot.client()),
            host.clone(),
            book,
            config.mark_online,
        ));
        let _ = slot.set(Arc::clone(&core));
        host.status(SessionStatus::STARTING, None);
        let handle = bot.spawn();
        let saver = tokio::spawn({
            let core = Arc::clone(&core);
            async move { core.save_after_changes().await }
        });
        Ok(WebMdSession {
            core,
            handle: Mutex::new(Some(handle)),
            saver,
            logs,
            host,
        })
    }
}

/// One paired (or pairing) WhatsApp account.
pub struct WebMdSession {
    core: Arc<Core<ClientNetwork>>,
    handle: Mutex<Option<BotHandle>>,
    saver: tokio::task::JoinHandle<()>,
    logs: logging::SessionLogs,
    host: Host,
}

impl Session for WebMdSession {
    async fn list_contacts(&self, query: ListQuery) -> Result<Vec<Contact>, EngineError> {
        Ok(self.core.page(&query))
    }

    async fn get_contact(&self, contact_id: String) -> Result<Contact, EngineError> {
        self.core.get(&contact_id).await
    }

    async fn check_exists(&self, phone: String) -> Result<NumberExists, EngineError> {
        self.core.check_exists(&phone).await
    }

    async fn about(&self, contact_id: String) -> Result<Option<String>, EngineError> {
        self.core.about(&contact_id).await
    }

    async fn profile_picture(
        &self,
        contact_id: String,
        _refresh: bool,
    ) -> Result<Option<String>, EngineError> {
        self.core.profile_picture(&contact_id).await
    }

    async fn block(&self, contact_id: String) -> Result<(), EngineError> {
        self.core.set_blocked(&contact_id, true).await
    }

    async fn unblock(&self, contact_id: String) -> Result<(), EngineError> {
        self.core.set_blocked(&contact_id, false).await
    }

    async fn upsert_contact(
        &self,
        contact_id: String,
        name: ContactName,
    ) -> Result<(), EngineError> {
        self.core.upsert(&contact_id, name).await
    }

    async fn list_lids(&self, offset: u32, limit: u32) -> Result<Vec<LidMapping>, EngineError> {
        self.core.list_lids(offset, limit).await
    }

    async fn count_lids(&self) -> Result<u64, EngineError> {
        self.core.count_lids().await
    }

    async fn find_pn_by_lid(&self, lid: String) -> Result<LidMapping, EngineError> {
        self.core.find_pn_by_lid(&lid).await
    }

    async fn find_lid_by_pn(&self, phone: String) -> Result<LidMapping, EngineError> {
        self.core.find_lid_by_pn(&phone).await
    }

    async fn request_pairing_code(&self, phone: String) -> Result<String, EngineError> {
        self.core.pairing_code(phone).await
    }

    async fn logout(&self) -> Result<(), EngineError> {
        self.core.logout().await
    }

    async fn close(&self) {
        let handle = self
            .handle
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        if let Some(handle) = handle {
            handle.shutdown().await;
        }
        // The final save first: it waits for a debounced save in progress,
        // which an abort would cut loose to finish after it.
        self.core.close().await;
        self.saver.abort();
        self.logs.close();
        self.host.status(SessionStatus::STOPPED, None);
    }
}

wharf_engine_api::export_engine!(WebMdEngine);

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use whatsapp_rust::wacore::{
        net::DisconnectReason,
        types::events::{
            ClientOutdated, ConnectFailureReason, Connected, Disconnected, LoggedOut,
            PairingQrCode, PairingQrCodesExhausted, StreamReplaced,
        },
    };

    use super::*;
    use crate::core::{as_waha_shows, status_change};
    use whatsapp_rust::prelude::Event;

    fn status(event: Event) -> (SessionStatus, Option<String>) {
        status_change(&event, false).expect("the event changes the status")
    }

    #[test]
    fn pairing_and_connection_events_move_the_status() {
        let qr = PairingQrCode::builder()
            .code("2@abc".into())
            .timeout(Duration::from_secs(60))
            .build();
        assert_eq!(
            status(Event::PairingQrCode(qr)),
            (SessionStatus::SCAN_QR_CODE, None)
        );
        assert_eq!(
            status(Event::Connected(Connected::builder().build())),
            (SessionStatus::WORKING, None)
        );
        let (starting, reason) = status(Event::Disconnected(
            Disconnected::builder()
                .reason(DisconnectReason::StreamEnded)
                .build(),
        ));
        assert_eq!(starting, SessionStatus::STARTING);
        assert!(reason.unwrap().contains("reconnecting"));
    }

    #[test]
    fn terminal_events_fail_the_session_with_a_reason() {
        let logged_out = LoggedOut::builder()
            .on_connect(false)
            .reason(ConnectFailureReason::LoggedOut)
            .build();
        for event in [
            Event::LoggedOut(logged_out),
            Event::StreamReplaced(StreamReplaced::builder().build()),
            Event::ClientOutdated(ClientOutdated::builder().build()),
            Event::PairingQrCodesExhausted(
                PairingQrCodesExhausted::builder()
                    .disconnected(true)
                    .build(),
            ),
        ] {
            let (failed, reason) = status(event);
            assert_eq!(failed, SessionStatus::FAILED);
            assert!(!reason.unwrap().is_empty());
        }
    }

    #[test]
    fn pairing_codes_are_shown_in_two_halves_as_waha_shows_them() {
        assert_eq!(as_waha_shows("ABCDEFGH"), "ABCD-EFGH");
        assert_eq!(as_waha_shows("ABCD-EFGH"), "ABCD-EFGH");
        assert_eq!(as_waha_shows("ABC"), "ABC");
    }

    #[test]
    fn qr_exhaustion_fails_the_session_only_when_the_client_disconnected() {
        let exhausted = |disconnected| {
            Event::PairingQrCodesExhausted(
                PairingQrCodesExhausted::builder()
                    .disconnected(disconnected)
                    .build(),
            )
        };
        assert_eq!(status_change(&exhausted(false), false), None);
        assert_eq!(status(exhausted(true)).0, SessionStatus::FAILED);
    }

    #[test]
    fn other_events_leave_the_status_alone() {
        let offline = whatsapp_rust::wacore::types::events::OfflineSyncCompleted::builder()
            .count(0)
            .build();
        assert_eq!(
            status_change(&Event::OfflineSyncCompleted(offline), false),
            None
        );
    }
}
