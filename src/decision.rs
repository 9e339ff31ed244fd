//! The decisions: request → plan, stored entry → hit plan, origin response → store plan, and the
//! headers sent to the browser. Pure functions of their inputs and `now`; the adapter carries
//! the plans out and the CLI's `explain` prints them.
//!
//! Modes (per rule, `origin_cache_control`):
//! - `respect`: an RFC 9111 shared cache. Freshness from `CDN-Cache-Control` (RFC 9213) or
//!   `Cache-Control`/`Expires` (§4.2.1); without explicit freshness the rule's `edge_ttl` applies
//!   when it is non-zero (a configured cache extension, §3), else heuristics if allowed (§4.2.2),
//!   else nothing is stored. Stale content is only served where the origin allows it
//!   (§4.2.4: never after `no-cache`, `must-revalidate`, `proxy-revalidate` or `s-maxage`
//!   unless the origin itself sent `stale-while-revalidate`/`stale-if-error`, RFC 5861).
//! - `override`: the rule's TTLs win over the origin's freshness and revalidation directives.
//! - `cap`: the origin's freshness, but never more than the rule's `edge_ttl`.
//!
//! In every mode, what is private is never stored: `private`, `no-store`, `Authorization`
//! (unless the rule marks the route public and §3.5 allows it), `Set-Cookie` (stripped or
//! refused per rule) and bypass cookies. 5xx responses are stored only in `respect` mode and only
//! when the origin gave them explicit freshness (see [`plan_store`]).

use crate::cache_control::{edge_cache_control, CacheControl, CcSource};
#[cfg(test)]
use crate::conditional::entity_tags;
use crate::cookies::{filter_cookie_header, find_bypass_cookie};
use crate::freshness::{
    edge_freshness_lifetime, heuristic_lifetime, heuristically_cacheable, initial_age,
};
use crate::key::cache_key;
use crate::meta::{EntryMeta, META_VERSION};
use crate::policy::{CookieMode, OriginMode, Policy, Rule, SetCookieMode};
use crate::status::{CacheStatus, Fwd};
use crate::storable::{check_storable, invalidation_targets, prepare_for_storage, StoreOptions};
use crate::variance::{self, Vary};
use http::header::{
    AGE, AUTHORIZATION, CACHE_CONTROL, COOKIE, ETAG, IF_MODIFIED_SINCE, IF_NONE_MATCH,
    LAST_MODIFIED, PRAGMA, SET_COOKIE,
};
use http::{HeaderMap, HeaderValue, Method};

/// How long an entry with validators is kept past its stale windows, so it can still be
/// revalidated with a conditional request (and its body reused on 304) instead of refetched.
pub const VALIDATOR_KEEP_SECS: u64 = 3600;

/// Longest freshness lifetime, and longest stale window, the edge gives any entry (30 days).
/// Bounds how long an entry can live (lifetime + the longest window + the validator keep), so
/// purge records can expire once nothing they cover can remain, even in `respect` mode where the
/// origin chooses the lifetime.
pub const MAX_LIFETIME_SECS: u64 = 30 * 86_400;

/// The longest any entry can be kept by the Cache API: see [`MAX_LIFETIME_SECS`].
pub const MAX_ENTRY_KEEP_SECS: u64 = 2 * MAX_LIFETIME_SECS + VALIDATOR_KEEP_SECS;

/// Response header with the rule and cache key, sent only when debugging is enabled.
pub const DEBUG_HEADER: &str = "x-edgecache-debug";

/// [`DEBUG_HEADER`] as a field name (built at compile time: no parse on a hit).
pub static DEBUG_NAME: http::HeaderName = http::HeaderName::from_static(DEBUG_HEADER);

/// `Cache-Status` (RFC 9211) as a field name.
pub static CACHE_STATUS: http::HeaderName = http::HeaderName::from_static("cache-status");

/// Request conditional headers edgecache answers itself from a stored response.
const CLIENT_CONDITIONALS: [http::HeaderName; 4] = [
    IF_NONE_MATCH,
    IF_MODIFIED_SINCE,
    http::header::IF_MATCH,
    http::header::IF_UNMODIFIED_SINCE,
];

/// Why a request goes to the origin without touching the cache.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BypassReason {
    /// Not GET or HEAD (the method is forwarded, never cached).
    Method,
    /// The matched rule says `bypass = true`.
    Rule,
    /// A cookie named in the rule's `cookies.bypass` (e.g. a session cookie) is present.
    Cookie(String),
    /// `Authorization` on a route not marked public.
    Authorization,
    /// A protocol upgrade (WebSocket) or other request a cache cannot serve.
    Upgrade,
    /// A GET/HEAD with a body (`Content-Length` > 0 or `Transfer-Encoding`): an origin that
    /// reads it would answer per body, which is not in the key ("fat GET" poisoning).
    Body,
    /// A GET/HEAD with a method-override header (`X-HTTP-Method-Override`, ...): frameworks that
    /// honour it run another method, whose answer must not be shared as the GET's.
    MethodOverride(&'static str),
}

impl BypassReason {
    /// Short stable name (Cache-Status `detail`, metrics).
    pub fn as_str(&self) -> &'static str {
        match self {
            BypassReason::Method => "method",
            BypassReason::Rule => "rule",
            BypassReason::Cookie(_) => "cookie",
            BypassReason::Authorization => "authorization",
            BypassReason::Upgrade => "upgrade",
            BypassReason::Body => "get-body",
            BypassReason::MethodOverride(_) => "method-override",
        }
    }

    /// The Cache-Status `fwd` value (RFC 9211 §2.2): `method` for methods, else `bypass`.
    pub fn fwd(&self) -> Fwd {
        match self {
            BypassReason::Method => Fwd::Method,
            _ => Fwd::Bypass,
        }
    }
}

/// What the request's own `Cache-Control` asks of the cache (RFC 9111 §5.2.1).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RequestDirectives {
    /// `no-cache` (or `Pragma: no-cache` without Cache-Control, §5.4): revalidate before reuse.
    pub no_cache: bool,
    /// `no-store`: do not store the response (§5.2.1.5).
    pub no_store: bool,
    /// `max-age=N`: do not reuse a response older than N (§5.2.1.1).
    pub max_age: Option<u64>,
    /// `min-fresh=N`: need at least N seconds of freshness left (§5.2.1.3).
    pub min_fresh: Option<u64>,
    /// `max-stale[=N]`: accept a response stale by up to N seconds (`u64::MAX`: any) (§5.2.1.2).
    pub max_stale: Option<u64>,
    /// `only-if-cached`: answer from the cache or with 504 (§5.2.1.7).
    pub only_if_cached: bool,
}

