// Invitations that need accepting (issue 22), in a real browser: on a server started here with
// CHATTERBOX_INVITATIONS_NEED_ACCEPT=true, a member adds someone to a private room; the invitee
// sees the invitation live in the sidebar, and the room only once they accept; a declined one
// goes away and the room stays closed.
import { test, expect, Browser, Page } from "@playwright/test";
import { ChildProcess, spawn } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { conversationItem, createRoom, loginViaPage, registerViaPage, sendMessage, uniqueName, waitForHydration } from "./helpers";

const repoRoot = path.resolve(__dirname, "..", "..");
const port = String(Number(process.env.E2E_PORT ?? "3300") + 7);
const baseURL = `http://127.0.0.1:${port}`;
let server: ChildProcess | undefined;
let dataDir = "";

test.beforeAll(async () => {
  dataDir = fs.mkdtempSync(path.join(os.tmpdir(), "chatterbox-e2e-invitations-"));
  server = spawn(process.env.E2E_SERVER_BIN ?? path.join(repoRoot, "target", "debug", "server"), [], {
    cwd: repoRoot,
    stdio: "ignore",
    env: {
      ...process.env,
      LEPTOS_SITE_ADDR: `127.0.0.1:${port}`,
      LEPTOS_SITE_ROOT: "target/site-debug",
      LEPTOS_OUTPUT_NAME: "chatterbox",
      DATABASE_URL: `sqlite://${path.join(dataDir, "e2e.db")}`,
      CHATTERBOX_BCRYPT_COST: "4",
      CHATTERBOX_LOGIN_IP_BURST: "100000",
      CHATTERBOX_LOGIN_ACCOUNT_BURST: "100000",
      CHATTERBOX_REGISTER_IP_BURST: "100000",
      CHATTERBOX_CONFIG: path.join(repoRoot, "Leptos.toml"),
      CHATTERBOX_INVITATIONS_NEED_ACCEPT: "true",
      RUST_LOG: "warn",
    },
  });
  // Until it answers (a fresh database migrates first).
  const deadline = Date.now() + 30_000;
  for (;;) {
    try {
      const response = await fetch(`${baseURL}/login`);
      if (response.ok) break;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) throw new Error("the invitations server did not start");
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
});

test.afterAll(async () => {
  server?.kill("SIGTERM");
  fs.rmSync(dataDir, { recursive: true, force: true });
});

async function user(browser: Browser, prefix: string): Promise<{ page: Page; name: string }> {
  const context = await browser.newContext({ baseURL });
  const page = await context.newPage();
  const name = uniqueName(prefix);
  await registerViaPage(page, name);
  await loginViaPage(page, name);
  await waitForHydration(page);
  await expect(page.locator('.conn-status[data-state="open"]')).toBeVisible();
  return { page, name };
}

async function invite(page: Page, name: string): Promise<void> {
  await page.getByTestId("invite-button").click();
  await page.getByTestId("invite-username").fill(name);
  await page.getByTestId("invite-submit").click();
}

test("an invitation waits in the sidebar until it is accepted, or goes when declined", async ({ browser }) => {
  const a = await user(browser, "ines");
  const b = await user(browser, "otto");
  const room = uniqueName("Cellar ");
  await createRoom(a.page, room, { private: true });
  await invite(a.page, b.name);
  // Invited, not added: A still sees one member; B sees the invitation, not the room.
  const invitation = b.page.getByTestId("invitation").filter({ hasText: room });
  await expect(invitation).toBeVisible();
  await expect(invitation).toContainText(`from ${a.name}`);
  await expect(conversationItem(b.page, room)).toHaveCount(0);
  await expect(a.page.getByTestId("member-count")).toHaveText("1 member");
  await sendMessage(a.page, "before you came");
  // Accepting opens the room, with what was said before it as history.
  await invitation.getByTestId("accept-invitation").click();
  await expect(b.page.getByTestId("room-name")).toHaveText(room);
  await expect(conversationItem(b.page, room)).toBeVisible();
  await expect(b.page.getByTestId("invitation")).toHaveCount(0);
  await expect(a.page.getByTestId("member-count")).toHaveText("2 members");
  await sendMessage(a.page, "welcome in");
  await expect(b.page.locator(".message.theirs", { hasText: "welcome in" })).toBeVisible();

  // A second invitation, seen after a reload (read back from the server), declined.
  const other = uniqueName("Attic ");
  await createRoom(a.page, other, { private: true });
  await invite(a.page, b.name);
  await b.page.reload();
  await waitForHydration(b.page);
  const second = b.page.getByTestId("invitation").filter({ hasText: other });
  await expect(second).toBeVisible();
  await second.getByTestId("decline-invitation").click();
  await expect(b.page.getByTestId("invitation")).toHaveCount(0);
  await expect(conversationItem(b.page, other)).toHaveCount(0);
  await b.page.reload();
  await waitForHydration(b.page);
  await expect(conversationItem(b.page, room)).toBeVisible();
  await expect(b.page.getByTestId("invitation")).toHaveCount(0);
});
