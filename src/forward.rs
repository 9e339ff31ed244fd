//! What a shared (cacheable) request carries to the origin: an allowlist, so no unkeyed input
//! can decide what everybody else is served (web cache poisoning).
//!
//! A response stored under a key is served to every request with that key. If a request header
//! that is *not* part of the key reaches the origin and the origin reflects it (a forwarded host
//! in links or redirects, an original/rewrite URL, a method override...), one attacker's request
//! decides the stored page for everybody (PortSwigger, "Practical Web Cache Poisoning" 2018 and
//! "Web Cache Entanglement" 2020). So on a request that goes through the cache only these
//! reach the origin:
//!
//! - the headers of the rule's `key.vary` (they are in the key);
//! - `Host`, set to the host in the key (only when the key includes the host);
//! - content negotiation, [`SAFE_UNKEYED`] (`Accept`, `Accept-Encoding`, `Accept-Language`): an
//!   origin that answers differently per value must say so with `Vary` (RFC 9110 §12.5.5), and
//!   the cache keeps one variant per value it names (RFC 9111 §4.1);
//! - `Cookie` as the rule's cookie mode leaves it (`allow`: only the kept cookies, which are in
//!   the key), `Authorization` on routes marked `public_authorization`;
//! - what the rule names in `forward_unkeyed` (an explicit opt-out that `edgecache check` warns
//!   about).
//!
//! Everything else is dropped: every header of [`KNOWN_UNKEYED_INPUTS`], but also `User-Agent`,
//! `Referer`, `Origin`, `Cache-Control`, `Range`, `Sec-*`... Validators: revalidation adds the
//! stored entry's (RFC 9111 §4.3.1); the client's conditionals are answered by the edge from a
//! stored response, and only reach the origin when nothing usable is stored (§4.3.2,
//! `decision::miss_origin_headers`; the 304 or 412 that may come back is never stored). Requests
//! that bypass the cache are forwarded untouched (nothing of theirs is shared).

use crate::policy::Rule;
use http::header::{ACCEPT, ACCEPT_ENCODING, ACCEPT_LANGUAGE, AUTHORIZATION, COOKIE, HOST};
use http::{HeaderMap, HeaderName, HeaderValue};

/// Content negotiation headers forwarded on shared requests although they are not in the key
/// (see the module docs for why this is safe).
pub const SAFE_UNKEYED: [HeaderName; 3] = [ACCEPT, ACCEPT_ENCODING, ACCEPT_LANGUAGE];

/// Method-override headers: frameworks that honour them turn a GET into another method. A GET or
/// HEAD carrying one is never served from or stored into a shared entry (it bypasses the cache).
pub const METHOD_OVERRIDE: [&str; 3] = [
    "x-http-method-override",
    "x-http-method",
    "x-method-override",
];

pub use crate::unkeyed::KNOWN_UNKEYED_INPUTS;

/// Why a header reaches the origin on a shared request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Why {
    /// Named in `key.vary`: part of the key.
    Keyed,
    /// `Host`, the host of the key.
    Host,
    /// Content negotiation ([`SAFE_UNKEYED`]).
    Negotiation,
    /// `Cookie`, as the cookie mode leaves it (in the key in `allow` mode).
    Cookie,
    /// `Authorization` on a route marked `public_authorization`.
    Authorization,
    /// Named in the rule's `forward_unkeyed`: reaches the origin without being in the key.
    Unkeyed,
}

impl Why {
    /// Short stable name (explain).
    pub fn as_str(&self) -> &'static str {
        match self {
            Why::Keyed => "keyed",
            Why::Host => "host",
            Why::Negotiation => "negotiation",
            Why::Cookie => "cookie",
            Why::Authorization => "public-authorization",
            Why::Unkeyed => "forward-unkeyed",
        }
    }
}

/// The headers of a shared request's origin fetch, and what was kept and dropped (for explain).
#[derive(Debug, Clone, Default)]
pub struct Forwarding {
    /// The headers to send.
    pub headers: HeaderMap,
    /// Each forwarded header once, with why, in the order first seen.
    pub sent: Vec<(HeaderName, Why)>,
    /// Each request header not forwarded, once, in the order first seen.
    pub dropped: Vec<HeaderName>,
}

