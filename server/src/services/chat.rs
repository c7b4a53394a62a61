//! Chat use cases, each rule once, whatever door asks: posting a message (its validation, flood
//! control per account, the word filter and its strikes, the classifier's policy, then the
//! group-commit writer) and
//! reading history (a connection's first frame, and pages over HTTP).

use super::paging::Page;
use super::safety::Verdict;
use super::{internal, Services};
use crate::fanout::directory::Postable;
use crate::fanout::frames;
use crate::fanout::outbox::Outbox;
use crate::moderation::Strike;
use crate::store::{NewMessage, Review, StoreError, View};
use app::domain::MessageBody;
use app::error::ApiError;
use app::models::{ChatMessage, PublicUser, ServerFrame};
use app::protocol::{
    GENERAL_ROOM_ID, HISTORY_LATEST, HISTORY_MAX_BYTES, HISTORY_SINCE_MAX, MAX_ATTACHMENTS_PER_MESSAGE,
    MAX_CLIENT_ID_CHARS,
};
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
    /// Held for review by the classifier: stored in the review queue, not delivered (answered
    /// with a `held` frame).
    Held { client_id: Option<String>, room_id: i64 },
    /// The server is shutting down and takes no more messages.
    ShuttingDown,
}

impl Posted {
    /// A refusal for `reason`, counted in the metrics under `kind` (one of a fixed set).
    fn refused(kind: &'static str, reason: impl Into<String>, client_id: Option<String>) -> Self {
        crate::metrics::message_refused(kind);
        Posted::Refused { reason: reason.into(), client_id }
    }
}

/// The first `history` frame of a connection, and the id the live feed continues after.
pub struct FirstHistory {
    /// `general` for the newest messages; `None` for a catch-up over every conversation.
    pub room_id: Option<i64>,
    pub messages: Vec<ChatMessage>,
    pub more: bool,
    pub last_id: i64,
}

/// A message as a client sent it.
#[derive(Debug, Default)]
pub struct Post {
    /// The conversation (absent: `general`).
    pub room_id: Option<i64>,
    pub content: String,
    pub client_id: Option<String>,
    /// The message of the same conversation it answers.
    pub reply_to: Option<i64>,
    /// Ids of the sender's uploads it posts.
    pub attachments: Vec<String>,
}

/// A page of one conversation's history for a client's `history` frame.
pub struct RoomHistory {
    pub room_id: i64,
    /// Oldest first.
    pub messages: Vec<ChatMessage>,
    /// Older messages remain.
    pub more: bool,
}

