//! The one error type every route answers with, in WAHA's JSON shape:
//! `{statusCode, error, message}` plus fields that help the client act.

use axum::{
    Json,
    http::StatusCode,
    response::{IntoResponse, Response},
};
use std::collections::BTreeMap;

use serde::Serialize;
use utoipa::{
    ToSchema,
    openapi::{self, ContentBuilder, Ref, RefOr, ResponseBuilder},
};
use wharf_engine_api::{EngineError, ErrorKind};

use crate::{
    dispatch::CallError,
    engines::Operation,
    sessions::{SessionError, Status},
};

/// The JSON body of every error answer.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ErrorBody {
    /// The HTTP status, repeated.
    #[schema(example = 404)]
    pub status_code: u16,
    /// The HTTP status's name.
    #[schema(example = "Not Found")]
    pub error: String,
    /// What went wrong and, where there is something to do, what.
    #[schema(example = "session 'sales' does not exist; create it with POST /api/sessions")]
    pub message: String,
    #[serde(flatten)]
    pub details: ErrorDetails,
}

/// Fields that help a client act on an error; each is present only where
/// it applies.
#[derive(Debug, Clone, Default, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ErrorDetails {
    /// The input field that is wrong (400, 413).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    /// The session concerned (404, 422).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub session: Option<String>,
    /// The session's status, when it is not the one needed (422).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<Status>,
    /// The engine concerned (501, engine errors, 504).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub engine: Option<String>,
    /// The feature key of the operation (501, 504).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub feature: Option<&'static str>,
    /// Why the engine does not support the feature (501).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Loaded engines that do support the feature (501).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub supported_by: Option<Vec<String>>,
    /// The engine's error kind (engine errors).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
}

/// An error answer. Build it with the constructors, which decide the status.
#[derive(Debug, Clone)]
pub(crate) struct ApiError {
    status: StatusCode,
    message: String,
    // Boxed: ApiError is the error of nearly every function in the host,
    // and the details are rarely more than one field.
    details: Box<ErrorDetails>,
}

impl ApiError {
    fn new(status: StatusCode, message: impl Into<String>) -> Self {
        Self {
            status,
            message: message.into(),
            details: Box::default(),
        }
    }

    fn with(mut self, details: ErrorDetails) -> Self {
        *self.details = details;
        self
    }

    fn with_field(self, field: &str) -> Self {
        self.with(ErrorDetails {
            field: Some(field.to_owned()),
            ..ErrorDetails::default()
        })
    }

    fn with_session(self, session: &str) -> Self {
        self.with(ErrorDetails {
            session: Some(session.to_owned()),
            ..ErrorDetails::default()
        })
    }

    /// The HTTP status of the answer.
    #[cfg(test)]
    pub(crate) fn status(&self) -> StatusCode {
        self.status
    }

    /// Input the client sent is wrong; `field` names where.
    pub(crate) fn bad_request(field: &str, problem: impl std::fmt::Display) -> Self {
        Self::new(StatusCode::BAD_REQUEST, format!("{field}: {problem}")).with_field(field)
    }

    /// A query field given twice: refused rather than one of its values
    /// silently counting.
    pub(crate) fn given_twice(field: &str) -> Self {
        Self::bad_request(field, "is given more than once; give it once")
    }

    /// A request body that is not JSON of the right shape.
    pub(crate) fn bad_body(problem: impl std::fmt::Display) -> Self {
        Self::new(StatusCode::BAD_REQUEST, format!("body: {problem}")).with_field("body")
    }

