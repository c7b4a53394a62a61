//! ChatterBox's shared application crate: validated domain types, the public models, the error
//! type, server functions and every page component. Compiled twice: with `ssr` into the server
//! (server-side rendering, server functions) and with `hydrate` into the WASM client.

pub mod api;
pub mod chat_state;
pub mod domain;
pub mod error;
pub mod message_text;
pub mod models;
pub mod pages;
pub mod protocol;
pub mod upload_state;

#[cfg(feature = "hydrate")]
pub mod account_client;
#[cfg(feature = "ssr")]
pub mod assets;
#[cfg(feature = "ssr")]
pub mod backend;
#[cfg(feature = "hydrate")]
pub mod chat_client;
#[cfg(feature = "hydrate")]
pub mod message_client;
#[cfg(feature = "hydrate")]
pub mod notifier;
#[cfg(feature = "hydrate")]
pub mod rest_client;
#[cfg(feature = "hydrate")]
pub mod rooms_client;
#[cfg(feature = "hydrate")]
pub mod safety_client;
#[cfg(feature = "ssr")]
pub mod session;
#[cfg(feature = "hydrate")]
pub mod upload_client;

pub use moderation;

use leptos::prelude::*;
#[cfg(feature = "ssr")]
use leptos_meta::MetaTags;
use leptos_meta::{provide_meta_context, Title};
use leptos_router::{
    components::{Route, Router, Routes},
    path, SsrMode,
};

/// What search engines and link previews show of every page.
pub const DESCRIPTION: &str =
    "ChatterBox: self-hosted real-time chat with public and private rooms, direct messages and automatic moderation.";

/// The HTML document the server renders around the app. The stylesheet is its only
/// render-blocking file; the client (JS and WASM, hashed names from [`assets::SiteAssets`]) is
/// loaded by [`assets::boot_script`] once the page has been painted.
#[cfg(feature = "ssr")]
pub fn shell(options: LeptosOptions) -> impl IntoView {
    session::set_content_security_policy();
    let assets = use_context::<assets::SiteAssets>().unwrap_or_else(|| assets::SiteAssets::unhashed(&options));
    let boot = assets::boot_script(&assets);
    let nonce = leptos::nonce::use_nonce();
    view! {
        <!DOCTYPE html>
        <html lang="en">
            <head>
                <meta charset="utf-8"/>
                <meta name="viewport" content="width=device-width, initial-scale=1"/>
                <meta name="color-scheme" content="light"/>
                <meta name="description" content=DESCRIPTION/>
                <link rel="icon" href="/favicon.svg" type="image/svg+xml"/>
                <link id="leptos" rel="stylesheet" href=assets.css/>
                <script type="module" nonce=nonce>
                    {boot}
                </script>
                <MetaTags/>
            </head>
            <body>
                <App/>
            </body>
        </html>
    }
}

#[component]
pub fn App() -> impl IntoView {
    provide_meta_context();
    view! {
        <Title text="ChatterBox"/>
        <Router>
            <Routes fallback=pages::NotFound>
                // Async: the page is sent whole, so it also works with JavaScript off.
                <Route path=path!("/") view=pages::ChatPage ssr=SsrMode::Async/>
                <Route path=path!("/admin") view=pages::AdminPage ssr=SsrMode::Async/>
                <Route path=path!("/settings") view=pages::SettingsPage ssr=SsrMode::Async/>
                <Route path=path!("/login") view=pages::LoginPage/>
                <Route path=path!("/register") view=pages::RegisterPage/>
            </Routes>
        </Router>
    }
}
