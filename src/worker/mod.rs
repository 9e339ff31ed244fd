//! The thin Workers adapter: turns runtime requests and bindings (bound directly in `rt`) into
//! core inputs and carries out the plans the core returns. No policy decision lives here.

/// `console.error` with `format!` arguments.
macro_rules! console_error {
    ($($t:tt)*) => {
        $crate::worker::rt::error(&format!($($t)*))
    };
}

mod admin;
mod bindings;
mod conv;
mod hub;
mod io;
mod metrics;
mod objects;
mod purge_check;
mod rt;
mod serve;
mod state;
mod task;
mod zone;

use crate::origin::OriginMode;
use rt::{Context, Env};
use wasm_bindgen::prelude::*;
use web_sys::{Request, Response};

/// The worker's fetch handler (scripts/worker-entry.mjs calls it with `(request, env, ctx)`).
/// Every response leaves as a `web_sys::Response` built with fallible calls; a failure is a
/// plain 500 (or 502) with the reason, also said on the console.
/// It runs on the adapter's executor (`task`): a response ready at once (a plain hit) is
/// returned as it is, anything later as a promise.
#[wasm_bindgen]
pub fn fetch(req: Request, env: JsValue, ctx: JsValue) -> Result<JsValue, JsValue> {
    task::value_or_promise(async move {
        let env = Env::new(env);
        let ctx = Context::new(ctx);
        Ok(handle(req, &env, &ctx).await?.into())
    })
}

async fn handle(req: Request, env: &Env, ctx: &Context) -> rt::Result<Response> {
    // ORIGIN unset, empty or "same-zone": the request's own URL (see crate::origin).
    let (origin, debug) = match settings(env) {
        Ok(s) => s,
        Err(e) => return plain_status(500, &format!("edgecache: {e}")),
    };
    // Parsed once: the admin check and the site path use the same URL.
    let url = match parse_url(&req.url()) {
        Ok(u) => u,
        Err(e) => return plain_status(500, &format!("edgecache: request URL: {e}")),
    };
    let path = url.path();
    let is_admin = path == admin::PREFIX
        || path
            .strip_prefix(admin::PREFIX)
            .is_some_and(|rest| rest.starts_with('/'));
    let resp = if is_admin {
        // Boxed: the admin API's state stays out of the site path's future.
        Box::pin(admin::handle(req, &url, env, &origin)).await
    } else {
        // No zone origin behind workers.dev (see crate::origin).
        if let Err(e) = origin.check_client_host(url.host_str().unwrap_or("")) {
            return plain_status(502, &format!("edgecache: {e}"));
        }
        let c = serve::Ctx {
            env,
            ctx,
            origin,
            debug,
        };
        serve::handle(req, url, &c).await
    };
    // Counters go to the metrics hub every few seconds, off the request path.
    metrics::flush_in_background(env, ctx);
    match resp {
        Ok(r) => Ok(r),
        Err(e) => plain_status(500, &format!("edgecache: {e}")),
    }
}

/// The request's URL, through the isolate's memo (see `crate::memo`): a hot page's URL is parsed
/// once per isolate, not on every hit.
fn parse_url(text: &str) -> Result<url::Url, url::ParseError> {
    match URLS.with(|m| {
        m.borrow_mut()
            .get_or_parse(text, |t| url::Url::parse(t).ok())
    }) {
        Some(u) => Ok(u),
        None => url::Url::parse(text),
    }
}

fn plain_status(status: u16, msg: &str) -> rt::Result<Response> {
    console_error!("{msg}");
    conv::fixed(
        status,
        &[
            ("content-type", "text/plain; charset=utf-8"),
            ("cache-control", "no-store"),
        ],
        format!("{msg}\n").into_bytes(),
    )
}

type Settings =
    std::result::Result<(std::rc::Rc<OriginMode>, bool), crate::origin::OriginConfigError>;

thread_local! {
    static URLS: std::cell::RefCell<crate::memo::TextMemo<url::Url>> =
        std::cell::RefCell::new(crate::memo::TextMemo::default());
    static SETTINGS: std::cell::OnceCell<Settings> = const { std::cell::OnceCell::new() };
}

/// The origin mode (ORIGIN, ORIGIN_HOST) and the EDGECACHE_DEBUG switch, read and parsed once
/// per isolate: vars are fixed for a deployed version, and a new version (or a `wrangler dev`
/// reload) starts new isolates. Each var read is several runtime calls, so a hit no longer
/// pays for them.
fn settings(env: &Env) -> Settings {
    SETTINGS.with(|s| {
        s.get_or_init(|| {
            let var = |name: &str| env.var(name);
            let origin = crate::origin::parse_origin_mode(
                var("ORIGIN").as_deref(),
                var("ORIGIN_HOST").as_deref(),
            )?;
            Ok((
                std::rc::Rc::new(origin),
                var("EDGECACHE_DEBUG").as_deref() == Some("1"),
            ))
        })
        .clone()
    })
}
