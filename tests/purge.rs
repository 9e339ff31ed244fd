//! Purge scenarios through the public API: a webhook body is parsed, its records are written
//! to a map standing in for Workers KV (merging as the Durable Object does), and cached
//! entries are checked against them. Times are fixed.

use edgecache::purge::{
    check_entry, keys_to_check, merge, parse_purge_request, prefix_gate_open, record_keys,
    PurgeError, PurgeLimits, PurgeRecord, PurgeRequest, PurgeVerdict, RecordMemo, PREFIX_GATE_KEY,
    PURGE_SKEW_MS,
};
use edgecache::webhook_sig::{
    bearer_matches, decode_secret, sign, verify, ReplayGuard, SigError, DEFAULT_TOLERANCE_SECS,
};
use proptest::prelude::*;
use std::cell::RefCell;
use std::collections::HashMap;

/// 2024-11-25T18:40:00Z in unix milliseconds.
const T0: u64 = 1_732_560_000_000;
const HOUR: u64 = 3_600_000;
const JSON: Option<&str> = Some("application/json");
const SITE: &str = "https://example.com";

/// A stand-in cache-key normaliser: resolves against the site, drops the fragment.
fn normalise(u: &str) -> Result<String, String> {
    let base = url::Url::parse(SITE).map_err(|e| e.to_string())?;
    let mut url = base.join(u).map_err(|e| e.to_string())?;
    url.set_fragment(None);
    Ok(url.to_string())
}

/// Workers KV as a map, written the way the purge Durable Object writes: merged.
#[derive(Default)]
struct Kv(HashMap<String, String>);

impl Kv {
    fn purge(&mut self, body: &str, now_ms: u64) -> Result<Vec<String>, PurgeError> {
        let req = parse_purge_request(JSON, body.as_bytes(), &PurgeLimits::default())?;
        let keys = record_keys(&req, normalise)?;
        for k in &keys {
            let new = req.record(now_ms);
            let merged = match self.0.get(k).and_then(|v| PurgeRecord::decode(v)) {
                Some(old) => merge(old, new),
                None => new,
            };
            self.0.insert(k.clone(), merged.encode());
        }
        Ok(keys)
    }

    fn get(&self, key: &str) -> Option<PurgeRecord> {
        self.0.get(key).and_then(|v| PurgeRecord::decode(v))
    }
}

/// A cached entry as the adapter would describe it.
struct Entry {
    stored_at_ms: u64,
    tags: Vec<String>,
    url: &'static str,
}

impl Entry {
    fn new(stored_at_ms: u64, tags: &[&str], url: &'static str) -> Self {
        Entry {
            stored_at_ms,
            tags: tags.iter().map(|t| t.to_string()).collect(),
            url,
        }
    }

    fn check(&self, kv: &Kv) -> PurgeVerdict {
        let u = url::Url::parse(self.url).unwrap();
        let host = edgecache::purge::host_of(&u);
        let key = normalise(self.url).unwrap();
        check_entry(self.stored_at_ms, &self.tags, &key, &host, u.path(), |k| {
            kv.get(k)
        })
    }
}

