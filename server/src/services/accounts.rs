//! Accounts their owners control (docs/api.md, "Your account"): changing the password, taking
//! one's data away, deleting the account; and the audit log admins read, where deletions show.

use super::{internal, limited, Services};
use crate::config::AccountDeletion;
use crate::store::AccountDeleted;
use app::backend::RequestOrigin;
use app::domain::Password;
use app::error::ApiError;
use app::models::RoomKind;
use app::models::{AuditEntry, LoginResponse, PublicUser};
use app::protocol::GENERAL_ROOM_ID;
use axum::response::Response;
use futures::FutureExt;

/// Messages deleted per step when an account is erased.
const ERASE_BATCH: i64 = 500;
/// Most uploads listed in an export (newest first; an account at the default quota of 1 GiB in
/// files of 100 KiB has about 10,000).
pub const EXPORT_UPLOADS_MAX: i64 = 10_000;

impl Services {
    /// The password of `user`, asked again: login's throttles, and 401 when it is wrong.
    async fn confirm_password(
        &self,
        user: &PublicUser,
        password: &str,
        origin: &RequestOrigin,
    ) -> Result<(), ApiError> {
        match self.check_password(&user.username, password, origin).await {
            Ok(record) if record.public.id == user.id => Ok(()),
            Ok(_) | Err(ApiError::BadCredentials) => Err(ApiError::WrongPassword),
            Err(other) => Err(other),
        }
    }

    /// Changes `user`'s password: every session and socket of the account ends (as a reset
    /// does, on every node), and the one that asked gets a fresh session.
    pub async fn change_password(
        &self,
        user: &PublicUser,
        current: &str,
        new: &str,
        origin: &RequestOrigin,
    ) -> Result<LoginResponse, ApiError> {
        self.confirm_password(user, current, origin).await?;
        let password = Password::parse(new)?;
        let hash = self.hasher.hash(password.expose()).await.map_err(internal)?;
        let Some(version) = self.store.change_password(user.id, &hash).await.map_err(internal)? else {
            return Err(ApiError::Unauthenticated);
        };
        self.end_sockets_now(user.id).await;
        tracing::info!(user_id = user.id, "password changed; every other session ended");
        Ok(super::bearer_grant(self.tokens.issue(user.id, version), self.tokens.ttl_secs()))
    }

    /// `user`'s data as one JSON attachment, streamed: the account, its conversations, the
    /// people it ignores, its uploads, then every message it sent (`AccountExport`). Throttled
    /// per account.
    pub async fn export_account(&self, user: &PublicUser) -> Result<Response, ApiError> {
        self.throttles.account_exports.check(&user.id).await.map_err(limited)?;
        let rooms = self.store.rooms_of(user.id).await.map_err(internal)?;
        let ignores = self.ignored(user).await?;
        let uploads = self.store.uploads_of(user.id, EXPORT_UPLOADS_MAX).await.map_err(internal)?;
        let prefix = format!(
            "{{\"user\":{},\"rooms\":{},\"ignores\":{},\"uploads\":{},\"messages\":[",
            serde_json::to_string(user).map_err(internal)?,
            serde_json::to_string(&rooms).map_err(internal)?,
            serde_json::to_string(&ignores).map_err(internal)?,
            serde_json::to_string(&uploads).map_err(internal)?,
        );
        let (store, id) = (self.store.clone(), user.id);
        let next_page = move |after: i64, limit: i64| {
            let store = store.clone();
            async move { store.messages_by_sender(id, after.max(0), limit).await }.boxed()
        };
        let filename = format!("chatterbox-{}.json", user.id);
        tracing::info!(user_id = user.id, "account export");
        Ok(super::export::json_download(self, &filename, prefix, next_page))
    }

