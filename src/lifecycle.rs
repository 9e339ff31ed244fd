//! One request's whole life as a state machine, in the sans-I/O style of h2, quinn-proto and
//! rustls: an [`Exchange`] is fed [`Event`]s (request arrived, lookup result, purge verdict,
//! origin response head or failure, store finished, timer fired) and answers each with the next
//! [`Action`] (look up a key, check purges, fetch from the origin, wait, delete, answer the client,
//! store, finish). Every decision *and* every step lives here; the Workers adapter only carries the
//! actions out with fallible I/O calls and feeds back what happened. Time and randomness come in
//! with each event ([`Now`]), so every flow is tested on the host with a fake clock.
//!
//! ```text
//!            ┌──────── bypass ──► Forwarding ──► (Invalidating) ──► Respond(origin stream)
//! Request ───┤
//!            └──────── cache ───► LookingUp ─► CheckingPurge ─► plan_hit
//!                                    │  absent / miss           │ fresh / stale ─► Respond(stored)
//!                                    ▼                          │                  └► refresh in background
//!                          flight running? ── yes ─► Waiting ─► (leader stored) ─► LookingUp (collapsed)
//!                                    │ no                       │ revalidate
//!                                    ▼                          ▼
//!                                 Fetching ◄────────────────────┘
//!                                    │ head: 304 ─► ReadingHeaders ─► Respond(stored) + Store(merged)
//!                                    │ head: storable ─► Respond(origin stream, tee to the cache)
//!                                    │ head: error + stale-if-error ─► Respond(stored)
//!                                    ▼
//!                                 Storing ─► Stored(ok) ─► flight finished ─► Done
//! ```
//!
//! Collapsed requests (one origin fetch per key per isolate) are coordinated by the per-isolate
//! [`Isolate`] table, which the adapter keeps and lends to every step: the first request for a key
//! leads, the others wait on timers of their own (workerd cancels a request that waits only on
//! another request's I/O) and, once the leader's copy is stored, read it back from the cache, so no
//! waiter holds a copy of the body in memory.

use crate::conditional::Precondition;
use crate::decision::{
    self, client_header_names, client_headers, client_headers_into, miss_origin_headers,
    not_modified_headers, plan_hit, plan_lookup, plan_store, revalidation_headers,
    serve_stale_on_error, BypassReason, CachePlan, DontStore, HitPlan, MissReason, OriginResponse,
    PurgeState, RequestPlan, VALIDATOR_KEEP_SECS,
};
use crate::meta::EntryMeta;
use crate::policy::{Policy, Rule};
use crate::range::RangePlan;
use crate::status::{CacheStatus, Fwd};
use http::header::{CONTENT_LENGTH, CONTENT_TYPE, DATE, SET_COOKIE};
use http::{HeaderMap, HeaderName, HeaderValue, Method};
use std::collections::HashMap;
use std::rc::Rc;

/// How often a collapsed waiter looks at its leader's flight (milliseconds).
pub const WAITER_POLL_MS: u64 = 10;

/// How long past the rule's `origin_timeout` a waiter keeps waiting for its leader before it
/// fetches for itself (the leader's client may have gone away, or its body may be long).
pub const WAITER_GRACE_MS: u64 = 2_000;

/// How long a finished flight's outcome stays readable for its waiters (milliseconds).
const FLIGHT_LINGER_MS: u64 = 2_000;

/// How long waiters keep waiting once their leader has the response head and its body streams
/// to the client and the cache (milliseconds). `origin_timeout` bounds the gaps between chunks,
/// not the whole transfer (the executor cuts a stalled body, which ends the flight as not
/// shared), so a slow but healthy body may take long; this bound only releases waiters whose
/// leader was lost without ending its flight (the executor also abandons the flight when the
/// task that stores it is dropped).
pub const STREAMING_FLIGHT_MS: u64 = 300_000;

/// Response header fields that only the stored copy has: the metadata, and what the Cache API
/// adds. Never sent to a client.
pub use crate::meta::STORAGE_ONLY;

/// Fields a range answer rewrites (RFC 9110 §14.4, §15.3.7, §15.5.17).
static RANGE_FIELDS: [HeaderName; 4] = [
    HeaderName::from_static("content-range"),
    HeaderName::from_static("content-length"),
    HeaderName::from_static("content-type"),
    HeaderName::from_static("content-encoding"),
];

/// The clock and a random draw, handed in with every event (the core never reads either).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Now {
    /// Milliseconds since the epoch.
    pub ms: u64,
    /// Uniform in `[0, 1)` (XFetch early refresh, TTL jitter).
    pub rand: f64,
}

impl Now {
    /// Unix seconds.
    pub fn secs(&self) -> u64 {
        self.ms / 1000
    }
}

/// A client request as the adapter read it.
#[derive(Debug, Clone)]
pub struct ClientRequest {
    /// The method token as sent (may be one edgecache does not know).
    pub method: String,
    /// The request URL.
    pub url: url::Url,
    /// Request header fields.
    pub headers: HeaderMap,
}

/// A stored entry as a lookup found it (the body stays with the adapter).
#[derive(Debug, Clone)]
pub struct Stored {
    /// Its metadata: shared, not copied, between the isolate's memo of decoded metadata, the
    /// exchange and the purge check (a copy is some fifteen allocations).
    pub meta: Rc<EntryMeta>,
    /// Stored status code.
    pub status: u16,
    /// The stored header fields the lookup asked for (all of them after
    /// [`Action::ReadStoredHeaders`]), as stored.
    pub headers: HeaderMap,
}

/// The head of an origin response.
#[derive(Debug, Clone)]
pub struct OriginHead {
    /// Status code.
    pub status: u16,
    /// Header fields.
    pub headers: HeaderMap,
    /// When the request was sent (ms).
    pub request_ms: u64,
    /// When the head arrived (ms).
    pub response_ms: u64,
}

/// Why the origin gave no answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OriginFailure {
    /// Connection refused or reset, DNS, TLS, a malformed response the runtime refused.
    Unreachable,
    /// No response head within the rule's `origin_timeout`.
    Timeout,
}

impl OriginFailure {
    /// Cache-Status detail.
    pub fn as_str(&self) -> &'static str {
        match self {
            OriginFailure::Unreachable => "origin-unreachable",
            OriginFailure::Timeout => "origin-timeout",
        }
    }
}

/// What happened, fed to [`Exchange::step`].
#[derive(Debug, Clone)]
#[allow(clippy::large_enum_variant, reason = "one event per step, moved once")]
pub enum Event {
    /// The exchange starts (the first step).
    Start,
    /// The answer to [`Action::Lookup`] or [`Action::ReadStoredHeaders`] (`None`: absent or
    /// unreadable).
    Found(Option<Stored>),
    /// The answer to [`Action::CheckPurge`].
    Purge(PurgeState),
    /// The answer to [`Action::Fetch`].
    Origin(Result<OriginHead, OriginFailure>),
    /// A [`Action::Wait`], [`Action::Delete`] or [`Action::Lock`] finished, or the response of
    /// [`Action::Respond`] was handed to the runtime.
    Done,
    /// The answer to [`Action::CheckLock`]: whether the lock entry exists.
    Lock(bool),
    /// The store of [`Action::Respond`] or [`Action::Store`] finished (`true`: the entry is in the
    /// cache; `false`: refused, or the body failed or was cut on the way).
    Stored(bool),
}

/// Where a body comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Body {
    /// No body (HEAD, 204, 205, 304, a failure page without one).
    Empty,
    /// These bytes.
    Fixed(Vec<u8>),
    /// The origin response's body, streamed as it arrives.
    Origin,
    /// The stored entry's body (the lookup's stream if still unread, else read again).
    Stored,
    /// Pieces of a body (a range answer, RFC 9110 §14: one range, or a `multipart/byteranges`
    /// body, §14.6): fixed bytes and ranges, ranges in ascending order (one pass). The ranges
    /// are of the stored entry's body; with a [`StoreCmd`] beside the answer, of the body being
    /// stored (a tee).
    Parts(Vec<crate::range::Segment>),
}

/// How the answer's header fields are built.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fields {
    /// Exactly these.
    Own(HeaderMap),
    /// The stored entry's fields, without [`STORAGE_ONLY`], with every field named in `replace`
    /// taken from `with` instead (absent there: removed). Saves converting every stored field
    /// on a hit.
    Stored {
        /// Names to replace or remove.
        replace: Vec<HeaderName>,
        /// Their new values.
        with: HeaderMap,
    },
}

