//! Text folding and tokenisation for search: the one definition of what "the same text" and "a word"
//! mean, applied alike to messages (when they are indexed) and to queries (when they are parsed).
//!
//! See the module documentation of [`crate::search`] for the rules these functions implement.

use std::ops::Range;
use unicode_normalization::char::{compose, decompose_compatible, is_combining_mark};

/// Folds `text` for comparison: compatibility decomposition (NFKD), accents dropped, every
/// character lowercased, each run of white space made one space, and what remains of each
/// original character recomposed (so a Hangul syllable or a voiced kana stays one character).
///
/// "Ça Déjà ÉTÉ" becomes "ca deja ete"; full-width "ＡＢＣ" becomes "abc"; "ﬁ" becomes "fi".
pub fn normalize(text: &str) -> String {
    let mut normalized = String::with_capacity(text.len());
    let mut folder = Folder::default();
    for character in text.chars() {
        folder.fold(character, |folded| normalized.push(folded));
    }
    normalized
}

/// [`normalize`], along with where each byte of the result came from: `origins[i]` is the index
/// (counted in `char`s) of the character of `text` that produced byte `i` of the normalized text,
/// so `origins.len() == normalized.len()` and `origins` never decreases.
///
/// A character of `text` that folds to nothing (an accent, a second space) has no byte pointing at
/// it; one that expands ("ﬁ" → "fi") has several.
pub fn normalize_mapped(text: &str) -> (String, Vec<usize>) {
    let mut normalized = String::with_capacity(text.len());
    let mut origins = Vec::with_capacity(text.len());
    let mut folder = Folder::default();
    for (char_index, character) in text.chars().enumerate() {
        folder.fold(character, |folded| {
            normalized.push(folded);
            origins.resize(normalized.len(), char_index);
        });
    }
    (normalized, origins)
}

/// The words of a normalized text, joined by single spaces: maximal runs of letters and digits
/// (with the combining marks that follow them), except that every CJK character (see [`is_cjk`])
/// is a word of its own. Anything else (punctuation, symbols, spaces) separates words.
///
/// `words("hello, 東京都!")` is `"hello 東 京 都"`. The result is never longer than the input plus
/// one space per word.
pub fn words(normalized: &str) -> String {
    let spans = word_spans(normalized);
    let mut joined = String::with_capacity(normalized.len() + spans.len());
    for span in spans {
        if !joined.is_empty() {
            joined.push(' ');
        }
        joined.push_str(&normalized[span]);
    }
    joined
}

/// Whether `c` is a CJK letter, which makes a word by itself: Han ideographs (all extensions and
/// the compatibility ideographs, plus the ideographic iteration marks and numerals), Hiragana,
/// Katakana (with its phonetic extensions and the half-width forms), Hangul syllables and Jamo
/// (with the compatibility and half-width forms). CJK punctuation and symbols are not CJK letters.
pub fn is_cjk(c: char) -> bool {
    let in_cjk_block = matches!(c as u32,
        0x1100..=0x11FF       // Hangul Jamo
        | 0x3000..=0x303F     // CJK Symbols and Punctuation (only its letters count: 々 〆 〇 …)
        | 0x3040..=0x309F     // Hiragana
        | 0x30A0..=0x30FF     // Katakana
        | 0x3130..=0x318F     // Hangul Compatibility Jamo
        | 0x31F0..=0x31FF     // Katakana Phonetic Extensions
        | 0x3400..=0x4DBF     // CJK Unified Ideographs Extension A
        | 0x4E00..=0x9FFF     // CJK Unified Ideographs
        | 0xA960..=0xA97F     // Hangul Jamo Extended-A
        | 0xAC00..=0xD7AF     // Hangul Syllables
        | 0xD7B0..=0xD7FF     // Hangul Jamo Extended-B
        | 0xF900..=0xFAFF     // CJK Compatibility Ideographs
        | 0xFF65..=0xFF9F     // Half-width Katakana
        | 0xFFA0..=0xFFDC     // Half-width Hangul
        | 0x1B000..=0x1B16F   // Kana Supplement and Extended-A
        | 0x20000..=0x3FFFF   // Ideographic planes: Extensions B onwards, Compatibility Supplement
    );
    in_cjk_block && c.is_alphanumeric()
}