impl RequestDirectives {
    /// Reads the request's `Cache-Control` (and `Pragma`, §5.4).
    pub fn from_headers(headers: &HeaderMap) -> Self {
        match CacheControl::from_headers(headers, CACHE_CONTROL) {
            Some(cc) => RequestDirectives {
                no_cache: cc.no_cache,
                no_store: cc.no_store,
                max_age: cc.max_age,
                min_fresh: cc.min_fresh,
                max_stale: cc.max_stale.map(|m| match m {
                    crate::cache_control::MaxStale::Any => u64::MAX,
                    crate::cache_control::MaxStale::Secs(s) => s,
                }),
                only_if_cached: cc.only_if_cached,
            },
            // §5.4: "When the Cache-Control header field is not present in a request, caches
            // MUST consider the no-cache request pragma directive as having the same effect as
            // if "Cache-Control: no-cache" were present."
            None => RequestDirectives {
                no_cache: headers
                    .get_all(PRAGMA)
                    .iter()
                    .any(|v| String::from_utf8_lossy(v.as_bytes()).contains("no-cache")),
                ..Default::default()
            },
        }
    }
}

/// A request that goes through the cache.
#[derive(Debug, Clone)]
pub struct CachePlan<'p> {
    /// The matched rule.
    pub rule: &'p Rule,
    /// The cache key (an absolute URL for the Cache API).
    pub key: String,
    /// Headers for the origin request: only the allowlist of [`crate::forward`] (the key's
    /// headers and host, content negotiation, cookies as the rule keeps them, the rule's
    /// `forward_unkeyed`); validators are edgecache's own ([`revalidation_headers`]).
    pub origin_headers: HeaderMap,
    /// Path and query the origin is sent: those of the key ([`crate::key::origin_path_and_query`]),
    /// never the client's raw target. Build the origin URL with [`CachePlan::origin_url`].
    pub origin_path_and_query: String,
    /// Each header sent to the origin and why (explain).
    pub forwarded: Vec<(http::HeaderName, crate::forward::Why)>,
    /// Request headers not sent to the origin (explain).
    pub headers_dropped: Vec<http::HeaderName>,
    /// The request's cache directives.
    pub directives: RequestDirectives,
    /// HEAD: served from the GET entry, no body.
    pub head: bool,
    /// Cookies removed before the origin fetch (names), for explain.
    pub cookies_dropped: Vec<String>,
    /// Whether the origin request's parts above are planned ([`CachePlan::plan_forward`]).
    forward_planned: bool,
}

impl CachePlan<'_> {
    /// The origin URL to fetch: `base` (the origin's scheme, authority and path prefix) followed
    /// by [`CachePlan::origin_path_and_query`], so the origin sees the path and query the key
    /// was computed from.
    pub fn origin_url(&self, base: &url::Url) -> url::Url {
        crate::key::origin_url(base, &self.origin_path_and_query)
    }
}

/// What to do with a request.
#[derive(Debug, Clone)]
pub enum RequestPlan<'p> {
    /// Forward untouched, never look up or store. Unsafe methods may invalidate entries
    /// afterwards (see [`invalidations`]).
    Bypass {
        /// The matched rule.
        rule: &'p Rule,
        /// Why.
        reason: BypassReason,
    },
    /// Look up, then serve, revalidate or fetch and store.
    Cache(Box<CachePlan<'p>>),
}

impl RequestPlan<'_> {
    /// The matched rule.
    pub fn rule(&self) -> &Rule {
        match self {
            RequestPlan::Bypass { rule, .. } => rule,
            RequestPlan::Cache(c) => c.rule,
        }
    }

    /// `bypass` or `cache`.
    pub fn as_str(&self) -> &'static str {
        match self {
            RequestPlan::Bypass { .. } => "bypass",
            RequestPlan::Cache(_) => "cache",
        }
    }
}

/// The host of a URL, lower-case without port (what rules match on).
fn match_host(url: &url::Url) -> String {
    url.host_str().unwrap_or("").to_ascii_lowercase()
}

/// Decides what to do with a request (no I/O): rule, bypass or cache key and origin headers.
pub fn plan_request<'p>(
    policy: &'p Policy,
    method: &Method,
    url: &url::Url,
    headers: &HeaderMap,
) -> RequestPlan<'p> {
    let mut plan = plan_lookup(policy, method, url, headers);
    if let RequestPlan::Cache(c) = &mut plan {
        c.plan_forward(url, headers);
    }
    plan
}

/// [`plan_request`] up to the lookup: the rule, a bypass or the cache key, without the origin
/// request's parts ([`CachePlan::plan_forward`] adds them before any origin fetch). A hit never
/// needs them (issue 16: a hit runs no code it does not need).
pub fn plan_lookup<'p>(
    policy: &'p Policy,
    method: &Method,
    url: &url::Url,
    headers: &HeaderMap,
) -> RequestPlan<'p> {
    // Rules match the normalised path (dot-segments removed, `%2F` never decoded), the same
    // path the cache key uses.
    let path = crate::key::normalize_path(url.path());
    // HEAD is answered from the GET entry, so it must find the GET rule (and key).
    let match_method = if method == Method::HEAD {
        "GET"
    } else {
        method.as_str()
    };
    let rule = policy.match_rule(match_method, &match_host(url), &path);
    let bypass = |reason| RequestPlan::Bypass { rule, reason };
    if method != Method::GET && method != Method::HEAD {
        return bypass(BypassReason::Method);
    }
    if rule.bypass {
        return bypass(BypassReason::Rule);
    }
    if headers.contains_key(http::header::UPGRADE) {
        return bypass(BypassReason::Upgrade);
    }
    if crate::forward::has_body(headers) {
        return bypass(BypassReason::Body);
    }
    if let Some(h) = crate::forward::method_override(headers) {
        return bypass(BypassReason::MethodOverride(h));
    }
    let cookie_header = joined(headers, &COOKIE);
    if let Some(c) = cookie_header.as_deref() {
        if let Some(name) = find_bypass_cookie(c, &rule.cookies.bypass) {
            return bypass(BypassReason::Cookie(name));
        }
    }
    if headers.contains_key(AUTHORIZATION) && !rule.public_authorization {
        return bypass(BypassReason::Authorization);
    }

    RequestPlan::Cache(Box::new(CachePlan {
        rule,
        key: cache_key(url, rule, headers),
        origin_headers: HeaderMap::new(),
        origin_path_and_query: String::new(),
        forwarded: Vec::new(),
        headers_dropped: Vec::new(),
        directives: RequestDirectives::from_headers(headers),
        head: method == Method::HEAD,
        cookies_dropped: Vec::new(),
        forward_planned: false,
    }))
}

