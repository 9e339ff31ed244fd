//! Embeds the policy file in the crate as its resolved form, so the worker carries neither a
//! policy parser nor the validator.
//!
//! The file is `EDGECACHE_POLICY` or `edgecache.toml` (relative to the crate root) for a wasm32
//! build (the worker: ./test builds it with `tests/edgecache.test.toml`, ./dev and deploys with
//! `edgecache.toml`), and always `edgecache.toml` for a host build (the CLI and `cargo test`,
//! which only use the embedding in `src/embedded.rs`'s tests): so switching the variable
//! rebuilds the worker and never the host build. This script
//! includes the crate's own policy modules (`src/policy/`, and the `cookies`, `duration`,
//! `unkeyed`, `path`, `key`, `json` and `sort` modules they use) and runs the very same loader as `edgecache check`,
//! `Policy::from_toml_str`. Outputs in `$OUT_DIR`:
//! - `policy.json`: the resolved policy (`policy::embed::to_json`), included by
//!   `src/embedded.rs`. Before writing it, the script decodes it again and requires the very same
//!   policy back, so a worker never carries an embedding that means something else.
//! - `policy_name.txt`: the file name as given (`embedded::POLICY_FILE`).
//!
//! An invalid policy (or an unreadable file) fails a wasm32 build with every diagnostic: an
//! invalid policy never becomes a worker. On the host the build succeeds with a warning and an
//! empty `policy.json` (the embedded policy is `None`), because the `edgecache` CLI is built from
//! this crate and must be able to report those errors itself. A missing file means the built-in
//! defaults (a warning).

// The included modules are the library's, whole: this script uses only the loader and the
// embedding, so most of their items are unused here. Their visibility stays what the library needs.
#![allow(dead_code, unused_imports)]

#[path = "src/cookies.rs"]
mod cookies;
#[path = "src/duration.rs"]
mod duration;
#[path = "src/json.rs"]
mod json;
#[path = "src/key.rs"]
mod key;
#[path = "src/path.rs"]
mod path;
#[path = "src/policy/mod.rs"]
mod policy;
#[path = "src/sort.rs"]
mod sort;
#[path = "src/unkeyed.rs"]
mod unkeyed;

use std::{env, fs, io::ErrorKind, path::Path, path::PathBuf};

/// The library sources compiled into this script (`policy/mod.rs` declares the others).
const INCLUDED: &[&str] = &[
    "src/cookies.rs",
    "src/duration.rs",
    "src/key.rs",
    "src/unkeyed.rs",
    "src/path.rs",
    "src/policy/mod.rs",
    "src/policy/embed.rs",
    "src/policy/matcher.rs",
    "src/policy/model.rs",
    "src/policy/validate.rs",
    "src/json.rs",
    "src/sort.rs",
];

fn main() {
    let root = PathBuf::from(env::var("CARGO_MANIFEST_DIR").expect("cargo sets it"));
    let out = PathBuf::from(env::var("OUT_DIR").expect("cargo sets it"));
    let wasm = env::var("CARGO_CFG_TARGET_ARCH").is_ok_and(|a| a == "wasm32");
    println!("cargo:rerun-if-changed=build.rs");
    for f in INCLUDED {
        println!("cargo:rerun-if-changed={f}");
    }
    // A changed variable or file reruns this script, so a worker never keeps an older policy.
    let file = if wasm {
        println!("cargo:rerun-if-env-changed=EDGECACHE_POLICY");
        env::var("EDGECACHE_POLICY").unwrap_or_else(|_| "edgecache.toml".to_string())
    } else {
        "edgecache.toml".to_string()
    };
    let path = root.join(&file);
    println!("cargo:rerun-if-changed={}", path.display());
    let embedded = match load(&path, &file) {
        Ok(policy) => {
            let text = policy::embed::to_json(&policy);
            let back = policy::embed::from_json(&text);
            let same = back
                .as_ref()
                .is_some_and(|b| b.defaults == policy.defaults && b.rules == policy.rules);
            assert!(
                same,
                "{file}: the embedded form does not decode to the same policy"
            );
            text
        }
        Err(errors) if wasm => {
            // Every line as a warning too: cargo shows a failing script's stderr, but warnings
            // are what the wrangler/worker-build output keeps in view.
            for line in errors.lines() {
                println!("cargo:warning={line}");
            }
            eprintln!("{errors}");
            eprintln!("{file}: invalid policy; refusing to build the worker");
            std::process::exit(1);
        }
        Err(errors) => {
            println!(
                "cargo:warning={file}: invalid policy, not embedded (a host build goes on; \
                 a wasm32 build fails):"
            );
            for line in errors.lines() {
                println!("cargo:warning={line}");
            }
            String::new()
        }
    };
    write(&out.join("policy.json"), &embedded);
    write(&out.join("policy_name.txt"), &file);
}

/// Read and validate a policy file; `Err` holds the diagnostics, one per line.
fn load(path: &Path, file: &str) -> Result<policy::Policy, String> {
    let src = match fs::read_to_string(path) {
        Ok(s) => s,
        Err(e) if e.kind() == ErrorKind::NotFound => {
            println!("cargo:warning={file}: not found; the built-in defaults apply");
            String::new()
        }
        Err(e) => return Err(format!("{file}: cannot read: {e}")),
    };
    policy::Policy::from_toml_str(&src, file)
        .map(|loaded| loaded.policy)
        .map_err(|e| e.to_string())
}

fn write(path: &Path, text: &str) {
    fs::write(path, text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
}
