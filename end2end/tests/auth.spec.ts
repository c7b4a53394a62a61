import { test, expect } from "@playwright/test";
import { loginViaPage, registerViaPage, uniqueName, waitForHydration, PASSWORD } from "./helpers";

test("register, log in and get greeted (JavaScript on)", async ({ page }) => {
  const name = uniqueName("ann");
  await page.goto("/register");
  await waitForHydration(page);
  await registerViaPage(page, name);
  await expect(page.locator(".form-notice")).toContainText("Account created");
  await loginViaPage(page, name);
  await expect(page.locator(".greeting, .whoami")).toContainText([name]);
});

test("errors are shown inline (JavaScript on)", async ({ page }) => {
  const name = uniqueName("bea");
  await registerViaPage(page, name);
  await page.goto("/login");
  await waitForHydration(page);
  await page.fill('input[name="username"]', name);
  await page.fill('input[name="password"]', "wrong-password");
  await page.click('button[type="submit"]');
  await expect(page.locator(".form-error")).toHaveText("invalid username or password");
  await expect(page).toHaveURL(/\/login/);

  await page.goto("/register");
  await waitForHydration(page);
  await page.fill('input[name="username"]', name);
  await page.fill('input[name="email"]', `${name}-other@example.com`);
  await page.fill('input[name="password"]', PASSWORD);
  await page.click('button[type="submit"]');
  await expect(page.locator(".form-error")).toHaveText("username is already taken");
});

test("logged-out visitors of the chat go to /login; logout ends the session", async ({ page }) => {
  await page.goto("/");
  await expect(page).toHaveURL(/\/login$/);
  const name = uniqueName("cid");
  await registerViaPage(page, name);
  await loginViaPage(page, name);
  await page.click("text=Log out");
  await expect(page).toHaveURL(/\/login$/);
  await page.goto("/");
  await expect(page).toHaveURL(/\/login$/);
});

test.describe("with JavaScript disabled", () => {
  test.use({ javaScriptEnabled: false });

  test("register, log in and get greeted", async ({ page }) => {
    const name = uniqueName("dee");
    await registerViaPage(page, name);
    await expect(page.locator(".form-notice")).toContainText("Account created");
    await loginViaPage(page, name);
  });

  test("bad credentials and taken names are shown inline", async ({ page }) => {
    const name = uniqueName("eli");
    await registerViaPage(page, name);
    await page.goto("/login");
    await page.fill('input[name="username"]', name);
    await page.fill('input[name="password"]', "wrong-password");
    await page.click('button[type="submit"]');
    await expect(page).toHaveURL(/\/login\?error=bad_credentials/);
    await expect(page.locator(".form-error")).toHaveText("invalid username or password");

    await page.goto("/register");
    await page.fill('input[name="username"]', name);
    await page.fill('input[name="email"]', `${name}-2@example.com`);
    await page.fill('input[name="password"]', PASSWORD);
    await page.click('button[type="submit"]');
    await expect(page.locator(".form-error")).toHaveText("username is already taken");
  });
});
