//! The purge snapshot: every recent purge record under one KV key, and the isolate's view of it.
//!
//! Per-record keys ([`super::keys`]) cost one KV read per tag, URL and gate for each entry whose
//! memo is stale, on the hit path. The ledger therefore also publishes a **snapshot**: every
//! record it holds (the merged value of each record key), bounded to
//! [`SNAPSHOT_MAX_BYTES`], plus `since`, the time from which it is **complete**: every purge at
//! or after `since` is reflected in it. When the snapshot would be too large, the ledger drops
//! the records with the oldest purge time and moves `since` past them.
//!
//! An entry stored at `s` can only be covered by a purge at `t >= s - PURGE_SKEW_MS`
//! ([`PurgeRecord::verdict_for`]). So for an entry with `s >= since + PURGE_SKEW_MS` the
//! snapshot answers exactly what the per-record keys would: a record missing from it means no
//! purge of that key since `since`, and a merged record gives the strongest verdict of the
//! purges it merges ([`super::merge`] is exact). Older entries ("needs records") still go
//! through the per-record keys, so nothing is lost when the snapshot drops old records.
//!
//! The isolate holds a [`PurgeView`]: the last snapshot read, merged with its own purges. A hit
//! is answered from it; when it is older than the refresh interval the adapter refreshes it in
//! the background (one KV read per interval per isolate, whatever the number of tags). Only an
//! isolate with no usable view (its first hit, or after being idle for two intervals) waits for
//! the read. Pure: every time is a parameter.

use super::keys::{check_entry, record_prunable, KV_KEY_MAX_BYTES};
use super::record::{merge, PurgeRecord, PurgeVerdict, PURGE_SKEW_MS};
use std::collections::HashMap;

/// The KV key of the snapshot (no record key can equal it: they all contain `:` or `#`, or are
/// `all` / `prefix-gate`).
pub const SNAPSHOT_KEY: &str = "snapshot";
/// Largest encoded snapshot the ledger publishes (bytes). About 1,500 records of 40 bytes; an
/// isolate decodes it once per refresh, in the background.
pub const SNAPSHOT_MAX_BYTES: usize = 64 * 1024;
/// Default refresh interval of an isolate's view (ms). Equal to the KV `cacheTtl` of the read:
/// reading more often would mostly return the copy the location's KV cache already holds.
pub const DEFAULT_REFRESH_MS: u64 = 30_000;
/// A refresh started longer ago than this and not finished is presumed lost (ms).
pub const REFRESH_TIMEOUT_MS: u64 = 10_000;
/// After a failed refresh, the next one is not attempted for this long (ms).
pub const RETRY_AFTER_FAILURE_MS: u64 = 5_000;
/// Own purges an isolate keeps on top of its snapshot before forgetting them (they are in the
/// next snapshot anyway).
pub const LOCAL_MAX_ENTRIES: usize = 10_000;
/// Workers KV: writes to one key are limited to one per second.
pub const KV_WRITE_MIN_INTERVAL_MS: u64 = 1_000;
/// Workers KV: how long a write may take to be visible at every location (seconds).
pub const KV_PROPAGATION_SECS: u64 = 60;

/// First line of the encoding: format name and version, then ` <since_ms>`.
const MAGIC: &str = "edgecache-purge-snapshot/1";

/// Every recent purge record, complete from `since_ms` (see the module docs).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PurgeSnapshot {
    since_ms: u64,
    records: HashMap<String, PurgeRecord>,
}

impl PurgeSnapshot {
    /// An empty snapshot, complete from `since_ms` (0: every purge ever is in it, i.e. none).
    pub fn new(since_ms: u64) -> Self {
        PurgeSnapshot {
            since_ms,
            records: HashMap::new(),
        }
    }

    /// The time from which every purge is reflected.
    pub fn since_ms(&self) -> u64 {
        self.since_ms
    }

    /// The record held under `key`, if any.
    pub fn get(&self, key: &str) -> Option<PurgeRecord> {
        self.records.get(key).copied()
    }

