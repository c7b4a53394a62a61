//! Chat message queries: group-committed inserts with gapless, commit-ordered ids, and the
//! history reads (newest page, catch-up since an id, older pages).

use super::rows::message_from_row;
use super::PgStore;
use crate::store::{NewMessage, StoreError, View};
use app::models::ChatMessage;
use app::protocol::REPLY_EXCERPT_CHARS;
use sqlx::Row;

/// The conditions that select a [`View`]'s messages (`$3` and on: [`view_binds`]).
///
/// The member view lists the viewer's rooms in a subquery the planner turns into a semi-join
/// probed per row: a page is read by walking `messages` in id order from the cursor and keeping
/// the rows of those rooms, rather than gathering every message of the rooms through
/// `messages_room` and sorting them all. Checked with EXPLAIN on a few hundred thousand rows,
/// custom and generic plans alike (the conformance case `member_catch_up_walks_messages_in_id_order`).
fn view_conditions(view: View) -> &'static str {
    match (view.room.is_some(), view.viewer.is_some()) {
        (true, true) => {
            " AND m.room_id = $3 AND m.sender_id NOT IN (SELECT ignored_id FROM ignores WHERE user_id = $4)"
        }
        (true, false) => " AND m.room_id = $3",
        (false, true) => {
            " AND m.room_id IN (SELECT room_id FROM room_members WHERE user_id = $3) \
             AND m.sender_id NOT IN (SELECT ignored_id FROM ignores WHERE user_id = $3)"
        }
        (false, false) => "",
    }
}

/// The values of the parameters [`view_conditions`] uses, in order.
fn view_binds(view: View) -> Vec<i64> {
    view.room.into_iter().chain(view.viewer).collect()
}

/// Takes the `messages` counter row's lock (held to the commit) and reads the counter. On its
/// own statement: under READ COMMITTED the next statement's snapshot is taken after the lock is
/// granted, so the INSERT sees every batch, block, leave and archive that committed before.
const LOCK_COUNTER: &str = "SELECT value FROM counters WHERE name = 'messages' FOR UPDATE";

/// Inserts a batch given as arrays (`$1` senders, `$2` contents, `$3` client ids, `$4` rooms),
/// created at `$5`, numbered from `$6` (the counter's value + 1). Leaves out the rows of blocked
/// senders, of conversations their sender is not in or that are archived, and retries of a stored
/// client id or of one earlier in the batch (the first occurrence that may be stored wins). The
/// rest get consecutive ids in batch order, and the counter moves past them in the same
/// statement. Returns the batch position (1-based) and id of each inserted row, and the newest
/// room change committed before the batch (every change takes the `messages` lock first, so its
/// commit is before this statement's snapshot, or after the batch's commit).
const INSERT_BATCH: &str = "\
WITH input AS (
    SELECT * FROM UNNEST($1::bigint[], $2::text[], $3::text[], $4::bigint[], $7::bigint[], $8::text[], $9::text[],
                         $10::text[]) WITH ORDINALITY
        AS t(sender_id, content, client_id, room_id, reply_to, mentions, search_text, search_words, ord)
), allowed AS (
    SELECT i.*, row_number() OVER (PARTITION BY i.sender_id, i.client_id ORDER BY i.ord) AS nth
    FROM input i
    WHERE EXISTS (SELECT 1 FROM users u WHERE u.id = i.sender_id AND NOT u.is_blocked)
      AND EXISTS (SELECT 1 FROM room_members rm JOIN rooms r ON r.id = rm.room_id
                  WHERE rm.room_id = i.room_id AND rm.user_id = i.sender_id AND NOT r.archived)
      AND (i.client_id IS NULL OR NOT EXISTS
            (SELECT 1 FROM messages m WHERE m.sender_id = i.sender_id AND m.client_id = i.client_id))
), numbered AS (
    SELECT a.*, $6::bigint + row_number() OVER (ORDER BY a.ord) - 1 AS id
    FROM allowed a
    WHERE a.client_id IS NULL OR a.nth = 1
), inserted AS (
    INSERT INTO messages (id, sender_id, content, client_id, created_at, room_id, reply_to, mentions, search_text,
                          search_words)
    SELECT id, sender_id, content, client_id, $5, room_id, reply_to, mentions, search_text,
           string_to_array(search_words, ' ')
    FROM numbered ORDER BY id
), counted AS (
    UPDATE counters SET value = value + (SELECT count(*) FROM numbered) WHERE name = 'messages'
)
SELECT ord, id, (SELECT value FROM counters WHERE name = 'room_changes') AS feed FROM numbered";

/// The catch-up read of `view`: `$1` the cursor, `$2` the limit, then [`view_binds`].
pub(crate) fn since_sql(view: View) -> String {
    format!("{} WHERE m.id > $1{} ORDER BY m.id ASC LIMIT $2", *SELECT_MESSAGE, view_conditions(view))
}

