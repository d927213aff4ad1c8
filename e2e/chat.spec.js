// The web client against the real server, in Debian's Chromium: two users chat both ways, a
// taken nickname is explained, presence and typing are live, rooms count unread messages, a
// direct message reaches only its target, markup stays text, the layout fits a phone, and a
// server restart mid-conversation loses and repeats nothing.
'use strict';

const { test, expect } = require('@playwright/test');
const h = require('./helpers');

// The store the server runs with. The restart test needs `sqlite` (durable history); with
// `memory` the server forgets everything on restart and message ids start again at 1.
const STORE = process.env.E2E_STORE || 'sqlite';

const XSS = '<img src=x onerror=alert(1)>';
const run = Date.now().toString(36); // keeps texts unique across runs on one data dir

test.describe('chat in the browser', () => {
  // The tests share the server and alice's and bob's pages, and build on each other.
  test.describe.configure({ mode: 'serial' });
  let server, url, alice, bob;

  test.beforeAll(async ({ browser }) => {
    server = h.newServer({ store: STORE });
    url = await server.start();
    alice = await h.openChat(browser, url, 'alice');
    bob = await h.openChat(browser, url, 'bob');
  });

  test.afterAll(async ({}, testInfo) => {
    if (alice) await h.screenshot(alice, testInfo, 'alice').catch(() => {});
    if (bob) await h.screenshot(bob, testInfo, 'bob').catch(() => {});
    if (server) await server.stop();
    for (const p of [alice, bob]) {
      if (p) expect(p.errors, 'no uncaught errors in the page').toEqual([]);
    }
  });

  test('two users chat both ways (Enter and the send button)', async () => {
    await h.send(alice, `hello bob ${run}`);
    await h.expectMessage(bob, `hello bob ${run}`);
    await h.send(bob, `hi alice ${run}`, { click: true });
    await h.expectMessage(alice, `hi alice ${run}`);
    await h.expectMessage(alice, `hello bob ${run}`);
    const mine = (await h.messages(alice)).find((m) => m.text === `hello bob ${run}`);
    expect(mine.sender).toBe('alice');
    expect(mine.id, 'acknowledged messages carry the server id').toMatch(/^\d+$/);
    // Same order, same ids on both screens.
    const ids = async (page) => (await h.messages(page)).map((m) => m.id);
    await expect.poll(() => ids(bob)).toEqual(await ids(alice));
  });

  test('a taken nickname shows the server reason next to the box', async ({ browser }) => {
    const page = await h.newPage(browser);
    await page.goto(url);
    await h.login(page, 'alice');
    const error = page.locator('#login-error');
    await expect(error).toHaveText(/alice|use|taken/i);
    await expect(page.locator('#nick'), 'still on the login form').toBeVisible();
    // An invalid one is explained too.
    await h.login(page, 'no spaces');
    await expect(error).toHaveText(/letters, digits/);
    await page.context().close();
  });

  test('presence: the member lists follow joins and leaves', async ({ browser }) => {
    await expect(h.member(alice, 'bob')).toHaveCount(1);
    const carol = await h.openChat(browser, url, 'carol');
    await expect(h.member(alice, 'carol')).toHaveCount(1);
    await expect(h.member(bob, 'carol')).toHaveCount(1);
    expect(await h.members(carol)).toContain('alice');
    await carol.locator('#disconnect').click();
    await expect(carol.locator('#nick')).toBeVisible();
    await expect(h.member(alice, 'carol')).toHaveCount(0);
    await expect(h.member(bob, 'carol')).toHaveCount(0);
    await carol.context().close();
  });

  test('typing indicator shows and expires', async () => {
    await bob.locator('#message').pressSequentially('typing something longer', { delay: 150 });
    await expect(alice.locator('.typing')).toContainText('bob is typing');
    await bob.locator('#message').fill('');
    await expect(alice.locator('.typing')).toHaveText(/^$/, { timeout: 20_000 });
  });

  test('a direct message reaches only its target', async ({ browser }) => {
    const carol = await h.openChat(browser, url, 'carol');
    // alice opens a conversation with bob from the member list, with a real click: the list
    // sits above the room directory, so a listing arriving does not move it under the pointer.
    await expect(h.member(alice, 'carol')).toHaveCount(1);
    await h.member(alice, 'bob').locator('button').click();
    await expect(alice.locator('#conversation-title')).toHaveText('@bob');
    const secret = `psst bob ${run}`;
    await h.send(alice, secret);
    await h.expectMessage(alice, secret);
    // bob gets an unread direct conversation, and the text there.
    const entry = bob.locator('#directs li[data-name="@alice"]');
    await expect(entry.locator('.badge')).toHaveText('1');
    await entry.locator('button.conv-name').click();
    await h.expectMessage(bob, secret);
    // Not in the room, and nowhere on carol's page.
    await h.openRoom(bob, 'general');
    expect((await h.messages(bob)).map((m) => m.text), 'DM not in the room').not.toContain(secret);
    // alice says something in the room after the DM: once carol has that, she would have had
    // the DM too, had the server sent it to her.
    await h.openRoom(alice, 'general');
    const after = `after the DM ${run}`;
    await h.send(alice, after);
    await h.expectMessage(carol, after);
    expect(await carol.content(), 'carol never sees the DM').not.toContain(secret);
    await expect(carol.locator('#directs')).toHaveCount(0);
    await carol.context().close();
  });

  test('rooms: create, unread counts, leave', async () => {
    const name = `r${run}`;
    await alice.locator('#room-input').fill(name);
    await alice.locator('#room-input').press('Enter');
    await expect(alice.locator('#conversation-title')).toHaveText(`#${name}`);
    await expect(h.room(alice, name)).toHaveCount(1);
    await expect.poll(() => h.members(alice), { message: 'alone in the new room' }).toEqual(['alice']);
    // bob joins it from the listing, then goes back to general.
    await bob.locator('#refresh-rooms').click();
    await bob.locator(`#other-rooms button[title="Join #${name}"]`).click();
    await expect(h.member(bob, 'alice'), 'bob in the room').toHaveCount(1);
    await expect(h.member(alice, 'bob'), 'alice sees bob join').toHaveCount(1);
    await h.openRoom(alice, 'general');
    await h.send(bob, `in ${name} one`);
    await h.send(bob, `in ${name} two`);
    const badge = h.room(alice, name).locator('.badge');
    await expect(badge, 'two unread').toHaveText('2');
    await h.openRoom(alice, name);
    await h.expectMessage(alice, `in ${name} two`);
    await expect(badge, 'reading clears the count').toHaveCount(0);
    // Leaving removes it here and from bob's member list.
    await h.room(alice, name).locator('button.leave').click();
    await expect(h.room(alice, name), 'room gone').toHaveCount(0);
    await expect(h.member(bob, 'alice'), 'alice left the room').toHaveCount(0);
    await h.openRoom(bob, 'general');
    await h.openRoom(alice, 'general');
  });

  test('markup is shown as text, never run', async () => {
    await h.send(alice, XSS);
    await h.expectMessage(bob, XSS);
    expect(await h.messages(bob)).toContainEqual(expect.objectContaining({ text: XSS, sender: 'alice' }));
    await expect(bob.locator('#message-list img')).toHaveCount(0);
    await expect(alice.locator('#message-list img')).toHaveCount(0);
    expect(bob.dialogs).toEqual([]);
    expect(alice.dialogs).toEqual([]);
  });

  test('fits a 375 px phone screen', async ({ browser }, testInfo) => {
    const phone = await h.openChat(browser, url, 'dana', { viewport: { width: 375, height: 740 } });
    await h.expectMessage(phone, XSS); // history on join
    const overflow = await phone.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    expect(overflow, 'no horizontal scrolling').toBeLessThanOrEqual(0);
    await expect(phone.locator('#send')).toBeVisible();
    await expect(phone.locator('#message')).toBeVisible();
    // The conversations live in a drawer behind the menu button.
    await expect(phone.locator('#sidebar')).toBeHidden();
    await phone.locator('button.menu').click();
    await expect(phone.locator('#sidebar')).toBeVisible();
    await h.screenshot(phone, testInfo, 'phone-375-drawer');
    await phone.locator('button.menu').click();
    await h.send(phone, `from a phone ${run}`);
    await h.expectMessage(alice, `from a phone ${run}`);
    await h.screenshot(phone, testInfo, 'phone-375');
    await phone.context().close();
  });

  test('a server restart mid-conversation loses and repeats nothing', async ({}, testInfo) => {
    test.skip(STORE !== 'sqlite', 'needs the durable store (E2E_STORE=sqlite)');
    test.setTimeout(180_000);
    const tag = `rs${run}`;
    const texts = [];
    const say = async (page, text) => {
      texts.push(text);
      await h.send(page, text);
    };
    await say(alice, `${tag} before 1`);
    await say(bob, `${tag} before 2`);
    for (const p of [alice, bob]) await h.expectMessage(p, `${tag} before 2`);

    // 1. A clean shutdown (1001 going away): both pages say they are reconnecting.
    await server.stop('SIGTERM');
    for (const p of [alice, bob]) {
      await expect(p.locator('#status'), 'reconnecting shown').toHaveAttribute('data-state', /^(reconnecting|connecting)$/);
    }
    // Written while the server is down: shown as pending, sent after the reconnect.
    await say(alice, `${tag} while down`);
    await h.expectMessage(alice, `${tag} while down`, { state: 'pending' });
    await h.screenshot(alice, testInfo, 'alice-reconnecting');
    await server.start(); // same port, same data dir
    for (const p of [alice, bob]) {
      await expect(p.locator('#status')).toHaveAttribute('data-state', 'online', { timeout: 40_000 });
      await h.expectMessage(p, `${tag} while down`); // the outbox delivered
    }
    await say(bob, `${tag} after 1`);
    await say(alice, `${tag} after 2`);

    // 2. A crash (SIGKILL, no close frame) right after a send: acked or not, it arrives once.
    await say(bob, `${tag} at the crash`);
    await server.stop('SIGKILL');
    await server.start();
    for (const p of [alice, bob]) {
      await expect(p.locator('#status')).toHaveAttribute('data-state', 'online', { timeout: 40_000 });
    }
    await say(alice, `${tag} after crash`);

    for (const [name, p] of [['alice', alice], ['bob', bob]]) {
      // Every message delivered, and nothing still pending or failed.
      await expect
        .poll(async () => {
          const l = await h.messages(p);
          return {
            missing: texts.filter((t) => !l.some((m) => m.text === t && m.state === 'delivered')),
            undelivered: l.filter((m) => m.state !== 'delivered'),
          };
        }, { message: `${name} to have every message delivered`, timeout: 40_000 })
        .toEqual({ missing: [], undelivered: [] });
      const list = await h.messages(p);
      const ours = list.filter((m) => m.text.startsWith(tag));
      expect(ours.map((m) => m.text).sort(), `${name}: each message exactly once`).toEqual([...texts].sort());
      const ids = list.map((m) => m.id);
      expect(new Set(ids).size, `${name}: no id twice`).toBe(ids.length);
      // Everything from before the restarts is still on screen, in order.
      expect(ours.slice(0, 3).map((m) => m.text)).toEqual(texts.slice(0, 3));
    }
    const a = (await h.messages(alice)).map((m) => `${m.id}:${m.text}`);
    const b = (await h.messages(bob)).map((m) => `${m.id}:${m.text}`);
    expect(a, 'both pages show the same conversation').toEqual(b);
  });
});