#[test]
fn hard_purge_by_tag_is_a_miss_soft_is_stale() {
    let mut kv = Kv::default();
    let product = Entry::new(T0, &["product-42", "catalog"], "https://example.com/p/42");
    let other = Entry::new(T0, &["product-7"], "https://example.com/p/7");
    assert_eq!(product.check(&kv), PurgeVerdict::Fresh);

    kv.purge(r#"{"tags":["product-42"],"soft":true}"#, T0 + HOUR)
        .unwrap();
    assert_eq!(
        product.check(&kv),
        PurgeVerdict::SoftPurged { at_ms: T0 + HOUR }
    );
    assert_eq!(product.check(&kv).as_str(), "soft-purged");
    assert_eq!(other.check(&kv), PurgeVerdict::Fresh);

    kv.purge(r#"{"tags":["catalog"]}"#, T0 + 2 * HOUR).unwrap();
    assert_eq!(
        product.check(&kv),
        PurgeVerdict::HardPurged {
            at_ms: T0 + 2 * HOUR
        }
    );
    assert_eq!(other.check(&kv), PurgeVerdict::Fresh);
}

#[test]
fn hard_beats_soft_and_a_later_soft_purge_does_not_weaken_a_hard_one() {
    let mut kv = Kv::default();
    let old = Entry::new(T0, &["news"], "https://example.com/news");
    let between = Entry::new(T0 + 2 * HOUR, &["news"], "https://example.com/news");
    kv.purge(r#"{"tags":["news"]}"#, T0 + HOUR).unwrap();
    kv.purge(r#"{"tags":["news"],"soft":true}"#, T0 + 3 * HOUR)
        .unwrap();
    // The record holds both facts.
    assert_eq!(
        kv.0["tag:news"],
        format!("{}:s:{}", T0 + 3 * HOUR, T0 + HOUR)
    );
    assert_eq!(
        old.check(&kv),
        PurgeVerdict::HardPurged { at_ms: T0 + HOUR }
    );
    assert_eq!(
        between.check(&kv),
        PurgeVerdict::SoftPurged {
            at_ms: T0 + 3 * HOUR
        }
    );
}

#[test]
fn the_newest_matching_record_decides_and_records_never_move_backwards() {
    let mut kv = Kv::default();
    kv.purge(r#"{"tags":["a"],"soft":true}"#, T0 + 2 * HOUR)
        .unwrap();
    // A late write carrying an older time (e.g. a retried purge) does not move it back.
    kv.purge(r#"{"tags":["a"],"soft":true}"#, T0 + HOUR)
        .unwrap();
    assert_eq!(kv.get("tag:a"), Some(PurgeRecord::soft(T0 + 2 * HOUR)));
    let e = Entry::new(T0 + 90 * 60_000, &["a"], "https://example.com/");
    assert_eq!(
        e.check(&kv),
        PurgeVerdict::SoftPurged {
            at_ms: T0 + 2 * HOUR
        }
    );
}

#[test]
fn an_entry_with_several_tags_takes_the_strongest_record() {
    let mut kv = Kv::default();
    kv.purge(r#"{"tags":["a"],"soft":true}"#, T0 + HOUR)
        .unwrap();
    kv.purge(r#"{"tags":["b"],"soft":true}"#, T0 + 2 * HOUR)
        .unwrap();
    let e = Entry::new(T0, &["a", "b", "c"], "https://example.com/x");
    assert_eq!(
        e.check(&kv),
        PurgeVerdict::SoftPurged {
            at_ms: T0 + 2 * HOUR
        }
    );
    kv.purge(r#"{"tags":["c"]}"#, T0 + HOUR / 2).unwrap();
    assert_eq!(
        e.check(&kv),
        PurgeVerdict::HardPurged {
            at_ms: T0 + HOUR / 2
        }
    );
}

#[test]
fn a_purge_does_not_affect_entries_stored_after_it() {
    let mut kv = Kv::default();
    kv.purge(r#"{"tags":["a"],"everything":true}"#, T0).unwrap();
    let at = Entry::new(T0, &["a"], "https://example.com/");
    let within_skew = Entry::new(T0 + PURGE_SKEW_MS, &["a"], "https://example.com/");
    let after = Entry::new(T0 + PURGE_SKEW_MS + 1, &["a"], "https://example.com/");
    assert_eq!(at.check(&kv), PurgeVerdict::HardPurged { at_ms: T0 });
    assert_eq!(
        within_skew.check(&kv),
        PurgeVerdict::HardPurged { at_ms: T0 }
    );
    assert_eq!(after.check(&kv), PurgeVerdict::Fresh);
}

#[test]
fn url_purges_go_through_the_cache_key_normaliser() {
    let mut kv = Kv::default();
    let keys = kv
        .purge(
            r#"{"urls":["/a?x=1#frag","https://EXAMPLE.com/b"]}"#,
            T0 + HOUR,
        )
        .unwrap();
    assert_eq!(
        keys,
        ["url:https://example.com/a?x=1", "url:https://example.com/b"]
    );
    assert!(Entry::new(T0, &[], "https://example.com/a?x=1")
        .check(&kv)
        .is_purged());
    assert!(Entry::new(T0, &[], "https://example.com/b")
        .check(&kv)
        .is_purged());
    assert!(!Entry::new(T0, &[], "https://example.com/a")
        .check(&kv)
        .is_purged());
}

#[test]
fn prefix_purges_cover_descendants_at_segment_boundaries() {
    let mut kv = Kv::default();
    kv.purge(r#"{"prefixes":["/blog/"]}"#, T0 + HOUR).unwrap();
    for covered in [
        "https://example.com/blog",
        "https://example.com/blog/",
        "https://example.com/blog/2024/11/post?page=2",
        "https://other.org/blog/x",
    ] {
        let v = Entry::new(T0, &[], covered).check(&kv);
        assert_eq!(
            v,
            PurgeVerdict::HardPurged { at_ms: T0 + HOUR },
            "{covered}"
        );
    }
    for not_covered in [
        "https://example.com/blogger",
        "https://example.com/",
        "https://example.com/b",
    ] {
        assert_eq!(
            Entry::new(T0, &[], not_covered).check(&kv),
            PurgeVerdict::Fresh,
            "{not_covered}"
        );
    }
}

#[test]
fn absolute_prefixes_only_cover_their_host() {
    let mut kv = Kv::default();
    kv.purge(
        r#"{"prefixes":["https://Shop.example.com/cart"],"soft":true}"#,
        T0 + HOUR,
    )
    .unwrap();
    let v = Entry::new(T0, &[], "https://shop.example.com/cart/items").check(&kv);
    assert_eq!(v, PurgeVerdict::SoftPurged { at_ms: T0 + HOUR });
    let v = Entry::new(T0, &[], "https://example.com/cart/items").check(&kv);
    assert_eq!(v, PurgeVerdict::Fresh);
    // A host root prefix purges that whole host.
    kv.purge(r#"{"prefixes":["https://example.com/"]}"#, T0 + 2 * HOUR)
        .unwrap();
    assert!(Entry::new(T0, &[], "https://example.com/any/thing")
        .check(&kv)
        .is_purged());
    assert!(!Entry::new(T0, &[], "https://elsewhere.com/")
        .check(&kv)
        .is_purged());
}

#[test]
fn the_prefix_gate_spares_newer_entries_the_prefix_lookups() {
    let mut kv = Kv::default();
    kv.purge(r#"{"prefixes":["/a/"]}"#, T0 + HOUR).unwrap();
    let consulted = RefCell::new(Vec::new());
    let lookup = |k: &str| {
        consulted.borrow_mut().push(k.to_string());
        kv.get(k)
    };
    let key = "https://example.com/a/b";
    let newer = check_entry(T0 + 2 * HOUR, &[], key, "example.com", "/a/b", lookup);
    assert_eq!(newer, PurgeVerdict::Fresh);
    assert!(consulted.borrow().iter().all(|k| !k.starts_with("prefix:")));
    assert!(!prefix_gate_open(T0 + 2 * HOUR, kv.get(PREFIX_GATE_KEY)));

    consulted.borrow_mut().clear();
    let older = check_entry(T0, &[], key, "example.com", "/a/b", lookup);
    assert!(older.is_purged());
    // Everything consulted is announced by keys_to_check, so the adapter can prefetch it.
    let announced = keys_to_check(&[], key, "example.com", "/a/b");
    for k in consulted.borrow().iter() {
        assert!(announced.contains(k), "{k} not announced");
    }
}

#[test]
fn the_memo_serves_reads_and_the_purging_location_sees_its_purge_at_once() {
    let mut kv = Kv::default();
    let mut memo = RecordMemo::new(2_000, 100);
    let entry = Entry::new(T0, &["a"], "https://example.com/");
    for k in keys_to_check(&entry.tags, "https://example.com/", "example.com", "/") {
        memo.insert(&k, kv.get(&k), T0 + HOUR);
    }
    // The purge lands; this location updates its memo with what it wrote.
    for k in kv.purge(r#"{"tags":["a"]}"#, T0 + HOUR + 10).unwrap() {
        memo.insert(&k, kv.get(&k), T0 + HOUR + 10);
    }
    let v = check_entry(
        T0,
        &entry.tags,
        "https://example.com/",
        "example.com",
        "/",
        |k| memo.get(k, T0 + HOUR + 20).flatten(),
    );
    assert_eq!(
        v,
        PurgeVerdict::HardPurged {
            at_ms: T0 + HOUR + 10
        }
    );
}

#[test]
fn nothing_is_written_unless_the_whole_request_is_valid() {
    let mut kv = Kv::default();
    let e = kv
        .purge(r#"{"tags":["ok"],"urls":["/fine","ftp://bad/"]}"#, T0)
        .unwrap_err();
    assert_eq!(e.status(), 422);
    assert!(e.detail().starts_with("urls[1]:"), "{}", e.detail());
    assert!(kv.0.is_empty());
}

/// Every error status with its exact JSON body.
#[test]
fn every_error_status_and_its_json() {
    let limits = PurgeLimits::default();
    let err = |ct: Option<&str>, body: &[u8]| parse_purge_request(ct, body, &limits).unwrap_err();
    let cases: Vec<(PurgeError, u16, &str)> = vec![
        (
            err(JSON, br#"{"tags":["a","b",3]}"#),
            400,
            r#"{"error":"bad_request","detail":"tags[2]: expected a string, got a number"}"#,
        ),
        (
            err(JSON, br#"{"tags":["a"],"purge_all":true}"#),
            400,
            r#"{"error":"bad_request","detail":"\"purge_all\": unknown field (expected tags, urls, prefixes, everything, soft)"}"#,
        ),
        (
            PurgeError::Unauthorized,
            401,
            r#"{"error":"unauthorized","detail":"missing or invalid credentials"}"#,
        ),
        (
            PurgeError::MethodNotAllowed,
            405,
            r#"{"error":"method_not_allowed","detail":"the purge endpoint only accepts POST"}"#,
        ),
        (
            err(JSON, &vec![b' '; 64 * 1024 + 1]),
            413,
            r#"{"error":"payload_too_large","detail":"the body is larger than 65536 bytes"}"#,
        ),
        (
            err(Some("text/plain"), b"{}"),
            415,
            r#"{"error":"unsupported_media_type","detail":"content type must be application/json, got `text/plain`"}"#,
        ),
        (
            err(JSON, br#"{"soft":true}"#),
            422,
            r#"{"error":"unprocessable","detail":"nothing to purge: give tags, urls, prefixes, or \"everything\": true"}"#,
        ),
        (
            PurgeError::Disabled,
            503,
            r#"{"error":"purge_disabled","detail":"purging is not configured on this deployment"}"#,
        ),
    ];
    for (e, status, json) in cases {
        assert_eq!(e.status(), status);
        assert_eq!(e.to_json(), json);
    }
    // Signature failures never say which part failed.
    for s in [
        SigError::TimestampTooOld,
        SigError::NoMatchingSignature,
        SigError::BadSecret,
    ] {
        assert_eq!(PurgeError::from(s), PurgeError::Unauthorized);
    }
}

#[test]
fn limits_per_call() {
    let limits = PurgeLimits::default();
    let body = |field: &str, n: usize, item: &dyn Fn(usize) -> String| {
        let items: Vec<String> = (0..n).map(item).collect();
        serde_json::json!({ field: items }).to_string()
    };
    let parse = |b: String| parse_purge_request(JSON, b.as_bytes(), &limits);
    assert!(parse(body("tags", 100, &|i| format!("t{i}"))).is_ok());
    assert_eq!(
        parse(body("tags", 101, &|i| format!("t{i}")))
            .unwrap_err()
            .status(),
        422
    );
    assert!(parse(body("urls", 100, &|i| format!("/u{i}"))).is_ok());
    assert_eq!(
        parse(body("urls", 101, &|i| format!("/u{i}")))
            .unwrap_err()
            .status(),
        422
    );
    assert!(parse(body("prefixes", 20, &|i| format!("/p{i}/"))).is_ok());
    let e = parse(body("prefixes", 21, &|i| format!("/p{i}/"))).unwrap_err();
    assert_eq!(e.detail(), "prefixes: 21 given, at most 20 per call");
    assert!(parse(body("tags", 1, &|_| "x".repeat(128))).is_ok());
    assert_eq!(
        parse(body("tags", 1, &|_| "x".repeat(129)))
            .unwrap_err()
            .status(),
        422
    );
    assert_eq!(
        parse(body("tags", 1, &|_| String::new()))
            .unwrap_err()
            .detail(),
        "tags[0]: must not be empty"
    );
    assert_eq!(
        parse(body("prefixes", 1, &|_| "blog".into()))
            .unwrap_err()
            .status(),
        422
    );
    assert_eq!(
        parse(body("urls", 1, &|_| "example.com/x".into()))
            .unwrap_err()
            .status(),
        422
    );
    // Configured limits apply.
    let tight = PurgeLimits {
        max_tags: 1,
        ..PurgeLimits::default()
    };
    let b = body("tags", 2, &|i| format!("t{i}"));
    assert_eq!(
        parse_purge_request(JSON, b.as_bytes(), &tight)
            .unwrap_err()
            .status(),
        422
    );
}

/// The Standard Webhooks specification's published example.
const SPEC_SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
const SPEC_ID: &str = "msg_p5jXN8AQM9LWM0D4loKWxJek";
const SPEC_TS: u64 = 1_614_265_330;
const SPEC_BODY: &[u8] = br#"{"test": 2432232314}"#;
const SPEC_SIG: &str = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=";

/// Computed independently with python3's `hmac` module: key bytes 0..=31, as `whsec_`.
const PY_SECRET: &str = "whsec_AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";
const PY_SIG: &str = "v1,Lr3i+mogANZs+lWVie16U4NVW/S82sc6Q/UgJSZh0go=";

#[test]
fn signature_vectors() {
    let key = decode_secret(SPEC_SECRET).unwrap();
    assert_eq!(sign(&key, SPEC_ID, SPEC_TS, SPEC_BODY), SPEC_SIG);
    assert_eq!(
        verify(
            &key,
            SPEC_ID,
            "1614265330",
            SPEC_SIG,
            SPEC_BODY,
            SPEC_TS,
            300
        ),
        Ok(())
    );
    // With a rotated-out signature alongside.
    let header = format!("v1,Zm9vYmFyYmF6 {SPEC_SIG}");
    assert_eq!(
        verify(
            &key,
            SPEC_ID,
            "1614265330",
            &header,
            SPEC_BODY,
            SPEC_TS + 299,
            300
        ),
        Ok(())
    );

    let key = decode_secret(PY_SECRET).unwrap();
    assert_eq!(key, (0u8..32).collect::<Vec<_>>());
    assert_eq!(sign(&key, "purge-7", 1_700_000_000, b"{}"), PY_SIG);
    assert_eq!(
        verify(
            &key,
            "purge-7",
            "1700000000",
            PY_SIG,
            b"{}",
            1_700_000_000,
            300
        ),
        Ok(())
    );
}

#[test]
fn tampering_and_expired_timestamps_are_refused() {
    let key = decode_secret(SPEC_SECRET).unwrap();
    let v = |id: &str, ts: &str, body: &[u8], now: u64| {
        verify(&key, id, ts, SPEC_SIG, body, now, DEFAULT_TOLERANCE_SECS)
    };
    assert_eq!(
        v(SPEC_ID, "1614265330", br#"{"test": 2432232315}"#, SPEC_TS),
        Err(SigError::NoMatchingSignature)
    );
    assert_eq!(
        v("msg_other", "1614265330", SPEC_BODY, SPEC_TS),
        Err(SigError::NoMatchingSignature)
    );
    assert_eq!(
        v(SPEC_ID, "1614265331", SPEC_BODY, SPEC_TS),
        Err(SigError::NoMatchingSignature)
    );
    assert_eq!(
        v(SPEC_ID, "1614265330", SPEC_BODY, SPEC_TS + 301),
        Err(SigError::TimestampTooOld)
    );
    assert_eq!(
        v(SPEC_ID, "1614265330", SPEC_BODY, SPEC_TS - 301),
        Err(SigError::TimestampTooNew)
    );
    // The raw (prefix-less) secret is a different key.
    let raw = decode_secret("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap();
    assert_eq!(
        verify(
            &raw,
            SPEC_ID,
            "1614265330",
            SPEC_SIG,
            SPEC_BODY,
            SPEC_TS,
            300
        ),
        Err(SigError::NoMatchingSignature)
    );
}

#[test]
fn replays_are_refused_within_the_window_and_forgotten_after() {
    let mut guard = ReplayGuard::new(DEFAULT_TOLERANCE_SECS, 1_000);
    let now = SPEC_TS;
    assert_eq!(guard.check_and_insert(SPEC_ID, SPEC_TS, now), Ok(()));
    assert_eq!(
        guard.check_and_insert(SPEC_ID, SPEC_TS, now + 10),
        Err(SigError::Replayed)
    );
    // A sender retry: same id, fresh timestamp; still a replay, and kept longer.
    assert_eq!(
        guard.check_and_insert(SPEC_ID, SPEC_TS + 200, now + 200),
        Err(SigError::Replayed)
    );
    assert_eq!(
        guard.check_and_insert(SPEC_ID, SPEC_TS + 200, now + 450),
        Err(SigError::Replayed)
    );
    assert_eq!(
        guard.check_and_insert("msg_2", now + 501, now + 501),
        Ok(())
    );
    // Past the window of its newest timestamp the id is forgotten (verify refuses it anyway).
    assert_eq!(guard.len(), 1);
}

#[test]
fn bearer_tokens() {
    assert!(bearer_matches(Some("Bearer tok_123"), "tok_123"));
    assert!(!bearer_matches(Some("Bearer tok_1234"), "tok_123"));
    assert!(!bearer_matches(Some("Bearer tok_123"), ""));
    assert!(!bearer_matches(None, "tok_123"));
}

// --- model check: the KV design answers exactly like a naive scan of every purge ---------

#[derive(Debug, Clone)]
struct Purge {
    at_ms: u64,
    soft: bool,
    tags: Vec<String>,
    prefixes: Vec<String>,
    everything: bool,
}

fn path_strategy() -> impl Strategy<Value = String> {
    (
        proptest::collection::vec(prop_oneof!["a", "b", "ab"], 0..4),
        any::<bool>(),
    )
        .prop_map(|(segs, trailing)| {
            let mut p = format!("/{}", segs.join("/"));
            if trailing && !segs.is_empty() {
                p.push('/');
            }
            p
        })
}

fn purge_strategy() -> impl Strategy<Value = Purge> {
    (
        0u64..6,
        any::<bool>(),
        proptest::collection::vec(prop_oneof!["t1", "t2", "t3"], 0..2),
        proptest::collection::vec(path_strategy(), 0..2),
        proptest::bool::weighted(0.1),
    )
        .prop_map(|(step, soft, tags, prefixes, everything)| Purge {
            at_ms: T0 + step * 1_500,
            soft,
            tags,
            prefixes,
            everything,
        })
}

/// Whether a normalised relative prefix covers a path, by the documented rule.
fn naive_prefix_covers(prefix: &str, path: &str) -> bool {
    let own = match path.strip_suffix('/') {
        Some(p) if !p.is_empty() => p,
        _ => path,
    };
    prefix == "/" || own == prefix || path.starts_with(&format!("{prefix}/"))
}

proptest! {
    #[test]
    fn kv_records_agree_with_a_naive_scan(
        purges in proptest::collection::vec(purge_strategy(), 0..6),
        stored_step in 0u64..8,
        entry_tags in proptest::collection::vec(prop_oneof!["t1", "t2", "t3"], 0..3),
        path in path_strategy(),
    ) {
        let stored = T0 + stored_step * 1_000;
        let mut kv: HashMap<String, PurgeRecord> = HashMap::new();
        let mut expected = PurgeVerdict::Fresh;

        for p in &purges {
            let req = PurgeRequest {
                tags: p.tags.clone(),
                urls: vec![],
                prefixes: p.prefixes.clone(),
                everything: p.everything,
                soft: p.soft,
            };
            let Ok(keys) = record_keys(&req, normalise) else { continue };
            for k in keys {
                let new = req.record(p.at_ms);
                let v = kv.get(&k).map_or(new, |old| merge(*old, new));
                kv.insert(k, v);
            }
            let covers = p.everything
                || p.tags.iter().any(|t| entry_tags.contains(t))
                || p.prefixes.iter().any(|pre| {
                    let norm = edgecache::purge::normalise_prefix(pre).unwrap();
                    naive_prefix_covers(&norm, &path)
                });
            if covers {
                expected = expected.strongest(req.record(p.at_ms).verdict_for(stored));
            }
        }
        let got = check_entry(stored, &entry_tags, "k", "example.com", &path, |k| kv.get(k).copied());
        prop_assert_eq!(got, expected);
    }

    #[test]
    fn parser_never_panics_on_arbitrary_bytes(
        ct in proptest::option::of("\\PC{0,30}"),
        body in proptest::collection::vec(any::<u8>(), 0..300),
    ) {
        if let Err(e) = parse_purge_request(ct.as_deref(), &body, &PurgeLimits::default()) {
            prop_assert!([400u16, 413, 415, 422].contains(&e.status()));
            let v: serde_json::Value = serde_json::from_str(&e.to_json()).unwrap();
            prop_assert_eq!(v["error"].as_str(), Some(e.error()));
        }
    }

    #[test]
    fn merge_laws(
        a in (0u64..20, any::<bool>()), b in (0u64..20, any::<bool>()), c in (0u64..20, any::<bool>()),
    ) {
        let r = |(t, s): (u64, bool)| if s { PurgeRecord::soft(t) } else { PurgeRecord::hard(t) };
        let (a, b, c) = (r(a), r(b), r(c));
        prop_assert_eq!(merge(a, b), merge(b, a));
        prop_assert_eq!(merge(merge(a, b), c), merge(a, merge(b, c)));
        prop_assert_eq!(merge(a, a), a);
        let m = merge(a, b);
        prop_assert!(m.at_ms >= a.at_ms.max(b.at_ms));
        prop_assert_eq!(PurgeRecord::decode(&m.encode()), Some(m));
    }
}
