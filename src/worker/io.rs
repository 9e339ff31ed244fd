//! The few runtime calls the executor makes, each in one place and each fallible: the Cache API
//! (`caches.default`), origin `fetch` with a head timeout, response construction, and the body
//! stream guard (gap timeout, length check, store size limit; in `guard.js`).

use super::conv::now_ms;
use super::task;
use crate::lifecycle::{OriginFailure, OriginHead, OriginRequest};
use http::{HeaderMap, HeaderName, HeaderValue};
use js_sys::{Promise, Uint8Array};
use wasm_bindgen::prelude::wasm_bindgen;
use wasm_bindgen::{JsCast, JsValue};
use web_sys::{Headers, ReadableStream, Response, ResponseInit};

pub use super::rt::js_err;

type R<T> = Result<T, String>;

pub fn global_fetch(req: &web_sys::Request) -> Promise {
    let g: web_sys::WorkerGlobalScope = js_sys::global().unchecked_into();
    g.fetch_with_request(req)
}

thread_local! {
    /// `caches.default` and the `{ ignoreMethod: true }` options, looked up once per isolate
    /// (three runtime calls fewer per lookup).
    static CACHE: std::cell::OnceCell<(web_sys::Cache, web_sys::CacheQueryOptions)> =
        const { std::cell::OnceCell::new() };
}

/// `caches.default` and the options every match and delete passes.
fn cache_and_opts() -> R<(web_sys::Cache, web_sys::CacheQueryOptions)> {
    if let Some(c) = CACHE.with(|c| c.get().cloned()) {
        return Ok(c);
    }
    let g: web_sys::WorkerGlobalScope = js_sys::global().unchecked_into();
    let storage = g.caches().map_err(|e| js_err(&e))?;
    let default =
        js_sys::Reflect::get(&storage, &JsValue::from_str("default")).map_err(|e| js_err(&e))?;
    if default.is_undefined() {
        return Err("caches.default: absent".to_string());
    }
    let opts = web_sys::CacheQueryOptions::new();
    opts.set_ignore_method(true);
    let both = (default.unchecked_into(), opts);
    CACHE.with(|c| {
        let _ = c.set(both.clone());
    });
    Ok(both)
}

/// `caches.default`.
pub fn cache() -> R<web_sys::Cache> {
    cache_and_opts().map(|(c, _)| c)
}

/// `cache.match(key)`, ignoring the method.
pub async fn cache_match(key: &str) -> R<Option<Response>> {
    let (c, opts) = cache_and_opts()?;
    let v = task::wait(&c.match_with_str_and_options(key, &opts))
        .await
        .map_err(|e| js_err(&e))?;
    if v.is_undefined() || v.is_null() {
        return Ok(None);
    }
    v.dyn_into::<Response>().map(Some).map_err(|e| js_err(&e))
}

/// `cache.put(key, response)`.
pub async fn cache_put(key: &str, resp: &Response) -> R<()> {
    let c = cache()?;
    task::wait(&c.put_with_str(key, resp))
        .await
        .map(|_| ())
        .map_err(|e| js_err(&e))
}

/// `cache.delete(key)`, ignoring the method.
pub async fn cache_delete(key: &str) -> R<()> {
    let (c, opts) = cache_and_opts()?;
    task::wait(&c.delete_with_str_and_options(key, &opts))
        .await
        .map(|_| ())
        .map_err(|e| js_err(&e))
}

thread_local! {
    static NAMES: std::cell::RefCell<crate::memo::TextMemo<HeaderName>> =
        std::cell::RefCell::new(crate::memo::TextMemo::default());
}

/// A field name from the runtime, through the isolate's memo (see `crate::memo`): the same few
/// names arrive on every request.
fn field_name(text: &str) -> Option<HeaderName> {
    NAMES.with(|m| {
        m.borrow_mut()
            .get_or_parse(text, |t| HeaderName::from_bytes(t.as_bytes()).ok())
    })
}

