//! The values the store takes and gives, whichever backend holds them: users, messages and their
//! history views, rooms, and what a batch insert did with each message.

use app::models::{ChatMessage, PublicUser, RoomKind};

/// A user row including its secret parts; never serialised.
#[derive(Clone)]
pub struct UserRecord {
    pub public: PublicUser,
    pub password_hash: String,
    pub token_version: i64,
}

/// A message accepted for storage.
pub struct NewMessage {
    pub sender_id: i64,
    pub username: String,
    /// The conversation, and its name as message frames carry it (`dm` for a DM).
    pub room_id: i64,
    pub room: String,
    pub content: String,
    pub client_id: Option<String>,
}

/// Which messages a history read sees.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct View {
    /// One conversation; `None`: every conversation the viewer is in (every one, without a
    /// viewer).
    pub room: Option<i64>,
    /// Whose eyes: the messages of the people this user ignores are left out.
    pub viewer: Option<i64>,
}

impl View {
    /// One conversation as `viewer` sees it.
    pub fn room(room: i64, viewer: i64) -> Self {
        Self { room: Some(room), viewer: Some(viewer) }
    }

    /// Every conversation `viewer` is in.
    pub fn member(viewer: i64) -> Self {
        Self { room: None, viewer: Some(viewer) }
    }
}

/// What storing one message of a batch gave.
pub enum Stored {
    /// Inserted now: broadcast it.
    New(ChatMessage),
    /// Its `client_id` was stored before (a retry): acknowledge with the original, no broadcast.
    Duplicate(ChatMessage),
    /// A retry of a stored `client_id` whose original could not be read back (the error is
    /// logged). Nothing was inserted for it; its sender may safely send it again.
    DuplicateUnread,
    /// Not stored: its sender was blocked when the batch committed. The check is part of the
    /// INSERT itself, so no message commits after the block that refuses it.
    Refused,
}

/// A room as stored (no viewer's counts).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoomRecord {
    pub id: i64,
    pub kind: RoomKind,
    /// `None` for a DM.
    pub name: Option<String>,
    pub topic: String,
    pub owner_id: Option<i64>,
    /// A DM's two people, the lower id first.
    pub dm_pair: Option<(i64, i64)>,
    pub archived: bool,
}

impl RoomRecord {
    /// For a DM, the other person of the pair.
    pub fn peer_of(&self, user_id: i64) -> Option<i64> {
        self.dm_pair.map(|(low, high)| if low == user_id { high } else { low })
    }
}

/// What a change of a room's name, topic or archive flag does.
#[derive(Debug, Clone, Default)]
pub struct RoomChange {
    pub name: Option<String>,
    pub topic: Option<String>,
    pub archived: Option<bool>,
}

/// Why a membership was not added.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Joined {
    /// Now a member.
    Added,
    /// A member already.
    Already,
    /// In as many conversations as one may be.
    Full,
}

/// A room kind as stored.
pub(crate) fn room_kind(text: String) -> Result<RoomKind, sqlx::Error> {
    RoomKind::parse(&text).ok_or_else(|| sqlx::Error::Decode(format!("unknown room kind {text:?}").into()))
}

/// How many of `messages` (newest first) fit in `max_bytes` of JSON (at least one).
pub fn within_bytes(messages: &[ChatMessage], max_bytes: usize) -> usize {
    let mut budget = Budget::new(max_bytes);
    messages.iter().take_while(|m| budget.take(m)).count()
}

/// Bytes of JSON a history frame may still take; the first message always fits.
pub(crate) struct Budget {
    left: usize,
    first: bool,
}

impl Budget {
    pub(crate) fn new(max_bytes: usize) -> Self {
        Self { left: max_bytes, first: true }
    }

    /// Takes the room `message` needs; false (taking nothing) when it does not fit.
    pub(crate) fn take(&mut self, message: &ChatMessage) -> bool {
        // The message as it appears in the frame, and its separating comma.
        let size = serde_json::to_string(message).map_or(usize::MAX, |json| json.len() + 1);
        let first = std::mem::replace(&mut self.first, false);
        if size > self.left && !first {
            return false;
        }
        self.left = self.left.saturating_sub(size);
        true
    }
}

/// Now as RFC 3339 UTC with milliseconds, the format of every stored timestamp.
pub fn now_rfc3339() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}
