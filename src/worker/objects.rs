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

use super::bindings::PURGE_KV;
use super::conv::{self, json, text};
use super::rt::{DoState, Env, Result, Storage};
use crate::json::Json;
use crate::metrics::{Aggregate, Snapshot};
use crate::purge::ledger_keys::{HELD_RECORD, LOG, PRUNE_AT, SEEN_WEBHOOK, SNAPSHOT, ZONE_JOB};
use crate::purge::zone::ZoneJob;
use crate::purge::{self, PurgeCommand, PurgeRecord, PurgeSnapshot, PRUNE_EVERY_MS};
use crate::webhook_sig::{self, ReplayGuard};
use std::cell::{Cell, RefCell};
use std::rc::Rc;
use wasm_bindgen::prelude::*;
use web_sys::{Request, Response};

/// The longest a stored entry can live (s): older records can no longer purge anything.
const MAX_KEEP: u64 = crate::decision::MAX_ENTRY_KEEP_SECS;

/// Runs an object's async method as the promise the runtime awaits.
fn promise<F>(f: F) -> js_sys::Promise
where
    F: std::future::Future<Output = Result<Response>> + 'static,
{
    wasm_bindgen_futures::future_to_promise(async move {
        f.await.map(JsValue::from).map_err(JsValue::from)
    })
}

/// Serialises purges (see the module docs).
#[wasm_bindgen]
pub struct PurgeLedger(Rc<Ledger>);

#[wasm_bindgen]
impl PurgeLedger {
    /// `new PurgeLedger(state, env)`, as the runtime constructs a Durable Object.
    #[wasm_bindgen(constructor)]
    pub fn new(state: JsValue, env: JsValue) -> PurgeLedger {
        PurgeLedger(Rc::new(Ledger {
            state: DoState::new(state),
            env: Env::new(env),
            replay: RefCell::new(ReplayGuard::new(
                webhook_sig::DEFAULT_TOLERANCE_SECS,
                10_000,
            )),
            lock: futures_util::lock::Mutex::new(()),
            snapshot_put_ms: Cell::new(None),
            alarm_at_ms: Cell::new(None),
        }))
    }

    /// `fetch(request)`.
    pub fn fetch(&self, req: Request) -> js_sys::Promise {
        let me = self.0.clone();
        promise(async move { me.fetch(req).await })
    }

    /// `alarm()`.
    pub fn alarm(&self) -> js_sys::Promise {
        let me = self.0.clone();
        promise(async move { me.alarm().await })
    }
}

struct Ledger {
    state: DoState,
    env: Env,
    replay: RefCell<ReplayGuard>,
    /// Serialises `/purge` commands (see the module docs).
    lock: futures_util::lock::Mutex<()>,
    /// When the snapshot was last written to KV, and the alarm time last set (ms; in memory:
    /// after a restart the first snapshot write goes out at once, and the alarm is asked for).
    snapshot_put_ms: Cell<Option<u64>>,
    alarm_at_ms: Cell<Option<u64>>,
}

impl Ledger {
    fn storage(&self) -> Result<Storage> {
        self.state.storage()
    }

    async fn fetch(&self, req: Request) -> Result<Response> {
        match conv::path(&req).as_str() {
            "/purge" => {
                let body = conv::body_text(req.text()).await?;
                let Some(cmd) = PurgeCommand::parse(&body) else {
                    return text(400, "bad command");
                };
                self.apply(cmd).await
            }
            "/snapshot" => {
                let _one_at_a_time = self.lock.lock().await;
                let now = conv::now_ms();
                let snap = self.load_snapshot(now).await.encode();
                if self.snapshot_put_ms.get().is_none() {
                    self.storage()?.put(SNAPSHOT, snap.as_str()).await?;
                    self.publish_snapshot(&snap, now).await?;
                }
                text(200, &snap)
            }
            "/log" => json(200, &purge::log_answer(&self.log().await)),
            _ => text(404, "not found"),
        }
    }

