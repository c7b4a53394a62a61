//! Tokenizer: turns folded text into a stream of [`Item`]s for the matcher.
//!
//! Vocabulary:
//! * a *chunk* is a maximal run of non-space characters;
//! * a *part* is a maximal run of word characters (letters, digits, leet
//!   symbols) inside a chunk; parts are separated by punctuation;
//! * a chunk is *single* when it holds exactly one word character
//!   ("f", "f.", "(f)").
//!
//! Rules:
//! * a chunk with a letter is a word chunk; its digits are read as leet
//!   letters if it has at least as many letters and symbols as digits ("sh1t",
//!   "5h1t"), or if it is short (at most [`SHORT_WORD`] word characters:
//!   "a55") and not shaped like a model number (capital letters, then only
//!   digits: the phone "A55", "S10", "B12"); a chunk with digits but no
//!   letter is a number and never a word ("5", "$5", "1990"); a chunk of only
//!   leet symbols is a word ("@$$");
//!   a chunk without word characters (e.g. "-", "😀") is ignored;
//! * in a run of at least two single chunks containing a letter, lone digits
//!   are letters too ("5 h 1 t");
//! * between two parts of a chunk the gap is *joinable* if it is
//!   punctuation ("f.u.c.k", "half-assed") or, for an apostrophe, if both
//!   parts are single characters ("f'u'c'k" but not "who're");
//! * between two chunks the gap is joinable only if both chunks are single
//!   ("f u c k" but not "as shown");
//! * every other gap is a hard word boundary.
//!
//! The matcher reads a joinable gap both ways: as nothing (the letters join)
//! and as a word boundary.

use std::ops::ControlFlow;

use crate::fold::fold_char;
use crate::leet::{classify, digit_letters, symbol, Class};

/// The letters one message character may stand for (at most six).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Alts {
    buf: [char; 6],
    len: usize,
}

impl Alts {
    fn new(letters: &[char]) -> Alts {
        let mut buf = ['\0'; 6];
        let len = letters.len().min(buf.len());
        buf[..len].copy_from_slice(&letters[..len]);
        Alts { buf, len }
    }

    fn one(c: char) -> Alts {
        Alts::new(&[c])
    }

    pub(crate) fn as_slice(&self) -> &[char] {
        &self.buf[..self.len]
    }
}

/// One step of the token stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Item<'a> {
    /// A word character. `skippable` symbols may also be punctuation
    /// (a joinable gap); `shown` is how [`crate::normalize`] prints it.
    Letter { alts: Alts, skippable: bool, shown: char },
    /// A separator between word characters.
    Gap { joinable: bool },
    /// A number chunk: not a word, and a hard boundary.
    Number(&'a [char]),
}

/// A word of at most this many word characters reads its digits as leet
/// letters even when they outnumber its letters ("a55"). Longer ones do not:
/// "n1664" (an id, a counter) must not read as a slur.
pub(crate) const SHORT_WORD: usize = 3;

/// Folded text with the class of every character.
pub(crate) struct Folded {
    chars: Vec<char>,
    classes: Vec<Class>,
    /// Whether the message character each folded one came from was uppercase.
    upper: Vec<bool>,
}

impl Folded {
    pub(crate) fn new(text: &str) -> Folded {
        let mut chars = Vec::with_capacity(text.len());
        let mut upper = Vec::with_capacity(text.len());
        for c in text.chars() {
            let was_upper = c.is_uppercase();
            fold_char(c, &mut |f| {
                chars.push(f);
                upper.push(was_upper);
            });
        }
        let classes = chars.iter().map(|&c| classify(c)).collect();
        Folded { chars, classes, upper }
    }

    /// Feeds every item to `sink` until it breaks.
    pub(crate) fn scan<'a>(&'a self, sink: &mut impl FnMut(Item<'a>) -> ControlFlow<()>) {
        let _ = self.emit_all(sink);
    }

    fn emit_all<'a>(&'a self, sink: &mut impl FnMut(Item<'a>) -> ControlFlow<()>) -> ControlFlow<()> {
        let chunks = self.chunks();
        let mut prev_single: Option<bool> = None;
        let mut parts = Vec::new();
        for chunk in &chunks {
            if chunk.kind == Kind::Number {
                sink(Item::Number(&self.chars[chunk.start..chunk.end]))?;
                prev_single = None;
                continue;
            }
            if let Some(prev) = prev_single {
                sink(Item::Gap { joinable: prev && chunk.single })?;
            }
            self.emit_parts(chunk, &mut parts, sink)?;
            prev_single = Some(chunk.single);
        }
        ControlFlow::Continue(())
    }

