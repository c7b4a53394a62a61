//! The browser side of the chat (WASM only): the WebSocket connection with automatic reconnect,
//! exponential backoff and `since` catch-up (continued over HTTP when the catch-up frame says
//! `more`); sending with a `client_id` so a retry after a reconnect is stored once; the session
//! renewed before it expires, and the close codes of an ended session or a changed role acted
//! on; auto-scroll that leaves a reader of older messages alone; loading older history on
//! scroll-up; and the conversations' live frames (the list, presence, members, unread and
//! mention counts, message edits, deletions and reactions, a reconnect's `changes` resumed from
//! the change cursor), switching conversations and asking for a conversation's history the
//! first time it is shown, and the browser notifications of live messages. A message's files
//! (uploaded first, `upload_client`) go with it as their ids.

use crate::chat_state::{AfterMessage, ChatState, Link, Pending};
use crate::error::ApiError;
use crate::models::{Attachment, ChatMessage, ClientFrame, Invitation, ServerFrame};
use crate::notifier;
use crate::protocol::{close_codes, GENERAL_ROOM_ID, HISTORY_PAGE, TYPING_RESEND_MS, TYPING_SHOWN_MS};
use crate::rooms_client;
use futures::channel::mpsc::{unbounded, UnboundedSender};
use futures::future::{abortable, AbortHandle};
use futures::{SinkExt, StreamExt};
use gloo_net::websocket::{futures::WebSocket, Message, WebSocketError};
use leptos::prelude::*;
use leptos::task::spawn_local;
use std::cell::RefCell;

thread_local! {
    /// Frames to the open socket, if any.
    static OUTBOX: RefCell<Option<UnboundedSender<String>>> = const { RefCell::new(None) };
    /// The page's connection loop and session renewal loop, while a chat view is mounted.
    static RUNNING: RefCell<Option<[AbortHandle; 2]>> = const { RefCell::new(None) };
    /// Conversations whose history was asked for on the open socket.
    static HISTORY_ASKED: RefCell<std::collections::HashSet<i64>> = RefCell::new(Default::default());
}

/// A reader this close to the bottom is following the conversation and gets auto-scrolled.
const FOLLOW_SLACK_PX: i32 = 80;
/// Older messages asked for at a time on scroll-up.
const OLDER_PAGE: usize = HISTORY_PAGE.default as usize;
/// Messages per request when a catch-up continues over HTTP (the server's page maximum).
const AFTER_PAGE: usize = HISTORY_PAGE.max as usize;
/// Shortest wait between two session renewals.
const MIN_RENEW_SECS: u64 = 1;
/// Wait before trying again a renewal that failed for another reason than the session's end.
const RENEW_RETRY_SECS: u64 = 15;
/// Tries of one page of a catch-up continued over HTTP.
const GAP_TRIES: u32 = 6;

/// Starts the connection and the session renewal for a mounted chat view; both stop when the
/// view is unmounted (an in-app navigation), so one page never runs two of either.
pub fn start(state: ChatState) {
    stop();
    let (connection, connection_handle) = abortable(connect_and_stay(state));
    let (renewal, renewal_handle) = abortable(keep_session_alive());
    spawn_local(async move {
        let _ = connection.await;
    });
    spawn_local(async move {
        let _ = renewal.await;
    });
    RUNNING.with(|running| *running.borrow_mut() = Some([connection_handle, renewal_handle]));
    on_cleanup(stop);
}

/// The user is signing out: stops the connection and the renewal first, so the socket the
/// logout closes (its session revoked) is not taken for a session that ended on its own and
/// answered with a trip to the login page of its own, racing the logout's redirect.
pub fn leave() {
    stop();
}

/// Stops the loops [`start`] started, closing the socket.
fn stop() {
    if let Some(handles) = RUNNING.with(|running| running.borrow_mut().take()) {
        handles.iter().for_each(AbortHandle::abort);
    }
    // Ends the socket's writer task, which drops (and so closes) the socket.
    OUTBOX.with(|o| o.borrow_mut().take());
}

