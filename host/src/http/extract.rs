//! Request extractors whose rejections are [`ApiError`]s, so malformed input
//! gets the same WAHA-shaped 400 as every other error, naming the field;
//! and the JSON answer of the routes called most.

use std::str::FromStr;

use axum::{
    extract::{FromRequest, FromRequestParts, Json, Path, Request, rejection::JsonRejection},
    http::{HeaderValue, StatusCode, header, request::Parts},
    response::{IntoResponse, Response},
};
use serde::{Serialize, de::DeserializeOwned};

use crate::http::errors::ApiError;

/// Path parameters.
pub(super) struct ApiPath<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned + Send> FromRequestParts<S> for ApiPath<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        Path::<T>::from_request_parts(parts, state)
            .await
            .map(|Path(value)| ApiPath(value))
            .map_err(|rejection| ApiError::bad_request("path", rejection.body_text()))
    }
}

/// A JSON body, as a request's or an answer's.
///
/// As an answer it differs from axum's `Json` in the buffer it starts
/// with: one a contact fits in, so a typical answer is written without
/// growing it.
pub(super) struct ApiJson<T>(pub T);

/// Bytes a serialized answer starts with room for.
const ANSWER_CAPACITY: usize = 512;

impl<T: Serialize> IntoResponse for ApiJson<T> {
    fn into_response(self) -> Response {
        let mut bytes = Vec::with_capacity(ANSWER_CAPACITY);
        match serde_json::to_writer(&mut bytes, &self.0) {
            Ok(()) => json_answer(bytes),
            Err(err) => {
                ApiError::internal(format!("cannot write the answer: {err}")).into_response()
            }
        }
    }
}

/// A 200 answer of JSON already written.
pub(super) fn json_answer(bytes: Vec<u8>) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        bytes,
    )
        .into_response()
}

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, ApiError> {
        match Json::<T>::from_request(request, state).await {
            Ok(Json(value)) => Ok(ApiJson(value)),
            Err(JsonRejection::MissingJsonContentType(_)) => {
                Err(ApiError::unsupported_media_type())
            }
            Err(JsonRejection::JsonDataError(err)) => Err(ApiError::bad_body(inner_cause(&err))),
            Err(JsonRejection::JsonSyntaxError(err)) => Err(ApiError::bad_body(inner_cause(&err))),
            Err(other) if other.status() == StatusCode::PAYLOAD_TOO_LARGE => {
                Err(ApiError::payload_too_large(super::MAX_BODY_BYTES))
            }
            Err(other) => Err(ApiError::bad_body(other.body_text())),
        }
    }
}

/// serde's own message ("missing field `contactId` at line 1 column 2")
/// names the field; axum's wrapper text around it does not add anything.
fn inner_cause(err: &dyn std::error::Error) -> String {
    let mut cause: &dyn std::error::Error = err;
    while let Some(source) = cause.source() {
        cause = source;
    }
    cause.to_string()
}

/// The query string, read field by field so each error names its field.
///
/// Decoded by hand rather than through axum's `Query`: a request has a
/// few fields, looked up one by one, and deserializing them into a map
/// through serde was a noticeable part of a request's cost. The decoded
/// fields share one string. A field given twice is refused rather than one
/// of its values silently winning, and so is a query of more fields than
/// any route takes, which would only make the duplicate check costly.
pub(super) struct Params {
    /// Each field's decoded name, then its value, one after another.
    text: String,
    /// Where each name and each value ends in `text`.
    ends: [usize; 2 * MAX_PARAMS],
    count: usize,
}

/// More query fields than any route takes (the most is five).
const MAX_PARAMS: usize = 16;

impl<S: Send + Sync> FromRequestParts<S> for Params {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, ApiError> {
        let query = parts.uri.query().unwrap_or_default();
        let mut params = Params {
            text: String::with_capacity(query.len()),
            ends: [0; 2 * MAX_PARAMS],
            count: 0,
        };
        for (name, value) in form_urlencoded::parse(query.as_bytes()) {
            if params.count == MAX_PARAMS {
                return Err(ApiError::bad_request(
                    "query",
                    format!("has more than {MAX_PARAMS} fields"),
                ));
            }
            if params.optional(&name).is_some() {
                return Err(ApiError::given_twice(&name));
            }
            params.text.push_str(&name);
            params.ends[2 * params.count] = params.text.len();
            params.text.push_str(&value);
            params.ends[2 * params.count + 1] = params.text.len();
            params.count += 1;
        }
        Ok(params)
    }
}

