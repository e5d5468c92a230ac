//! Files that a session config names (the sandbox's `fixture`) come only
//! from the directory the operator chose, only as regular files, and their
//! content never shows in an error. An API client once made the host read
//! `/dev/zero` until it held 2 GB, block a thread per FIFO, and echo a
//! file's first bytes in a FAILED reason.

use std::{fs, path::Path};

use reqwest::StatusCode;
use serde_json::{Value, json};
use wharf_e2e::{Host, engines};

const SECRET: &str = "TOPSECRET-4242";

/// Creates a sandbox session with `fixture` and waits for where it settles.
fn open_with_fixture(host: &Host, name: &str, fixture: &str) -> Value {
    let (status, body) = host.post(
        "/api/sessions",
        json!({"name": name, "engine": "sandbox", "config": {"fixture": fixture}}),
    );
    assert_eq!(status, StatusCode::CREATED, "{body}");
    host.eventually(&format!("{name} leaves STARTING"), || {
        let (_, session) = host.get(&format!("/api/sessions/{name}"));
        match session["status"].as_str() {
            Some("WORKING" | "FAILED") => Ok(session),
            _ => Err(session),
        }
    })
}

fn reason(session: &Value) -> &str {
    assert_eq!(session["status"], "FAILED", "{session}");
    session["reason"].as_str().unwrap_or_default()
}

fn write_fixture(dir: &Path, name: &str) {
    fs::write(
        dir.join(name),
        r#"{"contacts": [{"id": "10000000000@c.us", "number": "10000000000", "name": "Only One", "isWAContact": true}]}"#,
    )
    .unwrap();
}

#[test]
fn without_a_config_files_directory_no_path_is_read() {
    let outside = tempfile::tempdir().unwrap();
    let secret = outside.path().join("secret.json");
    fs::write(&secret, format!("\"{SECRET}\"")).unwrap();
    let host = Host::start(&[engines::SANDBOX]);
    for (name, fixture) in [
        ("passwd", "/etc/passwd"),
        ("secret", secret.to_str().unwrap()),
        ("zero", "/dev/zero"),
    ] {
        let session = open_with_fixture(&host, name, fixture);
        let reason = reason(&session);
        assert!(
            reason.starts_with("config.fixture: this host reads no files named in session configs"),
            "{reason}"
        );
    }
    assert!(!host.log().contains(SECRET));
    assert!(!host.log().contains("root:"));
}

#[test]
fn fixtures_come_only_from_the_operator_s_directory() {
    let root = tempfile::tempdir().unwrap();
    let allowed = root.path().join("fixtures");
    fs::create_dir_all(&allowed).unwrap();
    write_fixture(&allowed, "tiny.json");
    fs::write(
        allowed.join("broken.json"),
        format!("{{\"contacts\": \"{SECRET}\"}}"),
    )
    .unwrap();
    fs::write(allowed.join("garbage.json"), format!("{SECRET} not json")).unwrap();
    fs::write(root.path().join("outside.json"), format!("\"{SECRET}\"")).unwrap();
    std::os::unix::fs::symlink("/etc/shadow", allowed.join("shadow.json")).unwrap();
    std::os::unix::fs::symlink("/dev/zero", allowed.join("zero.json")).unwrap();
    let fifo = allowed.join("pipe.json");
    assert!(
        std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap()
            .success()
    );
    let host = Host::builder()
        .engines(&[engines::SANDBOX])
        .args(&["--config-files-dir", allowed.to_str().unwrap()])
        .start();

    // A name inside the directory works.
    let tiny = open_with_fixture(&host, "tiny", "tiny.json");
    assert_eq!(tiny["status"], "WORKING", "{tiny}");
    let (_, list) = host.get("/api/tiny/contacts/all");
    assert_eq!(list[0]["id"], "10000000000@c.us");

    let outside = root.path().join("outside.json");
    let refusals = [
        ("abs", outside.to_str().unwrap(), "must name a file inside"),
        ("dotdot", "../outside.json", "must name a file inside"),
        ("shadow", "shadow.json", "must name a file inside"),
        ("devzero", "/dev/zero", "must name a file inside"),
        ("linkzero", "zero.json", "must name a file inside"),
        ("missing", "missing.json", "no file \"missing.json\""),
        ("broken", "broken.json", "is not a contact book"),
        ("garbage", "garbage.json", "is not valid JSON"),
    ];
    for (name, fixture, expected) in refusals {
        let session = open_with_fixture(&host, name, fixture);
        let reason = reason(&session);
        assert!(reason.starts_with("config.fixture"), "{name}: {reason}");
        assert!(reason.contains(expected), "{name}: {reason}");
        assert!(!reason.contains(SECRET), "{name}: {reason}");
    }
    // Many FIFOs: each is refused at once instead of holding a thread
    // until a writer comes (which once starved healthy sessions into 504).
    for index in 0..40 {
        let session = open_with_fixture(&host, &format!("fifo{index}"), "pipe.json");
        assert!(
            reason(&session).ends_with("is not a regular file"),
            "{session}"
        );
    }
    let (status, list) = host.get("/api/tiny/contacts/all");
    assert_eq!(status, StatusCode::OK, "{list}");
    assert!(!host.log().contains(SECRET));
}

#[test]
fn a_config_files_directory_that_does_not_exist_stops_the_host_with_the_reason() {
    let ran = Host::builder()
        .args(&["--config-files-dir", "/nonexistent/fixtures"])
        .run_to_end();
    assert_eq!(ran.code, Some(2));
    let stderr = ran.stderr;
    assert!(
        stderr.contains("--config-files-dir /nonexistent/fixtures"),
        "{stderr}"
    );
}

#[test]
fn a_session_with_a_saved_book_keeps_working_when_its_fixture_is_gone() {
    let root = tempfile::tempdir().unwrap();
    write_fixture(root.path(), "tiny.json");
    let dir = root.path().to_str().unwrap();
    let mut host = Host::builder()
        .engines(&[engines::SANDBOX])
        .args(&["--config-files-dir", dir])
        .start();
    let tiny = open_with_fixture(&host, "tiny", "tiny.json");
    assert_eq!(tiny["status"], "WORKING", "{tiny}");
    let (status, _) = host.post(
        "/api/contacts/block",
        json!({"contactId": "10000000000", "session": "tiny"}),
    );
    assert_eq!(status, StatusCode::CREATED);

    fs::remove_file(root.path().join("tiny.json")).unwrap();
    host.crash_and_restart();
    host.wait_for_status("tiny", "WORKING");
    let (_, contact) = host.get("/api/tiny/contacts/10000000000@c.us");
    assert_eq!(contact["isBlocked"], true, "{contact}");
}
