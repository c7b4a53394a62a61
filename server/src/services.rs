//! `Services`: the one core every door calls. REST handlers, server functions (through the
//! `app::backend::Backend` trait implemented here) and the WebSocket all use these methods, so
//! each rule exists once: accounts and sessions here, chat in [`chat`], conversations in
//! [`conversations`], admin in [`admin`], trust and safety in [`safety`], paging in [`paging`]. Its parts are private: doors call use cases, never the store.

pub mod accounts;
pub mod admin;
pub mod chat;
pub mod conversations;
pub mod export;
pub mod health;
pub mod message_actions;
pub mod paging;
pub mod safety;
pub mod uploads;

use crate::auth::{PasswordHasher, TokenKeys, TokenSession};
use crate::cluster::link::RedisLink;
use crate::config::Config;
use crate::fanout::hub::{Authority, Revocation};
use crate::fanout::Hub;
use crate::limits::{BucketKey, SharedLimiter};
use crate::moderation::{Moderator, Strike, MAX_WARNINGS};
use crate::store::{Store, StoreError, UserRecord};
use app::backend::{Backend, RequestOrigin};
use app::domain::{Email, Password, Username};
use app::error::ApiError;
use app::models::{
    AdminMessage, AdminOverview, AdminRoom, LoginRequest, LoginResponse, ModerationEntry, PublicUser, RegisterRequest,
};
use app::protocol::ADMIN_PAGE;
use paging::Page;
use std::net::IpAddr;
use std::sync::Arc;

/// The login and registration throttles. Per-IP budgets are keyed by `limits::ip_bucket` (an
/// IPv6 client by its /64); the per-account budget by the account when the identifier names one
/// (so its username and email share one budget), else by the lowercased identifier.
pub struct Throttles {
    pub login_ip: SharedLimiter<IpAddr>,
    pub login_account: SharedLimiter<AccountKey>,
    pub register_ip: SharedLimiter<IpAddr>,
    /// Room, membership, invitation and ignore changes per account.
    pub room_actions: SharedLimiter<i64>,
    /// Adding or inviting someone else, per account.
    pub invitations: SharedLimiter<i64>,
    /// Reports of messages, per account.
    pub reports: SharedLimiter<i64>,
    /// Uploads, per account.
    pub uploads: SharedLimiter<i64>,
    /// `GET /me/export`, per account.
    pub account_exports: SharedLimiter<i64>,
}

/// Whose login budget an attempt draws on.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum AccountKey {
    /// An existing account, whichever of its names was typed.
    Id(i64),
    /// No such account: the trimmed, lowercased identifier (at most `MAX_LOGIN_IDENTIFIER_LEN`).
    Unknown(String),
}

impl BucketKey for AccountKey {
    fn bucket_key(&self) -> String {
        match self {
            AccountKey::Id(id) => format!("id:{id}"),
            AccountKey::Unknown(name) => format!("name:{name}"),
        }
    }
}

impl Throttles {
    /// The throttles of `config`, shared by the nodes of a cluster through `redis`.
    fn new(config: &Config, redis: Option<&RedisLink>) -> Self {
        Self {
            login_ip: SharedLimiter::per_minute("login_ip", config.login_ip_burst, config.login_ip_per_min, redis),
            login_account: SharedLimiter::per_minute(
                "login_account",
                config.login_account_burst,
                config.login_account_per_min,
                redis,
            ),
            register_ip: SharedLimiter::per_minute(
                "register_ip",
                config.register_ip_burst,
                config.register_ip_per_min,
                redis,
            ),
            room_actions: SharedLimiter::per_minute(
                "room_actions",
                config.room_actions_burst,
                config.room_actions_per_min,
                redis,
            ),
            invitations: SharedLimiter::per_minute(
                "invitations",
                config.invitations_burst,
                config.invitations_per_min,
                redis,
            ),
            reports: SharedLimiter::per_minute(
                "reports",
                config.safety.reports_burst,
                config.safety.reports_per_min,
                redis,
            ),
            uploads: SharedLimiter::new("uploads", config.files.uploads_burst, config.files.uploads_per_sec, redis),
            account_exports: SharedLimiter::per_minute(
                "account_exports",
                config.operations.exports_per_day,
                f64::from(config.operations.exports_per_day) / (24.0 * 60.0),
                redis,
            ),
        }
    }
}

