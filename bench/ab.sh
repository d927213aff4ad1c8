#!/usr/bin/env bash
# Two or more builds of our server head to head, alternating run after run (in turn forward
# and backward), so a drift in the machine's load hits them alike (the full bench runs an hour
# apart can differ by 20%).
#   bench/ab.sh throughput RUNS BIN...   # deliveries/s, 100 clients, as in run.sh
#   bench/ab.sh idle RUNS BIN...         # idle bytes per connection at 10k receivers
#   PROTO=typed bench/ab.sh ...          # /chat instead of /ws/<nick>
# Prints one line per run, then the median per binary (with two, also the median of the
# per-run ratios, first ÷ second). Needs `cargo build --release` of bench/loadgen (run.sh
# builds it). Servers are pinned to CPU 0, the load generator to CPU 1.
set -euo pipefail
MODE=$1 RUNS=$2
shift 2
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
LG=${LOADGEN:-${CARGO_TARGET_DIR:-$ROOT/target}/release/loadgen}
case "$MODE" in
  throughput) ARGS=(throughput --clients 100 --warmup 0.5 --secs 3 --drain 1.5); KEY=deliveries_per_s ;;
  idle) ARGS=(fanout --receivers 10000 --rates 10 --secs 1 --drain 1); KEY=idle_bytes_per_conn ;;
  *) echo "mode: throughput or idle" >&2; exit 2 ;;
esac
. "$ROOT/bench/ab-common.sh"
# Every other run takes the binaries in reverse order: whichever runs second in a pair has been
# seen to gain (two builds, 10 pairs each way: 0.95 with one first, 1.03 with the other first).
FORWARD=("$@") BACKWARD=()
for ((i = $# - 1; i >= 0; i--)); do BACKWARD+=("${FORWARD[$i]}"); done
for run in $(seq 1 "$RUNS"); do
  order=("${FORWARD[@]}")
  [ $((run % 2)) = 0 ] && order=("${BACKWARD[@]}")
  for bin in "${order[@]}"; do
    extra=()
    "$bin" --help 2>/dev/null | grep -q max-connections-per-ip &&
      extra=(--max-connections-per-ip 0 --handshake-rate-per-ip 0)
    start_ours "$bin" 127.0.0.1:0 "${extra[@]}"
    v=$(taskset -c 1 "$LG" --server "$ADDR" --proto "${PROTO:-demo}" --server-pid "$PID" "${ARGS[@]}" 2>/dev/null |
      python3 -c "import json,sys; print(round(json.load(sys.stdin)['report']['$KEY']))" || echo fail)
    stop_server
    echo "$bin $v" | tee -a "$OUT"
  done
done
python3 - "$OUT" <<'PY'
import statistics, sys
runs = {}
for line in open(sys.argv[1]):
    b, v = line.split()
    if v != "fail":
        runs.setdefault(b, []).append(int(v))
for b, v in runs.items():
    print(f"median {b}: {statistics.median(v):,.0f} (of {len(v)}: {min(v):,}-{max(v):,})")
if len(runs) == 2:
    (a, va), (b, vb) = runs.items()
    if len(va) == len(vb):
        r = sorted(x / y for x, y in zip(va, vb))
        print(f"paired {a} / {b}: median {statistics.median(r):.3f} ({r[0]:.3f}-{r[-1]:.3f})")
PY
