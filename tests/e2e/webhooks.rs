//! Webhooks: a real HTTP receiver on loopback gets WAHA's envelopes, signed
//! and in order; failed deliveries are retried and then given up; events
//! the host could not deliver before a kill -9 are delivered after it. A
//! websocket listener on `/ws` gets the same envelopes.

use std::{
    collections::BTreeMap,
    net::SocketAddr,
    sync::{Arc, Mutex, PoisonError},
};

use axum::{
    Router,
    body::Bytes,
    http::{HeaderMap, StatusCode as AxumStatus},
    routing::post,
};
use hmac::{Hmac, Mac};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use sha2::Sha512;
use wharf_e2e::{Host, engines};

use crate::loopback::serve;

/// One request the receiver got.
#[derive(Debug, Clone)]
struct Delivery {
    /// Header names in lower case.
    headers: BTreeMap<String, String>,
    body: String,
    envelope: Value,
}

impl Delivery {
    fn header(&self, name: &str) -> &str {
        self.headers
            .get(&name.to_ascii_lowercase())
            .map_or("", String::as_str)
    }
}

#[derive(Default)]
struct Received {
    deliveries: Vec<Delivery>,
    /// What the receiver answers (200 unless a test says otherwise).
    answer: Option<u16>,
    /// How many requests, from the start, get `answer`; all when `None`.
    answered_so: Option<usize>,
}

/// A webhook receiver on a loopback port, in a thread of its own.
struct Receiver {
    address: SocketAddr,
    received: Arc<Mutex<Received>>,
    _stop: tokio::sync::oneshot::Sender<()>,
}

impl Receiver {
    fn start() -> Receiver {
        let received = Arc::new(Mutex::new(Received::default()));
        let shared = Arc::clone(&received);
        let app = Router::new().route(
            "/hook",
            post(move |headers: HeaderMap, body: Bytes| {
                let shared = Arc::clone(&shared);
                async move { record(&shared, &headers, &body) }
            }),
        );
        let (address, stop) = serve(app);
        Receiver {
            address,
            received,
            _stop: stop,
        }
    }

    fn url(&self) -> String {
        format!("http://{}/hook", self.address)
    }

    fn answer(&self, status: u16) {
        self.lock().answer = Some(status);
    }

    /// Answers `status` to the first `count` requests, and 200 after them.
    fn answer_first(&self, count: usize, status: u16) {
        let mut received = self.lock();
        received.answer = Some(status);
        received.answered_so = Some(count);
    }

    fn deliveries(&self) -> Vec<Delivery> {
        self.lock().deliveries.clone()
    }

