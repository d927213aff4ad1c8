#!/usr/bin/env bash
# Builds the release web client into dist/ (trunk offline, wasm-opt on), writes a .gz and a
# .br beside each .wasm, .js, .css and .html (the server sends them to clients that accept
# them), and prints the gzip size of the wasm and the JS glue. The server build embeds dist/
# (rebuild the server after this), or serves it directly with --static-dir dist.
#   scripts/build-client.sh            release build into $ROOT/dist
#   DIST=/some/dir scripts/build-client.sh
#   scripts/build-client.sh --cargo-only   only the cargo build trunk runs, without trunk
# Needs the toolchain of `scripts/setup.sh run` (trunk, wasm-bindgen, wasm-opt, brotli);
# --cargo-only needs just the wasm32 target: run.sh compiles the client with it while trunk is
# still being installed, and trunk's own cargo build then finds everything fresh.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
CARGO_ONLY=0
[ "${1:-}" = --cargo-only ] && CARGO_ONLY=1
export PATH="$ROOT/tools/bin:$ROOT/tools/node_modules/.bin:${CARGO_HOME:-$HOME/.cargo}/bin:$PATH"
# Honour a caller's target dir (a parallel build elsewhere), else the workspace's own.
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}
DIST=${DIST:-$ROOT/dist}
# Size over speed for the whole wasm build, dependencies included (the workspace profile only
# sets opt-level z for client-wasm itself): about 500 KB -> 360 KB of wasm before gzip. These
# apply to this build only; the server's release build keeps the workspace profile.
export CARGO_PROFILE_RELEASE_OPT_LEVEL=z CARGO_PROFILE_RELEASE_LTO=fat CARGO_PROFILE_RELEASE_CODEGEN_UNITS=1
# trunk --offline also makes cargo offline: have every crate in the local registry first (this
# also unpacks them under registry/src/, which the loop below lists).
cd "$ROOT"
cargo fetch --quiet
# Panic messages name their source file: the registry's and this workspace's paths are cut
# down to `crate-version/src/...` and `client-wasm/src/...` (a few hundred bytes of gzipped
# wasm; the standard library's `/rustc/<hash>/` paths come precompiled and stay).
remap="--remap-path-prefix=$ROOT/="
for dir in "${CARGO_HOME:-$HOME/.cargo}"/registry/src/*/; do remap+=" --remap-path-prefix=$dir="; done
export RUSTFLAGS="${RUSTFLAGS:-} $remap"

if [ $CARGO_ONLY = 1 ]; then
  # Exactly the command trunk 0.21 runs for index.html's `<link data-trunk rel="rust"
  # data-bin="client-wasm">` in a release offline build, in this same environment (profile
  # variables, RUSTFLAGS, target dir): the same fingerprints, so trunk's build reuses this one.
  exec cargo build --target=wasm32-unknown-unknown --manifest-path "$ROOT/client-wasm/Cargo.toml" \
    --release --offline --bin client-wasm
fi

for tool in trunk wasm-bindgen wasm-opt gzip brotli; do
  command -v "$tool" >/dev/null || { echo "build-client: $tool missing: run scripts/setup.sh run" >&2; exit 1; }
done

trunk build --release --offline --dist "$DIST" index.html

# Precompressed forms at the highest levels: compressed once here, sent many times; dot
# entries (trunk's staging area) are skipped. -n keeps names and times out of the gzip header
# (same input, same bytes); -k keeps the original; -f replaces an earlier build's forms. Both
# tools give a form its original's mtime, which the server checks: a form older than its
# original is stale and ignored.
find "$DIST" -mindepth 1 -name '.*' -prune -o \
  -type f \( -name '*.wasm' -o -name '*.js' -o -name '*.css' -o -name '*.html' \) -print0 |
  while IFS= read -r -d '' f; do
    gzip -9 -n -k -f "$f"
    brotli -q 11 -k -f "$f"
  done

total=0
# The JS glue and any snippets it imports (dist/snippets/) count with the wasm.
for f in "$DIST"/*.wasm "$DIST"/*.js "$DIST"/snippets/*/*.js; do
  [ -e "$f" ] || continue
  raw=$(wc -c <"$f")
  gz=$(gzip -9c "$f" | wc -c)
  total=$((total + gz))
  printf 'build-client: %-40s %8d bytes, %7d gzipped\n' "$(basename "$f")" "$raw" "$gz"
done
printf 'build-client: wasm + js gzipped: %d bytes (%d KB)\n' "$total" $(((total + 1023) / 1024))
