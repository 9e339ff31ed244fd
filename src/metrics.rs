//! Cache metrics: per-isolate counters (a few integer additions on the request path) and the
//! time-bucketed aggregate the metrics Durable Object keeps. Pure: time is a parameter.

use crate::json::{self, Arr, Json, Obj};
use crate::lifecycle::Metric;
use std::collections::HashMap;

/// Width of an aggregate bucket.
pub const BUCKET_MS: u64 = 10_000;
/// Buckets kept (one hour of 10 s buckets).
pub const BUCKETS_KEPT: usize = 360;

/// A map's entries in key order (JSON output is deterministic).
fn sorted<V>(m: &HashMap<String, V>) -> Vec<(&String, &V)> {
    let mut v: Vec<(&String, &V)> = m.iter().collect();
    crate::sort::sort_by_str(&mut v, |(k, _)| k.as_str());
    v
}

/// Counters of one rule (or of everything).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
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
    /// Header fields dropped because the runtime or the `http` crate could not represent them.
    pub headers_dropped: u64,
    /// Body bytes served from cache.
    pub bytes_cache: u64,
    /// Body bytes received from the origin.
    pub bytes_origin: u64,
    /// Purge requests accepted.
    pub purges: u64,
}

impl Counters {
    /// Every counter with its JSON name, in declaration order: the one list that
    /// [`Counters::named`], [`Counters::add`] and [`Counters::from_json`] go through.
    fn fields_mut(&mut self) -> [(&'static str, &mut u64); 12] {
        let Counters {
            requests,
            hits_fresh,
            hits_stale,
            misses,
            bypasses,
            origin_fetches,
            origin_errors,
            revalidations,
            headers_dropped,
            bytes_cache,
            bytes_origin,
            purges,
        } = self;
        [
            ("requests", requests),
            ("hits_fresh", hits_fresh),
            ("hits_stale", hits_stale),
            ("misses", misses),
            ("bypasses", bypasses),
            ("origin_fetches", origin_fetches),
            ("origin_errors", origin_errors),
            ("revalidations", revalidations),
            ("headers_dropped", headers_dropped),
            ("bytes_cache", bytes_cache),
            ("bytes_origin", bytes_origin),
            ("purges", purges),
        ]
    }

    /// Every counter with its JSON name, in declaration order.
    pub fn named(&self) -> [(&'static str, u64); 12] {
        let mut copy = *self;
        copy.fields_mut().map(|(k, v)| (k, *v))
    }

    /// The counters as JSON members of `o`.
    fn write(&self, mut o: Obj) -> Obj {
        for (k, v) in self.named() {
            o = o.u64(k, v);
        }
        o
    }

    /// Reads counters written by [`Counters::to_json`]; absent or malformed counters are 0.
    pub fn from_json(j: &Json) -> Counters {
        let mut c = Counters::default();
        for (k, v) in c.fields_mut() {
            *v = j.u64_or_0(k);
        }
        c
    }

    /// The counters as a JSON object.
    pub fn to_json(&self) -> String {
        self.write(Obj::new()).end()
    }

    /// Hits / (hits + misses) as a JSON number (4 decimals), `null` without lookups; bypasses
    /// are not part of the ratio.
    pub fn hit_ratio_json(&self) -> String {
        let hits = self.hits_fresh.saturating_add(self.hits_stale);
        json::ratio(hits, hits.saturating_add(self.misses))
    }

    /// Adds another set of counters.
    pub fn add(&mut self, o: &Counters) {
        for ((_, v), (_, n)) in self.fields_mut().into_iter().zip(o.named()) {
            *v = v.saturating_add(n);
        }
    }

    /// Whether every counter is zero.
    pub fn is_empty(&self) -> bool {
        *self == Counters::default()
    }
}

/// What one isolate counted since its last flush.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Snapshot {
    /// Per rule name.
    pub rules: HashMap<String, Counters>,
    /// Bypasses per reason.
    pub bypass_reasons: HashMap<String, u64>,
    /// KV reads made for purge checks.
    pub kv_reads: u64,
    /// Purge requests accepted.
    pub purges: u64,
}

impl Snapshot {
    /// As JSON (what an isolate sends to the metrics object, and what it stores).
    pub fn to_json(&self) -> String {
        let mut rules = Obj::new();
        for (k, c) in sorted(&self.rules) {
            rules = rules.raw(k, &c.to_json());
        }
        let mut reasons = Obj::new();
        for (k, n) in sorted(&self.bypass_reasons) {
            reasons = reasons.u64(k, *n);
        }
        Obj::new()
            .raw("rules", &rules.end())
            .raw("bypass_reasons", &reasons.end())
            .u64("kv_reads", self.kv_reads)
            .u64("purges", self.purges)
            .end()
    }

