//! The ChatterBox server: configuration, store, auth and the HTTP/WebSocket doors, assembled by
//! [`app`] into one axum `Router` that `main` serves and integration tests bind to `127.0.0.1:0`.

#![recursion_limit = "256"]

pub mod auth;
pub mod cli;
pub mod cluster;
pub mod config;
pub mod fanout;
pub mod files;
pub mod http;
pub mod limits;
pub mod metrics;
pub mod moderation;
pub mod search;
pub mod services;
pub mod serving;
pub mod state;
pub mod store;
pub mod telemetry;
pub mod ws;

use ::http::header::{HeaderName, CACHE_CONTROL, REFERRER_POLICY, X_CONTENT_TYPE_OPTIONS, X_FRAME_OPTIONS};
use ::http::HeaderValue;
use ::http::Request;
use app::backend::BackendHandle;
use axum::routing::get;
use axum::Router;
use leptos::prelude::*;
use leptos_axum::{generate_route_list, LeptosRoutes};
use services::Services;
pub use state::AppState;
use std::sync::Arc;
use std::time::Duration;
use tower_http::set_header::SetResponseHeaderLayer;
use tower_http::trace::TraceLayer;

/// The Leptos options of this process: those cargo-leptos baked in or set in the environment.
/// A binary built by plain `cargo build` has no output name baked in: it gets `chatterbox`.
///
/// Two defaults differ from Leptos' own, so that a binary started from the repository root
/// without cargo-leptos serves its own build (see `app::assets`):
/// - the site root (`LEPTOS_SITE_ROOT`) is `target/site` for a release binary and
///   [`DEBUG_SITE_ROOT`] for a debug one: cargo-leptos empties the site root before each build,
///   so release and debug builds each keep their own;
/// - hashed file names (`LEPTOS_HASH_FILES`) are on: pages name the files listed in the hash
///   file next to the executable (`LEPTOS_HASH_FILE_NAME`, default `hash.txt`).
pub fn leptos_options() -> Result<LeptosOptions, String> {
    let var = |name: &str| std::env::var(name).ok().filter(|value| !value.is_empty());
    let mut options = match get_configuration(None) {
        Ok(conf) => conf.leptos_options,
        Err(_) => {
            let addr = var("LEPTOS_SITE_ADDR").unwrap_or_else(|| "127.0.0.1:3000".to_owned());
            let site_addr: std::net::SocketAddr =
                addr.parse().map_err(|_| format!("invalid LEPTOS_SITE_ADDR: {addr:?}"))?;
            LeptosOptions::builder().output_name("chatterbox").site_addr(site_addr).build()
        }
    };
    if options.output_name.is_empty() {
        // A plain `cargo build` (tests): Leptos found no output name and left it empty.
        options.output_name = "chatterbox".into();
    }
    options.site_root = var("LEPTOS_SITE_ROOT").unwrap_or_else(|| default_site_root().to_owned()).into();
    options.hash_files = match var("LEPTOS_HASH_FILES") {
        Some(value) => value.parse().map_err(|_| format!("invalid LEPTOS_HASH_FILES: {value:?}"))?,
        None => true,
    };
    if let Some(name) = var("LEPTOS_HASH_FILE_NAME") {
        options.hash_file = name.into();
    }
    Ok(options)
}

/// Where debug builds put the site (`site-root` in the workspace's `Cargo.toml`).
pub const DEBUG_SITE_ROOT: &str = "target/site-debug";
/// Where release builds put the site (`LEPTOS_SITE_ROOT` of `scripts/run.sh`).
pub const RELEASE_SITE_ROOT: &str = "target/site";

/// The site root of this binary's profile when `LEPTOS_SITE_ROOT` is not set.
pub fn default_site_root() -> &'static str {
    if cfg!(debug_assertions) {
        DEBUG_SITE_ROOT
    } else {
        RELEASE_SITE_ROOT
    }
}

