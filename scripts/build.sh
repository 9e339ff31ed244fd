#!/usr/bin/env bash
# The wrangler [build] command: validate the policy on the host, then build the worker into build/
# (scripts/build-worker.mjs: cargo, wasm-bindgen, wasm-opt, esbuild).
# An invalid policy stops here, so it can never be deployed. When nothing that goes into the worker
# changed since the last build (same inputs hash), the build is skipped: wrangler dev runs this
# command at every start, and the tests start it several times.
set -euo pipefail
cd "$(dirname "$0")/.."
policy=${EDGECACHE_POLICY:-edgecache.toml}
if [ "${EC_TOOLCHAIN:-}" != ready ]; then
  # Called directly (not from ./dev or ./test): load the toolchain without installing anything new.
  # shellcheck source=scripts/setup.sh
  . scripts/setup.sh
  ec_setup >/dev/null
fi
stamp=build/.inputs
inputs=$( { echo "$policy"; cat Cargo.toml Cargo.lock build.rs "$policy" scripts/build-worker.mjs scripts/worker-entry.mjs scripts/dashboard.mjs 2>/dev/null; find src -type f -name '*.rs' | LC_ALL=C sort | xargs cat; find www -type f | LC_ALL=C sort | xargs cat; } | sha256sum | cut -d' ' -f1)
if [ -f build/index.js ] && [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$inputs" ]; then
  echo "edgecache build: up to date"
  exit 0
fi
cargo run --quiet --bin edgecache -- check "$policy" >/dev/null
node scripts/build-worker.mjs
echo "$inputs" > "$stamp"
