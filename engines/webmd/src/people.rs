//! The contact book: one record per person, kept from what the protocol
//! tells (app-state contact actions, push names, the blocklist, the account
//! itself) in `contacts.json` in the session's data directory.
//!
//! WhatsApp names a person by phone number (`…@c.us`) or by LID (`…@lid`).
//! A record's id is the phone number chat id whenever the number is known,
//! and its `lid` field the LID; a person known only by LID has the LID as
//! id until the mapping is learned ([`Book::learn`]), when that record
//! folds into the phone number one.

use std::{
    collections::HashSet,
    path::{Path, PathBuf},
};

use wharf_engine_api::{
    Contact, ContactChange, EngineError, ListQuery, RNone, RSome, RString,
    support::{ContactBook, contact_changes, write_atomically},
};

const FILE_NAME: &str = "contacts.json";

/// Who an event or a request is about: a phone number, a LID, or both
/// (bare users, digits, no server part).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Person {
    pub pn: Option<String>,
    pub lid: Option<String>,
}

impl Person {
    pub(crate) fn key(&self) -> Option<String> {
        match (&self.pn, &self.lid) {
            (Some(pn), _) => Some(pn_id(pn)),
            (None, Some(lid)) => Some(lid_id(lid)),
            (None, None) => None,
        }
    }
}

pub(crate) fn pn_id(pn: &str) -> String {
    format!("{pn}@c.us")
}

pub(crate) fn lid_id(lid: &str) -> String {
    format!("{lid}@lid")
}

/// The contact book, and the file it is saved in.
pub(crate) struct Book {
    dir: PathBuf,
    /// One contact per person, found by either id, kept in the orders
    /// `contacts.list` pages through. The engine keeps nothing about a
    /// person beyond their contact.
    people: ContactBook,
    /// Counts changes, so a save knows whether it has anything newer to write.
    generation: u64,
    /// The records changed since [`Book::take_changes`] last ran, each by
    /// its id, with the contact as it was before the first of those
    /// changes (`None` when it is new).
    touched: Vec<(String, Option<Contact>)>,
}

/// A book as it was at one moment, to write without holding the book.
pub(crate) struct Snapshot {
    pub generation: u64,
    json: Vec<u8>,
}

impl Book {
    /// The book saved in `dir`, or an empty one. A saved book that does not
    /// parse is an error, never silently replaced.
    pub(crate) fn load(dir: &Path) -> Result<Self, EngineError> {
        let path = dir.join(FILE_NAME);
        let contacts: Vec<Contact> = match std::fs::read_to_string(&path) {
            Ok(json) => serde_json::from_str(&json).map_err(|err| {
                EngineError::internal(format!("{} does not parse: {err}", path.display()))
            })?,
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => Vec::new(),
            Err(err) => {
                return Err(EngineError::internal(format!(
                    "cannot read {}: {err}",
                    path.display()
                )));
            }
        };
        let mut people = ContactBook::new();
        people
            .extend_with(one_lid_each(contacts).into_iter().map(|c| (c, ())))
            .map_err(|err| {
                EngineError::internal(format!("{} cannot be loaded: {err}", path.display()))
            })?;
        Ok(Self {
            dir: dir.to_owned(),
            people,
            generation: 0,
            touched: Vec::new(),
        })
    }

    /// Puts `contact` in the book in place of `before`, the person's
    /// record until now (`None` when the book had none), and notes the
    /// change for [`Book::take_changes`].
    fn put(&mut self, contact: Contact, before: Option<Contact>) -> Result<(), EngineError> {
        let id = contact.id.as_str();
        if !self.touched.iter().any(|(touched, _)| touched == id) {
            self.touched.push((id.to_owned(), before));
        }
        self.people.upsert(contact)
    }

    /// What changed about each contact since the last call, with the
    /// contact as it is now: what the engine tells the host.
    pub(crate) fn take_changes(&mut self) -> Vec<(ContactChange, Contact)> {
        let mut changes = Vec::new();
        for (id, before) in std::mem::take(&mut self.touched) {
            // Gone since (a number change moved it): nothing to tell of it.
            let Some(after) = self.by_id(&id) else {
                continue;
            };
            for change in contact_changes(before.as_ref(), &after) {
                changes.push((change, after.clone()));
            }
        }
        changes
    }