/// Whether a failed renewal means the session is over (rather than a passing failure).
fn session_is_over(error: &ApiError) -> bool {
    matches!(error, ApiError::Unauthenticated | ApiError::Blocked)
}

/// Keeps the page connected until the account is blocked, the session ends or the role changes.
async fn connect_and_stay(state: ChatState) {
    let mut attempt: u32 = 0;
    loop {
        state.link.set(Link::Connecting);
        let outcome = run_connection(state, &mut attempt).await;
        OUTBOX.with(|o| o.borrow_mut().take());
        state.link.set(Link::Closed);
        match outcome {
            Disconnect::Blocked => return go_to("/login?error=blocked"),
            Disconnect::RoleChanged => return reload(),
            Disconnect::SessionEnded => {
                // The socket's token expired; a session still in force renews and goes on.
                match crate::api::renew_session().await {
                    Ok(_) => {
                        attempt = 0;
                        continue;
                    }
                    Err(error) if session_is_over(&error) => return go_to("/login?error=session_ended"),
                    // A passing failure (a restart, the network): retry as after a drop.
                    Err(_) => {}
                }
            }
            Disconnect::Retry => {}
        }
        if attempt >= 2 && matches!(crate::api::current_user().await, Ok(None)) {
            // The session is gone (expired or revoked): back to the login page.
            return go_to("/login");
        }
        attempt = attempt.saturating_add(1);
        gloo_timers::future::sleep(backoff(attempt)).await;
    }
}

enum Disconnect {
    Retry,
    Blocked,
    SessionEnded,
    RoleChanged,
}

/// Renews the session cookie now and again before it expires, for as long as the view is
/// mounted and the session may be renewed (the server stops at the session's maximum age); a
/// passing failure is tried again.
async fn keep_session_alive() {
    loop {
        let wait = match crate::api::renew_session().await {
            Ok(expires_in) => (expires_in / 2).max(MIN_RENEW_SECS),
            Err(error) if session_is_over(&error) => return,
            Err(_) => RENEW_RETRY_SECS,
        };
        gloo_timers::future::sleep(std::time::Duration::from_secs(wait)).await;
    }
}

/// 0.5 s doubling up to 15 s, with jitter so reconnecting clients spread out.
fn backoff(attempt: u32) -> std::time::Duration {
    let base = 500.0 * 2f64.powi(attempt.min(5) as i32);
    let jitter = 0.75 + js_sys::Math::random() * 0.5;
    std::time::Duration::from_millis((base.min(15_000.0) * jitter) as u64)
}

async fn run_connection(state: ChatState, attempt: &mut u32) -> Disconnect {
    let since = state.last_message_id();
    let Ok(socket) = WebSocket::open(&socket_url(since, state.change_cursor())) else {
        return Disconnect::Retry;
    };
    let (mut sink, mut stream) = socket.split();
    let (tx, mut rx) = unbounded::<String>();
    spawn_local(async move {
        while let Some(text) = rx.next().await {
            if sink.send(Message::Text(text)).await.is_err() {
                break;
            }
        }
    });
    let mut opened = false;
    while let Some(item) = stream.next().await {
        match item {
            Ok(Message::Text(text)) => {
                // The first frame of a connection without `since` is general's newest page.
                let fresh = !opened && since.is_none();
                if !opened {
                    // The first frame (history) proves the socket is up: resend what is pending.
                    opened = true;
                    *attempt = 0;
                    state.link.set(Link::Open);
                    for (room_id, pending) in state.all_pending() {
                        let _ = tx.unbounded_send(frame_for(room_id, &pending));
                    }
                    OUTBOX.with(|o| *o.borrow_mut() = Some(tx.clone()));
                    HISTORY_ASKED.with(|asked| asked.borrow_mut().clear());
                    let current = state.current.get_untracked();
                    if current != GENERAL_ROOM_ID {
                        ask_history(state, current);
                    }
                }
                if on_frame(state, &text, fresh) {
                    return Disconnect::Blocked;
                }
            }
            Ok(Message::Bytes(_)) => {}
            Err(WebSocketError::ConnectionClose(event)) => {
                return match event.code {
                    close_codes::BLOCKED => Disconnect::Blocked,
                    close_codes::SESSION_ENDED => Disconnect::SessionEnded,
                    close_codes::ROLE_CHANGED => Disconnect::RoleChanged,
                    _ => Disconnect::Retry,
                };
            }
            Err(_) => break,
        }
    }
    Disconnect::Retry
}

