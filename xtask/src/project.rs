//! The build settings: the `[[workspace.metadata.leptos]]` table of the workspace's Cargo.toml (the
//! one cargo-leptos reads), the `LEPTOS_SITE_ROOT` override, and the paths and environment that
//! follow from them, computed the way cargo-leptos 0.3.8 computes them so that both tools build the
//! same artifacts (and share cargo's cache: same flags, same environment, same target directories).

use std::path::PathBuf;

use anyhow::{bail, Context, Result};

/// Debug or release, as `cargo leptos build [--release]`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    Debug,
    Release,
}

/// The settings of `[[workspace.metadata.leptos]]` this tool uses (the keys cargo-leptos reads).
#[derive(Debug, Clone, PartialEq)]
pub struct Metadata {
    pub output_name: String,
    pub bin_package: String,
    pub lib_package: String,
    pub lib_profile_release: Option<String>,
    pub site_root: PathBuf,
    pub site_pkg_dir: PathBuf,
    pub style_file: Option<PathBuf>,
    pub assets_dir: Option<PathBuf>,
    pub site_addr: String,
    pub reload_port: u16,
    pub hash_files: bool,
    pub always_erase_components: bool,
    pub bin_default_features: bool,
    pub lib_default_features: bool,
}

impl Metadata {
    /// Reads the first `[[workspace.metadata.leptos]]` entry of a Cargo.toml's text.
    pub fn parse(cargo_toml: &str) -> Result<Metadata> {
        let doc: toml::Table = cargo_toml.parse().context("Cargo.toml is not valid TOML")?;
        let entry = doc
            .get("workspace")
            .and_then(|w| w.get("metadata"))
            .and_then(|m| m.get("leptos"))
            .and_then(|l| l.as_array())
            .and_then(|a| a.first())
            .and_then(|e| e.as_table())
            .context("Cargo.toml has no [[workspace.metadata.leptos]] entry")?;
        let text = |key: &str| entry.get(key).and_then(|v| v.as_str()).map(str::to_owned);
        let flag = |key: &str, default: bool| entry.get(key).and_then(|v| v.as_bool()).unwrap_or(default);
        let required = |key: &str| text(key).with_context(|| format!("[[workspace.metadata.leptos]] needs `{key}`"));
        let name = required("name")?;
        let output_name = text("output-name").filter(|n| !n.is_empty()).unwrap_or_else(|| name.clone());
        if output_name.contains(['/', '\\']) || output_name.starts_with('.') {
            bail!("output name {output_name:?} is not a plain file name");
        }
        let reload_port = match entry.get("reload-port") {
            None => 3001,
            Some(v) => v
                .as_integer()
                .and_then(|p| u16::try_from(p).ok())
                .context("[[workspace.metadata.leptos]] `reload-port` must be a port number")?,
        };
        Ok(Metadata {
            output_name,
            bin_package: required("bin-package")?,
            lib_package: required("lib-package")?,
            lib_profile_release: text("lib-profile-release"),
            site_root: text("site-root").unwrap_or_else(|| "target/site".into()).into(),
            site_pkg_dir: text("site-pkg-dir").unwrap_or_else(|| "pkg".into()).into(),
            style_file: text("style-file").map(PathBuf::from),
            assets_dir: text("assets-dir").map(PathBuf::from),
            site_addr: text("site-addr").unwrap_or_else(|| "127.0.0.1:3000".into()),
            reload_port,
            hash_files: flag("hash-files", false),
            always_erase_components: flag("always-erase-components", false),
            bin_default_features: flag("bin-default-features", true),
            lib_default_features: flag("lib-default-features", true),
        })
    }
}

/// Everything one build needs: the settings, the mode, and where things go. Paths are relative to
/// the workspace root, which is the working directory of every step.
#[derive(Debug, Clone)]
pub struct Project {
    pub meta: Metadata,
    pub mode: Mode,
    /// The site root: `LEPTOS_SITE_ROOT` if set (as with cargo-leptos), else `site-root`.
    pub site_root: PathBuf,
    /// cargo's target directory (`CARGO_TARGET_DIR`, else `target`).
    pub target_dir: PathBuf,
}

impl Project {
    pub fn new(meta: Metadata, mode: Mode, site_root_override: Option<PathBuf>, target_dir: PathBuf) -> Project {
        let site_root = site_root_override.unwrap_or_else(|| meta.site_root.clone());
        Project { meta, mode, site_root, target_dir }
    }

    /// The site's package directory (`target/site/pkg`), where the JS, WASM and CSS go.
    pub fn pkg_dir(&self) -> PathBuf {
        self.site_root.join(&self.meta.site_pkg_dir)
    }

    /// cargo-leptos builds the WASM in a target directory of its own, `<target>/front`, so that its
    /// flags never invalidate the server's artifacts.
    pub fn front_target_dir(&self) -> PathBuf {
        self.target_dir.join("front")
    }

    /// The cargo profile of the WASM build: `lib-profile-release` in release, else the built-in one.
    pub fn lib_profile(&self) -> Option<&str> {
        match self.mode {
            Mode::Debug => None,
            Mode::Release => self.meta.lib_profile_release.as_deref(),
        }
    }

    /// The `.wasm` file cargo writes for the lib package.
    pub fn wasm_source(&self) -> PathBuf {
        let profile_dir = match (self.mode, self.lib_profile()) {
            (Mode::Debug, _) => "debug",
            (Mode::Release, None) => "release",
            (Mode::Release, Some(named)) => named,
        };
        self.front_target_dir()
            .join("wasm32-unknown-unknown")
            .join(profile_dir)
            .join(format!("{}.wasm", self.meta.lib_package.replace('-', "_")))
    }

