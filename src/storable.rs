//! Storing responses in a shared cache (RFC 9111 §3), header hygiene, 304 merging and
//! invalidation (§4.4).

use crate::cache_control::{split_list, CacheControl};
use crate::freshness::heuristically_cacheable;
use crate::variance::Vary;
use http::header::{AUTHORIZATION, CONNECTION, CONTENT_LOCATION, EXPIRES, LOCATION, SET_COOKIE};
use http::{HeaderMap, HeaderName, Method};
use url::Url;

/// Why a response must not be stored (RFC 9111 §3). Feeds Cache-Status `detail` and metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NotStorable {
    /// Request method is not one we store responses for (only GET).
    Method,
    /// Status code is not final (1xx) or not a valid status code.
    Status,
    /// `206 Partial Content`: our storage keeps complete responses only.
    PartialContent,
    /// `304 Not Modified`: it updates a stored response (§4.3.4), it is never stored itself.
    NotModified,
    /// `must-understand` with a status code we do not understand (§5.2.2.3).
    MustUnderstand,
    /// Response `no-store` (§5.2.2.5).
    NoStore,
    /// Request `no-store` (§5.2.1.5).
    RequestNoStore,
    /// Unqualified `private` (§5.2.2.7): shared caches must not store it.
    Private,
    /// Request carried `Authorization` and no directive allows shared caching (§3.5).
    Authorization,
    /// `Vary: *` (§4.1): the stored response could never be reused.
    VaryStar,
    /// `Set-Cookie` in the response and the options do not allow storing it.
    SetCookie,
    /// No explicit freshness, not `public`, and heuristics are not available (§3).
    NoExplicitFreshness,
}

impl NotStorable {
    /// Short stable name for Cache-Status `detail` and metrics.
    ///
    /// Contract: lowercase, hyphenated, a valid sf-token.
    pub fn as_str(&self) -> &'static str {
        match self {
            NotStorable::Method => "method",
            NotStorable::Status => "status",
            NotStorable::PartialContent => "partial-content",
            NotStorable::NotModified => "not-modified",
            NotStorable::MustUnderstand => "must-understand",
            NotStorable::NoStore => "no-store",
            NotStorable::RequestNoStore => "request-no-store",
            NotStorable::Private => "private",
            NotStorable::Authorization => "authorization",
            NotStorable::VaryStar => "vary-star",
            NotStorable::SetCookie => "set-cookie",
            NotStorable::NoExplicitFreshness => "no-explicit-freshness",
        }
    }
}

/// Knobs for [`check_storable`]; `Default` is the strict, RFC-conformant shared-cache setting
/// with heuristics off and `Set-Cookie` responses refused.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StoreOptions {
    /// Operator asserts that responses to requests carrying `Authorization` are not
    /// user-specific, so §3.5's directive requirement is waived. Default false.
    pub authorization_public: bool,
    /// Heuristic freshness (§4.2.2) is allowed by policy: a heuristically cacheable status then
    /// suffices for storage. Default false.
    pub heuristic_allowed: bool,
    /// The route policy assigns an edge TTL itself (an operator-configured cache extension in the
    /// sense of §3 "a cache extension that allows it to be cached"), so explicit freshness is
    /// not required. Never overrides no-store, private or Authorization. Default false.
    pub policy_ttl: bool,
    /// Store responses carrying `Set-Cookie`. RFC 9111 does not forbid it (and §3.1 says caches
    /// MUST store all header fields), but a `Set-Cookie` response is usually per-user, so the
    /// safe default is to refuse unless the origin named it in `no-cache="set-cookie"` or
    /// `private="set-cookie"` (then the field is stripped and the rest is stored). Default false.
    pub store_set_cookie: bool,
    /// The directives came from a targeted field (`CDN-Cache-Control`), so `Expires` does not
    /// count as explicit freshness (RFC 9213 §2.1). Default false.
    pub cc_is_targeted: bool,
}

