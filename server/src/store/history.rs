//! History reads bounded in bytes as well as count, the same on every backend: built on the
//! backends' plain page reads.

use super::{Budget, Store, StoreError, View};
use app::models::ChatMessage;

impl Store {
    /// The newest messages of `view`, oldest first: at most `limit`, and only as many of the
    /// newest as fit in `max_bytes` of JSON (at least one).
    pub async fn latest_within(
        &self,
        view: View,
        limit: i64,
        max_bytes: usize,
    ) -> Result<Vec<ChatMessage>, StoreError> {
        let mut messages = self.latest_messages(view, limit).await?;
        let mut budget = Budget::new(max_bytes);
        let keep = messages.iter().rev().take_while(|m| budget.take(m)).count();
        messages.drain(..messages.len() - keep);
        Ok(messages)
    }

    /// Like [`Store::messages_since`], and bounded in bytes too: no more than fit in `max_bytes`
    /// of JSON (at least one). Read a page at a time, so the memory it takes is bounded as well.
    pub async fn messages_since_within(
        &self,
        view: View,
        since: i64,
        limit: i64,
        max_bytes: usize,
    ) -> Result<(Vec<ChatMessage>, bool), StoreError> {
        const PAGE: i64 = 32;
        let mut budget = Budget::new(max_bytes);
        let mut out = Vec::new();
        let mut after = since;
        loop {
            let want = PAGE.min(limit - out.len() as i64);
            let (page, more) = self.messages_since(view, after, want).await?;
            for message in page {
                if !budget.take(&message) {
                    return Ok((out, true));
                }
                after = message.id;
                out.push(message);
            }
            if !more || out.len() as i64 >= limit {
                return Ok((out, more));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{NewMessage, Store};

    fn message(sender_id: i64, content: &str) -> NewMessage {
        NewMessage {
            sender_id,
            username: "u".into(),
            room_id: app::protocol::GENERAL_ROOM_ID,
            room: "general".into(),
            content: content.into(),
            client_id: None,
        }
    }

    async fn store_with_user() -> (tempfile::TempDir, Store, i64) {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("h.db").display());
        let store = Store::open(&url, 1, "NORMAL").await.unwrap();
        let user = store.create_user("u", "u@x.io", "h").await.unwrap();
        (dir, store, user.id)
    }

    #[tokio::test]
    async fn history_reads_are_bounded_in_bytes_as_well_as_count() {
        let (_dir, store, user) = store_with_user().await;
        let big = "x".repeat(1000);
        let batch: Vec<NewMessage> = (0..100).map(|_| message(user, &big)).collect();
        store.insert_batch(&batch).await.unwrap();
        // A budget of 9.5 messages' JSON holds 9 of them.
        let one =
            serde_json::to_string(&store.latest_messages(View::default(), 1).await.unwrap()[0]).unwrap().len() + 1;
        let budget = one * 19 / 2;
        let (page, more) = store.messages_since_within(View::default(), 0, 500, budget).await.unwrap();
        assert!(more);
        assert_eq!(page.len(), 9);
        assert_eq!(page.first().unwrap().id, 1);
        let (rest, more) =
            store.messages_since_within(View::default(), page.last().unwrap().id, 500, 1_000_000).await.unwrap();
        assert!(!more);
        assert_eq!(rest.len(), 91);
        let (counted, more) = store.messages_since_within(View::default(), 0, 40, 1_000_000).await.unwrap();
        assert_eq!((counted.len(), more), (40, true));
        // A budget smaller than one message still makes progress.
        assert_eq!(store.messages_since_within(View::default(), 0, 500, 10).await.unwrap().0.len(), 1);
        let latest = store.latest_within(View::default(), 50, budget).await.unwrap();
        assert_eq!(latest.len(), 9);
        assert_eq!(latest.last().unwrap().id, 100);
    }
}
