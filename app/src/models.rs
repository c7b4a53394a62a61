//! Typed models of the public contract, shared by the WASM client and the server: REST bodies and
//! WebSocket frames. `docs/protocol.md` documents the same shapes for third-party clients.

use serde::{Deserialize, Serialize};

/// A user as anyone but the store sees it: never a password hash.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct PublicUser {
    pub id: i64,
    pub username: String,
    pub email: String,
    pub is_admin: bool,
    pub is_blocked: bool,
    pub warning_count: i64,
    /// RFC 3339 UTC.
    pub created_at: String,
}

/// `POST /register` body. `Debug` never shows the password.
#[derive(Clone, Deserialize, Serialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct RegisterRequest {
    pub username: String,
    pub email: String,
    pub password: String,
}

impl std::fmt::Debug for RegisterRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RegisterRequest")
            .field("username", &self.username)
            .field("email", &self.email)
            .field("password", &"<redacted>")
            .finish()
    }
}

/// `POST /register` 201 body.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct RegisterResponse {
    pub message: String,
    pub user: PublicUser,
}

/// `POST /login` body: `username` may also be the account's email. `Debug` never shows the
/// password.
#[derive(Clone, Deserialize, Serialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct LoginRequest {
    pub username: String,
    pub password: String,
}

impl std::fmt::Debug for LoginRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoginRequest").field("username", &self.username).field("password", &"<redacted>").finish()
    }
}

/// `POST /login` (and `POST /session/renew`) 200 body. Its `Debug` hides the token.
#[derive(Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct LoginResponse {
    pub access_token: String,
    pub token_type: String,
    /// Seconds until the token expires.
    pub expires_in: u64,
}

impl std::fmt::Debug for LoginResponse {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoginResponse")
            .field("access_token", &"<redacted>")
            .field("token_type", &self.token_type)
            .field("expires_in", &self.expires_in)
            .finish()
    }
}

/// One stored chat message as clients see it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct ChatMessage {
    pub id: i64,
    /// The sender's user id (how a client tells its own messages, whatever the names).
    pub sender_id: i64,
    pub username: String,
    pub content: String,
    /// RFC 3339 UTC, millisecond precision.
    pub timestamp: String,
    /// The conversation's name; `dm` for a direct message (use `room_id`).
    pub room: String,
    /// The conversation's id (`general` is [`crate::protocol::GENERAL_ROOM_ID`]).
    pub room_id: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
    /// Removed by an admin: `content` is empty for everyone (present only when true).
    #[serde(default, skip_serializing_if = "is_false")]
    pub removed: bool,
    /// When its sender last edited it (RFC 3339 UTC), `null` if never.
    #[serde(default)]
    #[cfg_attr(feature = "ssr", schema(required))]
    pub edited_at: Option<String>,
    /// Deleted by its sender or an admin: `content` is empty for everyone.
    #[serde(default)]
    #[cfg_attr(feature = "ssr", schema(required))]
    pub deleted: bool,
    /// The message it answers, `null` when none.
    #[serde(default)]
    #[cfg_attr(feature = "ssr", schema(required))]
    pub reply_to: Option<ReplyTo>,
    /// Reactions, in the order each emoji was first used.
    #[serde(default)]
    #[cfg_attr(feature = "ssr", schema(required))]
    pub reactions: Vec<Reaction>,
    /// The usernames of the members it mentions (`@username`), in the order written.
    #[serde(default)]
    #[cfg_attr(feature = "ssr", schema(required))]
    pub mentions: Vec<String>,
    /// Search results only: the matching excerpt, HTML-escaped, matches in `<mark>`…`</mark>`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub highlight: Option<String>,
    /// The files posted with it, in the order the sender gave them (empty when none).
    #[serde(default)]
    #[cfg_attr(feature = "ssr", schema(required))]
    pub attachments: Vec<Attachment>,
}

/// A file uploaded with `POST /uploads`, as its answer and every message carrying it show it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct Attachment {
    /// Random and unguessable; what a `message` frame's `attachments` names.
    pub id: String,
    /// The file name as the uploader gave it (its last path component, cleaned).
    pub name: String,
    /// Bytes, as stored (an image's after its re-encoding).
    pub size: i64,
    /// Decided from the bytes: `image/jpeg`, `image/png`, `image/gif`, `image/webp`, else
    /// `application/octet-stream`.
    pub content_type: String,
    /// Where to download it: `/files/{id}/{name}` (the name percent-encoded).
    pub url: String,
    /// Images only: pixels, after the EXIF orientation was applied.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub width: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub height: Option<u32>,
    /// Images only: `/files/{id}/thumbnail`, at most [`crate::protocol::THUMBNAIL_MAX_SIDE`] px.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub thumbnail_url: Option<String>,
}

