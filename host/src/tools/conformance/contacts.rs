//! The contacts checks. Each answer is held against what the engine
//! answers elsewhere: a write against what get and list show afterwards,
//! get against list, check-exists against the book, so an engine that
//! answers in the right shape but wrongly fails.
//!
//! Conformance writes only to a contact it creates itself, on a number no
//! one can have ([`Fictional`]): it creates and renames it with
//! `contacts.upsert`, then blocks and unblocks it. Without upsert (or with
//! `--read-only`) it writes nothing, and block and unblock go unchecked.
//! The plan is printed before the first session opens, and the writes made
//! are listed at the end of the report.

use std::{collections::HashMap, fmt, hash::BuildHasher, time::SystemTime};

use serde_json::{Map, Value};
use wharf_engine_api::{
    Contact, ContactChange, ContactName, ErrorKind, ListQuery, NumberExists, RSome, RString,
    SortBy, SortOrder,
};

mod events;
mod lids;

use super::{Checker, Report, Verdict, describe};
use crate::{
    dispatch::CallError,
    engines::{Group, Operation},
    http::contact_id::parse_contact_id,
};

const LIST: Operation = Operation::ContactsList;
const GET: Operation = Operation::ContactsGet;
const CHECK_EXISTS: Operation = Operation::ContactsCheckExists;
const ABOUT: Operation = Operation::ContactsAbout;
const PICTURE: Operation = Operation::ContactsProfilePicture;
const BLOCK: Operation = Operation::ContactsBlock;
const UNBLOCK: Operation = Operation::ContactsUnblock;
const UPSERT: Operation = Operation::ContactsUpsert;

const GET_UNKNOWN: &str = "contacts.get, ids no one has";
const GET_KNOWN: &str = "contacts.get, a contact it has";
const EXISTS_NOBODY: &str = "contacts.check_exists, numbers no one has";
const EXISTS_CONTACT: &str = "contacts.check_exists, a contact's number";
const UPSERT_NEW: &str = "contacts.upsert, a new contact";
const UPSERT_RENAME: &str = "contacts.upsert, a rename";
const UPSERT_BLOCKED: &str = "contacts.upsert, a blocked contact";
const AGREEMENT: &str = "contacts.list agrees with contacts.get";
const LIST_AFTER: &str = "contacts.list, after the writes";
const OTHERS_UNCHANGED: &str = "contacts conformance did not create are unchanged";

const ONLY_OWN: &str = "and conformance writes only to a contact it creates itself";

/// The writes conformance made to its own contact.
struct Writes {
    /// The contact's id.
    own: String,
    /// The changes the writes made that showed on reads, in order.
    changes: Vec<ContactChange>,
}

/// How many listed contacts (the first, by id) are compared with get.
const AGREEMENT_PAGE: usize = 20;

/// The names conformance gives its contact, first when it creates it,
/// then when it renames it. An accent and a lower-case initial make the
/// name order checked afterwards the collation's ([`ListQuery::apply`]),
/// not the bytes'.
const FIRST_NAME: &str = "Émile";
const NEW_FIRST_NAME: &str = "zoë";
const LAST_NAME: &str = "Wharf Conformance";

fn own_name(first_name: &str) -> ContactName {
    ContactName {
        first_name: first_name.into(),
        last_name: LAST_NAME.into(),
    }
}

/// Numbers no one can have, new on each run: North American numbers (+1)
/// whose area code starts with 0 or 1, as none does. The other nine digits
/// are random, so an engine cannot single these numbers out, and a contact
/// an earlier run left behind is never written to again.
pub(super) struct Fictional {
    /// The chat id of the contact conformance creates: `10…@c.us`.
    pub(super) own: String,
    /// A chat id conformance only asks about: `11…@c.us`.
    pub(super) absent: String,
}

impl Fictional {
    pub(super) fn new() -> Self {
        let random = |prefix: &str| {
            let seed = (prefix, std::process::id(), SystemTime::now());
            let digits = std::collections::hash_map::RandomState::new().hash_one(seed);
            format!("{prefix}{:09}@c.us", digits % 1_000_000_000)
        };
        Self {
            own: random("10"),
            absent: random("11"),
        }
    }
}

