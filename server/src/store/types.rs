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
#[derive(Default)]
pub struct NewMessage {
    pub sender_id: i64,
    pub username: String,
    /// The conversation, and its name as message frames carry it (`dm` for a DM).
    pub room_id: i64,
    pub room: String,
    pub content: String,
    pub client_id: Option<String>,
    /// What the review queue does once it is stored (`None`: nothing).
    pub review: Option<Review>,
    /// The message of the same conversation it answers, as it was when checked.
    pub reply_to: Option<app::models::ReplyTo>,
    /// The members it mentions: `(user id, username)`, in the order written.
    pub mentions: Vec<(i64, String)>,
    /// Its text as search reads it, when the door computed it already (off the writer's task);
    /// `None`: the store computes it.
    pub search: Option<(String, String)>,
    /// The files it posts (claimed under `claim` by the sender), in the order given.
    pub attachments: Vec<app::models::Attachment>,
    pub claim: Option<String>,
}

impl NewMessage {
    /// The `attachments` column: NULL when it has none.
    pub(crate) fn attachments_json(&self) -> Option<String> {
        if self.attachments.is_empty() {
            None
        } else {
            serde_json::to_string(&self.attachments).ok()
        }
    }
}

/// A message's `attachments` column: the JSON of its files (NULL, or unreadable: none).
pub(crate) fn attachments_from_json(json: Option<&str>) -> Vec<app::models::Attachment> {
    json.and_then(|json| serde_json::from_str(json).ok()).unwrap_or_default()
}

impl NewMessage {
    /// The usernames it mentions, as stored (space-separated).
    pub(crate) fn mention_names(&self) -> String {
        self.mentions.iter().map(|(_, name)| name.as_str()).collect::<Vec<_>>().join(" ")
    }

    /// Its text as search reads it: folded, and its words.
    pub(crate) fn search_columns(&self) -> (String, String) {
        self.search.clone().unwrap_or_else(|| search_columns(&self.content))
    }
}

/// `content` as search reads it (`search_text`, `search_words`): folded, and its words shorter
/// than a trigram, once each (a longer term is found through the text's trigrams).
pub fn search_columns(content: &str) -> (String, String) {
    let folded = crate::search::text::normalize(content);
    let mut short: Vec<&str> = Vec::new();
    let all = crate::search::text::words(&folded);
    for word in all.split(' ') {
        if !word.is_empty() && word.chars().count() < crate::search::MIN_SUBSTRING_CHARS && !short.contains(&word) {
            short.push(word);
        }
    }
    let words = short.join(" ");
    (folded, words)
}

/// What the review queue does with a message once it is stored.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Review {
    /// The classifier flagged it (`score`): delivered, and queued for review.
    Flagged { score: f64 },
    /// A held message an admin approved: its review item `item` now names it.
    Approved { item: i64 },
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
    /// Not stored: its sender was blocked when the batch committed, or is no longer in the
    /// conversation, or it is archived. The check is part of the INSERT itself, so no message
    /// commits after the block, leave or archive that refuses it.
    Refused,
    /// Its `client_id` was stored before for a message of another conversation (or of one its
    /// sender has left since): nothing is stored, and the original is not shown.
    ClientIdTaken,
}

/// What storing a batch gave: each message's fate, in the batch's order, and the newest entry of
/// the room-change feed committed before the batch (a node applies the feed up to it before it
/// delivers the batch, so nobody gets a message committed after they left or were removed).
pub struct StoredBatch {
    pub stored: Vec<Stored>,
    pub feed: i64,
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
    /// Archived by an admin: only an admin may bring it back.
    pub archived_by_admin: bool,
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

/// What adding a member did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Joined {
    /// Now a member; the feed entry that says so.
    Added { seq: i64 },
    /// A member already.
    Already,
    /// In as many conversations as one may be.
    Full,
    /// Removed from this room by an admin, who has not lifted it.
    Banned,
}

/// What creating a room did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Created {
    /// The new room, and the feed entry that announces it.
    Room { id: i64, seq: i64 },
    /// The owner is in as many conversations as one may be.
    TooManyConversations,
    /// The owner has created as many rooms as one may (left or not).
    TooManyOwned,
}

/// What an invitation to a room did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Invited {
    /// Waiting for the invitee's answer; the feed entry that tells them.
    Pending { seq: i64 },
    /// An invitation was waiting already.
    Already,
    /// The invitee is a member already.
    Member,
    /// Removed from this room by an admin.
    Banned,
    /// The invitee has as many invitations waiting as one may.
    TooMany,
}

