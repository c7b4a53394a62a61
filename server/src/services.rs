//! `Services`: the one core every door calls. REST handlers, server functions (through the
//! `app::backend::Backend` trait implemented here) and the WebSocket all use these methods, so
//! account rules exist once.

use crate::auth::{PasswordHasher, TokenKeys};
use crate::chat::Hub;
use crate::limits::RateLimiter;
use std::net::IpAddr;
use crate::moderation::{Moderator, Strike, MAX_WARNINGS};
use crate::config::Config;
use crate::store::{Store, StoreError};
use app::backend::{Backend, RequestOrigin};
use app::domain::{Email, Password, Username};
use app::error::ApiError;
use app::models::{
    AdminMessage, AdminOverview, LoginRequest, LoginResponse, ModerationEntry, PublicUser, RegisterRequest,
};
use std::sync::Arc;

/// The login and registration throttles.
pub struct Throttles {
    pub login_ip: RateLimiter<IpAddr>,
    pub login_account: RateLimiter<String>,
    pub register_ip: RateLimiter<IpAddr>,
}

impl Throttles {
    fn new(config: &Config) -> Self {
        Self {
            login_ip: RateLimiter::per_minute(config.login_ip_burst, config.login_ip_per_min),
            login_account: RateLimiter::per_minute(config.login_account_burst, config.login_account_per_min),
            register_ip: RateLimiter::per_minute(config.register_ip_burst, config.register_ip_per_min),
        }
    }
}

