//! A file's type, decided from its first bytes only (never the client's claim or the name): the
//! four image formats served inline, everything else a download.

/// Bytes enough to tell every type [`Kind`] distinguishes.
pub const SNIFF_BYTES: usize = 8 * 1024;

/// What an upload is, for how it is stored and served.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Jpeg,
    Png,
    Gif,
    Webp,
    /// Anything else, SVG and HTML included: stored as it came, served as a download.
    Other,
}

impl Kind {
    /// The type of a file starting with `head`.
    pub fn of(head: &[u8]) -> Kind {
        match infer::get(head).map(|kind| kind.mime_type()) {
            Some("image/jpeg") => Kind::Jpeg,
            Some("image/png") => Kind::Png,
            Some("image/gif") => Kind::Gif,
            Some("image/webp") => Kind::Webp,
            _ => Kind::Other,
        }
    }

    /// The `Content-Type` it is served with.
    pub fn content_type(self) -> &'static str {
        match self {
            Kind::Jpeg => "image/jpeg",
            Kind::Png => "image/png",
            Kind::Gif => "image/gif",
            Kind::Webp => "image/webp",
            Kind::Other => "application/octet-stream",
        }
    }

    pub fn is_image(self) -> bool {
        self != Kind::Other
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bytes_decide_not_the_name_or_the_claim() {
        assert_eq!(Kind::of(b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR"), Kind::Png);
        assert_eq!(Kind::of(b"\xff\xd8\xff\xe0\0\x10JFIF\0"), Kind::Jpeg);
        assert_eq!(Kind::of(b"GIF89a\x01\0\x01\0"), Kind::Gif);
        assert_eq!(Kind::of(b"RIFF\x1a\0\0\0WEBPVP8L"), Kind::Webp);
    }

    #[test]
    fn svg_and_html_are_never_images() {
        let svg = br#"<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>"#;
        assert_eq!(Kind::of(svg), Kind::Other);
        assert_eq!(Kind::of(b"<!DOCTYPE html><html><script>alert(1)</script>"), Kind::Other);
        assert_eq!(Kind::of(b""), Kind::Other);
        assert_eq!(Kind::Other.content_type(), "application/octet-stream");
    }
}
