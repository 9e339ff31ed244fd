//! Host CLI: `edgecache check`, `edgecache policy-json` and `edgecache explain`.
//!
//! - `edgecache check [file]`: validate the policy (default `$EDGECACHE_POLICY`, else
//!   `edgecache.toml`), print warnings and a table of the rules; exit 1 with every error on
//!   stderr when invalid.
//! - `edgecache policy-json [file]`: print the validated policy as JSON (the TOML schema). The
//!   worker does not use it: build.rs embeds the resolved policy (`policy::embed`).
//! - `edgecache explain [file] <URL> [--method M] [--header 'K: V']... [--cookie 'a=b; c=d']
//!   [--origin ORIGIN] [--origin-host origin|site] [--json]`: what the worker would do with that
//!   request (the same core function), and where its origin request goes under the worker's
//!   `ORIGIN` / `ORIGIN_HOST` (default: `$ORIGIN` / `$ORIGIN_HOST`, else same-zone).

#[cfg(not(target_arch = "wasm32"))]
fn main() {
    // Everything after the program name (an exec with an empty argv has none).
    let args: Vec<String> = std::env::args().collect();
    std::process::exit(host::run(args.get(1..).unwrap_or_default().to_vec()));
}

#[cfg(target_arch = "wasm32")]
fn main() {}

#[cfg(not(target_arch = "wasm32"))]
mod host {
    use edgecache::duration::format_duration;
    use edgecache::policy::{CookieMode, Policy, QueryMode, Rule};

    const USAGE: &str = "usage: edgecache check [policy.toml]\n\
        \x20      edgecache policy-json [policy.toml]\n\
        \x20      edgecache explain [policy.toml] <URL> [--method M] [--header 'K: V']... [--cookie 'a=b']\n\
        \x20                [--origin URL|same-zone] [--origin-host origin|site] [--json]\n\
        The policy file defaults to $EDGECACHE_POLICY, else edgecache.toml.";

    fn explain(args: &[String]) -> i32 {
        let mut file = None;
        let mut url = None;
        let mut method = "GET".to_string();
        let mut headers = Vec::new();
        let mut cookies: Vec<String> = Vec::new();
        let mut as_json = false;
        let mut origin = std::env::var("ORIGIN").ok();
        let mut origin_host = std::env::var("ORIGIN_HOST").ok();
        let mut it = args.iter();
        while let Some(a) = it.next() {
            let mut value = |name: &str| {
                it.next().cloned().ok_or_else(|| {
                    eprintln!("explain: {name} needs a value\n{USAGE}");
                    2
                })
            };
            let r = match a.as_str() {
                "--method" | "-X" => value("--method").map(|v| method = v),
                "--header" | "-H" => value("--header").map(|v| headers.push(v)),
                "--cookie" | "-b" => value("--cookie").map(|v| cookies.push(v)),
                "--origin" => value("--origin").map(|v| origin = Some(v)),
                "--origin-host" => value("--origin-host").map(|v| origin_host = Some(v)),
                "--json" => {
                    as_json = true;
                    Ok(())
                }
                s if s.contains("://")
                    || s.starts_with('/') && url.is_none() && !s.ends_with(".toml") =>
                {
                    url = Some(s.to_string());
                    Ok(())
                }
                s => {
                    file = Some(s.to_string());
                    Ok(())
                }
            };
            if let Err(code) = r {
                return code;
            }
        }
        let Some(url) = url else {
            eprintln!("explain: give a URL\n{USAGE}");
            return 2;
        };
        let path = policy_path(file.as_ref());
        let src = match read(&path) {
            Ok(s) => s,
            Err(code) => return code,
        };
        let policy = match Policy::from_toml_str(&src, &path) {
            Ok(l) => l.policy,
            Err(e) => {
                eprintln!("{e}");
                return 1;
            }
        };
        let url = if url.starts_with('/') {
            format!("https://example.com{url}")
        } else {
            url
        };
        let cookie = (!cookies.is_empty()).then(|| cookies.join("; "));
        let h = match edgecache::explain::request_headers(&headers, cookie.as_deref()) {
            Ok(h) => h,
            Err(e) => {
                eprintln!("explain: {e}");
                return 2;
            }
        };
        let origin =
            match edgecache::origin::parse_origin_mode(origin.as_deref(), origin_host.as_deref()) {
                Ok(o) => o,
                Err(e) => {
                    eprintln!("explain: {e}");
                    return 2;
                }
            };
        match edgecache::explain::explain_with_origin(&policy, &method, &url, &h, Some(&origin)) {
            Ok(x) => {
                if as_json {
                    println!("{}", x.to_json());
                } else {
                    print!("{}", x.text);
                }
                0
            }
            Err(e) => {
                eprintln!("explain: {e}");
                2
            }
        }
    }