impl Attachment {
    /// Whether it is shown inline as an image.
    pub fn is_image(&self) -> bool {
        self.content_type.starts_with("image/")
    }
}

/// One account's uploads as admins see them (`GET /admin/uploads`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct UploadUsage {
    pub user_id: i64,
    pub username: String,
    /// Files stored (posted or not yet), and their bytes (thumbnails not counted).
    pub count: i64,
    pub bytes: i64,
}

/// `GET /admin/uploads` answer: the accounts with uploads, most bytes first, and their files,
/// newest first, when one account was asked for (`?user=ID`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct UploadsOverview {
    pub users: Vec<UploadUsage>,
    #[serde(default)]
    pub files: Vec<AdminUpload>,
}

/// One stored file as admins see it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct AdminUpload {
    #[serde(flatten)]
    pub attachment: Attachment,
    pub uploader: String,
    /// RFC 3339 UTC.
    pub created_at: String,
    /// The message it was posted with (`null`: not posted yet).
    pub message_id: Option<i64>,
}

/// The message a reply answers, as it is now (the excerpt follows edits; empty once deleted or
/// removed).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct ReplyTo {
    pub id: i64,
    pub username: String,
    /// At most [`crate::protocol::REPLY_EXCERPT_CHARS`] characters of its text.
    pub excerpt: String,
    /// Deleted or removed since (the excerpt is then empty).
    #[serde(default, skip_serializing_if = "is_false")]
    pub gone: bool,
}

/// One emoji's reactions to a message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct Reaction {
    pub emoji: String,
    pub count: i64,
    /// Whether I am among them.
    pub me: bool,
}

/// `PATCH /messages/{id}` body.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct EditMessage {
    pub content: String,
}

/// `GET /search` answer: newest first.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct SearchResults {
    pub results: Vec<ChatMessage>,
}

/// One version of a message, as admins see it (`GET /admin/messages/{id}/versions`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct MessageVersion {
    /// `original`, `edit`, `delete` or `removal`.
    pub kind: String,
    /// The text of this version (the text a deletion or removal took away, for those).
    pub content: String,
    /// Who made it.
    pub username: String,
    /// RFC 3339 UTC.
    pub timestamp: String,
    /// A removal's reason.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// `GET /admin/messages/{id}/versions` answer: the message as members see it now, and every
/// version of it, oldest first.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct MessageVersions {
    pub message: ChatMessage,
    pub versions: Vec<MessageVersion>,
}

fn is_false(value: &bool) -> bool {
    !*value
}

/// What kind of conversation a room is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum RoomKind {
    /// Anyone signed in can see, join and leave it.
    Public,
    /// Members only; members invite others.
    Private,
    /// Exactly two people.
    Dm,
}

impl RoomKind {
    pub fn as_str(self) -> &'static str {
        match self {
            RoomKind::Public => "public",
            RoomKind::Private => "private",
            RoomKind::Dm => "dm",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "public" => Some(RoomKind::Public),
            "private" => Some(RoomKind::Private),
            "dm" => Some(RoomKind::Dm),
            _ => None,
        }
    }
}

/// A conversation as one user sees it (`GET /rooms`, `GET /rooms/public`, the `rooms` and
/// `room` frames).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct Room {
    pub id: i64,
    pub kind: RoomKind,
    /// The room's name; for a DM, the other person's username.
    pub name: String,
    pub topic: String,
    pub member_count: i64,
    /// Messages after my read marker, not mine and not from people I ignore (at most
    /// [`crate::protocol::UNREAD_MAX`]); 0 in a room I am not in.
    pub unread: i64,
    /// The newest message's id, `null` before the first.
    pub last_message_id: Option<i64>,
    /// My read marker (0: nothing read).
    pub last_read_id: i64,
    /// Whether I am a member.
    pub joined: bool,
    /// The owner's username (`null` for `general` and DMs).
    pub owner: Option<String>,
    /// An archived room keeps its history but takes no new messages.
    pub archived: bool,
    /// For a DM: the other person's username.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub peer: Option<String>,
    /// Unread messages that mention me (counted like `unread`); 0 in a room I am not in.
    #[serde(default)]
    #[cfg_attr(feature = "ssr", schema(required))]
    pub mentions: i64,
}

