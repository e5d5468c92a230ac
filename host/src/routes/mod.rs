//! The HTTP API: WAHA-compatible routes grouped by area.

mod contacts;
mod extract;
mod pairing;
mod server;
mod sessions;

use std::sync::Arc;

use axum::{
    Router,
    extract::DefaultBodyLimit,
    http::{Method, Uri},
    middleware,
};

use crate::{
    auth::{ApiKeys, require_api_key},
    errors::ApiError,
    profile_pictures::ProfilePictures,
    sessions::SessionManager,
};

/// Request bodies are small JSON objects; anything larger is refused (413)
/// before it is read into memory.
const MAX_BODY_BYTES: usize = 64 * 1024;

/// What every handler can reach.
#[derive(Clone)]
pub struct AppState {
    pub sessions: Arc<SessionManager>,
    pub profile_pictures: Arc<ProfilePictures>,
}

/// The whole API; `/api` routes need one of `api_keys` when any is set.
pub fn router(state: AppState, api_keys: ApiKeys) -> Router {
    Router::new()
        .merge(server::routes())
        .merge(sessions::routes())
        .merge(contacts::routes())
        .merge(pairing::routes())
        .fallback(|uri: Uri| async move { ApiError::route_not_found(uri.path()) })
        .method_not_allowed_fallback(|method: Method, uri: Uri| async move {
            ApiError::method_not_allowed(&method, uri.path())
        })
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(middleware::from_fn_with_state(api_keys, require_api_key))
        .with_state(state)
}
