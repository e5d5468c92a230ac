//! API keys. When `WHARF_API_KEY` or WAHA's `WAHA_API_KEY` is set, every
//! `/api` route needs the header `X-Api-Key` with one of the keys; `/ping`
//! and the other routes outside `/api` stay open, as in WAHA, and tell a
//! caller without the key no more than that the server is up ([`Caller`]).
//!
//! A key may be configured in plain or as `sha512:<hex digest>`, so the
//! plain key need not sit in the environment. Either way only digests are
//! kept, and a presented key is compared by digest in constant time.

use std::convert::Infallible;

use axum::{
    extract::{FromRequestParts, Request, State},
    http::request::Parts,
    middleware::Next,
    response::{IntoResponse, Response},
};
use sha2::{Digest, Sha512};
use subtle::ConstantTimeEq;

use crate::errors::ApiError;

/// The header WAHA clients send.
pub const HEADER: &str = "x-api-key";

type KeyDigest = [u8; 64];

fn digest(key: &str) -> KeyDigest {
    Sha512::digest(key.as_bytes()).into()
}

/// The keys that open `/api`. Empty means the API is open.
#[derive(Clone, Default)]
pub struct ApiKeys {
    digests: Vec<KeyDigest>,
}

impl ApiKeys {
    /// Parses configured keys (`(variable, value)` pairs), each plain or
    /// `sha512:<hex>`. Empty values are skipped. An invalid digest is an
    /// error naming the variable, never the value.
    pub fn parse<'a>(
        configured: impl IntoIterator<Item = (&'a str, String)>,
    ) -> Result<Self, String> {
        let mut digests = Vec::new();
        for (variable, value) in configured {
            let value = value.trim();
            if value.is_empty() {
                continue;
            }
            let digest = match value.strip_prefix("sha512:") {
                Some(hex_digest) => hex::decode(hex_digest.trim())
                    .ok()
                    .and_then(|bytes| KeyDigest::try_from(bytes).ok())
                    .ok_or_else(|| {
                        format!("{variable}: after 'sha512:' give the 128 hex digits of a SHA-512 digest")
                    })?,
                None => digest(value),
            };
            digests.push(digest);
        }
        Ok(Self { digests })
    }

    pub fn is_enabled(&self) -> bool {
        !self.digests.is_empty()
    }

    /// Whether `presented` is one of the keys. Every configured key is
    /// compared, in constant time, whatever matches.
    pub fn accepts(&self, presented: &str) -> bool {
        let presented = digest(presented);
        self.digests
            .iter()
            .fold(subtle::Choice::from(0), |found, key| {
                found | key.ct_eq(&presented)
            })
            .into()
    }
}

/// Whether a request may see what the API key protects: it holds a valid
/// key, or no key is set. Open routes read it to decide how much to say.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Caller {
    Trusted,
    Stranger,
}

/// [`require_api_key`] sets it on every request; without that middleware
/// nobody is trusted.
impl<S: Send + Sync> FromRequestParts<S> for Caller {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Infallible> {
        Ok(parts
            .extensions
            .get::<Caller>()
            .copied()
            .unwrap_or(Caller::Stranger))
    }
}

fn guards(path: &str) -> bool {
    path == "/api" || path.starts_with("/api/")
}

/// Middleware: refuses `/api` requests without a valid key (401), and tells
/// the other routes who is calling ([`Caller`]).
pub async fn require_api_key(
    State(keys): State<ApiKeys>,
    mut request: Request,
    next: Next,
) -> Response {
    let presented = request
        .headers()
        .get(HEADER)
        .map(|value| value.to_str().unwrap_or_default());
    let caller = if !keys.is_enabled() || presented.is_some_and(|key| keys.accepts(key)) {
        Caller::Trusted
    } else {
        Caller::Stranger
    };
    if caller == Caller::Stranger && guards(request.uri().path()) {
        return match presented {
            Some(_) => ApiError::unauthorized("the X-Api-Key header does not hold a valid API key"),
            None => ApiError::unauthorized("send the API key in the X-Api-Key header"),
        }
        .into_response();
    }
    request.extensions_mut().insert(caller);
    next.run(request).await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(values: &[&str]) -> ApiKeys {
        ApiKeys::parse(values.iter().map(|v| ("WHARF_API_KEY", v.to_string()))).unwrap()
    }

    #[test]
    fn plain_and_hashed_keys_are_accepted_and_others_are_not() {
        let hashed = format!("sha512:{}", hex::encode(digest("s3cret")));
        for configured in [
            keys(&["s3cret"]),
            keys(&[&hashed]),
            keys(&["other", "s3cret"]),
        ] {
            assert!(configured.is_enabled());
            assert!(configured.accepts("s3cret"));
            assert!(!configured.accepts("s3cret "));
            assert!(!configured.accepts(""));
            assert!(
                !configured.accepts(&hashed),
                "the digest itself is not a key"
            );
        }
    }

    #[test]
    fn empty_values_leave_the_api_open_and_bad_digests_name_the_variable() {
        assert!(!keys(&["", "  "]).is_enabled());
        let err = ApiKeys::parse([("WAHA_API_KEY", "sha512:abc".to_string())])
            .err()
            .unwrap();
        assert!(err.starts_with("WAHA_API_KEY"), "{err}");
        assert!(!err.contains("abc"), "the value is never echoed");
    }

    #[test]
    fn only_api_routes_are_guarded() {
        assert!(guards("/api/sessions"));
        assert!(guards("/api"));
        assert!(!guards("/ping"));
        assert!(!guards("/apiary"));
    }
}