/// Whether `c` can be part of a word: a letter, a digit or a combining mark (which belongs to the
/// word of the character before it).
pub(crate) fn is_word_char(c: char) -> bool {
    c.is_alphanumeric() || is_combining_mark(c)
}

/// The byte ranges of the words of `text`, in order: the words [`words`] joins.
pub(crate) fn word_spans(text: &str) -> Vec<Range<usize>> {
    let mut spans: Vec<Range<usize>> = Vec::new();
    // The word being read, and whether it is a single CJK character (which takes no more letters).
    let mut current: Option<(Range<usize>, bool)> = None;
    for (offset, character) in text.char_indices() {
        let end = offset + character.len_utf8();
        let continues_current = match &current {
            Some((_, current_is_cjk)) => {
                is_combining_mark(character) || (!*current_is_cjk && character.is_alphanumeric() && !is_cjk(character))
            }
            None => false,
        };
        if continues_current {
            if let Some((span, _)) = current.as_mut() {
                span.end = end;
            }
            continue;
        }
        if let Some((span, _)) = current.take() {
            spans.push(span);
        }
        if is_word_char(character) {
            current = Some((offset..end, is_cjk(character)));
        }
    }
    if let Some((span, _)) = current {
        spans.push(span);
    }
    spans
}

/// Whether `c` is an accent that folding drops: a combining mark of the generic diacritical blocks
/// (the accents of Latin, Greek and Cyrillic letters) or a Hebrew or Arabic vowel point. Marks
/// that are part of a letter elsewhere (Indic vowel signs, kana voicing marks, …) are kept.
fn is_accent(c: char) -> bool {
    is_combining_mark(c)
        && matches!(c as u32,
            0x0300..=0x036F       // Combining Diacritical Marks
            | 0x0590..=0x05FF     // Hebrew (points and cantillation marks)
            | 0x0600..=0x06FF     // Arabic (harakat and Quranic marks)
            | 0x1AB0..=0x1AFF     // Combining Diacritical Marks Extended
            | 0x1DC0..=0x1DFF     // Combining Diacritical Marks Supplement
            | 0x20D0..=0x20FF     // Combining Diacritical Marks for Symbols
            | 0xFE20..=0xFE2F     // Combining Half Marks
        )
}

/// Folds a text character by character, carrying what one character needs from the previous
/// ones (whether a space was just emitted) and a scratch buffer reused across characters.
#[derive(Default)]
struct Folder {
    previous_was_space: bool,
    folded: Vec<char>,
}

