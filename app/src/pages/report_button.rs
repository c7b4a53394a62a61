//! A message's Report action (on other people's messages): sends `POST /messages/{id}/report`
//! and then says it was reported; a refusal's text is shown beside it.

use crate::chat_state::Feedback;
use leptos::prelude::*;

#[cfg(feature = "hydrate")]
use crate::safety_client as safety;

/// The server renders the button; reporting needs the browser.
#[cfg(not(feature = "hydrate"))]
mod safety {
    use crate::chat_state::Feedback;
    use leptos::prelude::*;

    pub fn send_report(_: i64, _: RwSignal<bool>, _: Feedback) {}
}

#[component]
pub fn ReportButton(id: i64) -> impl IntoView {
    let done = RwSignal::new(false);
    let ui = Feedback::new();
    view! {
        <span class="report">
            <Show
                when=move || done.get()
                fallback=move || view! {
                    <button type="button" class="link" data-testid="report-message" title="Report this message to the admins"
                        on:click=move |_| safety::send_report(id, done, ui)>"Report"</button>
                }
            >
                <small data-testid="reported">"Reported"</small>
            </Show>
            {move || ui.error.get().map(|error| view! { <small class="form-error">{error}</small> })}
        </span>
    }
}
