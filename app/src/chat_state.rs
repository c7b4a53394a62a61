//! The browser's chat state, apart from the components that show it (`pages::chat`) and the
//! connection that feeds it (`chat_client`): who I am, the link's state, the banner, and each
//! conversation's messages, pending sends and paging flags, keyed by the conversation's room id.

use crate::models::{ChatMessage, PublicUser};
use crate::protocol::GENERAL_ROOM_ID;
use leptos::html;
use leptos::prelude::*;
use std::collections::HashMap;

/// Connection state shown by the indicator.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Link {
    Connecting,
    Open,
    Closed,
}

impl Link {
    pub fn as_str(self) -> &'static str {
        match self {
            Link::Connecting => "connecting",
            Link::Open => "open",
            Link::Closed => "closed",
        }
    }
}

/// A message typed here and not yet acknowledged by the server.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Pending {
    pub client_id: String,
    pub content: String,
}

/// The signed-in user, as the page needs them.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Me {
    pub id: i64,
    pub username: String,
}

/// One conversation's messages (sorted by id, no duplicates), the sends waiting for their
/// acknowledgement, and whether older messages may be loaded.
#[derive(Clone, Copy)]
pub struct Conversation {
    pub room_id: i64,
    pub messages: RwSignal<Vec<ChatMessage>>,
    pub pending: RwSignal<Vec<Pending>>,
    pub more_older: RwSignal<bool>,
    pub loading_older: RwSignal<bool>,
    /// Who else is typing here, each until when (ms since the epoch).
    pub typing: RwSignal<Vec<(String, f64)>>,
}

impl Conversation {
    fn new(room_id: i64) -> Self {
        Self {
            room_id,
            messages: RwSignal::new(Vec::new()),
            pending: RwSignal::new(Vec::new()),
            more_older: RwSignal::new(true),
            loading_older: RwSignal::new(false),
            typing: RwSignal::new(Vec::new()),
        }
    }

    /// `username` is typing, until `until` unless renewed.
    pub fn start_typing(&self, username: String, until: f64) {
        self.typing.update(|typing| match typing.iter_mut().find(|(name, _)| *name == username) {
            Some(entry) => entry.1 = until,
            None => typing.push((username, until)),
        });
    }

    /// `username` sent their message: no longer typing.
    pub fn stop_typing(&self, username: &str) {
        if self.typing.with_untracked(|typing| typing.iter().any(|(name, _)| name == username)) {
            self.typing.update(|typing| typing.retain(|(name, _)| name != username));
        }
    }

    /// Forgets whoever has not renewed their typing by `now`.
    pub fn expire_typing(&self, now: f64) {
        if self.typing.with_untracked(|typing| typing.iter().any(|(_, until)| *until <= now)) {
            self.typing.update(|typing| typing.retain(|(_, until)| *until > now));
        }
    }

    /// "alice is typing…", "alice and bob are typing…", "several people are typing…", or none.
    pub fn typing_line(&self) -> Option<String> {
        self.typing.with(|typing| match typing.as_slice() {
            [] => None,
            [(one, _)] => Some(format!("{one} is typing…")),
            [(one, _), (two, _)] => Some(format!("{one} and {two} are typing…")),
            _ => Some("several people are typing…".to_owned()),
        })
    }
}

/// Everything the chat view and the connection share.
#[derive(Clone, Copy)]
pub struct ChatState {
    pub me: StoredValue<Me>,
    conversations: StoredValue<HashMap<i64, Conversation>>,
    /// The conversation on screen.
    pub current: RwSignal<i64>,
    pub link: RwSignal<Link>,
    pub banner: RwSignal<Option<(String, bool)>>,
    pub list: NodeRef<html::Ul>,
}

impl ChatState {
    pub fn new(me: &PublicUser) -> Self {
        let general = Conversation::new(GENERAL_ROOM_ID);
        Self {
            me: StoredValue::new(Me { id: me.id, username: me.username.clone() }),
            conversations: StoredValue::new(HashMap::from([(GENERAL_ROOM_ID, general)])),
            current: RwSignal::new(GENERAL_ROOM_ID),
            link: RwSignal::new(Link::Connecting),
            banner: RwSignal::new(None),
            list: NodeRef::new(),
        }
    }

    /// The conversation of `room_id` (made on first use).
    pub fn conversation(&self, room_id: i64) -> Conversation {
        if let Some(known) = self.conversations.with_value(|all| all.get(&room_id).copied()) {
            return known;
        }
        let made = Conversation::new(room_id);
        self.conversations.update_value(|all| {
            all.insert(room_id, made);
        });
        made
    }

    /// The conversation on screen.
    pub fn current_conversation(&self) -> Conversation {
        self.conversation(self.current.get_untracked())
    }

    /// Whether a message is mine (by sender id, never by name).
    pub fn is_mine(&self, message: &ChatMessage) -> bool {
        message.sender_id == self.me.with_value(|me| me.id)
    }

