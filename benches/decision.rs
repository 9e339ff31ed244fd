//! Benchmarks of the per-request policy work: rule matching, cookie filtering, key building; and
//! of the once-per-isolate work: decoding the embedded policy.
//!
//! `cargo bench --bench decision`. Rule sets are generated: a mix of exact paths, `/**` prefixes,
//! `*` globs, extensions, host-specific and method-specific rules.

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use edgecache::cookies::{filter_cookie_header, find_bypass_cookie, NamePatterns};
use edgecache::key::{cache_key, normalize_path};
use edgecache::policy::Policy;
use http::{HeaderMap, HeaderValue};
use std::hint::black_box;
use std::time::Duration;

/// `n` rules in total: `n - 1` generated ones, then a `*.css` rule.
fn generated_policy(n: usize) -> Policy {
    let mut src = String::new();
    for i in 0..n - 1 {
        let cond = match i % 6 {
            0 => format!("path = \"/page/{i}\""),
            1 => format!("path = \"/section{i}/**\""),
            2 => format!("path = \"/blog{i}/*/comments\""),
            3 => format!("path = \"/files{i}/**\"\next = [\"pdf\", \"zip\"]"),
            4 => format!("host = \"site{i}.example.com\"\npath = \"/**\""),
            _ => format!("method = \"POST\"\npath = \"/api{i}/**\""),
        };
        src.push_str(&format!(
            "[[rules]]\nname = \"r{i}\"\n{cond}\nedge_ttl = \"{}s\"\n",
            i + 1
        ));
    }
    src.push_str("[[rules]]\nname = \"css\"\npath = \"*.css\"\n");
    match Policy::from_toml_str(&src, "bench.toml") {
        Ok(l) => l.policy,
        Err(e) => panic!("{e}"),
    }
}

/// Requests that hit the last rules of each kind, plus misses that fall to the default.
fn requests(n: usize) -> Vec<(&'static str, String, String)> {
    let last = |k: usize| (0..n - 1).rev().find(|i| i % 6 == k).unwrap_or(0);
    vec![
        ("GET", "example.com".into(), format!("/page/{}", last(0))),
        (
            "GET",
            "example.com".into(),
            format!("/section{}/a/b/c", last(1)),
        ),
        (
            "GET",
            "example.com".into(),
            format!("/blog{}/post/comments", last(2)),
        ),
        (
            "GET",
            "example.com".into(),
            format!("/files{}/x/report.pdf", last(3)),
        ),
        ("GET", format!("site{}.example.com", last(4)), "/x".into()),
        (
            "POST",
            "example.com".into(),
            format!("/api{}/v1/items", last(5)),
        ),
        ("GET", "example.com".into(), "/theme/site.css".into()),
        (
            "GET",
            "www.example.com".into(),
            "/not/matched/anywhere".into(),
        ),
    ]
}

fn bench_match(c: &mut Criterion) {
    let mut g = c.benchmark_group("match_rule");
    g.measurement_time(Duration::from_secs(2));
    g.warm_up_time(Duration::from_secs(1));
    for n in [10usize, 100, 1000] {
        let p = generated_policy(n);
        let reqs = requests(n);
        for (m, h, path) in &reqs {
            assert_eq!(
                p.match_rule(m, h, path).index,
                p.match_rule_linear(m, h, path).index
            );
        }
        // Each iteration runs the 8 requests: divide by 8 for one decision.
        g.bench_with_input(BenchmarkId::new("compiled", n), &reqs, |b, reqs| {
            b.iter(|| {
                for (m, h, path) in reqs {
                    black_box(p.match_rule(black_box(m), black_box(h), black_box(path)));
                }
            })
        });
        if n == 1000 {
            g.bench_with_input(BenchmarkId::new("linear", n), &reqs, |b, reqs| {
                b.iter(|| {
                    for (m, h, path) in reqs {
                        black_box(p.match_rule_linear(black_box(m), black_box(h), black_box(path)));
                    }
                })
            });
        }
    }
    g.finish();
}

fn bench_cookies(c: &mut Criterion) {
    let mut g = c.benchmark_group("cookies");
    g.measurement_time(Duration::from_secs(2));
    g.warm_up_time(Duration::from_secs(1));
    let header = "_ga=GA1.2.3.4; _gid=GA1.2.5; theme=dark; currency=EUR; consent=yes; \
                  ab_test=b; wordpress_test_cookie=WP; tracking_id=0123456789abcdef";
    let bypass = NamePatterns::new(["wordpress_logged_in_*", "sessionid", "session"]).unwrap();
    let keep = NamePatterns::new(["theme", "currency", "ab_*"]).unwrap();
    g.bench_function("find_bypass_cookie", |b| {
        b.iter(|| find_bypass_cookie(black_box(header), &bypass))
    });
    g.bench_function("filter_cookie_header", |b| {
        b.iter(|| filter_cookie_header(black_box(header), &keep))
    });
    g.finish();
}

fn bench_key(c: &mut Criterion) {
    let mut g = c.benchmark_group("cache_key");
    g.measurement_time(Duration::from_secs(2));
    g.warm_up_time(Duration::from_secs(1));
    let p = Policy::from_toml_str(
        "[[rules]]\nname = \"i18n\"\npath = \"/i18n/**\"\nkey = { vary = [\"accept-language\"] }\n",
        "bench.toml",
    )
    .unwrap()
    .policy;
    let url = url::Url::parse(
        "https://Example.com/blog/2024/./post-%7etitle/?utm_source=news&utm_medium=mail&page=2&id=7&gclid=x",
    )
    .unwrap();
    let i18n = url::Url::parse("https://example.com/i18n/home?b=2&a=1").unwrap();
    let mut headers = HeaderMap::new();
    headers.insert(
        "accept-language",
        HeaderValue::from_static("fr-CH, fr;q=0.9, en;q=0.8"),
    );
    g.bench_function("normalize_path", |b| {
        b.iter(|| normalize_path(black_box(url.path())))
    });
    g.bench_function("default_rule_tracking_params", |b| {
        b.iter(|| cache_key(black_box(&url), &p.defaults, &headers))
    });
    let rule = p.match_rule("GET", "example.com", "/i18n/home");
    g.bench_function("vary_accept_language", |b| {
        b.iter(|| cache_key(black_box(&i18n), rule, &headers))
    });
    g.finish();
}

/// What an isolate does once at start: decode the embedded (resolved) policy and compile its
/// matcher. The embedded text's size is printed (it is data in the wasm).
fn bench_embedded(c: &mut Criterion) {
    let mut g = c.benchmark_group("embedded_policy_decode");
    g.measurement_time(Duration::from_secs(2));
    g.warm_up_time(Duration::from_secs(1));
    for n in [10usize, 100, 1000] {
        let p = generated_policy(n);
        let text = edgecache::policy::embed::to_json(&p);
        println!("embedded policy, {n} rules: {} bytes of JSON", text.len());
        let back = edgecache::policy::embed::from_json(&text).expect("decodes");
        assert_eq!(back.rules, p.rules);
        g.bench_with_input(BenchmarkId::from_parameter(n), &text, |b, text| {
            b.iter(|| black_box(edgecache::policy::embed::from_json(black_box(text))))
        });
    }
    g.finish();
}

criterion_group!(
    benches,
    bench_match,
    bench_cookies,
    bench_key,
    bench_embedded
);
criterion_main!(benches);
