//! Message search in the chat header: a search box (and "include public rooms I'm not in"),
//! results in a panel (room, author, time and the matching excerpt with its matches marked —
//! built as text nodes and `<mark>` elements, never HTML), "Load more" for older results, and a
//! click on a result opening its conversation at the message. Escape closes the panel.

use super::message_bubble::local_time;
use crate::chat_state::{ChatState, Feedback};
use crate::message_text::{split_highlight, HighlightPart};
use crate::models::{ChatMessage, RoomKind};
use leptos::prelude::*;

#[cfg(feature = "hydrate")]
use crate::message_client as messages;

/// The server renders the search box; searching needs the browser.
#[cfg(not(feature = "hydrate"))]
mod messages {
    use crate::chat_state::{ChatState, Feedback};
    use crate::models::ChatMessage;
    use leptos::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq)]
    pub struct SearchRequest {
        pub query: String,
        pub include_public: bool,
        pub before: Option<i64>,
    }

    pub fn run_search(_: SearchRequest, _: RwSignal<Vec<ChatMessage>>, _: RwSignal<bool>, _: Feedback) {}
    pub fn jump_to(_: ChatState, _: i64, _: i64) {}
}

use messages::SearchRequest;

#[component]
pub fn SearchPanel(state: ChatState) -> impl IntoView {
    let ui = Feedback::new();
    let query = RwSignal::new(String::new());
    let include_public = RwSignal::new(false);
    let results = RwSignal::new(Vec::<ChatMessage>::new());
    let more = RwSignal::new(false);
    let open = RwSignal::new(false);
    // The query the results are for (a further page continues it, whatever the box holds now).
    let searched = StoredValue::new(None::<(String, bool)>);
    let close = move || open.set(false);
    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let text = query.get_untracked().trim().to_owned();
        if text.is_empty() || ui.busy.get_untracked() {
            return;
        }
        let public = include_public.get_untracked();
        searched.set_value(Some((text.clone(), public)));
        results.set(Vec::new());
        more.set(false);
        open.set(true);
        messages::run_search(SearchRequest { query: text, include_public: public, before: None }, results, more, ui);
    };
    let load_more = move |_| {
        let (Some((text, public)), Some(last)) =
            (searched.get_value(), results.with_untracked(|list| list.last().map(|m| m.id)))
        else {
            return;
        };
        messages::run_search(
            SearchRequest { query: text, include_public: public, before: Some(last) },
            results,
            more,
            ui,
        );
    };
    let escape = window_event_listener(leptos::ev::keydown, move |ev| {
        if ev.key() == "Escape" && open.get_untracked() {
            close();
        }
    });
    on_cleanup(move || escape.remove());
    let show = Callback::new(move |(room_id, id): (i64, i64)| {
        close();
        messages::jump_to(state, room_id, id);
    });
    view! {
        <form class="search-form" role="search" data-testid="search-form" on:submit=submit>
            <input
                type="search"
                class="search-input"
                data-testid="search-input"
                placeholder="Search messages"
                aria-label="Search messages"
                maxlength="256"
                autocomplete="off"
                prop:value=move || query.get()
                on:input=move |ev| query.set(event_target_value(&ev))
            />
            <label class="search-scope">
                <input
                    type="checkbox"
                    data-testid="search-public"
                    prop:checked=move || include_public.get()
                    on:change=move |ev| include_public.set(event_target_checked(&ev))
                />
                " include public rooms I'm not in"
            </label>
            <button type="submit" class="small" data-testid="search-submit" aria-label="Search">
                "Search"
            </button>
        </form>
        <Show when=move || open.get()>
            <section class="search-panel" role="dialog" aria-label="Search results" data-testid="search-panel">
                <div class="search-panel-head">
                    <h3>"Search results"</h3>
                    <button
                        type="button"
                        class="link-button"
                        data-testid="search-close"
                        aria-label="Close search"
                        on:click=move |_| close()
                    >
                        "✕"
                    </button>
                </div>
                {move || ui.error.get().map(|error| view! { <p class="panel-error" role="alert">{error}</p> })}
                <ul class="search-results" data-testid="search-results">
                    <For each=move || results.get() key=|m| m.id let:found>
                        <SearchResult state found show/>
                    </For>
                </ul>
                <Show when=move || !ui.busy.get() && ui.error.with(Option::is_none) && results.with(Vec::is_empty)>
                    <p class="sidebar-empty" data-testid="search-empty">"No messages found."</p>
                </Show>
                <Show when=move || ui.busy.get()>
                    <p class="sidebar-empty">"Searching…"</p>
                </Show>
                <Show when=move || more.get() && !ui.busy.get()>
                    <button type="button" class="small link-button" data-testid="search-more" on:click=load_more>
                        "Load more"
                    </button>
                </Show>
            </section>
        </Show>
    }
}

/// One result: where and who, when, and the excerpt with its matches marked.
#[component]
fn SearchResult(state: ChatState, found: ChatMessage, show: Callback<(i64, i64)>) -> impl IntoView {
    let (room_id, id) = (found.room_id, found.id);
    let place = match state.room(room_id) {
        Some(room) if room.kind == RoomKind::Dm => format!("@{}", room.name),
        Some(room) => format!("#{}", room.name),
        None => format!("#{}", found.room),
    };
    let excerpt = found.highlight.clone().unwrap_or_else(|| escape_plain(&found.content));
    let label = format!("Open the message from {} in {place}", found.username);
    view! {
        <li>
            <button
                type="button"
                class="search-result"
                data-testid="search-result"
                data-id=id
                data-room-id=room_id
                aria-label=label
                on:click=move |_| show.run((room_id, id))
            >
                <span class="search-result-meta">
                    <span class="search-result-room">{place}</span>
                    " · "
                    <span class="author">{found.username.clone()}</span>
                    " · "
                    <time datetime=found.timestamp.clone()>{local_time(&found.timestamp)}</time>
                </span>
                <span class="search-result-text" data-testid="search-result-text">
                    <Highlight highlight=excerpt/>
                </span>
            </button>
        </li>
    }
}

/// A `highlight` as text nodes and `<mark>` elements.
#[component]
fn Highlight(highlight: String) -> impl IntoView {
    split_highlight(&highlight)
        .into_iter()
        .map(|part| match part {
            HighlightPart::Text(text) => text.into_any(),
            HighlightPart::Mark(text) => view! { <mark>{text}</mark> }.into_any(),
        })
        .collect_view()
}

/// A result without a highlight shows its text: escaped as the highlight would be, so it goes
/// through the same splitter.
fn escape_plain(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}
