//! `/admin/...` JSON routes and CSV downloads. Every route takes the `AdminUser` extractor: 401
//! without valid auth, 403 for a non-admin; the role is re-read from the database each time.

use crate::http::extract::{AdminUser, ApiJson, ApiPath};
use crate::services::paging::Page;
use crate::state::AppState;
use app::error::ApiError;
use app::models::{
    AdminMessage, AdminOverview, AdminRoom, Appeal, AppealDecision, ModerationEntry, PublicUser, ReasonBody,
    ReviewDecision, ReviewItem,
};
use app::protocol::ADMIN_PAGE;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::Json;
use std::collections::HashMap;

/// `GET /admin/users?blocked=true|false&after=ID&limit=N`: users in id order after the cursor
/// `after` (the id of the last user of the previous page), a JSON array.
pub async fn users(
    State(state): State<AppState>,
    AdminUser(admin): AdminUser,
    Query(params): Query<HashMap<String, String>>,
) -> Result<Json<Vec<PublicUser>>, ApiError> {
    let blocked_only = match params.get("blocked").map(String::as_str) {
        None | Some("false") => false,
        Some("true") => true,
        Some(_) => return Err(ApiError::BadRequest { message: "blocked must be true or false".into() }),
    };
    let page = Page::after_from_query(&params, ADMIN_PAGE)?;
    state.services.users_page(&admin, blocked_only, page).await.map(Json)
}

/// `GET /admin/messages?before=ID&limit=N`: newest first.
pub async fn messages(
    State(state): State<AppState>,
    AdminUser(admin): AdminUser,
    Query(params): Query<HashMap<String, String>>,
) -> Result<Json<Vec<AdminMessage>>, ApiError> {
    let page = Page::before_from_query(&params, ADMIN_PAGE)?;
    state.services.messages_page(&admin, page).await.map(Json)
}

/// `GET /admin/moderation?before=ID&limit=N`: newest first.
pub async fn moderation(
    State(state): State<AppState>,
    AdminUser(admin): AdminUser,
    Query(params): Query<HashMap<String, String>>,
) -> Result<Json<Vec<ModerationEntry>>, ApiError> {
    let page = Page::before_from_query(&params, ADMIN_PAGE)?;
    state.services.moderation_page(&admin, page).await.map(Json)
}

/// `GET /admin/audit?before=ID&limit=N`: the audit log, newest first (admin actions, and
/// accounts deleted by their owners).
pub async fn audit(
    State(state): State<AppState>,
    AdminUser(admin): AdminUser,
    Query(params): Query<HashMap<String, String>>,
) -> Result<Json<Vec<app::models::AuditEntry>>, ApiError> {
    let page = Page::before_from_query(&params, ADMIN_PAGE)?;
    state.services.audit_page(&admin, page).await.map(Json)
}

pub async fn overview(
    State(state): State<AppState>,
    AdminUser(admin): AdminUser,
) -> Result<Json<AdminOverview>, ApiError> {
    state.services.overview_for(&admin).await.map(Json)
}

pub async fn block(
    State(state): State<AppState>,
    AdminUser(admin): AdminUser,
    ApiPath(user_id): ApiPath<i64>,
) -> Result<Json<PublicUser>, ApiError> {
    state.services.set_blocked(&admin, user_id, true).await.map(Json)
}

pub async fn unblock(
    State(state): State<AppState>,
    AdminUser(admin): AdminUser,
    ApiPath(user_id): ApiPath<i64>,
) -> Result<Json<PublicUser>, ApiError> {
    state.services.set_blocked(&admin, user_id, false).await.map(Json)
}

/// `GET /admin/download/users`: every user as CSV, streamed by keyset pages; 429 when
/// `max_exports` downloads are already streaming.
pub async fn download_users(State(state): State<AppState>, AdminUser(admin): AdminUser) -> Response {
    state.services.download_users(&admin)
}

/// `GET /admin/download/messages`: every message, oldest first, as CSV (as the users export).
pub async fn download_messages(State(state): State<AppState>, AdminUser(admin): AdminUser) -> Response {
    state.services.download_messages(&admin)
}

/// `GET /admin/rooms?after=ID&limit=N`: every room, private rooms and DMs included, by id.
pub async fn rooms(
    State(state): State<AppState>,
    AdminUser(admin): AdminUser,
    Query(params): Query<HashMap<String, String>>,
) -> Result<Json<Vec<AdminRoom>>, ApiError> {
    let page = Page::after_from_query(&params, ADMIN_PAGE)?;
    state.services.rooms_page(&admin, page).await.map(Json)
}

