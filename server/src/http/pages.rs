//! Page guard: a logged-out visitor of a protected page is redirected to `/login` before any
//! rendering, so protected pages never render for strangers, with or without JavaScript.

use crate::state::AppState;
use app::error::ApiError;
use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};
use http::Method;

/// Page paths that need a signed-in user.
const PROTECTED_PAGES: &[&str] = &["/", "/admin", "/settings"];

pub async fn require_session(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let protected = request.method() == Method::GET && PROTECTED_PAGES.contains(&request.uri().path());
    if !protected {
        return next.run(request).await;
    }
    let token = app::session::token_from_headers(request.headers());
    let verdict = match token {
        Some(token) => state.services.user_for_token(&token).await.map(|_| ()),
        None => Err(ApiError::Unauthenticated),
    };
    match verdict {
        Ok(()) => next.run(request).await,
        Err(ApiError::Blocked) => Redirect::to("/login?error=blocked").into_response(),
        Err(_) => Redirect::to("/login").into_response(),
    }
}
