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
//! anywhere else, as a crate of its own, depending on the engine-api you
//! name with `--engine-api PATH` or `--engine-api git+URL#tag=…`, with a
//! `Cargo.lock` of its own; `--help` says more). It builds and passes conformance
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
//! directory of its own, and a [`Host`] handle to report status changes,
//! QR codes for pairing, and log lines, and to keep what the session needs
//! to resume (credentials, keys, contact books) in the host's session
//! store ([`store`]: [`Host::kv_get`], [`Host::kv_prefix`],
//! [`Host::kv_write`]), so that a restarted host, or another host of a
//! cluster, resumes it without pairing again. The data directory is this
//! host's disk alone: treat it as a cache. A session logged out or
//! deleted takes its store with it. A config value that names
//! a file (a fixture, a certificate) is read with
//! [`Host::read_config_file`], never opened directly: the config comes from
//! an API client, and the host reads only from the directory its operator
//! allows. Return once the session exists; connect in the background and report progress with
//! [`Host::status`]: `STARTING`, `SCAN_QR_CODE`, then `WORKING`, or
//! `FAILED` with a reason.
//!
//! The REST user's `POST /api/sessions` (or `start`) has already been
//! answered (`201`, `STARTING`) when `open_session` runs. If it returns an
//! error, panics, or takes longer than the host's deadline, the host sets
//! the session `FAILED` with your error's message (or the panic's, or the
//! deadline) as its reason, which is what the user reads in `GET
//! /api/sessions/{name}`: make it say what to fix. Apart from that the host
//! sets a status only when a run begins (`STARTING`) or is stopped
//! (`STOPPED`), and shows `STARTING` while you report `WORKING` before
//! `open_session` has returned; every other status is yours to report.
//!
//! ## 4. Operations
//!
//! Implement the [`Session`] methods your manifest declares. They are
//! plain `async fn`s; the glue runs them on a tokio runtime owned by your
//! library, so you may use tokio freely. Return [`EngineError`]s for
//! failures you can name: `not_found` (404), `invalid_input` (400),
//! `unsupported` (501), `rate_limited` (429), `unavailable` (503: not
//! connected, service down), `internal` (500). The REST user gets WAHA's
//! error shape, `{"statusCode", "error", "message", "engine", "kind"}`:
//! `message` is your message (with the session config's secrets masked),
//! `engine` your engine's name and `kind` the name above. A panic is a
//! 500 with kind `internal` and the panic's message. The host bounds every
//! call by its deadline (504) and cancels your task when it stops waiting. Use [`ListQuery::apply`] to
//! sort and page contact lists exactly as the host's other engines do,
//! or keep your contacts in a [`support::ContactBook`], which answers the
//! same pages at the cost of the page alone, finds a person by either id
//! and refuses to make one person two contacts. An operation whose answer
//! is ready when first polled (a lookup in memory) is answered on the
//! host's thread, inside your runtime's context; one that waits moves to
//! your runtime. So run long computations with
//! `tokio::task::spawn_blocking` rather than before your first `.await`.
//!
//! When a contact changes, whoever changed it (a REST user through your
//! operations, the phone, WhatsApp), tell the host with
//! [`Host::contact_changed`] and a [`ContactChange`]: added, renamed, a
//! new push name, blocked, unblocked, a LID learned. Integrations keep
//! their address books in step from these events, so report each change
//! once, when it is made, with the contact as `contacts.get` would now
//! answer it.
//!
//! ## 5. Export, build, check, load
//!
//! Write `wharf_engine_api::export_engine!(MyEngine);` once, then:
//!
//! ```text
//! cargo build --release
//! wharf engines inspect target/release/libmy_engine.so   # does this host accept it?
//! wharf conformance target/release/libmy_engine.so --config-file conformance.json
//! cp target/release/libmy_engine.so /srv/wharf/engines/
//! curl -X POST localhost:3000/api/server/engines/reload  # or kill -HUP, or --watch
//! ```
//!
//! (`libmy_engine.so` is the library of a crate named `my-engine`; `wharf`
//! is the host's binary: `cargo build -p wharf` in a wharf checkout makes
//! `target/debug/wharf`.)
//!
//! `wharf conformance` loads the library exactly as the host does and runs
//! every advertised feature through the host's own dispatch: response
//! shapes, errors as data, no panics, answers within the deadline, many
//! calls at once, sessions that close promptly and reopen. It holds each
//! answer against the others (get against list, a write against what get
//! and list show afterwards, `contacts.check_exists` against numbers no
//! one can have), and writes only to a contact it creates itself on such a
//! number, listing its writes before and after. Pass `--config-file
//! conformance.json` (or `--config '{…}'`) for a session config your engine
//! can work with, and `--read-only` to make no writes at all. A run in
//! which no session reaches `WORKING` checks no contacts feature and fails,
//! unless `--allow-not-working` says that none can here (no account, no
//! network).
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
//!         context.host().status(SessionStatus::WORKING, None);
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
//! Engines are shipped as files, built against one version of this crate
//! and loaded by hosts built later. ABI 2.0 is the last breaking change:
//! an engine built against any 2.x loads in every later 2.y host, and
//! CI proves it by loading and running conformance on engines built
//! against 2.0, 2.1 and 2.2 (`tests/abi/`). Everything that crosses the
//! boundary and may grow does so by one of these means, and a change that
//! does otherwise is a bug:
//!
//! - **The module and the session** ([`ffi::EngineModule`],
//!   [`ffi::SessionFfi`]) are abi_stable prefix types: new functions and
//!   operations go after the last one. The host checks that an engine has
//!   them before calling, and a new operation has a feature key an older
//!   engine does not declare, so the host answers `501` for it. ABI 2.1
//!   added the `lids.*` operations ([`features::LIDS`]) this way.
//! - **What the host offers engines** ([`HostServices`]: events, config
//!   files, and whatever later versions add) grows by methods after the
//!   last one, each with a default body, which is what runs when an engine
//!   meets an older host that lacks the method. New events are new
//!   methods: a host never receives an event it does not know. ABI 2.2
//!   added [`HostServices::contact_changed`] this way, and 2.3 the session
//!   store ([`HostServices::kv_get`], [`HostServices::kv_scan`],
//!   [`HostServices::kv_write`]), whose defaults answer `UNSUPPORTED`.
//! - **Error kinds, session statuses, contact changes and store
//!   operations** ([`ErrorKind`], [`SessionStatus`], [`ContactChange`],
//!   [`KvOp`]) are open sets of numbers with named constants. A host
//!   answers an error kind it does not know as an internal error (500)
//!   with the engine's message, logs and ignores a status or a change it
//!   does not know, and refuses a store batch with an operation it does
//!   not know.
//! - **The contact record** ([`Contact`]) keeps the fields of 2.0; a
//!   later field travels by name in [`Contact::later_fields`], which
//!   older hosts ignore.
//! - **Feature keys** are strings: a host ignores keys it does not know,
//!   and a key an engine does not list is unsupported.
//!
//! The rest is frozen: [`Manifest`], [`SessionContext`], [`ListQuery`],
//! [`NumberExists`], [`ContactName`], [`Support`], [`LogLevel`],
//! [`SortBy`], [`SortOrder`], (since 2.1) [`LidMapping`] and (since 2.3)
//! [`KvWrite`] and [`KvEntry`] never change layout; something new is asked or answered through a new operation or
//! host method instead.
//! abi_stable's `NonExhaustive` enums are never used: its layout check
//! lets a library know more variants than the host that loads it, but not
//! fewer, the opposite of the promise above.
//!
//! abi_stable's layout check has the same one-way rule for prefix types: a
//! library's may be longer than the host's, never shorter. The host
//! therefore checks an engine's layout both ways, and accepts it when it
//! fits in either: exactly when every type matches but for prefix types
//! one side has grown at their end. Its accessors read each object's own
//! length, so an operation an older engine lacks is absent and a host
//! method a newer engine calls on an older host runs its default body.
//!
//! abi_stable also checks the name and major version of the crate that
//! defines each type. So this crate's major version is the ABI's major
//! (2), and the host stays on the abi_stable 0.11 and async-ffi 0.5 lines,
//! whose types appear in the layout.
//!
//! Source compatibility is looser than that, as for any crate: a later
//! 2.x may add constants, feature keys, trait methods with defaults and
//! items. So name the feature keys your engine implements rather than
//! declaring lists such as [`features::CONTACTS`], which grow.
// The contract is read by engine authors from its docs alone: every public
// item says what it is for.
#![warn(missing_docs)]

mod contact;
mod engine;
mod error;
mod export;
pub mod ffi;
mod host;
mod manifest;
pub mod store;
pub mod support;

pub use contact::{
    Contact, ContactName, LaterField, LidMapping, ListQuery, NumberExists, SortBy, SortOrder,
    compare_names,
};
pub use engine::{Engine, Session};
pub use error::{EngineError, ErrorKind};
pub use host::{
    ContactChange, Host, HostServices, HostServices_TO, HostServicesBox, LogLevel, SessionContext,
    SessionStatus,
};
pub use manifest::{
    ABI_VERSION, ENGINE_NAME_PATTERN, FeatureEntry, Manifest, Support, check_engine_name, features,
};
pub use store::{KvEntry, KvOp, KvWrite};

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
