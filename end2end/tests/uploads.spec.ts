// File and image sharing (issue 25) in Chromium: a PNG attached with the "Attach files" button
// uploads in the tray, goes with the message and shows as a thumbnail linking to the full-size
// image; an image pasted into the message box is sent alone and seen by someone else in the
// conversation (at phone width, never wider than the screen); a file taken out of the tray is
// deleted and not sent, and any other file shows as a download chip; a file dropped on the
// conversation is attached, while a refused upload shows the server's reason and a cancelled one
// goes (both staged with page.route: the real limits take files of many MB).
import { test, expect, Page } from "@playwright/test";
import * as zlib from "zlib";
import { adminConsole, signedInUser, uniqueName, waitForHydration } from "./helpers";

/** CRC-32 (IEEE) of a PNG chunk's type and data. */
function crc32(bytes: Buffer): number {
  let crc = 0xffffffff;
  for (const byte of bytes) {
    crc ^= byte;
    for (let bit = 0; bit < 8; bit++) crc = crc & 1 ? (crc >>> 1) ^ 0xedb88320 : crc >>> 1;
  }
  return (crc ^ 0xffffffff) >>> 0;
}

function chunk(type: string, data: Buffer): Buffer {
  const length = Buffer.alloc(4);
  length.writeUInt32BE(data.length);
  const body = Buffer.concat([Buffer.from(type, "ascii"), data]);
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(body));
  return Buffer.concat([length, body, crc]);
}

/** A valid RGB PNG of one colour with a diagonal stripe. */
function png(width: number, height: number, [r, g, b]: [number, number, number]): Buffer {
  const header = Buffer.alloc(13);
  header.writeUInt32BE(width, 0);
  header.writeUInt32BE(height, 4);
  header[8] = 8; // bits per sample
  header[9] = 2; // RGB
  const raw = Buffer.alloc((width * 3 + 1) * height);
  for (let y = 0; y < height; y++) {
    const row = y * (width * 3 + 1); // each row starts with filter type 0
    for (let x = 0; x < width; x++) {
      const at = row + 1 + x * 3;
      const stripe = Math.abs(x - y) < 3;
      raw[at] = stripe ? 255 - r : r;
      raw[at + 1] = stripe ? 255 - g : g;
      raw[at + 2] = stripe ? 255 - b : b;
    }
  }
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk("IHDR", header),
    chunk("IDAT", zlib.deflateSync(raw)),
    chunk("IEND", Buffer.alloc(0)),
  ]);
}

/** A delivered message (not the pending copy) holding `text`. */
function bubble(page: Page, text: string) {
  return page.locator("li.message[data-id]").filter({ hasText: text });
}

/** The tray entry of a file, by name. */
function trayEntry(page: Page, name: string) {
  return page.locator(`[data-testid="upload-entry"][data-name="${name}"]`);
}

/** Picks files through the "Attach files" button's file chooser. */
async function attachFiles(page: Page, files: { name: string; mimeType: string; buffer: Buffer }[]) {
  const chooser = page.waitForEvent("filechooser");
  await page.getByRole("button", { name: "Attach files", exact: true }).click();
  await (await chooser).setFiles(files);
}

/** Whether an image has loaded and has pixels. */
async function loaded(image: import("@playwright/test").Locator): Promise<boolean> {
  return image.evaluate((img: HTMLImageElement) => img.complete && img.naturalWidth > 0);
}

// First of the file: on a database of its own, the admin account must be the first one made.
test("an admin sees each account's uploads and removes a file", async ({ browser }) => {
  const admin = await (await browser.newContext()).newPage();
  await adminConsole(admin);
  const { page, name: owner } = await signedInUser(browser, "upz");
  const tag = uniqueName("adm");
  const posted = `${tag}-posted.txt`;
  const unposted = `${tag}-unposted.txt`;
  await attachFiles(page, [{ name: posted, mimeType: "text/plain", buffer: Buffer.from("posted\n") }]);
  await expect(trayEntry(page, posted)).toHaveAttribute("data-state", "uploaded");
  await page.fill("#composer", `for the record ${tag}`);
  await page.press("#composer", "Enter");
  await expect(bubble(page, tag).getByTestId("attachment-file")).toBeVisible();
  await attachFiles(page, [{ name: unposted, mimeType: "text/plain", buffer: Buffer.from("not posted\n") }]);
  await expect(trayEntry(page, unposted)).toHaveAttribute("data-state", "uploaded");

  await admin.reload();
  await waitForHydration(admin);
  const panel = admin.getByTestId("uploads-panel");
  const usage = panel.locator(`[data-testid="upload-user"][data-username="${owner}"]`);
  await expect(usage).toContainText("2");
  await usage.getByRole("button", { name: owner }).click();
  const files = panel.getByTestId("upload-file");
  await expect(files).toHaveCount(2);
  await expect(files.filter({ hasText: unposted })).toContainText("not posted");
  await expect(files.filter({ hasText: posted })).toContainText("#");

  const url = await files.filter({ hasText: posted }).getByRole("link").getAttribute("href");
  await files.filter({ hasText: posted }).getByRole("button", { name: `Remove ${posted}` }).click();
  await expect(files).toHaveCount(1);
  await expect(usage).toContainText("1");
  expect((await admin.request.get(url!)).ok()).toBe(false);
});

