//! The SQLite backend (the embedded default): connection pools, migrations, and every query on
//! accounts and settings; the other queries are in this folder's files, one concern each.
//!
//! One writer connection (SQLite allows one writer at a time anyway, so writes queue in the pool
//! instead of failing with "database is locked") and a pool of readers; WAL mode lets readers run
//! while the writer commits. Errors are `StoreError`; callers log them and answer "internal".

mod accounts;
mod actions;
mod admin;
mod authority;
pub mod backup;
mod feed;
mod messages;
mod rooms;
mod safety;
mod uploads;

/// The values read out of SQLite's rows.
mod rows {
    crate::store::rows::readers!(sqlx::sqlite::SqliteRow);
}

use crate::store::{now_rfc3339, StoreError, UserRecord};
use app::models::PublicUser;
use rows::user_from_row;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous};
use sqlx::Row;
use std::str::FromStr;
use std::time::Duration;

#[derive(Clone)]
pub struct SqliteStore {
    writer: SqlitePool,
    reader: SqlitePool,
    /// The newest room-change entry committed (see `feed`).
    feed_head: std::sync::Arc<std::sync::atomic::AtomicI64>,
}

/// The assignments that block a user. SET expressions read the old row, so the token version is
/// bumped (revoking every earlier token) only when the user was not blocked already.
pub(crate) const BLOCK_AND_REVOKE: &str = "is_blocked = 1, token_version = token_version + (1 - is_blocked)";

pub(crate) const USER_COLUMNS: &str =
    "id, username, email, password_hash, is_admin, is_blocked, warning_count, token_version, created_at";

impl SqliteStore {
    /// Opens (creating if needed) the database and runs the embedded migrations.
    pub async fn open(url: &str, read_pool_size: u32, synchronous: &str) -> Result<Self, StoreError> {
        let synchronous = SqliteSynchronous::from_str(synchronous).unwrap_or(SqliteSynchronous::Full);
        let options = SqliteConnectOptions::from_str(url)?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(synchronous)
            .busy_timeout(Duration::from_secs(5))
            .foreign_keys(true);
        // A connection to a local file cannot drop like a network one, and sqlx pings it on every
        // release anyway; a ping before every acquire too would cost each query another round
        // trip to the connection's worker thread.
        let writer = SqlitePoolOptions::new()
            .test_before_acquire(false)
            .max_connections(1)
            .min_connections(1)
            .acquire_timeout(Duration::from_secs(30))
            .connect_with(options.clone())
            .await?;
        accounts::MIGRATOR.run(&writer).await?;
        let reader = SqlitePoolOptions::new()
            .test_before_acquire(false)
            .max_connections(read_pool_size.max(1))
            .acquire_timeout(Duration::from_secs(30))
            .connect_with(options.read_only(true))
            .await?;
        let head: Option<i64> = sqlx::query_scalar("SELECT MAX(seq) FROM room_changes").fetch_one(&writer).await?;
        let feed_head = std::sync::Arc::new(std::sync::atomic::AtomicI64::new(head.unwrap_or(0)));
        Ok(Self { writer, reader, feed_head })
    }

    pub fn writer(&self) -> &SqlitePool {
        &self.writer
    }

    pub fn reader(&self) -> &SqlitePool {
        &self.reader
    }

