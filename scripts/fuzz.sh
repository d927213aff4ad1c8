#!/usr/bin/env bash
# Coverage-guided fuzzing of every parser a peer reaches, with AFL++ through afl.rs (stable
# Rust). Installs cargo-afl and builds AFL++ when missing, builds the targets in fuzz/, runs
# each for FUZZ_SECS seconds (60 by default), prints executions and crashes per target.
#
#   scripts/fuzz.sh                  # every target, 60 s each
#   FUZZ_SECS=600 scripts/fuzz.sh host http_head
#
# Findings go to $FUZZ_OUT/<target>/default/crashes (target/fuzz-out by default). A crash
# becomes a regression test by copying it into fuzz/corpus/<target>/: the corpus replay test
# (server/tests/fuzz_corpus.rs) runs it under a plain `cargo test`.
set -euo pipefail

AFL_VERSION=0.18.2
cd "$(dirname "$0")/.."
root=$PWD
secs=${FUZZ_SECS:-60}
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$root/target}
afl_target_dir=$CARGO_TARGET_DIR/afl
out=${FUZZ_OUT:-$CARGO_TARGET_DIR/fuzz-out}

if ! cargo afl --version 2>/dev/null | grep -q "$AFL_VERSION"; then
    echo "== installing cargo-afl $AFL_VERSION"
    cargo install cargo-afl --version "$AFL_VERSION"
fi
# AFL++ itself (afl-fuzz and the runtime) is built once per rustc version; gcc and make suffice.
rustc_id=$(rustc -vV | sed -n 's/^commit-hash: \(.\{7\}\).*/\1/p')
afl_home=${XDG_DATA_HOME:-$HOME/.local/share}/afl.rs
if ! ls -d "$afl_home"/rustc-*"$rustc_id"/afl.rs-"$AFL_VERSION"/afl/bin/afl-fuzz >/dev/null 2>&1; then
    echo "== building AFL++"
    cargo afl config --build
fi

echo "== building the targets"
(cd fuzz && CARGO_TARGET_DIR=$afl_target_dir cargo afl build --release --quiet)

if [ $# -gt 0 ]; then
    targets=("$@")
else
    targets=()
    for f in fuzz/src/bin/*.rs; do targets+=("$(basename "$f" .rs)"); done
fi

# No core_pattern or CPU governor changes on a shared machine: let AFL++ run as it is.
export AFL_SKIP_CPUFREQ=1 AFL_I_DONT_CARE_ABOUT_MISSING_CRASHES=1 AFL_NO_UI=1
export AFL_NO_AFFINITY=1 AFL_SKIP_CRASHES=1

summary=()
for t in "${targets[@]}"; do
    echo "== fuzzing $t for ${secs}s"
    rm -rf "${out:?}/$t"
    mkdir -p "$out/$t"
    cargo afl fuzz -V "$secs" -i "fuzz/corpus/$t" -o "$out/$t" \
        "$afl_target_dir/release/$t" >"$out/$t.log" 2>&1 || {
        echo "afl-fuzz failed for $t; the end of $out/$t.log:"
        tail -20 "$out/$t.log"
        exit 1
    }
    stats=$out/$t/default/fuzzer_stats
    execs=$(sed -n 's/^execs_done *: *//p' "$stats")
    per_sec=$(sed -n 's/^execs_per_sec *: *//p' "$stats")
    crashes=$(find "$out/$t/default/crashes" -name 'id:*' | wc -l)
    hangs=$(find "$out/$t/default/hangs" -name 'id:*' | wc -l)
    summary+=("$(printf '%-16s %12s execs %10s/s  crashes %s  hangs %s' \
        "$t" "$execs" "$per_sec" "$crashes" "$hangs")")
done

echo "== executions per target (${secs}s each)"
printf '%s\n' "${summary[@]}"
found=$(find "$out" -path '*/crashes/id:*' | wc -l)
if [ "$found" -gt 0 ]; then
    echo "crashes found: $out/<target>/default/crashes/ (copy each into fuzz/corpus/<target>/)"
    exit 1
fi
