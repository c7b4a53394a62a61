//! Trust and safety on PostgreSQL (migration 0004): see SQLite's `safety.rs`. Rows are locked
//! before the counters (lock order: a row, then `messages`, then `room_changes`); the queue's
//! ranks come from the `review_rank` sequence.

use super::actions::{empty_message, Gone};
use super::feed::record;
use super::rows::{appeal_from_row, message_from_row, review_from_row};
use super::PgStore;
use crate::store::{now_rfc3339, Change, NewMessage, Removal, Reported, ReviewFilter, ReviewRecord, StoreError};
use app::models::{Appeal, ChatMessage, ReviewReport, StandingEntry};
use sqlx::Row;

/// A review item with the sender's name, the room's, the message as it is now and who resolved it.
const REVIEW_SELECT: &str = "SELECT ri.id, ri.message_id, ri.sender_id, ri.room_id, ri.content, ri.client_id, \
                             ri.sent_at, ri.from_classifier, ri.from_reports, ri.score, ri.held, ri.context, \
                             ri.created_at, ri.state, ri.resolved_at, ri.reason, u.username, \
                             CASE r.kind WHEN 'dm' THEN 'dm' ELSE r.name END AS room, \
                             m.content AS message_content, m.removed AS message_removed, \
                             m.created_at AS message_time, m.client_id AS message_client_id, \
                             rb.username AS resolver \
                             FROM review_items ri JOIN users u ON u.id = ri.sender_id \
                             JOIN rooms r ON r.id = ri.room_id \
                             LEFT JOIN messages m ON m.id = ri.message_id \
                             LEFT JOIN users rb ON rb.id = ri.resolved_by";

/// Most violations a standing lists.
const STANDING_HISTORY_MAX: i64 = 1000;

/// An appeal with its account and who decided it.
const APPEAL_SELECT: &str = "SELECT a.id AS appeal_id, a.text, a.state, a.created_at AS appeal_created_at, \
                             a.decided_at, a.reason, d.username AS decider, \
                             u.id, u.username, u.email, u.password_hash, u.is_admin, u.is_blocked, \
                             u.warning_count, u.token_version, u.created_at \
                             FROM appeals a JOIN users u ON u.id = a.user_id \
                             LEFT JOIN users d ON d.id = a.decided_by";

/// The next rank of the queue (its front).
const NEXT_RANK: &str = "nextval('review_rank')";

