//! Validated domain newtypes shared by the WASM client and the server.
//!
//! A value of one of these types has passed its rules, so code that receives a `Username` never
//! checks it again. The rules live here once; the server enforces them on every door (REST,
//! server functions, WebSocket) and the client may use them to warn early.

mod email;
mod emoji;
mod file_name;
mod message_body;
mod password;
mod room_name;
mod username;

pub use email::{Email, MAX_EMAIL_LEN};
pub use emoji::Emoji;
pub use file_name::FileName;
pub use message_body::{MessageBody, MAX_MESSAGE_CHARS};
pub use password::{Password, MAX_PASSWORD_BYTES, MIN_PASSWORD_BYTES};
pub use room_name::{RoomName, RoomTopic, MAX_ROOM_NAME_CHARS, MAX_TOPIC_CHARS};
pub use username::{Username, MAX_USERNAME_LEN, MIN_USERNAME_LEN};

/// Longest login identifier (username or email, in bytes) that can name an account; the server
/// refuses longer ones before any lookup or hashing.
pub const MAX_LOGIN_IDENTIFIER_LEN: usize =
    if MAX_EMAIL_LEN > MAX_USERNAME_LEN { MAX_EMAIL_LEN } else { MAX_USERNAME_LEN };

use serde::{Deserialize, Serialize};

/// Why an input was refused. `Display` is the user-facing message; `code` is a stable
/// machine-readable name (used in `?error=` redirects of the no-JavaScript forms).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[serde(rename_all = "snake_case")]
pub enum ValidationError {
    #[error("username must be 3-32 characters of letters, digits, '_', '.' or '-'")]
    InvalidUsername,
    #[error("email address is not valid")]
    InvalidEmail,
    #[error("password must be at least 8 bytes long")]
    PasswordTooShort,
    #[error("password must be at most 72 bytes long (bcrypt reads no more)")]
    PasswordTooLong,
    #[error("message is empty")]
    EmptyMessage,
    #[error("message is longer than 4000 characters")]
    MessageTooLong,
    #[error("room name must be 1-40 letters, digits, spaces or -_.'&+#!?()")]
    InvalidRoomName,
    #[error("topic must be at most 250 characters, without control characters")]
    InvalidTopic,
    #[error("that text contains a word that is not allowed here")]
    NotAllowed,
    #[error("a reaction is exactly one emoji")]
    InvalidEmoji,
}

impl ValidationError {
    pub const ALL: [ValidationError; 10] = [
        Self::InvalidUsername,
        Self::InvalidEmail,
        Self::PasswordTooShort,
        Self::PasswordTooLong,
        Self::EmptyMessage,
        Self::MessageTooLong,
        Self::InvalidRoomName,
        Self::InvalidTopic,
        Self::NotAllowed,
        Self::InvalidEmoji,
    ];

    pub fn code(self) -> &'static str {
        match self {
            Self::InvalidUsername => "invalid_username",
            Self::InvalidEmail => "invalid_email",
            Self::PasswordTooShort => "password_too_short",
            Self::PasswordTooLong => "password_too_long",
            Self::EmptyMessage => "empty_message",
            Self::MessageTooLong => "message_too_long",
            Self::InvalidRoomName => "invalid_room_name",
            Self::InvalidTopic => "invalid_topic",
            Self::NotAllowed => "not_allowed",
            Self::InvalidEmoji => "invalid_emoji",
        }
    }

    pub fn from_code(code: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|e| e.code() == code)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_round_trip() {
        for e in ValidationError::ALL {
            assert_eq!(ValidationError::from_code(e.code()), Some(e));
        }
        assert_eq!(ValidationError::from_code("nope"), None);
    }
}
