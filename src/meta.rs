//! What is stored beside a cached response.
//!
//! The Workers Cache API keeps a response until its own `s-maxage` runs out and knows nothing of
//! stale windows, purges or variants. So every entry carries an [`EntryMeta`] (serialised as JSON in
//! the internal [`META_HEADER`] of the stored response, never sent to a client) and edgecache decides
//! freshness itself from it and `now`.

use crate::json::{Arr, Json, Obj};
use http::{HeaderMap, HeaderName, HeaderValue};

/// Response header that carries the entry's metadata inside the Cache API. Removed before serving.
pub const META_HEADER: &str = "x-edgecache-meta";

/// Format version of [`EntryMeta`]; entries of another version are treated as a miss.
pub const META_VERSION: u8 = 1;

/// Metadata kept with every cached entry.
///
/// Times are unix seconds (`*_ms`: milliseconds). `initial_age` and `response_time` are the RFC 9111
/// §4.2.3 inputs, so the current age is `initial_age + (now - response_time)`.
#[derive(Debug, Clone, PartialEq, Eq)]
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
    pub etag: Option<String>,
    /// `Last-Modified` of the stored response, for `If-Modified-Since` revalidation.
    pub last_modified: Option<String>,
    /// Purge tags (origin tag headers + the rule's static tags).
    pub tags: Vec<String>,
    /// Request header values the response varies on (RFC 9111 §4.1), captured at storage time.
    pub vary: Vec<(String, Option<String>)>,
    /// How long the origin took to produce the response (ms): the XFetch `delta`.
    pub fetch_ms: u64,
    /// Body size in bytes (for metrics).
    pub size: u64,
    /// The origin's own `Cache-Control`, restored toward the browser in `respect` mode.
    /// Superseded by `origin_fields` (kept so entries written before it still restore).
    pub origin_cc: Option<String>,
    /// The origin's header lines the Cache API itself would act on ([`HIDDEN_FIELDS`]:
    /// `Cache-Control`, `Expires`, `Vary`, ...), kept here instead of in the stored headers and
    /// restored on a hit exactly as received (RFC 9111 §3.1: "Caches MUST include all received
    /// response header fields"). Values are raw bytes mapped one-to-one onto `U+0000..=U+00FF`,
    /// so obs-text survives. Filled by [`stored_headers`]; `None` for entries written before
    /// it existed (then [`restored_fields`] falls back to `origin_cc` and the Vary names).
    pub origin_fields: Option<Vec<(String, String)>>,
}

/// Origin response fields the Workers Cache API interprets when an entry is `put` (its own
/// expiry, `Vary` handling, Cloudflare's targeted fields): [`stored_headers`] moves them into
/// [`EntryMeta::origin_fields`] and [`restore_stored`] puts them back, so the Cache API sees only
/// edgecache's bookkeeping `Cache-Control` while a hit still returns the origin's fields.
pub const HIDDEN_FIELDS: [&str; 7] = [
    "cache-control",
    "expires",
    "pragma",
    "vary",
    "cdn-cache-control",
    "cloudflare-cdn-cache-control",
    "surrogate-control",
];

/// Fields never written to the Cache API, whatever the origin sent:
/// - `set-cookie`: per-user, and refused by the Cache API (a rule may strip it: §3 allows a
///   cache to decline storing a response; `no-cache="set-cookie"` / `private="set-cookie"`
///   name it explicitly);
/// - `age`: recomputed on every hit from the stored `initial_age` (RFC 9111 §4.2.3, §5.1);
/// - `cache-status`: an upstream cache's member describes that hop's handling of *this*
///   exchange (RFC 9211 §2); replaying it from storage would misreport later ones;
/// - `content-length`: the runtime sets it from the stored body (and §3.2 never updates it);
/// - the metadata header itself (rewritten from `meta`).
pub const NEVER_STORED: [&str; 5] = [
    "set-cookie",
    "age",
    "cache-status",
    "content-length",
    META_HEADER,
];

/// Fields only a stored copy has, removed before anything reaches a client: the metadata and
/// what the runtime adds on `match`.
pub const STORAGE_ONLY: [&str; 2] = [META_HEADER, "cf-cache-status"];

