//! The protocol's numbers, defined once and used by the server, the browser client and the
//! views: page sizes, history bounds, frame and field limits, and the WebSocket close codes a
//! client acts on. `docs/api.md` and `docs/protocol.md` document the same values.

/// The room id of `general`, the public room everyone is in.
pub const GENERAL_ROOM_ID: i64 = 1;

/// Messages in the `history` frame of a fresh connection.
pub const HISTORY_LATEST: i64 = 50;
/// Most messages in a `since` catch-up `history` frame.
pub const HISTORY_SINCE_MAX: i64 = 500;
/// Most bytes of JSON in one `history` frame's messages (a longer catch-up says `more: true`).
pub const HISTORY_MAX_BYTES: usize = 256 * 1024;
/// Largest client WebSocket message in bytes (the payload of a frame, or of its fragments
/// reassembled: the JSON text exactly as sent, whitespace and escapes included); bigger closes
/// with 1009. Room for [`LONGEST_MESSAGE_FRAME`], whatever the client's JSON library escapes,
/// and a little whitespace; still a bound in bytes on what a connection buffers.
pub const MAX_FRAME_BYTES: usize = 49 * 1024;
/// The longest `client_id` a client may attach to a message.
pub const MAX_CLIENT_ID_CHARS: usize = 64;

/// Bytes one character may take in a JSON string: a character outside the BMP escaped as a
/// surrogate pair, `\uD83D\uDE00` (what a JSON library that escapes non-ASCII writes).
pub const MAX_JSON_CHAR_BYTES: usize = 12;
/// The longest legal `message` frame: 4000 characters of content and a 64-character
/// `client_id`, every character escaped as a surrogate pair, the keys, the longest room id, and
/// the most attachments (each id 32 hex digits, which no JSON library escapes).
pub const LONGEST_MESSAGE_FRAME: usize =
    r#"{"type":"message","content":"","client_id":"","room_id":-9223372036854775808,"reply_to":-9223372036854775808,"attachments":[]}"#
        .len()
        + (crate::domain::MAX_MESSAGE_CHARS + MAX_CLIENT_ID_CHARS) * MAX_JSON_CHAR_BYTES
        + MAX_ATTACHMENTS_PER_MESSAGE * (UPLOAD_ID_CHARS + 3)
        - 1;
/// Characters of an upload id (128 random bits in lowercase hex).
pub const UPLOAD_ID_CHARS: usize = 32;
const _: () = assert!(LONGEST_MESSAGE_FRAME <= MAX_FRAME_BYTES, "a legal message must fit in a WebSocket message");
// Still a bound: a few hundred bytes of whitespace at most, not room for another message.
const _: () = assert!(MAX_FRAME_BYTES - LONGEST_MESSAGE_FRAME < 1024, "the limit stays tight");

/// `typing` frames a client may send: a burst, then a sustained rate per second (per account);
/// more are dropped without an answer.
pub const TYPING_BURST: u32 = 3;
pub const TYPING_PER_SEC: f64 = 1.0;
/// How long a client shows "… is typing" after a `typing` frame, unless another one renews it.
pub const TYPING_SHOWN_MS: u32 = 5_000;
/// How often a client that goes on typing sends `typing` again.
pub const TYPING_RESEND_MS: u32 = 2_000;

/// The most a room's `unread` counts: a larger backlog shows as this many.
pub const UNREAD_MAX: i64 = 1000;
/// How long someone whose last socket closed still shows online (a reload does not flap).
pub const PRESENCE_GRACE_MS: u64 = 5_000;
/// While at most this many users are online, everyone is told of everyone's arrivals and
/// departures; above it the server summarises presence: `presence` frames go only to the people
/// who share a conversation other than `general` with the user, and everyone gets the number
/// online (`presence_summary`). The default of `presence_list_max`.
pub const PRESENCE_LIST_MAX: usize = 100;
/// While presence is summarised, how often at most the number online is sent.
pub const PRESENCE_SUMMARY_MS: u64 = 5_000;
/// Conversations one account may be in (rooms and DMs, `general` included).
pub const MAX_CONVERSATIONS_PER_USER: i64 = 500;
/// Invitations that may wait for one account's answer at once.
pub const MAX_PENDING_INVITATIONS: i64 = 100;
/// People one account may ignore.
pub const MAX_IGNORES: i64 = 1000;
/// The longest reason an admin may give for a removal or a review decision, or a reporter for a
/// report, in characters.
pub const MAX_REASON_CHARS: usize = 500;
/// The longest appeal of a block, in characters.
pub const MAX_APPEAL_CHARS: usize = 1000;

