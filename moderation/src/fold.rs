//! Character folding: the first stage of the pipeline, one input character at
//! a time.
//!
//! For each character of a message (and of every word-list entry) this:
//! 1. drops invisible characters (zero-width space/joiner/non-joiner, word
//!    joiner, BOM, bidi controls, soft hyphen, variation selectors, tags,
//!    Hangul fillers, control characters other than whitespace);
//! 2. turns every whitespace character into a plain space;
//! 3. applies Unicode compatibility decomposition (NFKD, the first half of
//!    NFKC: fullwidth `ｆ`, mathematical `𝐟`, circled `ⓕ`, ligatures `ﬀ`,
//!    superscripts all become plain letters);
//! 4. drops combining marks (diacritics: `fúck` -> `fuck`), and the space that
//!    NFKD puts before a spacing accent such as `´`;
//! 5. maps look-alike letters of other scripts (Cyrillic, Greek, Armenian,
//!    small capitals, `ø`, `ł`, `ß` ...) to Latin;
//! 6. lowercases what is left.
//!
//! Because combining marks are dropped, the recomposition half of NFKC would
//! change nothing, so it is skipped.

use unicode_normalization::char::{decompose_compatible, is_combining_mark};

/// Folds a whole string (used by [`crate::normalize`] and by tests).
pub(crate) fn fold_str(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        fold_char(c, &mut |f| out.push(f));
    }
    out
}

/// Folds one input character, emitting zero or more output characters.
pub(crate) fn fold_char(c: char, out: &mut impl FnMut(char)) {
    if is_invisible(c) {
        return;
    }
    if c.is_whitespace() || c == '\u{2800}' {
        out(' ');
        return;
    }
    if let Some(letter) = enclosed_letter(c) {
        out(letter);
        return;
    }
    // Checked before decomposing too: NFKD turns lunate `ϲ` into `σ`.
    if let Some(latin) = homoglyph(c) {
        latin.chars().for_each(&mut *out);
        return;
    }
    decompose_compatible(c, |d| {
        // A non-space character that decomposes to " " + accent (e.g. U+00B4)
        // must not split a word in two.
        if d != ' ' && !is_combining_mark(d) && !is_invisible(d) {
            fold_letter(d, out);
        }
    });
}

/// Maps a decomposed character through the homoglyph table, else lowercases it.
fn fold_letter(c: char, out: &mut impl FnMut(char)) {
    if let Some(latin) = homoglyph(c) {
        latin.chars().for_each(&mut *out);
        return;
    }
    for lower in c.to_lowercase() {
        if !is_combining_mark(lower) {
            match homoglyph(lower) {
                Some(latin) => latin.chars().for_each(&mut *out),
                None => out(lower),
            }
        }
    }
}

/// True for characters that render as nothing and are dropped.
pub(crate) fn is_invisible(c: char) -> bool {
    matches!(
        c,
        '\u{00AD}'
            | '\u{034F}'
            | '\u{061C}'
            | '\u{115F}'
            | '\u{1160}'
            | '\u{17B4}'
            | '\u{17B5}'
            | '\u{180B}'..='\u{180F}'
            | '\u{200B}'..='\u{200F}'
            | '\u{202A}'..='\u{202E}'
            | '\u{2060}'..='\u{206F}'
            | '\u{3164}'
            | '\u{FE00}'..='\u{FE0F}'
            | '\u{FEFF}'
            | '\u{FFA0}'
            | '\u{FFF9}'..='\u{FFFB}'
            | '\u{1D173}'..='\u{1D17A}'
            | '\u{E0000}'..='\u{E0FFF}'
    ) || (c.is_control() && !c.is_whitespace())
}

/// Emoji-style letters that have no compatibility decomposition:
/// negative circled, negative squared and regional indicator letters.
fn enclosed_letter(c: char) -> Option<char> {
    let code = u32::from(c);
    let base = match code {
        0x1F150..=0x1F169 => 0x1F150,
        0x1F170..=0x1F189 => 0x1F170,
        0x1F1E6..=0x1F1FF => 0x1F1E6,
        _ => return None,
    };
    char::from_u32(u32::from('a') + (code - base))
}

/// Latin reading of a look-alike character. Case matters for Greek and
/// Cyrillic (uppercase `Η` looks like `h`, lowercase `η` like `n`), so this
/// is consulted before lowercasing.
pub(crate) fn homoglyph(c: char) -> Option<&'static str> {
    cyrillic(c).or_else(|| greek(c)).or_else(|| latin_extra(c)).or_else(|| armenian(c))
}

fn cyrillic(c: char) -> Option<&'static str> {
    Some(match c {
        'А' | 'а' => "a",
        'Б' | 'б' | 'В' | 'в' | 'Ъ' | 'ъ' | 'Ь' | 'ь' => "b",
        'г' => "r",
        'Д' | 'д' | 'Ԁ' | 'ԁ' => "d",
        'Е' | 'е' | 'Ё' | 'ё' | 'Є' | 'є' => "e",
        'І' | 'і' | 'Ї' | 'ї' => "i",
        'Ј' | 'ј' => "j",
        'К' | 'к' | 'Ќ' | 'ќ' => "k",
        'Ӏ' | 'ӏ' => "l",
        'М' | 'м' => "m",
        'Н' | 'н' | 'Һ' | 'һ' => "h",
        'О' | 'о' => "o",
        'П' | 'п' => "n",
        'Р' | 'р' => "p",
        'Ԛ' | 'ԛ' => "q",
        'С' | 'с' => "c",
        'Ѕ' | 'ѕ' => "s",
        'Т' | 'т' => "t",
        'У' | 'у' | 'Ү' | 'ү' => "y",
        'Ѵ' | 'ѵ' => "v",
        'Ш' | 'ш' | 'Щ' | 'щ' | 'Ԝ' | 'ԝ' | 'Ѡ' | 'ѡ' => "w",
        'Х' | 'х' => "x",
        _ => return None,
    })
}

