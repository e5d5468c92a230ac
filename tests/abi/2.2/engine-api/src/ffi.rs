//! The raw boundary: the root module every engine library exports, and the
//! session object it hands back. Engine authors do not implement these by
//! hand; [`crate::export_engine!`] does it from an [`crate::Engine`].

// `#[sabi_trait]` generates impls inside a const block, which rustc's
// `non_local_definitions` lint reports; the code is what abi_stable intends.
#![allow(non_local_definitions)]

use abi_stable::{
    StableAbi, declare_root_module_statics,
    library::RootModule,
    sabi_trait,
    sabi_types::VersionStrings,
    std_types::{RBox, ROption, RResult, RString, RVec},
};
use async_ffi::{FfiFuture, FutureExt};

use crate::{
    ABI_VERSION, Contact, ContactName, EngineError, LidMapping, ListQuery, Manifest, NumberExists,
    SessionContext, features,
};

/// The result of an engine operation, as it crosses the boundary.
pub type FfiResult<T> = FfiFuture<RResult<T, EngineError>>;

/// The root module of an engine library.
///
/// A prefix type: later ABI versions may add fields after the last one.
/// Their accessors return `None` for a module that lacks them, and the host
/// accepts a module shorter than its own (see the crate docs, "Evolving the
/// contract"), so engines built against 2.0 keep loading. `open_session`
/// stays the last field of the prefix for all of ABI 2.
#[repr(C)]
#[derive(StableAbi)]
#[sabi(kind(Prefix(prefix_ref = EngineModuleRef)))]
pub struct EngineModule {
    /// The engine's manifest. Called once at load.
    pub manifest: extern "C" fn() -> RResult<Manifest, EngineError>,
    /// Opens a session. The engine reports its status through the context's
    /// host handle; an `Err` means it could not open at all.
    #[sabi(last_prefix_field)]
    pub open_session: extern "C" fn(context: SessionContext) -> FfiResult<SessionBox>,
}

impl RootModule for EngineModuleRef {
    declare_root_module_statics! {EngineModuleRef}
    const BASE_NAME: &'static str = "wharf_engine";
    const NAME: &'static str = "wharf_engine";
    const VERSION_STRINGS: VersionStrings = VersionStrings::new(ABI_VERSION);
}

/// One open session of an engine, as the host sees it.
///
/// Every method returns a future the host may poll from its own runtime: the
/// work runs on the engine's runtime and the future only waits for it.
///
/// Operations a later version adds go after `close`, each with a default
/// body that answers [`crate::ErrorKind::UNSUPPORTED`]: that is what a host
/// gets from an engine built before the operation existed (it does not
/// call it anyway, since the engine's manifest does not declare its key).
/// ABI 2.1 added the `lids.*` operations this way.
#[sabi_trait]
pub trait SessionFfi: Send + Sync {
    /// `contacts.list`
    fn list_contacts(&self, query: ListQuery) -> FfiResult<RVec<Contact>>;
    /// `contacts.get`; `contact_id` is a chat id such as `123@c.us`.
    fn get_contact(&self, contact_id: RString) -> FfiResult<Contact>;
    /// `contacts.check_exists`; `phone` is digits only.
    fn check_exists(&self, phone: RString) -> FfiResult<NumberExists>;
    /// `contacts.about`; `None` when the contact keeps it private.
    fn about(&self, contact_id: RString) -> FfiResult<ROption<RString>>;
    /// `contacts.profile_picture`; `None` when private or unset. `refresh`
    /// asks the engine to bypass any cache of its own.
    fn profile_picture(&self, contact_id: RString, refresh: bool) -> FfiResult<ROption<RString>>;
    /// `contacts.block`
    fn block(&self, contact_id: RString) -> FfiResult<()>;
    /// `contacts.unblock`
    fn unblock(&self, contact_id: RString) -> FfiResult<()>;
    /// `contacts.upsert`
    fn upsert_contact(&self, contact_id: RString, name: ContactName) -> FfiResult<()>;
    /// `auth.code`: asks WhatsApp for a code to pair `phone` (digits) without
    /// a QR scan; the user types it on the phone.
    fn request_pairing_code(&self, phone: RString) -> FfiResult<RString>;
    /// Unlinks the account and deletes the engine's credentials. The host
    /// closes the session and removes its data directory afterwards.
    fn logout(&self) -> FfiResult<()>;
    /// Stops the session and releases what it holds. Called once; the host
    /// drops the session afterwards.
    #[sabi(last_prefix_field)]
    fn close(&self) -> FfiFuture<()>;

    // ABI 2.1. An engine built against 2.0 has none of these; the default
    // bodies are what a call to one of them would run, and the host never
    // makes it, since such an engine declares no `lids.*` key.

    /// `lids.list`: known LID mappings, sorted by LID, from `offset`, at
    /// most `limit`.
    fn list_lids(&self, offset: u32, limit: u32) -> FfiResult<RVec<LidMapping>> {
        let _ = (offset, limit);
        absent(features::LIDS_LIST)
    }
    /// `lids.count`: how many LID mappings the engine knows.
    fn count_lids(&self) -> FfiResult<u64> {
        absent(features::LIDS_COUNT)
    }
    /// `lids.find_pn`: the phone number `lid` (`…@lid`) stands for.
    fn find_pn_by_lid(&self, lid: RString) -> FfiResult<LidMapping> {
        let _ = lid;
        absent(features::LIDS_FIND_PN)
    }
    /// `lids.find_lid`: the LID of `phone` (digits).
    fn find_lid_by_pn(&self, phone: RString) -> FfiResult<LidMapping> {
        let _ = phone;
        absent(features::LIDS_FIND_LID)
    }
}

/// What an operation an engine was built without answers.
fn absent<T: Send + 'static>(feature: &str) -> FfiResult<T> {
    let error = EngineError::unsupported(format!(
        "{feature} is not in the contract this engine was built against"
    ));
    async move { RResult::RErr(error) }.into_ffi()
}

/// The session object as it crosses the boundary.
pub type SessionBox = SessionFfi_TO<'static, RBox<()>>;
