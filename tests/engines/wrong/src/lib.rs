//! A contact book engine that makes one mistake on purpose: each
//! [`Mistake`] is one an engine written from the docs alone made, in a way
//! a REST user would hit, while it passed conformance. Each `wrong-*` crate
//! beside this one builds the engine as a library with one mistake, and
//! `tests/e2e/cli.rs` proves that conformance fails each of them in the
//! check that names it, and in no other.
//!
//! Apart from its mistake the engine keeps the contract: a book of a few
//! contacts in memory, sorted and paged by [`ListQuery::apply`], 404 for
//! ids it does not have, every contacts feature supported.

use std::{
    collections::HashMap,
    sync::{Mutex, MutexGuard, PoisonError},
};

use wharf_engine_api::{
    Contact, ContactChange, ContactName, Engine, EngineError, Host, ListQuery, Manifest,
    NumberExists, RNone, RString, Session, SessionContext, SessionStatus, features,
    support::contact_changes,
};

/// The mistake a build of the engine makes, as the number
/// [`WrongEngine`] takes: `WrongEngine<{ Mistake::BlockChangesNothing as u8 }>`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Mistake {
    /// `contacts.upsert` answers success and changes nothing.
    UpsertChangesNothing = 1,
    /// `contacts.check_exists` says every number exists.
    EveryNumberExists,
    /// `contacts.check_exists` answers a contact's LID as its chatId.
    ChatIdIsTheLid,
    /// `contacts.get` answers the nearest contact for an id it does not have.
    GetAnswersTheNearest,
    /// The index `contacts.get` looks ids up in goes stale when upsert
    /// inserts a contact, so get answers another contact for a known id.
    GetIndexGoesStale,
    /// `contacts.block` answers success and changes nothing.
    BlockChangesNothing,
    /// `contacts.unblock` answers success and changes nothing.
    UnblockChangesNothing,
    /// `contacts.list` leaves short names out, so its records differ from get's.
    ListWithoutShortNames,
    /// `contacts.upsert` replaces the whole record, so renaming a blocked
    /// contact unblocks it.
    UpsertUnblocks,
    /// The book keeps what it learned under a person's LID as a second
    /// contact, so list shows them twice and get by LID answers that one.
    LidIsASecondContact,
    /// Every save of a known contact is told as `contact.renamed`, also
    /// one that saves the name it already has.
    ToldRenamedOnEverySave,
}

impl Mistake {
    /// The mistake numbered `number`; another number does not compile.
    pub const fn from_number(number: u8) -> Self {
        match number {
            1 => Self::UpsertChangesNothing,
            2 => Self::EveryNumberExists,
            3 => Self::ChatIdIsTheLid,
            4 => Self::GetAnswersTheNearest,
            5 => Self::GetIndexGoesStale,
            6 => Self::BlockChangesNothing,
            7 => Self::UnblockChangesNothing,
            8 => Self::ListWithoutShortNames,
            9 => Self::UpsertUnblocks,
            10 => Self::LidIsASecondContact,
            11 => Self::ToldRenamedOnEverySave,
            _ => panic!("no such mistake"),
        }
    }

    /// The engine's name: the name of its crate.
    pub const fn engine_name(self) -> &'static str {
        match self {
            Self::UpsertChangesNothing => "wrong-upsert",
            Self::EveryNumberExists => "wrong-exists",
            Self::ChatIdIsTheLid => "wrong-chat-id",
            Self::GetAnswersTheNearest => "wrong-get-unknown",
            Self::GetIndexGoesStale => "wrong-get-known",
            Self::BlockChangesNothing => "wrong-block",
            Self::UnblockChangesNothing => "wrong-unblock",
            Self::ListWithoutShortNames => "wrong-list",
            Self::UpsertUnblocks => "wrong-upsert-unblocks",
            Self::LidIsASecondContact => "wrong-lid-twice",
            Self::ToldRenamedOnEverySave => "wrong-told-renamed",
        }
    }

    const fn description(self) -> &'static str {
        match self {
            Self::UpsertChangesNothing => "upsert answers success and changes nothing",
            Self::EveryNumberExists => "check-exists says every number exists",
            Self::ChatIdIsTheLid => "check-exists answers a contact's LID as its chatId",
            Self::GetAnswersTheNearest => "get answers the nearest contact for an unknown id",
            Self::GetIndexGoesStale => "get's index goes stale when upsert inserts a contact",
            Self::BlockChangesNothing => "block answers success and changes nothing",
            Self::UnblockChangesNothing => "unblock answers success and changes nothing",
            Self::ListWithoutShortNames => "list leaves out short names that get shows",
            Self::UpsertUnblocks => "upsert replaces the whole record and so unblocks",
            Self::LidIsASecondContact => "list shows a person a second time under their LID",
            Self::ToldRenamedOnEverySave => "every save is told as a rename, also an unchanged one",
        }
    }
}

