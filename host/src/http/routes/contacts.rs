//! WAHA's contacts routes. Each handler parses and validates its input, then
//! hands the operation to [`dispatch`], which decides whether the session's
//! engine is asked at all.

use axum::{Json, extract::State, http::StatusCode};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};
use wharf_engine_api::{Contact, ContactName, ListQuery, NumberExists, SortBy, SortOrder};

use crate::{
    dispatch::{dispatch, gate},
    engines::Operation,
    http::{
        AppState, Success,
        contact_id::{parse_contact_id, parse_person_id, parse_phone},
        errors::{ApiError, BodyErrors, EngineRouteErrors},
        extract::{ApiJson, ApiPath, Params},
    },
};

const TAG: &str = "👤 Contacts";

pub(crate) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_by_query))
        .routes(routes!(list_by_path))
        .routes(routes!(get_by_query))
        .routes(routes!(get_by_path, upsert))
        .routes(routes!(check_exists))
        .routes(routes!(about))
        .routes(routes!(profile_picture))
        .routes(routes!(block))
        .routes(routes!(unblock))
}

type ApiResult<T> = Result<ApiJson<T>, ApiError>;

/// The values of `sortBy`, and what each means.
pub(in crate::http) const SORT_BY: [(&str, SortBy); 2] =
    [("id", SortBy::Id), ("name", SortBy::Name)];

/// The values of `sortOrder`: `asc` is A to Z.
pub(in crate::http) const SORT_ORDER: [(&str, SortOrder); 2] =
    [("asc", SortOrder::Asc), ("desc", SortOrder::Desc)];

fn list_query(params: &Params) -> Result<ListQuery, ApiError> {
    Ok(ListQuery {
        limit: params.count("limit")?.into(),
        offset: params.count("offset")?.unwrap_or(0),
        sort_by: params.choice("sortBy", &SORT_BY)?.unwrap_or_default(),
        sort_order: params.choice("sortOrder", &SORT_ORDER)?.unwrap_or_default(),
    })
}

async fn list(state: &AppState, session: &str, params: &Params) -> ApiResult<Vec<Contact>> {
    let query = list_query(params)?;
    let contacts = dispatch(&state.sessions, session, Operation::ContactsList, |s| {
        s.list_contacts(query)
    })
    .await?;
    Ok(ApiJson(contacts.into_vec()))
}

/// Get all contacts
///
/// The session's contacts, sorted and paged. `sortOrder=asc` is A to Z
/// (WAHA's documentation has the words swapped; wharf follows their
/// ordinary meaning). Contacts without a name sort last in both orders.
#[utoipa::path(
    get,
    path = "/api/{session}/contacts/all",
    tag = TAG,
    operation_id = "contacts_list",
    params(
        ("session" = String, Path, description = "Session name", example = "default"),
        ("limit" = Option<u32>, Query, description = "At most this many contacts", example = 100),
        ("offset" = Option<u32>, Query, description = "Skip this many contacts first", example = 0),
        ("sortBy" = Option<String>, Query, description = "`id` or `name`", example = "name"),
        ("sortOrder" = Option<String>, Query, description = "`asc` (A to Z) or `desc`", example = "asc"),
    ),
    responses((status = 200, description = "The contacts", body = Vec<Contact>), EngineRouteErrors),
)]
async fn list_by_path(
    State(state): State<AppState>,
    ApiPath(session): ApiPath<String>,
    params: Params,
) -> ApiResult<Vec<Contact>> {
    list(&state, &session, &params).await
}

/// Get all contacts (session in the query)
///
/// The same as `GET /api/{session}/contacts/all`, with the session given as
/// a query parameter.
#[utoipa::path(
    get,
    path = "/api/contacts/all",
    tag = TAG,
    operation_id = "contacts_list_by_query",
    params(
        ("session" = String, Query, description = "Session name", example = "default"),
        ("limit" = Option<u32>, Query, description = "At most this many contacts", example = 100),
        ("offset" = Option<u32>, Query, description = "Skip this many contacts first", example = 0),
        ("sortBy" = Option<String>, Query, description = "`id` or `name`", example = "id"),
        ("sortOrder" = Option<String>, Query, description = "`asc` (A to Z) or `desc`", example = "asc"),
    ),
    responses((status = 200, description = "The contacts", body = Vec<Contact>), EngineRouteErrors),
)]
async fn list_by_query(State(state): State<AppState>, params: Params) -> ApiResult<Vec<Contact>> {
    list(&state, params.required("session")?, &params).await
}

async fn get_contact(state: &AppState, session: &str, contact_id: String) -> ApiResult<Contact> {
    let contact = dispatch(&state.sessions, session, Operation::ContactsGet, |s| {
        s.get_contact(contact_id.into())
    })
    .await?;
    Ok(ApiJson(contact))
}

