//! `/`: the chat page of a signed-in user (logged-out visitors are redirected to `/login` by the
//! server before this renders). The server renders the frame; once hydrated, the browser opens
//! `/ws` with the session cookie, fills the list from the history frame and the sidebar from the
//! `rooms` frame, and keeps both live (`chat_client`, WASM only). The sidebar lists my rooms and
//! direct messages with unread badges and presence dots, and starts new ones (`rooms_client`);
//! the header shows the conversation's topic and members, and the message search. Messages
//! (`message_bubble`) carry their actions; the composer (`composer`) writes replies and
//! completes mentions; mentions of me get their own badge in the sidebar. On a phone the
//! sidebar folds away behind the top bar's toggle.

use super::composer::Composer;
use super::invitations::Invitations;
use super::message_bubble::MessageBubble;
use super::notifications::EnableNotifications;
use super::search_panel::SearchPanel;
use super::standing_panel::StandingPanel;
use crate::api::{current_user, Logout};
use crate::chat_state::{sidebar_groups, unread_label, ChatState, Feedback, Link};
use crate::models::{Member, PublicUser, Room, RoomKind};
use crate::protocol::GENERAL_ROOM_ID;
use leptos::prelude::*;

#[cfg(feature = "hydrate")]
use crate::{chat_client as client, rooms_client as rooms};

/// The server renders the page without a connection: the client's calls do nothing there.
#[cfg(not(feature = "hydrate"))]
mod client {
    use crate::chat_state::ChatState;

    pub fn select(_state: ChatState, _room_id: i64) {}
    pub fn on_scroll(_state: ChatState) {}
}

#[cfg(not(feature = "hydrate"))]
mod rooms {
    use crate::chat_state::{ChatState, Feedback};
    use crate::models::{Room, RoomKind};
    use leptos::prelude::*;