/// The whole application as a router.
pub fn app(state: AppState) -> Router {
    let routes = generate_route_list(app::App);
    let backend = BackendHandle(state.services.clone());
    let shell_options = state.leptos_options.clone();
    let assets = http::assets::site_assets(&state.leptos_options);
    let page_assets = assets.clone();
    let pkg_files = format!("/{}/{{*file}}", state.leptos_options.site_pkg_dir);
    // Every REST route comes from its handler's description (`http::openapi`): served where it
    // says, so that `GET /openapi.json` and the routes cannot drift apart.
    let (rest, _) = http::openapi::rest_routes().split_for_parts();
    Router::new()
        .merge(rest)
        // Not REST (listed in `http::openapi::NOT_IN_OPENAPI`): Prometheus text, behind its token.
        .route("/metrics", get(http::metrics::with_token))
        // Not REST (listed in `http::openapi::NOT_IN_OPENAPI`): described by `GET /asyncapi.json`.
        .route("/ws", get(ws::upgrade::handler))
        .leptos_routes_with_context(
            &state,
            routes,
            move || {
                provide_context(backend.clone());
                provide_context(page_assets.clone());
                leptos::nonce::provide_nonce();
            },
            move || app::shell(shell_options.clone()),
        )
        .route(&pkg_files, get(http::assets::pkg_file))
        .fallback(http::assets::file_or_page(assets))
        .layer(axum::middleware::from_fn_with_state(state.clone(), http::pages::require_session))
        .layer(axum::middleware::from_fn(http::csrf::refuse_cross_site))
        .layer(tower_http::limit::RequestBodyLimitLayer::new(MAX_BODY_BYTES))
        // Inside the JSON layers, so that its 408 is answered as JSON too.
        .layer(tower_http::timeout::TimeoutLayer::with_status_code(
            ::http::StatusCode::REQUEST_TIMEOUT,
            Duration::from_secs(state.services.config().request_timeout_secs),
        ))
        .merge(upload_routes(&state))
        .layer(axum::middleware::map_response(http::errors::json_layer_errors))
        .layer(axum::middleware::from_fn(http::errors::json_errors))
        // Headers every response carries (pages also get a CSP with a per-response nonce). Only
        // static files may be cached (`http::assets` sets their policy); pages and API answers not.
        .layer(header_if_missing(CACHE_CONTROL, http::assets::NO_STORE))
        .layer(header_if_missing(X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .layer(header_if_missing(REFERRER_POLICY, "same-origin"))
        .layer(header_if_missing(X_FRAME_OPTIONS, "DENY"))
        .layer(
            TraceLayer::new_for_http()
                // Path only: query strings may carry tokens and are never logged.
                .make_span_with(|request: &Request<_>| {
                    tracing::info_span!("request", method = %request.method(), path = %request.uri().path())
                }),
        )
        .with_state(state)
}

/// Largest request body accepted on any route but `POST /uploads`.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// `POST /uploads`, with a body limit (the largest upload and its multipart framing) and a time
/// limit of its own; the cross-site guard as on every route.
fn upload_routes(state: &AppState) -> Router<AppState> {
    let files = &state.services.config().files;
    let limit = usize::try_from(files.upload_max_bytes).unwrap_or(usize::MAX).saturating_add(MAX_BODY_BYTES);
    let (uploads, _) = http::openapi::upload_routes().split_for_parts();
    uploads
        .layer(axum::middleware::from_fn(http::csrf::refuse_cross_site))
        .layer(axum::extract::DefaultBodyLimit::disable())
        .layer(tower_http::limit::RequestBodyLimitLayer::new(limit))
        .layer(tower_http::timeout::TimeoutLayer::with_status_code(
            ::http::StatusCode::REQUEST_TIMEOUT,
            Duration::from_secs(files.upload_timeout_secs),
        ))
}

fn header_if_missing(name: HeaderName, value: &'static str) -> SetResponseHeaderLayer<HeaderValue> {
    SetResponseHeaderLayer::if_not_present(name, HeaderValue::from_static(value))
}

/// Serves `router` on `listener` until `stop` resolves; then closes every WebSocket with 1001
/// and lets the writer commit what is in flight, while HTTP requests in progress finish (a few
/// seconds at most). Meanwhile new connections are answered 503 with `Retry-After`; the
/// listener closes once the drain is over. See [`serving`].
pub async fn serve_until(
    listener: tokio::net::TcpListener,
    router: Router,
    services: Arc<Services>,
    stop: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let header_timeout = Duration::from_secs(services.config().request_timeout_secs);
    let (connections, listener) = serving::accept_until(listener, router, header_timeout, stop).await;
    tracing::info!("shutting down");
    let grace = Duration::from_secs(services.config().operations.shutdown_grace_secs);
    let drained = async {
        tokio::join!(services.hub().shutdown(grace), connections.finish(grace));
    };
    serving::refuse_until(listener, header_timeout, drained).await;
    Ok(())
}

/// Serves `GET /metrics` without a token on `listener` (`CHATTERBOX_METRICS_ADDR`), in a task of
/// its own, for as long as the process runs.
pub fn serve_metrics(listener: tokio::net::TcpListener, services: Arc<Services>) {
    let router = http::metrics::router(services);
    tokio::spawn(async move {
        if let Err(error) = axum::serve(listener, router).await {
            tracing::error!(%error, "the metrics listener stopped");
        }
    });
}

/// Serves until SIGINT/SIGTERM.
pub async fn serve(listener: tokio::net::TcpListener, router: Router, services: Arc<Services>) -> std::io::Result<()> {
    serve_until(listener, router, services, shutdown_signal()).await
}

/// Resolves on SIGINT or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        if let Ok(mut sig) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            sig.recv().await;
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = terminate => {},
    }
    tracing::info!("shutdown signal received");
}
