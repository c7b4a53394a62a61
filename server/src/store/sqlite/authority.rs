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

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn blocks_revocations_and_role_changes_are_fed_whoever_makes_them() {
        let dir = tempfile::tempdir().unwrap();
        let store =
            SqliteStore::open(&format!("sqlite://{}", dir.path().join("a.db").display()), 1, "NORMAL").await.unwrap();
        let alice = store.create_user("alice", "a@x.io", "h").await.unwrap().id;
        let bob = store.create_user("bob", "b@x.io", "h").await.unwrap().id;
        let start = store.latest_account_change().await.unwrap();
        store.set_admin("bob", true).await.unwrap();
        store.set_password_hash("alice", "h2").await.unwrap();
        store.block_user(bob).await.unwrap();
        // Not a change of authority: nothing is fed.
        sqlx::query("UPDATE users SET warning_count = 1 WHERE id = ?1")
            .bind(alice)
            .execute(store.writer())
            .await
            .unwrap();
        let changes = store.account_changes_after(start, 100).await.unwrap();
        assert_eq!(changes.iter().map(|c| c.1).collect::<Vec<_>>(), vec![bob, alice, bob]);
        let last = changes.last().unwrap().0;
        assert_eq!(store.latest_account_change().await.unwrap(), last);
        store.prune_account_changes(last).await.unwrap();
        assert!(store.account_changes_after(start, 100).await.unwrap().is_empty());
    }
}
