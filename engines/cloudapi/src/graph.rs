//! A small client for the parts of Meta's Graph API this engine uses, and
//! the mapping of Meta's errors to wharf's error kinds.
//!
//! The access token travels only in the `Authorization` header and is never
//! put in a URL, a log line or an error message.

use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use wharf_engine_api::{EngineError, ErrorKind};

/// How long one Graph API request may take.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(20);

/// Where and as whom to call the Graph API.
pub(crate) struct Graph {
    http: reqwest::Client,
    base_url: String,
    version: String,
    phone_number_id: String,
    token: String,
}

/// The business phone number, as `GET /{phone-number-id}` describes it.
#[derive(Debug, Deserialize)]
pub(crate) struct PhoneNumber {
    pub display_phone_number: Option<String>,
    pub verified_name: Option<String>,
}

/// Meta's error object: `{"error": {"message", "type", "code", …}}`.
#[derive(Debug, Deserialize)]
struct ErrorEnvelope {
    error: MetaError,
}

#[derive(Debug, Deserialize)]
struct MetaError {
    message: String,
    #[serde(default)]
    code: i64,
    #[serde(default)]
    error_data: Option<Value>,
}

#[derive(Serialize)]
struct BlockRequest<'a> {
    messaging_product: &'static str,
    block_users: [BlockUser<'a>; 1],
}

#[derive(Serialize)]
struct BlockUser<'a> {
    user: &'a str,
}

/// `block_users` in the answer to a block or unblock: per-user outcomes.
#[derive(Debug, Default, Deserialize)]
struct BlockAnswer {
    #[serde(default)]
    block_users: BlockOutcome,
}

#[derive(Debug, Default, Deserialize)]
struct BlockOutcome {
    #[serde(default)]
    failed_users: Vec<FailedUser>,
}

#[derive(Debug, Deserialize)]
struct FailedUser {
    input: String,
    #[serde(default)]
    errors: Vec<MetaError>,
}

impl Graph {
    pub(crate) fn new(
        base_url: &str,
        version: &str,
        phone_number_id: &str,
        token: &str,
    ) -> Result<Self, EngineError> {
        let http = reqwest::Client::builder()
            .timeout(REQUEST_TIMEOUT)
            .build()
            .map_err(|err| EngineError::internal(format!("cannot build the HTTP client: {err}")))?;
        Ok(Self {
            http,
            base_url: base_url.trim_end_matches('/').to_owned(),
            version: version.to_owned(),
            phone_number_id: phone_number_id.to_owned(),
            token: token.to_owned(),
        })
    }

    fn url(&self, tail: &str) -> String {
        format!(
            "{}/{}/{}{tail}",
            self.base_url, self.version, self.phone_number_id
        )
    }

    async fn send(
        &self,
        method: Method,
        url: String,
        body: Option<&BlockRequest<'_>>,
    ) -> Result<Value, EngineError> {
        let mut request = self.http.request(method, url).bearer_auth(&self.token);
        if let Some(body) = body {
            request = request.json(body);
        }
        let response = request.send().await.map_err(|err| {
            // reqwest's message names the URL, which holds no secret.
            EngineError::unavailable(format!("cannot reach the Graph API: {}", err.without_url()))
        })?;
        let status = response.status();
        let text = response.text().await.map_err(|err| {
            EngineError::unavailable(format!("the Graph API answer broke off: {err}"))
        })?;
        if status.is_success() {
            return serde_json::from_str(&text).map_err(|err| {
                EngineError::internal(format!(
                    "the Graph API answered something that is not JSON: {err}"
                ))
            });
        }
        Err(error_from_answer(status, &text))
    }

    /// Checks the token and the phone number id.
    pub(crate) async fn phone_number(&self) -> Result<PhoneNumber, EngineError> {
        let url = format!("{}?fields=display_phone_number,verified_name", self.url(""));
        let answer = self.send(Method::GET, url, None).await?;
        serde_json::from_value(answer)
            .map_err(|err| EngineError::internal(format!("unexpected phone number answer: {err}")))
    }

    /// Blocks (`POST`) or unblocks (`DELETE`) one user by phone number.
    pub(crate) async fn set_blocked(&self, phone: &str, blocked: bool) -> Result<(), EngineError> {
        let body = BlockRequest {
            messaging_product: "whatsapp",
            block_users: [BlockUser { user: phone }],
        };
        let method = if blocked {
            Method::POST
        } else {
            Method::DELETE
        };
        let answer = self
            .send(method, self.url("/block_users"), Some(&body))
            .await?;
        let answer: BlockAnswer = serde_json::from_value(answer).unwrap_or_default();
        match answer.block_users.failed_users.into_iter().next() {
            None => Ok(()),
            Some(failed) => {
                let reason = failed
                    .errors
                    .first()
                    .map_or("no reason given".to_owned(), describe);
                Err(EngineError::new(
                    failed.errors.first().map_or(ErrorKind::INVALID_INPUT, |e| {
                        kind_of(StatusCode::BAD_REQUEST, e.code)
                    }),
                    format!(
                        "Meta could not change the block of {}: {reason}",
                        failed.input
                    ),
                ))
            }
        }
    }
}

