//! Editing one of my messages in place: a text box in the bubble, holding its text; Enter saves
//! (`PATCH /messages/{id}`), Shift+Enter adds a line, Escape cancels. A refusal (the word
//! filter, the edit window, flood control) is shown under it and the edit stays open.

use crate::chat_state::{ChatState, Feedback};
use leptos::html;
use leptos::prelude::*;

#[cfg(feature = "hydrate")]
use crate::message_client as messages;

/// The server renders no messages; saving needs the browser.
#[cfg(not(feature = "hydrate"))]
mod messages {
    use crate::chat_state::{ChatState, Feedback};

    pub fn save_edit(_: ChatState, _: i64, _: String, _: Feedback) {}
}

#[component]
pub fn MessageEditor(state: ChatState, id: i64, text: String) -> impl IntoView {
    let ui = Feedback::new();
    let unchanged = text.clone();
    let draft = RwSignal::new(text);
    let field = NodeRef::<html::Textarea>::new();
    // Focused when it opens (Up in the composer, or the menu's Edit), the caret at the end.
    Effect::new(move |_| {
        if let Some(field) = field.get() {
            let _ = field.focus();
            let end = field.value().encode_utf16().count() as u32;
            let _ = field.set_selection_range(end, end);
        }
    });
    let cancel = move || {
        state.editing.set(None);
        state.focus_composer();
    };
    let save = move || {
        let content = draft.get_untracked();
        if content.trim().is_empty() || ui.busy.get_untracked() {
            return;
        }
        if content == unchanged {
            return cancel();
        }
        messages::save_edit(state, id, content, ui);
    };
    let save_on_click = save.clone();
    let on_keydown = move |ev: leptos::ev::KeyboardEvent| match ev.key().as_str() {
        "Enter" if !ev.shift_key() && !ev.is_composing() => {
            ev.prevent_default();
            save();
        }
        "Escape" => {
            ev.prevent_default();
            ev.stop_propagation();
            cancel();
        }
        _ => {}
    };
    view! {
        <div class="message-editor" data-testid="message-editor">
            <textarea
                class="edit-box"
                data-testid="edit-box"
                aria-label="Edit message (Enter saves, Escape cancels)"
                maxlength="4000"
                rows="2"
                node_ref=field
                prop:value=move || draft.get()
                on:input=move |ev| draft.set(event_target_value(&ev))
                on:keydown=on_keydown
            ></textarea>
            <div class="edit-buttons">
                <button
                    type="button"
                    class="small"
                    data-testid="edit-save"
                    aria-label="Save the edit"
                    disabled=move || ui.busy.get()
                    on:click=move |_| save_on_click()
                >
                    "Save"
                </button>
                <button
                    type="button"
                    class="small link-button"
                    data-testid="edit-cancel"
                    aria-label="Cancel the edit"
                    on:click=move |_| cancel()
                >
                    "Cancel"
                </button>
            </div>
            {move || ui.error.get().map(|error| view! { <small class="form-error" role="alert">{error}</small> })}
        </div>
    }
}
