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
