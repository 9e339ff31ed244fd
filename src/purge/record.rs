//! Purge records: what one KV key holds, how two records merge, and the verdict a record
//! gives for a cached entry.
//!
//! A record remembers, for one purge target (a tag, a URL, a prefix, or everything), the time
//! of the newest purge (`at_ms`), whether that newest purge was soft, and — when it was soft —
//! the time of the newest *hard* purge before it (`prior_hard_ms`). Keeping that third field is
//! what lets a later soft purge never weaken an earlier hard one: an entry stored before a hard
//! purge stays hard-purged even after a soft purge of the same tag lands on top.

/// Clock-skew allowance, in milliseconds, applied when comparing an entry's `stored_at_ms`
/// with a record's time.
///
/// Purge times come from the location that received the webhook; `stored_at_ms` from the
/// location that stored the entry. An entry stored up to this long *after* a purge is still
/// treated as purged: that costs one extra origin fetch for such an entry, whereas the
/// opposite error (a location clock running ahead) would keep pre-purge content alive.
/// It also covers an origin fetch that was in flight when the purge arrived, as long as the
/// adapter stamps `stored_at_ms` with the time the origin request was *sent* (RFC 9111
/// §4.2.3 calls it `request_time`), which it should.
pub const PURGE_SKEW_MS: u64 = 1_000;

/// The value held by one purge record key in KV.
///
/// Canonical form: `prior_hard_ms` is `None` unless `soft`, and then strictly below `at_ms`.
/// [`merge`] and [`PurgeRecord::decode`] always return canonical records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PurgeRecord {
    /// Unix milliseconds of the newest purge of this target (hard or soft).
    pub at_ms: u64,
    /// Whether the newest purge was soft (entries become stale rather than missing).
    pub soft: bool,
    /// When `soft`: unix milliseconds of the newest earlier hard purge, if any.
    pub prior_hard_ms: Option<u64>,
}

/// What the purge records say about one cached entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PurgeVerdict {
    /// No purge record covers the entry: serve it by its normal freshness.
    Fresh,
    /// A soft purge covers the entry: treat it as stale (serve once under
    /// stale-while-revalidate while revalidating; never as fresh).
    SoftPurged {
        /// Time of the newest soft purge that covers the entry.
        at_ms: u64,
    },
    /// A hard purge covers the entry: treat it as a miss.
    HardPurged {
        /// Time of the newest hard purge that covers the entry.
        at_ms: u64,
    },
}

impl PurgeVerdict {
    /// Stable name for Cache-Status and metrics: `fresh`, `soft-purged`, `hard-purged`.
    pub fn as_str(&self) -> &'static str {
        match self {
            PurgeVerdict::Fresh => "fresh",
            PurgeVerdict::SoftPurged { .. } => "soft-purged",
            PurgeVerdict::HardPurged { .. } => "hard-purged",
        }
    }

    /// Whether the entry may not be served as fresh (soft or hard purged).
    pub fn is_purged(&self) -> bool {
        !matches!(self, PurgeVerdict::Fresh)
    }

    /// Combines two verdicts for the same entry: hard beats soft beats fresh; between two of
    /// the same kind the newer time wins. Commutative, associative, idempotent.
    pub fn strongest(self, other: PurgeVerdict) -> PurgeVerdict {
        use PurgeVerdict::*;
        match (self, other) {
            (HardPurged { at_ms: a }, HardPurged { at_ms: b }) => HardPurged { at_ms: a.max(b) },
            (h @ HardPurged { .. }, _) | (_, h @ HardPurged { .. }) => h,
            (SoftPurged { at_ms: a }, SoftPurged { at_ms: b }) => SoftPurged { at_ms: a.max(b) },
            (s @ SoftPurged { .. }, _) | (_, s @ SoftPurged { .. }) => s,
            (Fresh, Fresh) => Fresh,
        }
    }

    /// Rank for comparisons: 0 fresh, 1 soft, 2 hard.
    pub fn rank(&self) -> u8 {
        match self {
            PurgeVerdict::Fresh => 0,
            PurgeVerdict::SoftPurged { .. } => 1,
            PurgeVerdict::HardPurged { .. } => 2,
        }
    }
}

impl PurgeRecord {
    /// A record of one hard purge at `at_ms`.
    pub fn hard(at_ms: u64) -> Self {
        PurgeRecord {
            at_ms,
            soft: false,
            prior_hard_ms: None,
        }
    }

    /// A record of one soft purge at `at_ms`.
    pub fn soft(at_ms: u64) -> Self {
        PurgeRecord {
            at_ms,
            soft: true,
            prior_hard_ms: None,
        }
    }

    /// Builds the canonical record from the newest purge time and the newest hard purge time.
    fn from_parts(at_ms: u64, hard_ms: Option<u64>) -> Self {
        let at_ms = at_ms.max(hard_ms.unwrap_or(0));
        if hard_ms == Some(at_ms) {
            PurgeRecord::hard(at_ms)
        } else {
            PurgeRecord {
                at_ms,
                soft: true,
                prior_hard_ms: hard_ms,
            }
        }
    }

