//! A host on PostgreSQL (`--database`): everything a session needs lives in
//! the database, not on the host's disk, so another host with an empty
//! data directory carries on where a killed one stopped.

use reqwest::StatusCode;
use serde_json::json;
use wharf_e2e::{Host, engines, postgres::Postgres};

fn on_database(url: &str) -> Host {
    Host::builder()
        .engines(&[engines::SANDBOX])
        .args(&["--database", url])
        .start()
}

#[test]
fn a_killed_hosts_sessions_resume_on_another_host_from_the_database() {
    let Some(server) = Postgres::start() else {
        return;
    };
    let database = server.database();
    let mut first = on_database(&database);
    first.create_session("shop", "sandbox", json!({}));
    first.create_session("idle", "sandbox", json!({}));
    assert_eq!(
        first.post("/api/sessions/idle/stop", json!({})).0,
        StatusCode::OK
    );
    let (status, _) = first.post(
        "/api/contacts/block",
        json!({"contactId": "14155550100", "session": "shop"}),
    );
    assert_eq!(status, StatusCode::CREATED);
    let (status, body) = first.put(
        "/api/shop/contacts/14155550140@c.us",
        json!({"firstName": "Ada", "lastName": "New"}),
    );
    assert_eq!(status, StatusCode::OK, "{body}");
    first.signal("KILL");
    first.wait_for_exit();

    // A new host, a new data directory: only the database is shared.
    let second = on_database(&database);
    second.wait_for_status("shop", "WORKING");
    let (_, blocked) = second.get("/api/shop/contacts/14155550100@c.us");
    assert_eq!(blocked["isBlocked"], true, "{blocked}");
    let (_, added) = second.get("/api/shop/contacts/14155550140@c.us");
    assert_eq!(added["name"], "Ada New", "{added}");
    let (_, idle) = second.get("/api/sessions/idle");
    assert_eq!(idle["status"], "STOPPED", "a stopped session stays stopped");
    assert!(
        !second.session_dir("shop").join("book.sqlite3").exists(),
        "nothing of the book is on the host's disk"
    );

    // Logged out, the session's store is emptied in the database too.
    assert_eq!(
        second.post("/api/sessions/shop/logout", json!({})).0,
        StatusCode::OK
    );
    second.wait_for_status("shop", "WORKING");
    let (_, unblocked) = second.get("/api/shop/contacts/14155550100@c.us");
    assert_eq!(unblocked["isBlocked"], false, "{unblocked}");
}

#[test]
fn a_database_that_cannot_be_reached_is_refused_at_start_without_its_password() {
    let ran = Host::builder()
        .args(&["--database", "postgres://wharf:s3cr3t-pw@127.0.0.1:1/wharf"])
        .run_to_end();
    assert_ne!(ran.code, Some(0));
    assert!(
        ran.stderr
            .contains("cannot use the PostgreSQL database \"wharf\" on 127.0.0.1"),
        "{}",
        ran.stderr
    );
    assert!(!ran.stderr.contains("s3cr3t-pw"), "{}", ran.stderr);
    let ran = Host::builder()
        .args(&["--database", "mysql://x@y/z"])
        .run_to_end();
    assert_ne!(ran.code, Some(0));
    assert!(ran.stderr.contains("--database"), "{}", ran.stderr);
}

#[test]
fn a_second_host_on_a_database_in_use_is_refused() {
    let Some(server) = Postgres::start() else {
        return;
    };
    let database = server.database();
    let first = on_database(&database);
    let ran = Host::builder()
        .engines(&[engines::SANDBOX])
        .args(&["--database", &database])
        .run_to_end();
    assert_ne!(ran.code, Some(0));
    assert!(
        ran.stderr.contains("another wharf host uses this database"),
        "{}",
        ran.stderr
    );
    assert_eq!(
        first.get("/api/sessions").0,
        StatusCode::OK,
        "the first goes on"
    );
}
