//! Durable Objects.
//!
//! - [`PurgeLedger`] (one instance, "global"): serialises purges. For each record key it merges
//!   the new record with the one it holds (`purge::merge`: the newest time wins, never moving
//!   backwards) and writes the result to KV, so concurrent purges of one tag can never overwrite
//!   each other with an older time, and KV itself is never read-modify-written. It also refuses
//!   replayed webhook ids (globally, not per isolate) and keeps the bounded purge log.
//!   Purge commands are applied one at a time (an async lock): a KV put is outside I/O, which
//!   opens the object's input gate, so without the lock two commands could interleave between
//!   reading a held record and storing the merge, and the older merge could land last.
//! - [`MetricsHub`] (one instance): aggregates isolates' counter flushes into 10 s buckets.

use crate::metrics::{Aggregate, Snapshot};
use crate::purge::{self, PurgeLogEntry, PurgeRecord};
use crate::webhook_sig::ReplayGuard;
use serde::{Deserialize, Serialize};
use std::cell::RefCell;
use worker::{durable_object, DurableObject, Env, Request, Response, Result, State};

/// Purge log entries kept.
pub const PURGE_LOG_MAX: usize = 100;

/// What the worker asks the ledger to record.
#[derive(Serialize, Deserialize)]
pub struct PurgeCommand {
    /// KV record keys.
    pub keys: Vec<String>,
    /// The record to merge into each.
    pub record: String,
    /// KV expiration TTL for the records.
    pub ttl: u64,
    /// Webhook id and timestamp, for signed calls (replay check).
    pub webhook: Option<(String, u64)>,
    /// The log entry.
    pub log: PurgeLogEntry,
}

/// Serialises purges (see the module docs).
#[durable_object]
pub struct PurgeLedger {
    state: State,
    env: Env,
    replay: RefCell<ReplayGuard>,
    /// Serialises `/purge` commands (see the module docs).
    lock: futures_util::lock::Mutex<()>,
}

impl DurableObject for PurgeLedger {
    fn new(state: State, env: Env) -> Self {
        Self {
            state,
            env,
            replay: RefCell::new(ReplayGuard::new(
                crate::webhook_sig::DEFAULT_TOLERANCE_SECS,
                10_000,
            )),
            lock: futures_util::lock::Mutex::new(()),
        }
    }

    async fn fetch(&self, mut req: Request) -> Result<Response> {
        let path = req.path();
        let storage = self.state.storage();
        match path.as_str() {
            "/purge" => {
                let cmd: PurgeCommand = req.json().await?;
                let Some(new) = PurgeRecord::decode(&cmd.record) else {
                    return Response::error("bad record", 400);
                };
                // Held until the command is fully applied (records, KV, log).
                let _one_at_a_time = self.lock.lock().await;
                let now = js_sys::Date::now() as u64;
                if let Some((id, ts)) = &cmd.webhook {
                    if self
                        .replay
                        .borrow_mut()
                        .check_and_insert(id, *ts, now / 1000)
                        .is_err()
                    {
                        return Response::from_json(&serde_json::json!({"replayed": true}));
                    }
                }
                let kv = self.env.kv(super::purge_check::BINDING)?;
                let mut merged_all = Vec::with_capacity(cmd.keys.len());
                for key in &cmd.keys {
                    let held: Option<String> =
                        storage.get(&format!("r:{key}")).await.ok().flatten();
                    let merged = match held.as_deref().and_then(PurgeRecord::decode) {
                        Some(old) => purge::merge(old, new),
                        None => new,
                    };
                    merged_all.push((key, merged.encode()));
                }
                // KV first, then the held copies: a failed KV write leaves the held record as it
                // was, and the next purge of that key writes the merge again.
                let puts = merged_all.iter().map(|(key, enc)| {
                    let kv = &kv;
                    async move {
                        kv.put(key, enc.clone())?
                            .expiration_ttl(cmd.ttl)
                            .execute()
                            .await
                    }
                });
                for r in futures_util::future::join_all(puts).await {
                    r?;
                }
                for (key, enc) in merged_all {
                    storage.put(&format!("r:{key}"), enc).await?;
                }
                let mut log: Vec<PurgeLogEntry> =
                    storage.get("log").await.ok().flatten().unwrap_or_default();
                log.push(cmd.log);
                if log.len() > PURGE_LOG_MAX {
                    let extra = log.len() - PURGE_LOG_MAX;
                    log.drain(..extra);
                }
                storage.put("log", &log).await?;
                Response::from_json(&serde_json::json!({"replayed": false}))
            }
            "/log" => {
                let mut log: Vec<PurgeLogEntry> =
                    storage.get("log").await.ok().flatten().unwrap_or_default();
                log.reverse();
                Response::from_json(&serde_json::json!({ "purges": log }))
            }
            _ => Response::error("not found", 404),
        }
    }
}

/// Aggregates metrics flushes.
#[durable_object]
pub struct MetricsHub {
    state: State,
    agg: RefCell<Option<Aggregate>>,
}

impl DurableObject for MetricsHub {
    fn new(state: State, _env: Env) -> Self {
        Self {
            state,
            agg: RefCell::new(None),
        }
    }

    async fn fetch(&self, mut req: Request) -> Result<Response> {
        let storage = self.state.storage();
        if self.agg.borrow().is_none() {
            let loaded: Aggregate = storage.get("agg").await.ok().flatten().unwrap_or_default();
            let mut slot = self.agg.borrow_mut();
            if slot.is_none() {
                *slot = Some(loaded);
            }
        }
        let now = js_sys::Date::now() as u64;
        match req.path().as_str() {
            "/add" => {
                let snap: Snapshot = req.json().await?;
                let copy = {
                    let mut a = self.agg.borrow_mut();
                    let a = a.get_or_insert_with(Aggregate::default);
                    a.add(&snap, now);
                    a.clone()
                };
                storage.put("agg", &copy).await?;
                Response::ok("ok")
            }
            "/stats" => {
                let json = self
                    .agg
                    .borrow()
                    .as_ref()
                    .map(|a| a.to_stats_json(now))
                    .unwrap_or_default();
                Response::from_json(&json)
            }
            _ => Response::error("not found", 404),
        }
    }
}
