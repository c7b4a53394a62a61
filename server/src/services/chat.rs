//! Chat use cases, each rule once, whatever door asks: posting a message (its validation, flood
//! control per account, the word filter and its strikes, then the group-commit writer) and
//! reading history (a connection's first frame, and pages over HTTP).

use super::paging::Page;
use super::{internal, Services};
use crate::fanout::frames;
use crate::fanout::outbox::Outbox;
use crate::moderation::Strike;
use crate::store::{NewMessage, StoreError};
use app::domain::MessageBody;
use app::error::ApiError;
use app::models::{ChatMessage, PublicUser, ServerFrame};
use app::protocol::{GENERAL_ROOM_ID, HISTORY_LATEST, HISTORY_MAX_BYTES, HISTORY_SINCE_MAX, MAX_CLIENT_ID_CHARS};
use std::sync::Arc;

/// What became of a message a client posted.
#[derive(Debug, PartialEq, Eq)]
pub enum Posted {
    /// Handed to the writer: its broadcast (the sender's acknowledgement) or an `error` frame
    /// from the writer follows on `reply`.
    Queued,
    /// Refused before storage: nothing stored or broadcast (answered with an `error` frame).
    Refused { reason: String, client_id: Option<String> },
    /// Refused by the word filter, with the strike it cost (answered with a `warning` frame).
    Warned { strike: Strike, client_id: Option<String> },
    /// The strike blocked the account: every socket of it is being closed.
    Blocked,
    /// The server is shutting down and takes no more messages.
    ShuttingDown,
}

impl Posted {
    fn refused(reason: impl Into<String>, client_id: Option<String>) -> Self {
        Posted::Refused { reason: reason.into(), client_id }
    }
}

/// The first `history` frame of a connection, and the id the live feed continues after.
pub struct FirstHistory {
    pub messages: Vec<ChatMessage>,
    pub more: bool,
    pub last_id: i64,
}

impl Services {
    /// Posts `content` as `sender` in the conversation `room_id` (absent: `general`):
    /// validated, flood-limited per account, run through the word filter, then queued for the
    /// writer, which answers on `reply`.
    pub async fn post(
        &self,
        sender: &PublicUser,
        room_id: Option<i64>,
        content: &str,
        client_id: Option<String>,
        reply: Arc<Outbox>,
    ) -> Posted {
        if let Err(reason) = conversation_of(room_id) {
            return Posted::refused(reason, client_id);
        }
        if client_id.as_ref().is_some_and(|id| id.chars().count() > MAX_CLIENT_ID_CHARS) {
            return Posted::refused(format!("client_id is longer than {MAX_CLIENT_ID_CHARS} characters"), client_id);
        }
        let body = match MessageBody::parse(content) {
            Ok(body) => body,
            Err(error) => return Posted::refused(error.to_string(), client_id),
        };
        if !self.hub.flood.allow(&sender.id) {
            return Posted::refused("slow down: too many messages", client_id);
        }
        match self.moderate(sender.id, body.as_str()).await {
            Ok(None) => {}
            Ok(Some(strike)) if strike.blocked => {
                // Every socket of the account, the sender's included, gets `blocked` and 1008.
                self.hub.disconnect_user(sender.id);
                return Posted::Blocked;
            }
            Ok(Some(strike)) => return Posted::Warned { strike, client_id },
            Err(_) => return Posted::refused("message could not be checked; send it again", client_id),
        }
        let message = NewMessage {
            sender_id: sender.id,
            username: sender.username.clone(),
            content: body.into_inner(),
            client_id: client_id.filter(|id| !id.is_empty()),
        };
        if self.hub.submit(message, reply).await {
            Posted::Queued
        } else {
            Posted::ShuttingDown
        }
    }

    /// `sender` is typing in `room_id` (absent: `general`): the other members' live sockets are
    /// told, a few times a second at most per account (more are dropped without an answer);
    /// nothing is stored. `Err` for a conversation the sender is not in.
    pub fn typing(&self, sender: &PublicUser, room_id: Option<i64>) -> Result<(), String> {
        let room_id = conversation_of(room_id)?;
        if self.hub.typing.allow(&sender.id) {
            let frame = frames::text(&ServerFrame::Typing { room_id, username: sender.username.clone() });
            self.hub.broadcast_live_except(sender.id, &frame);
        }
        Ok(())
    }

    /// A connection's first history: the newest messages, or with `since` a catch-up of what
    /// came after it; bounded in count and bytes (`more` when a catch-up stopped short).
    pub async fn first_history(&self, since: Option<i64>) -> Result<FirstHistory, StoreError> {
        let store = &self.store;
        match since {
            Some(since) => {
                // The newest id first: a `since` beyond it (a stale id from another database)
                // must not mute the live feed, and anything stored after this read is newer.
                let newest = store.latest_messages(1).await?.first().map_or(0, |m| m.id);
                let (messages, more) = store.messages_since_within(since, HISTORY_SINCE_MAX, HISTORY_MAX_BYTES).await?;
                let last_id = messages.last().map_or(since.min(newest), |m| m.id);
                Ok(FirstHistory { messages, more, last_id })
            }
            None => {
                let messages = store.latest_within(HISTORY_LATEST, HISTORY_MAX_BYTES).await?;
                let last_id = messages.last().map_or(0, |m| m.id);
                Ok(FirstHistory { messages, more: false, last_id })
            }
        }
    }

    /// One page of history: older than `before` newest first, or newer than `after` oldest
    /// first.
    pub async fn history_page(&self, page: Page) -> Result<Vec<ChatMessage>, ApiError> {
        let messages = match page.after {
            Some(after) => self.store.messages_since(after, page.limit).await.map(|(messages, _)| messages),
            None => self.store.messages_before(page.before, page.limit).await,
        };
        messages.map_err(internal)
    }
}

/// The conversation a client frame names (absent: `general`), if the sender is in it. Everyone
/// is in `general`, the only conversation so far.
fn conversation_of(room_id: Option<i64>) -> Result<i64, String> {
    match room_id.unwrap_or(GENERAL_ROOM_ID) {
        GENERAL_ROOM_ID => Ok(GENERAL_ROOM_ID),
        _ => Err("no such conversation, or you are not in it".into()),
    }
}
