//! The search query language: parsing what a user typed into words, phrases and operators, the
//! reference matcher the store implementations must agree with, and the escaping helpers they use
//! to hand terms to SQLite FTS5 and PostgreSQL `LIKE`.
//!
//! See the module documentation of [`crate::search`] for the syntax and the matching rules.

use super::text::{normalize, word_spans, words};
use super::{MAX_QUERY_CHARS, MAX_TERMS, MIN_SUBSTRING_CHARS};
use chrono::{DateTime, NaiveDate, Utc};
use std::collections::HashSet;
use std::fmt;

/// A parsed search query: the text terms (all of which must match) and the operators.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Query {
    /// The words and phrases, normalized, each once, in the order written. A message matches
    /// when it matches every one of them; with none, the operators alone decide.
    pub terms: Vec<Term>,
    /// `from:NAME`: only messages sent by this user (lowercased, without a leading `@`).
    pub from: Option<String>,
    /// `in:NAME`: only messages of this room (lowercased, without a leading `#`).
    pub in_room: Option<String>,
    /// `before:YYYY-MM-DD`: only messages sent before that day began (UTC); the day is excluded.
    pub before: Option<NaiveDate>,
    /// `after:YYYY-MM-DD`: only messages sent after that day ended (UTC); the day is excluded.
    pub after: Option<NaiveDate>,
    /// `has:reply`: only messages that answer another message.
    pub has_reply: bool,
}

/// One word or phrase of a query.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Term {
    /// The normalized text of the term (see [`normalize`]), never empty.
    pub text: String,
    /// The words of `text` (see [`words`]); may be empty for a phrase of punctuation only.
    pub tokens: Vec<String>,
    /// How the term matches a message.
    pub kind: TermKind,
}

/// How a [`Term`] matches a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TermKind {
    /// A term of [`MIN_SUBSTRING_CHARS`] chars or more: matches wherever the normalized message
    /// text contains it, inside words too.
    Substring,
    /// A shorter term: every one of its tokens must be a word of the message, and the normalized
    /// message text must contain the term's text.
    Words,
}

/// Why a query was refused; its [`Display`](fmt::Display) is fit for an HTTP 400 body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum QueryError {
    /// Nothing to search for: no word, no phrase, no operator.
    Empty,
    /// The query has more than [`MAX_QUERY_CHARS`] chars.
    TooLong,
    /// The query has more than [`MAX_TERMS`] distinct words and phrases.
    TooManyTerms,
    /// An operator with an empty value or a value it does not take (its name, e.g. `"before"`).
    BadOperatorValue {
        /// The operator's name, without the colon.
        operator: &'static str,
    },
    /// An operator given twice with different values (its name, e.g. `"from"`).
    RepeatedOperator {
        /// The operator's name, without the colon.
        operator: &'static str,
    },
}

impl fmt::Display for QueryError {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            QueryError::Empty => formatter.write_str("the query is empty"),
            QueryError::TooLong => write!(formatter, "the query is longer than {MAX_QUERY_CHARS} characters"),
            QueryError::TooManyTerms => write!(formatter, "at most {MAX_TERMS} words and phrases"),
            QueryError::BadOperatorValue { operator } => match *operator {
                "from" => formatter.write_str("from: wants a user name"),
                "in" => formatter.write_str("in: wants a room name"),
                "has" => formatter.write_str("has: takes reply"),
                date_operator => write!(formatter, "{date_operator}: wants a date as YYYY-MM-DD"),
            },
            QueryError::RepeatedOperator { operator } => {
                write!(formatter, "{operator}: is given twice with different values")
            }
        }
    }
}

impl std::error::Error for QueryError {}

