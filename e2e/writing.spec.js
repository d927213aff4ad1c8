// Writing in the web client against the real server, in Debian's Chromium: links arrive as safe
// anchors while markup and other schemes stay text, `@` completes a member's name from the
// keyboard and the message mentions them, Shift+Enter makes a message of two lines, and ↑ in
// the empty composer edits the last message for everyone.
'use strict';

const { test, expect } = require('@playwright/test');
const h = require('./helpers');

const PASSWORD = 'correct horse battery';

/** The delivered message on `page` whose text is exactly `text`. */
const line = (page, text) => h.message(page, text).first();

/** The serious and critical axe-core violations in the composer, by rule. */
async function composerViolations(page) {
  await page.addScriptTag({ path: require.resolve('axe-core') });
  const found = await page.evaluate(() => axe.run('.composer', { resultTypes: ['violations'] }));
  return found.violations.filter((v) => ['serious', 'critical'].includes(v.impact)).map((v) => v.id);
}

test.describe('writing in the browser', () => {
  // The tests share the server and the pages, and build on each other.
  test.describe.configure({ mode: 'serial' });
  let server, url, alice, bob, bert;

  test.beforeAll(async ({ browser }) => {
    server = h.newServer();
    url = await server.start();
    // Accounts: only a signed-in user may edit.
    alice = await h.openAccount(browser, url, 'alice', PASSWORD, '#register');
    bob = await h.openAccount(browser, url, 'bob', PASSWORD, '#register');
    // A second name starting with `b`, so the completion has a choice to make.
    bert = await h.openChat(browser, url, 'bert');
    await expect(h.member(alice, 'bob')).toHaveCount(1);
    await expect(h.member(alice, 'bert')).toHaveCount(1);
  });

  test.afterAll(async ({}, testInfo) => {
    for (const [name, page] of [['alice', alice], ['bob', bob]]) {
      if (page) await h.screenshot(page, testInfo, name).catch(() => {});
    }
    if (server) await server.stop();
    for (const p of [alice, bob, bert]) {
      if (p) expect(p.errors, 'no uncaught errors in the page').toEqual([]);
    }
  });

  test('a link arrives as a safe anchor; markup and javascript: stay text', async () => {
    const text = 'docs at https://example.org/a?b=1. <b>x</b> javascript:alert(1)';
    await h.send(alice, text);
    await h.expectMessage(bob, text);
    const shown = line(bob, text).locator('.text');
    const link = shown.locator('a');
    await expect(link).toHaveCount(1);
    await expect(link).toHaveText('https://example.org/a?b=1');
    await expect(link).toHaveAttribute('href', 'https://example.org/a?b=1');
    await expect(link).toHaveAttribute('target', '_blank');
    await expect(link).toHaveAttribute('rel', 'noopener noreferrer');
    await expect(shown.locator('b, script, img'), 'no markup became an element').toHaveCount(0);
    await expect(shown).toContainText('<b>x</b> javascript:alert(1)');
    await expect(bob.locator('#message-list a[href^="javascript:"]')).toHaveCount(0);
    expect(bob.dialogs, 'no script ran').toEqual([]);
  });

  test('@ completes a member from the keyboard, and the message mentions them', async () => {
    const box = alice.locator('#message');
    const list = alice.locator('#mention-list');
    await box.pressSequentially('hey @b');
    await expect(list).toBeVisible();
    await expect(list).toHaveAttribute('role', 'listbox');
    await expect(list.getByRole('option')).toHaveText(['bert', 'bob']);
    await expect(box).toHaveAttribute('aria-controls', 'mention-list');
    await expect(box).toHaveAttribute('aria-activedescendant', 'mention-0');
    expect(await composerViolations(alice), 'the open list passes axe').toEqual([]);
    await box.press('ArrowDown');
    await expect(list.getByRole('option', { name: 'bob' })).toHaveAttribute('aria-selected', 'true');
    await expect(box).toHaveAttribute('aria-activedescendant', 'mention-1');
    await box.press('Enter');
    await expect(box, 'Enter took the name and sent nothing').toHaveValue('hey @bob ');
    await expect(list).toHaveCount(0);
    await expect(box).not.toHaveAttribute('aria-controls');
    await expect(box).not.toHaveAttribute('aria-activedescendant');
    await box.pressSequentially('look at this');
    await box.press('Enter');
    const text = 'hey @bob look at this';
    await h.expectMessage(bob, text);
    await expect(line(bob, text), 'bob sees a mention of him').toHaveClass(/\bmention\b/);
    await h.expectMessage(bert, text);
    await expect(line(bert, text), 'bert is not mentioned').not.toHaveClass(/\bmention\b/);
    // An address is no mention: the list stays shut.
    await box.pressSequentially('write to bob@b');
    await expect(list).toHaveCount(0);
    await box.fill('');
  });

  test('Shift+Enter makes a message of two lines; the box grows with them', async () => {
    const box = alice.locator('#message');
    const oneLine = (await box.boundingBox()).height;
    await box.pressSequentially('line one');
    await box.press('Shift+Enter');
    await box.pressSequentially('line two');
    await expect(box).toHaveValue('line one\nline two');
    await expect.poll(async () => (await box.boundingBox()).height, 'the box grew').toBeGreaterThan(oneLine);
    await box.press('Enter');
    await expect(box).toHaveValue('');
    const text = 'line one\nline two';
    await h.expectMessage(bob, text);
    const shown = line(bob, text).locator('.text');
    // Shown on two lines: as tall as two lines of the one-line message before it.
    const single = await line(bob, 'hey @bob look at this').locator('.text').boundingBox();
    const double = await shown.boundingBox();
    expect(double.height).toBeGreaterThan(single.height * 1.5);
    expect(await shown.evaluate((el) => el.innerText)).toBe(text);
  });

  test('↑ in the empty box edits the last message; everyone sees it edited', async () => {
    const box = alice.locator('#message');
    const bar = alice.locator('#editing');
    // Esc leaves the edit without a change.
    await box.press('ArrowUp');
    await expect(box).toHaveValue('line one\nline two');
    await expect(bar).toContainText('Editing message · Esc to cancel');
    expect(await composerViolations(alice), 'the edit bar passes axe').toEqual([]);
    await box.press('Escape');
    await expect(box).toHaveValue('');
    await expect(bar).toHaveCount(0);

    await box.press('ArrowUp');
    await expect(box).toHaveValue('line one\nline two');
    await box.fill('line one, edited');
    await box.press('Enter');
    await expect(bar).toHaveCount(0);
    await expect(box).toHaveValue('');
    for (const page of [bob, alice]) {
      await h.expectMessage(page, 'line one, edited');
      await expect(line(page, 'line one, edited').locator('.edited')).toHaveText(/^\s*\(edited\)$/);
      await expect(h.message(page, 'line one\nline two')).toHaveCount(0);
    }
    // The edit is no new message.
    const texts = (await h.messages(bob)).map((m) => m.text);
    expect(texts.slice(-2)).toEqual(['hey @bob look at this', 'line one, edited']);
  });
});
