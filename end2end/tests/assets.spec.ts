// The client's files of the real debug build (issue 15): the page names hashed files that are this
// binary's build (target/debug/hash.txt) and lie in its own site root (target/site-debug, not the
// release builds' target/site), whose names match their content; they come brotli-compressed and
// immutable; and the page is painted before the client is fetched (the client starts when the
// browser reports the first contentful paint), then hydrates.
import { test, expect } from "@playwright/test";
import { createHash } from "crypto";
import * as fs from "fs";
import * as path from "path";
import { waitForHydration } from "./helpers";

const repoRoot = path.resolve(__dirname, "..", "..");
const siteRoot = path.join(repoRoot, "target", "site-debug");

/** cargo-leptos' content hash: MD5, unpadded base64url (22 characters). */
const contentHash = (data: Buffer) => createHash("md5").update(data).digest("base64url");

test("the page names this build's hashed files, served compressed and immutable", async ({ page, request }) => {
  const html = await (await request.get("/login")).text();
  const css = html.match(/href="(\/pkg\/chatterbox\.([\w-]{22})\.css)"/);
  const js = html.match(/"(\/pkg\/chatterbox\.([\w-]{22})\.js)"/);
  const wasm = html.match(/"(\/pkg\/chatterbox\.([\w-]{22})\.wasm)"/);
  expect(css && js && wasm, html).toBeTruthy();
  expect(html).not.toContain("modulepreload");

  // The hashes are those the debug binary's hash file lists, and the files are in its site root.
  const hashFile = fs.readFileSync(path.join(repoRoot, "target", "debug", "hash.txt"), "utf8");
  for (const [kind, match] of [["js", js!], ["wasm", wasm!], ["css", css!]] as const) {
    expect(hashFile).toMatch(new RegExp(`^${kind}: ${match[2]}$`, "m"));
    expect(fs.existsSync(path.join(siteRoot, match[1])), `${match[1]} in ${siteRoot}`).toBe(true);
  }

  for (const [url, hash, type] of [
    [wasm![1], wasm![2], "application/wasm"],
    [css![1], css![2], "text/css"],
    [js![1], null, "text/javascript"],
  ] as const) {
    const response = await request.get(url, { headers: { "accept-encoding": "br" } });
    expect(response.status(), url).toBe(200);
    const headers = response.headers();
    expect(headers["content-encoding"], url).toBe("br");
    expect(headers["content-type"], url).toContain(type);
    expect(headers["cache-control"], url).toBe("public, max-age=31536000, immutable");
    expect(headers["vary"], url).toMatch(/accept-encoding/i);
    // The body (decompressed by the client) is the file its name promises. Not checked for the
    // JS: after hashing it, cargo-leptos writes the hashed names of other files into it (in debug
    // builds, the `.d.ts` it points to), which are themselves content hashes.
    if (hash) expect(contentHash(await response.body()), url).toBe(hash);
  }

  const missing = await request.get("/pkg/chatterbox.AAAAAAAAAAAAAAAAAAAAAA.wasm");
  expect(missing.status()).toBe(404);
  expect(missing.headers()["cache-control"]).toBe("no-store");

  // In the browser: painted first, then the client is fetched (compressed) and hydrates. The
  // page starts the client when a PerformanceObserver reports the first contentful paint, which
  // the browser does only once the paint has happened: so every request of the client starts
  // after the paint's time, however late a busy machine presents the frame (an order the browser
  // guarantees, not a race between a timer and the compositor).
  await page.goto("/login");
  await waitForHydration(page);
  const timing = await page.evaluate(() => {
    const paint = performance.getEntriesByName("first-contentful-paint")[0];
    const client = (performance.getEntriesByType("resource") as PerformanceResourceTiming[]).filter((entry) =>
      /\/pkg\/chatterbox\.[\w-]{22}\.(js|wasm)$/.test(new URL(entry.name).pathname),
    );
    const wasm = client.find((entry) => entry.name.endsWith(".wasm"));
    return {
      paint: paint?.startTime,
      starts: client.map((entry) => [new URL(entry.name).pathname, entry.startTime] as const),
      encoded: wasm?.encodedBodySize,
      decoded: wasm?.decodedBodySize,
    };
  });
  expect(timing.paint, JSON.stringify(timing)).toBeDefined();
  expect(timing.starts.length, JSON.stringify(timing)).toBe(2);
  for (const [file, start] of timing.starts) {
    expect(start, `${file}: ${JSON.stringify(timing)}`).toBeGreaterThanOrEqual(timing.paint!);
  }
  expect(timing.encoded!, JSON.stringify(timing)).toBeLessThan(timing.decoded! / 2);
});
