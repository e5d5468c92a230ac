//! The session's logic, over any [`Network`]: what each protocol event
//! means for the contact book, the LID map and the status, and each
//! operation of the contract. `lib.rs` runs it over the whatsapp-rust
//! client; the tests here run it over a fake, with real whatsapp-rust
//! events.

use std::{
    path::PathBuf,
    sync::{
        Mutex, MutexGuard, PoisonError,
        atomic::{AtomicBool, Ordering},
    },
    time::Duration,
};

use tokio::sync::Notify;
use wharf_engine_api::{
    Contact, ContactName, EngineError, Host, LidMapping, ListQuery, NumberExists, RString,
    SessionStatus, support::whatsapp_variants,
};
use whatsapp_rust::{Jid, prelude::Event};

use crate::{
    jid::{to_contact_id, to_jid},
    net::{NetError, Network, Registration},
    people::{Book, Person, lid_id, pn_id},
};

/// How long the book waits after a change before it is written, so that a
/// sync burst of thousands of changes is one write, not thousands.
const SAVE_DEBOUNCE: Duration = Duration::from_millis(500);

fn lock(book: &Mutex<Book>) -> MutexGuard<'_, Book> {
    book.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The event handlers running now, so that `close` can wait for them
/// before the last save.
#[derive(Default)]
pub(crate) struct InFlight {
    state: Mutex<(usize, bool)>,
    idle: Notify,
}

pub(crate) struct InFlightGuard<'a>(&'a InFlight);

impl InFlight {
    /// Counts a handler in; `None` once closing, when events are dropped.
    pub(crate) fn enter(&self) -> Option<InFlightGuard<'_>> {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        if state.1 {
            return None;
        }
        state.0 += 1;
        Some(InFlightGuard(self))
    }

    /// Refuses new handlers and waits for the running ones.
    pub(crate) async fn close(&self) {
        loop {
            // Created before the check: `notify_waiters` reaches it from then on.
            let idle = self.idle.notified();
            {
                let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
                state.1 = true;
                if state.0 == 0 {
                    return;
                }
            }
            idle.await;
        }
    }
}

impl Drop for InFlightGuard<'_> {
    fn drop(&mut self) {
        let mut state = self.0.state.lock().unwrap_or_else(PoisonError::into_inner);
        state.0 -= 1;
        if state.0 == 0 {
            self.0.idle.notify_waiters();
        }
    }
}

/// One session's state and logic.
pub(crate) struct Core<N> {
    pub net: N,
    host: Host,
    book: Mutex<Book>,
    dir: PathBuf,
    mark_online: bool,
    /// The generation of the book last written; held while writing, so
    /// writes happen one at a time and never go back in time.
    written: tokio::sync::Mutex<u64>,
    changed: Notify,
    pub handlers: InFlight,
    /// Set by our own logout, whose `LoggedOut` event is not WhatsApp's doing.
    logging_out: AtomicBool,
}

/// The status an event moves the session to, and why. `our_logout` says
/// whether a logout is the one this session asked for.
pub(crate) fn status_change(
    event: &Event,
    our_logout: bool,
) -> Option<(SessionStatus, Option<String>)> {
    let failed = |reason: String| Some((SessionStatus::FAILED, Some(reason)));
    match event {
        Event::PairingQrCode(_) => Some((SessionStatus::SCAN_QR_CODE, None)),
        Event::PairSuccess(_) => Some((SessionStatus::STARTING, Some("paired; connecting".into()))),
        Event::PairError(error) => failed(format!(
            "pairing failed: {}; restart the session to pair again",
            error.error
        )),
        Event::PairingCodeError(error) if error.rejection.is_some() => failed(format!(
            "WhatsApp refused the pairing code: {}; request a new code",
            error.error
        )),
        Event::Connected(_) => Some((SessionStatus::WORKING, None)),
        Event::Disconnected(disconnected) => Some((
            SessionStatus::STARTING,
            Some(format!(
                "disconnected ({}); reconnecting",
                disconnected.reason
            )),
        )),
        Event::LoggedOut(_) if our_logout => None,
        Event::LoggedOut(logged_out) => {
            let said = logged_out
                .logout_message
                .as_ref()
                .and_then(|message| message.header.clone().or(message.subtext.clone()))
                .map(|text| format!(": {text}"))
                .unwrap_or_default();
            failed(format!(
                "logged out by WhatsApp ({:?}){said}; log out the session and pair it again",
                logged_out.reason
            ))
        }
        Event::ConnectFailure(failure) => failed(format!(
            "WhatsApp refused the connection ({:?}){}",
            failure.reason,
            failure
                .message
                .as_deref()
                .map(|message| format!(": {message}"))
                .unwrap_or_default()
        )),
        Event::StreamReplaced(_) => {
            failed("another client connected with these credentials and replaced this one".into())
        }
        Event::TemporaryBan(ban) => failed(format!(
            "WhatsApp banned this account temporarily ({:?}, {} s){}",
            ban.code,
            ban.expire.num_seconds(),
            ban.message
                .as_deref()
                .map(|message| format!(": {message}"))
                .unwrap_or_default()
        )),
        Event::ClientOutdated(_) => {
            failed("WhatsApp says this client version is outdated; update the webmd engine".into())
        }
        // Without `disconnected` the socket stays up for an outstanding
        // pairing code, which may still be typed on the phone.
        Event::PairingQrCodesExhausted(exhausted) if exhausted.disconnected => {
            failed("no QR code was scanned in time; restart the session to pair".into())
        }
        _ => None,
    }
}