/// Meta's message, with the details Meta adds when it has them.
fn describe(error: &MetaError) -> String {
    let details = error
        .error_data
        .as_ref()
        .and_then(|data| data.get("details"))
        .and_then(Value::as_str);
    match details {
        Some(details) if !details.is_empty() => {
            format!("{} ({details}; code {})", error.message, error.code)
        }
        _ => format!("{} (code {})", error.message, error.code),
    }
}

/// The kind of a Meta error, from its code first and HTTP status second.
/// Codes: <https://developers.facebook.com/docs/whatsapp/cloud-api/support/error-codes>.
fn kind_of(status: StatusCode, code: i64) -> ErrorKind {
    match code {
        // Throttling: API, application, account and pair rate limits.
        4 | 80007 | 130429 | 131056 => ErrorKind::RATE_LIMITED,
        // The access token is invalid or expired, or lacks a permission.
        0 | 190 | 10 | 200..=299 => ErrorKind::UNAVAILABLE,
        // Meta's side is down or overloaded.
        1 | 2 | 131000 | 131016 => ErrorKind::UNAVAILABLE,
        // Invalid parameter, unknown object, user cannot be reached or blocked.
        100 | 131008 | 131009 | 131026 | 131047 | 139100..=139199 => ErrorKind::INVALID_INPUT,
        _ if status == StatusCode::NOT_FOUND => ErrorKind::NOT_FOUND,
        _ if status == StatusCode::TOO_MANY_REQUESTS => ErrorKind::RATE_LIMITED,
        _ if status.is_server_error() => ErrorKind::UNAVAILABLE,
        _ if status.is_client_error() => ErrorKind::INVALID_INPUT,
        _ => ErrorKind::INTERNAL,
    }
}

/// An [`EngineError`] from an unsuccessful Graph API answer.
fn error_from_answer(status: StatusCode, body: &str) -> EngineError {
    match serde_json::from_str::<ErrorEnvelope>(body) {
        Ok(ErrorEnvelope { error }) => EngineError::new(
            kind_of(status, error.code),
            format!("Graph API: {}", describe(&error)),
        ),
        Err(_) => EngineError::new(
            kind_of(status, -1),
            format!("Graph API answered HTTP {status} without an error object"),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta(status: u16, code: i64, message: &str) -> EngineError {
        let body = serde_json::json!({
            "error": {"message": message, "type": "OAuthException", "code": code, "fbtrace_id": "AbC"}
        });
        error_from_answer(StatusCode::from_u16(status).unwrap(), &body.to_string())
    }

    #[test]
    fn meta_errors_map_to_wharf_kinds() {
        assert_eq!(
            meta(400, 130429, "Rate limit hit").kind,
            ErrorKind::RATE_LIMITED
        );
        assert_eq!(
            meta(400, 80007, "Rate limit issues").kind,
            ErrorKind::RATE_LIMITED
        );
        assert_eq!(
            meta(401, 190, "Invalid OAuth access token").kind,
            ErrorKind::UNAVAILABLE
        );
        assert_eq!(
            meta(400, 100, "Invalid parameter").kind,
            ErrorKind::INVALID_INPUT
        );
        assert_eq!(
            meta(400, 139100, "Failed to block/unblock users").kind,
            ErrorKind::INVALID_INPUT
        );
        assert_eq!(
            meta(500, 131000, "Something went wrong").kind,
            ErrorKind::UNAVAILABLE
        );
        assert_eq!(meta(404, 803, "Unknown path").kind, ErrorKind::NOT_FOUND);
        let error = meta(
            401,
            190,
            "Invalid OAuth access token - Cannot parse access token",
        );
        assert_eq!(
            error.message,
            "Graph API: Invalid OAuth access token - Cannot parse access token (code 190)"
        );
    }

    #[test]
    fn answers_without_an_error_object_still_say_what_happened() {
        let error = error_from_answer(StatusCode::BAD_GATEWAY, "<html>bad gateway</html>");
        assert_eq!(error.kind, ErrorKind::UNAVAILABLE);
        assert!(error.message.contains("502"), "{error}");
    }
}
