//! Chat message queries: group-committed inserts (called by the single writer task only) and the
//! history reads (newest page, catch-up since an id, older pages) served from the read pool.

use super::rows::message_from_row;
use super::SqliteStore;
use crate::store::{NewMessage, StoreError, View};
use app::models::ChatMessage;
use app::protocol::REPLY_EXCERPT_CHARS;
use sqlx::{Acquire, Row};

/// The SQL side of a [`View`].
trait ViewSql {
    fn conditions(&self) -> &'static str;
    fn binds(&self) -> Vec<i64>;
}

impl ViewSql for View {
    /// The conditions that select this view's messages: `?3` is the room, `?4` the viewer.
    fn conditions(&self) -> &'static str {
        match (self.room.is_some(), self.viewer.is_some()) {
            (true, true) => {
                " AND m.room_id = ?3 AND m.sender_id NOT IN (SELECT ignored_id FROM ignores WHERE user_id = ?4)"
            }
            (true, false) => " AND m.room_id = ?3",
            // `+m.room_id`: walk the messages in id order from the cursor and keep those of the
            // viewer's rooms, rather than gather every message of those rooms through the room
            // index and sort them all for one page.
            (false, true) => {
                " AND +m.room_id IN (SELECT room_id FROM room_members WHERE user_id = ?4) \
                 AND m.sender_id NOT IN (SELECT ignored_id FROM ignores WHERE user_id = ?4)"
            }
            (false, false) => "",
        }
    }

    /// The values of `?3` and `?4`, as many as the conditions use.
    fn binds(&self) -> Vec<i64> {
        match (self.room, self.viewer) {
            (room, Some(viewer)) => vec![room.unwrap_or(0), viewer],
            (Some(room), None) => vec![room],
            (None, None) => Vec::new(),
        }
    }
}

/// Rows per INSERT statement for a large batch; a remainder of at most [`EXACT_ROWS`] rows gets
/// a statement of its own size. A batch of up to `EXACT_ROWS` messages (every batch at ordinary
/// rates) is therefore one INSERT (then one per search index, in one transaction). Few distinct
/// statements, so all stay prepared.
const LARGE_CHUNKS: [usize; 2] = [256, 64];
const EXACT_ROWS: usize = 16;

/// Rows in the next statement for `rest` rows still to insert.
fn chunk_size(rest: usize) -> usize {
    LARGE_CHUNKS.into_iter().find(|&n| n <= rest).unwrap_or(rest.min(EXACT_ROWS))
}

/// `INSERT OR IGNORE ... SELECT ... FROM (VALUES (...), (...)) ... RETURNING ...` for `rows`
/// rows (a size [`chunk_size`] gives), built once per size. Rows of a blocked sender, and rows
/// for a conversation their sender is not in or that is archived, are left out by the statement
/// itself (atomically with any block, leave or archive committed before it); the rest get their
/// ids in VALUES order (the last column numbers them).
fn insert_sql(rows: usize) -> &'static str {
    static SQL: std::sync::OnceLock<Vec<(usize, String)>> = std::sync::OnceLock::new();
    let all = SQL.get_or_init(|| {
        (1..=EXACT_ROWS)
            .chain(LARGE_CHUNKS)
            .map(|n| {
                let values: Vec<String> = (0..n).map(|i| format!("(?, ?, ?, ?, ?, ?, ?, ?, ?, {i})")).collect();
                let sql = format!(
                    "INSERT OR IGNORE INTO messages (sender_id, content, client_id, created_at, room_id, reply_to, \
                                                     mentions, search_text, search_words) \
                     SELECT column1, column2, column3, column4, column5, column6, column7, column8, column9 \
                     FROM (VALUES {}) \
                     WHERE EXISTS (SELECT 1 FROM users WHERE users.id = column1 AND users.is_blocked = 0) \
                     AND EXISTS (SELECT 1 FROM room_members JOIN rooms ON rooms.id = room_members.room_id \
                                 WHERE room_members.room_id = column5 AND room_members.user_id = column1 \
                                   AND rooms.archived = 0) \
                     ORDER BY column10 \
                     RETURNING id, sender_id, client_id, room_id",
                    values.join(", ")
                );
                (n, sql)
            })
            .collect()
    });
    all.iter().find(|(n, _)| *n == rows).map(|(_, sql)| sql.as_str()).expect("a chunk size")
}