/// What ignoring someone did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IgnoreAdded {
    Added {
        seq: i64,
    },
    Already,
    /// At the cap on ignores.
    Full,
}

/// What reporting a message did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reported {
    /// Recorded, on review item `item`.
    Recorded { item: i64 },
    /// This reporter reported it before, or it is removed already: nothing changed.
    Already,
    /// No such message, or one of a conversation the reporter is not in.
    Unreadable,
    /// The reporter's own message.
    Own,
}

/// How an admin resolved a review item.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resolution {
    Approved,
    Removed,
    Struck,
}

impl Resolution {
    /// As the item's `state` stores it.
    pub fn as_str(self) -> &'static str {
        match self {
            Resolution::Approved => "approved",
            Resolution::Removed => "removed",
            Resolution::Struck => "struck",
        }
    }
}

/// Which review items a read wants.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReviewFilter {
    /// Open items, front of the queue first: those behind item `before` (all when `None`), at
    /// most `limit`.
    Open { before: Option<i64>, limit: i64 },
    /// One item, whatever its state.
    One(i64),
}

/// A review item as stored: what the queue shows (its reports not attached yet), and the
/// message it is about (`None` while held).
#[derive(Debug, Clone, PartialEq)]
pub struct ReviewRecord {
    pub item: app::models::ReviewItem,
    pub message_id: Option<i64>,
}

/// What removing a message did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Removal {
    /// Removed now, in `room`; the feed entry that tells its members.
    Removed { room: i64, seq: i64 },
    /// It was removed before (nothing changed).
    Already { room: i64 },
    /// No such message.
    NotFound,
}

/// One change of the room-change feed (`room_changes`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    /// A public or private room was created with its owner as its only member.
    Created { room: i64, owner: i64 },
    /// A DM was opened, with its two people as members (`low` < `high`).
    Dm { room: i64, low: i64, high: i64 },
    /// A room was renamed, got a new topic, was archived or brought back.
    Room { room: i64 },
    /// `user` joined, was added, or accepted an invitation.
    Joined { room: i64, user: i64 },
    /// `user` left (`removed`: was removed by the owner or an admin).
    Left { room: i64, user: i64, removed: bool },
    /// `user` was invited by `inviter` and has not answered yet.
    Invited { room: i64, user: i64, inviter: i64 },
    /// `user` started (`on`) or stopped ignoring `ignored`.
    Ignored { user: i64, ignored: i64, on: bool },
    /// An admin removed `message` of `room`.
    MessageRemoved { room: i64, message: i64 },
    /// `user` edited `message` of `room`.
    MessageEdited { room: i64, message: i64, user: i64 },
    /// `user` (its sender or an admin) deleted `message` of `room`.
    MessageDeleted { room: i64, message: i64, user: i64 },
    /// `user` added (`added`) or took back a reaction to `message`; the emoji is the entry's
    /// `detail`.
    Reacted { room: i64, message: i64, user: i64, added: bool },
}

impl Change {
    /// The change as its feed row stores it: `(kind, room_id, user_id, other_id)`.
    pub(crate) fn columns(&self) -> (&'static str, Option<i64>, Option<i64>, Option<i64>) {
        match *self {
            Change::Created { room, owner } => ("created", Some(room), Some(owner), None),
            Change::Dm { room, low, high } => ("dm", Some(room), Some(low), Some(high)),
            Change::Room { room } => ("room", Some(room), None, None),
            Change::Joined { room, user } => ("joined", Some(room), Some(user), None),
            Change::Left { room, user, removed: false } => ("left", Some(room), Some(user), None),
            Change::Left { room, user, removed: true } => ("removed", Some(room), Some(user), None),
            Change::Invited { room, user, inviter } => ("invited", Some(room), Some(user), Some(inviter)),
            Change::Ignored { user, ignored, on: true } => ("ignored", None, Some(user), Some(ignored)),
            Change::Ignored { user, ignored, on: false } => ("unignored", None, Some(user), Some(ignored)),
            Change::MessageRemoved { room, message } => ("message_removed", Some(room), None, Some(message)),
            Change::MessageEdited { room, message, user } => ("message_edited", Some(room), Some(user), Some(message)),
            Change::MessageDeleted { room, message, user } => {
                ("message_deleted", Some(room), Some(user), Some(message))
            }
            Change::Reacted { room, message, user, added: true } => {
                ("reaction_added", Some(room), Some(user), Some(message))
            }
            Change::Reacted { room, message, user, added: false } => {
                ("reaction_removed", Some(room), Some(user), Some(message))
            }
        }
    }

