//! The account-change feed (`account_changes`, filled by triggers on `users` and
//! `revoked_sessions`): which accounts had their block state, token version or role changed, or
//! a session revoked, in commit order, whoever changed them; and the revoked sessions themselves.
//! The triggers number them from the `account_changes` counter row, whose lock it holds to the
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

    /// Revokes the session `session_id` of `user_id` until `expires_at` (Unix seconds: when no
    /// token of it can be valid any more); a trigger feeds the change. False when it already was.
    pub async fn revoke_session(&self, session_id: &str, user_id: i64, expires_at: i64) -> Result<bool, StoreError> {
        let inserted = sqlx::query(
            "INSERT INTO revoked_sessions (session_id, user_id, expires_at) VALUES ($1, $2, $3) \
             ON CONFLICT (session_id) DO NOTHING",
        )
        .bind(session_id)
        .bind(user_id)
        .bind(expires_at)
        .execute(self.pool())
        .await?;
        Ok(inserted.rows_affected() == 1)
    }

    /// Whether the session `session_id` was revoked (and not yet pruned).
    pub async fn session_revoked(&self, session_id: &str) -> Result<bool, StoreError> {
        let found: Option<i64> = sqlx::query_scalar("SELECT user_id FROM revoked_sessions WHERE session_id = $1")
            .bind(session_id)
            .fetch_optional(self.pool())
            .await?;
        Ok(found.is_some())
    }

    /// Forgets the revoked sessions whose tokens have all expired by `now` (Unix seconds); how
    /// many.
    pub async fn prune_revoked_sessions(&self, now: i64) -> Result<u64, StoreError> {
        let pruned =
            sqlx::query("DELETE FROM revoked_sessions WHERE expires_at <= $1").bind(now).execute(self.pool()).await?;
        Ok(pruned.rows_affected())
    }
}
