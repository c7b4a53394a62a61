//! REST handlers of "Your account" (docs/api.md): `POST /me/password`, `GET /me/export` and
//! `DELETE /me`. Thin adapters over `services::accounts`.

use super::extract::{ApiJson, AuthUser, Origin};
use super::openapi::ErrorBody;
use crate::state::AppState;
use app::error::ApiError;
use app::models::{ChangePasswordRequest, DeleteAccountRequest};
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use http::{HeaderMap, HeaderName, HeaderValue};

/// The fresh session's token for a Bearer client after a password change.
pub const ACCESS_TOKEN_HEADER: HeaderName = HeaderName::from_static("x-access-token");
/// Its lifetime in seconds.
pub const EXPIRES_IN_HEADER: HeaderName = HeaderName::from_static("x-expires-in");

/// `POST /me/password` `{"current", "new"}`: 204. Every session and socket of the account ends
/// (4001); the one that asked gets a fresh session: a cookie session its new cookie, a Bearer
/// client the token in `X-Access-Token` (and its lifetime in `X-Expires-In`).
#[utoipa::path(
    post,
    path = "/me/password",
    tag = "accounts",
    request_body = ChangePasswordRequest,
    security(("bearer" = []), ("session_cookie" = [])),
    responses(
        (status = 204, description = "Changed: every other session ends; the asker gets a fresh one (a cookie session a new cookie, a Bearer client the token in `X-Access-Token`)", headers(("X-Access-Token" = String, description = "Bearer clients: the new session's token"), ("X-Expires-In" = u64, description = "Bearer clients: its lifetime in seconds"))),
        (status = 401, description = "The current password is wrong", body = ErrorBody),
        (status = 422, description = "The new password is invalid (8-72 bytes)", body = ErrorBody),
        (status = 429, description = "Failed password checks per account, as for logins", body = ErrorBody)
    )
)]
pub async fn change_password(
    State(state): State<AppState>,
    AuthUser(user): AuthUser,
    Origin(origin): Origin,
    headers: HeaderMap,
    ApiJson(request): ApiJson<ChangePasswordRequest>,
) -> Result<Response, ApiError> {
    let grant = state.services.change_password(&user, &request.current, &request.new, &origin).await?;
    let mut response = StatusCode::NO_CONTENT.into_response();
    if app::session::bearer_token(&headers).is_none() {
        super::rest::set_session_cookie(&mut response, &grant, &headers);
        return Ok(response);
    }
    for (name, value) in [(ACCESS_TOKEN_HEADER, grant.access_token), (EXPIRES_IN_HEADER, grant.expires_in.to_string())]
    {
        if let Ok(value) = HeaderValue::from_str(&value) {
            response.headers_mut().insert(name, value);
        }
    }
    Ok(response)
}

/// `GET /me/export`: 200 `application/json` attachment `{"user", "rooms", "ignores", "uploads",
/// "messages"}`, streamed; 429 past the per-account allowance.
#[utoipa::path(
    get,
    path = "/me/export",
    tag = "accounts",
    security(("bearer" = []), ("session_cookie" = [])),
    responses(
        (status = 200, description = "Everything of mine, streamed as a JSON attachment (`Content-Disposition: attachment`)", body = app::models::AccountExport),
        (status = 429, description = "Exports per account", body = ErrorBody)
    )
)]
pub async fn export(State(state): State<AppState>, AuthUser(user): AuthUser) -> Result<Response, ApiError> {
    state.services.export_account(&user).await
}

/// `DELETE /me` `{"password"}`: 204 (401 for a wrong password, 409 for the only admin). Every
/// session and socket ends at once; a cookie session gets its cookie cleared.
#[utoipa::path(
    delete,
    path = "/me",
    tag = "accounts",
    request_body = DeleteAccountRequest,
    security(("bearer" = []), ("session_cookie" = [])),
    responses(
        (status = 204, description = "Deleted: every session and socket ends; a cookie session gets its cookie cleared"),
        (status = 401, description = "The password is wrong", body = ErrorBody),
        (status = 409, description = "I am the only admin", body = ErrorBody),
        (status = 429, description = "Failed password checks per account, as for logins", body = ErrorBody)
    )
)]
pub async fn delete(
    State(state): State<AppState>,
    AuthUser(user): AuthUser,
    Origin(origin): Origin,
    headers: HeaderMap,
    ApiJson(request): ApiJson<DeleteAccountRequest>,
) -> Result<Response, ApiError> {
    state.services.delete_account(&user, &request.password, &origin).await?;
    let mut response = StatusCode::NO_CONTENT.into_response();
    super::rest::clear_cookie_session(&mut response, &headers);
    Ok(response)
}