    /// Every (key, record) held, in no particular order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, PurgeRecord)> {
        self.records.iter().map(|(k, r)| (k.as_str(), *r))
    }

    /// Number of records held.
    pub fn len(&self) -> usize {
        self.records.len()
    }

    /// Whether no record is held.
    pub fn is_empty(&self) -> bool {
        self.records.is_empty()
    }

    /// Merges `record` into the one held under `key`. A record whose newest purge is before
    /// `since` is irrelevant to every entry the snapshot answers for, and is not kept.
    pub fn add(&mut self, key: &str, record: PurgeRecord) {
        if record.at_ms < self.since_ms {
            return;
        }
        let merged = match self.records.get(key) {
            Some(held) => merge(*held, record),
            None => record,
        };
        self.records
            .insert(key.to_string(), trim(merged, self.since_ms));
    }

    /// Drops what `since` makes irrelevant: records older than it, and the memory of a hard
    /// purge before it under a newer soft one. The canonical form, so that equal knowledge
    /// gives equal snapshots whatever the order it arrived in.
    fn trim_to_since(&mut self) {
        let since = self.since_ms;
        self.records.retain(|_, r| r.at_ms >= since);
        for r in self.records.values_mut() {
            *r = trim(*r, since);
        }
    }

    /// Whether the snapshot answers exactly for an entry stored at `stored_at_ms`: every purge
    /// that can cover it (at or after `stored_at_ms - PURGE_SKEW_MS`) is at or after `since`.
    pub fn complete_for(&self, stored_at_ms: u64) -> bool {
        stored_at_ms >= self.since_ms.saturating_add(PURGE_SKEW_MS)
    }

    /// Merges another snapshot of the same ledger into this one (a KV read may return an older
    /// value than one already held): records are merged, `since` is the later of the two (both
    /// are complete from there), and records older than it are dropped.
    pub fn merge_from(&mut self, other: &PurgeSnapshot) {
        self.since_ms = self.since_ms.max(other.since_ms);
        for (k, r) in &other.records {
            self.add(k, *r);
        }
        self.trim_to_since();
    }

    /// Bounds the snapshot: drops the records no entry can need any more
    /// ([`record_prunable`]: their KV copies have expired too), then, while the encoding is over
    /// `max_bytes`, the records with the oldest purge time. `since` moves past every dropped
    /// record, so the snapshot stays complete from `since`.
    pub fn fit(&mut self, max_bytes: usize, now_ms: u64, max_lifetime_secs: u64) {
        // Prunable records are the oldest ones (it depends on the time only): since moves past
        // the newest of them.
        let newest_prunable = self
            .records
            .values()
            .filter(|r| record_prunable(r, now_ms, max_lifetime_secs))
            .map(|r| r.at_ms)
            .max();
        if let Some(t) = newest_prunable {
            self.since_ms = self.since_ms.max(t.saturating_add(1));
            self.trim_to_since();
        }
        // Then the oldest record while over the size (a purge adds few records at a time, so
        // few go here; no sort needed).
        let mut body = self.encoded_len().saturating_sub(head_len(self.since_ms));
        while head_len(self.since_ms).saturating_add(body) > max_bytes {
            let Some(oldest) = self.records.values().map(|r| r.at_ms).min() else {
                break; // only the header is left
            };
            self.since_ms = self.since_ms.max(oldest.saturating_add(1));
            let since = self.since_ms;
            self.records.retain(|k, r| {
                let keep = r.at_ms >= since;
                if !keep {
                    body = body.saturating_sub(line_len(k, r));
                }
                keep
            });
        }
        // Trimming only shortens records: the size bound still holds.
        self.trim_to_since();
    }

    /// Length in bytes of [`PurgeSnapshot::encode`]'s output.
    pub fn encoded_len(&self) -> usize {
        self.records
            .iter()
            .fold(head_len(self.since_ms), |n, (k, r)| {
                n.saturating_add(line_len(k, r))
            })
    }

    /// Text for the KV value: `edgecache-purge-snapshot/1 <since_ms>\n`, then one line per
    /// record in no particular order, `<record> <key length in bytes> <key>\n`
    /// ([`PurgeRecord::encode`] form; the length prefix lets a key hold any character,
    /// newlines included).
    pub fn encode(&self) -> String {
        let mut out = String::with_capacity(self.encoded_len());
        out.push_str(MAGIC);
        out.push(' ');
        out.push_str(&self.since_ms.to_string());
        out.push('\n');
        for (k, r) in &self.records {
            out.push_str(&r.encode());
            out.push(' ');
            out.push_str(&k.len().to_string());
            out.push(' ');
            out.push_str(k);
            out.push('\n');
        }
        out
    }

    /// Parses [`PurgeSnapshot::encode`] output; anything else gives `None`, never a panic.
    /// Records under one key twice are merged; records older than `since` are dropped.
    pub fn decode(text: &str) -> Option<Self> {
        let (head, mut rest) = text.split_once('\n')?;
        let since = head.strip_prefix(MAGIC)?.strip_prefix(' ')?;
        let mut snap = PurgeSnapshot::new(parse_num(since)?);
        while !rest.is_empty() {
            let (rec, after) = rest.split_once(' ')?;
            let (len, after) = after.split_once(' ')?;
            let len = usize::try_from(parse_num(len)?).ok()?;
            if len > KV_KEY_MAX_BYTES {
                return None;
            }
            let key = after.get(..len)?;
            rest = after.get(len..)?.strip_prefix('\n')?;
            let rec = PurgeRecord::decode(rec).filter(|_| !rec.is_empty() && rec.trim() == rec)?;
            snap.add(key, rec);
        }
        Some(snap)
    }
}

/// `r` without a prior hard purge before `since`: for an entry stored at or after
/// `since + PURGE_SKEW_MS` that hard purge cannot cover it, so the verdict is unchanged.
fn trim(r: PurgeRecord, since: u64) -> PurgeRecord {
    match r.prior_hard_ms {
        Some(h) if r.soft && h < since => PurgeRecord::soft(r.at_ms),
        _ => r,
    }
}

/// Bytes of the header line.
fn head_len(since_ms: u64) -> usize {
    MAGIC.len() + 1 + digits(since_ms) + 1
}

