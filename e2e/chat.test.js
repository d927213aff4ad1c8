// The web client against the real server, in Debian's Chromium: two users chat both ways, a
// taken nickname is explained, presence and typing are live, rooms count unread messages, a
// direct message reaches only its target, markup stays text, the layout fits a phone, and a
// server restart mid-conversation loses and repeats nothing.
'use strict';

const { describe, it, before, after } = require('node:test');
const assert = require('node:assert/strict');
const h = require('./helpers');

// The store the server runs with. The restart test needs `sqlite` (durable history); with
// `memory` the server forgets everything on restart and message ids start again at 1.
const STORE = process.env.E2E_STORE || 'sqlite';

const XSS = '<img src=x onerror=alert(1)>';
const run = Date.now().toString(36); // keeps texts unique across runs on one data dir

describe('chat in the browser', () => {
  let server, browser, url, alice, bob;

  before(async () => {
    server = h.newServer({ store: STORE });
    url = await server.start();
    browser = await h.launchBrowser();
    alice = await h.openChat(browser, url, 'alice');
    bob = await h.openChat(browser, url, 'bob');
  });

  after(async () => {
    if (alice) await h.screenshot(alice, 'alice');
    if (bob) await h.screenshot(bob, 'bob');
    if (browser) await browser.close();
    if (server) await server.stop();
    for (const p of [alice, bob]) {
      if (p) assert.deepEqual(p.errors, [], 'no uncaught errors in the page');
    }
  });

  it('two users chat both ways (Enter and the send button)', async () => {
    await h.send(alice, `hello bob ${run}`);
    await h.waitMessages(bob, h.hasText(`hello bob ${run}`), 'bob to see alice');
    await h.send(bob, `hi alice ${run}`, { click: true });
    await h.waitMessages(alice, h.hasText(`hi alice ${run}`), 'alice to see bob');
    const seen = await h.waitMessages(alice, h.hasText(`hello bob ${run}`), 'alice to see her own');
    const mine = seen.find((m) => m.text === `hello bob ${run}`);
    assert.equal(mine.sender, 'alice');
    assert.match(mine.id, /^\d+$/, 'acknowledged messages carry the server id');
    // Same order, same ids on both screens.
    const a = (await h.messages(alice)).map((m) => m.id);
    const b = (await h.messages(bob)).map((m) => m.id);
    assert.deepEqual(a, b);
  });

  it('a taken nickname shows the server reason next to the box', async () => {
    const context = await browser.newContext();
    const page = await context.newPage();
    await page.goto(url);
    await h.login(page, 'alice');
    const error = page.locator('#login-error');
    await h.waitFor(page, async () => (await error.textContent()).trim().length > 0, 'a login error');
    const text = await error.textContent();
    assert.match(text, /alice|use|taken/i, text);
    assert.equal(await page.locator('#nick').isVisible(), true, 'still on the login form');
    // An invalid one is explained too.
    await h.login(page, 'no spaces');
    await h.waitFor(page, async () => /letters, digits/.test(await error.textContent()), 'invalid nick reason');
    await context.close();
  });

  it('presence: the member lists follow joins and leaves', async () => {
    await h.waitFor(alice, async () => (await h.members(alice)).includes('bob'), 'bob in alice list');
    const carol = await h.openChat(browser, url, 'carol');
    await h.waitFor(alice, async () => (await h.members(alice)).includes('carol'), 'carol joins');
    await h.waitFor(bob, async () => (await h.members(bob)).includes('carol'), 'carol joins (bob)');
    assert.ok((await h.members(carol)).includes('alice'));
    await carol.locator('#disconnect').click();
    await carol.locator('#nick').waitFor();
    await h.waitFor(alice, async () => !(await h.members(alice)).includes('carol'), 'carol leaves');
    await h.waitFor(bob, async () => !(await h.members(bob)).includes('carol'), 'carol leaves (bob)');
    await carol.context().close();
  });

  it('typing indicator shows and expires', async () => {
    await bob.locator('#message').pressSequentially('typing something longer', { delay: 150 });
    await h.waitFor(alice, async () => (await alice.locator('.typing').textContent()).includes('bob is typing'), 'typing shown');
    await bob.locator('#message').fill('');
    await h.waitFor(alice, async () => (await alice.locator('.typing').textContent()) === '', 'typing expires', 20_000);
  });

  it('a direct message reaches only its target', async () => {
    const carol = await h.openChat(browser, url, 'carol');
    // alice opens a conversation with bob from the member list, with a real click: the list
    // sits above the room directory, so a listing arriving does not move it under the pointer.
    await alice.locator('#members li[data-nick="carol"]').waitFor();
    await alice.locator('#members li[data-nick="bob"] button').click();
    await h.waitFor(alice, async () => (await alice.locator('#conversation-title').textContent()) === '@bob', 'DM view');
    const secret = `psst bob ${run}`;
    await h.send(alice, secret);
    await h.waitMessages(alice, h.hasText(secret), 'alice to see her DM acked');
    // bob gets an unread direct conversation, and the text there.
    const entry = bob.locator('#directs li[data-name="@alice"]');
    await entry.waitFor();
    assert.equal((await entry.locator('.badge').textContent()).trim(), '1');
    await entry.locator('button.conv-name').click();
    await h.waitMessages(bob, h.hasText(secret), 'bob to see the DM');
    // Not in the room, and nowhere on carol's page.
    await bob.locator('#rooms li[data-name="#general"] button.conv-name').click();
    assert.ok(!(await h.messages(bob)).some((m) => m.text === secret), 'DM not in the room');
    await carol.waitForTimeout(500);
    assert.ok(!(await carol.content()).includes(secret), 'carol never sees the DM');
    assert.equal(await carol.locator('#directs').count(), 0);
    await carol.context().close();
    await alice.locator('#rooms li[data-name="#general"] button.conv-name').click();
  });

  it('rooms: create, unread counts, leave', async () => {
    const room = `r${run}`;
    await alice.locator('#room-input').fill(room);
    await alice.locator('#room-input').press('Enter');
    await h.waitFor(alice, async () => (await alice.locator('#conversation-title').textContent()) === `#${room}`, 'room view');
    await alice.locator(`#rooms li[data-name="#${room}"]`).waitFor();
    await h.waitFor(alice, async () => (await h.members(alice)).join() === 'alice', 'alone in the new room');
    // bob joins it from the listing, then goes back to general.
    await bob.locator('#refresh-rooms').click();
    await bob.locator(`#other-rooms button[title="Join #${room}"]`).waitFor();
    await bob.locator(`#other-rooms button[title="Join #${room}"]`).click();
    await h.waitFor(bob, async () => (await h.members(bob)).includes('alice'), 'bob in the room');
    await h.waitFor(alice, async () => (await h.members(alice)).includes('bob'), 'alice sees bob join');
    await alice.locator('#rooms li[data-name="#general"] button.conv-name').click();
    await h.send(bob, `in ${room} one`);
    await h.send(bob, `in ${room} two`);
    const badge = alice.locator(`#rooms li[data-name="#${room}"] .badge`);
    await h.waitFor(alice, async () => (await badge.count()) === 1 && (await badge.textContent()) === '2', 'two unread');
    await alice.locator(`#rooms li[data-name="#${room}"] button.conv-name`).click();
    await h.waitMessages(alice, h.hasText(`in ${room} two`), 'the unread messages');
    assert.equal(await badge.count(), 0, 'reading clears the count');
    // Leaving removes it here and from bob's member list.
    await alice.locator(`#rooms li[data-name="#${room}"] button.leave`).click();
    await h.waitFor(alice, async () => (await alice.locator(`#rooms li[data-name="#${room}"]`).count()) === 0, 'room gone');
    await h.waitFor(bob, async () => !(await h.members(bob)).includes('alice'), 'alice left the room');
    await bob.locator('#rooms li[data-name="#general"] button.conv-name').click();
    await alice.locator('#rooms li[data-name="#general"] button.conv-name').click();
  });

  it('markup is shown as text, never run', async () => {
    await h.send(alice, XSS);
    const list = await h.waitMessages(bob, h.hasText(XSS), 'bob to see the markup as text');
    assert.ok(list.some((m) => m.text === XSS && m.sender === 'alice'));
    assert.equal(await bob.locator('#message-list img').count(), 0);
    assert.equal(await alice.locator('#message-list img').count(), 0);
    assert.deepEqual(bob.dialogs, []);
    assert.deepEqual(alice.dialogs, []);
  });

  it('fits a 375 px phone screen', async () => {
    const phone = await h.openChat(browser, url, 'dana', { width: 375, height: 740 });
    await h.waitMessages(phone, h.hasText(XSS), 'history on join');
    const overflow = await phone.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    assert.ok(overflow <= 0, `no horizontal scrolling (overflow ${overflow}px)`);
    assert.ok(await phone.locator('#send').isVisible());
    assert.ok(await phone.locator('#message').isVisible());
    // The conversations live in a drawer behind the menu button.
    assert.equal(await phone.locator('#sidebar').isVisible(), false);
    await phone.locator('button.menu').click();
    assert.ok(await phone.locator('#sidebar').isVisible());
    await h.screenshot(phone, 'phone-375-drawer');
    await phone.locator('button.menu').click();
    await h.send(phone, `from a phone ${run}`);
    await h.waitMessages(alice, h.hasText(`from a phone ${run}`), 'alice to see the phone');
    await h.screenshot(phone, 'phone-375');
    await phone.context().close();
  });

  it('a server restart mid-conversation loses and repeats nothing', { skip: STORE !== 'sqlite' && 'needs the durable store (E2E_STORE=sqlite)' }, async () => {
    const tag = `rs${run}`;
    const texts = [];
    const say = async (page, text) => {
      texts.push(text);
      await h.send(page, text);
    };
    await say(alice, `${tag} before 1`);
    await say(bob, `${tag} before 2`);
    for (const p of [alice, bob]) await h.waitMessages(p, h.hasText(`${tag} before 2`), 'before the restart');

    // 1. A clean shutdown (1001 going away): both pages say they are reconnecting.
    await server.stop('SIGTERM');
    for (const p of [alice, bob]) {
      await h.waitFor(p, async () => ['reconnecting', 'connecting'].includes(await p.locator('#status').getAttribute('data-state')), 'reconnecting shown');
    }
    // Written while the server is down: shown as pending, sent after the reconnect.
    await say(alice, `${tag} while down`);
    await h.waitMessages(alice, (l) => l.some((m) => m.text === `${tag} while down` && m.state === 'pending'), 'a pending message');
    await h.screenshot(alice, 'alice-reconnecting');
    await server.start(); // same port, same data dir
    for (const p of [alice, bob]) {
      await p.locator('#status[data-state="online"]').waitFor({ timeout: 40_000 });
      await h.waitMessages(p, h.hasText(`${tag} while down`), 'the outbox delivered');
    }
    await say(bob, `${tag} after 1`);
    await say(alice, `${tag} after 2`);

    // 2. A crash (SIGKILL, no close frame) right after a send: acked or not, it arrives once.
    await say(bob, `${tag} at the crash`);
    await server.stop('SIGKILL');
    await server.start();
    for (const p of [alice, bob]) {
      await p.locator('#status[data-state="online"]').waitFor({ timeout: 40_000 });
    }
    await say(alice, `${tag} after crash`);

    for (const [name, p] of [['alice', alice], ['bob', bob]]) {
      const list = await h.waitMessages(
        p,
        (l) => texts.every((t) => l.some((m) => m.text === t && m.state === 'delivered')) && !l.some((m) => m.state !== 'delivered'),
        `${name} to have every message delivered`,
        40_000,
      );
      const ours = list.filter((m) => m.text.startsWith(tag));
      assert.deepEqual(ours.map((m) => m.text).sort(), [...texts].sort(), `${name}: each message exactly once`);
      const ids = list.map((m) => m.id);
      assert.equal(new Set(ids).size, ids.length, `${name}: no id twice`);
      // Everything from before the restarts is still on screen, in order.
      assert.deepEqual(ours.slice(0, 3).map((m) => m.text), texts.slice(0, 3));
    }
    const a = (await h.messages(alice)).map((m) => `${m.id}:${m.text}`);
    const b = (await h.messages(bob)).map((m) => `${m.id}:${m.text}`);
    assert.deepEqual(a, b, 'both pages show the same conversation');
  });
});