impl Folder {
    /// Folds one character of the original text, handing each resulting character to `emit`.
    fn fold(&mut self, character: char, mut emit: impl FnMut(char)) {
        self.folded.clear();
        if character.is_ascii() {
            self.folded.push(character.to_ascii_lowercase());
        } else {
            let folded = &mut self.folded;
            decompose_compatible(character, |decomposed| {
                if is_accent(decomposed) {
                    return;
                }
                for lowercase in decomposed.to_lowercase() {
                    if is_accent(lowercase) {
                        continue;
                    }
                    let composed = folded.last().and_then(|&last| compose(last, lowercase));
                    match (composed, folded.last_mut()) {
                        (Some(composed), Some(last)) => *last = composed,
                        _ => folded.push(lowercase),
                    }
                }
            });
        }
        for &folded_char in &self.folded {
            if folded_char.is_whitespace() {
                if !self.previous_was_space {
                    emit(' ');
                }
                self.previous_was_space = true;
            } else {
                emit(folded_char);
                self.previous_was_space = false;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalize_folds_accents_and_case() {
        assert_eq!(normalize("Ça Déjà ÉTÉ"), "ca deja ete");
        assert_eq!(normalize("Crème Brûlée"), "creme brulee");
        assert_eq!(normalize("ÅNGSTRÖM Ñandú"), "angstrom nandu");
        assert_eq!(normalize("Ελληνικά Ωμέγα"), "ελληνικα ωμεγα");
        assert_eq!(normalize("İstanbul"), "istanbul");
        assert_eq!(normalize("Tiếng Việt"), "tieng viet");
    }

    #[test]
    fn normalize_folds_compatibility_forms() {
        assert_eq!(normalize("ＡＢＣ１２３"), "abc123");
        assert_eq!(normalize("ﬁne"), "fine");
        assert_eq!(normalize("ｶﾀｶﾅ"), "カタカナ");
        assert_eq!(normalize("x²"), "x2");
    }

    #[test]
    fn normalize_keeps_letters_that_are_not_accented_forms() {
        assert_eq!(normalize("Straße"), "straße");
        assert_eq!(normalize("がっこう"), "がっこう");
        assert_eq!(normalize("한국어"), "한국어");
        assert_eq!(normalize("किताब"), "किताब");
        assert_eq!(normalize("東京都"), "東京都");
    }

    #[test]
    fn normalize_collapses_white_space() {
        assert_eq!(normalize("a \t\n b\u{00A0}\u{3000}c"), "a b c");
        assert_eq!(normalize("  x  "), " x ");
    }

    #[test]
    fn normalize_is_idempotent_for_every_char() {
        for code in 0..=0x10FFFF_u32 {
            let Some(character) = char::from_u32(code) else { continue };
            let once = normalize(&character.to_string());
            assert_eq!(normalize(&once), once, "U+{code:04X}");
        }
    }

    #[test]
    fn normalize_mapped_points_each_byte_at_its_source_char() {
        let (normalized, origins) = normalize_mapped("Café ﬁ  Ü");
        assert_eq!(normalized, "cafe fi u");
        assert_eq!(origins, vec![0, 1, 2, 3, 4, 5, 5, 6, 8]);
        let (normalized, origins) = normalize_mapped("e\u{301}東");
        assert_eq!(normalized, "e東");
        assert_eq!(origins, vec![0, 2, 2, 2]);
    }

    #[test]
    fn normalize_mapped_agrees_with_normalize() {
        for text in ["", "Ça Déjà ÉTÉ", "ＡＢＣ", "a\u{301}\u{302}b", "ǅ ß ﬃ", "\u{301}\u{301}", "🎉 x\n\ny"]
        {
            let (normalized, origins) = normalize_mapped(text);
            assert_eq!(normalized, normalize(text));
            assert_eq!(origins.len(), normalized.len());
            assert!(origins.windows(2).all(|pair| pair[0] <= pair[1]));
            assert!(origins.iter().all(|&origin| origin < text.chars().count()));
        }
    }

    #[test]
    fn words_splits_latin_on_punctuation_and_spaces() {
        assert_eq!(words("hello, world! it's 2024"), "hello world it s 2024");
        assert_eq!(words("  ...  "), "");
        assert_eq!(words(""), "");
        assert_eq!(words("e-mail_address"), "e mail address");
    }

    #[test]
    fn words_makes_each_cjk_char_a_word() {
        assert_eq!(words("hello, 東京都!"), "hello 東 京 都");
        assert_eq!(words("abc東京def"), "abc 東 京 def");
        assert_eq!(words("東京、大阪。"), "東 京 大 阪");
        assert_eq!(words("がっこう"), "が っ こ う");
        assert_eq!(words("한국어 ok"), "한 국 어 ok");
        assert_eq!(words("時々"), "時 々");
    }

    #[test]
    fn words_keeps_combining_marks_with_their_letter() {
        assert_eq!(words("क्षमा"), "क्षमा");
        assert_eq!(words("か\u{3099}き"), "か\u{3099} き");
    }

    #[test]
    fn is_cjk_covers_the_scripts_but_not_punctuation() {
        for letter in ['東', '㐀', '豈', 'あ', 'ア', 'ｱ', '한', 'ᄀ', 'ㄱ', '々', '〇', '𠀀'] {
            assert!(is_cjk(letter), "{letter}");
        }
        for other in ['a', '1', '、', '。', '「', '・', '　', '!', 'é'] {
            assert!(!is_cjk(other), "{other}");
        }
    }
}
