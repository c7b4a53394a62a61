//! The PostgreSQL backend (`postgres://` or `postgresql://` URLs), for several server processes
//! sharing one database: the connection pool, migrations, and every query on accounts and
//! settings; the other queries are in this folder's files, one concern each.
//!
//! The SQL mirrors the SQLite backend's, statement for statement, with what SQLite's single
//! writer gave for free made explicit under READ COMMITTED (each statement sees what committed
//! before it started):
//! - message ids come from a counter row whose lock each batch holds to its commit, so they are
//!   gapless and visible in commit order (`messages.rs`); a block, a leave or an archive takes
//!   the same lock in a trigger, so no message commits after the change that refuses it;
//! - the first registration alone becomes admin (the `users` counter row serialises them);
//! - the caps on conversations and ignores lock the user's row before counting.
//!
//! Lock order, always: a row of `users`, `rooms` or `room_members`, then the `messages` counter,
//! then the `account_changes` counter (see the migration), so there is no deadlock.
//!
//! Connections come in three pools, so that one kind of work never starves another: the pool of
//! requests (reads, and the writes other than messages), the message writer's, and the feeds'.
//! A [`PgStore`] is a handle on one of them, its [`Lane`]: `pool()` is the handle's own, so
//! everything the writer's task reads through its handle (`Store::for_writer`) runs on the
//! writer's connections, and everything a feed's task reads on the feeds'. A method that only
//! ever serves one of them says so by taking [`PgStore::writer_pool`] or [`PgStore::feed_pool`]
//! whatever the handle. Every session carries the timeouts of [`PgSession`] (a node stalled in a
//! transaction loses it, and the locks it held, after `idle_in_transaction_timeout`).

mod accounts;
mod actions;
mod admin;
mod authority;
mod feed;
mod messages;
mod rooms;
mod safety;
mod uploads;

#[cfg(test)]
pub(crate) use messages::since_sql;

/// The values read out of PostgreSQL's rows.
mod rows {
    crate::store::rows::readers!(sqlx::postgres::PgRow);
}

use crate::store::{now_rfc3339, StoreError, UserRecord};
use app::models::PublicUser;
use rows::user_from_row;
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::{Connection, Row};
use std::time::Duration;

/// A handle on the database: the three pools, and the one this handle's queries use.
#[derive(Clone)]
pub struct PgStore {
    requests: PgPool,
    writer: PgPool,
    feeds: PgPool,
    lane: Lane,
}

/// Whose connections a [`PgStore`] handle uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lane {
    /// Reads, and the writes other than messages (accounts, conversations, moderation, admin).
    Requests,
    /// The message writer: its commits, and its reads of gaps and of the newest id.
    Writer,
    /// The tasks following a feed (account changes, membership changes).
    Feeds,
}

impl Lane {
    fn name(self) -> &'static str {
        match self {
            Lane::Requests => "requests",
            Lane::Writer => "writer",
            Lane::Feeds => "feeds",
        }
    }
}

/// Connections of the pool of requests beyond `read_pool_size`, for the writes other than
/// messages.
pub const OTHER_WRITES: u32 = 2;
/// Connections of the message writer (one task, one transaction at a time; one more while a
/// broken connection is replaced).
pub const WRITER_CONNECTIONS: u32 = 2;
/// Connections of the feeds (one task per feed: account changes, membership changes).
pub const FEED_CONNECTIONS: u32 = 2;

/// What every session sets, in the startup packet (so before its first statement).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PgSession {
    /// `statement_timeout`: a statement running longer is cancelled (zero: no limit).
    pub statement_timeout: Duration,
    /// `lock_timeout`: a statement waiting longer for a lock fails (zero: no limit).
    pub lock_timeout: Duration,
    /// `idle_in_transaction_session_timeout`: a session idle this long inside a transaction is
    /// ended by the server, its transaction rolled back and its locks freed (zero: no limit).
    pub idle_in_transaction_timeout: Duration,
    /// Silence after which the server sends TCP keepalive probes (then every third of it, three
    /// times); data unacknowledged for twice this drops the connection (`tcp_user_timeout`).
    /// Zero: the server's settings.
    pub keepalive: Duration,
}

impl Default for PgSession {
    /// The documented defaults (`docs/configuration.md`).
    fn default() -> Self {
        Self {
            statement_timeout: Duration::from_secs(30),
            lock_timeout: Duration::from_secs(10),
            idle_in_transaction_timeout: Duration::from_secs(5),
            keepalive: Duration::from_secs(30),
        }
    }
}

