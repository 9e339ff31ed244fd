//! Rust source that rebuilds a resolved [`Policy`] (host only; used by build.rs).
//!
//! build.rs validates the policy file with [`Policy::from_toml_str`] and writes
//! [`rust_source`] of the result to `$OUT_DIR/policy.rs`, which `crate::embedded` includes. The
//! worker thus runs only this constructor and [`Policy::from_rules`] (which compiles the matcher),
//! never the loader.
//!
//! Every struct is destructured here without `..` and written back as a complete struct literal,
//! so a field added to the model without updating this file fails to compile (here, and in the
//! generated code). The output uses absolute paths (`crate::policy::…`, `::http::…`) and relies
//! only on the prelude, so it can be included anywhere inside this crate.

use super::{
    Conditions, Configured, CookieMode, CookiePolicy, HostPattern, KeyPolicy, OriginMode,
    PathPattern, Policy, QueryMode, QueryPolicy, Rule, Segment, SetCookieMode, StatusTtl,
};
use crate::cookies::NamePatterns;
use std::fmt::Write;

/// A Rust expression of type `crate::policy::Policy` that rebuilds `policy` exactly
/// (`Policy::from_rules(<defaults>, vec![<rules>])`).
pub fn rust_source(policy: &Policy) -> String {
    let Policy {
        defaults,
        rules,
        matcher: _, // derived from `rules` by `from_rules`
    } = policy;
    let mut out = String::from(HELPERS);
    out.push_str("    crate::policy::Policy::from_rules(\n");
    rule(&mut out, defaults, 2);
    out.push_str(",\n        vec![\n");
    for r in rules {
        rule(&mut out, r, 3);
        out.push_str(",\n");
    }
    out.push_str("        ],\n    )\n}\n");
    out
}

/// The start of the block expression: strings and lists go through these small functions, so
/// each costs one call with static data in the wasm rather than inlined allocation code.
const HELPERS: &str = "{
    #[inline(never)]
    fn s(x: &str) -> ::std::string::String {
        ::std::string::String::from(x)
    }
    #[inline(never)]
    fn v(x: &[&str]) -> ::std::vec::Vec<::std::string::String> {
        x.iter().map(|x| s(x)).collect()
    }
    #[inline(never)]
    fn h(x: &[&'static str]) -> ::std::vec::Vec<::http::HeaderName> {
        x.iter().map(|x| ::http::HeaderName::from_static(x)).collect()
    }
";

/// `{:?}` of a string is a valid Rust string literal (quotes, backslashes and unprintable
/// characters escaped; `\u{…}` escapes mean the same in Rust source).
fn string(s: &str) -> String {
    format!("s({s:?})")
}

/// A float literal that parses back to exactly `x` (`{:?}` is the shortest round-trip form).
fn float(x: f64) -> String {
    if x.is_nan() {
        "f64::NAN".into()
    } else if x.is_infinite() {
        if x > 0.0 {
            "f64::INFINITY"
        } else {
            "f64::NEG_INFINITY"
        }
        .into()
    } else {
        // `0.1`, `1e-7`, `-0.0`: all valid literals (or a negated one) with the suffix.
        format!("{x:?}_f64")
    }
}

fn list<T>(items: &[T], item: impl Fn(&T) -> String) -> String {
    let inner: Vec<String> = items.iter().map(item).collect();
    format!("vec![{}]", inner.join(", "))
}

fn strings(items: &[String]) -> String {
    let inner: Vec<String> = items.iter().map(|s| format!("{s:?}")).collect();
    format!("v(&[{}])", inner.join(", "))
}

fn header_names(items: &[http::HeaderName]) -> String {
    // `HeaderName::as_str` is the lower-case form `from_static` requires.
    let inner: Vec<String> = items.iter().map(|h| format!("{:?}", h.as_str())).collect();
    format!("h(&[{}])", inner.join(", "))
}

fn name_patterns(p: &NamePatterns) -> String {
    let NamePatterns { exact, prefixes } = p;
    format!(
        "crate::cookies::NamePatterns {{ exact: {}, prefixes: {} }}",
        strings(exact),
        strings(prefixes)
    )
}

fn status_ttl(s: &StatusTtl) -> String {
    let StatusTtl { exact, class } = s;
    let exact = list(exact, |(code, ttl)| format!("({code}_u16, {ttl}_u64)"));
    let class: Vec<String> = class
        .iter()
        .map(|c| match c {
            Some(t) => format!("Some({t}_u64)"),
            None => "None".into(),
        })
        .collect();
    format!(
        "crate::policy::StatusTtl {{ exact: {exact}, class: [{}] }}",
        class.join(", ")
    )
}

fn host_pattern(h: &HostPattern) -> String {
    match h {
        HostPattern::Exact(s) => format!("crate::policy::HostPattern::Exact({})", string(s)),
        HostPattern::Subdomains(s) => {
            format!("crate::policy::HostPattern::Subdomains({})", string(s))
        }
    }
}

fn segment(s: &Segment) -> String {
    match s {
        Segment::Literal(l) => format!("crate::policy::Segment::Literal({})", string(l)),
        Segment::Star => "crate::policy::Segment::Star".into(),
    }
}

fn path_pattern(p: &PathPattern) -> String {
    match p {
        PathPattern::Glob { segments, globstar } => format!(
            "crate::policy::PathPattern::Glob {{ segments: {}, globstar: {globstar} }}",
            list(segments, segment)
        ),
        PathPattern::Ext(e) => format!("crate::policy::PathPattern::Ext({})", string(e)),
    }
}

fn conditions(c: &Conditions) -> String {
    let Conditions {
        hosts,
        methods,
        paths,
        exts,
    } = c;
    format!(
        "crate::policy::Conditions {{ hosts: {}, methods: {}, paths: {}, exts: {} }}",
        list(hosts, host_pattern),
        strings(methods),
        list(paths, path_pattern),
        strings(exts)
    )
}

fn origin_mode(m: OriginMode) -> &'static str {
    match m {
        OriginMode::Respect => "crate::policy::OriginMode::Respect",
        OriginMode::Override => "crate::policy::OriginMode::Override",
        OriginMode::Cap => "crate::policy::OriginMode::Cap",
    }
}

