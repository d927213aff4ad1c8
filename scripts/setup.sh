#!/usr/bin/env bash
# Installs what building and testing the project needs, skipping whatever is already there.
#   scripts/setup.sh run    toolchain for the web client (wasm target, trunk, wasm-bindgen, wasm-opt,
#                           brotli for its precompressed files)
#   scripts/setup.sh test   the above, plus Chromium + chromedriver, redis-server, nginx and openssl
#                           (e2e/tls.spec.js runs its own nginx on a free loopback port with a
#                           certificate it makes: the package's own service is never used), the
#                           fonts headless screenshots need (CJK, emoji), and e2e/'s npm packages
#                           (@playwright/test, axe-core: `npm ci`, from e2e/package-lock.json)
# Versions are pinned to what works on these machines (see ARCHITECTURE.md, "Toolchain").
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
MODE=${1:-run}
TRUNK_VERSION=0.21.14
WASM_BINDGEN_VERSION=0.2.130
BINARYEN_VERSION=123

log() { printf '[setup] %s\n' "$*"; }
have() { command -v "$1" >/dev/null 2>&1; }
export PATH="$HOME/.cargo/bin:$ROOT/tools/node_modules/.bin:$PATH"

SUDO=""
if [ "$(id -u)" != 0 ] && have sudo; then SUDO=sudo; fi
APT_UPDATED=0
apt_install() {
  local missing=()
  for pkg in "$@"; do
    dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  log "apt-get install ${missing[*]}"
  if [ $APT_UPDATED = 0 ]; then $SUDO apt-get update -qq; APT_UPDATED=1; fi
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
}

if ! rustup target list --installed 2>/dev/null | grep -q '^wasm32-unknown-unknown$'; then
  log "rustup target add wasm32-unknown-unknown"
  rustup target add wasm32-unknown-unknown
fi

if ! (have trunk && trunk --version | grep -q "$TRUNK_VERSION"); then
  log "cargo install trunk $TRUNK_VERSION (several minutes, once)"
  cargo install trunk --version "$TRUNK_VERSION" --locked
fi

if ! (have wasm-bindgen && wasm-bindgen --version | grep -q "$WASM_BINDGEN_VERSION"); then
  log "cargo install wasm-bindgen-cli $WASM_BINDGEN_VERSION (several minutes, once)"
  # --locked fails against the registry mirror (a locked dependency version is missing).
  cargo install wasm-bindgen-cli --version "$WASM_BINDGEN_VERSION" --force
fi

# build-client.sh writes a .br beside each file of the client; gzip is part of every Debian.
have brotli || apt_install brotli

if [ ! -x "$ROOT/tools/node_modules/.bin/wasm-opt" ]; then
  log "npm install (tools/: binaryen $BINARYEN_VERSION)"
  (cd "$ROOT/tools" && npm install --no-audit --no-fund --silent)
fi

if [ "$MODE" = test ]; then
  # Without the Noto fonts, headless Chromium draws CJK text and emoji as empty boxes.
  apt_install chromium chromium-driver redis-server nginx openssl fonts-noto-cjk fonts-noto-color-emoji
  # The end-to-end tests drive Debian's Chromium: nothing here downloads a browser.
  if [ ! -d "$ROOT/e2e/node_modules/@playwright/test" ]; then
    log "npm ci (e2e/: @playwright/test, axe-core)"
    (cd "$ROOT/e2e" && npm ci --no-audit --no-fund --silent)
  fi
  if ! have cargo-nextest && ! cargo nextest --version >/dev/null 2>&1; then :; fi
fi
log "toolchain ready"
