//! Small runtime conversions: edgecache's own responses (admin API, Durable Objects), request
//! bodies, the clock and randomness. Every runtime call is fallible.

use super::rt::{Error, Result};
use wasm_bindgen::JsCast;
use web_sys::{Headers, Request, Response, ResponseInit};

/// A response with a fixed body and the given header fields.
pub fn fixed(status: u16, headers: &[(&str, &str)], mut body: Vec<u8>) -> Result<Response> {
    let h = Headers::new()?;
    for (k, v) in headers {
        h.set(k, v)?;
    }
    let init = ResponseInit::new();
    init.set_status(status);
    init.set_headers(&h);
    Ok(Response::new_with_opt_u8_array_and_init(
        Some(&mut body),
        &init,
    )?)
}

/// A small JSON response, never stored.
pub fn json(status: u16, body: &str) -> Result<Response> {
    fixed(
        status,
        &[
            ("content-type", "application/json"),
            ("cache-control", "no-store"),
        ],
        body.as_bytes().to_vec(),
    )
}

/// A plain-text response.
pub fn text(status: u16, body: &str) -> Result<Response> {
    fixed(
        status,
        &[("content-type", "text/plain;charset=UTF-8")],
        body.as_bytes().to_vec(),
    )
}

/// `AbortSignal.timeout(ms)`: a signal the runtime aborts after `ms` milliseconds (a fetch
/// given it rejects with a `TimeoutError`).
pub fn timeout_signal(
    ms: u64,
) -> std::result::Result<wasm_bindgen::JsValue, wasm_bindgen::JsValue> {
    use wasm_bindgen::{JsCast, JsValue};
    let abort = js_sys::Reflect::get(&js_sys::global(), &"AbortSignal".into())?;
    let timeout: js_sys::Function = js_sys::Reflect::get(&abort, &"timeout".into())?.dyn_into()?;
    #[allow(clippy::cast_precision_loss, reason = "timeouts stay far below 2^53")]
    timeout.call1(&abort, &JsValue::from_f64(ms as f64))
}

/// A GET of `url` that is cut after `ms` milliseconds (see [`timeout_signal`]).
pub fn get_within(url: &str, ms: u64) -> Result<Request> {
    request_within(url, "GET", None, ms)
}

/// A request with an optional string body, cut after `ms` milliseconds (see
/// [`timeout_signal`]): the call and the reading of its answer's body.
pub fn request_within(url: &str, method: &str, body: Option<&str>, ms: u64) -> Result<Request> {
    let init = web_sys::RequestInit::new();
    init.set_method(method);
    if let Some(b) = body {
        init.set_body(&b.into());
    }
    js_sys::Reflect::set(&init, &"signal".into(), &timeout_signal(ms)?)?;
    Ok(Request::new_with_str_and_init(url, &init)?)
}

/// A request's or response's body as text.
pub async fn body_text(
    p: std::result::Result<js_sys::Promise, wasm_bindgen::JsValue>,
) -> Result<String> {
    super::task::wait(&p?)
        .await?
        .as_string()
        .ok_or_else(|| Error("body: not text".into()))
}

/// A request's body as bytes.
pub async fn body_bytes(req: &Request) -> Result<Vec<u8>> {
    let buf = super::task::wait(&req.array_buffer()?).await?;
    let buf: js_sys::ArrayBuffer = buf.dyn_into()?;
    Ok(js_sys::Uint8Array::new(&buf).to_vec())
}

/// A request's URL path.
pub fn path(req: &Request) -> String {
    url::Url::parse(&req.url())
        .map(|u| u.path().to_string())
        .unwrap_or_default()
}

/// Milliseconds since the epoch, from the runtime's clock.
pub fn now_ms() -> u64 {
    js_sys::Date::now() as u64
}

/// A uniform random number in `[0, 1)`.
pub fn rand01() -> f64 {
    js_sys::Math::random()
}
