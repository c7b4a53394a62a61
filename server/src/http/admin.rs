//! `/admin/...` JSON routes and CSV downloads. Every route takes the `AdminUser` extractor: 401
//! without valid auth, 403 for a non-admin; the role is re-read from the database each time.

use super::openapi::ErrorBody;
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
#[utoipa::path(
    get,
    path = "/admin/users",
    tag = "admin",
    params(("after" = Option<i64>, Query, description = "Only those with a higher id (the next page)"), ("limit" = Option<i64>, Query, description = "At most this many (default 100, 1..=1000)"), ("blocked" = Option<bool>, Query, description = "`true`: blocked accounts only")),
    security(("bearer" = []), ("session_cookie" = [])),
    responses(
        (status = 200, description = "A page of users in id order", body = Vec<PublicUser>),
        (status = 400, description = "A bad `limit`, `after` or `blocked`", body = ErrorBody)
    )
)]
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
#[utoipa::path(
    get,
    path = "/admin/messages",
    tag = "admin",
    params(("before" = Option<i64>, Query, description = "Only those with a lower id (the next page)"), ("limit" = Option<i64>, Query, description = "At most this many (default 100, 1..=1000)")),
    security(("bearer" = []), ("session_cookie" = [])),
    responses(
        (status = 200, description = "Every conversation's messages, newest first", body = Vec<AdminMessage>),
        (status = 400, description = "A `limit` outside 1..=1000 or not a number; a negative or non-numeric cursor", body = ErrorBody)
    )
)]
pub async fn messages(
    State(state): State<AppState>,
    AdminUser(admin): AdminUser,
    Query(params): Query<HashMap<String, String>>,
) -> Result<Json<Vec<AdminMessage>>, ApiError> {
    let page = Page::before_from_query(&params, ADMIN_PAGE)?;
    state.services.messages_page(&admin, page).await.map(Json)
}

/// `GET /admin/moderation?before=ID&limit=N`: newest first.
#[utoipa::path(
    get,
    path = "/admin/moderation",
    tag = "admin",
    params(("before" = Option<i64>, Query, description = "Only those with a lower id (the next page)"), ("limit" = Option<i64>, Query, description = "At most this many (default 100, 1..=1000)")),
    security(("bearer" = []), ("session_cookie" = [])),
    responses(
        (status = 200, description = "The moderation log, newest first", body = Vec<ModerationEntry>),
        (status = 400, description = "A `limit` outside 1..=1000 or not a number; a negative or non-numeric cursor", body = ErrorBody)
    )
)]
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
#[utoipa::path(
    get,
    path = "/admin/audit",
    tag = "admin",
    params(("before" = Option<i64>, Query, description = "Only those with a lower id (the next page)"), ("limit" = Option<i64>, Query, description = "At most this many (default 100, 1..=1000)")),
    security(("bearer" = []), ("session_cookie" = [])),
    responses(
        (status = 200, description = "The audit log, newest first", body = Vec<app::models::AuditEntry>),
        (status = 400, description = "A `limit` outside 1..=1000 or not a number; a negative or non-numeric cursor", body = ErrorBody)
    )
)]
pub async fn audit(
    State(state): State<AppState>,
    AdminUser(admin): AdminUser,
    Query(params): Query<HashMap<String, String>>,
) -> Result<Json<Vec<app::models::AuditEntry>>, ApiError> {
    let page = Page::before_from_query(&params, ADMIN_PAGE)?;
    state.services.audit_page(&admin, page).await.map(Json)
}

#[utoipa::path(
    get,
    path = "/admin/overview",
    tag = "admin",
    security(("bearer" = []), ("session_cookie" = [])),
    responses(
        (status = 200, description = "The overview counts (today: the current UTC day)", body = AdminOverview)
    )
)]
pub async fn overview(
    State(state): State<AppState>,
    AdminUser(admin): AdminUser,
) -> Result<Json<AdminOverview>, ApiError> {
    state.services.overview_for(&admin).await.map(Json)
}

