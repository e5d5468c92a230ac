//! Lifecycle operations racing each other and in-flight contact calls: each
//! operation on a session is atomic, so whatever the interleaving a client
//! never sees a 500, no engine session is left open that the host does not
//! list, no data directory outlives its session, and every session ends in
//! the state its last operation documents.
//!
//! Every loop is bounded in count; the counting engine's ledger
//! (`engine-sessions.log`) shows which engine sessions are still open.

use std::{
    collections::{BTreeMap, BTreeSet},
    fs,
    io::Write,
    net::TcpStream,
    sync::atomic::{AtomicBool, Ordering},
    thread,
};

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use wharf_e2e::{Host, engines};

/// A contact of the sandbox's bundled fixture.
const ADA: &str = "14155550100";

/// Engine sessions the counting engine opened and never closed, per session
/// name.
fn open_engine_sessions(host: &Host) -> BTreeMap<String, usize> {
    let ledger = host.data_dir().join("sessions").join("engine-sessions.log");
    let text = fs::read_to_string(ledger).unwrap_or_default();
    let mut open = BTreeMap::new();
    for line in text.lines() {
        let fields: Vec<&str> = line.split(' ').collect();
        match fields.as_slice() {
            ["open", session, id] => {
                open.insert(id.to_string(), session.to_string());
            }
            ["close", _, id] => {
                open.remove(*id);
            }
            _ => panic!("unexpected ledger line {line:?}"),
        }
    }
    let mut by_session = BTreeMap::new();
    for session in open.into_values() {
        *by_session.entry(session).or_insert(0) += 1;
    }
    by_session
}

fn delete(host: &Host, name: &str) -> (StatusCode, Value) {
    host.send(host.request(Method::DELETE, &format!("/api/sessions/{name}")))
}

/// Waits until the session has left STARTING and returns its status.
fn settled_status(host: &Host, name: &str) -> String {
    host.eventually(&format!("session {name} to settle"), || {
        let (status, session) = host.get(&format!("/api/sessions/{name}"));
        assert_eq!(status, StatusCode::OK, "{session}");
        match session["status"].as_str() {
            Some("STARTING") | None => Err(session),
            Some(settled) => Ok(settled.to_owned()),
        }
    })
}

fn is_blocked(host: &Host, session: &str) -> bool {
    let (status, contact) = host.get(&format!("/api/{session}/contacts/{ADA}"));
    assert_eq!(status, StatusCode::OK, "{contact}");
    contact["isBlocked"] == true
}

#[test]
fn delete_racing_start_leaves_no_session_directory_or_engine_session() {
    let host = Host::start(&[engines::COUNTING]);
    let tries = 20;
    for attempt in 0..tries {
        let name = format!("race{attempt}");
        let (status, body) = host.post(
            "/api/sessions",
            json!({"name": name, "engine": "counting", "config": {"openDelayMs": 20}, "start": false}),
        );
        assert_eq!(status, StatusCode::CREATED, "{body}");
        let (started, deleted) = thread::scope(|scope| {
            let start =
                scope.spawn(|| host.post(&format!("/api/sessions/{name}/start"), json!({})));
            let delete = scope.spawn(|| delete(&host, &name));
            (
                start.join().expect("the start thread"),
                delete.join().expect("the delete thread"),
            )
        });
        assert!(
            [StatusCode::OK, StatusCode::NOT_FOUND].contains(&started.0),
            "start of {name}: {started:?}"
        );
        assert_eq!(deleted.0, StatusCode::OK, "delete of {name}: {}", deleted.1);
        // Once both have answered, the session is gone with everything it had.
        assert_eq!(
            host.get(&format!("/api/sessions/{name}")).0,
            StatusCode::NOT_FOUND
        );
        assert!(
            !host.session_dir(&name).exists(),
            "{name}'s directory is left"
        );
        assert_eq!(open_engine_sessions(&host).get(&name), None, "{name}");
    }
    // An opening the host lost track of finishes later; by now the earlier
    // ones have.
    let leftovers: Vec<String> = (0..tries)
        .map(|attempt| format!("race{attempt}"))
        .filter(|name| host.session_dir(name).exists())
        .collect();
    assert_eq!(leftovers, Vec::<String>::new(), "directories left behind");
    assert_eq!(open_engine_sessions(&host), BTreeMap::new(), "orphans");
}

