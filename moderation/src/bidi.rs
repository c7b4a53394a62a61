//! Right-to-left override: text after U+202E (RLO) is *displayed* reversed,
//! so "\u{202E}kcuf" looks like "fuck" on screen. The filter checks such
//! messages a second time in display order.

const RLO: char = '\u{202E}';
const PDF: char = '\u{202C}';

/// The message in display order, or `None` when it has no override.
///
/// Each span from an RLO to the next PDF, line break or end of text is
/// reversed. Nested embeddings inside a span are not modelled.
pub(crate) fn visual_order(text: &str) -> Option<String> {
    if !text.contains(RLO) {
        return None;
    }
    let mut out = String::with_capacity(text.len());
    let mut span: Option<Vec<char>> = None;
    for c in text.chars() {
        match (&mut span, c) {
            (None, RLO) => span = Some(Vec::new()),
            (None, _) => out.push(c),
            (Some(s), PDF | '\n' | '\r' | '\u{2029}') => {
                out.extend(s.iter().rev());
                span = None;
                out.push(c);
            }
            (Some(s), _) => s.push(c),
        }
    }
    if let Some(s) = span {
        out.extend(s.iter().rev());
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::visual_order;

    #[test]
    fn no_override_means_no_second_reading() {
        assert_eq!(visual_order("plain text"), None);
    }

    #[test]
    fn override_spans_are_reversed() {
        assert_eq!(visual_order("a \u{202E}kcuf\u{202C} b").as_deref(), Some("a fuck\u{202C} b"));
        assert_eq!(visual_order("\u{202E}olleh").as_deref(), Some("hello"));
        assert_eq!(visual_order("\u{202E}ba\ncd").as_deref(), Some("ab\ncd"));
        assert_eq!(visual_order("\u{202E}").as_deref(), Some(""));
    }
}
