// Accessibility scans with axe-core (injected into the page by Playwright): the sign-in screen,
// the chat with a conversation and its members, and the phone layout with the drawer closed and
// open report no serious or critical violation, in the light and the dark colour scheme.
// Every violation found, of any impact, is attached to the report; AXE_VERBOSE=1 prints them.
'use strict';

const { test, expect } = require('@playwright/test');
const h = require('./helpers');

const PHONE = { viewport: { width: 390, height: 844 }, isMobile: true, hasTouch: true };
const SERIOUS = ['serious', 'critical'];

/**
 * Runs axe-core on the whole page; attaches every violation (minor and moderate too) to the
 * test's report, and returns the serious and critical ones.
 */
async function scan(page, what) {
  await page.addScriptTag({ path: require.resolve('axe-core') });
  const results = await page.evaluate(() => axe.run(document, { resultTypes: ['violations'] }));
  await test.info().attach(`axe ${what}`, {
    body: JSON.stringify(results.violations, null, 2),
    contentType: 'application/json',
  });
  if (process.env.AXE_VERBOSE) console.log(`${what}:\n${report(results.violations)}`);
  return results.violations.filter((v) => SERIOUS.includes(v.impact));
}

/** One readable line per violation and per node: rule, impact, target, what axe says. */
function report(violations) {
  return violations
    .flatMap((v) => [
      `${v.id} (${v.impact}): ${v.help} [${v.helpUrl}]`,
      ...v.nodes.map((n) => `    ${n.target.join(' ')}: ${n.failureSummary.replace(/\s*\n\s*/g, ' ')}`),
    ])
    .join('\n');
}

async function expectNoSerious(page, what) {
  const violations = await scan(page, what);
  expect(violations.map((v) => v.id), `${what}: serious or critical violations:\n${report(violations)}`).toEqual([]);
}

for (const colorScheme of ['light', 'dark']) {
  test.describe(`accessibility (${colorScheme})`, () => {
    test.describe.configure({ mode: 'serial' });
    let server, url, ana, bob;

    test.beforeAll(async ({ browser }) => {
      server = h.newServer();
      url = await server.start();
      bob = await h.openChat(browser, url, 'bob', { colorScheme });
    });

    test.afterAll(async () => {
      if (server) await server.stop();
      for (const p of [ana, bob]) {
        if (p) expect(p.errors, 'no uncaught errors in the page').toEqual([]);
      }
    });

    test('the sign-in screen', async ({ browser }) => {
      const page = await h.newPage(browser, { colorScheme });
      await page.goto(url);
      await expect(page.locator('#nick')).toBeVisible();
      await expectNoSerious(page, 'sign-in screen');
      // With a reason shown under the form too.
      await h.login(page, 'bob');
      await expect(page.locator('#login-error')).not.toHaveText(/^\s*$/);
      await expectNoSerious(page, 'sign-in screen with an error');
      await page.context().close();
    });

    test('the chat, with messages and members', async ({ browser }) => {
      ana = await h.openChat(browser, url, 'ana', { colorScheme });
      await h.send(ana, 'hello from ana');
      await h.send(bob, 'hi ana, welcome');
      await h.expectMessage(ana, 'hello from ana');
      await h.expectMessage(ana, 'hi ana, welcome');
      await expect(h.member(ana, 'bob')).toHaveCount(1);
      await expect(h.member(ana, 'ana')).toHaveCount(1);
      await expectNoSerious(ana, 'chat');
    });

    test('the phone layout, drawer closed and open', async ({ browser }) => {
      const phone = await h.openChat(browser, url, 'dana', { ...PHONE, colorScheme });
      await h.expectMessage(phone, 'hi ana, welcome');
      await expect(phone.locator('#sidebar')).toBeHidden();
      await expectNoSerious(phone, 'phone, drawer closed');
      await phone.locator('button.menu').click();
      await expect(phone.locator('#sidebar')).toBeVisible();
      await expect(h.member(phone, 'ana')).toBeVisible();
      await expectNoSerious(phone, 'phone, drawer open');
      await phone.context().close();
    });
  });
}
