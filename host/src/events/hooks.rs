//! Webhooks as WAHA configures them: per session in the config's
//! `webhooks` (with `metadata` echoed in every event), and one global hook
//! from WAHA's `WHATSAPP_HOOK_*` environment variables.
//!
//! These keys belong to the host: they are checked here, field by field,
//! and taken out of the config before the engine sees it
//! ([`engine_config`]).

use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::names::EventFilter;

/// The session config keys the host reads; the engine gets the rest.
const HOST_KEYS: &[&str] = &["webhooks", "metadata"];

/// WAHA's defaults: two seconds apart, fifteen retries, the same delay each
/// time.
const DEFAULT_DELAY: Duration = Duration::from_secs(2);
const DEFAULT_ATTEMPTS: u32 = 15;

/// No wait between two tries is longer, whatever the policy or the
/// receiver's `Retry-After`: an exponential policy would otherwise wait
/// days before its last retries.
pub const MAX_DELAY: Duration = Duration::from_secs(3600);

/// No wait between two tries is shorter, whatever the policy: a hook with
/// no delay and many retries against a closed port would otherwise spin.
pub const MIN_DELAY: Duration = Duration::from_millis(100);

/// Webhooks one session may have. Each event is stored once per hook, so
/// this bounds what one event costs.
pub const MAX_HOOKS: usize = 16;

/// More retries than this are refused: with [`MAX_DELAY`] between them
/// they already span weeks.
const MAX_ATTEMPTS: u32 = 1000;

/// Headers the host sets itself on every delivery.
const RESERVED_HEADERS: &[&str] = &[
    "host",
    "content-length",
    "transfer-encoding",
    "connection",
    "content-type",
];

/// One webhook: which events it wants, and where and how they go.
#[derive(Debug, Clone, PartialEq)]
pub struct Webhook {
    pub events: EventFilter,
    pub target: Target,
}

/// Where and how a hook's events are delivered. Stored with each event
/// waiting in the outbox, so an event is delivered as the hook was when
/// the event happened, also after a restart.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Target {
    pub url: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hmac_key: Option<String>,
    #[serde(default)]
    pub headers: Vec<(String, String)>,
    pub retries: Retries,
}

/// How often, and how far apart, a failed delivery is tried again.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Retries {
    pub delay_ms: u64,
    /// Retries after the first try (WAHA's meaning of `attempts`).
    pub attempts: u32,
    pub policy: Policy,
}

/// WAHA's retry policies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Policy {
    /// The delay every time.
    Constant,
    /// The delay times the retry's number.
    Linear,
    /// The delay times two to the retry's number.
    Exponential,
}

impl Default for Retries {
    fn default() -> Self {
        Self {
            delay_ms: DEFAULT_DELAY.as_millis() as u64,
            attempts: DEFAULT_ATTEMPTS,
            policy: Policy::Constant,
        }
    }
}

impl Retries {
    /// The wait before retry number `retry` (1 for the first), no shorter
    /// than what the receiver asked for with `Retry-After`, and between
    /// [`MIN_DELAY`] and [`MAX_DELAY`].
    pub fn delay(&self, retry: u32, retry_after: Option<Duration>) -> Duration {
        let delay = Duration::from_millis(self.delay_ms);
        let by_policy = match self.policy {
            Policy::Constant => delay,
            Policy::Linear => delay.saturating_mul(retry),
            Policy::Exponential => delay.saturating_mul(2u32.saturating_pow(retry)),
        };
        by_policy
            .max(retry_after.unwrap_or_default())
            .clamp(MIN_DELAY, MAX_DELAY)
    }
}

/// A config value the host refuses: the field, as a path from the
/// request body (`config.webhooks[0].url`), and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refused {
    pub field: String,
    pub problem: String,
}

fn refused(field: impl Into<String>, problem: impl Into<String>) -> Refused {
    Refused {
        field: field.into(),
        problem: problem.into(),
    }
}

/// What the host takes from a session config.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SessionHooks {
    pub webhooks: Vec<Webhook>,
    /// WAHA's `metadata`: strings echoed in every event of the session.
    pub metadata: Option<Map<String, Value>>,
}

