//! The resolved policy as compact JSON: what build.rs embeds in the worker.
//!
//! build.rs validates the policy file with [`Policy::from_toml_str`] (the same loader as
//! `edgecache check`), writes [`to_json`] of the result to `$OUT_DIR/policy.json` and checks
//! that [`from_json`] gives the policy back exactly; `crate::embedded` includes that text and
//! decodes it once per isolate. The worker thus carries no policy parser or validator, only
//! this decoder (constant code), and the policy itself is data, so a policy of hundreds of
//! rules costs the wasm a few bytes per rule (gzip), not code per rule.
//!
//! The form is the resolved model (inheritance already applied), not the policy file's schema:
//! the defaults as their difference from the built-in defaults, each rule as its difference
//! from the defaults, sub-structures whole. Both directions name every field: the encoder and
//! the decoder destructure `Rule` without `..` (and the decoder builds the sub-structures as
//! complete literals), so a field added to the model without updating this file fails to
//! compile or warns. `xfetch_beta` is kept as its IEEE-754 bits, so it round-trips exactly
//! without float parsing in the wasm.

use super::{
    Conditions, Configured, CookieMode, CookiePolicy, HostPattern, KeyPolicy, OriginMode,
    PathPattern, Policy, QueryMode, QueryPolicy, Rule, Segment, SetCookieMode, StatusTtl,
};
use crate::cookies::NamePatterns;
use crate::json::{Arr, Json, Obj};

/// The policy as JSON: `{"defaults": <rule>, "rules": [<rule>, …]}`, where the defaults are
/// written as their difference from [`Rule::builtin_default`] and each rule as its difference
/// from the defaults (a rule usually sets a handful of fields).
pub fn to_json(policy: &Policy) -> String {
    let Policy {
        defaults,
        rules,
        matcher: _, // derived from `rules` by `Policy::from_rules`
    } = policy;
    let mut list = Arr::new();
    for r in rules {
        list = list.raw(&rule_json(r, defaults));
    }
    Obj::new()
        .raw("defaults", &rule_json(defaults, &Rule::builtin_default()))
        .raw("rules", &list.end())
        .end()
}

/// Decodes [`to_json`]; `None` if the text is not that form.
pub fn from_json(text: &str) -> Option<Policy> {
    let j = Json::parse(text).ok()?;
    let defaults = rule(j.get("defaults")?, &Rule::builtin_default())?;
    let rules = j
        .get("rules")?
        .as_array()?
        .iter()
        .map(|r| rule(r, &defaults))
        .collect::<Option<Vec<_>>>()?;
    Some(Policy::from_rules(defaults, rules))
}

fn headers_json(v: &[http::HeaderName]) -> String {
    let mut a = Arr::new();
    for h in v {
        a = a.str(h.as_str());
    }
    a.end()
}

