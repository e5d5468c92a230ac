//! Parsing of the contact ids, phone numbers and LIDs REST users send.
//! Every route goes through these functions, so an id means the same thing
//! everywhere.

use crate::http::errors::ApiError;

/// Shortest and longest phone numbers accepted, in digits with country code
/// (E.164 allows at most 15).
const MIN_DIGITS: usize = 5;
const MAX_DIGITS: usize = 15;

/// The longest LID accepted, in digits: WhatsApp's have 14 or 15; the
/// bound keeps an id from carrying kilobytes to engines and answers.
const MAX_LID_DIGITS: usize = 20;

/// The server of a person's chat id.
const PHONE_SERVER: &str = "@c.us";

/// What [`parse_phone`] accepts, as a JSON Schema pattern for the OpenAPI
/// document: 5 to 15 digits, with spaces, dots, dashes and parentheses
/// between them and one leading `+`.
pub(crate) const PHONE_PATTERN: &str = r"^\+?[ ().-]*(?:[0-9][ ().-]*){5,15}$";

/// What [`parse_contact_id`] accepts, as a JSON Schema pattern: a phone
/// number as [`PHONE_PATTERN`], or a chat id.
pub(crate) const CONTACT_ID_PATTERN: &str = r"^(?:\+?[ ().-]*(?:[0-9][ ().-]*){5,15}|[0-9]{5,15}@(?:c\.us|s\.whatsapp\.net)|[0-9]+(?:-[0-9]+)*@g\.us|[0-9]{1,20}@lid)$";

/// Parses a contact id as users write it and returns the chat id engines
/// expect: a phone number in any common form (`+55 (11) 98765-4321`,
/// `5511987654321`) becomes `5511987654321@c.us`; `…@s.whatsapp.net`
/// becomes `…@c.us`; groups (`…@g.us`) and LIDs (`…@lid`) pass through.
/// `field` names the input in the error.
pub(crate) fn parse_contact_id(field: &str, raw: &str) -> Result<String, ApiError> {
    let raw = raw.trim();
    let Some((user, server)) = raw.split_once('@') else {
        return parse_phone(field, raw).map(|mut digits| {
            digits.push_str(PHONE_SERVER);
            digits
        });
    };
    let invalid = |why: &str| ApiError::bad_request(field, format!("'{raw}' {why}"));
    match server {
        "c.us" | "s.whatsapp.net" => {
            check_digits(user).map_err(|why| invalid(&why))?;
            Ok([user, PHONE_SERVER].concat())
        }
        "g.us" => {
            // Older groups are `creator-timestamp@g.us`.
            let parts_ok = user
                .split('-')
                .all(|part| !part.is_empty() && part.bytes().all(|b| b.is_ascii_digit()));
            if user.is_empty() || !parts_ok {
                return Err(invalid("is not a group id (digits@g.us)"));
            }
            Ok(raw.to_owned())
        }
        "lid" => {
            check_lid_digits(user).map_err(|why| invalid(&why))?;
            Ok(raw.to_owned())
        }
        _ => Err(invalid(
            "has an unknown server; use a phone number, …@c.us, …@g.us or …@lid",
        )),
    }
}

/// What [`parse_person_id`] accepts, as a JSON Schema pattern: a contact
/// id that is not a group's.
pub(crate) const PERSON_ID_PATTERN: &str = r"^(?:\+?[ ().-]*(?:[0-9][ ().-]*){5,15}|[0-9]{5,15}@(?:c\.us|s\.whatsapp\.net)|[0-9]{1,20}@lid)$";

/// [`parse_contact_id`] for operations on a person (blocking): a group id
/// is refused here, before any engine is asked.
pub(crate) fn parse_person_id(field: &str, raw: &str) -> Result<String, ApiError> {
    let id = parse_contact_id(field, raw)?;
    if id.ends_with("@g.us") {
        return Err(ApiError::bad_request(
            field,
            format!(
                "'{}' is a group; this takes a person (a phone number, …@c.us or …@lid)",
                raw.trim()
            ),
        ));
    }
    Ok(id)
}

/// What [`parse_lid`] accepts, as a JSON Schema pattern.
pub(crate) const LID_PATTERN: &str = r"^[0-9]{1,20}(?:@lid)?$";

