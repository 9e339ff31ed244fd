//! The purge ledger's pure half: the command the worker sends it, and the bounded purge log it
//! keeps. The Durable Object (the adapter's `objects.rs`) only stores and loads what these
//! functions produce.

use super::log::PurgeLogEntry;
use super::record::PurgeRecord;
use super::snapshot::PurgeSnapshot;
use crate::json::{Arr, Json, Obj};
use crate::webhook_sig;

/// Purge log entries kept.
pub const PURGE_LOG_MAX: usize = 100;

/// What the worker asks the ledger to record.
#[derive(Debug, Clone, PartialEq, Eq)]
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

    /// Reads [`PurgeCommand::to_json`] (`None` for anything else).
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

    /// Reads a command from a request body (`None` when it is not one).
    pub fn parse(body: &str) -> Option<Self> {
        Json::parse(body).ok().as_ref().and_then(Self::from_json)
    }
}

/// The stored purge log (a JSON array, oldest first); empty when absent or unreadable, and
/// entries that do not read are skipped.
pub fn parse_log(text: Option<&str>) -> Vec<PurgeLogEntry> {
    let Some(j) = text.and_then(|t| Json::parse(t).ok()) else {
        return Vec::new();
    };
    j.as_array()
        .unwrap_or_default()
        .iter()
        .filter_map(PurgeLogEntry::from_json)
        .collect()
}

/// Appends `entry`, keeping the newest [`PURGE_LOG_MAX`].
pub fn push_log(log: &mut Vec<PurgeLogEntry>, entry: PurgeLogEntry) {
    log.push(entry);
    let extra = log.len().saturating_sub(PURGE_LOG_MAX);
    log.drain(..extra);
}

/// Log entries as a JSON array, in the order given.
pub fn log_json<'a>(entries: impl Iterator<Item = &'a PurgeLogEntry>) -> String {
    let mut a = Arr::new();
    for e in entries {
        a = a.raw(&e.to_json());
    }
    a.end()
}

/// The ledger's `/log` answer: `{"purges": [...]}`, newest first.
pub fn log_answer(log: &[PurgeLogEntry]) -> String {
    Obj::new().raw("purges", &log_json(log.iter().rev())).end()
}

/// The ledger's answer to a purge command: whether its webhook id was seen before.
pub fn replayed_json(replayed: bool) -> &'static str {
    if replayed {
        r#"{"replayed":true}"#
    } else {
        r#"{"replayed":false}"#
    }
}

/// Reads the ledger's answer to a purge command ([`replayed_json`]); `None` for anything else
/// (then nothing may have been recorded).
pub fn parse_replayed(text: &str) -> Option<bool> {
    Json::parse(text)
        .ok()
        .and_then(|v| v.get("replayed").and_then(Json::as_bool))
}

/// Writes a zone job's status into its purge's log entry (the newest with its id); whether
/// there was one (else the log need not be stored again).
pub fn note_zone_status(log: &mut [PurgeLogEntry], job: &super::zone::ZoneJob) -> bool {
    match log.iter_mut().rev().find(|e| e.id == job.id) {
        Some(e) => {
            e.zone = Some(job.status());
            true
        }
        None => false,
    }
}

/// The record the ledger writes under a key: `new` merged with the one it holds (`held`, as
/// stored), so a record never moves backwards ([`super::merge`]).
pub fn merged_record(held: Option<&str>, new: PurgeRecord) -> PurgeRecord {
    match held.and_then(PurgeRecord::decode) {
        Some(old) => super::merge(old, new),
        None => new,
    }
}

/// `base` with `records` added, fitted to [`super::SNAPSHOT_MAX_BYTES`] at `now_ms` (records
/// that can no longer matter after `max_keep_secs` go first: [`PurgeSnapshot::fit`]).
pub fn snapshot_with<K: AsRef<str>>(
    mut base: PurgeSnapshot,
    records: impl IntoIterator<Item = (K, PurgeRecord)>,
    now_ms: u64,
    max_keep_secs: u64,
) -> PurgeSnapshot {
    for (k, r) in records {
        base.add(k.as_ref(), r);
    }
    base.fit(super::SNAPSHOT_MAX_BYTES, now_ms, max_keep_secs);
    base
}

/// The ledger's storage layout (one Durable Object, "global"): what it keeps under which key.
pub mod keys {
    /// `r:<record key>`: the record held beside its KV copy (the merge base of the next purge).
    pub const HELD_RECORD: &str = "r:";
    /// `w:<webhook id>`: when a signed webhook id was accepted (seconds; replay check).
    pub const SEEN_WEBHOOK: &str = "w:";
    /// `z:<purge id>`: a zone purge job (JSON) the alarm runs.
    pub const ZONE_JOB: &str = "z:";
    /// The purge log (a JSON array, oldest first).
    pub const LOG: &str = "log";
    /// The purge snapshot's encoding, as last published (or to be published by the alarm).
    pub const SNAPSHOT: &str = "snapshot";
    /// When (ms) the ledger prunes next.
    pub const PRUNE_AT: &str = "prune_at";
}