/// A list query as a REST user writes it: `limit=2&offset=2&sortBy=name&sortOrder=desc`.
fn query_text(query: &ListQuery) -> String {
    let limit = query
        .limit
        .into_option()
        .map_or_else(String::new, |limit| format!("limit={limit}&"));
    let sort_by = match query.sort_by {
        SortBy::Id => "id",
        SortBy::Name => "name",
    };
    let sort_order = match query.sort_order {
        SortOrder::Asc => "asc",
        SortOrder::Desc => "desc",
    };
    format!(
        "{limit}offset={}&sortBy={sort_by}&sortOrder={sort_order}",
        query.offset
    )
}

/// The phone number of a `…@c.us` chat id.
fn phone(id: &str) -> &str {
    id.strip_suffix("@c.us").unwrap_or(id)
}

/// A person's contact with a phone number: not a group, not the account.
fn is_person(contact: &Contact) -> bool {
    !contact.is_group && !contact.is_me && contact.id.ends_with("@c.us")
}

/// A person appears once: a contact's `lid` is a LID, no other contact
/// has it (as its id or its `lid`), and a contact whose id is a LID has
/// that LID as its `lid`, if any.
fn one_person_one_contact(all: &[Contact]) -> Result<(), String> {
    let mut by_lid: HashMap<&str, &str> = HashMap::new();
    for contact in all {
        let id = contact.id.as_str();
        let lid = match contact.lid.as_ref().into_option() {
            Some(lid) => lid.as_str(),
            None if id.ends_with("@lid") => id,
            None => continue,
        };
        if !lid.ends_with("@lid") || parse_contact_id("lid", lid).ok().as_deref() != Some(lid) {
            return Err(format!(
                "{id} has lid '{lid}', which is not a LID (digits@lid)"
            ));
        }
        if id.ends_with("@lid") && id != lid {
            return Err(format!("{id} is a LID but has another lid, {lid}"));
        }
        if let Some(other) = by_lid.insert(lid, id) {
            return Err(format!(
                "one person is listed twice: {other} and {id} are both {lid} \
                 (a person is one contact, under its phone number when it is known)"
            ));
        }
    }
    Ok(())
}

/// Why a check did not pass.
enum Missed {
    Failed(String),
    /// The check could not tell: the engine could not answer now, or a
    /// check it needs could not run.
    Skipped(String),
}

impl From<String> for Missed {
    fn from(problem: String) -> Self {
        Self::Failed(problem)
    }
}

type Outcome = Result<String, Missed>;

fn failed<T>(problem: impl Into<String>) -> Result<T, Missed> {
    Err(Missed::Failed(problem.into()))
}

/// An error the engine answered where the contract wants data: a failure,
/// unless the engine said it cannot answer now (429, 503).
fn answered_error<T>(asked: &str, err: &CallError) -> Result<T, Missed> {
    match err.engine_kind() {
        Some(ErrorKind::RATE_LIMITED | ErrorKind::UNAVAILABLE) => Err(Missed::Skipped(format!(
            "{asked}: the engine could not answer now: {err}"
        ))),
        _ => failed(format!("{asked}: it answered {err}")),
    }
}

impl Report {
    fn checked(&mut self, check: impl fmt::Display, outcome: Outcome) {
        match outcome {
            Ok(detail) => self.record(Verdict::Pass, check, detail),
            Err(Missed::Failed(detail)) => self.record(Verdict::Fail, check, detail),
            Err(Missed::Skipped(detail)) => self.record(Verdict::Skip, check, detail),
        }
    }
}

impl Checker {
    /// Why this run writes nothing, when it does not.
    fn no_writes(&self) -> Option<String> {
        if self.read_only {
            Some("--read-only: no writes".into())
        } else if !self.supports(UPSERT) {
            Some(format!(
                "no writes: contacts.upsert is unsupported, {ONLY_OWN}"
            ))
        } else {
            None
        }
    }

