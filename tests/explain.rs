//! `explain` (library and CLI) and `edgecache check` on a broken policy file.

use edgecache::explain::{explain, request_headers, ExplainError};
use edgecache::policy::Policy;
use http::HeaderMap;
use std::path::PathBuf;
use std::process::Command;

const DEMO: &str = include_str!("../edgecache.toml");

fn demo() -> Policy {
    Policy::from_toml_str(DEMO, "edgecache.toml")
        .unwrap_or_else(|e| panic!("{e}"))
        .policy
}

fn demo_path() -> String {
    format!("{}/edgecache.toml", env!("CARGO_MANIFEST_DIR"))
}

fn cli(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_edgecache"))
        .args(args)
        .env_remove("EDGECACHE_POLICY")
        .env_remove("ORIGIN")
        .env_remove("ORIGIN_HOST")
        .output()
        .expect("run the edgecache binary")
}

/// A fresh directory under the system temp dir for this test.
fn temp_dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("edgecache-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

#[test]
fn bypass_cookie_is_named() {
    let p = demo();
    let h = request_headers(&[], Some("theme=dark; sessionid=abc")).unwrap();
    let x = explain(&p, "GET", "https://example.com/articles/1", &h).unwrap();
    assert_eq!(x.decision, "bypass");
    assert_eq!(x.rule, "articles");
    assert!(x.reason.contains("\"sessionid\""), "{}", x.reason);
    assert!(x.text.contains("decision    bypass\n"), "{}", x.text);
    assert!(x.text.contains("sessionid"), "{}", x.text);
    assert!(x.key.is_empty());
    assert!(!x.text.contains("cache key"), "{}", x.text);
}

#[test]
fn prefix_bypass_cookie_is_named() {
    let p = demo();
    let h = request_headers(&[], Some("wordpress_logged_in_abc=1")).unwrap();
    let x = explain(&p, "GET", "https://example.com/", &h).unwrap();
    assert_eq!(x.decision, "bypass");
    assert!(x.reason.contains("wordpress_logged_in_abc"), "{}", x.reason);
}

#[test]
fn tracked_url_key_has_no_utm_params() {
    let p = demo();
    let x = explain(
        &p,
        "get",
        "https://Example.com/articles/1?utm_source=news&utm_medium=mail&page=2",
        &HeaderMap::new(),
    )
    .unwrap();
    assert_eq!(x.decision, "cache");
    assert_eq!(x.key, "https://example.com/articles/1?page=2");
    assert!(!x.key.contains("utm"), "{}", x.key);
    assert!(
        x.text
            .contains("cache key   https://example.com/articles/1?page=2\n"),
        "{}",
        x.text
    );
    assert_eq!(x.mode, "cap");
    assert_eq!(x.edge_ttl, "10m");
    assert_eq!(x.rule_index, 4);
}

#[test]
fn dropped_cookies_are_listed() {
    let p = demo();
    let h = request_headers(&[], Some("_ga=1; consent=yes")).unwrap();
    let x = explain(&p, "GET", "https://example.com/articles/1", &h).unwrap();
    assert_eq!(x.decision, "cache");
    assert!(x.cookies.contains("_ga, consent"), "{}", x.cookies);
    let x = explain(
        &p,
        "GET",
        "https://example.com/articles/1",
        &HeaderMap::new(),
    )
    .unwrap();
    assert!(x.cookies.contains("nothing removed"), "{}", x.cookies);
}

#[test]
fn other_bypass_reasons() {
    let p = demo();
    let x = explain(
        &p,
        "POST",
        "https://example.com/articles/1",
        &HeaderMap::new(),
    )
    .unwrap();
    assert_eq!(x.decision, "bypass");
    assert!(x.reason.starts_with("method:"), "{}", x.reason);
    let x = explain(&p, "GET", "https://example.com/cms/", &HeaderMap::new()).unwrap();
    assert!(x.reason.starts_with("rule:"), "{}", x.reason);
    assert_eq!(x.rule, "cms");
    let h = request_headers(&["Authorization: Bearer x".into()], None).unwrap();
    let x = explain(&p, "GET", "https://example.com/articles/1", &h).unwrap();
    assert!(x.reason.starts_with("authorization:"), "{}", x.reason);
}

#[test]
fn default_rule_when_nothing_matches() {
    let p = demo();
    let x = explain(&p, "GET", "https://example.com/slow", &HeaderMap::new()).unwrap();
    assert_eq!(x.rule, "default");
    assert_eq!(x.rule_index, p.rules.len());
    assert_eq!(x.mode, "respect");
}

#[test]
fn bad_url_is_an_error() {
    let p = demo();
    for u in ["not a url", "/articles/1", "ftp://example.com/x"] {
        let e = explain(&p, "GET", u, &HeaderMap::new()).unwrap_err();
        assert!(e.0.starts_with("url"), "{u}: {e}");
    }
}

#[test]
fn bad_method_is_an_error() {
    let p = demo();
    let e = explain(&p, "GE T", "https://example.com/", &HeaderMap::new()).unwrap_err();
    assert!(e.0.contains("method"), "{e}");
}

#[test]
fn bad_header_lines_are_errors() {
    let e = request_headers(&["no colon here".into()], None).unwrap_err();
    assert!(e.0.contains("expected 'Name: value'"), "{e}");
    let e = request_headers(&["bad name: x".into()], None).unwrap_err();
    assert!(e.0.contains("not a valid header name"), "{e}");
    let e = request_headers(&["X-Ok: line\u{7f}break".into()], None).unwrap_err();
    assert!(e.0.contains("not a valid header value"), "{e}");
    assert_eq!(
        request_headers(&[], Some("a=\u{0}")).unwrap_err(),
        ExplainError("cookie: not a valid header value".into())
    );
    let h = request_headers(&["Accept:  text/html ".into()], Some("  ")).unwrap();
    assert_eq!(h.get("accept").unwrap(), "text/html");
    assert!(!h.contains_key("cookie"));
}

#[test]
fn cli_explain_prints_the_library_text() {
    let url = "https://example.com/articles/1?utm_source=x&b=2";
    let out = cli(&[
        "explain",
        &demo_path(),
        url,
        "--cookie",
        "_ga=1",
        "--cookie",
        "consent=yes",
    ]);
    assert!(out.status.success(), "{out:?}");
    let h = request_headers(&[], Some("_ga=1; consent=yes")).unwrap();
    // The CLI shows the origin request too (same-zone without --origin / $ORIGIN).
    let same = edgecache::origin::OriginMode::SameZone;
    let x = edgecache::explain::explain_with_origin(&demo(), "GET", url, &h, Some(&same)).unwrap();
    assert_eq!(String::from_utf8(out.stdout).unwrap(), x.text);
}

#[test]
fn cli_explain_bypass_cookie_matches_library() {
    let url = "https://example.com/articles/1";
    let out = cli(&["explain", &demo_path(), url, "--cookie", "sessionid=1"]);
    assert!(out.status.success(), "{out:?}");
    let stdout = String::from_utf8(out.stdout).unwrap();
    let h = request_headers(&[], Some("sessionid=1")).unwrap();
    let same = edgecache::origin::OriginMode::SameZone;
    let x = edgecache::explain::explain_with_origin(&demo(), "GET", url, &h, Some(&same)).unwrap();
    assert_eq!(stdout, x.text);
    assert!(stdout.contains("decision    bypass"), "{stdout}");
}

#[test]
fn cli_explain_bad_header_exits_2() {
    let out = cli(&[
        "explain",
        &demo_path(),
        "https://example.com/",
        "--header",
        "nocolon",
    ]);
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(err.contains("expected 'Name: value'"), "{err}");
}

#[test]
fn cli_check_broken_policy_names_file_rule_and_field() {
    let dir = temp_dir("check");
    let file = dir.join("broken.toml");
    std::fs::write(
        &file,
        "[defaults]\nedge_ttl = \"5m\"\n\n[[rules]]\nname = \"blog\"\npath = [\"/blog/**\"]\nedge_ttl = \"5 parsecs\"\n",
    )
    .unwrap();
    let path = file.to_str().unwrap();
    let out = cli(&["check", path]);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(err.contains(path), "{err}");
    assert!(err.contains("rules[0] \"blog\""), "{err}");
    assert!(err.contains("edge_ttl"), "{err}");
    assert!(err.contains("5 parsecs"), "{err}");
    assert!(out.stdout.is_empty(), "no table for an invalid policy");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn cli_check_demo_policy_is_ok() {
    let out = cli(&["check", &demo_path()]);
    assert!(out.status.success(), "{out:?}");
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert!(stdout.contains(": ok ("), "{stdout}");
}

#[test]
fn explain_shows_where_the_origin_request_goes() {
    use edgecache::explain::explain_with_origin;
    use edgecache::origin::parse_origin_mode;
    let p = demo();
    let u = "https://www.example.com/articles/1?utm_source=x";
    let same = parse_origin_mode(None, None).unwrap();
    let x = explain_with_origin(&p, "GET", u, &HeaderMap::new(), Some(&same)).unwrap();
    assert_eq!(x.origin_mode, "same-zone");
    assert_eq!(x.origin_url, u);
    assert_eq!(x.origin_host, "www.example.com");
    assert!(x.text.contains("origin      same-zone: GET"), "{}", x.text);
    let remote = parse_origin_mode(Some("https://origin.example.com"), None).unwrap();
    let x = explain_with_origin(&p, "GET", u, &HeaderMap::new(), Some(&remote)).unwrap();
    assert_eq!(
        x.origin_url,
        "https://origin.example.com/articles/1?utm_source=x"
    );
    assert_eq!(x.origin_host, "origin.example.com");
    let site = parse_origin_mode(Some("https://origin.example.com"), Some("site")).unwrap();
    let x = explain_with_origin(&p, "GET", u, &HeaderMap::new(), Some(&site)).unwrap();
    assert_eq!(x.origin_host, "www.example.com");
    assert_eq!(x.origin_resolve, "origin.example.com");
    assert!(x
        .to_json()
        .contains(r#""origin_resolve":"origin.example.com""#));
    // Bypassed requests go to the origin too; on workers.dev same-zone mode is refused.
    let x = explain_with_origin(
        &p,
        "GET",
        "https://edgecache.me.workers.dev/cms/",
        &HeaderMap::new(),
        Some(&same),
    )
    .unwrap();
    assert_eq!(x.decision, "bypass");
    assert!(
        x.text
            .contains("refused: edgecache.me.workers.dev is a workers.dev hostname"),
        "{}",
        x.text
    );
    // Without an origin mode the fields are empty.
    let x = explain(&p, "GET", u, &HeaderMap::new()).unwrap();
    assert_eq!((x.origin_mode.as_str(), x.origin_url.as_str()), ("", ""));
}

#[test]
fn cli_explain_origin_modes() {
    let out = cli(&[
        "explain",
        &demo_path(),
        "https://www.example.com/articles/1",
    ]);
    assert!(out.status.success(), "{out:?}");
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        text.contains(
            "origin      same-zone: GET https://www.example.com/articles/1 (Host: www.example.com)"
        ),
        "{text}"
    );
    let out = cli(&[
        "explain",
        &demo_path(),
        "https://www.example.com/articles/1",
        "--origin",
        "https://origin.example.com",
        "--origin-host",
        "site",
        "--json",
    ]);
    assert!(out.status.success(), "{out:?}");
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        text.contains(r#""origin_mode":"origin-site-host""#),
        "{text}"
    );
    assert!(
        text.contains(r#""origin_host":"www.example.com""#),
        "{text}"
    );
    let out = cli(&[
        "explain",
        &demo_path(),
        "https://www.example.com/",
        "--origin",
        "ftp://x",
    ]);
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    assert!(String::from_utf8(out.stderr).unwrap().contains("scheme"));
}

#[test]
fn policy_json_carries_the_origin_mode() {
    use edgecache::json::Json;
    let p = demo();
    let o = edgecache::origin::parse_origin_mode(Some("https://origin.example.com"), None).unwrap();
    let j = Json::parse(&edgecache::explain::policy_json_with_origin(
        &p,
        "edgecache.toml",
        &o,
    ))
    .unwrap();
    assert_eq!(
        j.get("origin").and_then(|o| o.str_of("mode")).as_deref(),
        Some("origin")
    );
    assert_eq!(j.str_of("file").as_deref(), Some("edgecache.toml"));
    assert!(j
        .get("rules")
        .and_then(Json::as_array)
        .is_some_and(|r| !r.is_empty()));
}

/// The dashboard's explain API over its query: a path resolves against the API's own origin,
/// bad input is a 400 naming the field.
#[test]
fn api_query_reads_the_dashboard_query() {
    let p = demo();
    let same = edgecache::origin::OriginMode::SameZone;
    let api = |q: &str| {
        let u = url::Url::parse(&format!("https://site.test/__edgecache/api/explain?{q}")).unwrap();
        edgecache::explain::api_query(&p, &u, &same)
    };
    let (status, body) = api("url=/&header=Accept%3A%20text%2Fhtml");
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("https://site.test/"), "{body}");
    let (status, body) = api("method=GET");
    assert_eq!(status, 400);
    assert!(body.contains("url: required"), "{body}");
    let (status, body) = api("url=/&header=no-colon");
    assert_eq!(status, 400);
    assert!(body.contains("no-colon"), "{body}");
}
