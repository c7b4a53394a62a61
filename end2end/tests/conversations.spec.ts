import { test, expect } from "@playwright/test";
import {
  conversationItem,
  createRoom,
  messageSomeone,
  openConversation,
  sendMessage,
  signedInUser,
  uniqueName,
  waitForHydration,
} from "./helpers";

test("two users talk in a new room, apart from general", async ({ browser }) => {
  const a = await signedInUser(browser, "rana");
  const b = await signedInUser(browser, "robi");
  // The sidebar starts with general, on screen.
  await expect(conversationItem(a.page, "general")).toHaveAttribute("aria-current", "true");

  const room = uniqueName("Talk ");
  await createRoom(a.page, room, { topic: "plans for the weekend" });
  await expect(a.page.getByTestId("room-topic")).toHaveText("plans for the weekend");
  await expect(a.page.getByTestId("member-count")).toHaveText("1 member");
  await expect(conversationItem(a.page, room)).toHaveAttribute("aria-current", "true");

  // B finds it among the public rooms and joins.
  await b.page.getByTestId("browse-rooms-button").click();
  const listed = b.page.getByTestId("public-room").filter({ hasText: room });
  await listed.getByTestId("join-room").click();
  await expect(b.page.getByTestId("room-name")).toHaveText(room);
  await expect(conversationItem(b.page, room)).toBeVisible();
  await expect(a.page.getByTestId("member-count")).toHaveText("2 members");

  const hello = `hello room ${a.name}`;
  await sendMessage(a.page, hello);
  await expect(b.page.locator(".message.theirs", { hasText: hello })).toBeVisible();
  await expect(a.page.locator(".message.mine:not(.pending)", { hasText: hello })).toBeVisible();
  const reply = `hi back ${b.name}`;
  await sendMessage(b.page, reply);
  await expect(a.page.locator(".message.theirs", { hasText: reply })).toBeVisible();

  // The members list shows both, online.
  await a.page.getByTestId("member-count").click();
  const members = a.page.getByTestId("member");
  await expect(members).toHaveCount(2);
  await expect(a.page.locator(`[data-testid="member"][data-username="${b.name}"]`)).toHaveAttribute(
    "data-online",
    "true",
  );

  // General does not show the room's messages; going back shows them again (history kept).
  await openConversation(a.page, "general");
  await expect(a.page.locator(".message", { hasText: hello })).toHaveCount(0);
  await openConversation(a.page, room);
  await expect(a.page.locator(".message", { hasText: reply })).toBeVisible();

  // After a reload the room's history is asked for again.
  await b.page.reload();
  await waitForHydration(b.page);
  await openConversation(b.page, room);
  await expect(b.page.locator(".message.theirs", { hasText: hello })).toBeVisible();
  await expect(b.page.locator(".message.mine", { hasText: reply })).toBeVisible();

  // B leaves: the room leaves B's list, and A's count goes down.
  await b.page.getByTestId("leave-room").click();
  await expect(conversationItem(b.page, room)).toHaveCount(0);
  await expect(b.page.getByTestId("room-name")).toHaveText("general");
  await expect(a.page.getByTestId("member-count")).toHaveText("1 member");
});

test("a third user sees neither a private room nor a DM between the first two", async ({ browser }) => {
  const a = await signedInUser(browser, "pia");
  const b = await signedInUser(browser, "pat");
  const c = await signedInUser(browser, "eve");

  // A private room, B invited.
  const room = uniqueName("Secret ");
  await createRoom(a.page, room, { private: true });
  const roomId = await a.page.getByTestId("room-header").getAttribute("data-room-id");
  await a.page.getByTestId("invite-button").click();
  await a.page.getByTestId("invite-username").fill(b.name);
  await a.page.getByTestId("invite-submit").click();
  await expect(a.page.getByTestId("member-count")).toHaveText("2 members");
  await expect(conversationItem(b.page, room)).toBeVisible();
  const secret = `private words ${a.name}`;
  await sendMessage(a.page, secret);
  await expect(conversationItem(b.page, room).getByTestId("unread-badge")).toHaveText("1");
  await openConversation(b.page, room);
  await expect(b.page.locator(".message.theirs", { hasText: secret })).toBeVisible();

  // A DM from A to B; B sees it under direct messages with A's presence.
  await messageSomeone(a.page, b.name);
  const whisper = `just between us ${a.name}`;
  await sendMessage(a.page, whisper);
  const dmOnB = b.page.getByTestId("dm-list").getByTestId("conversation").filter({ hasText: a.name });
  await expect(dmOnB).toBeVisible();
  await expect(dmOnB.getByTestId("presence-dot")).toHaveAttribute("data-online", "true");
  await dmOnB.click();
  await expect(b.page.locator(".message.theirs", { hasText: whisper })).toBeVisible();
  // The same person again gives the same conversation.
  await messageSomeone(a.page, b.name);
  await expect(a.page.getByTestId("dm-list").getByTestId("conversation")).toHaveCount(1);

  // C sees neither, live or after a reload, nor in the public list, nor over the API.
  for (const reloaded of [false, true]) {
    if (reloaded) {
      await c.page.reload();
      await waitForHydration(c.page);
      await expect(conversationItem(c.page, "general")).toBeVisible();
    }
    await expect(conversationItem(c.page, room)).toHaveCount(0);
    await expect(c.page.getByTestId("dm-list").getByTestId("conversation")).toHaveCount(0);
    await expect(c.page.locator(".message", { hasText: secret })).toHaveCount(0);
    await expect(c.page.locator(".message", { hasText: whisper })).toHaveCount(0);
  }
  await c.page.getByTestId("browse-rooms-button").click();
  await expect(c.page.getByTestId("public-rooms")).toBeVisible();
  await expect(c.page.getByTestId("public-room").filter({ hasText: room })).toHaveCount(0);
  const rooms = await (await c.page.request.get("/rooms")).json();
  expect(rooms.map((r: { name: string }) => r.name)).not.toContain(room);
  expect((await c.page.request.get(`/rooms/${roomId}/messages`)).status()).toBe(404);

  // Errors from the server are shown: nobody by that name, and not oneself.
  await c.page.getByTestId("new-dm-button").click();
  await c.page.getByTestId("new-dm-username").fill(uniqueName("ghost"));
  await c.page.getByTestId("new-dm-submit").click();
  await expect(c.page.getByTestId("panel-error")).toContainText("no such user");
  await c.page.getByTestId("new-dm-username").fill(c.name);
  await c.page.getByTestId("new-dm-submit").click();
  await expect(c.page.getByTestId("panel-error")).toBeVisible();
});