/// The JID to ask WhatsApp about for a contact the book does not have.
/// Only people can be looked up: the book holds no groups, and asking the
/// network about a group id fails, which is not the REST user's problem
/// but an unknown contact (404).
pub(crate) fn person_to_look_up(contact_id: &str) -> Result<Jid, EngineError> {
    if contact_id.ends_with("@g.us") {
        return Err(EngineError::not_found(format!(
            "{contact_id} is a group, and groups are not in the contact book"
        )));
    }
    to_jid(contact_id)
}

/// A pairing code as WAHA shows it and the phone asks for it: the crate
/// gives eight characters, `ABCDEFGH`, WAHA `ABCD-EFGH`.
pub(crate) fn as_waha_shows(code: &str) -> String {
    match code.len() {
        8 if code.is_ascii() => format!("{}-{}", &code[..4], &code[4..]),
        _ => code.to_owned(),
    }
}

fn engine_error(err: NetError) -> EngineError {
    match err {
        NetError::Invalid(message) => EngineError::invalid_input(message),
        NetError::NotFound(message) => EngineError::not_found(message),
        NetError::NoMapping(message) => EngineError::not_found(format!(
            "{message}; WhatsApp has not said which LID this number has"
        )),
        NetError::Unavailable(message) => EngineError::unavailable(message),
    }
}

/// The ids a JID gives directly, before asking the LID store.
fn person_of(jid: &Jid) -> Person {
    let jid = jid.to_non_ad();
    Person {
        pn: jid.is_pn().then(|| jid.user.to_string()),
        lid: jid.is_lid().then(|| jid.user.to_string()),
    }
}

/// `a` completed with what `b` knows.
fn union(mut a: Person, b: Person) -> Person {
    a.pn = a.pn.or(b.pn);
    a.lid = a.lid.or(b.lid);
    a
}

fn parse_jid(text: Option<&str>) -> Option<Jid> {
    text.and_then(|text| text.parse::<Jid>().ok())
}

/// What a history sync chunk tells about people.
#[derive(Default)]
struct HistoryFacts {
    push_names: Vec<(Jid, String)>,
    /// (lid, phone number) pairs from `pnJid`/`lidJid` and inline contacts.
    pairs: Vec<(String, String)>,
    saved: Vec<(Person, Option<String>, Option<String>)>,
}

/// The people facts of a history sync chunk (decoding is CPU work: run it
/// off the async workers).
fn history_facts(event: &Event) -> HistoryFacts {
    let mut facts = HistoryFacts::default();
    let Event::HistorySync(sync) = event else {
        return facts;
    };
    let Some(history) = sync.get() else {
        return facts;
    };
    let mut pair = |a: Option<Jid>, b: Option<Jid>| {
        let person = union(
            a.as_ref().map(person_of).unwrap_or_default(),
            b.as_ref().map(person_of).unwrap_or_default(),
        );
        if let (Some(pn), Some(lid)) = (&person.pn, &person.lid) {
            facts.pairs.push((lid.clone(), pn.clone()));
        }
        person
    };
    for conversation in &history.conversations {
        let id = conversation.id.parse::<Jid>().ok();
        let hint = parse_jid(conversation.pn_jid.as_deref())
            .or_else(|| parse_jid(conversation.lid_jid.as_deref()));
        pair(id, hint);
    }
    let mut saved = Vec::new();
    for contact in &history.inline_contacts {
        let person = pair(
            parse_jid(contact.pn_jid.as_deref()),
            parse_jid(contact.lid_jid.as_deref()),
        );
        if contact.full_name.is_some() || contact.first_name.is_some() {
            saved.push((
                person,
                contact.full_name.clone(),
                contact.first_name.clone(),
            ));
        }
    }
    facts.saved = saved;
    facts.push_names = history
        .pushnames
        .iter()
        .filter_map(|entry| {
            let jid: Jid = entry.id.as_deref()?.parse().ok()?;
            let name = entry.pushname.clone().filter(|name| !name.is_empty())?;
            Some((jid, name))
        })
        .collect();
    facts
}

