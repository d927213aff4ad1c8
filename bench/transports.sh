#!/usr/bin/env bash
# WebSocket against long polling and short polling on our server: N receivers in one room on one
# transport, one WebSocket sender at 10 msg/s. Per delivered message: bytes both ways at the
# application layer, server CPU, p50/p99 latency. For every run, each case on a fresh server
# pinned to CPU 0, the load generator on CPU 1; then transports.md, .json and .png.
#
#   bench/transports.sh            # 3 runs; 100 and 1,000 receivers (about 7 minutes)
#   bench/transports.sh --quick    # smoke test: 1 run, 4 s measured; writes
#                                  # bench/results/logs/transports-quick/, not bench/results/
#
# Options: --runs N, --out DIR (default bench/results), --sizes "100 1000", --secs S
#   (measured seconds per case), --short-header 'chat-wait: 0' (a header line for short polls).
# Environment: CARGO_TARGET_DIR is honoured; OUR_SERVER_ARGS adds flags to the server's command.
# Every server started here is stopped here (also on Ctrl-C); all traffic stays on 127.0.0.0/8.
set -euo pipefail

BENCH="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(dirname "$BENCH")"

QUICK=0
RUNS=""
OUT=""
SIZES="100 1000"
SECS=""
SHORT_HEADER=""
while [ $# -gt 0 ]; do
  case "$1" in
    --quick) QUICK=1 ;;
    --runs) RUNS="$2"; shift ;;
    --out) OUT="$2"; shift ;;
    --sizes) SIZES="$2"; shift ;;
    --secs) SECS="$2"; shift ;;
    --short-header) SHORT_HEADER="$2"; shift ;;
    -h|--help) sed -n '2,14p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "unknown option: $1 (try --help)" >&2; exit 2 ;;
  esac
  shift
done

RATE=10
# Short polling: one GET per receiver every PERIOD s, answered at once. Long polling: the
# server holds a GET up to LONG_WAIT (it caps it at half its idle timeout, 60 s).
PERIOD=2
LONG_WAIT=30s
if [ "$QUICK" = 1 ]; then
  RUNS="${RUNS:-1}"; SECS="${SECS:-4}"; OUT="${OUT:-$BENCH/results/logs/transports-quick}"
  WARMUP=2.5; MODE=quick
else
  RUNS="${RUNS:-3}"; SECS="${SECS:-15}"; OUT="${OUT:-$BENCH/results}"
  WARMUP=3; MODE=default
fi
# A short poll's message waits up to one period: the drain covers it and then some.
DRAIN=5
CONNECT_MAX=30
SETTLE_MAX=10
TRANSPORTS="ws long short"

T_START=$(date +%s)
log() { printf '[%4ss] %s\n' "$(( $(date +%s) - T_START ))" "$*" >&2; }

ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
command -v taskset >/dev/null || { echo "taskset (util-linux) is required" >&2; exit 1; }

SCRATCH="$OUT/logs/transports"
mkdir -p "$OUT"
rm -rf "$SCRATCH"
mkdir -p "$SCRATCH/raw"

# ---------------------------------------------------------------------------- processes we start
SERVER_PID=""
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
  stop_pid "$SERVER_PID"; SERVER_PID=""
  rm -rf "$SCRATCH/data"
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

# The chart needs matplotlib: run.sh's venv has it; otherwise it is added there.
PY=python3
if "$BENCH/.venv/bin/python" -c 'import matplotlib' 2>/dev/null; then
  PY="$BENCH/.venv/bin/python"
elif ! python3 -c 'import matplotlib' 2>/dev/null; then
  log "installing matplotlib in $BENCH/.venv"
  { [ -x "$BENCH/.venv/bin/python" ] || python3 -m venv "$BENCH/.venv"; } >"$SCRATCH/venv.log" 2>&1 \
    && "$BENCH/.venv/bin/pip" install -q matplotlib >>"$SCRATCH/venv.log" 2>&1 \
    && PY="$BENCH/.venv/bin/python" || log "matplotlib did not install: no chart"
fi

# start_server TRANSPORT LOG: a fresh server on a free port, pinned to CPU 0; sets SERVER_PID
# and ADDR. Limits meant for hostile clients are lifted as in run.sh (1,000 receivers from a
# few addresses, a sender far above a person's rate), plain-HTTP connections too (each poll
# client holds one); everything else stays at its default. The poll wait is the transport's:
# long polls are held up to LONG_WAIT, short ones answered at once.
start_server() {
  local transport="$1" logf="$2" i wait
  case "$transport" in
    short) wait=0s ;;
    *) wait="$LONG_WAIT" ;;
  esac
  rm -rf "$SCRATCH/data"
  # shellcheck disable=SC2086
  (export CHAT_MAX_CONNECTIONS=20000 CHAT_MAX_HTTP_CONNECTIONS=20000 CHAT_RATE_PER_SEC=1000000 \
      CHAT_RATE_BURST=1000000 CHAT_DATA_DIR="$SCRATCH/data" RUST_LOG="${RUST_LOG:-warn}"
   exec taskset -c 0 "$BIN/server" --listen 127.0.0.1:0 --poll-wait "$wait" \
     --max-connections-per-ip 0 --handshake-rate-per-ip 0 ${OUR_SERVER_ARGS:-}) >"$logf" 2>&1 &
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

log "mode $MODE: $RUNS run(s), receivers $SIZES, $RATE msg/s, ${WARMUP}s warm-up + ${SECS}s measured; \
load average $(cut -d' ' -f1-3 /proc/loadavg)"
echo "$MODE $RUNS $SECS $WARMUP $PERIOD $LONG_WAIT $(cut -d' ' -f1-3 /proc/loadavg)" >"$SCRATCH/mode.txt"
(cd "$ROOT" && git describe --always --dirty 2>/dev/null || echo unknown) >"$SCRATCH/commit.txt"
for run in $(seq 1 "$RUNS"); do
  for n in $SIZES; do
    # The transports take turns within a run, so a change in machine load hits them alike.
    for transport in $TRANSPORTS; do
      name="run$run-$transport-$n"
      start_server "$transport" "$SCRATCH/$name.server.log" || continue
      rc=0
      timeout --foreground --kill-after=5 120 taskset -c 1 "$BIN/loadgen" --server "$ADDR" \
        --server-pid "$SERVER_PID" --connect-phase-max "$CONNECT_MAX" --settle-max "$SETTLE_MAX" \
        transports --transport "$transport" --receivers "$n" --rate "$RATE" --warmup "$WARMUP" \
        --secs "$SECS" --drain "$DRAIN" --period "$PERIOD" --short-header "$SHORT_HEADER" \
        >"$SCRATCH/raw/$name.json" 2>"$SCRATCH/$name.loadgen.log" || rc=$?
      stop_pid "$SERVER_PID"; SERVER_PID=""
      echo "$(cut -d' ' -f1 /proc/loadavg)" >"$SCRATCH/raw/$name.load"
      if [ "$rc" = 0 ]; then log "$name done"; else log "$name FAILED (exit $rc; see $SCRATCH/$name.loadgen.log)"; fi
    done
  done
done

"$PY" "$BENCH/transports_report.py" "$SCRATCH" "$OUT"
log "wrote $OUT/transports.md, $OUT/transports.json and $OUT/transports.png (total $(( $(date +%s) - T_START ))s)"
