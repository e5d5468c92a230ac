//! The contract between the wharf host and its WhatsApp engines.
//!
//! An engine is a `cdylib` that the `wharf` host loads at run time. This
//! crate is the only code both sides share: the data types, the feature
//! matrix, the error type, and the glue that makes a plain async Rust
//! implementation safe to call across the library boundary.
//!
//! # Writing an engine, from an empty crate to a loaded engine
//!
//! ## 1. The crate
//!
//! In a checkout of wharf, `cargo xtask new-engine my-engine` writes a
//! working engine crate to `engines/my-engine` (or, with `--path DIR`,
//! anywhere else, as a crate of its own). It builds and passes conformance
//! as generated; the rest of this section explains what it contains, so
//! you can also start from `cargo new --lib`. The `Cargo.toml` needs:
//!
//! ```toml
//! [lib]
//! crate-type = ["cdylib"]   # a shared library the host loads
//!
//! [dependencies]
//! wharf-engine-api = { path = "../wharf/engine-api" }
//! ```
//!
//! Keep `panic = "unwind"` (the default) in your profiles: the glue turns a
//! panic in your code into an error for that one request, which it cannot
//! do if panics abort.
//!
//! ## 2. The manifest
//!
//! [`Engine::manifest`] names the engine (`a-z`, `0-9`, `-`, `_`; it is what
//! REST users write in `"engine": "my-engine"`), gives a semantic version
//! (use `env!("CARGO_PKG_VERSION")`) and a description, and declares each
//! feature key of [`features`] supported or unsupported *with a reason*.
//! The host reads it once, when it loads the library. It never calls an
//! operation the manifest does not declare supported: REST users get a
//! `501` with your reason instead. So declare only what works, and be
//! specific in reasons ("WhatsApp Web cannot add contacts").
//!
//! ## 3. Sessions
//!
//! [`Engine::open_session`] is called for each REST session that starts on
//! your engine. [`SessionContext`] gives it the session's config (JSON,
//! read with [`SessionContext::config`] into your own `serde` type), a data
//! directory of its own (keep credentials there, so a restarted host
//! resumes without pairing again), and a [`Host`] handle to report status
//! changes, QR codes for pairing, and log lines. A config value that names
//! a file (a fixture, a certificate) is read with
//! [`Host::read_config_file`], never opened directly: the config comes from
//! an API client, and the host reads only from the directory its operator
//! allows. Return once the session exists; connect in the background and report progress with
//! [`Host::status`]: `STARTING`, `SCAN_QR_CODE`, then `WORKING`, or
//! `FAILED` with a reason.
//!
//! ## 4. Operations
//!
//! Implement the [`Session`] methods your manifest declares. They are
//! plain `async fn`s; the glue runs them on a tokio runtime owned by your
//! library, so you may use tokio freely. Return [`EngineError`]s for
//! failures you can name: `not_found` (404), `invalid_input` (400),
//! `rate_limited` (429), `unavailable` (503: not connected, service down),
//! `internal` (500). The host bounds every call by its deadline (504) and
//! cancels your task when it stops waiting. Use [`ListQuery::apply`] to
//! sort and page contact lists exactly as the host's other engines do.
//!
//! ## 5. Export, build, check, load
//!
//! Write `wharf_engine_api::export_engine!(MyEngine);` once, then:
//!
//! ```text
//! cargo build --release
//! wharf engines inspect target/release/libmy_engine.so   # does this host accept it?
//! wharf conformance target/release/libmy_engine.so       # does it keep the contract?
//! cp target/release/libmy_engine.so /srv/wharf/engines/
//! curl -X POST localhost:3000/api/server/engines/reload  # or kill -HUP, or --watch
//! ```
//!
//! `wharf conformance` loads the library exactly as the host does and runs
//! every advertised feature through the host's own dispatch: response
//! shapes, errors as data, no panics, answers within the deadline, many
//! calls at once, sessions that close promptly and reopen. Pass
//! `--config '{…}'` for a session config your engine can work with.
//!
//! ## 6. New versions
//!
//! Bump the version and drop the new library beside the old one (another
//! file name): after a reload both are loaded, new sessions get the newest,
//! running sessions keep theirs until they restart, and a session can pin
//! one with `"engine": "my-engine@1.2.0"`.
//!
//! ## A whole engine
//!
//! Listing and lookup of one contact, upsert declared unsupported (the host
//! answers `501` for it and never calls the engine):
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
