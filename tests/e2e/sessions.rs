//! WAHA's session lifecycle and pairing, through the real binary, and what
//! survives a crash of the host.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use wharf_e2e::{Host, engines};

fn names(list: &Value) -> Vec<&str> {
    list.as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap())
        .collect()
}

#[test]
fn a_session_goes_through_start_stop_restart_and_reports_me() {
    let host = Host::start(&[engines::SANDBOX]);
    let (status, created) = host.post("/api/sessions", json!({"name": "s1", "start": false}));
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(created["status"], "STOPPED");
    assert_eq!(
        created["engine"],
        json!({"engine": "sandbox", "version": "0.1.0"})
    );
    assert!(
        names(&host.get("/api/sessions").1).is_empty(),
        "stopped sessions are hidden"
    );
    assert_eq!(names(&host.get("/api/sessions?all=true").1), ["s1"]);

    let (status, body) = host.get("/api/s1/contacts/all");
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(body["status"], "STOPPED");
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains("/api/sessions/s1/start"),
        "{body}"
    );

    let (status, _) = host.post("/api/sessions/s1/start", json!({}));
    assert_eq!(status, StatusCode::OK);
    let working = host.wait_for_status("s1", "WORKING");
    let me = json!({"id": "14155550199@c.us", "pushName": "Wharf Sandbox"});
    assert_eq!(working["me"], me);
    assert_eq!(host.get("/api/sessions/s1/me"), (StatusCode::OK, me));

    let (status, stopped) = host.post("/api/sessions/s1/stop", json!({}));
    assert_eq!(status, StatusCode::OK);
    assert_eq!(stopped["status"], "STOPPED");
    assert_eq!(
        host.get("/api/s1/contacts/all").0,
        StatusCode::UNPROCESSABLE_ENTITY
    );

    let (status, _) = host.post("/api/sessions/s1/restart", json!({}));
    assert_eq!(status, StatusCode::OK);
    host.wait_for_status("s1", "WORKING");
    assert_eq!(host.get("/api/s1/contacts/all").0, StatusCode::OK);

    for action in ["start", "stop", "restart", "logout"] {
        let (status, _) = host.post(&format!("/api/sessions/nobody/{action}"), json!({}));
        assert_eq!(status, StatusCode::NOT_FOUND, "{action}");
    }
}

#[test]
fn put_moves_a_running_session_to_another_engine_and_config() {
    let host = Host::start(&[engines::SANDBOX, engines::COUNTING]);
    host.create_session("moving", "sandbox", json!({}));
    let (status, body) = host.put(
        "/api/sessions/moving",
        json!({"engine": "counting", "config": {"delayMs": 1}}),
    );
    assert_eq!(status, StatusCode::OK, "{body}");
    let moved = host.wait_for_status("moving", "WORKING");
    assert_eq!(moved["engine"]["engine"], "counting");
    assert_eq!(moved["config"], json!({"delayMs": 1}));
    let (status, _) = host.get("/api/moving/contacts/all");
    assert_eq!(status, StatusCode::OK);
    assert_eq!(host.calls("moving"), ["list "]);
    // The counting engine cannot add contacts; the sandbox could.
    let (status, _) = host.put(
        "/api/moving/contacts/14155550100",
        json!({"firstName": "A"}),
    );
    assert_eq!(status, StatusCode::NOT_IMPLEMENTED);

    let (status, body) = host.put("/api/sessions/moving", json!({"engine": "nope"}));
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["field"], "engine");
    let (status, body) = host.put("/api/sessions/moving", json!({"config": [1, 2]}));
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["field"], "config");
    let (status, body) = host.put("/api/sessions/moving", json!({"name": "renamed"}));
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["field"], "name");
}

/// The keys of `session`'s store, as the host committed them to its
/// database.
fn stored_keys(host: &Host, session: &str) -> Vec<String> {
    let database = rusqlite::Connection::open_with_flags(
        host.data_dir().join("wharf.db"),
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
    )
    .unwrap();
    let mut select = database
        .prepare("SELECT key FROM engine_kv WHERE session = ?1 ORDER BY key")
        .unwrap();
    let keys = select.query_map([session], |row| row.get(0)).unwrap();
    keys.collect::<Result<_, _>>().unwrap()
}

