//! Between the host's contact ids (`digits@c.us`, `…@g.us`, `…@lid`) and
//! the protocol's JIDs (`digits@s.whatsapp.net`, …).

use wharf_engine_api::EngineError;
use whatsapp_rust::Jid;

/// The protocol JID for a host contact id.
pub(crate) fn to_jid(contact_id: &str) -> Result<Jid, EngineError> {
    let protocol = match contact_id.strip_suffix("@c.us") {
        Some(number) => format!("{number}@s.whatsapp.net"),
        None => contact_id.to_owned(),
    };
    protocol.parse().map_err(|err| {
        EngineError::invalid_input(format!("contactId: {contact_id} is not a JID: {err}"))
    })
}

/// The host contact id for a protocol JID, without its device part.
pub(crate) fn to_contact_id(jid: &Jid) -> String {
    let user = jid.to_non_ad();
    if user.is_pn() {
        format!("{}@c.us", user.user)
    } else {
        user.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phone_contacts_travel_as_c_us_and_others_as_they_are() {
        let jid = to_jid("14155550100@c.us").unwrap();
        assert_eq!(jid.to_string(), "14155550100@s.whatsapp.net");
        assert_eq!(to_contact_id(&jid), "14155550100@c.us");
        let group = to_jid("120363021234567890@g.us").unwrap();
        assert_eq!(to_contact_id(&group), "120363021234567890@g.us");
        let lid = to_jid("123456789012345@lid").unwrap();
        assert_eq!(to_contact_id(&lid), "123456789012345@lid");
    }

    #[test]
    fn a_device_jid_is_the_contact_of_its_user() {
        let device: Jid = "14155550100:3@s.whatsapp.net".parse().unwrap();
        assert_eq!(to_contact_id(&device), "14155550100@c.us");
    }
}
