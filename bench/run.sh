#!/usr/bin/env bash
# The chat benchmark, in one command: builds the load generator and the Rust peers, installs the
# other peers (venv, npm) if they are missing, then for every run, scenario and peer starts a fresh
# server pinned to CPU 0, runs the load generator pinned to CPU 1, stops the server, and finally
# writes bench/results/ (results.md, results.json, latency.png, raw/).
#
#   bench/run.sh            # default: 3 runs, 1k/5k/10k receivers (about 19 minutes)
#   bench/run.sh --quick    # 1 run, fewer clients, shorter phases (under 2 minutes)
#
# Options: --runs N, --peers demo,node,socketio,bun,tungstenite,ours,ours-typed,ours-mem,floor,
#   --out DIR,
#   --slow-secs S (length of the slow-consumer phase: 3 s default, 2 s quick).
# Environment: CARGO_TARGET_DIR is honoured; OUR_SERVER_ARGS adds flags to our server's command.
# Every server started here is stopped here (also on Ctrl-C); all traffic stays on 127.0.0.0/8.
set -euo pipefail

BENCH="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(dirname "$BENCH")"
ALL_PEERS="demo,node,socketio,bun,tungstenite,ours,ours-typed,ours-mem,floor"

QUICK=0
RUNS=""
PEERS="$ALL_PEERS"
OUT="$BENCH/results"
SLOW_SECS=""
while [ $# -gt 0 ]; do
  case "$1" in
    --quick) QUICK=1 ;;
    --runs) RUNS="$2"; shift ;;
    --peers) PEERS="$2"; shift ;;
    --out) OUT="$2"; shift ;;
    --slow-secs) SLOW_SECS="$2"; shift ;;
    -h|--help) sed -n '2,14p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "unknown option: $1 (try --help)" >&2; exit 2 ;;
  esac
  shift
done

if [ "$QUICK" = 1 ]; then
  RUNS="${RUNS:-1}"
  SIZES="500 2000"           # fan-out receivers; the largest also gives idle memory per connection
  FANOUT_SECS=1; FANOUT_SECS_SMALLEST=1; FANOUT_DRAIN=0.7; FANOUT_WARMUP=0.3
  CONNECT_MAX=10; SETTLE_MAX=4     # seconds; bound what a presence storm on join can cost
  TP_CLIENTS=100; TP_WINDOW=8; TP_WARMUP=0.5; TP_SECS=1.5; TP_DRAIN=0.7
  SLOW_N=2000; SLOW_RATE=100; SLOW_BASE=0.7; SLOW_SECS="${SLOW_SECS:-2}"; SLOW_DRAIN=0.7; SLOW_RESUME=0.5
  STORM_N=2000
  ROOMS_USERS=2000; ROOMS_N=200; ROOMS_WARMUP=0.5; ROOMS_SECS=2; ROOMS_DRAIN=1
  MODE=quick
else
  RUNS="${RUNS:-3}"
  SIZES="1000 5000 10000"
  # Per rate (10, 100 msg/s): 20 and 100 messages. The drain is the longest wait; a server that
  # keeps up ends it in milliseconds. The warm-up (at 10 msg/s) is reported apart. (Shorter
  # than before the storm and Socket.IO joined, so that all peers fit in 20 minutes.)
  FANOUT_SECS=2,1; FANOUT_DRAIN=5; FANOUT_WARMUP=0.5
  # At the smallest N the 10 msg/s phase is the light load whose p99 is held against the
  # floor's: 60 messages there, so that one message slowed by something else on the machine
  # does not decide the p99 (of 20, one slow message held most of the top 1% of deliveries).
  FANOUT_SECS_SMALLEST=6,1
  CONNECT_MAX=15; SETTLE_MAX=5
  TP_CLIENTS=100; TP_WINDOW=8; TP_WARMUP=0.5; TP_SECS=3; TP_DRAIN=1.5
  SLOW_N=10000; SLOW_RATE=100; SLOW_BASE=1; SLOW_SECS="${SLOW_SECS:-3}"; SLOW_DRAIN=1.5; SLOW_RESUME=1
  STORM_N=10000
  # Many rooms: 10k users, 1,000 rooms of 50, 5 rooms each, 1% sending 1 msg/s (3 s: 14,700
  # deliveries per run). With it the slow phases were shortened again (1 + 3 s, 1 s resume).
  ROOMS_USERS=10000; ROOMS_N=1000; ROOMS_WARMUP=0.5; ROOMS_SECS=3; ROOMS_DRAIN=3
  MODE=default