    /// Applies one purge command: replay check, records merged and written to KV, the
    /// snapshot, the held copies, the zone job and the log.
    async fn apply(&self, cmd: PurgeCommand) -> Result<Response> {
        let Some(new) = PurgeRecord::decode(&cmd.record) else {
            return text(400, "bad record");
        };
        let storage = self.storage()?;
        // Held until the command is fully applied (records, KV, log).
        let _one_at_a_time = self.lock.lock().await;
        let now = conv::now_ms();
        if let Some((id, ts)) = &cmd.webhook {
            // Ids are remembered in memory and in storage, so a restart of the ledger
            // does not reopen the replay window (the alarm forgets them once too old).
            let seen_key = format!("{SEEN_WEBHOOK}{id}");
            let stored = self.get(&seen_key).await.and_then(|v| v.as_f64());
            let stored = stored.map(|t| t as u64);
            let replayed =
                purge::replayed(stored, &mut self.replay.borrow_mut(), id, *ts, now / 1000);
            if replayed {
                return json(200, purge::replayed_json(true));
            }
            storage
                .put(&seen_key, JsValue::from_f64((now / 1000) as f64))
                .await?;
        }
        let kv = self.env.kv(PURGE_KV)?;
        let mut merged_all = Vec::with_capacity(cmd.keys.len());
        for key in &cmd.keys {
            let held = self
                .get(&format!("{HELD_RECORD}{key}"))
                .await
                .and_then(|v| v.as_string());
            merged_all.push((key, purge::merged_record(held.as_deref(), new).encode()));
        }
        // KV first, then the held copies: a failed KV write leaves the held record as it
        // was, and the next purge of that key writes the merge again.
        let puts = merged_all
            .iter()
            .map(|(key, enc)| kv.put_text(key, enc, Some(cmd.ttl)));
        for r in futures_util::future::join_all(puts).await {
            r?;
        }
        self.add_to_snapshot(&merged_all, now).await?;
        for (key, enc) in merged_all {
            storage.put(&format!("{HELD_RECORD}{key}"), enc).await?;
        }
        if let Some(job) = &cmd.zone {
            self.zone_enqueue(&cmd.log.id, job, now).await?;
        }
        let mut log = self.log().await;
        purge::push_log(&mut log, cmd.log);
        storage.put(LOG, purge::log_json(log.iter())).await?;
        if storage.get_alarm().await.ok().flatten().is_none() {
            storage
                .set_alarm(conv::now_ms().saturating_add(PRUNE_EVERY_MS))
                .await?;
        }
        json(200, purge::replayed_json(false))
    }

    /// A stored value (`None` when absent or on error). Values are only strings and numbers.
    async fn get(&self, key: &str) -> Option<JsValue> {
        self.storage().ok()?.get(key).await.ok().flatten()
    }

    /// The stored purge log, oldest first (empty when absent or unreadable).
    async fn log(&self) -> Vec<purge::PurgeLogEntry> {
        let text = self.get(LOG).await.and_then(|v| v.as_string());
        purge::parse_log(text.as_deref())
    }

    /// Runs the zone purge calls that are due, then (hourly) forgets what can no longer
    /// matter, and sets the next alarm for whichever comes first.
    async fn alarm(&self) -> Result<Response> {
        let now = conv::now_ms();
        self.zone_run(now).await;
        let _one_at_a_time = self.lock.lock().await;
        let storage = self.storage()?;
        let now = conv::now_ms();
        // The alarm also publishes a deferred snapshot (see `publish_snapshot`).
        self.alarm_at_ms.set(None);
        if let Some(snap) = self.get(SNAPSHOT).await.and_then(|v| v.as_string()) {
            self.publish_snapshot(&snap, now).await?;
        }
        let mut prune_at = self
            .get(PRUNE_AT)
            .await
            .and_then(|v| v.as_f64())
            .map(|t| t as u64);
        if prune_at.is_none_or(|t| t <= now) {
            let left = self.prune(now).await?;
            prune_at = purge::next_prune(left, now);
            match prune_at {
                Some(t) => storage.put(PRUNE_AT, JsValue::from_f64(t as f64)).await?,
                None => storage.delete(PRUNE_AT).await?,
            }
        }
        let next = [prune_at, self.zone_next_due().await]
            .into_iter()
            .flatten()
            .min();
        if let Some(at) = next {
            self.arm_alarm(at, now).await?;
        }
        text(200, "alarm")
    }