/// `/ws`, with `since` (the newest message held) and `changes` (the change cursor: edits,
/// deletions and reactions to the messages held, made meanwhile, come in a `changes` frame) on a
/// reconnect.
fn socket_url(since: Option<i64>, changes: i64) -> String {
    let location = window().location();
    let scheme = if location.protocol().unwrap_or_default() == "https:" { "wss" } else { "ws" };
    let host = location.host().unwrap_or_default();
    match since {
        Some(last) => format!("{scheme}://{host}/ws?since={last}&changes={changes}"),
        None => format!("{scheme}://{host}/ws"),
    }
}

/// Applies one server frame (`fresh`: the first of a connection without `since`); true when the
/// account was blocked.
fn on_frame(state: ChatState, text: &str, fresh: bool) -> bool {
    let Ok(frame) = serde_json::from_str::<ServerFrame>(text) else {
        return false;
    };
    match frame {
        ServerFrame::History { room_id, messages, more } => match room_id.or(fresh.then_some(GENERAL_ROOM_ID)) {
            // One conversation's newest page (or an older one): `more` says older ones remain.
            Some(room_id) => {
                let room = state.conversation(room_id);
                if !room.loaded.get_untracked() {
                    if room.messages.with_untracked(Vec::is_empty) {
                        // The newest page may hold fewer than a page of large messages: ask
                        // until a page comes back short.
                        room.more_older.set(!messages.is_empty());
                    }
                    room.loaded.set(true);
                }
                if state.current.get_untracked() == room_id {
                    add_messages(state, messages, true);
                    rooms_client::mark_current_read(state);
                } else {
                    state.merge(messages);
                }
            }
            // A `since` catch-up over every conversation: `more` says newer ones remain.
            None => {
                let last = messages.last().map(|m| m.id);
                add_messages(state, messages, true);
                if let (true, Some(last)) = (more, last) {
                    spawn_local(fill_gap(state, last));
                }
            }
        },
        ServerFrame::Message(message) => {
            // Whoever sent it has stopped typing it.
            state.conversation(message.room_id).stop_typing(&message.username);
            let on_screen = state.current.get_untracked() == message.room_id;
            let follow = on_screen && is_near_bottom(state);
            let added = state.merge(vec![message.clone()]) > 0;
            if follow {
                scroll_to_bottom_soon(state);
            }
            if added {
                notify_if_wanted(state, &message);
            }
            match state.after_live_message(&message, added) {
                AfterMessage::MarkRead(room_id, id) => rooms_client::read_up_to(room_id, id),
                AfterMessage::Refetch => rooms_client::refetch(state),
                AfterMessage::Nothing => {}
            }
        }
        ServerFrame::Rooms { rooms, online, changes, .. } => {
            state.note_change(changes);
            state.set_online(online);
            state.set_rooms(rooms);
            rooms_client::mark_current_read(state);
            rooms_client::load_invitations(state);
        }
        ServerFrame::Invitation { room, inviter } => state.add_invitation(Invitation { room, inviter }),
        ServerFrame::Presence { username, online } => state.set_presence(username, online),
        ServerFrame::PresenceSummary { online: Some(online), .. } => state.set_online(online),
        ServerFrame::PresenceSummary { online: None, .. } => {}
        ServerFrame::Room { room } => state.upsert_room(room),
        ServerFrame::RoomLeft { room_id, reason } => {
            let name = state.room(room_id).map(|r| r.name);
            state.remove_room(room_id);
            if let (Some(name), "removed") = (name, reason.as_str()) {
                state.banner.set(Some((format!("You were removed from {name}."), false)));
            }
        }
        ServerFrame::Member { room_id, username, joined, member_count } => {
            state.member_changed(room_id, username, joined, member_count)
        }
        ServerFrame::Typing { room_id, username } => show_typing(state, room_id, username),
        ServerFrame::Removed { id, room_id } => state.remove_message(room_id, id),
        ServerFrame::Held { client_id, .. } => {
            drop_pending(state, client_id);
            state.banner.set(Some(("Your message is waiting for a moderator's review.".into(), false)));
        }
        ServerFrame::Error { message, client_id } => {
            drop_pending(state, client_id);
            state.banner.set(Some((message, true)));
        }
        ServerFrame::Warning { warning_count, max_warnings, message, client_id } => {
            drop_pending(state, client_id);
            state.banner.set(Some((format!("Warning {warning_count} of {max_warnings}: {message}"), false)));
        }
        ServerFrame::Blocked { message } => {
            state.banner.set(Some((message, true)));
            return true;
        }
        ServerFrame::Edited { message, change } => {
            state.note_change(change);
            state.apply_edit(message);
        }
        ServerFrame::Deleted { id, room_id, change } => {
            state.note_change(change);
            state.apply_deletion(room_id, id);
            notifier::close(id);
        }
        ServerFrame::Reaction { id, room_id, emoji, username, added, count, change } => {
            state.note_change(change);
            state.apply_reaction(room_id, id, &emoji, &username, added, count);
        }
        ServerFrame::Changes { messages, change, more } => {
            state.note_change(change);
            for gone in messages.iter().filter(|m| m.deleted || m.removed) {
                notifier::close(gone.id);
            }
            state.apply_changes(messages);
            if more {
                reload_histories(state);
            }
        }
    }
    false
}

