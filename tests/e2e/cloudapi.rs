//! The cloudapi engine in the real host against a fake Graph API on
//! loopback, which checks each request as Meta documents it (method, path,
//! version, bearer token, body) and answers as Meta does.

use std::{
    net::SocketAddr,
    sync::{Arc, Mutex},
};

use axum::{
    Json, Router,
    extract::{Path, Query, State},
    http::{HeaderMap, Method, StatusCode as HttpStatus},
    response::{IntoResponse, Response},
    routing::{get, post},
};
use reqwest::StatusCode;
use serde_json::{Value, json};
use wharf_e2e::{Host, engines};

use crate::loopback::serve_until;

const TOKEN: &str = "EAAGtest-secret-token-0042";
const PHONE_NUMBER_ID: &str = "106540352242922";
const VERSION: &str = "v21.0";

/// One request the fake Graph API received.
#[derive(Debug, Clone, PartialEq)]
struct Seen {
    method: String,
    path: String,
    body: Value,
}

#[derive(Clone, Default)]
struct Fake {
    seen: Arc<Mutex<Vec<Seen>>>,
}

fn meta_error(status: HttpStatus, code: i64, message: &str) -> Response {
    let body = json!({"error": {
        "message": message, "type": "OAuthException", "code": code, "fbtrace_id": "Az9x"
    }});
    (status, Json(body)).into_response()
}

fn authorized(headers: &HeaderMap) -> bool {
    headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|value| value == format!("Bearer {TOKEN}"))
}

fn invalid_token() -> Response {
    meta_error(
        HttpStatus::UNAUTHORIZED,
        190,
        "Invalid OAuth access token - Cannot parse access token",
    )
}

async fn phone_number(
    State(fake): State<Fake>,
    Path((version, id)): Path<(String, String)>,
    Query(query): Query<Vec<(String, String)>>,
    headers: HeaderMap,
) -> Response {
    fake.seen.lock().unwrap().push(Seen {
        method: "GET".into(),
        path: format!("/{version}/{id}"),
        body: json!(query),
    });
    if !authorized(&headers) {
        return invalid_token();
    }
    if version != VERSION || id != PHONE_NUMBER_ID {
        return meta_error(
            HttpStatus::BAD_REQUEST,
            100,
            &format!("Unsupported get request. Object with ID '{id}' does not exist"),
        );
    }
    Json(json!({
        "display_phone_number": "+1 555-010-0000",
        "verified_name": "Wharf Test Co",
        "id": PHONE_NUMBER_ID
    }))
    .into_response()
}

async fn block_users(
    State(fake): State<Fake>,
    method: Method,
    Path((version, id)): Path<(String, String)>,
    headers: HeaderMap,
    Json(body): Json<Value>,
) -> Response {
    fake.seen.lock().unwrap().push(Seen {
        method: method.to_string(),
        path: format!("/{version}/{id}/block_users"),
        body: body.clone(),
    });
    if !authorized(&headers) {
        return invalid_token();
    }
    let user = body["block_users"][0]["user"].as_str().unwrap_or_default();
    let well_formed = body["messaging_product"] == "whatsapp"
        && body["block_users"]
            .as_array()
            .is_some_and(|users| users.len() == 1)
        && version == VERSION
        && id == PHONE_NUMBER_ID;
    if !well_formed {
        return meta_error(HttpStatus::BAD_REQUEST, 100, "Invalid parameter");
    }
    match user {
        "14155550666" => meta_error(
            HttpStatus::BAD_REQUEST,
            130429,
            "Rate limit hit: too many requests in a short time",
        ),
        "14155550199" => (
            HttpStatus::BAD_REQUEST,
            Json(json!({
                "error": {
                    "message": "Failed to block/unblock users",
                    "type": "OAuthException",
                    "code": 139100,
                    "error_data": {"details": "Failed to block some users, see the failed_users for details"},
                    "fbtrace_id": "Az9y"
                },
                "block_users": {"failed_users": [{"input": user, "errors": [{
                    "message": "User is not eligible to be blocked",
                    "code": 139102,
                    "error_data": {"details": "Only users who messaged the business in the last 24 hours can be blocked"}
                }]}]}
            })),
        )
            .into_response(),
        _ => Json(json!({
            "messaging_product": "whatsapp",
            "block_users": {"added_users": [{"input": user, "wa_id": user}]}
        }))
        .into_response(),
    }
}

/// Starts the fake Graph API on a loopback port, on its own runtime.
fn start_fake() -> (Fake, SocketAddr) {
    let fake = Fake::default();
    let app = Router::new()
        .route("/{version}/{id}", get(phone_number))
        .route(
            "/{version}/{id}/block_users",
            post(block_users).delete(block_users),
        )
        .with_state(fake.clone());
    // Up until the test process ends.
    let address = serve_until(app, std::future::pending());
    (fake, address)
}

fn config(address: SocketAddr) -> Value {
    json!({
        "accessToken": TOKEN,
        "phoneNumberId": PHONE_NUMBER_ID,
        "graphApiVersion": VERSION,
        "graphApiUrl": format!("http://{address}")
    })
}

