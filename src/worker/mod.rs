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
mod zone;

use crate::origin::OriginMode;
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
    // ORIGIN unset, empty or "same-zone": the request's own URL (see crate::origin).
    let (origin, debug) = match settings(&env) {
        Ok(s) => s,
        Err(e) => return plain_status(500, &format!("edgecache: {e}")),
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
        // No zone origin behind workers.dev (see crate::origin).
        if let Err(e) = origin.check_client_host(url.host_str().unwrap_or("")) {
            return plain_status(502, &format!("edgecache: {e}"));
        }
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
    plain_status(500, msg)
}

fn plain_status(status: u16, msg: &str) -> Result<web_sys::Response> {
    worker::console_error!("{msg}");
    let h = web_sys::Headers::new()?;
    h.set("content-type", "text/plain; charset=utf-8")?;
    h.set("cache-control", "no-store")?;
    io::response(
        status,
        &h,
        io::JsBody::Bytes(format!("{msg}\n").into_bytes()),
    )
    .map_err(worker::Error::RustError)
}

type Settings = std::result::Result<(OriginMode, bool), crate::origin::OriginConfigError>;

thread_local! {
    static SETTINGS: std::cell::OnceCell<Settings> = const { std::cell::OnceCell::new() };
}

/// The origin mode (ORIGIN, ORIGIN_HOST) and the EDGECACHE_DEBUG switch, read and parsed once
/// per isolate: vars are fixed for a deployed version, and a new version (or a `wrangler dev`
/// reload) starts new isolates. Each var read is several runtime calls, so a hit no longer
/// pays for them.
fn settings(env: &Env) -> Settings {
    SETTINGS.with(|s| {
        s.get_or_init(|| {
            let var = |name: &str| env.var(name).ok().map(|v| v.to_string());
            let origin = crate::origin::parse_origin_mode(
                var("ORIGIN").as_deref(),
                var("ORIGIN_HOST").as_deref(),
            )?;
            Ok((origin, var("EDGECACHE_DEBUG").as_deref() == Some("1")))
        })
        .clone()
    })
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