/// Header fields as `http` types. A field the `http` crate refuses (a name that is not a token)
/// is skipped and counted in `dropped`.
pub fn fields_of(h: &Headers, dropped: &mut u64) -> HeaderMap {
    let all = all_field_bytes(h);
    let text = text_of(&all);
    // One allocation for the map, not one per growth.
    let mut m = HeaderMap::with_capacity(text.bytes().filter(|&b| b == b'\n').count() + 1);
    for (k, v) in pairs(text) {
        match (field_name(k), field_value(&all, v)) {
            (Some(k), Ok(v)) => {
                m.append(k, v);
            }
            _ => *dropped = dropped.saturating_add(1),
        }
    }
    m
}

/// Every field of `h` in one string, in one runtime call whatever their number (`allFields` in
/// fields.js): one `name,value` line per field (the runtime's iteration: names lower-case,
/// repeated fields combined, Set-Cookie one line each). Iterating the headers from Rust instead
/// costs seven calls per field; `Array.from(h).join("\n")`, used before, cost two calls and
/// a `toString` of every pair (a CPU profile of a hit under load: 10.7 % of the isolate's time
/// in it).
///
/// As one shared buffer: the values [`field_value`] makes of it are slices of it, not copies (a
/// hit reads a dozen).
pub fn all_field_bytes(h: &Headers) -> bytes::Bytes {
    bytes::Bytes::from(all_fields_js(h))
}

/// The text of a buffer from [`all_field_bytes`] (always UTF-8: it was a string).
pub fn text_of(all: &bytes::Bytes) -> &str {
    std::str::from_utf8(all).unwrap_or("")
}

/// A field value from the runtime, `v` a slice of `text_of(all)`: ASCII (the usual case) is its
/// own byte string and shares `all`'s buffer; anything else is a ByteString, one byte a char.
pub fn field_value(
    all: &bytes::Bytes,
    v: &str,
) -> Result<HeaderValue, http::header::InvalidHeaderValue> {
    if v.is_ascii() {
        // Where `v` lies in `all`; a `v` from elsewhere is copied (never a panic).
        let at = (v.as_ptr() as usize)
            .checked_sub(all.as_ptr() as usize)
            .filter(|at| at.checked_add(v.len()).is_some_and(|end| end <= all.len()));
        match at {
            Some(at) => HeaderValue::from_maybe_shared(all.slice(at..at + v.len())),
            None => HeaderValue::from_str(v),
        }
    } else {
        HeaderValue::from_bytes(latin1(v).as_slice())
    }
}

#[wasm_bindgen(module = "/src/worker/fields.js")]
extern "C" {
    /// See `allFields` in fields.js.
    #[wasm_bindgen(js_name = allFields)]
    fn all_fields_js(h: &Headers) -> String;
}

/// The `(name, value)` pairs of [`all_field_bytes`]' text. Unambiguous: a field name is a token
/// (RFC 9110 §5.1: no comma) and a value never holds a line feed (the runtime refuses CR, LF and
/// NUL in values, RFC 9110 §5.5), so each line splits at its first comma.
pub fn pairs(all: &str) -> impl Iterator<Item = (&str, &str)> {
    all.split('\n').filter_map(|l| l.split_once(','))
}

/// The bytes of a header value the runtime gives as a string (a ByteString: each char one byte).
fn latin1(s: &str) -> Vec<u8> {
    s.chars()
        .map(|c| u8::try_from(u32::from(c)).unwrap_or(b'?'))
        .collect()
}

/// One header's value as the runtime holds it.
pub fn get_field(h: &Headers, name: &str) -> Option<String> {
    h.get(name).ok().flatten()
}

/// Fresh runtime headers from `http` fields. A value the runtime refuses is dropped and counted.
pub fn js_fields(m: &HeaderMap, dropped: &mut u64) -> R<Headers> {
    let h = Headers::new().map_err(|e| js_err(&e))?;
    append_fields(&h, m, dropped);
    Ok(h)
}