impl CachePlan<'_> {
    /// Adds the origin request's parts (headers, path and query, what is forwarded and dropped)
    /// for the request `url` and `headers` this plan was made for; once, later calls keep them.
    pub fn plan_forward(&mut self, url: &url::Url, headers: &HeaderMap) {
        if self.forward_planned {
            return;
        }
        let rule = self.rule;
        let cookie_header = joined(headers, &COOKIE);

        let mut kept_cookie = None;
        let mut cookies_dropped = Vec::new();
        if let Some(c) = cookie_header.as_deref() {
            let kept = match rule.cookies.mode {
                CookieMode::Strip => None,
                CookieMode::Allow => filter_cookie_header(c, &rule.cookies.allow),
                // Only valid where any cookie bypasses (checked at validation), so nothing to keep.
                CookieMode::Pass => Some(c.to_string()),
            };
            for (name, _) in crate::cookies::parse_cookie_header(c) {
                let keptit = kept.as_deref().is_some_and(|k| {
                    crate::cookies::parse_cookie_header(k).any(|(n, _)| n == name)
                });
                if !keptit {
                    cookies_dropped.push(name.to_string());
                }
            }
            kept_cookie = kept.and_then(|k| HeaderValue::from_str(&k).ok());
        }
        // Hop-by-hop fields (RFC 9110 §7.6.1) never reach the origin, nor do the client's
        // conditionals when a stored response is revalidated (edgecache sends its own validators;
        // a miss adds the client's back: `miss_origin_headers`); of the rest, only the allowlist.
        let mut end_to_end = headers.clone();
        crate::storable::strip_hop_by_hop(&mut end_to_end);
        for h in CLIENT_CONDITIONALS {
            end_to_end.remove(h);
        }
        let fwd = crate::forward::shared_request_headers(rule, url, &end_to_end, kept_cookie);
        let mut headers_dropped = fwd.dropped;
        for name in headers.keys() {
            if !end_to_end.contains_key(name) && !headers_dropped.contains(name) {
                headers_dropped.push(name.clone());
            }
        }
        self.origin_headers = fwd.headers;
        self.origin_path_and_query = crate::key::origin_path_and_query(url, rule);
        self.forwarded = fwd.sent;
        self.headers_dropped = headers_dropped;
        self.cookies_dropped = cookies_dropped;
        self.forward_planned = true;
    }
}

/// All lines of a header joined with `; ` for cookies (RFC 6265 §5.4) — `None` when absent.
fn joined(headers: &HeaderMap, name: &http::HeaderName) -> Option<String> {
    let mut it = headers.get_all(name).iter().peekable();
    it.peek()?;
    Some(
        it.map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
            .collect::<Vec<_>>()
            .join("; "),
    )
}

/// Why a stored entry cannot be used at all.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MissReason {
    /// Nothing stored under the key (or the Cache API dropped it).
    Absent,
    /// Unreadable or old-format metadata.
    BadMeta,
    /// A hard purge record is newer than the entry.
    Purged,
    /// The stored response varies on request headers that differ (RFC 9111 §4.1).
    VaryMismatch,
    /// Stale beyond every window and without validators.
    Expired,
    /// The stored body is shorter than the origin announced (cut on the way).
    Incomplete,
}

impl MissReason {
    /// Short stable name; also the Cache-Status `fwd` it implies.
    pub fn as_str(&self) -> &'static str {
        match self {
            MissReason::Absent => "absent",
            MissReason::BadMeta => "bad-meta",
            MissReason::Purged => "purged",
            MissReason::VaryMismatch => "vary-miss",
            MissReason::Expired => "expired",
            MissReason::Incomplete => "incomplete",
        }
    }

    /// RFC 9211 `fwd` value.
    pub fn fwd(&self) -> Fwd {
        match self {
            MissReason::VaryMismatch => Fwd::VaryMiss,
            MissReason::Expired => Fwd::Stale,
            _ => Fwd::UriMiss,
        }
    }
}

/// Why a stored entry must be revalidated before it is served.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RevalidateReason {
    /// Stale, outside the stale-while-revalidate window (or stale content not allowed).
    Stale,
    /// The stored response said `no-cache` (§5.2.2.4).
    NoCache,
    /// The request said `no-cache`, or its `max-age`/`min-fresh` rule the entry out (§5.2.1).
    Request,
}

impl RevalidateReason {
    /// Short stable name.
    pub fn as_str(&self) -> &'static str {
        match self {
            RevalidateReason::Stale => "stale",
            RevalidateReason::NoCache => "no-cache",
            RevalidateReason::Request => "request",
        }
    }
}

/// What to do with a stored entry found under the key.
#[derive(Debug, Clone, PartialEq)]
pub enum HitPlan {
    /// Serve it. `refresh`: also refresh it in the background (XFetch early refresh).
    Fresh {
        /// Current age (seconds).
        age: u64,
        /// Remaining freshness.
        ttl: i64,
        /// Probabilistic early refresh fired.
        refresh: bool,
    },
    /// Serve it stale now and revalidate in the background.
    Stale {
        /// Current age.
        age: u64,
        /// Remaining freshness (negative).
        ttl: i64,
        /// Served stale because of a soft purge rather than age.
        soft_purge: bool,
    },
    /// Revalidate with the origin first (conditionally when it has validators); on an origin
    /// failure [`serve_stale_on_error`] says whether it may still be served.
    Revalidate {
        /// Current age.
        age: u64,
        /// Remaining freshness.
        ttl: i64,
        /// Why.
        reason: RevalidateReason,
    },
    /// Do not use it.
    Miss(MissReason),
}