fn greek(c: char) -> Option<&'static str> {
    Some(match c {
        'Α' | 'α' => "a",
        'Β' | 'β' => "b",
        'γ' => "y",
        'δ' => "d",
        'Ε' | 'ε' => "e",
        'Ζ' => "z",
        'Η' => "h",
        'η' | 'Ν' | 'π' => "n",
        'Ι' | 'ι' => "i",
        'Κ' | 'κ' => "k",
        'Μ' => "m",
        'μ' | 'υ' => "u",
        'ν' => "v",
        'Ο' | 'ο' | 'σ' => "o",
        'Ρ' | 'ρ' => "p",
        'Τ' | 'τ' => "t",
        'Υ' => "y",
        'Χ' | 'χ' => "x",
        'ω' => "w",
        'Ϲ' | 'ϲ' => "c",
        'ϳ' => "j",
        _ => return None,
    })
}

fn latin_extra(c: char) -> Option<&'static str> {
    Some(match c {
        'ß' | 'ẞ' => "ss",
        'Æ' | 'æ' => "ae",
        'Œ' | 'œ' => "oe",
        'Ø' | 'ø' => "o",
        'Đ' | 'đ' | 'Ð' | 'ð' => "d",
        'Ł' | 'ł' | 'ʟ' => "l",
        'Ħ' | 'ħ' | 'ʜ' => "h",
        'Ŧ' | 'ŧ' => "t",
        'Ƒ' | 'ƒ' | 'ꜰ' => "f",
        'ı' | 'ɩ' | 'ɪ' | 'ɨ' => "i",
        'ȷ' | 'ᴊ' => "j",
        'ɑ' | 'ᴀ' => "a",
        'ɡ' | 'ɢ' => "g",
        'ʏ' => "y",
        'ʙ' => "b",
        'ᴄ' => "c",
        'ᴅ' => "d",
        'ᴇ' => "e",
        'ᴋ' | 'ĸ' => "k",
        'ᴍ' => "m",
        'ɴ' | 'ŋ' => "n",
        'ᴏ' => "o",
        'ᴘ' => "p",
        'ʀ' => "r",
        'ꜱ' => "s",
        'ᴛ' => "t",
        'ᴜ' | 'ʉ' => "u",
        'ᴠ' => "v",
        'ᴡ' => "w",
        'ᴢ' => "z",
        _ => return None,
    })
}

fn armenian(c: char) -> Option<&'static str> {
    Some(match c {
        'Օ' | 'օ' => "o",
        'Ս' | 'ս' => "u",
        'ց' => "g",
        'ո' => "n",
        'հ' => "h",
        'զ' => "q",
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::fold_str;

    #[test]
    fn lowercases() {
        assert_eq!(fold_str("HeLLo World"), "hello world");
    }

    #[test]
    fn drops_invisible_characters() {
        let zw = "f\u{200B}u\u{200C}c\u{200D}k\u{2060}\u{FEFF}";
        assert_eq!(fold_str(zw), "fuck");
        assert_eq!(fold_str("sh\u{00AD}it"), "shit");
        assert_eq!(fold_str("\u{202E}kcuf\u{202C}"), "kcuf");
        assert_eq!(fold_str("a\u{200E}b\u{200F}c\u{2066}d\u{2069}"), "abcd");
        assert_eq!(fold_str("x\u{0000}y\u{001B}z"), "xyz");
    }

    #[test]
    fn whitespace_becomes_space() {
        assert_eq!(fold_str("a\tb\nc\u{3000}d\u{00A0}e\u{2800}f"), "a b c d e f");
    }

    #[test]
    fn compatibility_forms_become_plain_letters() {
        assert_eq!(fold_str("ｆｕｃｋ"), "fuck");
        assert_eq!(fold_str("𝐟𝐮𝐜𝐤"), "fuck");
        assert_eq!(fold_str("𝓯𝓾𝓬𝓴"), "fuck");
        assert_eq!(fold_str("𝕗𝕦𝕔𝕜"), "fuck");
        assert_eq!(fold_str("ⓕⓤⓒⓚ"), "fuck");
        assert_eq!(fold_str("🅕🅤🅒🅚"), "fuck");
        assert_eq!(fold_str("🇫🇺🇨🇰"), "fuck");
        assert_eq!(fold_str("ﬀ"), "ff");
        assert_eq!(fold_str("ᶠᵘᶜᵏ"), "fuck");
    }

    #[test]
    fn diacritics_are_removed() {
        assert_eq!(fold_str("fúck"), "fuck");
        assert_eq!(fold_str("ŠHÎT"), "shit");
        assert_eq!(fold_str("f\u{0301}\u{0301}u"), "fu");
        assert_eq!(fold_str("\u{0301}"), "");
        assert_eq!(fold_str("fu´ck"), "fuck");
    }

    #[test]
    fn homoglyphs_map_to_latin() {
        assert_eq!(fold_str("аѕѕ"), "ass"); // Cyrillic
        assert_eq!(fold_str("ѕһіт"), "shit");
        assert_eq!(fold_str("ΒΙΤϹΗ"), "bitch"); // Greek capitals
        assert_eq!(fold_str("κιτ"), "kit"); // Greek small letters
        assert_eq!(fold_str("ʙɪᴛᴄʜ"), "bitch"); // small capitals
        assert_eq!(fold_str("Straße"), "strasse");
        assert_eq!(fold_str("İ"), "i");
    }
}
