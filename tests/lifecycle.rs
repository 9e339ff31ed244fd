//! The request lifecycle (`edgecache::lifecycle`) driven through every flow with a fake clock and
//! fake I/O: an in-memory cache that behaves like the Cache API for what edgecache needs (fields,
//! status, body; `s-maxage` keeps), a scripted origin with latency, purge verdicts, and a
//! scheduler that runs many exchanges at once so collapsed requests interleave as they do in an
//! isolate. Deterministic: no threads, no real time.

mod common;
use common::world::*;
use edgecache::decision::PurgeState;
use edgecache::lifecycle::{
    Action, Body, ClientRequest, Event, Exchange, Isolate, Metric, Now, OriginFailure, OriginHead,
    Stored, STREAMING_FLIGHT_MS,
};
use edgecache::meta::META_HEADER;
use edgecache::policy::Policy;
use http::{HeaderMap, HeaderValue};

const POLICY: &str = r#"
[defaults]
origin_cache_control = "override"
edge_ttl = "60s"
stale_while_revalidate = "30s"
stale_if_error = "1h"
origin_timeout = "5s"
status_ttl = { "404" = "10s" }

[[rules]]
name = "respect"
path = "/r/**"
origin_cache_control = "respect"
edge_ttl = "0"
stale_while_revalidate = "0"
stale_if_error = "0"

[[rules]]
name = "nostale"
path = "/nostale/**"
stale_while_revalidate = "0"
stale_if_error = "0"
"#;

impl World {
    fn new() -> Self {
        World::with_policy(policy())
    }
}

fn policy() -> &'static Policy {
    Box::leak(Box::new(
        Policy::from_toml_str(POLICY, "test.toml")
            .expect("test policy")
            .policy,
    ))
}
// ---------------------------------------------------------------- flows

#[test]
fn miss_then_hit_one_origin_fetch() {
    let mut w = World::new();
    w.script(
        "/a",
        vec![ok(200, &[("content-type", "text/html")], "hello")],
    );
    let r1 = w.get("/a");
    assert_eq!((r1.status, r1.text().as_str()), (200, "hello"));
    assert!(
        r1.cache_status().contains("fwd=uri-miss"),
        "{}",
        r1.cache_status()
    );
    assert!(
        r1.cache_status().contains("stored"),
        "{}",
        r1.cache_status()
    );
    w.advance(1000);
    let r2 = w.get("/a");
    assert!(r2.is_hit(), "{}", r2.cache_status());
    assert_eq!(r2.text(), "hello");
    assert_eq!(header(&r2, "content-type").as_deref(), Some("text/html"));
    assert_eq!(header(&r2, "age").as_deref(), Some("1"));
    assert_eq!(w.fetches("/a"), 1);
    assert_eq!(w.count(|m| matches!(m, Metric::Hit { .. })), 1);
    assert_eq!(w.count(|m| matches!(m, Metric::Miss)), 1);
}

#[test]
fn a_stampede_of_200_cold_requests_makes_one_origin_fetch_and_all_get_the_body() {
    let mut w = World::new();
    w.script("/hot", vec![slow(ok(200, &[], "body of hot"), 300)]);
    let reqs = (0..200)
        .map(|_| (req("GET", "/hot", &[]), Vec::new()))
        .collect();
    let got = w.run_all(reqs, 1);
    assert_eq!(w.fetches("/hot"), 1, "one origin fetch per herd");
    assert!(got
        .iter()
        .all(|g| g.status == 200 && g.text() == "body of hot"));
    let collapsed = got
        .iter()
        .filter(|g| g.cache_status().contains("collapsed"))
        .count();
    assert!(
        collapsed >= 190,
        "waiters are marked collapsed: {collapsed}"
    );
    // Every request counted once: one miss per request that started before the store.
    assert_eq!(
        w.count(|m| matches!(m, Metric::Hit { .. })) + w.count(|m| matches!(m, Metric::Miss)),
        200
    );
}