#[test]
fn a_delete_whose_client_goes_away_still_completes() {
    let host = Host::start(&[engines::COUNTING]);
    let (status, body) = host.post(
        "/api/sessions",
        json!({"name": "quitter", "engine": "counting", "config": {"openDelayMs": 1000}}),
    );
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let url = host.url("");
    let address = url.trim_start_matches("http://").trim_end_matches('/');
    let mut client = TcpStream::connect(address).expect("a connection to the host");
    client
        .write_all(
            b"DELETE /api/sessions/quitter HTTP/1.1\r\nHost: wharf\r\nContent-Length: 0\r\n\r\n",
        )
        .expect("the request is sent");
    // The delete has begun once the session shows STOPPED; it then waits
    // for the opening, and the client gives up meanwhile.
    host.eventually("the delete to begin", || {
        let (_, session) = host.get("/api/sessions/quitter");
        if session["status"] == "STOPPED" {
            Ok(())
        } else {
            Err(session)
        }
    });
    drop(client);
    host.eventually("the delete to finish", || {
        match host.get("/api/sessions/quitter") {
            (StatusCode::NOT_FOUND, _) => Ok(()),
            (_, session) => Err(session),
        }
    });
    assert!(!host.session_dir("quitter").exists());
    assert_eq!(open_engine_sessions(&host), BTreeMap::new());
}

#[test]
fn restart_then_logout_logs_out_and_starts_again() {
    let host = Host::start(&[engines::SANDBOX]);
    host.create_session("s", "sandbox", json!({}));
    let block = json!({"contactId": ADA, "session": "s"});
    for attempt in 0..30 {
        let (status, body) = host.post("/api/contacts/block", block.clone());
        assert_eq!(status, StatusCode::CREATED, "{body}");
        let restart = || host.post("/api/sessions/s/restart", json!({}));
        let logout = || host.post("/api/sessions/s/logout", json!({}));
        // Even tries: the logout lands while the restart's opening is under
        // way. Odd ones: both at once, in either order.
        let (restarted, logged_out) = if attempt % 2 == 0 {
            (restart(), logout())
        } else {
            thread::scope(|scope| {
                let restarted = scope.spawn(restart);
                let logged_out = scope.spawn(logout);
                (
                    restarted.join().expect("the restart thread"),
                    logged_out.join().expect("the logout thread"),
                )
            })
        };
        assert_eq!(restarted.0, StatusCode::OK, "restart: {}", restarted.1);
        assert_eq!(logged_out.0, StatusCode::OK, "logout: {}", logged_out.1);
        // A running session that logs out starts again, on fresh data.
        host.wait_for_status("s", "WORKING");
        assert!(!is_blocked(&host, "s"), "try {attempt}: the block survived");
    }
}

#[test]
fn contact_calls_in_flight_during_logout_succeed_or_see_the_new_state() {
    let host = Host::start(&[engines::SANDBOX]);
    host.create_session("s", "sandbox", json!({}));
    let done = AtomicBool::new(false);
    let answers = thread::scope(|scope| {
        let callers: Vec<_> = (0..4)
            .map(|caller| {
                let (host, done) = (&host, &done);
                scope.spawn(move || {
                    let mut answers = Vec::new();
                    for call in 0..1_000 {
                        if done.load(Ordering::Relaxed) {
                            break;
                        }
                        let answer = match (caller + call) % 3 {
                            0 => host.post(
                                "/api/contacts/block",
                                json!({"contactId": ADA, "session": "s"}),
                            ),
                            1 => host.post(
                                "/api/contacts/unblock",
                                json!({"contactId": ADA, "session": "s"}),
                            ),
                            _ => host.put(
                                &format!("/api/s/contacts/1415555{:04}", call % 100),
                                json!({"firstName": "Churn"}),
                            ),
                        };
                        answers.push(answer);
                    }
                    answers
                })
            })
            .collect();
        for _ in 0..15 {
            let (status, body) = host.post("/api/sessions/s/logout", json!({}));
            assert_eq!(status, StatusCode::OK, "logout: {body}");
            host.wait_for_status("s", "WORKING");
        }
        done.store(true, Ordering::Relaxed);
        callers
            .into_iter()
            .flat_map(|caller| caller.join().expect("a caller thread"))
            .collect::<Vec<_>>()
    });
    let expected = [
        StatusCode::OK,
        StatusCode::CREATED,
        StatusCode::UNPROCESSABLE_ENTITY,
    ];
    let wrong: Vec<_> = answers
        .iter()
        .filter(|(status, _)| !expected.contains(status))
        .collect();
    assert!(
        wrong.is_empty(),
        "{} of {} contact calls answered otherwise: {wrong:?}",
        wrong.len(),
        answers.len()
    );
}