    /// A request body sent without `Content-Type: application/json`.
    pub(crate) fn unsupported_media_type() -> Self {
        Self::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "body: send JSON with the header Content-Type: application/json",
        )
    }

    /// A missing or wrong API key.
    pub(crate) fn unauthorized(message: &str) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, message)
    }

    /// No session with that name.
    pub(crate) fn session_not_found(session: &str) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            format!("session '{session}' does not exist; create it with POST /api/sessions"),
        )
        .with_session(session)
    }

    /// A session with that name exists already.
    pub(crate) fn session_exists(session: &str) -> Self {
        Self::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            format!("session '{session}' already exists"),
        )
        .with_session(session)
    }

    /// The session exists but is not in the status the request needs.
    pub(crate) fn session_not_in(
        session: &str,
        status: Status,
        reason: Option<&str>,
        needed: Status,
    ) -> Self {
        let advice = match status {
            Status::Stopped => format!("start it with POST /api/sessions/{session}/start"),
            Status::Starting => format!("wait until it is {needed}"),
            Status::ScanQrCode => format!(
                "pair it first (GET /api/{session}/auth/qr or POST /api/{session}/auth/request-code)"
            ),
            Status::Working => format!(
                "it is already paired; POST /api/sessions/{session}/logout to pair another account"
            ),
            Status::Failed => format!("fix the cause, then POST /api/sessions/{session}/restart"),
        };
        let mut message = format!(
            "session '{session}' is {}, not {}: {advice}",
            status, needed
        );
        if let Some(reason) = reason {
            message.push_str(&format!(" (reason: {reason})"));
        }
        Self::new(StatusCode::UNPROCESSABLE_ENTITY, message).with(ErrorDetails {
            session: Some(session.to_owned()),
            status: Some(status),
            ..ErrorDetails::default()
        })
    }

    /// The session is in the right status but not ready for this yet.
    pub(crate) fn not_ready(session: &str, what: &str) -> Self {
        Self::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            format!("session '{session}': {what}"),
        )
        .with_session(session)
    }

    /// The session's engine does not support `operation`; the engine was
    /// not called.
    pub(crate) fn unsupported(
        engine: &str,
        operation: Operation,
        reason: &str,
        supported_by: Vec<String>,
    ) -> Self {
        let mut message = format!("engine '{engine}' does not support {operation}: {reason}");
        if !supported_by.is_empty() {
            message.push_str(&format!(
                ". Loaded engines that support it: {}",
                supported_by.join(", ")
            ));
        }
        Self::new(StatusCode::NOT_IMPLEMENTED, message).with(ErrorDetails {
            engine: Some(engine.to_owned()),
            feature: Some(operation.key()),
            reason: Some(reason.to_owned()),
            supported_by: Some(supported_by),
            ..ErrorDetails::default()
        })
    }

    /// The engine did not answer within the deadline.
    pub(crate) fn engine_timeout(engine: &str, operation: Operation, seconds: f64) -> Self {
        Self::new(
            StatusCode::GATEWAY_TIMEOUT,
            format!("engine '{engine}' did not answer {operation} within {seconds} s"),
        )
        .with(ErrorDetails {
            engine: Some(engine.to_owned()),
            feature: Some(operation.key()),
            ..ErrorDetails::default()
        })
    }

    /// An engine answered with an error. A kind this host does not know
    /// (from an engine built against a later contract) is an internal
    /// error that keeps the engine's message.
    pub(crate) fn engine(engine: &str, error: EngineError) -> Self {
        let kind = error.kind.known();
        let status = match kind {
            ErrorKind::NOT_FOUND => StatusCode::NOT_FOUND,
            ErrorKind::INVALID_INPUT => StatusCode::BAD_REQUEST,
            ErrorKind::UNSUPPORTED => StatusCode::NOT_IMPLEMENTED,
            ErrorKind::RATE_LIMITED => StatusCode::TOO_MANY_REQUESTS,
            ErrorKind::UNAVAILABLE => StatusCode::SERVICE_UNAVAILABLE,
            _ => StatusCode::INTERNAL_SERVER_ERROR,
        };
        Self::new(status, error.message.into_string()).with(ErrorDetails {
            engine: Some(engine.to_owned()),
            kind: kind.name().map(str::to_owned),
            ..ErrorDetails::default()
        })
    }

    /// The host's own storage failed.
    pub(crate) fn storage(error: crate::storage::StorageError) -> Self {
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, error.to_string())
    }

    /// Any other failure inside the host.
    pub(crate) fn internal(message: impl Into<String>) -> Self {
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, message)
    }

    /// A request body over the size limit.
    pub(crate) fn payload_too_large(limit_bytes: usize) -> Self {
        Self::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("body: larger than the {limit_bytes} bytes allowed"),
        )
        .with_field("body")
    }

    /// A request body that did not arrive in full within the body timeout.
    pub(crate) fn body_timeout(seconds: f64) -> Self {
        Self::new(
            StatusCode::REQUEST_TIMEOUT,
            format!("body: not received in full within {seconds} s"),
        )
        .with_field("body")
    }

    /// Every connection the server allows is busy with a request.
    pub(crate) fn too_many_connections(limit: usize) -> Self {
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            format!(
                "the server is busy: all {limit} connections it allows have a request under way; try again shortly"
            ),
        )
    }

    /// A route that exists, but not for this method.
    pub(crate) fn method_not_allowed(method: &axum::http::Method, path: &str) -> Self {
        Self::new(
            StatusCode::METHOD_NOT_ALLOWED,
            format!("{path} does not take {method}"),
        )
    }

    /// A route that does not exist.
    pub(crate) fn route_not_found(path: &str) -> Self {
        Self::new(StatusCode::NOT_FOUND, format!("no route {path}"))
    }
}

