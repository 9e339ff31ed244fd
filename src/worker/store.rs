//! The edge cache: `caches.default` holding responses with their [`EntryMeta`].
//!
//! The Cache API keeps an entry only as long as its own `Cache-Control` says and refuses
//! `Set-Cookie`, `private`, `no-store`, 206 and `Vary: *`; it knows nothing of stale windows.
//! So the stored copy carries `Cache-Control: public, s-maxage=<fresh + longest stale window>`,
//! no `Vary` (variants are matched by edgecache on the captured request headers), and the
//! metadata in [`META_HEADER`]; the origin's own `Cache-Control` lives in the metadata.

use super::conv::{fixed, to_map};
use crate::meta::{EntryMeta, META_HEADER};
use http::{HeaderMap, HeaderName, HeaderValue};
use std::cell::RefCell;
use worker::{Cache, Headers, ResponseBody, Result};

/// A stored entry.
pub struct Entry {
    /// Its metadata.
    pub meta: EntryMeta,
    /// Stored status.
    pub status: u16,
    /// The stored headers, still the runtime's object: a hit copies it in one call and edits
    /// only the few fields edgecache changes, instead of converting every header both ways.
    js: Headers,
    /// The body, still a stream inside the runtime (never copied through wasm on a hit);
    /// taken once, by whoever serves or re-stores it.
    body: RefCell<Option<ResponseBody>>,
}

impl Entry {
    /// Takes the body stream (`None` if already taken).
    pub fn take_body(&self) -> Option<ResponseBody> {
        self.body.borrow_mut().take()
    }

    /// The body's bytes: the stream if still here, else read again from the cache.
    pub async fn body_bytes(&self, cache: &Cache) -> Option<Vec<u8>> {
        if let Some(b) = self.take_body() {
            let mut r = worker::ResponseBuilder::new().body(b);
            return r.bytes().await.ok();
        }
        let mut resp = cache.get(self.meta.key.as_str(), true).await.ok()??;
        resp.bytes().await.ok()
    }

    /// All stored headers as the origin sent them (metadata removed, the origin's
    /// Cache-Control and Vary restored). Converts every header: for revalidation, not hits.
    pub fn headers(&self) -> HeaderMap {
        let mut h = to_map(&self.js);
        for name in STORAGE_ONLY {
            h.remove(name);
        }
        self.restore(&mut h);
        h
    }

    /// One stored header's value as the origin sent it (repeated lines joined with ", "); for a
    /// header the core only reads. `None` when absent.
    pub fn header(&self, name: &str) -> Option<String> {
        if STORAGE_ONLY.contains(&name) {
            return None;
        }
        self.js.get(name).ok().flatten()
    }

    /// Only the named headers, as [`Entry::headers`] would give them (one runtime call each).
    pub fn subset(&self, names: &[HeaderName]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for n in names {
            if STORAGE_ONLY.contains(&n.as_str()) {
                continue;
            }
            // `get` joins repeated lines with ", " (workerd's Headers has no general getAll).
            if let Some(v) = self.js.get(n.as_str()).ok().flatten() {
                if let Ok(v) = HeaderValue::from_str(&v) {
                    h.append(n.clone(), v);
                }
            }
        }
        self.restore(&mut h);
        h.retain_names(names);
        h
    }

    /// The response for a client: the stored headers with `names` replaced by their values
    /// in `wanted` (absent there = removed), and the storage-only fields dropped.
    pub fn client_response(
        &self,
        status: u16,
        names: &[HeaderName],
        wanted: &HeaderMap,
        body: Option<ResponseBody>,
    ) -> Result<worker::Response> {
        let out = self.js.clone();
        for n in STORAGE_ONLY {
            out.delete(n)?;
        }
        for n in names {
            out.delete(n.as_str())?;
            for v in wanted.get_all(n) {
                if let Ok(v) = v.to_str() {
                    out.append(n.as_str(), v)?;
                }
            }
        }
        let b = worker::ResponseBuilder::new()
            .with_status(status)
            .with_headers(out);
        Ok(match body {
            Some(body) => b.body(body),
            None => b.empty(),
        })
    }

