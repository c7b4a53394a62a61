//! Extractors shared by REST handlers: a JSON body whose rejections are JSON errors, and the
//! authenticated user (Bearer token or session cookie, re-read from the database every time).

use crate::services::admin::Admin;
use crate::state::AppState;
use app::error::ApiError;
use app::models::PublicUser;
use axum::extract::rejection::JsonRejection;
use axum::extract::{FromRequest, FromRequestParts, Request};
use http::request::Parts;
use serde::de::DeserializeOwned;

/// `Json<T>` that answers malformed bodies with `{"error": ...}` (400 for unparsable JSON,
/// 422 for the wrong fields, 415 handled as 400).
pub struct ApiJson<T>(pub T);

impl<T: DeserializeOwned> FromRequest<AppState> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, Self::Rejection> {
        match axum::Json::<T>::from_request(req, state).await {
            Ok(axum::Json(value)) => Ok(Self(value)),
            Err(JsonRejection::JsonDataError(e)) => Err(ApiError::InvalidInput { message: e.body_text() }),
            Err(e) => Err(ApiError::BadRequest { message: e.body_text() }),
        }
    }
}

/// `Path<T>` whose rejections (a non-numeric id ...) are JSON 400s instead of axum's text/plain.
pub struct ApiPath<T>(pub T);

impl<T: DeserializeOwned + Send, S: Send + Sync> FromRequestParts<S> for ApiPath<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        match axum::extract::Path::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Path(value)) => Ok(Self(value)),
            Err(e) => Err(ApiError::BadRequest { message: e.body_text() }),
        }
    }
}

/// The signed-in user of a request.
pub struct AuthUser(pub PublicUser);

impl FromRequestParts<AppState> for AuthUser {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let token = app::session::token_from_headers(&parts.headers).ok_or(ApiError::Unauthenticated)?;
        state.services.user_for_token(&token).await.map(AuthUser)
    }
}

/// The signed-in user of a request, who must be an admin (403 otherwise).
pub struct AdminUser(pub Admin);

impl FromRequestParts<AppState> for AdminUser {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let token = app::session::token_from_headers(&parts.headers).ok_or(ApiError::Unauthenticated)?;
        state.services.require_admin(&token).await.map(AdminUser)
    }
}

/// Where the request came from (peer address and `X-Forwarded-For`), for per-IP limits.
pub struct Origin(pub app::backend::RequestOrigin);

impl<S: Send + Sync> FromRequestParts<S> for Origin {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        Ok(Origin(app::backend::RequestOrigin::from_parts(parts)))
    }
}
