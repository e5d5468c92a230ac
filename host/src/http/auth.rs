//! API keys. When `WHARF_API_KEY` or WAHA's `WAHA_API_KEY` is set, every
//! `/api` route needs the header `X-Api-Key` with one of the keys; `/ping`
//! and the other routes outside `/api` stay open, as in WAHA, and tell a
//! caller without the key no more than that the server is up ([`Caller`]).
//!
//! A key may be configured in plain or as `sha512:<hex digest>`, so the
//! plain key need not sit in the environment. Either way only digests are
//! kept, and a presented key is compared by digest in constant time.
//!
//! A client sends its key with every request, and a SHA-512 digest costs
//! as much as a few percent of a small request. So a key that was found
//! good is remembered by a fingerprint: 128 bits of SipHash under a key
//! drawn at random when the process starts, never written anywhere. The
//! next request with it is checked against the fingerprints, also in
//! constant time, and only a key not found there is digested. A wrong key
//! is never remembered and always costs the digest.

use std::{
    convert::Infallible,
    future::{Ready, ready},
    hash::{BuildHasher, RandomState},
    sync::{Arc, PoisonError, RwLock},
    task::{Context, Poll},
};

use axum::{
    extract::{FromRequestParts, Request},
    http::request::Parts,
    response::{IntoResponse, Response},
};
use futures_util::future::Either;
use sha2::{Digest, Sha512};
use subtle::ConstantTimeEq;
use tower::Service;

use crate::http::errors::ApiError;

/// The header WAHA clients send.
pub(crate) const HEADER: &str = "x-api-key";

type KeyDigest = [u8; 64];

fn digest(key: &str) -> KeyDigest {
    Sha512::digest(key.as_bytes()).into()
}

/// The keys that open `/api`. Empty means the API is open.
#[derive(Clone, Default)]
pub struct ApiKeys {
    digests: Arc<[KeyDigest]>,
    verified: Arc<Verified>,
}

/// Fingerprints of the presented keys that were found good.
#[derive(Default)]
struct Verified {
    hasher: RandomState,
    /// At most one per configured key: only a good key gets here, and two
    /// strings with one digest are one key.
    fingerprints: RwLock<Vec<u128>>,
}

impl Verified {
    fn fingerprint(&self, key: &str) -> u128 {
        let half = |part: u8| u128::from(self.hasher.hash_one((key, part)));
        (half(0) << 64) | half(1)
    }

    fn holds(&self, fingerprint: u128) -> bool {
        let presented = fingerprint.to_le_bytes();
        let fingerprints = self
            .fingerprints
            .read()
            .unwrap_or_else(PoisonError::into_inner);
        fingerprints
            .iter()
            .fold(subtle::Choice::from(0), |found, known| {
                found | known.to_le_bytes().ct_eq(&presented)
            })
            .into()
    }

    fn remember(&self, fingerprint: u128) {
        let mut fingerprints = self
            .fingerprints
            .write()
            .unwrap_or_else(PoisonError::into_inner);
        if !fingerprints.contains(&fingerprint) {
            fingerprints.push(fingerprint);
        }
    }
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
            // A key travels in an HTTP header, which carries visible ASCII
            // only: any other key could never be presented.
            if !value
                .bytes()
                .all(|byte| byte.is_ascii_graphic() || byte == b' ')
            {
                return Err(format!(
                    "{variable}: a key may hold only visible ASCII characters and spaces, as it \
                     travels in the X-Api-Key header"
                ));
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
        Ok(Self {
            digests: digests.into(),
            verified: Arc::default(),
        })
    }

    pub fn is_enabled(&self) -> bool {
        !self.digests.is_empty()
    }

    /// Lets a caller that presents `presented` through: always when no key
    /// is set; otherwise the 401 that says what is wrong.
    pub(crate) fn check(&self, presented: Option<&str>) -> Result<(), ApiError> {
        match presented {
            _ if !self.is_enabled() => Ok(()),
            Some(key) if self.accepts(key) => Ok(()),
            Some(_) => Err(ApiError::unauthorized(
                "the X-Api-Key header does not hold a valid API key",
            )),
            None => Err(ApiError::unauthorized(
                "send the API key in the X-Api-Key header",
            )),
        }
    }