/// Whether this cache understands `status` (its semantics in RFC 9110 §15).
///
/// Contract: true for the status codes RFC 9110 defines (200–206, 300–305, 307, 308, 400–417,
/// 421, 422, 426, 500–505); used for `must-understand` (§5.2.2.3).
pub fn understood_status(status: u16) -> bool {
    matches!(status, 200..=206 | 300..=305 | 307 | 308 | 400..=417 | 421 | 422 | 426 | 500..=505)
}

/// Decides whether a shared cache may store a response (RFC 9111 §3).
///
/// Contract: checks, in order, method (GET only: HEAD/POST responses are not stored), final
/// status, 206/304, must-understand, response and request `no-store`, unqualified `private`,
/// `Authorization` (§3.5), `Vary: *`, `Set-Cookie` (see [`StoreOptions`]) and finally the
/// "at least one of" list: `public`, `max-age`, `s-maxage`, `Expires`, policy TTL, or a
/// heuristically cacheable status with heuristics allowed. `cc` is the governing directive set
/// (see `cache_control::edge_cache_control`); the request's own `Cache-Control` is read from
/// `req_headers`.
pub fn check_storable(
    method: &Method,
    status: u16,
    req_headers: &HeaderMap,
    resp_headers: &HeaderMap,
    cc: &CacheControl,
    opts: &StoreOptions,
) -> Result<(), NotStorable> {
    // §3: "the request method is understood by the cache".
    if method != Method::GET {
        return Err(NotStorable::Method);
    }
    // §3: "the response status code is final (see Section 15 of [HTTP])".
    if !(200..=599).contains(&status) {
        return Err(NotStorable::Status);
    }
    // §3: "if the response status code is 206 or 304, or the must-understand cache directive
    // (see Section 5.2.2.3) is present: the cache understands the response status code". We
    // understand them, but our storage does not keep partial or 304 responses.
    if status == 206 {
        return Err(NotStorable::PartialContent);
    }
    if status == 304 {
        return Err(NotStorable::NotModified);
    }
    let understood = understood_status(status);
    if cc.must_understand && !understood {
        return Err(NotStorable::MustUnderstand);
    }
    // §3: "the no-store cache directive is not present in the response". §5.2.2.3: "When a
    // cache that implements the must-understand directive receives a response that includes it,
    // the cache SHOULD ignore the no-store directive if it understands the status code."
    if cc.no_store && !(cc.must_understand && understood) {
        return Err(NotStorable::NoStore);
    }
    // §5.2.1.5: "The no-store request directive indicates that a cache MUST NOT store any part
    // of either this request or any response to it."
    if CacheControl::from_headers(req_headers, http::header::CACHE_CONTROL)
        .is_some_and(|r| r.no_store)
    {
        return Err(NotStorable::RequestNoStore);
    }
    // §3: "if the cache is shared: the private response directive is either not present or
    // allows a shared cache to store a modified response". Qualified private="f" allows it
    // (the listed fields are stripped by `strip_field_directives`).
    if cc.private {
        return Err(NotStorable::Private);
    }
    // §3.5: "A shared cache MUST NOT use a cached response to a request with an Authorization
    // header field ... unless the response contains a Cache-Control field with a response
    // directive ... that allows it to be stored by a shared cache ...: must-revalidate, public,
    // and s-maxage."
    if req_headers.contains_key(AUTHORIZATION)
        && !(cc.must_revalidate || cc.public || cc.s_maxage.is_some() || opts.authorization_public)
    {
        return Err(NotStorable::Authorization);
    }
    // §4.1: "A stored response with a Vary header field value containing a member "*" always
    // fails to match."
    if Vary::from_headers(resp_headers) == Vary::Star {
        return Err(NotStorable::VaryStar);
    }
    let cookie_stripped = [&cc.no_cache_fields, &cc.private_fields]
        .iter()
        .any(|l| l.iter().any(|f| f == "set-cookie"));
    if resp_headers.contains_key(SET_COOKIE) && !opts.store_set_cookie && !cookie_stripped {
        return Err(NotStorable::SetCookie);
    }
    // §3: "the response contains at least one of the following: a public response directive;
    // ... an Expires header field; a max-age response directive; if the cache is shared: an
    // s-maxage response directive; a cache extension that allows it to be cached; or a status
    // code that is defined as heuristically cacheable".
    let has_expires = !opts.cc_is_targeted && resp_headers.contains_key(EXPIRES);
    let explicit = cc.public || cc.max_age.is_some() || cc.s_maxage.is_some() || has_expires;
    let heuristic = opts.heuristic_allowed && heuristically_cacheable(status);
    if explicit || opts.policy_ttl || heuristic {
        Ok(())
    } else {
        Err(NotStorable::NoExplicitFreshness)
    }
}