/// Reads and checks the host's keys of a session config.
pub fn session_hooks(config: &Value) -> Result<SessionHooks, Refused> {
    let metadata = match config.get("metadata") {
        None | Some(Value::Null) => None,
        Some(Value::Object(metadata)) => {
            if let Some((key, _)) = metadata.iter().find(|(_, value)| !value.is_string()) {
                return Err(refused(
                    format!("config.metadata.{key}"),
                    "must be a string",
                ));
            }
            Some(metadata.clone())
        }
        Some(_) => {
            return Err(refused("config.metadata", "must be an object of strings"));
        }
    };
    let webhooks = match config.get("webhooks") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(hooks)) if hooks.len() > MAX_HOOKS => {
            return Err(refused(
                "config.webhooks",
                format!("at most {MAX_HOOKS} webhooks per session"),
            ));
        }
        Some(Value::Array(hooks)) => hooks
            .iter()
            .enumerate()
            .map(|(index, hook)| webhook(&format!("config.webhooks[{index}]"), hook))
            .collect::<Result<_, _>>()?,
        Some(_) => return Err(refused("config.webhooks", "must be an array")),
    };
    Ok(SessionHooks { webhooks, metadata })
}

/// The config an engine gets: the session config without the host's keys.
pub fn engine_config(config: &Value) -> Value {
    match config {
        Value::Object(map) => Value::Object(
            map.iter()
                .filter(|(key, _)| !HOST_KEYS.contains(&key.as_str()))
                .map(|(key, value)| (key.clone(), value.clone()))
                .collect(),
        ),
        other => other.clone(),
    }
}

fn webhook(at: &str, hook: &Value) -> Result<Webhook, Refused> {
    let Value::Object(hook) = hook else {
        return Err(refused(at, "must be an object with `url` and `events`"));
    };
    let field = |name: &str| format!("{at}.{name}");
    let url = match hook.get("url") {
        Some(Value::String(url)) => {
            check_url(url).map_err(|problem| refused(field("url"), problem))?
        }
        Some(_) => return Err(refused(field("url"), "must be a string")),
        None => return Err(refused(field("url"), "is required")),
    };
    let events = match hook.get("events") {
        Some(Value::Array(names)) => {
            let names: Vec<&str> = names
                .iter()
                .enumerate()
                .map(|(index, name)| {
                    name.as_str()
                        .ok_or_else(|| refused(format!("{at}.events[{index}]"), "must be a string"))
                })
                .collect::<Result<_, _>>()?;
            EventFilter::parse(names)
                .map_err(|(index, problem)| refused(format!("{at}.events[{index}]"), problem))?
        }
        Some(_) => return Err(refused(field("events"), "must be an array of event names")),
        None => return Err(refused(field("events"), "is required")),
    };
    let hmac_key = match hook.get("hmac") {
        None | Some(Value::Null) => None,
        Some(Value::Object(hmac)) => match hmac.get("key") {
            None | Some(Value::Null) => None,
            Some(Value::String(key)) => Some(key.clone()).filter(|key| !key.is_empty()),
            Some(_) => return Err(refused(field("hmac.key"), "must be a string")),
        },
        Some(_) => {
            return Err(refused(
                field("hmac"),
                "must be an object like {\"key\": \"…\"}",
            ));
        }
    };
    let retries = match hook.get("retries") {
        None | Some(Value::Null) => Retries::default(),
        Some(Value::Object(retries)) => session_retries(&field("retries"), retries)?,
        Some(_) => return Err(refused(field("retries"), "must be an object")),
    };
    let headers = match hook.get("customHeaders") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(headers)) => headers
            .iter()
            .enumerate()
            .map(|(index, header)| custom_header(&format!("{at}.customHeaders[{index}]"), header))
            .collect::<Result<_, _>>()?,
        Some(_) => {
            return Err(refused(
                field("customHeaders"),
                "must be an array of {\"name\": …, \"value\": …}",
            ));
        }
    };
    Ok(Webhook {
        events,
        target: Target {
            url,
            hmac_key,
            headers,
            retries,
        },
    })
}

