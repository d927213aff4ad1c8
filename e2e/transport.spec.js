// Long polling, the fallback for networks that break WebSocket: a browser context whose every
// WebSocket is closed by Playwright (`routeWebSocket`) chats both ways with a WebSocket user
// over `/poll`; a proxy that passes the upgrade and drops frames is left for polling; every
// message survives a server restart exactly once; the choice is remembered for the tab; and a
// guest or a signed-in member moves back to the WebSocket once it works again.
'use strict';

const { test, expect } = require('@playwright/test');
const h = require('./helpers');

const run = Date.now().toString(36).slice(-4);

/**
 * A page in a new context whose WebSockets are closed at once while `gate.blocked` holds, and
 * reach the server otherwise; `gate.sockets` counts the attempts, `gate.polls` the `/poll`
 * requests.
 */
async function gatedPage(browser) {
  const page = await h.newPage(browser);
  const gate = { blocked: true, sockets: 0, polls: 0 };
  await page.context().routeWebSocket(/.*/, (ws) => {
    gate.sockets += 1;
    if (gate.blocked) ws.close();
    else ws.connectToServer();
  });
  page.on('request', (r) => {
    if (new URL(r.url()).pathname === '/poll') gate.polls += 1;
  });
  return { page, gate };
}

const badge = (page) => page.locator('#status .label');

