//! A test engine that panics: listing contacts panics every time, getting a
//! contact works, and a session whose config says `{"panicOnOpen": true}`
//! panics while opening. The host must turn each panic into an error for that
//! request or session alone.

use wharf_engine_api::{
    Contact, Engine, EngineError, ListQuery, Manifest, Session, SessionContext, SessionStatus,
    features,
};

#[derive(Default)]
pub struct PanickyEngine;

pub struct PanickySession;

#[derive(Default, serde::Deserialize)]
#[serde(default, rename_all = "camelCase")]
struct PanickyConfig {
    panic_on_open: bool,
}

impl Engine for PanickyEngine {
    type Session = PanickySession;

    fn manifest(&self) -> Manifest {
        Manifest::new("panicky", "0.1.0", "Panics on purpose, for tests")
            .supports_all(&[features::CONTACTS_LIST, features::CONTACTS_GET])
    }

    async fn open_session(&self, context: SessionContext) -> Result<PanickySession, EngineError> {
        if context.config::<PanickyConfig>()?.panic_on_open {
            panic!("panicky engine: asked to panic while opening");
        }
        context.host().status(SessionStatus::WORKING, None);
        Ok(PanickySession)
    }
}

impl Session for PanickySession {
    async fn list_contacts(&self, _query: ListQuery) -> Result<Vec<Contact>, EngineError> {
        panic!("panicky engine: listing contacts always panics");
    }

    async fn get_contact(&self, contact_id: String) -> Result<Contact, EngineError> {
        Ok(Contact {
            id: contact_id.into(),
            is_wa_contact: true,
            ..Contact::default()
        })
    }
}

wharf_engine_api::export_engine!(PanickyEngine);
