//! Data-file corpora: every line of `data/evasions.txt` must be flagged by the
//! default list, and no line of `data/clean.txt` may be.
//!
//! Lines starting with `#` and blank lines are skipped; `\u{XXXX}` escapes are
//! replaced by the character they name, so invisible characters stay visible
//! in the files.

use moderation::{normalize, Filter};

/// Replaces `\u{XXXX}` escapes; anything malformed is kept as written.
fn unescape(line: &str) -> String {
    let mut out = String::new();
    let mut rest = line;
    while let Some(pos) = rest.find("\\u{") {
        out.push_str(&rest[..pos]);
        let after = &rest[pos + 3..];
        let decoded = after.find('}').and_then(|end| {
            let c = u32::from_str_radix(&after[..end], 16).ok().and_then(char::from_u32)?;
            Some((c, end))
        });
        match decoded {
            Some((c, end)) => {
                out.push(c);
                rest = &after[end + 1..];
            }
            None => {
                out.push_str("\\u{");
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

fn corpus(text: &str) -> Vec<String> {
    text.lines().filter(|l| !l.trim().is_empty() && !l.starts_with('#')).map(unescape).collect()
}

#[test]
fn unescape_works() {
    assert_eq!(unescape("f\\u{200B}u"), "f\u{200B}u");
    assert_eq!(unescape("\\u{41}\\u{1F600}"), "A😀");
    assert_eq!(unescape("bad \\u{zz} \\u{"), "bad \\u{zz} \\u{");
}

#[test]
fn evasions_are_flagged() {
    let filter = Filter::default();
    let lines = corpus(include_str!("data/evasions.txt"));
    assert!(lines.len() >= 60, "only {} lines", lines.len());
    let missed: Vec<String> = lines
        .iter()
        .filter(|line| filter.check(line).is_none())
        .map(|line| format!("{line:?} (normalized: {:?})", normalize(line)))
        .collect();
    assert!(missed.is_empty(), "{} of {} evasions not flagged:\n{}", missed.len(), lines.len(), missed.join("\n"));
}

#[test]
fn clean_messages_pass() {
    let filter = Filter::default();
    let lines = corpus(include_str!("data/clean.txt"));
    assert!(lines.len() >= 80, "only {} lines", lines.len());
    let flagged: Vec<String> = lines
        .iter()
        .filter_map(|line| {
            let v = filter.check(line)?;
            Some(format!("{line:?} flagged as {:?} (normalized: {:?})", v.rule, normalize(line)))
        })
        .collect();
    assert!(flagged.is_empty(), "{} of {} clean lines flagged:\n{}", flagged.len(), lines.len(), flagged.join("\n"));
}
