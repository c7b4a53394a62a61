//! REST handlers of the account contract (`docs/api.md`). Each one is a thin adapter over
//! `Services`, the same code the server functions call.

use super::extract::{ApiJson, AuthUser, Origin};
use super::openapi::ErrorBody;
use crate::state::AppState;
use app::backend::Backend;
use app::error::ApiError;
use app::models::{LoginRequest, LoginResponse, PublicUser, RegisterRequest, RegisterResponse};
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use http::header::SET_COOKIE;
use http::{HeaderMap, HeaderValue};

#[utoipa::path(
    post,
    path = "/register",
    tag = "accounts",
    request_body = RegisterRequest,
    responses(
        (status = 201, description = "Created; the first account of an empty database is an admin", body = RegisterResponse),
        (status = 409, description = "The username or the email is already used (case-insensitive)", body = ErrorBody),
        (status = 422, description = "An invalid field (username 3-32 of `[A-Za-z0-9_.-]`, a plausible email, password 8-72 bytes)", body = ErrorBody),
        (status = 429, description = "Registrations per client IP", body = ErrorBody)
    )
)]
pub async fn register(
    State(state): State<AppState>,
    Origin(origin): Origin,
    ApiJson(request): ApiJson<RegisterRequest>,
) -> Result<(StatusCode, Json<RegisterResponse>), ApiError> {
    let user = state.services.register(request, &origin).await?;
    let body = RegisterResponse { message: "User registered successfully".into(), user };
    Ok((StatusCode::CREATED, Json(body)))
}

#[utoipa::path(
    post,
    path = "/login",
    tag = "accounts",
    request_body = LoginRequest,
    responses(
        (status = 200, description = "Signed in", body = LoginResponse),
        (status = 401, description = "Unknown user or wrong password (the same answer)", body = ErrorBody),
        (status = 403, description = "A blocked account, after the right password: `appeal` (and `reason` once rejected) say where its appeal stands", body = ErrorBody),
        (status = 429, description = "Login attempts per client IP, or failed logins per account", body = ErrorBody)
    )
)]
pub async fn login(
    State(state): State<AppState>,
    Origin(origin): Origin,
    ApiJson(request): ApiJson<LoginRequest>,
) -> Result<Json<LoginResponse>, ApiError> {
    state.services.login(request, &origin).await.map(Json)
}

#[utoipa::path(
    get,
    path = "/me",
    tag = "accounts",
    security(("bearer" = []), ("session_cookie" = [])),
    responses(
        (status = 200, description = "The signed-in user", body = PublicUser)
    )
)]
pub async fn me(AuthUser(user): AuthUser) -> Json<PublicUser> {
    Json(user)
}

/// `POST /session/renew`: a fresh token for the session of the request's token (Bearer or
/// cookie), with the same login time. A Bearer client gets the token in the body; a cookie
/// session gets the new cookie and only `{"expires_in"}`, so no script on the page ever sees the
/// token the HttpOnly cookie keeps from it.
#[utoipa::path(
    post,
    path = "/session/renew",
    tag = "accounts",
    security(("bearer" = []), ("session_cookie" = [])),
    responses(
        (status = 200, description = "Renewed: a Bearer client gets the token; a cookie session gets `{expires_in}` and a new `Set-Cookie`", body = super::openapi::Renewed),
        (status = 401, description = "No token; an invalid, expired or revoked token; the session reached its maximum age", body = ErrorBody)
    )
)]
pub async fn renew_session(State(state): State<AppState>, headers: HeaderMap) -> Result<Response, ApiError> {
    let token = app::session::token_from_headers(&headers).ok_or(ApiError::Unauthenticated)?;
    let grant = state.services.renew_session(&token).await?;
    if app::session::bearer_token(&headers).is_some() {
        return Ok(Json(&grant).into_response());
    }
    let mut response = Json(serde_json::json!({ "expires_in": grant.expires_in })).into_response();
    set_session_cookie(&mut response, &grant, &headers);
    Ok(response)
}

/// `POST /logout`: revokes the session of the request's token (Bearer or cookie): 204. Its
/// tokens (renewals included) are refused from then on and its sockets close with 4001, on every
/// node. A cookie session also gets its cookie cleared.
#[utoipa::path(
    post,
    path = "/logout",
    tag = "accounts",
    security(("bearer" = []), ("session_cookie" = [])),
    responses(
        (status = 204, description = "The session is revoked; a cookie session also gets its cookie cleared"),
        (status = 401, description = "No token, an invalid or expired one, or a session that already ended", body = ErrorBody)
    )
)]
pub async fn logout(State(state): State<AppState>, headers: HeaderMap) -> Result<Response, ApiError> {
    let token = app::session::token_from_headers(&headers).ok_or(ApiError::Unauthenticated)?;
    state.services.logout(&token).await?;
    let mut response = StatusCode::NO_CONTENT.into_response();
    clear_cookie_session(&mut response, &headers);
    Ok(response)
}

/// Gives `response` the session cookie of `grant` (Secure when the request came over https).
pub(super) fn set_session_cookie(response: &mut Response, grant: &LoginResponse, headers: &HeaderMap) {
    let cookie = app::session::session_cookie(&grant.access_token, grant.expires_in, app::session::is_https(headers));
    if let Ok(value) = HeaderValue::from_str(&cookie) {
        response.headers_mut().insert(SET_COOKIE, value);
    }
}

/// When the request was authenticated by the session cookie (not a Bearer token), clears it.
pub(super) fn clear_cookie_session(response: &mut Response, headers: &HeaderMap) {
    if app::session::bearer_token(headers).is_some() {
        return;
    }
    let cookie = app::session::clear_session_cookie(app::session::is_https(headers));
    if let Ok(value) = HeaderValue::from_str(&cookie) {
        response.headers_mut().insert(SET_COOKIE, value);
    }
}
