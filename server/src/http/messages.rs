//! `GET /messages`: history for any signed-in user, a page at a time. `?before=ID` (or neither)
//! pages back through `general`'s older messages, newest first; `?after=ID` pages forward through
//! every conversation the user is in, oldest first (how a client continues a `since` catch-up
//! that said `more: true`). `POST /messages/{id}/report`: a member reports a message.

use super::openapi::ErrorBody;
use crate::http::extract::{ApiJson, ApiPath, AuthUser};
use crate::services::paging::Page;
use crate::state::AppState;
use app::error::ApiError;
use app::models::{ChatMessage, ReasonBody};
use app::protocol::HISTORY_PAGE;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::Json;
use std::collections::HashMap;

#[utoipa::path(
    get,
    path = "/messages",
    tag = "history",
    params(("before" = Option<i64>, Query, description = "Only those with a lower id (the next page)"), ("after" = Option<i64>, Query, description = "Only those with a higher id (the next page)"), ("limit" = Option<i64>, Query, description = "At most this many (default 50, 1..=200)")),
    security(("bearer" = []), ("session_cookie" = [])),
    responses(
        (status = 200, description = "With `before` (or neither): `general`'s older messages, newest first. With `after`: newer messages of every conversation I am in, oldest first", body = Vec<ChatMessage>),
        (status = 400, description = "A bad parameter; `before` and `after` together", body = ErrorBody)
    )
)]
pub async fn messages(
    State(state): State<AppState>,
    AuthUser(user): AuthUser,
    Query(params): Query<HashMap<String, String>>,
) -> Result<Json<Vec<ChatMessage>>, ApiError> {
    let page = Page::from_query(&params, HISTORY_PAGE)?;
    state.services.history_page(&user, page).await.map(Json)
}

/// `POST /messages/{id}/report` `{"reason"?}`: 204, once per reporter per message (repeating is
/// 204 and changes nothing); 404 for a message the reporter cannot read; 400 for their own.
#[utoipa::path(
    post,
    path = "/messages/{id}/report",
    tag = "history",
    params(("id" = i64, Path, description = "The message id")),
    request_body = ReasonBody,
    security(("bearer" = []), ("session_cookie" = [])),
    responses(
        (status = 204, description = "Reported (reporting it again changes nothing)"),
        (status = 400, description = "My own message; a reason over 500 characters", body = ErrorBody),
        (status = 404, description = "A message I cannot read (the same answer as an unknown id)", body = ErrorBody),
        (status = 429, description = "Reports per account", body = ErrorBody)
    )
)]
pub async fn report(
    State(state): State<AppState>,
    AuthUser(user): AuthUser,
    ApiPath(id): ApiPath<i64>,
    ApiJson(body): ApiJson<ReasonBody>,
) -> Result<StatusCode, ApiError> {
    state.services.report(&user, id, body.reason.as_deref()).await.map(|()| StatusCode::NO_CONTENT)
}
