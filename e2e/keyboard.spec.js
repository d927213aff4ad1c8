// Keyboard-only use: from the sign-in form into the chat without a pointer, the focus back in
// the composer after every send, a tab order that reaches the send button, the phone drawer
// opened from its button and closed by Escape (the focus back on the button), and new messages
// from others announced through a polite live region.
'use strict';

const { test, expect } = require('@playwright/test');
const h = require('./helpers');

const PHONE = { viewport: { width: 390, height: 844 }, isMobile: true, hasTouch: true };
const focused = (page) => page.evaluate(() => document.activeElement && document.activeElement.id);

test.describe('keyboard', () => {
  let server, url;
  const pages = [];

  test.beforeAll(async () => {
    server = h.newServer();
    url = await server.start();
  });

  test.afterAll(async () => {
    if (server) await server.stop();
    for (const p of pages) expect(p.errors, 'no uncaught errors').toEqual([]);
  });

  test('sign in, send and read with the keyboard only', async ({ browser }) => {
    const kim = await h.newPage(browser);
    pages.push(kim);
    await kim.goto(url);
    await expect.poll(() => focused(kim), 'the name box has the focus on load').toBe('nick');
    await kim.keyboard.type('kim');
    await kim.keyboard.press('Enter');
    await h.inChat(kim);
    await expect.poll(() => focused(kim), 'the composer has the focus in the chat').toBe('message');

    for (const text of ['first by keyboard', 'second by keyboard']) {
      await kim.keyboard.type(text);
      await kim.keyboard.press('Enter');
      await h.expectMessage(kim, text);
      expect(await focused(kim), 'the focus stays in the composer').toBe('message');
    }
    await kim.keyboard.type('x');
    await kim.keyboard.press('Tab');
    expect(await focused(kim), 'Tab from the composer reaches the send button').toBe('send');
    await kim.keyboard.press('Enter');
    await h.expectMessage(kim, 'x');
    await expect.poll(() => focused(kim), 'back in the composer after sending by the button').toBe('message');

    // Someone else's message is announced politely.
    const lee = await h.openChat(browser, url, 'lee');
    pages.push(lee);
    await h.send(lee, 'hello kim');
    const live = kim.locator('#announce');
    await expect(live).toHaveAttribute('aria-live', 'polite');
    await expect(live).toHaveText('lee: hello kim');
  });

  test('the phone drawer opens from its button and Escape closes it', async ({ browser }) => {
    const pat = await h.openChat(browser, url, 'pat', PHONE);
    pages.push(pat);
    const menu = pat.locator('#menu');
    await menu.focus();
    await pat.keyboard.press('Enter');
    await expect(menu).toHaveAttribute('aria-expanded', 'true');
    await expect(pat.locator('#room-input')).toBeVisible();
    await pat.locator('#room-input').focus();
    await pat.keyboard.press('Escape');
    await expect(menu).toHaveAttribute('aria-expanded', 'false');
    expect(await focused(pat), 'the focus is back on the drawer button').toBe('menu');
  });
});
