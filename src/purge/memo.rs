//! In-isolate memo of purge record reads, so a hot isolate does not read KV for every request.

use super::record::{merge, PurgeRecord};
use std::collections::{BTreeSet, HashMap};

/// A bounded map from record key to the record last read (or written) and when.
///
/// Pure: the time is always a parameter. Entries answer [`RecordMemo::get`] for `ttl_ms`
/// after they were fetched; the map holds at most `max_entries`, evicting the oldest fetch
/// first. Values only move forward: [`RecordMemo::insert`] merges with what is held, so a
/// KV read that is older than a purge this isolate just wrote cannot undo it.
#[derive(Debug, Clone)]
pub struct RecordMemo {
    ttl_ms: u64,
    max_entries: usize,
    seq: u64,
    map: HashMap<String, MemoEntry>,
    /// (fetched_at_ms, insertion sequence, key): eviction order.
    order: BTreeSet<(u64, u64, String)>,
}

#[derive(Debug, Clone)]
struct MemoEntry {
    record: Option<PurgeRecord>,
    fetched_at_ms: u64,
    seq: u64,
}

/// Default memo lifetime in local development (milliseconds).
pub const DEV_MEMO_TTL_MS: u64 = 2_000;
/// Default bound on memo entries.
pub const DEFAULT_MEMO_MAX_ENTRIES: usize = 10_000;

impl Default for RecordMemo {
    fn default() -> Self {
        RecordMemo::new(DEV_MEMO_TTL_MS, DEFAULT_MEMO_MAX_ENTRIES)
    }
}

impl RecordMemo {
    /// An empty memo whose entries live `ttl_ms` and which holds at most `max_entries`
    /// (at least 1).
    pub fn new(ttl_ms: u64, max_entries: usize) -> Self {
        RecordMemo {
            ttl_ms,
            max_entries: max_entries.max(1),
            seq: 0,
            map: HashMap::new(),
            order: BTreeSet::new(),
        }
    }

    /// The memoised value of `key` if fetched less than `ttl_ms` ago: `Some(Some(r))` a known
    /// record, `Some(None)` known absent, `None` unknown or expired (read KV).
    pub fn get(&self, key: &str, now_ms: u64) -> Option<Option<PurgeRecord>> {
        let e = self.map.get(key)?;
        if now_ms.saturating_sub(e.fetched_at_ms) < self.ttl_ms {
            Some(e.record)
        } else {
            None
        }
    }

    /// Records the value of `key` read (or written) at `now_ms`, merged with any value held
    /// so it never moves backwards; evicts expired entries, then the oldest, when full.
    pub fn insert(&mut self, key: &str, record: Option<PurgeRecord>, now_ms: u64) {
        let held = self.remove(key).and_then(|e| e.record);
        let record = match (held, record) {
            (Some(a), Some(b)) => Some(merge(a, b)),
            (a, b) => a.or(b),
        };
        while self.map.len() >= self.max_entries {
            let Some(oldest) = self.order.iter().next().cloned() else {
                break;
            };
            self.order.remove(&oldest);
            self.map.remove(&oldest.2);
        }
        self.seq += 1;
        self.order.insert((now_ms, self.seq, key.to_string()));
        self.map.insert(
            key.to_string(),
            MemoEntry {
                record,
                fetched_at_ms: now_ms,
                seq: self.seq,
            },
        );
    }

    /// Forgets `key`, so the next read goes to KV.
    pub fn invalidate(&mut self, key: &str) {
        self.remove(key);
    }

    /// Drops every entry older than `ttl_ms` (optional housekeeping; `get` ignores them).
    pub fn purge_expired(&mut self, now_ms: u64) {
        while let Some(oldest) = self.order.iter().next().cloned() {
            if now_ms.saturating_sub(oldest.0) < self.ttl_ms {
                break;
            }
            self.order.remove(&oldest);
            self.map.remove(&oldest.2);
        }
    }

    /// Number of entries held (expired ones included until evicted).
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// Whether the memo holds no entry.
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    fn remove(&mut self, key: &str) -> Option<MemoEntry> {
        let e = self.map.remove(key)?;
        self.order
            .remove(&(e.fetched_at_ms, e.seq, key.to_string()));
        Some(e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: u64 = 1_732_560_000_000;

    #[test]
    fn ttl_and_absence() {
        let mut m = RecordMemo::new(2_000, 10);
        assert_eq!(m.get("tag:a", NOW), None);
        m.insert("tag:a", None, NOW);
        assert_eq!(m.get("tag:a", NOW + 1_999), Some(None));
        assert_eq!(m.get("tag:a", NOW + 2_000), None);
        m.insert("tag:b", Some(PurgeRecord::hard(5)), NOW);
        assert_eq!(m.get("tag:b", NOW), Some(Some(PurgeRecord::hard(5))));
        // A clock going backwards does not make an entry unusable.
        assert_eq!(m.get("tag:b", NOW - 10), Some(Some(PurgeRecord::hard(5))));
    }

    #[test]
    fn insert_never_moves_backwards() {
        let mut m = RecordMemo::new(2_000, 10);
        m.insert("tag:a", Some(PurgeRecord::hard(10)), NOW);
        m.insert("tag:a", Some(PurgeRecord::soft(5)), NOW + 1);
        assert_eq!(m.get("tag:a", NOW + 1), Some(Some(PurgeRecord::hard(10))));
        m.insert("tag:a", None, NOW + 2);
        assert_eq!(m.get("tag:a", NOW + 2), Some(Some(PurgeRecord::hard(10))));
        m.invalidate("tag:a");
        assert_eq!(m.get("tag:a", NOW + 2), None);
        assert!(m.is_empty());
    }

    #[test]
    fn bounded_with_oldest_evicted() {
        let mut m = RecordMemo::new(60_000, 3);
        for (i, k) in ["a", "b", "c", "d"].iter().enumerate() {
            m.insert(k, None, NOW + i as u64);
        }
        assert_eq!(m.len(), 3);
        assert_eq!(m.get("a", NOW + 10), None);
        assert_eq!(m.get("d", NOW + 10), Some(None));
        // Refreshing "b" makes "c" the oldest.
        m.insert("b", None, NOW + 20);
        m.insert("e", None, NOW + 21);
        assert_eq!(m.get("c", NOW + 21), None);
        assert_eq!(m.get("b", NOW + 21), Some(None));
    }

    #[test]
    fn purge_expired_drops_old_entries() {
        let mut m = RecordMemo::new(1_000, 10);
        m.insert("a", None, NOW);
        m.insert("b", None, NOW + 900);
        m.purge_expired(NOW + 1_000);
        assert_eq!(m.len(), 1);
        assert_eq!(m.get("b", NOW + 1_000), Some(None));
    }
}
