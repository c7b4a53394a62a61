//! The browser side of trust and safety (WASM only): reporting a message, my standing, a blocked
//! person's appeal, and the admin console's review queue and appeals, over the REST routes
//! (docs/api.md) the session cookie authenticates.

use crate::chat_state::Feedback;
use crate::models::{
    Appeal, AppealCreated, AppealDecision, AppealRequest, ReasonBody, ReviewDecision, ReviewItem, Standing,
};
use crate::rest_client::{get, no_content, post};
use gloo_net::http::Request;
use leptos::prelude::*;
use leptos::task::spawn_local;

/// `POST /messages/{id}/report`.
pub async fn report(id: i64, reason: Option<String>) -> Result<(), String> {
    let request = Request::post(&format!("/messages/{id}/report"))
        .json(&ReasonBody { reason })
        .map_err(|_| "the request could not be made".to_owned())?;
    no_content(request.send().await).await
}

/// `GET /me/standing`.
pub async fn standing() -> Result<Standing, String> {
    get("/me/standing").await
}

/// `POST /appeals`.
pub async fn appeal(request: &AppealRequest) -> Result<AppealCreated, String> {
    post("/appeals", request).await
}

/// `GET /admin/review`: the open items, front of the queue first.
pub async fn review_items() -> Result<Vec<ReviewItem>, String> {
    get("/admin/review").await
}

/// `POST /admin/review/{id}`.
pub async fn decide(id: i64, action: &str, reason: Option<String>) -> Result<ReviewItem, String> {
    post(&format!("/admin/review/{id}"), &ReviewDecision { action: action.to_owned(), reason }).await
}

/// `GET /admin/appeals?state=open`.
pub async fn open_appeals() -> Result<Vec<Appeal>, String> {
    get("/admin/appeals?state=open").await
}

/// `POST /admin/appeals/{id}`.
pub async fn decide_appeal(id: i64, decision: &str, reason: Option<String>) -> Result<Appeal, String> {
    post(&format!("/admin/appeals/{id}"), &AppealDecision { decision: decision.to_owned(), reason }).await
}

/// Fills `items` with the open review items (`loaded` once they are there).
pub fn load_review(items: RwSignal<Vec<ReviewItem>>, loaded: RwSignal<bool>, ui: Feedback) {
    spawn_local(async move {
        match review_items().await {
            Ok(list) => {
                items.set(list);
                loaded.set(true);
            }
            Err(error) => ui.error.set(Some(error)),
        }
    });
}

/// Decides review item `id` (`approve`, `remove`, `strike`); it leaves the list once decided.
pub fn decide_item(items: RwSignal<Vec<ReviewItem>>, id: i64, action: &'static str, reason: String, ui: Feedback) {
    ui.busy.set(true);
    ui.error.set(None);
    spawn_local(async move {
        let reason = Some(reason).filter(|r| !r.trim().is_empty());
        match decide(id, action, reason).await {
            Ok(_) => items.update(|list| list.retain(|item| item.id != id)),
            Err(error) => ui.error.set(Some(error)),
        }
        ui.busy.set(false);
    });
}

/// Fills `appeals` with the open appeals (`loaded` once they are there).
pub fn load_appeals(appeals: RwSignal<Vec<Appeal>>, loaded: RwSignal<bool>, ui: Feedback) {
    spawn_local(async move {
        match open_appeals().await {
            Ok(list) => {
                appeals.set(list);
                loaded.set(true);
            }
            Err(error) => ui.error.set(Some(error)),
        }
    });
}

/// Decides appeal `id` (`accept`, `reject`); it leaves the list once decided.
pub fn decide_appeal_of(appeals: RwSignal<Vec<Appeal>>, id: i64, decision: &'static str, reason: String, ui: Feedback) {
    ui.busy.set(true);
    ui.error.set(None);
    spawn_local(async move {
        let reason = Some(reason).filter(|r| !r.trim().is_empty());
        match decide_appeal(id, decision, reason).await {
            Ok(_) => appeals.update(|list| list.retain(|appeal| appeal.id != id)),
            Err(error) => ui.error.set(Some(error)),
        }
        ui.busy.set(false);
    });
}

/// Sends a blocked person's appeal; `sent` says so once the server took it.
pub fn send_appeal(request: AppealRequest, sent: RwSignal<bool>, ui: Feedback) {
    ui.busy.set(true);
    ui.error.set(None);
    spawn_local(async move {
        match appeal(&request).await {
            Ok(_) => sent.set(true),
            Err(error) => ui.error.set(Some(error)),
        }
        ui.busy.set(false);
    });
}

/// Reports message `id`; `done` says so once the server took it.
pub fn send_report(id: i64, done: RwSignal<bool>, ui: Feedback) {
    ui.error.set(None);
    spawn_local(async move {
        match report(id, None).await {
            Ok(()) => done.set(true),
            Err(error) => ui.error.set(Some(error)),
        }
    });
}

/// Fills `standing` with where my account stands.
pub fn load_standing(standing: RwSignal<Option<Standing>>, ui: Feedback) {
    spawn_local(async move {
        match self::standing().await {
            Ok(found) => standing.set(Some(found)),
            Err(error) => ui.error.set(Some(error)),
        }
    });
}
