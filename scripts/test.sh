#!/usr/bin/env bash
# Runs every test: formatting, lints, the protocol on wasm32, unit and integration tests
# against real servers, and the browser tests in a real Chromium. Installs what they need
# first (skipping what is there). Exits non-zero on the first failure.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
export PATH="$ROOT/tools/bin:$ROOT/tools/node_modules/.bin:${CARGO_HOME:-$HOME/.cargo}/bin:$PATH"
step() { printf '\n==== %s\n' "$*"; }

step "setup"
bash scripts/setup.sh test

step "cargo fmt --check"
cargo fmt --all --check

step "layout: ARCHITECTURE.md's path table, file sizes, import circles"
python3 scripts/check-layout.py --self-test
python3 scripts/check-layout.py

step "cargo clippy"
cargo clippy --workspace --all-targets -- -D warnings

step "cargo doc (broken and private links in doc comments)"
RUSTDOCFLAGS="-D warnings" cargo doc --workspace --no-deps --quiet

step "shared compiles for wasm32"
cargo check -p shared --target wasm32-unknown-unknown

step "release web client into dist/ (the server's build embeds it)"
bash scripts/build-client.sh

step "cargo test (host: protocol, server against real sockets, client reducer, bench tools)"
# The server binary under test embeds the client just built: its test must find it there.
CHAT_EXPECT_EMBEDDED=1 cargo test --workspace --no-fail-fast

step "browser tests (wasm-bindgen-test in Chromium, Playwright end to end)"
cargo build -p server --quiet
SKIP_BUILD=1 bash scripts/test-browser.sh

step "all tests passed"
