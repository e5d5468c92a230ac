//! The sandbox's contact book: what WhatsApp would know about the session's
//! contacts, loaded from a JSON fixture and changed by block, unblock and upsert.

use std::collections::{HashMap, HashSet};

use serde::{Deserialize, Serialize};
use wharf_engine_api::{
    Contact, ContactName, EngineError, LidMapping, NumberExists, RString,
    support::whatsapp_variants,
};

/// One contact with the details WhatsApp serves separately.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    #[serde(flatten)]
    pub contact: Contact,
    /// `None` when the contact keeps it private.
    #[serde(default)]
    pub about: Option<String>,
    /// `None` when the contact keeps it private or has none.
    #[serde(default, rename = "profilePictureURL")]
    pub profile_picture_url: Option<String>,
}

/// The whole book, in the fixture's format, with an index so that finding
/// or changing one contact costs the same at any book size.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(from = "BookFile")]
pub struct Book {
    pub description: String,
    contacts: Vec<Entry>,
    /// Numbers on WhatsApp that are not in the book, for `check-exists`.
    pub registered: Vec<String>,
    #[serde(skip)]
    index: Index,
}

/// A book as a fixture or a saved file has it, before it is indexed.
#[derive(Deserialize)]
struct BookFile {
    #[serde(default)]
    description: String,
    contacts: Vec<Entry>,
    #[serde(default)]
    registered: Vec<String>,
}

impl From<BookFile> for Book {
    fn from(file: BookFile) -> Self {
        Book::new(file.description, file.contacts, file.registered)
    }
}

/// Where each contact is, by its id and by its LID, and which numbers are
/// on WhatsApp.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct Index {
    by_id: HashMap<String, usize>,
    /// The contacts whose id is their number and who have a LID too.
    by_lid: HashMap<String, usize>,
    on_whatsapp: HashSet<String>,
}

impl Index {
    fn add(&mut self, position: usize, entry: &Entry) {
        let contact = &entry.contact;
        self.by_id.insert(contact.id.to_string(), position);
        if let Some(lid) = contact.lid.as_ref().into_option()
            && lid != &contact.id
        {
            self.by_lid.insert(lid.to_string(), position);
        }
        if let (true, false, Some(number)) = (
            contact.is_wa_contact,
            contact.is_group,
            contact.number.as_ref().into_option(),
        ) {
            self.on_whatsapp.insert(number.to_string());
        }
    }
}

impl Book {
    /// A book of these contacts (in this order) and registered numbers.
    pub fn new(description: String, contacts: Vec<Entry>, registered: Vec<String>) -> Self {
        let mut index = Index::default();
        for (position, entry) in contacts.iter().enumerate() {
            index.add(position, entry);
        }
        index.on_whatsapp.extend(registered.iter().cloned());
        Self {
            description,
            contacts,
            registered,
            index,
        }
    }

    /// Every entry, in the book's order.
    pub fn entries(&self) -> &[Entry] {
        &self.contacts
    }

    /// Parses and checks a fixture or a saved book. `origin` names the file in errors.
    pub fn parse(json: &str, origin: &str) -> Result<Self, EngineError> {
        // serde's message quotes what it could not read, and a fixture may be
        // a file the client should not see: say where and what kind of
        // problem, never what the file holds.
        let book: Book = serde_json::from_str(json).map_err(|err| {
            let problem = match err.classify() {
                serde_json::error::Category::Io | serde_json::error::Category::Syntax => {
                    "is not valid JSON"
                }
                serde_json::error::Category::Eof => "ends too soon",
                serde_json::error::Category::Data => "is not a contact book",
            };
            EngineError::invalid_input(format!(
                "{origin}: {problem} (line {}, column {})",
                err.line(),
                err.column()
            ))
        })?;
        book.check()
            .map_err(|reason| EngineError::invalid_input(format!("{origin}: {reason}")))?;
        Ok(book)
    }

