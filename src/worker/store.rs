//! The edge cache: `caches.default` holding responses with their [`EntryMeta`].
//!
//! The Cache API keeps an entry only as long as its own `Cache-Control` says and refuses
//! `Set-Cookie`, `private`, `no-store`, 206 and `Vary: *`; it knows nothing of stale windows.
//! So the stored copy carries `Cache-Control: public, s-maxage=<fresh + longest stale window>`,
//! no `Vary` (variants are matched by edgecache on the captured request headers), and the
//! metadata in [`META_HEADER`]; the origin's own `Cache-Control` lives in the metadata.

use super::conv::{fixed, to_map};
use crate::meta::{EntryMeta, META_HEADER};
use http::{HeaderMap, HeaderValue};
use std::cell::RefCell;
use worker::{Cache, ResponseBody, Result};

/// A stored entry.
pub struct Entry {
    /// Its metadata.
    pub meta: EntryMeta,
    /// Stored status.
    pub status: u16,
    /// Stored headers as the origin sent them (metadata removed; original Cache-Control and
    /// Vary restored).
    pub headers: HeaderMap,
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
}

/// Looks up `key`; `Ok(None)` when absent, `Err` on unreadable metadata is folded into `None`.
pub async fn lookup(cache: &Cache, key: &str) -> Result<Option<Entry>> {
    let Some(resp) = cache.get(key, true).await? else {
        return Ok(None);
    };
    let mut headers = to_map(resp.headers());
    let Some(meta) = headers
        .get(META_HEADER)
        .and_then(|v| v.to_str().ok())
        .and_then(EntryMeta::decode)
    else {
        return Ok(None);
    };
    headers.remove(META_HEADER);
    headers.remove(http::header::CACHE_CONTROL);
    if let Some(cc) = meta
        .origin_cc
        .as_deref()
        .and_then(|v| HeaderValue::from_str(v).ok())
    {
        headers.insert(http::header::CACHE_CONTROL, cc);
    }
    headers.remove(http::header::VARY);
    if !meta.vary.is_empty() {
        let names: Vec<&str> = meta.vary.iter().map(|(n, _)| n.as_str()).collect();
        if let Ok(v) = HeaderValue::from_str(&names.join(", ")) {
            headers.insert(http::header::VARY, v);
        }
    }
    // cf-cache-status and friends added by the Cache API are not ours to forward.
    headers.remove("cf-cache-status");
    let status = resp.status_code();
    let (_, body) = resp.into_parts();
    Ok(Some(Entry {
        meta,
        status,
        headers,
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
