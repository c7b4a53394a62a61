//! Word lists: parsing the list file format and the built-in default list.
//!
//! Format, one entry per line:
//! * blank lines and lines starting with `#` are ignored; so is everything
//!   after a `#` on a line (`fuck   # the classic`);
//! * an entry is a word (`bastard`) or a phrase (`kill yourself`); case,
//!   accents, look-alike letters and repeated spaces do not matter;
//! * `*` before a word lets it match inside a longer word (`*shit` matches
//!   "bullshit"), `*` after it lets any letters follow (`fuck*` matches
//!   "fuckface");
//! * `=` before an entry turns off the suffixes (`=spic` matches "spic" and
//!   "spiic" but not "spicy").

use crate::fold::fold_str;
use crate::leet::{classify, primary, Class};

/// A parsed list of words and phrases to flag.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WordList {
    entries: Vec<Entry>,
}

/// One parsed entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Entry {
    /// Name reported in [`crate::Violation::rule`]: lowercase, markers removed.
    pub(crate) rule: String,
    /// Normalised letters; words separated by single spaces; runs capped at two.
    pub(crate) key: String,
    /// `*word`: may start inside a word.
    pub(crate) floating: bool,
    /// `word*`: may be followed by any letters.
    pub(crate) open: bool,
    /// `=word`: no suffixes.
    pub(crate) exact: bool,
}

impl WordList {
    /// One word or phrase per line; blank lines and lines starting with '#'
    /// ignored; trailing "# comment" ignored too. Duplicates are dropped.
    pub fn parse(text: &str) -> WordList {
        let mut entries: Vec<Entry> = Vec::new();
        for line in text.lines() {
            if let Some(entry) = Entry::parse(line) {
                if !entries.contains(&entry) {
                    entries.push(entry);
                }
            }
        }
        WordList { entries }
    }

    /// The built-in list (`src/default_words.txt`): common English
    /// profanities, slurs and abusive phrases.
    pub fn default_list() -> WordList {
        WordList::parse(include_str!("default_words.txt"))
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// True when the list has no entries.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The entries' names, as reported in violations, in file order.
    pub fn rules(&self) -> impl Iterator<Item = &str> {
        self.entries.iter().map(|e| e.rule.as_str())
    }

    pub(crate) fn entries(&self) -> &[Entry] {
        &self.entries
    }
}

impl Entry {
    fn parse(line: &str) -> Option<Entry> {
        let text = line.split('#').next().unwrap_or("").trim();
        let (exact, text) = strip_prefix(text, '=');
        let (floating, text) = strip_prefix(text, '*');
        let (open, text) = match text.strip_suffix('*') {
            Some(rest) => (true, rest.trim_end()),
            None => (false, text),
        };
        let key = entry_key(text);
        if key.is_empty() {
            return None;
        }
        let rule = text.split_whitespace().collect::<Vec<_>>().join(" ").to_lowercase();
        Some(Entry { rule, key, floating, open, exact })
    }
}

fn strip_prefix(text: &str, marker: char) -> (bool, &str) {
    match text.strip_prefix(marker) {
        Some(rest) => (true, rest.trim_start()),
        None => (false, text),
    }
}

/// Normalises an entry: fold, read leet characters as their first letter,
/// turn any separator into a single space, cap runs of a letter at two.
pub(crate) fn entry_key(text: &str) -> String {
    let mut key = String::new();
    for c in fold_str(text).chars() {
        match classify(c) {
            Class::Letter | Class::Digit | Class::Number | Class::Symbol => {
                push_capped(&mut key, primary(c));
            }
            Class::Space | Class::Apostrophe | Class::Punct => {
                if !key.is_empty() && !key.ends_with(' ') {
                    key.push(' ');
                }
            }
        }
    }
    key.truncate(key.trim_end().len());
    key
}

/// Pushes `c` unless the string already ends with two of it.
pub(crate) fn push_capped(s: &mut String, c: char) {
    let mut tail = s.chars().rev();
    if tail.next() == Some(c) && tail.next() == Some(c) {
        return;
    }
    s.push(c);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(list: &WordList) -> Vec<&str> {
        list.entries().iter().map(|e| e.key.as_str()).collect()
    }

    #[test]
    fn ignores_comments_and_blank_lines() {
        let list = WordList::parse("# header\n\n  \nfoo\n   # indented comment\nbar # trailing\n");
        assert_eq!(keys(&list), ["foo", "bar"]);
        assert_eq!(list.len(), 2);
        assert!(!list.is_empty());
    }

    #[test]
    fn empty_input_gives_empty_list() {
        assert!(WordList::parse("").is_empty());
        assert!(WordList::parse("#only\n\n").is_empty());
        assert!(WordList::parse("*\n=\n...\n").is_empty());
    }

    #[test]
    fn phrases_keep_single_spaces() {
        let list = WordList::parse("Kill    Yourself\n\tgo\tdie \ni'll kill you\n");
        assert_eq!(keys(&list), ["kill yourself", "go die", "i ll kill you"]);
        assert_eq!(list.rules().collect::<Vec<_>>(), ["kill yourself", "go die", "i'll kill you"]);
    }

    #[test]
    fn case_accents_and_leet_are_normalised() {
        let list = WordList::parse("FÚCK\nSh1t\nАSS\n");
        assert_eq!(keys(&list), ["fuck", "shit", "ass"]);
    }

    #[test]
    fn runs_are_capped_at_two() {
        assert_eq!(entry_key("baaaad"), "baad");
        assert_eq!(entry_key("ass"), "ass");
    }

    #[test]
    fn markers() {
        let list = WordList::parse("*shit\nfuck*\n*bitch*\n=spic\n");
        let e = list.entries();
        assert!(e[0].floating && !e[0].open && !e[0].exact);
        assert!(!e[1].floating && e[1].open);
        assert!(e[2].floating && e[2].open);
        assert!(e[3].exact && !e[3].floating);
        assert_eq!(list.rules().collect::<Vec<_>>(), ["shit", "fuck", "bitch", "spic"]);
    }

    #[test]
    fn duplicates_are_dropped() {
        assert_eq!(WordList::parse("foo\nFOO\nfoo # again\n").len(), 1);
    }

    #[test]
    fn default_list_is_sensible() {
        let list = WordList::default_list();
        assert!(list.len() > 40);
        for word in
            ["ass", "shit", "fuck", "bitch", "bastard", "dick", "cunt", "whore", "slut", "retard", "kill yourself"]
        {
            assert!(list.rules().any(|r| r == word), "missing {word}");
        }
    }
}
