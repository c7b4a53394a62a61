//! Storing a batch of messages, the same on every backend: the backend commits the rows (its own
//! SQL, all or nothing) and says which got an id; what became of the others (a retry of a stored
//! `client_id`, acknowledged with the original; or a refusal) is decided here once.

use super::{now_rfc3339, NewMessage, Store, StoreError, Stored};
use app::models::ChatMessage;

impl Store {
    /// Stores a batch atomically, refusing (in the insert itself) what a block, leave or archive
    /// committed before it forbids; the result is in the order of `batch`. All or nothing: an
    /// error means nothing of the batch was stored.
    pub async fn insert_batch(&self, batch: &[NewMessage]) -> Result<Vec<Stored>, StoreError> {
        if batch.is_empty() {
            return Ok(Vec::new());
        }
        let created_at = now_rfc3339();
        let ids = match self {
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
                }),
                None => self.original_of(message).await,
            });
        }
        Ok(out)
    }

    /// Why a message got no id: the stored message a retry duplicates, read back for its
    /// acknowledgement; or, with no such message, a refusal.
    async fn original_of(&self, retry: &NewMessage) -> Stored {
        let Some(client_id) = retry.client_id.as_deref() else { return Stored::Refused };
        let original = match self {
            Self::Sqlite(store) => store.message_by_client_id(retry.sender_id, client_id).await,
            Self::Postgres(store) => store.message_by_client_id(retry.sender_id, client_id).await,
        };
        match original {
            Ok(message) => Stored::Duplicate(message),
            Err(sqlx::Error::RowNotFound) => Stored::Refused,
            Err(error) => {
                tracing::error!(%error, "reading back the original of a retried message failed");
                Stored::DuplicateUnread
            }
        }
    }
}
