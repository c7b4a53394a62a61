//! Data-file corpora: every line of `data/evasions.txt` must be flagged by the
//! default list, and no line of `data/clean.txt` may be.
//!
//! Lines starting with `#` and blank lines are skipped; `\u{XXXX}` escapes are
//! replaced by the character they name, so invisible characters stay visible
//! in the files.

mod common;

use common::unescape;
use moderation::{normalize, Filter};

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
