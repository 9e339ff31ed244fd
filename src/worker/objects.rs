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
//!   With the zone purge accelerator configured, it also keeps one job per purge (`z:<id>`)
//!   whose calls to the zone purge API its alarm makes, off the webhook's answer path, retried
//!   per `purge::zone::classify`; each call's outcome goes into the purge log.
//! - [`MetricsHub`] (one instance): aggregates isolates' counter flushes into 10 s buckets.

use super::conv::json;
use crate::json::{Arr, Json, Obj};
use crate::metrics::{Aggregate, Snapshot};
use crate::purge::zone::ZoneJob;
use crate::purge::{self, PurgeLogEntry, PurgeRecord, PurgeSnapshot};
use crate::webhook_sig::{self, ReplayGuard};
use std::cell::RefCell;
use wasm_bindgen::JsValue;
use wasm_bindgen_futures::JsFuture;
use worker::{durable_object, DurableObject, Env, Request, Response, Result, State};

/// Purge log entries kept.
pub const PURGE_LOG_MAX: usize = 100;

/// What the worker asks the ledger to record.
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
    /// The zone purge job to run (`purge::zone::ZoneJob` as JSON; only when the accelerator is
    /// configured and the purge has calls to make). Stored as is: the ledger only executes it.
    pub zone: Option<String>,
}

impl PurgeCommand {
    /// As JSON (the worker → ledger request body).
    pub fn to_json(&self) -> String {
        let webhook = match &self.webhook {
            Some((id, ts)) => Arr::new().str(id).raw(&ts.to_string()).end(),
            None => "null".to_string(),
        };
        Obj::new()
            .strs("keys", &self.keys)
            .str("record", &self.record)
            .u64("ttl", self.ttl)
            .raw("webhook", &webhook)
            .raw("log", &self.log.to_json())
            .opt_str("zone", self.zone.as_deref())
            .end()
    }

    /// Reads [`PurgeCommand::to_json`].
    pub fn from_json(j: &Json) -> Option<Self> {
        let webhook = match j.get("webhook")? {
            Json::Null => None,
            w => match w.as_array()? {
                [Json::Str(id), ts] => Some((id.clone(), ts.as_u64()?)),
                _ => return None,
            },
        };
        Some(PurgeCommand {
            keys: j.get("keys")?.as_strings()?,
            record: j.str_of("record")?,
            ttl: j.get("ttl")?.as_u64()?,
            webhook,
            log: PurgeLogEntry::from_json(j.get("log")?)?,
            zone: j.str_of("zone"),
        })
    }
}

/// Serialises purges (see the module docs).
#[durable_object]
pub struct PurgeLedger {
    state: State,
    env: Env,
    replay: RefCell<ReplayGuard>,
    /// Serialises `/purge` commands (see the module docs).
    lock: futures_util::lock::Mutex<()>,
    /// When the snapshot was last written to KV, and the alarm time last set (ms; in memory:
    /// after a restart the first snapshot write goes out at once, and the alarm is asked for).
    snapshot_put_ms: std::cell::Cell<Option<u64>>,
    alarm_at_ms: std::cell::Cell<Option<u64>>,
}

impl DurableObject for PurgeLedger {
    fn new(state: State, env: Env) -> Self {
        Self {
            state,
            env,
            replay: RefCell::new(ReplayGuard::new(
                webhook_sig::DEFAULT_TOLERANCE_SECS,
                10_000,
            )),
            lock: futures_util::lock::Mutex::new(()),
            snapshot_put_ms: std::cell::Cell::new(None),
            alarm_at_ms: std::cell::Cell::new(None),
        }
    }

