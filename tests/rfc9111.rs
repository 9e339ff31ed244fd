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
