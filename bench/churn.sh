#!/usr/bin/env bash
# The idempotency window under connection churn: a server's RSS before and after users send
# 200,000 and then 400,000 messages with fresh client ids (the window holds 200,000).
# Usage: bench/churn.sh [SERVER_BINARY [extra server flags...]]
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${1:-target/release/server}
shift || true
cargo build --release -q -p server --example churn
CHURN=target/release/examples/churn
DATA=$(mktemp -d)
"$BIN" --listen 127.0.0.1:0 --store memory --memory-retention 1 --rate-per-sec 0 "$@" \
  >"$DATA/out" 2>/dev/null &
PID=$!
trap 'kill $PID 2>/dev/null; rm -rf "$DATA"' EXIT
for _ in $(seq 50); do grep -q "listening on" "$DATA/out" 2>/dev/null && break; sleep 0.1; done
ADDR=$(sed -n 's#.*listening on http://##p' "$DATA/out" | head -1)
rss() { awk '/VmRSS/ {print $2}' "/proc/$PID/status"; }
START=$(rss)
"$CHURN" "$ADDR" 2000 100 40 >/dev/null
AFTER1=$(rss)
"$CHURN" "$ADDR" 2000 100 40 >/dev/null
AFTER2=$(rss)
echo "rss_kib start=$START after_200k=$AFTER1 after_400k=$AFTER2 growth_200k=$((AFTER1 - START)) growth_400k=$((AFTER2 - START))"
