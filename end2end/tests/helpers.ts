import { expect, Page } from "@playwright/test";

let counter = 0;
/** A username unique to this run. */
export function uniqueName(prefix: string): string {
  counter += 1;
  return `${prefix}${Date.now().toString(36)}${counter}`;
}

export const PASSWORD = "password123";

/** Registers through the page (ends on /login with the "account created" notice). */
export async function registerViaPage(page: Page, username: string): Promise<void> {
  await page.goto("/register");
  await page.fill('input[name="username"]', username);
  await page.fill('input[name="email"]', `${username}@example.com`);
  await page.fill('input[name="password"]', PASSWORD);
  await page.click('button[type="submit"]');
  await expect(page).toHaveURL(/\/login/);
}

/** Logs in through the page and waits for the chat page to greet the user. */
export async function loginViaPage(page: Page, username: string): Promise<void> {
  await page.goto("/login");
  await page.fill('input[name="username"]', username);
  await page.fill('input[name="password"]', PASSWORD);
  await page.click('button[type="submit"]');
  await expect(page).toHaveURL(/\/$/);
  await expect(page.locator(".whoami .username")).toHaveText(username);
}

/** Waits until the WASM has hydrated the page (the server renders data-hydrated="false"). */
export async function waitForHydration(page: Page): Promise<void> {
  await page.waitForFunction(() => (window as any).__chatterbox_hydrated === true);
}

/** A new user, registered and signed in in a fresh browser context, with the chat connected. */
export async function signedInUser(
  browser: import("@playwright/test").Browser,
  prefix: string,
  options: { viewport?: { width: number; height: number } } = {},
): Promise<{ page: Page; name: string }> {
  const context = await browser.newContext(options.viewport ? { viewport: options.viewport } : {});
  const page = await context.newPage();
  const name = uniqueName(prefix);
  await registerViaPage(page, name);
  await loginViaPage(page, name);
  await waitForHydration(page);
  await expect(page.locator('.conn-status[data-state="open"]')).toBeVisible();
  return { page, name };
}

/** Sends a message in the conversation on screen. */
export async function sendMessage(page: Page, text: string): Promise<void> {
  await page.fill("#composer", text);
  await page.press("#composer", "Enter");
}

/** The sidebar entry of a conversation, by its exact name. */
export function conversationItem(page: Page, name: string) {
  return page
    .getByTestId("conversation")
    .filter({ has: page.getByTestId("conversation-name").getByText(name, { exact: true }) });
}

/** Creates a room through the sidebar form; the page switches to it. */
export async function createRoom(
  page: Page,
  name: string,
  options: { private?: boolean; topic?: string } = {},
): Promise<void> {
  await page.getByTestId("new-room-button").click();
  await page.getByTestId("new-room-name").fill(name);
  if (options.private) await page.getByTestId("new-room-private").check();
  if (options.topic) await page.getByTestId("new-room-topic").fill(options.topic);
  await page.getByTestId("new-room-submit").click();
  await expect(page.getByTestId("room-name")).toHaveText(name);
}

/** Opens the direct conversation with `username` through "Message someone". */
export async function messageSomeone(page: Page, username: string): Promise<void> {
  await page.getByTestId("new-dm-button").click();
  await page.getByTestId("new-dm-username").fill(username);
  await page.getByTestId("new-dm-submit").click();
  await expect(page.getByTestId("room-name")).toHaveText(username);
}

/** Switches to a conversation of the sidebar. */
export async function openConversation(page: Page, name: string): Promise<void> {
  await conversationItem(page, name).click();
  await expect(page.getByTestId("room-name")).toHaveText(name);
}

/** The first account of the e2e database is the admin: whichever spec ran first made it. */
export const ADMIN = "e2eadmin";

/** Makes sure the admin exists, signs in as the admin and opens the hydrated console. */
export async function adminConsole(page: Page): Promise<void> {
  await page.goto("/register");
  await page.fill('input[name="username"]', ADMIN);
  await page.fill('input[name="email"]', `${ADMIN}@example.com`);
  await page.fill('input[name="password"]', PASSWORD);
  await page.click('button[type="submit"]');
  await loginViaPage(page, ADMIN);
  await page.goto("/admin");
  await waitForHydration(page);
}