/// Too many changes to catch up with: the conversation on screen reads its history again (the
/// others when next shown).
fn reload_histories(state: ChatState) {
    let current = state.forget_histories();
    HISTORY_ASKED.with(|asked| asked.borrow_mut().clear());
    ask_history(state, current);
}

/// Shows a browser notification for a live message that mentions me or arrives in a direct
/// message, while the page is hidden and notifications are allowed; clicking it opens the
/// conversation.
fn notify_if_wanted(state: ChatState, message: &ChatMessage) {
    if !notifier::can_notify() {
        return;
    }
    if let Some(notice) = state.notice_for(message) {
        let room_id = notice.room_id;
        notifier::show(&notice, move || select(state, room_id));
    }
}

/// Forgets a pending message the server refused (it must not be resent on reconnect).
fn drop_pending(state: ChatState, client_id: Option<String>) {
    if let Some(id) = client_id {
        state.drop_pending(&id);
    }
}

/// Shows another conversation: asks for its history the first time, marks it read, and
/// scrolls to its newest message.
pub fn select(state: ChatState, room_id: i64) {
    if state.current.get_untracked() != room_id {
        state.members.set(None);
        state.current.set(room_id);
        // The next keystroke is typing in this conversation.
        TYPING_SENT_AT.with(|at| at.set(0.0));
    }
    if !state.conversation(room_id).loaded.get_untracked() {
        ask_history(state, room_id);
    }
    rooms_client::mark_current_read(state);
    scroll_to_bottom_soon(state);
}

/// Asks the open socket for a conversation's newest messages, once per connection.
fn ask_history(state: ChatState, room_id: i64) {
    if state.conversation(room_id).loaded.get_untracked() {
        return;
    }
    let Ok(text) = serde_json::to_string(&ClientFrame::History { room_id, before: None }) else { return };
    OUTBOX.with(|o| {
        if let Some(tx) = o.borrow().as_ref() {
            if HISTORY_ASKED.with(|asked| asked.borrow_mut().insert(room_id)) {
                let _ = tx.unbounded_send(text);
            }
        }
    });
}