test("an image attached with the button uploads, is sent and links to its full size", async ({ browser }) => {
  const { page } = await signedInUser(browser, "upa");
  const tag = uniqueName("pic");
  const name = `${tag}.png`;
  await attachFiles(page, [{ name, mimeType: "image/png", buffer: png(96, 64, [30, 120, 200]) }]);

  const entry = trayEntry(page, name);
  await expect(entry).toBeVisible();
  await expect(entry.getByTestId("upload-progress")).toBeVisible();
  await expect(entry).toHaveAttribute("data-state", "uploaded");
  await expect(entry.getByTestId("upload-progress")).toHaveAttribute("value", "1");
  await expect(page.getByRole("button", { name: "Send", exact: true })).toBeEnabled();

  const text = `holiday snap ${tag}`;
  await page.fill("#composer", text);
  await page.getByRole("button", { name: "Send", exact: true }).click();
  await expect(page.getByTestId("upload-tray")).toHaveCount(0);
  await expect(page.locator("#composer")).toHaveValue("");

  const message = bubble(page, text);
  const link = message.getByTestId("attachment-image");
  const image = link.locator("img");
  await expect(image).toBeVisible();
  await expect(image).toHaveAttribute("alt", name);
  await expect(image).toHaveAttribute("loading", "lazy");
  // Sized before it loads: the list does not jump.
  await expect(image).toHaveAttribute("width", "96");
  await expect(image).toHaveAttribute("height", "64");
  await expect.poll(() => loaded(image)).toBe(true);
  await expect(link).toHaveAttribute("target", "_blank");
  await expect(link).toHaveAttribute("rel", /noopener/);

  // The full size: served as a PNG, and opened in a new tab.
  const href = await link.getAttribute("href");
  expect(href).toBeTruthy();
  const response = await page.request.get(href!);
  expect(response.status()).toBe(200);
  expect(response.headers()["content-type"]).toContain("image/png");
  const [tab] = await Promise.all([page.context().waitForEvent("page"), link.click()]);
  await tab.waitForLoadState();
  expect(new URL(tab.url()).pathname).toBe(new URL(href!, page.url()).pathname);
  await tab.close();
});

test("an image pasted into the message box is sent alone and the others see it", async ({ browser }) => {
  const a = await signedInUser(browser, "upp");
  // Both in general; the second at phone width.
  const b = await signedInUser(browser, "upq", { viewport: { width: 390, height: 844 } });
  const name = `${uniqueName("paste")}.png`;
  const bytes = Array.from(png(640, 480, [200, 80, 40]));

  await a.page.locator("#composer").focus();
  await a.page.evaluate(
    ({ bytes, name }) => {
      const data = new DataTransfer();
      data.items.add(new File([new Uint8Array(bytes)], name, { type: "image/png" }));
      const paste = new ClipboardEvent("paste", { clipboardData: data, bubbles: true, cancelable: true });
      document.querySelector("#composer")!.dispatchEvent(paste);
    },
    { bytes, name },
  );
  const entry = trayEntry(a.page, name);
  await expect(entry).toHaveAttribute("data-state", "uploaded");
  // The file was attached, not pasted as text.
  await expect(a.page.locator("#composer")).toHaveValue("");
  // No text: Enter sends the image alone.
  await a.page.press("#composer", "Enter");
  await expect(a.page.getByTestId("upload-tray")).toHaveCount(0);

  const mine = a.page.locator(`li.message[data-id] img[alt="${name}"]`);
  await expect(mine).toBeVisible();
  const theirs = b.page.locator(`li.message[data-id] img[alt="${name}"]`);
  await expect(theirs).toBeVisible();
  // The thumbnail fits the 400 px box, sized from the image's own dimensions.
  await expect(theirs).toHaveAttribute("width", "400");
  await expect(theirs).toHaveAttribute("height", "300");
  await expect.poll(() => loaded(theirs)).toBe(true);
  // A message of files alone has no empty text bubble.
  await expect(b.page.locator("li.message[data-id]").filter({ has: theirs }).getByTestId("message-text")).toHaveCount(0);
  // At phone width it stays on screen.
  const box = await theirs.boundingBox();
  expect(box).not.toBeNull();
  expect(box!.x).toBeGreaterThanOrEqual(0);
  expect(box!.x + box!.width).toBeLessThanOrEqual(390);
  expect(box!.height / box!.width).toBeCloseTo(0.75, 1);
});

