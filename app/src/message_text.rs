//! Pure text logic of the message actions, shared by the views and the browser client and
//! tested here: a search result's `highlight` split into text and marks (never parsed as HTML),
//! a message's text split around the `@name` mentions it carries, the `@` completion (what is
//! being completed at the caret, which members match, the text after picking one) and
//! truncating text to a number of characters.

/// A piece of a search result's highlight: plain text, or a match to show in a `<mark>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HighlightPart {
    Text(String),
    Mark(String),
}

const MARK_OPEN: &str = "<mark>";
const MARK_CLOSE: &str = "</mark>";

/// Splits a `highlight` (HTML-escaped text, matches in `<mark>`…`</mark>`) into text and marks,
/// each un-escaped: the page builds text nodes and `<mark>` elements from them, never HTML. An
/// unclosed mark runs to the end; empty pieces are dropped.
pub fn split_highlight(highlight: &str) -> Vec<HighlightPart> {
    let mut parts = Vec::new();
    let mut rest = highlight;
    while !rest.is_empty() {
        let Some(open) = rest.find(MARK_OPEN) else {
            push_part(&mut parts, HighlightPart::Text(unescape_html(rest)));
            break;
        };
        push_part(&mut parts, HighlightPart::Text(unescape_html(&rest[..open])));
        let inside = &rest[open + MARK_OPEN.len()..];
        let (marked, after) = match inside.find(MARK_CLOSE) {
            Some(close) => (&inside[..close], &inside[close + MARK_CLOSE.len()..]),
            None => (inside, ""),
        };
        push_part(&mut parts, HighlightPart::Mark(unescape_html(marked)));
        rest = after;
    }
    parts
}

fn push_part(parts: &mut Vec<HighlightPart>, part: HighlightPart) {
    let empty = match &part {
        HighlightPart::Text(text) | HighlightPart::Mark(text) => text.is_empty(),
    };
    if !empty {
        parts.push(part);
    }
}