fn set_cookie_mode(m: SetCookieMode) -> &'static str {
    match m {
        SetCookieMode::Strip => "crate::policy::SetCookieMode::Strip",
        SetCookieMode::Uncacheable => "crate::policy::SetCookieMode::Uncacheable",
    }
}

fn cookie_mode(m: CookieMode) -> &'static str {
    match m {
        CookieMode::Strip => "crate::policy::CookieMode::Strip",
        CookieMode::Allow => "crate::policy::CookieMode::Allow",
        CookieMode::Pass => "crate::policy::CookieMode::Pass",
    }
}

fn query_mode(m: QueryMode) -> &'static str {
    match m {
        QueryMode::Ignore => "crate::policy::QueryMode::Ignore",
        QueryMode::Allow => "crate::policy::QueryMode::Allow",
        QueryMode::Deny => "crate::policy::QueryMode::Deny",
    }
}

fn cookie_policy(c: &CookiePolicy) -> String {
    let CookiePolicy {
        mode,
        allow,
        bypass,
    } = c;
    format!(
        "crate::policy::CookiePolicy {{ mode: {}, allow: {}, bypass: {} }}",
        cookie_mode(*mode),
        name_patterns(allow),
        name_patterns(bypass)
    )
}

fn query_policy(q: &QueryPolicy) -> String {
    let QueryPolicy { mode, allow, deny } = q;
    format!(
        "crate::policy::QueryPolicy {{ mode: {}, allow: {}, deny: {} }}",
        query_mode(*mode),
        name_patterns(allow),
        name_patterns(deny)
    )
}

fn key_policy(k: &KeyPolicy) -> String {
    let KeyPolicy { vary, include_host } = k;
    format!(
        "crate::policy::KeyPolicy {{ vary: {}, include_host: {include_host} }}",
        header_names(vary)
    )
}

