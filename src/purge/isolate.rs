//! One isolate's knowledge of the purges: its view of the snapshot ([`PurgeView`]), when it
//! first saw each record ([`SeenRecords`]), and its memo of per-record reads ([`RecordMemo`]),
//! kept together so that the adapter holds one value and only performs the reads this asks for.
//!
//! A hit is checked against the view; an entry older than the snapshot's window is checked
//! against its per-record keys with a [`RecordsCheck`]: the keys to read come out, the records
//! read go in, twice at most (base keys, then prefix keys when the prefix gate is open), then
//! the verdict. A record this isolate saw before an entry's origin fetch started is reflected in
//! the entry and does not purge it ([`SeenRecords::reflected`]).

use super::keys::{
    base_keys_to_check, check_entry, prefix_gate_open, prefix_keys_to_check, PREFIX_GATE_KEY,
};
use super::memo::RecordMemo;
use super::record::{merge, PurgeRecord, PurgeVerdict};
use super::seen::SeenRecords;
use super::snapshot::{PurgeSnapshot, PurgeView, RefreshPlan, ViewVerdict};
use std::collections::HashMap;

/// Records read (or memoised) by key; `None`: no record under that key.
pub type Records = HashMap<String, Option<PurgeRecord>>;

/// A stored entry, as the purge check sees it.
#[derive(Debug, Clone, Copy)]
pub struct Entry<'a> {
    /// When its origin fetch started (ms).
    pub stored_at_ms: u64,
    /// Its purge tags.
    pub tags: &'a [String],
    /// Its URL key without the vary part (URL purges name the URL, not a variant).
    pub url_key: &'a str,
    /// Its host and path (normalised, as in the key).
    pub host: &'a str,
    /// Its path.
    pub path: &'a str,
}

/// The isolate's purge knowledge (see the module docs).
#[derive(Debug, Default)]
pub struct IsolatePurges {
    view: Option<PurgeView>,
    seen: SeenRecords,
    memo: RecordMemo,
}

impl IsolatePurges {
    /// The view, created on first use with `refresh_ms`.
    fn view(&mut self, refresh_ms: u64) -> &mut PurgeView {
        self.view.get_or_insert_with(|| PurgeView::new(refresh_ms))
    }

    /// Whether a hit at `now_ms` may be answered from the view, should start a refresh, or
    /// must wait for one.
    pub fn plan(&mut self, refresh_ms: u64, now_ms: u64) -> RefreshPlan {
        self.view(refresh_ms).plan(now_ms)
    }

    /// Starts a refresh at `now_ms` unless one is in flight; whether this call started it.
    pub fn begin_refresh(&mut self, refresh_ms: u64, now_ms: u64) -> bool {
        self.view(refresh_ms).begin_refresh(now_ms)
    }

    /// Installs the result of a refresh started at `started_ms`, read by `done_ms` (the
    /// moment its records are known to this isolate).
    pub fn finish_refresh(
        &mut self,
        refresh_ms: u64,
        started_ms: u64,
        snap: Option<PurgeSnapshot>,
        done_ms: u64,
    ) {
        if let Some(s) = &snap {
            for (k, r) in s.iter() {
                self.seen.note(k, Some(r), done_ms);
            }
        }
        self.view(refresh_ms)
            .finish_refresh(started_ms, snap, done_ms);
    }

    /// A purge this isolate made (accepted at `now_ms`, known by `seen_ms`): it applies here at
    /// once, through the memo, the seen records and the view.
    pub fn note_own_purge(
        &mut self,
        refresh_ms: u64,
        keys: &[String],
        record: PurgeRecord,
        now_ms: u64,
        seen_ms: u64,
    ) {
        for k in keys {
            self.memo.insert(k, Some(record), now_ms);
            self.seen.note(k, Some(record), seen_ms);
            self.view(refresh_ms).note_local(k, record);
        }
    }

    /// Whether the entry already reflects `record` under `key`.
    fn applies(&self, key: &str, record: &PurgeRecord, stored_at_ms: u64) -> bool {
        !self.seen.reflected(key, record, stored_at_ms)
    }

    /// The verdict from the view at `now_ms`, when it can give one.
    pub fn check_view(&self, now_ms: u64, e: &Entry<'_>) -> ViewVerdict {
        let Some(view) = &self.view else {
            return ViewVerdict::NeedsRecords;
        };
        let applies = |k: &str, r: &PurgeRecord| self.applies(k, r, e.stored_at_ms);
        view.check(
            now_ms,
            e.stored_at_ms,
            e.tags,
            e.url_key,
            e.host,
            e.path,
            applies,
        )
    }

