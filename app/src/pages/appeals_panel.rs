//! The admin console's appeals: the open appeals of blocked accounts, each with its text, and
//! Accept (unblocks, warnings reset) / Reject (the person reads the reason at their next login).
//! Loaded in the browser from `GET /admin/appeals?state=open`; a decided appeal leaves the list.

use crate::chat_state::Feedback;
use crate::models::Appeal;
use leptos::prelude::*;

#[cfg(feature = "hydrate")]
use crate::safety_client as safety;

/// The server renders the console without the appeals: the calls do nothing there.
#[cfg(not(feature = "hydrate"))]
mod safety {
    use crate::chat_state::Feedback;
    use crate::models::Appeal;
    use leptos::prelude::*;

    pub fn load_appeals(_: RwSignal<Vec<Appeal>>, _: RwSignal<bool>, _: Feedback) {}
    pub fn decide_appeal_of(_: RwSignal<Vec<Appeal>>, _: i64, _: &'static str, _: String, _: Feedback) {}
}

#[component]
pub fn AppealsPanel() -> impl IntoView {
    let appeals = RwSignal::new(Vec::<Appeal>::new());
    let loaded = RwSignal::new(false);
    let ui = Feedback::new();
    Effect::new(move |_| safety::load_appeals(appeals, loaded, ui));
    view! {
        <section class="panel" id="appeals">
            <h2>"Appeals"</h2>
            <Show when=move || ui.error.with(Option::is_some)>
                <p class="form-error" role="alert">{move || ui.error.get().unwrap_or_default()}</p>
            </Show>
            <Show when=move || loaded.get() fallback=|| view! { <p>"Loading…"</p> }>
                <Show when=move || appeals.with(Vec::is_empty)>
                    <p class="empty" data-testid="appeals-empty">"No open appeals."</p>
                </Show>
                <ul class="appeals" data-testid="appeals">
                    <For each=move || appeals.get() key=|appeal| appeal.id let:appeal>
                        <AppealEntry appeal appeals ui/>
                    </For>
                </ul>
            </Show>
        </section>
    }
}

#[component]
fn AppealEntry(appeal: Appeal, appeals: RwSignal<Vec<Appeal>>, ui: Feedback) -> impl IntoView {
    let id = appeal.id;
    let reason = RwSignal::new(String::new());
    let decide =
        move |decision: &'static str| safety::decide_appeal_of(appeals, id, decision, reason.get_untracked(), ui);
    let since = appeal.created_at.get(..19).unwrap_or(&appeal.created_at).replace('T', " ");
    view! {
        <li class="appeal" data-testid="appeal" data-id=id>
            <div class="review-head">
                <strong class="author">{appeal.user.username.clone()}</strong>
                {format!(" · {} warnings · {since} UTC", appeal.user.warning_count)}
            </div>
            <blockquote class="review-text">{appeal.text.clone()}</blockquote>
            <div class="review-actions">
                <input type="text" placeholder="Reason (shown to them if rejected)" maxlength="500"
                    data-testid="appeal-reason"
                    prop:value=move || reason.get() on:input=move |ev| reason.set(event_target_value(&ev))/>
                <button type="button" data-testid="appeal-accept" disabled=move || ui.busy.get()
                    on:click=move |_| decide("accept")>"Accept"</button>
                <button type="button" class="danger" data-testid="appeal-reject" disabled=move || ui.busy.get()
                    on:click=move |_| decide("reject")>"Reject"</button>
            </div>
        </li>
    }
}
