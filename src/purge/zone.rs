//! The zone purge accelerator, pure half: the configuration, what the Cloudflare zone purge API
//! is asked (`POST {base}/zones/{zone_id}/purge_cache`), split to its per-call limits, the retry
//! schedule and the classification of its answers, and the `Cache-Tag` a stored copy carries so
//! the API can find it. The Durable Object only executes the calls this module plans.
//!
//! KV records stay the guarantee (they work without a token, on `workers.dev`, and when the API
//! is down); the API call is the accelerator: Cloudflare documents its purge as instant, where
//! KV records take up to [`crate::purge`]'s propagation bound to reach every location.
//!
//! What the API is asked, per purge (docs: <https://developers.cloudflare.com/api/resources/cache/methods/purge/>):
//!
//! - `"everything": true` → `{"purge_everything": true}` (the whole zone's cache, every host).
//! - tags → `{"tags": [...]}`: every stored copy carries its tags in `Cache-Tag`
//!   ([`stored_cache_tag`]). A tag the API cannot match (not printable ASCII, a space or comma,
//!   over 1,024 bytes) is left to KV.
//! - URLs → `{"files": [cache key]}` plus `{"tags": [url tag]}`: the cache key is the URL the copy
//!   is stored under (`https://host/path?sorted-query`), and every copy of the URL, whatever its
//!   vary variant, also carries the URL's own tag ([`url_tag`]). Cloudflare's docs say a URL
//!   stored through the Cache API under a key a Worker chose cannot always be purged by URL and
//!   point to tags instead ("How the Cache works"): the URL tag is what makes URL purges dependable.
//!   Keys under the shared host of `include_host = false` rules are sent by tag only.
//! - prefixes → `{"prefixes": ["host/path"]}` (no scheme, as the API wants); a path-only prefix
//!   is sent for the host that received the purge. The API matches a plain string prefix, so
//!   `/blog` also purges `/blogger` there: one extra miss, never a stale copy. Prefixes with a
//!   port, under the shared host, or with more than 31 separators are left to KV.
//! - soft purges are never sent: the API can only delete, and a soft purge promises the old
//!   copy is served (stale) while it is refetched. They stay KV-only.
//!
//! Per-call limits (docs, "Purge cache" → "Purge limits", all plans): at most 100 operations
//! per request (URLs: 100 on Free/Pro/Business, 500 on Enterprise; tags, hosts, prefixes: 100).
//! Calls are never mixed (one kind per call). Rate limits are token buckets per account (Free:
//! 5 requests/minute, bucket 25; Pro 5/s; Business 10/s; Enterprise 50/s), and the whole API
//! answers 429 with `Retry-After` once a client is over its limits (docs: "Rate limits"):
//! [`classify`] honours it.

use super::keys::normalise_prefix;
use super::request::PurgeRequest;
use crate::json::{Arr, Json, Obj};
use sha2::{Digest, Sha256};

/// Default base URL of the Cloudflare API (`CF_API_BASE` overrides it, e.g. for a local fake).
pub const DEFAULT_API_BASE: &str = "https://api.cloudflare.com/client/v4";
/// Most URLs per call: 100 on Free, Pro and Business (500 on Enterprise; 100 fits every plan).
pub const MAX_FILES_PER_CALL: usize = 100;
/// Most tags per call (docs: 100 operations per request on every plan).
pub const MAX_TAGS_PER_CALL: usize = 100;
/// Most prefixes per call (docs: 100 operations per request on every plan).
pub const MAX_PREFIXES_PER_CALL: usize = 100;
/// Longest tag in a purge call, in bytes (docs, "Purge cache by cache-tags").
pub const MAX_API_TAG_BYTES: usize = 1024;
/// Largest `Cache-Tag` value on a stored copy, in bytes (docs: 16 KB after the field name).
pub const MAX_CACHE_TAG_HEADER_BYTES: usize = 16 * 1024;
/// Most path separators in a purge prefix (docs, "Purge cache by prefix": 31).
pub const MAX_PREFIX_SEPARATORS: usize = 31;
/// Prefix of tags edgecache reserves for itself; ignored when read from an origin's headers.
pub const RESERVED_TAG_PREFIX: &str = "__ec_";
/// Prefix of the tag every stored copy of a URL carries (then 32 hex digits).
pub const URL_TAG_PREFIX: &str = "__ec_url_";
/// Attempts per call before it is logged as failed.
pub const MAX_ATTEMPTS: u32 = 6;
/// First retry delay; doubled per failed attempt up to [`BACKOFF_MAX_MS`] (then jittered).
pub const BACKOFF_BASE_MS: u64 = 1_000;
/// Longest computed backoff between two attempts.
pub const BACKOFF_MAX_MS: u64 = 60_000;
/// Longest `Retry-After` honoured: the API's global limit blocks a client for five minutes.
pub const RETRY_AFTER_MAX_SECS: u64 = 300;
/// How long one API call may take before it counts as failed (and is retried).
pub const CALL_TIMEOUT_MS: u64 = 10_000;

/// The accelerator's settings, from the `CF_API_TOKEN` and `CF_ZONE_ID` secrets and the
/// `CF_API_BASE` var.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ZoneConfig {
    /// API token (scope: Zone > Cache Purge > Purge).
    pub token: String,
    /// The zone's id (32 hex digits, shown on the zone's overview page).
    pub zone_id: String,
    /// API base URL without a trailing `/`.
    pub api_base: String,
}

impl ZoneConfig {
    /// Where purge calls go: `{base}/zones/{zone_id}/purge_cache`.
    pub fn purge_url(&self) -> String {
        format!("{}/zones/{}/purge_cache", self.api_base, self.zone_id)
    }

    /// The `Authorization` header value.
    pub fn authorization(&self) -> String {
        format!("Bearer {}", self.token)
    }
}

