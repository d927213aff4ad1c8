// Conversations that outlive a connection, in the browser: a direct message to an offline
// account waits for its next sign-in with an unread badge; reading it in one tab clears the
// badge in the user's other tab (the server's `read` reaches every connection); an invite-only
// room stays out of the listing of those not invited, refuses them by name, and opens to an
// invited member.
'use strict';

const { test, expect } = require('@playwright/test');
const h = require('./helpers');

const STORE = process.env.E2E_STORE || 'sqlite';
const PASSWORD = 'correct horse battery';
const run = Date.now().toString(36);

/** The unread count on the direct conversation with `peer` (absent when nothing is unread). */
const dmBadge = (page, peer) => page.locator(`#directs li[data-name="@${peer}"] .badge:not(.mention-badge)`);

const title = (page) => page.locator('#conversation-title');

/** The room names in the sidebar list `list` (`rooms` or `other-rooms`). */
async function roomNames(page, list) {
  return page.locator(`#${list} li .name`).evaluateAll((els) => els.map((e) => e.textContent.trim()));
}

test.describe('conversations', () => {
  // The tests share the server and the users' pages, and build on each other.
  test.describe.configure({ mode: 'serial' });
  let server, url, alice, bob1, bob2, carol;
  const dm = `are you there? ${run}`;

  test.beforeAll(async () => {
    server = h.newServer({ store: STORE });
    url = await server.start();
  });

  test.afterAll(async ({}, testInfo) => {
    for (const [p, name] of [[alice, 'alice'], [bob1, 'bob1'], [bob2, 'bob2'], [carol, 'carol']]) {
      if (p) await h.screenshot(p, testInfo, `conversations-${name}`).catch(() => {});
    }
    if (server) await server.stop();
    for (const p of [alice, bob1, bob2, carol]) {
      if (p) expect(p.errors, 'no uncaught errors in the page').toEqual([]);
    }
  });

  test('a direct message to an offline account shows on its next sign-in with an unread badge', async ({ browser }) => {
    const first = await h.openAccount(browser, url, 'bob', PASSWORD, '#register');
    await first.context().close();

    alice = await h.openAccount(browser, url, 'alice', PASSWORD, '#register');
    await alice.locator('#dm-input').fill('bob');
    await alice.locator('#dm-input').press('Enter');
    await expect(title(alice), 'the DM with bob open').toHaveText('@bob');
    await h.send(alice, dm);
    await h.expectMessage(alice, dm);

    bob1 = await h.openAccount(browser, url, 'bob', PASSWORD, '#sign-in');
    await expect(dmBadge(bob1, 'alice'), 'an unread badge on @alice').toHaveText('1');
    await expect(title(bob1), 'the DM is waiting, not opened').toHaveText('#general');
  });

  test("reading the DM in one tab clears the badge in the user's other tab", async () => {
    // A second tab of the same browser: back in with the saved session, as a reload would.
    bob2 = h.watch(await bob1.context().newPage());
    await bob2.goto(url);
    await expect(bob2.locator('#status')).toHaveAttribute('data-state', 'online');
    await expect(bob2.locator('#me')).toHaveText('bob');
    await expect(dmBadge(bob2, 'alice'), 'the badge in the second tab').toHaveText('1');

    await bob1.locator('#directs li[data-name="@alice"] button.conv-name').click();
    await h.expectMessage(bob1, dm);
    await expect(dmBadge(bob1, 'alice'), 'no badge in the tab that read it').toHaveCount(0);
    await expect(dmBadge(bob2, 'alice'), 'no badge in the other tab').toHaveCount(0);
    await expect(title(bob2), 'the other tab did not open the DM itself').toHaveText('#general');
  });

  test('an invite-only room is hidden from and refuses the uninvited, and opens to an invited member', async ({ browser }) => {
    const open = `open-${run}`;
    const secret = `secret-${run}`;
    for (const [name, inviteOnly] of [[open, false], [secret, true]]) {
      await alice.locator('#room-input').fill(name);
      await alice.locator('#invite-only').setChecked(inviteOnly);
      await alice.locator('#create-room').click();
      await expect(title(alice), `alice in #${name}`).toHaveText(`#${name}`);
    }

    carol = await h.openAccount(browser, url, 'carol', PASSWORD, '#register');
    await carol.locator('#refresh-rooms').click();
    // The public room made just before proves the listing is the fresh one.
    await expect.poll(() => roomNames(carol, 'other-rooms'), { message: 'the listing' }).toContain(`#${open}`);
    expect(await roomNames(carol, 'other-rooms'), 'the invite-only room is not listed').not.toContain(`#${secret}`);

    await carol.locator('#room-input').fill(secret);
    await carol.locator('#room-input').press('Enter');
    await expect(carol.locator('.notice[role="alert"]'), 'carol is told the room is invite-only').toHaveText(/invite/i);
    await expect.poll(() => roomNames(carol, 'rooms'), { message: 'no placeholder for the refused room' }).not.toContain(`#${secret}`);

    await alice.locator('#mod-nick').fill('bob');
    await alice.locator('#mod-invite').click();
    await expect(alice.locator('#message-list .system-line', { hasText: 'alice invited bob' })).toBeVisible();

    await expect.poll(() => roomNames(bob1, 'other-rooms'), { message: 'bob to see the room listed' }).toContain(`#${secret}`);
    await bob1.locator('#other-rooms li', { hasText: `#${secret}` }).locator('button').click();
    await expect(title(bob1), 'bob in the room').toHaveText(`#${secret}`);
    expect(await roomNames(bob1, 'rooms'), "the room is among bob's rooms").toContain(`#${secret}`);
    await expect(h.member(alice, 'bob'), 'alice to see bob join').toHaveCount(1);
  });
});
