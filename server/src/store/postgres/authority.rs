//! The account-change feed (`account_changes`, filled by a trigger on `users`): which accounts
//! had their block state, token version or role changed, in commit order, whoever changed them.
//! The trigger numbers them from the `account_changes` counter row, whose lock it holds to the
//! commit: sequence numbers are gapless and become visible in order, whichever server wrote them.
//! Read on the feeds' connections (`feed_pool`), so that following it never waits behind requests.

use super::PgStore;
use crate::store::StoreError;

impl PgStore {
    /// The sequence number of the newest change (0 when there is none).
    pub async fn latest_account_change(&self) -> Result<i64, StoreError> {
        let seq: Option<i64> =
            sqlx::query_scalar("SELECT MAX(seq) FROM account_changes").fetch_one(self.feed_pool()).await?;
        Ok(seq.unwrap_or(0))
    }

    /// Changes after `seq`, oldest first, at most `limit`: `(seq, user_id)`.
    pub async fn account_changes_after(&self, seq: i64, limit: i64) -> Result<Vec<(i64, i64)>, StoreError> {
        let rows = sqlx::query_as("SELECT seq, user_id FROM account_changes WHERE seq > $1 ORDER BY seq LIMIT $2")
            .bind(seq)
            .bind(limit)
            .fetch_all(self.feed_pool())
            .await?;
        Ok(rows)
    }

    /// Forgets changes up to and including `seq` (they have been acted on).
    pub async fn prune_account_changes(&self, seq: i64) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM account_changes WHERE seq <= $1").bind(seq).execute(self.feed_pool()).await?;
        Ok(())
    }
}
