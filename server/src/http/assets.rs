//! Static files: what cargo-leptos builds into the site root (`LEPTOS_SITE_ROOT`), i.e. the
//! client's JS, WASM and CSS under `/pkg/` and the files of `public/` (the favicon).
//!
//! - Compressed at build time: a request whose `Accept-Encoding` allows it gets the `.br` (or
//!   `.gz`) file beside the original, with `Content-Encoding`; every file answer says
//!   `Vary: Accept-Encoding`.
//! - Cached by name: a file whose name carries its content hash (`chatterbox.<hash>.wasm`, see
//!   [`app::assets`]) is `public, max-age=31536000, immutable`; other files of `/pkg/` must be
//!   revalidated (`no-cache`), the rest may be kept an hour. Pages and the API are `no-store`
//!   (set in `crate::app` for every answer that names no policy of its own).
//! - A missing file under `/pkg/` is a plain 404; any other path that is no file gets the app's
//!   404 page (or the JSON 404, by `Accept`).
//!
//! [`check_site`] tells at startup whether the site root holds this binary's build.

use crate::state::AppState;
use app::assets::SiteAssets;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::response::{IntoResponse, Response};
use http::header::{CACHE_CONTROL, VARY};
use http::{HeaderValue, Method, StatusCode};
use leptos::prelude::LeptosOptions;
use std::future::Future;
use std::path::Path;
use std::pin::Pin;
use tower::ServiceExt;
use tower_http::services::ServeDir;

/// For files whose name changes with their content.
pub const IMMUTABLE: &str = "public, max-age=31536000, immutable";
/// For client files without a hash in their name (a build without `hash-files`).
pub const REVALIDATE: &str = "no-cache";
/// For the other files of the site (the favicon).
pub const SHORT: &str = "public, max-age=3600";
/// For pages and API answers.
pub const NO_STORE: &str = "no-store";

/// `GET /pkg/{*file}`: a file of the client's build, or a plain 404.
pub async fn pkg_file(State(options): State<LeptosOptions>, request: Request) -> Response {
    let policy = if is_hashed(request.uri().path()) { IMMUTABLE } else { REVALIDATE };
    let response = serve_file(&options.site_root, request).await;
    if response.status() == StatusCode::NOT_FOUND {
        return StatusCode::NOT_FOUND.into_response();
    }
    with_cache_policy(response, policy)
}

/// The router's fallback: a file of the site root if the path names one, otherwise a plain 404
/// under `/pkg/` and the Leptos 404 page elsewhere, rendered with `assets` (what every page is
/// given).
pub fn file_or_page(
    assets: SiteAssets,
) -> impl Fn(State<AppState>, Request) -> Pin<Box<dyn Future<Output = Response> + Send>> + Clone + Send + Sync + 'static
{
    move |State(state): State<AppState>, request: Request| {
        let assets = assets.clone();
        Box::pin(async move {
            if matches!(*request.method(), Method::GET | Method::HEAD) {
                let mut probe = Request::new(Body::empty());
                *probe.method_mut() = request.method().clone();
                *probe.uri_mut() = request.uri().clone();
                *probe.headers_mut() = request.headers().clone();
                let response = serve_file(&state.leptos_options.site_root, probe).await;
                if !matches!(response.status(), StatusCode::NOT_FOUND | StatusCode::METHOD_NOT_ALLOWED) {
                    return with_cache_policy(response, SHORT);
                }
            }
            if request.uri().path().starts_with(&format!("/{}/", state.leptos_options.site_pkg_dir)) {
                return StatusCode::NOT_FOUND.into_response();
            }
            let uri = request.uri().clone();
            let page = leptos_axum::file_and_error_handler_with_context::<AppState, _>(
                move || {
                    leptos::nonce::provide_nonce();
                    leptos::prelude::provide_context(assets.clone());
                },
                app::shell,
            );
            page(uri, State(state), request).await
        })
    }
}