test("typing in a room appears there only, and disappears", async ({ browser }) => {
  const a = await signedInUser(browser, "tina");
  const b = await signedInUser(browser, "theo");
  const room = uniqueName("Typing ");
  await createRoom(a.page, room);
  await b.page.getByTestId("browse-rooms-button").click();
  await b.page.getByTestId("public-room").filter({ hasText: room }).getByTestId("join-room").click();
  await expect(b.page.getByTestId("room-name")).toHaveText(room);

  await a.page.locator("#composer").pressSequentially("hel", { delay: 30 });
  await expect(b.page.getByTestId("typing")).toHaveText(`${a.name} is typing…`);
  await expect(a.page.getByTestId("typing")).toHaveText("");
  // Not shown in another conversation.
  await openConversation(b.page, "general");
  await expect(b.page.getByTestId("typing")).toHaveText("");
  await openConversation(b.page, room);
  // It goes away by itself a few seconds after the typing stops...
  await expect(b.page.getByTestId("typing")).toHaveText("", { timeout: 8_000 });
  // ...and at once when the message arrives.
  await a.page.locator("#composer").pressSequentially("lo room", { delay: 30 });
  await expect(b.page.getByTestId("typing")).toHaveText(`${a.name} is typing…`);
  await a.page.press("#composer", "Enter");
  await expect(b.page.locator(".message", { hasText: "hello room" })).toBeVisible();
  await expect(b.page.getByTestId("typing")).toHaveText("", { timeout: 1_000 });
});

test("an unread badge appears for another conversation and clears when it is read", async ({ browser }) => {
  const a = await signedInUser(browser, "uma");
  const b = await signedInUser(browser, "uli");
  const room = uniqueName("Unread ");
  await createRoom(a.page, room);
  await b.page.getByTestId("browse-rooms-button").click();
  await b.page.getByTestId("public-room").filter({ hasText: room }).getByTestId("join-room").click();
  await expect(b.page.getByTestId("room-name")).toHaveText(room);
  await openConversation(b.page, "general");

  const item = conversationItem(b.page, room);
  await expect(item.getByTestId("unread-badge")).toHaveCount(0);
  await sendMessage(a.page, `first ${a.name}`);
  await sendMessage(a.page, `second ${a.name}`);
  await expect(item.getByTestId("unread-badge")).toHaveText("2");
  await expect(item).toHaveClass(/unread/);
  const weight = await item.getByTestId("conversation-name").evaluate((el) => getComputedStyle(el).fontWeight);
  expect(Number(weight)).toBeGreaterThanOrEqual(700);
  // My own messages never count.
  await expect(conversationItem(a.page, room).getByTestId("unread-badge")).toHaveCount(0);

  // The count is the server's too: it survives a reload.
  await b.page.reload();
  await waitForHydration(b.page);
  await expect(item.getByTestId("unread-badge")).toHaveText("2");

  // Reading clears it, and messages arriving while it is on screen do not count.
  await item.click();
  await expect(b.page.locator(".message.theirs", { hasText: `second ${a.name}` })).toBeVisible();
  await expect(item.getByTestId("unread-badge")).toHaveCount(0);
  await expect(item).not.toHaveClass(/unread/);
  await sendMessage(a.page, `third ${a.name}`);
  await expect(b.page.locator(".message.theirs", { hasText: `third ${a.name}` })).toBeVisible();
  await expect(item.getByTestId("unread-badge")).toHaveCount(0);
  // The read marker was saved: still clear after a reload.
  await b.page.waitForTimeout(1_000);
  await b.page.reload();
  await waitForHydration(b.page);
  await expect(conversationItem(b.page, "general")).toBeVisible();
  await expect(item.getByTestId("unread-badge")).toHaveCount(0);
});

test("on a phone the sidebar folds away behind a toggle", async ({ browser }) => {
  const a = await signedInUser(browser, "mo", { viewport: { width: 375, height: 667 } });
  const sidebar = a.page.getByTestId("sidebar");
  await expect(sidebar).toBeHidden();
  await a.page.getByTestId("sidebar-toggle").click();
  await expect(sidebar).toBeVisible();
  const room = uniqueName("Pocket ");
  await createRoom(a.page, room);
  // Switching to a conversation folds the sidebar again, and the conversation fits the screen.
  await expect(sidebar).toBeHidden();
  await sendMessage(a.page, `small ${a.name}`);
  const bubble = a.page.locator(".message.mine:not(.pending)", { hasText: a.name });
  await expect(bubble).toBeVisible();
  const box = await bubble.boundingBox();
  expect(box!.x + box!.width).toBeLessThanOrEqual(375);
  await a.page.getByTestId("sidebar-toggle").click();
  await openConversation(a.page, "general");
  await expect(sidebar).toBeHidden();
  await expect(a.page.locator(".message", { hasText: `small ${a.name}` })).toHaveCount(0);
});