    /// Reads [`Snapshot::to_json`]; `None` if `j` is not an object with object-valued `rules`
    /// and `bypass_reasons`. Counters that are absent or malformed count as 0.
    pub fn from_json(j: &Json) -> Option<Snapshot> {
        let mut s = Snapshot {
            kv_reads: j.u64_or_0("kv_reads"),
            purges: j.u64_or_0("purges"),
            ..Snapshot::default()
        };
        for (k, c) in j.get("rules")?.as_object()? {
            s.rule(k).add(&Counters::from_json(c));
        }
        for (k, n) in j.get("bypass_reasons")?.as_object()? {
            let e = s.bypass_reasons.entry(k.clone()).or_default();
            *e = e.saturating_add(n.as_u64().unwrap_or(0));
        }
        Some(s)
    }

    /// The counters of `rule`, created on first use.
    pub fn rule(&mut self, rule: &str) -> &mut Counters {
        if !self.rules.contains_key(rule) {
            self.rules.insert(rule.to_string(), Counters::default());
        }
        #[allow(
            clippy::expect_used,
            reason = "inserted just above when absent; `entry` would allocate the key on every call"
        )]
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
            let e = self.bypass_reasons.entry(k.clone()).or_default();
            *e = e.saturating_add(*v);
        }
        self.kv_reads = self.kv_reads.saturating_add(o.kv_reads);
        self.purges = self.purges.saturating_add(o.purges);
    }

    /// All rules summed (purges are counted per snapshot, not per rule).
    pub fn totals(&self) -> Counters {
        let mut t = Counters::default();
        for c in self.rules.values() {
            t.add(c);
        }
        t.purges = t.purges.saturating_add(self.purges);
        t
    }

    /// Counts one event of a request's life (`crate::lifecycle::Metric`) for `rule`: what each
    /// event adds to which counters.
    pub fn record(&mut self, rule: &str, m: &Metric) {
        let add = |n: &mut u64, by: u64| *n = n.saturating_add(by);
        if let Metric::Bypass(reason) = m {
            match self.bypass_reasons.get_mut(*reason) {
                Some(n) => add(n, 1),
                None => {
                    self.bypass_reasons.insert((*reason).to_string(), 1);
                }
            }
        }
        let c = self.rule(rule);
        match *m {
            Metric::Hit { stale, bytes } => {
                add(&mut c.requests, 1);
                add(
                    if stale {
                        &mut c.hits_stale
                    } else {
                        &mut c.hits_fresh
                    },
                    1,
                );
                add(&mut c.bytes_cache, bytes);
            }
            Metric::Miss => {
                add(&mut c.requests, 1);
                add(&mut c.misses, 1);
            }
            Metric::Bypass(_) => {
                add(&mut c.requests, 1);
                add(&mut c.bypasses, 1);
            }
            Metric::Revalidation => {
                // A foreground revalidation: a request and a miss; the outcome decides the rest.
                add(&mut c.requests, 1);
                add(&mut c.misses, 1);
                add(&mut c.revalidations, 1);
            }
            Metric::BackgroundRevalidation => add(&mut c.revalidations, 1),
            Metric::StaleErrorServed { bytes } => {
                // Counted as a miss when it went to the origin; it was served stale after all.
                c.misses = c.misses.saturating_sub(1);
                add(&mut c.hits_stale, 1);
                add(&mut c.bytes_cache, bytes);
            }
            Metric::OriginFetch { bytes } => {
                add(&mut c.origin_fetches, 1);
                add(&mut c.bytes_origin, bytes);
            }
            Metric::OriginError => add(&mut c.origin_errors, 1),
        }
    }

    /// Counts `n` header fields dropped for `rule` (not representable by the runtime or `http`).
    pub fn headers_dropped(&mut self, rule: &str, n: u64) {
        let c = self.rule(rule);
        c.headers_dropped = c.headers_dropped.saturating_add(n);
    }
}

