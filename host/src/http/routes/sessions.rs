//! WAHA's sessions routes: the lifecycle of a session.
//!
//! Each change runs to its end on its own task, even when the client goes
//! away: hyper drops the handler of a closed connection, and an operation
//! dropped half way would leave the session half closed (an engine session
//! nobody closes, data left behind, a stored session that is not listed).

use std::{future::Future, sync::Arc};

use axum::{Json, extract::State, http::StatusCode, response::Response};
use serde::{Deserialize, Serialize, Serializer};
use serde_json::Value;
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::{
    http::{
        AppState, Success,
        errors::{ApiError, BodyErrors, ReadErrors, SessionRouteErrors},
        extract::{ApiJson, ApiPath, Params, json_answer},
    },
    sessions::{
        ManagedSession, Me, NewSession, SessionError, SessionInfo, SessionManager, SessionUpdate,
        Status,
    },
};

const TAG: &str = "🖥️ Sessions";

pub(crate) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list, create))
        .routes(routes!(get_one, update, delete))
        .routes(routes!(start))
        .routes(routes!(stop))
        .routes(routes!(restart))
        .routes(routes!(logout))
        .routes(routes!(me))
}

type Answer = Result<Json<SessionInfo>, ApiError>;

/// Runs `operation` on its own task, so it finishes even if the request is
/// dropped.
async fn to_completion<T: Send + 'static>(
    operation: impl Future<Output = Result<T, SessionError>> + Send + 'static,
) -> Result<T, ApiError> {
    tokio::spawn(operation)
        .await
        .map_err(|err| ApiError::internal(format!("the session operation failed: {err}")))?
        .map_err(ApiError::from)
}

/// Runs a lifecycle operation on `session` to its end and answers with the
/// session as it then is.
async fn change<F, Fut>(state: &AppState, session: Arc<ManagedSession>, operation: F) -> Answer
where
    F: FnOnce(Arc<SessionManager>, Arc<ManagedSession>) -> Fut,
    Fut: Future<Output = Result<(), SessionError>> + Send + 'static,
{
    to_completion(operation(Arc::clone(&state.sessions), Arc::clone(&session))).await?;
    Ok(Json(state.sessions.info(&session)))
}

/// Body of `POST /api/sessions`, as WAHA takes it. Fields wharf does not
/// know (WAHA's `apps`, …) are ignored, as WAHA ignores unknown fields.
#[derive(Deserialize, ToSchema)]
struct CreateRequest {
    /// Letters, digits, `-` and `_`; `default` when absent.
    #[serde(default = "default_name")]
    #[schema(example = "default")]
    name: String,
    /// A loaded engine's name; the host's default engine when absent.
    #[schema(example = "sandbox")]
    engine: Option<String>,
    /// The engine's session config, a JSON object.
    #[schema(value_type = Option<Object>, example = json!({}))]
    config: Option<Value>,
    /// Start the session at once (default `true`).
    #[serde(default = "yes")]
    #[schema(example = true)]
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

/// Create a session
///
/// Stores the session and, unless `start` is `false`, starts it: it is
/// STARTING at first; poll it until WORKING (or SCAN_QR_CODE to pair).
#[utoipa::path(
    post,
    path = "/api/sessions",
    tag = TAG,
    operation_id = "sessions_create",
    request_body = CreateRequest,
    responses((status = 201, description = "Created", body = SessionInfo), SessionRouteErrors, BodyErrors),
)]
async fn create(
    State(state): State<AppState>,
    ApiJson(request): ApiJson<CreateRequest>,
) -> Result<(StatusCode, Json<SessionInfo>), ApiError> {
    let sessions = Arc::clone(&state.sessions);
    let request = NewSession {
        name: request.name,
        engine: request.engine,
        config: config_or_empty(request.config),
        start: request.start,
    };
    let session = to_completion(async move { sessions.create(request).await }).await?;
    Ok((StatusCode::CREATED, Json(state.sessions.info(&session))))
}

/// List sessions
///
/// Sessions that are not STOPPED; `all=true` lists stopped ones too.
#[utoipa::path(
    get,
    path = "/api/sessions",
    tag = TAG,
    operation_id = "sessions_list",
    params(("all" = Option<bool>, Query, description = "Include STOPPED sessions", example = true)),
    responses((status = 200, description = "The sessions", body = Vec<SessionInfo>), ReadErrors),
)]
async fn list(State(state): State<AppState>, params: Params) -> Result<Response, ApiError> {
    let all = params.flag("all")?.unwrap_or(false);
    let listed = Listed {
        manager: &state.sessions,
        sessions: state.sessions.list(),
        all,
    };
    let mut body = Vec::with_capacity(listed.sessions.len() * BYTES_PER_SESSION + 2);
    serde_json::to_writer(&mut body, &listed)
        .map_err(|err| ApiError::internal(format!("cannot write the list of sessions: {err}")))?;
    Ok(json_answer(body))
}

/// About what one session takes in a list (WAHA's `SessionInfo` of a
/// session without a config), so that the answer is written into one
/// buffer: 10,000 sessions are 1.5 MB, which a buffer that doubles as it
/// grows copied twice over.
const BYTES_PER_SESSION: usize = 160;

/// The sessions of a list, each shown as it is when it is written: none is
/// held as a [`SessionInfo`] longer than it takes to write it.
struct Listed<'a> {
    manager: &'a SessionManager,
    sessions: Vec<Arc<ManagedSession>>,
    /// Whether STOPPED sessions are listed too.
    all: bool,
}

impl Serialize for Listed<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(
            (self.sessions.iter())
                .map(|session| self.manager.info(session))
                .filter(|info| self.all || info.status != Status::Stopped),
        )
    }
}

