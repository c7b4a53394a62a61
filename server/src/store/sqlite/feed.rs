//! The room-change feed on SQLite (`room_changes`, migration 0006): every change to a
//! conversation, its members and who ignores whom, numbered in commit order (one writer: the
//! AUTOINCREMENT numbers are gapless and commit-ordered). Each change writes its entry in its own
//! transaction on the writer connection ([`record`]) and, still holding that connection after the
//! commit, moves the store's feed head ([`SqliteStore::feed_committed`]); a message batch reads
//! the head on the same connection, so it names every change committed before it without a query.

use super::rows::feed_entry_from_row;
use super::SqliteStore;
use crate::store::{Change, FeedEntry, StoreError};
use std::sync::atomic::Ordering;

/// Appends `change` to the feed inside the transaction `tx`; its sequence number.
pub(super) async fn record(tx: &mut sqlx::SqliteConnection, change: Change) -> Result<i64, sqlx::Error> {
    record_detail(tx, change, None).await
}

/// Appends `change` with its `detail` (a reaction's emoji) to the feed inside `tx`.
pub(super) async fn record_detail(
    tx: &mut sqlx::SqliteConnection,
    change: Change,
    detail: Option<&str>,
) -> Result<i64, sqlx::Error> {
    let (kind, room, user, other) = change.columns();
    sqlx::query_scalar(
        "INSERT INTO room_changes (kind, room_id, user_id, other_id, detail) VALUES (?1, ?2, ?3, ?4, ?5) \
         RETURNING seq",
    )
    .bind(kind)
    .bind(room)
    .bind(user)
    .bind(other)
    .bind(detail)
    .fetch_one(tx)
    .await
}

impl SqliteStore {
    /// A change committed entry `seq`: called with the writer connection still held, so no
    /// message batch commits between the change and this.
    pub(super) fn feed_committed(&self, seq: i64) {
        self.feed_head.fetch_max(seq, Ordering::SeqCst);
    }

    /// The newest entry committed (read with the writer connection held).
    pub(super) fn feed_head(&self) -> i64 {
        self.feed_head.load(Ordering::SeqCst)
    }

    /// The sequence number of the newest room change (0 when there is none).
    pub async fn latest_room_change(&self) -> Result<i64, StoreError> {
        let seq: Option<i64> = sqlx::query_scalar("SELECT MAX(seq) FROM room_changes").fetch_one(self.reader()).await?;
        Ok(seq.unwrap_or(0))
    }

    /// Room changes after `seq`, oldest first, at most `limit`, with the usernames they name.
    pub async fn room_changes_after(&self, seq: i64, limit: i64) -> Result<Vec<FeedEntry>, StoreError> {
        let rows = sqlx::query(
            "SELECT c.seq, c.kind, c.room_id, c.user_id, c.other_id, c.detail, u.username AS user_name, \
                    o.username AS other_name \
             FROM room_changes c LEFT JOIN users u ON u.id = c.user_id LEFT JOIN users o ON o.id = c.other_id \
             WHERE c.seq > ?1 ORDER BY c.seq LIMIT ?2",
        )
        .bind(seq)
        .bind(limit)
        .fetch_all(self.reader())
        .await?;
        rows.iter().map(feed_entry_from_row).collect::<Result<_, _>>().map_err(Into::into)
    }

    /// Forgets room changes up to and including `seq`.
    pub async fn prune_room_changes(&self, seq: i64) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM room_changes WHERE seq <= ?1").bind(seq).execute(self.writer()).await?;
        Ok(())
    }
}
