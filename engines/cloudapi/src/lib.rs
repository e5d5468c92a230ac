//! The cloudapi engine: a business number on Meta's WhatsApp Business Cloud
//! API, served through the same WAHA routes as multi-device numbers.
//!
//! The Cloud API is not a phone: it has no address book, no contact list and
//! no pairing, so this engine supports only what the API can do — blocking
//! and unblocking users — and declares everything else unsupported with the
//! reason, so the host answers `501` without calling it.
//!
//! Session config:
//!
//! ```json
//! {
//!   "accessToken": "EAAG…",
//!   "phoneNumberId": "106540352242922",
//!   "graphApiVersion": "v21.0",
//!   "graphApiUrl": "https://graph.facebook.com"
//! }
//! ```
//!
//! `graphApiVersion` and `graphApiUrl` are optional; the URL can point
//! elsewhere for tests and relays.

mod graph;

use serde::Deserialize;
use wharf_engine_api::{
    Engine, EngineError, Host, Manifest, Session, SessionContext, SessionStatus, features,
};

use graph::Graph;

const DEFAULT_GRAPH_URL: &str = "https://graph.facebook.com";
const DEFAULT_GRAPH_VERSION: &str = "v21.0";

/// The cloudapi engine.
#[derive(Default)]
pub struct CloudApiEngine;

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct CloudApiConfig {
    access_token: String,
    phone_number_id: String,
    graph_api_version: Option<String>,
    graph_api_url: Option<String>,
}

impl Engine for CloudApiEngine {
    type Session = CloudApiSession;

    fn manifest(&self) -> Manifest {
        let no_address_book = "the WhatsApp Business Platform has no address book: a Cloud API \
                               number cannot list or look up contacts; keep them in your CRM";
        let no_lids = "the Cloud API names users by phone number and never by WhatsApp's LIDs, \
                       so it has no LID to map";
        Manifest::new(
            "cloudapi",
            env!("CARGO_PKG_VERSION"),
            "Meta's WhatsApp Business Cloud API (Graph API over HTTPS)",
        )
        .supports_all(&[features::CONTACTS_BLOCK, features::CONTACTS_UNBLOCK])
        .unsupported(
            features::CONTACTS_UPSERT,
            "the WhatsApp Business Platform has no address book, so contacts cannot be added",
        )
        .unsupported(features::CONTACTS_LIST, no_address_book)
        .unsupported(features::CONTACTS_GET, no_address_book)
        .unsupported(
            features::CONTACTS_CHECK_EXISTS,
            "the Cloud API removed its contacts endpoint; send a template message to find out \
             whether a number is on WhatsApp",
        )
        .unsupported(
            features::CONTACTS_ABOUT,
            "the Cloud API does not give a user's about text",
        )
        .unsupported(
            features::CONTACTS_PROFILE_PICTURE,
            "the Cloud API does not give a user's profile picture",
        )
        .unsupported(features::LIDS_LIST, no_lids)
        .unsupported(features::LIDS_COUNT, no_lids)
        .unsupported(features::LIDS_FIND_PN, no_lids)
        .unsupported(features::LIDS_FIND_LID, no_lids)
        .unsupported(
            features::AUTH_QR,
            "Cloud API sessions sign in with an access token, not a QR code",
        )
        .unsupported(
            features::AUTH_CODE,
            "Cloud API sessions sign in with an access token, not a pairing code",
        )
    }

    async fn open_session(&self, context: SessionContext) -> Result<CloudApiSession, EngineError> {
        let config: CloudApiConfig = context.config()?;
        if config.access_token.trim().is_empty() {
            return Err(EngineError::invalid_input(
                "config.accessToken: must not be empty",
            ));
        }
        if config.phone_number_id.is_empty()
            || !config.phone_number_id.bytes().all(|b| b.is_ascii_digit())
        {
            return Err(EngineError::invalid_input(
                "config.phoneNumberId: must be the digits of a WhatsApp business phone number id",
            ));
        }
        let graph = Graph::new(
            config.graph_api_url.as_deref().unwrap_or(DEFAULT_GRAPH_URL),
            config
                .graph_api_version
                .as_deref()
                .unwrap_or(DEFAULT_GRAPH_VERSION),
            &config.phone_number_id,
            config.access_token.trim(),
        )?;
        let host = context.host();
        // The session opens either way; a token Meta refuses leaves it
        // FAILED with Meta's message, which the operator can act on.
        match graph.phone_number().await {
            Ok(number) => {
                let digits: String = number
                    .display_phone_number
                    .unwrap_or_default()
                    .chars()
                    .filter(char::is_ascii_digit)
                    .collect();
                if !digits.is_empty() {
                    host.account(&format!("{digits}@c.us"), number.verified_name.as_deref());
                }
                host.info("the Graph API accepted the access token and phone number id");
                host.status(SessionStatus::WORKING, None);
            }
            Err(error) => {
                host.warn(&format!("cannot start: {}", error.message));
                host.status(SessionStatus::FAILED, Some(error.message.as_str()));
            }
        }
        Ok(CloudApiSession { graph, host })
    }
}

/// One Cloud API business number.
pub struct CloudApiSession {
    graph: Graph,
    host: Host,
}

/// The Cloud API takes a user's phone number in digits; contact ids come
/// from the host as `digits@c.us`.
fn phone_of(contact_id: &str) -> Result<&str, EngineError> {
    contact_id.strip_suffix("@c.us").ok_or_else(|| {
        EngineError::invalid_input(format!(
            "contactId: {contact_id} is not a user's phone number; the Cloud API blocks users by number"
        ))
    })
}

impl Session for CloudApiSession {
    async fn block(&self, contact_id: String) -> Result<(), EngineError> {
        self.graph.set_blocked(phone_of(&contact_id)?, true).await?;
        self.host.info(&format!("blocked {contact_id}"));
        Ok(())
    }

    async fn unblock(&self, contact_id: String) -> Result<(), EngineError> {
        self.graph
            .set_blocked(phone_of(&contact_id)?, false)
            .await?;
        self.host.info(&format!("unblocked {contact_id}"));
        Ok(())
    }
}

wharf_engine_api::export_engine!(CloudApiEngine);