/// An invitation to a private room waiting for its invitee's answer (`GET /invitations`, the
/// `invitation` frame): the room as the invitee sees it (not joined yet), and who invited them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct Invitation {
    pub room: Room,
    pub inviter: String,
}

/// `POST /rooms` body.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct CreateRoom {
    pub name: String,
    pub kind: RoomKind,
    #[serde(default)]
    pub topic: Option<String>,
}

/// `PATCH /rooms/{id}` body: what to change (rename and archive: the owner or an admin; the
/// topic: any member).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct UpdateRoom {
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub topic: Option<String>,
    #[serde(default)]
    pub archived: Option<bool>,
}

/// A body naming a user: `POST /rooms/{id}/members`, `POST /dm`, `POST /ignores`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct UsernameBody {
    pub username: String,
}

/// A body giving a reason: `POST /admin/messages/{id}/remove` (required there),
/// `POST /messages/{id}/report` (optional).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct ReasonBody {
    #[serde(default)]
    pub reason: Option<String>,
}

/// `POST /rooms/{id}/read` body.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct ReadMarker {
    pub last_read_id: i64,
}

/// One member of a conversation (`GET /rooms/{id}/members`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct Member {
    pub username: String,
    pub is_owner: bool,
    pub online: bool,
}

/// A conversation as the admin console sees it (`GET /admin/rooms`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct AdminRoom {
    pub id: i64,
    pub kind: RoomKind,
    /// The room's name; for a DM, both usernames (`alice & bob`).
    pub name: String,
    pub topic: String,
    pub owner: Option<String>,
    pub member_count: i64,
    pub message_count: i64,
    pub archived: bool,
    /// RFC 3339 UTC.
    pub created_at: String,
}

/// Frames a client sends on `/ws`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ClientFrame {
    Message {
        content: String,
        #[serde(default)]
        client_id: Option<String>,
        /// The conversation (absent: `general`).
        #[serde(default)]
        room_id: Option<i64>,
        /// The message of the same conversation this one answers.
        #[serde(default)]
        reply_to: Option<i64>,
        /// Ids of files the sender uploaded and has not posted yet (at most
        /// [`crate::protocol::MAX_ATTACHMENTS_PER_MESSAGE`]); `content` may then be empty.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        attachments: Vec<String>,
    },
    /// "I am typing" in a conversation (absent: `general`); never stored.
    Typing {
        #[serde(default)]
        room_id: Option<i64>,
    },
    /// A page of a conversation's history: the newest, or those older than `before`.
    History {
        room_id: i64,
        #[serde(default)]
        before: Option<i64>,
    },
}

impl ClientFrame {
    /// Parses a client frame; the error says what was wrong in terms a client developer can act
    /// on. Total: any input gives `Ok` or `Err`, never a panic (fuzzed in `fuzz/`).
    pub fn parse(text: &str) -> Result<ClientFrame, String> {
        let value: serde_json::Value = serde_json::from_str(text).map_err(|_| "invalid JSON".to_string())?;
        match value.get("type").and_then(|t| t.as_str()) {
            Some("message") => serde_json::from_value(value).map_err(|e| format!("invalid message frame: {e}")),
            Some("typing") => serde_json::from_value(value).map_err(|e| format!("invalid typing frame: {e}")),
            Some("history") => serde_json::from_value(value).map_err(|e| format!("invalid history frame: {e}")),
            Some(other) => Err(format!("unknown frame type: {}", other.chars().take(32).collect::<String>())),
            None => Err("frame has no type".into()),
        }
    }

    /// The `client_id` a client frame carries, if it is a JSON object with a string one, however
    /// wrong the rest of it is: every `error` frame about it echoes it.
    pub fn client_id_of(text: &str) -> Option<String> {
        let value: serde_json::Value = serde_json::from_str(text).ok()?;
        value.get("client_id")?.as_str().map(str::to_owned)
    }
}

