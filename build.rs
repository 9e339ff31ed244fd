//! Embeds the policy file into the crate as JSON (`$OUT_DIR/policy.json`), so the worker carries
//! its policy without a TOML parser in the wasm. The file is `EDGECACHE_POLICY` or
//! `edgecache.toml`; it is validated by `edgecache check` in scripts/build.sh before every
//! worker build (and again, cheaply, when the worker starts).

use std::{env, fs, path::PathBuf};

fn main() {
    println!("cargo:rerun-if-env-changed=EDGECACHE_POLICY");
    let file = env::var("EDGECACHE_POLICY").unwrap_or_else(|_| "edgecache.toml".to_string());
    let path = PathBuf::from(env::var("CARGO_MANIFEST_DIR").expect("cargo sets it")).join(&file);
    println!("cargo:rerun-if-changed={}", path.display());
    let out = PathBuf::from(env::var("OUT_DIR").expect("cargo sets it"));
    let json = match fs::read_to_string(&path) {
        // A TOML syntax error is reported by `edgecache check` with line and column; here it
        // only must not break host builds (the CLI itself is built from this crate).
        Ok(src) => match src.parse::<toml::Table>() {
            Ok(table) => serde_json::to_string(&table).expect("TOML values are JSON-representable"),
            Err(e) => {
                println!("cargo:warning={file}: {e}");
                "{}".to_string()
            }
        },
        Err(_) => "{}".to_string(),
    };
    fs::write(out.join("policy.json"), json).expect("OUT_DIR is writable");
    fs::write(out.join("policy_name.txt"), &file).expect("OUT_DIR is writable");
}