    /// Splits the text into word and number chunks (ignoring the others).
    fn chunks(&self) -> Vec<Chunk> {
        let mut out = Vec::new();
        let mut i = 0;
        let n = self.classes.len();
        while i < n {
            if self.classes[i] == Class::Space {
                i += 1;
                continue;
            }
            let start = i;
            while i < n && self.classes[i] != Class::Space {
                i += 1;
            }
            out.extend(Chunk::new(&self.classes, &self.upper, start, i));
        }
        upgrade_spaced_digits(&mut out, &self.classes);
        out
    }

    fn emit_parts<'a>(
        &'a self,
        chunk: &Chunk,
        parts: &mut Vec<(usize, usize)>,
        sink: &mut impl FnMut(Item<'a>) -> ControlFlow<()>,
    ) -> ControlFlow<()> {
        self.find_parts(chunk, parts);
        for (k, &(start, end)) in parts.iter().enumerate() {
            if k > 0 {
                let (prev_start, prev_end) = parts[k - 1];
                let apostrophe = self.classes[prev_end..start].contains(&Class::Apostrophe);
                let singles = prev_end - prev_start == 1 && end - start == 1;
                sink(Item::Gap { joinable: !apostrophe || singles })?;
            }
            for i in start..end {
                sink(self.letter(i, chunk.leet_digits))?;
            }
        }
        ControlFlow::Continue(())
    }

    fn find_parts(&self, chunk: &Chunk, parts: &mut Vec<(usize, usize)>) {
        parts.clear();
        let mut i = chunk.start;
        while i < chunk.end {
            if !is_word_char(self.classes[i]) {
                i += 1;
                continue;
            }
            let start = i;
            while i < chunk.end && is_word_char(self.classes[i]) {
                i += 1;
            }
            parts.push((start, i));
        }
    }

    /// The letter item for the word character at `i` (inside a word chunk).
    fn letter(&self, i: usize, leet_digits: bool) -> Item<'static> {
        let c = self.chars[i];
        let (alts, skippable) = match self.classes[i] {
            Class::Digit if leet_digits => match digit_letters(c) {
                [] => (Alts::one(c), false),
                letters => (Alts::new(letters), false),
            },
            Class::Symbol => symbol(c).map_or((Alts::one(c), false), |(l, s)| (Alts::new(l), s)),
            _ => (Alts::one(c), false),
        };
        let shown = if c == '*' { c } else { alts.as_slice().first().copied().unwrap_or(c) };
        Item::Letter { alts, skippable, shown }
    }
}

fn is_word_char(class: Class) -> bool {
    matches!(class, Class::Letter | Class::Digit | Class::Number | Class::Symbol)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Word,
    Number,
}

#[derive(Debug, Clone, Copy)]
struct Chunk {
    start: usize,
    end: usize,
    kind: Kind,
    single: bool,
    has_letter: bool,
    /// Digits are read as letters: the chunk has a letter, and at least as
    /// many letters and symbols as digits ("sh1t", "5h1t"), or it is short
    /// and not a model number ("a55"; not "A55").
    leet_digits: bool,
}

impl Chunk {
    /// Classifies `classes[start..end]` (`upper`: which characters were
    /// capitals in the message); `None` if it has no word character.
    fn new(classes: &[Class], upper: &[bool], start: usize, end: usize) -> Option<Chunk> {
        let slice = &classes[start..end];
        let count = slice.iter().filter(|&&c| is_word_char(c)).count();
        if count == 0 {
            return None;
        }
        let has_letter = slice.contains(&Class::Letter);
        let numbers = slice.iter().filter(|c| matches!(c, Class::Digit | Class::Number)).count();
        let has_number = numbers > 0;
        let kind = if has_letter || !has_number { Kind::Word } else { Kind::Number };
        Some(Chunk {
            start,
            end,
            kind,
            single: count == 1,
            has_letter,
            leet_digits: has_letter
                && (count - numbers >= numbers || (count <= SHORT_WORD && !is_model_number(slice, &upper[start..end]))),
        })
    }
}

