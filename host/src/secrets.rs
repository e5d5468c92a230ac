//! Secrets in session configs (access tokens, passwords, keys, header
//! values, credentials inside URLs) never leave the host: every session
//! answer shows them masked, text an engine produces is scrubbed of them
//! before it is logged or answered, and a config sent back with a masked
//! value keeps the stored secret, so a client can GET a session and PUT it
//! back.
//!
//! The host cannot know what each engine does with each config value, so
//! one rule covers every shape, whatever the engine:
//!
//! - a value under a key that names a secret (`accessToken`, `api_key`,
//!   `password`, `clientSecret`, a webhook HMAC `key`, …) is hidden whole,
//!   whatever its type: a string, a number, an array or an object;
//! - inside a `…headers` value (WAHA's `customHeaders: [{name, value}]`, or
//!   a map of header names to values) every value but a header's `name` is
//!   hidden;
//! - in a URL, the user name, the password and the values of query
//!   parameters that name a secret (`?token=…`) are hidden.
//!
//! A stored secret is kept only for a config that sends it nowhere new: a
//! config that keeps a masked secret and changes any other value is
//! refused, naming the value, because the host cannot tell which values
//! decide where an engine sends its secrets (a URL, a host, a phone number
//! id). Sending the secret again in clear allows every change.

use serde_json::{Map, Value};

/// What a secret looks like in answers.
pub(crate) const MASK: &str = "********";

/// Shorter values are not treated as secrets when scrubbing text: hiding
/// every `1` or `on` in a log line would hide the line, not a secret.
const MIN_SCRUBBED_LEN: usize = 4;

/// Whether a config key names a secret.
fn is_secret(key: &str) -> bool {
    let key = key.to_ascii_lowercase().replace(['_', '-', '.'], "");
    matches!(key.as_str(), "key" | "pass" | "auth" | "sig" | "signature")
        || [
            "token",
            "secret",
            "password",
            "passwd",
            "passphrase",
            "apikey",
            "privatekey",
            "credential",
            "authorization",
            "cookie",
        ]
        .iter()
        .any(|word| key.contains(word))
}

/// Whether a key holds HTTP headers, whose values are credentials as often
/// as not (`Authorization`, `X-Api-Key`, …).
fn holds_headers(key: &str) -> bool {
    key.to_ascii_lowercase().ends_with("headers")
}

/// Where in a config a walk is: what hides a value depends on it.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Place {
    Plain,
    /// Inside a `…headers` value: everything but a header's name is secret.
    Headers,
}

impl Place {
    /// The place of the value under `key`, and whether that value is
    /// hidden whole.
    fn enter(self, key: &str) -> (Place, bool) {
        match self {
            Place::Headers => (Place::Headers, key != "name"),
            Place::Plain if is_secret(key) => (Place::Plain, true),
            Place::Plain if holds_headers(key) => (Place::Headers, false),
            Place::Plain => (Place::Plain, false),
        }
    }
}

/// `config` with every secret replaced by [`MASK`], at any depth.
pub(crate) fn masked(config: &Value) -> Value {
    mask_value(config, Place::Plain, false)
}

fn mask_value(value: &Value, place: Place, hidden: bool) -> Value {
    match value {
        Value::Null => Value::Null,
        _ if hidden => Value::String(MASK.into()),
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(key, value)| {
                    let (place, hidden) = place.enter(key);
                    (key.clone(), mask_value(value, place, hidden))
                })
                .collect(),
        ),
        Value::Array(items) => Value::Array(
            items
                .iter()
                .map(|item| mask_value(item, place, place == Place::Headers && !item.is_object()))
                .collect(),
        ),
        Value::String(text) => Value::String(masked_url(text).unwrap_or_else(|| text.clone())),
        other => other.clone(),
    }
}

/// A URL as logs may show it: credentials and secret query values masked.
pub(crate) fn url_for_logs(url: &str) -> String {
    masked_url(url).unwrap_or_else(|| url.to_owned())
}

