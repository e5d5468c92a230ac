//! `GET /metrics`, for Prometheus: see [`crate::metrics`].

use axum::{
    extract::State,
    http::{HeaderMap, header},
    response::{IntoResponse, Response},
};

use crate::http::{AppState, auth, errors::ApiError};

/// The content type of the OpenMetrics text format, which Prometheus reads.
const OPENMETRICS: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// The metrics, behind the API key unless `--metrics-public`.
pub(crate) async fn scrape(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    if !state.metrics_public {
        let presented = headers.get(auth::HEADER).and_then(|key| key.to_str().ok());
        state.api_keys.check(presented)?;
    }
    let text = crate::metrics::render(&state.sessions, &state.registry);
    Ok(([(header::CONTENT_TYPE, OPENMETRICS)], text).into_response())
}
