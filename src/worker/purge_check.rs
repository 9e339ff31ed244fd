//! The purge check on a hit: the isolate's view of the purge snapshot, refreshed in the
//! background; per-record KV keys only for entries older than the snapshot's window.
//!
//! A hit is answered from the view the isolate holds ([`IsolatePurges`]: what it knows, and
//! every decision about it) (no KV read on the hit path). When
//! the view is older than its refresh interval, the next request to arrive starts one refresh
//! in its `waitUntil` ([`refresh_if_due`]): one KV read of [`purge::SNAPSHOT_KEY`], whatever
//! the number of tags.
//! Only an isolate without a usable view (its first hit, or idle for two intervals) waits for
//! a read, its own: a request never awaits I/O started by another request (workerd ties I/O to
//! its request; it may never settle elsewhere). An entry stored before the snapshot's `since`
//! is checked against the per-record keys as before (memoised per isolate for a couple of
//! seconds, read with `cacheTtl`): those reads can wait on KV, and only for such old entries.
//! A purge received by this isolate updates its view and its memo at once.
//!
//! Clock skew: the isolate notes when it first saw each record; a record seen before
//! an entry's origin fetch started is reflected in the entry and does not purge it
//! ([`crate::purge::SeenRecords`] has the reasoning).

use super::bindings::{self, PURGE_KV};
use super::conv::now_ms as clock;
use super::metrics;
use super::rt::{Context, Env};
use crate::decision::PurgeState;
use crate::meta::EntryMeta;
use crate::purge::{
    self, Entry, IsolatePurges, PurgeRecord, PurgeSnapshot, Records, RecordsCheck, RefreshPlan,
    ViewVerdict,
};
use std::cell::{OnceCell, RefCell};

thread_local! {
    static ISOLATE: RefCell<IsolatePurges> = RefCell::new(IsolatePurges::default());
    static REFRESH_MS: OnceCell<u64> = const { OnceCell::new() };
}

fn with<T>(f: impl FnOnce(&mut IsolatePurges) -> T) -> T {
    ISOLATE.with(|i| f(&mut i.borrow_mut()))
}

/// Var setting the view's refresh interval in milliseconds (default
/// [`purge::DEFAULT_REFRESH_MS`]; the e2e tests shorten it).
pub const REFRESH_VAR: &str = "PURGE_REFRESH_MS";

/// The refresh interval configured by [`REFRESH_VAR`].
pub fn refresh_ms(env: &Env) -> u64 {
    env.var(REFRESH_VAR)
        .and_then(|v| v.trim().parse::<u64>().ok())
        .filter(|ms| *ms > 0)
        .unwrap_or(purge::DEFAULT_REFRESH_MS)
}

/// The isolate's refresh interval: [`refresh_ms`] read once (the var is not read on each hit).
fn interval(env: &Env) -> u64 {
    REFRESH_MS.with(|r| *r.get_or_init(|| refresh_ms(env)))
}

/// A purge this isolate made, accepted at `now_ms`: it applies here at once.
pub fn note_own_purge(env: &Env, keys: &[String], record: PurgeRecord, now_ms: u64) {
    let seen = clock();
    with(|i| i.note_own_purge(interval(env), keys, record, now_ms, seen));
}

/// Reads the snapshot and installs it; `started_ms` as given to `begin_refresh`.
async fn refresh(env: &Env, started_ms: u64) {
    let snap = read_snapshot(env).await;
    // The clock after the read: the moment these records are known to this isolate.
    let done_ms = clock();
    with(|i| i.finish_refresh(interval(env), started_ms, snap, done_ms));
}

