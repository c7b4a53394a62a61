//! ChatterBox's word filter: pure (no I/O), panic-free, linear in the message
//! length, and usable from both the server and the WASM client.
//!
//! ```
//! use moderation::{Filter, WordList};
//!
//! let filter = Filter::new(&WordList::default_list());
//! assert_eq!(filter.check("hello there"), None);
//! assert_eq!(filter.check("f.u.c.k you").unwrap().rule, "fuck");
//! assert_eq!(filter.check("you absolute 𝐛𝐢𝐭𝐜𝐡").unwrap().rule, "bitch");
//! assert_eq!(filter.check("classic assassin"), None);
//! ```
//!
//! Files:
//! * `fold.rs`: per-character folding (invisible characters, NFKD,
//!   diacritics, look-alike letters, lowercase);
//! * `leet.rs`: character classes and leetspeak readings;
//! * `tokens.rs`: splits folded text into letters, joinable gaps, hard gaps
//!   and numbers;
//! * `wordlist.rs`: the list file format and the built-in list
//!   (`default_words.txt`);
//! * `matcher.rs`: the trie automaton that finds listed words and phrases;
//! * `bidi.rs`: display order of text under a right-to-left override;
//! * `classifier/` (feature `classifier`): the learned second opinion, a
//!   linear model over TF-IDF features.
//!
//! `docs/moderation.md` in the repository describes the rules in full.

mod bidi;
#[cfg(feature = "classifier")]
pub mod classifier;
mod fold;
mod leet;
mod matcher;
mod tokens;
mod wordlist;

use std::fmt;
use std::ops::ControlFlow;
use std::sync::Arc;

pub use wordlist::WordList;

use matcher::Compiled;
use tokens::{Folded, Item};
use wordlist::push_capped;

/// A compiled word list. Cheap to clone (the compiled form is shared).
#[derive(Debug, Clone)]
pub struct Filter {
    compiled: Arc<Compiled>,
}

impl Filter {
    /// Compiles `list`.
    pub fn new(list: &WordList) -> Filter {
        Filter { compiled: Arc::new(Compiled::new(list)) }
    }

    /// None when clean; Some(Violation) naming the listed word/phrase that
    /// matched (the first one found).
    pub fn check(&self, message: &str) -> Option<Violation> {
        self.compiled.check(message).map(|rule| Violation { rule: rule.to_owned() })
    }
}

impl Default for Filter {
    /// A filter over [`WordList::default_list`].
    fn default() -> Filter {
        Filter::new(&WordList::default_list())
    }
}

/// A message matched a listed word or phrase.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    /// The listed entry that matched, lowercase, without `*`/`=` markers.
    pub rule: String,
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "message contains a blocked word ({})", self.rule)
    }
}

/// The normalised form the matcher sees (exposed for docs and tests).
///
/// Words are separated by single spaces; letters joined by joinable gaps
/// ("f.u.c.k", "f u c k") are written together; leet characters are shown as
/// their first reading (`1` as `i`); a `!`, `|`, `+` or `(` that is not
/// between two letters is treated as punctuation; `*` stays `*` (it stands for
/// any vowel); runs of a letter are capped at two; numbers stay as they are.
/// The matcher additionally tries every alternative reading, so this is one
/// reading out of several.
pub fn normalize(text: &str) -> String {
    let folded = Folded::new(text);
    let mut items = Vec::new();
    folded.scan(&mut |item| {
        items.push(item);
        ControlFlow::Continue(())
    });
    let mut out = String::new();
    for (i, item) in items.iter().enumerate() {
        match *item {
            Item::Letter { skippable, shown, .. } => {
                let between_letters = i > 0
                    && matches!(items[i - 1], Item::Letter { .. })
                    && matches!(items.get(i + 1), Some(Item::Letter { skippable: false, .. }));
                if !skippable || between_letters {
                    push_capped(&mut out, shown);
                }
            }
            Item::Gap { joinable: true } => {}
            Item::Gap { joinable: false } => push_space(&mut out),
            Item::Number(digits) => {
                push_space(&mut out);
                out.extend(digits.iter());
                push_space(&mut out);
            }
        }
    }
    out.truncate(out.trim_end().len());
    out
}

fn push_space(out: &mut String) {
    if !out.is_empty() && !out.ends_with(' ') {
        out.push(' ');
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalize_examples() {
        assert_eq!(normalize("Hello,   World!"), "hello world");
        assert_eq!(normalize("F.U.C.K  y0u!!"), "fuck you");
        assert_eq!(normalize("f u c k"), "fuck");
        assert_eq!(normalize("as shown"), "as shown");
        assert_eq!(normalize("sh1t $hit @ss sh!t"), "shit shit ass shit");
        assert_eq!(normalize("baaaaad"), "baad");
        assert_eq!(normalize("fúck ｆｕｃｋ 𝐟𝐮𝐜𝐤"), "fuck fuck fuck");
        assert_eq!(normalize("f\u{200B}u\u{00AD}ck"), "fuck");
        assert_eq!(normalize("meet at 5 30"), "meet at 5 30");
        assert_eq!(normalize("it costs $5"), "it costs $5");
        assert_eq!(normalize("f*ck"), "f*ck");
        assert_eq!(normalize(""), "");
        assert_eq!(normalize("Ｆ.𝐔.с.K  y0u!!"), "fuck you");
        assert_eq!(normalize("half-assed"), "halfassed");
    }

    /// Claims made in docs/moderation.md.
    #[test]
    fn documented_behaviour() {
        let filter = Filter::default();
        let rule = |m: &str| filter.check(m).map(|v| v.rule);
        assert_eq!(rule("fuckssss").as_deref(), Some("fuck"));
        assert_eq!(rule("bastardsss"), None);
        assert_eq!(rule("a 5 s").as_deref(), Some("ass"));
        assert_eq!(rule("www.ass.com").as_deref(), Some("ass"));
        assert_eq!(rule("go die-hard").as_deref(), Some("go die"));
        assert_eq!(rule("sonofabitch").as_deref(), Some("bitch"));
        assert_eq!(rule("fu ck"), None);
        assert_eq!(rule("ff uu cc kk"), None);
        assert_eq!(rule("455"), None);
        assert_eq!(rule("5h17"), None, "one letter among three digits: an id as much as a word");
        assert_eq!(rule("you a55").as_deref(), Some("ass"));
        assert_eq!(rule("Galaxy A55"), None);
        assert_eq!(rule("kcuf"), None);
        assert_eq!(rule("\u{202E}kcuf").as_deref(), Some("fuck"));
    }

    #[test]
    fn filter_is_send_sync_and_clone() {
        fn assert_traits<T: Send + Sync + Clone + 'static>() {}
        assert_traits::<Filter>();
        assert_traits::<WordList>();
    }

    #[test]
    fn default_filter_works() {
        let filter = Filter::default();
        assert_eq!(filter.check("what the fuck").map(|v| v.rule), Some("fuck".into()));
        assert_eq!(filter.check("good morning"), None);
    }
}