pub struct Services {
    config: Config,
    throttles: Throttles,
    store: Store,
    hub: Arc<Hub>,
    hasher: PasswordHasher,
    tokens: TokenKeys,
    moderator: Moderator,
    /// The learned classifier (`None` when `CHATTERBOX_CLASSIFIER` is `off`).
    classifier: Option<moderation::classifier::Classifier>,
    /// Permits for CSV downloads streaming at once (`config.max_exports`); each is owned by the
    /// download's producer task.
    exports: Arc<tokio::sync::Semaphore>,
    /// Where uploads' bytes live.
    files: crate::files::FileStore,
    /// Permits for images decoded at once (`config.files.image_workers`).
    images: tokio::sync::Semaphore,
}

impl Services {
    /// The settings in force.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The fan-out engine: the WebSocket door hands it its connections; shutdown drains it.
    pub fn hub(&self) -> &Arc<Hub> {
        &self.hub
    }

    /// The store, for tests and tools that seed or inspect data; doors call the use cases.
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// The token keys, for tests and tools that mint tokens; doors use the session use cases.
    pub fn tokens(&self) -> &TokenKeys {
        &self.tokens
    }

    /// The password hasher (its gauges are read by tests).
    pub fn hasher(&self) -> &PasswordHasher {
        &self.hasher
    }

    /// A permit to stream one CSV download, if fewer than `max_exports` are streaming.
    pub fn export_permit(&self) -> Option<tokio::sync::OwnedSemaphorePermit> {
        self.exports.clone().try_acquire_owned().ok()
    }