/// `POST /admin/rooms/{id}/archive`: audited.
pub async fn archive_room(
    State(state): State<AppState>,
    AdminUser(admin): AdminUser,
    ApiPath(id): ApiPath<i64>,
) -> Result<Json<AdminRoom>, ApiError> {
    state.services.archive_room(&admin, id).await.map(Json)
}

/// `POST /admin/rooms/{id}/unarchive`: audited; lifts an admin's archive.
pub async fn unarchive_room(
    State(state): State<AppState>,
    AdminUser(admin): AdminUser,
    ApiPath(id): ApiPath<i64>,
) -> Result<Json<AdminRoom>, ApiError> {
    state.services.unarchive_room(&admin, id).await.map(Json)
}

/// `GET /admin/rooms/{id}/bans`: the usernames an admin removed (who cannot come back).
pub async fn room_bans(
    State(state): State<AppState>,
    AdminUser(admin): AdminUser,
    ApiPath(id): ApiPath<i64>,
) -> Result<Json<Vec<String>>, ApiError> {
    state.services.room_bans(&admin, id).await.map(Json)
}

/// `DELETE /admin/rooms/{id}/bans/{username}`: 204; they may join or be added again.
pub async fn lift_room_ban(
    State(state): State<AppState>,
    AdminUser(admin): AdminUser,
    ApiPath((id, username)): ApiPath<(i64, String)>,
) -> Result<StatusCode, ApiError> {
    state.services.lift_room_ban(&admin, id, &username).await.map(|()| StatusCode::NO_CONTENT)
}

/// `DELETE /admin/rooms/{id}/members/{username}`: 204, audited.
pub async fn remove_member(
    State(state): State<AppState>,
    AdminUser(admin): AdminUser,
    ApiPath((id, username)): ApiPath<(i64, String)>,
) -> Result<StatusCode, ApiError> {
    state.services.remove_member_as_admin(&admin, id, &username).await.map(|()| StatusCode::NO_CONTENT)
}

/// `POST /admin/messages/{id}/remove` `{"reason"}`: 204; the text is gone for everyone (audited,
/// kept for admins); members' open sockets get a `removed` frame.
pub async fn remove_message(
    State(state): State<AppState>,
    AdminUser(admin): AdminUser,
    ApiPath(id): ApiPath<i64>,
    ApiJson(body): ApiJson<ReasonBody>,
) -> Result<StatusCode, ApiError> {
    state.services.remove_message(&admin, id, body.reason.as_deref()).await.map(|()| StatusCode::NO_CONTENT)
}

/// `GET /admin/review?before=ID&limit=N`: open review items, front of the queue first.
pub async fn review(
    State(state): State<AppState>,
    AdminUser(admin): AdminUser,
    Query(params): Query<HashMap<String, String>>,
) -> Result<Json<Vec<ReviewItem>>, ApiError> {
    let page = Page::before_from_query(&params, ADMIN_PAGE)?;
    state.services.review_page(&admin, page).await.map(Json)
}

/// `POST /admin/review/{id}` `{"action": "approve"|"remove"|"strike", "reason"?}`: the resolved
/// item; 409 when it was resolved already.
pub async fn decide(
    State(state): State<AppState>,
    AdminUser(admin): AdminUser,
    ApiPath(id): ApiPath<i64>,
    ApiJson(decision): ApiJson<ReviewDecision>,
) -> Result<Json<ReviewItem>, ApiError> {
    state.services.decide(&admin, id, &decision).await.map(Json)
}

/// `GET /admin/appeals?state=open|accepted|rejected&before=ID&limit=N`: newest first.
pub async fn appeals(
    State(state): State<AppState>,
    AdminUser(admin): AdminUser,
    Query(params): Query<HashMap<String, String>>,
) -> Result<Json<Vec<Appeal>>, ApiError> {
    let page = Page::before_from_query(&params, ADMIN_PAGE)?;
    state.services.appeals_page(&admin, params.get("state").map(String::as_str), page).await.map(Json)
}

/// `POST /admin/appeals/{id}` `{"decision": "accept"|"reject", "reason"?}`: the decided appeal.
pub async fn decide_appeal(
    State(state): State<AppState>,
    AdminUser(admin): AdminUser,
    ApiPath(id): ApiPath<i64>,
    ApiJson(decision): ApiJson<AppealDecision>,
) -> Result<Json<Appeal>, ApiError> {
    state.services.decide_appeal(&admin, id, &decision).await.map(Json)
}