    pub fn create_room(_: ChatState, _: String, _: RoomKind, _: String, _: Feedback, _: Callback<()>) {}
    pub fn message_someone(_: ChatState, _: String, _: Feedback, _: Callback<()>) {}
    pub fn browse(_: RwSignal<Option<Vec<Room>>>, _: Feedback) {}
    pub fn join_room(_: ChatState, _: i64, _: Feedback, _: Callback<()>) {}
    pub fn leave_room(_: ChatState, _: i64, _: Feedback) {}
    pub fn load_members(_: ChatState, _: i64, _: Feedback) {}
    pub fn invite_member(_: ChatState, _: i64, _: String, _: Feedback, _: Callback<()>) {}
}

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
    let room = move || state.conversation(state.current.get());
    let sidebar_open = RwSignal::new(false);

    #[cfg(feature = "hydrate")]
    Effect::new(move |started: Option<()>| {
        if started.is_none() {
            client::start(state);
        }
    });
    // A logout the server could not carry out leaves the user signed in: connect again.
    #[cfg(feature = "hydrate")]
    Effect::new(move |_| {
        if let Some(Err(error)) = logout.value().get() {
            state.banner.set(Some((format!("could not log out: {error}"), true)));
            client::start(state);
        }
    });
    let on_logout_click = move |_| {
        #[cfg(feature = "hydrate")]
        client::leave();
    };

    let on_scroll = move |_| client::on_scroll(state);
    // Unread messages (or mentions) elsewhere, for the toggle of a folded sidebar.
    let unread_elsewhere = move || {
        let current = state.current.get();
        state.rooms.with(|rooms| rooms.iter().any(|r| r.id != current && (r.unread > 0 || r.mentions > 0)))
    };

    view! {
        <div class="chat-layout">
            <header class="topbar">
                <button
                    type="button"
                    class="sidebar-toggle"
                    data-testid="sidebar-toggle"
                    aria-controls="sidebar"
                    aria-expanded=move || sidebar_open.get().to_string()
                    aria-label="Conversations"
                    on:click=move |_| sidebar_open.update(|open| *open = !*open)
                >
                    "☰"
                    <Show when=unread_elsewhere>
                        <span class="toggle-dot" data-testid="toggle-unread" aria-label="unread messages"></span>
                    </Show>
                </button>
                <span class="brand">"ChatterBox"</span>
                <span class="conn-status" data-state=move || state.link.get().as_str()>
                    {move || match state.link.get() {
                        Link::Open => "Connected",
                        Link::Connecting => "Connecting…",
                        Link::Closed => "Offline, retrying…",
                    }}
                </span>
                <EnableNotifications/>
                {user.is_admin.then(|| view! { <a class="admin-link" href="/admin">"Admin"</a> })}
                <a class="settings-link" href="/settings" data-testid="settings-link">"Settings"</a>
                <span class="whoami">"Signed in as " <strong class="username">{user.username.clone()}</strong></span>
                <ActionForm action=logout attr:class="logout-form">
                    <button type="submit" class="link-button" on:click=on_logout_click>"Log out"</button>
                </ActionForm>
            </header>
            <div class="chat-body">
                <Sidebar state open=sidebar_open/>
                <Show when=move || sidebar_open.get()>
                    <div class="sidebar-scrim" on:click=move |_| sidebar_open.set(false)></div>
                </Show>
                <main class="chat-main">
                    <RoomHeader state/>
                    {move || state.banner.get().map(|(text, error)| view! {
                        <div class=if error { "banner error" } else { "banner" } role="alert">{text}</div>
                    })}
                    <ul class="messages" id="messages" node_ref=state.list on:scroll=on_scroll aria-live="polite">
                        <Show when=move || room().loading_older.get()>
                            <li class="older">"Loading older messages…"</li>
                        </Show>
                        <For each=move || room().messages.get() key=|m| m.id let:message>
                            <MessageBubble state room_id=message.room_id id=message.id/>
                        </For>
                        <For each=move || room().pending.get() key=|p| p.client_id.clone() let:pending>
                            <li class="message mine pending" data-client-id=pending.client_id.clone()>
                                <span class="meta">
                                    {state.me.with_value(|me| me.username.clone())}
                                    " · sending…"
                                </span>
                                <div class="bubble">{pending.content.clone()}</div>
                            </li>
                        </For>
                    </ul>
                    <p class="typing" data-testid="typing" aria-live="polite">{move || room().typing_line()}</p>
                    <Composer state/>
                </main>
            </div>
        </div>
    }
}

/// Which form the sidebar shows.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Panel {
    None,
    NewRoom,
    Browse,
    NewDm,
}