/// The error answers a route can give, for its OpenAPI description.
fn responses(answers: &[(StatusCode, &str)]) -> BTreeMap<String, RefOr<openapi::Response>> {
    answers
        .iter()
        .map(|(status, description)| {
            let response = ResponseBuilder::new()
                .description(*description)
                .content(
                    "application/json",
                    ContentBuilder::new()
                        .schema(Some(Ref::from_schema_name("ErrorBody")))
                        .build(),
                )
                .build();
            (status.as_u16().to_string(), RefOr::T(response))
        })
        .collect()
}

const UNAUTHORIZED: (StatusCode, &str) = (
    StatusCode::UNAUTHORIZED,
    "An API key is set and X-Api-Key is missing or wrong",
);
const BAD_INPUT: (StatusCode, &str) = (
    StatusCode::BAD_REQUEST,
    "Bad input: `field` names the query parameter or body field",
);
const UNKNOWN_SESSION: (StatusCode, &str) = (StatusCode::NOT_FOUND, "No session with that name");

/// Errors of a route that calls a session's engine.
pub(crate) struct EngineRouteErrors;

impl utoipa::IntoResponses for EngineRouteErrors {
    fn responses() -> BTreeMap<String, RefOr<openapi::Response>> {
        responses(&[
            BAD_INPUT,
            UNAUTHORIZED,
            (
                StatusCode::NOT_FOUND,
                "No session with that name, or the engine found no such contact",
            ),
            (
                StatusCode::UNPROCESSABLE_ENTITY,
                "The session is not in the status the operation needs; `status` says which it is",
            ),
            (
                StatusCode::TOO_MANY_REQUESTS,
                "WhatsApp asked the engine to slow down",
            ),
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                "The engine failed or panicked; the host keeps serving",
            ),
            (
                StatusCode::NOT_IMPLEMENTED,
                "The session's engine does not support this feature and was not called: \
                 `engine`, `feature`, `reason`, and `supportedBy` (loaded engines that do)",
            ),
            (
                StatusCode::SERVICE_UNAVAILABLE,
                "The engine is not connected to WhatsApp",
            ),
            (
                StatusCode::GATEWAY_TIMEOUT,
                "The engine did not answer within the host's deadline",
            ),
        ])
    }
}

/// Errors of a route that manages sessions.
pub(crate) struct SessionRouteErrors;

impl utoipa::IntoResponses for SessionRouteErrors {
    fn responses() -> BTreeMap<String, RefOr<openapi::Response>> {
        responses(&[
            BAD_INPUT,
            UNAUTHORIZED,
            UNKNOWN_SESSION,
            (
                StatusCode::UNPROCESSABLE_ENTITY,
                "A session with that name already exists",
            ),
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                "The host could not store the change",
            ),
        ])
    }
}

/// Errors of a route that takes a JSON body, besides its others.
pub(crate) struct BodyErrors;