/// The headers to hand to `cache.put` for an origin response (RFC 9111 §3.1).
///
/// Contract: the origin's headers minus hop-by-hop fields (RFC 9110 §7.6.1) and
/// [`NEVER_STORED`]; every line of the [`HIDDEN_FIELDS`] moved, byte for byte and in order, into
/// the `origin_fields` of a copy of `meta` (any value `meta` had there is replaced); then the
/// bookkeeping `Cache-Control: public, s-maxage=<keep_secs>` (at least 1) that tells the Cache
/// API how long to keep the entry, and [`META_HEADER`] with that copy encoded.
/// [`restore_stored`] is the inverse for every stored end-to-end field.
pub fn stored_headers(origin_headers: &HeaderMap, meta: &EntryMeta, keep_secs: u64) -> HeaderMap {
    let mut h = origin_headers.clone();
    crate::storable::strip_hop_by_hop(&mut h);
    for name in NEVER_STORED {
        h.remove(name);
    }
    let mut m = meta.clone();
    let mut fields = Vec::new();
    for name in HIDDEN_FIELDS {
        for v in h.get_all(name) {
            fields.push((
                name.to_string(),
                v.as_bytes().iter().map(|&b| char::from(b)).collect(),
            ));
        }
        h.remove(name);
    }
    m.origin_fields = Some(fields);
    let keep = format!("public, s-maxage={}", keep_secs.max(1));
    if let Ok(v) = HeaderValue::from_str(&keep) {
        h.insert(http::header::CACHE_CONTROL, v);
    }
    // `encode` is pure ASCII (see there), so this cannot fail; if it did, the entry would
    // decode as a miss, never as a wrong hit.
    if let Ok(v) = HeaderValue::from_str(&m.encode()) {
        h.insert(META_HEADER, v);
    }
    h
}

/// What a hit starts from: the stored headers as the origin sent them (RFC 9111 §3.1, §4).
///
/// Contract: removes [`STORAGE_ONLY`], the [`HIDDEN_FIELDS`] (the bookkeeping `Cache-Control`
/// among them), then appends [`restored_fields`]. `Age` is not restored: the caller sets it
/// from [`EntryMeta::age`] (§5.1).
pub fn restore_stored(stored: &HeaderMap, meta: &EntryMeta) -> HeaderMap {
    let mut h = stored.clone();
    for name in STORAGE_ONLY.iter().chain(HIDDEN_FIELDS.iter()) {
        h.remove(*name);
    }
    for (name, value) in &restored_fields(meta) {
        h.append(name, value.clone());
    }
    h
}

/// Only the fields [`restore_stored`] puts back, for a hit path that edits the runtime's
/// header object in place: delete [`STORAGE_ONLY`] and [`HIDDEN_FIELDS`] there, then append
/// these.
///
/// Contract: `meta.origin_fields` as received, in order (lines whose bytes cannot form a
/// header are skipped). Entries written before `origin_fields` existed (`None`) get
/// `Cache-Control` from `origin_cc` and `Vary` from the captured names, as before.
pub fn restored_fields(meta: &EntryMeta) -> HeaderMap {
    let mut h = HeaderMap::new();
    let Some(fields) = &meta.origin_fields else {
        if let Some(cc) = meta
            .origin_cc
            .as_deref()
            .and_then(|v| HeaderValue::from_str(v).ok())
        {
            h.insert(http::header::CACHE_CONTROL, cc);
        }
        let names: Vec<&str> = meta.vary.iter().map(|(n, _)| n.as_str()).collect();
        if let Some(v) = (!names.is_empty())
            .then(|| HeaderValue::from_str(&names.join(", ")).ok())
            .flatten()
        {
            h.insert(http::header::VARY, v);
        }
        return h;
    };
    for (name, value) in fields {
        let bytes: Option<Vec<u8>> = value.chars().map(|c| u8::try_from(c).ok()).collect();
        let (Ok(name), Some(Ok(value))) = (
            HeaderName::from_bytes(name.as_bytes()),
            bytes.as_deref().map(HeaderValue::from_bytes),
        ) else {
            continue;
        };
        h.append(name, value);
    }
    h
}

