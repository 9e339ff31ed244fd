//! Policy scenarios through the public API: validation messages, warnings, inheritance, matching.

use edgecache::policy::{
    toml_to_json, CookieMode, Loaded, OriginMode, Policy, PolicyErrors, QueryMode, Rule,
    SetCookieMode,
};
use proptest::prelude::*;

const FILE: &str = "edgecache.toml";

fn load(src: &str) -> Loaded {
    match Policy::from_toml_str(src, FILE) {
        Ok(l) => l,
        Err(e) => panic!("unexpected errors:\n{e}"),
    }
}

fn errors(src: &str) -> Vec<String> {
    match Policy::from_toml_str(src, FILE) {
        Ok(_) => panic!("expected errors"),
        Err(e) => e.errors.iter().map(|d| d.to_string()).collect(),
    }
}

fn json_errors(src: &str) -> Vec<String> {
    match Policy::from_json_str(src, FILE) {
        Ok(_) => panic!("expected errors"),
        Err(e) => e.errors.iter().map(|d| d.to_string()).collect(),
    }
}

fn warnings(src: &str) -> Vec<String> {
    load(src).warnings.iter().map(|d| d.to_string()).collect()
}

fn name<'a>(p: &'a Policy, m: &str, h: &str, path: &str) -> &'a str {
    let fast = p.match_rule(m, h, path);
    let slow = p.match_rule_linear(m, h, path);
    assert_eq!(fast.index, slow.index, "{m} {h} {path}");
    &fast.name
}

// ------------------------------------------------------------------------------------------------
// The demo policy
// ------------------------------------------------------------------------------------------------

fn demo() -> Loaded {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/edgecache.toml");
    let src = std::fs::read_to_string(path).expect("demo policy");
    load(&src)
}

/// `tests/edgecache.test.toml`, the policy ./test builds the worker with.
fn test_policy() -> Loaded {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/edgecache.test.toml");
    let src = std::fs::read_to_string(path).expect("test policy");
    load(&src)
}

#[test]
fn demo_policy_is_valid_without_warnings() {
    let l = demo();
    assert!(l.warnings.is_empty(), "{:?}", l.warnings);
    let p = &l.policy;
    let h = "demo.example";
    // Every page the demo origin serves (demo/README.md), and the rule it gets.
    for (path, want) in [
        ("/", "home"),
        ("/articles/42", "articles"),
        ("/articles/42/comments", "default"),
        ("/assets/site.3f9a1c2b.css", "assets"),
        ("/api/articles", "api"),
        ("/api/articles/3", "api"),
        ("/login", "login"),
        ("/account", "account"),
        ("/cms", "cms"),
        ("/cms/edit/1", "cms"),
        ("/slow", "default"),
        ("/fail", "default"),
        // The origin's test endpoints get nothing special here (tests/edgecache.test.toml does).
        ("/lab/swr/a", "default"),
        ("/reflect/noarmor/a.css", "default"),
    ] {
        assert_eq!(name(p, "GET", h, path), want, "{path}");
    }
    assert!(p.rule("cms").unwrap().bypass);
    assert_eq!(p.rule("cms").unwrap().cookies.mode, CookieMode::Pass);
    assert_eq!(p.rule("assets").unwrap().edge_ttl, 365 * 86_400);
    assert_eq!(p.defaults.name, "default");
    assert_eq!(p.defaults.index, p.rules.len());
    // A policy to copy: nothing in it exists for the tests alone.
    for r in &p.rules {
        assert!(
            !r.name.starts_with("lab"),
            "test rule {} in edgecache.toml",
            r.name
        );
    }
}

