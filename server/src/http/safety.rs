//! Trust-and-safety doors for people (not admins): `GET /me/standing` (where my account stands)
//! and `POST /appeals` (a blocked person asks to be let back, with their password, since they
//! cannot sign in).

use super::extract::{ApiJson, AuthUser, Origin};
use crate::state::AppState;
use app::error::ApiError;
use app::models::{AppealCreated, AppealRequest, Standing};
use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;

/// `GET /me/standing`: `{"warnings", "max_warnings", "blocked", "history"}`.
pub async fn standing(State(state): State<AppState>, AuthUser(user): AuthUser) -> Result<Json<Standing>, ApiError> {
    state.services.my_standing(&user).await.map(Json)
}

/// `POST /appeals` `{"username", "password", "text"}`: 201 `{"id", "state": "open"}`.
pub async fn appeal(
    State(state): State<AppState>,
    Origin(origin): Origin,
    ApiJson(request): ApiJson<AppealRequest>,
) -> Result<(StatusCode, Json<AppealCreated>), ApiError> {
    state.services.appeal(&request, &origin).await.map(|created| (StatusCode::CREATED, Json(created)))
}