/// Appends `http` fields to runtime headers. A value the runtime refuses is dropped and counted.
pub fn append_fields(h: &Headers, m: &HeaderMap, dropped: &mut u64) {
    for (k, v) in m {
        let ok = h.append(k.as_str(), &byte_string(v));
        if ok.is_err() {
            *dropped = dropped.saturating_add(1);
        }
    }
}

/// A response body as the runtime takes it.
pub enum JsBody {
    /// None.
    Empty,
    /// Bytes.
    Bytes(Vec<u8>),
    /// A stream.
    Stream(ReadableStream),
}

/// A value as the runtime takes it: a ByteString, each char one byte. ASCII, the usual case, is
/// borrowed as it is.
fn byte_string(v: &HeaderValue) -> std::borrow::Cow<'_, str> {
    match v.to_str() {
        Ok(t) => t.into(),
        Err(_) => v
            .as_bytes()
            .iter()
            .map(|&b| char::from(b))
            .collect::<String>()
            .into(),
    }
}

/// A response of a stored entry's fields in one runtime call (`storedResponse` in fields.js): a
/// copy of `base` without the fields named in `drop`, with the fields of `add` appended. On a hit
/// this replaces a dozen calls (a `Headers` copy, a delete and an append per field, the init
/// object, the response) and the strings each of them took across. An error when the runtime
/// refuses any part (the caller then builds it field by field, dropping what is refused).
pub fn stored_response(
    base: &Headers,
    status: u16,
    body: JsBody,
    drop: &[HeaderName],
    add: &HeaderMap,
) -> R<Response> {
    let mut names = String::new();
    for n in drop {
        if !names.is_empty() {
            names.push('\n');
        }
        names.push_str(n.as_str());
    }
    let mut lines = String::new();
    for (k, v) in add {
        if !lines.is_empty() {
            lines.push('\n');
        }
        lines.push_str(k.as_str());
        lines.push(',');
        lines.push_str(&byte_string(v));
    }
    let body = match body {
        JsBody::Empty => JsValue::NULL,
        JsBody::Bytes(b) => Uint8Array::from(b.as_slice()).into(),
        JsBody::Stream(s) => s.into(),
    };
    stored_response_js(base, status, &body, &names, &lines).map_err(|e| js_err(&e))
}

#[wasm_bindgen(module = "/src/worker/fields.js")]
extern "C" {
    /// See `storedResponse` in fields.js.
    #[wasm_bindgen(js_name = storedResponse, catch)]
    fn stored_response_js(
        base: &Headers,
        status: u16,
        body: &JsValue,
        drop: &str,
        add: &str,
    ) -> Result<Response, JsValue>;
}

/// Builds a response; every step that the runtime may refuse returns an error instead of
/// panicking (`worker`'s own conversion unwraps).
pub fn response(status: u16, headers: &Headers, body: JsBody) -> R<Response> {
    let init = ResponseInit::new();
    init.set_status(status);
    init.set_headers(headers.as_ref());
    let r = match body {
        JsBody::Empty => Response::new_with_opt_str_and_init(None, &init),
        JsBody::Bytes(mut b) => Response::new_with_opt_u8_array_and_init(Some(&mut b), &init),
        JsBody::Stream(s) => Response::new_with_opt_readable_stream_and_init(Some(&s), &init),
    };
    r.map_err(|e| js_err(&e))
}