    /// Creates a user; the first user of an empty database becomes admin (decided inside the
    /// insert, so two simultaneous first registrations cannot both win). A taken username or
    /// email inserts nothing; which one it was is then read on the single writer, where no other
    /// write can come between (SQLite names no constraint in its errors).
    pub async fn create_user(
        &self,
        username: &str,
        email: &str,
        password_hash: &str,
    ) -> Result<PublicUser, StoreError> {
        // A deleted account's username stays taken until its `username_free_at`.
        let row = sqlx::query(&format!(
            "INSERT INTO users (username, email, password_hash, is_admin, created_at) \
             SELECT ?1, ?2, ?3, NOT EXISTS (SELECT 1 FROM users), ?4 \
             WHERE NOT EXISTS (SELECT 1 FROM users WHERE retired_username = ?1 AND username_free_at > ?4) \
             ON CONFLICT DO NOTHING RETURNING {USER_COLUMNS}"
        ))
        .bind(username)
        .bind(email)
        .bind(password_hash)
        .bind(now_rfc3339())
        .fetch_optional(&self.writer)
        .await?;
        if let Some(row) = row {
            return Ok(user_from_row(&row)?.public);
        }
        let username_taken: bool = sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM users WHERE username = ?1)")
            .bind(username)
            .fetch_one(&self.writer)
            .await?
            || Self::username_retired(&self.writer, username, &now_rfc3339()).await?;
        Err(if username_taken { StoreError::DuplicateUsername } else { StoreError::DuplicateEmail })
    }

    /// Finds a user by username or email (both case-insensitive).
    pub async fn find_login(&self, name_or_email: &str) -> Result<Option<UserRecord>, StoreError> {
        let sql = format!("SELECT {USER_COLUMNS} FROM users WHERE username = ?1 OR email = ?1 LIMIT 1");
        let row = sqlx::query(&sql).bind(name_or_email).fetch_optional(&self.reader).await?;
        row.map(|r| user_from_row(&r)).transpose().map_err(Into::into)
    }

    /// A user by username (case-insensitive; never by email).
    pub async fn user_by_username(&self, username: &str) -> Result<Option<UserRecord>, StoreError> {
        let sql = format!("SELECT {USER_COLUMNS} FROM users WHERE username = ?1");
        let row = sqlx::query(&sql).bind(username).fetch_optional(&self.reader).await?;
        row.map(|r| user_from_row(&r)).transpose().map_err(Into::into)
    }

    pub async fn user_by_id(&self, id: i64) -> Result<Option<UserRecord>, StoreError> {
        let sql = format!("SELECT {USER_COLUMNS} FROM users WHERE id = ?1");
        let row = sqlx::query(&sql).bind(id).fetch_optional(&self.reader).await?;
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
            "SELECT {USER_COLUMNS}, EXISTS (SELECT 1 FROM revoked_sessions WHERE session_id = ?2) AS revoked \
             FROM users WHERE id = ?1"
        );
        let row = sqlx::query(&sql).bind(id).bind(session).fetch_optional(&self.reader).await?;
        row.map(|r| Ok((user_from_row(&r)?, r.try_get("revoked")?))).transpose().map_err(|e: sqlx::Error| e.into())
    }

    /// Sets or clears the admin role by username; false when no such user.
    pub async fn set_admin(&self, username: &str, is_admin: bool) -> Result<bool, StoreError> {
        let done = sqlx::query("UPDATE users SET is_admin = ?2 WHERE username = ?1")
            .bind(username)
            .bind(is_admin)
            .execute(&self.writer)
            .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Replaces a password hash and revokes the user's tokens; false when no such user.
    pub async fn set_password_hash(&self, username: &str, hash: &str) -> Result<bool, StoreError> {
        let done =
            sqlx::query("UPDATE users SET password_hash = ?2, token_version = token_version + 1 WHERE username = ?1")
                .bind(username)
                .bind(hash)
                .execute(&self.writer)
                .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Blocks a user and revokes every token issued so far.
    pub async fn block_user(&self, id: i64) -> Result<bool, StoreError> {
        let done = sqlx::query(&format!("UPDATE users SET {BLOCK_AND_REVOKE} WHERE id = ?1"))
            .bind(id)
            .execute(&self.writer)
            .await?;
        Ok(done.rows_affected() == 1)
    }

    pub async fn setting(&self, key: &str) -> Result<Option<String>, StoreError> {
        let value = sqlx::query_scalar("SELECT value FROM settings WHERE key = ?1")
            .bind(key)
            .fetch_optional(&self.writer)
            .await?;
        Ok(value)
    }

    /// Stores `value` under `key` unless a value is already there; returns the value in force.
    pub async fn setting_or_insert(&self, key: &str, value: &str) -> Result<String, StoreError> {
        sqlx::query("INSERT INTO settings (key, value) VALUES (?1, ?2) ON CONFLICT (key) DO NOTHING")
            .bind(key)
            .bind(value)
            .execute(&self.writer)
            .await?;
        Ok(self.setting(key).await?.unwrap_or_else(|| value.to_owned()))
    }

    /// Stores `value` under `key`, replacing what was there.
    pub async fn set_setting(&self, key: &str, value: &str) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO settings (key, value) VALUES (?1, ?2) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        )
        .bind(key)
        .bind(value)
        .execute(&self.writer)
        .await?;
        Ok(())
    }

    /// Forgets `key`; false when it was not set.
    pub async fn delete_setting(&self, key: &str) -> Result<bool, StoreError> {
        let done = sqlx::query("DELETE FROM settings WHERE key = ?1").bind(key).execute(&self.writer).await?;
        Ok(done.rows_affected() == 1)
    }
}

impl SqliteStore {
    /// Counts a violation atomically (one statement on the single writer): bumps the warning
    /// count, blocks at `max_warnings` (revoking tokens once, never twice), and logs it.
    /// Admins are counted and logged but never blocked by this rule (a lone admin must not be
    /// able to lock everyone out of the console). Returns the new count and whether the account
    /// is now blocked.
    pub async fn record_violation(
        &self,
        user_id: i64,
        rule: &str,
        content: &str,
        room_id: Option<i64>,
        max_warnings: i64,
        counts_since: Option<&str>,
    ) -> Result<(i64, bool), StoreError> {
        let mut tx = self.writer().begin().await?;
        let row = sqlx::query(
            "UPDATE users SET \
               warning_count = (CASE WHEN ?3 IS NULL THEN warning_count ELSE (SELECT COUNT(*) FROM moderation_log l \
                 WHERE l.user_id = users.id AND l.created_at >= ?3 \
                   AND l.created_at > COALESCE(users.warnings_reset_at, '')) END) + 1, \
               token_version = CASE WHEN (CASE WHEN ?3 IS NULL THEN warning_count ELSE (SELECT COUNT(*) FROM moderation_log l \
                 WHERE l.user_id = users.id AND l.created_at >= ?3 \
                   AND l.created_at > COALESCE(users.warnings_reset_at, '')) END) + 1 >= ?2 AND is_blocked = 0 AND is_admin = 0 \
                                    THEN token_version + 1 ELSE token_version END, \
               is_blocked = CASE WHEN (CASE WHEN ?3 IS NULL THEN warning_count ELSE (SELECT COUNT(*) FROM moderation_log l \
                 WHERE l.user_id = users.id AND l.created_at >= ?3 \
                   AND l.created_at > COALESCE(users.warnings_reset_at, '')) END) + 1 >= ?2 AND is_admin = 0 THEN 1 ELSE is_blocked END \
             WHERE id = ?1 RETURNING warning_count, is_blocked",
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
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
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
