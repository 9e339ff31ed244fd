//! The purge check on a hit: the isolate's view of the purge snapshot, refreshed in the
//! background; per-record KV keys only for entries older than the snapshot's window.
//!
//! A hit is answered from the [`PurgeView`] the isolate holds (no KV read on the hit path). When
//! the view is older than its refresh interval, the hit starts one refresh in the background
//! (spawned: see [`refresh_in_background`]): one KV read of [`purge::SNAPSHOT_KEY`], whatever
//! the number of tags.
//! Only an isolate without a usable view (its first hit, or idle for two intervals) waits for
//! a read, its own: a request never awaits I/O started by another request (workerd ties I/O to
//! its request; it may never settle elsewhere). An entry stored before the snapshot's `since`
//! is checked against the per-record keys as before (memoised per isolate for a couple of
//! seconds, read with `cacheTtl`): those reads can wait on KV, and only for such old entries.
//! A purge received by this isolate updates its view and its memo at once.
//!
//! Clock skew: the isolate notes when it first saw each record ([`note`]); a record seen before
//! an entry's origin fetch started is reflected in the entry and does not purge it
//! ([`crate::purge::SeenRecords`] has the reasoning).

use super::{metrics, state};
use crate::decision::PurgeState;
use crate::meta::EntryMeta;
use crate::purge::{
    self, PurgeRecord, PurgeSnapshot, PurgeVerdict, PurgeView, RefreshPlan, SeenRecords,
    ViewVerdict,
};
use std::cell::RefCell;
use std::collections::HashMap;
use worker::Env;

thread_local! {
    static SEEN: RefCell<SeenRecords> = RefCell::new(SeenRecords::default());
    static VIEW: RefCell<Option<PurgeView>> = const { RefCell::new(None) };
}

/// Notes that this isolate holds `record` under `key` now (see [`SeenRecords::note`]).
pub fn note(key: &str, record: Option<PurgeRecord>, now_ms: u64) {
    SEEN.with(|s| s.borrow_mut().note(key, record, now_ms));
}

/// Var setting the view's refresh interval in milliseconds (default
/// [`purge::DEFAULT_REFRESH_MS`]; the e2e tests shorten it).
pub const REFRESH_VAR: &str = "PURGE_REFRESH_MS";

/// The refresh interval configured by [`REFRESH_VAR`].
pub fn refresh_ms(env: &Env) -> u64 {
    env.var(REFRESH_VAR)
        .ok()
        .and_then(|v| v.to_string().trim().parse::<u64>().ok())
        .filter(|ms| *ms > 0)
        .unwrap_or(purge::DEFAULT_REFRESH_MS)
}

/// Runs `f` with the isolate's view (created on first use with the configured interval).
fn with_view<T>(env: &Env, f: impl FnOnce(&mut PurgeView) -> T) -> T {
    VIEW.with(|v| {
        let mut v = v.borrow_mut();
        let view = v.get_or_insert_with(|| PurgeView::new(refresh_ms(env)));
        f(view)
    })
}

/// Notes a purge this isolate made: its view applies it at once.
pub fn note_local(env: &Env, key: &str, record: PurgeRecord) {
    with_view(env, |v| v.note_local(key, record));
}

/// Reads the snapshot and installs it in the view; `started_ms` as given to
/// [`PurgeView::begin_refresh`].
async fn refresh(env: &Env, started_ms: u64) {
    let snap = read_snapshot(env).await;
    // The clock after the read: the moment these records are known to this isolate.
    let done_ms = super::conv::now_ms();
    if let Some(s) = &snap {
        for (k, r) in s.iter() {
            note(k, Some(r), done_ms);
        }
    }
    with_view(env, |v| v.finish_refresh(started_ms, snap, done_ms));
}

/// Starts a background refresh at `now_ms` unless one is in flight (one per isolate).
///
/// It is spawned, not handed to `ctx.wait_until`: the hit that starts it runs inside the
/// lifecycle, which has no `Context`, and registering it later from whichever request comes
/// next ties it to another request's I/O (workerd then broke that request's response body: the
/// hostile e2e's concurrent hits hung). The read is one KV get, usually done long before the
/// starting request's response; if the runtime drops it, the view counts it as lost after
/// [`purge::REFRESH_TIMEOUT_MS`] and a later hit starts another.
fn refresh_in_background(env: &Env, now_ms: u64) {
    if !with_view(env, |v| v.begin_refresh(now_ms)) {
        return;
    }
    let env = env.clone();
    wasm_bindgen_futures::spawn_local(async move {
        refresh(&env, now_ms).await;
    });
}

/// One KV read of the snapshot. Absent (no purge since this version was deployed): the ledger
/// builds it from the records it holds, publishes it, and returns it.
async fn read_snapshot(env: &Env) -> Option<PurgeSnapshot> {
    let kv = env.kv(BINDING).ok()?;
    metrics::kv_reads(1);
    let text = kv
        .get(purge::SNAPSHOT_KEY)
        .cache_ttl(KV_CACHE_TTL_SECS)
        .text()
        .await;
    match text {
        Ok(Some(t)) => PurgeSnapshot::decode(&t),
        Ok(None) => super::admin::ledger_snapshot(env).await,
        Err(_) => None,
    }
}

/// KV binding holding purge records.
pub const BINDING: &str = "PURGE_KV";
/// KV `cacheTtl` for record reads (the platform minimum is 30 s).
pub const KV_CACHE_TTL_SECS: u64 = 30;

