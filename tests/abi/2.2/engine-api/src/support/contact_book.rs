//! An indexed contact book, for engines that keep their contacts in memory.
//!
//! WhatsApp Business accounts and CRMs hold books of 100,000 contacts and
//! more, and REST users page through them. Sorting the whole book for each
//! page ([`ListQuery::apply`] over a copy of every contact) costs hundreds
//! of milliseconds at that size; [`ContactBook`] keeps the orders a page
//! needs, so a page costs the same at any size and any offset.

use std::{
    cmp::Ordering,
    fmt,
    hash::{BuildHasher, RandomState},
    sync::OnceLock,
};

use abi_stable::std_types::{ROption, RString, RVec};
use hashbrown::HashTable;

use crate::{Contact, EngineError, LaterField, LidMapping, ListQuery, SortBy, SortOrder};

/// The text fields of a contact, in the order a [`Record`] keeps them.
const ID: usize = 0;
const NUMBER: usize = 1;
const NAME: usize = 2;
const PUSHNAME: usize = 3;
const SHORT_NAME: usize = 4;
const LID: usize = 5;
const FIELDS: usize = 6;

/// The flags of a contact, as bits of [`Record::flags`].
const IS_ME: u8 = 1;
const IS_GROUP: u8 = 1 << 1;
const IS_WA_CONTACT: u8 = 1 << 2;
const IS_MY_CONTACT: u8 = 1 << 3;
const IS_BLOCKED: u8 = 1 << 4;

/// Contacts, each found by its id or its LID in constant time, listed in
/// the contract's orders ([`ListQuery::apply`]'s, exactly) at the cost of
/// the page alone, and changed one at a time without sorting the others.
///
/// - **One person, one contact.** A contact whose id is its phone number's
///   chat id (`…@c.us`) and whose `lid` is a LID (`…@lid`) is found by
///   either; a contact known only by its LID has the LID as its id. So no
///   contact may have as its `lid` another contact's id or LID, nor as its
///   id another contact's LID: [`ContactBook::upsert_with`] refuses such a
///   contact, naming both, rather than make one person two contacts.
/// - **Pages** ([`ContactBook::page`]) by id or by name, in both
///   directions, at any offset, cost `O(limit)`: the book keeps its
///   contacts sorted by id, the named ones by name ([`crate::compare_names`],
///   then id) and the nameless ones by id.
/// - **Changes** ([`ContactBook::upsert_with`]) find the contact by hash
///   and its places in those orders by binary search; a change that keeps
///   the name and LID (blocking, say) moves nothing. Loading many contacts
///   at once ([`ContactBook::extend_with`]) sorts once, at the end.
/// - **Memory.** A contact's texts share one allocation and its flags one
///   byte, and a named one keeps its name's collation key, so sorting
///   compares bytes; the indexes hold 32-bit positions. A contact costs about a
///   third of a [`Contact`], whose ABI-stable layout is made for crossing
///   the boundary, not for being kept by the hundred thousand.
/// - **Removal** ([`ContactBook::remove`]), when two contacts turn out to
///   be one person, say, sorts nothing either, and the book's memory
///   follows its size however many contacts come and go.
///
/// Each contact carries a `T` of the engine's own (details WhatsApp serves
/// separately, say); [`ContactBook::extra`] finds it by either id.
/// Iteration ([`ContactBook::iter`]) is in the order contacts were first
/// added, which is the order an engine that saves its book keeps, until
/// a removal moves the last contact into the removed one's slot.
#[derive(Clone)]
pub struct ContactBook<T = ()> {
    /// The contacts, in the order they were first added; a position here
    /// (a "slot") changes only when a removal moves the last contact into
    /// the removed one's, so the indexes below hold slots.
    records: Vec<Record<T>>,
    hasher: RandomState,
    /// Every slot, by its contact's id.
    by_id: HashTable<u32>,
    /// The slots of contacts that have a LID other than their id, by LID.
    by_lid: HashTable<u32>,
    /// Every slot, sorted by id.
    id_order: Vec<u32>,
    /// The slots of contacts with a name, sorted by name, then id.
    named: Vec<u32>,
    /// The slots of contacts without a name (or with a blank one), by id.
    nameless: Vec<u32>,
    /// The slots of `by_lid`, sorted by LID, as `lids.list` answers.
    lid_order: Vec<u32>,
}

/// One contact as the book keeps it: its texts in one allocation, its
/// flags in one byte.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Record<T> {
    /// The text fields one after another, in the order of [`ID`]…[`LID`].
    text: Box<str>,
    /// Where each field ends in `text`.
    ends: [u32; FIELDS],
    /// Which fields are present, a bit per field: `None` and `Some("")`
    /// are different answers.
    present: u8,
    flags: u8,
    later_fields: Box<[LaterField]>,
    /// The collation sort key of the sort name (empty without one): bytes
    /// that compare as [`crate::compare_names`]' collation does, computed
    /// once rather than on each of the million comparisons that sorting a
    /// large book makes.
    name_key: Box<[u8]>,
    extra: T,
}