/// Characters of the answered message a reply shows (`reply_to.excerpt`).
pub const REPLY_EXCERPT_CHARS: usize = 100;
/// Distinct emoji one message may carry as reactions.
pub const MAX_REACTIONS_PER_MESSAGE: i64 = 20;
/// Reactions one account may add or take back: a burst, then a sustained rate per second
/// (past it: 429 with `Retry-After`).
pub const REACTIONS_BURST: u32 = 30;
pub const REACTIONS_PER_SEC: f64 = 2.0;
/// The longest emoji a reaction may be, in bytes of UTF-8 (a family or a flag sequence fits).
pub const MAX_EMOJI_BYTES: usize = 64;
/// Most people one message may mention (later `@names` are plain text).
pub const MAX_MENTIONS_PER_MESSAGE: usize = 50;
/// The longest search query (`q`), in characters.
pub const MAX_SEARCH_QUERY_CHARS: usize = 256;
/// Most words and phrases one search query may hold.
pub const MAX_SEARCH_TERMS: usize = 16;
/// Characters of text around the first match a search result's `highlight` shows.
pub const HIGHLIGHT_CONTEXT_CHARS: usize = 60;
/// Most changed messages in the `changes` frame of a reconnect; more say `more: true`.
pub const CHANGES_MAX: i64 = 500;
/// Files one message may carry.
pub const MAX_ATTACHMENTS_PER_MESSAGE: usize = 10;
/// Longest side of a thumbnail, in pixels.
pub const THUMBNAIL_MAX_SIDE: u32 = 400;
/// An image larger than this (width times height) is refused, whatever its file size.
pub const MAX_IMAGE_PIXELS: u64 = 40_000_000;
/// An image wider or taller than this is refused.
pub const MAX_IMAGE_SIDE: u32 = 10_000;
/// A file name longer than this (UTF-8 bytes) is cut, keeping its extension.
pub const MAX_FILE_NAME_BYTES: usize = 255;
/// The upload size limit unless `CHATTERBOX_UPLOAD_MAX_BYTES` says otherwise (25 MiB).
pub const DEFAULT_UPLOAD_MAX_BYTES: u64 = 25 * 1024 * 1024;
/// Each account's stored bytes unless `CHATTERBOX_UPLOAD_QUOTA_BYTES` says otherwise (1 GiB).
pub const DEFAULT_UPLOAD_QUOTA_BYTES: u64 = 1024 * 1024 * 1024;
/// Uploads per account: a burst, then a steady rate (shared by the nodes of a cluster).
pub const UPLOADS_BURST: u32 = 20;
pub const UPLOADS_PER_SEC: f64 = 0.5;
/// An upload never posted is deleted this long after it was made.
pub const UNPOSTED_UPLOAD_TTL_SECS: u64 = 24 * 3600;

/// A page rule: how many rows a list gives by default, and at most.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PageRule {
    pub default: i64,
    pub max: i64,
}

/// `GET /messages` (both directions).
pub const HISTORY_PAGE: PageRule = PageRule { default: 50, max: 200 };
/// `GET /rooms/{id}/members`, by username.
pub const MEMBERS_PAGE: PageRule = PageRule { default: 200, max: 1000 };
/// `GET /rooms/public`, by id.
pub const PUBLIC_ROOMS_PAGE: PageRule = PageRule { default: 100, max: 1000 };
/// `GET /search`, newest first.
pub const SEARCH_PAGE: PageRule = PageRule { default: 20, max: 100 };
/// Every admin list (`/admin/users`, `/admin/messages`, `/admin/moderation` and the admin server
/// functions).
pub const ADMIN_PAGE: PageRule = PageRule { default: 100, max: 1000 };

/// WebSocket close codes a client acts on.
pub mod close_codes {
    /// The account is blocked (after a `blocked` frame): do not reconnect.
    pub const BLOCKED: u16 = 1008;
    /// Too far behind: reconnect with `since`.
    pub const TRY_AGAIN: u16 = 1013;
    /// The session ended (its token expired, or was revoked by a password change): sign in
    /// again, or renew the session first if it is still valid.
    pub const SESSION_ENDED: u16 = 4001;
    /// The account's role changed: reconnect (the same session still works) and reload.
    pub const ROLE_CHANGED: u16 = 4002;
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::models::ClientFrame;

    #[test]
    fn the_longest_legal_message_however_escaped_fits_in_a_websocket_message() {
        let escaped = |chars: usize| "\\uD83D\\uDE00".repeat(chars);
        let ids = vec![format!("\"{}\"", "a".repeat(UPLOAD_ID_CHARS)); MAX_ATTACHMENTS_PER_MESSAGE];
        let frame = format!(
            r#"{{"type":"message","content":"{}","client_id":"{}","room_id":{},"reply_to":{},"attachments":[{}]}}"#,
            escaped(crate::domain::MAX_MESSAGE_CHARS),
            escaped(MAX_CLIENT_ID_CHARS),
            i64::MIN,
            i64::MIN,
            ids.join(",")
        );
        assert_eq!(frame.len(), LONGEST_MESSAGE_FRAME);
        assert!(frame.len() <= MAX_FRAME_BYTES);
        let Ok(ClientFrame::Message { content, client_id, room_id, reply_to, attachments }) =
            ClientFrame::parse(&frame)
        else {
            panic!("the longest legal frame parses");
        };
        assert_eq!(content.chars().count(), crate::domain::MAX_MESSAGE_CHARS);
        assert_eq!(attachments.len(), MAX_ATTACHMENTS_PER_MESSAGE);
        assert_eq!(client_id.map(|id| id.chars().count()), Some(MAX_CLIENT_ID_CHARS));
        assert_eq!(room_id, Some(i64::MIN));
        assert_eq!(reply_to, Some(i64::MIN));
    }
}
