//! Storing a batch of messages, the same on every backend: the backend commits the rows (its own
//! SQL, all or nothing) and says which got an id; what became of the others (a retry of a stored
//! `client_id`, acknowledged with the original; or a refusal) is decided here once.

use super::{now_rfc3339, NewMessage, Store, StoreError, Stored, StoredBatch};
use app::models::ChatMessage;

impl Store {
    /// Stores a batch atomically, refusing (in the insert itself) what a block, leave or archive
    /// committed before it forbids; the result is in the order of `batch`, with the newest room
    /// change committed before the batch. All or nothing: an error means nothing of the batch
    /// was stored.
    pub async fn insert_batch(&self, batch: &[NewMessage]) -> Result<StoredBatch, StoreError> {
        if batch.is_empty() {
            return Ok(StoredBatch { stored: Vec::new(), feed: 0 });
        }
        let created_at = now_rfc3339();
        let (ids, feed) = match self {
            Self::Sqlite(store) => store.insert_rows(batch, &created_at).await?,
            Self::Postgres(store) => store.insert_rows(batch, &created_at).await?,
        };
        // Only after the commit: a failed read of an original cannot undo what was stored.
        let mut out = Vec::with_capacity(batch.len());
        for (message, id) in batch.iter().zip(ids) {
            out.push(match id {
                Some(id) => Stored::New(ChatMessage {
                    id,
                    sender_id: message.sender_id,
                    username: message.username.clone(),
                    content: message.content.clone(),
                    timestamp: created_at.clone(),
                    room: message.room.clone(),
                    room_id: message.room_id,
                    client_id: message.client_id.clone(),
                    reply_to: message.reply_to.clone(),
                    mentions: message.mentions.iter().map(|(_, name)| name.clone()).collect(),
                    attachments: message.attachments.clone(),
                    ..Default::default()
                }),
                None => {
                    // Its files were not posted: they may be posted again at once.
                    if let Some(claim) = &message.claim {
                        if let Err(error) = self.release_claim(claim).await {
                            tracing::warn!(%error, "releasing the files of a message not stored failed");
                        }
                    }
                    self.original_of(message).await
                }
            });
        }
        Ok(StoredBatch { stored: out, feed })
    }

    /// Whether `sender` has a message stored under `client_id` (a retry of it is acknowledged
    /// with the original).
    pub async fn client_id_stored(&self, sender: i64, client_id: &str) -> Result<bool, StoreError> {
        let original = match self {
            Self::Sqlite(store) => store.message_by_client_id(sender, client_id).await,
            Self::Postgres(store) => store.message_by_client_id(sender, client_id).await,
        };
        match original {
            Ok(_) => Ok(true),
            Err(sqlx::Error::RowNotFound) => Ok(false),
            Err(error) => Err(error.into()),
        }
    }

    /// Why a message got no id: the stored message a retry duplicates, read back for its
    /// acknowledgement; or, with no such message, a refusal. A `client_id` stored for a message
    /// of another conversation, or of one its sender is no longer in, acknowledges nothing: the
    /// original (its conversation's current name, its text) is not shown to the retry.
    async fn original_of(&self, retry: &NewMessage) -> Stored {
        let Some(client_id) = retry.client_id.as_deref() else { return Stored::Refused };
        let original = match self {
            Self::Sqlite(store) => store.message_by_client_id(retry.sender_id, client_id).await,
            Self::Postgres(store) => store.message_by_client_id(retry.sender_id, client_id).await,
        };
        match original {
            Ok((message, true)) if message.room_id == retry.room_id => Stored::Duplicate(message),
            Ok(_) => Stored::ClientIdTaken,
            Err(sqlx::Error::RowNotFound) => Stored::Refused,
            Err(error) => {
                tracing::error!(%error, "reading back the original of a retried message failed");
                Stored::DuplicateUnread
            }
        }
    }
}
