//! The worker's bindings by name (wrangler.toml), and the calls to its two Durable Objects.

use super::conv;
use super::rt::{Env, Fetcher, Result};
use crate::purge;

/// KV binding holding purge records and the snapshot.
pub const PURGE_KV: &str = "PURGE_KV";
/// The dashboard's files.
pub const ASSETS: &str = "ASSETS";

/// The purge ledger's stub (one object, "global").
pub fn ledger(env: &Env) -> Result<Fetcher> {
    env.durable_object("PURGE_LEDGER", "global")
}

/// The metrics hub's stub (one object, "global").
pub fn hub(env: &Env) -> Result<Fetcher> {
    env.durable_object("METRICS_HUB", "global")
}

/// How long a request waits for the ledger's snapshot (milliseconds; see [`ledger_snapshot`]).
pub const LEDGER_SNAPSHOT_TIMEOUT_MS: u64 = 5_000;

/// The purge snapshot from the ledger itself (which publishes it to KV if it never did): used
/// when KV has none yet. `None` when the ledger cannot be reached, answers anything else, or
/// gives no answer within [`LEDGER_SNAPSHOT_TIMEOUT_MS`] (the call is cut: a request waiting
/// for its isolate's first view never hangs on a stalled ledger).
pub async fn ledger_snapshot(env: &Env) -> Option<purge::PurgeSnapshot> {
    let req = conv::get_within("https://ledger/snapshot", LEDGER_SNAPSHOT_TIMEOUT_MS).ok()?;
    let ans = ledger(env).ok()?.fetch(&req).await.ok()?;
    if ans.status() != 200 {
        return None;
    }
    purge::PurgeSnapshot::decode(&conv::body_text(ans.text()).await.ok()?)
}

/// A var or secret that is set and not blank.
pub fn setting(env: &Env, name: &str) -> Option<String> {
    env.var(name).filter(|s| !s.trim().is_empty())
}
