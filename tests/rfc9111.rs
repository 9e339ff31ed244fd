//! RFC 9111 scenarios through the public API, with a fixed clock. Ported in spirit from the
//! http-tests/cache-tests suite (freshness, cc-parse, expires-parse, age-parse, authorization,
//! headers, update304, vary, invalidation, cdn-cache-control).

use edgecache::cache_control::{
    cdn_cache_control, edge_cache_control, CacheControl, CcSource, MaxStale,
};
use edgecache::freshness::{
    current_age, edge_freshness_lifetime, format_http_date, freshness_lifetime, heuristic_lifetime,
    heuristically_cacheable, initial_age, is_fresh, parse_http_date, ttl,
};
use edgecache::status::{CacheStatus, Fwd};
use edgecache::storable::{
    check_storable, invalidation_targets, merge_304_headers, prepare_for_storage, strip_hop_by_hop,
    NotStorable, StoreOptions,
};
use edgecache::variance::{capture, matches, Vary};
use http::{HeaderMap, HeaderName, HeaderValue, Method};
use url::Url;

mod common;

/// Fixed "now": Wed, 01 Jan 2025 00:00:00 GMT.
const NOW: u64 = 1_735_689_600;

fn hm(pairs: &[(&str, String)]) -> HeaderMap {
    let mut h = HeaderMap::new();
    for (k, v) in pairs {
        h.append(
            HeaderName::from_bytes(k.as_bytes()).unwrap(),
            HeaderValue::from_str(v).unwrap(),
        );
    }
    h
}

/// Date relative to NOW, as cache-tests writes `['Date', 0]`.
fn at(offset: i64) -> String {
    format_http_date(NOW.checked_add_signed(offset).unwrap())
}

fn s(v: &str) -> String {
    v.to_string()
}

/// Simulates: request sent at NOW, response received at NOW, then asked at NOW + `later`.
/// Returns whether the stored response is fresh at that point (edge directives).
fn fresh_after(resp: &HeaderMap, later: u64) -> bool {
    let edge = edge_cache_control(resp);
    let lifetime = edge_freshness_lifetime(&edge, resp, NOW).unwrap_or(0);
    let age = current_age(initial_age(resp, NOW, NOW), NOW, NOW + later);
    is_fresh(lifetime, age) && !edge.cc.no_cache
}

fn storable(req: &HeaderMap, resp: &HeaderMap, status: u16) -> Result<(), NotStorable> {
    let edge = edge_cache_control(resp);
    let opts = StoreOptions {
        cc_is_targeted: matches!(edge.source, CcSource::Targeted(_)),
        ..StoreOptions::default()
    };
    check_storable(&Method::GET, status, req, resp, &edge.cc, &opts)
}

// ---------------------------------------------------------------- freshness (§4.2.1)

#[test]
fn max_age_fresh_then_stale() {
    let r = hm(&[("date", at(0)), ("cache-control", s("max-age=100"))]);
    assert!(fresh_after(&r, 99));
    assert!(!fresh_after(&r, 100));
}

#[test]
fn s_maxage_beats_max_age() {
    let r = hm(&[("cache-control", s("max-age=1, s-maxage=3600"))]);
    let cc = CacheControl::from_headers(&r, "cache-control").unwrap();
    assert_eq!(freshness_lifetime(&cc, &r, NOW), Some(3600));
    let r = hm(&[("cache-control", s("s-maxage=1, max-age=3600"))]);
    assert!(!fresh_after(&r, 2));
}

#[test]
fn max_age_beats_expires() {
    let r = hm(&[
        ("date", at(0)),
        ("expires", at(10_000)),
        ("cache-control", s("max-age=1")),
    ]);
    assert!(!fresh_after(&r, 2));
    let r = hm(&[
        ("date", at(0)),
        ("expires", at(-10_000)),
        ("cache-control", s("max-age=3600")),
    ]);
    assert!(fresh_after(&r, 60));
}

#[test]
fn expires_minus_date() {
    let r = hm(&[("date", at(0)), ("expires", at(3600))]);
    assert_eq!(
        freshness_lifetime(&CacheControl::default(), &r, NOW),
        Some(3600)
    );
    assert!(fresh_after(&r, 3599));
    assert!(!fresh_after(&r, 3600));
}

#[test]
fn expires_relative_to_date_not_clock() {
    // Date says the origin's clock is 1000s behind; lifetime is still Expires − Date.
    let r = hm(&[("date", at(-1000)), ("expires", at(0))]);
    assert_eq!(
        freshness_lifetime(&CacheControl::default(), &r, NOW),
        Some(1000)
    );
    // ...but the apparent age (1000s) uses it all up.
    assert!(!fresh_after(&r, 0));
}

#[test]
fn expires_without_date_uses_response_time() {
    let r = hm(&[("expires", at(600))]);
    assert_eq!(
        freshness_lifetime(&CacheControl::default(), &r, NOW),
        Some(600)
    );
}

#[test]
fn invalid_expires_is_already_expired() {
    for bad in [
        "0",
        "-1",
        "garbage",
        "Thu, 18 Aug 2050 02:01:18 UTC",
        "Thu, 18 Aug 50 02:01:18 GMT",
    ] {
        let r = hm(&[("date", at(0)), ("expires", s(bad))]);
        assert_eq!(
            freshness_lifetime(&CacheControl::default(), &r, NOW),
            Some(0),
            "{bad}"
        );
        assert_eq!(storable(&HeaderMap::new(), &r, 200), Ok(()), "{bad}");
        assert!(!fresh_after(&r, 0));
    }
}

#[test]
fn multiple_expires_lines_are_stale() {
    let r = hm(&[
        ("date", at(0)),
        ("expires", at(3600)),
        ("expires", at(3601)),
    ]);
    assert!(!fresh_after(&r, 0));
}

#[test]
fn expires_far_future_formats() {
    for e in [
        "Tue, 19 Jan 2038 14:14:08 GMT",
        "Sun, 21 Nov 2286 04:46:39 GMT",
        "Thursday, 18-Aug-50 02:01:18 GMT",
        "Thu Aug  8 02:01:18 2050",
        "THU, 18 AUG 2050 02:01:18 gmt",
    ] {
        let r = hm(&[("date", at(0)), ("expires", s(e))]);
        assert!(fresh_after(&r, 10), "{e}");
    }
}

#[test]
fn no_explicit_freshness() {
    let r = hm(&[("date", at(0))]);
    assert_eq!(freshness_lifetime(&CacheControl::default(), &r, NOW), None);
    assert_eq!(
        storable(&HeaderMap::new(), &r, 200),
        Err(NotStorable::NoExplicitFreshness)
    );
}

#[test]
fn max_age_zero_is_storable_but_stale() {
    let r = hm(&[("cache-control", s("max-age=0"))]);
    assert_eq!(storable(&HeaderMap::new(), &r, 200), Ok(()));
    assert!(!fresh_after(&r, 0));
}

// ---------------------------------------------------------------- Cache-Control parsing