    /// Whether `presented` is one of the keys. Every configured key (or
    /// every fingerprint of a key found good before) is compared, in
    /// constant time, whatever matches.
    pub fn accepts(&self, presented: &str) -> bool {
        let fingerprint = self.verified.fingerprint(presented);
        if self.verified.holds(fingerprint) {
            return true;
        }
        let presented = digest(presented);
        let accepted: bool = self
            .digests
            .iter()
            .fold(subtle::Choice::from(0), |found, key| {
                found | key.ct_eq(&presented)
            })
            .into();
        if accepted {
            self.verified.remember(fingerprint);
        }
        accepted
    }
}

/// Whether a request may see what the API key protects: it holds a valid
/// key, or no key is set. Open routes read it to decide how much to say.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Caller {
    Trusted,
    Stranger,
}

/// [`RequireApiKey`] sets it on every request; without it nobody is trusted.
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

/// Wraps the whole router: refuses `/api` requests without a valid key
/// (401) before any route is looked for, and tells the other routes who
/// is calling ([`Caller`]).
///
/// A service of its own rather than `axum::middleware::from_fn`: it runs
/// on every request, and this way costs no boxed future or cloned router
/// per request.
#[derive(Clone)]
pub(crate) struct RequireApiKey<S> {
    keys: ApiKeys,
    inner: S,
}

impl<S> RequireApiKey<S> {
    pub(crate) fn new(keys: ApiKeys, inner: S) -> Self {
        Self { keys, inner }
    }

    fn caller(&self, request: &Request) -> Result<Caller, ApiError> {
        let presented = request
            .headers()
            .get(HEADER)
            .map(|value| value.to_str().unwrap_or_default());
        match self.keys.check(presented) {
            Ok(()) => Ok(Caller::Trusted),
            Err(_) if !guards(request.uri().path()) => Ok(Caller::Stranger),
            Err(refused) => Err(refused),
        }
    }
}

impl<S> Service<Request> for RequireApiKey<S>
where
    S: Service<Request, Response = Response, Error = Infallible>,
{
    type Response = Response;
    type Error = Infallible;
    type Future = Either<Ready<Result<Response, Infallible>>, S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request) -> Self::Future {
        match self.caller(&request) {
            Ok(caller) => {
                request.extensions_mut().insert(caller);
                Either::Right(self.inner.call(request))
            }
            Err(refused) => Either::Left(ready(Ok(refused.into_response()))),
        }
    }
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
    fn a_key_found_good_is_still_the_only_one_accepted_after() {
        let hashed = format!("sha512:{}", hex::encode(digest("s3cret")));
        let configured = keys(&["other", &hashed]);
        for _ in 0..3 {
            assert!(configured.accepts("s3cret"));
            assert!(configured.accepts("other"));
            assert!(!configured.accepts("s3cre"));
            assert!(!configured.accepts("s3cret\0"));
            assert!(!configured.accepts(""));
        }
        let remembered = configured.verified.fingerprints.read().unwrap().len();
        assert_eq!(remembered, 2, "only good keys, once each");
        assert!(
            !keys(&["s3cret"]).accepts("other"),
            "fingerprints belong to their own keys"
        );
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
    fn a_key_no_header_can_carry_is_refused_naming_the_variable() {
        for key in ["süper key", "tab\there", "line\nbreak"] {
            let err = ApiKeys::parse([("WHARF_API_KEY", key.to_string())])
                .err()
                .unwrap_or_else(|| panic!("{key:?} was taken"));
            assert!(err.starts_with("WHARF_API_KEY: "), "{err}");
            assert!(!err.contains(key), "the value is never echoed");
        }
        assert!(keys(&["a key with spaces & symbols!"]).is_enabled());
    }

    #[test]
    fn only_api_routes_are_guarded() {
        assert!(guards("/api/sessions"));
        assert!(guards("/api"));
        assert!(!guards("/ping"));
        assert!(!guards("/apiary"));
    }
}
