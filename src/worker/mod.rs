//! The thin Workers adapter: turns `worker` Request/Response/Cache/KV/Durable Object calls into
//! core inputs and carries out the plans the core returns. No policy decision lives here.

mod admin;
mod conv;
mod metrics;
mod objects;
mod origin;
mod purge_check;
mod serve;
mod state;
mod store;

use worker::{event, Context, Env, Request, Response, Result};

/// Runs once per isolate: panics go to the console with their message and location.
#[event(start)]
fn start() {
    console_error_panic_hook::set_once();
}

#[event(fetch)]
async fn fetch(req: Request, env: Env, ctx: Context) -> Result<Response> {
    let origin = match env.var("ORIGIN").map(|v| v.to_string()) {
        Ok(o) => match origin_url(&o) {
            Ok(u) => u,
            Err(e) => {
                return Response::error(format!("edgecache: ORIGIN {o:?} is not a URL: {e}"), 500)
            }
        },
        Err(_) => return Response::error("edgecache: the ORIGIN var is not set", 500),
    };
    let path = req.path();
    let is_admin = path == admin::PREFIX || path.starts_with(&format!("{}/", admin::PREFIX));
    let resp = if is_admin {
        admin::handle(req, &env, &origin).await
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
        let resp = serve::handle(req, &c).await;
        purge_check::keep_refresh_alive(&ctx);
        resp
    };
    // Counters go to the metrics hub every few seconds, off the request path.
    if let Some(snap) = metrics::take_due(conv::now_ms(), false) {
        let env2 = env.clone();
        ctx.wait_until(async move { send_metrics(&env2, snap).await });
    }
    resp
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
