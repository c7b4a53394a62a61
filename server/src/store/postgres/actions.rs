//! Message actions on PostgreSQL (migration 0005): edits and deletions (every version kept for
//! admins in `message_versions`), reactions, mentions, the catch-up of changes in feed order,
//! and search over the `pg_trgm` index of the folded text and the GIN index of its words (the rules are `crate::search`'s).
//!
//! Each change writes its room-change feed entry in its own transaction and stamps the message
//! with it (`change_seq`), so every node tells its members in order with everything else, and
//! a reconnecting client asks for the messages changed after the newest entry it saw.

use super::feed::record_detail;
use super::messages::{record_mentions, SELECT_MESSAGE};
use super::rows::{message_from_row, version_from_row};
use super::PgStore;
use crate::search::TermKind;
use crate::store::StoreError;
use crate::store::{
    now_rfc3339, past_window, search_columns, Change, Deletion, Edit, NewMessage, Reacting, SearchRequest,
};
use app::models::{ChatMessage, MessageVersions};
use sqlx::Row;

/// A message's facts that decide what may be done with it, as `user` stands towards it.
const FACTS: &str = "SELECT m.room_id, m.sender_id, m.content, m.created_at, m.deleted, m.removed, r.archived, \
                     EXISTS (SELECT 1 FROM room_members WHERE room_id = m.room_id AND user_id = $2) AS member \
                     FROM messages m JOIN rooms r ON r.id = m.room_id WHERE m.id = $1 FOR NO KEY UPDATE OF m";

/// Keeps the original text of message `id` as its first version, unless it has versions already.
async fn keep_original(tx: &mut sqlx::PgConnection, id: i64, row: &sqlx::postgres::PgRow) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO message_versions (message_id, kind, content, user_id, created_at) \
         SELECT $1, 'original', $2, $3, $4 WHERE NOT EXISTS (SELECT 1 FROM message_versions WHERE message_id = $1)",
    )
    .bind(id)
    .bind(row.try_get::<String, _>("content")?)
    .bind(row.try_get::<i64, _>("sender_id")?)
    .bind(row.try_get::<String, _>("created_at")?)
    .execute(&mut *tx)
    .await?;
    Ok(())
}

/// Why a message lost its text.
#[derive(Clone, Copy)]
pub(super) enum Gone {
    Deleted,
    Removed,
}

/// Empties message `id` in place for everyone (`deleted` or `removed`, as `gone` says), takes it
/// out of search and of its mentions' counts, and stamps it with its change, feed entry `seq`.
pub(super) async fn empty_message(
    tx: &mut sqlx::PgConnection,
    id: i64,
    seq: i64,
    gone: Gone,
) -> Result<(), sqlx::Error> {
    let flag = match gone {
        Gone::Deleted => "deleted",
        Gone::Removed => "removed",
    };
    let sql = format!(
        "UPDATE messages SET content = '', {flag} = TRUE, mentions = '', attachments = NULL, search_text = '', search_words = '{{}}', \
         change_seq = $2 WHERE id = $1"
    );
    sqlx::query(&sql).bind(id).bind(seq).execute(&mut *tx).await?;
    sqlx::query("DELETE FROM message_mentions WHERE message_id = $1").bind(id).execute(&mut *tx).await?;
    // Its files go with it: expired at once, the sweep deletes their bytes.
    sqlx::query("UPDATE uploads SET message_id = NULL, room_id = NULL, created_at = '' WHERE message_id = $1")
        .bind(id)
        .execute(&mut *tx)
        .await?;
    Ok(())
}

impl PgStore {
    /// The members of `room` among `names` (lowercase usernames): `(id, username)` each.
    pub async fn mention_targets(&self, room: i64, names: &[String]) -> Result<Vec<(i64, String)>, StoreError> {
        if names.is_empty() {
            return Ok(Vec::new());
        }
        let rows: Vec<(i64, String)> = sqlx::query_as(
            "SELECT u.id, u.username FROM users u \
             WHERE lower(u.username) = ANY($2) \
               AND EXISTS (SELECT 1 FROM room_members WHERE room_id = $1 AND user_id = u.id)",
        )
        .bind(room)
        .bind(names)
        .fetch_all(self.pool())
        .await?;
        Ok(rows)
    }

