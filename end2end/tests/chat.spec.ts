import { test, expect, Browser, Page } from "@playwright/test";
import { loginViaPage, registerViaPage, signedInUser, uniqueName, waitForHydration } from "./helpers";

const signedInPage = (browser: Browser, prefix: string) => signedInUser(browser, prefix);

async function send(page: Page, text: string): Promise<void> {
  await page.fill("#composer", text);
  await page.press("#composer", "Enter");
}

test("A sends, B sees it on the left in gray, A sees it on the right in blue", async ({ browser }) => {
  const a = await signedInPage(browser, "amy");
  const b = await signedInPage(browser, "ben");
  const text = `hello from ${a.name}`;
  await send(a.page, text);

  const onB = b.page.locator(".message", { hasText: text });
  await expect(onB).toHaveClass(/theirs/);
  await expect(onB.locator(".author")).toHaveText(a.name);
  const onA = a.page.locator(".message:not(.pending)", { hasText: text });
  await expect(onA).toHaveClass(/mine/);

  const bubbleStyle = (page: Page) =>
    page.locator(".message:not(.pending)", { hasText: text }).locator(".bubble").evaluate((el) => {
      const style = getComputedStyle(el);
      const list = el.closest(".messages")!.getBoundingClientRect();
      const box = el.getBoundingClientRect();
      return { bg: style.backgroundColor, leftGap: box.left - list.left, rightGap: list.right - box.right };
    });
  const mine = await bubbleStyle(a.page);
  const theirs = await bubbleStyle(b.page);
  expect(mine.bg).toBe("rgb(37, 99, 235)"); // blue
  expect(theirs.bg).toBe("rgb(229, 231, 235)"); // gray
  expect(mine.rightGap).toBeLessThan(mine.leftGap); // right side
  expect(theirs.leftGap).toBeLessThan(theirs.rightGap); // left side
  // The composer is cleared after sending.
  await expect(a.page.locator("#composer")).toHaveValue("");
});

test("HTML is shown as text, and a reload keeps the history", async ({ browser }) => {
  const a = await signedInPage(browser, "cat");
  const html = `<img src=x onerror="window.__pwned=1"><b>bold</b> ${a.name}`;
  await send(a.page, html);
  const bubble = a.page.locator(".message:not(.pending) .bubble", { hasText: a.name });
  await expect(bubble).toHaveText(html);
  await expect(bubble.locator("b, img")).toHaveCount(0);
  expect(await a.page.evaluate(() => (window as any).__pwned)).toBeUndefined();

  await a.page.reload();
  await waitForHydration(a.page);
  await expect(a.page.locator(".message .bubble", { hasText: a.name })).toHaveText(html);
});

test("two tabs of the same user both receive everything", async ({ browser }) => {
  const a = await signedInPage(browser, "dan");
  const second = await a.page.context().newPage();
  await second.goto("/");
  await waitForHydration(second);
  await expect(second.locator('.conn-status[data-state="open"]')).toBeVisible();
  const b = await signedInPage(browser, "eva");
  const text = `to both tabs ${b.name}`;
  await send(b.page, text);
  await expect(a.page.locator(".message.theirs", { hasText: text })).toBeVisible();
  await expect(second.locator(".message.theirs", { hasText: text })).toBeVisible();
});

test("works in a phone-sized window", async ({ browser }) => {
  const context = await browser.newContext({ viewport: { width: 375, height: 667 } });
  const page = await context.newPage();
  const name = uniqueName("fay");
  await registerViaPage(page, name);
  await loginViaPage(page, name);
  await waitForHydration(page);
  await send(page, `small screen ${name}`);
  const bubble = page.locator(".message.mine:not(.pending)", { hasText: name });
  await expect(bubble).toBeVisible();
  const box = await bubble.boundingBox();
  expect(box!.x + box!.width).toBeLessThanOrEqual(375);
  const composer = await page.locator("#composer").boundingBox();
  expect(composer!.y + composer!.height).toBeLessThanOrEqual(667);
});

test("the strict Content-Security-Policy lets the app hydrate and run without violations", async ({ browser }) => {
  const context = await browser.newContext();
  const page = await context.newPage();
  const violations: string[] = [];
  page.on("console", (msg) => {
    if (msg.text().includes("Content Security Policy")) violations.push(msg.text());
  });
  const name = uniqueName("kim");
  await registerViaPage(page, name);
  await loginViaPage(page, name);
  await waitForHydration(page);
  await expect(page.locator('.conn-status[data-state="open"]')).toBeVisible();
  await send(page, `csp ok ${name}`);
  await expect(page.locator(".message.mine:not(.pending)", { hasText: name })).toBeVisible();
  expect(violations).toEqual([]);
});

test("someone typing is shown to the others, and stops showing when they send or stop", async ({ browser }) => {
  const a = await signedInPage(browser, "tia");
  const b = await signedInPage(browser, "tom");
  // Typing (keystrokes, not a paste) without sending.
  await a.page.locator("#composer").pressSequentially("hel", { delay: 30 });
  await expect(b.page.locator(".typing")).toHaveText(`${a.name} is typing…`);
  await expect(a.page.locator(".typing")).toHaveText("");
  // It goes away by itself a few seconds after the typing stops...
  await expect(b.page.locator(".typing")).toHaveText("", { timeout: 8_000 });
  // ...and at once when the message arrives.
  await a.page.locator("#composer").pressSequentially("lo there", { delay: 30 });
  await expect(b.page.locator(".typing")).toHaveText(`${a.name} is typing…`);
  await a.page.press("#composer", "Enter");
  await expect(b.page.locator(".message", { hasText: "hello there" })).toBeVisible();
  await expect(b.page.locator(".typing")).toHaveText("", { timeout: 1_000 });
});