impl HitPlan {
    /// Short stable name (metrics, explain).
    pub fn as_str(&self) -> &'static str {
        match self {
            HitPlan::Fresh { .. } => "fresh",
            HitPlan::Stale { .. } => "stale-while-revalidate",
            HitPlan::Revalidate { .. } => "revalidate",
            HitPlan::Miss(_) => "miss",
        }
    }
}

/// What the purge records say about an entry (see `purge::check_entry`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PurgeState {
    /// No newer record.
    Clean,
    /// A newer soft purge: serve stale once while revalidating.
    Soft,
    /// A newer hard purge: a miss.
    Hard,
}

impl From<crate::purge::PurgeVerdict> for PurgeState {
    fn from(v: crate::purge::PurgeVerdict) -> Self {
        match v {
            crate::purge::PurgeVerdict::Fresh => PurgeState::Clean,
            crate::purge::PurgeVerdict::SoftPurged { .. } => PurgeState::Soft,
            crate::purge::PurgeVerdict::HardPurged { .. } => PurgeState::Hard,
        }
    }
}

/// Decides how to use a stored entry.
///
/// `rand01` is a uniform random number in `[0, 1)` for XFetch early refresh (the adapter draws
/// it; tests pass fixed values).
pub fn plan_hit(
    rule: &Rule,
    meta: &EntryMeta,
    req_headers: &HeaderMap,
    directives: &RequestDirectives,
    purge: PurgeState,
    now: u64,
    rand01: f64,
) -> HitPlan {
    if meta.v != META_VERSION {
        return HitPlan::Miss(MissReason::BadMeta);
    }
    if purge == PurgeState::Hard {
        return HitPlan::Miss(MissReason::Purged);
    }
    // §4.1: "the selecting header fields nominated by the stored response (if any) match those
    // presented" — compared on the values captured when it was stored.
    if !variance::matches(&meta.vary, req_headers) {
        return HitPlan::Miss(MissReason::VaryMismatch);
    }
    let age = meta.age(now);
    let ttl = meta.ttl(now);
    let fresh = ttl > 0;
    if purge == PurgeState::Soft {
        return if meta.must_revalidate || meta.no_cache {
            HitPlan::Revalidate {
                age,
                ttl,
                reason: RevalidateReason::Stale,
            }
        } else {
            HitPlan::Stale {
                age,
                ttl: ttl.min(-1),
                soft_purge: true,
            }
        };
    }
    // §5.2.2.4 / §4.2.4: a no-cache response is always revalidated before reuse.
    if meta.no_cache {
        return HitPlan::Revalidate {
            age,
            ttl,
            reason: RevalidateReason::NoCache,
        };
    }
    // §5.2.1: the request's own limits.
    let too_old = directives.max_age.is_some_and(|m| age > m);
    let not_fresh_enough = directives.min_fresh.is_some_and(|m| ttl < m as i64);
    if directives.no_cache || too_old || not_fresh_enough {
        return HitPlan::Revalidate {
            age,
            ttl,
            reason: RevalidateReason::Request,
        };
    }
    if fresh {
        let refresh = xfetch(rule.xfetch_beta, meta.fetch_ms, ttl, rand01);
        return HitPlan::Fresh { age, ttl, refresh };
    }
    let stale_by = ttl.unsigned_abs();
    // §5.2.1.2: the client accepts this much staleness (unless the response forbids it).
    if !meta.must_revalidate && directives.max_stale.is_some_and(|m| stale_by <= m) {
        return HitPlan::Fresh {
            age,
            ttl,
            refresh: true,
        };
    }
    // Stale by `stale_by` seconds (0 = just expired); the windows are half-open.
    if !meta.must_revalidate && stale_by < meta.swr {
        return HitPlan::Stale {
            age,
            ttl,
            soft_purge: false,
        };
    }
    if stale_by < meta.swr.max(meta.sie) || meta.has_validators() {
        return HitPlan::Revalidate {
            age,
            ttl,
            reason: RevalidateReason::Stale,
        };
    }
    HitPlan::Miss(MissReason::Expired)
}

/// XFetch (Vattani et al., "Optimal Probabilistic Cache Stampede Prevention"): refresh early
/// when `-delta * beta * ln(rand) >= ttl`, where `delta` is the recompute time. `beta == 0`
/// turns it off. The probability rises smoothly as expiry approaches.
pub fn xfetch(beta: f64, fetch_ms: u64, ttl: i64, rand01: f64) -> bool {
    if beta <= 0.0 || ttl <= 0 {
        return false;
    }
    let r = rand01.clamp(f64::MIN_POSITIVE, 1.0);
    let delta = fetch_ms as f64 / 1000.0;
    -delta * beta * r.ln() >= ttl as f64
}

/// Whether a stale entry may be served because the origin failed (RFC 5861 stale-if-error).
///
/// Never after `must-revalidate` (RFC 9111 §5.2.2.2: "the cache MUST NOT reuse a stored response
/// ... without successful validation" — it must answer 504 instead).
pub fn serve_stale_on_error(meta: &EntryMeta, now: u64) -> bool {
    if meta.must_revalidate || meta.no_cache {
        return false;
    }
    let ttl = meta.ttl(now);
    ttl > 0 || ttl.unsigned_abs() < meta.sie
}

/// Whether a status is an origin failure that stale-if-error covers.
pub fn is_origin_error(status: u16) -> bool {
    matches!(status, 500 | 502 | 503 | 504)
}

