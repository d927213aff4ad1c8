#!/usr/bin/env bash
# Scale-out benchmark: fan-out latency and deliveries per second with 2 nodes against 1 node,
# through a real redis-server, plus the standalone server for reference. Every server process
# (nodes and Redis) is pinned to CPU 0, so each case has the same compute budget; the load
# generator runs on CPU 1 and spreads its clients over the nodes round-robin.
# Writes bench/results/cluster.md and cluster.json.
#   bench/cluster.sh [--quick]
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
RUNS=3; RECEIVERS=1000; SECS=2; TSECS=3
if [ "${1:-}" = "--quick" ]; then RUNS=1; RECEIVERS=500; SECS=1; TSECS=2; fi
TARGET=${CARGO_TARGET_DIR:-$ROOT/target}
command -v redis-server >/dev/null || { echo "redis-server missing: run scripts/setup.sh test" >&2; exit 1; }
cargo build --release -q -p server -p loadgen
ulimit -n "$(ulimit -Hn)"
OUT=bench/results; mkdir -p "$OUT"; JSON=$OUT/cluster.json; : > "$JSON"
TMP=$(mktemp -d); PIDS=()
stop_all() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done; PIDS=(); }
trap 'stop_all; rm -rf "$TMP"' EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# Sets NODE to the started node's address. Not called as $(start_node): a subshell would keep
# the pid from PIDS, and the node would outlive the script.
start_node() { # $1 = extra args
  local log; log=$(mktemp -p "$TMP")
  # shellcheck disable=SC2086
  CHAT_MAX_CONNECTIONS=20000 CHAT_RATE_PER_SEC=1000000 CHAT_RATE_BURST=1000000 RUST_LOG=error \
    taskset -c 0 "$TARGET/release/server" --listen 127.0.0.1:0 --data-dir "$TMP/data-$RANDOM" \
      --max-connections-per-ip 0 --handshake-rate-per-ip 0 $1 > "$log" 2>&1 &
  PIDS+=($!)
  for _ in $(seq 200); do grep -q listening "$log" && break; sleep 0.05; done
  NODE=$(sed -n 's#listening on http://##p' "$log")
}

run_case() { # $1 = label, $2 = node count (0 = standalone)
  local label=$1 nodes=$2 addrs=() extra="" rport=""
  if [ "$nodes" = 0 ]; then
    start_node ""; addrs+=("$NODE")
  else
    rport=$(free_port)
    taskset -c 0 redis-server --port "$rport" --bind 127.0.0.1 --save "" --appendonly no > /dev/null &
    PIDS+=($!)
    for _ in $(seq 100); do (echo > "/dev/tcp/127.0.0.1/$rport") 2>/dev/null && break; sleep 0.05; done
    for _ in $(seq "$nodes"); do start_node "--redis redis://127.0.0.1:$rport"; addrs+=("$NODE"); done
  fi
  if [ "${#addrs[@]}" -gt 1 ]; then extra="--also-server $(IFS=,; echo "${addrs[*]:1}")"; fi
  # shellcheck disable=SC2086
  fan=$(taskset -c 1 "$TARGET/release/loadgen" --server "${addrs[0]}" $extra fanout \
        --receivers "$RECEIVERS" --rates 10,100 --secs "$SECS" --drain 2)
  stop_all
  # Throughput on fresh processes (a fresh Redis too).
  addrs=()
  if [ "$nodes" = 0 ]; then start_node ""; addrs+=("$NODE"); else
    rport=$(free_port)
    taskset -c 0 redis-server --port "$rport" --bind 127.0.0.1 --save "" --appendonly no > /dev/null &
    PIDS+=($!)
    for _ in $(seq 100); do (echo > "/dev/tcp/127.0.0.1/$rport") 2>/dev/null && break; sleep 0.05; done
    for _ in $(seq "$nodes"); do start_node "--redis redis://127.0.0.1:$rport"; addrs+=("$NODE"); done
  fi
  extra=""; if [ "${#addrs[@]}" -gt 1 ]; then extra="--also-server $(IFS=,; echo "${addrs[*]:1}")"; fi
  # shellcheck disable=SC2086
  thr=$(taskset -c 1 "$TARGET/release/loadgen" --server "${addrs[0]}" $extra throughput \
        --clients 100 --secs "$TSECS" --warmup 1 --drain 2)
  stop_all
  python3 - "$label" "$fan" "$thr" >> "$JSON" <<'PY'
import json, sys
label, fan, thr = sys.argv[1], json.loads(sys.argv[2])["report"], json.loads(sys.argv[3])["report"]
out = {"case": label}
for ph in fan["phases"]:
    r = ph.get("rate") or ph.get("rate_per_s")
    lat = ph["latency"]
    out[f"p50_{r}"] = lat["p50_us"] / 1000
    out[f"p99_{r}"] = lat["p99_us"] / 1000
    out[f"lost_{r}"] = ph["expected"] - ph["delivered"]
out["deliveries_per_s"] = thr["deliveries_per_s"]
out["throughput_p99"] = thr["latency"]["p99_us"] / 1000
print(json.dumps(out))
PY
  tail -1 "$JSON"
}

for run in $(seq "$RUNS"); do
  run_case "standalone (no Redis)" 0
  run_case "1 node + Redis" 1
  run_case "2 nodes + Redis" 2
done

python3 - "$JSON" "$RECEIVERS" > "$OUT/cluster.md" <<'PY'
import json, sys, statistics
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
n = sys.argv[2]
cases = list(dict.fromkeys(r["case"] for r in rows))
def fmt(vals):
    m = statistics.median(vals)
    return f"{m:,.1f} [{min(vals):,.1f}-{max(vals):,.1f}]" if len(vals) > 1 else f"{m:,.1f}"
keys = [k for k in rows[0] if k.startswith(("p50_", "p99_", "lost_"))]
print(f"Fan-out: {n} receivers spread over the nodes, one sender, 100-byte text. Throughput: 100 clients all sending. Median [min-max] over runs; every server process (nodes and Redis) on CPU 0, the load generator on CPU 1.\n")
print("| case | " + " | ".join(keys) + " | deliveries/s (100 clients) | throughput p99 ms |")
print("|---|" + "---|" * (len(keys) + 2))
for c in cases:
    rs = [r for r in rows if r["case"] == c]
    cells = [fmt([r[k] for r in rs]) for k in keys]
    print(f"| {c} | " + " | ".join(cells) + f" | {fmt([r['deliveries_per_s'] for r in rs])} | {fmt([r['throughput_p99'] for r in rs])} |")
two = [r for r in rows if r["case"].startswith("2 nodes")]
one = [r for r in rows if r["case"].startswith("1 node")]
if one and two:
    ratio = statistics.median(r["deliveries_per_s"] for r in two) / statistics.median(r["deliveries_per_s"] for r in one)
    print(f"\n2 nodes / 1 node deliveries per second: {ratio:.2f}")
PY
cat "$OUT/cluster.md"
