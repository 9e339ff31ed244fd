//! The thin Workers adapter: turns `worker` Request/Response/Cache/KV/Durable Object calls into
//! core inputs and carries out the plans the core returns. No policy decision lives here.

mod admin;
mod conv;
mod io;
mod metrics;
mod objects;
mod purge_check;
mod serve;
mod state;

use worker::{event, Context, Env, Request, Response, Result};

/// Runs once per isolate: panics go to the console with their message and location.
#[event(start)]
fn start() {
    console_error_panic_hook::set_once();
}

/// Every response leaves as a `web_sys::Response` built with fallible calls: `worker`'s own
/// conversion unwraps, and one panic resets the isolate and hangs every request in flight in it.
#[event(fetch)]
async fn fetch(req: web_sys::Request, env: Env, ctx: Context) -> Result<web_sys::Response> {
    let origin = match env.var("ORIGIN").map(|v| v.to_string()) {
        Ok(o) => match origin_url(&o) {
            Ok(u) => u,
            Err(e) => return plain_500(&format!("edgecache: ORIGIN {o:?} is not a URL: {e}")),
        },
        Err(_) => return plain_500("edgecache: the ORIGIN var is not set"),
    };
    // Parsed once: the admin check and the site path use the same URL.
    let url = match url::Url::parse(&req.url()) {
        Ok(u) => u,
        Err(e) => return plain_500(&format!("edgecache: request URL: {e}")),
    };
    let path = url.path();
    let is_admin = path == admin::PREFIX
        || path
            .strip_prefix(admin::PREFIX)
            .is_some_and(|rest| rest.starts_with('/'));
    let resp = if is_admin {
        admin::handle(Request::from(req), &env, &origin)
            .await
            .and_then(into_raw)
    } else {
        let debug = env
            .var("EDGECACHE_DEBUG")
            .map(|v| v.to_string() == "1")
            .unwrap_or(false);
        let c = serve::Ctx {
            env: &env,
            ctx: &ctx,
            origin,
            debug,
        };
        serve::handle(req, url, &c).await
    };
    // Counters go to the metrics hub every few seconds, off the request path.
    if let Some(snap) = metrics::take_due(conv::now_ms(), false) {
        let env2 = env.clone();
        ctx.wait_until(async move { send_metrics(&env2, snap).await });
    }
    match resp {
        Ok(r) => Ok(r),
        Err(e) => plain_500(&format!("edgecache: {e}")),
    }
}

/// A `worker::Response` of edgecache's own (admin API, assets) as a runtime response, fallibly.
fn into_raw(r: Response) -> Result<web_sys::Response> {
    let status = r.status_code();
    let headers = r.headers().0.clone();
    let (_, body) = r.into_parts();
    let body = match body {
        worker::ResponseBody::Empty => io::JsBody::Empty,
        worker::ResponseBody::Body(b) => io::JsBody::Bytes(b),
        worker::ResponseBody::Stream(s) => io::JsBody::Stream(s),
    };
    io::response(status, &headers, body).map_err(worker::Error::RustError)
}

fn plain_500(msg: &str) -> Result<web_sys::Response> {
    worker::console_error!("{msg}");
    let h = web_sys::Headers::new()?;
    h.set("content-type", "text/plain; charset=utf-8")?;
    h.set("cache-control", "no-store")?;
    io::response(500, &h, io::JsBody::Bytes(format!("{msg}\n").into_bytes()))
        .map_err(worker::Error::RustError)
}

thread_local! {
    static ORIGIN: std::cell::RefCell<Option<(String, url::Url)>> = const { std::cell::RefCell::new(None) };
}

/// The parsed ORIGIN: parsed once per isolate (and again only if the var changes).
fn origin_url(raw: &str) -> std::result::Result<url::Url, url::ParseError> {
    let cached = ORIGIN.with(|o| {
        o.borrow()
            .as_ref()
            .filter(|(r, _)| r == raw)
            .map(|(_, u)| u.clone())
    });
    if let Some(u) = cached {
        return Ok(u);
    }
    let u = url::Url::parse(raw)?;
    ORIGIN.with(|o| *o.borrow_mut() = Some((raw.to_string(), u.clone())));
    Ok(u)
}

async fn send_metrics(env: &Env, snap: crate::metrics::Snapshot) {
    let body = snap.to_json();
    let sent = match (
        admin::hub(env),
        conv::request("https://hub/add", "POST", None, Some(body.into()), false),
    ) {
        (Ok(stub), Ok(req)) => stub.fetch_with_request(req).await.is_ok(),
        _ => false,
    };
    if !sent {
        metrics::restore(&snap);
    }
}

/// Sends pending counters now (the stats API calls it so the page sees its own isolate's latest).
pub async fn flush_metrics(env: &Env, force: bool) {
    if let Some(snap) = metrics::take_due(conv::now_ms(), force) {
        send_metrics(env, snap).await;
    }
}
