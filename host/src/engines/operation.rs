//! The operations an engine can be asked for, as this host knows them.
//!
//! The ABI names each operation by a feature key string (`contacts.get`),
//! so that later contracts can add keys without breaking older engines.
//! Inside the host they travel as [`Operation`]: a match over them is
//! exhaustive, and an operation added to the host is a compile error
//! wherever it has to be handled.

use std::fmt;

use wharf_engine_api::features;

/// One operation of this host's contract, named in an engine's feature
/// matrix by its [`key`](Operation::key).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Operation {
    ContactsList,
    ContactsGet,
    ContactsCheckExists,
    ContactsAbout,
    ContactsProfilePicture,
    ContactsBlock,
    ContactsUnblock,
    ContactsUpsert,
    LidsList,
    LidsCount,
    LidsFindPn,
    LidsFindLid,
    AuthQr,
    AuthCode,
}

/// The part of the API an operation belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Group {
    Contacts,
    /// Since ABI 2.1.
    Lids,
    Pairing,
}

impl Operation {
    /// Every operation, in documentation order: contacts, LIDs, pairing.
    pub const ALL: [Self; 14] = [
        Self::ContactsList,
        Self::ContactsGet,
        Self::ContactsCheckExists,
        Self::ContactsAbout,
        Self::ContactsProfilePicture,
        Self::ContactsBlock,
        Self::ContactsUnblock,
        Self::ContactsUpsert,
        Self::LidsList,
        Self::LidsCount,
        Self::LidsFindPn,
        Self::LidsFindLid,
        Self::AuthQr,
        Self::AuthCode,
    ];

    /// The feature key that names this operation in the ABI.
    pub const fn key(self) -> &'static str {
        match self {
            Self::ContactsList => features::CONTACTS_LIST,
            Self::ContactsGet => features::CONTACTS_GET,
            Self::ContactsCheckExists => features::CONTACTS_CHECK_EXISTS,
            Self::ContactsAbout => features::CONTACTS_ABOUT,
            Self::ContactsProfilePicture => features::CONTACTS_PROFILE_PICTURE,
            Self::ContactsBlock => features::CONTACTS_BLOCK,
            Self::ContactsUnblock => features::CONTACTS_UNBLOCK,
            Self::ContactsUpsert => features::CONTACTS_UPSERT,
            Self::LidsList => features::LIDS_LIST,
            Self::LidsCount => features::LIDS_COUNT,
            Self::LidsFindPn => features::LIDS_FIND_PN,
            Self::LidsFindLid => features::LIDS_FIND_LID,
            Self::AuthQr => features::AUTH_QR,
            Self::AuthCode => features::AUTH_CODE,
        }
    }

    pub const fn group(self) -> Group {
        match self {
            Self::ContactsList
            | Self::ContactsGet
            | Self::ContactsCheckExists
            | Self::ContactsAbout
            | Self::ContactsProfilePicture
            | Self::ContactsBlock
            | Self::ContactsUnblock
            | Self::ContactsUpsert => Group::Contacts,
            Self::LidsList | Self::LidsCount | Self::LidsFindPn | Self::LidsFindLid => Group::Lids,
            Self::AuthQr | Self::AuthCode => Group::Pairing,
        }
    }

    /// The operation a feature key names; `None` for a key of a later
    /// contract than this host's.
    pub fn from_key(key: &str) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|operation| operation.key() == key)
    }

    /// The operations of one group, in documentation order.
    pub fn of(group: Group) -> impl Iterator<Item = Self> {
        Self::ALL
            .into_iter()
            .filter(move |operation| operation.group() == group)
    }
}

impl fmt::Display for Operation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.key())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(operations: impl Iterator<Item = Operation>) -> Vec<&'static str> {
        operations.map(Operation::key).collect()
    }

    #[test]
    fn the_operations_are_the_contracts_feature_keys_in_its_order() {
        assert_eq!(keys(Operation::ALL.into_iter()), features::ALL);
        assert_eq!(keys(Operation::of(Group::Contacts)), features::CONTACTS);
        assert_eq!(keys(Operation::of(Group::Lids)), features::LIDS);
        assert_eq!(keys(Operation::of(Group::Pairing)), features::AUTH);
    }

    #[test]
    fn a_key_names_its_operation_and_an_unknown_key_none() {
        for operation in Operation::ALL {
            assert_eq!(Operation::from_key(operation.key()), Some(operation));
        }
        assert_eq!(Operation::from_key("contacts.delete"), None);
        assert_eq!(Operation::from_key("CONTACTS.GET"), None);
    }

    #[test]
    fn an_operation_prints_as_its_key_and_lines_up_in_tables() {
        assert_eq!(
            format!("{:<15}|", Operation::ContactsGet),
            "contacts.get   |"
        );
    }
}
