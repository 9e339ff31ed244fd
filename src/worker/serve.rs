//! Carrying out the core's plans for site requests: bypass, fresh hit, stale-while-revalidate,
//! revalidation (with stale-if-error), miss; one origin fetch per key at a time (single-flight).

use super::conv::{self, empty, fixed, now_ms, rand01, to_map};
use super::origin::{self, Fetched, OriginError};
use super::store::{self, Entry};
use super::{metrics, purge_check, state};
use crate::decision::{
    self, client_headers, client_not_modified, not_modified_headers, plan_hit, plan_store,
    serve_stale_on_error, BypassReason, CachePlan, DontStore, HitPlan, MissReason, OriginResponse,
    RequestPlan, VALIDATOR_KEEP_SECS,
};
use crate::meta::EntryMeta;
use crate::policy::{Policy, Rule};
use crate::status::{CacheStatus, Fwd};
use http::{HeaderMap, Method};
use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;
use worker::{Cache, Context, Env, Request, Response, Result};

/// What one origin round trip produced, shared by every request waiting on the same key.
#[derive(Debug)]
struct Outcome {
    status: u16,
    /// Headers before our client rewriting (origin's, or the stored/merged ones).
    headers: HeaderMap,
    body: Rc<Vec<u8>>,
    /// A body too large to buffer, streamed to the leader's client only (never shared).
    stream: RefCell<Option<worker::ResponseBody>>,
    /// Set when the response is (now) in the cache.
    meta: Option<EntryMeta>,
    /// Cache-Status as the leader saw it (waiters add `collapsed`).
    status_line: CacheStatus,
    /// May be handed to other clients: stored, or an error page without Set-Cookie.
    shareable: bool,
    /// `Set-Cookie` lines of a response stored without them (rule `set_cookie = "strip"`):
    /// only for the client whose request fetched it, never for a collapsed waiter.
    own_set_cookie: Vec<http::HeaderValue>,
}

type FlightResult = std::result::Result<Rc<Outcome>, OriginError>;
type Slot = Rc<RefCell<Option<FlightResult>>>;

thread_local! {
    static INFLIGHT: RefCell<HashMap<String, Slot>> = RefCell::new(HashMap::new());
}

/// Everything a fetch-and-store needs, owned (it may outlive the request in `wait_until`).
/// The rule, key and origin headers are the plan's.
#[derive(Clone)]
struct Job {
    plan: CachePlan<'static>,
    origin_url: url::Url,
    req_headers: HeaderMap,
    /// The stored entry being revalidated (`None`: a plain fetch).
    prior: Option<Rc<Entry>>,
}

/// Request settings read from the environment once per request.
pub struct Ctx<'a> {
    /// Worker environment.
    pub env: &'a Env,
    /// Execution context (for `wait_until`).
    pub ctx: &'a Context,
    /// Origin base URL.
    pub origin: url::Url,
    /// Whether to send the debug header.
    pub debug: bool,
}

/// Handles a site request.
pub async fn handle(mut req: Request, c: &Ctx<'_>) -> Result<Response> {
    let url = req.url()?;
    let method: Method = req.method().to_string().parse().unwrap_or(Method::GET);
    let headers = to_map(req.headers());
    let policy = state::policy();
    match decision::plan_request(policy, &method, &url, &headers) {
        RequestPlan::Bypass { rule, reason } => {
            metrics::bypass(rule, reason.as_str());
            let body = if matches!(method, Method::GET | Method::HEAD) {
                None
            } else {
                Some(req.bytes().await?)
            };
            pass_through(
                c,
                &url,
                &method,
                &headers,
                body,
                Some((policy, rule)),
                &reason,
            )
            .await
        }
        RequestPlan::Cache(plan) => {
            let plan: CachePlan<'static> = *plan;
            cached(c, &url, &headers, plan).await
        }
    }
}

fn status(hit: bool, fwd: Option<Fwd>) -> CacheStatus {
    decision::cache_status(hit, fwd)
}

fn debug_value(c: &Ctx<'_>, rule: &Rule, key: Option<&str>) -> Option<String> {
    c.debug.then(|| match key {
        Some(k) => format!("rule={}; key={}", rule.name, k),
        None => format!("rule={}", rule.name),
    })
}

