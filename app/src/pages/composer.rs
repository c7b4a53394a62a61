//! The message composer under the conversation: the text box (Enter sends, Shift+Enter adds a
//! line), the reply bar while a reply is being written ("Replying to NAME: excerpt" and ✕; the
//! sent message carries `reply_to`), `@` completion of the conversation's members, Up in an
//! empty box to edit my last message here, and Escape to drop the reply or the edit.

use super::mention_complete::{MentionCompletion, MentionList};
use crate::chat_state::ChatState;
use crate::message_text::{byte_offset_of_utf16, complete_mention, mention_query, utf16_len};
use leptos::prelude::*;

#[cfg(feature = "hydrate")]
use crate::chat_client as client;

/// The server renders the composer; sending needs the browser.
#[cfg(not(feature = "hydrate"))]
mod client {
    use crate::chat_state::ChatState;

    pub fn send(_state: ChatState, _content: String) {}
    pub fn typing(_state: ChatState) {}
}

#[component]
pub fn Composer(state: ChatState) -> impl IntoView {
    let draft = RwSignal::new(String::new());
    let completion = MentionCompletion::new();
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
        let text = draft.get_untracked();
        if text.trim().is_empty() {
            return;
        }
        client::send(state, text);
        draft.set(String::new());
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
        <form class="composer" on:submit=move |ev| { ev.prevent_default(); send(); }>
            <MentionList completion pick=Callback::new(pick)/>
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
                on:blur=move |_| completion.close()
            ></textarea>
            <button type="submit">"Send"</button>
        </form>
    }
}
