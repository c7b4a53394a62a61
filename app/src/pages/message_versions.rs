//! The admin monitor's "Versions" button of one message: reads every version of it
//! (`GET /admin/messages/{id}/versions`: the original, each edit, a deletion or removal) and
//! lists them, oldest first (kind, who, when, text — shown as text).

use crate::chat_state::Feedback;
use crate::models::MessageVersions;
use leptos::prelude::*;

#[cfg(feature = "hydrate")]
use crate::message_client as messages;

/// The server renders the button; reading the versions needs the browser.
#[cfg(not(feature = "hydrate"))]
mod messages {
    use crate::chat_state::Feedback;
    use crate::models::MessageVersions;
    use leptos::prelude::*;

    pub fn load_versions(_: i64, _: RwSignal<Option<MessageVersions>>, _: Feedback) {}
}

#[component]
pub fn VersionsButton(id: i64) -> impl IntoView {
    let ui = Feedback::new();
    let versions = RwSignal::new(None::<MessageVersions>);
    let open = RwSignal::new(false);
    let toggle = move |_| {
        let opening = !open.get_untracked();
        open.set(opening);
        if opening {
            messages::load_versions(id, versions, ui);
        }
    };
    view! {
        <button
            type="button"
            class="small link-button"
            data-testid="versions-button"
            aria-expanded=move || open.get().to_string()
            aria-label=format!("Versions of message {id}")
            on:click=toggle
        >
            "Versions"
        </button>
        <Show when=move || open.get()>
            {move || ui.error.get().map(|error| view! { <p class="panel-error" role="alert">{error}</p> })}
            {move || versions.get().map(|found| view! {
                <ol class="versions" data-testid="versions">
                    {found.versions.into_iter().map(|version| {
                        let when = version.timestamp.get(..19).unwrap_or(&version.timestamp).replace('T', " ");
                        view! {
                            <li class="version" data-testid="version" data-kind=version.kind.clone()>
                                <strong class="version-kind">{version.kind.clone()}</strong>
                                " · " {version.username.clone()} " · " <time>{when}</time>
                                {version.reason.clone().map(|reason| view! { <em>" (" {reason} ")"</em> })}
                                <div class="version-text">{version.content.clone()}</div>
                            </li>
                        }
                    }).collect_view()}
                </ol>
            })}
        </Show>
    }
}