    pub(crate) fn generation(&self) -> u64 {
        self.generation
    }

    /// The page `query` asks for, at the cost of the page alone.
    pub(crate) fn page(&self, query: &ListQuery) -> Vec<Contact> {
        self.people.page(query)
    }

    /// The contact `id` (a phone number chat id or a LID) names.
    pub(crate) fn get(&self, id: &str) -> Option<Contact> {
        self.people.get(id)
    }

    /// The contact whose id is `id`, not one that has it as its LID.
    fn by_id(&self, id: &str) -> Option<Contact> {
        self.people.get(id).filter(|contact| contact.id == id)
    }

    fn has_id(&self, id: &str) -> bool {
        self.people.id(id) == Some(id)
    }

    /// The LIDs of people the book knows only by LID, to look up.
    pub(crate) fn lid_only(&self) -> Vec<String> {
        self.people
            .ids()
            .filter_map(|id| id.strip_suffix("@lid").map(str::to_owned))
            .collect()
    }

    /// Records that `lid` stands for the phone number `pn`: the person's
    /// LID-only record (if any) folds into the phone number one, keeping
    /// the names and flags of both.
    pub(crate) fn learn(&mut self, lid: &str, pn: &str) -> Result<(), EngineError> {
        let lid_key = lid_id(lid);
        let pn_key = pn_id(pn);
        if self.people.id_by_lid(&lid_key) == Some(pn_key.as_str())
            || !(self.has_id(&lid_key) || self.has_id(&pn_key))
        {
            // Known already, or nobody to fold: a record made later learns it.
            return Ok(());
        }
        self.generation += 1;
        // A LID that moved (the person changed numbers) leaves its old record.
        self.release_lid(&lid_key)?;
        let folded = self.people.remove(&lid_key).map(|(folded, ())| folded);
        let existing = self.by_id(&pn_key);
        let mut record = existing.clone().unwrap_or_else(|| Contact {
            id: pn_key.as_str().into(),
            number: RSome(pn.into()),
            is_wa_contact: true,
            ..Contact::default()
        });
        // A phone number that changed LID drops the old one.
        record.lid = RSome(lid_key.into());
        if let Some(folded) = &folded {
            merge(&mut record, folded.clone());
        }
        // The person was the phone number's record, or else the LID's.
        self.put(record, existing.or(folded))
    }

    /// Takes `lid` from the phone number record that has it, so that
    /// another can: a person is one contact.
    fn release_lid(&mut self, lid: &str) -> Result<(), EngineError> {
        let Some(mut holder) = self
            .people
            .id_by_lid(lid)
            .and_then(|id| self.people.get(id))
        else {
            return Ok(());
        };
        let before = holder.clone();
        holder.lid = RNone;
        self.put(holder, Some(before))
    }

    /// Changes the record of `person` with `change`, creating it if new;
    /// learns the mapping when the person comes with both ids. Returns the
    /// record's id, or `None` for a person with neither.
    fn change(
        &mut self,
        person: &Person,
        change: impl FnOnce(&mut Contact),
    ) -> Result<Option<String>, EngineError> {
        self.generation += 1;
        if let (Some(pn), Some(lid)) = (&person.pn, &person.lid) {
            self.learn(lid, pn)?;
        }
        let lid = person.lid.as_deref().map(lid_id);
        let key = match (&person.pn, &lid) {
            (Some(pn), _) => pn_id(pn),
            (None, Some(lid)) => self.people.id(lid).unwrap_or(lid).to_owned(),
            (None, None) => return Ok(None),
        };
        let before = self.by_id(&key);
        let mut contact = before.clone().unwrap_or_else(|| Contact {
            id: key.as_str().into(),
            number: person.pn.as_deref().map(RString::from).into(),
            is_wa_contact: true,
            ..Contact::default()
        });
        if contact.lid.is_none()
            && let Some(lid) = lid
        {
            // The person's LID, until now on the record of a number they
            // left (learning folds nothing when neither record exists).
            if lid != key {
                self.release_lid(&lid)?;
            }
            contact.lid = RSome(lid.into());
        }
        change(&mut contact);
        self.put(contact, before)?;
        Ok(Some(key))
    }

