//! The webmd engine: WhatsApp's multi-device protocol on the `whatsapp-rust`
//! crate — no browser. It pairs by QR code or pairing code, keeps its
//! credentials in the session's data directory (so a paired session resumes
//! after a restart), and serves contacts from what the protocol tells it.
//!
//! Session config (all optional):
//!
//! ```json
//! { "websocketUrl": "wss://…" }
//! ```
//!
//! `websocketUrl` replaces WhatsApp's own address, for relays and tests.

mod book;
mod jid;
mod transport;

use std::{
    collections::HashSet,
    sync::{Arc, Mutex, MutexGuard, PoisonError},
    time::Duration,
};

use serde::Deserialize;
use wharf_engine_api::{
    Contact, ContactName, Engine, EngineError, Host, ListQuery, Manifest, NumberExists, RString,
    Session, SessionContext, SessionStatus, features, support::whatsapp_variants,
};
use whatsapp_rust::{
    pair_code::PairCodeOptions,
    prelude::{Bot, BotHandle, Client, Event, Jid, SqliteStore},
};

use book::ContactBook;
use jid::{phone_of, to_contact_id, to_jid};
use transport::WatchedTransport;

/// How often a changed contact book is written to disk.
const SAVE_INTERVAL: Duration = Duration::from_secs(2);

/// The webmd engine.
#[derive(Default)]
pub struct WebMdEngine;

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
struct WebMdConfig {
    websocket_url: Option<String>,
}

fn lock(book: &Mutex<ContactBook>) -> MutexGuard<'_, ContactBook> {
    book.lock().unwrap_or_else(PoisonError::into_inner)
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
        .supports_all(&[features::AUTH_QR, features::AUTH_CODE])
    }

    async fn open_session(&self, context: SessionContext) -> Result<WebMdSession, EngineError> {
        let config: WebMdConfig = context.config()?;
        let host = context.host();
        let dir = context.data_dir();
        let book = Arc::new(Mutex::new(ContactBook::load(&dir)?));
        let database = dir.join("whatsapp.db");
        let store = SqliteStore::new(&database.to_string_lossy())
            .await
            .map_err(|err| {
                EngineError::internal(format!("cannot open {}: {err}", database.display()))
            })?;
        let events_host = host.clone();
        let events_book = Arc::clone(&book);
        let bot = Bot::builder()
            .with_backend(store)
            .with_transport_factory(WatchedTransport::new(
                config.websocket_url.as_deref(),
                host.clone(),
            ))
            .on_event(move |event, client| {
                let host = events_host.clone();
                let book = Arc::clone(&events_book);
                async move { on_event(event, &client, &host, &book).await }
            })
            .build()
            .await
            .map_err(|err| {
                EngineError::internal(format!("cannot build the WhatsApp client: {err}"))
            })?;
        host.status(SessionStatus::STARTING, None);
        let handle = bot.spawn();
        let saver = tokio::spawn(save_periodically(Arc::clone(&book), host.clone()));
        Ok(WebMdSession {
            client: handle.client(),
            handle: Mutex::new(Some(handle)),
            saver,
            book,
            host,
        })
    }
}

/// Writes the contact book when it changed, every [`SAVE_INTERVAL`], so a
/// full sync of thousands of contacts is a few writes, not thousands.
async fn save_periodically(book: Arc<Mutex<ContactBook>>, host: Host) {
    let mut interval = tokio::time::interval(SAVE_INTERVAL);
    loop {
        interval.tick().await;
        if let Err(err) = lock(&book).save_if_changed() {
            host.error(&err.message);
        }
    }
}

/// The status an event moves the session to, and why.
fn status_change(event: &Event) -> Option<(SessionStatus, Option<String>)> {
    let failed = |reason: String| Some((SessionStatus::FAILED, Some(reason)));
    match event {
        Event::PairingQrCode(_) => Some((SessionStatus::SCAN_QR_CODE, None)),
        Event::PairSuccess(_) => Some((SessionStatus::STARTING, Some("paired; connecting".into()))),
        Event::Connected(_) => Some((SessionStatus::WORKING, None)),
        Event::Disconnected(disconnected) => Some((
            SessionStatus::STARTING,
            Some(format!(
                "disconnected ({}); reconnecting",
                disconnected.reason
            )),
        )),
        Event::LoggedOut(logged_out) => failed(format!(
            "logged out by WhatsApp ({:?}); log out the session and pair it again",
            logged_out.reason
        )),
        Event::StreamReplaced(_) => {
            failed("another client connected with these credentials and replaced this one".into())
        }
        Event::TemporaryBan(ban) => failed(format!(
            "WhatsApp banned this account temporarily ({:?})",
            ban.code
        )),
        Event::ClientOutdated(_) => {
            failed("WhatsApp says this client version is outdated; update the webmd engine".into())
        }
        Event::PairingQrCodesExhausted(_) => {
            failed("no QR code was scanned in time; restart the session to pair".into())
        }
        _ => None,
    }
}

