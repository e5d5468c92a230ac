//! The contact book the engine keeps from what the protocol tells it:
//! app-state contact actions (names saved on the phone), push names, the
//! blocklist, and the account itself. Kept in `contacts.json` in the
//! session's data directory.

use std::{
    collections::{BTreeMap, HashSet},
    path::{Path, PathBuf},
};

use wharf_engine_api::{Contact, EngineError, RString, support::write_atomically};

const FILE_NAME: &str = "contacts.json";

pub struct ContactBook {
    dir: PathBuf,
    contacts: BTreeMap<String, Contact>,
    dirty: bool,
}

impl ContactBook {
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
        Ok(Self {
            dir: dir.to_owned(),
            contacts: contacts
                .into_iter()
                .map(|contact| (contact.id.to_string(), contact))
                .collect(),
            dirty: false,
        })
    }

    pub fn list(&self) -> Vec<Contact> {
        self.contacts.values().cloned().collect()
    }

    pub fn get(&self, id: &str) -> Option<Contact> {
        self.contacts.get(id).cloned()
    }

    fn entry(&mut self, id: &str, phone: Option<&str>) -> &mut Contact {
        self.dirty = true;
        self.contacts
            .entry(id.to_owned())
            .or_insert_with(|| Contact {
                id: id.into(),
                number: phone.map(RString::from).into(),
                is_group: id.ends_with("@g.us"),
                is_wa_contact: phone.is_some(),
                ..Contact::default()
            })
    }

    /// A contact saved in the phone's address book (an app-state contact
    /// action, or our own upsert).
    pub fn saved(
        &mut self,
        id: &str,
        phone: Option<&str>,
        full_name: Option<&str>,
        first_name: Option<&str>,
    ) {
        let contact = self.entry(id, phone);
        contact.name = full_name.map(RString::from).into();
        contact.short_name = first_name.map(RString::from).into();
        contact.is_my_contact = full_name.is_some() || first_name.is_some();
    }

    /// The name a contact chose for themselves.
    pub fn push_name(&mut self, id: &str, phone: Option<&str>, name: &str) {
        let contact = self.entry(id, phone);
        contact.pushname = (!name.is_empty()).then(|| RString::from(name)).into();
    }

    /// The account the session is logged in as.
    pub fn me(&mut self, id: &str, phone: Option<&str>, push_name: &str) {
        self.push_name(id, phone, push_name);
        self.entry(id, phone).is_me = true;
    }

    pub fn set_blocked(&mut self, id: &str, phone: Option<&str>, blocked: bool) {
        self.entry(id, phone).is_blocked = blocked;
    }

    /// Marks exactly the contacts in `blocked` as blocked, adding those the
    /// book does not have yet.
    pub fn replace_blocklist(&mut self, blocked: &HashSet<(String, Option<String>)>) {
        let ids: HashSet<&str> = blocked.iter().map(|(id, _)| id.as_str()).collect();
        for contact in self.contacts.values_mut() {
            let now = ids.contains(contact.id.as_str());
            if contact.is_blocked != now {
                contact.is_blocked = now;
                self.dirty = true;
            }
        }
        for (id, phone) in blocked {
            self.set_blocked(id, phone.as_deref(), true);
        }
    }

    /// Writes the book if it changed since the last save.
    pub fn save_if_changed(&mut self) -> Result<(), EngineError> {
        if !self.dirty {
            return Ok(());
        }
        let contacts: Vec<&Contact> = self.contacts.values().collect();
        let json = serde_json::to_vec_pretty(&contacts).map_err(|err| {
            EngineError::internal(format!("cannot encode the contact book: {err}"))
        })?;
        write_atomically(&self.dir, FILE_NAME, &json).map_err(|err| {
            EngineError::internal(format!(
                "cannot save {}: {err}",
                self.dir.join(FILE_NAME).display()
            ))
        })?;
        self.dirty = false;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_build_contacts_and_the_book_survives_a_reload() {
        let dir = tempfile::tempdir().unwrap();
        let mut book = ContactBook::load(dir.path()).unwrap();
        book.saved(
            "14155550100@c.us",
            Some("14155550100"),
            Some("Ada Lovelace"),
            Some("Ada"),
        );
        book.push_name("14155550100@c.us", Some("14155550100"), "Ada L.");
        book.push_name("14155550101@c.us", Some("14155550101"), "Grace");
        book.me("14155550199@c.us", Some("14155550199"), "Me");
        let blocked = HashSet::from([(
            "14155550101@c.us".to_owned(),
            Some("14155550101".to_owned()),
        )]);
        book.replace_blocklist(&blocked);
        book.save_if_changed().unwrap();

        let book = ContactBook::load(dir.path()).unwrap();
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
    fn a_new_blocklist_unblocks_who_is_no_longer_on_it() {
        let dir = tempfile::tempdir().unwrap();
        let mut book = ContactBook::load(dir.path()).unwrap();
        book.set_blocked("1@c.us", Some("1"), true);
        book.replace_blocklist(&HashSet::new());
        assert!(!book.get("1@c.us").unwrap().is_blocked);
    }

    #[test]
    fn a_corrupt_book_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(FILE_NAME), "[{").unwrap();
        assert!(ContactBook::load(dir.path()).is_err());
    }
}
