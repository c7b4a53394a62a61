//! Message actions over HTTP: `PATCH /messages/{id}` (edit), `DELETE /messages/{id}`,
//! `PUT` and `DELETE /messages/{id}/reactions/{emoji}`, `GET /search`, and for admins
//! `GET /admin/messages/{id}/versions`. Each parses, calls the use case, and maps the answer.

use super::openapi::ErrorBody;
use crate::http::extract::{AdminUser, ApiJson, ApiPath, AuthUser};
use crate::services::message_actions::SearchParams;
use crate::state::AppState;
use app::error::ApiError;
use app::models::{ChatMessage, EditMessage, MessageVersions, SearchResults};
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::Json;
use std::collections::HashMap;

/// `PATCH /messages/{id}` `{"content"}`: 200 the message as it is now, with `edited_at`.
#[utoipa::path(
    patch,
    path = "/messages/{id}",
    tag = "message-actions",
    params(("id" = i64, Path, description = "The message id")),
    request_body = EditMessage,
    security(("bearer" = []), ("session_cookie" = [])),
    responses(
        (status = 200, description = "Edited (or unchanged): the message as it is now", body = ChatMessage),
        (status = 403, description = "Someone else's message; the edit window is over; the conversation is archived; this edit's violation blocked my account", body = ErrorBody),
        (status = 404, description = "Unknown id; a conversation I am not in; a deleted or removed message", body = ErrorBody),
        (status = 422, description = "Empty, only whitespace or over 4000 characters; refused by the word filter (`warning_count`, `max_warnings`) or held by the classifier", body = ErrorBody),
        (status = 429, description = "The message flood budget", body = ErrorBody)
    )
)]
pub async fn edit(
    State(state): State<AppState>,
    AuthUser(user): AuthUser,
    ApiPath(id): ApiPath<i64>,
    ApiJson(body): ApiJson<EditMessage>,
) -> Result<Json<ChatMessage>, ApiError> {
    state.services.edit_message(&user, id, &body.content).await.map(Json)
}

/// `DELETE /messages/{id}`: 204; the message stays in place, deleted, for everyone.
#[utoipa::path(
    delete,
    path = "/messages/{id}",
    tag = "message-actions",
    params(("id" = i64, Path, description = "The message id")),
    security(("bearer" = []), ("session_cookie" = [])),
    responses(
        (status = 204, description = "Deleted (also when it was already)"),
        (status = 403, description = "A member who is neither its sender nor an admin", body = ErrorBody),
        (status = 404, description = "Unknown id; a conversation I am not in (unless I am an admin)", body = ErrorBody)
    )
)]
pub async fn delete(
    State(state): State<AppState>,
    AuthUser(user): AuthUser,
    ApiPath(id): ApiPath<i64>,
) -> Result<StatusCode, ApiError> {
    state.services.delete_message(&user, id).await.map(|()| StatusCode::NO_CONTENT)
}

/// `PUT /messages/{id}/reactions/{emoji}`: 204, idempotent.
#[utoipa::path(
    put,
    path = "/messages/{id}/reactions/{emoji}",
    tag = "message-actions",
    params(("id" = i64, Path, description = "The message id"), ("emoji" = String, Path, description = "One emoji, percent-encoded UTF-8")),
    security(("bearer" = []), ("session_cookie" = [])),
    responses(
        (status = 204, description = "Added (also when it already was)"),
        (status = 400, description = "Not exactly one emoji", body = ErrorBody),
        (status = 403, description = "Its conversation is archived", body = ErrorBody),
        (status = 404, description = "Unknown id; a conversation I am not in; a deleted or removed message", body = ErrorBody),
        (status = 409, description = "A new emoji on a message that carries 20 already", body = ErrorBody),
        (status = 429, description = "The reaction budget", body = ErrorBody)
    )
)]
pub async fn react(
    State(state): State<AppState>,
    AuthUser(user): AuthUser,
    ApiPath((id, emoji)): ApiPath<(i64, String)>,
) -> Result<StatusCode, ApiError> {
    state.services.react(&user, id, &emoji, true).await.map(|()| StatusCode::NO_CONTENT)
}