/// `request`'s file under `root`, precompressed when the client accepts it.
async fn serve_file(root: &str, request: Request) -> Response {
    let files = ServeDir::new(root).precompressed_br().precompressed_gzip().append_index_html_on_directories(false);
    match files.oneshot(request).await {
        Ok(response) => response.map(Body::new),
        Err(never) => match never {},
    }
}

fn with_cache_policy(mut response: Response, policy: &'static str) -> Response {
    let headers = response.headers_mut();
    headers.insert(CACHE_CONTROL, HeaderValue::from_static(policy));
    headers.insert(VARY, HeaderValue::from_static("accept-encoding"));
    response
}

/// Whether the last segment of `path` is `name.<hash>.ext` with a cargo-leptos hash: 22
/// characters of unpadded base64url (an MD5).
pub fn is_hashed(path: &str) -> bool {
    let file = path.rsplit('/').next().unwrap_or_default();
    let mut parts = file.rsplit('.');
    let (Some(_ext), Some(hash), Some(stem)) = (parts.next(), parts.next(), parts.next()) else {
        return false;
    };
    !stem.is_empty() && hash.len() == 22 && hash.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// The client files of this binary's build, as pages name them; the unhashed names (and a
/// warning) if they cannot be known.
pub fn site_assets(options: &LeptosOptions) -> SiteAssets {
    SiteAssets::resolve(options).unwrap_or_else(|error| {
        tracing::warn!(%error, "client file names unknown: pages name unhashed files");
        SiteAssets::unhashed(options)
    })
}

/// Whether the site root holds the files this binary's pages will name. `Ok` with a warning
/// when there is no site root at all (an API-only server); an error when the site root is there
/// but holds another build (say the debug build's, or none yet), so that such a server stops
/// at once instead of serving pages that never come alive.
pub fn check_site(options: &LeptosOptions) -> Result<(), String> {
    let root = Path::new(&*options.site_root);
    if !root.is_dir() {
        tracing::warn!(site_root = %root.display(), "no site root: pages are served without styles or scripts");
        return Ok(());
    }
    let build_hint = format!(
        "build the site of this binary with `cargo leptos build{release}` and LEPTOS_SITE_ROOT={root} (see README), \
         or point LEPTOS_SITE_ROOT at the site root this binary was built with",
        release = if cfg!(debug_assertions) { "" } else { " --release --precompress" },
        root = root.display(),
    );
    if option_env!("LEPTOS_OUTPUT_NAME").is_none() {
        tracing::warn!("this server was not built by cargo-leptos: its pages may not match the site's client");
    }
    let assets = SiteAssets::resolve(options).map_err(|e| format!("{e}: {build_hint}"))?;
    for path in assets.paths() {
        let file = SiteAssets::file_of(options, path);
        if !file.is_file() {
            return Err(format!("{} is missing (another build's site?): {build_hint}", file.display()));
        }
    }
    Ok(())
}

/// Whether the site root holds every file this binary's pages name (readiness: a node without
/// them serves pages that never come alive).
pub fn check_site_files(options: &LeptosOptions) -> bool {
    match SiteAssets::resolve(options) {
        Ok(assets) => assets.paths().into_iter().all(|path| SiteAssets::file_of(options, path).is_file()),
        Err(_) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::is_hashed;

    #[test]
    fn hashed_names() {
        assert!(is_hashed("/pkg/chatterbox.gRHtNnZmmoVSSvd9ShZ1Ag.wasm"));
        assert!(is_hashed("/pkg/chatterbox.a-b_cdefghijklmnopqrst.css"));
        assert!(!is_hashed("/pkg/chatterbox.wasm"));
        assert!(!is_hashed("/pkg/chatterbox.gRHtNnZmmoVSSvd9ShZ1A.wasm"), "21 characters");
        assert!(!is_hashed("/pkg/chatterbox.gRHtNnZmmoVSSvd9ShZ1A=.wasm"));
        assert!(!is_hashed("/pkg/.gRHtNnZmmoVSSvd9ShZ1Ag.wasm"));
        assert!(!is_hashed("/favicon.svg"));
    }
}