fn session_retries(at: &str, retries: &Map<String, Value>) -> Result<Retries, Refused> {
    let mut parsed = Retries::default();
    let field = |name: &str| format!("{at}.{name}");
    match retries.get("delaySeconds") {
        None | Some(Value::Null) => {}
        Some(Value::Number(seconds)) => {
            parsed.delay_ms =
                delay_ms(seconds.as_f64()).map_err(|p| refused(field("delaySeconds"), p))?;
        }
        Some(_) => {
            return Err(refused(
                field("delaySeconds"),
                "must be a number of seconds",
            ));
        }
    }
    match retries.get("attempts") {
        None | Some(Value::Null) => {}
        Some(Value::Number(attempts)) => {
            parsed.attempts =
                attempts_count(attempts.as_u64()).map_err(|p| refused(field("attempts"), p))?;
        }
        Some(_) => return Err(refused(field("attempts"), "must be a whole number")),
    }
    match retries.get("policy") {
        None | Some(Value::Null) => {}
        Some(Value::String(policy)) => {
            parsed.policy = parse_policy(policy).map_err(|p| refused(field("policy"), p))?;
        }
        Some(_) => return Err(refused(field("policy"), "must be a string")),
    }
    Ok(parsed)
}

fn custom_header(at: &str, header: &Value) -> Result<(String, String), Refused> {
    let text = |key: &str| match header.get(key) {
        Some(Value::String(text)) => Ok(text.clone()),
        _ => Err(refused(format!("{at}.{key}"), "must be a string")),
    };
    let (name, value) = (text("name")?, text("value")?);
    check_header(&name, &value)
        .map_err(|(part, problem)| refused(format!("{at}.{part}"), problem))?;
    Ok((name, value))
}

/// Checks a hook's URL. Errors never quote it: it may hold credentials.
fn check_url(url: &str) -> Result<String, String> {
    let parsed = url::Url::parse(url).map_err(|err| format!("not a URL: {err}"))?;
    if !matches!(parsed.scheme(), "http" | "https") || parsed.host_str().is_none() {
        return Err("must be an http:// or https:// URL with a host".to_owned());
    }
    Ok(url.to_owned())
}

fn check_header(name: &str, value: &str) -> Result<(), (&'static str, String)> {
    axum::http::HeaderName::from_bytes(name.as_bytes())
        .map_err(|_| ("name", format!("'{name}' is not an HTTP header name")))?;
    let lower = name.to_ascii_lowercase();
    if RESERVED_HEADERS.contains(&lower.as_str()) || lower.starts_with("x-webhook-") {
        return Err(("name", format!("'{name}' is set by the host")));
    }
    let visible = |byte: u8| byte == b'\t' || (b' '..=b'~').contains(&byte);
    if !value.bytes().all(visible) {
        return Err((
            "value",
            "must be visible ASCII text, without line breaks".to_owned(),
        ));
    }
    Ok(())
}

fn delay_ms(seconds: Option<f64>) -> Result<u64, String> {
    match seconds {
        Some(seconds) if (0.0..=MAX_DELAY.as_secs_f64()).contains(&seconds) => {
            Ok((seconds * 1000.0).round() as u64)
        }
        _ => Err(format!("must be 0 to {} seconds", MAX_DELAY.as_secs())),
    }
}

fn attempts_count(attempts: Option<u64>) -> Result<u32, String> {
    attempts
        .and_then(|attempts| u32::try_from(attempts).ok())
        .filter(|attempts| *attempts <= MAX_ATTEMPTS)
        .ok_or_else(|| format!("must be a whole number from 0 to {MAX_ATTEMPTS}"))
}

fn parse_policy(policy: &str) -> Result<Policy, String> {
    match policy {
        "constant" => Ok(Policy::Constant),
        "linear" => Ok(Policy::Linear),
        "exponential" => Ok(Policy::Exponential),
        other => Err(format!(
            "'{other}' is not a policy; use linear, exponential or constant"
        )),
    }
}

