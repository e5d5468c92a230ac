//! The data that crosses the boundary for contact operations.
//!
//! The serde shapes are WAHA's JSON shapes: the host serves these types as
//! they are, so an engine and a REST user see the same field names.

use std::cmp::Ordering;

use abi_stable::{
    StableAbi,
    std_types::{ROption, RString, RVec},
};
use serde::{Deserialize, Serialize};

/// A WhatsApp contact, as WAHA returns it.
///
/// The fields are those of ABI 2.0 and never change. A field a later
/// version of the contract adds travels in [`Contact::later_fields`], by
/// name, so a contact from an engine built against 2.0 still has the
/// layout every later host expects (see the crate docs, "Evolving the
/// contract").
#[repr(C)]
#[derive(StableAbi, Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(
    feature = "openapi",
    schema(
        description = "A WhatsApp contact, as WAHA returns it. Every field is always \
                          present; a value not known is `null`."
    )
)]
#[serde(rename_all = "camelCase", default)]
pub struct Contact {
    /// The chat id: `11231231231@c.us`, `123@g.us` for groups, `123@lid`.
    #[cfg_attr(feature = "openapi", schema(value_type = String, example = "11231231231@c.us", required = true))]
    pub id: RString,
    /// The phone number in digits, when the contact has one.
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>, example = "11231231231", required = true))]
    pub number: ROption<RString>,
    /// The name saved in the phone's address book.
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>, example = "Contact Name", required = true))]
    pub name: ROption<RString>,
    /// The name the contact chose for themselves.
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>, example = "Pushname", required = true))]
    pub pushname: ROption<RString>,
    /// The short (first) name from the address book.
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>, example = "Shortname", required = true))]
    pub short_name: ROption<RString>,
    /// This is the account the session is logged in as.
    #[cfg_attr(feature = "openapi", schema(required = true))]
    pub is_me: bool,
    /// This is a group chat.
    #[cfg_attr(feature = "openapi", schema(required = true))]
    pub is_group: bool,
    /// The number is registered on WhatsApp.
    #[serde(rename = "isWAContact")]
    #[cfg_attr(feature = "openapi", schema(required = true))]
    pub is_wa_contact: bool,
    /// The contact is saved in the phone's address book.
    #[cfg_attr(feature = "openapi", schema(required = true))]
    pub is_my_contact: bool,
    /// The session has blocked this contact.
    #[cfg_attr(feature = "openapi", schema(required = true))]
    pub is_blocked: bool,
    /// The person's `…@lid` id (WhatsApp's privacy-preserving identity),
    /// when the engine knows it. A contact known only by its LID has it
    /// as its `id` too.
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>, example = "123456789012345@lid", required = true))]
    pub lid: ROption<RString>,
    /// Fields that later versions of the contract add, by name. This
    /// version defines none. A host serves the ones it knows beside the
    /// fields above, and ignores the others; they are not part of this
    /// type's JSON.
    #[serde(skip)]
    pub later_fields: RVec<LaterField>,
}

/// A field of [`Contact`] added by a later version of the contract.
#[repr(C)]
#[derive(StableAbi, Debug, Clone, PartialEq, Eq)]
pub struct LaterField {
    /// The field's name in WAHA's JSON (`camelCase`).
    pub name: RString,
    /// Its value, as JSON text.
    pub json: RString,
}

/// Answer to `contacts.check_exists`.
#[repr(C)]
#[derive(StableAbi, Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct NumberExists {
    /// Whether the number is registered on WhatsApp.
    pub number_exists: bool,
    /// The chat id WhatsApp really uses for the number (for Brazilian numbers,
    /// with or without the 9th digit); `None` when it does not exist.
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>, example = "5511987654321@c.us"))]
    pub chat_id: ROption<RString>,
}

/// A LID and the phone number it stands for, as WAHA's `/lids` routes
/// answer. Added in ABI 2.1.
///
/// WhatsApp names many people by a LID (`…@lid`), an id that hides their
/// number; an engine learns which number a LID stands for as the
/// protocol tells it. `lid` is `None` only when asked by phone number for
/// a number the engine knows no LID for, `pn` only when asked by LID for
/// a LID whose number it does not know: a listed mapping has both.
#[repr(C)]
#[derive(StableAbi, Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct LidMapping {
    /// The LID, `…@lid`.
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>, example = "123456789012345@lid"))]
    pub lid: ROption<RString>,
    /// The phone number's chat id, `digits@c.us`.
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>, example = "11231231231@c.us"))]
    pub pn: ROption<RString>,
}