impl PgSession {
    /// The server settings, as `-c name=value` startup options.
    fn settings(&self) -> Vec<(&'static str, String)> {
        let ms = |d: Duration| d.as_millis().to_string();
        let mut settings = vec![
            ("statement_timeout", ms(self.statement_timeout)),
            ("lock_timeout", ms(self.lock_timeout)),
            ("idle_in_transaction_session_timeout", ms(self.idle_in_transaction_timeout)),
        ];
        let idle = self.keepalive.as_secs();
        if idle > 0 {
            settings.extend([
                ("tcp_keepalives_idle", idle.to_string()),
                ("tcp_keepalives_interval", (idle / 3).max(1).to_string()),
                ("tcp_keepalives_count", "3".to_owned()),
                ("tcp_user_timeout", ms(self.keepalive * 2)),
            ]);
        }
        settings
    }
}

/// The connect options of `url` for `lane`'s pool: `session`'s settings (after any the URL
/// gives, so they win), and unless the URL names one, an application name saying which process
/// and pool a connection is (`pg_stat_activity.application_name`: `chatterbox writer pid 4242`).
fn connect_options(url: &str, session: &PgSession, lane: &str) -> Result<PgConnectOptions, sqlx::Error> {
    let options: PgConnectOptions = url.parse()?;
    let options = options.options(session.settings());
    Ok(match options.get_application_name() {
        Some(_) => options,
        None => options.application_name(&format!("chatterbox {lane} pid {}", std::process::id())),
    })
}

/// The assignments that block a user. SET expressions read the old row, so the token version is
/// bumped (revoking every earlier token) only when the user was not blocked already.
pub(crate) const BLOCK_AND_REVOKE: &str =
    "is_blocked = TRUE, token_version = token_version + CASE WHEN is_blocked THEN 0 ELSE 1 END";

pub(crate) const USER_COLUMNS: &str =
    "id, username, email, password_hash, is_admin, is_blocked, warning_count, token_version, created_at";

/// What a unique violation of `constraint` (the violated index's name) means.
fn duplicate(constraint: Option<&str>) -> Option<StoreError> {
    match constraint? {
        "users_username_key" => Some(StoreError::DuplicateUsername),
        "users_email_key" => Some(StoreError::DuplicateEmail),
        "rooms_name_key" => Some(StoreError::DuplicateRoomName),
        _ => None,
    }
}

/// `error` as a store error: a duplicate name when it violated one of the named unique indexes.
pub(crate) fn store_error(error: sqlx::Error) -> StoreError {
    if let sqlx::Error::Database(db) = &error {
        if db.is_unique_violation() {
            if let Some(duplicate) = duplicate(db.constraint()) {
                return duplicate;
            }
        }
    }
    StoreError::Database(error)
}

impl PgStore {
    /// Runs the migrations, then makes the three pools (connecting lazily): `read_pool_size` +
    /// [`OTHER_WRITES`] connections for requests, [`WRITER_CONNECTIONS`] for the message writer,
    /// [`FEED_CONNECTIONS`] for the feeds, every session set up as `session` says. sqlx holds an
    /// advisory lock while it migrates, so servers starting together on a new database take
    /// turns, and all find it migrated; the migrations run on a connection of their own, without
    /// the statement and lock timeouts (a migration of a large table, or the wait for another
    /// server's, may take longer).
    pub async fn open(url: &str, read_pool_size: u32, session: PgSession) -> Result<Self, StoreError> {
        let unlimited = PgSession {
            statement_timeout: Duration::ZERO,
            lock_timeout: Duration::ZERO,
            idle_in_transaction_timeout: Duration::ZERO,
            ..session
        };
        let mut migrating = sqlx::PgConnection::connect_with(&connect_options(url, &unlimited, "migrations")?).await?;
        accounts::MIGRATOR.run(&mut migrating).await?;
        migrating.close().await?;
        let pool = |lane: Lane, size: u32| -> Result<PgPool, sqlx::Error> {
            Ok(PgPoolOptions::new()
                .max_connections(size)
                .acquire_timeout(Duration::from_secs(30))
                .connect_lazy_with(connect_options(url, &session, lane.name())?))
        };
        Ok(Self {
            requests: pool(Lane::Requests, read_pool_size.max(1) + OTHER_WRITES)?,
            writer: pool(Lane::Writer, WRITER_CONNECTIONS)?,
            feeds: pool(Lane::Feeds, FEED_CONNECTIONS)?,
            lane: Lane::Requests,
        })
    }

    /// This store on `lane`'s connections.
    pub fn lane(&self, lane: Lane) -> Self {
        Self { lane, ..self.clone() }
    }

    /// The connections of this handle's lane: what every query not marked as the writer's or
    /// a feed's runs on.
    pub fn pool(&self) -> &PgPool {
        match self.lane {
            Lane::Requests => &self.requests,
            Lane::Writer => &self.writer,
            Lane::Feeds => &self.feeds,
        }
    }