impl utoipa::IntoResponses for BodyErrors {
    fn responses() -> BTreeMap<String, RefOr<openapi::Response>> {
        responses(&[
            (
                StatusCode::PAYLOAD_TOO_LARGE,
                "The body is larger than 64 KiB",
            ),
            (
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "The body is not sent as Content-Type: application/json",
            ),
            (
                StatusCode::REQUEST_TIMEOUT,
                "The body did not arrive in full within the server's body timeout",
            ),
        ])
    }
}

/// Errors of `POST /api/server/engines/reload`.
pub(crate) struct ReloadErrors;

impl utoipa::IntoResponses for ReloadErrors {
    fn responses() -> BTreeMap<String, RefOr<openapi::Response>> {
        responses(&[
            UNAUTHORIZED,
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                "The engines directory cannot be read; the engines loaded before stay as they were",
            ),
        ])
    }
}

/// Errors of a route that only reads a session or the server.
pub(crate) struct ReadErrors;

impl utoipa::IntoResponses for ReadErrors {
    fn responses() -> BTreeMap<String, RefOr<openapi::Response>> {
        responses(&[BAD_INPUT, UNAUTHORIZED, UNKNOWN_SESSION])
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.status.as_u16(), self.message)
    }
}

impl From<SessionError> for ApiError {
    fn from(error: SessionError) -> Self {
        match error {
            SessionError::NotFound { session } => Self::session_not_found(&session),
            SessionError::Exists { session } => Self::session_exists(&session),
            SessionError::Invalid { field, problem } => Self::bad_request(&field, problem),
            SessionError::Storage(error) => Self::storage(error),
            SessionError::DataNotRemoved(problem) => Self::internal(problem),
        }
    }
}

impl From<CallError> for ApiError {
    fn from(error: CallError) -> Self {
        match error {
            CallError::Session(error) => error.into(),
            CallError::NotIn {
                session,
                status,
                reason,
                needed,
            } => Self::session_not_in(&session, status, reason.as_deref(), needed),
            CallError::Unsupported {
                engine,
                operation,
                reason,
                supported_by,
            } => Self::unsupported(&engine, operation, &reason, supported_by),
            CallError::Engine { engine, error } => Self::engine(&engine, error),
            CallError::TimedOut {
                engine,
                operation,
                deadline,
            } => Self::engine_timeout(&engine, operation, deadline.as_secs_f64()),
        }
    }
}

/// The one place a failure of the host's own is logged: when it becomes
/// an answer. An engine's errors are logged where they arrive.
impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if self.status == StatusCode::INTERNAL_SERVER_ERROR && self.details.engine.is_none() {
            tracing::error!(message = %self.message, "internal error");
        }
        let body = ErrorBody {
            status_code: self.status.as_u16(),
            error: self.status.canonical_reason().unwrap_or("Error").to_owned(),
            message: self.message,
            details: *self.details,
        };
        (self.status, Json(body)).into_response()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use serde_json::{Value, json};

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
            Operation::ContactsUpsert,
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
            (ErrorKind::NOT_FOUND, 404),
            (ErrorKind::INVALID_INPUT, 400),
            (ErrorKind::UNSUPPORTED, 501),
            (ErrorKind::RATE_LIMITED, 429),
            (ErrorKind::UNAVAILABLE, 503),
            (ErrorKind::INTERNAL, 500),
        ] {
            let (got, body) = body_of(ApiError::engine("e", EngineError::new(kind, "m"))).await;
            assert_eq!(got.as_u16(), status);
            assert_eq!(body["message"], "m");
            assert_eq!(body["engine"], "e");
            assert_eq!(body["kind"], kind.name().unwrap());
        }
    }

    #[tokio::test]
    async fn an_error_kind_from_a_later_contract_is_an_internal_error_with_its_message() {
        let later = EngineError::new(ErrorKind::from_code(200), "quota of the new kind exceeded");
        let (got, body) = body_of(ApiError::engine("e", later)).await;
        assert_eq!(got, StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(body["message"], "quota of the new kind exceeded");
        assert_eq!(body["kind"], "internal");
    }
}