    /// A contact saved in the phone's address book (an app-state contact
    /// action, or our own upsert).
    pub(crate) fn saved(
        &mut self,
        person: &Person,
        full_name: Option<&str>,
        first_name: Option<&str>,
    ) -> Result<(), EngineError> {
        self.change(person, |contact| {
            contact.name = full_name.map(RString::from).into();
            contact.short_name = first_name.map(RString::from).into();
            contact.is_my_contact = full_name.is_some() || first_name.is_some();
        })
        .map(drop)
    }

    /// The name a contact chose for themselves.
    pub(crate) fn push_name(&mut self, person: &Person, name: &str) -> Result<(), EngineError> {
        if name.is_empty() {
            return Ok(());
        }
        // Messages repeat the sender's name every time: one that did not
        // change must not cost a save.
        let unchanged = self.is_same(person, |contact| {
            contact.pushname.as_ref().map(RString::as_str) == RSome(name)
        });
        if unchanged {
            return Ok(());
        }
        self.change(person, |contact| contact.pushname = RSome(name.into()))
            .map(drop)
    }

    /// Whether the record of `person` exists, has their LID, and `same`
    /// holds for it.
    fn is_same(&self, person: &Person, same: impl Fn(&Contact) -> bool) -> bool {
        let lid = person.lid.as_deref().map(lid_id);
        let Some(contact) = person.key().and_then(|key| self.people.get(&key)) else {
            return false;
        };
        let lid_known =
            lid.is_none() || contact.lid.as_ref().map(RString::as_str) == lid.as_deref().into();
        lid_known && same(&contact)
    }

    /// The account the session is logged in as.
    pub(crate) fn me(&mut self, person: &Person, push_name: &str) -> Result<(), EngineError> {
        self.push_name(person, push_name)?;
        self.change(person, |contact| contact.is_me = true)
            .map(drop)
    }

    pub(crate) fn set_blocked(
        &mut self,
        person: &Person,
        blocked: bool,
    ) -> Result<(), EngineError> {
        self.change(person, |contact| contact.is_blocked = blocked)
            .map(drop)
    }

    /// Marks exactly `blocked` as blocked, adding those the book does not
    /// have yet.
    pub(crate) fn replace_blocklist(&mut self, blocked: &[Person]) -> Result<(), EngineError> {
        let mut ids = HashSet::with_capacity(blocked.len());
        for person in blocked {
            if let Some(id) = self.change(person, |contact| contact.is_blocked = true)? {
                ids.insert(id);
            }
        }
        let unblocked: Vec<Contact> = (self.people.iter())
            .map(|(contact, ())| contact)
            .filter(|contact| contact.is_blocked && !ids.contains(contact.id.as_str()))
            .collect();
        for contact in unblocked {
            self.generation += 1;
            let before = contact.clone();
            let contact = Contact {
                is_blocked: false,
                ..contact
            };
            self.put(contact, Some(before))?;
        }
        Ok(())
    }

    /// A person changed their phone number: their record moves to the new
    /// number, names and flags kept.
    pub(crate) fn number_changed(&mut self, old: &Person, new: &Person) -> Result<(), EngineError> {
        let Some(new_key) = new.key() else {
            return Ok(());
        };
        let moved = (old.key())
            .and_then(|key| self.people.id(&key).map(str::to_owned))
            .filter(|key| *key != new_key)
            .and_then(|key| self.people.remove(&key));
        self.change(new, |contact| {
            if let Some((mut moved, ())) = moved {
                moved.lid = RNone;
                merge(contact, moved);
            }
        })
        .map(drop)
    }

    /// The book as JSON, to write with [`Book::write`].
    pub(crate) fn snapshot(&self) -> Result<Snapshot, EngineError> {
        let contacts: Vec<Contact> = self.people.iter().map(|(contact, ())| contact).collect();
        let json = serde_json::to_vec_pretty(&contacts).map_err(|err| {
            EngineError::internal(format!("cannot encode the contact book: {err}"))
        })?;
        Ok(Snapshot {
            generation: self.generation,
            json,
        })
    }

