//! The store: every read and write of the database, behind one interface with a backend per
//! database engine, chosen by the scheme of the database URL: `sqlite://` (the embedded default,
//! one server process per file) or `postgres://` / `postgresql://` (any number of servers sharing
//! one database).
//!
//! [`Store`] is an enum over the backends; each of its methods forwards to the backend's method of
//! the same name, so a backend missing one does not compile. Each backend keeps its own SQL and
//! migrations; what does not depend on the engine (the values in `types`, history bounded in
//! bytes) is written once here.
//!
//! A store is a cheap handle. The message writer and the feeds each take their own
//! ([`Store::for_writer`], [`Store::for_feeds`]): on PostgreSQL every query of such a handle runs
//! on connections of its own, so that slow reads, which fill the pool of requests, never hold up
//! a commit or a block (see `postgres`).

mod batch;
#[cfg(test)]
mod conformance;
mod history;
pub mod postgres;
mod review;
mod rows;
pub mod sqlite;
mod types;

pub use postgres::{PgSession, PgStore};
pub use review::CONTEXT_EACH_SIDE;
pub use sqlite::SqliteStore;
pub(crate) use types::{
    attach_reactions, attachments_from_json, complete_versions, past_window, room_kind, with_members,
    without_attachment, Budget,
};
pub use types::{
    now_rfc3339, search_columns, within_bytes, AccountDeleted, Change, Created, Deletion, Edit, FeedEntry, IgnoreAdded,
    Invited, Joined, NewMessage, OwnUploadDeletion, Reacting, Removal, Reported, Resolution, Review, ReviewFilter,
    ReviewRecord, RoomChange, RoomRecord, SearchRequest, Stored, StoredBatch, UploadRecord, UploadRemoval, UserRecord,
    View,
};