impl Params {
    /// A field that may be absent.
    pub(super) fn optional(&self, field: &str) -> Option<&str> {
        let mut start = 0;
        for bounds in self.ends[..2 * self.count].chunks_exact(2) {
            let [name_end, value_end] = [bounds[0], bounds[1]];
            if &self.text[start..name_end] == field {
                return Some(&self.text[name_end..value_end]);
            }
            start = value_end;
        }
        None
    }

    /// A field that must be present and not empty.
    pub(super) fn required(&self, field: &str) -> Result<&str, ApiError> {
        match self.optional(field) {
            Some(value) if !value.trim().is_empty() => Ok(value),
            Some(_) => Err(ApiError::bad_request(field, "must not be empty")),
            None => Err(ApiError::bad_request(field, "is required")),
        }
    }

    /// A whole number of at least zero, when present.
    pub(super) fn count(&self, field: &str) -> Result<Option<u32>, ApiError> {
        self.optional(field)
            .map(|raw| {
                u32::from_str(raw.trim()).map_err(|_| {
                    ApiError::bad_request(
                        field,
                        format!("'{raw}' must be a whole number, 0 or more"),
                    )
                })
            })
            .transpose()
    }

    /// `true` or `false` (any case), when present.
    pub(super) fn flag(&self, field: &str) -> Result<Option<bool>, ApiError> {
        self.optional(field)
            .map(|raw| match raw.trim().to_ascii_lowercase().as_str() {
                "true" | "1" => Ok(true),
                "false" | "0" => Ok(false),
                _ => Err(ApiError::bad_request(
                    field,
                    format!("'{raw}' must be true or false"),
                )),
            })
            .transpose()
    }

    /// One of `choices` (case-insensitive), when present.
    pub(super) fn choice<T: Copy>(
        &self,
        field: &str,
        choices: &[(&str, T)],
    ) -> Result<Option<T>, ApiError> {
        let Some(raw) = self.optional(field) else {
            return Ok(None);
        };
        choices
            .iter()
            .find(|(name, _)| name.eq_ignore_ascii_case(raw.trim()))
            .map(|(_, value)| Some(*value))
            .ok_or_else(|| {
                let names: Vec<&str> = choices.iter().map(|(name, _)| *name).collect();
                ApiError::bad_request(
                    field,
                    format!("'{raw}' must be one of: {}", names.join(", ")),
                )
            })
    }
}

#[cfg(test)]
mod tests {
    use axum::http::Request;

    use super::*;

    async fn params(query: &str) -> Result<Params, ApiError> {
        let (mut parts, ()) = Request::get(format!("/api/contacts?{query}"))
            .body(())
            .unwrap()
            .into_parts();
        Params::from_request_parts(&mut parts, &()).await
    }

    async fn field_of(error: ApiError) -> String {
        let body = axum::response::IntoResponse::into_response(error).into_body();
        let bytes = axum::body::to_bytes(body, usize::MAX).await.unwrap();
        let body: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
        body["field"].as_str().unwrap_or_default().to_owned()
    }

    #[tokio::test]
    async fn fields_are_decoded_and_found_by_name() {
        let params = params("session=default&contactId=%2B1%20415&empty=&plus=a+b")
            .await
            .unwrap();
        assert_eq!(params.optional("session"), Some("default"));
        assert_eq!(params.optional("contactId"), Some("+1 415"));
        assert_eq!(params.optional("plus"), Some("a b"));
        assert_eq!(params.optional("empty"), Some(""));
        assert_eq!(params.optional("sess"), None);
        assert_eq!(params.optional("sessiondefault"), None);
        assert_eq!(
            field_of(params.required("empty").unwrap_err()).await,
            "empty"
        );
        assert_eq!(
            field_of(params.required("absent").unwrap_err()).await,
            "absent"
        );
    }

    #[tokio::test]
    async fn a_field_given_twice_is_refused_by_its_name() {
        let refused = params("session=a&limit=1&session=b").await.err().unwrap();
        assert_eq!(field_of(refused).await, "session");
    }

    #[tokio::test]
    async fn more_fields_than_any_route_takes_are_refused() {
        let many: Vec<String> = (0..=MAX_PARAMS).map(|i| format!("f{i}=1")).collect();
        assert!(params(&many[..MAX_PARAMS].join("&")).await.is_ok());
        let refused = params(&many.join("&")).await.err().unwrap();
        assert_eq!(field_of(refused).await, "query");
    }
}
