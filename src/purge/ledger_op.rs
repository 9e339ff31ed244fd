//! The purge ledger's sequencing, sans I/O: which storage, KV, alarm and zone API call follows
//! which for each thing the `PurgeLedger` Durable Object is asked to do.
//!
//! A [`LedgerOp`] is one operation (a `fetch` to `/purge`, `/snapshot` or `/log`, or the
//! alarm). The adapter starts it ([`LedgerOp::start`]), carries out the [`LedgerAction`] it
//! returns, feeds the outcome back as a [`LedgerEvent`] with the time ([`LedgerOp::resume`]),
//! and so on until [`LedgerAction::Answer`] or [`LedgerAction::Fail`]. What the ledger keeps in
//! memory between operations (the replay guard, when the snapshot was last published, the
//! alarm last set) is a [`LedgerMemory`] shared by its operations.
//!
//! Flows (the decisions themselves are the functions of `ledger.rs`):
//! - purge: body → lock → replay check (`w:<id>`, then remembered) → held records read and
//!   merged → KV puts (in parallel) → snapshot stored and published (or deferred to the
//!   alarm) → held copies stored → zone job stored (alarm brought forward) → log → prune
//!   alarm armed when none is set → `{"replayed":false}`. A failed write ends the operation
//!   (the runtime's error); KV is written before the held copies, so a failed KV write leaves
//!   the held record as it was and the next purge of that key writes the merge again.
//! - snapshot: lock → snapshot (stored, else built from the held records) → stored and
//!   published when nothing was published since the ledger started → the snapshot.
//! - log: the stored log, newest first.
//! - alarm: the due zone calls, one at a time, each job's progress and log status stored under
//!   the lock (a failed write is reported and the job retried by the next alarm) → lock →
//!   the deferred snapshot published → prune when due → the alarm armed for the next prune or
//!   zone call.
//!
//! The operation is written as straight-line `async` code over [`LedgerAction`]s; nothing in it
//! waits on anything but the next event, so it is polled with a no-op waker (the sans-I/O
//! protocol crates' "events in, actions out", without a hand-written state enum).

use super::ledger::keys::{HELD_RECORD, LOG, PRUNE_AT, SEEN_WEBHOOK, SNAPSHOT, ZONE_JOB};
use super::ledger::{
    alarm_covers, log_answer, log_json, merged_record, next_prune, note_zone_status, parse_log,
    prunable, publish_retry_at, push_log, replayed, replayed_json, snapshot_with, PurgeCommand,
    PRUNE_EVERY_MS,
};
use super::record::PurgeRecord;
use super::snapshot::{next_publish_ms, PurgeSnapshot, SNAPSHOT_KEY};
use super::zone::{ApiAnswer, ZoneCall, ZoneJob};
use crate::json::Json;
use crate::webhook_sig::{self, ReplayGuard};
use std::cell::{Cell, RefCell};
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};

/// The longest a stored entry can live (s): older records can no longer purge anything.
const MAX_KEEP: u64 = crate::decision::MAX_ENTRY_KEEP_SECS;

/// Header fields of the ledger's JSON answers (never stored).
pub const JSON_HEADERS: &[(&str, &str)] = &[
    ("content-type", "application/json"),
    ("cache-control", "no-store"),
];
/// Header fields of the ledger's plain-text answers.
pub const TEXT_HEADERS: &[(&str, &str)] = &[("content-type", "text/plain;charset=UTF-8")];

/// A value in the ledger's storage: only strings and numbers are stored.
#[derive(Debug, Clone, PartialEq)]
pub enum Stored {
    /// A string (records, the log, the snapshot, zone jobs).
    Text(String),
    /// A number (seconds a webhook id was accepted at; the next prune time in ms).
    Num(f64),
}

impl Stored {
    /// The string, if it is one.
    pub fn text(&self) -> Option<&str> {
        match self {
            Stored::Text(t) => Some(t),
            Stored::Num(_) => None,
        }
    }

    /// The number, if it is one.
    pub fn num(&self) -> Option<f64> {
        match self {
            Stored::Num(n) => Some(*n),
            Stored::Text(_) => None,
        }
    }

