//! The webmd engine loaded into the real host, with its websocket pointed at
//! a closed loopback port: it must say why it is not connected, keep
//! retrying, and leave the host and other sessions unaffected. No test
//! reaches WhatsApp.

use std::net::TcpListener;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use wharf_e2e::{Host, engines};

/// A loopback port nothing listens on.
fn closed_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    port
}

fn wait_for_reason(host: &Host, session: &str, needle: &str) -> Value {
    host.eventually(&format!("a reason with {needle:?}"), || {
        let (_, info) = host.get(&format!("/api/sessions/{session}"));
        if info["reason"].as_str().is_some_and(|r| r.contains(needle)) {
            Ok(info)
        } else {
            Err(info)
        }
    })
}

#[test]
fn webmd_declares_every_contacts_and_pairing_feature() {
    let host = Host::start(&[engines::WEBMD]);
    let (_, list) = host.get("/api/server/engines");
    let webmd = &list[0];
    assert_eq!(webmd["name"], "webmd");
    assert_eq!(webmd["status"], "loaded");
    let features = webmd["features"].as_object().unwrap();
    assert!(features.values().all(|f| f["supported"] == true), "{webmd}");
}

#[test]
fn an_unreachable_websocket_is_reported_and_nothing_else_is_disturbed() {
    let host = Host::start(&[engines::WEBMD, engines::SANDBOX]);
    host.create_session("calm", "sandbox", json!({}));
    let url = format!("ws://127.0.0.1:{}/ws/chat", closed_port());
    let (status, _) = host.post(
        "/api/sessions",
        json!({"name": "wa", "engine": "webmd", "config": {"websocketUrl": url}}),
    );
    assert_eq!(status, StatusCode::CREATED);

    let info = wait_for_reason(&host, "wa", &format!("cannot connect to {url}"));
    assert_eq!(info["status"], "FAILED");
    assert!(
        info["reason"].as_str().unwrap().contains("retrying"),
        "{info}"
    );

    let (status, body) = host.get("/api/wa/contacts/all");
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(body["status"], "FAILED");
    let (status, _) = host.get("/api/wa/auth/qr");
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);

    // The other session and the host carry on.
    assert_eq!(host.get("/api/calm/contacts/14155550100").0, StatusCode::OK);
    assert_eq!(host.get("/health").0, StatusCode::OK);

    let (status, stopped) = host.post("/api/sessions/wa/stop", json!({}));
    assert_eq!(status, StatusCode::OK, "{stopped}");
    assert_eq!(stopped["status"], "STOPPED");
    let (status, _) = host.send(host.request(Method::DELETE, "/api/sessions/wa"));
    assert_eq!(status, StatusCode::OK);
    assert_eq!(host.get("/api/calm/contacts/all").0, StatusCode::OK);
}