/// Bytes of one record line.
fn line_len(key: &str, r: &PurgeRecord) -> usize {
    r.encode().len() + 1 + digits(key.len() as u64) + 1 + key.len() + 1
}

/// Decimal digits of `n`.
fn digits(mut n: u64) -> usize {
    let mut d = 1;
    while n >= 10 {
        n /= 10;
        d += 1;
    }
    d
}

/// A decimal number: ASCII digits only, at most 20, no overflow.
fn parse_num(s: &str) -> Option<u64> {
    if s.is_empty() || s.len() > 20 || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

/// When the ledger may write the snapshot to KV, given when it last wrote it: now, or at the
/// returned time (Workers KV allows one write per key per second).
pub fn next_publish_ms(now_ms: u64, last_put_ms: Option<u64>) -> u64 {
    match last_put_ms {
        Some(t) if now_ms < t.saturating_add(KV_WRITE_MIN_INTERVAL_MS) => {
            t.saturating_add(KV_WRITE_MIN_INTERVAL_MS)
        }
        _ => now_ms,
    }
}

/// The longest a purge can take to reach every hit at every location (seconds), for an
/// isolate refresh interval `refresh_ms` and the KV `cacheTtl` of the snapshot read: the write
/// reaches every location's KV within [`KV_PROPAGATION_SECS`], a location's KV cache may serve
/// the previous value for `cacheTtl`, and an isolate answers hits from a view at most two
/// refresh intervals old ([`PurgeView`]; older, the hit waits for a read).
pub fn propagation_bound_secs(kv_cache_ttl_secs: u64, refresh_ms: u64) -> u64 {
    let view_secs = refresh_ms.saturating_mul(2).div_ceil(1000);
    KV_PROPAGATION_SECS
        .saturating_add(kv_cache_ttl_secs)
        .saturating_add(view_secs)
}

/// What the adapter does about the view before answering a hit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefreshPlan {
    /// Answer from the view as it is.
    Serve,
    /// Answer from the view, and start a refresh in the background (`wait_until`).
    ServeAndRefresh,
    /// The view is missing or too old to answer: read the snapshot (this request's own read:
    /// the adapter cannot await another request's I/O), then answer.
    Wait,
}

impl RefreshPlan {
    /// Stable name: `serve`, `serve-and-refresh`, `wait`.
    pub fn as_str(&self) -> &'static str {
        match self {
            RefreshPlan::Serve => "serve",
            RefreshPlan::ServeAndRefresh => "serve-and-refresh",
            RefreshPlan::Wait => "wait",
        }
    }
}

/// The view's answer for one entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ViewVerdict {
    /// The view answers exactly.
    Known(PurgeVerdict),
    /// The view cannot answer (no usable snapshot, or the entry is older than the snapshot's
    /// `since`): consult the per-record keys.
    NeedsRecords,
}

impl ViewVerdict {
    /// Stable name: the verdict's name, or `needs-records`.
    pub fn as_str(&self) -> &'static str {
        match self {
            ViewVerdict::Known(v) => v.as_str(),
            ViewVerdict::NeedsRecords => "needs-records",
        }
    }
}

/// An isolate's purge state: the last snapshot read (merged with earlier ones), when it was
/// read, the refresh in flight, and the isolate's own purges on top.
#[derive(Debug, Clone)]
pub struct PurgeView {
    refresh_ms: u64,
    snapshot: Option<PurgeSnapshot>,
    /// Local clock when the read that gave the newest installed snapshot *started* (its value
    /// is at least that recent).
    read_at_ms: u64,
    in_flight_since: Option<u64>,
    failed_at_ms: Option<u64>,
    local: HashMap<String, PurgeRecord>,
}

impl Default for PurgeView {
    fn default() -> Self {
        PurgeView::new(DEFAULT_REFRESH_MS)
    }
}

impl PurgeView {
    /// An empty view refreshed every `refresh_ms` (at least 1 ms).
    pub fn new(refresh_ms: u64) -> Self {
        PurgeView {
            refresh_ms: refresh_ms.max(1),
            snapshot: None,
            read_at_ms: 0,
            in_flight_since: None,
            failed_at_ms: None,
            local: HashMap::new(),
        }
    }

    /// The refresh interval.
    pub fn refresh_ms(&self) -> u64 {
        self.refresh_ms
    }

    /// Oldest view a hit is answered from: two refresh intervals (so at one request per
    /// interval or more, no hit waits).
    pub fn max_age_ms(&self) -> u64 {
        self.refresh_ms.saturating_mul(2)
    }

    /// The snapshot held, if any.
    pub fn snapshot(&self) -> Option<&PurgeSnapshot> {
        self.snapshot.as_ref()
    }

    fn age(&self, now_ms: u64) -> Option<u64> {
        self.snapshot
            .as_ref()
            .map(|_| now_ms.saturating_sub(self.read_at_ms))
    }

    /// Whether the view may answer hits at `now_ms` (held and at most [`Self::max_age_ms`] old).
    pub fn usable(&self, now_ms: u64) -> bool {
        self.age(now_ms).is_some_and(|a| a <= self.max_age_ms())
    }