    /// The number as whole non-negative units (ms or s); `None` when not a number.
    fn whole(&self) -> Option<u64> {
        #[allow(
            clippy::cast_possible_truncation,
            clippy::cast_sign_loss,
            reason = "times stored as JS numbers"
        )]
        self.num().map(|n| n as u64)
    }

    /// `n` as a stored number.
    #[allow(clippy::cast_precision_loss, reason = "times stored as JS numbers")]
    fn of(n: u64) -> Stored {
        Stored::Num(n as f64)
    }
}

/// One KV write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KvWrite {
    /// The key.
    pub key: String,
    /// The value.
    pub value: String,
    /// The expiration TTL (s), if any.
    pub ttl_secs: Option<u64>,
}

/// The ledger's answer to a `fetch` or the alarm.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LedgerAnswer {
    /// HTTP status.
    pub status: u16,
    /// Header fields ([`JSON_HEADERS`] or [`TEXT_HEADERS`]).
    pub headers: &'static [(&'static str, &'static str)],
    /// Body.
    pub body: String,
}

fn text(status: u16, body: impl Into<String>) -> LedgerAnswer {
    LedgerAnswer {
        status,
        headers: TEXT_HEADERS,
        body: body.into(),
    }
}

fn json(status: u16, body: impl Into<String>) -> LedgerAnswer {
    LedgerAnswer {
        status,
        headers: JSON_HEADERS,
        body: body.into(),
    }
}

/// What the adapter must do next, and the event it answers with.
#[derive(Debug, Clone, PartialEq)]
pub enum LedgerAction {
    /// Read the request body as text → [`LedgerEvent::Body`] or [`LedgerEvent::Failed`].
    ReadBody,
    /// Take the ledger's lock (one holder at a time; held until [`LedgerAction::Unlock`] or the
    /// end of the operation) → [`LedgerEvent::Done`].
    Lock,
    /// Release the lock → [`LedgerEvent::Done`].
    Unlock,
    /// Read a storage key → [`LedgerEvent::Got`] (an unreadable value is absent).
    Get(String),
    /// List the storage keys under a prefix → [`LedgerEvent::Listed`] or
    /// [`LedgerEvent::Failed`].
    List(&'static str),
    /// Write a storage key → [`LedgerEvent::Done`] or [`LedgerEvent::Failed`].
    Put(String, Stored),
    /// Delete storage keys (one call) → [`LedgerEvent::Done`] or [`LedgerEvent::Failed`].
    Delete(Vec<String>),
    /// Write to the purge KV namespace, all at once → [`LedgerEvent::Done`], or
    /// [`LedgerEvent::Failed`] when any write failed.
    KvPut(Vec<KvWrite>),
    /// Read the alarm time → [`LedgerEvent::Alarm`] (an unreadable alarm is none).
    GetAlarm,
    /// Set the alarm (epoch ms) → [`LedgerEvent::Done`] or [`LedgerEvent::Failed`].
    SetAlarm(u64),
    /// Read the zone purge accelerator's configuration → [`LedgerEvent::Configured`].
    ZoneConfig,
    /// Make one zone purge API call → [`LedgerEvent::ZoneAnswer`].
    ZoneCall(ZoneCall),
    /// Say this on the console → [`LedgerEvent::Done`].
    Report(String),
    /// The operation is over: answer this.
    Answer(LedgerAnswer),
    /// The operation is over: it failed with this runtime error.
    Fail(String),
}

/// What happened to the last [`LedgerAction`].
#[derive(Debug, Clone, PartialEq)]
pub enum LedgerEvent {
    /// The request body.
    Body(String),
    /// Done.
    Done,
    /// The runtime call failed.
    Failed(String),
    /// A stored value (`None`: absent or unreadable).
    Got(Option<Stored>),
    /// The stored entries under a prefix (full keys).
    Listed(Vec<(String, Stored)>),
    /// The alarm time (`None`: none set, or unreadable).
    Alarm(Option<u64>),
    /// Whether the zone purge accelerator is configured.
    Configured(bool),
    /// The zone API's answer, and a uniform random number in `[0, 1)` (retry jitter).
    ZoneAnswer(ApiAnswer, f64),
}

/// What the ledger keeps in memory between operations (lost on a restart).
#[derive(Debug)]
pub struct LedgerMemory {
    /// Webhook ids seen (beside the stored ones).
    replay: RefCell<ReplayGuard>,
    /// When the snapshot was last written to KV (ms; after a restart the first snapshot write
    /// goes out at once).
    snapshot_put_ms: Cell<Option<u64>>,
    /// The alarm time last set (ms; after a restart the alarm is asked for).
    alarm_at_ms: Cell<Option<u64>>,
}

impl Default for LedgerMemory {
    fn default() -> Self {
        LedgerMemory {
            replay: RefCell::new(ReplayGuard::new(
                webhook_sig::DEFAULT_TOLERANCE_SECS,
                10_000,
            )),
            snapshot_put_ms: Cell::new(None),
            alarm_at_ms: Cell::new(None),
        }
    }
}

/// The slot between an operation and its adapter: the action asked for, the event that came
/// back, and the time.
#[derive(Default)]
struct Slot {
    action: Option<LedgerAction>,
    event: Option<LedgerEvent>,
    now_ms: u64,
}

type Res<T> = Result<T, String>;

/// The operation's side of the slot.
#[derive(Clone, Default)]
struct Io(Rc<RefCell<Slot>>);

/// Waits for the event answering the action just asked for, read by `read` (a plain future,
/// not an `async fn`: one small type per kind of answer keeps the wasm small).
struct Reply<'a, T> {
    io: &'a Io,
    read: fn(LedgerEvent) -> T,
}