/// Parses a LID as WAHA's `/lids/{lid}` takes it, `digits@lid` or just the
/// digits, and returns `digits@lid`. Anything else (a phone chat id, a
/// group) is an error naming `field`.
pub(crate) fn parse_lid(field: &str, raw: &str) -> Result<String, ApiError> {
    let raw = raw.trim();
    let digits = raw.strip_suffix("@lid").unwrap_or(raw);
    check_lid_digits(digits)
        .map_err(|why| ApiError::bad_request(field, format!("'{raw}' {why}")))?;
    Ok(format!("{digits}@lid"))
}

fn check_lid_digits(digits: &str) -> Result<(), String> {
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err("is not a LID (digits@lid)".into());
    }
    if digits.len() > MAX_LID_DIGITS {
        return Err(format!(
            "is not a LID: a LID has at most {MAX_LID_DIGITS} digits"
        ));
    }
    Ok(())
}

/// Parses a phone number in any common form and returns its digits, country
/// code first. Spaces, dots, dashes, parentheses and one leading `+` are
/// allowed between digits; anything else is an error naming `field`.
pub(crate) fn parse_phone(field: &str, raw: &str) -> Result<String, ApiError> {
    let raw = raw.trim();
    let body = raw.strip_prefix('+').unwrap_or(raw);
    if let Some(bad) = body
        .chars()
        .find(|c| !(c.is_ascii_digit() || matches!(c, ' ' | '-' | '(' | ')' | '.')))
    {
        return Err(ApiError::bad_request(
            field,
            format!("'{raw}' is not a phone number or chat id ('{bad}' is not allowed)"),
        ));
    }
    // Room for the server too: most numbers become chat ids.
    let mut digits = String::with_capacity(body.len() + PHONE_SERVER.len());
    digits.extend(body.chars().filter(char::is_ascii_digit));
    check_digits(&digits).map_err(|why| ApiError::bad_request(field, format!("'{raw}' {why}")))?;
    Ok(digits)
}

