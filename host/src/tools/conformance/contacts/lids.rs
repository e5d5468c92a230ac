//! The LID checks: the `lids.*` answers hold against each other and
//! against the contact book, and a person's LID reaches the same contact
//! as their phone number. They only read.

use std::collections::hash_map::RandomState;
use std::hash::BuildHasher;

use wharf_engine_api::{Contact, LidMapping};

use super::{GET, Missed, Outcome, Report, answered_error, failed, is_person, phone};
use crate::{
    engines::{Group, Operation},
    http::contact_id::parse_contact_id,
    tools::conformance::Checker,
};

const LIST: Operation = Operation::LidsList;
const COUNT: Operation = Operation::LidsCount;
const FIND_PN: Operation = Operation::LidsFindPn;
const FIND_LID: Operation = Operation::LidsFindLid;

const GET_BY_LID: &str = "contacts.get, a person by their LID";
const BOOK_AGREES: &str = "lids.find_pn agrees with the contact book";

/// At most this many mappings are read, and this many listed contacts
/// compared: enough to see a wrong answer, bounded for any book size.
const SAMPLE: u32 = 1000;
const COMPARED: usize = 20;

/// `digits@lid`, as the host writes LIDs.
fn is_lid(id: &str) -> bool {
    id.ends_with("@lid") && parse_contact_id("lid", id).ok().as_deref() == Some(id)
}

/// `digits@c.us`, as the host writes phone number chat ids.
fn is_pn(id: &str) -> bool {
    id.ends_with("@c.us") && parse_contact_id("pn", id).ok().as_deref() == Some(id)
}

fn show(mapping: &LidMapping) -> String {
    let part = |value: Option<&str>| value.map_or("null".to_owned(), |v| format!("{v:?}"));
    format!(
        "{{lid: {}, pn: {}}}",
        part(mapping.lid.as_ref().into_option().map(|s| s.as_str())),
        part(mapping.pn.as_ref().into_option().map(|s| s.as_str()))
    )
}

/// A LID no one has: random, so an engine cannot single it out.
fn unknown_lid() -> String {
    let digits = RandomState::new().hash_one(std::process::id()) % 100_000_000_000_000;
    format!("9{digits:014}@lid")
}

/// The contract version that made a person one contact, found by either
/// id, and added the `lids.*` operations.
const ONE_PERSON_SINCE: semver::Version = semver::Version::new(2, 1, 0);

impl Checker {
    /// Whether the engine knows that a person is one contact (ABI 2.1);
    /// an engine built against 2.0 is not held to it.
    pub(super) fn knows_one_person_rule(&self) -> bool {
        self.built_knowing(&ONE_PERSON_SINCE)
    }

    pub(super) async fn check_lids(&self, report: &mut Report, listed: &[Contact]) {
        for operation in Operation::of(Group::Lids) {
            if !self.supports(operation) {
                report.skip(operation, self.unsupported_reason(operation));
            }
        }
        // A person of the book with both ids, to ask about by either.
        let person = listed
            .iter()
            .find(|c| is_person(c) && c.lid.as_ref().into_option().is_some());
        if self.supports(GET) {
            let outcome = match person {
                Some(_) if !self.knows_one_person_rule() => Err(Missed::Skipped(format!(
                    "the engine was built against ABI {}, before a person could be asked for by \
                     either id ({ONE_PERSON_SINCE})",
                    self.engine.manifest().abi_version
                ))),
                Some(person) => self.check_get_by_lid(person).await,
                None => Err(Missed::Skipped(
                    "contacts.list gave no person with both a phone number and a lid".into(),
                )),
            };
            report.checked(GET_BY_LID, outcome);
        }
        let mappings = if self.supports(LIST) {
            let outcome = self.check_lid_list().await;
            let mappings = outcome.as_ref().ok().map(|(_, all)| all.clone());
            report.checked(LIST, outcome.map(|(detail, _)| detail));
            mappings
        } else {
            None
        };
        if self.supports(COUNT) {
            report.checked(COUNT, self.check_lid_count(mappings.as_deref()).await);
        }
        let known = mappings.as_deref().and_then(<[LidMapping]>::first).cloned();
        if self.supports(FIND_PN) {
            report.checked(FIND_PN, self.check_find_pn(known.as_ref()).await);
            report.checked(BOOK_AGREES, self.check_book_agrees(listed).await);
        }
        if self.supports(FIND_LID) {
            report.checked(FIND_LID, self.check_find_lid(known.as_ref()).await);
        }
    }

    async fn check_get_by_lid(&self, person: &Contact) -> Outcome {
        let id = person.id.as_str();
        let lid = person.lid.as_ref().into_option().map_or("", |l| l.as_str());
        let asked = format!("asked for {lid}, the lid of {id}");
        match self.call(GET, |s| s.get_contact(lid.into())).await? {
            Ok(contact) if contact.id == id => Ok(format!("{lid} → {id}, the same contact")),
            Ok(contact) => failed(format!(
                "{asked}: it answered {}, not {id} (one person is one contact)",
                contact.id
            )),
            Err(err) => answered_error(&asked, &err),
        }
    }

    async fn list_lids(&self, offset: u32, limit: u32) -> Result<Vec<LidMapping>, Missed> {
        match self.call(LIST, |s| s.list_lids(offset, limit)).await? {
            Ok(page) => Ok(page.into_vec()),
            Err(err) => answered_error(&format!("listed offset={offset}&limit={limit}"), &err),
        }
    }