    /// Forgets what can no longer matter: held records older than the longest an entry can
    /// live (their KV copies have expired too), and webhook ids past the replay window.
    /// Returns how many are left. The caller holds the lock.
    async fn prune(&self, now: u64) -> Result<usize> {
        let storage = self.storage()?;
        let mut stale = Vec::new();
        let mut left = 0usize;
        for prefix in [HELD_RECORD, SEEN_WEBHOOK] {
            for (key, value) in storage.list(prefix).await? {
                let text = value.as_string();
                if purge::prunable(&key, text.as_deref(), value.as_f64(), now, MAX_KEEP) {
                    stale.push(key);
                } else {
                    left += 1;
                }
            }
        }
        for chunk in stale.chunks(128) {
            storage.delete_many(chunk).await?;
        }
        Ok(left)
    }

    // ---- Zone purge accelerator (issue #18): jobs under "z:<purge id>", run by the alarm.

    /// Stores the zone job of a purge being applied (JSON, as the worker planned it; the caller
    /// holds the lock) and brings the alarm forward to now.
    async fn zone_enqueue(&self, id: &str, job: &str, now: u64) -> Result<()> {
        let storage = self.storage()?;
        storage.put(&format!("{ZONE_JOB}{id}"), job).await?;
        let due_later = storage
            .get_alarm()
            .await
            .ok()
            .flatten()
            .is_none_or(|t| t > now);
        if due_later {
            storage.set_alarm(conv::now_ms()).await?;
        }
        Ok(())
    }

    /// The stored zone jobs.
    async fn zone_jobs(&self) -> Vec<ZoneJob> {
        let Ok(storage) = self.storage() else {
            return Vec::new();
        };
        let Ok(list) = storage.list(ZONE_JOB).await else {
            return Vec::new();
        };
        list.into_iter()
            .filter_map(|(_, v)| v.as_string())
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
                        job.record(i, &answer, conv::now_ms(), conv::rand01());
                    }
                }
                None => job.abandon("CF_API_TOKEN / CF_ZONE_ID are no longer set"),
            }
            let _one_at_a_time = self.lock.lock().await;
            let key = format!("{ZONE_JOB}{}", job.id);
            let stored = match self.storage() {
                Ok(s) if job.finished() => s.delete(&key).await,
                Ok(s) => s.put(&key, job.to_json()).await,
                Err(e) => Err(e),
            };
            if let Err(e) = stored {
                console_error!("edgecache: zone job {}: {e}", job.id);
                continue;
            }
            let mut log = self.log().await;
            if purge::note_zone_status(&mut log, &job) {
                let put = match self.storage() {
                    Ok(s) => s.put(LOG, purge::log_json(log.iter())).await,
                    Err(e) => Err(e),
                };
                if let Err(e) = put {
                    console_error!("edgecache: purge log: {e}");
                }
            }
        }
    }

    // ---- The purge snapshot (see `purge::PurgeSnapshot`): every record the ledger holds,
    // bounded, in one KV key that isolates read once per refresh interval.

    /// Adds the records just written to KV to the snapshot, stores it and publishes it (now, or
    /// from the alarm when KV's one-write-per-second limit says wait).
    async fn add_to_snapshot(&self, merged: &[(&String, String)], now: u64) -> Result<()> {
        let base = self.load_snapshot(now).await;
        let added = merged
            .iter()
            .filter_map(|(k, enc)| Some((k.as_str(), PurgeRecord::decode(enc)?)));
        let enc = purge::snapshot_with(base, added, now, MAX_KEEP).encode();
        self.storage()?.put(SNAPSHOT, enc.as_str()).await?;
        self.publish_snapshot(&enc, now).await
    }

    /// The snapshot stored, else one built from the held records (the first time, e.g. right
    /// after this version is deployed: complete, since every record that can still matter is
    /// held). Read from storage each time (no copy in memory that could go stale).
    async fn load_snapshot(&self, now: u64) -> PurgeSnapshot {
        let stored = self
            .get(SNAPSHOT)
            .await
            .and_then(|v| v.as_string())
            .and_then(|t| PurgeSnapshot::decode(&t));
        if let Some(s) = stored {
            return s;
        }
        let held = self.held_records().await;
        purge::snapshot_with(PurgeSnapshot::new(0), held, now, MAX_KEEP)
    }

    /// Every record held beside KV (`r:<key>` in storage).
    async fn held_records(&self) -> Vec<(String, PurgeRecord)> {
        let Ok(storage) = self.storage() else {
            return Vec::new();
        };
        let Ok(list) = storage.list(HELD_RECORD).await else {
            return Vec::new();
        };
        list.into_iter()
            .filter_map(|(key, v)| {
                let r = PurgeRecord::decode(&v.as_string()?)?;
                Some((key.strip_prefix(HELD_RECORD)?.to_string(), r))
            })
            .collect()
    }

    /// Writes the snapshot `snap` (as stored) to KV if KV allows a write to the key now;
    /// otherwise, or when the write fails, arms the alarm, which writes the stored one.
    async fn publish_snapshot(&self, snap: &str, now: u64) -> Result<()> {
        let at = purge::next_publish_ms(now, self.snapshot_put_ms.get());
        if at <= now {
            let put = match self.env.kv(PURGE_KV) {
                Ok(kv) => kv.put_text(purge::SNAPSHOT_KEY, snap, None).await.is_ok(),
                Err(_) => false,
            };
            if put {
                self.snapshot_put_ms.set(Some(now));
                return Ok(());
            }
            console_error!("edgecache: purge snapshot write failed; retrying from the alarm");
        }
        self.arm_alarm(purge::publish_retry_at(at, now), now).await
    }

    /// Sets the object's alarm to `at_ms` (epoch ms) unless one is already set no later than
    /// that (known from memory, else asked for).
    async fn arm_alarm(&self, at_ms: u64, now: u64) -> Result<()> {
        let soon_enough = |c: u64| purge::alarm_covers(c, at_ms, now);
        if self.alarm_at_ms.get().is_some_and(soon_enough) {
            return Ok(());
        }
        let storage = self.storage()?;
        let current = storage.get_alarm().await.ok().flatten();
        if let Some(c) = current.filter(|c| *c > 0) {
            if soon_enough(c) {
                self.alarm_at_ms.set(Some(c));
                return Ok(());
            }
        }
        storage.set_alarm(at_ms).await?;
        self.alarm_at_ms.set(Some(at_ms));
        Ok(())
    }
}

