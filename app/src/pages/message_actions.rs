//! A message's action menu: Reply, React (a picker of common emoji), Edit (my own messages) and
//! Delete (mine; an admin's on every message) behind an inline confirmation. Shown while the
//! message is hovered or holds the keyboard focus, or after a long press on a touch screen.

use crate::chat_state::{ChatState, Feedback};
use crate::models::ChatMessage;
use leptos::prelude::*;

#[cfg(feature = "hydrate")]
use crate::message_client as messages;

/// The server renders no messages; the actions need the browser.
#[cfg(not(feature = "hydrate"))]
mod messages {
    use crate::chat_state::{ChatState, Feedback};

    pub fn toggle_reaction(_: ChatState, _: i64, _: i64, _: String, _: Feedback) {}
    pub fn delete_message(_: ChatState, _: i64, _: i64, _: Feedback) {}
}

/// The reactions the picker offers.
pub const PICKER_EMOJI: [&str; 8] = ["👍", "❤️", "😂", "🎉", "😮", "😢", "🙏", "👀"];

/// The menu of a message that is still there (not deleted nor removed). `menu_open`: opened by
/// a long press (hover and focus open it through the stylesheet).
#[component]
pub fn MessageActions(
    state: ChatState,
    message: Memo<Option<ChatMessage>>,
    menu_open: RwSignal<bool>,
) -> impl IntoView {
    let ui = Feedback::new();
    let picking = RwSignal::new(false);
    let confirming = RwSignal::new(false);
    let ids = move || message.with_untracked(|m| m.as_ref().map(|m| (m.room_id, m.id)));
    let can_edit = move || message.with(|m| m.as_ref().is_some_and(|m| state.can_edit(m)));
    let can_delete = move || message.with(|m| m.as_ref().is_some_and(|m| state.can_delete(m)));
    let reply = move |_| {
        if let Some(found) = message.get_untracked() {
            state.reply_to(&found);
            menu_open.set(false);
            state.focus_composer();
        }
    };
    let edit = move |_| {
        if let Some((_, id)) = ids() {
            state.replying_to.set(None);
            state.editing.set(Some(id));
            menu_open.set(false);
        }
    };
    let react = move |emoji: &'static str| {
        if let Some((room_id, id)) = ids() {
            messages::toggle_reaction(state, room_id, id, emoji.to_owned(), ui);
        }
        picking.set(false);
        menu_open.set(false);
    };
    let delete = move |_| {
        if let Some((room_id, id)) = ids() {
            messages::delete_message(state, room_id, id, ui);
        }
        confirming.set(false);
        menu_open.set(false);
    };
    view! {
        <div class="message-actions" role="toolbar" aria-label="Message actions" data-testid="message-actions">
            <button type="button" class="action" data-testid="action-reply" aria-label="Reply" title="Reply" on:click=reply>
                "↩"
            </button>
            <button
                type="button"
                class="action"
                data-testid="action-react"
                aria-label="React"
                title="React"
                aria-expanded=move || picking.get().to_string()
                on:click=move |_| picking.update(|open| *open = !*open)
            >
                "☺"
            </button>
            <Show when=can_edit>
                <button type="button" class="action" data-testid="action-edit" aria-label="Edit" title="Edit" on:click=edit>
                    "✎"
                </button>
            </Show>
            <Show when=can_delete>
                <button
                    type="button"
                    class="action"
                    data-testid="action-delete"
                    aria-label="Delete"
                    title="Delete"
                    on:click=move |_| confirming.set(true)
                >
                    "🗑"
                </button>
            </Show>
            <Show when=move || picking.get()>
                <div class="emoji-picker" role="group" aria-label="Pick a reaction" data-testid="emoji-picker">
                    {PICKER_EMOJI.into_iter().map(|emoji| view! {
                        <button
                            type="button"
                            class="emoji-option"
                            data-testid="emoji-option"
                            data-emoji=emoji
                            aria-label=format!("React with {emoji}")
                            on:click=move |_| react(emoji)
                        >
                            {emoji}
                        </button>
                    }).collect_view()}
                </div>
            </Show>
        </div>
        <Show when=move || confirming.get()>
            <div class="confirm-delete" role="alertdialog" aria-label="Delete this message?" data-testid="confirm-delete">
                <span>"Delete this message?"</span>
                <button
                    type="button"
                    class="small danger"
                    data-testid="confirm-delete-yes"
                    aria-label="Delete this message"
                    disabled=move || ui.busy.get()
                    on:click=delete
                >
                    "Delete"
                </button>
                <button
                    type="button"
                    class="small link-button"
                    data-testid="confirm-delete-no"
                    aria-label="Keep this message"
                    on:click=move |_| confirming.set(false)
                >
                    "Cancel"
                </button>
            </div>
        </Show>
        {move || ui.error.get().map(|error| view! { <small class="form-error action-error" role="alert">{error}</small> })}
    }
}
