// Message actions (issue 24) in Chromium, two people in two browser contexts: replies, reactions,
// edits (the menu and Up), deletions with their confirmation, mentions (the sidebar badge and @
// completion) and search (a partial word, a message in another room opened at its place).
import { test, expect, Page } from "@playwright/test";
import {
  conversationItem,
  createRoom,
  openConversation,
  sendMessage,
  signedInUser,
  uniqueName,
  waitForHydration,
} from "./helpers";

/** A delivered message (not the pending copy) holding `text`. */
function bubble(page: Page, text: string) {
  return page.locator("li.message[data-id]").filter({ hasText: text });
}

/** Opens a message's action menu (hover) and clicks one of its actions. */
async function act(page: Page, text: string, action: "reply" | "react" | "edit" | "delete") {
  const message = bubble(page, text);
  await message.hover();
  await message.getByTestId(`action-${action}`).click();
}

/** Two signed-in people, both in general. */
async function twoPeople(browser: import("@playwright/test").Browser) {
  const a = await signedInUser(browser, "ann");
  const b = await signedInUser(browser, "ben");
  return { a, b };
}

test("a reply quotes the message it answers", async ({ browser }) => {
  const { a, b } = await twoPeople(browser);
  const original = `where shall we meet ${uniqueName("q")}`;
  await sendMessage(a.page, original);
  await expect(bubble(b.page, original)).toBeVisible();

  await act(b.page, original, "reply");
  const bar = b.page.getByTestId("reply-bar");
  await expect(bar).toContainText(`Replying to ${a.name}`);
  await expect(bar).toContainText(original);
  const answer = `at the station ${uniqueName("r")}`;
  await sendMessage(b.page, answer);
  await expect(bar).toHaveCount(0);

  const quoted = bubble(a.page, answer).getByTestId("reply-quote");
  await expect(quoted).toContainText(a.name);
  await expect(quoted).toContainText(original);
  // The quote leads back to the original, flashed (the reply, below it, quotes its text too).
  await quoted.click();
  await expect(bubble(a.page, original).first()).toHaveClass(/flash/);
});

test("a reaction is counted for everyone and taken back with its chip", async ({ browser }) => {
  const { a, b } = await twoPeople(browser);
  const text = `cake on friday ${uniqueName("k")}`;
  await sendMessage(a.page, text);
  await expect(bubble(b.page, text)).toBeVisible();

  await act(a.page, text, "react");
  await bubble(a.page, text).getByTestId("emoji-picker").getByRole("button", { name: "React with 🎉" }).click();
  const mine = bubble(a.page, text).locator('[data-testid="reaction"][data-emoji="🎉"]');
  await expect(mine).toHaveAttribute("data-count", "1");
  await expect(mine).toHaveAttribute("aria-pressed", "true");
  const theirs = bubble(b.page, text).locator('[data-testid="reaction"][data-emoji="🎉"]');
  await expect(theirs).toHaveAttribute("data-count", "1");
  await expect(theirs).toHaveAttribute("aria-pressed", "false");

  // A's click on the chip takes the reaction back: the chip goes for both.
  await mine.click();
  await expect(mine).toHaveCount(0);
  await expect(theirs).toHaveCount(0);
});

test("an edit from the menu and from Up shows the new text and (edited)", async ({ browser }) => {
  const { a, b } = await twoPeople(browser);
  const tag = uniqueName("e");
  const first = `lunch at noon ${tag}`;
  await sendMessage(a.page, first);
  await expect(bubble(b.page, first)).toBeVisible();
  const id = await bubble(a.page, first).getAttribute("data-id");

  await act(a.page, first, "edit");
  const box = a.page.locator(`li.message[data-id="${id}"]`).getByTestId("edit-box");
  await expect(box).toBeFocused();
  await box.fill(`lunch at one ${tag}`);
  await box.press("Enter");
  const onB = b.page.locator(`li.message[data-id="${id}"]`);
  await expect(onB.getByTestId("message-text")).toHaveText(`lunch at one ${tag}`);
  await expect(onB.getByTestId("edited-mark")).toBeVisible();

  // Up in the empty composer edits my last message; Escape would leave it as it is.
  await a.page.locator("#composer").click();
  await a.page.press("#composer", "ArrowUp");
  await expect(box).toBeFocused();
  await box.press("Escape");
  await expect(box).toHaveCount(0);
  await a.page.press("#composer", "ArrowUp");
  await box.fill(`lunch at two ${tag}`);
  await box.press("Enter");
  await expect(onB.getByTestId("message-text")).toHaveText(`lunch at two ${tag}`);
  await expect(a.page.locator(`li.message[data-id="${id}"]`).getByTestId("edited-mark")).toBeVisible();
});