/// Parses what a user typed into the search box.
///
/// Items are separated by white space: `"an exact phrase"` (an unclosed quote runs to the end),
/// `from:NAME`, `in:NAME` (a quoted value may follow the colon: `in:"team chat"`),
/// `before:YYYY-MM-DD`, `after:YYYY-MM-DD`, `has:reply` (operator names in any case), and plain
/// words. Punctuation around a word is dropped, and so is a word of punctuation only.
pub fn parse(query: &str) -> Result<Query, QueryError> {
    if query.chars().count() > MAX_QUERY_CHARS {
        return Err(QueryError::TooLong);
    }
    let mut parsed = Query::default();
    let mut has_operator = false;
    for item in split_items(query) {
        match item {
            Item::Phrase(raw) => parsed.add_term(normalize(raw).trim())?,
            Item::Word(raw) => {
                let normalized = normalize(raw);
                parsed.add_term(normalized.trim_matches(|c: char| !super::text::is_word_char(c)))?;
            }
            Item::Operator(operator, value) => {
                has_operator = true;
                parsed.apply_operator(operator, value.trim())?;
            }
        }
    }
    if parsed.terms.is_empty() && !has_operator {
        return Err(QueryError::Empty);
    }
    Ok(parsed)
}

impl Query {
    /// Whether `content` (a message's text as written) matches every text term of the query; the
    /// operators are not looked at. This is the reference the store implementations must agree with.
    pub fn matches(&self, content: &str) -> bool {
        if self.terms.is_empty() {
            return true;
        }
        let normalized = normalize(content);
        let message_words: HashSet<&str> = word_spans(&normalized).into_iter().map(|span| &normalized[span]).collect();
        self.terms.iter().all(|term| term.is_found_in(&normalized, &message_words))
    }

    /// The instants `after:` and `before:` stand for, as `(earliest, end)`: a message qualifies
    /// when it was sent at or after `earliest` (the start of the day after the `after:` date, UTC)
    /// and strictly before `end` (the start of the `before:` date, UTC).
    pub fn sent_between(&self) -> (Option<DateTime<Utc>>, Option<DateTime<Utc>>) {
        let start_of = |day: NaiveDate| day.and_hms_opt(0, 0, 0).map(|midnight| midnight.and_utc());
        let earliest = self.after.and_then(|day| day.succ_opt()).and_then(start_of);
        let end = self.before.and_then(start_of);
        (earliest, end)
    }

    /// Adds a term from its normalized text, unless it is empty or already there.
    fn add_term(&mut self, text: &str) -> Result<(), QueryError> {
        if text.is_empty() || self.terms.iter().any(|term| term.text == text) {
            return Ok(());
        }
        if self.terms.len() >= MAX_TERMS {
            return Err(QueryError::TooManyTerms);
        }
        self.terms.push(Term::from_normalized(text));
        Ok(())
    }

    /// Records an operator and its (trimmed) value.
    fn apply_operator(&mut self, operator: Operator, value: &str) -> Result<(), QueryError> {
        let name = operator.name();
        let bad_value = QueryError::BadOperatorValue { operator: name };
        match operator {
            Operator::From | Operator::In => {
                let sigil = if operator == Operator::From { '@' } else { '#' };
                let value = value.strip_prefix(sigil).unwrap_or(value).to_lowercase();
                if value.is_empty() {
                    return Err(bad_value);
                }
                let slot = if operator == Operator::From { &mut self.from } else { &mut self.in_room };
                set_once(slot, value, name)
            }
            Operator::Before | Operator::After => {
                let day = parse_day(value).ok_or(bad_value)?;
                let slot = if operator == Operator::Before { &mut self.before } else { &mut self.after };
                set_once(slot, day, name)
            }
            Operator::Has => {
                if !value.eq_ignore_ascii_case("reply") {
                    return Err(bad_value);
                }
                self.has_reply = true;
                Ok(())
            }
        }
    }
}

impl Term {
    /// The term for a normalized, trimmed, non-empty text.
    fn from_normalized(text: &str) -> Term {
        let kind = if text.chars().count() >= MIN_SUBSTRING_CHARS { TermKind::Substring } else { TermKind::Words };
        let tokens = words(text).split(' ').filter(|token| !token.is_empty()).map(str::to_owned).collect();
        Term { text: text.to_owned(), tokens, kind }
    }

    /// Whether this term matches a message, given its normalized text and the set of its words.
    fn is_found_in(&self, normalized: &str, message_words: &HashSet<&str>) -> bool {
        let words_present = match self.kind {
            TermKind::Substring => true,
            TermKind::Words => self.tokens.iter().all(|token| message_words.contains(token.as_str())),
        };
        words_present && normalized.contains(&self.text)
    }
}

