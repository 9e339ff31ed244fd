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

/// [`META_HEADER`] as a field name (built at compile time: no parse on a hit).
pub static META_NAME: HeaderName = HeaderName::from_static(META_HEADER);

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

/// Decoded metadata by the text of its field, for an isolate: a hit decodes its entry's metadata on
/// every request, mostly the same few entries, and the decode is a large share of a hit's work when
/// the machine's caches are cold (in wasm: 7 µs warm, 38 µs after the caches were evicted; README
/// "The hit path"). A pure memo of a pure function: the text names its value exactly, so nothing in
/// it can be stale. Bounded: it starts over when full.
#[derive(Debug, Default)]
pub struct MetaMemo {
    memo: crate::memo::TextMemo<std::rc::Rc<EntryMeta>>,
}

impl MetaMemo {
    /// How many decoded entries it keeps before starting over.
    pub const CAPACITY: usize = crate::memo::TextMemo::<std::rc::Rc<EntryMeta>>::CAPACITY;

    /// [`EntryMeta::decode`] of `text`, remembered; shared, not copied.
    pub fn decode(&mut self, text: &str) -> Option<std::rc::Rc<EntryMeta>> {
        self.memo
            .get_or_parse(text, |t| EntryMeta::decode(t).map(std::rc::Rc::new))
    }

    /// How many it holds.
    pub fn len(&self) -> usize {
        self.memo.len()
    }

    /// Whether it holds none.
    pub fn is_empty(&self) -> bool {
        self.memo.is_empty()
    }
}