/// RFC 9111 §4.3.2 beside collapsing: a cold key whose first request is conditional forwards
/// the client's validators; the origin's 304 is that client's alone. The requests that came in
/// meanwhile must not each go to the origin: one leads the next (unconditional) fetch, which is
/// stored, and the rest read it back.
#[test]
fn a_conditional_leaders_304_does_not_scatter_its_waiters_to_the_origin() {
    let mut w = World::new();
    w.script(
        "/c",
        vec![
            slow(ok(304, &[("etag", "\"v1\"")], ""), 200),
            slow(ok(200, &[("etag", "\"v1\"")], "the page"), 200),
        ],
    );
    let mut reqs = vec![(req("GET", "/c", &[("if-none-match", "\"v1\"")]), Vec::new())];
    reqs.extend((0..40).map(|_| (req("GET", "/c", &[]), Vec::new())));
    let got = w.run_all(reqs, 2);
    assert_eq!(got[0].status, 304, "{}", got[0].cache_status());
    assert!(got[1..]
        .iter()
        .all(|g| g.status == 200 && g.text() == "the page"));
    assert_eq!(
        w.fetches("/c"),
        2,
        "the conditional fetch, then one unconditional fetch for everyone else"
    );
}

#[test]
fn waiters_are_released_when_the_leader_fails() {
    let mut w = World::new();
    w.script(
        "/down",
        vec![OriginAnswer::Fail(OriginFailure::Unreachable, 200)],
    );
    let reqs = (0..20)
        .map(|_| (req("GET", "/down", &[]), Vec::new()))
        .collect();
    let start = w.now;
    let got = w.run_all(reqs, 1);
    assert_eq!(w.fetches("/down"), 1);
    assert!(
        got.iter().all(|g| g.status == 502),
        "{:?}",
        got.iter().map(|g| g.status).collect::<Vec<_>>()
    );
    assert!(
        w.now - start < 1_000,
        "released at once, not after a deadline"
    );
    assert!(got[0].cache_status().contains("detail=origin-unreachable"));
}

#[test]
fn a_private_answer_is_never_shared_with_waiters() {
    let mut w = World::new();
    w.script(
        "/me",
        vec![slow(ok(200, &[("cache-control", "private")], "mine"), 100)],
    );
    w.script(
        "/r/me",
        vec![slow(ok(200, &[("cache-control", "private")], "mine"), 100)],
    );
    let reqs = (0..5)
        .map(|_| (req("GET", "/r/me", &[]), Vec::new()))
        .collect();
    let got = w.run_all(reqs, 1);
    // Each client got its own origin answer; nothing was stored.
    assert_eq!(w.fetches("/r/me"), 5);
    assert!(got.iter().all(|g| !g.is_hit() && g.text() == "mine"));
    assert!(w.cache.keys().all(|k| !k.contains("/r/me")));
}

#[test]
fn a_leader_that_vanishes_releases_its_waiters_by_the_deadline() {
    let mut w = World::new();
    w.script("/v", vec![ok(200, &[], "v")]);
    // A leader started a flight and went away (its client disconnected): abandon was not
    // called, so only the deadline releases the waiter.
    let mut ghost = Exchange::new(policy(), req("GET", "/v", &[]), origin_base(), false);
    let now = Now {
        ms: w.now,
        rand: 0.5,
    };
    let a = ghost.step(&mut w.iso, Event::Start, now);
    assert!(matches!(a, Action::Lookup { .. }));
    let a = ghost.step(&mut w.iso, Event::Found(None), now);
    assert!(matches!(a, Action::Fetch(_)), "{a:?}");
    let start = w.now;
    let got = w.get("/v");
    assert_eq!(got.text(), "v");
    let waited = w.now - start;
    assert!(
        (5_000..8_000).contains(&waited),
        "waited {waited} ms (origin_timeout 5 s + grace)"
    );
}

