//! Message actions, each rule once whatever door asks: editing (the sender only, within the edit
//! window, through the same moderation as a new message and the same flood control), deleting
//! (the sender, or an admin anywhere), reacting, the versions admins see, replies (what a reply
//! may answer), mentions (which `@names` are members), and search.
//!
//! A change is written by the store with its room-change feed entry; the use case returns once
//! this node has applied that entry, i.e. told its own members (`edited`, `deleted`,
//! `reaction` frames); every other node tells its own from the feed.

use super::admin::Admin;
use super::safety::Verdict;
use super::{internal, Services};
use crate::search;
use crate::store::{Deletion, Edit, NewMessage, Reacting, SearchRequest, StoreError};
use app::domain::{Emoji, MessageBody};
use app::error::ApiError;
use app::models::{ChatMessage, MessageVersions, PublicUser, ReplyTo, SearchResults, ServerFrame};
use app::protocol::{
    CHANGES_MAX, HIGHLIGHT_CONTEXT_CHARS, MAX_MENTIONS_PER_MESSAGE, MAX_REACTIONS_PER_MESSAGE, REPLY_EXCERPT_CHARS,
    SEARCH_PAGE,
};

/// What a search asks (`GET /search`).
#[derive(Debug, Clone, Default, serde::Deserialize)]
pub struct SearchParams {
    #[serde(default)]
    pub q: String,
    #[serde(default)]
    pub room_id: Option<i64>,
    #[serde(default)]
    pub limit: Option<i64>,
    #[serde(default)]
    pub before: Option<i64>,
    /// `public`: also the public rooms the searcher is not in (but could join).
    #[serde(default)]
    pub scope: Option<String>,
}

/// The `@names` a text mentions, lowercased, once each, in the order written, at most
/// [`MAX_MENTIONS_PER_MESSAGE`]: `@` at the start or after a character that cannot be part of a
/// name, then a username's characters (a trailing `.` or `-` is punctuation, not the name's).
pub fn mentioned_names(content: &str) -> Vec<String> {
    let is_name_char = |c: char| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-');
    let mut names: Vec<String> = Vec::new();
    let mut previous: Option<char> = None;
    for (at, c) in content.char_indices() {
        let starts = c == '@' && !previous.is_some_and(|p| is_name_char(p) || p == '@');
        previous = Some(c);
        if !starts {
            continue;
        }
        let rest = &content[at + 1..];
        let end = rest.find(|c: char| !is_name_char(c)).unwrap_or(rest.len());
        let name = rest[..end].trim_end_matches(['.', '-']).to_ascii_lowercase();
        if (app::domain::MIN_USERNAME_LEN..=app::domain::MAX_USERNAME_LEN).contains(&name.len())
            && !names.contains(&name)
        {
            names.push(name);
            if names.len() == MAX_MENTIONS_PER_MESSAGE {
                break;
            }
        }
    }
    names
}

/// The messages a client holds that changed after its cursor (a `changes` frame).
pub struct Changed {
    pub messages: Vec<ChatMessage>,
    pub more: bool,
}

impl Changed {
    /// The `changes` frame, its cursor `head` (the newest change when the connection started:
    /// every later one is in it or comes live).
    pub fn frame(self, head: i64) -> ServerFrame {
        ServerFrame::Changes { messages: self.messages, change: head, more: self.more }
    }
}

impl Services {
    /// The messages `user` holds (ids up to `upto`) changed after feed entry `after`, as they
    /// are now, in change order (at most [`CHANGES_MAX`]).
    pub async fn changed_messages(&self, user: &PublicUser, after: i64, upto: i64) -> Result<Changed, StoreError> {
        let (messages, more) = self.store.changes_since(user.id, after, upto, CHANGES_MAX).await?;
        Ok(Changed { messages, more })
    }

    /// The members of `room_id` that `content` mentions (never its sender), in the order written.
    pub(crate) async fn mentions_in(
        &self,
        room_id: i64,
        sender: i64,
        content: &str,
    ) -> Result<Vec<(i64, String)>, ApiError> {
        let names = mentioned_names(content);
        if names.is_empty() {
            return Ok(Vec::new());
        }
        let mut found = self.store.mention_targets(room_id, &names).await.map_err(internal)?;
        found.retain(|(id, _)| *id != sender);
        found.sort_by_key(|(_, username)| names.iter().position(|name| name.eq_ignore_ascii_case(username)));
        Ok(found)
    }

