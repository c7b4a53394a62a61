//! The upload tray's state, apart from the views that show it (`pages::upload_tray`) and the
//! requests that fill it (`upload_client`), as `chat_state` is for the chat: one entry per file
//! being attached to the next message, in the order added, at most
//! [`MAX_ATTACHMENTS_PER_MESSAGE`] of them uploading or uploaded, and how an upload's answer
//! ends an entry.

use crate::models::Attachment;
use crate::protocol::MAX_ATTACHMENTS_PER_MESSAGE;
use leptos::prelude::*;

/// Where one file of the tray is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum EntryState {
    Uploading,
    Uploaded(Attachment),
    /// The server's `error` text, or why the upload could not be made.
    Failed(String),
}

/// One file of the tray.
#[derive(Clone, Debug, PartialEq)]
pub struct TrayEntry {
    /// Unique within the page: names the upload while it runs.
    pub key: u64,
    pub name: String,
    /// Bytes, as picked (the server's count once uploaded).
    pub size: u64,
    /// How much of it was sent, from 0 to 1.
    pub progress: f64,
    pub state: EntryState,
}

impl TrayEntry {
    /// Whether it takes a place of the message (uploading or uploaded, not failed).
    fn counts(&self) -> bool {
        !matches!(self.state, EntryState::Failed(_))
    }
}

/// The files being attached to the next message, and the tray's own notice (too many files, a
/// send while files are still uploading).
#[derive(Clone, Copy)]
pub struct Tray {
    pub entries: RwSignal<Vec<TrayEntry>>,
    pub notice: RwSignal<Option<String>>,
    next_key: StoredValue<u64>,
}

impl Default for Tray {
    fn default() -> Self {
        Self::new()
    }
}

impl Tray {
    pub fn new() -> Self {
        Self { entries: RwSignal::new(Vec::new()), notice: RwSignal::new(None), next_key: StoredValue::new(1) }
    }

    /// How many more files the message may take.
    pub fn places_left(&self) -> usize {
        let taken = self.entries.with_untracked(|entries| entries.iter().filter(|e| e.counts()).count());
        MAX_ATTACHMENTS_PER_MESSAGE.saturating_sub(taken)
    }

    /// Adds a file that starts uploading; its key.
    pub fn add(&self, name: String, size: u64) -> u64 {
        let key = self.next_key.get_value();
        self.next_key.set_value(key + 1);
        self.entries
            .update(|entries| entries.push(TrayEntry { key, name, size, progress: 0.0, state: EntryState::Uploading }));
        key
    }

    /// How much of an upload was sent (0 to 1). Nothing once the page has left the tray.
    pub fn set_progress(&self, key: u64, fraction: f64) {
        let fraction = fraction.clamp(0.0, 1.0);
        self.entries.try_update(|entries| {
            if let Some(entry) = entries.iter_mut().find(|e| e.key == key && e.state == EntryState::Uploading) {
                entry.progress = fraction;
            }
        });
    }

    /// An upload ended: the stored file, or why not.
    pub fn finish(&self, key: u64, outcome: Result<Attachment, String>) {
        self.entries.try_update(|entries| {
            if let Some(entry) = entries.iter_mut().find(|e| e.key == key) {
                match outcome {
                    Ok(attachment) => {
                        entry.progress = 1.0;
                        entry.size = u64::try_from(attachment.size).unwrap_or(entry.size);
                        entry.state = EntryState::Uploaded(attachment);
                    }
                    Err(error) => entry.state = EntryState::Failed(error),
                }
            }
        });
    }

    /// Takes an entry out of the tray.
    pub fn take(&self, key: u64) -> Option<TrayEntry> {
        let mut taken = None;
        self.entries.update(|entries| {
            if let Some(at) = entries.iter().position(|e| e.key == key) {
                taken = Some(entries.remove(at));
            }
        });
        if self.places_left() > 0 {
            self.notice.set(None);
        }
        taken
    }

    /// Whether a file is still uploading (tracked: the Send button follows it).
    pub fn uploading(&self) -> bool {
        self.entries.with(|entries| entries.iter().any(|e| e.state == EntryState::Uploading))
    }

    /// Whether a file is still uploading, read once.
    pub fn uploading_untracked(&self) -> bool {
        self.entries.with_untracked(|entries| entries.iter().any(|e| e.state == EntryState::Uploading))
    }