impl LidMapping {
    /// `lid` stands for the phone number chat id `pn`, or for an unknown one.
    pub fn new(lid: impl Into<RString>, pn: Option<impl Into<RString>>) -> Self {
        Self {
            lid: ROption::RSome(lid.into()),
            pn: pn.map(Into::into).into(),
        }
    }

    /// The phone number chat id `pn`, for which no LID is known.
    pub fn unknown_lid(pn: impl Into<RString>) -> Self {
        Self {
            lid: ROption::RNone,
            pn: ROption::RSome(pn.into()),
        }
    }

    /// Sorts `mappings` by LID and pages them, as `lids.list` answers:
    /// WAHA always lists LIDs in ascending order.
    pub fn page(mut mappings: Vec<LidMapping>, offset: u32, limit: u32) -> Vec<LidMapping> {
        mappings.sort_by(|a, b| a.lid.cmp(&b.lid));
        mappings
            .into_iter()
            .skip(offset as usize)
            .take(limit as usize)
            .collect()
    }
}

/// The names to save with `contacts.upsert`.
#[repr(C)]
#[derive(StableAbi, Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ContactName {
    /// First name; becomes the short name.
    pub first_name: RString,
    /// Last name; may be empty.
    #[serde(default)]
    pub last_name: RString,
}

impl ContactName {
    /// The longest first or last name, in characters, that the host passes
    /// to an engine: enough for any real name, and a bound on what one
    /// request can make an engine store.
    pub const MAX_CHARS: usize = 128;

    /// First and last name joined by a space, as the address book shows them.
    pub fn full_name(&self) -> String {
        let first = self.first_name.trim();
        let last = self.last_name.trim();
        match (first.is_empty(), last.is_empty()) {
            (false, false) => format!("{first} {last}"),
            (false, true) => first.to_owned(),
            (true, _) => last.to_owned(),
        }
    }
}

/// The field a contact list is sorted by.
#[repr(u8)]
#[derive(StableAbi, Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SortBy {
    /// The chat id.
    #[default]
    Id,
    /// The address-book name; contacts without one come last in both orders.
    Name,
}

/// The direction of a sort. `Asc` is A to Z.
///
/// WAHA's documentation has the two words swapped; wharf follows the ordinary
/// meaning.
#[repr(u8)]
#[derive(StableAbi, Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SortOrder {
    /// A to Z, smallest first.
    #[default]
    Asc,
    /// Z to A, largest first.
    Desc,
}

/// Paging and sorting for `contacts.list`.
#[repr(C)]
#[derive(StableAbi, Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ListQuery {
    /// At most this many contacts; `None` for all.
    pub limit: ROption<u32>,
    /// Skip this many contacts after sorting.
    pub offset: u32,
    /// The sort key.
    pub sort_by: SortBy,
    /// The sort direction.
    pub sort_order: SortOrder,
}

impl ListQuery {
    /// Sorts and pages `contacts` the way every engine must, so that all
    /// engines answer the same query the same way.
    ///
    /// By id: the ids' bytes. By name: [`compare_names`], with contacts
    /// that have no name (or an empty one) last in both directions, in id
    /// order. Ties are broken by id, so the order is total and paging is
    /// stable.
    pub fn apply(&self, mut contacts: Vec<Contact>) -> Vec<Contact> {
        contacts.sort_by(|a, b| self.compare(a, b));
        let limit = self.limit.into_option().map_or(usize::MAX, |l| l as usize);
        contacts
            .into_iter()
            .skip(self.offset as usize)
            .take(limit)
            .collect()
    }

    fn compare(&self, a: &Contact, b: &Contact) -> Ordering {
        let directed = |ordering: Ordering| match self.sort_order {
            SortOrder::Asc => ordering,
            SortOrder::Desc => ordering.reverse(),
        };
        match self.sort_by {
            SortBy::Id => directed(a.id.cmp(&b.id)),
            SortBy::Name => match (sort_name(a), sort_name(b)) {
                (Some(x), Some(y)) => directed(compare_names(x, y).then_with(|| a.id.cmp(&b.id))),
                (Some(_), None) => Ordering::Less,
                (None, Some(_)) => Ordering::Greater,
                (None, None) => directed(a.id.cmp(&b.id)),
            },
        }
    }
}

/// The name a contact sorts by: its address-book name, unless empty.
fn sort_name(contact: &Contact) -> Option<&str> {
    contact
        .name
        .as_ref()
        .into_option()
        .map(RString::as_str)
        .filter(|name| !name.trim().is_empty())
}