/// The fields of `r` that differ from `base` (`index` and `name` always).
fn rule_json(r: &Rule, base: &Rule) -> String {
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
        status_ttl,
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
        forward_unkeyed,
        deception_armor,
        configured,
    } = r;
    let mut o = Obj::new().u64("index", *index as u64).str("name", name);
    if *when != base.when {
        o = o.raw("when", &conditions_json(when));
    }
    if *bypass != base.bypass {
        o = o.bool("bypass", *bypass);
    }
    if *tags != base.tags {
        o = o.strs("tags", tags);
    }
    for (k, v, b) in [
        ("edge_ttl", *edge_ttl, base.edge_ttl),
        ("browser_ttl", *browser_ttl, base.browser_ttl),
        (
            "stale_while_revalidate",
            *stale_while_revalidate,
            base.stale_while_revalidate,
        ),
        ("stale_if_error", *stale_if_error, base.stale_if_error),
        (
            "jitter_percent",
            u64::from(*jitter_percent),
            u64::from(base.jitter_percent),
        ),
        // Bits: exact, and no float parsing in the wasm.
        (
            "xfetch_beta_bits",
            xfetch_beta.to_bits(),
            base.xfetch_beta.to_bits(),
        ),
        ("origin_timeout", *origin_timeout, base.origin_timeout),
        ("max_body_size", *max_body_size, base.max_body_size),
    ] {
        if v != b {
            o = o.u64(k, v);
        }
    }
    if *origin_cache_control != base.origin_cache_control {
        o = o.str("origin_cache_control", origin_cache_control.as_str());
    }
    if *heuristic_freshness != base.heuristic_freshness {
        o = o.bool("heuristic_freshness", *heuristic_freshness);
    }
    if *status_ttl != base.status_ttl {
        o = o.raw("status_ttl", &status_ttl_json(status_ttl));
    }
    if *tag_headers != base.tag_headers {
        o = o.raw("tag_headers", &headers_json(tag_headers));
    }
    if *keep_tag_headers != base.keep_tag_headers {
        o = o.bool("keep_tag_headers", *keep_tag_headers);
    }
    if *public_authorization != base.public_authorization {
        o = o.bool("public_authorization", *public_authorization);
    }
    if *set_cookie != base.set_cookie {
        o = o.str("set_cookie", set_cookie.as_str());
    }
    if *cookies != base.cookies {
        o = o.raw("cookies", &cookies_json(cookies));
    }
    if *query != base.query {
        o = o.raw("query", &query_json(query));
    }
    if *key != base.key {
        o = o.raw("key", &key_json(key));
    }
    if *forward_unkeyed != base.forward_unkeyed {
        o = o.raw("forward_unkeyed", &headers_json(forward_unkeyed));
    }
    if *deception_armor != base.deception_armor {
        o = o.bool("deception_armor", *deception_armor);
    }
    if *configured != base.configured {
        o = o.raw("configured", &configured_json(configured));
    }
    o.end()
}

fn conditions_json(c: &Conditions) -> String {
    let Conditions {
        hosts,
        methods,
        paths,
        exts,
    } = c;
    let mut h = Arr::new();
    for host in hosts {
        h = h.raw(&match host {
            HostPattern::Exact(s) => Arr::new().str("exact").str(s).end(),
            HostPattern::Subdomains(s) => Arr::new().str("subdomains").str(s).end(),
        });
    }
    let mut p = Arr::new();
    for path in paths {
        p = p.raw(&match path {
            PathPattern::Glob { segments, globstar } => {
                let mut segs = Arr::new();
                for s in segments {
                    segs = match s {
                        Segment::Literal(l) => segs.str(l),
                        Segment::Star => segs.raw("null"),
                    };
                }
                Obj::new()
                    .raw("glob", &segs.end())
                    .bool("globstar", *globstar)
                    .end()
            }
            PathPattern::Ext(e) => Obj::new().str("ext", e).end(),
        });
    }
    Obj::new()
        .raw("hosts", &h.end())
        .strs("methods", methods)
        .raw("paths", &p.end())
        .strs("exts", exts)
        .end()
}

fn status_ttl_json(s: &StatusTtl) -> String {
    let StatusTtl { exact, class } = s;
    let mut e = Arr::new();
    for (code, ttl) in exact {
        e = e.raw(&format!("[{code},{ttl}]"));
    }
    let mut c = Arr::new();
    for t in class {
        c = c.raw(&t.map_or("null".to_string(), |t| t.to_string()));
    }
    Obj::new()
        .raw("exact", &e.end())
        .raw("class", &c.end())
        .end()
}

fn names_json(p: &NamePatterns) -> String {
    let NamePatterns { exact, prefixes } = p;
    Obj::new()
        .strs("exact", exact)
        .strs("prefixes", prefixes)
        .end()
}

fn cookies_json(c: &CookiePolicy) -> String {
    let CookiePolicy {
        mode,
        allow,
        bypass,
    } = c;
    Obj::new()
        .str("mode", mode.as_str())
        .raw("allow", &names_json(allow))
        .raw("bypass", &names_json(bypass))
        .end()
}

fn query_json(q: &QueryPolicy) -> String {
    let QueryPolicy { mode, allow, deny } = q;
    Obj::new()
        .str("mode", mode.as_str())
        .raw("allow", &names_json(allow))
        .raw("deny", &names_json(deny))
        .end()
}

fn key_json(k: &KeyPolicy) -> String {
    let KeyPolicy { vary, include_host } = k;
    Obj::new()
        .raw("vary", &headers_json(vary))
        .bool("include_host", *include_host)
        .end()
}