    /// Time of the newest hard purge this record knows of, if any.
    pub fn hard_ms(&self) -> Option<u64> {
        if self.soft {
            self.prior_hard_ms.map(|h| h.min(self.at_ms))
        } else {
            Some(self.at_ms)
        }
    }

    /// Compact text for the KV value: `<at_ms>:h`, `<at_ms>:s`, or `<at_ms>:s:<prior_hard_ms>`.
    pub fn encode(&self) -> String {
        let r = PurgeRecord::from_parts(self.at_ms, self.hard_ms());
        match (r.soft, r.prior_hard_ms) {
            (false, _) => format!("{}:h", r.at_ms),
            (true, None) => format!("{}:s", r.at_ms),
            (true, Some(h)) => format!("{}:s:{}", r.at_ms, h),
        }
    }

    /// Parses [`PurgeRecord::encode`] output; anything else (including surrounding whitespace,
    /// which is trimmed first, aside) gives `None`, never a panic. Returns a canonical record.
    pub fn decode(s: &str) -> Option<Self> {
        let mut parts = s.trim().split(':');
        let at_ms = parse_ms(parts.next()?)?;
        let kind = parts.next()?;
        let prior = parts.next();
        if parts.next().is_some() {
            return None;
        }
        match (kind, prior) {
            ("h", None) => Some(PurgeRecord::hard(at_ms)),
            ("s", None) => Some(PurgeRecord::soft(at_ms)),
            ("s", Some(p)) => {
                let p = parse_ms(p)?;
                Some(PurgeRecord::from_parts(at_ms, Some(p)))
            }
            _ => None,
        }
    }

    /// The verdict this record alone gives for an entry stored at `stored_at_ms`.
    ///
    /// The entry is covered by a purge at `t` when `stored_at_ms <= t + PURGE_SKEW_MS`.
    /// A covering hard purge wins over any soft one; otherwise a covering newest purge
    /// (soft) gives `SoftPurged`.
    pub fn verdict_for(&self, stored_at_ms: u64) -> PurgeVerdict {
        let covers = |t: u64| stored_at_ms <= t.saturating_add(PURGE_SKEW_MS);
        match self.hard_ms() {
            Some(h) if covers(h) => PurgeVerdict::HardPurged { at_ms: h },
            _ if covers(self.at_ms) => PurgeVerdict::SoftPurged { at_ms: self.at_ms },
            _ => PurgeVerdict::Fresh,
        }
    }
}

/// Merges two records of the same key: the newest time wins, and the newest hard purge time
/// is kept, so at equal times hard beats soft and a later soft purge never weakens an
/// earlier hard one.
///
/// Commutative, associative, idempotent, and monotone: the merged record's verdict for any
/// entry is at least as strong as either input's (see the property tests). The adapter's
/// Durable Object writes `merge(existing, new)`, so a late write carrying an older time
/// never moves a record backwards.
pub fn merge(a: PurgeRecord, b: PurgeRecord) -> PurgeRecord {
    let hard = match (a.hard_ms(), b.hard_ms()) {
        (Some(x), Some(y)) => Some(x.max(y)),
        (x, y) => x.or(y),
    };
    PurgeRecord::from_parts(a.at_ms.max(b.at_ms), hard)
}

