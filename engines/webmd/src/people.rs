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
    collections::{BTreeMap, HashMap, HashSet},
    path::{Path, PathBuf},
};

use wharf_engine_api::{Contact, EngineError, RSome, RString, support::write_atomically};

const FILE_NAME: &str = "contacts.json";

/// Who an event or a request is about: a phone number, a LID, or both
/// (bare users, digits, no server part).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Person {
    pub pn: Option<String>,
    pub lid: Option<String>,
}

impl Person {
    pub fn key(&self) -> Option<String> {
        match (&self.pn, &self.lid) {
            (Some(pn), _) => Some(pn_id(pn)),
            (None, Some(lid)) => Some(lid_id(lid)),
            (None, None) => None,
        }
    }
}

pub fn pn_id(pn: &str) -> String {
    format!("{pn}@c.us")
}

pub fn lid_id(lid: &str) -> String {
    format!("{lid}@lid")
}

/// The contact book, and the file it is saved in.
pub struct Book {
    dir: PathBuf,
    people: BTreeMap<String, Contact>,
    /// `…@lid` → the id of the record that carries it.
    by_lid: HashMap<String, String>,
    /// Counts changes, so a save knows whether it has anything newer to write.
    generation: u64,
}

/// A book as it was at one moment, to write without holding the book.
pub struct Snapshot {
    pub generation: u64,
    json: Vec<u8>,
}

impl Book {
    /// The book saved in `dir`, or an empty one. A saved book that does not
    /// parse is an error, never silently replaced.
    pub fn load(dir: &Path) -> Result<Self, EngineError> {
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
        let mut book = Self {
            dir: dir.to_owned(),
            people: BTreeMap::new(),
            by_lid: HashMap::new(),
            generation: 0,
        };
        for contact in contacts {
            if let RSome(lid) = &contact.lid {
                book.by_lid.insert(lid.to_string(), contact.id.to_string());
            }
            book.people.insert(contact.id.to_string(), contact);
        }
        Ok(book)
    }

    pub fn generation(&self) -> u64 {
        self.generation
    }

    pub fn list(&self) -> Vec<Contact> {
        self.people.values().cloned().collect()
    }

    /// The id of the record for `id`, which may be either id of the person.
    fn key_for(&self, id: &str) -> Option<&str> {
        if let Some((key, _)) = self.people.get_key_value(id) {
            return Some(key);
        }
        self.by_lid.get(id).map(String::as_str)
    }

    /// The contact `id` (a phone number chat id or a LID) names.
    pub fn get(&self, id: &str) -> Option<Contact> {
        self.key_for(id)
            .and_then(|key| self.people.get(key))
            .cloned()
    }

    /// The LIDs of people the book knows only by LID, to look up.
    pub fn lid_only(&self) -> Vec<String> {
        self.people
            .keys()
            .filter_map(|id| id.strip_suffix("@lid").map(str::to_owned))
            .collect()
    }

    /// Records that `lid` stands for the phone number `pn`: the person's
    /// LID-only record (if any) folds into the phone number one, keeping
    /// the names and flags of both.
    pub fn learn(&mut self, lid: &str, pn: &str) {
        let lid_key = lid_id(lid);
        let pn_key = pn_id(pn);
        if self.by_lid.get(&lid_key) == Some(&pn_key)
            || !(self.people.contains_key(&lid_key) || self.people.contains_key(&pn_key))
        {
            // Known already, or nobody to fold: a record made later learns it.
            return;
        }
        self.generation += 1;
        // A LID that moved (the person changed numbers) leaves its old record.
        if let Some(old) = self.by_lid.remove(&lid_key)
            && old != lid_key
            && let Some(contact) = self.people.get_mut(&old)
        {
            contact.lid = None.into();
        }
        let folded = self.people.remove(&lid_key);
        let record = self
            .people
            .entry(pn_key.clone())
            .or_insert_with(|| Contact {
                id: pn_key.as_str().into(),
                number: RSome(pn.into()),
                is_wa_contact: true,
                ..Contact::default()
            });
        // A phone number that changed LID drops the old alias.
        let replaced = record.lid.clone().into_option();
        record.lid = RSome(lid_key.as_str().into());
        if let Some(folded) = folded {
            merge(record, folded);
        }
        if let Some(replaced) = replaced
            && replaced.as_str() != lid_key
        {
            self.by_lid.remove(replaced.as_str());
        }
        self.by_lid.insert(lid_key, pn_key);
    }

    /// The record of `person`, created if new; learns the mapping when the
    /// person comes with both ids. `None` for a person with neither.
    fn record(&mut self, person: &Person) -> Option<&mut Contact> {
        self.generation += 1;
        if let (Some(pn), Some(lid)) = (&person.pn, &person.lid) {
            self.learn(lid, pn);
        }
        let lid = person.lid.as_deref().map(lid_id);
        let key = match (&person.pn, &lid) {
            (Some(pn), _) => pn_id(pn),
            (None, Some(lid)) => self.by_lid.get(lid).cloned().unwrap_or_else(|| lid.clone()),
            (None, None) => return None,
        };
        let pn = person.pn.as_deref();
        let contact = self.people.entry(key.clone()).or_insert_with(|| Contact {
            id: key.as_str().into(),
            number: pn.map(RString::from).into(),
            is_wa_contact: true,
            ..Contact::default()
        });
        if contact.lid.is_none()
            && let Some(lid) = lid
        {
            contact.lid = RSome(lid.as_str().into());
            self.by_lid.insert(lid, key);
        }
        Some(contact)
    }

