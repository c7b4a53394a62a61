//! `/admin/...` JSON routes and CSV downloads. Every route takes the `AdminUser` extractor: 401
//! without valid auth, 403 for a non-admin; the role is re-read from the database each time.

use super::csv_export::csv_response;
use crate::chat::rest::optional_number;
use crate::http::extract::AdminUser;
use crate::services::internal;
use crate::AppState;
use app::error::ApiError;
use app::models::{AdminMessage, AdminOverview, ModerationEntry, PublicUser};
use axum::extract::{Path, Query, State};
use axum::response::Response;
use axum::Json;
use std::collections::HashMap;

pub const ADMIN_PAGE_DEFAULT: i64 = 100;
pub const ADMIN_PAGE_MAX: i64 = 1000;

fn page(params: &HashMap<String, String>) -> Result<(Option<i64>, i64), ApiError> {
    let before = optional_number(params, "before")?;
    let limit = optional_number(params, "limit")?.unwrap_or(ADMIN_PAGE_DEFAULT);
    if !(1..=ADMIN_PAGE_MAX).contains(&limit) {
        return Err(ApiError::BadRequest { message: format!("limit must be 1..={ADMIN_PAGE_MAX}") });
    }
    Ok((before, limit))
}

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
    state.services.store.list_users(blocked_only).await.map(Json).map_err(internal)
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
    Path(user_id): Path<i64>,
) -> Result<Json<PublicUser>, ApiError> {
    state.services.set_blocked_as(&admin, user_id, true).await.map(Json)
}

pub async fn unblock(
    State(state): State<AppState>,
    AdminUser(admin): AdminUser,
    Path(user_id): Path<i64>,
) -> Result<Json<PublicUser>, ApiError> {
    state.services.set_blocked_as(&admin, user_id, false).await.map(Json)
}

pub async fn download_users(State(state): State<AppState>, _admin: AdminUser) -> Response {
    csv_response("chatterbox-users.csv", state.services.store.stream_users())
}

pub async fn download_messages(State(state): State<AppState>, _admin: AdminUser) -> Response {
    csv_response("chatterbox-messages.csv", state.services.store.stream_messages())
}
