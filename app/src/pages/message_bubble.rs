//! One message of the conversation on screen: who wrote it and when ("(edited)" once edited),
//! the quote of the message it answers (a click scrolls to it when loaded), its text with the
//! `@name`s it mentions styled (built as text nodes, never HTML; a mention of me marks the whole
//! message), "This message was deleted." once deleted, the files it carries (`attachment_list`:
//! thumbnails and download chips; a message of files alone has no text bubble), its reaction
//! chips (a click toggles mine), the edit box while I edit it, and its action menu (hover,
//! keyboard focus or a long press).

use super::attachment_list::AttachmentList;
use super::message_actions::MessageActions;
use super::message_editor::MessageEditor;
use super::report_button::ReportButton;
use crate::chat_state::{ChatState, Feedback};
use crate::message_text::mention_parts;
use crate::models::{ChatMessage, Reaction, ReplyTo};
use leptos::prelude::*;

#[cfg(feature = "hydrate")]
use crate::message_client as messages;

/// The server renders no messages; the actions need the browser.
#[cfg(not(feature = "hydrate"))]
mod messages {
    use crate::chat_state::{ChatState, Feedback};

    pub fn show_message(_: ChatState, _: i64) -> bool {
        false
    }
    pub fn toggle_reaction(_: ChatState, _: i64, _: i64, _: String, _: Feedback) {}
}

/// How long a touch must rest on a message to open its action menu.
const LONG_PRESS_MS: u64 = 500;

/// Message `id` of conversation `room_id`, kept up to date as it is edited, deleted or reacted
/// to.
#[component]
pub fn MessageBubble(state: ChatState, room_id: i64, id: i64) -> impl IntoView {
    let conversation = state.conversation(room_id);
    let message = Memo::new(move |_| {
        conversation.messages.with(|list| list.binary_search_by_key(&id, |m| m.id).ok().map(|at| list[at].clone()))
    });
    let field = move |read: fn(&ChatMessage) -> bool| message.with(|m| m.as_ref().is_some_and(read));
    let mine = message.with_untracked(|m| m.as_ref().is_some_and(|m| state.is_mine(m)));
    let mentions_me = move || message.with(|m| m.as_ref().is_some_and(|m| state.mentions_me(m)));
    // Memos: the body is drawn again only when one of them changes (an edit box in it keeps its
    // draft while reactions come and go).
    let editing = Memo::new(move |_| state.editing.get() == Some(id));
    let menu_open = RwSignal::new(false);
    let press = StoredValue::new(None::<TimeoutHandle>);
    let start_press = move |_| {
        let handle = set_timeout_with_handle(
            move || menu_open.update(|open| *open = !*open),
            std::time::Duration::from_millis(LONG_PRESS_MS),
        );
        press.set_value(handle.ok());
    };
    let end_press = move |_| {
        if let Some(handle) = press.try_update_value(Option::take).flatten() {
            handle.clear();
        }
    };
    let removed = Memo::new(move |_| field(|m| m.removed));
    let deleted = Memo::new(move |_| field(|m| m.deleted));
    // The files of a message still shown; only a change to them draws them again.
    let attachments = Memo::new(move |_| {
        message.with(|m| m.as_ref().filter(|m| !m.deleted && !m.removed).map(|m| m.attachments.clone()))
    });
    // Files and no text: no empty text bubble above them.
    let files_only = Memo::new(move |_| field(|m| m.content.trim().is_empty() && !m.attachments.is_empty()));
    view! {
        <li
            class=if mine { "message mine" } else { "message theirs" }
            class:mentions-me=mentions_me
            class:flash=move || state.flashing.get() == Some(id)
            class:menu-open=move || menu_open.get()
            class:deleted=move || deleted.get()
            data-id=id
            data-testid="message"
            tabindex="0"
            on:touchstart=start_press
            on:touchend=end_press
            on:touchmove=end_press
            on:touchcancel=end_press
        >
            {move || {
                message
                    .with(|m| m.as_ref().filter(|m| !m.deleted && !m.removed).and_then(|m| m.reply_to.clone()))
                    .map(|reply| view! { <ReplyQuote state reply/> })
            }}
            <span class="meta">
                <span class="author">{move || message.with(|m| m.as_ref().map(|m| m.username.clone()))}</span>
                " · "
                {move || message.with(|m| m.as_ref().map(|m| {
                    let time = local_time(&m.timestamp);
                    view! { <time datetime=m.timestamp.clone()>{time}</time> }
                }))}
                {move || message.with(|m| m.as_ref().is_some_and(|m| m.edited_at.is_some() && !m.deleted && !m.removed)).then(|| view! {
                    <span class="edited-mark" data-testid="edited-mark">" (edited)"</span>
                })}
            </span>
            {move || {
                if removed.get() {
                    view! { <div class="bubble removed">"Message removed by a moderator"</div> }.into_any()
                } else if deleted.get() {
                    view! { <div class="bubble deleted" data-testid="deleted-message">"This message was deleted."</div> }.into_any()
                } else if editing.get() {
                    let text = message.with_untracked(|m| m.as_ref().map(|m| m.content.clone()).unwrap_or_default());
                    view! { <MessageEditor state id text/> }.into_any()
                } else if files_only.get() {
                    ().into_any()
                } else {
                    view! { <MessageText message/> }.into_any()
                }
            }}
            {move || {
                attachments.get().filter(|list| !list.is_empty()).map(|attachments| view! { <AttachmentList attachments/> })
            }}
            <ReactionChips state room_id id message/>
            <Show when=move || !removed.get() && !deleted.get() && !editing.get()>
                <MessageActions state message menu_open/>
            </Show>
            {(!mine).then(|| view! {
                <Show when=move || !removed.get() && !deleted.get()>
                    <ReportButton id/>
                </Show>
            })}
        </li>
    }
}