test("a deletion asks first, then shows the message as deleted for everyone", async ({ browser }) => {
  const { a, b } = await twoPeople(browser);
  const text = `wrong window ${uniqueName("d")}`;
  await sendMessage(a.page, text);
  await expect(bubble(b.page, text)).toBeVisible();
  const id = await bubble(a.page, text).getAttribute("data-id");
  // Only my own messages offer Delete (B is not an admin).
  await bubble(b.page, text).hover();
  await expect(bubble(b.page, text).getByTestId("action-delete")).toHaveCount(0);

  await act(a.page, text, "delete");
  const confirm = a.page.getByTestId("confirm-delete");
  await expect(confirm).toContainText("Delete this message?");
  await confirm.getByTestId("confirm-delete-no").click();
  await expect(confirm).toHaveCount(0);
  await expect(bubble(a.page, text)).toBeVisible();

  await act(a.page, text, "delete");
  await a.page.getByTestId("confirm-delete").getByTestId("confirm-delete-yes").click();
  for (const page of [a.page, b.page]) {
    const gone = page.locator(`li.message[data-id="${id}"]`);
    await expect(gone.getByTestId("deleted-message")).toHaveText("This message was deleted.");
    await expect(page.locator("li.message").filter({ hasText: text })).toHaveCount(0);
  }
});

test("a mention is completed, badged in the sidebar and highlighted", async ({ browser }) => {
  const { a, b } = await twoPeople(browser);
  const room = uniqueName("Plans ");
  await createRoom(a.page, room);
  await b.page.getByTestId("browse-rooms-button").click();
  await b.page.getByTestId("public-room").filter({ hasText: room }).getByTestId("join-room").click();
  await expect(b.page.getByTestId("room-name")).toHaveText(room);
  await expect(a.page.getByTestId("member-count")).toHaveText("2 members");
  // A looks at general meanwhile.
  await openConversation(a.page, "general");

  // B types @ and the start of A's name: the completion offers A; Tab picks.
  await b.page.locator("#composer").click();
  await b.page.keyboard.type(`@${a.name.slice(0, 4)}`);
  const offered = b.page.getByTestId("mention-list").locator(`[data-username="${a.name}"]`);
  await expect(offered).toBeVisible();
  await b.page.keyboard.press("Tab");
  await expect(b.page.getByTestId("mention-list")).toHaveCount(0);
  await expect(b.page.locator("#composer")).toHaveValue(`@${a.name} `);
  const tag = uniqueName("m");
  await b.page.keyboard.type(`can you book it? ${tag}`);
  await b.page.keyboard.press("Enter");
  await expect(bubble(b.page, tag)).toBeVisible();

  const badge = conversationItem(a.page, room).getByTestId("mention-badge");
  await expect(badge).toHaveText("@1");
  await expect(conversationItem(a.page, room).getByTestId("unread-badge")).toHaveText("1");
  await openConversation(a.page, room);
  await expect(badge).toHaveCount(0);
  const mentioned = bubble(a.page, tag);
  await expect(mentioned).toHaveClass(/mentions-me/);
  await expect(mentioned.locator(".mention")).toHaveText(`@${a.name}`);
});

test("search finds a word and a partial word in another room and opens the message", async ({ browser }) => {
  const { a } = await twoPeople(browser);
  const room = uniqueName("Archive ");
  await createRoom(a.page, room);
  const word = `quokka${uniqueName("x").toLowerCase()}`;
  const older = `the ${word} was seen at the lake`;
  await sendMessage(a.page, older);
  await expect(bubble(a.page, older)).toBeVisible();
  for (const n of [1, 2, 3]) {
    const later = `later note ${n} ${uniqueName("n")}`;
    await sendMessage(a.page, later);
    await expect(bubble(a.page, later)).toBeVisible();
  }
  // A fresh page, looking at general: the room's history is not loaded.
  await a.page.reload();
  await waitForHydration(a.page);
  await openConversation(a.page, "general");

  const panel = a.page.getByTestId("search-panel");
  await expect(a.page.getByTestId("search-public")).not.toBeChecked();
  await a.page.getByTestId("search-input").fill(word);
  await a.page.getByTestId("search-submit").click();
  const result = panel.getByTestId("search-result").first();
  await expect(result).toContainText(room);
  await expect(result.locator("mark")).toHaveText(word);
  // Escape closes the panel.
  await a.page.keyboard.press("Escape");
  await expect(panel).toHaveCount(0);

  // A partial word (three characters or more match anywhere).
  const partial = word.slice(2, 9);
  await a.page.getByTestId("search-input").fill(partial);
  await a.page.getByTestId("search-input").press("Enter");
  const found = panel.getByTestId("search-result").filter({ hasText: word });
  await expect(found).toHaveCount(1);
  await expect(found.locator("mark")).toHaveText(partial);
  await found.click();
  await expect(panel).toHaveCount(0);
  await expect(a.page.getByTestId("room-name")).toHaveText(room);
  const shown = bubble(a.page, older);
  await expect(shown).toBeInViewport();
  await expect(shown).toHaveClass(/flash/);
});