    /// A message as `viewer` sees it (their reactions), if they are in its conversation.
    pub async fn message_for(&self, id: i64, viewer: i64) -> Result<Option<ChatMessage>, StoreError> {
        let sql = format!(
            "{} WHERE m.id = $1 AND EXISTS (SELECT 1 FROM room_members WHERE room_id = m.room_id AND user_id = $2)",
            *SELECT_MESSAGE
        );
        let row = sqlx::query(&sql).bind(id).bind(viewer).fetch_optional(self.pool()).await?;
        let Some(row) = row else { return Ok(None) };
        let mut message = message_from_row(&row)?;
        self.attach_reactions(std::slice::from_mut(&mut message), Some(viewer)).await?;
        Ok(Some(message))
    }

    /// Who reacted to message `id` with what: `(user id, emoji)`.
    pub async fn reactors(&self, id: i64) -> Result<Vec<(i64, String)>, StoreError> {
        let rows = sqlx::query_as("SELECT user_id, emoji FROM message_reactions WHERE message_id = $1 ORDER BY id")
            .bind(id)
            .fetch_all(self.pool())
            .await?;
        Ok(rows)
    }

    /// How many reacted to message `id` with `emoji`.
    pub async fn reaction_count(&self, id: i64, emoji: &str) -> Result<i64, StoreError> {
        let count =
            sqlx::query_scalar("SELECT COUNT(*)::bigint FROM message_reactions WHERE message_id = $1 AND emoji = $2")
                .bind(id)
                .bind(emoji)
                .fetch_one(self.pool())
                .await?;
        Ok(count)
    }

    /// Edits message `id` as `editor`: its text, mentions and search columns, a version kept.
    pub async fn edit_message(
        &self,
        id: i64,
        editor: i64,
        edit: &NewMessage,
        window_secs: u64,
    ) -> Result<Edit, StoreError> {
        let mut tx = self.pool().begin().await?;
        let Some(row) = sqlx::query(FACTS).bind(id).bind(editor).fetch_optional(&mut *tx).await? else {
            return Ok(Edit::NotFound);
        };
        let (room, sender): (i64, i64) = (row.try_get("room_id")?, row.try_get("sender_id")?);
        if !row.try_get::<bool, _>("member")?
            || row.try_get::<bool, _>("deleted")?
            || row.try_get::<bool, _>("removed")?
        {
            return Ok(Edit::NotFound);
        }
        if sender != editor {
            return Ok(Edit::NotSender);
        }
        if row.try_get::<bool, _>("archived")? {
            return Ok(Edit::Archived);
        }
        if past_window(&row.try_get::<String, _>("created_at")?, window_secs) {
            return Ok(Edit::TooLate);
        }
        if row.try_get::<String, _>("content")? == edit.content {
            drop(tx);
            let message = self.message_for(id, editor).await?;
            return Ok(message.map_or(Edit::NotFound, Edit::Unchanged));
        }
        let now = now_rfc3339();
        keep_original(&mut tx, id, &row).await?;
        sqlx::query(
            "INSERT INTO message_versions (message_id, kind, content, user_id, created_at) VALUES ($1, 'edit', $2, $3, $4)",
        )
        .bind(id)
        .bind(&edit.content)
        .bind(editor)
        .bind(&now)
        .execute(&mut *tx)
        .await?;
        let seq = record_detail(&mut tx, Change::MessageEdited { room, message: id, user: editor }, None).await?;
        let (search_text, search_words) = edit.search_columns();
        sqlx::query(
            "UPDATE messages SET content = $2, edited_at = $3, mentions = $4, search_text = $5, search_words = string_to_array($6, ' '), \
             change_seq = $7 WHERE id = $1",
        )
        .bind(id)
        .bind(&edit.content)
        .bind(&now)
        .bind(edit.mention_names())
        .bind(search_text)
        .bind(search_words)
        .bind(seq)
        .execute(&mut *tx)
        .await?;
        sqlx::query("DELETE FROM message_mentions WHERE message_id = $1").bind(id).execute(&mut *tx).await?;
        record_mentions(&mut tx, edit, id).await?;
        tx.commit().await?;
        let message = self.message_by_id(id).await?;
        Ok(message.map_or(Edit::NotFound, |message| Edit::Edited { message, seq }))
    }

