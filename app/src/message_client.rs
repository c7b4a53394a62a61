//! The browser side of the message actions (WASM only): the REST calls (same-origin fetches the
//! session cookie authenticates) to edit and delete a message, react to it, search messages,
//! list a conversation's members for `@` completion (cached per conversation) and read a
//! message's versions (admins); and the flows the page starts with them, which put the answers
//! into [`ChatState`] and a refused call's `error` text in front of the user, and jump to a
//! message (switching conversation and loading older history until it is there, then flashing
//! it).

use crate::chat_client;
use crate::chat_state::{toggled_reaction, ChatState, Feedback};
use crate::models::{ChatMessage, EditMessage, MessageVersions, SearchResults};
use crate::protocol::SEARCH_PAGE;
use crate::rest_client::{answer, get, no_content};
use crate::rooms_client;
use gloo_net::http::Request;
use leptos::prelude::*;
use leptos::task::spawn_local;
use std::cell::RefCell;
use std::collections::HashMap;

/// How long a message jumped to stays flashed.
const FLASH_MS: u32 = 2_000;
/// Most pages of older history a jump loads looking for its message.
const JUMP_MAX_PAGES: usize = 40;

/// `PATCH /messages/{id}`: the message as it is after the edit.
pub async fn edit(id: i64, content: String) -> Result<ChatMessage, String> {
    let request = Request::patch(&format!("/messages/{id}"))
        .json(&EditMessage { content })
        .map_err(|_| "the request could not be made".to_owned())?;
    answer(request.send().await).await
}

/// `DELETE /messages/{id}`.
pub async fn delete(id: i64) -> Result<(), String> {
    no_content(Request::delete(&format!("/messages/{id}")).send().await).await
}

/// `PUT /messages/{id}/reactions/{emoji}` (`add`), else `DELETE` it.
pub async fn react(id: i64, emoji: &str, add: bool) -> Result<(), String> {
    let url = format!("/messages/{id}/reactions/{}", js_sys::encode_uri_component(emoji));
    let request = if add { Request::put(&url) } else { Request::delete(&url) };
    no_content(request.send().await).await
}

/// What a search asks for: the query, whether public rooms I am not in count, and the cursor
/// of a further page (the last result's id).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SearchRequest {
    pub query: String,
    pub include_public: bool,
    pub before: Option<i64>,
}

/// `GET /search?q=&limit=&before=&scope=public`: newest first.
pub async fn search(request: &SearchRequest) -> Result<SearchResults, String> {
    let mut url = format!("/search?q={}&limit={}", js_sys::encode_uri_component(&request.query), SEARCH_PAGE.default);
    if let Some(before) = request.before {
        url.push_str(&format!("&before={before}"));
    }
    if request.include_public {
        url.push_str("&scope=public");
    }
    get(&url).await
}

/// `GET /admin/messages/{id}/versions`.
pub async fn versions(id: i64) -> Result<MessageVersions, String> {
    get(&format!("/admin/messages/{id}/versions")).await
}

thread_local! {
    /// The usernames of each conversation's members, as first read (for `@` completion).
    static MEMBER_NAMES: RefCell<HashMap<i64, Vec<String>>> = RefCell::new(HashMap::new());
}

/// The usernames of a conversation's members, read once per conversation and page.
pub async fn member_names(room_id: i64) -> Result<Vec<String>, String> {
    if let Some(known) = MEMBER_NAMES.with(|all| all.borrow().get(&room_id).cloned()) {
        return Ok(known);
    }
    let names: Vec<String> = rooms_client::members(room_id).await?.into_iter().map(|m| m.username).collect();
    MEMBER_NAMES.with(|all| all.borrow_mut().insert(room_id, names.clone()));
    Ok(names)
}

/// Runs a call, showing its error in `ui` (cleared first), and `done` with its answer.
fn run<T: 'static>(
    ui: Feedback,
    call: impl std::future::Future<Output = Result<T, String>> + 'static,
    done: impl FnOnce(T) + 'static,
) {
    ui.error.set(None);
    ui.busy.set(true);
    spawn_local(async move {
        let outcome = call.await;
        ui.busy.set(false);
        match outcome {
            Ok(value) => done(value),
            Err(text) => ui.error.set(Some(text)),
        }
    });
}