impl PgStore {
    /// Removes message `id` for everyone, by `admin`, for `reason`.
    pub async fn remove_message(&self, id: i64, admin: i64, reason: &str) -> Result<Removal, StoreError> {
        let mut tx = self.pool().begin().await?;
        let Some(row) =
            sqlx::query("SELECT room_id, sender_id, content, removed FROM messages WHERE id = $1 FOR UPDATE")
                .bind(id)
                .fetch_optional(&mut *tx)
                .await?
        else {
            return Ok(Removal::NotFound);
        };
        let (room, sender): (i64, i64) = (row.try_get("room_id")?, row.try_get("sender_id")?);
        if row.try_get::<bool, _>("removed")? {
            return Ok(Removal::Already { room });
        }
        let now = now_rfc3339();
        sqlx::query(
            "INSERT INTO message_removals (message_id, admin_id, reason, content, created_at) \
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(id)
        .bind(admin)
        .bind(reason)
        .bind(row.try_get::<String, _>("content")?)
        .bind(&now)
        .execute(&mut *tx)
        .await?;

        sqlx::query(
            "INSERT INTO audit_log (admin_id, action, target_user_id, room_id, created_at, reason, message_id) \
             VALUES ($1, 'remove_message', $2, $3, $4, $5, $6)",
        )
        .bind(admin)
        .bind(sender)
        .bind(room)
        .bind(&now)
        .bind(reason)
        .bind(id)
        .execute(&mut *tx)
        .await?;
        let seq = record(&mut tx, Change::MessageRemoved { room, message: id }).await?;
        empty_message(&mut tx, id, seq, Gone::Removed).await?;
        tx.commit().await?;
        Ok(Removal::Removed { room, seq })
    }

    /// A message by id, as members see it now.
    pub async fn message_by_id(&self, id: i64) -> Result<Option<ChatMessage>, StoreError> {
        let sql = format!("{} WHERE m.id = $1", *super::messages::SELECT_MESSAGE);
        let row = sqlx::query(&sql).bind(id).fetch_optional(self.pool()).await?;
        let Some(row) = row else { return Ok(None) };
        let mut message = message_from_row(&row)?;
        self.attach_reactions(std::slice::from_mut(&mut message), None).await?;
        Ok(Some(message))
    }

    /// Records `reporter`'s report of `message` (see `Store::report_message`); `context` is the
    /// JSON of the messages around it, kept if this report opens an item; an item whose reports
    /// reach `front_at` in weight moves to the front of the queue.
    pub async fn report_rows(
        &self,
        message: i64,
        reporter: i64,
        reason: &str,
        weight: f64,
        front_at: f64,
        context: &str,
    ) -> Result<Reported, StoreError> {
        let mut tx = self.pool().begin().await?;
        let Some(row) = sqlx::query(
            "SELECT m.sender_id, m.room_id, m.removed, m.content, m.client_id, m.created_at, \
                    EXISTS (SELECT 1 FROM room_members WHERE room_id = m.room_id AND user_id = $2) AS member \
             FROM messages m WHERE m.id = $1 FOR UPDATE",
        )
        .bind(message)
        .bind(reporter)
        .fetch_optional(&mut *tx)
        .await?
        else {
            return Ok(Reported::Unreadable);
        };
        if !row.try_get::<bool, _>("member")? {
            return Ok(Reported::Unreadable);
        }
        if row.try_get::<i64, _>("sender_id")? == reporter {
            return Ok(Reported::Own);
        }
        if row.try_get::<bool, _>("removed")? {
            return Ok(Reported::Already);
        }
        let now = now_rfc3339();
        let inserted = sqlx::query(
            "INSERT INTO reports (message_id, reporter_id, reason, weight, created_at) \
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING",
        )
        .bind(message)
        .bind(reporter)
        .bind(reason)
        .bind(weight)
        .bind(&now)
        .execute(&mut *tx)
        .await?;
        if inserted.rows_affected() == 0 {
            return Ok(Reported::Already);
        }
        let existing = sqlx::query("SELECT id, report_weight FROM review_items WHERE message_id = $1 FOR UPDATE")
            .bind(message)
            .fetch_optional(&mut *tx)
            .await?;
        let item = match existing {
            Some(item) => {
                let (id, before): (i64, f64) = (item.try_get("id")?, item.try_get("report_weight")?);
                let to_front = before < front_at && before + weight >= front_at;
                let sql = format!(
                    "UPDATE review_items SET from_reports = TRUE, report_weight = report_weight + $2, \
                     rank = CASE WHEN $3 THEN {NEXT_RANK} ELSE rank END, \
                     resolved_by = CASE WHEN state = 'approved' THEN NULL ELSE resolved_by END, \
                     resolved_at = CASE WHEN state = 'approved' THEN NULL ELSE resolved_at END, \
                     reason = CASE WHEN state = 'approved' THEN NULL ELSE reason END, \
                     state = CASE WHEN state = 'approved' THEN 'open' ELSE state END \
                     WHERE id = $1"
                );
                sqlx::query(&sql).bind(id).bind(weight).bind(to_front).execute(&mut *tx).await?;
                id
            }
            None => {
                let sql = format!(
                    "INSERT INTO review_items (message_id, sender_id, room_id, content, client_id, sent_at, \
                       from_reports, report_weight, rank, context, created_at) \
                     VALUES ($1, $2, $3, $4, $5, $6, TRUE, $7, {NEXT_RANK}, $8, $9) RETURNING id"
                );
                sqlx::query_scalar(&sql)
                    .bind(message)
                    .bind(row.try_get::<i64, _>("sender_id")?)
                    .bind(row.try_get::<i64, _>("room_id")?)
                    .bind(row.try_get::<String, _>("content")?)
                    .bind(row.try_get::<Option<String>, _>("client_id")?)
                    .bind(row.try_get::<String, _>("created_at")?)
                    .bind(weight)
                    .bind(context)
                    .bind(&now)
                    .fetch_one(&mut *tx)
                    .await?
            }
        };
        tx.commit().await?;
        Ok(Reported::Recorded { item })
    }

    /// Queues message `message` for review as the classifier flagged it (`score`).
    pub async fn queue_flagged(&self, message: i64, score: f64, context: &str) -> Result<(), StoreError> {
        let sql = format!(
            "INSERT INTO review_items (message_id, sender_id, room_id, content, client_id, sent_at, \
               from_classifier, score, rank, context, created_at) \
             SELECT id, sender_id, room_id, content, client_id, created_at, TRUE, $2, {NEXT_RANK}, $3, $4 \
             FROM messages WHERE id = $1 \
             ON CONFLICT (message_id) DO UPDATE SET from_classifier = TRUE, score = excluded.score"
        );
        sqlx::query(&sql).bind(message).bind(score).bind(context).bind(now_rfc3339()).execute(self.pool()).await?;
        Ok(())
    }

    /// Holds `message` for review (`score`: the classifier's); a retry of a held `client_id`
    /// finds the item it is held as. The item's id.
    pub async fn hold_message(&self, message: &NewMessage, score: f64, context: &str) -> Result<i64, StoreError> {
        let mut tx = self.pool().begin().await?;
        if let Some(client_id) = &message.client_id {
            let held: Option<i64> = sqlx::query_scalar(
                "SELECT id FROM review_items WHERE message_id IS NULL AND sender_id = $1 AND client_id = $2 \
                 AND state = 'open'",
            )
            .bind(message.sender_id)
            .bind(client_id)
            .fetch_optional(&mut *tx)
            .await?;
            if let Some(id) = held {
                return Ok(id);
            }
        }
        let now = now_rfc3339();
        let sql = format!(
            "INSERT INTO review_items (sender_id, room_id, content, client_id, sent_at, from_classifier, score, \
               held, rank, context, created_at) \
             VALUES ($1, $2, $3, $4, $5, TRUE, $6, TRUE, {NEXT_RANK}, $7, $5) RETURNING id"
        );
        let id = sqlx::query_scalar(&sql)
            .bind(message.sender_id)
            .bind(message.room_id)
            .bind(&message.content)
            .bind(&message.client_id)
            .bind(&now)
            .bind(score)
            .bind(context)
            .fetch_one(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(id)
    }

    /// Review items as `filter` says, front of the queue first (their reports not attached).
    pub async fn review_rows(&self, filter: ReviewFilter) -> Result<Vec<ReviewRecord>, StoreError> {
        let rows = match filter {
            ReviewFilter::Open { before, limit } => {
                let sql = format!(
                    "{REVIEW_SELECT} WHERE ri.state = 'open' AND ($1::BIGINT IS NULL OR (ri.rank, ri.id) < \
                       (SELECT rank, id FROM review_items WHERE id = $1)) \
                     ORDER BY ri.rank DESC, ri.id DESC LIMIT $2"
                );
                sqlx::query(&sql).bind(before).bind(limit).fetch_all(self.pool()).await?
            }
            ReviewFilter::One(id) => {
                let sql = format!("{REVIEW_SELECT} WHERE ri.id = $1");
                sqlx::query(&sql).bind(id).fetch_all(self.pool()).await?
            }
        };
        rows.iter().map(review_from_row).collect::<Result<_, _>>().map_err(Into::into)
    }

    /// The reports of `messages`, oldest first: `(message id, report)`.
    pub async fn reports_of(&self, messages: &[i64]) -> Result<Vec<(i64, ReviewReport)>, StoreError> {
        if messages.is_empty() {
            return Ok(Vec::new());
        }
        let rows = sqlx::query(
            "SELECT rp.message_id, u.username, rp.reason, rp.created_at FROM reports rp \
             JOIN users u ON u.id = rp.reporter_id \
             WHERE rp.message_id = ANY($1) ORDER BY rp.created_at, u.username",
        )
        .bind(messages)
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|row| {
                Ok((
                    row.try_get("message_id")?,
                    ReviewReport {
                        username: row.try_get("username")?,
                        reason: row.try_get("reason")?,
                        timestamp: row.try_get("created_at")?,
                    },
                ))
            })
            .collect::<Result<_, sqlx::Error>>()
            .map_err(Into::into)
    }

    /// Resolves open item `id` as `state`, by `admin`, for `reason`: `None` for an unknown item,
    /// `Some(false)` when it was resolved already.
    pub async fn resolve_review(
        &self,
        id: i64,
        admin: i64,
        state: &str,
        reason: &str,
    ) -> Result<Option<bool>, StoreError> {
        let mut tx = self.pool().begin().await?;
        let done = sqlx::query(
            "UPDATE review_items SET state = $3, resolved_by = $2, resolved_at = $5, reason = $4 \
             WHERE id = $1 AND state = 'open'",
        )
        .bind(id)
        .bind(admin)
        .bind(state)
        .bind(reason)
        .bind(now_rfc3339())
        .execute(&mut *tx)
        .await?;
        if done.rows_affected() == 0 {
            let exists: Option<i64> = sqlx::query_scalar("SELECT id FROM review_items WHERE id = $1")
                .bind(id)
                .fetch_optional(&mut *tx)
                .await?;
            return Ok(exists.map(|_| false));
        }
        sqlx::query(
            "INSERT INTO audit_log (admin_id, action, target_user_id, room_id, created_at, reason, message_id) \
             SELECT $2, 'review_' || state, sender_id, room_id, resolved_at, reason, message_id \
             FROM review_items WHERE id = $1",
        )
        .bind(id)
        .bind(admin)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(Some(true))
    }

    /// A held item was approved and delivered as message `message`.
    pub async fn link_review(&self, id: i64, message: i64) -> Result<(), StoreError> {
        sqlx::query("UPDATE review_items SET message_id = $2 WHERE id = $1 AND message_id IS NULL")
            .bind(id)
            .bind(message)
            .execute(self.pool())
            .await?;
        Ok(())
    }
    /// `user`'s violations, newest first, each saying whether it still counts (after the last
    /// reset of the account's warnings, and since `counts_since` when strikes expire).
    pub async fn standing_history(
        &self,
        user: i64,
        counts_since: Option<&str>,
    ) -> Result<Vec<StandingEntry>, StoreError> {
        let rows = sqlx::query(
            "SELECT l.created_at, l.rule, l.room_id, \
                    (l.created_at > COALESCE(u.warnings_reset_at, '') AND ($3::TEXT IS NULL OR l.created_at >= $3)) AS counted \
             FROM moderation_log l JOIN users u ON u.id = l.user_id \
             WHERE l.user_id = $1 ORDER BY l.id DESC LIMIT $2",
        )
        .bind(user)
        .bind(STANDING_HISTORY_MAX)
        .bind(counts_since)
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|row| {
                Ok(StandingEntry {
                    timestamp: row.try_get("created_at")?,
                    rule: row.try_get("rule")?,
                    room_id: row.try_get("room_id")?,
                    counted: row.try_get("counted")?,
                })
            })
            .collect::<Result<_, sqlx::Error>>()
            .map_err(Into::into)
    }

