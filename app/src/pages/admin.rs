//! `/admin`: the admin console. Server-rendered for admins only (anyone else gets a 403 page and
//! no data: every server function below re-checks the role in the database), then hydrated:
//! overview counts, the review queue (`review_panel`) and appeals (`appeals_panel`), users
//! (paged: a "More users" button) with search / blocked filter / block and unblock, a live
//! message monitor (the same WebSocket feed as the chat; edited and deleted messages marked, each
//! message's versions a click away), the moderation log, CSV downloads, and uploads per account
//! (`uploads_panel`: any file removable).

use super::appeals_panel::AppealsPanel;
use super::audit_panel::AuditPanel;
use super::message_versions::VersionsButton;
use super::review_panel::ReviewPanel;
use super::uploads_panel::UploadsPanel;
use crate::api::{
    admin_moderation_log, admin_recent_messages, admin_rooms, admin_stats, admin_users, current_user, AdminArchiveRoom,
    AdminSetBlocked,
};
use crate::chat_state::ChatState;
use crate::error::ApiError;
use crate::models::{AdminMessage, AdminRoom, ChatMessage, PublicUser, RoomKind};
use leptos::prelude::*;

#[component]
pub fn AdminPage() -> impl IntoView {
    let me = Resource::new(|| (), |_| current_user());
    view! {
        <Suspense fallback=|| view! { <main class="centered"><p>"Loading…"</p></main> }>
            {move || Suspend::new(async move {
                match me.await {
                    Ok(Some(user)) if user.is_admin => view! { <Console user/> }.into_any(),
                    _ => view! { <Forbidden/> }.into_any(),
                }
            })}
        </Suspense>
    }
}

#[component]
fn Forbidden() -> impl IntoView {
    #[cfg(feature = "ssr")]
    if let Some(response) = use_context::<leptos_axum::ResponseOptions>() {
        response.set_status(http::StatusCode::FORBIDDEN);
    }
    view! {
        <main class="centered">
            <section class="card forbidden">
                <h1>"403 — admins only"</h1>
                <p>"This page is for ChatterBox admins."</p>
                <p><a href="/">"Back to the chat"</a></p>
            </section>
        </main>
    }
}

#[component]
fn Console(user: PublicUser) -> impl IntoView {
    let set_blocked = ServerAction::<AdminSetBlocked>::new();
    let version = set_blocked.version();
    let overview = Resource::new(move || version.get(), |_| admin_stats());
    let blocked_only = RwSignal::new(false);
    // How many pages of users are shown; "More users" asks for one more.
    let pages = RwSignal::new(1usize);
    let users = Resource::new(
        move || (version.get(), blocked_only.get(), pages.get()),
        |(_, only, pages)| load_users(only, pages),
    );
    let log = Resource::new(move || version.get(), |_| admin_moderation_log());
    let recent = Resource::new(|| (), |_| admin_recent_messages());
    let archive = ServerAction::<AdminArchiveRoom>::new();
    let rooms = Resource::new(move || archive.version().get(), |_| admin_rooms());
    let search = RwSignal::new(String::new());
    view! {
        <div class="admin-layout">
            <header class="topbar">
                <span class="brand">"ChatterBox admin"</span>
                <a href="/">"Chat"</a>
                <span class="whoami">"Signed in as " <strong class="username">{user.username.clone()}</strong></span>
            </header>
            <main class="admin-main">
                <section class="overview" aria-label="Overview">
                    <Transition fallback=|| ()>
                        {move || overview.get().and_then(Result::ok).map(|o| view! {
                            <div class="stat"><span class="n" id="stat-users">{o.users}</span>" users"</div>
                            <div class="stat"><span class="n" id="stat-blocked">{o.blocked}</span>" blocked"</div>
                            <div class="stat"><span class="n" id="stat-messages">{o.messages_today}</span>" messages today"</div>
                            <div class="stat"><span class="n" id="stat-violations">{o.violations_today}</span>" violations today"</div>
                        })}
                    </Transition>
                </section>
                <section class="downloads">
                    <a class="button" id="download-users" href="/admin/download/users" download="chatterbox-users.csv">"Download users (CSV)"</a>
                    <a class="button" id="download-messages" href="/admin/download/messages" download="chatterbox-messages.csv">"Download messages (CSV)"</a>
                </section>
                <ReviewPanel/>
                <AppealsPanel/>
                <UploadsPanel/>
                <AuditPanel/>
                <section class="panel">
                    <h2>"Users"</h2>
                    <div class="filters">
                        <input type="search" id="user-search" placeholder="Search username or email"
                            prop:value=move || search.get() on:input=move |ev| search.set(event_target_value(&ev))/>
                        <label><input type="checkbox" id="blocked-only"
                            prop:checked=move || blocked_only.get()
                            on:change=move |ev| { pages.set(1); blocked_only.set(event_target_checked(&ev)); }/>" Blocked only"</label>
                    </div>
                    <Transition fallback=|| view! { <p>"Loading…"</p> }>
                        {move || users.get().map(|result| match result {
                            Ok((list, more)) => view! {
                                <UsersTable list search set_blocked me=user.id/>
                                {more.then(|| view! {
                                    <button id="more-users" on:click=move |_| pages.update(|p| *p += 1)>"More users"</button>
                                })}
                            }.into_any(),
                            Err(e) => view! { <p class="form-error">{e.to_string()}</p> }.into_any(),
                        })}
                    </Transition>
                </section>
                <section class="panel">
                    <h2>"Live messages"</h2>
                    <Transition fallback=|| ()>
                        {move || recent.get().and_then(Result::ok).map(|initial| view! { <Monitor initial me=user.clone()/> })}
                    </Transition>
                </section>
                <section class="panel">
                    <h2>"Rooms"</h2>
                    <Transition fallback=|| ()>
                        {move || rooms.get().map(|result| match result {
                            Ok(list) => view! { <RoomsTable list archive/> }.into_any(),
                            Err(e) => view! { <p class="form-error">{e.to_string()}</p> }.into_any(),
                        })}
                    </Transition>
                </section>
                <section class="panel">
                    <h2>"Moderation log"</h2>
                    <Transition fallback=|| ()>
                        {move || log.get().and_then(Result::ok).map(|entries| view! {
                            <div class="table-wrap">
                                <table id="moderation-log">
                                    <thead><tr><th>"Time (UTC)"</th><th>"User"</th><th>"Rule"</th><th>"Text"</th><th>"Warnings"</th></tr></thead>
                                    <tbody>
                                        {entries.into_iter().map(|e| view! {
                                            <tr class:blocked=e.blocked>
                                                <td>{e.timestamp.get(..19).unwrap_or(&e.timestamp).replace('T', " ")}</td>
                                                <td>{e.username}</td>
                                                <td>{e.rule}</td>
                                                <td class="text">{e.content}</td>
                                                <td>{e.warning_count}{if e.blocked { " (blocked)" } else { "" }}</td>
                                            </tr>
                                        }).collect_view()}
                                    </tbody>
                                </table>
                            </div>
                        })}
                    </Transition>
                </section>
            </main>
        </div>
    }
}