/// What a protocol event means for the session's status and contacts.
async fn on_event(event: Arc<Event>, client: &Arc<Client>, host: &Host, book: &Mutex<ContactBook>) {
    match &*event {
        Event::PairingQrCode(qr) => host.qr(&qr.code),
        Event::Connected(_) => {
            if let Some(me) = client.pn() {
                let id = to_contact_id(&me);
                let push_name = client.push_name();
                host.account(&id, (!push_name.is_empty()).then_some(push_name.as_str()));
                lock(book).me(&id, phone_of(&me).as_deref(), &push_name);
            }
        }
        Event::ContactUpdate(update) => {
            let id = to_contact_id(&update.jid);
            lock(book).saved(
                &id,
                phone_of(&update.jid).as_deref(),
                update.action.full_name.as_deref(),
                update.action.first_name.as_deref(),
            );
        }
        Event::PushNameUpdate(update) => {
            let id = to_contact_id(&update.jid);
            lock(book).push_name(&id, phone_of(&update.jid).as_deref(), &update.new_push_name);
        }
        Event::HistorySync(_) => {
            // A history chunk can be megabytes of compressed protobuf:
            // decode it off the runtime's worker threads.
            let chunk = Arc::clone(&event);
            let decoded = tokio::task::spawn_blocking(move || history_push_names(&chunk)).await;
            match decoded {
                Ok(names) => {
                    let mut book = lock(book);
                    for (jid, name) in names {
                        book.push_name(&to_contact_id(&jid), phone_of(&jid).as_deref(), &name);
                    }
                }
                Err(err) => host.warn(&format!("cannot read a history sync chunk: {err}")),
            }
        }
        _ => {}
    }
    if let Some((status, reason)) = status_change(&event) {
        host.status(status, reason.as_deref());
    }
    if matches!(*event, Event::Connected(_)) {
        refresh_blocklist(client, host, book).await;
    }
}

/// The push names a history sync chunk carries, for contacts the protocol
/// names by JID.
fn history_push_names(event: &Event) -> Vec<(Jid, String)> {
    let Event::HistorySync(sync) = event else {
        return Vec::new();
    };
    let Some(history) = sync.get() else {
        return Vec::new();
    };
    history
        .pushnames
        .iter()
        .filter_map(|entry| {
            let jid: Jid = entry.id.as_deref()?.parse().ok()?;
            let name = entry.pushname.clone().filter(|name| !name.is_empty())?;
            Some((jid, name))
        })
        .collect()
}

async fn refresh_blocklist(client: &Arc<Client>, host: &Host, book: &Mutex<ContactBook>) {
    match client.blocking().get_blocklist().await {
        Ok(entries) => {
            let blocked: HashSet<(String, Option<String>)> = entries
                .iter()
                .map(|entry| (to_contact_id(&entry.jid), phone_of(&entry.jid)))
                .collect();
            lock(book).replace_blocklist(&blocked);
        }
        Err(err) => host.warn(&format!("cannot fetch the blocklist: {err}")),
    }
}

/// One paired (or pairing) WhatsApp account.
pub struct WebMdSession {
    client: Arc<Client>,
    handle: Mutex<Option<BotHandle>>,
    saver: tokio::task::JoinHandle<()>,
    book: Arc<Mutex<ContactBook>>,
    host: Host,
}

/// The JID to ask WhatsApp about for a contact the book does not have.
/// Only people can be looked up: the book holds no groups, and asking the
/// network about a group id fails, which is not the REST user's problem
/// but an unknown contact (404).
fn person_to_look_up(contact_id: &str) -> Result<Jid, EngineError> {
    if contact_id.ends_with("@g.us") {
        return Err(EngineError::not_found(format!(
            "{contact_id} is a group, and groups are not in the contact book"
        )));
    }
    to_jid(contact_id)
}

/// A pairing code as WAHA shows it and the phone asks for it: the crate
/// gives eight characters, `ABCD1234`, WAHA `ABCD-1234`.
fn as_waha_shows(code: &str) -> String {
    match code.len() {
        8 if code.is_ascii() => format!("{}-{}", &code[..4], &code[4..]),
        _ => code.to_owned(),
    }
}

fn protocol_error(action: &str, err: impl std::fmt::Display) -> EngineError {
    EngineError::unavailable(format!("{action}: {err}"))
}

impl Session for WebMdSession {
    async fn list_contacts(&self, query: ListQuery) -> Result<Vec<Contact>, EngineError> {
        Ok(query.apply(lock(&self.book).list()))
    }

    async fn get_contact(&self, contact_id: String) -> Result<Contact, EngineError> {
        if let Some(contact) = lock(&self.book).get(&contact_id) {
            return Ok(contact);
        }
        let jid = person_to_look_up(&contact_id)?;
        let registered = self
            .client
            .contacts()
            .is_on_whatsapp(std::slice::from_ref(&jid))
            .await
            .map_err(|err| protocol_error("looking the contact up", err))?
            .into_iter()
            .any(|result| result.is_registered);
        if !registered {
            return Err(EngineError::not_found(format!(
                "{contact_id} is not in the contact book and not on WhatsApp"
            )));
        }
        Ok(Contact {
            id: contact_id.as_str().into(),
            number: phone_of(&jid).map(RString::from).into(),
            is_wa_contact: true,
            ..Contact::default()
        })
    }