    async fn fetch(&self, mut req: Request) -> Result<Response> {
        let path = req.path();
        let storage = self.state.storage();
        match path.as_str() {
            "/purge" => {
                let Some(cmd) = read_json(&mut req, PurgeCommand::from_json).await? else {
                    return Response::error("bad command", 400);
                };
                let Some(new) = PurgeRecord::decode(&cmd.record) else {
                    return Response::error("bad record", 400);
                };
                // Held until the command is fully applied (records, KV, log).
                let _one_at_a_time = self.lock.lock().await;
                let now = js_sys::Date::now() as u64;
                if let Some((id, ts)) = &cmd.webhook {
                    // Ids are remembered in memory and in storage, so a restart of the ledger
                    // does not reopen the replay window (the alarm forgets them once too old).
                    let seen_key = format!("w:{id}");
                    let stored = get_raw(&self.state, &seen_key)
                        .await
                        .and_then(|v| v.as_f64())
                        .map(|t| t as u64);
                    let replayed = stored
                        .is_some_and(|t| webhook_sig::replay_remembered(t, now / 1000))
                        || self
                            .replay
                            .borrow_mut()
                            .check_and_insert(id, *ts, now / 1000)
                            .is_err();
                    if replayed {
                        return json(200, r#"{"replayed":true}"#);
                    }
                    storage
                        .put_raw(&seen_key, JsValue::from_f64((now / 1000) as f64))
                        .await?;
                }
                let kv = self.env.kv(super::purge_check::BINDING)?;
                let mut merged_all = Vec::with_capacity(cmd.keys.len());
                for key in &cmd.keys {
                    let held: Option<String> = get_raw(&self.state, &format!("r:{key}"))
                        .await
                        .and_then(|v| v.as_string());
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
                        // put_bytes: `put` runs any value through serde-wasm-bindgen (and
                        // float formatting) first; a record is ASCII text.
                        kv.put_bytes(key, enc.as_bytes())?
                            .expiration_ttl(cmd.ttl)
                            .execute()
                            .await
                    }
                });
                for r in futures_util::future::join_all(puts).await {
                    r?;
                }
                self.add_to_snapshot(&merged_all, now).await?;
                for (key, enc) in merged_all {
                    storage.put_raw(&format!("r:{key}"), enc).await?;
                }
                if let Some(job) = &cmd.zone {
                    self.zone_enqueue(&cmd.log.id, job, now).await?;
                }
                let mut log = get_log(&self.state).await;
                log.push(cmd.log);
                if log.len() > PURGE_LOG_MAX {
                    let extra = log.len() - PURGE_LOG_MAX;
                    log.drain(..extra);
                }
                storage.put_raw("log", log_json(log.iter())).await?;
                if storage.get_alarm().await.ok().flatten().is_none() {
                    storage.set_alarm(PRUNE_EVERY_MS as i64).await?;
                }
                json(200, r#"{"replayed":false}"#)
            }
            "/snapshot" => {
                let _one_at_a_time = self.lock.lock().await;
                let now = js_sys::Date::now() as u64;
                let text = self.load_snapshot(now).await.encode();
                if self.snapshot_put_ms.get().is_none() {
                    self.state
                        .storage()
                        .put_raw(SNAP_TEXT, text.as_str())
                        .await?;
                    self.publish_snapshot(&text, now).await?;
                }
                Response::ok(text)
            }
            "/log" => {
                let log = get_log(&self.state).await;
                let newest_first = log_json(log.iter().rev());
                json(200, &Obj::new().raw("purges", &newest_first).end())
            }
            _ => Response::error("not found", 404),
        }
    }

    /// Runs the zone purge calls that are due, then (hourly) forgets what can no longer
    /// matter, and sets the next alarm for whichever comes first.
    async fn alarm(&self) -> Result<Response> {
        let now = js_sys::Date::now() as u64;
        self.zone_run(now).await;
        let _one_at_a_time = self.lock.lock().await;
        let storage = self.state.storage();
        let now = js_sys::Date::now() as u64;
        // The alarm also publishes a deferred snapshot (see `publish_snapshot`).
        self.alarm_at_ms.set(None);
        if let Some(text) = get_raw(&self.state, SNAP_TEXT)
            .await
            .and_then(|v| v.as_string())
        {
            self.publish_snapshot(&text, now).await?;
        }
        let mut prune_at = get_raw(&self.state, PRUNE_AT_KEY)
            .await
            .and_then(|v| v.as_f64())
            .map(|t| t as u64);
        if prune_at.is_none_or(|t| t <= now) {
            let left = self.prune(now).await?;
            prune_at = (left > 0).then(|| now.saturating_add(PRUNE_EVERY_MS));
            match prune_at {
                Some(t) => {
                    storage
                        .put_raw(PRUNE_AT_KEY, JsValue::from_f64(t as f64))
                        .await?
                }
                None => {
                    storage.delete(PRUNE_AT_KEY).await?;
                }
            }
        }
        let next = [prune_at, self.zone_next_due().await]
            .into_iter()
            .flatten()
            .min();
        if let Some(at) = next {
            self.arm_alarm(at, now).await?;
        }
        Response::ok("alarm")
    }
}

