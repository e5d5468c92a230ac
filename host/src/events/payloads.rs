//! The payloads of the events this host emits, as receivers get them and
//! as the OpenAPI document's webhooks section describes them.

use std::collections::VecDeque;

use serde::Serialize;
use utoipa::ToSchema;
use wharf_engine_api::Contact;

use crate::sessions::Status;

/// WAHA's `session.status` payload.
#[derive(Serialize, ToSchema)]
#[schema(as = SessionStatusPayload)]
pub struct SessionStatus<'a> {
    /// The session's name.
    pub name: &'a str,
    pub status: Status,
    /// The session's last statuses, oldest first, this one last (at most
    /// three).
    #[schema(value_type = Vec<StatusPoint>)]
    pub statuses: &'a VecDeque<StatusPoint>,
    /// Why the session is in this status, when the engine or host said (a
    /// FAILED session, say); `null` otherwise.
    pub data: Option<StatusReason<'a>>,
}

/// A status and when the session took it.
#[derive(Debug, Clone, Copy, Serialize, ToSchema)]
pub struct StatusPoint {
    pub status: Status,
    /// Milliseconds since the Unix epoch.
    pub timestamp: u64,
}

#[derive(Serialize, ToSchema)]
pub struct StatusReason<'a> {
    #[schema(example = "cannot connect to the WhatsApp servers")]
    pub reason: &'a str,
}

/// The payload of every `contact.*` event.
#[derive(Serialize, ToSchema)]
#[schema(as = ContactEventPayload)]
pub struct ContactEvent<'a> {
    /// What changed: the event's name without `contact.`.
    #[schema(example = "blocked")]
    pub change: &'static str,
    /// The contact right after the change, as `GET /api/contacts` answered
    /// then (an event delivered late carries that state, not today's).
    pub contact: &'a Contact,
}