    /// A contact saved in the phone's address book (an app-state contact
    /// action, or our own upsert).
    pub fn saved(&mut self, person: &Person, full_name: Option<&str>, first_name: Option<&str>) {
        if let Some(contact) = self.record(person) {
            contact.name = full_name.map(RString::from).into();
            contact.short_name = first_name.map(RString::from).into();
            contact.is_my_contact = full_name.is_some() || first_name.is_some();
        }
    }

    /// The name a contact chose for themselves.
    pub fn push_name(&mut self, person: &Person, name: &str) {
        if name.is_empty() {
            return;
        }
        // Messages repeat the sender's name every time: one that did not
        // change must not cost a save.
        let unchanged = self
            .get_if_same(person, |contact| {
                contact.pushname.as_ref().map(RString::as_str) == RSome(name)
            })
            .is_some();
        if unchanged {
            return;
        }
        if let Some(contact) = self.record(person) {
            contact.pushname = RSome(name.into());
        }
    }

    /// The record of `person` when it exists and `same` holds for it.
    fn get_if_same(&self, person: &Person, same: impl Fn(&Contact) -> bool) -> Option<&Contact> {
        let lid = person.lid.as_deref().map(lid_id);
        let key = person.key()?;
        let contact = self.people.get(self.key_for(&key)?)?;
        let lid_known =
            lid.is_none() || contact.lid.as_ref().map(RString::as_str) == lid.as_deref().into();
        (lid_known && same(contact)).then_some(contact)
    }

    /// The account the session is logged in as.
    pub fn me(&mut self, person: &Person, push_name: &str) {
        self.push_name(person, push_name);
        if let Some(contact) = self.record(person) {
            contact.is_me = true;
        }
    }

    pub fn set_blocked(&mut self, person: &Person, blocked: bool) {
        if let Some(contact) = self.record(person) {
            contact.is_blocked = blocked;
        }
    }

    /// Marks exactly `blocked` as blocked, adding those the book does not
    /// have yet.
    pub fn replace_blocklist(&mut self, blocked: &[Person]) {
        let mut ids = HashSet::with_capacity(blocked.len());
        for person in blocked {
            if let Some(contact) = self.record(person) {
                contact.is_blocked = true;
                ids.insert(contact.id.to_string());
            }
        }
        for (id, contact) in &mut self.people {
            if contact.is_blocked && !ids.contains(id) {
                contact.is_blocked = false;
            }
        }
    }

    /// A person changed their phone number: their record moves to the new
    /// number, names and flags kept.
    pub fn number_changed(&mut self, old: &Person, new: &Person) {
        let Some(new_key) = new.key() else {
            return;
        };
        let moved = old
            .key()
            .and_then(|key| self.key_for(&key).map(str::to_owned))
            .filter(|key| *key != new_key)
            .and_then(|key| self.people.remove(&key));
        if let Some(moved) = &moved
            && let RSome(lid) = &moved.lid
        {
            self.by_lid.remove(lid.as_str());
        }
        if let Some(contact) = self.record(new)
            && let Some(mut moved) = moved
        {
            moved.lid = None.into();
            merge(contact, moved);
        }
    }

    /// The book as JSON, to write with [`Book::write`].
    pub fn snapshot(&self) -> Result<Snapshot, EngineError> {
        let contacts: Vec<&Contact> = self.people.values().collect();
        let json = serde_json::to_vec_pretty(&contacts).map_err(|err| {
            EngineError::internal(format!("cannot encode the contact book: {err}"))
        })?;
        Ok(Snapshot {
            generation: self.generation,
            json,
        })
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Writes a snapshot (blocking: call it off the async workers).
    pub fn write(dir: &Path, snapshot: &Snapshot) -> Result<(), EngineError> {
        write_atomically(dir, FILE_NAME, &snapshot.json).map_err(|err| {
            EngineError::internal(format!(
                "cannot save {}: {err}",
                dir.join(FILE_NAME).display()
            ))
        })
    }
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
    use super::*;

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
        book.saved(&pn("14155550100"), Some("Ada Lovelace"), Some("Ada"));
        book.push_name(&pn("14155550100"), "Ada L.");
        book.push_name(&pn("14155550101"), "Grace");
        book.me(&pn("14155550199"), "Me");
        book.replace_blocklist(&[pn("14155550101")]);
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
        book.saved(&pn("14155550100"), Some("Ada Lovelace"), Some("Ada"));
        book.push_name(&lid("900"), "Ada L.");
        book.set_blocked(&lid("900"), true);
        assert_eq!(book.list().len(), 2, "unmapped, the LID is its own contact");
        assert!(book.get("900@lid").unwrap().is_blocked);

        book.learn("900", "14155550100");
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
        book.push_name(&lid("900"), "Ada L.");
        book.saved(
            &Person {
                pn: Some("14155550100".into()),
                lid: Some("900".into()),
            },
            Some("Ada"),
            None,
        );
        book.set_blocked(&lid("900"), true);
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
        );
        book.replace_blocklist(&[lid("900")]);
        assert!(book.get("14155550100@c.us").unwrap().is_blocked);
        assert_eq!(book.list().len(), 1);
        book.replace_blocklist(&[]);
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
        );
        book.number_changed(
            &pn("14155550100"),
            &Person {
                pn: Some("14155550111".into()),
                lid: Some("900".into()),
            },
        );
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
        book.push_name(&pn("1"), "Ada");
        let generation = book.generation();
        book.push_name(&pn("1"), "Ada");
        assert_eq!(book.generation(), generation);
    }

    #[test]
    fn a_corrupt_book_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(FILE_NAME), "[{").unwrap();
        assert!(Book::load(dir.path()).is_err());
    }
}