impl<T> Record<T> {
    fn new(contact: Contact, extra: T) -> Result<Self, EngineError> {
        fn optional(field: &ROption<RString>) -> Option<&str> {
            field.as_ref().into_option().map(RString::as_str)
        }
        let fields: [Option<&str>; FIELDS] = [
            Some(contact.id.as_str()),
            optional(&contact.number),
            optional(&contact.name),
            optional(&contact.pushname),
            optional(&contact.short_name),
            optional(&contact.lid),
        ];
        let mut text = String::with_capacity(fields.iter().flatten().map(|f| f.len()).sum());
        let mut ends = [0; FIELDS];
        let mut present = 0;
        for (index, field) in fields.into_iter().enumerate() {
            if let Some(field) = field {
                text.push_str(field);
                present |= 1 << index;
            }
            ends[index] = u32::try_from(text.len()).map_err(|_| {
                EngineError::invalid_input(format!(
                    "contact {}: its texts are longer than 4 GiB",
                    contact.id
                ))
            })?;
        }
        let flags = [
            (contact.is_me, IS_ME),
            (contact.is_group, IS_GROUP),
            (contact.is_wa_contact, IS_WA_CONTACT),
            (contact.is_my_contact, IS_MY_CONTACT),
            (contact.is_blocked, IS_BLOCKED),
        ]
        .into_iter()
        .filter(|(set, _)| *set)
        .fold(0, |flags, (_, bit)| flags | bit);
        let mut record = Self {
            text: text.into_boxed_str(),
            ends,
            present,
            flags,
            later_fields: contact.later_fields.into_iter().collect(),
            name_key: Box::default(),
            extra,
        };
        if let Some(name) = record.sort_name() {
            let mut key = Vec::new();
            let Ok(()) = collator().write_sort_key_to(name, &mut key);
            record.name_key = key.into_boxed_slice();
        }
        Ok(record)
    }

    fn field(&self, index: usize) -> Option<&str> {
        let start = index.checked_sub(1).map_or(0, |before| self.ends[before]);
        (self.present & (1 << index) != 0)
            .then(|| &self.text[start as usize..self.ends[index] as usize])
    }

    fn id(&self) -> &str {
        &self.text[..self.ends[ID] as usize]
    }

    /// The name the contact sorts by, as [`ListQuery::apply`] has it: its
    /// address-book name, unless empty or blank.
    fn sort_name(&self) -> Option<&str> {
        self.field(NAME).filter(|name| !name.trim().is_empty())
    }

    /// The contact's LID when it is not its id: the second id it is found by.
    fn alias(&self) -> Option<&str> {
        self.field(LID).filter(|lid| *lid != self.id())
    }

    fn flag(&self, bit: u8) -> bool {
        self.flags & bit != 0
    }

    fn contact(&self) -> Contact {
        let text = |index| self.field(index).map(RString::from).into();
        Contact {
            id: self.id().into(),
            number: text(NUMBER),
            name: text(NAME),
            pushname: text(PUSHNAME),
            short_name: text(SHORT_NAME),
            is_me: self.flag(IS_ME),
            is_group: self.flag(IS_GROUP),
            is_wa_contact: self.flag(IS_WA_CONTACT),
            is_my_contact: self.flag(IS_MY_CONTACT),
            is_blocked: self.flag(IS_BLOCKED),
            lid: text(LID),
            later_fields: RVec::from(self.later_fields.to_vec()),
        }
    }
}

/// The orders the book keeps, each a total order on the records it holds.
fn by_id<T>(a: &Record<T>, b: &Record<T>) -> Ordering {
    a.id().cmp(b.id())
}

/// By name as [`ListQuery::apply`] sorts named contacts: the collation
/// ([`crate::compare_names`]), then the names' code points, then id. Only
/// for records that have a sort name.
fn by_name<T>(a: &Record<T>, b: &Record<T>) -> Ordering {
    fn name<T>(record: &Record<T>) -> &str {
        record.sort_name().unwrap_or_default()
    }
    (a.name_key.cmp(&b.name_key))
        .then_with(|| name(a).cmp(name(b)))
        .then_with(|| by_id(a, b))
}

/// The collator of [`crate::compare_names`]: the CLDR root collation with
/// the default options (tertiary strength). Its sort keys, compared as
/// bytes, order names as its comparison does (`icu_collator` promises
/// it, and the tests below hold the book to [`ListQuery::apply`]).
fn collator() -> &'static icu_collator::CollatorBorrowed<'static> {
    static COLLATOR: OnceLock<icu_collator::CollatorBorrowed<'static>> = OnceLock::new();
    COLLATOR.get_or_init(|| {
        icu_collator::Collator::try_new(Default::default(), Default::default())
            .expect("the root collation is compiled into icu_collator")
    })
}

/// By LID, as [`LidMapping::page`] sorts. Only for records with an alias.
fn by_alias<T>(a: &Record<T>, b: &Record<T>) -> Ordering {
    a.alias().cmp(&b.alias())
}

/// Puts `slot` in `order`, sorted by `compare`.
fn insert_sorted<T>(
    order: &mut Vec<u32>,
    records: &[Record<T>],
    slot: u32,
    compare: fn(&Record<T>, &Record<T>) -> Ordering,
) {
    let record = &records[slot as usize];
    let at = order.partition_point(|&other| compare(&records[other as usize], record).is_lt());
    order.insert(at, slot);
}