/// Storage key of the aggregate's totals (a [`Snapshot`] as JSON).
pub const TOTAL_KEY: &str = "total";
/// Prefix of a bucket's storage key; the rest is the bucket's start, zero-padded so that keys
/// sort in time order.
pub const BUCKET_PREFIX: &str = "b:";
/// The single key the whole aggregate was stored under before it was split (read once to
/// migrate, then deleted).
pub const LEGACY_KEY: &str = "agg";

/// Storage key of the bucket that starts at `t`.
pub fn bucket_key(t: u64) -> String {
    format!("{BUCKET_PREFIX}{t:016}")
}

/// What a flush changes in the stored aggregate: values to put, keys to delete.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StoreWrites {
    /// `(key, JSON)` to put.
    pub put: Vec<(String, String)>,
    /// Keys to delete.
    pub delete: Vec<String>,
}

/// One time bucket of the aggregate.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Bucket {
    /// Bucket start (ms, a multiple of [`BUCKET_MS`]).
    pub t: u64,
    /// What was counted in it.
    pub snap: Snapshot,
}

/// The aggregate kept by the metrics Durable Object: totals since start and recent buckets.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Aggregate {
    /// Everything since the aggregate started.
    pub total: Snapshot,
    /// The last hour, oldest first.
    pub buckets: Vec<Bucket>,
}

impl Aggregate {
    /// As JSON (the metrics object's stored state).
    pub fn to_json(&self) -> String {
        let mut buckets = Arr::new();
        for b in &self.buckets {
            buckets = buckets.raw(
                &Obj::new()
                    .u64("t", b.t)
                    .raw("snap", &b.snap.to_json())
                    .end(),
            );
        }
        Obj::new()
            .raw("total", &self.total.to_json())
            .raw("buckets", &buckets.end())
            .end()
    }

    /// Reads [`Aggregate::to_json`]; `None` if it is not that shape.
    pub fn from_json(j: &Json) -> Option<Aggregate> {
        let buckets = j
            .get("buckets")?
            .as_array()?
            .iter()
            .map(|b| {
                Some(Bucket {
                    t: b.get("t")?.as_u64()?,
                    snap: Snapshot::from_json(b.get("snap")?)?,
                })
            })
            .collect::<Option<Vec<_>>>()?;
        Some(Aggregate {
            total: Snapshot::from_json(j.get("total")?)?,
            buckets,
        })
    }

    /// Adds an isolate's flush at `now_ms`, and says what changed in the stored form (see
    /// [`StoreWrites`]): the totals and one bucket are written, buckets older than the hour
    /// deleted. A flush costs the same whether the hour is empty or full.
    pub fn add(&mut self, snap: &Snapshot, now_ms: u64) -> StoreWrites {
        self.total.merge(snap);
        let t = now_ms - now_ms % BUCKET_MS;
        // The bucket of `t`: usually the last; a flush that arrives late (clocks of isolates
        // differ) merges into its own bucket, in order.
        let at = match self.buckets.binary_search_by_key(&t, |b| b.t) {
            Ok(i) => i,
            Err(i) => {
                self.buckets.insert(
                    i,
                    Bucket {
                        t,
                        snap: Snapshot::default(),
                    },
                );
                i
            }
        };
        let json = match self.buckets.get_mut(at) {
            Some(b) => {
                b.snap.merge(snap);
                b.snap.to_json()
            }
            None => snap.to_json(),
        };
        let bucket = (bucket_key(t), json);
        let newest = self.buckets.last().map_or(t, |b| b.t);
        let oldest = newest.saturating_sub(BUCKET_MS * BUCKETS_KEPT as u64);
        let mut delete = Vec::new();
        self.buckets.retain(|b| {
            let keep = b.t > oldest;
            if !keep {
                delete.push(bucket_key(b.t));
            }
            keep
        });
        let mut put = vec![(TOTAL_KEY.to_string(), self.total.to_json())];
        if !delete.contains(&bucket.0) {
            put.push(bucket);
        }
        StoreWrites { put, delete }
    }