    /// The memoised records of `keys` at `now_ms` (noted as seen at `held_ms`), and the keys
    /// that must be read.
    pub fn memoised(
        &mut self,
        keys: &[String],
        now_ms: u64,
        held_ms: u64,
    ) -> (Records, Vec<String>) {
        let mut found = Records::new();
        let mut missing = Vec::new();
        for k in keys {
            match self.memo.get(k, now_ms) {
                Some(r) => {
                    self.seen.note(k, r, held_ms);
                    found.insert(k.clone(), r);
                }
                None => missing.push(k.clone()),
            }
        }
        (found, missing)
    }

    /// Takes in records read at `now_ms` (known by `seen_ms`) and adds them to `out`: the memo
    /// merges them with what it held (a record this isolate just wrote wins over an older read),
    /// and this isolate's own purges stay applied until a snapshot reflects them (a read may
    /// still return the value from before them). Returns `out`, every record merged.
    pub fn absorb(
        &mut self,
        mut out: Records,
        read: Vec<(String, Option<PurgeRecord>)>,
        now_ms: u64,
        seen_ms: u64,
    ) -> Records {
        for (k, r) in read {
            self.seen.note(&k, r, seen_ms);
            self.memo.insert(&k, r, now_ms);
            let merged = self.memo.get(&k, now_ms).unwrap_or(r);
            out.insert(k, merged);
        }
        if let Some(v) = &self.view {
            for (k, r) in out.iter_mut() {
                if let Some(own) = v.local_record(k) {
                    *r = Some(r.map_or(own, |r| merge(r, own)));
                }
            }
        }
        out
    }
}

/// The check of an entry against its per-record keys, sans I/O: [`RecordsCheck::keys`] says
/// what to read next, [`RecordsCheck::feed`] takes the records, [`RecordsCheck::verdict`] ends.
#[derive(Debug)]
pub struct RecordsCheck<'a> {
    entry: Entry<'a>,
    records: Records,
    /// Whether the prefix keys were asked for already.
    prefixes_asked: bool,
    next: Option<Vec<String>>,
}

impl<'a> RecordsCheck<'a> {
    /// Starts the check of `entry`: its base keys (tags, URL, everything, the prefix gate)
    /// come first.
    pub fn new(entry: Entry<'a>) -> Self {
        let base = base_keys_to_check(entry.tags, entry.url_key);
        RecordsCheck {
            entry,
            records: Records::new(),
            prefixes_asked: false,
            next: Some(base),
        }
    }

    /// The keys to read next (`None`: the verdict is ready).
    pub fn keys(&mut self) -> Option<Vec<String>> {
        self.next.take()
    }

    /// The records read for the last keys. Records the entry already reflects (`isolate`'s
    /// seen records) are dropped. After the base keys, an open prefix gate asks for the
    /// entry's prefix keys.
    pub fn feed(&mut self, isolate: &IsolatePurges, read: Records) {
        let stored = self.entry.stored_at_ms;
        self.records.extend(
            read.into_iter()
                .filter(|(k, r)| r.is_none_or(|r| isolate.applies(k, &r, stored))),
        );
        if !self.prefixes_asked {
            self.prefixes_asked = true;
            let gate = self.records.get(PREFIX_GATE_KEY).copied().flatten();
            if prefix_gate_open(stored, gate) {
                self.next = Some(prefix_keys_to_check(self.entry.host, self.entry.path));
            }
        }
    }

