//! The browser side of the conversations sidebar (WASM only): the REST calls (same-origin
//! fetches the session cookie authenticates) to list, create, browse, join and leave rooms, open
//! direct messages, list and invite members, page a conversation's history and move my read
//! marker, answer invitations; and the flows the page starts with them, which put the answers
//! into [`ChatState`] and a refused call's `error` text in front of the user.

use crate::chat_state::{ChatState, Feedback};
use crate::models::{ChatMessage, CreateRoom, Invitation, Member, ReadMarker, Room, RoomKind, UsernameBody};
use crate::protocol::{MEMBERS_PAGE, PUBLIC_ROOMS_PAGE};
use crate::rest_client::{answer, get, no_content, post};
use gloo_net::http::Request;
use leptos::prelude::*;
use leptos::task::spawn_local;
use std::cell::RefCell;
use std::collections::HashMap;

/// Pages of members read at most for one list (`MEMBERS_PAGE.max` each).
const MEMBER_PAGES: usize = 5;
/// A read marker waits this long so a burst of messages moves it once.
const READ_DEBOUNCE_MS: u32 = 300;

/// `GET /rooms`: my conversations.
pub async fn list() -> Result<Vec<Room>, String> {
    get("/rooms").await
}

/// `GET /rooms/public?after=&limit=`: the public rooms, joined or not, a page at a time (in id
/// order), up to [`BROWSE_MAX`]; by name for the list.
pub async fn public_rooms() -> Result<Vec<Room>, String> {
    let limit = PUBLIC_ROOMS_PAGE.max;
    let mut rooms: Vec<Room> = Vec::new();
    loop {
        let after = rooms.last().map_or(0, |room| room.id);
        let page: Vec<Room> = get(&format!("/rooms/public?after={after}&limit={limit}")).await?;
        let full = page.len() as i64 == limit;
        rooms.extend(page);
        if !full || rooms.len() >= BROWSE_MAX {
            break;
        }
    }
    rooms.sort_by_key(|room| room.name.to_lowercase());
    Ok(rooms)
}

/// The most public rooms the browser lists.
pub const BROWSE_MAX: usize = 5_000;

/// `POST /rooms`.
pub async fn create(body: &CreateRoom) -> Result<Room, String> {
    post("/rooms", body).await
}

/// `POST /dm`: the direct conversation with someone (the same one every time).
pub async fn open_dm(username: String) -> Result<Room, String> {
    post("/dm", &UsernameBody { username }).await
}

/// `POST /rooms/{id}/join`.
pub async fn join(room_id: i64) -> Result<Room, String> {
    answer(Request::post(&format!("/rooms/{room_id}/join")).send().await).await
}

/// `POST /rooms/{id}/leave`.
pub async fn leave(room_id: i64) -> Result<(), String> {
    no_content(Request::post(&format!("/rooms/{room_id}/leave")).send().await).await
}

/// `GET /rooms/{id}/members`, page after page (by username).
pub async fn members(room_id: i64) -> Result<Vec<Member>, String> {
    let limit = MEMBERS_PAGE.max;
    let mut all: Vec<Member> = Vec::new();
    for _ in 0..MEMBER_PAGES {
        let url = match all.last() {
            Some(last) => {
                let after = js_sys::encode_uri_component(&last.username);
                format!("/rooms/{room_id}/members?limit={limit}&after={after}")
            }
            None => format!("/rooms/{room_id}/members?limit={limit}"),
        };
        let page: Vec<Member> = get(&url).await?;
        let full = page.len() as i64 >= limit;
        all.extend(page);
        if !full {
            break;
        }
    }
    Ok(all)
}

/// `POST /rooms/{id}/members`: adds someone to a room.
pub async fn invite(room_id: i64, username: String) -> Result<Room, String> {
    post(&format!("/rooms/{room_id}/members"), &UsernameBody { username }).await
}