pub struct Services {
    pub config: Config,
    pub throttles: Throttles,
    pub store: Store,
    pub hub: Arc<Hub>,
    pub hasher: PasswordHasher,
    pub tokens: TokenKeys,
    pub moderator: Moderator,
}

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Hash(#[from] crate::auth::HashError),
    #[error("cannot read the moderation word list: {0}")]
    WordList(#[from] std::io::Error),
}

impl Services {
    /// Opens the store and prepares the auth machinery from `config`.
    pub async fn start(config: Config) -> Result<Arc<Self>, StartError> {
        let store = Store::open(&config.database_url, config.read_pool_size, &config.sqlite_synchronous).await?;
        let secret = match &config.jwt_secret {
            Some(secret) => secret.clone(),
            None => store.setting_or_insert("jwt_secret", &crate::auth::random_hex(32)).await?,
        };
        let tokens = TokenKeys::new(secret.as_bytes(), config.token_ttl_secs);
        let hasher = PasswordHasher::new(config.bcrypt_cost, config.effective_bcrypt_concurrency()).await?;
        let moderator = Moderator::load(config.moderation_words.as_deref())?;
        let hub = Hub::start(store.clone(), &config);
        let throttles = Throttles::new(&config);
        Ok(Arc::new(Self { config, throttles, store, hub, hasher, tokens, moderator }))
    }

    /// Verifies a token and re-reads its user; returns the full record for callers that need it.
    pub async fn user_for_token(&self, token: &str) -> Result<PublicUser, ApiError> {
        let (id, version) = self.tokens.verify(token).map_err(|_| ApiError::Unauthenticated)?;
        let record = self.store.user_by_id(id).await.map_err(internal)?;
        let Some(record) = record else {
            return Err(ApiError::Unauthenticated);
        };
        if record.public.is_blocked {
            return Err(ApiError::Blocked);
        }
        if record.token_version != version {
            return Err(ApiError::Unauthenticated);
        }
        Ok(record.public)
    }
}

impl Services {
    /// The client's IP: the TCP peer, or the last `X-Forwarded-For` hop when the peer is a
    /// configured trusted proxy.
    pub fn client_ip(&self, origin: &RequestOrigin) -> IpAddr {
        let peer = origin.peer.unwrap_or(IpAddr::from([0, 0, 0, 0]));
        if !self.config.trusted_proxies.contains(&peer) {
            return peer;
        }
        origin
            .forwarded_for
            .as_deref()
            .and_then(|list| list.rsplit(',').next())
            .and_then(|hop| hop.trim().parse().ok())
            .unwrap_or(peer)
    }

    /// Like `user_for_token`, and the user must be an admin (403 `AdminOnly` otherwise).
    pub async fn require_admin(&self, token: &str) -> Result<PublicUser, ApiError> {
        let user = self.user_for_token(token).await?;
        if user.is_admin {
            Ok(user)
        } else {
            Err(ApiError::AdminOnly)
        }
    }

    /// Blocks (closing the user's sockets with 1008 and revoking tokens) or unblocks (resetting
    /// warnings) a user, audited under `admin`.
    pub async fn set_blocked_as(&self, admin: &PublicUser, user_id: i64, blocked: bool) -> Result<PublicUser, ApiError> {
        if blocked && admin.id == user_id {
            return Err(ApiError::BadRequest { message: "admins cannot block themselves".into() });
        }
        let user = self
            .store
            .set_blocked_by_admin(admin.id, user_id, blocked)
            .await
            .map_err(internal)?
            .ok_or(ApiError::NotFound)?;
        if blocked {
            self.hub.disconnect_user(user_id);
        }
        tracing::info!(admin_id = admin.id, user_id, blocked, "admin changed block state");
        Ok(user)
    }

    /// Runs the word filter on a message. A violation is counted (atomically, in the database)
    /// and logged for admins; the returned strike says whether the account is now blocked, in
    /// which case every open socket of the user is closed with 1008 (the caller's own included,
    /// after it has told its client).
    pub async fn moderate(&self, user_id: i64, content: &str) -> Result<Option<Strike>, ApiError> {
        let Some(violation) = self.moderator.check(content) else {
            return Ok(None);
        };
        let (warning_count, blocked) = self
            .store
            .record_violation(user_id, &violation.rule, content, MAX_WARNINGS)
            .await
            .map_err(internal)?;
        tracing::info!(user_id, warning_count, blocked, "moderation violation");
        Ok(Some(Strike { warning_count, blocked }))
    }
}

#[async_trait::async_trait]
impl Backend for Services {
    async fn register(&self, request: RegisterRequest, origin: &RequestOrigin) -> Result<PublicUser, ApiError> {
        let ip = self.client_ip(origin);
        self.throttles.register_ip.check(&ip).map_err(limited)?;
        let username = Username::parse(&request.username)?;
        let email = Email::parse(&request.email)?;
        let password = Password::parse(&request.password)?;
        let hash = self.hasher.hash(password.expose()).await.map_err(internal)?;
        let user = self
            .store
            .create_user(username.as_str(), email.as_str(), &hash)
            .await
            .map_err(|e| match e {
                StoreError::DuplicateUsername => ApiError::UsernameTaken,
                StoreError::DuplicateEmail => ApiError::EmailTaken,
                other => internal(other),
            })?;
        tracing::info!(user_id = user.id, is_admin = user.is_admin, "user registered");
        Ok(user)
    }

    async fn login(&self, request: LoginRequest, origin: &RequestOrigin) -> Result<LoginResponse, ApiError> {
        let ip = self.client_ip(origin);
        let account = request.username.trim().to_lowercase();
        self.throttles.login_ip.check(&ip).map_err(limited)?;
        self.throttles.login_account.peek(&account).map_err(limited)?;
        let record = self.store.find_login(request.username.trim()).await.map_err(internal)?;
        // Unknown users are verified against a dummy hash: same work, same answer.
        let hash = record.as_ref().map(|r| r.password_hash.as_str());
        let password_ok = self.hasher.verify(&request.password, hash).await.map_err(internal)?;
        let Some(record) = record.filter(|_| password_ok) else {
            self.throttles.login_account.take(&account);
            return Err(ApiError::BadCredentials);
        };
        if record.public.is_blocked {
            return Err(ApiError::Blocked);
        }
        Ok(LoginResponse {
            access_token: self.tokens.issue(record.public.id, record.token_version),
            token_type: "bearer".into(),
            expires_in: self.tokens.ttl_secs(),
        })
    }

    async fn authenticate(&self, token: &str) -> Result<PublicUser, ApiError> {
        self.user_for_token(token).await
    }

    async fn admin_overview(&self, token: &str) -> Result<AdminOverview, ApiError> {
        self.require_admin(token).await?;
        self.store.overview().await.map_err(internal)
    }

    async fn admin_users(&self, token: &str, blocked_only: bool) -> Result<Vec<PublicUser>, ApiError> {
        self.require_admin(token).await?;
        self.store.list_users(blocked_only).await.map_err(internal)
    }

    async fn admin_set_blocked(&self, token: &str, user_id: i64, blocked: bool) -> Result<PublicUser, ApiError> {
        let admin = self.require_admin(token).await?;
        self.set_blocked_as(&admin, user_id, blocked).await
    }

    async fn admin_moderation_log(&self, token: &str, limit: i64) -> Result<Vec<ModerationEntry>, ApiError> {
        self.require_admin(token).await?;
        self.store.moderation_log(None, limit).await.map_err(internal)
    }

    async fn admin_messages(&self, token: &str, limit: i64) -> Result<Vec<AdminMessage>, ApiError> {
        self.require_admin(token).await?;
        self.store.admin_messages(None, limit).await.map_err(internal)
    }
}

fn limited(retry_after: u64) -> ApiError {
    ApiError::RateLimited { retry_after }
}

/// Logs an internal failure and hides it from the client.
pub fn internal(error: impl std::fmt::Display) -> ApiError {
    tracing::error!(%error, "internal error");
    ApiError::Internal
}