/// Undoes the server's escaping of `&`, `<`, `>`, `"` and `'` (anything else is left as it is,
/// so `&amp;lt;` becomes `&lt;`, the text the sender wrote).
pub fn unescape_html(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find('&') {
        out.push_str(&rest[..at]);
        rest = &rest[at..];
        let entity = [("&amp;", '&'), ("&lt;", '<'), ("&gt;", '>'), ("&quot;", '"'), ("&#39;", '\'')]
            .into_iter()
            .find(|(name, _)| rest.starts_with(name));
        match entity {
            Some((name, character)) => {
                out.push(character);
                rest = &rest[name.len()..];
            }
            None => {
                out.push('&');
                rest = &rest[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

/// A piece of a message's text: plain, or an `@name` of a member it mentions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TextPart {
    pub text: String,
    pub mention: bool,
}

/// Whether a byte can be part of a username (`[A-Za-z0-9_.-]`).
fn is_username_byte(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || matches!(byte, b'_' | b'.' | b'-')
}

/// Splits a message's text around the `@name`s of the usernames it mentions (case-insensitive,
/// whole names only: `@al` is not `@alice`; a sentence's full stop after a name is not part of
/// it). Without mentions the text is one plain part.
pub fn mention_parts(content: &str, mentions: &[String]) -> Vec<TextPart> {
    let mut names: Vec<&str> = mentions.iter().map(String::as_str).filter(|n| !n.is_empty()).collect();
    // The longest first, so `@anna.b` wins over `@anna`.
    names.sort_by_key(|name| std::cmp::Reverse(name.len()));
    let bytes = content.as_bytes();
    let mut parts = Vec::new();
    let (mut plain_from, mut at) = (0, 0);
    while at < bytes.len() {
        let starts_word = at == 0 || !is_username_byte(bytes[at - 1]);
        let found = (bytes[at] == b'@' && starts_word)
            .then(|| names.iter().find(|name| mention_at(bytes, at + 1, name)))
            .flatten();
        match found {
            Some(name) => {
                if plain_from < at {
                    parts.push(TextPart { text: content[plain_from..at].to_owned(), mention: false });
                }
                let end = at + 1 + name.len();
                parts.push(TextPart { text: content[at..end].to_owned(), mention: true });
                (plain_from, at) = (end, end);
            }
            None => at += 1,
        }
    }
    if plain_from < bytes.len() {
        parts.push(TextPart { text: content[plain_from..].to_owned(), mention: false });
    }
    parts
}

/// Whether `name` is written at `from` as a whole username.
fn mention_at(bytes: &[u8], from: usize, name: &str) -> bool {
    let end = from + name.len();
    if end > bytes.len() || !bytes[from..end].eq_ignore_ascii_case(name.as_bytes()) {
        return false;
    }
    match bytes.get(end) {
        None => true,
        // `@alice.` ends a sentence; `@alice.b` is someone else.
        Some(b'.') => bytes.get(end + 1).is_none_or(|next| !is_username_byte(*next)),
        Some(next) => !is_username_byte(*next),
    }
}

/// An `@name` being typed at the caret: where its `@` is (a byte offset) and what follows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MentionQuery {
    pub at: usize,
    pub prefix: String,
}

/// The `@name` being typed just before `caret` (a byte offset into `text`), if any: an `@` at
/// the start or after a space or punctuation, followed by at least one username character.
pub fn mention_query(text: &str, caret: usize) -> Option<MentionQuery> {
    let before = text.get(..caret)?;
    let at = before.rfind('@')?;
    let prefix = &before[at + 1..];
    let starts_word = at == 0 || !is_username_byte(before.as_bytes()[at - 1]);
    let is_name = !prefix.is_empty() && prefix.bytes().all(is_username_byte);
    (starts_word && is_name).then(|| MentionQuery { at, prefix: prefix.to_owned() })
}

/// Most names the completion list offers.
pub const COMPLETION_MAX: usize = 8;

/// The members whose username starts with `prefix` (case-insensitive), me left out, by name, at
/// most [`COMPLETION_MAX`].
pub fn matching_members(members: &[String], prefix: &str, me: &str) -> Vec<String> {
    let prefix = prefix.to_ascii_lowercase();
    let mut found: Vec<String> = members
        .iter()
        .filter(|name| !name.eq_ignore_ascii_case(me) && name.to_ascii_lowercase().starts_with(&prefix))
        .cloned()
        .collect();
    found.sort_by_key(|name| name.to_ascii_lowercase());
    found.dedup();
    found.truncate(COMPLETION_MAX);
    found
}

/// The text after picking `name` for `query` (the `@prefix` before `caret` becomes `@name `),
/// and the caret's new byte offset.
pub fn complete_mention(text: &str, query: &MentionQuery, caret: usize, name: &str) -> (String, usize) {
    let caret = caret.min(text.len());
    let before = &text[..query.at];
    let after = text[caret..].trim_start_matches(' ');
    let completed = format!("{before}@{name} ");
    let new_caret = completed.len();
    (format!("{completed}{after}"), new_caret)
}

/// The byte offset of a caret given in UTF-16 code units (what a textarea's `selectionStart`
/// counts), clamped to the text.
pub fn byte_offset_of_utf16(text: &str, units: usize) -> usize {
    let mut counted = 0;
    for (offset, character) in text.char_indices() {
        if counted >= units {
            return offset;
        }
        counted += character.len_utf16();
    }
    text.len()
}

/// The UTF-16 length of `text[..byte_offset]` (to put a textarea's caret there).
pub fn utf16_len(text: &str) -> usize {
    text.chars().map(char::len_utf16).sum()
}

/// `text` cut to at most `max` characters, an ellipsis last when it was cut.
pub fn truncate_chars(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_owned();
    }
    let mut cut: String = text.chars().take(max.saturating_sub(1)).collect();
    cut.push('…');
    cut
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(s: &str) -> HighlightPart {
        HighlightPart::Text(s.into())
    }
    fn mark(s: &str) -> HighlightPart {
        HighlightPart::Mark(s.into())
    }

    #[test]
    fn a_highlight_splits_into_text_and_marks_unescaped_never_html() {
        assert_eq!(
            split_highlight("say <mark>hello</mark> &amp; <mark>hi</mark>!"),
            vec![text("say "), mark("hello"), text(" & "), mark("hi"), text("!")]
        );
        // What the sender typed as markup stays text.
        assert_eq!(
            split_highlight("&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; <mark>it&#39;s</mark>"),
            vec![text("<script>alert(\"x\")</script> "), mark("it's")]
        );
        assert_eq!(split_highlight("&amp;lt; &nbsp; & alone"), vec![text("&lt; &nbsp; & alone")]);
        assert_eq!(split_highlight("<mark>open to the end"), vec![mark("open to the end")]);
        assert_eq!(split_highlight("<mark></mark>"), vec![]);
        assert_eq!(split_highlight(""), vec![]);
        assert_eq!(split_highlight("東京<mark>都</mark>"), vec![text("東京"), mark("都")]);
    }

    fn plain(s: &str) -> TextPart {
        TextPart { text: s.into(), mention: false }
    }
    fn at(s: &str) -> TextPart {
        TextPart { text: s.into(), mention: true }
    }

    #[test]
    fn mentions_are_split_out_by_whole_name() {
        let mentions = vec!["alice".to_owned(), "anna.b".to_owned()];
        assert_eq!(
            mention_parts("hi @Alice and @anna.b.", &mentions),
            vec![plain("hi "), at("@Alice"), plain(" and "), at("@anna.b"), plain(".")]
        );
        assert_eq!(mention_parts("@alicex mail@alice @al", &mentions), vec![plain("@alicex mail@alice @al")]);
        assert_eq!(mention_parts("@alice", &mentions), vec![at("@alice")]);
        assert_eq!(mention_parts("no one", &[]), vec![plain("no one")]);
        assert_eq!(mention_parts("", &mentions), vec![]);
        assert_eq!(mention_parts("é @alice, ok", &mentions), vec![plain("é "), at("@alice"), plain(", ok")]);
    }

    #[test]
    fn the_completion_finds_what_is_typed_at_the_caret() {
        assert_eq!(mention_query("hi @al", 6), Some(MentionQuery { at: 3, prefix: "al".into() }));
        assert_eq!(mention_query("@b", 2), Some(MentionQuery { at: 0, prefix: "b".into() }));
        assert_eq!(mention_query("hi @", 4), None, "nothing typed after @ yet");
        assert_eq!(mention_query("mail@al", 7), None, "an address, not a mention");
        assert_eq!(mention_query("@al bob", 7), None, "the caret left the name");
        assert_eq!(mention_query("(@al", 4), Some(MentionQuery { at: 1, prefix: "al".into() }));
        assert_eq!(mention_query("é", 1), None, "not a character boundary");
    }

    #[test]
    fn completion_lists_matching_members_but_me() {
        let members: Vec<String> = ["Bob", "alice", "Albert", "me_too", "al"].map(String::from).to_vec();
        assert_eq!(matching_members(&members, "AL", "me_too"), vec!["al", "Albert", "alice"]);
        assert_eq!(matching_members(&members, "me", "me_too"), Vec::<String>::new());
        let many: Vec<String> = (0..20).map(|i| format!("user{i:02}")).collect();
        assert_eq!(matching_members(&many, "user", "x").len(), COMPLETION_MAX);
    }

    #[test]
    fn picking_a_name_completes_it_and_moves_the_caret() {
        let query = mention_query("hi @al how", 6).unwrap();
        let (text, caret) = complete_mention("hi @al how", &query, 6, "alice");
        assert_eq!(text, "hi @alice how");
        assert_eq!(caret, "hi @alice ".len());
        let query = mention_query("@b", 2).unwrap();
        assert_eq!(complete_mention("@b", &query, 2, "bob"), ("@bob ".to_owned(), 5));
    }

    #[test]
    fn carets_convert_between_utf16_and_bytes() {
        let text = "😀é@al";
        assert_eq!(byte_offset_of_utf16(text, 0), 0);
        assert_eq!(byte_offset_of_utf16(text, 2), 4, "an emoji is two UTF-16 units");
        assert_eq!(byte_offset_of_utf16(text, 3), 6);
        assert_eq!(byte_offset_of_utf16(text, 99), text.len());
        assert_eq!(utf16_len(text), 6);
    }

    #[test]
    fn truncation_counts_characters() {
        assert_eq!(truncate_chars("short", 10), "short");
        assert_eq!(truncate_chars("abcdef", 4), "abc…");
        assert_eq!(truncate_chars(&"é".repeat(120), 100).chars().count(), 100);
    }
}
