// Accounts and guests in the browser: alice registers in one context and signs in from a second
// (both stay connected), a guest's direct message reaches both of her tabs, a reload keeps her
// signed in, a guest cannot take her name (in any case), a wrong password is explained, and
// signing out everywhere ends every tab.
'use strict';

const { test, expect } = require('@playwright/test');
const h = require('./helpers');

const STORE = process.env.E2E_STORE || 'sqlite';
const PASSWORD = 'correct horse battery';
const run = Date.now().toString(36);

const loginError = (page) => page.locator('#login-error');
const me = (page) => page.locator('#me');

test.describe('accounts and guests', () => {
  // The tests share the server and alice's tabs, and build on each other.
  test.describe.configure({ mode: 'serial' });
  let server, url, alice1, alice2, carol;

  test.beforeAll(async () => {
    server = h.newServer({ store: STORE });
    url = await server.start();
  });

  test.afterAll(async ({}, testInfo) => {
    for (const [p, name] of [[alice1, 'alice1'], [alice2, 'alice2'], [carol, 'carol']]) {
      if (p) await h.screenshot(p, testInfo, `accounts-${name}`).catch(() => {});
    }
    if (server) await server.stop();
    for (const p of [alice1, alice2, carol]) {
      if (p) expect(p.errors, 'no uncaught errors in the page').toEqual([]);
    }
  });

  test('alice registers in one context and signs in from another; both stay connected', async ({ browser }) => {
    alice1 = await h.openAccount(browser, url, 'alice', PASSWORD, '#register');
    await expect(me(alice1)).toHaveText('alice');
    await expect(alice1.locator('#me-guest'), 'a member is not marked as a guest').toHaveCount(0);
    await expect(alice1.locator('#sign-out-everywhere')).toBeVisible();
    const saved = await alice1.evaluate(() => localStorage.getItem('chat.session'));
    expect(saved && JSON.parse(saved).token, `a session token is kept: ${saved}`).toBeTruthy();
    expect(saved, 'the password itself is never stored').not.toContain(PASSWORD);

    alice2 = await h.openAccount(browser, url, 'alice', PASSWORD, '#sign-in');
    await expect(me(alice2)).toHaveText('alice');
    // A message from the second tab reaches the first: it is still connected after the
    // second sign-in, which the server handled before the message.
    const hello = `from the second tab ${run}`;
    await h.send(alice2, hello);
    await h.expectMessage(alice1, hello);
    for (const page of [alice1, alice2]) {
      await expect(page.locator('#status')).toHaveAttribute('data-state', 'online');
      await expect(page.locator('#nick'), 'still in the chat').toHaveCount(0);
    }
  });

  test("a guest's direct message reaches both of alice's tabs, marked as from a guest", async ({ browser }) => {
    carol = await h.openChat(browser, url, 'carol');
    await expect(carol.locator('#me-guest'), 'carol is told she is a guest').toHaveCount(1);
    // Who is a guest shows in the member lists, both ways.
    await expect(h.member(alice1, 'carol').locator('.guest')).toHaveCount(1);
    const aliceRow = h.member(carol, 'alice');
    await expect(aliceRow).toHaveCount(1);
    await expect(aliceRow.locator('.guest'), 'alice is a member').toHaveCount(0);

    await aliceRow.locator('button').click();
    await expect(carol.locator('#conversation-title')).toHaveText('@alice');
    const text = `hi alice from a guest ${run}`;
    await h.send(carol, text);
    await h.expectMessage(carol, text);
    for (const page of [alice1, alice2]) {
      const entry = page.locator('#directs li[data-name="@carol"]');
      await entry.locator('button.conv-name').click();
      await h.expectMessage(page, text);
      const group = page.locator('#message-list > li.group[data-sender="carol"]');
      await expect(group.locator('.meta .guest'), 'the DM is marked as from a guest').toHaveCount(1);
    }
  });

  test('a reload keeps alice signed in', async () => {
    await alice1.reload();
    await h.inChat(alice1);
    await expect(me(alice1)).toHaveText('alice');
    await expect(alice1.locator('#nick'), 'no login screen').toHaveCount(0);
    await expect(alice1.locator('#me-guest')).toHaveCount(0);
    // The other tab was not disturbed.
    await expect(alice2.locator('#status')).toHaveAttribute('data-state', 'online');
  });

  test('a guest cannot take the name alice, in any case', async ({ browser }) => {
    // A fresh context for each, so each reason is read from a clean form.
    for (const name of ['alice', 'ALICE']) {
      const page = await h.newPage(browser);
      await page.goto(url);
      await h.login(page, name);
      await expect(loginError(page), name).toHaveText(/taken|account|sign in/i);
      await expect(page.locator('#nick'), 'still on the login form').toBeVisible();
      await expect(page.locator('#message'), 'not in the chat').toHaveCount(0);
      await page.context().close();
    }
  });

  test('a wrong password is explained', async ({ browser }) => {
    const page = await h.newPage(browser);
    await page.goto(url);
    await h.signIn(page, 'alice', 'not the password');
    await expect(loginError(page)).toHaveText(/wrong name or password/i);
    expect(await page.evaluate(() => localStorage.getItem('chat.session'))).toBeNull();
    await page.context().close();
  });

  test('signing out everywhere ends every tab and forgets the session', async () => {
    await alice2.locator('#sign-out-everywhere').click();
    await expect(alice2.locator('#nick')).toBeVisible();
    await expect(alice1.locator('#nick')).toBeVisible();
    await expect(loginError(alice1)).toHaveText(/signed out/i);
    expect(await alice1.evaluate(() => localStorage.getItem('chat.session'))).toBeNull();
    // A reload now shows the login form, and stays there: a saved session would be tried at
    // once after the first render, which disables the form and shows the connection status.
    await alice1.reload();
    await expect(alice1.locator('#nick')).toBeVisible();
    await expect(alice1.locator('#nick'), 'no session is being restored').toBeEnabled();
    await expect(alice1.locator('#status'), 'no connection attempt').toHaveCount(0);
    await expect(alice1.locator('#message')).toHaveCount(0);
  });
});
