//! What is stored beside a cached response.
//!
//! The Workers Cache API keeps a response until its own `s-maxage` runs out and knows nothing of
//! stale windows, purges or variants. So every entry carries an [`EntryMeta`] (serialised as JSON in
//! the internal [`META_HEADER`] of the stored response, never sent to a client) and edgecache decides
//! freshness itself from it and `now`.

use serde::{Deserialize, Serialize};

/// Response header that carries the entry's metadata inside the Cache API. Removed before serving.
pub const META_HEADER: &str = "x-edgecache-meta";

/// Format version of [`EntryMeta`]; entries of another version are treated as a miss.
pub const META_VERSION: u8 = 1;

/// Metadata kept with every cached entry.
///
/// Times are unix seconds (`*_ms`: milliseconds). `initial_age` and `response_time` are the RFC 9111
/// §4.2.3 inputs, so the current age is `initial_age + (now - response_time)`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EntryMeta {
    /// Format version ([`META_VERSION`]).
    pub v: u8,
    /// The cache key the entry is stored under.
    pub key: String,
    /// Name of the policy rule that stored it.
    pub rule: String,
    /// Status code of the stored response.
    pub status: u16,
    /// When the entry was written (milliseconds): compared with purge records.
    pub stored_at_ms: u64,
    /// When the response was received from the origin (RFC 9111 §4.2.3 `response_time`).
    pub response_time: u64,
    /// `corrected_initial_age` at storage time (RFC 9111 §4.2.3).
    pub initial_age: u64,
    /// Freshness lifetime at the edge (seconds), after policy and jitter.
    pub fresh_for: u64,
    /// Stale-while-revalidate window after `fresh_for` (seconds).
    pub swr: u64,
    /// Stale-if-error window after `fresh_for` (seconds).
    pub sie: u64,
    /// The response may not be served stale at all (`must-revalidate`, `proxy-revalidate`,
    /// `s-maxage` per RFC 9111 §5.2.2.10, or policy).
    pub must_revalidate: bool,
    /// `no-cache` without field names: stored, but revalidated before every use (§5.2.2.4).
    pub no_cache: bool,
    /// `ETag` of the stored response, for `If-None-Match` revalidation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub etag: Option<String>,
    /// `Last-Modified` of the stored response, for `If-Modified-Since` revalidation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_modified: Option<String>,
    /// Purge tags (origin tag headers + the rule's static tags).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<String>,
    /// Request header values the response varies on (RFC 9111 §4.1), captured at storage time.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub vary: Vec<(String, Option<String>)>,
    /// How long the origin took to produce the response (ms): the XFetch `delta`.
    #[serde(default)]
    pub fetch_ms: u64,
    /// Body size in bytes (for metrics).
    #[serde(default)]
    pub size: u64,
    /// The origin's own `Cache-Control`, restored toward the browser in `respect` mode.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub origin_cc: Option<String>,
}

impl EntryMeta {
    /// Serialises for [`META_HEADER`]: JSON, pure ASCII (non-ASCII characters are `\uXXXX`
    /// escaped, controls are escaped by serde_json), so it is a valid header value everywhere.
    pub fn encode(&self) -> String {
        // Serialising a struct of plain strings and numbers cannot fail.
        let json = serde_json::to_string(self).unwrap_or_default();
        if json.is_ascii() {
            return json;
        }
        let mut out = String::with_capacity(json.len() + 16);
        for c in json.chars() {
            if c.is_ascii() {
                out.push(c);
            } else {
                let mut buf = [0u16; 2];
                for u in c.encode_utf16(&mut buf) {
                    out.push_str(&format!("\\u{u:04x}"));
                }
            }
        }
        out
    }

    /// Parses a [`META_HEADER`] value; `None` for anything malformed or of another version (a miss).
    pub fn decode(s: &str) -> Option<Self> {
        let m: Self = serde_json::from_str(s).ok()?;
        (m.v == META_VERSION).then_some(m)
    }

    /// Current age (RFC 9111 §4.2.3): `corrected_initial_age + resident_time`.
    pub fn age(&self, now: u64) -> u64 {
        self.initial_age
            .saturating_add(now.saturating_sub(self.response_time))
    }

