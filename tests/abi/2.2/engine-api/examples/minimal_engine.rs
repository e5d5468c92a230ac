//! The smallest complete engine: a fixed contact book, listing and lookup
//! supported, everything else declared unsupported with a reason.
//!
//! Build it as a library and load it into a host:
//!
//! ```text
//! cargo build -p wharf-engine-api --example minimal_engine
//! target/debug/wharf conformance target/debug/examples/libminimal_engine.so
//! cp target/debug/examples/libminimal_engine.so target/serve/engines/
//! curl -X POST localhost:3000/api/server/engines/reload
//! ```

use wharf_engine_api::{
    Contact, Engine, EngineError, ListQuery, Manifest, RString, Session, SessionContext,
    SessionStatus, features,
};

#[derive(Default)]
pub struct MinimalEngine;

pub struct MinimalSession {
    book: Vec<Contact>,
}

impl Engine for MinimalEngine {
    type Session = MinimalSession;

    fn manifest(&self) -> Manifest {
        let no_network = "the minimal engine has a fixed book and no network";
        Manifest::new(
            "minimal",
            env!("CARGO_PKG_VERSION"),
            "A fixed, read-only contact book",
        )
        .supports_all(&[features::CONTACTS_LIST, features::CONTACTS_GET])
        .unsupported(features::CONTACTS_CHECK_EXISTS, no_network)
        .unsupported(features::CONTACTS_ABOUT, no_network)
        .unsupported(features::CONTACTS_PROFILE_PICTURE, no_network)
        .unsupported(features::CONTACTS_BLOCK, "the book is read-only")
        .unsupported(features::CONTACTS_UNBLOCK, "the book is read-only")
        .unsupported(features::CONTACTS_UPSERT, "the book is read-only")
    }

    async fn open_session(&self, context: SessionContext) -> Result<MinimalSession, EngineError> {
        let host = context.host();
        let contact = |number: &str, name: &str| Contact {
            id: format!("{number}@c.us").into(),
            number: Some(RString::from(number)).into(),
            name: Some(RString::from(name)).into(),
            is_wa_contact: true,
            is_my_contact: true,
            ..Contact::default()
        };
        let book = vec![
            contact("14155550100", "Ada"),
            contact("14155550101", "Grace"),
        ];
        host.info(&format!("opened with {} contacts", book.len()));
        host.status(SessionStatus::WORKING, None);
        Ok(MinimalSession { book })
    }
}

impl Session for MinimalSession {
    async fn list_contacts(&self, query: ListQuery) -> Result<Vec<Contact>, EngineError> {
        Ok(query.apply(self.book.clone()))
    }

    async fn get_contact(&self, contact_id: String) -> Result<Contact, EngineError> {
        self.book
            .iter()
            .find(|contact| contact.id.as_str() == contact_id)
            .cloned()
            .ok_or_else(|| EngineError::not_found(format!("contact {contact_id} not found")))
    }
}

wharf_engine_api::export_engine!(MinimalEngine);