/// `DELETE /messages/{id}/reactions/{emoji}`: 204, idempotent.
#[utoipa::path(
    delete,
    path = "/messages/{id}/reactions/{emoji}",
    tag = "message-actions",
    params(("id" = i64, Path, description = "The message id"), ("emoji" = String, Path, description = "One emoji, percent-encoded UTF-8")),
    security(("bearer" = []), ("session_cookie" = [])),
    responses(
        (status = 204, description = "Taken back (also when it was not there)"),
        (status = 400, description = "Not exactly one emoji", body = ErrorBody),
        (status = 403, description = "Its conversation is archived", body = ErrorBody),
        (status = 404, description = "Unknown id; a conversation I am not in; a deleted or removed message", body = ErrorBody),
        (status = 429, description = "The reaction budget", body = ErrorBody)
    )
)]
pub async fn unreact(
    State(state): State<AppState>,
    AuthUser(user): AuthUser,
    ApiPath((id, emoji)): ApiPath<(i64, String)>,
) -> Result<StatusCode, ApiError> {
    state.services.react(&user, id, &emoji, false).await.map(|()| StatusCode::NO_CONTENT)
}

/// `GET /search?q=&room_id=&limit=&before=&scope=`: `{"results": [Message]}`, newest first.
#[utoipa::path(
    get,
    path = "/search",
    tag = "message-actions",
    params(("q" = String, Query, description = "The query (docs/api.md, Search rules)"), ("room_id" = Option<i64>, Query, description = "Only this conversation"), ("limit" = Option<i64>, Query, description = "At most this many (default 20, 1..=100)"), ("before" = Option<i64>, Query, description = "Only those with a lower id (the next page)"), ("scope" = Option<String>, Query, description = "`member` (default) or `public`")),
    security(("bearer" = []), ("session_cookie" = [])),
    responses(
        (status = 200, description = "The results, newest first, each with `highlight`", body = SearchResults),
        (status = 400, description = "An empty or too long query, too many terms, a bad operator; a bad `limit`, `room_id`, `before` or `scope`", body = ErrorBody)
    )
)]
pub async fn search(
    State(state): State<AppState>,
    AuthUser(user): AuthUser,
    Query(params): Query<HashMap<String, String>>,
) -> Result<Json<SearchResults>, ApiError> {
    let number = |name: &str| -> Result<Option<i64>, ApiError> {
        params
            .get(name)
            .filter(|value| !value.is_empty())
            .map(|value| {
                value.parse::<i64>().map_err(|_| ApiError::BadRequest { message: format!("{name} must be a number") })
            })
            .transpose()
    };
    let params = SearchParams {
        q: params.get("q").cloned().unwrap_or_default(),
        room_id: number("room_id")?,
        limit: number("limit")?,
        before: number("before")?,
        scope: params.get("scope").cloned(),
    };
    state.services.search(&user, &params).await.map(Json)
}

/// `GET /admin/messages/{id}/versions`: the message now and every version of it.
#[utoipa::path(
    get,
    path = "/admin/messages/{id}/versions",
    tag = "admin",
    params(("id" = i64, Path, description = "The message id")),
    security(("bearer" = []), ("session_cookie" = [])),
    responses(
        (status = 200, description = "The message now and every version of it, oldest first", body = MessageVersions),
        (status = 404, description = "Unknown id", body = ErrorBody)
    )
)]
pub async fn versions(
    State(state): State<AppState>,
    AdminUser(admin): AdminUser,
    ApiPath(id): ApiPath<i64>,
) -> Result<Json<MessageVersions>, ApiError> {
    state.services.message_versions(&admin, id).await.map(Json)
}