impl<T> Future for Reply<'_, T> {
    type Output = T;
    fn poll(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<T> {
        let event = self.io.0.borrow_mut().event.take();
        match event {
            Some(e) => Poll::Ready((self.read)(e)),
            None => Poll::Pending,
        }
    }
}

fn failed(e: LedgerEvent) -> Res<()> {
    match e {
        LedgerEvent::Failed(e) => Err(e),
        _ => Ok(()),
    }
}

impl Io {
    /// The time of the last event (ms).
    fn now(&self) -> u64 {
        self.0.borrow().now_ms
    }

    /// Asks for `a`; the future is its answer, read by `read`.
    fn ask<T>(&self, a: LedgerAction, read: fn(LedgerEvent) -> T) -> Reply<'_, T> {
        self.0.borrow_mut().action = Some(a);
        Reply { io: self, read }
    }

    /// An action answered by done or failed.
    fn done(&self, a: LedgerAction) -> Reply<'_, Res<()>> {
        self.ask(a, failed)
    }

    fn body(&self) -> Reply<'_, Res<String>> {
        self.ask(LedgerAction::ReadBody, |e| match e {
            LedgerEvent::Body(b) => Ok(b),
            LedgerEvent::Failed(e) => Err(e),
            _ => Err("body: no answer".into()),
        })
    }

    fn lock(&self) -> Reply<'_, ()> {
        self.ask(LedgerAction::Lock, drop)
    }

    fn unlock(&self) -> Reply<'_, ()> {
        self.ask(LedgerAction::Unlock, drop)
    }

    fn get(&self, key: &str) -> Reply<'_, Option<Stored>> {
        self.ask(LedgerAction::Get(key.to_string()), |e| match e {
            LedgerEvent::Got(v) => v,
            _ => None,
        })
    }

    fn get_text(&self, key: &str) -> Reply<'_, Option<String>> {
        self.ask(LedgerAction::Get(key.to_string()), |e| match e {
            LedgerEvent::Got(Some(Stored::Text(t))) => Some(t),
            _ => None,
        })
    }

    fn list(&self, prefix: &'static str) -> Reply<'_, Res<Vec<(String, Stored)>>> {
        self.ask(LedgerAction::List(prefix), |e| match e {
            LedgerEvent::Listed(l) => Ok(l),
            LedgerEvent::Failed(e) => Err(e),
            _ => Err("list: no answer".into()),
        })
    }

    fn put(&self, key: &str, v: Stored) -> Reply<'_, Res<()>> {
        self.done(LedgerAction::Put(key.to_string(), v))
    }

    fn get_alarm(&self) -> Reply<'_, Option<u64>> {
        self.ask(LedgerAction::GetAlarm, |e| match e {
            LedgerEvent::Alarm(a) => a,
            _ => None,
        })
    }

    fn report(&self, msg: String) -> Reply<'_, ()> {
        self.ask(LedgerAction::Report(msg), drop)
    }
}

type OpFuture = Pin<Box<dyn Future<Output = Res<LedgerAnswer>>>>;

/// One operation of the ledger (see the module docs).
pub struct LedgerOp {
    io: Io,
    run: Option<OpFuture>,
}