    /// The message writer's connections, whichever the handle: for what only the writer does.
    pub fn writer_pool(&self) -> &PgPool {
        &self.writer
    }

    /// The feeds' connections, whichever the handle: for the reads of a feed, so that following
    /// it never waits behind requests.
    pub fn feed_pool(&self) -> &PgPool {
        &self.feeds
    }

    /// Creates a user; the first user of an empty database becomes admin. Registrations take
    /// the `users` counter row's lock first, so the INSERT's check for an earlier user sees every
    /// registration committed before it: two simultaneous first registrations cannot both win.
    /// A taken username or email is told apart by the name of the unique index it violates.
    pub async fn create_user(
        &self,
        username: &str,
        email: &str,
        password_hash: &str,
    ) -> Result<PublicUser, StoreError> {
        let mut tx = self.pool().begin().await?;
        sqlx::query("SELECT 1 FROM counters WHERE name = 'users' FOR UPDATE").execute(&mut *tx).await?;
        // A deleted account's username stays taken until its `username_free_at`.
        let retired: bool = sqlx::query_scalar(
            "SELECT EXISTS (SELECT 1 FROM users WHERE lower(retired_username) = lower($1) AND username_free_at > $2)",
        )
        .bind(username)
        .bind(now_rfc3339())
        .fetch_one(&mut *tx)
        .await?;
        if retired {
            return Err(StoreError::DuplicateUsername);
        }
        let row = sqlx::query(&format!(
            "INSERT INTO users (username, email, password_hash, is_admin, created_at) \
             VALUES ($1, $2, $3, NOT EXISTS (SELECT 1 FROM users), $4) RETURNING {USER_COLUMNS}"
        ))
        .bind(username)
        .bind(email)
        .bind(password_hash)
        .bind(now_rfc3339())
        .fetch_one(&mut *tx)
        .await
        .map_err(store_error)?;
        tx.commit().await?;
        Ok(user_from_row(&row)?.public)
    }

    /// Finds a user by username or email (both case-insensitive).
    pub async fn find_login(&self, name_or_email: &str) -> Result<Option<UserRecord>, StoreError> {
        let sql = format!(
            "SELECT {USER_COLUMNS} FROM users WHERE lower(username) = lower($1) OR lower(email) = lower($1) \
             ORDER BY id LIMIT 1"
        );
        let row = sqlx::query(&sql).bind(name_or_email).fetch_optional(self.pool()).await?;
        row.map(|r| user_from_row(&r)).transpose().map_err(Into::into)
    }

    /// A user by username (case-insensitive; never by email).
    pub async fn user_by_username(&self, username: &str) -> Result<Option<UserRecord>, StoreError> {
        let sql = format!("SELECT {USER_COLUMNS} FROM users WHERE lower(username) = lower($1)");
        let row = sqlx::query(&sql).bind(username).fetch_optional(self.pool()).await?;
        row.map(|r| user_from_row(&r)).transpose().map_err(Into::into)
    }

    pub async fn user_by_id(&self, id: i64) -> Result<Option<UserRecord>, StoreError> {
        let sql = format!("SELECT {USER_COLUMNS} FROM users WHERE id = $1");
        let row = sqlx::query(&sql).bind(id).fetch_optional(self.pool()).await?;
        row.map(|r| user_from_row(&r)).transpose().map_err(Into::into)
    }

    /// A user by id, and whether `session` (if any) was logged out: what authenticating a
    /// request needs, in one query.
    pub async fn user_in_session(
        &self,
        id: i64,
        session: Option<&str>,
    ) -> Result<Option<(UserRecord, bool)>, StoreError> {
        let sql = format!(
            "SELECT {USER_COLUMNS}, EXISTS (SELECT 1 FROM revoked_sessions WHERE session_id = $2) AS revoked \
             FROM users WHERE id = $1"
        );
        let row = sqlx::query(&sql).bind(id).bind(session).fetch_optional(self.pool()).await?;
        row.map(|r| Ok((user_from_row(&r)?, r.try_get("revoked")?))).transpose().map_err(|e: sqlx::Error| e.into())
    }