fi
FANOUT_RATES="10,100"
SMALLEST_N="${SIZES%% *}"
fanout_secs() { # N -> the phases' lengths at N receivers
  if [ "$1" = "$SMALLEST_N" ]; then echo "$FANOUT_SECS_SMALLEST"; else echo "$FANOUT_SECS"; fi
}

T_START=$(date +%s)
log() { printf '[%4ss] %s\n' "$(( $(date +%s) - T_START ))" "$*" >&2; }

# Sockets: 10k clients in one load-generator process, 10k connections in one server.
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
if [ "$(ulimit -n)" != unlimited ] && [ "$(ulimit -n)" -lt 10200 ]; then
  log "warning: open-files limit is $(ulimit -n); 10k-client scenarios will fail"
fi
command -v taskset >/dev/null || { echo "taskset (util-linux) is required" >&2; exit 1; }

mkdir -p "$OUT"
rm -rf "$OUT/raw" "$OUT/logs"
mkdir -p "$OUT/raw" "$OUT/logs"
STATUS="$OUT/logs/status.tsv"   # peer <TAB> state <TAB> detail, read by report.py
: >"$STATUS"
peer_status() { printf '%s\t%s\t%s\n' "$1" "$2" "${3:-}" >>"$STATUS"; }

# ---------------------------------------------------------------------------- servers we start
SERVER_PID=""
cleanup() {
  if [ -n "$SERVER_PID" ] && kill -0 "$SERVER_PID" 2>/dev/null; then
    kill -KILL "$SERVER_PID" 2>/dev/null || true
    wait "$SERVER_PID" 2>/dev/null || true
  fi
  SERVER_PID=""
}
trap cleanup EXIT
trap 'cleanup; exit 130' INT TERM

# --------------------------------------------------------------------------------------- build
TARGET_DIR="$(cd "$ROOT" && cargo metadata --format-version 1 --no-deps \
  | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')"
BIN="$TARGET_DIR/release"
log "building loadgen, tungstenite-hub and floor-hub (target dir $TARGET_DIR)"
(cd "$ROOT" && cargo build --release -p loadgen) >"$OUT/logs/build-loadgen.log" 2>&1 || {
  echo "the load generator does not build; see $OUT/logs/build-loadgen.log" >&2; exit 1; }
HUB_OK=1; OURS_OK=1; FLOOR_OK=1
(cd "$ROOT" && cargo build --release -p tungstenite-hub) >"$OUT/logs/build-hub.log" 2>&1 || HUB_OK=0
(cd "$ROOT" && cargo build --release -p floor-hub) >"$OUT/logs/build-floor.log" 2>&1 || FLOOR_OK=0
log "building our server"
(cd "$ROOT" && cargo build --release -p server) >"$OUT/logs/build-server.log" 2>&1 || OURS_OK=0
[ -x "$BIN/server" ] || OURS_OK=0
# The store's part of the throughput scenario's durable bound (run beside ours-mem).
STORE_FLOOR_OK=1
(cd "$ROOT" && cargo build --release -p server --example store-floor) \
  >>"$OUT/logs/build-server.log" 2>&1 || STORE_FLOOR_OK=0

# ------------------------------------------------------------------------------------- install
VENV="$BENCH/.venv"
# The demo's stack, pinned as verified on these machines (Flask 2+ breaks gevent-websocket 0.10).
DEMO_REQS=(flask==1.1.4 werkzeug==1.0.1 "jinja2<3" "itsdangerous<2" "markupsafe<2.1" gevent gevent-websocket)
REPORT_REQS=(matplotlib)
DEMO_OK=1
want="${DEMO_REQS[*]} ${REPORT_REQS[*]}"
if [ -x "$VENV/bin/python" ] && [ "$(cat "$VENV/.bench-reqs" 2>/dev/null)" = "$want" ]; then
  log "venv present ($VENV)"