/// The test policy is the demo policy (same defaults, same rules in the same order, so the e2e
/// tests of the demo's pages test the demo policy) followed by rules for the test endpoints.
#[test]
fn the_test_policy_is_the_demo_policy_plus_lab_rules() {
    let demo = demo().policy;
    let l = test_policy();
    assert!(l.warnings.is_empty(), "{:?}", l.warnings);
    let t = &l.policy;
    let fix = "tests/edgecache.test.toml must start with edgecache.toml's [defaults] and rules: \
               copy the change";
    // `index` of the defaults is the number of rules: the only field allowed to differ.
    let mut defaults = t.defaults.clone();
    defaults.index = demo.defaults.index;
    assert_eq!(defaults, demo.defaults, "{fix}: [defaults] differ");
    assert!(t.rules.len() > demo.rules.len(), "{fix}: rules missing");
    for (d, r) in demo.rules.iter().zip(&t.rules) {
        assert_eq!(d, r, "{fix}: rule {} differs", d.name);
    }
    let lab = t.rules.get(demo.rules.len()..).unwrap_or_default();
    for r in lab {
        assert!(
            r.name.starts_with("lab"),
            "{}: test rules are named lab*",
            r.name
        );
    }
    let h = "demo.example";
    for (path, want) in [
        ("/", "home"),
        ("/articles/42", "articles"),
        ("/slow", "default"),
        ("/lab/short/a", "lab-short"),
        ("/lab/swr/a", "lab-swr"),
        ("/lab/sie/a", "lab-sie"),
        ("/lab/strip/a", "lab-strip"),
        ("/lab/big/a", "lab-big"),
        ("/lab/stream/a", "lab-stream"),
        ("/lab/hostile/a", "lab-hostile"),
        ("/reflect/noarmor/a.css", "lab-noarmor"),
        ("/reflect/a.css", "default"),
        ("/lab/anything", "lab"),
        ("/lab", "lab"),
    ] {
        assert_eq!(name(t, "GET", h, path), want, "{path}");
    }
    let short = t.rule("lab-short").unwrap();
    assert_eq!(
        (
            short.edge_ttl,
            short.browser_ttl,
            short.stale_while_revalidate,
            short.stale_if_error
        ),
        (2, 0, 0, 0)
    );
    assert_eq!(short.status_ttl.get(404), None);
    let lab = t.rule("lab").unwrap();
    assert_eq!(lab.origin_cache_control, OriginMode::Respect);
    assert!(!lab.heuristic_freshness);
}

#[test]
fn toml_to_json_round_trips() {
    for file in ["edgecache.toml", "tests/edgecache.test.toml"] {
        let path = format!("{}/{file}", env!("CARGO_MANIFEST_DIR"));
        let src = std::fs::read_to_string(path).unwrap();
        let json = toml_to_json(&src, FILE).unwrap();
        let from_json = Policy::from_json_str(&json, "policy.json").unwrap().policy;
        let from_toml = load(&src).policy;
        assert_eq!(from_json.rules, from_toml.rules, "{file}");
        assert_eq!(from_json.defaults, from_toml.defaults, "{file}");
    }
}

// ------------------------------------------------------------------------------------------------
// Validation messages
// ------------------------------------------------------------------------------------------------

const FOUR_RULES: &str = r#"{"rules": [
    {"name": "a", "path": "/a"},
    {"name": "b", "path": "/b"},
    {"name": "c", "path": "/c"},
    {"name": "blog", "path": "/blog/**", "edge_ttl": "5 minutes"}
]}"#;

#[test]
fn message_format_is_exact() {
    assert_eq!(
        json_errors(FOUR_RULES),
        vec![
            r#"edgecache.toml: rules[3] "blog": edge_ttl: "5 minutes" is not a duration (use 300s, 5m, 1h)"#
        ]
    );
}

#[test]
fn toml_messages_carry_line_and_column() {
    let src = "[[rules]]\nname = \"blog\"\nedge_ttl = \"5 minutes\"\n";
    assert_eq!(
        errors(src),
        vec![
            r#"edgecache.toml:3:1: rules[0] "blog": edge_ttl: "5 minutes" is not a duration (use 300s, 5m, 1h)"#
        ]
    );
}

#[test]
fn syntax_error_is_reported_with_position() {
    let e = errors("[defaults\nedge_ttl = 1");
    assert_eq!(e.len(), 1);
    assert!(e[0].starts_with("edgecache.toml:1:"), "{}", e[0]);
}

