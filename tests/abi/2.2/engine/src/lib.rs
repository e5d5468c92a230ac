//! An engine built against engine-api 2.2, kept as it was built then.
//!
//! Every later host must load it and pass it through conformance: that is
//! the promise ABI 2 makes to authors who ship engines as files (see
//! `../README.md`). It uses every part of the 2.2 contract an engine can
//! touch: all contact operations and the `lids.*` operations, one person
//! under a phone number and a LID, a person known only by a LID, the
//! shared `ContactBook`, errors of several kinds, status and account
//! events, log lines, and the contact events 2.2 added: every change its
//! writes make is told with `Host::contact_changed`, as
//! `support::contact_changes` finds them.

use std::sync::{Mutex, MutexGuard, PoisonError};

use wharf_engine_api::{
    Contact, ContactName, Engine, EngineError, LidMapping, ListQuery, Manifest, NumberExists,
    Host, RString, Session, SessionContext, SessionStatus, features,
    support::{ContactBook, contact_changes},
};

/// The engine: one per loaded library, shared by all its sessions.
#[derive(Default)]
pub struct Abi22Engine;

/// One session: a contact book in memory, and the host it tells of changes.
pub struct Abi22Session {
    book: Mutex<ContactBook>,
    host: Host,
}

/// The account the session is logged in as.
const ME: &str = "14155550100@c.us";

impl Engine for Abi22Engine {
    type Session = Abi22Session;

    fn manifest(&self) -> Manifest {
        Manifest::new(
            "abi-2-2",
            env!("CARGO_PKG_VERSION"),
            "Built against engine-api 2.2; every later host must load it",
        )
        .supports_all(&[
            features::CONTACTS_LIST,
            features::CONTACTS_GET,
            features::CONTACTS_CHECK_EXISTS,
            features::CONTACTS_ABOUT,
            features::CONTACTS_PROFILE_PICTURE,
            features::CONTACTS_BLOCK,
            features::CONTACTS_UNBLOCK,
            features::CONTACTS_UPSERT,
            features::LIDS_LIST,
            features::LIDS_COUNT,
            features::LIDS_FIND_PN,
            features::LIDS_FIND_LID,
        ])
        .unsupported(features::AUTH_QR, "abi-2-2 sessions need no pairing")
        .unsupported(features::AUTH_CODE, "abi-2-2 sessions need no pairing")
    }

    async fn open_session(&self, context: SessionContext) -> Result<Self::Session, EngineError> {
        let host = context.host();
        host.status(SessionStatus::STARTING, Some("opening the book"));
        host.info(&format!("session {} opens", context.session));
        host.account(ME, Some("Ada"));
        let mut me = contact(ME, "Ada Lovelace");
        me.is_me = true;
        let mut grace = contact("14155550101@c.us", "Grace Hopper");
        grace.lid = Some(RString::from("200000000000001@lid")).into();
        let mut known_by_lid = contact("200000000000002@lid", "Katherine");
        known_by_lid.number = None.into();
        known_by_lid.lid = Some(RString::from("200000000000002@lid")).into();
        let mut book = ContactBook::new();
        for person in [me, grace, known_by_lid] {
            book.upsert(person)?;
        }
        host.status(SessionStatus::WORKING, None);
        Ok(Abi22Session {
            book: Mutex::new(book),
            host,
        })
    }
}

fn contact(id: &str, name: &str) -> Contact {
    Contact {
        id: id.into(),
        number: id.strip_suffix("@c.us").map(RString::from).into(),
        name: Some(RString::from(name)).into(),
        short_name: name.split(' ').next().map(RString::from).into(),
        is_wa_contact: true,
        is_my_contact: true,
        ..Contact::default()
    }
}

fn no_contact(contact_id: &str) -> EngineError {
    EngineError::not_found(format!("no contact {contact_id}"))
}

