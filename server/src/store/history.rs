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