/// The accelerator's configuration: `Ok(None)` (disabled: nothing changes) unless both the token
/// and the zone id are set and non-empty; `Err` when set but unusable (the zone id is not 32 hex
/// digits, the token is not a header-safe string, or the base is not an http(s) URL).
pub fn zone_config(
    token: Option<&str>,
    zone_id: Option<&str>,
    api_base: Option<&str>,
) -> Result<Option<ZoneConfig>, String> {
    let token = token.map(str::trim).filter(|t| !t.is_empty());
    let zone_id = zone_id.map(str::trim).filter(|z| !z.is_empty());
    let (Some(token), Some(zone_id)) = (token, zone_id) else {
        return Ok(None);
    };
    if zone_id.len() != 32 || !zone_id.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err("CF_ZONE_ID: expected the zone's id, 32 hexadecimal digits".to_string());
    }
    if !token.bytes().all(|b| b.is_ascii_graphic()) {
        return Err("CF_API_TOKEN: not a token (printable ASCII without spaces)".to_string());
    }
    let base = api_base
        .map(str::trim)
        .filter(|b| !b.is_empty())
        .unwrap_or(DEFAULT_API_BASE)
        .trim_end_matches('/');
    match url::Url::parse(base) {
        Ok(u) if matches!(u.scheme(), "http" | "https") && u.host_str().is_some() => {}
        _ => return Err(format!("CF_API_BASE {base:?}: not an http(s) URL")),
    }
    Ok(Some(ZoneConfig {
        token: token.to_string(),
        zone_id: zone_id.to_ascii_lowercase(),
        api_base: base.to_string(),
    }))
}

/// Whether `tag` can be matched by the API: 1 to 1,024 bytes of printable ASCII without space
/// or comma (the `Cache-Tag` separator). Cloudflare compares tags case-insensitively, so `Tag`
/// also purges `tag` there (an extra miss, never a stale copy).
pub fn api_tag_ok(tag: &str) -> bool {
    !tag.is_empty()
        && tag.len() <= MAX_API_TAG_BYTES
        && tag.bytes().all(|b| b.is_ascii_graphic() && b != b',')
}

/// Whether `tag` is one edgecache reserves for itself ([`RESERVED_TAG_PREFIX`]).
pub fn is_reserved_tag(tag: &str) -> bool {
    tag.starts_with(RESERVED_TAG_PREFIX)
}

/// The tag every stored copy of the URL with base key `base_key` carries (vary part ignored):
/// [`URL_TAG_PREFIX`] + the first 16 bytes of SHA-256 of the base key, in hex. A collision
/// (2^-128 per pair) only purges one more URL.
pub fn url_tag(key: &str) -> String {
    let base = crate::key::strip_vary(key);
    let digest = Sha256::digest(base.as_bytes());
    let mut out = String::with_capacity(URL_TAG_PREFIX.len() + 32);
    out.push_str(URL_TAG_PREFIX);
    for b in digest.iter().take(16) {
        for nibble in [b >> 4, b & 0xf] {
            out.push(char::from_digit(u32::from(nibble), 16).unwrap_or('0'));
        }
    }
    out
}

/// The `Cache-Tag` value of the copy stored under `key` with the entry's `tags`: the URL's tag
/// first ([`url_tag`]), then each tag the API can match ([`api_tag_ok`], reserved ones skipped),
/// comma-separated, within the 16 KB the platform reads. Always a valid header value.
///
/// `meta::stored_headers` puts it on the stored copy and moves the origin's own `Cache-Tag` into
/// the metadata (a hidden field), so hits and revalidations see the origin's field, never this.
pub fn stored_cache_tag(tags: &[String], key: &str) -> String {
    let mut out = url_tag(key);
    for t in tags {
        if !api_tag_ok(t) || is_reserved_tag(t) {
            continue;
        }
        if out.len().saturating_add(1).saturating_add(t.len()) > MAX_CACHE_TAG_HEADER_BYTES {
            break;
        }
        out.push(',');
        out.push_str(t);
    }
    out
}

/// One call to the purge API.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ZoneCall {
    /// `{"purge_everything": true}`.
    Everything,
    /// `{"files": [...]}`: cache-key URLs.
    Files(Vec<String>),
    /// `{"tags": [...]}`.
    Tags(Vec<String>),
    /// `{"prefixes": [...]}`: `host/path`, no scheme.
    Prefixes(Vec<String>),
}

impl ZoneCall {
    /// `everything`, `files`, `tags` or `prefixes`.
    pub fn kind(&self) -> &'static str {
        match self {
            ZoneCall::Everything => "everything",
            ZoneCall::Files(_) => "files",
            ZoneCall::Tags(_) => "tags",
            ZoneCall::Prefixes(_) => "prefixes",
        }
    }

    /// The items (empty for everything).
    pub fn items(&self) -> &[String] {
        match self {
            ZoneCall::Everything => &[],
            ZoneCall::Files(v) | ZoneCall::Tags(v) | ZoneCall::Prefixes(v) => v,
        }
    }

    /// The request body (JSON).
    pub fn body(&self) -> String {
        match self {
            ZoneCall::Everything => Obj::new().bool("purge_everything", true).end(),
            ZoneCall::Files(v) => Obj::new().strs("files", v).end(),
            ZoneCall::Tags(v) => Obj::new().strs("tags", v).end(),
            ZoneCall::Prefixes(v) => Obj::new().strs("prefixes", v).end(),
        }
    }

    fn from_parts(kind: &str, items: Vec<String>) -> Option<ZoneCall> {
        Some(match kind {
            "everything" => ZoneCall::Everything,
            "files" => ZoneCall::Files(items),
            "tags" => ZoneCall::Tags(items),
            "prefixes" => ZoneCall::Prefixes(items),
            _ => return None,
        })
    }
}

