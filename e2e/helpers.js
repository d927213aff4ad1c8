// Shared pieces of the end-to-end tests: start and stop the real server, open the chat in a
// browser context of Playwright's `browser` fixture, and find the chat's parts on a page.
// Waiting is left to Playwright's auto-waiting assertions (`expect(locator)...`, `expect.poll`).
'use strict';

const { spawn } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { expect } = require('@playwright/test');

const ROOT = path.resolve(__dirname, '..');
const TARGET_DIR = process.env.CARGO_TARGET_DIR || path.join(ROOT, 'target');
const SERVER_BIN = process.env.SERVER_BIN || path.join(TARGET_DIR, 'debug', 'server');
const STATIC_DIR = process.env.STATIC_DIR || path.join(ROOT, 'dist');
const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';

// TOOLCHAIN.md's flags for Chromium on these machines (playwright.config.js passes them).
// Playwright gives every launch a new empty profile directory itself (it refuses
// --user-data-dir in `args`).
const CHROMIUM_ARGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--disable-dev-shm-usage',
];

const DESKTOP = { width: 1280, height: 800 };

/** A running server process. `start` on port 0 picks a free port; `restart` reuses it. */
class Server {
  constructor({ store = 'sqlite', dataDir, args = [] } = {}) {
    this.store = store;
    // Guests make rooms in most tests; the ones about who may make rooms pass `false`.
    this.extraArgs = args.includes('--guests-create-rooms') ? args : ['--guests-create-rooms', 'true', ...args];
    this.dataDir = dataDir || fs.mkdtempSync(path.join(os.tmpdir(), 'chat-e2e-data-'));
    this.port = 0;
    this.proc = null;
    this.logFile = path.join(this.dataDir, 'server.log');
    this.starts = 0;
  }

  async start() {
    for (const f of [SERVER_BIN, path.join(STATIC_DIR, 'index.html')]) {
      if (!fs.existsSync(f)) throw new Error(`missing ${f}: build the server and the client first`);
    }
    const args = ['--listen', `127.0.0.1:${this.port}`, '--static-dir', STATIC_DIR, '--store', this.store];
    // Every page and socket of a test comes from 127.0.0.1, and loopback is not exempt from
    // the per-address limits: off, unless the test is about them.
    for (const flag of ['--max-connections-per-ip', '--handshake-rate-per-ip']) {
      if (!this.extraArgs.includes(flag)) args.push(flag, '0');
    }
    if (this.store === 'sqlite') args.push('--data-dir', this.dataDir);
    args.push(...this.extraArgs);
    const log = fs.openSync(this.logFile, 'a');
    fs.writeSync(log, `\n==== start ${++this.starts}: ${SERVER_BIN} ${args.join(' ')}\n`);
    const proc = spawn(SERVER_BIN, args, { stdio: ['ignore', 'pipe', log], env: { ...process.env, RUST_LOG: process.env.RUST_LOG || 'info' } });
    this.proc = proc;
    const url = await new Promise((resolve, reject) => {
      let buf = '';
      const timer = setTimeout(() => reject(new Error(`server did not start in 30 s; log: ${this.logFile}`)), 30_000);
      proc.stdout.on('data', (chunk) => {
        fs.writeSync(log, chunk);
        buf += chunk.toString();
        const m = buf.match(/listening on (http:\/\/127\.0\.0\.1:(\d+))/);
        if (m && !this.url) {
          clearTimeout(timer);
          this.port = Number(m[2]);
          resolve(m[1]);
        }
      });
      proc.on('exit', (code, sig) => {
        clearTimeout(timer);
        reject(new Error(`server exited early (${code ?? sig}); log: ${this.logFile}`));
      });
    });
    this.url = url;
    return url;
  }

  /** Stops the server with `signal` and waits for the process to end. */
  async stop(signal = 'SIGTERM') {
    const proc = this.proc;
    if (!proc || proc.exitCode !== null || proc.signalCode !== null) return;
    const exited = new Promise((resolve) => proc.once('exit', resolve));
    proc.kill(signal);
    const timer = setTimeout(() => proc.kill('SIGKILL'), 10_000);
    await exited;
    clearTimeout(timer);
    this.proc = null;
    this.url = undefined;
  }

  cleanup() {
    if (this.proc) this.proc.kill('SIGKILL');
  }
}

// A server left behind by a crashed test run would keep its port: kill ours on any exit.
const servers = new Set();
process.on('exit', () => servers.forEach((s) => s.cleanup()));
function newServer(opts) {
  const s = new Server(opts);
  servers.add(s);
  return s;
}

/**
 * A new page in a new context of `browser`, which records the page's uncaught errors in
 * `page.errors` and dismisses (and records in `page.dialogs`) any dialog.
 */
async function newPage(browser, contextOptions = {}) {
  const context = await browser.newContext({ viewport: DESKTOP, ...contextOptions });
  const page = await context.newPage();
  watch(page);
  return page;
}

/** Records `page`'s uncaught errors and dialogs (see `newPage`). */
function watch(page) {
  page.dialogs = [];
  page.on('dialog', (d) => {
    page.dialogs.push(d.message());
    d.dismiss().catch(() => {});
  });
  page.errors = [];
  page.on('pageerror', (e) => page.errors.push(String(e)));
  return page;
}

/** Waits for the chat view: online, with the composer. */
async function inChat(page, timeout) {
  await expect(page.locator('#status')).toHaveAttribute('data-state', 'online', { timeout });
  await expect(page.locator('#message')).toBeVisible({ timeout });
}

/**
 * Opens the chat in a new context and joins as the guest `nick`; waits for the chat view.
 * `contextOptions` go to `browser.newContext` (viewport, colorScheme, isMobile...).
 */
