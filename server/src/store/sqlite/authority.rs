//! The account-change feed (`account_changes`, filled by a trigger on `users`): which accounts
//! had their block state, token version or role changed, in commit order, whoever changed them.

use super::SqliteStore;
use crate::store::StoreError;

impl SqliteStore {
    /// The sequence number of the newest change (0 when there is none).
    pub async fn latest_account_change(&self) -> Result<i64, StoreError> {
        let seq: Option<i64> =
            sqlx::query_scalar("SELECT MAX(seq) FROM account_changes").fetch_one(self.reader()).await?;
        Ok(seq.unwrap_or(0))
    }

    /// Changes after `seq`, oldest first, at most `limit`: `(seq, user_id)`.
    pub async fn account_changes_after(&self, seq: i64, limit: i64) -> Result<Vec<(i64, i64)>, StoreError> {
        let rows = sqlx::query_as("SELECT seq, user_id FROM account_changes WHERE seq > ?1 ORDER BY seq LIMIT ?2")
            .bind(seq)
            .bind(limit)
            .fetch_all(self.reader())
            .await?;
        Ok(rows)
    }

    /// Forgets changes up to and including `seq` (they have been acted on).
    pub async fn prune_account_changes(&self, seq: i64) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM account_changes WHERE seq <= ?1").bind(seq).execute(self.writer()).await?;
        Ok(())
    }
}