impl EntryMeta {
    /// Serialises for [`META_HEADER`]: compact JSON, pure ASCII (non-ASCII and control
    /// characters are `\u` escaped), so it is a valid header value everywhere. Absent optional
    /// fields and empty lists are left out.
    pub fn encode(&self) -> String {
        let mut o = Obj::new()
            .u64("v", u64::from(self.v))
            .str("key", &self.key)
            .str("rule", &self.rule)
            .u64("status", u64::from(self.status))
            .u64("stored_at_ms", self.stored_at_ms)
            .u64("response_time", self.response_time)
            .u64("initial_age", self.initial_age)
            .u64("fresh_for", self.fresh_for)
            .u64("swr", self.swr)
            .u64("sie", self.sie)
            .bool("must_revalidate", self.must_revalidate)
            .bool("no_cache", self.no_cache);
        if let Some(e) = &self.etag {
            o = o.str("etag", e);
        }
        if let Some(l) = &self.last_modified {
            o = o.str("last_modified", l);
        }
        if !self.tags.is_empty() {
            o = o.strs("tags", &self.tags);
        }
        if !self.vary.is_empty() {
            let mut a = Arr::new();
            for (name, value) in &self.vary {
                let pair = Arr::new().str(name);
                let pair = match value {
                    Some(v) => pair.str(v),
                    None => pair.raw("null"),
                };
                a = a.raw(&pair.end());
            }
            o = o.raw("vary", &a.end());
        }
        o = o.u64("fetch_ms", self.fetch_ms).u64("size", self.size);
        if let Some(cc) = &self.origin_cc {
            o = o.str("origin_cc", cc);
        }
        if let Some(fields) = &self.origin_fields {
            let mut a = Arr::new();
            for (name, value) in fields {
                a = a.raw(&Arr::new().str(name).str(value).end());
            }
            o = o.raw("origin_fields", &a.end());
        }
        o.end()
    }

