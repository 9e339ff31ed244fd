//! Decision scenarios through the public API with a fixed clock: request plans (bypass, cookies,
//! keys, request directives), store plans (modes, RFC 9111 §3/§4.2 freshness, RFC 9213), hit
//! plans (fresh → stale-while-revalidate → stale-if-error → expired), XFetch, browser headers,
//! client conditionals and invalidation.

use edgecache::decision::{
    client_headers, client_not_modified, invalidations, jitter, plan_hit, plan_request, plan_store,
    serve_stale_on_error, xfetch, BypassReason, CachePlan, DontStore, HitPlan, MissReason,
    OriginResponse, PurgeState, RequestDirectives, RequestPlan, RevalidateReason, Store,
    DEBUG_HEADER,
};
use edgecache::freshness::format_http_date;
use edgecache::meta::{EntryMeta, META_HEADER, META_VERSION};
use edgecache::policy::{Policy, Rule};
use edgecache::status::{CacheStatus, Fwd};
use edgecache::storable::NotStorable;
use http::{HeaderMap, Method};

/// Fixed "now": Wed, 01 Jan 2025 00:00:00 GMT.
const NOW: u64 = 1_735_689_600;

/// The demo policy shipped with the project.
const DEMO: &str = include_str!("../edgecache.toml");

/// RFC 9111 shared cache: freshness only from the origin, rule stale windows as configured.
const RESPECT: &str = r#"
[defaults]
origin_cache_control = "respect"
edge_ttl = "0"
stale_while_revalidate = "1m"
stale_if_error = "1d"
"#;

/// Respect mode with a configured fallback TTL of 5 minutes.
const RESPECT_FALLBACK: &str = r#"
[defaults]
origin_cache_control = "respect"
edge_ttl = "5m"
"#;

/// Respect mode with heuristics and no fallback TTL.
const RESPECT_HEURISTIC: &str = r#"
[defaults]
origin_cache_control = "respect"
edge_ttl = "0"
heuristic_freshness = true
"#;

/// The rule's TTLs win; only 404 has a status TTL.
const OVERRIDE: &str = r#"
[defaults]
origin_cache_control = "override"
edge_ttl = "10m"
browser_ttl = "2m"
stale_while_revalidate = "30s"
stale_if_error = "1h"
status_ttl = { "404" = "1m" }
"#;

/// The origin's freshness, at most 10 minutes.
const CAP: &str = r#"
[defaults]
origin_cache_control = "cap"
edge_ttl = "10m"
stale_while_revalidate = "30s"
stale_if_error = "1h"
"#;

// ---------------------------------------------------------------- helpers

mod common;
use common::{hm, policy, url};

/// Date relative to NOW.
fn at(offset: i64) -> String {
    format_http_date(NOW.checked_add_signed(offset).unwrap())
}

fn cache_plan<'p>(p: &'p Policy, method: Method, u: &str, h: &HeaderMap) -> CachePlan<'p> {
    match plan_request(p, &method, &url(u), h) {
        RequestPlan::Cache(c) => *c,
        RequestPlan::Bypass { reason, .. } => panic!("{u}: bypass {reason:?}"),
    }
}

fn get_plan<'p>(p: &'p Policy, u: &str, h: &[(&str, &str)]) -> CachePlan<'p> {
    cache_plan(p, Method::GET, u, &hm(h))
}

fn bypass(p: &Policy, method: Method, u: &str, h: &[(&str, &str)]) -> BypassReason {
    match plan_request(p, &method, &url(u), &hm(h)) {
        RequestPlan::Bypass { reason, .. } => reason,
        RequestPlan::Cache(c) => panic!("{u}: cached under key {}", c.key),
    }
}

/// Origin response received at NOW for a request sent at NOW.
fn origin(status: u16, headers: &HeaderMap) -> OriginResponse<'_> {
    OriginResponse {
        status,
        headers,
        request_time: NOW,
        response_time: NOW,
        now_ms: NOW * 1000,
        fetch_ms: 120,
    }
}

/// A GET of `u` under policy `src` with request headers `req`, answered by `status` + `resp`.
fn store_with(
    src: &str,
    u: &str,
    req: &[(&str, &str)],
    status: u16,
    resp: &[(&str, &str)],
    jitter01: f64,
) -> Result<Store, DontStore> {
    let p = policy(src);
    let req = hm(req);
    let plan = cache_plan(&p, Method::GET, u, &req);
    let resp = hm(resp);
    plan_store(&plan, &req, &origin(status, &resp), jitter01)
}

fn store(src: &str, status: u16, resp: &[(&str, &str)]) -> Result<Store, DontStore> {
    store_with(src, "https://example.com/page", &[], status, resp, 0.5)
}

fn stored(src: &str, status: u16, resp: &[(&str, &str)]) -> EntryMeta {
    store(src, status, resp)
        .unwrap_or_else(|e| panic!("not stored: {e:?}"))
        .meta
}

/// A plain 200 entry stored at NOW (built through the JSON form so that fields added later with
/// serde defaults do not break these tests).
fn meta(fresh_for: u64, swr: u64, sie: u64) -> EntryMeta {
    let json = serde_json::json!({
        "v": META_VERSION,
        "key": "https://example.com/page",
        "rule": "default",
        "status": 200,
        "stored_at_ms": NOW * 1000,
        "response_time": NOW,
        "initial_age": 0,
        "fresh_for": fresh_for,
        "swr": swr,
        "sie": sie,
        "must_revalidate": false,
        "no_cache": false,
        "fetch_ms": 100,
    });
    EntryMeta::decode(&json.to_string()).expect("valid meta")
}

fn rule() -> Rule {
    Rule::builtin_default()
}

/// plan_hit at NOW + `later` with no request directives, no purge.
fn hit(m: &EntryMeta, later: u64) -> HitPlan {
    plan_hit(
        &rule(),
        m,
        &HeaderMap::new(),
        &RequestDirectives::default(),
        PurgeState::Clean,
        NOW + later,
        0.5,
    )
}

fn hit_req(m: &EntryMeta, later: u64, req: &[(&str, &str)]) -> HitPlan {
    let h = hm(req);
    plan_hit(
        &rule(),
        m,
        &h,
        &RequestDirectives::from_headers(&h),
        PurgeState::Clean,
        NOW + later,
        0.5,
    )
}

// ---------------------------------------------------------------- plan_request: bypass

#[test]
fn bypass_cookie_by_exact_name() {
    let p = policy(DEMO);
    let r = bypass(
        &p,
        Method::GET,
        "https://example.com/articles/1",
        &[("cookie", "theme=dark; sessionid=abc")],
    );
    assert_eq!(r, BypassReason::Cookie("sessionid".into()));
    assert_eq!(r.as_str(), "cookie");
    assert_eq!(r.fwd(), Fwd::Bypass);
}

#[test]
fn exact_bypass_name_is_not_a_prefix() {
    let p = policy(DEMO);
    let c = get_plan(
        &p,
        "https://example.com/articles/1",
        &[("cookie", "sessionid2=x; session_hint=1")],
    );
    assert_eq!(c.cookies_dropped, ["sessionid2", "session_hint"]);
}

#[test]
fn bypass_cookie_by_prefix() {
    let p = policy(DEMO);
    let r = bypass(
        &p,
        Method::GET,
        "https://example.com/articles/1",
        &[("cookie", "wordpress_logged_in_5f3a9c=admin%7C1")],
    );
    assert_eq!(r, BypassReason::Cookie("wordpress_logged_in_5f3a9c".into()));
}

#[test]
fn bypass_cookie_found_across_several_cookie_lines() {
    let p = policy(DEMO);
    let r = bypass(
        &p,
        Method::GET,
        "https://example.com/",
        &[("cookie", "a=1"), ("cookie", "session=xyz")],
    );
    assert_eq!(r, BypassReason::Cookie("session".into()));
}

#[test]
fn consent_cookies_are_stripped_and_listed() {
    let p = policy(DEMO);
    let c = get_plan(
        &p,
        "https://example.com/articles/1",
        &[(
            "cookie",
            "cookie_consent=yes; _ga=GA1.2.3; euconsent-v2=CPx",
        )],
    );
    assert!(!c.origin_headers.contains_key("cookie"));
    assert_eq!(c.cookies_dropped, ["cookie_consent", "_ga", "euconsent-v2"]);
    // Stripped cookies never reach the key either.
    assert_eq!(c.key, "https://example.com/articles/1");
}