    pub(crate) fn dir(&self) -> &Path {
        &self.dir
    }

    /// Writes a snapshot (blocking: call it off the async workers).
    pub(crate) fn write(dir: &Path, snapshot: &Snapshot) -> Result<(), EngineError> {
        write_atomically(dir, FILE_NAME, &snapshot.json).map_err(|err| {
            EngineError::internal(format!(
                "cannot save {}: {err}",
                dir.join(FILE_NAME).display()
            ))
        })
    }
}

/// Saved contacts with each LID on one record: books saved before the
/// book kept one person one contact could give the LID of someone who
/// changed numbers to both their records. The first keeps it; a LID that
/// is another record's id stays that record's.
fn one_lid_each(mut contacts: Vec<Contact>) -> Vec<Contact> {
    let ids: HashSet<String> = contacts.iter().map(|c| c.id.to_string()).collect();
    let mut claimed = HashSet::new();
    for contact in &mut contacts {
        let Some(lid) = contact.lid.as_ref().into_option().map(RString::to_string) else {
            continue;
        };
        if lid != contact.id.as_str() && (ids.contains(&lid) || !claimed.insert(lid)) {
            contact.lid = RNone;
        }
    }
    contacts
}

/// Folds `other` (the same person under another id) into `into`: what
/// `into` knows wins, what only `other` knows is kept.
fn merge(into: &mut Contact, other: Contact) {
    let keep = |mine: &mut wharf_engine_api::ROption<RString>, theirs| {
        if mine.is_none() {
            *mine = theirs;
        }
    };
    keep(&mut into.name, other.name);
    keep(&mut into.pushname, other.pushname);
    keep(&mut into.short_name, other.short_name);
    keep(&mut into.number, other.number);
    into.is_me |= other.is_me;
    into.is_my_contact |= other.is_my_contact;
    into.is_blocked |= other.is_blocked;
    into.is_wa_contact |= other.is_wa_contact;
}

#[cfg(test)]
mod tests {
    use wharf_engine_api::{SortBy, SortOrder};

    use super::*;

    impl Book {
        /// Everyone, by id.
        fn list(&self) -> Vec<Contact> {
            self.page(&ListQuery::default())
        }
    }

    fn pn(number: &str) -> Person {
        Person {
            pn: Some(number.into()),
            lid: None,
        }
    }

    fn lid(user: &str) -> Person {
        Person {
            pn: None,
            lid: Some(user.into()),
        }
    }

    fn book() -> (tempfile::TempDir, Book) {
        let dir = tempfile::tempdir().unwrap();
        let book = Book::load(dir.path()).unwrap();
        (dir, book)
    }

    fn save(book: &Book) {
        Book::write(book.dir(), &book.snapshot().unwrap()).unwrap();
    }

    #[test]
    fn events_build_contacts_and_the_book_survives_a_reload() {
        let (dir, mut book) = book();
        book.saved(&pn("14155550100"), Some("Ada Lovelace"), Some("Ada"))
            .unwrap();
        book.push_name(&pn("14155550100"), "Ada L.").unwrap();
        book.push_name(&pn("14155550101"), "Grace").unwrap();
        book.me(&pn("14155550199"), "Me").unwrap();
        book.replace_blocklist(&[pn("14155550101")]).unwrap();
        save(&book);

        let book = Book::load(dir.path()).unwrap();
        let ada = book.get("14155550100@c.us").unwrap();
        assert_eq!(ada.name.into_option().unwrap(), "Ada Lovelace");
        assert_eq!(ada.short_name.into_option().unwrap(), "Ada");
        assert_eq!(ada.pushname.into_option().unwrap(), "Ada L.");
        assert!(ada.is_my_contact && ada.is_wa_contact && !ada.is_blocked);
        let grace = book.get("14155550101@c.us").unwrap();
        assert!(grace.is_blocked && !grace.is_my_contact);
        assert!(book.get("14155550199@c.us").unwrap().is_me);
        assert_eq!(book.list().len(), 3);
    }

