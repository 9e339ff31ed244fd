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

/// The purge snapshot from the ledger itself (which publishes it to KV if it never did): used
/// when KV has none yet. `None` when the ledger cannot be reached or answers anything else.
pub async fn ledger_snapshot(env: &Env) -> Option<purge::PurgeSnapshot> {
    let ans = ledger(env)
        .ok()?
        .get("https://ledger/snapshot")
        .await
        .ok()?;
    if ans.status() != 200 {
        return None;
    }
    purge::PurgeSnapshot::decode(&conv::body_text(ans.text()).await.ok()?)
}

/// A var or secret that is set and not blank.
pub fn setting(env: &Env, name: &str) -> Option<String> {
    env.var(name).filter(|s| !s.trim().is_empty())
}