/// The order of names from A to Z that every engine and the host use:
/// the Unicode Collation Algorithm with the CLDR root collation
/// (`icu_collator`), so that letters decide first whatever their accents
/// and case ("Émile" between "Emil" and "Emily", "bob" between "Alice" and
/// "Carol"), then accents, then case; names equal even then are ordered by
/// their code points, so that only identical names tie.
pub fn compare_names(a: &str, b: &str) -> Ordering {
    collator().compare(a, b).then_with(|| a.cmp(b))
}

fn collator() -> &'static icu_collator::CollatorBorrowed<'static> {
    static COLLATOR: std::sync::OnceLock<icu_collator::CollatorBorrowed<'static>> =
        std::sync::OnceLock::new();
    COLLATOR.get_or_init(|| {
        icu_collator::Collator::try_new(Default::default(), Default::default())
            .expect("the root collation is compiled into icu_collator")
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use abi_stable::std_types::ROption::{RNone, RSome};

    fn contact(id: &str, name: Option<&str>) -> Contact {
        Contact {
            id: id.into(),
            name: name.map(RString::from).into(),
            ..Contact::default()
        }
    }

    fn ids(contacts: &[Contact]) -> Vec<&str> {
        contacts.iter().map(|c| c.id.as_str()).collect()
    }

    fn book() -> Vec<Contact> {
        vec![
            contact("3@c.us", Some("bob")),
            contact("1@c.us", None),
            contact("2@c.us", Some("Alice")),
            contact("4@c.us", Some("carol")),
            contact("0@c.us", None),
        ]
    }

    #[test]
    fn sorts_by_name_case_insensitively_with_nameless_last_in_both_orders() {
        let asc = ListQuery {
            sort_by: SortBy::Name,
            ..ListQuery::default()
        };
        assert_eq!(
            ids(&asc.apply(book())),
            ["2@c.us", "3@c.us", "4@c.us", "0@c.us", "1@c.us"]
        );
        let desc = ListQuery {
            sort_order: SortOrder::Desc,
            ..asc
        };
        assert_eq!(
            ids(&desc.apply(book())),
            ["4@c.us", "3@c.us", "2@c.us", "1@c.us", "0@c.us"]
        );
    }

    #[test]
    fn names_sort_by_letter_whatever_their_accents_and_case() {
        let names = [
            "émile", "Zoë", "Emily", "Ángel", "Emil", "Émile", "angela", "zoe", "Øystein", "Oscar",
            "Ana", "ana",
        ];
        let book: Vec<Contact> = names
            .iter()
            .enumerate()
            .map(|(index, name)| contact(&format!("{index}@c.us"), Some(name)))
            .chain([contact("98@c.us", Some(" ")), contact("99@c.us", None)])
            .collect();
        let query = ListQuery {
            sort_by: SortBy::Name,
            ..ListQuery::default()
        };
        let sorted = query.apply(book);
        let sorted: Vec<&str> = sorted.iter().map(|c| sort_name(c).unwrap_or("-")).collect();
        assert_eq!(
            sorted,
            [
                "ana", "Ana", "Ángel", "angela", "Emil", "émile", "Émile", "Emily", "Oscar",
                "Øystein", "zoe", "Zoë", "-", "-"
            ]
        );
    }

    #[test]
    fn pages_after_sorting() {
        let query = ListQuery {
            limit: RSome(2),
            offset: 1,
            ..ListQuery::default()
        };
        assert_eq!(ids(&query.apply(book())), ["1@c.us", "2@c.us"]);
        let past_the_end = ListQuery {
            offset: 10,
            limit: RNone,
            ..query
        };
        assert!(past_the_end.apply(book()).is_empty());
    }

    #[test]
    fn serializes_with_waha_field_names() {
        let json = serde_json::to_value(contact("1@c.us", Some("A"))).unwrap();
        let keys: Vec<&str> = json
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        for key in [
            "id",
            "number",
            "name",
            "pushname",
            "shortName",
            "isMe",
            "isGroup",
            "isWAContact",
            "isMyContact",
            "isBlocked",
            "lid",
        ] {
            assert!(keys.contains(&key), "missing {key} in {json}");
        }
        assert_eq!(json["number"], serde_json::Value::Null);
        assert!(json.get("laterFields").is_none(), "{json}");
    }

    #[test]
    fn full_name_skips_empty_parts() {
        let name = |first: &str, last: &str| ContactName {
            first_name: first.into(),
            last_name: last.into(),
        };
        assert_eq!(name("Ana", "Silva").full_name(), "Ana Silva");
        assert_eq!(name("Ana", " ").full_name(), "Ana");
        assert_eq!(name("", "Silva").full_name(), "Silva");
    }
}