    /// The first [`SAMPLE`] mappings: complete, sorted by LID, unique, and
    /// paged as the whole list is.
    async fn check_lid_list(&self) -> Result<(String, Vec<LidMapping>), Missed> {
        let all = self.list_lids(0, SAMPLE).await?;
        for mapping in &all {
            let (lid, pn) = (mapping.lid.as_ref(), mapping.pn.as_ref());
            let complete = lid.into_option().is_some_and(|l| is_lid(l))
                && pn.into_option().is_some_and(|p| is_pn(p));
            if !complete {
                return failed(format!(
                    "it listed {}: a listed mapping has a lid (digits@lid) and a pn (digits@c.us)",
                    show(mapping)
                ));
            }
        }
        if let Some(pair) = all.windows(2).find(|pair| pair[0].lid >= pair[1].lid) {
            return failed(format!(
                "{} comes before {}: the list is sorted by lid, each once",
                show(&pair[0]),
                show(&pair[1])
            ));
        }
        let page = self.list_lids(1, 2).await?;
        let expected: Vec<LidMapping> = all.iter().skip(1).take(2).cloned().collect();
        if page != expected {
            let shown = |list: &[LidMapping]| list.iter().map(show).collect::<Vec<_>>().join(", ");
            return failed(format!(
                "offset=1&limit=2 gave [{}], the list has [{}] there",
                shown(&page),
                shown(&expected)
            ));
        }
        Ok((
            format!(
                "{} mapping(s), complete, sorted by lid, paged alike",
                all.len()
            ),
            all,
        ))
    }

    async fn check_lid_count(&self, listed: Option<&[LidMapping]>) -> Outcome {
        let count = match self.call(COUNT, |s| s.count_lids()).await? {
            Ok(count) => count,
            Err(err) => return answered_error("asked for the count", &err),
        };
        match listed {
            Some(listed) => {
                let listed_len = listed.len() as u64;
                let agrees = if listed_len < u64::from(SAMPLE) {
                    count == listed_len
                } else {
                    count >= listed_len
                };
                if agrees {
                    Ok(format!("{count}, as lids.list has"))
                } else {
                    failed(format!("it counts {count}, but lids.list has {listed_len}"))
                }
            }
            None => Ok(format!("{count} (not held against lids.list: unsupported)")),
        }
    }

    async fn find_pn(&self, lid: &str) -> Result<LidMapping, Missed> {
        match self.call(FIND_PN, |s| s.find_pn_by_lid(lid.into())).await? {
            Ok(mapping) => Ok(mapping),
            Err(err) => answered_error(&format!("asked for {lid}"), &err),
        }
    }

    /// A listed LID answers its number; a LID no one has answers no number.
    async fn check_find_pn(&self, known: Option<&LidMapping>) -> Outcome {
        let mut detail = Vec::new();
        if let Some(known) = known {
            let lid = known.lid.as_ref().into_option().map_or("", |l| l.as_str());
            let answer = self.find_pn(lid).await?;
            if answer != *known {
                return failed(format!(
                    "asked for {lid}, listed as {}: it answered {}",
                    show(known),
                    show(&answer)
                ));
            }
            detail.push(format!("{lid} → {}", show(&answer)));
        }
        let unknown = unknown_lid();
        let answer = self.find_pn(&unknown).await?;
        if answer != LidMapping::new(unknown.as_str(), None::<String>) {
            return failed(format!(
                "asked for {unknown}, which no one has: it answered {}, not {{lid: {unknown:?}, pn: null}}",
                show(&answer)
            ));
        }
        detail.push(format!("{unknown} (no one's) → pn: null"));
        Ok(detail.join("; "))
    }

    /// The first listed persons with a LID: the LID stands for their number.
    async fn check_book_agrees(&self, listed: &[Contact]) -> Outcome {
        let mut compared = 0;
        let persons = listed.iter().filter(|c| is_person(c)).take(COMPARED);
        for person in persons {
            let Some(lid) = person.lid.as_ref().into_option() else {
                continue;
            };
            let answer = self.find_pn(lid).await?;
            if answer.pn.as_ref().into_option() != Some(&person.id) {
                return failed(format!(
                    "contacts.list has {} with lid {lid}, and asked for {lid} it answered {}",
                    person.id,
                    show(&answer)
                ));
            }
            compared += 1;
        }
        if compared == 0 {
            return Err(Missed::Skipped(
                "contacts.list gave no person with a lid to compare".into(),
            ));
        }
        Ok(format!(
            "{compared} listed person(s): their lid stands for their number"
        ))
    }

    async fn find_lid(&self, phone: &str) -> Result<LidMapping, Missed> {
        match self
            .call(FIND_LID, |s| s.find_lid_by_pn(phone.into()))
            .await?
        {
            Ok(mapping) => Ok(mapping),
            Err(err) => answered_error(&format!("asked for {phone}"), &err),
        }
    }

    /// A listed number answers its LID; a number no one has answers none.
    async fn check_find_lid(&self, known: Option<&LidMapping>) -> Outcome {
        let mut detail = Vec::new();
        if let Some(known) = known {
            let pn = known.pn.as_ref().into_option().map_or("", |p| p.as_str());
            let answer = self.find_lid(phone(pn)).await?;
            if answer != *known {
                return failed(format!(
                    "asked for {}, listed as {}: it answered {}",
                    phone(pn),
                    show(known),
                    show(&answer)
                ));
            }
            detail.push(format!("{} → {}", phone(pn), show(&answer)));
        }
        let absent = self.fictional.absent.as_str();
        let answer = self.find_lid(phone(absent)).await?;
        if answer != LidMapping::unknown_lid(absent) {
            return failed(format!(
                "asked for {}, which no one has: it answered {}, not {{lid: null, pn: {absent:?}}}",
                phone(absent),
                show(&answer)
            ));
        }
        detail.push(format!("{} (no one's) → lid: null", phone(absent)));
        Ok(detail.join("; "))
    }
}
