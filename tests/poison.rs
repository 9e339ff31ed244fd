//! Cache poisoning and web cache deception (issue 14), through the public API: what a shared
//! request carries to the origin (an allowlist), that the origin is sent the key's own path and
//! query, which requests never touch a shared entry, the deception armor, the policy settings
//! and `explain`.

use edgecache::decision::{
    plan_request, plan_store, BypassReason, CachePlan, DontStore, OriginResponse, RequestPlan,
};
use edgecache::explain::explain;
use edgecache::forward::{Why, KNOWN_UNKEYED_INPUTS, METHOD_OVERRIDE, SAFE_UNKEYED};
use edgecache::key::cache_key;
use edgecache::policy::Policy;
use http::{HeaderMap, Method};
use proptest::prelude::*;
use url::Url;

const NOW: u64 = 1_735_689_600;

/// The demo policy shipped with the project.
const DEMO: &str = include_str!("../edgecache.toml");

const OVERRIDE: &str = r#"
[defaults]
origin_cache_control = "override"
edge_ttl = "10m"
"#;

mod common;
use common::{hm, policy, url};

fn cache_plan<'p>(p: &'p Policy, u: &str, h: &HeaderMap) -> CachePlan<'p> {
    match plan_request(p, &Method::GET, &url(u), h) {
        RequestPlan::Cache(c) => *c,
        RequestPlan::Bypass { reason, .. } => panic!("{u}: bypass {reason:?}"),
    }
}

fn bypass(p: &Policy, method: Method, u: &str, h: &[(&str, &str)]) -> BypassReason {
    match plan_request(p, &method, &url(u), &hm(h)) {
        RequestPlan::Bypass { reason, .. } => reason,
        RequestPlan::Cache(c) => panic!("{u}: cached under key {}", c.key),
    }
}

fn origin(status: u16, headers: &HeaderMap) -> OriginResponse<'_> {
    OriginResponse {
        status,
        headers,
        request_time: NOW,
        response_time: NOW,
        now_ms: NOW * 1000,
        fetch_ms: 10,
    }
}

// ---------------------------------------------------------------- headers

#[test]
fn no_known_unkeyed_input_reaches_the_origin_on_a_shared_request() {
    let p = policy(DEMO);
    let mut pairs: Vec<(&str, &str)> = KNOWN_UNKEYED_INPUTS
        .iter()
        .filter(|h| !METHOD_OVERRIDE.contains(h)) // those bypass (tested below)
        .map(|h| (*h, "evil.example"))
        .collect();
    pairs.extend([
        ("forwarded", "host=evil.example;proto=http"),
        ("x-original-url", "/secret"),
        ("x-rewrite-url", "/secret"),
        ("x-custom-anything", "1"),
        ("cache-control", "max-age=0"),
        ("range", "bytes=0-1"),
        ("sec-fetch-dest", "script"),
        ("accept-language", "fr"),
        ("host", "evil.example"),
    ]);
    for u in [
        "https://www.example.com/articles/1",
        "https://www.example.com/",
        "https://www.example.com/assets/app.js",
        "https://www.example.com/some/page",
    ] {
        let plan = cache_plan(&p, u, &hm(&pairs));
        let sent: Vec<&str> = plan.origin_headers.keys().map(|k| k.as_str()).collect();
        for k in &sent {
            assert!(
                *k == "host" || SAFE_UNKEYED.iter().any(|s| s == k),
                "{u}: {k} forwarded ({sent:?})"
            );
        }
        // The Host the origin sees is the key's, not the one the client sent.
        assert_eq!(plan.origin_headers.get("host").unwrap(), "www.example.com");
        assert!(
            plan.key.starts_with("https://www.example.com/"),
            "{}",
            plan.key
        );
        assert_eq!(plan.origin_headers.get("accept-language").unwrap(), "fr");
        for (h, _) in &pairs[..pairs.len() - 2] {
            assert!(plan.headers_dropped.iter().any(|d| d == h), "{u}: {h}");
        }
    }
}