    /// Remaining freshness in seconds, negative once stale (the RFC 9211 `ttl` parameter).
    pub fn ttl(&self, now: u64) -> i64 {
        let age = self.age(now).min(i64::MAX as u64) as i64;
        (self.fresh_for.min(i64::MAX as u64) as i64).saturating_sub(age)
    }

    /// Seconds the Cache API must keep the entry: what is left of fresh + the longest stale window
    /// (+ `keep_extra` for revalidation with validators), at least 1.
    pub fn edge_keep_secs(&self, now: u64, keep_extra: u64) -> u64 {
        let window = self
            .swr
            .max(self.sie)
            .max(if self.has_validators() { keep_extra } else { 0 });
        let left = self.ttl(now).max(0) as u64;
        left.saturating_add(window).max(1)
    }

    /// Whether a conditional revalidation is possible.
    pub fn has_validators(&self) -> bool {
        self.etag.is_some() || self.last_modified.is_some()
    }

    /// Host of the stored key (for prefix purges); empty if the key is not a URL.
    pub fn host(&self) -> &str {
        split_key(&self.key).0
    }

    /// Path of the stored key (for prefix purges).
    pub fn path(&self) -> &str {
        split_key(&self.key).1
    }
}

/// Splits `scheme://host/path?query` into (host, path).
fn split_key(key: &str) -> (&str, &str) {
    let rest = key.split_once("://").map_or(key, |(_, r)| r);
    let (host, path_q) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    let path = path_q.split(['?', '#']).next().unwrap_or("/");
    (host, path)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta() -> EntryMeta {
        EntryMeta {
            v: META_VERSION,
            key: "https://example.com/a/b?x=1".into(),
            rule: "articles".into(),
            status: 200,
            stored_at_ms: 1_000_000,
            response_time: 1000,
            initial_age: 10,
            fresh_for: 60,
            swr: 30,
            sie: 300,
            must_revalidate: false,
            no_cache: false,
            etag: Some("\"v1\"".into()),
            last_modified: None,
            tags: vec!["article-1".into()],
            vary: vec![("accept-language".into(), Some("en".into()))],
            fetch_ms: 12,
            size: 5,
            origin_cc: Some("public, max-age=0, s-maxage=60".into()),
        }
    }

    #[test]
    fn round_trip() {
        let m = meta();
        assert_eq!(EntryMeta::decode(&m.encode()), Some(m));
    }

    #[test]
    fn encoding_is_ascii_and_round_trips_unicode() {
        let mut m = meta();
        m.tags = vec!["région-€-😀".into()];
        let e = m.encode();
        assert!(e.is_ascii(), "{e}");
        assert_eq!(EntryMeta::decode(&e), Some(m));
    }

    #[test]
    fn other_versions_and_garbage_are_misses() {
        let mut m = meta();
        m.v = 99;
        assert_eq!(EntryMeta::decode(&m.encode()), None);
        assert_eq!(EntryMeta::decode("{"), None);
        assert_eq!(EntryMeta::decode(""), None);
    }

    #[test]
    fn age_and_ttl_follow_rfc9111_4_2_3() {
        let m = meta();
        assert_eq!(m.age(1000), 10);
        assert_eq!(m.age(1020), 30);
        assert_eq!(m.ttl(1020), 30);
        assert_eq!(m.ttl(1062), -12);
        // a clock behind response_time never makes the age negative
        assert_eq!(m.age(900), 10);
    }

    #[test]
    fn keep_covers_fresh_plus_longest_stale_window() {
        let m = meta();
        assert_eq!(m.edge_keep_secs(1000, 0), 50 + 300);
        assert_eq!(m.edge_keep_secs(2000, 0), 300);
        let mut n = meta();
        n.sie = 0;
        n.swr = 0;
        assert_eq!(n.edge_keep_secs(1000, 3600), 50 + 3600);
        n.etag = None;
        assert_eq!(n.edge_keep_secs(2000, 3600), 1);
    }

    #[test]
    fn host_and_path_of_the_key() {
        let m = meta();
        assert_eq!(m.host(), "example.com");
        assert_eq!(m.path(), "/a/b");
        assert_eq!(split_key("https://h"), ("h", "/"));
    }
}
