#!/usr/bin/env bash
# Sign-ins against fan-out, and the timing of failed sign-ins, on our server (typed protocol).
# For every run, each case on a fresh server pinned to CPU 0, the load generators on CPU 1:
#   alone    fan-out, 1000 receivers, 100 msg/s: p50/p99
#   with     the same fan-out while 20 sign-ins/s (Argon2id) run on new connections beside it
#   timing   failed sign-ins, one at a time: wrong password vs a name with no account, 50 each
# then writes signin.json and signin.md.
#
#   bench/signin.sh             # 3 runs (about 1 minute per run)
#   bench/signin.sh --quick     # smoke test: 1 run, 200 receivers, 1 s phases, 5 tries
#
# Options: --runs N, --out DIR (default bench/results; quick: bench/results/logs/signin-quick),
#   --rate R (sign-ins per second, 20), --tries N (timing tries of each kind, 50).
# Environment: CARGO_TARGET_DIR is honoured; OUR_SERVER_ARGS adds flags to the server's command.
# Every server started here is stopped here (also on Ctrl-C); all traffic stays on 127.0.0.0/8.
set -euo pipefail

BENCH="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(dirname "$BENCH")"

QUICK=0
RUNS=""
OUT=""
RATE=20
TRIES=""
while [ $# -gt 0 ]; do
  case "$1" in
    --quick) QUICK=1 ;;
    --runs) RUNS="$2"; shift ;;
    --out) OUT="$2"; shift ;;
    --rate) RATE="$2"; shift ;;
    --tries) TRIES="$2"; shift ;;
    -h|--help) sed -n '2,15p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "unknown option: $1 (try --help)" >&2; exit 2 ;;
  esac
  shift
done

if [ "$QUICK" = 1 ]; then
  RUNS="${RUNS:-1}"; TRIES="${TRIES:-5}"; OUT="${OUT:-$BENCH/results/logs/signin-quick}"
  RECEIVERS=200; FANOUT_SECS=1; FANOUT_DRAIN=0.7; FANOUT_WARMUP=0.3
  CONNECT_MAX=10; SETTLE_MAX=4
  MODE=quick
else
  RUNS="${RUNS:-3}"; TRIES="${TRIES:-50}"; OUT="${OUT:-$BENCH/results}"
  RECEIVERS=1000; FANOUT_SECS=5; FANOUT_DRAIN=3; FANOUT_WARMUP=1
  CONNECT_MAX=15; SETTLE_MAX=5
  MODE=default
fi
FANOUT_RATE=100
# Sign-ins start with the fan-out's load generator and last through its connect and settle
# (bounded by CONNECT_MAX + SETTLE_MAX, a few seconds in practice: LEAD covers that), its
# warm-up and its measured phase; the report checks that they covered the phase.
LEAD=4
SIGNIN_SECS=$(python3 -c "print($LEAD + $FANOUT_WARMUP + $FANOUT_SECS + $FANOUT_DRAIN)")
ACCOUNT=bench-user
PASSWORD=bench-password-1

T_START=$(date +%s)
log() { printf '[%4ss] %s\n' "$(( $(date +%s) - T_START ))" "$*" >&2; }

ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
command -v taskset >/dev/null || { echo "taskset (util-linux) is required" >&2; exit 1; }

SCRATCH="$OUT/logs/signin"
mkdir -p "$OUT"
rm -rf "$SCRATCH"
mkdir -p "$SCRATCH/raw"

# ---------------------------------------------------------------------------- processes we start
SERVER_PID=""
SIGNIN_PID=""
stop_pid() { # PID: TERM, up to 3 s, then KILL
  local pid="$1" i
  [ -n "$pid" ] || return 0
  kill -TERM "$pid" 2>/dev/null || true
  for i in $(seq 1 60); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.05
  done
  kill -KILL "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
}
cleanup() {
  stop_pid "$SIGNIN_PID"; SIGNIN_PID=""
  stop_pid "$SERVER_PID"; SERVER_PID=""
}
trap cleanup EXIT
trap 'cleanup; exit 130' INT TERM

# --------------------------------------------------------------------------------------- build
TARGET_DIR="$(cd "$ROOT" && cargo metadata --format-version 1 --no-deps \
  | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')"
BIN="$TARGET_DIR/release"
log "building server and loadgen (target dir $TARGET_DIR)"
(cd "$ROOT" && cargo build --release -p server -p loadgen) >"$SCRATCH/build.log" 2>&1 || {
  echo "the build failed; see $SCRATCH/build.log" >&2; exit 1; }