    /// The aggregate from its stored form: the totals ([`TOTAL_KEY`]) and the buckets
    /// ([`BUCKET_PREFIX`] keys) as `(key, JSON)`. Entries that are not that shape are skipped;
    /// buckets come out in time order, the newest hour of them.
    pub fn from_stored(total: Option<&str>, buckets: &[(String, String)]) -> Aggregate {
        let snap = |s: &str| Json::parse(s).ok().as_ref().and_then(Snapshot::from_json);
        // Keys are zero-padded, so their order is time order (the one string sort the worker
        // links: no sort of its own for buckets).
        let mut sorted: Vec<&(String, String)> = buckets.iter().collect();
        crate::sort::sort_by_str(&mut sorted, |(k, _)| k.as_str());
        let mut out: Vec<Bucket> = Vec::with_capacity(sorted.len());
        for (k, v) in sorted {
            let Some(t) = k
                .strip_prefix(BUCKET_PREFIX)
                .filter(|d| d.len() == 16)
                .and_then(|d| d.parse::<u64>().ok())
            else {
                continue;
            };
            if out.last().is_some_and(|b| b.t == t) {
                continue;
            }
            if let Some(snap) = snap(v) {
                out.push(Bucket { t, snap });
            }
        }
        if out.len() > BUCKETS_KEPT {
            out.drain(..out.len() - BUCKETS_KEPT);
        }
        Aggregate {
            total: total.and_then(snap).unwrap_or_default(),
            buckets: out,
        }
    }

    /// Every `(key, JSON)` of the stored form, the totals first (a migration from the
    /// single-value form writes them all once).
    pub fn stored(&self) -> Vec<(String, String)> {
        let mut v = vec![(TOTAL_KEY.to_string(), self.total.to_json())];
        v.extend(
            self.buckets
                .iter()
                .map(|b| (bucket_key(b.t), b.snap.to_json())),
        );
        v
    }

    /// The JSON the dashboard reads (`GET /__edgecache/api/stats`).
    pub fn to_stats_json(&self, now_ms: u64) -> String {
        let totals = self.total.totals();
        let mut series = Arr::new();
        for b in &self.buckets {
            let c = b.snap.totals();
            series = series.raw(
                &Obj::new()
                    .u64("t", b.t)
                    .u64("requests", c.requests)
                    .u64("hits", c.hits_fresh.saturating_add(c.hits_stale))
                    .u64("misses", c.misses)
                    .u64("bypasses", c.bypasses)
                    .end(),
            );
        }
        let mut rules = Arr::new();
        for (name, c) in sorted(&self.total.rules) {
            let o = c
                .write(Obj::new())
                .str("name", name)
                .raw("hit_ratio", &c.hit_ratio_json());
            rules = rules.raw(&o.end());
        }
        let mut reasons = Obj::new();
        for (k, n) in sorted(&self.total.bypass_reasons) {
            reasons = reasons.u64(k, *n);
        }
        Obj::new()
            .u64("now_ms", now_ms)
            .u64("bucket_secs", BUCKET_MS / 1000)
            .raw("totals", &totals.to_json())
            .raw("hit_ratio", &totals.hit_ratio_json())
            .raw("series", &series.end())
            .raw("rules", &rules.end())
            .raw("bypass_reasons", &reasons.end())
            .u64("kv_reads", self.total.kv_reads)
            .end()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_lists_rules_and_reasons_in_key_order() {
        let mut s = Snapshot::default();
        for r in ["zeta", "alpha", "mid"] {
            s.record(r, &Metric::Bypass(r));
        }
        let j = s.to_json();
        let at = |k: &str| j.find(&format!("\"{k}\":{{")).unwrap();
        assert!(at("alpha") < at("mid") && at("mid") < at("zeta"), "{j}");
        let back = Snapshot::from_json(&Json::parse(&j).unwrap()).unwrap();
        assert_eq!(back, s);
        assert_eq!(back.to_json(), j);
    }

    #[test]
    fn lifecycle_events_count_where_the_dashboard_reads_them() {
        let mut s = Snapshot::default();
        s.record("r", &Metric::Miss);
        s.record("r", &Metric::OriginFetch { bytes: 10 });
        s.record(
            "r",
            &Metric::Hit {
                stale: false,
                bytes: 5,
            },
        );
        s.record(
            "r",
            &Metric::Hit {
                stale: true,
                bytes: 7,
            },
        );
        s.record("r", &Metric::Bypass("cookie"));
        s.record("r", &Metric::Bypass("cookie"));
        s.record("r", &Metric::BackgroundRevalidation);
        s.headers_dropped("r", 2);
        let c = s.rules["r"];
        assert_eq!(c.requests, 5);
        assert_eq!(
            (c.hits_fresh, c.hits_stale, c.misses, c.bypasses),
            (1, 1, 1, 2)
        );
        assert_eq!(
            (c.bytes_cache, c.bytes_origin, c.origin_fetches),
            (12, 10, 1)
        );
        assert_eq!((c.revalidations, c.headers_dropped), (1, 2));
        assert_eq!(s.bypass_reasons["cookie"], 2);
    }

    #[test]
    fn stale_if_error_turns_the_miss_into_a_stale_hit() {
        let mut s = Snapshot::default();
        s.record("r", &Metric::Revalidation);
        s.record("r", &Metric::OriginError);
        s.record("r", &Metric::StaleErrorServed { bytes: 3 });
        let c = s.rules["r"];
        assert_eq!((c.requests, c.misses, c.hits_stale), (1, 0, 1));
        assert_eq!((c.revalidations, c.origin_errors, c.bytes_cache), (1, 1, 3));
        // Never below zero, whatever the order.
        let mut t = Snapshot::default();
        t.record("r", &Metric::StaleErrorServed { bytes: 0 });
        assert_eq!(t.rules["r"].misses, 0);
    }

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
        assert_eq!(c.hit_ratio_json(), "0.9");
        c.hits_fresh = 0;
        c.misses = 0;
        assert_eq!(c.hit_ratio_json(), "null");
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
        let j = Json::parse(&a.to_stats_json(0)).unwrap();
        let totals = j.get("totals").unwrap();
        assert_eq!(totals.get("requests").and_then(Json::as_u64), Some(6));
        assert_eq!(j.get("hit_ratio"), Some(&Json::Num("0.6667".into())));
        let rules = j.get("rules").and_then(Json::as_array).unwrap();
        assert_eq!(rules.len(), 2);
        assert_eq!(rules[0].str_of("name").as_deref(), Some("x"));
        assert_eq!(rules[0].get("hit_ratio"), Some(&Json::Num("0.8".into())));
        assert_eq!(rules[1].get("hit_ratio"), Some(&Json::Num("0".into())));
    }

