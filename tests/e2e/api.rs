//! The API surface as a WAHA client meets it: API keys, errors for bad
//! input, and the server routes.

use reqwest::{Method, StatusCode};
use serde_json::json;
use sha2::{Digest, Sha512};
use wharf_e2e::{Host, engines};

const KEY: &str = "wharf-test-key-0123";

#[test]
fn api_routes_need_the_key_and_ping_does_not() {
    let host = Host::builder()
        .engines(&[engines::SANDBOX])
        .env("WHARF_API_KEY", KEY)
        .start();
    host.create_session("default", "sandbox", json!({}));

    for (path, key) in [
        ("/api/sessions", None),
        ("/api/sessions", Some("wrong")),
        ("/api/default/contacts/all", Some("")),
        ("/api/no/such/route", None),
    ] {
        let mut request = host.anonymous(Method::GET, path);
        if let Some(key) = key {
            request = request.header("X-Api-Key", key);
        }
        let (status, body) = host.send(request);
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{path} {key:?}");
        assert_eq!(body["statusCode"], 401);
        assert_eq!(body["error"], "Unauthorized");
    }
    let (status, body) = host.send(host.anonymous(Method::GET, "/ping"));
    assert_eq!((status, body), (StatusCode::OK, json!({"message": "pong"})));
    let (status, _) = host.get("/api/default/contacts/all");
    assert_eq!(status, StatusCode::OK);
    assert!(
        !host.log().contains(KEY),
        "the key never appears in the log"
    );
}

#[test]
fn a_waha_key_given_as_a_sha512_digest_opens_the_api() {
    let digest = format!("sha512:{}", hex::encode(Sha512::digest(KEY.as_bytes())));
    let host = Host::builder()
        .engines(&[engines::SANDBOX])
        .env("WAHA_API_KEY", &digest)
        .start();
    let with_key = |key: &str| {
        host.send(
            host.anonymous(Method::GET, "/api/sessions")
                .header("X-Api-Key", key),
        )
        .0
    };
    assert_eq!(with_key(KEY), StatusCode::OK);
    assert_eq!(with_key(&digest), StatusCode::UNAUTHORIZED);
}

#[test]
fn malformed_bodies_get_4xx_naming_the_problem_and_the_host_carries_on() {
    let host = Host::start(&[engines::SANDBOX]);
    host.create_session("default", "sandbox", json!({}));
    let post = |content_type: Option<&str>, body: Vec<u8>| {
        let mut request = host.request(Method::POST, "/api/contacts/block").body(body);
        if let Some(content_type) = content_type {
            request = request.header("Content-Type", content_type);
        }
        host.send(request)
    };
    let json = Some("application/json");

    let (status, body) = post(
        None,
        br#"{"contactId":"14155550100","session":"default"}"#.to_vec(),
    );
    assert_eq!(status, StatusCode::UNSUPPORTED_MEDIA_TYPE, "{body}");
    let (status, body) = post(Some("text/plain"), b"contactId=1".to_vec());
    assert_eq!(status, StatusCode::UNSUPPORTED_MEDIA_TYPE, "{body}");

    let (status, body) = post(json, b"{\"contactId\": ".to_vec());
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["field"], "body");

    let (status, body) = post(
        json,
        br#"{"contactId": 14155550100, "session": "default"}"#.to_vec(),
    );
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        body["message"].as_str().unwrap().contains("contactId"),
        "{body}"
    );

    let mut huge = br#"{"session":"default","contactId":""#.to_vec();
    huge.extend(std::iter::repeat_n(b'1', 200 * 1024));
    huge.extend(br#""}"#);
    let (status, body) = post(json, huge);
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{body}");
    assert_eq!(body["statusCode"], 413);

    let (status, body) = host.send(host.request(Method::DELETE, "/api/contacts/block"));
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(body["statusCode"], 405);

    let (status, _) = host.get("/api/default/contacts/14155550100");
    assert_eq!(status, StatusCode::OK);
}

#[test]
fn server_routes_answer() {
    let host = Host::start(&[engines::SANDBOX]);
    let (status, version) = host.get("/api/server/version");
    assert_eq!(status, StatusCode::OK);
    assert_eq!(version["engine"], "wharf");
    assert_eq!(version["abiVersion"], "2.3.0");
    let (status, health) = host.get("/health");
    assert_eq!(status, StatusCode::OK);
    assert_eq!(health["status"], "ok");
    assert_eq!(health["engines"]["loaded"], 1);
}

#[test]
fn health_shows_counts_only_to_callers_with_the_key_when_one_is_set() {
    let full = json!({"status": "ok", "engines": {"loaded": 1, "rejected": 0}, "sessions": 1});

    let host = Host::builder()
        .engines(&[engines::SANDBOX])
        .env("WHARF_API_KEY", KEY)
        .start();
    host.create_session("default", "sandbox", json!({}));
    for key in [None, Some("wrong")] {
        let mut request = host.anonymous(Method::GET, "/health");
        if let Some(key) = key {
            request = request.header("X-Api-Key", key);
        }
        let answer = host.send(request);
        assert_eq!(answer, (StatusCode::OK, json!({"status": "ok"})), "{key:?}");
    }
    let answer = host.send(host.anonymous(Method::GET, "/ping"));
    assert_eq!(answer, (StatusCode::OK, json!({"message": "pong"})));
    assert_eq!(host.get("/health"), (StatusCode::OK, full.clone()));

    let open = Host::start(&[engines::SANDBOX]);
    open.create_session("default", "sandbox", json!({}));
    let answer = open.send(open.anonymous(Method::GET, "/health"));
    assert_eq!(answer, (StatusCode::OK, full));
}

/// A client that sends a body over the limit must read its 413, not a
/// reset: the host answers before reading the whole body, and closing a
/// socket with unread bytes resets it, which once lost the answer in about
/// one run in three.
#[test]
fn an_oversized_body_always_gets_its_413() {
    let host = Host::start(&[engines::SANDBOX]);
    let mut huge = br#"{"session":"default","contactId":""#.to_vec();
    huge.extend(std::iter::repeat_n(b'1', 200 * 1024));
    huge.extend(br#""}"#);
    for attempt in 0..60 {
        let request = host
            .request(Method::POST, "/api/contacts/block")
            .header("Content-Type", "application/json")
            .body(huge.clone());
        let response = request
            .send()
            .unwrap_or_else(|err| panic!("attempt {attempt}: no answer: {err}"));
        assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE);
        let body: serde_json::Value = response
            .json()
            .unwrap_or_else(|err| panic!("attempt {attempt}: the 413 was cut: {err}"));
        assert_eq!(body["statusCode"], 413);
    }
}