/// `text` with its URL credentials masked, when it is a URL that has some.
fn masked_url(text: &str) -> Option<String> {
    if !text.contains("://") {
        return None;
    }
    let mut url = url::Url::parse(text).ok()?;
    let mut changed = false;
    if !url.username().is_empty() || url.password().is_some() {
        changed |= url.set_username(MASK).is_ok();
        if url.password().is_some() {
            changed |= url.set_password(Some(MASK)).is_ok();
        }
    }
    if url.query_pairs().any(|(name, _)| is_secret(&name)) {
        let pairs: Vec<(String, String)> = url
            .query_pairs()
            .map(|(name, value)| {
                let value = if is_secret(&name) {
                    MASK.to_owned()
                } else {
                    value.into_owned()
                };
                (name.into_owned(), value)
            })
            .collect();
        url.query_pairs_mut().clear().extend_pairs(pairs);
        changed = true;
    }
    changed.then(|| url.into())
}

/// The parts of a URL that [`masked_url`] hides, for scrubbing text.
fn url_secrets(text: &str, into: &mut Vec<String>) {
    if !text.contains("://") {
        return;
    }
    let Ok(url) = url::Url::parse(text) else {
        return;
    };
    into.push(url.username().to_owned());
    if let Some(password) = url.password() {
        into.push(password.to_owned());
    }
    for (name, value) in url.query_pairs() {
        if is_secret(&name) {
            into.push(value.into_owned());
        }
    }
}

/// A config refused because it keeps a stored secret while changing where
/// it may be sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct KeptSecretMoved {
    /// The masked secret the config keeps, as a path (`accessToken`).
    pub secret: String,
    /// The first other value the config changes (`graphApiUrl`).
    pub changed: String,
}

impl KeptSecretMoved {
    /// What a client is told, next to the field that changed.
    pub(crate) fn message(&self) -> String {
        format!(
            "this change keeps the stored secret config.{secret} (sent masked) while changing \
             config.{changed}; send config.{secret} again in clear to change other values, \
             since a stored secret is never sent anywhere new",
            secret = self.secret,
            changed = self.changed,
        )
    }
}

/// `new` with every masked secret replaced by the stored value at the same
/// place in `stored`, unless `new` also changes any other value.
pub(crate) fn unmasked(new: Value, stored: &Value) -> Result<Value, KeptSecretMoved> {
    let mut kept = Vec::new();
    let config = unmask_value(new, Some(stored), Place::Plain, false, "", &mut kept);
    match kept.first() {
        Some(secret) => match first_difference(&config, stored, "") {
            Some(changed) => Err(KeptSecretMoved {
                secret: secret.clone(),
                changed,
            }),
            None => Ok(config),
        },
        None => Ok(config),
    }
}

fn unmask_value(
    new: Value,
    stored: Option<&Value>,
    place: Place,
    hidden: bool,
    path: &str,
    kept: &mut Vec<String>,
) -> Value {
    match (new, stored) {
        (Value::String(text), Some(previous)) if hidden && text == MASK => {
            kept.push(path.to_owned());
            previous.clone()
        }
        (Value::String(text), Some(Value::String(previous)))
            if masked_url(previous).as_deref() == Some(text.as_str()) =>
        {
            kept.push(path.to_owned());
            Value::String(previous.clone())
        }
        (Value::Object(map), stored) => {
            let old = stored.and_then(Value::as_object);
            Value::Object(
                map.into_iter()
                    .map(|(key, value)| {
                        let (place, hidden) = place.enter(&key);
                        let previous = old.and_then(|old| old.get(&key));
                        let path = join(path, &key);
                        let value = unmask_value(value, previous, place, hidden, &path, kept);
                        (key, value)
                    })
                    .collect::<Map<_, _>>(),
            )
        }
        (Value::Array(items), stored) => {
            let old = stored.and_then(Value::as_array);
            Value::Array(
                items
                    .into_iter()
                    .enumerate()
                    .map(|(index, item)| {
                        let hidden = place == Place::Headers && !item.is_object();
                        let previous = old.and_then(|old| old.get(index));
                        let path = format!("{path}[{index}]");
                        unmask_value(item, previous, place, hidden, &path, kept)
                    })
                    .collect(),
            )
        }
        (new, _) => new,
    }
}

fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_owned()
    } else {
        format!("{path}.{key}")
    }
}

/// The path of the first value that differs between two configs.
fn first_difference(a: &Value, b: &Value, path: &str) -> Option<String> {
    match (a, b) {
        (Value::Object(a), Value::Object(b)) => a
            .keys()
            .chain(b.keys().filter(|key| !a.contains_key(*key)))
            .find_map(|key| match (a.get(key), b.get(key)) {
                (Some(x), Some(y)) => first_difference(x, y, &join(path, key)),
                _ => Some(join(path, key)),
            }),
        (Value::Array(a), Value::Array(b)) => (0..a.len().max(b.len())).find_map(|index| {
            let path = format!("{path}[{index}]");
            match (a.get(index), b.get(index)) {
                (Some(x), Some(y)) => first_difference(x, y, &path),
                _ => Some(path),
            }
        }),
        (a, b) if a == b => None,
        _ => Some(if path.is_empty() {
            "config".into()
        } else {
            path.into()
        }),
    }
}

/// Hides a config's secrets in text the host did not write: an engine's
/// log lines, status reasons and error messages, which may quote a config
/// value (a parse error that shows the token it could not read).
#[derive(Debug, Clone, Default)]
pub(crate) struct Scrubber {
    /// Longest first, so a secret that contains another is hidden whole.
    secrets: Vec<String>,
}

impl Scrubber {
    /// A scrubber for the secrets of `config`, as [`masked`] finds them.
    pub(crate) fn for_config(config: &Value) -> Self {
        let mut secrets = Vec::new();
        collect_secrets(config, Place::Plain, false, &mut secrets);
        secrets.retain(|secret| secret.chars().count() >= MIN_SCRUBBED_LEN && secret != MASK);
        secrets.sort_by_key(|secret| std::cmp::Reverse(secret.len()));
        secrets.dedup();
        Self { secrets }
    }

    /// `text` with every secret replaced by [`MASK`].
    pub(crate) fn scrub(&self, text: &str) -> String {
        self.secrets
            .iter()
            .fold(text.to_owned(), |text, secret| text.replace(secret, MASK))
    }
}