    /// Deletes `user`'s account (its password asked again): its sessions and sockets end at once,
    /// it leaves its rooms, and its messages stay as from "deleted
    /// user" or are deleted (`CHATTERBOX_ACCOUNT_DELETION`). The only admin cannot (409).
    pub async fn delete_account(
        &self,
        user: &PublicUser,
        password: &str,
        origin: &RequestOrigin,
    ) -> Result<(), ApiError> {
        self.confirm_password(user, password, origin).await?;
        // A hash of a secret nobody is told: no password opens the account again.
        let unusable = self.hasher.hash(&crate::auth::random_hex(32)).await.map_err(internal)?;
        let mode = self.config.operations.account_deletion;
        let now = chrono::Utc::now();
        let hold = chrono::Duration::days(
            i64::try_from(self.config.operations.deleted_username_hold_days).unwrap_or(36_500).min(36_500),
        );
        let stamp = |at: chrono::DateTime<chrono::Utc>| at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
        let mode_name = match mode {
            AccountDeletion::Anonymise => "anonymise",
            AccountDeletion::Erase => "erase",
        };
        match self
            .store
            .delete_account(user.id, &unusable, mode_name, &stamp(now), &stamp(now + hold))
            .await
            .map_err(internal)?
        {
            AccountDeleted::Deleted { .. } => {}
            AccountDeleted::OnlyAdmin => return Err(only_admin()),
            AccountDeleted::NotFound => return Err(ApiError::Unauthenticated),
        }
        self.end_sockets_now(user.id).await;
        tracing::info!(user_id = user.id, mode = mode_name, "account deleted by its owner");
        // The account is gone (nothing it holds works any more); what follows tidies up after it,
        // each step on its own, so one failure leaves the rest done.
        let gone = PublicUser { is_admin: false, ..user.clone() };
        if mode == AccountDeletion::Erase {
            self.erase_messages(&gone).await;
        }
        self.leave_every_room(&gone).await;
        // Its unposted uploads expire with everyone's (`CHATTERBOX_UNPOSTED_UPLOAD_TTL_SECS`):
        // nobody else could read them, and nobody can post them any more.
        Ok(())
    }

    /// Closes this node's sockets of account `id` that its current record revokes (4001), without
    /// waiting for the account-change feed, which closes the other nodes' (and these, if this
    /// read fails).
    async fn end_sockets_now(&self, id: i64) {
        match self.store.user_by_id(id).await {
            Ok(current) => self.hub.enforce(id, current.as_ref()),
            Err(error) => tracing::warn!(user_id = id, %error, "sockets left to the account-change feed"),
        }
    }

    /// Deletes every message `user` sent that still shows its text, as its sender would (every
    /// reader is told), then forgets their earlier versions.
    async fn erase_messages(&self, user: &PublicUser) {
        let mut after = 0;
        loop {
            let ids = match self.store.standing_message_ids(user.id, after, ERASE_BATCH).await {
                Ok(ids) => ids,
                Err(error) => {
                    tracing::error!(user_id = user.id, %error, "erasing a deleted account's messages stopped");
                    return;
                }
            };
            let Some(&last) = ids.last() else { break };
            after = last;
            for id in ids {
                // As the sender, wherever it is (admin: the membership it may have left is no bar).
                let sender = PublicUser { is_admin: true, ..user.clone() };
                if let Err(error) = self.delete_message(&sender, id).await {
                    tracing::warn!(user_id = user.id, message_id = id, %error, "message of an erased account not deleted");
                }
            }
        }
        if let Err(error) = self.store.forget_versions_of(user.id).await {
            tracing::error!(user_id = user.id, %error, "earlier versions of an erased account's messages kept");
        }
    }

    /// Leaves every room `user` is in (`general` and DMs stay: they cannot be left).
    async fn leave_every_room(&self, user: &PublicUser) {
        let rooms = match self.store.rooms_of(user.id).await {
            Ok(rooms) => rooms,
            Err(error) => {
                tracing::error!(user_id = user.id, %error, "a deleted account's rooms not left");
                return;
            }
        };
        for room in rooms.iter().filter(|room| room.id != GENERAL_ROOM_ID && room.kind != RoomKind::Dm) {
            if let Some(seq) = self.store.remove_member(room.id, user.id, false, None).await.ok().flatten() {
                self.hub.changed(seq).await;
            }
        }
    }

    /// A page of the audit log for admins, newest first.
    pub async fn audit_page(
        &self,
        _admin: &super::admin::Admin,
        page: super::paging::Page,
    ) -> Result<Vec<AuditEntry>, ApiError> {
        self.store.audit_page(page.before, page.limit).await.map_err(internal)
    }
}

fn only_admin() -> ApiError {
    ApiError::Conflict { message: "you are the only admin: make someone else admin first".into() }
}