else
  log "creating the venv ($VENV): ${want}"
  if python3 -m venv "$VENV" >"$OUT/logs/venv.log" 2>&1 \
    && "$VENV/bin/pip" install -q "${DEMO_REQS[@]}" >>"$OUT/logs/venv.log" 2>&1; then
    "$VENV/bin/pip" install -q "${REPORT_REQS[@]}" >>"$OUT/logs/venv.log" 2>&1 \
      || log "matplotlib did not install: no chart"
    echo "$want" >"$VENV/.bench-reqs"
  else
    DEMO_OK=0
  fi
fi
"$VENV/bin/python" -c 'import flask, gevent, geventwebsocket' 2>/dev/null || DEMO_OK=0

npm_peer() { # dir package version -> installs when the pinned version is not there
  local dir="$1" pkg="$2" ver="$3" have
  have="$(node -e "try{console.log(require('$dir/node_modules/$pkg/package.json').version)}catch(e){}" 2>/dev/null || true)"
  if [ "$have" = "$ver" ]; then return 0; fi
  log "npm install in $dir ($pkg@$ver)"
  (cd "$dir" && npm install --no-audit --no-fund) >"$OUT/logs/npm-$pkg.log" 2>&1
}
NODE_OK=1; BUN_OK=1; SIO_OK=1
command -v node >/dev/null && command -v npm >/dev/null || { NODE_OK=0; BUN_OK=0; SIO_OK=0; }
if [ "$NODE_OK" = 1 ]; then npm_peer "$BENCH/peers/node-ws" ws 8.23.0 || NODE_OK=0; fi
if [ "$SIO_OK" = 1 ]; then npm_peer "$BENCH/peers/socketio" socket.io 4.8.4 || SIO_OK=0; fi
if [ "$BUN_OK" = 1 ]; then
  npm_peer "$BENCH/peers/bun" bun 1.4.4 || BUN_OK=0
  "$BENCH/peers/bun/node_modules/.bin/bun" --version >/dev/null 2>&1 || BUN_OK=0
fi

# Which peers can run, and why not the others (reported in the table, never dropped).
RUNNABLE=()
IFS=',' read -r -a WANTED <<<"$PEERS"
for p in "${WANTED[@]}"; do
  case "$p" in
    demo) ok=$DEMO_OK; why="venv install failed (logs/venv.log)" ;;
    node) ok=$NODE_OK; why="npm install of ws failed (logs/npm-ws.log)" ;;
    socketio) ok=$SIO_OK; why="npm install of socket.io failed (logs/npm-socket.io.log)" ;;
    bun) ok=$BUN_OK; why="npm install of bun failed (logs/npm-bun.log)" ;;
    tungstenite) ok=$HUB_OK; why="build failed (logs/build-hub.log)" ;;
    floor) ok=$FLOOR_OK; why="build failed (logs/build-floor.log)" ;;
    ours|ours-typed|ours-mem) ok=$OURS_OK; why="build failed (logs/build-server.log)" ;;
    *) echo "unknown peer $p (known: $ALL_PEERS)" >&2; exit 2 ;;
  esac
  if [ "$ok" = 1 ]; then RUNNABLE+=("$p"); peer_status "$p" ready; else peer_status "$p" unavailable "$why"; log "$p: $why"; fi
done

proto_of() { case "$1" in ours-typed) echo typed ;; socketio) echo socketio ;; *) echo demo ;; esac; }