/// A small deterministic generator, so a failing churn can be replayed.
struct Dice(u64);

impl Dice {
    fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 % n as u64) as usize
    }
}

/// The sessions of the churn: (name, engine, config).
const CHURNED: [(&str, &str); 3] = [
    ("churn-a", "sandbox"),
    ("churn-b", "sandbox"),
    ("churn-c", "counting"),
];

fn churn_config(engine: &str, label: usize) -> Value {
    match engine {
        // Slow enough that openings and calls are often in flight when
        // another client stops, logs out or deletes the session.
        "counting" => json!({"openDelayMs": 5, "delayMs": 2, "label": label}),
        _ => json!({"label": label}),
    }
}

/// One request of the churn; returns what it was, for failure messages,
/// with the answer.
fn churn_step(host: &Host, dice: &mut Dice) -> (String, StatusCode, Value) {
    let (name, engine) = CHURNED[dice.below(CHURNED.len())];
    let lifecycle = |action: &str| {
        (
            format!("{action} {name}"),
            host.post(&format!("/api/sessions/{name}/{action}"), json!({})),
        )
    };
    let (what, (status, body)) = match dice.below(11) {
        0 => (
            format!("create {name}"),
            host.post(
                "/api/sessions",
                json!({"name": name, "engine": engine, "config": churn_config(engine, 0)}),
            ),
        ),
        1 => lifecycle("stop"),
        2 => lifecycle("start"),
        3 => lifecycle("restart"),
        4 => lifecycle("logout"),
        5 => {
            let label = dice.below(1000);
            (
                format!("update {name}"),
                host.put(
                    &format!("/api/sessions/{name}"),
                    json!({"config": churn_config(engine, label)}),
                ),
            )
        }
        6 => (format!("delete {name}"), delete(host, name)),
        7 => (
            format!("list contacts of {name}"),
            host.get(&format!("/api/{name}/contacts/all")),
        ),
        8 | 9 => {
            let action = if dice.below(2) == 0 {
                "block"
            } else {
                "unblock"
            };
            (
                format!("{action} on {name}"),
                host.post(
                    &format!("/api/contacts/{action}"),
                    json!({"contactId": ADA, "session": name}),
                ),
            )
        }
        // The counting engine cannot add contacts (501 by design), so
        // upserts go to the sandbox sessions only.
        _ if engine == "sandbox" => (
            format!("upsert on {name}"),
            host.put(
                &format!("/api/{name}/contacts/1415555{:04}", dice.below(100)),
                json!({"firstName": "Churn"}),
            ),
        ),
        _ => (
            format!("get contact of {name}"),
            host.get(&format!("/api/{name}/contacts/{ADA}")),
        ),
    };
    (what, status, body)
}

