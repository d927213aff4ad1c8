#!/usr/bin/env bash
# Light-load p99 against the floor, with phases long enough to judge: the floor hub, our /ws and
# our /chat take turns, run after run, at 10 msg/s (RATE=100 for 100 msg/s); each run's ratio is
# ours ÷ the floor's p99 in that run, and the median of those ratios is printed per size and
# endpoint.
#   bench/floor-ab.sh RUNS SECS N...   # e.g. 6 6 1000 5000: 6 runs of 60 messages at 1k and 5k
#   RATE=100 bench/floor-ab.sh 6 3 1000   # 300 messages at 1k (the floor keeps up there)
#   WARMUP=2 bench/floor-ab.sh 8 6 1000   # past the receivers' first 16 messages (quick ACKs)
#   REPORT=bench/results/light-p99.md bench/floor-ab.sh 16 6 1000 5000   # also as Markdown there
# Needs `bench/run.sh` (or `cargo build --release -p server -p loadgen -p floor-hub`) first.
# Servers are pinned to CPU 0, the load generator to CPU 1; all traffic stays on 127.0.0.1.
set -euo pipefail
RUNS=$1 SECS=$2 RATE=${RATE:-10} WARMUP=${WARMUP:-0.5}
shift 2
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BIN=${CARGO_TARGET_DIR:-$ROOT/target}/release
. "$ROOT/bench/ab-common.sh"
# The order turns by one each run: whichever comes first after another server's 1,000 sockets
# closed is not always the same one (in 10 runs with /chat ahead of /ws, /ws's median ratio
# was 1.01 against 1.10 in 16 right after the floor).
ORDER=(floor ws chat)
for run in $(seq 1 "$RUNS"); do
  for n in "$@"; do
    for i in 0 1 2; do
      peer=${ORDER[$(( (i + run - 1) % 3 ))]}
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
COMMIT=$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)
python3 - "$OUT" "${REPORT:-}" "$RUNS" "$SECS" "$RATE" "$COMMIT" "$WARMUP" <<'PY'
import random, statistics, sys, time
out, report, runs, secs, rate, commit, warmup = sys.argv[1:8]
p99 = {}
for line in open(out):
    run, n, peer, v = line.split()
    if v not in ("fail", "lost"):
        p99[(run, n, peer)] = float(v) / 1000
med = statistics.median
rows = []
for n in sorted({k[1] for k in p99}, key=int):
    floor = [v for (run, nn, peer), v in p99.items() if nn == n and peer == "floor"]
    for peer in ("ws", "chat"):
        pairs = [(p99[(run, n, peer)], p99[(run, n, "floor")]) for (run, nn, p) in p99
                 if nn == n and p == peer and (run, n, "floor") in p99]
        if not pairs:
            continue
        r = [a / b for a, b in pairs]
        print(f"{n} receivers, ours /{peer} ÷ floor p99: median {med(r):.2f} "
              f"(of {len(r)}: {min(r):.2f}-{max(r):.2f})")
        # The median's 95% interval by resampling the runs (seeded: the same runs give the same
        # interval).
        rng = random.Random(0)
        boot = sorted(med(rng.choices(r, k=len(r))) for _ in range(2000))
        ours = [a for a, _ in pairs]
        rows.append((n, peer, len(r), med(floor), min(floor), max(floor), med(ours), min(ours),
                     max(ours), med(r), boot[50], boot[1949], med(ours) / med(floor),
                     sum(x <= 1.1 for x in r)))
if report and rows:
    with open(report, "w") as f:
        f.write("# Light-load p99 against the floor (`bench/floor-ab.sh`)\n\n")
        f.write(f"Measured {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())} on {commit} "
                f"({runs} runs; per run and server, {secs} s at {rate} msg/s after a {warmup} s "
                "warm-up).\n\n")
        f.write("One sender, N receivers, 100-byte text. Each run starts the floor hub, our `/ws` "
                "and our `/chat` in turn, the order turning by one each run (each on CPU 0, the "
                "load generator on CPU 1), and takes "
                "each one's p99 of every delivery; a run's ratio is ours ÷ the floor's p99 in that "
                "run. p99 in ms: median [min–max] over the runs. The interval is the median "
                "ratio's 95% interval by resampling the runs.\n\n")
        f.write("| receivers | endpoint | runs | floor p99 ms | ours p99 ms | ours ÷ floor, "
                "median of the runs | 95% interval | ratio of the medians | runs at or under "
                "1.1 |\n|---:|---|---:|---:|---:|---:|---:|---:|---:|\n")
        for (n, peer, k, fm, fl, fh, om, ol, oh, rm, lo, hi, rom, under) in rows:
            f.write(f"| {int(n):,} | /{peer} | {k} | {fm:.2f} [{fl:.2f}–{fh:.2f}] | "
                    f"{om:.2f} [{ol:.2f}–{oh:.2f}] | **{rm:.2f}** | {lo:.2f}–{hi:.2f} | "
                    f"{rom:.2f} | {under} of {k} |\n")
    print(f"wrote {report}")
PY