/// The engine, making mistake number `MISTAKE` (see [`Mistake`]).
#[derive(Default)]
pub struct WrongEngine<const MISTAKE: u8>;

impl<const MISTAKE: u8> WrongEngine<MISTAKE> {
    const MISTAKE: Mistake = Mistake::from_number(MISTAKE);
}

impl<const MISTAKE: u8> Engine for WrongEngine<MISTAKE> {
    type Session = WrongSession;

    fn manifest(&self) -> Manifest {
        let mistake = Self::MISTAKE;
        let no_pairing = "test sessions need no pairing";
        Manifest::new(
            mistake.engine_name(),
            "0.1.0",
            &format!("Wrong on purpose, for tests: {}", mistake.description()),
        )
        .supports_all(features::CONTACTS)
        .unsupported(features::AUTH_QR, no_pairing)
        .unsupported(features::AUTH_CODE, no_pairing)
    }

    async fn open_session(&self, context: SessionContext) -> Result<WrongSession, EngineError> {
        let host = context.host();
        host.status(SessionStatus::WORKING, None);
        Ok(WrongSession {
            mistake: Self::MISTAKE,
            book: Mutex::new(Book::new(fixture(Self::MISTAKE))),
            host,
        })
    }
}

/// The book a session starts with: people (one known by a LID too, one
/// with an accented name, one without a name), the account, a group.
fn fixture(mistake: Mistake) -> Vec<Contact> {
    let person = |number: &str, name: Option<&str>| Contact {
        id: format!("{number}@c.us").into(),
        number: Some(RString::from(number)).into(),
        name: name.map(RString::from).into(),
        short_name: name
            .and_then(|name| name.split(' ').next())
            .map(RString::from)
            .into(),
        pushname: Some(RString::from(format!("pushname of {number}"))).into(),
        is_wa_contact: true,
        is_my_contact: name.is_some(),
        ..Contact::default()
    };
    let ada = Contact {
        lid: Some(RString::from("100000000000001@lid")).into(),
        ..person("14155550100", Some("Ada Lovelace"))
    };
    let me = Contact {
        is_me: true,
        ..person("14155550199", None)
    };
    let group = Contact {
        id: "120363000000000001@g.us".into(),
        name: Some(RString::from("Wharf testers")).into(),
        is_group: true,
        ..Contact::default()
    };
    let ada_by_lid = Contact {
        id: ada.lid.clone().unwrap_or_default(),
        lid: ada.lid.clone(),
        pushname: Some(RString::from("Ada")).into(),
        is_wa_contact: true,
        ..Contact::default()
    };
    let twice = (mistake == Mistake::LidIsASecondContact).then_some(ada_by_lid);
    [ada]
        .into_iter()
        .chain(twice)
        .chain([
            person("14155550101", Some("Grace Hopper")),
            person("14155550102", Some("Émilie du Châtelet")),
            person("14155550103", None),
            me,
            group,
        ])
        .collect()
}

/// Contacts in id order, and where each one is, by id and by LID.
struct Book {
    contacts: Vec<Contact>,
    index: HashMap<String, usize>,
}

impl Book {
    fn new(mut contacts: Vec<Contact>) -> Self {
        contacts.sort_by(|a, b| a.id.cmp(&b.id));
        let mut book = Self {
            contacts,
            index: HashMap::new(),
        };
        book.reindex();
        book
    }

    fn reindex(&mut self) {
        let by_lid = (self.contacts.iter().enumerate()).filter_map(|(position, contact)| {
            let lid = contact.lid.as_ref().into_option()?;
            Some((lid.to_string(), position))
        });
        let by_id = (self.contacts.iter().enumerate())
            .map(|(position, contact)| (contact.id.to_string(), position));
        // By id last: a contact whose id is a LID is found as itself.
        self.index = by_lid.chain(by_id).collect();
    }

    fn contact(&self, id: &str) -> Option<&Contact> {
        self.index
            .get(id)
            .and_then(|&position| self.contacts.get(position))
    }

    fn contact_mut(&mut self, id: &str) -> Result<&mut Contact, EngineError> {
        self.index
            .get(id)
            .and_then(|&position| self.contacts.get_mut(position))
            .ok_or_else(|| not_found(id))
    }

    /// The contact at or after where `id` would be.
    fn nearest(&self, id: &str) -> Option<&Contact> {
        let at = self.contacts.partition_point(|c| c.id.as_str() < id);
        self.contacts.get(at).or(self.contacts.last())
    }

    /// Inserts `contact` in id order; with `stale_index`, indexes only it,
    /// so the contacts after it are looked up where they used to be.
    fn insert(&mut self, contact: Contact, stale_index: bool) {
        let at = self.contacts.partition_point(|c| c.id < contact.id);
        let id = contact.id.to_string();
        self.contacts.insert(at, contact);
        if stale_index {
            self.index.insert(id, at);
        } else {
            self.reindex();
        }
    }
}

