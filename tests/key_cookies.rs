//! Cache key and cookie scenarios through the public API.

use edgecache::cookies::{filter_cookie_header, find_bypass_cookie, NamePatterns};
use edgecache::key::{
    base_key, cache_key, normalize_url_for_purge, strip_vary, KeyError, SHARED_HOST,
};
use edgecache::policy::{Policy, Rule};
use http::{HeaderMap, HeaderValue};
use proptest::prelude::*;
use url::Url;

const POLICY: &str = r#"
[[rules]]
name = "lang"
path = "/i18n/**"
key = { vary = ["accept-language", "x-device"] }

[[rules]]
name = "prefs"
path = "/prefs/**"
cookies = { mode = "allow", allow = ["currency", "theme_*"] }

[[rules]]
name = "search"
path = "/search"
query = { mode = "allow", allow = ["q", "page"] }

[[rules]]
name = "static"
path = "/static/**"
query = { mode = "ignore" }
key = { include_host = false }
"#;

fn policy() -> Policy {
    Policy::from_toml_str(POLICY, "test.toml").unwrap().policy
}

fn key_for(p: &Policy, url: &str, headers: &HeaderMap) -> String {
    let u = Url::parse(url).unwrap();
    let path = edgecache::key::normalize_path(u.path()).into_owned();
    let rule = p.match_rule("GET", u.host_str().unwrap(), &path);
    cache_key(&u, rule, headers)
}

fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
    let mut h = HeaderMap::new();
    for (k, v) in pairs {
        h.append(*k, HeaderValue::from_str(v).unwrap());
    }
    h
}

#[test]
fn normalises_scheme_host_port_path_query_and_fragment() {
    let p = policy();
    let none = HeaderMap::new();
    for (url, want) in [
        (
            "http://Example.COM:80/a/../b/%7euser/%2f?b=2&utm_source=x&a=1&a=0#frag",
            "https://example.com/b/~user/%2F?a=1&a=0&b=2",
        ),
        ("https://example.com:443", "https://example.com/"),
        ("http://example.com:443/x", "https://example.com/x"),
        ("https://example.com:8443/x?", "https://example.com:8443/x"),
        (
            "https://example.com/x?&&gclid=1&fbclid=2",
            "https://example.com/x",
        ),
        (
            "https://example.com/x?z&y=&x=%4a%2b",
            "https://example.com/x?x=J%2B&y=&z",
        ),
        (
            "https://example.com/x?__ec_vary=forged&a=1",
            "https://example.com/x?a=1",
        ),
        (
            "https://example.com/search?page=2&q=rust&sort=new",
            "https://example.com/search?page=2&q=rust",
        ),
        (
            "https://example.com/search?sort=new",
            "https://example.com/search",
        ),
        (
            "https://a.example.com/static/x.css?v=1",
            &format!("https://{SHARED_HOST}/static/x.css"),
        ),
        ("https://[::1]:8080/x", "https://[::1]:8080/x"),
        (
            "https://example.com/x?a+b=c+d",
            "https://example.com/x?a+b=c+d",
        ),
    ] {
        assert_eq!(key_for(&p, url, &none), want, "{url}");
    }
}

#[test]
fn vary_headers_are_folded_in_stably() {
    let p = policy();
    let a = key_for(
        &p,
        "https://example.com/i18n/home?x=1",
        &headers(&[
            ("accept-language", " fr-CH, fr;q=0.9 "),
            ("x-device", "mobile"),
        ]),
    );
    assert_eq!(
        a,
        "https://example.com/i18n/home?x=1&__ec_vary=accept-language%3Afr-CH%2C%20fr%3Bq%3D0.9%0Ax-device%3Amobile"
    );
    // Header order and surrounding whitespace do not matter; values do.
    let b = key_for(
        &p,
        "https://example.com/i18n/home?x=1",
        &headers(&[
            ("x-device", "mobile"),
            ("accept-language", "fr-CH, fr;q=0.9"),
        ]),
    );
    assert_eq!(a, b);
    let c = key_for(
        &p,
        "https://example.com/i18n/home?x=1",
        &headers(&[("x-device", "mobile")]),
    );
    assert_eq!(
        c,
        "https://example.com/i18n/home?x=1&__ec_vary=accept-language%0Ax-device%3Amobile"
    );
    assert_ne!(a, c);
    // Absent and empty headers differ.
    let d = key_for(
        &p,
        "https://example.com/i18n/home",
        &headers(&[("accept-language", ""), ("x-device", "mobile")]),
    );
    assert_eq!(
        d,
        "https://example.com/i18n/home?__ec_vary=accept-language%3A%0Ax-device%3Amobile"
    );
    // Repeated header lines are joined in order.
    let e = key_for(
        &p,
        "https://example.com/i18n/",
        &headers(&[("x-device", "a"), ("x-device", "b")]),
    );
    assert!(e.ends_with("x-device%3Aa%2C%20b"), "{e}");
    assert_eq!(strip_vary(&a), "https://example.com/i18n/home?x=1");
    assert_eq!(strip_vary(&d), "https://example.com/i18n/home");
    assert_eq!(
        strip_vary("https://example.com/x?a=1"),
        "https://example.com/x?a=1"
    );
}