#[test]
fn keyed_headers_and_forward_unkeyed_are_forwarded() {
    let p = policy(
        r#"
[defaults]
key = { vary = ["X-Device"] }
forward_unkeyed = ["X-Request-Id"]
"#,
    );
    let plan = cache_plan(
        &p,
        "https://example.com/p",
        &hm(&[
            ("x-device", "mobile"),
            ("x-request-id", "abc"),
            ("x-forwarded-host", "evil.example"),
        ]),
    );
    assert_eq!(plan.origin_headers.get("x-device").unwrap(), "mobile");
    assert_eq!(plan.origin_headers.get("x-request-id").unwrap(), "abc");
    assert!(!plan.origin_headers.contains_key("x-forwarded-host"));
    assert!(plan.key.contains("x-device%3Amobile"), "{}", plan.key);
    let why = |n: &str| plan.forwarded.iter().find(|(h, _)| h == n).map(|(_, w)| *w);
    assert_eq!(why("x-device"), Some(Why::Keyed));
    assert_eq!(why("x-request-id"), Some(Why::Unkeyed));
}

#[test]
fn a_listed_header_named_in_connection_is_still_hop_by_hop() {
    // RFC 9110 §7.6.1: a field named by Connection is for the next hop only, even if the
    // policy would forward it.
    let p = policy("[defaults]\nforward_unkeyed = [\"x-trace\"]\nkey = { vary = [\"x-dev\"] }\n");
    let plan = cache_plan(
        &p,
        "https://example.com/p",
        &hm(&[
            ("connection", "x-trace, x-dev"),
            ("x-trace", "1"),
            ("x-dev", "a"),
        ]),
    );
    assert!(!plan.origin_headers.contains_key("x-trace"));
    assert!(!plan.origin_headers.contains_key("x-dev"));
    assert!(plan.headers_dropped.iter().any(|h| h == "x-trace"));
    // Without Connection they are forwarded.
    let plan = cache_plan(
        &p,
        "https://example.com/p",
        &hm(&[("x-trace", "1"), ("x-dev", "a")]),
    );
    assert_eq!(plan.origin_headers.get("x-trace").unwrap(), "1");
    assert_eq!(plan.origin_headers.get("x-dev").unwrap(), "a");
}

#[test]
fn cookies_reach_the_origin_only_as_the_key_holds_them() {
    let p = policy(
        r#"
[defaults]
cookies = { mode = "allow", allow = ["lang"] }
"#,
    );
    let plan = cache_plan(
        &p,
        "https://example.com/p",
        &hm(&[("cookie", "lang=fr; tracking=evil")]),
    );
    assert_eq!(plan.origin_headers.get("cookie").unwrap(), "lang=fr");
    assert!(plan.key.contains("lang%3Dfr"), "{}", plan.key);
}

// ---------------------------------------------------------------- methods and bodies

#[test]
fn get_with_a_body_or_a_method_override_never_touches_a_shared_entry() {
    let p = policy(OVERRIDE);
    for m in [Method::GET, Method::HEAD] {
        assert_eq!(
            bypass(&p, m.clone(), "https://e.com/a", &[("content-length", "5")]),
            BypassReason::Body
        );
        assert_eq!(
            bypass(
                &p,
                m.clone(),
                "https://e.com/a",
                &[("transfer-encoding", "chunked")]
            ),
            BypassReason::Body
        );
        for h in METHOD_OVERRIDE {
            let r = bypass(&p, m.clone(), "https://e.com/a", &[(h, "DELETE")]);
            assert_eq!(r, BypassReason::MethodOverride(h));
            assert_eq!(r.as_str(), "method-override");
        }
    }
    // An empty body is no body.
    let plan = cache_plan(&p, "https://e.com/a", &hm(&[("content-length", "0")]));
    assert!(!plan.origin_headers.contains_key("content-length"));
}

