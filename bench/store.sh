#!/usr/bin/env bash
# Store benchmark: acked messages per second with the SQLite store against the memory store,
# 100-byte and 1 KiB messages, 1 and 50 concurrent closed-loop senders. Server pinned to CPU 0,
# load generator to CPU 1. Writes bench/results/store.md and store.json.
#   bench/store.sh [--quick]
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
SECS=5; RUNS=3
if [ "${1:-}" = "--quick" ]; then SECS=2; RUNS=1; fi
TARGET=${CARGO_TARGET_DIR:-$ROOT/target}
cargo build --release -q -p server -p ackbench
mkdir -p bench/results
OUT=bench/results/store.json; : > "$OUT"
TMP=$(mktemp -d); PID=""
cleanup() { [ -n "$PID" ] && kill "$PID" 2>/dev/null; rm -rf "$TMP"; }
trap cleanup EXIT
# taskset execs its command, so `$!` below is the server's own pid (a shell function would
# leave a subshell in between, and killing it would not stop the server).
command -v taskset >/dev/null || { echo "taskset (util-linux) is required" >&2; exit 1; }

for store in memory sqlite; do
  for bytes in 100 1024; do
    for senders in 1 50; do
      for run in $(seq "$RUNS"); do
        rm -rf "$TMP/data"
        taskset -c 0 "$TARGET/release/server" --listen 127.0.0.1:0 --store "$store" --data-dir "$TMP/data" \
          --rate-per-sec 0 --max-connections-per-ip 0 --handshake-rate-per-ip 0 --static-dir "$TMP" \
          > "$TMP/out" 2>/dev/null &
        PID=$!
        for _ in $(seq 100); do grep -q listening "$TMP/out" 2>/dev/null && break; sleep 0.05; done
        ADDR=$(sed -n 's#listening on http://##p' "$TMP/out")
        line=$(taskset -c 1 "$TARGET/release/ackbench" "ws://$ADDR/chat" "$senders" "$bytes" "$SECS")
        echo "{\"store\":\"$store\",\"run\":$run,${line#\{}" | tee -a "$OUT"
        kill "$PID"; wait "$PID" 2>/dev/null || true; PID=""
        if pgrep -f "$TMP/data" >/dev/null; then echo "a server outlived its run" >&2; exit 1; fi
      done
    done
  done
done

python3 - "$OUT" > bench/results/store.md <<'PY'
import json, sys, statistics
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
def cell(store, b, s):
    v = [r["acks_per_sec"] for r in rows if (r["store"], r["bytes"], r["senders"]) == (store, b, s)]
    return statistics.median(v), min(v), max(v)
print("| message | senders | memory acks/s (min-max) | sqlite acks/s (min-max) | sqlite / memory |")
print("|---|---|---|---|---|")
for b in (100, 1024):
    for s in (1, 50):
        m, s_ = cell("memory", b, s), cell("sqlite", b, s)
        print(f"| {b} B | {s} | {m[0]:.0f} ({m[1]:.0f}-{m[2]:.0f}) | {s_[0]:.0f} ({s_[1]:.0f}-{s_[2]:.0f}) | {s_[0]/m[0]:.2f} |")
PY
cat bench/results/store.md