    /// The directory of the server executable, where its hash file goes (as cargo-leptos puts it).
    pub fn bin_dir(&self) -> PathBuf {
        self.target_dir.join(match self.mode {
            Mode::Debug => "debug",
            Mode::Release => "release",
        })
    }

    /// The environment cargo-leptos gives both cargo builds (and the server it runs). Leptos reads
    /// some of it at compile time, so the same values make the same binaries.
    pub fn build_env(&self, inherited_rustflags: Option<&str>) -> Vec<(&'static str, String)> {
        let release = self.mode == Mode::Release;
        let mut env = vec![
            ("LEPTOS_OUTPUT_NAME", self.meta.output_name.clone()),
            ("LEPTOS_SITE_ROOT", self.site_root.display().to_string()),
            ("LEPTOS_SITE_PKG_DIR", self.meta.site_pkg_dir.display().to_string()),
            ("LEPTOS_SITE_ADDR", self.meta.site_addr.clone()),
            ("LEPTOS_RELOAD_PORT", self.meta.reload_port.to_string()),
            ("LEPTOS_LIB_DIR", self.meta.lib_package.clone()),
            ("LEPTOS_BIN_DIR", self.meta.bin_package.clone()),
            ("LEPTOS_JS_MINIFY", release.to_string()),
            ("LEPTOS_HASH_FILES", self.meta.hash_files.to_string()),
        ];
        if self.meta.hash_files {
            env.push(("LEPTOS_HASH_FILE_NAME", "hash.txt".into()));
        }
        if !release || self.meta.always_erase_components {
            let inherited = inherited_rustflags.map(str::trim).filter(|f| !f.is_empty());
            let flags = match inherited {
                Some(flags) => format!("{flags} --cfg erase_components"),
                None => "--cfg erase_components".into(),
            };
            env.push(("RUSTFLAGS", flags));
        }
        env
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const WORKSPACE: &str = r#"
[workspace]
members = ["server"]

[[workspace.metadata.leptos]]
name = "chatterbox"
bin-package = "server"
lib-package = "frontend"
lib-profile-release = "wasm-release"
site-root = "target/site-debug"
hash-files = true
always-erase-components = true
style-file = "style/main.css"
assets-dir = "public"
site-addr = "127.0.0.1:3000"
reload-port = 3001
bin-default-features = false
lib-default-features = false
"#;

    fn project(mode: Mode, site_root: Option<&str>) -> Project {
        Project::new(Metadata::parse(WORKSPACE).unwrap(), mode, site_root.map(PathBuf::from), "target".into())
    }

    #[test]
    fn reads_the_keys_cargo_leptos_reads() {
        let meta = Metadata::parse(WORKSPACE).unwrap();
        assert_eq!(meta.output_name, "chatterbox");
        assert_eq!(meta.lib_profile_release.as_deref(), Some("wasm-release"));
        assert_eq!(meta.style_file, Some(PathBuf::from("style/main.css")));
        assert_eq!(meta.site_pkg_dir, PathBuf::from("pkg"));
        assert!(meta.hash_files && meta.always_erase_components);
        assert!(!meta.bin_default_features && !meta.lib_default_features);
    }

    #[test]
    fn a_workspace_without_the_table_is_refused() {
        let err = Metadata::parse("[workspace]\nmembers = []\n").unwrap_err();
        assert!(err.to_string().contains("[[workspace.metadata.leptos]]"), "{err}");
        let err = Metadata::parse(&WORKSPACE.replace("reload-port = 3001", "reload-port = 70000")).unwrap_err();
        assert!(err.to_string().contains("reload-port"), "{err}");
    }

    #[test]
    fn paths_follow_the_mode_and_the_site_root_override() {
        let debug = project(Mode::Debug, None);
        assert_eq!(debug.pkg_dir(), PathBuf::from("target/site-debug/pkg"));
        assert_eq!(debug.wasm_source(), PathBuf::from("target/front/wasm32-unknown-unknown/debug/frontend.wasm"));
        assert_eq!(debug.bin_dir(), PathBuf::from("target/debug"));
        let release = project(Mode::Release, Some("target/site"));
        assert_eq!(release.pkg_dir(), PathBuf::from("target/site/pkg"));
        assert_eq!(
            release.wasm_source(),
            PathBuf::from("target/front/wasm32-unknown-unknown/wasm-release/frontend.wasm")
        );
        assert_eq!(release.bin_dir(), PathBuf::from("target/release"));
    }

    #[test]
    fn the_build_environment_is_cargo_leptos_one() {
        let env = project(Mode::Release, Some("target/site")).build_env(None);
        let get = |k: &str| env.iter().find(|(name, _)| *name == k).map(|(_, v)| v.as_str());
        assert_eq!(get("LEPTOS_OUTPUT_NAME"), Some("chatterbox"));
        assert_eq!(get("LEPTOS_SITE_ROOT"), Some("target/site"));
        assert_eq!(get("LEPTOS_JS_MINIFY"), Some("true"));
        assert_eq!(get("LEPTOS_HASH_FILES"), Some("true"));
        assert_eq!(get("LEPTOS_HASH_FILE_NAME"), Some("hash.txt"));
        assert_eq!(get("RUSTFLAGS"), Some("--cfg erase_components"));
        let env = project(Mode::Debug, None).build_env(Some(" -C debuginfo=0 "));
        let get = |k: &str| env.iter().find(|(name, _)| *name == k).map(|(_, v)| v.as_str());
        assert_eq!(get("RUSTFLAGS"), Some("-C debuginfo=0 --cfg erase_components"));
        assert_eq!(get("LEPTOS_JS_MINIFY"), Some("false"));
    }
}