fn check_digits(digits: &str) -> Result<(), String> {
    if !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err("must be digits only before the @".into());
    }
    if !(MIN_DIGITS..=MAX_DIGITS).contains(&digits.len()) {
        return Err(format!(
            "must have {MIN_DIGITS} to {MAX_DIGITS} digits with the country code"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::strings_matching;

    fn ok(raw: &str) -> String {
        parse_contact_id("contactId", raw).unwrap()
    }

    fn err(raw: &str) -> String {
        let error = parse_contact_id("contactId", raw).unwrap_err();
        assert_eq!(error.status(), axum::http::StatusCode::BAD_REQUEST);
        error.to_string()
    }

    #[test]
    fn phone_numbers_in_common_forms_become_chat_ids() {
        assert_eq!(ok("11231231231"), "11231231231@c.us");
        assert_eq!(ok("+1 123-123-1231"), "11231231231@c.us");
        assert_eq!(ok("+55 (11) 98765-4321"), "5511987654321@c.us");
        assert_eq!(ok(" 44.7700.900100 "), "447700900100@c.us");
    }

    #[test]
    fn chat_ids_are_normalized() {
        assert_eq!(ok("11231231231@c.us"), "11231231231@c.us");
        assert_eq!(ok("11231231231@s.whatsapp.net"), "11231231231@c.us");
        assert_eq!(ok("120363021234567890@g.us"), "120363021234567890@g.us");
        assert_eq!(
            ok("5511987654321-1600000000@g.us"),
            "5511987654321-1600000000@g.us"
        );
        assert_eq!(ok("123456789012345@lid"), "123456789012345@lid");
    }

    #[test]
    fn rejects_what_is_not_an_id_and_names_the_field() {
        for raw in [
            "abc",
            "12a45678",
            "",
            "123",
            "1234567890123456",
            "++11231231231",
            "11231231231@x.us",
            "abc@c.us",
            "@c.us",
            "12@@c.us",
            "-1@g.us",
            "x@lid",
            "1234567890123456789012@lid",
            "../../etc/passwd",
        ] {
            let message = err(raw);
            assert!(message.contains("contactId"), "{raw:?}: {message}");
        }
    }

    #[test]
    fn phones_keep_only_digits() {
        assert_eq!(
            parse_phone("phone", "+55 11 98765 4321").unwrap(),
            "5511987654321"
        );
        assert!(parse_phone("phone", "5511987654321@c.us").is_err());
    }

    #[test]
    fn groups_are_not_persons() {
        assert_eq!(parse_person_id("contactId", "123@lid").unwrap(), "123@lid");
        let error = parse_person_id("contactId", "120363021234567890@g.us").unwrap_err();
        assert!(error.to_string().contains("is a group"), "{error}");
    }

    #[test]
    fn lids_are_digits_at_lid_with_the_server_optional() {
        assert_eq!(
            parse_lid("lid", "123456789012345").unwrap(),
            "123456789012345@lid"
        );
        assert_eq!(parse_lid("lid", " 42@lid ").unwrap(), "42@lid");
        for raw in [
            "11231231231@c.us",
            "1@g.us",
            "abc@lid",
            "@lid",
            "",
            "1@lid@lid",
            "123456789012345678901",
        ] {
            let error = parse_lid("lid", raw).unwrap_err();
            assert_eq!(error.status(), axum::http::StatusCode::BAD_REQUEST);
            assert!(error.to_string().contains("lid"), "{raw:?}: {error}");
        }
    }

    mod properties {
        use super::*;
        use proptest::prelude::*;

        /// A phone number as people type it: digits with separators between.
        fn typed_phone() -> impl Strategy<Value = (String, String)> {
            proptest::collection::vec(
                (
                    0u8..10,
                    proptest::sample::select(vec!["", "", " ", "-", ".", "(", ")"]),
                ),
                MIN_DIGITS..=MAX_DIGITS,
            )
            .prop_flat_map(|parts| (Just(parts), any::<bool>()))
            .prop_map(|(parts, plus)| {
                let digits: String = parts.iter().map(|(d, _)| char::from(b'0' + d)).collect();
                let typed: String = parts
                    .iter()
                    .map(|(d, sep)| format!("{}{sep}", char::from(b'0' + d)))
                    .collect();
                (digits, if plus { format!("+{typed}") } else { typed })
            })
        }

        proptest! {
            #[test]
            fn typed_phone_numbers_become_their_digits_at_c_us((digits, typed) in typed_phone()) {
                prop_assert_eq!(parse_contact_id("contactId", &typed).unwrap(), format!("{digits}@c.us"));
                prop_assert_eq!(parse_phone("phone", &typed).unwrap(), digits);
            }

            #[test]
            fn any_input_parses_or_is_a_400_and_parsing_is_idempotent(raw in "\\PC{0,40}") {
                match parse_contact_id("contactId", &raw) {
                    Ok(id) => prop_assert_eq!(parse_contact_id("contactId", &id).unwrap(), id),
                    Err(error) => {
                        prop_assert_eq!(error.status(), axum::http::StatusCode::BAD_REQUEST);
                        prop_assert!(error.to_string().contains("contactId"));
                    }
                }
            }

            #[test]
            fn whatever_the_documented_patterns_allow_is_accepted(
                contact_id in strings_matching(CONTACT_ID_PATTERN),
                person in strings_matching(PERSON_ID_PATTERN),
                phone in strings_matching(PHONE_PATTERN),
                lid in strings_matching(LID_PATTERN),
            ) {
                prop_assert!(parse_lid("lid", &lid).is_ok(), "{lid}");
                prop_assert!(parse_person_id("contactId", &person).is_ok(), "{person}");
                prop_assert!(parse_contact_id("contactId", &contact_id).is_ok(), "{contact_id}");
                prop_assert!(parse_phone("phone", &phone).is_ok(), "{phone}");
                prop_assert!(parse_contact_id("contactId", &phone).is_ok(), "{phone}");
            }

            #[test]
            fn letters_in_a_phone_number_are_always_refused(
                (_, typed) in typed_phone(),
                letter in "[a-zA-Z]",
                at in 0usize..20,
            ) {
                let mut chars: Vec<char> = typed.chars().collect();
                let at = at.min(chars.len());
                chars.insert(at, letter.chars().next().unwrap());
                let raw: String = chars.into_iter().collect();
                prop_assert!(parse_contact_id("contactId", &raw).is_err(), "{raw}");
            }
        }
    }
}