    async fn check_exists(&self, phone: String) -> Result<NumberExists, EngineError> {
        let candidates: Vec<Jid> = whatsapp_variants(&phone)
            .iter()
            .map(|number| to_jid(&format!("{number}@c.us")))
            .collect::<Result<_, _>>()?;
        let results = self
            .client
            .contacts()
            .is_on_whatsapp(&candidates)
            .await
            .map_err(|err| protocol_error("checking the number", err))?;
        // The first candidate WhatsApp knows is the chat id it really uses.
        let found = candidates.iter().find_map(|candidate| {
            results
                .iter()
                .find(|result| {
                    result.is_registered && result.jid.to_non_ad().user == candidate.user
                })
                .map(|result| to_contact_id(&result.jid))
        });
        Ok(NumberExists {
            number_exists: found.is_some(),
            chat_id: found.map(RString::from).into(),
        })
    }

    async fn about(&self, contact_id: String) -> Result<Option<String>, EngineError> {
        let jid = to_jid(&contact_id)?;
        let mut info = self
            .client
            .contacts()
            .get_user_info(std::slice::from_ref(&jid))
            .await
            .map_err(|err| protocol_error("fetching the about text", err))?;
        Ok(info.remove(&jid).and_then(|user| user.status))
    }

    async fn profile_picture(
        &self,
        contact_id: String,
        _refresh: bool,
    ) -> Result<Option<String>, EngineError> {
        let jid = to_jid(&contact_id)?;
        let picture = self
            .client
            .contacts()
            .get_profile_picture(&jid, false)
            .await
            .map_err(|err| protocol_error("fetching the profile picture", err))?;
        Ok(picture.map(|picture| picture.url))
    }

    async fn block(&self, contact_id: String) -> Result<(), EngineError> {
        let jid = to_jid(&contact_id)?;
        self.client
            .blocking()
            .block(&jid)
            .await
            .map_err(|err| protocol_error("blocking", err))?;
        lock(&self.book).set_blocked(&contact_id, phone_of(&jid).as_deref(), true);
        Ok(())
    }

    async fn unblock(&self, contact_id: String) -> Result<(), EngineError> {
        let jid = to_jid(&contact_id)?;
        self.client
            .blocking()
            .unblock(&jid)
            .await
            .map_err(|err| protocol_error("unblocking", err))?;
        lock(&self.book).set_blocked(&contact_id, phone_of(&jid).as_deref(), false);
        Ok(())
    }

    async fn upsert_contact(
        &self,
        contact_id: String,
        name: ContactName,
    ) -> Result<(), EngineError> {
        let jid = to_jid(&contact_id)?;
        if !jid.is_pn() {
            return Err(EngineError::invalid_input(format!(
                "contactId: {contact_id} is not a phone contact; only those can be saved"
            )));
        }
        let full_name = name.full_name();
        let first_name = name.first_name.to_string();
        self.client
            .chat_actions()
            .save_contact(
                &jid,
                Some(full_name.clone()),
                Some(first_name.clone()),
                true,
            )
            .await
            .map_err(|err| protocol_error("saving the contact", err))?;
        lock(&self.book).saved(
            &contact_id,
            phone_of(&jid).as_deref(),
            Some(&full_name),
            Some(&first_name),
        );
        Ok(())
    }

    async fn request_pairing_code(&self, phone: String) -> Result<String, EngineError> {
        let options = PairCodeOptions {
            phone_number: phone,
            ..Default::default()
        };
        self.client
            .pair_with_code(options)
            .await
            .map(|code| as_waha_shows(&code))
            .map_err(|err| protocol_error("requesting a pairing code", err))
    }

    async fn logout(&self) -> Result<(), EngineError> {
        self.client.logout().await;
        Ok(())
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
        self.saver.abort();
        if let Err(err) = lock(&self.book).save_if_changed() {
            self.host.error(&err.message);
        }
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

    fn status(event: Event) -> (SessionStatus, Option<String>) {
        status_change(&event).expect("the event changes the status")
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
    fn a_group_not_in_the_book_is_not_found_without_asking_the_network() {
        let err = person_to_look_up("120363000000000001@g.us").unwrap_err();
        assert_eq!(err.kind, wharf_engine_api::ErrorKind::NOT_FOUND);
        assert!(err.message.contains("is a group"), "{err}");
        assert_eq!(
            person_to_look_up("14155550100@c.us").unwrap().to_string(),
            "14155550100@s.whatsapp.net"
        );
    }

    #[test]
    fn pairing_codes_are_shown_in_two_halves_as_waha_shows_them() {
        assert_eq!(as_waha_shows("ABCD1234"), "ABCD-1234");
        assert_eq!(as_waha_shows("ABCD-1234"), "ABCD-1234");
        assert_eq!(as_waha_shows("ABC"), "ABC");
    }

    #[test]
    fn other_events_leave_the_status_alone() {
        let offline = whatsapp_rust::wacore::types::events::OfflineSyncCompleted::builder()
            .count(0)
            .build();
        assert_eq!(status_change(&Event::OfflineSyncCompleted(offline)), None);
    }
}