#[test]
fn waiters_wait_for_a_leader_whose_body_streams_past_origin_timeout() {
    let mut w = World::new();
    w.script("/st", vec![ok(200, &[], "st")]);
    // The leader has its (storable) head and streams the body to its client and the cache; the
    // body takes longer than origin_timeout + grace (only its gaps are bounded), so its waiters
    // must not give up on it and fetch for themselves.
    let mut leader = Exchange::new(policy(), req("GET", "/st", &[]), origin_base(), false);
    let now = Now {
        ms: w.now,
        rand: 0.5,
    };
    leader.step(&mut w.iso, Event::Start, now);
    let a = leader.step(&mut w.iso, Event::Found(None), now);
    assert!(matches!(a, Action::Fetch(_)), "{a:?}");
    let mut h = HeaderMap::new();
    h.insert(
        "cache-control",
        "public, max-age=60".parse().expect("value"),
    );
    let a = leader.step(
        &mut w.iso,
        Event::Origin(Ok(OriginHead {
            status: 200,
            headers: h,
            request_ms: w.now,
            response_ms: w.now,
        })),
        now,
    );
    assert!(
        matches!(a, Action::Respond { store: Some(_), .. }),
        "streams to the client and the cache: {a:?}"
    );
    let start = w.now;
    let got = w.get("/st");
    assert_eq!(got.text(), "st");
    let waited = w.now - start;
    assert!(
        waited >= STREAMING_FLIGHT_MS,
        "a waiter waited {waited} ms: not past the streaming bound"
    );
    assert_eq!(
        w.fetches("/st"),
        1,
        "only after the bound does it fetch for itself"
    );
}

#[test]
fn abandon_releases_waiters_at_once() {
    let mut w = World::new();
    w.script("/ab", vec![ok(200, &[], "ab")]);
    let mut ghost = Exchange::new(policy(), req("GET", "/ab", &[]), origin_base(), false);
    let now = Now {
        ms: w.now,
        rand: 0.5,
    };
    ghost.step(&mut w.iso, Event::Start, now);
    ghost.step(&mut w.iso, Event::Found(None), now);
    let (k, t) = ghost
        .led_flight()
        .map(|(k, t)| (k.to_string(), t))
        .expect("leads");
    w.iso.abandon(&k, t);
    let start = w.now;
    let got = w.get("/ab");
    assert_eq!(got.text(), "ab");
    assert!(w.now - start < 1_000);
}

#[test]
fn stale_while_revalidate_serves_stale_and_refreshes_once_in_the_background() {
    let mut w = World::new();
    w.script("/s", vec![ok(200, &[], "v1"), ok(200, &[], "v2")]);
    w.get("/s");
    w.advance(70_000); // past 60 s freshness, inside the 30 s window
    let reqs = (0..10)
        .map(|_| (req("GET", "/s", &[]), Vec::new()))
        .collect();
    let got = w.run_all(reqs, 1);
    assert!(got.iter().all(|g| g.text() == "v1" && g.is_hit()));
    assert!(got[0]
        .cache_status()
        .contains("detail=stale-while-revalidate"));
    assert_eq!(
        w.fetches("/s"),
        2,
        "one background refresh for ten stale hits"
    );
    assert_eq!(w.count(|m| matches!(m, Metric::BackgroundRevalidation)), 1);
    let fresh = w.get("/s");
    assert_eq!(fresh.text(), "v2");
    assert!(fresh.is_hit());
    assert!(
        !w.cache.keys().any(|k| k.contains("revalidation-lock")),
        "the lock is removed"
    );
}

#[test]
fn revalidation_with_304_keeps_the_body_and_merges_fields() {
    let mut w = World::new();
    w.script(
        "/nostale/e",
        vec![
            ok(
                200,
                &[("etag", "\"v1\""), ("x-version", "1")],
                "stored body",
            ),
            ok(304, &[("etag", "\"v1\""), ("x-version", "2")], ""),
        ],
    );
    w.get("/nostale/e");
    w.advance(61_000);
    let r = w.get("/nostale/e");
    assert_eq!(r.status, 200);
    assert_eq!(r.text(), "stored body");
    assert_eq!(
        header(&r, "x-version").as_deref(),
        Some("2"),
        "§4.3.4 updates stored fields"
    );
    let seen = w.seen.last().expect("a revalidation");
    assert_eq!(
        seen.headers
            .get("if-none-match")
            .and_then(|v| v.to_str().ok()),
        Some("\"v1\"")
    );
    w.advance(1_000);
    let h = w.get("/nostale/e");
    assert!(h.is_hit(), "{}", h.cache_status());
    assert_eq!(h.text(), "stored body");
    assert_eq!(header(&h, "x-version").as_deref(), Some("2"));
    assert_eq!(w.fetches("/nostale/e"), 2);
}