/// Storage key of the time (ms) of the next prune.
const PRUNE_AT_KEY: &str = "prune_at";

impl PurgeLedger {
    /// Forgets what can no longer matter: held records older than the longest an entry can
    /// live (their KV copies have expired too), and webhook ids past the replay window.
    /// Returns how many are left. The caller holds the lock.
    async fn prune(&self, now: u64) -> Result<usize> {
        let storage = self.state.storage();
        let mut stale = Vec::new();
        let mut left = 0usize;
        for prefix in ["r:", "w:"] {
            let map = storage
                .list_with_options(worker::ListOptions::new().prefix(prefix))
                .await?;
            for entry in map.entries() {
                let Ok(pair) = entry else { continue };
                let pair = js_sys::Array::from(&pair);
                let key = pair.get(0).as_string().unwrap_or_default();
                let value = pair.get(1);
                let old = if prefix == "r:" {
                    value
                        .as_string()
                        .and_then(|v: String| PurgeRecord::decode(&v))
                        .is_some_and(|r| {
                            purge::record_prunable(&r, now, crate::decision::MAX_ENTRY_KEEP_SECS)
                        })
                } else {
                    value
                        .as_f64()
                        .is_some_and(|t| !webhook_sig::replay_remembered(t as u64, now / 1000))
                };
                if old {
                    stale.push(key);
                } else {
                    left += 1;
                }
            }
        }
        for chunk in stale.chunks(128) {
            storage.delete_multiple(chunk.to_vec()).await?;
        }
        Ok(left)
    }

    // ---- Zone purge accelerator (issue #18): jobs under "z:<purge id>", run by the alarm.

    /// Stores the zone job of a purge being applied (JSON, as the worker planned it; the caller
    /// holds the lock) and brings the alarm forward to now.
    async fn zone_enqueue(&self, id: &str, job: &str, now: u64) -> Result<()> {
        let storage = self.state.storage();
        storage
            .put_raw(&format!("{ZONE_JOB_PREFIX}{id}"), job)
            .await?;
        let due_later = storage
            .get_alarm()
            .await
            .ok()
            .flatten()
            .is_none_or(|t| t > now as i64);
        if due_later {
            storage.set_alarm(0i64).await?;
        }
        Ok(())
    }

    /// The stored zone jobs.
    async fn zone_jobs(&self) -> Vec<ZoneJob> {
        let Ok(map) = self
            .state
            .storage()
            .list_with_options(worker::ListOptions::new().prefix(ZONE_JOB_PREFIX))
            .await
        else {
            return Vec::new();
        };
        map.values()
            .into_iter()
            .filter_map(|v| v.ok()?.as_string())
            .filter_map(|t| Json::parse(&t).ok().as_ref().and_then(ZoneJob::from_json))
            .collect()
    }

    /// When the next zone call is due (`None`: no job left).
    async fn zone_next_due(&self) -> Option<u64> {
        self.zone_jobs()
            .await
            .iter()
            .filter_map(ZoneJob::next_due)
            .min()
    }

    /// Makes every zone call that is due (one at a time: the API's rate limits are per
    /// account), then stores each job's progress and its log entry's status. Never fails: a
    /// storage error leaves the job as it was, to be retried by the next alarm.
    async fn zone_run(&self, now: u64) {
        let jobs = self.zone_jobs().await;
        if jobs.is_empty() {
            return;
        }
        let cfg = super::zone::config(&self.env);
        for mut job in jobs {
            let due = job.due(now);
            if due.is_empty() {
                continue;
            }
            match &cfg {
                Some(cfg) => {
                    for i in due {
                        let Some(call) = job.calls.get(i).map(|c| c.call.clone()) else {
                            continue;
                        };
                        let answer = super::zone::call(cfg, &call).await;
                        job.record(
                            i,
                            &answer,
                            js_sys::Date::now() as u64,
                            js_sys::Math::random(),
                        );
                    }
                }
                None => job.abandon("CF_API_TOKEN / CF_ZONE_ID are no longer set"),
            }
            let _one_at_a_time = self.lock.lock().await;
            let key = format!("{ZONE_JOB_PREFIX}{}", job.id);
            let storage = self.state.storage();
            let stored = if job.finished() {
                storage.delete(&key).await.map(|_| ())
            } else {
                storage.put_raw(&key, job.to_json()).await
            };
            if let Err(e) = stored {
                worker::console_error!("edgecache: zone job {}: {e}", job.id);
                continue;
            }
            let mut log = get_log(&self.state).await;
            if let Some(e) = log.iter_mut().rev().find(|e| e.id == job.id) {
                e.zone = Some(job.status());
                if let Err(e) = storage.put_raw("log", log_json(log.iter())).await {
                    worker::console_error!("edgecache: purge log: {e}");
                }
            }
        }
    }
}