#[test]
fn cc_parse_cases() {
    let lifetime = |v: &str| CacheControl::parse(v).max_age;
    assert_eq!(lifetime("max-age=1800, max-age=1"), Some(1800));
    assert_eq!(lifetime(r#"max-age="3600""#), Some(3600));
    assert_eq!(lifetime(r#"extension="max-age=3600", max-age=1"#), Some(1));
    assert_eq!(lifetime(r#"max-age=1, extension="max-age=3600""#), Some(1));
    assert_eq!(lifetime("max-age =3600"), None);
    assert_eq!(lifetime("max-age= 3600"), Some(0));
    assert_eq!(lifetime("max-age=003600"), Some(3600));
    assert_eq!(lifetime("max-age='3600'"), Some(0));
    assert_eq!(lifetime("max-age=3600.0"), Some(0));
    assert_eq!(lifetime("max-age=a3600"), Some(0));
    assert_eq!(lifetime("max-age=3600a"), Some(0));
    assert_eq!(lifetime("MAX-AGE=5"), Some(5));
}

#[test]
fn cc_separate_lines_first_wins() {
    let r = hm(&[
        ("cache-control", s("max-age=1800")),
        ("cache-control", s("max-age=1")),
    ]);
    assert!(fresh_after(&r, 10));
}

#[test]
fn huge_max_age_capped() {
    let r = hm(&[("cache-control", s("max-age=99999999999999999999"))]);
    assert!(fresh_after(&r, 1_000_000_000));
}

#[test]
fn request_directives_parse() {
    let cc = CacheControl::parse("max-age=0, max-stale, min-fresh=5, only-if-cached");
    assert_eq!(cc.max_age, Some(0));
    assert_eq!(cc.max_stale, Some(MaxStale::Any));
    assert_eq!(cc.min_fresh, Some(5));
    assert!(cc.only_if_cached);
}

#[test]
fn stale_extensions_parse() {
    let cc = CacheControl::parse("max-age=60, stale-while-revalidate=30, stale-if-error=600");
    assert_eq!(cc.stale_while_revalidate, Some(30));
    assert_eq!(cc.stale_if_error, Some(600));
    assert_eq!(
        CacheControl::parse("stale-while-revalidate=x").stale_while_revalidate,
        None
    );
}

#[test]
fn browser_rewrite_round_trip() {
    let cc = CacheControl {
        public: true,
        max_age: Some(60),
        stale_while_revalidate: Some(30),
        ..CacheControl::default()
    };
    let v = cc.to_header_value();
    assert_eq!(v, "public, max-age=60, stale-while-revalidate=30");
    assert_eq!(CacheControl::parse(&v), cc);
}

// ---------------------------------------------------------------- age (§4.2.3)

#[test]
fn age_header_counts() {
    let r = hm(&[
        ("date", at(0)),
        ("cache-control", s("max-age=3600")),
        ("age", s("7200")),
    ]);
    assert!(!fresh_after(&r, 0));
    let r = hm(&[
        ("date", at(0)),
        ("cache-control", s("max-age=3600")),
        ("age", s("1800")),
    ]);
    assert!(fresh_after(&r, 1799));
    assert!(!fresh_after(&r, 1800));
}

#[test]
fn age_parse_cases() {
    let fresh = |ages: &[&str]| {
        let mut pairs = vec![("date", at(0)), ("cache-control", s("max-age=3600"))];
        pairs.extend(ages.iter().map(|a| ("age", s(a))));
        fresh_after(&hm(&pairs), 10)
    };
    assert!(fresh(&["abc"]));
    assert!(fresh(&["-7200"]));
    assert!(fresh(&["7200.0"]));
    assert!(!fresh(&["2147483647"]));
    assert!(!fresh(&["2147483648"]));
    assert!(!fresh(&["2147483649"]));
    assert!(!fresh(&["7200, 0"]));
    assert!(fresh(&["0, 7200"]));
    assert!(!fresh(&["7200", "0"]));
    assert!(fresh(&["0", "7200"]));
    assert!(fresh(&["0, 0"]));
    assert!(!fresh(&["7200;foo=bar"]));
}

#[test]
fn response_delay_and_apparent_age() {
    // Request sent at NOW-10, response received at NOW; Date = NOW-30, Age = 5.
    let r = hm(&[("date", at(-30)), ("age", s("5"))]);
    // apparent_age = 30, corrected_age_value = 5 + 10 = 15 → 30.
    assert_eq!(initial_age(&r, NOW - 10, NOW), 30);
    let r = hm(&[("date", at(0)), ("age", s("5"))]);
    assert_eq!(initial_age(&r, NOW - 10, NOW), 15);
    assert_eq!(current_age(15, NOW, NOW + 100), 115);
    assert_eq!(ttl(100, 115), -15);
}

#[test]
fn date_in_future_gives_zero_apparent_age() {
    let r = hm(&[("date", at(500)), ("cache-control", s("max-age=10"))]);
    assert_eq!(initial_age(&r, NOW, NOW), 0);
    assert!(fresh_after(&r, 5));
}

// ---------------------------------------------------------------- heuristics (§4.2.2)

#[test]
fn heuristic_ten_percent_capped() {
    let r = hm(&[("date", at(0)), ("last-modified", at(-10_000))]);
    assert_eq!(heuristic_lifetime(&r, NOW), Some(1000));
    let r = hm(&[("date", at(0)), ("last-modified", at(-100_000_000))]);
    assert_eq!(heuristic_lifetime(&r, NOW), Some(86_400));
    let r = hm(&[("last-modified", at(-10_000))]);
    assert_eq!(heuristic_lifetime(&r, NOW), Some(1000));
}

#[test]
fn heuristic_status_list() {
    let listed = [200, 203, 204, 206, 300, 301, 308, 404, 405, 410, 414, 501];
    for code in 100..600 {
        assert_eq!(
            heuristically_cacheable(code),
            listed.contains(&code),
            "{code}"
        );
    }
}

#[test]
fn heuristic_storage_needs_policy_and_status() {
    let r = hm(&[("date", at(0)), ("last-modified", at(-10_000))]);
    let req = HeaderMap::new();
    let cc = CacheControl::default();
    let on = StoreOptions {
        heuristic_allowed: true,
        ..Default::default()
    };
    assert_eq!(
        check_storable(&Method::GET, 200, &req, &r, &cc, &on),
        Ok(())
    );
    assert_eq!(
        check_storable(&Method::GET, 302, &req, &r, &cc, &on),
        Err(NotStorable::NoExplicitFreshness)
    );
    assert_eq!(
        check_storable(&Method::GET, 200, &req, &r, &cc, &StoreOptions::default()),
        Err(NotStorable::NoExplicitFreshness)
    );
    let policy = StoreOptions {
        policy_ttl: true,
        ..Default::default()
    };
    assert_eq!(
        check_storable(&Method::GET, 302, &req, &r, &cc, &policy),
        Ok(())
    );
}

// ---------------------------------------------------------------- storing (§3, §3.5)

#[test]
fn no_store_any_case() {
    for v in ["no-store", "No-StOrE", "max-age=10000, no-store"] {
        let r = hm(&[
            ("cache-control", s(v)),
            ("expires", at(10_000)),
            ("date", at(0)),
        ]);
        assert_eq!(
            storable(&HeaderMap::new(), &r, 200),
            Err(NotStorable::NoStore)
        );
    }
}

#[test]
fn request_no_store() {
    let req = hm(&[("cache-control", s("no-store"))]);
    let r = hm(&[("cache-control", s("max-age=60"))]);
    assert_eq!(storable(&req, &r, 200), Err(NotStorable::RequestNoStore));
}

#[test]
fn private_not_stored_by_shared_cache() {
    let r = hm(&[("cache-control", s("private, max-age=3600"))]);
    assert_eq!(
        storable(&HeaderMap::new(), &r, 200),
        Err(NotStorable::Private)
    );
}

#[test]
fn qualified_private_stores_without_fields() {
    let mut r = hm(&[
        ("cache-control", s(r#"private="x-user", max-age=3600"#)),
        ("x-user", s("alice")),
        ("x-other", s("1")),
    ]);
    assert_eq!(storable(&HeaderMap::new(), &r, 200), Ok(()));
    let cc = CacheControl::from_headers(&r, "cache-control").unwrap();
    prepare_for_storage(&mut r, &cc);
    assert!(!r.contains_key("x-user"));
    assert!(r.contains_key("x-other"));
}

#[test]
fn no_cache_stored_but_never_fresh() {
    let r = hm(&[
        ("cache-control", s("max-age=10000, No-CaChE")),
        ("expires", at(10_000)),
        ("date", at(0)),
    ]);
    assert_eq!(storable(&HeaderMap::new(), &r, 200), Ok(()));
    assert!(!fresh_after(&r, 0));
}

#[test]
fn no_cache_fields_are_stripped() {
    let mut r = hm(&[
        ("cache-control", s(r#"no-cache="a, b", max-age=3600"#)),
        ("a", s("1")),
        ("b", s("2")),
        ("c", s("3")),
    ]);
    let cc = CacheControl::from_headers(&r, "cache-control").unwrap();
    assert!(!cc.no_cache);
    prepare_for_storage(&mut r, &cc);
    assert!(!r.contains_key("a") && !r.contains_key("b"));
    assert_eq!(r["c"], "3");
    assert!(fresh_after(&r, 10));
}

#[test]
fn must_revalidate_and_immutable_parse() {
    let cc = CacheControl::parse("max-age=2, must-revalidate, proxy-revalidate, immutable");
    assert!(cc.must_revalidate && cc.proxy_revalidate && cc.immutable);
    let r = hm(&[("cache-control", s("max-age=2, immutable"))]);
    assert!(fresh_after(&r, 1));
    assert!(!fresh_after(&r, 3));
}

#[test]
fn authorization_rules() {
    let req = hm(&[("authorization", s("FOO"))]);
    let cases = [
        ("max-age=3600", Err(NotStorable::Authorization)),
        ("max-age=3600, public", Ok(())),
        ("max-age=3600, must-revalidate", Ok(())),
        ("s-maxage=3600", Ok(())),
        (
            "max-age=3600, proxy-revalidate",
            Err(NotStorable::Authorization),
        ),
    ];
    for (cc, want) in cases {
        let r = hm(&[("cache-control", s(cc)), ("date", at(0))]);
        assert_eq!(storable(&req, &r, 200), want, "{cc}");
    }
    let r = hm(&[("cache-control", s("max-age=3600"))]);
    let cc = CacheControl::from_headers(&r, "cache-control").unwrap();
    let opts = StoreOptions {
        authorization_public: true,
        ..Default::default()
    };
    assert_eq!(
        check_storable(&Method::GET, 200, &req, &r, &cc, &opts),
        Ok(())
    );
}

#[test]
fn public_alone_is_enough() {
    let r = hm(&[("cache-control", s("public"))]);
    assert_eq!(storable(&HeaderMap::new(), &r, 200), Ok(()));
}

#[test]
fn statuses() {
    let r = hm(&[("cache-control", s("max-age=60"))]);
    let req = HeaderMap::new();
    for code in [200, 203, 204, 301, 302, 307, 404, 410, 500, 503, 599] {
        assert_eq!(storable(&req, &r, code), Ok(()), "{code}");
    }
    assert_eq!(storable(&req, &r, 100), Err(NotStorable::Status));
    assert_eq!(storable(&req, &r, 600), Err(NotStorable::Status));
    assert_eq!(storable(&req, &r, 206), Err(NotStorable::PartialContent));
    assert_eq!(storable(&req, &r, 304), Err(NotStorable::NotModified));
}

#[test]
fn must_understand() {
    let r = hm(&[("cache-control", s("must-understand, no-store, max-age=60"))]);
    let req = HeaderMap::new();
    assert_eq!(storable(&req, &r, 200), Ok(()));
    assert_eq!(storable(&req, &r, 299), Err(NotStorable::MustUnderstand));
    let r = hm(&[("cache-control", s("no-store, max-age=60"))]);
    assert_eq!(storable(&req, &r, 200), Err(NotStorable::NoStore));
}

#[test]
fn methods() {
    let r = hm(&[("cache-control", s("max-age=60"))]);
    let cc = CacheControl::parse("max-age=60");
    let req = HeaderMap::new();
    for m in [Method::POST, Method::PUT, Method::HEAD, Method::DELETE] {
        assert_eq!(
            check_storable(&m, 200, &req, &r, &cc, &StoreOptions::default()),
            Err(NotStorable::Method)
        );
    }
}

#[test]
fn set_cookie_policy() {
    let r = hm(&[("cache-control", s("max-age=60")), ("set-cookie", s("a=b"))]);
    let req = HeaderMap::new();
    assert_eq!(storable(&req, &r, 200), Err(NotStorable::SetCookie));
    let cc = CacheControl::parse("max-age=60");
    let opts = StoreOptions {
        store_set_cookie: true,
        ..Default::default()
    };
    assert_eq!(
        check_storable(&Method::GET, 200, &req, &r, &cc, &opts),
        Ok(())
    );
    let r = hm(&[
        ("cache-control", s(r#"max-age=60, no-cache="Set-Cookie""#)),
        ("set-cookie", s("a=b")),
    ]);
    assert_eq!(storable(&req, &r, 200), Ok(()));
}

#[test]
fn vary_star_not_stored() {
    for v in ["*", "*, *", ", *", "Foo, *"] {
        let r = hm(&[("cache-control", s("max-age=60")), ("vary", s(v))]);
        assert_eq!(
            storable(&HeaderMap::new(), &r, 200),
            Err(NotStorable::VaryStar)
        );
    }
}

// ---------------------------------------------------------------- header storage (§3.1)

#[test]
fn hop_by_hop_and_connection_listed_removed() {
    let mut r = hm(&[
        ("connection", s("a, b")),
        ("a", s("1")),
        ("b", s("2")),
        ("c", s("3")),
        ("keep-alive", s("timeout=5")),
        ("proxy-authenticate", s("Basic")),
        ("proxy-authentication-info", s("x")),
        ("proxy-authorization", s("x")),
        ("proxy-connection", s("keep-alive")),
        ("te", s("trailers")),
        ("transfer-encoding", s("chunked")),
        ("upgrade", s("h2c")),
        ("trailer", s("x")),
        ("set-cookie", s("a=b")),
        ("content-type", s("text/plain")),
    ]);
    strip_hop_by_hop(&mut r);
    let mut names: Vec<&str> = r.keys().map(|k| k.as_str()).collect();
    names.sort();
    assert_eq!(names, ["c", "content-type", "set-cookie"]);
}

// ---------------------------------------------------------------- 304 freshening (§3.2)

#[test]
fn merge_304_updates_and_keeps() {
    let mut stored = hm(&[
        ("cache-control", s("max-age=1")),
        ("content-length", s("36")),
        ("content-encoding", s("gzip")),
        ("content-type", s("text/plain")),
        ("etag", s("\"abcdef\"")),
        ("test-header", s("A")),
        ("x-kept", s("k")),
        ("set-cookie", s("a=1")),
        ("set-cookie", s("b=1")),
        ("date", at(-100)),
    ]);
    let fresh = hm(&[
        ("cache-control", s("max-age=3600")),
        ("content-length", s("10")),
        ("content-encoding", s("br")),
        ("content-type", s("text/plain;charset=utf-8")),
        ("etag", s("\"ghijkl\"")),
        ("test-header", s("B")),
        ("set-cookie", s("c=2")),
        ("connection", s("x-hop")),
        ("x-hop", s("1")),
        ("keep-alive", s("1")),
        ("date", at(0)),
    ]);
    merge_304_headers(&mut stored, &fresh);
    assert_eq!(stored["cache-control"], "max-age=3600");
    assert_eq!(stored["content-length"], "36");
    assert_eq!(stored["content-encoding"], "gzip");
    assert_eq!(stored["content-type"], "text/plain;charset=utf-8");
    assert_eq!(stored["etag"], "\"ghijkl\"");
    assert_eq!(stored["test-header"], "B");
    assert_eq!(stored["x-kept"], "k");
    assert_eq!(stored.get_all("set-cookie").iter().count(), 1);
    assert_eq!(stored["date"], at(0).as_str());
    assert!(!stored.contains_key("x-hop"));
    assert!(!stored.contains_key("connection"));
    assert!(!stored.contains_key("keep-alive"));
    // The freshened response is now fresh for the new max-age.
    assert!(fresh_after(&stored, 60));
}

#[test]
fn merge_304_applies_new_field_directives() {
    let mut stored = hm(&[("cache-control", s("max-age=1")), ("x-secret", s("1"))]);
    let fresh = hm(&[("cache-control", s(r#"max-age=60, private="x-secret""#))]);
    merge_304_headers(&mut stored, &fresh);
    assert!(!stored.contains_key("x-secret"));
}

// ---------------------------------------------------------------- Vary (§4.1)

#[test]
fn vary_matching() {
    let resp = hm(&[("vary", s("Foo, Accept-Encoding"))]);
    let vary = Vary::from_headers(&resp);
    assert_eq!(vary, Vary::Headers(vec![s("accept-encoding"), s("foo")]));
    let req1 = hm(&[("foo", s("1")), ("accept-encoding", s("gzip"))]);
    let captured = capture(&req1, vary.names());
    assert!(matches(&captured, &req1));
    assert!(matches(&captured, &hm(&[("foo", s("1"))])));
    assert!(!matches(&captured, &hm(&[("foo", s("2"))])));
    assert!(!matches(&captured, &HeaderMap::new()));
}

#[test]
fn vary_absent_matches_absent_only() {
    let names = vec![s("foo")];
    let captured = capture(&HeaderMap::new(), &names);
    assert!(matches(&captured, &hm(&[("bar", s("1"))])));
    assert!(!matches(&captured, &hm(&[("foo", s("1"))])));
}

#[test]
fn vary_normalises_whitespace_and_lines() {
    let names = vec![s("accept-language")];
    let captured = capture(&hm(&[("accept-language", s("en, fr"))]), &names);
    assert!(matches(
        &captured,
        &hm(&[("accept-language", s("en")), ("accept-language", s("fr"))])
    ));
    assert!(matches(&captured, &hm(&[("accept-language", s("en ,fr"))])));
    assert!(!matches(
        &captured,
        &hm(&[("accept-language", s("fr, en"))])
    ));
}

#[test]
fn vary_multiple_lines_and_case() {
    let resp = hm(&[("vary", s("FOO")), ("vary", s("bar, foo"))]);
    assert_eq!(
        Vary::from_headers(&resp),
        Vary::Headers(vec![s("bar"), s("foo")])
    );
    assert_eq!(Vary::from_headers(&HeaderMap::new()), Vary::None);
}

// ---------------------------------------------------------------- invalidation (§4.4)

#[test]
fn invalidation_on_unsafe_methods() {
    let url = Url::parse("https://example.com/a/b?x=1#frag").unwrap();
    let resp = hm(&[("location", s("/c")), ("content-location", s("d"))]);
    let got = invalidation_targets(&Method::POST, 201, &url, &resp);
    let got: Vec<&str> = got.iter().map(Url::as_str).collect();
    assert_eq!(
        got,
        [
            "https://example.com/a/b?x=1",
            "https://example.com/c",
            "https://example.com/a/d"
        ]
    );
    for m in [Method::PUT, Method::DELETE, Method::PATCH] {
        assert_eq!(invalidation_targets(&m, 204, &url, &resp).len(), 3);
    }
    let unknown = Method::from_bytes(b"FROB").unwrap();
    assert_eq!(invalidation_targets(&unknown, 302, &url, &resp).len(), 3);
}

#[test]
fn no_invalidation_for_safe_methods_or_errors() {
    let url = Url::parse("https://example.com/a").unwrap();
    let resp = HeaderMap::new();
    for m in [Method::GET, Method::HEAD, Method::OPTIONS, Method::TRACE] {
        assert!(invalidation_targets(&m, 200, &url, &resp).is_empty());
    }
    for code in [400, 404, 500, 503] {
        assert!(invalidation_targets(&Method::POST, code, &url, &resp).is_empty());
    }
}

#[test]
fn invalidation_refuses_other_origins() {
    let url = Url::parse("https://example.com/a").unwrap();
    let resp = hm(&[
        ("location", s("https://evil.example/x")),
        ("content-location", s("http://example.com/a")),
    ]);
    let got = invalidation_targets(&Method::POST, 200, &url, &resp);
    assert_eq!(got, vec![url.clone()]);
    let resp = hm(&[("location", s("https://example.com:8443/x"))]);
    assert_eq!(
        invalidation_targets(&Method::POST, 200, &url, &resp).len(),
        1
    );
}

// ---------------------------------------------------------------- CDN-Cache-Control (RFC 9213)

#[test]
fn cdn_overrides_cache_control_both_ways() {
    let r = hm(&[
        ("cache-control", s("max-age=1")),
        ("cdn-cache-control", s("max-age=3600")),
    ]);
    assert!(fresh_after(&r, 60));
    let r = hm(&[
        ("cache-control", s("max-age=3600")),
        ("cdn-cache-control", s("max-age=1")),
    ]);
    assert!(!fresh_after(&r, 2));
}

#[test]
fn cdn_ignores_expires() {
    let r = hm(&[
        ("cdn-cache-control", s("max-age=3600")),
        ("expires", at(-10_000)),
        ("date", at(0)),
    ]);
    assert!(fresh_after(&r, 60));
    let r = hm(&[
        ("cdn-cache-control", s("max-age=0")),
        ("expires", at(10_000)),
        ("date", at(0)),
    ]);
    assert!(!fresh_after(&r, 0));
    // Expires alone does not make a targeted response storable.
    let r = hm(&[
        ("cdn-cache-control", s("must-revalidate")),
        ("expires", at(10_000)),
    ]);
    assert_eq!(
        storable(&HeaderMap::new(), &r, 200),
        Err(NotStorable::NoExplicitFreshness)
    );
}

#[test]
fn cdn_restrictive_directives_win() {
    let base = [
        ("cache-control", s("max-age=10000")),
        ("expires", at(10_000)),
        ("date", at(0)),
    ];
    let with = |v: &str| {
        let mut pairs = base.to_vec();
        pairs.push(("cdn-cache-control", s(v)));
        hm(&pairs)
    };
    let req = HeaderMap::new();
    assert_eq!(
        storable(&req, &with("private"), 200),
        Err(NotStorable::Private)
    );
    assert_eq!(
        storable(&req, &with("no-store"), 200),
        Err(NotStorable::NoStore)
    );
    assert!(!fresh_after(&with("no-cache"), 0));
}

#[test]
fn cdn_allows_storage_despite_cache_control_no_store() {
    let r = hm(&[
        ("cache-control", s("no-store")),
        ("cdn-cache-control", s("max-age=10000")),
    ]);
    assert_eq!(storable(&HeaderMap::new(), &r, 200), Ok(()));
    assert!(fresh_after(&r, 100));
}

#[test]
fn cdn_invalid_field_is_ignored() {
    for v in ["max-age=10000, &&&&&", r#"max-age="10000""#] {
        let r = hm(&[
            ("cdn-cache-control", s(v)),
            ("cache-control", s("no-store")),
        ]);
        assert_eq!(cdn_cache_control(&r), None, "{v}");
        assert_eq!(
            storable(&HeaderMap::new(), &r, 200),
            Err(NotStorable::NoStore)
        );
    }
}

#[test]
fn cdn_age_and_large_values() {
    let r = hm(&[
        ("date", at(0)),
        ("cdn-cache-control", s("max-age=3600")),
        ("age", s("7200")),
    ]);
    assert!(!fresh_after(&r, 0));
    for v in [
        "max-age=2147483648",
        "max-age=99999999999",
        "foobar, max-age=3600",
    ] {
        let r = hm(&[("cdn-cache-control", s(v))]);
        assert!(fresh_after(&r, 60), "{v}");
    }
}

#[test]
fn cloudflare_targeted_field_has_priority() {
    let r = hm(&[
        ("cdn-cache-control", s("max-age=3600")),
        ("cloudflare-cdn-cache-control", s("no-store")),
    ]);
    let edge = edge_cache_control(&r);
    assert_eq!(
        edge.source,
        CcSource::Targeted("cloudflare-cdn-cache-control")
    );
    assert!(edge.cc.no_store);
}

// ---------------------------------------------------------------- dates and Cache-Status

#[test]
fn http_dates() {
    assert_eq!(format_http_date(NOW), "Wed, 01 Jan 2025 00:00:00 GMT");
    assert_eq!(parse_http_date("Wed, 01 Jan 2025 00:00:00 GMT"), Some(NOW));
    assert_eq!(
        parse_http_date("Wednesday, 01-Jan-25 00:00:00 GMT"),
        Some(NOW)
    );
    assert_eq!(parse_http_date("Wed Jan  1 00:00:00 2025"), Some(NOW));
}

#[test]
fn cache_status_for_scenarios() {
    let r = hm(&[("date", at(0)), ("cache-control", s("max-age=60"))]);
    let cc = CacheControl::from_headers(&r, "cache-control").unwrap();
    let lifetime = freshness_lifetime(&cc, &r, NOW).unwrap();
    let age = current_age(initial_age(&r, NOW, NOW), NOW, NOW + 72);
    let status = CacheStatus {
        hit: true,
        ttl: Some(ttl(lifetime, age)),
        detail: Some(s("stale-while-revalidate")),
        ..Default::default()
    };
    assert_eq!(
        status.to_header_value(),
        "edgecache; hit; ttl=-12; detail=stale-while-revalidate"
    );
    let not_stored = storable(&hm(&[("authorization", s("x"))]), &r, 200).unwrap_err();
    let status = CacheStatus {
        fwd: Some(Fwd::UriMiss),
        fwd_status: Some(200),
        detail: Some(not_stored.as_str().to_string()),
        ..Default::default()
    };
    assert_eq!(
        status.to_header_value(),
        "edgecache; fwd=uri-miss; fwd-status=200; detail=authorization"
    );
}

// ================================================================ issue 15: the respect-mode
// shared cache, section by section. Each test names its section; they run the core functions
// the lifecycle calls, in the order it calls them, with a fixed clock.

mod respect_mode {
    use super::{at, hm, s, NOW};
    use edgecache::conditional::{
        evaluate, freshen_selects, head_update, HeadUpdate, Precondition,
    };
    use edgecache::decision::{
        classify_method, client_headers, invalidations, miss_origin_headers,
        only_if_cached_gateway_timeout, plan_hit, plan_request, plan_store, revalidation_headers,
        CachePlan, DontStore, HitPlan, MethodClass, OriginResponse, PurgeState, RequestDirectives,
        RequestPlan, Store,
    };
    use edgecache::meta::{restore_stored, stored_headers, EntryMeta, META_HEADER};
    use edgecache::policy::Policy;
    use edgecache::range::{plan_range, RangePlan};
    use edgecache::status::CacheStatus;
    use edgecache::storable::{merge_304_headers, status_kind, NotStorable, StatusKind};
    use http::{HeaderMap, HeaderValue, Method};
    use url::Url;

    /// Only `origin_cache_control = "respect"`: a plain RFC 9111 shared cache.
    const RESPECT: &str = "[defaults]\norigin_cache_control = \"respect\"\n";
    /// The same, storing a copy without `Set-Cookie` and with heuristics.
    const RESPECT_STRIP: &str = "[defaults]\norigin_cache_control = \"respect\"\nset_cookie = \"strip\"\nheuristic_freshness = true\n";
    const URL: &str = "https://example.com/page";

    fn policy(src: &str) -> Policy {
        Policy::from_toml_str(src, "test.toml").unwrap().policy
    }

    fn plan<'p>(p: &'p Policy, req: &HeaderMap) -> CachePlan<'p> {
        match plan_request(p, &Method::GET, &Url::parse(URL).unwrap(), req) {
            RequestPlan::Cache(c) => *c,
            RequestPlan::Bypass { reason, .. } => panic!("bypass {reason:?}"),
        }
    }

    fn store(
        src: &str,
        req: &HeaderMap,
        status: u16,
        resp: &HeaderMap,
    ) -> Result<Store, DontStore> {
        let p = policy(src);
        let plan = plan(&p, req);
        let o = OriginResponse {
            status,
            headers: resp,
            request_time: NOW,
            response_time: NOW,
            now_ms: NOW * 1000,
            fetch_ms: 10,
        };
        plan_store(&plan, req, &o, 0.5)
    }

    /// What the Cache API gives back on `match` for what was `put`: the same fields, plus its
    /// own `CF-Cache-Status`. Returns the headers and the decoded metadata.
    fn put_then_match(put: &HeaderMap) -> (HeaderMap, EntryMeta) {
        let mut got = put.clone();
        got.insert("cf-cache-status", HeaderValue::from_static("HIT"));
        let meta = EntryMeta::decode(got[META_HEADER].to_str().unwrap()).expect("meta decodes");
        (got, meta)
    }

    /// Stores `resp` and reads it back as a hit would start from.
    fn round_trip(
        src: &str,
        req: &HeaderMap,
        resp: &HeaderMap,
    ) -> (HeaderMap, HeaderMap, EntryMeta) {
        let st = store(src, req, 200, resp).unwrap_or_else(|e| panic!("not stored: {e:?}"));
        let put = stored_headers(&st.headers, &st.meta, 3600);
        let (got, meta) = put_then_match(&put);
        (put, restore_stored(&got, &meta), meta)
    }

    fn lines(h: &HeaderMap, name: &str) -> Vec<Vec<u8>> {
        h.get_all(name)
            .iter()
            .map(|v| v.as_bytes().to_vec())
            .collect()
    }

    // ------------------------------------------------------------ §3.1 storing header fields

    /// §3.1 "Caches MUST include all received response header fields ... in the stored
    /// response", and §4 a hit is "the stored response": `Expires` (the issue's example),
    /// `Pragma`, targeted fields, `Vary` and repeated lines come back as the origin sent them,
    /// while the Cache API only ever sees edgecache's bookkeeping `Cache-Control`.
    #[test]
    fn s3_1_hit_returns_every_stored_field_as_sent() {
        let resp = hm(&[
            ("date", at(0)),
            ("expires", at(600)),
            ("cache-control", s("public")),
            ("cache-control", s("max-age=600, stale-if-error=60")),
            ("pragma", s("x-vendor")),
            ("cdn-cache-control", s("max-age=300")),
            ("cloudflare-cdn-cache-control", s("max-age=200")),
            ("vary", s("Accept-Language")),
            ("vary", s("X-Thing")),
            ("link", s("</a.css>; rel=preload")),
            ("link", s("</b.js>; rel=preload")),
            ("etag", s("\"v1\"")),
            ("last-modified", at(-3600)),
            ("content-type", s("text/html")),
            ("content-length", s("5")),
            ("age", s("3")),
            ("x-custom", s("kept")),
            ("set-cookie", s("sid=1")),
            ("connection", s("x-hop")),
            ("x-hop", s("1")),
        ]);
        let req = hm(&[("accept-language", s("en"))]);
        let (put, restored, meta) = round_trip(RESPECT_STRIP, &req, &resp);
        // What the Cache API is handed: only the bookkeeping directive, nothing it would obey.
        assert_eq!(
            lines(&put, "cache-control"),
            vec![b"public, s-maxage=3600".to_vec()]
        );
        for hidden in [
            "expires",
            "pragma",
            "vary",
            "cdn-cache-control",
            "cloudflare-cdn-cache-control",
            "set-cookie",
            "age",
        ] {
            assert!(!put.contains_key(hidden), "{hidden} reached cache.put");
        }
        // What a hit starts from: every end-to-end field, every line, in order.
        for name in [
            "date",
            "expires",
            "cache-control",
            "pragma",
            "cdn-cache-control",
            "cloudflare-cdn-cache-control",
            "vary",
            "link",
            "etag",
            "last-modified",
            "content-type",
            "x-custom",
        ] {
            assert_eq!(lines(&restored, name), lines(&resp, name), "{name}");
        }
        // Never stored: Set-Cookie (per-user), Age (recomputed, §5.1), hop-by-hop (§3.1),
        // Content-Length (the runtime's, from the stored body), our storage-only fields.
        for gone in [
            "set-cookie",
            "age",
            "x-hop",
            "connection",
            "content-length",
            META_HEADER,
            "cf-cache-status",
        ] {
            assert!(!restored.contains_key(gone), "{gone} restored");
        }
        // And the client gets them, with a recomputed Age, on a hit 10 s later.
        let age = meta.age(NOW + 10);
        let out = client_headers(
            policy(RESPECT).match_rule("GET", "example.com", "/page"),
            &restored,
            true,
            Some(age),
            &CacheStatus::default(),
            None,
        );
        assert_eq!(out["expires"], at(600).as_str());
        // §4.2.3: the origin's Age (3) is part of the corrected initial age.
        assert_eq!(out["age"], "13");
        assert_eq!(lines(&out, "cache-control"), lines(&resp, "cache-control"));
    }

    /// §3.1: values with obs-text (bytes ≥ 0x80) survive the metadata exactly, and storing a
    /// restored response again (what a 304 freshening does) changes nothing.
    #[test]
    fn s3_1_obs_text_and_restoring_twice() {
        let mut resp = hm(&[("date", at(0)), ("cache-control", s("max-age=60"))]);
        resp.append("expires", HeaderValue::from_bytes(b"caf\xe9 \xff").unwrap());
        let (_, restored, meta) = round_trip(RESPECT, &HeaderMap::new(), &resp);
        assert_eq!(lines(&restored, "expires"), vec![b"caf\xe9 \xff".to_vec()]);
        let again = stored_headers(&restored, &meta, 10);
        let (got, meta2) = put_then_match(&again);
        assert_eq!(restore_stored(&got, &meta2), restored);
    }

    /// §3.1 with entries written before `origin_fields`: Cache-Control and Vary still come
    /// back (from `origin_cc` and the captured names).
    #[test]
    fn s3_1_old_entries_restore_cache_control_and_vary() {
        let resp = hm(&[("cache-control", s("max-age=60")), ("vary", s("Foo"))]);
        let st = store(RESPECT, &HeaderMap::new(), 200, &resp).unwrap();
        let mut put = st.headers.clone();
        put.insert(
            "cache-control",
            HeaderValue::from_static("public, s-maxage=99"),
        );
        put.remove("vary");
        let restored = restore_stored(&put, &st.meta); // st.meta has no origin_fields
        assert_eq!(restored["cache-control"], "max-age=60");
        assert_eq!(restored["vary"], "foo");
    }

    // ------------------------------------------------------------ §3.2 / §4.3.4 freshening

    /// §3.2: a 304 updates the stored fields except Content-Length (and the fields the stored
    /// body depends on); §4.3.4: only a 304 whose validators identify the stored response
    /// freshens it.
    #[test]
    fn s4_3_4_freshening_selects_and_merges() {
        let resp = hm(&[
            ("date", at(-100)),
            ("cache-control", s("max-age=10")),
            ("expires", at(-90)),
            ("etag", s("\"v1\"")),
            ("content-length", s("5")),
            ("x-a", s("old")),
        ]);
        let (_, mut restored, _) = round_trip(RESPECT, &HeaderMap::new(), &resp);
        restored.insert("content-length", HeaderValue::from_static("5"));
        let ok = hm(&[
            ("date", at(0)),
            ("cache-control", s("max-age=600")),
            ("expires", at(600)),
            ("etag", s("\"v1\"")),
            ("content-length", s("0")),
            ("x-a", s("new")),
        ]);
        assert!(freshen_selects(&restored, &ok));
        assert!(!freshen_selects(&restored, &hm(&[("etag", s("\"v2\""))])));
        assert!(
            freshen_selects(&restored, &hm(&[("etag", s("W/\"v1\""))])),
            "weak comparison"
        );
        merge_304_headers(&mut restored, &ok);
        assert_eq!(restored["expires"], at(600).as_str());
        assert_eq!(restored["x-a"], "new");
        assert_eq!(
            restored["content-length"], "5",
            "§3.2: Content-Length is never updated"
        );
        // The merged response is stored again with the new freshness and its Expires.
        let st = store(RESPECT, &HeaderMap::new(), 200, &restored).unwrap();
        assert_eq!(st.meta.fresh_for, 600);
        let (got, meta) = put_then_match(&stored_headers(&st.headers, &st.meta, 700));
        assert_eq!(restore_stored(&got, &meta)["expires"], at(600).as_str());
    }

    /// §4.3.5: a 200 to a HEAD freshens the stored GET response when validators and length
    /// agree, else marks it stale.
    #[test]
    fn s4_3_5_head_response_freshens_or_marks_stale() {
        let stored = hm(&[("etag", s("\"v1\"")), ("last-modified", at(-50))]);
        let same = hm(&[
            ("etag", s("\"v1\"")),
            ("content-length", s("5")),
            ("cache-control", s("max-age=9")),
        ]);
        assert_eq!(head_update(200, &stored, 5, &same), HeadUpdate::Freshen);
        assert_eq!(head_update(200, &stored, 6, &same), HeadUpdate::MarkStale);
        assert_eq!(
            head_update(200, &stored, 5, &hm(&[("etag", s("\"v2\""))])),
            HeadUpdate::MarkStale
        );
        assert_eq!(
            head_update(200, &stored, 5, &hm(&[("last-modified", at(-1))])),
            HeadUpdate::MarkStale
        );
        assert_eq!(head_update(304, &stored, 5, &same), HeadUpdate::Ignore);
    }

    // ------------------------------------------------------------ §3 / §4.2.2 status codes

    /// §3: any final status with explicit freshness may be stored in respect mode (unknown
    /// codes included); 206 never as a complete response; 1xx never.
    #[test]
    fn s3_any_final_status_with_explicit_freshness() {
        let fresh = hm(&[("cache-control", s("max-age=60"))]);
        for status in [
            200, 203, 204, 299, 300, 301, 302, 307, 308, 399, 400, 404, 410, 499, 500, 503, 599,
        ] {
            let st = store(RESPECT, &HeaderMap::new(), status, &fresh)
                .unwrap_or_else(|e| panic!("{status}: {e:?}"));
            assert_eq!((st.meta.status, st.meta.fresh_for), (status, 60));
        }
        assert_eq!(
            store(RESPECT, &HeaderMap::new(), 206, &fresh).unwrap_err(),
            DontStore::Rfc(NotStorable::PartialContent)
        );
        assert_eq!(
            store(RESPECT, &HeaderMap::new(), 103, &fresh).unwrap_err(),
            DontStore::Rfc(NotStorable::Status)
        );
    }

    /// §4.2.2 with RFC 9110 §15.1: without explicit freshness, only the heuristically
    /// cacheable codes are stored, and only when the rule allows heuristics.
    #[test]
    fn s4_2_2_heuristic_statuses_follow_the_setting() {
        let lm = hm(&[("date", at(0)), ("last-modified", at(-10_000))]);
        for status in [200, 203, 204, 300, 301, 308, 404, 405, 410, 414, 501] {
            let st = store(RESPECT_STRIP, &HeaderMap::new(), status, &lm)
                .unwrap_or_else(|e| panic!("{status}: {e:?}"));
            assert_eq!(st.meta.fresh_for, 1000, "{status}");
            assert!(
                store(RESPECT, &HeaderMap::new(), status, &lm).is_err(),
                "{status} without heuristics"
            );
        }
        for status in [201, 302, 307, 400, 403, 500, 502, 503] {
            assert!(
                store(RESPECT_STRIP, &HeaderMap::new(), status, &lm).is_err(),
                "{status}"
            );
        }
        assert!(store(RESPECT_STRIP, &HeaderMap::new(), 206, &lm).is_err());
    }

    /// RFC 9110 §15.2 / RFC 9111 §3: interim responses are skipped, never stored or answered.
    #[test]
    fn s3_interim_responses_are_not_final() {
        for st in [100, 102, 103, 199] {
            assert_eq!(status_kind(st), StatusKind::Interim, "{st}");
        }
        assert_eq!(status_kind(101), StatusKind::SwitchingProtocols);
        assert_eq!(status_kind(200), StatusKind::Final);
        assert_eq!(status_kind(599), StatusKind::Final);
        assert_eq!(status_kind(600), StatusKind::Invalid);
        assert_eq!(status_kind(99), StatusKind::Invalid);
    }

    // ------------------------------------------------------------ §4.4 invalidation

    /// §4.4: any unsafe method, known or not, invalidates the target and same-origin
    /// Location/Content-Location after a non-error response; an unknown method is never
    /// treated as GET.
    #[test]
    fn s4_4_unknown_unsafe_methods_invalidate() {
        let p = policy(RESPECT);
        let u = Url::parse("https://example.com/a?x=1").unwrap();
        let resp = hm(&[
            ("location", s("/b")),
            ("content-location", s("https://other.example/c")),
        ]);
        for raw in ["PURGE", "FOO", "POST", "DELETE", "get"] {
            let MethodClass::Forward {
                method,
                unsafe_method,
            } = classify_method(raw)
            else {
                panic!("{raw} not forwarded");
            };
            assert!(unsafe_method, "{raw}");
            assert_eq!(method.as_str(), raw);
            let keys = invalidations(&p, &method, &u, &HeaderMap::new(), 204, &resp);
            assert_eq!(keys.len(), 2, "{raw}: {keys:?}");
            assert!(invalidations(&p, &method, &u, &HeaderMap::new(), 404, &resp).is_empty());
            // and the request itself bypasses the cache
            assert!(matches!(
                plan_request(&p, &method, &u, &HeaderMap::new()),
                RequestPlan::Bypass { .. }
            ));
        }
        for raw in ["OPTIONS", "TRACE"] {
            assert!(
                matches!(
                    classify_method(raw),
                    MethodClass::Forward {
                        unsafe_method: false,
                        ..
                    }
                ),
                "{raw}"
            );
        }
        assert_eq!(classify_method("GET"), MethodClass::Cacheable(Method::GET));
        assert_eq!(
            classify_method("HEAD"),
            MethodClass::Cacheable(Method::HEAD)
        );
        for bad in ["", "GE T", "GET\r\n", "(x)"] {
            assert_eq!(classify_method(bad), MethodClass::Invalid, "{bad:?}");
        }
    }

    // ------------------------------------------------------------ §4.1 Vary

    /// §4.1: selecting fields compare after normalisation where the grammar allows it
    /// (case, whitespace, q spelling, order by weight); absent matches absent only; a
    /// response with `Vary: *` is never stored.
    #[test]
    fn s4_1_vary_normalised_matching() {
        let p = policy(RESPECT);
        let resp = hm(&[
            ("cache-control", s("max-age=60")),
            ("vary", s("Accept-Language, Accept")),
        ]);
        let req = hm(&[
            ("accept-language", s("en-US, fr;q=0.5")),
            ("accept", s("text/html")),
        ]);
        let st = store(RESPECT, &req, 200, &resp).unwrap();
        let hit = |h: &HeaderMap| {
            let d = RequestDirectives::from_headers(h);
            plan_hit(
                p.match_rule("GET", "example.com", "/page"),
                &st.meta,
                h,
                &d,
                PurgeState::Clean,
                NOW + 1,
                0.5,
            )
        };
        let same = [
            hm(&[
                ("accept-language", s("fr;q=0.50, EN-us")),
                ("accept", s("TEXT/HTML")),
            ]),
            hm(&[
                ("accept-language", s("en-us")),
                ("accept-language", s("fr ; q=0.5")),
                ("accept", s("text/html;q=1")),
            ]),
        ];
        for h in &same {
            assert!(matches!(hit(h), HitPlan::Fresh { .. }), "{h:?}");
        }
        let different = [
            hm(&[
                ("accept-language", s("fr, en-US")),
                ("accept", s("text/html")),
            ]),
            hm(&[
                ("accept-language", s("en-US, fr;q=0.6")),
                ("accept", s("text/html")),
            ]),
            hm(&[("accept-language", s("en-US, fr;q=0.5"))]),
        ];
        for h in &different {
            assert!(matches!(hit(h), HitPlan::Miss(_)), "{h:?}");
        }
        let star = hm(&[("cache-control", s("max-age=60")), ("vary", s("Foo, *"))]);
        assert_eq!(
            store(RESPECT, &req, 200, &star).unwrap_err(),
            DontStore::Rfc(NotStorable::VaryStar)
        );
    }

    // ------------------------------------------------------------ §4.3.1 / §4.3.2 conditionals

    /// §4.3.2: with nothing stored, the client's validators go to the origin verbatim —
    /// malformed and unquoted ones too, every line — and Range is dropped so the complete
    /// response can be stored.
    #[test]
    fn s4_3_2_client_validators_forwarded_verbatim_on_a_miss() {
        let p = policy(RESPECT);
        let req = hm(&[
            ("if-none-match", s("abcdef")),
            ("if-none-match", s("\"x\", W/\"y\"")),
            ("if-modified-since", s("not a date")),
            ("if-match", s("*")),
            ("if-unmodified-since", at(-5)),
            ("range", s("bytes=0-1")),
            ("if-range", s("\"x\"")),
            ("accept", s("text/html")),
        ]);
        let pl = plan(&p, &req);
        let out = miss_origin_headers(&pl.origin_headers, &req);
        for name in [
            "if-none-match",
            "if-modified-since",
            "if-match",
            "if-unmodified-since",
            "accept",
        ] {
            assert_eq!(lines(&out, name), lines(&req, name), "{name}");
        }
        assert!(!out.contains_key("range") && !out.contains_key("if-range"));
    }

    /// §4.3.1: revalidating a stored response sends its validators (a bare-token ETag is
    /// quoted), the Vary'd request fields, and no Range.
    #[test]
    fn s4_3_1_revalidation_request() {
        let p = policy(RESPECT);
        let resp = hm(&[
            ("cache-control", s("max-age=1")),
            ("etag", s("abcdef")),
            ("last-modified", at(-9)),
            ("vary", s("Abc")),
        ]);
        let req = hm(&[
            ("abc", s("123")),
            ("range", s("bytes=0-0")),
            ("if-none-match", s("\"client\"")),
        ]);
        let st = store(RESPECT, &req, 200, &resp).unwrap();
        let pl = plan(&p, &req);
        let out = revalidation_headers(&st.meta, &pl.origin_headers, &req);
        assert_eq!(out["if-none-match"], "\"abcdef\"");
        assert_eq!(out["if-modified-since"], at(-9).as_str());
        assert_eq!(out["abc"], "123");
        assert!(!out.contains_key("range"));
    }

    /// RFC 9110 §13.2.2 as a cache answering from a stored 200: If-Match (strong) then
    /// If-Unmodified-Since give 412; If-None-Match (weak) before If-Modified-Since gives 304;
    /// only GET/HEAD get 304.
    #[test]
    fn s4_3_2_conditional_answers_follow_rfc9110_s13() {
        let stored = hm(&[
            ("etag", s("W/\"v1\"")),
            ("last-modified", at(-100)),
            ("date", at(0)),
        ]);
        let ev =
            |m: &Method, req: &[(&str, String)]| evaluate(m, &hm(req), 200, &stored, Some(NOW));
        let get = Method::GET;
        assert_eq!(
            ev(&get, &[("if-none-match", s("\"v1\""))]),
            Precondition::NotModified
        );
        assert_eq!(
            ev(
                &get,
                &[("if-none-match", s("\"v2\"")), ("if-modified-since", at(0))]
            ),
            Precondition::Serve
        );
        assert_eq!(
            ev(&get, &[("if-modified-since", at(0))]),
            Precondition::NotModified
        );
        assert_eq!(
            ev(&get, &[("if-modified-since", at(-101))]),
            Precondition::Serve
        );
        assert_eq!(
            ev(&get, &[("if-match", s("\"v1\""))]),
            Precondition::Failed,
            "weak ETag never matches If-Match"
        );
        assert_eq!(
            ev(&get, &[("if-match", s("*")), ("if-none-match", s("*"))]),
            Precondition::NotModified
        );
        assert_eq!(
            ev(&get, &[("if-unmodified-since", at(-200))]),
            Precondition::Failed
        );
        assert_eq!(
            ev(
                &get,
                &[("if-unmodified-since", at(-200)), ("if-none-match", s("*"))]
            ),
            Precondition::Failed
        );
        assert_eq!(
            ev(&Method::HEAD, &[("if-none-match", s("*"))]),
            Precondition::NotModified
        );
        assert_eq!(
            ev(&Method::POST, &[("if-none-match", s("*"))]),
            Precondition::Serve
        );
        assert_eq!(
            ev(&get, &[("if-none-match", s("v1"))]),
            Precondition::Serve,
            "malformed: ignored"
        );
        assert_eq!(Precondition::Failed.status(), Some(412));
    }

    // ------------------------------------------------------------ §5.2.1 request directives

    /// §5.2.1.7: only-if-cached never reaches the origin: a miss or a response needing
    /// validation gives 504; a fresh or origin-permitted stale response is served.
    #[test]
    fn s5_2_1_7_only_if_cached() {
        let p = policy(RESPECT);
        let req = hm(&[("cache-control", s("only-if-cached"))]);
        let d = RequestDirectives::from_headers(&req);
        let st = store(
            RESPECT,
            &req,
            200,
            &hm(&[("cache-control", s("max-age=10")), ("etag", s("\"a\""))]),
        )
        .unwrap();
        let at_t = |t| {
            plan_hit(
                p.match_rule("GET", "example.com", "/page"),
                &st.meta,
                &req,
                &d,
                PurgeState::Clean,
                NOW + t,
                0.5,
            )
        };
        assert!(!only_if_cached_gateway_timeout(&d, &at_t(5)));
        assert!(matches!(at_t(20), HitPlan::Revalidate { .. }));
        assert!(only_if_cached_gateway_timeout(&d, &at_t(20)));
        assert!(only_if_cached_gateway_timeout(
            &d,
            &HitPlan::Miss(edgecache::decision::MissReason::Absent)
        ));
        let with_stale = hm(&[("cache-control", s("only-if-cached, max-stale"))]);
        let d2 = RequestDirectives::from_headers(&with_stale);
        let h = plan_hit(
            p.match_rule("GET", "example.com", "/page"),
            &st.meta,
            &with_stale,
            &d2,
            PurgeState::Clean,
            NOW + 5000,
            0.5,
        );
        assert!(
            matches!(h, HitPlan::Fresh { .. }),
            "max-stale without a value accepts any staleness"
        );
        assert!(!only_if_cached_gateway_timeout(&d2, &h));
    }

    /// §5.2.1.1–§5.2.1.4: max-age, max-stale=N, min-fresh and no-cache on a stored response.
    #[test]
    fn s5_2_1_request_limits() {
        let p = policy(RESPECT);
        let st = store(
            RESPECT,
            &HeaderMap::new(),
            200,
            &hm(&[("cache-control", s("max-age=100"))]),
        )
        .unwrap();
        let h = |cc: &str, t: u64| {
            let r = hm(&[("cache-control", s(cc))]);
            plan_hit(
                p.match_rule("GET", "example.com", "/page"),
                &st.meta,
                &r,
                &RequestDirectives::from_headers(&r),
                PurgeState::Clean,
                NOW + t,
                0.5,
            )
        };
        let fresh = |x: &HitPlan| matches!(x, HitPlan::Fresh { .. });
        assert!(fresh(&h("max-age=50", 50)) && !fresh(&h("max-age=50", 51)));
        assert!(fresh(&h("min-fresh=10", 90)) && !fresh(&h("min-fresh=10", 91)));
        assert!(fresh(&h("max-stale=20", 120)) && !fresh(&h("max-stale=20", 121)));
        assert!(!fresh(&h("no-cache", 1)));
        // no-store does not stop reuse (§5.2.1.5), only storing.
        assert!(fresh(&h("no-store", 1)));
        assert_eq!(
            store(
                RESPECT,
                &hm(&[("cache-control", s("no-store"))]),
                200,
                &hm(&[("cache-control", s("max-age=100"))])
            )
            .unwrap_err(),
            DontStore::RequestNoStore
        );
    }

    // ------------------------------------------------------------ §5.2.2 response directives

    /// §5.2.2.4 no-cache="field" and §5.2.2.7 private="field": the response is stored, the
    /// named fields are not (so they are never sent on reuse); unqualified no-cache is stored
    /// but always revalidated; must-revalidate / proxy-revalidate / s-maxage forbid stale.
    #[test]
    fn s5_2_2_qualified_directives_and_revalidation() {
        let resp = hm(&[
            (
                "cache-control",
                s(r#"max-age=60, no-cache="x-a", private="set-cookie, x-b""#),
            ),
            ("x-a", s("1")),
            ("x-b", s("2")),
            ("x-c", s("3")),
            ("set-cookie", s("sid=1")),
        ]);
        // Stored even with the default (refuse Set-Cookie): the origin named it in private=.
        let (put, restored, meta) = round_trip(RESPECT, &HeaderMap::new(), &resp);
        for f in ["x-a", "x-b", "set-cookie"] {
            assert!(!put.contains_key(f) && !restored.contains_key(f), "{f}");
        }
        assert_eq!(restored["x-c"], "3");
        assert!(
            !meta.no_cache,
            "qualified no-cache does not force revalidation of the rest"
        );
        let st = store(
            RESPECT,
            &HeaderMap::new(),
            200,
            &hm(&[("cache-control", s("max-age=60, no-cache"))]),
        )
        .unwrap();
        assert!(st.meta.no_cache);
        for cc in [
            "max-age=60, must-revalidate",
            "max-age=60, proxy-revalidate",
            "s-maxage=60",
        ] {
            let st = store(
                RESPECT,
                &HeaderMap::new(),
                200,
                &hm(&[("cache-control", s(cc))]),
            )
            .unwrap();
            assert!(st.meta.must_revalidate, "{cc}");
        }
        // public lets a response to an Authorization request be stored (§3.5) — on a route
        // marked public; must-understand with an unknown status and no-store is not stored.
        let mu = hm(&[("cache-control", s("max-age=60, must-understand, no-store"))]);
        assert!(store(RESPECT, &HeaderMap::new(), 200, &mu).is_ok());
        assert_eq!(
            store(RESPECT, &HeaderMap::new(), 299, &mu).unwrap_err(),
            DontStore::Rfc(NotStorable::MustUnderstand)
        );
    }

    // ------------------------------------------------------------ RFC 9110 §14 ranges

    /// RFC 9110 §14: a Range on a stored complete 200 gives a 206 with Content-Range and
    /// Content-Length, 416 with `bytes */len` when unsatisfiable, several ranges as
    /// multipart/byteranges (coalesced when close), the full 200 for ranges out of order or a
    /// failed If-Range; a 206 from the origin is never stored as complete.
    #[test]
    fn rfc9110_s14_ranges_from_a_complete_stored_response() {
        let resp = hm(&[
            ("cache-control", s("max-age=60")),
            ("etag", s("\"v1\"")),
            ("date", at(0)),
        ]);
        let (_, restored, _) = round_trip(RESPECT, &HeaderMap::new(), &resp);
        let r = |range: &str, if_range: Option<&str>| {
            let mut req = hm(&[("range", s(range))]);
            if let Some(ir) = if_range {
                req.insert("if-range", HeaderValue::from_str(ir).unwrap());
            }
            plan_range(&Method::GET, &req, 200, &restored, 100)
        };
        let p = r("bytes=10-19", None);
        assert_eq!(
            p,
            RangePlan::Partial {
                start: 10,
                end: 19,
                len: 100
            }
        );
        assert_eq!(p.content_range().as_deref(), Some("bytes 10-19/100"));
        assert_eq!(p.content_length(), Some(10));
        let u = r("bytes=100-", None);
        assert_eq!(
            (u.status(), u.content_range().as_deref()),
            (416, Some("bytes */100"))
        );
        // §14.2: close ranges may be coalesced into one part; far ones make a multipart 206
        // (§14.6); ranges out of order may be ignored.
        assert_eq!(
            r("bytes=0-1, 5-6", None),
            RangePlan::Partial {
                start: 0,
                end: 6,
                len: 100
            }
        );
        assert_eq!(
            r("bytes=0-1, 95-", None),
            RangePlan::Multipart {
                parts: vec![(0, 1), (95, 99)],
                len: 100
            }
        );
        assert_eq!(r("bytes=95-, 0-1", None), RangePlan::Full);
        assert_eq!(r("bytes=0-9", Some("\"v1\"")).status(), 206);
        assert_eq!(r("bytes=0-9", Some("\"v0\"")), RangePlan::Full);
        assert_eq!(
            store(RESPECT, &HeaderMap::new(), 206, &resp).unwrap_err(),
            DontStore::Rfc(NotStorable::PartialContent)
        );
    }
}

// ================================================================ the sections again, end to end
// through the request lifecycle (`edgecache::lifecycle`) in the fake world of
// `tests/common/world.rs` (in-memory Cache API, scripted origin, scheduler). Each scenario is a
// list of steps in the style of the cache-tests suite; the harness runs it three times: one
// request per step, then 8 requests per step all in flight at once, then 8 arriving 13 ms apart
// (during the first one's origin fetch, and after its store). Every answer and every origin
// request of every run must meet the same expectations: concurrency changes no outcome.

mod scenarios {
    use super::common::world::{req, Got, OriginAnswer, World};
    use super::{at, s};
    use edgecache::lifecycle::OriginFailure;
    use edgecache::policy::Policy;
    use http::HeaderMap;

    const RESPECT: &str = "[defaults]\norigin_cache_control = \"respect\"\n";
    const RESPECT_HEURISTIC: &str =
        "[defaults]\norigin_cache_control = \"respect\"\nheuristic_freshness = true\n";

    /// What the origin answers to every request of a step.
    fn origin(
        status: u16,
        headers: &[(&'static str, String)],
        body: &[u8],
    ) -> Option<OriginAnswer> {
        Some(OriginAnswer::Ok {
            status,
            headers: headers.to_vec(),
            body: body.to_vec(),
            latency_ms: 50,
        })
    }

    /// Whether a step's answers come from the cache, the origin, or either.
    #[derive(Clone, Copy, PartialEq, Debug)]
    enum Via {
        /// No origin request during the step.
        Cache,
        /// At least one origin request (at most one per client).
        Origin,
        /// Not checked (a background refresh may run).
        Either,
    }

    /// One step: `n` identical requests and what each answer and each origin request must be.
    #[derive(Clone)]
    struct Step {
        /// Seconds the clock moves before the step.
        pause_s: u64,
        method: &'static str,
        path: &'static str,
        req: Vec<(&'static str, String)>,
        /// The origin's answer from this step on (for this path).
        origin: Option<OriginAnswer>,
        status: u16,
        body: Option<Vec<u8>>,
        via: Via,
        /// Answer fields (all lines joined with ", ").
        has: Vec<(&'static str, String)>,
        lacks: Vec<&'static str>,
        /// A multipart/byteranges answer: each part's Content-Range and bytes, in order.
        parts: Option<Vec<(String, Vec<u8>)>>,
        /// Fields every origin request of the step carried (lines joined with ", ").
        sent: Vec<(&'static str, String)>,
        not_sent: Vec<&'static str>,
        sent_method: Option<&'static str>,
    }

    fn get(status: u16) -> Step {
        Step {
            pause_s: 0,
            method: "GET",
            path: "/s",
            req: Vec::new(),
            origin: None,
            status,
            body: None,
            via: Via::Either,
            has: Vec::new(),
            lacks: Vec::new(),
            parts: None,
            sent: Vec::new(),
            not_sent: Vec::new(),
            sent_method: None,
        }
    }

    fn joined(h: &HeaderMap, name: &str) -> Option<String> {
        let v: Vec<String> = h
            .get_all(name)
            .iter()
            .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
            .collect();
        (!v.is_empty()).then(|| v.join(", "))
    }

    /// The parts of a multipart/byteranges answer (RFC 9110 §14.6): Content-Range and bytes.
    fn multipart(g: &Got) -> Vec<(String, Vec<u8>)> {
        let ct = joined(&g.headers, "content-type").unwrap_or_default();
        let b = ct
            .split_once("boundary=")
            .map(|(_, b)| b.to_string())
            .unwrap_or_else(|| panic!("not multipart: {ct}"));
        let delim = format!("--{b}");
        let mut rest: &[u8] = &g.body;
        let mut out = Vec::new();
        loop {
            let at = find(rest, delim.as_bytes()).expect("a delimiter");
            rest = &rest[at + delim.len()..];
            if rest.starts_with(b"--") {
                return out;
            }
            let end_head = find(rest, b"\r\n\r\n").expect("part head");
            let head = String::from_utf8_lossy(&rest[..end_head]).into_owned();
            let cr = head
                .lines()
                .find_map(|l| l.strip_prefix("Content-Range: "))
                .expect("Content-Range in each part")
                .to_string();
            rest = &rest[end_head + 4..];
            let next = find(rest, format!("\r\n{delim}").as_bytes()).expect("next delimiter");
            out.push((cr, rest[..next].to_vec()));
            rest = &rest[next + 2..];
        }
    }

    fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
        hay.windows(needle.len()).position(|w| w == needle)
    }

    /// Runs the steps with `n` requests per step arriving `gap_ms` apart.
    fn run_mode(name: &str, p: &'static Policy, steps: &[Step], n: usize, gap_ms: u64) {
        let mut w = World::with_policy(p);
        for (i, st) in steps.iter().enumerate() {
            let ctx = format!("{name}: step {} ({n} in flight, {gap_ms} ms apart)", i + 1);
            w.advance(st.pause_s * 1000);
            if let Some(a) = &st.origin {
                w.script(st.path, vec![a.clone()]);
            }
            let before = w.seen.len();
            let pairs: Vec<(&str, &str)> = st.req.iter().map(|(k, v)| (*k, v.as_str())).collect();
            let reqs = (0..n)
                .map(|_| (req(st.method, st.path, &pairs), Vec::new()))
                .collect();
            let got = w.run_all(reqs, gap_ms);
            let sent = &w.seen[before..];
            match st.via {
                Via::Cache => assert!(sent.is_empty(), "{ctx}: origin asked {sent:?}"),
                Via::Origin => assert!(
                    !sent.is_empty() && sent.len() <= n,
                    "{ctx}: {} origin requests",
                    sent.len()
                ),
                Via::Either => {}
            }
            for o in sent {
                for (k, v) in &st.sent {
                    assert_eq!(joined(&o.headers, k).as_ref(), Some(v), "{ctx}: sent {k}");
                }
                for k in &st.not_sent {
                    assert!(
                        !o.headers.contains_key(*k),
                        "{ctx}: sent {k}: {:?}",
                        o.headers
                    );
                }
                if let Some(m) = st.sent_method {
                    assert_eq!(o.method, m, "{ctx}: method sent");
                }
            }
            for g in &got {
                let cs = g.cache_status();
                assert_eq!(g.status, st.status, "{ctx}: status ({cs}) {}", g.text());
                if let Some(b) = &st.body {
                    assert_eq!(&g.body, b, "{ctx}: body ({cs})");
                }
                for (k, v) in &st.has {
                    assert_eq!(joined(&g.headers, k).as_ref(), Some(v), "{ctx}: {k} ({cs})");
                }
                for k in &st.lacks {
                    assert!(!g.headers.contains_key(*k), "{ctx}: has {k} ({cs})");
                }
                if let Some(parts) = &st.parts {
                    assert_eq!(&multipart(g), parts, "{ctx}: parts ({cs})");
                }
            }
        }
    }

    /// Runs a scenario sequentially and with many requests in flight (see above).
    fn scenario(name: &str, src: &str, steps: &[Step]) {
        let p: &'static Policy = Box::leak(Box::new(
            Policy::from_toml_str(src, "test.toml")
                .expect("policy")
                .policy,
        ));
        for (n, gap) in [(1, 0), (8, 0), (8, 13)] {
            run_mode(name, p, steps, n, gap);
        }
    }

    fn max_age(n: u64) -> (&'static str, String) {
        ("cache-control", format!("max-age={n}"))
    }

    // ------------------------------------------------------------ §3.1 / §3.2

    /// §3.1 / §4: a hit is the stored response, every end-to-end field as the origin sent it
    /// (the issue's example: `Expires`), repeated lines included.
    #[test]
    fn s3_1_hit_returns_expires_and_every_field() {
        scenario(
            "s3_1",
            RESPECT,
            &[
                Step {
                    origin: origin(
                        200,
                        &[
                            ("date", at(0)),
                            ("expires", at(3600)),
                            ("x-multi", s("a")),
                            ("x-multi", s("b")),
                            ("content-type", s("text/plain")),
                        ],
                        b"hello",
                    ),
                    via: Via::Origin,
                    body: Some(b"hello".to_vec()),
                    ..get(200)
                },
                Step {
                    pause_s: 1,
                    via: Via::Cache,
                    body: Some(b"hello".to_vec()),
                    has: vec![
                        ("expires", at(3600)),
                        ("date", at(0)),
                        ("x-multi", s("a, b")),
                        ("content-type", s("text/plain")),
                    ],
                    ..get(200)
                },
            ],
        );
    }

    // ------------------------------------------------------------ §4.3.1 / §4.3.2

    /// §4.3.2: with nothing stored the client's validators go to the origin verbatim
    /// (unquoted and unparseable ones too); the origin's 304 answers that client and is not
    /// stored; later conditionals are answered from the stored 200 (RFC 9110 §13.2.2).
    #[test]
    fn s4_3_2_miss_forwards_client_validators_and_passes_the_304() {
        let etag = ("etag", s("\"abcdef\""));
        scenario(
            "s4_3_2 miss",
            RESPECT,
            &[
                Step {
                    req: vec![
                        ("if-none-match", s("abcdef")),
                        ("if-modified-since", s("yesterday")),
                    ],
                    origin: origin(304, &[etag.clone(), max_age(3600)], b""),
                    via: Via::Origin,
                    body: Some(Vec::new()),
                    sent: vec![
                        ("if-none-match", s("abcdef")),
                        ("if-modified-since", s("yesterday")),
                    ],
                    has: vec![etag.clone()],
                    ..get(304)
                },
                Step {
                    origin: origin(200, &[etag.clone(), max_age(3600)], b"full"),
                    via: Via::Origin,
                    body: Some(b"full".to_vec()),
                    not_sent: vec!["if-none-match", "if-modified-since"],
                    ..get(200)
                },
                Step {
                    req: vec![("if-none-match", s("\"abcdef\""))],
                    via: Via::Cache,
                    body: Some(Vec::new()),
                    has: vec![etag.clone()],
                    ..get(304)
                },
                Step {
                    req: vec![("if-none-match", s("\"zzz\""))],
                    via: Via::Cache,
                    body: Some(b"full".to_vec()),
                    ..get(200)
                },
                // RFC 9110 §13.2.2: If-Match with another strong tag fails on the stored 200.
                Step {
                    req: vec![("if-match", s("\"zzz\""))],
                    via: Via::Cache,
                    ..get(412)
                },
            ],
        );
    }

    /// §4.3.2: a 412 the origin answers to the client's own If-Match is that client's, never
    /// stored, even with explicit freshness.
    #[test]
    fn s4_3_2_miss_412_to_the_clients_if_match_is_not_stored() {
        scenario(
            "s4_3_2 412",
            RESPECT,
            &[
                Step {
                    req: vec![("if-match", s("\"v9\""))],
                    origin: origin(412, &[max_age(3600)], b""),
                    via: Via::Origin,
                    sent: vec![("if-match", s("\"v9\""))],
                    ..get(412)
                },
                Step {
                    origin: origin(200, &[max_age(3600)], b"ok"),
                    via: Via::Origin,
                    body: Some(b"ok".to_vec()),
                    ..get(200)
                },
                Step {
                    via: Via::Cache,
                    body: Some(b"ok".to_vec()),
                    ..get(200)
                },
            ],
        );
    }

    /// §4.3.1: revalidating sends the cache's own validators (not the client's list); the
    /// client is answered from the freshened response (RFC 9110 §13.2.2: its If-None-Match
    /// matches, so 304); §4.3.4: the 304's fields replace the stored ones.
    #[test]
    fn s4_3_1_revalidation_sends_stored_validators_and_answers_the_client() {
        let etag = ("etag", s("\"v1\""));
        scenario(
            "s4_3_1",
            RESPECT,
            &[
                Step {
                    origin: origin(
                        200,
                        &[
                            max_age(1),
                            etag.clone(),
                            ("last-modified", at(-100)),
                            ("x-template", s("1")),
                        ],
                        b"body1",
                    ),
                    via: Via::Origin,
                    ..get(200)
                },
                Step {
                    pause_s: 3,
                    req: vec![("if-none-match", s("\"other\", \"v1\""))],
                    origin: origin(
                        304,
                        &[etag.clone(), max_age(3600), ("x-template", s("2"))],
                        b"",
                    ),
                    via: Via::Origin,
                    sent: vec![
                        ("if-none-match", s("\"v1\"")),
                        ("if-modified-since", at(-100)),
                    ],
                    has: vec![etag.clone()],
                    body: Some(Vec::new()),
                    ..get(304)
                },
                Step {
                    via: Via::Cache,
                    body: Some(b"body1".to_vec()),
                    has: vec![("x-template", s("2")), max_age(3600), etag.clone()],
                    ..get(200)
                },
            ],
        );
    }

    /// §4.3.5 / §4.3.4: a HEAD on a stale entry revalidates it with a conditional GET (edgecache
    /// never sends HEAD on the cache path, so the stored GET response is what gets freshened);
    /// the 304 freshens it for the GETs that follow.
    #[test]
    fn s4_3_5_head_on_a_stale_entry_freshens_it() {
        let etag = ("etag", s("\"v1\""));
        scenario(
            "s4_3_5",
            RESPECT,
            &[
                Step {
                    origin: origin(
                        200,
                        &[max_age(1), etag.clone(), ("content-length", s("5"))],
                        b"hello",
                    ),
                    via: Via::Origin,
                    ..get(200)
                },
                Step {
                    pause_s: 3,
                    method: "HEAD",
                    origin: origin(
                        304,
                        &[etag.clone(), max_age(3600), ("x-template", s("2"))],
                        b"",
                    ),
                    via: Via::Origin,
                    sent_method: Some("GET"),
                    sent: vec![("if-none-match", s("\"v1\""))],
                    body: Some(Vec::new()),
                    has: vec![("x-template", s("2"))],
                    ..get(200)
                },
                Step {
                    via: Via::Cache,
                    body: Some(b"hello".to_vec()),
                    has: vec![("x-template", s("2"))],
                    ..get(200)
                },
            ],
        );
    }

    // ------------------------------------------------------------ §4.4

    /// §4.4: a non-error response to an unsafe method — an unknown one too — invalidates the
    /// target URI and the same-origin Location and Content-Location; another origin's URIs and
    /// error responses invalidate nothing.
    #[test]
    fn s4_4_unsafe_and_unknown_methods_invalidate() {
        let store = |path: &'static str, body: &'static [u8]| Step {
            path,
            origin: origin(200, &[max_age(3600)], body),
            via: Via::Origin,
            body: Some(body.to_vec()),
            ..get(200)
        };
        let cached = |path: &'static str, body: &'static [u8]| Step {
            path,
            via: Via::Cache,
            body: Some(body.to_vec()),
            ..get(200)
        };
        scenario(
            "s4_4",
            RESPECT,
            &[
                store("/s", b"s1"),
                store("/t", b"t1"),
                store("/u", b"u1"),
                Step {
                    method: "FOO",
                    origin: origin(
                        200,
                        &[
                            ("location", s("/t")),
                            ("content-location", s("https://site.example/u")),
                        ],
                        b"",
                    ),
                    via: Via::Origin,
                    sent_method: Some("FOO"),
                    ..get(200)
                },
                store("/s", b"s2"),
                store("/t", b"t2"),
                store("/u", b"u2"),
                // Another origin's Location, and an error answer: nothing invalidated.
                Step {
                    method: "POST",
                    origin: origin(201, &[("location", s("https://other.example/t"))], b""),
                    ..get(201)
                },
                cached("/t", b"t2"),
                Step {
                    method: "DELETE",
                    path: "/u",
                    origin: origin(500, &[], b""),
                    ..get(500)
                },
                cached("/u", b"u2"),
            ],
        );
    }

    // ------------------------------------------------------------ §4.1

    /// §4.1: Vary'd values match after normalisation (case, whitespace, `q` spelling); another
    /// value is a miss; a field absent from the stored request matches only its absence.
    #[test]
    fn s4_1_vary_normalised_and_absent_values() {
        let vary = ("vary", s("Accept-Language"));
        let al = |v: &str| vec![("accept-language", s(v))];
        scenario(
            "s4_1",
            RESPECT,
            &[
                Step {
                    req: al("en-US, fr;q=0.5"),
                    origin: origin(200, &[max_age(3600), vary.clone()], b"en"),
                    via: Via::Origin,
                    ..get(200)
                },
                Step {
                    req: al("en-us,FR;q=0.50"),
                    via: Via::Cache,
                    body: Some(b"en".to_vec()),
                    ..get(200)
                },
                Step {
                    req: al("de"),
                    origin: origin(200, &[max_age(3600), vary.clone()], b"de"),
                    via: Via::Origin,
                    body: Some(b"de".to_vec()),
                    ..get(200)
                },
                Step {
                    path: "/v",
                    origin: origin(200, &[max_age(3600), vary.clone()], b"none"),
                    via: Via::Origin,
                    body: Some(b"none".to_vec()),
                    ..get(200)
                },
                Step {
                    path: "/v",
                    req: al("en"),
                    origin: origin(200, &[max_age(3600), vary.clone()], b"en"),
                    via: Via::Origin,
                    body: Some(b"en".to_vec()),
                    ..get(200)
                },
                Step {
                    path: "/v",
                    req: al("en"),
                    via: Via::Cache,
                    body: Some(b"en".to_vec()),
                    ..get(200)
                },
            ],
        );
    }

    // ------------------------------------------------------------ §5.2

    /// §5.2.2.4 / §5.2.2.7: fields named by `no-cache="…"` and `private="…"` are never sent on
    /// reuse; the rest of the response is.
    #[test]
    fn s5_2_2_qualified_no_cache_and_private_fields_not_reused() {
        scenario(
            "s5_2_2",
            RESPECT,
            &[
                Step {
                    origin: origin(
                        200,
                        &[
                            (
                                "cache-control",
                                s("max-age=3600, private=\"x-secret\", no-cache=\"x-token\""),
                            ),
                            ("x-secret", s("s")),
                            ("x-token", s("t")),
                            ("x-other", s("o")),
                        ],
                        b"b",
                    ),
                    via: Via::Origin,
                    body: Some(b"b".to_vec()),
                    ..get(200)
                },
                Step {
                    via: Via::Cache,
                    body: Some(b"b".to_vec()),
                    has: vec![("x-other", s("o"))],
                    lacks: vec!["x-secret", "x-token"],
                    ..get(200)
                },
            ],
        );
    }

    /// §5.2.1: request max-age, min-fresh, no-cache, no-store, only-if-cached, max-stale.
    #[test]
    fn s5_2_1_request_directives() {
        let cc = |v: &str| vec![("cache-control", s(v))];
        let fetched = |req: Vec<(&'static str, String)>, body: &'static [u8]| Step {
            req,
            origin: origin(200, &[max_age(100)], body),
            via: Via::Origin,
            body: Some(body.to_vec()),
            ..get(200)
        };
        scenario(
            "s5_2_1",
            RESPECT,
            &[
                fetched(Vec::new(), b"a"),
                Step {
                    pause_s: 10,
                    ..fetched(cc("max-age=5"), b"b")
                },
                fetched(cc("min-fresh=200"), b"c"),
                fetched(cc("no-cache"), b"d"),
                // no-store: a stored response may still answer; nothing new is stored.
                Step {
                    req: cc("no-store"),
                    via: Via::Cache,
                    body: Some(b"d".to_vec()),
                    ..get(200)
                },
                Step {
                    path: "/n",
                    ..fetched(cc("no-store"), b"e")
                },
                Step {
                    path: "/n",
                    ..fetched(Vec::new(), b"e")
                },
                Step {
                    req: cc("only-if-cached"),
                    via: Via::Cache,
                    body: Some(b"d".to_vec()),
                    ..get(200)
                },
                Step {
                    path: "/x",
                    req: cc("only-if-cached"),
                    via: Via::Cache,
                    ..get(504)
                },
                // max-stale: a stale response is served (and refreshed in the background).
                Step {
                    path: "/m",
                    origin: origin(200, &[max_age(1)], b"m"),
                    via: Via::Origin,
                    ..get(200)
                },
                Step {
                    path: "/m",
                    pause_s: 5,
                    req: cc("max-stale=100"),
                    body: Some(b"m".to_vec()),
                    ..get(200)
                },
            ],
        );
    }

    /// §5.2.2.4: a `no-cache` response is stored but revalidated before every reuse (the
    /// stored validators are sent; a 304 serves the stored body). §5.2.2.2: `must-revalidate`
    /// forbids serving it stale when the origin fails, where stale-if-error otherwise would.
    /// §5.2.2.10: `s-maxage` overrides `max-age` in a shared cache.
    #[test]
    fn s5_2_2_no_cache_must_revalidate_s_maxage() {
        let etag = ("etag", s("\"v1\""));
        let down = Some(OriginAnswer::Fail(OriginFailure::Unreachable, 20));
        scenario(
            "s5_2_2 directives",
            "[defaults]\norigin_cache_control = \"respect\"\nstale_if_error = \"1h\"\n",
            &[
                Step {
                    origin: origin(
                        200,
                        &[("cache-control", s("max-age=3600, no-cache")), etag.clone()],
                        b"nc",
                    ),
                    via: Via::Origin,
                    ..get(200)
                },
                Step {
                    origin: origin(304, std::slice::from_ref(&etag), b""),
                    via: Via::Origin,
                    sent: vec![("if-none-match", s("\"v1\""))],
                    body: Some(b"nc".to_vec()),
                    ..get(200)
                },
                Step {
                    path: "/sie",
                    origin: origin(200, &[max_age(1)], b"old"),
                    via: Via::Origin,
                    ..get(200)
                },
                Step {
                    path: "/sie",
                    pause_s: 5,
                    origin: down.clone(),
                    via: Via::Origin,
                    body: Some(b"old".to_vec()),
                    ..get(200)
                },
                Step {
                    path: "/mr",
                    origin: origin(
                        200,
                        &[("cache-control", s("max-age=1, must-revalidate"))],
                        b"old",
                    ),
                    via: Via::Origin,
                    ..get(200)
                },
                Step {
                    path: "/mr",
                    pause_s: 5,
                    origin: down,
                    via: Via::Origin,
                    ..get(502)
                },
                Step {
                    path: "/sm",
                    origin: origin(
                        200,
                        &[("cache-control", s("max-age=3600, s-maxage=0"))],
                        b"a",
                    ),
                    via: Via::Origin,
                    ..get(200)
                },
                Step {
                    path: "/sm",
                    via: Via::Origin,
                    ..get(200)
                },
            ],
        );
    }

    // ------------------------------------------------------------ §3 statuses, 1xx

    /// §3 / §4.2.2: in respect mode any final status with explicit freshness is stored (an
    /// unknown 299, a 404, a 503); a 5xx without it is not (the documented default); without
    /// heuristics a 404 with only Last-Modified is not.
    #[test]
    fn s3_any_final_status_with_explicit_freshness() {
        let twice =
            |path: &'static str, status: u16, h: Vec<(&'static str, String)>, stored: bool| {
                [
                    Step {
                        path,
                        origin: origin(status, &h, b"x"),
                        via: Via::Origin,
                        ..get(status)
                    },
                    Step {
                        path,
                        via: if stored { Via::Cache } else { Via::Origin },
                        ..get(status)
                    },
                ]
            };
        let old_lm = ("last-modified", at(-100_000));
        let mut steps = Vec::new();
        steps.extend(twice("/a", 299, vec![max_age(3600)], true));
        steps.extend(twice("/b", 404, vec![max_age(3600)], true));
        steps.extend(twice("/c", 503, vec![max_age(3600)], true));
        steps.extend(twice("/d", 503, vec![old_lm.clone()], false));
        steps.extend(twice("/e", 404, vec![old_lm.clone()], false));
        scenario("s3 statuses", RESPECT, &steps);
        // §4.2.2 heuristics, where the policy allows them: only the heuristically cacheable
        // codes of RFC 9110 §15.1 (404 and 200 yes, 500 no).
        let mut steps = Vec::new();
        steps.extend(twice("/f", 404, vec![old_lm.clone()], true));
        steps.extend(twice("/g", 200, vec![old_lm.clone()], true));
        steps.extend(twice("/h", 500, vec![old_lm.clone()], false));
        scenario("s4_2_2 heuristics", RESPECT_HEURISTIC, &steps);
    }

    /// RFC 9110 §15.2: a 1xx as the final answer is never stored and never forwarded as the
    /// response (a 502 instead); the next request fetches and stores the real one.
    #[test]
    fn s3_interim_responses_never_stored() {
        scenario(
            "1xx",
            RESPECT,
            &[
                Step {
                    origin: origin(103, &[max_age(3600), ("link", s("</a.css>"))], b""),
                    via: Via::Origin,
                    ..get(502)
                },
                Step {
                    origin: origin(200, &[max_age(3600)], b"ok"),
                    via: Via::Origin,
                    body: Some(b"ok".to_vec()),
                    ..get(200)
                },
                Step {
                    via: Via::Cache,
                    body: Some(b"ok".to_vec()),
                    ..get(200)
                },
            ],
        );
    }

    // ------------------------------------------------------------ RFC 9110 §14 ranges

    /// RFC 9110 §14: ranges of a complete response, on the miss that stores it and on hits: a
    /// single range is a 206 with Content-Range, several far apart a multipart/byteranges 206
    /// (§14.6), an unsatisfiable one a 416, a failed If-Range or ranges out of order the
    /// full 200; the origin is asked for the complete response.
    #[test]
    fn rfc9110_s14_ranges_on_the_miss_and_on_hits() {
        let body: Vec<u8> = (0..300u32).map(|i| b'a' + (i % 26) as u8).collect();
        let slice = |a: usize, b: usize| body[a..=b].to_vec();
        let h = vec![
            max_age(3600),
            ("content-length", s("300")),
            ("content-type", s("text/plain")),
            ("etag", s("\"r\"")),
        ];
        let range = |v: &str| vec![("range", s(v))];
        let part = |a: usize, b: usize| (format!("bytes {a}-{b}/300"), slice(a, b));
        scenario(
            "ranges",
            RESPECT,
            &[
                Step {
                    req: range("bytes=0-4"),
                    origin: origin(200, &h, &body),
                    via: Via::Origin,
                    not_sent: vec!["range"],
                    body: Some(slice(0, 4)),
                    has: vec![
                        ("content-range", s("bytes 0-4/300")),
                        ("content-length", s("5")),
                    ],
                    ..get(206)
                },
                Step {
                    req: range("bytes=10-11, 200-201"),
                    via: Via::Cache,
                    parts: Some(vec![part(10, 11), part(200, 201)]),
                    lacks: vec!["content-range"],
                    ..get(206)
                },
                Step {
                    req: range("bytes=1000-"),
                    via: Via::Cache,
                    has: vec![("content-range", s("bytes */300"))],
                    ..get(416)
                },
                Step {
                    req: vec![("range", s("bytes=0-1")), ("if-range", s("\"other\""))],
                    via: Via::Cache,
                    body: Some(body.clone()),
                    ..get(200)
                },
                Step {
                    req: range("bytes=200-201, 0-1"),
                    via: Via::Cache,
                    body: Some(body.clone()),
                    ..get(200)
                },
                // Several ranges on a miss: the same multipart answer.
                Step {
                    path: "/r2",
                    req: range("bytes=-2, 0-0"),
                    origin: origin(200, &h, &body),
                    via: Via::Origin,
                    body: Some(body.clone()),
                    ..get(200)
                },
                Step {
                    path: "/r3",
                    req: range("bytes=0-0, -2"),
                    origin: origin(200, &h, &body),
                    via: Via::Origin,
                    parts: Some(vec![part(0, 0), part(298, 299)]),
                    ..get(206)
                },
            ],
        );
    }
}
