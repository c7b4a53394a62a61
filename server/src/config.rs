//! `Config`: every runtime setting of the server in one documented struct.
//!
//! Sources, later ones winning: built-in defaults, the `[chatterbox]` table of the configuration
//! file (`Leptos.toml` in the working directory, or the file named by `CHATTERBOX_CONFIG`), then
//! environment variables. Listen address and site files follow the Leptos conventions
//! (`LEPTOS_SITE_ADDR`, `LEPTOS_SITE_ROOT`). `docs/configuration.md` lists every key.

use serde::Deserialize;
use std::path::{Path, PathBuf};
use std::time::Duration;

mod files;
mod messages;
mod operations;
mod safety;

pub use files::FilesConfig;
pub use messages::MessagesConfig;
pub use operations::{AccountDeletion, OperationsConfig, MIN_METRICS_TOKEN_BYTES};
pub use safety::{ClassifierPolicy, SafetyConfig, DEFAULT_CLASSIFIER_THRESHOLD};

/// Shortest accepted `JWT_SECRET`, in bytes (HS256 wants a key as long as its 32-byte output).
pub const MIN_JWT_SECRET_BYTES: usize = 32;

#[derive(Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// The database (`DATABASE_URL`), migrated on start: `sqlite://FILE` (created if missing; the
    /// default) or `postgres://USER:PASSWORD@HOST/DB`, which several nodes may share.
    pub database_url: String,
    /// The cluster bus (`CHATTERBOX_REDIS_URL`, `redis://HOST:PORT`): nodes sharing a PostgreSQL
    /// database tell each other through it what they did. Unset: a single node.
    pub redis_url: Option<String>,
    /// On a cluster, seconds a node's users stay online after the node stops refreshing its
    /// presence (it died) (`CHATTERBOX_PRESENCE_TTL_SECS`, at least 1). Refreshed every third.
    pub presence_ttl_secs: u64,
    /// While at most this many users are online everyone is told of everyone's presence; above
    /// it presence is summarised (`CHATTERBOX_PRESENCE_LIST_MAX`; docs/protocol.md, `presence`).
    pub presence_list_max: usize,
    /// The cluster's name in Redis (`CHATTERBOX_CLUSTER_ID`: letters, digits, `-` and `_`, at
    /// most [`MAX_CLUSTER_ID_LEN`]): every key and the bus channel carry it, so deployments
    /// sharing one Redis never read each other. Unset: the database's, generated on the first
    /// start and kept in its `settings`; set, it must be the database's (or becomes it, on a new
    /// database), else the node refuses to start.
    pub cluster_id: Option<String>,
    /// HS256 signing secret (`JWT_SECRET`). Unset: one is generated and kept in the database.
    #[serde(skip)]
    pub jwt_secret: Option<String>,
    /// Token lifetime in seconds (`CHATTERBOX_TOKEN_TTL_SECS`).
    pub token_ttl_secs: u64,
    /// bcrypt cost (`CHATTERBOX_BCRYPT_COST`, 4..=31).
    pub bcrypt_cost: u32,
    /// How many bcrypt computations may run at once (`CHATTERBOX_BCRYPT_CONCURRENCY`);
    /// 0 means half the cores (at least one), so a login burst cannot starve chat traffic.
    pub bcrypt_concurrency: usize,
    /// Connections in the read pool (`CHATTERBOX_READ_POOL`).
    pub read_pool_size: u32,
    /// SQLite `synchronous` (`CHATTERBOX_SQLITE_SYNCHRONOUS`): FULL (default) or NORMAL.
    pub sqlite_synchronous: String,
    /// PostgreSQL: seconds a statement may run before it is cancelled
    /// (`CHATTERBOX_PG_STATEMENT_TIMEOUT_SECS`, `statement_timeout`; 0: no limit).
    pub pg_statement_timeout_secs: u64,
    /// PostgreSQL: seconds a statement may wait for a lock (`CHATTERBOX_PG_LOCK_TIMEOUT_SECS`,
    /// `lock_timeout`; 0: no limit). Longer than the idle-in-transaction timeout, so a commit
    /// waiting for a stalled node's lock outlasts the timeout that frees it.
    pub pg_lock_timeout_secs: u64,
    /// PostgreSQL: seconds a session may sit idle inside a transaction before the server ends it
    /// and rolls it back, freeing its locks (`CHATTERBOX_PG_IDLE_IN_TRANSACTION_TIMEOUT_SECS`,
    /// `idle_in_transaction_session_timeout`; 0: no limit). How long a stalled node can hold
    /// up every node's messages.
    pub pg_idle_in_transaction_timeout_secs: u64,
    /// PostgreSQL: seconds of silence after which the server probes a node's connection with
    /// TCP keepalives (then every third of it, three times), and how long data it sent may stay
    /// unacknowledged (twice this) (`CHATTERBOX_PG_KEEPALIVE_SECS`; 0: the server's defaults).
    pub pg_keepalive_secs: u64,
    /// Flood control per account: messages allowed at once (`CHATTERBOX_FLOOD_BURST`).
    pub flood_burst: u32,
    /// Flood control per account: sustained messages per second (`CHATTERBOX_FLOOD_PER_SEC`).
    pub flood_per_sec: f64,
    /// Frames that may wait for a connection's full socket before it is dropped with close 1013
    /// (`CHATTERBOX_OUTBOUND_QUEUE`); it catches up with `since` when it reconnects.
    pub outbound_queue: usize,
    /// Bytes that may wait for a connection's full socket before it is dropped with close 1013
    /// (`CHATTERBOX_OUTBOUND_QUEUE_BYTES`): the backlog is bounded in bytes as well as frames.
    pub outbound_queue_bytes: usize,
    /// Most open WebSockets of one account (`CHATTERBOX_MAX_SOCKETS_PER_ACCOUNT`); one more is
    /// refused at the handshake with 429 and `Retry-After`.
    pub max_sockets_per_account: usize,
    /// Most open WebSockets of the whole server (`CHATTERBOX_MAX_SOCKETS`); one more is refused
    /// at the handshake with 503 and `Retry-After`. 0 (the default): the process's open-files
    /// limit less [`RESERVED_FILES`] (see [`Config::effective_max_sockets`]).
    pub max_sockets: usize,
    /// Longest a session may be renewed for, counted from the login that started it, in
    /// seconds (`CHATTERBOX_SESSION_MAX_AGE_SECS`); then the user signs in again.
    pub session_max_age_secs: u64,
    /// CSV downloads that may stream at once (`CHATTERBOX_MAX_EXPORTS`); one more gets 429.
    pub max_exports: usize,
    /// Budget of live-feed socket writes per second while the CPU is busy
    /// (`CHATTERBOX_FANOUT_WRITES_PER_SEC`; 0: no budget). Above it, messages share waves: each
    /// connection gets them in one write, latency grows by at most one wave interval
    /// (connections / budget, at most 100 ms).
    pub fanout_writes_per_sec: u32,
    /// The process's CPU use, in percent of the CPU it can get (what it used plus what the
    /// machine left idle, at most its cores), from which the CPU counts as busy and the write
    /// budget applies (`CHATTERBOX_FANOUT_PACING_CPU_PERCENT`, 0..=100; 0: always). Below it
    /// every commit goes out at once.
    pub fanout_pacing_cpu_percent: u32,
    /// Seconds a socket write may take before the peer is considered stuck and dropped, and a
    /// CSV download whose client takes no data is aborted (`CHATTERBOX_WRITE_TIMEOUT_SECS`).
    pub write_timeout_secs: u64,
    /// Seconds between keep-alive pings; a peer silent for two intervals is reaped
    /// (`CHATTERBOX_PING_INTERVAL_SECS`).
    pub ping_interval_secs: u64,
    /// Login attempts per client IP: burst, then per minute (`CHATTERBOX_LOGIN_IP_BURST`,
    /// `CHATTERBOX_LOGIN_IP_PER_MIN`).
    pub login_ip_burst: u32,
    pub login_ip_per_min: f64,
    /// Failed logins per account: burst, then per minute (`CHATTERBOX_LOGIN_ACCOUNT_BURST`,
    /// `CHATTERBOX_LOGIN_ACCOUNT_PER_MIN`). Only failures count, and the bucket refills, so the
    /// real user is never locked out for good.
    pub login_account_burst: u32,
    pub login_account_per_min: f64,
    /// Registrations per client IP: burst, then per minute (`CHATTERBOX_REGISTER_IP_BURST`,
    /// `CHATTERBOX_REGISTER_IP_PER_MIN`).
    pub register_ip_burst: u32,
    pub register_ip_per_min: f64,
    /// Room actions per account (every change to a room, a membership, an invitation or an
    /// ignore, and the name and topic checks that come with it): burst, then per minute
    /// (`CHATTERBOX_ROOM_ACTIONS_BURST`, `CHATTERBOX_ROOM_ACTIONS_PER_MIN`). Past it: 429.
    pub room_actions_burst: u32,
    pub room_actions_per_min: f64,
    /// Adding or inviting someone else to a room, per account, on top of the room actions:
    /// burst, then per minute (`CHATTERBOX_INVITATIONS_BURST`, `CHATTERBOX_INVITATIONS_PER_MIN`).
    pub invitations_burst: u32,
    pub invitations_per_min: f64,
    /// Rooms one account may create, whether or not it is still in them
    /// (`CHATTERBOX_MAX_ROOMS_PER_ACCOUNT`).
    pub max_rooms_per_account: u32,
    /// Whether someone added to a private room must accept first
    /// (`CHATTERBOX_INVITATIONS_NEED_ACCEPT`, `true` or `false`): the invitation waits for their
    /// answer (`GET /invitations`; joining accepts it, `DELETE /invitations/{room_id}` declines).
    pub invitations_need_accept: bool,
    /// Reverse proxies whose `X-Forwarded-For` is believed (`CHATTERBOX_TRUSTED_PROXIES`,
    /// comma-separated IPs). Empty: the client IP is always the TCP peer.
    pub trusted_proxies: Vec<std::net::IpAddr>,
    /// Seconds an HTTP request may take to produce its response (`CHATTERBOX_REQUEST_TIMEOUT_SECS`).
    pub request_timeout_secs: u64,
    /// Word list file for moderation (`CHATTERBOX_MODERATION_WORDS`); unset: the built-in list.
    /// Reloaded on SIGHUP.
    pub moderation_words: Option<PathBuf>,
    /// Trust and safety: the classifier, reports (`safety.rs`).
    #[serde(flatten)]
    pub safety: SafetyConfig,
    /// Message actions: the edit window (`messages.rs`).
    #[serde(flatten)]
    pub messages: MessagesConfig,
    /// Files and images: where they go, sizes, quotas (`files.rs`).
    #[serde(flatten)]
    pub files: FilesConfig,
    /// Running it: account deletion, shutdown, metrics (`operations.rs`).
    #[serde(flatten)]
    pub operations: OperationsConfig,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            database_url: "sqlite://chatterbox.db".into(),
            jwt_secret: None,
            token_ttl_secs: 8 * 3600,
            bcrypt_cost: 12,
            bcrypt_concurrency: 0,
            read_pool_size: 4,
            sqlite_synchronous: "FULL".into(),
            pg_statement_timeout_secs: 30,
            pg_lock_timeout_secs: 10,
            pg_idle_in_transaction_timeout_secs: 5,
            pg_keepalive_secs: 30,
            redis_url: None,
            presence_ttl_secs: 15,
            presence_list_max: app::protocol::PRESENCE_LIST_MAX,
            cluster_id: None,
            flood_burst: 10,
            flood_per_sec: 5.0,
            outbound_queue: 4096,
            outbound_queue_bytes: 4 * 1024 * 1024,
            max_sockets_per_account: 20,
            max_sockets: 0,
            session_max_age_secs: 30 * 24 * 3600,
            max_exports: 2,
            fanout_writes_per_sec: 25_000,
            fanout_pacing_cpu_percent: 50,
            write_timeout_secs: 10,
            ping_interval_secs: 20,
            moderation_words: None,
            login_ip_burst: 20,
            login_ip_per_min: 10.0,
            login_account_burst: 5,
            login_account_per_min: 1.0,
            register_ip_burst: 5,
            register_ip_per_min: 2.0,
            room_actions_burst: 30,
            room_actions_per_min: 30.0,
            invitations_burst: 10,
            invitations_per_min: 10.0,
            max_rooms_per_account: 100,
            invitations_need_accept: false,
            trusted_proxies: Vec::new(),
            request_timeout_secs: 30,
            safety: SafetyConfig::default(),
            messages: MessagesConfig::default(),
            files: FilesConfig::default(),
            operations: OperationsConfig::default(),
        }
    }
}

