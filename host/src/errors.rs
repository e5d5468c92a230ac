//! The one error type every route answers with, in WAHA's JSON shape:
//! `{statusCode, error, message}` plus fields that help the client act.

use axum::{
    Json,
    http::StatusCode,
    response::{IntoResponse, Response},
};
use serde_json::{Map, Value, json};
use wharf_engine_api::{EngineError, ErrorKind, SessionStatus};

/// An error answer. Build it with the constructors, which decide the status.
#[derive(Debug, Clone)]
pub struct ApiError {
    status: StatusCode,
    message: String,
    details: Map<String, Value>,
}

impl ApiError {
    fn new(status: StatusCode, message: impl Into<String>) -> Self {
        Self {
            status,
            message: message.into(),
            details: Map::new(),
        }
    }

    fn with(mut self, key: &str, value: impl Into<Value>) -> Self {
        self.details.insert(key.to_owned(), value.into());
        self
    }

    /// The HTTP status of the answer.
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// Input the client sent is wrong; `field` names where.
    pub fn bad_request(field: &str, problem: impl std::fmt::Display) -> Self {
        Self::new(StatusCode::BAD_REQUEST, format!("{field}: {problem}")).with("field", field)
    }

    /// A request body that is not JSON of the right shape.
    pub fn bad_body(problem: impl std::fmt::Display) -> Self {
        Self::new(StatusCode::BAD_REQUEST, format!("body: {problem}")).with("field", "body")
    }

