// TLS as operators deploy it: Debian's nginx, running the deployment's own site file
// (deploy/nginx/chat.conf) with a self-signed certificate made by the test, in front of the
// server started with the flags the README gives for a proxy. The browser reaches nginx by a
// name that is neither localhost nor an address (chat.test, mapped to 127.0.0.1 inside
// Chromium), so the server's Host and Origin checks are the ones a real deployment meets.
// Two users chat both ways over https:// and wss://, a third over long polling through nginx;
// the Host and Origin refusals hold through it; and each client is counted under the address
// nginx names in X-Forwarded-For.
'use strict';

const https = require('node:https');
const { test, expect } = require('@playwright/test');
const h = require('./helpers');
const { newNginx } = require('./nginx');

const NAME = 'chat.test';
const run = Date.now().toString(36).slice(-4);

// Chromium resolves chat.test to loopback itself: no DNS, no /etc/hosts.
test.use({
  launchOptions: {
    executablePath: h.CHROMIUM,
    args: [...h.CHROMIUM_ARGS, `--host-resolver-rules=MAP ${NAME} 127.0.0.1`],
  },
});

const TLS = { ignoreHTTPSErrors: true };

/**
 * A request to nginx at `from` (127.0.0.1 or ::1) on `port` as `host` (SNI chat.test, the
 * self-signed certificate accepted): resolves to { status, body, headers }; a 101 resolves with
 * the open socket too, for the caller to close.
 */
function request(port, { path = '/', host, headers = {}, from = '127.0.0.1' }) {
  return new Promise((resolve, reject) => {
    const req = https.request({
      host: from, port, path, servername: NAME, rejectUnauthorized: false, timeout: 10_000,
      headers: { Host: host, ...headers },
    });
    req.on('response', (res) => {
      let body = '';
      res.on('data', (c) => { body += c; });
      res.on('end', () => resolve({ status: res.statusCode, body, headers: res.headers }));
    });
    req.on('upgrade', (res, socket) => {
      resolve({ status: res.statusCode, body: '', headers: res.headers, socket });
    });
    req.on('timeout', () => req.destroy(new Error('timed out')));
    req.on('error', reject);
    req.end();
  });
}

/** The headers of a WebSocket handshake for /chat from a page of `origin`. */
const upgrade = (origin) => ({
  Connection: 'Upgrade', Upgrade: 'websocket', 'Sec-WebSocket-Version': '13',
  'Sec-WebSocket-Key': 'dGhlIHNhbXBsZSBub25jZQ==', Origin: origin,
});

/** A new page that records the URL of every WebSocket it opens in `page.sockets`. */
async function tlsPage(browser) {
  const page = await h.newPage(browser, TLS);
  page.sockets = [];
  page.on('websocket', (ws) => page.sockets.push(ws.url()));
  return page;
}

const badge = (page) => page.locator('#status .label');

