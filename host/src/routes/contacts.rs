//! WAHA's contacts routes. Each handler parses and validates its input, then
//! hands the operation to [`dispatch`], which decides whether the session's
//! engine is asked at all.

use axum::{
    Json, Router,
    extract::State,
    http::StatusCode,
    routing::{get, post},
};
use serde::Deserialize;
use serde_json::{Value, json};
use wharf_engine_api::{
    Contact, ContactName, ListQuery, NumberExists, SortBy, SortOrder, features,
};

use super::{
    AppState,
    extract::{ApiJson, ApiPath, Params},
};
use crate::{
    contact_id::{parse_contact_id, parse_phone},
    dispatch::{dispatch, gate},
    errors::ApiError,
};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/contacts/all", get(list_by_query))
        .route("/api/{session}/contacts/all", get(list_by_path))
        .route("/api/contacts", get(get_by_query))
        .route(
            "/api/{session}/contacts/{contact_id}",
            get(get_by_path).put(upsert),
        )
        .route("/api/contacts/check-exists", get(check_exists))
        .route("/api/contacts/about", get(about))
        .route("/api/contacts/profile-picture", get(profile_picture))
        .route("/api/contacts/block", post(block))
        .route("/api/contacts/unblock", post(unblock))
}

type ApiResult<T> = Result<Json<T>, ApiError>;

fn list_query(params: &Params) -> Result<ListQuery, ApiError> {
    Ok(ListQuery {
        limit: params.count("limit")?.into(),
        offset: params.count("offset")?.unwrap_or(0),
        sort_by: params
            .choice("sortBy", &[("id", SortBy::Id), ("name", SortBy::Name)])?
            .unwrap_or_default(),
        sort_order: params
            .choice(
                "sortOrder",
                &[("asc", SortOrder::Asc), ("desc", SortOrder::Desc)],
            )?
            .unwrap_or_default(),
    })
}

async fn list(state: &AppState, session: &str, params: &Params) -> ApiResult<Vec<Contact>> {
    let query = list_query(params)?;
    let contacts = dispatch(&state.sessions, session, features::CONTACTS_LIST, |s| {
        s.list_contacts(query)
    })
    .await?;
    Ok(Json(contacts.into_vec()))
}

async fn list_by_path(
    State(state): State<AppState>,
    ApiPath(session): ApiPath<String>,
    params: Params,
) -> ApiResult<Vec<Contact>> {
    list(&state, &session, &params).await
}

async fn list_by_query(State(state): State<AppState>, params: Params) -> ApiResult<Vec<Contact>> {
    list(&state, params.required("session")?, &params).await
}

async fn get_contact(state: &AppState, session: &str, contact_id: String) -> ApiResult<Contact> {
    let contact = dispatch(&state.sessions, session, features::CONTACTS_GET, |s| {
        s.get_contact(contact_id.into())
    })
    .await?;
    Ok(Json(contact))
}

async fn get_by_path(
    State(state): State<AppState>,
    ApiPath((session, contact_id)): ApiPath<(String, String)>,
) -> ApiResult<Contact> {
    let contact_id = parse_contact_id("contactId", &contact_id)?;
    get_contact(&state, &session, contact_id).await
}

async fn get_by_query(State(state): State<AppState>, params: Params) -> ApiResult<Contact> {
    let contact_id = parse_contact_id("contactId", params.required("contactId")?)?;
    get_contact(&state, params.required("session")?, contact_id).await
}

async fn check_exists(State(state): State<AppState>, params: Params) -> ApiResult<NumberExists> {
    let phone = parse_phone("phone", params.required("phone")?)?;
    let session = params.required("session")?;
    let answer = dispatch(
        &state.sessions,
        session,
        features::CONTACTS_CHECK_EXISTS,
        |s| s.check_exists(phone.into()),
    )
    .await?;
    Ok(Json(answer))
}

async fn about(State(state): State<AppState>, params: Params) -> ApiResult<Value> {
    let contact_id = parse_contact_id("contactId", params.required("contactId")?)?;
    let session = params.required("session")?;
    let about = dispatch(&state.sessions, session, features::CONTACTS_ABOUT, |s| {
        s.about(contact_id.into())
    })
    .await?;
    Ok(Json(json!({ "about": about.into_option() })))
}

async fn profile_picture(State(state): State<AppState>, params: Params) -> ApiResult<Value> {
    let contact_id = parse_contact_id("contactId", params.required("contactId")?)?;
    let session = params.required("session")?;
    let refresh = params.flag("refresh")?.unwrap_or(false);
    let target = gate(&state.sessions, session, features::CONTACTS_PROFILE_PICTURE)?;
    let url = state
        .profile_pictures
        .get(&target, contact_id, refresh)
        .await?;
    Ok(Json(json!({ "profilePictureURL": url })))
}

/// Body of block and unblock.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ContactRequest {
    contact_id: String,
    session: String,
}

async fn block(
    State(state): State<AppState>,
    ApiJson(request): ApiJson<ContactRequest>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    set_blocked(&state, request, true).await
}

async fn unblock(
    State(state): State<AppState>,
    ApiJson(request): ApiJson<ContactRequest>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    set_blocked(&state, request, false).await
}

async fn set_blocked(
    state: &AppState,
    request: ContactRequest,
    blocked: bool,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let contact_id = parse_contact_id("contactId", &request.contact_id)?.into();
    let feature = if blocked {
        features::CONTACTS_BLOCK
    } else {
        features::CONTACTS_UNBLOCK
    };
    dispatch(&state.sessions, &request.session, feature, |s| {
        if blocked {
            s.block(contact_id)
        } else {
            s.unblock(contact_id)
        }
    })
    .await?;
    Ok((StatusCode::CREATED, Json(json!({ "success": true }))))
}

/// Body of upsert.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct UpsertRequest {
    first_name: String,
    #[serde(default)]
    last_name: String,
}

async fn upsert(
    State(state): State<AppState>,
    ApiPath((session, chat_id)): ApiPath<(String, String)>,
    ApiJson(request): ApiJson<UpsertRequest>,
) -> ApiResult<Value> {
    let chat_id = parse_contact_id("chatId", &chat_id)?;
    if request.first_name.trim().is_empty() {
        return Err(ApiError::bad_request("firstName", "must not be empty"));
    }
    let name = ContactName {
        first_name: request.first_name.trim().into(),
        last_name: request.last_name.trim().into(),
    };
    dispatch(&state.sessions, &session, features::CONTACTS_UPSERT, |s| {
        s.upsert_contact(chat_id.into(), name)
    })
    .await?;
    Ok(Json(json!({ "success": true })))
}
