//! The API surface as a WAHA client meets it: API keys, errors for bad
//! input, and the server routes.

use reqwest::{Method, StatusCode};
use serde_json::json;
use sha2::{Digest, Sha512};
use wharf_e2e::{Host, engines};

const KEY: &str = "wharf-test-key-0123";

#[test]
fn api_routes_need_the_key_and_ping_does_not() {
    let host = Host::start_with_env(&[engines::SANDBOX], &[], &[("WHARF_API_KEY", KEY)]);
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
    let host = Host::start_with_env(&[engines::SANDBOX], &[], &[("WAHA_API_KEY", &digest)]);
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