    #[test]
    fn json_round_trips() {
        let mut a = Aggregate::default();
        let mut s = snap("x\"é", 3, 4);
        s.bypass_reasons.insert("cookie".into(), 2);
        s.kv_reads = 9;
        s.purges = 1;
        s.rule("y").bytes_origin = u64::MAX;
        a.add(&s, 10_000);
        a.add(&snap("z", 1, 0), 20_000);
        let back = Aggregate::from_json(&Json::parse(&a.to_json()).unwrap());
        assert_eq!(back, Some(a));
        let snap_back = Snapshot::from_json(&Json::parse(&s.to_json()).unwrap());
        assert_eq!(snap_back, Some(s));
        assert_eq!(Snapshot::from_json(&Json::parse("[]").unwrap()), None);
        assert_eq!(Aggregate::from_json(&Json::parse("{}").unwrap()), None);
    }

    /// Applies a flush's writes to a key-value store (what the metrics object does).
    fn apply(store: &mut std::collections::BTreeMap<String, String>, w: &StoreWrites) {
        for k in &w.delete {
            store.remove(k);
        }
        for (k, v) in &w.put {
            store.insert(k.clone(), v.clone());
        }
    }

    fn reload(store: &std::collections::BTreeMap<String, String>) -> Aggregate {
        let buckets: Vec<(String, String)> = store
            .iter()
            .filter(|(k, _)| k.starts_with(BUCKET_PREFIX))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        Aggregate::from_stored(store.get(TOTAL_KEY).map(String::as_str), &buckets)
    }

