//! The store: every read and write of the database, behind one interface with a backend per
//! database engine, chosen by the scheme of the database URL: `sqlite://` (the embedded default,
//! one server process per file) or `postgres://` / `postgresql://` (any number of servers sharing
//! one database).
//!
//! [`Store`] is an enum over the backends; each of its methods forwards to the backend's method of
//! the same name, so a backend missing one does not compile. Each backend keeps its own SQL and
//! migrations; what does not depend on the engine (the values in `types`, history bounded in
//! bytes) is written once here.

mod batch;
#[cfg(test)]
mod conformance;
mod history;
pub mod postgres;
mod rows;
pub mod sqlite;
mod types;

pub use postgres::PgStore;
pub use sqlite::SqliteStore;
pub use types::{now_rfc3339, within_bytes, Joined, NewMessage, RoomChange, RoomRecord, Stored, UserRecord, View};
pub(crate) use types::{room_kind, Budget};

use app::models::{
    AdminMessage, AdminOverview, AdminRoom, ChatMessage, Member, ModerationEntry, PublicUser, Room, RoomKind,
};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("username already exists")]
    DuplicateUsername,
    #[error("email already exists")]
    DuplicateEmail,
    #[error("room name already exists")]
    DuplicateRoomName,
    #[error("unsupported database URL (expected sqlite://..., postgres://... or postgresql://...)")]
    UnsupportedUrl,
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    #[error("migration error: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
}

/// The database, whichever engine holds it.
#[derive(Clone)]
pub enum Store {
    Sqlite(SqliteStore),
    Postgres(PgStore),
}

impl Store {
    /// Opens the database `url` names (creating an SQLite file if needed) and runs that backend's
    /// migrations. `read_pool_size` bounds the concurrent reads; `sqlite_synchronous` is SQLite's
    /// `synchronous` pragma (PostgreSQL keeps its server's `synchronous_commit`, on by default).
    pub async fn open(url: &str, read_pool_size: u32, sqlite_synchronous: &str) -> Result<Self, StoreError> {
        if url.starts_with("sqlite:") {
            return Ok(Self::Sqlite(SqliteStore::open(url, read_pool_size, sqlite_synchronous).await?));
        }
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            return Ok(Self::Postgres(PgStore::open(url, read_pool_size).await?));
        }
        Err(StoreError::UnsupportedUrl)
    }

    /// The SQLite backend, for the tests that reach below the interface (its pragmas).
    #[doc(hidden)]
    pub fn as_sqlite(&self) -> Option<&SqliteStore> {
        match self {
            Self::Sqlite(store) => Some(store),
            Self::Postgres(_) => None,
        }
    }
}