/// Sends an origin request; gives up when no head arrives within its timeout. `body`: the
/// client's request body stream (pass-through), never copied.
pub async fn fetch(
    req: &OriginRequest,
    body: Option<ReadableStream>,
    dropped: &mut u64,
) -> Result<(OriginHead, Response), OriginFailure> {
    let request_ms = now_ms();
    let init = web_sys::RequestInit::new();
    init.set_method(&req.method);
    let headers = js_fields(&req.headers, dropped).map_err(|_| OriginFailure::Unreachable)?;
    init.set_headers(headers.as_ref());
    if let Some(b) = &body {
        init.set_body(b.as_ref());
    }
    init.set_redirect(web_sys::RequestRedirect::Manual);
    if let Some(host) = &req.resolve_override {
        // cf.resolveOverride: connect to `host`; the URL and Host stay the site's.
        let cf = js_sys::Object::new();
        js_sys::Reflect::set(&cf, &"resolveOverride".into(), &host.into())
            .and_then(|_| js_sys::Reflect::set(&init, &"cf".into(), &cf))
            .map_err(|_| OriginFailure::Unreachable)?;
    }
    let request =
        web_sys::Request::new_with_str_and_init(req.url.as_str(), &init).map_err(|e| {
            console_error!("edgecache: origin request refused: {}", js_err(&e));
            OriginFailure::Unreachable
        })?;
    let resp = match task::within(req.timeout_ms, task::wait(&global_fetch(&request))).await {
        Some(Ok(v)) => v
            .dyn_into::<Response>()
            .map_err(|_| OriginFailure::Unreachable)?,
        Some(Err(e)) => {
            console_error!("edgecache: origin unreachable: {}", js_err(&e));
            return Err(OriginFailure::Unreachable);
        }
        None => return Err(OriginFailure::Timeout),
    };
    let head = OriginHead {
        status: resp.status(),
        headers: fields_of(&resp.headers(), dropped),
        request_ms,
        response_ms: now_ms(),
    };
    Ok((head, resp))
}

#[wasm_bindgen(module = "/src/worker/guard.js")]
extern "C" {
    /// See `splitBody` in guard.js.
    #[wasm_bindgen(js_name = splitBody, catch)]
    #[allow(
        clippy::too_many_arguments,
        reason = "the JavaScript function's own arguments"
    )]
    fn split_body(
        body: &ReadableStream,
        gap_ms: Option<f64>,
        expect: Option<f64>,
        limit: Option<f64>,
        flag: &js_sys::Object,
        want_client: bool,
        want_store: bool,
    ) -> Result<js_sys::Object, JsValue>;

    /// See `segments` in guard.js.
    #[wasm_bindgen(js_name = segments)]
    fn segments_js(body: &ReadableStream, segs: &js_sys::Array) -> ReadableStream;
}

/// Set by [`split`] when the body it passed on to the store failed (cut, stalled, too large).
#[derive(Clone)]
pub struct Flag(js_sys::Object);

impl Flag {
    /// A flag not set.
    pub fn new() -> Self {
        Self(js_sys::Object::new())
    }

    /// Whether the stored copy's body failed.
    pub fn get(&self) -> bool {
        js_sys::Reflect::get(&self.0, &JsValue::from_str("failed")).is_ok_and(|v| v.is_truthy())
    }

    /// The store is over (its put settled, or never began): its copy stops being fed, so the
    /// client's copy does not wait for it.
    pub fn release(&self) {
        let f = js_sys::Reflect::get(&self.0, &JsValue::from_str("release"))
            .ok()
            .and_then(|f| f.dyn_into::<js_sys::Function>().ok());
        if let Some(f) = f {
            let _ = f.call0(&self.0);
        }
    }
}

#[allow(
    clippy::cast_precision_loss,
    reason = "lengths and timeouts stay far below 2^53"
)]
fn num(n: Option<u64>) -> Option<f64> {
    n.map(|n| n as f64)
}

/// The checks [`split`] makes on a body (each `None`: not checked).
#[derive(Clone, Copy, Default)]
pub struct Checks {
    /// The longest wait for the next chunk: a stalled body is cut, never a complete-looking one.
    pub gap_ms: Option<u64>,
    /// The announced length: a body that ends short fails.
    pub expect: Option<u64>,
    /// The store's size limit: past it the stored copy is ended and flagged (the client's copy
    /// goes on).
    pub limit: Option<u64>,
}

