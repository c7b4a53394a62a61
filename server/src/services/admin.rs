//! Admin use cases, shared by the `/admin/...` REST routes and the admin page's server functions
//! (one path, one paging rule). Each takes an [`Admin`]: the proof, made only by
//! [`Services::require_admin`], that the caller's role was read from the database for this
//! request.

use super::export::csv_download;
use super::paging::Page;
use super::{internal, Services};
use app::error::ApiError;
use app::models::{AdminMessage, AdminOverview, ModerationEntry, PublicUser};
use axum::response::Response;
use futures::FutureExt;

/// A user checked to be an admin, from the database, for the request at hand.
#[derive(Debug, Clone)]
pub struct Admin(PublicUser);

impl Admin {
    pub fn user(&self) -> &PublicUser {
        &self.0
    }
}

impl Services {
    /// The admin a token belongs to: 401 without a valid session, 403 `AdminOnly` for a member.
    pub async fn require_admin(&self, token: &str) -> Result<Admin, ApiError> {
        let user = self.user_for_token(token).await?;
        if user.is_admin {
            Ok(Admin(user))
        } else {
            Err(ApiError::AdminOnly)
        }
    }

    pub async fn overview_for(&self, _admin: &Admin) -> Result<AdminOverview, ApiError> {
        self.store.overview().await.map_err(internal)
    }

    /// Users in id order, after `page.after` (the last id of the previous page).
    pub async fn users_page(
        &self,
        _admin: &Admin,
        blocked_only: bool,
        page: Page,
    ) -> Result<Vec<PublicUser>, ApiError> {
        self.store.list_users(blocked_only, page.after, page.limit).await.map_err(internal)
    }

    /// Messages, newest first, before `page.before`.
    pub async fn messages_page(&self, _admin: &Admin, page: Page) -> Result<Vec<AdminMessage>, ApiError> {
        self.store.admin_messages(page.before, page.limit).await.map_err(internal)
    }

    /// The moderation log, newest first, before `page.before`.
    pub async fn moderation_page(&self, _admin: &Admin, page: Page) -> Result<Vec<ModerationEntry>, ApiError> {
        self.store.moderation_log(page.before, page.limit).await.map_err(internal)
    }

    /// Blocks (closing the user's sockets: `blocked` and 1008; revoking tokens) or unblocks
    /// (resetting warnings) a user, audited under `admin`.
    pub async fn set_blocked(&self, admin: &Admin, user_id: i64, blocked: bool) -> Result<PublicUser, ApiError> {
        let admin_id = admin.user().id;
        if blocked && admin_id == user_id {
            return Err(ApiError::BadRequest { message: "admins cannot block themselves".into() });
        }
        let user = self
            .store
            .set_blocked_by_admin(admin_id, user_id, blocked)
            .await
            .map_err(internal)?
            .ok_or(ApiError::NotFound)?;
        if blocked {
            self.hub.disconnect_user(user_id);
        }
        tracing::info!(admin_id, user_id, blocked, "admin changed block state");
        Ok(user)
    }

    /// Every user as a CSV download, streamed by pages; 429 while `max_exports` downloads stream.
    pub fn download_users(&self, _admin: &Admin) -> Response {
        let store = self.store.clone();
        csv_download(self, "chatterbox-users.csv", move |after, limit| {
            let store = store.clone();
            async move { store.users_after(after, limit).await }.boxed()
        })
    }

    /// Every message, oldest first, as a CSV download (as [`Services::download_users`]).
    pub fn download_messages(&self, _admin: &Admin) -> Response {
        let store = self.store.clone();
        csv_download(self, "chatterbox-messages.csv", move |after, limit| {
            let store = store.clone();
            async move { store.admin_messages_after(after, limit).await }.boxed()
        })
    }
}