    /// Deletes message `id` for everyone, as `actor` (its sender, or an admin anywhere).
    pub async fn delete_message(&self, id: i64, actor: i64, admin: bool) -> Result<Deletion, StoreError> {
        let mut tx = self.pool().begin().await?;
        let Some(row) = sqlx::query(FACTS).bind(id).bind(actor).fetch_optional(&mut *tx).await? else {
            return Ok(Deletion::NotFound);
        };
        let (room, sender): (i64, i64) = (row.try_get("room_id")?, row.try_get("sender_id")?);
        if !admin && !row.try_get::<bool, _>("member")? {
            return Ok(Deletion::NotFound);
        }
        if row.try_get::<bool, _>("deleted")? || row.try_get::<bool, _>("removed")? {
            return Ok(Deletion::Already);
        }
        if !admin && sender != actor {
            return Ok(Deletion::Forbidden);
        }
        let now = now_rfc3339();
        keep_original(&mut tx, id, &row).await?;
        sqlx::query(
            "INSERT INTO message_versions (message_id, kind, content, user_id, created_at) \
             VALUES ($1, 'delete', $2, $3, $4)",
        )
        .bind(id)
        .bind(row.try_get::<String, _>("content")?)
        .bind(actor)
        .bind(&now)
        .execute(&mut *tx)
        .await?;
        if sender != actor {
            sqlx::query(
                "INSERT INTO audit_log (admin_id, action, target_user_id, room_id, created_at, message_id) \
                 VALUES ($1, 'delete_message', $2, $3, $4, $5)",
            )
            .bind(actor)
            .bind(sender)
            .bind(room)
            .bind(&now)
            .bind(id)
            .execute(&mut *tx)
            .await?;
        }
        let seq = record_detail(&mut tx, Change::MessageDeleted { room, message: id, user: actor }, None).await?;
        empty_message(&mut tx, id, seq, Gone::Deleted).await?;
        sqlx::query("DELETE FROM message_reactions WHERE message_id = $1").bind(id).execute(&mut *tx).await?;
        tx.commit().await?;
        Ok(Deletion::Deleted { room, seq })
    }

    /// Adds (`add`) or takes back `user`'s reaction `emoji` to message `id`; a message carries
    /// at most `max_distinct` distinct emoji.
    pub async fn react(
        &self,
        id: i64,
        user: i64,
        emoji: &str,
        add: bool,
        max_distinct: i64,
    ) -> Result<Reacting, StoreError> {
        let mut tx = self.pool().begin().await?;
        let Some(row) = sqlx::query(FACTS).bind(id).bind(user).fetch_optional(&mut *tx).await? else {
            return Ok(Reacting::NotFound);
        };
        let room: i64 = row.try_get("room_id")?;
        if !row.try_get::<bool, _>("member")?
            || row.try_get::<bool, _>("deleted")?
            || row.try_get::<bool, _>("removed")?
        {
            return Ok(Reacting::NotFound);
        }
        if row.try_get::<bool, _>("archived")? {
            return Ok(Reacting::Archived);
        }
        let changed = if add {
            let (mine, used, distinct): (bool, bool, i64) = sqlx::query_as(
                "SELECT EXISTS (SELECT 1 FROM message_reactions WHERE message_id = $1 AND emoji = $2 AND user_id = $3), \
                        EXISTS (SELECT 1 FROM message_reactions WHERE message_id = $1 AND emoji = $2), \
                        (SELECT COUNT(DISTINCT emoji)::bigint FROM message_reactions WHERE message_id = $1)",
            )
            .bind(id)
            .bind(emoji)
            .bind(user)
            .fetch_one(&mut *tx)
            .await?;
            if mine {
                return Ok(Reacting::Unchanged);
            }
            if !used && distinct >= max_distinct {
                return Ok(Reacting::TooMany);
            }
            sqlx::query("INSERT INTO message_reactions (message_id, emoji, user_id) VALUES ($1, $2, $3)")
                .bind(id)
                .bind(emoji)
                .bind(user)
                .execute(&mut *tx)
                .await?;
            true
        } else {
            sqlx::query("DELETE FROM message_reactions WHERE message_id = $1 AND emoji = $2 AND user_id = $3")
                .bind(id)
                .bind(emoji)
                .bind(user)
                .execute(&mut *tx)
                .await?
                .rows_affected()
                > 0
        };
        if !changed {
            return Ok(Reacting::Unchanged);
        }
        let seq = record_detail(&mut tx, Change::Reacted { room, message: id, user, added: add }, Some(emoji)).await?;
        sqlx::query("UPDATE messages SET change_seq = $2 WHERE id = $1").bind(id).bind(seq).execute(&mut *tx).await?;
        tx.commit().await?;
        Ok(Reacting::Changed { seq })
    }