impl<N: Network> Core<N> {
    pub(crate) fn new(net: N, host: Host, book: Book, mark_online: bool) -> Self {
        Self {
            net,
            host,
            dir: book.dir().to_owned(),
            book: Mutex::new(book),
            mark_online,
            written: tokio::sync::Mutex::new(0),
            changed: Notify::new(),
            handlers: InFlight::default(),
            logging_out: AtomicBool::new(false),
        }
    }

    /// Writes the book if it changed since the last write, off the async
    /// workers. Returns once the write is on disk (in the page cache: a
    /// killed process loses nothing written).
    pub(crate) async fn save(&self) -> Result<(), EngineError> {
        let mut written = self.written.lock().await;
        let snapshot = {
            let book = lock(&self.book);
            if book.generation() == *written {
                return Ok(());
            }
            book.snapshot()?
        };
        let dir = self.dir.clone();
        let generation = snapshot.generation;
        tokio::task::spawn_blocking(move || Book::write(&dir, &snapshot))
            .await
            .map_err(|err| EngineError::internal(format!("saving the contact book: {err}")))??;
        *written = generation;
        Ok(())
    }

    /// Writes the book a moment after each burst of changes from events.
    pub(crate) async fn save_after_changes(&self) {
        loop {
            self.changed.notified().await;
            tokio::time::sleep(SAVE_DEBOUNCE).await;
            if let Err(err) = self.save().await {
                self.host.error(&err.message);
            }
        }
    }

    /// Waits for the event handlers in flight, then writes the book.
    pub(crate) async fn close(&self) {
        self.handlers.close().await;
        if let Err(err) = self.save().await {
            self.host.error(&err.message);
        }
    }

