# shellcheck shell=bash
# Progress lines for the scripts whose first run compiles for minutes (run.sh, setup.sh), so
# that nobody takes a long quiet step for a hang. Sourced, not run:
#   PROGRESS_TAG=run; . scripts/progress.sh
#   step 2 4 "the web client" 40        # [run] step 2/4: the web client (about 40 s ...; started hh:mm:ss)
#   heartbeat_start "the web client" 40 # then a line every 30 s with the time spent so far
#   ...; heartbeat_stop
#   run_logged NAME LOG cmd...          # cmd's output into LOG; its tail shown if it fails
# Estimates are measured on a 2-core machine of the project's kind (README, "Running it").
PROGRESS_TAG=${PROGRESS_TAG:-run}
HEARTBEAT_PID=""

say() { printf '[%s] %s\n' "$PROGRESS_TAG" "$*"; }

# 75 -> "1m15s", 40 -> "40 s"
human_secs() {
  if [ "$1" -ge 60 ]; then printf '%dm%02ds' $(($1 / 60)) $(($1 % 60)); else printf '%d s' "$1"; fi
}

# step K N LABEL EST_SECONDS
step() {
  say "step $1/$2: $3 (about $(human_secs "$4") on 2 cores; started $(date +%H:%M:%S))"
}

# heartbeat_start LABEL EST_SECONDS [STATUS_FN]: prints the elapsed time every 30 s until
# heartbeat_stop; STATUS_FN, when given, is called for a few words on what is still running.
heartbeat_start() {
  local label=$1 est=$2 status_fn=${3:-} start
  start=$(date +%s)
  heartbeat_stop
  (
    n=0
    # Short sleeps: a killed loop leaves at most a 2 s sleep behind it.
    while sleep 2; do
      n=$((n + 1))
      [ $((n % 15)) = 0 ] || continue
      elapsed=$(($(date +%s) - start))
      extra=""
      [ -n "$status_fn" ] && extra="; $($status_fn)"
      if [ "$elapsed" -le "$est" ]; then
        say "... $label: $(human_secs "$elapsed") of about $(human_secs "$est")$extra"
      else
        say "... $label: $(human_secs "$elapsed"), longer than the usual $(human_secs "$est") (a busy machine?)$extra"
      fi
    done
  ) &
  HEARTBEAT_PID=$!
}

heartbeat_stop() {
  if [ -n "$HEARTBEAT_PID" ]; then
    kill "$HEARTBEAT_PID" 2>/dev/null || true
    wait "$HEARTBEAT_PID" 2>/dev/null || true
    HEARTBEAT_PID=""
  fi
}

# run_logged NAME LOG cmd...: runs cmd with its output in LOG (parallel jobs would interleave
# theirs); on failure prints LOG's last lines, so the error is seen without opening it.
run_logged() {
  local name=$1 log=$2
  shift 2
  if "$@" >"$log" 2>&1; then
    return 0
  fi
  say "$name failed; the end of $log:"
  tail -n 30 "$log" | sed 's/^/    /' >&2
  return 1
}

# wait_jobs PID...: waits for these background jobs; returns 1 as soon as one of them fails
# (not after the others, which may take minutes more), 0 once all have succeeded.
wait_jobs() {
  local pending=("$@") done_pid i
  while [ ${#pending[@]} -gt 0 ]; do
    wait -n -p done_pid "${pending[@]}" || return 1
    for i in "${!pending[@]}"; do
      if [ "${pending[$i]}" = "$done_pid" ]; then unset 'pending[i]'; fi
    done
    pending=("${pending[@]}")
  done
}