/// Forwards a request untouched and streams the answer back; unsafe methods invalidate.
async fn pass_through(
    c: &Ctx<'_>,
    url: &url::Url,
    method: &Method,
    headers: &HeaderMap,
    body: Option<Vec<u8>>,
    policy_rule: Option<(&'static Policy, &'static Rule)>,
    reason: &BypassReason,
) -> Result<Response> {
    let target = origin::origin_url(&c.origin, url);
    let wmethod = worker::Method::from(method.as_str().to_string());
    let timeout = policy_rule.map_or(10, |(_, r)| r.origin_timeout) * 1000;
    let mut cs = status(false, Some(reason.fwd()));
    if *reason != BypassReason::Method {
        cs.detail = Some(reason.as_str().to_string());
    }
    let sent = origin::send(&target, wmethod, headers, body, timeout).await;
    if let Some((_, rule)) = policy_rule {
        metrics::origin_fetch(rule, 0);
        if sent
            .as_ref()
            .map_or(true, |r| decision::is_origin_error(r.status_code()))
        {
            metrics::origin_error(rule);
        }
    }
    let resp = match sent {
        Ok(r) => r,
        Err(e) => return origin_failure(&e, cs),
    };
    let st = resp.status_code();
    let resp_headers = to_map(resp.headers());
    if let Some((policy, rule)) = policy_rule {
        // RFC 9111 §4.4: a successful unsafe request invalidates the stored responses for its
        // target URI (and same-origin Location / Content-Location).
        let keys = decision::invalidations(policy, method, url, headers, st, &resp_headers);
        if !keys.is_empty() {
            let cache = Cache::default();
            for k in keys {
                let _ = store::delete(&cache, &k).await;
            }
        }
        cs.fwd_status = Some(st);
        let out = client_headers(
            rule,
            &resp_headers,
            false,
            None,
            &cs,
            debug_value(c, rule, None).as_deref(),
        );
        let (_, body) = resp.into_parts();
        return Ok(worker::ResponseBuilder::new()
            .with_status(st)
            .with_headers(conv::to_headers(&out)?)
            .body(body));
    }
    let mut out = resp_headers;
    if let Ok(v) = http::HeaderValue::from_str(&cs.to_header_value()) {
        out.insert("cache-status", v);
    }
    let (_, body) = resp.into_parts();
    Ok(worker::ResponseBuilder::new()
        .with_status(st)
        .with_headers(conv::to_headers(&out)?)
        .body(body))
}

/// 502 (unreachable) or 504 (timeout) with a short plain-text body and Cache-Status detail.
fn origin_failure(e: &OriginError, mut cs: CacheStatus) -> Result<Response> {
    if let OriginError::Unreachable(why) = e {
        worker::console_error!("edgecache: origin unreachable: {why}");
    }
    let (code, text) = match e {
        OriginError::Timeout => (
            504,
            "504 Gateway Timeout: the origin did not answer in time.\n",
        ),
        OriginError::Unreachable(_) => (502, "502 Bad Gateway: the origin could not be reached.\n"),
    };
    cs.detail = Some(e.as_str().to_string());
    let mut h = HeaderMap::new();
    h.insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    h.insert(
        http::header::CACHE_CONTROL,
        http::HeaderValue::from_static("no-store"),
    );
    if let Ok(v) = http::HeaderValue::from_str(&cs.to_header_value()) {
        h.insert("cache-status", v);
    }
    fixed(code, &h, text.as_bytes().to_vec())
}

