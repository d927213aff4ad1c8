// What calls the user back to a hidden tab: the title counts unread messages as `(N) Chat`;
// a direct message or a mention notifies through the Notification API, from one of the user's
// tabs only (they agree over a BroadcastChannel), never from a muted conversation (a signed-in
// user's mutes are kept by the server, for every device), and never while one of the user's
// tabs is on screen; permission is asked on a click, never on load.
//
// Headless Chromium shows no notifications and never hides a page: the tests replace
// `Notification` with a recorder and drive `document.hidden` themselves. Everything else is
// the real page, server and BroadcastChannel.
'use strict';

const { test, expect } = require('@playwright/test');
const h = require('./helpers');

const PASSWORD = 'correct horse battery';

/** Records notifications and permission requests; pages start hidden. */
function fakeBrowserApis(permission) {
  return `
    window.__notes = []; window.__asked = 0; window.__hidden = true;
    Object.defineProperty(document, 'hidden', { get: () => window.__hidden, configurable: true });
    Object.defineProperty(document, 'visibilityState', {
      get: () => (window.__hidden ? 'hidden' : 'visible'), configurable: true });
    class Recorder { constructor(title, opts) { window.__notes.push({ title, body: opts && opts.body, tag: opts && opts.tag }); } }
    Recorder.permission = ${JSON.stringify(permission)};
    Recorder.requestPermission = () => { window.__asked++; Recorder.permission = 'granted'; return Promise.resolve('granted'); };
    window.Notification = Recorder;
  `;
}

const notes = (page) => page.evaluate(() => window.__notes);
async function setHidden(page, hidden) {
  await page.evaluate((v) => { window.__hidden = v; document.dispatchEvent(new Event('visibilitychange')); }, hidden);
}