fn configured(c: &Configured) -> String {
    let Configured {
        edge_ttl,
        status_ttl,
        stale_while_revalidate,
        stale_if_error,
    } = c;
    format!(
        "crate::policy::Configured {{ edge_ttl: {edge_ttl}, status_ttl: {status_ttl}, \
         stale_while_revalidate: {stale_while_revalidate}, stale_if_error: {stale_if_error} }}"
    )
}

/// One `crate::policy::Rule { … }` literal, one field per line, indented by `depth` levels.
fn rule(out: &mut String, r: &Rule, depth: usize) {
    let Rule {
        index,
        name,
        when,
        bypass,
        tags,
        edge_ttl,
        browser_ttl,
        stale_while_revalidate,
        stale_if_error,
        origin_cache_control,
        heuristic_freshness,
        status_ttl: status,
        jitter_percent,
        xfetch_beta,
        origin_timeout,
        max_body_size,
        tag_headers,
        keep_tag_headers,
        public_authorization,
        set_cookie,
        cookies,
        query,
        key,
        configured: conf,
    } = r;
    let fields: [(&str, String); 24] = [
        ("index", format!("{index}_usize")),
        ("name", string(name)),
        ("when", conditions(when)),
        ("bypass", bypass.to_string()),
        ("tags", strings(tags)),
        ("edge_ttl", format!("{edge_ttl}_u64")),
        ("browser_ttl", format!("{browser_ttl}_u64")),
        (
            "stale_while_revalidate",
            format!("{stale_while_revalidate}_u64"),
        ),
        ("stale_if_error", format!("{stale_if_error}_u64")),
        (
            "origin_cache_control",
            origin_mode(*origin_cache_control).into(),
        ),
        ("heuristic_freshness", heuristic_freshness.to_string()),
        ("status_ttl", status_ttl(status)),
        ("jitter_percent", format!("{jitter_percent}_u8")),
        ("xfetch_beta", float(*xfetch_beta)),
        ("origin_timeout", format!("{origin_timeout}_u64")),
        ("max_body_size", format!("{max_body_size}_u64")),
        ("tag_headers", header_names(tag_headers)),
        ("keep_tag_headers", keep_tag_headers.to_string()),
        ("public_authorization", public_authorization.to_string()),
        ("set_cookie", set_cookie_mode(*set_cookie).into()),
        ("cookies", cookie_policy(cookies)),
        ("query", query_policy(query)),
        ("key", key_policy(key)),
        ("configured", configured(conf)),
    ];
    let pad = "    ".repeat(depth);
    let _ = writeln!(out, "{pad}crate::policy::Rule {{");
    for (field, value) in fields {
        let _ = writeln!(out, "{pad}    {field}: {value},");
    }
    let _ = write!(out, "{pad}}}");
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule_src(r: &Rule) -> String {
        let mut s = String::new();
        rule(&mut s, r, 0);
        s
    }

    #[test]
    fn strings_are_escaped_rust_literals() {
        assert_eq!(string(r#"a"b\c"#), r#"s("a\"b\\c")"#);
        assert_eq!(string("tab\tnl\n"), r#"s("tab\tnl\n")"#);
        // Printable non-ASCII stays as is; unprintable characters become `\u{…}` escapes.
        assert_eq!(string("é€😀"), "s(\"é€😀\")");
        assert_eq!(string("\u{0}\u{7f}\u{200b}"), r#"s("\0\u{7f}\u{200b}")"#);
    }

    #[test]
    fn floats_round_trip() {
        for x in [
            0.0,
            0.1,
            0.2,
            1e-7,
            1.0 / 3.0,
            2.5,
            10.0,
            1e300,
            5e-324,
            -0.0,
        ] {
            let lit = float(x);
            let digits = lit.strip_suffix("_f64").expect("suffixed");
            let back: f64 = digits.parse().unwrap();
            assert_eq!(back.to_bits(), x.to_bits(), "{x} -> {lit}");
        }
        assert_eq!(float(0.1), "0.1_f64");
        assert_eq!(float(1e-7), "1e-7_f64");
        assert_eq!(float(0.0), "0.0_f64");
        assert_eq!(float(3.0), "3.0_f64");
        assert_eq!(float(f64::NAN), "f64::NAN");
        assert_eq!(float(f64::INFINITY), "f64::INFINITY");
    }

    #[test]
    fn every_enum_variant() {
        assert_eq!(
            origin_mode(OriginMode::Respect),
            "crate::policy::OriginMode::Respect"
        );
        assert_eq!(
            origin_mode(OriginMode::Override),
            "crate::policy::OriginMode::Override"
        );
        assert_eq!(
            origin_mode(OriginMode::Cap),
            "crate::policy::OriginMode::Cap"
        );
        assert_eq!(
            set_cookie_mode(SetCookieMode::Strip),
            "crate::policy::SetCookieMode::Strip"
        );
        assert_eq!(
            set_cookie_mode(SetCookieMode::Uncacheable),
            "crate::policy::SetCookieMode::Uncacheable"
        );
        assert_eq!(
            cookie_mode(CookieMode::Strip),
            "crate::policy::CookieMode::Strip"
        );
        assert_eq!(
            cookie_mode(CookieMode::Allow),
            "crate::policy::CookieMode::Allow"
        );
        assert_eq!(
            cookie_mode(CookieMode::Pass),
            "crate::policy::CookieMode::Pass"
        );
        assert_eq!(
            query_mode(QueryMode::Ignore),
            "crate::policy::QueryMode::Ignore"
        );
        assert_eq!(
            query_mode(QueryMode::Allow),
            "crate::policy::QueryMode::Allow"
        );
        assert_eq!(
            query_mode(QueryMode::Deny),
            "crate::policy::QueryMode::Deny"
        );
        assert_eq!(
            host_pattern(&HostPattern::Exact("a.example".into())),
            r#"crate::policy::HostPattern::Exact(s("a.example"))"#
        );
        assert_eq!(
            host_pattern(&HostPattern::Subdomains("example.com".into())),
            r#"crate::policy::HostPattern::Subdomains(s("example.com"))"#
        );
        assert_eq!(
            path_pattern(&PathPattern::Glob {
                segments: vec![Segment::Literal("a\"b".into()), Segment::Star],
                globstar: true,
            }),
            "crate::policy::PathPattern::Glob { segments: vec![\
             crate::policy::Segment::Literal(s(\"a\\\"b\")), \
             crate::policy::Segment::Star], globstar: true }"
        );
        assert_eq!(
            path_pattern(&PathPattern::Ext("css".into())),
            r#"crate::policy::PathPattern::Ext(s("css"))"#
        );
    }

    #[test]
    fn lists_empty_and_not() {
        assert_eq!(strings(&[]), "v(&[])");
        assert_eq!(strings(&["a".into(), "b\"".into()]), r#"v(&["a", "b\""])"#);
        assert_eq!(header_names(&[]), "h(&[])");
        assert_eq!(
            header_names(&[http::HeaderName::from_static("x-tag")]),
            r#"h(&["x-tag"])"#
        );
        assert_eq!(
            name_patterns(&NamePatterns::default()),
            "crate::cookies::NamePatterns { exact: v(&[]), prefixes: v(&[]) }"
        );
        assert_eq!(
            name_patterns(&NamePatterns::new(["sid", "wp_*", "*"]).unwrap()),
            r#"crate::cookies::NamePatterns { exact: v(&["sid"]), prefixes: v(&["", "wp_"]) }"#
        );
        assert_eq!(list(&[] as &[Segment], segment), "vec![]");
        assert_eq!(
            list(&[Segment::Star, Segment::Star], segment),
            "vec![crate::policy::Segment::Star, crate::policy::Segment::Star]"
        );
    }

    #[test]
    fn status_ttl_exact_and_class() {
        assert_eq!(
            status_ttl(&StatusTtl::default()),
            "crate::policy::StatusTtl { exact: vec![], class: [None, None, None, None, None, None] }"
        );
        let mut s = StatusTtl::default();
        s.set_exact(404, 30);
        s.set_exact(200, 5);
        s.class[3] = Some(60);
        assert_eq!(
            status_ttl(&s),
            "crate::policy::StatusTtl { exact: vec![(200_u16, 5_u64), (404_u16, 30_u64)], \
             class: [None, None, None, Some(60_u64), None, None] }"
        );
    }

    #[test]
    fn rule_lists_every_field_once() {
        let src = rule_src(&Rule::builtin_default());
        assert!(src.starts_with("crate::policy::Rule {\n"), "{src}");
        assert!(src.ends_with('}'), "{src}");
        // One line per field of `Rule` (24 fields), between the braces.
        assert_eq!(src.lines().count(), 24 + 2, "{src}");
        assert!(src.contains("    xfetch_beta: 0.0_f64,\n"), "{src}");
        assert!(src.contains("    max_body_size: 104857600_u64,\n"), "{src}");
        assert!(src.contains("    tag_headers: h(&[\"cache-tag\", \"surrogate-key\"]),\n"));
    }

    #[test]
    fn policy_wraps_defaults_and_rules() {
        let p = Policy::from_rules(Rule::builtin_default(), Vec::new());
        let src = rust_source(&p);
        assert!(src.starts_with(HELPERS), "{src}");
        assert!(
            src.contains("    crate::policy::Policy::from_rules(\n        crate::policy::Rule {\n"),
            "{src}"
        );
        assert!(
            src.ends_with(",\n        vec![\n        ],\n    )\n}\n"),
            "{src}"
        );
    }

    /// The real round trip: build.rs emitted `tests/fixtures/emit-roundtrip.toml` (every field
    /// and variant, awkward strings and floats) with [`rust_source`]; compiled here, it must equal
    /// what the loader makes of the same file.
    #[test]
    fn fixture_round_trips_through_generated_code() {
        let generated: Policy = include!(concat!(env!("OUT_DIR"), "/policy_fixture.rs"));
        let src = include_str!("../../tests/fixtures/emit-roundtrip.toml");
        let loaded = Policy::from_toml_str(src, "emit-roundtrip.toml")
            .unwrap_or_else(|e| panic!("fixture invalid:\n{e}"));
        assert!(loaded.warnings.is_empty(), "{:?}", loaded.warnings);
        let want = loaded.policy;
        assert_eq!(generated.defaults, want.defaults);
        assert_eq!(generated.rules, want.rules);
        // The fixture really is tricky (guards against it being simplified away).
        let all = || want.rules.iter().chain([&want.defaults]);
        assert!(all().any(|r| r.xfetch_beta == 0.1));
        assert!(all().any(|r| r.xfetch_beta == 1e-7));
        assert!(all().any(|r| r.tags.iter().any(|t| t.contains('"'))));
        assert!(all().any(|r| r.tags.iter().any(|t| t.contains('\\'))));
        assert!(all().any(|r| r.query.allow.matches("zero\u{200b}width")));
        assert!(all().any(|r| r.query.allow.matches("café_au_lait")));
        assert!(all().any(|r| r.when.paths.iter().any(|p| p.to_string() == "/a\"b\\c/*/é")));
        assert!(all().any(|r| r.status_ttl.get(404).is_some() && r.status_ttl.get(302).is_some()));
        for mode in [OriginMode::Respect, OriginMode::Override, OriginMode::Cap] {
            assert!(all().any(|r| r.origin_cache_control == mode), "{mode:?}");
        }
        for mode in [SetCookieMode::Strip, SetCookieMode::Uncacheable] {
            assert!(all().any(|r| r.set_cookie == mode), "{mode:?}");
        }
        for mode in [CookieMode::Strip, CookieMode::Allow, CookieMode::Pass] {
            assert!(all().any(|r| r.cookies.mode == mode), "{mode:?}");
        }
        for mode in [QueryMode::Ignore, QueryMode::Allow, QueryMode::Deny] {
            assert!(all().any(|r| r.query.mode == mode), "{mode:?}");
        }
        // Matching goes through the matcher compiled from the generated rules.
        for (m, h, p) in [
            ("GET", "a.example.com", "/assets/x.css"),
            ("POST", "example.org", "/api/v1"),
            ("GET", "example.net", "/"),
        ] {
            assert_eq!(
                generated.match_rule(m, h, p).index,
                want.match_rule(m, h, p).index,
                "{m} {h} {p}"
            );
        }
    }
}
