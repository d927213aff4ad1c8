#!/usr/bin/env bash
# Regenerates the README's screenshots: docs/screenshot-desktop-light.png (1280x800),
# docs/screenshot-desktop-dark.png and docs/screenshot-phone.png (390x844), taken by
# e2e/screenshots/docs.spec.js in Debian's Chromium against the real server, which the spec
# starts on a free loopback port with an empty data directory.
#   scripts/screenshots.sh
#   SERVER_BIN=... STATIC_DIR=... scripts/screenshots.sh
# Builds nothing: needs the release client in dist/ (scripts/build-client.sh) and a server binary
# (cargo build -p server), and `scripts/setup.sh test` (Chromium, the Noto CJK and emoji fonts,
# e2e/'s @playwright/test).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}
export SERVER_BIN=${SERVER_BIN:-$CARGO_TARGET_DIR/debug/server}
export STATIC_DIR=${STATIC_DIR:-$ROOT/dist}
export CHROMIUM=${CHROMIUM:-/usr/bin/chromium}

for f in "$SERVER_BIN" "$STATIC_DIR/index.html"; do
  [ -e "$f" ] || { echo "missing $f: build the server and the client first" >&2; exit 1; }
done
[ -x e2e/node_modules/.bin/playwright ] || { echo "e2e/node_modules is missing: run scripts/setup.sh test" >&2; exit 1; }
# Without these, CJK text and emoji come out as empty boxes.
for pkg in fonts-noto-cjk fonts-noto-color-emoji; do
  dpkg -s "$pkg" >/dev/null 2>&1 || { echo "missing the $pkg font package: run scripts/setup.sh test" >&2; exit 1; }
done

mkdir -p docs
(cd e2e && npx --no-install playwright test --config playwright.docs.config.js)
ls -l docs/screenshot-*.png
