//! `/settings`: a signed-in person's own account: change the password, download one's data
//! (`GET /me/export`), delete the account. Each form in its own file.

use super::delete_account_form::DeleteAccountForm;
use super::password_form::PasswordForm;
use crate::api::current_user;
use crate::models::PublicUser;
use leptos::prelude::*;

#[component]
pub fn SettingsPage() -> impl IntoView {
    let me = Resource::new(|| (), |_| current_user());
    view! {
        <Suspense fallback=|| view! { <main class="centered"><p>"Loading…"</p></main> }>
            {move || Suspend::new(async move {
                match me.await {
                    Ok(Some(user)) => view! { <Settings user/> }.into_any(),
                    _ => view! {
                        <main class="centered">
                            <section class="card"><p><a href="/login">"Log in"</a>" to see your settings."</p></section>
                        </main>
                    }
                    .into_any(),
                }
            })}
        </Suspense>
    }
}

#[component]
fn Settings(user: PublicUser) -> impl IntoView {
    view! {
        <main class="settings" data-testid="settings">
            <header class="settings-header">
                <a href="/">"← Back to the chat"</a>
                <h1>"Your account"</h1>
                <p>"Signed in as " <strong>{user.username.clone()}</strong> " (" {user.email.clone()} ")"</p>
            </header>
            <section class="panel">
                <h2>"Password"</h2>
                <PasswordForm/>
            </section>
            <section class="panel">
                <h2>"Your data"</h2>
                <p>"Everything ChatterBox keeps about you: your account, your conversations, the people you ignore and every message you sent, as one JSON file."</p>
                <a class="button" href="/me/export" download="chatterbox-export.json" data-testid="export-link">"Download my data"</a>
            </section>
            <section class="panel danger">
                <h2>"Delete account"</h2>
                <DeleteAccountForm/>
            </section>
        </main>
    }
}
