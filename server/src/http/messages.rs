//! `GET /messages`: history for any signed-in user, a page at a time. `?before=ID` (or neither)
//! pages back through `general`'s older messages, newest first; `?after=ID` pages forward through
//! every conversation the user is in, oldest first (how a client continues a `since` catch-up
//! that said `more: true`).

use crate::http::extract::AuthUser;
use crate::services::paging::Page;
use crate::state::AppState;
use app::error::ApiError;
use app::models::ChatMessage;
use app::protocol::HISTORY_PAGE;
use axum::extract::{Query, State};
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
