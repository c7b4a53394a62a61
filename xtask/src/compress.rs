//! Precompression (`--precompress`, release only, as cargo-leptos): every file of the site gets a
//! `.gz` and a `.br` beside it, which the server sends to browsers that accept them instead of
//! compressing on every request.

use std::fs;
use std::io::Write;
use std::path::Path;

use anyhow::{Context, Result};
use flate2::write::GzEncoder;
use flate2::Compression;

/// Compresses every file under `dir` (recursively) that is not itself a `.gz` or `.br`.
/// Returns how many files were compressed.
pub fn compress_dir(dir: &Path) -> Result<usize> {
    let mut count = 0;
    for entry in fs::read_dir(dir).with_context(|| format!("reading {}", dir.display()))? {
        let path = entry?.path();
        if path.is_dir() {
            count += compress_dir(&path)?;
            continue;
        }
        if path.extension().is_some_and(|e| e == "gz" || e == "br") {
            continue;
        }
        let bytes = fs::read(&path).with_context(|| format!("reading {}", path.display()))?;
        let with_suffix = |suffix: &str| {
            let mut name = path.as_os_str().to_owned();
            name.push(suffix);
            name
        };
        fs::write(with_suffix(".gz"), gzip(&bytes)?).with_context(|| format!("writing {}.gz", path.display()))?;
        fs::write(with_suffix(".br"), brotli(&bytes)?).with_context(|| format!("writing {}.br", path.display()))?;
        count += 1;
    }
    Ok(count)
}

fn gzip(bytes: &[u8]) -> Result<Vec<u8>> {
    let mut encoder = GzEncoder::new(Vec::new(), Compression::best());
    encoder.write_all(bytes)?;
    Ok(encoder.finish()?)
}

/// Brotli at its defaults (quality 11, window 22), as cargo-leptos compresses.
fn brotli(bytes: &[u8]) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    brotli::BrotliCompress(&mut &bytes[..], &mut out, &brotli::enc::BrotliEncoderParams::default())?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use std::io::Read;

    use super::*;

    #[test]
    fn every_file_gets_a_gzip_and_a_brotli_copy_that_decompress_to_it() {
        let dir = tempfile::tempdir().unwrap();
        fs::create_dir_all(dir.path().join("pkg")).unwrap();
        let js = "export function hello() { return 'hello'; }\n".repeat(50);
        fs::write(dir.path().join("pkg/app.js"), &js).unwrap();
        fs::write(dir.path().join("favicon.svg"), "<svg/>").unwrap();

        assert_eq!(compress_dir(dir.path()).unwrap(), 2);
        // A second run compresses the originals again, never the compressed copies.
        assert_eq!(compress_dir(dir.path()).unwrap(), 2);

        let gz = fs::read(dir.path().join("pkg/app.js.gz")).unwrap();
        let mut text = String::new();
        flate2::read::GzDecoder::new(&gz[..]).read_to_string(&mut text).unwrap();
        assert_eq!(text, js);
        let br = fs::read(dir.path().join("pkg/app.js.br")).unwrap();
        assert!(br.len() < js.len() / 4, "brotli should shrink repetitive JS: {} bytes", br.len());
        let mut text = String::new();
        brotli::Decompressor::new(&br[..], 4096).read_to_string(&mut text).unwrap();
        assert_eq!(text, js);
        assert!(dir.path().join("favicon.svg.br").is_file());
        assert!(!dir.path().join("pkg/app.js.gz.gz").exists());
    }
}