/// Users shown per page of the console (the server allows up to 1000).
const USERS_PAGE: i64 = 100;

/// The first `pages` pages of users (following the `after` cursor), and whether more may follow.
async fn load_users(blocked_only: bool, pages: usize) -> Result<(Vec<PublicUser>, bool), ApiError> {
    let (mut all, mut after) = (Vec::new(), None);
    for _ in 0..pages {
        let page = admin_users(blocked_only, after, Some(USERS_PAGE)).await?;
        let full = page.len() as i64 == USERS_PAGE;
        after = page.last().map(|u| u.id);
        all.extend(page);
        if !full {
            return Ok((all, false));
        }
    }
    Ok((all, true))
}

#[component]
fn UsersTable(
    list: Vec<PublicUser>,
    search: RwSignal<String>,
    set_blocked: ServerAction<AdminSetBlocked>,
    me: i64,
) -> impl IntoView {
    let rows = move || {
        let needle = search.get().to_lowercase();
        list.iter()
            .filter(|u| {
                needle.is_empty()
                    || u.username.to_lowercase().contains(&needle)
                    || u.email.to_lowercase().contains(&needle)
            })
            .cloned()
            .collect::<Vec<_>>()
    };
    view! {
        <div class="table-wrap">
            <table id="users">
                <thead><tr><th>"User"</th><th>"Email"</th><th>"Role"</th><th>"Warnings"</th><th>"Status"</th><th></th></tr></thead>
                <tbody>
                    <For each=rows key=|u| (u.id, u.is_blocked, u.warning_count) let:u>
                        <tr data-username=u.username.clone() class:blocked=u.is_blocked>
                            <td>{u.username.clone()}</td>
                            <td>{u.email.clone()}</td>
                            <td>{if u.is_admin { "admin" } else { "user" }}</td>
                            <td class="warnings">{u.warning_count}</td>
                            <td class="status">{if u.is_blocked { "blocked" } else { "active" }}</td>
                            <td>
                                {(u.id != me).then(|| {
                                    let (id, blocked) = (u.id, u.is_blocked);
                                    view! {
                                        <button class=if blocked { "unblock" } else { "block danger" }
                                            on:click=move |_| { set_blocked.dispatch(AdminSetBlocked { user_id: id, blocked: !blocked }); }>
                                            {if blocked { "Unblock" } else { "Block" }}
                                        </button>
                                    }
                                })}
                            </td>
                        </tr>
                    </For>
                </tbody>
            </table>
        </div>
    }
}

/// A conversation as the console names it: `general (public)`, `alice & bob (dm)`.
fn conversation_label(room: &str, kind: RoomKind) -> String {
    format!("{room} ({})", kind.as_str())
}