/// Frames the server sends on `/ws`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ServerFrame {
    /// Messages, oldest first. With `room_id`: one conversation's (the first frame of a
    /// connection without `since`, or the answer to a client's `history` frame; `more`: older
    /// ones remain). Without: a `since` catch-up over every conversation (`more`: newer ones
    /// remain, continue with `GET /messages?after=`).
    History {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        room_id: Option<i64>,
        messages: Vec<ChatMessage>,
        more: bool,
    },
    Message(ChatMessage),
    /// A refused frame. `client_id` echoes the refused message's, when it had one.
    Error {
        message: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        client_id: Option<String>,
    },
    /// A message refused by moderation (not stored, not broadcast).
    Warning {
        warning_count: i64,
        max_warnings: i64,
        message: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        client_id: Option<String>,
    },
    Blocked {
        message: String,
    },
    /// Someone else is typing in a conversation; shown for a few seconds unless renewed.
    Typing {
        room_id: i64,
        username: String,
    },
    /// After the first `history` frame: my conversations, and who of the people I share one
    /// with is online.
    Rooms {
        rooms: Vec<Room>,
        online: Vec<String>,
        /// Everyone online, when presence is summarised (a large server): `online` then names
        /// only me and the people I share a conversation other than `general` with.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        online_count: Option<usize>,
        /// The newest message change when the connection started: reconnect with
        /// `changes=` the newest of this and every later frame's `change`.
        #[serde(default)]
        changes: i64,
    },
    /// Someone I share a conversation with came online or went offline.
    Presence {
        username: String,
        online: bool,
    },
    /// How many are online; with `online`, who of them I am told about from now on (it
    /// replaces what I knew): sent when the server starts or stops summarising presence, and
    /// while it summarises, when the number changed (at most every `PRESENCE_SUMMARY_MS`).
    PresenceSummary {
        online_count: usize,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        online: Option<Vec<String>>,
    },
    /// A conversation was added to my list (I created or joined it, was added, a DM was
    /// opened with me) or changed (renamed, new topic, archived).
    Room {
        room: Room,
    },
    /// I am no longer in a conversation (`reason`: `left`, `removed`).
    RoomLeft {
        room_id: i64,
        reason: String,
    },
    /// Someone joined or left a conversation I am in.
    Member {
        room_id: i64,
        username: String,
        joined: bool,
        member_count: i64,
    },
    /// Someone invited me to a private room; it waits for my answer (join, or decline).
    Invitation {
        room: Room,
        inviter: String,
    },
    /// An admin removed a message of a conversation I am in: show it as removed (its text is
    /// gone for everyone; the frame never carries it).
    Removed {
        id: i64,
        room_id: i64,
    },
    /// A message of a conversation I am in was edited: it as it is now. `change`: the position
    /// of this change in the order of message changes (reconnect with `changes=`).
    Edited {
        message: ChatMessage,
        change: i64,
    },
    /// A message of a conversation I am in was deleted: show it as deleted (the frame never
    /// carries its text).
    Deleted {
        id: i64,
        room_id: i64,
        change: i64,
    },
    /// Someone added (or took back) a reaction; `count`: that emoji's reactions now.
    Reaction {
        id: i64,
        room_id: i64,
        emoji: String,
        username: String,
        added: bool,
        count: i64,
        change: i64,
    },
    /// After a reconnect with `since` and `changes`: the messages I hold (ids up to `since`)
    /// that were edited, deleted, removed or reacted to after change `changes`, as they are now,
    /// in change order; `change` is the new cursor. `more`: too many to send, reload history.
    Changes {
        messages: Vec<ChatMessage>,
        change: i64,
        more: bool,
    },
    /// My message was held for review instead of delivered: no `message` frame acknowledges
    /// it; if an admin approves it, it arrives then, with its `client_id`, like any message.
    Held {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        client_id: Option<String>,
        room_id: i64,
    },
}

/// A message as the admin monitor sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct AdminMessage {
    pub id: i64,
    pub sender_id: i64,
    pub username: String,
    pub content: String,
    /// RFC 3339 UTC.
    pub timestamp: String,
    /// The conversation's name (a DM: `alice & bob`).
    pub room: String,
    pub room_id: i64,
    pub room_kind: RoomKind,
    /// Removed by an admin: `content` is empty (present only when true).
    #[serde(default, skip_serializing_if = "is_false")]
    pub removed: bool,
    /// When its sender last edited it (`null`: never).
    #[serde(default)]
    pub edited_at: Option<String>,
    /// Deleted by its sender or an admin: `content` is empty (the text is in its versions).
    #[serde(default)]
    pub deleted: bool,
    /// The files posted with it.
    #[serde(default)]
    pub attachments: Vec<Attachment>,
}

