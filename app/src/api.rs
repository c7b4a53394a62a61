//! Server functions: the browser's doors to the same services the REST API uses (through
//! [`crate::backend::Backend`]). Forms post here directly, so login and register work with
//! JavaScript off: on error such a plain form post is redirected back to its page with
//! `?error=<code>`; with JavaScript on the typed error comes back to the page instead.

use crate::error::ApiError;
use crate::models::{AdminMessage, AdminOverview, AdminRoom, ModerationEntry, PublicUser};
use leptos::prelude::*;

#[server(endpoint = "auth/login")]
pub async fn login(username: String, password: String) -> Result<(), ApiError> {
    use crate::models::LoginRequest;
    let result = crate::backend::backend()?.login(LoginRequest { username, password }, &ssr::origin()).await;
    match result {
        Ok(grant) => {
            ssr::set_cookie(&crate::session::session_cookie(
                &grant.access_token,
                grant.expires_in,
                ssr::request_is_https(),
            ));
            leptos_axum::redirect("/");
            Ok(())
        }
        Err(error) => ssr::form_failure("/login", error),
    }
}

#[server(endpoint = "auth/register")]
pub async fn register(username: String, email: String, password: String) -> Result<(), ApiError> {
    use crate::models::RegisterRequest;
    let result =
        crate::backend::backend()?.register(RegisterRequest { username, email, password }, &ssr::origin()).await;
    match result {
        Ok(_) => {
            leptos_axum::redirect("/login?registered=1");
            Ok(())
        }
        Err(error) => ssr::form_failure("/register", error),
    }
}

/// Signs the browser out: revokes the session of its cookie (so a copy of the token dies with
/// it, and the session's sockets close on every node), clears the cookie and goes to `/login`.
/// A cookie whose session had already ended just gets cleared.
#[server(endpoint = "auth/logout")]
pub async fn logout() -> Result<(), ApiError> {
    let revoked = match ssr::request_token() {
        Some(token) => crate::backend::backend()?.logout(&token).await,
        None => Ok(()),
    };
    ssr::set_cookie(&crate::session::clear_session_cookie(ssr::request_is_https()));
    match revoked {
        Ok(()) | Err(ApiError::Unauthenticated | ApiError::Blocked) => {
            leptos_axum::redirect("/login");
            Ok(())
        }
        // The session could not be revoked (the store failed): say so rather than pretend.
        Err(error) => ssr::with_status(Err(error)),
    }
}

/// Renews the session cookie with a fresh token for the same session (never past the
/// session's maximum age); returns the seconds until the new token expires. The chat page calls
/// it before the session would expire, so a session in use is not thrown out.
#[server(endpoint = "auth/renew")]
pub async fn renew_session() -> Result<u64, ApiError> {
    let grant = ssr::with_status(async { crate::backend::backend()?.renew_session(&session_token()?).await }.await)?;
    ssr::set_cookie(&crate::session::session_cookie(&grant.access_token, grant.expires_in, ssr::request_is_https()));
    Ok(grant.expires_in)
}

/// The signed-in user, or `None` for a visitor without a valid session.
#[server(endpoint = "auth/me")]
pub async fn current_user() -> Result<Option<PublicUser>, ApiError> {
    let Some(token) = ssr::request_token() else {
        return Ok(None);
    };
    match crate::backend::backend()?.authenticate(&token).await {
        Ok(user) => Ok(Some(user)),
        Err(ApiError::Internal) => Err(ApiError::Internal),
        Err(_) => Ok(None),
    }
}

/// The token of the current request, or 401.
#[cfg(feature = "ssr")]
fn session_token() -> Result<String, ApiError> {
    ssr::request_token().ok_or(ApiError::Unauthenticated)
}

#[server(endpoint = "admin/stats")]
pub async fn admin_stats() -> Result<AdminOverview, ApiError> {
    ssr::with_status(async { crate::backend::backend()?.admin_overview(&session_token()?).await }.await)
}

