//! Secrets in session configs (access tokens, passwords, keys) never leave
//! the host: every session answer shows them masked, and a config sent back
//! with a masked value keeps the stored secret, so a client can GET a
//! session, change one field and PUT it back.

use serde_json::Value;

/// What a secret looks like in answers.
pub const MASK: &str = "********";

/// Whether a config key names a secret: `accessToken`, `api_key`,
/// `password`, `clientSecret`, a webhook HMAC `key`, …
fn is_secret(key: &str) -> bool {
    let key = key.to_ascii_lowercase().replace(['_', '-'], "");
    key == "key"
        || ["token", "secret", "password", "apikey", "privatekey"]
            .iter()
            .any(|word| key.contains(word))
}

/// `config` with every secret string replaced by [`MASK`], at any depth.
pub fn masked(config: &Value) -> Value {
    match config {
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(key, value)| {
                    let shown = match value {
                        Value::String(_) if is_secret(key) => Value::String(MASK.into()),
                        other => masked(other),
                    };
                    (key.clone(), shown)
                })
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.iter().map(masked).collect()),
        other => other.clone(),
    }
}

/// `new` with every secret still equal to [`MASK`] replaced by the value
/// at the same place in `stored`.
pub fn unmasked(new: Value, stored: &Value) -> Value {
    match (new, stored) {
        (Value::Object(map), Value::Object(old)) => Value::Object(
            map.into_iter()
                .map(|(key, value)| {
                    let value = match (value, old.get(&key)) {
                        (Value::String(s), Some(previous)) if s == MASK && is_secret(&key) => {
                            previous.clone()
                        }
                        (value, Some(previous)) => unmasked(value, previous),
                        (value, None) => value,
                    };
                    (key, value)
                })
                .collect(),
        ),
        (new, _) => new,
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
            "tokenCount": 3
        });
        assert_eq!(
            masked(&config),
            json!({
                "accessToken": MASK,
                "phoneNumberId": "1065",
                "proxy": {"password": MASK, "server": "proxy:3128"},
                "webhooks": [{"url": "http://x", "hmac": {"key": MASK}, "api_key": MASK}],
                "tokenCount": 3
            })
        );
    }

    #[test]
    fn a_masked_secret_sent_back_keeps_the_stored_one() {
        let stored = json!({"accessToken": "EAAG-real", "proxy": {"password": "p"}});
        let sent = json!({"accessToken": MASK, "proxy": {"password": MASK}, "extra": 1});
        assert_eq!(
            unmasked(sent, &stored),
            json!({"accessToken": "EAAG-real", "proxy": {"password": "p"}, "extra": 1})
        );
        let replaced = json!({"accessToken": "EAAG-new"});
        assert_eq!(unmasked(replaced.clone(), &stored), replaced);
    }
}
