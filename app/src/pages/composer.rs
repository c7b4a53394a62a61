//! The message composer under the conversation: the text box (Enter sends, Shift+Enter adds a
//! line), the reply bar while a reply is being written ("Replying to NAME: excerpt" and ✕; the
//! sent message carries `reply_to`), `@` completion of the conversation's members, Up in an
//! empty box to edit my last message here, and Escape to drop the reply or the edit. Files are
//! attached with the "Attach files" button, by dropping them on the conversation or by pasting
//! them into the text box; they upload in the upload tray above while typing goes on, and the
//! message (its text may then be empty) is sent once none is still uploading. Like the text, the
//! tray stays when another conversation is opened: its files go wherever the message is sent.

use super::mention_complete::{MentionCompletion, MentionList};
use super::upload_tray::UploadTray;
use crate::chat_state::ChatState;
use crate::message_text::{byte_offset_of_utf16, complete_mention, mention_query, utf16_len};
use crate::upload_state::Tray;
use leptos::html;
use leptos::prelude::*;

#[cfg(feature = "hydrate")]
use crate::{chat_client as client, upload_client as uploads};

/// The server renders the composer; sending needs the browser.
#[cfg(not(feature = "hydrate"))]
mod client {
    use crate::chat_state::ChatState;
    use crate::models::Attachment;

    pub fn send(_state: ChatState, _content: String, _attachments: Vec<Attachment>) {}
    pub fn typing(_state: ChatState) {}
}

/// The server renders the attach button; uploads need the browser.
#[cfg(not(feature = "hydrate"))]
mod uploads {
    use crate::upload_state::Tray;
    use leptos::prelude::*;

    pub fn attach_picked(_: Tray, _: &leptos::ev::Event) {}
    pub fn attach_pasted(_: Tray, _: &leptos::ev::ClipboardEvent) {}
    pub fn listen_for_drops(_: Tray, _: RwSignal<bool>) {}
    pub fn abort_all() {}
}

/// What Enter or Send says while files are still uploading.
const WAIT_FOR_UPLOADS: &str = "Wait for the files to finish uploading, then send.";

