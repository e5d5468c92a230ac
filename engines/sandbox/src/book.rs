//! The sandbox's contact book: what WhatsApp would know about the session's
//! contacts, loaded from a JSON fixture and changed by block, unblock and upsert.

use std::{borrow::Cow, collections::HashSet, fmt};

use serde::{
    Deserialize, Deserializer, Serialize, Serializer,
    de::{self, IgnoredAny, MapAccess, SeqAccess, Visitor},
};
use wharf_engine_api::{
    Contact, ContactName, EngineError, LidMapping, ListQuery, NumberExists, ROption, RString,
    support::{ContactBook, whatsapp_variants},
};

/// One contact with the details WhatsApp serves separately: a row of a
/// fixture or of the saved book.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(from = "Row")]
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

/// An [`Entry`] as JSON has it, read field by field: `#[serde(flatten)]`
/// would buffer every field of every contact first, which made loading a
/// 100,000-contact fixture several times slower. [`Contact`] keeps the
/// fields of ABI 2.0 for good, so this list does not go stale.
#[derive(Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
struct Row {
    id: RString,
    number: ROption<RString>,
    name: ROption<RString>,
    pushname: ROption<RString>,
    short_name: ROption<RString>,
    is_me: bool,
    is_group: bool,
    #[serde(rename = "isWAContact")]
    is_wa_contact: bool,
    is_my_contact: bool,
    is_blocked: bool,
    lid: ROption<RString>,
    about: Option<String>,
    #[serde(rename = "profilePictureURL")]
    profile_picture_url: Option<String>,
}

impl From<Row> for Entry {
    fn from(row: Row) -> Self {
        Self {
            contact: Contact {
                id: row.id,
                number: row.number,
                name: row.name,
                pushname: row.pushname,
                short_name: row.short_name,
                is_me: row.is_me,
                is_group: row.is_group,
                is_wa_contact: row.is_wa_contact,
                is_my_contact: row.is_my_contact,
                is_blocked: row.is_blocked,
                lid: row.lid,
                later_fields: Default::default(),
            },
            about: row.about,
            profile_picture_url: row.profile_picture_url,
        }
    }
}

impl Entry {
    fn split(self) -> (Contact, Details) {
        let details = Details::new(self.about, self.profile_picture_url);
        (self.contact, details)
    }

    fn join(contact: Contact, details: &Details) -> Self {
        Self {
            contact,
            about: details.about().map(str::to_owned),
            profile_picture_url: details.profile_picture_url().map(str::to_owned),
        }
    }
}

/// What the book keeps of an entry besides its contact, as compactly as
/// it can: a book may hold 100,000 of them, most with neither text, so
/// those cost one pointer.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Details(Option<Box<DetailTexts>>);

#[derive(Debug, Clone, PartialEq, Eq)]
struct DetailTexts {
    about: Option<Box<str>>,
    profile_picture_url: Option<Box<str>>,
}

impl Details {
    fn new(about: Option<String>, profile_picture_url: Option<String>) -> Self {
        Self((about.is_some() || profile_picture_url.is_some()).then(|| {
            Box::new(DetailTexts {
                about: about.map(String::into_boxed_str),
                profile_picture_url: profile_picture_url.map(String::into_boxed_str),
            })
        }))
    }

    pub fn about(&self) -> Option<&str> {
        self.0.as_ref()?.about.as_deref()
    }

    pub fn profile_picture_url(&self) -> Option<&str> {
        self.0.as_ref()?.profile_picture_url.as_deref()
    }
}

/// The whole book, indexed (by id, LID, name and number) so that finding,
/// listing or changing contacts costs the same at any book size.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Book {
    pub description: String,
    contacts: ContactBook<Details>,
    /// Numbers on WhatsApp that are not in the book, for `check-exists`.
    pub registered: Vec<String>,
    /// The numbers on WhatsApp that the book cannot tell from a contact's
    /// id: the registered ones, and any of a person whose id is not that
    /// number's chat id. The others are looked up in `contacts`, so a
    /// book of 100,000 people does not keep each number twice.
    on_whatsapp: HashSet<Box<str>>,
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

