# Sourced by the head-to-head scripts (ab.sh, cpu-ab.sh, floor-ab.sh): a scratch file and
# directory, removed on exit with any server still running stopped, and a server started and
# stopped the way they all do it.
OUT=$(mktemp)
D=$(mktemp -d)
PID=
ab_cleanup() {
  [ -n "$PID" ] && kill "$PID" 2>/dev/null
  rm -rf "$D" "$OUT"
}
trap ab_cleanup EXIT

# start_ours BIN LISTEN [FLAG...]: our server on LISTEN with a fresh data directory and the
# bench's limits, pinned to CPU 0; sets PID and ADDR (see wait_listening).
start_ours() {
  local bin=$1 listen=$2
  shift 2
  rm -rf "$D/data"
  (export CHAT_MAX_CONNECTIONS=20000 CHAT_RATE_PER_SEC=1000000 CHAT_RATE_BURST=1000000 \
     CHAT_DATA_DIR="$D/data" RUST_LOG=warn
   exec taskset -c 0 "$bin" --listen "$listen" "$@") >"$D/log" 2>&1 &
  PID=$!
  wait_listening
}

# start_floor LISTEN: the floor hub on LISTEN, pinned to CPU 0; sets PID and ADDR.
start_floor() {
  (exec taskset -c 0 "$BIN/floor-hub" --listen "$1") >"$D/log" 2>&1 &
  PID=$!
  wait_listening
}

# wait_listening: waits (10 s at most) for the server started as PID, its output in $D/log, to
# say where it listens; sets ADDR to that address.
wait_listening() {
  for _ in $(seq 200); do grep -q "listening on" "$D/log" && break; sleep 0.05; done
  ADDR=$(sed -n 's#.*listening on \(http://\)\{0,1\}##p' "$D/log" | head -1)
}

stop_server() {
  kill "$PID" 2>/dev/null
  wait "$PID" 2>/dev/null || true
  PID=
}