# start_peer NAME PORT LOG: starts the server pinned to CPU 0, sets SERVER_PID, waits for it to
# print its "listening on" line. taskset execs the server, so the pid is the server's own.
start_peer() {
  local name="$1" port="$2" logf="$3"
  case "$name" in
    demo) (cd "$BENCH/peers" && exec taskset -c 0 "$VENV/bin/python" flask_demo.py "$port") >"$logf" 2>&1 & ;;
    node) (cd "$BENCH/peers/node-ws" && exec taskset -c 0 node server.js "$port") >"$logf" 2>&1 & ;;
    bun) (cd "$BENCH/peers/bun" && exec taskset -c 0 node_modules/.bin/bun server.js "$port") >"$logf" 2>&1 & ;;
    socketio) (cd "$BENCH/peers/socketio" && exec taskset -c 0 node server.js "$port") >"$logf" 2>&1 & ;;
    tungstenite) (exec taskset -c 0 "$BIN/tungstenite-hub" --listen "127.0.0.1:$port") >"$logf" 2>&1 & ;;
    floor) (exec taskset -c 0 "$BIN/floor-hub" --listen "127.0.0.1:$port") >"$logf" 2>&1 & ;;
    ours|ours-typed|ours-mem)
      # Limits meant for hostile clients are lifted so the benchmark measures the hub: the
      # load generator's senders are far above a person's rate, 10k receivers + 1 sender
      # exceed the default connection cap, and they all come from one address (loopback is
      # not exempt from the per-address limits). Queue sizes and everything else stay at
      # defaults.
      # A fresh data directory per start: the load generator reuses nicknames and client ids
      # from run to run, and a store that remembered them would (rightly) treat every send of a
      # later run as an idempotent resend, acked and not delivered again.
      # (A restart in the reconnect storm keeps it: KEEP_DATA=1.)
      # Guests may create rooms: the many-rooms scenario's users are guests. `ours-mem` is ours
      # with the memory store instead of the durable default, beside it in the throughput table.
      [ "${KEEP_DATA:-0}" = 1 ] || rm -rf "$OUT/logs/data"
      local store=sqlite
      [ "$name" = ours-mem ] && store=memory
      # shellcheck disable=SC2086
      (export CHAT_MAX_CONNECTIONS=20000 CHAT_RATE_PER_SEC=1000000 CHAT_RATE_BURST=1000000 \
          CHAT_DATA_DIR="$OUT/logs/data" RUST_LOG="${RUST_LOG:-warn}"
       exec taskset -c 0 "$BIN/server" --listen "127.0.0.1:$port" \
         --max-connections-per-ip 0 --handshake-rate-per-ip 0 --guests-create-rooms \
         --store "$store" ${OUR_SERVER_ARGS:-}) >"$logf" 2>&1 & ;;
  esac
  SERVER_PID=$!
  local i
  for i in $(seq 1 300); do
    if grep -q "listening on" "$logf" 2>/dev/null; then return 0; fi
    kill -0 "$SERVER_PID" 2>/dev/null || break
    sleep 0.05
  done
  stop_peer
  return 1
}

stop_peer() {
  [ -n "$SERVER_PID" ] || return 0
  kill -TERM "$SERVER_PID" 2>/dev/null || true
  local i
  for i in $(seq 1 60); do
    kill -0 "$SERVER_PID" 2>/dev/null || break
    sleep 0.05
  done
  kill -KILL "$SERVER_PID" 2>/dev/null || true
  wait "$SERVER_PID" 2>/dev/null || true
  SERVER_PID=""
}

# The floor sends once per delivery and coalesces nothing, so it is a floor only while one core
# keeps up: it runs the phases of at most 100k deliveries/s (about half of what a core sends
# here); at 5k and 10k receivers x 100 msg/s it would only queue, for seconds.
FLOOR_MAX_DELIVERIES=100000
floor_phases() { # N -> "RATES SECS", FANOUT_RATES and fanout_secs cut to the phases the floor runs
  local n="$1" i rates="" secs="" r s
  local -a R S
  IFS=',' read -r -a R <<<"$FANOUT_RATES"
  IFS=',' read -r -a S <<<"$(fanout_secs "$n")"
  for i in "${!R[@]}"; do
    r="${R[$i]}"; s="${S[$i]:-${S[0]}}"
    [ $((n * r)) -le "$FLOOR_MAX_DELIVERIES" ] || continue
    rates="${rates:+$rates,}$r"; secs="${secs:+$secs,}$s"
  done
  echo "${rates:-${R[0]}} ${secs:-${S[0]}}"
}

# record RAW RUN PEER CASE RC ALIVE LLOG T0: the case's JSON from the load generator's output
# (RAW.tmp), or why there is none.
record() {
  python3 - "$@" <<'EOF'
import json, sys, time
raw, run, peer, case, rc, alive, llog, t0 = sys.argv[1:]
rec = {"run": int(run), "peer": peer, "case": case, "wall_s": time.time() - float(t0),
       "server_alive_after": alive == "1"}
try:
    rec["result"] = json.load(open(raw + ".tmp"))
    rec["ok"] = True
except Exception:
    err = open(llog, errors="replace").read().strip()[-400:]
    rec["ok"] = False
    rec["error"] = ("load generator timed out" if rc in ("124", "137") else f"load generator exit {rc}") + (": " + err if err else "")
json.dump(rec, open(raw, "w"))
EOF
  rm -f "$1.tmp"
  log "$(basename "$1" .json) done ($(python3 -c "import json;r=json.load(open('$1'));print('ok' if r['ok'] else 'FAILED: '+r['error'][:120])"))"
}

