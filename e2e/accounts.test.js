// Accounts and guests in the browser: alice registers in one context and signs in from a second
// (both stay connected), a guest's direct message reaches both of her tabs, a reload keeps her
// signed in, a guest cannot take her name (in any case), a wrong password is explained, and
// signing out everywhere ends every tab.
'use strict';

const { describe, it, before, after } = require('node:test');
const assert = require('node:assert/strict');
const h = require('./helpers');

const STORE = process.env.E2E_STORE || 'sqlite';
const PASSWORD = 'correct horse battery';
const run = Date.now().toString(36);

/** The login form's reason, once there is one. */
async function loginError(page) {
  const error = page.locator('#login-error');
  await h.waitFor(page, async () => (await error.textContent()).trim().length > 0, 'a login error');
  return (await error.textContent()).trim();
}

async function me(page) {
  return (await page.locator('#me').textContent()).trim();
}

describe('accounts and guests', () => {
  let server, browser, url, alice1, alice2, carol;

  before(async () => {
    server = h.newServer({ store: STORE });
    url = await server.start();
    browser = await h.launchBrowser();
  });

  after(async () => {
    if (alice1) await h.screenshot(alice1, 'accounts-alice1');
    if (alice2) await h.screenshot(alice2, 'accounts-alice2');
    if (carol) await h.screenshot(carol, 'accounts-carol');
    if (browser) await browser.close();
    if (server) await server.stop();
    for (const p of [alice1, alice2, carol]) {
      if (p) assert.deepEqual(p.errors, [], 'no uncaught errors in the page');
    }
  });

  it('alice registers in one context and signs in from another; both stay connected', async () => {
    alice1 = await h.openAccount(browser, url, 'alice', PASSWORD, '#register');
    assert.equal(await me(alice1), 'alice');
    assert.equal(await alice1.locator('#me-guest').count(), 0, 'a member is not marked as a guest');
    await alice1.locator('#sign-out-everywhere').waitFor();
    const saved = await alice1.evaluate(() => localStorage.getItem('chat.session'));
    assert.ok(saved && JSON.parse(saved).token, `a session token is kept: ${saved}`);
    assert.ok(!saved.includes(PASSWORD), 'the password itself is never stored');

    alice2 = await h.openAccount(browser, url, 'alice', PASSWORD, '#sign-in');
    assert.equal(await me(alice2), 'alice');
    await alice1.waitForTimeout(500);
    for (const page of [alice1, alice2]) {
      assert.equal(await page.locator('#status').getAttribute('data-state'), 'online');
      assert.equal(await page.locator('#nick').count(), 0, 'still in the chat');
    }
  });

  it("a guest's direct message reaches both of alice's tabs, marked as from a guest", async () => {
    carol = await h.openChat(browser, url, 'carol');
    assert.equal(await carol.locator('#me-guest').count(), 1, 'carol is told she is a guest');
    // Who is a guest shows in the member lists, both ways.
    await alice1.locator('#members li[data-nick="carol"] .guest').waitFor();
    const aliceRow = carol.locator('#members li[data-nick="alice"]');
    await aliceRow.waitFor();
    assert.equal(await aliceRow.locator('.guest').count(), 0, 'alice is a member');

    await aliceRow.locator('button').click();
    await h.waitFor(carol, async () => (await carol.locator('#conversation-title').textContent()) === '@alice', 'DM view');
    const text = `hi alice from a guest ${run}`;
    await h.send(carol, text);
    await h.waitMessages(carol, h.hasText(text), 'carol to see her DM acked');
    for (const page of [alice1, alice2]) {
      const entry = page.locator('#directs li[data-name="@carol"]');
      await entry.waitFor();
      await entry.locator('button.conv-name').click();
      await h.waitMessages(page, h.hasText(text), 'alice to see the DM');
      const group = page.locator('#message-list > li.group[data-sender="carol"]');
      assert.equal(await group.locator('.meta .guest').count(), 1, 'the DM is marked as from a guest');
    }
  });

  it('a reload keeps alice signed in', async () => {
    await alice1.reload();
    await alice1.locator('#status[data-state="online"]').waitFor();
    await alice1.locator('#message').waitFor();
    assert.equal(await me(alice1), 'alice');
    assert.equal(await alice1.locator('#nick').count(), 0, 'no login screen');
    assert.equal(await alice1.locator('#me-guest').count(), 0);
    // The other tab was not disturbed.
    assert.equal(await alice2.locator('#status').getAttribute('data-state'), 'online');
  });

  it('a guest cannot take the name alice, in any case', async () => {
    // A fresh context for each, so each reason is read from a clean form.
    for (const name of ['alice', 'ALICE']) {
      const context = await browser.newContext();
      const page = await context.newPage();
      await page.goto(url);
      await h.login(page, name);
      const text = await loginError(page);
      assert.match(text, /taken|account|sign in/i, `${name}: ${text}`);
      assert.equal(await page.locator('#nick').isVisible(), true, 'still on the login form');
      assert.equal(await page.locator('#message').count(), 0, 'not in the chat');
      await context.close();
    }
  });

  it('a wrong password is explained', async () => {
    const context = await browser.newContext();
    const page = await context.newPage();
    await page.goto(url);
    await h.signIn(page, 'alice', 'not the password');
    const text = await loginError(page);
    assert.match(text, /wrong name or password/i, text);
    assert.equal(await page.evaluate(() => localStorage.getItem('chat.session')), null);
    await context.close();
  });

  it('signing out everywhere ends every tab and forgets the session', async () => {
    await alice2.locator('#sign-out-everywhere').click();
    await alice2.locator('#nick').waitFor();
    await alice1.locator('#nick').waitFor();
    assert.match(await loginError(alice1), /signed out/i);
    assert.equal(await alice1.evaluate(() => localStorage.getItem('chat.session')), null);
    // A reload now shows the login form.
    await alice1.reload();
    await alice1.locator('#nick').waitFor();
    await alice1.waitForTimeout(500);
    assert.equal(await alice1.locator('#message').count(), 0);
  });
});
