//! The `Cache-Status` response header (RFC 9211).
//!
//! `Cache-Status` is a Structured Field List (RFC 9211 §2): one member per cache, the cache's
//! identifier as an sf-token, followed by parameters. We emit exactly one member, [`CACHE_NAME`].

/// This cache's identifier in `Cache-Status` (an sf-token).
pub const CACHE_NAME: &str = "edgecache";

/// Largest magnitude of an sf-integer (RFC 8941 §3.3.1: at most 15 digits).
const SF_INTEGER_MAX: i64 = 999_999_999_999_999;

/// Why the request went forward to the origin (RFC 9211 §2.2 `fwd` values).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fwd {
    /// "The cache was configured to not handle this request."
    Bypass,
    /// "The request method's semantics require the request to be forwarded."
    Method,
    /// "The cache did not contain any responses that matched the request URI."
    UriMiss,
    /// "The cache contained a response that matched the request URI, but it could not select a
    /// response based upon this request's header fields and stored Vary header fields."
    VaryMiss,
    /// "The cache did not contain any responses that could be used to satisfy this request (to
    /// be used if an implementation cannot distinguish between uri-miss and vary-miss)."
    Miss,
    /// "The cache was able to select a fresh response for the request, but the request's
    /// semantics (e.g., Cache-Control request directives) did not allow its use."
    Request,
    /// "The cache was able to select a response for the request, but it was stale."
    Stale,
    /// "The cache was able to select a partial response for the request, but it did not contain
    /// all of the requested ranges (or the request was for the complete response)."
    Partial,
}

impl Fwd {
    /// The RFC 9211 §2.2 token, e.g. `uri-miss`.
    pub fn as_str(&self) -> &'static str {
        match self {
            Fwd::Bypass => "bypass",
            Fwd::Method => "method",
            Fwd::UriMiss => "uri-miss",
            Fwd::VaryMiss => "vary-miss",
            Fwd::Miss => "miss",
            Fwd::Request => "request",
            Fwd::Stale => "stale",
            Fwd::Partial => "partial",
        }
    }
}

/// One `Cache-Status` member for this cache (RFC 9211 §2.1–§2.8).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CacheStatus {
    /// §2.1 `hit`: "the request was satisfied by the cache; that is, it was not forwarded".
    pub hit: bool,
    /// §2.2 `fwd`: why the request was forwarded.
    pub fwd: Option<Fwd>,
    /// §2.3 `fwd-status`: the status code the next hop returned.
    pub fwd_status: Option<u16>,
    /// §2.4 `ttl`: remaining freshness in seconds; negative when stale.
    pub ttl: Option<i64>,
    /// §2.5 `stored`: the forwarded response was stored.
    pub stored: bool,
    /// §2.6 `collapsed`: the request was collapsed with another one.
    pub collapsed: bool,
    /// §2.7 `key`: the cache key (implementation-specific representation).
    pub key: Option<String>,
    /// §2.8 `detail`: implementation-specific extra information.
    pub detail: Option<String>,
}

impl CacheStatus {
    /// Serialises this member, e.g. `edgecache; hit; ttl=-12; detail=stale-while-revalidate`.
    ///
    /// Contract: parameters in the order hit, fwd, fwd-status, ttl, stored, collapsed, key,
    /// detail; `false` booleans and `None`s are omitted; `ttl` is clamped to the sf-integer range;
    /// `key` is always an sf-string; `detail` is an sf-token when it is one, else an sf-string.
    /// Strings keep printable ASCII, escape `"` and `\`, and percent-encode every other byte, so
    /// the output is always a valid sf-list of printable ASCII (no CR/LF).
    pub fn to_header_value(&self) -> String {
        let mut out = String::from(CACHE_NAME);
        if self.hit {
            out.push_str("; hit");
        }
        if let Some(fwd) = self.fwd {
            out.push_str("; fwd=");
            out.push_str(fwd.as_str());
        }
        if let Some(s) = self.fwd_status {
            out.push_str("; fwd-status=");
            push_int(&mut out, i64::from(s));
        }
        if let Some(ttl) = self.ttl {
            let ttl = ttl.clamp(-SF_INTEGER_MAX, SF_INTEGER_MAX);
            out.push_str("; ttl=");
            push_int(&mut out, ttl);
        }
        if self.stored {
            out.push_str("; stored");
        }
        if self.collapsed {
            out.push_str("; collapsed");
        }
        if let Some(key) = &self.key {
            out.push_str("; key=");
            out.push_str(&sf_string(key));
        }
        if let Some(detail) = &self.detail {
            out.push_str("; detail=");
            if is_sf_token(detail) {
                out.push_str(detail);
            } else {
                out.push_str(&sf_string(detail));
            }
        }
        out
    }
}

/// `n` in decimal, appended without the formatting machinery: every hit writes a `ttl`, and
/// `format!` is code a hit need not run (README, "The hit path").
pub(crate) fn push_int(out: &mut String, n: i64) {
    if n < 0 {
        out.push('-');
    }
    let v = n.unsigned_abs();
    let mut div = 1u64;
    while v / div >= 10 {
        div *= 10;
    }
    loop {
        let digit = u8::try_from((v / div) % 10).unwrap_or(0);
        out.push(char::from(b'0' + digit));
        if div == 1 {
            break;
        }
        div /= 10;
    }
}

