#!/usr/bin/env bash
# Store benchmark: acked messages per second with the SQLite store against the memory store,
# 100-byte and 1 KiB messages, 1 and 50 concurrent closed-loop senders. Server pinned to CPU 0,
# load generator to CPU 1. Writes bench/results/store.md and store.json.
#   bench/store.sh [--quick]
# With --retention: the SQLite store over a full table (FILL_ROOMS rooms of FILL_PER_ROOM
# messages, the older half of them two days old), retention off against on (a cap of
# RETENTION_CAP per room, 1 day, a pass every second), 100-byte messages, 1 and 50 senders;
# ack latency p50/p99 as well. Writes bench/results/store-retention.md and .json.
#   bench/store.sh --retention [--quick]
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
SECS=5; RUNS=3; MODE=stores
for arg in "$@"; do
  case "$arg" in
    --quick) SECS=2; RUNS=1 ;;
    --retention) MODE=retention ;;
    *) echo "usage: bench/store.sh [--retention] [--quick]" >&2; exit 2 ;;
  esac
done
FILL_ROOMS=${FILL_ROOMS:-200}; FILL_PER_ROOM=${FILL_PER_ROOM:-3000}; RETENTION_CAP=${RETENTION_CAP:-1000}
TARGET=${CARGO_TARGET_DIR:-$ROOT/target}
cargo build --release -q -p server -p ackbench
mkdir -p bench/results
TMP=$(mktemp -d); PID=""
cleanup() { [ -n "$PID" ] && kill "$PID" 2>/dev/null; rm -rf "$TMP"; }
trap cleanup EXIT
# taskset execs its command, so `$!` below is the server's own pid (a shell function would
# leave a subshell in between, and killing it would not stop the server).
command -v taskset >/dev/null || { echo "taskset (util-linux) is required" >&2; exit 1; }

# start_server ARGS...: a server on $TMP/data, pinned to CPU 0; sets PID and ADDR.
start_server() {
  # The last run's output would name its address if read before this server truncates it.
  rm -f "$TMP/out"
  taskset -c 0 "$TARGET/release/server" --listen 127.0.0.1:0 --data-dir "$TMP/data" \
    --rate-per-sec 0 --max-connections-per-ip 0 --handshake-rate-per-ip 0 --static-dir "$TMP" \
    --guests-create-rooms "$@" > "$TMP/out" 2>/dev/null &
  PID=$!
  for _ in $(seq 100); do grep -q listening "$TMP/out" 2>/dev/null && break; sleep 0.05; done
  ADDR=$(sed -n 's#listening on http://##p' "$TMP/out")
}

stop_server() {
  kill "$PID"; wait "$PID" 2>/dev/null || true; PID=""
  if pgrep -f "$TMP/data" >/dev/null; then echo "a server outlived its run" >&2; exit 1; fi
}

if [ "$MODE" = retention ]; then
  OUT=bench/results/store-retention.json; : > "$OUT"
  # The full table: a server creates the schema, then rooms room0.. and the bench's own rooms
  # (bench0..bench3) get FILL_PER_ROOM messages each, interleaved as concurrent rooms write.
  # (`listening` comes before the store is open: wait for its schema.)
  rm -rf "$TMP/data"; start_server --store sqlite
  for _ in $(seq 100); do
    python3 -c "import sqlite3,sys; sys.exit(not sqlite3.connect(sys.argv[1]).execute(\"SELECT 1 FROM sqlite_master WHERE name = 'emptied'\").fetchone())" \
      "$TMP/data/chat.db" 2>/dev/null && break
    sleep 0.05
  done
  stop_server
  python3 - "$TMP/data/chat.db" "$FILL_ROOMS" "$FILL_PER_ROOM" <<'PY'
import sqlite3, sys, time
path, rooms, per = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
names = [f"room{i}" for i in range(rooms)] + [f"bench{i}" for i in range(4)]
now = int(time.time() * 1000)
def rows():
    for j in range(per):
        # The older half two days old, the rest from the last hour.
        ts = now - 2 * 86_400_000 + j if j < per // 2 else now - 3_600_000 + j
        for name in names:
            yield (name, j + 1, "fill", "x" * 100, ts)
db = sqlite3.connect(path)
db.executemany("INSERT INTO messages (channel, id, sender, text, ts) VALUES (?, ?, ?, ?, ?)", rows())
db.commit()
db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
print(f"full table: {db.execute('SELECT count(*) FROM messages').fetchone()[0]} messages",
      file=sys.stderr)
PY
  mv "$TMP/data" "$TMP/full"
  for senders in 1 50; do
    for run in $(seq "$RUNS"); do
      for retention in off on; do
        rm -rf "$TMP/data"; cp -r "$TMP/full" "$TMP/data"
        if [ "$retention" = on ]; then
          start_server --store sqlite --retention-per-room "$RETENTION_CAP" --retention-days 1 \
            --retention-interval-ms 1000
        else
          start_server --store sqlite --retention-per-room 0 --retention-days 0
        fi
        line=$(taskset -c 1 "$TARGET/release/ackbench" "ws://$ADDR/chat" "$senders" 100 "$SECS")
        stop_server
        left=$(python3 -c "import sqlite3,sys; print(sqlite3.connect(sys.argv[1]).execute('SELECT count(*) FROM messages').fetchone()[0])" "$TMP/data/chat.db")
        echo "{\"retention\":\"$retention\",\"run\":$run,\"messages_left\":$left,${line#\{}" | tee -a "$OUT"
      done
    done
  done
  python3 - "$OUT" > bench/results/store-retention.md <<'PY'
import json, sys, statistics
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
def cell(ret, s, key, digits=2):
    v = [r[key] for r in rows if (r["retention"], r["senders"]) == (ret, s)]
    return f"{statistics.median(v):.{digits}f} ({min(v):.{digits}f}-{max(v):.{digits}f})"
print("| senders | retention | acks/s (min-max) | ack p50 ms | ack p99 ms | p99 on / off |")
print("|---|---|---|---|---|---|")
for s in (1, 50):
    p99 = {ret: statistics.median([r["p99_ms"] for r in rows if (r["retention"], r["senders"]) == (ret, s)]) for ret in ("off", "on")}
    for ret in ("off", "on"):
        ratio = f"{p99['on'] / p99['off']:.2f}" if ret == "on" else ""
        print(f"| {s} | {ret} | {cell(ret, s, 'acks_per_sec', 0)} | {cell(ret, s, 'p50_ms')} | {cell(ret, s, 'p99_ms')} | {ratio} |")
PY
  cat bench/results/store-retention.md
  exit 0
fi

OUT=bench/results/store.json; : > "$OUT"
for store in memory sqlite; do
  for bytes in 100 1024; do
    for senders in 1 50; do
      for run in $(seq "$RUNS"); do
        rm -rf "$TMP/data"
        start_server --store "$store"
        line=$(taskset -c 1 "$TARGET/release/ackbench" "ws://$ADDR/chat" "$senders" "$bytes" "$SECS")
        echo "{\"store\":\"$store\",\"run\":$run,${line#\{}" | tee -a "$OUT"
        stop_server
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