#[test]
fn allow_mode_keeps_only_listed_cookies_for_origin_and_key() {
    let p = policy(
        r#"
[defaults.cookies]
mode = "allow"
allow = ["lang", "currency"]
"#,
    );
    let c = get_plan(
        &p,
        "https://example.com/shop",
        &[("cookie", "_ga=1; lang=fr; consent=yes; currency=EUR")],
    );
    assert_eq!(
        c.origin_headers.get("cookie").unwrap(),
        "lang=fr; currency=EUR"
    );
    assert_eq!(c.cookies_dropped, ["_ga", "consent"]);
    assert!(c.key.contains("__ec_vary="), "{}", c.key);
    // The kept cookies (only) split the cache.
    let other = get_plan(
        &p,
        "https://example.com/shop",
        &[("cookie", "lang=de; currency=EUR")],
    );
    assert_ne!(c.key, other.key);
    let same = get_plan(
        &p,
        "https://example.com/shop",
        &[("cookie", "currency=EUR; lang=fr; _gid=9")],
    );
    assert_eq!(c.key, same.key);
}

#[test]
fn authorization_bypasses_unless_public() {
    let p = policy(DEMO);
    assert_eq!(
        bypass(
            &p,
            Method::GET,
            "https://example.com/api/items",
            &[("authorization", "Bearer t")]
        ),
        BypassReason::Authorization
    );
    let p = policy("[defaults]\npublic_authorization = true\n");
    let c = get_plan(
        &p,
        "https://example.com/api/items",
        &[("authorization", "Bearer t")],
    );
    assert_eq!(c.key, "https://example.com/api/items");
}

#[test]
fn unsafe_methods_bypass_with_method_reason() {
    let p = policy(DEMO);
    for m in [Method::POST, Method::PUT, Method::DELETE, Method::PATCH] {
        let r = bypass(&p, m.clone(), "https://example.com/articles/1", &[]);
        assert_eq!(r, BypassReason::Method, "{m}");
        assert_eq!(r.fwd(), Fwd::Method);
    }
    // Even on a bypass rule, the method is the reason reported.
    assert_eq!(
        bypass(&p, Method::POST, "https://example.com/cms/publish/1", &[]),
        BypassReason::Method
    );
}

#[test]
fn bypass_rule() {
    let p = policy(DEMO);
    let plan = plan_request(
        &p,
        &Method::GET,
        &url("https://example.com/cms/edit/1"),
        &hm(&[]),
    );
    assert_eq!(plan.as_str(), "bypass");
    assert_eq!(plan.rule().name, "cms");
    assert!(matches!(
        plan,
        RequestPlan::Bypass {
            reason: BypassReason::Rule,
            ..
        }
    ));
    // Dot-segments cannot dodge the rule.
    assert_eq!(
        bypass(&p, Method::GET, "https://example.com/public/../cms/", &[]),
        BypassReason::Rule
    );
}

#[test]
fn upgrade_bypasses() {
    let p = policy(DEMO);
    assert_eq!(
        bypass(
            &p,
            Method::GET,
            "https://example.com/ws",
            &[("connection", "upgrade"), ("upgrade", "websocket")]
        ),
        BypassReason::Upgrade
    );
}

#[test]
fn head_shares_the_get_entry() {
    let p = policy(DEMO);
    let g = cache_plan(&p, Method::GET, "https://example.com/articles/1", &hm(&[]));
    let h = cache_plan(&p, Method::HEAD, "https://example.com/articles/1", &hm(&[]));
    assert!(h.head);
    assert!(!g.head);
    assert_eq!(g.key, h.key);
    assert_eq!(h.rule.name, "articles");
}

#[test]
fn head_finds_a_get_only_rule() {
    let p = policy(
        r#"
[[rules]]
name = "get-only"
path = ["/g/**"]
method = ["GET"]
origin_cache_control = "override"
edge_ttl = "1m"
"#,
    );
    let h = cache_plan(&p, Method::HEAD, "https://example.com/g/x", &hm(&[]));
    assert_eq!(h.rule.name, "get-only");
    let g = cache_plan(&p, Method::GET, "https://example.com/g/x", &hm(&[]));
    assert_eq!(g.key, h.key);
}

#[test]
fn origin_headers_drop_conditionals_and_hop_by_hop() {
    let p = policy(DEMO);
    let c = get_plan(
        &p,
        "https://example.com/articles/1",
        &[
            ("if-none-match", "\"v1\""),
            ("if-modified-since", &at(-60)),
            ("connection", "x-trace"),
            ("x-trace", "1"),
            ("te", "trailers"),
            ("accept", "text/html"),
        ],
    );
    for gone in [
        "if-none-match",
        "if-modified-since",
        "x-trace",
        "te",
        "connection",
    ] {
        assert!(!c.origin_headers.contains_key(gone), "{gone}");
    }
    assert_eq!(c.origin_headers.get("accept").unwrap(), "text/html");
}

// ---------------------------------------------------------------- plan_request: directives

fn directives(h: &[(&str, &str)]) -> RequestDirectives {
    let p = policy(DEMO);
    get_plan(&p, "https://example.com/articles/1", h).directives
}

#[test]
fn request_no_cache_and_pragma() {
    assert!(directives(&[("cache-control", "no-cache")]).no_cache);
    assert!(directives(&[("pragma", "no-cache")]).no_cache);
    // §5.4: Pragma only counts without Cache-Control.
    assert!(!directives(&[("pragma", "no-cache"), ("cache-control", "max-age=5")]).no_cache);
    assert_eq!(directives(&[]), RequestDirectives::default());
}

#[test]
fn request_numeric_directives() {
    let d = directives(&[("cache-control", "max-age=5, min-fresh=30")]);
    assert_eq!(d.max_age, Some(5));
    assert_eq!(d.min_fresh, Some(30));
    assert_eq!(d.max_stale, None);
    assert_eq!(
        directives(&[("cache-control", "max-stale=120")]).max_stale,
        Some(120)
    );
    assert_eq!(
        directives(&[("cache-control", "max-stale")]).max_stale,
        Some(u64::MAX)
    );
}

#[test]
fn request_only_if_cached_and_no_store() {
    let d = directives(&[("cache-control", "only-if-cached")]);
    assert!(d.only_if_cached);
    assert!(!d.no_store);
    assert!(directives(&[("cache-control", "no-store")]).no_store);
}

// ---------------------------------------------------------------- plan_request: keys

#[test]
fn key_drops_tracking_params_and_sorts() {
    let p = policy(DEMO);
    let c = get_plan(
        &p,
        "https://example.com/articles/1?utm_source=nl&b=2&gclid=x&a=1&fbclid=y&mc_eid=z",
        &[],
    );
    assert_eq!(c.key, "https://example.com/articles/1?a=1&b=2");
}

#[test]
fn key_lowercases_host_and_drops_default_ports() {
    let p = policy(DEMO);
    let want = "https://example.com/articles/1";
    for u in [
        "https://EXAMPLE.com:443/articles/1",
        "http://Example.COM:80/articles/1",
        "http://example.com/articles/./x/../1#frag",
    ] {
        assert_eq!(get_plan(&p, u, &[]).key, want, "{u}");
    }
    assert_eq!(
        get_plan(&p, "https://example.com:8443/articles/1", &[]).key,
        "https://example.com:8443/articles/1"
    );
}

#[test]
fn key_ignores_query_on_assets_rule() {
    let p = policy(DEMO);
    let c = get_plan(&p, "https://example.com/assets/app.css?v=3", &[]);
    assert_eq!(c.rule.name, "assets");
    assert_eq!(c.key, "https://example.com/assets/app.css");
}

// ---------------------------------------------------------------- plan_store: respect

#[test]
fn respect_s_maxage_over_max_age() {
    let m = stored(
        RESPECT,
        200,
        &[("cache-control", "max-age=60, s-maxage=600")],
    );
    assert_eq!(m.fresh_for, 600);
    let m = stored(RESPECT, 200, &[("cache-control", "max-age=60")]);
    assert_eq!(m.fresh_for, 60);
}

