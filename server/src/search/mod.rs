//! Message search: the one definition of how a query matches a message, shared by the SQLite
//! (FTS5) and PostgreSQL stores so that both give the same answers. [`Query::matches`] is the
//! reference implementation of the text rules below; the store tests use it as their oracle.
//!
//! # Normalized text
//!
//! Queries and messages are compared in normalized form ([`normalize`]), character by character
//! of the original text:
//!
//! 1. compatibility decomposition (NFKD): full-width "ＡＢＣ" is "ABC", "ﬁ" is "fi", "²" is "2";
//! 2. accents dropped: the combining marks of the diacritical blocks (U+0300–036F, U+1AB0–1AFF,
//!    U+1DC0–1DFF, U+20D0–20FF, U+FE20–FE2F) and the Hebrew and Arabic points. Other combining
//!    marks are part of their letter and stay (Indic vowel signs, the kana voicing marks: "が" is
//!    not "か");
//! 3. lowercased (`char::to_lowercase`, no case folding: "ß" stays "ß", it is not "ss");
//! 4. what is left of the character recomposed (canonical composition), so a Hangul syllable or a
//!    voiced kana stays one character;
//! 5. each run of white space (any Unicode white space) made one space.
//!
//! "Ça  Déjà\nÉTÉ" is "ca deja ete".
//!
//! # Words
//!
//! The words of a normalized text ([`words`]) are its maximal runs of letters and digits
//! (`char::is_alphanumeric`, with the combining marks that follow), except that each CJK letter
//! ([`is_cjk`]: Han, kana, Hangul) is a word by itself. Everything else separates words.
//! "hello, 東京都!" has the words `hello 東 京 都`.
//!
//! # Query syntax ([`parse`])
//!
//! At most [`MAX_QUERY_CHARS`] chars, items separated by white space:
//! - `"an exact phrase"`: one term, normalized, trimmed (an unclosed quote runs to the end);
//! - `from:NAME` (a leading `@` dropped), `in:NAME` (a leading `#` dropped): lowercased, compared
//!   with user and room names case-insensitively; a quoted value is allowed (`in:"team chat"`);
//! - `before:YYYY-MM-DD`: sent before that day (UTC), the day excluded;
//! - `after:YYYY-MM-DD`: sent after that day (UTC), the day excluded ([`Query::sent_between`]
//!   gives both as instants);
//! - `has:reply`: the message answers another one;
//! - anything else is a word: normalized, punctuation around it dropped ("hello," is "hello"); a
//!   word of punctuation only is dropped.
//!
//! Operator names take any case. An operator without a value, with a value it does not take, or
//! given twice with different values is an error; so are more than [`MAX_TERMS`] distinct words
//! and phrases, and a query with neither a term nor an operator. A term given twice counts once.
//!
//! # Matching
//!
//! A message matches when it matches every term (and every operator). With `text` the normalized
//! message and `words` its words:
//! - a term of [`MIN_SUBSTRING_CHARS`] chars or more ([`TermKind::Substring`]) matches when `text`
//!   contains it, anywhere, inside words too: "goo" finds "good";
//! - a shorter term ([`TermKind::Words`]) matches when each of its tokens is one of `words` and
//!   `text` contains it: "go" finds "go!" but not "good"; "東京" (tokens 東, 京) finds "東京都".
//!
//! One way for a store to apply this exactly: keep `normalize(content)` and
//! `" " + words(normalize(content)) + " "` for each message; a term needs the first to contain
//! `term.text` ([`like_contains`], or an FTS5 trigram index queried with [`fts5_phrase`], which a
//! Substring term is always long enough for), and a Words term also needs the second to contain
//! `" " + token + " "` for each of its tokens.
//!
//! The excerpt shown with each result comes from [`highlight()`].

pub mod highlight;
pub mod query;
pub mod text;

pub use highlight::highlight;
pub use query::{fts5_phrase, like_contains, parse, Query, QueryError, Term, TermKind};
pub use text::{is_cjk, normalize, normalize_mapped, words};

/// The longest query accepted, in chars.
pub const MAX_QUERY_CHARS: usize = 256;

/// The most distinct words and phrases a query may have.
pub const MAX_TERMS: usize = 16;

/// The shortest term (in chars of its normalized text) that matches inside words; shorter terms
/// match whole words only.
pub const MIN_SUBSTRING_CHARS: usize = 3;
