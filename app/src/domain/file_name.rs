//! `FileName`: the name an uploaded file keeps, cleaned of what could hurt where it is shown or
//! sent back (paths, control characters, bidirectional overrides) and bounded in bytes.

use crate::protocol::MAX_FILE_NAME_BYTES;

/// A cleaned file name: one path component, never empty, at most
/// [`MAX_FILE_NAME_BYTES`] bytes of UTF-8 (cut before its extension when too long).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileName(String);

/// What a file without a usable name is called.
const UNNAMED: &str = "file";

impl FileName {
    /// Cleans `raw` (never refuses: a name is the uploader's label, not an identifier).
    pub fn clean(raw: &str) -> Self {
        let last = raw.rsplit(['/', '\\']).next().unwrap_or("");
        let cleaned: String = last
            .chars()
            .filter(|c| !c.is_control() && !is_bidi_control(*c))
            .map(|c| if c == '"' { '\'' } else { c })
            .collect();
        let trimmed = cleaned.trim().trim_start_matches('.').trim();
        if trimmed.is_empty() {
            return Self(UNNAMED.into());
        }
        Self(cut(trimmed, MAX_FILE_NAME_BYTES))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn into_inner(self) -> String {
        self.0
    }
}

/// Characters that reorder text on screen (an `exe.png` shown as `gnp.exe`).
fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}' | '\u{200E}' | '\u{200F}' | '\u{061C}')
}

/// `name` in at most `max` bytes, its extension (up to 16 bytes) kept.
fn cut(name: &str, max: usize) -> String {
    if name.len() <= max {
        return name.to_owned();
    }
    let extension = name.rfind('.').map(|dot| &name[dot..]).filter(|ext| ext.len() <= 16).unwrap_or("");
    let mut stem_end = max - extension.len();
    while !name.is_char_boundary(stem_end) {
        stem_end -= 1;
    }
    format!("{}{extension}", &name[..stem_end])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_and_controls_are_dropped() {
        assert_eq!(FileName::clean("../../etc/passwd").as_str(), "passwd");
        assert_eq!(FileName::clean("C:\\Users\\me\\photo.jpg").as_str(), "photo.jpg");
        assert_eq!(FileName::clean("a\u{0}b\nc.txt").as_str(), "abc.txt");
        assert_eq!(FileName::clean("invoice\u{202E}gnp.exe").as_str(), "invoicegnp.exe");
        assert_eq!(FileName::clean("say \"hi\".txt").as_str(), "say 'hi'.txt");
    }

    #[test]
    fn an_empty_or_hidden_name_gets_a_plain_one() {
        assert_eq!(FileName::clean("").as_str(), "file");
        assert_eq!(FileName::clean("  / ").as_str(), "file");
        assert_eq!(FileName::clean(".bashrc").as_str(), "bashrc");
        assert_eq!(FileName::clean("..").as_str(), "file");
    }

    #[test]
    fn long_names_are_cut_keeping_the_extension() {
        let long = format!("{}.jpeg", "é".repeat(300));
        let name = FileName::clean(&long);
        assert!(name.as_str().len() <= MAX_FILE_NAME_BYTES);
        assert!(name.as_str().ends_with("é.jpeg"));
        assert_eq!(FileName::clean("日本語.txt").as_str(), "日本語.txt");
    }
}