impl std::fmt::Debug for Config {
    /// Every setting, the secret redacted. The destructuring names every field, so a new field
    /// (perhaps another secret) cannot be added without deciding how it is shown here.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let Config {
            database_url,
            redis_url,
            presence_ttl_secs,
            presence_list_max,
            cluster_id,
            jwt_secret,
            token_ttl_secs,
            bcrypt_cost,
            bcrypt_concurrency,
            read_pool_size,
            sqlite_synchronous,
            pg_statement_timeout_secs,
            pg_lock_timeout_secs,
            pg_idle_in_transaction_timeout_secs,
            pg_keepalive_secs,
            flood_burst,
            flood_per_sec,
            outbound_queue,
            outbound_queue_bytes,
            max_sockets_per_account,
            max_sockets,
            session_max_age_secs,
            max_exports,
            fanout_writes_per_sec,
            fanout_pacing_cpu_percent,
            write_timeout_secs,
            ping_interval_secs,
            login_ip_burst,
            login_ip_per_min,
            login_account_burst,
            login_account_per_min,
            register_ip_burst,
            register_ip_per_min,
            room_actions_burst,
            room_actions_per_min,
            invitations_burst,
            invitations_per_min,
            max_rooms_per_account,
            invitations_need_accept,
            trusted_proxies,
            request_timeout_secs,
            moderation_words,
            safety,
            messages,
            files,
            operations,
        } = self;
        f.debug_struct("Config")
            .field("database_url", &redact_password(database_url))
            .field("redis_url", &redis_url.as_deref().map(redact_password))
            .field("presence_ttl_secs", presence_ttl_secs)
            .field("presence_list_max", presence_list_max)
            .field("cluster_id", cluster_id)
            .field("jwt_secret", &jwt_secret.as_ref().map(|_| "<redacted>"))
            .field("token_ttl_secs", token_ttl_secs)
            .field("bcrypt_cost", bcrypt_cost)
            .field("bcrypt_concurrency", bcrypt_concurrency)
            .field("read_pool_size", read_pool_size)
            .field("sqlite_synchronous", sqlite_synchronous)
            .field("pg_statement_timeout_secs", pg_statement_timeout_secs)
            .field("pg_lock_timeout_secs", pg_lock_timeout_secs)
            .field("pg_idle_in_transaction_timeout_secs", pg_idle_in_transaction_timeout_secs)
            .field("pg_keepalive_secs", pg_keepalive_secs)
            .field("flood_burst", flood_burst)
            .field("flood_per_sec", flood_per_sec)
            .field("outbound_queue", outbound_queue)
            .field("outbound_queue_bytes", outbound_queue_bytes)
            .field("max_sockets_per_account", max_sockets_per_account)
            .field("max_sockets", max_sockets)
            .field("session_max_age_secs", session_max_age_secs)
            .field("max_exports", max_exports)
            .field("fanout_writes_per_sec", fanout_writes_per_sec)
            .field("fanout_pacing_cpu_percent", fanout_pacing_cpu_percent)
            .field("write_timeout_secs", write_timeout_secs)
            .field("ping_interval_secs", ping_interval_secs)
            .field("login_ip_burst", login_ip_burst)
            .field("login_ip_per_min", login_ip_per_min)
            .field("login_account_burst", login_account_burst)
            .field("login_account_per_min", login_account_per_min)
            .field("register_ip_burst", register_ip_burst)
            .field("register_ip_per_min", register_ip_per_min)
            .field("room_actions_burst", room_actions_burst)
            .field("room_actions_per_min", room_actions_per_min)
            .field("invitations_burst", invitations_burst)
            .field("invitations_per_min", invitations_per_min)
            .field("max_rooms_per_account", max_rooms_per_account)
            .field("invitations_need_accept", invitations_need_accept)
            .field("trusted_proxies", trusted_proxies)
            .field("request_timeout_secs", request_timeout_secs)
            .field("moderation_words", moderation_words)
            .field("safety", safety)
            .field("messages", messages)
            .field("files", files)
            .field("operations", operations)
            .finish()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{0}")]
    Files(String),
    #[error("cannot read config file {path}: {source}")]
    Read { path: PathBuf, source: std::io::Error },
    #[error("invalid config file {path}: {source}")]
    Parse { path: PathBuf, source: toml::de::Error },
    #[error("invalid value for {name}: {value:?}")]
    Env { name: &'static str, value: String },
    #[error("CHATTERBOX_REDIS_URL makes this node one of a cluster, whose nodes must share a database: DATABASE_URL must be postgres://..., not an SQLite file")]
    ClusterOnSqlite,
    #[error("invalid CHATTERBOX_CLUSTER_ID {0:?}: 1 to {MAX_CLUSTER_ID_LEN} letters, digits, '-' or '_'")]
    BadClusterId(String),
    #[error("{name} ({value} s) must be longer than pg_idle_in_transaction_timeout_secs ({idle} s), so that a commit waiting for a stalled node's lock outlasts the timeout that frees it (or 0: no limit)")]
    LockWaitTooShort { name: &'static str, value: u64, idle: u64 },
    #[error("JWT_SECRET is {len} bytes; it must be at least {MIN_JWT_SECRET_BYTES} (e.g. `openssl rand -hex 32`), or unset to let the server generate one")]
    ShortSecret { len: usize },
}

#[derive(Deserialize, Default)]
struct ConfigFile {
    #[serde(default)]
    chatterbox: Config,
}

impl Config {
    /// Defaults, then the config file, then the environment.
    pub fn load() -> Result<Self, ConfigError> {
        let explicit = std::env::var_os("CHATTERBOX_CONFIG").map(PathBuf::from);
        let path = explicit.clone().unwrap_or_else(|| PathBuf::from("Leptos.toml"));
        let mut config = if explicit.is_some() || path.exists() { Self::from_file(&path)? } else { Self::default() };
        config.apply_env(|name| std::env::var(name).ok())?;
        Ok(config)
    }

    pub fn from_file(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read { path: path.into(), source })?;
        let file: ConfigFile =
            toml::from_str(&text).map_err(|source| ConfigError::Parse { path: path.into(), source })?;
        Ok(file.chatterbox)
    }

    /// Applies environment overrides read through `var` (a parameter so tests need no globals).
    pub fn apply_env(&mut self, var: impl Fn(&str) -> Option<String>) -> Result<(), ConfigError> {
        if let Some(v) = var("DATABASE_URL") {
            self.database_url = v;
        }
        if let Some(v) = var("CHATTERBOX_REDIS_URL") {
            self.redis_url = Some(v).filter(|v| !v.is_empty());
        }
        if let Some(v) = var("CHATTERBOX_CLUSTER_ID") {
            self.cluster_id = Some(v).filter(|v| !v.is_empty());
        }
        if let Some(v) = var("JWT_SECRET").filter(|v| !v.is_empty()) {
            self.jwt_secret = Some(v);
        }
        parse_env(&var, "CHATTERBOX_TOKEN_TTL_SECS", &mut self.token_ttl_secs)?;
        parse_env(&var, "CHATTERBOX_PRESENCE_TTL_SECS", &mut self.presence_ttl_secs)?;
        parse_env(&var, "CHATTERBOX_PRESENCE_LIST_MAX", &mut self.presence_list_max)?;
        parse_env(&var, "CHATTERBOX_BCRYPT_COST", &mut self.bcrypt_cost)?;
        parse_env(&var, "CHATTERBOX_BCRYPT_CONCURRENCY", &mut self.bcrypt_concurrency)?;
        parse_env(&var, "CHATTERBOX_READ_POOL", &mut self.read_pool_size)?;
        parse_env(&var, "CHATTERBOX_PG_STATEMENT_TIMEOUT_SECS", &mut self.pg_statement_timeout_secs)?;
        parse_env(&var, "CHATTERBOX_PG_LOCK_TIMEOUT_SECS", &mut self.pg_lock_timeout_secs)?;
        parse_env(
            &var,
            "CHATTERBOX_PG_IDLE_IN_TRANSACTION_TIMEOUT_SECS",
            &mut self.pg_idle_in_transaction_timeout_secs,
        )?;
        parse_env(&var, "CHATTERBOX_PG_KEEPALIVE_SECS", &mut self.pg_keepalive_secs)?;
        parse_env(&var, "CHATTERBOX_FLOOD_BURST", &mut self.flood_burst)?;
        parse_env(&var, "CHATTERBOX_FLOOD_PER_SEC", &mut self.flood_per_sec)?;
        parse_env(&var, "CHATTERBOX_OUTBOUND_QUEUE", &mut self.outbound_queue)?;
        parse_env(&var, "CHATTERBOX_OUTBOUND_QUEUE_BYTES", &mut self.outbound_queue_bytes)?;
        parse_env(&var, "CHATTERBOX_MAX_SOCKETS_PER_ACCOUNT", &mut self.max_sockets_per_account)?;
        parse_env(&var, "CHATTERBOX_MAX_SOCKETS", &mut self.max_sockets)?;
        parse_env(&var, "CHATTERBOX_SESSION_MAX_AGE_SECS", &mut self.session_max_age_secs)?;
        parse_env(&var, "CHATTERBOX_MAX_EXPORTS", &mut self.max_exports)?;
        parse_env(&var, "CHATTERBOX_FANOUT_WRITES_PER_SEC", &mut self.fanout_writes_per_sec)?;
        parse_env(&var, "CHATTERBOX_FANOUT_PACING_CPU_PERCENT", &mut self.fanout_pacing_cpu_percent)?;
        parse_env(&var, "CHATTERBOX_WRITE_TIMEOUT_SECS", &mut self.write_timeout_secs)?;
        parse_env(&var, "CHATTERBOX_PING_INTERVAL_SECS", &mut self.ping_interval_secs)?;
        parse_env(&var, "CHATTERBOX_LOGIN_IP_BURST", &mut self.login_ip_burst)?;
        parse_env(&var, "CHATTERBOX_LOGIN_IP_PER_MIN", &mut self.login_ip_per_min)?;
        parse_env(&var, "CHATTERBOX_LOGIN_ACCOUNT_BURST", &mut self.login_account_burst)?;
        parse_env(&var, "CHATTERBOX_LOGIN_ACCOUNT_PER_MIN", &mut self.login_account_per_min)?;
        parse_env(&var, "CHATTERBOX_REGISTER_IP_BURST", &mut self.register_ip_burst)?;
        parse_env(&var, "CHATTERBOX_REGISTER_IP_PER_MIN", &mut self.register_ip_per_min)?;
        parse_env(&var, "CHATTERBOX_REQUEST_TIMEOUT_SECS", &mut self.request_timeout_secs)?;
        parse_env(&var, "CHATTERBOX_ROOM_ACTIONS_BURST", &mut self.room_actions_burst)?;
        parse_env(&var, "CHATTERBOX_ROOM_ACTIONS_PER_MIN", &mut self.room_actions_per_min)?;
        parse_env(&var, "CHATTERBOX_INVITATIONS_BURST", &mut self.invitations_burst)?;
        parse_env(&var, "CHATTERBOX_INVITATIONS_PER_MIN", &mut self.invitations_per_min)?;
        parse_env(&var, "CHATTERBOX_MAX_ROOMS_PER_ACCOUNT", &mut self.max_rooms_per_account)?;
        parse_env(&var, "CHATTERBOX_INVITATIONS_NEED_ACCEPT", &mut self.invitations_need_accept)?;
        parse_env(&var, "CHATTERBOX_CLASSIFIER", &mut self.safety.classifier)?;
        parse_env(&var, "CHATTERBOX_CLASSIFIER_THRESHOLD", &mut self.safety.classifier_threshold)?;
        parse_env(&var, "CHATTERBOX_REPORTS_BURST", &mut self.safety.reports_burst)?;
        parse_env(&var, "CHATTERBOX_REPORTS_PER_MIN", &mut self.safety.reports_per_min)?;
        parse_env(&var, "CHATTERBOX_TRUSTED_ACCOUNT_AGE_HOURS", &mut self.safety.trusted_account_age_hours)?;
        parse_env(&var, "CHATTERBOX_STRIKE_EXPIRY_DAYS", &mut self.safety.strike_expiry_days)?;
        parse_env(&var, "CHATTERBOX_EDIT_WINDOW_SECS", &mut self.messages.edit_window_secs)?;
        if let Some(v) = var("CHATTERBOX_FILES_URL") {
            self.files.files_url = Some(v).filter(|v| !v.is_empty());
        }
        parse_env(&var, "CHATTERBOX_FILES_SHARED", &mut self.files.files_shared)?;
        parse_env(&var, "CHATTERBOX_UPLOAD_MAX_BYTES", &mut self.files.upload_max_bytes)?;
        parse_env(&var, "CHATTERBOX_UPLOAD_QUOTA_BYTES", &mut self.files.upload_quota_bytes)?;
        parse_env(&var, "CHATTERBOX_UNPOSTED_UPLOAD_TTL_SECS", &mut self.files.unposted_upload_ttl_secs)?;
        parse_env(&var, "CHATTERBOX_FILES_SWEEP_SECS", &mut self.files.files_sweep_secs)?;
        parse_env(&var, "CHATTERBOX_UPLOAD_TIMEOUT_SECS", &mut self.files.upload_timeout_secs)?;
        parse_env(&var, "CHATTERBOX_IMAGE_WORKERS", &mut self.files.image_workers)?;
        parse_env(&var, "CHATTERBOX_UPLOADS_BURST", &mut self.files.uploads_burst)?;
        parse_env(&var, "CHATTERBOX_UPLOADS_PER_SEC", &mut self.files.uploads_per_sec)?;
        parse_env(&var, "CHATTERBOX_ACCOUNT_DELETION", &mut self.operations.account_deletion)?;
        parse_env(&var, "CHATTERBOX_DELETED_USERNAME_HOLD_DAYS", &mut self.operations.deleted_username_hold_days)?;
        parse_env(&var, "CHATTERBOX_EXPORTS_PER_DAY", &mut self.operations.exports_per_day)?;
        parse_env(&var, "CHATTERBOX_SHUTDOWN_GRACE_SECS", &mut self.operations.shutdown_grace_secs)?;
        if let Some(v) = var("CHATTERBOX_METRICS_TOKEN") {
            self.operations.metrics_token = Some(v).filter(|v| !v.is_empty());
        }
        if let Some(v) = var("CHATTERBOX_METRICS_ADDR") {
            self.operations.metrics_addr = match v.trim() {
                "" => None,
                addr => Some(
                    addr.parse().map_err(|_| ConfigError::Env { name: "CHATTERBOX_METRICS_ADDR", value: v.clone() })?,
                ),
            };
        }
        for (name, slot) in [
            ("AWS_ENDPOINT_URL", &mut self.files.s3_endpoint),
            ("AWS_REGION", &mut self.files.s3_region),
            ("AWS_ACCESS_KEY_ID", &mut self.files.s3_access_key_id),
            ("AWS_SECRET_ACCESS_KEY", &mut self.files.s3_secret_access_key),
        ] {
            if let Some(v) = var(name).filter(|v| !v.is_empty()) {
                *slot = Some(v);
            }
        }
        if let Some(v) = var("CHATTERBOX_TRUSTED_PROXIES") {
            self.trusted_proxies = v
                .split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(|s| {
                    s.parse().map_err(|_| ConfigError::Env { name: "CHATTERBOX_TRUSTED_PROXIES", value: v.clone() })
                })
                .collect::<Result<_, _>>()?;
        }
        if let Some(v) = var("CHATTERBOX_MODERATION_WORDS").filter(|v| !v.is_empty()) {
            self.moderation_words = Some(PathBuf::from(v));
        }
        if let Some(v) = var("CHATTERBOX_SQLITE_SYNCHRONOUS") {
            self.sqlite_synchronous = v;
        }
        self.validate()
    }

    fn validate(&self) -> Result<(), ConfigError> {
        if let Err(name) = self.files.validate() {
            return Err(ConfigError::Env { name, value: "0".into() });
        }
        if let Err(name) = self.operations.validate() {
            // Never the value: it may be the metrics token.
            return Err(ConfigError::Env { name, value: "(out of range)".into() });
        }
        if let Err(message) = self.files.location(&self.database_url) {
            return Err(ConfigError::Files(message));
        }
        if !(4..=31).contains(&self.bcrypt_cost) {
            return Err(ConfigError::Env { name: "bcrypt_cost", value: self.bcrypt_cost.to_string() });
        }
        if self.outbound_queue == 0
            || self.ping_interval_secs == 0
            || self.write_timeout_secs == 0
            || self.request_timeout_secs == 0
        {
            return Err(ConfigError::Env {
                name: "outbound_queue/ping_interval_secs/write_timeout_secs",
                value: "0".into(),
            });
        }
        let zero = [
            ("outbound_queue_bytes", self.outbound_queue_bytes as u64),
            ("max_sockets_per_account", self.max_sockets_per_account as u64),
            ("session_max_age_secs", self.session_max_age_secs),
            ("max_exports", self.max_exports as u64),
            ("max_rooms_per_account", u64::from(self.max_rooms_per_account)),
        ];
        if let Some((name, _)) = zero.iter().find(|(_, value)| *value == 0) {
            return Err(ConfigError::Env { name, value: "0".into() });
        }
        if self.presence_ttl_secs == 0 {
            return Err(ConfigError::Env { name: "presence_ttl_secs", value: "0".into() });
        }
        if self.token_ttl_secs == 0 {
            return Err(ConfigError::Env { name: "token_ttl_secs", value: "0".into() });
        }
        if let Some(secret) = &self.jwt_secret {
            if secret.len() < MIN_JWT_SECRET_BYTES {
                return Err(ConfigError::ShortSecret { len: secret.len() });
            }
        }
        let threshold = self.safety.classifier_threshold;
        if !(0.0..=1.0).contains(&threshold) {
            return Err(ConfigError::Env { name: "classifier_threshold", value: threshold.to_string() });
        }
        if self.safety.reports_burst == 0 || self.safety.reports_per_min.is_nan() || self.safety.reports_per_min <= 0.0
        {
            return Err(ConfigError::Env { name: "reports_burst/reports_per_min", value: "0".into() });
        }
        if self.fanout_pacing_cpu_percent > 100 {
            return Err(ConfigError::Env {
                name: "fanout_pacing_cpu_percent",
                value: self.fanout_pacing_cpu_percent.to_string(),
            });
        }
        if self.redis_url.is_some() && !self.shares_database() {
            return Err(ConfigError::ClusterOnSqlite);
        }
        if let Some(id) = self.cluster_id.as_deref().filter(|id| !valid_cluster_id(id)) {
            return Err(ConfigError::BadClusterId(id.to_owned()));
        }
        let idle = self.pg_idle_in_transaction_timeout_secs;
        let waits = [
            ("pg_lock_timeout_secs", self.pg_lock_timeout_secs),
            ("pg_statement_timeout_secs", self.pg_statement_timeout_secs),
        ];
        if let Some(&(name, value)) = waits.iter().find(|(_, value)| idle > 0 && *value > 0 && *value <= idle) {
            return Err(ConfigError::LockWaitTooShort { name, value, idle });
        }
        let pg = [
            ("pg_statement_timeout_secs", self.pg_statement_timeout_secs),
            ("pg_lock_timeout_secs", self.pg_lock_timeout_secs),
            ("pg_idle_in_transaction_timeout_secs", idle),
            ("pg_keepalive_secs", self.pg_keepalive_secs),
        ];
        if let Some((name, value)) = pg.iter().find(|(_, value)| *value > MAX_PG_SECS) {
            return Err(ConfigError::Env { name, value: value.to_string() });
        }
        if !["FULL", "NORMAL", "EXTRA"].contains(&self.sqlite_synchronous.to_uppercase().as_str()) {
            return Err(ConfigError::Env { name: "sqlite_synchronous", value: self.sqlite_synchronous.clone() });
        }
        Ok(())
    }

    /// Whether the database is one several nodes can share (PostgreSQL).
    pub fn shares_database(&self) -> bool {
        self.database_url.starts_with("postgres://") || self.database_url.starts_with("postgresql://")
    }

    /// The server-wide socket cap in force: `max_sockets`, or with 0 the open-files limit of
    /// the process less [`RESERVED_FILES`] (files for the database, listeners, HTTP requests),
    /// so that the cap refuses a handshake cleanly (503) before `accept` would fail.
    pub fn effective_max_sockets(&self) -> usize {
        if self.max_sockets > 0 {
            return self.max_sockets;
        }
        match open_files_limit() {
            Some(limit) => limit.saturating_sub(RESERVED_FILES).max(MIN_AUTO_SOCKETS),
            None => FALLBACK_MAX_SOCKETS,
        }
    }

    /// How the store connects: pool sizes and PostgreSQL's session settings.
    pub fn store_options(&self) -> crate::store::StoreOptions {
        crate::store::StoreOptions {
            read_pool_size: self.read_pool_size,
            sqlite_synchronous: self.sqlite_synchronous.clone(),
            pg: crate::store::PgSession {
                statement_timeout: Duration::from_secs(self.pg_statement_timeout_secs),
                lock_timeout: Duration::from_secs(self.pg_lock_timeout_secs),
                idle_in_transaction_timeout: Duration::from_secs(self.pg_idle_in_transaction_timeout_secs),
                keepalive: Duration::from_secs(self.pg_keepalive_secs),
            },
        }
    }

    /// The bcrypt concurrency actually used.
    pub fn effective_bcrypt_concurrency(&self) -> usize {
        if self.bcrypt_concurrency > 0 {
            return self.bcrypt_concurrency;
        }
        let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
        (cores / 2).max(1)
    }
}