/// How often the ledger prunes what it no longer needs (ms).
pub const PRUNE_EVERY_MS: u64 = 3_600_000;

/// Whether a signed call is a replay: its id is remembered in storage (`stored_secs`, when it
/// was accepted: survives a restart of the ledger) or by the in-memory `guard` (which also
/// remembers it now when it is new).
pub fn replayed(
    stored_secs: Option<u64>,
    guard: &mut webhook_sig::ReplayGuard,
    id: &str,
    ts: u64,
    now_secs: u64,
) -> bool {
    stored_secs.is_some_and(|t| webhook_sig::replay_remembered(t, now_secs))
        || guard.check_and_insert(id, ts, now_secs).is_err()
}

/// Whether a stored entry can be forgotten at `now_ms`: a held record (`r:`, its text) older
/// than the longest an entry can live (`max_keep_secs`: its KV copy has expired too), or a
/// webhook id (`w:`, its acceptance time in seconds) past the replay window. Anything else,
/// or a value that does not read, is kept.
pub fn prunable(
    key: &str,
    text: Option<&str>,
    number: Option<f64>,
    now_ms: u64,
    max_keep_secs: u64,
) -> bool {
    if key.starts_with(keys::HELD_RECORD) {
        text.and_then(PurgeRecord::decode)
            .is_some_and(|r| super::keys::record_prunable(&r, now_ms, max_keep_secs))
    } else if key.starts_with(keys::SEEN_WEBHOOK) {
        #[allow(
            clippy::cast_possible_truncation,
            clippy::cast_sign_loss,
            reason = "seconds stored as a JS number"
        )]
        number.is_some_and(|t| !webhook_sig::replay_remembered(t as u64, now_ms / 1000))
    } else {
        false
    }
}

/// The next prune after one at `now_ms` that left `left` entries (`None`: nothing left to
/// prune, no prune alarm needed).
pub fn next_prune(left: usize, now_ms: u64) -> Option<u64> {
    (left > 0).then(|| now_ms.saturating_add(PRUNE_EVERY_MS))
}

/// Whether an alarm already set at `current` (ms) serves for one wanted at `at_ms`: it is
/// still to come (an alarm at or before `now_ms` is the one running, or about to) and no later.
pub fn alarm_covers(current: u64, at_ms: u64, now_ms: u64) -> bool {
    current > now_ms && current <= at_ms
}