#[utoipa::path(
    post,
    path = "/admin/users/{id}/block",
    tag = "admin",
    params(("id" = i64, Path, description = "The user id")),
    security(("bearer" = []), ("session_cookie" = [])),
    responses(
        (status = 200, description = "The blocked user", body = PublicUser),
        (status = 400, description = "Blocking myself", body = ErrorBody),
        (status = 404, description = "Unknown id", body = ErrorBody)
    )
)]
pub async fn block(
    State(state): State<AppState>,
    AdminUser(admin): AdminUser,
    ApiPath(user_id): ApiPath<i64>,
) -> Result<Json<PublicUser>, ApiError> {
    state.services.set_blocked(&admin, user_id, true).await.map(Json)
}

#[utoipa::path(
    post,
    path = "/admin/users/{id}/unblock",
    tag = "admin",
    params(("id" = i64, Path, description = "The user id")),
    security(("bearer" = []), ("session_cookie" = [])),
    responses(
        (status = 200, description = "The unblocked user, warnings reset", body = PublicUser),
        (status = 404, description = "Unknown id", body = ErrorBody)
    )
)]
pub async fn unblock(
    State(state): State<AppState>,
    AdminUser(admin): AdminUser,
    ApiPath(user_id): ApiPath<i64>,
) -> Result<Json<PublicUser>, ApiError> {
    state.services.set_blocked(&admin, user_id, false).await.map(Json)
}

/// `GET /admin/download/users`: every user as CSV, streamed by keyset pages; 429 when
/// `max_exports` downloads are already streaming.
#[utoipa::path(
    get,
    path = "/admin/download/users",
    tag = "admin",
    security(("bearer" = []), ("session_cookie" = [])),
    responses(
        (status = 200, description = "Every user as CSV (an attachment), streamed", content_type = "text/csv"),
        (status = 429, description = "`max_exports` downloads are already streaming", body = ErrorBody)
    )
)]
pub async fn download_users(State(state): State<AppState>, AdminUser(admin): AdminUser) -> Response {
    state.services.download_users(&admin)
}

/// `GET /admin/download/messages`: every message, oldest first, as CSV (as the users export).
#[utoipa::path(
    get,
    path = "/admin/download/messages",
    tag = "admin",
    security(("bearer" = []), ("session_cookie" = [])),
    responses(
        (status = 200, description = "Every message, oldest first, as CSV (an attachment), streamed", content_type = "text/csv"),
        (status = 429, description = "`max_exports` downloads are already streaming", body = ErrorBody)
    )
)]
pub async fn download_messages(State(state): State<AppState>, AdminUser(admin): AdminUser) -> Response {
    state.services.download_messages(&admin)
}

/// `GET /admin/rooms?after=ID&limit=N`: every room, private rooms and DMs included, by id.
#[utoipa::path(
    get,
    path = "/admin/rooms",
    tag = "admin",
    params(("after" = Option<i64>, Query, description = "Only those with a higher id (the next page)"), ("limit" = Option<i64>, Query, description = "At most this many (default 100, 1..=1000)")),
    security(("bearer" = []), ("session_cookie" = [])),
    responses(
        (status = 200, description = "A page of every room in id order", body = Vec<AdminRoom>),
        (status = 400, description = "A `limit` outside 1..=1000 or not a number; a negative or non-numeric cursor", body = ErrorBody)
    )
)]
pub async fn rooms(
    State(state): State<AppState>,
    AdminUser(admin): AdminUser,
    Query(params): Query<HashMap<String, String>>,
) -> Result<Json<Vec<AdminRoom>>, ApiError> {
    let page = Page::after_from_query(&params, ADMIN_PAGE)?;
    state.services.rooms_page(&admin, page).await.map(Json)
}

/// `POST /admin/rooms/{id}/archive`: audited.
#[utoipa::path(
    post,
    path = "/admin/rooms/{id}/archive",
    tag = "admin",
    params(("id" = i64, Path, description = "The room id")),
    security(("bearer" = []), ("session_cookie" = [])),
    responses(
        (status = 200, description = "The archived room", body = AdminRoom),
        (status = 400, description = "`general`", body = ErrorBody),
        (status = 404, description = "Unknown id", body = ErrorBody)
    )
)]
pub async fn archive_room(
    State(state): State<AppState>,
    AdminUser(admin): AdminUser,
    ApiPath(id): ApiPath<i64>,
) -> Result<Json<AdminRoom>, ApiError> {
    state.services.archive_room(&admin, id).await.map(Json)
}