/// What one purge asks of the API.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ZonePlan {
    /// The calls, in order: everything, or files, tags, prefixes (each chunked).
    pub calls: Vec<ZoneCall>,
    /// What is left to the KV records, one short reason each (for the purge log).
    pub kv_only: Vec<String>,
}

/// Plans the API calls of one accepted purge. `url_keys` are the request's URLs normalised to
/// their cache keys (the same function as the KV records: `key::normalize_url_for_purge`);
/// `site_host` is the host that received the purge (path-only prefixes are sent for it).
pub fn plan_zone_purge(req: &PurgeRequest, url_keys: &[String], site_host: &str) -> ZonePlan {
    let mut plan = ZonePlan::default();
    if req.soft {
        plan.kv_only
            .push("soft purge: the zone API can only delete; kept in KV".to_string());
        return plan;
    }
    if req.everything {
        plan.calls.push(ZoneCall::Everything);
        return plan;
    }
    let mut files: Vec<String> = Vec::new();
    let mut tags: Vec<String> = Vec::new();
    let mut prefixes: Vec<String> = Vec::new();
    for t in &req.tags {
        if api_tag_ok(t) && !is_reserved_tag(t) {
            push_unique(&mut tags, t.clone());
        } else {
            plan.kv_only
                .push(format!("tag {t:?}: not expressible as a Cache-Tag"));
        }
    }
    for k in url_keys {
        let shared = url::Url::parse(k)
            .ok()
            .is_some_and(|u| u.host_str() == Some(crate::key::SHARED_HOST));
        if !shared {
            push_unique(&mut files, crate::key::strip_vary(k).to_string());
        }
        push_unique(&mut tags, url_tag(k));
    }
    for p in &req.prefixes {
        match api_prefix(p, site_host) {
            Ok(ap) => push_unique(&mut prefixes, ap),
            Err(why) => plan.kv_only.push(format!("prefix {p}: {why}")),
        }
    }
    for c in files.chunks(MAX_FILES_PER_CALL) {
        plan.calls.push(ZoneCall::Files(c.to_vec()));
    }
    for c in tags.chunks(MAX_TAGS_PER_CALL) {
        plan.calls.push(ZoneCall::Tags(c.to_vec()));
    }
    for c in prefixes.chunks(MAX_PREFIXES_PER_CALL) {
        plan.calls.push(ZoneCall::Prefixes(c.to_vec()));
    }
    plan
}

fn push_unique(v: &mut Vec<String>, s: String) {
    if !v.contains(&s) {
        v.push(s);
    }
}

/// A purge prefix as the API wants it: `host/path` (`host` alone for `/`), from a prefix as the
/// webhook accepts it (see `normalise_prefix`); path-only prefixes get `site_host`.
pub fn api_prefix(prefix: &str, site_host: &str) -> Result<String, String> {
    let norm = normalise_prefix(prefix)?;
    let (host, path) = match norm.find('/') {
        Some(0) => (site_host.to_ascii_lowercase(), norm.as_str()),
        Some(i) => match (norm.get(..i), norm.get(i..)) {
            (Some(h), Some(p)) => (h.to_string(), p),
            _ => return Err("not a prefix".to_string()),
        },
        None => return Err("not a prefix".to_string()),
    };
    if host.is_empty() {
        return Err("no host to send it for".to_string());
    }
    if host.contains(':') {
        return Err("a port cannot be expressed in an API prefix".to_string());
    }
    if host == crate::key::SHARED_HOST {
        return Err("the shared host is not in the zone".to_string());
    }
    let out = if path == "/" {
        host
    } else {
        format!("{host}{path}")
    };
    if out.bytes().filter(|b| *b == b'/').count() > MAX_PREFIX_SEPARATORS {
        return Err(format!("more than {MAX_PREFIX_SEPARATORS} path separators"));
    }
    Ok(out)
}

/// `Retry-After` (RFC 9110 §10.2.3) as seconds from `now_secs`: `delay-seconds` or an
/// HTTP-date (a date in the past is 0). `None` when absent or unreadable.
pub fn parse_retry_after(value: &str, now_secs: u64) -> Option<u64> {
    let v = value.trim();
    if !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit()) {
        // Over u64: as long as it gets (capped by the caller anyway).
        return Some(v.parse().unwrap_or(u64::MAX));
    }
    crate::freshness::parse_http_date(v).map(|t| t.saturating_sub(now_secs))
}

/// The delay before attempt `failures + 1`, after `failures` failed attempts (≥ 1):
/// [`BACKOFF_BASE_MS`] doubled per failure up to [`BACKOFF_MAX_MS`], then "equal jitter" (half
/// fixed, half uniform from `jitter01` in `[0, 1)`) so retries of many purges spread out.
pub fn backoff_ms(failures: u32, jitter01: f64) -> u64 {
    let shift = failures.saturating_sub(1).min(20);
    let d = BACKOFF_BASE_MS
        .saturating_mul(1u64 << shift)
        .min(BACKOFF_MAX_MS);
    let half = d / 2;
    let j = if jitter01.is_finite() {
        jitter01.clamp(0.0, 1.0)
    } else {
        0.0
    };
    // `half as f64 * j` ≤ half ≤ 30 000: exact in f64, and the cast back cannot overflow.
    half.saturating_add((half as f64 * j) as u64)
}

/// What came back from one call.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ApiAnswer {
    /// HTTP status; 0 when there was no answer (network error, timeout).
    pub status: u16,
    /// Body (the API's JSON envelope), or the error text when `status` is 0.
    pub body: String,
    /// The `Retry-After` header, if any.
    pub retry_after: Option<String>,
}

/// What to do after one call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Purged.
    Done,
    /// Try again at this time (ms), for this reason.
    RetryAt(u64, String),
    /// Give up, for this reason.
    Failed(String),
}