/// A response for the client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    /// Status code (always one the runtime accepts: 101 only for an upgrade, else 200–599).
    pub status: u16,
    /// Header fields.
    pub fields: Fields,
    /// Body.
    pub body: Body,
}

/// Something to write to the cache.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreCmd {
    /// The cache key.
    pub key: String,
    /// Status code.
    pub status: u16,
    /// The stored copy's header fields, bookkeeping included (see [`storage_fields`]).
    pub headers: HeaderMap,
    /// The body source ([`Body::Origin`] or [`Body::Stored`]).
    pub body: Body,
    /// Refuse the store (never the client's answer) once the body exceeds this many bytes: a body
    /// without `Content-Length` is checked while it streams.
    pub max_body: u64,
}

/// An origin request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OriginRequest {
    /// Method.
    pub method: String,
    /// Absolute URL.
    pub url: url::Url,
    /// Header fields.
    pub headers: HeaderMap,
    /// Forward the client's request body (streamed, never copied).
    pub client_body: bool,
    /// Give up when no response head arrived after this long; also the longest gap between two
    /// body chunks before the body is cut.
    pub timeout_ms: u64,
    /// `cf.resolveOverride`: connect to this hostname instead of the URL's (the origin mode with
    /// the site's `Host`, see [`crate::origin`]).
    pub resolve_override: Option<String>,
}

/// What the adapter must do next.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// Look `key` up in the cache; answer [`Event::Found`] with the stored fields named in
    /// `fields` (plus whatever the metadata needs).
    Lookup {
        /// Cache key.
        key: String,
        /// Stored fields the core needs.
        fields: Vec<HeaderName>,
    },
    /// Read every stored field of the entry found last; answer [`Event::Found`].
    ReadStoredHeaders,
    /// Check the purge records for this entry; answer [`Event::Purge`].
    CheckPurge(Rc<EntryMeta>),
    /// Send this to the origin; answer [`Event::Origin`] with the head (the body stays with the
    /// adapter until an answer or store names it).
    Fetch(Box<OriginRequest>),
    /// Sleep this long, then answer [`Event::Done`].
    Wait {
        /// Milliseconds.
        ms: u64,
    },
    /// Delete these keys from this location's cache; answer [`Event::Done`].
    Delete(Vec<String>),
    /// Whether the lock entry `key` exists in this location's cache; answer [`Event::Lock`].
    CheckLock {
        /// Its key.
        key: String,
    },
    /// Put a short-lived lock entry (an empty response kept `keep_secs`); answer [`Event::Done`].
    Lock {
        /// Its key.
        key: String,
        /// Seconds to keep it.
        keep_secs: u64,
    },
    /// Answer the client. With `store`, also write the body to the cache as it streams (a tee),
    /// then answer [`Event::Stored`]; without, answer [`Event::Done`] once the response is handed
    /// over. Later steps run in the background (`wait_until`).
    Respond {
        /// The response.
        answer: Box<Answer>,
        /// What to store beside it.
        store: Option<Box<StoreCmd>>,
    },
    /// Answer the client with the origin's own response object, untouched (a protocol upgrade:
    /// the WebSocket travels with it). Then [`Event::Done`].
    PassOriginResponse,
    /// Store without a client (a background refresh); answer [`Event::Stored`].
    Store(Box<StoreCmd>),
    /// Nothing more to do (any origin body not named by an answer or store is dropped).
    Finish,
}

/// A counter to bump (the adapter adds the rule name and feeds the metrics module).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Metric {
    /// Served from the cache (`stale`: past its freshness), `bytes` long.
    Hit {
        /// Past freshness.
        stale: bool,
        /// Body size.
        bytes: u64,
    },
    /// Not served from the cache.
    Miss,
    /// Forwarded without the cache, for this reason.
    Bypass(&'static str),
    /// A revalidation before serving.
    Revalidation,
    /// A refresh in the background.
    BackgroundRevalidation,
    /// A stale entry served because the origin failed.
    StaleErrorServed {
        /// Body size.
        bytes: u64,
    },
    /// One origin request (`bytes`: announced body length, 0 if unknown).
    OriginFetch {
        /// Body size.
        bytes: u64,
    },
    /// The origin failed or answered with an error status.
    OriginError,
}

/// How a led flight ended, for its waiters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FlightOutcome {
    /// The response is in the cache: read it from there.
    Stored,
    /// Not stored (private, uncacheable or failed on the way): fetch for yourself.
    NotShared,
    /// The leader's answer was for its own client only: the origin's 304 or 412 to the
    /// conditionals that client sent (RFC 9111 §4.3.2). It says nothing about the response the
    /// key stands for, so the waiters do not scatter to the origin: the next one leads a flight
    /// of its own and the others wait on it, as at the start.
    Again,
    /// The origin gave no answer.
    Failed(OriginFailure),
}

#[derive(Debug, Clone)]
struct Flight {
    token: u64,
    started_ms: u64,
    deadline_ms: u64,
    finished: Option<(FlightOutcome, u64)>,
    /// The token and outcome of the finished flight this one replaced: its waiters that poll
    /// late still learn how it ended (e.g. [`FlightOutcome::Again`]: then they wait on this one).
    previous: Option<(u64, FlightOutcome)>,
}

/// Per-isolate state shared by the exchanges of one isolate: the in-flight origin fetches.
#[derive(Debug, Default)]
pub struct Isolate {
    flights: HashMap<String, Flight>,
    next_token: u64,
}

impl Isolate {
    /// Whether a fetch for `key` is running now.
    pub fn in_flight(&self, key: &str, now_ms: u64) -> bool {
        self.flights
            .get(key)
            .is_some_and(|f| f.finished.is_none() && now_ms <= f.deadline_ms)
    }

    fn prune(&mut self, now_ms: u64) {
        self.flights.retain(|_, f| match f.finished {
            Some((_, at)) => now_ms <= at.saturating_add(FLIGHT_LINGER_MS),
            None => now_ms <= f.deadline_ms.saturating_add(FLIGHT_LINGER_MS),
        });
    }

    /// Starts a flight for `key` led by the caller; returns its token.
    fn lead(&mut self, key: &str, deadline_ms: u64, now_ms: u64) -> u64 {
        self.prune(now_ms);
        self.next_token = self.next_token.wrapping_add(1);
        let token = self.next_token;
        let previous = self
            .flights
            .get(key)
            .and_then(|f| f.finished.map(|(o, _)| (f.token, o)));
        self.flights.insert(
            key.to_string(),
            Flight {
                token,
                started_ms: now_ms,
                deadline_ms,
                finished: None,
                previous,
            },
        );
        token
    }

    /// The running flight's token, if one runs.
    fn running(&self, key: &str, now_ms: u64) -> Option<u64> {
        self.flights
            .get(key)
            .filter(|f| f.finished.is_none() && now_ms <= f.deadline_ms)
            .map(|f| f.token)
    }

    /// The running flight's token and start, if one runs.
    fn running_since(&self, key: &str, now_ms: u64) -> Option<(u64, u64)> {
        self.flights
            .get(key)
            .filter(|f| f.finished.is_none() && now_ms <= f.deadline_ms)
            .map(|f| (f.token, f.started_ms))
    }

    /// Flight `token` of `key` has its head and streams its body: its waiters wait up to
    /// [`STREAMING_FLIGHT_MS`] more.
    fn streaming(&mut self, key: &str, token: u64, now_ms: u64) {
        if let Some(f) = self.flights.get_mut(key) {
            if f.token == token && f.finished.is_none() {
                f.deadline_ms = f
                    .deadline_ms
                    .max(now_ms.saturating_add(STREAMING_FLIGHT_MS));
            }
        }
    }

    /// Records how flight `token` of `key` ended.
    fn finish(&mut self, key: &str, token: u64, outcome: FlightOutcome, now_ms: u64) {
        if let Some(f) = self.flights.get_mut(key) {
            if f.token == token && f.finished.is_none() {
                f.finished = Some((outcome, now_ms));
            }
        }
    }

