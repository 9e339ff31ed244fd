# shellcheck shell=bash
# Idempotent setup shared by ./dev and ./test (sourced, so its exports reach the caller).
# Installs only what is missing, at pinned versions, from the registries only (no binary downloads):
#   - the wasm32-unknown-unknown target
#   - wasm-bindgen's code generator (the version read from Cargo.lock; scripts/wasm-bindgen), the one
#     tool built from source
#   - the npm side (wrangler, binaryen's wasm-opt, esbuild, playwright-core) via `npm ci`
# Then exports WASM_BINDGEN_BIN, WASM_OPT_BIN, ESBUILD_BIN (used by scripts/build-worker.mjs, which
# does what `worker-build` did) and puts node_modules/.bin on PATH.

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

  # wasm-bindgen's code generator, exactly the version the lockfile resolved (read it, never write it
  # twice): scripts/wasm-bindgen builds it as `edgecache-bindgen` (42 crates) instead of
  # wasm-bindgen-cli (161, most of them for its test runner). WASM_BINDGEN_BIN may name a
  # wasm-bindgen CLI of that version instead; then nothing is built.
  local wb pin have
  wb=$(awk '/^name = "wasm-bindgen"$/ { getline; gsub(/version = |"/, ""); print; exit }' "$EC_ROOT/Cargo.lock")
  [ -n "$wb" ] || { ec_die "could not read the wasm-bindgen version from Cargo.lock"; return 1; }
  # `|| true`: a missing tool is the normal first-run case, not an error (callers use set -e).
  have=$("${WASM_BINDGEN_BIN:-/nonexistent}" --version 2>/dev/null | awk '{print $2}' || true)
  if [ "$have" = "$wb" ]; then
    ec_step "wasm-bindgen $wb: $WASM_BINDGEN_BIN (WASM_BINDGEN_BIN)"
  else
    [ -z "${WASM_BINDGEN_BIN:-}" ] || ec_step "WASM_BINDGEN_BIN=$WASM_BINDGEN_BIN is not wasm-bindgen $wb: ignored"
    pin=$(sed -nE 's/^wasm-bindgen-cli-support = "=(.*)"$/\1/p' "$EC_ROOT/scripts/wasm-bindgen/Cargo.toml")
    if [ "$pin" != "$wb" ]; then
      ec_die "scripts/wasm-bindgen/Cargo.toml pins wasm-bindgen ${pin:-?}, Cargo.lock has $wb: set both pins there to =$wb, then run cargo update --manifest-path scripts/wasm-bindgen/Cargo.toml"
      return 1
    fi
    export WASM_BINDGEN_BIN="$CARGO_BIN/edgecache-bindgen"
    have=$("$WASM_BINDGEN_BIN" --version 2>/dev/null | awk '{print $2}' || true)
    if [ "$have" = "$wb" ]; then
      ec_step "edgecache-bindgen (wasm-bindgen $wb): present"
    else
      ec_step "building edgecache-bindgen (wasm-bindgen $wb; first run only, about a minute)"
      cargo install --quiet --locked --force --path "$EC_ROOT/scripts/wasm-bindgen" \
        --target-dir "$EC_ROOT/target/edgecache-bindgen" || return 1
    fi
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
  export WASM_OPT_BIN="$EC_ROOT/node_modules/.bin/wasm-opt"
  export ESBUILD_BIN="$EC_ROOT/node_modules/.bin/esbuild"
  export WRANGLER_SEND_METRICS=false
  export EC_TOOLCHAIN=ready
  ec_step "toolchain ready"
}
