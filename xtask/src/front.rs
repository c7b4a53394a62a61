//! The site's files: wasm-bindgen's JS and WASM (the library the wasm-bindgen CLI is made of, at
//! the frontend's exact version, with the CLI's `--target web` defaults), wasm-opt in release
//! (npm's binaryen, with cargo-leptos' flags), the style and the static assets. In release the JS
//! and CSS are minified with esbuild when it is installed (cargo-leptos uses swc and Lightning CSS
//! built into itself; this tool does not compile those, to stay quick to build).

use std::fs;
use std::path::Path;
use std::process::Command;

use anyhow::{bail, Context, Result};
use wasm_bindgen_cli_support::Bindgen;

use crate::project::{Mode, Project};

/// Browsers the minified CSS and JS must work in: the current releases that browserslist's
/// `defaults` (the `browserquery` cargo-leptos uses) names, in esbuild's terms.
const ESBUILD_TARGETS: &str = "chrome109,edge109,firefox115,safari15.6,ios15.6,opera95";

/// Runs wasm-bindgen on the built WASM into the package directory: `NAME.js`, `NAME.wasm` (renamed
/// from `NAME_bg.wasm`, as cargo-leptos does, which leptos' hydration scripts expect), the
/// TypeScript declarations and any snippets.
pub fn bindgen(project: &Project) -> Result<()> {
    let name = &project.meta.output_name;
    let pkg_dir = project.pkg_dir();
    let input = project.wasm_source();
    if !input.is_file() {
        bail!("{} is missing: the WASM build did not produce it", input.display());
    }
    let mut bindgen = Bindgen::new();
    bindgen.input_path(&input).out_name(name).web(true)?.typescript(true).demangle(true);
    // The CLI passes its (deprecated, default off) flag too: no externref unless the WASM asks.
    #[allow(deprecated)]
    bindgen.reference_types(false);
    bindgen.omit_default_module_path(false).generate(&pkg_dir).context("wasm-bindgen failed")?;
    let emitted = pkg_dir.join(format!("{name}_bg.wasm"));
    fs::rename(&emitted, pkg_dir.join(format!("{name}.wasm")))
        .with_context(|| format!("renaming {}", emitted.display()))?;
    Ok(())
}

/// wasm-opt in place, with the flags cargo-leptos 0.3.8 gives it.
pub fn wasm_opt(wasm: &Path) -> Result<()> {
    let file = wasm.to_str().context("a WASM path that is not UTF-8")?;
    let status = Command::new("wasm-opt")
        .args(["-Oz", "--enable-bulk-memory", "--enable-nontrapping-float-to-int", file, "-o", file])
        .status()
        .context("wasm-opt is not installed: `npm install -g binaryen` (not Debian's binaryen 108, whose output never hydrates)")?;
    if !status.success() {
        bail!("wasm-opt failed ({status})");
    }
    Ok(())
}

/// Whether esbuild is on PATH.
pub fn esbuild_available() -> bool {
    Command::new("esbuild").arg("--version").output().is_ok_and(|out| out.status.success())
}

/// Minifies a JS module or a stylesheet in place with esbuild.
pub fn minify(file: &Path) -> Result<()> {
    let path = file.to_str().context("a path that is not UTF-8")?;
    let mut command = Command::new("esbuild");
    command.arg(path).arg("--minify").arg(format!("--target={ESBUILD_TARGETS}"));
    if file.extension().is_some_and(|e| e == "js") {
        command.arg("--format=esm");
    }
    let output = command.arg(format!("--outfile={path}")).args(["--allow-overwrite", "--log-level=error"]).output()?;
    if !output.status.success() {
        bail!("esbuild could not minify {path}: {}", String::from_utf8_lossy(&output.stderr));
    }
    Ok(())
}

/// Writes the style to `pkg/NAME.css` (minified in release when esbuild is there).
pub fn style(project: &Project, minify_with_esbuild: bool) -> Result<Option<std::path::PathBuf>> {
    let Some(source) = &project.meta.style_file else { return Ok(None) };
    let dest = project.pkg_dir().join(format!("{}.css", project.meta.output_name));
    fs::copy(source, &dest).with_context(|| format!("copying {} to {}", source.display(), dest.display()))?;
    if project.mode == Mode::Release && minify_with_esbuild {
        minify(&dest)?;
    }
    Ok(Some(dest))
}

/// Copies the assets directory into the site root, as cargo-leptos mirrors it (its `index.html`
/// and a directory named like the package directory are left out).
pub fn copy_assets(project: &Project) -> Result<usize> {
    let Some(assets) = &project.meta.assets_dir else { return Ok(0) };
    if !assets.is_dir() {
        return Ok(0);
    }
    let reserved = [assets.join("index.html"), assets.join(&project.meta.site_pkg_dir)];
    copy_tree(assets, &project.site_root, &reserved)
}

fn copy_tree(from: &Path, to: &Path, reserved: &[std::path::PathBuf]) -> Result<usize> {
    fs::create_dir_all(to).with_context(|| format!("creating {}", to.display()))?;
    let mut copied = 0;
    for entry in fs::read_dir(from).with_context(|| format!("reading {}", from.display()))? {
        let path = entry?.path();
        if reserved.contains(&path) {
            continue;
        }
        let dest = to.join(path.file_name().context("a file without a name")?);
        if path.is_dir() {
            copied += copy_tree(&path, &dest, reserved)?;
        } else {
            fs::copy(&path, &dest).with_context(|| format!("copying {}", path.display()))?;
            copied += 1;
        }
    }
    Ok(copied)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn assets_are_mirrored_without_the_reserved_names() {
        let dir = tempfile::tempdir().unwrap();
        let public = dir.path().join("public");
        fs::create_dir_all(public.join("icons")).unwrap();
        fs::create_dir_all(public.join("pkg")).unwrap();
        fs::write(public.join("favicon.svg"), "<svg/>").unwrap();
        fs::write(public.join("icons/a.png"), "png").unwrap();
        fs::write(public.join("index.html"), "<html>").unwrap();
        fs::write(public.join("pkg/x.js"), "x").unwrap();
        let site = dir.path().join("site");
        let reserved = [public.join("index.html"), public.join("pkg")];

        assert_eq!(copy_tree(&public, &site, &reserved).unwrap(), 2);
        assert_eq!(fs::read_to_string(site.join("icons/a.png")).unwrap(), "png");
        assert!(site.join("favicon.svg").is_file());
        assert!(!site.join("index.html").exists() && !site.join("pkg").exists());
    }
}