/// Whether a GET/HEAD carries a body (`Transfer-Encoding`, or a `Content-Length` other than 0;
/// an unreadable one counts as a body). A cache never sends a GET body to the origin, and an
/// origin that reads one would answer per body (a "fat GET"), so such requests bypass.
pub fn has_body(headers: &HeaderMap) -> bool {
    if headers.contains_key(http::header::TRANSFER_ENCODING) {
        return true;
    }
    headers
        .get_all(http::header::CONTENT_LENGTH)
        .iter()
        .any(|v| v.to_str().map_or(true, |s| s.trim() != "0"))
}

/// [`METHOD_OVERRIDE`] as field names, built at compile time (no parse per request).
static METHOD_OVERRIDE_NAMES: [HeaderName; 3] = [
    HeaderName::from_static(METHOD_OVERRIDE[0]),
    HeaderName::from_static(METHOD_OVERRIDE[1]),
    HeaderName::from_static(METHOD_OVERRIDE[2]),
];

/// The method-override header a request carries, if any ([`METHOD_OVERRIDE`]).
pub fn method_override(headers: &HeaderMap) -> Option<&'static str> {
    METHOD_OVERRIDE_NAMES
        .iter()
        .zip(METHOD_OVERRIDE)
        .find(|(n, _)| headers.contains_key(*n))
        .map(|(_, s)| s)
}

/// `host[:port]` of the URL, as the key has it (the port only when it is neither the scheme's
/// default nor 443, as in [`crate::key::base_key`]).
pub fn key_host(url: &url::Url) -> Option<String> {
    let host = url.host_str()?;
    Some(match url.port() {
        Some(p) if p != 443 => format!("{host}:{p}"),
        _ => host.to_string(),
    })
}

