//! The contract between the wharf host and its WhatsApp engines.
//!
//! An engine is a `cdylib` that the `wharf` host loads at run time. This
//! crate is the only code both sides share: the data types, the feature
//! matrix, the error type, and the glue that makes a plain async Rust
//! implementation safe to call across the library boundary.
//!
//! # Writing an engine
//!
//! 1. Make a library crate with `crate-type = ["cdylib"]` that depends on
//!    `wharf-engine-api`, and build it with `panic = "unwind"` (the default).
//! 2. Implement [`Engine`] (a manifest and a way to open sessions) and
//!    [`Session`] (the operations the manifest declares supported).
//! 3. Write `wharf_engine_api::export_engine!(YourEngine);` once.
//! 4. Build with `cargo build --release` and copy the library into the
//!    host's engines directory; `GET /api/server/engines` lists it.
//!
//! The host checks the manifest before every call: an operation declared
//! unsupported is answered `501` by the host and never reaches the engine.
//!
//! ```
//! use wharf_engine_api::{
//!     Contact, Engine, EngineError, ListQuery, Manifest, Session, SessionContext,
//!     SessionStatus, features,
//! };
//!
//! #[derive(Default)]
//! pub struct EchoEngine;
//!
//! pub struct EchoSession {
//!     me: Contact,
//! }
//!
//! impl Engine for EchoEngine {
//!     type Session = EchoSession;
//!
//!     fn manifest(&self) -> Manifest {
//!         Manifest::new("echo", "0.1.0", "Knows only itself")
//!             .supports_all(&[features::CONTACTS_LIST, features::CONTACTS_GET])
//!             .unsupported(features::CONTACTS_UPSERT, "echo has no address book")
//!     }
//!
//!     async fn open_session(&self, context: SessionContext) -> Result<EchoSession, EngineError> {
//!         let me = Contact {
//!             id: "10000000000@c.us".into(),
//!             is_me: true,
//!             ..Contact::default()
//!         };
//!         context.host().status(SessionStatus::Working, None);
//!         Ok(EchoSession { me })
//!     }
//! }
//!
//! impl Session for EchoSession {
//!     async fn list_contacts(&self, query: ListQuery) -> Result<Vec<Contact>, EngineError> {
//!         Ok(query.apply(vec![self.me.clone()]))
//!     }
//!
//!     async fn get_contact(&self, contact_id: String) -> Result<Contact, EngineError> {
//!         if contact_id == self.me.id.as_str() {
//!             Ok(self.me.clone())
//!         } else {
//!             Err(EngineError::not_found(format!("no contact {contact_id}")))
//!         }
//!     }
//! }
//!
//! wharf_engine_api::export_engine!(EchoEngine);
//! # fn main() {}
//! ```
//!
//! A complete engine built as a library is in `examples/minimal_engine.rs`.
//!
//! # Evolving the contract
//!
//! [`ffi::EngineModule`] and [`ffi::SessionFfi`] are prefix types: a later
//! version may add operations after the last one, and engines built today
//! keep loading. Feature keys are strings, so a host ignores keys it does not
//! know. Changing a data type's fields is a new [`ABI_VERSION`].

mod contact;
mod engine;
mod error;
mod export;
pub mod ffi;
mod host;
mod manifest;
pub mod support;

pub use contact::{Contact, ContactName, ListQuery, NumberExists, SortBy, SortOrder};
pub use engine::{Engine, Session};
pub use error::{EngineError, ErrorKind};
pub use host::{
    Host, HostServices, HostServices_TO, HostServicesBox, LogLevel, SessionContext, SessionEvent,
    SessionStatus,
};
pub use manifest::{ABI_VERSION, FeatureEntry, Manifest, Support, features};

/// The `abi_stable` types that appear in this crate's data types.
pub use abi_stable::std_types::{RNone, ROption, RSome, RString, RVec};

/// Items used by the code [`export_engine!`] generates. Not part of the API.
#[doc(hidden)]
pub mod __private {
    pub use crate::export::root_module;
    pub use abi_stable::library::{
        __call_root_module_loader, CheckTypeLayout, LibHeader, RootModuleResult,
    };
}