    fn restore(&self, h: &mut HeaderMap) {
        h.remove(http::header::CACHE_CONTROL);
        if let Some(cc) = self
            .meta
            .origin_cc
            .as_deref()
            .and_then(|v| HeaderValue::from_str(v).ok())
        {
            h.insert(http::header::CACHE_CONTROL, cc);
        }
        h.remove(http::header::VARY);
        if !self.meta.vary.is_empty() {
            let names: Vec<&str> = self.meta.vary.iter().map(|(n, _)| n.as_str()).collect();
            if let Ok(v) = HeaderValue::from_str(&names.join(", ")) {
                h.insert(http::header::VARY, v);
            }
        }
    }
}

/// Fields only the stored copy has: our metadata, the edge's own Cache-Control is replaced by
/// the origin's (see `restore`), and what the Cache API adds.
const STORAGE_ONLY: [&str; 2] = [META_HEADER, "cf-cache-status"];

/// Keeps only the given names.
trait RetainNames {
    fn retain_names(&mut self, names: &[HeaderName]);
}

impl RetainNames for HeaderMap {
    fn retain_names(&mut self, names: &[HeaderName]) {
        let drop: Vec<HeaderName> = self
            .keys()
            .filter(|k| !names.contains(k))
            .cloned()
            .collect();
        for k in drop {
            self.remove(k);
        }
    }
}

/// Looks up `key`; `Ok(None)` when absent or when its metadata is unreadable (a miss).
pub async fn lookup(cache: &Cache, key: &str) -> Result<Option<Entry>> {
    let Some(resp) = cache.get(key, true).await? else {
        return Ok(None);
    };
    let Some(meta) = resp
        .headers()
        .get(META_HEADER)
        .ok()
        .flatten()
        .as_deref()
        .and_then(EntryMeta::decode)
    else {
        return Ok(None);
    };
    let status = resp.status_code();
    let js = resp.headers().clone();
    let (_, body) = resp.into_parts();
    Ok(Some(Entry {
        meta,
        status,
        js,
        body: RefCell::new(Some(body)),
    }))
}

/// Writes an entry, kept by the Cache API for `keep_secs`.
pub async fn put(
    cache: &Cache,
    key: &str,
    status: u16,
    headers: &HeaderMap,
    meta: &EntryMeta,
    body: Vec<u8>,
    keep_secs: u64,
) -> Result<()> {
    let mut h = headers.clone();
    h.remove(http::header::SET_COOKIE);
    h.remove(http::header::VARY);
    h.remove(http::header::AGE);
    h.remove(http::header::EXPIRES);
    h.remove(http::header::PRAGMA);
    h.remove("cdn-cache-control");
    h.remove("cloudflare-cdn-cache-control");
    h.remove("cache-status");
    h.insert(
        http::header::CACHE_CONTROL,
        HeaderValue::from_str(&format!("public, s-maxage={keep_secs}"))
            .map_err(|e| worker::Error::RustError(e.to_string()))?,
    );
    // What the zone purge API matches on: the URL's tag and the entry's tags (purge::zone).
    if let Ok(v) = HeaderValue::from_str(&crate::purge::zone::stored_cache_tag(&meta.tags, key)) {
        h.insert("cache-tag", v);
    }
    h.insert(
        META_HEADER,
        HeaderValue::from_str(&meta.encode())
            .map_err(|e| worker::Error::RustError(e.to_string()))?,
    );
    h.remove(http::header::CONTENT_LENGTH);
    let resp = fixed(status, &h, body)?;
    cache.put(key, resp).await
}

/// Removes `key` from this location's cache.
pub async fn delete(cache: &Cache, key: &str) -> Result<()> {
    cache.delete(key, true).await.map(|_| ())
}
