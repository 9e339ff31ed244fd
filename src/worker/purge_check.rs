//! The purge check on a hit: purge records from KV, memoised per isolate.
//!
//! KV reads use `cacheTtl` (the edge keeps the value for that long) and the isolate memo keeps
//! each record for a couple of seconds, so reads per hit stay far below one. A purge received by
//! this isolate updates its memo at once.
//!
//! Clock skew and causality. The core treats an entry stored up to `PURGE_SKEW_MS` (1 s) after a
//! purge as purged, since the purge time comes from another location's clock. Alone, that makes
//! every copy fetched in the first second after a purge count as purged as well: a hard purge
//! costs several origin fetches and a soft purge serves stale again and again. But a fetch that
//! this location started after it had *seen* the record is causally after the purge, whatever
//! the clocks say. So the isolate remembers when it first saw each record ([`note`]) and, for an
//! entry whose origin fetch started at or after that moment (`stored_at_ms` is when the origin
//! request was sent), that record is already reflected in the entry and is not consulted.
//! Without an observation (another isolate, or forgotten) the core's conservative rule applies.

use super::{metrics, state};
use crate::decision::PurgeState;
use crate::meta::EntryMeta;
use crate::purge::{self, PurgeRecord, PurgeVerdict};
use std::cell::RefCell;
use std::collections::HashMap;
use worker::Env;

/// Observations kept before the table is cleared (clearing only costs extra origin fetches).
const SEEN_MAX: usize = 10_000;

thread_local! {
    /// Record key → (newest `at_ms` seen, local ms when this isolate first saw it).
    static SEEN: RefCell<HashMap<String, (u64, u64)>> = RefCell::new(HashMap::new());
}

/// Notes that this isolate holds `record` under `key` now (call it after the read completed,
/// with the current clock, never a time taken before the read).
pub fn note(key: &str, record: Option<PurgeRecord>, now_ms: u64) {
    let Some(r) = record else { return };
    SEEN.with(|s| {
        let mut s = s.borrow_mut();
        match s.get(key) {
            Some(&(at, _)) if at >= r.at_ms => {}
            _ => {
                if s.len() >= SEEN_MAX {
                    s.clear();
                }
                s.insert(key.to_string(), (r.at_ms, now_ms));
            }
        }
    });
}

/// Whether an entry whose origin fetch started at `stored_at_ms` was fetched after this isolate
/// had seen `record` (or a newer one) under `key`: the record is then already reflected in it.
fn seen_before_fetch(key: &str, record: &PurgeRecord, stored_at_ms: u64) -> bool {
    SEEN.with(|s| {
        s.borrow()
            .get(key)
            .is_some_and(|&(at, seen)| at >= record.at_ms && stored_at_ms >= seen)
    })
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
    out
}

/// Checks an entry against the purge records.
pub async fn state(env: &Env, meta: &EntryMeta, now_ms: u64) -> PurgeState {
    // URL purges name the URL, not a variant: compare without the folded-in vary part.
    let url_key = crate::key::strip_vary(&meta.key);
    let base = purge::base_keys_to_check(&meta.tags, url_key);
    let mut recs = read(env, &base, now_ms).await;
    // Records this isolate saw before the entry's origin fetch started are reflected in it.
    let stored = meta.stored_at_ms;
    let applies = |k: &str, r: &PurgeRecord| !seen_before_fetch(k, r, stored);
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
    let v = purge::check_entry(meta.stored_at_ms, &meta.tags, url_key, &host, &path, |k| {
        recs.get(k).copied().flatten()
    });
    match v {
        PurgeVerdict::Fresh => PurgeState::Clean,
        PurgeVerdict::SoftPurged { .. } => PurgeState::Soft,
        PurgeVerdict::HardPurged { .. } => PurgeState::Hard,
    }
}
