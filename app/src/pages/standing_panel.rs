//! "My standing" in the sidebar: how many warnings my account has of the most it may have
//! before it is blocked, and each violation (when, which rule, whether it still counts), from
//! `GET /me/standing`, read when the panel is opened or closed.

use crate::chat_state::Feedback;
use crate::models::Standing;
use leptos::prelude::*;

#[cfg(feature = "hydrate")]
use crate::safety_client as safety;

/// The server renders the panel closed; reading the standing needs the browser.
#[cfg(not(feature = "hydrate"))]
mod safety {
    use crate::chat_state::Feedback;
    use crate::models::Standing;
    use leptos::prelude::*;

    pub fn load_standing(_: RwSignal<Option<Standing>>, _: Feedback) {}
}

#[component]
pub fn StandingPanel() -> impl IntoView {
    let standing = RwSignal::new(None::<Standing>);
    let ui = Feedback::new();
    // Toggled open (or closed): read it again, so a warning received meanwhile shows.
    let on_toggle = move |_: leptos::ev::Event| safety::load_standing(standing, ui);
    view! {
        <details class="standing" data-testid="standing" on:toggle=on_toggle>
            <summary>"My standing"</summary>
            {move || ui.error.get().map(|error| view! { <p class="form-error">{error}</p> })}
            {move || standing.get().map(|s| view! {
                <p data-testid="standing-summary">
                    {format!("{} of {} warnings", s.warnings, s.max_warnings)}
                </p>
                <ul class="standing-history">
                    {s.history.into_iter().map(|entry| view! {
                        <li class:not-counted=!entry.counted>
                            {entry.timestamp.get(..16).unwrap_or(&entry.timestamp).replace('T', " ")}
                            " · " {entry.rule}
                            {(!entry.counted).then_some(" (no longer counts)")}
                        </li>
                    }).collect_view()}
                </ul>
            })}
        </details>
    }
}
