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
};

use crate::{errors::ApiError, sessions::SessionManager};

/// Request bodies are small JSON objects; anything larger is refused (413)
/// before it is read into memory.
const MAX_BODY_BYTES: usize = 64 * 1024;

/// What every handler can reach.
#[derive(Clone)]
pub struct AppState {
    pub sessions: Arc<SessionManager>,
}

/// The whole API.
pub fn router(state: AppState) -> Router {
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
        .with_state(state)
}