impl LedgerOp {
    /// A `fetch` to `path` (`/purge`, `/snapshot`, `/log`; anything else is 404).
    pub fn fetch(mem: &Rc<LedgerMemory>, path: &str) -> LedgerOp {
        let (io, mem, path) = (Io::default(), mem.clone(), path.to_string());
        let run = {
            let io = io.clone();
            Box::pin(async move { fetch(&io, &mem, &path).await })
        };
        LedgerOp { io, run: Some(run) }
    }

    /// The alarm.
    pub fn alarm(mem: &Rc<LedgerMemory>) -> LedgerOp {
        let (io, mem) = (Io::default(), mem.clone());
        let run = {
            let io = io.clone();
            Box::pin(async move { alarm(&io, &mem).await })
        };
        LedgerOp { io, run: Some(run) }
    }

    /// The first action, at `now_ms`.
    pub fn start(&mut self, now_ms: u64) -> LedgerAction {
        self.step(None, now_ms)
    }

    /// The next action, after `event` at `now_ms`.
    pub fn resume(&mut self, event: LedgerEvent, now_ms: u64) -> LedgerAction {
        self.step(Some(event), now_ms)
    }

    fn step(&mut self, event: Option<LedgerEvent>, now_ms: u64) -> LedgerAction {
        {
            let mut slot = self.io.0.borrow_mut();
            slot.event = event;
            slot.now_ms = now_ms;
        }
        let Some(run) = self.run.as_mut() else {
            return LedgerAction::Fail("ledger: operation already over".into());
        };
        match run.as_mut().poll(&mut Context::from_waker(Waker::noop())) {
            Poll::Ready(done) => {
                self.run = None;
                match done {
                    Ok(a) => LedgerAction::Answer(a),
                    Err(e) => LedgerAction::Fail(e),
                }
            }
            Poll::Pending => self
                .io
                .0
                .borrow_mut()
                .action
                .take()
                .unwrap_or_else(|| LedgerAction::Fail("ledger: no action".into())),
        }
    }
}

async fn fetch(io: &Io, mem: &LedgerMemory, path: &str) -> Res<LedgerAnswer> {
    match path {
        "/purge" => {
            let body = io.body().await?;
            match PurgeCommand::parse(&body) {
                Some(cmd) => apply(io, mem, cmd).await,
                None => Ok(text(400, "bad command")),
            }
        }
        "/snapshot" => {
            io.lock().await;
            let now = io.now();
            let snap = load_snapshot(io, now).await.encode();
            if mem.snapshot_put_ms.get().is_none() {
                io.put(SNAPSHOT, Stored::Text(snap.clone())).await?;
                publish(io, mem, &snap, now).await?;
            }
            Ok(text(200, snap))
        }
        "/log" => Ok(json(200, log_answer(&log(io).await))),
        _ => Ok(text(404, "not found")),
    }
}

/// Applies one purge command (see the module docs).
async fn apply(io: &Io, mem: &LedgerMemory, cmd: PurgeCommand) -> Res<LedgerAnswer> {
    let Some(new) = PurgeRecord::decode(&cmd.record) else {
        return Ok(text(400, "bad record"));
    };
    // Held until the command is fully applied (records, KV, log): a KV put opens the object's
    // input gate, so two commands could otherwise interleave and an older merge land last.
    io.lock().await;
    let now = io.now();
    if let Some((id, ts)) = &cmd.webhook {
        // Remembered in memory and in storage, so a restart does not reopen the replay window
        // (the alarm forgets them once too old).
        let seen_key = format!("{SEEN_WEBHOOK}{id}");
        let stored = io.get(&seen_key).await.and_then(|v| v.whole());
        let replay = replayed(stored, &mut mem.replay.borrow_mut(), id, *ts, now / 1000);
        if replay {
            return Ok(json(200, replayed_json(true)));
        }
        io.put(&seen_key, Stored::of(now / 1000)).await?;
    }
    let mut merged = Vec::with_capacity(cmd.keys.len());
    for key in &cmd.keys {
        let held = io.get_text(&format!("{HELD_RECORD}{key}")).await;
        merged.push((key.as_str(), merged_record(held.as_deref(), new).encode()));
    }
    // KV first, then the held copies (see the module docs).
    let writes = merged.iter().map(|(key, enc)| KvWrite {
        key: key.to_string(),
        value: enc.clone(),
        ttl_secs: Some(cmd.ttl),
    });
    io.done(LedgerAction::KvPut(writes.collect())).await?;
    add_to_snapshot(io, mem, &merged, now).await?;
    for (key, enc) in merged {
        io.put(&format!("{HELD_RECORD}{key}"), Stored::Text(enc))
            .await?;
    }
    if let Some(job) = &cmd.zone {
        // The job's calls are made by the alarm, brought forward to now.
        io.put(
            &format!("{ZONE_JOB}{}", cmd.log.id),
            Stored::Text(job.clone()),
        )
        .await?;
        if io.get_alarm().await.is_none_or(|t| t > now) {
            io.done(LedgerAction::SetAlarm(io.now())).await?;
        }
    }
    let mut entries = log(io).await;
    push_log(&mut entries, cmd.log);
    io.put(LOG, Stored::Text(log_json(entries.iter()))).await?;
    if io.get_alarm().await.is_none() {
        let at = io.now().saturating_add(PRUNE_EVERY_MS);
        io.done(LedgerAction::SetAlarm(at)).await?;
    }
    Ok(json(200, replayed_json(false)))
}