    /// A request body sent without `Content-Type: application/json`.
    pub fn unsupported_media_type() -> Self {
        Self::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "body: send JSON with the header Content-Type: application/json",
        )
    }

    /// A missing or wrong API key.
    pub fn unauthorized(message: &str) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, message)
    }

    /// No session with that name.
    pub fn session_not_found(session: &str) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            format!("session '{session}' does not exist; create it with POST /api/sessions"),
        )
        .with("session", session)
    }

    /// A session with that name exists already.
    pub fn session_exists(session: &str) -> Self {
        Self::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            format!("session '{session}' already exists"),
        )
        .with("session", session)
    }

    /// The session exists but is not in the status the request needs.
    pub fn session_not_in(
        session: &str,
        status: SessionStatus,
        reason: Option<&str>,
        needed: SessionStatus,
    ) -> Self {
        let advice = match status {
            SessionStatus::Stopped => format!("start it with POST /api/sessions/{session}/start"),
            SessionStatus::Starting => format!("wait until it is {}", needed.as_waha()),
            SessionStatus::ScanQrCode => format!(
                "pair it first (GET /api/{session}/auth/qr or POST /api/{session}/auth/request-code)"
            ),
            SessionStatus::Working => format!(
                "it is already paired; POST /api/sessions/{session}/logout to pair another account"
            ),
            SessionStatus::Failed => {
                format!("fix the cause, then POST /api/sessions/{session}/restart")
            }
        };
        let mut message = format!(
            "session '{session}' is {}, not {}: {advice}",
            status.as_waha(),
            needed.as_waha()
        );
        if let Some(reason) = reason {
            message.push_str(&format!(" (reason: {reason})"));
        }
        Self::new(StatusCode::UNPROCESSABLE_ENTITY, message)
            .with("session", session)
            .with("status", status.as_waha())
    }

    /// The session is in the right status but not ready for this yet.
    pub fn not_ready(session: &str, what: &str) -> Self {
        Self::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            format!("session '{session}': {what}"),
        )
        .with("session", session)
    }

    /// The session's engine does not support `feature`; the engine was not called.
    pub fn unsupported(
        engine: &str,
        feature: &str,
        reason: &str,
        supported_by: Vec<String>,
    ) -> Self {
        let mut message = format!("engine '{engine}' does not support {feature}: {reason}");
        if !supported_by.is_empty() {
            message.push_str(&format!(
                ". Loaded engines that support it: {}",
                supported_by.join(", ")
            ));
        }
        Self::new(StatusCode::NOT_IMPLEMENTED, message)
            .with("engine", engine)
            .with("feature", feature)
            .with("reason", reason)
            .with("supportedBy", supported_by)
    }

    /// The engine did not answer within the deadline.
    pub fn engine_timeout(engine: &str, feature: &str, seconds: f64) -> Self {
        Self::new(
            StatusCode::GATEWAY_TIMEOUT,
            format!("engine '{engine}' did not answer {feature} within {seconds} s"),
        )
        .with("engine", engine)
        .with("feature", feature)
    }

    /// An engine answered with an error.
    pub fn engine(engine: &str, error: EngineError) -> Self {
        let status = match error.kind {
            ErrorKind::NotFound => StatusCode::NOT_FOUND,
            ErrorKind::InvalidInput => StatusCode::BAD_REQUEST,
            ErrorKind::Unsupported => StatusCode::NOT_IMPLEMENTED,
            ErrorKind::RateLimited => StatusCode::TOO_MANY_REQUESTS,
            ErrorKind::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            ErrorKind::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        };
        Self::new(status, error.message.into_string())
            .with("engine", engine)
            .with("kind", error.kind.as_str())
    }

    /// The host's own storage failed.
    pub fn storage(error: crate::storage::StorageError) -> Self {
        tracing::error!(%error, "storage failure");
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, error.to_string())
    }

    /// Any other failure inside the host.
    pub fn internal(message: impl Into<String>) -> Self {
        let message = message.into();
        tracing::error!(%message, "internal error");
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, message)
    }

    /// A request body over the size limit.
    pub fn payload_too_large(limit_bytes: usize) -> Self {
        Self::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("body: larger than the {limit_bytes} bytes allowed"),
        )
        .with("field", "body")
    }

    /// A route that exists, but not for this method.
    pub fn method_not_allowed(method: &axum::http::Method, path: &str) -> Self {
        Self::new(
            StatusCode::METHOD_NOT_ALLOWED,
            format!("{path} does not take {method}"),
        )
    }

    /// A route that does not exist.
    pub fn route_not_found(path: &str) -> Self {
        Self::new(StatusCode::NOT_FOUND, format!("no route {path}"))
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.status.as_u16(), self.message)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut body = Map::new();
        body.insert("statusCode".into(), json!(self.status.as_u16()));
        body.insert(
            "error".into(),
            json!(self.status.canonical_reason().unwrap_or("Error")),
        );
        body.insert("message".into(), json!(self.message));
        body.extend(self.details);
        (self.status, Json(Value::Object(body))).into_response()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn body_of(error: ApiError) -> (StatusCode, Value) {
        let response = error.into_response();
        let status = response.status();
        let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .unwrap();
        (status, serde_json::from_slice(&bytes).unwrap())
    }

    #[tokio::test]
    async fn unsupported_names_engine_feature_reason_and_alternatives() {
        let error = ApiError::unsupported(
            "webjs",
            "contacts.upsert",
            "WhatsApp Web cannot add contacts",
            vec!["sandbox".into()],
        );
        let (status, body) = body_of(error).await;
        assert_eq!(status, StatusCode::NOT_IMPLEMENTED);
        assert_eq!(body["statusCode"], 501);
        assert_eq!(body["error"], "Not Implemented");
        assert_eq!(body["engine"], "webjs");
        assert_eq!(body["feature"], "contacts.upsert");
        assert_eq!(body["reason"], "WhatsApp Web cannot add contacts");
        assert_eq!(body["supportedBy"], json!(["sandbox"]));
    }

    #[tokio::test]
    async fn engine_errors_map_to_statuses() {
        for (kind, status) in [
            (ErrorKind::NotFound, 404),
            (ErrorKind::InvalidInput, 400),
            (ErrorKind::Unsupported, 501),
            (ErrorKind::RateLimited, 429),
            (ErrorKind::Unavailable, 503),
            (ErrorKind::Internal, 500),
        ] {
            let (got, body) = body_of(ApiError::engine("e", EngineError::new(kind, "m"))).await;
            assert_eq!(got.as_u16(), status);
            assert_eq!(body["message"], "m");
        }
    }
}