/// My conversations (rooms, then direct messages), and the forms to start new ones. On a phone
/// it folds away behind the top bar's toggle.
#[component]
fn Sidebar(state: ChatState, open: RwSignal<bool>) -> impl IntoView {
    let panel = RwSignal::new(Panel::None);
    let groups = Memo::new(move |_| state.rooms.with(|rooms| sidebar_groups(rooms)));
    let toggle = move |which: Panel| panel.update(|p| *p = if *p == which { Panel::None } else { which });
    let close = Callback::new(move |()| {
        panel.set(Panel::None);
        open.set(false);
    });
    let hide = move || panel.set(Panel::None);
    let show = Callback::new(move |id: i64| {
        client::select(state, id);
        open.set(false);
    });
    view! {
        <aside
            id="sidebar"
            class="sidebar"
            class:open=move || open.get()
            data-testid="sidebar"
            aria-label="Conversations"
        >
            <div class="sidebar-actions">
                <button
                    type="button"
                    class="small"
                    data-testid="new-room-button"
                    aria-pressed=move || (panel.get() == Panel::NewRoom).to_string()
                    on:click=move |_| toggle(Panel::NewRoom)
                >"New room"</button>
                <button
                    type="button"
                    class="small"
                    data-testid="browse-rooms-button"
                    aria-pressed=move || (panel.get() == Panel::Browse).to_string()
                    on:click=move |_| toggle(Panel::Browse)
                >"Browse rooms"</button>
                <button
                    type="button"
                    class="small"
                    data-testid="new-dm-button"
                    aria-pressed=move || (panel.get() == Panel::NewDm).to_string()
                    on:click=move |_| toggle(Panel::NewDm)
                >"Message someone"</button>
            </div>
            {move || match panel.get() {
                Panel::None => ().into_any(),
                Panel::NewRoom => view! { <NewRoomForm state done=close cancel=hide/> }.into_any(),
                Panel::Browse => view! { <BrowseRooms state done=close cancel=hide/> }.into_any(),
                Panel::NewDm => view! { <NewDmForm state done=close cancel=hide/> }.into_any(),
            }}
            <Invitations state/>
            <h3 class="sidebar-heading">"Rooms"</h3>
            <ul class="conversations" data-testid="room-list">
                <For each=move || groups.get().0 key=|r| r.id let:room>
                    <ConversationItem state id=room.id show/>
                </For>
            </ul>
            <h3 class="sidebar-heading">"Direct messages"</h3>
            <ul class="conversations" data-testid="dm-list">
                <For each=move || groups.get().1 key=|r| r.id let:room>
                    <ConversationItem state id=room.id show/>
                </For>
                <Show when=move || groups.with(|g| g.1.is_empty())>
                    <li class="sidebar-empty">"No direct messages yet."</li>
                </Show>
            </ul>
            <StandingPanel/>
        </aside>
    }
}

/// One conversation of the sidebar: its name (bold while unread), the unread badge, and for a
/// direct message the other person's presence dot.
#[component]
fn ConversationItem(state: ChatState, id: i64, show: Callback<i64>) -> impl IntoView {
    let room = Memo::new(move |_| state.rooms.with(|rooms| rooms.iter().find(|r| r.id == id).cloned()));
    let name = move || room.with(|r| r.as_ref().map(|r| r.name.clone()).unwrap_or_default());
    let unread = move || room.with(|r| r.as_ref().map_or(0, |r| r.unread));
    let mentions = move || room.with(|r| r.as_ref().map_or(0, |r| r.mentions));
    let kind = move || room.with(|r| r.as_ref().map(|r| r.kind));
    let peer = move || room.with(|r| r.as_ref().and_then(|r| r.peer.clone().or_else(|| Some(r.name.clone()))));
    let active = move || state.current.get() == id;
    view! {
        <li>
            <button
                type="button"
                class="conversation"
                class:active=active
                class:unread={move || unread() > 0}
                data-testid="conversation"
                data-room-id=id
                data-kind=move || kind().map(RoomKind::as_str)
                data-unread=unread
                data-mentions=mentions
                aria-current=move || active().then_some("true")
                on:click=move |_| show.run(id)
            >
                {move || match kind() {
                    Some(RoomKind::Dm) => {
                        let online = peer().is_some_and(|p| state.is_online(&p));
                        view! { <PresenceDot online/> }.into_any()
                    }
                    kind => view! { <RoomIcon private=kind == Some(RoomKind::Private)/> }.into_any(),
                }}
                <span class="conversation-name" data-testid="conversation-name">{name}</span>
                {move || (mentions() > 0).then(|| view! {
                    <span
                        class="badge mention-badge"
                        data-testid="mention-badge"
                        aria-label=format!("{} mentioning you", mentions())
                    >
                        "@"{unread_label(mentions())}
                    </span>
                })}
                {move || (unread() > 0).then(|| view! {
                    <span class="badge" data-testid="unread-badge" aria-label=format!("{} unread", unread())>
                        {unread_label(unread())}
                    </span>
                })}
            </button>
        </li>
    }
}