    /// The uploaded files, in the tray's order: what the message carries.
    pub fn attachments(&self) -> Vec<Attachment> {
        self.entries.with_untracked(|entries| {
            entries
                .iter()
                .filter_map(|e| match &e.state {
                    EntryState::Uploaded(attachment) => Some(attachment.clone()),
                    _ => None,
                })
                .collect()
        })
    }

    /// Empties the tray (its files were sent).
    pub fn clear(&self) {
        self.entries.set(Vec::new());
        self.notice.set(None);
    }

    /// One entry, tracked.
    pub fn entry(&self, key: u64) -> Option<TrayEntry> {
        self.entries.with(|entries| entries.iter().find(|e| e.key == key).cloned())
    }
}

/// What a finished `POST /uploads` means for its entry: the stored file (201), else the server's
/// `error` text, else a sentence about the status (0: the request never got an answer).
pub fn upload_outcome(status: u16, body: &str) -> Result<Attachment, String> {
    #[derive(serde::Deserialize)]
    struct Refusal {
        error: String,
    }
    if (200..300).contains(&status) {
        return serde_json::from_str(body).map_err(|_| "the server's answer could not be read".to_owned());
    }
    if let Ok(refusal) = serde_json::from_str::<Refusal>(body) {
        return Err(refusal.error);
    }
    Err(match status {
        0 => "could not reach the server; try again".to_owned(),
        413 => "the file is too large".to_owned(),
        429 => "too many uploads for now; try again in a moment".to_owned(),
        status => format!("the server answered {status}"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn uploaded(id: &str) -> Attachment {
        Attachment { id: id.into(), name: format!("{id}.png"), size: 10, ..Default::default() }
    }

    #[test]
    fn the_tray_gives_the_uploaded_files_in_order_and_counts_places() {
        Owner::new().with(|| {
            let tray = Tray::new();
            let a = tray.add("a.png".into(), 10);
            let b = tray.add("b.png".into(), 20);
            let c = tray.add("c.png".into(), 30);
            assert_eq!(tray.places_left(), MAX_ATTACHMENTS_PER_MESSAGE - 3);
            assert!(tray.uploading_untracked());
            tray.set_progress(a, 0.5);
            tray.finish(b, Ok(uploaded("b")));
            tray.finish(c, Err("too large".into()));
            // A failed file takes no place of the message.
            assert_eq!(tray.places_left(), MAX_ATTACHMENTS_PER_MESSAGE - 2);
            assert!(tray.uploading_untracked());
            tray.finish(a, Ok(uploaded("a")));
            assert!(!tray.uploading_untracked());
            let ids: Vec<String> = tray.attachments().into_iter().map(|a| a.id).collect();
            assert_eq!(ids, ["a", "b"]);
            assert_eq!(tray.take(a).map(|e| e.name), Some("a.png".to_owned()));
            assert_eq!(tray.attachments().len(), 1);
            tray.clear();
            assert_eq!(tray.places_left(), MAX_ATTACHMENTS_PER_MESSAGE);
        });
    }

    #[test]
    fn an_upload_answer_is_the_file_or_the_reason() {
        let body = r#"{"id":"k1","name":"a.png","size":67,"content_type":"image/png","url":"/files/k1/a.png",
            "width":2,"height":1,"thumbnail_url":"/files/k1/thumbnail"}"#;
        let file = upload_outcome(201, body).expect("a stored file");
        assert_eq!((file.id.as_str(), file.width, file.is_image()), ("k1", Some(2), true));
        assert_eq!(
            upload_outcome(422, r#"{"error":"the image is too large to decode"}"#).unwrap_err(),
            "the image is too large to decode"
        );
        assert_eq!(upload_outcome(413, "<html>").unwrap_err(), "the file is too large");
        assert!(upload_outcome(0, "").unwrap_err().contains("could not reach"));
        assert!(upload_outcome(201, "{}").is_err());
    }

    #[test]
    fn progress_stays_between_zero_and_one_and_stops_once_finished() {
        Owner::new().with(|| {
            let tray = Tray::new();
            let a = tray.add("a.bin".into(), 1);
            tray.set_progress(a, 7.0);
            assert_eq!(tray.entries.with_untracked(|e| e[0].progress), 1.0);
            tray.finish(a, Err("refused".into()));
            tray.set_progress(a, 0.2);
            assert_eq!(tray.entries.with_untracked(|e| e[0].progress), 1.0);
        });
    }
}