    /// Prints the writes this run will make, before any session opens.
    pub(super) fn announce_writes(&self, report: &mut Report) {
        let blocking: Vec<&str> = [BLOCK, UNBLOCK]
            .into_iter()
            .filter(|&operation| self.supports(operation))
            .map(Operation::key)
            .collect();
        if let Some(why) = self.no_writes() {
            report.plan(why);
            if !blocking.is_empty() {
                report.plan(format!(
                    "so {} go unchecked: conformance blocks no contact it did not create",
                    blocking.join(" and ")
                ));
            }
            return;
        }
        let own = &self.fictional.own;
        report.plan(format!(
            "writes go to one contact that conformance creates, {own}, and to no other \
             (+1 with area code {}: a number no one can have)",
            &own[1..4]
        ));
        report.plan(format!(
            "contacts.upsert: create {own} as {:?}, then rename it {:?}",
            own_name(FIRST_NAME).full_name(),
            own_name(NEW_FIRST_NAME).full_name()
        ));
        match (self.supports(BLOCK), self.supports(UNBLOCK)) {
            (true, true) => report.plan(format!(
                "contacts.block, contacts.unblock: block {own}, save its name again while \
                 blocked, then unblock it"
            )),
            (true, false) => report.plan(format!(
                "contacts.block: block {own} and save its name again while blocked; it stays \
                 blocked: contacts.unblock is unsupported"
            )),
            (false, true) => report.plan(format!(
                "contacts.unblock: unblock {own} (never blocked: contacts.block is unsupported)"
            )),
            (false, false) => {}
        }
        report.plan(format!(
            "{own} stays in the book afterwards: no operation deletes a contact"
        ));
    }

    pub(super) async fn check_contacts(&self, report: &mut Report) {
        for operation in Operation::of(Group::Contacts) {
            if !self.supports(operation) {
                report.skip(operation, self.unsupported_reason(operation));
            }
        }
        let before = if self.supports(LIST) {
            let outcome = self.check_list().await;
            let listed = outcome.as_ref().ok().map(|(_, contacts)| contacts.clone());
            report.outcome(LIST, outcome.map(|(detail, _)| detail));
            listed
        } else {
            None
        };
        let listed = before.as_deref().unwrap_or_default();
        if self.supports(GET) {
            report.checked(GET_UNKNOWN, self.check_unknown_ids().await);
        }
        if self.supports(CHECK_EXISTS) {
            report.checked(EXISTS_NOBODY, self.check_numbers_no_one_has().await);
            let outcome = match listed.iter().find(|c| is_person(c) && c.is_wa_contact) {
                Some(contact) => self.check_contact_number(contact).await,
                None => Err(Missed::Skipped(
                    "contacts.list gave no person on WhatsApp (isWAContact) to ask about".into(),
                )),
            };
            report.checked(EXISTS_CONTACT, outcome);
        }

        let writes = self.check_writes(report, listed).await;
        if let Some(writes) = &writes {
            self.check_contact_events(report, writes).await;
        }
        let own = writes.map(|writes| writes.own);

        // A contact to ask about: the engine's own, preferably a person.
        let known = (listed.iter().find(|c| is_person(c)))
            .map(|c| c.id.to_string())
            .or_else(|| own.clone());
        if self.supports(GET) {
            let outcome = match &known {
                Some(id) => self.check_known_id(id).await,
                None => Err(Missed::Skipped(
                    "no contact to ask for: contacts.list gave no person, and conformance created none"
                        .into(),
                )),
            };
            report.checked(GET_KNOWN, outcome);
        }
        let asked = known.as_deref().unwrap_or(&self.fictional.absent);
        if self.supports(ABOUT) {
            report.outcome(ABOUT, self.check_about(asked).await);
        }
        if self.supports(PICTURE) {
            let outcome = self.check_picture(asked).await;
            report.outcome(PICTURE, outcome);
        }
        self.check_lids(report, listed).await;
        if self.supports(LIST) && self.supports(GET) {
            let outcome = self.check_agreement(&[known, own.clone()]).await;
            report.checked(AGREEMENT, outcome);
        }
        // Whatever was written (even if it did not show), the rest of the
        // book must be as it was.
        if let Some(before) = &before
            && report.has_written()
        {
            self.check_after_writes(report, before, &self.fictional.own)
                .await;
        }
    }

