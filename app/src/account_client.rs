//! The browser side of "Your account" (WASM only): changing the password, deleting the account,
//! and the admin console's audit log, over the REST routes (docs/api.md) the session cookie
//! authenticates. The export is a plain link (`GET /me/export`): the browser downloads it.

use crate::chat_state::Feedback;
use crate::models::{AuditEntry, ChangePasswordRequest, DeleteAccountRequest};
use crate::rest_client::{get, no_content};
use gloo_net::http::Request;
use leptos::prelude::*;
use leptos::task::spawn_local;

/// `POST /me/password`; the server renews this page's session cookie.
pub fn change_password(request: ChangePasswordRequest, done: RwSignal<bool>, ui: Feedback) {
    ui.busy.set(true);
    ui.error.set(None);
    spawn_local(async move {
        let sent = match Request::post("/me/password").json(&request) {
            Ok(request) => no_content(request.send().await).await,
            Err(_) => Err("the request could not be made".to_owned()),
        };
        ui.busy.set(false);
        match sent {
            Ok(()) => done.set(true),
            Err(error) => ui.error.set(Some(error)),
        }
    });
}

/// `DELETE /me`; once deleted, the browser goes to the login page.
pub fn delete_account(request: DeleteAccountRequest, ui: Feedback) {
    ui.busy.set(true);
    ui.error.set(None);
    spawn_local(async move {
        let sent = match Request::delete("/me").json(&request) {
            Ok(request) => no_content(request.send().await).await,
            Err(_) => Err("the request could not be made".to_owned()),
        };
        ui.busy.set(false);
        match sent {
            Ok(()) => {
                if let Some(window) = web_sys::window() {
                    let _ = window.location().set_href("/login?deleted=1");
                }
            }
            Err(error) => ui.error.set(Some(error)),
        }
    });
}

/// Fills `entries` with the newest page of the audit log.
pub fn load_audit(entries: RwSignal<Option<Vec<AuditEntry>>>, ui: Feedback) {
    spawn_local(async move {
        match get::<Vec<AuditEntry>>("/admin/audit?limit=100").await {
            Ok(list) => entries.set(Some(list)),
            Err(error) => ui.error.set(Some(error)),
        }
    });
}