/// `POST /admin/rooms/{id}/unarchive`: audited; lifts an admin's archive.
#[utoipa::path(
    post,
    path = "/admin/rooms/{id}/unarchive",
    tag = "admin",
    params(("id" = i64, Path, description = "The room id")),
    security(("bearer" = []), ("session_cookie" = [])),
    responses(
        (status = 200, description = "The room brought back", body = AdminRoom),
        (status = 400, description = "`general`", body = ErrorBody),
        (status = 404, description = "Unknown id", body = ErrorBody)
    )
)]
pub async fn unarchive_room(
    State(state): State<AppState>,
    AdminUser(admin): AdminUser,
    ApiPath(id): ApiPath<i64>,
) -> Result<Json<AdminRoom>, ApiError> {
    state.services.unarchive_room(&admin, id).await.map(Json)
}

/// `GET /admin/rooms/{id}/bans`: the usernames an admin removed (who cannot come back).
#[utoipa::path(
    get,
    path = "/admin/rooms/{id}/bans",
    tag = "admin",
    params(("id" = i64, Path, description = "The room id")),
    security(("bearer" = []), ("session_cookie" = [])),
    responses(
        (status = 200, description = "Who an admin removed and has not let back", body = Vec<String>),
        (status = 404, description = "Unknown room", body = ErrorBody)
    )
)]
pub async fn room_bans(
    State(state): State<AppState>,
    AdminUser(admin): AdminUser,
    ApiPath(id): ApiPath<i64>,
) -> Result<Json<Vec<String>>, ApiError> {
    state.services.room_bans(&admin, id).await.map(Json)
}

/// `DELETE /admin/rooms/{id}/bans/{username}`: 204; they may join or be added again.
#[utoipa::path(
    delete,
    path = "/admin/rooms/{id}/bans/{username}",
    tag = "admin",
    params(("id" = i64, Path, description = "The room id"), ("username" = String, Path, description = "A username")),
    security(("bearer" = []), ("session_cookie" = [])),
    responses(
        (status = 204, description = "They may join or be added again"),
        (status = 404, description = "An admin had not removed them", body = ErrorBody)
    )
)]
pub async fn lift_room_ban(
    State(state): State<AppState>,
    AdminUser(admin): AdminUser,
    ApiPath((id, username)): ApiPath<(i64, String)>,
) -> Result<StatusCode, ApiError> {
    state.services.lift_room_ban(&admin, id, &username).await.map(|()| StatusCode::NO_CONTENT)
}

/// `DELETE /admin/rooms/{id}/members/{username}`: 204, audited.
#[utoipa::path(
    delete,
    path = "/admin/rooms/{id}/members/{username}",
    tag = "admin",
    params(("id" = i64, Path, description = "The room id"), ("username" = String, Path, description = "A username")),
    security(("bearer" = []), ("session_cookie" = [])),
    responses(
        (status = 204, description = "Removed, and kept out until an admin lifts it"),
        (status = 400, description = "`general` or a DM", body = ErrorBody),
        (status = 404, description = "Unknown room; not a member", body = ErrorBody)
    )
)]
pub async fn remove_member(
    State(state): State<AppState>,
    AdminUser(admin): AdminUser,
    ApiPath((id, username)): ApiPath<(i64, String)>,
) -> Result<StatusCode, ApiError> {
    state.services.remove_member_as_admin(&admin, id, &username).await.map(|()| StatusCode::NO_CONTENT)
}

/// `POST /admin/messages/{id}/remove` `{"reason"}`: 204; the text is gone for everyone (audited,
/// kept for admins); members' open sockets get a `removed` frame.
#[utoipa::path(
    post,
    path = "/admin/messages/{id}/remove",
    tag = "admin",
    params(("id" = i64, Path, description = "The message id")),
    request_body = ReasonBody,
    security(("bearer" = []), ("session_cookie" = [])),
    responses(
        (status = 204, description = "Removed for everyone (also when it was already)"),
        (status = 400, description = "No reason, a blank one, or one over 500 characters", body = ErrorBody),
        (status = 404, description = "Unknown id", body = ErrorBody)
    )
)]
pub async fn remove_message(
    State(state): State<AppState>,
    AdminUser(admin): AdminUser,
    ApiPath(id): ApiPath<i64>,
    ApiJson(body): ApiJson<ReasonBody>,
) -> Result<StatusCode, ApiError> {
    state.services.remove_message(&admin, id, body.reason.as_deref()).await.map(|()| StatusCode::NO_CONTENT)
}

