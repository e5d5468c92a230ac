//! The HTTP edge: the WAHA-compatible API ([`routes`], one module per
//! area), the server that accepts connections and keeps them in bounds
//! ([`connections`]), and what every route shares: API keys, extractors,
//! contact-id parsing, the WAHA error shape and the OpenAPI document.

pub(crate) mod auth;
pub(crate) mod connections;
mod constraints;
pub(crate) mod contact_id;
mod counting;
mod docs;
pub(crate) mod errors;
mod extract;
pub(crate) mod profile_pictures;
mod routes;

use std::{sync::Arc, time::SystemTime};

use axum::{
    Json, Router,
    extract::DefaultBodyLimit,
    http::{Method, Uri},
    response::Redirect,
    routing::get,
};
use serde::Serialize;
use tower::Layer;
use utoipa::{OpenApi, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_swagger_ui::SwaggerUi;

use self::{
    auth::{ApiKeys, RequireApiKey},
    connections::App,
    errors::ApiError,
    profile_pictures::ProfilePictures,
};
use crate::{engines::Registry, events::Events, sessions::SessionManager};

/// Request bodies are small JSON objects; anything larger is refused (413)
/// before it is read into memory.
const MAX_BODY_BYTES: usize = 64 * 1024;

/// What every handler can reach. Handlers take it by value, so it is one
/// reference count to clone, not one per part.
#[derive(Clone)]
pub(crate) struct AppState(Arc<AppParts>);

/// The parts of [`AppState`].
pub(crate) struct AppParts {
    pub registry: Arc<Registry>,
    pub sessions: Arc<SessionManager>,
    pub events: Arc<Events>,
    /// For `/ws` and `/metrics`, outside `/api`, which check keys
    /// themselves.
    pub api_keys: ApiKeys,
    /// Whether `/metrics` is open without a key.
    pub metrics_public: bool,
    pub profile_pictures: ProfilePictures,
    pub started_at: SystemTime,
}

impl AppState {
    pub(crate) fn new(parts: AppParts) -> Self {
        Self(Arc::new(parts))
    }
}

impl std::ops::Deref for AppState {
    type Target = AppParts;

    fn deref(&self) -> &AppParts {
        &self.0
    }
}

/// `{"success": true}`, WAHA's answer to a change that has nothing else to say.
#[derive(Serialize, ToSchema)]
pub(crate) struct Success {
    #[schema(example = true)]
    success: bool,
}

impl Default for Success {
    fn default() -> Self {
        Self { success: true }
    }
}

/// The OpenAPI document of every route in [`router`].
#[cfg(test)]
fn openapi() -> utoipa::openapi::OpenApi {
    constraints::constrained(api_routes().split_for_parts().1)
}

fn api_routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(docs::ApiDoc::openapi())
        .merge(routes::server::routes())
        .merge(routes::sessions::routes())
        .merge(routes::contacts::routes())
        .merge(routes::lids::routes())
        .merge(routes::pairing::routes())
}

/// The whole API; `/api` routes need one of `api_keys` when any is set.
/// The OpenAPI document is at `/openapi.json`, Swagger UI at `/` (it
/// redirects to `/swagger/`).
///
/// The key check and the body limit wrap the router rather than being
/// layered on it, which would wrap every route: they run once per request,
/// before routing.
pub(crate) fn app(state: AppState, api_keys: ApiKeys) -> impl App {
    let limited = DefaultBodyLimit::max(MAX_BODY_BYTES).layer(router(state));
    RequireApiKey::new(api_keys, limited)
}

fn router(state: AppState) -> Router {
    let (api, openapi) = api_routes().split_for_parts();
    let openapi = constraints::constrained(openapi);
    let document = Json(openapi.clone());
    api.route("/openapi.json", get(move || async move { document }))
        .merge(SwaggerUi::new("/swagger").url("/swagger/openapi.json", openapi))
        .route("/", get(|| async { Redirect::temporary("/swagger/") }))
        .route("/ws", get(routes::websocket::listen))
        .route("/metrics", get(routes::metrics::scrape))
        .merge(routes::dashboard::routes())
        .fallback(|uri: Uri| async move { ApiError::route_not_found(uri.path()) })
        .method_not_allowed_fallback(|method: Method, uri: Uri| async move {
            ApiError::method_not_allowed(&method, uri.path())
        })
        .layer(counting::CountRequests)
        .with_state(state)
}
