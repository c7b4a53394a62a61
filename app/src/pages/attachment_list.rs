//! The files a message carries, under its text: an image as its thumbnail (sized from the
//! dimensions the server gave, scaled to fit [`THUMBNAIL_MAX_SIDE`], so the list does not jump as
//! it loads; lazily loaded), a link to the full-size image in a new tab; any other file as a chip
//! with its name and size that downloads it. Never wider than the message (phones).

use crate::models::Attachment;
use crate::protocol::THUMBNAIL_MAX_SIDE;
use leptos::prelude::*;

#[component]
pub fn AttachmentList(attachments: Vec<Attachment>) -> impl IntoView {
    view! {
        <div class="attachments" data-testid="attachments">
            {attachments.into_iter().map(|attachment| if attachment.is_image() {
                view! { <ImageAttachment attachment/> }.into_any()
            } else {
                view! { <FileAttachment attachment/> }.into_any()
            }).collect_view()}
        </div>
    }
}

/// An image: its thumbnail, a link to the full size.
#[component]
fn ImageAttachment(attachment: Attachment) -> impl IntoView {
    let (width, height) = match (attachment.width, attachment.height) {
        (Some(width), Some(height)) => {
            let (width, height) = fit_within(width, height, THUMBNAIL_MAX_SIDE);
            (Some(width), Some(height))
        }
        _ => (None, None),
    };
    let source = attachment.thumbnail_url.clone().unwrap_or_else(|| attachment.url.clone());
    let label = format!("{} (open full size)", attachment.name);
    view! {
        <a
            class="attachment-image"
            data-testid="attachment-image"
            href=attachment.url.clone()
            target="_blank"
            rel="noopener"
            title=label
        >
            <img src=source width=width height=height loading="lazy" decoding="async" alt=attachment.name.clone()/>
        </a>
    }
}

/// Any other file: a chip that downloads it.
#[component]
fn FileAttachment(attachment: Attachment) -> impl IntoView {
    let size = human_size(u64::try_from(attachment.size).unwrap_or(0));
    view! {
        <a
            class="attachment-file"
            data-testid="attachment-file"
            href=attachment.url.clone()
            download=attachment.name.clone()
        >
            <svg
                class="attachment-icon"
                viewBox="0 0 24 24"
                width="18"
                height="18"
                fill="none"
                stroke="currentColor"
                stroke-width="2"
                stroke-linecap="round"
                stroke-linejoin="round"
                aria-hidden="true"
            >
                <path d="M13 2H6a2 2 0 0 0-2 2v16a2 2 0 0 0 2 2h12a2 2 0 0 0 2-2V9z"></path>
                <path d="M13 2v7h7"></path>
            </svg>
            <span class="attachment-name">{attachment.name.clone()}</span>
            <span class="attachment-size">{size}</span>
        </a>
    }
}

/// `width`×`height` scaled down (never up) so that neither side is over `max`, keeping the
/// aspect ratio; at least 1 px each.
pub fn fit_within(width: u32, height: u32, max: u32) -> (u32, u32) {
    let longest = width.max(height);
    if longest <= max || longest == 0 {
        return (width.max(1), height.max(1));
    }
    let scale = |side: u32| ((u64::from(side) * u64::from(max) + u64::from(longest) / 2) / u64::from(longest)) as u32;
    (scale(width).max(1), scale(height).max(1))
}

/// A file size for people: `512 B`, `1.5 KB`, `12 KB`, `3.4 MB`, `1.2 GB` (1 KB = 1024 bytes).
pub fn human_size(bytes: u64) -> String {
    const UNITS: [&str; 3] = ["KB", "MB", "GB"];
    if bytes < 1024 {
        return format!("{bytes} B");
    }
    let mut value = bytes as f64 / 1024.0;
    let mut unit = 0;
    // 1023.7 KB would read "1024 KB": it is 1.0 MB.
    while value >= 1023.5 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    if value < 10.0 {
        // 9.96 KB shows as "10 KB", not "10.0 KB".
        let rounded = (value * 10.0).round() / 10.0;
        if rounded < 10.0 {
            return format!("{rounded:.1} {}", UNITS[unit]);
        }
    }
    format!("{:.0} {}", value, UNITS[unit])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_read_as_bytes_kilobytes_and_megabytes() {
        assert_eq!(human_size(0), "0 B");
        assert_eq!(human_size(1023), "1023 B");
        assert_eq!(human_size(1024), "1.0 KB");
        assert_eq!(human_size(1536), "1.5 KB");
        assert_eq!(human_size(10_199), "10 KB");
        assert_eq!(human_size(200 * 1024), "200 KB");
        assert_eq!(human_size(1024 * 1024 - 1), "1.0 MB");
        assert_eq!(human_size(1023 * 1024), "1023 KB");
        assert_eq!(human_size(3_565_158), "3.4 MB");
        assert_eq!(human_size(25 * 1024 * 1024), "25 MB");
        assert_eq!(human_size(5 * 1024 * 1024 * 1024), "5.0 GB");
    }

    #[test]
    fn a_thumbnail_fits_its_box_keeping_its_shape() {
        assert_eq!(fit_within(4000, 3000, 400), (400, 300));
        assert_eq!(fit_within(3000, 4000, 400), (300, 400));
        assert_eq!(fit_within(120, 80, 400), (120, 80));
        assert_eq!(fit_within(10_000, 1, 400), (400, 1));
        assert_eq!(fit_within(1001, 1000, 400), (400, 400));
        assert_eq!(fit_within(0, 0, 400), (1, 1));
    }
}