/// Merges messages and scrolls to the bottom if the reader was there (or on first load).
fn add_messages(state: ChatState, messages: Vec<ChatMessage>, force: bool) {
    let follow = force || is_near_bottom(state);
    state.merge(messages);
    if follow {
        scroll_to_bottom_soon(state);
    }
}

fn is_near_bottom(state: ChatState) -> bool {
    state
        .list
        .get_untracked()
        .is_none_or(|list| list.scroll_height() - list.scroll_top() - list.client_height() < FOLLOW_SLACK_PX)
}

fn scroll_to_bottom_soon(state: ChatState) {
    request_animation_frame(move || {
        if let Some(list) = state.list.get_untracked() {
            list.set_scroll_top(list.scroll_height());
        }
    });
}

/// Shows "… is typing" for `username` in a conversation, for [`TYPING_SHOWN_MS`] unless a new
/// `typing` frame renews it.
fn show_typing(state: ChatState, room_id: i64, username: String) {
    let until = js_sys::Date::now() + f64::from(TYPING_SHOWN_MS);
    let conversation = state.conversation(room_id);
    conversation.start_typing(username, until);
    spawn_local(async move {
        gloo_timers::future::TimeoutFuture::new(TYPING_SHOWN_MS + 50).await;
        conversation.expire_typing(js_sys::Date::now());
    });
}

thread_local! {
    /// When this page last told the server its user is typing (ms since the epoch).
    static TYPING_SENT_AT: std::cell::Cell<f64> = const { std::cell::Cell::new(0.0) };
}

/// The user is typing in the conversation on screen: tell the others, at most every
/// [`TYPING_RESEND_MS`].
pub fn typing(state: ChatState) {
    let now = js_sys::Date::now();
    if now - TYPING_SENT_AT.with(std::cell::Cell::get) < f64::from(TYPING_RESEND_MS) {
        return;
    }
    TYPING_SENT_AT.with(|at| at.set(now));
    let frame = ClientFrame::Typing { room_id: Some(state.current.get_untracked()) };
    OUTBOX.with(|o| {
        if let (Some(tx), Ok(text)) = (o.borrow().as_ref(), serde_json::to_string(&frame)) {
            let _ = tx.unbounded_send(text);
        }
    });
}

/// Queues a message (with the reply the composer is writing, if any, and the files uploaded for
/// it): shown at once as pending, sent now if connected, else on reconnect.
pub fn send(state: ChatState, content: String, attachments: Vec<Attachment>) {
    let pending = Pending { client_id: new_client_id(), content, reply_to: state.reply_target(), attachments };
    state.replying_to.set(None);
    let room = state.current_conversation();
    let frame = frame_for(room.room_id, &pending);
    // The next keystroke is a new message being typed.
    TYPING_SENT_AT.with(|at| at.set(0.0));
    room.pending.update(|p| p.push(pending));
    scroll_to_bottom_soon(state);
    OUTBOX.with(|o| {
        if let Some(tx) = o.borrow().as_ref() {
            let _ = tx.unbounded_send(frame);
        }
    });
}

fn frame_for(room_id: i64, pending: &Pending) -> String {
    let frame = ClientFrame::Message {
        content: pending.content.clone(),
        client_id: Some(pending.client_id.clone()),
        room_id: Some(room_id),
        reply_to: pending.reply_to,
        attachments: pending.attachments.iter().map(|a| a.id.clone()).collect(),
    };
    serde_json::to_string(&frame).unwrap_or_default()
}

fn new_client_id() -> String {
    let now = js_sys::Date::now() as u64;
    let random = (js_sys::Math::random() * 1e12) as u64;
    format!("{now:x}-{random:x}")
}