/// `#` before a room's name, a lock before a private one's.
#[component]
fn RoomIcon(private: bool) -> impl IntoView {
    if private {
        view! { <span class="room-icon" title="private" aria-label="private">"🔒"</span> }.into_any()
    } else {
        view! { <span class="room-icon" aria-hidden="true">"#"</span> }.into_any()
    }
}

/// Green while someone is online, gray otherwise.
#[component]
fn PresenceDot(online: bool) -> impl IntoView {
    view! {
        <span
            class="presence"
            class:online=online
            data-testid="presence-dot"
            data-online=online.to_string()
            title=if online { "online" } else { "offline" }
            aria-label=if online { "online" } else { "offline" }
        ></span>
    }
}

/// A form's error text (the server's `error`).
#[component]
fn PanelError(ui: Feedback) -> impl IntoView {
    move || {
        ui.error.get().map(|text| view! { <p class="panel-error" data-testid="panel-error" role="alert">{text}</p> })
    }
}

/// "New room": name, public or private, topic; creates it and switches to it.
#[component]
fn NewRoomForm(state: ChatState, done: Callback<()>, cancel: impl Fn() + 'static) -> impl IntoView {
    let ui = Feedback::new();
    let name = RwSignal::new(String::new());
    let private = RwSignal::new(false);
    let topic = RwSignal::new(String::new());
    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        if ui.busy.get_untracked() {
            return;
        }
        let kind = if private.get_untracked() { RoomKind::Private } else { RoomKind::Public };
        rooms::create_room(state, name.get_untracked(), kind, topic.get_untracked(), ui, done);
    };
    view! {
        <form class="side-panel" data-testid="new-room-form" on:submit=submit>
            <label>
                "Name"
                <input
                    type="text"
                    data-testid="new-room-name"
                    required
                    maxlength="40"
                    autocomplete="off"
                    prop:value=move || name.get()
                    on:input=move |ev| name.set(event_target_value(&ev))
                />
            </label>
            <fieldset class="kind-choice">
                <legend>"Who can join"</legend>
                <label>
                    <input
                        type="radio"
                        name="room-kind"
                        value="public"
                        data-testid="new-room-public"
                        prop:checked=move || !private.get()
                        on:change=move |_| private.set(false)
                    />
                    "Public: anyone"
                </label>
                <label>
                    <input
                        type="radio"
                        name="room-kind"
                        value="private"
                        data-testid="new-room-private"
                        prop:checked=move || private.get()
                        on:change=move |_| private.set(true)
                    />
                    "Private: invited people"
                </label>
            </fieldset>
            <label>
                "Topic " <small>"(optional)"</small>
                <input
                    type="text"
                    data-testid="new-room-topic"
                    maxlength="250"
                    autocomplete="off"
                    prop:value=move || topic.get()
                    on:input=move |ev| topic.set(event_target_value(&ev))
                />
            </label>
            <PanelError ui/>
            <div class="panel-buttons">
                <button type="submit" class="small" data-testid="new-room-submit" disabled=move || ui.busy.get()>
                    "Create"
                </button>
                <button type="button" class="small link-button" on:click=move |_| cancel()>"Cancel"</button>
            </div>
        </form>
    }
}

/// "Message someone": opens the direct conversation with a username and switches to it.
#[component]
fn NewDmForm(state: ChatState, done: Callback<()>, cancel: impl Fn() + 'static) -> impl IntoView {
    let ui = Feedback::new();
    let username = RwSignal::new(String::new());
    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        if !ui.busy.get_untracked() {
            rooms::message_someone(state, username.get_untracked(), ui, done);
        }
    };
    view! {
        <form class="side-panel" data-testid="new-dm-form" on:submit=submit>
            <label>
                "Username"
                <input
                    type="text"
                    data-testid="new-dm-username"
                    required
                    autocomplete="off"
                    prop:value=move || username.get()
                    on:input=move |ev| username.set(event_target_value(&ev))
                />
            </label>
            <PanelError ui/>
            <div class="panel-buttons">
                <button type="submit" class="small" data-testid="new-dm-submit" disabled=move || ui.busy.get()>
                    "Message"
                </button>
                <button type="button" class="small link-button" on:click=move |_| cancel()>"Cancel"</button>
            </div>
        </form>
    }
}