/// Headers for the conditional revalidation request (RFC 9111 §4.3.1): the stored validators.
///
/// Contract: `base` (the plan's origin headers) plus the request's fields named by the stored
/// response's `Vary` (§4.3.1 "MUST ... include the stored request header fields identified by
/// the Vary header field"; `req_headers` selected the entry, so their values are the stored
/// ones; safe to forward although not in the key, since the entry is only reused for requests
/// with the same values, §4.1) without `Range`/`If-Range` — the cache validates its complete
/// stored response, and a 206 could not freshen it (RFC 9110 §14.2) — plus `If-None-Match` with
/// the stored `ETag` (put in quotes when the origin sent a bare token, which is not an
/// entity-tag, RFC 9110 §8.8.3) and `If-Modified-Since` with the stored `Last-Modified`.
pub fn revalidation_headers(
    meta: &EntryMeta,
    base: &HeaderMap,
    req_headers: &HeaderMap,
) -> HeaderMap {
    let mut h = base.clone();
    for (name, _) in &meta.vary {
        let Ok(name) = http::HeaderName::from_bytes(name.as_bytes()) else {
            continue;
        };
        // Cookie, Authorization and Host reach the origin only as their own settings say.
        let own = [COOKIE, AUTHORIZATION, http::header::HOST].contains(&name);
        if own || h.contains_key(&name) || crate::storable::HOP_BY_HOP.contains(&name) {
            continue;
        }
        for v in req_headers.get_all(&name) {
            h.append(name.clone(), v.clone());
        }
    }
    h.remove(http::header::RANGE);
    h.remove(http::header::IF_RANGE);
    if let Some(v) = meta
        .etag
        .as_deref()
        .map(|e| {
            let e = e.trim();
            if crate::conditional::entity_tags(e).is_none() && !e.contains('"') {
                format!("\"{e}\"")
            } else {
                e.to_string()
            }
        })
        .and_then(|v| HeaderValue::from_str(&v).ok())
    {
        h.insert(IF_NONE_MATCH, v);
    }
    if let Some(v) = meta
        .last_modified
        .as_deref()
        .and_then(|v| HeaderValue::from_str(v).ok())
    {
        h.insert(IF_MODIFIED_SINCE, v);
    }
    h
}

/// Origin request headers for a fetch when nothing usable is stored (a miss).
///
/// Contract: `base` (the plan's origin headers, client conditionals removed) plus every line of
/// the client's `If-None-Match`, `If-Modified-Since`, `If-Match` and `If-Unmodified-Since`
/// exactly as received, malformed or not: RFC 9111 §4.3.2 "A cache MUST NOT evaluate
/// conditional header fields that ... occur in a request with a target resource for which it
/// has no stored responses; such preconditions are likely intended for some other (inbound)
/// server." `Range` and `If-Range` are removed, so the origin returns the complete response,
/// which can be stored and the range served from it (`range::plan_range`). A 304 or 412 the
/// origin answers is for this client only: it is not stored (§3) and must not be handed to
/// collapsed waiters that did not send the same conditionals.
pub fn miss_origin_headers(base: &HeaderMap, req_headers: &HeaderMap) -> HeaderMap {
    let mut h = base.clone();
    h.remove(http::header::RANGE);
    h.remove(http::header::IF_RANGE);
    for name in CLIENT_CONDITIONALS {
        h.remove(&name);
        for v in req_headers.get_all(&name) {
            h.append(name.clone(), v.clone());
        }
    }
    h
}

/// How a request method is handled (RFC 9110 §9, RFC 9111 §4.4).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MethodClass {
    /// GET or HEAD: may be answered from the cache ([`plan_request`]).
    Cacheable(Method),
    /// Any other method, known or not (`PURGE`, `FOO`, ...): forwarded to the origin as it is,
    /// never answered from the cache. `unsafe_method`: not one of the safe methods (GET, HEAD,
    /// OPTIONS, TRACE), so a non-error answer invalidates (§4.4, "including methods whose
    /// safety is unknown"; see [`invalidations`]).
    Forward {
        /// The method, exactly as received.
        method: Method,
        /// Whether §4.4 invalidation follows a non-error response.
        unsafe_method: bool,
    },
    /// Not a method token (RFC 9110 §9.1: `method = token`): answer 400, never treat as GET.
    Invalid,
}

/// Classifies the raw request method (RFC 9110 §9.1: case-sensitive; `get` is not `GET`).
///
/// The adapter must pass the method string exactly as the runtime received it (`Request.method`,
/// unmapped): a binding that folded methods it does not know (e.g. `PURGE`) into GET would let
/// an unsafe request be answered from the cache and skip its invalidation.
pub fn classify_method(raw: &str) -> MethodClass {
    let Ok(method) = Method::from_bytes(raw.as_bytes()) else {
        return MethodClass::Invalid;
    };
    if raw.is_empty() {
        return MethodClass::Invalid;
    }
    if method == Method::GET || method == Method::HEAD {
        return MethodClass::Cacheable(method);
    }
    MethodClass::Forward {
        unsafe_method: !method.is_safe(),
        method,
    }
}

/// Whether the client must get `504 Gateway Timeout` instead of an origin round trip
/// (RFC 9111 §5.2.1.7 `only-if-cached`: "respond using a stored response that is consistent with
/// the other constraints of the request, or respond with a 504 (Gateway Timeout) status code").
///
/// Contract: true iff the request said `only-if-cached` and the hit plan needs the origin
/// before answering (`Miss` or `Revalidate`); `Fresh` and `Stale` (the origin allowed serving
/// it stale, the refresh runs in the background) are answered from the cache.
pub fn only_if_cached_gateway_timeout(directives: &RequestDirectives, hit: &HitPlan) -> bool {
    directives.only_if_cached && matches!(hit, HitPlan::Miss(_) | HitPlan::Revalidate { .. })
}

/// Why an origin response is not stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DontStore {
    /// RFC 9111 §3 says no (no-store, private, Authorization, Vary: * ...).
    Rfc(crate::storable::NotStorable),
    /// A 5xx response: never stored in `override`/`cap` mode; in `respect` mode only with
    /// explicit freshness (or a configured `status_ttl`, or heuristics for 501).
    ServerError,
    /// The status has no TTL under this rule.
    Status(u16),
    /// The freshness lifetime and every window are zero and there is nothing to revalidate.
    ZeroTtl,
    /// The body is larger than the rule's `max_body_size`.
    TooLarge,
    /// The request said `no-store`.
    RequestNoStore,
    /// Web cache deception armor: the `Content-Type` contradicts the path's extension
    /// (see [`crate::deception`]).
    ContentTypeMismatch,
}

impl DontStore {
    /// Short stable name.
    pub fn as_str(&self) -> &'static str {
        match self {
            DontStore::Rfc(r) => r.as_str(),
            DontStore::ServerError => "server-error",
            DontStore::Status(_) => "status",
            DontStore::ZeroTtl => "zero-ttl",
            DontStore::TooLarge => "too-large",
            DontStore::RequestNoStore => "request-no-store",
            DontStore::ContentTypeMismatch => "content-type-mismatch",
        }
    }
}

/// An origin response as the core sees it.
#[derive(Debug, Clone)]
pub struct OriginResponse<'a> {
    /// Status code.
    pub status: u16,
    /// Response headers.
    pub headers: &'a HeaderMap,
    /// When the request was sent (unix seconds).
    pub request_time: u64,
    /// When the response arrived (unix seconds).
    pub response_time: u64,
    /// When the entry is written (ms): compared with purge records.
    pub now_ms: u64,
    /// How long the origin took (ms).
    pub fetch_ms: u64,
}

