//! Chat message queries: group-committed inserts (called by the single writer task only) and the
//! history reads (newest page, catch-up since an id, older pages) served from the read pool.

use super::{Store, StoreError};
use app::models::ChatMessage;
use sqlx::Row;

/// A message accepted for storage.
pub struct NewMessage {
    pub sender_id: i64,
    pub username: String,
    pub content: String,
    pub client_id: Option<String>,
}

/// What storing one message of a batch gave.
pub enum Stored {
    /// Inserted now: broadcast it.
    New(ChatMessage),
    /// Its `client_id` was stored before (a retry): acknowledge with the original, no broadcast.
    Duplicate(ChatMessage),
}

const SELECT_MESSAGE: &str = "SELECT m.id, u.username, m.content, m.created_at, m.room, m.client_id \
                              FROM messages m JOIN users u ON u.id = m.sender_id";

impl Store {
    /// Inserts a batch in one transaction (one fsync for all of it). All or nothing.
    pub async fn insert_batch(&self, batch: &[NewMessage]) -> Result<Vec<Stored>, StoreError> {
        let mut tx = self.writer().begin().await?;
        let created_at = super::now_rfc3339();
        let mut out = Vec::with_capacity(batch.len());
        for message in batch {
            let inserted: Option<i64> = sqlx::query_scalar(
                "INSERT OR IGNORE INTO messages (sender_id, content, client_id, created_at) \
                 VALUES (?1, ?2, ?3, ?4) RETURNING id",
            )
            .bind(message.sender_id)
            .bind(&message.content)
            .bind(&message.client_id)
            .bind(&created_at)
            .fetch_optional(&mut *tx)
            .await?;
            let stored = match inserted {
                Some(id) => Stored::New(ChatMessage {
                    id,
                    username: message.username.clone(),
                    content: message.content.clone(),
                    timestamp: created_at.clone(),
                    room: "general".into(),
                    client_id: message.client_id.clone(),
                }),
                None => {
                    let sql = format!("{SELECT_MESSAGE} WHERE m.sender_id = ?1 AND m.client_id = ?2");
                    let row = sqlx::query(&sql)
                        .bind(message.sender_id)
                        .bind(&message.client_id)
                        .fetch_one(&mut *tx)
                        .await?;
                    Stored::Duplicate(message_from_row(&row)?)
                }
            };
            out.push(stored);
        }
        tx.commit().await?;
        Ok(out)
    }

    /// The newest `limit` messages, oldest first.
    pub async fn latest_messages(&self, limit: i64) -> Result<Vec<ChatMessage>, StoreError> {
        let sql = format!("{SELECT_MESSAGE} ORDER BY m.id DESC LIMIT ?1");
        let mut messages = self.fetch_messages(&sql, &[limit]).await?;
        messages.reverse();
        Ok(messages)
    }

    /// Messages with id > `since`, oldest first, at most `limit`; `true` when more remain.
    pub async fn messages_since(&self, since: i64, limit: i64) -> Result<(Vec<ChatMessage>, bool), StoreError> {
        let sql = format!("{SELECT_MESSAGE} WHERE m.id > ?1 ORDER BY m.id ASC LIMIT ?2");
        let mut messages = self.fetch_messages(&sql, &[since, limit + 1]).await?;
        let more = messages.len() as i64 > limit;
        messages.truncate(limit as usize);
        Ok((messages, more))
    }

    /// Messages older than `before` (all when `None`), newest first, at most `limit`.
    pub async fn messages_before(&self, before: Option<i64>, limit: i64) -> Result<Vec<ChatMessage>, StoreError> {
        let sql = format!("{SELECT_MESSAGE} WHERE m.id < ?1 ORDER BY m.id DESC LIMIT ?2");
        self.fetch_messages(&sql, &[before.unwrap_or(i64::MAX), limit]).await
    }

    async fn fetch_messages(&self, sql: &str, binds: &[i64]) -> Result<Vec<ChatMessage>, StoreError> {
        let mut query = sqlx::query(sql);
        for value in binds {
            query = query.bind(*value);
        }
        let rows = query.fetch_all(self.reader()).await?;
        rows.iter().map(message_from_row).collect::<Result<_, _>>().map_err(Into::into)
    }
}

fn message_from_row(row: &sqlx::sqlite::SqliteRow) -> Result<ChatMessage, sqlx::Error> {
    Ok(ChatMessage {
        id: row.try_get("id")?,
        username: row.try_get("username")?,
        content: row.try_get("content")?,
        timestamp: row.try_get("created_at")?,
        room: row.try_get("room")?,
        client_id: row.try_get("client_id")?,
    })
}
