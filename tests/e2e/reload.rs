//! Operators swap engines while the host runs: reload over HTTP, SIGHUP and
//! `--watch`, versions side by side, sessions moved one at a time, and the
//! host process never restarted.

use std::{fs, path::Path};

use reqwest::StatusCode;
use serde_json::{Value, json};
use wharf_e2e::{Host, artifact, engines, library_file};

/// Copies a built engine library into `dir` under `file_name`.
fn drop_library(library: &str, dir: &Path, file_name: &str) {
    fs::copy(artifact(&library_file(library)), dir.join(file_name)).expect("copy the library");
}

/// The loaded or retired entries of the engines list for `name@version`.
fn entries<'a>(list: &'a Value, name: &str, version: &str) -> Vec<&'a Value> {
    list.as_array()
        .expect("a list of libraries")
        .iter()
        .filter(|library| library["name"] == name && library["version"] == version)
        .collect()
}

fn status_of(list: &Value, name: &str, version: &str) -> Vec<String> {
    entries(list, name, version)
        .iter()
        .map(|library| library["status"].as_str().unwrap_or_default().to_owned())
        .collect()
}

/// The name the engine gave the one contact it lists: says which engine
/// instance served the session.
fn served_by(host: &Host, session: &str) -> String {
    let (status, contacts) = host.get(&format!("/api/{session}/contacts/all"));
    assert_eq!(status, StatusCode::OK, "{contacts}");
    contacts[0]["name"].as_str().unwrap_or_default().to_owned()
}

fn about(host: &Host, session: &str) -> (StatusCode, Value) {
    host.get(&format!(
        "/api/contacts/about?contactId=10000000001&session={session}"
    ))
}

/// Polls the engines list until `done` holds for it.
fn wait_for_engines(host: &Host, what: &str, done: impl Fn(&Value) -> bool) -> Value {
    host.eventually(what, || {
        let (status, list) = host.get("/api/server/engines");
        assert_eq!(status, StatusCode::OK);
        if done(&list) { Ok(list) } else { Err(list) }
    })
}

#[test]
fn a_new_version_is_loaded_beside_the_old_and_sessions_move_one_at_a_time() {
    let mut host = Host::start(&[engines::EVOLVING_V1]);
    let pid = host.pid();
    let (_, server) = host.get("/api/server/status");
    let started_at = server["startTimestamp"].clone();

    for session in ["moving", "staying"] {
        let created = host.create_session(session, "evolving", json!({}));
        assert_eq!(
            created["engine"],
            json!({"engine": "evolving", "version": "1.0.0"})
        );
        assert_eq!(served_by(&host, session), "served by evolving v1");
    }
    let (status, refused) = about(&host, "moving");
    assert_eq!(status, StatusCode::NOT_IMPLEMENTED, "{refused}");
    assert_eq!(refused["supportedBy"], json!([]));

    // The operator drops version 2 into the directory and reloads.
    drop_library(
        engines::EVOLVING_V2,
        &host.engines_dir(),
        &library_file(engines::EVOLVING_V2),
    );
    let (status, reloaded) = host.post("/api/server/engines/reload", json!({}));
    assert_eq!(status, StatusCode::OK, "{reloaded}");
    assert_eq!(reloaded["added"], json!(["evolving@2.0.0"]));
    assert_eq!(reloaded["removed"], json!([]));
    assert_eq!(reloaded["rejected"], json!([]));

    let (_, list) = host.get("/api/server/engines");
    assert_eq!(status_of(&list, "evolving", "1.0.0"), ["loaded"]);
    assert_eq!(status_of(&list, "evolving", "2.0.0"), ["loaded"]);
    let v2 = entries(&list, "evolving", "2.0.0")[0];
    assert_eq!(v2["features"]["contacts.about"], json!({"supported": true}));

    // Running sessions stay on the instance they started with.
    for session in ["moving", "staying"] {
        let (_, info) = host.get(&format!("/api/sessions/{session}"));
        assert_eq!(info["engine"]["version"], "1.0.0", "{info}");
        assert_eq!(served_by(&host, session), "served by evolving v1");
    }
    let (status, refused) = about(&host, "staying");
    assert_eq!(status, StatusCode::NOT_IMPLEMENTED);
    assert_eq!(refused["supportedBy"], json!(["evolving"]));

    // One session moves to version 2 and gains the feature.
    let (status, body) = host.put("/api/sessions/moving", json!({"engine": "evolving@2.0.0"}));
    assert_eq!(status, StatusCode::OK, "{body}");
    let moved = host.wait_for_status("moving", "WORKING");
    assert_eq!(
        moved["engine"],
        json!({"engine": "evolving@2.0.0", "version": "2.0.0"})
    );
    assert_eq!(served_by(&host, "moving"), "served by evolving v2");
    let (status, answer) = about(&host, "moving");
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(answer["about"], "about, from evolving v2");

    // The other stays where it was, and keeps working.
    assert_eq!(served_by(&host, "staying"), "served by evolving v1");
    assert_eq!(about(&host, "staying").0, StatusCode::NOT_IMPLEMENTED);

    // Version 1 leaves the directory: no new session may use it, but the
    // session running on it carries on until it restarts.
    fs::remove_file(host.engines_dir().join(library_file(engines::EVOLVING_V1))).unwrap();
    let (status, reloaded) = host.post("/api/server/engines/reload", json!({}));
    assert_eq!(status, StatusCode::OK, "{reloaded}");
    assert_eq!(reloaded["removed"], json!(["evolving@1.0.0"]));
    assert_eq!(
        status_of(&reloaded["engines"], "evolving", "1.0.0"),
        ["retired"]
    );
    let (status, refused) = host.post(
        "/api/sessions",
        json!({"name": "late", "engine": "evolving@1.0.0"}),
    );
    assert_eq!(status, StatusCode::BAD_REQUEST, "{refused}");
    assert_eq!(refused["field"], "engine");
    assert_eq!(served_by(&host, "staying"), "served by evolving v1");

    let (status, _) = host.post("/api/sessions/staying/restart", json!({}));
    assert_eq!(status, StatusCode::OK);
    host.wait_for_status("staying", "WORKING");
    assert_eq!(served_by(&host, "staying"), "served by evolving v2");
    let (_, list) = host.get("/api/server/engines");
    assert!(
        entries(&list, "evolving", "1.0.0").is_empty(),
        "no session runs on v1 any more: {list}"
    );

    assert!(host.is_running());
    assert_eq!(host.pid(), pid);
    let (_, server) = host.get("/api/server/status");
    assert_eq!(server["startTimestamp"], started_at);
}

