#!/usr/bin/env node
// Writes NAME.br and NAME.gz beside every file of a site root, as `scripts/build.sh --release
// --precompress` does for release builds: the server sends them to clients that accept them
// (server/src/http/assets.rs). For debug builds (end-to-end tests), whose output is
// not precompressed. Skips files whose compressed copies are newer than the file.
// Usage: node scripts/precompress.mjs [--fast] SITE_ROOT   (--fast: brotli quality 5, not 11)
import { brotliCompressSync, constants, gzipSync } from "node:zlib";
import { readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";

const args = process.argv.slice(2);
const fast = args.includes("--fast");
const roots = args.filter((arg) => arg !== "--fast");
if (roots.length !== 1) {
  console.error("usage: node scripts/precompress.mjs [--fast] SITE_ROOT");
  process.exit(2);
}

const fresh = (copy, mtime) => {
  try {
    return statSync(copy).mtimeMs >= mtime;
  } catch {
    return false;
  }
};

let written = 0;
const walk = (dir) => {
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) {
      walk(path);
      continue;
    }
    if (!entry.isFile() || path.endsWith(".br") || path.endsWith(".gz")) continue;
    const { mtimeMs } = statSync(path);
    if (fresh(`${path}.br`, mtimeMs) && fresh(`${path}.gz`, mtimeMs)) continue;
    const data = readFileSync(path);
    const quality = fast ? 5 : constants.BROTLI_MAX_QUALITY;
    writeFileSync(
      `${path}.br`,
      brotliCompressSync(data, {
        params: { [constants.BROTLI_PARAM_QUALITY]: quality, [constants.BROTLI_PARAM_SIZE_HINT]: data.length },
      }),
    );
    writeFileSync(`${path}.gz`, gzipSync(data, { level: 9 }));
    written += 1;
  }
};
walk(roots[0]);
console.log(`precompress: ${written} file(s) compressed in ${roots[0]}`);
