//! Search result excerpts: the part of a message around its first match, HTML-escaped, with every
//! match shown in `<mark>`…`</mark>` on the text as written (accents, case and all).

use super::query::{Term, TermKind};
use super::text::{normalize_mapped, word_spans};
use std::ops::Range;
use unicode_normalization::char::is_combining_mark;

/// An excerpt of `content` with the matches of `terms` marked, ready to put in HTML.
///
/// Matches are found in the normalized text (a [`TermKind::Words`] term where it does not cut a
/// word, when it can) and mapped back to the characters of `content` they came from; overlapping
/// or touching matches are merged. The excerpt starts at most `context_chars` characters before the
/// first match and holds at most `2 × context_chars` characters besides that match, with "…" where
/// it cuts the text. Without terms, or without a match, it is the start of the text. Everything is
/// HTML-escaped (`& < > " '`).
pub fn highlight(content: &str, terms: &[Term], context_chars: usize) -> String {
    let original: Vec<char> = content.chars().collect();
    let marks = match_ranges(content, &original, terms);
    let focus = marks.first().cloned().unwrap_or(0..0);
    let excerpt = excerpt_range(&original, focus, context_chars);
    render(&original, excerpt, &marks)
}

/// The char ranges of `original` (the chars of `content`) that match a term: sorted, disjoint and
/// not touching.
fn match_ranges(content: &str, original: &[char], terms: &[Term]) -> Vec<Range<usize>> {
    let (normalized, origins) = normalize_mapped(content);
    let spans = word_spans(&normalized);
    let mut ranges: Vec<Range<usize>> = Vec::new();
    for term in terms {
        let occurrences = occurrences(&normalized, &term.text);
        let whole_word: Vec<Range<usize>> = match term.kind {
            TermKind::Substring => Vec::new(),
            TermKind::Words => occurrences
                .iter()
                .filter(|occurrence| !cuts_a_word(occurrence.start, &spans) && !cuts_a_word(occurrence.end, &spans))
                .cloned()
                .collect(),
        };
        let chosen = if whole_word.is_empty() { occurrences } else { whole_word };
        for occurrence in chosen {
            let start = origins[occurrence.start];
            let mut end = origins[occurrence.end - 1] + 1;
            // Take along the accents the normalized text dropped after the last matched char.
            while end < original.len() && is_combining_mark(original[end]) {
                end += 1;
            }
            ranges.push(start..end);
        }
    }
    merge(ranges)
}

/// Every occurrence of `needle` in `haystack`, overlapping ones included, as byte ranges.
fn occurrences(haystack: &str, needle: &str) -> Vec<Range<usize>> {
    let mut found = Vec::new();
    if needle.is_empty() {
        return found;
    }
    let mut from = 0;
    while let Some(position) = haystack[from..].find(needle) {
        let start = from + position;
        found.push(start..start + needle.len());
        from = start + haystack[start..].chars().next().map_or(1, char::len_utf8);
    }
    found
}

/// Whether byte `position` falls strictly inside one of the word `spans` (sorted).
fn cuts_a_word(position: usize, spans: &[Range<usize>]) -> bool {
    let spans_starting_before = spans.partition_point(|span| span.start < position);
    spans_starting_before > 0 && spans[spans_starting_before - 1].end > position
}

/// Sorts ranges and merges those that overlap or touch.
fn merge(mut ranges: Vec<Range<usize>>) -> Vec<Range<usize>> {
    ranges.sort_by_key(|range| (range.start, range.end));
    let mut merged: Vec<Range<usize>> = Vec::with_capacity(ranges.len());
    for range in ranges {
        match merged.last_mut() {
            Some(last) if range.start <= last.end => last.end = last.end.max(range.end),
            _ => merged.push(range),
        }
    }
    merged
}

/// The char range of the excerpt around `focus` (the first match, or `0..0`): at most
/// `context_chars` before it and `2 × context_chars` around it in all, widened so no combining mark
/// is cut from its letter, and without white space next to a cut.
fn excerpt_range(original: &[char], focus: Range<usize>, context_chars: usize) -> Range<usize> {
    let length = original.len();
    let mut start = focus.start - context_chars.min(focus.start);
    let budget = context_chars.saturating_mul(2).saturating_add(focus.end - focus.start);
    let mut end = start.saturating_add(budget).min(length);
    while start > 0 && is_combining_mark(original[start]) {
        start -= 1;
    }
    while end < length && is_combining_mark(original[end]) {
        end += 1;
    }
    if start > 0 {
        while start < focus.start && original[start].is_whitespace() {
            start += 1;
        }
    }
    if end < length {
        while end > focus.end && original[end - 1].is_whitespace() {
            end -= 1;
        }
    }
    start..end
}

/// The HTML of the `excerpt` chars of `original`, with the `marks` that fall in it marked and "…"
/// at either end where the text goes on.
fn render(original: &[char], excerpt: Range<usize>, marks: &[Range<usize>]) -> String {
    let visible_marks: Vec<Range<usize>> = marks
        .iter()
        .map(|mark| mark.start.max(excerpt.start)..mark.end.min(excerpt.end))
        .filter(|mark| mark.start < mark.end)
        .collect();
    let mut html = String::with_capacity((excerpt.end - excerpt.start) * 2 + visible_marks.len() * 13 + 8);
    if excerpt.start > 0 {
        html.push('…');
    }
    let mut next_mark = 0;
    for index in excerpt.clone() {
        let mark = visible_marks.get(next_mark);
        if mark.is_some_and(|mark| mark.start == index) {
            html.push_str("<mark>");
        }
        push_escaped(&mut html, original[index]);
        if mark.is_some_and(|mark| mark.end == index + 1) {
            html.push_str("</mark>");
            next_mark += 1;
        }
    }
    if excerpt.end < original.len() {
        html.push('…');
    }
    html
}