PORT=21000
# run_case RUN PEER CASE TIMEOUT -- loadgen scenario args...
run_case() {
  local run="$1" peer="$2" case="$3" limit="$4"; shift 5
  local name="run$run-$peer-$case" raw="$OUT/raw/run$run-$peer-$case.json"
  local slog="$OUT/logs/$name.server.log" llog="$OUT/logs/$name.loadgen.log"
  PORT=$((PORT + 1))
  local t0; t0=$(date +%s.%N)
  if ! start_peer "$peer" "$PORT" "$slog"; then
    log "$name: server did not start (see $slog)"
    python3 - "$raw" "$run" "$peer" "$case" "$slog" <<'EOF'
import json, sys
raw, run, peer, case, slog = sys.argv[1:]
tail = open(slog, errors="replace").read()[-400:]
json.dump({"run": int(run), "peer": peer, "case": case, "ok": False,
           "error": "server did not start: " + tail.strip()}, open(raw, "w"))
EOF
    return 0
  fi
  local rc=0
  timeout --kill-after=5 "$limit" taskset -c 1 "$BIN/loadgen" --server "127.0.0.1:$PORT" \
    --proto "$(proto_of "$peer")" --server-pid "$SERVER_PID" --connect-phase-max "$CONNECT_MAX" \
    --settle-max "$SETTLE_MAX" "$@" >"$raw.tmp" 2>"$llog" || rc=$?
  local alive=1
  kill -0 "$SERVER_PID" 2>/dev/null || alive=0
  stop_peer
  record "$raw" "$run" "$peer" "$case" "$rc" "$alive" "$llog" "$t0"
}

# run_storm RUN PEER TIMEOUT: the reconnect storm. The load generator stops the server once
# every client is in; it is started here again on the same port and data, and its pid goes to
# the file the load generator waits for.
run_storm() {
  local run="$1" peer="$2" limit="$3"
  local name="run$run-$peer-storm" raw="$OUT/raw/run$run-$peer-storm.json"
  local slog="$OUT/logs/$name.server.log" llog="$OUT/logs/$name.loadgen.log" pidf="$OUT/logs/$name.pid"
  PORT=$((PORT + 1))
  local t0; t0=$(date +%s.%N)
  rm -f "$pidf"
  if ! start_peer "$peer" "$PORT" "$slog"; then
    record "$raw" "$run" "$peer" storm 1 0 "$slog" "$t0"
    return 0
  fi
  timeout --kill-after=5 "$limit" taskset -c 1 "$BIN/loadgen" --server "127.0.0.1:$PORT" \
    --proto "$(proto_of "$peer")" --server-pid "$SERVER_PID" --connect-phase-max "$CONNECT_MAX" \
    storm --clients "$STORM_N" --pid-file "$pidf" >"$raw.tmp" 2>"$llog" &
  local lg=$! rc=0
  while kill -0 "$lg" 2>/dev/null; do
    if ! kill -0 "$SERVER_PID" 2>/dev/null; then
      wait "$SERVER_PID" 2>/dev/null || true
      if KEEP_DATA=1 start_peer "$peer" "$PORT" "$slog.restart"; then echo "$SERVER_PID" >"$pidf"; fi
      break
    fi
    sleep 0.02
  done
  wait "$lg" || rc=$?
  local alive=1
  kill -0 "$SERVER_PID" 2>/dev/null || alive=0
  stop_peer
  record "$raw" "$run" "$peer" storm "$rc" "$alive" "$llog" "$t0"
}

