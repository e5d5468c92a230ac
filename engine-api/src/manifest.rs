//! What an engine is and what it can do.
//!
//! The host reads the manifest once when it loads a library and routes each
//! operation only to engines that declare it [`Support::Supported`].

use abi_stable::{
    StableAbi,
    std_types::{RString, RVec},
};

/// The version of the contract between host and engines.
///
/// The host rejects a library whose root module declares another major
/// version or whose types have another layout. Within a major, a host
/// loads every engine built against an earlier minor: see the crate docs,
/// "Evolving the contract".
pub const ABI_VERSION: &str = "2.3.0";

/// The rule for engine names, as a regular expression: a lower-case
/// letter, then up to 63 lower-case letters, digits, `-` or `_`. A name
/// appears in URLs, session configs, `name@version` references, file
/// names and, in the scaffold, a Rust type name, so it must be all of
/// these at once.
pub const ENGINE_NAME_PATTERN: &str = "^[a-z][a-z0-9_-]{0,63}$";

/// Checks `name` against [`ENGINE_NAME_PATTERN`]: the one rule the host,
/// `wharf engines` and `cargo xtask new-engine` apply. The error says what
/// a name may be.
pub fn check_engine_name(name: &str) -> Result<(), String> {
    let mut bytes = name.bytes();
    let ok = name.len() <= 64
        && bytes.next().is_some_and(|first| first.is_ascii_lowercase())
        && bytes.all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_');
    if ok {
        Ok(())
    } else {
        Err(format!(
            "'{name}' is not an engine name: it must start with a-z and be up to 64 characters of a-z, 0-9, '-' or '_'"
        ))
    }
}

/// Feature keys, one per operation the host may route to an engine.
///
/// Keys are strings on purpose: a newer engine's unknown keys are ignored by
/// an older host, and a key an engine does not list counts as unsupported.
pub mod features {
    /// List the contact book: `GET /api/{session}/contacts/all`.
    pub const CONTACTS_LIST: &str = "contacts.list";
    /// Get one contact: `GET /api/contacts`, `GET /api/{session}/contacts/{id}`.
    pub const CONTACTS_GET: &str = "contacts.get";
    /// Whether a phone number is on WhatsApp: `GET /api/contacts/check-exists`.
    pub const CONTACTS_CHECK_EXISTS: &str = "contacts.check_exists";
    /// A contact's "about" text: `GET /api/contacts/about`.
    pub const CONTACTS_ABOUT: &str = "contacts.about";
    /// A contact's profile picture URL: `GET /api/contacts/profile-picture`.
    pub const CONTACTS_PROFILE_PICTURE: &str = "contacts.profile_picture";
    /// Block a contact: `POST /api/contacts/block`.
    pub const CONTACTS_BLOCK: &str = "contacts.block";
    /// Unblock a contact: `POST /api/contacts/unblock`.
    pub const CONTACTS_UNBLOCK: &str = "contacts.unblock";
    /// Add or update a contact in the address book: `PUT /api/{session}/contacts/{chatId}`.
    pub const CONTACTS_UPSERT: &str = "contacts.upsert";

    /// Pair by QR code: the engine emits QR values, served by `GET /api/{session}/auth/qr`.
    pub const AUTH_QR: &str = "auth.qr";
    /// Pair by code: `POST /api/{session}/auth/request-code`.
    pub const AUTH_CODE: &str = "auth.code";

    /// LID to phone number mappings, page by page: `GET /api/{session}/lids`.
    /// Since ABI 2.1.
    pub const LIDS_LIST: &str = "lids.list";
    /// How many LID mappings the engine knows: `GET /api/{session}/lids/count`.
    /// Since ABI 2.1.
    pub const LIDS_COUNT: &str = "lids.count";
    /// The phone number a LID stands for: `GET /api/{session}/lids/{lid}`.
    /// Since ABI 2.1.
    pub const LIDS_FIND_PN: &str = "lids.find_pn";
    /// The LID of a phone number: `GET /api/{session}/lids/pn/{phoneNumber}`.
    /// Since ABI 2.1.
    pub const LIDS_FIND_LID: &str = "lids.find_lid";

    /// The contacts keys this version knows, in documentation order. Later
    /// versions add keys: an engine names the keys it implements instead.
    pub const CONTACTS: &[&str] = &[
        CONTACTS_LIST,
        CONTACTS_GET,
        CONTACTS_CHECK_EXISTS,
        CONTACTS_ABOUT,
        CONTACTS_PROFILE_PICTURE,
        CONTACTS_BLOCK,
        CONTACTS_UNBLOCK,
        CONTACTS_UPSERT,
    ];

    /// The LID keys this version knows (since ABI 2.1).
    pub const LIDS: &[&str] = &[LIDS_LIST, LIDS_COUNT, LIDS_FIND_PN, LIDS_FIND_LID];

    /// The pairing keys this version knows.
    pub const AUTH: &[&str] = &[AUTH_QR, AUTH_CODE];

