//! The pages of the app: server-rendered, then hydrated.

mod admin;
mod appeal_form;
mod appeals_panel;
mod attachment_list;
mod audit_panel;
mod auth_forms;
pub mod chat;
mod composer;
mod delete_account_form;
mod invitations;
mod mention_complete;
mod message_actions;
mod message_bubble;
mod message_editor;
mod message_versions;
mod notifications;
mod password_form;
mod report_button;
mod review_panel;
mod search_panel;
mod settings;
mod standing_panel;
pub mod upload_tray;
mod uploads_panel;

pub use admin::AdminPage;
pub use auth_forms::{LoginPage, RegisterPage};
pub use chat::ChatPage;
pub use settings::SettingsPage;

use leptos::prelude::*;

#[component]
pub fn NotFound() -> impl IntoView {
    #[cfg(feature = "ssr")]
    if let Some(response) = use_context::<leptos_axum::ResponseOptions>() {
        response.set_status(http::StatusCode::NOT_FOUND);
    }
    view! {
        <main class="centered">
            <section class="card">
                <h1>"Page not found"</h1>
                <p><a href="/">"Back to ChatterBox"</a></p>
            </section>
        </main>
    }
}
