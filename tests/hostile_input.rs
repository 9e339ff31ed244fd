//! Property tests for issue 12: arbitrary bytes from a hostile origin or client, fed through the
//! public API of every core step that sees them, never panic and keep their documented bounds.
//!
//! The single parsers have their own never-panic properties beside them (cache_control,
//! freshness dates, variance, cookies, key, json, purge request bodies, records, webhook bearer);
//! this file covers the rest and the whole pipeline: an origin response with any status and any
//! header bytes → `plan_store` → stored metadata encode/decode → `plan_hit` → client headers,
//! 304 merge and invalidation; tags; metadata, metrics, purge-log and policy decoders on any
//! text; webhook signature checks on any header values.

use edgecache::decision::{
    client_headers, invalidations, plan_hit, plan_request, plan_store, revalidation_headers,
    CachePlan, OriginResponse, PurgeState, RequestPlan,
};
use edgecache::json::Json;
use edgecache::meta::EntryMeta;
use edgecache::metrics::{Aggregate, Snapshot};
use edgecache::policy::{OriginMode, Policy};
use edgecache::purge::PurgeLogEntry;
use edgecache::status::{CacheStatus, Fwd};
use edgecache::storable::merge_304_headers;
use edgecache::tags::{collect_counted, MAX_TAGS, MAX_TAG_BYTES};
use edgecache::webhook_sig::{verify, ReplayGuard};
use http::{HeaderMap, HeaderName, HeaderValue, Method};
use proptest::prelude::*;

/// The test policy (the e2e suites run it): the demo policy plus the lab rules, whose short
/// timeouts, stale windows and cookie/size settings the cases reach through lab URLs.
const TEST_POLICY: &str = include_str!("edgecache.test.toml");

/// Parsed once for every case (parsing and validating it is most of a case's time).
fn test_policy() -> &'static Policy {
    static P: std::sync::OnceLock<Policy> = std::sync::OnceLock::new();
    P.get_or_init(|| {
        Policy::from_toml_str(TEST_POLICY, "tests/edgecache.test.toml")
            .unwrap_or_else(|e| panic!("{e}"))
            .policy
    })
}

/// Header names an origin or client sends that the core reads, plus arbitrary tokens.
fn arb_name() -> impl Strategy<Value = HeaderName> {
    prop_oneof![
        prop::sample::select(vec![
            "cache-control",
            "cdn-cache-control",
            "cloudflare-cdn-cache-control",
            "age",
            "date",
            "expires",
            "last-modified",
            "etag",
            "vary",
            "cache-tag",
            "surrogate-key",
            "set-cookie",
            "content-length",
            "content-location",
            "location",
            "pragma",
            "connection",
            "cookie",
            "accept-encoding",
            "if-none-match",
            "if-modified-since",
            "authorization",
            "x-edgecache-meta",
        ])
        .prop_map(HeaderName::from_static),
        "[a-z0-9!#$%&'*+.^_`|~-]{1,20}".prop_filter_map("a header name", |n| {
            HeaderName::from_bytes(n.as_bytes()).ok()
        }),
    ]
}

/// Any value bytes the `http` crate (and so the adapter's conversion) lets through: visible
/// ASCII, obs-text (0x80-0xFF), spaces and tabs, in any order and any amount.
fn arb_value() -> impl Strategy<Value = HeaderValue> {
    prop_oneof![
        prop::collection::vec(any::<u8>(), 0..200),
        // Shaped like the fields the core parses, with garbage mixed in.
        "[a-zA-Z0-9=,;\" \\-*/:.()]{0,80}".prop_map(String::into_bytes),
        // Long lists (tags, Vary).
        prop::collection::vec("[a-z0-9*\\-]{0,12}", 0..100).prop_map(|v| v.join(",").into_bytes()),
    ]
    .prop_filter_map("a header value", |b| HeaderValue::from_bytes(&b).ok())
}

fn arb_headers(max: usize) -> impl Strategy<Value = HeaderMap> {
    prop::collection::vec((arb_name(), arb_value()), 0..max).prop_map(|pairs| {
        let mut h = HeaderMap::new();
        for (n, v) in pairs {
            h.append(n, v);
        }
        h
    })
}