/// Aggregates metrics flushes into time buckets.
#[wasm_bindgen]
pub struct MetricsHub(Rc<Hub>);

#[wasm_bindgen]
impl MetricsHub {
    /// `new MetricsHub(state, env)`, as the runtime constructs a Durable Object.
    #[wasm_bindgen(constructor)]
    pub fn new(state: JsValue, _env: JsValue) -> MetricsHub {
        MetricsHub(Rc::new(Hub {
            state: DoState::new(state),
            agg: RefCell::new(None),
        }))
    }

    /// `fetch(request)`.
    pub fn fetch(&self, req: Request) -> js_sys::Promise {
        let me = self.0.clone();
        promise(async move { me.fetch(req).await })
    }
}

struct Hub {
    state: DoState,
    agg: RefCell<Option<Aggregate>>,
}

impl Hub {
    async fn fetch(&self, req: Request) -> Result<Response> {
        let storage = self.state.storage()?;
        if self.agg.borrow().is_none() {
            let loaded = storage
                .get("agg")
                .await
                .ok()
                .flatten()
                .and_then(|v| v.as_string())
                .and_then(|t| Json::parse(&t).ok())
                .and_then(|j| Aggregate::from_json(&j))
                .unwrap_or_default();
            let mut slot = self.agg.borrow_mut();
            if slot.is_none() {
                *slot = Some(loaded);
            }
        }
        let now = conv::now_ms();
        match conv::path(&req).as_str() {
            "/add" => {
                let body = conv::body_text(req.text()).await?;
                let Some(snap) = Json::parse(&body)
                    .ok()
                    .as_ref()
                    .and_then(Snapshot::from_json)
                else {
                    return text(400, "bad snapshot");
                };
                let copy = {
                    let mut a = self.agg.borrow_mut();
                    let a = a.get_or_insert_with(Aggregate::default);
                    a.add(&snap, now);
                    a.clone()
                };
                storage.put("agg", copy.to_json()).await?;
                text(200, "ok")
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
            _ => text(404, "not found"),
        }
    }
}