    /// What a waiter on flight `token` sees: `Ok(None)` still running, `Ok(Some(o))` ended,
    /// `Err(())` gone or past its deadline (fetch for yourself).
    fn poll(&self, key: &str, token: u64, now_ms: u64) -> Result<Option<FlightOutcome>, ()> {
        match self.flights.get(key) {
            Some(f) if f.token == token => match f.finished {
                Some((o, _)) => Ok(Some(o)),
                None if now_ms <= f.deadline_ms => Ok(None),
                None => Err(()),
            },
            // A newer flight replaced ours after it finished: how ours ended.
            Some(f) => match f.previous {
                Some((t, o)) if t == token => Ok(Some(o)),
                _ => Err(()),
            },
            None => Err(()),
        }
    }

    /// Forgets an unfinished flight whose leader went away (the adapter's guard calls this).
    pub fn abandon(&mut self, key: &str, token: u64) {
        if self
            .flights
            .get(key)
            .is_some_and(|f| f.token == token && f.finished.is_none())
        {
            self.flights.remove(key);
        }
    }
}

/// Why the exchange fetches from the origin.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum FetchKind {
    /// Nothing usable stored (the reason).
    Miss(MissReason),
    /// Revalidating a stored entry before serving it.
    Revalidate,
    /// Refreshing a stored entry after it was served (background).
    Refresh,
}

#[derive(Debug)]
enum State {
    Start,
    /// Bypass: waiting for the origin.
    Forwarding,
    /// Bypass: deleting invalidated keys, then answering with this head.
    Invalidating(Box<OriginHead>),
    /// Waiting for [`Event::Found`] of the key (`collapsed`: after a leader stored it).
    LookingUp {
        collapsed: bool,
    },
    /// Waiting for the purge verdict of this entry.
    CheckingPurge {
        entry: Box<Stored>,
        collapsed: bool,
    },
    /// A collapsed waiter on `token`.
    Waiting {
        token: u64,
        kind: FetchKind,
        prior: Option<Box<Stored>>,
    },
    /// Waiting for the origin head.
    Fetching {
        kind: FetchKind,
        prior: Option<Box<Stored>>,
        token: Option<u64>,
    },
    /// A 304 arrived: waiting for every stored field, to merge.
    ReadingHeaders {
        head: Box<OriginHead>,
        token: Option<u64>,
        kind: FetchKind,
    },
    /// Waiting for the store to finish (then the flight ends; `refresh`: then the lock goes).
    Storing {
        token: Option<u64>,
        refresh: bool,
    },
    /// Answered; a background refresh of the served entry follows.
    Answered {
        refresh: Box<Stored>,
    },
    /// Answered; these keys are deleted next.
    DeleteAfter(Vec<String>),
    /// Background refresh: waiting for the cross-isolate lock lookup.
    LockLookup {
        prior: Box<Stored>,
    },
    /// Background refresh: lock being written.
    Locking {
        prior: Box<Stored>,
    },
    /// Background refresh: removing the lock.
    Unlocking,
    /// Nothing left.
    Done,
}

/// One request's life. See the module docs.
#[derive(Debug)]
pub struct Exchange<'p> {
    policy: &'p Policy,
    req: ClientRequest,
    /// Shared with the isolate's settings: a request does not copy it.
    origin: Rc<crate::origin::OriginMode>,
    debug: bool,
    plan: Option<CachePlan<'p>>,
    bypass: Option<(&'p Rule, BypassReason)>,
    /// Rule for metrics when the method could not even be parsed: matched when first asked
    /// for, not on every request (a hit never needs it).
    fallback_rule: std::cell::OnceCell<&'p Rule>,
    state: State,
    metrics: Vec<Metric>,
    /// The Cache-Status `fwd` reason of a miss (when not plain absent).
    miss_reason: Option<MissReason>,
    /// The parsed method (GET until [`Event::Start`] parsed it).
    method: Method,
    /// A draw from the latest event's [`Now`] (a multipart boundary).
    seed: u64,
}

impl<'p> Exchange<'p> {
    /// A new exchange for `req`; `origin` says where origin requests go ([`crate::origin`]; a
    /// plain URL is a separate origin's base URL); `debug` adds the rule and key in
    /// [`decision::DEBUG_HEADER`]. Feed it [`Event::Start`] first.
    pub fn new(
        policy: &'p Policy,
        req: ClientRequest,
        origin: impl Into<crate::origin::OriginMode>,
        debug: bool,
    ) -> Self {
        Self::with_origin(policy, req, Rc::new(origin.into()), debug)
    }

    /// [`Exchange::new`] with an origin mode held elsewhere too (the adapter's, parsed once per
    /// isolate).
    pub fn with_origin(
        policy: &'p Policy,
        req: ClientRequest,
        origin: Rc<crate::origin::OriginMode>,
        debug: bool,
    ) -> Self {
        Exchange {
            policy,
            req,
            origin,
            debug,
            plan: None,
            bypass: None,
            fallback_rule: std::cell::OnceCell::new(),
            state: State::Start,
            metrics: Vec::new(),
            miss_reason: None,
            method: Method::GET,
            seed: 0,
        }
    }

