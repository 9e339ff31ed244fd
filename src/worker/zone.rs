//! The zone purge accelerator's I/O: its configuration from the environment, and one call to
//! the purge API. What to call, when, and what an answer means is `crate::purge::zone`.

use crate::purge::zone::{self, ApiAnswer, ZoneCall, ZoneConfig};
use worker::{Delay, Env};

/// A secret, else a var of that name, when set and non-empty.
fn setting(env: &Env, name: &str) -> Option<String> {
    env.secret(name)
        .map(|s| s.to_string())
        .or_else(|_| env.var(name).map(|v| v.to_string()))
        .ok()
        .filter(|s| !s.trim().is_empty())
}

/// The accelerator's configuration (`CF_API_TOKEN`, `CF_ZONE_ID`, `CF_API_BASE`); `None` when
/// not configured, or when configured wrongly (said once per call on the console: KV records
/// still work, only the acceleration is off).
pub fn config(env: &Env) -> Option<ZoneConfig> {
    let token = setting(env, "CF_API_TOKEN");
    let zone_id = setting(env, "CF_ZONE_ID");
    let base = setting(env, "CF_API_BASE");
    match zone::zone_config(token.as_deref(), zone_id.as_deref(), base.as_deref()) {
        Ok(c) => c,
        Err(e) => {
            worker::console_error!("edgecache: zone purge accelerator off: {e}");
            None
        }
    }
}

/// Makes one purge call; any failure to get an answer (network error, timeout) is status 0.
/// Built on `web_sys` directly, like the origin fetch (`io::fetch`): no `worker` wrappers.
pub async fn call(cfg: &ZoneConfig, call: &ZoneCall) -> ApiAnswer {
    use futures_util::future::{select, Either};
    use wasm_bindgen::JsCast;
    use wasm_bindgen_futures::JsFuture;
    let no_answer = |why: String| ApiAnswer {
        status: 0,
        body: why,
        retry_after: None,
    };
    let req = (|| {
        let h = web_sys::Headers::new()?;
        h.set("authorization", &cfg.authorization())?;
        h.set("content-type", "application/json")?;
        let init = web_sys::RequestInit::new();
        init.set_method("POST");
        init.set_headers(h.as_ref());
        init.set_body(&call.body().into());
        // Manual redirects: the token never follows a redirect elsewhere (a 3xx is a failure).
        init.set_redirect(web_sys::RequestRedirect::Manual);
        web_sys::Request::new_with_str_and_init(&cfg.purge_url(), &init)
    })();
    let req = match req {
        Ok(r) => r,
        Err(e) => return no_answer(super::io::js_err(&e)),
    };
    let work = Box::pin(async move {
        let v = JsFuture::from(super::io::global_fetch(&req)).await?;
        let resp: web_sys::Response = v.dyn_into()?;
        let retry_after = resp.headers().get("retry-after").ok().flatten();
        let body = JsFuture::from(resp.text()?)
            .await?
            .as_string()
            .unwrap_or_default();
        Ok::<_, wasm_bindgen::JsValue>(ApiAnswer {
            status: resp.status(),
            body,
            retry_after,
        })
    });
    let timer = Box::pin(Delay::from(std::time::Duration::from_millis(
        zone::CALL_TIMEOUT_MS,
    )));
    match select(work, timer).await {
        Either::Left((Ok(a), _)) => a,
        Either::Left((Err(e), _)) => no_answer(super::io::js_err(&e)),
        Either::Right(_) => no_answer(format!("no answer within {} ms", zone::CALL_TIMEOUT_MS)),
    }
}