/// Contacts on their way into a book: completed ([`complete`]), their
/// numbers noted ([`note_number`]), and split for the index.
#[derive(Default)]
struct Intake {
    on_whatsapp: HashSet<Box<str>>,
}

impl Intake {
    fn admit(&mut self, mut entry: Entry) -> (Contact, Details) {
        complete(&mut entry.contact);
        note_number(&mut self.on_whatsapp, &entry.contact);
        entry.split()
    }

    fn into_book(self, contacts: ContactBook<Details>) -> Indexed {
        Indexed {
            contacts,
            on_whatsapp: self.on_whatsapp,
        }
    }
}

/// A book's contacts, indexed, with the numbers noted on their way in.
struct Indexed {
    contacts: ContactBook<Details>,
    on_whatsapp: HashSet<Box<str>>,
}

impl Indexed {
    /// Indexes `entries` one at a time, as they are read, making the
    /// checks of [`check`] as they come: those on one contact alone and
    /// the one account here, each person once by the index, which refuses
    /// a LID that is another contact's and replaces a contact whose id
    /// comes twice (so the count tells). `None` when a check fails, without
    /// saying which: [`check`] over the whole list says.
    fn checked(entries: impl Iterator<Item = Entry>) -> Option<Self> {
        let (mut taken, mut me, mut refused) = (0, false, false);
        let mut intake = Intake::default();
        let admitted = entries.map_while(|entry| {
            let contact = &entry.contact;
            if !passes_alone(taken, contact) || (contact.is_me && std::mem::replace(&mut me, true))
            {
                refused = true;
                return None;
            }
            taken += 1;
            Some(intake.admit(entry))
        });
        let mut contacts = ContactBook::new();
        let indexed = contacts.extend_with(admitted);
        (!refused && indexed.is_ok() && contacts.len() == taken).then(|| intake.into_book(contacts))
    }
}

/// A book read from JSON with its contacts indexed as they are read; it
/// fails on anything [`Book::new`] would refuse (and on a field given
/// twice), without saying what: [`Book::parse`] then reads the JSON the
/// plain way to name the problem.
struct Streamed(Book);

/// Why [`Streamed`] failed; [`Book::parse`] finds out what the problem is.
const REFUSED: &str = "a book Book::new refuses";

impl<'de> Deserialize<'de> for Streamed {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_map(StreamedVisitor)
    }
}

struct StreamedVisitor;

impl<'de> Visitor<'de> for StreamedVisitor {
    type Value = Streamed;

    fn expecting(&self, formatter: &mut fmt::Formatter) -> fmt::Result {
        formatter.write_str("a contact book")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Streamed, A::Error> {
        let mut description: Option<String> = None;
        let mut contacts: Option<IndexedContacts> = None;
        let mut registered: Option<Vec<String>> = None;
        while let Some(key) = map.next_key::<String>()? {
            match key.as_str() {
                "description" if description.is_none() => description = Some(map.next_value()?),
                "contacts" if contacts.is_none() => contacts = Some(map.next_value()?),
                "registered" if registered.is_none() => registered = Some(map.next_value()?),
                "description" | "contacts" | "registered" => {
                    return Err(de::Error::custom(REFUSED));
                }
                _ => drop(map.next_value::<IgnoredAny>()?),
            }
        }
        let description = description.unwrap_or_default();
        let registered = registered.unwrap_or_default();
        contacts
            .and_then(|IndexedContacts(contacts)| Book::checked(description, contacts, registered))
            .map(Streamed)
            .ok_or_else(|| de::Error::custom(REFUSED))
    }
}

/// The `contacts` of a [`Streamed`] book.
struct IndexedContacts(Indexed);

impl<'de> Deserialize<'de> for IndexedContacts {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_seq(IndexedContactsVisitor)
    }
}

struct IndexedContactsVisitor;

impl<'de> Visitor<'de> for IndexedContactsVisitor {
    type Value = IndexedContacts;