    /// The whole book, then pages and orders that must equal
    /// [`ListQuery::apply`] on it.
    async fn check_list(&self) -> Result<(String, Vec<Contact>), String> {
        let all = self.list_all().await?;
        let mut seen = std::collections::HashSet::new();
        for contact in &all {
            let id = contact.id.as_str();
            match parse_contact_id("id", id) {
                Ok(parsed) if parsed == id => {}
                _ => return Err(format!("'{id}' is not a chat id in the form the host uses")),
            }
            if !seen.insert(id) {
                return Err(format!("'{id}' is listed twice"));
            }
        }
        if self.knows_one_person_rule() {
            one_person_one_contact(&all)?;
        }
        let queries = [
            ListQuery {
                limit: Some(3).into(),
                ..ListQuery::default()
            },
            ListQuery {
                limit: Some(2).into(),
                offset: 2,
                ..ListQuery::default()
            },
            ListQuery {
                offset: u32::try_from(all.len()).unwrap_or(u32::MAX),
                ..ListQuery::default()
            },
            ListQuery {
                sort_by: SortBy::Name,
                sort_order: SortOrder::Asc,
                ..ListQuery::default()
            },
            ListQuery {
                sort_by: SortBy::Name,
                sort_order: SortOrder::Desc,
                ..ListQuery::default()
            },
            ListQuery {
                sort_by: SortBy::Id,
                sort_order: SortOrder::Desc,
                ..ListQuery::default()
            },
        ];
        for query in queries {
            let page = self
                .call(LIST, |s| s.list_contacts(query))
                .await?
                .map_err(|err| format!("listing with {} failed: {err}", query_text(&query)))?;
            let ids = |contacts: &[Contact]| {
                contacts
                    .iter()
                    .map(|c| c.id.to_string())
                    .collect::<Vec<_>>()
            };
            let expected = query.apply(all.clone());
            if ids(&page) != ids(&expected) {
                return Err(format!(
                    "{} gave {:?}, the contract (ListQuery::apply) gives {:?}",
                    query_text(&query),
                    ids(&page),
                    ids(&expected)
                ));
            }
        }
        Ok((
            format!(
                "{} contact(s), valid and unique ids; paging and sorting keep the contract",
                all.len()
            ),
            all,
        ))
    }

    async fn list_all(&self) -> Result<Vec<Contact>, String> {
        let all = self
            .call(LIST, |s| s.list_contacts(ListQuery::default()))
            .await?
            .map_err(|err| format!("listing failed: {err}"))?;
        Ok(all.into_vec())
    }

    /// Get of ids no one has (one of them about to be conformance's own
    /// contact) must be 404, not some other contact.
    async fn check_unknown_ids(&self) -> Outcome {
        let ids = [&self.fictional.own, &self.fictional.absent];
        for id in ids {
            let asked = format!("asked for {id}, which no one has");
            match self
                .call(GET, |s| s.get_contact(id.as_str().into()))
                .await?
            {
                Err(err) if err.engine_kind() == Some(ErrorKind::NOT_FOUND) => {}
                Err(err) => return answered_error(&asked, &err),
                Ok(contact) if contact.id == id.as_str() => {
                    return failed(format!(
                        "{asked}: it answered a contact with that id, not 404 (not found)"
                    ));
                }
                Ok(contact) => {
                    return failed(format!(
                        "{asked}: it answered another contact, {}, not 404 (not found)",
                        contact.id
                    ));
                }
            }
        }
        Ok(format!("{} and {} → 404 (not found)", ids[0], ids[1]))
    }

    async fn exists(&self, phone: &str) -> Result<Result<NumberExists, CallError>, String> {
        self.call(CHECK_EXISTS, |s| s.check_exists(phone.into()))
            .await
    }

    async fn check_numbers_no_one_has(&self) -> Outcome {
        let phones = [phone(&self.fictional.own), phone(&self.fictional.absent)];
        for number in phones {
            let asked = format!("asked about {number}, which no one has");
            match self.exists(number).await? {
                Err(err) => return answered_error(&asked, &err),
                Ok(answer) => match (answer.number_exists, answer.chat_id.into_option()) {
                    (false, None) => {}
                    (true, chat_id) => {
                        return failed(format!(
                            "{asked} (+1, area code {}): it says the number exists, with chatId {}",
                            &number[1..4],
                            chat_id.as_ref().map_or("null", RString::as_str)
                        ));
                    }
                    (false, Some(chat_id)) => {
                        return failed(format!(
                            "{asked}: it says the number does not exist, but gives chatId {chat_id}, not null"
                        ));
                    }
                },
            }
        }
        Ok(format!(
            "{} and {} → numberExists: false, chatId: null",
            phones[0], phones[1]
        ))
    }

    /// The number of a listed contact on WhatsApp exists, as that contact.
    async fn check_contact_number(&self, contact: &Contact) -> Outcome {
        let id = contact.id.as_str();
        let number = phone(id);
        let asked = format!("asked about {number}, the number of {id} (isWAContact: true)");
        match self.exists(number).await? {
            Err(err) => answered_error(&asked, &err),
            Ok(answer) => match (answer.number_exists, answer.chat_id.into_option()) {
                (true, Some(chat_id)) if chat_id == id => {
                    Ok(format!("{number} → numberExists: true, chatId: {id}"))
                }
                (true, Some(chat_id)) => failed(format!(
                    "{asked}: it answered chatId {chat_id}, not the contact's id"
                )),
                (true, None) => failed(format!("{asked}: it says it exists, with no chatId")),
                (false, _) => failed(format!("{asked}: it says the number does not exist")),
            },
        }
    }