// ---------------------------------------------------------------- request target

#[test]
fn the_origin_gets_the_path_and_query_of_the_key() {
    let p = policy(OVERRIDE);
    let base = url("http://127.0.0.1:8080/");
    for (client, want) in [
        ("https://e.com/a/./b/../c", "/a/c"),
        ("https://e.com/a/%2e%2E/secret", "/secret"),
        ("https://e.com/%73ecret", "/secret"),
        ("https://e.com/a\\..\\secret", "/secret"),
        ("https://e.com/a%2Fb", "/a%2Fb"),
        ("https://e.com/a%2fb", "/a%2Fb"),
        ("https://e.com/a%252e%252e/b", "/a%252e%252e/b"),
        ("https://e.com/account;x.css", "/account;x.css"),
        ("https://e.com/p?b=2&utm_source=evil&a=1", "/p?a=1&b=2"),
        ("https://e.com/p?__ec_vary=x&q=1#frag", "/p?q=1"),
    ] {
        let plan = cache_plan(&p, client, &HeaderMap::new());
        assert_eq!(plan.origin_path_and_query, want, "{client}");
        let o = plan.origin_url(&base);
        assert_eq!(
            o.as_str(),
            format!("http://127.0.0.1:8080{want}"),
            "{client}"
        );
    }
    // A path prefix on the origin base is kept.
    let plan = cache_plan(&p, "https://e.com/x/../y?z=1", &HeaderMap::new());
    assert_eq!(
        plan.origin_url(&url("https://origin.example/site/"))
            .as_str(),
        "https://origin.example/site/y?z=1"
    );
}

fn path_strategy() -> impl Strategy<Value = String> {
    // Segments made of what confuses caches and origins: dots, encoded dots and slashes,
    // backslashes, `;` parameters, double encoding, percent signs without hex.
    let seg = prop::collection::vec(
        prop::sample::select(vec![
            "a", "B", ".", "..", "%2e", "%2E%2e", "%2f", "%2F", "%5c", "\\", ";", ";x.css", "%25",
            "%252e", "%", "%4", "%41", "~", "%7E", "-", "é", "%C3%A9", " ", "+", "=", "@", ":",
            "css", ".js",
        ]),
        0..4,
    )
    .prop_map(|v| v.concat());
    prop::collection::vec(seg, 0..6).prop_map(|segs| format!("/{}", segs.join("/")))
}

