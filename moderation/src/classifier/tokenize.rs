//! Tokens exactly as scikit-learn's `TfidfVectorizer` finds them with its defaults: the text is
//! lowercased (Python's `str.lower`), then every match of `(?u)\b\w\w+\b` is a token, that is
//! every maximal run of at least two word characters.
//!
//! Python's `\w` is narrower than Rust's: a character is a word character when it is `_` or
//! `str.isalnum()` holds, which means a letter (general categories Lu Ll Lt Lm Lo) or a number
//! (Nd Nl No). Combining marks are *not* word characters, so a decomposed `cafe\u{301}` yields
//! `cafe`, and circled letters (So) are not either, even though Rust calls both alphabetic.

use unicode_general_category::{get_general_category, GeneralCategory as C};

/// Python 3's `\w` for `str` patterns.
pub(crate) fn is_word_char(c: char) -> bool {
    if c.is_ascii() {
        return c.is_ascii_alphanumeric() || c == '_';
    }
    matches!(
        get_general_category(c),
        C::UppercaseLetter
            | C::LowercaseLetter
            | C::TitlecaseLetter
            | C::ModifierLetter
            | C::OtherLetter
            | C::DecimalNumber
            | C::LetterNumber
            | C::OtherNumber
    )
}

/// Calls `each` with every token of `lowercased` (text already lowercased), in order.
pub(crate) fn for_each_token(lowercased: &str, mut each: impl FnMut(&str)) {
    let mut start: Option<(usize, usize)> = None; // (byte offset, characters so far)
    for (at, c) in lowercased.char_indices() {
        if is_word_char(c) {
            start = Some(match start {
                Some((from, count)) => (from, count + 1),
                None => (at, 1),
            });
        } else if let Some((from, count)) = start.take() {
            if count >= 2 {
                each(&lowercased[from..at]);
            }
        }
    }
    if let Some((from, count)) = start {
        if count >= 2 {
            each(&lowercased[from..]);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tokens(text: &str) -> Vec<String> {
        let mut out = Vec::new();
        for_each_token(&text.to_lowercase(), |t| out.push(t.to_owned()));
        out
    }

    #[test]
    fn matches_pythons_word_pattern() {
        assert_eq!(tokens("You are AN idiot!"), ["you", "are", "an", "idiot"]);
        assert_eq!(tokens("a b c x1 _ __"), ["x1", "__"]);
        assert_eq!(tokens("I_love_shit"), ["i_love_shit"]);
        assert_eq!(tokens("cafe\u{301} idiot"), ["cafe", "idiot"]);
        assert_eq!(tokens("caf\u{e9}"), ["caf\u{e9}"]);
        assert_eq!(tokens("idiot😂moron"), ["idiot", "moron"]);
        assert_eq!(tokens("ⓕⓤⓒⓚ ½x ²2"), ["½x", "²2"]);
        assert_eq!(tokens("日本語のテキスト"), ["日本語のテキスト"]);
        assert_eq!(tokens(""), Vec::<String>::new());
    }
}