    /// The matched rule.
    pub fn rule(&self) -> &'p Rule {
        match (&self.plan, &self.bypass) {
            (Some(p), _) => p.rule,
            (None, Some((r, _))) => r,
            _ => self
                .fallback_rule
                .get_or_init(|| self.policy.match_rule("GET", "", "/")),
        }
    }

    /// The cache key, on the cache path.
    pub fn key(&self) -> Option<&str> {
        self.plan.as_ref().map(|p| p.key.as_str())
    }

    /// Counters bumped since the last call.
    pub fn take_metrics(&mut self) -> Vec<Metric> {
        std::mem::take(&mut self.metrics)
    }

    /// The flight this exchange leads and has not finished yet, if any (for the adapter's
    /// guard: see [`Isolate::abandon`]).
    pub fn led_flight(&self) -> Option<(&str, u64)> {
        let token = match &self.state {
            State::Fetching { token, .. }
            | State::ReadingHeaders { token, .. }
            | State::Storing { token, .. } => *token,
            _ => None,
        }?;
        Some((self.key()?, token))
    }

    /// Feeds one event; returns the next action.
    pub fn step(&mut self, iso: &mut Isolate, ev: Event, now: Now) -> Action {
        #[allow(
            clippy::cast_possible_truncation,
            clippy::cast_sign_loss,
            reason = "a draw in [0, 1) scaled below 2^53"
        )]
        let draw = (now.rand * 9_007_199_254_740_992.0) as u64;
        self.seed = draw ^ now.ms.rotate_left(29);
        let state = std::mem::replace(&mut self.state, State::Done);
        match (state, ev) {
            (State::Start, _) => self.start(),
            (State::Forwarding, Event::Origin(r)) => self.forwarded(r),
            (State::Invalidating(head), _) => self.answer_forwarded(&head),
            (State::LookingUp { collapsed }, Event::Found(found)) => {
                self.found(iso, found, collapsed, now)
            }
            (State::CheckingPurge { entry, collapsed }, Event::Purge(p)) => {
                self.checked(iso, *entry, p, collapsed, now)
            }
            (State::Waiting { token, kind, prior }, _) => self.waited(iso, token, kind, prior, now),
            (State::Fetching { kind, prior, token }, Event::Origin(r)) => {
                self.fetched(iso, kind, prior, token, r, now)
            }
            (State::ReadingHeaders { head, token, kind }, Event::Found(found)) => {
                self.merge_304(iso, &head, token, kind, found, now)
            }
            (State::Storing { token, refresh }, ev) => {
                let ok = matches!(ev, Event::Stored(true));
                if let (Some(t), Some(key)) = (token, self.key()) {
                    let o = if ok {
                        FlightOutcome::Stored
                    } else {
                        FlightOutcome::NotShared
                    };
                    iso.finish(key, t, o, now.ms);
                }
                if refresh {
                    return self.end_refresh(Vec::new());
                }
                self.state = State::Done;
                Action::Finish
            }
            (State::Answered { refresh }, _) => self.begin_refresh(iso, *refresh, now),
            (State::DeleteAfter(keys), _) => {
                self.state = State::Unlocking;
                Action::Delete(keys)
            }
            (State::LockLookup { prior }, Event::Lock(held)) => {
                let Some(key) = self.key().map(str::to_string) else {
                    return Action::Finish;
                };
                if held || iso.in_flight(&key, now.ms) {
                    self.state = State::Done;
                    return Action::Finish;
                }
                self.state = State::Locking { prior };
                Action::Lock {
                    key: lock_key(&key),
                    keep_secs: self.rule().origin_timeout.saturating_add(1),
                }
            }
            (State::Locking { prior }, _) => {
                self.metrics.push(Metric::BackgroundRevalidation);
                self.fetch(iso, FetchKind::Refresh, Some(prior), now)
            }
            (State::Unlocking, _) => {
                self.state = State::Done;
                Action::Finish
            }
            (State::Fetching { token, .. }, _) | (State::ReadingHeaders { token, .. }, _) => {
                // An event out of order: end the flight so waiters do not wait for nothing.
                if let (Some(t), Some(key)) = (token, self.key()) {
                    iso.finish(key, t, FlightOutcome::NotShared, now.ms);
                }
                self.state = State::Done;
                Action::Finish
            }
            _ => {
                self.state = State::Done;
                Action::Finish
            }
        }
    }

    /// An origin request for this exchange's URL under the origin mode ([`crate::origin`]): the
    /// target URL, `Host` set to that URL's authority (a client's `Host` is never forwarded to
    /// another host), and the DNS override of the site-Host mode.
    fn origin_request(
        &self,
        method: String,
        target: &url::Url,
        mut headers: HeaderMap,
        client_body: bool,
        timeout_ms: u64,
    ) -> OriginRequest {
        let t = crate::origin::origin_target(&self.origin, target);
        if let Ok(v) = http::HeaderValue::from_str(&t.host) {
            headers.insert(http::header::HOST, v);
        }
        OriginRequest {
            method,
            url: t.url,
            headers,
            client_body,
            timeout_ms,
            resolve_override: t.resolve_override,
        }
    }

    // ----- arrival -----

    fn start(&mut self) -> Action {
        let Ok(method) = Method::from_bytes(self.req.method.as_bytes()) else {
            // Not a token: nothing to cache, nothing to forward.
            return self.fixed_error(400, "bad-method", "400 Bad Request: invalid method.\n");
        };
        self.method = method.clone();
        match plan_lookup(self.policy, &method, &self.req.url, &self.req.headers) {
            RequestPlan::Bypass { rule, reason } => {
                self.metrics.push(Metric::Bypass(reason.as_str()));
                let client_url = self.req.url.clone();
                let req = self.origin_request(
                    self.req.method.clone(),
                    &client_url,
                    self.req.headers.clone(),
                    !matches!(method, Method::GET | Method::HEAD),
                    rule.origin_timeout.saturating_mul(1000),
                );
                self.bypass = Some((rule, reason));
                self.state = State::Forwarding;
                Action::Fetch(Box::new(req))
            }
            RequestPlan::Cache(plan) => {
                let key = plan.key.clone();
                self.plan = Some(*plan);
                self.state = State::LookingUp { collapsed: false };
                Action::Lookup {
                    key,
                    fields: self.hit_fields(),
                }
            }
        }
    }

    /// The stored fields a hit needs: those the core may rewrite, plus `Date` when the client's
    /// If-Modified-Since may be compared with it (RFC 9111 §4.3.2).
    fn hit_fields(&self) -> Vec<HeaderName> {
        let mut v = client_header_names(self.rule());
        // To tell a whole stored body from one cut on the way (see `whole`).
        v.push(CONTENT_LENGTH);
        if self.req.headers.contains_key(http::header::RANGE) {
            // Rewritten for a 206 or a 416 (RFC 9110 §14).
            v.extend(RANGE_FIELDS.iter().cloned());
        }
        if crate::conditional::is_conditional(&self.req.headers) {
            // What a 304 carries (RFC 9110 §15.4.5) and what If-Modified-Since may be compared
            // with (RFC 9111 §4.3.2).
            v.extend([DATE, http::header::CONTENT_LOCATION]);
        }
        v
    }

    // ----- bypass -----

    fn forwarded(&mut self, r: Result<OriginHead, OriginFailure>) -> Action {
        self.metrics.push(Metric::OriginFetch { bytes: 0 });
        let head = match r {
            Ok(h) => h,
            Err(e) => {
                self.metrics.push(Metric::OriginError);
                let reason = self.bypass_reason();
                return self.origin_failure(e, self.bypass_status(&reason));
            }
        };
        if decision::is_origin_error(head.status) {
            self.metrics.push(Metric::OriginError);
        }
        // A protocol upgrade (101) travels as the origin's own response, with its socket.
        if head.status == 101 {
            self.state = State::Done;
            return Action::PassOriginResponse;
        }
        // RFC 9111 §4.4: a non-error response to an unsafe method invalidates the target URI and
        // same-origin Location / Content-Location.
        let keys = match Method::from_bytes(self.req.method.as_bytes()) {
            Ok(m) => decision::invalidations(
                self.policy,
                &m,
                &self.req.url,
                &self.req.headers,
                head.status,
                &head.headers,
            ),
            Err(_) => Vec::new(),
        };
        if keys.is_empty() {
            return self.answer_forwarded(&head);
        }
        self.state = State::Invalidating(Box::new(head));
        Action::Delete(keys)
    }

    fn bypass_reason(&self) -> BypassReason {
        self.bypass
            .as_ref()
            .map_or(BypassReason::Method, |(_, r)| r.clone())
    }

    fn bypass_status(&self, reason: &BypassReason) -> CacheStatus {
        let mut cs = decision::cache_status(false, Some(reason.fwd()));
        if *reason != BypassReason::Method {
            cs.detail = Some(reason.as_str().to_string());
        }
        cs
    }

    fn answer_forwarded(&mut self, head: &OriginHead) -> Action {
        let reason = self.bypass_reason();
        let mut cs = self.bypass_status(&reason);
        if !answerable_status(head.status) {
            return self.bad_origin_status(head.status, cs);
        }
        cs.fwd_status = Some(head.status);
        let debug = self.debug_value(false);
        let h = client_headers(
            self.rule(),
            &head.headers,
            false,
            None,
            &cs,
            debug.as_deref(),
        );
        let body = self.body_for(head.status, Body::Origin);
        self.respond(head.status, Fields::Own(h), body, None, State::Done)
    }

    // ----- the cache path -----

    /// The plan's origin request parts, made in `fetch_as`, where every cached path's origin
    /// request starts (a hit never makes them); the origin answer handlers find them there.
    fn plan_forward(&mut self) {
        if let Some(p) = self.plan.as_mut() {
            p.plan_forward(&self.req.url, &self.req.headers);
        }
    }

    fn plan(&self) -> Option<&CachePlan<'p>> {
        self.plan.as_ref()
    }

    fn found(
        &mut self,
        iso: &mut Isolate,
        found: Option<Stored>,
        collapsed: bool,
        now: Now,
    ) -> Action {
        match found {
            Some(entry) => {
                let meta = Rc::clone(&entry.meta);
                self.state = State::CheckingPurge {
                    entry: Box::new(entry),
                    collapsed,
                };
                Action::CheckPurge(meta)
            }
            None => self.miss(iso, MissReason::Absent, now),
        }
    }

    fn checked(
        &mut self,
        iso: &mut Isolate,
        entry: Stored,
        purge: PurgeState,
        collapsed: bool,
        now: Now,
    ) -> Action {
        let Some(plan) = self.plan() else {
            return Action::Finish;
        };
        // An entry written by a flight that is still storing is not trusted until its body is
        // whole (a runtime may show what arrived so far): wait for the flight like its waiters.
        if let Some((token, since)) = iso.running_since(&plan.key, now.ms) {
            if entry.meta.stored_at_ms >= since && !collapsed {
                self.metrics.push(Metric::Miss);
                self.state = State::Waiting {
                    token,
                    kind: FetchKind::Miss(MissReason::Absent),
                    prior: None,
                };
                return Action::Wait { ms: WAITER_POLL_MS };
            }
        }
        if !whole(&entry) {
            // A body cut on the way must never become a hit (the next store replaces it).
            return self.miss(iso, MissReason::Incomplete, now);
        }
        let hit = plan_hit(
            plan.rule,
            &entry.meta,
            &self.req.headers,
            &plan.directives,
            purge,
            now.secs(),
            now.rand,
        );
        // Whether a refresh may follow the answer: not when one of this key is already in flight
        // in the isolate (`begin_refresh` would find it and finish), so the entry is not copied
        // for it; every stale hit during a revalidation paid for that copy of its fields. A plain
        // fresh hit does not look up the flights.
        let refresh_after = |refresh: bool| refresh && !iso.in_flight(&plan.key, now.ms);
        match hit {
            HitPlan::Fresh { age, ttl, refresh } => {
                let then_refresh = refresh_after(refresh);
                // A collapsed waiter reading its leader's copy was counted as a miss already.
                if !collapsed {
                    self.metrics.push(Metric::Hit {
                        stale: false,
                        bytes: entry.meta.size,
                    });
                }
                let mut cs = decision::cache_status(true, None);
                cs.ttl = Some(ttl);
                cs.collapsed = collapsed;
                if refresh && ttl < 0 {
                    cs.detail = Some("max-stale".into());
                }
                let then = then_refresh.then(|| Box::new(entry.clone()));
                self.serve_stored(entry, age, cs, then)
            }
            HitPlan::Stale {
                age,
                ttl,
                soft_purge,
            } => {
                let refresh = refresh_after(true);
                if !collapsed {
                    self.metrics.push(Metric::Hit {
                        stale: true,
                        bytes: entry.meta.size,
                    });
                }
                let mut cs = decision::cache_status(true, None);
                cs.ttl = Some(ttl);
                cs.collapsed = collapsed;
                cs.detail = Some(
                    if soft_purge {
                        "soft-purge"
                    } else {
                        "stale-while-revalidate"
                    }
                    .into(),
                );
                let then = refresh.then(|| Box::new(entry.clone()));
                self.serve_stored(entry, age, cs, then)
            }
            HitPlan::Revalidate { .. } if plan.directives.only_if_cached => {
                // RFC 9111 §5.2.1.7: no stored response may be used without the origin.
                self.miss(iso, MissReason::Expired, now)
            }
            HitPlan::Revalidate { .. } => {
                self.metrics.push(Metric::Revalidation);
                self.fetch(iso, FetchKind::Revalidate, Some(Box::new(entry)), now)
            }
            HitPlan::Miss(reason) => self.miss(iso, reason, now),
        }
    }

    fn miss(&mut self, iso: &mut Isolate, reason: MissReason, now: Now) -> Action {
        self.metrics.push(Metric::Miss);
        if reason != MissReason::Absent {
            self.miss_reason = Some(reason);
        }
        if self.plan().is_some_and(|p| p.directives.only_if_cached) {
            // RFC 9111 §5.2.1.7: "respond ... with a 504 (Gateway Timeout) status code".
            let mut cs = decision::cache_status(false, Some(reason.fwd()));
            cs.detail = Some("only-if-cached".into());
            let mut h = HeaderMap::new();
            insert_status(&mut h, &cs);
            return self.respond(
                504,
                Fields::Own(h),
                Body::Fixed(b"504: not in cache (only-if-cached)\n".to_vec()),
                None,
                State::Done,
            );
        }
        self.fetch(iso, FetchKind::Miss(reason), None, now)
    }

    /// Fetches for `kind`, leading a flight, or waiting on the one that runs for this key.
    fn fetch(
        &mut self,
        iso: &mut Isolate,
        kind: FetchKind,
        prior: Option<Box<Stored>>,
        now: Now,
    ) -> Action {
        let Some(plan) = self.plan() else {
            return Action::Finish;
        };
        let key = plan.key.clone();
        if let Some(token) = iso.running(&key, now.ms) {
            if kind == FetchKind::Refresh {
                // Someone is already fetching it: that is the refresh.
                self.state = State::Done;
                return Action::Finish;
            }
            self.state = State::Waiting { token, kind, prior };
            return Action::Wait { ms: WAITER_POLL_MS };
        }
        let timeout_ms = plan.rule.origin_timeout.saturating_mul(1000);
        let deadline = now
            .ms
            .saturating_add(timeout_ms)
            .saturating_add(WAITER_GRACE_MS);
        let token = iso.lead(&key, deadline, now.ms);
        self.fetch_as(kind, prior, Some(token))
    }

    /// The origin request itself (as the flight's leader, or on one's own after a waiter gave up).
    fn fetch_as(
        &mut self,
        kind: FetchKind,
        prior: Option<Box<Stored>>,
        token: Option<u64>,
    ) -> Action {
        self.plan_forward();
        let Some(plan) = self.plan() else {
            return Action::Finish;
        };
        let headers = match &prior {
            // RFC 9111 §4.3.1: the stored validators.
            Some(p) => revalidation_headers(&p.meta, &plan.origin_headers, &self.req.headers),
            // §4.3.2: with no usable stored response the cache "MUST NOT evaluate" the client's
            // conditionals: they go to the origin verbatim (malformed ones too).
            None if matches!(kind, FetchKind::Miss(_)) => {
                miss_origin_headers(&plan.origin_headers, &self.req.headers)
            }
            // A 304 that freshened nothing (§4.3.3: "MUST use the full response"): unconditional.
            None => plan.origin_headers.clone(),
        };
        let timeout_ms = plan.rule.origin_timeout.saturating_mul(1000);
        // The key's own path and query (issue 14): the origin answers for exactly the key.
        let mut site = self.req.url.clone();
        site.set_path("/");
        site.set_query(None);
        let keyed = plan.origin_url(&site);
        let req = self.origin_request("GET".into(), &keyed, headers, false, timeout_ms);
        self.state = State::Fetching { kind, prior, token };
        Action::Fetch(Box::new(req))
    }

    fn waited(
        &mut self,
        iso: &mut Isolate,
        token: u64,
        kind: FetchKind,
        prior: Option<Box<Stored>>,
        now: Now,
    ) -> Action {
        let Some(key) = self.key().map(str::to_string) else {
            return Action::Finish;
        };
        match iso.poll(&key, token, now.ms) {
            Ok(None) => {
                self.state = State::Waiting { token, kind, prior };
                Action::Wait { ms: WAITER_POLL_MS }
            }
            // The leader stored it: read it back from the cache (no copy held per waiter).
            Ok(Some(FlightOutcome::Stored)) => {
                self.state = State::LookingUp { collapsed: true };
                Action::Lookup {
                    key,
                    fields: self.hit_fields(),
                }
            }
            // The leader counted the origin error once; the waiter shares its outcome.
            Ok(Some(FlightOutcome::Failed(e))) => self.failed(kind, prior, e, now, true),
            // The leader's 304/412 was its client's alone: lead the next flight, or wait on it.
            Ok(Some(FlightOutcome::Again)) => self.fetch(iso, kind, prior, now),
            // Not shareable, or the leader is gone: fetch for ourselves (leading if nobody does).
            Ok(Some(FlightOutcome::NotShared)) | Err(()) => {
                if iso.running(&key, now.ms).is_some() {
                    self.fetch_as(kind, prior, None)
                } else {
                    self.fetch(iso, kind, prior, now)
                }
            }
        }
    }

    fn fetched(
        &mut self,
        iso: &mut Isolate,
        kind: FetchKind,
        prior: Option<Box<Stored>>,
        token: Option<u64>,
        r: Result<OriginHead, OriginFailure>,
        now: Now,
    ) -> Action {
        let announced = r.as_ref().ok().and_then(|h| content_length(&h.headers));
        self.metrics.push(Metric::OriginFetch {
            bytes: announced.unwrap_or(0),
        });
        let key = self.key().unwrap_or_default().to_string();
        let head = match r {
            Ok(h) if answerable_status(h.status) || h.status == 304 => h,
            Ok(h) => {
                // A status the runtime would refuse to build: a bad origin answer.
                self.metrics.push(Metric::OriginError);
                if let Some(t) = token {
                    iso.finish(&key, t, FlightOutcome::NotShared, now.ms);
                }
                return self.stale_or(kind, prior, now, |me| {
                    me.bad_origin_status(h.status, me.fetch_status(kind, h.status))
                });
            }
            Err(e) => {
                self.metrics.push(Metric::OriginError);
                if let Some(t) = token {
                    iso.finish(&key, t, FlightOutcome::Failed(e), now.ms);
                }
                return self.failed(kind, prior, e, now, false);
            }
        };
        if decision::is_origin_error(head.status) {
            self.metrics.push(Metric::OriginError);
            // RFC 5861 stale-if-error: a stored response may stand in for the error.
            if let Some(p) = prior.as_deref() {
                if serve_stale_on_error(&p.meta, now.secs()) {
                    if let Some(t) = token {
                        iso.finish(&key, t, FlightOutcome::NotShared, now.ms);
                    }
                    if kind == FetchKind::Refresh {
                        return self.end_refresh(Vec::new());
                    }
                    return self.stale_if_error(p, Some(head.status), now);
                }
            }
        }
        // RFC 9111 §4.3.4: a 304 to our conditional request freshens the stored response.
        if head.status == 304 && prior.is_some() {
            self.state = State::ReadingHeaders {
                head: Box::new(head),
                token,
                kind,
            };
            return Action::ReadStoredHeaders;
        }
        self.store_or_pass(iso, kind, prior.is_some(), token, head, now)
    }

    /// An origin response to a fetch: stored (and streamed to the client through a tee) or
    /// passed on.
    fn store_or_pass(
        &mut self,
        iso: &mut Isolate,
        kind: FetchKind,
        revalidating: bool,
        token: Option<u64>,
        head: OriginHead,
        now: Now,
    ) -> Action {
        let Some(plan) = self.plan.clone() else {
            return Action::Finish;
        };
        let key = plan.key.clone();
        let mut cs = self.fetch_status(kind, head.status);
        // RFC 9111 §4.3.2: a miss forwarded the client's own conditionals (`fetch_as`); the
        // origin's 304 or 412 answers that client alone and is never stored (a 304 never is,
        // §3; a 412 is not the response to the unconditional request the key stands for).
        let forwarded_conditionals = matches!(kind, FetchKind::Miss(_))
            && crate::conditional::is_conditional(&self.req.headers);
        let own_answer = forwarded_conditionals && matches!(head.status, 304 | 412);
        let planned = if own_answer {
            Err(DontStore::Status(head.status))
        } else {
            self.plan_store_for(&plan, &head, now)
        };
        let (cmd, stored) = match planned {
            Ok(s) => s,
            Err(reason) => {
                if let Some(t) = token {
                    let outcome = if own_answer {
                        FlightOutcome::Again
                    } else {
                        FlightOutcome::NotShared
                    };
                    iso.finish(&key, t, outcome, now.ms);
                }
                // The origin no longer lets this be cached: the old copy goes too.
                let delete = if revalidating { vec![key] } else { Vec::new() };
                if kind == FetchKind::Refresh {
                    return self.end_refresh(delete);
                }
                cs.detail = Some(reason.as_str().to_string());
                let debug = self.debug_value(true);
                let h =
                    client_headers(plan.rule, &head.headers, false, None, &cs, debug.as_deref());
                let body = self.body_for(head.status, Body::Origin);
                let then = if delete.is_empty() {
                    State::Done
                } else {
                    State::DeleteAfter(delete)
                };
                return self.respond(head.status, Fields::Own(h), body, None, then);
            }
        };
        cs.stored = true;
        if let Some(t) = token {
            iso.streaming(&key, t, now.ms);
        }
        // The fetching client gets the Set-Cookie of a response stored without it (rule
        // `set_cookie = "strip"`); nobody else ever does.
        let own: Vec<HeaderValue> = head.headers.get_all(SET_COOKIE).iter().cloned().collect();
        self.store_and_answer(kind, token, head.status, cmd, &stored, cs, &own, now)
    }

    /// Stores `cmd` (whose entry `stored` describes): alone for a background refresh, else
    /// beside the client's answer, which gets `own_set_cookie` on top of the stored fields.
    #[allow(
        clippy::too_many_arguments,
        reason = "one call site per origin outcome"
    )]
    fn store_and_answer(
        &mut self,
        kind: FetchKind,
        token: Option<u64>,
        status: u16,
        cmd: StoreCmd,
        stored: &decision::Store,
        mut cs: CacheStatus,
        own_set_cookie: &[HeaderValue],
        now: Now,
    ) -> Action {
        if kind == FetchKind::Refresh {
            self.state = State::Storing {
                token,
                refresh: true,
            };
            return Action::Store(Box::new(cmd));
        }
        let now_s = now.secs();
        cs.ttl = Some(stored.meta.ttl(now_s));
        let debug = self.debug_value(true);
        let mut h = client_headers(
            self.rule(),
            &stored.headers,
            true,
            Some(stored.meta.age(now_s)),
            &cs,
            debug.as_deref(),
        );
        for v in own_set_cookie {
            h.append(SET_COOKIE, v.clone());
        }
        let body = cmd.body.clone();
        self.answer_and_store(status, h, body, stored.meta.size, cmd, token)
    }

    /// Whether and how to store an origin response head: the store command and what
    /// [`plan_store`] decided.
    fn plan_store_for(
        &self,
        plan: &CachePlan<'p>,
        head: &OriginHead,
        now: Now,
    ) -> Result<(StoreCmd, decision::Store), DontStore> {
        let rule = plan.rule;
        // RFC 9110 §15.2: an interim (1xx) response is never a stored response.
        if head.status < 200 {
            return Err(DontStore::Status(head.status));
        }
        if content_length(&head.headers).is_some_and(|n| n > rule.max_body_size) {
            return Err(DontStore::TooLarge);
        }
        let oresp = OriginResponse {
            status: head.status,
            headers: &head.headers,
            request_time: head.request_ms / 1000,
            response_time: head.response_ms / 1000,
            // Stored-at is when the request was sent: a purge that lands while this fetch is
            // in flight must still cover what it returns.
            now_ms: head.request_ms,
            fetch_ms: head.response_ms.saturating_sub(head.request_ms),
        };
        let mut s = plan_store(plan, &self.req.headers, &oresp, now.rand)?;
        // The length a whole stored copy has: known only for an unencoded body (the runtime may
        // decode a content-coded one). A stored copy of another length was cut on the way.
        s.meta.size = identity_length(&head.headers).unwrap_or(0);
        let keep = s.meta.edge_keep_secs(now.secs(), VALIDATOR_KEEP_SECS);
        let headers = storage_fields(&s.headers, &s.meta, keep);
        Ok((
            StoreCmd {
                key: plan.key.clone(),
                status: head.status,
                headers,
                body: Body::Origin,
                max_body: rule.max_body_size,
            },
            s,
        ))
    }

    fn merge_304(
        &mut self,
        iso: &mut Isolate,
        head: &OriginHead,
        token: Option<u64>,
        kind: FetchKind,
        found: Option<Stored>,
        now: Now,
    ) -> Action {
        let key = self.key().unwrap_or_default().to_string();
        let Some(stored) = found else {
            // The stored copy is gone (evicted meanwhile): fetch it whole.
            return self.fetch_as(kind, None, token);
        };
        // RFC 9111 §4.3.4: "the cache MUST ... use other header fields provided in the 304
        // (Not Modified) response to replace all instances of the corresponding header fields
        // in the stored response" (§3.2).
        let mut merged = restore_fields(&stored.headers, &stored.meta);
        // §4.3.4: a 304 whose validators contradict the stored response selects nothing; then
        // the full response is needed (§4.3.3).
        if !crate::conditional::freshen_selects(&merged, &head.headers) {
            return self.fetch_as(kind, None, token);
        }
        crate::storable::merge_304_headers(&mut merged, &head.headers);
        let merged_head = OriginHead {
            status: stored.status,
            headers: merged,
            request_ms: head.request_ms,
            response_ms: head.response_ms,
        };
        let Some(plan) = self.plan.clone() else {
            return Action::Finish;
        };
        let mut cs = self.fetch_status(kind, 304);
        match self.plan_store_for(&plan, &merged_head, now) {
            Ok((mut cmd, mut s)) => {
                s.meta.size = stored.meta.size;
                let keep = s.meta.edge_keep_secs(now.secs(), VALIDATOR_KEEP_SECS);
                cmd.headers = storage_fields(&s.headers, &s.meta, keep);
                cmd.body = Body::Stored;
                cs.stored = true;
                // As on a miss, the client whose request brought the 304 gets its Set-Cookie
                // (rule `set_cookie = "strip"`: the stored copy never has it).
                let own: Vec<HeaderValue> =
                    head.headers.get_all(SET_COOKIE).iter().cloned().collect();
                self.store_and_answer(kind, token, stored.status, cmd, &s, cs, &own, now)
            }
            Err(reason) => {
                if let Some(t) = token {
                    iso.finish(&key, t, FlightOutcome::NotShared, now.ms);
                }
                if kind == FetchKind::Refresh {
                    return self.end_refresh(vec![key]);
                }
                cs.detail = Some(reason.as_str().to_string());
                let debug = self.debug_value(true);
                let h = client_headers(
                    plan.rule,
                    &merged_head.headers,
                    false,
                    None,
                    &cs,
                    debug.as_deref(),
                );
                let body = self.body_for(stored.status, Body::Stored);
                self.respond(
                    stored.status,
                    Fields::Own(h),
                    body,
                    None,
                    State::DeleteAfter(vec![key]),
                )
            }
        }
    }

    /// Answers with a response that is being stored (its body `len` bytes long, 0: unknown):
    /// the client's conditionals (RFC 9111 §4.3.2) and range (RFC 9110 §14) are answered from
    /// it, exactly as a later hit on the stored copy would answer them, while the whole body
    /// still goes to the cache.
    fn answer_and_store(
        &mut self,
        status: u16,
        mut h: HeaderMap,
        body: Body,
        len: u64,
        cmd: StoreCmd,
        token: Option<u64>,
    ) -> Action {
        let pre = crate::conditional::evaluate(&self.method, &self.req.headers, status, &h, None);
        let (status, fields, body) = match pre {
            Precondition::NotModified => (304, not_modified_headers(&h), Body::Empty),
            Precondition::Failed => (412, precondition_failed_headers(&h), Body::Empty),
            Precondition::Serve => {
                let basis = h.clone();
                let (status, body) = self.range_answer(status, &basis, &mut h, len, body);
                let b = self.body_for(status, body);
                (status, h, b)
            }
        };
        self.state = State::Storing {
            token,
            refresh: false,
        };
        Action::Respond {
            answer: Box::new(Answer {
                status,
                fields: Fields::Own(fields),
                body,
            }),
            store: Some(Box::new(cmd)),
        }
    }

    /// The answer to this request's `Range` (RFC 9110 §14) from a complete response (`status`,
    /// fields `basis`, a body of `len` bytes, 0: unknown, that `whole` sends): its status and
    /// body — `whole` itself, the pieces of it to send (206), or none (416). Edits `h`, the
    /// answer's fields.
    fn range_answer(
        &self,
        status: u16,
        basis: &HeaderMap,
        h: &mut HeaderMap,
        len: u64,
        whole: Body,
    ) -> (u16, Body) {
        let range = crate::range::plan_range(&self.method, &self.req.headers, status, basis, len);
        self.apply_range(range, status, h, whole)
    }

    /// The answer's status and body for a range plan, its fields set in `h`.
    fn apply_range(
        &self,
        range: RangePlan,
        status: u16,
        h: &mut HeaderMap,
        whole: Body,
    ) -> (u16, Body) {
        use crate::range::Segment;
        range.apply_headers(h);
        match range {
            RangePlan::Full => (status, whole),
            RangePlan::Partial { start, end, .. } => {
                (206, Body::Parts(vec![Segment::Range { start, end }]))
            }
            RangePlan::Multipart { .. } => {
                let parts = crate::range::apply_multipart(&range, h, &self.boundary());
                (206, Body::Parts(parts))
            }
            RangePlan::Unsatisfiable { .. } => (416, Body::Empty),
        }
    }

    /// A `multipart/byteranges` boundary: RFC 2046 §5.1.1 wants one the body cannot contain;
    /// 64 random bits (in decimal) make a collision with stored bytes negligible.
    fn boundary(&self) -> String {
        format!("edgecache-{}", self.seed)
    }

    /// Serves a stored entry (fresh, stale, or standing in for an error), answering the
    /// client's preconditions (RFC 9111 §4.3.2, RFC 9110 §13.2.2: 304 or 412) and a range
    /// (RFC 9110 §14: 206 or 416). `refresh`: refresh it afterwards.
    fn serve_stored(
        &mut self,
        entry: Stored,
        age: u64,
        cs: CacheStatus,
        refresh: Option<Box<Stored>>,
    ) -> Action {
        let rule = self.rule();
        let Stored {
            meta,
            status: stored_status,
            headers,
        } = entry;
        let mut sub = crate::meta::restore_stored_owned(headers, &meta);
        // The validators for the client's conditionals come from the metadata.
        for (name, v) in [
            (http::header::ETAG, &meta.etag),
            (http::header::LAST_MODIFIED, &meta.last_modified),
        ] {
            if let Some(v) = v.as_deref().and_then(|v| HeaderValue::from_str(v).ok()) {
                sub.insert(name, v);
            }
        }
        let debug = self.debug_value(true);
        let then = match refresh {
            Some(p) => State::Answered { refresh: p },
            None => State::Done,
        };
        // The preconditions and the range are decided on the stored fields, then those same
        // fields become the client's (no copy of the map on a hit).
        let pre = crate::conditional::evaluate(
            &self.method,
            &self.req.headers,
            stored_status,
            &sub,
            Some(meta.response_time),
        );
        let range = crate::range::plan_range(
            &self.method,
            &self.req.headers,
            stored_status,
            &sub,
            meta.size,
        );
        let mut h = sub;
        client_headers_into(rule, &mut h, true, Some(age), &cs, debug.as_deref());
        match pre {
            Precondition::NotModified => {
                let f = not_modified_headers(&h);
                return self.respond(304, Fields::Own(f), Body::Empty, None, then);
            }
            Precondition::Failed => {
                let f = precondition_failed_headers(&h);
                return self.respond(412, Fields::Own(f), Body::Empty, None, then);
            }
            Precondition::Serve => {}
        }
        let (status, body) = self.apply_range(range, stored_status, &mut h, Body::Stored);
        let ranged = body != Body::Stored;
        // Fields the core may change, those kept in the metadata (put back only where the
        // origin sent them: the stored copy never has them) and the storage-only ones are
        // replaced; every other stored field goes out as stored (RFC 9111 §3.2). Each name is
        // one runtime call on a hit, so the list is kept to what can differ.
        let mut replace: Vec<HeaderName> = client_header_names(rule);
        let more = crate::meta::HIDDEN_FIELDS
            .iter()
            .filter(|n| h.contains_key(*n))
            .chain(STORAGE_ONLY.iter())
            .chain(RANGE_FIELDS.iter().filter(|_| ranged));
        for n in more {
            if !replace.contains(n) {
                replace.push(n.clone());
            }
        }
        let mut with = HeaderMap::new();
        for n in &replace {
            for v in h.get_all(n) {
                with.append(n.clone(), v.clone());
            }
        }
        let body = self.body_for(status, body);
        self.respond(status, Fields::Stored { replace, with }, body, None, then)
    }

    fn stale_if_error(&mut self, prior: &Stored, origin_status: Option<u16>, now: Now) -> Action {
        let now_s = now.secs();
        let mut cs = decision::cache_status(false, Some(Fwd::Stale));
        cs.fwd_status = origin_status;
        cs.ttl = Some(prior.meta.ttl(now_s));
        cs.detail = Some("stale-if-error".into());
        self.metrics.push(Metric::StaleErrorServed {
            bytes: prior.meta.size,
        });
        self.serve_stored(prior.clone(), prior.meta.age(now_s), cs, None)
    }

    /// The origin gave no answer: stale-if-error where allowed, else 502/504.
    fn failed(
        &mut self,
        kind: FetchKind,
        prior: Option<Box<Stored>>,
        e: OriginFailure,
        now: Now,
        collapsed: bool,
    ) -> Action {
        self.stale_or(kind, prior, now, |me| {
            let mut cs = me.fetch_status(kind, 0);
            cs.fwd_status = None;
            cs.collapsed = collapsed;
            me.origin_failure(e, cs)
        })
    }

    /// Stale-if-error with `prior` when it is allowed (RFC 5861; never after must-revalidate,
    /// RFC 9111 §5.2.2.2), the end of a background refresh, else what `otherwise` answers.
    fn stale_or(
        &mut self,
        kind: FetchKind,
        prior: Option<Box<Stored>>,
        now: Now,
        otherwise: impl FnOnce(&mut Self) -> Action,
    ) -> Action {
        if kind == FetchKind::Refresh {
            return self.end_refresh(Vec::new());
        }
        match prior {
            Some(p) if serve_stale_on_error(&p.meta, now.secs()) => {
                self.stale_if_error(&p, None, now)
            }
            _ => otherwise(self),
        }
    }

    fn fetch_status(&self, kind: FetchKind, status: u16) -> CacheStatus {
        let mut cs = match kind {
            FetchKind::Miss(r) => {
                let mut cs = decision::cache_status(false, Some(r.fwd()));
                if r != MissReason::Absent {
                    cs.detail = Some(r.as_str().to_string());
                }
                cs
            }
            FetchKind::Revalidate | FetchKind::Refresh => {
                decision::cache_status(false, Some(Fwd::Stale))
            }
        };
        cs.fwd_status = Some(status);
        cs
    }

    // ----- background refresh -----

    fn begin_refresh(&mut self, iso: &mut Isolate, prior: Stored, now: Now) -> Action {
        let Some(key) = self.key().map(str::to_string) else {
            return Action::Finish;
        };
        if iso.in_flight(&key, now.ms) {
            self.state = State::Done;
            return Action::Finish;
        }
        // Inside the isolate the flight table keeps it to one fetch per key; across the
        // isolates of one location a short-lived lock entry keeps it to about one (best effort:
        // losing the race costs one extra origin fetch, never a wrong answer).
        self.state = State::LockLookup {
            prior: Box::new(prior),
        };
        Action::CheckLock {
            key: lock_key(&key),
        }
    }

    /// Ends a background refresh: the lock goes, and `also` (entries the origin no longer lets
    /// be cached).
    fn end_refresh(&mut self, also: Vec<String>) -> Action {
        let mut keys = vec![lock_key(self.key().unwrap_or_default())];
        keys.extend(also);
        self.state = State::Unlocking;
        Action::Delete(keys)
    }

    // ----- answers -----

    fn respond(
        &mut self,
        status: u16,
        fields: Fields,
        body: Body,
        store: Option<StoreCmd>,
        then: State,
    ) -> Action {
        self.state = then;
        Action::Respond {
            answer: Box::new(Answer {
                status,
                fields,
                body,
            }),
            store: store.map(Box::new),
        }
    }

    /// `body`, or none where HTTP allows none: HEAD (RFC 9110 §9.3.2), 204, 205 and 304
    /// (§15.3.5, §15.3.6, §15.4.5): a body the origin sent there is dropped, never forwarded.
    fn body_for(&self, status: u16, body: Body) -> Body {
        if self.req.method.eq_ignore_ascii_case("HEAD") || matches!(status, 204 | 205 | 304) {
            Body::Empty
        } else {
            body
        }
    }

    /// 502 (unreachable) or 504 (timeout) with a short plain-text body and a Cache-Status
    /// detail.
    fn origin_failure(&mut self, e: OriginFailure, mut cs: CacheStatus) -> Action {
        let (code, text) = match e {
            OriginFailure::Timeout => (
                504,
                "504 Gateway Timeout: the origin did not answer in time.\n",
            ),
            OriginFailure::Unreachable => {
                (502, "502 Bad Gateway: the origin could not be reached.\n")
            }
        };
        cs.detail = Some(e.as_str().to_string());
        self.plain(code, cs, text)
    }

    /// 502 for an origin status that cannot be forwarded (outside 200–599; 1xx as a final
    /// answer): no client ever gets a response the runtime would refuse to build.
    fn bad_origin_status(&mut self, status: u16, mut cs: CacheStatus) -> Action {
        cs.fwd_status = None;
        cs.detail = Some(format!("origin-bad-status-{status}"));
        let text = format!("502 Bad Gateway: the origin answered with status {status}, which cannot be forwarded.\n");
        self.plain(502, cs, &text)
    }

    fn fixed_error(&mut self, code: u16, detail: &str, text: &str) -> Action {
        let mut cs = decision::cache_status(false, Some(Fwd::Bypass));
        cs.detail = Some(detail.to_string());
        self.plain(code, cs, text)
    }

    fn plain(&mut self, code: u16, cs: CacheStatus, text: &str) -> Action {
        let mut h = HeaderMap::new();
        h.insert(
            CONTENT_TYPE,
            HeaderValue::from_static("text/plain; charset=utf-8"),
        );
        h.insert(
            http::header::CACHE_CONTROL,
            HeaderValue::from_static("no-store"),
        );
        insert_status(&mut h, &cs);
        let body = self.body_for(code, Body::Fixed(text.as_bytes().to_vec()));
        self.respond(code, Fields::Own(h), body, None, State::Done)
    }

    fn debug_value(&self, with_key: bool) -> Option<String> {
        if !self.debug {
            return None;
        }
        let rule = self.rule();
        Some(match self.key().filter(|_| with_key) {
            Some(k) => format!("rule={}; key={}", rule.name, k),
            None => format!("rule={}", rule.name),
        })
    }
}

