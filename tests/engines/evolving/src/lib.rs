//! A test engine that exists in two versions, built as two libraries
//! (`evolving-v1`, `evolving-v2`) from this one source: version 2 supports
//! one more feature (`contacts.about`). Every answer says which version
//! gave it, so tests can tell which engine instance a session runs on.

use wharf_engine_api::{
    Contact, Engine, EngineError, ListQuery, Manifest, RString, Session, SessionContext,
    SessionStatus, features,
};

/// The engine at one `VERSION` (1 or 2).
#[derive(Default)]
pub struct EvolvingEngine<const VERSION: u8>;

pub struct EvolvingSession {
    version: u8,
}

impl EvolvingSession {
    fn contact(&self, id: &str) -> Contact {
        Contact {
            id: id.into(),
            number: id.strip_suffix("@c.us").map(RString::from).into(),
            name: Some(RString::from(format!(
                "served by evolving v{}",
                self.version
            )))
            .into(),
            is_wa_contact: true,
            ..Contact::default()
        }
    }
}

impl<const VERSION: u8> Engine for EvolvingEngine<VERSION> {
    type Session = EvolvingSession;

    fn manifest(&self) -> Manifest {
        let manifest = Manifest::new(
            "evolving",
            &format!("{VERSION}.0.0"),
            "A test engine in two versions",
        )
        .supports_all(&[features::CONTACTS_LIST, features::CONTACTS_GET]);
        if VERSION >= 2 {
            manifest.supports_all(&[features::CONTACTS_ABOUT])
        } else {
            manifest.unsupported(features::CONTACTS_ABOUT, "about texts arrive in version 2")
        }
    }

    async fn open_session(&self, context: SessionContext) -> Result<EvolvingSession, EngineError> {
        context.host().status(SessionStatus::WORKING, None);
        Ok(EvolvingSession { version: VERSION })
    }
}

impl Session for EvolvingSession {
    async fn list_contacts(&self, query: ListQuery) -> Result<Vec<Contact>, EngineError> {
        Ok(query.apply(vec![self.contact("10000000001@c.us")]))
    }

    async fn get_contact(&self, contact_id: String) -> Result<Contact, EngineError> {
        Ok(self.contact(&contact_id))
    }

    async fn about(&self, _contact_id: String) -> Result<Option<String>, EngineError> {
        Ok(Some(format!("about, from evolving v{}", self.version)))
    }
}
