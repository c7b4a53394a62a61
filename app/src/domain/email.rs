//! `Email`: a plausible address (one `@`, a non-empty local part, a dotted domain, no spaces,
//! at most 254 bytes). Deliverability is not checked; uniqueness is case-insensitive (the store's job).

use super::ValidationError;
use serde::{Deserialize, Serialize};

/// Longest accepted address, in bytes.
pub const MAX_EMAIL_LEN: usize = 254;

#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Email(String);

impl Email {
    pub fn parse(raw: &str) -> Result<Self, ValidationError> {
        let raw = raw.trim();
        if raw.len() > MAX_EMAIL_LEN || raw.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(ValidationError::InvalidEmail);
        }
        let Some((local, domain)) = raw.split_once('@') else {
            return Err(ValidationError::InvalidEmail);
        };
        let domain_ok =
            !domain.contains('@') && domain.contains('.') && domain.split('.').all(|label| !label.is_empty());
        if local.is_empty() || local.len() > 64 || !domain_ok {
            return Err(ValidationError::InvalidEmail);
        }
        Ok(Self(raw.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for Email {
    type Error = ValidationError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse(&value)
    }
}

impl From<Email> for String {
    fn from(value: Email) -> Self {
        value.0
    }
}

impl AsRef<str> for Email {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_plausible_addresses() {
        for e in ["a@b.co", "first.last+tag@example.org", "x@sub.domain.example"] {
            assert!(Email::parse(e).is_ok(), "{e}");
        }
    }

    #[test]
    fn trims_surrounding_whitespace() {
        assert_eq!(Email::parse("  a@b.co ").unwrap().as_str(), "a@b.co");
    }

    #[test]
    fn rejects_implausible_addresses() {
        let long = format!("{}@example.com", "a".repeat(250));
        for e in ["", "plain", "@b.co", "a@", "a@b", "a@@b.co", "a@b..co", "a b@c.de", "a@.co", &long] {
            assert_eq!(Email::parse(e), Err(ValidationError::InvalidEmail), "{e:?}");
        }
    }
}