/// Whether the runtime can build a response with this status for a client (the Fetch standard's
/// "null body status" aside): 200–599. A 101 travels only as the origin's own response.
pub fn answerable_status(status: u16) -> bool {
    (200..=599).contains(&status)
}

/// Whether a stored body is as long as the origin announced (when it announced a length for an
/// unencoded body): a runtime may commit what arrived before a body broke off.
fn whole(entry: &Stored) -> bool {
    let stored = content_length(&entry.headers);
    match (entry.meta.size, stored) {
        (0, _) | (_, None) => true,
        (want, Some(have)) => want == have,
    }
}

/// The body length of an unencoded response (`Content-Length` without a content coding); none
/// when `Transfer-Encoding` is present, which overrides `Content-Length` (RFC 9112 §6.3).
pub fn identity_length(h: &HeaderMap) -> Option<u64> {
    if h.contains_key(http::header::TRANSFER_ENCODING) {
        return None;
    }
    let coded = h
        .get(http::header::CONTENT_ENCODING)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| !v.trim().eq_ignore_ascii_case("identity") && !v.trim().is_empty());
    if coded {
        None
    } else {
        content_length(h)
    }
}

/// The announced body length, if any and valid.
pub fn content_length(h: &HeaderMap) -> Option<u64> {
    let v = h.get(CONTENT_LENGTH)?.to_str().ok()?;
    v.trim().parse::<u64>().ok()
}

