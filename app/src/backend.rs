//! How `#[server]` functions (compiled into `app`) reach the services that live in the `server`
//! crate: `app` declares the [`Backend`] trait, `server` implements it over its store, auth and
//! hub, and provides it as Leptos context ([`BackendHandle`]) on every server-function call and
//! page render. REST handlers call the very same implementation, so no rule is written twice.
//! Server-only: compiled with the `ssr` feature.

use crate::error::ApiError;
use crate::models::{
    AdminMessage, AdminOverview, AdminRoom, LoginRequest, LoginResponse, ModerationEntry, PublicUser, RegisterRequest,
};
use std::sync::Arc;

/// Where a request came from, for per-IP limits. The server decides whether to believe
/// `forwarded_for` (only from a configured trusted proxy).
#[derive(Debug, Clone, Default)]
pub struct RequestOrigin {
    pub peer: Option<std::net::IpAddr>,
    pub forwarded_for: Option<String>,
}

impl RequestOrigin {
    pub fn from_parts(parts: &http::request::Parts) -> Self {
        let peer = parts.extensions.get::<axum::extract::ConnectInfo<std::net::SocketAddr>>().map(|info| info.0.ip());
        // Every `X-Forwarded-For` entry of every line, in order: a proxy may append its own line
        // after one the client forged, or its hop to the client's own line. Entries are read one
        // by one, so a client's bad bytes spoil only its own entry, which no parser accepts.
        let entries: Vec<&str> = parts
            .headers
            .get_all("x-forwarded-for")
            .iter()
            .flat_map(|line| line.as_bytes().split(|&byte| byte == b','))
            .map(|entry| std::str::from_utf8(entry).map(str::trim).unwrap_or("invalid"))
            .collect();
        let forwarded_for = (!entries.is_empty()).then(|| entries.join(","));
        Self { peer, forwarded_for }
    }
}

#[async_trait::async_trait]
pub trait Backend: Send + Sync + 'static {
    /// Validates and creates an account (the first account on an empty database is admin).
    async fn register(&self, request: RegisterRequest, origin: &RequestOrigin) -> Result<PublicUser, ApiError>;
    /// Checks credentials and issues a token (rate-limited per IP and per account).
    async fn login(&self, request: LoginRequest, origin: &RequestOrigin) -> Result<LoginResponse, ApiError>;
    /// Verifies a token and re-reads its user: blocked users and revoked tokens are refused.
    async fn authenticate(&self, token: &str) -> Result<PublicUser, ApiError>;
    /// A fresh token for the session of `token`, never past the session's maximum age.
    async fn renew_session(&self, token: &str) -> Result<LoginResponse, ApiError>;
    /// Revokes the session of `token` (a logout): its tokens die everywhere, its sockets close.
    async fn logout(&self, token: &str) -> Result<(), ApiError>;

    // Admin operations: each checks, from the database, that `token` belongs to an admin.
    async fn admin_overview(&self, token: &str) -> Result<AdminOverview, ApiError>;
    /// One page of users in id order: those with an id above `after` (the last id of the
    /// previous page), at most `limit` (default 100, 1..=1000, else `BadRequest`).
    async fn admin_users(
        &self,
        token: &str,
        blocked_only: bool,
        after: Option<i64>,
        limit: Option<i64>,
    ) -> Result<Vec<PublicUser>, ApiError>;
    async fn admin_set_blocked(&self, token: &str, user_id: i64, blocked: bool) -> Result<PublicUser, ApiError>;
    async fn admin_moderation_log(&self, token: &str, limit: i64) -> Result<Vec<ModerationEntry>, ApiError>;
    async fn admin_messages(&self, token: &str, limit: i64) -> Result<Vec<AdminMessage>, ApiError>;
    /// A page of every room by id (as `GET /admin/rooms`).
    async fn admin_rooms(&self, token: &str, after: Option<i64>, limit: i64) -> Result<Vec<AdminRoom>, ApiError>;
    /// Archives a room (as `POST /admin/rooms/{id}/archive`).
    async fn admin_archive_room(&self, token: &str, room_id: i64) -> Result<AdminRoom, ApiError>;
}

/// The context value server functions look up.
#[derive(Clone)]
pub struct BackendHandle(pub Arc<dyn Backend>);

/// The backend of the current request, from Leptos context.
pub fn backend() -> Result<Arc<dyn Backend>, ApiError> {
    leptos::prelude::use_context::<BackendHandle>().map(|handle| handle.0).ok_or(ApiError::Internal)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn origin_of(lines: &[&[u8]]) -> RequestOrigin {
        let mut request = http::Request::builder();
        for line in lines {
            request = request.header("x-forwarded-for", http::HeaderValue::from_bytes(line).unwrap());
        }
        let (parts, _) = request.body(()).unwrap().into_parts();
        RequestOrigin::from_parts(&parts)
    }

    #[test]
    fn every_forwarded_entry_of_every_line_is_kept_in_order() {
        assert_eq!(origin_of(&[]).forwarded_for, None);
        let origin = origin_of(&[b"1.1.1.1, 2.2.2.2", b"3.3.3.3"]);
        assert_eq!(origin.forwarded_for.as_deref(), Some("1.1.1.1,2.2.2.2,3.3.3.3"));
        // A client's bad bytes spoil its own entry, not the hop a proxy appended to its line.
        let origin = origin_of(&[b"\xff\xfe, 198.51.100.7"]);
        assert_eq!(origin.forwarded_for.as_deref(), Some("invalid,198.51.100.7"));
    }
}
