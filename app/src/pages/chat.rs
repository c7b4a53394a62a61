//! `/`: the chat page of a signed-in user (logged-out visitors are redirected to `/login` by the
//! server before this renders). The server renders the frame; once hydrated, the browser opens
//! `/ws` with the session cookie, fills the list from the history frame, and keeps it live
//! (`chat_client`, WASM only).

use crate::api::{current_user, Logout};
use crate::chat_state::{ChatState, Link};
use crate::models::{ChatMessage, PublicUser};
use leptos::prelude::*;

#[component]
pub fn ChatPage() -> impl IntoView {
    let me = Resource::new(|| (), |_| current_user());
    view! {
        <Suspense fallback=|| view! { <main class="centered"><p>"Loading…"</p></main> }>
            {move || Suspend::new(async move {
                match me.await {
                    Ok(Some(user)) => view! { <Chat user/> }.into_any(),
                    _ => view! {
                        <main class="centered">
                            <section class="card">
                                <p>"Your session has ended."</p>
                                <p><a href="/login">"Log in"</a></p>
                            </section>
                        </main>
                    }.into_any(),
                }
            })}
        </Suspense>
    }
}

#[component]
fn Chat(user: PublicUser) -> impl IntoView {
    let logout = ServerAction::<Logout>::new();
    let state = ChatState::new(&user);
    let room = state.current_conversation();
    let draft = RwSignal::new(String::new());

    #[cfg(feature = "hydrate")]
    Effect::new(move |started: Option<()>| {
        if started.is_none() {
            crate::chat_client::start(state);
        }
    });

    let send = move || {
        let text = draft.get_untracked();
        if text.trim().is_empty() {
            return;
        }
        #[cfg(feature = "hydrate")]
        crate::chat_client::send(state, text);
        draft.set(String::new());
    };
    let on_keydown = move |ev: leptos::ev::KeyboardEvent| {
        if ev.key() == "Enter" && !ev.shift_key() && !ev.is_composing() {
            ev.prevent_default();
            send();
        }
    };
    let on_scroll = move |_| {
        #[cfg(feature = "hydrate")]
        crate::chat_client::on_scroll(state);
    };

    view! {
        <div class="chat-layout">
            <header class="topbar">
                <span class="brand">"ChatterBox"</span>
                <span class="conn-status" data-state=move || state.link.get().as_str()>
                    {move || match state.link.get() {
                        Link::Open => "Connected",
                        Link::Connecting => "Connecting…",
                        Link::Closed => "Offline, retrying…",
                    }}
                </span>
                {user.is_admin.then(|| view! { <a class="admin-link" href="/admin">"Admin"</a> })}
                <span class="whoami">"Signed in as " <strong class="username">{user.username.clone()}</strong></span>
                <ActionForm action=logout attr:class="logout-form">
                    <button type="submit" class="link-button">"Log out"</button>
                </ActionForm>
            </header>
            <main class="chat-main">
                {move || state.banner.get().map(|(text, error)| view! {
                    <div class=if error { "banner error" } else { "banner" } role="alert">{text}</div>
                })}
                <ul class="messages" id="messages" node_ref=state.list on:scroll=on_scroll aria-live="polite">
                    <Show when=move || room.loading_older.get()>
                        <li class="older">"Loading older messages…"</li>
                    </Show>
                    <For each=move || room.messages.get() key=|m| m.id let:message>
                        <MessageItem mine=state.is_mine(&message) message />
                    </For>
                    <For each=move || room.pending.get() key=|p| p.client_id.clone() let:pending>
                        <li class="message mine pending" data-client-id=pending.client_id.clone()>
                            <span class="meta">{state.me.with_value(|me| me.username.clone())} " · sending…"</span>
                            <div class="bubble">{pending.content.clone()}</div>
                        </li>
                    </For>
                </ul>
                <p class="typing" aria-live="polite">{move || room.typing_line()}</p>
                <form class="composer" on:submit=move |ev| { ev.prevent_default(); send(); }>
                    <textarea
                        id="composer"
                        name="content"
                        rows="1"
                        maxlength="4000"
                        placeholder="Write a message… (Enter sends, Shift+Enter for a new line)"
                        aria-label="Message"
                        prop:value=move || draft.get()
                        on:input=move |ev| {
                            draft.set(event_target_value(&ev));
                            #[cfg(feature = "hydrate")]
                            crate::chat_client::typing(state);
                        }
                        on:keydown=on_keydown
                    ></textarea>
                    <button type="submit">"Send"</button>
                </form>
            </main>
        </div>
    }
}

#[component]
fn MessageItem(message: ChatMessage, mine: bool) -> impl IntoView {
    let side = if mine { "message mine" } else { "message theirs" };
    let time = local_time(&message.timestamp);
    view! {
        <li class=side data-id=message.id>
            <span class="meta">
                <span class="author">{message.username.clone()}</span>
                " · "
                <time datetime=message.timestamp.clone()>{time}</time>
            </span>
            <div class="bubble">{message.content.clone()}</div>
        </li>
    }
}

/// The message time in the reader's local time zone (browser only; the server shows UTC).
fn local_time(timestamp: &str) -> String {
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