#[component]
pub fn Composer(state: ChatState) -> impl IntoView {
    let draft = RwSignal::new(String::new());
    let completion = MentionCompletion::new();
    let tray = Tray::new();
    // A drag carrying files is over the conversation.
    let dragging = RwSignal::new(false);
    let picker = NodeRef::<html::Input>::new();
    uploads::listen_for_drops(tray, dragging);
    on_cleanup(uploads::abort_all);
    // The uploads are done: a send may go now.
    Effect::new(move |_| {
        if !tray.uploading() && tray.notice.with_untracked(|n| n.as_deref() == Some(WAIT_FOR_UPLOADS)) {
            tray.notice.set(None);
        }
    });
    // Another conversation on screen: a reply or an edit started in the last one ends.
    Effect::new(move |previous: Option<i64>| {
        let current = state.current.get();
        if previous.is_some_and(|previous| previous != current) {
            state.replying_to.set(None);
            state.editing.set(None);
            completion.close();
        }
        current
    });
    let send = move || {
        if tray.uploading_untracked() {
            tray.notice.set(Some(WAIT_FOR_UPLOADS.to_owned()));
            return;
        }
        let text = draft.get_untracked();
        let attachments = tray.attachments();
        if text.trim().is_empty() && attachments.is_empty() {
            return;
        }
        // Files alone: no text rather than blanks.
        let text = if text.trim().is_empty() { String::new() } else { text };
        client::send(state, text, attachments);
        draft.set(String::new());
        tray.clear();
        completion.close();
    };
    // The caret as a byte offset into the draft.
    let caret = move || {
        let text = draft.get_untracked();
        let units = state.composer.get_untracked().and_then(|box_| box_.selection_start().ok().flatten());
        units.map_or(text.len(), |units| byte_offset_of_utf16(&text, units as usize))
    };
    let pick = move |name: String| {
        let Some(query) = completion.query.get_untracked() else { return };
        let (text, at) = complete_mention(&draft.get_untracked(), &query, caret(), &name);
        let units = utf16_len(&text[..at]) as u32;
        draft.set(text.clone());
        completion.close();
        if let Some(box_) = state.composer.get_untracked() {
            box_.set_value(&text);
            let _ = box_.set_selection_range(units, units);
            let _ = box_.focus();
        }
    };
    let on_keydown = move |ev: leptos::ev::KeyboardEvent| {
        if ev.is_composing() {
            return;
        }
        let key = ev.key();
        if completion.is_open() {
            let handled = match key.as_str() {
                "ArrowDown" => {
                    completion.move_choice(1);
                    true
                }
                "ArrowUp" => {
                    completion.move_choice(-1);
                    true
                }
                "Tab" | "Enter" => {
                    if let Some((_, name)) = completion.choice() {
                        pick(name);
                    }
                    true
                }
                "Escape" => {
                    completion.close();
                    true
                }
                _ => false,
            };
            if handled {
                ev.prevent_default();
                return;
            }
        }
        match key.as_str() {
            "Enter" if !ev.shift_key() => {
                ev.prevent_default();
                send();
            }
            "ArrowUp" if draft.with_untracked(String::is_empty) => {
                if let Some(id) = state.last_editable_of_mine(state.current.get_untracked()) {
                    ev.prevent_default();
                    state.replying_to.set(None);
                    state.editing.set(Some(id));
                }
            }
            "Escape" => {
                if state.replying_to.with_untracked(Option::is_some) {
                    state.replying_to.set(None);
                } else if state.editing.with_untracked(Option::is_some) {
                    state.editing.set(None);
                }
            }
            _ => {}
        }
    };
    let on_input = move |ev: leptos::ev::Event| {
        draft.set(event_target_value(&ev));
        client::typing(state);
        let query = draft.with_untracked(|text| mention_query(text, caret()));
        completion.follow(state, query);
    };
    let replying = move || {
        let current = state.current.get();
        state.replying_to.get().filter(|reply| reply.room_id == current)
    };
    view! {
        {move || replying().map(|reply| view! {
            <div class="reply-bar" data-testid="reply-bar">
                <span class="reply-bar-text">
                    "Replying to " <strong>{reply.username.clone()}</strong> ": "
                    <span class="reply-excerpt">{reply.excerpt.clone()}</span>
                </span>
                <button
                    type="button"
                    class="link-button"
                    data-testid="reply-cancel"
                    aria-label="Cancel the reply"
                    on:click=move |_| state.replying_to.set(None)
                >
                    "✕"
                </button>
            </div>
        })}
        <UploadTray tray/>
        <form
            class="composer"
            class:dropping=move || dragging.get()
            data-testid="composer"
            on:submit=move |ev| { ev.prevent_default(); send(); }
        >
            <MentionList completion pick=Callback::new(pick)/>
            <input
                type="file"
                multiple
                hidden
                class="attach-input"
                data-testid="attach-input"
                tabindex="-1"
                node_ref=picker
                on:change=move |ev| uploads::attach_picked(tray, &ev)
            />
            <button
                type="button"
                class="attach-button"
                data-testid="attach-button"
                aria-label="Attach files"
                title="Attach files (or drop or paste them)"
                on:click=move |_| {
                    if let Some(input) = picker.get_untracked() {
                        input.click();
                    }
                }
            >
                <svg
                    viewBox="0 0 24 24"
                    width="20"
                    height="20"
                    fill="none"
                    stroke="currentColor"
                    stroke-width="2"
                    stroke-linecap="round"
                    stroke-linejoin="round"
                    aria-hidden="true"
                >
                    <path d="M21.44 11.05l-9.19 9.19a6 6 0 0 1-8.49-8.49l9.19-9.19a4 4 0 0 1 5.66 5.66l-9.2 9.19a2 2 0 0 1-2.83-2.83l8.49-8.48"></path>
                </svg>
            </button>
            <textarea
                id="composer"
                name="content"
                rows="1"
                maxlength="4000"
                placeholder="Write a message… (Enter sends, Shift+Enter for a new line)"
                aria-label="Message"
                aria-autocomplete="list"
                aria-controls="mention-list"
                aria-expanded=move || completion.names.with(|names| !names.is_empty()).to_string()
                node_ref=state.composer
                prop:value=move || draft.get()
                on:input=on_input
                on:keydown=on_keydown
                on:paste=move |ev| uploads::attach_pasted(tray, &ev)
                on:blur=move |_| completion.close()
            ></textarea>
            <button
                type="submit"
                class="send-button"
                disabled=move || tray.uploading()
                title=move || tray.uploading().then_some(WAIT_FOR_UPLOADS)
            >
                "Send"
            </button>
        </form>
    }
}