#[test]
fn stale_if_error_on_5xx_and_on_timeout() {
    let mut w = World::new();
    w.script(
        "/sie",
        vec![
            ok(200, &[], "good"),
            ok(503, &[], "down"),
            slow(ok(200, &[], "late"), 60_000),
        ],
    );
    w.get("/sie");
    w.advance(200_000); // past freshness + swr: revalidate in the foreground
    let r = w.get("/sie");
    assert_eq!((r.status, r.text().as_str()), (200, "good"));
    assert!(
        r.cache_status().contains("detail=stale-if-error"),
        "{}",
        r.cache_status()
    );
    assert!(
        r.cache_status().contains("fwd-status=503"),
        "{}",
        r.cache_status()
    );
    let r = w.get("/sie");
    assert_eq!(
        (r.status, r.text().as_str()),
        (200, "good"),
        "{}",
        r.cache_status()
    );
    assert_eq!(w.count(|m| matches!(m, Metric::StaleErrorServed { .. })), 2);
}

#[test]
fn without_a_stale_window_the_error_is_passed_on_and_nothing_is_stored() {
    let mut w = World::new();
    w.script(
        "/nostale/x",
        vec![ok(200, &[], "good"), ok(500, &[], "broken")],
    );
    w.get("/nostale/x");
    w.advance(61_000);
    let r = w.get("/nostale/x");
    assert_eq!((r.status, r.text().as_str()), (500, "broken"));
    let stored = w.cache.values().find(|e| e.body == b"broken");
    assert!(stored.is_none(), "an error page is never stored");
}

#[test]
fn a_hard_purge_is_a_miss_and_a_soft_purge_serves_stale_once() {
    let mut w = World::new();
    w.script(
        "/p",
        vec![ok(200, &[], "p1"), ok(200, &[], "p2"), ok(200, &[], "p3")],
    );
    w.get("/p");
    let key = w.cache.keys().next().cloned().expect("stored");
    w.purge.insert(key.clone(), PurgeState::Hard);
    let r = w.get("/p");
    assert_eq!(r.text(), "p2");
    assert!(
        r.cache_status().contains("detail=purged"),
        "{}",
        r.cache_status()
    );
    w.purge.insert(key, PurgeState::Soft);
    let r = w.get("/p");
    assert_eq!(r.text(), "p2");
    assert!(
        r.cache_status().contains("detail=soft-purge"),
        "{}",
        r.cache_status()
    );
    assert_eq!(
        w.fetches("/p"),
        3,
        "the soft purge refreshed in the background"
    );
}

#[test]
fn only_if_cached_is_a_504_without_an_origin_request() {
    let mut w = World::new();
    let r = w.run(req("GET", "/oic", &[("cache-control", "only-if-cached")]));
    assert_eq!(r.status, 504);
    assert_eq!(w.fetches("/oic"), 0);
}

#[test]
fn post_is_forwarded_and_invalidates_the_stored_get() {
    let mut w = World::new();
    w.script(
        "/f",
        vec![
            ok(200, &[], "form"),
            ok(201, &[], "created"),
            ok(200, &[], "form2"),
        ],
    );
    w.get("/f");
    assert_eq!(w.cache.len(), 1);
    let got = w.run_all(
        vec![(
            req("POST", "/f", &[("content-type", "text/plain")]),
            b"x=1".to_vec(),
        )],
        0,
    );
    assert_eq!(got[0].status, 201);
    assert!(
        got[0].cache_status().contains("fwd=method"),
        "{}",
        got[0].cache_status()
    );
    assert_eq!(w.seen.last().map(|s| s.method.as_str()), Some("POST"));
    assert_eq!(w.seen.last().map(|s| s.body.as_slice()), Some(&b"x=1"[..]));
    assert!(w.cache.is_empty(), "§4.4 invalidation");
    assert_eq!(w.get("/f").text(), "form2");
}

