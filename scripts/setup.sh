#!/usr/bin/env bash
# Installs what building and testing the project needs, skipping whatever is already there.
#   scripts/setup.sh run    toolchain for the web client (wasm target, trunk, wasm-bindgen, wasm-opt,
#                           brotli for its precompressed files)
#   scripts/setup.sh test   the above, plus Chromium + chromedriver, redis-server, nginx and openssl
#                           (e2e/tls.spec.js runs its own nginx on a free loopback port with a
#                           certificate it makes: the package's own service is never used), the
#                           fonts headless screenshots need (CJK, emoji), and e2e/'s npm packages
#                           (@playwright/test, axe-core: `npm ci`, from e2e/package-lock.json)
#   scripts/setup.sh target only the wasm32 target (run.sh compiles for it while the rest installs)
# trunk and wasm-bindgen-cli are compiled into tools/bin (git-ignored, like tools/node_modules):
# an empty tools/ is a fresh machine. A trunk or wasm-bindgen of the right version already on
# PATH (in ~/.cargo/bin, say) is used as it is. The installs run in parallel, each with its
# output in target/setup-logs/ (shown when it fails).
# Versions are pinned to what works on these machines (see ARCHITECTURE.md, "Toolchain").
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
MODE=${1:-run}
TRUNK_VERSION=0.21.14
WASM_BINDGEN_VERSION=0.2.130
BINARYEN_VERSION=123
# Seconds each install took on 2 cores from an empty CARGO_HOME, side by side and beside
# run.sh's other compiles (README, "Running it"): shown while they run.
TRUNK_EST_SECS=500
WASM_BINDGEN_EST_SECS=225
INSTALL_EST=60 # apt and npm only: about a minute

PROGRESS_TAG=setup
# shellcheck source=scripts/progress.sh
. "$ROOT/scripts/progress.sh"
log() { say "$@"; }
have() { command -v "$1" >/dev/null 2>&1; }
export PATH="$ROOT/tools/bin:$ROOT/tools/node_modules/.bin:${CARGO_HOME:-$HOME/.cargo}/bin:$PATH"
LOGS=${CARGO_TARGET_DIR:-$ROOT/target}/setup-logs

SUDO=""
if [ "$(id -u)" != 0 ] && have sudo; then SUDO=sudo; fi
apt_install() {
  local missing=()
  for pkg in "$@"; do
    dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}"
}

if ! rustup target list --installed 2>/dev/null | grep -q '^wasm32-unknown-unknown$'; then
  log "rustup target add wasm32-unknown-unknown"
  rustup target add wasm32-unknown-unknown
fi
[ "$MODE" = target ] && exit 0

# The tools are compiled with a cheap release profile: no LTO, many codegen units, no
# optimisation (trunk's manifest asks for fat LTO; together the two took 12.5 minutes, one after
# the other, with their own profiles). What they do per client build (run cargo, rewrite one
# wasm file, hash a few files) takes seconds either way (README, "Running it").
# The environment overrides a manifest's [profile] for this command only;
# CARGO_TARGET_DIR is dropped so each install compiles in its own temporary directory: a shared
# one would make the two wait on each other's lock.
cheap_install() {
  env -u CARGO_TARGET_DIR \
    CARGO_PROFILE_RELEASE_LTO=false CARGO_PROFILE_RELEASE_CODEGEN_UNITS=256 \
    CARGO_PROFILE_RELEASE_OPT_LEVEL=0 CARGO_PROFILE_RELEASE_DEBUG=false CARGO_INCREMENTAL=0 \
    cargo install --root "$ROOT/tools" "$@"
}

# From the committed package-lock.json, as it is.
npm_ci() { (cd "$1" && npm ci --no-audit --no-fund); }

