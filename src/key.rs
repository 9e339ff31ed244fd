//! Cache keys: a normalised absolute URL per stored response, usable with the Workers Cache API.
//!
//! `https://{host}{:port}{path}{?query}` with, when the rule varies on request headers or kept
//! cookies, a final reserved parameter `__ec_vary=…`:
//!
//! - **scheme** always `https`: `http://` and `https://` requests for the same resource share one
//!   entry (the edge serves both from one origin fetch), and the Cache API only accepts http(s)
//!   URLs as keys.
//! - **host** lower-cased (the URL parser does it, with IDNA); when the rule sets
//!   `key.include_host = false` it is replaced by [`SHARED_HOST`] so every host shares entries.
//! - **port** dropped when it is the default of the request's scheme or 443; other ports stay
//!   (different ports are different origins).
//! - **path** normalised without changing its meaning (RFC 3986 §6.2.2): percent-encoded
//!   unreserved characters (`A-Z a-z 0-9 - . _ ~`) are decoded, other percent-encodings get
//!   upper-case hex digits (`%2f` → `%2F`, never decoded), dot-segments are removed
//!   (RFC 3986 §5.2.4), an empty path becomes `/`. A `%` that starts no escape becomes `%25`
//!   (so the result is never read as another escape: normalising twice changes nothing).
//! - **query**: each `name[=value]` pair gets the same percent normalisation; pairs are dropped
//!   per the rule's query mode (`ignore` drops all, `allow` keeps listed names, `deny` drops listed
//!   names; `name_*` is a prefix), empty pairs and any parameter starting with `__ec_` (reserved,
//!   so clients cannot forge a variant) are dropped, then the rest is sorted by name with a stable
//!   sort: parameters with the same name keep their original relative order (`a=2&a=1` and
//!   `a=1&a=2` may mean different things to the origin). `+` is left as is.
//! - **fragment** dropped.
//! - **vary**: `__ec_vary=` then the percent-encoding (every byte but unreserved ones) of the
//!   entries joined by `\n`, sorted by name. Each entry is `name:value` where value is every
//!   value of that request header joined with `", "`, or just `name` when the header is absent.
//!   With `cookies.mode = "allow"` an entry `cookie:` holds the kept cookies sorted by name.
//!   It is always the last parameter, so [`strip_vary`] recovers the base key.

use crate::cookies::canonical_kept_cookies;
pub use crate::path::normalize_path;
use crate::path::{is_unreserved, normalize_pct};
use crate::policy::{CookieMode, Policy, QueryMode, QueryPolicy, Rule};
use std::borrow::Cow;
use std::fmt;

/// Name of the reserved query parameter carrying the vary entries.
pub const VARY_PARAM: &str = "__ec_vary";

/// Where [`VARY_PARAM`] starts in a key: `?__ec_vary=` or `&__ec_vary=` (a test checks they
/// match it).
const VARY_NEEDLES: [&str; 2] = ["?__ec_vary=", "&__ec_vary="];
/// Prefix of reserved query parameters; such parameters are removed from incoming URLs.
pub const RESERVED_PREFIX: &str = "__ec_";
/// Host used in keys of rules with `key.include_host = false`.
pub const SHARED_HOST: &str = "shared.edgecache.invalid";

/// Why a purge URL could not be normalised.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyError {
    /// Not an absolute URL.
    InvalidUrl(String),
    /// Not `http` or `https`.
    UnsupportedScheme(String),
    /// The URL has no host.
    MissingHost,
}

impl KeyError {
    /// Stable short identifier.
    pub fn as_str(&self) -> &'static str {
        match self {
            KeyError::InvalidUrl(_) => "invalid-url",
            KeyError::UnsupportedScheme(_) => "unsupported-scheme",
            KeyError::MissingHost => "missing-host",
        }
    }
}

impl fmt::Display for KeyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KeyError::InvalidUrl(e) => write!(f, "invalid URL: {e}"),
            KeyError::UnsupportedScheme(s) => write!(f, "unsupported scheme {s:?} (use https)"),
            KeyError::MissingHost => f.write_str("URL has no host"),
        }
    }
}

impl std::error::Error for KeyError {}