    #[test]
    fn a_lid_only_person_folds_into_the_phone_number_one_keeping_everything() {
        let (dir, mut book) = book();
        book.saved(&pn("14155550100"), Some("Ada Lovelace"), Some("Ada"))
            .unwrap();
        book.push_name(&lid("900"), "Ada L.").unwrap();
        book.set_blocked(&lid("900"), true).unwrap();
        assert_eq!(book.list().len(), 2, "unmapped, the LID is its own contact");
        assert!(book.get("900@lid").unwrap().is_blocked);

        book.learn("900", "14155550100").unwrap();
        let list = book.list();
        assert_eq!(list.len(), 1, "one person, one contact: {list:?}");
        let ada = &list[0];
        assert_eq!(ada.id, "14155550100@c.us");
        assert_eq!(ada.lid.clone().into_option().unwrap(), "900@lid");
        assert_eq!(ada.name.clone().into_option().unwrap(), "Ada Lovelace");
        assert_eq!(ada.pushname.clone().into_option().unwrap(), "Ada L.");
        assert!(ada.is_blocked && ada.is_my_contact);
        assert_eq!(
            book.get("900@lid").as_ref(),
            Some(ada),
            "either id finds them"
        );

        save(&book);
        let reloaded = Book::load(dir.path()).unwrap();
        assert_eq!(reloaded.get("900@lid").unwrap().id, "14155550100@c.us");
    }

    #[test]
    fn a_person_with_both_ids_is_one_contact_whichever_id_comes_first() {
        let (_dir, mut book) = book();
        book.push_name(&lid("900"), "Ada L.").unwrap();
        book.saved(
            &Person {
                pn: Some("14155550100".into()),
                lid: Some("900".into()),
            },
            Some("Ada"),
            None,
        )
        .unwrap();
        book.set_blocked(&lid("900"), true).unwrap();
        let list = book.list();
        assert_eq!(list.len(), 1, "{list:?}");
        assert!(list[0].is_blocked);
        assert_eq!(list[0].pushname.clone().into_option().unwrap(), "Ada L.");
    }

    #[test]
    fn a_blocklist_keyed_by_lid_blocks_the_phone_number_contact() {
        let (_dir, mut book) = book();
        book.saved(
            &Person {
                pn: Some("14155550100".into()),
                lid: Some("900".into()),
            },
            Some("Ada"),
            None,
        )
        .unwrap();
        book.replace_blocklist(&[lid("900")]).unwrap();
        assert!(book.get("14155550100@c.us").unwrap().is_blocked);
        assert_eq!(book.list().len(), 1);
        book.replace_blocklist(&[]).unwrap();
        assert!(!book.get("14155550100@c.us").unwrap().is_blocked);
    }

    #[test]
    fn a_number_change_moves_the_person() {
        let (_dir, mut book) = book();
        book.saved(
            &Person {
                pn: Some("14155550100".into()),
                lid: Some("900".into()),
            },
            Some("Ada"),
            None,
        )
        .unwrap();
        book.number_changed(
            &pn("14155550100"),
            &Person {
                pn: Some("14155550111".into()),
                lid: Some("900".into()),
            },
        )
        .unwrap();
        let list = book.list();
        assert_eq!(list.len(), 1, "{list:?}");
        assert_eq!(list[0].id, "14155550111@c.us");
        assert_eq!(list[0].number.clone().into_option().unwrap(), "14155550111");
        assert_eq!(list[0].name.clone().into_option().unwrap(), "Ada");
        assert_eq!(book.get("900@lid").unwrap().id, "14155550111@c.us");
    }

    #[test]
    fn an_unchanged_push_name_is_not_a_change() {
        let (_dir, mut book) = book();
        book.push_name(&pn("1"), "Ada").unwrap();
        let generation = book.generation();
        book.push_name(&pn("1"), "Ada").unwrap();
        assert_eq!(book.generation(), generation);
    }