/// The cache path: lookup, purge check, hit plan, then serve / revalidate / fetch.
async fn cached(
    c: &Ctx<'_>,
    url: &url::Url,
    headers: &HeaderMap,
    plan: CachePlan<'static>,
) -> Result<Response> {
    let rule = plan.rule;
    let cache = Cache::default();
    let now_ms = now_ms();
    let now = now_ms / 1000;
    let entry = match store::lookup(&cache, &plan.key).await {
        Ok(e) => e.map(Rc::new),
        Err(e) => {
            worker::console_error!("edgecache: cache lookup failed for {}: {e}", plan.key);
            None
        }
    };
    let hit = match &entry {
        None => HitPlan::Miss(MissReason::Absent),
        Some(e) => {
            let purge = purge_check::state(c.env, &e.meta, now_ms).await;
            plan_hit(
                rule,
                &e.meta,
                headers,
                &plan.directives,
                purge,
                now,
                rand01(),
            )
        }
    };
    // Built only where an origin round trip follows (not on a plain fresh hit).
    let job = |prior: Option<Rc<Entry>>| Job {
        plan: plan.clone(),
        origin_url: origin::origin_url(&c.origin, url),
        req_headers: headers.clone(),
        prior,
    };
    let debug = debug_value(c, rule, Some(&plan.key));
    match (hit, entry) {
        (HitPlan::Fresh { age, ttl, refresh }, Some(e)) => {
            metrics::hit(rule, false, e.meta.size as usize);
            if refresh {
                background(c, job(Some(e.clone())));
            }
            let mut cs = status(true, None);
            cs.ttl = Some(ttl);
            if refresh && ttl < 0 {
                cs.detail = Some("max-stale".into());
            }
            respond_entry(&plan, headers, &e, age, cs, debug.as_deref())
        }
        (
            HitPlan::Stale {
                age,
                ttl,
                soft_purge,
            },
            Some(e),
        ) => {
            metrics::hit(rule, true, e.meta.size as usize);
            background(c, job(Some(e.clone())));
            let mut cs = status(true, None);
            cs.ttl = Some(ttl);
            cs.detail = Some(
                if soft_purge {
                    "soft-purge"
                } else {
                    "stale-while-revalidate"
                }
                .into(),
            );
            respond_entry(&plan, headers, &e, age, cs, debug.as_deref())
        }
        (HitPlan::Revalidate { .. }, Some(e)) => {
            metrics::revalidation(rule);
            let res = flight(job(Some(e.clone()))).await;
            let now = conv::now_ms() / 1000;
            let stale_ok = serve_stale_on_error(&e.meta, now);
            match res {
                Ok((o, _)) if decision::is_origin_error(o.status) && stale_ok => {
                    stale_if_error(&plan, headers, &e, now, Some(o.status), debug.as_deref())
                }
                Ok((o, collapsed)) => {
                    respond_outcome(&plan, headers, &o, collapsed, debug.as_deref())
                }
                Err(_) if stale_ok => {
                    stale_if_error(&plan, headers, &e, now, None, debug.as_deref())
                }
                Err(err) => origin_failure(&err, status(false, Some(Fwd::Stale))),
            }
        }
        (hit, _) => {
            let reason = match hit {
                HitPlan::Miss(r) => r,
                _ => MissReason::Absent,
            };
            metrics::miss(rule);
            if plan.directives.only_if_cached {
                // RFC 9111 §5.2.1.7: "respond ... with a 504 (Gateway Timeout) status code".
                let mut cs = status(false, Some(reason.fwd()));
                cs.detail = Some("only-if-cached".into());
                let mut h = HeaderMap::new();
                if let Ok(v) = http::HeaderValue::from_str(&cs.to_header_value()) {
                    h.insert("cache-status", v);
                }
                return fixed(504, &h, b"504: not in cache (only-if-cached)\n".to_vec());
            }
            match flight(job(None)).await {
                Ok((o, collapsed)) => {
                    let mut o2 = (*o).clone_shallow();
                    if reason != MissReason::Absent {
                        o2.status_line.fwd = Some(reason.fwd());
                        if o2.status_line.detail.is_none() {
                            o2.status_line.detail = Some(reason.as_str().into());
                        }
                    }
                    respond_outcome(&plan, headers, &o2, collapsed, debug.as_deref())
                }
                Err(err) => origin_failure(&err, status(false, Some(reason.fwd()))),
            }
        }
    }
}

impl Outcome {
    /// An origin response that was not stored (it may still be shared with waiters when
    /// `shareable`: an error page without Set-Cookie).
    fn not_stored(
        status: u16,
        headers: HeaderMap,
        body: Rc<Vec<u8>>,
        status_line: CacheStatus,
        shareable: bool,
    ) -> Outcome {
        Outcome {
            status,
            headers,
            body,
            stream: RefCell::new(None),
            meta: None,
            status_line,
            shareable,
            own_set_cookie: Vec::new(),
        }
    }

    fn clone_shallow(&self) -> Outcome {
        Outcome {
            status: self.status,
            headers: self.headers.clone(),
            body: self.body.clone(),
            stream: RefCell::new(self.stream.borrow_mut().take()),
            meta: self.meta.clone(),
            status_line: self.status_line.clone(),
            shareable: self.shareable,
            own_set_cookie: self.own_set_cookie.clone(),
        }
    }
}

