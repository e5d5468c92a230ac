//! WAHA's sessions routes: the lifecycle of a session.

use axum::{
    Json, Router,
    extract::State,
    http::StatusCode,
    routing::{get, post},
};
use serde::Deserialize;
use serde_json::Value;

use super::{
    AppState,
    extract::{ApiJson, ApiPath, Params},
};
use crate::{
    errors::ApiError,
    sessions::{Me, NewSession, SessionInfo, SessionUpdate},
};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/sessions", get(list).post(create))
        .route(
            "/api/sessions/{session}",
            get(get_one).put(update).delete(delete),
        )
        .route("/api/sessions/{session}/start", post(start))
        .route("/api/sessions/{session}/stop", post(stop))
        .route("/api/sessions/{session}/restart", post(restart))
        .route("/api/sessions/{session}/logout", post(logout))
        .route("/api/sessions/{session}/me", get(me))
}

type Answer = Result<Json<SessionInfo>, ApiError>;

/// Body of `POST /api/sessions`, as WAHA takes it.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CreateRequest {
    #[serde(default = "default_name")]
    name: String,
    engine: Option<String>,
    config: Option<Value>,
    #[serde(default = "yes")]
    start: bool,
}

fn default_name() -> String {
    "default".into()
}

fn yes() -> bool {
    true
}

/// `null` and absent both mean "no config".
fn config_or_empty(config: Option<Value>) -> Value {
    match config {
        None | Some(Value::Null) => Value::Object(Default::default()),
        Some(config) => config,
    }
}

async fn create(
    State(state): State<AppState>,
    ApiJson(request): ApiJson<CreateRequest>,
) -> Result<(StatusCode, Json<SessionInfo>), ApiError> {
    let session = state
        .sessions
        .create(NewSession {
            name: request.name,
            engine: request.engine,
            config: config_or_empty(request.config),
            start: request.start,
        })
        .await?;
    Ok((StatusCode::CREATED, Json(state.sessions.info(&session))))
}

/// `GET /api/sessions`: running sessions; `?all=true` adds stopped ones.
async fn list(
    State(state): State<AppState>,
    params: Params,
) -> Result<Json<Vec<SessionInfo>>, ApiError> {
    let all = params.flag("all")?.unwrap_or(false);
    let sessions = state
        .sessions
        .list()
        .iter()
        .map(|session| state.sessions.info(session))
        .filter(|info| all || info.status != "STOPPED")
        .collect();
    Ok(Json(sessions))
}

async fn get_one(State(state): State<AppState>, ApiPath(name): ApiPath<String>) -> Answer {
    let session = state.sessions.find(&name)?;
    Ok(Json(state.sessions.info(&session)))
}

/// Body of `PUT /api/sessions/{session}`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct UpdateRequest {
    /// WAHA clients send the name back; it cannot change.
    name: Option<String>,
    engine: Option<String>,
    config: Option<Value>,
}

async fn update(
    State(state): State<AppState>,
    ApiPath(name): ApiPath<String>,
    ApiJson(request): ApiJson<UpdateRequest>,
) -> Answer {
    let session = state.sessions.find(&name)?;
    if request.name.as_ref().is_some_and(|new| new != &name) {
        return Err(ApiError::bad_request("name", "a session cannot be renamed"));
    }
    let update = SessionUpdate {
        engine: request.engine,
        config: request.config.map(|config| config_or_empty(Some(config))),
    };
    state.sessions.update(&session, update).await?;
    Ok(Json(state.sessions.info(&session)))
}

async fn delete(
    State(state): State<AppState>,
    ApiPath(name): ApiPath<String>,
) -> Result<Json<Value>, ApiError> {
    let session = state.sessions.find(&name)?;
    state.sessions.delete(&session).await?;
    Ok(Json(serde_json::json!({ "success": true })))
}

async fn start(State(state): State<AppState>, ApiPath(name): ApiPath<String>) -> Answer {
    let session = state.sessions.find(&name)?;
    state.sessions.start(&session).await?;
    Ok(Json(state.sessions.info(&session)))
}

async fn stop(State(state): State<AppState>, ApiPath(name): ApiPath<String>) -> Answer {
    let session = state.sessions.find(&name)?;
    state.sessions.stop(&session).await?;
    Ok(Json(state.sessions.info(&session)))
}

async fn restart(State(state): State<AppState>, ApiPath(name): ApiPath<String>) -> Answer {
    let session = state.sessions.find(&name)?;
    state.sessions.restart(&session).await?;
    Ok(Json(state.sessions.info(&session)))
}

async fn logout(State(state): State<AppState>, ApiPath(name): ApiPath<String>) -> Answer {
    let session = state.sessions.find(&name)?;
    state.sessions.logout(&session).await?;
    Ok(Json(state.sessions.info(&session)))
}

/// The account the session is logged in as; `null` until the engine says.
async fn me(
    State(state): State<AppState>,
    ApiPath(name): ApiPath<String>,
) -> Result<Json<Option<Me>>, ApiError> {
    let session = state.sessions.find(&name)?;
    Ok(Json(session.run().state().me()))
}