    /// Every key this version of the contract knows, in documentation
    /// order (the contacts keys, the LID keys, then the pairing keys);
    /// later versions add keys.
    pub const ALL: &[&str] = &{
        const GROUPS: [&[&str]; 3] = [CONTACTS, LIDS, AUTH];
        let mut all = [""; CONTACTS.len() + LIDS.len() + AUTH.len()];
        let (mut index, mut group) = (0, 0);
        while group < GROUPS.len() {
            let mut key = 0;
            while key < GROUPS[group].len() {
                all[index] = GROUPS[group][key];
                index += 1;
                key += 1;
            }
            group += 1;
        }
        all
    };
}

/// Whether an engine can do one feature.
///
/// These two answers are all there will ever be (a new shade of support is
/// a new feature key), so this enum stays closed.
#[repr(u8)]
#[derive(StableAbi, Debug, Clone, PartialEq, Eq)]
pub enum Support {
    /// The host may route this operation to the engine.
    Supported,
    /// The host answers `501` itself and never calls the engine.
    Unsupported {
        /// Why, in words a REST user can act on.
        reason: RString,
    },
}

/// One row of the feature matrix.
#[repr(C)]
#[derive(StableAbi, Debug, Clone, PartialEq, Eq)]
pub struct FeatureEntry {
    /// A key from [`features`] (or a newer one the host may not know).
    pub key: RString,
    /// Whether the engine supports it.
    pub support: Support,
}

/// The description of an engine, returned by its library before any session opens.
#[repr(C)]
#[derive(StableAbi, Debug, Clone, PartialEq, Eq)]
pub struct Manifest {
    /// Short unique name, used by sessions to pick the engine (`sandbox`, `webmd`).
    pub name: RString,
    /// The engine's own version (semver).
    pub version: RString,
    /// The [`ABI_VERSION`] the engine was built against.
    pub abi_version: RString,
    /// One line for operators.
    pub description: RString,
    /// The feature matrix. Keys not listed are unsupported.
    pub features: RVec<FeatureEntry>,
}

impl Manifest {
    /// A manifest with no features yet; add them with [`Manifest::supports`]
    /// and [`Manifest::unsupported`].
    pub fn new(name: &str, version: &str, description: &str) -> Self {
        Self {
            name: name.into(),
            version: version.into(),
            abi_version: ABI_VERSION.into(),
            description: description.into(),
            features: RVec::new(),
        }
    }

    /// Declares `key` supported.
    pub fn supports(self, key: &str) -> Self {
        self.with(key, Support::Supported)
    }

    /// Declares every key of `keys` supported.
    pub fn supports_all(self, keys: &[&str]) -> Self {
        keys.iter()
            .fold(self, |manifest, key| manifest.supports(key))
    }

    /// Declares `key` unsupported, with the reason REST users will read.
    pub fn unsupported(self, key: &str, reason: &str) -> Self {
        self.with(
            key,
            Support::Unsupported {
                reason: reason.into(),
            },
        )
    }

    fn with(mut self, key: &str, support: Support) -> Self {
        self.features.retain(|entry| entry.key.as_str() != key);
        self.features.push(FeatureEntry {
            key: key.into(),
            support,
        });
        self
    }

    /// How the manifest declares `key`; `None` when it is not listed, which
    /// means unsupported.
    pub fn support(&self, key: &str) -> Option<&Support> {
        self.features
            .iter()
            .find(|entry| entry.key.as_str() == key)
            .map(|entry| &entry.support)
    }

    /// Whether `key` is declared supported.
    pub fn is_supported(&self, key: &str) -> bool {
        matches!(self.support(key), Some(Support::Supported))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn all_keys_are_the_contacts_then_the_lids_then_the_auth_keys() {
        assert_eq!(
            features::ALL,
            [features::CONTACTS, features::LIDS, features::AUTH].concat()
        );
    }

    #[test]
    fn engine_names_start_with_a_letter_and_fit_everywhere_they_are_used() {
        for good in ["sandbox", "web-md_2", "a", &"a".repeat(64)] {
            assert_eq!(check_engine_name(good), Ok(()), "{good}");
        }
        for bad in [
            "",
            "2fast",
            "-x",
            "_x",
            "Web",
            "a b",
            "../x",
            "é",
            &"a".repeat(65),
        ] {
            let problem = check_engine_name(bad).unwrap_err();
            assert!(problem.contains("must start with a-z"), "{problem}");
        }
    }

    #[test]
    fn unlisted_keys_are_unsupported_and_later_declarations_win() {
        let manifest = Manifest::new("x", "1.0.0", "test")
            .supports(features::CONTACTS_LIST)
            .unsupported(features::CONTACTS_LIST, "changed my mind");
        assert_eq!(manifest.features.len(), 1);
        assert!(!manifest.is_supported(features::CONTACTS_LIST));
        assert_eq!(manifest.support(features::CONTACTS_UPSERT), None);
        assert_eq!(manifest.abi_version.as_str(), ABI_VERSION);
    }
}