    /// Sets or clears the admin role by username; false when no such user.
    pub async fn set_admin(&self, username: &str, is_admin: bool) -> Result<bool, StoreError> {
        let done = sqlx::query("UPDATE users SET is_admin = $2 WHERE lower(username) = lower($1)")
            .bind(username)
            .bind(is_admin)
            .execute(self.pool())
            .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Replaces a password hash and revokes the user's tokens; false when no such user.
    pub async fn set_password_hash(&self, username: &str, hash: &str) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "UPDATE users SET password_hash = $2, token_version = token_version + 1 WHERE lower(username) = lower($1)",
        )
        .bind(username)
        .bind(hash)
        .execute(self.pool())
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Blocks a user and revokes every token issued so far.
    pub async fn block_user(&self, id: i64) -> Result<bool, StoreError> {
        let done = sqlx::query(&format!("UPDATE users SET {BLOCK_AND_REVOKE} WHERE id = $1"))
            .bind(id)
            .execute(self.pool())
            .await?;
        Ok(done.rows_affected() == 1)
    }

    pub async fn setting(&self, key: &str) -> Result<Option<String>, StoreError> {
        let value = sqlx::query_scalar("SELECT value FROM settings WHERE key = $1")
            .bind(key)
            .fetch_optional(self.pool())
            .await?;
        Ok(value)
    }

    /// Stores `value` under `key` unless a value is already there; returns the value in force.
    pub async fn setting_or_insert(&self, key: &str, value: &str) -> Result<String, StoreError> {
        sqlx::query("INSERT INTO settings (key, value) VALUES ($1, $2) ON CONFLICT (key) DO NOTHING")
            .bind(key)
            .bind(value)
            .execute(self.pool())
            .await?;
        Ok(self.setting(key).await?.unwrap_or_else(|| value.to_owned()))
    }

    /// Stores `value` under `key`, replacing what was there.
    pub async fn set_setting(&self, key: &str, value: &str) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO settings (key, value) VALUES ($1, $2) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        )
        .bind(key)
        .bind(value)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// Forgets `key`; false when it was not set.
    pub async fn delete_setting(&self, key: &str) -> Result<bool, StoreError> {
        let done = sqlx::query("DELETE FROM settings WHERE key = $1").bind(key).execute(self.pool()).await?;
        Ok(done.rows_affected() == 1)
    }

    /// Counts a violation atomically: bumps the warning count, blocks at `max_warnings`
    /// (revoking tokens once, never twice), and logs it, in one transaction. The UPDATE reads
    /// the row it locks, so simultaneous violations count one after the other. Admins are
    /// counted and logged but never blocked by this rule. Returns the new count and whether the
    /// account is now blocked.
    pub async fn record_violation(
        &self,
        user_id: i64,
        rule: &str,
        content: &str,
        room_id: Option<i64>,
        max_warnings: i64,
        counts_since: Option<&str>,
    ) -> Result<(i64, bool), StoreError> {
        let mut tx = self.pool().begin().await?;
        // Locked first: the count below then sees every violation committed before this one.
        sqlx::query("SELECT 1 FROM users WHERE id = $1 FOR UPDATE").bind(user_id).execute(&mut *tx).await?;
        let row = sqlx::query(
            "UPDATE users SET \
               warning_count = (CASE WHEN $3 IS NULL THEN warning_count ELSE (SELECT COUNT(*) FROM moderation_log l \
                 WHERE l.user_id = users.id AND l.created_at >= $3 \
                   AND l.created_at > COALESCE(users.warnings_reset_at, '')) END) + 1, \
               token_version = CASE WHEN (CASE WHEN $3 IS NULL THEN warning_count ELSE (SELECT COUNT(*) FROM moderation_log l \
                 WHERE l.user_id = users.id AND l.created_at >= $3 \
                   AND l.created_at > COALESCE(users.warnings_reset_at, '')) END) + 1 >= $2 AND NOT is_blocked AND NOT is_admin \
                                    THEN token_version + 1 ELSE token_version END, \
               is_blocked = CASE WHEN (CASE WHEN $3 IS NULL THEN warning_count ELSE (SELECT COUNT(*) FROM moderation_log l \
                 WHERE l.user_id = users.id AND l.created_at >= $3 \
                   AND l.created_at > COALESCE(users.warnings_reset_at, '')) END) + 1 >= $2 AND NOT is_admin THEN TRUE ELSE is_blocked END \
             WHERE id = $1 RETURNING warning_count, is_blocked",
        )
        .bind(user_id)
        .bind(max_warnings)
        .bind(counts_since)
        .fetch_one(&mut *tx)
        .await?;
        let count: i64 = row.try_get("warning_count")?;
        let blocked: bool = row.try_get("is_blocked")?;
        sqlx::query(
            "INSERT INTO moderation_log (user_id, created_at, rule, content, warning_count, blocked, room_id) \
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(user_id)
        .bind(now_rfc3339())
        .bind(rule)
        .bind(content)
        .bind(count)
        .bind(blocked)
        .bind(room_id)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok((count, blocked))
    }
}