#[test]
fn all_errors_are_collected() {
    let src = r#"
[defaults]
edge_ttl = "5 minutes"
status_ttl = { "503" = "10s", "5xx" = "1m", "404" = "1x", "abc" = "1s" }
colour = "red"
jitter_percent = 60
xfetch_beta = 11
origin_timeout = "0"
max_body_size = "1GB"
set_cookie = "keep"

[defaults.cookies]
mode = "maybe"
bypas = ["x"]

[[rules]]
name = "blog"
path = ["/blog/**", "blog", "/a/**/b", "/a*", "/x/../y"]
edge_ttl = true

[[rules]]
name = "blog"
path = "/blog/x"
method = ["get"]
host = ["*.Example.com", "a:80"]
cookies = { mode = "pass" }
key = { vary = ["Cookie"] }

[[rules]]
path = "/x"
edge_tl = "5m"
"#;
    let got = errors(src);
    let want = [
        r#"edgecache.toml:3:1: defaults: edge_ttl: "5 minutes" is not a duration (use 300s, 5m, 1h)"#,
        r#"defaults: status_ttl: "503": 5xx responses are never cached"#,
        r#"defaults: status_ttl: "5xx": 5xx responses are never cached"#,
        r#"defaults: status_ttl.404: "1x" is not a duration (use 300s, 5m, 1h)"#,
        r#"defaults: status_ttl: "abc" is not a status code or class (use "404" or "4xx")"#,
        "defaults: colour: unknown field, expected one of `edge_ttl`",
        "defaults: jitter_percent: 60 is out of range (0..=50)",
        "defaults: xfetch_beta: 11 is out of range (0.0..=10.0, 0 = off)",
        r#"defaults: origin_timeout: "0" must be between 1s and 5m"#,
        r#"defaults: max_body_size: "1GB" exceeds the 512MB limit"#,
        r#"defaults: set_cookie: "keep" is not one of strip, uncacheable"#,
        r#"defaults: cookies.mode: "maybe" is not one of strip, allow, pass"#,
        "defaults: cookies.bypas: unknown field; did you mean `bypass`?",
        r#"rules[0] "blog": path: "blog" must start with '/' (a path) or "*." (an extension)"#,
        r#"rules[0] "blog": path: "/a/**/b": '**' is only allowed as the last segment"#,
        r#"rules[0] "blog": path: "/a*": '*' must be a whole segment"#,
        r#"rules[0] "blog": path: "/x/../y" is not a normalised path; write it as "/y""#,
        r#"rules[0] "blog": edge_ttl: invalid type: boolean `true`"#,
        r#"rules[1] "blog": name: "blog" is used by an earlier rule"#,
        r#"rules[1] "blog": method: "get": methods are case-sensitive (RFC 9110 §9.1); write "GET""#,
        r#"rules[1] "blog": host: "a:80" is not a host name"#,
        r#"rules[1] "blog": cookies.mode: "pass" forwards every cookie"#,
        r#"rules[1] "blog": key.vary: "cookie" cannot be in the key"#,
        "rules[2]: name: missing (every rule needs a unique name)",
        "rules[2]: edge_tl: unknown field; did you mean `edge_ttl`?",
    ];
    for w in want {
        assert!(
            got.iter().any(|g| g.contains(w)),
            "missing {w:?} in:\n{}",
            got.join("\n")
        );
    }
    assert_eq!(got.len(), want.len(), "{}", got.join("\n"));
    // Errors come in file order.
    let lines: Vec<usize> = got
        .iter()
        .map(|g| g.split(':').nth(1).unwrap().parse::<usize>().unwrap())
        .collect();
    assert!(lines.windows(2).all(|w| w[0] <= w[1]), "{lines:?}");
}

/// The broken fixture used to check that build.rs refuses to build a worker from it.
#[test]
fn invalid_fixture_has_three_errors() {
    let file = "tests/fixtures/invalid-policy.toml";
    let src = std::fs::read_to_string(file).unwrap();
    let e = Policy::from_toml_str(&src, file).unwrap_err();
    let lines: Vec<String> = e.errors.iter().map(|d| d.to_string()).collect();
    assert_eq!(lines.len(), 3, "{lines:#?}");
    assert!(lines[0].starts_with(&format!("{file}:6:1: defaults: edge_ttl:")));
}