/// What an origin status code is for a cache in the middle (RFC 9110 §15).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatusKind {
    /// 1xx other than 101 (100 Continue, 102, 103 Early Hints, unknown 1xx): an interim
    /// response. Never stored, never the answer: wait for the final response of the same
    /// exchange (RFC 9110 §15.2 "A client MUST be able to parse one or more 1xx responses
    /// received prior to a final response, even if the client does not expect one. A user agent
    /// MAY ignore unexpected 1xx responses"; RFC 9111 §3 stores final responses only).
    Interim,
    /// 101 Switching Protocols: only valid in answer to an `Upgrade` request (which edgecache
    /// never sends through the cache path: [`plan_request`](crate::decision::plan_request)
    /// bypasses them); anywhere else the origin broke the protocol (answer 502).
    SwitchingProtocols,
    /// 200–599: a final response.
    Final,
    /// Outside 100–599 (RFC 9110 §15: "Values outside the range 100..599 are invalid"):
    /// answer 502, store nothing.
    Invalid,
}

/// Classifies an origin status code (RFC 9110 §15); see [`StatusKind`].
pub fn status_kind(status: u16) -> StatusKind {
    match status {
        101 => StatusKind::SwitchingProtocols,
        100..=199 => StatusKind::Interim,
        200..=599 => StatusKind::Final,
        _ => StatusKind::Invalid,
    }
}

/// Fields that are hop-by-hop (RFC 9110 §7.6.1) or specific to a proxy (RFC 9111 §3.1), never
/// stored.
pub static HOP_BY_HOP: [HeaderName; 10] = [
    HeaderName::from_static("connection"),
    HeaderName::from_static("keep-alive"),
    HeaderName::from_static("proxy-connection"),
    HeaderName::from_static("te"),
    HeaderName::from_static("transfer-encoding"),
    HeaderName::from_static("upgrade"),
    HeaderName::from_static("proxy-authenticate"),
    HeaderName::from_static("proxy-authentication-info"),
    HeaderName::from_static("proxy-authorization"),
    HeaderName::from_static("trailer"),
];

