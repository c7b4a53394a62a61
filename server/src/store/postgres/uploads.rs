//! Uploads on PostgreSQL (migration 0006): their facts, who may read them, the claim a message frame
//! takes on them, and their removal. Linking a claimed upload to its message is part of the
//! message's INSERT (`messages::link_attachments`).

use super::feed::record_detail;
use super::rows::upload_from_row;
use super::PgStore;
use crate::store::without_attachment;
use crate::store::{now_rfc3339, Change, OwnUploadDeletion, StoreError, UploadRecord, UploadRemoval};
use app::models::{AdminUpload, UploadUsage};
use sqlx::Row;

impl PgStore {
    /// Records a stored upload.
    pub async fn create_upload(&self, upload: &UploadRecord) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO uploads (id, uploader_id, name, size, content_type, width, height, thumbnail_type, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        )
        .bind(&upload.id)
        .bind(upload.uploader_id)
        .bind(&upload.name)
        .bind(upload.size)
        .bind(&upload.content_type)
        .bind(upload.width.and_then(|w| i32::try_from(w).ok()))
        .bind(upload.height.and_then(|h| i32::try_from(h).ok()))
        .bind(&upload.thumbnail_type)
        .bind(&upload.created_at)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// The bytes `user` has stored (their quota's use).
    pub async fn upload_bytes_of(&self, user: i64) -> Result<i64, StoreError> {
        let bytes: i64 =
            sqlx::query_scalar("SELECT COALESCE(SUM(size), 0)::bigint FROM uploads WHERE uploader_id = $1")
                .bind(user)
                .fetch_one(self.pool())
                .await?;
        Ok(bytes)
    }

    pub async fn upload(&self, id: &str) -> Result<Option<UploadRecord>, StoreError> {
        let row = sqlx::query("SELECT * FROM uploads WHERE id = $1").bind(id).fetch_optional(self.pool()).await?;
        Ok(row.as_ref().map(upload_from_row).transpose()?)
    }

    /// Upload `id` if `viewer` may read it: its uploader, or a member of the conversation it was
    /// posted in (while its message stands: a deleted or removed message expires its files).
    pub async fn readable_upload(&self, id: &str, viewer: i64) -> Result<Option<UploadRecord>, StoreError> {
        let row = sqlx::query(
            "SELECT u.* FROM uploads u WHERE u.id = $1 AND u.created_at <> '' AND (u.uploader_id = $2 OR (u.message_id IS NOT NULL \
               AND EXISTS (SELECT 1 FROM room_members WHERE room_id = u.room_id AND user_id = $2)))",
        )
        .bind(id)
        .bind(viewer)
        .fetch_optional(self.pool())
        .await?;
        Ok(row.as_ref().map(upload_from_row).transpose()?)
    }

    /// Claims `ids` for a message of `user` under `claim`: each must be theirs, not posted, not
    /// expired (created after `fresh_after`) and not claimed since `claims_after`. The claimed
    /// ones; when fewer than asked, the caller releases the claim.
    pub async fn claim_uploads(
        &self,
        user: i64,
        ids: &[String],
        claim: &str,
        fresh_after: &str,
        claims_after: &str,
    ) -> Result<Vec<UploadRecord>, StoreError> {
        let rows = sqlx::query(
            "UPDATE uploads SET claim = $3, claimed_at = $5 \
             WHERE id = ANY($2) AND uploader_id = $1 AND message_id IS NULL \
               AND created_at > $4 AND (claim IS NULL OR claimed_at < $6) RETURNING *",
        )
        .bind(user)
        .bind(ids)
        .bind(claim)
        .bind(fresh_after)
        .bind(now_rfc3339())
        .bind(claims_after)
        .fetch_all(self.pool())
        .await?;
        Ok(rows.iter().map(upload_from_row).collect::<Result<_, _>>()?)
    }

    /// Gives back the uploads claimed under `claim` and not posted.
    pub async fn release_claim(&self, claim: &str) -> Result<(), StoreError> {
        sqlx::query("UPDATE uploads SET claim = NULL, claimed_at = NULL WHERE claim = $1 AND message_id IS NULL")
            .bind(claim)
            .execute(self.pool())
            .await?;
        Ok(())
    }

    /// Deletes upload `id` for its uploader `user`, if it is not posted (or being posted: claimed
    /// since `claims_after`).
    pub async fn delete_own_upload(
        &self,
        id: &str,
        user: i64,
        claims_after: &str,
    ) -> Result<OwnUploadDeletion, StoreError> {
        let mut tx = self.pool().begin().await?;
        let Some(row) = sqlx::query(
            "SELECT *, claim IS NOT NULL AND claimed_at >= $2 AS held FROM uploads WHERE id = $1 FOR UPDATE",
        )
        .bind(id)
        .bind(claims_after)
        .fetch_optional(&mut *tx)
        .await?
        else {
            return Ok(OwnUploadDeletion::NotFound);
        };
        let record = upload_from_row(&row)?;
        if record.uploader_id != user {
            return Ok(OwnUploadDeletion::NotFound);
        }
        if record.message_id.is_some() || row.try_get::<bool, _>("held")? {
            return Ok(OwnUploadDeletion::Posted);
        }
        sqlx::query("DELETE FROM uploads WHERE id = $1").bind(id).execute(&mut *tx).await?;
        tx.commit().await?;
        Ok(OwnUploadDeletion::Deleted(record))
    }

