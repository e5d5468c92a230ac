//! Events out: what happens to a session, told to the webhooks that asked
//! for it, in WAHA's envelope.
//!
//! An event goes into a durable outbox in the host's storage, one entry
//! per webhook that wants it, before any receiver is told ([`Events`]);
//! each webhook then gets its entries in order, retried by its policy
//! ([`delivery`]), also after a restart. Whoever reports an event (an
//! engine's thread, a lifecycle call) only hands it to a channel: a slow or
//! dead receiver holds up nothing but its own deliveries.
//!
//! The same envelopes go to websocket listeners ([`Events::subscribe`]) once
//! they are in the outbox.

mod delivery;
mod docs;
pub mod hooks;
pub mod names;
pub mod payloads;

use std::{
    sync::Arc,
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use serde::Serialize;
use serde_json::{Map, Value};
use tokio::sync::{broadcast, mpsc, oneshot};

use self::{delivery::Deliveries, hooks::Webhook};
use crate::{
    secrets,
    storage::{OutboxEntry, Storage, StorageError},
};

pub use docs::webhooks as openapi_webhooks;
pub use hooks::{Refused, SessionHooks, engine_config, session_hooks};

/// Events reported, on their way to the outbox.
enum Message {
    Event(Box<Occurred>),
    /// Answered once every event sent before it is in the outbox.
    Flush(oneshot::Sender<()>),
    /// Takes the session's events out of the outbox, those sent before
    /// this included; answered once done.
    Forget(String, oneshot::Sender<Result<(), StorageError>>),
}

/// One event and the session hooks that may want it.
struct Occurred {
    session: String,
    name: &'static str,
    /// The envelope, as every receiver gets it.
    body: String,
    timestamp: u64,
    hooks: Arc<[Webhook]>,
}

/// An event as listeners get it.
#[derive(Debug)]
pub struct Told {
    pub session: String,
    pub name: &'static str,
    /// The envelope, as webhooks get it.
    pub body: String,
}

/// How many events a listener may fall behind before it is dropped.
const LISTENER_BACKLOG: usize = 1024;

/// What a session's events carry besides their payload.
#[derive(Debug, Clone, Default)]
pub struct Source {
    pub session: String,
    pub engine: String,
    pub metadata: Option<Map<String, Value>>,
    pub hooks: Arc<[Webhook]>,
}

/// WAHA's envelope, its fields in WAHA's order.
#[derive(Serialize)]
struct Envelope<'a, Me: Serialize, Payload: Serialize> {
    id: String,
    timestamp: u64,
    event: &'a str,
    session: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    metadata: Option<&'a Map<String, Value>>,
    me: Option<Me>,
    payload: Payload,
    engine: &'a str,
    environment: Environment<'a>,
}

/// What the host is, in every envelope (WAHA's `environment`).
#[derive(Serialize, utoipa::ToSchema)]
#[schema(as = EventEnvironment)]
struct Environment<'a> {
    /// This host's version.
    #[schema(example = "0.1.0")]
    version: &'static str,
    /// The session's engine.
    #[schema(example = "sandbox")]
    engine: &'a str,
    #[schema(example = "CORE")]
    tier: &'static str,
    /// Always `null`: no engine here drives a browser the host knows of.
    browser: Option<&'static str>,
    #[schema(example = "linux/x86_64")]
    platform: String,
    worker: Worker,
}

/// WAHA's worker; `id` is always `null` here.
#[derive(Serialize, utoipa::ToSchema)]
#[schema(as = EventWorker)]
struct Worker {
    id: Option<String>,
}

/// The envelope of an event of `source`.
fn envelope<'a, Me: Serialize, Payload: Serialize>(
    source: &'a Source,
    name: &'a str,
    timestamp: u64,
    me: Option<Me>,
    payload: Payload,
) -> Envelope<'a, Me, Payload> {
    Envelope {
        id: new_id("evt"),
        timestamp,
        event: name,
        session: &source.session,
        metadata: source.metadata.as_ref(),
        me,
        payload,
        engine: &source.engine,
        environment: Environment {
            version: env!("CARGO_PKG_VERSION"),
            engine: &source.engine,
            tier: "CORE",
            browser: None,
            platform: format!("{}/{}", std::env::consts::OS, std::env::consts::ARCH),
            worker: Worker { id: None },
        },
    }
}