/// Saves an edit made in place; the bubble leaves edit mode once the server took it.
pub fn save_edit(state: ChatState, id: i64, content: String, ui: Feedback) {
    run(ui, edit(id, content), move |message| {
        state.apply_edit(message);
        if state.editing.get_untracked() == Some(id) {
            state.editing.set(None);
        }
    });
}

/// Deletes a message (confirmed by then); shown as deleted at once.
pub fn delete_message(state: ChatState, room_id: i64, id: i64, ui: Feedback) {
    run(ui, delete(id), move |()| {
        state.apply_deletion(room_id, id);
    });
}

/// Adds my reaction with `emoji`, or takes it back if it is there. Shown once the server took
/// it, unless the `reaction` frame (which carries the exact count) already showed it.
pub fn toggle_reaction(state: ChatState, room_id: i64, id: i64, emoji: String, ui: Feedback) {
    let Some(message) = state.message(room_id, id) else { return };
    let (add, count) = toggled_reaction(&message.reactions, &emoji);
    run(ui, async move { react(id, &emoji, add).await.map(|()| emoji) }, move |emoji| {
        let shown = state.message(room_id, id).is_some_and(|now| {
            let mine = now.reactions.iter().any(|r| r.emoji == emoji && r.me);
            mine == add
        });
        if !shown {
            let me = state.me.with_value(|me| me.username.clone());
            state.apply_reaction(room_id, id, &emoji, &me, add, count);
        }
    });
}

/// Runs a search into `results` (a further page is appended); `more` says whether a full page
/// came back.
pub fn run_search(request: SearchRequest, results: RwSignal<Vec<ChatMessage>>, more: RwSignal<bool>, ui: Feedback) {
    let further = request.before.is_some();
    run(ui, async move { search(&request).await }, move |found| {
        more.set(found.results.len() as i64 >= SEARCH_PAGE.default);
        if further {
            results.update(|list| list.extend(found.results));
        } else {
            results.set(found.results);
        }
    });
}

/// Reads a message's versions into `into` (admins).
pub fn load_versions(id: i64, into: RwSignal<Option<MessageVersions>>, ui: Feedback) {
    run(ui, versions(id), move |found| into.set(Some(found)));
}

/// Opens a message's conversation and shows the message: older pages are loaded until it is
/// there, then it is scrolled to and flashed.
pub fn jump_to(state: ChatState, room_id: i64, id: i64) {
    chat_client::select(state, room_id);
    spawn_local(async move {
        for _ in 0..JUMP_MAX_PAGES {
            if state.message(room_id, id).is_some() || state.current.get_untracked() != room_id {
                break;
            }
            if !chat_client::load_more_history(state, room_id).await {
                break;
            }
        }
        if state.message(room_id, id).is_some() {
            // After the list has drawn it (and after `select`'s scroll to the bottom).
            gloo_timers::future::TimeoutFuture::new(50).await;
            request_animation_frame(move || {
                show_message(state, id);
            });
        } else {
            state.banner.set(Some(("That message could not be found in its conversation.".into(), false)));
        }
    });
}

/// Scrolls the list to a loaded message of the conversation on screen and flashes it; false
/// when it is not on screen.
pub fn show_message(state: ChatState, id: i64) -> bool {
    let selector = format!("#messages li[data-id=\"{id}\"]");
    let Ok(Some(element)) = document().query_selector(&selector) else { return false };
    let options = web_sys::ScrollIntoViewOptions::new();
    options.set_behavior(web_sys::ScrollBehavior::Smooth);
    options.set_block(web_sys::ScrollLogicalPosition::Center);
    element.scroll_into_view_with_scroll_into_view_options(&options);
    state.flashing.set(Some(id));
    spawn_local(async move {
        gloo_timers::future::TimeoutFuture::new(FLASH_MS).await;
        if state.flashing.get_untracked() == Some(id) {
            state.flashing.set(None);
        }
    });
    true
}