fn cloudapi_host() -> (Host, Fake) {
    let (fake, address) = start_fake();
    let host = Host::start(&[engines::SANDBOX, engines::CLOUDAPI]);
    let session = host.create_session("biz", "cloudapi", config(address));
    assert_eq!(
        session["me"],
        json!({"id": "15550100000@c.us", "pushName": "Wharf Test Co"})
    );
    (host, fake)
}

#[test]
fn starting_checks_the_token_and_phone_number_id_as_meta_documents() {
    let (host, fake) = cloudapi_host();
    assert_eq!(
        fake.seen.lock().unwrap()[0],
        Seen {
            method: "GET".into(),
            path: format!("/{VERSION}/{PHONE_NUMBER_ID}"),
            body: json!([["fields", "display_phone_number,verified_name"]]),
        }
    );
    let (_, list) = host.get("/api/sessions");
    assert_eq!(list[0]["config"]["accessToken"], "********");
    assert_eq!(list[0]["config"]["phoneNumberId"], PHONE_NUMBER_ID);
}

#[test]
fn adding_contacts_is_a_501_that_never_reaches_meta() {
    let (host, fake) = cloudapi_host();
    let before = fake.seen.lock().unwrap().len();
    let (status, body) = host.put("/api/biz/contacts/14155550100", json!({"firstName": "Ada"}));
    assert_eq!(status, StatusCode::NOT_IMPLEMENTED);
    assert_eq!(body["engine"], "cloudapi");
    assert_eq!(body["feature"], "contacts.upsert");
    assert_eq!(
        body["reason"],
        "the WhatsApp Business Platform has no address book, so contacts cannot be added"
    );
    assert_eq!(body["supportedBy"], json!(["sandbox"]));
    for path in [
        "/api/biz/contacts/all",
        "/api/contacts?contactId=14155550100&session=biz",
        "/api/contacts/check-exists?phone=14155550100&session=biz",
        "/api/contacts/about?contactId=14155550100&session=biz",
        "/api/contacts/profile-picture?contactId=14155550100&session=biz",
        "/api/biz/auth/qr",
        "/api/biz/lids",
        "/api/biz/lids/count",
        "/api/biz/lids/123456789012345@lid",
        "/api/biz/lids/pn/14155550100",
    ] {
        let (status, body) = host.get(path);
        assert_eq!(status, StatusCode::NOT_IMPLEMENTED, "{path}");
        assert!(!body["reason"].as_str().unwrap().is_empty(), "{path}");
    }
    assert_eq!(
        fake.seen.lock().unwrap().len(),
        before,
        "Meta was never called"
    );
}

#[test]
fn block_and_unblock_send_the_documented_requests() {
    let (host, fake) = cloudapi_host();
    let request = json!({"contactId": "+1 (415) 555-0100", "session": "biz"});
    assert_eq!(
        host.post("/api/contacts/block", request.clone()).0,
        StatusCode::CREATED
    );
    assert_eq!(
        host.post("/api/contacts/unblock", request).0,
        StatusCode::CREATED
    );
    let body = json!({"messaging_product": "whatsapp", "block_users": [{"user": "14155550100"}]});
    let seen = fake.seen.lock().unwrap();
    let path = format!("/{VERSION}/{PHONE_NUMBER_ID}/block_users");
    assert_eq!(
        seen[seen.len() - 2..],
        [
            Seen {
                method: "POST".into(),
                path: path.clone(),
                body: body.clone()
            },
            Seen {
                method: "DELETE".into(),
                path,
                body
            },
        ]
    );
}

#[test]
fn meta_errors_map_to_wharf_statuses() {
    let (host, _fake) = cloudapi_host();
    let block = |number: &str| {
        host.post(
            "/api/contacts/block",
            json!({"contactId": number, "session": "biz"}),
        )
    };
    let (status, body) = block("14155550666");
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{body}");
    assert!(body["message"].as_str().unwrap().contains("Rate limit hit"));
    let (status, body) = block("14155550199");
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains("Failed to block/unblock users"),
        "{body}"
    );
    let (status, body) = block("120363021234567890@g.us");
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
}