/// Inserts one chunk and appends the id of each of its messages to `ids`, or `None` for a
/// message ignored as a retry of a stored `client_id` or left out as a blocked sender's (or
/// for a conversation it may not post in). Ids are assigned in VALUES order, so the returned
/// rows sorted by id line up with the inserted messages (all of one sender's messages in one
/// conversation share their fate, so matching by sender, client id and room stays exact).
async fn insert_chunk(
    connection: &mut sqlx::SqliteConnection,
    chunk: &[NewMessage],
    created_at: &str,
    ids: &mut Vec<Option<i64>>,
) -> Result<(), sqlx::Error> {
    let mut query = sqlx::query(insert_sql(chunk.len()));
    for message in chunk {
        let (search_text, search_words) = message.search_columns();
        query = query
            .bind(message.sender_id)
            .bind(&message.content)
            .bind(&message.client_id)
            .bind(created_at)
            .bind(message.room_id)
            .bind(message.reply_to.as_ref().map(|reply| reply.id))
            .bind(message.mention_names())
            .bind(search_text)
            .bind(search_words);
    }
    let mut inserted = query
        .fetch_all(&mut *connection)
        .await?
        .iter()
        .map(|row| Ok((row.try_get::<i64, _>(0)?, (row.try_get(1)?, row.try_get(2)?, row.try_get(3)?))))
        .collect::<Result<Vec<(i64, (i64, Option<String>, i64))>, sqlx::Error>>()?;
    inserted.sort_unstable_by_key(|row| row.0);
    let mut inserted = inserted.into_iter().peekable();
    for message in chunk {
        let id = inserted
            .next_if(|(_, (sender, client_id, room_id))| {
                *sender == message.sender_id && *client_id == message.client_id && *room_id == message.room_id
            })
            .map(|(id, _)| id);
        ids.push(id);
    }
    // Every inserted row matched a message of the chunk (SQLite numbers the rows in the
    // statement's ORDER BY); one that did not would be stored and never broadcast.
    let unmatched = inserted.count();
    if unmatched > 0 {
        tracing::error!(unmatched, "inserted messages that match no message of the batch");
        debug_assert_eq!(unmatched, 0, "inserted rows out of VALUES order");
    }
    let first = ids.len() - chunk.len();
    for (message, id) in chunk.iter().zip(&ids[first..]) {
        if let Some(id) = id {
            record_mentions(connection, message, *id).await?;
            link_attachments(connection, message, *id).await?;
        }
    }
    Ok(())
}

/// Gives message `id` its files: its `attachments` column, and each claimed upload its message
/// (only messages posting files pay for this).
async fn link_attachments(
    connection: &mut sqlx::SqliteConnection,
    message: &NewMessage,
    id: i64,
) -> Result<(), sqlx::Error> {
    let Some(claim) = message.claim.as_deref().filter(|_| !message.attachments.is_empty()) else {
        return Ok(());
    };
    sqlx::query("UPDATE messages SET attachments = ?2 WHERE id = ?1")
        .bind(id)
        .bind(message.attachments_json())
        .execute(&mut *connection)
        .await?;
    sqlx::query("UPDATE uploads SET message_id = ?2, room_id = ?3, claim = NULL, claimed_at = NULL WHERE claim = ?1")
        .bind(claim)
        .bind(id)
        .bind(message.room_id)
        .execute(&mut *connection)
        .await?;
    Ok(())
}

/// Records who message `id` mentions (what their rooms' `mentions` counts read).
pub(super) async fn record_mentions(
    connection: &mut sqlx::SqliteConnection,
    message: &NewMessage,
    id: i64,
) -> Result<(), sqlx::Error> {
    for (user, _) in &message.mentions {
        sqlx::query("INSERT OR IGNORE INTO message_mentions (user_id, room_id, message_id) VALUES (?1, ?2, ?3)")
            .bind(user)
            .bind(message.room_id)
            .bind(id)
            .execute(&mut *connection)
            .await?;
    }
    Ok(())
}