fn configured_json(c: &Configured) -> String {
    let Configured {
        edge_ttl,
        status_ttl,
        stale_while_revalidate,
        stale_if_error,
    } = c;
    Obj::new()
        .bool("edge_ttl", *edge_ttl)
        .bool("status_ttl", *status_ttl)
        .bool("stale_while_revalidate", *stale_while_revalidate)
        .bool("stale_if_error", *stale_if_error)
        .end()
}

// Decoding: `None` on anything that is not exactly what the encoder writes.

fn flag(j: &Json, k: &str) -> Option<bool> {
    j.get(k)?.as_bool()
}

fn text<'a>(j: &'a Json, k: &str) -> Option<&'a str> {
    j.get(k)?.as_str()
}

fn list(j: &Json, k: &str) -> Option<Vec<String>> {
    j.get(k)?.as_strings()
}

fn header_names(j: &Json) -> Option<Vec<http::HeaderName>> {
    j.as_strings()?
        .iter()
        .map(|h| http::HeaderName::from_bytes(h.as_bytes()).ok())
        .collect()
}

/// A rule written by [`rule_json`] over `base`: `base` with the fields the object names.
/// Unknown fields make it `None`.
fn rule(j: &Json, base: &Rule) -> Option<Rule> {
    let mut r = base.clone();
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
        forward_unkeyed,
        deception_armor,
        configured,
    } = &mut r;
    let mut named = (false, false);
    for (k, v) in j.as_object()? {
        match k.as_str() {
            "index" => {
                *index = usize::try_from(v.as_u64()?).ok()?;
                named.0 = true;
            }
            "name" => {
                *name = v.as_str()?.to_string();
                named.1 = true;
            }
            "when" => *when = conditions(v)?,
            "bypass" => *bypass = v.as_bool()?,
            "tags" => *tags = v.as_strings()?,
            "edge_ttl" => *edge_ttl = v.as_u64()?,
            "browser_ttl" => *browser_ttl = v.as_u64()?,
            "stale_while_revalidate" => *stale_while_revalidate = v.as_u64()?,
            "stale_if_error" => *stale_if_error = v.as_u64()?,
            "origin_cache_control" => {
                *origin_cache_control = match v.as_str()? {
                    "respect" => OriginMode::Respect,
                    "override" => OriginMode::Override,
                    "cap" => OriginMode::Cap,
                    _ => return None,
                }
            }
            "heuristic_freshness" => *heuristic_freshness = v.as_bool()?,
            "status_ttl" => *status = status_ttl(v)?,
            "jitter_percent" => *jitter_percent = u8::try_from(v.as_u64()?).ok()?,
            "xfetch_beta_bits" => *xfetch_beta = f64::from_bits(v.as_u64()?),
            "origin_timeout" => *origin_timeout = v.as_u64()?,
            "max_body_size" => *max_body_size = v.as_u64()?,
            "tag_headers" => *tag_headers = header_names(v)?,
            "keep_tag_headers" => *keep_tag_headers = v.as_bool()?,
            "public_authorization" => *public_authorization = v.as_bool()?,
            "set_cookie" => {
                *set_cookie = match v.as_str()? {
                    "strip" => SetCookieMode::Strip,
                    "uncacheable" => SetCookieMode::Uncacheable,
                    _ => return None,
                }
            }
            "cookies" => {
                *cookies = CookiePolicy {
                    mode: match text(v, "mode")? {
                        "strip" => CookieMode::Strip,
                        "allow" => CookieMode::Allow,
                        "pass" => CookieMode::Pass,
                        _ => return None,
                    },
                    allow: names(v.get("allow")?)?,
                    bypass: names(v.get("bypass")?)?,
                }
            }
            "query" => {
                *query = QueryPolicy {
                    mode: match text(v, "mode")? {
                        "ignore" => QueryMode::Ignore,
                        "allow" => QueryMode::Allow,
                        "deny" => QueryMode::Deny,
                        _ => return None,
                    },
                    allow: names(v.get("allow")?)?,
                    deny: names(v.get("deny")?)?,
                }
            }
            "key" => {
                *key = KeyPolicy {
                    vary: header_names(v.get("vary")?)?,
                    include_host: flag(v, "include_host")?,
                }
            }
            "forward_unkeyed" => *forward_unkeyed = header_names(v)?,
            "deception_armor" => *deception_armor = v.as_bool()?,
            "configured" => {
                *configured = Configured {
                    edge_ttl: flag(v, "edge_ttl")?,
                    status_ttl: flag(v, "status_ttl")?,
                    stale_while_revalidate: flag(v, "stale_while_revalidate")?,
                    stale_if_error: flag(v, "stale_if_error")?,
                }
            }
            _ => return None,
        }
    }
    (named == (true, true)).then_some(r)
}

