//! How `#[server]` functions (compiled into `app`) reach the services that live in the `server`
//! crate: `app` declares the [`Backend`] trait, `server` implements it over its store, auth and
//! hub, and provides it as Leptos context ([`BackendHandle`]) on every server-function call and
//! page render. REST handlers call the very same implementation, so no rule is written twice.
//! Server-only: compiled with the `ssr` feature.

use crate::error::ApiError;
use crate::models::{AdminMessage, AdminOverview, LoginRequest, LoginResponse, ModerationEntry, PublicUser, RegisterRequest};
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
        let peer = parts
            .extensions
            .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
            .map(|info| info.0.ip());
        let forwarded_for = parts
            .headers
            .get("x-forwarded-for")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
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

    // Admin operations: each checks, from the database, that `token` belongs to an admin.
    async fn admin_overview(&self, token: &str) -> Result<AdminOverview, ApiError>;
    async fn admin_users(&self, token: &str, blocked_only: bool) -> Result<Vec<PublicUser>, ApiError>;
    async fn admin_set_blocked(&self, token: &str, user_id: i64, blocked: bool) -> Result<PublicUser, ApiError>;
    async fn admin_moderation_log(&self, token: &str, limit: i64) -> Result<Vec<ModerationEntry>, ApiError>;
    async fn admin_messages(&self, token: &str, limit: i64) -> Result<Vec<AdminMessage>, ApiError>;
}

/// The context value server functions look up.
#[derive(Clone)]
pub struct BackendHandle(pub Arc<dyn Backend>);

/// The backend of the current request, from Leptos context.
pub fn backend() -> Result<Arc<dyn Backend>, ApiError> {
    leptos::prelude::use_context::<BackendHandle>()
        .map(|handle| handle.0)
        .ok_or(ApiError::Internal)
}