/// Longest PostgreSQL timeout or keepalive accepted, in seconds (a day; PostgreSQL's own limit
/// is about 24 days, in milliseconds).
const MAX_PG_SECS: u64 = 86_400;

/// Longest `CHATTERBOX_CLUSTER_ID`.
pub const MAX_CLUSTER_ID_LEN: usize = 64;

/// Whether `id` may name a cluster: 1 to [`MAX_CLUSTER_ID_LEN`] ASCII letters, digits, `-` or `_`.
/// Nothing else, so that a cluster's keys can be matched by a pattern (no `*`, `?`, `[`) that
/// never matches another cluster's (no `:`).
pub fn valid_cluster_id(id: &str) -> bool {
    (1..=MAX_CLUSTER_ID_LEN).contains(&id.len())
        && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// Open files kept for other uses than WebSockets when the socket cap follows the open-files limit.
pub const RESERVED_FILES: usize = 256;
/// The automatic socket cap never goes below this.
const MIN_AUTO_SOCKETS: usize = 64;
/// The automatic socket cap where the open-files limit cannot be read (or is unlimited).
const FALLBACK_MAX_SOCKETS: usize = 10_000;

/// The process's soft open-files limit, from `/proc/self/limits` (Linux).
fn open_files_limit() -> Option<usize> {
    let limits = std::fs::read_to_string("/proc/self/limits").ok()?;
    parse_open_files_limit(&limits)
}

fn parse_open_files_limit(limits: &str) -> Option<usize> {
    let line = limits.lines().find(|line| line.starts_with("Max open files"))?;
    line.trim_start_matches("Max open files").split_whitespace().next()?.parse().ok()
}

fn parse_env<T: std::str::FromStr>(
    var: &impl Fn(&str) -> Option<String>,
    name: &'static str,
    slot: &mut T,
) -> Result<(), ConfigError> {
    if let Some(value) = var(name) {
        *slot = value.trim().parse().map_err(|_| ConfigError::Env { name, value })?;
    }
    Ok(())
}

/// `url` with the password of its user part (`scheme://user:PASSWORD@host`) hidden, for logs.
fn redact_password(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else { return url.to_owned() };
    let Some((user_part, host)) = rest.split_once('@') else { return url.to_owned() };
    match user_part.split_once(':') {
        Some((user, _password)) => format!("{scheme}://{user}:<redacted>@{host}"),
        None => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        move |name| map.get(name).cloned()
    }

    #[test]
    fn env_overrides_defaults() {
        let mut config = Config::default();
        config.apply_env(env(&[("DATABASE_URL", "sqlite://x.db"), ("CHATTERBOX_BCRYPT_COST", "4")])).unwrap();
        assert_eq!(config.database_url, "sqlite://x.db");
        assert_eq!(config.bcrypt_cost, 4);
    }

    #[test]
    fn a_short_jwt_secret_refuses_to_start() {
        let mut config = Config::default();
        let error = config.apply_env(env(&[("JWT_SECRET", "too-short-secret")])).unwrap_err();
        assert!(matches!(error, ConfigError::ShortSecret { len: 16 }), "{error}");
        assert!(error.to_string().contains("at least 32"), "{error}");
        let mut config = Config::default();
        config.apply_env(env(&[("JWT_SECRET", &"k".repeat(32))])).unwrap();
        assert_eq!(config.jwt_secret.as_deref().map(str::len), Some(32));
    }

    #[test]
    fn debug_never_shows_the_jwt_secret() {
        let secret = "s3cr3t-s3cr3t-s3cr3t-s3cr3t-s3cr3t-s3cr3t";
        let config = Config { jwt_secret: Some(secret.into()), ..Config::default() };
        let (compact, pretty) = (format!("{config:?}"), format!("{config:#?}"));
        assert!(!compact.contains("s3cr3t") && !pretty.contains("s3cr3t"), "{pretty}");
        assert!(compact.contains(r#"jwt_secret: Some("<redacted>")"#), "{compact}");
        assert!(compact.contains("bcrypt_cost: 12"), "{compact}");
        assert!(format!("{:?}", Config::default()).contains("jwt_secret: None"));
    }

    #[test]
    fn debug_never_shows_a_database_or_redis_password() {
        let config = Config {
            database_url: "postgres://chat:pg-pass-123@db.internal/chat".into(),
            redis_url: Some("redis://:redis-pass-456@cache:6379".into()),
            ..Config::default()
        };
        let shown = format!("{config:?}");
        assert!(!shown.contains("pg-pass-123") && !shown.contains("redis-pass-456"), "{shown}");
        assert!(shown.contains("postgres://chat:<redacted>@db.internal/chat"), "{shown}");
        assert!(format!("{:?}", Config::default()).contains("sqlite://chatterbox.db"));
    }

    #[test]
    fn a_cluster_needs_a_shared_database() {
        let mut config = Config::default();
        let error = config.apply_env(env(&[("CHATTERBOX_REDIS_URL", "redis://127.0.0.1:6379")])).unwrap_err();
        assert!(matches!(error, ConfigError::ClusterOnSqlite), "{error}");
        let mut config = Config::default();
        config
            .apply_env(env(&[
                ("CHATTERBOX_REDIS_URL", "redis://127.0.0.1:6379"),
                ("DATABASE_URL", "postgres://chat@127.0.0.1/chat"),
            ]))
            .unwrap();
        assert_eq!(config.redis_url.as_deref(), Some("redis://127.0.0.1:6379"));
        let mut config = Config::default();
        config.apply_env(env(&[("CHATTERBOX_REDIS_URL", "")])).unwrap();
        assert_eq!(config.redis_url, None, "empty means unset");
    }

    #[test]
    fn a_cluster_id_is_short_and_plain() {
        let mut config = Config::default();
        config.apply_env(env(&[("CHATTERBOX_CLUSTER_ID", "prod-eu_1")])).unwrap();
        assert_eq!(config.cluster_id.as_deref(), Some("prod-eu_1"));
        config.apply_env(env(&[("CHATTERBOX_CLUSTER_ID", "")])).unwrap();
        assert_eq!(config.cluster_id, None, "empty means unset: the database's");
        let long = "x".repeat(MAX_CLUSTER_ID_LEN + 1);
        for bad in ["prod:eu", "prod*", "a b", "{x}", "caf\u{e9}", "q?", "[a]", long.as_str()] {
            let error = Config::default().apply_env(env(&[("CHATTERBOX_CLUSTER_ID", bad)])).unwrap_err();
            assert!(matches!(error, ConfigError::BadClusterId(_)), "{bad}: {error}");
        }
        assert!(valid_cluster_id(&"x".repeat(MAX_CLUSTER_ID_LEN)));
    }

    #[test]
    fn a_lock_wait_outlasts_the_idle_transaction_timeout() {
        let error = Config::default()
            .apply_env(env(&[
                ("CHATTERBOX_PG_IDLE_IN_TRANSACTION_TIMEOUT_SECS", "10"),
                ("CHATTERBOX_PG_LOCK_TIMEOUT_SECS", "10"),
            ]))
            .unwrap_err();
        assert!(matches!(error, ConfigError::LockWaitTooShort { name: "pg_lock_timeout_secs", .. }), "{error}");
        let error = Config::default().apply_env(env(&[("CHATTERBOX_PG_STATEMENT_TIMEOUT_SECS", "5")])).unwrap_err();
        assert!(matches!(error, ConfigError::LockWaitTooShort { name: "pg_statement_timeout_secs", .. }), "{error}");
        // 0 is no limit, on either side.
        let mut config = Config::default();
        config
            .apply_env(env(&[("CHATTERBOX_PG_LOCK_TIMEOUT_SECS", "0"), ("CHATTERBOX_PG_STATEMENT_TIMEOUT_SECS", "0")]))
            .unwrap();
        let mut config = Config::default();
        config.apply_env(env(&[("CHATTERBOX_PG_IDLE_IN_TRANSACTION_TIMEOUT_SECS", "0")])).unwrap();
        assert_eq!(config.store_options().pg.idle_in_transaction_timeout, Duration::ZERO);
        assert!(Config::default().apply_env(env(&[("CHATTERBOX_PG_KEEPALIVE_SECS", "86401")])).is_err());
    }

    #[test]
    fn the_default_sessions_are_the_stores() {
        assert_eq!(Config::default().store_options().pg, crate::store::PgSession::default());
    }

    #[test]
    fn the_automatic_socket_cap_follows_the_open_files_limit() {
        let limits = "Limit                     Soft Limit           Hard Limit           Units     \n\
                      Max open files            20000                20000                files     \n";
        assert_eq!(parse_open_files_limit(limits), Some(20_000));
        assert_eq!(parse_open_files_limit("Max open files  unlimited unlimited files"), None);
        let fixed = Config { max_sockets: 500, ..Config::default() };
        assert_eq!(fixed.effective_max_sockets(), 500);
        let auto = Config::default().effective_max_sockets();
        assert!(auto >= MIN_AUTO_SOCKETS, "{auto}");
        if let Some(limit) = open_files_limit() {
            assert!(auto < limit, "the cap leaves room for other files: {auto} of {limit}");
        }
    }

    #[test]
    fn bad_values_are_refused() {
        let mut config = Config::default();
        assert!(config.apply_env(env(&[("CHATTERBOX_BCRYPT_COST", "abc")])).is_err());
        assert!(config.apply_env(env(&[("CHATTERBOX_BCRYPT_COST", "40")])).is_err());
    }

    #[test]
    fn the_safety_settings_are_read_and_checked() {
        let mut config = Config::default();
        assert_eq!(config.safety.classifier, ClassifierPolicy::Flag);
        assert_eq!(config.safety.classifier_threshold, DEFAULT_CLASSIFIER_THRESHOLD);
        config
            .apply_env(env(&[
                ("CHATTERBOX_CLASSIFIER", "hold"),
                ("CHATTERBOX_CLASSIFIER_THRESHOLD", "0.9"),
                ("CHATTERBOX_REPORTS_BURST", "3"),
                ("CHATTERBOX_TRUSTED_ACCOUNT_AGE_HOURS", "0"),
            ]))
            .unwrap();
        assert_eq!(config.safety.classifier, ClassifierPolicy::Hold);
        assert_eq!((config.safety.classifier_threshold, config.safety.reports_burst), (0.9, 3));
        assert_eq!(config.safety.trusted_account_age_hours, 0);
        let now = chrono::DateTime::parse_from_rfc3339("2026-12-10T12:00:00.000Z").unwrap().to_utc();
        assert_eq!(config.safety.strikes_count_since(now), None, "strikes never expire by default");
        config.apply_env(env(&[("CHATTERBOX_STRIKE_EXPIRY_DAYS", "30")])).unwrap();
        assert_eq!(config.safety.strikes_count_since(now).as_deref(), Some("2026-11-10T12:00:00.000Z"));
        config.apply_env(env(&[("CHATTERBOX_STRIKE_EXPIRY_DAYS", "18446744073709551615")])).unwrap();
        assert!(config.safety.strikes_count_since(now).is_some(), "a huge value does not overflow");
        for (name, value) in [
            ("CHATTERBOX_CLASSIFIER", "maybe"),
            ("CHATTERBOX_CLASSIFIER_THRESHOLD", "1.5"),
            ("CHATTERBOX_CLASSIFIER_THRESHOLD", "NaN"),
            ("CHATTERBOX_REPORTS_BURST", "0"),
            ("CHATTERBOX_REPORTS_PER_MIN", "0"),
        ] {
            assert!(Config::default().apply_env(env(&[(name, value)])).is_err(), "{name}={value}");
        }
        assert!(toml::from_str::<ConfigFile>("[chatterbox]\nclasifier = \"off\"\n").is_err(), "a misspelt key");
        let file: ConfigFile = toml::from_str("[chatterbox]\nclassifier = \"off\"\nreports_per_min = 2.5\n").unwrap();
        assert_eq!(file.chatterbox.safety.classifier, ClassifierPolicy::Off);
        assert_eq!(file.chatterbox.safety.reports_per_min, 2.5);
    }

    #[test]
    fn the_shipped_config_file_parses() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../Leptos.toml");
        let config = Config::from_file(&path).expect("Leptos.toml parses");
        assert_eq!(config.bcrypt_cost, Config::default().bcrypt_cost);
    }
}
