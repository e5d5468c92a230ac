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

/// Creates a webmd session whose websocket nothing answers, and waits until
/// it is FAILED and retrying: started, with its engine session still open.
fn failed_but_retrying(host: &Host, session: &str) {
    let url = format!("ws://127.0.0.1:{}/ws/chat", closed_port());
    let (status, body) = host.post(
        "/api/sessions",
        json!({"name": session, "engine": "webmd", "config": {"websocketUrl": url}}),
    );
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let info = wait_for_reason(host, session, &format!("cannot connect to {url}"));
    assert_eq!(info["status"], "FAILED");
}

#[test]
fn a_failed_session_restarts_on_the_engine_an_update_gives_it() {
    let host = Host::start(&[engines::WEBMD, engines::SANDBOX]);
    failed_but_retrying(&host, "wa");

    let (status, body) = host.put(
        "/api/sessions/wa",
        json!({"engine": "sandbox", "config": {}}),
    );
    assert_eq!(status, StatusCode::OK, "{body}");
    host.eventually("the session WORKING on sandbox", || {
        let (_, info) = host.get("/api/sessions/wa");
        match (&info["status"], &info["engine"]["engine"]) {
            (status, engine) if status == "WORKING" && engine == "sandbox" => Ok(()),
            _ => Err(info),
        }
    });
    let (status, contact) = host.get("/api/wa/contacts/14155550100");
    assert_eq!(status, StatusCode::OK, "{contact}");
    assert_eq!(contact["id"], "14155550100@c.us");
}

#[test]
fn logging_out_a_failed_session_starts_it_again_to_pair_anew() {
    let host = Host::start(&[engines::WEBMD]);
    failed_but_retrying(&host, "wa");

    let (status, body) = host.post("/api/sessions/wa/logout", json!({}));
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_ne!(body["status"], "STOPPED", "{body}");
    // Started again: the new engine session tries to connect, and says so.
    let info = wait_for_reason(&host, "wa", "cannot connect to");
    assert_eq!(info["status"], "FAILED", "{info}");
}