/// Get a contact
///
/// `contactId` is a phone number in any common form or a chat id
/// (`…@c.us`, `…@s.whatsapp.net`, `…@g.us`, `…@lid`).
#[utoipa::path(
    get,
    path = "/api/{session}/contacts/{contactId}",
    tag = TAG,
    operation_id = "contacts_get",
    params(
        ("session" = String, Path, description = "Session name", example = "default"),
        ("contactId" = String, Path, description = "Phone number or chat id", example = "11231231231@c.us"),
    ),
    responses((status = 200, description = "The contact", body = Contact), EngineRouteErrors),
)]
async fn get_by_path(
    State(state): State<AppState>,
    ApiPath((session, contact_id)): ApiPath<(String, String)>,
) -> ApiResult<Contact> {
    let contact_id = parse_contact_id("contactId", &contact_id)?;
    get_contact(&state, &session, contact_id).await
}

/// Get a contact (session in the query)
#[utoipa::path(
    get,
    path = "/api/contacts",
    tag = TAG,
    operation_id = "contacts_get_by_query",
    params(
        ("contactId" = String, Query, description = "Phone number or chat id", example = "11231231231"),
        ("session" = String, Query, description = "Session name", example = "default"),
    ),
    responses((status = 200, description = "The contact", body = Contact), EngineRouteErrors),
)]
async fn get_by_query(State(state): State<AppState>, params: Params) -> ApiResult<Contact> {
    let contact_id = parse_contact_id("contactId", params.required("contactId")?)?;
    get_contact(&state, params.required("session")?, contact_id).await
}

/// Check whether a phone number is on WhatsApp
///
/// Returns the chat id WhatsApp really uses for the number. For Brazilian
/// numbers that is the form with or without the 9th digit that the account
/// registered with: send to this chat id.
#[utoipa::path(
    get,
    path = "/api/contacts/check-exists",
    tag = TAG,
    operation_id = "contacts_check_exists",
    params(
        ("phone" = String, Query, description = "Phone number with country code", example = "11231231231"),
        ("session" = String, Query, description = "Session name", example = "default"),
    ),
    responses((status = 200, description = "Whether it exists, and its chat id", body = NumberExists), EngineRouteErrors),
)]
async fn check_exists(State(state): State<AppState>, params: Params) -> ApiResult<NumberExists> {
    let phone = parse_phone("phone", params.required("phone")?)?;
    let session = params.required("session")?;
    let answer = dispatch(
        &state.sessions,
        session,
        Operation::ContactsCheckExists,
        |s| s.check_exists(phone.into()),
    )
    .await?;
    Ok(ApiJson(answer))
}

/// A contact's "about" text.
#[derive(Serialize, ToSchema)]
struct About {
    /// `null` when the contact keeps it private.
    #[schema(example = "Hi, I use WhatsApp!")]
    about: Option<String>,
}

/// Get a contact's "about" text
#[utoipa::path(
    get,
    path = "/api/contacts/about",
    tag = TAG,
    operation_id = "contacts_about",
    params(
        ("contactId" = String, Query, description = "Phone number or chat id", example = "11231231231"),
        ("session" = String, Query, description = "Session name", example = "default"),
    ),
    responses((status = 200, description = "The about text", body = About), EngineRouteErrors),
)]
async fn about(State(state): State<AppState>, params: Params) -> ApiResult<About> {
    let contact_id = parse_contact_id("contactId", params.required("contactId")?)?;
    let session = params.required("session")?;
    let about = dispatch(&state.sessions, session, Operation::ContactsAbout, |s| {
        s.about(contact_id.into())
    })
    .await?;
    Ok(ApiJson(About {
        about: about.into_option().map(|text| text.into_string()),
    }))
}

/// A contact's profile picture.
#[derive(Serialize, ToSchema)]
struct ProfilePicture {
    /// `null` when the contact keeps it private or has none.
    #[serde(rename = "profilePictureURL")]
    #[schema(example = "https://pps.whatsapp.net/v/t61/profile.jpg")]
    profile_picture_url: Option<String>,
}

/// Get a contact's profile picture URL
///
/// Cached for 24 hours per session and contact; `refresh=true` asks
/// WhatsApp again. Refresh sparingly: WhatsApp rate-limits these lookups.
#[utoipa::path(
    get,
    path = "/api/contacts/profile-picture",
    tag = TAG,
    operation_id = "contacts_profile_picture",
    params(
        ("contactId" = String, Query, description = "Phone number or chat id", example = "11231231231"),
        ("session" = String, Query, description = "Session name", example = "default"),
        ("refresh" = Option<bool>, Query, description = "Bypass the 24-hour cache", example = false),
    ),
    responses((status = 200, description = "The picture URL", body = ProfilePicture), EngineRouteErrors),
)]
async fn profile_picture(
    State(state): State<AppState>,
    params: Params,
) -> ApiResult<ProfilePicture> {
    let contact_id = parse_contact_id("contactId", params.required("contactId")?)?;
    let session = params.required("session")?;
    let refresh = params.flag("refresh")?.unwrap_or(false);
    let target = gate(&state.sessions, session, Operation::ContactsProfilePicture)?;
    let url = state
        .profile_pictures
        .get(&target, contact_id, refresh)
        .await?;
    Ok(ApiJson(ProfilePicture {
        profile_picture_url: url,
    }))
}

