//! Delivering the outbox: one task per webhook with entries waiting, which
//! sends them in order, retries each by the hook's policy, and gives up on
//! one after its attempts with a log line.
//!
//! A task reads a few entries at a time from storage, so a receiver that
//! is down for days costs disk, not memory; and it ends when its hook has
//! nothing left, so idle hooks cost nothing. At most
//! [`MAX_CONCURRENT_SENDS`] requests are out at once, whatever the number
//! of hooks, so hooks that hang cannot take the file handles the API
//! needs. Logs name a hook by its owner and its URL with credentials
//! masked, never by its raw URL.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex, PoisonError},
    time::{Duration, SystemTime},
};

use axum::http::{HeaderName, HeaderValue, header};
use hmac::{Hmac, Mac};
use sha2::Sha512;
use tokio::sync::Semaphore;

use super::hooks::Target;
use crate::{
    metrics,
    storage::{Pending, Storage},
};

/// How long one delivery may take before it counts as failed.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// How many entries a hook's task reads from storage at a time.
const BATCH: usize = 32;

/// Requests out at once, across all hooks: each holds a connection, and a
/// receiver that hangs holds it for [`REQUEST_TIMEOUT`].
const MAX_CONCURRENT_SENDS: usize = 128;

/// How long a task waits before reading the outbox again after storage
/// failed.
const STORAGE_RETRY: Duration = Duration::from_secs(1);

/// The deliveries of every hook.
pub(super) struct Deliveries {
    storage: Storage,
    client: reqwest::Client,
    sending: Semaphore,
    /// The hooks whose task runs; `true` when entries were added since the
    /// task last read the outbox.
    running: Mutex<HashMap<String, bool>>,
}

/// Why a delivery did not take.
struct Failed {
    why: String,
    /// What the receiver asked for with `Retry-After`.
    retry_after: Option<Duration>,
}

impl Deliveries {
    pub(super) fn new(storage: Storage) -> Arc<Self> {
        let client = reqwest::Client::builder()
            .timeout(REQUEST_TIMEOUT)
            // A redirect is not a delivery: following one would post the
            // event, its signature and the hook's headers somewhere else,
            // or take a GET's 200 for it.
            .redirect(reqwest::redirect::Policy::none())
            .pool_max_idle_per_host(2)
            .user_agent(concat!("wharf/", env!("CARGO_PKG_VERSION")))
            .build()
            .unwrap_or_default();
        Arc::new(Self {
            storage,
            client,
            sending: Semaphore::new(MAX_CONCURRENT_SENDS),
            running: Mutex::default(),
        })
    }

    /// Starts delivering what an earlier run of the host left undelivered.
    pub(super) async fn resume(self: &Arc<Self>) {
        match self.storage.outbox_hooks().await {
            Ok(hooks) => {
                if !hooks.is_empty() {
                    tracing::info!(hooks = hooks.len(), "delivering events left in the outbox");
                }
                hooks.iter().for_each(|hook| self.wake(hook));
            }
            Err(err) => {
                tracing::error!(%err, "cannot read the outbox; its events wait for the next one")
            }
        }
    }

    /// Makes sure `hook`'s task runs and sees the entries just stored.
    pub(super) fn wake(self: &Arc<Self>, hook: &str) {
        let mut running = self.running.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(added) = running.get_mut(hook) {
            *added = true;
            return;
        }
        running.insert(hook.to_owned(), false);
        tokio::spawn(Arc::clone(self).deliver_all(hook.to_owned()));
    }

    /// Delivers `hook`'s entries in order until none is left.
    async fn deliver_all(self: Arc<Self>, hook: String) {
        loop {
            self.set_added(&hook, false);
            let pending = match self.storage.pending(&hook, BATCH).await {
                Ok(pending) => pending,
                Err(err) => {
                    tracing::error!(hook, %err, "cannot read the outbox");
                    tokio::time::sleep(STORAGE_RETRY).await;
                    continue;
                }
            };
            if pending.is_empty() && self.finished(&hook) {
                return;
            }
            for entry in pending {
                self.deliver(&hook, entry).await;
            }
        }
    }

    fn set_added(&self, hook: &str, added: bool) {
        let mut running = self.running.lock().unwrap_or_else(PoisonError::into_inner);
        running.insert(hook.to_owned(), added);
    }

    /// Ends `hook`'s task, unless entries were added since it last read.
    fn finished(&self, hook: &str) -> bool {
        let mut running = self.running.lock().unwrap_or_else(PoisonError::into_inner);
        if running.get(hook).copied().unwrap_or(false) {
            return false;
        }
        running.remove(hook);
        true
    }

