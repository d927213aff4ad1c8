// @playwright/test driving Debian's Chromium (never a downloaded browser: do not run
// `playwright install`). Each spec file starts its own server on a free loopback port, so the
// files run one at a time; within a file the tests share that server and their pages and run in
// order. The screenshots for the docs have their own config (playwright.docs.config.js).
'use strict';

const { defineConfig } = require('@playwright/test');
const { CHROMIUM, CHROMIUM_ARGS } = require('./helpers');

module.exports = defineConfig({
  testDir: '.',
  testMatch: '*.spec.js',
  testIgnore: ['screenshots/**', 'node_modules/**'],
  outputDir: 'test-results',
  workers: 1, // 2 cores, and every file has its own server
  fullyParallel: false,
  retries: 0,
  timeout: 60_000, // per test: Chromium is slow here
  expect: { timeout: 15_000 },
  reporter: 'list',
  use: {
    trace: 'retain-on-failure',
    launchOptions: { executablePath: CHROMIUM, args: CHROMIUM_ARGS },
  },
});