use app::models::{
    AdminMessage, AdminOverview, AdminRoom, ChatMessage, Invitation, Member, ModerationEntry, PublicUser, Room,
    RoomKind,
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

/// How a store connects: pool sizes and, on PostgreSQL, every session's timeouts.
#[derive(Debug, Clone)]
pub struct StoreOptions {
    /// Concurrent reads: SQLite's read pool; on PostgreSQL, the pool of requests (reads and the
    /// writes other than messages) has this many connections and [`postgres::OTHER_WRITES`] more.
    pub read_pool_size: u32,
    /// SQLite's `synchronous` pragma (PostgreSQL keeps its server's `synchronous_commit`).
    pub sqlite_synchronous: String,
    /// PostgreSQL's settings for each session (timeouts, keepalives).
    pub pg: PgSession,
}

impl StoreOptions {
    /// `read_pool_size` connections for reads, SQLite's `synchronous`, PostgreSQL's default sessions.
    pub fn new(read_pool_size: u32, sqlite_synchronous: &str) -> Self {
        Self { read_pool_size, sqlite_synchronous: sqlite_synchronous.to_owned(), pg: PgSession::default() }
    }
}

/// The database, whichever engine holds it.
#[derive(Clone)]
pub enum Store {
    Sqlite(SqliteStore),
    Postgres(PgStore),
}

impl Store {
    /// Opens the database `url` names (creating an SQLite file if needed) and runs that backend's
    /// migrations, connecting as `options` says.
    pub async fn open(url: &str, options: &StoreOptions) -> Result<Self, StoreError> {
        let store = if url.starts_with("sqlite:") {
            Self::Sqlite(SqliteStore::open(url, options.read_pool_size, &options.sqlite_synchronous).await?)
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Self::Postgres(PgStore::open(url, options.read_pool_size, options.pg).await?)
        } else {
            return Err(StoreError::UnsupportedUrl);
        };
        store.index_older_messages().await?;
        Ok(store)
    }

    /// Indexes for search the messages stored before search existed: the last step of the
    /// migration that added it (its folding is Rust's, `crate::search`, so SQL cannot do it).
    /// Nothing to do on a database created since.
    async fn index_older_messages(&self) -> Result<(), StoreError> {
        let mut indexed = 0;
        loop {
            let done = self.index_for_search(2_000).await?;
            if done == 0 {
                break;
            }
            indexed += done;
            if indexed % 100_000 < 2_000 {
                tracing::info!(indexed, "indexing older messages for search");
            }
        }
        if indexed > 0 {
            tracing::info!(indexed, "older messages indexed for search");
        }
        Ok(())
    }

    /// This store, for the message writer (its commits, gap reads and probes, and whatever else
    /// its task reads): on PostgreSQL, on the writer's own connections. On SQLite the same store
    /// (its single writer connection is the writer's already).
    pub fn for_writer(&self) -> Self {
        match self {
            Self::Sqlite(store) => Self::Sqlite(store.clone()),
            Self::Postgres(store) => Self::Postgres(store.lane(postgres::Lane::Writer)),
        }
    }

    /// This store, for the tasks following a feed (the account changes, the membership
    /// changes): on PostgreSQL, on the feeds' own connections. On SQLite the same store.
    pub fn for_feeds(&self) -> Self {
        match self {
            Self::Sqlite(store) => Self::Sqlite(store.clone()),
            Self::Postgres(store) => Self::Postgres(store.lane(postgres::Lane::Feeds)),
        }
    }

    /// The SQLite backend, for the tests that reach below the interface (its pragmas).
    #[doc(hidden)]
    pub fn as_sqlite(&self) -> Option<&SqliteStore> {
        match self {
            Self::Sqlite(store) => Some(store),
            Self::Postgres(_) => None,
        }
    }

    /// The PostgreSQL backend, for the tests that reach below the interface (its pools).
    #[doc(hidden)]
    pub fn as_postgres(&self) -> Option<&PgStore> {
        match self {
            Self::Postgres(store) => Some(store),
            Self::Sqlite(_) => None,
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
    /// A user by id, and whether `session` (if any) was logged out, in one read.
    fn user_in_session(&self, id: i64, session: Option<&str>) -> Option<(UserRecord, bool)>;
    /// Sets or clears the admin role by username; false when no such user.
    fn set_admin(&self, username: &str, is_admin: bool) -> bool;
    /// Replaces a password hash and revokes the user's tokens; false when no such user.
    fn set_password_hash(&self, username: &str, hash: &str) -> bool;
    /// Blocks a user and revokes every token issued so far.
    fn block_user(&self, id: i64) -> bool;
    fn setting(&self, key: &str) -> Option<String>;
    /// Stores `value` under `key` unless a value is already there; returns the value in force.
    fn setting_or_insert(&self, key: &str, value: &str) -> String;
    /// Stores `value` under `key`, replacing what was there.
    fn set_setting(&self, key: &str, value: &str) -> ();
    /// Forgets `key`; false when it was not set.
    fn delete_setting(&self, key: &str) -> bool;
    /// Counts a violation atomically, blocking at `max_warnings` (never an admin); the new count
    /// and whether the account is now blocked. With `counts_since` (strikes expire), the count
    /// is the violations since then (and since the last reset) plus this one.
    fn record_violation(
        &self,
        user_id: i64,
        rule: &str,
        content: &str,
        room_id: Option<i64>,
        max_warnings: i64,
        counts_since: Option<&str>
    ) -> (i64, bool);

    /// The newest `limit` messages of `view`, oldest first.
    fn latest_messages(&self, view: View, limit: i64) -> Vec<ChatMessage>;
    /// Messages of `view` with id > `since`, oldest first, at most `limit`; `true` when more remain.
    fn messages_since(&self, view: View, since: i64, limit: i64) -> (Vec<ChatMessage>, bool);
    /// Messages of `view` older than `before` (all when `None`), newest first, at most `limit`.
    fn messages_before(&self, view: View, before: Option<i64>, limit: i64) -> Vec<ChatMessage>;
    /// The newest message id of all (0 before the first).
    fn newest_message_id(&self) -> i64;

    fn room(&self, id: i64) -> Option<RoomRecord>;
    /// The conversations (other than `general`) `user` is in, each with its members' ids.
    fn conversations_of(&self, user: i64) -> Vec<(RoomRecord, Vec<i64>)>;
    /// The ids of `room`'s members.
    fn member_ids(&self, room: i64) -> Vec<i64>;
    /// The ids of the people `user` ignores.
    fn ignored_ids(&self, user: i64) -> Vec<i64>;
    fn room_for(&self, id: i64, viewer: i64) -> Option<Room>;
    fn rooms_of(&self, viewer: i64) -> Vec<Room>;
    /// A page of the public rooms that are not archived, in id order: those after `after`, at
    /// most `limit`, as `viewer` sees them.
    fn public_rooms(&self, viewer: i64, after: i64, limit: i64) -> Vec<Room>;
    /// A new public or private room owned (and joined) by `owner`, unless the owner is in
    /// `max_conversations` already or has created `max_owned` rooms (left or not).
    fn create_room(
        &self,
        owner: i64,
        kind: RoomKind,
        name: &str,
        topic: &str,
        max_conversations: i64,
        max_owned: i64
    ) -> Created;
    /// The DM of two people, created on first use: its id, and the feed entry when it is new.
    fn dm_between(&self, a: i64, b: i64) -> (i64, Option<i64>);
    /// Adds a member (refused past `max_conversations`, or when an admin removed them).
    fn add_member(&self, room: i64, user: i64, max_conversations: i64) -> Joined;
    /// Takes a member out (`removed`: by someone else); with `admin`, audited, and they stay out
    /// until an admin lifts it. The feed entry, or `None` when they were not a member.
    fn remove_member(&self, room: i64, user: i64, removed: bool, admin: Option<i64>) -> Option<i64>;
    fn is_member(&self, room: i64, user: i64) -> bool;
    fn members(&self, room: i64, after: Option<&str>, limit: i64) -> Vec<Member>;
    /// Changes a room; with `admin` (an admin who is not its owner), audited, and an archive
    /// sticks until an admin lifts it. The feed entry.
    fn update_room(&self, room: i64, change: &RoomChange, admin: Option<i64>) -> i64;
    fn mark_read(&self, room: i64, user: i64, last_read_id: i64) -> ();
    fn add_ignore(&self, user: i64, ignored: i64, max: i64) -> IgnoreAdded;
    fn ignores(&self, user: i64, ignored: i64) -> bool;
    /// The feed entry, or `None` when `user` did not ignore `ignored`.
    fn remove_ignore(&self, user: i64, ignored: i64) -> Option<i64>;
    fn ignored_usernames(&self, user: i64) -> Vec<String>;
    /// Whether an admin removed `user` from `room` (and has not lifted it).
    fn is_banned(&self, room: i64, user: i64) -> bool;
    /// The usernames an admin removed from `room`, by name.
    fn room_bans(&self, room: i64) -> Vec<String>;
    /// Lifts an admin's removal; false when there was none.
    fn lift_ban(&self, room: i64, user: i64) -> bool;
    /// Invites `user` to `room` (at most `max_pending` invitations waiting per invitee).
    fn invite(&self, room: i64, user: i64, inviter: i64, max_pending: i64) -> Invited;
    /// The invitations waiting for `user`'s answer, oldest first.
    fn invitations_of(&self, user: i64) -> Vec<Invitation>;
    fn has_invitation(&self, room: i64, user: i64) -> bool;
    /// Accepts an invitation: the membership, or `None` when no invitation was waiting.
    fn accept_invitation(&self, room: i64, user: i64, max_conversations: i64) -> Option<Joined>;
    /// Declines an invitation; false when none was waiting.
    fn decline_invitation(&self, room: i64, user: i64) -> bool;
    fn admin_rooms(&self, after: Option<i64>, limit: i64) -> Vec<AdminRoom>;
    fn admin_room(&self, id: i64) -> Option<AdminRoom>;

    /// The sequence number of the newest room change (0 when there is none).
    fn latest_room_change(&self) -> i64;
    /// Room changes after `seq`, oldest first, at most `limit`.
    fn room_changes_after(&self, seq: i64, limit: i64) -> Vec<FeedEntry>;
    /// Forgets room changes up to and including `seq`.
    fn prune_room_changes(&self, seq: i64) -> ();

    fn list_users(&self, blocked_only: bool, after: Option<i64>, limit: i64) -> Vec<PublicUser>;
    fn admin_messages(&self, before: Option<i64>, limit: i64) -> Vec<AdminMessage>;
    fn moderation_log(&self, before: Option<i64>, limit: i64) -> Vec<ModerationEntry>;
    /// Blocks or unblocks by an admin, with an audit entry; the user as it now is.
    fn set_blocked_by_admin(&self, admin_id: i64, user_id: i64, blocked: bool) -> Option<PublicUser>;
    fn unblock_by_username(&self, username: &str) -> bool;
    fn overview(&self) -> AdminOverview;
    fn users_after(&self, after: i64, limit: i64) -> Vec<PublicUser>;
    fn admin_messages_after(&self, after: i64, limit: i64) -> Vec<AdminMessage>;
    /// Removes a message for everyone (its text emptied, kept for admins), audited, with the
    /// feed entry that tells its members on every node.
    fn remove_message(&self, id: i64, admin: i64, reason: &str) -> Removal;
    /// A message by id, as members see it now.
    fn message_by_id(&self, id: i64) -> Option<ChatMessage>;
    /// Records a report (see [`Store::report_message`]); `context`: the JSON its item keeps.
    fn report_rows(
        &self,
        message: i64,
        reporter: i64,
        reason: &str,
        weight: f64,
        front_at: f64,
        context: &str
    ) -> Reported;
    /// Queues a stored message the classifier flagged (see [`Store::flag_message`]).
    fn queue_flagged(&self, message: i64, score: f64, context: &str) -> ();
    /// Holds a message for review (see [`Store::hold`]).
    fn hold_message(&self, message: &NewMessage, score: f64, context: &str) -> i64;
    /// Review items, their reports not attached (see [`Store::review_items`]).
    fn review_rows(&self, filter: ReviewFilter) -> Vec<ReviewRecord>;
    /// The reports of `messages`, oldest first: `(message id, report)`.
    fn reports_of(&self, messages: &[i64]) -> Vec<(i64, app::models::ReviewReport)>;
    /// Resolves an open item: `None` for an unknown one, `Some(false)` if resolved already.
    fn resolve_review(&self, id: i64, admin: i64, state: &str, reason: &str) -> Option<bool>;
    /// A held item was approved and delivered as `message`.
    fn link_review(&self, id: i64, message: i64) -> ();
    /// The review decisions made, oldest first: `(text as sent, judged abusive)`.
    fn review_decisions(&self) -> Vec<(String, bool)>;
    /// `user`'s violations, newest first, each saying whether it still counts.
    fn standing_history(&self, user: i64, counts_since: Option<&str>) -> Vec<app::models::StandingEntry>;
    /// The appeal of `user`'s present block, `(state, reason)`.
    fn current_appeal(&self, user: i64) -> Option<(String, Option<String>)>;
    /// Opens an appeal of `user`'s present block; `None` when it has one.
    fn create_appeal(&self, user: i64, text: &str) -> Option<i64>;
    /// Appeals in `state` (all with `None`), newest first, older than `before`.
    fn appeals(&self, state: Option<&str>, before: Option<i64>, limit: i64) -> Vec<app::models::Appeal>;
    /// Decides an open appeal (accepting unblocks); `None`: unknown, `Some(Err(()))`: decided already.
    fn decide_appeal(&self, id: i64, admin: i64, accept: bool, reason: &str) -> Option<Result<app::models::Appeal, ()>>;

    /// The members of `room` among `names` (lowercase usernames): `(id, username)` each.
    fn mention_targets(&self, room: i64, names: &[String]) -> Vec<(i64, String)>;
    /// A message as `viewer` sees it (their reactions), if they are in its conversation.
    fn message_for(&self, id: i64, viewer: i64) -> Option<ChatMessage>;
    /// Who reacted to a message with what: `(user id, emoji)`.
    fn reactors(&self, id: i64) -> Vec<(i64, String)>;
    /// How many reacted to a message with `emoji`.
    fn reaction_count(&self, id: i64, emoji: &str) -> i64;
    /// Edits a message as `editor` (the new text, its mentions), within `window_secs` of its
    /// sending (0: any time); every version kept.
    fn edit_message(&self, id: i64, editor: i64, edit: &NewMessage, window_secs: u64) -> Edit;
    /// Deletes a message for everyone as `actor` (its sender, or an admin anywhere).
    fn delete_message(&self, id: i64, actor: i64, admin: bool) -> Deletion;
    /// Adds (`add`) or takes back `user`'s reaction `emoji`; at most `max_distinct` emoji a message.
    fn react(&self, id: i64, user: i64, emoji: &str, add: bool, max_distinct: i64) -> Reacting;
    /// Every version of a message, oldest first (`None`: no such message).
    fn message_versions(&self, id: i64) -> Option<app::models::MessageVersions>;
    /// The messages `viewer` holds (ids up to `since`) changed after feed entry `changes`, in
    /// change order, at most `limit`; `true` when more remain.
    fn changes_since(&self, viewer: i64, changes: i64, since: i64, limit: i64) -> (Vec<ChatMessage>, bool);
    /// The newest feed entry that changed a message (0 when none has).
    fn latest_message_change(&self) -> i64;
    /// Searches, newest first.
    fn search(&self, request: &SearchRequest) -> Vec<ChatMessage>;
    /// Indexes for search up to `limit` messages older than search; how many (0: all done).
    fn index_for_search(&self, limit: i64) -> u64;

    /// Records a stored upload.
    fn create_upload(&self, upload: &UploadRecord) -> ();
    /// The bytes `user` has stored (their quota's use).
    fn upload_bytes_of(&self, user: i64) -> i64;
    fn upload(&self, id: &str) -> Option<UploadRecord>;
    /// Upload `id` if `viewer` may read it: its uploader, or a member of the conversation it
    /// was posted in.
    fn readable_upload(&self, id: &str, viewer: i64) -> Option<UploadRecord>;
    /// Claims `user`'s unposted uploads `ids` for a message under `claim` (uploads created
    /// before `fresh_after` have expired, claims made before `claims_after` are stale); those
    /// claimed.
    fn claim_uploads(
        &self,
        user: i64,
        ids: &[String],
        claim: &str,
        fresh_after: &str,
        claims_after: &str
    ) -> Vec<UploadRecord>;
    /// Gives back the uploads claimed under `claim` and not posted.
    fn release_claim(&self, claim: &str) -> ();
    /// Deletes upload `id` for its uploader `user` unless it is posted (or being posted).
    fn delete_own_upload(&self, id: &str, user: i64, claims_after: &str) -> OwnUploadDeletion;
    /// Removes upload `id` as `admin`, audited, taking it out of its message.
    fn remove_upload(&self, id: &str, admin: i64) -> Option<UploadRemoval>;
    /// Forgets up to `limit` unposted uploads created before `created_before`.
    fn take_expired_uploads(&self, created_before: &str, limit: i64) -> Vec<UploadRecord>;
    /// The accounts with uploads, most bytes first.
    fn upload_usage(&self, limit: i64) -> Vec<app::models::UploadUsage>;
    /// `user`'s uploads, newest first.
    fn uploads_of(&self, user: i64, limit: i64) -> Vec<app::models::AdminUpload>;

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

    /// Whether every migration of this build is applied (readiness).
    fn migrations_applied(&self) -> bool;
    /// Replaces user `id`'s password hash and revokes its tokens; the new token version.
    fn change_password(&self, id: i64, hash: &str) -> Option<i64>;
    /// User `id`'s messages after `after`, oldest first, at most `limit` (an export's pages).
    fn messages_by_sender(&self, id: i64, after: i64, limit: i64) -> Vec<ChatMessage>;
    /// The ids of user `id`'s messages after `after` that still show their text.
    fn standing_message_ids(&self, id: i64, after: i64, limit: i64) -> Vec<i64>;
    /// Forgets the earlier versions of user `id`'s deleted messages (an erased account).
    fn forget_versions_of(&self, id: i64) -> ();
    /// Deletes account `id` (renamed, unusable, audited; its old username retired until
    /// `username_free_at`), unless it is the only admin.
    fn delete_account(&self, id: i64, unusable_hash: &str, mode: &str, now: &str, username_free_at: &str) -> AccountDeleted;
    /// The audit log, newest first, below `before`.
    fn audit_page(&self, before: Option<i64>, limit: i64) -> Vec<app::models::AuditEntry>;
}