/// Serves a stored entry (fresh or stale), answering the client's conditionals with 304.
///
/// The hit path touches only the headers the core may change ([`client_header_names`]).
fn respond_entry(
    plan: &CachePlan<'_>,
    req: &HeaderMap,
    e: &Entry,
    age: u64,
    cs: CacheStatus,
    debug: Option<&str>,
) -> Result<Response> {
    let names = decision::client_header_names(plan.rule);
    let mut sub = e.subset(&names);
    // Validators for the client's conditionals come from the metadata (with the stored Date,
    // the If-Modified-Since fallback of RFC 9111 §4.3.2).
    let date = if req.contains_key(http::header::IF_MODIFIED_SINCE) {
        e.header("date") // one runtime call, only when it can matter
    } else {
        None
    };
    for (name, v) in [
        (http::header::ETAG, &e.meta.etag),
        (http::header::LAST_MODIFIED, &e.meta.last_modified),
        (http::header::DATE, &date),
    ] {
        if let Some(v) = v
            .as_deref()
            .and_then(|v| http::HeaderValue::from_str(v).ok())
        {
            sub.insert(name, v);
        }
    }
    if (200..300).contains(&e.status) && client_not_modified(req, &sub, Some(e.meta.response_time))
    {
        let full = client_headers(plan.rule, &e.headers(), true, Some(age), &cs, debug);
        return empty(304, &not_modified_headers(&full));
    }
    let h = client_headers(plan.rule, &sub, true, Some(age), &cs, debug);
    let body = if plan.head { None } else { e.take_body() };
    e.client_response(e.status, &names, &h, body)
}

/// Serves a stale entry because the origin failed (RFC 5861 stale-if-error).
fn stale_if_error(
    plan: &CachePlan<'_>,
    req: &HeaderMap,
    e: &Entry,
    now: u64,
    origin_status: Option<u16>,
    debug: Option<&str>,
) -> Result<Response> {
    let mut cs = status(false, Some(Fwd::Stale));
    cs.fwd_status = origin_status;
    cs.ttl = Some(e.meta.ttl(now));
    cs.detail = Some("stale-if-error".into());
    metrics::stale_error_served(plan.rule, e.meta.size as usize);
    respond_entry(plan, req, e, e.meta.age(now), cs, debug)
}

/// Serves what an origin round trip produced.
fn respond_outcome(
    plan: &CachePlan<'_>,
    req: &HeaderMap,
    o: &Outcome,
    collapsed: bool,
    debug: Option<&str>,
) -> Result<Response> {
    let mut cs = o.status_line.clone();
    cs.collapsed = collapsed;
    let now = conv::now_ms() / 1000;
    let (cached, age) = match &o.meta {
        Some(m) => {
            cs.ttl = Some(m.ttl(now));
            (true, Some(m.age(now)))
        }
        None => (false, None),
    };
    let mut h = client_headers(plan.rule, &o.headers, cached, age, &cs, debug);
    if !collapsed {
        for v in &o.own_set_cookie {
            h.append(http::header::SET_COOKIE, v.clone());
        }
    }
    if let Some(stream) = o.stream.borrow_mut().take() {
        let body = if plan.head {
            worker::ResponseBody::Empty
        } else {
            stream
        };
        return Ok(worker::ResponseBuilder::new()
            .with_status(o.status)
            .with_headers(conv::to_headers(&h)?)
            .body(body));
    }
    if cached {
        finish(plan, req, o.status, h, &o.body)
    } else {
        let body = if plan.head {
            Vec::new()
        } else {
            o.body.to_vec()
        };
        fixed(o.status, &h, body)
    }
}

/// 304 for a matching client conditional, else the full response (no body for HEAD).
fn finish(
    plan: &CachePlan<'_>,
    req: &HeaderMap,
    st: u16,
    h: HeaderMap,
    body: &[u8],
) -> Result<Response> {
    if (200..300).contains(&st) && client_not_modified(req, &h, None) {
        return empty(304, &not_modified_headers(&h));
    }
    if plan.head {
        return empty(st, &h);
    }
    fixed(st, &h, body.to_vec())
}