/// A message with its sender's name, its conversation's, and the message it answers as it is
/// now (see `message_from_row`).
pub(super) static SELECT_MESSAGE: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    format!(
        "SELECT m.id, m.sender_id, u.username, m.content, m.created_at, m.room_id, \
           CASE r.kind WHEN 'dm' THEN 'dm' ELSE r.name END AS room, m.client_id, m.removed, \
           m.edited_at, m.deleted, m.mentions, m.attachments, m.reply_to AS reply_id, ru.username AS reply_username, \
           CASE WHEN rm.deleted OR rm.removed THEN '' ELSE left(rm.content, {REPLY_EXCERPT_CHARS}) END \
             AS reply_excerpt, \
           (rm.deleted OR rm.removed) AS reply_gone \
         FROM messages m JOIN users u ON u.id = m.sender_id JOIN rooms r ON r.id = m.room_id \
           LEFT JOIN messages rm ON rm.id = m.reply_to LEFT JOIN users ru ON ru.id = rm.sender_id"
    )
});

impl PgStore {
    /// Commits the rows of `batch`; the id of each (`None` for one left out), and the newest
    /// room change committed before them (0 when nothing was inserted). On the writer's
    /// connections, whichever the handle: a commit never waits behind requests.
    pub(crate) async fn insert_rows(
        &self,
        batch: &[NewMessage],
        created_at: &str,
    ) -> Result<(Vec<Option<i64>>, i64), sqlx::Error> {
        let senders: Vec<i64> = batch.iter().map(|m| m.sender_id).collect();
        let contents: Vec<&str> = batch.iter().map(|m| m.content.as_str()).collect();
        let client_ids: Vec<Option<&str>> = batch.iter().map(|m| m.client_id.as_deref()).collect();
        let rooms: Vec<i64> = batch.iter().map(|m| m.room_id).collect();
        let replies: Vec<Option<i64>> = batch.iter().map(|m| m.reply_to.as_ref().map(|reply| reply.id)).collect();
        let mentions: Vec<String> = batch.iter().map(NewMessage::mention_names).collect();
        let (search_texts, search_words): (Vec<String>, Vec<String>) =
            batch.iter().map(NewMessage::search_columns).unzip();
        let mut tx = self.writer_pool().begin().await?;
        let counter: i64 = sqlx::query_scalar(LOCK_COUNTER).fetch_one(&mut *tx).await?;
        let rows = sqlx::query(INSERT_BATCH)
            .bind(&senders)
            .bind(&contents)
            .bind(&client_ids)
            .bind(&rooms)
            .bind(created_at)
            .bind(counter + 1)
            .bind(&replies)
            .bind(&mentions)
            .bind(&search_texts)
            .bind(&search_words)
            .fetch_all(&mut *tx)
            .await?;
        let mut ids = vec![None; batch.len()];
        let mut feed = 0;
        for row in rows {
            let ord: i64 = row.try_get(0)?;
            let slot = usize::try_from(ord - 1).ok().and_then(|i| ids.get_mut(i));
            *slot.ok_or_else(|| sqlx::Error::Protocol(format!("inserted row {ord} is not in the batch")))? =
                Some(row.try_get(1)?);
            feed = row.try_get(2)?;
        }
        for (message, id) in batch.iter().zip(&ids) {
            if let Some(id) = id {
                record_mentions(&mut tx, message, *id).await?;
                link_attachments(&mut tx, message, *id).await?;
            }
        }
        tx.commit().await?;
        Ok((ids, feed))
    }

    /// The message `sender` stored under `client_id` (`RowNotFound` when none), and whether its
    /// sender is still in its conversation.
    pub(crate) async fn message_by_client_id(
        &self,
        sender: i64,
        client_id: &str,
    ) -> Result<(ChatMessage, bool), sqlx::Error> {
        let sql = format!(
            "{} WHERE m.sender_id = $1 AND m.client_id = $2",
            SELECT_MESSAGE.replace(
                "m.client_id, m.removed,",
                "m.client_id, m.removed, EXISTS (SELECT 1 FROM room_members me \
                   WHERE me.room_id = m.room_id AND me.user_id = m.sender_id) AS still_member,"
            )
        );
        let row = sqlx::query(&sql).bind(sender).bind(client_id).fetch_one(self.pool()).await?;
        let mut message = message_from_row(&row)?;
        self.attach_reactions(std::slice::from_mut(&mut message), Some(sender)).await?;
        Ok((message, row.try_get("still_member")?))
    }

