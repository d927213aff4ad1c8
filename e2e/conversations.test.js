// Conversations that outlive a connection, in the browser: a direct message to an offline
// account waits for its next sign-in with an unread badge; reading it in one tab clears the
// badge in the user's other tab (the server's `read` reaches every connection); an invite-only
// room stays out of the listing of those not invited, refuses them by name, and opens to an
// invited member.
'use strict';

const { describe, it, before, after } = require('node:test');
const assert = require('node:assert/strict');
const h = require('./helpers');

const STORE = process.env.E2E_STORE || 'sqlite';
const PASSWORD = 'correct horse battery';
const run = Date.now().toString(36);

/** The unread count on the direct conversation with `peer` ('' when there is no badge). */
async function dmBadge(page, peer) {
  const badge = page.locator(`#directs li[data-name="@${peer}"] .badge:not(.mention-badge)`);
  return (await badge.count()) ? (await badge.textContent()).trim() : '';
}

async function title(page) {
  return (await page.locator('#conversation-title').textContent()).trim();
}

async function roomNames(page, list) {
  return page.$$eval(`#${list} li .name`, (els) => els.map((e) => e.textContent.trim()));
}

describe('conversations', () => {
  let server, browser, url, alice, bob1, bob2, carol;
  const dm = `are you there? ${run}`;

  before(async () => {
    server = h.newServer({ store: STORE });
    url = await server.start();
    browser = await h.launchBrowser();
  });

  after(async () => {
    for (const [p, name] of [[alice, 'alice'], [bob1, 'bob1'], [bob2, 'bob2'], [carol, 'carol']]) {
      if (p) await h.screenshot(p, `conversations-${name}`);
    }
    if (browser) await browser.close();
    if (server) await server.stop();
    for (const p of [alice, bob1, bob2, carol]) {
      if (p) assert.deepEqual(p.errors, [], 'no uncaught errors in the page');
    }
  });

  it('a direct message to an offline account shows on its next sign-in with an unread badge', async () => {
    const first = await h.openAccount(browser, url, 'bob', PASSWORD, '#register');
    await first.context().close();

    alice = await h.openAccount(browser, url, 'alice', PASSWORD, '#register');
    await alice.locator('#dm-input').fill('bob');
    await alice.locator('#dm-input').press('Enter');
    await h.waitFor(alice, async () => (await title(alice)) === '@bob', 'the DM with bob open');
    await h.send(alice, dm);
    await h.waitMessages(alice, h.hasText(dm), 'alice to see her DM stored');

    bob1 = await h.openAccount(browser, url, 'bob', PASSWORD, '#sign-in');
    await h.waitFor(bob1, async () => (await dmBadge(bob1, 'alice')) === '1', 'an unread badge on @alice');
    assert.equal(await title(bob1), '#general', 'the DM is waiting, not opened');
  });

  it("reading the DM in one tab clears the badge in the user's other tab", async () => {
    // A second tab of the same browser: back in with the saved session, as a reload would.
    bob2 = await bob1.context().newPage();
    bob2.errors = [];
    bob2.on('pageerror', (e) => bob2.errors.push(String(e)));
    await bob2.goto(url);
    await bob2.locator('#status[data-state="online"]').waitFor();
    assert.equal((await bob2.locator('#me').textContent()).trim(), 'bob');
    await h.waitFor(bob2, async () => (await dmBadge(bob2, 'alice')) === '1', 'the badge in the second tab');

    await bob1.locator('#directs li[data-name="@alice"] button.conv-name').click();
    await h.waitMessages(bob1, h.hasText(dm), 'the DM shown in the first tab');
    await h.waitFor(bob1, async () => (await dmBadge(bob1, 'alice')) === '', 'no badge in the tab that read it');
    await h.waitFor(bob2, async () => (await dmBadge(bob2, 'alice')) === '', 'no badge in the other tab');
    assert.equal(await title(bob2), '#general', 'the other tab did not open the DM itself');
  });

  it('an invite-only room is hidden from and refuses the uninvited, and opens to an invited member', async () => {
    const open = `open-${run}`;
    const secret = `secret-${run}`;
    for (const [name, inviteOnly] of [[open, false], [secret, true]]) {
      await alice.locator('#room-input').fill(name);
      await alice.locator('#invite-only').setChecked(inviteOnly);
      await alice.locator('#create-room').click();
      await h.waitFor(alice, async () => (await title(alice)) === `#${name}`, `alice in #${name}`);
    }

    carol = await h.openAccount(browser, url, 'carol', PASSWORD, '#register');
    await carol.locator('#refresh-rooms').click();
    // The public room made just before proves the listing is the fresh one.
    await h.waitFor(carol, async () => (await roomNames(carol, 'other-rooms')).includes(`#${open}`), 'the listing');
    assert.ok(!(await roomNames(carol, 'other-rooms')).includes(`#${secret}`), 'the invite-only room is not listed');

    await carol.locator('#room-input').fill(secret);
    await carol.locator('#room-input').press('Enter');
    const notice = carol.locator('.notice[role="alert"]');
    await notice.waitFor();
    assert.match(await notice.textContent(), /invite/i, 'carol is told the room is invite-only');
    await h.waitFor(carol, async () => !(await roomNames(carol, 'rooms')).includes(`#${secret}`), 'no placeholder for the refused room');

    await alice.locator('#mod-nick').fill('bob');
    await alice.locator('#mod-invite').click();
    await alice.locator('#message-list .system-line', { hasText: 'alice invited bob' }).waitFor();

    await h.waitFor(bob1, async () => (await roomNames(bob1, 'other-rooms')).includes(`#${secret}`), 'bob to see the room listed');
    await bob1.locator('#other-rooms li', { hasText: `#${secret}` }).locator('button').click();
    await h.waitFor(bob1, async () => (await title(bob1)) === `#${secret}`, 'bob in the room');
    assert.ok((await roomNames(bob1, 'rooms')).includes(`#${secret}`), 'the room is among bob\'s rooms');
    await h.waitFor(alice, async () => (await h.members(alice)).includes('bob'), 'alice to see bob join');
  });
});