    /// The newest message id of every conversation: where a reconnect catches up from.
    pub fn last_message_id(&self) -> Option<i64> {
        self.conversations
            .with_value(|all| all.values().filter_map(|c| c.messages.with_untracked(|m| m.last().map(|m| m.id))).max())
    }

    /// Adds messages (any order, any conversation, duplicates ignored), each to its
    /// conversation sorted by id; drops the pending copies they acknowledge.
    pub fn merge(&self, incoming: Vec<ChatMessage>) {
        let mut by_room: HashMap<i64, Vec<ChatMessage>> = HashMap::new();
        for message in incoming {
            by_room.entry(message.room_id).or_default().push(message);
        }
        for (room_id, messages) in by_room {
            let conversation = self.conversation(room_id);
            let acknowledged: Vec<String> =
                messages.iter().filter(|m| self.is_mine(m)).filter_map(|m| m.client_id.clone()).collect();
            conversation.messages.update(|list| merge_sorted(list, messages));
            if !acknowledged.is_empty() {
                conversation.pending.update(|p| p.retain(|x| !acknowledged.contains(&x.client_id)));
            }
        }
    }

    /// Forgets a pending message the server refused (it must not be resent on reconnect).
    pub fn drop_pending(&self, client_id: &str) {
        self.conversations.with_value(|all| {
            for conversation in all.values() {
                conversation.pending.update(|p| p.retain(|x| x.client_id != client_id));
            }
        });
    }

    /// Every pending send of every conversation (resent after a reconnect).
    pub fn all_pending(&self) -> Vec<(i64, Pending)> {
        self.conversations.with_value(|all| {
            all.values().flat_map(|c| c.pending.get_untracked().into_iter().map(move |p| (c.room_id, p))).collect()
        })
    }
}

/// Inserts `incoming` into `list` (sorted by id), skipping ids already present.
pub fn merge_sorted(list: &mut Vec<ChatMessage>, incoming: Vec<ChatMessage>) {
    for message in incoming {
        if let Err(at) = list.binary_search_by_key(&message.id, |m| m.id) {
            list.insert(at, message);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msg(id: i64, sender_id: i64, room_id: i64) -> ChatMessage {
        ChatMessage {
            id,
            sender_id,
            username: format!("u{sender_id}"),
            content: format!("m{id}"),
            timestamp: "2026-01-01T00:00:00.000Z".into(),
            room: "general".into(),
            room_id,
            client_id: Some(format!("c{id}")),
        }
    }

    fn me() -> PublicUser {
        PublicUser {
            id: 7,
            username: "me".into(),
            email: "me@x.io".into(),
            is_admin: false,
            is_blocked: false,
            warning_count: 0,
            created_at: String::new(),
        }
    }

    #[test]
    fn merge_keeps_order_and_drops_duplicates() {
        let mut list = vec![msg(2, 1, 1), msg(5, 1, 1)];
        merge_sorted(&mut list, vec![msg(7, 1, 1), msg(1, 1, 1), msg(5, 1, 1), msg(3, 1, 1), msg(7, 1, 1)]);
        let ids: Vec<i64> = list.iter().map(|m| m.id).collect();
        assert_eq!(ids, vec![1, 2, 3, 5, 7]);
    }

    #[test]
    fn messages_go_to_their_conversation_and_mine_is_decided_by_id() {
        let owner = Owner::new();
        owner.with(|| {
            let state = ChatState::new(&me());
            state
                .conversation(GENERAL_ROOM_ID)
                .pending
                .set(vec![Pending { client_id: "c3".into(), content: "m3".into() }]);
            // Someone else named "me" would not count as me: only the id does.
            state.merge(vec![msg(3, 7, GENERAL_ROOM_ID), msg(4, 8, 9), msg(2, 8, GENERAL_ROOM_ID)]);
            let general = state.conversation(GENERAL_ROOM_ID);
            assert_eq!(general.messages.get_untracked().iter().map(|m| m.id).collect::<Vec<_>>(), vec![2, 3]);
            assert!(general.pending.get_untracked().is_empty(), "my message acknowledged its pending copy");
            assert_eq!(state.conversation(9).messages.get_untracked().len(), 1);
            assert_eq!(state.last_message_id(), Some(4));
            assert!(state.is_mine(&msg(1, 7, 1)) && !state.is_mine(&msg(1, 8, 1)));
        });
    }

    #[test]
    fn typing_is_shown_until_it_expires_or_the_message_arrives() {
        let owner = Owner::new();
        owner.with(|| {
            let room = Conversation::new(GENERAL_ROOM_ID);
            assert_eq!(room.typing_line(), None);
            room.start_typing("alice".into(), 1000.0);
            assert_eq!(room.typing_line().as_deref(), Some("alice is typing…"));
            room.start_typing("bob".into(), 2000.0);
            room.start_typing("alice".into(), 3000.0);
            assert_eq!(room.typing_line().as_deref(), Some("alice and bob are typing…"));
            room.expire_typing(2500.0);
            assert_eq!(room.typing_line().as_deref(), Some("alice is typing…"), "bob's ran out, alice renewed");
            room.stop_typing("alice");
            assert_eq!(room.typing_line(), None);
        });
    }
}
