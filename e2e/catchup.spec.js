// Catching up after a long absence: the client pages what it missed up to a cap (2,000
// messages); past it, it shows the latest page under a gap marker, with "Load older".
'use strict';

const { test, expect } = require('@playwright/test');
const h = require('./helpers');

const MISSED = 2_100;

test.describe('catching up after a long absence', () => {
  let server, url, alice;

  test.beforeAll(async ({ browser }) => {
    server = h.newServer({ store: 'sqlite', args: ['--rate-per-sec', '0'] });
    url = await server.start();
    alice = await h.openChat(browser, url, 'away');
  });

  test.afterAll(async ({}, testInfo) => {
    if (alice) await h.screenshot(alice, testInfo, 'away-gap').catch(() => {});
    if (server) await server.stop();
    if (alice) expect(alice.errors, 'no uncaught errors in the page').toEqual([]);
  });

  test('past the cap, the latest page shows under a gap marker with "Load older"', async ({ browser }) => {
    test.setTimeout(180_000);
    await h.send(alice, 'seen before');
    await h.expectMessage(alice, 'seen before');
    await server.stop('SIGTERM');
    // Failed retries stretch the reconnect wait (doubling from 0.5 s, half of it random):
    // long enough to post while she is away. 9 s or more is the sixth try or later, and leaves
    // room for the flood on a busy machine (at 5 s it sometimes reconnected too early).
    await expect(alice.locator('#status'), 'a reconnect wait of 9 s or more')
      .toHaveText(/reconnecting in (9|[1-9]\d+) s/, { timeout: 40_000 });
    await server.start();
    const acked = await h.flood(browser, url, { room: 'general', prefix: 'missed', n: MISSED, nick: 'chatty' });
    expect(acked, 'every missed message was stored').toBe(MISSED);
    const status = await alice.locator('#status').getAttribute('data-state');
    expect(status, 'alice was still away while they were posted').not.toBe('online');
    await alice.getByRole('button', { name: 'retry now' }).click();
    await expect(alice.locator('#status')).toHaveAttribute('data-state', 'online', { timeout: 20_000 });
    await expect(alice.locator('#gap')).toBeVisible({ timeout: 20_000 });
    await h.expectMessage(alice, `missed ${MISSED - 1}`);
    const shown = await h.messages(alice);
    expect(shown.length, 'only the latest page is held').toBeLessThanOrEqual(100);
    const texts = shown.map((m) => m.text);
    expect(texts, 'what was held is not shown').not.toContain('seen before');
    expect(texts, 'the oldest missed are not shown').not.toContain('missed 0');
    // "Load older" brings the page before, and the marker stays until the gap is closed.
    const before = shown.length;
    await alice.locator('#older').click();
    await expect.poll(async () => (await h.messages(alice)).length, { message: 'an older page' }).toBeGreaterThan(before);
    await expect(alice.locator('#gap')).toBeVisible();
  });
});