/// Names listed in the `Connection` header(s), lowercase (invalid names skipped).
fn connection_listed(headers: &HeaderMap) -> Vec<HeaderName> {
    headers
        .get_all(CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(split_list)
        .filter_map(|n| HeaderName::from_bytes(n.as_bytes()).ok())
        .collect()
}

/// Removes hop-by-hop and proxy-specific header fields before storage or forwarding.
///
/// Contract: removes Connection, Keep-Alive, Proxy-Connection, TE, Transfer-Encoding, Upgrade,
/// Proxy-Authenticate, Proxy-Authentication-Info, Proxy-Authorization, Trailer and every field
/// named in `Connection`. RFC 9110 §7.6.1: "a proxy or gateway MUST parse a received Connection
/// header field before a message is forwarded and, for each connection-option in this field,
/// remove any header or trailer field(s) from the message with the same name"; RFC 9111 §3.1:
/// "Header fields that are specific to the proxy that a cache uses when forwarding a request MUST
/// NOT be stored". Call it before parsing `Cache-Control` so a listed field cannot steer caching.
pub fn strip_hop_by_hop(headers: &mut HeaderMap) {
    for name in connection_listed(headers) {
        headers.remove(name);
    }
    for name in &HOP_BY_HOP {
        headers.remove(name);
    }
}

/// Removes the fields named by qualified `no-cache="…"` and `private="…"` directives.
///
/// Contract: §5.2.2.4 "any header fields in the response that have the field name(s) listed MUST
/// NOT be sent in the response to a subsequent request without successful revalidation";
/// §5.2.2.7 "a shared cache MUST NOT store the listed header fields". The edge never stores them,
/// which satisfies both.
pub fn strip_field_directives(headers: &mut HeaderMap, cc: &CacheControl) {
    for name in cc.no_cache_fields.iter().chain(&cc.private_fields) {
        if let Ok(name) = HeaderName::from_bytes(name.as_bytes()) {
            headers.remove(name);
        }
    }
}

/// Prepares response headers for storage: [`strip_hop_by_hop`] then [`strip_field_directives`]
/// with the given directives.
pub fn prepare_for_storage(headers: &mut HeaderMap, cc: &CacheControl) {
    strip_hop_by_hop(headers);
    strip_field_directives(headers, cc);
}

/// Fields a 304 must not overwrite in the stored response (RFC 9111 §3.2), beyond hop-by-hop.
///
/// - `Content-Length`: §3.2 lists it explicitly ("The Content-Length header field").
/// - `Content-Encoding`: "Header fields that the cache's stored response depends upon": the
///   edge stores the body in the encoding it received it in; a different value would mislabel it.
/// - `Content-Range`: "some fields are automatically processed and removed by the HTTP
///   implementation, such as the Content-Range header field; implementations MAY exclude them".
pub static NOT_UPDATED_BY_304: [HeaderName; 3] = [
    HeaderName::from_static("content-length"),
    HeaderName::from_static("content-encoding"),
    HeaderName::from_static("content-range"),
];

/// Freshens a stored response's headers with a 304's (RFC 9111 §3.2, §4.3.4).
///
/// Contract: §3.2 "the cache MUST add each header field in the provided response to the stored
/// response, replacing field values that are already present" (all stored lines of a name are
/// replaced by all the 304's lines of that name), except the fields excepted from storage in §3.1
/// ([`HOP_BY_HOP`] and names listed in the 304's `Connection`) and [`NOT_UPDATED_BY_304`].
/// Afterwards the merged `Cache-Control`'s `no-cache="…"`/`private="…"` fields are stripped.
/// Callers should then recompute age from the merged `Date`/`Age` and the new response time.
pub fn merge_304_headers(stored: &mut HeaderMap, fresh_304: &HeaderMap) {
    let listed = connection_listed(fresh_304);
    let skip = |name: &HeaderName| {
        HOP_BY_HOP.contains(name) || NOT_UPDATED_BY_304.contains(name) || listed.contains(name)
    };
    for name in fresh_304.keys() {
        if skip(name) {
            continue;
        }
        stored.remove(name);
        for value in fresh_304.get_all(name) {
            stored.append(name.clone(), value.clone());
        }
    }
    if let Some(cc) = CacheControl::from_headers(stored, http::header::CACHE_CONTROL) {
        strip_field_directives(stored, &cc);
    }
}

/// URLs a shared cache must (or may) invalidate after a response to `method` (RFC 9111 §4.4).
///
/// Contract: empty unless `method` is unsafe (anything but GET, HEAD, OPTIONS, TRACE: §4.4
/// "including methods whose safety is unknown") and `status` is non-error (2xx or 3xx). Then the
/// target URI first, followed by `Location` and `Content-Location` resolved against it, each kept
/// only when its origin equals the target's ("a cache MUST NOT trigger an invalidation under these
/// conditions if the origin ... of the URI to be invalidated differs from that of the target
/// URI"). Fragments are removed; duplicates are dropped.
pub fn invalidation_targets(
    method: &Method,
    status: u16,
    request_url: &Url,
    resp_headers: &HeaderMap,
) -> Vec<Url> {
    // §4.4: "A cache MUST invalidate the target URI ... when it receives a non-error status code
    // in response to an unsafe request method". "A "non-error response" is one with a 2xx
    // (Successful) or 3xx (Redirection) status code."
    if method.is_safe() || !(200..=399).contains(&status) {
        return Vec::new();
    }
    let mut target = request_url.clone();
    target.set_fragment(None);
    let mut out = vec![target.clone()];
    // §4.4: "the URI(s) in the Location and Content-Location response header fields (if
    // present) are candidates for invalidation".
    for name in [LOCATION, CONTENT_LOCATION] {
        let Some(value) = resp_headers.get(name).and_then(|v| v.to_str().ok()) else {
            continue;
        };
        if !crate::key::plain_authority(value) {
            continue;
        }
        let Ok(mut url) = target.join(value.trim()) else {
            continue;
        };
        url.set_fragment(None);
        if url.origin() == target.origin() && !out.contains(&url) {
            out.push(url);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::test_util::hm;

    fn check(status: u16, req: &[(&str, &str)], resp: &[(&str, &str)]) -> Result<(), NotStorable> {
        let resp = hm(resp);
        let cc = CacheControl::from_headers(&resp, "cache-control").unwrap_or_default();
        check_storable(
            &Method::GET,
            status,
            &hm(req),
            &resp,
            &cc,
            &StoreOptions::default(),
        )
    }

    #[test]
    fn basic_storable() {
        assert_eq!(check(200, &[], &[("cache-control", "max-age=60")]), Ok(()));
        assert_eq!(check(200, &[], &[("cache-control", "public")]), Ok(()));
        assert_eq!(
            check(200, &[], &[("expires", "Sun, 06 Nov 1994 08:49:37 GMT")]),
            Ok(())
        );
        assert_eq!(check(200, &[], &[]), Err(NotStorable::NoExplicitFreshness));
    }

    #[test]
    fn refusals() {
        type Case<'a> = (
            u16,
            &'a [(&'a str, &'a str)],
            &'a [(&'a str, &'a str)],
            NotStorable,
        );
        let cases: &[Case] = &[
            (
                100,
                &[],
                &[("cache-control", "max-age=6")],
                NotStorable::Status,
            ),
            (
                206,
                &[],
                &[("cache-control", "max-age=6")],
                NotStorable::PartialContent,
            ),
            (
                304,
                &[],
                &[("cache-control", "max-age=6")],
                NotStorable::NotModified,
            ),
            (
                200,
                &[],
                &[("cache-control", "max-age=6, no-store")],
                NotStorable::NoStore,
            ),
            (
                200,
                &[("cache-control", "no-store")],
                &[("cache-control", "max-age=6")],
                NotStorable::RequestNoStore,
            ),
            (
                200,
                &[],
                &[("cache-control", "max-age=6, private")],
                NotStorable::Private,
            ),
            (
                200,
                &[("authorization", "x")],
                &[("cache-control", "max-age=6")],
                NotStorable::Authorization,
            ),
            (
                200,
                &[],
                &[("cache-control", "max-age=6"), ("vary", "a, *")],
                NotStorable::VaryStar,
            ),
            (
                200,
                &[],
                &[("cache-control", "max-age=6"), ("set-cookie", "a=b")],
                NotStorable::SetCookie,
            ),
            (
                299,
                &[],
                &[("cache-control", "max-age=6, must-understand, no-store")],
                NotStorable::MustUnderstand,
            ),
        ];
        for (status, req, resp, want) in cases {
            assert_eq!(check(*status, req, resp), Err(*want), "{status} {resp:?}");
            assert!(!want.as_str().is_empty());
        }
    }

    #[test]
    fn must_understand_overrides_no_store_for_known_status() {
        let r = check(
            200,
            &[],
            &[("cache-control", "max-age=6, must-understand, no-store")],
        );
        assert_eq!(r, Ok(()));
    }

    #[test]
    fn method_must_be_get() {
        let r = check_storable(
            &Method::HEAD,
            200,
            &HeaderMap::new(),
            &HeaderMap::new(),
            &CacheControl::parse("max-age=6"),
            &StoreOptions::default(),
        );
        assert_eq!(r, Err(NotStorable::Method));
    }

    #[test]
    fn hop_by_hop() {
        let mut h = hm(&[
            ("connection", "a, B"),
            ("a", "1"),
            ("b", "2"),
            ("c", "3"),
            ("keep-alive", "x"),
            ("proxy-authenticate", "x"),
            ("te", "x"),
        ]);
        strip_hop_by_hop(&mut h);
        assert_eq!(h.len(), 1);
        assert_eq!(h["c"], "3");
    }
}
