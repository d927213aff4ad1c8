#!/usr/bin/env bash
# Runs the chat: installs what is missing (skipping what is there), builds the web client
# (release, wasm-opt on) and then the server, which embeds the client built just before it, and
# starts the server with its default settings.
#   scripts/run.sh                 # http://127.0.0.1:8080
#   CHAT_LISTEN=0.0.0.0:9000 scripts/run.sh
# Every server flag also works here: scripts/run.sh --store memory
# A first run compiles trunk and wasm-bindgen-cli (README, "Running it": 10 to 11 minutes in
# all on 2 cores); while they compile, the client and the server's dependencies compile beside
# them, which needs neither tool. Each step prints its estimate, and a line every 30 s.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
export PATH="$ROOT/tools/bin:$ROOT/tools/node_modules/.bin:${CARGO_HOME:-$HOME/.cargo}/bin:$PATH"
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}
PROGRESS_TAG=run
# shellcheck source=scripts/progress.sh
. "$ROOT/scripts/progress.sh"
LOGS="$CARGO_TARGET_DIR/run-logs"
mkdir -p "$LOGS"

# Seconds each step took on 2 cores from nothing, the mean of two measured first runs (README,
# "Running it"). Steps 1 and 2 run side by side and share the cores; on a later run every step
# takes seconds.
EST_TOOLS=500 EST_DEPS=500 EST_CLIENT=40 EST_SERVER=95
START=$(date +%s)

# The parallel steps stop with the script, on an error or a Ctrl-C.
BG_PIDS=()
stop_all() {
  heartbeat_stop
  local pid
  for pid in "${BG_PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
}
trap stop_all EXIT

# What the parallel compiles need before they start.
bash scripts/setup.sh target

missing=""
for tool in trunk wasm-bindgen wasm-opt brotli; do command -v "$tool" >/dev/null || missing+=" $tool"; done
if [ -z "$missing" ]; then
  say "step 1/4: tools: already installed"
  est12=20
else
  step 1 4 "installing$missing (logs: target/setup-logs/)" $EST_TOOLS
  est12=$EST_TOOLS
fi
SETUP_HEARTBEAT=0 bash scripts/setup.sh run &
SETUP_PID=$!
BG_PIDS+=("$SETUP_PID")

# Everything the last two steps compile, as far as it goes without trunk: the client's wasm
# with trunk's own cargo command (build-client.sh --cargo-only), then, on a first run, the
# server's dependencies: CHAT_DEPS_ONLY makes server/build.rs fail, which under --keep-going
# stops the server crate alone; step 4 compiles it, once, with the client in dist/. That part
# is a head start only: its status is ignored, and step 4 reports any real error. One target
# directory: one cargo at a time in it.
deps() {
  bash scripts/build-client.sh --cargo-only || return 1
  if [ ! -e "$CARGO_TARGET_DIR/release/server" ]; then
    CHAT_DEPS_ONLY=1 cargo build --release -p server --keep-going || true
  fi
}
if [ -f "$CARGO_TARGET_DIR/release/server" ]; then
  say "step 2/4: client and server, without trunk (in parallel with step 1; seconds when little changed)"
else
  step 2 4 "compiling the client and the server, without trunk, in parallel with step 1 (log: target/run-logs/deps.log)" $EST_DEPS
  [ $EST_DEPS -gt "$est12" ] && est12=$EST_DEPS
fi
(run_logged "step 2 (client and server dependencies)" "$LOGS/deps.log" deps &&
  say "step 2 done after $(human_secs $(($(date +%s) - START)))") &
DEPS_PID=$!
BG_PIDS+=("$DEPS_PID")

steps12_status() {
  local tools="done" deps="done"
  if kill -0 "$SETUP_PID" 2>/dev/null; then tools=running; fi
  if kill -0 "$DEPS_PID" 2>/dev/null; then deps=running; fi
  printf 'step 1 (tools) %s, step 2 (dependencies) %s' "$tools" "$deps"
}
heartbeat_start "steps 1-2" "$est12" steps12_status
if ! wait_jobs "$SETUP_PID" "$DEPS_PID"; then
  say "stopped: a step failed (see above)"
  exit 1
fi
heartbeat_stop
say "steps 1-2 done after $(human_secs $(($(date +%s) - START)))"

# The client's inputs and the dist/ they gave. trunk rewrites every file of dist/ and that
# recompiles the server crate (minutes), so an unchanged client is not rebuilt: a later run
# takes seconds. dist/'s own listing counts too: a `trunk serve` debug build there is replaced.
client_stamp() {
  {
    find client-wasm shared index.html Trunk.toml Cargo.toml Cargo.lock scripts/build-client.sh \
      -type f -print0 | sort -z | xargs -0 sha256sum
    trunk --version
    wasm-bindgen --version
    wasm-opt --version
    printf '%s\n' "${RUSTFLAGS:-}" "${CARGO_HOME:-}"
    find dist -type f -printf '%P %s %T@\n' 2>/dev/null | sort
  } | sha256sum | cut -d' ' -f1
}
STAMP="$CARGO_TARGET_DIR/client-dist.stamp"
CLIENT_BUILT=0
if [ -f dist/index.html ] && [ "$(cat "$STAMP" 2>/dev/null)" = "$(client_stamp)" ]; then
  say "step 3/4: the web client: unchanged since the last build in dist/, kept"
else
  step 3 4 "the web client (trunk: wasm-bindgen, wasm-opt, gzip and brotli forms)" $EST_CLIENT
  heartbeat_start "step 3" $EST_CLIENT
  t=$(date +%s)
  bash scripts/build-client.sh
  heartbeat_stop
  client_stamp >"$STAMP"
  CLIENT_BUILT=1
  say "step 3 done in $(human_secs $(($(date +%s) - t)))"
fi

if [ "$CLIENT_BUILT" = 1 ] || [ ! -e "$CARGO_TARGET_DIR/release/server" ]; then
  step 4 4 "the server (release, embedding the client)" $EST_SERVER
else
  say "step 4/4: the server (release): seconds unless its code changed"
fi
heartbeat_start "step 4" $EST_SERVER
t=$(date +%s)
cargo build --release -p server --quiet
heartbeat_stop
say "step 4 done in $(human_secs $(($(date +%s) - t)))"

LISTEN=${CHAT_LISTEN:-127.0.0.1:8080}
say "ready after $(human_secs $(($(date +%s) - START)))"
say "starting: open http://$LISTEN/ in your browser (Ctrl-C stops the server)"
exec "$CARGO_TARGET_DIR/release/server" --listen "$LISTEN" "$@"