    /// The change a feed row stores (`None`: a row this version does not know, or a broken one).
    pub(crate) fn from_columns(kind: &str, room: Option<i64>, user: Option<i64>, other: Option<i64>) -> Option<Self> {
        Some(match kind {
            "created" => Change::Created { room: room?, owner: user? },
            "dm" => Change::Dm { room: room?, low: user?, high: other? },
            "room" => Change::Room { room: room? },
            "joined" => Change::Joined { room: room?, user: user? },
            "left" => Change::Left { room: room?, user: user?, removed: false },
            "removed" => Change::Left { room: room?, user: user?, removed: true },
            "invited" => Change::Invited { room: room?, user: user?, inviter: other? },
            "ignored" => Change::Ignored { user: user?, ignored: other?, on: true },
            "unignored" => Change::Ignored { user: user?, ignored: other?, on: false },
            "message_removed" => Change::MessageRemoved { room: room?, message: other? },
            "message_edited" => Change::MessageEdited { room: room?, message: other?, user: user? },
            "message_deleted" => Change::MessageDeleted { room: room?, message: other?, user: user? },
            "reaction_added" => Change::Reacted { room: room?, message: other?, user: user?, added: true },
            "reaction_removed" => Change::Reacted { room: room?, message: other?, user: user?, added: false },
            _ => return None,
        })
    }
}

/// One entry of the room-change feed, with the usernames the frames it causes name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FeedEntry {
    /// Gapless and in commit order.
    pub seq: i64,
    /// `None` for an entry this version does not know (skipped).
    pub change: Option<Change>,
    /// The username of the entry's `user_id` (the member, the invitee, the one ignoring).
    pub username: Option<String>,
    /// The username of its `other_id` (the inviter, the ignored).
    pub other_username: Option<String>,
    /// A reaction's emoji.
    pub detail: Option<String>,
}

/// What editing a message did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Edit {
    /// Edited now: the message as it is now (no viewer's reactions), and the feed entry.
    Edited { message: ChatMessage, seq: i64 },
    /// The text was the same: nothing changed.
    Unchanged(ChatMessage),
    /// Unknown, or not readable by the editor (not a member), or deleted or removed.
    NotFound,
    /// Someone else's message.
    NotSender,
    /// Its conversation is archived.
    Archived,
    /// Past the edit window.
    TooLate,
}

/// What deleting a message did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Deletion {
    /// Deleted now, in `room`; the feed entry.
    Deleted { room: i64, seq: i64 },
    /// Deleted (or removed) before: nothing changed.
    Already,
    /// Unknown, or not readable by the one deleting.
    NotFound,
    /// Someone else's message, and not an admin.
    Forbidden,
}

/// What adding or taking back a reaction did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reacting {
    /// Changed: the feed entry.
    Changed { seq: i64 },
    /// It already was so (idempotent).
    Unchanged,
    /// Unknown, not readable, deleted or removed.
    NotFound,
    /// Its conversation is archived.
    Archived,
    /// The message has as many distinct emoji as it may.
    TooMany,
}

/// A search as the store runs it: the parsed query and where to look.
#[derive(Debug, Clone)]
pub struct SearchRequest {
    pub query: crate::search::Query,
    /// The searcher: only conversations they are in (and with `public`, public rooms they
    /// could join), never people they ignore.
    pub viewer: i64,
    pub room: Option<i64>,
    pub public: bool,
    /// Results older than this message id.
    pub before: Option<i64>,
    pub limit: i64,
}