fn not_found(id: &str) -> EngineError {
    EngineError::not_found(format!("no contact {id}"))
}

/// One session: the book, and the mistake it makes.
pub struct WrongSession {
    mistake: Mistake,
    book: Mutex<Book>,
    host: Host,
}

impl WrongSession {
    fn book(&self) -> MutexGuard<'_, Book> {
        // Each change is one assignment or insertion: a panic while the
        // book was locked cannot have left it half changed.
        self.book.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn set_blocked(&self, id: &str, blocked: bool, mistake: Mistake) -> Result<(), EngineError> {
        let mut book = self.book();
        let contact = book.contact_mut(id)?;
        let before = contact.clone();
        if self.mistake != mistake {
            contact.is_blocked = blocked;
        }
        let after = contact.clone();
        drop(book);
        self.tell(Some(&before), &after);
        Ok(())
    }

    /// Tells the host what changed between `before` and `after`.
    fn tell(&self, before: Option<&Contact>, after: &Contact) {
        for change in contact_changes(before, after) {
            self.host.contact_changed(change, after);
        }
    }
}

impl Session for WrongSession {
    async fn list_contacts(&self, query: ListQuery) -> Result<Vec<Contact>, EngineError> {
        let mut contacts = self.book().contacts.clone();
        if self.mistake == Mistake::ListWithoutShortNames {
            for contact in &mut contacts {
                contact.short_name = RNone;
            }
        }
        Ok(query.apply(contacts))
    }

    async fn get_contact(&self, contact_id: String) -> Result<Contact, EngineError> {
        let book = self.book();
        let found = match book.contact(&contact_id) {
            None if self.mistake == Mistake::GetAnswersTheNearest => book.nearest(&contact_id),
            found => found,
        };
        found.cloned().ok_or_else(|| not_found(&contact_id))
    }

    async fn check_exists(&self, phone: String) -> Result<NumberExists, EngineError> {
        let id = format!("{phone}@c.us");
        let lid_for_id = self.mistake == Mistake::ChatIdIsTheLid;
        let chat_id = match self.mistake {
            Mistake::EveryNumberExists => Some(RString::from(id)),
            _ => self
                .book()
                .contact(&id)
                .filter(|contact| contact.is_wa_contact)
                .map(|contact| match contact.lid.as_ref().into_option() {
                    Some(lid) if lid_for_id => lid.clone(),
                    _ => contact.id.clone(),
                }),
        };
        Ok(NumberExists {
            number_exists: chat_id.is_some(),
            chat_id: chat_id.into(),
        })
    }

    async fn about(&self, contact_id: String) -> Result<Option<String>, EngineError> {
        let book = self.book();
        book.contact(&contact_id)
            .map(|_| None)
            .ok_or_else(|| not_found(&contact_id))
    }

    async fn profile_picture(
        &self,
        contact_id: String,
        _refresh: bool,
    ) -> Result<Option<String>, EngineError> {
        self.about(contact_id).await
    }

    async fn block(&self, contact_id: String) -> Result<(), EngineError> {
        self.set_blocked(&contact_id, true, Mistake::BlockChangesNothing)
    }

    async fn unblock(&self, contact_id: String) -> Result<(), EngineError> {
        self.set_blocked(&contact_id, false, Mistake::UnblockChangesNothing)
    }

    async fn upsert_contact(
        &self,
        contact_id: String,
        name: ContactName,
    ) -> Result<(), EngineError> {
        let Some(number) = contact_id.strip_suffix("@c.us") else {
            return Err(EngineError::invalid_input(format!(
                "contactId: {contact_id} is not a phone contact"
            )));
        };
        if self.mistake == Mistake::UpsertChangesNothing {
            return Ok(());
        }
        let full_name = Some(RString::from(name.full_name())).into();
        let short_name = Some(name.first_name).into();
        let mut book = self.book();
        match book.contact_mut(&contact_id) {
            Ok(contact) => {
                let before = contact.clone();
                contact.name = full_name;
                contact.short_name = short_name;
                contact.is_my_contact = true;
                if self.mistake == Mistake::UpsertUnblocks {
                    contact.is_blocked = false;
                }
                let after = contact.clone();
                drop(book);
                if self.mistake == Mistake::ToldRenamedOnEverySave {
                    self.host.contact_changed(ContactChange::RENAMED, &after);
                } else {
                    self.tell(Some(&before), &after);
                }
            }
            Err(_) => {
                let contact = Contact {
                    id: contact_id.as_str().into(),
                    number: Some(RString::from(number)).into(),
                    name: full_name,
                    short_name,
                    is_my_contact: true,
                    ..Contact::default()
                };
                book.insert(contact.clone(), self.mistake == Mistake::GetIndexGoesStale);
                drop(book);
                self.tell(None, &contact);
            }
        }
        Ok(())
    }
}
