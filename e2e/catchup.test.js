// Catching up after a long absence: the client pages what it missed up to a cap (2,000
// messages); past it, it shows the latest page under a gap marker, with "Load older".
'use strict';

const { describe, it, before, after } = require('node:test');
const assert = require('node:assert/strict');
const h = require('./helpers');

const MISSED = 2_100;

describe('catching up after a long absence', () => {
  let server, browser, url, alice;

  before(async () => {
    server = h.newServer({ store: 'sqlite', args: ['--rate-per-sec', '0'] });
    url = await server.start();
    browser = await h.launchBrowser();
    alice = await h.openChat(browser, url, 'away');
  });

  after(async () => {
    if (alice) await h.screenshot(alice, 'away-gap');
    if (browser) await browser.close();
    if (server) await server.stop();
    if (alice) assert.deepEqual(alice.errors, [], 'no uncaught errors in the page');
  });

  it('past the cap, the latest page shows under a gap marker with "Load older"', async () => {
    await h.send(alice, 'seen before');
    await h.waitMessages(alice, h.hasText('seen before'), 'the first message');
    await server.stop('SIGTERM');
    // Failed retries stretch the reconnect wait: long enough to post while she is away.
    await h.waitFor(alice, async () => {
      const m = /reconnecting in (\d+) s/.exec(await alice.locator('#status').textContent());
      return m !== null && Number(m[1]) >= 5;
    }, 'a reconnect wait of 5 s or more', 40_000);
    await server.start();
    const flooder = await (await browser.newContext()).newPage();
    await flooder.goto(url);
    const acked = await flooder.evaluate(async (n) => {
      const ws = new WebSocket(`ws://${location.host}/chat`);
      let acks = 0;
      let joined;
      const done = new Promise((resolve) => {
        ws.onmessage = (e) => {
          const m = JSON.parse(e.data);
          if (m.type === 'joined') joined();
          if (m.type === 'ack' && ++acks === n) resolve(acks);
        };
        setTimeout(() => resolve(acks), 30_000);
      });
      await new Promise((r) => { ws.onopen = r; });
      ws.send(JSON.stringify({ type: 'hello', nick: 'chatty', protocol: 1 }));
      ws.send(JSON.stringify({ type: 'join', room: 'general' }));
      await new Promise((r) => { joined = r; });
      for (let i = 0; i < n; i++) {
        ws.send(JSON.stringify({ type: 'send', room: 'general', text: `missed ${i}`, client_id: `m${i}` }));
      }
      return done;
    }, MISSED);
    assert.equal(acked, MISSED, 'every missed message was stored');
    const status = await alice.locator('#status').getAttribute('data-state');
    assert.notEqual(status, 'online', 'alice was still away while they were posted');
    await alice.getByRole('button', { name: 'retry now' }).click();
    await alice.locator('#status[data-state="online"]').waitFor({ timeout: 20_000 });
    await alice.locator('#gap').waitFor({ timeout: 20_000 });
    const shown = await h.waitMessages(alice, h.hasText(`missed ${MISSED - 1}`), 'the newest missed message');
    assert.ok(shown.length <= 100, `only the latest page is held: ${shown.length} messages`);
    assert.ok(!shown.some((m) => m.text === 'seen before' || m.text === 'missed 0'), 'what was held and the oldest missed are not shown');
    // "Load older" brings the page before, and the marker stays until the gap is closed.
    const before = shown.length;
    await alice.locator('#older').click();
    await h.waitMessages(alice, (l) => l.length > before, 'an older page');
    assert.ok(await alice.locator('#gap').isVisible());
  });
});