/// Appends `character` to `html`, escaped for HTML text and attribute values.
fn push_escaped(html: &mut String, character: char) {
    match character {
        '&' => html.push_str("&amp;"),
        '<' => html.push_str("&lt;"),
        '>' => html.push_str("&gt;"),
        '"' => html.push_str("&quot;"),
        '\'' => html.push_str("&#39;"),
        other => html.push(other),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::search::query::parse;

    fn highlight_query(content: &str, query: &str, context_chars: usize) -> String {
        highlight(content, &parse(query).unwrap().terms, context_chars)
    }

    #[test]
    fn escapes_html() {
        assert_eq!(
            highlight_query(r#"<script>alert("x" & 'y')</script>"#, "alert", 100),
            "&lt;script&gt;<mark>alert</mark>(&quot;x&quot; &amp; &#39;y&#39;)&lt;/script&gt;"
        );
        assert_eq!(highlight_query("a <b> c", "from:x", 100), "a &lt;b&gt; c");
    }

    #[test]
    fn marks_the_text_as_written() {
        assert_eq!(highlight_query("Un Café noir", "cafe", 50), "Un <mark>Café</mark> noir");
        assert_eq!(highlight_query("Un Cafe\u{301} noir", "CAFÉ", 50), "Un <mark>Cafe\u{301}</mark> noir");
        assert_eq!(highlight_query("ＡＢＣＤ", "bc", 50), "Ａ<mark>ＢＣ</mark>Ｄ");
        assert_eq!(highlight_query("a ﬁne day", "fin", 50), "a <mark>ﬁn</mark>e day");
        assert_eq!(highlight_query("Straße", "straße", 50), "<mark>Straße</mark>");
    }

    #[test]
    fn marks_every_match_and_merges_overlaps() {
        assert_eq!(highlight_query("go good go", "go", 50), "<mark>go</mark> good <mark>go</mark>");
        assert_eq!(highlight_query("banana", "ana", 50), "b<mark>anana</mark>");
        assert_eq!(highlight_query("abcdef", "abc def", 50), "<mark>abcdef</mark>");
        assert_eq!(highlight_query("東京都に", "東京 都", 50), "<mark>東京都</mark>に");
        assert_eq!(highlight_query("Hello, world", r#""hello, w" world"#, 50), "<mark>Hello, world</mark>");
    }

    #[test]
    fn cuts_an_excerpt_around_the_first_match() {
        let content = "one two three four five six seven eight nine ten";
        assert_eq!(highlight_query(content, "five", 6), "…four <mark>five</mark> six s…");
        assert_eq!(highlight_query(content, "one", 5), "<mark>one</mark> two three…");
        assert_eq!(highlight_query(content, "ten", 5), "…nine <mark>ten</mark>");
        assert_eq!(highlight_query(content, "ten", 0), "…<mark>ten</mark>");
    }

    #[test]
    fn clips_marks_at_the_excerpt_edge() {
        assert_eq!(highlight_query("xxxx abcd yyyyyy abcd", "abcd", 2), "…x <mark>abcd</mark> y…");
        assert_eq!(highlight_query("abcd x abcd", "abcd", 2), "<mark>abcd</mark> x <mark>a</mark>…");
    }

    #[test]
    fn is_safe_with_multi_byte_text() {
        let content = "😀😀😀 日本語のテキスト 😀😀😀 é\u{301}\u{302}x 😀😀😀";
        assert_eq!(highlight_query(content, "テキスト", 2), "…語の<mark>テキスト</mark> 😀…");
        assert_eq!(highlight_query(content, "ex", 1), "…<mark>é\u{301}\u{302}x</mark>…");
    }

    #[test]
    fn falls_back_to_the_start_of_the_text() {
        assert_eq!(highlight_query("nothing to see here", "absent", 4), "nothing…");
        assert_eq!(highlight_query("short", "from:bob", 40), "short");
        assert_eq!(highlight("<&>", &[], 1), "&lt;&amp;…");
        assert_eq!(highlight("", &[], 10), "");
        assert_eq!(highlight("abc", &[], 0), "…");
    }

    #[test]
    fn never_panics() {
        let tricky = [
            "",
            " ",
            "\u{301}",
            "\u{301}\u{301}a\u{301}",
            "ﬁﬁﬁ ﬃ ǅ İİ ß ẞ",
            "é\u{301}e\u{301}",
            "東京都、大阪。がっこう ｶﾞｯｺｳ 한국어",
            "👩‍👩‍👧‍👦 🇫🇷 🏳️‍🌈",
            "\"quoted\" 'single' <tag> &amp;",
            "a\u{0}b\u{7f}\u{200b}c\u{feff}",
            "\n\n\t  \u{3000}",
            "x:y from: in:\"\" before:2024-13-01",
            "\"unclosed",
            "ↈ⅓²³ ﷺ ﷽",
            "\u{10FFFF}\u{E000}\u{D7FF}",
        ];
        for content in tricky {
            for query in tricky {
                let terms = parse(query).map(|parsed| parsed.terms).unwrap_or_default();
                for context in [0, 1, 3, 100] {
                    highlight(content, &terms, context);
                }
                if let Ok(parsed) = parse(query) {
                    parsed.matches(content);
                }
                let _ = parse(&format!("{query} {content}"));
            }
        }
    }
}