/// Storage key prefix of zone purge jobs.
const ZONE_JOB_PREFIX: &str = "z:";

/// Ledger storage: the snapshot's encoding.
const SNAP_TEXT: &str = "snapshot";

/// The purge snapshot (see `purge::PurgeSnapshot`): every record the ledger holds, bounded, in
/// one KV key that isolates read once per refresh interval.
impl PurgeLedger {
    /// Adds the records just written to KV to the snapshot, stores it and publishes it (now, or
    /// from the alarm when KV's one-write-per-second limit says wait).
    async fn add_to_snapshot(&self, merged: &[(&String, String)], now: u64) -> Result<()> {
        let mut snap = self.load_snapshot(now).await;
        for (key, enc) in merged {
            if let Some(r) = PurgeRecord::decode(enc) {
                snap.add(key, r);
            }
        }
        snap.fit(
            purge::SNAPSHOT_MAX_BYTES,
            now,
            crate::decision::MAX_ENTRY_KEEP_SECS,
        );
        let text = snap.encode();
        self.state
            .storage()
            .put_raw(SNAP_TEXT, text.as_str())
            .await?;
        self.publish_snapshot(&text, now).await
    }

    /// The snapshot stored, else one built from the held records (the first time, e.g. right
    /// after this version is deployed: complete, since every record that can still matter is
    /// held). Read from storage each time (no copy in memory that could go stale).
    async fn load_snapshot(&self, now: u64) -> PurgeSnapshot {
        let stored = get_raw(&self.state, SNAP_TEXT)
            .await
            .and_then(|v| v.as_string())
            .and_then(|t| PurgeSnapshot::decode(&t));
        match stored {
            Some(s) => s,
            None => {
                let mut s = PurgeSnapshot::new(0);
                for (key, r) in self.held_records().await {
                    s.add(&key, r);
                }
                s.fit(
                    purge::SNAPSHOT_MAX_BYTES,
                    now,
                    crate::decision::MAX_ENTRY_KEEP_SECS,
                );
                s
            }
        }
    }

    /// Every record held beside KV (`r:<key>` in storage).
    async fn held_records(&self) -> Vec<(String, PurgeRecord)> {
        let Ok(map) = self
            .state
            .storage()
            .list_with_options(worker::ListOptions::new().prefix("r:"))
            .await
        else {
            return Vec::new();
        };
        let mut out = Vec::new();
        for entry in map.entries() {
            let Ok(pair) = entry else { continue };
            let pair = js_sys::Array::from(&pair);
            let key = pair.get(0).as_string().unwrap_or_default();
            let rec = pair
                .get(1)
                .as_string()
                .and_then(|v| PurgeRecord::decode(&v));
            if let (Some(k), Some(r)) = (key.strip_prefix("r:"), rec) {
                out.push((k.to_string(), r));
            }
        }
        out
    }

    /// Writes the snapshot `text` (as stored) to KV if KV allows a write to the key now;
    /// otherwise, or when the write fails, arms the alarm, which writes the stored one.
    async fn publish_snapshot(&self, text: &str, now: u64) -> Result<()> {
        let at = purge::next_publish_ms(now, self.snapshot_put_ms.get());
        if at <= now {
            let put = match self
                .env
                .kv(super::purge_check::BINDING)?
                .put_bytes(purge::SNAPSHOT_KEY, text.as_bytes())
            {
                Ok(b) => b.execute().await.is_ok(),
                Err(_) => false,
            };
            if put {
                self.snapshot_put_ms.set(Some(now));
                return Ok(());
            }
            worker::console_error!(
                "edgecache: purge snapshot write failed; retrying from the alarm"
            );
        }
        let retry = now.saturating_add(purge::KV_WRITE_MIN_INTERVAL_MS);
        self.arm_alarm(if at > now { at } else { retry }, now).await
    }

