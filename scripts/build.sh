#!/usr/bin/env bash
# The wrangler [build] command: validate the policy on the host, then build the worker into build/
# (scripts/build-worker.mjs: cargo, wasm-bindgen, wasm-opt, esbuild).
# An invalid policy stops here, so it can never be deployed. When nothing that goes into the worker
# changed since the last build (same inputs hash), the build is skipped: wrangler dev runs this
# command at every start, and the tests start it several times.
# The policy compiled in is EDGECACHE_POLICY, else edgecache.toml (./test and bench/run pass
# tests/edgecache.test.toml); its name and content are inputs, and build/.policy names it so the
# test stacks can refuse a worker built with another one (scripts/stack.mjs).
set -euo pipefail
cd "$(dirname "$0")/.."
policy=${EDGECACHE_POLICY:-edgecache.toml}
export EDGECACHE_POLICY=$policy # build.rs reads it (through build-worker.mjs's cargo build)
if [ "${EC_TOOLCHAIN:-}" != ready ]; then
  # Called directly (not from ./dev or ./test): load the toolchain without installing anything new.
  # shellcheck source=scripts/setup.sh
  . scripts/setup.sh
  ec_setup >/dev/null
fi
stamp=build/.inputs
inputs=$( { echo "$policy ${KEEP_NAMES:-} ${NO_MINIFY:-}"; cat Cargo.toml Cargo.lock build.rs "$policy" scripts/build.sh scripts/build-worker.mjs scripts/worker-entry.mjs scripts/dashboard.mjs 2>/dev/null; find src -type f \( -name '*.rs' -o -name '*.js' \) | LC_ALL=C sort | xargs cat; find www -type f | LC_ALL=C sort | xargs cat; } | sha256sum | cut -d' ' -f1)
if [ -f build/index.js ] && [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$inputs" ] && [ "$(cat build/.policy 2>/dev/null)" = "$policy" ]; then
  echo "edgecache build: up to date ($policy)"
  exit 0
fi
echo "edgecache build: policy $policy"
cargo run --quiet --bin edgecache -- check "$policy" >/dev/null
rm -f "$stamp" build/.policy # a failed build below leaves no stamp claiming the old worker is this one
node scripts/build-worker.mjs
echo "$inputs" > "$stamp"
echo "$policy" > build/.policy
