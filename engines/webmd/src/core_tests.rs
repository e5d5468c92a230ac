//! The session's logic driven by real whatsapp-rust events over a fake
//! network: no WhatsApp, no sockets.

use std::{
    collections::HashMap,
    io::Write,
    sync::{Arc, Mutex},
};

use abi_stable::{
    sabi_trait::TD_Opaque,
    std_types::{RArc, ROption, RResult, RStr, RVec},
};
use tokio::sync::Semaphore;
use wharf_engine_api::{
    Contact, ContactChange, ContactName, EngineError, ErrorKind, HostServices, HostServices_TO,
    LogLevel, SessionContext, SessionStatus,
};
use whatsapp_rust::{
    BlocklistEntry, Jid,
    bytes::Bytes,
    chrono::DateTime,
    prelude::Event,
    wacore::types::{
        events::{
            BatchOrigin, ConnectFailure, ConnectFailureReason, Connected, ContactNumberChanged,
            ContactUpdate, InboundMessage, LazyHistorySync, LoggedOut, MessageBatch, PairError,
            PairingQrCodesExhausted, SelfPushNameUpdated,
        },
        message::{MessageInfo, MessageSource},
    },
    waproto::whatsapp as wa,
};

use super::*;
use crate::net::{Account, LidPn};

/// What the fake WhatsApp knows and what it was asked.
#[derive(Default)]
struct World {
    /// The crate's LID store: lid → phone number.
    store: HashMap<String, String>,
    /// What usync answers: phone number → lid, for numbers on WhatsApp.
    whatsapp: HashMap<String, String>,
    blocklist: Vec<Jid>,
    calls: Vec<String>,
    connected: bool,
}

#[derive(Clone, Default)]
struct Fake {
    world: Arc<Mutex<World>>,
    /// When set, the blocklist answer waits for a permit.
    gate: Option<Arc<Semaphore>>,
}

impl Fake {
    fn world(&self) -> std::sync::MutexGuard<'_, World> {
        self.world.lock().unwrap()
    }

    fn called(&self, call: &str) -> usize {
        self.world().calls.iter().filter(|c| *c == call).count()
    }
}

impl Network for Fake {
    async fn lid_pn(&self, jid: &Jid) -> Result<Option<LidPn>, NetError> {
        let world = self.world();
        Ok(if jid.is_lid() {
            world
                .store
                .get(jid.user.as_str())
                .map(|pn| (jid.user.to_string(), pn.clone()))
        } else {
            world
                .store
                .iter()
                .find(|(_, pn)| pn.as_str() == jid.user.as_str())
                .map(|(lid, pn)| (lid.clone(), pn.clone()))
        })
    }

    async fn all_lid_pns(&self) -> Result<Vec<LidPn>, NetError> {
        Ok(self.world().store.clone().into_iter().collect())
    }

    async fn learn_lid_pns(&self, pairs: Vec<LidPn>) {
        let mut world = self.world();
        for (lid, pn) in pairs {
            world.store.entry(lid).or_insert(pn);
        }
    }

    async fn is_on_whatsapp(&self, jids: &[Jid]) -> Result<Vec<Registration>, NetError> {
        let mut world = self.world();
        world.calls.push("usync".into());
        let mut answers = Vec::new();
        for jid in jids {
            let found = if jid.is_lid() {
                world
                    .whatsapp
                    .iter()
                    .find(|(_, lid)| lid.as_str() == jid.user.as_str())
                    .map(|(pn, lid)| (pn.clone(), lid.clone()))
            } else {
                world
                    .whatsapp
                    .get(jid.user.as_str())
                    .map(|lid| (jid.user.to_string(), lid.clone()))
            };
            // As the crate does: the answer's mapping goes to the store.
            if let Some((pn, lid)) = &found {
                world.store.insert(lid.clone(), pn.clone());
            }
            answers.push(Registration {
                jid: jid.clone(),
                lid: found.as_ref().map(|(_, lid)| Jid::lid(lid)),
                pn: found.as_ref().map(|(pn, _)| Jid::pn(pn)),
                registered: found.is_some(),
            });
        }
        Ok(answers)
    }