test.describe('attention', () => {
  test.describe.configure({ mode: 'serial' });
  let server, url, alice, bob1, bob2;

  test.beforeAll(async ({ browser }) => {
    server = h.newServer();
    url = await server.start();
    alice = await h.openAccount(browser, url, 'alice', PASSWORD, '#register');
    // bob's two tabs share one browser context: one session, one BroadcastChannel.
    const context = await browser.newContext({ viewport: h.DESKTOP });
    await context.addInitScript(fakeBrowserApis('granted'));
    bob1 = h.watch(await context.newPage());
    await bob1.goto(url);
    await h.signIn(bob1, 'bob', PASSWORD, '#register');
    await h.inChat(bob1);
    bob2 = h.watch(await context.newPage());
    await bob2.goto(url);
    await h.inChat(bob2);
    await expect(bob2.locator('#me')).toHaveText('bob');
  });

  test.afterAll(async () => {
    if (server) await server.stop();
    for (const p of [alice, bob1, bob2]) if (p) expect(p.errors, 'no uncaught errors').toEqual([]);
  });

  test('a direct message to a hidden user notifies from exactly one of its tabs', async () => {
    await alice.locator('#dm-input').fill('bob');
    await alice.locator('#dm-input').press('Enter');
    await h.send(alice, 'lunch?');
    await expect(bob1).toHaveTitle('(1) Chat');
    await expect(bob2).toHaveTitle('(1) Chat');
    await expect.poll(async () => (await notes(bob1)).length + (await notes(bob2)).length).toBe(1);
    // And it stays one: the other tab lost the claim.
    await bob1.waitForTimeout(600);
    const all = [...(await notes(bob1)), ...(await notes(bob2))];
    expect(all).toEqual([{ title: 'alice', body: 'lunch?', tag: 'dm/alice' }]);
  });

  test('a mention notifies; a plain room message only counts', async () => {
    await h.openRoom(alice, 'general');
    await h.send(alice, 'no mention here');
    await h.send(alice, '@bob look at this');
    // From whichever tab heard it first: sorted, since each tab keeps its own.
    await expect.poll(async () => [...(await notes(bob1)), ...(await notes(bob2))].map((n) => n.body).sort())
      .toEqual(['@bob look at this', 'lunch?']);
    // Hidden, the open room counts too: 1 in the DM, 2 in #general.
    await expect(bob1).toHaveTitle('(3) Chat');
  });

  test('nothing notifies while one of the tabs is on screen, and reading clears the title', async () => {
    await setHidden(bob1, false);
    await expect(bob1).toHaveTitle('(1) Chat'); // #general is on screen and read now
    await h.openRoom(alice, 'general');
    await h.send(alice, '@bob are you there?');
    await h.expectMessage(bob2, '@bob are you there?');
    await bob2.waitForTimeout(600);
    expect([...(await notes(bob1)), ...(await notes(bob2))]).toHaveLength(2);
    await bob1.locator('#directs li[data-name="@alice"] button.conv-name').click();
    await expect(bob1).toHaveTitle('Chat');
  });

  test('a tab on screen holds every notification back, even when its own copy of the message comes late', async () => {
    // A third tab of bob's, on screen, whose frames from the server arrive 800 ms late: its
    // claim on a message reaches the hidden tabs long after their 250 ms wait.
    const bob3 = h.watch(await bob1.context().newPage());
    await bob3.routeWebSocket(/.*/, (ws) => {
      ws.connectToServer().onMessage((m) => setTimeout(() => ws.send(m), 800));
    });
    await bob3.goto(url);
    await h.inChat(bob3);
    await expect(bob3.locator('#me')).toHaveText('bob');
    await setHidden(bob1, true);
    await setHidden(bob3, false);
    const all = async () => [...(await notes(bob1)), ...(await notes(bob2))];
    await h.send(alice, '@bob one tab is looking');
    await h.expectMessage(bob2, '@bob one tab is looking');
    await h.expectMessage(bob3, '@bob one tab is looking');
    await bob3.waitForTimeout(600);
    expect(await all()).toHaveLength(2);
    expect(await notes(bob3)).toEqual([]);
    expect(bob3.errors).toEqual([]);
    // Closed, it is off screen: the next mention notifies again, from one tab.
    await bob3.close();
    await h.send(alice, '@bob now nobody is');
    await expect.poll(async () => (await all()).length).toBe(3);
    await bob1.waitForTimeout(600);
    expect((await all()).map((n) => n.body).sort()).toEqual(['@bob look at this', '@bob now nobody is', 'lunch?']);
    await setHidden(bob1, false);
  });

  test('a muted conversation neither notifies nor counts', async () => {
    await bob1.locator('#mute').click();
    await expect(bob1.locator('#mute')).toHaveAttribute('aria-pressed', 'true');
    await h.openRoom(bob1, 'general');
    await setHidden(bob1, true);
    await h.send(alice, 'still there?'); // alice is still in #general: a room message
    await alice.locator('#directs li[data-name="@bob"] button.conv-name').click();
    await h.send(alice, 'muted words');
    await expect(bob1.locator('#directs li[data-name="@alice"].muted')).toBeVisible();
    await expect(bob1.locator('#directs li[data-name="@alice"] .badge')).toHaveText('1');
    await bob1.waitForTimeout(600);
    expect([...(await notes(bob1)), ...(await notes(bob2))].map((n) => n.body)).not.toContain('muted words');
    await expect(bob1).toHaveTitle('(1) Chat'); // only #general's message, not the muted DM
  });

  test("a signed-in user's mute is the server's: another device sees it, a reload keeps it, the browser stores none", async ({ browser }) => {
    // bob's phone: another browser context, so nothing is shared but the account.
    const phone = await h.openAccount(browser, url, 'bob', PASSWORD, '#sign-in');
    const dm = (page) => page.locator('#directs li[data-name="@alice"]');
    await expect(dm(phone)).toHaveClass(/\bmuted\b/);
    await bob1.reload();
    await h.inChat(bob1);
    await expect(dm(bob1)).toHaveClass(/\bmuted\b/);
    const kept = await bob1.evaluate(() => JSON.parse(localStorage.getItem('chat.kept') || '{}'));
    expect(kept.muted || []).toEqual([]);
    // Unmuted on the phone: the laptop's tabs hear it at once.
    await dm(phone).locator('button.conv-name').click();
    await expect(phone.locator('#mute')).toHaveAttribute('aria-pressed', 'true');
    await phone.locator('#mute').click();
    await expect(phone.locator('#mute')).toHaveAttribute('aria-pressed', 'false');
    await expect(dm(bob1)).not.toHaveClass(/\bmuted\b/);
    await expect(dm(bob2)).not.toHaveClass(/\bmuted\b/);
    expect(phone.errors).toEqual([]);
    await phone.context().close();
  });

  test('permission is asked on a click, never on load', async ({ browser }) => {
    const context = await browser.newContext({ viewport: h.DESKTOP });
    await context.addInitScript(fakeBrowserApis('default'));
    const carol = h.watch(await context.newPage());
    await carol.goto(url);
    await h.login(carol, 'carol');
    await h.inChat(carol);
    expect(await carol.evaluate(() => window.__asked)).toBe(0);
    await carol.locator('#notify-enable').click();
    await expect(carol.locator('#notify-enable')).toHaveCount(0);
    expect(await carol.evaluate(() => window.__asked)).toBe(1);
    await context.close();
  });
});
