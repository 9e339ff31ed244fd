//! Cache metrics: per-isolate counters (a few integer additions on the request path) and the
//! time-bucketed aggregate the metrics Durable Object keeps. Pure: time is a parameter.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Width of an aggregate bucket.
pub const BUCKET_MS: u64 = 10_000;
/// Buckets kept (one hour of 10 s buckets).
pub const BUCKETS_KEPT: usize = 360;

/// Counters of one rule (or of everything).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counters {
    /// Requests seen.
    pub requests: u64,
    /// Served fresh from cache.
    pub hits_fresh: u64,
    /// Served stale from cache (stale-while-revalidate, soft purge, stale-if-error).
    pub hits_stale: u64,
    /// Cache misses (fetched from the origin for the cache).
    pub misses: u64,
    /// Requests that bypassed the cache.
    pub bypasses: u64,
    /// Requests sent to the origin.
    pub origin_fetches: u64,
    /// Origin failures (5xx, unreachable, timeout).
    pub origin_errors: u64,
    /// Revalidations with the origin (foreground or background).
    pub revalidations: u64,
    /// Body bytes served from cache.
    pub bytes_cache: u64,
    /// Body bytes received from the origin.
    pub bytes_origin: u64,
    /// Purge requests accepted.
    pub purges: u64,
}

impl Counters {
    /// Adds another set of counters.
    pub fn add(&mut self, o: &Counters) {
        self.requests += o.requests;
        self.hits_fresh += o.hits_fresh;
        self.hits_stale += o.hits_stale;
        self.misses += o.misses;
        self.bypasses += o.bypasses;
        self.origin_fetches += o.origin_fetches;
        self.origin_errors += o.origin_errors;
        self.revalidations += o.revalidations;
        self.bytes_cache += o.bytes_cache;
        self.bytes_origin += o.bytes_origin;
        self.purges += o.purges;
    }

    /// Hits / (hits + misses); bypasses are not part of the ratio. `None` without lookups.
    pub fn hit_ratio(&self) -> Option<f64> {
        let hits = self.hits_fresh + self.hits_stale;
        let total = hits + self.misses;
        (total > 0).then(|| hits as f64 / total as f64)
    }

    /// Whether every counter is zero.
    pub fn is_empty(&self) -> bool {
        *self == Counters::default()
    }
}

/// What one isolate counted since its last flush.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Snapshot {
    /// Per rule name.
    pub rules: BTreeMap<String, Counters>,
    /// Bypasses per reason.
    pub bypass_reasons: BTreeMap<String, u64>,
    /// KV reads made for purge checks.
    #[serde(default)]
    pub kv_reads: u64,
    /// Purge requests accepted.
    #[serde(default)]
    pub purges: u64,
}

impl Snapshot {
    /// The counters of `rule`, created on first use.
    pub fn rule(&mut self, rule: &str) -> &mut Counters {
        if !self.rules.contains_key(rule) {
            self.rules.insert(rule.to_string(), Counters::default());
        }
        // Inserted just above when absent.
        self.rules.get_mut(rule).expect("present")
    }

    /// Whether nothing was counted.
    pub fn is_empty(&self) -> bool {
        self.rules.values().all(Counters::is_empty)
            && self.bypass_reasons.is_empty()
            && self.kv_reads == 0
    }

    /// Adds another snapshot.
    pub fn merge(&mut self, o: &Snapshot) {
        for (k, v) in &o.rules {
            self.rule(k).add(v);
        }
        for (k, v) in &o.bypass_reasons {
            *self.bypass_reasons.entry(k.clone()).or_default() += v;
        }
        self.kv_reads += o.kv_reads;
        self.purges += o.purges;
    }

    /// All rules summed (purges are counted per snapshot, not per rule).
    pub fn totals(&self) -> Counters {
        let mut t = Counters::default();
        for c in self.rules.values() {
            t.add(c);
        }
        t.purges += self.purges;
        t
    }
}

/// One time bucket of the aggregate.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Bucket {
    /// Bucket start (ms, a multiple of [`BUCKET_MS`]).
    pub t: u64,
    /// What was counted in it.
    pub snap: Snapshot,
}

/// The aggregate kept by the metrics Durable Object: totals since start and recent buckets.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Aggregate {
    /// Everything since the aggregate started.
    pub total: Snapshot,
    /// The last hour, oldest first.
    pub buckets: Vec<Bucket>,
}

impl Aggregate {
    /// Adds an isolate's flush at `now_ms`.
    pub fn add(&mut self, snap: &Snapshot, now_ms: u64) {
        self.total.merge(snap);
        let t = now_ms - now_ms % BUCKET_MS;
        match self.buckets.last_mut() {
            Some(b) if b.t == t => b.snap.merge(snap),
            _ => self.buckets.push(Bucket {
                t,
                snap: snap.clone(),
            }),
        }
        let oldest = t.saturating_sub(BUCKET_MS * BUCKETS_KEPT as u64);
        self.buckets.retain(|b| b.t > oldest);
    }

    /// The JSON the dashboard reads (`GET /__edgecache/api/stats`).
    pub fn to_stats_json(&self, now_ms: u64) -> serde_json::Value {
        use serde_json::json;
        let totals = self.total.totals();
        let series: Vec<_> = self
            .buckets
            .iter()
            .map(|b| {
                let c = b.snap.totals();
                json!({"t": b.t, "requests": c.requests, "hits": c.hits_fresh + c.hits_stale,
                       "misses": c.misses, "bypasses": c.bypasses})
            })
            .collect();
        let rules: Vec<_> = self
            .total
            .rules
            .iter()
            .map(|(name, c)| {
                let mut v = serde_json::to_value(c).unwrap_or_default();
                v["name"] = json!(name);
                v["hit_ratio"] = json!(c.hit_ratio());
                v
            })
            .collect();
        json!({
            "now_ms": now_ms,
            "bucket_secs": BUCKET_MS / 1000,
            "totals": totals,
            "hit_ratio": totals.hit_ratio(),
            "series": series,
            "rules": rules,
            "bypass_reasons": self.total.bypass_reasons,
            "kv_reads": self.total.kv_reads,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn snap(rule: &str, hits: u64, misses: u64) -> Snapshot {
        let mut s = Snapshot::default();
        let c = s.rule(rule);
        c.requests = hits + misses;
        c.hits_fresh = hits;
        c.misses = misses;
        s
    }

    #[test]
    fn ratio_excludes_bypasses() {
        let mut c = Counters {
            hits_fresh: 9,
            misses: 1,
            bypasses: 50,
            ..Default::default()
        };
        assert_eq!(c.hit_ratio(), Some(0.9));
        c.hits_fresh = 0;
        c.misses = 0;
        assert_eq!(c.hit_ratio(), None);
    }

    #[test]
    fn buckets_merge_and_expire() {
        let mut a = Aggregate::default();
        a.add(&snap("x", 1, 1), 10_000);
        a.add(&snap("x", 2, 0), 15_000);
        a.add(&snap("y", 0, 1), 21_000);
        assert_eq!(a.buckets.len(), 2);
        assert_eq!(a.buckets[0].snap.totals().hits_fresh, 3);
        assert_eq!(a.total.totals().requests, 5);
        a.add(
            &snap("x", 1, 0),
            10_000 + BUCKET_MS * (BUCKETS_KEPT as u64 + 5),
        );
        assert_eq!(a.buckets.len(), 1);
        assert_eq!(a.total.totals().requests, 6);
        let j = a.to_stats_json(0);
        assert_eq!(j["totals"]["requests"], 6);
        assert_eq!(j["rules"].as_array().map(Vec::len), Some(2));
    }
}
