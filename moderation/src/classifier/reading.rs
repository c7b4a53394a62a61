//! The second reading the classifier scores: what a person reads in an obfuscated message.
//!
//! The model only knows plain words, so `f4ck`, `you_are_an_idiot` or `f.u.c.k` look like
//! unknown tokens to it. The reading:
//!
//! 1. cuts words joined by underscores apart (`you_are_an_idiot` -> `you are an idiot`);
//! 2. repairs a word mixing letters and ASCII digits that the vocabulary does not know by trying
//!    the digits' leet letters ([`crate::leet::digit_letters`]), then any vowel in their place
//!    (`f4ck` -> `fuck`), and keeps the first spelling the vocabulary knows (at most
//!    [`MAX_REPAIRED_DIGITS`] digits per word, so the tries stay few);
//! 3. hands the result to the word filter's normaliser ([`crate::normalize`]): look-alike and
//!    styled letters, invisible characters, separated letters (`f.u.c.k`), leet symbols (`$hit`).

use super::tokenize::is_word_char;
use crate::leet::{digit_letters, VOWELS};

/// Words with more digits than this are left as they are (a phone number, a code).
pub const MAX_REPAIRED_DIGITS: usize = 3;

/// The reading of `text` (see the module documentation); `known` says whether the vocabulary
/// has a (lowercase) word.
pub(crate) fn reading(text: &str, known: impl Fn(&str) -> bool) -> String {
    let mut repaired = String::with_capacity(text.len());
    let mut word = String::new();
    for c in text.chars().chain(std::iter::once(' ')) {
        if is_word_char(c) && c != '_' {
            word.push(c);
            continue;
        }
        if !word.is_empty() {
            repair_word(&word, &known, &mut repaired);
            word.clear();
        }
        repaired.push(if c == '_' { ' ' } else { c });
    }
    repaired.pop(); // the sentinel space
    crate::normalize(&repaired)
}

fn repair_word(word: &str, known: &impl Fn(&str) -> bool, out: &mut String) {
    let lowered = word.to_lowercase();
    let digits = lowered.chars().filter(char::is_ascii_digit).count();
    let letters = lowered.chars().filter(|c| c.is_alphabetic()).count();
    if digits == 0 || digits > MAX_REPAIRED_DIGITS || letters < 2 || known(&lowered) {
        out.push_str(word);
        return;
    }
    let chars: Vec<char> = lowered.chars().collect();
    let leet = |c: char| digit_letters(c).to_vec();
    let vowel = |c: char| {
        let mut options = digit_letters(c).to_vec();
        for &v in VOWELS {
            if !options.contains(&v) {
                options.push(v);
            }
        }
        options
    };
    for options in [&leet as &dyn Fn(char) -> Vec<char>, &vowel] {
        if let Some(found) = first_known(&chars, options, known) {
            out.push_str(&found);
            return;
        }
    }
    out.push_str(word);
}

/// Tries every spelling with each digit replaced by one of `options(digit)`, in order.
fn first_known(chars: &[char], options: &dyn Fn(char) -> Vec<char>, known: &impl Fn(&str) -> bool) -> Option<String> {
    let slots: Vec<(usize, Vec<char>)> =
        chars.iter().enumerate().filter(|(_, c)| c.is_ascii_digit()).map(|(i, &c)| (i, options(c))).collect();
    if slots.iter().any(|(_, o)| o.is_empty()) {
        return None;
    }
    let mut choice = vec![0usize; slots.len()];
    let mut spelling = chars.to_vec();
    loop {
        for ((at, options), &pick) in slots.iter().zip(&choice) {
            spelling[*at] = options[pick];
        }
        let candidate: String = spelling.iter().collect();
        if known(&candidate) {
            return Some(candidate);
        }
        // Next combination (odometer order).
        let mut slot = 0;
        loop {
            if slot == slots.len() {
                return None;
            }
            choice[slot] += 1;
            if choice[slot] < slots[slot].1.len() {
                break;
            }
            choice[slot] = 0;
            slot += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn known(word: &str) -> bool {
        ["fuck", "idiot", "shit", "loser", "hate"].contains(&word)
    }

    #[test]
    fn repairs_what_people_read() {
        assert_eq!(reading("f4ck y0u", known), "fuck you");
        assert_eq!(reading("you_are_an_idiot", known), "you are an idiot");
        assert_eq!(reading("sh1t", known), "shit");
        assert_eq!(reading("l0s3r", known), "loser");
        // One letter is too little to repair: the normaliser's own reading stands.
        assert_eq!(reading("h8 u", known), crate::normalize("h8 u"));
        assert_eq!(reading("f.u.c.k", known), "fuck");
        assert_eq!(reading("IDIOT", known), "idiot");
    }

    #[test]
    fn leaves_numbers_and_codes_alone() {
        assert_eq!(reading("call 5551234", known), "call 5551234");
        assert_eq!(reading("room 101b", known), crate::normalize("room 101b"));
        // More than MAX_REPAIRED_DIGITS digits: not repaired (the normaliser still reads it).
        assert_eq!(reading("fuc1234k", |w| w == "fuciiiik"), crate::normalize("fuc1234k"));
        assert_eq!(reading("", known), "");
    }
}
