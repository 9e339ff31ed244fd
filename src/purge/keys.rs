//! Purge record keys in KV, and the check of a cached entry against them.
//!
//! One KV key per purge target, so a purge never read-modify-writes a shared value:
//!
//! | key                       | written by a purge of                       |
//! |---------------------------|---------------------------------------------|
//! | `all`                     | `"everything": true`                        |
//! | `tag:<tag>`               | a tag                                       |
//! | `url:<cache key>`         | a URL (normalised by the policy's cache-key normaliser) |
//! | `prefix:<host><path>`     | an absolute-URL prefix (that host only)     |
//! | `prefix:<path>`           | a path prefix (any host)                    |
//! | `prefix-gate`             | any prefix purge (see below)                |
//!
//! A key longer than KV's 512-byte limit is replaced by `<kind>#<sha256 hex of the value>`
//! (the `#` cannot collide with the `:` form); both sides use the same function.
//!
//! **Prefix matching is at path-segment boundaries.** A prefix `/blog` or `/blog/` covers
//! `/blog`, `/blog/` and everything under `/blog/`, but not `/blogger`. Lookups are by key
//! (KV cannot be listed on the hot path), so an entry at `/a/b/c` consults the records of
//! its ancestors `/`, `/a`, `/a/b` and of `/a/b/c` itself, each for any host and for the
//! entry's host; a prefix is stored with one trailing `/` removed so `/a/` and `/a` are the
//! same record. A prefix may have at most [`MAX_PREFIX_DEPTH`] segments, so an entry only
//! needs its first 32 ancestors. Prefix `/` on a host purges that whole host.
//!
//! Since that is up to 68 keys, entries first consult `prefix-gate`, the merge of every
//! prefix purge: an entry stored after the newest prefix purge cannot be covered by any prefix
//! record, and skips them. Only entries older than the last prefix purge pay for the lookups.

use super::error::PurgeError;
use super::prefix::strip_one_trailing_slash;
pub use super::prefix::{host_of, normalise_prefix, MAX_PREFIX_DEPTH};
use super::record::{PurgeRecord, PurgeVerdict};
use super::request::{check_url, PurgeRequest};
use sha2::{Digest, Sha256};

/// Key of the "purge everything" record.
pub const ALL_KEY: &str = "all";
/// Key of the record merging every prefix purge (the gate in front of prefix lookups).
pub const PREFIX_GATE_KEY: &str = "prefix-gate";
/// Workers KV's key length limit, in bytes.
pub const KV_KEY_MAX_BYTES: usize = 512;
/// Workers KV's smallest `expirationTtl`, in seconds.
pub const KV_MIN_EXPIRATION_TTL_SECS: u64 = 60;
/// Extra lifetime given to records beyond the longest entry lifetime (clock skew, rounding).
pub const RECORD_TTL_MARGIN_SECS: u64 = 60;

/// Builds a KV key `<kind>:<value>`, or `<kind>#<sha256 hex>` when over 512 bytes.
fn kv_key(kind: &str, value: &str) -> String {
    let mut out = String::new();
    kv_key_into(&mut out, kind, value);
    out
}

/// [`kv_key`] written into `out` (cleared first), so a loop over many keys reuses one buffer.
fn kv_key_into(out: &mut String, kind: &str, value: &str) {
    out.clear();
    // Not `format!`: every hit's purge check builds these, and the formatting machinery is
    // code a hit need not run (README, "The hit path").
    if kind.len() + 1 + value.len() <= KV_KEY_MAX_BYTES {
        out.reserve(kind.len() + 1 + value.len());
        out.push_str(kind);
        out.push(':');
        out.push_str(value);
    } else {
        let digest = Sha256::digest(value.as_bytes());
        out.reserve(kind.len() + 1 + 64);
        out.push_str(kind);
        out.push('#');
        for b in digest {
            out.push(char::from_digit(u32::from(b >> 4), 16).unwrap_or('0'));
            out.push(char::from_digit(u32::from(b & 0xf), 16).unwrap_or('0'));
        }
    }
}

/// The KV key of a tag's record.
pub fn tag_key(tag: &str) -> String {
    kv_key("tag", tag)
}

/// The KV key of a URL's record; `cache_key` is the normalised cache key.
pub fn url_key(cache_key: &str) -> String {
    kv_key("url", cache_key)
}

