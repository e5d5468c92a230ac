//! The input rules the server enforces, written into the OpenAPI document,
//! so that clients can know before they send what would be refused with a
//! `400` (a generated client validates, a fuzzer generates valid input).
//!
//! Each rule comes from the constant its parser owns, and is applied by
//! parameter or property name across the whole document, so a route added
//! later gets the same rule for the same input. Rules that depend on state
//! (which engines are loaded, which sessions exist) cannot be written in a
//! schema and are not.

use serde_json::{Value, json};
use utoipa::openapi::OpenApi;

use super::routes::{contacts, pairing};
use crate::{
    engines::ENGINE_REF_PATTERN,
    http::contact_id::{CONTACT_ID_PATTERN, LID_PATTERN, PERSON_ID_PATTERN, PHONE_PATTERN},
    sessions::SESSION_NAME_PATTERN,
};

/// The schema keywords for an input named `name`, wherever it appears.
fn rule(name: &str) -> Option<Value> {
    let choices = |names: Vec<&str>| json!({ "enum": names });
    match name {
        "contactId" => Some(json!({ "pattern": CONTACT_ID_PATTERN })),
        "phone" => Some(json!({ "pattern": PHONE_PATTERN })),
        // `/lids/pn/{phoneNumber}` takes a chat id too, and a LID.
        "phoneNumber" => Some(json!({ "pattern": PERSON_ID_PATTERN })),
        "lid" => Some(json!({ "pattern": LID_PATTERN })),
        "session" => Some(json!({ "pattern": SESSION_NAME_PATTERN })),
        "sortBy" => Some(choices(contacts::SORT_BY.iter().map(|(n, _)| *n).collect())),
        "sortOrder" => Some(choices(
            contacts::SORT_ORDER.iter().map(|(n, _)| *n).collect(),
        )),
        "format" => Some(choices(
            pairing::QR_FORMATS.iter().map(|(n, _)| *n).collect(),
        )),
        _ => None,
    }
}

/// The schema keywords for property `property` of component `schema`, for
/// names too common to rule on everywhere.
fn property_rule(schema: &str, property: &str) -> Option<Value> {
    match (schema, property) {
        ("CreateRequest", "name") => Some(json!({ "pattern": SESSION_NAME_PATTERN })),
        ("CreateRequest" | "UpdateRequest", "engine") => {
            Some(json!({ "pattern": ENGINE_REF_PATTERN }))
        }
        ("ContactRequest", "contactId") => Some(json!({ "pattern": PERSON_ID_PATTERN })),
        ("CodeRequest", "phoneNumber") => Some(json!({ "pattern": PHONE_PATTERN })),
        _ => rule(property),
    }
}

/// `openapi` with every rule written into the schemas it applies to.
pub(super) fn constrained(openapi: OpenApi) -> OpenApi {
    // Our own document always serializes and reads back; should that ever
    // fail, the document without rules is still a true one.
    let Ok(mut document) = serde_json::to_value(&openapi) else {
        return openapi;
    };
    constrain(&mut document);
    serde_json::from_value(document).unwrap_or(openapi)
}

fn constrain(document: &mut Value) {
    // Rules are for what clients send: request bodies' schemas, not the
    // answers' (an error body names a session as it was sent).
    let mut bodies = Vec::new();
    if let Some(paths) = document["paths"].as_object_mut() {
        let operations = paths
            .values_mut()
            .filter_map(Value::as_object_mut)
            .flat_map(|item| item.values_mut());
        for operation in operations {
            let contents = operation["requestBody"]["content"].as_object();
            for content in contents.into_iter().flat_map(|c| c.values()) {
                if let Some(name) = content["schema"]["$ref"]
                    .as_str()
                    .and_then(|r| r.strip_prefix("#/components/schemas/"))
                {
                    bodies.push(name.to_owned());
                }
            }
            let parameters = operation
                .get_mut("parameters")
                .and_then(Value::as_array_mut);
            for parameter in parameters.into_iter().flatten() {
                if let Some(rule) = parameter["name"].as_str().and_then(rule) {
                    merge(&mut parameter["schema"], rule);
                }
            }
        }
    }
    if let Some(schemas) = document["components"]["schemas"].as_object_mut() {
        for (schema_name, schema) in schemas {
            if !bodies.contains(schema_name) {
                continue;
            }
            let properties = schema.get_mut("properties").and_then(Value::as_object_mut);
            for (property, value) in properties.into_iter().flatten() {
                if let Some(rule) = property_rule(schema_name, property) {
                    merge(value, rule);
                }
            }
        }
    }
}

fn merge(schema: &mut Value, rule: Value) {
    if let (Some(schema), Value::Object(rule)) = (schema.as_object_mut(), rule) {
        schema.extend(rule);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_input_with_a_rule_carries_it_in_the_served_document() {
        let document = serde_json::to_value(super::super::openapi()).unwrap();
        let list = &document["paths"]["/api/{session}/contacts/all"]["get"]["parameters"];
        let schema_of = |name: &str| {
            list.as_array()
                .unwrap()
                .iter()
                .find(|p| p["name"] == name)
                .map(|p| p["schema"].clone())
                .unwrap()
        };
        assert_eq!(schema_of("sortBy")["enum"], json!(["id", "name"]));
        assert_eq!(schema_of("sortOrder")["enum"], json!(["asc", "desc"]));
        assert_eq!(schema_of("session")["pattern"], SESSION_NAME_PATTERN);

        let check = &document["paths"]["/api/contacts/check-exists"]["get"]["parameters"];
        assert!(
            check
                .as_array()
                .unwrap()
                .iter()
                .any(|p| p["name"] == "phone" && p["schema"]["pattern"] == PHONE_PATTERN)
        );
        let schemas = &document["components"]["schemas"];
        assert_eq!(
            schemas["ContactRequest"]["properties"]["contactId"]["pattern"],
            PERSON_ID_PATTERN
        );
        let get = &document["paths"]["/api/{session}/contacts/{contactId}"]["get"]["parameters"];
        assert!(
            get.as_array()
                .unwrap()
                .iter()
                .any(|p| p["name"] == "contactId" && p["schema"]["pattern"] == CONTACT_ID_PATTERN)
        );
        assert_eq!(
            schemas["CreateRequest"]["properties"]["name"]["pattern"],
            SESSION_NAME_PATTERN
        );
        assert_eq!(
            schemas["CodeRequest"]["properties"]["phoneNumber"]["pattern"],
            PHONE_PATTERN
        );
        let lids = |path: &str, name: &str| {
            document["paths"][path]["get"]["parameters"]
                .as_array()
                .unwrap()
                .iter()
                .find(|p| p["name"] == name)
                .map(|p| p["schema"]["pattern"].clone())
                .unwrap()
        };
        assert_eq!(lids("/api/{session}/lids/{lid}", "lid"), LID_PATTERN);
        assert_eq!(
            lids("/api/{session}/lids/pn/{phoneNumber}", "phoneNumber"),
            PERSON_ID_PATTERN
        );
        // Answers are not inputs: an error names a session as it was sent.
        assert_eq!(
            schemas["ErrorDetails"]["properties"]["session"].get("pattern"),
            None
        );
    }
}