    fn policy_path(arg: Option<&String>) -> String {
        arg.cloned()
            .or_else(|| std::env::var("EDGECACHE_POLICY").ok())
            .unwrap_or_else(|| "edgecache.toml".to_string())
    }

    fn read(path: &str) -> Result<String, i32> {
        std::fs::read_to_string(path).map_err(|e| {
            eprintln!("{path}: cannot read: {e}");
            1
        })
    }

    /// Run a command; returns the process exit code.
    pub fn run(args: Vec<String>) -> i32 {
        match args.first().map(String::as_str) {
            Some("check") => check(&policy_path(args.get(1))),
            Some("policy-json") => policy_json(&policy_path(args.get(1))),
            Some("explain") => explain(&args[1..]),
            Some("-h") | Some("--help") | Some("help") => {
                println!("{USAGE}");
                0
            }
            _ => {
                eprintln!("{USAGE}");
                2
            }
        }
    }

    fn check(path: &str) -> i32 {
        let src = match read(path) {
            Ok(s) => s,
            Err(code) => return code,
        };
        match Policy::from_toml_str(&src, path) {
            Err(errors) => {
                eprintln!("{errors}");
                eprintln!(
                    "{path}: invalid ({} error{})",
                    errors.errors.len(),
                    if errors.errors.len() == 1 { "" } else { "s" }
                );
                1
            }
            Ok(loaded) => {
                for w in &loaded.warnings {
                    eprintln!("warning: {w}");
                }
                print!("{}", table(&loaded.policy));
                println!(
                    "{path}: ok ({} rules, {} warning{})",
                    loaded.policy.rules.len(),
                    loaded.warnings.len(),
                    if loaded.warnings.len() == 1 { "" } else { "s" }
                );
                0
            }
        }
    }

    fn policy_json(path: &str) -> i32 {
        let src = match read(path) {
            Ok(s) => s,
            Err(code) => return code,
        };
        match edgecache::policy::toml_to_json(&src, path) {
            Ok(json) => {
                println!("{json}");
                0
            }
            Err(errors) => {
                eprintln!("{errors}");
                1
            }
        }
    }

    fn row(r: &Rule) -> Vec<String> {
        let mode = if r.bypass {
            "bypass".to_string()
        } else {
            r.origin_cache_control.as_str().to_string()
        };
        let (edge, browser, stale) = if r.bypass {
            ("-".into(), "-".into(), "-".into())
        } else {
            (
                format_duration(r.edge_ttl),
                format_duration(r.browser_ttl),
                format!(
                    "{}/{}",
                    format_duration(r.stale_while_revalidate),
                    format_duration(r.stale_if_error)
                ),
            )
        };
        let cookies = match r.cookies.mode {
            CookieMode::Allow => format!(
                "allow:{}",
                r.cookies.allow.patterns().collect::<Vec<_>>().join(",")
            ),
            m => m.as_str().to_string(),
        };
        let query = match r.query.mode {
            QueryMode::Ignore => "ignore".to_string(),
            QueryMode::Allow => format!(
                "allow:{}",
                r.query.allow.patterns().collect::<Vec<_>>().join(",")
            ),
            QueryMode::Deny => format!("deny:{}", r.query.deny.patterns().count()),
        };
        vec![
            if r.is_default() {
                "-".into()
            } else {
                r.index.to_string()
            },
            r.name.clone(),
            r.when.describe(),
            mode,
            edge,
            browser,
            stale,
            cookies,
            query,
        ]
    }

    /// The rules in order, then the default rule, as an aligned text table.
    fn table(p: &Policy) -> String {
        let head: Vec<String> = [
            "#", "name", "match", "mode", "edge", "browser", "swr/sie", "cookies", "query",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        let mut rows = vec![head];
        rows.extend(p.rules.iter().map(row));
        rows.push(row(&p.defaults));
        let mut widths = vec![0usize; rows[0].len()];
        for r in &rows {
            for (w, c) in widths.iter_mut().zip(r) {
                *w = (*w).max(c.chars().count());
            }
        }
        let mut out = String::new();
        for r in &rows {
            let line: Vec<String> = r
                .iter()
                .zip(&widths)
                .map(|(c, w)| format!("{c:<w$}"))
                .collect();
            out.push_str(line.join("  ").trim_end());
            out.push('\n');
        }
        out
    }
}
