//! `/admin/...` JSON routes and CSV downloads. Every route takes the `AdminUser` extractor: 401
//! without valid auth, 403 for a non-admin; the role is re-read from the database each time.

use super::csv_export::csv_download;
use crate::chat::rest::optional_number;
use crate::http::extract::{AdminUser, ApiPath};
use crate::services::internal;
use crate::AppState;
use app::error::ApiError;
use app::models::{AdminMessage, AdminOverview, ModerationEntry, PublicUser};
use axum::extract::{Query, State};
use futures::FutureExt;
use axum::response::Response;
use axum::Json;
use std::collections::HashMap;

pub const ADMIN_PAGE_DEFAULT: i64 = 100;
pub const ADMIN_PAGE_MAX: i64 = 1000;

/// The page-size rule of every admin list (`/admin/users`, `/admin/messages`,
/// `/admin/moderation` and the `admin_users` server function, one rule for both doors): default
/// [`ADMIN_PAGE_DEFAULT`], 1..=[`ADMIN_PAGE_MAX`], `BadRequest` (400) otherwise.
pub fn checked_limit(limit: Option<i64>) -> Result<i64, ApiError> {
    let limit = limit.unwrap_or(ADMIN_PAGE_DEFAULT);
    if !(1..=ADMIN_PAGE_MAX).contains(&limit) {
        return Err(ApiError::BadRequest { message: format!("limit must be 1..={ADMIN_PAGE_MAX}") });
    }
    Ok(limit)
}

fn page(params: &HashMap<String, String>) -> Result<(Option<i64>, i64), ApiError> {
    let before = optional_number(params, "before")?;
    let limit = checked_limit(optional_number(params, "limit")?)?;
    Ok((before, limit))
}

/// `GET /admin/users?blocked=true|false&after=ID&limit=N`: users in id order after the cursor
/// `after` (the id of the last user of the previous page), a JSON array.
pub async fn users(
    State(state): State<AppState>,
    _admin: AdminUser,
    Query(params): Query<HashMap<String, String>>,
) -> Result<Json<Vec<PublicUser>>, ApiError> {
    let blocked_only = match params.get("blocked").map(String::as_str) {
        None | Some("false") => false,
        Some("true") => true,
        Some(_) => return Err(ApiError::BadRequest { message: "blocked must be true or false".into() }),
    };
    let after = optional_number(&params, "after")?;
    let limit = checked_limit(optional_number(&params, "limit")?)?;
    state.services.store.list_users(blocked_only, after, limit).await.map(Json).map_err(internal)
}

pub async fn messages(
    State(state): State<AppState>,
    _admin: AdminUser,
    Query(params): Query<HashMap<String, String>>,
) -> Result<Json<Vec<AdminMessage>>, ApiError> {
    let (before, limit) = page(&params)?;
    state.services.store.admin_messages(before, limit).await.map(Json).map_err(internal)
}

pub async fn moderation(
    State(state): State<AppState>,
    _admin: AdminUser,
    Query(params): Query<HashMap<String, String>>,
) -> Result<Json<Vec<ModerationEntry>>, ApiError> {
    let (before, limit) = page(&params)?;
    state.services.store.moderation_log(before, limit).await.map(Json).map_err(internal)
}

pub async fn overview(State(state): State<AppState>, _admin: AdminUser) -> Result<Json<AdminOverview>, ApiError> {
    state.services.store.overview().await.map(Json).map_err(internal)
}

pub async fn block(
    State(state): State<AppState>,
    AdminUser(admin): AdminUser,
    ApiPath(user_id): ApiPath<i64>,
) -> Result<Json<PublicUser>, ApiError> {
    state.services.set_blocked_as(&admin, user_id, true).await.map(Json)
}

pub async fn unblock(
    State(state): State<AppState>,
    AdminUser(admin): AdminUser,
    ApiPath(user_id): ApiPath<i64>,
) -> Result<Json<PublicUser>, ApiError> {
    state.services.set_blocked_as(&admin, user_id, false).await.map(Json)
}

/// `GET /admin/download/users`: every user as CSV, streamed by keyset pages; 429 when
/// `max_exports` downloads are already streaming.
pub async fn download_users(State(state): State<AppState>, _admin: AdminUser) -> Response {
    let store = state.services.store.clone();
    csv_download(&state.services, "chatterbox-users.csv", move |after, limit| {
        let store = store.clone();
        async move { store.users_after(after, limit).await }.boxed()
    })
}

/// `GET /admin/download/messages`: every message, oldest first, as CSV (as the users export).
pub async fn download_messages(State(state): State<AppState>, _admin: AdminUser) -> Response {
    let store = state.services.store.clone();
    csv_download(&state.services, "chatterbox-messages.csv", move |after, limit| {
        let store = store.clone();
        async move { store.admin_messages_after(after, limit).await }.boxed()
    })
}