    /// Checks what the engine relies on: well-formed, unique ids, each
    /// person once (a LID is no other contact's id or LID, and a contact
    /// whose id is a LID has no other), and registered numbers in digits.
    pub(crate) fn check(&self) -> Result<(), String> {
        let mut seen = HashSet::new();
        let mut lids = HashSet::new();
        for (index, entry) in self.contacts.iter().enumerate() {
            let id = entry.contact.id.as_str();
            if let Some(lid) = entry.contact.lid.as_ref().into_option() {
                let field = format!("contacts[{index}].lid");
                let digits = lid.strip_suffix("@lid").unwrap_or_default();
                if !is_digits(digits) {
                    return Err(format!("{field}: {lid:?} is not a LID (digits@lid)"));
                }
                if id.ends_with("@lid") && id != lid.as_str() {
                    return Err(format!("{field}: {id:?} is a LID and cannot have another"));
                }
                if !id.ends_with("@c.us") && !id.ends_with("@lid") {
                    return Err(format!(
                        "{field}: {id:?} is not a person, who alone have LIDs"
                    ));
                }
                if !lids.insert(lid.as_str()) {
                    return Err(format!(
                        "{field}: {lid:?} is another contact's too; a person is one contact"
                    ));
                }
            }
        }
        for (index, entry) in self.contacts.iter().enumerate() {
            let id = entry.contact.id.as_str();
            let field = format!("contacts[{index}].id");
            if id.ends_with("@lid") && entry.contact.lid.is_none() && lids.contains(id) {
                return Err(format!(
                    "{field}: {id:?} is another contact's lid; a person is one contact"
                ));
            }
            let (user, server) = id
                .split_once('@')
                .ok_or_else(|| format!("{field}: {id:?} is not a chat id (user@server)"))?;
            if user.is_empty() || !matches!(server, "c.us" | "g.us" | "lid") {
                return Err(format!(
                    "{field}: {id:?} is not a chat id (…@c.us, …@g.us or …@lid)"
                ));
            }
            if !seen.insert(id) {
                return Err(format!("{field}: {id:?} appears twice"));
            }
        }
        if let Some(bad) = self.registered.iter().find(|n| !is_digits(n)) {
            return Err(format!(
                "registered: {bad:?} is not a phone number in digits"
            ));
        }
        Ok(())
    }

    pub fn to_json(&self) -> String {
        // A book is plain data: serializing it cannot fail.
        serde_json::to_string_pretty(self).unwrap_or_default()
    }

    pub fn contacts(&self) -> Vec<Contact> {
        self.contacts.iter().map(|e| e.contact.clone()).collect()
    }

    /// The entry of the person `id` names: by their id, or by their LID.
    pub fn entry(&self, id: &str) -> Option<&Entry> {
        (self.index.by_id.get(id))
            .or_else(|| self.index.by_lid.get(id))
            .and_then(|&position| self.contacts.get(position))
    }

    /// Every known LID with the number it stands for, in no order.
    pub fn lid_mappings(&self) -> Vec<LidMapping> {
        (self.index.by_lid.iter())
            .filter_map(|(lid, &position)| {
                let pn = &self.contacts.get(position)?.contact.id;
                Some(LidMapping::new(lid.as_str(), Some(pn.clone())))
            })
            .collect()
    }

    /// How many LIDs the book maps to a number.
    pub fn lid_count(&self) -> u64 {
        self.index.by_lid.len() as u64
    }

    /// The number `lid` stands for, when the book knows it.
    pub fn pn_of(&self, lid: &str) -> LidMapping {
        let pn = (self.index.by_lid.get(lid))
            .and_then(|&position| self.contacts.get(position))
            .map(|entry| entry.contact.id.clone());
        LidMapping::new(lid, pn)
    }

    /// The LID of `phone` (digits), when the book knows it.
    pub fn lid_of(&self, phone: &str) -> LidMapping {
        let pn = format!("{phone}@c.us");
        match self
            .entry(&pn)
            .and_then(|e| e.contact.lid.as_ref().into_option())
        {
            Some(lid) => LidMapping::new(lid.clone(), Some(pn)),
            None => LidMapping::unknown_lid(pn),
        }
    }

    fn is_registered(&self, number: &str) -> bool {
        self.index.on_whatsapp.contains(number)
    }

    /// Whether `phone` (digits) is on WhatsApp, and under which chat id.
    pub fn check_exists(&self, phone: &str) -> NumberExists {
        let found = whatsapp_variants(phone)
            .into_iter()
            .find(|variant| self.is_registered(variant));
        NumberExists {
            number_exists: found.is_some(),
            chat_id: found
                .map(|number| RString::from(format!("{number}@c.us")))
                .into(),
        }
    }

    /// The contact `id` names (by id or LID), or what WhatsApp shows for a
    /// registered number that is not in the book.
    pub fn contact(&self, id: &str) -> Result<Contact, EngineError> {
        if let Some(entry) = self.entry(id) {
            return Ok(entry.contact.clone());
        }
        let number = self.registered_number(id)?;
        Ok(Contact {
            id: id.into(),
            number: Some(RString::from(number)).into(),
            is_wa_contact: true,
            ..Contact::default()
        })
    }