/// The KV key of a prefix record: `host` as from [`host_of`] (`None`: any host), `path` a
/// normalised prefix path (see [`normalise_prefix`]).
pub fn prefix_key(host: Option<&str>, path: &str) -> String {
    match host {
        Some(h) => kv_key("prefix", &format!("{}{path}", h.to_ascii_lowercase())),
        None => kv_key("prefix", path),
    }
}

/// The KV keys a purge writes, deduplicated, in the order: `all`, tags, URLs, prefixes,
/// `prefix-gate` (written whenever there is a prefix). Each gets the same record
/// ([`PurgeRequest::record`]), merged with what is there.
///
/// URLs go through `normalise_url` (the policy's cache-key normaliser; it receives the URL as
/// given, so it must resolve a relative `/path` against the site's host); its error becomes a
/// 422 naming the URL's index. Prefixes follow [`normalise_prefix`]: a relative prefix applies
/// to every host, an absolute one to its host only.
pub fn record_keys(
    req: &PurgeRequest,
    normalise_url: impl Fn(&str) -> Result<String, String>,
) -> Result<Vec<String>, PurgeError> {
    let bad = |field: &str, i: usize, why: String| {
        PurgeError::Unprocessable(format!("{field}[{i}]: {why}"))
    };
    let mut keys: Vec<String> = Vec::new();
    if req.everything {
        keys.push(ALL_KEY.to_string());
    }
    for (i, tag) in req.tags.iter().enumerate() {
        if tag.is_empty() {
            return Err(bad("tags", i, "must not be empty".into()));
        }
        keys.push(tag_key(tag));
    }
    for (i, u) in req.urls.iter().enumerate() {
        check_url(u).map_err(|why| bad("urls", i, why))?;
        let key = normalise_url(u).map_err(|why| bad("urls", i, why))?;
        keys.push(url_key(&key));
    }
    for (i, p) in req.prefixes.iter().enumerate() {
        let norm = normalise_prefix(p).map_err(|why| bad("prefixes", i, why))?;
        keys.push(kv_key("prefix", &norm));
    }
    if !req.prefixes.is_empty() {
        keys.push(PREFIX_GATE_KEY.to_string());
    }
    if keys.is_empty() {
        return Err(PurgeError::Unprocessable("nothing to purge".to_string()));
    }
    let mut seen = std::collections::HashSet::new();
    keys.retain(|k| seen.insert(k.clone()));
    Ok(keys)
}

/// The prefix paths whose records may cover an entry at `path`: `/`, each ancestor at a
/// segment boundary (`/a`, `/a/b`, … up to [`MAX_PREFIX_DEPTH`] segments) and the path itself
/// without one trailing `/`. A path not starting with `/` only gets `/`.
pub fn prefix_candidates(path: &str) -> Vec<&str> {
    let mut out = vec!["/"];
    if !path.starts_with('/') {
        return out;
    }
    let mut depth = 0;
    // From index 1: the leading '/' is the root, not a boundary after a segment.
    for (i, b) in path.bytes().enumerate().filter(|&(i, _)| i > 0) {
        if b == b'/' {
            depth += 1;
            if depth > MAX_PREFIX_DEPTH {
                break;
            }
            out.push(&path[..i]);
        }
    }
    let own = strip_one_trailing_slash(path);
    if own.bytes().filter(|b| *b == b'/').count() <= MAX_PREFIX_DEPTH {
        out.push(own);
    }
    out.dedup();
    out
}

/// The keys consulted for every entry: `all`, its URL, each of its tags, and `prefix-gate`.
pub fn base_keys_to_check(entry_tags: &[String], entry_key: &str) -> Vec<String> {
    let mut keys: Vec<String> = Vec::new();
    for_each_base_key(entry_tags, entry_key, |k| {
        if !keys.iter().any(|x| x == k) {
            keys.push(k.to_string());
        }
    });
    keys.push(PREFIX_GATE_KEY.to_string());
    keys
}

/// Calls `f` with each of [`base_keys_to_check`] but the gate, in that order, built one at a
/// time in one buffer (a hit checks every tag of its entry: no string each). A tag listed
/// twice comes twice.
fn for_each_base_key(entry_tags: &[String], entry_key: &str, mut f: impl FnMut(&str)) {
    f(ALL_KEY);
    let mut key = String::new();
    kv_key_into(&mut key, "url", entry_key);
    f(&key);
    for t in entry_tags.iter().filter(|t| !t.is_empty()) {
        kv_key_into(&mut key, "tag", t);
        f(&key);
    }
}

