// Playwright runs the debug server built by `scripts/build.sh` on a fresh temporary database,
// in Debian's Chromium (no browser download). `scripts/test.sh` builds first. The debug build's
// site is target/site-debug (Cargo.toml `site-root`; release builds use target/site); it is
// precompressed here (.br/.gz beside each file) as release builds are with --precompress, so the
// tests meet the same static-file answers as a release server.
import { defineConfig, devices } from "@playwright/test";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";

const port = process.env.E2E_PORT ?? "3300";
// Workers load this file again: they inherit the runner's directory instead of making their own.
const dataDir = (process.env.E2E_DATA_DIR ??= fs.mkdtempSync(path.join(os.tmpdir(), "chatterbox-e2e-")));
const repoRoot = path.resolve(__dirname, "..");
const databaseUrl = `sqlite://${path.join(dataDir, "e2e.db")}`;
// For tests that run `server admin ...` against the server's database, as an operator would.
process.env.E2E_DATABASE_URL = databaseUrl;
process.env.E2E_SERVER_BIN = path.join(repoRoot, "target", "debug", "server");

export default defineConfig({
  testDir: "./tests",
  timeout: 30_000,
  expect: { timeout: 10_000 },
  fullyParallel: false,
  workers: 1,
  retries: 0,
  reporter: [["list"]],
  use: {
    baseURL: `http://127.0.0.1:${port}`,
    trace: "retain-on-failure",
    launchOptions: {
      executablePath: process.env.CHROMIUM_PATH ?? "/usr/bin/chromium",
      args: [
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
      ],
    },
  },
  projects: [{ name: "chromium", use: { ...devices["Desktop Chrome"] } }],
  webServer: {
    command: `node scripts/precompress.mjs --fast target/site-debug && exec ${path.join(repoRoot, "target", "debug", "server")}`,
    cwd: repoRoot,
    url: `http://127.0.0.1:${port}/login`,
    timeout: 60_000,
    reuseExistingServer: false,
    stdout: "pipe",
    stderr: "pipe",
    env: {
      LEPTOS_SITE_ADDR: `127.0.0.1:${port}`,
      LEPTOS_SITE_ROOT: "target/site-debug",
      LEPTOS_OUTPUT_NAME: "chatterbox",
      DATABASE_URL: databaseUrl,
      CHATTERBOX_BCRYPT_COST: "4",
      // Every test registers and logs in from 127.0.0.1: raise the per-IP and per-account
      // throttles (their behaviour is covered by server/tests/security.rs).
      CHATTERBOX_LOGIN_IP_BURST: "100000",
      CHATTERBOX_LOGIN_ACCOUNT_BURST: "100000",
      CHATTERBOX_REGISTER_IP_BURST: "100000",
      CHATTERBOX_CONFIG: path.join(repoRoot, "Leptos.toml"),
      RUST_LOG: "warn",
    },
  },
});