fn conditions(j: &Json) -> Option<Conditions> {
    let hosts = j
        .get("hosts")?
        .as_array()?
        .iter()
        .map(|h| match h.as_array()? {
            [Json::Str(kind), Json::Str(s)] if kind == "exact" => {
                Some(HostPattern::Exact(s.clone()))
            }
            [Json::Str(kind), Json::Str(s)] if kind == "subdomains" => {
                Some(HostPattern::Subdomains(s.clone()))
            }
            _ => None,
        })
        .collect::<Option<Vec<_>>>()?;
    let paths = j
        .get("paths")?
        .as_array()?
        .iter()
        .map(|p| {
            if let Some(e) = text(p, "ext") {
                return Some(PathPattern::Ext(e.to_string()));
            }
            let segments = p
                .get("glob")?
                .as_array()?
                .iter()
                .map(|s| match s {
                    Json::Str(l) => Some(Segment::Literal(l.clone())),
                    Json::Null => Some(Segment::Star),
                    _ => None,
                })
                .collect::<Option<Vec<_>>>()?;
            Some(PathPattern::Glob {
                segments,
                globstar: flag(p, "globstar")?,
            })
        })
        .collect::<Option<Vec<_>>>()?;
    Some(Conditions {
        hosts,
        methods: list(j, "methods")?,
        paths,
        exts: list(j, "exts")?,
    })
}

fn status_ttl(j: &Json) -> Option<StatusTtl> {
    let exact = j
        .get("exact")?
        .as_array()?
        .iter()
        .map(|e| match e.as_array()? {
            [code, ttl] => Some((u16::try_from(code.as_u64()?).ok()?, ttl.as_u64()?)),
            _ => None,
        })
        .collect::<Option<Vec<_>>>()?;
    let class_list = j.get("class")?.as_array()?;
    let mut class = [None; 6];
    if class_list.len() != class.len() {
        return None;
    }
    for (slot, v) in class.iter_mut().zip(class_list) {
        *slot = match v {
            Json::Null => None,
            v => Some(v.as_u64()?),
        };
    }
    Some(StatusTtl { exact, class })
}