/// Where `slot` is in `order`, sorted by `compare`, while its record is
/// still the one it was sorted by.
fn find_sorted<T>(
    order: &[u32],
    records: &[Record<T>],
    slot: u32,
    compare: fn(&Record<T>, &Record<T>) -> Ordering,
) -> Option<usize> {
    let record = &records[slot as usize];
    (order.binary_search_by(|&other| compare(&records[other as usize], record))).ok()
}

/// Takes `slot` out of `order`, sorted by `compare`, while its record is
/// still the one it was sorted by.
fn remove_sorted<T>(
    order: &mut Vec<u32>,
    records: &[Record<T>],
    slot: u32,
    compare: fn(&Record<T>, &Record<T>) -> Ordering,
) {
    if let Some(at) = find_sorted(order, records, slot, compare) {
        order.remove(at);
    }
}

/// Writes `to` where `order`, sorted by `compare`, holds `from`, while
/// the record at `from` is still the one it was sorted by.
fn reslot_sorted<T>(
    order: &mut [u32],
    records: &[Record<T>],
    (from, to): (u32, u32),
    compare: fn(&Record<T>, &Record<T>) -> Ordering,
) {
    if let Some(at) = find_sorted(order, records, from, compare) {
        order[at] = to;
    }
}

impl<T> Default for ContactBook<T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T> ContactBook<T> {
    /// An empty book.
    pub fn new() -> Self {
        Self {
            records: Vec::new(),
            hasher: RandomState::new(),
            by_id: HashTable::new(),
            by_lid: HashTable::new(),
            id_order: Vec::new(),
            named: Vec::new(),
            nameless: Vec::new(),
            lid_order: Vec::new(),
        }
    }

    /// How many contacts the book holds.
    pub fn len(&self) -> usize {
        self.records.len()
    }

    /// Whether the book holds no contact.
    pub fn is_empty(&self) -> bool {
        self.records.is_empty()
    }

    /// The slot of the contact whose id is `id`.
    fn slot_by_id(&self, id: &str) -> Option<u32> {
        let hash = self.hasher.hash_one(id);
        (self
            .by_id
            .find(hash, |&slot| self.records[slot as usize].id() == id))
        .copied()
    }

    /// The slot of the contact whose LID (other than its id) is `lid`.
    fn slot_by_lid(&self, lid: &str) -> Option<u32> {
        let hash = self.hasher.hash_one(lid);
        (self.by_lid.find(hash, |&slot| {
            self.records[slot as usize].alias() == Some(lid)
        }))
        .copied()
    }

    /// The slot of the contact `id_or_lid` names: by its id, or by its LID.
    fn slot(&self, id_or_lid: &str) -> Option<u32> {
        self.slot_by_id(id_or_lid)
            .or_else(|| self.slot_by_lid(id_or_lid))
    }

    fn record(&self, id_or_lid: &str) -> Option<&Record<T>> {
        Some(&self.records[self.slot(id_or_lid)? as usize])
    }

    /// The id of the contact `id_or_lid` names, without building the
    /// contact: how an engine learns which record an id or a LID is.
    pub fn id(&self, id_or_lid: &str) -> Option<&str> {
        self.record(id_or_lid).map(Record::id)
    }

    /// The contact `id_or_lid` names: by its id, or by its LID.
    pub fn get(&self, id_or_lid: &str) -> Option<Contact> {
        self.record(id_or_lid).map(Record::contact)
    }

    /// The engine's own data of the contact `id_or_lid` names.
    pub fn extra(&self, id_or_lid: &str) -> Option<&T> {
        self.record(id_or_lid).map(|record| &record.extra)
    }

    /// The id of the contact whose LID is `lid`: the phone number's chat
    /// id it stands for. `None` when no contact has `lid` as its LID,
    /// including when a contact known only by its LID has it as its id.
    pub fn id_by_lid(&self, lid: &str) -> Option<&str> {
        let slot = self.slot_by_lid(lid)?;
        Some(self.records[slot as usize].id())
    }

    /// Whether the book can take `contact` ([`ContactBook::upsert_with`]
    /// says why not): it would not make a person two contacts.
    pub fn check(&self, contact: &Contact) -> Result<(), EngineError> {
        let id = contact.id.as_str();
        if let Some(owner) = self.id_by_lid(id) {
            return Err(EngineError::invalid_input(format!(
                "contact {id}: {id} is the LID of {owner}; a person is one contact"
            )));
        }
        let Some(lid) = contact.lid.as_ref().into_option().filter(|lid| *lid != id) else {
            return Ok(());
        };
        let owner = self
            .slot_by_id(lid)
            .or_else(|| self.slot_by_lid(lid))
            .map(|slot| self.records[slot as usize].id())
            .filter(|owner| *owner != id);
        match owner {
            Some(owner) => Err(EngineError::invalid_input(format!(
                "contact {id}: its LID {lid} is {owner}'s already; a person is one contact"
            ))),
            None => Ok(()),
        }
    }