#[test]
fn cdn_cache_control_takes_precedence() {
    // RFC 9213 §2.1: the targeted field wins and Cache-Control is ignored, even no-store.
    let m = stored(
        RESPECT,
        200,
        &[
            ("cdn-cache-control", "max-age=600"),
            ("cache-control", "no-store"),
        ],
    );
    assert_eq!(m.fresh_for, 600);
    assert_eq!(
        store(
            RESPECT,
            200,
            &[
                ("cdn-cache-control", "no-store"),
                ("cache-control", "max-age=60")
            ]
        )
        .unwrap_err(),
        DontStore::Rfc(NotStorable::NoStore)
    );
    // An invalid targeted field is ignored: Cache-Control governs.
    let m = stored(
        RESPECT,
        200,
        &[
            ("cdn-cache-control", "max-age=\"600\""),
            ("cache-control", "max-age=60"),
        ],
    );
    assert_eq!(m.fresh_for, 60);
}

#[test]
fn expires_ignored_with_cdn_cache_control() {
    let expires = at(3600);
    let date = at(0);
    // Without a targeted field, Expires - Date gives the lifetime.
    let m = stored(RESPECT, 200, &[("date", &date), ("expires", &expires)]);
    assert_eq!(m.fresh_for, 3600);
    // With one, Expires does not count: no explicit freshness left.
    assert_eq!(
        store(
            RESPECT,
            200,
            &[
                ("date", &date),
                ("expires", &expires),
                ("cdn-cache-control", "public")
            ]
        )
        .unwrap_err(),
        DontStore::Rfc(NotStorable::NoExplicitFreshness)
    );
    // ... and the configured fallback TTL applies instead of Expires.
    let m = stored(
        RESPECT_FALLBACK,
        200,
        &[
            ("date", &date),
            ("expires", &expires),
            ("cdn-cache-control", "public"),
        ],
    );
    assert_eq!(m.fresh_for, 300);
}

#[test]
fn expires_minus_date_with_an_old_date() {
    let m = stored(RESPECT, 200, &[("date", &at(-100)), ("expires", &at(3500))]);
    assert_eq!(m.fresh_for, 3600);
    assert_eq!(m.initial_age, 100);
    // Invalid Expires means already expired; stored only for its stale windows.
    let m = stored(RESPECT, 200, &[("expires", "0")]);
    assert_eq!(m.fresh_for, 0);
}

#[test]
fn no_explicit_freshness_without_fallback_is_not_stored() {
    let e = store(RESPECT, 200, &[("content-type", "text/html")]).unwrap_err();
    assert_eq!(e, DontStore::Rfc(NotStorable::NoExplicitFreshness));
    assert_eq!(e.as_str(), "no-explicit-freshness");
}

#[test]
fn no_explicit_freshness_uses_the_rule_edge_ttl() {
    let m = stored(RESPECT_FALLBACK, 200, &[("content-type", "text/html")]);
    assert_eq!(m.fresh_for, 300);
    // But explicit freshness wins over the fallback, longer or shorter.
    assert_eq!(
        stored(RESPECT_FALLBACK, 200, &[("cache-control", "max-age=7200")]).fresh_for,
        7200
    );
}

#[test]
fn heuristic_freshness_when_allowed() {
    let lm = at(-5 * 86_400);
    let date = at(0);
    let resp = [("date", date.as_str()), ("last-modified", lm.as_str())];
    // (Date - Last-Modified) / 10.
    assert_eq!(stored(RESPECT_HEURISTIC, 200, &resp).fresh_for, 43_200);
    assert_eq!(
        store(RESPECT, 200, &resp).unwrap_err(),
        DontStore::Rfc(NotStorable::NoExplicitFreshness)
    );
    // Not for a status that is not heuristically cacheable.
    assert!(store(RESPECT_HEURISTIC, 302, &resp).is_err());
}

#[test]
fn respect_status_ttl_without_origin_freshness() {
    // Default status_ttl has 404 = 30s.
    assert_eq!(stored(RESPECT, 404, &[]).fresh_for, 30);
    // The origin's explicit freshness still wins in respect mode.
    assert_eq!(
        stored(RESPECT, 404, &[("cache-control", "max-age=5")]).fresh_for,
        5
    );
}

// ---------------------------------------------------------------- plan_store: override, cap

#[test]
fn override_rule_ttl_wins_over_origin() {
    let m = stored(
        OVERRIDE,
        200,
        &[("cache-control", "max-age=5, must-revalidate, no-cache")],
    );
    assert_eq!(m.fresh_for, 600);
    assert_eq!((m.swr, m.sie), (30, 3600));
    assert!(!m.must_revalidate);
    assert!(!m.no_cache);
    // Without any origin freshness, too.
    assert_eq!(stored(OVERRIDE, 200, &[]).fresh_for, 600);
}

#[test]
fn override_status_ttl_and_statuses_without_ttl() {
    assert_eq!(stored(OVERRIDE, 404, &[]).fresh_for, 60);
    // status_ttl was replaced as a whole: 410 and 301 have no TTL here.
    for s in [410, 301] {
        let e = store(OVERRIDE, s, &[("cache-control", "max-age=600")]).unwrap_err();
        assert_eq!(e, DontStore::Status(s));
        assert_eq!(e.as_str(), "status");
    }
}

#[test]
fn cap_is_the_minimum_of_origin_and_rule() {
    assert_eq!(
        stored(CAP, 200, &[("cache-control", "max-age=60")]).fresh_for,
        60
    );
    assert_eq!(
        stored(CAP, 200, &[("cache-control", "max-age=6000")]).fresh_for,
        600
    );
    assert_eq!(
        stored(CAP, 200, &[("cache-control", "s-maxage=900, max-age=10")]).fresh_for,
        600
    );
    // No origin freshness: the rule's TTL.
    assert_eq!(stored(CAP, 200, &[]).fresh_for, 600);
    // 404 is capped by its status TTL (default 30s).
    assert_eq!(
        stored(CAP, 404, &[("cache-control", "max-age=6000")]).fresh_for,
        30
    );
}

// ---------------------------------------------------------------- plan_store: never stored

#[test]
fn server_errors_never_stored_outside_respect() {
    for src in [OVERRIDE, CAP] {
        for s in [500, 502, 503, 504] {
            let e = store(src, s, &[("cache-control", "public, max-age=600")]).unwrap_err();
            assert_eq!(e, DontStore::ServerError, "{s}");
        }
    }
}

/// RFC 9111 §3 (any final status with explicit freshness may be stored) and §4.2.2 (501 is
/// the only heuristically cacheable 5xx, RFC 9110 §15.1): the respect-mode 5xx default.
#[test]
fn rfc9111_s3_respect_stores_5xx_only_with_explicit_freshness() {
    for s in [500, 502, 503, 504, 599] {
        let m = stored(RESPECT, s, &[("cache-control", "max-age=600")]);
        assert_eq!((m.status, m.fresh_for), (s, 600), "{s}");
        assert_eq!(
            store(RESPECT, s, &[]).unwrap_err(),
            DontStore::ServerError,
            "{s} without freshness"
        );
        // A configured fallback edge_ttl does not make errors cacheable.
        assert_eq!(
            store(RESPECT_FALLBACK, s, &[]).unwrap_err(),
            DontStore::ServerError
        );
    }
    let lm = [("date", at(0)), ("last-modified", at(-100_000))];
    let lm: Vec<(&str, &str)> = lm.iter().map(|(k, v)| (*k, v.as_str())).collect();
    assert_eq!(stored(RESPECT_HEURISTIC, 501, &lm).fresh_for, 10_000);
    assert_eq!(
        store(RESPECT_HEURISTIC, 500, &lm).unwrap_err(),
        DontStore::ServerError
    );
    assert_eq!(
        store(RESPECT, 501, &lm).unwrap_err(),
        DontStore::ServerError
    );
}

#[test]
fn private_and_no_store_never_stored_in_any_mode() {
    for src in [RESPECT, OVERRIDE, CAP] {
        assert_eq!(
            store(src, 200, &[("cache-control", "private, max-age=600")]).unwrap_err(),
            DontStore::Rfc(NotStorable::Private)
        );
        assert_eq!(
            store(src, 200, &[("cache-control", "no-store, max-age=600")]).unwrap_err(),
            DontStore::Rfc(NotStorable::NoStore)
        );
    }
}