    /// Every version of message `id`, oldest first, and the message as members see it now.
    pub async fn message_versions(&self, id: i64) -> Result<Option<MessageVersions>, StoreError> {
        let Some(message) = self.message_by_id(id).await? else { return Ok(None) };
        let rows = sqlx::query(
            "SELECT kind, content, username, created_at, reason FROM ( \
               SELECT v.id AS ord, v.kind, v.content, u.username, v.created_at, NULL::text AS reason \
               FROM message_versions v JOIN users u ON u.id = v.user_id WHERE v.message_id = $1 \
               UNION ALL \
               SELECT 9223372036854775807, 'removal', r.content, u.username, r.created_at, r.reason \
               FROM message_removals r JOIN users u ON u.id = r.admin_id WHERE r.message_id = $1) AS all_versions \
             ORDER BY ord",
        )
        .bind(id)
        .fetch_all(self.pool())
        .await?;
        let versions = rows.iter().map(version_from_row).collect::<Result<Vec<_>, _>>()?;
        Ok(Some(crate::store::complete_versions(message, versions)))
    }

    /// The messages `viewer` holds (ids up to `since`, in their conversations, not of people
    /// they ignore) changed after feed entry `changes`, in change order, at most `limit`; `true`
    /// when more remain.
    pub async fn changes_since(
        &self,
        viewer: i64,
        changes: i64,
        since: i64,
        limit: i64,
    ) -> Result<(Vec<ChatMessage>, bool), StoreError> {
        let sql = format!(
            "{} WHERE m.change_seq > 0 AND m.change_seq > $1 AND m.id <= $2 \
               AND m.room_id IN (SELECT room_id FROM room_members WHERE user_id = $3) \
               AND m.sender_id NOT IN (SELECT ignored_id FROM ignores WHERE user_id = $3) \
             ORDER BY m.change_seq LIMIT $4",
            *SELECT_MESSAGE
        );
        let rows =
            sqlx::query(&sql).bind(changes).bind(since).bind(viewer).bind(limit + 1).fetch_all(self.pool()).await?;
        let mut messages = rows.iter().map(message_from_row).collect::<Result<Vec<_>, _>>()?;
        let more = messages.len() as i64 > limit;
        messages.truncate(usize::try_from(limit).unwrap_or(0));
        self.attach_reactions(&mut messages, Some(viewer)).await?;
        Ok((messages, more))
    }

    /// The newest feed entry that changed a message (0 when none has).
    pub async fn latest_message_change(&self) -> Result<i64, StoreError> {
        let seq: Option<i64> = sqlx::query_scalar("SELECT MAX(change_seq) FROM messages WHERE change_seq > 0")
            .fetch_one(self.pool())
            .await?;
        Ok(seq.unwrap_or(0))
    }