    /// Puts `contact`, with `extra`, in the book: in place of the contact
    /// with its id (which keeps its place in [`ContactBook::iter`]), or as
    /// a new one. A contact the book cannot take ([`ContactBook::check`])
    /// is an error, and the book is left as it was.
    pub fn upsert_with(&mut self, contact: Contact, extra: T) -> Result<(), EngineError> {
        self.check(&contact)?;
        let record = Record::new(contact, extra)?;
        let Some(slot) = self.slot_by_id(record.id()) else {
            let slot = self.push(record)?;
            insert_sorted(&mut self.id_order, &self.records, slot, by_id);
            self.order_name(slot);
            self.order_alias(slot);
            return Ok(());
        };
        let old = &self.records[slot as usize];
        let renamed = old.sort_name() != record.sort_name();
        let realiased = old.alias() != record.alias();
        if renamed {
            self.unorder_name(slot);
        }
        if realiased {
            self.unorder_alias(slot);
            self.unhash_alias(slot);
        }
        self.records[slot as usize] = record;
        if renamed {
            self.order_name(slot);
        }
        if realiased {
            self.hash_alias(slot);
            self.order_alias(slot);
        }
        Ok(())
    }

    /// Puts `contact` in the book as [`ContactBook::upsert_with`] does: a
    /// contact it replaces keeps its `T`, a new one gets `T::default()`.
    pub fn upsert(&mut self, contact: Contact) -> Result<(), EngineError>
    where
        T: Default,
    {
        self.check(&contact)?;
        let extra = match self.slot_by_id(contact.id.as_str()) {
            Some(slot) => std::mem::take(&mut self.records[slot as usize].extra),
            None => T::default(),
        };
        self.upsert_with(contact, extra)
    }

    /// Puts many contacts in the book, as [`ContactBook::upsert_with`]
    /// would one by one, but sorts once at the end: loading a book of
    /// `n` contacts costs `O(n log n)`, not `O(n²)`. At the first contact
    /// the book cannot take, stops and returns its error: the contacts
    /// before it are in the book, it and those after are not.
    pub fn extend_with(
        &mut self,
        entries: impl IntoIterator<Item = (Contact, T)>,
    ) -> Result<(), EngineError> {
        let entries = entries.into_iter();
        self.records.reserve(entries.size_hint().0);
        let mut outcome = Ok(());
        for (contact, extra) in entries {
            outcome = self.put_unordered(contact, extra);
            if outcome.is_err() {
                break;
            }
        }
        self.reorder();
        outcome
    }

    /// Puts `contact` in the records and the hash indexes, not yet in the
    /// orders.
    fn put_unordered(&mut self, contact: Contact, extra: T) -> Result<(), EngineError> {
        self.check(&contact)?;
        let record = Record::new(contact, extra)?;
        match self.slot_by_id(record.id()) {
            Some(slot) => {
                self.unhash_alias(slot);
                self.records[slot as usize] = record;
                self.hash_alias(slot);
            }
            None => {
                self.push(record)?;
            }
        }
        Ok(())
    }

    /// Adds a new contact to the records and the hash indexes.
    fn push(&mut self, record: Record<T>) -> Result<u32, EngineError> {
        let slot = u32::try_from(self.records.len()).map_err(|_| {
            EngineError::invalid_input(format!(
                "contact {}: a book holds at most {} contacts",
                record.id(),
                u32::MAX
            ))
        })?;
        let hash = self.hasher.hash_one(record.id());
        self.records.push(record);
        let (records, hasher) = (&self.records, &self.hasher);
        self.by_id.insert_unique(hash, slot, |&slot| {
            hasher.hash_one(records[slot as usize].id())
        });
        self.hash_alias(slot);
        Ok(slot)
    }

    fn hash_alias(&mut self, slot: u32) {
        let (records, hasher) = (&self.records, &self.hasher);
        if let Some(alias) = records[slot as usize].alias() {
            self.by_lid
                .insert_unique(hasher.hash_one(alias), slot, |&slot| {
                    hasher.hash_one(records[slot as usize].alias().unwrap_or_default())
                });
        }
    }

    fn unhash_alias(&mut self, slot: u32) {
        if let Some(alias) = self.records[slot as usize].alias()
            && let Ok(entry) = self
                .by_lid
                .find_entry(self.hasher.hash_one(alias), |&other| other == slot)
        {
            entry.remove();
        }
    }

    fn order_name(&mut self, slot: u32) {
        if self.records[slot as usize].sort_name().is_some() {
            insert_sorted(&mut self.named, &self.records, slot, by_name);
        } else {
            insert_sorted(&mut self.nameless, &self.records, slot, by_id);
        }
    }

    fn unorder_name(&mut self, slot: u32) {
        if self.records[slot as usize].sort_name().is_some() {
            remove_sorted(&mut self.named, &self.records, slot, by_name);
        } else {
            remove_sorted(&mut self.nameless, &self.records, slot, by_id);
        }
    }

    fn order_alias(&mut self, slot: u32) {
        if self.records[slot as usize].alias().is_some() {
            insert_sorted(&mut self.lid_order, &self.records, slot, by_alias);
        }
    }

    fn unorder_alias(&mut self, slot: u32) {
        if self.records[slot as usize].alias().is_some() {
            remove_sorted(&mut self.lid_order, &self.records, slot, by_alias);
        }
    }