/// A response to store: the headers to keep and the metadata.
#[derive(Debug, Clone)]
pub struct Store {
    /// Headers to store (hop-by-hop, `Set-Cookie` and field-qualified directives removed).
    pub headers: HeaderMap,
    /// The entry's metadata.
    pub meta: EntryMeta,
}

/// Freshness for the edge under a rule: (lifetime, swr, sie, must_revalidate, no_cache).
struct EdgeTiming {
    lifetime: u64,
    swr: u64,
    sie: u64,
    must_revalidate: bool,
    no_cache: bool,
}

/// Decides whether and how to store an origin response (RFC 9111 §3 + the rule).
///
/// `jitter01` is uniform in `[0, 1)`: with `jitter_percent = p`, the edge lifetime is scaled by
/// a factor in `[1 - p/100, 1 + p/100)`.
pub fn plan_store(
    plan: &CachePlan<'_>,
    req_headers: &HeaderMap,
    resp: &OriginResponse<'_>,
    jitter01: f64,
) -> Result<Store, DontStore> {
    let rule = plan.rule;
    if plan.directives.no_store {
        return Err(DontStore::RequestNoStore);
    }
    // 5xx: in `override`/`cap` mode never stored (the rule's TTLs would pin an outage). In
    // `respect` mode RFC 9111 §3 lets any final status be stored when the response says so:
    // a 5xx is stored only with the origin's explicit freshness (§4.2.1), a configured
    // `status_ttl` for that code, or — for 501, the one heuristically cacheable 5xx (RFC 9110
    // §15.1) — heuristics when the rule allows them. Never from the rule's plain `edge_ttl`,
    // which applies to 200/203/204 only: an error without explicit freshness is usually
    // transient, and caching it would spread it; stale-if-error covers outages instead.
    let respect = rule.origin_cache_control == OriginMode::Respect;
    if resp.status >= 500 && !respect {
        return Err(DontStore::ServerError);
    }
    let mut headers = resp.headers.clone();
    crate::storable::strip_hop_by_hop(&mut headers);
    let edge = edge_cache_control(&headers);
    let cc = &edge.cc;
    let has_set_cookie = headers.contains_key(SET_COOKIE);
    let opts = StoreOptions {
        authorization_public: false,
        heuristic_allowed: rule.heuristic_freshness,
        policy_ttl: rule.edge_ttl > 0 || rule.status_ttl.get(resp.status).is_some(),
        store_set_cookie: rule.set_cookie == SetCookieMode::Strip,
        cc_is_targeted: matches!(edge.source, CcSource::Targeted(_)),
    };
    // The request's Authorization only reaches here on routes marked public; §3.5 still applies
    // (checked by check_storable against the request headers).
    // A 5xx without freshness is reported as `server-error` (see above), whichever check notices.
    let no_freshness = |e: DontStore| match e {
        DontStore::Rfc(crate::storable::NotStorable::NoExplicitFreshness) if resp.status >= 500 => {
            DontStore::ServerError
        }
        e => e,
    };
    check_storable(&Method::GET, resp.status, req_headers, &headers, cc, &opts)
        .map_err(|e| no_freshness(DontStore::Rfc(e)))?;
    if rule.deception_armor {
        let path = plan
            .origin_path_and_query
            .split('?')
            .next()
            .unwrap_or_default();
        if crate::deception::path_ext(path)
            .is_some_and(|ext| crate::deception::contradicts(ext, resp.status, &headers))
        {
            return Err(DontStore::ContentTypeMismatch);
        }
    }
    if has_set_cookie {
        // Never stored with it; check_storable refused it unless the rule strips it.
        headers.remove(SET_COOKIE);
    }
    prepare_for_storage(&mut headers, cc);

    let vary = Vary::from_headers(&headers);
    let captured = match &vary {
        Vary::Star => {
            return Err(DontStore::Rfc(crate::storable::NotStorable::VaryStar));
        }
        Vary::None => Vec::new(),
        Vary::Headers(names) => variance::capture(req_headers, names),
    };

    let timing = edge_timing(rule, resp, &headers, &edge).map_err(no_freshness)?;
    // Jitter may shorten any lifetime, but never lengthen one the origin bounded strictly
    // (must-revalidate, §5.2.2.2) or one the rule caps.
    let jittered = jitter(timing.lifetime, rule.jitter_percent, jitter01);
    let lifetime = if timing.must_revalidate || rule.origin_cache_control == OriginMode::Cap {
        jittered.min(timing.lifetime)
    } else {
        jittered
    };
    let lifetime = lifetime.min(MAX_LIFETIME_SECS);
    let meta = EntryMeta {
        v: META_VERSION,
        key: plan.key.clone(),
        rule: rule.name.clone(),
        status: resp.status,
        stored_at_ms: resp.now_ms,
        response_time: resp.response_time,
        initial_age: initial_age(&headers, resp.request_time, resp.response_time),
        fresh_for: lifetime,
        swr: timing.swr.min(MAX_LIFETIME_SECS),
        sie: timing.sie.min(MAX_LIFETIME_SECS),
        must_revalidate: timing.must_revalidate,
        no_cache: timing.no_cache,
        etag: header_str(&headers, &ETAG),
        last_modified: header_str(&headers, &LAST_MODIFIED),
        tags: crate::tags::collect(rule, &headers),
        vary: captured,
        fetch_ms: resp.fetch_ms,
        size: 0,
        origin_cc: header_str(resp.headers, &CACHE_CONTROL),
        // Filled from the headers by `meta::stored_headers` when the entry is written.
        origin_fields: None,
    };
    if meta.fresh_for == 0 && meta.swr == 0 && meta.sie == 0 && !meta.has_validators() {
        return Err(DontStore::ZeroTtl);
    }
    Ok(Store { headers, meta })
}

