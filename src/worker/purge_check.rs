//! The purge check on a hit: purge records from KV, memoised per isolate.
//!
//! KV reads use `cacheTtl` (the edge keeps the value for that long) and the isolate memo keeps
//! each record for a couple of seconds, so reads per hit stay far below one. A purge received by
//! this isolate updates its memo at once.
//!
//! Clock skew: the isolate notes when it first saw each record ([`note`]); a record seen before
//! an entry's origin fetch started is reflected in the entry and does not purge it
//! ([`crate::purge::SeenRecords`] has the reasoning).

use super::{metrics, state};
use crate::decision::PurgeState;
use crate::meta::EntryMeta;
use crate::purge::{self, PurgeRecord, PurgeVerdict, SeenRecords};
use std::cell::RefCell;
use std::collections::HashMap;
use worker::Env;

thread_local! {
    static SEEN: RefCell<SeenRecords> = RefCell::new(SeenRecords::default());
}

/// Notes that this isolate holds `record` under `key` now (see [`SeenRecords::note`]).
pub fn note(key: &str, record: Option<PurgeRecord>, now_ms: u64) {
    SEEN.with(|s| s.borrow_mut().note(key, record, now_ms));
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
    let v = purge::check_entry(meta.stored_at_ms, &meta.tags, url_key, &host, &path, |k| {
        recs.get(k).copied().flatten()
    });
    match v {
        PurgeVerdict::Fresh => PurgeState::Clean,
        PurgeVerdict::SoftPurged { .. } => PurgeState::Soft,
        PurgeVerdict::HardPurged { .. } => PurgeState::Hard,
    }
}
