#!/usr/bin/env bash
# Runs the chat: installs what is missing (skipping what is there), builds the web client
# (release, wasm-opt on) and then the server, which embeds the client built just before it, and
# starts the server with its default settings.
#   scripts/run.sh                 # http://127.0.0.1:8080
#   CHAT_LISTEN=0.0.0.0:9000 scripts/run.sh
# Every server flag also works here: scripts/run.sh --store memory
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
export PATH="$HOME/.cargo/bin:$ROOT/tools/node_modules/.bin:$PATH"

bash scripts/setup.sh run
bash scripts/build-client.sh
echo "[run] building the server (release)"
cargo build --release -p server --quiet
LISTEN=${CHAT_LISTEN:-127.0.0.1:8080}
echo "[run] starting: open http://$LISTEN/ in your browser (Ctrl-C stops the server)"
exec "${CARGO_TARGET_DIR:-$ROOT/target}/release/server" --listen "$LISTEN" "$@"