/// The stored purge log, oldest first (empty when absent or unreadable).
async fn log(io: &Io) -> Vec<super::PurgeLogEntry> {
    parse_log(io.get_text(LOG).await.as_deref())
}

/// Runs the zone calls that are due, then (hourly) forgets what can no longer matter, and sets
/// the next alarm for whichever comes first.
async fn alarm(io: &Io, mem: &LedgerMemory) -> Res<LedgerAnswer> {
    zone_run(io, io.now()).await;
    io.lock().await;
    let now = io.now();
    // The alarm also publishes a deferred snapshot (see `publish`).
    mem.alarm_at_ms.set(None);
    if let Some(snap) = io.get_text(SNAPSHOT).await {
        publish(io, mem, &snap, now).await?;
    }
    let mut prune_at = io.get(PRUNE_AT).await.and_then(|v| v.whole());
    if prune_at.is_none_or(|t| t <= now) {
        let left = prune(io, now).await?;
        prune_at = next_prune(left, now);
        match prune_at {
            Some(t) => io.put(PRUNE_AT, Stored::of(t)).await?,
            None => io.done(LedgerAction::Delete(vec![PRUNE_AT.into()])).await?,
        }
    }
    let zone_due = zone_jobs(io)
        .await
        .iter()
        .filter_map(ZoneJob::next_due)
        .min();
    if let Some(at) = [prune_at, zone_due].into_iter().flatten().min() {
        arm_alarm(io, mem, at, now).await?;
    }
    Ok(text(200, "alarm"))
}

/// Forgets held records older than the longest an entry can live (their KV copies have expired
/// too) and webhook ids past the replay window; how many entries are left.
async fn prune(io: &Io, now: u64) -> Res<usize> {
    let mut stale = Vec::new();
    let mut left = 0usize;
    for prefix in [HELD_RECORD, SEEN_WEBHOOK] {
        for (key, v) in io.list(prefix).await? {
            if prunable(&key, v.text(), v.num(), now, MAX_KEEP) {
                stale.push(key);
            } else {
                left = left.saturating_add(1);
            }
        }
    }
    for chunk in stale.chunks(128) {
        io.done(LedgerAction::Delete(chunk.to_vec())).await?;
    }
    Ok(left)
}

/// The stored zone jobs (none when unreadable).
async fn zone_jobs(io: &Io) -> Vec<ZoneJob> {
    let list = io.list(ZONE_JOB).await.unwrap_or_default();
    list.iter()
        .filter_map(|(_, v)| Json::parse(v.text()?).ok())
        .filter_map(|j| ZoneJob::from_json(&j))
        .collect()
}