/// Classifies the answer to attempt number `attempt` (1 for the first) made at `now_ms`.
///
/// - 2xx with `"success": true` → done; 2xx with `"success": false` → failed (the API refused).
/// - 429 → retried after `Retry-After` (capped at 5 minutes) or the backoff, whichever is later.
/// - 5xx, or no answer at all → retried after the backoff.
/// - 401/403 (e.g. code 10000 "Authentication error": a wrong token or one without the Cache
///   Purge permission on this zone) and every other 4xx → failed at once: repeating cannot help.
///
/// After [`MAX_ATTEMPTS`] attempts a retryable failure is final.
pub fn classify(answer: &ApiAnswer, attempt: u32, now_ms: u64, jitter01: f64) -> Verdict {
    let s = answer.status;
    let detail = describe_answer(answer);
    let retry = |min_ms: u64, why: String| {
        if attempt >= MAX_ATTEMPTS {
            Verdict::Failed(format!("{why} (gave up after {attempt} attempts)"))
        } else {
            let wait = backoff_ms(attempt, jitter01).max(min_ms);
            Verdict::RetryAt(now_ms.saturating_add(wait), why)
        }
    };
    match s {
        200..=299 => {
            let ok = Json::parse(&answer.body)
                .ok()
                .and_then(|j| j.get("success").and_then(Json::as_bool));
            match ok {
                Some(true) => Verdict::Done,
                _ => Verdict::Failed(detail),
            }
        }
        429 => {
            let ra = answer
                .retry_after
                .as_deref()
                .and_then(|v| parse_retry_after(v, now_ms / 1000))
                .map_or(0, |secs| {
                    secs.min(RETRY_AFTER_MAX_SECS).saturating_mul(1000)
                });
            retry(ra, detail)
        }
        0 | 500..=599 => retry(0, detail),
        _ => Verdict::Failed(detail),
    }
}

/// A short description of an answer: `403 [10000] Authentication error`, `429 rate limited`,
/// `no answer: <error>`.
pub fn describe_answer(a: &ApiAnswer) -> String {
    if a.status == 0 {
        return format!("no answer: {}", clip(&a.body, 120));
    }
    let errors: Vec<String> = Json::parse(&a.body)
        .ok()
        .and_then(|j| {
            j.get("errors").and_then(Json::as_array).map(|errs| {
                errs.iter()
                    .map(|e| {
                        let code = e.get("code").and_then(Json::as_u64);
                        let msg = e.str_of("message").unwrap_or_default();
                        match code {
                            Some(c) => format!("[{c}] {}", clip(&msg, 100)),
                            None => clip(&msg, 100),
                        }
                    })
                    .collect()
            })
        })
        .unwrap_or_default();
    if errors.is_empty() {
        match a.status {
            200..=299 => format!("{} ok", a.status),
            429 => "429 rate limited".to_string(),
            s => format!("{s} {}", clip(a.body.trim(), 80))
                .trim_end()
                .to_string(),
        }
    } else {
        format!("{} {}", a.status, errors.join("; "))
    }
}

/// At most `max` characters of `s`, with `…` when cut.
fn clip(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        s.to_string()
    } else {
        let mut out: String = s.chars().take(max).collect();
        out.push('…');
        out
    }
}

/// Where one call stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CallState {
    /// Not yet purged; due at [`JobCall::next_at_ms`].
    Pending,
    /// Purged.
    Done,
    /// Given up.
    Failed,
}

impl CallState {
    /// `pending`, `done` or `failed`.
    pub fn as_str(self) -> &'static str {
        match self {
            CallState::Pending => "pending",
            CallState::Done => "done",
            CallState::Failed => "failed",
        }
    }

    fn parse(s: &str) -> Option<CallState> {
        Some(match s {
            "pending" => CallState::Pending,
            "done" => CallState::Done,
            "failed" => CallState::Failed,
            _ => return None,
        })
    }
}

/// One call of a job and its progress.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobCall {
    /// The call.
    pub call: ZoneCall,
    /// Attempts made.
    pub attempts: u32,
    /// When it is due next (ms).
    pub next_at_ms: u64,
    /// Its state.
    pub state: CallState,
    /// The last answer, described.
    pub detail: String,
}

/// The API calls of one purge and their progress: the ledger stores it, runs the due calls
/// from its alarm, records each answer with [`ZoneJob::record`] and logs [`ZoneJob::status`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ZoneJob {
    /// The purge's id (the purge log entry it belongs to).
    pub id: String,
    /// The calls.
    pub calls: Vec<JobCall>,
    /// What was left to KV (from the plan).
    pub kv_only: Vec<String>,
}

impl ZoneJob {
    /// A job for `plan`, every call due at `now_ms`.
    pub fn new(id: &str, plan: &ZonePlan, now_ms: u64) -> ZoneJob {
        ZoneJob {
            id: id.to_string(),
            calls: plan
                .calls
                .iter()
                .map(|c| JobCall {
                    call: c.clone(),
                    attempts: 0,
                    next_at_ms: now_ms,
                    state: CallState::Pending,
                    detail: String::new(),
                })
                .collect(),
            kv_only: plan.kv_only.clone(),
        }
    }

    /// Indices of the calls to make now, in order.
    pub fn due(&self, now_ms: u64) -> Vec<usize> {
        self.calls
            .iter()
            .enumerate()
            .filter(|(_, c)| c.state == CallState::Pending && c.next_at_ms <= now_ms)
            .map(|(i, _)| i)
            .collect()
    }

    /// Records the answer to call `i`, made at `now_ms` (`jitter01` uniform in `[0, 1)`).
    /// An index out of range is ignored.
    pub fn record(&mut self, i: usize, answer: &ApiAnswer, now_ms: u64, jitter01: f64) {
        let Some(c) = self.calls.get_mut(i) else {
            return;
        };
        if c.state != CallState::Pending {
            return;
        }
        c.attempts = c.attempts.saturating_add(1);
        match classify(answer, c.attempts, now_ms, jitter01) {
            Verdict::Done => {
                c.state = CallState::Done;
                c.detail = describe_answer(answer);
            }
            Verdict::RetryAt(at, why) => {
                c.next_at_ms = at;
                c.detail = why;
            }
            Verdict::Failed(why) => {
                c.state = CallState::Failed;
                c.detail = why;
            }
        }
    }

