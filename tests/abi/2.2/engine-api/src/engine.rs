//! The traits an engine author implements: plain async Rust, no FFI types
//! beyond the data structs. [`crate::export_engine!`] turns them into a library.

use std::future::Future;

use crate::{
    Contact, ContactName, EngineError, LidMapping, ListQuery, Manifest, NumberExists,
    SessionContext, features,
};

/// An engine: a factory of sessions plus the manifest that says what they can do.
///
/// The library makes one value with [`Default`] when the host loads it.
pub trait Engine: Default + Send + Sync + 'static {
    /// The type of an open session.
    type Session: Session;

    /// The engine's name, version and feature matrix. Keep it in step with
    /// what [`Session`] implements: the host only calls what it declares.
    fn manifest(&self) -> Manifest;

    /// Opens a session. Report progress with `context.host().status(..)`;
    /// return `Err` only when the session cannot open at all (for example a
    /// config that does not parse).
    fn open_session(
        &self,
        context: SessionContext,
    ) -> impl Future<Output = Result<Self::Session, EngineError>> + Send;
}

fn not_implemented<T>(feature: &str) -> Result<T, EngineError> {
    Err(EngineError::unsupported(format!(
        "{feature} is not implemented by this engine"
    )))
}

/// An open session. Every operation has a default that answers
/// [`crate::ErrorKind::UNSUPPORTED`]; implement the ones the manifest declares.
///
/// Contact ids arrive normalized by the host: `digits@c.us`, `id@g.us` or
/// `id@lid`.
///
/// One person is one contact. A contact's `id` is its phone number chat id
/// (`digits@c.us`) whenever the engine knows the number, and its
/// [`Contact::lid`] the `…@lid` id; a contact known only by LID has the
/// LID as its id until the engine learns the number. Every operation that
/// takes a contact id accepts either id of a person and acts on that one
/// contact, and a list never shows a person twice.
pub trait Session: Send + Sync + 'static {
    /// `contacts.list`: sort and page with [`ListQuery::apply`].
    fn list_contacts(
        &self,
        query: ListQuery,
    ) -> impl Future<Output = Result<Vec<Contact>, EngineError>> + Send {
        let _ = query;
        async { not_implemented(features::CONTACTS_LIST) }
    }

    /// `contacts.get`
    fn get_contact(
        &self,
        contact_id: String,
    ) -> impl Future<Output = Result<Contact, EngineError>> + Send {
        let _ = contact_id;
        async { not_implemented(features::CONTACTS_GET) }
    }

    /// `contacts.check_exists`; `phone` is digits only, with country code.
    fn check_exists(
        &self,
        phone: String,
    ) -> impl Future<Output = Result<NumberExists, EngineError>> + Send {
        let _ = phone;
        async { not_implemented(features::CONTACTS_CHECK_EXISTS) }
    }

    /// `contacts.about`; `Ok(None)` when the contact keeps it private.
    fn about(
        &self,
        contact_id: String,
    ) -> impl Future<Output = Result<Option<String>, EngineError>> + Send {
        let _ = contact_id;
        async { not_implemented(features::CONTACTS_ABOUT) }
    }

    /// `contacts.profile_picture`; `Ok(None)` when private or unset.
    fn profile_picture(
        &self,
        contact_id: String,
        refresh: bool,
    ) -> impl Future<Output = Result<Option<String>, EngineError>> + Send {
        let _ = (contact_id, refresh);
        async { not_implemented(features::CONTACTS_PROFILE_PICTURE) }
    }

    /// `contacts.block`
    fn block(&self, contact_id: String) -> impl Future<Output = Result<(), EngineError>> + Send {
        let _ = contact_id;
        async { not_implemented(features::CONTACTS_BLOCK) }
    }

    /// `contacts.unblock`
    fn unblock(&self, contact_id: String) -> impl Future<Output = Result<(), EngineError>> + Send {
        let _ = contact_id;
        async { not_implemented(features::CONTACTS_UNBLOCK) }
    }

    /// `contacts.upsert`: add the contact to the address book or rename it.
    fn upsert_contact(
        &self,
        contact_id: String,
        name: ContactName,
    ) -> impl Future<Output = Result<(), EngineError>> + Send {
        let _ = (contact_id, name);
        async { not_implemented(features::CONTACTS_UPSERT) }
    }

    /// `lids.list`: the LID mappings the engine knows, sorted by LID, from
    /// `offset`, at most `limit` ([`LidMapping::page`] does this).
    fn list_lids(
        &self,
        offset: u32,
        limit: u32,
    ) -> impl Future<Output = Result<Vec<LidMapping>, EngineError>> + Send {
        let _ = (offset, limit);
        async { not_implemented(features::LIDS_LIST) }
    }

    /// `lids.count`: how many LID mappings the engine knows.
    fn count_lids(&self) -> impl Future<Output = Result<u64, EngineError>> + Send {
        async { not_implemented(features::LIDS_COUNT) }
    }

    /// `lids.find_pn`: the phone number `lid` (`…@lid`) stands for; a LID
    /// whose number the engine does not know (and cannot learn) is not an
    /// error but a mapping without `pn`.
    fn find_pn_by_lid(
        &self,
        lid: String,
    ) -> impl Future<Output = Result<LidMapping, EngineError>> + Send {
        let _ = lid;
        async { not_implemented(features::LIDS_FIND_PN) }
    }

    /// `lids.find_lid`: the LID of `phone` (digits, with country code); a
    /// number without a known LID is a mapping without `lid`.
    fn find_lid_by_pn(
        &self,
        phone: String,
    ) -> impl Future<Output = Result<LidMapping, EngineError>> + Send {
        let _ = phone;
        async { not_implemented(features::LIDS_FIND_LID) }
    }

    /// `auth.code`: a pairing code for `phone` (digits), to type on the phone.
    fn request_pairing_code(
        &self,
        phone: String,
    ) -> impl Future<Output = Result<String, EngineError>> + Send {
        let _ = phone;
        async { not_implemented(features::AUTH_CODE) }
    }

    /// Unlinks the account from WhatsApp and forgets its credentials. The
    /// default does nothing, for engines that hold no credentials; the host
    /// deletes the session's data directory afterwards in any case.
    fn logout(&self) -> impl Future<Output = Result<(), EngineError>> + Send {
        async { Ok(()) }
    }

    /// Stops the session: close connections, flush state.
    fn close(&self) -> impl Future<Output = ()> + Send {
        async {}
    }
}
