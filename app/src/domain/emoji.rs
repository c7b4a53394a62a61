//! `Emoji`: what a reaction may be: exactly one emoji, as one user-perceived character (one
//! extended grapheme cluster, so a skin tone, a flag, a keycap or a family joined by ZWJ counts
//! as one), pictographic, at most [`crate::protocol::MAX_EMOJI_BYTES`] bytes. Plain letters,
//! digits, two emoji and text are refused.

use super::ValidationError;
use crate::protocol::MAX_EMOJI_BYTES;
use unicode_segmentation::UnicodeSegmentation;

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Emoji(String);

/// Whether `c` is pictographic: the blocks Unicode's `Extended_Pictographic` property covers
/// (and the regional indicators of flags), by range.
fn is_pictographic(c: char) -> bool {
    matches!(
        u32::from(c),
        0xA9 | 0xAE
            | 0x203C
            | 0x2049
            | 0x2122
            | 0x2139
            | 0x2194..=0x2199
            | 0x21A9..=0x21AA
            | 0x231A..=0x231B
            | 0x2328
            | 0x23CF
            | 0x23E9..=0x23FA
            | 0x24C2
            | 0x25AA..=0x25AB
            | 0x25B6
            | 0x25C0
            | 0x25FB..=0x25FE
            | 0x2600..=0x27BF
            | 0x2934..=0x2935
            | 0x2B05..=0x2B07
            | 0x2B1B..=0x2B1C
            | 0x2B50
            | 0x2B55
            | 0x3030
            | 0x303D
            | 0x3297
            | 0x3299
            | 0x1F000..=0x1FAFF
            | 0x1FC00..=0x1FFFD
    )
}

impl Emoji {
    pub fn parse(raw: &str) -> Result<Self, ValidationError> {
        let mut clusters = raw.graphemes(true);
        let (Some(cluster), None) = (clusters.next(), clusters.next()) else {
            return Err(ValidationError::InvalidEmoji);
        };
        let keycap =
            cluster.contains('\u{20E3}') && cluster.starts_with(|c: char| c.is_ascii_digit() || c == '#' || c == '*');
        let pictographic = cluster.chars().next().is_some_and(is_pictographic);
        if cluster.len() <= MAX_EMOJI_BYTES && (pictographic || keycap) {
            Ok(Self(cluster.to_owned()))
        } else {
            Err(ValidationError::InvalidEmoji)
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_emoji_of_any_shape_is_a_reaction() {
        for ok in ["👍", "👍🏽", "❤️", "🇫🇷", "👨‍👩‍👧‍👦", "1️⃣", "🎉", "©", "☕"]
        {
            assert_eq!(Emoji::parse(ok).map(|e| e.as_str().to_owned()), Ok(ok.to_owned()), "{ok}");
        }
    }

    #[test]
    fn text_two_emoji_or_nothing_is_not() {
        for bad in ["", "a", "1", "ok", "👍👍", "👍 ", " 👍", "é", "東", "<script>", "\u{200D}", "\u{FE0F}"] {
            assert_eq!(Emoji::parse(bad), Err(ValidationError::InvalidEmoji), "{bad:?}");
        }
        let long = format!("👨{}", "\u{200D}👩".repeat(20));
        assert_eq!(Emoji::parse(&long), Err(ValidationError::InvalidEmoji));
    }
}