    /// Gives up every pending call, for `reason` (the accelerator was unconfigured meanwhile).
    pub fn abandon(&mut self, reason: &str) {
        for c in self
            .calls
            .iter_mut()
            .filter(|c| c.state == CallState::Pending)
        {
            c.state = CallState::Failed;
            c.detail = reason.to_string();
        }
    }

    /// When the next pending call is due (`None`: nothing left to do).
    pub fn next_due(&self) -> Option<u64> {
        self.calls
            .iter()
            .filter(|c| c.state == CallState::Pending)
            .map(|c| c.next_at_ms)
            .min()
    }

    /// Whether every call is done or failed.
    pub fn finished(&self) -> bool {
        self.next_due().is_none()
    }

    /// The job's outcome as the purge log shows it.
    pub fn status(&self) -> ZoneStatus {
        let count = |s: CallState| self.calls.iter().filter(|c| c.state == s).count() as u64;
        let (done, failed) = (count(CallState::Done), count(CallState::Failed));
        let calls = self.calls.len() as u64;
        let state = if calls == 0 {
            "kv-only"
        } else if done == calls {
            "done"
        } else if done.saturating_add(failed) < calls {
            "pending"
        } else if done == 0 {
            "failed"
        } else {
            "partial"
        };
        // The most telling detail: a failure's reason, else a pending retry's, else the last.
        let detail = self
            .calls
            .iter()
            .find(|c| c.state == CallState::Failed)
            .or_else(|| {
                self.calls
                    .iter()
                    .find(|c| c.state == CallState::Pending && !c.detail.is_empty())
            })
            .map(|c| format!("{}: {}", c.call.kind(), c.detail))
            .or_else(|| self.kv_only.first().cloned())
            .unwrap_or_default();
        ZoneStatus {
            state: state.to_string(),
            calls,
            done,
            failed,
            attempts: self.calls.iter().map(|c| u64::from(c.attempts)).sum(),
            detail,
        }
    }

    /// As JSON (the ledger's storage).
    pub fn to_json(&self) -> String {
        let mut calls = Arr::new();
        for c in &self.calls {
            calls = calls.raw(
                &Obj::new()
                    .str("kind", c.call.kind())
                    .strs("items", c.call.items())
                    .u64("attempts", u64::from(c.attempts))
                    .u64("next_at_ms", c.next_at_ms)
                    .str("state", c.state.as_str())
                    .str("detail", &c.detail)
                    .end(),
            );
        }
        Obj::new()
            .str("id", &self.id)
            .raw("calls", &calls.end())
            .strs("kv_only", &self.kv_only)
            .end()
    }

    /// Reads [`ZoneJob::to_json`].
    pub fn from_json(j: &Json) -> Option<ZoneJob> {
        let mut calls = Vec::new();
        for c in j.get("calls")?.as_array()? {
            calls.push(JobCall {
                call: ZoneCall::from_parts(
                    c.get("kind")?.as_str()?,
                    c.get("items")?.as_strings()?,
                )?,
                attempts: u32::try_from(c.get("attempts")?.as_u64()?).ok()?,
                next_at_ms: c.get("next_at_ms")?.as_u64()?,
                state: CallState::parse(c.get("state")?.as_str()?)?,
                detail: c.str_of("detail")?,
            });
        }
        Some(ZoneJob {
            id: j.str_of("id")?,
            calls,
            kv_only: j.get("kv_only")?.as_strings()?,
        })
    }
}

/// The accelerator's outcome for one purge, as kept in the purge log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ZoneStatus {
    /// `pending`, `done`, `partial`, `failed` or `kv-only` (nothing the API can express).
    pub state: String,
    /// Calls planned.
    pub calls: u64,
    /// Calls done.
    pub done: u64,
    /// Calls given up.
    pub failed: u64,
    /// Attempts made in all.
    pub attempts: u64,
    /// The most telling detail (a failure's reason, a pending retry's, or what is KV-only).
    pub detail: String,
}

impl ZoneStatus {
    /// As a JSON object.
    pub fn to_json(&self) -> String {
        Obj::new()
            .str("state", &self.state)
            .u64("calls", self.calls)
            .u64("done", self.done)
            .u64("failed", self.failed)
            .u64("attempts", self.attempts)
            .str("detail", &self.detail)
            .end()
    }

