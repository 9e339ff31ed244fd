# shellcheck shell=bash
# Idempotent setup shared by ./dev and ./test (sourced, so its exports reach the caller).
# Installs only what is missing, at pinned versions, and never lets worker-build download a binary:
#   - the wasm32-unknown-unknown target
#   - worker-build (pinned below) and wasm-bindgen-cli (the version read from Cargo.lock)
#   - the npm side (wrangler, binaryen's wasm-opt, esbuild, playwright-core) via `npm ci`
# Then exports WASM_BINDGEN_BIN, WASM_OPT_BIN, ESBUILD_BIN and puts node_modules/.bin on PATH.

WORKER_BUILD_VERSION=0.8.7

EC_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
EC_SETUP_T0=$(date +%s)
CARGO_BIN=${CARGO_HOME:-$HOME/.cargo}/bin

ec_step() { printf '[setup +%3ss] %s\n' "$(($(date +%s) - EC_SETUP_T0))" "$*"; }
ec_die() { printf 'setup: %s\n' "$*" >&2; return 1; }

ec_setup() {
  command -v cargo >/dev/null || { ec_die "cargo not found: install the Rust toolchain (rustup)"; return 1; }
  command -v npm >/dev/null || { ec_die "npm not found: install Node.js 20+"; return 1; }
  export PATH="$CARGO_BIN:$PATH"

  if { rustup target list --installed 2>/dev/null || true; } | grep -qx wasm32-unknown-unknown; then
    ec_step "wasm32-unknown-unknown target: present"
  else
    ec_step "adding the wasm32-unknown-unknown target"
    rustup target add wasm32-unknown-unknown || return 1
  fi

  local have
  # `|| true`: a missing tool is the normal first-run case, not an error (callers use set -e).
  have=$("$CARGO_BIN/worker-build" --version 2>/dev/null | grep -oE '[0-9]+\.[0-9]+\.[0-9]+' | head -n1 || true)
  if [ "$have" = "$WORKER_BUILD_VERSION" ]; then
    ec_step "worker-build $WORKER_BUILD_VERSION: present"
  else
    ec_step "installing worker-build $WORKER_BUILD_VERSION (first run only, about 3 minutes)"
    cargo install --quiet worker-build --version "$WORKER_BUILD_VERSION" || return 1
  fi

  # The CLI must be exactly the wasm-bindgen version the lockfile resolved: read it, never write it twice.
  local wb
  wb=$(awk '/^name = "wasm-bindgen"$/ { getline; gsub(/version = |"/, ""); print; exit }' "$EC_ROOT/Cargo.lock")
  [ -n "$wb" ] || { ec_die "could not read the wasm-bindgen version from Cargo.lock"; return 1; }
  have=$("$CARGO_BIN/wasm-bindgen" --version 2>/dev/null | awk '{print $2}' || true)
  if [ "$have" = "$wb" ]; then
    ec_step "wasm-bindgen-cli $wb: present"
  else
    ec_step "installing wasm-bindgen-cli $wb (first run only, about 3 minutes)"
    # No --locked: one of its locked dependencies is no longer in the registry.
    cargo install --quiet wasm-bindgen-cli --version "$wb" --force || return 1
  fi

  local stamp="$EC_ROOT/node_modules/.edgecache-lock"
  if [ -f "$stamp" ] && cmp -s "$stamp" "$EC_ROOT/package-lock.json"; then
    ec_step "npm packages: present"
  else
    ec_step "installing npm packages (npm ci)"
    (cd "$EC_ROOT" && npm ci --no-audit --no-fund --loglevel=error) || return 1
    cp "$EC_ROOT/package-lock.json" "$stamp"
  fi

  export PATH="$EC_ROOT/node_modules/.bin:$PATH"
  export WASM_BINDGEN_BIN="$CARGO_BIN/wasm-bindgen"
  export WASM_OPT_BIN="$EC_ROOT/node_modules/.bin/wasm-opt"
  export ESBUILD_BIN="$EC_ROOT/node_modules/.bin/esbuild"
  export WRANGLER_SEND_METRICS=false
  ec_step "toolchain ready"
}
