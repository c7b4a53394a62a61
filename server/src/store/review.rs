//! Reports and the review queue, the same on every backend: the messages around a queued one
//! are read and kept with its item (so deleting them destroys no evidence), and a page of items
//! gets its reports attached. Each backend keeps the SQL (`sqlite/safety.rs`,
//! `postgres/safety.rs`).

use super::{NewMessage, Reported, ReviewFilter, ReviewRecord, Store, StoreError, View};
use std::collections::HashMap;

/// Messages kept on each side of a queued one (Revolt keeps 15).
pub const CONTEXT_EACH_SIDE: i64 = 15;

impl Store {
    /// The messages of `room` around `message` (before and after it), or the newest ones without
    /// it, as the JSON an item keeps: at most [`CONTEXT_EACH_SIDE`] on each side, oldest first.
    async fn context_json(&self, room: i64, message: Option<i64>) -> Result<String, StoreError> {
        let view = View { room: Some(room), viewer: None };
        let mut context = self.messages_before(view, message, CONTEXT_EACH_SIDE).await?;
        context.reverse();
        if let Some(id) = message {
            context.extend(self.messages_since(view, id, CONTEXT_EACH_SIDE).await?.0);
        }
        Ok(serde_json::to_string(&context).unwrap_or_else(|_| "[]".into()))
    }

    /// Records `reporter`'s report of `message` with `reason` and the reporter's `weight`; its
    /// item moves to the front of the queue when its reports reach `front_at` in weight. Refused
    /// (`Unreadable`) for a message the reporter cannot read, and for their own (`Own`).
    pub async fn report_message(
        &self,
        message: i64,
        reporter: i64,
        reason: &str,
        weight: f64,
        front_at: f64,
    ) -> Result<Reported, StoreError> {
        let Some(found) = self.message_by_id(message).await? else { return Ok(Reported::Unreadable) };
        let context = self.context_json(found.room_id, Some(message)).await?;
        self.report_rows(message, reporter, reason, weight, front_at, &context).await
    }

    /// Queues stored message `message` of `room` for review: the classifier gave it `score`.
    pub async fn flag_message(&self, message: i64, room: i64, score: f64) -> Result<(), StoreError> {
        let context = self.context_json(room, Some(message)).await?;
        self.queue_flagged(message, score, &context).await
    }

    /// Holds `message` for review (not stored as a message, not delivered): the item's id.
    pub async fn hold(&self, message: &NewMessage, score: f64) -> Result<i64, StoreError> {
        let context = self.context_json(message.room_id, None).await?;
        self.hold_message(message, score, &context).await
    }

    /// Review items as `filter` says, front of the queue first, each with its reports.
    pub async fn review_items(&self, filter: ReviewFilter) -> Result<Vec<ReviewRecord>, StoreError> {
        let mut records = self.review_rows(filter).await?;
        let ids: Vec<i64> = records.iter().filter_map(|r| r.message_id).collect();
        let mut reports: HashMap<i64, Vec<_>> = HashMap::new();
        for (message, report) in self.reports_of(&ids).await? {
            reports.entry(message).or_default().push(report);
        }
        for record in &mut records {
            if let Some(found) = record.message_id.and_then(|id| reports.remove(&id)) {
                record.item.reports = found;
            }
        }
        Ok(records)
    }
}
