import { test, expect, Page } from "@playwright/test";
import { adminConsole, loginViaPage, registerViaPage, sendMessage, signedInUser, uniqueName, waitForHydration, PASSWORD } from "./helpers";

test("a member reports a message and an admin removes it from the review queue", async ({ browser }) => {
  const adminContext = await browser.newContext();
  const admin = await adminContext.newPage();
  await adminConsole(admin);
  const sender = await signedInUser(browser, "rex");
  const reader = await signedInUser(browser, "ria");
  const text = `buy cheap followers at ${uniqueName("spam")}`;
  await sendMessage(sender.page, text);
  const bubble = reader.page.locator("li.message").filter({ hasText: text });
  await expect(bubble).toBeVisible();
  await bubble.getByTestId("report-message").click();
  await expect(bubble.getByTestId("reported")).toBeVisible();
  // Your own messages have no Report action.
  await expect(sender.page.locator("li.message").filter({ hasText: text }).getByTestId("report-message")).toHaveCount(0);

  await admin.reload();
  await waitForHydration(admin);
  const item = admin.getByTestId("review-item").filter({ hasText: text });
  await expect(item).toBeVisible();
  await expect(item).toContainText(sender.name);
  await expect(item).toContainText(reader.name);
  await item.getByTestId("review-reason").fill("spam");
  await item.getByTestId("review-remove").click();
  await expect(item).toHaveCount(0);

  // The reader's open page shows it removed, at once; the text is gone.
  const removed = reader.page.locator("li.message .bubble.removed");
  await expect(removed.last()).toHaveText("Message removed by a moderator");
  await expect(reader.page.locator("li.message").filter({ hasText: text })).toHaveCount(0);
  await expect(sender.page.locator("li.message").filter({ hasText: text })).toHaveCount(0);
});

test("a blocked user appeals from the login page and an admin accepts", async ({ page, browser }) => {
  const adminContext = await browser.newContext();
  const admin = await adminContext.newPage();
  await adminConsole(admin);
  const name = uniqueName("abe");
  await registerViaPage(page, name);
  await loginViaPage(page, name);
  await waitForHydration(page);
  await expect(page.locator('.conn-status[data-state="open"]')).toBeVisible();
  for (const n of [1, 2]) {
    await sendMessage(page, "what the f.u.c.k");
    await expect(page.locator(".banner")).toContainText(`Warning ${n} of 3`);
  }
  await sendMessage(page, "sh1t");
  await expect(page).toHaveURL(/\/login\?error=blocked/);
  await waitForHydration(page);

  // The login page offers the appeal form.
  const form = page.getByTestId("appeal-form");
  await expect(form).toBeVisible();
  await form.locator('input[name="appeal-username"]').fill(name);
  await form.locator('input[name="appeal-password"]').fill(PASSWORD);
  await form.locator('textarea[name="appeal-text"]').fill("I was quoting a film, sorry. It won't happen again.");
  await form.locator('button[type="submit"]').click();
  await expect(page.getByTestId("appeal-sent")).toBeVisible();

  // Logging in again says the appeal waits.
  await page.goto("/login");
  await waitForHydration(page);
  await page.fill('input[name="username"]', name);
  await page.fill('input[name="password"]', PASSWORD);
  await page.click('button[type="submit"]');
  await expect(page.getByTestId("appeal-open")).toBeVisible();

  await admin.reload();
  await waitForHydration(admin);
  const appeal = admin.getByTestId("appeal").filter({ hasText: name });
  await expect(appeal).toContainText("quoting a film");
  await appeal.getByTestId("appeal-accept").click();
  await expect(appeal).toHaveCount(0);

  await loginViaPage(page, name);
  await waitForHydration(page);
  await expect(page.locator('.conn-status[data-state="open"]')).toBeVisible();
  // Their standing shows the three violations, none counting any more.
  await page.getByTestId("standing").locator("summary").click();
  await expect(page.getByTestId("standing-summary")).toHaveText("0 of 3 warnings");
  await expect(page.locator(".standing-history li.not-counted")).toHaveCount(3);
});
