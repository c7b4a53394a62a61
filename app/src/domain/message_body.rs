//! `MessageBody`: chat content that is not empty or whitespace-only and is at most 4000
//! characters (Unicode scalar values, not bytes).

use super::ValidationError;
use serde::{Deserialize, Serialize};

pub const MAX_MESSAGE_CHARS: usize = 4000;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct MessageBody(String);

impl MessageBody {
    pub fn parse(raw: &str) -> Result<Self, ValidationError> {
        if raw.trim().is_empty() {
            return Err(ValidationError::EmptyMessage);
        }
        // Count lazily: stop as soon as the limit is passed.
        if raw.chars().nth(MAX_MESSAGE_CHARS).is_some() {
            return Err(ValidationError::MessageTooLong);
        }
        Ok(Self(raw.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn into_inner(self) -> String {
        self.0
    }
}

impl TryFrom<String> for MessageBody {
    type Error = ValidationError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse(&value)
    }
}

impl From<MessageBody> for String {
    fn from(value: MessageBody) -> Self {
        value.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejects_empty_and_whitespace() {
        for raw in ["", " ", "\n\t  ", "\u{3000}"] {
            assert_eq!(MessageBody::parse(raw), Err(ValidationError::EmptyMessage), "{raw:?}");
        }
    }

    #[test]
    fn limit_counts_characters_not_bytes() {
        assert!(MessageBody::parse(&"é".repeat(MAX_MESSAGE_CHARS)).is_ok());
        assert_eq!(MessageBody::parse(&"a".repeat(MAX_MESSAGE_CHARS + 1)), Err(ValidationError::MessageTooLong));
    }

    #[test]
    fn keeps_content_verbatim() {
        let body = MessageBody::parse("  <b>hi</b>  ").unwrap();
        assert_eq!(body.as_str(), "  <b>hi</b>  ");
    }
}