/// A lab or demo URL under a rule of the test policy, with arbitrary query bytes.
fn arb_url() -> impl Strategy<Value = url::Url> {
    (
        prop::sample::select(vec![
            "/lab/hostile/x",
            "/lab/good/x",
            "/lab/swr/x",
            "/lab/sie/x",
            "/lab/strip/x",
            "/articles/1",
            "/",
            "/assets/a.css",
        ]),
        "[ -~]{0,40}",
    )
        .prop_filter_map("a URL", |(p, q)| {
            url::Url::parse(&format!("https://example.com{p}?{q}")).ok()
        })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

    /// An origin response with any status and any headers goes through the whole core without
    /// a panic; whatever is stored decodes back to itself and plans a hit.
    #[test]
    fn origin_response_pipeline_never_panics(
        url in arb_url(),
        req in arb_headers(8),
        status in 0u16..1000,
        resp in arb_headers(24),
        now in 0u64..4_000_000_000,
        delay in 0u64..100_000,
        later in 0u64..10_000_000,
        r in 0.0f64..1.0,
    ) {
        let policy = test_policy();
        let plan: CachePlan<'_> = match plan_request(policy, &Method::GET, &url, &req) {
            RequestPlan::Cache(p) => *p,
            RequestPlan::Bypass { .. } => return Ok(()),
        };
        let o = OriginResponse {
            status,
            headers: &resp,
            request_time: now,
            response_time: now.saturating_add(delay / 1000),
            now_ms: now.saturating_mul(1000),
            fetch_ms: delay,
        };
        let cs = {
            let mut c = CacheStatus { fwd: Some(Fwd::UriMiss), fwd_status: Some(status), ..CacheStatus::default() };
            c.stored = true;
            c
        };
        let _ = client_headers(plan.rule, &resp, false, None, &cs, Some("rule=x"));
        let _ = invalidations(policy, &Method::POST, &url, &req, status, &resp);
        let mut merged = resp.clone();
        merge_304_headers(&mut merged, &req);
        if let Ok(store) = plan_store(&plan, &req, &o, r) {
            // A 5xx is stored only in `respect` mode and only when the origin says so (RFC 9111
            // §3: explicit freshness, e.g. `Expires`, even an invalid one), a status_ttl names
            // its code, or it is a 501 (heuristically cacheable); see `plan_store`.
            let said = ["cache-control", "cdn-cache-control", "cloudflare-cdn-cache-control", "expires"]
                .iter()
                .any(|h| resp.contains_key(*h));
            prop_assert!(
                status < 500
                    || (plan.rule.origin_cache_control == OriginMode::Respect
                        && (said || plan.rule.status_ttl.get(status).is_some() || status == 501)),
                "a 5xx is stored only as the origin says, in respect mode (status {status}, rule {})",
                plan.rule.name
            );
            let text = store.meta.encode();
            prop_assert!(HeaderValue::from_str(&text).is_ok(), "the metadata is a valid header value: {text}");
            let back = EntryMeta::decode(&text);
            prop_assert_eq!(back.as_ref(), Some(&store.meta));
            let t = now.saturating_add(later);
            let _ = plan_hit(plan.rule, &store.meta, &req, &plan.directives, PurgeState::Clean, t, r);
            let _ = plan_hit(plan.rule, &store.meta, &req, &plan.directives, PurgeState::Soft, t, r);
            let _ = store.meta.ttl(t);
            let _ = store.meta.edge_keep_secs(t, 3600);
            let _ = revalidation_headers(&store.meta, &plan.origin_headers, &req);
            let _ = client_headers(plan.rule, &store.headers, true, Some(store.meta.age(t)), &cs, None);
        }
    }

    /// Tags from any header bytes stay within the limits.
    #[test]
    fn tags_stay_bounded(resp in arb_headers(12)) {
        let policy = test_policy();
        for rule in policy.rules.iter().chain(std::iter::once(&policy.defaults)) {
            let (tags, _) = collect_counted(rule, &resp);
            prop_assert!(tags.len() <= MAX_TAGS);
            prop_assert!(tags.iter().all(|t| t.len() <= MAX_TAG_BYTES && !t.is_empty()));
        }
    }

    /// The stored metadata header is read back from the Cache API: any text decodes or is a
    /// miss, never a panic.
    #[test]
    fn meta_decode_never_panics(s in "\\PC{0,200}") {
        let _ = EntryMeta::decode(&s);
    }

    #[test]
    fn meta_decode_never_panics_on_jsonish(s in r#"[{}\[\]",:a-z_0-9 \-.]{0,160}"#) {
        if let Some(m) = EntryMeta::decode(&s) {
            let _ = m.age(0);
            let _ = m.ttl(u64::MAX);
            let _ = m.host();
            let _ = m.path();
        }
    }

    /// Metrics and purge-log JSON come back from Durable Object storage and requests: any JSON
    /// decodes or is refused.
    #[test]
    fn stored_json_decoders_never_panic(s in r#"[{}\[\]",:a-z_0-9 \-.e]{0,160}"#) {
        if let Ok(j) = Json::parse(&s) {
            let _ = Snapshot::from_json(&j);
            let _ = Aggregate::from_json(&j);
            let _ = PurgeLogEntry::from_json(&j);
        }
    }

    /// Counters from a hostile or corrupt snapshot saturate instead of overflowing.
    #[test]
    fn metrics_merge_saturates(n in any::<u64>(), m in any::<u64>()) {
        let text = |v: u64| format!(r#"{{"rules":{{"r":{{"requests":{v},"hits_fresh":{v},"hits_stale":{v},"misses":{v}}}}},"bypass_reasons":{{"x":{v}}},"kv_reads":{v},"purges":{v}}}"#);
        let a = Json::parse(&text(n)).ok().and_then(|j| Snapshot::from_json(&j));
        let b = Json::parse(&text(m)).ok().and_then(|j| Snapshot::from_json(&j));
        if let (Some(mut a), Some(b)) = (a, b) {
            a.merge(&b);
            let t = a.totals();
            let _ = t.hit_ratio_json();
            prop_assert_eq!(a.kv_reads, n.saturating_add(m));
            let _ = a.to_json();
        }
    }

    /// The embedded-policy decoder on any text: a policy or `None`.
    #[test]
    fn embedded_policy_decoder_never_panics(s in r#"[{}\[\]",:a-z_0-9 \-.*/]{0,200}"#) {
        let _ = edgecache::policy::embed::from_json(&s);
    }

    /// Webhook headers are client input: any values are refused or accepted, never a panic.
    #[test]
    fn webhook_verify_never_panics(
        id in "\\PC{0,40}",
        ts in "\\PC{0,24}",
        sig in "\\PC{0,120}",
        body in prop::collection::vec(any::<u8>(), 0..64),
        now in any::<u64>(),
        tol in any::<u64>(),
    ) {
        let _ = verify(b"secret", &id, &ts, &sig, &body, now, tol);
        let mut g = ReplayGuard::new(tol, 4);
        if let Ok(t) = ts.trim().parse::<u64>() {
            let _ = g.check_and_insert(&id, t, now);
            let _ = g.check_and_insert(&id, t, now);
        }
    }
}