/// sf-token: `( ALPHA / "*" ) *( tchar / ":" / "/" )` (RFC 8941 §3.3.4).
fn is_sf_token(s: &str) -> bool {
    let mut bytes = s.bytes();
    match bytes.next() {
        Some(b) if b.is_ascii_alphabetic() || b == b'*' => {}
        _ => return false,
    }
    bytes.all(|b| crate::cache_control::is_tchar(b) || b == b':' || b == b'/')
}

/// sf-string (RFC 8941 §3.3.3): printable ASCII with `"` and `\` escaped; other bytes are
/// percent-encoded (and `%` itself, so the encoding is unambiguous).
fn sf_string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for b in s.bytes() {
        match b {
            b'"' | b'\\' => {
                out.push('\\');
                out.push(char::from(b));
            }
            b'%' => out.push_str("%25"),
            0x20..=0x7e => out.push(char::from(b)),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    proptest::proptest! {
        /// The hit's integer writer agrees with `format!` for every i64.
        #[test]
        fn push_int_agrees_with_format(n in proptest::prelude::any::<i64>()) {
            let mut out = String::from("x");
            push_int(&mut out, n);
            proptest::prop_assert_eq!(out, format!("x{n}"));
        }
    }

    #[test]
    fn push_int_edges() {
        for n in [0, 9, 10, 99, 100, -1, -10, i64::MAX, i64::MIN] {
            let mut out = String::new();
            push_int(&mut out, n);
            assert_eq!(out, n.to_string());
        }
    }
    use crate::cache_control::sf;
    use proptest::prelude::*;

    #[test]
    fn examples() {
        let hit = CacheStatus {
            hit: true,
            ttl: Some(-12),
            detail: Some("stale-while-revalidate".into()),
            ..Default::default()
        };
        assert_eq!(
            hit.to_header_value(),
            "edgecache; hit; ttl=-12; detail=stale-while-revalidate"
        );
        let miss = CacheStatus {
            fwd: Some(Fwd::UriMiss),
            stored: true,
            ..Default::default()
        };
        assert_eq!(miss.to_header_value(), "edgecache; fwd=uri-miss; stored");
        let bypass = CacheStatus {
            fwd: Some(Fwd::Bypass),
            detail: Some("cookie".into()),
            ..Default::default()
        };
        assert_eq!(
            bypass.to_header_value(),
            "edgecache; fwd=bypass; detail=cookie"
        );
        assert_eq!(CacheStatus::default().to_header_value(), "edgecache");
    }

    #[test]
    fn all_params_and_quoting() {
        let s = CacheStatus {
            hit: false,
            fwd: Some(Fwd::Stale),
            fwd_status: Some(304),
            ttl: Some(i64::MIN),
            stored: true,
            collapsed: true,
            key: Some("https://a.example/p?q=\"x\"\\é%".into()),
            detail: Some("has space".into()),
        };
        assert_eq!(
            s.to_header_value(),
            "edgecache; fwd=stale; fwd-status=304; ttl=-999999999999999; stored; collapsed; \
             key=\"https://a.example/p?q=\\\"x\\\"\\\\%C3%A9%25\"; detail=\"has space\""
        );
    }

    const ALL_FWD: [Fwd; 8] = [
        Fwd::Bypass,
        Fwd::Method,
        Fwd::UriMiss,
        Fwd::VaryMiss,
        Fwd::Miss,
        Fwd::Request,
        Fwd::Stale,
        Fwd::Partial,
    ];

    #[test]
    fn fwd_tokens() {
        for f in ALL_FWD {
            assert!(is_sf_token(f.as_str()));
        }
    }

    fn arb_status() -> impl Strategy<Value = CacheStatus> {
        (
            any::<(bool, bool, bool)>(),
            proptest::option::of(0usize..8),
            proptest::option::of(any::<u16>()),
            proptest::option::of(any::<i64>()),
            proptest::option::of(".{0,20}"),
            proptest::option::of(".{0,20}"),
        )
            .prop_map(
                |((hit, stored, collapsed), fwd, fwd_status, ttl, key, detail)| CacheStatus {
                    hit,
                    fwd: fwd.map(|i| ALL_FWD[i]),
                    fwd_status,
                    ttl,
                    stored,
                    collapsed,
                    key,
                    detail,
                },
            )
    }

    proptest! {
        #[test]
        fn output_is_always_a_valid_sf_list(s in arb_status()) {
            let v = s.to_header_value();
            prop_assert!(v.bytes().all(|b| (0x20..=0x7e).contains(&b)), "{}", v);
            prop_assert!(http::HeaderValue::from_str(&v).is_ok());
            let list = sf::parse_list(&v);
            prop_assert!(list.is_some(), "{}", v);
            prop_assert_eq!(list.map(|l| l.len()), Some(1));
        }
    }
}
