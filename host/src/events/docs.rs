//! The webhooks section of the OpenAPI document: each event this host
//! emits, its payload inside WAHA's envelope, as a receiver gets it.

use utoipa::{
    ToSchema,
    openapi::{
        AllOfBuilder, ContentBuilder, ObjectBuilder, OneOfBuilder, Paths, PathsBuilder, Ref, RefOr,
        ResponseBuilder, Type,
        path::{HttpMethod, OperationBuilder, PathItem},
        request_body::RequestBodyBuilder,
        schema::{AdditionalProperties, Schema},
    },
};

use super::{
    Environment,
    names::{CONTACT_EVENTS, SESSION_STATUS},
    payloads::{ContactEvent, SessionStatus},
};
use crate::sessions::Me;

/// The fields of every envelope, in WAHA's order.
pub(super) const ENVELOPE_FIELDS: &[&str] = &[
    "id",
    "timestamp",
    "event",
    "session",
    "metadata",
    "me",
    "payload",
    "engine",
    "environment",
];

/// The webhooks (by event name) and the schemas they refer to.
pub fn webhooks() -> (Paths, Vec<(String, RefOr<Schema>)>) {
    let mut schemas = Vec::new();
    let status = component::<SessionStatus>(&mut schemas);
    let mut paths = PathsBuilder::new().path(
        SESSION_STATUS,
        delivery(
            SESSION_STATUS,
            status.into(),
            "A session's status changed",
            "Sent on every change of the status `GET /api/sessions/{session}` shows, a new \
             reason included.",
            &mut schemas,
        ),
    );
    let contact = component::<ContactEvent>(&mut schemas);
    for (name, change, summary) in CONTACT_EVENTS {
        // The shared payload, with `change` the one this event tells.
        let told = ObjectBuilder::new().property(
            "change",
            ObjectBuilder::new()
                .schema_type(Type::String)
                .enum_values(change.name().map(|change| [change])),
        );
        let payload = AllOfBuilder::new().item(contact.clone()).item(told);
        paths = paths.path(
            *name,
            delivery(
                name,
                payload.into(),
                summary,
                "Not a WAHA event: reported by the session's engine, whoever made the change \
                 (a REST user, the phone, WhatsApp). The payload is the contact after the \
                 change and what changed. Engines built before ABI 2.2 report none.",
                &mut schemas,
            ),
        );
    }
    (paths.build(), schemas)
}

/// How the event `name`, with `payload`, is delivered to a webhook.
fn delivery(
    name: &str,
    payload: RefOr<Schema>,
    summary: &str,
    description: &str,
    schemas: &mut Vec<(String, RefOr<Schema>)>,
) -> PathItem {
    let event = envelope_schema_name(name);
    let envelope = envelope(name, payload, schemas);
    schemas.push((event.clone(), envelope));
    let operation = OperationBuilder::new()
        .summary(Some(summary))
        .description(Some(format!(
            "{description} Sent to the session's hooks and the global hook that asked for \
             `{name}`. Signed with `X-Webhook-Hmac` when the hook has a key; \
             `X-Webhook-Request-Id` is the same on every try."
        )))
        .request_body(Some(
            RequestBodyBuilder::new()
                .content(
                    "application/json",
                    ContentBuilder::new()
                        .schema(Some(Ref::from_schema_name(event)))
                        .build(),
                )
                .build(),
        ))
        .response(
            "2XX",
            ResponseBuilder::new()
                .description("Taken; any other answer is retried by the hook's policy"),
        );
    PathItem::new(HttpMethod::Post, operation)
}

/// The name of the envelope schema of the event `name`:
/// `contact.push_name` is `ContactPushNameEvent`.
fn envelope_schema_name(name: &str) -> String {
    let mut schema: String = name
        .split(['.', '_'])
        .flat_map(|word| {
            let mut letters = word.chars();
            letters
                .next()
                .map(|first| first.to_ascii_uppercase())
                .into_iter()
                .chain(letters)
        })
        .collect();
    schema.push_str("Event");
    schema
}

/// `T`'s schema and those it refers to, added to `schemas`; a reference
/// to it.
fn component<T: ToSchema>(schemas: &mut Vec<(String, RefOr<Schema>)>) -> Ref {
    T::schemas(schemas);
    schemas.push((T::name().into_owned(), T::schema()));
    Ref::from_schema_name(T::name())
}

/// WAHA's envelope around `payload`, for the event `name`.
fn envelope(
    name: &str,
    payload: RefOr<Schema>,
    schemas: &mut Vec<(String, RefOr<Schema>)>,
) -> RefOr<Schema> {
    let me = component::<Me>(schemas);
    let environment = component::<Environment>(schemas);
    let text = |description: &str| {
        ObjectBuilder::new()
            .schema_type(Type::String)
            .description(Some(description))
    };
    let schema = ObjectBuilder::new()
        .property(
            "id",
            text("`evt_` and a lower-case ULID").examples(["evt_01kbrt4n1x9tpe0cv6j9wmq3hf"]),
        )
        .property(
            "timestamp",
            ObjectBuilder::new()
                .schema_type(Type::Integer)
                .description(Some("When it happened, in ms since the Unix epoch")),
        )
        .property("event", text("The event's name").enum_values(Some([name])))
        .property("session", text("The session's name"))
        .property(
            "metadata",
            ObjectBuilder::new()
                .schema_type(Type::Object)
                .additional_properties(Some(AdditionalProperties::FreeForm(true)))
                .description(Some(
                    "The session config's `metadata`; left out when it has none",
                )),
        )
        .property(
            "me",
            OneOfBuilder::new()
                .item(me)
                .item(ObjectBuilder::new().schema_type(Type::Null))
                .description(Some("The account, once the session knows it")),
        )
        .property("payload", payload)
        .property("engine", text("The session's engine"))
        .property("environment", environment);
    let required = ENVELOPE_FIELDS.iter().filter(|field| **field != "metadata");
    required
        .fold(schema, |schema, field| schema.required(*field))
        .into()
}
