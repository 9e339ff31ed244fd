//! `edgecache-bindgen`: the `wasm-bindgen` command line for the one invocation edgecache's build
//! makes, through the same library calls as wasm-bindgen-cli's `wasm-bindgen` (its
//! `src/wasm_bindgen.rs`, same version), so the output is the same:
//!
//! ```text
//! edgecache-bindgen IN.wasm --out-dir DIR --no-typescript --target module --out-name NAME \
//!     [--experimental-reset-state-function] [--force-enable-abort-handler]
//! edgecache-bindgen --version      # "edgecache-bindgen <wasm-bindgen version>"
//! ```
//!
//! Any other option is refused: use wasm-bindgen-cli for those.

use std::{env, ffi::OsString, path::PathBuf, process::ExitCode};
use wasm_bindgen_cli_support::Bindgen;

/// The options `wasm-bindgen` would have been given.
#[derive(Debug, Default)]
struct Args {
    input: Option<PathBuf>,
    out_dir: Option<PathBuf>,
    out_name: Option<String>,
    module: bool,
    no_typescript: bool,
    reset_state: bool,
    abort_handler: bool,
}

fn parse(mut it: impl Iterator<Item = OsString>) -> Result<Args, String> {
    let mut a = Args::default();
    while let Some(arg) = it.next() {
        let Some(flag) = arg.to_str() else {
            a.input = Some(PathBuf::from(arg));
            continue;
        };
        let mut value = |name: &str| it.next().ok_or(format!("{name} needs a value"));
        match flag {
            "--out-dir" => a.out_dir = Some(PathBuf::from(value(flag)?)),
            "--out-name" => a.out_name = Some(value(flag)?.to_string_lossy().into_owned()),
            "--target" => match value(flag)?.to_str() {
                Some("module") => a.module = true,
                other => return Err(format!("--target {other:?}: only `module` is supported")),
            },
            "--no-typescript" => a.no_typescript = true,
            "--experimental-reset-state-function" => a.reset_state = true,
            "--force-enable-abort-handler" => a.abort_handler = true,
            f if f.starts_with('-') => {
                return Err(format!("{f}: not supported here (use wasm-bindgen-cli)"))
            }
            _ => a.input = Some(PathBuf::from(arg)),
        }
    }
    Ok(a)
}

fn run(a: &Args) -> Result<(), String> {
    let input = a.input.as_ref().ok_or("no input .wasm file")?;
    let out_dir = a.out_dir.as_ref().ok_or("--out-dir is required")?;
    if !a.module || !a.no_typescript {
        return Err("--target module and --no-typescript are required".into());
    }
    let mut b = Bindgen::new();
    b.module(true).map_err(|e| e.to_string())?;
    // The CLI's values for every option it sets, for the flags above (wasm-bindgen-cli 0.2.130,
    // `rmain`); Bindgen::new() defaults differ for some (omit_default_module_path).
    #[allow(deprecated)]
    b.input_path(input)
        .debug(false)
        .demangle(true)
        .keep_lld_exports(false)
        .keep_debug(false)
        .split_debug_info(false)
        .remove_name_section(false)
        .remove_producers_section(false)
        .typescript(false)
        .omit_imports(false)
        .omit_default_module_path(false)
        .split_linked_modules(false)
        .js_string_builtins(false)
        .ts_typed_array_buffers(false)
        .reference_types(false)
        .reset_state_function(a.reset_state)
        .force_enable_abort_handler(a.abort_handler);
    if let Some(name) = &a.out_name {
        b.out_name(name);
    }
    b.generate(out_dir).map_err(|e| format!("{e:?}"))
}

fn main() -> ExitCode {
    let mut args = env::args_os().skip(1).peekable();
    if args.peek().is_some_and(|a| a == "--version" || a == "-V") {
        println!("edgecache-bindgen {}", wasm_bindgen_shared::version());
        return ExitCode::SUCCESS;
    }
    match parse(args).and_then(|a| run(&a)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("edgecache-bindgen: {e}");
            ExitCode::FAILURE
        }
    }
}
