//! The core's hit (the same steps as benches/hit.rs) exported for a timing loop in V8:
//! `setup()` stores one entry, `run(n, what)` runs `n` hits (`what` 0), metadata decodes (1) or URL
//! parses (2). See Cargo.toml for the build and cold.mjs for the timing.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use edgecache::lifecycle::{Isolate, Now};
use edgecache::meta::{EntryMeta, META_HEADER};
use edgecache::policy::Policy;
use http::HeaderMap;
use std::cell::RefCell;
use std::hint::black_box;

#[path = "../../../benches/common/hit_steps.rs"]
mod steps;
use steps::{hit, store, T0};

/// The policy the worker embeds (EDGECACHE_POLICY at build time, as scripts/build.sh sets it).
fn policy() -> &'static Policy {
    Box::leak(Box::new(edgecache::embedded::policy()))
}

type State = (&'static Policy, (String, u16, HeaderMap), Isolate);

thread_local! {
    static STATE: RefCell<Option<State>> = const { RefCell::new(None) };
}

/// A request's fields under `wrangler dev`, as the adapter gets them (`allFields` in
/// src/worker/fields.js).
const REQUEST_FIELDS: &str = "accept-encoding,br, gzip\ncf-connecting-ip,127.0.0.1\ncf-ipcountry,XX\ncf-ray,8e1f2a3b4c5d6e7f\ncf-visitor,{\"scheme\":\"http\"}\nhost,127.0.0.1:8787\nuser-agent,autocannon\nx-forwarded-proto,http\nx-real-ip,127.0.0.1";

/// The adapter's reading of them into a `HeaderMap` (src/worker/io.rs `fields_of`).
fn request_fields(all: &str) -> HeaderMap {
    let mut m = HeaderMap::new();
    for (k, v) in all.split('\n').filter_map(|l| l.split_once(',')) {
        if let (Ok(k), Ok(v)) = (
            http::HeaderName::from_bytes(k.as_bytes()),
            http::HeaderValue::from_str(v),
        ) {
            m.append(k, v);
        }
    }
    m
}

/// Stores the entry the hits read.
#[no_mangle]
pub extern "C" fn setup() {
    let policy = policy();
    let now = Now { ms: T0, rand: 0.5 };
    let entry = store(policy, "/articles/1", now);
    STATE.with(|s| *s.borrow_mut() = Some((policy, entry, Isolate::default())));
}

/// `n` hits (`what` 0), metadata decodes (1) or URL parses (2); a checksum of their results.
#[no_mangle]
pub extern "C" fn run(n: u32, what: u32) -> u32 {
    STATE.with(|s| {
        let mut s = s.borrow_mut();
        let (policy, entry, iso) = s.as_mut().expect("setup() first");
        let later = Now {
            ms: T0 + 5_000,
            rand: 0.5,
        };
        let mut acc = 0u32;
        for _ in 0..n {
            let one = match what {
                0 => u32::from(hit(policy, iso, entry, "/articles/1", later)),
                1 => {
                    let v = entry.2.get(META_HEADER).and_then(|v| v.to_str().ok());
                    v.and_then(|v| EntryMeta::decode(black_box(v)))
                        .map_or(0, |m| u32::from(m.status))
                }
                2 => url::Url::parse(black_box("http://127.0.0.1:8787/articles/1"))
                    .map_or(0, |u| u.as_str().len() as u32),
                3 => request_fields(black_box(REQUEST_FIELDS)).len() as u32,
                _ => steps::first_step(policy, iso, "/articles/1", later),
            };
            acc = acc.wrapping_add(one);
        }
        acc
    })
}