/// "Browse rooms": every public room, with Join (or Open for one I am in).
#[component]
fn BrowseRooms(state: ChatState, done: Callback<()>, cancel: impl Fn() + 'static) -> impl IntoView {
    let ui = Feedback::new();
    let listed = RwSignal::new(None::<Vec<Room>>);
    rooms::browse(listed, ui);
    view! {
        <div class="side-panel" data-testid="public-rooms">
            <PanelError ui/>
            {move || match listed.get() {
                None => {
                    let text = move || if ui.busy.get() { "Loading…" } else { "" };
                    view! { <p class="sidebar-empty">{text}</p> }.into_any()
                }
                Some(list) if list.is_empty() => {
                    view! { <p class="sidebar-empty">"No public rooms yet."</p> }.into_any()
                }
                Some(list) => view! {
                    <ul class="public-rooms">
                        {list.into_iter().map(|room| {
                            let id = room.id;
                            let joined = room.joined;
                            view! {
                                <li data-testid="public-room" data-room-id=id>
                                    <span class="public-room-name">{room.name.clone()}</span>
                                    <small class="public-room-meta">{member_label(room.member_count)}</small>
                                    {(!room.topic.is_empty()).then(|| view! {
                                        <small class="public-room-topic">{room.topic.clone()}</small>
                                    })}
                                    {if joined {
                                        view! {
                                            <button
                                                type="button"
                                                class="small"
                                                data-testid="open-room"
                                                on:click=move |_| {
                                                    client::select(state, id);
                                                    done.run(());
                                                }
                                            >"Open"</button>
                                        }.into_any()
                                    } else {
                                        view! {
                                            <button
                                                type="button"
                                                class="small"
                                                data-testid="join-room"
                                                disabled=move || ui.busy.get()
                                                on:click=move |_| rooms::join_room(state, id, ui, done)
                                            >"Join"</button>
                                        }.into_any()
                                    }}
                                </li>
                            }
                        }).collect_view()}
                    </ul>
                }.into_any(),
            }}
            <div class="panel-buttons">
                <button type="button" class="small link-button" on:click=move |_| cancel()>"Close"</button>
            </div>
        </div>
    }
}

fn member_label(count: i64) -> String {
    if count == 1 {
        "1 member".to_owned()
    } else {
        format!("{count} members")
    }
}

