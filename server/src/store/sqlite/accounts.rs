//! Accounts their owners control: a password change, the pages of an export, a deletion; the
//! audit log as admins read it; and whether every migration of this build is applied (for
//! readiness).

use super::messages::SELECT_MESSAGE;
use super::rows::message_from_row;
use super::SqliteStore;
use crate::store::{AccountDeleted, StoreError};
use app::models::{AuditEntry, ChatMessage};
use sqlx::Row;

/// This build's migrations (the same set `open` runs).
pub(super) static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");

impl SqliteStore {
    /// Whether every migration of this build is applied, and the database answers.
    pub async fn migrations_applied(&self) -> Result<bool, StoreError> {
        let applied: Vec<i64> = sqlx::query_scalar("SELECT version FROM _sqlx_migrations WHERE success = 1")
            .fetch_all(self.reader())
            .await?;
        Ok(MIGRATOR.iter().all(|migration| applied.contains(&migration.version)))
    }

    /// Replaces user `id`'s password hash and revokes every token it has (every session and
    /// socket ends, on every node, through the account-change feed); the new token version, or
    /// `None` when there is no such account.
    pub async fn change_password(&self, id: i64, hash: &str) -> Result<Option<i64>, StoreError> {
        let version = sqlx::query_scalar(
            "UPDATE users SET password_hash = ?2, token_version = token_version + 1 \
             WHERE id = ?1 AND deleted_at IS NULL RETURNING token_version",
        )
        .bind(id)
        .bind(hash)
        .fetch_optional(self.writer())
        .await?;
        Ok(version)
    }

    /// User `id`'s messages with an id above `after`, oldest first, at most `limit`, as their
    /// conversations show them (deleted and removed ones without their text).
    pub async fn messages_by_sender(&self, id: i64, after: i64, limit: i64) -> Result<Vec<ChatMessage>, StoreError> {
        let sql = format!("{} WHERE m.sender_id = ?1 AND m.id > ?2 ORDER BY m.id LIMIT ?3", *SELECT_MESSAGE);
        let rows = sqlx::query(&sql).bind(id).bind(after).bind(limit).fetch_all(self.reader()).await?;
        let mut messages = rows.iter().map(message_from_row).collect::<Result<Vec<_>, _>>()?;
        self.attach_reactions(&mut messages, Some(id)).await?;
        Ok(messages)
    }

    /// The ids of user `id`'s messages that still show their text (not deleted nor removed).
    pub async fn standing_message_ids(&self, id: i64, after: i64, limit: i64) -> Result<Vec<i64>, StoreError> {
        let ids = sqlx::query_scalar(
            "SELECT id FROM messages WHERE sender_id = ?1 AND id > ?2 AND NOT deleted AND NOT removed \
             ORDER BY id LIMIT ?3",
        )
        .bind(id)
        .bind(after)
        .bind(limit)
        .fetch_all(self.reader())
        .await?;
        Ok(ids)
    }

    /// Forgets the earlier versions (texts) of user `id`'s deleted messages: an erased account
    /// keeps no text of its own but what the moderation log must keep.
    pub async fn forget_versions_of(&self, id: i64) -> Result<(), StoreError> {
        sqlx::query(
            "DELETE FROM message_versions WHERE message_id IN \
               (SELECT id FROM messages WHERE sender_id = ?1 AND deleted)",
        )
        .bind(id)
        .execute(self.writer())
        .await?;
        Ok(())
    }

    /// Deletes account `id` in one transaction (see the migration): renamed `deleted user ID`,
    /// its email and password replaced (`unusable_hash` verifies no password anyone knows), no
    /// longer admin, its tokens revoked, its ignores and pending invitations gone, its old
    /// username retired until `username_free_at`, and the deletion in the audit log (`mode`
    /// as its reason). The only admin cannot: [`AccountDeleted::OnlyAdmin`].
    pub async fn delete_account(
        &self,
        id: i64,
        unusable_hash: &str,
        mode: &str,
        now: &str,
        username_free_at: &str,
    ) -> Result<AccountDeleted, StoreError> {
        let mut tx = self.writer().begin().await?;
        let row = sqlx::query("SELECT username, is_admin FROM users WHERE id = ?1 AND deleted_at IS NULL")
            .bind(id)
            .fetch_optional(&mut *tx)
            .await?;
        let Some(row) = row else { return Ok(AccountDeleted::NotFound) };
        let username: String = row.try_get("username")?;
        if row.try_get::<bool, _>("is_admin")? {
            let others: i64 =
                sqlx::query_scalar("SELECT COUNT(*) FROM users WHERE is_admin AND deleted_at IS NULL AND id != ?1")
                    .bind(id)
                    .fetch_one(&mut *tx)
                    .await?;
            if others == 0 {
                return Ok(AccountDeleted::OnlyAdmin);
            }
        }
        sqlx::query(
            "UPDATE users SET retired_username = username, username = 'deleted user ' || id, \
               email = 'deleted-' || id || '@deleted.invalid', password_hash = ?2, is_admin = 0, \
               token_version = token_version + 1, deleted_at = ?3, username_free_at = ?4 \
             WHERE id = ?1",
        )
        .bind(id)
        .bind(unusable_hash)
        .bind(now)
        .bind(username_free_at)
        .execute(&mut *tx)
        .await?;
        sqlx::query("DELETE FROM ignores WHERE user_id = ?1").bind(id).execute(&mut *tx).await?;
        sqlx::query("DELETE FROM room_invitations WHERE user_id = ?1").bind(id).execute(&mut *tx).await?;
        sqlx::query(
            "INSERT INTO audit_log (admin_id, action, target_user_id, created_at, reason) \
             VALUES (?1, 'delete_account', ?1, ?2, ?3)",
        )
        .bind(id)
        .bind(now)
        .bind(format!("{username} ({mode})"))
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(AccountDeleted::Deleted { username })
    }

    /// Whether `username` is the retired name of a deleted account until after `now`.
    pub(super) async fn username_retired(
        executor: impl sqlx::SqliteExecutor<'_>,
        username: &str,
        now: &str,
    ) -> Result<bool, sqlx::Error> {
        sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM users WHERE retired_username = ?1 AND username_free_at > ?2)")
            .bind(username)
            .bind(now)
            .fetch_one(executor)
            .await
    }

    /// The audit log, newest first: entries with an id below `before`, at most `limit`.
    pub async fn audit_page(&self, before: Option<i64>, limit: i64) -> Result<Vec<AuditEntry>, StoreError> {
        let rows = sqlx::query(
            "SELECT a.id, a.admin_id, actor.username AS actor, a.action, a.target_user_id, \
               target.username AS target, a.room_id, a.message_id, a.reason, a.created_at \
             FROM audit_log a JOIN users actor ON actor.id = a.admin_id \
               LEFT JOIN users target ON target.id = a.target_user_id \
             WHERE a.id < ?1 ORDER BY a.id DESC LIMIT ?2",
        )
        .bind(before.unwrap_or(i64::MAX))
        .bind(limit)
        .fetch_all(self.reader())
        .await?;
        rows.iter().map(super::rows::audit_from_row).collect::<Result<_, _>>().map_err(Into::into)
    }
}