/// The prefix record keys for an entry, consulted only when [`prefix_gate_open`] says so:
/// for each of [`prefix_candidates`], the any-host key then the entry-host key.
pub fn prefix_keys_to_check(entry_host: &str, entry_path: &str) -> Vec<String> {
    let mut keys = Vec::new();
    for cand in prefix_candidates(entry_path) {
        keys.push(prefix_key(None, cand));
        if !entry_host.is_empty() {
            keys.push(prefix_key(Some(entry_host), cand));
        }
    }
    keys
}

/// Every key [`check_entry`] may consult, base keys first, so the adapter can batch or
/// memoise its KV reads. To read fewer keys, read [`base_keys_to_check`] first and the
/// [`prefix_keys_to_check`] only if [`prefix_gate_open`].
pub fn keys_to_check(
    entry_tags: &[String],
    entry_key: &str,
    entry_host: &str,
    entry_path: &str,
) -> Vec<String> {
    let mut keys = base_keys_to_check(entry_tags, entry_key);
    keys.extend(prefix_keys_to_check(entry_host, entry_path));
    keys
}

/// Whether an entry stored at `stored_at_ms` could be covered by some prefix record, given
/// the `prefix-gate` record (`None`: no prefix purge within the record lifetime).
pub fn prefix_gate_open(stored_at_ms: u64, gate: Option<PurgeRecord>) -> bool {
    gate.is_some_and(|g| g.verdict_for(stored_at_ms).is_purged())
}

/// Checks a cached entry against the purge records.
///
/// Consults `all`, `url:<entry_key>`, every `tag:<t>` and, when the prefix gate is open, the
/// prefix records of every ancestor of `entry_path` (any host, and `entry_host` in
/// [`host_of`] form). `lookup` returns the record stored under a key (`None`: absent or
/// undecodable). Each record gives [`PurgeRecord::verdict_for`]; a covering hard purge beats
/// any soft one, and among those of the same kind the newest time is reported.
pub fn check_entry(
    stored_at_ms: u64,
    entry_tags: &[String],
    entry_key: &str,
    entry_host: &str,
    entry_path: &str,
    lookup: impl Fn(&str) -> Option<PurgeRecord>,
) -> PurgeVerdict {
    let mut verdict = PurgeVerdict::Fresh;
    let mut consult = |key: &str| {
        if let Some(r) = lookup(key) {
            verdict = verdict.strongest(r.verdict_for(stored_at_ms));
        }
    };
    // A key consulted twice cannot change the strongest verdict.
    for_each_base_key(entry_tags, entry_key, &mut consult);
    if prefix_gate_open(stored_at_ms, lookup(PREFIX_GATE_KEY)) {
        for key in prefix_keys_to_check(entry_host, entry_path) {
            consult(&key);
        }
    }
    verdict
}

/// The KV `expirationTtl` (seconds) for purge records, given the longest lifetime any cached
/// entry can have (`max_lifetime_secs`: longest edge TTL plus the stale-while-revalidate and
/// stale-if-error windows).
///
/// An entry covered by a record was stored no later than the record's time, so it is gone
/// `max_lifetime_secs` after it; the record may expire then (plus a margin for clock skew).
/// Never below KV's 60-second minimum. Rewriting a record renews its expiration.
pub fn record_expiration_ttl(max_lifetime_secs: u64) -> u64 {
    max_lifetime_secs
        .saturating_add(RECORD_TTL_MARGIN_SECS)
        .max(KV_MIN_EXPIRATION_TTL_SECS)
}

