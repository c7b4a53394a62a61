//! Character classes and leetspeak readings of folded characters.
//!
//! After folding ([`crate::fold`]) every character is classified. Digits and a
//! few symbols can stand for letters ("sh1t", "$hit", "@ss", "f*ck"); this
//! module says which letters. Whether a digit is read as a letter depends on
//! its surroundings and is decided by the tokenizer ([`crate::tokens`]).

/// What role a folded character can play.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Class {
    /// Whitespace: separates chunks.
    Space,
    /// A letter of any script.
    Letter,
    /// An ASCII digit: a letter inside a word, else part of a number.
    Digit,
    /// Another numeric character (e.g. Arabic-Indic digits); never leet.
    Number,
    /// A symbol with a leet reading (`@ $ ! | + * ( ...`).
    Symbol,
    /// An apostrophe: separates words unless it sits between single letters.
    Apostrophe,
    /// Any other punctuation, symbol or emoji: a separator inside a chunk.
    Punct,
}

/// Classifies one folded character.
pub(crate) fn classify(c: char) -> Class {
    if c.is_whitespace() {
        Class::Space
    } else if c.is_ascii_digit() {
        Class::Digit
    } else if is_apostrophe(c) {
        Class::Apostrophe
    } else if symbol(c).is_some() {
        Class::Symbol
    } else if c.is_alphabetic() {
        Class::Letter
    } else if c.is_numeric() {
        Class::Number
    } else {
        Class::Punct
    }
}

fn is_apostrophe(c: char) -> bool {
    matches!(c, '\'' | '\u{2018}' | '\u{2019}' | '\u{201B}' | '\u{02BC}' | '\u{02BB}' | '`' | '\u{2032}')
}

/// The vowels a `*` may hide ("f*ck", "sh*t").
pub(crate) const VOWELS: &[char] = &['a', 'e', 'i', 'o', 'u', 'y'];

/// Letters an ASCII digit may stand for (empty for digits without a reading).
pub(crate) fn digit_letters(c: char) -> &'static [char] {
    match c {
        '0' => &['o'],
        '1' => &['i', 'l'],
        '2' => &['z'],
        '3' => &['e'],
        '4' => &['a'],
        '5' => &['s'],
        '6' => &['g', 'b'],
        '7' => &['t'],
        '8' => &['b'],
        '9' => &['g'],
        _ => &[],
    }
}

/// A leet symbol: the letters it may stand for, and whether it may instead be
/// plain punctuation (`!` in "fuck!" is punctuation, in "sh!t" a letter).
pub(crate) fn symbol(c: char) -> Option<(&'static [char], bool)> {
    Some(match c {
        '@' => (&['a'], false),
        '$' => (&['s'], false),
        '€' => (&['e'], false),
        '¢' => (&['c'], false),
        '!' | '|' | '¡' => (&['i', 'l'], true),
        '+' => (&['t'], true),
        '(' => (&['c'], true),
        '*' => (VOWELS, true),
        _ => return None,
    })
}

/// The single most likely letter for a character (used for word-list
/// entries and for display): the first leet reading, else the character.
pub(crate) fn primary(c: char) -> char {
    let letters = match classify(c) {
        Class::Digit => digit_letters(c),
        Class::Symbol => symbol(c).map_or(&[][..], |(l, _)| l),
        _ => &[],
    };
    letters.first().copied().unwrap_or(c)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classes() {
        assert_eq!(classify('a'), Class::Letter);
        assert_eq!(classify('ж'), Class::Letter);
        assert_eq!(classify('7'), Class::Digit);
        assert_eq!(classify('٣'), Class::Number);
        assert_eq!(classify('$'), Class::Symbol);
        assert_eq!(classify('\''), Class::Apostrophe);
        assert_eq!(classify('\u{2019}'), Class::Apostrophe);
        assert_eq!(classify('.'), Class::Punct);
        assert_eq!(classify('😀'), Class::Punct);
        assert_eq!(classify(' '), Class::Space);
    }

    #[test]
    fn leet_readings() {
        assert_eq!(primary('4'), 'a');
        assert_eq!(primary('@'), 'a');
        assert_eq!(primary('3'), 'e');
        assert_eq!(primary('1'), 'i');
        assert_eq!(digit_letters('1'), &['i', 'l']);
        assert_eq!(primary('0'), 'o');
        assert_eq!(primary('5'), 's');
        assert_eq!(primary('$'), 's');
        assert_eq!(primary('7'), 't');
        assert_eq!(primary('+'), 't');
        assert_eq!(primary('8'), 'b');
        assert_eq!(primary('9'), 'g');
        assert_eq!(primary('x'), 'x');
        assert_eq!(symbol('!'), Some((&['i', 'l'][..], true)));
        assert_eq!(symbol('*').map(|s| s.0), Some(VOWELS));
        assert_eq!(symbol('.'), None);
    }
}