    fn in_flight(&self, now_ms: u64) -> bool {
        self.in_flight_since
            .is_some_and(|t| now_ms.saturating_sub(t) < REFRESH_TIMEOUT_MS)
    }

    fn failed_recently(&self, now_ms: u64) -> bool {
        self.failed_at_ms
            .is_some_and(|t| now_ms.saturating_sub(t) < RETRY_AFTER_FAILURE_MS)
    }

    /// What to do before answering a hit at `now_ms`.
    ///
    /// Within the refresh interval: serve. Past it: serve and refresh in the background, unless
    /// a refresh is in flight or failed in the last [`RETRY_AFTER_FAILURE_MS`]. Without a usable
    /// view: wait for a refresh, unless one failed recently (then serve: [`Self::check`] says
    /// [`ViewVerdict::NeedsRecords`] and the per-record keys answer).
    pub fn plan(&self, now_ms: u64) -> RefreshPlan {
        let usable = self.usable(now_ms);
        let due = self.age(now_ms).is_none_or(|a| a >= self.refresh_ms);
        if !due {
            RefreshPlan::Serve
        } else if self.in_flight(now_ms) {
            if usable {
                RefreshPlan::Serve
            } else {
                RefreshPlan::Wait
            }
        } else if self.failed_recently(now_ms) {
            RefreshPlan::Serve
        } else if usable {
            RefreshPlan::ServeAndRefresh
        } else {
            RefreshPlan::Wait
        }
    }

    /// Marks a refresh as started at `now_ms`; `false` when one is already in flight (then no
    /// background refresh is started: one per isolate at a time).
    pub fn begin_refresh(&mut self, now_ms: u64) -> bool {
        if self.in_flight(now_ms) {
            return false;
        }
        self.in_flight_since = Some(now_ms);
        true
    }

    /// Ends the refresh started at `started_ms` (as passed to [`Self::begin_refresh`]):
    /// `Some(snapshot)` read, or `None` (the read failed or found nothing usable) at `done_ms`.
    /// A snapshot is merged with the one held (values never move backwards) and the isolate's
    /// own purges it now reflects are forgotten.
    pub fn finish_refresh(&mut self, started_ms: u64, result: Option<PurgeSnapshot>, done_ms: u64) {
        if self.in_flight_since == Some(started_ms) {
            self.in_flight_since = None;
        }
        let Some(new) = result else {
            self.failed_at_ms = Some(done_ms);
            return;
        };
        self.failed_at_ms = None;
        match &mut self.snapshot {
            Some(held) => held.merge_from(&new),
            None => self.snapshot = Some(new),
        }
        self.read_at_ms = self.read_at_ms.max(started_ms);
        if let Some(s) = &self.snapshot {
            self.local
                .retain(|k, r| s.get(k).is_none_or(|held| merge(held, *r) != held));
        }
    }

    /// Notes a purge this isolate made (applies at once, before any snapshot reflects it).
    pub fn note_local(&mut self, key: &str, record: PurgeRecord) {
        if self.local.len() >= LOCAL_MAX_ENTRIES && !self.local.contains_key(key) {
            self.local.clear();
        }
        let merged = match self.local.get(key) {
            Some(held) => merge(*held, record),
            None => record,
        };
        self.local.insert(key.to_string(), merged);
    }

    /// This isolate's own record for `key`, if it purged it and no snapshot reflects it yet.
    pub fn local_record(&self, key: &str) -> Option<PurgeRecord> {
        self.local.get(key).copied()
    }

    /// The record for `key`: the snapshot's merged with this isolate's own.
    fn record(&self, snap: &PurgeSnapshot, key: &str) -> Option<PurgeRecord> {
        match (snap.get(key), self.local.get(key)) {
            (Some(a), Some(b)) => Some(merge(a, *b)),
            (a, b) => a.or(b.copied()),
        }
    }

