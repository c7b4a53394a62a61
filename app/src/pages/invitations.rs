//! The sidebar's invitations: the private rooms someone invited me to while invitations need
//! accepting (`invitations_need_accept`), each with who invited me and Accept / Decline. Filled
//! from `GET /invitations` when the page connects and from live `invitation` frames; an answered
//! one (here or in another tab: the room arrives in my list) leaves the list.

use crate::chat_state::{ChatState, Feedback};
use crate::models::Invitation;
use leptos::prelude::*;

#[cfg(feature = "hydrate")]
use crate::rooms_client as rooms;

/// The server renders the page without a connection: the calls do nothing there.
#[cfg(not(feature = "hydrate"))]
mod rooms {
    use crate::chat_state::{ChatState, Feedback};

    pub fn accept_invitation(_: ChatState, _: i64, _: Feedback) {}
    pub fn decline_invitation(_: ChatState, _: i64, _: Feedback) {}
}

/// The invitations waiting for my answer (nothing at all when there are none).
#[component]
pub fn Invitations(state: ChatState) -> impl IntoView {
    let ui = Feedback::new();
    view! {
        <Show when=move || state.invitations.with(|all| !all.is_empty())>
            <h3 class="sidebar-heading">"Invitations"</h3>
            <Show when=move || ui.error.with(Option::is_some)>
                <p class="panel-error" data-testid="panel-error" role="alert">
                    {move || ui.error.get().unwrap_or_default()}
                </p>
            </Show>
            <ul class="invitations" data-testid="invitations">
                <For each=move || state.invitations.get() key=|invitation| invitation.room.id let:invitation>
                    <InvitationItem state invitation ui/>
                </For>
            </ul>
        </Show>
    }
}

#[component]
fn InvitationItem(state: ChatState, invitation: Invitation, ui: Feedback) -> impl IntoView {
    let room_id = invitation.room.id;
    view! {
        <li class="invitation" data-testid="invitation" data-room-id=room_id>
            <span class="invitation-name">{invitation.room.name.clone()}</span>
            <small class="invitation-from">{format!("from {}", invitation.inviter)}</small>
            <span class="invitation-actions">
                <button
                    type="button"
                    class="small"
                    data-testid="accept-invitation"
                    disabled=move || ui.busy.get()
                    on:click=move |_| rooms::accept_invitation(state, room_id, ui)
                >"Accept"</button>
                <button
                    type="button"
                    class="small"
                    data-testid="decline-invitation"
                    disabled=move || ui.busy.get()
                    on:click=move |_| rooms::decline_invitation(state, room_id, ui)
                >"Decline"</button>
            </span>
        </li>
    }
}