#[test]
fn delete_removes_the_session_and_its_data() {
    let host = Host::start(&[engines::SANDBOX]);
    host.create_session("gone", "sandbox", json!({}));
    // A change, so the sandbox keeps a book of its own.
    let block = json!({"contactId": "14155550100", "session": "gone"});
    assert_eq!(
        host.post("/api/contacts/block", block).0,
        StatusCode::CREATED
    );
    assert!(stored_keys(&host, "gone").contains(&"book/c/14155550100@c.us".to_owned()));
    let (status, _) = host.send(host.request(Method::DELETE, "/api/sessions/gone"));
    assert_eq!(status, StatusCode::OK);
    assert_eq!(host.get("/api/sessions/gone").0, StatusCode::NOT_FOUND);
    assert!(!host.session_dir("gone").exists());
    assert_eq!(stored_keys(&host, "gone"), Vec::<String>::new());
    assert_eq!(host.get("/api/gone/contacts/all").0, StatusCode::NOT_FOUND);
    // The name can be used again, from a fresh book.
    host.create_session("gone", "sandbox", json!({}));
    let (_, contact) = host.get("/api/gone/contacts/14155550100@c.us");
    assert_eq!(contact["isBlocked"], false, "{contact}");
}

#[test]
fn logout_forgets_the_session_data_and_starts_again() {
    let host = Host::start(&[engines::SANDBOX]);
    host.create_session("s", "sandbox", json!({}));
    host.post(
        "/api/contacts/block",
        json!({"contactId": "14155550100", "session": "s"}),
    );
    assert_eq!(host.get("/api/s/contacts/14155550100").1["isBlocked"], true);
    let (status, _) = host.post("/api/sessions/s/logout", json!({}));
    assert_eq!(status, StatusCode::OK);
    host.wait_for_status("s", "WORKING");
    assert_eq!(
        host.get("/api/s/contacts/14155550100").1["isBlocked"],
        false
    );
}

#[test]
fn a_logout_the_engine_could_not_tell_whatsapp_of_says_so() {
    let host = Host::start(&[engines::COUNTING]);
    // Each opening takes a while, so the answer sees the session starting again.
    let slow = |logout_fails| json!({"openDelayMs": 2000, "logoutFails": logout_fails});
    host.create_session("told", "counting", slow(false));
    host.create_session("untold", "counting", slow(true));
    host.wait_for_status("told", "WORKING");
    host.wait_for_status("untold", "WORKING");

    let (status, told) = host.post("/api/sessions/told/logout", json!({}));
    assert_eq!(status, StatusCode::OK, "{told}");
    assert_eq!(
        (&told["status"], &told["reason"]),
        (&json!("STARTING"), &Value::Null)
    );

    let (status, untold) = host.post("/api/sessions/untold/logout", json!({}));
    assert_eq!(status, StatusCode::OK, "{untold}");
    assert_eq!(untold["status"], "STARTING");
    assert_eq!(
        untold["reason"],
        "logged out and its data deleted here, but the engine could not unlink the device \
         from WhatsApp: counting: not connected, so WhatsApp was not told"
    );
    // The engine's own reports take over from the note.
    let working = host.wait_for_status("untold", "WORKING");
    assert_eq!(working["reason"], Value::Null, "{working}");
}

#[test]
fn the_host_restarts_running_sessions_after_a_crash_and_leaves_stopped_ones() {
    let mut host = Host::start(&[engines::SANDBOX]);
    host.create_session("running", "sandbox", json!({}));
    host.create_session("stopped", "sandbox", json!({}));
    host.post("/api/sessions/stopped/stop", json!({}));
    host.create_session("deleted", "sandbox", json!({}));
    host.send(host.request(Method::DELETE, "/api/sessions/deleted"));

    host.crash_and_restart();
    host.wait_for_status("running", "WORKING");
    assert_eq!(host.get("/api/sessions/stopped").1["status"], "STOPPED");
    assert_eq!(host.get("/api/sessions/deleted").0, StatusCode::NOT_FOUND);
    assert_eq!(
        names(&host.get("/api/sessions?all=true").1),
        ["running", "stopped"]
    );
}