    /// Re-reads the moderation word list (SIGHUP).
    pub fn reload_word_list(&self) -> std::io::Result<()> {
        self.moderator.reload()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("files: {0}")]
    Files(String),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Hash(#[from] crate::auth::HashError),
    #[error("cannot read the moderation word list: {0}")]
    WordList(#[from] std::io::Error),
    #[error(transparent)]
    Bus(#[from] crate::cluster::bus::BadUrl),
    #[error("CHATTERBOX_CLUSTER_ID is {configured:?}, but this database belongs to cluster {stored:?}: every node of a database must use its id (unset CHATTERBOX_CLUSTER_ID to take it from the database; to rename the cluster, stop every node and change the `cluster_id` row of the `settings` table)")]
    ClusterIdMismatch { configured: String, stored: String },
    #[error("the database's cluster id {0:?} (the `cluster_id` row of the `settings` table) is not a valid cluster id: 1 to 64 letters, digits, '-' or '_'")]
    BadStoredClusterId(String),
}

/// The setting that holds a database's cluster id.
const CLUSTER_ID_SETTING: &str = "cluster_id";

/// The id of the cluster this node joins: its database's, so that every node of one database
/// has the same, and two databases (two deployments) sharing a Redis have different ones. The
/// first node of a database stores it: `CHATTERBOX_CLUSTER_ID`, or one generated at random. A
/// node configured with another id than its database's refuses to start: on its own bus it
/// would miss the others' conversation changes (and deliver what they no longer allow).
async fn cluster_id(config: &Config, store: &Store) -> Result<String, StartError> {
    let proposed = config.cluster_id.clone().unwrap_or_else(|| crate::auth::random_hex(8));
    let stored = store.setting_or_insert(CLUSTER_ID_SETTING, &proposed).await?;
    if !crate::config::valid_cluster_id(&stored) {
        return Err(StartError::BadStoredClusterId(stored));
    }
    match &config.cluster_id {
        Some(configured) if *configured != stored => {
            Err(StartError::ClusterIdMismatch { configured: configured.clone(), stored })
        }
        _ => Ok(stored),
    }
}

/// With `CHATTERBOX_REDIS_URL`, this node's link to the others: the bus (in the names of the
/// database's cluster), and the newest message id now (committed before the node could deliver
/// anything live).
async fn join_cluster(config: &Config, store: &Store) -> Result<Option<crate::fanout::hub::ClusterLink>, StartError> {
    let Some(url) = &config.redis_url else { return Ok(None) };
    let cluster = cluster_id(config, store).await?;
    let node = crate::cluster::new_node_id();
    let (bus, received) = crate::cluster::Bus::start(url, &cluster, node)?;
    let start_after = store.newest_message_id().await?;
    tracing::info!(%cluster, node = format!("{node:016x}"), start_after, "joining the cluster");
    let presence_ttl = std::time::Duration::from_secs(config.presence_ttl_secs);
    Ok(Some(crate::fanout::hub::ClusterLink { bus, received, start_after, presence_ttl }))
}

impl Services {
    /// Opens the store and prepares the auth machinery from `config`.
    pub async fn start(config: Config) -> Result<Arc<Self>, StartError> {
        let store = Store::open(&config.database_url, &config.store_options()).await?;
        if config.operations.metrics_enabled() {
            crate::metrics::enable();
        }
        let location = config.files.location(&config.database_url).map_err(StartError::Files)?;
        let files = crate::files::FileStore::open(&location).map_err(|e| StartError::Files(e.to_string()))?;
        if files.is_local() && config.redis_url.is_some() && !config.files.files_shared {
            return Err(StartError::Files(
                "the nodes of a cluster cannot keep files in a local directory: set CHATTERBOX_FILES_URL to \
                 s3://BUCKET (or, for a directory every node mounts, CHATTERBOX_FILES_SHARED=true)"
                    .into(),
            ));
        }
        let secret = match &config.jwt_secret {
            Some(secret) => secret.clone(),
            None => store.setting_or_insert("jwt_secret", &crate::auth::random_hex(32)).await?,
        };
        let tokens = TokenKeys::new(secret.as_bytes(), config.token_ttl_secs);
        let hasher = PasswordHasher::new(config.bcrypt_cost, config.effective_bcrypt_concurrency()).await?;
        let moderator = Moderator::load(config.moderation_words.as_deref())?;
        // Where the room-change feed starts: read before the bus is joined, so every change
        // committed after it is read by this node (the directory tracks nobody yet).
        let room_feed_start = store.latest_room_change().await?;
        let cluster = join_cluster(&config, &store).await?;
        let redis = cluster.as_ref().map(|link| link.bus.link().clone());
        // The writer and the feeds each on connections of their own (on PostgreSQL), so that
        // slow reads never hold up a commit or a block.
        let hub = Hub::start(store.for_writer(), store.for_feeds(), &config, room_feed_start, cluster);
        // Where the account-change feed starts: read now, before any socket can be accepted,
        // so that no change committed after this point is skipped.
        let feed_start = store.latest_account_change().await?;
        crate::fanout::authority::start(store.for_feeds(), &hub, feed_start);
        let throttles = Throttles::new(&config, redis.as_ref());
        let exports = Arc::new(tokio::sync::Semaphore::new(config.max_exports));
        let classifier = match config.safety.classifier {
            crate::config::ClassifierPolicy::Off => None,
            _ => Some(crate::moderation::load_classifier(&store).await),
        };
        uploads::start_sweeper(
            store.clone(),
            files.clone(),
            std::time::Duration::from_secs(config.files.unposted_upload_ttl_secs),
            std::time::Duration::from_secs(config.files.files_sweep_secs),
        );
        let images = tokio::sync::Semaphore::new(config.files.effective_image_workers());
        Ok(Arc::new(Self {
            config,
            throttles,
            store,
            hub,
            hasher,
            tokens,
            moderator,
            classifier,
            exports,
            files,
            images,
        }))
    }

    /// Verifies a token and re-reads its user: blocked users, revoked tokens and sessions that
    /// were logged out are refused.
    pub async fn user_for_token(&self, token: &str) -> Result<PublicUser, ApiError> {
        self.session_for_token(token).await.map(|(user, _)| user)
    }

    /// Like [`Services::user_for_token`], with what the token grants (its version, expiry and
    /// session). Every door authenticates through here.
    pub async fn session_for_token(&self, token: &str) -> Result<(PublicUser, TokenSession), ApiError> {
        let session = self.tokens.verify_session(token).map_err(|_| ApiError::Unauthenticated)?;
        let sid = session.session_id.map(|sid| sid.to_string());
        let found = self.store.user_in_session(session.user_id, sid.as_deref()).await.map_err(internal)?;
        let Some((record, revoked)) = found else {
            return Err(ApiError::Unauthenticated);
        };
        if record.public.is_blocked {
            return Err(ApiError::Blocked);
        }
        if record.token_version != session.token_version || revoked {
            return Err(ApiError::Unauthenticated);
        }
        Ok((record.public, session))
    }

    /// Ends the session of `token` for good (a logout): every token of it (the renewals
    /// included) is refused from now on, on every door of every node, and the sockets opened
    /// with them close with 4001: here at once, on the other nodes through the account-change
    /// feed. A token from before session ids cannot be revoked alone: it lives to its `exp`
    /// (a password change ends it too).
    pub async fn logout(&self, token: &str) -> Result<(), ApiError> {
        let (user, session) = self.session_for_token(token).await?;
        let Some(session_id) = session.session_id else {
            tracing::info!(user_id = user.id, "logout of a token without a session id: nothing to revoke");
            return Ok(());
        };
        // Kept until no token of the session can be valid: renewals never reach past the
        // session's maximum age, and none is issued after this (a renewal needs a token that
        // is not revoked), so the last one expires within a token lifetime from now.
        let now = crate::auth::unix_now();
        let session_end = session.auth_time.saturating_add(self.config.session_max_age_secs);
        let last_exp = session_end.min(now.saturating_add(self.tokens.ttl_secs())).max(session.expires_at);
        let expires_at = i64::try_from(last_exp).unwrap_or(i64::MAX);
        self.store.revoke_session(&session_id.to_string(), user.id, expires_at).await.map_err(internal)?;
        self.hub.end_session(user.id, session_id);
        tracing::info!(user_id = user.id, "session revoked by a logout");
        Ok(())
    }

    /// How a connection opened under `authority` by `user_id` must end, by the account's
    /// current state and its session's (`None` while it still holds). A connection asks once
    /// it is registered, so that a change committed during its handshake is not missed.
    pub async fn revocation_of(&self, user_id: i64, authority: &Authority) -> Result<Option<Revocation>, StoreError> {
        let sid = authority.session.map(|sid| sid.to_string());
        let found = self.store.user_in_session(user_id, sid.as_deref()).await?;
        let (current, revoked) = match found {
            Some((record, revoked)) => (Some(record), revoked),
            None => (None, false),
        };
        Ok(authority.revoked_by(current.as_ref()).or(revoked.then_some(Revocation::SessionEnded)))
    }

    /// A fresh token for the session of `token` (still valid, its account still allowed), with
    /// the session's login time kept: renewals never go past `session_max_age_secs` from it.
    pub async fn renew_session(&self, token: &str) -> Result<LoginResponse, ApiError> {
        let (_, session) = self.session_for_token(token).await?;
        let (access_token, expires_in) =
            self.tokens.renew(&session, self.config.session_max_age_secs).ok_or(ApiError::Unauthenticated)?;
        Ok(bearer_grant(access_token, expires_in))
    }
}

impl Services {
    /// The client's IP: the TCP peer, or the last `X-Forwarded-For` hop when the peer is a
    /// configured trusted proxy.
    pub fn client_ip(&self, origin: &RequestOrigin) -> IpAddr {
        // Walk `X-Forwarded-For` (all its lines, joined in order) from the right, skipping hops
        // that are trusted proxies: the first untrusted one is the client. An unparsable entry
        // stops the walk at the last trusted hop (whoever wrote it cannot be believed).
        let trusted = |ip: &IpAddr| self.config.trusted_proxies.iter().any(|proxy| proxy.to_canonical() == *ip);
        let mut client = origin.peer.unwrap_or(IpAddr::from([0, 0, 0, 0])).to_canonical();
        let hops = origin.forwarded_for.as_deref().unwrap_or("");
        let mut hops = hops.rsplit(',').map(|hop| hop.trim().parse::<IpAddr>().map(|ip| ip.to_canonical()));
        while trusted(&client) {
            match hops.next() {
                Some(Ok(hop)) => client = hop,
                _ => break,
            }
        }
        client
    }

    /// The account `identifier` (a username or an email) names, if `password` is its password:
    /// login's checks and throttles (per IP, then per account; an unknown name costs the same
    /// work and gets the same answer as a wrong password, 401). Blocked or not: the caller decides.
    pub(crate) async fn check_password(
        &self,
        identifier: &str,
        password: &str,
        origin: &RequestOrigin,
    ) -> Result<UserRecord, ApiError> {
        let ip = crate::limits::ip_bucket(self.client_ip(origin));
        self.throttles.login_ip.check(&ip).await.map_err(limited)?;
        let identifier = identifier.trim();
        // Longer than any username or email: names no account. Refused before any lookup or
        // hashing, with the answer a wrong password gets.
        if identifier.len() > app::domain::MAX_LOGIN_IDENTIFIER_LEN {
            return Err(ApiError::BadCredentials);
        }
        let record = self.store.find_login(identifier).await.map_err(internal)?;
        let account = match &record {
            Some(record) => AccountKey::Id(record.public.id),
            None => AccountKey::Unknown(identifier.to_lowercase()),
        };
        // Reserve the attempt before the (slow) password check, so concurrent guesses cannot
        // all pass a check that only counts finished failures; a right password refunds it.
        let attempt = self.throttles.login_account.check(&account).await.map_err(limited)?;
        // Unknown users are verified against a dummy hash: same work, same answer.
        let hash = record.as_ref().map(|r| r.password_hash.as_str());
        let password_ok = match self.hasher.verify(password, hash).await {
            Ok(ok) => ok,
            Err(error) => {
                self.throttles.login_account.refund(&account, attempt).await;
                return Err(internal(error));
            }
        };
        let Some(record) = record.filter(|_| password_ok) else {
            return Err(ApiError::BadCredentials);
        };
        self.throttles.login_account.refund(&account, attempt).await;
        Ok(record)
    }

    /// Runs the word filter on a message for conversation `room_id`. A violation is counted
    /// (atomically, in the database) and logged for admins; the returned strike says whether the
    /// account is now blocked, in which case every open socket of the user is closed with 1008
    /// (the caller's own included, after it has told its client).
    pub async fn moderate(&self, user_id: i64, room_id: i64, content: &str) -> Result<Option<Strike>, ApiError> {
        let Some(violation) = self.moderator.check(content) else {
            return Ok(None);
        };
        let (warning_count, blocked) = self
            .store
            .record_violation(
                user_id,
                &violation.rule,
                content,
                Some(room_id),
                MAX_WARNINGS,
                self.strikes_count_since().as_deref(),
            )
            .await
            .map_err(internal)?;
        tracing::info!(user_id, warning_count, blocked, "moderation violation");
        Ok(Some(Strike { warning_count, blocked }))
    }
}

#[async_trait::async_trait]
impl Backend for Services {
    async fn register(&self, request: RegisterRequest, origin: &RequestOrigin) -> Result<PublicUser, ApiError> {
        let ip = crate::limits::ip_bucket(self.client_ip(origin));
        self.throttles.register_ip.check(&ip).await.map_err(limited)?;
        let username = Username::parse(&request.username)?;
        let email = Email::parse(&request.email)?;
        let password = Password::parse(&request.password)?;
        let hash = self.hasher.hash(password.expose()).await.map_err(internal)?;
        let user = self.store.create_user(username.as_str(), email.as_str(), &hash).await.map_err(|e| match e {
            StoreError::DuplicateUsername => ApiError::UsernameTaken,
            StoreError::DuplicateEmail => ApiError::EmailTaken,
            other => internal(other),
        })?;
        tracing::info!(user_id = user.id, is_admin = user.is_admin, "user registered");
        Ok(user)
    }

    async fn login(&self, request: LoginRequest, origin: &RequestOrigin) -> Result<LoginResponse, ApiError> {
        let record = self.check_password(&request.username, &request.password, origin).await?;
        if record.public.is_blocked {
            let (appeal, reason) = match self.store.current_appeal(record.public.id).await.map_err(internal)? {
                Some((state, reason)) => (state, reason.filter(|r| !r.is_empty())),
                None => ("none".to_owned(), None),
            };
            let reason = if appeal == "rejected" { reason } else { None };
            return Err(ApiError::BlockedLogin { appeal, reason });
        }
        Ok(bearer_grant(self.tokens.issue(record.public.id, record.token_version), self.tokens.ttl_secs()))
    }

    async fn authenticate(&self, token: &str) -> Result<PublicUser, ApiError> {
        self.user_for_token(token).await
    }

    async fn renew_session(&self, token: &str) -> Result<LoginResponse, ApiError> {
        Services::renew_session(self, token).await
    }

    async fn logout(&self, token: &str) -> Result<(), ApiError> {
        Services::logout(self, token).await
    }

    async fn admin_overview(&self, token: &str) -> Result<AdminOverview, ApiError> {
        let admin = self.require_admin(token).await?;
        self.overview_for(&admin).await
    }

    async fn admin_users(
        &self,
        token: &str,
        blocked_only: bool,
        after: Option<i64>,
        limit: Option<i64>,
    ) -> Result<Vec<PublicUser>, ApiError> {
        let admin = self.require_admin(token).await?;
        self.users_page(&admin, blocked_only, Page::checked(None, after, limit, ADMIN_PAGE)?).await
    }

    async fn admin_set_blocked(&self, token: &str, user_id: i64, blocked: bool) -> Result<PublicUser, ApiError> {
        let admin = self.require_admin(token).await?;
        self.set_blocked(&admin, user_id, blocked).await
    }

    async fn admin_moderation_log(&self, token: &str, limit: i64) -> Result<Vec<ModerationEntry>, ApiError> {
        let admin = self.require_admin(token).await?;
        self.moderation_page(&admin, Page::checked(None, None, Some(limit), ADMIN_PAGE)?).await
    }

    async fn admin_messages(&self, token: &str, limit: i64) -> Result<Vec<AdminMessage>, ApiError> {
        let admin = self.require_admin(token).await?;
        self.messages_page(&admin, Page::checked(None, None, Some(limit), ADMIN_PAGE)?).await
    }

    async fn admin_rooms(&self, token: &str, after: Option<i64>, limit: i64) -> Result<Vec<AdminRoom>, ApiError> {
        let admin = self.require_admin(token).await?;
        self.rooms_page(&admin, Page::checked(None, after, Some(limit), ADMIN_PAGE)?).await
    }

    async fn admin_archive_room(&self, token: &str, room_id: i64) -> Result<AdminRoom, ApiError> {
        let admin = self.require_admin(token).await?;
        self.archive_room(&admin, room_id).await
    }
}

/// The answer to a login or a renewal: a bearer token and its lifetime.
fn bearer_grant(access_token: String, expires_in: u64) -> LoginResponse {
    LoginResponse { access_token, token_type: "bearer".into(), expires_in }
}

pub(crate) fn limited(retry_after: u64) -> ApiError {
    ApiError::RateLimited { retry_after }
}

/// Logs an internal failure and hides it from the client.
pub fn internal(error: impl std::fmt::Display) -> ApiError {
    tracing::error!(%error, "internal error");
    ApiError::Internal
}