#[test]
fn an_unknown_method_is_forwarded_never_treated_as_get() {
    let mut w = World::new();
    w.script(
        "/u",
        vec![
            ok(200, &[], "u1"),
            ok(200, &[], "purged it"),
            ok(200, &[], "u2"),
        ],
    );
    w.get("/u");
    let r = w.run(req("PURGE", "/u", &[]));
    assert_eq!(r.text(), "purged it");
    assert_eq!(w.seen.last().map(|s| s.method.as_str()), Some("PURGE"));
    assert!(w.cache.is_empty(), "an unknown method invalidates (§4.4)");
}

#[test]
fn origin_statuses_the_runtime_refuses_become_a_502() {
    for status in [0u16, 99, 100, 103, 600, 999] {
        let mut w = World::new();
        w.script("/bad", vec![ok(status, &[], "x")]);
        let r = w.get("/bad");
        assert_eq!(r.status, 502, "status {status}");
        assert!(
            r.cache_status()
                .contains(&format!("origin-bad-status-{status}")),
            "{}",
            r.cache_status()
        );
        // And on a bypassed request.
        let r = w.run(req("POST", "/bad", &[]));
        assert_eq!(r.status, 502, "POST, status {status}");
    }
}

#[test]
fn a_body_on_204_205_304_and_head_is_dropped() {
    for status in [204u16, 205] {
        let mut w = World::new();
        w.script("/nb", vec![ok(status, &[], "should not be here")]);
        let r = w.get("/nb");
        assert_eq!(r.status, status);
        assert!(r.body.is_empty(), "status {status}");
    }
    let mut w = World::new();
    w.script("/h", vec![ok(200, &[("content-length", "5")], "hello")]);
    let r = w.run(req("HEAD", "/h", &[]));
    assert!(r.body.is_empty());
    let r = w.run(req("HEAD", "/h", &[]));
    assert!(r.is_hit() && r.body.is_empty(), "HEAD from the GET entry");
    assert_eq!(w.get("/h").text(), "hello");
}

#[test]
fn a_websocket_upgrade_passes_through_as_the_origin_response() {
    let mut w = World::new();
    w.script("/ws", vec![ok(101, &[("upgrade", "websocket")], "")]);
    let r = w.run(req(
        "GET",
        "/ws",
        &[("upgrade", "websocket"), ("connection", "upgrade")],
    ));
    assert!(r.passed_through);
    assert_eq!(r.status, 101);
}

#[test]
fn a_client_conditional_is_answered_from_the_stored_response() {
    let mut w = World::new();
    w.script("/c", vec![ok(200, &[("etag", "\"abc\"")], "body")]);
    let first = w.run(req("GET", "/c", &[("if-none-match", "\"abc\"")]));
    assert_eq!(first.status, 304, "also while it is being stored");
    assert!(first.body.is_empty());
    let r = w.run(req("GET", "/c", &[("if-none-match", "\"abc\"")]));
    assert_eq!(r.status, 304);
    assert!(r.is_hit());
    let r = w.run(req("GET", "/c", &[("if-none-match", "\"other\"")]));
    assert_eq!((r.status, r.text().as_str()), (200, "body"));
    assert_eq!(w.fetches("/c"), 1);
}

#[test]
fn set_cookie_responses_are_never_stored_and_never_shared() {
    let mut w = World::new();
    w.script(
        "/r/sc",
        vec![ok(
            200,
            &[("set-cookie", "s=1"), ("cache-control", "max-age=60")],
            "personal",
        )],
    );
    let got = w.run_all(
        (0..3)
            .map(|_| (req("GET", "/r/sc", &[]), Vec::new()))
            .collect(),
        1,
    );
    assert!(got
        .iter()
        .all(|g| header(g, "set-cookie").as_deref() == Some("s=1")));
    assert_eq!(w.fetches("/r/sc"), 3);
    assert!(w.cache.is_empty());
}