    async fn blocklist(&self) -> Result<Vec<BlocklistEntry>, NetError> {
        if let Some(gate) = &self.gate {
            let _permit = gate
                .acquire()
                .await
                .map_err(|err| NetError::Unavailable(format!("gate closed: {err}")))?;
        }
        Ok(self
            .world()
            .blocklist
            .iter()
            .map(|jid| BlocklistEntry {
                jid: jid.clone(),
                timestamp: None,
            })
            .collect())
    }

    async fn block(&self, jid: &Jid) -> Result<(), NetError> {
        // As the crate does: a block needs both ids.
        let Some((lid, _)) = self.lid_pn(jid).await? else {
            return Err(NetError::NoMapping("blocking: no LID↔PN mapping".into()));
        };
        let mut world = self.world();
        world.calls.push("block".into());
        world.blocklist.push(Jid::lid(&lid));
        Ok(())
    }

    async fn unblock(&self, jid: &Jid) -> Result<(), NetError> {
        let lid = if jid.is_lid() {
            jid.user.to_string()
        } else {
            match self.lid_pn(jid).await? {
                Some((lid, _)) => lid,
                None => return Err(NetError::NoMapping("unblocking: no mapping".into())),
            }
        };
        let mut world = self.world();
        world.calls.push("unblock".into());
        world.blocklist.retain(|jid| jid.user.as_str() != lid);
        Ok(())
    }

    async fn about(&self, _jid: &Jid) -> Result<Option<String>, NetError> {
        Ok(Some("hi".into()))
    }

    async fn profile_picture(&self, _jid: &Jid) -> Result<Option<String>, NetError> {
        self.world().calls.push("picture".into());
        Ok(Some("https://pps.whatsapp.net/p.jpg".into()))
    }

    async fn save_contact(&self, pn: &Jid, full: String, _first: String) -> Result<(), NetError> {
        self.world().calls.push(format!("save {} {full}", pn.user));
        Ok(())
    }

    async fn pair_code(&self, _phone: String) -> Result<String, NetError> {
        Ok("ABCDEFGH".into())
    }

    fn is_connected(&self) -> bool {
        self.world().connected
    }

    async fn logout(&self) {
        self.world().calls.push("logout".into());
    }

    fn account(&self) -> Account {
        Account {
            pn: Some(Jid::pn("14155550199")),
            lid: Some(Jid::lid("199")),
            push_name: "Me".into(),
        }
    }

    async fn set_unavailable(&self) -> Result<(), NetError> {
        self.world().calls.push("unavailable".into());
        Ok(())
    }
}

type StatusReport = (SessionStatus, Option<String>);

/// A host that records the statuses, log lines and contact changes it is
/// told.
#[derive(Clone, Default)]
struct Recorder {
    statuses: Arc<Mutex<Vec<StatusReport>>>,
    logs: Arc<Mutex<Vec<String>>>,
    contacts: Arc<Mutex<Vec<(ContactChange, Contact)>>>,
}

impl HostServices for Recorder {
    fn log(&self, _level: LogLevel, message: RStr<'_>) {
        self.logs.lock().unwrap().push(message.to_string());
    }
    fn status(&self, status: SessionStatus, reason: ROption<RStr<'_>>) {
        self.statuses
            .lock()
            .unwrap()
            .push((status, reason.map(|r| r.to_string()).into_option()));
    }
    fn qr(&self, _value: RStr<'_>) {}
    fn account(&self, _id: RStr<'_>, _push_name: ROption<RStr<'_>>) {}
    fn read_config_file(&self, _f: RStr<'_>, _n: RStr<'_>) -> RResult<RVec<u8>, EngineError> {
        RResult::RErr(EngineError::unsupported("no files"))
    }
    fn contact_changed(&self, change: ContactChange, contact: &Contact) {
        self.contacts
            .lock()
            .unwrap()
            .push((change, contact.clone()));
    }
}

impl Recorder {
    fn last(&self) -> Option<StatusReport> {
        self.statuses.lock().unwrap().last().cloned()
    }