/// Milliseconds since the Unix epoch, as WAHA stamps events.
pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |since| since.as_millis() as u64)
}

/// A new id with `prefix`, as WAHA makes them: `evt_` and a lower-case ULID.
fn new_id(prefix: &str) -> String {
    format!("{prefix}_{}", ulid::Ulid::new().to_string().to_lowercase())
}

/// Where the host's events go.
pub struct Events {
    sender: mpsc::UnboundedSender<Message>,
    /// Whether a global hook hears every session.
    global: bool,
    listeners: broadcast::Sender<Arc<Told>>,
}

impl Events {
    /// Starts the outbox writer and the deliveries of what is already in
    /// the outbox, on the current tokio runtime. `global` is the hook of
    /// WAHA's `WHATSAPP_HOOK_*` variables, which every session's events
    /// reach besides its own hooks.
    pub async fn start(storage: Storage, global: Option<Webhook>) -> Arc<Self> {
        let deliveries = Deliveries::new(storage.clone());
        deliveries.resume().await;
        let (sender, receiver) = mpsc::unbounded_channel();
        let has_global = global.is_some();
        let (listeners, _) = broadcast::channel(LISTENER_BACKLOG);
        let outbox = Outbox {
            storage,
            global,
            deliveries,
            listeners: listeners.clone(),
        };
        tokio::spawn(outbox.write(receiver));
        Arc::new(Self {
            sender,
            global: has_global,
            listeners,
        })
    }

    /// Every event from now on, once it is in the outbox. A listener that
    /// falls [`LISTENER_BACKLOG`] events behind is told it lagged.
    pub fn subscribe(&self) -> broadcast::Receiver<Arc<Told>> {
        self.listeners.subscribe()
    }

    /// Reports an event of `source`. Never blocks: callable from an
    /// engine's threads, under locks.
    pub fn publish<Me: Serialize>(
        &self,
        source: &Source,
        name: &'static str,
        timestamp: u64,
        me: Option<Me>,
        payload: impl Serialize,
    ) {
        // Ten thousand sessions starting with no one listening write no
        // envelopes.
        if source.hooks.is_empty() && !self.global && self.listeners.receiver_count() == 0 {
            return;
        }
        let body = match serde_json::to_string(&envelope(source, name, timestamp, me, payload)) {
            Ok(body) => body,
            Err(err) => {
                tracing::error!(session = source.session, event = name, %err, "cannot write the event");
                return;
            }
        };
        let occurred = Occurred {
            session: source.session.clone(),
            name,
            body,
            timestamp,
            hooks: Arc::clone(&source.hooks),
        };
        // Only fails once the writer is gone, when the host is stopping.
        let _ = self.sender.send(Message::Event(Box::new(occurred)));
    }

    /// Takes the events of `session` out of the outbox undelivered, those
    /// reported until now included: for a session deleted with its data.
    pub async fn forget(&self, session: &str) -> Result<(), StorageError> {
        let (done, forgotten) = oneshot::channel();
        let stopped = || StorageError::from("the host is stopping".to_owned());
        self.sender
            .send(Message::Forget(session.to_owned(), done))
            .map_err(|_| stopped())?;
        forgotten.await.map_err(|_| stopped())?
    }

    /// Waits, up to `patience`, until every event reported so far is in the
    /// outbox: for a host about to stop.
    pub async fn flush(&self, patience: Duration) {
        let (done, flushed) = oneshot::channel();
        if self.sender.send(Message::Flush(done)).is_ok()
            && tokio::time::timeout(patience, flushed).await.is_err()
        {
            tracing::warn!("events not yet in the outbox at shutdown may be lost");
        }
    }
}

/// How many events go into the outbox in one transaction at most.
const MAX_BATCH: usize = 256;

/// Where reported events go: the outbox, the deliveries it wakes, and the
/// listeners.
struct Outbox {
    storage: Storage,
    global: Option<Webhook>,
    deliveries: Arc<Deliveries>,
    listeners: broadcast::Sender<Arc<Told>>,
}