/// `text` as one SQLite FTS5 string (a phrase): in double quotes, inner double quotes doubled.
pub fn fts5_phrase(text: &str) -> String {
    format!("\"{}\"", text.replace('"', "\"\""))
}

/// A PostgreSQL `LIKE` pattern matching any text that contains `text` literally: `%…%`, with
/// `\`, `%` and `_` escaped by a backslash (the default `LIKE` escape character).
pub fn like_contains(text: &str) -> String {
    let mut pattern = String::with_capacity(text.len() + 2);
    pattern.push('%');
    for character in text.chars() {
        if matches!(character, '\\' | '%' | '_') {
            pattern.push('\\');
        }
        pattern.push(character);
    }
    pattern.push('%');
    pattern
}

/// The operators of the query language.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Operator {
    From,
    In,
    Before,
    After,
    Has,
}

impl Operator {
    /// The operator a name (before the colon, any case) stands for, if any.
    fn from_name(name: &str) -> Option<Operator> {
        [Operator::From, Operator::In, Operator::Before, Operator::After, Operator::Has]
            .into_iter()
            .find(|operator| operator.name().eq_ignore_ascii_case(name))
    }

    /// The operator's name, without the colon.
    fn name(self) -> &'static str {
        match self {
            Operator::From => "from",
            Operator::In => "in",
            Operator::Before => "before",
            Operator::After => "after",
            Operator::Has => "has",
        }
    }
}