#[test]
fn request_no_store_is_not_stored() {
    let e = store_with(
        OVERRIDE,
        "https://example.com/page",
        &[("cache-control", "no-store")],
        200,
        &[],
        0.5,
    )
    .unwrap_err();
    assert_eq!(e, DontStore::RequestNoStore);
}

#[test]
fn set_cookie_uncacheable_by_default() {
    let e = store(
        OVERRIDE,
        200,
        &[
            ("set-cookie", "sid=1; HttpOnly"),
            ("cache-control", "max-age=60"),
        ],
    )
    .unwrap_err();
    assert_eq!(e, DontStore::Rfc(NotStorable::SetCookie));
}

#[test]
fn set_cookie_strip_stores_without_it() {
    let src = format!("{OVERRIDE}set_cookie = \"strip\"\n");
    let s = store(
        &src,
        200,
        &[
            ("set-cookie", "sid=1; HttpOnly"),
            ("set-cookie", "ab=b"),
            ("content-type", "text/html"),
        ],
    )
    .unwrap();
    assert!(!s.headers.contains_key("set-cookie"));
    assert_eq!(s.headers.get("content-type").unwrap(), "text/html");
    assert_eq!(s.meta.fresh_for, 600);
}

#[test]
fn vary_star_refused_and_vary_captured() {
    assert_eq!(
        store(OVERRIDE, 200, &[("vary", "Accept-Language, *")]).unwrap_err(),
        DontStore::Rfc(NotStorable::VaryStar)
    );
    let s = store_with(
        OVERRIDE,
        "https://example.com/page",
        &[("accept-language", "en-GB")],
        200,
        &[("vary", "Accept-Language, X-Absent")],
        0.5,
    )
    .unwrap();
    assert_eq!(
        s.meta.vary,
        vec![
            // language ranges are case-insensitive (RFC 4647 §2): captured normalised (§4.1)
            ("accept-language".to_string(), Some("en-gb".to_string())),
            ("x-absent".to_string(), None),
        ]
    );
}

#[test]
fn authorization_on_public_route_still_needs_section_3_5() {
    let src = "[defaults]\npublic_authorization = true\norigin_cache_control = \"respect\"\n";
    let req = [("authorization", "Bearer t")];
    let e = store_with(
        src,
        "https://example.com/api",
        &req,
        200,
        &[("cache-control", "max-age=60")],
        0.5,
    )
    .unwrap_err();
    assert_eq!(e, DontStore::Rfc(NotStorable::Authorization));
    let ok = store_with(
        src,
        "https://example.com/api",
        &req,
        200,
        &[("cache-control", "public, max-age=60")],
        0.5,
    );
    assert_eq!(ok.unwrap().meta.fresh_for, 60);
}

#[test]
fn zero_ttl_without_windows_or_validators_is_not_stored() {
    let src = "[defaults]\nstale_while_revalidate = \"0\"\nstale_if_error = \"0\"\n";
    assert_eq!(
        store(src, 200, &[("cache-control", "max-age=0")]).unwrap_err(),
        DontStore::ZeroTtl
    );
    // With a validator it is kept, to be revalidated.
    let m = stored(
        src,
        200,
        &[("cache-control", "max-age=0"), ("etag", "\"v1\"")],
    );
    assert_eq!(m.fresh_for, 0);
    assert_eq!(m.etag.as_deref(), Some("\"v1\""));
}

// ---------------------------------------------------------------- plan_store: what is kept

#[test]
fn hop_by_hop_and_connection_listed_not_stored() {
    let s = store(
        OVERRIDE,
        200,
        &[
            ("connection", "x-internal, keep-alive"),
            ("x-internal", "secret"),
            ("keep-alive", "timeout=5"),
            ("transfer-encoding", "chunked"),
            ("proxy-authenticate", "Basic"),
            ("content-type", "text/html"),
            ("etag", "\"a\""),
        ],
    )
    .unwrap();
    for gone in [
        "connection",
        "x-internal",
        "keep-alive",
        "transfer-encoding",
        "proxy-authenticate",
    ] {
        assert!(!s.headers.contains_key(gone), "{gone}");
    }
    assert_eq!(s.headers.get("content-type").unwrap(), "text/html");
    assert_eq!(s.headers.get("etag").unwrap(), "\"a\"");
}

#[test]
fn connection_listed_cache_control_cannot_steer_caching() {
    // A Cache-Control named in Connection is hop-by-hop: removed before it is read.
    let e = store(
        RESPECT,
        200,
        &[
            ("connection", "cache-control"),
            ("cache-control", "max-age=600"),
        ],
    )
    .unwrap_err();
    assert_eq!(e, DontStore::Rfc(NotStorable::NoExplicitFreshness));
}

#[test]
fn must_revalidate_in_respect_mode() {
    for cc in [
        "max-age=60, must-revalidate",
        "max-age=60, proxy-revalidate",
        "s-maxage=60",
    ] {
        let m = stored(RESPECT, 200, &[("cache-control", cc)]);
        assert!(m.must_revalidate, "{cc}");
    }
    let m = stored(RESPECT, 200, &[("cache-control", "max-age=60")]);
    assert!(!m.must_revalidate);
    // The origin's explicit stale-while-revalidate allows stale serving despite s-maxage.
    let m = stored(
        RESPECT,
        200,
        &[("cache-control", "s-maxage=60, stale-while-revalidate=30")],
    );
    assert!(!m.must_revalidate);
    assert_eq!(m.swr, 30);
}

#[test]
fn must_revalidate_in_cap_and_override() {
    // Cap: s-maxage is only an upper bound; must-revalidate still holds.
    assert!(!stored(CAP, 200, &[("cache-control", "s-maxage=60")]).must_revalidate);
    assert!(
        stored(
            CAP,
            200,
            &[("cache-control", "max-age=60, must-revalidate")]
        )
        .must_revalidate
    );
    assert!(
        !stored(
            OVERRIDE,
            200,
            &[("cache-control", "s-maxage=60, must-revalidate")]
        )
        .must_revalidate
    );
}

/// RFC 9111 §5.2.2.10: s-maxage "incorporates the semantics of the proxy-revalidate response
/// directive" and §4.2.4 forbids stale responses it prohibits. RFC 5861 `stale-if-error` only
/// permits stale content on an error, so the rule's stale-while-revalidate window must not apply.
#[test]
fn s_maxage_with_only_stale_if_error_never_serves_stale_while_revalidating() {
    let m = stored(
        RESPECT,
        200,
        &[("cache-control", "s-maxage=60, stale-if-error=300")],
    );
    assert_eq!(m.sie, 300);
    assert!(
        !matches!(hit(&m, 70), HitPlan::Stale { .. }),
        "served stale without an error: {:?} (swr {})",
        hit(&m, 70),
        m.swr
    );
    assert!(serve_stale_on_error(&m, NOW + 70));
}

/// Same rule the other way: `s-maxage` + only `stale-while-revalidate` gives no permission to
/// serve stale on error beyond that window (§5.2.2.2/§5.2.2.8: answer 504 instead).
#[test]
fn s_maxage_with_only_stale_while_revalidate_never_serves_stale_on_error_past_it() {
    let m = stored(
        RESPECT,
        200,
        &[("cache-control", "s-maxage=60, stale-while-revalidate=30")],
    );
    assert!(
        !serve_stale_on_error(&m, NOW + 60 + 600),
        "stale-if-error window {} taken from the rule",
        m.sie
    );
}

#[test]
fn no_cache_flag() {
    assert!(stored(RESPECT, 200, &[("cache-control", "no-cache, max-age=60")]).no_cache);
    // Qualified no-cache only strips the named field.
    let s = store(
        RESPECT,
        200,
        &[
            ("cache-control", "no-cache=\"x-user\", max-age=60"),
            ("x-user", "alice"),
        ],
    )
    .unwrap();
    assert!(!s.meta.no_cache);
    assert!(!s.headers.contains_key("x-user"));
}

