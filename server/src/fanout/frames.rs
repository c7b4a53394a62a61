//! Every server frame, built in one place: the JSON of [`ServerFrame`]s the connection, the
//! writer and the hub send, encoded as WebSocket text frames ready for an outbox.

use super::wire;
use crate::moderation;
use app::models::ServerFrame;
use bytes::Bytes;

/// The `error` text for a conversation a client may not use (or that does not exist: the
/// answer is the same, so it tells nothing about private rooms).
pub const NOT_A_MEMBER: &str = "no such conversation, or you are not in it";
/// The `error` text for a message to an archived conversation.
pub const ARCHIVED: &str = "this conversation is archived";
/// The `error` text for a DM to someone who ignores the sender.
pub const NOT_ACCEPTING: &str = "this person is not accepting messages from you";
/// The `error` text for a DM to a blocked account.
pub const PEER_BLOCKED: &str = "that account is blocked";
/// A `client_id` the sender used before for a message of another conversation (or of one they
/// are no longer in): nothing is stored, and the original is not shown.
pub const CLIENT_ID_TAKEN: &str = "client_id was already used for another message";

/// The JSON text of a server frame.
pub fn encode(frame: &ServerFrame) -> String {
    serde_json::to_string(frame).expect("frames serialise")
}

/// A server frame as a WebSocket text frame.
pub fn text(frame: &ServerFrame) -> Bytes {
    wire::text(&encode(frame))
}

/// An `error` frame, echoing the refused frame's `client_id` when it had one.
pub fn error(message: impl Into<String>, client_id: Option<String>) -> Bytes {
    text(&ServerFrame::Error { message: message.into(), client_id })
}

/// The `blocked` frame sent to every socket of an account as it is blocked.
pub fn blocked() -> Bytes {
    text(&ServerFrame::Blocked { message: moderation::BLOCKED_TEXT.into() })
}

/// The `warning` frame answering a message the word filter refused, with the strike it cost.
pub fn warning(strike: moderation::Strike, client_id: Option<String>) -> Bytes {
    text(&ServerFrame::Warning {
        warning_count: strike.warning_count,
        max_warnings: moderation::MAX_WARNINGS,
        message: moderation::warning_text(strike),
        client_id,
    })
}

/// The answer to a message that could not be stored: sending it again is safe.
pub fn send_again(client_id: Option<String>) -> Bytes {
    error("message could not be saved; send it again", client_id)
}