#[test]
fn errors_display_one_per_line() {
    let e: PolicyErrors = Policy::from_json_str(
        r#"{"rules":[{"name":"x","edge_ttl":"1w"},{"name":"x"}]}"#,
        FILE,
    )
    .unwrap_err();
    let text = e.to_string();
    assert_eq!(text.lines().count(), 2, "{text}");
    assert_eq!(
        text,
        "edgecache.toml: rules[0] \"x\": edge_ttl: \"1w\" is not a duration (use 300s, 5m, 1h)\n\
         edgecache.toml: rules[1] \"x\": name: \"x\" is used by an earlier rule"
    );
}

#[test]
fn top_level_and_shape_errors() {
    assert_eq!(
        json_errors(r#"{"rule": []}"#),
        vec!["edgecache.toml: rule: unknown field, expected `defaults` or `rules`"]
    );
    assert_eq!(
        json_errors(r#"{"rules": {"name": "x"}}"#),
        vec!["edgecache.toml: rules: expected an array of tables ([[rules]])"]
    );
    assert_eq!(
        json_errors(r#"{"rules": [{"name": "default"}]}"#),
        vec![
            r#"edgecache.toml: rules[0] "default": name: "default" is reserved for the rule applied when none matches"#
        ]
    );
    assert!(json_errors("[1]")[0].contains("expected a table at the top level"));
    assert!(json_errors("{")[0].starts_with("edgecache.toml:1:"));
}

#[test]
fn limits_are_enforced() {
    let mut src = String::new();
    for i in 0..1001 {
        src.push_str(&format!("[[rules]]\nname = \"r{i}\"\npath = \"/p{i}\"\n"));
    }
    assert!(errors(&src)[0].contains("1001 rules, at most 1000 are allowed"));

    let long = format!("/{}", "a".repeat(300));
    let e = errors(&format!("[[rules]]\nname = \"x\"\npath = \"{long}\"\n"));
    assert!(e[0].contains("at most 256 are allowed"), "{e:?}");

    let tags: Vec<String> = (0..65).map(|i| format!("\"t{i}\"")).collect();
    let e = errors(&format!(
        "[[rules]]\nname = \"x\"\ntags = [{}]\n",
        tags.join(",")
    ));
    assert!(
        e[0].contains("tags: 65 entries, at most 64 are allowed"),
        "{e:?}"
    );

    let e = errors(&format!(
        "[[rules]]\nname = \"x\"\ntags = [\"{}\", \"a,b\"]\n",
        "t".repeat(129)
    ));
    assert_eq!(e.len(), 2, "{e:?}");
    assert!(e[0].contains("tags are 1 to 128 bytes"));
    assert!(e[1].contains("without spaces or commas"));

    let e = errors("[defaults]\nedge_ttl = \"3651d\"\n");
    assert!(e[0].contains("longer than the maximum 3650d"), "{e:?}");

    let e = errors("[[rules]]\nname = \"x\"\npath = []\n");
    assert!(e[0].contains("empty list"), "{e:?}");
}

#[test]
fn cookie_pass_is_only_allowed_where_it_cannot_leak() {
    load("[[rules]]\nname = \"a\"\nbypass = true\ncookies = { mode = \"pass\" }\n");
    load("[[rules]]\nname = \"a\"\ncookies = { mode = \"pass\", bypass = [\"*\"] }\n");
    let e = errors("[defaults.cookies]\nmode = \"pass\"\n");
    assert!(
        e[0].contains("defaults: cookies.mode: \"pass\" forwards"),
        "{e:?}"
    );
}

// ------------------------------------------------------------------------------------------------
// Warnings
// ------------------------------------------------------------------------------------------------

fn shadow_src(first: &str, second: &str) -> String {
    format!("[[rules]]\nname = \"first\"\n{first}\n[[rules]]\nname = \"second\"\n{second}\n")
}

fn shadowed(first: &str, second: &str) -> bool {
    let w = warnings(&shadow_src(first, second));
    w.iter().any(|w| w.contains("never matches"))
}

#[test]
fn shadow_warning_message() {
    assert_eq!(
        warnings(&shadow_src("path = \"/blog/**\"", "path = \"/blog/post\"")),
        vec![
            r#"edgecache.toml:4:1: rules[1] "second": never matches: every request it matches is matched first by rules[0] "first""#
        ]
    );
}

#[test]
fn shadow_detection_is_sound_and_useful() {
    // Shadowed.
    assert!(shadowed("", "path = \"/x\""));
    assert!(shadowed("path = \"/**\"", "path = \"*.css\""));
    assert!(shadowed("path = \"/a/**\"", "path = [\"/a\", \"/a/b/*\"]"));
    assert!(shadowed("path = \"/a/*\"", "path = \"/a/b\""));
    assert!(shadowed("path = \"*.css\"", "path = \"/x/y.css\""));
    assert!(shadowed(
        "path = \"*.css\"",
        "path = \"*.css\"\nmethod = \"GET\""
    ));
    assert!(shadowed(
        "host = \"*.example.com\"",
        "host = [\"a.example.com\", \"*.b.example.com\"]"
    ));
    assert!(shadowed("method = [\"GET\", \"HEAD\"]", "method = \"GET\""));
    assert!(shadowed(
        "ext = [\"css\", \"js\"]",
        "ext = \"css\"\npath = \"/a/**\""
    ));
    // Not shadowed.
    assert!(!shadowed("path = \"/a/*\"", "path = \"/a/**\""));
    assert!(!shadowed("path = \"/a/b\"", "path = \"/a/*\""));
    assert!(!shadowed("path = \"/a/**\"", "path = [\"/a/x\", \"/b\"]"));
    assert!(!shadowed("host = \"example.com\"", "path = \"/x\""));
    assert!(!shadowed(
        "host = \"*.example.com\"",
        "host = \"example.com\""
    ));
    assert!(!shadowed("method = \"GET\"", "path = \"/x\""));
    assert!(!shadowed("ext = \"css\"", "path = \"/x\""));
    assert!(!shadowed("path = \"*.css\"", "path = \"/x/*\""));
    assert!(!shadowed("path = \"/a/*/**\"", "path = \"/a/**\""));
}

#[test]
fn bypass_with_ttls_warns() {
    let w = warnings("[[rules]]\nname = \"a\"\nbypass = true\nedge_ttl = \"1h\"\ntags = [\"x\"]\n");
    assert_eq!(
        w,
        vec![
            r#"edgecache.toml:3:1: rules[0] "a": bypass: bypass = true: edge_ttl, tags never apply (nothing is cached)"#
        ]
    );
}

#[test]
fn unused_query_list_warns_in_rules_only() {
    let w = warnings(
        "[defaults.query]\nallow = [\"page\"]\n[[rules]]\nname = \"a\"\nquery = { allow = [\"p\"] }\n",
    );
    assert_eq!(w.len(), 1, "{w:?}");
    assert!(w[0].contains("rules[0] \"a\": query.allow: unused: query.mode is \"deny\""));
}

// ------------------------------------------------------------------------------------------------
// Inheritance
// ------------------------------------------------------------------------------------------------

#[test]
fn builtin_defaults() {
    let d = load("").policy.defaults;
    assert_eq!(d.edge_ttl, 300);
    assert_eq!(d.browser_ttl, 0);
    assert_eq!(d.stale_while_revalidate, 60);
    assert_eq!(d.stale_if_error, 86_400);
    assert_eq!(d.origin_cache_control, OriginMode::Respect);
    assert_eq!(d.status_ttl.get(404), Some(30));
    assert_eq!(d.status_ttl.get(301), Some(3600));
    assert_eq!(d.status_ttl.get(200), None);
    assert_eq!(d.origin_timeout, 10);
    assert_eq!(d.max_body_size, 100 << 20);
    assert_eq!(d.set_cookie, SetCookieMode::Uncacheable);
    assert_eq!(d.cookies.mode, CookieMode::Strip);
    assert!(d.cookies.bypass.matches("wordpress_logged_in_abc"));
    assert!(d.cookies.bypass.matches("sessionid"));
    assert_eq!(d.query.mode, QueryMode::Deny);
    assert!(!d.query.keeps("utm_source"));
    assert!(d.query.keeps("page"));
    assert_eq!(d.tag_headers.len(), 2);
    assert!(d.key.include_host);
    assert_eq!(
        d,
        Rule {
            index: 0,
            ..Rule::builtin_default()
        }
    );
}

#[test]
fn rules_inherit_from_defaults_field_by_field() {
    let p = load(
        r#"
[defaults]
edge_ttl = "1h"
status_ttl = { "404" = "1m", "4xx" = "10s" }
[defaults.cookies]
bypass = ["sid"]
[defaults.query]
allow = ["page"]

[[rules]]
name = "a"
browser_ttl = 60
cookies = { mode = "allow", allow = ["lang"] }
query = { mode = "allow" }
key = { vary = ["Accept-Language", "accept-encoding", "accept-language"] }

[[rules]]
name = "b"
status_ttl = { "410" = "5m" }
"#,
    )
    .policy;
    let a = p.rule("a").unwrap();
    assert_eq!(a.edge_ttl, 3600);
    assert_eq!(a.browser_ttl, 60);
    assert_eq!(a.status_ttl.get(404), Some(60));
    assert_eq!(a.status_ttl.get(403), Some(10));
    assert_eq!(
        a.status_ttl.get(301),
        None,
        "defaults replaced the built-in map"
    );
    assert_eq!(a.cookies.mode, CookieMode::Allow);
    assert!(a.cookies.allow.matches("lang"));
    assert!(a.cookies.bypass.matches("sid"), "bypass inherited");
    assert!(!a.cookies.bypass.matches("sessionid"));
    assert!(a.query.keeps("page") && !a.query.keeps("q"));
    let vary: Vec<&str> = a.key.vary.iter().map(|h| h.as_str()).collect();
    assert_eq!(vary, ["accept-encoding", "accept-language"]);
    let b = p.rule("b").unwrap();
    assert_eq!(b.status_ttl.get(410), Some(300));
    assert_eq!(
        b.status_ttl.get(404),
        None,
        "a rule's status_ttl replaces the map"
    );
    assert_eq!(b.edge_ttl, 3600);
}

#[test]
fn durations_and_sizes_accept_integers() {
    let d = load("[defaults]\nedge_ttl = 90\nmax_body_size = 1024\nbrowser_ttl = \"1h30m\"\n")
        .policy
        .defaults;
    assert_eq!(
        (d.edge_ttl, d.max_body_size, d.browser_ttl),
        (90, 1024, 5400)
    );
    let e = errors("[defaults]\nedge_ttl = -1\n");
    assert!(e[0].contains("edge_ttl: -1 is negative"), "{e:?}");
}

// ------------------------------------------------------------------------------------------------
// Matching
// ------------------------------------------------------------------------------------------------

#[test]
fn first_match_wins_and_default_applies() {
    let p = load(
        r#"
[[rules]]
name = "post"
path = "/blog/special"
[[rules]]
name = "blog"
path = "/blog/**"
[[rules]]
name = "special-again"
path = "/blog/special/x"
"#,
    )
    .policy;
    assert_eq!(name(&p, "GET", "h", "/blog/special"), "post");
    assert_eq!(name(&p, "GET", "h", "/blog/special/x"), "blog");
    assert_eq!(name(&p, "GET", "h", "/blog"), "blog");
    assert_eq!(name(&p, "GET", "h", "/other"), "default");
}

#[test]
fn globs() {
    let p = load(
        r#"
[[rules]]
name = "comments"
path = "/blog/*/comments"
[[rules]]
name = "root"
path = "/"
[[rules]]
name = "about"
path = "/about"
[[rules]]
name = "everything"
path = "/x/**"
"#,
    )
    .policy;
    assert_eq!(name(&p, "GET", "h", "/blog/1/comments"), "comments");
    assert_eq!(
        name(&p, "GET", "h", "/blog//comments"),
        "default",
        "* is non-empty"
    );
    assert_eq!(name(&p, "GET", "h", "/blog/1/2/comments"), "default");
    assert_eq!(name(&p, "GET", "h", "/blog/1/comments/"), "default");
    assert_eq!(name(&p, "GET", "h", "/"), "root");
    assert_eq!(name(&p, "GET", "h", "/about"), "about");
    assert_eq!(name(&p, "GET", "h", "/about/"), "default");
    assert_eq!(name(&p, "GET", "h", "/x"), "everything");
    assert_eq!(name(&p, "GET", "h", "/x/"), "everything");
    assert_eq!(name(&p, "GET", "h", "/x/y/z"), "everything");
    assert_eq!(name(&p, "GET", "h", "/xy"), "default");
}

#[test]
fn extensions() {
    let p = load(
        r#"
[[rules]]
name = "css-in-assets"
path = "/assets/**"
ext = ["css"]
[[rules]]
name = "images"
ext = [".PNG", "jpg"]
[[rules]]
name = "js"
path = ["*.js", "/scripts"]
"#,
    )
    .policy;
    assert_eq!(name(&p, "GET", "h", "/assets/a/b.css"), "css-in-assets");
    assert_eq!(name(&p, "GET", "h", "/assets/a/b.CSS"), "css-in-assets");
    assert_eq!(name(&p, "GET", "h", "/other/b.css"), "default");
    assert_eq!(name(&p, "GET", "h", "/assets/b.png"), "images");
    assert_eq!(name(&p, "GET", "h", "/x.y/photo.jpg"), "images");
    assert_eq!(name(&p, "GET", "h", "/x.jpg/photo"), "default");
    assert_eq!(name(&p, "GET", "h", "/a/app.js"), "js");
    assert_eq!(name(&p, "GET", "h", "/scripts"), "js");
    assert_eq!(name(&p, "GET", "h", "/a/app.jsx"), "default");
}

#[test]
fn hosts_and_methods() {
    let p = load(
        r#"
[[rules]]
name = "api-post"
host = "api.example.com"
method = "POST"
[[rules]]
name = "sub"
host = "*.example.com"
method = ["GET", "HEAD"]
[[rules]]
name = "apex"
host = "Example.com"
"#,
    )
    .policy;
    assert_eq!(name(&p, "POST", "api.example.com", "/"), "api-post");
    assert_eq!(name(&p, "GET", "api.example.com", "/"), "sub");
    assert_eq!(name(&p, "GET", "A.B.Example.COM:8443", "/"), "sub");
    assert_eq!(name(&p, "HEAD", "x.example.com", "/"), "sub");
    assert_eq!(name(&p, "POST", "x.example.com", "/"), "default");
    assert_eq!(
        name(&p, "get", "x.example.com", "/"),
        "default",
        "methods are case-sensitive"
    );
    assert_eq!(name(&p, "GET", "example.com", "/"), "apex");
    assert_eq!(name(&p, "GET", "EXAMPLE.com:80", "/"), "apex");
    assert_eq!(name(&p, "GET", "notexample.com", "/"), "default");
    assert_eq!(name(&p, "GET", ".example.com", "/"), "default");
    let long = format!("{}.example.com", "a".repeat(300));
    assert_eq!(name(&p, "GET", &long, "/"), "default");
}

// ------------------------------------------------------------------------------------------------
// Property: the compiled matcher agrees with the linear reference
// ------------------------------------------------------------------------------------------------

const SEGS: &[&str] = &["a", "b", "c.css", "d.js", ""];
const HOSTS: &[&str] = &[
    "example.com",
    "*.example.com",
    "a.example.com",
    "*.a.example.com",
    "other.org",
];
const REQ_HOSTS: &[&str] = &[
    "example.com",
    "a.example.com",
    "b.a.example.com",
    "x.example.com",
    "other.org",
    "z.org",
];
const METHODS: &[&str] = &["GET", "HEAD", "POST"];

fn pattern() -> impl Strategy<Value = String> {
    prop_oneof![
        prop::sample::select(vec![
            "*.css".to_string(),
            "*.js".to_string(),
            "/**".to_string()
        ]),
        (
            prop::collection::vec(
                prop_oneof![
                    prop::sample::select(SEGS.to_vec()).prop_map(String::from),
                    Just("*".to_string())
                ],
                1..4
            ),
            any::<bool>()
        )
            .prop_map(|(segs, globstar)| {
                let mut p = String::new();
                for s in segs {
                    p.push('/');
                    p.push_str(&s);
                }
                if globstar {
                    p.push_str("/**");
                }
                p
            })
    ]
}

fn toml_list(v: &[String]) -> String {
    let items: Vec<String> = v.iter().map(|s| format!("{s:?}")).collect();
    format!("[{}]", items.join(", "))
}

fn rule_src() -> impl Strategy<Value = String> {
    (
        prop::option::of(prop::collection::vec(pattern(), 1..3)),
        prop::option::of(prop::collection::vec(
            prop::sample::select(vec!["css", "js"]),
            1..2,
        )),
        prop::option::of(prop::collection::vec(
            prop::sample::select(HOSTS.to_vec()),
            1..3,
        )),
        prop::option::of(prop::collection::vec(
            prop::sample::select(METHODS.to_vec()),
            1..3,
        )),
    )
        .prop_map(|(paths, exts, hosts, methods)| {
            let mut s = String::new();
            let own = |v: Vec<&str>| v.into_iter().map(String::from).collect::<Vec<_>>();
            if let Some(p) = paths {
                s.push_str(&format!("path = {}\n", toml_list(&p)));
            }
            if let Some(e) = exts {
                s.push_str(&format!("ext = {}\n", toml_list(&own(e))));
            }
            if let Some(h) = hosts {
                s.push_str(&format!("host = {}\n", toml_list(&own(h))));
            }
            if let Some(m) = methods {
                s.push_str(&format!("method = {}\n", toml_list(&own(m))));
            }
            s
        })
}

fn request_path() -> impl Strategy<Value = String> {
    prop::collection::vec(prop::sample::select(SEGS.to_vec()), 0..5).prop_map(|segs| {
        if segs.is_empty() {
            "/".to_string()
        } else {
            segs.iter().map(|s| format!("/{s}")).collect()
        }
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn compiled_matcher_agrees_with_linear_scan(
        rules in prop::collection::vec(rule_src(), 0..12),
        reqs in prop::collection::vec(
            (prop::sample::select(METHODS.to_vec()), prop::sample::select(REQ_HOSTS.to_vec()), request_path()),
            1..20,
        ),
    ) {
        let mut src = String::new();
        for (i, r) in rules.iter().enumerate() {
            src.push_str(&format!("[[rules]]\nname = \"r{i}\"\n{r}\n"));
        }
        let loaded = Policy::from_toml_str(&src, FILE).map_err(|e| TestCaseError::fail(e.to_string()))?;
        let p = &loaded.policy;
        for (m, h, path) in &reqs {
            prop_assert_eq!(
                p.match_rule(m, h, path).index,
                p.match_rule_linear(m, h, path).index,
                "{} {} {}\n{}", m, h, path, src
            );
        }
        // Soundness of shadow warnings: a rule reported as shadowed never wins.
        for w in &loaded.warnings {
            if let Some(i) = w.scope.strip_prefix("rules[").and_then(|s| s.split(']').next()) {
                let i: usize = i.parse().unwrap();
                for (m, h, path) in &reqs {
                    if p.rules[i].when.matches(m, h, path) {
                        prop_assert!(p.match_rule_linear(m, h, path).index < i, "{}\n{}", w, src);
                    }
                }
            }
        }
    }
}