impl Abi22Session {
    fn book(&self) -> MutexGuard<'_, ContactBook> {
        // Each change replaces one contact, so a panic while the book was
        // locked cannot leave a contact half written.
        self.book.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Changes the contact `id_or_lid` names, by its id or its LID.
    fn change(&self, id_or_lid: &str, change: impl FnOnce(&mut Contact)) -> Result<(), EngineError> {
        let mut book = self.book();
        let mut contact = book.get(id_or_lid).ok_or_else(|| no_contact(id_or_lid))?;
        change(&mut contact);
        self.save(&mut book, contact)
    }

    /// Saves `contact` in `book` and tells the host what changed.
    fn save(&self, book: &mut ContactBook, contact: Contact) -> Result<(), EngineError> {
        let before = book.get(&contact.id);
        book.upsert(contact.clone())?;
        let after = book.get(&contact.id).unwrap_or(contact);
        for change in contact_changes(before.as_ref(), &after) {
            self.host.contact_changed(change, &after);
        }
        Ok(())
    }
}

impl Session for Abi22Session {
    async fn list_contacts(&self, query: ListQuery) -> Result<Vec<Contact>, EngineError> {
        Ok(self.book().page(&query))
    }

    async fn get_contact(&self, contact_id: String) -> Result<Contact, EngineError> {
        self.book()
            .get(&contact_id)
            .ok_or_else(|| no_contact(&contact_id))
    }

    async fn check_exists(&self, phone: String) -> Result<NumberExists, EngineError> {
        let chat_id = format!("{phone}@c.us");
        let exists = self.book().get(&chat_id).is_some();
        Ok(NumberExists {
            number_exists: exists,
            chat_id: exists.then(|| RString::from(chat_id)).into(),
        })
    }

    async fn about(&self, contact_id: String) -> Result<Option<String>, EngineError> {
        let contact = self.get_contact(contact_id).await?;
        Ok((!contact.is_me).then(|| "Hey there! I am using WhatsApp.".to_owned()))
    }

    async fn profile_picture(
        &self,
        contact_id: String,
        _refresh: bool,
    ) -> Result<Option<String>, EngineError> {
        self.get_contact(contact_id).await.map(|_| None)
    }

    async fn block(&self, contact_id: String) -> Result<(), EngineError> {
        if self.book().id(&contact_id) == Some(ME) {
            return Err(EngineError::invalid_input("a session cannot block itself"));
        }
        self.change(&contact_id, |contact| contact.is_blocked = true)
    }

    async fn unblock(&self, contact_id: String) -> Result<(), EngineError> {
        self.change(&contact_id, |contact| contact.is_blocked = false)
    }

    async fn upsert_contact(
        &self,
        contact_id: String,
        name: ContactName,
    ) -> Result<(), EngineError> {
        let mut book = self.book();
        let mut saved = contact(&contact_id, &name.full_name());
        saved.short_name = Some(name.first_name.clone()).into();
        if let Some(existing) = book.get(&contact_id) {
            saved.id = existing.id;
            saved.number = existing.number;
            saved.is_blocked = existing.is_blocked;
            saved.is_me = existing.is_me;
            saved.lid = existing.lid;
        } else if contact_id.ends_with("@lid") {
            saved.lid = Some(RString::from(contact_id)).into();
        }
        self.save(&mut book, saved)
    }

    async fn list_lids(&self, offset: u32, limit: u32) -> Result<Vec<LidMapping>, EngineError> {
        Ok(self.book().lids(offset, limit))
    }

    async fn count_lids(&self) -> Result<u64, EngineError> {
        Ok(self.book().lid_count() as u64)
    }

    async fn find_pn_by_lid(&self, lid: String) -> Result<LidMapping, EngineError> {
        let pn = self.book().id_by_lid(&lid).map(str::to_owned);
        Ok(LidMapping::new(lid, pn))
    }

    async fn find_lid_by_pn(&self, phone: String) -> Result<LidMapping, EngineError> {
        let pn = format!("{phone}@c.us");
        let lid = (self.book().get(&pn))
            .and_then(|contact| contact.lid.into_option())
            .filter(|lid| *lid != pn.as_str());
        Ok(match lid {
            Some(lid) => LidMapping::new(lid, Some(pn)),
            None => LidMapping::unknown_lid(pn),
        })
    }
}

wharf_engine_api::export_engine!(Abi22Engine);
