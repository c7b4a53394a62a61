//! Trust-and-safety doors for people (not admins): `GET /me/standing` (where my account stands)
//! and `POST /appeals` (a blocked person asks to be let back, with their password, since they
//! cannot sign in).

use super::extract::{ApiJson, AuthUser, Origin};
use super::openapi::ErrorBody;
use crate::state::AppState;
use app::error::ApiError;
use app::models::{AppealCreated, AppealRequest, Standing};
use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;

/// `GET /me/standing`: `{"warnings", "max_warnings", "blocked", "history"}`.
#[utoipa::path(
    get,
    path = "/me/standing",
    tag = "safety",
    security(("bearer" = []), ("session_cookie" = [])),
    responses(
        (status = 200, description = "Where my account stands with moderation", body = Standing)
    )
)]
pub async fn standing(State(state): State<AppState>, AuthUser(user): AuthUser) -> Result<Json<Standing>, ApiError> {
    state.services.my_standing(&user).await.map(Json)
}

/// `POST /appeals` `{"username", "password", "text"}`: 201 `{"id", "state": "open"}`.
#[utoipa::path(
    post,
    path = "/appeals",
    tag = "safety",
    request_body = AppealRequest,
    responses(
        (status = 201, description = "The appeal is open", body = AppealCreated),
        (status = 400, description = "A blank text, or one over 1000 characters", body = ErrorBody),
        (status = 401, description = "A wrong password, an unknown account, or an account that is not blocked (the same answer as a login)", body = ErrorBody),
        (status = 409, description = "This block already has an appeal", body = ErrorBody),
        (status = 422, description = "The text breaks the word filter (nothing is counted)", body = ErrorBody),
        (status = 429, description = "Throttled as a login is (per IP and per account)", body = ErrorBody)
    )
)]
pub async fn appeal(
    State(state): State<AppState>,
    Origin(origin): Origin,
    ApiJson(request): ApiJson<AppealRequest>,
) -> Result<(StatusCode, Json<AppealCreated>), ApiError> {
    state.services.appeal(&request, &origin).await.map(|created| (StatusCode::CREATED, Json(created)))
}