    /// Takes the contact `id_or_lid` names (by its id, or by its LID) out
    /// of the book, with its `T`; its id and LID are free again.
    ///
    /// Nothing is sorted: the contact leaves each order it is in by binary
    /// search and a shift of the 32-bit slots after it (`O(log n)`
    /// comparisons and an `O(n)` memmove, microseconds at 100,000
    /// contacts), and the last contact moves into its slot, which costs
    /// the same again. So slots stay dense and the book's memory follows
    /// the number of contacts, however many come and go; the price is
    /// [`ContactBook::iter`]'s order, in which the moved contact takes the
    /// removed one's place.
    pub fn remove(&mut self, id_or_lid: &str) -> Option<(Contact, T)> {
        let slot = self.slot(id_or_lid)?;
        self.unindex(slot);
        // `records` is not empty: it holds `slot`.
        let last = (self.records.len() - 1) as u32;
        if slot != last {
            self.reslot(last, slot);
        }
        let record = self.records.swap_remove(slot as usize);
        Some((record.contact(), record.extra))
    }

    /// Takes `slot` out of every index, its record still in place.
    fn unindex(&mut self, slot: u32) {
        let hash = self.hasher.hash_one(self.records[slot as usize].id());
        if let Ok(entry) = self.by_id.find_entry(hash, |&other| other == slot) {
            entry.remove();
        }
        self.unhash_alias(slot);
        remove_sorted(&mut self.id_order, &self.records, slot, by_id);
        self.unorder_name(slot);
        self.unorder_alias(slot);
    }

    /// Points every index that holds `from` at `to` instead, before the
    /// record at `from` moves to `to`. Hashes and orders follow from the
    /// record, which does not change, so each entry is found and
    /// rewritten in place.
    fn reslot(&mut self, from: u32, to: u32) {
        let record = &self.records[from as usize];
        let id_hash = self.hasher.hash_one(record.id());
        if let Some(entry) = self.by_id.find_mut(id_hash, |&other| other == from) {
            *entry = to;
        }
        if let Some(alias) = record.alias() {
            let alias_hash = self.hasher.hash_one(alias);
            if let Some(entry) = self.by_lid.find_mut(alias_hash, |&other| other == from) {
                *entry = to;
            }
            reslot_sorted(&mut self.lid_order, &self.records, (from, to), by_alias);
        }
        reslot_sorted(&mut self.id_order, &self.records, (from, to), by_id);
        match record.sort_name() {
            Some(_) => reslot_sorted(&mut self.named, &self.records, (from, to), by_name),
            None => reslot_sorted(&mut self.nameless, &self.records, (from, to), by_id),
        }
    }

    /// Sorts every order afresh, after [`ContactBook::put_unordered`].
    fn reorder(&mut self) {
        let records = &self.records;
        let sorted = |filter: fn(&Record<T>) -> bool,
                      compare: fn(&Record<T>, &Record<T>) -> Ordering| {
            let mut order: Vec<u32> = (0..records.len() as u32)
                .filter(|&slot| filter(&records[slot as usize]))
                .collect();
            order.sort_unstable_by(|&a, &b| compare(&records[a as usize], &records[b as usize]));
            order.shrink_to_fit();
            order
        };
        self.id_order = sorted(|_| true, by_id);
        self.named = sorted(|record| record.sort_name().is_some(), by_name);
        self.nameless = sorted(|record| record.sort_name().is_none(), by_id);
        self.lid_order = sorted(|record| record.alias().is_some(), by_alias);
    }

    /// The page `query` asks for, exactly as [`ListQuery::apply`] would
    /// answer it over every contact of the book, in `O(limit)`.
    pub fn page(&self, query: &ListQuery) -> Vec<Contact> {
        let parts: [&[u32]; 2] = match query.sort_by {
            SortBy::Id => [&self.id_order, &[]],
            // Nameless contacts come after the named ones in both orders.
            SortBy::Name => [&self.named, &self.nameless],
        };
        let mut skip = query.offset as usize;
        let mut left = query.limit.into_option().map_or(usize::MAX, |l| l as usize);
        let mut page = Vec::with_capacity(left.min(self.len().saturating_sub(skip)));
        for part in parts {
            if left == 0 {
                break;
            }
            if skip >= part.len() {
                skip -= part.len();
                continue;
            }
            let take = left.min(part.len() - skip);
            let contact = |&slot: &u32| self.records[slot as usize].contact();
            match query.sort_order {
                SortOrder::Asc => page.extend(part[skip..skip + take].iter().map(contact)),
                SortOrder::Desc => {
                    let end = part.len() - skip;
                    page.extend(part[end - take..end].iter().rev().map(contact));
                }
            }
            left -= take;
            skip = 0;
        }
        page
    }

    /// Every contact with its `T`, in the order they were first added
    /// (but for removals: see [`ContactBook::remove`]).
    pub fn iter(&self) -> impl ExactSizeIterator<Item = (Contact, &T)> {
        self.records
            .iter()
            .map(|record| (record.contact(), &record.extra))
    }

    /// Every contact's id, in [`ContactBook::iter`]'s order, without
    /// building the contacts: what an engine scans its ids with.
    pub fn ids(&self) -> impl ExactSizeIterator<Item = &str> {
        self.records.iter().map(Record::id)
    }