    fn registered_number<'a>(&self, id: &'a str) -> Result<&'a str, EngineError> {
        match id.strip_suffix("@c.us") {
            Some(number) if self.is_registered(number) => Ok(number),
            _ => Err(EngineError::not_found(format!(
                "{id} is not in the contact book and not on WhatsApp"
            ))),
        }
    }

    /// A detail of a contact (about text, picture): `None` when private, and
    /// also for a registered number outside the book, which shares nothing.
    pub fn detail(
        &self,
        id: &str,
        pick: impl Fn(&Entry) -> Option<String>,
    ) -> Result<Option<String>, EngineError> {
        match self.entry(id) {
            Some(entry) => Ok(pick(entry)),
            None => self.registered_number(id).map(|_| None),
        }
    }

    /// Puts `entry` in the book: in place of the entry with its id, or at
    /// the end. Changes are computed first ([`Book::blocked`],
    /// [`Book::renamed`]), saved, and only then put, so a failed save
    /// leaves the book as it was without copying it.
    pub fn put(&mut self, entry: Entry) {
        match self.index.by_id.get(entry.contact.id.as_str()) {
            Some(&position) => {
                self.index.add(position, &entry);
                self.contacts[position] = entry;
            }
            None => {
                self.index.add(self.contacts.len(), &entry);
                self.contacts.push(entry);
            }
        }
    }

    /// The entry of the person `id` names, blocked or unblocked; a
    /// registered number outside the book gets an entry, as WhatsApp keeps
    /// blocked numbers on the list.
    pub fn blocked(&self, id: &str, blocked: bool) -> Result<Entry, EngineError> {
        if id.ends_with("@g.us") {
            return Err(EngineError::invalid_input(format!(
                "contactId: {id} is a group; groups cannot be blocked"
            )));
        }
        let mut entry = match self.entry(id) {
            Some(entry) => entry.clone(),
            None => Entry {
                contact: self.contact(id)?,
                about: None,
                profile_picture_url: None,
            },
        };
        entry.contact.is_blocked = blocked;
        Ok(entry)
    }

    /// The entry of the person `id` names, saved in the address book under
    /// `name`, new if it had none. Only a person whose number is known can
    /// be saved: a LID is saved as the number it stands for.
    pub fn renamed(&self, id: &str, name: &ContactName) -> Result<Entry, EngineError> {
        let id = self.entry(id).map_or(id, |entry| entry.contact.id.as_str());
        let Some(number) = id.strip_suffix("@c.us") else {
            return Err(EngineError::invalid_input(format!(
                "contactId: {id} is not a phone contact (…@c.us); only those can be saved"
            )));
        };
        let full_name = name.full_name();
        if full_name.is_empty() {
            return Err(EngineError::invalid_input("firstName: must not be empty"));
        }
        let mut entry = match self.entry(id) {
            Some(entry) => entry.clone(),
            None => Entry {
                contact: Contact {
                    id: id.into(),
                    number: Some(RString::from(number)).into(),
                    is_wa_contact: self.is_registered(number),
                    ..Contact::default()
                },
                about: None,
                profile_picture_url: None,
            },
        };
        let short_name = if name.first_name.trim().is_empty() {
            name.last_name.trim()
        } else {
            name.first_name.trim()
        };
        entry.contact.name = Some(RString::from(full_name)).into();
        entry.contact.short_name = Some(RString::from(short_name)).into();
        entry.contact.is_my_contact = true;
        Ok(entry)
    }
}

fn is_digits(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit())
}

#[cfg(test)]
mod tests {
    use super::*;

    const DEFAULT: &str = include_str!("../fixtures/default.json");

    fn book() -> Book {
        Book::parse(DEFAULT, "default.json").unwrap()
    }

    #[test]
    fn default_fixture_has_what_the_docs_promise() {
        let book = book();
        let contacts = book.contacts();
        assert!(contacts.len() >= 50);
        assert_eq!(contacts.iter().filter(|c| c.is_me).count(), 1);
        assert!(contacts.iter().filter(|c| c.is_group).count() >= 2);
        assert!(contacts.iter().filter(|c| c.is_blocked).count() >= 2);
        assert!(contacts.iter().any(|c| c.name.is_none()));
        assert!(
            book.contacts
                .iter()
                .any(|e| e.about.is_none() && !e.contact.is_group)
        );
        assert!(
            book.contacts
                .iter()
                .any(|e| e.profile_picture_url.is_none())
        );
    }

