//! The steps of one cache hit through the core, as the adapter drives them (shared by
//! benches/hit.rs and bench/wasm-core): a miss stores an entry, then each hit reads it back as the
//! adapter reads it (the metadata decoded from its field, only the fields the lookup names).

use edgecache::decision::PurgeState;
use edgecache::lifecycle::{
    Action, Body, ClientRequest, Event, Exchange, Isolate, Now, OriginHead, Stored,
};
use edgecache::meta::META_HEADER;
use edgecache::policy::Policy;
use http::{HeaderMap, HeaderValue};
use std::hint::black_box;

/// Wed, 01 Jan 2025 00:00:00 GMT, in ms.
pub const T0: u64 = 1_735_689_600_000;

/// The request autocannon sends (bench/load.mjs), as the adapter reads it.
pub fn request(path: &str) -> ClientRequest {
    let mut h = HeaderMap::new();
    h.insert(
        http::header::HOST,
        HeaderValue::from_static("127.0.0.1:8787"),
    );
    h.insert(
        http::header::USER_AGENT,
        HeaderValue::from_static("autocannon"),
    );
    // Through a memo, as the adapter parses it (src/worker/mod.rs `parse_url`).
    let text = format!("http://127.0.0.1:8787{path}");
    let url = URLS
        .with(|m| {
            m.borrow_mut()
                .get_or_parse(&text, |t| url::Url::parse(t).ok())
        })
        .expect("url");
    ClientRequest {
        method: "GET".into(),
        url,
        headers: h,
    }
}

thread_local! {
    static URLS: std::cell::RefCell<edgecache::memo::TextMemo<url::Url>> =
        std::cell::RefCell::new(edgecache::memo::TextMemo::default());
    // The adapter's lookup decodes through the isolate's memo (src/worker/serve.rs `decode_meta`).
    static METAS: std::cell::RefCell<edgecache::meta::MetaMemo> =
        std::cell::RefCell::new(edgecache::meta::MetaMemo::default());
    static ORIGIN: url::Url = url::Url::parse("http://127.0.0.1:9").expect("origin");
}

/// The origin, parsed once (the adapter reads it once per isolate).
pub fn origin() -> url::Url {
    ORIGIN.with(Clone::clone)
}

/// The stored entry after one miss of `path`: (key, status, fields).
pub fn store(policy: &'static Policy, path: &str, now: Now) -> (String, u16, HeaderMap) {
    let mut iso = Isolate::default();
    let mut ex = Exchange::new(policy, request(path), origin(), false);
    let mut ev = Event::Start;
    for _ in 0..20 {
        match ex.step(&mut iso, ev, now) {
            Action::Lookup { .. } => ev = Event::Found(None),
            Action::Fetch(_) => {
                let mut h = HeaderMap::new();
                h.insert(
                    "content-type",
                    HeaderValue::from_static("text/html; charset=utf-8"),
                );
                h.insert("content-length", HeaderValue::from_static("1024"));
                h.insert(
                    "cache-control",
                    HeaderValue::from_static("public, max-age=300"),
                );
                h.insert("etag", HeaderValue::from_static("\"a1\""));
                h.insert(
                    "last-modified",
                    HeaderValue::from_static("Wed, 01 Jan 2025 00:00:00 GMT"),
                );
                h.insert("cache-tag", HeaderValue::from_static("article-1,author-7"));
                ev = Event::Origin(Ok(OriginHead {
                    status: 200,
                    headers: h,
                    request_ms: now.ms,
                    response_ms: now.ms,
                }));
            }
            Action::Respond { store: Some(s), .. } => return (s.key, s.status, s.headers),
            a => panic!("unexpected {a:?}"),
        }
    }
    panic!("no store")
}

/// One hit, start to finish; returns the answer's status.
pub fn hit(
    policy: &'static Policy,
    iso: &mut Isolate,
    entry: &(String, u16, HeaderMap),
    path: &str,
    now: Now,
) -> u16 {
    let mut ex = Exchange::new(policy, request(path), origin(), false);
    let mut ev = Event::Start;
    let mut status = 0;
    for _ in 0..10 {
        match ex.step(iso, ev, now) {
            Action::Lookup { key, fields } => {
                assert_eq!(key, entry.0);
                let (_, st, h) = entry;
                let meta = h
                    .get(META_HEADER)
                    .and_then(|v| v.to_str().ok())
                    .and_then(|t| METAS.with(|m| m.borrow_mut().decode(t)))
                    .expect("meta");
                let mut wanted = HeaderMap::new();
                for (k, v) in h {
                    if let Some(n) = fields.iter().find(|n| *n == k) {
                        wanted.append(n.clone(), v.clone());
                    }
                }
                ev = Event::Found(Some(Stored {
                    meta,
                    status: *st,
                    headers: wanted,
                }));
            }
            Action::CheckPurge(_) => ev = Event::Purge(PurgeState::Clean),
            Action::Respond { answer, store } => {
                assert!(store.is_none() && answer.body == Body::Stored);
                status = answer.status;
                ev = Event::Done;
            }
            Action::Finish => break,
            a => panic!("unexpected {a:?}"),
        }
        black_box(ex.take_metrics());
    }
    status
}

/// The core's first step of a hit: the request planned up to its lookup; returns the key's length.
#[allow(
    dead_code,
    reason = "bench/wasm-core times it; benches/hit.rs does not"
)]
pub fn first_step(policy: &'static Policy, iso: &mut Isolate, path: &str, now: Now) -> u32 {
    let mut ex = Exchange::new(policy, request(path), origin(), false);
    match ex.step(iso, Event::Start, now) {
        Action::Lookup { key, .. } => u32::try_from(key.len()).unwrap_or(0),
        a => panic!("unexpected {a:?}"),
    }
}