fn insert_status(h: &mut HeaderMap, cs: &CacheStatus) {
    if let Ok(v) = HeaderValue::from_str(&cs.to_header_value()) {
        h.insert(decision::CACHE_STATUS.clone(), v);
    }
}

/// The Cache API key of the refresh lock for `key`: its own host, so it can never collide with a
/// site entry (a fragment or query suffix could be normalised away by the Cache API).
pub fn lock_key(key: &str) -> String {
    let enc: String = url::form_urlencoded::byte_serialize(key.as_bytes()).collect();
    format!("https://revalidation-lock.edgecache.invalid/{enc}")
}

/// The header fields of the copy given to `cache.put` (see [`crate::meta::stored_headers`]:
/// the Cache API's bookkeeping, the origin's caching fields moved into the metadata).
pub fn storage_fields(headers: &HeaderMap, meta: &EntryMeta, keep_secs: u64) -> HeaderMap {
    crate::meta::stored_headers(&strip_storage_only(headers), meta, keep_secs)
}

/// Stored header fields as the origin sent them (see [`crate::meta::restore_stored`]).
pub fn restore_fields(stored: &HeaderMap, meta: &EntryMeta) -> HeaderMap {
    crate::meta::restore_stored(stored, meta)
}

/// A 412 carries the validators and Cache-Status, no content.
fn precondition_failed_headers(full: &HeaderMap) -> HeaderMap {
    let mut h = HeaderMap::new();
    for name in [
        &http::header::ETAG,
        &http::header::LAST_MODIFIED,
        &http::header::DATE,
        &decision::CACHE_STATUS,
        &decision::DEBUG_NAME,
    ] {
        for v in full.get_all(name) {
            h.append(name.clone(), v.clone());
        }
    }
    h
}

fn strip_storage_only(h: &HeaderMap) -> HeaderMap {
    let mut h = h.clone();
    for n in &STORAGE_ONLY {
        h.remove(n);
    }
    h
}