fn edge_timing(
    rule: &Rule,
    resp: &OriginResponse<'_>,
    headers: &HeaderMap,
    edge: &crate::cache_control::EdgeCacheControl,
) -> Result<EdgeTiming, DontStore> {
    let cc = &edge.cc;
    let status = resp.status;
    let status_ttl = rule.status_ttl.get(status);
    // Statuses the rule's edge_ttl applies to; others need a status_ttl entry (or, in respect
    // mode, the origin's explicit freshness on a status this cache understands).
    let ttl_status = matches!(status, 200 | 203 | 204);
    let origin = edge_freshness_lifetime(edge, headers, resp.response_time);
    let rule_ttl = status_ttl.or(if ttl_status {
        Some(rule.edge_ttl)
    } else {
        None
    });
    match rule.origin_cache_control {
        OriginMode::Override => {
            let lifetime = rule_ttl.ok_or(DontStore::Status(status))?;
            Ok(EdgeTiming {
                lifetime,
                swr: rule.stale_while_revalidate,
                sie: rule.stale_if_error,
                must_revalidate: false,
                no_cache: false,
            })
        }
        OriginMode::Respect | OriginMode::Cap => {
            // In respect mode only what the policy itself wrote extends RFC 9111 (built-in
            // defaults do not): a minimal respect policy is a plain shared cache.
            let respect = rule.origin_cache_control == OriginMode::Respect;
            let given = |configured: bool| !respect || configured;
            let status_ttl = status_ttl.filter(|_| given(rule.configured.status_ttl));
            let rule_ttl = rule_ttl.filter(|_| given(rule.configured.edge_ttl));
            // Fallback chain (RFC 9111 §4.2.1 → configured TTL → §4.2.2 heuristics).
            let lifetime = origin
                .or(status_ttl)
                .or_else(|| rule_ttl.filter(|t| *t > 0))
                .or_else(|| {
                    (rule.heuristic_freshness && heuristically_cacheable(status))
                        .then(|| heuristic_lifetime(headers, resp.response_time))
                        .flatten()
                })
                .ok_or(DontStore::Rfc(
                    crate::storable::NotStorable::NoExplicitFreshness,
                ))?;
            let lifetime = if rule.origin_cache_control == OriginMode::Cap {
                lifetime.min(rule_ttl.unwrap_or(lifetime))
            } else {
                lifetime
            };
            // §4.2.4: "A cache MUST NOT generate a stale response if it is prohibited by an
            // explicit in-protocol directive (e.g., by a no-cache response directive, a
            // must-revalidate response directive, or an applicable s-maxage or
            // proxy-revalidate response directive)". RFC 5861's stale-* directives are the
            // origin's explicit permission, and take precedence over the rule's windows.
            // In `cap` mode the operator's stale windows apply to s-maxage responses too (the
            // origin's TTL is only an upper bound there); must-revalidate is still honoured.
            let explicit_stale = cc.stale_while_revalidate.is_some() || cc.stale_if_error.is_some();
            let s_maxage_forbids = rule.origin_cache_control == OriginMode::Respect
                && cc.s_maxage.is_some()
                && !explicit_stale;
            let must_revalidate = cc.must_revalidate || cc.proxy_revalidate || s_maxage_forbids;
            // With s-maxage (respect mode), only the stale windows the origin itself granted
            // apply: the rule's own windows would be stale responses §4.2.4 forbids.
            let s_maxage_present =
                rule.origin_cache_control == OriginMode::Respect && cc.s_maxage.is_some();
            let rule_window = |w: u64, configured: bool| {
                if s_maxage_present || !given(configured) {
                    0
                } else {
                    w
                }
            };
            Ok(EdgeTiming {
                lifetime,
                swr: cc.stale_while_revalidate.unwrap_or(rule_window(
                    rule.stale_while_revalidate,
                    rule.configured.stale_while_revalidate,
                )),
                sie: cc.stale_if_error.unwrap_or(rule_window(
                    rule.stale_if_error,
                    rule.configured.stale_if_error,
                )),
                must_revalidate,
                no_cache: cc.no_cache && cc.no_cache_fields.is_empty(),
            })
        }
    }
}

/// Applies ± `percent` jitter to a lifetime; `r` uniform in `[0, 1)`.
pub fn jitter(lifetime: u64, percent: u8, r: f64) -> u64 {
    if percent == 0 || lifetime == 0 {
        return lifetime;
    }
    let p = f64::from(percent.min(100)) / 100.0;
    let factor = 1.0 - p + 2.0 * p * r.clamp(0.0, 1.0);
    (lifetime as f64 * factor).round().max(1.0) as u64
}

fn header_str(h: &HeaderMap, name: &http::HeaderName) -> Option<String> {
    let all: Vec<String> = h
        .get_all(name)
        .iter()
        .filter_map(|v| v.to_str().ok().map(str::to_string))
        .collect();
    (!all.is_empty()).then(|| all.join(", "))
}

/// Cache keys to invalidate after a request that bypassed the cache (RFC 9111 §4.4): unsafe
/// method + non-error status → the target URI and same-origin `Location`/`Content-Location`.
pub fn invalidations(
    policy: &Policy,
    method: &Method,
    url: &url::Url,
    req_headers: &HeaderMap,
    status: u16,
    resp_headers: &HeaderMap,
) -> Vec<String> {
    invalidation_targets(method, status, url, resp_headers)
        .iter()
        .map(|u| {
            let path = crate::key::normalize_path(u.path());
            let rule = policy.match_rule("GET", &match_host(u), &path);
            cache_key(u, rule, req_headers)
        })
        .collect()
}

/// The origin URL for a client URL: the origin's scheme and authority, its base path followed by
/// the client's path, and the client's query.
pub fn origin_url(base: &url::Url, client: &url::Url) -> url::Url {
    // The remote-origin mode of crate::origin (same-zone and site-Host modes live there too).
    crate::origin::origin_target(&crate::origin::OriginMode::Remote(base.clone()), client).url
}

/// The Cache-Status value for a served response.
pub fn cache_status(hit: bool, fwd: Option<Fwd>) -> CacheStatus {
    CacheStatus {
        hit,
        fwd,
        fwd_status: None,
        ttl: None,
        stored: false,
        collapsed: false,
        key: None,
        detail: None,
    }
}

/// Every header [`client_headers`] may add, change or remove for `rule`: the adapter edits just
/// these on a stored response instead of copying all of them.
pub fn client_header_names(rule: &Rule) -> Vec<http::HeaderName> {
    let mut v = vec![
        CACHE_CONTROL,
        AGE,
        http::header::VARY,
        CACHE_STATUS.clone(),
        DEBUG_NAME.clone(),
        crate::meta::META_NAME.clone(),
    ];
    if !rule.keep_tag_headers {
        v.extend(rule.tag_headers.iter().cloned());
    }
    v
}

