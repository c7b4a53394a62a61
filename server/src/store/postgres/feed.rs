//! The room-change feed on PostgreSQL (`room_changes`, migration 0003): every change to a
//! conversation, its members and who ignores whom. An entry is numbered from the `room_changes`
//! counter row, whose lock its transaction holds to the commit, so numbers are gapless and become
//! visible in commit order whichever node wrote them. Before that, [`record`] takes the `messages`
//! counter's lock: a change and a message batch are always ordered, and the batch's INSERT reads
//! the newest entry committed before it (`messages.rs`).

use super::rows::feed_entry_from_row;
use super::PgStore;
use crate::store::{Change, FeedEntry, StoreError};
use sqlx::postgres::PgConnection;

/// Appends `change` to the feed inside the transaction `tx`; its sequence number.
pub(super) async fn record(tx: &mut PgConnection, change: Change) -> Result<i64, sqlx::Error> {
    record_detail(tx, change, None).await
}

/// Appends `change` with its `detail` (a reaction's emoji) to the feed inside `tx`.
pub(super) async fn record_detail(
    tx: &mut PgConnection,
    change: Change,
    detail: Option<&str>,
) -> Result<i64, sqlx::Error> {
    sqlx::query("SELECT 1 FROM counters WHERE name = 'messages' FOR UPDATE").execute(&mut *tx).await?;
    let (kind, room, user, other) = change.columns();
    sqlx::query_scalar(
        "WITH n AS (UPDATE counters SET value = value + 1 WHERE name = 'room_changes' RETURNING value) \
         INSERT INTO room_changes (seq, kind, room_id, user_id, other_id, detail) SELECT value, $1, $2, $3, $4, $5 \
         FROM n RETURNING seq",
    )
    .bind(kind)
    .bind(room)
    .bind(user)
    .bind(other)
    .bind(detail)
    .fetch_one(tx)
    .await
}

impl PgStore {
    /// The sequence number of the newest room change (0 when there is none).
    pub async fn latest_room_change(&self) -> Result<i64, StoreError> {
        let seq: i64 =
            sqlx::query_scalar("SELECT value FROM counters WHERE name = 'room_changes'").fetch_one(self.pool()).await?;
        Ok(seq)
    }

    /// Room changes after `seq`, oldest first, at most `limit`, with the usernames they name.
    pub async fn room_changes_after(&self, seq: i64, limit: i64) -> Result<Vec<FeedEntry>, StoreError> {
        let rows = sqlx::query(
            "SELECT c.seq, c.kind, c.room_id, c.user_id, c.other_id, c.detail, u.username AS user_name, \
                    o.username AS other_name \
             FROM room_changes c LEFT JOIN users u ON u.id = c.user_id LEFT JOIN users o ON o.id = c.other_id \
             WHERE c.seq > $1 ORDER BY c.seq LIMIT $2",
        )
        .bind(seq)
        .bind(limit)
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(feed_entry_from_row).collect::<Result<_, _>>().map_err(Into::into)
    }

    /// Forgets room changes up to and including `seq`.
    pub async fn prune_room_changes(&self, seq: i64) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM room_changes WHERE seq <= $1").bind(seq).execute(self.pool()).await?;
        Ok(())
    }
}
