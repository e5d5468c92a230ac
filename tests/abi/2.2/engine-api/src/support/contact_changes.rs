//! What changed about a contact, in the terms engines report to the host.

use crate::{Contact, ContactChange};

/// What changed between `before`, the contact as the engine had it (`None`
/// when it did not have it), and `after`, the contact now: the changes to
/// report with [`crate::Host::contact_changed`], in this order.
///
/// - A contact the engine did not have is [`ContactChange::ADDED`] (the
///   contact carries the name it was saved under, if any), and also
///   [`ContactChange::BLOCKED`] when it arrives blocked (a number blocked
///   before it was ever in the book): an integration that only follows
///   blocks hears of it too.
/// - Otherwise each of [`ContactChange::RENAMED`] (how the address book
///   has it: `name`, `shortName`, or whether it is saved at all),
///   [`ContactChange::PUSH_NAME`], [`ContactChange::BLOCKED`] or
///   [`ContactChange::UNBLOCKED`], and [`ContactChange::LID`] when the
///   contact now has a phone number and a LID and did not have that pair
///   before (a LID-only contact that learned its number, or a number
///   that learned its LID).
///
/// A contact saved again as it was changes nothing, so engines may call
/// this on every write and report what it returns.
///
/// ```
/// use wharf_engine_api::{Contact, ContactChange, support::contact_changes};
///
/// let before = Contact { id: "11231231231@c.us".into(), ..Contact::default() };
/// let after = Contact { is_blocked: true, ..before.clone() };
/// assert_eq!(contact_changes(Some(&before), &after), [ContactChange::BLOCKED]);
/// assert_eq!(contact_changes(Some(&after), &after), []);
/// assert_eq!(contact_changes(None, &before), [ContactChange::ADDED]);
/// ```
pub fn contact_changes(before: Option<&Contact>, after: &Contact) -> Vec<ContactChange> {
    let Some(before) = before else {
        let mut changes = vec![ContactChange::ADDED];
        if after.is_blocked {
            changes.push(ContactChange::BLOCKED);
        }
        return changes;
    };
    let mut changes = Vec::new();
    let saved_as = |contact: &Contact| {
        (
            contact.name.clone(),
            contact.short_name.clone(),
            contact.is_my_contact,
        )
    };
    if saved_as(before) != saved_as(after) {
        changes.push(ContactChange::RENAMED);
    }
    if before.pushname != after.pushname {
        changes.push(ContactChange::PUSH_NAME);
    }
    match (before.is_blocked, after.is_blocked) {
        (false, true) => changes.push(ContactChange::BLOCKED),
        (true, false) => changes.push(ContactChange::UNBLOCKED),
        _ => {}
    }
    if let Some(pair) = number_and_lid(after)
        && number_and_lid(before) != Some(pair)
    {
        changes.push(ContactChange::LID);
    }
    changes
}

/// The contact's phone number and LID, when it has both.
fn number_and_lid(contact: &Contact) -> Option<(&str, &str)> {
    let number = contact.number.as_ref().into_option()?;
    let lid = contact.lid.as_ref().into_option()?;
    (*lid != contact.id).then_some((number.as_str(), lid.as_str()))
}

#[cfg(test)]
mod tests {
    use abi_stable::std_types::{RNone, RSome};

    use super::*;

    fn person() -> Contact {
        Contact {
            id: "11231231231@c.us".into(),
            number: RSome("11231231231".into()),
            ..Contact::default()
        }
    }

    #[test]
    fn each_field_that_changed_is_one_change_in_a_fixed_order() {
        let before = person();
        let after = Contact {
            name: RSome("Ada".into()),
            pushname: RSome("ada".into()),
            is_blocked: true,
            lid: RSome("123456789012345@lid".into()),
            ..before.clone()
        };
        assert_eq!(
            contact_changes(Some(&before), &after),
            [
                ContactChange::RENAMED,
                ContactChange::PUSH_NAME,
                ContactChange::BLOCKED,
                ContactChange::LID
            ]
        );
        let unblocked = Contact {
            is_blocked: false,
            ..after.clone()
        };
        assert_eq!(
            contact_changes(Some(&after), &unblocked),
            [ContactChange::UNBLOCKED]
        );
    }

    #[test]
    fn a_short_name_or_being_saved_alone_is_a_rename() {
        let saved = Contact {
            name: RSome("Ada King".into()),
            short_name: RSome("Ada".into()),
            is_my_contact: true,
            ..person()
        };
        let short = Contact {
            short_name: RSome("Ada King".into()),
            ..saved.clone()
        };
        assert_eq!(
            contact_changes(Some(&saved), &short),
            [ContactChange::RENAMED]
        );
        let unsaved = Contact {
            is_my_contact: false,
            ..saved.clone()
        };
        assert_eq!(
            contact_changes(Some(&saved), &unsaved),
            [ContactChange::RENAMED]
        );
    }

    #[test]
    fn a_new_contact_is_added_and_blocked_when_it_arrives_blocked() {
        let blocked = Contact {
            is_blocked: true,
            ..person()
        };
        assert_eq!(
            contact_changes(None, &blocked),
            [ContactChange::ADDED, ContactChange::BLOCKED]
        );
    }

    #[test]
    fn a_lid_only_contact_that_learns_its_number_has_learned_a_lid_pair() {
        let lid_only = Contact {
            id: "123456789012345@lid".into(),
            lid: RSome("123456789012345@lid".into()),
            number: RNone,
            ..Contact::default()
        };
        assert_eq!(contact_changes(None, &lid_only), [ContactChange::ADDED]);
        let folded = Contact {
            lid: lid_only.lid.clone(),
            ..person()
        };
        assert_eq!(
            contact_changes(Some(&lid_only), &folded),
            [ContactChange::LID]
        );
        let moved = Contact {
            lid: RSome("999999999999999@lid".into()),
            ..folded.clone()
        };
        assert_eq!(contact_changes(Some(&folded), &moved), [ContactChange::LID]);
        let forgotten = Contact {
            lid: RNone,
            ..folded.clone()
        };
        assert_eq!(contact_changes(Some(&folded), &forgotten), []);
    }
}
