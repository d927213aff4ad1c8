#!/usr/bin/env bash
# Server CPU per delivery for one sender fanning out to N receivers (demo protocol): our server
# with its default store (SQLite), ours with `--store memory`, and Bun take turns, run after run
# (in reverse order every other run); each run's µs of server CPU per delivery of the measured
# phase, then the median per server and its ratio to Bun's; with SQLite, also the writer
# thread's CPU per message (the store's direct cost).
#   bench/cpu-ab.sh RUNS N RATE SECS   # e.g. 4 1000 50 10: 1,000 receivers, 50 msg/s, 10 s
# Needs `bench/run.sh` first (it builds the load generator and installs Bun).
# Servers are pinned to CPU 0, the load generator to CPU 1; all traffic stays on 127.0.0.1.
set -euo pipefail
RUNS=$1 N=$2 RATE=$3 SECS=$4
BENCH="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
BIN=${CARGO_TARGET_DIR:-$(dirname "$BENCH")/target}/release
BUN="$BENCH/peers/bun/node_modules/.bin/bun"
[ -x "$BUN" ] || { echo "Bun is missing: run bench/run.sh once (it installs it)" >&2; exit 1; }
. "$BENCH/ab-common.sh"
PORT=$((20000 + RANDOM % 20000))
# CPU time (ns) of the server's SQLite writer thread so far (0 without one).
writer_ns() {
  local t
  for t in /proc/"$PID"/task/*; do
    [ "$(cat "$t/comm" 2>/dev/null)" = sqlite-writer ] && { cut -d' ' -f1 "$t/schedstat"; return; }
  done
  echo 0
}
for run in $(seq 1 "$RUNS"); do
  order=(sqlite memory bun)
  [ $((run % 2)) = 0 ] && order=(bun memory sqlite)
  for peer in "${order[@]}"; do
    if [ "$peer" = bun ]; then
      (cd "$BENCH/peers/bun" && exec taskset -c 0 "$BUN" server.js "$PORT") >"$D/log" 2>&1 &
      PID=$!
      wait_listening
    else
      start_ours "$BIN/server" "127.0.0.1:$PORT" --max-connections-per-ip 0 \
        --handshake-rate-per-ip 0 --store "$peer"
    fi
    w0=$(writer_ns)
    us=$(taskset -c 1 "$BIN/loadgen" --server "127.0.0.1:$PORT" --server-pid "$PID" \
        fanout --receivers "$N" --rates "$RATE" --secs "$SECS" 2>/dev/null |
      python3 -c "import json,sys; p=json.load(sys.stdin)['report']['phases'][-1]
cpu = p['cpu']['server_cpu_s']
print('lost' if p['lost'] or cpu is None else round(cpu / p['delivered'] * 1e6, 3))" ||
      echo fail)
    w1=$(writer_ns)
    stop_server
    # The SQLite writer thread's CPU over the whole run, per message sent (setup included).
    [ "$peer" = sqlite ] && echo "$run writer $(( (w1 - w0) / (RATE * SECS) / 1000 ))" | tee -a "$OUT"
    echo "$run $peer $us" | tee -a "$OUT"
  done
done
python3 - "$OUT" <<'PY'
import statistics, sys
us = {}
for line in open(sys.argv[1]):
    run, peer, v = line.split()
    if v not in ("fail", "lost"):
        us.setdefault(peer, []).append(float(v))
bun = statistics.median(us["bun"]) if us.get("bun") else None
for peer in ("sqlite", "memory", "bun"):
    v = us.get(peer)
    if not v:
        print(f"{peer}: no run finished")
        continue
    if peer == "sqlite" and us.get("writer"):
        w = us["writer"]
        print(f"writer: median {statistics.median(w):.0f} us CPU per message "
              f"(of {len(w)}: {min(w):.0f}-{max(w):.0f})")
    m = statistics.median(v)
    ratio = f", {m / bun:.2f}x Bun" if bun else ""
    print(f"{peer}: median {m:.2f} us server CPU per delivery (of {len(v)}: "
          f"{min(v):.2f}-{max(v):.2f}){ratio}")
PY