    /// How many contacts have a LID other than their id.
    pub fn lid_count(&self) -> usize {
        self.lid_order.len()
    }

    /// A page of the LIDs contacts have besides their ids, with the id
    /// each stands for, sorted by LID: exactly what [`LidMapping::page`]
    /// answers over all of them, in `O(limit)`.
    pub fn lids(&self, offset: u32, limit: u32) -> Vec<LidMapping> {
        let start = (offset as usize).min(self.lid_order.len());
        self.lid_order[start..]
            .iter()
            .take(limit as usize)
            .filter_map(|&slot| {
                let record = &self.records[slot as usize];
                Some(LidMapping::new(record.alias()?, Some(record.id())))
            })
            .collect()
    }
}

impl<T: PartialEq> PartialEq for ContactBook<T> {
    /// Books are equal when they hold equal contacts in the same order:
    /// the indexes follow from the contacts.
    fn eq(&self, other: &Self) -> bool {
        self.records == other.records
    }
}

impl<T: Eq> Eq for ContactBook<T> {}

impl<T: fmt::Debug> fmt::Debug for ContactBook<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use abi_stable::std_types::ROption::{RNone, RSome};
    use proptest::prelude::*;

    use super::*;

    fn contact(id: &str, name: Option<&str>, lid: Option<&str>) -> Contact {
        Contact {
            id: id.into(),
            name: name.map(RString::from).into(),
            lid: lid.map(RString::from).into(),
            ..Contact::default()
        }
    }

    fn ids(contacts: &[Contact]) -> Vec<&str> {
        contacts.iter().map(|c| c.id.as_str()).collect()
    }

    #[test]
    fn a_contact_comes_back_as_it_went_in() {
        let full = Contact {
            id: "1@c.us".into(),
            number: RSome("1".into()),
            name: RSome("".into()),
            pushname: RSome("Pü".into()),
            short_name: RNone,
            is_me: false,
            is_group: false,
            is_wa_contact: true,
            is_my_contact: false,
            is_blocked: true,
            lid: RSome("9@lid".into()),
            later_fields: RVec::from(vec![LaterField {
                name: "later".into(),
                json: "1".into(),
            }]),
        };
        let mut book = ContactBook::<()>::new();
        book.upsert(full.clone()).unwrap();
        assert_eq!(book.get("1@c.us"), Some(full.clone()));
        assert_eq!(book.get("9@lid"), Some(full));
        assert_eq!(book.get("1"), None);
    }

    #[test]
    fn one_person_is_never_two_contacts() {
        let mut book = ContactBook::<()>::new();
        book.upsert(contact("1@c.us", None, Some("9@lid"))).unwrap();
        book.upsert(contact("8@lid", None, None)).unwrap();
        let refused = [
            contact("9@lid", None, None),
            contact("2@c.us", None, Some("9@lid")),
            contact("2@c.us", None, Some("8@lid")),
        ];
        for contact in refused {
            let err = book.upsert(contact.clone()).unwrap_err();
            assert!(err.message.contains("a person is one contact"), "{err}");
            assert_ne!(book.get(contact.id.as_str()), Some(contact));
        }
        assert_eq!(book.len(), 2);
        // The person may change their LID, and the old one is free again.
        book.upsert(contact("1@c.us", Some("Ann"), Some("7@lid")))
            .unwrap();
        assert_eq!(book.id_by_lid("7@lid"), Some("1@c.us"));
        assert_eq!(book.id_by_lid("9@lid"), None);
        book.upsert(contact("9@lid", None, Some("9@lid"))).unwrap();
        assert_eq!(book.id_by_lid("9@lid"), None);
        assert_eq!(book.len(), 3);
    }

    #[test]
    fn a_replaced_contact_keeps_its_place_and_extra() {
        let mut book = ContactBook::<u8>::new();
        book.extend_with([
            (contact("2@c.us", Some("b"), None), 2),
            (contact("1@c.us", Some("a"), None), 1),
        ])
        .unwrap();
        book.upsert(contact("2@c.us", Some("c"), None)).unwrap();
        book.upsert(contact("0@c.us", None, None)).unwrap();
        let listed: Vec<(String, u8)> = book
            .iter()
            .map(|(contact, &extra)| (contact.id.to_string(), extra))
            .collect();
        assert_eq!(
            listed,
            [
                ("2@c.us".into(), 2),
                ("1@c.us".into(), 1),
                ("0@c.us".into(), 0)
            ]
        );
        assert_eq!(book.extra("2@c.us"), Some(&2));
    }

    #[test]
    fn a_bulk_load_stops_at_the_first_contact_it_cannot_take() {
        let mut book = ContactBook::<()>::new();
        let err = book
            .extend_with([
                (contact("1@c.us", Some("b"), Some("9@lid")), ()),
                (contact("9@lid", Some("a"), None), ()),
                (contact("2@c.us", Some("c"), None), ()),
            ])
            .unwrap_err();
        assert!(err.message.contains("9@lid"), "{err}");
        assert_eq!(book.len(), 1);
        let all = ListQuery {
            sort_by: SortBy::Name,
            ..ListQuery::default()
        };
        assert_eq!(ids(&book.page(&all)), ["1@c.us"]);
    }

    #[test]
    fn a_removed_contact_is_gone_by_either_id_and_frees_both() {
        let mut book = ContactBook::<u8>::new();
        book.extend_with([
            (contact("1@c.us", Some("b"), Some("9@lid")), 1),
            (contact("2@c.us", Some("a"), None), 2),
            (contact("3@c.us", None, Some("8@lid")), 3),
        ])
        .unwrap();
        let (ann, extra) = book.remove("9@lid").unwrap();
        assert_eq!((ann.id.as_str(), extra), ("1@c.us", 1));
        assert_eq!(book.remove("1@c.us"), None);
        assert_eq!((book.get("9@lid"), book.id_by_lid("9@lid")), (None, None));
        // The last contact took the removed one's slot.
        assert_eq!(book.ids().collect::<Vec<_>>(), ["3@c.us", "2@c.us"]);
        assert_eq!(book.id("8@lid"), Some("3@c.us"));
        assert_eq!(book.extra("8@lid"), Some(&3));
        // The LID is free for someone else; the moved contact is listed.
        book.upsert(contact("9@lid", None, None)).unwrap();
        let by_name = ListQuery {
            sort_by: SortBy::Name,
            ..ListQuery::default()
        };
        assert_eq!(ids(&book.page(&by_name)), ["2@c.us", "3@c.us", "9@lid"]);
        assert_eq!(book.lids(0, 10), [LidMapping::new("8@lid", Some("3@c.us"))]);
    }

    /// Contacts that come and go leave nothing behind: the records and
    /// indexes hold as many as the book has at its largest, not as many
    /// as it ever had.
    #[test]
    fn churn_does_not_grow_the_book() {
        let mut book = ContactBook::<()>::new();
        for round in 0..10_000u32 {
            let id = format!("{round}@c.us");
            let lid = format!("{round}@lid");
            let name = format!("n{}", round % 7);
            book.upsert(contact(&id, Some(&name), Some(&lid))).unwrap();
            if round >= 8 {
                let gone = format!("{}@lid", round - 8);
                assert!(book.remove(&gone).is_some(), "{gone}");
            }
        }
        assert_eq!(book.len(), 8);
        let capacities = [
            book.records.capacity(),
            book.by_id.capacity(),
            book.by_lid.capacity(),
            book.id_order.capacity(),
            book.named.capacity(),
            book.nameless.capacity(),
            book.lid_order.capacity(),
        ];
        assert!(capacities.iter().all(|&c| c <= 32), "{capacities:?}");
        let all = ListQuery::default();
        let everyone: Vec<Contact> = book.iter().map(|(contact, _)| contact).collect();
        assert_eq!(book.page(&all), all.apply(everyone));
    }

    /// A change to the book, as an engine makes them.
    #[derive(Debug, Clone)]
    struct Change {
        id: String,
        name: Option<String>,
        lid: Option<String>,
        blocked: bool,
        bulk: bool,
        /// Takes the contact `id` names out, rather than putting one in.
        remove: bool,
    }

    fn change() -> impl Strategy<Value = Change> {
        // Few ids, so that changes replace and rename contacts often.
        let id = prop_oneof![
            (0..12u8).prop_map(|n| format!("{n}@c.us")),
            (0..6u8).prop_map(|n| format!("{n}@lid")),
            (0..3u8).prop_map(|n| format!("{n}@g.us")),
        ];
        let name = proptest::option::of(prop_oneof![
            proptest::sample::select(vec![
                "", " ", "  \t", "ana", "Ana", "Ángel", "angela", "Émile", "émile", "Emil",
                "Emily", "Zoë", "zoe", "Øystein", "Oscar", "bob", "Bob", "ß", "ss", "a b", "ab",
            ])
            .prop_map(str::to_owned),
            "[a-zA-Zéèü ]{0,4}",
        ]);
        let lid = proptest::option::of((0..6u8).prop_map(|n| format!("{n}@lid")));
        let remove = proptest::bool::weighted(0.2);
        (id, name, lid, any::<bool>(), any::<bool>(), remove).prop_map(
            |(id, name, lid, blocked, bulk, remove)| Change {
                id,
                name,
                lid,
                blocked,
                bulk,
                remove,
            },
        )
    }

    fn query() -> impl Strategy<Value = ListQuery> {
        let sort_by = prop_oneof![Just(SortBy::Id), Just(SortBy::Name)];
        let sort_order = prop_oneof![Just(SortOrder::Asc), Just(SortOrder::Desc)];
        let limit = proptest::option::of(0..25u32);
        (limit, 0..25u32, sort_by, sort_order).prop_map(|(limit, offset, sort_by, sort_order)| {
            ListQuery {
                limit: limit.into(),
                offset,
                sort_by,
                sort_order,
            }
        })
    }

    /// What the book must hold: every contact it took, by id, taken by
    /// the rules of one person, one contact.
    #[derive(Default)]
    struct Model(BTreeMap<String, Contact>);

    impl Model {
        fn alias(contact: &Contact) -> Option<&str> {
            let lid = contact.lid.as_ref().into_option()?.as_str();
            (lid != contact.id.as_str()).then_some(lid)
        }

        fn takes(&self, contact: &Contact) -> bool {
            let id = contact.id.as_str();
            let others = || self.0.values().filter(|other| other.id.as_str() != id);
            let id_is_a_lid = others().any(|other| Self::alias(other) == Some(id));
            let lid_is_taken = Self::alias(contact).is_some_and(|lid| {
                others().any(|other| other.id.as_str() == lid || Self::alias(other) == Some(lid))
            });
            !id_is_a_lid && !lid_is_taken
        }

        fn get(&self, id_or_lid: &str) -> Option<&Contact> {
            self.0.get(id_or_lid).or_else(|| {
                self.0
                    .values()
                    .find(|contact| Self::alias(contact) == Some(id_or_lid))
            })
        }

        fn remove(&mut self, id_or_lid: &str) -> Option<Contact> {
            let id = self.get(id_or_lid)?.id.to_string();
            self.0.remove(&id)
        }
    }

    /// Puts `run` in both, one by one when it is one contact and at once
    /// otherwise; the book must take exactly what the model does.
    fn put(
        book: &mut ContactBook,
        model: &mut Model,
        run: &mut Vec<Contact>,
    ) -> Result<(), TestCaseError> {
        if let [contact] = run.as_slice() {
            let taken = model.takes(contact);
            prop_assert_eq!(book.upsert(contact.clone()).is_ok(), taken);
            if taken {
                model.0.insert(contact.id.to_string(), contact.clone());
            }
            run.clear();
            return Ok(());
        }
        let loaded = book.extend_with(run.iter().cloned().map(|c| (c, ())));
        let mut refused = false;
        for contact in run.drain(..) {
            refused = refused || !model.takes(&contact);
            if !refused {
                model.0.insert(contact.id.to_string(), contact);
            }
        }
        prop_assert_eq!(loaded.is_err(), refused);
        Ok(())
    }

    fn name_text() -> impl Strategy<Value = String> {
        prop_oneof![
            // Letters that differ only by accent or case, combining marks,
            // ligatures and spaces: where the collation's levels decide.
            "[aAáÁàeéEÉ\u{301}\u{300}\u{308}ßsSøØoOœŒ ]{0,6}",
            "\\PC{0,6}",
        ]
    }

    proptest! {
        /// The book sorts by collation key; the contract by comparison.
        #[test]
        fn name_keys_order_names_as_compare_names_does(a in name_text(), b in name_text()) {
            let key = |name: &str| {
                let mut key = Vec::new();
                let Ok(()) = collator().write_sort_key_to(name, &mut key);
                key
            };
            prop_assert_eq!(
                key(&a).cmp(&key(&b)).then_with(|| a.cmp(&b)),
                crate::compare_names(&a, &b)
            );
        }

        /// Whatever changes it went through, the book answers every page,
        /// lookup and LID page exactly as sorting all its contacts would.
        #[test]
        fn pages_and_lookups_agree_with_sorting_everything(
            changes in proptest::collection::vec(change(), 1..60),
            queries in proptest::collection::vec(query(), 12),
        ) {
            let mut book = ContactBook::<()>::new();
            let mut model = Model::default();
            // Changes that come in a run are loaded at once, the others
            // one by one; a removal ends a run.
            let mut run = Vec::new();
            for change in changes {
                if change.remove {
                    put(&mut book, &mut model, &mut run)?;
                    let removed = book.remove(&change.id).map(|(contact, ())| contact);
                    prop_assert_eq!(removed, model.remove(&change.id), "{}", change.id);
                    continue;
                }
                run.push(Contact {
                    id: change.id.as_str().into(),
                    name: change.name.map(RString::from).into(),
                    lid: change.lid.map(RString::from).into(),
                    is_blocked: change.blocked,
                    ..Contact::default()
                });
                if !change.bulk {
                    put(&mut book, &mut model, &mut run)?;
                }
            }
            put(&mut book, &mut model, &mut run)?;
            prop_assert_eq!(book.len(), model.0.len());
            let mut ids: Vec<&str> = book.ids().collect();
            ids.sort_unstable();
            prop_assert!(ids.iter().copied().eq(model.0.keys().map(String::as_str)));
            let everyone: Vec<Contact> = model.0.values().cloned().collect();
            for query in &queries {
                prop_assert_eq!(book.page(query), query.apply(everyone.clone()), "{:?}", query);
            }
            for n in 0..12 {
                for key in [format!("{n}@c.us"), format!("{n}@lid"), format!("{n}@g.us")] {
                    let found = book.get(&key);
                    prop_assert_eq!(found.as_ref(), model.get(&key), "{}", key);
                    let id = model.get(&key).map(|contact| contact.id.as_str());
                    prop_assert_eq!(book.id(&key), id, "{}", key);
                }
            }
            let mappings: Vec<LidMapping> = everyone
                .iter()
                .filter_map(|c| Some(LidMapping::new(Model::alias(c)?, Some(c.id.as_str()))))
                .collect();
            prop_assert_eq!(book.lid_count(), mappings.len());
            for query in &queries {
                let (offset, limit) = (query.offset % 4, query.limit.unwrap_or(u32::MAX));
                prop_assert_eq!(
                    book.lids(offset, limit),
                    LidMapping::page(mappings.clone(), offset, limit)
                );
            }
        }
    }
}