/// Writes `impl Store` with one method per signature, each forwarding to the backend.
macro_rules! forward {
    ($( $(#[$doc:meta])* fn $name:ident(&self $(, $arg:ident : $ty:ty)*) -> $ret:ty; )*) => {
        impl Store {
            $(
                $(#[$doc])*
                pub async fn $name(&self $(, $arg: $ty)*) -> Result<$ret, StoreError> {
                    match self {
                        Self::Sqlite(store) => store.$name($($arg),*).await,
                        Self::Postgres(store) => store.$name($($arg),*).await,
                    }
                }
            )*
        }
    };
}

forward! {
    /// Creates a user; the first user of an empty database becomes admin.
    fn create_user(&self, username: &str, email: &str, password_hash: &str) -> PublicUser;
    /// A user by username or email (both case-insensitive).
    fn find_login(&self, name_or_email: &str) -> Option<UserRecord>;
    /// A user by username (case-insensitive; never by email).
    fn user_by_username(&self, username: &str) -> Option<UserRecord>;
    fn user_by_id(&self, id: i64) -> Option<UserRecord>;
    /// Sets or clears the admin role by username; false when no such user.
    fn set_admin(&self, username: &str, is_admin: bool) -> bool;
    /// Replaces a password hash and revokes the user's tokens; false when no such user.
    fn set_password_hash(&self, username: &str, hash: &str) -> bool;
    /// Blocks a user and revokes every token issued so far.
    fn block_user(&self, id: i64) -> bool;
    fn setting(&self, key: &str) -> Option<String>;
    /// Stores `value` under `key` unless a value is already there; returns the value in force.
    fn setting_or_insert(&self, key: &str, value: &str) -> String;
    /// Counts a violation atomically, blocking at `max_warnings` (never an admin); the new count
    /// and whether the account is now blocked.
    fn record_violation(&self, user_id: i64, rule: &str, content: &str, max_warnings: i64) -> (i64, bool);

    /// The newest `limit` messages of `view`, oldest first.
    fn latest_messages(&self, view: View, limit: i64) -> Vec<ChatMessage>;
    /// Messages of `view` with id > `since`, oldest first, at most `limit`; `true` when more remain.
    fn messages_since(&self, view: View, since: i64, limit: i64) -> (Vec<ChatMessage>, bool);
    /// Messages of `view` older than `before` (all when `None`), newest first, at most `limit`.
    fn messages_before(&self, view: View, before: Option<i64>, limit: i64) -> Vec<ChatMessage>;
    /// The newest message id of all (0 before the first).
    fn newest_message_id(&self) -> i64;

    fn room(&self, id: i64) -> Option<RoomRecord>;
    fn all_rooms(&self) -> Vec<RoomRecord>;
    /// Every membership as `(room_id, user_id)`.
    fn all_memberships(&self) -> Vec<(i64, i64)>;
    /// Every ignore as `(user_id, ignored_id)`.
    fn all_ignores(&self) -> Vec<(i64, i64)>;
    fn room_for(&self, id: i64, viewer: i64) -> Option<Room>;
    fn rooms_of(&self, viewer: i64) -> Vec<Room>;
    fn public_rooms(&self, viewer: i64) -> Vec<Room>;
    /// A new public or private room owned (and joined) by `owner`; `None` when the owner is in
    /// `max_conversations` already.
    fn create_room(&self, owner: i64, kind: RoomKind, name: &str, topic: &str, max_conversations: i64) -> Option<i64>;
    /// The DM of two people, created on first use: its id and whether it is new.
    fn dm_between(&self, a: i64, b: i64) -> (i64, bool);
    fn add_member(&self, room: i64, user: i64, max_conversations: i64) -> Joined;
    fn remove_member(&self, room: i64, user: i64, admin: Option<i64>) -> bool;
    fn is_member(&self, room: i64, user: i64) -> bool;
    fn members(&self, room: i64, after: Option<&str>, limit: i64) -> Vec<Member>;
    fn update_room(&self, room: i64, change: &RoomChange, admin: Option<i64>) -> ();
    fn mark_read(&self, room: i64, user: i64, last_read_id: i64) -> ();
    fn add_ignore(&self, user: i64, ignored: i64, max: i64) -> bool;
    fn ignores(&self, user: i64, ignored: i64) -> bool;
    fn remove_ignore(&self, user: i64, ignored: i64) -> ();
    fn ignored_usernames(&self, user: i64) -> Vec<String>;
    fn admin_rooms(&self, after: Option<i64>, limit: i64) -> Vec<AdminRoom>;
    fn admin_room(&self, id: i64) -> Option<AdminRoom>;

    fn list_users(&self, blocked_only: bool, after: Option<i64>, limit: i64) -> Vec<PublicUser>;
    fn admin_messages(&self, before: Option<i64>, limit: i64) -> Vec<AdminMessage>;
    fn moderation_log(&self, before: Option<i64>, limit: i64) -> Vec<ModerationEntry>;
    /// Blocks or unblocks by an admin, with an audit entry; the user as it now is.
    fn set_blocked_by_admin(&self, admin_id: i64, user_id: i64, blocked: bool) -> Option<PublicUser>;
    fn unblock_by_username(&self, username: &str) -> bool;
    fn overview(&self) -> AdminOverview;
    fn users_after(&self, after: i64, limit: i64) -> Vec<PublicUser>;
    fn admin_messages_after(&self, after: i64, limit: i64) -> Vec<AdminMessage>;

    /// The sequence number of the newest account change (0 when there is none).
    fn latest_account_change(&self) -> i64;
    /// Account changes after `seq`, oldest first, at most `limit`: `(seq, user_id)`.
    fn account_changes_after(&self, seq: i64, limit: i64) -> Vec<(i64, i64)>;
    /// Forgets account changes up to and including `seq`.
    fn prune_account_changes(&self, seq: i64) -> ();

    /// Revokes a session (a logout) until `expires_at` (Unix seconds), feeding the change to
    /// `account_changes`; false when it already was.
    fn revoke_session(&self, session_id: &str, user_id: i64, expires_at: i64) -> bool;
    /// Whether a session was revoked.
    fn session_revoked(&self, session_id: &str) -> bool;
    /// Forgets the revoked sessions that expired by `now` (Unix seconds); how many.
    fn prune_revoked_sessions(&self, now: i64) -> u64;
}