/// Parses a decimal millisecond count: ASCII digits only, at most 20 of them, no overflow.
fn parse_ms(s: &str) -> Option<u64> {
    if s.is_empty() || s.len() > 20 || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const T: u64 = 1_732_560_000_123;

    #[test]
    fn encode_forms() {
        assert_eq!(PurgeRecord::hard(T).encode(), "1732560000123:h");
        assert_eq!(PurgeRecord::soft(T).encode(), "1732560000123:s");
        let r = merge(PurgeRecord::hard(T), PurgeRecord::soft(T + 5));
        assert_eq!(r.encode(), "1732560000128:s:1732560000123");
    }

    #[test]
    fn decode_is_lenient() {
        for bad in [
            "",
            ":",
            "h",
            "12",
            "12:",
            "12:x",
            "-1:h",
            "+1:h",
            "1.5:h",
            "12:h:3",
            "12:s:",
            "12:s:x",
            "12:s:1:2",
            "99999999999999999999999:h",
            "1 2:h",
            "12:H",
        ] {
            assert_eq!(PurgeRecord::decode(bad), None, "{bad:?}");
        }
        assert_eq!(PurgeRecord::decode(" 12:h\n"), Some(PurgeRecord::hard(12)));
    }

    #[test]
    fn decode_canonicalises() {
        // A prior hard purge at or after the soft one means the record is hard.
        assert_eq!(PurgeRecord::decode("10:s:10"), Some(PurgeRecord::hard(10)));
        assert_eq!(PurgeRecord::decode("10:s:12"), Some(PurgeRecord::hard(12)));
    }

    #[test]
    fn merge_examples() {
        let h = PurgeRecord::hard(T);
        let s = PurgeRecord::soft(T);
        assert_eq!(merge(h, s), h, "equal times: hard beats soft");
        assert_eq!(merge(s, h), h);
        assert_eq!(merge(PurgeRecord::soft(T + 1), h).at_ms, T + 1);
        assert_eq!(merge(PurgeRecord::hard(T + 1), s), PurgeRecord::hard(T + 1));
        assert_eq!(
            merge(PurgeRecord::hard(T - 1), PurgeRecord::hard(T)),
            PurgeRecord::hard(T)
        );
    }

    #[test]
    fn verdicts() {
        let h = PurgeRecord::hard(T);
        assert_eq!(h.verdict_for(T), PurgeVerdict::HardPurged { at_ms: T });
        assert_eq!(
            h.verdict_for(T - 10_000),
            PurgeVerdict::HardPurged { at_ms: T }
        );
        assert_eq!(
            h.verdict_for(T + PURGE_SKEW_MS),
            PurgeVerdict::HardPurged { at_ms: T }
        );
        assert_eq!(h.verdict_for(T + PURGE_SKEW_MS + 1), PurgeVerdict::Fresh);
        let s = PurgeRecord::soft(T);
        assert_eq!(s.verdict_for(T), PurgeVerdict::SoftPurged { at_ms: T });
        assert_eq!(s.verdict_for(T + PURGE_SKEW_MS + 1), PurgeVerdict::Fresh);
        // Hard at T, soft at T + 10 s: older entries stay hard, in-between ones are soft.
        let m = merge(h, PurgeRecord::soft(T + 10_000));
        assert_eq!(m.verdict_for(T - 1), PurgeVerdict::HardPurged { at_ms: T });
        assert_eq!(
            m.verdict_for(T + 5_000),
            PurgeVerdict::SoftPurged { at_ms: T + 10_000 }
        );
        assert_eq!(m.verdict_for(T + 20_000), PurgeVerdict::Fresh);
    }

    #[test]
    fn verdict_names() {
        assert_eq!(PurgeVerdict::Fresh.as_str(), "fresh");
        assert_eq!(
            PurgeVerdict::SoftPurged { at_ms: 1 }.as_str(),
            "soft-purged"
        );
        assert_eq!(
            PurgeVerdict::HardPurged { at_ms: 1 }.as_str(),
            "hard-purged"
        );
    }

    #[test]
    fn huge_times_do_not_overflow() {
        let r = PurgeRecord::hard(u64::MAX);
        assert_eq!(
            r.verdict_for(u64::MAX),
            PurgeVerdict::HardPurged { at_ms: u64::MAX }
        );
        assert_eq!(PurgeRecord::decode(&r.encode()), Some(r));
    }

    fn any_record() -> impl Strategy<Value = PurgeRecord> {
        // Small time range so collisions (equal times) are common.
        (0u64..50, any::<bool>(), proptest::option::of(0u64..50)).prop_map(|(at, soft, prior)| {
            if soft {
                PurgeRecord::from_parts(at, prior.filter(|p| *p < at))
            } else {
                PurgeRecord::hard(at)
            }
        })
    }

    proptest! {
        #[test]
        fn merge_is_commutative(a in any_record(), b in any_record()) {
            prop_assert_eq!(merge(a, b), merge(b, a));
        }

        #[test]
        fn merge_is_associative(a in any_record(), b in any_record(), c in any_record()) {
            prop_assert_eq!(merge(merge(a, b), c), merge(a, merge(b, c)));
        }

        #[test]
        fn merge_is_idempotent(a in any_record(), b in any_record()) {
            prop_assert_eq!(merge(a, a), a);
            let m = merge(a, b);
            prop_assert_eq!(merge(m, b), m);
        }

        #[test]
        fn merge_never_moves_backwards(a in any_record(), b in any_record(), s in 0u64..2_100) {
            let m = merge(a, b);
            prop_assert!(m.at_ms >= a.at_ms && m.at_ms >= b.at_ms);
            prop_assert!(m.hard_ms() >= a.hard_ms() && m.hard_ms() >= b.hard_ms());
            prop_assert!(m.verdict_for(s).rank() >= a.verdict_for(s).rank());
            prop_assert!(m.verdict_for(s).rank() >= b.verdict_for(s).rank());
        }

        #[test]
        fn merge_is_exact(a in any_record(), b in any_record(), s in 0u64..2_100) {
            // One merged record answers exactly like the two records consulted separately.
            prop_assert_eq!(
                merge(a, b).verdict_for(s),
                a.verdict_for(s).strongest(b.verdict_for(s))
            );
        }

        #[test]
        fn codec_round_trips(a in any_record()) {
            prop_assert_eq!(PurgeRecord::decode(&a.encode()), Some(a));
        }

        #[test]
        fn decode_never_panics(s in "\\PC{0,40}") {
            if let Some(r) = PurgeRecord::decode(&s) {
                prop_assert_eq!(PurgeRecord::decode(&r.encode()), Some(r));
            }
        }
    }
}
