//! `/login` and `/register`: plain HTML forms posting to server functions, so they work with
//! JavaScript off; once hydrated they submit without a page load and show errors inline. A
//! blocked account's login shows where its appeal stands, or the appeal form (`appeal_form`).

use super::appeal_form::AppealSection;
use crate::api::{Login, Register};
use crate::error::ApiError;
use leptos::prelude::*;
use leptos_router::hooks::use_query_map;

/// The error to show: the action's typed error (JavaScript on) or the `?error=` code of a plain
/// form post that was redirected back (JavaScript off).
fn form_error(action_error: Signal<Option<ApiError>>) -> Signal<Option<String>> {
    let query = use_query_map();
    Signal::derive(move || {
        action_error
            .get()
            .or_else(|| query.read().get("error").and_then(|code| ApiError::from_code(&code)))
            .map(|error| error.to_string())
    })
}

#[component]
fn ErrorLine(error: Signal<Option<String>>) -> impl IntoView {
    move || error.get().map(|message| view! { <p class="form-error" role="alert">{message}</p> })
}

#[component]
pub fn LoginPage() -> impl IntoView {
    let login = ServerAction::<Login>::new();
    let error = form_error(Signal::derive(move || login.value().get().and_then(Result::err)));
    let query = use_query_map();
    let registered = move || query.read().get("registered").is_some();
    let deleted = move || query.read().get("deleted").is_some();
    // A blocked account (the right password): where its appeal stands, from the login's answer,
    // or (JavaScript off, redirected with `?error=blocked`) unknown, so the form is offered.
    let blocked = move || match login.value().get() {
        Some(Err(ApiError::BlockedLogin { appeal, reason })) => Some((appeal, reason)),
        Some(Err(ApiError::Blocked)) => Some(("none".to_owned(), None)),
        Some(_) => None,
        None => (query.read().get("error").as_deref() == Some("blocked")).then(|| ("none".to_owned(), None)),
    };
    view! {
        <main class="centered">
            <section class="card">
                <h1 class="brand">"ChatterBox"</h1>
                <h2>"Log in"</h2>
                <Show when=registered>
                    <p class="form-notice" role="status">"Account created. You can log in now."</p>
                </Show>
                <Show when=deleted>
                    <p class="form-notice" role="status" data-testid="account-deleted">"Your account was deleted."</p>
                </Show>
                <ErrorLine error/>
                <ActionForm action=login attr:class="auth-form">
                    <label>
                        "Username or email"
                        <input type="text" name="username" autocomplete="username" required/>
                    </label>
                    <label>
                        "Password"
                        <input type="password" name="password" autocomplete="current-password" required/>
                    </label>
                    <button type="submit" disabled=move || login.pending().get()>"Log in"</button>
                </ActionForm>
                <p class="switch">"New here? " <a href="/register">"Create an account"</a></p>
                {move || blocked().map(|(appeal, reason)| view! { <AppealSection appeal reason/> })}
            </section>
        </main>
    }
}

#[component]
pub fn RegisterPage() -> impl IntoView {
    let register = ServerAction::<Register>::new();
    let error = form_error(Signal::derive(move || register.value().get().and_then(Result::err)));
    view! {
        <main class="centered">
            <section class="card">
                <h1 class="brand">"ChatterBox"</h1>
                <h2>"Create an account"</h2>
                <ErrorLine error/>
                <ActionForm action=register attr:class="auth-form">
                    <label>
                        "Username"
                        <input type="text" name="username" autocomplete="username" required
                            minlength="3" maxlength="32" pattern="[A-Za-z0-9_.\\-]+"/>
                        <small>"3-32 letters, digits, '_', '.' or '-'"</small>
                    </label>
                    <label>
                        "Email"
                        <input type="email" name="email" autocomplete="email" required/>
                    </label>
                    <label>
                        "Password"
                        <input type="password" name="password" autocomplete="new-password" required minlength="8"/>
                        <small>"At least 8 characters (at most 72 bytes)"</small>
                    </label>
                    <button type="submit" disabled=move || register.pending().get()>"Create account"</button>
                </ActionForm>
                <p class="switch">"Already have an account? " <a href="/login">"Log in"</a></p>
            </section>
        </main>
    }
}
