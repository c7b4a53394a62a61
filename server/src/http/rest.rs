//! REST handlers of the account contract (`docs/api.md`). Each one is a thin adapter over
//! `Services`, the same code the server functions call.

use super::extract::{ApiJson, AuthUser, Origin};
use crate::AppState;
use app::backend::Backend;
use app::error::ApiError;
use app::models::{LoginRequest, LoginResponse, PublicUser, RegisterRequest, RegisterResponse};
use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;

pub async fn register(
    State(state): State<AppState>,
    Origin(origin): Origin,
    ApiJson(request): ApiJson<RegisterRequest>,
) -> Result<(StatusCode, Json<RegisterResponse>), ApiError> {
    let user = state.services.register(request, &origin).await?;
    let body = RegisterResponse { message: "User registered successfully".into(), user };
    Ok((StatusCode::CREATED, Json(body)))
}

pub async fn login(
    State(state): State<AppState>,
    Origin(origin): Origin,
    ApiJson(request): ApiJson<LoginRequest>,
) -> Result<Json<LoginResponse>, ApiError> {
    state.services.login(request, &origin).await.map(Json)
}

pub async fn me(AuthUser(user): AuthUser) -> Json<PublicUser> {
    Json(user)
}
