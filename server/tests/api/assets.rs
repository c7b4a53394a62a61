//! Static files and the client's file names (issue 15): pages name the hashed files of the
//! binary's own build (from its hash file), those files are served precompressed by
//! `Accept-Encoding` and cached for a year, other files briefly, pages never; a missing asset is a
//! plain 404; the server refuses to start on a site root that holds another build; release and
//! debug builds keep separate site roots.

use crate::common::TestApp;
use leptos::prelude::LeptosOptions;
use server::http::assets::{check_site, IMMUTABLE, NO_STORE, REVALIDATE, SHORT};
use std::path::{Path, PathBuf};

const JS_HASH: &str = "jsjsjsjsjsjsjsjsjsjs_A";
const WASM_HASH: &str = "wasmwasmwasmwasmwasm-B";
const CSS_HASH: &str = "csscsscsscsscsscsscssC";

/// A site root as `cargo leptos build` leaves it with `hash-files` and precompression, and the
/// hash file it writes next to the binary: each file has a `.br` and a `.gz` beside it (their
/// bytes are markers: the server sends them as they are).
struct Site {
    dir: tempfile::TempDir,
}

impl Site {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let pkg = dir.path().join("site/pkg");
        std::fs::create_dir_all(&pkg).unwrap();
        for (name, body) in [
            (format!("chatterbox.{JS_HASH}.js"), "export default function () {}"),
            (format!("chatterbox.{WASM_HASH}.wasm"), "\0asm wasm bytes"),
            (format!("chatterbox.{CSS_HASH}.css"), "body { margin: 0 }"),
            ("chatterbox_bg.wasm.d.ts".to_owned(), "// types"),
        ] {
            write_with_compressed(&pkg.join(name), body);
        }
        write_with_compressed(&dir.path().join("site/favicon.svg"), "<svg/>");
        std::fs::write(dir.path().join("hash.txt"), format!("js: {JS_HASH}\nwasm: {WASM_HASH}\ncss: {CSS_HASH}\n"))
            .unwrap();
        Site { dir }
    }

    fn root(&self) -> PathBuf {
        self.dir.path().join("site")
    }

    fn apply(&self, options: &mut LeptosOptions) {
        options.site_root = self.root().to_string_lossy().as_ref().into();
        options.hash_files = true;
        options.hash_file = self.dir.path().join("hash.txt").to_string_lossy().as_ref().into();
    }

    async fn serve(&self) -> TestApp {
        TestApp::spawn_with_options(|options| self.apply(options)).await
    }
}

fn write_with_compressed(path: &Path, body: &str) {
    std::fs::write(path, body).unwrap();
    std::fs::write(format!("{}.br", path.display()), format!("br:{body}")).unwrap();
    std::fs::write(format!("{}.gz", path.display()), format!("gz:{body}")).unwrap();
}

struct Answer {
    status: u16,
    headers: reqwest::header::HeaderMap,
    body: String,
}

impl Answer {
    fn header(&self, name: &str) -> &str {
        self.headers.get(name).map(|v| v.to_str().unwrap()).unwrap_or("")
    }
}

async fn get(app: &TestApp, path: &str, headers: &[(&str, &str)]) -> Answer {
    let mut request = app.http.get(app.url(path));
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let body = response.text().await.unwrap();
    Answer { status, headers, body }
}