# run_store_floor RUN: `store-floor` (server/examples) on CPU 0, as the raw record
# run<RUN>-store-floor-store-floor.json.
run_store_floor() {
  local run="$1" raw="$OUT/raw/run$1-store-floor-store-floor.json"
  local llog="$OUT/logs/run$1-store-floor.log" t0 rc=0
  t0=$(date +%s.%N)
  rm -rf "$OUT/logs/store-floor"
  timeout --kill-after=5 60 taskset -c 0 "$BIN/examples/store-floor" "$OUT/logs/store-floor" \
    "$((TP_CLIENTS * TP_WINDOW))" 2>"$llog" |
    python3 -c 'import json, sys; print(json.dumps({"report": json.load(sys.stdin)}))' \
    >"$raw.tmp" 2>>"$llog" || rc=$?
  rm -rf "$OUT/logs/store-floor"
  record "$raw" "$run" store-floor store-floor "$rc" 1 "$llog" "$t0"
}

log "mode $MODE: $RUNS run(s), peers ${RUNNABLE[*]:-none}, load average $(cut -d' ' -f1-3 /proc/loadavg)"
echo "$MODE $RUNS $(cut -d' ' -f1-3 /proc/loadavg)" >"$OUT/logs/mode.txt"
for run in $(seq 1 "$RUNS"); do
  # Peers take turns inside each run, so a change in the machine's load hits all of them alike.
  for n in $SIZES; do
    for peer in "${RUNNABLE[@]}"; do
      [ "$peer" = ours-mem ] && continue
      read -r rates secs <<<"$FANOUT_RATES $(fanout_secs "$n")"
      [ "$peer" = floor ] && read -r rates secs <<<"$(floor_phases "$n")"
      run_case "$run" "$peer" "fanout-$n" 90 -- fanout --receivers "$n" --rates "$rates" \
        --secs "$secs" --drain "$FANOUT_DRAIN" --warmup "$FANOUT_WARMUP"
    done
  done
  # The floor is a fan-out reference only: with no coalescing it is no floor once a server is
  # overloaded (throughput, slow consumers), and it has no limits or queues to show there.
  for peer in "${RUNNABLE[@]}"; do
    [ "$peer" = floor ] && continue
    run_case "$run" "$peer" throughput 60 -- throughput --clients "$TP_CLIENTS" --window "$TP_WINDOW" \
      --warmup "$TP_WARMUP" --secs "$TP_SECS" --drain "$TP_DRAIN"
  done
  # The durable bound: the least the SQLite store adds to each message (at groups of the whole
  # window), alone on CPU 0, beside ours-mem's fan-out (see README, "Throughput").
  if [[ " ${RUNNABLE[*]} " == *" ours-mem "* ]] && [ "$STORE_FLOOR_OK" = 1 ]; then
    run_store_floor "$run"
  fi
  # The reconnect storm: ours, Bun and Socket.IO (the floor is no server; the other peers are
  # left out to keep the bench under 20 minutes).
  for peer in "${RUNNABLE[@]}"; do
    case "$peer" in ours|ours-typed|bun|socketio) ;; *) continue ;; esac
    run_storm "$run" "$peer" 120
  done
  # Many rooms: ours (typed: a `join` per room), Bun (a topic per room) and Socket.IO (its
  # rooms); the other peers have one room.
  for peer in "${RUNNABLE[@]}"; do
    case "$peer" in ours-typed|bun|socketio) ;; *) continue ;; esac
    # 50,000 joins take ours a while: the connect phase may take a minute here.
    CONNECT_MAX=60 SETTLE_MAX=10 run_case "$run" "$peer" rooms 150 -- rooms \
      --users "$ROOMS_USERS" --rooms "$ROOMS_N" --warmup "$ROOMS_WARMUP" --secs "$ROOMS_SECS" \
      --drain "$ROOMS_DRAIN"
  done
  for peer in "${RUNNABLE[@]}"; do
    case "$peer" in floor|ours-mem) continue ;; esac
    run_case "$run" "$peer" slow 90 -- slow --receivers "$SLOW_N" --rate "$SLOW_RATE" \
      --base-secs "$SLOW_BASE" --secs "$SLOW_SECS" --drain "$SLOW_DRAIN" --resume "$SLOW_RESUME"
  done
done

PY=python3
"$VENV/bin/python" -c 'import matplotlib' 2>/dev/null && PY="$VENV/bin/python"
"$PY" "$BENCH/report.py" "$OUT"
log "wrote $OUT/results.md, $OUT/results.json, $OUT/latency.png (total $(( $(date +%s) - T_START ))s)"