/// Origin response fields the Workers Cache API interprets when an entry is `put` (its own
/// expiry, `Vary` handling, Cloudflare's targeted fields, the purge tags): [`stored_headers`]
/// moves them into [`EntryMeta::origin_fields`] and [`restore_stored`] puts them back, so the
/// Cache API sees only edgecache's bookkeeping `Cache-Control` and `Cache-Tag` while a hit still
/// returns the origin's fields.
pub static HIDDEN_FIELDS: [HeaderName; 8] = [
    HeaderName::from_static("cache-control"),
    HeaderName::from_static("expires"),
    HeaderName::from_static("pragma"),
    HeaderName::from_static("vary"),
    HeaderName::from_static("cdn-cache-control"),
    HeaderName::from_static("cloudflare-cdn-cache-control"),
    HeaderName::from_static("surrogate-control"),
    HeaderName::from_static("cache-tag"),
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
pub static NEVER_STORED: [HeaderName; 5] = [
    HeaderName::from_static("set-cookie"),
    HeaderName::from_static("age"),
    HeaderName::from_static("cache-status"),
    HeaderName::from_static("content-length"),
    HeaderName::from_static(META_HEADER),
];

/// Fields only a stored copy has, removed before anything reaches a client: the metadata and
/// what the runtime adds on `match`.
pub static STORAGE_ONLY: [HeaderName; 2] = [
    HeaderName::from_static(META_HEADER),
    HeaderName::from_static("cf-cache-status"),
];

/// The headers to hand to `cache.put` for an origin response (RFC 9111 §3.1).
///
/// Contract: the origin's headers minus hop-by-hop fields (RFC 9110 §7.6.1) and
/// [`NEVER_STORED`]; every line of the [`HIDDEN_FIELDS`] moved, byte for byte and in order, into
/// the `origin_fields` of a copy of `meta` (any value `meta` had there is replaced); then the
/// bookkeeping `Cache-Control: public, s-maxage=<keep_secs>` (at least 1) that tells the Cache
/// API how long to keep the entry, the `Cache-Tag` the zone purge API matches on (the URL's tag
/// and the entry's tags: [`crate::purge::zone::stored_cache_tag`]), and [`META_HEADER`] with
/// that copy encoded.
/// [`restore_stored`] is the inverse for every stored end-to-end field.
pub fn stored_headers(origin_headers: &HeaderMap, meta: &EntryMeta, keep_secs: u64) -> HeaderMap {
    let mut h = origin_headers.clone();
    crate::storable::strip_hop_by_hop(&mut h);
    for name in &NEVER_STORED {
        h.remove(name);
    }
    let mut m = meta.clone();
    let mut fields = Vec::new();
    for name in &HIDDEN_FIELDS {
        for v in h.get_all(name) {
            fields.push((
                name.as_str().to_string(),
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
    // Always a valid header value (printable ASCII tags only, bounded).
    let tags = crate::purge::zone::stored_cache_tag(&m.tags, &m.key);
    if let Ok(v) = HeaderValue::from_str(&tags) {
        h.insert(http::HeaderName::from_static("cache-tag"), v);
    }
    // `encode` is pure ASCII (see there), so this cannot fail; if it did, the entry would
    // decode as a miss, never as a wrong hit.
    if let Ok(v) = HeaderValue::from_str(&m.encode()) {
        h.insert(META_NAME.clone(), v);
    }
    h
}

/// What a hit starts from: the stored headers as the origin sent them (RFC 9111 §3.1, §4).
///
/// Contract: removes [`STORAGE_ONLY`], the [`HIDDEN_FIELDS`] (the bookkeeping `Cache-Control`
/// among them), then appends [`restored_fields`]. `Age` is not restored: the caller sets it
/// from [`EntryMeta::age`] (§5.1).
pub fn restore_stored(stored: &HeaderMap, meta: &EntryMeta) -> HeaderMap {
    restore_stored_owned(stored.clone(), meta)
}

/// [`restore_stored`] on the stored fields themselves: a hit that owns its entry's fields
/// turns them into the origin's without a copy of the map.
pub fn restore_stored_owned(mut h: HeaderMap, meta: &EntryMeta) -> HeaderMap {
    for name in STORAGE_ONLY.iter().chain(HIDDEN_FIELDS.iter()) {
        h.remove(name);
    }
    // Appended in place: no second map to build and copy from on every hit.
    append_restored(meta, &mut h);
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
    append_restored(meta, &mut h);
    h
}

/// Appends [`restored_fields`] to `h`.
fn append_restored(meta: &EntryMeta, h: &mut HeaderMap) {
    let Some(fields) = &meta.origin_fields else {
        if let Some(cc) = meta
            .origin_cc
            .as_deref()
            .and_then(|v| HeaderValue::from_str(v).ok())
        {
            h.append(http::header::CACHE_CONTROL, cc);
        }
        let names: Vec<&str> = meta.vary.iter().map(|(n, _)| n.as_str()).collect();
        if let Some(v) = (!names.is_empty())
            .then(|| HeaderValue::from_str(&names.join(", ")).ok())
            .flatten()
        {
            h.append(http::header::VARY, v);
        }
        return;
    };
    for (name, value) in fields {
        let value = if value.is_ascii() {
            HeaderValue::from_str(value).ok()
        } else {
            let bytes: Option<Vec<u8>> = value.chars().map(|c| u8::try_from(c).ok()).collect();
            bytes.and_then(|b| HeaderValue::from_bytes(&b).ok())
        };
        let (Some(name), Some(value)) = (hidden_name(name), value) else {
            continue;
        };
        h.append(name, value);
    }
}

/// A stored field's name: one of the [`HIDDEN_FIELDS`] (what `stored_headers` writes) without
/// parsing it, any other name parsed.
fn hidden_name(name: &str) -> Option<HeaderName> {
    match HIDDEN_FIELDS.iter().find(|n| n.as_str() == name) {
        Some(n) => Some(n.clone()),
        None => HeaderName::from_bytes(name.as_bytes()).ok(),
    }
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
    ///
    /// One pass over the members, taken by value (a hit decodes this on every request): a member
    /// named twice counts as its last occurrence, as `Json::get` reads it.
    pub fn decode(s: &str) -> Option<Self> {
        let members = Json::parse_members(s).ok()?;
        fn text(v: Json) -> Option<String> {
            match v {
                Json::Str(s) => Some(s),
                _ => None,
            }
        }
        fn opt_text(v: Json) -> Option<Option<String>> {
            match v {
                Json::Null => Some(None),
                Json::Str(s) => Some(Some(s)),
                _ => None,
            }
        }
        fn texts(v: Json) -> Option<Vec<String>> {
            match v {
                Json::Arr(a) => a.into_iter().map(text).collect(),
                _ => None,
            }
        }
        fn pairs<T>(v: Json, second: fn(Json) -> Option<T>) -> Option<Vec<(String, T)>> {
            let Json::Arr(a) = v else { return None };
            a.into_iter()
                .map(|pair| match pair {
                    Json::Arr(p) => {
                        let mut p = p.into_iter();
                        match (p.next(), p.next(), p.next()) {
                            (Some(Json::Str(n)), Some(v), None) => Some((n, second(v)?)),
                            _ => None,
                        }
                    }
                    _ => None,
                })
                .collect()
        }
        // Required members start unset; optional ones at their defaults.
        let (mut v, mut key, mut rule, mut status) = (None, None, None, None);
        let (mut stored_at_ms, mut response_time, mut initial_age) = (None, None, None);
        let (mut fresh_for, mut swr, mut sie) = (None, None, None);
        let (mut must_revalidate, mut no_cache) = (None, None);
        let mut m = EntryMeta {
            v: 0,
            key: String::new(),
            rule: String::new(),
            status: 0,
            stored_at_ms: 0,
            response_time: 0,
            initial_age: 0,
            fresh_for: 0,
            swr: 0,
            sie: 0,
            must_revalidate: false,
            no_cache: false,
            etag: None,
            last_modified: None,
            tags: Vec::new(),
            vary: Vec::new(),
            fetch_ms: 0,
            size: 0,
            origin_cc: None,
            origin_fields: None,
        };
        for (k, val) in members {
            match &*k {
                "v" => v = Some(u8::try_from(val.as_u64()?).ok()?),
                "key" => key = Some(text(val)?),
                "rule" => rule = Some(text(val)?),
                "status" => status = Some(u16::try_from(val.as_u64()?).ok()?),
                "stored_at_ms" => stored_at_ms = Some(val.as_u64()?),
                "response_time" => response_time = Some(val.as_u64()?),
                "initial_age" => initial_age = Some(val.as_u64()?),
                "fresh_for" => fresh_for = Some(val.as_u64()?),
                "swr" => swr = Some(val.as_u64()?),
                "sie" => sie = Some(val.as_u64()?),
                "must_revalidate" => must_revalidate = Some(val.as_bool()?),
                "no_cache" => no_cache = Some(val.as_bool()?),
                "etag" => m.etag = opt_text(val)?,
                "last_modified" => m.last_modified = opt_text(val)?,
                "tags" => m.tags = texts(val)?,
                "vary" => m.vary = pairs(val, opt_text)?,
                "fetch_ms" => m.fetch_ms = val.as_u64()?,
                "size" => m.size = val.as_u64()?,
                "origin_cc" => m.origin_cc = opt_text(val)?,
                "origin_fields" => m.origin_fields = Some(pairs(val, text)?),
                _ => {}
            }
        }
        m.v = v?;
        if m.v != META_VERSION {
            return None;
        }
        m.key = key?;
        m.rule = rule?;
        m.status = status?;
        m.stored_at_ms = stored_at_ms?;
        m.response_time = response_time?;
        m.initial_age = initial_age?;
        m.fresh_for = fresh_for?;
        m.swr = swr?;
        m.sie = sie?;
        m.must_revalidate = must_revalidate?;
        m.no_cache = no_cache?;
        Some(m)
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
    let rest = after_scheme(key);
    let (host, path_q) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    let path = path_q.split(['?', '#']).next().unwrap_or("/");
    (host, path)
}

/// What follows the first `://` of `key` (all of it when there is none): `split_once("://")`
/// without the substring searcher, whose set-up a hit paid twice (its purge check asks for the
/// key's host and path); a `:` is found by `memchr`.
fn after_scheme(key: &str) -> &str {
    let mut from = 0;
    while let Some(i) = key[from..].find(':') {
        let at = from + i;
        if let Some(rest) = key[at + 1..].strip_prefix("//") {
            return rest;
        }
        from = at + 1;
    }
    key
}

#[cfg(test)]
mod tests {
    use super::*;

    proptest::proptest! {
        /// The same as `split_once("://")` for any text, `:` and `/` made common.
        #[test]
        fn after_scheme_is_split_once(key in "[a-zé:/?#]{0,24}") {
            let want = key.split_once("://").map_or(key.as_str(), |(_, r)| r);
            proptest::prop_assert_eq!(after_scheme(&key), want);
        }
    }

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

    #[test]
    fn memo_is_bounded_and_never_remembers_garbage() {
        let mut memo = MetaMemo::default();
        assert_eq!(memo.decode("{"), None);
        assert!(memo.is_empty(), "an undecodable text is not kept");
        for i in 0..(MetaMemo::CAPACITY as u64 * 2 + 7) {
            let mut m = meta();
            m.stored_at_ms = i;
            let text = m.encode();
            assert_eq!(memo.decode(&text).as_deref(), Some(&m));
            assert_eq!(
                memo.decode(&text).as_deref(),
                Some(&m),
                "the second time, from the memo"
            );
            assert!(memo.len() <= MetaMemo::CAPACITY);
        }
    }

    proptest::proptest! {
        /// The memo answers exactly what a decode answers, for any texts in any order, repeated.
        #[test]
        fn memo_agrees_with_decode(
            picks in proptest::collection::vec(0usize..6, 1..40),
            junk in proptest::prelude::any::<String>(),
        ) {
            let mut texts = vec![junk, String::new(), "{}".to_string()];
            for i in 0..3u64 {
                let mut m = meta();
                m.size = i;
                texts.push(m.encode());
            }
            let mut memo = MetaMemo::default();
            for p in picks {
                let t = texts.get(p).cloned().unwrap_or_default();
                let (got, want) = (memo.decode(&t), EntryMeta::decode(&t));
                proptest::prop_assert_eq!(got.as_deref(), want.as_ref());
            }
        }

        /// Any metadata decodes to itself after encoding, whatever its strings hold; a document
        /// short of any required member is a miss, never a default.
        #[test]
        fn any_meta_round_trips(
            strs in proptest::collection::vec(proptest::prelude::any::<String>(), 6),
            nums in proptest::collection::vec(proptest::prelude::any::<u64>(), 9),
            flags in proptest::prelude::any::<(bool, bool, bool, bool)>(),
            tags in proptest::collection::vec(proptest::prelude::any::<String>(), 0..4),
            vary in proptest::collection::vec(
                (proptest::prelude::any::<String>(), proptest::option::of(proptest::prelude::any::<String>())),
                0..3,
            ),
            fields in proptest::option::of(proptest::collection::vec(
                (proptest::prelude::any::<String>(), proptest::prelude::any::<String>()),
                0..3,
            )),
            drop in 0usize..20,
        ) {
            let s = |i: usize| strs.get(i).cloned().unwrap_or_default();
            let n = |i: usize| nums.get(i).copied().unwrap_or_default();
            let m = EntryMeta {
                v: META_VERSION,
                key: s(0),
                rule: s(1),
                status: u16::try_from(n(0) % 1000).unwrap_or(200),
                stored_at_ms: n(1),
                response_time: n(2),
                initial_age: n(3),
                fresh_for: n(4),
                swr: n(5),
                sie: n(6),
                must_revalidate: flags.0,
                no_cache: flags.1,
                etag: flags.2.then(|| s(2)),
                last_modified: flags.3.then(|| s(3)),
                tags,
                vary,
                fetch_ms: n(7),
                size: n(8),
                origin_cc: flags.2.then(|| s(4)),
                origin_fields: fields,
            };
            let text = m.encode();
            proptest::prop_assert_eq!(EntryMeta::decode(&text), Some(m));
            // Without one of the required members (the first 12 the encoder writes).
            let Ok(Json::Obj(members)) = Json::parse(&text) else {
                return Err(proptest::test_runner::TestCaseError::fail("not an object"));
            };
            if drop < 12 {
                let mut o = Obj::new();
                for (i, (k, v)) in members.iter().enumerate() {
                    if i != drop {
                        o = o.raw(k, &v.to_string());
                    }
                }
                proptest::prop_assert_eq!(EntryMeta::decode(&o.end()), None);
            }
        }

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