#[tokio::test]
async fn pages_name_the_hashed_files_of_their_build_and_load_them_after_the_first_paint() {
    let site = Site::new();
    let app = site.serve().await;
    let token = app.user("root").await;
    let cookie = format!("chatterbox_session={token}");
    for (path, headers) in
        [("/login", vec![]), ("/", vec![("cookie", cookie.as_str())]), ("/admin", vec![("cookie", cookie.as_str())])]
    {
        let page = get(&app, path, &headers).await;
        assert_eq!(page.status, 200, "{path}: {}", page.body);
        let html = &page.body;
        assert!(html.contains(&format!(r#"href="/pkg/chatterbox.{CSS_HASH}.css""#)), "{path}: {html}");
        assert!(html.contains(&format!(r#""/pkg/chatterbox.{JS_HASH}.js""#)), "{path}: {html}");
        assert!(html.contains(&format!(r#""/pkg/chatterbox.{WASM_HASH}.wasm""#)), "{path}: {html}");
        for unhashed in [r#""/pkg/chatterbox.js""#, r#""/pkg/chatterbox.wasm""#, r#""/pkg/chatterbox.css""#] {
            assert!(!html.contains(unhashed), "{path}: names {unhashed}");
        }
        // Nothing fetches the client before the first paint: no preload hints, a start deferred
        // until the browser reports the first contentful paint.
        assert!(!html.contains("modulepreload") && !html.contains(r#"rel="preload""#), "{path}: {html}");
        assert!(html.contains(r#""first-contentful-paint""#), "{path}: {html}");
        assert!(html.contains(r#"<meta name="description" content=""#), "{path}: no meta description");
        assert_eq!(page.header("cache-control"), NO_STORE, "{path}: pages are never cached");
        assert!(page.header("content-security-policy").contains("'nonce-"), "{path}");
    }
}

#[tokio::test]
async fn hashed_files_are_served_precompressed_and_immutable() {
    let site = Site::new();
    let app = site.serve().await;
    let wasm = format!("/pkg/chatterbox.{WASM_HASH}.wasm");

    let answer = get(&app, &wasm, &[("accept-encoding", "gzip, deflate, br")]).await;
    assert_eq!(answer.status, 200);
    assert_eq!(answer.header("content-encoding"), "br");
    assert_eq!(answer.body, "br:\0asm wasm bytes");
    assert_eq!(answer.header("content-type"), "application/wasm");
    assert_eq!(answer.header("cache-control"), IMMUTABLE);
    assert_eq!(answer.header("vary").to_ascii_lowercase(), "accept-encoding");
    assert_eq!(answer.header("x-content-type-options"), "nosniff");

    let answer = get(&app, &wasm, &[("accept-encoding", "gzip")]).await;
    assert_eq!((answer.header("content-encoding"), answer.body.as_str()), ("gzip", "gz:\0asm wasm bytes"));
    assert_eq!(answer.header("cache-control"), IMMUTABLE);

    let answer = get(&app, &wasm, &[]).await;
    assert_eq!((answer.header("content-encoding"), answer.body.as_str()), ("", "\0asm wasm bytes"));
    assert_eq!(answer.header("cache-control"), IMMUTABLE);

    for (path, content_type) in [
        (format!("/pkg/chatterbox.{CSS_HASH}.css"), "text/css"),
        (format!("/pkg/chatterbox.{JS_HASH}.js"), "text/javascript"),
    ] {
        let answer = get(&app, &path, &[("accept-encoding", "br")]).await;
        assert_eq!((answer.status, answer.header("content-encoding")), (200, "br"), "{path}");
        assert!(answer.header("content-type").starts_with(content_type), "{path}: {}", answer.header("content-type"));
        assert_eq!(answer.header("cache-control"), IMMUTABLE, "{path}");
    }

    // Files without a hash in their name: revalidated under /pkg/, an hour elsewhere.
    let answer = get(&app, "/pkg/chatterbox_bg.wasm.d.ts", &[]).await;
    assert_eq!((answer.status, answer.header("cache-control")), (200, REVALIDATE));
    let answer = get(&app, "/favicon.svg", &[("accept-encoding", "br")]).await;
    assert_eq!((answer.status, answer.header("content-encoding")), (200, "br"));
    assert_eq!(answer.header("cache-control"), SHORT);
    assert_eq!(answer.header("vary").to_ascii_lowercase(), "accept-encoding");
}

#[tokio::test]
async fn a_missing_asset_is_a_plain_404() {
    let site = Site::new();
    let app = site.serve().await;
    let browser = [("accept", "text/html,*/*;q=0.8"), ("accept-encoding", "br")];
    for path in ["/pkg/chatterbox.AAAAAAAAAAAAAAAAAAAAAA.wasm", "/pkg/chatterbox.wasm", "/pkg/", "/pkg/nested/x.js"] {
        let answer = get(&app, path, &browser).await;
        assert_eq!(answer.status, 404, "{path}");
        assert!(!answer.header("content-type").starts_with("text/html"), "{path}: no page for a missing asset");
        assert_eq!(answer.header("cache-control"), NO_STORE, "{path}: a 404 is never cached");
    }
    // Other paths keep the app's 404 page (browsers) or JSON.
    let answer = get(&app, "/no/such/page", &browser).await;
    assert_eq!(answer.status, 404);
    assert!(answer.header("content-type").starts_with("text/html"));
    assert!(answer.body.contains(&format!("chatterbox.{CSS_HASH}.css")), "the 404 page is styled by this build");
}

#[tokio::test]
async fn a_site_root_without_this_builds_files_is_refused_at_startup() {
    let site = Site::new();
    let mut options = server::leptos_options().unwrap();
    site.apply(&mut options);
    assert_eq!(check_site(&options), Ok(()));

    // The site of another build (say a debug build's in the release root): other hashes.
    std::fs::write(site.dir.path().join("hash.txt"), "js: releasereleaserele_1\nwasm: releasereleaserele_2\ncss: x\n")
        .unwrap();
    let refused = check_site(&options).unwrap_err();
    assert!(refused.contains("releasereleaserele_1") && refused.contains("LEPTOS_SITE_ROOT"), "{refused}");

    // No hash file next to the binary (a plain `cargo build` binary): refused too.
    std::fs::remove_file(site.dir.path().join("hash.txt")).unwrap();
    assert!(check_site(&options).unwrap_err().contains("hash file"));

    // No site root at all: an API-only server starts.
    options.site_root = site.dir.path().join("nowhere").to_string_lossy().as_ref().into();
    assert_eq!(check_site(&options), Ok(()));
}

/// Runs the server binary with `env` until it exits (at most 30 s: one that serves is killed and
/// the test fails); its exit code and what it wrote to stderr.
fn run_binary_until_exit(env: &[(&str, String)]) -> (Option<i32>, String) {
    use std::io::Read;
    let dir = tempfile::tempdir().unwrap();
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_server"));
    command
        .env("LEPTOS_SITE_ADDR", "127.0.0.1:0")
        .env("CHATTERBOX_CONFIG", "/dev/null")
        .env("DATABASE_URL", format!("sqlite://{}", dir.path().join("site.db").display()))
        .env("RUST_LOG", "warn")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped());
    for (name, value) in env {
        command.env(name, value);
    }
    let mut child = command.spawn().unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("the server started instead of refusing its site root ({env:?})");
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    };
    let mut stderr = String::new();
    child.stderr.take().unwrap().read_to_string(&mut stderr).unwrap();
    (status.code(), stderr)
}

/// The same refusal from the real binary, configured as a deployment is (environment only): a
/// site root whose files are not those its hash file names stops it before it listens, with a
/// message that says what to build; the matching site starts and serves pages naming its files.
#[tokio::test]
async fn the_binary_refuses_a_site_root_of_another_build_and_serves_its_own() {
    let site = Site::new();
    let other_build = site.dir.path().join("other-hash.txt");
    std::fs::write(&other_build, "js: releasereleaserele_1\nwasm: releasereleaserele_2\ncss: releasereleaserele_3\n")
        .unwrap();
    let root = site.root().display().to_string();
    let (code, stderr) = run_binary_until_exit(&[
        ("LEPTOS_SITE_ROOT", root.clone()),
        ("LEPTOS_HASH_FILE_NAME", other_build.display().to_string()),
    ]);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.contains("site error"), "{stderr}");
    assert!(stderr.contains("releasereleaserele_1") && stderr.contains("LEPTOS_SITE_ROOT"), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    // A hash file that does not exist (a binary copied without its hash.txt): refused too.
    let (code, stderr) = run_binary_until_exit(&[
        ("LEPTOS_SITE_ROOT", root.clone()),
        ("LEPTOS_HASH_FILE_NAME", site.dir.path().join("missing.txt").display().to_string()),
    ]);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.contains("hash file"), "{stderr}");

    // Its own build's site: it starts, and its pages name that build's files.
    let dir = tempfile::tempdir().unwrap();
    let server = crate::common::process::Node::start(&[
        ("LEPTOS_SITE_ROOT", root),
        ("LEPTOS_HASH_FILE_NAME", site.dir.path().join("hash.txt").display().to_string()),
        ("DATABASE_URL", format!("sqlite://{}", dir.path().join("own.db").display())),
    ])
    .await;
    let page = server.http.get(server.url("/login")).send().await.unwrap().text().await.unwrap();
    assert!(page.contains(&format!("/pkg/chatterbox.{WASM_HASH}.wasm")), "{page}");
}

/// cargo-leptos empties the site root it builds into: a debug build in the release build's root
/// would take the release server's files away. Each profile keeps its own, and everything that
/// builds or starts a server agrees on which.
#[test]
fn release_and_debug_builds_keep_separate_site_roots() {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    let read = |file: &str| std::fs::read_to_string(repo.join(file)).unwrap();
    assert_ne!(server::DEBUG_SITE_ROOT, server::RELEASE_SITE_ROOT);
    assert_eq!(server::default_site_root(), server::DEBUG_SITE_ROOT, "tests run debug binaries");

    let manifest: toml::Value = read("Cargo.toml").parse().unwrap();
    let leptos = &manifest["workspace"]["metadata"]["leptos"][0];
    assert_eq!(leptos["site-root"].as_str(), Some(server::DEBUG_SITE_ROOT), "debug builds' site root");
    assert_eq!(leptos["hash-files"].as_bool(), Some(true), "hashed names: each binary names its own build");

    let release_root = format!("LEPTOS_SITE_ROOT={}", server::RELEASE_SITE_ROOT);
    for script in ["scripts/run.sh", "scripts/lighthouse.sh"] {
        let text = read(script);
        assert!(text.contains(&release_root), "{script} builds release into {}", server::RELEASE_SITE_ROOT);
        assert!(text.contains("--release") && text.contains("--precompress"), "{script}");
    }
    assert!(read("README.md").contains(&release_root), "README's deploy section");
    let e2e = read("end2end/playwright.config.ts");
    assert!(
        e2e.contains(&format!(r#"LEPTOS_SITE_ROOT: "{}""#, server::DEBUG_SITE_ROOT)),
        "end-to-end tests serve the debug site"
    );
}
