#!/usr/bin/env bash
# The wrangler [build] command: validate the policy on the host, then build the worker with worker-build.
# An invalid policy stops here, so it can never be deployed. When nothing that goes into the worker
# changed since the last build (same inputs hash), the build is skipped: wrangler dev runs this
# command at every start, and the tests start it several times.
set -euo pipefail
cd "$(dirname "$0")/.."
policy=${EDGECACHE_POLICY:-edgecache.toml}
if [ -z "${WASM_BINDGEN_BIN:-}" ]; then
  # Called directly (not from ./dev or ./test): load the toolchain without installing anything new.
  # shellcheck source=scripts/setup.sh
  . scripts/setup.sh
  ec_setup >/dev/null
fi
stamp=build/.inputs
inputs=$( { echo "$policy"; cat Cargo.toml Cargo.lock build.rs "$policy" 2>/dev/null; find src -type f -name '*.rs' | LC_ALL=C sort | xargs cat; } | sha256sum | cut -d' ' -f1)
if [ -f build/worker/shim.mjs ] && [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$inputs" ]; then
  echo "edgecache build: up to date"
  exit 0
fi
cargo run --quiet --bin edgecache -- check "$policy" >/dev/null
worker-build --release
node scripts/strip-names.mjs build/index_bg.wasm
echo "$inputs" > "$stamp"