    /// Reads [`ZoneStatus::to_json`].
    pub fn from_json(j: &Json) -> Option<ZoneStatus> {
        Some(ZoneStatus {
            state: j.str_of("state")?,
            calls: j.get("calls")?.as_u64()?,
            done: j.get("done")?.as_u64()?,
            failed: j.get("failed")?.as_u64()?,
            attempts: j.get("attempts")?.as_u64()?,
            detail: j.str_of("detail")?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const ZONE: &str = "0123456789abcdef0123456789ABCDEF";

    fn req(f: impl FnOnce(&mut PurgeRequest)) -> PurgeRequest {
        let mut r = PurgeRequest::default();
        f(&mut r);
        r
    }

    fn ok_body() -> String {
        r#"{"success":true,"errors":[],"messages":[],"result":{"id":"abc"}}"#.to_string()
    }

    #[test]
    fn config_needs_both_secrets() {
        assert_eq!(zone_config(None, None, None), Ok(None));
        assert_eq!(zone_config(Some("t"), None, None), Ok(None));
        assert_eq!(zone_config(None, Some(ZONE), None), Ok(None));
        assert_eq!(zone_config(Some(" "), Some(ZONE), None), Ok(None));
        let c = zone_config(Some("tok"), Some(ZONE), None).unwrap().unwrap();
        assert_eq!(
            c.purge_url(),
            "https://api.cloudflare.com/client/v4/zones/0123456789abcdef0123456789abcdef/purge_cache"
        );
        assert_eq!(c.authorization(), "Bearer tok");
        let c = zone_config(
            Some("tok"),
            Some(ZONE),
            Some("http://127.0.0.1:9/client/v4/"),
        )
        .unwrap()
        .unwrap();
        assert!(c
            .purge_url()
            .starts_with("http://127.0.0.1:9/client/v4/zones/"));
        assert!(zone_config(Some("tok"), Some("example.com"), None).is_err());
        assert!(zone_config(Some("to k"), Some(ZONE), None).is_err());
        assert!(zone_config(Some("tok"), Some(ZONE), Some("ftp://x")).is_err());
    }

    #[test]
    fn everything_is_one_call_and_soft_is_kv_only() {
        let p = plan_zone_purge(
            &req(|r| {
                r.everything = true;
                r.tags = vec!["a".into()];
            }),
            &[],
            "example.com",
        );
        assert_eq!(p.calls, vec![ZoneCall::Everything]);
        assert_eq!(p.calls[0].body(), r#"{"purge_everything":true}"#);
        let p = plan_zone_purge(
            &req(|r| {
                r.soft = true;
                r.tags = vec!["a".into()];
            }),
            &[],
            "example.com",
        );
        assert!(p.calls.is_empty());
        assert!(p.kv_only[0].contains("soft"));
    }

    #[test]
    fn chunks_respect_the_per_call_limits() {
        let tags: Vec<String> = (0..250).map(|i| format!("t{i}")).collect();
        let keys: Vec<String> = (0..130)
            .map(|i| format!("https://example.com/p{i}"))
            .collect();
        let p = plan_zone_purge(&req(|r| r.tags = tags.clone()), &keys, "example.com");
        let kinds: Vec<(&str, usize)> = p
            .calls
            .iter()
            .map(|c| (c.kind(), c.items().len()))
            .collect();
        // 130 files → 100 + 30; 250 tags + 130 URL tags = 380 → 100 × 3 + 80.
        assert_eq!(
            kinds,
            [
                ("files", 100),
                ("files", 30),
                ("tags", 100),
                ("tags", 100),
                ("tags", 100),
                ("tags", 80)
            ]
        );
        let all_tags: Vec<&String> = p
            .calls
            .iter()
            .filter(|c| c.kind() == "tags")
            .flat_map(|c| c.items())
            .collect();
        assert_eq!(all_tags.len(), 380);
        for t in &tags {
            assert!(all_tags.contains(&t));
        }
        for k in &keys {
            assert!(all_tags.contains(&&url_tag(k)));
        }
    }

    #[test]
    fn urls_are_sent_as_their_key_and_url_tag() {
        let keys = vec![
            "https://example.com/a?x=1".to_string(),
            format!("https://{}/b", crate::key::SHARED_HOST),
            "https://example.com/a?x=1".to_string(),
        ];
        let p = plan_zone_purge(&PurgeRequest::default(), &keys, "example.com");
        assert_eq!(
            p.calls,
            vec![
                ZoneCall::Files(vec!["https://example.com/a?x=1".into()]),
                ZoneCall::Tags(vec![url_tag(&keys[0]), url_tag(&keys[1])]),
            ]
        );
        assert_eq!(
            p.calls[0].body(),
            r#"{"files":["https://example.com/a?x=1"]}"#
        );
    }

    #[test]
    fn url_tag_ignores_the_vary_part() {
        let base = "https://example.com/a?x=1";
        let variant = format!("{base}&{}=accept%3Atext", crate::key::VARY_PARAM);
        assert_eq!(url_tag(base), url_tag(&variant));
        assert_ne!(url_tag(base), url_tag("https://example.com/b"));
        let t = url_tag(base);
        assert!(t.starts_with(URL_TAG_PREFIX) && t.len() == URL_TAG_PREFIX.len() + 32);
        assert!(api_tag_ok(&t) && is_reserved_tag(&t));
    }

    #[test]
    fn prefixes_become_host_path() {
        assert_eq!(
            api_prefix("/blog/", "Example.com").as_deref(),
            Ok("example.com/blog")
        );
        assert_eq!(api_prefix("/", "example.com").as_deref(), Ok("example.com"));
        assert_eq!(
            api_prefix("https://Shop.Example.com/a/b/", "example.com").as_deref(),
            Ok("shop.example.com/a/b")
        );
        assert!(api_prefix("https://example.com:8443/a", "x").is_err());
        assert!(api_prefix("/a", "").is_err());
        let deep = format!("/{}", vec!["s"; 31].join("/"));
        assert!(api_prefix(&deep, "example.com").is_ok());
        let deeper = format!("/{}", vec!["s"; 32].join("/"));
        assert!(api_prefix(&deeper, "example.com").is_err());
        let p = plan_zone_purge(
            &req(|r| {
                r.prefixes = vec![
                    "/blog".into(),
                    "/blog/".into(),
                    "https://x.example.com:81/".into(),
                ]
            }),
            &[],
            "example.com",
        );
        assert_eq!(
            p.calls,
            vec![ZoneCall::Prefixes(vec!["example.com/blog".into()])]
        );
        assert_eq!(p.kv_only.len(), 1);
    }

    #[test]
    fn tags_the_api_cannot_match_stay_in_kv() {
        let p = plan_zone_purge(
            &req(|r| {
                r.tags = vec![
                    "ok".into(),
                    "has space".into(),
                    "a,b".into(),
                    "é".into(),
                    "__ec_url_x".into(),
                ]
            }),
            &[],
            "example.com",
        );
        assert_eq!(p.calls, vec![ZoneCall::Tags(vec!["ok".into()])]);
        assert_eq!(p.kv_only.len(), 4);
    }

    #[test]
    fn stored_cache_tag_lists_url_tag_then_expressible_tags() {
        let tags: Vec<String> = vec!["a".into(), "b c".into(), "__ec_x".into(), "d".into()];
        let v = stored_cache_tag(&tags, "https://example.com/p");
        assert_eq!(v, format!("{},a,d", url_tag("https://example.com/p")));
        assert!(http::HeaderValue::from_str(&v).is_ok());
        // Bounded to 16 KB even with absurd tags.
        let many: Vec<String> = (0..100)
            .map(|i| format!("{i}{}", "x".repeat(1000)))
            .collect();
        let v = stored_cache_tag(&many, "https://example.com/p");
        assert!(v.len() <= MAX_CACHE_TAG_HEADER_BYTES);
    }

    #[test]
    fn retry_after_seconds_and_dates() {
        assert_eq!(parse_retry_after("120", 0), Some(120));
        assert_eq!(parse_retry_after(" 7 ", 0), Some(7));
        assert_eq!(
            parse_retry_after("99999999999999999999999", 0),
            Some(u64::MAX)
        );
        // RFC 9110 §5.6.7 example date: 784111777.
        assert_eq!(
            parse_retry_after("Sun, 06 Nov 1994 08:49:37 GMT", 784_111_700),
            Some(77)
        );
        assert_eq!(
            parse_retry_after("Sun, 06 Nov 1994 08:49:37 GMT", 784_111_800),
            Some(0)
        );
        assert_eq!(parse_retry_after("soon", 0), None);
        assert_eq!(parse_retry_after("-1", 0), None);
    }

    #[test]
    fn backoff_doubles_then_caps_with_jitter_in_range() {
        assert_eq!(backoff_ms(1, 0.0), 500);
        assert_eq!(backoff_ms(1, 0.999_999), 999);
        assert_eq!(backoff_ms(2, 0.0), 1_000);
        assert_eq!(backoff_ms(3, 0.0), 2_000);
        assert_eq!(backoff_ms(20, 0.0), 30_000);
        assert_eq!(backoff_ms(u32::MAX, f64::NAN), 30_000);
        assert_eq!(backoff_ms(0, 0.0), 500);
    }

    #[test]
    fn classify_answers() {
        let a = |status: u16, body: &str, ra: Option<&str>| ApiAnswer {
            status,
            body: body.to_string(),
            retry_after: ra.map(str::to_string),
        };
        assert_eq!(
            classify(&a(200, &ok_body(), None), 1, 0, 0.0),
            Verdict::Done
        );
        assert!(matches!(
            classify(&a(200, r#"{"success":false,"errors":[{"code":1012,"message":"bad"}]}"#, None), 1, 0, 0.0),
            Verdict::Failed(d) if d.contains("[1012] bad")
        ));
        assert!(matches!(
            classify(&a(200, "not json", None), 1, 0, 0.0),
            Verdict::Failed(_)
        ));
        // 429 honours Retry-After when longer than the backoff, capped at 5 minutes.
        assert_eq!(
            classify(&a(429, "", Some("3")), 1, 10_000, 0.0),
            Verdict::RetryAt(13_000, "429 rate limited".into())
        );
        assert!(matches!(
            classify(&a(429, "", Some("3600")), 1, 0, 0.0),
            Verdict::RetryAt(300_000, _)
        ));
        assert!(matches!(
            classify(&a(429, "", None), 1, 0, 0.0),
            Verdict::RetryAt(500, _)
        ));
        assert!(matches!(
            classify(&a(503, "", None), 2, 0, 0.0),
            Verdict::RetryAt(1_000, _)
        ));
        assert!(
            matches!(classify(&a(0, "connection refused", None), 1, 0, 0.0), Verdict::RetryAt(500, d) if d.contains("no answer"))
        );
        let refused = r#"{"success":false,"errors":[{"code":10000,"message":"Authentication error"}],"messages":[],"result":null}"#;
        assert_eq!(
            classify(&a(403, refused, None), 1, 0, 0.0),
            Verdict::Failed("403 [10000] Authentication error".into())
        );
        assert!(matches!(
            classify(&a(400, "{}", None), 1, 0, 0.0),
            Verdict::Failed(_)
        ));
        assert!(matches!(
            classify(&a(500, "", None), MAX_ATTEMPTS, 0, 0.0),
            Verdict::Failed(d) if d.contains("gave up after 6 attempts")
        ));
    }

    #[test]
    fn a_job_retries_then_finishes_and_reports() {
        let plan = plan_zone_purge(
            &req(|r| r.tags = vec!["a".into()]),
            &["https://example.com/x".to_string()],
            "example.com",
        );
        let mut job = ZoneJob::new("p_1", &plan, 1_000);
        assert_eq!(job.due(1_000), vec![0, 1]);
        assert_eq!(job.status().state, "pending");
        let ok = ApiAnswer {
            status: 200,
            body: ok_body(),
            retry_after: None,
        };
        let limited = ApiAnswer {
            status: 429,
            body: String::new(),
            retry_after: Some("2".into()),
        };
        job.record(0, &ok, 1_000, 0.5);
        job.record(1, &limited, 1_000, 0.5);
        assert_eq!(job.due(1_500), Vec::<usize>::new());
        assert_eq!(job.next_due(), Some(3_000));
        let s = job.status();
        assert_eq!((s.state.as_str(), s.done, s.attempts), ("pending", 1, 2));
        assert!(s.detail.contains("429"), "{s:?}");
        job.record(1, &ok, 3_000, 0.5);
        assert!(job.finished());
        let s = job.status();
        assert_eq!(
            (s.state.as_str(), s.calls, s.done, s.failed, s.attempts),
            ("done", 2, 2, 0, 3)
        );
        // Recording again, or out of range, changes nothing.
        let before = job.clone();
        job.record(0, &limited, 4_000, 0.0);
        job.record(9, &ok, 4_000, 0.0);
        assert_eq!(job, before);
        // Round trip through the ledger's storage.
        let back = ZoneJob::from_json(&Json::parse(&job.to_json()).unwrap()).unwrap();
        assert_eq!(back, job);
        let st = ZoneStatus::from_json(&Json::parse(&s.to_json()).unwrap()).unwrap();
        assert_eq!(st, s);
    }

    #[test]
    fn a_refused_token_fails_every_call_at_once() {
        let plan = plan_zone_purge(
            &req(|r| r.tags = vec!["a".into()]),
            &["https://example.com/x".to_string()],
            "example.com",
        );
        let mut job = ZoneJob::new("p_2", &plan, 0);
        let refused = ApiAnswer {
            status: 403,
            body: r#"{"success":false,"errors":[{"code":10000,"message":"Authentication error"}]}"#
                .into(),
            retry_after: None,
        };
        for i in job.due(0) {
            job.record(i, &refused, 0, 0.0);
        }
        assert!(job.finished());
        let s = job.status();
        assert_eq!((s.state.as_str(), s.failed, s.attempts), ("failed", 2, 2));
        assert!(s.detail.contains("[10000] Authentication error"), "{s:?}");
    }

    #[test]
    fn an_abandoned_job_is_finished_and_failed() {
        let plan = plan_zone_purge(
            &req(|r| r.tags = vec!["a".into(), "b".into()]),
            &[],
            "e.com",
        );
        let mut job = ZoneJob::new("p_4", &plan, 0);
        job.abandon("unconfigured");
        assert!(job.finished());
        let s = job.status();
        assert_eq!(s.state, "failed");
        assert!(s.detail.contains("unconfigured"));
    }

    #[test]
    fn retries_are_bounded() {
        let plan = plan_zone_purge(&req(|r| r.tags = vec!["a".into()]), &[], "example.com");
        let mut job = ZoneJob::new("p_3", &plan, 0);
        let down = ApiAnswer {
            status: 502,
            body: String::new(),
            retry_after: None,
        };
        let mut now = 0;
        let mut rounds = 0;
        while let Some(at) = job.next_due() {
            now = at.max(now);
            for i in job.due(now) {
                job.record(i, &down, now, 0.3);
            }
            rounds += 1;
            assert!(
                rounds <= MAX_ATTEMPTS,
                "never more than {MAX_ATTEMPTS} attempts"
            );
        }
        assert_eq!(rounds, MAX_ATTEMPTS);
        assert_eq!(job.status().state, "failed");
        // Backoff total below 6 × the cap.
        assert!(now < u64::from(MAX_ATTEMPTS) * BACKOFF_MAX_MS);
    }

    proptest! {
        #[test]
        fn retry_after_never_panics(v in ".{0,40}", now in any::<u64>()) {
            let _ = parse_retry_after(&v, now);
        }

        #[test]
        fn retry_after_seconds_round_trip(n in any::<u64>()) {
            prop_assert_eq!(parse_retry_after(&n.to_string(), 0), Some(n));
        }

        #[test]
        fn backoff_is_bounded(f in any::<u32>(), j in any::<f64>()) {
            let b = backoff_ms(f, j);
            prop_assert!((BACKOFF_BASE_MS / 2..=BACKOFF_MAX_MS).contains(&b));
        }

        #[test]
        fn classify_never_panics_and_retries_are_in_the_future(
            status in any::<u16>(), body in ".{0,80}", ra in proptest::option::of(".{0,20}"),
            attempt in 1u32..10, now in 0u64..u64::MAX / 2, j in 0f64..1.0,
        ) {
            let a = ApiAnswer { status, body, retry_after: ra };
            if let Verdict::RetryAt(at, _) = classify(&a, attempt, now, j) {
                prop_assert!(at > now);
                prop_assert!(at - now <= RETRY_AFTER_MAX_SECS * 1000);
                prop_assert!(attempt < MAX_ATTEMPTS);
            }
        }

        #[test]
        fn chunks_cover_every_item_within_limits(
            tags in proptest::collection::vec("[a-z0-9-]{1,12}", 0..260),
            n_urls in 0usize..220,
        ) {
            let keys: Vec<String> = (0..n_urls).map(|i| format!("https://example.com/u{i}")).collect();
            let p = plan_zone_purge(&req(|r| r.tags = tags.clone()), &keys, "example.com");
            let mut files = 0;
            let mut seen_tags: Vec<String> = Vec::new();
            for c in &p.calls {
                let max = match c { ZoneCall::Files(_) => MAX_FILES_PER_CALL, ZoneCall::Tags(_) => MAX_TAGS_PER_CALL, _ => MAX_PREFIXES_PER_CALL };
                prop_assert!(!c.items().is_empty() && c.items().len() <= max);
                if let ZoneCall::Files(v) = c { files += v.len(); }
                if let ZoneCall::Tags(v) = c { seen_tags.extend(v.iter().cloned()); }
                prop_assert!(Json::parse(&c.body()).is_ok());
            }
            prop_assert_eq!(files, n_urls);
            for t in &tags { prop_assert!(seen_tags.contains(t)); }
            for k in &keys { prop_assert!(seen_tags.contains(&url_tag(k))); }
        }

        #[test]
        fn stored_cache_tag_is_always_a_valid_bounded_header(tags in proptest::collection::vec(".{0,40}", 0..80), key in ".{0,60}") {
            let v = stored_cache_tag(&tags, &key);
            prop_assert!(v.len() <= MAX_CACHE_TAG_HEADER_BYTES);
            prop_assert!(http::HeaderValue::from_str(&v).is_ok());
            prop_assert!(v.split(',').all(api_tag_ok));
        }
    }
}
