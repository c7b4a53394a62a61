//! Files and images, each rule once whatever door asks: uploading (throttled per account, the
//! name through the word filter, the size and the uploader's quota enforced while the bytes
//! stream in, the type decided from the bytes, images made safe off the async runtime a few at a
//! time), reading (the uploader, members of the conversation it was posted in, and admins;
//! everyone else is told it does not exist), claiming uploads for a message, deleting and
//! removing them, the admins' overview, and the sweep that deletes what expired.

use super::{internal, Services};
use crate::files::images::{self, ImageError, Timings};
use crate::files::sniff::{Kind, SNIFF_BYTES};
use crate::files::storage::{Download, FileStore};
use crate::store::{now_rfc3339, OwnUploadDeletion, Store, UploadRecord};
use app::domain::FileName;
use app::error::ApiError;
use app::models::{Attachment, PublicUser, UploadsOverview};
use app::protocol::{ADMIN_PAGE, MAX_ATTACHMENTS_PER_MESSAGE};
use bytes::Bytes;
use futures::{Stream, StreamExt};
use std::ops::Range;
use std::time::Duration;
use tokio::io::AsyncWriteExt;

/// How long a message frame's claim on its uploads holds before another message may take them
/// (the claim is released at once when the message is refused; this covers a crash).
const CLAIM_HOLDS: Duration = Duration::from_secs(120);
/// Expired uploads deleted per sweep step.
const SWEEP_BATCH: i64 = 100;

/// The key of an upload's thumbnail in the file store.
fn thumbnail_key(id: &str) -> String {
    format!("{id}.thumbnail")
}