#[test]
fn tags_from_headers_and_rule() {
    let p = policy(DEMO);
    let req = HeaderMap::new();
    let plan = cache_plan(&p, Method::GET, "https://example.com/articles/7", &req);
    let resp = hm(&[
        ("cache-control", "s-maxage=60"),
        ("cache-tag", "article-7, author-3"),
        ("surrogate-key", "front  sports"),
    ]);
    let s = plan_store(&plan, &req, &origin(200, &resp), 0.5).unwrap();
    assert_eq!(
        s.meta.tags,
        ["articles", "article-7", "author-3", "front", "sports"]
    );
    assert_eq!(s.meta.rule, "articles");
    assert_eq!(s.meta.key, "https://example.com/articles/7");
    assert_eq!(s.meta.origin_cc.as_deref(), Some("s-maxage=60"));
    assert_eq!(s.meta.fetch_ms, 120);
    assert_eq!(s.meta.stored_at_ms, NOW * 1000);
}

#[test]
fn jitter_bounds() {
    assert_eq!(jitter(1000, 10, 0.0), 900);
    assert_eq!(jitter(1000, 10, 0.5), 1000);
    for i in 0..1000 {
        let r = f64::from(i) / 1000.0;
        let j = jitter(1000, 10, r);
        assert!((900..=1100).contains(&j), "r={r}: {j}");
    }
    assert_eq!(jitter(1000, 0, 0.9), 1000);
    assert_eq!(jitter(0, 50, 0.9), 0);
    // Never rounds a positive lifetime down to zero.
    assert_eq!(jitter(1, 50, 0.0), 1);
}

#[test]
fn jitter_applied_to_stored_lifetime() {
    let src = format!("{OVERRIDE}jitter_percent = 20\n");
    let lo = store_with(&src, "https://example.com/p", &[], 200, &[], 0.0).unwrap();
    let hi = store_with(&src, "https://example.com/p", &[], 200, &[], 0.75).unwrap();
    assert_eq!(lo.meta.fresh_for, 480);
    assert_eq!(hi.meta.fresh_for, 660);
}

#[test]
fn initial_age_from_age_and_date() {
    let p = policy(OVERRIDE);
    let req = HeaderMap::new();
    let plan = cache_plan(&p, Method::GET, "https://example.com/p", &req);
    let o = |resp: &HeaderMap, request_time: u64| {
        plan_store(
            &plan,
            &req,
            &OriginResponse {
                request_time,
                ..origin(200, resp)
            },
            0.5,
        )
        .unwrap()
        .meta
        .initial_age
    };
    // apparent_age = 30 beats age_value + response_delay = 10 + 2.
    assert_eq!(o(&hm(&[("date", &at(-30)), ("age", "10")]), NOW - 2), 30);
    // corrected_age_value = 100 + 2 beats apparent_age 0.
    assert_eq!(o(&hm(&[("date", &at(0)), ("age", "100")]), NOW - 2), 102);
    // Neither: 0.
    assert_eq!(o(&hm(&[]), NOW), 0);
}

// ---------------------------------------------------------------- plan_hit: the clock

#[test]
fn fresh_then_swr_then_sie_then_expired() {
    let m = meta(60, 30, 300);
    assert_eq!(
        hit(&m, 0),
        HitPlan::Fresh {
            age: 0,
            ttl: 60,
            refresh: false
        }
    );
    assert_eq!(
        hit(&m, 59),
        HitPlan::Fresh {
            age: 59,
            ttl: 1,
            refresh: false
        }
    );
    // Exactly at expiry the entry is stale (fresh iff lifetime > age).
    assert_eq!(
        hit(&m, 60),
        HitPlan::Stale {
            age: 60,
            ttl: 0,
            soft_purge: false
        }
    );
    assert_eq!(
        hit(&m, 89),
        HitPlan::Stale {
            age: 89,
            ttl: -29,
            soft_purge: false
        }
    );
    // The swr window is half-open: at its end, revalidate first.
    let stale = RevalidateReason::Stale;
    assert_eq!(
        hit(&m, 90),
        HitPlan::Revalidate {
            age: 90,
            ttl: -30,
            reason: stale
        }
    );
    assert!(serve_stale_on_error(&m, NOW + 90));
    assert_eq!(
        hit(&m, 359),
        HitPlan::Revalidate {
            age: 359,
            ttl: -299,
            reason: stale
        }
    );
    assert!(serve_stale_on_error(&m, NOW + 359));
    // Beyond both windows without validators: a miss, and no stale on error.
    assert_eq!(hit(&m, 360), HitPlan::Miss(MissReason::Expired));
    assert!(!serve_stale_on_error(&m, NOW + 360));
    assert_eq!(MissReason::Expired.fwd(), Fwd::Stale);
}

#[test]
fn beyond_windows_with_validators_revalidates() {
    let mut m = meta(60, 30, 300);
    m.etag = Some("\"v1\"".into());
    assert!(matches!(
        hit(&m, 10_000),
        HitPlan::Revalidate {
            reason: RevalidateReason::Stale,
            ..
        }
    ));
    let mut m = meta(60, 0, 0);
    m.last_modified = Some(at(-86_400));
    assert!(matches!(hit(&m, 61), HitPlan::Revalidate { .. }));
}

#[test]
fn age_includes_initial_age() {
    let mut m = meta(60, 0, 0);
    m.initial_age = 50;
    assert_eq!(
        hit(&m, 5),
        HitPlan::Fresh {
            age: 55,
            ttl: 5,
            refresh: false
        }
    );
    assert_eq!(hit(&m, 10), HitPlan::Miss(MissReason::Expired));
}

#[test]
fn must_revalidate_is_never_served_stale() {
    let mut m = meta(60, 30, 300);
    m.must_revalidate = true;
    assert!(matches!(hit(&m, 30), HitPlan::Fresh { .. }));
    for later in [60, 70, 100, 300] {
        assert!(
            matches!(hit(&m, later), HitPlan::Revalidate { .. }),
            "{later}: {:?}",
            hit(&m, later)
        );
        assert!(!serve_stale_on_error(&m, NOW + later), "{later}");
    }
    // Even with the client's max-stale.
    assert!(matches!(
        hit_req(&m, 70, &[("cache-control", "max-stale=1000")]),
        HitPlan::Revalidate { .. }
    ));
}

#[test]
fn no_cache_entry_is_revalidated_every_time() {
    let mut m = meta(600, 30, 300);
    m.no_cache = true;
    for later in [0, 10, 599, 610] {
        assert_eq!(
            hit(&m, later),
            HitPlan::Revalidate {
                age: later,
                ttl: 600 - later as i64,
                reason: RevalidateReason::NoCache
            }
        );
    }
    assert!(!serve_stale_on_error(&m, NOW + 610));
}

