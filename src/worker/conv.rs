//! Conversions between `worker` types and the core's `http` types.

use http::{HeaderMap, HeaderValue};
use worker::{Headers, Response, ResponseBuilder, Result};

/// Copies a `HeaderMap` into fresh (mutable) `worker` headers.
pub fn to_headers(m: &HeaderMap) -> Result<Headers> {
    let h = Headers::new();
    for (k, v) in m {
        if let Ok(v) = v.to_str() {
            h.append(k.as_str(), v)?;
        }
    }
    Ok(h)
}

/// A response with a fixed body.
pub fn fixed(status: u16, headers: &HeaderMap, body: Vec<u8>) -> Result<Response> {
    Ok(ResponseBuilder::new()
        .with_status(status)
        .with_headers(to_headers(headers)?)
        .fixed(body))
}

/// A small JSON response.
pub fn json(status: u16, body: &str) -> Result<Response> {
    let mut h = HeaderMap::new();
    h.insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    h.insert(
        http::header::CACHE_CONTROL,
        HeaderValue::from_static("no-store"),
    );
    fixed(status, &h, body.as_bytes().to_vec())
}

/// A request built on `web_sys` directly: `worker::RequestInit` converts its Cloudflare `cf`
/// properties through serde-wasm-bindgen on every call (~13 KB of wasm for options never used
/// here). `manual_redirect`: a 3xx comes back as is (the origin fetch), not followed.
pub fn request(
    url: &str,
    method: &str,
    headers: Option<&Headers>,
    body: Option<wasm_bindgen::JsValue>,
    manual_redirect: bool,
) -> Result<worker::Request> {
    let init = web_sys::RequestInit::new();
    init.set_method(method);
    if let Some(h) = headers {
        init.set_headers(h.as_ref());
    }
    if let Some(b) = &body {
        init.set_body(b);
    }
    if manual_redirect {
        init.set_redirect(web_sys::RequestRedirect::Manual);
    }
    Ok(web_sys::Request::new_with_str_and_init(url, &init)?.into())
}

/// Milliseconds since the epoch, from the runtime's clock.
pub fn now_ms() -> u64 {
    js_sys::Date::now() as u64
}

/// A uniform random number in `[0, 1)`.
pub fn rand01() -> f64 {
    js_sys::Math::random()
}