/// A body split by [`split`].
pub struct Split {
    /// The client's copy: errors on a failure (the client sees the connection closed early).
    pub client: Option<ReadableStream>,
    /// The stored copy: on a failure it ends cleanly and sets the flag.
    pub store: Option<ReadableStream>,
}

/// Splits a body into the client's copy and the stored copy (each only if wanted), fed in step
/// from one reader, with `checks` made as the chunks pass, in JavaScript (`src/worker/guard.js`):
/// no chunk is copied into, or pumped through, the wasm, and neither copy runs ahead of the
/// other (memory stays at a chunk or two per body, whatever its size). Why the stored copy ends
/// instead of erroring: an errored body can leave `cache.put` pending for good (and the local
/// cache blocked behind it); a cleanly ended one settles, and whoever stored it deletes the copy
/// `flag` says is not whole.
pub fn split(
    body: &ReadableStream,
    checks: Checks,
    flag: &Flag,
    want_client: bool,
    want_store: bool,
) -> R<Split> {
    let o = split_body(
        body,
        num(checks.gap_ms),
        num(checks.expect),
        num(checks.limit),
        &flag.0,
        want_client,
        want_store,
    )
    .map_err(|e| js_err(&e))?;
    let get = |k: &str| -> Option<ReadableStream> {
        js_sys::Reflect::get(&o, &JsValue::from_str(k))
            .ok()
            .and_then(|v| v.dyn_into().ok())
    };
    Ok(Split {
        client: get("client"),
        store: get("store"),
    })
}

/// A body made of `segs` (a `multipart/byteranges` answer, RFC 9110 §14.6): fixed bytes as
/// they are, ranges read from `body` in one pass (they come in ascending order). A stored body
/// that ends before a range does errors the stream (the client sees a cut, never a short part).
pub fn segments(body: ReadableStream, segs: Vec<crate::range::Segment>) -> ReadableStream {
    use crate::range::Segment;
    let spec = js_sys::Array::new();
    for seg in segs {
        match seg {
            Segment::Bytes(b) => spec.push(&Uint8Array::from(b.as_slice())),
            #[allow(clippy::cast_precision_loss, reason = "offsets stay far below 2^53")]
            Segment::Range { start, end } => spec.push(&js_sys::Array::of2(
                &JsValue::from_f64(start as f64),
                &JsValue::from_f64(end as f64),
            )),
        };
    }
    segments_js(&body, &spec)
}

/// The stream through the runtime's `FixedLengthStream(len)`: the response then carries
/// `Content-Length: len`, and a body that ends short errors there, so the client sees the
/// connection closed before Content-Length (RFC 9112 §8) and a store of it fails, instead of a
/// complete-looking short body. `None` where the runtime has no `FixedLengthStream`.
pub fn fixed_length(body: &ReadableStream, len: u64) -> Option<ReadableStream> {
    let g = js_sys::global();
    let ctor: js_sys::Function = js_sys::Reflect::get(&g, &JsValue::from_str("FixedLengthStream"))
        .ok()?
        .dyn_into()
        .ok()?;
    #[allow(clippy::cast_precision_loss, reason = "lengths stay far below 2^53")]
    let args = js_sys::Array::of1(&JsValue::from_f64(len as f64));
    let ts = js_sys::Reflect::construct(&ctor, &args).ok()?;
    let writable: web_sys::WritableStream =
        js_sys::Reflect::get(&ts, &JsValue::from_str("writable"))
            .ok()?
            .dyn_into()
            .ok()?;
    let readable: ReadableStream = js_sys::Reflect::get(&ts, &JsValue::from_str("readable"))
        .ok()?
        .dyn_into()
        .ok()?;
    let piping = body.pipe_to(&writable);
    // The pipe's own outcome is seen by the readers; a rejection here is not an error of ours.
    // Its settlement is still taken (an unhandled rejection would be logged): nobody awaits it,
    // so its slot is freed when it settles.
    drop(task::wait(&piping));
    Some(readable)
}