/// Makes every zone call that is due (one at a time: the API's rate limits are per account),
/// then stores each job's progress and its log entry's status. Never fails: a storage error
/// leaves the job as it was, to be retried by the next alarm.
async fn zone_run(io: &Io, now: u64) {
    let jobs = zone_jobs(io).await;
    if jobs.is_empty() {
        return;
    }
    let configured = io
        .ask(LedgerAction::ZoneConfig, |e| {
            e == LedgerEvent::Configured(true)
        })
        .await;
    for mut job in jobs {
        let due = job.due(now);
        if due.is_empty() {
            continue;
        }
        if configured {
            for i in due {
                let Some(call) = job.calls.get(i).map(|c| c.call.clone()) else {
                    continue;
                };
                let answer = io.ask(LedgerAction::ZoneCall(call), |e| match e {
                    LedgerEvent::ZoneAnswer(a, j) => Some((a, j)),
                    _ => None,
                });
                let Some((answer, jitter)) = answer.await else {
                    continue;
                };
                job.record(i, &answer, io.now(), jitter);
            }
        } else {
            job.abandon("CF_API_TOKEN / CF_ZONE_ID are no longer set");
        }
        io.lock().await;
        let key = format!("{ZONE_JOB}{}", job.id);
        let stored = if job.finished() {
            io.done(LedgerAction::Delete(vec![key])).await
        } else {
            io.put(&key, Stored::Text(job.to_json())).await
        };
        match stored {
            Err(e) => {
                io.report(format!("edgecache: zone job {}: {e}", job.id))
                    .await
            }
            Ok(()) => {
                let mut entries = log(io).await;
                if note_zone_status(&mut entries, &job) {
                    let put = io.put(LOG, Stored::Text(log_json(entries.iter())));
                    if let Err(e) = put.await {
                        io.report(format!("edgecache: purge log: {e}")).await;
                    }
                }
            }
        }
        io.unlock().await;
    }
}

/// Adds the records just written to KV to the snapshot, stores it and publishes it.
async fn add_to_snapshot(
    io: &Io,
    mem: &LedgerMemory,
    merged: &[(&str, String)],
    now: u64,
) -> Res<()> {
    let base = load_snapshot(io, now).await;
    let added = merged
        .iter()
        .filter_map(|(k, enc)| Some((*k, PurgeRecord::decode(enc)?)));
    let enc = snapshot_with(base, added, now, MAX_KEEP).encode();
    io.put(SNAPSHOT, Stored::Text(enc.clone())).await?;
    publish(io, mem, &enc, now).await
}

/// The snapshot stored, else one built from the held records (the first time, e.g. right after
/// this version is deployed: complete, since every record that can still matter is held).
/// Read from storage each time (no copy in memory that could go stale).
async fn load_snapshot(io: &Io, now: u64) -> PurgeSnapshot {
    let stored = io.get_text(SNAPSHOT).await;
    if let Some(s) = stored.as_deref().and_then(PurgeSnapshot::decode) {
        return s;
    }
    let held = io.list(HELD_RECORD).await.unwrap_or_default();
    let held = held.iter().filter_map(|(key, v)| {
        let r = PurgeRecord::decode(v.text()?)?;
        Some((key.strip_prefix(HELD_RECORD)?, r))
    });
    snapshot_with(PurgeSnapshot::new(0), held, now, MAX_KEEP)
}

/// Writes the snapshot `snap` (as stored) to KV if KV allows a write to the key now;
/// otherwise, or when the write fails, arms the alarm, which writes the stored one.
async fn publish(io: &Io, mem: &LedgerMemory, snap: &str, now: u64) -> Res<()> {
    let at = next_publish_ms(now, mem.snapshot_put_ms.get());
    if at <= now {
        let write = KvWrite {
            key: SNAPSHOT_KEY.to_string(),
            value: snap.to_string(),
            ttl_secs: None,
        };
        if io.done(LedgerAction::KvPut(vec![write])).await.is_ok() {
            mem.snapshot_put_ms.set(Some(now));
            return Ok(());
        }
        let msg = "edgecache: purge snapshot write failed; retrying from the alarm";
        io.report(msg.into()).await;
    }
    arm_alarm(io, mem, publish_retry_at(at, now), now).await
}

/// Sets the alarm to `at_ms` unless one is already set no later than that (known from memory,
/// else asked for).
async fn arm_alarm(io: &Io, mem: &LedgerMemory, at_ms: u64, now: u64) -> Res<()> {
    let soon_enough = |c: u64| alarm_covers(c, at_ms, now);
    if mem.alarm_at_ms.get().is_some_and(soon_enough) {
        return Ok(());
    }
    if let Some(c) = io.get_alarm().await.filter(|c| *c > 0 && soon_enough(*c)) {
        mem.alarm_at_ms.set(Some(c));
        return Ok(());
    }
    io.done(LedgerAction::SetAlarm(at_ms)).await?;
    mem.alarm_at_ms.set(Some(at_ms));
    Ok(())
}
