//! WAHA's sessions routes (create, list, get).

use axum::{Json, Router, extract::State, http::StatusCode, routing::get};
use serde::Deserialize;
use serde_json::Value;

use super::{
    AppState,
    extract::{ApiJson, ApiPath},
};
use crate::{
    errors::ApiError,
    sessions::{NewSession, SessionInfo},
};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/sessions", get(list).post(create))
        .route("/api/sessions/{session}", get(get_one))
}

/// Body of `POST /api/sessions`, as WAHA takes it.
#[derive(Deserialize)]
struct CreateRequest {
    #[serde(default = "default_name")]
    name: String,
    engine: Option<String>,
    #[serde(default = "empty_object")]
    config: Value,
    #[serde(default = "yes")]
    start: bool,
}

fn default_name() -> String {
    "default".into()
}

fn empty_object() -> Value {
    Value::Object(Default::default())
}

fn yes() -> bool {
    true
}

async fn create(
    State(state): State<AppState>,
    ApiJson(request): ApiJson<CreateRequest>,
) -> Result<(StatusCode, Json<SessionInfo>), ApiError> {
    let config = match request.config {
        Value::Null => empty_object(),
        config => config,
    };
    let session = state.sessions.create(NewSession {
        name: request.name,
        engine: request.engine,
        config,
        start: request.start,
    })?;
    Ok((StatusCode::CREATED, Json(session.info())))
}

async fn list(State(state): State<AppState>) -> Json<Vec<SessionInfo>> {
    Json(state.sessions.list().iter().map(|s| s.info()).collect())
}

async fn get_one(
    State(state): State<AppState>,
    ApiPath(name): ApiPath<String>,
) -> Result<Json<SessionInfo>, ApiError> {
    state
        .sessions
        .get(&name)
        .map(|session| Json(session.info()))
        .ok_or_else(|| ApiError::session_not_found(&name))
}