test.describe('behind nginx with TLS', () => {
  let server, nginx, url, host, alice, bob;

  test.beforeAll(async () => {
    server = h.newServer({
      store: 'memory',
      args: ['--trusted-proxies', '127.0.0.1', '--allowed-hosts', NAME],
    });
    await server.start();
    nginx = newNginx({ name: NAME, upstream: `127.0.0.1:${server.port}` });
    const port = await nginx.start();
    host = `${NAME}:${port}`;
    url = `https://${host}/`;
  });

  test.afterAll(async () => {
    if (nginx) await nginx.stop();
    if (server) await server.stop();
    for (const p of [alice, bob]) {
      if (p) expect(p.errors, 'no uncaught errors in the page').toEqual([]);
    }
  });

  test('two users chat both ways over https and wss', async ({ browser }) => {
    alice = await tlsPage(browser);
    bob = await tlsPage(browser);
    for (const [page, nick] of [[alice, `alice${run}`], [bob, `bob${run}`]]) {
      await page.goto(url);
      expect(page.url()).toBe(url);
      await h.login(page, nick);
      await h.inChat(page);
      await expect(badge(page)).toHaveText('online · WebSocket');
      expect(page.sockets, 'the chat socket went to nginx over TLS').toContain(`wss://${host}/chat`);
      expect(page.sockets.every((u) => u.startsWith('wss://'))).toBe(true);
      expect(await page.evaluate(() => window.isSecureContext)).toBe(true);
    }
    await h.send(alice, `over wss from alice ${run}`);
    await h.expectMessage(bob, `over wss from alice ${run}`);
    await h.send(bob, `over wss from bob ${run}`);
    await h.expectMessage(alice, `over wss from bob ${run}`);
  });

  test('a browser without WebSocket chats over long polling through nginx', async ({ browser }) => {
    const page = await tlsPage(browser);
    await page.context().routeWebSocket(/.*/, (ws) => ws.close());
    const polls = [];
    page.on('request', (r) => {
      if (new URL(r.url()).pathname === '/poll') polls.push(r.url());
    });
    await page.goto(url);
    await h.login(page, `polly${run}`);
    await h.inChat(page);
    await expect(badge(page)).toHaveText('online · long polling');
    expect(polls.length).toBeGreaterThan(0);
    expect(polls.every((u) => u.startsWith(`https://${host}/poll`))).toBe(true);

    await h.send(page, `polled through nginx ${run}`);
    await h.expectMessage(alice, `polled through nginx ${run}`);
    await h.send(alice, `to the poller ${run}`);
    await h.expectMessage(page, `to the poller ${run}`);
    expect(page.errors).toEqual([]);
    await page.context().close();
  });

  test('the server checks the Host and Origin nginx passes on', async () => {
    const port = nginx.port;
    const health = await request(port, { path: '/healthz', host });
    expect(health).toMatchObject({ status: 200, body: 'ok\n' });

    // The page's own origin, port and all, may open the chat; another site's may not.
    const own = await request(port, { path: '/chat', host, headers: upgrade(`https://${host}`) });
    own.socket?.destroy();
    expect(own.status).toBe(101);
    expect((await request(port, { path: '/chat', host, headers: upgrade('https://evil.example') })).status).toBe(403);

    // A name the server was not given (DNS rebinding) is refused, through the proxy too.
    const rebound = await request(port, { path: '/healthz', host: `evil.example:${port}` });
    expect(rebound.status).toBe(403);
    expect(rebound.body).toContain('--allowed-hosts');

    // The server never serves the metrics on its public port (only on --metrics-listen).
    expect((await request(port, { path: '/metrics', host })).status).toBe(404);
  });

  test('nginx carried the browsers\' WebSockets', async () => {
    // nginx logs a request when it ends: a WebSocket when its page closes.
    for (const p of [alice, bob]) await p.context().close();
    await expect.poll(() => nginx.accesses().filter((l) => /"GET \/chat HTTP\/1\.1" 101 /.test(l)).length, {
      message: 'both chat pages upgraded through nginx',
    }).toBeGreaterThanOrEqual(2);
  });
});

// The server counts each client under the address nginx puts in X-Forwarded-For, not under
// nginx's own. Loopback has two client addresses to tell apart: 127.0.0.1 (which is also the
// trusted proxy's) and ::1 (which is not). One WebSocket per address is allowed here.
test.describe('the client address through nginx', () => {
  let server, nginx, host;

  test.beforeAll(async () => {
    server = h.newServer({
      store: 'memory',
      args: ['--trusted-proxies', '127.0.0.1', '--allowed-hosts', NAME, '--max-connections-per-ip', '1'],
    });
    await server.start();
    nginx = newNginx({ name: NAME, upstream: `127.0.0.1:${server.port}` });
    host = `${NAME}:${await nginx.start()}`;
  });

  test.afterAll(async () => {
    if (nginx) await nginx.stop();
    if (server) await server.stop();
  });

  test('each client is counted under its own address, not the proxy\'s', async () => {
    const open = [];
    const ws = async (from) => {
      const res = await request(nginx.port, { path: '/chat', host, from, headers: upgrade(`https://${host}`) });
      if (res.socket) open.push(res.socket);
      return res.status;
    };
    try {
      expect(await ws('127.0.0.1'), 'the first socket from 127.0.0.1').toBe(101);
      expect(await ws('127.0.0.1'), 'a second one from the same client').toBe(503);
      // Through the same nginx, so from the same proxy address, but for another client.
      expect(await ws('::1'), 'a socket from ::1, named in X-Forwarded-For').toBe(101);
      expect(await ws('::1'), 'a second one from ::1').toBe(503);
    } finally {
      open.forEach((s) => s.destroy());
    }
  });
});