    fn expecting(&self, formatter: &mut fmt::Formatter) -> fmt::Result {
        formatter.write_str("a list of contacts")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<IndexedContacts, A::Error> {
        let mut unreadable = None;
        let entries = std::iter::from_fn(|| {
            seq.next_element::<Entry>().unwrap_or_else(|err| {
                unreadable = Some(err);
                None
            })
        });
        let indexed = Indexed::checked(entries);
        if let Some(err) = unreadable {
            return Err(err);
        }
        indexed
            .map(IndexedContacts)
            .ok_or_else(|| de::Error::custom(REFUSED))
    }
}

/// The same, as the book writes it.
#[derive(Serialize)]
struct BookFileRef<'a> {
    description: &'a str,
    contacts: Vec<Entry>,
    registered: &'a [String],
}

impl Serialize for Book {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        BookFileRef {
            description: &self.description,
            contacts: self.entries().collect(),
            registered: &self.registered,
        }
        .serialize(serializer)
    }
}

/// The number of `contact` when it is a person on WhatsApp.
fn number_on_whatsapp(contact: &Contact) -> Option<&str> {
    match (contact.is_wa_contact, contact.is_group, &contact.number) {
        (true, false, ROption::RSome(number)) => Some(number.as_str()),
        _ => None,
    }
}

/// Whether `contact`'s id is its number's chat id, so that the book finds
/// the number by it.
fn is_found_by_number(contact: &Contact, number: &str) -> bool {
    contact.id.strip_suffix("@c.us") == Some(number)
}

/// Notes `contact`'s number when it is a person on WhatsApp that the book
/// cannot find by that number (see [`Book::on_whatsapp`]).
fn note_number(on_whatsapp: &mut HashSet<Box<str>>, contact: &Contact) {
    if let Some(number) = number_on_whatsapp(contact)
        && !is_found_by_number(contact, number)
        && !on_whatsapp.contains(number)
    {
        on_whatsapp.insert(number.into());
    }
}

impl Book {
    /// A book of these contacts (in this order) and registered numbers,
    /// or what is wrong with them ([`check`]).
    pub fn new(
        description: String,
        contacts: Vec<Entry>,
        registered: Vec<String>,
    ) -> Result<Self, String> {
        check(&contacts, &registered)?;
        let mut intake = Intake::default();
        let mut book = ContactBook::new();
        // `check` has refused what the contact book would refuse.
        book.extend_with(contacts.into_iter().map(|entry| intake.admit(entry)))
            .map_err(|err| err.message.to_string())?;
        Ok(Self::indexed(
            description,
            intake.into_book(book),
            registered,
        ))
    }

    /// [`Book::indexed`], once the registered numbers pass [`check`].
    fn checked(description: String, contacts: Indexed, registered: Vec<String>) -> Option<Self> {
        (registered.iter().all(|number| is_phone_number(number)))
            .then(|| Self::indexed(description, contacts, registered))
    }

    /// A book of contacts already checked and indexed, with the numbers
    /// [`Intake`] noted.
    fn indexed(description: String, contacts: Indexed, registered: Vec<String>) -> Self {
        let Indexed {
            contacts,
            mut on_whatsapp,
        } = contacts;
        on_whatsapp.extend(registered.iter().map(|number| number.as_str().into()));
        Self {
            description,
            contacts,
            registered,
            on_whatsapp,
        }
    }

    /// How many contacts the book holds.
    pub fn contact_count(&self) -> usize {
        self.contacts.len()
    }

    /// Every entry, in the book's order.
    pub fn entries(&self) -> impl ExactSizeIterator<Item = Entry> {
        (self.contacts.iter()).map(|(contact, details)| Entry::join(contact, details))
    }

    /// The account the session is logged in as, when the book has it.
    pub fn me(&self) -> Option<Contact> {
        self.contacts
            .iter()
            .map(|(contact, _)| contact)
            .find(|c| c.is_me)
    }