/// Rooms with their members' ids, from the `(room, member)` pairs read beside them.
pub(crate) fn with_members(rooms: Vec<RoomRecord>, pairs: Vec<(i64, i64)>) -> Vec<(RoomRecord, Vec<i64>)> {
    let mut members: std::collections::HashMap<i64, Vec<i64>> = std::collections::HashMap::new();
    for (room, member) in pairs {
        members.entry(room).or_default().push(member);
    }
    rooms
        .into_iter()
        .map(|room| {
            let ids = members.remove(&room.id).unwrap_or_default();
            (room, ids)
        })
        .collect()
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

/// Gives `messages` their reactions from rows `(message id, emoji, count, me)` in each message's
/// order of first use.
pub(crate) fn attach_reactions(messages: &mut [ChatMessage], rows: impl IntoIterator<Item = (i64, String, i64, bool)>) {
    let mut by_message: std::collections::HashMap<i64, Vec<app::models::Reaction>> = std::collections::HashMap::new();
    for (message, emoji, count, me) in rows {
        by_message.entry(message).or_default().push(app::models::Reaction { emoji, count, me });
    }
    for message in messages {
        message.reactions = by_message.remove(&message.id).unwrap_or_default();
    }
}

/// The versions of `message` as admins see them: `versions` as kept, oldest first, a removal's
/// last. A message never edited or deleted has no version kept: its original is its text now
/// (or, removed, the text the removal kept).
pub(crate) fn complete_versions(
    message: ChatMessage,
    mut versions: Vec<app::models::MessageVersion>,
) -> app::models::MessageVersions {
    if versions.iter().all(|version| version.kind == "removal") {
        let content = match versions.first() {
            Some(removal) if message.removed => removal.content.clone(),
            _ => message.content.clone(),
        };
        let original = app::models::MessageVersion {
            kind: "original".into(),
            content,
            username: message.username.clone(),
            timestamp: message.timestamp.clone(),
            reason: None,
        };
        versions.insert(0, original);
    }
    app::models::MessageVersions { message, versions }
}

/// Whether a message sent at `created_at` (RFC 3339) is past an edit window of `window_secs`.
pub(crate) fn past_window(created_at: &str, window_secs: u64) -> bool {
    if window_secs == 0 {
        return false;
    }
    let Ok(sent) = chrono::DateTime::parse_from_rfc3339(created_at) else { return false };
    let window = chrono::Duration::seconds(i64::try_from(window_secs).unwrap_or(i64::MAX / 1000));
    chrono::Utc::now().signed_duration_since(sent) > window
}

#[cfg(test)]
mod tests {
    use super::past_window;

    #[test]
    fn the_edit_window_is_off_at_zero_and_counts_from_the_send() {
        let long_ago = "2020-01-01T00:00:00.000Z";
        assert!(!past_window(long_ago, 0));
        assert!(past_window(long_ago, 60));
        assert!(!past_window(&super::now_rfc3339(), 60));
    }
}

/// A stored upload's facts (its bytes are the file store's, under its id).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UploadRecord {
    pub id: String,
    pub uploader_id: i64,
    pub name: String,
    pub size: i64,
    pub content_type: String,
    pub width: Option<i64>,
    pub height: Option<i64>,
    /// Images only: the thumbnail's type.
    pub thumbnail_type: Option<String>,
    pub created_at: String,
    /// The message that posted it, and its conversation (`None`: not posted).
    pub message_id: Option<i64>,
    pub room_id: Option<i64>,
}

/// The characters a file name keeps unescaped in a URL path segment (RFC 3986 unreserved).
const PATH_SEGMENT: &percent_encoding::AsciiSet =
    &percent_encoding::NON_ALPHANUMERIC.remove(b'-').remove(b'.').remove(b'_').remove(b'~');

impl UploadRecord {
    /// As clients see it.
    pub fn attachment(&self) -> app::models::Attachment {
        let name = percent_encoding::utf8_percent_encode(&self.name, PATH_SEGMENT);
        app::models::Attachment {
            id: self.id.clone(),
            name: self.name.clone(),
            size: self.size,
            content_type: self.content_type.clone(),
            url: format!("/files/{}/{name}", self.id),
            width: self.width.and_then(|w| u32::try_from(w).ok()),
            height: self.height.and_then(|h| u32::try_from(h).ok()),
            thumbnail_url: self.thumbnail_type.as_ref().map(|_| format!("/files/{}/thumbnail", self.id)),
        }
    }
}

/// What became of an uploader deleting their own upload.
#[derive(Debug)]
pub enum OwnUploadDeletion {
    Deleted(UploadRecord),
    /// Posted already (or being posted): it goes with its message.
    Posted,
    NotFound,
}

/// An upload an admin removed: its facts, and the feed entry of the message it was taken out of
/// (`None`: it was not posted).
#[derive(Debug)]
pub struct UploadRemoval {
    pub record: UploadRecord,
    pub seq: Option<i64>,
}

/// A message's `attachments` column without upload `id` (NULL when none remain).
pub(crate) fn without_attachment(json: Option<&str>, id: &str) -> Option<String> {
    let mut attachments = attachments_from_json(json);
    attachments.retain(|attachment| attachment.id != id);
    if attachments.is_empty() {
        None
    } else {
        serde_json::to_string(&attachments).ok()
    }
}

/// What deleting an account did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AccountDeleted {
    /// Deleted; the username it had (retired for a while).
    Deleted { username: String },
    /// Refused: it is the only admin.
    OnlyAdmin,
    /// No such account (or deleted already).
    NotFound,
}