/// Get a session
#[utoipa::path(
    get,
    path = "/api/sessions/{session}",
    tag = TAG,
    operation_id = "sessions_get",
    params(("session" = String, Path, description = "Session name", example = "default")),
    responses((status = 200, description = "The session", body = SessionInfo), ReadErrors),
)]
async fn get_one(State(state): State<AppState>, ApiPath(name): ApiPath<String>) -> Answer {
    let session = state.sessions.find(&name)?;
    Ok(Json(state.sessions.info(&session)))
}

/// Body of `PUT /api/sessions/{session}`.
#[derive(Deserialize, ToSchema)]
struct UpdateRequest {
    /// WAHA clients send the name back; it cannot change.
    #[schema(example = "default")]
    name: Option<String>,
    /// Another loaded engine to run the session on.
    #[schema(example = "sandbox")]
    engine: Option<String>,
    /// A new engine config, a JSON object.
    #[schema(value_type = Option<Object>, example = json!({}))]
    config: Option<Value>,
}

/// Update a session
///
/// Changes the engine and/or config. A session that was started (running,
/// or FAILED since) restarts on them.
#[utoipa::path(
    put,
    path = "/api/sessions/{session}",
    tag = TAG,
    operation_id = "sessions_update",
    params(("session" = String, Path, description = "Session name", example = "default")),
    request_body = UpdateRequest,
    responses((status = 200, description = "Updated", body = SessionInfo), SessionRouteErrors, BodyErrors),
)]
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
    change(&state, session, |sessions, session| async move {
        sessions.update(&session, update).await
    })
    .await
}

/// Delete a session
///
/// Stops the session and removes it and its data.
#[utoipa::path(
    delete,
    path = "/api/sessions/{session}",
    tag = TAG,
    operation_id = "sessions_delete",
    params(("session" = String, Path, description = "Session name", example = "default")),
    responses((status = 200, description = "Deleted", body = Success), SessionRouteErrors),
)]
async fn delete(
    State(state): State<AppState>,
    ApiPath(name): ApiPath<String>,
) -> Result<Json<Success>, ApiError> {
    let session = state.sessions.find(&name)?;
    let sessions = Arc::clone(&state.sessions);
    to_completion(async move { sessions.delete(&session).await }).await?;
    Ok(Json(Success::default()))
}

/// Start a session
///
/// Starts a STOPPED or FAILED session; a running one is left as it is.
#[utoipa::path(
    post,
    path = "/api/sessions/{session}/start",
    tag = TAG,
    operation_id = "sessions_start",
    params(("session" = String, Path, description = "Session name", example = "default")),
    responses((status = 200, description = "The session", body = SessionInfo), SessionRouteErrors),
)]
async fn start(State(state): State<AppState>, ApiPath(name): ApiPath<String>) -> Answer {
    let session = state.sessions.find(&name)?;
    change(&state, session, |sessions, session| async move {
        sessions.start(&session).await
    })
    .await
}

/// Stop a session
///
/// The session stays stopped across host restarts until started again.
#[utoipa::path(
    post,
    path = "/api/sessions/{session}/stop",
    tag = TAG,
    operation_id = "sessions_stop",
    params(("session" = String, Path, description = "Session name", example = "default")),
    responses((status = 200, description = "The session", body = SessionInfo), SessionRouteErrors),
)]
async fn stop(State(state): State<AppState>, ApiPath(name): ApiPath<String>) -> Answer {
    let session = state.sessions.find(&name)?;
    change(&state, session, |sessions, session| async move {
        sessions.stop(&session).await
    })
    .await
}

/// Restart a session
///
/// Stops it if it runs and starts it on a new engine instance.
#[utoipa::path(
    post,
    path = "/api/sessions/{session}/restart",
    tag = TAG,
    operation_id = "sessions_restart",
    params(("session" = String, Path, description = "Session name", example = "default")),
    responses((status = 200, description = "The session", body = SessionInfo), SessionRouteErrors),
)]
async fn restart(State(state): State<AppState>, ApiPath(name): ApiPath<String>) -> Answer {
    let session = state.sessions.find(&name)?;
    change(&state, session, |sessions, session| async move {
        sessions.restart(&session).await
    })
    .await
}

/// Log out a session
///
/// Unlinks the account and deletes the session's data; a session that was
/// started (running, or FAILED since) starts again, ready to pair anew.
#[utoipa::path(
    post,
    path = "/api/sessions/{session}/logout",
    tag = TAG,
    operation_id = "sessions_logout",
    params(("session" = String, Path, description = "Session name", example = "default")),
    responses((status = 200, description = "The session", body = SessionInfo), SessionRouteErrors),
)]
async fn logout(State(state): State<AppState>, ApiPath(name): ApiPath<String>) -> Answer {
    let session = state.sessions.find(&name)?;
    change(&state, session, |sessions, session| async move {
        sessions.logout(&session).await
    })
    .await
}

/// Get the session's account
///
/// The account the session is logged in as; `null` until the engine says.
#[utoipa::path(
    get,
    path = "/api/sessions/{session}/me",
    tag = TAG,
    operation_id = "sessions_me",
    params(("session" = String, Path, description = "Session name", example = "default")),
    responses((status = 200, description = "The account, or null", body = Option<Me>), ReadErrors),
)]
async fn me(
    State(state): State<AppState>,
    ApiPath(name): ApiPath<String>,
) -> Result<Json<Option<Me>>, ApiError> {
    let session = state.sessions.find(&name)?;
    Ok(Json(session.run().state().me()))
}