    fn book(&self) -> MutexGuard<'_, Book> {
        lock(&self.book)
    }

    /// Tells the host what changed about contacts since it was last told,
    /// outside the book's lock.
    fn tell_changes(&self) {
        let changes = self.book().take_changes();
        for (change, contact) in &changes {
            self.host.contact_changed(*change, contact);
        }
    }

    /// Logs a change the book refused (it refuses none but a text over
    /// 4 GiB or a four-billionth person), so that an event's other facts
    /// still count.
    fn noted(&self, outcome: Result<(), EngineError>) {
        if let Err(err) = outcome {
            self.host.warn(&format!(
                "the contact book refused a change: {}",
                err.message
            ));
        }
    }

    /// The person `jid` names, with their other id from the LID store.
    async fn resolve(&self, jid: &Jid) -> Person {
        let person = person_of(jid);
        if person.pn.is_none() && person.lid.is_none() {
            return person;
        }
        match self.net.lid_pn(&jid.to_non_ad()).await {
            Ok(Some((lid, pn))) => Person {
                pn: Some(pn),
                lid: Some(lid),
            },
            Ok(None) => person,
            Err(err) => {
                self.host.warn(&err.to_string());
                person
            }
        }
    }

    /// The person named by `jid` and its alternate id `alt` (a hint from
    /// the protocol); a complete pair feeds the LID store.
    async fn resolve_with_hint(&self, jid: &Jid, alt: Option<&Jid>) -> Person {
        let hinted = union(person_of(jid), alt.map(person_of).unwrap_or_default());
        if let (Some(pn), Some(lid)) = (&hinted.pn, &hinted.lid) {
            self.net
                .learn_lid_pns(vec![(lid.clone(), pn.clone())])
                .await;
            return hinted;
        }
        union(hinted, self.resolve(jid).await)
    }

    /// Handles one protocol event: the book, the LID store, the status.
    pub(crate) async fn handle_event(&self, event: &Event) {
        let our_logout = self.logging_out.load(Ordering::SeqCst);
        if let Some((status, reason)) = status_change(event, our_logout) {
            self.host.status(status, reason.as_deref());
        }
        let before = self.book().generation();
        match event {
            Event::PairingQrCode(qr) => self.host.qr(&qr.code),
            Event::Connected(_) => self.connected().await,
            Event::SelfPushNameUpdated(update) => {
                self.account_named(&update.new_name);
                self.stay_offline().await;
            }
            Event::ContactUpdate(update) => {
                let action = &update.action;
                let hint = parse_jid(action.pn_jid.as_deref())
                    .or_else(|| parse_jid(action.lid_jid.as_deref()));
                let mut person = self.resolve_with_hint(&update.jid, hint.as_ref()).await;
                if let Some(lid) = parse_jid(action.lid_jid.as_deref()) {
                    person = union(person, person_of(&lid));
                }
                self.noted(self.book().saved(
                    &person,
                    action.full_name.as_deref(),
                    action.first_name.as_deref(),
                ));
            }
            Event::PushNameUpdate(update) => {
                let person = self.resolve(&update.jid).await;
                self.noted(self.book().push_name(&person, &update.new_push_name));
            }
            Event::Messages(batch) => {
                for message in batch.iter() {
                    let source = &message.info.source;
                    if source.is_from_me || message.info.push_name.is_empty() {
                        continue;
                    }
                    let person = self
                        .resolve_with_hint(&source.sender, source.sender_alt.as_ref())
                        .await;
                    self.noted(self.book().push_name(&person, &message.info.push_name));
                }
            }
            Event::ContactNumberChanged(change) => {
                let old = union(
                    person_of(&change.old_jid),
                    change.old_lid.as_ref().map(person_of).unwrap_or_default(),
                );
                let new = self
                    .resolve_with_hint(&change.new_jid, change.new_lid.as_ref())
                    .await;
                self.noted(self.book().number_changed(&old, &new));
            }
            Event::HistorySync(_) => self.history_sync(event).await,
            _ => {}
        }
        if self.book().generation() != before {
            self.changed.notify_one();
            self.tell_changes();
        }
    }

    async fn history_sync(&self, event: &Event) {
        // A history chunk can be megabytes of compressed protobuf: decode
        // it off the runtime's worker threads.
        let Event::HistorySync(sync) = event else {
            return;
        };
        let chunk = Event::HistorySync(sync.clone());
        let facts = match tokio::task::spawn_blocking(move || history_facts(&chunk)).await {
            Ok(facts) => facts,
            Err(err) => {
                self.host
                    .warn(&format!("cannot read a history sync chunk: {err}"));
                return;
            }
        };
        self.net.learn_lid_pns(facts.pairs.clone()).await;
        {
            let mut book = self.book();
            for (lid, pn) in &facts.pairs {
                self.noted(book.learn(lid, pn));
            }
            for (person, full_name, first_name) in &facts.saved {
                self.noted(book.saved(person, full_name.as_deref(), first_name.as_deref()));
            }
        }
        for (jid, name) in &facts.push_names {
            let person = self.resolve(jid).await;
            self.noted(self.book().push_name(&person, name));
        }
    }

    /// The account as the book and the host know it, under `push_name`.
    fn account_named(&self, push_name: &str) {
        let account = self.net.account();
        let Some(pn) = &account.pn else {
            return;
        };
        let person = union(
            person_of(pn),
            account.lid.as_ref().map(person_of).unwrap_or_default(),
        );
        self.host.account(
            &to_contact_id(pn),
            (!push_name.is_empty()).then_some(push_name),
        );
        self.noted(self.book().me(&person, push_name));
    }

    /// The crate announces this device online on connect and on a push
    /// name change, which silences the phone's notifications; unless the
    /// config asks for that, take it back.
    async fn stay_offline(&self) {
        if self.mark_online {
            return;
        }
        if let Err(err) = self.net.set_unavailable().await {
            self.host
                .warn(&format!("cannot mark the session offline: {err}"));
        }
    }

    async fn connected(&self) {
        let account = self.net.account();
        self.account_named(&account.push_name);
        self.stay_offline().await;
        match self.net.blocklist().await {
            Ok(entries) => {
                let mut blocked = Vec::with_capacity(entries.len());
                for entry in &entries {
                    blocked.push(self.resolve(&entry.jid).await);
                }
                self.noted(self.book().replace_blocklist(&blocked));
            }
            // The book keeps the blocked flags it has.
            Err(err) => self.host.warn(&err.to_string()),
        }
        // People the book knew only by LID whose number the store has
        // learned since become one contact.
        let lid_only = self.book().lid_only();
        for lid in lid_only {
            if let Ok(Some((lid, pn))) = self.net.lid_pn(&Jid::lid(&lid)).await {
                self.noted(self.book().learn(&lid, &pn));
            }
        }
    }

    /// Asks WhatsApp (usync) about `jid`; the crate stores the LID mapping
    /// the answer carries. Not on WhatsApp is a 404.
    async fn look_up(&self, contact_id: &str, jid: &Jid) -> Result<Registration, EngineError> {
        self.net
            .is_on_whatsapp(std::slice::from_ref(jid))
            .await
            .map_err(engine_error)?
            .into_iter()
            .find(|registration| registration.registered)
            .ok_or_else(|| {
                EngineError::not_found(format!(
                    "{contact_id} is not in the contact book and not on WhatsApp"
                ))
            })
    }

    /// A page of the book, at the cost of the page alone.
    pub(crate) fn page(&self, query: &ListQuery) -> Vec<Contact> {
        self.book().page(query)
    }

    pub(crate) async fn get(&self, contact_id: &str) -> Result<Contact, EngineError> {
        if let Some(contact) = self.book().get(contact_id) {
            return Ok(contact);
        }
        let jid = person_to_look_up(contact_id)?;
        let person = self.resolve(&jid).await;
        let known = {
            let mut book = self.book();
            if let (Some(pn), Some(lid)) = (&person.pn, &person.lid) {
                self.noted(book.learn(lid, pn));
                self.changed.notify_one();
            }
            [
                person.pn.as_deref().map(pn_id),
                person.lid.as_deref().map(lid_id),
            ]
            .into_iter()
            .flatten()
            .find_map(|id| book.get(&id))
        };
        self.tell_changes();
        if let Some(contact) = known {
            return Ok(contact);
        }
        let registration = self.look_up(contact_id, &jid).await?;
        let person = union(
            person,
            union(
                person_of(&registration.jid),
                union(
                    registration.lid.as_ref().map(person_of).unwrap_or_default(),
                    registration.pn.as_ref().map(person_of).unwrap_or_default(),
                ),
            ),
        );
        Ok(Contact {
            id: person.key().unwrap_or_else(|| contact_id.to_owned()).into(),
            number: person.pn.map(RString::from).into(),
            lid: person.lid.as_deref().map(lid_id).map(RString::from).into(),
            is_wa_contact: true,
            ..Contact::default()
        })
    }

    pub(crate) async fn check_exists(&self, phone: &str) -> Result<NumberExists, EngineError> {
        let candidates: Vec<Jid> = whatsapp_variants(phone)
            .iter()
            .map(|number| to_jid(&format!("{number}@c.us")))
            .collect::<Result<_, _>>()?;
        let results = self
            .net
            .is_on_whatsapp(&candidates)
            .await
            .map_err(engine_error)?;
        // The first candidate WhatsApp knows is the chat id it really uses.
        let found = candidates.iter().find_map(|candidate| {
            results
                .iter()
                .find(|result| result.registered && result.jid.to_non_ad().user == candidate.user)
                .map(|result| to_contact_id(&result.jid))
        });
        Ok(NumberExists {
            number_exists: found.is_some(),
            chat_id: found.map(RString::from).into(),
        })
    }

    pub(crate) async fn about(&self, contact_id: &str) -> Result<Option<String>, EngineError> {
        let jid = person_to_look_up(contact_id)?;
        self.net.about(&jid).await.map_err(engine_error)
    }

    /// The engine keeps no picture cache (the host does): each call, with
    /// `refresh` or not, asks WhatsApp.
    pub(crate) async fn profile_picture(
        &self,
        contact_id: &str,
    ) -> Result<Option<String>, EngineError> {
        let jid = person_to_look_up(contact_id)?;
        self.net.profile_picture(&jid).await.map_err(engine_error)
    }

    /// Blocks or unblocks; a number the crate has not mapped to a LID yet
    /// (it needs both for a block) is looked up first, then tried once more.
    pub(crate) async fn set_blocked(
        &self,
        contact_id: &str,
        blocked: bool,
    ) -> Result<(), EngineError> {
        let jid = person_to_look_up(contact_id)?;
        let attempt = || async {
            if blocked {
                self.net.block(&jid).await
            } else {
                self.net.unblock(&jid).await
            }
        };
        match attempt().await {
            Err(NetError::NoMapping(_)) => {
                self.look_up(contact_id, &jid).await?;
                attempt().await
            }
            other => other,
        }
        .map_err(engine_error)?;
        let person = self.resolve(&jid).await;
        self.book().set_blocked(&person, blocked)?;
        // Acknowledged means on disk.
        let saved = self.save().await;
        self.tell_changes();
        saved
    }

    pub(crate) async fn upsert(
        &self,
        contact_id: &str,
        name: ContactName,
    ) -> Result<(), EngineError> {
        let jid = person_to_look_up(contact_id)?;
        let mut person = self.resolve(&jid).await;
        if person.pn.is_none() && person.lid.is_some() {
            let registration = self.look_up(contact_id, &jid).await?;
            person = union(
                person,
                registration.pn.as_ref().map(person_of).unwrap_or_default(),
            );
        }
        let Some(pn) = person.pn.clone() else {
            return Err(EngineError::invalid_input(format!(
                "contactId: {contact_id} has no known phone number; only phone contacts can be saved"
            )));
        };
        let full_name = name.full_name();
        let first_name = name.first_name.to_string();
        self.net
            .save_contact(&Jid::pn(&pn), full_name.clone(), first_name.clone())
            .await
            .map_err(engine_error)?;
        self.book()
            .saved(&person, Some(&full_name), Some(&first_name))?;
        let saved = self.save().await;
        self.tell_changes();
        saved
    }

    pub(crate) async fn list_lids(
        &self,
        offset: u32,
        limit: u32,
    ) -> Result<Vec<LidMapping>, EngineError> {
        let mappings = self
            .net
            .all_lid_pns()
            .await
            .map_err(engine_error)?
            .into_iter()
            .map(|(lid, pn)| LidMapping::new(lid_id(&lid), Some(pn_id(&pn))))
            .collect();
        Ok(LidMapping::page(mappings, offset, limit))
    }

    pub(crate) async fn count_lids(&self) -> Result<u64, EngineError> {
        Ok(self.net.all_lid_pns().await.map_err(engine_error)?.len() as u64)
    }

    /// From the LID store only: a LID is asked by whoever knows its number.
    pub(crate) async fn find_pn_by_lid(&self, lid: &str) -> Result<LidMapping, EngineError> {
        let jid = to_jid(lid)?;
        if !jid.is_lid() {
            return Err(EngineError::invalid_input(format!(
                "lid: {lid} is not a LID (…@lid)"
            )));
        }
        let entry = self.net.lid_pn(&jid).await.map_err(engine_error)?;
        Ok(LidMapping::new(
            lid_id(&jid.user),
            entry.map(|(_, pn)| pn_id(&pn)),
        ))
    }

    /// From the LID store, or else from WhatsApp (usync).
    pub(crate) async fn find_lid_by_pn(&self, phone: &str) -> Result<LidMapping, EngineError> {
        let chat_id = pn_id(phone);
        let jid = to_jid(&chat_id)?;
        if let Some((lid, _)) = self.net.lid_pn(&jid).await.map_err(engine_error)? {
            return Ok(LidMapping::new(lid_id(&lid), Some(chat_id)));
        }
        let lid = self
            .net
            .is_on_whatsapp(std::slice::from_ref(&jid))
            .await
            .map_err(engine_error)?
            .into_iter()
            .filter(|registration| registration.registered)
            .find_map(|registration| registration.lid);
        Ok(match lid {
            Some(lid) => LidMapping::new(lid_id(&lid.user), Some(chat_id)),
            None => LidMapping::unknown_lid(chat_id),
        })
    }

    pub(crate) async fn pairing_code(&self, phone: String) -> Result<String, EngineError> {
        self.net
            .pair_code(phone)
            .await
            .map(|code| as_waha_shows(&code))
            .map_err(engine_error)
    }

    /// Unlinks the device; without a connection WhatsApp cannot be told,
    /// and the answer says so.
    pub(crate) async fn logout(&self) -> Result<(), EngineError> {
        let connected = self.net.is_connected();
        self.logging_out.store(true, Ordering::SeqCst);
        self.net.logout().await;
        if connected {
            Ok(())
        } else {
            Err(EngineError::unavailable(
                "the session is not connected, so WhatsApp was not told: the phone still lists \
                 this linked device until it is removed there",
            ))
        }
    }
}

#[cfg(test)]
#[path = "core_tests.rs"]
mod tests;