    /// Sends one entry until it takes or its retries run out, then takes
    /// it out of the outbox. Each failed try is stored, so a restart goes
    /// on counting.
    async fn deliver(&self, hook: &str, entry: Pending) {
        let target: Target = match serde_json::from_str(&entry.target) {
            Ok(target) => target,
            Err(err) => {
                tracing::error!(hook, %err, "an outbox entry names a webhook this host cannot read; dropped");
                self.remove(hook, entry.seq).await;
                return;
            }
        };
        let mut tries = entry.tries;
        loop {
            // The entry was read with others, or waited for its retry: its
            // session may have been deleted since, and its events with it.
            // A DELETE answered means nothing more of the session goes out.
            match self.storage.is_queued(entry.seq).await {
                Ok(true) => {}
                Ok(false) => return dropped(hook, &entry),
                Err(err) => tracing::error!(hook, %err, "cannot read the outbox"),
            }
            let Err(failed) = self.send(&target, &entry).await else {
                metrics::webhook(metrics::Delivery::Delivered);
                self.remove(hook, entry.seq).await;
                return;
            };
            tries += 1;
            if tries > target.retries.attempts {
                metrics::webhook(metrics::Delivery::GivenUp);
                tracing::warn!(
                    hook,
                    request_id = entry.request_id,
                    tries,
                    why = failed.why,
                    "webhook delivery given up"
                );
                self.remove(hook, entry.seq).await;
                return;
            }
            metrics::webhook(metrics::Delivery::Retried);
            match self.storage.record_try(entry.seq, tries).await {
                Ok(true) => {}
                Ok(false) => return dropped(hook, &entry),
                Err(err) => tracing::error!(hook, %err, "cannot record a delivery try"),
            }
            let wait = target.retries.delay(tries, failed.retry_after);
            tracing::debug!(
                hook,
                tries,
                why = failed.why,
                ?wait,
                "webhook delivery failed; retrying"
            );
            tokio::time::sleep(wait).await;
        }
    }

    async fn remove(&self, hook: &str, seq: i64) {
        if let Err(err) = self.storage.delivered(seq).await {
            tracing::error!(hook, %err, "cannot take a delivered event out of the outbox; it may be sent again");
        }
    }

    async fn send(&self, target: &Target, entry: &Pending) -> Result<(), Failed> {
        // Never closed, so a permit always comes.
        let _sending = self.sending.acquire().await;
        let mut request = self
            .client
            .post(&target.url)
            .header(header::CONTENT_TYPE, "application/json")
            .header("X-Webhook-Request-Id", &entry.request_id)
            .header("X-Webhook-Timestamp", entry.timestamp.to_string());
        for (name, value) in &target.headers {
            if let (Ok(name), Ok(value)) = (
                HeaderName::from_bytes(name.as_bytes()),
                HeaderValue::from_str(value),
            ) {
                request = request.header(name, value);
            }
        }
        if let Some(key) = &target.hmac_key {
            request = request
                .header("X-Webhook-Hmac", signature(key, &entry.body))
                .header("X-Webhook-Hmac-Algorithm", "sha512");
        }
        let response = request
            .body(entry.body.clone())
            .send()
            .await
            .map_err(|err| Failed {
                why: without_url(&err),
                retry_after: None,
            })?;
        let status = response.status();
        if status.is_success() {
            return Ok(());
        }
        let retry_after = response
            .headers()
            .get(header::RETRY_AFTER)
            .and_then(|value| retry_after(value.to_str().ok()?, SystemTime::now()));
        Err(Failed {
            why: format!("the receiver answered {status}"),
            retry_after,
        })
    }
}

/// What a `Retry-After` header asks for: seconds, or an HTTP date (a date
/// already past asks for no wait).
fn retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    let value = value.trim();
    match value.parse() {
        Ok(seconds) => Some(Duration::from_secs(seconds)),
        Err(_) => {
            let at = httpdate::parse_http_date(value).ok()?;
            Some(at.duration_since(now).unwrap_or_default())
        }
    }
}

/// A transport error without the URL, which may hold credentials.
fn without_url(err: &reqwest::Error) -> String {
    let kind = if err.is_timeout() {
        "timed out"
    } else if err.is_connect() {
        "cannot connect"
    } else {
        "the request failed"
    };
    let mut source = std::error::Error::source(err);
    let mut detail = String::new();
    while let Some(cause) = source {
        detail = cause.to_string();
        source = cause.source();
    }
    if detail.is_empty() {
        kind.to_owned()
    } else {
        format!("{kind}: {detail}")
    }
}

/// WAHA's signature: HMAC-SHA512 of the body with the hook's key, in hex.
fn signature(key: &str, body: &str) -> String {
    let mut mac =
        Hmac::<Sha512>::new_from_slice(key.as_bytes()).expect("HMAC takes any key length");
    mac.update(body.as_bytes());
    hex::encode(mac.finalize().into_bytes())
}

/// Logs that `entry` is not sent again: it left the outbox with its
/// session.
fn dropped(hook: &str, entry: &Pending) {
    tracing::info!(
        hook,
        request_id = entry.request_id,
        "webhook delivery dropped: its session was deleted"
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_takes_seconds_or_a_date() {
        let now = httpdate::parse_http_date("Thu, 03 Dec 2026 18:00:00 GMT").unwrap();
        assert_eq!(retry_after(" 120 ", now), Some(Duration::from_secs(120)));
        assert_eq!(
            retry_after("Thu, 03 Dec 2026 18:01:30 GMT", now),
            Some(Duration::from_secs(90))
        );
        assert_eq!(
            retry_after("Thu, 03 Dec 2026 17:00:00 GMT", now),
            Some(Duration::ZERO)
        );
        assert_eq!(retry_after("-5", now), None);
        assert_eq!(retry_after("soon", now), None);
    }

    #[test]
    fn the_signature_is_wahas() {
        // The example of WAHA's webhook documentation.
        assert_eq!(
            signature(
                "my-secret-key",
                r#"{"event":"message","session":"default","engine":"WEBJS"}"#
            ),
            "208f8a55dde9e05519e898b10b89bf0d0b3b0fdf11fdbf09b6b90476301b98d8097c462b2b17a6ce93b6b47a136cf2e78a33a63f6752c2c1631777076153fa89"
        );
    }
}
