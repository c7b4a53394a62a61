//! `moderation::normalize` and `Filter::check` must be total (no panic) on any input,
//! with the default list and with a list parsed from the input itself.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use moderation::{normalize, Filter, WordList};

fn default_filter() -> &'static Filter {
    static FILTER: OnceLock<Filter> = OnceLock::new();
    FILTER.get_or_init(Filter::default)
}

fn exercise(filter: &Filter, text: &str) {
    let normalized = normalize(text);
    // Documented shape: words separated by single spaces, nothing at either end.
    assert!(
        !normalized.contains("  ") && !normalized.starts_with(' ') && !normalized.ends_with(' '),
        "normalize({text:?}) = {normalized:?}"
    );
    // The output is text too: feed it back.
    let _ = normalize(&normalized);
    let _ = filter.check(text);
    let _ = filter.check(&normalized);
}

fuzz_target!(|data: &[u8]| {
    // Valid UTF-8 as the `&str` itself, anything else as lossy UTF-8 (U+FFFD replacements).
    match std::str::from_utf8(data) {
        Ok(text) => exercise(default_filter(), text),
        Err(_) => exercise(default_filter(), &String::from_utf8_lossy(data)),
    }

    // Split at the first NUL: before it a word list, after it a message.
    if let Some(split) = data.iter().position(|&b| b == 0) {
        let list = WordList::parse(&String::from_utf8_lossy(&data[..split]));
        let _ = list.rules().count();
        let filter = Filter::new(&list);
        exercise(&filter, &String::from_utf8_lossy(&data[split + 1..]));
    }
});
