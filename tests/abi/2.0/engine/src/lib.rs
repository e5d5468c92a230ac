//! An engine built against engine-api 2.0, kept as it was built then.
//!
//! Every later host must load it and pass it through conformance: that is
//! the promise ABI 2 makes to authors who ship engines as files (see
//! `../README.md`). It uses every part of the 2.0 contract an engine can
//! touch: all contact operations, errors of several kinds, status and
//! account events, log lines and the `lid` field.

use std::sync::{Mutex, MutexGuard, PoisonError};

use wharf_engine_api::{
    Contact, ContactName, Engine, EngineError, ListQuery, Manifest, NumberExists, RString,
    Session, SessionContext, SessionStatus, features,
};

/// The engine: one per loaded library, shared by all its sessions.
#[derive(Default)]
pub struct Abi20Engine;

/// One session: a contact book in memory.
pub struct Abi20Session {
    book: Mutex<Vec<Contact>>,
}

/// The account the session is logged in as.
const ME: &str = "14155550100@c.us";

impl Engine for Abi20Engine {
    type Session = Abi20Session;

    fn manifest(&self) -> Manifest {
        Manifest::new(
            "abi-2-0",
            env!("CARGO_PKG_VERSION"),
            "Built against engine-api 2.0; every later host must load it",
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
        ])
        .unsupported(features::AUTH_QR, "abi-2-0 sessions need no pairing")
        .unsupported(features::AUTH_CODE, "abi-2-0 sessions need no pairing")
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
        let session = Abi20Session {
            book: Mutex::new(vec![me, grace]),
        };
        host.status(SessionStatus::WORKING, None);
        Ok(session)
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

impl Abi20Session {
    fn book(&self) -> MutexGuard<'_, Vec<Contact>> {
        // Each change sets one field or replaces one contact, so a panic
        // while the book was locked cannot leave a contact half written.
        self.book.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn with_contact<T>(
        &self,
        contact_id: &str,
        change: impl FnOnce(&mut Contact) -> T,
    ) -> Result<T, EngineError> {
        self.book()
            .iter_mut()
            .find(|contact| contact.id == contact_id)
            .map(change)
            .ok_or_else(|| no_contact(contact_id))
    }
}

impl Session for Abi20Session {
    async fn list_contacts(&self, query: ListQuery) -> Result<Vec<Contact>, EngineError> {
        Ok(query.apply(self.book().clone()))
    }

    async fn get_contact(&self, contact_id: String) -> Result<Contact, EngineError> {
        self.with_contact(&contact_id, |contact| contact.clone())
    }

    async fn check_exists(&self, phone: String) -> Result<NumberExists, EngineError> {
        let chat_id = format!("{phone}@c.us");
        let exists = self.book().iter().any(|contact| contact.id == chat_id.as_str());
        Ok(NumberExists {
            number_exists: exists,
            chat_id: exists.then(|| RString::from(chat_id)).into(),
        })
    }

    async fn about(&self, contact_id: String) -> Result<Option<String>, EngineError> {
        self.with_contact(&contact_id, |contact| {
            (!contact.is_me).then(|| "Hey there! I am using WhatsApp.".to_owned())
        })
    }

    async fn profile_picture(
        &self,
        contact_id: String,
        _refresh: bool,
    ) -> Result<Option<String>, EngineError> {
        self.with_contact(&contact_id, |_| None)
    }

    async fn block(&self, contact_id: String) -> Result<(), EngineError> {
        if contact_id == ME {
            return Err(EngineError::invalid_input("a session cannot block itself"));
        }
        self.with_contact(&contact_id, |contact| contact.is_blocked = true)
    }

    async fn unblock(&self, contact_id: String) -> Result<(), EngineError> {
        self.with_contact(&contact_id, |contact| contact.is_blocked = false)
    }

    async fn upsert_contact(
        &self,
        contact_id: String,
        name: ContactName,
    ) -> Result<(), EngineError> {
        let mut book = self.book();
        let mut saved = contact(&contact_id, &name.full_name());
        saved.short_name = Some(name.first_name.clone()).into();
        match book.iter_mut().find(|c| c.id == contact_id.as_str()) {
            Some(existing) => {
                saved.is_blocked = existing.is_blocked;
                saved.is_me = existing.is_me;
                saved.lid = existing.lid.clone();
                *existing = saved;
            }
            None => book.push(saved),
        }
        Ok(())
    }
}

wharf_engine_api::export_engine!(Abi20Engine);