/// RFC 9111 §4.3.4 under `set_cookie = "strip"`: the Set-Cookie of a 304 goes to the client
/// whose revalidation brought it (as a miss's does), never into the stored copy or to others.
#[test]
fn a_304s_set_cookie_goes_to_the_revalidating_client_only() {
    let src = "[defaults]\norigin_cache_control = \"respect\"\nset_cookie = \"strip\"\n";
    let p: &'static Policy = Box::leak(Box::new(
        Policy::from_toml_str(src, "t.toml").expect("policy").policy,
    ));
    let mut w = World::with_policy(p);
    w.script(
        "/a",
        vec![
            ok(
                200,
                &[("cache-control", "max-age=1"), ("etag", "\"v1\"")],
                "body",
            ),
            ok(
                304,
                &[
                    ("etag", "\"v1\""),
                    ("cache-control", "max-age=60"),
                    ("set-cookie", "s=2"),
                ],
                "",
            ),
        ],
    );
    assert_eq!(w.get("/a").status, 200);
    w.advance(3000);
    let r2 = w.get("/a");
    assert_eq!((r2.status, r2.text().as_str()), (200, "body"));
    assert!(
        r2.cache_status().contains("fwd-status=304"),
        "{}",
        r2.cache_status()
    );
    assert_eq!(header(&r2, "set-cookie").as_deref(), Some("s=2"));
    w.advance(1000);
    let r3 = w.get("/a");
    assert!(r3.is_hit(), "{}", r3.cache_status());
    assert_eq!(header(&r3, "set-cookie"), None);
    assert_eq!(w.fetches("/a"), 2);
}

#[test]
fn respect_mode_hit_returns_the_origin_fields() {
    let mut w = World::new();
    w.script(
        "/r/x",
        vec![ok(
            200,
            &[
                ("cache-control", "max-age=100"),
                ("x-custom", "kept"),
                ("vary", "accept-language"),
            ],
            "x",
        )],
    );
    w.get("/r/x");
    let r = w.get("/r/x");
    assert!(r.is_hit());
    assert_eq!(header(&r, "cache-control").as_deref(), Some("max-age=100"));
    assert_eq!(header(&r, "x-custom").as_deref(), Some("kept"));
    assert_eq!(header(&r, "vary").as_deref(), Some("accept-language"));
}

#[test]
fn a_timeout_is_a_504_within_the_rule_timeout() {
    let mut w = World::new();
    w.script("/t", vec![slow(ok(200, &[], "late"), 60_000)]);
    let start = w.now;
    let r = w.get("/t");
    assert_eq!(r.status, 504);
    assert!(r.cache_status().contains("origin-timeout"));
    assert!(w.now - start <= 5_100, "answered within origin_timeout");
}

