//! The core's share of a cache hit (issue 16): every step of one hit's exchange, as the adapter
//! drives it, with the stored entry read back as the adapter reads it (the metadata decoded from
//! its field, only the fields the lookup names). No I/O: what is left is the core's own work.
//!
//! `cargo bench --bench hit`.

use criterion::{criterion_group, criterion_main, Criterion};
use edgecache::lifecycle::{Isolate, Now};
use edgecache::meta::{EntryMeta, META_HEADER};
use edgecache::policy::Policy;
use std::hint::black_box;
use std::time::Duration;

#[path = "common/hit_steps.rs"]
mod steps;
use steps::{hit, store, T0};

fn policy() -> &'static Policy {
    let src = include_str!("../tests/edgecache.test.toml");
    match Policy::from_toml_str(src, "edgecache.test.toml") {
        Ok(l) => Box::leak(Box::new(l.policy)),
        Err(e) => panic!("{e}"),
    }
}

fn bench_hit(c: &mut Criterion) {
    let policy = policy();
    let now = Now { ms: T0, rand: 0.5 };
    let path = "/articles/1";
    let entry = store(policy, path, now);
    let later = Now {
        ms: T0 + 5_000,
        rand: 0.5,
    };
    let mut iso = Isolate::default();
    assert_eq!(hit(policy, &mut iso, &entry, path, later), 200);
    let mut g = c.benchmark_group("hit");
    g.measurement_time(Duration::from_secs(3));
    g.bench_function("articles_1", |b| {
        b.iter(|| hit(policy, &mut iso, black_box(&entry), path, later))
    });
    g.bench_function("meta_decode", |b| {
        let v = entry
            .2
            .get(META_HEADER)
            .and_then(|v| v.to_str().ok())
            .expect("meta");
        b.iter(|| EntryMeta::decode(black_box(v)))
    });
    g.bench_function("url_parse", |b| {
        b.iter(|| url::Url::parse(black_box("http://127.0.0.1:8787/articles/1")))
    });
    g.finish();
}

criterion_group!(benches, bench_hit);
criterion_main!(benches);