/// A message with its sender's name, its conversation's, and the message it answers as it is
/// now (see `message_from_row`).
pub(super) static SELECT_MESSAGE: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    format!(
        "SELECT m.id, m.sender_id, u.username, m.content, m.created_at, m.room_id, \
           CASE r.kind WHEN 'dm' THEN 'dm' ELSE r.name END AS room, m.client_id, m.removed, \
           m.edited_at, m.deleted, m.mentions, m.attachments, m.reply_to AS reply_id, ru.username AS reply_username, \
           CASE WHEN rm.deleted OR rm.removed THEN '' ELSE substr(rm.content, 1, {REPLY_EXCERPT_CHARS}) END \
             AS reply_excerpt, \
           (rm.deleted OR rm.removed) AS reply_gone \
         FROM messages m JOIN users u ON u.id = m.sender_id JOIN rooms r ON r.id = m.room_id \
           LEFT JOIN messages rm ON rm.id = m.reply_to LEFT JOIN users ru ON ru.id = rm.sender_id"
    )
});

impl SqliteStore {
    /// Commits the rows of `batch`; the id of each (`None` for a retry of a stored `client_id`
    /// or a refusal), and the newest room change committed before them (read with the writer
    /// connection held: no change can commit in between).
    pub(crate) async fn insert_rows(
        &self,
        batch: &[NewMessage],
        created_at: &str,
    ) -> Result<(Vec<Option<i64>>, i64), sqlx::Error> {
        let mut ids = Vec::with_capacity(batch.len());
        let mut connection = self.writer().acquire().await?;
        let mut tx = connection.begin().await?;
        let mut rest = batch;
        while !rest.is_empty() {
            let (chunk, tail) = rest.split_at(chunk_size(rest.len()));
            insert_chunk(&mut tx, chunk, created_at, &mut ids).await?;
            rest = tail;
        }
        // The batch's ids are consecutive (one writer): both search indexes take them in one
        // statement each, in the batch's transaction.
        let inserted = ids.iter().flatten();
        if let (Some(first), Some(last)) = (inserted.clone().min(), inserted.max()) {
            sqlx::query(
                "INSERT INTO message_trigrams (rowid, search_text) \
                 SELECT id, search_text FROM messages WHERE id BETWEEN ?1 AND ?2",
            )
            .bind(first)
            .bind(last)
            .execute(&mut *tx)
            .await?;
            sqlx::query(
                "INSERT INTO message_words (rowid, search_words) \
                 SELECT id, search_words FROM messages WHERE id BETWEEN ?1 AND ?2 AND search_words != ''",
            )
            .bind(first)
            .bind(last)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok((ids, self.feed_head()))
    }

    /// The message `sender` stored under `client_id` (`RowNotFound` when none), and whether its
    /// sender is still in its conversation.
    pub(crate) async fn message_by_client_id(
        &self,
        sender: i64,
        client_id: &str,
    ) -> Result<(ChatMessage, bool), sqlx::Error> {
        let sql = format!(
            "SELECT * FROM ({}) WHERE sender_id = ?1 AND client_id = ?2",
            SELECT_MESSAGE.replace(
                "m.client_id, m.removed,",
                "m.client_id, m.removed, EXISTS (SELECT 1 FROM room_members me \
                   WHERE me.room_id = m.room_id AND me.user_id = m.sender_id) AS still_member,"
            )
        );
        let row = sqlx::query(&sql).bind(sender).bind(client_id).fetch_one(self.reader()).await?;
        let mut message = message_from_row(&row)?;
        self.attach_reactions(std::slice::from_mut(&mut message), Some(sender)).await?;
        Ok((message, row.try_get("still_member")?))
    }

    /// The newest `limit` messages of `view`, oldest first.
    pub async fn latest_messages(&self, view: View, limit: i64) -> Result<Vec<ChatMessage>, StoreError> {
        let sql = format!("{} WHERE m.id < ?1{} ORDER BY m.id DESC LIMIT ?2", *SELECT_MESSAGE, view.conditions());
        let mut messages = self.fetch_messages(&sql, &[i64::MAX, limit], view).await?;
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
        let sql = format!("{} WHERE m.id > ?1{} ORDER BY m.id ASC LIMIT ?2", *SELECT_MESSAGE, view.conditions());
        let mut messages = self.fetch_messages(&sql, &[since, limit + 1], view).await?;
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
        let sql = format!("{} WHERE m.id < ?1{} ORDER BY m.id DESC LIMIT ?2", *SELECT_MESSAGE, view.conditions());
        self.fetch_messages(&sql, &[before.unwrap_or(i64::MAX), limit], view).await
    }

    /// The newest message id of all (0 before the first).
    pub async fn newest_message_id(&self) -> Result<i64, StoreError> {
        let id: Option<i64> = sqlx::query_scalar("SELECT MAX(id) FROM messages").fetch_one(self.reader()).await?;
        Ok(id.unwrap_or(0))
    }

    async fn fetch_messages(&self, sql: &str, binds: &[i64], view: View) -> Result<Vec<ChatMessage>, StoreError> {
        let mut query = sqlx::query(sql);
        for value in binds.iter().copied().chain(view.binds()) {
            query = query.bind(value);
        }
        let rows = query.fetch_all(self.reader()).await?;
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
        let ids = serde_json::to_string(&messages.iter().map(|m| m.id).collect::<Vec<_>>()).unwrap_or_default();
        let rows: Vec<(i64, String, i64, bool, i64)> = sqlx::query_as(
            "SELECT message_id, emoji, COUNT(*), MAX(user_id = ?2), MIN(id) AS first FROM message_reactions \
             WHERE message_id IN (SELECT value FROM json_each(?1)) GROUP BY message_id, emoji \
             ORDER BY message_id, first",
        )
        .bind(ids)
        .bind(viewer.unwrap_or(0))
        .fetch_all(self.reader())
        .await?;
        crate::store::attach_reactions(messages, rows.into_iter().map(|(m, e, n, me, _)| (m, e, n, me)));
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Stored;

    async fn store_with_user() -> (tempfile::TempDir, crate::store::Store, i64) {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("m.db").display());
        let store = crate::store::Store::open(&url, &crate::store::StoreOptions::new(1, "NORMAL")).await.unwrap();
        let user = store.create_user("u", "u@x.io", "h").await.unwrap();
        (dir, store, user.id)
    }

    fn message(sender_id: i64, content: &str, client_id: Option<&str>) -> NewMessage {
        NewMessage {
            sender_id,
            username: "u".into(),
            room_id: app::protocol::GENERAL_ROOM_ID,
            room: "general".into(),
            content: content.into(),
            client_id: client_id.map(Into::into),
            ..Default::default()
        }
    }

    #[tokio::test]
    async fn new_messages_stay_stored_and_reported_when_an_original_cannot_be_read_back() {
        let (_dir, store, user) = store_with_user().await;
        store.insert_batch(&[message(user, "first", Some("a"))]).await.unwrap();
        // Originals are read back from the read pool after the commit; make that read fail.
        let sqlite = store.as_sqlite().unwrap();
        sqlite.reader().close().await;
        let batch = [message(user, "again", Some("a")), message(user, "new", Some("n"))];
        let stored = store.insert_batch(&batch).await.unwrap();
        let new_id = match stored.stored.as_slice() {
            [Stored::DuplicateUnread, Stored::New(new)] => new.id,
            _ => panic!("stored wrongly"),
        };
        let content: String = sqlx::query_scalar("SELECT content FROM messages WHERE id = ?1")
            .bind(new_id)
            .fetch_one(sqlite.writer())
            .await
            .unwrap();
        assert_eq!(content, "new");
    }

    #[test]
    fn statements_cover_a_batch_exactly_with_few_distinct_sizes() {
        let sizes = |mut rest: usize| {
            let mut out = Vec::new();
            while rest > 0 {
                out.push(chunk_size(rest));
                insert_sql(chunk_size(rest));
                rest -= chunk_size(rest);
            }
            out
        };
        assert_eq!(sizes(1), [1]);
        assert_eq!(sizes(16), [16]);
        assert_eq!(sizes(17), [16, 1]);
        assert_eq!(sizes(100), [64, 16, 16, 4]);
        assert_eq!(sizes(1024), [256; 4]);
    }
}