#[test]
fn churn_with_contact_traffic_gives_no_5xx_and_leaves_nothing_behind() {
    let mut host = Host::start(&[engines::SANDBOX, engines::COUNTING]);
    let clients = 6;
    let steps = 400;
    let answers: Vec<(String, StatusCode, Value)> = thread::scope(|scope| {
        let threads: Vec<_> = (0..clients)
            .map(|client| {
                let host = &host;
                scope.spawn(move || {
                    let mut dice = Dice(0x9E37_79B9_7F4A_7C15 ^ (client as u64 + 1));
                    (0..steps)
                        .map(|_| churn_step(host, &mut dice))
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        threads
            .into_iter()
            .flat_map(|thread| thread.join().expect("a churn client"))
            .collect()
    });
    let expected = [
        StatusCode::OK,
        StatusCode::CREATED,
        StatusCode::NOT_FOUND,
        StatusCode::UNPROCESSABLE_ENTITY,
    ];
    let wrong: Vec<_> = answers
        .iter()
        .filter(|(_, status, _)| !expected.contains(status))
        .collect();
    let server_errors = answers
        .iter()
        .filter(|(_, status, _)| status.is_server_error())
        .count();
    assert!(
        wrong.is_empty(),
        "{} of {} requests answered otherwise ({server_errors} 5xx): {wrong:#?}",
        wrong.len(),
        answers.len()
    );
    // The churn really raced: sessions were deleted and served contacts.
    for kind in ["delete", "logout", "block", "upsert"] {
        assert!(
            answers
                .iter()
                .any(|(what, status, _)| what.starts_with(kind) && status.is_success()),
            "no {kind} succeeded"
        );
    }

    // Every listed session settles to the state its last operation left:
    // running (WORKING) or stopped, never FAILED or stuck STARTING.
    let (status, listed) = host.get("/api/sessions?all=true");
    assert_eq!(status, StatusCode::OK, "{listed}");
    let listed: BTreeSet<String> = listed
        .as_array()
        .expect("a list of sessions")
        .iter()
        .filter_map(|session| session["name"].as_str().map(str::to_owned))
        .collect();
    let mut settled = BTreeMap::new();
    for name in &listed {
        let status = settled_status(&host, name);
        assert!(
            status == "WORKING" || status == "STOPPED",
            "{name} ended {status}"
        );
        settled.insert(name.clone(), status);
    }
    let open = open_engine_sessions(&host);
    for (name, engine) in CHURNED {
        match settled.get(name).map(String::as_str) {
            None => {
                assert!(
                    !host.session_dir(name).exists(),
                    "deleted {name} left its directory"
                );
                assert_eq!(open.get(name), None, "deleted {name} left engine sessions");
            }
            Some(status) if engine == "counting" => {
                let expected = usize::from(status == "WORKING");
                assert_eq!(
                    open.get(name).copied().unwrap_or(0),
                    expected,
                    "{name} is {status}; open engine sessions: {open:?}"
                );
            }
            Some("WORKING") => {
                assert_eq!(
                    host.get(&format!("/api/{name}/contacts/all")).0,
                    StatusCode::OK
                );
            }
            Some(_) => {}
        }
    }

    // What the host stored agrees with what it showed: after a crash each
    // session comes back running or stopped as it was.
    host.crash_and_restart();
    for (name, status) in &settled {
        assert_eq!(&settled_status(&host, name), status, "{name} after a crash");
    }
}

#[test]
fn starting_a_session_whose_engine_failed_closes_the_failed_engine_session_first() {
    let host = Host::start(&[engines::COUNTING]);
    let (status, body) = host.post(
        "/api/sessions",
        json!({"name": "broken", "engine": "counting", "config": {"failAfterOpen": true}}),
    );
    assert_eq!(status, StatusCode::CREATED, "{body}");
    host.wait_for_status("broken", "FAILED");
    let one_open = BTreeMap::from([("broken".to_owned(), 1)]);
    assert_eq!(open_engine_sessions(&host), one_open);
    for action in ["start", "restart", "start"] {
        let (status, body) = host.post(&format!("/api/sessions/broken/{action}"), json!({}));
        assert!(status.is_success(), "{action}: {status} {body}");
        host.wait_for_status("broken", "FAILED");
        // The engine session of the failed run was closed before the new
        // one opened: never two at once on one session's data.
        assert_eq!(open_engine_sessions(&host), one_open, "after {action}");
    }
    let (status, _) = host.post("/api/sessions/broken/stop", json!({}));
    assert!(status.is_success());
    assert_eq!(open_engine_sessions(&host), BTreeMap::new());
}
