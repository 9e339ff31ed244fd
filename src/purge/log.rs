//! The purge log: one serialisable entry per accepted purge, and purge ids.

use super::request::PurgeRequest;
use crate::json::{Json, Obj};

/// One accepted purge, as kept in the purge log and returned to the webhook caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PurgeLogEntry {
    /// Purge id from [`purge_id`].
    pub id: String,
    /// Unix milliseconds at which the purge records were written.
    pub at_ms: u64,
    /// Whether the purge was soft.
    pub soft: bool,
    /// Tags purged.
    pub tags: Vec<String>,
    /// URLs purged, as given.
    pub urls: Vec<String>,
    /// Prefixes purged, as given.
    pub prefixes: Vec<String>,
    /// Whether everything was purged.
    pub everything: bool,
    /// Who asked: e.g. `"bearer"` or `"webhook:<webhook-id>"`; never a secret.
    pub actor: String,
}

impl PurgeLogEntry {
    /// The log entry for `req`, performed at `at_ms` by `actor`, with id `id`.
    pub fn new(id: String, at_ms: u64, req: &PurgeRequest, actor: &str) -> Self {
        PurgeLogEntry {
            id,
            at_ms,
            soft: req.soft,
            tags: req.tags.clone(),
            urls: req.urls.clone(),
            prefixes: req.prefixes.clone(),
            everything: req.everything,
            actor: actor.to_string(),
        }
    }

    /// As a JSON object (the purge log and the webhook's answer).
    pub fn to_json(&self) -> String {
        Obj::new()
            .str("id", &self.id)
            .u64("at_ms", self.at_ms)
            .bool("soft", self.soft)
            .strs("tags", &self.tags)
            .strs("urls", &self.urls)
            .strs("prefixes", &self.prefixes)
            .bool("everything", self.everything)
            .str("actor", &self.actor)
            .end()
    }

    /// Reads [`PurgeLogEntry::to_json`]; `None` if any field is missing or of another type.
    pub fn from_json(j: &Json) -> Option<Self> {
        Some(PurgeLogEntry {
            id: j.str_of("id")?,
            at_ms: j.get("at_ms")?.as_u64()?,
            soft: j.get("soft")?.as_bool()?,
            tags: j.get("tags")?.as_strings()?,
            urls: j.get("urls")?.as_strings()?,
            prefixes: j.get("prefixes")?.as_strings()?,
            everything: j.get("everything")?.as_bool()?,
            actor: j.str_of("actor")?,
        })
    }
}

const ALPHABET: &[u8; 36] = b"0123456789abcdefghijklmnopqrstuvwxyz";

/// A short purge id: `p_` + the time in base 36 (9 digits, zero-padded, so ids sort by time
/// until the year 5138) + 8 base-36 digits from `random` (the adapter passes a random u64).
pub fn purge_id(now_ms: u64, random: u64) -> String {
    let mut out = String::from("p_");
    out.push_str(&base36(now_ms, 9));
    // Low-order 8 digits of `random` (a u64 has at most 13 base-36 digits, so the slice
    // is always in range).
    let r = base36(random, 13);
    out.push_str(&r[r.len() - 8..]);
    out
}

/// `n` in base 36, left-padded with zeros to at least `width` digits.
fn base36(mut n: u64, width: usize) -> String {
    let mut digits = Vec::new();
    loop {
        digits.push(ALPHABET.get((n % 36) as usize).copied().unwrap_or(b'0'));
        n /= 36;
        if n == 0 {
            break;
        }
    }
    while digits.len() < width {
        digits.push(b'0');
    }
    digits.reverse();
    digits.into_iter().map(char::from).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_short_and_sort_by_time() {
        let a = purge_id(1_732_560_000_123, 42);
        let b = purge_id(1_732_560_000_124, 0);
        assert_eq!(a.len(), 2 + 9 + 8);
        assert!(a < b);
        assert_eq!(a, "p_0m3xdhny300000016");
        assert_eq!(purge_id(0, u64::MAX).len(), 19);
        assert_ne!(purge_id(1, 1), purge_id(1, 2));
    }

    #[test]
    fn base36_examples() {
        assert_eq!(base36(0, 1), "0");
        assert_eq!(base36(35, 2), "0z");
        assert_eq!(base36(u64::MAX, 1), "3w5e11264sgsf");
    }

    #[test]
    fn log_entry_serialises() {
        let req = PurgeRequest {
            tags: vec!["a".into()],
            soft: true,
            ..Default::default()
        };
        let e = PurgeLogEntry::new("p_x".into(), 7, &req, "bearer");
        let json = e.to_json();
        assert_eq!(
            json,
            r#"{"id":"p_x","at_ms":7,"soft":true,"tags":["a"],"urls":[],"prefixes":[],"everything":false,"actor":"bearer"}"#
        );
        assert_eq!(
            PurgeLogEntry::from_json(&Json::parse(&json).unwrap()),
            Some(e)
        );
        assert_eq!(PurgeLogEntry::from_json(&Json::parse("{}").unwrap()), None);
    }
}