impl Services {
    /// Posts `content` as `sender` in the conversation `room_id` (absent: `general`), answering
    /// `reply_to` if given, with the uploads `attachments` names: validated, flood-limited per
    /// account, run through the word filter, its mentions resolved, its files claimed, then
    /// queued for the writer, which answers on `reply`.
    pub async fn post(&self, sender: &PublicUser, post: Post, reply: Arc<Outbox>) -> Posted {
        let Post { room_id, content, client_id, reply_to, attachments } = post;
        let content = content.as_str();
        let room_id = room_id.unwrap_or(GENERAL_ROOM_ID);
        if client_id.as_ref().is_some_and(|id| id.chars().count() > MAX_CLIENT_ID_CHARS) {
            return Posted::refused(
                "invalid",
                format!("client_id is longer than {MAX_CLIENT_ID_CHARS} characters"),
                client_id,
            );
        }
        if attachments.len() > MAX_ATTACHMENTS_PER_MESSAGE {
            return Posted::refused("invalid", "too many attachments: at most 10 a message", client_id);
        }
        // Files alone make a message: its text may then be empty.
        let body = match MessageBody::parse(content) {
            Ok(body) => Some(body),
            Err(_) if !attachments.is_empty() && content.trim().is_empty() => None,
            Err(error) => return Posted::refused("invalid", error.to_string(), client_id),
        };
        let text = body.as_ref().map_or("", MessageBody::as_str);
        if !self.hub.flood.allow(&sender.id).await {
            return Posted::refused("flood", "slow down: too many messages", client_id);
        }
        let (room, peer) = match self.postable(room_id, sender.id).await {
            Postable::Yes { room, peer } => (room, peer),
            Postable::Archived => return Posted::refused("archived", frames::ARCHIVED, client_id),
            Postable::No => return Posted::refused("not_a_member", frames::NOT_A_MEMBER, client_id),
        };
        if let Some(peer) = peer {
            if let Err(reason) = self.may_message(sender.id, peer).await {
                return Posted::refused("direct_message", reason, client_id);
            }
        }
        match self.moderate(sender.id, room_id, text).await {
            Ok(None) => {}
            Ok(Some(strike)) if strike.blocked => {
                crate::metrics::moderation(crate::metrics::Moderated::Blocked);
                // Every socket of the account, the sender's included, gets `blocked` and 1008.
                self.hub.disconnect_user(sender.id);
                return Posted::Blocked;
            }
            Ok(Some(strike)) => {
                crate::metrics::moderation(crate::metrics::Moderated::Warned);
                return Posted::Warned { strike, client_id };
            }
            Err(_) => return Posted::refused("unavailable", "message could not be checked; send it again", client_id),
        }
        let reply_to = match reply_to {
            Some(id) => match self.reply_target(sender.id, room_id, id).await {
                Ok(target) => Some(target),
                Err(reason) => return Posted::refused("reply", reason, client_id),
            },
            None => None,
        };
        let Ok(mentions) = self.mentions_in(room_id, sender.id, text).await else {
            return Posted::refused("unavailable", "message could not be checked; send it again", client_id);
        };
        let verdict = self.classify(text);
        let mut message = NewMessage {
            sender_id: sender.id,
            username: sender.username.clone(),
            room_id,
            room,
            content: body.map(MessageBody::into_inner).unwrap_or_default(),
            client_id: client_id.filter(|id| !id.is_empty()),
            review: None,
            reply_to,
            mentions,
            search: None,
            attachments: Vec::new(),
            claim: None,
        };
        // Folded for search here, on the sender's task, rather than on the writer's.
        message.search = Some(crate::store::search_columns(&message.content));
        match verdict {
            Verdict::Pass => crate::metrics::moderation(crate::metrics::Moderated::Passed),
            Verdict::Flag(score) => {
                crate::metrics::moderation(crate::metrics::Moderated::Flagged);
                message.review = Some(Review::Flagged { score });
            }
            Verdict::Hold(score) => {
                crate::metrics::moderation(crate::metrics::Moderated::Held);
                return match self.hold(&message, score).await {
                    Ok(_) => Posted::Held { client_id: message.client_id, room_id },
                    Err(_) => {
                        Posted::refused("unavailable", "message could not be checked; send it again", message.client_id)
                    }
                };
            }
        }
        // Its files last: a message refused or held above leaves them free to post again.
        if !attachments.is_empty() {
            match self.claim_attachments(sender.id, &attachments).await {
                Ok((files, claim)) => {
                    message.attachments = files;
                    message.claim = Some(claim);
                }
                // A retry of a message stored already: the writer acknowledges the original.
                Err(_) if self.is_retry(&message).await => {}
                Err(reason) => return Posted::refused("attachments", reason, message.client_id),
            }
        }
        let claim = message.claim.clone();
        if self.hub.submit(message, reply).await {
            Posted::Queued
        } else {
            if let Some(claim) = claim {
                self.release_claim(&claim).await;
            }
            crate::metrics::message_refused("shutting_down");
            Posted::ShuttingDown
        }
    }

    /// Whether `message` repeats one its sender stored under the same `client_id`.
    async fn is_retry(&self, message: &NewMessage) -> bool {
        match message.client_id.as_deref() {
            Some(client_id) => self.store.client_id_stored(message.sender_id, client_id).await.unwrap_or(false),
            None => false,
        }
    }

    /// Where `sender` may post, as the directory says; when it says no, as the store says (a
    /// change made through another node a moment ago may not have reached this node's directory
    /// yet; the message INSERT checks membership itself anyway).
    async fn postable(&self, room_id: i64, sender: i64) -> Postable {
        let known = self.hub.directory().postable(room_id, sender);
        if known != Postable::No {
            return known;
        }
        match self.store.room(room_id).await {
            Ok(Some(room)) if self.store.is_member(room_id, sender).await.unwrap_or(false) => {
                if room.archived {
                    Postable::Archived
                } else {
                    let name = if room.kind == app::models::RoomKind::Dm {
                        "dm".into()
                    } else {
                        room.name.clone().unwrap_or_default()
                    };
                    Postable::Yes { room: name, peer: room.peer_of(sender) }
                }
            }
            _ => Postable::No,
        }
    }