    #[test]
    fn brazilian_numbers_resolve_to_the_form_whatsapp_knows() {
        let book = book();
        // Registered with the 9th digit, asked without it.
        assert_eq!(
            book.check_exists("551187654321")
                .chat_id
                .into_option()
                .unwrap(),
            "5511987654321@c.us"
        );
        // Registered without the 9th digit, asked with it.
        assert_eq!(
            book.check_exists("5511987654322")
                .chat_id
                .into_option()
                .unwrap(),
            "551187654322@c.us"
        );
        // Asked in the registered form.
        assert_eq!(
            book.check_exists("551187654322")
                .chat_id
                .into_option()
                .unwrap(),
            "551187654322@c.us"
        );
        let missing = book.check_exists("5511900000000");
        assert!(!missing.number_exists);
        assert!(missing.chat_id.is_none());
    }

    #[test]
    fn unknown_numbers_outside_the_book_are_not_found() {
        let book = book();
        assert_eq!(
            book.contact("19999999999@c.us").unwrap_err().kind,
            wharf_engine_api::ErrorKind::NOT_FOUND
        );
        let registered = book.contact("14155550140@c.us").unwrap();
        assert!(registered.is_wa_contact && !registered.is_my_contact);
    }

    #[test]
    fn upsert_adds_then_renames() {
        let mut book = book();
        let name = |first: &str, last: &str| ContactName {
            first_name: first.into(),
            last_name: last.into(),
        };
        let added = book.renamed("14155550140@c.us", &name("New", "Person"));
        book.put(added.unwrap());
        let added = book.contact("14155550140@c.us").unwrap();
        assert_eq!(added.name.into_option().unwrap(), "New Person");
        assert!(added.is_my_contact && added.is_wa_contact);
        let renamed = book.renamed("14155550140@c.us", &name("Renamed", ""));
        book.put(renamed.unwrap());
        let renamed = book.contact("14155550140@c.us").unwrap();
        assert_eq!(renamed.short_name.into_option().unwrap(), "Renamed");
        assert!(
            book.renamed("120363021234567890@g.us", &name("x", ""))
                .is_err()
        );
    }

    #[test]
    fn a_person_is_found_and_changed_by_number_or_lid() {
        let mut book = book();
        let ada = book.contact("184216350900100@lid").unwrap();
        assert_eq!(ada.id, "14155550100@c.us");
        let blocked = book.blocked("184216350900100@lid", true).unwrap();
        assert_eq!(blocked.contact.id, "14155550100@c.us");
        book.put(blocked);
        assert!(book.contact("14155550100@c.us").unwrap().is_blocked);
        let name = ContactName {
            first_name: "Augusta".into(),
            last_name: "".into(),
        };
        let renamed = book.renamed("184216350900100@lid", &name).unwrap();
        assert_eq!(renamed.contact.id, "14155550100@c.us");
        let lid_only = book.renamed("184216350900201@lid", &name).unwrap_err();
        assert_eq!(lid_only.kind, wharf_engine_api::ErrorKind::INVALID_INPUT);

        assert_eq!(book.lid_count(), 6);
        let ada = LidMapping::new("184216350900100@lid", Some("14155550100@c.us"));
        assert_eq!(book.pn_of("184216350900100@lid"), ada);
        assert_eq!(book.lid_of("14155550100"), ada);
        assert!(book.pn_of("184216350900201@lid").pn.is_none());
        assert!(book.lid_of("14155550102").lid.is_none());
    }

    #[test]
    fn rejects_books_with_a_person_twice() {
        let twice = [
            r#"{"contacts":[{"id":"1@c.us","lid":"9@lid"},{"id":"2@c.us","lid":"9@lid"}]}"#,
            r#"{"contacts":[{"id":"1@c.us","lid":"9@lid"},{"id":"9@lid"}]}"#,
            r#"{"contacts":[{"id":"8@lid","lid":"9@lid"}]}"#,
            r#"{"contacts":[{"id":"1@c.us","lid":"9"}]}"#,
        ];
        for json in twice {
            let err = Book::parse(json, "f.json").unwrap_err();
            assert!(err.message.contains("contacts["), "{json}: {err}");
        }
    }

    #[test]
    fn rejects_fixtures_with_bad_ids_naming_the_field() {
        let json = r#"{"contacts":[{"id":"1@c.us"},{"id":"1@c.us"}]}"#;
        let err = Book::parse(json, "f.json").unwrap_err();
        assert!(err.message.contains("contacts[1].id"), "{err}");
        let err = Book::parse(r#"{"contacts":[{"id":"abc"}]}"#, "f.json").unwrap_err();
        assert!(err.message.contains("contacts[0].id"), "{err}");
    }
}
