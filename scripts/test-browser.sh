#!/usr/bin/env bash
# Browser tests: the client's wasm-bindgen-test suite in headless Chromium, then the Playwright
# end-to-end tests against the real server (release client in dist/, server started and stopped
# by the tests themselves on free loopback ports). Exits non-zero on any failure.
#   scripts/test-browser.sh
#   E2E_STORE=memory scripts/test-browser.sh     # skips the restart test (needs durable history)
#   SKIP_BUILD=1 ...                             # reuse dist/ and the server binary as they are
# Needs `scripts/setup.sh test` (Chromium, chromedriver, wasm-bindgen, trunk, nginx, openssl,
# e2e/'s @playwright/test).
# A failing end-to-end test keeps its Playwright trace under e2e/test-results/ (open it with
# `cd e2e && npx playwright show-trace test-results/<test>/trace.zip`).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
export PATH="$ROOT/tools/bin:$ROOT/tools/node_modules/.bin:${CARGO_HOME:-$HOME/.cargo}/bin:$PATH"
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}
export CHROMEDRIVER=${CHROMEDRIVER:-/usr/bin/chromedriver}
export CHROMIUM=${CHROMIUM:-/usr/bin/chromium}
step() { printf '\n---- %s\n' "$*"; }

TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT

step "wasm-bindgen-test in headless Chromium"
# The runner adds headless, no-sandbox and disable-dev-shm-usage; these keep Chromium off the
# network it cannot reach here.
cat >"$TMP/webdriver.json" <<'JSON'
{"goog:chromeOptions": {"args": ["--disable-gpu", "--disable-quic", "--no-first-run",
  "--disable-background-networking", "--disable-component-update", "--disable-sync"]}}
JSON
CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_RUNNER=wasm-bindgen-test-runner \
WASM_BINDGEN_TEST_TIMEOUT=${WASM_BINDGEN_TEST_TIMEOUT:-60} \
WASM_BINDGEN_TEST_WEBDRIVER_JSON="$TMP/webdriver.json" \
  cargo test -p client-wasm --target wasm32-unknown-unknown

if [ "${SKIP_BUILD:-0}" != 1 ]; then
  step "release client into dist/"
  bash scripts/build-client.sh
  step "server"
  cargo build -p server --quiet
fi

step "Playwright end to end (@playwright/test)"
export SERVER_BIN=${SERVER_BIN:-$CARGO_TARGET_DIR/debug/server}
export STATIC_DIR=${STATIC_DIR:-$ROOT/dist}
if [ ! -x e2e/node_modules/.bin/playwright ]; then
  echo "e2e/node_modules is missing: run scripts/setup.sh test (npm ci in e2e/)" >&2
  exit 1
fi
# One file at a time (e2e/playwright.config.js): each starts its own server; Debian's Chromium.
(cd e2e && npx --no-install playwright test)