/// Capital letters followed only by digits ("A55", "S10", "XT1965"): a
/// product or model name, whose digits are digits.
fn is_model_number(classes: &[Class], upper: &[bool]) -> bool {
    let first_digit = classes.iter().position(|&c| c == Class::Digit).unwrap_or(classes.len());
    let (letters, digits) = classes.split_at(first_digit);
    !letters.is_empty()
        && letters.iter().zip(upper).all(|(&c, &up)| c == Class::Letter && up)
        && digits.iter().all(|&c| c == Class::Digit)
}

/// In a run of two or more single chunks that contains a letter, a lone
/// ASCII digit is a letter ("5 h 1 t"); elsewhere it stays a number.
fn upgrade_spaced_digits(chunks: &mut [Chunk], classes: &[Class]) {
    let mut i = 0;
    while i < chunks.len() {
        let start = i;
        while i < chunks.len() && chunks[i].single {
            i += 1;
        }
        let run = &mut chunks[start..i];
        if run.len() >= 2 && run.iter().any(|c| c.has_letter) {
            for chunk in run.iter_mut() {
                if classes[chunk.start..chunk.end].contains(&Class::Digit) {
                    chunk.kind = Kind::Word;
                    chunk.leet_digits = true;
                }
            }
        }
        i = i.max(start + 1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Renders the item stream compactly: letters by their alternatives,
    /// `~` for a joinable gap, `|` for a hard gap, `#n` for numbers.
    fn show(text: &str) -> String {
        let folded = Folded::new(text);
        let mut out = String::new();
        folded.scan(&mut |item| {
            match item {
                Item::Letter { alts, skippable, .. } => {
                    let s: String = alts.as_slice().iter().collect();
                    if s.chars().count() > 1 || skippable {
                        out.push('[');
                        out.push_str(&s);
                        if skippable {
                            out.push('?');
                        }
                        out.push(']');
                    } else {
                        out.push_str(&s);
                    }
                }
                Item::Gap { joinable: true } => out.push('~'),
                Item::Gap { joinable: false } => out.push('|'),
                Item::Number(n) => {
                    out.push('#');
                    out.extend(n.iter());
                }
            }
            ControlFlow::Continue(())
        });
        out
    }

    #[test]
    fn plain_words_are_separated_by_hard_gaps() {
        assert_eq!(show("as shown"), "as|shown");
        assert_eq!(show("  Hello,   world!  "), "hello|world[il?]");
    }

    #[test]
    fn spaced_single_letters_are_joinable() {
        assert_eq!(show("f u c k"), "f~u~c~k");
        assert_eq!(show("f. u. c. k."), "f~u~c~k");
        assert_eq!(show("f - u - c - k"), "f~u~c~k");
        assert_eq!(show("a ss"), "a|ss");
    }

    #[test]
    fn punctuation_inside_a_chunk_is_joinable() {
        assert_eq!(show("f.u.c.k"), "f~u~c~k");
        assert_eq!(show("b-a-d b_a_d"), "b~a~d|b~a~d");
        assert_eq!(show("half-assed"), "half~assed");
    }

    #[test]
    fn apostrophes_join_only_single_letters() {
        assert_eq!(show("who're"), "who|re");
        assert_eq!(show("it's"), "it|s");
        assert_eq!(show("f'u'c'k"), "f~u~c~k");
    }

    #[test]
    fn numbers_are_not_words() {
        assert_eq!(show("meet at 5 30"), "meet|at#5#30");
        assert_eq!(show("it costs $5"), "it|costs#$5");
        assert_eq!(show("1 2 3"), "#1#2#3");
    }

    #[test]
    fn digits_in_words_are_leet() {
        assert_eq!(show("sh1t"), "sh[il]t");
        assert_eq!(show("5h1t"), "sh[il]t");
        assert_eq!(show("@$$"), "ass");
        assert_eq!(show("5 h 1 t"), "s~h~[il]~t");
        assert_eq!(show("a55 s10"), "ass|s[il]o");
        assert_eq!(show("A55 S10 B12"), "a55|s10|b12");
        assert_eq!(show("5h17"), "5h17");
        assert_eq!(show("a555"), "a555");
        assert_eq!(show("n1664"), "n1664", "a counter is not a word");
        assert_eq!(show("a5s"), "ass");
    }

    #[test]
    fn symbols_may_be_letters_or_punctuation() {
        assert_eq!(show("sh!t"), "sh[il?]t");
        assert_eq!(show("f*ck"), "f[aeiouy?]ck");
    }

    #[test]
    fn empty_and_punctuation_only_input() {
        assert_eq!(show(""), "");
        assert_eq!(show(" - ... 😀 "), "");
    }
}
