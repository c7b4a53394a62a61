//! What a blocked person sees under the login form: where their appeal stands, and while there is
//! none, a form to appeal (their username and password again, since they cannot sign in, and
//! what they want the admins to know). Sent from the browser to `POST /appeals`.

use crate::chat_state::Feedback;
use crate::models::AppealRequest;
use crate::protocol::MAX_APPEAL_CHARS;
use leptos::prelude::*;

#[cfg(feature = "hydrate")]
use crate::safety_client as safety;

/// The server renders the form; sending it needs the browser.
#[cfg(not(feature = "hydrate"))]
mod safety {
    use crate::chat_state::Feedback;
    use crate::models::AppealRequest;
    use leptos::prelude::*;

    pub fn send_appeal(_: AppealRequest, _: RwSignal<bool>, _: Feedback) {}
}

/// Where a blocked account's appeal stands, as the login answered: `none`, `open` or `rejected`
/// (with the admin's reason).
#[component]
pub fn AppealSection(appeal: String, reason: Option<String>) -> impl IntoView {
    match appeal.as_str() {
        "open" => view! {
            <p class="form-notice" role="status" data-testid="appeal-open">
                "Your appeal is waiting for an admin's decision."
            </p>
        }
        .into_any(),
        "rejected" => view! {
            <p class="form-error" role="alert" data-testid="appeal-rejected">
                {format!("Your appeal was rejected{}", reason.map(|r| format!(": {r}")).unwrap_or_default())}
            </p>
        }
        .into_any(),
        _ => view! { <AppealForm/> }.into_any(),
    }
}

#[component]
fn AppealForm() -> impl IntoView {
    let (username, password, text) =
        (RwSignal::new(String::new()), RwSignal::new(String::new()), RwSignal::new(String::new()));
    let sent = RwSignal::new(false);
    let ui = Feedback::new();
    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let request = AppealRequest {
            username: username.get_untracked(),
            password: password.get_untracked(),
            text: text.get_untracked(),
        };
        safety::send_appeal(request, sent, ui);
    };
    view! {
        <section class="appeal-section" data-testid="appeal-section">
            <h3>"Appeal your block"</h3>
            <Show
                when=move || sent.get()
                fallback=move || view! {
                    <Show when=move || ui.error.with(Option::is_some)>
                        <p class="form-error" role="alert">{move || ui.error.get().unwrap_or_default()}</p>
                    </Show>
                    <form class="auth-form" data-testid="appeal-form" on:submit=submit>
                        <label>"Username or email"
                            <input type="text" name="appeal-username" autocomplete="username" required
                                on:input=move |ev| username.set(event_target_value(&ev))/>
                        </label>
                        <label>"Password"
                            <input type="password" name="appeal-password" autocomplete="current-password" required
                                on:input=move |ev| password.set(event_target_value(&ev))/>
                        </label>
                        <label>"What should the admins know?"
                            <textarea name="appeal-text" required maxlength=MAX_APPEAL_CHARS.to_string()
                                on:input=move |ev| text.set(event_target_value(&ev))></textarea>
                        </label>
                        <button type="submit" disabled=move || ui.busy.get()>"Send appeal"</button>
                    </form>
                }
            >
                <p class="form-notice" role="status" data-testid="appeal-sent">
                    "Your appeal was sent. An admin will decide; log in again later to see the answer."
                </p>
            </Show>
        </section>
    }
}