/// A message's text, the `@name`s it mentions in styled spans (text nodes all).
#[component]
fn MessageText(message: Memo<Option<ChatMessage>>) -> impl IntoView {
    let parts =
        move || message.with(|m| m.as_ref().map(|m| mention_parts(&m.content, &m.mentions)).unwrap_or_default());
    view! {
        <div class="bubble" data-testid="message-text">
            {move || parts().into_iter().map(|part| if part.mention {
                view! { <span class="mention">{part.text}</span> }.into_any()
            } else {
                part.text.into_any()
            }).collect_view()}
        </div>
    }
}

/// The message a reply answers: its author and an excerpt ("original deleted" once gone); a
/// click scrolls to it when it is loaded.
#[component]
fn ReplyQuote(state: ChatState, reply: ReplyTo) -> impl IntoView {
    let target = reply.id;
    let label = format!("Replying to {}: show the original", reply.username);
    view! {
        <button
            type="button"
            class="reply-quote"
            class:gone=reply.gone
            data-testid="reply-quote"
            data-reply-to=target
            aria-label=label
            on:click=move |_| {
                messages::show_message(state, target);
            }
        >
            <strong class="reply-author">{reply.username.clone()}</strong>
            {if reply.gone {
                view! { <span class="reply-excerpt gone">"original deleted"</span> }.into_any()
            } else {
                view! { <span class="reply-excerpt">{reply.excerpt.clone()}</span> }.into_any()
            }}
        </button>
    }
}

/// A message's reactions: emoji and count, highlighted when mine; a click adds or takes back
/// mine.
#[component]
fn ReactionChips(state: ChatState, room_id: i64, id: i64, message: Memo<Option<ChatMessage>>) -> impl IntoView {
    let ui = Feedback::new();
    let reactions =
        move || message.with(|m| m.as_ref().filter(|m| !m.deleted && !m.removed).map(|m| m.reactions.clone()));
    move || {
        reactions().filter(|list| !list.is_empty()).map(|list| {
            view! {
                <div class="reactions" data-testid="reactions">
                    {list.into_iter().map(|reaction| view! { <ReactionChip state room_id id reaction ui/> }).collect_view()}
                    {move || ui.error.get().map(|error| view! { <small class="form-error" role="alert">{error}</small> })}
                </div>
            }
        })
    }
}

#[component]
fn ReactionChip(state: ChatState, room_id: i64, id: i64, reaction: Reaction, ui: Feedback) -> impl IntoView {
    let Reaction { emoji, count, me } = reaction;
    let label = if me {
        format!("{emoji} {count}: take back my reaction")
    } else {
        format!("{emoji} {count}: react with {emoji}")
    };
    let toggled = emoji.clone();
    view! {
        <button
            type="button"
            class="reaction"
            class:mine=me
            data-testid="reaction"
            data-emoji=emoji.clone()
            data-count=count
            data-mine=me.to_string()
            aria-pressed=me.to_string()
            aria-label=label
            disabled=move || ui.busy.get()
            on:click=move |_| messages::toggle_reaction(state, room_id, id, toggled.clone(), ui)
        >
            <span class="reaction-emoji">{emoji.clone()}</span>
            <span class="reaction-count">{count}</span>
        </button>
    }
}

/// The message time in the reader's local time zone (browser only; the server shows UTC).
pub fn local_time(timestamp: &str) -> String {
    #[cfg(feature = "hydrate")]
    {
        let date = js_sys::Date::new(&wasm_bindgen::JsValue::from_str(timestamp));
        let options = js_sys::Object::new();
        let _ = js_sys::Reflect::set(&options, &"hour".into(), &"2-digit".into());
        let _ = js_sys::Reflect::set(&options, &"minute".into(), &"2-digit".into());
        date.to_locale_time_string_with_options("default", &options).into()
    }
    #[cfg(not(feature = "hydrate"))]
    {
        timestamp.get(11..16).unwrap_or(timestamp).to_owned()
    }
}
