//! The contact events check (ABI 2.2): each write conformance made to its
//! own contact is told once, as the change it made, and the last event
//! carries the contact as `contacts.get` shows it now.

use serde_json::Value;
use tokio::{
    sync::broadcast::error::{RecvError, TryRecvError},
    time::{Instant, timeout_at},
};

use super::{GET, Report, Writes};
use crate::{events::names::contact_event, tools::conformance::Checker};

const CHECK: &str = "contact events";

/// The contract version whose engines tell the host of contact changes.
const CONTACT_EVENTS_SINCE: semver::Version = semver::Version::new(2, 2, 0);

/// A `contact.*` event as a listener hears it: its name and the contact.
struct Heard {
    name: String,
    contact: Value,
}

impl Checker {
    pub(super) async fn check_contact_events(&self, report: &mut Report, writes: &Writes) {
        if !self.built_knowing(&CONTACT_EVENTS_SINCE) {
            report.skip(
                CHECK,
                format!(
                    "the engine was built against ABI {}, before engines told the host of \
                     contact changes ({CONTACT_EVENTS_SINCE})",
                    self.engine.manifest().abi_version
                ),
            );
            return;
        }
        let expected: Vec<&str> = (writes.changes.iter())
            .filter_map(|change| contact_event(*change))
            .collect();
        let heard = self.hear_about(&writes.own, expected.len()).await;
        let names: Vec<&str> = heard.iter().map(|event| event.name.as_str()).collect();
        let own = &writes.own;
        if names.is_empty() {
            report.note(format!(
                "the engine told no contact event for the writes to {own} ({}): integrations \
                 that follow contact.* events hear nothing of what REST users change",
                expected.join(", ")
            ));
            return;
        }
        if names != expected {
            report.fail(
                CHECK,
                format!(
                    "the writes to {own} made {}, each to be told once, in order; the engine \
                     told {}",
                    expected.join(", "),
                    names.join(", ")
                ),
            );
            return;
        }
        let outcome = match heard.last() {
            Some(last) if self.supports(GET) => self.agrees_with_get(own, &last.contact).await,
            _ => Ok(()),
        };
        report.outcome(
            CHECK,
            outcome.map(|()| {
                format!(
                    "told {} for {own}, in order, the last with the contact as contacts.get \
                     shows it",
                    names.join(", ")
                )
            }),
        );
    }

    /// The `contact.*` events about `id` told since the last call: those
    /// reported so far, and, while fewer than `expected` came, those
    /// reported until the deadline (an engine may tell after it answers).
    async fn hear_about(&self, id: &str, expected: usize) -> Vec<Heard> {
        self.events.flush(self.deadline).await;
        let until = Instant::now() + self.deadline;
        let mut told = self.told.lock().await;
        let mut heard = Vec::new();
        loop {
            let event = match told.try_recv() {
                Ok(event) => event,
                Err(TryRecvError::Empty) if heard.len() < expected => {
                    match timeout_at(until, told.recv()).await {
                        Ok(Ok(event)) => event,
                        Ok(Err(RecvError::Lagged(_))) => continue,
                        Ok(Err(RecvError::Closed)) | Err(_) => return heard,
                    }
                }
                Err(TryRecvError::Lagged(_)) => continue,
                Err(TryRecvError::Empty | TryRecvError::Closed) => return heard,
            };
            if !event.name.starts_with("contact.") {
                continue;
            }
            let Ok(mut envelope) = serde_json::from_str::<Value>(&event.body) else {
                continue;
            };
            let contact = envelope["payload"]["contact"].take();
            if contact["id"] == id {
                heard.push(Heard {
                    name: event.name.to_owned(),
                    contact,
                });
            }
        }
    }

    /// Whether `told`, the contact the last event carried, is the one
    /// `contacts.get` answers for `id` now.
    async fn agrees_with_get(&self, id: &str, told: &Value) -> Result<(), String> {
        let now = match self.call(GET, |s| s.get_contact(id.into())).await? {
            Ok(contact) => serde_json::to_value(&contact).map_err(|err| err.to_string())?,
            Err(err) => return Err(format!("contacts.get {id} answers: {err}")),
        };
        if now == *told {
            Ok(())
        } else {
            Err(format!(
                "the last event told {id} as {told}, but contacts.get shows {now}"
            ))
        }
    }
}