    /// Removes upload `id` as `admin`, audited; posted, it is taken out of its message, whose
    /// change is fed to its members.
    pub async fn remove_upload(&self, id: &str, admin: i64) -> Result<Option<UploadRemoval>, StoreError> {
        let mut tx = self.pool().begin().await?;
        let Some(row) =
            sqlx::query("SELECT * FROM uploads WHERE id = $1 FOR UPDATE").bind(id).fetch_optional(&mut *tx).await?
        else {
            return Ok(None);
        };
        let record = upload_from_row(&row)?;
        let mut seq = None;
        if let (Some(message), Some(room)) = (record.message_id, record.room_id) {
            let json: Option<String> = sqlx::query_scalar("SELECT attachments FROM messages WHERE id = $1")
                .bind(message)
                .fetch_one(&mut *tx)
                .await?;
            let kept = without_attachment(json.as_deref(), id);
            let change = record_detail(&mut tx, Change::MessageEdited { room, message, user: admin }, None).await?;
            sqlx::query("UPDATE messages SET attachments = $2, change_seq = $3 WHERE id = $1")
                .bind(message)
                .bind(kept)
                .bind(change)
                .execute(&mut *tx)
                .await?;
            seq = Some(change);
        }
        sqlx::query(
            "INSERT INTO audit_log (admin_id, action, target_user_id, room_id, created_at, message_id, reason) \
             VALUES ($1, 'remove_file', $2, $3, $4, $5, $6)",
        )
        .bind(admin)
        .bind(record.uploader_id)
        .bind(record.room_id)
        .bind(now_rfc3339())
        .bind(record.message_id)
        .bind(&record.name)
        .execute(&mut *tx)
        .await?;
        sqlx::query("DELETE FROM uploads WHERE id = $1").bind(id).execute(&mut *tx).await?;
        tx.commit().await?;
        Ok(Some(UploadRemoval { record, seq }))
    }

    /// Forgets up to `limit` uploads never posted and created before `created_before` (those
    /// of deleted or removed messages included: their deletion expired them), returning them
    /// so that their bytes can go.
    pub async fn take_expired_uploads(
        &self,
        created_before: &str,
        limit: i64,
    ) -> Result<Vec<UploadRecord>, StoreError> {
        let rows = sqlx::query(
            "DELETE FROM uploads WHERE id IN (SELECT id FROM uploads WHERE message_id IS NULL AND created_at < $1 \
               AND (claim IS NULL OR claimed_at < $1) LIMIT $2) RETURNING *",
        )
        .bind(created_before)
        .bind(limit)
        .fetch_all(self.pool())
        .await?;
        Ok(rows.iter().map(upload_from_row).collect::<Result<_, _>>()?)
    }

    /// The accounts with uploads, most bytes first.
    pub async fn upload_usage(&self, limit: i64) -> Result<Vec<UploadUsage>, StoreError> {
        let rows: Vec<(i64, String, i64, i64)> = sqlx::query_as(
            "SELECT u.uploader_id, us.username, COUNT(*)::bigint, SUM(u.size)::bigint FROM uploads u \
             JOIN users us ON us.id = u.uploader_id GROUP BY u.uploader_id, us.username ORDER BY SUM(u.size) DESC LIMIT $1",
        )
        .bind(limit)
        .fetch_all(self.pool())
        .await?;
        Ok(rows
            .into_iter()
            .map(|(user_id, username, count, bytes)| UploadUsage { user_id, username, count, bytes })
            .collect())
    }

    /// `user`'s uploads, newest first.
    pub async fn uploads_of(&self, user: i64, limit: i64) -> Result<Vec<AdminUpload>, StoreError> {
        let rows = sqlx::query(
            "SELECT u.*, us.username AS uploader FROM uploads u JOIN users us ON us.id = u.uploader_id \
             WHERE u.uploader_id = $1 ORDER BY u.created_at DESC, u.id LIMIT $2",
        )
        .bind(user)
        .bind(limit)
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|row| {
                let record = upload_from_row(row)?;
                Ok(AdminUpload {
                    attachment: record.attachment(),
                    uploader: row.try_get("uploader")?,
                    created_at: record.created_at,
                    message_id: record.message_id,
                })
            })
            .collect::<Result<_, sqlx::Error>>()
            .map_err(Into::into)
    }
}
