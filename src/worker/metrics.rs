//! Per-isolate counters: one integer addition on the request path. Flushed every few seconds
//! (through `ctx.wait_until`) to the metrics Durable Object, which aggregates them in time
//! buckets; losing an isolate loses at most its last unflushed seconds of counts.

use crate::metrics::Snapshot;
use crate::policy::Rule;
use std::cell::{Cell, RefCell};

/// How often an isolate sends its counts.
pub const FLUSH_EVERY_MS: u64 = 2_000;

thread_local! {
    static COUNTS: RefCell<Snapshot> = RefCell::new(Snapshot::default());
    static LAST_FLUSH: Cell<u64> = const { Cell::new(0) };
}

fn with(rule: &Rule, f: impl FnOnce(&mut crate::metrics::Counters)) {
    COUNTS.with(|c| f(c.borrow_mut().rule(&rule.name)));
}

/// A request that bypassed the cache.
pub fn bypass(rule: &Rule, reason: &str) {
    with(rule, |c| {
        c.requests += 1;
        c.bypasses += 1;
    });
    COUNTS.with(|c| {
        *c.borrow_mut()
            .bypass_reasons
            .entry(reason.to_string())
            .or_default() += 1
    });
}

/// A hit (fresh or stale).
pub fn hit(rule: &Rule, stale: bool, bytes: usize) {
    with(rule, |c| {
        c.requests += 1;
        if stale {
            c.hits_stale += 1;
        } else {
            c.hits_fresh += 1;
        }
        c.bytes_cache += bytes as u64;
    });
}

/// Header fields dropped (not representable by the runtime or the `http` crate).
pub fn headers_dropped(rule: &Rule, n: u64) {
    with(rule, |c| {
        c.headers_dropped = c.headers_dropped.saturating_add(n)
    });
}

/// A miss.
pub fn miss(rule: &Rule) {
    with(rule, |c| {
        c.requests += 1;
        c.misses += 1;
    });
}

/// A foreground revalidation (counted as a request; the outcome decides the rest).
pub fn revalidation(rule: &Rule) {
    with(rule, |c| {
        c.requests += 1;
        c.misses += 1;
        c.revalidations += 1;
    });
}

/// A revalidation started in the background (stale-while-revalidate, early refresh, soft purge).
pub fn background_revalidation(rule: &Rule) {
    with(rule, |c| c.revalidations += 1);
}

/// A stale entry served because the origin failed.
pub fn stale_error_served(rule: &Rule, bytes: usize) {
    with(rule, |c| {
        c.misses = c.misses.saturating_sub(1);
        c.hits_stale += 1;
        c.bytes_cache += bytes as u64;
    });
}

/// A request sent to the origin.
pub fn origin_fetch(rule: &Rule, bytes: usize) {
    with(rule, |c| {
        c.origin_fetches += 1;
        c.bytes_origin += bytes as u64;
    });
}

/// An origin failure.
pub fn origin_error(rule: &Rule) {
    with(rule, |c| c.origin_errors += 1);
}

/// A purge accepted.
pub fn purge() {
    COUNTS.with(|c| c.borrow_mut().purges += 1);
}

/// KV reads for purge checks.
pub fn kv_reads(n: u64) {
    COUNTS.with(|c| c.borrow_mut().kv_reads += n);
}

/// Takes the counts if a flush is due (or `force`), resetting them.
pub fn take_due(now_ms: u64, force: bool) -> Option<Snapshot> {
    let due = force || now_ms.saturating_sub(LAST_FLUSH.with(Cell::get)) >= FLUSH_EVERY_MS;
    if !due {
        return None;
    }
    let snap = COUNTS.with(|c| std::mem::take(&mut *c.borrow_mut()));
    if snap.is_empty() {
        return None;
    }
    LAST_FLUSH.with(|l| l.set(now_ms));
    Some(snap)
}

/// Puts counts back after a failed flush so they are not lost.
pub fn restore(snap: &Snapshot) {
    COUNTS.with(|c| c.borrow_mut().merge(snap));
}