/// One item of a query, as written (not normalized yet).
#[derive(Debug, PartialEq, Eq)]
enum Item<'query> {
    Phrase(&'query str),
    Word(&'query str),
    Operator(Operator, &'query str),
}

/// Splits a query into its items. A double quote starts a phrase even inside a word (`ab"c d"` is
/// the word `ab` and the phrase `c d`), except right after an operator's colon, where it quotes the
/// operator's value.
fn split_items(query: &str) -> Vec<Item<'_>> {
    let mut items = Vec::new();
    let mut rest = query;
    loop {
        rest = rest.trim_start();
        if rest.is_empty() {
            return items;
        }
        if let Some(after_quote) = rest.strip_prefix('"') {
            let (inside, remaining) = split_at_closing_quote(after_quote);
            items.push(Item::Phrase(inside));
            rest = remaining;
            continue;
        }
        let end = rest.find(|c: char| c.is_whitespace() || c == '"').unwrap_or(rest.len());
        let (bare, remaining) = rest.split_at(end);
        rest = remaining;
        let operator = bare.split_once(':').and_then(|(name, value)| Some((Operator::from_name(name)?, value)));
        match operator {
            Some((operator, "")) if rest.starts_with('"') => {
                let (inside, remaining) = split_at_closing_quote(&rest[1..]);
                items.push(Item::Operator(operator, inside));
                rest = remaining;
            }
            Some((operator, value)) => items.push(Item::Operator(operator, value)),
            None => items.push(Item::Word(bare)),
        }
    }
}

/// Splits text that follows an opening quote into what is inside the quotes and what follows the
/// closing quote; without a closing quote, everything is inside.
fn split_at_closing_quote(after_quote: &str) -> (&str, &str) {
    match after_quote.split_once('"') {
        Some((inside, remaining)) => (inside, remaining),
        None => (after_quote, ""),
    }
}

/// A day written exactly as `YYYY-MM-DD`, if it exists.
fn parse_day(value: &str) -> Option<NaiveDate> {
    let bytes = value.as_bytes();
    let well_formed = bytes.len() == 10
        && bytes.iter().enumerate().all(|(index, &byte)| match index {
            4 | 7 => byte == b'-',
            _ => byte.is_ascii_digit(),
        });
    if !well_formed {
        return None;
    }
    let year = value[0..4].parse().ok()?;
    let month = value[5..7].parse().ok()?;
    let day = value[8..10].parse().ok()?;
    NaiveDate::from_ymd_opt(year, month, day)
}

/// Stores an operator's value, refusing a second, different one.
fn set_once<T: PartialEq>(slot: &mut Option<T>, value: T, operator: &'static str) -> Result<(), QueryError> {
    match slot {
        Some(existing) if *existing != value => Err(QueryError::RepeatedOperator { operator }),
        _ => {
            *slot = Some(value);
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn term_texts(query: &Query) -> Vec<&str> {
        query.terms.iter().map(|term| term.text.as_str()).collect()
    }

    fn day(year: i32, month: u32, day: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(year, month, day).unwrap()
    }

    #[test]
    fn parse_words_are_normalized_and_trimmed() {
        let query = parse("Hello, Wörld! ...  --- (ok)").unwrap();
        assert_eq!(term_texts(&query), ["hello", "world", "ok"]);
        assert_eq!(query.terms[0].kind, TermKind::Substring);
        assert_eq!(query.terms[2].kind, TermKind::Words);
        assert_eq!(query.terms[2].tokens, ["ok"]);
        assert_eq!(parse("東京").unwrap().terms[0].tokens, ["東", "京"]);
        assert_eq!(term_texts(&parse("don't").unwrap()), ["don't"]);
    }

    #[test]
    fn parse_phrases() {
        let query = parse(r#"say "  Exact   Phrase, here " now"#).unwrap();
        assert_eq!(term_texts(&query), ["say", "exact phrase, here", "now"]);
        assert_eq!(term_texts(&parse(r#"a"b c"d"#).unwrap()), ["a", "b c", "d"]);
        assert_eq!(term_texts(&parse(r#""unclosed phrase  runs on"#).unwrap()), ["unclosed phrase runs on"]);
        assert_eq!(term_texts(&parse(r#"x """#).unwrap()), ["x"]);
        assert_eq!(term_texts(&parse(r#"":)""#).unwrap()), [":)"]);
    }

    #[test]
    fn parse_operators() {
        let query = parse("FROM:@Alice In:#General before:2024-03-01 AFTER:2023-12-31 has:Reply").unwrap();
        assert!(query.terms.is_empty());
        assert_eq!(query.from.as_deref(), Some("alice"));
        assert_eq!(query.in_room.as_deref(), Some("general"));
        assert_eq!(query.before, Some(day(2024, 3, 1)));
        assert_eq!(query.after, Some(day(2023, 12, 31)));
        assert!(query.has_reply);
        let quoted = parse(r#"in:"Team Chat" lunch"#).unwrap();
        assert_eq!(quoted.in_room.as_deref(), Some("team chat"));
        assert_eq!(term_texts(&quoted), ["lunch"]);
        assert_eq!(term_texts(&parse("http://example.com").unwrap()), ["http://example.com"]);
    }

    #[test]
    fn sent_between_excludes_the_named_days() {
        let query = parse("after:2024-02-28 before:2024-03-02").unwrap();
        let (earliest, end) = query.sent_between();
        assert_eq!(earliest.unwrap().to_rfc3339(), "2024-02-29T00:00:00+00:00");
        assert_eq!(end.unwrap().to_rfc3339(), "2024-03-02T00:00:00+00:00");
        assert_eq!(parse("x").unwrap().sent_between(), (None, None));
    }

    #[test]
    fn parse_errors() {
        let bad = |operator| Err(QueryError::BadOperatorValue { operator });
        assert_eq!(parse(""), Err(QueryError::Empty));
        assert_eq!(parse("  !!! ... "), Err(QueryError::Empty));
        assert_eq!(parse(r#""   ""#), Err(QueryError::Empty));
        assert_eq!(parse("from:"), bad("from"));
        assert_eq!(parse("from:@ x"), bad("from"));
        assert_eq!(parse("in:"), bad("in"));
        assert_eq!(parse("before:2024-02-30"), bad("before"));
        assert_eq!(parse("after:2024-1-5"), bad("after"));
        assert_eq!(parse("before:yesterday"), bad("before"));
        assert_eq!(parse("has:link"), bad("has"));
        assert_eq!(parse("has:"), bad("has"));
        assert_eq!(parse("from:a from:b"), Err(QueryError::RepeatedOperator { operator: "from" }));
        assert!(parse("from:a FROM:A").is_ok());
        assert_eq!(parse("before:x").unwrap_err().to_string(), "before: wants a date as YYYY-MM-DD");
        assert_eq!(parse("has:x").unwrap_err().to_string(), "has: takes reply");
        assert_eq!(parse("").unwrap_err().to_string(), "the query is empty");
    }

    #[test]
    fn parse_limits() {
        assert!(parse(&"é".repeat(MAX_QUERY_CHARS)).is_ok());
        assert_eq!(parse(&"é".repeat(MAX_QUERY_CHARS + 1)), Err(QueryError::TooLong));
        assert_eq!(
            parse(&"x".repeat(MAX_QUERY_CHARS + 1)).unwrap_err().to_string(),
            "the query is longer than 256 characters"
        );
        let sixteen: Vec<String> = (0..MAX_TERMS).map(|index| format!("w{index}")).collect();
        assert_eq!(parse(&sixteen.join(" ")).unwrap().terms.len(), MAX_TERMS);
        let seventeen = format!("{} extra", sixteen.join(" "));
        assert_eq!(parse(&seventeen), Err(QueryError::TooManyTerms));
        assert_eq!(parse(&seventeen).unwrap_err().to_string(), "at most 16 words and phrases");
        let repeated = format!("{} w0 W0 \"w1\"", sixteen.join(" "));
        assert_eq!(parse(&repeated).unwrap().terms.len(), MAX_TERMS);
    }

    #[test]
    fn parse_keeps_duplicates_once() {
        assert_eq!(term_texts(&parse(r#"Café cafe CAFÉ, "cafe" tea"#).unwrap()), ["cafe", "tea"]);
    }

    #[test]
    fn matches_partial_words_from_three_chars() {
        let query = parse("goo").unwrap();
        assert!(query.matches("This is GOOD news"));
        assert!(!query.matches("go go"));
        assert!(parse("odn").unwrap().matches("goodness"));
    }

    #[test]
    fn matches_short_words_whole_only() {
        let query = parse("go").unwrap();
        assert!(query.matches("let's go!"));
        assert!(query.matches("Go, team"));
        assert!(!query.matches("good"));
        assert!(!query.matches("ago"));
        assert!(parse("a").unwrap().matches("plan A"));
        assert!(!parse("a").unwrap().matches("plan B"));
    }

    #[test]
    fn matches_cjk_chars_as_words() {
        assert!(parse("東京").unwrap().matches("明日は東京都に行く"));
        assert!(!parse("東京").unwrap().matches("京東"));
        assert!(parse("京").unwrap().matches("東京都"));
        assert!(parse("서울").unwrap().matches("서울시청"));
        assert!(!parse("か").unwrap().matches("がっこう"));
    }

    #[test]
    fn matches_folds_accents_and_case_on_both_sides() {
        assert!(parse("cafe").unwrap().matches("Un CAFÉ noir"));
        assert!(parse("CAFÉ").unwrap().matches("un cafe noir"));
        assert!(parse("cafe").unwrap().matches("cafe\u{301}"));
        assert!(parse("ＡＢＣ").unwrap().matches("abc"));
        assert!(parse("STRASSE").unwrap().matches("strasse"));
        assert!(!parse("straße").unwrap().matches("STRASSE"));
    }

    #[test]
    fn matches_phrases_across_spaces() {
        let query = parse(r#""good  morning""#).unwrap();
        assert!(query.matches("Good morning, all"));
        assert!(query.matches("good\n  morning"));
        assert!(!query.matches("good, morning"));
        assert!(!query.matches("morning good"));
    }

    #[test]
    fn matches_needs_every_term() {
        let query = parse("lunch go").unwrap();
        assert!(query.matches("Lunch? Let's go"));
        assert!(!query.matches("lunch is good"));
        assert!(parse("from:bob").unwrap().matches("anything"));
    }

    #[test]
    fn fts5_phrase_doubles_quotes() {
        assert_eq!(fts5_phrase("abc"), "\"abc\"");
        assert_eq!(fts5_phrase("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(fts5_phrase(""), "\"\"");
    }

    #[test]
    fn like_contains_escapes_wildcards() {
        assert_eq!(like_contains("abc"), "%abc%");
        assert_eq!(like_contains(r"50%_a\b"), r"%50\%\_a\\b%");
    }
}
