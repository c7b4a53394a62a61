//! The client's files (JS, WASM, CSS) as pages name them. With cargo-leptos `hash-files` each
//! file's name carries a hash of its content (`chatterbox.<hash>.wasm`), and cargo-leptos writes
//! the hashes to `hash.txt` next to the server executable (`target/release/hash.txt`,
//! `target/debug/hash.txt`): each binary names the files of its own build, so a browser can keep
//! them for a year and never mixes two builds. Server-only: the server resolves the names once
//! and provides them to the shell as context.

use leptos::config::LeptosOptions;
use std::path::{Path, PathBuf};

/// URL paths of the client's files, e.g. `/pkg/chatterbox.gRHtNnZmmoVSSvd9ShZ1Ag.wasm`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SiteAssets {
    pub js: String,
    pub wasm: String,
    pub css: String,
}

impl SiteAssets {
    /// The names of this binary's build: hashed ones from its hash file when `hash_files` is on.
    pub fn resolve(options: &LeptosOptions) -> Result<Self, String> {
        if !options.hash_files {
            return Ok(Self::unhashed(options));
        }
        let path = hash_file_path(options);
        let text =
            std::fs::read_to_string(&path).map_err(|e| format!("cannot read the hash file {}: {e}", path.display()))?;
        let hash = |kind: &str| {
            parse_hash_file(&text)
                .find(|(k, _)| *k == kind)
                .map(|(_, hash)| format!(".{hash}"))
                .ok_or_else(|| format!("the hash file {} names no {kind} file", path.display()))
        };
        Ok(Self::named(options, &hash("js")?, &hash("wasm")?, &hash("css")?))
    }

    /// The names cargo-leptos gives the files without `hash-files`.
    pub fn unhashed(options: &LeptosOptions) -> Self {
        Self::named(options, "", "", "")
    }

    fn named(options: &LeptosOptions, js: &str, wasm: &str, css: &str) -> Self {
        let base = format!("/{}/{}", options.site_pkg_dir, options.output_name);
        SiteAssets { js: format!("{base}{js}.js"), wasm: format!("{base}{wasm}.wasm"), css: format!("{base}{css}.css") }
    }

    /// The three URL paths.
    pub fn paths(&self) -> [&str; 3] {
        [&self.js, &self.wasm, &self.css]
    }

    /// Where the file of URL path `path` lies under the site root.
    pub fn file_of(options: &LeptosOptions, path: &str) -> PathBuf {
        Path::new(&*options.site_root).join(path.trim_start_matches('/'))
    }
}

/// The hash file of this executable: `hash_file` (default `hash.txt`) in the executable's folder,
/// where cargo-leptos writes it (an absolute `hash_file` is taken as it is).
pub fn hash_file_path(options: &LeptosOptions) -> PathBuf {
    let dir = std::env::current_exe().ok().and_then(|exe| exe.parent().map(Path::to_path_buf)).unwrap_or_default();
    dir.join(&*options.hash_file)
}

/// The `kind: hash` lines of a cargo-leptos hash file (`js`, `wasm`, `css`).
pub fn parse_hash_file(text: &str) -> impl Iterator<Item = (&str, &str)> {
    text.lines().filter_map(|line| line.split_once(':')).map(|(kind, hash)| (kind.trim(), hash.trim()))
}

/// The inline module that starts the client: it loads the JS and WASM only once the browser has
/// reported the page's first contentful paint (a `PerformanceObserver` of `paint` entries is
/// told of a paint only after it happened), so the first paint never waits for them and they do
/// not compete with the stylesheet, however busy the machine. "After `load` and one frame" was
/// not that: a busy machine presents the frame later than the next task runs. A browser without
/// paint timing falls back to that. The same bootstrap as Leptos' `HydrationScripts`, without
/// its `modulepreload`/`preload` hints.
pub fn boot_script(assets: &SiteAssets) -> String {
    let js = serde_json::to_string(&assets.js).unwrap_or_default();
    let wasm = serde_json::to_string(&assets.wasm).unwrap_or_default();
    format!(
        "(function (js, wasm) {{\
         const hydrate = () => import(js).then((mod) => mod.default({{ module_or_path: wasm }}).then(() => mod.hydrate()));\
         if ((PerformanceObserver.supportedEntryTypes || []).includes(\"paint\")) {{\
         new PerformanceObserver((list, observer) => {{\
         if (list.getEntriesByName(\"first-contentful-paint\").length) {{ observer.disconnect(); setTimeout(hydrate, 0); }}\
         }}).observe({{ type: \"paint\", buffered: true }});\
         }} else {{\
         const afterPaint = () => requestAnimationFrame(() => setTimeout(hydrate, 0));\
         if (document.readyState === \"complete\") afterPaint(); else addEventListener(\"load\", afterPaint, {{ once: true }});\
         }}\
         }})({js}, {wasm});"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn options(hash_file: &Path) -> LeptosOptions {
        LeptosOptions::builder()
            .output_name("chatterbox")
            .site_root("site")
            .hash_files(true)
            .hash_file(hash_file.to_string_lossy().as_ref().into())
            .build()
    }

    #[test]
    fn hashed_names_come_from_the_hash_file() {
        let dir = std::env::temp_dir().join(format!("chatterbox-assets-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("hash.txt");
        std::fs::write(&file, "js: AAA\nwasm: BBB\ncss: CCC\n").unwrap();
        let assets = SiteAssets::resolve(&options(&file)).unwrap();
        assert_eq!(assets.paths(), ["/pkg/chatterbox.AAA.js", "/pkg/chatterbox.BBB.wasm", "/pkg/chatterbox.CCC.css"]);
        assert_eq!(SiteAssets::file_of(&options(&file), &assets.wasm), Path::new("site/pkg/chatterbox.BBB.wasm"));

        std::fs::write(&file, "js: AAA\nwasm: BBB\n").unwrap();
        assert!(SiteAssets::resolve(&options(&file)).unwrap_err().contains("no css"));
        std::fs::remove_dir_all(&dir).unwrap();
        assert!(SiteAssets::resolve(&options(&file)).is_err(), "a missing hash file is an error");

        let plain = LeptosOptions::builder().output_name("chatterbox").hash_files(false).build();
        assert_eq!(SiteAssets::resolve(&plain).unwrap().wasm, "/pkg/chatterbox.wasm");
    }

    #[test]
    fn the_boot_script_waits_for_the_first_contentful_paint() {
        let assets = SiteAssets { js: "/pkg/a.X.js".into(), wasm: "/pkg/a.Y.wasm".into(), css: "/pkg/a.Z.css".into() };
        let script = boot_script(&assets);
        assert!(script.ends_with(r#"})("/pkg/a.X.js", "/pkg/a.Y.wasm");"#), "{script}");
        // Started by the report of the first contentful paint, after it happened.
        assert!(
            script.contains("new PerformanceObserver") && script.contains("\"first-contentful-paint\""),
            "{script}"
        );
        assert!(script.contains("type: \"paint\", buffered: true"), "{script}");
        // "load and one frame" only where the browser has no paint timing.
        assert!(script.contains("supportedEntryTypes"), "{script}");
    }
}