/// One page of users in id order after the id `after` (the cursor: the last id of the previous
/// page), at most `limit` (default 100, at most 1000), like `GET /admin/users`.
#[server(endpoint = "admin/users")]
pub async fn admin_users(
    blocked_only: bool,
    after: Option<i64>,
    limit: Option<i64>,
) -> Result<Vec<PublicUser>, ApiError> {
    ssr::with_status(
        async { crate::backend::backend()?.admin_users(&session_token()?, blocked_only, after, limit).await }.await,
    )
}

#[server(endpoint = "admin/set-blocked")]
pub async fn admin_set_blocked(user_id: i64, blocked: bool) -> Result<PublicUser, ApiError> {
    ssr::with_status(
        async { crate::backend::backend()?.admin_set_blocked(&session_token()?, user_id, blocked).await }.await,
    )
}

#[server(endpoint = "admin/moderation-log")]
pub async fn admin_moderation_log() -> Result<Vec<ModerationEntry>, ApiError> {
    ssr::with_status(async { crate::backend::backend()?.admin_moderation_log(&session_token()?, 100).await }.await)
}

#[server(endpoint = "admin/recent-messages")]
pub async fn admin_recent_messages() -> Result<Vec<AdminMessage>, ApiError> {
    ssr::with_status(async { crate::backend::backend()?.admin_messages(&session_token()?, 100).await }.await)
}

/// The first page of every room (private rooms and DMs included), as `GET /admin/rooms`.
#[server(endpoint = "admin/rooms")]
pub async fn admin_rooms() -> Result<Vec<AdminRoom>, ApiError> {
    ssr::with_status(async { crate::backend::backend()?.admin_rooms(&session_token()?, None, 1000).await }.await)
}

/// Archives a room (audited), as `POST /admin/rooms/{id}/archive`.
#[server(endpoint = "admin/archive-room")]
pub async fn admin_archive_room(room_id: i64) -> Result<AdminRoom, ApiError> {
    ssr::with_status(async { crate::backend::backend()?.admin_archive_room(&session_token()?, room_id).await }.await)
}

#[cfg(feature = "ssr")]
mod ssr {
    use crate::error::ApiError;
    use http::header::{ACCEPT, SET_COOKIE};
    use http::request::Parts;
    use http::HeaderValue;
    use leptos::prelude::use_context;

    fn parts() -> Option<Parts> {
        use_context::<Parts>()
    }

    pub fn request_token() -> Option<String> {
        crate::session::token_from_headers(&parts()?.headers)
    }

    pub fn origin() -> crate::backend::RequestOrigin {
        parts().map(|p| crate::backend::RequestOrigin::from_parts(&p)).unwrap_or_default()
    }

    pub fn request_is_https() -> bool {
        parts().is_some_and(|p| crate::session::is_https(&p.headers))
    }

    pub fn set_cookie(value: &str) {
        if let (Some(response), Ok(value)) =
            (use_context::<leptos_axum::ResponseOptions>(), HeaderValue::from_str(value))
        {
            response.append_header(SET_COOKIE, value);
        }
    }

    /// A plain (no-JavaScript) form post accepts HTML: send it back to its page with the error
    /// code in the query. A JavaScript client gets the typed error.
    pub fn form_failure(page: &str, error: ApiError) -> Result<(), ApiError> {
        let plain_form = parts()
            .and_then(|p| p.headers.get(ACCEPT).cloned())
            .and_then(|v| v.to_str().ok().map(|v| v.contains("text/html")))
            .unwrap_or(false);
        if plain_form {
            leptos_axum::redirect(&format!("{page}?error={}", error.code()));
            Ok(())
        } else {
            with_status(Err(error))
        }
    }

    /// Gives an error response the status the REST API would use (401, 403, 409, 422 ...)
    /// instead of the server-function default 500.
    pub fn with_status<T>(result: Result<T, ApiError>) -> Result<T, ApiError> {
        if let (Err(error), Some(response)) = (&result, use_context::<leptos_axum::ResponseOptions>()) {
            if let Ok(status) = http::StatusCode::from_u16(error.status()) {
                response.set_status(status);
            }
        }
        result
    }
}
