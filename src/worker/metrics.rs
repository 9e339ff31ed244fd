//! Per-isolate counters: one integer addition on the request path (what each event counts is
//! `crate::metrics::Snapshot::record`). Flushed every few seconds (through `ctx.wait_until`) to
//! the metrics Durable Object, which aggregates them in time buckets; losing an isolate loses at
//! most its last unflushed seconds of counts.

use super::bindings;
use super::conv;
use super::rt::{Context, Env};
use crate::lifecycle::Metric;
use crate::metrics::Snapshot;
use crate::policy::Rule;
use std::cell::{Cell, RefCell};

/// How often an isolate sends its counts.
pub const FLUSH_EVERY_MS: u64 = 2_000;
/// How long a flush may wait for the hub (milliseconds): a stalled hub never holds a background
/// task, nor the stats API (which flushes before it reads, see [`flush_now`]), for longer.
/// A cut flush counts as failed: its counts go back into the isolate's, for the next one.
pub const FLUSH_TIMEOUT_MS: u64 = 5_000;

thread_local! {
    static COUNTS: RefCell<Snapshot> = RefCell::new(Snapshot::default());
    static LAST_FLUSH: Cell<u64> = const { Cell::new(0) };
}

fn with(f: impl FnOnce(&mut Snapshot)) {
    COUNTS.with(|c| f(&mut c.borrow_mut()));
}

/// Counts one event of a request under `rule`.
pub fn record(rule: &Rule, m: &Metric) {
    with(|s| s.record(&rule.name, m));
}

/// Header fields dropped (not representable by the runtime or the `http` crate).
pub fn headers_dropped(rule: &Rule, n: u64) {
    with(|s| s.headers_dropped(&rule.name, n));
}

/// A purge accepted.
pub fn purge() {
    with(|s| s.purges = s.purges.saturating_add(1));
}

/// KV reads for purge checks.
pub fn kv_reads(n: u64) {
    with(|s| s.kv_reads = s.kv_reads.saturating_add(n));
}

/// Takes the counts if a flush is due (or `force`), resetting them.
fn take_due(now_ms: u64, force: bool) -> Option<Snapshot> {
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
fn restore(snap: &Snapshot) {
    with(|s| s.merge(snap));
}

async fn send(env: &Env, snap: Snapshot) {
    let body = snap.to_json();
    let sent = match (
        bindings::hub(env),
        conv::request_within("https://hub/add", "POST", Some(&body), FLUSH_TIMEOUT_MS),
    ) {
        (Ok(stub), Ok(req)) => stub.fetch(&req).await.is_ok(),
        _ => false,
    };
    if !sent {
        restore(&snap);
    }
}

/// Sends the counts to the hub through `ctx.waitUntil` when a flush is due.
pub fn flush_in_background(env: &Env, ctx: &Context) {
    if let Some(snap) = take_due(conv::now_ms(), false) {
        let env = env.clone();
        ctx.wait_until(async move { send(&env, snap).await });
    }
}

/// Sends pending counters now (the stats API calls it so the page sees its own isolate's latest).
pub async fn flush_now(env: &Env) {
    if let Some(snap) = take_due(conv::now_ms(), true) {
        send(env, snap).await;
    }
}
