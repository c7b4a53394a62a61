//! ChatterBox's shared application crate: validated domain types, the public models, the error
//! type, server functions and every page component. Compiled twice: with `ssr` into the server
//! (server-side rendering, server functions) and with `hydrate` into the WASM client.

pub mod api;
pub mod chat_state;
pub mod domain;
pub mod error;
pub mod models;
pub mod pages;
pub mod protocol;

#[cfg(feature = "ssr")]
pub mod backend;
#[cfg(feature = "hydrate")]
pub mod chat_client;
#[cfg(feature = "hydrate")]
pub mod rooms_client;
#[cfg(feature = "ssr")]
pub mod session;

pub use moderation;

use leptos::prelude::*;
use leptos_meta::{provide_meta_context, MetaTags, Stylesheet, Title};
use leptos_router::{
    components::{Route, Router, Routes},
    path, SsrMode,
};

/// The HTML document the server renders around the app.
pub fn shell(options: LeptosOptions) -> impl IntoView {
    #[cfg(feature = "ssr")]
    session::set_content_security_policy();
    view! {
        <!DOCTYPE html>
        <html lang="en">
            <head>
                <meta charset="utf-8"/>
                <meta name="viewport" content="width=device-width, initial-scale=1"/>
                <meta name="color-scheme" content="light"/>
                <link rel="icon" href="/favicon.svg" type="image/svg+xml"/>
                <HydrationScripts options/>
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
        <Stylesheet id="leptos" href="/pkg/chatterbox.css"/>
        <Title text="ChatterBox"/>
        <Router>
            <Routes fallback=pages::NotFound>
                // Async: the page is sent whole, so it also works with JavaScript off.
                <Route path=path!("/") view=pages::ChatPage ssr=SsrMode::Async/>
                <Route path=path!("/admin") view=pages::AdminPage ssr=SsrMode::Async/>
                <Route path=path!("/login") view=pages::LoginPage/>
                <Route path=path!("/register") view=pages::RegisterPage/>
            </Routes>
        </Router>
    }
}
