// A tab kept open all day: every conversation has an address (back and forward move between
// them, a reload lands where you were, an address naming nothing falls back to the open
// conversation); a reload reconnects by itself and brings back the rooms (a guest's from this
// tab, a member's from the server), the drafts and the open conversation; signing out leaves
// nothing behind in the browser.
'use strict';

const { test, expect } = require('@playwright/test');
const h = require('./helpers');

const PASSWORD = 'correct horse battery';
const title = (page) => page.locator('#conversation-title');
const hash = (page) => page.evaluate(() => location.hash);

test.describe('continuity', () => {
  let server, url;
  const pages = [];

  test.beforeAll(async () => {
    server = h.newServer();
    url = await server.start();
  });

  test.afterAll(async () => {
    if (server) await server.stop();
    for (const p of pages) expect(p.errors, 'no uncaught errors in the page').toEqual([]);
  });

  test('each conversation has an address; back, forward and reload follow it', async ({ browser }) => {
    const ann = await h.openChat(browser, url, 'ann');
    pages.push(ann);
    await expect.poll(() => hash(ann)).toBe('#/r/general');
    await h.joinRoom(ann, 'dev');
    await expect.poll(() => hash(ann)).toBe('#/r/dev');
    await h.send(ann, 'hello dev');
    await h.expectMessage(ann, 'hello dev');

    await ann.goBack();
    await expect(title(ann), 'back: the previous conversation').toHaveText('#general');
    await ann.goForward();
    await expect(title(ann), 'forward again').toHaveText('#dev');

    // A typed address opens its conversation (a DM here, created on first use).
    await ann.evaluate(() => { location.hash = '#/dm/bob'; });
    await expect(title(ann)).toHaveText('@bob');

    // An address naming nothing: the conversation stays, the address is put right.
    await ann.evaluate(() => { location.hash = '#/nowhere/at-all'; });
    await expect.poll(() => hash(ann)).toBe('#/dm/bob');
    await expect(title(ann)).toHaveText('@bob');

    // Reload: back as the same guest, online by itself, in the same conversation, rooms kept.
    await ann.evaluate(() => { location.hash = '#/r/dev'; });
    await expect(title(ann)).toHaveText('#dev');
    await ann.reload();
    await h.inChat(ann);
    await expect(title(ann), 'the reload lands where it was').toHaveText('#dev');
    await expect(ann.locator('#me')).toHaveText('ann');
    await h.expectMessage(ann, 'hello dev');
    await expect(h.room(ann, 'general')).toBeVisible();

    // Opening the page at an address goes straight there.
    const other = await h.newPage(browser);
    pages.push(other);
    await other.goto(`${url}#/r/dev`);
    await h.login(other, 'cy');
    await h.inChat(other);
    await expect(title(other)).toHaveText('#dev');
    await h.expectMessage(other, 'hello dev');
  });

  test('a member gets its rooms and drafts back after a reload, and signing out clears them', async ({ browser }) => {
    const eve = await h.openAccount(browser, url, 'eve', PASSWORD, '#register');
    pages.push(eve);
    await h.joinRoom(eve, 'plans');
    await eve.locator('#message').fill('half a thought');
    await h.openRoom(eve, 'general');
    await eve.locator('#message').fill('another draft');
    await eve.reload();
    await h.inChat(eve);
    await expect(title(eve)).toHaveText('#general');
    await expect(h.room(eve, 'plans'), 'the room comes back from the server').toBeVisible();
    await expect(eve.locator('#message')).toHaveValue('another draft');
    await h.openRoom(eve, 'plans');
    await expect(eve.locator('#message'), 'each conversation keeps its own draft').toHaveValue('half a thought');

    // The same account in a fresh browser: the rooms are the server's, the drafts this browser's.
    const elsewhere = await h.openAccount(browser, url, 'eve', PASSWORD);
    pages.push(elsewhere);
    await expect(h.room(elsewhere, 'plans')).toBeVisible();
    await expect(elsewhere.locator('#message')).toHaveValue('');

    await eve.locator('#disconnect').click();
    await expect(eve.locator('#nick')).toBeVisible();
    const stored = await eve.evaluate(() => [localStorage.length, sessionStorage.length]);
    expect(stored, 'nothing left in the browser after signing out').toEqual([0, 0]);
    await eve.reload();
    await expect(eve.locator('#nick'), 'a reload stays signed out').toBeVisible();
    await expect(eve.locator('#status')).toHaveCount(0);
  });
});