/// Whether a copy of `record` held beside KV (by the purge ledger, to merge new purges with)
/// may be forgotten at `now_ms`: once its KV copy has expired too ([`record_expiration_ttl`]
/// counted from the record's time), no entry it could cover is left.
pub fn record_prunable(record: &PurgeRecord, now_ms: u64, max_lifetime_secs: u64) -> bool {
    let ttl_ms = record_expiration_ttl(max_lifetime_secs).saturating_mul(1000);
    now_ms > record.at_ms.saturating_add(ttl_ms)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn held_records_are_pruned_when_their_kv_copy_expires() {
        let r = PurgeRecord::hard(1_000_000);
        let ttl_ms = record_expiration_ttl(3_600) * 1000;
        assert!(!record_prunable(&r, 1_000_000, 3_600));
        assert!(!record_prunable(&r, 1_000_000 + ttl_ms, 3_600));
        assert!(record_prunable(&r, 1_000_001 + ttl_ms, 3_600));
        // KV's 60-second floor applies to tiny lifetimes too.
        assert!(!record_prunable(&r, 1_000_000 + 59_000, 0));
        assert!(!record_prunable(&r, u64::MAX, u64::MAX));
    }

    fn ok_url(u: &str) -> Result<String, String> {
        Ok(u.to_string())
    }

    #[test]
    fn prefix_normalisation() {
        assert_eq!(normalise_prefix("/blog/").unwrap(), "/blog");
        assert_eq!(normalise_prefix("/blog").unwrap(), "/blog");
        assert_eq!(normalise_prefix("/").unwrap(), "/");
        assert_eq!(normalise_prefix("/a//").unwrap(), "/a/");
        assert_eq!(normalise_prefix("/a/./b/../c/").unwrap(), "/a/c");
        assert_eq!(normalise_prefix("/café").unwrap(), "/caf%C3%A9");
        assert_eq!(
            normalise_prefix("https://Example.COM/Blog/").unwrap(),
            "example.com/Blog"
        );
        assert_eq!(
            normalise_prefix("http://example.com:8080/").unwrap(),
            "example.com:8080/"
        );
        assert_eq!(
            normalise_prefix("https://example.com:443/x").unwrap(),
            "example.com/x"
        );
        for bad in [
            "blog",
            "//evil.com/",
            "/\\evil.com/x",
            "/a?b",
            "/a#b",
            "ftp://x/",
            "mailto:x@y",
            "",
        ] {
            assert!(normalise_prefix(bad).is_err(), "{bad:?}");
        }
        let deep = "/a".repeat(MAX_PREFIX_DEPTH);
        assert!(normalise_prefix(&deep).is_ok());
        assert!(normalise_prefix(&format!("{deep}/")).is_ok());
        assert!(normalise_prefix(&format!("{deep}/b")).is_err());
    }

    #[test]
    fn candidates() {
        assert_eq!(prefix_candidates("/"), ["/"]);
        assert_eq!(prefix_candidates("/a"), ["/", "/a"]);
        assert_eq!(prefix_candidates("/a/"), ["/", "/a"]);
        assert_eq!(prefix_candidates("/a/b/c"), ["/", "/a", "/a/b", "/a/b/c"]);
        assert_eq!(prefix_candidates("/a//b"), ["/", "/a", "/a/", "/a//b"]);
        assert_eq!(prefix_candidates(""), ["/"]);
        assert_eq!(prefix_candidates("*"), ["/"]);
        let deep = "/s".repeat(100);
        let c = prefix_candidates(&deep);
        assert_eq!(c.len(), 1 + MAX_PREFIX_DEPTH);
        assert_eq!(c.last().unwrap().len(), 2 * MAX_PREFIX_DEPTH);
    }

    #[test]
    fn record_keys_forms() {
        let req = PurgeRequest {
            tags: vec!["a".into(), "a".into()],
            urls: vec!["https://ex.com/x?y".into()],
            prefixes: vec!["/blog/".into(), "https://Ex.com/shop".into()],
            everything: true,
            soft: false,
        };
        assert_eq!(
            record_keys(&req, ok_url).unwrap(),
            [
                "all",
                "tag:a",
                "url:https://ex.com/x?y",
                "prefix:/blog",
                "prefix:ex.com/shop",
                "prefix-gate"
            ]
        );
    }

    #[test]
    fn record_keys_errors_name_the_item() {
        let req = PurgeRequest {
            urls: vec!["/fine".into(), "/bad".into()],
            ..Default::default()
        };
        let e = record_keys(&req, |u| {
            if u == "/bad" {
                Err("cannot normalise".into())
            } else {
                Ok(u.into())
            }
        })
        .unwrap_err();
        assert_eq!(
            (e.status(), e.detail()),
            (422, "urls[1]: cannot normalise".into())
        );
        let e = record_keys(&PurgeRequest::default(), ok_url).unwrap_err();
        assert_eq!(e.status(), 422);
    }

    #[test]
    fn long_keys_are_hashed() {
        let long = "x".repeat(600);
        let k = url_key(&long);
        assert!(k.starts_with("url#") && k.len() == 4 + 64, "{k}");
        assert_eq!(k, url_key(&long));
        assert_ne!(k, url_key(&"x".repeat(601)));
        let short = "y".repeat(KV_KEY_MAX_BYTES - 4);
        assert_eq!(url_key(&short).len(), KV_KEY_MAX_BYTES);
    }

    #[test]
    fn expiration_ttl() {
        assert_eq!(record_expiration_ttl(0), 60);
        assert_eq!(record_expiration_ttl(3600), 3660);
        assert_eq!(record_expiration_ttl(u64::MAX), u64::MAX);
    }

    #[test]
    fn key_lists() {
        let tags = vec!["p1".to_string(), "".to_string(), "p1".to_string()];
        assert_eq!(
            base_keys_to_check(&tags, "k"),
            ["all", "url:k", "tag:p1", "prefix-gate"]
        );
        assert_eq!(
            prefix_keys_to_check("Ex.com", "/a/b"),
            [
                "prefix:/",
                "prefix:ex.com/",
                "prefix:/a",
                "prefix:ex.com/a",
                "prefix:/a/b",
                "prefix:ex.com/a/b"
            ]
        );
        assert_eq!(keys_to_check(&tags, "k", "", "/").len(), 5);
    }

    proptest! {
        #[test]
        fn a_normalised_prefix_is_found_from_every_path_under_it(
            segs in proptest::collection::vec("[a-z0-9%.]{0,4}", 0..6),
            extra in proptest::collection::vec("[a-z0-9]{1,4}", 0..4),
            trailing in any::<bool>(),
        ) {
            let mut prefix = format!("/{}", segs.join("/"));
            if trailing { prefix.push('/'); }
            let Ok(norm) = normalise_prefix(&prefix) else { return Ok(()); };
            // A request path under the prefix (already normalised: extra segments are plain).
            let base = if norm == "/" { "" } else { norm.as_str() };
            let path = format!("{base}/{}", extra.join("/"));
            let keys = prefix_keys_to_check("h", &path);
            prop_assert!(keys.contains(&prefix_key(None, &norm)), "{norm} not in {keys:?}");
        }

        #[test]
        fn normalise_prefix_never_panics_and_is_stable(p in "\\PC{0,40}") {
            // A normalised path prefix without a trailing slash normalises to itself.
            if let Ok(n) = normalise_prefix(&p) {
                if n.starts_with('/') && (n == "/" || !n.ends_with('/')) {
                    prop_assert_eq!(normalise_prefix(&n), Ok(n.clone()));
                }
            }
        }

        /// `check_entry` consults what `base_keys_to_check` and `prefix_keys_to_check` list
        /// (the KV path's batch), whatever the records, tags and key lengths.
        #[test]
        fn check_entry_agrees_with_the_listed_keys(
            tags in proptest::collection::vec("[a-c]{0,2}", 0..6),
            long_key in any::<bool>(),
            held in proptest::collection::vec((0usize..12, 0u64..40, any::<bool>()), 0..8),
            stored in 0u64..40,
        ) {
            let tags: Vec<String> = tags;
            let entry_key = if long_key { format!("https://h/{}", "x".repeat(600)) } else { "https://h/a/b".to_string() };
            let mut all = base_keys_to_check(&tags, &entry_key);
            all.extend(prefix_keys_to_check("h", "/a/b"));
            let mut records = std::collections::HashMap::new();
            for (i, at, soft) in held {
                if let Some(k) = all.get(i % all.len().max(1)) {
                    let r = if soft { PurgeRecord::soft(at) } else { PurgeRecord::hard(at) };
                    records.insert(k.clone(), r);
                }
            }
            let lookup = |k: &str| records.get(k).copied();
            let mut want = PurgeVerdict::Fresh;
            for k in base_keys_to_check(&tags, &entry_key).iter().filter(|k| *k != PREFIX_GATE_KEY) {
                if let Some(r) = lookup(k) { want = want.strongest(r.verdict_for(stored)); }
            }
            if prefix_gate_open(stored, lookup(PREFIX_GATE_KEY)) {
                for k in prefix_keys_to_check("h", "/a/b") {
                    if let Some(r) = lookup(&k) { want = want.strongest(r.verdict_for(stored)); }
                }
            }
            prop_assert_eq!(check_entry(stored, &tags, &entry_key, "h", "/a/b", lookup), want);
        }

        #[test]
        fn candidates_never_panic(p in "\\PC{0,80}") {
            let c = prefix_candidates(&p);
            prop_assert!(c.len() <= MAX_PREFIX_DEPTH + 2);
        }
    }
}