fn collect_secrets(value: &Value, place: Place, hidden: bool, into: &mut Vec<String>) {
    match value {
        Value::Object(map) => {
            for (key, value) in map {
                let (place, hidden_here) = place.enter(key);
                collect_secrets(value, place, hidden || hidden_here, into);
            }
        }
        Value::Array(items) => {
            for item in items {
                let hidden_here = place == Place::Headers && !item.is_object();
                collect_secrets(item, place, hidden || hidden_here, into);
            }
        }
        Value::String(text) if hidden => into.push(text.clone()),
        Value::String(text) => url_secrets(text, into),
        Value::Number(number) if hidden => into.push(number.to_string()),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn secrets_are_masked_at_any_depth_and_other_values_are_not() {
        let config = json!({
            "accessToken": "EAAG-real",
            "phoneNumberId": "1065",
            "proxy": {"password": "p", "server": "proxy:3128"},
            "webhooks": [{"url": "http://x", "hmac": {"key": "k"}, "api_key": "a"}],
            "tokenCount": 3,
            "none": null
        });
        assert_eq!(
            masked(&config),
            json!({
                "accessToken": MASK,
                "phoneNumberId": "1065",
                "proxy": {"password": MASK, "server": "proxy:3128"},
                "webhooks": [{"url": "http://x", "hmac": {"key": MASK}, "api_key": MASK}],
                "tokenCount": MASK,
                "none": null
            })
        );
    }

    #[test]
    fn secrets_of_every_shape_are_masked() {
        let config = json!({
            "accessToken": 1234567890,
            "credentials": {"user": "u", "pass": "p"},
            "apiKeys": ["k1", "k2"],
            "webhooks": [{
                "url": "https://hooks.example/in",
                "customHeaders": [{"name": "Authorization", "value": "Bearer abc"}]
            }],
            "headers": {"X-Api-Key": "xyz"},
            "rawHeaders": ["Authorization: Bearer abc"],
            "callback": "https://user:pa55@example.com/cb?token=t0k&lang=en",
            "bare": "https://example.com/?x=1"
        });
        assert_eq!(
            masked(&config),
            json!({
                "accessToken": MASK,
                "credentials": MASK,
                "apiKeys": MASK,
                "webhooks": [{
                    "url": "https://hooks.example/in",
                    "customHeaders": [{"name": "Authorization", "value": MASK}]
                }],
                "headers": {"X-Api-Key": MASK},
                "rawHeaders": [MASK],
                "callback": format!("https://{MASK}:{MASK}@example.com/cb?token={MASK}&lang=en"),
                "bare": "https://example.com/?x=1"
            })
        );
    }

    #[test]
    fn a_masked_secret_sent_back_keeps_the_stored_one() {
        let stored = json!({
            "accessToken": "EAAG-real",
            "proxy": {"password": "p"},
            "customHeaders": [{"name": "X-Key", "value": "v"}],
            "callback": "https://u:p@example.com/?token=t"
        });
        let sent = masked(&stored);
        assert_eq!(unmasked(sent, &stored).unwrap(), stored);
        let replaced = json!({"accessToken": "EAAG-new", "graphApiUrl": "http://elsewhere"});
        assert_eq!(unmasked(replaced.clone(), &stored).unwrap(), replaced);
    }

    #[test]
    fn a_kept_secret_cannot_go_to_a_new_place() {
        let stored = json!({"accessToken": "EAAG-real", "phoneNumberId": "1065"});
        let moved =
            json!({"accessToken": MASK, "phoneNumberId": "1065", "graphApiUrl": "http://evil"});
        assert_eq!(
            unmasked(moved, &stored).unwrap_err(),
            KeptSecretMoved {
                secret: "accessToken".into(),
                changed: "graphApiUrl".into()
            }
        );
        let renumbered = json!({"accessToken": MASK, "phoneNumberId": "2000"});
        assert_eq!(
            unmasked(renumbered, &stored).unwrap_err().changed,
            "phoneNumberId"
        );
        let dropped = json!({"accessToken": MASK});
        assert_eq!(
            unmasked(dropped, &stored).unwrap_err().changed,
            "phoneNumberId"
        );

        let stored = json!({"webhooks": [{"url": "https://a", "hmac": {"key": "k"}}]});
        let moved = json!({"webhooks": [{"url": "https://b", "hmac": {"key": MASK}}]});
        let refused = unmasked(moved, &stored).unwrap_err();
        assert_eq!(refused.secret, "webhooks[0].hmac.key");
        assert_eq!(refused.changed, "webhooks[0].url");
        assert!(refused.message().contains("config.webhooks[0].url"));

        let stored = json!({"url": "https://u:p@a.example/"});
        let moved = json!({"url": format!("https://{MASK}:{MASK}@b.example/")});
        // Not the masked form of the stored URL: taken as a new value.
        assert_eq!(unmasked(moved.clone(), &stored).unwrap(), moved);
    }

    #[test]
    fn text_is_scrubbed_of_every_secret_of_the_config() {
        let config = json!({
            "accessToken": 9876543210u64,
            "proxy": {"password": "hunter22"},
            "customHeaders": [{"name": "Authorization", "value": "Bearer abc"}],
            "callback": "https://user1:pa55w0rd@example.com/?token=t0k3n",
            "short": {"key": "ab"}
        });
        let scrubber = Scrubber::for_config(&config);
        let text =
            "invalid type: integer `9876543210`; hunter22 Bearer abc pa55w0rd t0k3n user1 ab";
        assert_eq!(
            scrubber.scrub(text),
            format!("invalid type: integer `{MASK}`; {MASK} {MASK} {MASK} {MASK} {MASK} ab")
        );
        assert_eq!(Scrubber::default().scrub(text), text);
    }
}