    /// The contact changes told since the last call, each with the id of
    /// the contact it is about.
    fn changes(&self) -> Vec<(ContactChange, String)> {
        let told = std::mem::take(&mut *self.contacts.lock().unwrap());
        (told.into_iter())
            .map(|(change, contact)| (change, contact.id.to_string()))
            .collect()
    }
}

fn host(recorder: &Recorder) -> Host {
    SessionContext {
        session: "test".into(),
        config: "{}".into(),
        data_dir: "".into(),
        host: HostServices_TO::from_ptr(RArc::new(recorder.clone()), TD_Opaque),
    }
    .host()
}

struct Rig {
    dir: tempfile::TempDir,
    fake: Fake,
    recorder: Recorder,
    core: Core<Fake>,
}

fn rig_with(fake: Fake, mark_online: bool) -> Rig {
    let dir = tempfile::tempdir().unwrap();
    let recorder = Recorder::default();
    let book = Book::load(dir.path()).unwrap();
    let core = Core::new(fake.clone(), host(&recorder), book, mark_online);
    Rig {
        dir,
        fake,
        recorder,
        core,
    }
}

fn rig() -> Rig {
    rig_with(Fake::default(), false)
}

fn epoch() -> DateTime<whatsapp_rust::chrono::Utc> {
    DateTime::UNIX_EPOCH
}

fn contact_action(jid: Jid, full_name: &str, lid: Option<&str>, pn: Option<&str>) -> Event {
    let action = wa::sync_action_value::ContactAction {
        full_name: Some(full_name.into()),
        first_name: full_name.split(' ').next().map(str::to_owned),
        lid_jid: lid.map(str::to_owned),
        pn_jid: pn.map(str::to_owned),
        ..Default::default()
    };
    Event::ContactUpdate(
        ContactUpdate::builder()
            .jid(jid)
            .timestamp(epoch())
            .action(Box::new(action))
            .from_full_sync(true)
            .build(),
    )
}

fn message_from(sender: Jid, alt: Option<Jid>, push_name: &str) -> Event {
    let info = MessageInfo {
        source: MessageSource {
            chat: sender.clone(),
            sender,
            sender_alt: alt,
            ..Default::default()
        },
        push_name: push_name.into(),
        ..Default::default()
    };
    let message = InboundMessage::builder()
        .message(Arc::new(wa::Message::default()))
        .info(Arc::new(info))
        .build();
    Event::Messages(
        MessageBatch::builder()
            .messages(Arc::from(vec![message]))
            .origin(BatchOrigin::Live)
            .hook_committed(false)
            .build(),
    )
}

fn history(sync: wa::HistorySync) -> Event {
    let raw = whatsapp_rust::waproto::codec::history_sync_to_vec(&sync);
    let mut zlib = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
    zlib.write_all(&raw).unwrap();
    let compressed = zlib.finish().unwrap();
    Event::HistorySync(Box::new(LazyHistorySync::new(
        Bytes::from(compressed),
        raw.len(),
        wa::history_sync::HistorySyncType::PUSH_NAME as i32,
        None,
        None,
    )))
}

fn ids(core: &Core<Fake>) -> Vec<String> {
    (core.page(&ListQuery::default()).into_iter())
        .map(|c| c.id.to_string())
        .collect()
}

#[tokio::test]
async fn a_blocklist_keyed_by_lid_blocks_the_phone_contact_across_reconnects() {
    let rig = rig();
    {
        let mut world = rig.fake.world();
        world.store.insert("900".into(), "14155550100".into());
        world.blocklist.push(Jid::lid("900"));
    }
    rig.core
        .handle_event(&contact_action(
            Jid::pn("14155550100"),
            "Ada Lovelace",
            None,
            None,
        ))
        .await;
    for _ in 0..2 {
        rig.core
            .handle_event(&Event::Connected(Connected::builder().build()))
            .await;
        let ada = rig.core.get("14155550100@c.us").await.unwrap();
        assert!(ada.is_blocked, "{ada:?}");
        assert_eq!(ada.lid.clone().into_option().unwrap(), "900@lid");
        assert_eq!(rig.core.get("900@lid").await.unwrap(), ada);
    }
    assert_eq!(
        ids(&rig.core),
        ["14155550100@c.us", "14155550199@c.us"],
        "one person, one contact"
    );
}

#[tokio::test]
async fn contact_action_hints_feed_the_lid_store_and_make_one_contact() {
    let rig = rig();
    rig.core
        .handle_event(&message_from(Jid::lid("900"), None, "Ada L."))
        .await;
    assert_eq!(ids(&rig.core), ["900@lid"], "known only by LID, for now");
    rig.core
        .handle_event(&contact_action(
            Jid::pn("14155550100"),
            "Ada Lovelace",
            Some("900@lid"),
            None,
        ))
        .await;
    assert_eq!(ids(&rig.core), ["14155550100@c.us"]);
    let ada = rig.core.get("900@lid").await.unwrap();
    assert_eq!(ada.name.into_option().unwrap(), "Ada Lovelace");
    assert_eq!(ada.pushname.into_option().unwrap(), "Ada L.");
    assert_eq!(
        rig.fake.world().store.get("900").map(String::as_str),
        Some("14155550100")
    );
}

#[tokio::test]
async fn history_sync_hints_inline_contacts_and_push_names_resolve_to_one_person() {
    let rig = rig();
    let sync = wa::HistorySync {
        conversations: vec![wa::Conversation {
            id: "900@lid".into(),
            pn_jid: Some("14155550100@s.whatsapp.net".into()),
            ..Default::default()
        }],
        inline_contacts: vec![wa::InlineContact {
            pn_jid: Some("14155550101@s.whatsapp.net".into()),
            lid_jid: Some("901@lid".into()),
            full_name: Some("Grace Hopper".into()),
            first_name: Some("Grace".into()),
            ..Default::default()
        }],
        pushnames: vec![
            wa::Pushname {
                id: Some("900@lid".into()),
                pushname: Some("Ada L.".into()),
            },
            wa::Pushname {
                id: Some("901@lid".into()),
                pushname: Some("Amazing Grace".into()),
            },
        ],
        ..Default::default()
    };
    rig.core.handle_event(&history(sync)).await;
    assert_eq!(ids(&rig.core), ["14155550100@c.us", "14155550101@c.us"]);
    let grace = rig.core.get("901@lid").await.unwrap();
    assert_eq!(grace.name.into_option().unwrap(), "Grace Hopper");
    assert_eq!(grace.pushname.into_option().unwrap(), "Amazing Grace");
    assert_eq!(
        rig.core
            .get("14155550100@c.us")
            .await
            .unwrap()
            .pushname
            .into_option()
            .unwrap(),
        "Ada L."
    );
    assert_eq!(rig.core.count_lids().await.unwrap(), 2);
}

#[tokio::test]
async fn push_names_follow_messages_the_own_name_and_number_changes() {
    let rig = rig();
    rig.core
        .handle_event(&message_from(
            Jid::lid("900"),
            Some(Jid::pn("14155550100")),
            "Ada",
        ))
        .await;
    rig.core
        .handle_event(&message_from(Jid::pn("14155550100"), None, "Ada L."))
        .await;
    assert_eq!(ids(&rig.core), ["14155550100@c.us"]);
    assert_eq!(
        rig.core
            .get("900@lid")
            .await
            .unwrap()
            .pushname
            .into_option()
            .unwrap(),
        "Ada L."
    );

    rig.core
        .handle_event(&Event::SelfPushNameUpdated(
            SelfPushNameUpdated::builder()
                .from_server(true)
                .old_name("Me".into())
                .new_name("Me Again".into())
                .build(),
        ))
        .await;
    let me = rig.core.get("14155550199@c.us").await.unwrap();
    assert!(me.is_me);
    assert_eq!(me.pushname.into_option().unwrap(), "Me Again");

    rig.core
        .handle_event(&Event::ContactNumberChanged(
            ContactNumberChanged::builder()
                .old_jid(Jid::pn("14155550100"))
                .new_jid(Jid::pn("14155550111"))
                .new_lid(Jid::lid("900"))
                .timestamp(epoch())
                .build(),
        ))
        .await;
    let ada = rig.core.get("900@lid").await.unwrap();
    assert_eq!(ada.id, "14155550111@c.us");
    assert_eq!(ada.pushname.into_option().unwrap(), "Ada L.");
    assert_eq!(ids(&rig.core), ["14155550111@c.us", "14155550199@c.us"]);
}

#[tokio::test]
async fn each_contact_change_is_told_once_with_the_contact_after_it() {
    let rig = rig();
    let said = |change: ContactChange, id: &str| (change, id.to_owned());
    let (ada, ada_lid) = ("14155550100@c.us", "900@lid");
    for _ in 0..2 {
        rig.core
            .handle_event(&message_from(Jid::lid("900"), None, "Ada L."))
            .await;
    }
    assert_eq!(
        rig.recorder.changes(),
        [said(ContactChange::ADDED, ada_lid)],
        "a push name seen again is no change"
    );

    rig.core
        .handle_event(&contact_action(
            Jid::pn("14155550100"),
            "Ada Lovelace",
            Some("900@lid"),
            None,
        ))
        .await;
    assert_eq!(
        rig.recorder.changes(),
        [
            said(ContactChange::RENAMED, ada),
            said(ContactChange::LID, ada)
        ],
        "the LID-only person became the number's contact, and was saved"
    );
    rig.fake.world().blocklist.push(Jid::lid("900"));
    rig.core
        .handle_event(&Event::Connected(Connected::builder().build()))
        .await;
    assert_eq!(
        rig.recorder.changes(),
        [
            said(ContactChange::ADDED, "14155550199@c.us"),
            said(ContactChange::BLOCKED, ada)
        ],
        "the account's own contact, and the blocklist keyed by LID"
    );
    rig.core
        .handle_event(&Event::Connected(Connected::builder().build()))
        .await;
    assert_eq!(rig.recorder.changes(), [], "a reconnect changes nothing");

    rig.core.set_blocked(ada_lid, false).await.unwrap();
    let name = ContactName {
        first_name: "Augusta".into(),
        last_name: "King".into(),
    };
    rig.core.upsert(ada, name).await.unwrap();
    rig.core
        .handle_event(&message_from(Jid::pn("14155550100"), None, "Ada K."))
        .await;
    let last = rig.recorder.contacts.lock().unwrap().last().cloned();
    assert_eq!(
        rig.recorder.changes(),
        [
            said(ContactChange::UNBLOCKED, ada),
            said(ContactChange::RENAMED, ada),
            said(ContactChange::PUSH_NAME, ada)
        ]
    );
    let (_, contact) = last.unwrap();
    assert_eq!(contact, rig.core.get(ada).await.unwrap());
    assert_eq!(contact.name.into_option().unwrap(), "Augusta King");
    assert_eq!(contact.pushname.into_option().unwrap(), "Ada K.");
    assert_eq!(contact.lid.into_option().unwrap(), ada_lid);
}

#[tokio::test]
async fn blocking_a_number_the_crate_never_saw_looks_it_up_then_blocks() {
    let rig = rig();
    rig.fake
        .world()
        .whatsapp
        .insert("14155550100".into(), "900".into());
    rig.core
        .set_blocked("14155550100@c.us", true)
        .await
        .unwrap();
    assert_eq!(rig.fake.called("usync"), 1);
    assert_eq!(rig.fake.called("block"), 1);
    let ada = rig.core.get("900@lid").await.unwrap();
    assert!(ada.is_blocked && ada.id == "14155550100@c.us", "{ada:?}");

    rig.core.set_blocked("900@lid", false).await.unwrap();
    assert!(!rig.core.get("14155550100@c.us").await.unwrap().is_blocked);

    let err = rig
        .core
        .set_blocked("14155550177@c.us", true)
        .await
        .unwrap_err();
    assert_eq!(err.kind, ErrorKind::NOT_FOUND, "{err}");
    assert!(err.message.contains("not on WhatsApp"), "{err}");
}

#[tokio::test]
async fn acknowledged_writes_are_on_disk_when_the_call_returns() {
    let rig = rig();
    rig.fake
        .world()
        .whatsapp
        .insert("14155550100".into(), "900".into());
    rig.core
        .set_blocked("14155550100@c.us", true)
        .await
        .unwrap();
    rig.core
        .upsert(
            "900@lid",
            ContactName {
                first_name: "Ada".into(),
                last_name: "Lovelace".into(),
            },
        )
        .await
        .unwrap();
    assert_eq!(rig.fake.called("save 14155550100 Ada Lovelace"), 1);
    let saved = Book::load(rig.dir.path()).unwrap();
    let ada = saved.get("14155550100@c.us").unwrap();
    assert!(ada.is_blocked && ada.is_my_contact, "{ada:?}");
}

#[tokio::test]
async fn the_session_stays_offline_unless_the_config_asks() {
    let rig = rig();
    rig.core
        .handle_event(&Event::Connected(Connected::builder().build()))
        .await;
    assert_eq!(rig.fake.called("unavailable"), 1);
    let online = rig_with(Fake::default(), true);
    online
        .core
        .handle_event(&Event::Connected(Connected::builder().build()))
        .await;
    assert_eq!(online.fake.called("unavailable"), 0);
}

#[tokio::test]
async fn failures_tell_the_truth_in_the_status() {
    let rig = rig();
    rig.core
        .handle_event(&Event::ConnectFailure(
            ConnectFailure::builder()
                .reason(ConnectFailureReason::ServiceUnavailable)
                .message("try later".into())
                .build(),
        ))
        .await;
    let (status, reason) = rig.recorder.last().unwrap();
    assert_eq!(status, SessionStatus::FAILED);
    assert!(reason.unwrap().contains("try later"));

    rig.core
        .handle_event(&Event::PairError(
            PairError::builder()
                .id(Jid::pn("1"))
                .lid(Jid::lid("2"))
                .business_name(String::new())
                .platform(String::new())
                .error("key mismatch".into())
                .build(),
        ))
        .await;
    let (status, reason) = rig.recorder.last().unwrap();
    assert_eq!(status, SessionStatus::FAILED);
    assert!(reason.unwrap().contains("key mismatch"));

    let before = rig.recorder.statuses.lock().unwrap().len();
    rig.core
        .handle_event(&Event::PairingQrCodesExhausted(
            PairingQrCodesExhausted::builder()
                .disconnected(false)
                .build(),
        ))
        .await;
    assert_eq!(
        rig.recorder.statuses.lock().unwrap().len(),
        before,
        "still up for a pairing code"
    );
}

#[tokio::test]
async fn a_logout_without_a_connection_says_so_and_is_not_blamed_on_whatsapp() {
    let rig = rig();
    let err = rig.core.logout().await.unwrap_err();
    assert_eq!(err.kind, ErrorKind::UNAVAILABLE);
    assert!(err.message.contains("not connected"), "{err}");
    assert_eq!(rig.fake.called("logout"), 1);
    let before = rig.recorder.statuses.lock().unwrap().len();
    rig.core
        .handle_event(&Event::LoggedOut(
            LoggedOut::builder()
                .on_connect(false)
                .reason(ConnectFailureReason::LoggedOut)
                .build(),
        ))
        .await;
    assert_eq!(rig.recorder.statuses.lock().unwrap().len(), before);

    let connected = rig_with(Fake::default(), false);
    connected.fake.world().connected = true;
    connected.core.logout().await.unwrap();
}

#[tokio::test]
async fn lid_routes_answer_from_the_store_and_ask_usync_for_an_unmapped_number() {
    let rig = rig();
    {
        let mut world = rig.fake.world();
        world.store.insert("900".into(), "14155550100".into());
        world.whatsapp.insert("14155550101".into(), "901".into());
    }
    assert_eq!(
        rig.core.find_pn_by_lid("900@lid").await.unwrap(),
        LidMapping::new("900@lid", Some("14155550100@c.us"))
    );
    assert_eq!(
        rig.core.find_pn_by_lid("999@lid").await.unwrap(),
        LidMapping::new("999@lid", None::<String>)
    );
    assert_eq!(
        rig.fake.called("usync"),
        0,
        "a LID is answered from the store"
    );
    assert_eq!(
        rig.core.find_lid_by_pn("14155550101").await.unwrap(),
        LidMapping::new("901@lid", Some("14155550101@c.us"))
    );
    assert_eq!(
        rig.core.find_lid_by_pn("14155550177").await.unwrap(),
        LidMapping::unknown_lid("14155550177@c.us")
    );
    assert_eq!(rig.core.count_lids().await.unwrap(), 2);
    assert_eq!(
        rig.core.list_lids(1, 10).await.unwrap(),
        [LidMapping::new("901@lid", Some("14155550101@c.us"))]
    );
}

#[tokio::test]
async fn every_profile_picture_request_asks_whatsapp() {
    let rig = rig();
    for _ in 0..2 {
        rig.core.profile_picture("14155550100@c.us").await.unwrap();
    }
    assert_eq!(rig.fake.called("picture"), 2);
}

#[tokio::test]
async fn pairing_codes_are_shown_as_waha_shows_them() {
    assert_eq!(
        rig().core.pairing_code("14155550100".into()).await.unwrap(),
        "ABCD-EFGH"
    );
}

#[tokio::test]
async fn close_waits_for_handlers_in_flight_then_saves() {
    let gate = Arc::new(Semaphore::new(0));
    let fake = Fake {
        gate: Some(Arc::clone(&gate)),
        ..Fake::default()
    };
    fake.world().blocklist.push(Jid::pn("14155550100"));
    let rig = Arc::new(rig_with(fake, false));
    let handler = tokio::spawn({
        let rig = Arc::clone(&rig);
        async move {
            let _running = rig.core.handlers.enter().unwrap();
            rig.core
                .handle_event(&Event::Connected(Connected::builder().build()))
                .await;
        }
    });
    // In flight: it marked the session offline and now waits for the blocklist.
    while rig.fake.called("unavailable") == 0 {
        tokio::task::yield_now().await;
    }
    let close = tokio::spawn({
        let rig = Arc::clone(&rig);
        async move { rig.core.close().await }
    });
    for _ in 0..100 {
        tokio::task::yield_now().await;
    }
    assert!(!close.is_finished(), "close waits for the handler");
    gate.add_permits(1);
    close.await.unwrap();
    handler.await.unwrap();
    assert!(
        rig.core.handlers.enter().is_none(),
        "no handler runs after close"
    );
    let saved = Book::load(rig.dir.path()).unwrap();
    assert!(saved.get("14155550100@c.us").unwrap().is_blocked);
}

/// The child half of [`acknowledged_writes_survive_kill_9`], which runs
/// it: an upsert, a block and a block then unblock through the session's
/// code path, then it says so and waits to be killed.
#[tokio::test]
#[ignore = "run by acknowledged_writes_survive_kill_9, in a process it kills"]
async fn kill_child_writes_and_waits() {
    let dir = std::env::var("WEBMD_KILL_DIR").expect("WEBMD_KILL_DIR names the book's directory");
    let fake = Fake::default();
    for (pn, lid) in [
        ("14155550100", "900"),
        ("14155550101", "901"),
        ("14155550102", "902"),
    ] {
        fake.world().whatsapp.insert(pn.into(), lid.into());
    }
    let recorder = Recorder::default();
    let core = Core::new(
        fake,
        host(&recorder),
        Book::load(std::path::Path::new(&dir)).unwrap(),
        false,
    );
    let name = ContactName {
        first_name: "Grace".into(),
        last_name: "Hopper".into(),
    };
    core.upsert("14155550101@c.us", name).await.unwrap();
    core.set_blocked("14155550100@c.us", true).await.unwrap();
    core.set_blocked("14155550102@c.us", true).await.unwrap();
    core.set_blocked("14155550102@c.us", false).await.unwrap();
    println!("ACKNOWLEDGED");
    std::io::stdout().flush().unwrap();
    std::future::pending::<()>().await;
}

#[test]
fn acknowledged_writes_survive_kill_9() {
    use std::io::{BufRead, BufReader};
    let dir = tempfile::tempdir().unwrap();
    let mut child = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "core::tests::kill_child_writes_and_waits",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env("WEBMD_KILL_DIR", dir.path())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let acknowledged = BufReader::new(stdout)
        .lines()
        .map_while(Result::ok)
        .any(|line| line.contains("ACKNOWLEDGED"));
    // SIGKILL: no destructor, no flush, no close.
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(acknowledged, "the child acknowledged its writes");
    let book = Book::load(dir.path()).unwrap();
    assert!(book.get("900@lid").unwrap().is_blocked);
    let grace = book.get("14155550101@c.us").unwrap();
    assert_eq!(grace.name.into_option().unwrap(), "Grace Hopper");
    assert!(!book.get("14155550102@c.us").unwrap().is_blocked);
}

#[test]
fn a_group_not_in_the_book_is_not_found_without_asking_the_network() {
    let err = person_to_look_up("120363000000000001@g.us").unwrap_err();
    assert_eq!(err.kind, ErrorKind::NOT_FOUND);
    assert!(err.message.contains("is a group"), "{err}");
}

#[tokio::test]
async fn the_crates_warnings_reach_the_host_under_the_session_name_without_secrets() {
    use whatsapp_rust::wacore::runtime::Runtime;

    let recorder = Recorder::default();
    let runtime = crate::logging::ScopedRuntime::new(crate::logging::SessionLogs::new(
        "sales",
        host(&recorder),
    ));
    let (done, finished) = tokio::sync::oneshot::channel();
    runtime.spawn_detached(Box::pin(async move {
        log::warn!("Failed to send presence: token Zm9vYmFyYmF6cXV4MTIzNDU2Nzg5MA");
        log::debug!("too fine to forward");
        let _ = done.send(());
    }));
    finished.await.unwrap();
    let logs = recorder.logs.lock().unwrap().clone();
    assert_eq!(logs.len(), 1, "{logs:?}");
    assert!(logs[0].contains("sales") && logs[0].contains("Failed to send presence"));
    assert!(!logs[0].contains("Zm9vYmFy"), "{logs:?}");
}

#[tokio::test]
async fn a_connect_failure_the_crate_only_logs_fails_the_session_unless_the_transport_said_more() {
    use whatsapp_rust::wacore::runtime::Runtime;

    let recorder = Recorder::default();
    let logs = crate::logging::SessionLogs::new("sales", host(&recorder));
    let runtime = crate::logging::ScopedRuntime::new(logs.clone());
    let log_connect_failure = |why: &'static str| {
        let (done, finished) = tokio::sync::oneshot::channel();
        runtime.spawn_detached(Box::pin(async move {
            log::error!("Failed to connect: {why}. Will retry...");
            let _ = done.send(());
        }));
        finished
    };

    log_connect_failure("noise handshake failed: bad server hello")
        .await
        .unwrap();
    let (status, reason) = recorder.last().unwrap();
    assert_eq!(status, SessionStatus::FAILED);
    assert_eq!(
        reason.as_deref(),
        Some(
            "cannot connect to WhatsApp: noise handshake failed: bad server hello; retrying with backoff"
        )
    );

    let transport =
        "cannot connect to ws://127.0.0.1:9/ws/chat: connection refused; retrying with backoff";
    logs.transport_failed(transport);
    log_connect_failure("failed to resolve app version")
        .await
        .unwrap();
    assert_eq!(recorder.last().unwrap().1.as_deref(), Some(transport));

    logs.transport_opened();
    log_connect_failure("failed to resolve app version")
        .await
        .unwrap();
    let (_, reason) = recorder.last().unwrap();
    assert!(reason.unwrap().contains("failed to resolve app version"));
}
