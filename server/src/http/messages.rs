//! `GET /messages`: history for any signed-in user, a page at a time. `?before=ID` (or neither)
//! pages back through older messages, newest first; `?after=ID` pages forward, oldest first (how
//! a client continues a `history` frame that said `more: true`).

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
    _user: AuthUser,
    Query(params): Query<HashMap<String, String>>,
) -> Result<Json<Vec<ChatMessage>>, ApiError> {
    let page = Page::from_query(&params, HISTORY_PAGE)?;
    state.services.history_page(page).await.map(Json)
}