#[test]
fn allowed_cookies_are_part_of_the_key() {
    let p = policy();
    let a = key_for(
        &p,
        "https://example.com/prefs/x",
        &headers(&[("cookie", "theme_dark=1; sessionid=secret; currency=EUR")]),
    );
    assert_eq!(
        a,
        "https://example.com/prefs/x?__ec_vary=cookie%3Acurrency%3DEUR%3B%20theme_dark%3D1"
    );
    // Unrelated cookies and order do not change the key; split Cookie headers are combined.
    let b = key_for(
        &p,
        "https://example.com/prefs/x",
        &headers(&[
            ("cookie", "currency=EUR; other=1"),
            ("cookie", "theme_dark=1"),
        ]),
    );
    assert_eq!(a, b);
    let none = key_for(&p, "https://example.com/prefs/x", &HeaderMap::new());
    assert_eq!(none, "https://example.com/prefs/x?__ec_vary=cookie");
    assert!(!a.contains("secret"));
}

#[test]
fn purge_urls_normalise_like_keys() {
    let p = policy();
    let url = "http://EXAMPLE.com/i18n/./home?utm_campaign=x&b=1&a=2";
    let purge = normalize_url_for_purge(url, &p).unwrap();
    assert_eq!(purge, "https://example.com/i18n/home?a=2&b=1");
    let k = key_for(&p, url, &headers(&[("accept-language", "de")]));
    assert_eq!(strip_vary(&k), purge);
    assert_eq!(
        normalize_url_for_purge("https://x.example/static/a.css?v=3", &p).unwrap(),
        format!("https://{SHARED_HOST}/static/a.css")
    );
    assert!(matches!(
        normalize_url_for_purge("/relative", &p),
        Err(KeyError::InvalidUrl(_))
    ));
    assert_eq!(
        normalize_url_for_purge("ftp://example.com/x", &p),
        Err(KeyError::UnsupportedScheme("ftp".into()))
    );
}

#[test]
fn bypass_and_filter_cookies() {
    let d = Rule::builtin_default();
    assert_eq!(
        find_bypass_cookie("a=1; wordpress_logged_in_123=x", &d.cookies.bypass).as_deref(),
        Some("wordpress_logged_in_123")
    );
    assert_eq!(
        find_bypass_cookie("a=1; Session=x", &d.cookies.bypass),
        None
    );
    let keep = NamePatterns::new(["lang", "ab_*"]).unwrap();
    assert_eq!(
        filter_cookie_header("sid=1; lang=fr; ab_test=b; x=2", &keep).as_deref(),
        Some("lang=fr; ab_test=b")
    );
    assert_eq!(filter_cookie_header("sid=1", &keep), None);
}

// ------------------------------------------------------------------------------------------------
// Properties
// ------------------------------------------------------------------------------------------------

fn url_strategy() -> impl Strategy<Value = String> {
    let seg = prop::sample::select(vec![
        "a", "B", ".", "..", "%2e", "%2E%2e", "%7e", "%2f", "%zz", "x y", "é", "", "c.css", "%41",
    ]);
    let param = prop::sample::select(vec![
        "a=1",
        "b=2",
        "a=0",
        "q=x%2fy",
        "utm_source=t",
        "gclid=9",
        "flag",
        "",
        "%61=b",
        "__ec_vary=z",
        "p=%7E",
    ]);
    (
        prop::sample::select(vec!["http", "https"]),
        prop::sample::select(vec![
            "Example.com",
            "example.com:8080",
            "example.com:443",
            "a.EXAMPLE.com",
        ]),
        prop::collection::vec(seg, 0..6),
        prop::collection::vec(param, 0..6),
        prop::sample::select(vec!["/i18n", "/prefs", "/search", "/static", ""]),
    )
        .prop_map(|(scheme, host, segs, params, prefix)| {
            let mut u = format!("{scheme}://{host}{prefix}");
            for s in segs {
                u.push('/');
                u.push_str(s);
            }
            if !params.is_empty() {
                u.push('?');
                u.push_str(&params.join("&"));
            }
            u.push_str("#frag");
            u
        })
}

proptest! {
    #[test]
    fn key_is_idempotent(url in url_strategy(), lang in "[a-z;=, -]{0,12}", cookie in "[a-z_=; ]{0,20}") {
        let p = policy();
        let mut h = HeaderMap::new();
        h.insert("accept-language", HeaderValue::from_str(&lang).unwrap());
        h.insert("cookie", HeaderValue::from_str(&cookie).unwrap());
        let k1 = key_for(&p, &url, &h);
        let k2 = key_for(&p, &k1, &h);
        prop_assert_eq!(&k1, &k2, "{}", url);
        // Keys are valid absolute https URLs that the parser leaves unchanged.
        let parsed = Url::parse(&k1).unwrap();
        prop_assert_eq!(parsed.scheme(), "https");
        prop_assert_eq!(parsed.as_str(), k1.as_str());
        let purge = normalize_url_for_purge(&url, &p).unwrap();
        prop_assert_eq!(purge.as_str(), strip_vary(&k1));
    }

    #[test]
    fn tracking_params_in_any_order_give_one_key(
        order in Just(vec!["id=7", "utm_source=news", "gclid=abc", "utm_medium=mail", "fbclid=f", "mc_eid=1"]).prop_shuffle(),
        keep in 1usize..6,
    ) {
        let p = policy();
        let none = HeaderMap::new();
        let url = format!("https://example.com/article?{}", order[..keep].join("&"));
        let with_id = order[..keep].contains(&"id=7");
        let want = if with_id { "https://example.com/article?id=7" } else { "https://example.com/article" };
        prop_assert_eq!(key_for(&p, &url, &none), want);
        // And base_key agrees with cache_key when the rule varies on nothing.
        let u = Url::parse(&url).unwrap();
        prop_assert_eq!(base_key(&u, &p.defaults), want);
    }
}