/// Whether `id` could be an upload id (32 lowercase hex digits); anything else is unknown.
fn plausible_id(id: &str) -> bool {
    id.len() == app::protocol::UPLOAD_ID_CHARS && id.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// An instant `ago` before now, as the store compares times.
fn before_now(ago: Duration) -> String {
    let ago = chrono::Duration::from_std(ago).unwrap_or(chrono::Duration::MAX);
    let at = chrono::Utc::now().checked_sub_signed(ago).unwrap_or(chrono::DateTime::<chrono::Utc>::MIN_UTC);
    at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

fn mib(bytes: u64) -> String {
    format!("{:.1} MiB", bytes as f64 / (1024.0 * 1024.0))
}

/// Why uploads named by a message frame cannot be posted.
pub(crate) const NOT_YOUR_UPLOADS: &str =
    "attachments must be files you uploaded and have not posted yet (an upload never posted expires)";

impl Services {
    /// Stores an upload of `user` named `name`, its bytes read from `body` as they arrive; with
    /// an image, where its processing's time went.
    pub async fn upload<S, E>(
        &self,
        user: &PublicUser,
        name: Option<&str>,
        mut body: S,
    ) -> Result<(Attachment, Option<Timings>), ApiError>
    where
        S: Stream<Item = Result<Bytes, E>> + Unpin + Send,
        E: std::fmt::Display,
    {
        if let Err(retry_after) = self.throttles.uploads.check(&user.id).await {
            return Err(ApiError::RateLimited { retry_after });
        }
        let name = FileName::clean(name.unwrap_or(""));
        if self.moderator.check(name.as_str()).is_some() {
            return Err(ApiError::InvalidInput {
                message: "the file name is not allowed here: rename the file".into(),
            });
        }
        let files = &self.config.files;
        let used = u64::try_from(self.store.upload_bytes_of(user.id).await.map_err(internal)?).unwrap_or(0);
        let quota_left = files.upload_quota_bytes.saturating_sub(used);
        let limit = files.upload_max_bytes.min(quota_left);
        let too_large = || {
            if quota_left < files.upload_max_bytes {
                ApiError::TooLarge {
                    message: format!(
                        "over your upload quota: {} of {} used (delete files or ask an admin)",
                        mib(used),
                        mib(files.upload_quota_bytes)
                    ),
                }
            } else {
                ApiError::TooLarge { message: format!("the file is larger than {}", mib(files.upload_max_bytes)) }
            }
        };
        let cut_short = |error: E| ApiError::BadRequest { message: format!("the upload was cut short: {error}") };

        // The first bytes decide the type; the rest follow.
        let mut head = Vec::with_capacity(SNIFF_BYTES);
        let mut rest: Option<Bytes> = None;
        while head.len() < SNIFF_BYTES {
            match body.next().await {
                Some(Ok(chunk)) => {
                    let take = (SNIFF_BYTES - head.len()).min(chunk.len());
                    head.extend_from_slice(&chunk[..take]);
                    if take < chunk.len() {
                        rest = Some(chunk.slice(take..));
                        break;
                    }
                }
                Some(Err(error)) => return Err(cut_short(error)),
                None => break,
            }
        }
        if head.is_empty() {
            return Err(ApiError::BadRequest { message: "the file is empty".into() });
        }
        let received = head.len() as u64 + rest.as_ref().map_or(0, |r| r.len() as u64);
        if received > limit {
            return Err(too_large());
        }
        let kind = Kind::of(&head);
        let id = crate::auth::random_hex(16);
        let mut record = UploadRecord {
            id: id.clone(),
            uploader_id: user.id,
            name: name.into_inner(),
            size: 0,
            content_type: kind.content_type().into(),
            width: None,
            height: None,
            thumbnail_type: None,
            created_at: now_rfc3339(),
            message_id: None,
            room_id: None,
        };
        let mut timings = None;
        if kind.is_image() {
            // Spooled to a temporary file, then decoded a few at a time: memory stays bounded
            // however many upload at once.
            let spool = tempfile::NamedTempFile::new().map_err(internal)?;
            let mut file = tokio::fs::File::from_std(spool.reopen().map_err(internal)?);
            file.write_all(&head).await.map_err(internal)?;
            if let Some(rest) = rest {
                file.write_all(&rest).await.map_err(internal)?;
            }
            let mut total = received;
            while let Some(chunk) = body.next().await {
                let chunk = chunk.map_err(cut_short)?;
                total += chunk.len() as u64;
                if total > limit {
                    return Err(too_large());
                }
                file.write_all(&chunk).await.map_err(internal)?;
            }
            file.flush().await.map_err(internal)?;
            drop(file);
            let processed = {
                let _permit = self.images.acquire().await.map_err(internal)?;
                let path = spool.path().to_owned();
                tokio::task::spawn_blocking(move || {
                    let data = std::fs::read(path).map_err(|e| ImageError::Undecodable(e.to_string()))?;
                    images::process(kind, &data)
                })
                .await
                .map_err(internal)?
            };
            let processed = processed.map_err(|error| ApiError::InvalidInput { message: error.to_string() })?;
            record.size = processed.bytes.len() as i64;
            record.width = Some(i64::from(processed.width));
            record.height = Some(i64::from(processed.height));
            record.thumbnail_type = Some(processed.thumbnail_type.into());
            timings = Some(processed.timings);
            self.files.put(&id, processed.bytes).await.map_err(internal)?;
            if let Err(error) = self.files.put(&thumbnail_key(&id), processed.thumbnail).await {
                self.forget_bytes(&id).await;
                return Err(internal(error));
            }
        } else {
            let mut writer = self.files.writer(&id).await.map_err(internal)?;
            let mut outcome = writer.write(&head).await.map_err(internal);
            if let (Ok(()), Some(rest)) = (&outcome, rest) {
                outcome = writer.write(&rest).await.map_err(internal);
            }
            while outcome.is_ok() {
                match body.next().await {
                    None => break,
                    Some(Err(error)) => outcome = Err(cut_short(error)),
                    Some(Ok(chunk)) if writer.written() + chunk.len() as u64 > limit => outcome = Err(too_large()),
                    Some(Ok(chunk)) => outcome = writer.write(&chunk).await.map_err(internal),
                }
            }
            if let Err(error) = outcome {
                writer.abort().await;
                return Err(error);
            }
            record.size = writer.written() as i64;
            writer.finish().await.map_err(internal)?;
        }
        if let Err(error) = self.store.create_upload(&record).await {
            self.forget_bytes(&id).await;
            return Err(internal(error));
        }
        tracing::info!(user_id = user.id, upload = %id, size = record.size, content_type = %record.content_type, "file uploaded");
        Ok((record.attachment(), timings))
    }

    /// An upload `user` may read (admins: any); `thumbnail`: its thumbnail, which only images
    /// have. 404 for everything else, exactly as for an unknown id.
    pub async fn readable_file(&self, user: &PublicUser, id: &str, thumbnail: bool) -> Result<UploadRecord, ApiError> {
        if !plausible_id(id) {
            return Err(ApiError::NotFound);
        }
        let record =
            if user.is_admin { self.store.upload(id).await } else { self.store.readable_upload(id, user.id).await };
        match record.map_err(internal)? {
            Some(record) if !thumbnail || record.thumbnail_type.is_some() => Ok(record),
            _ => Err(ApiError::NotFound),
        }
    }

    /// The bytes of an upload [`Services::readable_file`] allowed: all, or `range`.
    pub async fn file_bytes(
        &self,
        record: &UploadRecord,
        thumbnail: bool,
        range: Option<Range<u64>>,
    ) -> Result<Download, ApiError> {
        let key = if thumbnail { thumbnail_key(&record.id) } else { record.id.clone() };
        self.files.get(&key, range).await.map_err(|error| {
            if error.is_not_found() {
                // Removed a moment ago, or its bytes were lost: it does not exist.
                ApiError::NotFound
            } else {
                internal(error)
            }
        })
    }

    /// `DELETE /uploads/{id}`: its uploader, before it is posted; an admin, any time (a posted
    /// file is then taken out of its message, which its members see change).
    pub async fn delete_upload(&self, user: &PublicUser, id: &str) -> Result<(), ApiError> {
        if !plausible_id(id) {
            return Err(ApiError::NotFound);
        }
        if user.is_admin {
            let Some(removal) = self.store.remove_upload(id, user.id).await.map_err(internal)? else {
                return Err(ApiError::NotFound);
            };
            tracing::info!(admin_id = user.id, upload = id, message_id = ?removal.record.message_id, "file removed by an admin");
            if let Some(seq) = removal.seq {
                self.hub.changed(seq).await;
            }
            self.forget_bytes(id).await;
            return Ok(());
        }
        match self.store.delete_own_upload(id, user.id, &before_now(CLAIM_HOLDS)).await.map_err(internal)? {
            OwnUploadDeletion::Deleted(_) => {
                self.forget_bytes(id).await;
                Ok(())
            }
            OwnUploadDeletion::Posted => {
                Err(ApiError::Forbidden { message: "the file is posted: delete its message to take it back".into() })
            }
            OwnUploadDeletion::NotFound => Err(ApiError::NotFound),
        }
    }

    /// Deletes an upload's bytes and thumbnail (its row is gone already); a failure is logged,
    /// never the caller's: nobody can reach the bytes any more.
    async fn forget_bytes(&self, id: &str) {
        forget_bytes(&self.files, id).await;
    }

    /// The admins' view: who stores how much, and one account's files.
    pub async fn uploads_overview(&self, user: Option<i64>) -> Result<UploadsOverview, ApiError> {
        let users = self.store.upload_usage(ADMIN_PAGE.max).await.map_err(internal)?;
        let files = match user {
            Some(user) => self.store.uploads_of(user, ADMIN_PAGE.max).await.map_err(internal)?,
            None => Vec::new(),
        };
        Ok(UploadsOverview { users, files })
    }

    /// Claims the uploads a message frame of `sender` names, in the order named: the claim and
    /// the attachments, or why not. The caller releases the claim if the message is not stored.
    pub(crate) async fn claim_attachments(
        &self,
        sender: i64,
        ids: &[String],
    ) -> Result<(Vec<Attachment>, String), &'static str> {
        if ids.len() > MAX_ATTACHMENTS_PER_MESSAGE {
            return Err("too many attachments: at most 10 a message");
        }
        let mut seen = std::collections::HashSet::new();
        if !ids.iter().all(|id| plausible_id(id) && seen.insert(id.as_str())) {
            return Err(NOT_YOUR_UPLOADS);
        }
        let claim = crate::auth::random_hex(16);
        let ttl = Duration::from_secs(self.config.files.unposted_upload_ttl_secs);
        let claimed =
            self.store.claim_uploads(sender, ids, &claim, &before_now(ttl), &before_now(CLAIM_HOLDS)).await.map_err(
                |error| {
                    tracing::error!(%error, "claiming uploads failed");
                    "attachments could not be checked; send again"
                },
            )?;
        if claimed.len() != ids.len() {
            self.release_claim(&claim).await;
            return Err(NOT_YOUR_UPLOADS);
        }
        let attachments = ids
            .iter()
            .filter_map(|id| claimed.iter().find(|record| record.id == *id).map(UploadRecord::attachment))
            .collect();
        Ok((attachments, claim))
    }

    /// Gives back uploads claimed for a message that was not stored.
    pub(crate) async fn release_claim(&self, claim: &str) {
        if let Err(error) = self.store.release_claim(claim).await {
            tracing::warn!(%error, "releasing claimed uploads failed (they free themselves in minutes)");
        }
    }
}

async fn forget_bytes(files: &FileStore, id: &str) {
    for key in [id.to_owned(), thumbnail_key(id)] {
        if let Err(error) = files.delete(&key).await {
            tracing::warn!(%error, upload = id, "deleting a file's bytes failed");
        }
    }
}

/// Every `every`, deletes the uploads never posted within `ttl` (and those whose message was
/// deleted or removed), rows first, then their bytes.
pub(crate) fn start_sweeper(store: Store, files: FileStore, ttl: Duration, every: Duration) {
    tokio::spawn(async move {
        let mut ticks = tokio::time::interval(every);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticks.tick().await;
            loop {
                let expired = match store.take_expired_uploads(&before_now(ttl), SWEEP_BATCH).await {
                    Ok(expired) => expired,
                    Err(error) => {
                        tracing::warn!(%error, "sweeping expired uploads failed");
                        break;
                    }
                };
                for record in &expired {
                    forget_bytes(&files, &record.id).await;
                }
                if !expired.is_empty() {
                    tracing::info!(deleted = expired.len(), "expired uploads deleted");
                }
                if (expired.len() as i64) < SWEEP_BATCH {
                    break;
                }
            }
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_upload_shaped_ids_are_looked_up() {
        assert!(plausible_id(&crate::auth::random_hex(16)));
        for bad in ["", "../etc/passwd", "ABCDEF0123456789ABCDEF0123456789", &"a".repeat(33)] {
            assert!(!plausible_id(bad), "{bad}");
        }
    }
}