/// The conversation on screen: its name, topic and member count, its members (with presence),
/// inviting to a private room, and leaving a room.
#[component]
fn RoomHeader(state: ChatState) -> impl IntoView {
    let ui = Feedback::new();
    let invitee = RwSignal::new(String::new());
    let room = Memo::new(move |_| state.current_room());
    let current = move || state.current.get();
    let kind = move || room.with(|r| r.as_ref().map(|r| r.kind));
    let is_dm = move || kind() == Some(RoomKind::Dm);
    let members_open = move || state.members.with(|m| m.as_ref().is_some_and(|(id, _)| *id == state.current.get()));
    // A new conversation on screen: forget the last one's errors.
    Effect::new(move |_| {
        state.current.track();
        ui.error.set(None);
        invitee.set(String::new());
    });
    let can_leave =
        move || current() != GENERAL_ROOM_ID && matches!(kind(), Some(RoomKind::Public | RoomKind::Private));
    let toggle_members = move |_| {
        if members_open() {
            state.members.set(None);
        } else {
            rooms::load_members(state, current(), ui);
        }
    };
    let invite = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let username = invitee.get_untracked();
        if username.trim().is_empty() || ui.busy.get_untracked() {
            return;
        }
        rooms::invite_member(state, current(), username, ui, Callback::new(move |()| invitee.set(String::new())));
    };
    let name = move || {
        room.with(|r| match r {
            Some(r) => r.name.clone(),
            None if current() == GENERAL_ROOM_ID => "general".to_owned(),
            None => String::new(),
        })
    };
    view! {
        <div
            class="room-header"
            data-testid="room-header"
            data-room-id=current
            data-kind=move || kind().map(RoomKind::as_str)
        >
            <div class="room-title">
                <h2 class="room-name">
                    {move || match kind() {
                        Some(RoomKind::Dm) => {
                            let online = state.is_online(&name());
                            view! { <PresenceDot online/> }.into_any()
                        }
                        kind => view! { <RoomIcon private=kind == Some(RoomKind::Private)/> }.into_any(),
                    }}
                    <span data-testid="room-name">{name}</span>
                </h2>
                {move || room.with(|r| r.as_ref().filter(|r| !r.topic.is_empty()).map(|r| view! {
                    <p class="room-topic" data-testid="room-topic">{r.topic.clone()}</p>
                }))}
                {move || room.with(|r| r.as_ref().filter(|r| r.archived).map(|_| view! {
                    <p class="room-topic">"Archived: no new messages."</p>
                }))}
            </div>
            <div class="room-actions">
                <Show when=move || !is_dm() && room.with(Option::is_some)>
                    <button
                        type="button"
                        class="small link-button"
                        data-testid="member-count"
                        aria-expanded=move || members_open().to_string()
                        on:click=toggle_members
                    >
                        {move || member_label(room.with(|r| r.as_ref().map_or(0, |r| r.member_count)))}
                    </button>
                </Show>
                <Show when=move || kind() == Some(RoomKind::Private)>
                    <button
                        type="button"
                        class="small link-button"
                        data-testid="invite-button"
                        on:click=move |_| if !members_open() { rooms::load_members(state, current(), ui) }
                    >"Invite"</button>
                </Show>
                <Show when=can_leave>
                    <button
                        type="button"
                        class="small link-button danger-text"
                        data-testid="leave-room"
                        disabled=move || ui.busy.get()
                        on:click=move |_| rooms::leave_room(state, current(), ui)
                    >"Leave"</button>
                </Show>
            </div>
            <div class="room-search">
                <SearchPanel state/>
            </div>
        </div>
        <PanelError ui/>
        <Show when=members_open>
            <div class="members-panel" data-testid="members-panel">
                <Show when=move || kind() == Some(RoomKind::Private)>
                    <form class="invite-form" data-testid="invite-form" on:submit=invite>
                        <input
                            type="text"
                            data-testid="invite-username"
                            placeholder="Username to invite"
                            aria-label="Username to invite"
                            autocomplete="off"
                            prop:value=move || invitee.get()
                            on:input=move |ev| invitee.set(event_target_value(&ev))
                        />
                        <button type="submit" class="small" data-testid="invite-submit" disabled=move || ui.busy.get()>
                            "Invite"
                        </button>
                    </form>
                </Show>
                <ul class="members" data-testid="members-list">
                    <For
                        each=move || state.members.get().map(|(_, list)| list).unwrap_or_default()
                        key=|m| m.username.clone()
                        let:member
                    >
                        <MemberItem state member/>
                    </For>
                </ul>
            </div>
        </Show>
    }
}

#[component]
fn MemberItem(state: ChatState, member: Member) -> impl IntoView {
    let username = member.username.clone();
    let online = Signal::derive({
        let username = username.clone();
        move || state.is_online(&username)
    });
    view! {
        <li
            class="member"
            data-testid="member"
            data-username=username.clone()
            data-online=move || online.get().to_string()
        >
            {move || view! { <PresenceDot online=online.get()/> }}
            <span class="member-name">{username.clone()}</span>
            {member.is_owner.then(|| view! { <small class="owner">"owner"</small> })}
        </li>
    }
}