    /// Searches as `request` says, newest first (matching rules: `crate::search`).
    pub async fn search(&self, request: &SearchRequest) -> Result<Vec<ChatMessage>, StoreError> {
        let query = &request.query;
        let mut binds: Vec<Bind> = Vec::new();
        let next = |bind: Bind, binds: &mut Vec<Bind>| {
            binds.push(bind);
            format!("${}", binds.len())
        };
        let mut sql = format!("{} WHERE NOT m.deleted AND NOT m.removed", *SELECT_MESSAGE);
        for term in &query.terms {
            match term.kind {
                TermKind::Substring => {
                    let pattern = next(Bind::Text(crate::search::like_contains(&term.text)), &mut binds);
                    sql.push_str(&format!(" AND m.search_text LIKE {pattern}"));
                }
                TermKind::Words => {
                    let tokens = next(Bind::Texts(term.tokens.clone()), &mut binds);
                    let text = next(Bind::Text(term.text.clone()), &mut binds);
                    sql.push_str(&format!(
                        " AND m.search_words @> {tokens}::text[] AND strpos(m.search_text, {text}) > 0"
                    ));
                }
            }
        }
        // Read access in the query itself: the conversations the searcher is in now, and with
        // `public`, the public rooms they could join.
        let viewer = next(Bind::Int(request.viewer), &mut binds);
        sql.push_str(&format!(" AND (m.room_id IN (SELECT room_id FROM room_members WHERE user_id = {viewer})"));
        if request.public {
            sql.push_str(&format!(
                " OR m.room_id IN (SELECT id FROM rooms WHERE kind = 'public' AND NOT archived \
                   AND id NOT IN (SELECT room_id FROM room_bans WHERE user_id = {viewer}))"
            ));
        }
        sql.push_str(&format!(") AND m.sender_id NOT IN (SELECT ignored_id FROM ignores WHERE user_id = {viewer})"));
        if let Some(room) = request.room {
            let room = next(Bind::Int(room), &mut binds);
            sql.push_str(&format!(" AND m.room_id = {room}"));
        }
        if let Some(before) = request.before {
            let before = next(Bind::Int(before), &mut binds);
            sql.push_str(&format!(" AND m.id < {before}"));
        }
        if let Some(from) = &query.from {
            let from = next(Bind::Text(from.clone()), &mut binds);
            sql.push_str(&format!(" AND lower(u.username) = {from}"));
        }
        if let Some(room) = &query.in_room {
            let room = next(Bind::Text(room.clone()), &mut binds);
            sql.push_str(&format!(" AND lower(r.name) = {room}"));
        }
        if let Some(date) = query.before {
            let date = next(Bind::Text(date.format("%Y-%m-%d").to_string()), &mut binds);
            sql.push_str(&format!(" AND m.created_at < {date}"));
        }
        if let Some(date) = query.after.and_then(|date| date.succ_opt()) {
            let date = next(Bind::Text(date.format("%Y-%m-%d").to_string()), &mut binds);
            sql.push_str(&format!(" AND m.created_at >= {date}"));
        }
        if query.has_reply {
            sql.push_str(" AND m.reply_to IS NOT NULL");
        }
        let limit = next(Bind::Int(request.limit), &mut binds);
        sql.push_str(&format!(" ORDER BY m.id DESC LIMIT {limit}"));
        let mut statement = sqlx::query(&sql);
        for bind in binds {
            statement = match bind {
                Bind::Int(value) => statement.bind(value),
                Bind::Text(value) => statement.bind(value),
                Bind::Texts(value) => statement.bind(value),
            };
        }
        let rows = statement.fetch_all(self.pool()).await?;
        let mut messages = rows.iter().map(message_from_row).collect::<Result<Vec<_>, _>>()?;
        self.attach_reactions(&mut messages, Some(request.viewer)).await?;
        Ok(messages)
    }

    /// Indexes for search up to `limit` messages stored before search existed (migration 0008);
    /// how many it indexed (0: none is left).
    pub async fn index_for_search(&self, limit: i64) -> Result<u64, StoreError> {
        let rows: Vec<(i64, String)> =
            sqlx::query_as("SELECT id, content FROM messages WHERE search_text IS NULL ORDER BY id LIMIT $1")
                .bind(limit)
                .fetch_all(self.pool())
                .await?;
        if rows.is_empty() {
            return Ok(0);
        }
        let ids: Vec<i64> = rows.iter().map(|(id, _)| *id).collect();
        let (texts, words): (Vec<String>, Vec<String>) =
            rows.iter().map(|(_, content)| search_columns(content)).unzip();
        sqlx::query(
            "UPDATE messages m SET search_text = v.text, search_words = string_to_array(v.words, ' ') \
             FROM UNNEST($1::bigint[], $2::text[], $3::text[]) AS v(id, text, words) \
             WHERE m.id = v.id AND m.search_text IS NULL",
        )
        .bind(&ids)
        .bind(&texts)
        .bind(&words)
        .execute(self.pool())
        .await?;
        Ok(rows.len() as u64)
    }
}

/// A value bound to a search query's next `?`.
enum Bind {
    Int(i64),
    Text(String),
    Texts(Vec<String>),
}