fn names(j: &Json) -> Option<NamePatterns> {
    Some(NamePatterns {
        exact: list(j, "exact")?,
        prefixes: list(j, "prefixes")?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip(p: &Policy) -> Policy {
        let text = to_json(p);
        assert!(text.is_ascii(), "{text}");
        from_json(&text).unwrap_or_else(|| panic!("does not decode: {text}"))
    }

    fn assert_same(a: &Policy, b: &Policy) {
        assert_eq!(a.defaults, b.defaults);
        assert_eq!(a.rules, b.rules);
    }

    /// `tests/fixtures/policy-roundtrip.toml` sets every field and variant, with awkward strings
    /// and floats; encoded and decoded it must equal what the loader makes of the file.
    #[test]
    fn fixture_round_trips() {
        let src = include_str!("../../tests/fixtures/policy-roundtrip.toml");
        let loaded = Policy::from_toml_str(src, "policy-roundtrip.toml")
            .unwrap_or_else(|e| panic!("fixture invalid:\n{e}"));
        // The only warnings allowed: forward_unkeyed, which is warned about by design.
        assert!(
            loaded.warnings.iter().all(|w| w.field == "forward_unkeyed"),
            "{:?}",
            loaded.warnings
        );
        let want = loaded.policy;
        let got = round_trip(&want);
        assert_same(&got, &want);
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
        assert!(all().any(|r| r.forward_unkeyed.len() == 2));
        assert!(all().any(|r| r.forward_unkeyed.is_empty() && r.deception_armor));
        assert!(all().any(|r| !r.deception_armor));
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
        // Matching goes through the matcher compiled from the decoded rules.
        for (m, h, p) in [
            ("GET", "a.example.com", "/assets/x.css"),
            ("POST", "example.org", "/api/v1"),
            ("GET", "example.net", "/"),
        ] {
            assert_eq!(
                got.match_rule(m, h, p).index,
                want.match_rule(m, h, p).index,
                "{m} {h} {p}"
            );
        }
    }

    /// The demo policy (./dev, deploys) and the test policy (./test's worker) both embed exactly.
    #[test]
    fn the_repository_policies_round_trip() {
        for (src, file) in [
            (include_str!("../../edgecache.toml"), "edgecache.toml"),
            (
                include_str!("../../tests/edgecache.test.toml"),
                "tests/edgecache.test.toml",
            ),
        ] {
            let want = Policy::from_toml_str(src, file).unwrap().policy;
            assert_same(&round_trip(&want), &want);
        }
    }

    #[test]
    fn floats_keep_their_bits() {
        for x in [0.0, -0.0, 0.1, 1e-7, 1.0 / 3.0, 10.0, 5e-324, f64::INFINITY] {
            let mut r = Rule::builtin_default();
            r.xfetch_beta = x;
            let p = round_trip(&Policy::from_rules(r.clone(), vec![r]));
            assert_eq!(p.defaults.xfetch_beta.to_bits(), x.to_bits(), "{x}");
        }
    }

    #[test]
    fn status_ttl_and_patterns() {
        let mut r = Rule::builtin_default();
        r.status_ttl = StatusTtl::default();
        r.status_ttl.set_exact(404, 30);
        r.status_ttl.set_exact(200, 5);
        r.status_ttl.class[3] = Some(60);
        r.when = Conditions {
            hosts: vec![
                HostPattern::Exact("a.example".into()),
                HostPattern::Subdomains("example.com".into()),
            ],
            methods: vec!["GET".into()],
            paths: vec![
                PathPattern::Glob {
                    segments: vec![Segment::Literal("a\"b".into()), Segment::Star],
                    globstar: true,
                },
                PathPattern::Glob {
                    segments: vec![],
                    globstar: false,
                },
                PathPattern::Ext("css".into()),
            ],
            exts: vec!["js".into()],
        };
        r.cookies.allow = NamePatterns::new(["sid", "wp_*", "*"]).unwrap();
        let p = Policy::from_rules(Rule::builtin_default(), vec![r]);
        assert_same(&round_trip(&p), &p);
    }

    #[test]
    fn rules_carry_only_what_differs() {
        let mut r = Rule::builtin_default();
        r.name = "blog".into();
        r.edge_ttl = 7;
        let p = Policy::from_rules(Rule::builtin_default(), vec![r]);
        let text = to_json(&p);
        assert_eq!(
            text,
            r#"{"defaults":{"index":1,"name":"default"},"rules":[{"index":0,"name":"blog","edge_ttl":7}]}"#
        );
        assert_same(&round_trip(&p), &p);
    }

    #[test]
    fn anything_else_is_refused() {
        let mut r = Rule::builtin_default();
        r.name = "r".into();
        r.edge_ttl = 7;
        r.origin_cache_control = OriginMode::Override;
        r.jitter_percent = 5;
        let good = to_json(&Policy::from_rules(Rule::builtin_default(), vec![r]));
        assert!(from_json(&good).is_some(), "{good}");
        for (from, to) in [
            (
                "\"origin_cache_control\":\"override\"",
                "\"origin_cache_control\":\"maybe\"",
            ),
            ("\"jitter_percent\":5", "\"jitter_percent\":300"),
            ("\"edge_ttl\":7", "\"edge_ttl\":\"7\""),
            ("\"edge_ttl\":7", "\"edge_tl\":7"),
            ("\"name\":\"r\",", ""),
        ] {
            assert!(good.contains(from), "{from} not in {good}");
            let bad = good.replacen(from, to, 1);
            assert!(from_json(&bad).is_none(), "{bad}");
        }
        assert!(from_json("").is_none());
        assert!(from_json("{}").is_none());
        assert!(from_json(r#"{"defaults":{"index":0,"name":"default"},"rules":[1]}"#).is_none());
    }
}