/// Recent messages of every conversation (private rooms and DMs included), with general's new
/// ones kept live by the chat's WebSocket feed.
#[component]
fn Monitor(initial: Vec<AdminMessage>, me: PublicUser) -> impl IntoView {
    let state = ChatState::new(&me);
    let feed = state.current_conversation();
    #[cfg(feature = "hydrate")]
    Effect::new(move |started: Option<()>| {
        if started.is_none() {
            crate::chat_client::start(state);
        }
    });
    let rows = move || {
        let mut rows: Vec<MonitorRow> = initial.iter().map(MonitorRow::from_admin).collect();
        feed.messages.with(|live| {
            for message in live {
                let row = MonitorRow::from_live(message);
                // The feed's copy is the newer one: it follows edits and deletions.
                match rows.iter_mut().find(|known| known.id == row.id) {
                    Some(known) => *known = MonitorRow { conversation: known.conversation.clone(), ..row },
                    None => rows.push(row),
                }
            }
        });
        rows.sort_by_key(|row| std::cmp::Reverse(row.id));
        rows.truncate(200);
        rows
    };
    view! {
        <div class="table-wrap monitor">
            <table id="monitor">
                <thead><tr><th>"Id"</th><th>"Time (UTC)"</th><th>"Conversation"</th><th>"User"</th><th>"Message"</th><th>""</th></tr></thead>
                <tbody>
                    <For each=rows key=|row| (row.id, row.content.clone(), row.edited, row.deleted) let:row>
                        <tr data-id=row.id class:deleted=row.deleted>
                            <td>{row.id}</td>
                            <td>{row.timestamp.get(..19).unwrap_or(&row.timestamp).replace('T', " ")}</td>
                            <td class="conversation">{row.conversation.clone()}</td>
                            <td>{row.username.clone()}</td>
                            <td class="text">
                                {row.content.clone()}
                                {row.edited.then(|| view! { <small class="mark edited-mark" data-testid="monitor-edited">" edited"</small> })}
                                {row.deleted.then(|| view! { <small class="mark deleted-mark" data-testid="monitor-deleted">" deleted"</small> })}
                            </td>
                            <td><VersionsButton id=row.id/></td>
                        </tr>
                    </For>
                </tbody>
            </table>
        </div>
    }
}

/// One row of the monitor.
#[derive(Clone, Debug, PartialEq, Eq)]
struct MonitorRow {
    id: i64,
    timestamp: String,
    username: String,
    content: String,
    conversation: String,
    edited: bool,
    deleted: bool,
}

impl MonitorRow {
    fn from_admin(message: &AdminMessage) -> Self {
        Self {
            id: message.id,
            timestamp: message.timestamp.clone(),
            username: message.username.clone(),
            content: shown_content(&message.content, message.removed, message.deleted),
            conversation: conversation_label(&message.room, message.room_kind),
            edited: message.edited_at.is_some(),
            deleted: message.deleted,
        }
    }

    /// A message of the live feed (general's).
    fn from_live(message: &ChatMessage) -> Self {
        Self {
            id: message.id,
            timestamp: message.timestamp.clone(),
            username: message.username.clone(),
            content: shown_content(&message.content, message.removed, message.deleted),
            conversation: conversation_label(&message.room, RoomKind::Public),
            edited: message.edited_at.is_some(),
            deleted: message.deleted,
        }
    }
}

/// Every room, private rooms and DMs included, with an archive button.
#[component]
fn RoomsTable(list: Vec<AdminRoom>, archive: ServerAction<AdminArchiveRoom>) -> impl IntoView {
    view! {
        <div class="table-wrap">
            <table id="rooms">
                <thead><tr><th>"Id"</th><th>"Conversation"</th><th>"Owner"</th><th>"Members"</th><th>"Messages"</th><th>""</th></tr></thead>
                <tbody>
                    {list.into_iter().map(|room| {
                        let id = room.id;
                        let can_archive = !room.archived && id != crate::protocol::GENERAL_ROOM_ID;
                        view! {
                            <tr class:archived=room.archived data-room-id=id>
                                <td>{id}</td>
                                <td>{conversation_label(&room.name, room.kind)}</td>
                                <td>{room.owner.unwrap_or_default()}</td>
                                <td>{room.member_count}</td>
                                <td>{room.message_count}</td>
                                <td>
                                    {if room.archived { "archived" } else { "" }}
                                    {can_archive.then(|| view! {
                                        <button class="archive" on:click=move |_| { archive.dispatch(AdminArchiveRoom { room_id: id }); }>"Archive"</button>
                                    })}
                                </td>
                            </tr>
                        }
                    }).collect_view()}
                </tbody>
            </table>
        </div>
    }
}

/// A message's text as the monitor shows it (a removed or deleted one says so; its text is in
/// its versions).
fn shown_content(content: &str, removed: bool, deleted: bool) -> String {
    if removed {
        "(removed)".to_owned()
    } else if deleted {
        "(deleted)".to_owned()
    } else {
        content.to_owned()
    }
}