    /// Sets the object's alarm to `at_ms` (epoch ms) unless one is already set no later than
    /// that (known from memory, else asked for).
    async fn arm_alarm(&self, at_ms: u64, now: u64) -> Result<()> {
        // An alarm at or before `now` is the one running (or about to): it does not count.
        let soon_enough = |c: u64| c > now && c <= at_ms;
        if self.alarm_at_ms.get().is_some_and(soon_enough) {
            return Ok(());
        }
        let storage = self.state.storage();
        let current = storage.get_alarm().await.ok().flatten();
        if let Some(c) = current.filter(|c| *c > 0).map(|c| c as u64) {
            if soon_enough(c) {
                self.alarm_at_ms.set(Some(c));
                return Ok(());
            }
        }
        let offset = at_ms.saturating_sub(now).min(i64::MAX as u64) as i64;
        storage.set_alarm(offset).await?;
        self.alarm_at_ms.set(Some(at_ms));
        Ok(())
    }
}

/// The request body read as JSON by `from_json` (`None` when it is not JSON or not that shape).
async fn read_json<T>(req: &mut Request, from_json: fn(&Json) -> Option<T>) -> Result<Option<T>> {
    let body = req.text().await?;
    Ok(Json::parse(&body).ok().as_ref().and_then(from_json))
}

/// A stored value, as the runtime returns it (`None` when absent or on error). Values are only
/// strings and numbers, read and written as JS values (`put_raw`): the typed `Storage::get`
/// goes through serde-wasm-bindgen, whose deserializer links float formatting (~15 KB of wasm).
async fn get_raw(state: &State, key: &str) -> Option<JsValue> {
    let storage = state.as_raw().storage().ok()?;
    let v = JsFuture::from(storage.get(key).ok()?).await.ok()?;
    (!v.is_undefined()).then_some(v)
}

/// A JSON text kept as a string value in the object's storage, parsed (`None` when absent or
/// unreadable).
async fn get_json(state: &State, key: &str) -> Option<Json> {
    let text = get_raw(state, key).await?.as_string()?;
    Json::parse(&text).ok()
}

/// The stored purge log, oldest first (empty when absent or unreadable).
async fn get_log(state: &State) -> Vec<PurgeLogEntry> {
    let Some(j) = get_json(state, "log").await else {
        return Vec::new();
    };
    j.as_array()
        .unwrap_or_default()
        .iter()
        .filter_map(PurgeLogEntry::from_json)
        .collect()
}

/// Log entries as a JSON array.
fn log_json<'a>(entries: impl Iterator<Item = &'a PurgeLogEntry>) -> String {
    let mut a = Arr::new();
    for e in entries {
        a = a.raw(&e.to_json());
    }
    a.end()
}

/// How often the ledger prunes what it no longer needs (relative alarm time, ms).
const PRUNE_EVERY_MS: u64 = 3_600_000;

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
            let loaded = get_json(&self.state, "agg")
                .await
                .and_then(|j| Aggregate::from_json(&j))
                .unwrap_or_default();
            let mut slot = self.agg.borrow_mut();
            if slot.is_none() {
                *slot = Some(loaded);
            }
        }
        let now = js_sys::Date::now() as u64;
        match req.path().as_str() {
            "/add" => {
                let Some(snap) = read_json(&mut req, Snapshot::from_json).await? else {
                    return Response::error("bad snapshot", 400);
                };
                let copy = {
                    let mut a = self.agg.borrow_mut();
                    let a = a.get_or_insert_with(Aggregate::default);
                    a.add(&snap, now);
                    a.clone()
                };
                storage.put_raw("agg", copy.to_json()).await?;
                Response::ok("ok")
            }
            "/stats" => {
                let stats = self
                    .agg
                    .borrow()
                    .as_ref()
                    .map(|a| a.to_stats_json(now))
                    .unwrap_or_else(|| Aggregate::default().to_stats_json(now));
                json(200, &stats)
            }
            _ => Response::error("not found", 404),
        }
    }
}