test.describe('long polling', () => {
  let server, url, wendy, polly, gate;

  test.beforeAll(async ({ browser }) => {
    server = h.newServer({ store: 'sqlite' });
    url = await server.start();
    wendy = await h.openChat(browser, url, `wendy${run}`);
  });

  test.afterAll(async () => {
    if (server) await server.stop();
    for (const p of [wendy, polly]) {
      if (p) expect(p.errors, 'no uncaught errors in the page').toEqual([]);
    }
  });

  test('a browser without WebSocket chats both ways with a WebSocket user', async ({ browser }) => {
    ({ page: polly, gate } = await gatedPage(browser));
    await polly.goto(url);
    await h.login(polly, `polly${run}`);
    await h.inChat(polly);
    expect(gate.sockets, 'the WebSocket was tried first').toBeGreaterThan(0);
    expect(gate.polls, 'then /poll carried the chat').toBeGreaterThan(0);
    await expect(badge(polly)).toHaveText('online · long polling');
    await expect(badge(wendy)).toHaveText('online · WebSocket');

    await h.send(polly, `from polly ${run}`);
    await h.expectMessage(wendy, `from polly ${run}`);
    await h.expectMessage(polly, `from polly ${run}`);
    await h.send(wendy, `from wendy ${run}`);
    await h.expectMessage(polly, `from wendy ${run}`);
    // Several sends in a row (some while a POST is out) all arrive, in order.
    for (let i = 1; i <= 5; i++) await h.send(polly, `burst ${run} ${i}`);
    await h.expectMessage(wendy, `burst ${run} 5`);
    const texts = (await h.messages(wendy)).map((m) => m.text).filter((t) => t.startsWith(`burst ${run}`));
    expect(texts).toEqual([1, 2, 3, 4, 5].map((i) => `burst ${run} ${i}`));

    // The choice is remembered for the tab: after a reload, polling comes first.
    expect(await polly.evaluate(() => sessionStorage.getItem('chat.transport'))).toBeTruthy();
    const sockets = gate.sockets;
    await polly.reload();
    await h.inChat(polly);
    await expect(badge(polly)).toHaveText('online · long polling');
    expect(gate.sockets, 'no WebSocket tried before the reload came back').toBe(sockets);
    await h.expectMessage(polly, `from wendy ${run}`);
  });

  test('a proxy that passes the upgrade and drops frames is left for polling', async ({ browser }) => {
    const page = await h.newPage(browser);
    // The page's frames reach the server; the server's never come back.
    await page.context().routeWebSocket(/.*/, (ws) => {
      ws.connectToServer().onMessage(() => {});
    });
    await page.goto(url);
    await h.login(page, `mute${run}`);
    await h.inChat(page, 20_000);
    await expect(badge(page)).toHaveText('online · long polling');
    await h.send(page, `through the fallback ${run}`);
    await h.expectMessage(wendy, `through the fallback ${run}`);
    expect(page.errors).toEqual([]);
    await page.context().close();
  });

  test('through a server restart nothing is lost or repeated', async () => {
    test.setTimeout(180_000);
    const tag = `rs${run}`;
    const texts = [];
    const say = async (page, text) => {
      texts.push(text);
      await h.send(page, text);
    };
    await say(polly, `${tag} before 1`);
    await say(wendy, `${tag} before 2`);
    for (const p of [polly, wendy]) await h.expectMessage(p, `${tag} before 2`);

    // A clean shutdown: the poll session ends (1001) like the socket does.
    await server.stop('SIGTERM');
    for (const p of [polly, wendy]) {
      await expect(p.locator('#status')).toHaveAttribute('data-state', /^(reconnecting|connecting)$/);
    }
    await say(polly, `${tag} while down`);
    await h.expectMessage(polly, `${tag} while down`, { state: 'pending' });
    await server.start();
    for (const p of [polly, wendy]) {
      await expect(p.locator('#status')).toHaveAttribute('data-state', 'online', { timeout: 40_000 });
      await h.expectMessage(p, `${tag} while down`);
    }
    await expect(badge(polly)).toHaveText('online · long polling');
    await say(wendy, `${tag} after 1`);
    await say(polly, `${tag} after 2`);

    // A crash right after a send (no close at all): acked or not, it arrives once.
    await say(polly, `${tag} at the crash`);
    await server.stop('SIGKILL');
    await server.start();
    for (const p of [polly, wendy]) {
      await expect(p.locator('#status')).toHaveAttribute('data-state', 'online', { timeout: 40_000 });
    }
    await say(wendy, `${tag} after crash`);

    // Every message once, none pending. Sorted: the one sent as the server died may have been
    // resent after the restart, and so land after messages others sent later.
    for (const [name, p] of [['polly', polly], ['wendy', wendy]]) {
      await expect
        .poll(async () => {
          const l = await h.messages(p);
          return {
            texts: l.map((m) => m.text).filter((t) => t.startsWith(tag)).sort(),
            waiting: l.filter((m) => m.state !== 'delivered').length,
          };
        }, { message: `${name} holds every message once`, timeout: 30_000 })
        .toEqual({ texts: [...texts].sort(), waiting: 0 });
    }
  });

  test('once WebSocket works again, the tab moves back to it', async () => {
    // The probe runs 30 s after the poll session's welcome, longer after each failed probe:
    // a reload starts the count again, and still starts on polling (remembered for the tab).
    test.setTimeout(120_000);
    gate.blocked = false;
    await polly.reload();
    await h.inChat(polly);
    await expect(badge(polly)).toHaveText('online · long polling');
    await expect(badge(polly)).toHaveText('online · WebSocket', { timeout: 60_000 });
    expect(await polly.evaluate(() => sessionStorage.getItem('chat.transport'))).toBeNull();
    const polls = gate.polls;
    await h.send(polly, `back on ws ${run}`);
    await h.expectMessage(wendy, `back on ws ${run}`);
    await h.send(wendy, `to ws polly ${run}`);
    await h.expectMessage(polly, `to ws polly ${run}`);
    // At most the DELETE and the last GET's end after the switch: the chat left /poll.
    expect(gate.polls - polls).toBeLessThanOrEqual(2);
    // The switch dropped nothing and repeated nothing.
    const l = (await h.messages(polly)).map((m) => m.text);
    expect(new Set(l).size, 'no message twice').toBe(l.length);
    expect(l).toContain(`from wendy ${run}`);
  });

  test('a signed-in member polls, then moves back to the WebSocket keeping its session', async ({ browser }) => {
    test.setTimeout(120_000);
    const { page, gate: g } = await gatedPage(browser);
    await page.goto(url);
    await h.signIn(page, `mia${run}`, 'a long enough passphrase 42', '#register');
    await h.inChat(page);
    await expect(badge(page)).toHaveText('online · long polling');
    await h.send(page, `mia polls ${run}`);
    await h.expectMessage(wendy, `mia polls ${run}`);
    g.blocked = false;
    await expect(badge(page)).toHaveText('online · WebSocket', { timeout: 60_000 });
    // Still the same account (not a guest), and both ways still work.
    await expect(page.locator('#sign-out-everywhere')).toBeVisible();
    await h.send(wendy, `to ws mia ${run}`);
    await h.expectMessage(page, `to ws mia ${run}`);
    const l = (await h.messages(page)).map((m) => m.text);
    expect(new Set(l).size, 'no message twice').toBe(l.length);
    expect(page.errors).toEqual([]);
    await page.context().close();
  });
});
