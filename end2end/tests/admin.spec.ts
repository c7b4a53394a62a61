import { test, expect, Page } from "@playwright/test";
import { adminConsole, createRoom, loginViaPage, registerViaPage, sendMessage, signedInUser, uniqueName, waitForHydration, PASSWORD } from "./helpers";
import * as fs from "fs";

test("a normal user visiting /admin sees the 403 page", async ({ page, browser }) => {
  // Ensure the admin exists first so this user is not the first account.
  const adminContext = await browser.newContext();
  await adminConsole(await adminContext.newPage());
  const name = uniqueName("hal");
  await registerViaPage(page, name);
  await loginViaPage(page, name);
  const response = await page.goto("/admin");
  expect(response!.status()).toBe(403);
  await expect(page.locator("h1")).toContainText("403");
  await expect(page.locator("#users")).toHaveCount(0);
});

test("the admin blocks and unblocks a user from the page", async ({ page, browser }) => {
  await adminConsole(page);
  await expect(page.locator("h1, .brand").first()).toBeVisible();
  const victimContext = await browser.newContext();
  const victim = await victimContext.newPage();
  const name = uniqueName("ivy");
  await registerViaPage(victim, name);
  await loginViaPage(victim, name);
  await waitForHydration(victim);
  await expect(victim.locator('.conn-status[data-state="open"]')).toBeVisible();

  await page.reload();
  await waitForHydration(page);
  const row = page.locator(`#users tr[data-username="${name}"]`);
  await expect(row.locator(".status")).toHaveText("active");
  await row.locator("button.block").click();
  await expect(row.locator(".status")).toHaveText("blocked");
  // The victim's open chat is closed and sent to the login page with the explanation.
  await expect(victim).toHaveURL(/\/login\?error=blocked/);

  await page.check("#blocked-only");
  await expect(page.locator(`#users tr[data-username="${name}"]`)).toBeVisible();
  await page.locator(`#users tr[data-username="${name}"] button.unblock`).click();
  await expect(page.locator(`#users tr[data-username="${name}"]`)).toHaveCount(0);
  await page.uncheck("#blocked-only");
  await expect(page.locator(`#users tr[data-username="${name}"] .status`)).toHaveText("active");
  await loginViaPage(victim, name);
});

test("the live monitor shows new messages and the download buttons deliver CSV", async ({ page, browser }) => {
  await adminConsole(page);
  const other = await (await browser.newContext()).newPage();
  const name = uniqueName("jon");
  await registerViaPage(other, name);
  await loginViaPage(other, name);
  await waitForHydration(other);
  await expect(other.locator('.conn-status[data-state="open"]')).toBeVisible();
  const text = `monitor me ${name}`;
  await other.fill("#composer", text);
  await other.press("#composer", "Enter");
  await expect(page.locator("#monitor td.text", { hasText: text })).toBeVisible();

  for (const [id, header] of [
    ["#download-users", "id,username,email"],
    ["#download-messages", "id,sender_id,username,content"],
  ]) {
    const downloadPromise = page.waitForEvent("download");
    await page.click(id);
    const download = await downloadPromise;
    expect(download.suggestedFilename()).toMatch(/\.csv$/);
    const content = fs.readFileSync((await download.path())!, "utf8");
    expect(content.startsWith(header)).toBeTruthy();
  }
});

test("the users table pages through every account with More users", async ({ page }) => {
  await adminConsole(page);
  // At least 101 accounts: more than one page of 100.
  for (let i = 0; i < 101; i++) {
    const name = uniqueName("pg");
    const response = await page.request.post("/register", {
      data: { username: name, email: `${name}@example.com`, password: PASSWORD },
    });
    expect(response.status()).toBe(201);
  }
  await page.reload();
  await waitForHydration(page);
  const rows = page.locator("#users tbody tr");
  await expect(rows).toHaveCount(100);
  const total = Number(await page.locator("#stat-users").innerText());
  for (let shown = 100; shown < total; shown += 100) {
    await page.locator("#more-users").click();
    await expect(rows).toHaveCount(Math.min(shown + 100, total));
  }
  await expect(rows).toHaveCount(total);
  await expect(page.locator("#more-users")).toHaveCount(0);
});

test("moving between the chat and the admin console keeps one socket, not one per visit", async ({ page }) => {
  await adminConsole(page);
  // Counted from here: the sockets in-app navigation opens, less those it closes. The console's
  // own socket (opened before) is closed but not counted, so one stays open: the current one.
  let open = 0;
  page.on("websocket", (ws) => {
    open += 1;
    ws.on("close", () => (open -= 1));
  });
  for (let i = 0; i < 3; i++) {
    await page.locator('a[href="/"]').first().click();
    await expect(page).toHaveURL(/\/$/);
    await expect(page.locator('.conn-status[data-state="open"]')).toBeVisible();
    await page.locator("a.admin-link").click();
    await expect(page).toHaveURL(/\/admin$/);
  }
  // The chat still sends: the socket in use is the one the page writes to.
  await expect.poll(() => open).toBe(1);
  await page.locator('a[href="/"]').first().click();
  await expect(page.locator('.conn-status[data-state="open"]')).toBeVisible();
  const text = `one socket ${Date.now()}`;
  await page.fill("#composer", text);
  await page.press("#composer", "Enter");
  await expect(page.locator(".message.mine:not(.pending)", { hasText: text })).toHaveCount(1);
  await expect.poll(() => open).toBe(1);
});

test("the console lists private rooms, shows their messages with the conversation, and archives them", async ({ page, browser }) => {
  await adminConsole(page);
  const { page: owner, name } = await signedInUser(browser, "ros");
  const room = `den ${name}`;
  await createRoom(owner, room, { private: true });
  const text = `in the den ${name}`;
  await sendMessage(owner, text);
  await expect(owner.locator("#messages .message", { hasText: text })).toBeVisible();

  await page.reload();
  await waitForHydration(page);
  const row = page.locator("#rooms tr", { hasText: `${room} (private)` });
  await expect(row).toBeVisible();
  await expect(page.locator("#monitor tr", { hasText: text })).toContainText(`${room} (private)`);
  await row.locator("button.archive").click();
  await expect(page.locator("#rooms tr", { hasText: `${room} (private)` })).toContainText("archived");
});
