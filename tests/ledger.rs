//! The purge ledger's flows (`purge::LedgerOp`) against a fake storage, KV, alarm, zone API and
//! clock: every action the Durable Object would carry out, and a failure of each I/O call.

use edgecache::purge::zone::{plan_zone_purge, ApiAnswer, ZoneCall, ZoneJob};
use edgecache::purge::{
    parse_purge_request, KvWrite, LedgerAction as A, LedgerAnswer, LedgerEvent as E, LedgerMemory,
    LedgerOp, PurgeCommand, PurgeLimits, PurgeLogEntry, PurgeRecord, PurgeSnapshot, Stored,
    KV_WRITE_MIN_INTERVAL_MS, PRUNE_EVERY_MS, SNAPSHOT_KEY,
};
use std::collections::{BTreeMap, VecDeque};
use std::rc::Rc;

const T0: u64 = 1_700_000_000_000;

type Failing = Box<dyn Fn(&A) -> bool>;
type Case = (&'static str, fn(&A) -> bool);

/// The Durable Object's world, in memory.
#[derive(Default)]
struct Fake {
    now: u64,
    storage: BTreeMap<String, Stored>,
    kv: BTreeMap<String, (String, Option<u64>)>,
    kv_writes: usize,
    alarm: Option<u64>,
    zone_configured: bool,
    zone_answers: VecDeque<ApiAnswer>,
    zone_calls: Vec<ZoneCall>,
    reports: Vec<String>,
    fail: Option<Failing>,
    locked: bool,
    actions: Vec<A>,
}

impl Fake {
    fn new() -> Fake {
        Fake {
            now: T0,
            ..Fake::default()
        }
    }

    /// Runs `op` to its end, as `objects.rs` does (the lock is released at the end).
    fn run(&mut self, mut op: LedgerOp, body: Option<&str>) -> Result<LedgerAnswer, String> {
        let mut a = op.start(self.now);
        for _ in 0..10_000 {
            self.actions.push(a.clone());
            let failing = self.fail.as_ref().is_some_and(|f| f(&a));
            let ev = match a {
                A::Answer(x) => {
                    self.locked = false;
                    return Ok(x);
                }
                A::Fail(e) => {
                    self.locked = false;
                    return Err(e);
                }
                _ if failing && !matches!(a, A::Get(_) | A::GetAlarm) => E::Failed("boom".into()),
                A::ReadBody => body.map_or(E::Failed("no body".into()), |b| E::Body(b.into())),
                A::Lock => {
                    assert!(!self.locked, "the lock is taken twice");
                    self.locked = true;
                    E::Done
                }
                A::Unlock => {
                    self.locked = false;
                    E::Done
                }
                A::Get(k) => E::Got(self.storage.get(&k).cloned().filter(|_| !failing)),
                A::List(p) => E::Listed(
                    self.storage
                        .iter()
                        .filter(|(k, _)| k.starts_with(p))
                        .map(|(k, v)| (k.clone(), v.clone()))
                        .collect(),
                ),
                A::Put(k, v) => {
                    self.storage.insert(k, v);
                    E::Done
                }
                A::Delete(keys) => {
                    for k in keys {
                        self.storage.remove(&k);
                    }
                    E::Done
                }
                A::KvPut(writes) => {
                    for KvWrite {
                        key,
                        value,
                        ttl_secs,
                    } in writes
                    {
                        self.kv_writes += 1;
                        self.kv.insert(key, (value, ttl_secs));
                    }
                    E::Done
                }
                A::GetAlarm => E::Alarm(self.alarm.filter(|_| !failing)),
                A::SetAlarm(at) => {
                    self.alarm = Some(at);
                    E::Done
                }
                A::ZoneConfig => E::Configured(self.zone_configured),
                A::ZoneCall(c) => {
                    self.zone_calls.push(c);
                    let none = ApiAnswer {
                        status: 0,
                        body: "timeout".into(),
                        retry_after: None,
                    };
                    E::ZoneAnswer(self.zone_answers.pop_front().unwrap_or(none), 0.5)
                }
                A::Report(m) => {
                    self.reports.push(m);
                    E::Done
                }
            };
            a = op.resume(ev, self.now);
        }
        panic!("the operation never ended");
    }

    fn purge(&mut self, mem: &Rc<LedgerMemory>, cmd: &PurgeCommand) -> Result<String, String> {
        let body = cmd.to_json();
        self.run(LedgerOp::fetch(mem, "/purge"), Some(&body))
            .map(|a| a.body)
    }

    fn fetch(&mut self, mem: &Rc<LedgerMemory>, path: &str) -> LedgerAnswer {
        self.run(LedgerOp::fetch(mem, path), None).unwrap()
    }

    fn alarm(&mut self, mem: &Rc<LedgerMemory>) -> Result<LedgerAnswer, String> {
        self.run(LedgerOp::alarm(mem), None)
    }

    fn text(&self, key: &str) -> Option<&str> {
        self.storage.get(key).and_then(Stored::text)
    }

    fn kv_record(&self, key: &str) -> Option<PurgeRecord> {
        PurgeRecord::decode(&self.kv.get(key)?.0)
    }

    fn published(&self) -> Option<PurgeSnapshot> {
        PurgeSnapshot::decode(&self.kv.get(SNAPSHOT_KEY)?.0)
    }

    fn log_ids(&self) -> Vec<String> {
        edgecache::purge::parse_log(self.text("log"))
            .into_iter()
            .map(|e| e.id)
            .collect()
    }
}

fn request(body: &str) -> edgecache::purge::PurgeRequest {
    parse_purge_request(
        Some("application/json"),
        body.as_bytes(),
        &PurgeLimits::default(),
    )
    .unwrap()
}

fn cmd(id: &str, keys: &[&str], record: PurgeRecord) -> PurgeCommand {
    PurgeCommand {
        keys: keys.iter().map(|k| k.to_string()).collect(),
        record: record.encode(),
        ttl: 86_400,
        webhook: None,
        log: PurgeLogEntry::new(
            id.into(),
            record.at_ms,
            &request(r#"{"tags":["a"]}"#),
            "bearer",
        ),
        zone: None,
    }
}

fn zone_cmd(id: &str, at: u64) -> PurgeCommand {
    let plan = plan_zone_purge(&request(r#"{"tags":["a"]}"#), &[], "s.test");
    let mut c = cmd(id, &["t:a"], PurgeRecord::hard(at));
    c.zone = Some(ZoneJob::new(id, &plan, at).to_json());
    c
}

fn answer(status: u16) -> ApiAnswer {
    ApiAnswer {
        status,
        body: match status {
            200 => r#"{"success":true,"errors":[],"messages":[],"result":{"id":"x"}}"#.into(),
            _ => String::new(),
        },
        retry_after: None,
    }
}

fn mem() -> Rc<LedgerMemory> {
    Rc::new(LedgerMemory::default())
}

#[test]
fn a_purge_writes_kv_then_the_snapshot_the_held_copies_and_the_log_then_arms_the_prune() {
    let (mut f, m) = (Fake::new(), mem());
    let c = cmd("p1", &["t:a", "t:b"], PurgeRecord::hard(T0));
    assert_eq!(f.purge(&m, &c).unwrap(), r#"{"replayed":false}"#);
    for k in ["t:a", "t:b"] {
        assert_eq!(f.kv_record(k), Some(PurgeRecord::hard(T0)));
        assert_eq!(f.kv.get(k).unwrap().1, Some(86_400));
        assert_eq!(
            f.text(&format!("r:{k}")),
            Some(PurgeRecord::hard(T0).encode().as_str())
        );
    }
    let snap = f.published().unwrap();
    assert_eq!(snap.get("t:a"), Some(PurgeRecord::hard(T0)));
    assert_eq!(
        f.text("snapshot"),
        Some(f.kv.get(SNAPSHOT_KEY).unwrap().0.as_str())
    );
    assert_eq!(f.log_ids(), ["p1"]);
    assert_eq!(f.alarm, Some(T0 + PRUNE_EVERY_MS));
    // The order: lock before any read, KV records before the held copies.
    let pos = |want: &dyn Fn(&A) -> bool| f.actions.iter().position(want).unwrap();
    let lock = pos(&|a| matches!(a, A::Lock));
    let kv = pos(&|a| matches!(a, A::KvPut(w) if w[0].key == "t:a"));
    let held = pos(&|a| matches!(a, A::Put(k, _) if k == "r:t:a"));
    let first_get = pos(&|a| matches!(a, A::Get(_)));
    assert!(lock < first_get && kv < held, "{:?}", f.actions);
}

#[test]
fn an_older_purge_never_moves_a_record_backwards() {
    let (mut f, m) = (Fake::new(), mem());
    f.purge(&m, &cmd("p1", &["t:a"], PurgeRecord::hard(T0 + 5_000)))
        .unwrap();
    f.purge(&m, &cmd("p2", &["t:a"], PurgeRecord::hard(T0)))
        .unwrap();
    assert_eq!(f.kv_record("t:a"), Some(PurgeRecord::hard(T0 + 5_000)));
    assert_eq!(f.log_ids(), ["p1", "p2"]);
}

#[test]
fn a_replayed_webhook_is_refused_in_memory_and_after_a_restart() {
    let (mut f, m) = (Fake::new(), mem());
    let mut c = cmd("p1", &["t:a"], PurgeRecord::hard(T0));
    c.webhook = Some(("msg_1".into(), T0 / 1000));
    assert_eq!(f.purge(&m, &c).unwrap(), r#"{"replayed":false}"#);
    assert_eq!(
        f.storage.get("w:msg_1"),
        Some(&Stored::Num((T0 / 1000) as f64))
    );
    let writes = f.kv_writes;
    assert_eq!(f.purge(&m, &c).unwrap(), r#"{"replayed":true}"#);
    // A restarted ledger (empty memory) still knows it from storage.
    assert_eq!(f.purge(&mem(), &c).unwrap(), r#"{"replayed":true}"#);
    assert_eq!((f.kv_writes, f.log_ids().len()), (writes, 1));
}

#[test]
fn the_log_answers_newest_first_and_unknown_paths_are_404() {
    let (mut f, m) = (Fake::new(), mem());
    f.purge(&m, &cmd("p1", &["t:a"], PurgeRecord::hard(T0)))
        .unwrap();
    f.purge(&m, &cmd("p2", &["t:b"], PurgeRecord::hard(T0)))
        .unwrap();
    let log = f.fetch(&m, "/log");
    assert_eq!(log.headers, edgecache::purge::JSON_HEADERS);
    let p1 = log.body.find("\"p1\"").unwrap();
    assert!(log.body.find("\"p2\"").unwrap() < p1, "{}", log.body);
    assert_eq!(f.fetch(&m, "/nope").status, 404);
    let bad = f.run(LedgerOp::fetch(&m, "/purge"), Some("{}")).unwrap();
    assert_eq!((bad.status, bad.body.as_str()), (400, "bad command"));
    let mut c = cmd("p3", &["t:a"], PurgeRecord::hard(T0));
    c.record = "nonsense".into();
    assert_eq!(f.purge(&m, &c).unwrap(), "bad record");
    assert_eq!(
        f.run(LedgerOp::fetch(&m, "/purge"), None),
        Err("no body".into())
    );
}

#[test]
fn a_second_purge_within_a_second_defers_the_snapshot_to_the_alarm() {
    let (mut f, m) = (Fake::new(), mem());
    f.purge(&m, &cmd("p1", &["t:a"], PurgeRecord::hard(T0)))
        .unwrap();
    f.now = T0 + 200;
    f.purge(&m, &cmd("p2", &["t:b"], PurgeRecord::hard(T0 + 200)))
        .unwrap();
    assert_eq!(
        f.published().unwrap().get("t:b"),
        None,
        "KV allows one write a second"
    );
    assert_eq!(f.alarm, Some(T0 + KV_WRITE_MIN_INTERVAL_MS));
    f.now = T0 + KV_WRITE_MIN_INTERVAL_MS;
    assert_eq!(f.alarm(&m).unwrap().body, "alarm");
    assert_eq!(
        f.published().unwrap().get("t:b"),
        Some(PurgeRecord::hard(T0 + 200))
    );
    // Next: the prune, an hour after the first purge's.
    assert_eq!(
        f.alarm,
        Some(T0 + KV_WRITE_MIN_INTERVAL_MS + PRUNE_EVERY_MS)
    );
}

#[test]
fn the_snapshot_endpoint_builds_from_held_records_and_publishes_once_per_start() {
    let (mut f, m) = (Fake::new(), mem());
    f.storage.insert(
        "r:t:old".into(),
        Stored::Text(PurgeRecord::hard(T0 - 1_000).encode()),
    );
    let a = f.fetch(&m, "/snapshot");
    let snap = PurgeSnapshot::decode(&a.body).unwrap();
    assert_eq!(snap.get("t:old"), Some(PurgeRecord::hard(T0 - 1_000)));
    assert_eq!(f.text("snapshot"), Some(a.body.as_str()));
    assert_eq!(f.published(), Some(snap));
    let writes = f.kv_writes;
    f.now += 5_000;
    f.fetch(&m, "/snapshot");
    assert_eq!(f.kv_writes, writes, "published already since this start");
}

#[test]
fn a_failed_kv_record_write_fails_the_purge_and_leaves_the_held_record() {
    let (mut f, m) = (Fake::new(), mem());
    f.purge(&m, &cmd("p1", &["t:a"], PurgeRecord::hard(T0)))
        .unwrap();
    f.fail = Some(Box::new(|a| matches!(a, A::KvPut(w) if w[0].key == "t:a")));
    f.now += 10_000;
    let c = cmd("p2", &["t:a"], PurgeRecord::hard(T0 + 10_000));
    assert_eq!(f.purge(&m, &c), Err("boom".into()));
    assert_eq!(
        f.text("r:t:a"),
        Some(PurgeRecord::hard(T0).encode().as_str())
    );
    assert_eq!(f.log_ids(), ["p1"]);
    assert!(!f.locked);
}

#[test]
fn a_failed_snapshot_write_is_reported_and_retried_by_the_alarm() {
    let (mut f, m) = (Fake::new(), mem());
    f.fail = Some(Box::new(
        |a| matches!(a, A::KvPut(w) if w[0].key == SNAPSHOT_KEY),
    ));
    assert_eq!(
        f.purge(&m, &cmd("p1", &["t:a"], PurgeRecord::hard(T0))),
        Ok(r#"{"replayed":false}"#.into())
    );
    assert_eq!(f.reports.len(), 1, "{:?}", f.reports);
    assert_eq!(f.alarm, Some(T0 + KV_WRITE_MIN_INTERVAL_MS));
    f.fail = None;
    f.now = T0 + KV_WRITE_MIN_INTERVAL_MS;
    f.alarm(&m).unwrap();
    assert!(f.published().unwrap().get("t:a").is_some());
}

#[test]
fn failures_of_storage_writes_and_alarms_fail_the_purge() {
    let cases: [Case; 5] = [
        (
            "seen id",
            |a| matches!(a, A::Put(k, _) if k.starts_with("w:")),
        ),
        ("snapshot", |a| matches!(a, A::Put(k, _) if k == "snapshot")),
        (
            "held copy",
            |a| matches!(a, A::Put(k, _) if k.starts_with("r:")),
        ),
        ("log", |a| matches!(a, A::Put(k, _) if k == "log")),
        ("alarm", |a| matches!(a, A::SetAlarm(_))),
    ];
    for (what, failing) in cases {
        let (mut f, m) = (Fake::new(), mem());
        f.fail = Some(Box::new(failing));
        let mut c = cmd("p1", &["t:a"], PurgeRecord::hard(T0));
        c.webhook = Some(("msg_1".into(), T0 / 1000));
        assert_eq!(f.purge(&m, &c), Err("boom".into()), "{what}");
    }
    // Unreadable values and alarms count as absent: the purge goes on.
    let (mut f, m) = (Fake::new(), mem());
    f.fail = Some(Box::new(|a| matches!(a, A::Get(_) | A::GetAlarm)));
    f.purge(&m, &cmd("p1", &["t:a"], PurgeRecord::hard(T0)))
        .unwrap();
    assert_eq!(f.alarm, Some(T0 + PRUNE_EVERY_MS));
}

#[test]
fn the_alarm_prunes_what_can_no_longer_matter_and_stops_when_nothing_is_left() {
    let (mut f, m) = (Fake::new(), mem());
    let mut c = cmd("p1", &["t:a"], PurgeRecord::hard(T0));
    c.webhook = Some(("msg_1".into(), T0 / 1000));
    f.purge(&m, &c).unwrap();
    // An hour later: the webhook id is past its replay window, the record still matters.
    f.now = T0 + PRUNE_EVERY_MS;
    f.alarm(&m).unwrap();
    assert!(f.storage.contains_key("r:t:a") && !f.storage.contains_key("w:msg_1"));
    assert_eq!(
        f.storage.get("prune_at"),
        Some(&Stored::Num((f.now + PRUNE_EVERY_MS) as f64))
    );
    assert_eq!(f.alarm, Some(f.now + PRUNE_EVERY_MS));
    // Long after every entry expired: nothing left, no prune time, no alarm set again.
    f.now = T0 + 400 * 86_400_000;
    f.alarm = None;
    f.alarm(&m).unwrap();
    assert!(!f.storage.contains_key("r:t:a") && !f.storage.contains_key("prune_at"));
    assert_eq!(f.alarm, None);
    // A listing that fails fails the alarm (the runtime retries it).
    f.storage.remove("prune_at");
    f.fail = Some(Box::new(|a| matches!(a, A::List("r:"))));
    assert_eq!(f.alarm(&m), Err("boom".into()));
}

#[test]
fn a_zone_job_brings_the_alarm_forward_and_its_calls_are_retried_then_finished() {
    let (mut f, m) = (Fake::new(), mem());
    f.zone_configured = true;
    f.purge(&m, &zone_cmd("p1", T0)).unwrap();
    assert!(f.storage.contains_key("z:p1"));
    assert_eq!(f.alarm, Some(T0), "brought forward to now");
    assert!(f.zone_calls.is_empty(), "never on the purge's answer path");
    // First attempt: a server error → retried later, the log says pending.
    f.zone_answers.push_back(answer(500));
    f.alarm(&m).unwrap();
    assert_eq!(f.zone_calls.len(), 1);
    let job = ZoneJob::from_json(&edgecache::json::Json::parse(f.text("z:p1").unwrap()).unwrap())
        .unwrap();
    let retry = job.next_due().unwrap();
    assert!(retry > T0);
    assert_eq!(
        f.alarm,
        Some(retry),
        "the next zone call comes before the prune"
    );
    assert!(
        f.text("log").unwrap().contains("pending"),
        "{:?}",
        f.text("log")
    );
    // Not due yet: no call.
    f.alarm(&m).unwrap();
    assert_eq!(f.zone_calls.len(), 1);
    // Due: success → the job is gone and the log says done.
    f.now = retry;
    f.zone_answers.push_back(answer(200));
    f.alarm(&m).unwrap();
    assert_eq!(f.zone_calls.len(), 2);
    assert!(!f.storage.contains_key("z:p1"));
    assert!(
        f.text("log").unwrap().contains("done"),
        "{:?}",
        f.text("log")
    );
}

#[test]
fn a_zone_job_is_abandoned_when_the_accelerator_is_no_longer_configured() {
    let (mut f, m) = (Fake::new(), mem());
    f.purge(&m, &zone_cmd("p1", T0)).unwrap();
    f.alarm(&m).unwrap();
    assert!(f.zone_calls.is_empty());
    assert!(!f.storage.contains_key("z:p1"));
    assert!(
        f.text("log").unwrap().contains("no longer set"),
        "{:?}",
        f.text("log")
    );
}

#[test]
fn a_failed_zone_job_write_is_reported_and_the_job_kept_for_the_next_alarm() {
    let (mut f, m) = (Fake::new(), mem());
    f.zone_configured = true;
    f.purge(&m, &zone_cmd("p1", T0)).unwrap();
    let before = f.text("z:p1").unwrap().to_string();
    f.fail = Some(Box::new(|a| matches!(a, A::Delete(k) if k[0] == "z:p1")));
    f.zone_answers.push_back(answer(200));
    assert_eq!(f.alarm(&m).unwrap().body, "alarm", "the alarm goes on");
    assert_eq!(f.text("z:p1"), Some(before.as_str()));
    assert!(
        f.reports.iter().any(|r| r.contains("zone job p1")),
        "{:?}",
        f.reports
    );
    assert!(f.alarm.is_some_and(|t| t <= T0), "still due: {:?}", f.alarm);
    // A failed log write after the job was stored is reported too.
    f.fail = Some(Box::new(|a| matches!(a, A::Put(k, _) if k == "log")));
    f.zone_answers.push_back(answer(200));
    f.alarm(&m).unwrap();
    assert!(!f.storage.contains_key("z:p1"));
    assert!(
        f.reports.iter().any(|r| r.contains("purge log")),
        "{:?}",
        f.reports
    );
}

#[test]
fn the_alarm_is_set_only_when_none_covers_it() {
    let (mut f, m) = (Fake::new(), mem());
    f.purge(&m, &cmd("p1", &["t:a"], PurgeRecord::hard(T0)))
        .unwrap();
    f.now = T0 + 100;
    f.purge(&m, &cmd("p2", &["t:b"], PurgeRecord::hard(T0 + 100)))
        .unwrap();
    // The deferred publish wants T0 + 1 s; the prune alarm (T0 + 1 h) was set: brought forward.
    assert_eq!(f.alarm, Some(T0 + KV_WRITE_MIN_INTERVAL_MS));
    let sets = |f: &Fake| {
        f.actions
            .iter()
            .filter(|a| matches!(a, A::SetAlarm(_)))
            .count()
    };
    let before = sets(&f);
    f.now = T0 + 200;
    f.purge(&m, &cmd("p3", &["t:c"], PurgeRecord::hard(T0 + 200)))
        .unwrap();
    assert_eq!(sets(&f), before, "an alarm at T0 + 1 s already covers it");
    // A failed alarm write in the alarm fails it (the runtime retries the alarm).
    f.now = T0 + KV_WRITE_MIN_INTERVAL_MS;
    f.fail = Some(Box::new(|a| matches!(a, A::SetAlarm(_))));
    assert_eq!(f.alarm(&m), Err("boom".into()));
}
