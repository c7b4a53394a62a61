// Accounts people control (issue 26) in Chromium: the Settings screen changes the password (the
// page stays signed in, another browser's session ends, the new password logs in), downloads the
// data as a JSON file, and deletes the account (the page goes to the login form, the account no
// longer logs in, its message stays in general as from "deleted user"); admins see the deletion
// in the console's audit log.
import { test, expect } from "@playwright/test";
import * as fs from "fs";
import { adminConsole, loginViaPage, sendMessage, signedInUser, waitForHydration } from "./helpers";

const PASSWORD = "password123";

test("the settings screen changes the password and ends the other sessions", async ({ browser }) => {
  const { page, name } = await signedInUser(browser, "pw");
  const other = await browser.newContext();
  const otherPage = await other.newPage();
  await loginViaPage(otherPage, name);
  await waitForHydration(otherPage);
  await expect(otherPage.locator('.conn-status[data-state="open"]')).toBeVisible();

  await page.getByTestId("settings-link").click();
  await expect(page.getByTestId("settings")).toBeVisible();
  await waitForHydration(page);
  const form = page.getByTestId("password-form");
  await form.locator('input[name="current-password"]').fill("not-my-password");
  await form.locator('input[name="new-password"]').fill("a-brand-new-password");
  await form.locator('button[type="submit"]').click();
  await expect(page.locator(".form-error")).toHaveText("the password is wrong");

  await form.locator('input[name="current-password"]').fill(PASSWORD);
  await form.locator('button[type="submit"]').click();
  await expect(page.getByTestId("password-changed")).toBeVisible();
  // This page keeps a fresh session: the chat opens and connects.
  await page.goto("/");
  await expect(page.locator('.conn-status[data-state="open"]')).toBeVisible();
  // The other browser's session has ended: its next page is the login form.
  await otherPage.goto("/");
  await expect(otherPage).toHaveURL(/\/login/);

  const fresh = await browser.newContext();
  const freshPage = await fresh.newPage();
  await freshPage.goto("/login");
  await freshPage.fill('input[name="username"]', name);
  await freshPage.fill('input[name="password"]', "a-brand-new-password");
  await freshPage.click('button[type="submit"]');
  await expect(freshPage).toHaveURL(/\/$/);
});

test("my data downloads as one JSON file", async ({ browser }) => {
  const { page, name } = await signedInUser(browser, "export");
  await sendMessage(page, "a message for my export");
  await expect(page.locator("li.message[data-id]").filter({ hasText: "a message for my export" })).toBeVisible();
  await page.goto("/settings");
  await waitForHydration(page);
  const [download] = await Promise.all([page.waitForEvent("download"), page.getByTestId("export-link").click()]);
  const path = await download.path();
  const exported = JSON.parse(fs.readFileSync(path, "utf8"));
  expect(exported.user.username).toBe(name);
  expect(exported.messages.map((m: { content: string }) => m.content)).toContain("a message for my export");
  expect(JSON.stringify(exported)).not.toContain("$2");
});

test("deleting the account signs out and leaves the messages as from a deleted user; admins see it", async ({
  browser,
}) => {
  const admin = await (await browser.newContext()).newPage();
  await adminConsole(admin);
  const { page, name } = await signedInUser(browser, "leaver");
  await sendMessage(page, "goodbye from a leaver");
  await expect(page.locator("li.message[data-id]").filter({ hasText: "goodbye from a leaver" })).toBeVisible();
  await page.goto("/settings");
  await waitForHydration(page);
  const form = page.getByTestId("delete-account-form");
  const button = form.locator('button[type="submit"]');
  await expect(button).toBeDisabled();
  await form.locator('input[name="delete-password"]').fill(PASSWORD);
  await form.locator('input[name="delete-sure"]').check();
  await button.click();
  await expect(page).toHaveURL(/\/login\?deleted=1/);
  await expect(page.getByTestId("account-deleted")).toBeVisible();
  await page.fill('input[name="username"]', name);
  await page.fill('input[name="password"]', PASSWORD);
  await page.click('button[type="submit"]');
  await expect(page.locator(".form-error")).toBeVisible();

  await admin.goto("/");
  const kept = admin.locator("li.message[data-id]").filter({ hasText: "goodbye from a leaver" });
  await expect(kept).toBeVisible();
  await expect(kept).toContainText("deleted user");
  await admin.goto("/admin");
  await waitForHydration(admin);
  const entry = admin.getByTestId("audit-log").locator('tr[data-action="delete_account"]').filter({ hasText: name });
  await expect(entry).toBeVisible();
});