/// Loads an older page when the reader scrolls to the top, keeping their place.
pub fn on_scroll(state: ChatState) {
    let Some(list) = state.list.get_untracked() else { return };
    let room = state.current_conversation();
    if list.scroll_top() > 40 || room.loading_older.get_untracked() || !room.more_older.get_untracked() {
        return;
    }
    let Some(oldest) = room.messages.with_untracked(|m| m.first().map(|m| m.id)) else { return };
    room.loading_older.set(true);
    spawn_local(async move {
        if let Some(page) = history_page(room.room_id, Some(oldest)).await {
            let list = state.list.get_untracked();
            let before_height = list.as_ref().map(|l| l.scroll_height()).unwrap_or(0);
            room.more_older.set(page.len() >= OLDER_PAGE);
            state.merge(page);
            if state.current.get_untracked() != room.room_id {
                room.loading_older.set(false);
                return;
            }
            request_animation_frame(move || {
                if let Some(list) = state.list.get_untracked() {
                    // Keep the message the reader was looking at in place.
                    list.set_scroll_top(list.scroll_top() + list.scroll_height() - before_height);
                }
            });
        }
        room.loading_older.set(false);
    });
}

/// A page of a conversation's history over HTTP: the newest messages, or those older than
/// `before` (`GET /messages` for general, `GET /rooms/{id}/messages` for the others).
async fn history_page(room_id: i64, before: Option<i64>) -> Option<Vec<ChatMessage>> {
    if room_id == GENERAL_ROOM_ID {
        let url = match before {
            Some(before) => format!("/messages?before={before}&limit={OLDER_PAGE}"),
            None => format!("/messages?limit={OLDER_PAGE}"),
        };
        match gloo_net::http::Request::get(&url).send().await {
            Ok(response) if response.ok() => response.json::<Vec<ChatMessage>>().await.ok(),
            _ => None,
        }
    } else {
        match before {
            Some(before) => rooms_client::older(room_id, before, OLDER_PAGE).await.ok(),
            None => rooms_client::newest(room_id, OLDER_PAGE).await.ok(),
        }
    }
}

/// Loads one more page of a conversation's history (a jump to a message not loaded yet): its
/// newest page if none is held, else the page before its oldest message. False when nothing
/// older remains or the call failed.
pub async fn load_more_history(state: ChatState, room_id: i64) -> bool {
    let room = state.conversation(room_id);
    if room.loaded.get_untracked() && !room.more_older.get_untracked() {
        return false;
    }
    let oldest = room.messages.with_untracked(|m| m.first().map(|m| m.id));
    let Some(page) = history_page(room_id, oldest).await else { return false };
    let full = page.len() >= OLDER_PAGE;
    room.more_older.set(full);
    room.loaded.set(true);
    state.merge(page);
    full
}

/// Loads, oldest first, what a catch-up `history` frame with `more` left out (the live feed
/// resumes after the messages missed while away).
async fn fill_gap(state: ChatState, mut after: i64) {
    loop {
        let Some(page) = page_after(after).await else { return };
        let full = page.len() >= AFTER_PAGE;
        let Some(last) = page.last().map(|m| m.id) else { return };
        add_messages(state, page, false);
        if !full {
            return;
        }
        after = last;
    }
}

/// One page of messages after `after`, tried again (with backoff) when the request fails.
async fn page_after(after: i64) -> Option<Vec<ChatMessage>> {
    let url = format!("/messages?after={after}&limit={AFTER_PAGE}");
    for attempt in 0..GAP_TRIES {
        if let Ok(response) = gloo_net::http::Request::get(&url).send().await {
            if response.ok() {
                if let Ok(page) = response.json::<Vec<ChatMessage>>().await {
                    return Some(page);
                }
            } else if matches!(response.status(), 401 | 403) {
                return None;
            }
        }
        gloo_timers::future::sleep(backoff(attempt)).await;
    }
    None
}

fn go_to(path: &str) {
    let _ = window().location().set_href(path);
}

fn reload() {
    let _ = window().location().reload();
}