    /// Where the appeal of `user`'s present block stands: `(state, reason)`, `None` without one.
    pub async fn current_appeal(&self, user: i64) -> Result<Option<(String, Option<String>)>, StoreError> {
        let row = sqlx::query("SELECT state, reason FROM appeals WHERE user_id = $1 AND current")
            .bind(user)
            .fetch_optional(self.pool())
            .await?;
        row.map(|row| Ok((row.try_get("state")?, row.try_get("reason")?)))
            .transpose()
            .map_err(|e: sqlx::Error| e.into())
    }

    /// Opens an appeal of `user`'s present block: its id, or `None` when that block has one.
    pub async fn create_appeal(&self, user: i64, text: &str) -> Result<Option<i64>, StoreError> {
        let id = sqlx::query_scalar(
            "INSERT INTO appeals (user_id, text, created_at) VALUES ($1, $2, $3) \
             ON CONFLICT (user_id) WHERE current DO NOTHING RETURNING id",
        )
        .bind(user)
        .bind(text)
        .bind(now_rfc3339())
        .fetch_optional(self.pool())
        .await?;
        Ok(id)
    }

    /// Appeals in `state` (all with `None`), newest first, older than `before`, at most `limit`.
    pub async fn appeals(
        &self,
        state: Option<&str>,
        before: Option<i64>,
        limit: i64,
    ) -> Result<Vec<Appeal>, StoreError> {
        let sql = format!(
            "{APPEAL_SELECT} WHERE ($1::TEXT IS NULL OR a.state = $1) AND a.id < $2 ORDER BY a.id DESC LIMIT $3"
        );
        let rows =
            sqlx::query(&sql).bind(state).bind(before.unwrap_or(i64::MAX)).bind(limit).fetch_all(self.pool()).await?;
        rows.iter().map(appeal_from_row).collect::<Result<_, _>>().map_err(Into::into)
    }