/// Turns stored or origin headers into what the browser gets.
///
/// - internal headers (metadata) are removed, tag headers too unless the rule keeps them;
/// - for responses that are cached (`cached == true`, i.e. served from or stored in the edge),
///   `Cache-Control` is rewritten per `browser_ttl` in `override`/`cap` mode; in `respect` mode
///   the origin's own `Cache-Control` goes through unchanged;
/// - `Age` is set when `age` is given (every hit, RFC 9111 §5.1);
/// - our Cache-Status member is appended to any upstream one (RFC 9211 §2: the cache closest to
///   the user last);
/// - `debug`: the rule and key in [`DEBUG_HEADER`].
pub fn client_headers(
    rule: &Rule,
    headers: &HeaderMap,
    cached: bool,
    age: Option<u64>,
    status: &CacheStatus,
    debug: Option<&str>,
) -> HeaderMap {
    let mut h = headers.clone();
    client_headers_into(rule, &mut h, cached, age, status, debug);
    h
}

/// [`client_headers`] done on `h` itself: a hit turns its stored fields into the browser's
/// without a copy of the map.
pub fn client_headers_into(
    rule: &Rule,
    h: &mut HeaderMap,
    cached: bool,
    age: Option<u64>,
    status: &CacheStatus,
    debug: Option<&str>,
) {
    // The upstream member as the fields came (before a tag header of that name is removed).
    let upstream = header_str(h, &CACHE_STATUS);
    h.remove(&crate::meta::META_NAME);
    if !rule.keep_tag_headers {
        for t in &rule.tag_headers {
            h.remove(t);
        }
    }
    if cached && rule.origin_cache_control != OriginMode::Respect {
        // Not `format!`: every hit of an override or cap rule builds it.
        let v = if rule.browser_ttl > 0 {
            let mut v = String::with_capacity(40);
            v.push_str("public, max-age=");
            crate::status::push_int(&mut v, i64::try_from(rule.browser_ttl).unwrap_or(i64::MAX));
            HeaderValue::from_str(&v).ok()
        } else {
            Some(HeaderValue::from_static(
                "public, max-age=0, must-revalidate",
            ))
        };
        if let Some(v) = v {
            h.insert(CACHE_CONTROL, v);
        }
    }
    if let Some(a) = age {
        h.insert(AGE, HeaderValue::from(a));
    }
    let ours = status.to_header_value();
    let value = match upstream {
        Some(up) if !up.is_empty() => format!("{up}, {ours}"),
        _ => ours,
    };
    if let Ok(v) = HeaderValue::from_str(&value) {
        h.insert(CACHE_STATUS.clone(), v);
    }
    if let Some(d) = debug.and_then(|d| HeaderValue::from_str(d).ok()) {
        h.insert(DEBUG_NAME.clone(), d);
    }
}

/// Whether a client's conditional GET/HEAD can be answered with 304 from the stored response
/// (RFC 9111 §4.3.2): [`crate::conditional::evaluate`] gives `NotModified`. If-None-Match takes
/// precedence and uses the weak comparison of RFC 9110 §13.1.2 against the stored `ETag`.
/// Without it, If-Modified-Since (§13.1.3) holds when the stored response's `Last-Modified` —
/// or, without one, its `Date`, or without that the time it was received (`received_at`, unix
/// seconds) — is earlier than or equal to the given date. Callers that can answer 412 should use
/// `conditional::evaluate` directly (If-Match / If-Unmodified-Since).
pub fn client_not_modified(req: &HeaderMap, stored: &HeaderMap, received_at: Option<u64>) -> bool {
    crate::conditional::evaluate(&Method::GET, req, 200, stored, received_at)
        == crate::conditional::Precondition::NotModified
}

/// Headers a 304 from edgecache carries (RFC 9110 §15.4.5): those a 200 would have sent among
/// Cache-Control, Content-Location, Date, ETag, Expires, Vary, plus Age and Cache-Status.
pub fn not_modified_headers(full: &HeaderMap) -> HeaderMap {
    let mut h = HeaderMap::new();
    for name in [
        &CACHE_CONTROL,
        &http::header::CONTENT_LOCATION,
        &http::header::DATE,
        &http::header::ETAG,
        &http::header::EXPIRES,
        &http::header::VARY,
        &http::header::LAST_MODIFIED,
        &AGE,
        &CACHE_STATUS,
        &DEBUG_NAME,
    ] {
        for v in full.get_all(name) {
            h.append(name.clone(), v.clone());
        }
    }
    h
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_purge_verdict_is_the_entrys_purge_state() {
        use crate::purge::PurgeVerdict as V;
        assert_eq!(PurgeState::from(V::Fresh), PurgeState::Clean);
        assert_eq!(
            PurgeState::from(V::SoftPurged { at_ms: 1 }),
            PurgeState::Soft
        );
        assert_eq!(
            PurgeState::from(V::HardPurged { at_ms: 1 }),
            PurgeState::Hard
        );
    }

    use super::*;
    use proptest::prelude::*;

    #[test]
    fn entity_tag_lists() {
        assert_eq!(
            entity_tags(r#" "a", W/"b,c" ,"""#),
            Some(vec![(false, "a"), (true, "b,c"), (false, "")])
        );
        assert_eq!(entity_tags(""), Some(vec![]));
        for bad in [
            r#"a"#,
            r#""a"#,
            r#"W/a"#,
            r#""a"b"#,
            "\"a\u{1}\"",
            r#""a" x"#,
        ] {
            assert_eq!(entity_tags(bad), None, "{bad}");
        }
    }

    proptest! {
        #[test]
        fn entity_tags_never_panic_and_round_trip(s in "[ ,W/\"a-c\\\\]{0,24}", tags in prop::collection::vec(("[!#-~]{0,6}", any::<bool>()), 0..5)) {
            let _ = entity_tags(&s);
            let list: Vec<String> = tags.iter().map(|(t, w)| format!("{}\"{t}\"", if *w { "W/" } else { "" })).collect();
            let joined = list.join(", ");
            let parsed = entity_tags(&joined).expect("a valid list parses");
            let want: Vec<(bool, &str)> = tags.iter().map(|(t, w)| (*w, t.as_str())).collect();
            prop_assert_eq!(parsed, want);
        }
    }
}
