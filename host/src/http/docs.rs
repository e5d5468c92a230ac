//! The OpenAPI document, generated from the route annotations, and the
//! Swagger UI that shows it, served from files built into the binary.

use utoipa::{
    Modify, OpenApi,
    openapi::security::{ApiKey, ApiKeyValue, SecurityScheme},
};

use crate::http::{
    auth,
    errors::{ErrorBody, ErrorDetails},
};

/// The document's fixed parts; paths and schemas come from the routes.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "wharf",
        description = "WhatsApp HTTP API, compatible with WAHA's sessions and contacts API, \
                       with engines loaded as plug-in libraries. An operation the session's \
                       engine does not support is answered 501 by the host.",
    ),
    components(schemas(ErrorBody, ErrorDetails)),
    modifiers(&ApiKeySecurity, &EventWebhooks),
    security(("api_key" = [])),
)]
pub(super) struct ApiDoc;

/// The events webhooks receive (see [`crate::events`]).
struct EventWebhooks;

impl Modify for EventWebhooks {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let (webhooks, schemas) = crate::events::openapi_webhooks();
        openapi.webhooks = Some(webhooks);
        let components = openapi.components.get_or_insert_with(Default::default);
        components.schemas.extend(schemas);
    }
}

/// Declares WAHA's `X-Api-Key` header scheme.
struct ApiKeySecurity;

impl Modify for ApiKeySecurity {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "api_key",
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::new(auth::HEADER))),
        );
    }
}