/// Body of block and unblock.
#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
struct ContactRequest {
    /// Phone number or chat id of a person (not a group).
    #[schema(example = "11231231231")]
    contact_id: String,
    /// Session name.
    #[schema(example = "default")]
    session: String,
}

/// Block a contact
#[utoipa::path(
    post,
    path = "/api/contacts/block",
    tag = TAG,
    operation_id = "contacts_block",
    request_body = ContactRequest,
    responses((status = 201, description = "Blocked", body = Success), EngineRouteErrors, BodyErrors),
)]
async fn block(
    State(state): State<AppState>,
    ApiJson(request): ApiJson<ContactRequest>,
) -> Result<(StatusCode, Json<Success>), ApiError> {
    set_blocked(&state, request, true).await
}

/// Unblock a contact
#[utoipa::path(
    post,
    path = "/api/contacts/unblock",
    tag = TAG,
    operation_id = "contacts_unblock",
    request_body = ContactRequest,
    responses((status = 201, description = "Unblocked", body = Success), EngineRouteErrors, BodyErrors),
)]
async fn unblock(
    State(state): State<AppState>,
    ApiJson(request): ApiJson<ContactRequest>,
) -> Result<(StatusCode, Json<Success>), ApiError> {
    set_blocked(&state, request, false).await
}

async fn set_blocked(
    state: &AppState,
    request: ContactRequest,
    blocked: bool,
) -> Result<(StatusCode, Json<Success>), ApiError> {
    let contact_id = parse_person_id("contactId", &request.contact_id)?.into();
    let feature = if blocked {
        Operation::ContactsBlock
    } else {
        Operation::ContactsUnblock
    };
    dispatch(&state.sessions, &request.session, feature, |s| {
        if blocked {
            s.block(contact_id)
        } else {
            s.unblock(contact_id)
        }
    })
    .await?;
    Ok((StatusCode::CREATED, Json(Success::default())))
}

// The schema below repeats the limit as a literal, which utoipa requires.
const _: () = assert!(
    ContactName::MAX_CHARS == 128,
    "update UpsertRequest's maxLength"
);

/// Body of upsert.
#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
struct UpsertRequest {
    /// First name; must not be blank. No control characters.
    #[schema(
        example = "John",
        min_length = 1,
        max_length = 128,
        pattern = r"^[^\u0000-\u001F\u007F-\u009F]*[^\s\u0000-\u001F\u007F-\u009F][^\u0000-\u001F\u007F-\u009F]*$"
    )]
    first_name: String,
    /// Last name. No control characters.
    #[serde(default)]
    #[schema(
        example = "Doe",
        max_length = 128,
        pattern = r"^[^\u0000-\u001F\u007F-\u009F]*$"
    )]
    last_name: String,
}

/// Add or update a contact
///
/// Saves the contact in the phone's address book under this name. Engines
/// that drive WhatsApp Web cannot do this and answer 501.
#[utoipa::path(
    put,
    path = "/api/{session}/contacts/{contactId}",
    tag = TAG,
    operation_id = "contacts_upsert",
    params(
        ("session" = String, Path, description = "Session name", example = "default"),
        ("contactId" = String, Path, description = "Phone number or chat id", example = "11231231231@c.us"),
    ),
    request_body = UpsertRequest,
    responses((status = 200, description = "Saved", body = Success), EngineRouteErrors, BodyErrors),
)]
async fn upsert(
    State(state): State<AppState>,
    ApiPath((session, chat_id)): ApiPath<(String, String)>,
    ApiJson(request): ApiJson<UpsertRequest>,
) -> ApiResult<Success> {
    let chat_id = parse_contact_id("contactId", &chat_id)?;
    if request.first_name.trim().is_empty() {
        return Err(ApiError::bad_request("firstName", "must not be empty"));
    }
    for (field, value) in [
        ("firstName", &request.first_name),
        ("lastName", &request.last_name),
    ] {
        if value.chars().count() > ContactName::MAX_CHARS {
            return Err(ApiError::bad_request(
                field,
                format!("must be at most {} characters", ContactName::MAX_CHARS),
            ));
        }
        // A line break or a NUL is no part of a name, and would reach logs
        // and other systems as one.
        if value.chars().any(char::is_control) {
            return Err(ApiError::bad_request(
                field,
                "must not contain control characters (line breaks, tabs, NUL)",
            ));
        }
    }
    let name = ContactName {
        first_name: request.first_name.trim().into(),
        last_name: request.last_name.trim().into(),
    };
    dispatch(&state.sessions, &session, Operation::ContactsUpsert, |s| {
        s.upsert_contact(chat_id.into(), name)
    })
    .await?;
    Ok(ApiJson(Success::default()))
}