    /// `contacts.list` pages from the book's orders exactly what sorting
    /// everyone would, after LID-only people fold into their numbers,
    /// renames (to blank and to nothing, too) and a number change.
    #[test]
    fn pages_agree_with_sorting_everyone_after_folds_and_renames() {
        let (_dir, mut book) = book();
        let number = |n: u32| format!("141555501{n:02}");
        let user = |n: u32| format!("9{n:02}");
        let both = |n: u32| Person {
            pn: Some(number(n)),
            lid: Some(user(n)),
        };
        for n in 0..30 {
            let name = format!("Émile {}", 30 - n);
            match n % 3 {
                0 => book.saved(&pn(&number(n)), Some(&name), None),
                1 => book.push_name(&lid(&user(n)), &format!("ada {n}")),
                _ => book.set_blocked(&pn(&number(n)), true),
            }
            .unwrap();
        }
        // Some LID-only people fold into a saved number, some into a new one.
        for n in (1..20).step_by(3) {
            book.learn(&user(n), &number(n - 1)).unwrap();
        }
        book.learn(&user(22), &number(40)).unwrap();
        for (n, name) in [
            (0, Some("zoë")),
            (3, Some(" ")),
            (6, None),
            (40, Some("Zoe")),
        ] {
            book.saved(&pn(&number(n)), name, name).unwrap();
        }
        book.saved(&both(41), Some("ángel"), None).unwrap();
        book.number_changed(&pn(&number(9)), &both(42)).unwrap();

        let everyone: Vec<Contact> = book.people.iter().map(|(contact, ())| contact).collect();
        // 30, less 7 folded into saved numbers, plus number 41.
        assert_eq!(everyone.len(), 24, "{everyone:#?}");
        for sort_by in [SortBy::Id, SortBy::Name] {
            for sort_order in [SortOrder::Asc, SortOrder::Desc] {
                for (offset, limit) in [(0, None), (0, Some(5)), (7, Some(9)), (20, Some(10))] {
                    let query = ListQuery {
                        limit: limit.into(),
                        offset,
                        sort_by,
                        sort_order,
                    };
                    assert_eq!(
                        book.page(&query),
                        query.apply(everyone.clone()),
                        "{query:?}"
                    );
                }
            }
        }
    }

    /// A person seen under a new number and their LID, before the number
    /// change event: the LID leaves the old number's record.
    #[test]
    fn a_lid_seen_with_a_new_number_leaves_the_old_one() {
        let (_dir, mut book) = book();
        let both = |number: &str| Person {
            pn: Some(number.into()),
            lid: Some("900".into()),
        };
        book.saved(&both("14155550100"), Some("Ada"), None).unwrap();
        book.push_name(&both("14155550111"), "Ada L.").unwrap();
        assert_eq!(book.get("900@lid").unwrap().id, "14155550111@c.us");
        assert!(book.get("14155550100@c.us").unwrap().lid.is_none());
    }

    /// Books saved before one LID was kept on one record still load.
    #[test]
    fn a_book_saved_with_a_lid_on_two_records_loads_with_the_first_keeping_it() {
        let dir = tempfile::tempdir().unwrap();
        let contact = |id: &str, lid: &str| Contact {
            id: id.into(),
            lid: RSome(lid.into()),
            ..Contact::default()
        };
        let saved = [
            contact("14155550100@c.us", "900@lid"),
            contact("14155550111@c.us", "900@lid"),
            contact("14155550122@c.us", "901@lid"),
            contact("901@lid", "901@lid"),
        ];
        let json = serde_json::to_vec(&saved).unwrap();
        std::fs::write(dir.path().join(FILE_NAME), json).unwrap();
        let book = Book::load(dir.path()).unwrap();
        assert_eq!(book.list().len(), 4);
        assert_eq!(book.get("900@lid").unwrap().id, "14155550100@c.us");
        assert!(book.get("14155550111@c.us").unwrap().lid.is_none());
        assert_eq!(book.get("901@lid").unwrap().id, "901@lid");
        assert!(book.get("14155550122@c.us").unwrap().lid.is_none());
    }

    /// A blocklist that only unblocks still changes the book, so it is
    /// saved.
    #[test]
    fn an_unblock_by_blocklist_is_a_change() {
        let (_dir, mut book) = book();
        book.set_blocked(&pn("1"), true).unwrap();
        let generation = book.generation();
        book.replace_blocklist(&[]).unwrap();
        assert!(book.generation() > generation);
        assert!(!book.get("1@c.us").unwrap().is_blocked);
    }

    #[test]
    fn a_corrupt_book_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(FILE_NAME), "[{").unwrap();
        assert!(Book::load(dir.path()).is_err());
    }
}