# start_server LOG: a fresh server on a free port, pinned to CPU 0; sets SERVER_PID and ADDR.
# The flags are those of run.sh's `ours-typed` (limits meant for hostile clients lifted), with
# the memory store and 127.0.0.1 trusted as a proxy: each sign-in names its own client address
# in X-Forwarded-For, so the per-(account, address) throttle of failures never trips.
start_server() {
  local logf="$1" i
  rm -rf "$SCRATCH/data"
  # shellcheck disable=SC2086
  (export CHAT_MAX_CONNECTIONS=20000 CHAT_RATE_PER_SEC=1000000 CHAT_RATE_BURST=1000000 \
      CHAT_DATA_DIR="$SCRATCH/data" RUST_LOG="${RUST_LOG:-warn}"
   exec taskset -c 0 "$BIN/server" --listen 127.0.0.1:0 --store memory \
     --trusted-proxies 127.0.0.1 --max-connections-per-ip 0 --handshake-rate-per-ip 0 \
     ${OUR_SERVER_ARGS:-}) >"$logf" 2>&1 &
  SERVER_PID=$!
  for i in $(seq 1 300); do
    ADDR=$(sed -n 's#.*listening on http://##p' "$logf" | head -1)
    [ -n "$ADDR" ] && return 0
    kill -0 "$SERVER_PID" 2>/dev/null || break
    sleep 0.05
  done
  stop_pid "$SERVER_PID"; SERVER_PID=""
  echo "the server did not start; see $logf" >&2
  return 1
}

# loadgen LIMIT OUT ERR -- args...: the load generator on CPU 1, against ADDR, bounded in time.
# `--foreground` keeps it in the terminal's process group, so Ctrl-C stops it at once.
loadgen() {
  local limit="$1" out="$2" err="$3"; shift 4
  timeout --foreground --kill-after=5 "$limit" taskset -c 1 "$BIN/loadgen" --server "$ADDR" --proto typed \
    --server-pid "$SERVER_PID" --connect-phase-max "$CONNECT_MAX" --settle-max "$SETTLE_MAX" \
    "$@" >"$out" 2>"$err"
}

FANOUT=(fanout --receivers "$RECEIVERS" --rates "$FANOUT_RATE" --secs "$FANOUT_SECS"
  --drain "$FANOUT_DRAIN" --warmup "$FANOUT_WARMUP")

# case_done NAME RC: logs how a case ended (its JSON stays in raw/, or an error file beside).
case_done() {
  if [ "$2" = 0 ]; then log "$1 done"; else log "$1 FAILED (exit $2; see $SCRATCH/$1.*.log)"; fi
}

log "mode $MODE: $RUNS run(s), $RECEIVERS receivers at $FANOUT_RATE msg/s, $RATE sign-ins/s \
for ${SIGNIN_SECS}s, $TRIES timing tries; load average $(cut -d' ' -f1-3 /proc/loadavg)"
for run in $(seq 1 "$RUNS"); do
  # Fan-out alone.
  name="run$run-alone"
  start_server "$SCRATCH/$name.server.log"
  rc=0
  loadgen 90 "$SCRATCH/raw/$name.json" "$SCRATCH/$name.loadgen.log" -- "${FANOUT[@]}" || rc=$?
  stop_pid "$SERVER_PID"; SERVER_PID=""
  case_done "$name" "$rc"

  # The same fan-out with sign-ins beside it (both load generators on CPU 1).
  name="run$run-with"
  start_server "$SCRATCH/$name.server.log"
  (timeout --kill-after=5 "$(python3 -c "print(int($SIGNIN_SECS) + 60)")" taskset -c 1 \
     "$BIN/loadgen" --server "$ADDR" signins --rate "$RATE" --secs "$SIGNIN_SECS" \
     --name "$ACCOUNT" --password "$PASSWORD" --register) \
    >"$SCRATCH/raw/$name-signins.json" 2>"$SCRATCH/$name.signins.log" &
  SIGNIN_PID=$!
  rc=0
  loadgen 90 "$SCRATCH/raw/$name.json" "$SCRATCH/$name.loadgen.log" -- "${FANOUT[@]}" || rc=$?
  src=0
  wait "$SIGNIN_PID" || src=$?
  SIGNIN_PID=""
  stop_pid "$SERVER_PID"; SERVER_PID=""
  case_done "$name" "$rc"
  case_done "$name-signins" "$src"

  # Failed sign-ins, one at a time.
  name="run$run-timing"
  start_server "$SCRATCH/$name.server.log"
  rc=0
  loadgen 300 "$SCRATCH/raw/$name.json" "$SCRATCH/$name.loadgen.log" -- signin-timing \
    --tries "$TRIES" --name "$ACCOUNT" --password "$PASSWORD" || rc=$?
  stop_pid "$SERVER_PID"; SERVER_PID=""
  case_done "$name" "$rc"
done

python3 "$BENCH/signin_report.py" "$SCRATCH/raw" "$OUT" "$MODE" "$RUNS" "$RATE" "$SIGNIN_SECS" \
  "$(cut -d' ' -f1-3 /proc/loadavg)"
log "wrote $OUT/signin.md and $OUT/signin.json (total $(( $(date +%s) - T_START ))s)"