    /// What a reply of `user` in `room_id` may answer: a message of the same conversation they
    /// can read now (not deleted or removed, not from someone they ignore).
    pub(crate) async fn reply_target(&self, user: i64, room_id: i64, reply_to: i64) -> Result<ReplyTo, &'static str> {
        const NOT_READABLE: &str = "reply_to is not a message of this conversation you can read";
        let target = self
            .store
            .message_for(reply_to, user)
            .await
            .map_err(|_| "the reply could not be checked; send it again")?;
        let Some(target) = target.filter(|m| m.room_id == room_id && !m.deleted && !m.removed) else {
            return Err(NOT_READABLE);
        };
        if self.store.ignores(user, target.sender_id).await.unwrap_or(false) {
            return Err(NOT_READABLE);
        }
        Ok(ReplyTo {
            id: target.id,
            username: target.username,
            excerpt: target.content.chars().take(REPLY_EXCERPT_CHARS).collect(),
            gone: false,
        })
    }

    /// Edits message `id` as `user`: 404 if they cannot read it (or it is deleted), 403 for
    /// someone else's, past the edit window or in an archived room; the new text goes through
    /// flood control, the word filter (a violation is a strike, 422, the old text stays) and the
    /// classifier (held: refused with 422, the old text stays; flagged: edited and queued).
    pub async fn edit_message(&self, user: &PublicUser, id: i64, content: &str) -> Result<ChatMessage, ApiError> {
        let body = MessageBody::parse(content)?;
        if !self.hub.flood.allow(&user.id).await {
            return Err(ApiError::RateLimited { retry_after: 1 });
        }
        let Some(current) = self.store.message_for(id, user.id).await.map_err(internal)? else {
            return Err(ApiError::NotFound);
        };
        if current.deleted || current.removed {
            return Err(ApiError::NotFound);
        }
        if current.sender_id != user.id {
            return Err(ApiError::Forbidden { message: "only its sender may edit a message".into() });
        }
        if current.content == body.as_str() {
            return Ok(current);
        }
        if let Some(strike) = self.moderate(user.id, current.room_id, body.as_str()).await? {
            if strike.blocked {
                self.hub.disconnect_user(user.id);
                return Err(ApiError::Blocked);
            }
            return Err(ApiError::Warned {
                message: crate::moderation::warning_text(strike),
                warning_count: strike.warning_count,
                max_warnings: crate::moderation::MAX_WARNINGS,
            });
        }
        let verdict = self.classify(body.as_str());
        if let Verdict::Hold(_) = verdict {
            return Err(ApiError::InvalidInput {
                message: "this edit needs a moderator's review; the message keeps its text".into(),
            });
        }
        let mentions = self.mentions_in(current.room_id, user.id, body.as_str()).await?;
        let edit = NewMessage { content: body.into_inner(), room_id: current.room_id, mentions, ..Default::default() };
        let window = self.config.messages.edit_window_secs;
        match self.store.edit_message(id, user.id, &edit, window).await.map_err(internal)? {
            Edit::Edited { message, seq } => {
                tracing::info!(user_id = user.id, message_id = id, "message edited");
                if let Verdict::Flag(score) = verdict {
                    if let Err(error) = self.store.flag_message(id, message.room_id, score).await {
                        tracing::warn!(%error, message_id = id, "queueing a flagged edit for review failed");
                    }
                }
                self.hub.changed(seq).await;
                let message = self.store.message_for(id, user.id).await.map_err(internal)?;
                message.ok_or(ApiError::NotFound)
            }
            Edit::Unchanged(message) => Ok(message),
            Edit::NotFound => Err(ApiError::NotFound),
            Edit::NotSender => Err(ApiError::Forbidden { message: "only its sender may edit a message".into() }),
            Edit::Archived => Err(ApiError::Forbidden { message: "the conversation is archived".into() }),
            Edit::TooLate => Err(ApiError::Forbidden { message: "the time to edit this message is over".into() }),
        }
    }

    /// Deletes message `id` for everyone: its sender, or an admin anywhere; 404 for someone
    /// who cannot read it, 403 for another member; deleting a deleted message changes nothing.
    pub async fn delete_message(&self, user: &PublicUser, id: i64) -> Result<(), ApiError> {
        match self.store.delete_message(id, user.id, user.is_admin).await.map_err(internal)? {
            Deletion::Deleted { room, seq } => {
                tracing::info!(user_id = user.id, message_id = id, room_id = room, "message deleted");
                self.hub.changed(seq).await;
                Ok(())
            }
            Deletion::Already => Ok(()),
            Deletion::NotFound => Err(ApiError::NotFound),
            Deletion::Forbidden => {
                Err(ApiError::Forbidden { message: "only its sender or an admin may delete a message".into() })
            }
        }
    }

    /// Adds (`add`) or takes back `user`'s reaction `emoji` (one emoji, else 400) to message
    /// `id`: any member who can read it; idempotent; at most [`MAX_REACTIONS_PER_MESSAGE`]
    /// distinct emoji a message (409 for a new one past it).
    pub async fn react(&self, user: &PublicUser, id: i64, emoji: &str, add: bool) -> Result<(), ApiError> {
        let emoji = Emoji::parse(emoji).map_err(|error| ApiError::BadRequest { message: error.to_string() })?;
        if !self.hub.reactions.allow(&user.id).await {
            return Err(ApiError::RateLimited { retry_after: 1 });
        }
        match self.store.react(id, user.id, emoji.as_str(), add, MAX_REACTIONS_PER_MESSAGE).await.map_err(internal)? {
            Reacting::Changed { seq } => {
                self.hub.changed(seq).await;
                Ok(())
            }
            Reacting::Unchanged => Ok(()),
            Reacting::NotFound => Err(ApiError::NotFound),
            Reacting::Archived => Err(ApiError::Forbidden { message: "the conversation is archived".into() }),
            Reacting::TooMany => Err(ApiError::Conflict {
                message: format!("a message takes at most {MAX_REACTIONS_PER_MESSAGE} different reactions"),
            }),
        }
    }

    /// Every version of message `id`, for an admin.
    pub async fn message_versions(&self, _admin: &Admin, id: i64) -> Result<MessageVersions, ApiError> {
        self.store.message_versions(id).await.map_err(internal)?.ok_or(ApiError::NotFound)
    }

    /// Searches what `user` may read (see `crate::search` for the rules), newest first, each
    /// result with its highlighted excerpt.
    pub async fn search(&self, user: &PublicUser, params: &SearchParams) -> Result<SearchResults, ApiError> {
        let query = search::parse(&params.q).map_err(|error| ApiError::BadRequest { message: error.to_string() })?;
        let public = match params.scope.as_deref() {
            None | Some("") | Some("member") => false,
            Some("public") => true,
            Some(_) => return Err(ApiError::BadRequest { message: "scope is member or public".into() }),
        };
        let limit = params.limit.unwrap_or(SEARCH_PAGE.default);
        if !(1..=SEARCH_PAGE.max).contains(&limit) {
            return Err(ApiError::BadRequest { message: format!("limit is 1 to {}", SEARCH_PAGE.max) });
        }
        let request =
            SearchRequest { query, viewer: user.id, room: params.room_id, public, before: params.before, limit };
        let mut results = self.store.search(&request).await.map_err(internal)?;
        for message in &mut results {
            message.highlight =
                Some(search::highlight(&message.content, &request.query.terms, HIGHLIGHT_CONTEXT_CHARS));
        }
        Ok(SearchResults { results })
    }
}

#[cfg(test)]
mod tests {
    use super::mentioned_names;

    #[test]
    fn mentions_are_names_after_an_at_sign_once_each_in_order() {
        assert_eq!(mentioned_names("hi @Alice and @bob, @alice again"), ["alice", "bob"]);
        assert_eq!(mentioned_names("@carol. @dave-"), ["carol", "dave"]);
        assert!(mentioned_names("mail me: x@example.org").is_empty(), "an address is not a mention");
        assert!(mentioned_names("@@eve @ab @").is_empty(), "too short or doubled");
        assert_eq!(mentioned_names("(@frank)"), ["frank"]);
        let many: String = (0..80).map(|i| format!("@user{i} ")).collect();
        assert_eq!(mentioned_names(&many).len(), app::protocol::MAX_MENTIONS_PER_MESSAGE);
    }
}
