// The screenshots in docs/ (scripts/screenshots.sh): screenshots/docs.spec.js, which the test
// run (playwright.config.js) leaves out.
'use strict';

const { defineConfig } = require('@playwright/test');
const base = require('./playwright.config');

module.exports = defineConfig({
  ...base,
  testDir: './screenshots',
  testMatch: 'docs.spec.js',
  testIgnore: [],
  outputDir: 'test-results/docs',
});