#[test]
fn soft_purge_serves_stale_once() {
    let m = meta(600, 30, 300);
    let p = plan_hit(
        &rule(),
        &m,
        &HeaderMap::new(),
        &RequestDirectives::default(),
        PurgeState::Soft,
        NOW + 10,
        0.5,
    );
    match p {
        HitPlan::Stale {
            age,
            ttl,
            soft_purge,
        } => {
            assert!(soft_purge);
            assert_eq!(age, 10);
            assert!(ttl < 0, "a soft-purged entry reports as stale: {ttl}");
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(p.as_str(), "stale-while-revalidate");
}

#[test]
fn soft_purge_of_must_revalidate_entry_revalidates() {
    let mut m = meta(600, 30, 300);
    m.must_revalidate = true;
    let p = plan_hit(
        &rule(),
        &m,
        &HeaderMap::new(),
        &RequestDirectives::default(),
        PurgeState::Soft,
        NOW + 10,
        0.5,
    );
    assert!(matches!(p, HitPlan::Revalidate { .. }), "{p:?}");
}

/// §5.2.2.4: a no-cache response "MUST NOT be used to satisfy any other request without
/// forwarding it for validation"; a soft purge must not serve it unvalidated.
#[test]
fn soft_purge_of_no_cache_entry_revalidates() {
    let mut m = meta(600, 30, 300);
    m.no_cache = true;
    let p = plan_hit(
        &rule(),
        &m,
        &HeaderMap::new(),
        &RequestDirectives::default(),
        PurgeState::Soft,
        NOW + 10,
        0.5,
    );
    assert!(matches!(p, HitPlan::Revalidate { .. }), "{p:?}");
}

#[test]
fn hard_purge_and_bad_meta_are_misses() {
    let m = meta(600, 30, 300);
    let p = plan_hit(
        &rule(),
        &m,
        &HeaderMap::new(),
        &RequestDirectives::default(),
        PurgeState::Hard,
        NOW + 10,
        0.5,
    );
    assert_eq!(p, HitPlan::Miss(MissReason::Purged));
    assert_eq!(p.as_str(), "miss");
    let mut old = meta(600, 30, 300);
    old.v = META_VERSION + 1;
    assert_eq!(hit(&old, 0), HitPlan::Miss(MissReason::BadMeta));
}

#[test]
fn vary_mismatch_is_a_miss() {
    let mut m = meta(600, 0, 0);
    m.vary = vec![("accept-language".into(), Some("en".into()))];
    assert!(matches!(
        hit_req(&m, 0, &[("accept-language", "en")]),
        HitPlan::Fresh { .. }
    ));
    for req in [&[("accept-language", "fr")][..], &[]] {
        assert_eq!(hit_req(&m, 0, req), HitPlan::Miss(MissReason::VaryMismatch));
    }
    assert_eq!(MissReason::VaryMismatch.fwd(), Fwd::VaryMiss);
}

#[test]
fn request_max_age_min_fresh_no_cache_revalidate() {
    let m = meta(60, 30, 300);
    let request = RevalidateReason::Request;
    // max-age: age 20 > 10.
    assert_eq!(
        hit_req(&m, 20, &[("cache-control", "max-age=10")]),
        HitPlan::Revalidate {
            age: 20,
            ttl: 40,
            reason: request
        }
    );
    // age == max-age is acceptable.
    assert!(matches!(
        hit_req(&m, 20, &[("cache-control", "max-age=20")]),
        HitPlan::Fresh { .. }
    ));
    // min-fresh: ttl 40 >= 40 ok, ttl 39 < 40 not.
    assert!(matches!(
        hit_req(&m, 20, &[("cache-control", "min-fresh=40")]),
        HitPlan::Fresh { .. }
    ));
    assert!(matches!(
        hit_req(&m, 21, &[("cache-control", "min-fresh=40")]),
        HitPlan::Revalidate {
            reason: RevalidateReason::Request,
            ..
        }
    ));
    for req in [("cache-control", "no-cache"), ("pragma", "no-cache")] {
        assert!(matches!(
            hit_req(&m, 0, &[req]),
            HitPlan::Revalidate {
                reason: RevalidateReason::Request,
                ..
            }
        ));
    }
}

#[test]
fn max_stale_lets_a_stale_entry_through() {
    let m = meta(60, 0, 0);
    // Without it: expired.
    assert_eq!(hit(&m, 100), HitPlan::Miss(MissReason::Expired));
    let served = hit_req(&m, 100, &[("cache-control", "max-stale=40")]);
    assert!(
        matches!(
            served,
            HitPlan::Fresh { ttl: -40, .. } | HitPlan::Stale { ttl: -40, .. }
        ),
        "{served:?}"
    );
    // Stale by more than max-stale: not served.
    assert_eq!(
        hit_req(&m, 101, &[("cache-control", "max-stale=40")]),
        HitPlan::Miss(MissReason::Expired)
    );
    // Bare max-stale: any staleness.
    assert!(!matches!(
        hit_req(&m, 100_000, &[("cache-control", "max-stale")]),
        HitPlan::Miss(_) | HitPlan::Revalidate { .. }
    ));
}

#[test]
fn xfetch_early_refresh_in_plan_hit() {
    let mut r = rule();
    r.xfetch_beta = 1.0;
    let mut m = meta(60, 0, 0);
    m.fetch_ms = 2000;
    let at59 = |rand| {
        plan_hit(
            &r,
            &m,
            &HeaderMap::new(),
            &RequestDirectives::default(),
            PurgeState::Clean,
            NOW + 59,
            rand,
        )
    };
    assert_eq!(
        at59(1e-9),
        HitPlan::Fresh {
            age: 59,
            ttl: 1,
            refresh: true
        }
    );
    assert_eq!(
        at59(0.99),
        HitPlan::Fresh {
            age: 59,
            ttl: 1,
            refresh: false
        }
    );
}

// ---------------------------------------------------------------- xfetch

#[test]
fn xfetch_off_cases() {
    for r in [1e-300, 1e-9, 0.0, 0.5] {
        assert!(!xfetch(0.0, 5000, 10, r), "beta 0, r={r}");
        assert!(!xfetch(1.0, 5000, 0, r), "ttl 0, r={r}");
        assert!(!xfetch(1.0, 5000, -5, r), "ttl < 0, r={r}");
    }
}

#[test]
fn xfetch_rand_near_one_never_fires() {
    for ttl in [1, 10, 1000] {
        assert!(!xfetch(10.0, 60_000, ttl, 1.0), "{ttl}");
        assert!(!xfetch(10.0, 60_000, ttl, 0.999_999_999), "{ttl}");
    }
}

#[test]
fn xfetch_tiny_rand_fires() {
    // -1s * 1 * ln(1e-9) ≈ 20.7 >= 10.
    assert!(xfetch(1.0, 1000, 10, 1e-9));
    // rand 0 is clamped, not -inf/NaN: fires for a plausible ttl.
    assert!(xfetch(1.0, 1000, 100, 0.0));
    // ... but not when the ttl is far beyond delta * beta * 708.
    assert!(!xfetch(1.0, 1000, 10_000, 0.0));
}

#[test]
fn xfetch_rate_rises_as_ttl_shrinks() {
    const N: u32 = 2000;
    let rate = |ttl: i64| {
        (0..N)
            .filter(|i| xfetch(1.0, 10_000, ttl, (f64::from(*i) + 0.5) / f64::from(N)))
            .count()
    };
    let ttls = [100, 50, 30, 20, 10, 5, 2, 1];
    let rates: Vec<usize> = ttls.iter().map(|t| rate(*t)).collect();
    for w in rates.windows(2) {
        assert!(w[0] <= w[1], "not monotone: {rates:?}");
    }
    assert!(rates[0] < rates[ttls.len() - 1], "{rates:?}");
    // P(fire) = exp(-ttl / (delta * beta)): ttl 10, delta 10s → e^-1 ≈ 0.368.
    let p10 = rate(10) as f64 / f64::from(N);
    assert!((p10 - (-1.0f64).exp()).abs() < 0.01, "{p10}");
}

// ---------------------------------------------------------------- client_headers

fn status_hit() -> CacheStatus {
    CacheStatus {
        hit: true,
        ttl: Some(40),
        ..CacheStatus::default()
    }
}

#[test]
fn browser_cache_control_rewritten_in_override_and_cap() {
    let p = policy(OVERRIDE);
    let stored = hm(&[("cache-control", "s-maxage=600, max-age=5")]);
    let h = client_headers(&p.defaults, &stored, true, Some(20), &status_hit(), None);
    assert_eq!(h.get("cache-control").unwrap(), "public, max-age=120");
    let p = policy(CAP);
    let h = client_headers(&p.defaults, &stored, true, Some(20), &status_hit(), None);
    assert_eq!(
        h.get("cache-control").unwrap(),
        "public, max-age=0, must-revalidate"
    );
    // Not cached (a pass-through): untouched.
    let h = client_headers(&p.defaults, &stored, false, None, &status_hit(), None);
    assert_eq!(h.get("cache-control").unwrap(), "s-maxage=600, max-age=5");
}

#[test]
fn browser_cache_control_untouched_in_respect() {
    let p = policy(RESPECT);
    let stored = hm(&[("cache-control", "s-maxage=600, max-age=5")]);
    let h = client_headers(&p.defaults, &stored, true, Some(20), &status_hit(), None);
    assert_eq!(h.get("cache-control").unwrap(), "s-maxage=600, max-age=5");
}

#[test]
fn age_set_on_hits_only_when_given() {
    let p = policy(RESPECT);
    let stored = hm(&[("age", "3")]);
    let h = client_headers(&p.defaults, &stored, true, Some(42), &status_hit(), None);
    assert_eq!(h.get_all("age").iter().count(), 1);
    assert_eq!(h.get("age").unwrap(), "42");
    let h = client_headers(&p.defaults, &stored, false, None, &status_hit(), None);
    assert_eq!(h.get("age").unwrap(), "3");
}

#[test]
fn cache_status_appended_after_upstream_member() {
    let p = policy(RESPECT);
    let ours = status_hit().to_header_value();
    let h = client_headers(
        &p.defaults,
        &hm(&[("cache-status", "OriginCache; hit")]),
        true,
        Some(1),
        &status_hit(),
        None,
    );
    assert_eq!(
        h.get("cache-status").unwrap().to_str().unwrap(),
        format!("OriginCache; hit, {ours}")
    );
    let h = client_headers(
        &p.defaults,
        &HeaderMap::new(),
        true,
        Some(1),
        &status_hit(),
        None,
    );
    assert_eq!(h.get("cache-status").unwrap().to_str().unwrap(), ours);
    assert!(ours.starts_with("edgecache; hit"), "{ours}");
}

#[test]
fn tag_headers_removed_unless_kept() {
    let stored = hm(&[
        ("cache-tag", "a,b"),
        ("surrogate-key", "c"),
        (META_HEADER, "{}"),
        ("content-type", "text/html"),
    ]);
    let p = policy(RESPECT);
    let h = client_headers(&p.defaults, &stored, true, Some(0), &status_hit(), None);
    assert!(!h.contains_key("cache-tag"));
    assert!(!h.contains_key("surrogate-key"));
    assert!(!h.contains_key(META_HEADER));
    assert_eq!(h.get("content-type").unwrap(), "text/html");
    let p = policy(&format!("{RESPECT}keep_tag_headers = true\n"));
    let h = client_headers(&p.defaults, &stored, true, Some(0), &status_hit(), None);
    assert_eq!(h.get("cache-tag").unwrap(), "a,b");
    assert_eq!(h.get("surrogate-key").unwrap(), "c");
    assert!(!h.contains_key(META_HEADER));
}

#[test]
fn stored_copy_carries_the_zone_purge_cache_tag_and_hits_get_the_origin_s_back() {
    use edgecache::meta::{restore_stored, stored_headers};
    use edgecache::purge::zone::{stored_cache_tag, url_tag};
    let origin = hm(&[("cache-tag", "A, b"), ("content-type", "text/html")]);
    let mut meta = meta(60, 0, 0);
    meta.key = "https://e.com/x?__ec_vary=accept%3Atext".into();
    meta.tags = vec!["site".into(), "A".into(), "b".into(), "has space".into()];
    let stored = stored_headers(&origin, &meta, 60);
    // What the zone purge API matches on: the URL's tag (vary part ignored), then the tags.
    let v = stored.get("cache-tag").unwrap().to_str().unwrap();
    assert_eq!(v, stored_cache_tag(&meta.tags, &meta.key));
    assert_eq!(v, format!("{},site,A,b", url_tag("https://e.com/x")));
    assert_eq!(stored.get_all("cache-tag").iter().count(), 1);
    // A hit (or a revalidation) sees the origin's own field, byte for byte.
    let m = EntryMeta::decode(stored.get(META_HEADER).unwrap().to_str().unwrap()).unwrap();
    let back = restore_stored(&stored, &m);
    assert_eq!(back.get("cache-tag").unwrap(), "A, b");
    assert_eq!(
        edgecache::tags::collect(&policy(RESPECT).defaults, &back),
        ["A", "b"]
    );
    // And the browser gets none of it unless the rule keeps tag headers.
    let h = client_headers(
        &policy(RESPECT).defaults,
        &back,
        true,
        Some(0),
        &status_hit(),
        None,
    );
    assert!(!h.contains_key("cache-tag"));
}

#[test]
fn debug_header_only_when_given() {
    let p = policy(RESPECT);
    let h = client_headers(
        &p.defaults,
        &HeaderMap::new(),
        true,
        None,
        &status_hit(),
        None,
    );
    assert!(!h.contains_key(DEBUG_HEADER));
    let h = client_headers(
        &p.defaults,
        &HeaderMap::new(),
        true,
        None,
        &status_hit(),
        Some("rule=default key=https://example.com/"),
    );
    assert_eq!(
        h.get(DEBUG_HEADER).unwrap(),
        "rule=default key=https://example.com/"
    );
}

// ---------------------------------------------------------------- client_not_modified

#[test]
fn if_none_match_strong_and_weak() {
    let stored = hm(&[("etag", "\"v1\"")]);
    assert!(client_not_modified(
        &hm(&[("if-none-match", "\"v1\"")]),
        &stored,
        None
    ));
    assert!(client_not_modified(
        &hm(&[("if-none-match", "W/\"v1\"")]),
        &stored,
        None
    ));
    assert!(!client_not_modified(
        &hm(&[("if-none-match", "\"v2\"")]),
        &stored,
        None
    ));
    let weak = hm(&[("etag", "W/\"v1\"")]);
    assert!(client_not_modified(
        &hm(&[("if-none-match", "\"v1\"")]),
        &weak,
        None
    ));
}

#[test]
fn if_none_match_lists_and_star() {
    let stored = hm(&[("etag", "\"v3\"")]);
    assert!(client_not_modified(
        &hm(&[("if-none-match", "\"v1\", W/\"v2\" , \"v3\"")]),
        &stored,
        None
    ));
    assert!(!client_not_modified(
        &hm(&[("if-none-match", "\"v1\", \"v2\"")]),
        &stored,
        None
    ));
    assert!(client_not_modified(
        &hm(&[("if-none-match", "*")]),
        &stored,
        None
    ));
    // No stored ETag: nothing matches, not even `*` (a 200 is always a correct answer).
    assert!(!client_not_modified(
        &hm(&[("if-none-match", "*")]),
        &HeaderMap::new(),
        None
    ));
}

/// RFC 9110 §5.3: several field lines of a list field combine with commas, so two
/// If-None-Match lines mean the same as one line listing both tags (§13.1.2).
#[test]
fn if_none_match_over_several_lines() {
    let stored = hm(&[("etag", "\"v3\"")]);
    assert!(client_not_modified(
        &hm(&[("if-none-match", "\"v1\""), ("if-none-match", "\"v3\"")]),
        &stored,
        None
    ));
    assert!(!client_not_modified(
        &hm(&[("if-none-match", "\"v1\""), ("if-none-match", "\"v2\"")]),
        &stored,
        None
    ));
}

#[test]
fn if_modified_since_only_without_if_none_match() {
    let stored = hm(&[("etag", "\"v1\""), ("last-modified", &at(-3600))]);
    assert!(client_not_modified(
        &hm(&[("if-modified-since", &at(-3600))]),
        &stored,
        None
    ));
    assert!(client_not_modified(
        &hm(&[("if-modified-since", &at(-60))]),
        &stored,
        None
    ));
    assert!(!client_not_modified(
        &hm(&[("if-modified-since", &at(-7200))]),
        &stored,
        None
    ));
    // A non-matching If-None-Match wins over a satisfied If-Modified-Since.
    assert!(!client_not_modified(
        &hm(&[("if-none-match", "\"v0\""), ("if-modified-since", &at(0))]),
        &stored,
        None
    ));
    // Garbage dates never match.
    assert!(!client_not_modified(
        &hm(&[("if-modified-since", "yesterday")]),
        &stored,
        None
    ));
}

/// RFC 9111 §4.3.2: without Last-Modified the stored Date counts, and without that the time the
/// cache received the response.
#[test]
fn if_modified_since_falls_back_to_date_then_receipt() {
    let dated = hm(&[("date", &at(-3600))]);
    assert!(client_not_modified(
        &hm(&[("if-modified-since", &at(-60))]),
        &dated,
        None
    ));
    assert!(!client_not_modified(
        &hm(&[("if-modified-since", &at(-7200))]),
        &dated,
        None
    ));
    // Last-Modified wins over Date when both are present.
    let both = hm(&[("date", &at(-60)), ("last-modified", &at(-7200))]);
    assert!(client_not_modified(
        &hm(&[("if-modified-since", &at(-3600))]),
        &both,
        None
    ));
    // Neither: the receipt time.
    let received = NOW - 3600;
    let ims = hm(&[("if-modified-since", &at(-60))]);
    assert!(client_not_modified(&ims, &HeaderMap::new(), Some(received)));
    assert!(!client_not_modified(&ims, &HeaderMap::new(), None));
    let early = hm(&[("if-modified-since", &at(-7200))]);
    assert!(!client_not_modified(
        &early,
        &HeaderMap::new(),
        Some(received)
    ));
    // Two If-Modified-Since lines are not one valid date: ignored.
    let two = hm(&[
        ("if-modified-since", &at(-60)),
        ("if-modified-since", &at(-60)),
    ]);
    assert!(!client_not_modified(&two, &dated, None));
}

/// RFC 9110 §8.8.3: an opaque-tag may contain commas; lists are split between tags only.
#[test]
fn entity_tags_with_commas_and_malformed_lists() {
    let stored = hm(&[("etag", "\"a,b\"")]);
    assert!(client_not_modified(
        &hm(&[("if-none-match", "\"x\", \"a,b\"")]),
        &stored,
        None
    ));
    assert!(!client_not_modified(
        &hm(&[("if-none-match", "\"a\", \"b\"")]),
        &stored,
        None
    ));
    assert!(client_not_modified(
        &hm(&[("if-none-match", "W/\"a,b\"")]),
        &stored,
        None
    ));
    // Malformed lists and stored tags match nothing.
    for bad in ["a,b", "\"a,b", "W/a,b", "\"a,b\"x"] {
        assert!(
            !client_not_modified(&hm(&[("if-none-match", bad)]), &stored, None),
            "{bad}"
        );
    }
    let unquoted = hm(&[("etag", "v1")]);
    assert!(!client_not_modified(
        &hm(&[("if-none-match", "\"v1\"")]),
        &unquoted,
        None
    ));
}

// ---------------------------------------------------------------- invalidations

#[test]
fn post_2xx_invalidates_url_and_same_origin_location() {
    let p = policy(DEMO);
    let keys = invalidations(
        &p,
        &Method::POST,
        &url("https://Example.com/articles/1?utm_source=x&b=1"),
        &HeaderMap::new(),
        201,
        &hm(&[("location", "/articles/2?gclid=z")]),
    );
    assert_eq!(
        keys,
        [
            "https://example.com/articles/1?b=1",
            "https://example.com/articles/2"
        ]
    );
}

#[test]
fn server_error_invalidates_nothing() {
    let p = policy(DEMO);
    for s in [500, 503, 404] {
        let keys = invalidations(
            &p,
            &Method::POST,
            &url("https://example.com/articles/1"),
            &HeaderMap::new(),
            s,
            &hm(&[("location", "/articles/2")]),
        );
        assert!(keys.is_empty(), "{s}: {keys:?}");
    }
    // Safe methods never invalidate.
    assert!(invalidations(
        &p,
        &Method::GET,
        &url("https://example.com/articles/1"),
        &HeaderMap::new(),
        200,
        &HeaderMap::new()
    )
    .is_empty());
}

#[test]
fn cross_origin_location_ignored() {
    let p = policy(DEMO);
    let keys = invalidations(
        &p,
        &Method::DELETE,
        &url("https://example.com/articles/1"),
        &HeaderMap::new(),
        204,
        &hm(&[
            ("location", "https://evil.example/articles/2"),
            ("content-location", "http://example.com/articles/3"),
        ]),
    );
    assert_eq!(keys, ["https://example.com/articles/1"]);
}

// ---------------------------------------------------------------- end to end

#[test]
fn articles_rule_request_store_hit_cycle() {
    let p = policy(DEMO);
    let req = hm(&[("cookie", "_ga=1"), ("accept", "text/html")]);
    let plan = cache_plan(
        &p,
        Method::GET,
        "https://example.com/articles/42?utm_medium=x",
        &req,
    );
    assert_eq!(plan.rule.name, "articles");
    let resp = hm(&[
        ("cache-control", "public, max-age=0, s-maxage=3600"),
        ("etag", "\"42\""),
        ("cache-tag", "article-42"),
        ("date", &at(0)),
    ]);
    // jitter 10%: r = 0.5 keeps the capped 600s exactly.
    let s = plan_store(&plan, &req, &origin(200, &resp), 0.5).unwrap();
    let m = &s.meta;
    assert_eq!(m.fresh_for, 600);
    assert_eq!((m.swr, m.sie), (300, 86_400));
    assert!(!m.must_revalidate, "cap mode: the rule's windows apply");
    let r = p.rule(&m.rule).unwrap();
    let d = RequestDirectives::default();
    let h = |later| plan_hit(r, m, &req, &d, PurgeState::Clean, NOW + later, 0.5);
    assert_eq!(h(599).as_str(), "fresh");
    assert_eq!(h(600).as_str(), "stale-while-revalidate");
    assert_eq!(h(899).as_str(), "stale-while-revalidate");
    assert_eq!(h(900).as_str(), "revalidate");
    assert_eq!(h(1_000_000).as_str(), "revalidate"); // it has an ETag
                                                     // What the browser gets on a hit: cap mode rewrites Cache-Control, browser_ttl 0.
    let st = CacheStatus {
        hit: true,
        ttl: Some(m.ttl(NOW + 10)),
        ..CacheStatus::default()
    };
    let out = client_headers(r, &s.headers, true, Some(m.age(NOW + 10)), &st, None);
    assert_eq!(
        out.get("cache-control").unwrap(),
        "public, max-age=0, must-revalidate"
    );
    assert_eq!(out.get("age").unwrap(), "10");
    assert!(!out.contains_key("cache-tag"));
}

/// RFC 9111 §5.2.2.2: once stale per the origin's own lifetime (§4.2.1: max-age), a
/// must-revalidate response MUST NOT be reused without validation, so jitter may shorten its
/// edge lifetime but never lengthen it.
#[test]
fn jitter_never_extends_a_must_revalidate_lifetime() {
    let src = format!("{RESPECT}jitter_percent = 10\n");
    let s = store_with(
        &src,
        "https://example.com/page",
        &[],
        200,
        &[("cache-control", "max-age=100, must-revalidate")],
        0.99,
    )
    .unwrap();
    assert!(s.meta.fresh_for <= 100, "fresh_for {}", s.meta.fresh_for);
    assert!(!matches!(hit(&s.meta, 105), HitPlan::Fresh { .. }));
}

// A minimal respect policy is a plain RFC 9111 shared cache: the built-in defaults (edge TTL,
// stale windows, status TTLs) only extend it when the policy writes them.

const MINIMAL_RESPECT: &str = r#"
[defaults]
origin_cache_control = "respect"
"#;

#[test]
fn minimal_respect_stores_nothing_without_explicit_freshness() {
    assert_eq!(
        store(MINIMAL_RESPECT, 200, &[("etag", "\"a\"")]).err(),
        Some(DontStore::Rfc(NotStorable::NoExplicitFreshness))
    );
    // 404 is not negative-cached by a built-in status TTL either.
    assert_eq!(
        store(MINIMAL_RESPECT, 404, &[]).err(),
        Some(DontStore::Rfc(NotStorable::NoExplicitFreshness))
    );
}

#[test]
fn minimal_respect_serves_nothing_stale_the_origin_did_not_allow() {
    let m = stored(MINIMAL_RESPECT, 200, &[("cache-control", "max-age=10")]);
    assert_eq!((m.fresh_for, m.swr, m.sie), (10, 0, 0));
    let m = stored(
        MINIMAL_RESPECT,
        200,
        &[(
            "cache-control",
            "max-age=10, stale-while-revalidate=30, stale-if-error=60",
        )],
    );
    assert_eq!((m.fresh_for, m.swr, m.sie), (10, 30, 60));
}

#[test]
fn respect_uses_what_the_defaults_write() {
    let src = r#"
[defaults]
origin_cache_control = "respect"
edge_ttl = "1m"
stale_while_revalidate = "30s"
status_ttl = { "404" = "15s" }
"#;
    let m = stored(src, 200, &[]);
    assert_eq!((m.fresh_for, m.swr, m.sie), (60, 30, 0));
    assert_eq!(stored(src, 404, &[]).fresh_for, 15);
}

#[test]
fn override_still_uses_the_built_in_defaults() {
    let src = r#"
[defaults]
origin_cache_control = "override"
"#;
    let m = stored(src, 200, &[("cache-control", "max-age=5")]);
    let d = Rule::builtin_default();
    assert_eq!(m.fresh_for, d.edge_ttl);
    assert_eq!(m.swr, d.stale_while_revalidate);
}
