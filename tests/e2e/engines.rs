//! The host's side of the engine contract: which libraries load, the feature
//! matrix gate, panics and deadlines, all through the real binary.

use reqwest::StatusCode;
use serde_json::{Value, json};
use wharf_e2e::{Host, engines, library_file};

fn library<'a>(list: &'a Value, name: &str) -> &'a Value {
    let file = library_file(name);
    list.as_array()
        .expect("a list of libraries")
        .iter()
        .find(|lib| lib["file"].as_str().is_some_and(|f| f.ends_with(&file)))
        .unwrap_or_else(|| panic!("{file} is not listed in {list}"))
}

#[test]
fn engines_lists_loaded_libraries_with_features_and_rejected_ones_with_reasons() {
    let host = Host::start(&[engines::SANDBOX, engines::COUNTING, engines::INCOMPATIBLE]);
    let (status, list) = host.get("/api/server/engines");
    assert_eq!(status, StatusCode::OK);
    assert_eq!(list.as_array().unwrap().len(), 3);

    let sandbox = library(&list, engines::SANDBOX);
    assert_eq!(sandbox["name"], "sandbox");
    assert_eq!(sandbox["status"], "loaded");
    assert_eq!(sandbox["abiVersion"], "2.3.0");
    let features = sandbox["features"].as_object().unwrap();
    assert_eq!(features.len(), 14);
    for (key, state) in features {
        if key.starts_with("contacts.") || key.starts_with("lids.") {
            assert_eq!(state, &json!({"supported": true}), "{key}");
        } else {
            assert_eq!(state["supported"], false, "{key}");
            assert!(
                state["reason"].as_str().unwrap().contains("no pairing"),
                "{key}"
            );
        }
    }

    let counting = library(&list, engines::COUNTING);
    assert_eq!(
        counting["features"]["contacts.upsert"],
        json!({"supported": false, "reason": "like WhatsApp Web, the counting engine cannot add contacts"})
    );
    assert_eq!(
        counting["features"]["contacts.list"],
        json!({"supported": true})
    );

    let incompatible = library(&list, engines::INCOMPATIBLE);
    assert_eq!(incompatible["status"], "rejected");
    assert_eq!(incompatible["name"], Value::Null);
    let reason = incompatible["reason"].as_str().unwrap();
    assert_eq!(
        reason,
        "incompatible engine ABI (this host speaks 2.3.0): the library was built for ABI 1.0.0"
    );

    // The host goes on serving the engines that loaded.
    host.create_session("default", "sandbox", json!({}));
}

#[test]
fn files_that_are_not_engines_are_rejected_and_the_host_keeps_running() {
    let mut host = Host::start(&[engines::SANDBOX]);
    std::fs::write(
        host.engines_dir().join(library_file("garbage")),
        b"\x7fELF no really",
    )
    .unwrap();
    // The engines directory is scanned at start.
    host.crash_and_restart();
    let (_, list) = host.get("/api/server/engines");
    let garbage = library(&list, "garbage");
    assert_eq!(garbage["status"], "rejected");
    assert!(
        garbage["reason"]
            .as_str()
            .unwrap()
            .starts_with("cannot load the library")
    );
    assert_eq!(library(&list, engines::SANDBOX)["status"], "loaded");
    assert!(host.is_running());
}

#[test]
fn unsupported_features_get_501_and_never_reach_the_engine() {
    let host = Host::start(&[engines::SANDBOX, engines::COUNTING]);
    host.create_session("web", "counting", json!({}));

    let (status, body) = host.put("/api/web/contacts/14155550100", json!({"firstName": "Ada"}));
    assert_eq!(status, StatusCode::NOT_IMPLEMENTED);
    assert_eq!(
        body,
        json!({
            "statusCode": 501,
            "error": "Not Implemented",
            "message": "engine 'counting' does not support contacts.upsert: like WhatsApp Web, the counting engine cannot add contacts. Loaded engines that support it: sandbox",
            "engine": "counting",
            "feature": "contacts.upsert",
            "reason": "like WhatsApp Web, the counting engine cannot add contacts",
            "supportedBy": ["sandbox"]
        })
    );
    let (status, body) = host.get("/api/contacts/about?contactId=14155550100&session=web");
    assert_eq!(status, StatusCode::NOT_IMPLEMENTED);
    assert_eq!(body["feature"], "contacts.about");

    // A supported operation does reach the engine, so the log is live.
    let (status, _) = host.get("/api/web/contacts/14155550100");
    assert_eq!(status, StatusCode::OK);
    assert_eq!(host.calls("web"), ["get 14155550100@c.us"]);
}

