//! `Username`: 3-32 characters of `[A-Za-z0-9_.-]`. Uniqueness is case-insensitive (the store's job).

use super::ValidationError;
use serde::{Deserialize, Serialize};

pub const MIN_USERNAME_LEN: usize = 3;
pub const MAX_USERNAME_LEN: usize = 32;

#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Username(String);

impl Username {
    pub fn parse(raw: &str) -> Result<Self, ValidationError> {
        let ok_len = (MIN_USERNAME_LEN..=MAX_USERNAME_LEN).contains(&raw.len());
        let ok_chars = raw.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'));
        if ok_len && ok_chars {
            Ok(Self(raw.to_owned()))
        } else {
            Err(ValidationError::InvalidUsername)
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for Username {
    type Error = ValidationError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse(&value)
    }
}

impl From<Username> for String {
    fn from(value: Username) -> Self {
        value.0
    }
}

impl AsRef<str> for Username {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for Username {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_valid_names() {
        for name in ["abc", "alice", "Bob_the.builder-2", &"a".repeat(32)] {
            assert!(Username::parse(name).is_ok(), "{name}");
        }
    }

    #[test]
    fn rejects_bad_lengths_and_characters() {
        for name in ["", "ab", &"a".repeat(33), "has space", "émile", "a/b", "<script>", "tab\tx", "zero\u{200b}w"] {
            assert_eq!(Username::parse(name), Err(ValidationError::InvalidUsername), "{name:?}");
        }
    }

    #[test]
    fn deserialising_validates() {
        assert!(serde_json::from_str::<Username>("\"ok_name\"").is_ok());
        assert!(serde_json::from_str::<Username>("\"x\"").is_err());
    }
}