    /// Parses and checks a fixture or a saved book. `origin` names the file in errors.
    ///
    /// The contacts go from the JSON straight into the book's index, one
    /// at a time ([`Streamed`]): a large fixture is never also held as a
    /// list of contacts, which took half as much memory again as the
    /// book and left it scattered. A book with a problem is read again the
    /// plain way, which names the problem.
    pub fn parse(json: &str, origin: &str) -> Result<Self, EngineError> {
        if let Ok(Streamed(book)) = serde_json::from_str(json) {
            return Ok(book);
        }
        // serde's message quotes what it could not read, and a fixture may be
        // a file the client should not see: say where and what kind of
        // problem, never what the file holds.
        let file: BookFile = serde_json::from_str(json).map_err(|err| {
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
        Book::new(file.description, file.contacts, file.registered)
            .map_err(|reason| EngineError::invalid_input(format!("{origin}: {reason}")))
    }

    pub fn to_json(&self) -> String {
        // A book is plain data: serializing it cannot fail.
        serde_json::to_string_pretty(self).unwrap_or_default()
    }

    /// A page of the book, as `contacts.list` answers, without sorting it.
    pub fn page(&self, query: &ListQuery) -> Vec<Contact> {
        self.contacts.page(query)
    }

    /// The id under which the book has the person `id` names: `id`
    /// itself, the contact whose LID it is, or, for a Brazilian mobile,
    /// the contact under the number's other form (with or without the 9th
    /// digit), as WhatsApp knows each such number by one of the two.
    ///
    /// Looked up without building a contact: a read resolves its id first.
    fn known_id<'a>(&self, id: &'a str) -> Option<Cow<'a, str>> {
        if self.contacts.extra(id).is_some() {
            return Some(match self.contacts.id_by_lid(id) {
                Some(pn) => Cow::Owned(pn.to_owned()),
                None => Cow::Borrowed(id),
            });
        }
        let number = id.strip_suffix("@c.us")?;
        whatsapp_variants(number)
            .into_iter()
            .skip(1)
            .map(|variant| format!("{variant}@c.us"))
            .find(|variant| self.contacts.extra(variant).is_some())
            .map(Cow::Owned)
    }

    /// The entry of the person `id` names: by their id, their LID, or
    /// their number's other form ([`Book::known_id`]).
    pub fn entry(&self, id: &str) -> Option<Entry> {
        let id = self.known_id(id)?;
        let contact = self.contacts.get(&id)?;
        let details = self.contacts.extra(&id)?;
        Some(Entry::join(contact, details))
    }

    /// A page of the known LIDs with the numbers they stand for, by LID.
    pub fn lids(&self, offset: u32, limit: u32) -> Vec<LidMapping> {
        self.contacts.lids(offset, limit)
    }

    /// How many LIDs the book maps to a number.
    pub fn lid_count(&self) -> u64 {
        self.contacts.lid_count() as u64
    }

    /// The number `lid` stands for, when the book knows it.
    pub fn pn_of(&self, lid: &str) -> LidMapping {
        LidMapping::new(lid, self.contacts.id_by_lid(lid))
    }

    /// The LID of `phone` (digits), when the book knows it, with the
    /// chat id WhatsApp knows the number by.
    pub fn lid_of(&self, phone: &str) -> LidMapping {
        let pn = format!("{phone}@c.us");
        match self.entry(&pn).map(|entry| entry.contact) {
            Some(Contact {
                id,
                lid: ROption::RSome(lid),
                ..
            }) => LidMapping::new(lid, Some(id)),
            Some(contact) => LidMapping::unknown_lid(contact.id),
            None => LidMapping::unknown_lid(pn),
        }
    }

    fn is_registered(&self, number: &str) -> bool {
        self.on_whatsapp.contains(number)
            || (self.contacts.get(&format!("{number}@c.us")))
                .is_some_and(|contact| number_on_whatsapp(&contact) == Some(number))
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
        if let Some(contact) = self.known_id(id).and_then(|id| self.contacts.get(&id)) {
            return Ok(contact);
        }
        let number = self.registered_number(id)?;
        Ok(Contact {
            id: format!("{number}@c.us").into(),
            number: Some(RString::from(number)).into(),
            is_wa_contact: true,
            ..Contact::default()
        })
    }

    /// The number of `id` in the form WhatsApp has it registered, when it
    /// is on WhatsApp (`check-exists`' answer).
    fn registered_number(&self, id: &str) -> Result<String, EngineError> {
        id.strip_suffix("@c.us")
            .and_then(|number| {
                whatsapp_variants(number)
                    .into_iter()
                    .find(|variant| self.is_registered(variant))
            })
            .ok_or_else(|| {
                EngineError::not_found(format!(
                    "{id} is not in the contact book and not on WhatsApp"
                ))
            })
    }