/// A report of a message, as the review queue shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct ReviewReport {
    pub username: String,
    /// Empty when the reporter gave none.
    pub reason: String,
    /// RFC 3339 UTC.
    pub timestamp: String,
}

/// One item of the review queue (`GET /admin/review`), or one an admin resolved.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct ReviewItem {
    pub id: i64,
    /// The message as members see it now. A held message is not delivered yet: its `id` is 0
    /// until an admin approves it (then the id it was delivered with).
    pub message: ChatMessage,
    /// Why it is queued: `classifier` and/or `report`.
    pub sources: Vec<String>,
    /// The classifier's score (0..=1), when the classifier queued it.
    pub score: Option<f64>,
    pub reports: Vec<ReviewReport>,
    /// Stored, not delivered: waiting for an admin's approval.
    pub held: bool,
    /// RFC 3339 UTC.
    pub created_at: String,
    /// The text as it was sent (admins only), kept after a removal.
    pub content: String,
    /// The messages around it in its conversation when it was queued (oldest first).
    pub context: Vec<ChatMessage>,
    /// `open`, `approved`, `removed` or `struck`.
    pub state: String,
    /// Who resolved it, when and why (absent while open).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resolved_by: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resolved_at: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// `POST /admin/review/{id}` body.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct ReviewDecision {
    /// `approve`, `remove` or `strike`.
    pub action: String,
    #[serde(default)]
    pub reason: Option<String>,
}

/// `GET /me/standing`: where my account stands with moderation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct Standing {
    /// Warnings that count now (the account is blocked at `max_warnings`).
    pub warnings: i64,
    pub max_warnings: i64,
    pub blocked: bool,
    /// Every violation, newest first.
    pub history: Vec<StandingEntry>,
}

/// One violation of my account.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct StandingEntry {
    /// RFC 3339 UTC.
    pub timestamp: String,
    /// The listed word that matched, or `admin review` for an admin's strike.
    pub rule: String,
    /// The conversation it happened in (absent for violations from before this was recorded).
    pub room_id: Option<i64>,
    /// Whether it still counts: warnings reset by an unblock or an accepted appeal do not.
    pub counted: bool,
}

/// `POST /appeals` body: a blocked person asks to be let back. `Debug` never shows the password.
#[derive(Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct AppealRequest {
    pub username: String,
    pub password: String,
    pub text: String,
}

impl std::fmt::Debug for AppealRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppealRequest")
            .field("username", &self.username)
            .field("text", &self.text)
            .finish_non_exhaustive()
    }
}

/// `POST /appeals` answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct AppealCreated {
    pub id: i64,
    pub state: String,
}

/// An appeal as admins see it (`GET /admin/appeals`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct Appeal {
    pub id: i64,
    pub user: PublicUser,
    pub text: String,
    /// `open`, `accepted` or `rejected`.
    pub state: String,
    /// RFC 3339 UTC.
    pub created_at: String,
    /// Who decided it, when and why (absent while open).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decided_by: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decided_at: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// `POST /admin/appeals/{id}` body.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct AppealDecision {
    /// `accept` or `reject`.
    pub decision: String,
    #[serde(default)]
    pub reason: Option<String>,
}

/// One entry of the moderation log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct ModerationEntry {
    pub id: i64,
    pub user_id: i64,
    pub username: String,
    /// RFC 3339 UTC.
    pub timestamp: String,
    /// The listed word or phrase that matched.
    pub rule: String,
    /// The original text of the refused message.
    pub content: String,
    pub warning_count: i64,
    pub blocked: bool,
}

/// One entry of the audit log (`GET /admin/audit`): what an admin did, or an account deletion
/// (`delete_account`, by the account itself, its old username and the mode in `reason`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct AuditEntry {
    pub id: i64,
    /// Who acted (an admin, or the account that deleted itself).
    pub actor_id: i64,
    pub actor: String,
    /// `block`, `unblock`, `archive_room`, `remove_message`, `delete_account`, …
    pub action: String,
    pub target_id: Option<i64>,
    pub target: Option<String>,
    pub room_id: Option<i64>,
    pub message_id: Option<i64>,
    pub reason: Option<String>,
    /// RFC 3339 UTC.
    pub timestamp: String,
}