    #[test]
    fn a_flush_writes_the_totals_and_its_bucket_whatever_the_hour_holds() {
        let mut a = Aggregate::default();
        let mut store = std::collections::BTreeMap::new();
        for i in 0..BUCKETS_KEPT as u64 {
            apply(&mut store, &a.add(&snap("x", 1, 0), 10_000 + i * BUCKET_MS));
        }
        assert_eq!(a.buckets.len(), BUCKETS_KEPT);
        let w = a.add(
            &snap("x", 0, 1),
            10_000 + (BUCKETS_KEPT as u64 - 1) * BUCKET_MS + 5,
        );
        let keys: Vec<&str> = w.put.iter().map(|(k, _)| k.as_str()).collect();
        let last = bucket_key(10_000 + (BUCKETS_KEPT as u64 - 1) * BUCKET_MS);
        assert_eq!(keys, [TOTAL_KEY, last.as_str()]);
        assert!(w.delete.is_empty());
        apply(&mut store, &w);
        // The next bucket pushes the oldest out of the hour: its key is deleted.
        let w = a.add(&snap("x", 1, 0), 10_000 + BUCKETS_KEPT as u64 * BUCKET_MS);
        assert_eq!(w.delete, [bucket_key(10_000)]);
        apply(&mut store, &w);
        assert_eq!(store.len(), 1 + BUCKETS_KEPT);
        assert_eq!(reload(&store), a);
    }

    #[test]
    fn a_late_flush_merges_into_its_own_bucket() {
        let mut a = Aggregate::default();
        a.add(&snap("x", 1, 0), 10_000);
        a.add(&snap("x", 1, 0), 30_000);
        let w = a.add(&snap("x", 5, 0), 12_000);
        assert_eq!(w.put[1].0, bucket_key(10_000));
        let ts: Vec<u64> = a.buckets.iter().map(|b| b.t).collect();
        assert_eq!(ts, [10_000, 30_000]);
        assert_eq!(a.buckets[0].snap.totals().hits_fresh, 6);
        // One so late that its bucket left the hour counts in the totals only.
        let far = 30_000 + BUCKET_MS * (BUCKETS_KEPT as u64 + 2);
        a.add(&snap("x", 1, 0), far);
        let w = a.add(&snap("x", 1, 0), 20_000);
        assert_eq!(w.put.len(), 1, "{w:?}");
        assert_eq!(a.total.totals().hits_fresh, 9);
    }

    #[test]
    fn the_stored_form_reads_back_and_skips_what_is_not_its_shape() {
        let mut a = Aggregate::default();
        a.add(&snap("x", 1, 2), 10_000);
        a.add(&snap("y", 3, 0), 40_000);
        let mut parts = a.stored();
        let total = parts.remove(0);
        assert_eq!(total.0, TOTAL_KEY);
        parts.reverse(); // any order
        parts.push(("b:not-a-time".into(), "{}".into()));
        parts.push((bucket_key(50_000), "not json".into()));
        assert_eq!(Aggregate::from_stored(Some(&total.1), &parts), a);
        assert_eq!(
            Aggregate::from_stored(None, &[]),
            Aggregate::default(),
            "nothing stored yet"
        );
    }

    proptest::proptest! {
        /// Any stored keys and values (another version's, damaged ones) read without a panic
        /// into at most an hour of buckets in strictly increasing time.
        #[test]
        fn any_stored_form_reads(
            parts in proptest::collection::vec(("(b:)?[0-9a-z:]{0,20}", ".{0,40}"), 0..30),
            total in proptest::option::of(".{0,40}"),
        ) {
            let a = Aggregate::from_stored(total.as_deref(), &parts);
            proptest::prop_assert!(a.buckets.len() <= BUCKETS_KEPT);
            proptest::prop_assert!(a.buckets.windows(2).all(|w| w[0].t < w[1].t));
        }

        /// Whatever the flushes and their times (late, early, far apart), the store that the
        /// writes leave reads back as the aggregate, and never holds more than the hour.
        #[test]
        fn the_writes_keep_the_store_equal_to_the_aggregate(
            flushes in proptest::collection::vec((0u64..3_000_000, 0u64..5, 0u64..5), 1..60),
        ) {
            let mut a = Aggregate::default();
            let mut store = std::collections::BTreeMap::new();
            for (at, h, m) in flushes {
                apply(&mut store, &a.add(&snap("r", h, m), 1_000_000 + at * 7));
                proptest::prop_assert!(store.len() <= 1 + BUCKETS_KEPT);
                proptest::prop_assert_eq!(reload(&store), a.clone());
            }
        }
    }
}