    /// A detail of a contact (about text, picture): `None` when private, and
    /// also for a registered number outside the book, which shares nothing.
    pub fn detail(
        &self,
        id: &str,
        pick: fn(&Details) -> Option<&str>,
    ) -> Result<Option<String>, EngineError> {
        match self.known_id(id).and_then(|id| self.contacts.extra(&id)) {
            Some(details) => Ok(pick(details).map(str::to_owned)),
            None => self.registered_number(id).map(|_| None),
        }
    }

    /// Whether the book can take `entry` (see [`ContactBook::check`]).
    pub fn admits(&self, entry: &Entry) -> Result<(), EngineError> {
        self.contacts.check(&entry.contact)
    }

    /// Puts `entry` in the book: in place of the entry with its id, or at
    /// the end. Changes are computed first ([`Book::blocked`],
    /// [`Book::renamed`]), checked ([`Book::admits`]), saved, and only then
    /// put, so a failed save leaves the book as it was without copying it.
    pub fn put(&mut self, entry: Entry) -> Result<(), EngineError> {
        note_number(&mut self.on_whatsapp, &entry.contact);
        let (contact, details) = entry.split();
        self.contacts.upsert_with(contact, details)
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
            Some(entry) => entry,
            None => Entry {
                contact: self.contact(id)?,
                about: None,
                profile_picture_url: None,
            },
        };
        if entry.contact.is_me {
            return Err(EngineError::invalid_input(format!(
                "contactId: {id} is this session's own account, which cannot block itself"
            )));
        }
        entry.contact.is_blocked = blocked;
        Ok(entry)
    }

    /// The entry of the person `id` names, saved in the address book under
    /// `name`, new if it had none. Only a person whose number is known can
    /// be saved: a LID is saved as the number it stands for.
    pub fn renamed(&self, id: &str, name: &ContactName) -> Result<Entry, EngineError> {
        let found = self.entry(id);
        // A number outside the book is saved in the form WhatsApp knows.
        let registered = found
            .is_none()
            .then(|| self.registered_number(id).ok())
            .flatten()
            .map(|number| format!("{number}@c.us"));
        let id = match (&found, &registered) {
            (Some(entry), _) => entry.contact.id.as_str(),
            (None, Some(registered)) => registered.as_str(),
            (None, None) => id,
        };
        let Some(number) = id.strip_suffix("@c.us") else {
            return Err(EngineError::invalid_input(format!(
                "contactId: {id} is not a phone contact (…@c.us); only those can be saved"
            )));
        };
        let full_name = name.full_name();
        if full_name.is_empty() {
            return Err(EngineError::invalid_input("firstName: must not be empty"));
        }
        let mut entry = match found {
            Some(entry) => entry,
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

/// Checks what the engine relies on, naming the field of the first
/// problem: well-formed, unique ids; a phone contact's `number` is its
/// id's; each person once (a LID is no other contact's id or LID, a
/// contact whose id is a LID has no other LID and no number, and only
/// people have LIDs); one account (`isMe`); registered numbers in digits.
fn check(contacts: &[Entry], registered: &[String]) -> Result<(), String> {
    let mut seen = HashSet::new();
    let mut me = None;
    for (index, entry) in contacts.iter().enumerate() {
        let contact = &entry.contact;
        let (user, server) = id_parts(index, contact)?;
        let id = contact.id.as_str();
        if !seen.insert(id) {
            return Err(format!("contacts[{index}].id: {id:?} appears twice"));
        }
        check_number(index, contact, user, server)?;
        if contact.is_me
            && let Some(first) = me.replace(index)
        {
            return Err(format!(
                "contacts[{index}].isMe: contacts[{first}] is the account already"
            ));
        }
    }
    let mut lids = HashSet::new();
    for (index, entry) in contacts.iter().enumerate() {
        let Some(lid) = check_lid(index, &entry.contact)? else {
            continue;
        };
        if !lids.insert(lid) {
            return Err(format!(
                "contacts[{index}].lid: {lid:?} is another contact's too; a person is one contact"
            ));
        }
    }
    for (index, entry) in contacts.iter().enumerate() {
        let id = entry.contact.id.as_str();
        if id.ends_with("@lid") && entry.contact.lid.is_none() && lids.contains(id) {
            return Err(format!(
                "contacts[{index}].id: {id:?} is another contact's lid; a person is one contact"
            ));
        }
    }
    if let Some(bad) = registered.iter().find(|n| !is_phone_number(n)) {
        return Err(format!(
            "registered: {bad:?} is not a phone number (5 to 15 digits)"
        ));
    }
    Ok(())
}

/// The user and server of contact `index`'s id, when it is a chat id a
/// book may hold.
fn id_parts(index: usize, contact: &Contact) -> Result<(&str, &str), String> {
    let id = contact.id.as_str();
    let field = || format!("contacts[{index}].id");
    let (user, server) = id
        .split_once('@')
        .ok_or_else(|| format!("{}: {id:?} is not a chat id (user@server)", field()))?;
    if user.is_empty() || !matches!(server, "c.us" | "g.us" | "lid") {
        return Err(format!(
            "{}: {id:?} is not a chat id (…@c.us, …@g.us or …@lid)",
            field()
        ));
    }
    if server == "c.us" && !is_phone_number(user) {
        return Err(format!(
            "{}: {id:?} is not a phone number's chat id (5 to 15 digits@c.us)",
            field()
        ));
    }
    Ok((user, server))
}

/// Checks contact `index`'s `number` against its id (`user@server`).
fn check_number(index: usize, contact: &Contact, user: &str, server: &str) -> Result<(), String> {
    let id = contact.id.as_str();
    match (server, contact.number.as_ref().into_option()) {
        ("c.us", Some(number)) if number.as_str() != user => Err(format!(
            "contacts[{index}].number: {number:?} is not the number of {id:?}"
        )),
        ("lid", Some(number)) => Err(format!(
            "contacts[{index}].number: {number:?} on {id:?}: a person whose number is \
             known has that number's chat id as id, and the LID as lid"
        )),
        _ => Ok(()),
    }
}

/// Checks what contact `index`'s `lid` must be whatever the other contacts
/// are: digits@lid, the id itself for a contact known only by LID, and
/// never a group's. Returns the LID.
fn check_lid(index: usize, contact: &Contact) -> Result<Option<&str>, String> {
    let id = contact.id.as_str();
    let Some(lid) = contact.lid.as_ref().into_option() else {
        return Ok(None);
    };
    let field = || format!("contacts[{index}].lid");
    let digits = lid.strip_suffix("@lid").unwrap_or_default();
    if !is_digits(digits) {
        return Err(format!("{}: {lid:?} is not a LID (digits@lid)", field()));
    }
    if id.ends_with("@lid") && id != lid.as_str() {
        return Err(format!(
            "{}: {lid:?} differs from the id {id:?}, a LID itself: a contact known \
             only by LID has that LID as its lid",
            field()
        ));
    }
    if contact.is_group || id.ends_with("@g.us") {
        return Err(format!(
            "{}: {id:?} is a group; only people have LIDs",
            field()
        ));
    }
    Ok(Some(lid.as_str()))
}

/// Whether contact `index` passes the checks of [`check`] that look at it
/// alone; the others (each person once, one account) are left to the
/// caller.
fn passes_alone(index: usize, contact: &Contact) -> bool {
    id_parts(index, contact)
        .and_then(|(user, server)| check_number(index, contact, user, server))
        .and_then(|()| check_lid(index, contact))
        .is_ok()
}

/// Fills in what a contact's id says: a phone contact's number, and a
/// contact known only by LID has its LID as `lid` (as the contract says).
fn complete(contact: &mut Contact) {
    let id = contact.id.clone();
    if let Some(number) = id.strip_suffix("@c.us")
        && contact.number.is_none()
    {
        contact.number = ROption::RSome(number.into());
    }
    if id.ends_with("@lid") && contact.lid.is_none() {
        contact.lid = ROption::RSome(id);
    }
}

fn is_phone_number(s: &str) -> bool {
    is_digits(s) && (5..=15).contains(&s.len())
}

fn is_digits(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit())
}

#[cfg(test)]
mod tests {
    use wharf_engine_api::{SortBy, SortOrder};

    use super::*;

    const DEFAULT: &str = include_str!("../fixtures/default.json");

    fn book() -> Book {
        Book::parse(DEFAULT, "default.json").unwrap()
    }

    #[test]
    fn default_fixture_has_what_the_docs_promise() {
        let book = book();
        let entries: Vec<Entry> = book.entries().collect();
        assert_eq!(entries.len(), book.contact_count());
        assert!(entries.len() >= 50);
        let contacts = || entries.iter().map(|e| &e.contact);
        assert_eq!(contacts().filter(|c| c.is_me).count(), 1);
        assert!(contacts().filter(|c| c.is_group).count() >= 2);
        assert!(contacts().filter(|c| c.is_blocked).count() >= 2);
        assert!(contacts().any(|c| c.name.is_none()));
        assert!(
            entries
                .iter()
                .any(|e| e.about.is_none() && !e.contact.is_group)
        );
        assert!(entries.iter().any(|e| e.profile_picture_url.is_none()));
        assert_eq!(book.me().map(|me| me.is_me), Some(true));
    }

    /// `contacts.list` answers from the book's indexes what sorting the
    /// whole book would, after changes that rename, add and block.
    #[test]
    fn pages_agree_with_sorting_the_whole_book_after_changes() {
        let mut book = book();
        let name = |first: &str| ContactName {
            first_name: first.into(),
            last_name: "".into(),
        };
        for change in [
            book.renamed("14155550100@c.us", &name("Zélie")),
            book.renamed("184216350900100@lid", &name("ada")),
            book.renamed("14155550140@c.us", &name("Émile")),
            book.blocked("14155550101@c.us", true),
        ] {
            book.put(change.unwrap()).unwrap();
        }
        let everyone: Vec<Contact> = book.entries().map(|entry| entry.contact).collect();
        for sort_by in [SortBy::Id, SortBy::Name] {
            for sort_order in [SortOrder::Asc, SortOrder::Desc] {
                for (offset, limit) in [(0, None), (0, Some(7)), (13, Some(20)), (60, Some(5))] {
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
        book.put(added.unwrap()).unwrap();
        let added = book.contact("14155550140@c.us").unwrap();
        assert_eq!(added.name.into_option().unwrap(), "New Person");
        assert!(added.is_my_contact && added.is_wa_contact);
        let renamed = book.renamed("14155550140@c.us", &name("Renamed", ""));
        book.put(renamed.unwrap()).unwrap();
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
        book.put(blocked).unwrap();
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
    fn rejects_books_with_a_person_twice_naming_the_field() {
        let twice = [
            (
                r#"{"contacts":[{"id":"14155550100@c.us","lid":"9@lid"},{"id":"14155550101@c.us","lid":"9@lid"}]}"#,
                "contacts[1].lid",
            ),
            (
                r#"{"contacts":[{"id":"14155550100@c.us","lid":"9@lid"},{"id":"9@lid"}]}"#,
                "contacts[1].id",
            ),
            (
                r#"{"contacts":[{"id":"8@lid","lid":"9@lid"}]}"#,
                "contacts[0].lid",
            ),
            (
                r#"{"contacts":[{"id":"14155550100@c.us","lid":"9"}]}"#,
                "contacts[0].lid",
            ),
            // The number says another person than the id.
            (
                r#"{"contacts":[{"id":"14155550100@c.us","number":"14155550101"}]}"#,
                "contacts[0].number",
            ),
            // A number known for a contact kept under its LID.
            (
                r#"{"contacts":[{"id":"9@lid","number":"14155550100"}]}"#,
                "contacts[0].number",
            ),
            (
                r#"{"contacts":[{"id":"120363000000000001@g.us","isGroup":true,"lid":"9@lid"}]}"#,
                "contacts[0].lid",
            ),
            (
                r#"{"contacts":[{"id":"14155550100@c.us","isMe":true},{"id":"14155550101@c.us","isMe":true}]}"#,
                "contacts[1].isMe",
            ),
            (r#"{"contacts":[{"id":"1234@c.us"}]}"#, "contacts[0].id"),
            (r#"{"contacts":[],"registered":["111"]}"#, "registered"),
        ];
        for (json, field) in twice {
            let err = Book::parse(json, "f.json").unwrap_err();
            assert!(err.message.contains(field), "{json}: {err}");
        }
    }

    #[test]
    fn a_book_fills_in_what_ids_say() {
        let json = r#"{"contacts":[{"id":"9@lid"},{"id":"14155550100@c.us"}]}"#;
        let book = Book::parse(json, "f.json").unwrap();
        assert_eq!(
            book.contact("9@lid").unwrap().lid.into_option().unwrap(),
            "9@lid"
        );
        let phone = book.contact("14155550100@c.us").unwrap();
        assert_eq!(phone.number.into_option().unwrap(), "14155550100");
    }

    #[test]
    fn a_brazilian_mobile_is_one_person_with_or_without_its_ninth_digit() {
        let mut book = book();
        let size = book.contact_count();
        // Ana is in the book with the 9th digit.
        let ana = book.contact("551187654321@c.us").unwrap();
        assert_eq!(ana.id, "5511987654321@c.us");
        assert_eq!(
            book.lid_of("551187654321"),
            LidMapping::new("184216350900321@lid", Some("5511987654321@c.us"))
        );
        let name = ContactName {
            first_name: "Ana".into(),
            last_name: "Dup".into(),
        };
        let renamed = book.renamed("551187654321@c.us", &name).unwrap();
        assert_eq!(renamed.contact.id, "5511987654321@c.us");
        book.put(renamed).unwrap();
        assert_eq!(book.contact_count(), size, "no second Ana");
        // A registered number outside the book, asked in its other form.
        let outside = book.contact("5511976543210@c.us").unwrap();
        assert_eq!(outside.id, "5511976543210@c.us");
        let outside = book.contact("551176543210@c.us").unwrap();
        assert_eq!(outside.id, "5511976543210@c.us");
    }

    #[test]
    fn the_account_cannot_block_itself() {
        let book = book();
        for id in ["14155550199@c.us", "184216350900199@lid"] {
            let err = book.blocked(id, true).unwrap_err();
            assert_eq!(err.kind, wharf_engine_api::ErrorKind::INVALID_INPUT, "{id}");
            assert!(err.message.starts_with("contactId"), "{err}");
        }
    }

    /// [`Book::parse`] reads contacts straight into the index; the book is
    /// the one reading the whole list first made, field for field.
    #[test]
    fn a_book_read_contact_by_contact_is_the_book_read_whole() {
        let odd = r#"{"x": [1], "registered": ["14155550101"], "description": "d",
            "contacts": [{"id": "9@lid"}, {"id": "14155550100@c.us", "lid": "8@lid",
            "isWAContact": true, "about": "hi"}, {"id": "120363000000000009@g.us",
            "number": "14155550177", "isWAContact": true}]}"#;
        for json in [DEFAULT, odd, r#"{"contacts": []}"#] {
            let Ok(Streamed(streamed)) = serde_json::from_str(json) else {
                panic!("{json}");
            };
            let file: BookFile = serde_json::from_str(json).unwrap();
            let whole = Book::new(file.description, file.contacts, file.registered).unwrap();
            assert_eq!(streamed, whole, "{json}");
        }
        // Numbers on WhatsApp, whether the book finds them by id or not.
        let book = Book::parse(odd, "odd.json").unwrap();
        for number in ["14155550100", "14155550101", "14155550177"] {
            assert!(book.check_exists(number).number_exists, "{number}");
        }
        assert!(!book.check_exists("14155550102").number_exists);
    }

    #[test]
    fn rejects_fixtures_with_bad_ids_naming_the_field() {
        let json = r#"{"contacts":[{"id":"14155550100@c.us"},{"id":"14155550100@c.us"}]}"#;
        let err = Book::parse(json, "f.json").unwrap_err();
        assert!(err.message.contains("contacts[1].id"), "{err}");
        let err = Book::parse(r#"{"contacts":[{"id":"abc"}]}"#, "f.json").unwrap_err();
        assert!(err.message.contains("contacts[0].id"), "{err}");
    }
}