    /// Whether `sender` may write to `peer` in their DM: not if `peer` ignores them or is
    /// blocked (`peer` may be connected to another node: the store answers).
    async fn may_message(&self, sender: i64, peer: i64) -> Result<(), &'static str> {
        let checked = async {
            let ignored = self.store.ignores(peer, sender).await?;
            let record = self.store.user_by_id(peer).await?;
            Ok::<_, crate::store::StoreError>((ignored, record))
        };
        match checked.await {
            Ok((true, _)) => Err(frames::NOT_ACCEPTING),
            Ok((false, Some(record))) if !record.public.is_blocked => Ok(()),
            Ok(_) => Err(frames::PEER_BLOCKED),
            Err(error) => {
                tracing::error!(%error, "reading a DM's other person failed");
                Err("message could not be checked; send it again")
            }
        }
    }

    /// `sender` is typing in `room_id` (absent: `general`): the other members' live sockets are
    /// told (not those ignoring the sender), a few times a second at most per account (more are
    /// dropped without an answer); nothing is stored. `Err` for a conversation the sender is
    /// not in, and for an archived one (as a message there is refused: the sender is still a
    /// member, and the room stays on their list).
    pub fn typing(&self, sender: &PublicUser, room_id: Option<i64>) -> Result<(), String> {
        let room_id = room_id.unwrap_or(GENERAL_ROOM_ID);
        let directory = self.hub.directory();
        match directory.postable(room_id, sender.id) {
            Postable::Yes { .. } => {}
            Postable::Archived => return Err(frames::ARCHIVED.into()),
            Postable::No => return Err(frames::NOT_A_MEMBER.into()),
        }
        if self.hub.typing.allow(&sender.id) {
            let frame = ServerFrame::Typing { room_id, username: sender.username.clone() };
            match directory.audience_of(room_id, sender.id) {
                Some(members) => self.hub.tell(Some(&members), &[sender.id], &frame),
                None => {
                    let mut except = directory.ignorers_of(sender.id);
                    except.push(sender.id);
                    self.hub.tell(None, &except, &frame);
                }
            }
        }
        Ok(())
    }

    /// A connection's first history: the newest messages of `general`, or with `since` a
    /// catch-up of what came after it in every conversation `user` is in; bounded in count and
    /// bytes (`more` when a catch-up stopped short). Never the messages of people `user`
    /// ignores.
    pub async fn first_history(&self, user: &PublicUser, since: Option<i64>) -> Result<FirstHistory, StoreError> {
        let store = &self.store;
        match since {
            Some(since) => {
                // The newest id first: a `since` beyond it (a stale id from another database)
                // must not mute the live feed, and anything stored after this read is newer.
                let newest = store.newest_message_id().await?;
                let view = View::member(user.id);
                let (messages, more) =
                    store.messages_since_within(view, since, HISTORY_SINCE_MAX, HISTORY_MAX_BYTES).await?;
                let last_id = messages.last().map_or(since.min(newest), |m| m.id);
                Ok(FirstHistory { room_id: None, messages, more, last_id })
            }
            None => {
                let view = View::room(GENERAL_ROOM_ID, user.id);
                let messages = store.latest_within(view, HISTORY_LATEST, HISTORY_MAX_BYTES).await?;
                let last_id = messages.last().map_or(0, |m| m.id);
                Ok(FirstHistory { room_id: Some(GENERAL_ROOM_ID), messages, more: false, last_id })
            }
        }
    }

    /// A client's `history` frame: the newest page of a conversation `user` may read, or the
    /// page before `before`, oldest first, bounded in count and bytes.
    pub async fn room_history(
        &self,
        user: &PublicUser,
        room_id: i64,
        before: Option<i64>,
    ) -> Result<RoomHistory, String> {
        match self.may_read(user, room_id).await {
            Ok(()) => {}
            Err(ApiError::NotFound) => return Err(frames::NOT_A_MEMBER.into()),
            Err(_) => return Err(UNAVAILABLE.into()),
        }
        let view = View::room(room_id, user.id);
        let mut messages = self.store.messages_before(view, before, HISTORY_LATEST + 1).await.map_err(|error| {
            tracing::error!(%error, "history query failed");
            UNAVAILABLE.to_string()
        })?;
        let mut more = messages.len() as i64 > HISTORY_LATEST;
        messages.truncate(HISTORY_LATEST as usize);
        let kept = crate::store::within_bytes(&messages, HISTORY_MAX_BYTES);
        more |= kept < messages.len();
        messages.truncate(kept);
        messages.reverse();
        Ok(RoomHistory { room_id, messages, more })
    }

    /// One page of history for `GET /messages`: `general`'s older than `before` newest first,
    /// or everything `user` may see newer than `after` oldest first (how a `since` catch-up
    /// continues).
    pub async fn history_page(&self, user: &PublicUser, page: Page) -> Result<Vec<ChatMessage>, ApiError> {
        let view = match page.after {
            Some(_) => View::member(user.id),
            None => View::room(GENERAL_ROOM_ID, user.id),
        };
        self.page_of(view, page).await
    }

    /// One page of `view`: older than `page.before` newest first, or newer than `page.after`
    /// oldest first.
    pub(super) async fn page_of(&self, view: View, page: Page) -> Result<Vec<ChatMessage>, ApiError> {
        let messages = match page.after {
            Some(after) => self.store.messages_since(view, after, page.limit).await.map(|(messages, _)| messages),
            None => self.store.messages_before(view, page.before, page.limit).await,
        };
        messages.map_err(internal)
    }
}

/// The answer to a `history` frame the store could not serve.
const UNAVAILABLE: &str = "history unavailable; ask again";