/// A SIGHUP that comes while the host still loads its engines (each is
/// probed in a child process first, which can take seconds) is a rescan
/// once they are loaded, never SIGHUP's default action ending the host.
#[test]
fn a_sighup_during_start_up_is_a_rescan_not_the_end_of_the_host() {
    let mut host = Host::builder().engines(&[engines::SANDBOX]).start_loading();
    host.signal("HUP");
    host.wait_until_serving();
    host.wait_for_log("engines rescanned trigger=\"SIGHUP\"");
    let (_, session) = host.post(
        "/api/sessions",
        json!({"name": "after", "engine": "sandbox"}),
    );
    assert_eq!(session["name"], "after", "{session}");
}

#[test]
fn a_library_rewritten_in_place_loads_fresh_on_sighup() {
    let mut host = Host::start(&[]);
    let pid = host.pid();
    let file = &library_file("evolving");
    drop_library(engines::EVOLVING_V1, &host.engines_dir(), file);
    host.signal("HUP");
    wait_for_engines(&host, "v1 after SIGHUP", |list| {
        status_of(list, "evolving", "1.0.0") == ["loaded"]
    });
    host.create_session("old", "evolving", json!({}));

    // Overwritten in place, at the same path: the host runs a private copy,
    // so neither the running session nor the host is disturbed, and the
    // new contents load as new code.
    drop_library(engines::EVOLVING_V2, &host.engines_dir(), file);
    host.signal("HUP");
    let list = wait_for_engines(&host, "v2 after SIGHUP", |list| {
        status_of(list, "evolving", "2.0.0") == ["loaded"]
    });
    assert_eq!(status_of(&list, "evolving", "1.0.0"), ["retired"]);
    let v2 = entries(&list, "evolving", "2.0.0")[0];
    assert!(v2["file"].as_str().unwrap().ends_with(file), "{v2}");

    assert_eq!(served_by(&host, "old"), "served by evolving v1");
    host.create_session("new", "evolving", json!({}));
    assert_eq!(served_by(&host, "new"), "served by evolving v2");
    assert_eq!(about(&host, "new").0, StatusCode::OK);

    assert!(host.is_running());
    assert_eq!(host.pid(), pid);
}

#[test]
fn reload_rejects_bad_and_duplicate_libraries_with_reasons() {
    let host = Host::start(&[engines::EVOLVING_V1]);
    drop_library(
        engines::INCOMPATIBLE,
        &host.engines_dir(),
        &library_file(engines::INCOMPATIBLE),
    );
    // The same engine and version again, under a name that sorts later.
    drop_library(
        engines::EVOLVING_V1,
        &host.engines_dir(),
        &library_file("zz_copy"),
    );
    let (status, reloaded) = host.post("/api/server/engines/reload", json!({}));
    assert_eq!(status, StatusCode::OK, "{reloaded}");
    assert_eq!(reloaded["added"], json!([]));
    // Both are news of this reload, in its answer and in the log; the
    // engines list keeps showing them.
    let reason_for = |libraries: &Value, file: &str| -> String {
        let library = libraries
            .as_array()
            .unwrap()
            .iter()
            .find(|library| library["file"].as_str().unwrap().ends_with(file))
            .unwrap_or_else(|| panic!("{file} is not in {libraries}"));
        assert_eq!(library["status"], "rejected", "{library}");
        library["reason"].as_str().unwrap().to_owned()
    };
    for libraries in [&reloaded["rejected"], &reloaded["engines"]] {
        let incompatible = reason_for(libraries, &library_file(engines::INCOMPATIBLE));
        assert!(
            incompatible.contains("the library was built for ABI 1.0.0"),
            "{incompatible}"
        );
        let duplicate = reason_for(libraries, &library_file("zz_copy"));
        assert!(
            duplicate.starts_with("evolving@1.0.0 is already loaded from"),
            "{duplicate}"
        );
    }
    assert_eq!(
        reloaded["rejected"].as_array().unwrap().len(),
        2,
        "{reloaded}"
    );
    let log = host.log();
    assert!(
        log.lines()
            .any(|line| line.contains("engine library rejected")
                && line.contains(&library_file("zz_copy"))),
        "{log}"
    );
    host.create_session("still", "evolving", json!({}));
}

#[test]
fn watch_loads_a_library_dropped_into_the_directory() {
    let host = Host::builder().args(&["--watch"]).start();
    // Copied in under a temporary name, then renamed, as an operator should.
    let staged = host.engines_dir().join("evolving.partial");
    fs::copy(artifact(&library_file(engines::EVOLVING_V2)), &staged).unwrap();
    fs::rename(&staged, host.engines_dir().join(library_file("evolving"))).unwrap();
    wait_for_engines(&host, "--watch", |list| {
        status_of(list, "evolving", "2.0.0") == ["loaded"]
    });
    host.create_session("watched", "evolving", json!({}));
    assert_eq!(about(&host, "watched").0, StatusCode::OK);
}
