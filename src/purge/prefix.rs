//! Purge prefixes in their record form (`<path>` or `<host><path>`): a leaf that the purge
//! request parser ([`super::request`]) and the record keys ([`super::keys`]) both use.

/// Most path segments a purge prefix may have (422 above); entries check this many ancestors.
pub const MAX_PREFIX_DEPTH: usize = 32;

/// Placeholder host used to normalise relative paths with the `url` crate.
const BASE_HOST: &str = "prefix.invalid";

/// The host form used in prefix keys: lowercase host (IDNA-encoded by `url`), plus `:port`
/// when the URL has a non-default port. The adapter must pass `entry_host` in this form.
pub fn host_of(u: &url::Url) -> String {
    let host = u.host_str().unwrap_or("").to_ascii_lowercase();
    match u.port() {
        Some(p) => format!("{host}:{p}"),
        None => host,
    }
}

/// Normalises a purge prefix to its record form: `<path>` for a path starting with `/`
/// (any host), `<host><path>` for an absolute `http(s)` URL.
///
/// The path is normalised like a request URL by the `url` crate (dot segments resolved,
/// percent-encoding applied), then one trailing `/` is removed unless the path is `/`.
/// Errors (as a detail fragment): not a path or absolute http(s) URL, a leading `//`, a path
/// escaping to another host (`/\evil`), a query or fragment, more than 32 segments.
pub fn normalise_prefix(prefix: &str) -> Result<String, String> {
    if !crate::key::plain_authority(prefix) {
        return Err(crate::key::NON_ASCII_HOST.to_string());
    }
    let (host, u) = if prefix.starts_with('/') {
        if prefix.starts_with("//") {
            return Err("a path must not start with \"//\"".to_string());
        }
        (None, resolve_path(prefix)?)
    } else {
        let u = url::Url::parse(prefix).map_err(|_| {
            "expected a path starting with \"/\" or an absolute http(s) URL".to_string()
        })?;
        if !matches!(u.scheme(), "http" | "https") || u.host_str().is_none() {
            return Err("expected a path starting with \"/\" or an absolute http(s) URL".into());
        }
        (Some(host_of(&u)), u)
    };
    if u.query().is_some() || u.fragment().is_some() {
        return Err("a prefix must not have a query or fragment".to_string());
    }
    let path = strip_one_trailing_slash(u.path());
    if path.bytes().filter(|b| *b == b'/').count() > MAX_PREFIX_DEPTH {
        return Err(format!("more than {MAX_PREFIX_DEPTH} path segments"));
    }
    Ok(match host {
        Some(h) => format!("{h}{path}"),
        None => path.to_string(),
    })
}

/// Resolves a path starting with `/` against a placeholder origin, refusing any path that
/// would leave it (e.g. `/\evil.com`, which WHATWG URL parsing reads as `//evil.com`).
fn resolve_path(path: &str) -> Result<url::Url, String> {
    let base = url::Url::parse(&format!("http://{BASE_HOST}/"))
        .map_err(|_| "internal error: placeholder base URL".to_string())?;
    let u = base
        .join(path)
        .map_err(|_| "not a valid path".to_string())?;
    if u.host_str() != Some(BASE_HOST) || u.port().is_some() {
        return Err("the path must not name another host".to_string());
    }
    Ok(u)
}

pub(super) fn strip_one_trailing_slash(path: &str) -> &str {
    match path.strip_suffix('/') {
        Some(p) if !p.is_empty() => p,
        _ => path,
    }
}