/// `GET /admin/review?before=ID&limit=N`: open review items, front of the queue first.
#[utoipa::path(
    get,
    path = "/admin/review",
    tag = "admin",
    params(("before" = Option<i64>, Query, description = "Only those with a lower id (the next page)"), ("limit" = Option<i64>, Query, description = "At most this many (default 100, 1..=1000)")),
    security(("bearer" = []), ("session_cookie" = [])),
    responses(
        (status = 200, description = "The open review items, front of the queue first", body = Vec<ReviewItem>),
        (status = 400, description = "A `limit` outside 1..=1000 or not a number; a negative or non-numeric cursor", body = ErrorBody)
    )
)]
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
#[utoipa::path(
    post,
    path = "/admin/review/{id}",
    tag = "admin",
    params(("id" = i64, Path, description = "The review item id")),
    request_body = ReviewDecision,
    security(("bearer" = []), ("session_cookie" = [])),
    responses(
        (status = 200, description = "The resolved item", body = ReviewItem),
        (status = 400, description = "Another action; a reason over 500 characters", body = ErrorBody),
        (status = 404, description = "Unknown item", body = ErrorBody),
        (status = 409, description = "Resolved already", body = ErrorBody)
    )
)]
pub async fn decide(
    State(state): State<AppState>,
    AdminUser(admin): AdminUser,
    ApiPath(id): ApiPath<i64>,
    ApiJson(decision): ApiJson<ReviewDecision>,
) -> Result<Json<ReviewItem>, ApiError> {
    state.services.decide(&admin, id, &decision).await.map(Json)
}

/// `GET /admin/appeals?state=open|accepted|rejected&before=ID&limit=N`: newest first.
#[utoipa::path(
    get,
    path = "/admin/appeals",
    tag = "admin",
    params(("state" = Option<String>, Query, description = "`open`, `accepted` or `rejected` (absent: all)"), ("before" = Option<i64>, Query, description = "Only those with a lower id (the next page)"), ("limit" = Option<i64>, Query, description = "At most this many (default 100, 1..=1000)")),
    security(("bearer" = []), ("session_cookie" = [])),
    responses(
        (status = 200, description = "Appeals, newest first", body = Vec<Appeal>),
        (status = 400, description = "A bad `state`, `limit` or `before`", body = ErrorBody)
    )
)]
pub async fn appeals(
    State(state): State<AppState>,
    AdminUser(admin): AdminUser,
    Query(params): Query<HashMap<String, String>>,
) -> Result<Json<Vec<Appeal>>, ApiError> {
    let page = Page::before_from_query(&params, ADMIN_PAGE)?;
    state.services.appeals_page(&admin, params.get("state").map(String::as_str), page).await.map(Json)
}

/// `POST /admin/appeals/{id}` `{"decision": "accept"|"reject", "reason"?}`: the decided appeal.
#[utoipa::path(
    post,
    path = "/admin/appeals/{id}",
    tag = "admin",
    params(("id" = i64, Path, description = "The appeal id")),
    request_body = AppealDecision,
    security(("bearer" = []), ("session_cookie" = [])),
    responses(
        (status = 200, description = "The decided appeal", body = Appeal),
        (status = 400, description = "Another decision", body = ErrorBody),
        (status = 404, description = "Unknown appeal", body = ErrorBody),
        (status = 409, description = "Decided already", body = ErrorBody)
    )
)]
pub async fn decide_appeal(
    State(state): State<AppState>,
    AdminUser(admin): AdminUser,
    ApiPath(id): ApiPath<i64>,
    ApiJson(decision): ApiJson<AppealDecision>,
) -> Result<Json<Appeal>, ApiError> {
    state.services.decide_appeal(&admin, id, &decision).await.map(Json)
}