    /// The newest `limit` messages of `view`, oldest first.
    pub async fn latest_messages(&self, view: View, limit: i64) -> Result<Vec<ChatMessage>, StoreError> {
        let mut messages = self.messages_before(view, None, limit).await?;
        messages.reverse();
        Ok(messages)
    }

    /// Messages of `view` with id > `since`, oldest first, at most `limit`; `true` when more
    /// remain.
    pub async fn messages_since(
        &self,
        view: View,
        since: i64,
        limit: i64,
    ) -> Result<(Vec<ChatMessage>, bool), StoreError> {
        let mut messages = self.fetch_messages(&since_sql(view), &[since, limit + 1], view).await?;
        let more = messages.len() as i64 > limit;
        messages.truncate(limit as usize);
        Ok((messages, more))
    }

    /// Messages of `view` older than `before` (all when `None`), newest first, at most `limit`.
    pub async fn messages_before(
        &self,
        view: View,
        before: Option<i64>,
        limit: i64,
    ) -> Result<Vec<ChatMessage>, StoreError> {
        let sql = format!("{} WHERE m.id < $1{} ORDER BY m.id DESC LIMIT $2", *SELECT_MESSAGE, view_conditions(view));
        self.fetch_messages(&sql, &[before.unwrap_or(i64::MAX), limit], view).await
    }

    /// The newest message id of all (0 before the first).
    pub async fn newest_message_id(&self) -> Result<i64, StoreError> {
        let id: Option<i64> = sqlx::query_scalar("SELECT MAX(id) FROM messages").fetch_one(self.pool()).await?;
        Ok(id.unwrap_or(0))
    }

    async fn fetch_messages(&self, sql: &str, binds: &[i64], view: View) -> Result<Vec<ChatMessage>, StoreError> {
        let mut query = sqlx::query(sql);
        for value in binds.iter().copied().chain(view_binds(view)) {
            query = query.bind(value);
        }
        let rows = query.fetch_all(self.pool()).await?;
        let mut messages = rows.iter().map(message_from_row).collect::<Result<Vec<_>, _>>()?;
        self.attach_reactions(&mut messages, view.viewer).await?;
        Ok(messages)
    }

    /// Gives each of `messages` its reactions, `me` as `viewer` sees them (none: `me` false).
    pub(super) async fn attach_reactions(
        &self,
        messages: &mut [ChatMessage],
        viewer: Option<i64>,
    ) -> Result<(), sqlx::Error> {
        if messages.is_empty() {
            return Ok(());
        }
        let ids: Vec<i64> = messages.iter().map(|m| m.id).collect();
        let rows: Vec<(i64, String, i64, bool, i64)> = sqlx::query_as(
            "SELECT message_id, emoji, COUNT(*)::bigint, bool_or(user_id = $2), MIN(id) AS first \
             FROM message_reactions WHERE message_id = ANY($1) GROUP BY message_id, emoji \
             ORDER BY message_id, first",
        )
        .bind(&ids)
        .bind(viewer.unwrap_or(0))
        .fetch_all(self.pool())
        .await?;
        crate::store::attach_reactions(messages, rows.into_iter().map(|(m, e, n, me, _)| (m, e, n, me)));
        Ok(())
    }
}

/// Records who message `id` mentions (what their rooms' `mentions` counts read).
/// Gives message `id` its files: its `attachments` column, and each claimed upload its message
/// (only messages posting files pay for this).
async fn link_attachments(
    connection: &mut sqlx::PgConnection,
    message: &NewMessage,
    id: i64,
) -> Result<(), sqlx::Error> {
    let Some(claim) = message.claim.as_deref().filter(|_| !message.attachments.is_empty()) else {
        return Ok(());
    };
    sqlx::query("UPDATE messages SET attachments = $2 WHERE id = $1")
        .bind(id)
        .bind(message.attachments_json())
        .execute(&mut *connection)
        .await?;
    sqlx::query("UPDATE uploads SET message_id = $2, room_id = $3, claim = NULL, claimed_at = NULL WHERE claim = $1")
        .bind(claim)
        .bind(id)
        .bind(message.room_id)
        .execute(&mut *connection)
        .await?;
    Ok(())
}

pub(super) async fn record_mentions(
    connection: &mut sqlx::PgConnection,
    message: &NewMessage,
    id: i64,
) -> Result<(), sqlx::Error> {
    if message.mentions.is_empty() {
        return Ok(());
    }
    let users: Vec<i64> = message.mentions.iter().map(|(user, _)| *user).collect();
    sqlx::query(
        "INSERT INTO message_mentions (user_id, room_id, message_id) SELECT u, $2, $3 FROM UNNEST($1::bigint[]) AS u \
         ON CONFLICT DO NOTHING",
    )
    .bind(&users)
    .bind(message.room_id)
    .bind(id)
    .execute(connection)
    .await?;
    Ok(())
}
