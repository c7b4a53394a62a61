//! `GET /messages`: history for any signed-in user, a page at a time. `?before=ID` (or neither)
//! pages back through `general`'s older messages, newest first; `?after=ID` pages forward through
//! every conversation the user is in, oldest first (how a client continues a `since` catch-up
//! that said `more: true`). `POST /messages/{id}/report`: a member reports a message.

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
pub async fn report(
    State(state): State<AppState>,
    AuthUser(user): AuthUser,
    ApiPath(id): ApiPath<i64>,
    ApiJson(body): ApiJson<ReasonBody>,
) -> Result<StatusCode, ApiError> {
    state.services.report(&user, id, body.reason.as_deref()).await.map(|()| StatusCode::NO_CONTENT)
}