    /// Creates conformance's own contact, renames it, blocks and unblocks
    /// it, reading each change back; its id once it exists.
    async fn check_writes(&self, report: &mut Report, listed: &[Contact]) -> Option<Writes> {
        let own = self.fictional.own.clone();
        let why_not = match self.no_writes() {
            None if listed.iter().any(|c| c.id == own.as_str()) => {
                Some(format!("{own} is already in the book, {ONLY_OWN}"))
            }
            why_not => why_not,
        };
        if let Some(why) = why_not {
            for operation in [UPSERT, BLOCK, UNBLOCK] {
                if self.supports(operation) {
                    report.skip(operation, &why);
                }
            }
            return None;
        }
        if !self.save_own_name(report, true).await {
            for feature in [BLOCK, UNBLOCK] {
                if self.supports(feature) {
                    report.skip(
                        feature,
                        "conformance blocks only a contact it created itself, and it could \
                         not create one (see contacts.upsert)",
                    );
                }
            }
            return None;
        }
        let mut changes = vec![ContactChange::ADDED];
        if self.save_own_name(report, false).await {
            changes.push(ContactChange::RENAMED);
        }

        let (mut block_answered, mut block_shown) = (false, false);
        if self.supports(BLOCK) {
            let outcome;
            (outcome, block_answered) = self.set_own_blocked(report, true, &own).await;
            block_shown = outcome.is_ok();
            report.checked(BLOCK, outcome);
        }
        if block_shown {
            changes.push(ContactChange::BLOCKED);
        }
        if block_shown {
            let outcome = self.save_blocked_name(report, &own).await;
            report.checked(UPSERT_BLOCKED, outcome);
        }
        if self.supports(UNBLOCK) {
            let outcome = if !self.supports(BLOCK) {
                let (outcome, _) = self.set_own_blocked(report, false, &own).await;
                outcome.map(|detail| {
                    format!("{detail} (it was never blocked: contacts.block is unsupported)")
                })
            } else if !block_answered {
                Err(Missed::Skipped(format!(
                    "{own} was never blocked (see contacts.block): nothing to unblock"
                )))
            } else {
                // Unblocks whatever happened: the block answered success.
                let (outcome, _) = self.set_own_blocked(report, false, &own).await;
                match outcome {
                    Ok(_) if !block_shown => Err(Missed::Skipped(format!(
                        "{own} never showed as blocked (see contacts.block), so unblocking it \
                         shows nothing; unblocked it anyway, to undo the block"
                    ))),
                    outcome => outcome,
                }
            };
            if block_shown && outcome.is_ok() {
                changes.push(ContactChange::UNBLOCKED);
            }
            report.checked(UNBLOCK, outcome);
        }
        Some(Writes { own, changes })
    }

    /// Saves conformance's own contact under its first name (`create`) or
    /// its new one, and reads the name back; whether the name showed.
    async fn save_own_name(&self, report: &mut Report, create: bool) -> bool {
        let own = self.fictional.own.as_str();
        let name = own_name(if create { FIRST_NAME } else { NEW_FIRST_NAME });
        let full_name = name.full_name();
        let (asked, done) = if create {
            (
                format!("create {own} as {full_name:?}"),
                format!("created {own} as {full_name:?}"),
            )
        } else {
            (
                format!("rename {own} to {full_name:?}"),
                format!("renamed {own} to {full_name:?}"),
            )
        };
        let answer = self
            .call(UPSERT, |s| s.upsert_contact(own.into(), name))
            .await;
        let name_is = |contact: &Contact| match contact.name.as_ref().into_option() {
            Some(name) if name.as_str() == full_name => Ok(()),
            Some(name) => Err(format!("the name {name:?}, not {full_name:?}")),
            None => Err(format!("no name, not {full_name:?}")),
        };
        let outcome = match record_write(report, &asked, &done, answer) {
            Ok(()) => self
                .read_back(own, name_is)
                .await
                .map(|reads| format!("{done}; {reads} that name"))
                .map_err(|problem| answered_success_but(&asked, &problem)),
            Err(missed) => Err(missed),
        };
        let shown = outcome.is_ok();
        report.checked(if create { UPSERT_NEW } else { UPSERT_RENAME }, outcome);
        shown
    }