# Jobs run in the background, side by side: NAME and the pid of each.
JOB_NAMES=()
JOB_PIDS=()
start_job() {
  local name=$1
  shift
  mkdir -p "$LOGS"
  local t0
  t0=$(date +%s)
  (run_logged "$name" "$LOGS/$name.log" "$@" && log "$name: done in $(human_secs $(($(date +%s) - t0)))") &
  JOB_NAMES+=("$name")
  JOB_PIDS+=($!)
}
still_running() {
  local i out=""
  for i in "${!JOB_PIDS[@]}"; do
    kill -0 "${JOB_PIDS[$i]}" 2>/dev/null && out+=" ${JOB_NAMES[$i]}"
  done
  printf 'still running:%s' "${out:- nothing}"
}
# An interrupted or failed setup stops the installs it started.
stop_jobs() {
  heartbeat_stop
  local pid
  for pid in "${JOB_PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
}
trap stop_jobs EXIT

if have trunk && trunk --version | grep -q "$TRUNK_VERSION"; then
  log "trunk $TRUNK_VERSION: already installed ($(command -v trunk))"
else
  log "trunk $TRUNK_VERSION: compiling into tools/bin (about $(human_secs $TRUNK_EST_SECS), once)"
  # Default features are the crates.io update check and TLS for `trunk serve --tls-*`; neither
  # is of use offline, and without them there is no TLS stack (ring, rustls) to compile.
  INSTALL_EST=$TRUNK_EST_SECS
  start_job trunk cheap_install trunk --version "$TRUNK_VERSION" --locked --no-default-features
fi

if have wasm-bindgen && wasm-bindgen --version | grep -q "$WASM_BINDGEN_VERSION"; then
  log "wasm-bindgen $WASM_BINDGEN_VERSION: already installed ($(command -v wasm-bindgen))"
else
  log "wasm-bindgen-cli $WASM_BINDGEN_VERSION: compiling into tools/bin (about $(human_secs $WASM_BINDGEN_EST_SECS), once)"
  # --locked fails against the registry mirror (a locked dependency version is missing). The
  # default feature is TLS (rustls, ring) for a remote WebDriver; the test runner talks to a
  # local chromedriver over plain HTTP.
  [ "$INSTALL_EST" -ge $WASM_BINDGEN_EST_SECS ] || INSTALL_EST=$WASM_BINDGEN_EST_SECS
  start_job wasm-bindgen-cli cheap_install wasm-bindgen-cli --version "$WASM_BINDGEN_VERSION" \
    --no-default-features --force
fi

# build-client.sh writes a .br beside each file of the client; gzip is part of every Debian.
APT_PACKAGES=()
have brotli || APT_PACKAGES+=(brotli)
# Without the Noto fonts, headless Chromium draws CJK text and emoji as empty boxes.
[ "$MODE" = test ] && APT_PACKAGES+=(chromium chromium-driver redis-server nginx openssl fonts-noto-cjk fonts-noto-color-emoji)
if [ ${#APT_PACKAGES[@]} -gt 0 ]; then
  log "apt-get install ${APT_PACKAGES[*]} (packages already there are skipped)"
  start_job apt apt_install "${APT_PACKAGES[@]}"
fi

# wasm-opt only: the browser tests' npm packages (Playwright) are in e2e/, installed for `test`.
if [ -x "$ROOT/tools/node_modules/.bin/wasm-opt" ]; then
  log "wasm-opt (binaryen $BINARYEN_VERSION): already installed"
else
  log "wasm-opt: npm ci in tools/ (binaryen $BINARYEN_VERSION, a few seconds)"
  start_job npm-tools npm_ci "$ROOT/tools"
fi

# The end-to-end tests drive Debian's Chromium: nothing here downloads a browser.
if [ "$MODE" = test ] && [ ! -d "$ROOT/e2e/node_modules/@playwright/test" ]; then
  log "npm ci in e2e/ (@playwright/test, axe-core)"
  start_job npm-e2e npm_ci "$ROOT/e2e"
fi

failed=0
if [ ${#JOB_PIDS[@]} -gt 0 ]; then
  # run.sh prints one heartbeat for these and its own parallel work (SETUP_HEARTBEAT=0).
  if [ "${SETUP_HEARTBEAT:-1}" = 1 ]; then heartbeat_start "installing" "$INSTALL_EST" still_running; fi
  wait_jobs "${JOB_PIDS[@]}" || failed=1
  heartbeat_stop
fi
[ $failed = 0 ] || { log "setup failed (logs in $LOGS)"; exit 1; }
log "toolchain ready"
