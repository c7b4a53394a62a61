import { test, expect } from "@playwright/test";
import { loginViaPage, registerViaPage, uniqueName, waitForHydration } from "./helpers";

test("warnings show as a banner; the third strike logs the user out with an explanation", async ({ page }) => {
  // Admins are never blocked by the three-strike rule: make sure gus is not the first (admin)
  // account of the database, whichever spec files ran before.
  await registerViaPage(page, uniqueName("first"));
  const name = uniqueName("gus");
  await registerViaPage(page, name);
  await loginViaPage(page, name);
  await waitForHydration(page);
  await expect(page.locator('.conn-status[data-state="open"]')).toBeVisible();

  for (const n of [1, 2]) {
    await page.fill("#composer", "what the f.u.c.k");
    await page.press("#composer", "Enter");
    await expect(page.locator(".banner")).toContainText(`Warning ${n} of 3`);
  }
  await page.fill("#composer", "sh1t");
  await page.press("#composer", "Enter");
  await expect(page).toHaveURL(/\/login\?error=blocked/);
  await expect(page.locator(".form-error")).toContainText("blocked");
});