fn query_strategy() -> impl Strategy<Value = Option<String>> {
    prop::option::of(
        prop::collection::vec(
            (
                prop::sample::select(vec!["a", "b", "utm_source", "__ec_x", "q", "%61", ""]),
                prop::option::of("[a-z0-9%/.=+ ]{0,5}"),
            ),
            0..5,
        )
        .prop_map(|pairs| {
            pairs
                .iter()
                .map(|(k, v)| match v {
                    Some(v) => format!("{k}={v}"),
                    None => k.to_string(),
                })
                .collect::<Vec<_>>()
                .join("&")
        }),
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// The request the origin is sent and the key agree: the origin URL carries exactly the
    /// key's path and query, and read back as a client request it has the same rule and key.
    #[test]
    fn key_and_forwarded_request_agree(path in path_strategy(), query in query_strategy(),
                                       prefix in prop::sample::select(vec!["", "/base", "/base/"])) {
        static DEMO_POLICY: std::sync::OnceLock<Policy> = std::sync::OnceLock::new();
        let p = DEMO_POLICY.get_or_init(|| policy(DEMO));
        let raw = match &query {
            Some(q) => format!("https://www.example.com{path}?{q}"),
            None => format!("https://www.example.com{path}"),
        };
        let Ok(client) = Url::parse(&raw) else { return Ok(()); };
        let h = HeaderMap::new();
        let RequestPlan::Cache(plan) = plan_request(p, &Method::GET, &client, &h) else {
            return Ok(()); // bypass rules forward untouched
        };
        // The key is the scheme and host followed by the origin's path and query.
        prop_assert_eq!(&plan.key, &format!("https://www.example.com{}", plan.origin_path_and_query));
        let base = Url::parse(&format!("http://127.0.0.1:9{prefix}")).unwrap();
        let o = plan.origin_url(&base);
        let want_prefix = prefix.trim_end_matches('/');
        let sent = match o.query() {
            Some(q) => format!("{}?{q}", o.path()),
            None => o.path().to_string(),
        };
        // Nothing was re-encoded or re-normalised on the way.
        prop_assert_eq!(&sent, &format!("{want_prefix}{}", plan.origin_path_and_query));
        // Read back as a client request, the forwarded target has the same rule and key.
        let again = Url::parse(&format!("https://www.example.com{}", plan.origin_path_and_query)).unwrap();
        let rule = p.match_rule("GET", "www.example.com", &edgecache::key::normalize_path(again.path()));
        prop_assert_eq!(&rule.name, &plan.rule.name);
        prop_assert_eq!(cache_key(&again, rule, &h), plan.key.clone());
        // No dot-segment or backslash is left for the origin to resolve differently.
        prop_assert!(!plan.origin_path_and_query.contains('\\'));
        let path_only = plan.origin_path_and_query.split('?').next().unwrap_or("");
        prop_assert!(path_only.split('/').all(|s| s != "." && s != ".."));
    }
}

// ---------------------------------------------------------------- deception armor

fn store_at(
    src: &str,
    u: &str,
    status: u16,
    content_type: &str,
) -> Result<edgecache::decision::Store, DontStore> {
    let p = policy(src);
    let req = HeaderMap::new();
    let plan = cache_plan(&p, u, &req);
    let resp = hm(&[("content-type", content_type)]);
    plan_store(&plan, &req, &origin(status, &resp), 0.5)
}

#[test]
fn a_page_that_is_not_what_its_extension_claims_is_not_stored() {
    for (u, ct) in [
        (
            "https://e.com/account/profile.css",
            "text/html; charset=utf-8",
        ),
        ("https://e.com/account;x.css", "text/html"),
        ("https://e.com/api/me/avatar.jpg", "application/json"),
        ("https://e.com/static/app.js", "text/html"),
        ("https://e.com/a/b.PNG", "text/html"),
    ] {
        let e = store_at(OVERRIDE, u, 200, ct).map(|_| ()).unwrap_err();
        assert_eq!(e, DontStore::ContentTypeMismatch, "{u}");
        assert_eq!(e.as_str(), "content-type-mismatch");
    }
    for (u, ct) in [
        ("https://e.com/site.css", "text/css"),
        (
            "https://e.com/app.js",
            "application/javascript; charset=utf-8",
        ),
        ("https://e.com/logo.png", "image/png"),
        ("https://e.com/file.css", "application/octet-stream"),
        ("https://e.com/page", "text/html"),
        ("https://e.com/index.php", "text/html"),
    ] {
        assert!(store_at(OVERRIDE, u, 200, ct).is_ok(), "{u} {ct}");
    }
}

#[test]
fn the_armor_can_be_turned_off_per_rule() {
    let src = r#"
[defaults]
origin_cache_control = "override"
edge_ttl = "10m"

[[rules]]
name = "legacy"
path = "/legacy/**"
deception_armor = false
"#;
    assert!(store_at(src, "https://e.com/legacy/style.css", 200, "text/html").is_ok());
    assert_eq!(
        store_at(src, "https://e.com/other/style.css", 200, "text/html").map(|_| ()),
        Err(DontStore::ContentTypeMismatch)
    );
}

// ---------------------------------------------------------------- policy

#[test]
fn forward_unkeyed_is_warned_about_and_cannot_name_governed_headers() {
    let l = Policy::from_toml_str(
        "[defaults]\nforward_unkeyed = [\"X-Forwarded-Host\", \"x-trace\"]\n",
        "t.toml",
    )
    .unwrap();
    let w: Vec<String> = l.warnings.iter().map(|d| d.to_string()).collect();
    assert_eq!(w.len(), 1, "{w:?}");
    assert!(w[0].contains("forward_unkeyed"), "{}", w[0]);
    assert!(w[0].contains("cache poisoning"), "{}", w[0]);
    assert!(w[0].contains("x-forwarded-host is a known"), "{}", w[0]);
    for bad in ["cookie", "Authorization", "host"] {
        let e = Policy::from_toml_str(
            &format!("[defaults]\nforward_unkeyed = [\"{bad}\"]\n"),
            "t.toml",
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("cannot be listed here"), "{bad}: {e}");
    }
    let e = Policy::from_toml_str("[defaults]\nforward_unkeyed = [\"bad header\"]\n", "t.toml")
        .unwrap_err()
        .to_string();
    assert!(e.contains("not a header name"), "{e}");
}

#[test]
fn the_demo_policy_keeps_the_armor_on_and_forwards_nothing_unkeyed() {
    let p = policy(DEMO);
    for r in p.rules.iter().chain([&p.defaults]) {
        assert!(r.deception_armor, "{}", r.name);
        assert!(r.forward_unkeyed.is_empty(), "{}", r.name);
    }
    // The test policy turns it off in one rule, for the e2e test that shows the difference.
    let t = policy(include_str!("edgecache.test.toml"));
    for r in t.rules.iter().chain([&t.defaults]) {
        assert_eq!(r.deception_armor, r.name != "lab-noarmor", "{}", r.name);
    }
}

// ---------------------------------------------------------------- explain

#[test]
fn explain_shows_what_is_forwarded_and_keyed() {
    let p = policy(
        r#"
[defaults]
key = { vary = ["x-device"] }
"#,
    );
    let h = hm(&[
        ("x-forwarded-host", "evil.example"),
        ("x-device", "mobile"),
        ("accept", "text/html"),
        ("x-custom", "1"),
    ]);
    let e = explain(&p, "GET", "https://e.com/a/../b?utm_source=x&q=1", &h).unwrap();
    assert_eq!(e.origin_target, "/b?q=1");
    assert!(
        e.forwarded.contains(&"x-device (keyed)".to_string()),
        "{:?}",
        e.forwarded
    );
    assert!(
        e.forwarded.contains(&"accept (negotiation)".to_string()),
        "{:?}",
        e.forwarded
    );
    assert!(
        e.forwarded.contains(&"host (host)".to_string()),
        "{:?}",
        e.forwarded
    );
    assert_eq!(e.keyed, vec!["x-device".to_string(), "host".to_string()]);
    assert!(e
        .not_forwarded
        .contains(&"x-forwarded-host (unkeyed input)".to_string()));
    assert!(e.not_forwarded.contains(&"x-custom".to_string()));
    assert!(
        e.text
            .contains("dropped     x-forwarded-host (unkeyed input)"),
        "{}",
        e.text
    );
    let j = e.to_json();
    assert!(
        j.contains("\"not_forwarded\":[\"x-forwarded-host (unkeyed input)\""),
        "{j}"
    );
    // A bypass forwards everything untouched, and says so.
    let e = explain(&p, "POST", "https://e.com/b", &h).unwrap();
    assert!(e
        .forwarded
        .iter()
        .any(|f| f == "x-forwarded-host (bypass: untouched)"));
    assert!(e.not_forwarded.is_empty());
    let e = explain(
        &p,
        "GET",
        "https://e.com/b",
        &hm(&[("x-http-method-override", "PUT")]),
    )
    .unwrap();
    assert_eq!(e.decision, "bypass");
    assert!(e.reason.starts_with("method-override"), "{}", e.reason);
}