#[test]
fn a_panicking_engine_fails_only_its_own_request() {
    let mut host = Host::start(&[engines::SANDBOX, engines::PANICKY]);
    host.create_session("boom", "panicky", json!({}));
    host.create_session("calm", "sandbox", json!({}));

    for _ in 0..3 {
        let (status, body) = host.get("/api/boom/contacts/all");
        assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(body["engine"], "panicky");
        let message = body["message"].as_str().unwrap();
        assert!(
            message.contains("listing contacts always panics"),
            "{message}"
        );
    }
    let (status, contact) = host.get("/api/boom/contacts/14155550100");
    assert_eq!(status, StatusCode::OK);
    assert_eq!(contact["id"], "14155550100@c.us");
    let (status, _) = host.get("/api/calm/contacts/all");
    assert_eq!(status, StatusCode::OK);
    // The panics failed their requests, not the session: it is still
    // WORKING now, not after a wait that would hide a restart.
    let (_, session) = host.get("/api/sessions/boom");
    assert_eq!(session["status"], "WORKING", "{session}");
    assert!(host.is_running());

    let (status, _) = host.post(
        "/api/sessions",
        json!({"name": "boom-open", "engine": "panicky", "config": {"panicOnOpen": true}}),
    );
    assert_eq!(status, StatusCode::CREATED);
    let failed = host.wait_for_status("boom-open", "FAILED");
    assert!(
        failed["reason"].as_str().unwrap().contains("panicked"),
        "{failed}"
    );
    assert!(host.is_running());
}

#[test]
fn a_slow_engine_gets_504_after_the_deadline_and_the_host_goes_on() {
    let host = Host::builder()
        .engines(&[engines::COUNTING])
        .args(&["--engine-timeout", "0.5"])
        .start();
    host.create_session("slow", "counting", json!({"delayMs": 20_000}));
    let (status, body) = host.get("/api/slow/contacts/all");
    assert_eq!(status, StatusCode::GATEWAY_TIMEOUT, "{body}");
    assert_eq!(body["feature"], "contacts.list");
    let (status, _) = host.get("/api/sessions");
    assert_eq!(status, StatusCode::OK);
}

#[test]
fn sessions_must_name_a_loaded_engine_and_a_safe_name() {
    let host = Host::start(&[engines::SANDBOX]);
    let (status, body) = host.post("/api/sessions", json!({"name": "x", "engine": "webjs"}));
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["field"], "engine");
    assert!(
        body["message"].as_str().unwrap().contains("sandbox"),
        "{body}"
    );

    let (status, body) = host.post("/api/sessions", json!({"name": "../etc"}));
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["field"], "name");

    // No engine named: the default engine, and WAHA's default name.
    let (status, body) = host.post("/api/sessions", json!({}));
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body["name"], "default");
    assert_eq!(body["engine"]["engine"], "sandbox");
    let (status, _) = host.post("/api/sessions", json!({"name": "default"}));
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let (_, sessions) = host.get("/api/sessions");
    assert_eq!(sessions.as_array().unwrap().len(), 1);
}

#[test]
fn profile_pictures_are_cached_and_concurrent_misses_make_one_engine_call() {
    let host = Host::start(&[engines::COUNTING]);
    host.create_session("pics", "counting", json!({"delayMs": 300}));
    let path = "/api/contacts/profile-picture?contactId=14155550100&session=pics";
    let expected = json!({"profilePictureURL": "https://pictures.invalid/14155550100@c.us.jpg"});

    let answers: Vec<_> = std::thread::scope(|scope| {
        let requests: Vec<_> = (0..8).map(|_| scope.spawn(|| host.get(path))).collect();
        requests.into_iter().map(|r| r.join().unwrap()).collect()
    });
    for answer in answers {
        assert_eq!(answer, (StatusCode::OK, expected.clone()));
    }
    assert_eq!(
        host.calls("pics"),
        ["profile_picture 14155550100@c.us refresh=false"]
    );

    assert_eq!(host.get(path).1, expected);
    assert_eq!(
        host.calls("pics").len(),
        1,
        "the second ask is served from the cache"
    );

    assert_eq!(host.get(&format!("{path}&refresh=true")).1, expected);
    assert_eq!(
        host.calls("pics")[1..],
        ["profile_picture 14155550100@c.us refresh=true"]
    );
    host.get("/api/contacts/profile-picture?contactId=14155550101&session=pics");
    assert_eq!(
        host.calls("pics").len(),
        3,
        "another contact is another key"
    );

    // A restart is a new run of the session, with an empty cache.
    host.post("/api/sessions/pics/restart", json!({}));
    host.wait_for_status("pics", "WORKING");
    host.get(path);
    let lookups = host
        .calls("pics")
        .iter()
        .filter(|c| c.starts_with("profile_picture"))
        .count();
    assert_eq!(lookups, 4);
}

#[test]
fn a_session_stopped_while_opening_has_its_engine_session_closed() {
    let host = Host::start(&[engines::COUNTING]);
    let (status, _) = host.post(
        "/api/sessions",
        json!({"name": "slow", "engine": "counting", "config": {"openDelayMs": 500}}),
    );
    assert_eq!(status, StatusCode::CREATED);
    let (_, stopped) = host.post("/api/sessions/slow/stop", json!({}));
    assert_eq!(stopped["status"], "STOPPED");
    host.eventually("the abandoned engine session to be closed", || {
        let calls = host.calls("slow");
        if calls.is_empty() {
            Err(json!(calls))
        } else {
            Ok(())
        }
    });
    assert_eq!(host.calls("slow"), ["close "]);
    assert_eq!(host.get("/api/sessions/slow").1["status"], "STOPPED");
}
