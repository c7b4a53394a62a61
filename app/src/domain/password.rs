//! `Password`: 8..=72 bytes. bcrypt reads only the first 72 bytes, so longer passwords are refused
//! rather than silently truncated. `Debug` never shows the secret and it is never serialised.

use super::ValidationError;

pub const MIN_PASSWORD_BYTES: usize = 8;
pub const MAX_PASSWORD_BYTES: usize = 72;

#[derive(Clone, PartialEq, Eq)]
pub struct Password(String);

impl Password {
    pub fn parse(raw: &str) -> Result<Self, ValidationError> {
        match raw.len() {
            n if n < MIN_PASSWORD_BYTES => Err(ValidationError::PasswordTooShort),
            n if n > MAX_PASSWORD_BYTES => Err(ValidationError::PasswordTooLong),
            _ => Ok(Self(raw.to_owned())),
        }
    }

    /// The secret itself, for hashing or verifying only.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Password {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Password(***)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn length_is_counted_in_bytes() {
        assert!(Password::parse("12345678").is_ok());
        assert!(Password::parse(&"x".repeat(72)).is_ok());
        assert_eq!(Password::parse("1234567"), Err(ValidationError::PasswordTooShort));
        assert_eq!(Password::parse(&"x".repeat(73)), Err(ValidationError::PasswordTooLong));
        // 25 three-byte characters = 75 bytes: over bcrypt's limit although only 25 characters.
        assert_eq!(Password::parse(&"€".repeat(25)), Err(ValidationError::PasswordTooLong));
        // 3 four-byte characters = 12 bytes: long enough.
        assert!(Password::parse("😀😀😀").is_ok());
    }

    #[test]
    fn debug_hides_the_secret() {
        let p = Password::parse("hunter2hunter2").unwrap();
        assert!(!format!("{p:?}").contains("hunter2"));
    }
}