    /// Waits until `count` deliveries came in; returns them all.
    fn wait_for(&self, count: usize, host: &Host) -> Vec<Delivery> {
        host.eventually(&format!("{count} webhook deliveries"), || {
            let deliveries = self.deliveries();
            if deliveries.len() >= count {
                Ok(deliveries)
            } else {
                Err(Value::Array(
                    deliveries.into_iter().map(|d| d.envelope).collect(),
                ))
            }
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Received> {
        self.received.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

fn record(shared: &Mutex<Received>, headers: &HeaderMap, body: &[u8]) -> AxumStatus {
    let body = String::from_utf8_lossy(body).into_owned();
    let delivery = Delivery {
        headers: headers
            .iter()
            .map(|(name, value)| {
                (
                    name.as_str().to_owned(),
                    value.to_str().unwrap_or_default().to_owned(),
                )
            })
            .collect(),
        envelope: serde_json::from_str(&body).unwrap_or(Value::Null),
        body,
    };
    let mut received = shared.lock().unwrap_or_else(PoisonError::into_inner);
    received.deliveries.push(delivery);
    let scripted = received
        .answered_so
        .is_none_or(|count| received.deliveries.len() <= count);
    let status = received.answer.filter(|_| scripted).unwrap_or(200);
    AxumStatus::from_u16(status).unwrap_or(AxumStatus::OK)
}

fn statuses(deliveries: &[Delivery]) -> Vec<String> {
    deliveries
        .iter()
        .map(|d| {
            d.envelope["payload"]["status"]
                .as_str()
                .unwrap_or("?")
                .to_owned()
        })
        .collect()
}

fn hmac_hex(key: &str, body: &str) -> String {
    let mut mac = Hmac::<Sha512>::new_from_slice(key.as_bytes()).unwrap();
    mac.update(body.as_bytes());
    hex::encode(mac.finalize().into_bytes())
}

#[test]
fn session_status_reaches_a_session_webhook_signed_in_wahas_envelope_and_in_order() {
    let receiver = Receiver::start();
    let host = Host::start(&[engines::SANDBOX]);
    let config = json!({
        "webhooks": [{
            "url": receiver.url(),
            "events": ["session.status"],
            "hmac": {"key": "s3cret-key"},
            "customHeaders": [{"name": "X-Tenant", "value": "acme"}]
        }],
        "metadata": {"crm.user": "42"}
    });
    host.create_session("hooked", "sandbox", config);
    let deliveries = receiver.wait_for(2, &host);
    assert_eq!(statuses(&deliveries), ["STARTING", "WORKING"]);

    let working = &deliveries[1];
    let envelope = &working.envelope;
    let id = envelope["id"].as_str().unwrap();
    assert!(
        id.len() == 30
            && id.starts_with("evt_")
            && id[4..]
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit()),
        "{id}"
    );
    assert_eq!(envelope["event"], "session.status");
    assert_eq!(envelope["session"], "hooked");
    assert_eq!(envelope["engine"], "sandbox");
    assert_eq!(envelope["metadata"], json!({"crm.user": "42"}));
    assert_eq!(envelope["environment"]["engine"], "sandbox");
    assert!(envelope["environment"]["version"].is_string());
    let payload = &envelope["payload"];
    assert_eq!(payload["name"], "hooked");
    let points: Vec<&str> = payload["statuses"]
        .as_array()
        .unwrap()
        .iter()
        .map(|point| point["status"].as_str().unwrap())
        .collect();
    assert_eq!(points, ["STARTING", "WORKING"]);
    assert_eq!(payload["data"], Value::Null);

    assert_eq!(working.header("content-type"), "application/json");
    assert_eq!(working.header("x-tenant"), "acme");
    assert_eq!(working.header("x-webhook-hmac-algorithm"), "sha512");
    assert_eq!(
        working.header("x-webhook-hmac"),
        hmac_hex("s3cret-key", &working.body)
    );
    assert_eq!(
        working.header("x-webhook-timestamp"),
        envelope["timestamp"].to_string()
    );
    assert_ne!(working.header("x-webhook-request-id"), "");
    assert_ne!(
        working.header("x-webhook-request-id"),
        deliveries[0].header("x-webhook-request-id")
    );

    // The secret stays the host's: masked in answers, never in the body.
    let (_, session) = host.get("/api/sessions/hooked");
    assert_eq!(session["config"]["webhooks"][0]["hmac"]["key"], "********");
    assert!(!working.body.contains("s3cret-key"));

    let (status, _) = host.post("/api/sessions/hooked/stop", json!({}));
    assert_eq!(status, StatusCode::OK);
    let deliveries = receiver.wait_for(3, &host);
    assert_eq!(statuses(&deliveries), ["STARTING", "WORKING", "STOPPED"]);
}

#[test]
fn contact_changes_reach_a_hook_with_the_contact_as_it_is_after_each_change() {
    let receiver = Receiver::start();
    let host = Host::start(&[engines::SANDBOX]);
    let events = [
        "contact.added",
        "contact.renamed",
        "contact.blocked",
        "contact.unblocked",
    ];
    let hook = json!({"webhooks": [{"url": receiver.url(), "events": events}]});
    host.create_session("book", "sandbox", hook);
    host.wait_for_status("book", "WORKING");

    let saved = |first: &str| json!({"firstName": first, "lastName": "Pessoa"});
    let path = "/api/book/contacts/14155550140@c.us";
    // Block and unblock by Ada's LID: the events name her by her number.
    let block = |action: &str| {
        let body = json!({"contactId": "184216350900100@lid", "session": "book"});
        host.post(&format!("/api/contacts/{action}"), body)
    };
    for (change, (status, _)) in [
        ("added", host.put(path, saved("Nova"))),
        ("renamed", host.put(path, saved("Nova"))),
        ("renamed", host.put(path, saved("Nina"))),
        ("blocked", block("block")),
        ("blocked", block("block")),
        ("unblocked", block("unblock")),
    ] {
        assert!(status.is_success(), "{change}: {status}");
    }
    let deliveries = receiver.wait_for(4, &host);
    let told: Vec<(&Value, &Value)> = deliveries
        .iter()
        .map(|d| (&d.envelope["event"], &d.envelope["payload"]["change"]))
        .collect();
    assert_eq!(
        told,
        [
            (&json!("contact.added"), &json!("added")),
            (&json!("contact.renamed"), &json!("renamed")),
            (&json!("contact.blocked"), &json!("blocked")),
            (&json!("contact.unblocked"), &json!("unblocked")),
        ],
        "one event per change, none for a save or a block that changed nothing"
    );
    let contact = |delivery: &Delivery| delivery.envelope["payload"]["contact"].clone();
    assert_eq!(contact(&deliveries[0])["name"], "Nova Pessoa");
    assert_eq!(contact(&deliveries[1])["name"], "Nina Pessoa");
    assert_eq!(contact(&deliveries[1]), host.get(path).1);
    let ada = host.get("/api/book/contacts/14155550100@c.us").1;
    assert_eq!(ada["lid"], "184216350900100@lid");
    let mut blocked_ada = ada.clone();
    blocked_ada["isBlocked"] = json!(true);
    assert_eq!(contact(&deliveries[2]), blocked_ada);
    assert_eq!(contact(&deliveries[3]), ada);
    for delivery in &deliveries {
        let envelope = &delivery.envelope;
        assert_eq!(envelope["session"], "book");
        assert_eq!(envelope["engine"], "sandbox");
        assert_eq!(
            envelope["me"]["id"],
            host.get("/api/sessions/book/me").1["id"]
        );
    }
}

#[test]
fn a_failed_status_carries_its_reason_and_a_global_hook_hears_every_session() {
    let receiver = Receiver::start();
    let host = Host::builder()
        .engines(&[engines::SANDBOX])
        .env("WHATSAPP_HOOK_URL", &receiver.url())
        .env("WHATSAPP_HOOK_EVENTS", "*")
        .start();
    let (status, body) = host.post(
        "/api/sessions",
        json!({"name": "broken", "engine": "sandbox", "config": {"fixture": "no-such-fixture.json"}}),
    );
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let session = host.wait_for_status("broken", "FAILED");
    let failed = host.eventually("a FAILED event", || {
        let deliveries = receiver.deliveries();
        deliveries
            .iter()
            .find(|d| d.envelope["payload"]["status"] == "FAILED")
            .cloned()
            .ok_or_else(|| json!(statuses(&deliveries)))
    });
    assert_eq!(failed.envelope["session"], "broken");
    assert_eq!(
        failed.envelope["payload"]["data"]["reason"],
        session["reason"]
    );
    assert!(session["reason"].is_string(), "{session}");
    assert_eq!(failed.header("x-webhook-hmac"), "");
}

#[test]
fn a_refusing_receiver_gets_each_retry_then_the_event_is_given_up_and_the_next_goes() {
    let receiver = Receiver::start();
    receiver.answer_first(3, 503);
    let host = Host::start(&[engines::SANDBOX]);
    let config = json!({"webhooks": [{
        "url": receiver.url(),
        "events": ["session.status"],
        "retries": {"delaySeconds": 0.05, "attempts": 2, "policy": "linear"}
    }]});
    host.create_session("hooked", "sandbox", config);
    // STARTING: the first try and two retries, all with one request id.
    let deliveries = receiver.wait_for(4, &host);
    let tries = &deliveries[..3];
    let ids: Vec<&str> = tries
        .iter()
        .map(|t| t.header("x-webhook-request-id"))
        .collect();
    assert!(ids.iter().all(|id| *id == ids[0]), "{ids:?}");
    assert_eq!(statuses(tries), ["STARTING"; 3]);
    host.wait_for_log("webhook delivery given up");
    // Then WORKING, in its turn, taken at its first try.
    assert_eq!(statuses(&deliveries)[3], "WORKING");
    assert_ne!(deliveries[3].header("x-webhook-request-id"), ids[0]);
}

#[test]
fn each_retry_policy_spaces_the_tries_to_a_refusing_receiver_as_it_says() {
    let policies = [
        ("constant", ["100ms", "100ms", "100ms"]),
        ("linear", ["100ms", "200ms", "300ms"]),
        ("exponential", ["200ms", "400ms", "800ms"]),
    ];
    let receivers: Vec<Receiver> = policies.iter().map(|_| Receiver::start()).collect();
    let host = Host::builder()
        .engines(&[engines::SANDBOX])
        .env("RUST_LOG", "info,wharf::events=debug")
        .start();
    let hooks: Vec<Value> = (policies.iter().zip(&receivers))
        .map(|((policy, _), receiver)| {
            // The first try and three retries of STARTING are refused.
            receiver.answer_first(4, 503);
            json!({
                "url": receiver.url(),
                "events": ["session.status"],
                "retries": {"delaySeconds": 0.1, "attempts": 3, "policy": policy}
            })
        })
        .collect();
    host.create_session("hooked", "sandbox", json!({ "webhooks": hooks }));
    for ((policy, waits), receiver) in policies.iter().zip(&receivers) {
        let deliveries = receiver.wait_for(5, &host);
        assert_eq!(
            statuses(&deliveries),
            ["STARTING", "STARTING", "STARTING", "STARTING", "WORKING"],
            "{policy}: four tries, given up, then the next event"
        );
        let port = format!(":{}/", receiver.address.port());
        let log = host.log();
        let waited: Vec<&str> = log
            .lines()
            .filter(|line| {
                line.contains("webhook delivery failed; retrying") && line.contains(&port)
            })
            .filter_map(|line| line.split("wait=").nth(1)?.split_whitespace().next())
            .collect();
        assert_eq!(waited, waits, "{policy}");
    }
}

#[test]
fn events_not_delivered_before_a_kill_9_are_delivered_after_the_restart() {
    let receiver = Receiver::start();
    receiver.answer(500);
    let mut host = Host::start(&[engines::SANDBOX]);
    let config = json!({"webhooks": [{
        "url": receiver.url(),
        "events": ["session.status"],
        "retries": {"delaySeconds": 600, "attempts": 5}
    }]});
    host.create_session("kept", "sandbox", config);
    // The first try of STARTING failed; the host now waits ten minutes.
    let first = receiver.wait_for(1, &host);
    let starting_id = first[0].header("x-webhook-request-id").to_owned();

    receiver.answer(200);
    host.crash_and_restart();
    let delivered = host.eventually("the events of before the crash", || {
        let deliveries = receiver.deliveries();
        let after_crash: Vec<Delivery> = deliveries[1..].to_vec();
        let seen = statuses(&after_crash);
        if seen.starts_with(&["STARTING".to_owned(), "WORKING".to_owned()]) {
            Ok(after_crash)
        } else {
            Err(json!(seen))
        }
    });
    assert_eq!(delivered[0].header("x-webhook-request-id"), starting_id);
    assert_eq!(delivered[0].envelope["session"], "kept");
}

#[test]
fn a_webhook_config_with_a_bad_value_is_refused_naming_the_field() {
    let host = Host::start(&[engines::SANDBOX]);
    let (status, body) = host.post(
        "/api/sessions",
        json!({"name": "bad", "config": {"webhooks": [{"url": "http://127.0.0.1:9/h", "events": ["session.statuz"]}]}}),
    );
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(body["field"], "config.webhooks[0].events[0]");
    assert_eq!(host.get("/api/sessions/bad").0, StatusCode::NOT_FOUND);
}

#[test]
fn a_bad_global_hook_variable_stops_the_host_naming_it() {
    let ran = Host::builder()
        .env("WHATSAPP_HOOK_URL", "http://127.0.0.1:9/hook")
        .env("WHATSAPP_HOOK_EVENTS", "*")
        .env("WHATSAPP_HOOK_RETRIES_POLICY", "sometimes")
        .run_to_end();
    assert_ne!(ran.code, Some(0));
    assert!(
        ran.stderr
            .contains("WHATSAPP_HOOK_RETRIES_POLICY: 'sometimes' is not a policy"),
        "{}",
        ran.stderr
    );
}

fn listen(
    host: &Host,
    query: &str,
) -> tungstenite::WebSocket<tungstenite::stream::MaybeTlsStream<std::net::TcpStream>> {
    let url = host
        .url(&format!("/ws?{query}"))
        .replacen("http://", "ws://", 1);
    let (socket, _) = tungstenite::connect(url).expect("a websocket to /ws");
    socket
}

#[test]
fn a_websocket_listener_gets_the_envelopes_webhooks_get_for_what_it_asked() {
    const KEY: &str = "ws-test-key";
    let receiver = Receiver::start();
    let host = Host::builder()
        .engines(&[engines::SANDBOX])
        .env("WHARF_API_KEY", KEY)
        .start();
    let mut everything = listen(&host, &format!("x-api-key={KEY}"));
    let mut other_session = listen(
        &host,
        &format!("session=other&events=session.status&x-api-key={KEY}"),
    );
    let hook = json!({"webhooks": [{"url": receiver.url(), "events": ["*"]}]});
    host.create_session("streamed", "sandbox", hook);
    let delivered = receiver.wait_for(2, &host);

    for webhook in &delivered[..2] {
        let frame = everything.read().expect("an event frame");
        assert_eq!(frame.into_text().unwrap().as_str(), webhook.body);
    }
    // The listener of another session heard nothing of this one.
    host.create_session("other", "sandbox", json!({}));
    let frame = other_session.read().expect("an event frame");
    let envelope: Value = serde_json::from_str(frame.into_text().unwrap().as_str()).unwrap();
    assert_eq!(envelope["session"], "other");
    assert_eq!(envelope["payload"]["status"], "STARTING");

    // Without the key the socket is closed as WAHA closes it.
    let mut stranger = listen(&host, "session=*");
    match stranger.read() {
        Ok(tungstenite::Message::Close(Some(frame))) => {
            assert_eq!(u16::from(frame.code), 1008);
            assert_eq!(frame.reason.as_str(), "Unauthorized");
        }
        other => panic!("expected a 1008 close, got {other:?}"),
    }
    let (status, body) = host.get("/ws?events=sesion.status");
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
}

#[test]
fn credentials_in_a_hook_url_never_reach_the_log() {
    let receiver = Receiver::start();
    receiver.answer(500);
    let host = Host::start(&[engines::SANDBOX]);
    let url = format!(
        "http://alice:pw-SECRET-1@{}/hook?token=tok-SECRET-2",
        receiver.address
    );
    let config = json!({"webhooks": [{
        "url": url,
        "events": ["session.status"],
        "retries": {"delaySeconds": 0, "attempts": 0}
    }]});
    host.create_session("hooked", "sandbox", config);
    let log = host.wait_for_log("webhook delivery given up");
    assert!(
        !log.contains("pw-SECRET-1") && !log.contains("tok-SECRET-2"),
        "{log}"
    );
}

#[test]
fn a_redirect_is_not_a_delivery() {
    // A receiver that answers every POST with 302 to a page that answers
    // any GET with 200, and counts the POSTs.
    let posts = Arc::new(Mutex::new(0usize));
    let counted = Arc::clone(&posts);
    let app = Router::new()
        .route(
            "/hook",
            post(move || {
                *counted.lock().unwrap() += 1;
                async { (AxumStatus::FOUND, [("location", "/landing")]) }
            }),
        )
        .route("/landing", axum::routing::get(|| async { "welcome" }));
    let (address, _stop) = serve(app);
    let host = Host::start(&[engines::SANDBOX]);
    let config = json!({"webhooks": [{
        "url": format!("http://{address}/hook"),
        "events": ["session.status"],
        "retries": {"delaySeconds": 0, "attempts": 1}
    }]});
    host.create_session("hooked", "sandbox", config);
    // STARTING and WORKING were never received: each is tried twice and
    // given up, not taken as delivered because a GET elsewhere answered 200.
    host.eventually("both events tried twice", || {
        let count = *posts.lock().unwrap();
        if count >= 4 {
            Ok(())
        } else {
            Err(json!(count))
        }
    });
}

#[test]
fn a_retry_waiting_when_its_session_is_deleted_is_never_sent() {
    let receiver = Receiver::start();
    receiver.answer(500);
    let host = Host::start(&[engines::SANDBOX]);
    let hook = json!({"webhooks": [{
        "url": receiver.url(),
        "events": ["session.status"],
        "retries": {"delaySeconds": 1, "attempts": 5, "policy": "constant"}
    }]});
    host.create_session("gone", "sandbox", hook);
    receiver.wait_for(1, &host);
    let (status, _) = host.send(host.request(Method::DELETE, "/api/sessions/gone"));
    assert_eq!(status, StatusCode::OK);
    let sent_before = receiver.deliveries().len();
    receiver.answer(200);
    host.wait_for_log("webhook delivery dropped: its session was deleted");
    let deliveries = receiver.deliveries();
    assert_eq!(
        deliveries.len(),
        sent_before,
        "nothing of a deleted session goes out after its DELETE was answered: {:?}",
        statuses(&deliveries)
    );
}

#[test]
fn deleting_a_session_takes_its_undelivered_events_with_it() {
    let receiver = Receiver::start();
    receiver.answer(500);
    // The global hook: one queue for every session, in order.
    let mut host = Host::builder()
        .engines(&[engines::SANDBOX])
        .env("WHATSAPP_HOOK_URL", &receiver.url())
        .env("WHATSAPP_HOOK_EVENTS", "session.status")
        .env("WHATSAPP_HOOK_RETRIES_DELAY_SECONDS", "600")
        .start();
    host.create_session("gone", "sandbox", json!({}));
    receiver.wait_for(1, &host);
    let (status, _) = host.send(host.request(Method::DELETE, "/api/sessions/gone"));
    assert_eq!(status, StatusCode::OK);

    receiver.answer(200);
    host.crash_and_restart();
    host.create_session("witness", "sandbox", json!({}));
    let deliveries = host.eventually("the witness's events", || {
        let deliveries = receiver.deliveries();
        let witnessed = deliveries.iter().any(|d| {
            d.envelope["session"] == "witness" && d.envelope["payload"]["status"] == "WORKING"
        });
        if witnessed {
            Ok(deliveries)
        } else {
            Err(json!(statuses(&deliveries)))
        }
    });
    let after_delete: Vec<&Value> = deliveries[1..]
        .iter()
        .map(|d| &d.envelope["session"])
        .collect();
    assert!(
        after_delete.iter().all(|session| *session == "witness"),
        "{after_delete:?}"
    );
}
