// Sessions in the browser: a session in use renews itself and survives its socket being closed
// as expired (4001); a session revoked by a password reset, run by an operator with
// `server admin set-password` while the chat is open, ends it with an explanation.
import { test, expect, WebSocketRoute } from "@playwright/test";
import { execFileSync } from "child_process";
import { loginViaPage, registerViaPage, uniqueName, waitForHydration } from "./helpers";

function serverAdmin(args: string[], input = ""): void {
  execFileSync(process.env.E2E_SERVER_BIN!, ["admin", ...args], {
    input,
    env: {
      ...process.env,
      DATABASE_URL: process.env.E2E_DATABASE_URL!,
      CHATTERBOX_CONFIG: "/dev/null",
      CHATTERBOX_BCRYPT_COST: "4",
      RUST_LOG: "warn",
    },
  });
}

test("a session in use renews itself, and a socket closed as expired reconnects in place", async ({ browser }) => {
  const context = await browser.newContext();
  const live: WebSocketRoute[] = [];
  await context.routeWebSocket(/\/ws/, (ws) => {
    ws.connectToServer();
    live.push(ws);
  });
  const page = await context.newPage();
  const name = uniqueName("ren");
  await registerViaPage(page, name);
  const renewals: number[] = [];
  page.on("response", (response) => {
    if (response.url().includes("/api/auth/renew")) renewals.push(response.status());
  });
  await loginViaPage(page, name);
  await waitForHydration(page);
  await expect(page.locator('.conn-status[data-state="open"]')).toBeVisible();
  // The page renewed its session cookie as it started.
  await expect.poll(() => renewals).toContain(200);
  const cookies = await context.cookies();
  expect(cookies.find((c) => c.name === "chatterbox_session")?.httpOnly).toBe(true);

  // The socket's token "expires": the page renews and reconnects, and the chat goes on.
  const before = renewals.length;
  await Promise.all(live.splice(0).map((ws) => ws.close({ code: 4001, reason: "session expired" })));
  await expect.poll(() => renewals.length).toBeGreaterThan(before);
  await expect(page.locator('.conn-status[data-state="open"]')).toBeVisible({ timeout: 15_000 });
  await expect(page).toHaveURL(/\/$/);
  const text = `still here ${name}`;
  await page.fill("#composer", text);
  await page.press("#composer", "Enter");
  await expect(page.locator(".message.mine:not(.pending)", { hasText: text })).toHaveCount(1);
  await context.close();
});

test("a password reset by an operator ends the open chat with an explanation", async ({ page }) => {
  // Not the first account of the database (the admin).
  await registerViaPage(page, uniqueName("first"));
  const name = uniqueName("pia");
  await registerViaPage(page, name);
  await loginViaPage(page, name);
  await waitForHydration(page);
  await expect(page.locator('.conn-status[data-state="open"]')).toBeVisible();

  serverAdmin(["set-password", name], "a-whole-new-password\n");
  await expect(page).toHaveURL(/\/login\?error=session_ended/);
  await expect(page.locator(".form-error")).toContainText("session has ended");
});
