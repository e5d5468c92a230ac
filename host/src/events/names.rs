//! Event names, and the filters hooks and listeners choose them with.

use std::collections::BTreeSet;

use wharf_engine_api::ContactChange;

/// A session's status changed.
pub const SESSION_STATUS: &str = "session.status";

/// The contact events, which WAHA does not have: what an engine tells with
/// `HostServices::contact_changed`, each with what it says happened.
pub const CONTACT_EVENTS: &[(&str, ContactChange, &str)] = &[
    (
        "contact.added",
        ContactChange::ADDED,
        "A contact the session's book did not have: saved by a REST user or on the phone \
         (with the name it was saved under), or met for the first time",
    ),
    (
        "contact.renamed",
        ContactChange::RENAMED,
        "How the address book has a contact the book had changed: its name, its short \
         name, or whether it is saved at all",
    ),
    (
        "contact.push_name",
        ContactChange::PUSH_NAME,
        "The name the contact chose for themselves (`pushname`) changed",
    ),
    (
        "contact.blocked",
        ContactChange::BLOCKED,
        "The session blocked the contact",
    ),
    (
        "contact.unblocked",
        ContactChange::UNBLOCKED,
        "The session unblocked the contact",
    ),
    (
        "contact.lid",
        ContactChange::LID,
        "The engine learned the contact's LID, or the number a LID stands for: the contact \
         now has both",
    ),
];

/// The event that tells of `change`; `None` for a change this host does
/// not know (an engine built against a later contract may report one).
pub fn contact_event(change: ContactChange) -> Option<&'static str> {
    CONTACT_EVENTS
        .iter()
        .find(|(_, known, _)| *known == change)
        .map(|(name, _, _)| *name)
}

/// Every event name WAHA defines, then this host's own. Hooks may
/// subscribe to any of them, so a WAHA client's config is accepted as it
/// is; this host emits those it has something to say about.
const KNOWN: &[&str] = &[
    SESSION_STATUS,
    "message",
    "message.reaction",
    "message.any",
    "message.ack",
    "message.ack.group",
    "message.waiting",
    "message.revoked",
    "message.edited",
    "state.change",
    "group.join",
    "group.leave",
    "group.v2.join",
    "group.v2.leave",
    "group.v2.update",
    "group.v2.participants",
    "presence.update",
    "poll.vote",
    "poll.vote.failed",
    "chat.archive",
    "call.received",
    "call.accepted",
    "call.rejected",
    "label.upsert",
    "label.deleted",
    "label.chat.added",
    "label.chat.deleted",
    "event.response",
    "event.response.failed",
    "engine.event",
    "contact.added",
    "contact.renamed",
    "contact.push_name",
    "contact.blocked",
    "contact.unblocked",
    "contact.lid",
];

/// What `*` leaves out, as in WAHA: these are asked for by name.
const NOT_IN_WILDCARD: &[&str] = &["state.change", "engine.event"];

/// The events a hook or listener asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventFilter {
    names: BTreeSet<&'static str>,
}

impl EventFilter {
    /// Every event `*` stands for.
    pub fn all() -> Self {
        Self::parse(["*"]).expect("`*` is a valid event filter")
    }

    /// The filter for `names`: event names, or `*` for every event but
    /// those [`NOT_IN_WILDCARD`] names. An unknown name is an error that
    /// gives its position and the names allowed.
    pub fn parse<'a>(names: impl IntoIterator<Item = &'a str>) -> Result<Self, (usize, String)> {
        let mut chosen = BTreeSet::new();
        for (index, name) in names.into_iter().enumerate() {
            if name == "*" {
                chosen.extend(KNOWN.iter().filter(|n| !NOT_IN_WILDCARD.contains(n)));
            } else if let Some(known) = KNOWN.iter().find(|known| **known == name) {
                chosen.insert(*known);
            } else {
                return Err((
                    index,
                    format!(
                        "'{name}' is not an event; use '*' or one of: {}",
                        KNOWN.join(", ")
                    ),
                ));
            }
        }
        Ok(Self { names: chosen })
    }

    pub fn matches(&self, event: &str) -> bool {
        self.names.contains(event)
    }

    pub fn is_empty(&self) -> bool {
        self.names.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_wildcard_is_every_event_but_those_asked_for_by_name() {
        let all = EventFilter::all();
        assert!(all.matches(SESSION_STATUS) && all.matches("message.any"));
        assert!(!all.matches("engine.event") && !all.matches("state.change"));
        let more = EventFilter::parse(["*", "engine.event"]).unwrap();
        assert!(more.matches("engine.event"));
        let one = EventFilter::parse([SESSION_STATUS]).unwrap();
        assert!(one.matches(SESSION_STATUS) && !one.matches("message"));
        assert!(EventFilter::parse([]).unwrap().is_empty());
    }

    #[test]
    fn every_contact_change_has_a_known_event_in_the_wildcard() {
        let all = EventFilter::all();
        for change in ContactChange::ALL {
            let event = contact_event(*change).unwrap();
            assert!(all.matches(event), "{event}");
            assert_eq!(
                event.strip_prefix("contact."),
                change.name(),
                "{event} is named after the change"
            );
        }
        assert_eq!(CONTACT_EVENTS.len(), ContactChange::ALL.len());
        assert_eq!(contact_event(ContactChange::from_code(200)), None);
    }

    #[test]
    fn an_unknown_event_is_refused_with_its_position() {
        let (index, problem) = EventFilter::parse([SESSION_STATUS, "session.statuz"]).unwrap_err();
        assert_eq!(index, 1);
        assert!(
            problem.starts_with("'session.statuz' is not an event"),
            "{problem}"
        );
    }
}
