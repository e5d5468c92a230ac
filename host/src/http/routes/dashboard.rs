//! `GET /dashboard`: the browser dashboard, a page over the REST API.
//!
//! Its files (`host/dashboard/`: the page, a plain ES module, a stylesheet
//! and an icon) are built into the binary, so it works offline, with no
//! other server and no build step. The files hold no data and need no
//! key; the page asks for the API key and sends it with each request.

use axum::{
    Router,
    http::{HeaderValue, header},
    response::{IntoResponse, Response},
    routing::get,
};

/// The files, by the path they are served at.
const FILES: &[(&str, &str, &str)] = &[
    (
        "/dashboard",
        "text/html; charset=utf-8",
        include_str!("../../../dashboard/index.html"),
    ),
    (
        "/dashboard/dashboard.js",
        "text/javascript; charset=utf-8",
        include_str!("../../../dashboard/dashboard.js"),
    ),
    (
        "/dashboard/dashboard.css",
        "text/css; charset=utf-8",
        include_str!("../../../dashboard/dashboard.css"),
    ),
    (
        "/dashboard/favicon.svg",
        "image/svg+xml",
        include_str!("../../../dashboard/favicon.svg"),
    ),
];

/// What the page may load and talk to: its own files and API, and QR
/// images it makes from API answers (`blob:`). Nothing from elsewhere,
/// no inline script, and no framing by other sites.
const POLICY: &str = "default-src 'self'; img-src 'self' blob:; script-src 'self'; \
                      style-src 'self'; connect-src 'self'; frame-ancestors 'none'; \
                      base-uri 'none'; form-action 'self'";

/// The dashboard's routes.
pub(crate) fn routes<S: Clone + Send + Sync + 'static>() -> Router<S> {
    let mut router = Router::new().route(
        "/dashboard/",
        get(|| async { axum::response::Redirect::permanent("/dashboard") }),
    );
    for &(path, content_type, body) in FILES {
        router = router.route(path, get(move || async move { serve(content_type, body) }));
    }
    router
}

fn serve(content_type: &'static str, body: &'static str) -> Response {
    let mut response = body.into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    // The files change only with the binary: a browser asks again each
    // time, so a new host's dashboard is never mixed with an old one's.
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(POLICY),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    response
}