/// The global hook, from WAHA's environment variables (read through `var`).
/// Set only when both `WHATSAPP_HOOK_URL` and `WHATSAPP_HOOK_EVENTS` are,
/// as in WAHA. A bad value is an error naming its variable.
pub fn global_webhook(var: impl Fn(&str) -> Option<String>) -> Result<Option<Webhook>, String> {
    let set = |name: &str| var(name).filter(|value| !value.trim().is_empty());
    let (Some(url), Some(events)) = (set("WHATSAPP_HOOK_URL"), set("WHATSAPP_HOOK_EVENTS")) else {
        if set("WHATSAPP_HOOK_URL").is_some() {
            tracing::warn!(
                "WHATSAPP_HOOK_URL is set but WHATSAPP_HOOK_EVENTS is not: no global webhook (set it to `*` for every event)"
            );
        }
        return Ok(None);
    };
    let url = check_url(url.trim()).map_err(|problem| format!("WHATSAPP_HOOK_URL: {problem}"))?;
    let names = events
        .split(',')
        .map(str::trim)
        .filter(|name| !name.is_empty());
    let events = EventFilter::parse(names)
        .map_err(|(_, problem)| format!("WHATSAPP_HOOK_EVENTS: {problem}"))?;
    let mut retries = Retries::default();
    if let Some(delay) = set("WHATSAPP_HOOK_RETRIES_DELAY_SECONDS") {
        retries.delay_ms = delay_ms(delay.trim().parse().ok())
            .map_err(|problem| format!("WHATSAPP_HOOK_RETRIES_DELAY_SECONDS: {problem}"))?;
    }
    if let Some(attempts) = set("WHATSAPP_HOOK_RETRIES_ATTEMPTS") {
        retries.attempts = attempts_count(attempts.trim().parse().ok())
            .map_err(|problem| format!("WHATSAPP_HOOK_RETRIES_ATTEMPTS: {problem}"))?;
    }
    if let Some(policy) = set("WHATSAPP_HOOK_RETRIES_POLICY") {
        retries.policy = parse_policy(policy.trim())
            .map_err(|problem| format!("WHATSAPP_HOOK_RETRIES_POLICY: {problem}"))?;
    }
    let mut headers = Vec::new();
    let listed = set("WHATSAPP_HOOK_CUSTOM_HEADERS");
    let items = listed.iter().flat_map(|h| h.split(';'));
    for header in items.filter(|header| !header.trim().is_empty()) {
        let Some((name, value)) = header.split_once(':') else {
            return Err(format!(
                "WHATSAPP_HOOK_CUSTOM_HEADERS: '{}' must be Name:Value",
                header.split(':').next().unwrap_or_default()
            ));
        };
        let (name, value) = (name.trim(), value.trim());
        check_header(name, value).map_err(|(_, problem)| {
            format!("WHATSAPP_HOOK_CUSTOM_HEADERS: header '{name}': {problem}")
        })?;
        headers.push((name.to_owned(), value.to_owned()));
    }
    Ok(Some(Webhook {
        events,
        target: Target {
            url,
            hmac_key: set("WHATSAPP_HOOK_HMAC_KEY"),
            headers,
            retries,
        },
    }))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::events::names::SESSION_STATUS;

    #[test]
    fn a_full_waha_webhook_is_read_and_the_engine_gets_the_rest() {
        let config = json!({
            "webhooks": [{
                "url": "https://crm.example/hook",
                "events": ["session.status"],
                "hmac": {"key": "k3y"},
                "retries": {"delaySeconds": 0.5, "attempts": 3, "policy": "linear"},
                "customHeaders": [{"name": "X-Tenant", "value": "7"}]
            }],
            "metadata": {"tenant": "7"},
            "fixture": "tiny.json"
        });
        let hooks = session_hooks(&config).unwrap();
        assert_eq!(
            hooks.metadata,
            Some(json!({"tenant": "7"}).as_object().unwrap().clone())
        );
        let hook = &hooks.webhooks[0];
        assert!(hook.events.matches(SESSION_STATUS) && !hook.events.matches("message"));
        assert_eq!(
            hook.target,
            Target {
                url: "https://crm.example/hook".into(),
                hmac_key: Some("k3y".into()),
                headers: vec![("X-Tenant".into(), "7".into())],
                retries: Retries {
                    delay_ms: 500,
                    attempts: 3,
                    policy: Policy::Linear
                },
            }
        );
        assert_eq!(engine_config(&config), json!({"fixture": "tiny.json"}));
    }

    #[test]
    fn defaults_are_wahas() {
        let hooks =
            session_hooks(&json!({"webhooks": [{"url": "http://127.0.0.1:9/h", "events": ["*"]}]}))
                .unwrap();
        assert_eq!(
            hooks.webhooks[0].target.retries,
            Retries {
                delay_ms: 2000,
                attempts: 15,
                policy: Policy::Constant
            }
        );
        assert_eq!(hooks.webhooks[0].target.hmac_key, None);
        assert_eq!(session_hooks(&json!({})).unwrap(), SessionHooks::default());
    }

    #[test]
    fn each_bad_value_is_refused_naming_its_field() {
        let cases = [
            (json!({"webhooks": {}}), "config.webhooks"),
            (
                json!({"webhooks": [{"events": ["*"]}]}),
                "config.webhooks[0].url",
            ),
            (
                json!({"webhooks": [{"url": "ftp://x/y", "events": ["*"]}]}),
                "config.webhooks[0].url",
            ),
            (
                json!({"webhooks": [{"url": "not a url", "events": ["*"]}]}),
                "config.webhooks[0].url",
            ),
            (
                json!({"webhooks": [{"url": "http://x"}]}),
                "config.webhooks[0].events",
            ),
            (
                json!({"webhooks": [{"url": "http://x", "events": ["*", "nope"]}]}),
                "config.webhooks[0].events[1]",
            ),
            (
                json!({"webhooks": [{"url": "http://x", "events": [1]}]}),
                "config.webhooks[0].events[0]",
            ),
            (
                json!({"webhooks": [{"url": "http://x", "events": [], "hmac": "k"}]}),
                "config.webhooks[0].hmac",
            ),
            (
                json!({"webhooks": [{"url": "http://x", "events": [], "retries": {"delaySeconds": -1}}]}),
                "config.webhooks[0].retries.delaySeconds",
            ),
            (
                json!({"webhooks": [{"url": "http://x", "events": [], "retries": {"attempts": 1.5}}]}),
                "config.webhooks[0].retries.attempts",
            ),
            (
                json!({"webhooks": [{"url": "http://x", "events": [], "retries": {"attempts": 100000}}]}),
                "config.webhooks[0].retries.attempts",
            ),
            (
                json!({"webhooks": [{"url": "http://x", "events": [], "retries": {"policy": "random"}}]}),
                "config.webhooks[0].retries.policy",
            ),
            (
                json!({"webhooks": [{"url": "http://x", "events": [], "customHeaders": [{"name": "Bad Name", "value": "v"}]}]}),
                "config.webhooks[0].customHeaders[0].name",
            ),
            (
                json!({"webhooks": [{"url": "http://x", "events": [], "customHeaders": [{"name": "Host", "value": "v"}]}]}),
                "config.webhooks[0].customHeaders[0].name",
            ),
            (
                json!({"webhooks": [{"url": "http://x", "events": [], "customHeaders": [{"name": "X-A", "value": "a\nb"}]}]}),
                "config.webhooks[0].customHeaders[0].value",
            ),
            (
                json!({"webhooks": [{"url": "http://x", "events": [], "customHeaders": [{"name": "X-Webhook-Hmac", "value": "v"}]}]}),
                "config.webhooks[0].customHeaders[0].name",
            ),
            (
                json!({"webhooks": [{"url": "http://x", "events": [], "customHeaders": [{"name": "X-A", "value": "é"}]}]}),
                "config.webhooks[0].customHeaders[0].value",
            ),
            (
                json!({"webhooks": vec![json!({"url": "http://x", "events": []}); MAX_HOOKS + 1]}),
                "config.webhooks",
            ),
            (json!({"metadata": ["a"]}), "config.metadata"),
            (json!({"metadata": {"n": 1}}), "config.metadata.n"),
        ];
        for (config, field) in cases {
            let refused = session_hooks(&config).unwrap_err();
            assert_eq!(refused.field, field, "{config}: {}", refused.problem);
        }
    }

    #[test]
    fn each_policy_spaces_its_retries_and_retry_after_and_the_cap_bound_them() {
        let retries = |policy| Retries {
            delay_ms: 1000,
            attempts: 5,
            policy,
        };
        let seconds = |r: Retries| {
            (1..=4)
                .map(|n| r.delay(n, None).as_secs())
                .collect::<Vec<_>>()
        };
        assert_eq!(seconds(retries(Policy::Constant)), [1, 1, 1, 1]);
        assert_eq!(seconds(retries(Policy::Linear)), [1, 2, 3, 4]);
        assert_eq!(seconds(retries(Policy::Exponential)), [2, 4, 8, 16]);
        let constant = retries(Policy::Constant);
        assert_eq!(
            constant.delay(1, Some(Duration::from_secs(7))),
            Duration::from_secs(7)
        );
        assert_eq!(retries(Policy::Exponential).delay(40, None), MAX_DELAY);
        let none = Retries {
            delay_ms: 0,
            attempts: 1000,
            policy: Policy::Constant,
        };
        assert_eq!(none.delay(1, None), MIN_DELAY, "no hook spins");
        assert_eq!(
            constant.delay(1, Some(Duration::from_secs(1 << 40))),
            MAX_DELAY
        );
    }

    #[test]
    fn the_global_hook_comes_from_wahas_variables() {
        let env = |pairs: &'static [(&'static str, &'static str)]| {
            move |name: &str| {
                pairs
                    .iter()
                    .find(|(k, _)| *k == name)
                    .map(|(_, v)| v.to_string())
            }
        };
        assert_eq!(global_webhook(env(&[])).unwrap(), None);
        assert_eq!(
            global_webhook(env(&[("WHATSAPP_HOOK_URL", "http://h/x")])).unwrap(),
            None
        );
        let hook = global_webhook(env(&[
            ("WHATSAPP_HOOK_URL", "http://h/x"),
            ("WHATSAPP_HOOK_EVENTS", "session.status, message,"),
            ("WHATSAPP_HOOK_HMAC_KEY", "s"),
            ("WHATSAPP_HOOK_RETRIES_POLICY", "exponential"),
            ("WHATSAPP_HOOK_RETRIES_DELAY_SECONDS", "3"),
            ("WHATSAPP_HOOK_RETRIES_ATTEMPTS", "4"),
            (
                "WHATSAPP_HOOK_CUSTOM_HEADERS",
                "X-A:1;Authorization:Bearer a:b",
            ),
        ]))
        .unwrap()
        .unwrap();
        assert!(hook.events.matches("message") && hook.events.matches(SESSION_STATUS));
        assert_eq!(
            hook.target,
            Target {
                url: "http://h/x".into(),
                hmac_key: Some("s".into()),
                headers: vec![
                    ("X-A".into(), "1".into()),
                    ("Authorization".into(), "Bearer a:b".into())
                ],
                retries: Retries {
                    delay_ms: 3000,
                    attempts: 4,
                    policy: Policy::Exponential
                },
            }
        );
        for (name, value) in [
            ("WHATSAPP_HOOK_EVENTS", "sesion.status"),
            ("WHATSAPP_HOOK_RETRIES_POLICY", "often"),
            ("WHATSAPP_HOOK_RETRIES_ATTEMPTS", "-1"),
            ("WHATSAPP_HOOK_RETRIES_DELAY_SECONDS", "soon"),
            ("WHATSAPP_HOOK_CUSTOM_HEADERS", "X-A"),
        ] {
            let var = |asked: &str| match asked {
                "WHATSAPP_HOOK_URL" => Some("http://h/x".to_owned()),
                "WHATSAPP_HOOK_EVENTS" if name != asked => Some("*".to_owned()),
                asked if asked == name => Some(value.to_owned()),
                _ => None,
            };
            let err = global_webhook(var).unwrap_err();
            assert!(err.starts_with(&format!("{name}: ")), "{err}");
        }
    }
}