/// Two hosts on one data directory would overwrite each other's sessions
/// (one deletes a session the other still writes to): a host still
/// stopping when its replacement starts is the usual way to get there.
#[test]
fn a_second_host_on_the_same_data_directory_is_refused() {
    let host = Host::start(&[engines::SANDBOX]);
    host.create_session("mine", "sandbox", json!({}));
    let second = Host::builder().data_dir(&host.data_dir()).run_to_end();
    let said = second.stderr;
    assert_ne!(second.code, Some(0), "{said}");
    let lock = host.data_dir().join("wharf.lock");
    assert!(
        said.contains(&format!(
            "{} is in use by another wharf",
            host.data_dir().display()
        )) && said.contains(&lock.display().to_string()),
        "{said}"
    );
    assert_eq!(host.get("/api/sessions/mine").1["status"], "WORKING");
}

#[test]
fn a_stored_session_whose_engine_is_gone_fails_with_the_reason() {
    let mut host = Host::start(&[engines::SANDBOX, engines::COUNTING]);
    host.create_session("orphan", "counting", json!({}));
    std::fs::remove_file(
        host.engines_dir()
            .join(wharf_e2e::library_file(engines::COUNTING)),
    )
    .unwrap();
    host.crash_and_restart();
    let failed = host.wait_for_status("orphan", "FAILED");
    assert!(
        failed["reason"]
            .as_str()
            .unwrap()
            .contains("'counting' is not loaded"),
        "{failed}"
    );
    let (status, body) = host.get("/api/orphan/contacts/all");
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(body["status"], "FAILED");
}

#[test]
fn pairing_serves_the_qr_code_and_the_pairing_code() {
    let host = Host::start(&[engines::SANDBOX, engines::COUNTING]);
    let (status, _) = host.post(
        "/api/sessions",
        json!({"name": "pair", "engine": "counting", "config": {"pairing": true}}),
    );
    assert_eq!(status, StatusCode::CREATED);
    host.wait_for_status("pair", "SCAN_QR_CODE");
    assert_eq!(
        host.get("/api/pair/auth/qr?format=raw"),
        (StatusCode::OK, json!({"value": "counting-qr:pair"}))
    );
    let response = host
        .request(Method::GET, "/api/pair/auth/qr")
        .send()
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["content-type"], "image/png");
    assert!(response.bytes().unwrap().starts_with(b"\x89PNG\r\n\x1a\n"));
    // WAHA's JSON clients ask for the image as base64.
    let (status, body) = host.send(
        host.request(Method::GET, "/api/pair/auth/qr")
            .header("Accept", "application/json"),
    );
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["mimetype"], "image/png");
    // The PNG signature, base64-encoded.
    assert!(
        body["data"].as_str().unwrap().starts_with("iVBORw0KGgo"),
        "{body}"
    );
    let (status, body) = host.post("/api/pair/auth/request-code", json!({"phoneNumber": "x"}));
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["field"], "phoneNumber");

    assert_eq!(
        host.post(
            "/api/pair/auth/request-code",
            json!({"phoneNumber": "+1 415 555 0100"})
        ),
        (StatusCode::OK, json!({"code": "WHRF-4321"}))
    );
    host.wait_for_status("pair", "WORKING");
    assert_eq!(host.calls("pair"), ["request_pairing_code 14155550100"]);
    let (status, body) = host.get("/api/pair/auth/qr");
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        body["message"].as_str().unwrap().contains("already paired"),
        "{body}"
    );

    // The sandbox has no pairing: the feature matrix answers.
    host.create_session("sb", "sandbox", json!({}));
    let (status, body) = host.get("/api/sb/auth/qr");
    assert_eq!(status, StatusCode::NOT_IMPLEMENTED);
    assert_eq!(body["feature"], "auth.qr");
    assert_eq!(body["supportedBy"], json!(["counting"]));
    let (status, body) = host.post(
        "/api/sb/auth/request-code",
        json!({"phoneNumber": "14155550100"}),
    );
    assert_eq!(status, StatusCode::NOT_IMPLEMENTED);
    assert_eq!(body["feature"], "auth.code");
}

#[test]
fn a_default_engine_that_is_no_engine_reference_stops_the_host_naming_it() {
    let ran = Host::builder()
        .env("WHATSAPP_DEFAULT_ENGINE", "web js")
        .run_to_end();
    assert_ne!(ran.code, Some(0));
    let stderr = ran.stderr;
    assert!(stderr.contains("WHATSAPP_DEFAULT_ENGINE: "), "{stderr}");
}