/// The query string kept in the key under `q` (see the module docs), `None` when empty.
pub fn normalize_query(query: &str, q: &QueryPolicy) -> Option<String> {
    if q.mode == QueryMode::Ignore {
        return None;
    }
    let mut kept: Vec<(Cow<'_, str>, usize)> = Vec::new();
    for pair in query.split('&') {
        if pair.is_empty() {
            continue;
        }
        let norm = normalize_pct(pair);
        let name_len = norm.find('=').unwrap_or(norm.len());
        let name = &norm[..name_len];
        if name.starts_with(RESERVED_PREFIX) || !q.keeps(name) {
            continue;
        }
        kept.push((norm, name_len));
    }
    if kept.is_empty() {
        return None;
    }
    crate::sort::sort_by_str(&mut kept, |(p, len)| &p[..*len]);
    let mut out = String::with_capacity(query.len());
    for (i, (p, _)) in kept.iter().enumerate() {
        if i > 0 {
            out.push('&');
        }
        out.push_str(p);
    }
    Some(out)
}

/// The key without vary entries: what purge-by-URL compares against.
pub fn base_key(url: &url::Url, rule: &Rule) -> String {
    let host = if rule.key.include_host {
        url.host_str().unwrap_or(SHARED_HOST)
    } else {
        SHARED_HOST
    };
    let mut out = String::with_capacity(url.as_str().len() + 8);
    out.push_str("https://");
    out.push_str(host);
    match url.port() {
        None | Some(443) => {}
        Some(p) => {
            out.push(':');
            out.push_str(&p.to_string());
        }
    }
    out.push_str(&origin_path_and_query(url, rule));
    out
}

/// The path and query of the key (normalised path, the kept parameters normalised and sorted):
/// exactly what the origin is sent on a shared request, so that the origin's answer depends on
/// nothing the key does not hold (a path the cache and the origin read differently, or a
/// parameter dropped from the key but reflected by the origin, would let one request decide
/// what every request with that key is served). [`base_key`] is the scheme and host followed by
/// this string.
pub fn origin_path_and_query(url: &url::Url, rule: &Rule) -> String {
    let path = normalize_path(url.path());
    match url.query().and_then(|q| normalize_query(q, &rule.query)) {
        Some(q) => format!("{path}?{q}"),
        None => path.into_owned(),
    }
}

/// The origin URL of a shared request: the origin base (scheme, authority, and a path prefix
/// without its trailing `/`) followed by [`origin_path_and_query`]. Query and path are set as
/// they are (already normalised and percent-encoded).
pub fn origin_url(base: &url::Url, path_and_query: &str) -> url::Url {
    let mut u = base.clone();
    let (path, query) = match path_and_query.split_once('?') {
        Some((p, q)) => (p, Some(q)),
        None => (path_and_query, None),
    };
    let prefix = base.path().trim_end_matches('/');
    u.set_path(&format!("{prefix}{path}"));
    u.set_query(query);
    u
}

/// The upper-case hex digit for a nibble (`n < 16`).
fn hex_upper(n: u8) -> char {
    char::from_digit(u32::from(n), 16)
        .unwrap_or('0')
        .to_ascii_uppercase()
}

fn pct_encode_into(out: &mut String, bytes: &[u8]) {
    for &b in bytes {
        if is_unreserved(b) {
            out.push(char::from(b));
        } else {
            out.push('%');
            out.push(hex_upper(b >> 4));
            out.push(hex_upper(b & 15));
        }
    }
}

/// The `__ec_vary` value for this request, `None` when the rule varies on nothing.
fn vary_value(rule: &Rule, headers: &http::HeaderMap) -> Option<String> {
    let with_cookie = rule.cookies.mode == CookieMode::Allow;
    if rule.key.vary.is_empty() && !with_cookie {
        return None;
    }
    let mut entries: Vec<(&str, Option<Vec<u8>>)> = Vec::new();
    for name in &rule.key.vary {
        let mut value: Option<Vec<u8>> = None;
        for v in headers.get_all(name) {
            let v = v.as_bytes().trim_ascii();
            match &mut value {
                None => value = Some(v.to_vec()),
                Some(acc) => {
                    acc.extend_from_slice(b", ");
                    acc.extend_from_slice(v);
                }
            }
        }
        entries.push((name.as_str(), value));
    }
    if with_cookie {
        let all: Vec<&str> = headers
            .get_all(http::header::COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .collect();
        let kept = canonical_kept_cookies(&all.join("; "), &rule.cookies.allow);
        entries.push(("cookie", kept.map(String::into_bytes)));
    }
    crate::sort::sort_by_str(&mut entries, |e| e.0);
    let mut raw = Vec::new();
    for (i, (name, value)) in entries.iter().enumerate() {
        if i > 0 {
            raw.push(b'\n');
        }
        raw.extend_from_slice(name.as_bytes());
        if let Some(v) = value {
            raw.push(b':');
            raw.extend_from_slice(v);
        }
    }
    let mut out = String::with_capacity(raw.len() * 2);
    pct_encode_into(&mut out, &raw);
    Some(out)
}

/// The cache key of a request under `rule` (see the module docs for the exact form).
///
/// Idempotent: the key of the URL of a key (same headers) is the same key.
pub fn cache_key(url: &url::Url, rule: &Rule, req_headers: &http::HeaderMap) -> String {
    let mut key = base_key(url, rule);
    if let Some(v) = vary_value(rule, req_headers) {
        key.push(if key.contains('?') { '&' } else { '?' });
        key.push_str(VARY_PARAM);
        key.push('=');
        key.push_str(&v);
    }
    key
}

/// The base key of a cache key: the key without its trailing `__ec_vary` parameter.
pub fn strip_vary(key: &str) -> &str {
    // Built at compile time (every hit's purge check strips its key).
    for needle in VARY_NEEDLES {
        if let Some(i) = rfind_from_first_byte(key, needle) {
            return &key[..i];
        }
    }
    key
}

/// `hay.rfind(needle)` for a needle that starts with an ASCII byte found rarely in `hay` (`?`,
/// `&`): each candidate is found by `memrchr`, without the substring searcher's set-up, which
/// every hit paid for twice here.
fn rfind_from_first_byte(hay: &str, needle: &str) -> Option<usize> {
    let first = char::from(*needle.as_bytes().first()?);
    let mut end = hay.len();
    while let Some(i) = hay[..end].rfind(first) {
        if hay[i..].starts_with(needle) {
            return Some(i);
        }
        end = i;
    }
    None
}

/// Why a URL with a non-ASCII or `%`-escaped host is refused.
pub const NON_ASCII_HOST: &str = "the host must be ASCII (punycode), without %-escapes";

/// Whether the authority (host) that a WHATWG URL parser would read from `u` — absolute
/// (`https://h/…`), scheme-relative (`//h/…`), or the same with backslashes — is plain ASCII
/// without `%`-escapes. Strings without an authority (`/a/b`, `a//b`) pass.
///
/// Hosts reach the worker in punycode already, and the wasm carries an ASCII-only IDNA
/// back end (no Unicode tables): a non-ASCII host is refused before it is parsed, rather than
/// handed to a back end that cannot map it.
pub fn plain_authority(u: &str) -> bool {
    // The URL parser drops tabs and newlines anywhere and C0/space at the start, and reads
    // `\` as `/` in http(s) URLs.
    let s: String = u
        .chars()
        .filter(|c| !matches!(c, '\t' | '\n' | '\r'))
        .map(|c| if c == '\\' { '/' } else { c })
        .collect();
    let s = s.trim_start_matches(|c: char| c <= ' ');
    // `scheme:` if the string starts with one.
    let scheme_len = s
        .find(':')
        .filter(|&n| {
            let name = &s[..n];
            name.starts_with(|c: char| c.is_ascii_alphabetic())
                && name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'))
        })
        .map_or(0, |n| n + 1);
    let special = ["http:", "https:", "ws:", "wss:", "ftp:", "file:"]
        .iter()
        .any(|p| s[..scheme_len].eq_ignore_ascii_case(p));
    let rest = &s[scheme_len..];
    let rest = if special {
        // A special scheme takes any number of slashes (even none) before the host.
        rest.trim_start_matches('/')
    } else if let Some(r) = rest.strip_prefix("//") {
        r
    } else {
        return true;
    };
    let authority = &rest[..rest.find(['/', '?', '#']).unwrap_or(rest.len())];
    authority.is_ascii() && !authority.contains('%')
}

/// Normalise a URL given to purge exactly as [`base_key`] does for a `GET` of that URL.
///
/// The purge then applies to every vary variant of that base key.
pub fn normalize_url_for_purge(url: &str, policy: &Policy) -> Result<String, KeyError> {
    if !plain_authority(url) {
        return Err(KeyError::InvalidUrl(NON_ASCII_HOST.to_string()));
    }
    let u = url::Url::parse(url).map_err(|e| KeyError::InvalidUrl(e.to_string()))?;
    if u.scheme() != "http" && u.scheme() != "https" {
        return Err(KeyError::UnsupportedScheme(u.scheme().to_string()));
    }
    let host = u.host_str().ok_or(KeyError::MissingHost)?;
    let rule = policy.match_rule("GET", host, &normalize_path(u.path()));
    Ok(base_key(&u, rule))
}

#[cfg(test)]
mod tests {
    #[test]
    fn vary_needles_name_the_vary_param() {
        assert_eq!(
            VARY_NEEDLES,
            [format!("?{VARY_PARAM}="), format!("&{VARY_PARAM}=")]
        );
    }

    use super::*;

    proptest::proptest! {
        /// The same as `str::rfind` for either needle in any text made of their pieces.
        #[test]
        fn rfind_from_first_byte_is_rfind(
            hay in "[?&_ecvary=aé]{0,40}",
            which in 0usize..2,
        ) {
            let needle = VARY_NEEDLES[which];
            proptest::prop_assert_eq!(rfind_from_first_byte(&hay, needle), hay.rfind(needle));
            let with = format!("{hay}{needle}{hay}");
            proptest::prop_assert_eq!(rfind_from_first_byte(&with, needle), with.rfind(needle));
        }
    }
    use proptest::prelude::*;

    const PATHS: &[(&str, &str)] = &[
        ("", "/"),
        ("/", "/"),
        ("/a/b/../c", "/a/c"),
        ("/a/./b/.", "/a/b/"),
        ("/a/b/..", "/a/"),
        ("/..", "/"),
        ("/../../x", "/x"),
        ("/%7euser/%2f%2F", "/~user/%2F%2F"),
        ("/%41%42%2e%2E/x", "/AB../x"),
        ("/a/%2E%2E/b", "/b"),
        ("/%zz/%4", "/%25zz/%254"),
        ("/%4%41", "/%254A"),
        ("/%%41", "/%25A"),
        ("/caf%c3%a9", "/caf%C3%A9"),
        ("relative", "/relative"),
        ("//double", "//double"),
    ];

    #[test]
    fn paths() {
        for (input, want) in PATHS {
            assert_eq!(normalize_path(input), *want, "{input}");
            assert_eq!(normalize_path(want), *want, "idempotent {want}");
        }
    }

    #[test]
    fn plain_authority_finds_the_host_a_url_parser_would_read() {
        for ok in [
            "https://example.com/a",
            "http://h:8080/x?q=é",
            "/a/é",
            "/a//b",
            "a//b",
            "/p?x=//é",
            "https://xn--rgion-9ra.example/",
            "mailto:é@x",
            "urn:é",
        ] {
            assert!(plain_authority(ok), "{ok}");
        }
        for bad in [
            "https://exämple.com/",
            "//é/x",
            "/\\A®",
            "\\\\é",
            "http:\\\\é/",
            " https://é",
            "/\t/é",
            "https://A%C2%AE/",
            "HTTP://Ä",
            "https://u:p@é/",
            "http:Aé",
            "https:/é",
            "Ws://é",
        ] {
            assert!(!plain_authority(bad), "{bad}");
        }
    }

    #[test]
    fn non_ascii_hosts_are_refused_not_parsed() {
        // The ASCII-only IDNA back end must never see these (it debug-asserts on them).
        let p = Policy::from_rules(Rule::builtin_default(), vec![]);
        for u in ["https://A®/x", "https://A%C2%AE/", "https:\\\\Aé/"] {
            assert_eq!(
                normalize_url_for_purge(u, &p),
                Err(KeyError::InvalidUrl(NON_ASCII_HOST.into())),
                "{u}"
            );
        }
    }

    proptest! {
        #[test]
        fn url_parsing_never_reaches_the_idna_back_end_with_mixed_case(u in "(https?:)?(//|/\\\\|\\\\)?[A-Za-z%0-9®é]{0,6}(/[a-z]{0,3})?") {
            // Debug builds of the ASCII-only IDNA adapter assert on this; refusal must come first.
            let p = Policy::from_rules(Rule::builtin_default(), vec![]);
            let _ = normalize_url_for_purge(&u, &p);
            let _ = crate::purge::normalise_prefix(&u);
        }

        #[test]
        fn path_never_panics_and_is_idempotent(p in "[/a.%2eEfF]{0,30}") {
            let once = normalize_path(&p).into_owned();
            prop_assert_eq!(normalize_path(&once).into_owned(), once);
        }

        #[test]
        fn pct_never_panics(p in ".{0,40}") {
            let once = normalize_path(&p).into_owned();
            prop_assert_eq!(normalize_path(&once).into_owned(), once);
        }
    }
}