    /// After the session reopened on its data: says so when the contact
    /// conformance created is gone. An engine whose book lives elsewhere
    /// may do that, but a REST user loses what they saved, so the author
    /// should know.
    pub(super) async fn note_forgotten_writes(&self, report: &mut Report) {
        let own = self.fictional.own.as_str();
        if !report.has_written() || !self.supports(GET) {
            return;
        }
        if let Ok(Err(err)) = self.call(GET, |s| s.get_contact(own.into())).await
            && err.engine_kind() == Some(ErrorKind::NOT_FOUND)
        {
            report.note(format!(
                "after the session reopened, contacts.get answers 404 for {own}, which \
                 conformance created: this engine forgets what REST users save when a session \
                 restarts"
            ));
        }
    }

    /// Saves the blocked own contact's name again: names are all upsert
    /// changes, so the contact must stay blocked (an engine that replaces
    /// the whole record unblocks it).
    async fn save_blocked_name(&self, report: &mut Report, own: &str) -> Outcome {
        let name = own_name(NEW_FIRST_NAME);
        let full_name = name.full_name();
        let asked = format!("save {own} as {full_name:?} while it is blocked");
        let done = format!("saved {own} as {full_name:?} while it was blocked");
        let answer = self
            .call(UPSERT, |s| s.upsert_contact(own.into(), name))
            .await;
        record_write(report, &asked, &done, answer)?;
        let still_blocked = |contact: &Contact| match (contact.is_blocked, &contact.name) {
            (true, RSome(name)) if name.as_str() == full_name => Ok(()),
            (false, _) => Err("isBlocked: false".to_owned()),
            (true, RSome(name)) => Err(format!("the name {name:?}, not {full_name:?}")),
            (true, _) => Err(format!("no name, not {full_name:?}")),
        };
        self.read_back(own, still_blocked)
            .await
            .map(|reads| format!("{done}; {reads} it still blocked"))
            .map_err(|problem| answered_success_but(&asked, &problem))
    }

    /// Blocks or unblocks conformance's own contact and reads it back; the
    /// outcome, and whether the engine answered success.
    async fn set_own_blocked(
        &self,
        report: &mut Report,
        block: bool,
        own: &str,
    ) -> (Outcome, bool) {
        let (feature, asked, done) = if block {
            (BLOCK, format!("block {own}"), format!("blocked {own}"))
        } else {
            (
                UNBLOCK,
                format!("unblock {own}"),
                format!("unblocked {own}"),
            )
        };
        let answer = self
            .call(feature, |s| {
                if block {
                    s.block(own.into())
                } else {
                    s.unblock(own.into())
                }
            })
            .await;
        if let Err(missed) = record_write(report, &asked, &done, answer) {
            return (Err(missed), false);
        }
        let flag_is = |contact: &Contact| match contact.is_blocked == block {
            true => Ok(()),
            false => Err(format!("isBlocked: {}", contact.is_blocked)),
        };
        let outcome = self
            .read_back(own, flag_is)
            .await
            .map(|reads| format!("{done}; {reads} isBlocked: {block}"))
            .map_err(|problem| answered_success_but(&asked, &problem));
        (outcome, true)
    }