/// Runs a revalidation in the background (stale-while-revalidate, early refresh, soft purge).
///
/// Inside the isolate, [`flight`] keeps it to one fetch per key. Across the isolates of one
/// location, a short-lived lock entry in the Cache API (under [`lock_key`], kept for the origin
/// timeout) keeps it to about one: best effort, since match-then-put is not atomic, and
/// losing the race costs one extra origin fetch, never a wrong answer.
fn background(c: &Ctx<'_>, job: Job) {
    if INFLIGHT.with(|m| m.borrow().contains_key(&job.plan.key)) {
        return;
    }
    metrics::background_revalidation(job.plan.rule);
    c.ctx.wait_until(async move {
        let cache = Cache::default();
        let lock = lock_key(&job.plan.key);
        if matches!(cache.get(lock.as_str(), true).await, Ok(Some(_))) {
            return;
        }
        let mut h = HeaderMap::new();
        let keep = format!("public, s-maxage={}", job.plan.rule.origin_timeout + 1);
        if let Ok(v) = http::HeaderValue::from_str(&keep) {
            h.insert(http::header::CACHE_CONTROL, v);
        }
        if let Ok(r) = fixed(200, &h, Vec::new()) {
            let _ = cache.put(lock.as_str(), r).await;
        }
        let _ = flight(job).await;
        let _ = cache.delete(lock.as_str(), true).await;
    });
}

/// The Cache API key of the revalidation lock for `key`: its own host, so it can never collide
/// with a site entry (a fragment or query suffix could be normalised away by the Cache API).
fn lock_key(key: &str) -> String {
    let enc: String = url::form_urlencoded::byte_serialize(key.as_bytes()).collect();
    format!("https://revalidation-lock.edgecache.invalid/{enc}")
}

/// Joins the in-flight fetch for the key, or starts one. Returns the outcome and whether this
/// caller was a waiter (collapsed). Waiters given an outcome that may not be shared (a
/// response that was not stored and might be personal) fetch for themselves.
///
/// Why a slot and polling instead of a shared future: workerd ties timers and I/O to the
/// request that created them. A future shared between requests would have one request's
/// streams read and timers dropped by another's, and a request waiting only on another
/// request's I/O is cancelled as hung. So the leader alone drives the fetch and fills the slot
/// with plain Rust data; each waiter checks it on a short timer of its own.
async fn flight(job: Job) -> std::result::Result<(Rc<Outcome>, bool), OriginError> {
    let key = job.plan.key.clone();
    let existing = INFLIGHT.with(|m| m.borrow().get(&key).cloned());
    if let Some(slot) = existing {
        // Bounded: if the leader vanished (its client went away), fetch for ourselves.
        let deadline = conv::now_ms() + job.plan.rule.origin_timeout * 1000 + 2_000;
        loop {
            let filled = slot.borrow().clone();
            if let Some(r) = filled {
                match r {
                    Ok(o) if o.shareable => return Ok((o, true)),
                    Ok(_) => break,
                    Err(e) => return Err(e),
                }
            }
            if conv::now_ms() > deadline {
                break;
            }
            worker::Delay::from(std::time::Duration::from_millis(WAITER_POLL_MS)).await;
        }
        let mut own = job;
        own.prior = None;
        return fetch_and_store(own).await.map(|o| (o, false));
    }
    let slot: Slot = Rc::new(RefCell::new(None));
    INFLIGHT.with(|m| m.borrow_mut().insert(key.clone(), slot.clone()));
    let _guard = Leader(key);
    let res = fetch_and_store(job).await;
    *slot.borrow_mut() = Some(res.clone());
    res.map(|o| (o, false))
}

/// How often a collapsed waiter looks for the leader's outcome.
const WAITER_POLL_MS: u64 = 10;

/// Removes the key from the in-flight map when the leader finishes or is dropped.
struct Leader(String);

impl Drop for Leader {
    fn drop(&mut self) {
        INFLIGHT.with(|m| m.borrow_mut().remove(&self.0));
    }
}

