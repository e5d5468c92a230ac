//! Request extractors whose rejections are [`ApiError`]s, so malformed input
//! gets the same WAHA-shaped 400 as every other error, naming the field.

use std::str::FromStr;

use axum::{
    extract::{FromRequest, FromRequestParts, Json, Path, Request, rejection::JsonRejection},
    http::{StatusCode, request::Parts},
};
use serde::de::DeserializeOwned;

use crate::errors::ApiError;

/// Path parameters.
pub struct ApiPath<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned + Send> FromRequestParts<S> for ApiPath<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        Path::<T>::from_request_parts(parts, state)
            .await
            .map(|Path(value)| ApiPath(value))
            .map_err(|rejection| ApiError::bad_request("path", rejection.body_text()))
    }
}

/// A JSON body.
pub struct ApiJson<T>(pub T);

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
/// through serde was a noticeable part of a request's cost. A field given
/// twice is refused rather than one of its values silently winning.
pub struct Params(Vec<(String, String)>);

impl<S: Send + Sync> FromRequestParts<S> for Params {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, ApiError> {
        let query = parts.uri.query().unwrap_or_default();
        let mut fields: Vec<(String, String)> = Vec::new();
        for (name, value) in form_urlencoded::parse(query.as_bytes()) {
            if fields.iter().any(|(seen, _)| *seen == name) {
                return Err(ApiError::bad_request(
                    &name,
                    "is given more than once; give it once",
                ));
            }
            fields.push((name.into_owned(), value.into_owned()));
        }
        Ok(Params(fields))
    }
}

impl Params {
    /// A field that may be absent.
    pub fn optional(&self, field: &str) -> Option<&str> {
        (self.0.iter())
            .find(|(name, _)| name == field)
            .map(|(_, value)| value.as_str())
    }

    /// A field that must be present and not empty.
    pub fn required(&self, field: &str) -> Result<&str, ApiError> {
        match self.optional(field) {
            Some(value) if !value.trim().is_empty() => Ok(value),
            Some(_) => Err(ApiError::bad_request(field, "must not be empty")),
            None => Err(ApiError::bad_request(field, "is required")),
        }
    }

    /// A whole number of at least zero, when present.
    pub fn count(&self, field: &str) -> Result<Option<u32>, ApiError> {
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
    pub fn flag(&self, field: &str) -> Result<Option<bool>, ApiError> {
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
    pub fn choice<T: Copy>(
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