#[test]
fn a_body_larger_than_max_body_size_by_content_length_is_not_stored() {
    let policy_big = r#"
[defaults]
edge_ttl = "60s"
max_body_size = "10"
"#;
    let p: &'static Policy = Box::leak(Box::new(
        Policy::from_toml_str(policy_big, "big.toml")
            .expect("policy")
            .policy,
    ));
    let mut iso = Isolate::default();
    let mut ex = Exchange::new(p, req("GET", "/big", &[]), origin_base(), false);
    let now = Now { ms: T0, rand: 0.5 };
    ex.step(&mut iso, Event::Start, now);
    let a = ex.step(&mut iso, Event::Found(None), now);
    assert!(matches!(a, Action::Fetch(_)));
    let mut h = HeaderMap::new();
    h.insert("content-length", HeaderValue::from_static("1000"));
    let a = ex.step(
        &mut iso,
        Event::Origin(Ok(OriginHead {
            status: 200,
            headers: h,
            request_ms: T0,
            response_ms: T0 + 10,
        })),
        now,
    );
    match a {
        Action::Respond { answer, store } => {
            assert!(store.is_none());
            assert_eq!(answer.body, Body::Origin);
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn every_flow_ends_and_answers_once_whatever_the_order_of_events() {
    // Events out of order (a confused adapter) never panic and always end.
    let p = policy();
    let mut iso = Isolate::default();
    let evs = [
        Event::Done,
        Event::Found(None),
        Event::Purge(PurgeState::Clean),
        Event::Origin(Err(OriginFailure::Timeout)),
        Event::Stored(false),
        Event::Lock(true),
    ];
    for first in 0..evs.len() {
        let mut ex = Exchange::new(p, req("GET", "/o", &[]), origin_base(), false);
        let now = Now { ms: T0, rand: 0.5 };
        ex.step(&mut iso, Event::Start, now);
        let mut n = 0;
        let mut ev = evs[first].clone();
        loop {
            n += 1;
            assert!(n < 50, "ends");
            let a = ex.step(&mut iso, ev, now);
            if matches!(a, Action::Finish) {
                break;
            }
            ev = evs[(first + n) % evs.len()].clone();
        }
    }
}

#[test]
fn a_range_is_answered_from_the_stored_response() {
    let mut w = World::new();
    w.script(
        "/rg",
        vec![ok(
            200,
            &[("content-length", "10"), ("etag", "\"e\"")],
            "0123456789",
        )],
    );
    w.get("/rg");
    let r = w.run(req("GET", "/rg", &[("range", "bytes=2-4")]));
    assert_eq!(r.status, 206);
    assert_eq!(r.text(), "234");
    assert_eq!(header(&r, "content-range").as_deref(), Some("bytes 2-4/10"));
    assert_eq!(header(&r, "content-length").as_deref(), Some("3"));
    let r = w.run(req("GET", "/rg", &[("range", "bytes=20-")]));
    assert_eq!(r.status, 416);
    assert_eq!(header(&r, "content-range").as_deref(), Some("bytes */10"));
    let r = w.run(req(
        "GET",
        "/rg",
        &[("range", "bytes=2-4"), ("if-range", "\"other\"")],
    ));
    assert_eq!((r.status, r.text().as_str()), (200, "0123456789"));
    assert_eq!(w.fetches("/rg"), 1);
}

#[test]
fn if_match_failing_on_a_stored_response_is_a_412() {
    let mut w = World::new();
    w.script("/im", vec![ok(200, &[("etag", "\"a\"")], "x")]);
    w.get("/im");
    let r = w.run(req("GET", "/im", &[("if-match", "\"b\"")]));
    assert_eq!(r.status, 412);
    assert!(r.body.is_empty());
}

#[test]
fn expires_and_pragma_come_back_on_a_hit() {
    let mut w = World::new();
    w.script(
        "/r/exp",
        vec![ok(
            200,
            &[
                ("expires", "Thu, 01 Jan 2099 00:00:00 GMT"),
                ("pragma", "x-custom"),
                ("date", "Wed, 01 Jan 2025 00:00:00 GMT"),
            ],
            "e",
        )],
    );
    w.get("/r/exp");
    let r = w.get("/r/exp");
    assert!(r.is_hit(), "{}", r.cache_status());
    assert_eq!(
        header(&r, "expires").as_deref(),
        Some("Thu, 01 Jan 2099 00:00:00 GMT")
    );
    assert_eq!(header(&r, "pragma").as_deref(), Some("x-custom"));
}

#[test]
fn origin_requests_follow_the_origin_mode_and_carry_the_target_host() {
    use edgecache::origin::{parse_origin_mode, OriginMode};
    let now = Now { ms: T0, rand: 0.5 };
    // The client's Host is the site's; what the origin sees depends on the mode.
    let client = || req("GET", "/a/b?x=1", &[("host", "site.example")]);
    let fetch_of = |mode: OriginMode, r: ClientRequest| {
        let mut iso = Isolate::default();
        let mut ex = Exchange::new(policy(), r, mode, false);
        let mut a = ex.step(&mut iso, Event::Start, now);
        if matches!(a, Action::Lookup { .. }) {
            a = ex.step(&mut iso, Event::Found(None), now);
        }
        match a {
            Action::Fetch(r) => *r,
            other => panic!("expected a fetch, got {other:?}"),
        }
    };
    let same = fetch_of(OriginMode::SameZone, client());
    assert_eq!(same.url.as_str(), "https://site.example/a/b?x=1");
    assert_eq!(same.headers.get("host").unwrap(), "site.example");
    assert_eq!(same.resolve_override, None);

    let remote = fetch_of(
        parse_origin_mode(Some("http://127.0.0.1:9/base"), None).unwrap(),
        client(),
    );
    assert_eq!(remote.url.as_str(), "http://127.0.0.1:9/base/a/b?x=1");
    assert_eq!(
        remote.headers.get("host").unwrap(),
        "127.0.0.1:9",
        "never the client's Host"
    );
    assert_eq!(remote.headers.get_all("host").iter().count(), 1);

    let site = fetch_of(
        parse_origin_mode(Some("https://origin.example"), Some("site")).unwrap(),
        client(),
    );
    assert_eq!(site.url.as_str(), "https://site.example/a/b?x=1");
    assert_eq!(site.headers.get("host").unwrap(), "site.example");
    assert_eq!(site.resolve_override.as_deref(), Some("origin.example"));

    // A bypassed request (POST) goes the same way.
    let post = fetch_of(
        OriginMode::SameZone,
        req("POST", "/form", &[("host", "site.example")]),
    );
    assert_eq!(post.url.as_str(), "https://site.example/form");
    assert!(post.client_body);
    assert_eq!(post.headers.get("host").unwrap(), "site.example");
}

#[test]
fn a_stored_body_shorter_than_announced_is_never_a_hit() {
    let mut w = World::new();
    w.script(
        "/cut",
        vec![
            ok(200, &[("content-length", "10")], "0123456789"),
            ok(200, &[("content-length", "10")], "0123456789"),
        ],
    );
    w.get("/cut");
    // The runtime committed a cut body: 4 of 10 bytes.
    for e in w.cache.values_mut() {
        e.body.truncate(4);
        e.headers
            .insert("content-length", HeaderValue::from_static("4"));
    }
    let r = w.get("/cut");
    assert!(!r.is_hit(), "{}", r.cache_status());
    assert!(
        r.cache_status().contains("detail=incomplete"),
        "{}",
        r.cache_status()
    );
    assert_eq!(r.text(), "0123456789");
    let r = w.get("/cut");
    assert!(r.is_hit());
    assert_eq!(w.fetches("/cut"), 2);
}

#[test]
fn an_entry_whose_store_is_still_running_is_not_served_until_the_store_ends() {
    let policy_p = policy();
    let mut w = World::new();
    // A leader fetched and answered; its store has not finished (the body still streams).
    let mut leader = Exchange::new(policy_p, req("GET", "/inprog", &[]), origin_base(), false);
    let now = Now {
        ms: w.now,
        rand: 0.5,
    };
    leader.step(&mut w.iso, Event::Start, now);
    leader.step(&mut w.iso, Event::Found(None), now);
    let a = leader.step(
        &mut w.iso,
        Event::Origin(Ok(OriginHead {
            status: 200,
            headers: HeaderMap::new(),
            request_ms: w.now,
            response_ms: w.now + 10,
        })),
        now,
    );
    let Action::Respond {
        store: Some(cmd), ..
    } = a
    else {
        panic!("{a:?}")
    };
    // The runtime shows what arrived so far under the key.
    w.cache.insert(
        cmd.key.clone(),
        CacheEntry {
            status: 200,
            headers: cmd.headers.clone(),
            body: b"partial".to_vec(),
        },
    );
    // A second request finds it while the store runs: it waits instead of serving it.
    let mut other = Exchange::new(policy_p, req("GET", "/inprog", &[]), origin_base(), false);
    other.step(&mut w.iso, Event::Start, now);
    let meta = edgecache::meta::EntryMeta::decode(
        cmd.headers
            .get(META_HEADER)
            .and_then(|v| v.to_str().ok())
            .expect("meta"),
    )
    .expect("decodes");
    let a = other.step(
        &mut w.iso,
        Event::Found(Some(Stored {
            meta: meta.into(),
            status: 200,
            headers: HeaderMap::new(),
        })),
        now,
    );
    assert!(matches!(a, Action::CheckPurge(_)), "{a:?}");
    let a = other.step(&mut w.iso, Event::Purge(PurgeState::Clean), now);
    assert_eq!(
        a,
        Action::Wait {
            ms: edgecache::lifecycle::WAITER_POLL_MS
        }
    );
    // The store fails: the waiter fetches for itself.
    let a = leader.step(&mut w.iso, Event::Stored(false), now);
    assert_eq!(a, Action::Finish);
    let a = other.step(&mut w.iso, Event::Done, now);
    assert!(matches!(a, Action::Fetch(_)), "{a:?}");
}
