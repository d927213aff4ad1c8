// Reading a conversation, in the browser against the real server: the "new messages" divider
// above the first message that came while a signed-in user was elsewhere; older history that
// loads when the reader scrolls to the top without moving what is on screen; "Jump to latest"
// when scrolled up; times written by Intl in the page's own locale and time zone.
'use strict';

const { test, expect } = require('@playwright/test');
const h = require('./helpers');

const PASSWORD = 'correct horse battery';
// More than two history pages (the server's page is 50).
const LONG = 120;

/** The scrolling message list of `page`. */
const scroller = (page) => page.locator('.messages');

/** Where the message `text` is, in pixels from the top of the scrolling list's box. */
function offsetOf(page, text) {
  return h.message(page, text).evaluate((el) =>
    el.getBoundingClientRect().top - el.closest('.messages').getBoundingClientRect().top);
}

test.describe('reading', () => {
  test.describe.configure({ mode: 'serial' });
  let server, url;
  const pages = [];

  test.beforeAll(async () => {
    server = h.newServer({ store: 'sqlite', args: ['--rate-per-sec', '0'] });
    url = await server.start();
  });

  test.afterAll(async ({}, testInfo) => {
    for (const [i, p] of pages.entries()) await h.screenshot(p, testInfo, `reading-${i}`).catch(() => {});
    if (server) await server.stop();
    for (const p of pages) expect(p.errors, 'no uncaught errors in the page').toEqual([]);
  });

  test('a signed-in reader finds "New messages" right above the first it missed', async ({ browser }) => {
    const reader = await h.openAccount(browser, url, 'reader', PASSWORD, '#register');
    const poster = await h.openChat(browser, url, 'poster');
    pages.push(reader, poster);
    await h.joinRoom(reader, 'news');
    await h.joinRoom(poster, 'news');
    await h.send(poster, 'seen before');
    await h.expectMessage(reader, 'seen before');
    await expect(reader.locator('#new-divider'), 'nothing unread when it opened').toHaveCount(0);

    await h.openRoom(reader, 'general');
    for (const text of ['missed one', 'missed two', 'missed three']) await h.send(poster, text);
    await expect(h.room(reader, 'news').locator('.badge'), 'three unread in #news').toHaveText('3');

    await h.openRoom(reader, 'news');
    const divider = reader.locator('#new-divider');
    await expect(divider).toHaveText('New messages');
    await expect(divider).toHaveClass(/divider/);
    // The group right after the divider starts with the first message missed.
    await expect(reader.locator('#new-divider + li.group li.msg').first().locator('.text')).toHaveText('missed one');
    await expect(reader.locator('#new-divider ~ li.group .text', { hasText: 'seen before' })).toHaveCount(0);
    // Read now (the badge goes), the divider stays where it was ...
    await expect(h.room(reader, 'news').locator('.badge')).toHaveCount(0);
    await h.send(poster, 'while reading');
    await h.expectMessage(reader, 'while reading');
    await expect(reader.locator('#new-divider + li.group li.msg').first().locator('.text')).toHaveText('missed one');
    // ... until the reader answers.
    await h.send(reader, 'thanks');
    await h.expectMessage(reader, 'thanks');
    await expect(divider).toHaveCount(0);
  });

  test('scrolling to the top loads older history and what was on screen stays put', async ({ browser }) => {
    expect(await h.flood(browser, url, { room: 'long', prefix: 'line', n: LONG }), 'every line stored').toBe(LONG);
    const page = await h.openChat(browser, url, 'scroller');
    pages.push(page);
    await h.joinRoom(page, 'long');
    await h.expectMessage(page, `line ${LONG - 1}`);
    const held = (await h.messages(page)).length;
    expect(held, 'one page held').toBeLessThan(LONG);
    await expect(h.message(page, `line ${LONG - 1}`)).toBeInViewport();
    await expect(page.locator('#jump-latest'), 'no jump button at the bottom').toHaveCount(0);

    // Scrolled halfway up: no load yet, the jump button shows.
    const half = await scroller(page).evaluate((el) => (el.scrollHeight - el.clientHeight) / 2);
    expect(half, 'a page taller than the view').toBeGreaterThan(200);
    await scroller(page).hover();
    await page.mouse.wheel(0, -half);
    await expect(page.locator('#jump-latest')).toBeVisible();
    expect((await h.messages(page)).length, 'nothing loaded away from the top').toBe(held);

    // To the very top: the oldest held message is then this far from the top of the view.
    const oldest = (await h.messages(page))[0].text;
    const atTop = await h.message(page, oldest).evaluate((el) => {
      const list = el.closest('.messages');
      return el.getBoundingClientRect().top - list.getBoundingClientRect().top + list.scrollTop;
    });
    await scroller(page).evaluate((el) => { el.scrollTop = 0; });
    // The next page comes above it, and it stays where it was.
    await expect.poll(async () => (await h.messages(page)).length, { message: 'an older page loaded' })
      .toBeGreaterThan(held);
    expect(Math.abs((await offsetOf(page, oldest)) - atTop), 'kept in place by the load').toBeLessThanOrEqual(3);
    await page.waitForTimeout(300);
    expect(Math.abs((await offsetOf(page, oldest)) - atTop), 'and after').toBeLessThanOrEqual(3);
    await expect(h.message(page, oldest), 'still on screen').toBeInViewport();
    const top = await scroller(page).evaluate((el) => el.scrollTop);
    expect(top, 'the view was kept, not left at the top').toBeGreaterThan(200);
  });

  test('"Jump to latest" brings the newest message into view', async () => {
    const page = pages[pages.length - 1];
    await expect(page.locator('#jump-latest')).toBeVisible();
    await expect(h.message(page, `line ${LONG - 1}`)).not.toBeInViewport();
    await page.locator('#jump-latest').click();
    await expect(h.message(page, `line ${LONG - 1}`)).toBeInViewport();
    await expect(page.locator('#jump-latest')).toHaveCount(0);
  });

  test.describe('in German, in Tokyo', () => {
    test('times are written by Intl for the page: 24 hours, no AM/PM', async ({ browser }) => {
      const page = await h.openChat(browser, url, 'leser', { locale: 'de-DE', timezoneId: 'Asia/Tokyo' });
      pages.push(page);
      await h.send(page, 'guten Tag');
      await h.expectMessage(page, 'guten Tag');
      const group = page.locator('#message-list > li.group')
        .filter({ has: page.locator('.text', { hasText: /^guten Tag$/ }) }).last();
      const time = group.locator('.meta time');
      const iso = await time.getAttribute('datetime');
      const at = new Date(iso);
      expect(Number.isNaN(at.getTime()), `datetime ${iso} is a date`).toBe(false);
      const clock = new Intl.DateTimeFormat('de-DE', { hour: 'numeric', minute: '2-digit', timeZone: 'Asia/Tokyo' });
      const full = new Intl.DateTimeFormat('de-DE', { dateStyle: 'full', timeStyle: 'short', timeZone: 'Asia/Tokyo' });
      await expect(time).toHaveText(clock.format(at));
      await expect(time).toHaveText(/^\d{1,2}:\d{2}$/);
      await expect(time).toHaveAttribute('title', full.format(at));
      // The page's own Intl agrees (its locale and zone are the context's).
      const inPage = await page.evaluate((t) =>
        new Intl.DateTimeFormat(undefined, { hour: 'numeric', minute: '2-digit' }).format(new Date(t)), iso);
      await expect(time).toHaveText(inPage);
      // The server has no way to post in the past: only today's divider can be seen here.
      await expect(page.locator('#message-list > li.divider').last()).toHaveText('Today');
    });
  });
});