/// The origin request headers of a shared request under `rule` (see the module docs).
///
/// `cookie` is the `Cookie` value the rule's cookie mode keeps (`None`: no cookie is sent).
pub fn shared_request_headers(
    rule: &Rule,
    url: &url::Url,
    headers: &HeaderMap,
    cookie: Option<HeaderValue>,
) -> Forwarding {
    let mut out = Forwarding::default();
    let note = |out: &mut Forwarding, name: &HeaderName, why: Option<Why>| match why {
        Some(w) => {
            if !out.sent.iter().any(|(n, _)| n == name) {
                out.sent.push((name.clone(), w));
            }
        }
        None => {
            if !out.dropped.contains(name) {
                out.dropped.push(name.clone());
            }
        }
    };
    for (name, value) in headers {
        let why = if *name == HOST || *name == COOKIE {
            // Set below from the key and the cookie mode, never copied.
            None
        } else if rule.key.vary.contains(name) {
            Some(Why::Keyed)
        } else if SAFE_UNKEYED.contains(name) {
            Some(Why::Negotiation)
        } else if *name == AUTHORIZATION && rule.public_authorization {
            Some(Why::Authorization)
        } else if rule.forward_unkeyed.contains(name) {
            Some(Why::Unkeyed)
        } else {
            None
        };
        if why.is_some() {
            out.headers.append(name.clone(), value.clone());
        }
        if *name != HOST && *name != COOKIE {
            note(&mut out, name, why);
        }
    }
    // RFC 9110 §7.2: the Host the origin sees is the one the key was computed from.
    let host = key_host(url)
        .filter(|_| rule.key.include_host)
        .and_then(|h| HeaderValue::from_str(&h).ok());
    match host {
        Some(h) => {
            out.headers.insert(HOST, h);
            note(&mut out, &HOST, Some(Why::Host));
        }
        None if headers.contains_key(HOST) => note(&mut out, &HOST, None),
        None => {}
    }
    match cookie {
        Some(c) => {
            out.headers.insert(COOKIE, c);
            note(&mut out, &COOKIE, Some(Why::Cookie));
        }
        None if headers.contains_key(COOKIE) => note(&mut out, &COOKIE, None),
        None => {}
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn hm(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(
                HeaderName::from_bytes(k.as_bytes()).unwrap(),
                HeaderValue::from_str(v).unwrap(),
            );
        }
        h
    }

    fn url() -> url::Url {
        url::Url::parse("https://www.example.com/a").unwrap()
    }

    #[test]
    fn every_known_unkeyed_input_is_dropped_by_default() {
        let rule = Rule::builtin_default();
        let pairs: Vec<(&str, &str)> = KNOWN_UNKEYED_INPUTS
            .iter()
            .map(|h| (*h, "evil.example"))
            .collect();
        let f = shared_request_headers(&rule, &url(), &hm(&pairs), None);
        for h in KNOWN_UNKEYED_INPUTS {
            assert!(!f.headers.contains_key(*h), "{h} forwarded");
            assert!(f.dropped.iter().any(|d| d == h), "{h} not reported");
        }
        assert!(f.headers.is_empty() || f.headers.keys().all(|k| k == HOST));
    }

    #[test]
    fn allowlist_keyed_negotiation_host_cookie_unkeyed() {
        let mut rule = Rule::builtin_default();
        rule.key.vary = vec![HeaderName::from_static("x-device")];
        rule.forward_unkeyed = vec![HeaderName::from_static("x-trace")];
        let h = hm(&[
            ("host", "evil.example"),
            ("accept-language", "fr"),
            ("accept", "text/html"),
            ("x-device", "mobile"),
            ("x-trace", "1"),
            ("x-forwarded-host", "evil.example"),
            ("cookie", "a=1"),
            ("authorization", "Bearer x"),
            ("connection", "close"),
        ]);
        let f = shared_request_headers(&rule, &url(), &h, Some(HeaderValue::from_static("k=v")));
        assert_eq!(f.headers.get("host").unwrap(), "www.example.com");
        assert_eq!(f.headers.get("accept-language").unwrap(), "fr");
        assert_eq!(f.headers.get("x-device").unwrap(), "mobile");
        assert_eq!(f.headers.get("x-trace").unwrap(), "1");
        assert_eq!(f.headers.get("cookie").unwrap(), "k=v");
        for gone in ["x-forwarded-host", "authorization", "connection"] {
            assert!(!f.headers.contains_key(gone), "{gone}");
            assert!(f.dropped.iter().any(|d| d == gone), "{gone}");
        }
        let why = |n: &str| f.sent.iter().find(|(h, _)| h == n).map(|(_, w)| *w);
        assert_eq!(why("x-device"), Some(Why::Keyed));
        assert_eq!(why("x-trace"), Some(Why::Unkeyed));
        assert_eq!(why("accept"), Some(Why::Negotiation));
        assert_eq!(why("host"), Some(Why::Host));
        assert_eq!(why("cookie"), Some(Why::Cookie));
        // Authorization only on public routes.
        rule.public_authorization = true;
        let f = shared_request_headers(&rule, &url(), &h, None);
        assert_eq!(f.headers.get("authorization").unwrap(), "Bearer x");
        assert!(!f.headers.contains_key("cookie"));
        assert!(f.dropped.iter().any(|d| d == "cookie"));
    }

    #[test]
    fn host_follows_the_key() {
        let mut rule = Rule::builtin_default();
        let h = hm(&[("host", "other.example")]);
        let u = url::Url::parse("https://WWW.Example.com:8443/x").unwrap();
        let f = shared_request_headers(&rule, &u, &h, None);
        assert_eq!(f.headers.get("host").unwrap(), "www.example.com:8443");
        // Without the host in the key, no client host reaches the origin (its own URL decides).
        rule.key.include_host = false;
        let f = shared_request_headers(&rule, &u, &h, None);
        assert!(!f.headers.contains_key("host"));
        assert!(f.dropped.iter().any(|d| d == "host"));
    }

    #[test]
    fn bodies_and_overrides() {
        assert!(!has_body(&hm(&[])));
        assert!(!has_body(&hm(&[("content-length", "0")])));
        assert!(has_body(&hm(&[("content-length", "12")])));
        assert!(has_body(&hm(&[("content-length", "x")])));
        assert!(has_body(&hm(&[("transfer-encoding", "chunked")])));
        assert_eq!(method_override(&hm(&[])), None);
        for h in METHOD_OVERRIDE {
            assert_eq!(method_override(&hm(&[(h, "POST")])), Some(h));
        }
    }

    proptest! {
        /// Whatever the request carries, only allowlisted names reach the origin.
        #[test]
        fn only_allowlisted_headers_are_sent(names in prop::collection::vec("[a-z][a-z0-9-]{0,12}", 0..12)) {
            let rule = Rule::builtin_default();
            let mut h = HeaderMap::new();
            for n in &names {
                h.append(HeaderName::from_bytes(n.as_bytes()).unwrap(), HeaderValue::from_static("v"));
            }
            let f = shared_request_headers(&rule, &url(), &h, None);
            for k in f.headers.keys() {
                prop_assert!(*k == HOST || SAFE_UNKEYED.contains(k), "{k} forwarded");
            }
            for n in &names {
                let n = HeaderName::from_bytes(n.as_bytes()).unwrap();
                let sent = f.sent.iter().any(|(s, _)| *s == n);
                let dropped = f.dropped.contains(&n);
                prop_assert!(sent != dropped, "{n}: sent {sent} dropped {dropped}");
            }
        }
    }
}
