#!/usr/bin/env bash
# Server CPU per delivery for one sender fanning out to N receivers (demo protocol): our server
# with its default store (SQLite), ours with `--store memory`, Bun and the floor hub take turns,
# run after run (each run starts one further along the list); each run's µs of server CPU per
# delivery of the measured phase, then the median per server, its ratio to Bun's and the median
# of its per-run ratios. With SQLite, also the writer thread's CPU per message (the store's
# direct cost). Each run also measures the fsync floor (`fsync-floor`, on the filesystem that
# holds the servers' data): the CPU of one bare append and its fdatasync, which any server that
# fsyncs each message by itself pays per message. The one-fsync-per-message bound is the floor
# hub's figure plus that ÷ N: the least such a server can spend per delivery, measured (ours lets
# the next message share a light load's fsync, `linger.rs`, so it can spend less).
#   bench/cpu-ab.sh RUNS N RATE SECS [REPORT]   # e.g. 8 1000 50 10: 1,000 receivers, 50 msg/s
# With REPORT (a path), the table is also written there as Markdown (bench/results/fanout-cpu.md).
# Needs `bench/run.sh` first (it builds the load generator and the floor hub, and installs Bun).
# Servers are pinned to CPU 0, the load generator to CPU 1; all traffic stays on 127.0.0.1.
set -euo pipefail
RUNS=$1 N=$2 RATE=$3 SECS=$4 REPORT=${5:-}
BENCH="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
BIN=${CARGO_TARGET_DIR:-$(dirname "$BENCH")/target}/release
BUN="$BENCH/peers/bun/node_modules/.bin/bun"
[ -x "$BUN" ] || { echo "Bun is missing: run bench/run.sh once (it installs it)" >&2; exit 1; }
[ -x "$BIN/floor-hub" ] || { echo "the floor hub is missing: run bench/run.sh once" >&2; exit 1; }
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
PEERS=(sqlite memory bun floor)
for run in $(seq 1 "$RUNS"); do
  k=$(((run - 1) % ${#PEERS[@]}))
  order=("${PEERS[@]:k}" "${PEERS[@]:0:k}")
  for peer in "${order[@]}"; do
    case $peer in
      bun)
        (cd "$BENCH/peers/bun" && exec taskset -c 0 "$BUN" server.js "$PORT") >"$D/log" 2>&1 &
        PID=$!
        wait_listening ;;
      floor) start_floor "127.0.0.1:$PORT" ;;
      *)
        start_ours "$BIN/server" "127.0.0.1:$PORT" --max-connections-per-ip 0 \
          --handshake-rate-per-ip 0 --store "$peer" ;;
    esac
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
  # The bare append + fdatasync, as many as one phase's messages at its rate, on CPU 0.
  fs=$(taskset -c 0 "$BIN/fsync-floor" "$D" "$((RATE * SECS))" "$RATE" |
    python3 -c "import json,sys; print(json.load(sys.stdin)['cpu_us_per_append'])" || echo fail)
  echo "$run fsync $fs" | tee -a "$OUT"
done
COMMIT=$(git -C "$BENCH" rev-parse --short HEAD 2>/dev/null || echo unknown)
python3 - "$OUT" "$N" "$RATE" "$SECS" "$REPORT" "$COMMIT" <<'PY'
import datetime, statistics, sys
out, n, rate, secs, report, commit = sys.argv[1], int(sys.argv[2]), *sys.argv[3:]
runs = {}
for line in open(out):
    run, what, v = line.split()
    if v not in ("fail", "lost"):
        runs.setdefault(run, {})[what] = float(v)
for r in runs.values():
    if "floor" in r and "fsync" in r:
        r["bound"] = r["floor"] + r["fsync"] / n
def col(what):
    return [r[what] for r in runs.values() if what in r]
def span(v, fmt):
    return f"{fmt.format(statistics.median(v))} [{fmt.format(min(v))}–{fmt.format(max(v))}]"
bun = statistics.median(col("bun")) if col("bun") else None
names = {"sqlite": "ours, SQLite (default)", "memory": "ours, `--store memory`", "bun": "Bun",
         "floor": "floor hub (the kernel's sends only)",
         "bound": "one fsync per message: floor hub + fsync floor ÷ N"}
lines = [f"One sender, {n:,} receivers, {rate} msg/s, {secs} s phases; {len(runs)} runs, the "
         "servers in turn. Server CPU per delivery (µs): median [min–max]; ÷ Bun: the ratio of "
         "the medians, and the median [min–max] of the per-run ratios.", "",
         "| server | µs per delivery | ÷ Bun (medians) | ÷ Bun (per run) |", "|---|---|---|---|"]
for what in ("sqlite", "memory", "bun", "floor", "bound"):
    v = col(what)
    if not v:
        lines.append(f"| {names[what]} | no run finished | | |")
        continue
    ratio = per_run = ""
    if bun:
        ratio = f"{statistics.median(v) / bun:.3f}"
        rr = [r[what] / r["bun"] for r in runs.values() if what in r and "bun" in r]
        per_run = span(rr, "{:.3f}") if rr else ""
    lines.append(f"| {names[what]} | {span(v, '{:.2f}')} | {ratio} | {per_run} |")
lines.append("")
if col("writer"):
    lines.append(f"SQLite writer thread: {span(col('writer'), '{:.0f}')} µs of CPU per message.")
if col("fsync"):
    lines.append(f"fsync floor (one bare append and its fdatasync, alone on CPU 0): "
                 f"{span(col('fsync'), '{:.0f}')} µs of CPU per message, "
                 f"{statistics.median(col('fsync')) / n:.3f} µs per delivery at {n:,} receivers.")
text = "\n".join(lines)
print(text)
if report:
    with open(report, "w") as f:
        when = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
        f.write("# Server CPU per delivery, one sender fanning out (`bench/cpu-ab.sh`)\n\n"
                f"Measured {when} on {commit}.\n\n" + text + "\n")
PY