test("a file taken out of the tray is not sent, and any other file is a download chip", async ({ browser }) => {
  const { page } = await signedInUser(browser, "upr");
  const tag = uniqueName("doc");
  const kept = `${tag}-notes.txt`;
  const dropped = `${tag}-draft.txt`;
  await attachFiles(page, [
    { name: kept, mimeType: "text/plain", buffer: Buffer.from("meeting at noon\n".repeat(100)) },
    { name: dropped, mimeType: "text/plain", buffer: Buffer.from("not this one\n") },
  ]);
  await expect(trayEntry(page, kept)).toHaveAttribute("data-state", "uploaded");
  await expect(trayEntry(page, dropped)).toHaveAttribute("data-state", "uploaded");
  const deleted = page.waitForResponse(
    (response) => response.request().method() === "DELETE" && /\/uploads\//.test(response.url()),
  );
  await trayEntry(page, dropped).getByRole("button", { name: `Remove ${dropped}` }).click();
  await expect(trayEntry(page, dropped)).toHaveCount(0);
  expect((await deleted).status()).toBe(204);

  const text = `the minutes ${tag}`;
  await page.fill("#composer", text);
  await page.press("#composer", "Enter");
  const message = bubble(page, text);
  const chip = message.getByTestId("attachment-file");
  await expect(chip).toHaveCount(1);
  await expect(chip).toContainText(kept);
  await expect(chip).toContainText("1.6 KB");
  await expect(chip).toHaveAttribute("download", kept);
  await expect(message).not.toContainText(dropped);
  const response = await page.request.get((await chip.getAttribute("href"))!);
  expect(response.status()).toBe(200);
  expect(await response.text()).toContain("meeting at noon");
});

test("a dropped file is attached; a refused or cancelled upload is not sent", async ({ browser }) => {
  const { page } = await signedInUser(browser, "ups");
  const tag = uniqueName("drop");
  const dropped = `${tag}.png`;
  // The server's refusal and a slow upload, staged (the real limits need files of many MB).
  let releaseSlow = () => {};
  const slowHeld = new Promise<void>((resolve) => (releaseSlow = resolve));
  await page.route("**/uploads", async (route) => {
    const body = route.request().postDataBuffer()?.toString("latin1") ?? "";
    if (body.includes(`filename="${tag}-huge.bin"`)) {
      await route.fulfill({ status: 413, contentType: "application/json", body: '{"error":"the file is too large"}' });
    } else if (body.includes(`filename="${tag}-slow.bin"`)) {
      await slowHeld;
      await route.abort().catch(() => {});
    } else {
      await route.continue();
    }
  });

  // Dropped on the conversation.
  await page.evaluate(
    ({ bytes, name }) => {
      const data = new DataTransfer();
      data.items.add(new File([new Uint8Array(bytes)], name, { type: "image/png" }));
      const list = document.querySelector("#messages")!;
      list.dispatchEvent(new DragEvent("dragover", { dataTransfer: data, bubbles: true, cancelable: true }));
      list.dispatchEvent(new DragEvent("drop", { dataTransfer: data, bubbles: true, cancelable: true }));
    },
    { bytes: Array.from(png(48, 48, [20, 160, 90])), name: dropped },
  );
  await expect(trayEntry(page, dropped)).toHaveAttribute("data-state", "uploaded");

  await attachFiles(page, [
    { name: `${tag}-huge.bin`, mimeType: "application/octet-stream", buffer: Buffer.alloc(64) },
    { name: `${tag}-slow.bin`, mimeType: "application/octet-stream", buffer: Buffer.alloc(64) },
  ]);
  const huge = trayEntry(page, `${tag}-huge.bin`);
  await expect(huge).toHaveAttribute("data-state", "failed");
  await expect(huge.getByTestId("upload-error")).toHaveText("the file is too large");
  const slow = trayEntry(page, `${tag}-slow.bin`);
  await expect(slow).toHaveAttribute("data-state", "uploading");
  // Sending waits for the upload; typing does not.
  await expect(page.getByRole("button", { name: "Send", exact: true })).toBeDisabled();
  const text = `dropped in ${tag}`;
  await page.fill("#composer", text);
  await page.press("#composer", "Enter");
  await expect(page.getByTestId("upload-notice")).toBeVisible();
  await expect(page.locator("#composer")).toHaveValue(text);
  await slow.getByRole("button", { name: `Cancel the upload of ${tag}-slow.bin` }).click();
  await expect(slow).toHaveCount(0);
  releaseSlow();

  await page.getByRole("button", { name: "Send", exact: true }).click();
  const message = bubble(page, text);
  await expect(message.locator(`img[alt="${dropped}"]`)).toBeVisible();
  await expect(message.getByTestId("attachments").locator("a")).toHaveCount(1);
});