/// Starts the view's refresh as a request arrives, when the view is due for one and none is in
/// flight (one per isolate), handed to that request's `ctx.waitUntil`.
///
/// At arrival, not at the purge check: the read then has the whole exchange (the cache lookup
/// included) to run beside, and its request is known. In `waitUntil`, not spawned: workerd
/// ties I/O to the request that started it, and a read spawned by a quick hit was dropped with
/// that hit (probe with `PURGE_REFRESH_MS=5000` at 1 req/s: every spawned read was lost, the
/// view aged past two intervals and the next hit waited for its own read; bench part 8 counted
/// each refresh twice). A read that never ends is counted lost after
/// [`purge::REFRESH_TIMEOUT_MS`]; a later request starts another.
pub fn refresh_if_due(env: &Env, ctx: &Context, now_ms: u64) {
    let due = matches!(
        with(|i| i.plan(interval(env), now_ms)),
        RefreshPlan::ServeAndRefresh
    );
    if !due || !with(|i| i.begin_refresh(interval(env), now_ms)) {
        return;
    }
    let env = env.clone();
    ctx.wait_until(async move {
        refresh(&env, now_ms).await;
    });
}

/// One KV read of the snapshot. Absent (no purge since this version was deployed): the ledger
/// builds it from the records it holds, publishes it, and returns it.
async fn read_snapshot(env: &Env) -> Option<PurgeSnapshot> {
    let kv = env.kv(PURGE_KV).ok()?;
    metrics::kv_reads(1);
    match kv.get_text(purge::SNAPSHOT_KEY, KV_CACHE_TTL_SECS).await {
        Ok(Some(t)) => PurgeSnapshot::decode(&t),
        Ok(None) => bindings::ledger_snapshot(env).await,
        Err(_) => None,
    }
}

/// KV `cacheTtl` for record reads (the platform minimum is 30 s).
pub const KV_CACHE_TTL_SECS: u64 = 30;

/// Reads the records under `keys` (memo first, then KV in parallel).
async fn read(env: &Env, keys: &[String], now_ms: u64) -> Records {
    let held_ms = clock();
    let (found, missing) = with(|i| i.memoised(keys, now_ms, held_ms));
    let mut results = Vec::new();
    if let (false, Ok(kv)) = (missing.is_empty(), env.kv(PURGE_KV)) {
        metrics::kv_reads(missing.len() as u64);
        let reads = missing.iter().map(|k| {
            let kv = &kv;
            async move {
                let v = kv.get_text(k, KV_CACHE_TTL_SECS).await.ok().flatten();
                (k.clone(), v.as_deref().and_then(PurgeRecord::decode))
            }
        });
        results = futures_util::future::join_all(reads).await;
    }
    // The clock after the reads: the moment these records are known to this isolate.
    let seen_ms = clock();
    with(|i| i.absorb(found, results, now_ms, seen_ms))
}

/// The purge state of a stored entry at `now_ms`: from the isolate's view (refreshed in the
/// background: [`refresh_if_due`]),
/// or from the per-record keys for an entry older than the snapshot's window.
pub async fn state(env: &Env, meta: &EntryMeta, now_ms: u64) -> PurgeState {
    let mut now = now_ms;
    match with(|i| i.plan(interval(env), now_ms)) {
        RefreshPlan::Serve => {}
        // Due: this request started the refresh as it arrived ([`refresh_if_due`]), or one is
        // in flight; the view answers meanwhile.
        RefreshPlan::ServeAndRefresh => {}
        RefreshPlan::Wait => {
            // This request's own read, even if another is in flight: workerd ties I/O to the
            // request that started it, so awaiting another request's read may never finish
            // (e.g. that client went away). Only an isolate's first hits, or hits after two
            // idle intervals, get here.
            let _ = with(|i| i.begin_refresh(interval(env), now_ms));
            refresh(env, now_ms).await;
            now = clock().max(now_ms);
        }
    }
    let entry = Entry {
        stored_at_ms: meta.stored_at_ms,
        tags: &meta.tags,
        // URL purges name the URL, not a variant: compare without the folded-in vary part.
        url_key: crate::key::strip_vary(&meta.key),
        host: meta.host(),
        path: meta.path(),
    };
    match with(|i| i.check_view(now, &entry)) {
        ViewVerdict::Known(v) => v.into(),
        ViewVerdict::NeedsRecords => {
            let mut check = RecordsCheck::new(entry);
            while let Some(keys) = check.keys() {
                let got = read(env, &keys, now_ms).await;
                with(|i| check.feed(i, got));
            }
            check.verdict().into()
        }
    }
}