    /// The verdict over every record fed.
    pub fn verdict(&self) -> PurgeVerdict {
        let e = &self.entry;
        check_entry(e.stored_at_ms, e.tags, e.url_key, e.host, e.path, |k| {
            self.records.get(k).copied().flatten()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::purge::{tag_key, ALL_KEY};

    const URL: &str = "https://s.test/a/b";

    fn entry<'a>(tags: &'a [String], stored_at_ms: u64) -> Entry<'a> {
        Entry {
            stored_at_ms,
            tags,
            url_key: URL,
            host: "s.test",
            path: "/a/b",
        }
    }

    /// Runs a records check against `kv`, counting the read rounds.
    fn run(
        isolate: &mut IsolatePurges,
        e: Entry<'_>,
        kv: &Records,
        now: u64,
    ) -> (PurgeVerdict, usize) {
        let mut c = RecordsCheck::new(e);
        let mut rounds = 0;
        while let Some(keys) = c.keys() {
            rounds += 1;
            let (found, missing) = isolate.memoised(&keys, now, now);
            let read = missing
                .into_iter()
                .map(|k| {
                    let r = kv.get(&k).copied().flatten();
                    (k, r)
                })
                .collect();
            let got = isolate.absorb(found, read, now, now);
            c.feed(isolate, got);
        }
        (c.verdict(), rounds)
    }

    #[test]
    fn a_tag_purged_after_the_store_purges_the_entry() {
        let tags = vec!["t".to_string()];
        let mut kv = Records::new();
        kv.insert(tag_key("t"), Some(PurgeRecord::hard(2_000)));
        let mut iso = IsolatePurges::default();
        let (v, rounds) = run(&mut iso, entry(&tags, 1_000), &kv, 3_000);
        assert!(matches!(v, PurgeVerdict::HardPurged { .. }), "{v:?}");
        assert_eq!(rounds, 1, "no prefix gate: one round");
        // Stored after the purge (beyond the skew allowance), by another isolate: clean.
        let after = 2_000 + crate::purge::PURGE_SKEW_MS + 1;
        let mut other = IsolatePurges::default();
        let (v, _) = run(&mut other, entry(&tags, after), &kv, after);
        assert_eq!(v, PurgeVerdict::Fresh);
    }

    #[test]
    fn an_open_prefix_gate_asks_for_the_prefix_keys() {
        let tags: Vec<String> = Vec::new();
        let mut kv = Records::new();
        kv.insert(PREFIX_GATE_KEY.to_string(), Some(PurgeRecord::hard(2_000)));
        let pk = prefix_keys_to_check("s.test", "/a/b");
        let k = pk.iter().find(|k| k.contains("/a")).cloned().unwrap();
        kv.insert(k, Some(PurgeRecord::soft(2_000)));
        let mut iso = IsolatePurges::default();
        let (v, rounds) = run(&mut iso, entry(&tags, 1_000), &kv, 3_000);
        assert_eq!(rounds, 2);
        assert!(matches!(v, PurgeVerdict::SoftPurged { .. }), "{v:?}");
    }

    #[test]
    fn a_record_seen_before_the_fetch_started_does_not_purge() {
        let tags = vec!["t".to_string()];
        let mut kv = Records::new();
        kv.insert(tag_key("t"), Some(PurgeRecord::hard(2_000)));
        let mut iso = IsolatePurges::default();
        // This isolate first sees the record at 2_100; an entry fetched before that applies it.
        let (v, _) = run(&mut iso, entry(&tags, 1_990), &kv, 2_100);
        assert!(matches!(v, PurgeVerdict::HardPurged { .. }));
        // An entry fetched after this isolate saw the record reflects it: not purged.
        let (v, _) = run(&mut iso, entry(&tags, 2_150), &kv, 2_200);
        assert_eq!(v, PurgeVerdict::Fresh);
    }

    #[test]
    fn own_purges_apply_at_once_and_survive_an_older_read() {
        let mut iso = IsolatePurges::default();
        let rec = PurgeRecord::hard(5_000);
        iso.note_own_purge(1_000, &[tag_key("t")], rec, 5_000, 5_000);
        // The memo answers without a read.
        let (found, missing) = iso.memoised(&[tag_key("t"), ALL_KEY.to_string()], 5_001, 5_001);
        assert_eq!(found.get(&tag_key("t")), Some(&Some(rec)));
        assert_eq!(missing, vec![ALL_KEY.to_string()]);
        // Long after the memo expired, a read of KV still without the record: own purge wins.
        let later = 5_000 + 10 * crate::purge::DEV_MEMO_TTL_MS;
        let out = iso.absorb(Records::new(), vec![(tag_key("t"), None)], later, later);
        assert_eq!(out.get(&tag_key("t")), Some(&Some(rec)));
    }

    #[test]
    fn the_view_answers_once_a_snapshot_is_installed() {
        let tags = vec!["t".to_string()];
        let mut iso = IsolatePurges::default();
        let e = entry(&tags, 1_000);
        assert_eq!(iso.check_view(1_000, &e), ViewVerdict::NeedsRecords);
        assert_eq!(iso.plan(1_000, 1_000), RefreshPlan::Wait);
        assert!(iso.begin_refresh(1_000, 1_000));
        let mut snap = PurgeSnapshot::new(0);
        snap.add(&tag_key("t"), PurgeRecord::hard(1_500));
        iso.finish_refresh(1_000, 1_000, Some(snap), 1_600);
        assert_eq!(iso.plan(1_000, 1_700), RefreshPlan::Serve);
        assert!(matches!(
            iso.check_view(1_700, &e),
            ViewVerdict::Known(PurgeVerdict::HardPurged { .. })
        ));
    }
}
