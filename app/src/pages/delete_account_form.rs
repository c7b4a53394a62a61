//! The settings' account deletion: the password again, and a checkbox saying one understands
//! (`DELETE /me`). Signed out everywhere at once; the page goes to the login form.

use crate::chat_state::Feedback;
use crate::models::DeleteAccountRequest;
use leptos::prelude::*;

#[cfg(feature = "hydrate")]
use crate::account_client as account;

/// The server renders the form; sending it needs the browser.
#[cfg(not(feature = "hydrate"))]
mod account {
    use crate::chat_state::Feedback;
    use crate::models::DeleteAccountRequest;

    pub fn delete_account(_: DeleteAccountRequest, _: Feedback) {}
}

#[component]
pub fn DeleteAccountForm() -> impl IntoView {
    let password = RwSignal::new(String::new());
    let sure = RwSignal::new(false);
    let ui = Feedback::new();
    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        account::delete_account(DeleteAccountRequest { password: password.get_untracked() }, ui);
    };
    view! {
        <p>"Your sessions end at once and you cannot log in again. What you wrote stays in its conversations as from \u{201c}deleted user\u{201d}, unless this server erases it; your username stays reserved for a while."</p>
        <Show when=move || ui.error.with(Option::is_some)>
            <p class="form-error" role="alert">{move || ui.error.get().unwrap_or_default()}</p>
        </Show>
        <form class="auth-form" data-testid="delete-account-form" on:submit=submit>
            <label>"Password"
                <input type="password" name="delete-password" autocomplete="current-password" required
                    on:input=move |ev| password.set(event_target_value(&ev))/>
            </label>
            <label class="checkbox">
                <input type="checkbox" name="delete-sure" on:change=move |ev| sure.set(event_target_checked(&ev))/>
                "I understand this cannot be undone"
            </label>
            <button type="submit" class="danger" disabled=move || ui.busy.get() || !sure.get()>"Delete my account"</button>
        </form>
    }
}
