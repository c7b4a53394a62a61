//! Property tests: the filter never panics, spaced-out or punctuated listed
//! words are always flagged, and very large inputs return.

use moderation::{normalize, Filter};
use proptest::prelude::*;
use std::sync::OnceLock;

fn filter() -> &'static Filter {
    static FILTER: OnceLock<Filter> = OnceLock::new();
    FILTER.get_or_init(Filter::default)
}

/// Single words of the default list.
const WORDS: &[&str] = &[
    "fuck", "shit", "ass", "bitch", "bastard", "dick", "cunt", "whore", "slut", "retard", "twat", "piss", "nigger",
    "faggot", "asshole", "wank", "kys",
];

/// Separators that never break a word when they sit inside one.
const INNER_SEPARATORS: &[&str] = &[
    ".", "-", "_", "~", "/", ":", ",", ";", "=", "^", "#", "%", "&", "?", "\"", "<", ">", "[", "]", "{", "}", "\\",
    "!", "*", "+", "|", "(", ")", "😀", "\u{200B}", "\u{200C}", "\u{200D}", "\u{2060}", "\u{FEFF}", "\u{00AD}",
    "\u{200E}", "\u{202E}", "\u{2066}",
];

/// Pieces for "nasty" mixed strings: words, separators, look-alikes, marks.
const PIECES: &[&str] = &[
    "fuck",
    "ass",
    "kill yourself",
    "as",
    "class",
    " ",
    "  ",
    ".",
    "-",
    "'",
    "\u{200B}",
    "\u{0301}",
    "\u{0308}",
    "а",
    "ѕ",
    "ο",
    "ρ",
    "ｆ",
    "𝐟",
    "1",
    "5",
    "$",
    "@",
    "!",
    "*",
    "|",
    "0",
    "\n",
    "\t",
    "😀",
    "🇫",
    "🅕",
    "ß",
    "İ",
    "\u{FDFA}",
    "\u{0000}",
    "\u{FFFF}",
    "\u{10FFFF}",
    "ǅ",
    "ﬀ",
];

fn pieces() -> impl Strategy<Value = String> {
    prop::collection::vec(prop::sample::select(PIECES), 0..60).prop_map(|v| v.concat())
}

fn any_chars() -> impl Strategy<Value = String> {
    prop::collection::vec(any::<char>(), 0..200).prop_map(|v| v.into_iter().collect())
}

/// A listed word with each letter repeated 1-3 times, random case, and
/// `sep` (drawn per gap) between letters.
fn obfuscate(word: &str, repeats: &[usize], upper: &[bool], seps: &[String]) -> String {
    let mut out = String::new();
    for (i, c) in word.chars().enumerate() {
        if i > 0 {
            out.push_str(&seps[i % seps.len()]);
        }
        let c = if upper[i % upper.len()] { c.to_ascii_uppercase() } else { c };
        for _ in 0..repeats[i % repeats.len()] {
            out.push(c);
        }
    }
    out
}

fn inner_gap() -> impl Strategy<Value = String> {
    prop::collection::vec(prop::sample::select(INNER_SEPARATORS), 0..3).prop_map(|v| v.concat())
}

fn spaced_gap() -> impl Strategy<Value = String> {
    (1usize..4, prop::sample::select(&["", ".", "-", " - ", "\u{200B}"][..]))
        .prop_map(|(n, p)| format!("{p}{}", " ".repeat(n)))
}

proptest! {
    #[test]
    fn never_panics_on_arbitrary_strings(s in any::<String>()) {
        let _ = filter().check(&s);
        let _ = normalize(&s);
    }

    #[test]
    fn never_panics_on_arbitrary_chars(s in any_chars()) {
        let _ = filter().check(&s);
        let _ = normalize(&s);
    }

    #[test]
    fn never_panics_on_mixed_pieces(s in pieces()) {
        let _ = filter().check(&s);
        let _ = normalize(&s);
    }

    #[test]
    fn punctuated_words_are_flagged(
        word in prop::sample::select(WORDS),
        repeats in prop::collection::vec(1usize..4, 1..8),
        upper in prop::collection::vec(any::<bool>(), 1..8),
        seps in prop::collection::vec(inner_gap(), 1..8),
        prefix in prop::sample::select(&["", "you ", "hey, ", "a "][..]),
        suffix in prop::sample::select(&["", " now", "!", "."][..]),
    ) {
        let message = format!("{prefix}{}{suffix}", obfuscate(word, &repeats, &upper, &seps));
        prop_assert!(
            filter().check(&message).is_some(),
            "not flagged: {:?} (normalized {:?})", message, normalize(&message)
        );
    }

    #[test]
    fn spaced_words_are_flagged(
        word in prop::sample::select(WORDS),
        repeats in prop::collection::vec(1usize..3, 1..8),
        upper in prop::collection::vec(any::<bool>(), 1..8),
        seps in prop::collection::vec(spaced_gap(), 1..8),
        prefix in prop::sample::select(&["", "you ", "hey, ", "a "][..]),
    ) {
        // Each copy of a repeated letter is its own spaced-out chunk.
        let expanded = obfuscate(word, &repeats, &upper, &[String::new()]);
        let message = format!("{prefix}{}", obfuscate(&expanded, &[1], &[false], &seps));
        prop_assert!(
            filter().check(&message).is_some(),
            "not flagged: {:?} (normalized {:?})", message, normalize(&message)
        );
    }
}

/// 1 MB inputs of the nastiest clean shapes are scanned to the end and
/// return (no timing assertion): mixed tricks, one endless spaced-out run, and
/// the symbol with the most readings.
#[test]
fn megabyte_inputs_return() {
    const MB: usize = 1 << 20;
    let mixed = "classic assassin f u n sh1p *** !!! \u{0301}\u{200B} a s 30 5 ѕһір 𝐟 ";
    let shapes = [mixed.repeat(MB / mixed.len()), "a s ".repeat(MB / 4), "*".repeat(MB)];
    for shape in &shapes {
        assert!(shape.len() >= MB - 100);
        assert_eq!(filter().check(shape), None);
        let _ = normalize(shape);
    }
    let mut flagged = "clean words ".repeat(MB / 12);
    flagged.push_str("f u c k");
    assert!(filter().check(&flagged).is_some());
}