/// When the alarm must publish a snapshot that could not be written to KV at `now_ms`: at
/// `allowed_ms` (KV's one-write-per-second limit) when that is later, else after the minimum
/// interval (the write failed).
pub fn publish_retry_at(allowed_ms: u64, now_ms: u64) -> u64 {
    if allowed_ms > now_ms {
        allowed_ms
    } else {
        now_ms.saturating_add(super::snapshot::KV_WRITE_MIN_INTERVAL_MS)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merges_never_move_a_record_backwards() {
        let newer = PurgeRecord::hard(2_000);
        let older = PurgeRecord::hard(1_000);
        assert_eq!(merged_record(None, older), older);
        assert_eq!(merged_record(Some("garbage"), older), older);
        assert_eq!(merged_record(Some(&newer.encode()), older).at_ms, 2_000);
        assert_eq!(merged_record(Some(&older.encode()), newer).at_ms, 2_000);
    }

    #[test]
    fn a_snapshot_takes_the_new_records_and_drops_what_no_longer_matters() {
        let keep = 100;
        let now = 1_000_000;
        let base = snapshot_with(
            PurgeSnapshot::new(0),
            [("t:old", PurgeRecord::hard(1))],
            2,
            keep,
        );
        assert!(base.get("t:old").is_some());
        let s = snapshot_with(
            base,
            vec![("t:new".to_string(), PurgeRecord::hard(now))],
            now,
            keep,
        );
        assert_eq!(s.get("t:new"), Some(PurgeRecord::hard(now)));
        assert_eq!(s.get("t:old"), None, "older than any entry can live");
    }

    #[test]
    fn a_zone_status_lands_in_its_purge_log_entry() {
        let req = parse_purge_request(
            Some("application/json"),
            br#"{"tags":["a"]}"#,
            &PurgeLimits::default(),
        )
        .unwrap();
        let plan = crate::purge::zone::plan_zone_purge(&req, &[], "s.test");
        let job = crate::purge::zone::ZoneJob::new("p2", &plan, 1_000);
        let mut log = vec![entry("p1"), entry("p2")];
        assert!(note_zone_status(&mut log, &job));
        assert_eq!(log[1].zone, Some(job.status()));
        assert_eq!(log[0].zone, None);
        let other = crate::purge::zone::ZoneJob::new("p9", &plan, 1_000);
        assert!(!note_zone_status(&mut log, &other));
    }

    #[test]
    fn replays_are_caught_in_storage_or_in_memory() {
        let now = 1_700_000_000;
        let mut g = webhook_sig::ReplayGuard::new(webhook_sig::DEFAULT_TOLERANCE_SECS, 10);
        assert!(!replayed(None, &mut g, "a", now, now));
        assert!(
            replayed(None, &mut g, "a", now, now),
            "remembered in memory"
        );
        let mut fresh = webhook_sig::ReplayGuard::new(webhook_sig::DEFAULT_TOLERANCE_SECS, 10);
        assert!(
            replayed(Some(now - 10), &mut fresh, "b", now, now),
            "remembered in storage"
        );
        let long_ago = now - webhook_sig::REPLAY_REMEMBER_SECS - 1;
        assert!(!replayed(Some(long_ago), &mut fresh, "c", now, now));
    }

    #[test]
    fn prune_forgets_only_what_can_no_longer_matter() {
        let keep = 86_400;
        let now_ms = 10 * keep * 1000;
        let old = PurgeRecord::hard(1_000);
        let recent = PurgeRecord::hard(now_ms - 1_000);
        assert!(prunable("r:t:a", Some(&old.encode()), None, now_ms, keep));
        assert!(!prunable(
            "r:t:a",
            Some(&recent.encode()),
            None,
            now_ms,
            keep
        ));
        assert!(!prunable("r:t:a", Some("garbage"), None, now_ms, keep));
        let secs = (now_ms / 1000) as f64;
        assert!(!prunable("w:id", None, Some(secs), now_ms, keep));
        let gone = secs - webhook_sig::REPLAY_REMEMBER_SECS as f64 - 1.0;
        assert!(prunable("w:id", None, Some(gone), now_ms, keep));
        assert!(!prunable("w:id", None, None, now_ms, keep));
        assert!(!prunable("z:p1", Some("{}"), Some(0.0), now_ms, keep));
    }

    #[test]
    fn alarms_and_retries() {
        assert_eq!(next_prune(0, 5), None);
        assert_eq!(next_prune(3, 5), Some(5 + PRUNE_EVERY_MS));
        assert!(alarm_covers(10, 20, 5));
        assert!(alarm_covers(20, 20, 5));
        assert!(!alarm_covers(21, 20, 5), "too late");
        assert!(
            !alarm_covers(5, 20, 5),
            "the alarm running now does not count"
        );
        assert_eq!(publish_retry_at(900, 100), 900);
        assert_eq!(
            publish_retry_at(100, 100),
            100 + crate::purge::KV_WRITE_MIN_INTERVAL_MS
        );
    }
    use crate::purge::{parse_purge_request, PurgeLimits};

    fn entry(id: &str) -> PurgeLogEntry {
        let req = parse_purge_request(
            Some("application/json"),
            br#"{"tags":["a"]}"#,
            &PurgeLimits::default(),
        )
        .unwrap();
        PurgeLogEntry::new(id.to_string(), 1_000, &req, "bearer")
    }

    #[test]
    fn command_round_trips_with_and_without_webhook() {
        let mut c = PurgeCommand {
            keys: vec!["t:a".into(), "u:https://x/".into()],
            record: "1000;h".into(),
            ttl: 86_400,
            webhook: Some(("msg_1".into(), 1_700_000_000)),
            log: entry("p1"),
            zone: Some(r#"{"id":"p1"}"#.into()),
        };
        assert_eq!(PurgeCommand::parse(&c.to_json()), Some(c.clone()));
        c.webhook = None;
        c.zone = None;
        assert_eq!(PurgeCommand::parse(&c.to_json()), Some(c));
    }

    #[test]
    fn command_refuses_other_shapes() {
        assert_eq!(PurgeCommand::parse("not json"), None);
        assert_eq!(PurgeCommand::parse(r#"{"keys":["a"]}"#), None);
        let c = PurgeCommand {
            keys: vec![],
            record: "r".into(),
            ttl: 1,
            webhook: None,
            log: entry("p"),
            zone: None,
        };
        let bad = c
            .to_json()
            .replace(r#""webhook":null"#, r#""webhook":[1,2]"#);
        assert_eq!(PurgeCommand::parse(&bad), None);
    }

    #[test]
    fn log_keeps_the_newest_and_answers_newest_first() {
        let mut log = Vec::new();
        for i in 0..PURGE_LOG_MAX + 3 {
            push_log(&mut log, entry(&format!("p{i}")));
        }
        assert_eq!(log.len(), PURGE_LOG_MAX);
        assert_eq!(log[0].id, "p3");
        let stored = log_json(log.iter());
        let back = parse_log(Some(&stored));
        assert_eq!(back, log);
        let ans = Json::parse(&log_answer(&back)).unwrap();
        let first = &ans.get("purges").unwrap().as_array().unwrap()[0];
        assert_eq!(first.str_of("id").as_deref(), Some("p102"));
    }

    #[test]
    fn unreadable_log_is_empty() {
        assert!(parse_log(None).is_empty());
        assert!(parse_log(Some("{")).is_empty());
        assert!(parse_log(Some(r#"{"a":1}"#)).is_empty());
    }

    #[test]
    fn replayed_answer_round_trips() {
        assert_eq!(parse_replayed(replayed_json(true)), Some(true));
        assert_eq!(parse_replayed(replayed_json(false)), Some(false));
        assert_eq!(parse_replayed("ok"), None);
        assert_eq!(parse_replayed(r#"{"x":1}"#), None);
    }
}