    /// The purge verdict for an entry stored at `stored_at_ms` (tags, URL key, host and path as
    /// for [`check_entry`]) at `now_ms`, when the view can give it exactly.
    ///
    /// `applies(key, record)` is false for a record the entry already reflects (seen by this
    /// isolate before the entry's origin fetch started: [`super::SeenRecords::reflected`]).
    #[allow(clippy::too_many_arguments)]
    pub fn check(
        &self,
        now_ms: u64,
        stored_at_ms: u64,
        entry_tags: &[String],
        entry_key: &str,
        entry_host: &str,
        entry_path: &str,
        applies: impl Fn(&str, &PurgeRecord) -> bool,
    ) -> ViewVerdict {
        let Some(snap) = self.snapshot.as_ref() else {
            return ViewVerdict::NeedsRecords;
        };
        if !self.usable(now_ms) || !snap.complete_for(stored_at_ms) {
            return ViewVerdict::NeedsRecords;
        }
        let lookup = |k: &str| self.record(snap, k).filter(|r| applies(k, r));
        ViewVerdict::Known(check_entry(
            stored_at_ms,
            entry_tags,
            entry_key,
            entry_host,
            entry_path,
            lookup,
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::purge::{prefix_key, tag_key, url_key, ALL_KEY, PREFIX_GATE_KEY};
    use proptest::prelude::*;

    /// A fixed "now" (ms) for every test.
    const NOW: u64 = 1_732_560_000_000;
    const R: u64 = 30_000;
    const DAY: u64 = 86_400;

    fn tags(ts: &[&str]) -> Vec<String> {
        ts.iter().map(|t| t.to_string()).collect()
    }

    fn view_with(snap: PurgeSnapshot, read_at: u64) -> PurgeView {
        let mut v = PurgeView::new(R);
        assert!(v.begin_refresh(read_at));
        v.finish_refresh(read_at, Some(snap), read_at + 5);
        v
    }

    fn check(v: &PurgeView, now: u64, stored: u64, t: &[&str]) -> ViewVerdict {
        v.check(
            now,
            stored,
            &tags(t),
            "https://h/a/b",
            "h",
            "/a/b",
            |_, _| true,
        )
    }

    #[test]
    fn encode_form_and_round_trip() {
        let mut s = PurgeSnapshot::new(7);
        s.add("tag:a", PurgeRecord::hard(10));
        s.add("tag:we ird\nkey", PurgeRecord::soft(12));
        let text = s.encode();
        let (head, body) = text.split_once('\n').unwrap();
        assert_eq!(head, "edgecache-purge-snapshot/1 7");
        let a = "10:h 5 tag:a\n";
        let b = "12:s 14 tag:we ird\nkey\n";
        assert!(
            body == format!("{a}{b}") || body == format!("{b}{a}"),
            "{body:?}"
        );
        assert_eq!(text.len(), s.encoded_len());
        assert_eq!(PurgeSnapshot::decode(&text), Some(s));
        assert_eq!(
            PurgeSnapshot::decode("edgecache-purge-snapshot/1 0\n"),
            Some(PurgeSnapshot::new(0))
        );
    }

    #[test]
    fn decode_refuses_malformed_text() {
        for bad in [
            "",
            "edgecache-purge-snapshot/1 7",
            "edgecache-purge-snapshot/2 7\n",
            "edgecache-purge-snapshot/1 x\n",
            "edgecache-purge-snapshot/1 7\n10:h 5 tag:a",
            "edgecache-purge-snapshot/1 7\n10:h 6 tag:a\n",
            "edgecache-purge-snapshot/1 7\n10:h 4 tag:a\n",
            "edgecache-purge-snapshot/1 7\n10:x 5 tag:a\n",
            "edgecache-purge-snapshot/1 7\n 5 tag:a\n",
            "edgecache-purge-snapshot/1 7\n10:h 999 tag:a\n",
            "edgecache-purge-snapshot/1 7\n10:h 99999999999999999999999 a\n",
            "edgecache-purge-snapshot/1 7\n10:h 1 é\n",
        ] {
            assert_eq!(PurgeSnapshot::decode(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn decode_merges_duplicates_and_drops_records_before_since() {
        let text = "edgecache-purge-snapshot/1 100\n150:h 1 a\n200:s 1 a\n50:h 1 b\n";
        let s = PurgeSnapshot::decode(text).unwrap();
        assert_eq!(
            s.get("a"),
            Some(merge(PurgeRecord::hard(150), PurgeRecord::soft(200)))
        );
        assert_eq!(s.get("b"), None, "older than since: irrelevant");
    }

    #[test]
    fn fit_drops_the_oldest_and_moves_since() {
        let mut s = PurgeSnapshot::new(0);
        for i in 0..100u64 {
            s.add(
                &tag_key(&format!("t{i:03}")),
                PurgeRecord::hard(NOW + i * 1000),
            );
        }
        let before = s.encoded_len();
        s.fit(before, NOW, 60 * DAY);
        assert_eq!(s.len(), 100, "fits already: nothing dropped");
        assert_eq!(s.since_ms(), 0);
        s.fit(before / 2, NOW, 60 * DAY);
        assert!(s.encoded_len() <= before / 2);
        let kept = s.len() as u64;
        assert!(kept > 0 && kept < 100);
        // The oldest are gone and `since` is just past the newest one dropped.
        let oldest_kept = 100 - kept;
        assert_eq!(s.since_ms(), NOW + (oldest_kept - 1) * 1000 + 1);
        assert_eq!(s.get(&tag_key("t000")), None);
        assert!(s.get(&tag_key(&format!("t{oldest_kept:03}"))).is_some());
        assert!(s.iter().all(|(_, r)| r.at_ms >= s.since_ms()));
    }

    #[test]
    fn fit_drops_prunable_records() {
        let mut s = PurgeSnapshot::new(0);
        s.add("tag:old", PurgeRecord::hard(NOW - 62 * DAY * 1000));
        s.add("tag:new", PurgeRecord::hard(NOW - 1000));
        s.fit(SNAPSHOT_MAX_BYTES, NOW, 61 * DAY);
        assert_eq!(s.len(), 1);
        assert!(s.get("tag:new").is_some());
        assert_eq!(s.since_ms(), NOW - 62 * DAY * 1000 + 1);
    }

    #[test]
    fn completeness_boundary_includes_the_skew() {
        let s = PurgeSnapshot::new(NOW);
        assert!(!s.complete_for(NOW));
        assert!(!s.complete_for(NOW + PURGE_SKEW_MS - 1));
        assert!(s.complete_for(NOW + PURGE_SKEW_MS));
    }

    #[test]
    fn fresh_view_answers_from_the_snapshot() {
        let mut s = PurgeSnapshot::new(NOW - 3_600_000);
        s.add(&tag_key("news"), PurgeRecord::hard(NOW - 60_000));
        s.add(&tag_key("soft"), PurgeRecord::soft(NOW - 60_000));
        let v = view_with(s, NOW);
        let stored = NOW - 120_000; // before both purges
        assert_eq!(v.plan(NOW + 1_000), RefreshPlan::Serve);
        assert_eq!(
            check(&v, NOW + 1_000, stored, &["news"]),
            ViewVerdict::Known(PurgeVerdict::HardPurged {
                at_ms: NOW - 60_000
            })
        );
        assert_eq!(
            check(&v, NOW + 1_000, stored, &["soft", "other"]),
            ViewVerdict::Known(PurgeVerdict::SoftPurged {
                at_ms: NOW - 60_000
            })
        );
        assert_eq!(
            check(&v, NOW + 1_000, stored, &["other"]),
            ViewVerdict::Known(PurgeVerdict::Fresh)
        );
        // Stored after the purge (beyond the skew allowance): fresh.
        assert_eq!(
            check(&v, NOW + 1_000, NOW - 30_000, &["news"]),
            ViewVerdict::Known(PurgeVerdict::Fresh)
        );
    }

    #[test]
    fn url_all_and_prefix_records_are_consulted() {
        let p = NOW - 60_000;
        let stored = NOW - 120_000;
        let one = |key: String| {
            let mut s = PurgeSnapshot::new(NOW - 3_600_000);
            s.add(&key, PurgeRecord::hard(p));
            if key.starts_with("prefix") {
                s.add(PREFIX_GATE_KEY, PurgeRecord::hard(p));
            }
            check(&view_with(s, NOW), NOW, stored, &[])
        };
        let purged = ViewVerdict::Known(PurgeVerdict::HardPurged { at_ms: p });
        assert_eq!(one(ALL_KEY.to_string()), purged);
        assert_eq!(one(url_key("https://h/a/b")), purged);
        assert_eq!(one(prefix_key(None, "/a")), purged);
        assert_eq!(one(prefix_key(Some("h"), "/a/b")), purged);
        assert_eq!(
            one(prefix_key(None, "/z")),
            ViewVerdict::Known(PurgeVerdict::Fresh)
        );
        assert_eq!(
            one(url_key("https://h/other")),
            ViewVerdict::Known(PurgeVerdict::Fresh)
        );
    }

    #[test]
    fn stale_view_is_served_and_refreshed_once() {
        let v0 = view_with(PurgeSnapshot::new(0), NOW);
        let mut v = v0.clone();
        assert_eq!(v.plan(NOW + R - 1), RefreshPlan::Serve);
        assert_eq!(v.plan(NOW + R), RefreshPlan::ServeAndRefresh);
        // Still answers while stale.
        assert!(matches!(
            check(&v, NOW + R, NOW - 10_000, &["x"]),
            ViewVerdict::Known(_)
        ));
        assert!(v.begin_refresh(NOW + R));
        // One refresh in flight per isolate: the next hits just serve.
        assert_eq!(v.plan(NOW + R + 10), RefreshPlan::Serve);
        assert!(!v.begin_refresh(NOW + R + 10));
        // A purge arrives with the refresh; the next hit sees it.
        let mut s = PurgeSnapshot::new(0);
        s.add(&tag_key("x"), PurgeRecord::hard(NOW + 1_000));
        v.finish_refresh(NOW + R, Some(s), NOW + R + 40);
        assert_eq!(v.plan(NOW + R + 50), RefreshPlan::Serve);
        assert_eq!(
            check(&v, NOW + R + 50, NOW - 10_000, &["x"]),
            ViewVerdict::Known(PurgeVerdict::HardPurged { at_ms: NOW + 1_000 })
        );
        // A refresh that never finished is presumed lost after the timeout.
        let mut w = v0;
        assert!(w.begin_refresh(NOW + R));
        assert_eq!(
            w.plan(NOW + R + REFRESH_TIMEOUT_MS),
            RefreshPlan::ServeAndRefresh
        );
        assert!(w.begin_refresh(NOW + R + REFRESH_TIMEOUT_MS));
    }

    #[test]
    fn no_view_or_a_too_old_one_waits() {
        let mut v = PurgeView::new(R);
        assert_eq!(v.plan(NOW), RefreshPlan::Wait);
        assert_eq!(check(&v, NOW, NOW - 10_000, &[]), ViewVerdict::NeedsRecords);
        assert!(v.begin_refresh(NOW));
        // Another hit meanwhile waits too (the adapter reads again for it: no cross-request I/O).
        assert_eq!(v.plan(NOW + 5), RefreshPlan::Wait);
        assert!(!v.begin_refresh(NOW + 5));
        v.finish_refresh(NOW, Some(PurgeSnapshot::new(0)), NOW + 20);
        assert_eq!(v.plan(NOW + 20), RefreshPlan::Serve);
        // Idle for more than two intervals: the view is not used any more.
        let late = NOW + 2 * R + 1;
        assert!(!v.usable(late));
        assert_eq!(v.plan(late), RefreshPlan::Wait);
        assert_eq!(
            check(&v, late, NOW - 10_000, &[]),
            ViewVerdict::NeedsRecords
        );
    }

    #[test]
    fn a_failed_refresh_falls_back_to_records_and_retries_later() {
        let mut v = PurgeView::new(R);
        assert!(v.begin_refresh(NOW));
        v.finish_refresh(NOW, None, NOW + 100);
        assert_eq!(v.plan(NOW + 200), RefreshPlan::Serve);
        assert_eq!(
            check(&v, NOW + 200, NOW - 10_000, &[]),
            ViewVerdict::NeedsRecords
        );
        assert_eq!(
            v.plan(NOW + 100 + RETRY_AFTER_FAILURE_MS),
            RefreshPlan::Wait
        );
        // With a stale but usable view, a failure keeps serving it, then retries.
        let mut w = view_with(PurgeSnapshot::new(0), NOW);
        assert!(w.begin_refresh(NOW + R));
        w.finish_refresh(NOW + R, None, NOW + R + 10);
        assert_eq!(w.plan(NOW + R + 20), RefreshPlan::Serve);
        assert!(matches!(
            check(&w, NOW + R + 20, NOW - 10_000, &[]),
            ViewVerdict::Known(_)
        ));
        assert_eq!(
            w.plan(NOW + R + 10 + RETRY_AFTER_FAILURE_MS),
            RefreshPlan::ServeAndRefresh
        );
    }

    #[test]
    fn an_entry_older_than_the_window_needs_the_records() {
        let since = NOW - 3_600_000;
        let v = view_with(PurgeSnapshot::new(since), NOW);
        assert_eq!(check(&v, NOW, since - 1, &["x"]), ViewVerdict::NeedsRecords);
        assert_eq!(
            check(&v, NOW, since + PURGE_SKEW_MS - 1, &["x"]),
            ViewVerdict::NeedsRecords,
            "a purge just before since could still cover it through the skew allowance"
        );
        assert_eq!(
            check(&v, NOW, since + PURGE_SKEW_MS, &["x"]),
            ViewVerdict::Known(PurgeVerdict::Fresh)
        );
    }

    #[test]
    fn own_purges_apply_at_once_and_survive_an_older_snapshot() {
        let mut v = view_with(PurgeSnapshot::new(0), NOW);
        let p = PurgeRecord::hard(NOW + 1_000);
        v.note_local(&tag_key("x"), p);
        let at = ViewVerdict::Known(PurgeVerdict::HardPurged { at_ms: NOW + 1_000 });
        assert_eq!(check(&v, NOW + 1_001, NOW - 10_000, &["x"]), at);
        // A refresh returns a snapshot written before the purge: the purge stays.
        assert!(v.begin_refresh(NOW + R));
        v.finish_refresh(NOW + R, Some(PurgeSnapshot::new(0)), NOW + R + 5);
        assert_eq!(check(&v, NOW + R + 5, NOW - 10_000, &["x"]), at);
        assert_eq!(v.local_record(&tag_key("x")), Some(p));
        // Once a snapshot reflects it, the isolate's own copy is forgotten; the verdict stays.
        let mut s = PurgeSnapshot::new(0);
        s.add(&tag_key("x"), p);
        assert!(v.begin_refresh(NOW + 2 * R));
        v.finish_refresh(NOW + 2 * R, Some(s), NOW + 2 * R + 5);
        assert_eq!(v.local_record(&tag_key("x")), None);
        assert_eq!(check(&v, NOW + 2 * R + 5, NOW - 10_000, &["x"]), at);
    }

    #[test]
    fn an_older_snapshot_read_never_moves_the_view_backwards() {
        let mut newer = PurgeSnapshot::new(NOW - 1_000_000);
        newer.add(&tag_key("x"), PurgeRecord::hard(NOW - 500_000));
        let mut v = view_with(newer, NOW);
        // A lagging KV replica returns an older value (smaller since, no record of x).
        let mut older = PurgeSnapshot::new(NOW - 2_000_000);
        older.add(&tag_key("y"), PurgeRecord::soft(NOW - 1_500_000));
        assert!(v.begin_refresh(NOW + R));
        v.finish_refresh(NOW + R, Some(older), NOW + R + 5);
        let s = v.snapshot().unwrap();
        assert_eq!(s.since_ms(), NOW - 1_000_000);
        assert_eq!(s.get(&tag_key("x")), Some(PurgeRecord::hard(NOW - 500_000)));
        assert_eq!(s.get(&tag_key("y")), None, "before since: dropped");
    }

    #[test]
    fn skew_a_record_seen_before_the_fetch_started_does_not_purge() {
        let mut s = PurgeSnapshot::new(0);
        let r = PurgeRecord::hard(NOW);
        s.add(&tag_key("x"), r);
        let v = view_with(s, NOW + 50);
        let seen_at = NOW + 60; // this isolate first saw the record then
        let stored = NOW + 200; // within the skew allowance of the purge
        let mut seen = crate::purge::SeenRecords::default();
        seen.note(&tag_key("x"), Some(r), seen_at);
        let tg = tags(&["x"]);
        let applies = |k: &str, r: &PurgeRecord| !seen.reflected(k, r, stored);
        assert_eq!(
            v.check(NOW + 300, stored, &tg, "k", "h", "/", applies),
            ViewVerdict::Known(PurgeVerdict::Fresh)
        );
        // Without the observation (another isolate's fetch) the conservative rule purges it.
        assert_eq!(
            v.check(NOW + 300, stored, &tg, "k", "h", "/", |_, _| true),
            ViewVerdict::Known(PurgeVerdict::HardPurged { at_ms: NOW })
        );
        // Fetched before the record was seen: it applies.
        let early = NOW + 10;
        let applies = |k: &str, r: &PurgeRecord| !seen.reflected(k, r, early);
        assert_eq!(
            v.check(NOW + 300, early, &tg, "k", "h", "/", applies),
            ViewVerdict::Known(PurgeVerdict::HardPurged { at_ms: NOW })
        );
    }

    #[test]
    fn publish_rate_and_bound() {
        assert_eq!(next_publish_ms(NOW, None), NOW);
        assert_eq!(next_publish_ms(NOW, Some(NOW - 1_000)), NOW);
        assert_eq!(next_publish_ms(NOW, Some(NOW - 400)), NOW + 600);
        assert_eq!(propagation_bound_secs(30, 30_000), 150);
        assert_eq!(propagation_bound_secs(30, 1), 91);
        assert_eq!(propagation_bound_secs(u64::MAX, u64::MAX), u64::MAX);
    }

    fn any_record() -> impl Strategy<Value = PurgeRecord> {
        (0u64..100, any::<bool>(), proptest::option::of(0u64..100)).prop_map(|(at, soft, p)| {
            if soft {
                let mut r = PurgeRecord::soft(at);
                if let Some(p) = p.filter(|p| *p < at) {
                    r = merge(PurgeRecord::hard(p), r);
                }
                r
            } else {
                PurgeRecord::hard(at)
            }
        })
    }

    fn any_snapshot() -> impl Strategy<Value = PurgeSnapshot> {
        (
            0u64..50,
            proptest::collection::vec(("\\PC{0,12}", any_record()), 0..20),
        )
            .prop_map(|(since, recs)| {
                let mut s = PurgeSnapshot::new(since);
                for (k, r) in recs {
                    s.add(&k, r);
                }
                s
            })
    }

    proptest! {
        #[test]
        fn round_trip(s in any_snapshot()) {
            let text = s.encode();
            prop_assert_eq!(text.len(), s.encoded_len());
            prop_assert_eq!(PurgeSnapshot::decode(&text), Some(s));
        }

        #[test]
        fn decode_never_panics(text in "\\PC{0,200}") {
            let _ = PurgeSnapshot::decode(&text);
        }

        #[test]
        fn decode_never_panics_on_near_valid_text(s in any_snapshot(), cut in 0usize..400, b in any::<u8>()) {
            let mut bytes = s.encode().into_bytes();
            if let Some(x) = bytes.get_mut(cut) { *x = b; }
            if let Ok(text) = String::from_utf8(bytes) {
                let _ = PurgeSnapshot::decode(&text);
            }
        }

        /// Whatever is dropped to fit, the snapshot answers exactly like every record for each
        /// entry it claims to be complete for.
        #[test]
        fn fit_keeps_answers_exact_for_complete_entries(
            recs in proptest::collection::vec((0u8..12, any_record()), 0..30),
            max in 30usize..400,
            stored in 0u64..3_000,
        ) {
            let mut all: HashMap<String, PurgeRecord> = HashMap::new();
            let mut s = PurgeSnapshot::new(0);
            for (k, r) in recs {
                let key = format!("tag:{k}");
                let held = all.get(&key).map_or(r, |h| merge(*h, r));
                all.insert(key.clone(), held);
                s.add(&key, r);
            }
            s.fit(max, 0, 60 * DAY);
            prop_assert!(s.encoded_len() <= max || s.is_empty());
            if s.complete_for(stored) {
                for (k, r) in &all {
                    let expect = r.verdict_for(stored);
                    let got = s.get(k).map_or(PurgeVerdict::Fresh, |r| r.verdict_for(stored));
                    prop_assert_eq!(got, expect, "key {}", k);
                }
            }
        }

        /// Merging snapshots (in any order) never loses a verdict either held for an entry
        /// both are complete for.
        #[test]
        fn merge_from_is_monotone(a in any_snapshot(), b in any_snapshot(), stored in 1_000u64..1_200) {
            let mut m = a.clone();
            m.merge_from(&b);
            let mut n = b.clone();
            n.merge_from(&a);
            prop_assert_eq!(&m, &n);
            for s in [&a, &b] {
                if m.complete_for(stored) {
                    for (k, r) in s.iter() {
                        let got = m.get(k).map_or(PurgeVerdict::Fresh, |r| r.verdict_for(stored));
                        prop_assert!(got.rank() >= r.verdict_for(stored).rank());
                    }
                }
            }
        }
    }
}