    /// Decides open appeal `id` by `admin`: `accept` unblocks its account (warnings reset, as
    /// the unblock route does). `None` for an unknown appeal, `Some(Err(()))` for one decided
    /// already.
    pub async fn decide_appeal(
        &self,
        id: i64,
        admin: i64,
        accept: bool,
        reason: &str,
    ) -> Result<Option<Result<Appeal, ()>>, StoreError> {
        let mut tx = self.pool().begin().await?;
        let state = if accept { "accepted" } else { "rejected" };
        let user: Option<i64> = sqlx::query_scalar(
            "UPDATE appeals SET state = $2, decided_by = $3, decided_at = $4, reason = $5 \
             WHERE id = $1 AND state = 'open' RETURNING user_id",
        )
        .bind(id)
        .bind(state)
        .bind(admin)
        .bind(now_rfc3339())
        .bind(reason)
        .fetch_optional(&mut *tx)
        .await?;
        let Some(user) = user else {
            let exists: Option<i64> =
                sqlx::query_scalar("SELECT id FROM appeals WHERE id = $1").bind(id).fetch_optional(&mut *tx).await?;
            return Ok(exists.map(|_| Err(())));
        };
        if accept {
            sqlx::query("UPDATE users SET is_blocked = FALSE, warning_count = 0 WHERE id = $1")
                .bind(user)
                .execute(&mut *tx)
                .await?;
        }
        sqlx::query(
            "INSERT INTO audit_log (admin_id, action, target_user_id, created_at, reason) VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(admin)
        .bind(if accept { "appeal_accepted" } else { "appeal_rejected" })
        .bind(user)
        .bind(now_rfc3339())
        .bind(reason)
        .execute(&mut *tx)
        .await?;
        let sql = format!("{APPEAL_SELECT} WHERE a.id = $1");
        let row = sqlx::query(&sql).bind(id).fetch_one(&mut *tx).await?;
        let appeal = appeal_from_row(&row)?;
        tx.commit().await?;
        Ok(Some(Ok(appeal)))
    }
    /// The review decisions admins made, oldest first: the text as sent, and whether it was
    /// judged abusive (removed or struck) or not (approved).
    pub async fn review_decisions(&self) -> Result<Vec<(String, bool)>, StoreError> {
        let rows = sqlx::query(
            "SELECT content, state <> 'approved' AS abusive FROM review_items \
             WHERE state IN ('approved', 'removed', 'struck') ORDER BY id",
        )
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|row| Ok((row.try_get("content")?, row.try_get("abusive")?)))
            .collect::<Result<_, sqlx::Error>>()
            .map_err(Into::into)
    }
}
