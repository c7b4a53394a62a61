//! The admin console's review queue: the messages the classifier flagged or held and the ones
//! people reported, front of the queue first, each with who sent it where, why it is here (the
//! classifier's score, the reports), the messages around it, and Approve / Remove / Strike.
//! Loaded in the browser from `GET /admin/review`; a decided item leaves the list.

use crate::chat_state::Feedback;
use crate::models::{ChatMessage, ReviewItem};
use leptos::prelude::*;

#[cfg(feature = "hydrate")]
use crate::safety_client as safety;

/// The server renders the console without the queue: the calls do nothing there.
#[cfg(not(feature = "hydrate"))]
mod safety {
    use crate::chat_state::Feedback;
    use crate::models::ReviewItem;
    use leptos::prelude::*;

    pub fn load_review(_: RwSignal<Vec<ReviewItem>>, _: RwSignal<bool>, _: Feedback) {}
    pub fn decide_item(_: RwSignal<Vec<ReviewItem>>, _: i64, _: &'static str, _: String, _: Feedback) {}
}

#[component]
pub fn ReviewPanel() -> impl IntoView {
    let items = RwSignal::new(Vec::<ReviewItem>::new());
    let loaded = RwSignal::new(false);
    let ui = Feedback::new();
    Effect::new(move |_| safety::load_review(items, loaded, ui));
    view! {
        <section class="panel" id="review">
            <h2>"Review queue"</h2>
            <Show when=move || ui.error.with(Option::is_some)>
                <p class="form-error" role="alert">{move || ui.error.get().unwrap_or_default()}</p>
            </Show>
            <Show when=move || loaded.get() fallback=|| view! { <p>"Loading…"</p> }>
                <Show when=move || items.with(Vec::is_empty)>
                    <p class="empty" data-testid="review-empty">"Nothing to review."</p>
                </Show>
                <ul class="review-items" data-testid="review-items">
                    <For each=move || items.get() key=|item| item.id let:item>
                        <ReviewEntry item items ui/>
                    </For>
                </ul>
            </Show>
        </section>
    }
}

#[component]
fn ReviewEntry(item: ReviewItem, items: RwSignal<Vec<ReviewItem>>, ui: Feedback) -> impl IntoView {
    let id = item.id;
    let reason = RwSignal::new(String::new());
    let decide = move |action: &'static str| safety::decide_item(items, id, action, reason.get_untracked(), ui);
    let why = item
        .score
        .map(|score| format!("classifier {score:.2}"))
        .into_iter()
        .chain((!item.reports.is_empty()).then(|| format!("{} report(s)", item.reports.len())))
        .collect::<Vec<_>>()
        .join(" · ");
    view! {
        <li class="review-item" data-testid="review-item" data-id=id data-held=item.held.to_string()>
            <div class="review-head">
                <strong class="author">{item.message.username.clone()}</strong>
                " in " {item.message.room.clone()} " · " {why}
                {item.held.then(|| view! { <span class="badge held">"held"</span> })}
            </div>
            <blockquote class="review-text" data-testid="review-text">{item.content.clone()}</blockquote>
            {(!item.reports.is_empty()).then(|| view! {
                <ul class="review-reports">
                    {item.reports.iter().map(|r| view! {
                        <li>{r.username.clone()} {(!r.reason.is_empty()).then(|| format!(": {}", r.reason))}</li>
                    }).collect_view()}
                </ul>
            })}
            {(!item.context.is_empty()).then(|| view! {
                <details class="review-context">
                    <summary>"Context"</summary>
                    <ol>{item.context.iter().map(context_line).collect_view()}</ol>
                </details>
            })}
            <div class="review-actions">
                <input type="text" placeholder="Reason (optional)" maxlength="500" data-testid="review-reason"
                    prop:value=move || reason.get() on:input=move |ev| reason.set(event_target_value(&ev))/>
                <button type="button" data-testid="review-approve" disabled=move || ui.busy.get()
                    on:click=move |_| decide("approve")>"Approve"</button>
                <button type="button" data-testid="review-remove" disabled=move || ui.busy.get()
                    on:click=move |_| decide("remove")>"Remove"</button>
                <button type="button" class="danger" data-testid="review-strike" disabled=move || ui.busy.get()
                    on:click=move |_| decide("strike")>"Strike"</button>
            </div>
        </li>
    }
}

fn context_line(message: &ChatMessage) -> impl IntoView {
    let text = if message.removed { "(removed)".to_owned() } else { message.content.clone() };
    view! { <li><strong>{message.username.clone()}</strong>": " {text}</li> }
}
