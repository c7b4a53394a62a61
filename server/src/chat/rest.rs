//! `GET /messages?before=ID&limit=N`: older history for any signed-in user, newest first.

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
    let limit = optional_number(&params, "limit")?.unwrap_or(PAGE_DEFAULT);
    if !(1..=PAGE_MAX).contains(&limit) {
        return Err(ApiError::BadRequest { message: format!("limit must be 1..={PAGE_MAX}") });
    }
    let messages = state.services.store.messages_before(before, limit).await.map_err(internal)?;
    Ok(Json(messages))
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
