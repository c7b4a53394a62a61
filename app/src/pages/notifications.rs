//! The "Enable notifications" control of the chat's top bar: shown only while the browser has
//! not been asked yet (`Notification.permission` is `default`); a click asks for permission.
//! Which live messages notify, and when, is `chat_client`'s business (see `notifier`).

use leptos::prelude::*;

#[cfg(feature = "hydrate")]
use crate::notifier;

/// The server renders no control (it cannot know the browser's permission).
#[cfg(not(feature = "hydrate"))]
mod notifier {
    pub fn permission() -> &'static str {
        "unknown"
    }
    pub fn request_permission(_: impl Fn(&'static str) + 'static) {}
}

#[component]
pub fn EnableNotifications() -> impl IntoView {
    // Read in the browser once hydrated: the server's render and the first client render agree.
    let permission = RwSignal::new("unknown");
    Effect::new(move |_| permission.set(notifier::permission()));
    let ask = move |_| notifier::request_permission(move |answer| permission.set(answer));
    view! {
        <Show when=move || permission.get() == "default">
            <button
                type="button"
                class="small link-button enable-notifications"
                data-testid="enable-notifications"
                aria-label="Enable notifications"
                title="Be notified of mentions and direct messages while this page is hidden"
                on:click=ask
            >
                "Enable notifications"
            </button>
        </Show>
    }
}
