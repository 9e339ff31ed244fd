//! Forwarding to the origin: method, path, query, headers and body go through; the response streams back.

use worker::{
    AbortController, Context, Delay, Env, Fetch, Headers, Method, Request, RequestInit, RequestRedirect,
    Response, ResponseBuilder, Result,
};

/// Where the origin lives: the `ORIGIN` var (e.g. `https://origin.example.com`).
fn origin_base(env: &Env) -> Result<url::Url> {
    let raw = env.var("ORIGIN")?.to_string();
    url::Url::parse(&raw).map_err(|e| worker::Error::RustError(format!("ORIGIN {raw:?}: {e}")))
}

/// The URL at the origin for a client URL: same path and query, the origin's scheme and authority.
fn origin_url(base: &url::Url, client: &url::Url) -> url::Url {
    let mut u = base.clone();
    u.set_path(client.path());
    u.set_query(client.query());
    u
}

/// Proxies one request to the origin and streams the answer back with a Cache-Status header.
pub async fn handle(mut req: Request, env: &Env, _ctx: &Context) -> Result<Response> {
    if req.path() == "/__edgecache/health" {
        return Response::ok("ok");
    }
    let base = origin_base(env)?;
    let url = origin_url(&base, &req.url()?);
    let method = req.method();
    let headers = Headers::new();
    for (k, v) in req.headers().entries() {
        headers.append(&k, &v)?;
    }
    let mut init = RequestInit::new();
    init.with_method(method.clone())
        .with_headers(headers)
        .with_redirect(RequestRedirect::Manual);
    if !matches!(method, Method::Get | Method::Head) {
        let body = req.bytes().await?;
        if !body.is_empty() {
            init.with_body(Some(js_sys::Uint8Array::from(body.as_slice()).into()));
        }
    }
    let origin_req = Request::new_with_init(url.as_str(), &init)?;
    match fetch_with_timeout(origin_req, 10_000).await {
        Ok(resp) => {
            let status = resp.status_code();
            let out = Headers::new();
            for (k, v) in resp.headers().entries() {
                out.append(&k, &v)?;
            }
            out.set("cache-status", "edgecache; fwd=uri-miss")?;
            let (_, body) = resp.into_parts();
            Ok(ResponseBuilder::new().with_status(status).with_headers(out).body(body))
        }
        Err(e) => {
            worker::console_error!("edgecache: origin {} unreachable: {}", url, e);
            bad_gateway("origin-unreachable")
        }
    }
}

/// A short plain-text 502 whose Cache-Status says why.
fn bad_gateway(detail: &str) -> Result<Response> {
    let headers = Headers::new();
    headers.set("content-type", "text/plain; charset=utf-8")?;
    headers.set("cache-control", "no-store")?;
    headers.set("cache-status", &format!("edgecache; fwd=miss; detail={detail}"))?;
    Ok(ResponseBuilder::new()
        .with_status(502)
        .with_headers(headers)
        .fixed(b"502 Bad Gateway: the origin could not be reached.\n".to_vec()))
}

/// Sends `req`, giving up after `ms` milliseconds.
async fn fetch_with_timeout(req: Request, ms: u64) -> Result<Response> {
    use futures_util::future::{select, Either};
    let ctrl = AbortController::default();
    let signal = ctrl.signal();
    let fetch = Box::pin(async move { Fetch::Request(req).send_with_signal(&signal).await });
    let timer = Box::pin(Delay::from(std::time::Duration::from_millis(ms)));
    match select(fetch, timer).await {
        Either::Left((r, _)) => r,
        Either::Right(_) => {
            ctrl.abort();
            Err(worker::Error::RustError("origin timeout".into()))
        }
    }
}
