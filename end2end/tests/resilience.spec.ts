// What the browser client does when the network is imperfect or the history is long: it
// reconnects after a dropped socket and catches up on what it missed (`?since=`), sends what was
// typed while offline exactly once, loads older messages on scroll-up while keeping the reader's
// place, and does not yank a reader of older messages down when something new arrives.
import { test, expect, APIRequestContext, Page, WebSocketRoute } from "@playwright/test";
import { loginViaPage, registerViaPage, uniqueName, waitForHydration, PASSWORD } from "./helpers";

/** Registers an account over the REST API and returns a token for it. */
async function apiUser(request: APIRequestContext, prefix: string): Promise<{ name: string; token: string }> {
  const name = uniqueName(prefix);
  const registered = await request.post("/register", {
    data: { username: name, email: `${name}@example.com`, password: PASSWORD },
  });
  expect(registered.status()).toBe(201);
  const login = await request.post("/login", { data: { username: name, password: PASSWORD } });
  expect(login.status()).toBe(200);
  return { name, token: (await login.json()).access_token };
}

/**
 * Sends `texts` over a token-authenticated WebSocket opened in `page` (any page of the site),
 * one after another, each acknowledged by its broadcast before the next goes.
 */
async function sendOverSocket(page: Page, token: string, texts: string[]): Promise<void> {
  await page.evaluate(
    async ({ token, texts }) => {
      const socket = new WebSocket(`ws://${location.host}/ws?token=${encodeURIComponent(token)}`);
      const frames: any[] = [];
      let wake = () => {};
      socket.onmessage = (event) => {
        frames.push(JSON.parse(event.data));
        wake();
      };
      const next = (match: (frame: any) => boolean) =>
        new Promise<void>((resolve, reject) => {
          const check = () => {
            const frame = frames.find(match);
            if (frame?.type === "error") return reject(new Error(frame.message));
            if (frame) return resolve();
            wake = check;
          };
          check();
        });
      await next((frame) => frame.type === "history");
      for (const text of texts) {
        socket.send(JSON.stringify({ type: "message", content: text }));
        await next((frame) => frame.type === "error" || (frame.type === "message" && frame.content === text));
      }
      socket.close();
    },
    { token, texts },
  );
}

test("a dropped socket reconnects, catches up on what it missed and sends what was typed offline once", async ({
  browser,
}) => {
  test.setTimeout(60_000);
  // Another user, in a context of its own whose sockets are not routed.
  const outside = await browser.newContext();
  const helper = await outside.newPage();
  await helper.goto("/login");
  const other = await apiUser(outside.request, "sam");

  const context = await browser.newContext();
  let offline = false;
  const urls: string[] = [];
  const live: WebSocketRoute[] = [];
  await context.routeWebSocket(/\/ws/, (ws) => {
    urls.push(ws.url());
    if (offline) {
      // The network is down: the connection fails at once (the page retries with backoff).
      void ws.close();
      return;
    }
    ws.connectToServer();
    live.push(ws);
  });
  const page = await context.newPage();
  const name = uniqueName("rey");
  await registerViaPage(page, name);
  await loginViaPage(page, name);
  await waitForHydration(page);
  await expect(page.locator('.conn-status[data-state="open"]')).toBeVisible();

  await sendOverSocket(helper, other.token, [`before the drop ${name}`]);
  await expect(page.locator(".message.theirs", { hasText: `before the drop ${name}` })).toBeVisible();

  offline = true;
  await Promise.all(live.splice(0).map((ws) => ws.close()));
  await expect(page.locator('.conn-status[data-state="closed"], .conn-status[data-state="connecting"]')).toBeVisible();
  const missed = [`missed one ${name}`, `missed two ${name}`];
  await sendOverSocket(helper, other.token, missed);
  const offlineText = `typed offline ${name}`;
  await page.fill("#composer", offlineText);
  await page.press("#composer", "Enter");
  await expect(page.locator(".message.pending", { hasText: offlineText })).toBeVisible();
  await expect(page.locator(".message", { hasText: missed[0] })).toHaveCount(0);

  offline = false;
  await expect(page.locator('.conn-status[data-state="open"]')).toBeVisible({ timeout: 20_000 });
  // The reconnect asked for what came after the last message it had.
  expect(urls[urls.length - 1]).toMatch(/[?&]since=\d+/);
  for (const text of missed) {
    await expect(page.locator(".message.theirs", { hasText: text })).toHaveCount(1);
  }
  await expect(page.locator(".message.mine:not(.pending)", { hasText: offlineText })).toHaveCount(1);
  await expect(page.locator(".message.pending")).toHaveCount(0);
  // In order, and stored once: a fresh page load shows the same sequence.
  const mine = async (p: Page) =>
    (await p.locator(".message .bubble").allInnerTexts()).filter((text) => text.includes(name));
  const order = [`before the drop ${name}`, ...missed, offlineText];
  expect(await mine(page)).toEqual(order);
  const reloaded = await context.newPage();
  await reloaded.goto("/");
  await waitForHydration(reloaded);
  await expect(reloaded.locator(".message", { hasText: offlineText })).toHaveCount(1);
  expect(await mine(reloaded)).toEqual(order);
  await context.close();
  await outside.close();
});

test("scrolling up loads older messages in place, and a new message leaves that reader where they are", async ({
  browser,
}) => {
  test.setTimeout(60_000);
  const context = await browser.newContext();
  const page = await context.newPage();
  await page.goto("/login");
  // 63 messages, more than the 50 of a fresh history; seven senders stay inside the default
  // flood control (a burst of 10 per account).
  const tag = uniqueName("old");
  const texts = Array.from({ length: 63 }, (_, i) => `${tag} #${String(i).padStart(2, "0")}`);
  for (let sender = 0; sender < 7; sender++) {
    const { token } = await apiUser(context.request, "pat");
    await sendOverSocket(page, token, texts.slice(sender * 9, sender * 9 + 9));
  }

  const reader = uniqueName("una");
  await registerViaPage(page, reader);
  await loginViaPage(page, reader);
  await waitForHydration(page);
  const tagged = page.locator(".message .bubble", { hasText: tag });
  await expect(tagged).toHaveCount(50);
  await expect(tagged.first()).toHaveText(texts[13]);
  const list = page.locator("#messages");
  // Starts at the bottom, following the conversation.
  await expect(page.locator(".message", { hasText: texts[62] })).toBeInViewport();

  await list.evaluate((el) => (el.scrollTop = 0));
  await expect(tagged).toHaveCount(63);
  await expect(tagged.first()).toHaveText(texts[0]);
  // The reader's place is kept: what was at the top before the older page came is still in
  // view, and the list was not jumped back to the top.
  await expect(page.locator(".message", { hasText: texts[13] })).toBeInViewport();
  const scrolledTo = await list.evaluate((el) => el.scrollTop);
  expect(scrolledTo).toBeGreaterThan(0);

  const { token } = await apiUser(context.request, "vic");
  const fresh = `${tag} new while reading`;
  await sendOverSocket(page, token, [fresh]);
  await expect(page.locator(".message", { hasText: fresh })).toHaveCount(1);
  await expect(page.locator(".message", { hasText: fresh })).not.toBeInViewport();
  expect(await list.evaluate((el) => el.scrollTop)).toBe(scrolledTo);
  await context.close();
});
