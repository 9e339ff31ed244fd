//! Fetching from the origin: timeouts, no redirect following, buffered bodies for the cache path.

use super::conv::{to_headers, to_map};
use http::HeaderMap;
use worker::{Delay, Fetch, Method, Request, Response, Result};

/// Why the origin gave no usable answer.
#[derive(Debug, Clone)]
pub enum OriginError {
    /// Connection refused, reset, DNS, TLS...
    Unreachable(String),
    /// No answer within the rule's `origin_timeout`.
    Timeout,
}

impl OriginError {
    /// Cache-Status detail.
    pub fn as_str(&self) -> &'static str {
        match self {
            OriginError::Unreachable(_) => "origin-unreachable",
            OriginError::Timeout => "origin-timeout",
        }
    }
}

/// A buffered origin response.
#[derive(Debug, Clone)]
pub struct Fetched {
    /// Status code.
    pub status: u16,
    /// Headers.
    pub headers: HeaderMap,
    /// Body bytes (empty when `stream` holds the body).
    pub body: Vec<u8>,
    /// The body left streaming: it was larger than the caller's limit (never stored).
    pub stream: Option<worker::ResponseBody>,
    /// When the request was sent (ms).
    pub request_ms: u64,
    /// When the response (with its body) arrived (ms).
    pub response_ms: u64,
}

/// The origin URL for a client URL under the origin mode (the core decides: same-zone, a
/// remote origin, or the site's URL with a DNS override; see `crate::origin`).
pub fn origin_url(mode: &crate::origin::OriginMode, client: &url::Url) -> url::Url {
    crate::origin::origin_target(mode, client).url
}

fn request(
    url: &url::Url,
    method: Method,
    headers: &HeaderMap,
    body: Option<Vec<u8>>,
) -> Result<Request> {
    let body = body
        .filter(|b| !b.is_empty())
        .map(|b| js_sys::Uint8Array::from(b.as_slice()).into());
    let h = to_headers(headers)?;
    // The origin sees the Host of the URL it is sent to (the client's own Host only when the
    // URL is the site's: same-zone, or ORIGIN_HOST = "site"), never a forwarded one.
    h.set("host", &crate::origin::host_header(url))?;
    super::conv::request_with_resolve_override(
        url.as_str(),
        method.as_ref(),
        Some(&h),
        body,
        true,
        super::origin_resolve_override().as_deref(),
    )
}

/// Sends a request, giving up after `timeout_ms`; the response streams (for pass-through).
pub async fn send(
    url: &url::Url,
    method: Method,
    headers: &HeaderMap,
    body: Option<Vec<u8>>,
    timeout_ms: u64,
) -> std::result::Result<Response, OriginError> {
    use futures_util::future::{select, Either};
    let req =
        request(url, method, headers, body).map_err(|e| OriginError::Unreachable(e.to_string()))?;
    let work = Box::pin(async move { Fetch::Request(req).send().await });
    let timer = Box::pin(Delay::from(std::time::Duration::from_millis(timeout_ms)));
    match select(work, timer).await {
        Either::Left((r, _)) => r.map_err(|e| OriginError::Unreachable(e.to_string())),
        Either::Right(_) => Err(OriginError::Timeout),
    }
}

/// GETs from the origin and reads the whole body, all within `timeout_ms`; a body announced
/// (Content-Length) as larger than `max_body` is left streaming in [`Fetched::stream`].
pub async fn fetch_buffered(
    url: &url::Url,
    headers: &HeaderMap,
    timeout_ms: u64,
    max_body: u64,
) -> std::result::Result<Fetched, OriginError> {
    use futures_util::future::{select, Either};
    let request_ms = super::conv::now_ms();
    let url = url.clone();
    let headers = headers.clone();
    let work = Box::pin(async move {
        let req = request(&url, Method::Get, &headers, None)?;
        let mut resp = Fetch::Request(req).send().await?;
        let status = resp.status_code();
        let headers = to_map(resp.headers());
        let announced = headers
            .get(http::header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok());
        if announced.is_some_and(|n| n > max_body) {
            let (_, stream) = resp.into_parts();
            return Ok::<_, worker::Error>((status, headers, Vec::new(), Some(stream)));
        }
        let body = if status == 304 || status == 204 {
            Vec::new()
        } else {
            resp.bytes().await?
        };
        Ok::<_, worker::Error>((status, headers, body, None))
    });
    let timer = Box::pin(Delay::from(std::time::Duration::from_millis(timeout_ms)));
    match select(work, timer).await {
        Either::Left((Ok((status, headers, body, stream)), _)) => Ok(Fetched {
            status,
            headers,
            body,
            stream,
            request_ms,
            response_ms: super::conv::now_ms(),
        }),
        Either::Left((Err(e), _)) => Err(OriginError::Unreachable(e.to_string())),
        Either::Right(_) => Err(OriginError::Timeout),
    }
}