/// What `GET /me/export` holds: the account (without its password hash), its conversations, the
/// people it ignores, its uploads (newest first, at most 10,000) and every message it sent with
/// its conversation.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct AccountExport {
    pub user: PublicUser,
    pub rooms: Vec<Room>,
    pub ignores: Vec<String>,
    pub uploads: Vec<AdminUpload>,
    pub messages: Vec<ChatMessage>,
}

/// `POST /me/password` body. `Debug` never shows the passwords.
#[derive(Clone, Deserialize, Serialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct ChangePasswordRequest {
    pub current: String,
    pub new: String,
}

impl std::fmt::Debug for ChangePasswordRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ChangePasswordRequest { .. }")
    }
}

/// `DELETE /me` body. `Debug` never shows the password.
#[derive(Clone, Deserialize, Serialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct DeleteAccountRequest {
    pub password: String,
}

impl std::fmt::Debug for DeleteAccountRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("DeleteAccountRequest { .. }")
    }
}

/// The admin console's overview counts.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct AdminOverview {
    pub users: i64,
    pub blocked: i64,
    pub messages_today: i64,
    pub violations_today: i64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_frames_parse_or_explain() {
        let ok = ClientFrame::parse(r#"{"type":"message","content":"hi","client_id":"c"}"#).unwrap();
        let ClientFrame::Message { content, client_id, room_id, .. } = ok else { panic!("a message") };
        assert_eq!((content.as_str(), client_id.as_deref(), room_id), ("hi", Some("c"), None));
        assert!(matches!(ClientFrame::parse(r#"{"type":"typing"}"#), Ok(ClientFrame::Typing { room_id: None })));
        assert!(matches!(
            ClientFrame::parse(r#"{"type":"typing","room_id":1}"#),
            Ok(ClientFrame::Typing { room_id: Some(1) })
        ));
        assert!(ClientFrame::parse(r#"{"type":"typing","room_id":"x"}"#)
            .unwrap_err()
            .starts_with("invalid typing frame"));
        assert_eq!(ClientFrame::parse("nope").unwrap_err(), "invalid JSON");
        assert_eq!(ClientFrame::parse("{}").unwrap_err(), "frame has no type");
        assert!(ClientFrame::parse(r#"{"type":"x"}"#).unwrap_err().starts_with("unknown frame type"));
        assert!(ClientFrame::parse(r#"{"type":"message"}"#).unwrap_err().starts_with("invalid message frame"));
    }

    #[test]
    fn the_client_id_of_a_broken_frame_is_still_found() {
        for text in [
            r#"{"client_id":"c1"}"#,
            r#"{"type":"nope","client_id":"c1"}"#,
            r#"{"type":"message","content":5,"client_id":"c1"}"#,
        ] {
            assert_eq!(ClientFrame::client_id_of(text).as_deref(), Some("c1"), "{text}");
        }
        for text in ["not json", r#"{"client_id":5}"#, r#"["client_id"]"#, r#"{"type":"message"}"#] {
            assert_eq!(ClientFrame::client_id_of(text), None, "{text}");
        }
    }

    #[test]
    fn debug_never_shows_passwords() {
        let login = LoginRequest { username: "alice".into(), password: "hunter2-secret".into() };
        let register =
            RegisterRequest { username: "bob".into(), email: "b@x.io".into(), password: "hunter3-secret".into() };
        let (login, register) = (format!("{login:?}"), format!("{register:#?}"));
        assert!(login.contains("alice") && !login.contains("hunter2"), "{login}");
        assert!(register.contains("b@x.io") && !register.contains("hunter3"), "{register}");
        let grant =
            LoginResponse { access_token: "eyJ.secret.token".into(), token_type: "bearer".into(), expires_in: 60 };
        let grant = format!("{grant:?}");
        assert!(grant.contains("60") && !grant.contains("secret"), "{grant}");
    }

    #[test]
    fn server_frames_have_the_contract_shape() {
        let warning = ServerFrame::Warning { warning_count: 1, max_warnings: 3, message: "m".into(), client_id: None };
        assert_eq!(
            serde_json::to_value(&warning).unwrap(),
            serde_json::json!({"type": "warning", "warning_count": 1, "max_warnings": 3, "message": "m"})
        );
        let history = ServerFrame::History { room_id: None, messages: vec![], more: false };
        assert_eq!(
            serde_json::to_value(&history).unwrap(),
            serde_json::json!({"type": "history", "messages": [], "more": false})
        );
    }
}