/// Reads the records under `keys` (memo first, then KV in parallel).
pub async fn read(env: &Env, keys: &[String], now_ms: u64) -> HashMap<String, Option<PurgeRecord>> {
    let mut out = HashMap::new();
    let mut missing = Vec::new();
    state::with_memo(|m| {
        for k in keys {
            match m.get(k, now_ms) {
                Some(r) => {
                    out.insert(k.clone(), r);
                }
                None => missing.push(k.clone()),
            }
        }
    });
    let held_ms = super::conv::now_ms();
    for (k, r) in &out {
        note(k, *r, held_ms);
    }
    if missing.is_empty() {
        return out;
    }
    let Ok(kv) = env.kv(BINDING) else {
        return out;
    };
    metrics::kv_reads(missing.len() as u64);
    let reads = missing.iter().map(|k| {
        let kv = &kv;
        async move {
            let v = kv
                .get(k)
                .cache_ttl(KV_CACHE_TTL_SECS)
                .text()
                .await
                .ok()
                .flatten();
            (k.clone(), v.as_deref().and_then(PurgeRecord::decode))
        }
    });
    let results = futures_util::future::join_all(reads).await;
    // The clock after the reads: the moment these records are known to this isolate.
    let seen_ms = super::conv::now_ms();
    for (k, r) in &results {
        note(k, *r, seen_ms);
    }
    state::with_memo(|m| {
        for (k, r) in results {
            m.insert(&k, r, now_ms);
            // The memo merges with what it held, so a record this isolate just wrote wins
            // over an older KV read.
            let merged = m.get(&k, now_ms).unwrap_or(r);
            out.insert(k, merged);
        }
    });
    // This isolate's own purges stay applied after their memo entries expire, until a
    // snapshot reflects them (KV may still return the value from before them).
    VIEW.with(|v| {
        if let Some(v) = v.borrow().as_ref() {
            for (k, r) in out.iter_mut() {
                if let Some(own) = v.local_record(k) {
                    *r = Some(r.map_or(own, |r| purge::merge(r, own)));
                }
            }
        }
    });
    out
}

/// The purge state of a stored entry at `now_ms`: from the isolate's view (starting a
/// background refresh when it is due: [`refresh_in_background`]),
/// or from the per-record keys for an entry older than the snapshot's window.
pub async fn state(env: &Env, meta: &EntryMeta, now_ms: u64) -> PurgeState {
    let mut now = now_ms;
    match with_view(env, |v| v.plan(now_ms)) {
        RefreshPlan::Serve => {}
        RefreshPlan::ServeAndRefresh => refresh_in_background(env, now_ms),
        RefreshPlan::Wait => {
            // This request's own read, even if another is in flight: workerd ties I/O to the
            // request that started it, so awaiting another request's read may never finish
            // (e.g. that client went away). Only an isolate's first hits, or hits after two
            // idle intervals, get here.
            let _ = with_view(env, |v| v.begin_refresh(now_ms));
            refresh(env, now_ms).await;
            now = super::conv::now_ms().max(now_ms);
        }
    }
    // URL purges name the URL, not a variant: compare without the folded-in vary part.
    let url_key = crate::key::strip_vary(&meta.key);
    let stored = meta.stored_at_ms;
    let applies = |k: &str, r: &PurgeRecord| !SEEN.with(|s| s.borrow().reflected(k, r, stored));
    let verdict = with_view(env, |v| {
        v.check(
            now,
            stored,
            &meta.tags,
            url_key,
            meta.host(),
            meta.path(),
            applies,
        )
    });
    let v = match verdict {
        ViewVerdict::Known(v) => v,
        ViewVerdict::NeedsRecords => records_verdict(env, meta, now_ms).await,
    };
    match v {
        PurgeVerdict::Fresh => PurgeState::Clean,
        PurgeVerdict::SoftPurged { .. } => PurgeState::Soft,
        PurgeVerdict::HardPurged { .. } => PurgeState::Hard,
    }
}

/// Checks an entry against the per-record keys (memo first, then KV).
async fn records_verdict(env: &Env, meta: &EntryMeta, now_ms: u64) -> PurgeVerdict {
    let url_key = crate::key::strip_vary(&meta.key);
    let base = purge::base_keys_to_check(&meta.tags, url_key);
    let mut recs = read(env, &base, now_ms).await;
    // Records this isolate saw before the entry's origin fetch started are reflected in it.
    let stored = meta.stored_at_ms;
    let applies = |k: &str, r: &PurgeRecord| !SEEN.with(|s| s.borrow().reflected(k, r, stored));
    recs.retain(|k, r| r.is_none_or(|r| applies(k, &r)));
    // The key is normalised (lower-case host, default port dropped): its authority is exactly
    // what `purge::host_of` gives for it, without parsing the URL again.
    let host = meta.host().to_string();
    let path = meta.path().to_string();
    let gate = recs.get(purge::PREFIX_GATE_KEY).copied().flatten();
    if purge::prefix_gate_open(meta.stored_at_ms, gate) {
        let pk = purge::prefix_keys_to_check(&host, &path);
        let more = read(env, &pk, now_ms).await;
        recs.extend(
            more.into_iter()
                .filter(|(k, r)| r.is_none_or(|r| applies(k, &r))),
        );
    }
    purge::check_entry(meta.stored_at_ms, &meta.tags, url_key, &host, &path, |k| {
        recs.get(k).copied().flatten()
    })
}