#[test]
fn sessions_that_meta_refuses_fail_with_meta_s_reason_and_never_show_the_token() {
    let (fake_state, address) = start_fake();
    let host = Host::start(&[engines::CLOUDAPI]);
    let mut wrong_token = config(address);
    wrong_token["accessToken"] = json!("EAAGwrong-token-9999");
    let mut unknown_id = config(address);
    unknown_id["phoneNumberId"] = json!("999");
    let mut unreachable = config(address);
    unreachable["graphApiUrl"] = json!("http://127.0.0.1:9");
    for (name, config, reason) in [
        ("badtoken", wrong_token, "Invalid OAuth access token"),
        ("badid", unknown_id, "Object with ID '999' does not exist"),
        ("offline", unreachable, "cannot reach the Graph API"),
    ] {
        let (status, _) = host.post(
            "/api/sessions",
            json!({"name": name, "engine": "cloudapi", "config": config}),
        );
        assert_eq!(status, StatusCode::CREATED);
        let failed = host.wait_for_status(name, "FAILED");
        assert!(
            failed["reason"].as_str().unwrap().contains(reason),
            "{failed}"
        );
        assert_eq!(failed["config"]["accessToken"], "********");
    }
    assert!(!fake_state.seen.lock().unwrap().is_empty());

    // A client may send the masked config back: the stored token is kept.
    host.post(
        "/api/sessions",
        json!({"name": "good", "engine": "cloudapi", "config": config(address)}),
    );
    host.wait_for_status("good", "WORKING");
    let (_, shown) = host.get("/api/sessions/good");
    let (status, _) = host.put("/api/sessions/good", json!({"config": shown["config"]}));
    assert_eq!(status, StatusCode::OK);
    host.wait_for_status("good", "WORKING");

    let (_, everything) = host.get("/api/sessions?all=true");
    assert!(!everything.to_string().contains("EAAG"), "{everything}");
    let log = host.log();
    assert!(
        !log.contains(TOKEN) && !log.contains("EAAGwrong"),
        "a token is in the log"
    );
}

#[test]
fn a_masked_token_is_never_sent_to_a_new_place() {
    let (host, _) = cloudapi_host();
    let (elsewhere, elsewhere_address) = start_fake();
    let (_, shown) = host.get("/api/sessions/biz");
    assert_eq!(shown["config"]["accessToken"], "********");

    let mut moved = shown["config"].clone();
    moved["graphApiUrl"] = json!(format!("http://{elsewhere_address}"));
    let (status, body) = host.put("/api/sessions/biz", json!({"config": moved}));
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(body["field"], "config.graphApiUrl");
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains("config.accessToken"),
        "{body}"
    );
    let mut renumbered = shown["config"].clone();
    renumbered["phoneNumberId"] = json!("999");
    let (status, body) = host.put("/api/sessions/biz", json!({"config": renumbered}));
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(body["field"], "config.phoneNumberId");
    assert!(elsewhere.seen.lock().unwrap().is_empty());
    // Refused changes change nothing.
    let (_, still) = host.get("/api/sessions/biz");
    assert_eq!(still["config"], shown["config"]);
    assert_eq!(still["status"], "WORKING");

    // Sent again in clear, the token may go anywhere its owner says.
    let mut resent = moved.clone();
    resent["accessToken"] = json!(TOKEN);
    let (status, body) = host.put("/api/sessions/biz", json!({"config": resent}));
    assert_eq!(status, StatusCode::OK, "{body}");
    host.wait_for_status("biz", "WORKING");
    assert_eq!(elsewhere.seen.lock().unwrap().len(), 1);
}

#[test]
fn secrets_of_every_shape_are_masked_and_kept_out_of_logs_and_reasons() {
    let (_, address) = start_fake();
    let host = Host::start(&[engines::SANDBOX, engines::CLOUDAPI]);
    let numeric_token = 918_273_645_012_u64;
    let mut numeric = config(address);
    numeric["accessToken"] = json!(numeric_token);
    let (status, _) = host.post(
        "/api/sessions",
        json!({"name": "numeric", "engine": "cloudapi", "config": numeric}),
    );
    assert_eq!(status, StatusCode::CREATED);
    let failed = host.wait_for_status("numeric", "FAILED");
    let reason = failed["reason"].as_str().unwrap();
    assert!(reason.contains("config.accessToken"), "{reason}");
    assert_eq!(failed["config"]["accessToken"], "********");

    // WAHA-shaped extras that the sandbox ignores but the host stores.
    let shapes = json!({
        "webhooks": [{
            "url": "https://hookuser:hookpass-5511@hooks.example/in?token=querytok-6622&x=1",
            // Subscribed to nothing: this host never calls it.
            "events": [],
            "customHeaders": [{"name": "Authorization", "value": "Bearer hdrtok-7733"}]
        }],
        "extra": {"apiKeys": ["arraykey-8844"], "credentials": {"pass": "objpass-9955"}}
    });
    host.create_session("shapes", "sandbox", shapes);
    let (_, everything) = host.get("/api/sessions?all=true");
    let shown = everything.to_string();
    let secrets = [
        numeric_token.to_string(),
        "hookpass-5511".into(),
        "hookuser".into(),
        "querytok-6622".into(),
        "hdrtok-7733".into(),
        "arraykey-8844".into(),
        "objpass-9955".into(),
    ];
    for secret in &secrets {
        assert!(!shown.contains(secret.as_str()), "{secret} in {shown}");
    }
    let (_, shapes_shown) = host.get("/api/sessions/shapes");
    assert_eq!(
        shapes_shown["config"]["webhooks"][0]["customHeaders"][0]["name"],
        "Authorization"
    );
    let log = host.log();
    for secret in &secrets {
        assert!(!log.contains(secret.as_str()), "{secret} is in the log");
    }
}