/// `POST /rooms/{id}/read`.
pub async fn mark_read(room_id: i64, last_read_id: i64) -> Result<(), String> {
    let request = Request::post(&format!("/rooms/{room_id}/read"))
        .json(&ReadMarker { last_read_id })
        .map_err(|_| "the request could not be made".to_owned())?;
    no_content(request.send().await).await
}

/// `GET /rooms/{id}/messages`: the newest messages of a conversation (newest first).
pub async fn newest(room_id: i64, limit: usize) -> Result<Vec<ChatMessage>, String> {
    get(&format!("/rooms/{room_id}/messages?limit={limit}")).await
}

/// `GET /rooms/{id}/messages?before=`: older messages of a conversation (newest first).
pub async fn older(room_id: i64, before: i64, limit: usize) -> Result<Vec<ChatMessage>, String> {
    get(&format!("/rooms/{room_id}/messages?before={before}&limit={limit}")).await
}

thread_local! {
    /// Per conversation: the read marker last sent (or being sent), and the newest one wanted.
    static READ: RefCell<HashMap<i64, ReadMarkerState>> = RefCell::new(HashMap::new());
    /// Whether a `GET /rooms` is under way (one at a time), and whether another is wanted.
    static REFETCH: RefCell<(bool, bool)> = const { RefCell::new((false, false)) };
}

#[derive(Default)]
struct ReadMarkerState {
    sent: i64,
    wanted: i64,
    busy: bool,
}

/// Moves my read marker in a conversation to `id`: at most one request at a time per
/// conversation, a burst coalesced into one.
pub fn read_up_to(room_id: i64, id: i64) {
    let start = READ.with(|all| {
        let mut all = all.borrow_mut();
        let entry = all.entry(room_id).or_default();
        entry.wanted = entry.wanted.max(id);
        if entry.busy || entry.wanted <= entry.sent {
            return false;
        }
        entry.busy = true;
        true
    });
    if !start {
        return;
    }
    spawn_local(async move {
        loop {
            gloo_timers::future::TimeoutFuture::new(READ_DEBOUNCE_MS).await;
            let wanted = READ.with(|all| all.borrow().get(&room_id).map_or(0, |e| e.wanted));
            let ok = mark_read(room_id, wanted).await.is_ok();
            let again = READ.with(|all| {
                let mut all = all.borrow_mut();
                let entry = all.entry(room_id).or_default();
                if ok {
                    entry.sent = entry.sent.max(wanted);
                }
                let again = ok && entry.wanted > entry.sent;
                entry.busy = again;
                again
            });
            if !again {
                return;
            }
        }
    });
}

/// Fetches my conversations again (a message came from one the list does not hold); one
/// request at a time, another after it when asked for meanwhile.
pub fn refetch(state: ChatState) {
    let start = REFETCH.with(|r| {
        let mut r = r.borrow_mut();
        if r.0 {
            r.1 = true;
            return false;
        }
        *r = (true, false);
        true
    });
    if !start {
        return;
    }
    spawn_local(async move {
        loop {
            if let Ok(rooms) = list().await {
                state.set_rooms(rooms);
                mark_current_read(state);
            }
            let again = REFETCH.with(|r| {
                let mut r = r.borrow_mut();
                let again = r.1;
                *r = (again, false);
                again
            });
            if !again {
                return;
            }
        }
    });
}

/// The conversation on screen is read: clear its count and move the marker.
pub fn mark_current_read(state: ChatState) {
    if let Some((room_id, id)) = state.read_current() {
        read_up_to(room_id, id);
    }
}

/// Runs a call, showing its error in `error` (cleared first), and `done` with its answer.
fn run<T: 'static>(
    error: RwSignal<Option<String>>,
    busy: RwSignal<bool>,
    call: impl std::future::Future<Output = Result<T, String>> + 'static,
    done: impl FnOnce(T) + 'static,
) {
    error.set(None);
    busy.set(true);
    spawn_local(async move {
        let outcome = call.await;
        busy.set(false);
        match outcome {
            Ok(value) => done(value),
            Err(text) => error.set(Some(text)),
        }
    });
}

