//! WAHA's LID routes: which phone number a LID (`…@lid`, WhatsApp's id
//! that hides a number) stands for, and back. Each route has a feature key
//! of its own, so an engine that cannot answer one gets a `501` from
//! [`dispatch`] without being called.

use axum::extract::State;
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};
use wharf_engine_api::LidMapping;

use crate::{
    dispatch::{dispatch, gate},
    engines::Operation,
    http::{
        AppState,
        contact_id::{parse_lid, parse_person_id},
        errors::{ApiError, EngineRouteErrors},
        extract::{ApiJson, ApiPath, Params},
    },
};

const TAG: &str = "👤 Contacts";

/// How many mappings a page has when `limit` is not given, as in WAHA.
const DEFAULT_LIMIT: u32 = 100;

pub(crate) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list))
        .routes(routes!(count))
        .routes(routes!(find_pn_by_lid))
        .routes(routes!(find_lid_by_pn))
}

type ApiResult<T> = Result<ApiJson<T>, ApiError>;

/// Get all known LIDs and their phone numbers
///
/// Sorted by LID, paged with `limit` (100 when absent) and `offset`.
#[utoipa::path(
    get,
    path = "/api/{session}/lids",
    tag = TAG,
    operation_id = "lids_list",
    params(
        ("session" = String, Path, description = "Session name", example = "default"),
        ("limit" = Option<u32>, Query, description = "At most this many mappings (default 100)", example = 100),
        ("offset" = Option<u32>, Query, description = "Skip this many mappings first", example = 0),
    ),
    responses((status = 200, description = "The mappings", body = Vec<LidMapping>), EngineRouteErrors),
)]
async fn list(
    State(state): State<AppState>,
    ApiPath(session): ApiPath<String>,
    params: Params,
) -> ApiResult<Vec<LidMapping>> {
    let limit = params.count("limit")?.unwrap_or(DEFAULT_LIMIT);
    let offset = params.count("offset")?.unwrap_or(0);
    let mappings = dispatch(&state.sessions, &session, Operation::LidsList, |s| {
        s.list_lids(offset, limit)
    })
    .await?;
    Ok(ApiJson(mappings.into_vec()))
}

/// How many LIDs the session knows: WAHA's `CountResponse`.
#[derive(Serialize, ToSchema)]
struct Count {
    #[schema(example = 42)]
    count: u64,
}

/// Get the number of known LIDs
#[utoipa::path(
    get,
    path = "/api/{session}/lids/count",
    tag = TAG,
    operation_id = "lids_count",
    params(("session" = String, Path, description = "Session name", example = "default")),
    responses((status = 200, description = "How many LIDs the session knows", body = Count), EngineRouteErrors),
)]
async fn count(
    State(state): State<AppState>,
    ApiPath(session): ApiPath<String>,
) -> ApiResult<Count> {
    let count = dispatch(&state.sessions, &session, Operation::LidsCount, |s| {
        s.count_lids()
    })
    .await?;
    Ok(ApiJson(Count { count }))
}

/// Get the phone number of a LID
///
/// `lid` is `digits@lid` or just the digits. `pn` is `null` when the
/// session does not know the number.
#[utoipa::path(
    get,
    path = "/api/{session}/lids/{lid}",
    tag = TAG,
    operation_id = "lids_find_pn",
    params(
        ("session" = String, Path, description = "Session name", example = "default"),
        ("lid" = String, Path, description = "A LID", example = "123456789012345@lid"),
    ),
    responses((status = 200, description = "The LID and its phone number", body = LidMapping), EngineRouteErrors),
)]
async fn find_pn_by_lid(
    State(state): State<AppState>,
    ApiPath((session, lid)): ApiPath<(String, String)>,
) -> ApiResult<LidMapping> {
    // `/lids/pn/` with the number left out arrives here as the LID `pn`.
    if lid == "pn" {
        return Err(ApiError::bad_request(
            "phoneNumber",
            "is required: /lids/pn/{phoneNumber}",
        ));
    }
    let lid = parse_lid("lid", &lid)?;
    let mapping = dispatch(&state.sessions, &session, Operation::LidsFindPn, |s| {
        s.find_pn_by_lid(lid.into())
    })
    .await?;
    Ok(ApiJson(mapping))
}

/// Get the LID of a phone number
///
/// `phoneNumber` is a phone number in any common form or its chat id.
/// `lid` is `null` when the session knows no LID for it. Given a LID, it
/// answers that LID with `pn` `null`, as WAHA does.
#[utoipa::path(
    get,
    path = "/api/{session}/lids/pn/{phoneNumber}",
    tag = TAG,
    operation_id = "lids_find_lid",
    params(
        ("session" = String, Path, description = "Session name", example = "default"),
        ("phoneNumber" = String, Path, description = "Phone number or chat id", example = "11231231231@c.us"),
    ),
    responses((status = 200, description = "The phone number and its LID", body = LidMapping), EngineRouteErrors),
)]
async fn find_lid_by_pn(
    State(state): State<AppState>,
    ApiPath((session, phone_number)): ApiPath<(String, String)>,
) -> ApiResult<LidMapping> {
    let id = parse_person_id("phoneNumber", &phone_number)?;
    let target = gate(&state.sessions, &session, Operation::LidsFindLid)?;
    let Some(phone) = id.strip_suffix("@c.us") else {
        return Ok(ApiJson(LidMapping::new(id, None::<String>)));
    };
    let phone = phone.to_owned();
    let mapping = target.call(|s| s.find_lid_by_pn(phone.into())).await?;
    Ok(ApiJson(mapping))
}
