//! Message actions over HTTP: `PATCH /messages/{id}` (edit), `DELETE /messages/{id}`,
//! `PUT` and `DELETE /messages/{id}/reactions/{emoji}`, `GET /search`, and for admins
//! `GET /admin/messages/{id}/versions`. Each parses, calls the use case, and maps the answer.

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
pub async fn edit(
    State(state): State<AppState>,
    AuthUser(user): AuthUser,
    ApiPath(id): ApiPath<i64>,
    ApiJson(body): ApiJson<EditMessage>,
) -> Result<Json<ChatMessage>, ApiError> {
    state.services.edit_message(&user, id, &body.content).await.map(Json)
}

/// `DELETE /messages/{id}`: 204; the message stays in place, deleted, for everyone.
pub async fn delete(
    State(state): State<AppState>,
    AuthUser(user): AuthUser,
    ApiPath(id): ApiPath<i64>,
) -> Result<StatusCode, ApiError> {
    state.services.delete_message(&user, id).await.map(|()| StatusCode::NO_CONTENT)
}

/// `PUT /messages/{id}/reactions/{emoji}`: 204, idempotent.
pub async fn react(
    State(state): State<AppState>,
    AuthUser(user): AuthUser,
    ApiPath((id, emoji)): ApiPath<(i64, String)>,
) -> Result<StatusCode, ApiError> {
    state.services.react(&user, id, &emoji, true).await.map(|()| StatusCode::NO_CONTENT)
}

/// `DELETE /messages/{id}/reactions/{emoji}`: 204, idempotent.
pub async fn unreact(
    State(state): State<AppState>,
    AuthUser(user): AuthUser,
    ApiPath((id, emoji)): ApiPath<(i64, String)>,
) -> Result<StatusCode, ApiError> {
    state.services.react(&user, id, &emoji, false).await.map(|()| StatusCode::NO_CONTENT)
}

/// `GET /search?q=&room_id=&limit=&before=&scope=`: `{"results": [Message]}`, newest first.
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
pub async fn versions(
    State(state): State<AppState>,
    AdminUser(admin): AdminUser,
    ApiPath(id): ApiPath<i64>,
) -> Result<Json<MessageVersions>, ApiError> {
    state.services.message_versions(&admin, id).await.map(Json)
}
