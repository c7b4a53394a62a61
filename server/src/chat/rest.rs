//! `GET /messages`: history for any signed-in user, a page at a time. `?before=ID` (or neither)
//! pages back through older messages, newest first; `?after=ID` pages forward, oldest first (how
//! a client continues a `history` frame that said `more: true`).

use crate::http::extract::AuthUser;
use crate::services::internal;
use crate::AppState;
use app::error::ApiError;
use app::models::ChatMessage;
use axum::extract::{Query, State};
use axum::Json;
use std::collections::HashMap;

/// Default and largest page of `GET /messages`.
pub const PAGE_DEFAULT: i64 = 50;
pub const PAGE_MAX: i64 = 200;

pub async fn older_messages(
    State(state): State<AppState>,
    _user: AuthUser,
    Query(params): Query<HashMap<String, String>>,
) -> Result<Json<Vec<ChatMessage>>, ApiError> {
    let before = optional_number(&params, "before")?;
    let after = optional_number(&params, "after")?;
    let limit = optional_number(&params, "limit")?.unwrap_or(PAGE_DEFAULT);
    if !(1..=PAGE_MAX).contains(&limit) {
        return Err(ApiError::BadRequest { message: format!("limit must be 1..={PAGE_MAX}") });
    }
    let store = &state.services.store;
    let messages = match (before, after) {
        (Some(_), Some(_)) => {
            return Err(ApiError::BadRequest { message: "give before or after, not both".into() });
        }
        (_, Some(after)) => store.messages_since(after, limit).await.map(|(messages, _)| messages),
        (before, None) => store.messages_before(before, limit).await,
    };
    messages.map(Json).map_err(internal)
}

/// A non-negative integer query parameter, if present.
pub fn optional_number(params: &HashMap<String, String>, name: &str) -> Result<Option<i64>, ApiError> {
    match params.get(name) {
        None => Ok(None),
        Some(raw) => match raw.parse::<i64>() {
            Ok(n) if n >= 0 => Ok(Some(n)),
            _ => Err(ApiError::BadRequest { message: format!("{name} must be a non-negative integer") }),
        },
    }
}