/// One origin round trip for a key: conditional when revalidating, then store per the plan.
async fn fetch_and_store(job: Job) -> FlightResult {
    let rule = job.plan.rule;
    let headers = match &job.prior {
        Some(p) => decision::revalidation_headers(&p.meta, &job.plan.origin_headers),
        None => job.plan.origin_headers.clone(),
    };
    let fetched = origin::fetch_buffered(
        &job.origin_url,
        &headers,
        rule.origin_timeout * 1000,
        rule.max_body_size,
    )
    .await;
    // Every origin attempt is counted once, here (collapsed waiters do not repeat it).
    metrics::origin_fetch(rule, fetched.as_ref().map_or(0, |f| f.body.len()));
    if fetched
        .as_ref()
        .map_or(true, |f| decision::is_origin_error(f.status))
    {
        metrics::origin_error(rule);
    }
    let mut f: Fetched = fetched?;
    if let Some(stream) = f.stream.take() {
        // Larger than the rule's max_body_size: streamed to this client only, never stored.
        let mut cs = status(false, Some(Fwd::UriMiss));
        cs.fwd_status = Some(f.status);
        cs.detail = Some(DontStore::TooLarge.as_str().to_string());
        let o = Outcome::not_stored(f.status, f.headers, Rc::new(Vec::new()), cs, false);
        *o.stream.borrow_mut() = Some(stream);
        return Ok(Rc::new(o));
    }
    let cache = Cache::default();
    let fetch_ms = f.response_ms.saturating_sub(f.request_ms);

    // RFC 9111 §4.3.4: a 304 freshens the stored response: its headers are merged in and the
    // stored body is kept (no body transfer).
    let (status, merged, body) = match (&job.prior, f.status) {
        (Some(p), 304) => match p.body_bytes(&cache).await {
            Some(stored_body) => {
                let mut merged = p.headers();
                crate::storable::merge_304_headers(&mut merged, &f.headers);
                (p.status, merged, Rc::new(stored_body))
            }
            // The stored body is gone (evicted meanwhile): fetch it whole.
            None => {
                let mut again = job.clone();
                again.prior = None;
                return Box::pin(fetch_and_store(again)).await;
            }
        },
        _ => (f.status, f.headers, Rc::new(f.body)),
    };
    let mut cs = CacheStatus {
        fwd: Some(if job.prior.is_some() {
            Fwd::Stale
        } else {
            Fwd::UriMiss
        }),
        fwd_status: Some(f.status),
        ..status_default()
    };
    if decision::is_origin_error(status) || status >= 500 {
        let shareable = !merged.contains_key(http::header::SET_COOKIE);
        return Ok(Rc::new(Outcome::not_stored(
            status, merged, body, cs, shareable,
        )));
    }
    let oresp = OriginResponse {
        status,
        headers: &merged,
        request_time: f.request_ms / 1000,
        response_time: f.response_ms / 1000,
        // Stored-at is when the request was sent: a purge that lands while this fetch is in
        // flight must still cover what it returns.
        now_ms: f.request_ms,
        fetch_ms,
    };
    let too_large = body.len() as u64 > rule.max_body_size;
    let store = if too_large {
        Err(DontStore::TooLarge)
    } else {
        plan_store(&job.plan, &job.req_headers, &oresp, rand01())
    };
    match store {
        Ok(mut s) => {
            s.meta.size = body.len() as u64;
            let now = conv::now_ms() / 1000;
            let keep = s.meta.edge_keep_secs(now, VALIDATOR_KEEP_SECS);
            match store::put(
                &cache,
                &job.plan.key,
                status,
                &s.headers,
                &s.meta,
                body.to_vec(),
                keep,
            )
            .await
            {
                Ok(()) => cs.stored = true,
                Err(e) => {
                    worker::console_error!("edgecache: cache.put failed for {}: {e}", job.plan.key)
                }
            }
            Ok(Rc::new(Outcome {
                status,
                headers: s.headers,
                body,
                stream: RefCell::new(None),
                meta: Some(s.meta),
                status_line: cs,
                shareable: true,
                own_set_cookie: merged
                    .get_all(http::header::SET_COOKIE)
                    .iter()
                    .cloned()
                    .collect(),
            }))
        }
        Err(reason) => {
            cs.detail = Some(reason.as_str().to_string());
            if job.prior.is_some() {
                // The origin no longer lets this be cached: drop the old copy.
                let _ = store::delete(&cache, &job.plan.key).await;
            }
            Ok(Rc::new(Outcome::not_stored(
                status, merged, body, cs, false,
            )))
        }
    }
}

fn status_default() -> CacheStatus {
    decision::cache_status(false, None)
}