impl Outbox {
    /// Takes reported events, puts an entry per hook that wants each into
    /// the outbox, then wakes those hooks' deliveries and tells the
    /// listeners.
    async fn write(self, mut receiver: mpsc::UnboundedReceiver<Message>) {
        let mut batch = Vec::new();
        while receiver.recv_many(&mut batch, MAX_BATCH).await > 0 {
            let mut occurred = Vec::new();
            let mut flushed = Vec::new();
            let mut forgotten = Vec::new();
            for message in batch.drain(..) {
                match message {
                    Message::Event(event) => occurred.push(*event),
                    Message::Flush(done) => flushed.push(done),
                    Message::Forget(session, done) => forgotten.push((session, done)),
                }
            }
            let entries: Vec<OutboxEntry> = occurred
                .iter()
                .flat_map(|event| outbox_entries(event, self.global.as_ref()))
                .collect();
            if !entries.is_empty() {
                let hooks: Vec<String> = entries.iter().map(|entry| entry.hook.clone()).collect();
                match self.storage.enqueue(entries).await {
                    Ok(()) => hooks.iter().for_each(|hook| self.deliveries.wake(hook)),
                    Err(err) => {
                        tracing::error!(%err, "cannot store events in the outbox; their webhooks miss them");
                    }
                }
            }
            for event in occurred {
                // Fails only when no one listens.
                let _ = self.listeners.send(Arc::new(Told {
                    session: event.session,
                    name: event.name,
                    body: event.body,
                }));
            }
            for done in flushed {
                let _ = done.send(());
            }
            for (session, done) in forgotten {
                let _ = done.send(self.storage.forget_events(&session).await);
            }
        }
    }
}

/// The outbox entries of one event: one per hook that wants it, the
/// session's hooks first, then the global one.
fn outbox_entries(occurred: &Occurred, global: Option<&Webhook>) -> Vec<OutboxEntry> {
    let session_hooks = occurred
        .hooks
        .iter()
        .map(|hook| (occurred.session.as_str(), hook));
    session_hooks
        .chain(global.map(|hook| ("*", hook)))
        .filter(|(_, hook)| hook.events.matches(occurred.name))
        .filter_map(|(owner, hook)| {
            let target = match serde_json::to_string(&hook.target) {
                Ok(target) => target,
                Err(err) => {
                    tracing::error!(%err, "cannot store a webhook target");
                    return None;
                }
            };
            Some(OutboxEntry {
                // A session's name has no spaces and is never `*`; the key
                // is logged, so its URL is masked (two URLs that differ
                // only in secrets share one queue, still in order).
                hook: format!("{owner} {}", secrets::url_for_logs(&hook.target.url)),
                session: occurred.session.clone(),
                target,
                request_id: new_id("req"),
                timestamp: occurred.timestamp,
                body: occurred.body.clone(),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use super::*;

    #[test]
    fn an_envelope_has_the_fields_the_document_lists_in_their_order() {
        let source = Source {
            session: "s".into(),
            engine: "sandbox".into(),
            metadata: json!({"k": "v"}).as_object().cloned(),
            hooks: Arc::from([]),
        };
        let body = serde_json::to_string(&envelope(
            &source,
            "session.status",
            1,
            None::<()>,
            json!({}),
        ))
        .unwrap();
        let fields: Vec<String> = serde_json::from_str::<serde_json::Map<String, Value>>(&body)
            .unwrap()
            .keys()
            .cloned()
            .collect();
        let mut documented: Vec<&str> = docs::ENVELOPE_FIELDS.to_vec();
        // serde_json's map sorts keys; the body itself keeps WAHA's order.
        documented.sort_unstable();
        assert_eq!(fields, documented);
        let positions: Vec<usize> = docs::ENVELOPE_FIELDS
            .iter()
            .map(|field| body.find(&format!("\"{field}\":")).unwrap())
            .collect();
        assert!(positions.is_sorted(), "{body}");
        let id = body.split('"').nth(3).unwrap();
        assert!(
            id.starts_with("evt_") && id.len() == 30 && id == id.to_lowercase(),
            "{id}"
        );
    }
}
