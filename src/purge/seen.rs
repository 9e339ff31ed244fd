//! When this isolate first saw each purge record: causality against clock skew.
//!
//! [`super::check_entry`] treats an entry stored up to [`super::PURGE_SKEW_MS`] after a purge
//! as purged, because the purge time comes from another location's clock. Alone, that makes
//! every copy fetched in the first second after a purge count as purged too: a hard purge costs
//! several origin fetches and a soft purge serves stale again and again. But an origin fetch
//! that this location started after it had *seen* the record is causally after the purge,
//! whatever the clocks say. So the isolate notes when it first saw each record
//! ([`SeenRecords::note`]), and for an entry whose origin fetch started at or after that moment
//! (`stored_at_ms` is when the origin request was sent) the record is already reflected in the
//! entry ([`SeenRecords::reflected`]) and is not consulted. Without an observation (another
//! isolate, or forgotten) the conservative rule applies. Pure: times are parameters.

use super::record::PurgeRecord;
use std::collections::HashMap;

/// Observations kept before the table is cleared (clearing only costs extra origin fetches).
pub const SEEN_MAX_ENTRIES: usize = 10_000;

/// Record key → (newest `at_ms` seen, local ms when this isolate first saw that record).
#[derive(Debug, Clone, Default)]
pub struct SeenRecords {
    seen: HashMap<String, (u64, u64)>,
}

impl SeenRecords {
    /// Notes that this isolate holds `record` under `key` at `now_ms`. Call it after the read
    /// completed, with the clock read then, never with a time taken before the read. A record
    /// no newer than one already noted keeps the earlier observation.
    pub fn note(&mut self, key: &str, record: Option<PurgeRecord>, now_ms: u64) {
        let Some(r) = record else { return };
        if self.seen.get(key).is_some_and(|&(at, _)| at >= r.at_ms) {
            return;
        }
        if self.seen.len() >= SEEN_MAX_ENTRIES {
            self.seen.clear();
        }
        self.seen.insert(key.to_string(), (r.at_ms, now_ms));
    }

    /// Whether an entry whose origin fetch started at `stored_at_ms` was fetched after this
    /// isolate had seen `record` (or a newer one) under `key`: the record is then reflected in
    /// the entry and must not purge it.
    pub fn reflected(&self, key: &str, record: &PurgeRecord, stored_at_ms: u64) -> bool {
        self.seen
            .get(key)
            .is_some_and(|&(at, seen)| at >= record.at_ms && stored_at_ms >= seen)
    }

    /// Observations held.
    pub fn len(&self) -> usize {
        self.seen.len()
    }

    /// Whether nothing is held.
    pub fn is_empty(&self) -> bool {
        self.seen.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::purge::{check_entry, tag_key, PurgeVerdict, PURGE_SKEW_MS};

    const T: u64 = 1_000_000;

    #[test]
    fn a_fetch_started_after_seeing_the_purge_reflects_it() {
        let mut s = SeenRecords::default();
        let r = PurgeRecord::hard(T);
        s.note("t:a", Some(r), T + 50); // seen 50 ms after the purge time
        assert!(s.reflected("t:a", &r, T + 50));
        assert!(s.reflected("t:a", &r, T + 400));
        // Fetched before this isolate saw the record: not reflected (the skew rule decides).
        assert!(!s.reflected("t:a", &r, T + 49));
        // Other keys know nothing.
        assert!(!s.reflected("t:b", &r, T + 400));
    }

    #[test]
    fn the_skew_window_no_longer_purges_a_copy_fetched_after_the_purge_was_seen() {
        let mut s = SeenRecords::default();
        let r = PurgeRecord::hard(T);
        let key = tag_key("a");
        s.note(&key, Some(r), T + 10);
        let stored = T + 20; // within PURGE_SKEW_MS of the purge
        assert!(stored < T + PURGE_SKEW_MS);
        let look = |k: &str| (k == key && !s.reflected(k, &r, stored)).then_some(r);
        assert_eq!(
            check_entry(stored, &["a".into()], "https://h/x", "h", "/x", look),
            PurgeVerdict::Fresh
        );
        // Without the observation the conservative rule purges it.
        let blind = |k: &str| (k == key).then_some(r);
        assert!(matches!(
            check_entry(stored, &["a".into()], "https://h/x", "h", "/x", blind),
            PurgeVerdict::HardPurged { .. }
        ));
    }

    #[test]
    fn a_newer_record_is_a_new_observation_an_older_one_is_not() {
        let mut s = SeenRecords::default();
        let old = PurgeRecord::hard(T);
        let new = PurgeRecord::hard(T + 5_000);
        s.note("k", Some(old), T + 10);
        s.note("k", Some(old), T + 900); // same record again: first sighting stays
        assert!(s.reflected("k", &old, T + 10));
        s.note("k", Some(new), T + 6_000);
        assert!(s.reflected("k", &new, T + 6_000));
        assert!(!s.reflected("k", &new, T + 5_999));
        // The older record is covered by the newer observation too.
        assert!(s.reflected("k", &old, T + 6_000));
        s.note("k", Some(old), T + 7_000); // an older read never moves it back
        assert!(s.reflected("k", &new, T + 6_000));
        s.note("k", None, T + 8_000); // absent: nothing to note
        assert_eq!(s.len(), 1);
    }

    #[test]
    fn bounded() {
        let mut s = SeenRecords::default();
        for i in 0..SEEN_MAX_ENTRIES as u64 + 1 {
            s.note(&format!("k{i}"), Some(PurgeRecord::hard(T)), T);
        }
        assert!(s.len() <= SEEN_MAX_ENTRIES);
        assert!(!s.is_empty());
    }
}
