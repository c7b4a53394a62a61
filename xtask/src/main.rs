//! `cargo xtask build [--release] [--precompress]`: what `cargo leptos build` does for this
//! workspace, for machines without cargo-leptos (compiling it and the wasm-bindgen CLI takes a
//! fresh 2-core machine over half an hour; this tool compiled there in 26 s).
//!
//! It reads the same `[[workspace.metadata.leptos]]` settings, runs the same two cargo builds with
//! the same environment, and makes the same site: wasm-bindgen's JS and WASM, wasm-opt and
//! minification in release, the style, the assets, content-hashed names with `hash.txt` beside
//! the server, and `.br`/`.gz` copies with `--precompress`. Where it differs (JS and CSS minified
//! by esbuild instead of swc and Lightning CSS), docs/deployment.md says so.

mod cargo;
mod compress;
mod front;
mod hash;
mod project;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use anyhow::{bail, Context, Result};

use project::{Metadata, Mode, Project};

const USAGE: &str = "usage: cargo xtask build [--release] [--precompress]

Builds the site (LEPTOS_SITE_ROOT, else Cargo.toml's site-root) and the server as
`cargo leptos build` does. --precompress (release only) writes .br and .gz copies.";

/// What the command line asked for.
#[derive(Debug, PartialEq, Eq)]
struct Options {
    mode: Mode,
    precompress: bool,
}

fn parse_args(args: &[String]) -> Result<Options> {
    let (command, flags) = args.split_first().context(USAGE)?;
    if command != "build" {
        bail!("unknown command {command:?}\n{USAGE}");
    }
    let mut options = Options { mode: Mode::Debug, precompress: false };
    for flag in flags {
        match flag.as_str() {
            "--release" | "-r" => options.mode = Mode::Release,
            "--precompress" | "-P" => options.precompress = true,
            other => bail!("unknown option {other:?}\n{USAGE}"),
        }
    }
    Ok(options)
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.iter().any(|a| a == "--help" || a == "-h") {
        println!("{USAGE}");
        return ExitCode::SUCCESS;
    }
    match parse_args(&args).and_then(|options| build(&options)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("[xtask] error: {err:#}");
            ExitCode::FAILURE
        }
    }
}

fn build(options: &Options) -> Result<()> {
    let started = Instant::now();
    // A relative CARGO_TARGET_DIR means the directory the command ran in, as it does for cargo.
    let target_dir = match std::env::var_os("CARGO_TARGET_DIR") {
        Some(dir) => std::env::current_dir()?.join(dir),
        None => PathBuf::from("target"),
    };
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().context("xtask lives inside the workspace")?;
    std::env::set_current_dir(root).with_context(|| format!("entering {}", root.display()))?;
    let meta = Metadata::parse(&fs::read_to_string("Cargo.toml").context("reading the workspace's Cargo.toml")?)?;
    let site_root = std::env::var_os("LEPTOS_SITE_ROOT").filter(|r| !r.is_empty()).map(PathBuf::from);
    let project = Project::new(meta, options.mode, site_root, target_dir);
    let release = options.mode == Mode::Release;

    empty_dir(&project.site_root)?;
    cargo::build_front(&project)?;

    let pkg_dir = project.pkg_dir();
    fs::create_dir_all(&pkg_dir).with_context(|| format!("creating {}", pkg_dir.display()))?;
    let name = &project.meta.output_name;
    let (js, wasm) = (pkg_dir.join(format!("{name}.js")), pkg_dir.join(format!("{name}.wasm")));
    front::bindgen(&project)?;
    let esbuild = release && front::esbuild_available();
    if release {
        front::wasm_opt(&wasm)?;
        if esbuild {
            front::minify(&js)?;
        } else {
            eprintln!("[xtask] esbuild is not installed (`npm install -g esbuild`): JS and CSS are left unminified");
        }
    }
    let style = front::style(&project, esbuild)?;
    let assets = front::copy_assets(&project)?;

    if project.meta.hash_files {
        let style = style.context("hash-files needs a style-file: the hash file lists the CSS")?;
        let hashes = hash::add_hashes(&pkg_dir, &js, &wasm, &style)?;
        let bin_dir = project.bin_dir();
        fs::create_dir_all(&bin_dir)?;
        fs::write(bin_dir.join("hash.txt"), hashes.file_text())
            .with_context(|| format!("writing {}", bin_dir.join("hash.txt").display()))?;
    }
    if release && options.precompress {
        let count = compress::compress_dir(&project.site_root)?;
        eprintln!("[xtask] precompressed {count} files (.br, .gz)");
    }
    eprintln!(
        "[xtask] site ready in {} ({assets} assets) after {:.0?}",
        project.site_root.display(),
        started.elapsed()
    );

    cargo::build_server(&project)?;
    eprintln!(
        "[xtask] built in {:.0?}: {}",
        started.elapsed(),
        project.bin_dir().join(&project.meta.bin_package).display()
    );
    Ok(())
}

/// Empties the site root (cargo-leptos does the same before every build), or creates it.
fn empty_dir(dir: &Path) -> Result<()> {
    if !dir.exists() {
        return fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()));
    }
    for entry in fs::read_dir(dir).with_context(|| format!("reading {}", dir.display()))? {
        let path = entry?.path();
        if path.is_dir() { fs::remove_dir_all(&path) } else { fs::remove_file(&path) }
            .with_context(|| format!("removing {}", path.display()))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(list: &[&str]) -> Vec<String> {
        list.iter().map(|a| a.to_string()).collect()
    }

    #[test]
    fn the_command_line_is_cargo_leptos_build() {
        assert_eq!(parse_args(&args(&["build"])).unwrap(), Options { mode: Mode::Debug, precompress: false });
        assert_eq!(
            parse_args(&args(&["build", "--release", "--precompress"])).unwrap(),
            Options { mode: Mode::Release, precompress: true }
        );
        assert!(parse_args(&args(&["serve"])).unwrap_err().to_string().contains("unknown command"));
        assert!(parse_args(&args(&["build", "--fast"])).unwrap_err().to_string().contains("unknown option"));
        assert!(parse_args(&[]).is_err());
    }

    #[test]
    fn the_site_root_is_emptied_not_removed() {
        let dir = tempfile::tempdir().unwrap();
        let site = dir.path().join("site");
        fs::create_dir_all(site.join("pkg")).unwrap();
        fs::write(site.join("pkg/old.js"), "").unwrap();
        fs::write(site.join("favicon.svg"), "").unwrap();
        empty_dir(&site).unwrap();
        assert!(site.is_dir());
        assert_eq!(fs::read_dir(&site).unwrap().count(), 0);
        empty_dir(&dir.path().join("new")).unwrap();
        assert!(dir.path().join("new").is_dir());
    }
}
