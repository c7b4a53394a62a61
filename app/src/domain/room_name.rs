//! `RoomName` and `RoomTopic`: what a public or private room may be called and described.
//! A name is 1-40 characters (after trimming) of letters, digits, spaces and `-_.'&+#!?()`, with
//! no two spaces in a row; uniqueness is case-insensitive (the store's job). A topic is at most
//! 250 characters, trimmed, with no control characters. Whether the word filter allows them is
//! the server's check, not this one.

use super::ValidationError;

pub const MAX_ROOM_NAME_CHARS: usize = 40;
pub const MAX_TOPIC_CHARS: usize = 250;

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct RoomName(String);

impl RoomName {
    pub fn parse(raw: &str) -> Result<Self, ValidationError> {
        let name = raw.trim();
        let chars = name.chars().count();
        let allowed = |c: char| c.is_alphanumeric() || c == ' ' || "-_.'&+#!?()".contains(c);
        if (1..=MAX_ROOM_NAME_CHARS).contains(&chars) && name.chars().all(allowed) && !name.contains("  ") {
            Ok(Self(name.to_owned()))
        } else {
            Err(ValidationError::InvalidRoomName)
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn into_inner(self) -> String {
        self.0
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RoomTopic(String);

impl RoomTopic {
    pub fn parse(raw: &str) -> Result<Self, ValidationError> {
        let topic = raw.trim();
        if topic.chars().count() <= MAX_TOPIC_CHARS && !topic.chars().any(char::is_control) {
            Ok(Self(topic.to_owned()))
        } else {
            Err(ValidationError::InvalidTopic)
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn into_inner(self) -> String {
        self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_trimmed_and_checked() {
        assert_eq!(RoomName::parse("  Book Club ").unwrap().as_str(), "Book Club");
        for name in ["general", "q&a", "Café crème", "c++ (help)", &"x".repeat(40)] {
            assert!(RoomName::parse(name).is_ok(), "{name}");
        }
        for name in ["", "   ", &"x".repeat(41), "a  b", "tab\tname", "<script>", "a/b", "new\nline", "emoji 🎉"] {
            assert_eq!(RoomName::parse(name), Err(ValidationError::InvalidRoomName), "{name:?}");
        }
    }

    #[test]
    fn topics_are_bounded_and_printable() {
        assert_eq!(RoomTopic::parse(" hello ").unwrap().as_str(), "hello");
        assert!(RoomTopic::parse("").is_ok());
        assert!(RoomTopic::parse(&"é".repeat(250)).is_ok());
        assert_eq!(RoomTopic::parse(&"é".repeat(251)), Err(ValidationError::InvalidTopic));
        assert_eq!(RoomTopic::parse("bell\u{7}"), Err(ValidationError::InvalidTopic));
    }
}
