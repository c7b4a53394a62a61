//! Content-hashed file names, as cargo-leptos 0.3.8 makes them with `hash-files = true`: every file
//! of the package directory (but other CSS files than the style, and wasm-bindgen's `snippets`)
//! is renamed `STEM.HASH.EXT`, HASH being the MD5 of its content in unpadded base64url (22
//! characters); the JS then names the renamed files; and `hash.txt` beside the server executable
//! lists the JS, WASM and CSS hashes, which the server reads to name them in its pages.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use md5::{Digest, Md5};

/// The hash of a file's content as it appears in its name.
pub fn content_hash(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(Md5::digest(bytes))
}

/// `chatterbox.js` with hash `H` → `chatterbox.H.js` (`chatterbox.d.ts` → `chatterbox.d.H.ts`).
pub fn hashed_name(file_name: &str, hash: &str) -> String {
    match file_name.rsplit_once('.') {
        Some((stem, ext)) => format!("{stem}.{hash}.{ext}"),
        None => format!("{file_name}.{hash}"),
    }
}

/// The three hashes the server needs, by kind.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SiteHashes {
    pub js: String,
    pub wasm: String,
    pub css: String,
}

impl SiteHashes {
    /// The hash file's text, in cargo-leptos' format (`js: H`, `wasm: H`, `css: H`, one per line).
    pub fn file_text(&self) -> String {
        format!("js: {}\nwasm: {}\ncss: {}\n", self.js, self.wasm, self.css)
    }
}

/// Renames the files of `pkg_dir` to their hashed names and rewrites the references to them in
/// `js_file` (given by its unhashed path). `style_file` is the one CSS file that gets hashed.
/// Returns the hashes of the JS, the WASM and the style.
pub fn add_hashes(pkg_dir: &Path, js_file: &Path, wasm_file: &Path, style_file: &Path) -> Result<SiteHashes> {
    let mut hashes = BTreeMap::new();
    let mut stack = vec![pkg_dir.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in fs::read_dir(&dir).with_context(|| format!("reading {}", dir.display()))? {
            let path = entry?.path();
            if path.is_dir() {
                stack.push(path);
                continue;
            }
            let other_css = path.extension().is_some_and(|e| e == "css") && path != style_file;
            // wasm-bindgen's snippets are imported by their plain names: never renamed.
            let snippet = path.to_string_lossy().contains("snippets");
            if other_css || snippet {
                continue;
            }
            let hash = content_hash(&fs::read(&path).with_context(|| format!("reading {}", path.display()))?);
            hashes.insert(path, hash);
        }
    }
    let hash_of = |file: &Path| {
        hashes
            .get(file)
            .cloned()
            .with_context(|| format!("{} was not built into {}", file.display(), pkg_dir.display()))
    };
    let site = SiteHashes { js: hash_of(js_file)?, wasm: hash_of(wasm_file)?, css: hash_of(style_file)? };

    let mut renamed: BTreeMap<PathBuf, PathBuf> = BTreeMap::new();
    for (path, hash) in &hashes {
        let name = path.file_name().and_then(|n| n.to_str()).context("a file name that is not UTF-8")?;
        let new_path = path.with_file_name(hashed_name(name, hash));
        fs::rename(path, &new_path)
            .with_context(|| format!("renaming {} to {}", path.display(), new_path.display()))?;
        renamed.insert(path.clone(), new_path);
    }

    let js_now = &renamed[js_file];
    let mut js = fs::read_to_string(js_now).with_context(|| format!("reading {}", js_now.display()))?;
    for (old, new) in &renamed {
        let old = relative_to(old, pkg_dir)?.to_string_lossy();
        let new = relative_to(new, pkg_dir)?.to_string_lossy();
        js = js.replace(&*old, &new);
    }
    fs::write(js_now, js).with_context(|| format!("writing {}", js_now.display()))?;
    Ok(site)
}

/// `path` made relative to `base` when it lies inside it (for the references rewritten in the JS).
fn relative_to<'a>(path: &'a Path, base: &Path) -> Result<&'a Path> {
    path.strip_prefix(base).with_context(|| format!("{} is not inside {}", path.display(), base.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_are_cargo_leptos_ones() {
        // MD5("") = d41d8cd98f00b204e9800998ecf8427e, in unpadded base64url.
        assert_eq!(content_hash(b""), "1B2M2Y8AsgTpgAmY7PhCfg");
        assert_eq!(content_hash(b"chatterbox").len(), 22);
        assert_eq!(hashed_name("chatterbox.js", "H"), "chatterbox.H.js");
        assert_eq!(hashed_name("chatterbox.d.ts", "H"), "chatterbox.d.H.ts");
        assert_eq!(hashed_name("LICENSE", "H"), "LICENSE.H");
    }

    #[test]
    fn files_are_renamed_and_the_js_names_the_new_names() {
        let dir = tempfile::tempdir().unwrap();
        let pkg = dir.path().join("pkg");
        fs::create_dir_all(pkg.join("snippets/frontend-1")).unwrap();
        let js = pkg.join("chatterbox.js");
        let wasm = pkg.join("chatterbox.wasm");
        let css = pkg.join("chatterbox.css");
        fs::write(&js, "import x from './snippets/frontend-1/inline0.js'; fetch('chatterbox.wasm');").unwrap();
        fs::write(&wasm, b"\0asm").unwrap();
        fs::write(&css, "body{}").unwrap();
        fs::write(pkg.join("other.css"), "p{}").unwrap();
        fs::write(pkg.join("snippets/frontend-1/inline0.js"), "export default 1").unwrap();

        let hashes = add_hashes(&pkg, &js, &wasm, &css).unwrap();

        assert_eq!(hashes.wasm, content_hash(b"\0asm"));
        assert_eq!(hashes.css, content_hash(b"body{}"));
        let js_now = pkg.join(format!("chatterbox.{}.js", hashes.js));
        let text = fs::read_to_string(&js_now).unwrap();
        assert!(text.contains(&format!("chatterbox.{}.wasm", hashes.wasm)), "{text}");
        assert!(text.contains("./snippets/frontend-1/inline0.js"), "snippets keep their names: {text}");
        assert!(pkg.join(format!("chatterbox.{}.css", hashes.css)).is_file());
        assert!(pkg.join("other.css").is_file(), "only the style is hashed");
        assert!(!js.exists() && !wasm.exists() && !css.exists());
        assert_eq!(hashes.file_text(), format!("js: {}\nwasm: {}\ncss: {}\n", hashes.js, hashes.wasm, hashes.css));
    }

    #[test]
    fn a_missing_output_is_an_error_not_a_panic() {
        let dir = tempfile::tempdir().unwrap();
        let pkg = dir.path().to_path_buf();
        fs::write(pkg.join("chatterbox.js"), "").unwrap();
        let err =
            add_hashes(&pkg, &pkg.join("chatterbox.js"), &pkg.join("chatterbox.wasm"), &pkg.join("c.css")).unwrap_err();
        assert!(err.to_string().contains("chatterbox.wasm"), "{err}");
    }
}
