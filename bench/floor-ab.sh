#!/usr/bin/env bash
# Light-load p99 against the floor, with phases long enough to judge: the floor hub, our /ws and
# our /chat take turns, run after run, at 10 msg/s (RATE=100 for 100 msg/s); each run's ratio is
# ours ÷ the floor's p99 in that run, and the median of those ratios is printed per size and
# endpoint.
#   bench/floor-ab.sh RUNS SECS N...   # e.g. 6 6 1000 5000: 6 runs of 60 messages at 1k and 5k
#   RATE=100 bench/floor-ab.sh 6 3 1000   # 300 messages at 1k (the floor keeps up there)
#   WARMUP=2 bench/floor-ab.sh 8 6 1000   # past the receivers' first 16 messages (quick ACKs)
# Needs `bench/run.sh` (or `cargo build --release -p server -p loadgen -p floor-hub`) first.
# Servers are pinned to CPU 0, the load generator to CPU 1; all traffic stays on 127.0.0.1.
set -euo pipefail
RUNS=$1 SECS=$2 RATE=${RATE:-10} WARMUP=${WARMUP:-0.5}
shift 2
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BIN=${CARGO_TARGET_DIR:-$ROOT/target}/release
. "$ROOT/bench/ab-common.sh"
for run in $(seq 1 "$RUNS"); do
  for n in "$@"; do
    for peer in floor ws chat; do
      if [ "$peer" = floor ]; then
        start_floor 127.0.0.1:0
      else
        start_ours "$BIN/server" 127.0.0.1:0 --max-connections-per-ip 0 --handshake-rate-per-ip 0
      fi
      proto=demo
      [ "$peer" = chat ] && proto=typed
      p99=$(taskset -c 1 "$BIN/loadgen" --server "$ADDR" --proto "$proto" --server-pid "$PID" \
          fanout --receivers "$n" --rates "$RATE" --secs "$SECS" --drain 5 --warmup "$WARMUP" 2>/dev/null |
        python3 -c "import json,sys; p=json.load(sys.stdin)['report']['phases'][0]
print(p['latency']['p99_us'] if p['lost'] == 0 else 'lost')" || echo fail)
      stop_server
      echo "$run $n $peer $p99" | tee -a "$OUT"
    done
  done
done
python3 - "$OUT" <<'PY'
import statistics, sys
p99 = {}
for line in open(sys.argv[1]):
    run, n, peer, v = line.split()
    if v not in ("fail", "lost"):
        p99[(run, n, peer)] = float(v) / 1000
for n in sorted({k[1] for k in p99}, key=int):
    for peer in ("ws", "chat"):
        r = [p99[(run, n, peer)] / p99[(run, n, "floor")] for (run, nn, p) in p99
             if nn == n and p == peer and (run, n, "floor") in p99]
        if r:
            print(f"{n} receivers, ours /{peer} ÷ floor p99: median {statistics.median(r):.2f} "
                  f"(of {len(r)}: {min(r):.2f}-{max(r):.2f})")
PY
