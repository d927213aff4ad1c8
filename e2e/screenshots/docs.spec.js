// The README's screenshots (scripts/screenshots.sh): a conversation in #general between ana,
// 李雷 and bob, with CJK text and emoji, a second room and a direct message, written to
// docs/screenshot-desktop-light.png, docs/screenshot-desktop-dark.png and
// docs/screenshot-phone.png. Run by playwright.docs.config.js; the test run leaves it out.
'use strict';

const path = require('node:path');
const { test, expect } = require('@playwright/test');
const h = require('../helpers');

const DOCS = path.join(h.ROOT, 'docs');
const PASSWORD = 'correct horse battery';

/** Waits for the page's fonts and scrolls the conversation to its end, then screenshots it. */
async function shoot(page, name) {
  await page.evaluate(() => document.fonts.ready);
  await page.locator('#message-list > li.group').last().scrollIntoViewIfNeeded();
  const file = path.join(DOCS, `screenshot-${name}.png`);
  await page.screenshot({ path: file });
  test.info().annotations.push({ type: 'screenshot', description: path.relative(h.ROOT, file) });
}

test.describe('screenshots for the docs', () => {
  test.describe.configure({ mode: 'serial' });
  let server, url;

  test.beforeAll(async () => {
    server = h.newServer();
    url = await server.start();
  });

  test.afterAll(async () => {
    if (server) await server.stop();
  });

  test('desktop light, desktop dark and phone', async ({ browser }) => {
    test.setTimeout(120_000);
    const ana = await h.openAccount(browser, url, 'ana', PASSWORD, '#register');
    const lilei = await h.openAccount(browser, url, '李雷', PASSWORD, '#register', { colorScheme: 'dark' });
    const bob = await h.openAccount(browser, url, 'bob', PASSWORD, '#register');

    // A second room, where bob says something ana has not read yet.
    await bob.locator('#room-input').fill('release');
    await bob.locator('#room-input').press('Enter');
    await expect(bob.locator('#conversation-title')).toHaveText('#release');
    await ana.locator('#refresh-rooms').click();
    await ana.locator('#other-rooms button[title="Join #release"]').click();
    await expect(ana.locator('#conversation-title')).toHaveText('#release');
    await h.openRoom(ana, 'general');
    await h.openRoom(bob, 'general');

    const chat = [
      [ana, 'Morning! The new build is on staging 🚀'],
      [lilei, 'こんにちは 👋'],
      [lilei, '测试全部通过了 ✅ 我再看一下手机上的布局'],
      [bob, '🎉 shipped!'],
      [ana, 'Thanks both. Release notes are in #release 📝'],
      [lilei, '好的，谢谢 🙏'],
    ];
    for (const [page, text] of chat) {
      await h.send(page, text);
      await h.expectMessage(ana, text);
    }
    for (const page of [lilei, bob]) await h.expectMessage(page, chat[chat.length - 1][1]);

    await h.openRoom(bob, 'release');
    await h.send(bob, 'v1.4 notes: faster catch-up, invite-only rooms');
    await expect(h.room(ana, 'release').locator('.badge')).toHaveText('1');

    // A direct message from bob to ana, unread on her side.
    await h.member(bob, 'ana').locator('button').click();
    await expect(bob.locator('#conversation-title')).toHaveText('@ana');
    await h.send(bob, 'lunch at 12:30? 🍜');
    await h.expectMessage(bob, 'lunch at 12:30? 🍜');
    await expect(ana.locator('#directs li[data-name="@bob"] .badge')).toHaveText('1');

    await shoot(ana, 'desktop-light');
    await shoot(lilei, 'desktop-dark');

    // ana on her phone: the same account, signed in from a second device.
    const phone = await h.openAccount(browser, url, 'ana', PASSWORD, '#sign-in', {
      viewport: { width: 390, height: 844 },
      isMobile: true,
      hasTouch: true,
    });
    await h.expectMessage(phone, chat[chat.length - 1][1]);
    await shoot(phone, 'phone');

    for (const page of [ana, lilei, bob, phone]) expect(page.errors, 'no uncaught errors in the page').toEqual([]);
  });
});