/// Creates a room and switches to it; `done` after success (to close the form).
pub fn create_room(state: ChatState, name: String, kind: RoomKind, topic: String, ui: Feedback, done: Callback<()>) {
    let topic = (!topic.trim().is_empty()).then(|| topic.trim().to_owned());
    let body = CreateRoom { name: name.trim().to_owned(), kind, topic };
    run(ui.error, ui.busy, async move { create(&body).await }, move |room| {
        let id = room.id;
        state.upsert_room(room);
        crate::chat_client::select(state, id);
        done.run(());
    });
}

/// `GET /invitations`: the invitations waiting for my answer.
pub async fn invitations() -> Result<Vec<Invitation>, String> {
    get("/invitations").await
}

/// `DELETE /invitations/{room_id}`: declines.
pub async fn decline(room_id: i64) -> Result<(), String> {
    no_content(Request::delete(&format!("/invitations/{room_id}")).send().await).await
}

/// Reads the invitations waiting for me into the state (after each connection: one may have
/// come while I was away).
pub fn load_invitations(state: ChatState) {
    spawn_local(async move {
        if let Ok(waiting) = invitations().await {
            for invitation in waiting {
                state.add_invitation(invitation);
            }
        }
    });
}

/// Accepts an invitation (joining the room) and switches to it.
pub fn accept_invitation(state: ChatState, room_id: i64, ui: Feedback) {
    run(ui.error, ui.busy, join(room_id), move |room| {
        state.drop_invitation(room_id);
        state.upsert_room(room);
        crate::chat_client::select(state, room_id);
    });
}

/// Declines an invitation.
pub fn decline_invitation(state: ChatState, room_id: i64, ui: Feedback) {
    run(ui.error, ui.busy, decline(room_id), move |()| state.drop_invitation(room_id));
}

/// Opens (or finds) the direct conversation with `username` and switches to it.
pub fn message_someone(state: ChatState, username: String, ui: Feedback, done: Callback<()>) {
    let username = username.trim().to_owned();
    run(ui.error, ui.busy, open_dm(username), move |room| {
        let id = room.id;
        state.upsert_room(room);
        crate::chat_client::select(state, id);
        done.run(());
    });
}

/// Lists the public rooms into `into`.
pub fn browse(into: RwSignal<Option<Vec<Room>>>, ui: Feedback) {
    into.set(None);
    run(ui.error, ui.busy, public_rooms(), move |rooms| into.set(Some(rooms)));
}

/// Joins a public room and switches to it.
pub fn join_room(state: ChatState, room_id: i64, ui: Feedback, done: Callback<()>) {
    run(ui.error, ui.busy, join(room_id), move |room| {
        state.upsert_room(room);
        crate::chat_client::select(state, room_id);
        done.run(());
    });
}

/// Leaves a room (back to `general`).
pub fn leave_room(state: ChatState, room_id: i64, ui: Feedback) {
    run(ui.error, ui.busy, leave(room_id), move |()| state.remove_room(room_id));
}

/// Loads the members list of a conversation into the state.
pub fn load_members(state: ChatState, room_id: i64, ui: Feedback) {
    run(ui.error, ui.busy, members(room_id), move |members| {
        if state.current.get_untracked() == room_id {
            state.members.set(Some((room_id, members)));
        }
    });
}

/// Adds someone to a room; `done` after success (to clear the field).
pub fn invite_member(state: ChatState, room_id: i64, username: String, ui: Feedback, done: Callback<()>) {
    let username = username.trim().to_owned();
    run(ui.error, ui.busy, invite(room_id, username.clone()), move |room| {
        state.upsert_room(room);
        // The `member` frame usually arrives first; this covers a list opened after it.
        let missing = state.members.with_untracked(|open| {
            open.as_ref().is_some_and(|(id, list)| {
                *id == room_id && !list.iter().any(|m| m.username.eq_ignore_ascii_case(&username))
            })
        });
        if missing {
            load_members(state, room_id, ui);
        }
        done.run(());
    });
}