async function openChat(browser, url, nick, contextOptions = {}) {
  const page = await newPage(browser, contextOptions);
  await page.goto(url);
  await login(page, nick);
  await inChat(page);
  return page;
}

/** Types the nickname and presses Enter, as a keyboard user would. */
async function login(page, nick) {
  const box = page.locator('#nick');
  await box.fill(nick);
  await box.press('Enter');
}

/**
 * Opens the chat in a new context and signs in to an account with `button` (`#sign-in` or
 * `#register`); waits for the chat view.
 */
async function openAccount(browser, url, nick, password, button = '#sign-in', contextOptions = {}) {
  const page = await newPage(browser, contextOptions);
  await page.goto(url);
  await signIn(page, nick, password, button);
  await inChat(page);
  return page;
}

/** Fills the name and password boxes and presses `button` (`#sign-in` or `#register`). */
async function signIn(page, nick, password, button = '#sign-in') {
  await page.locator('#nick').fill(nick);
  await page.locator('#password').fill(password);
  await page.locator(button).click();
}

/** Sends `text` from the composer; with `click`, by the send button, else by Enter. */
async function send(page, text, { click = false } = {}) {
  const box = page.locator('#message');
  await box.fill(text);
  if (click) await page.locator('#send').click();
  else await box.press('Enter');
}

/** Every message of the conversation on screen: sender, server id (or client id), text, state. */
async function messages(page) {
  return page.locator('#message-list > li.group').evaluateAll((groups) =>
    groups.flatMap((g) => {
      const sender = g.querySelector('.sender').textContent;
      return [...g.querySelectorAll('li.msg')].map((m) => ({
        sender,
        id: m.dataset.id,
        text: m.querySelector('.text').textContent,
        state: m.classList.contains('delivered') ? 'delivered' : m.classList.contains('failed') ? 'failed' : 'pending',
      }));
    }),
  );
}

const escapeRegExp = (s) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

const STATE_CLASS = {
  delivered: '.delivered',
  failed: '.failed',
  pending: ':not(.delivered):not(.failed)',
};

/** The messages of the conversation on screen whose text is exactly `text`, in `state`. */
function message(page, text, state = 'delivered') {
  return page
    .locator(`#message-list > li.group li.msg${STATE_CLASS[state]}`)
    .filter({ has: page.locator('.text', { hasText: new RegExp(`^${escapeRegExp(text)}$`) }) });
}

/** Waits until the conversation on screen shows `text` in `state` (delivered by default). */
async function expectMessage(page, text, { state = 'delivered', timeout } = {}) {
  await expect(message(page, text, state).first(), `"${text}" ${state}`).toBeVisible({ timeout });
}

/** The nicks in the member list, in order. */
async function members(page) {
  return page.locator('#members li').evaluateAll((lis) => lis.map((li) => li.dataset.nick));
}

/** The member-list row of `nick`. */
function member(page, nick) {
  return page.locator(`#members li[data-nick="${nick}"]`);
}

/** The entry of the room `#name` among the rooms joined. */
function room(page, name) {
  return page.locator(`#rooms li[data-name="#${name}"]`);
}

/** Opens the joined room `#name` from the sidebar. */
async function openRoom(page, name) {
  await room(page, name).locator('button.conv-name').click();
  await expect(page.locator('#conversation-title')).toHaveText(`#${name}`);
}

/**
 * Posts `n` messages `${prefix} i` to `room` as the guest `nick`, over a WebSocket of a page of
 * its own; returns how many were acknowledged (within 30 s).
 */
async function flood(browser, url, { room, prefix, n, nick = 'flood' }) {
  const page = await newPage(browser);
  await page.goto(url);
  const acked = await page.evaluate(async ({ room, prefix, n, nick }) => {
    const ws = new WebSocket(`ws://${location.host}/chat`);
    let acks = 0;
    let joined;
    const done = new Promise((resolve) => {
      ws.onmessage = (e) => {
        const m = JSON.parse(e.data);
        if (m.type === 'joined' && m.room === room) joined();
        if (m.type === 'ack' && ++acks === n) resolve(acks);
      };
      setTimeout(() => resolve(acks), 30_000);
    });
    await new Promise((r) => { ws.onopen = r; });
    ws.send(JSON.stringify({ type: 'hello', nick, protocol: 1 }));
    ws.send(JSON.stringify({ type: 'join', room }));
    await new Promise((r) => { joined = r; });
    for (let i = 0; i < n; i++) {
      ws.send(JSON.stringify({ type: 'send', room, text: `${prefix} ${i}`, client_id: `${prefix}-${i}` }));
    }
    return done;
  }, { room, prefix, n, nick });
  await page.context().close();
  return acked;
}

/** Joins (or creates) the room `#name` from the sidebar box; waits until it is on screen. */
async function joinRoom(page, name) {
  await page.locator('#room-input').fill(name);
  await page.locator('#room-input').press('Enter');
  await expect(page.locator('#conversation-title')).toHaveText(`#${name}`);
}

/** Screenshots `page` into the test's output directory and attaches it to the report. */
async function screenshot(page, testInfo, name) {
  const file = testInfo.outputPath(`${name}.png`);
  await page.screenshot({ path: file });
  await testInfo.attach(name, { path: file, contentType: 'image/png' });
  return file;
}

module.exports = {
  ROOT, SERVER_BIN, STATIC_DIR, CHROMIUM, CHROMIUM_ARGS, DESKTOP,
  Server, newServer, newPage, watch, inChat, openChat, openAccount, login, signIn, send,
  messages, message, expectMessage, members, member, room, openRoom, joinRoom, flood, screenshot,
};
