//! The settings' password form: the current password and a new one (`POST /me/password`).
//! Every other session and socket of the account ends; this page keeps a fresh session.

use crate::chat_state::Feedback;
use crate::models::ChangePasswordRequest;
use leptos::prelude::*;

#[cfg(feature = "hydrate")]
use crate::account_client as account;

/// The server renders the form; sending it needs the browser.
#[cfg(not(feature = "hydrate"))]
mod account {
    use crate::chat_state::Feedback;
    use crate::models::ChangePasswordRequest;
    use leptos::prelude::*;

    pub fn change_password(_: ChangePasswordRequest, _: RwSignal<bool>, _: Feedback) {}
}

#[component]
pub fn PasswordForm() -> impl IntoView {
    let (current, new) = (RwSignal::new(String::new()), RwSignal::new(String::new()));
    let done = RwSignal::new(false);
    let ui = Feedback::new();
    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        done.set(false);
        account::change_password(
            ChangePasswordRequest { current: current.get_untracked(), new: new.get_untracked() },
            done,
            ui,
        );
    };
    view! {
        <Show when=move || ui.error.with(Option::is_some)>
            <p class="form-error" role="alert">{move || ui.error.get().unwrap_or_default()}</p>
        </Show>
        <Show when=move || done.get()>
            <p class="form-notice" role="status" data-testid="password-changed">
                "Password changed. Your other sessions have been signed out."
            </p>
        </Show>
        <form class="auth-form" data-testid="password-form" on:submit=submit>
            <label>"Current password"
                <input type="password" name="current-password" autocomplete="current-password" required
                    on:input=move |ev| current.set(event_target_value(&ev))/>
            </label>
            <label>"New password"
                <input type="password" name="new-password" autocomplete="new-password" required minlength="8"
                    on:input=move |ev| new.set(event_target_value(&ev))/>
            </label>
            <button type="submit" disabled=move || ui.busy.get()>"Change password"</button>
        </form>
    }
}