    /// Reads `id` back with each read the engine supports (get, list) and
    /// holds what each shows to `expect`; says which reads showed it.
    async fn read_back(
        &self,
        id: &str,
        expect: impl Fn(&Contact) -> Result<(), String>,
    ) -> Result<&'static str, String> {
        if self.supports(GET) {
            let contact = match self.call(GET, |s| s.get_contact(id.into())).await? {
                Ok(contact) if contact.id == id => contact,
                Ok(contact) => {
                    return Err(format!(
                        "contacts.get, asked for {id}, answers another contact, {}",
                        contact.id
                    ));
                }
                Err(err) => return Err(format!("contacts.get then answers: {err}")),
            };
            expect(&contact).map_err(|problem| format!("contacts.get then shows {problem}"))?;
        }
        if self.supports(LIST) {
            let all = self.list_all().await?;
            let contact = (all.iter().find(|c| c.id == id))
                .ok_or_else(|| format!("contacts.list then does not list {id}"))?;
            expect(contact).map_err(|problem| format!("contacts.list then shows {problem}"))?;
        }
        Ok(match (self.supports(GET), self.supports(LIST)) {
            (true, true) => "contacts.get and contacts.list show",
            (true, false) => "contacts.get shows",
            (false, true) => "contacts.list shows",
            (false, false) => "not read back (no contacts.get or contacts.list), so unseen:",
        })
    }

    /// Get of a contact the engine has answers that contact.
    async fn check_known_id(&self, id: &str) -> Outcome {
        let asked = format!("asked for {id}, which the engine has");
        match self.call(GET, |s| s.get_contact(id.into())).await? {
            Ok(contact) if contact.id == id => Ok(format!("{id} → that contact")),
            Ok(contact) => failed(format!(
                "{asked}: it answered another contact, {}",
                contact.id
            )),
            Err(err) => answered_error(&asked, &err),
        }
    }

    async fn check_about(&self, id: &str) -> Result<String, String> {
        let answer = self.call(ABOUT, |s| s.about(id.into())).await?;
        Ok(describe(answer, |about| {
            match about.as_ref().into_option() {
                Some(text) => format!("{id} → {:?}", text.as_str()),
                None => format!("{id} → private or empty"),
            }
        }))
    }

    async fn check_picture(&self, id: &str) -> Result<String, String> {
        let answer = self
            .call(PICTURE, |s| s.profile_picture(id.into(), false))
            .await?;
        match answer.map(|url| url.into_option()) {
            Ok(Some(url)) if url.starts_with("https://") || url.starts_with("http://") => {
                Ok(format!("{id} → {url}"))
            }
            Ok(Some(url)) => Err(format!("'{url}' is not an http(s) URL")),
            Ok(None) => Ok(format!("{id} → no picture")),
            Err(err) => Ok(format!("{id}: {err}")),
        }
    }

    /// For the first listed contacts, and those in `also`, get answers the
    /// record the list has.
    async fn check_agreement(&self, also: &[Option<String>]) -> Outcome {
        let all = self.list_all().await?;
        let also = |id: &str| also.iter().flatten().any(|also| also == id);
        let mut compared = 0;
        for (position, listed) in all.iter().enumerate() {
            let id = listed.id.as_str();
            if position >= AGREEMENT_PAGE && !also(id) {
                continue;
            }
            let asked = format!("contacts.list has {id}, and contacts.get, asked for it");
            let got = match self.call(GET, |s| s.get_contact(id.into())).await? {
                Ok(got) => got,
                Err(err) => return answered_error(&asked, &err),
            };
            if got.id != listed.id {
                return failed(format!("{asked}, answered another contact, {}", got.id));
            }
            let differences = differences(listed, &got, "on contacts.list", "on contacts.get");
            if !differences.is_empty() {
                return failed(format!("{id} differs: {}", differences.join("; ")));
            }
            compared += 1;
        }
        Ok(format!(
            "the same record from both for {compared} listed contact(s)"
        ))
    }

    /// After the writes: the list still keeps its contract (conformance's
    /// contact, with its name, included), and every other contact is as it
    /// was.
    async fn check_after_writes(&self, report: &mut Report, before: &[Contact], own: &str) {
        let outcome = self.check_list().await;
        let after = outcome.as_ref().ok().map(|(_, contacts)| contacts.clone());
        report.outcome(LIST_AFTER, outcome.map(|(detail, _)| detail));
        if let Some(after) = after {
            report.checked(OTHERS_UNCHANGED, unchanged(before, &after, own));
        }
    }
}

/// Lists the write `asked` of the engine (`"block 10…@c.us"`) in the
/// report as it answered; a refusal skips the check, as conformance writes
/// to no other contact instead.
fn record_write(
    report: &mut Report,
    asked: &str,
    done: &str,
    answer: Result<Result<(), CallError>, String>,
) -> Result<(), Missed> {
    match answer {
        Ok(Ok(())) => {
            report.wrote(done.to_owned());
            Ok(())
        }
        Ok(Err(err)) => {
            report.wrote(format!("asked to {asked}: the engine refused ({err})"));
            Err(Missed::Skipped(format!(
                "the engine would not {asked}: {err}; conformance writes to no other contact instead"
            )))
        }
        Err(problem) => {
            report.wrote(format!("asked to {asked}: the engine failed"));
            Err(Missed::Failed(problem))
        }
    }
}

fn answered_success_but(asked: &str, problem: &str) -> Missed {
    Missed::Failed(format!(
        "asked to {asked}, it answered success, but {problem}"
    ))
}

