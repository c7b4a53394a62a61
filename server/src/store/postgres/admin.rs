//! Admin queries: user lists, the message monitor, the moderation log, block/unblock with an
//! audit trail, overview counts, and keyset pages for the CSV exports.

use super::rows::{admin_message_from_row, moderation_from_row, user_from_row};
use super::{PgStore, BLOCK_AND_REVOKE, USER_COLUMNS};
use crate::store::{now_rfc3339, StoreError};
use app::models::{AdminMessage, AdminOverview, ModerationEntry, PublicUser};
use sqlx::Row;

/// A message with its conversation: a room's name, or a DM's two usernames (`alice & bob`).
const ADMIN_MESSAGE_SELECT: &str = "SELECT m.id, m.sender_id, u.username, m.content, m.created_at, m.room_id, m.removed, \
                                    m.edited_at, m.deleted, m.attachments, \
                                    r.kind AS room_kind, \
                                    COALESCE(r.name, (SELECT lo.username || ' & ' || hi.username FROM users lo, users hi \
                                                      WHERE lo.id = r.dm_low AND hi.id = r.dm_high)) AS room \
                                    FROM messages m JOIN users u ON u.id = m.sender_id JOIN rooms r ON r.id = m.room_id";

impl PgStore {
    /// A page of users (or only the blocked ones) by id: at most `limit` with an id above
    /// `after` (the cursor: the last id of the previous page).
    pub async fn list_users(
        &self,
        blocked_only: bool,
        after: Option<i64>,
        limit: i64,
    ) -> Result<Vec<PublicUser>, StoreError> {
        let filter = if blocked_only { "AND is_blocked" } else { "" };
        let sql = format!("SELECT {USER_COLUMNS} FROM users WHERE id > $1 {filter} ORDER BY id LIMIT $2");
        let rows = sqlx::query(&sql).bind(after.unwrap_or(i64::MIN)).bind(limit).fetch_all(self.pool()).await?;
        rows.iter().map(|r| user_from_row(r).map(|u| u.public)).collect::<Result<_, _>>().map_err(Into::into)
    }

    /// Messages older than `before`, newest first.
    pub async fn admin_messages(&self, before: Option<i64>, limit: i64) -> Result<Vec<AdminMessage>, StoreError> {
        let sql = format!("{ADMIN_MESSAGE_SELECT} WHERE m.id < $1 ORDER BY m.id DESC LIMIT $2");
        let rows = sqlx::query(&sql).bind(before.unwrap_or(i64::MAX)).bind(limit).fetch_all(self.pool()).await?;
        rows.iter().map(admin_message_from_row).collect::<Result<_, _>>().map_err(Into::into)
    }

    /// Moderation log entries older than `before`, newest first.
    pub async fn moderation_log(&self, before: Option<i64>, limit: i64) -> Result<Vec<ModerationEntry>, StoreError> {
        let rows = sqlx::query(
            "SELECT l.id, l.user_id, u.username, l.created_at, l.rule, l.content, l.warning_count, l.blocked \
             FROM moderation_log l JOIN users u ON u.id = l.user_id \
             WHERE l.id < $1 ORDER BY l.id DESC LIMIT $2",
        )
        .bind(before.unwrap_or(i64::MAX))
        .bind(limit)
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(moderation_from_row).collect::<Result<_, _>>().map_err(Into::into)
    }

    /// Blocks or unblocks a user (an unblock also resets warnings; a block revokes tokens) and
    /// records it in the audit log. `None` when no such user.
    pub async fn set_blocked_by_admin(
        &self,
        admin_id: i64,
        user_id: i64,
        blocked: bool,
    ) -> Result<Option<PublicUser>, StoreError> {
        let mut tx = self.pool().begin().await?;
        let sql = if blocked {
            format!("UPDATE users SET {BLOCK_AND_REVOKE} WHERE id = $1")
        } else {
            "UPDATE users SET is_blocked = FALSE, warning_count = 0 WHERE id = $1".to_owned()
        };
        let done = sqlx::query(&sql).bind(user_id).execute(&mut *tx).await?;
        if done.rows_affected() == 0 {
            return Ok(None);
        }
        sqlx::query("INSERT INTO audit_log (admin_id, action, target_user_id, created_at) VALUES ($1, $2, $3, $4)")
            .bind(admin_id)
            .bind(if blocked { "block" } else { "unblock" })
            .bind(user_id)
            .bind(now_rfc3339())
            .execute(&mut *tx)
            .await?;
        let select = format!("SELECT {USER_COLUMNS} FROM users WHERE id = $1");
        let row = sqlx::query(&select).bind(user_id).fetch_one(&mut *tx).await?;
        tx.commit().await?;
        Ok(Some(user_from_row(&row)?.public))
    }

    /// Unblocks a user by username (case-insensitive) and resets its warnings, like the admin
    /// unblock route (tokens revoked by the block stay revoked). For `server admin unblock`;
    /// false when no such user.
    pub async fn unblock_by_username(&self, username: &str) -> Result<bool, StoreError> {
        let done =
            sqlx::query("UPDATE users SET is_blocked = FALSE, warning_count = 0 WHERE lower(username) = lower($1)")
                .bind(username)
                .execute(self.pool())
                .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Overview counts; "today" is the current UTC day.
    pub async fn overview(&self) -> Result<AdminOverview, StoreError> {
        let today = format!("{}T00:00:00.000Z", &now_rfc3339()[..10]);
        let row = sqlx::query(
            "SELECT (SELECT COUNT(*) FROM users) AS users, \
                    (SELECT COUNT(*) FROM users WHERE is_blocked) AS blocked, \
                    (SELECT COUNT(*) FROM messages WHERE created_at >= $1) AS messages_today, \
                    (SELECT COUNT(*) FROM moderation_log WHERE created_at >= $1) AS violations_today",
        )
        .bind(&today)
        .fetch_one(self.pool())
        .await?;
        Ok(AdminOverview {
            users: row.try_get("users")?,
            blocked: row.try_get("blocked")?,
            messages_today: row.try_get("messages_today")?,
            violations_today: row.try_get("violations_today")?,
        })
    }

    /// Users with an id above `after`, by id, at most `limit` (a CSV export page: one short
    /// query; nothing is held between pages, so exports never pin a read connection or a read
    /// transaction, and WAL checkpoints can run).
    pub async fn users_after(&self, after: i64, limit: i64) -> Result<Vec<PublicUser>, StoreError> {
        self.list_users(false, Some(after), limit).await
    }

    /// Messages with an id above `after`, oldest first, at most `limit` (a CSV export page).
    pub async fn admin_messages_after(&self, after: i64, limit: i64) -> Result<Vec<AdminMessage>, StoreError> {
        let sql = format!("{ADMIN_MESSAGE_SELECT} WHERE m.id > $1 ORDER BY m.id LIMIT $2");
        let rows = sqlx::query(&sql).bind(after).bind(limit).fetch_all(self.pool()).await?;
        rows.iter().map(admin_message_from_row).collect::<Result<_, _>>().map_err(Into::into)
    }
}