    /// Parses a [`META_HEADER`] value; `None` for anything malformed or of another version (a miss).
    pub fn decode(s: &str) -> Option<Self> {
        let j = Json::parse(s).ok()?;
        let num = |k: &str| j.get(k).and_then(Json::as_u64);
        let flag = |k: &str| j.get(k).and_then(Json::as_bool);
        let opt_str = |k: &str| match j.get(k) {
            None | Some(Json::Null) => Some(None),
            Some(v) => v.as_str().map(|s| Some(s.to_string())),
        };
        let v = u8::try_from(num("v")?).ok()?;
        if v != META_VERSION {
            return None;
        }
        let vary = match j.get("vary") {
            None => Vec::new(),
            Some(list) => list
                .as_array()?
                .iter()
                .map(|pair| match pair.as_array()? {
                    [Json::Str(n), Json::Str(v)] => Some((n.clone(), Some(v.clone()))),
                    [Json::Str(n), Json::Null] => Some((n.clone(), None)),
                    _ => None,
                })
                .collect::<Option<Vec<_>>>()?,
        };
        Some(EntryMeta {
            v,
            key: j.get("key")?.as_str()?.to_string(),
            rule: j.get("rule")?.as_str()?.to_string(),
            status: u16::try_from(num("status")?).ok()?,
            stored_at_ms: num("stored_at_ms")?,
            response_time: num("response_time")?,
            initial_age: num("initial_age")?,
            fresh_for: num("fresh_for")?,
            swr: num("swr")?,
            sie: num("sie")?,
            must_revalidate: flag("must_revalidate")?,
            no_cache: flag("no_cache")?,
            etag: opt_str("etag")?,
            last_modified: opt_str("last_modified")?,
            tags: match j.get("tags") {
                None => Vec::new(),
                Some(t) => t.as_strings()?,
            },
            vary,
            fetch_ms: j.get("fetch_ms").map_or(Some(0), Json::as_u64)?,
            size: j.get("size").map_or(Some(0), Json::as_u64)?,
            origin_cc: opt_str("origin_cc")?,
            origin_fields: match j.get("origin_fields") {
                None => None,
                Some(list) => Some(
                    list.as_array()?
                        .iter()
                        .map(|pair| match pair.as_array()? {
                            [Json::Str(n), Json::Str(v)] => Some((n.clone(), v.clone())),
                            _ => None,
                        })
                        .collect::<Option<Vec<_>>>()?,
                ),
            },
        })
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
            origin_fields: Some(vec![(
                "expires".into(),
                "Thu, 01 Jan 1970 00:00:00 GMT".into(),
            )]),
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
    fn minimal_entries_round_trip_and_wrong_types_are_misses() {
        let mut m = meta();
        m.etag = None;
        m.origin_cc = None;
        m.tags.clear();
        m.vary = vec![("accept-encoding".into(), None)];
        let e = m.encode();
        assert!(!e.contains("etag") && !e.contains("tags"), "{e}");
        assert_eq!(EntryMeta::decode(&e), Some(m));
        let good = meta().encode();
        for (from, to) in [
            ("\"status\":200", "\"status\":\"200\""),
            ("\"status\":200", "\"status\":70000"),
            ("\"swr\":30", "\"swr\":-30"),
            ("\"no_cache\":false", "\"no_cache\":0"),
            ("\"tags\":[\"article-1\"]", "\"tags\":[1]"),
            ("[\"accept-language\",\"en\"]", "[\"accept-language\"]"),
            ("\"rule\":\"articles\",", ""),
        ] {
            assert!(good.contains(from), "{from} not in {good}");
            let bad = good.replace(from, to);
            assert_eq!(EntryMeta::decode(&bad), None, "{bad}");
        }
    }

    /// An entry stored with no hidden fields is told apart from one written before
    /// `origin_fields` existed: the first restores nothing, the second falls back.
    #[test]
    fn empty_origin_fields_are_not_legacy() {
        let mut m = meta();
        m.origin_fields = Some(Vec::new());
        let d = EntryMeta::decode(&m.encode()).unwrap();
        assert_eq!(d.origin_fields, Some(Vec::new()));
        assert!(restored_fields(&d).is_empty());
        m.origin_fields = None;
        let legacy = restored_fields(&EntryMeta::decode(&m.encode()).unwrap());
        assert_eq!(legacy["cache-control"], "public, max-age=0, s-maxage=60");
        assert_eq!(legacy["vary"], "accept-language");
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

    proptest::proptest! {
        /// RFC 9111 §3.1: every stored end-to-end line survives put + restore, byte for byte
        /// and in order per name; Set-Cookie, Age and hop-by-hop fields never do.
        #[test]
        fn stored_headers_round_trip(
            lines in proptest::collection::vec(
                (0usize..10, proptest::collection::vec(proptest::prelude::any::<u8>(), 0..12)),
                0..12,
            ),
            keep in 0u64..100_000,
        ) {
            const NAMES: [&str; 10] = [
                "expires", "cache-control", "vary", "pragma", "cdn-cache-control", "link",
                "x-a", "set-cookie", "age", "keep-alive",
            ];
            let mut origin = HeaderMap::new();
            for (i, bytes) in &lines {
                let bytes: Vec<u8> = bytes.iter().map(|b| if *b < 0x20 || *b == 0x7f { b'x' } else { *b }).collect();
                if let (Some(n), Ok(v)) = (NAMES.get(*i), HeaderValue::from_bytes(&bytes)) {
                    origin.append(*n, v);
                }
            }
            let put = stored_headers(&origin, &meta(), keep);
            proptest::prop_assert_eq!(put.get_all("cache-control").iter().count(), 1);
            let decoded = EntryMeta::decode(put[META_HEADER].to_str().unwrap()).unwrap();
            let back = restore_stored(&put, &decoded);
            for n in NAMES {
                let want: Vec<&[u8]> = match n {
                    "set-cookie" | "age" | "keep-alive" => Vec::new(),
                    _ => origin.get_all(n).iter().map(|v| v.as_bytes()).collect(),
                };
                let got: Vec<&[u8]> = back.get_all(n).iter().map(|v| v.as_bytes()).collect();
                proptest::prop_assert_eq!(got, want, "{}", n);
            }
        }
    }

    #[test]
    fn host_and_path_of_the_key() {
        let m = meta();
        assert_eq!(m.host(), "example.com");
        assert_eq!(m.path(), "/a/b");
        assert_eq!(split_key("https://h"), ("h", "/"));
    }
}