/// The contacts of `before` are all in `after`, as they were, and `after`
/// has no other but `own`.
fn unchanged(before: &[Contact], after: &[Contact], own: &str) -> Outcome {
    let now: HashMap<&str, &Contact> = after.iter().map(|c| (c.id.as_str(), c)).collect();
    for contact in before {
        let id = contact.id.as_str();
        let Some(now) = now.get(id) else {
            return failed(format!("{id} is no longer listed"));
        };
        let differences = differences(contact, now, "before the writes", "after");
        if !differences.is_empty() {
            return failed(format!("{id} changed: {}", differences.join("; ")));
        }
    }
    let was = |id: &str| before.iter().any(|c| c.id == id);
    if let Some(new) = after.iter().find(|c| c.id != own && !was(&c.id)) {
        return failed(format!("{} is listed now, and was not before", new.id));
    }
    Ok(format!(
        "{} contact(s) listed as they were before the writes",
        before.len()
    ))
}

/// The fields (by their JSON names) in which two records of one contact
/// differ, each with both values.
fn differences(a: &Contact, b: &Contact, a_is: &str, b_is: &str) -> Vec<String> {
    let fields = |contact: &Contact| match serde_json::to_value(contact) {
        Ok(Value::Object(fields)) => fields,
        _ => Map::new(),
    };
    let (a, b) = (fields(a), fields(b));
    a.iter()
        .filter_map(|(field, value)| {
            let other = b.get(field).unwrap_or(&Value::Null);
            (value != other).then(|| format!("{field} is {value} {a_is}, {other} {b_is}"))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn contact(id: &str, name: Option<&str>) -> Contact {
        Contact {
            id: id.into(),
            name: name.map(RString::from).into(),
            ..Contact::default()
        }
    }

    #[test]
    fn queries_are_shown_as_rest_users_write_them() {
        let query = ListQuery {
            limit: RSome(2),
            offset: 4,
            sort_by: SortBy::Name,
            sort_order: SortOrder::Desc,
        };
        assert_eq!(
            query_text(&query),
            "limit=2&offset=4&sortBy=name&sortOrder=desc"
        );
        assert_eq!(
            query_text(&ListQuery::default()),
            "offset=0&sortBy=id&sortOrder=asc"
        );
    }

    #[test]
    fn fictional_numbers_are_chat_ids_with_area_codes_no_one_has() {
        let fictional = Fictional::new();
        for (id, prefix) in [(&fictional.own, "10"), (&fictional.absent, "11")] {
            assert_eq!(
                parse_contact_id("id", id).ok().as_deref(),
                Some(id.as_str())
            );
            assert!(id.starts_with(prefix) && phone(id).len() == 11, "{id}");
        }
        let again = Fictional::new();
        assert_ne!(fictional.own, again.own, "each run has numbers of its own");
    }

    #[test]
    fn differences_name_each_field_with_both_values() {
        let listed = contact("1@c.us", Some("Ada"));
        let got = Contact {
            is_blocked: true,
            ..contact("1@c.us", None)
        };
        assert_eq!(
            differences(&listed, &got, "listed", "got"),
            [
                "isBlocked is false listed, true got",
                "name is \"Ada\" listed, null got"
            ]
        );
        assert!(differences(&listed, &listed, "a", "b").is_empty());
    }

    #[test]
    fn unchanged_allows_only_conformances_own_contact_to_appear() {
        let before = [contact("1@c.us", Some("Ada")), contact("2@c.us", None)];
        let own = contact("10123456789@c.us", Some("Émile"));
        let after = [before[0].clone(), before[1].clone(), own.clone()];
        assert!(unchanged(&before, &after, &own.id).is_ok());

        let verdict = |after: &[Contact]| match unchanged(&before, after, &own.id) {
            Err(Missed::Failed(problem)) => problem,
            _ => panic!("unchanged passed {after:?}"),
        };
        let renamed = [contact("1@c.us", Some("Eve")), before[1].clone()];
        assert_eq!(
            verdict(&renamed),
            "1@c.us changed: name is \"Ada\" before the writes, \"Eve\" after"
        );
        assert_eq!(verdict(&before[..1]), "2@c.us is no longer listed");
        let stranger = [
            before[0].clone(),
            before[1].clone(),
            contact("3@c.us", None),
        ];
        assert_eq!(
            verdict(&stranger),
            "3@c.us is listed now, and was not before"
        );
    }
}
