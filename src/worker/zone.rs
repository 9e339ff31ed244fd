//! The zone purge accelerator's I/O: its configuration from the environment, and one call to
//! the purge API. What to call, when, and what an answer means is `crate::purge::zone`.

use super::bindings::setting;
use super::rt::Env;
use crate::purge::zone::{self, ApiAnswer, ZoneCall, ZoneConfig};

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
            console_error!("edgecache: zone purge accelerator off: {e}");
            None
        }
    }
}

/// Makes one purge call; any failure to get an answer (network error, timeout) is status 0.
/// Built on `web_sys` directly, like the origin fetch (`io::fetch`): no `worker` wrappers; the
/// timeout is the runtime's own `AbortSignal.timeout`.
pub async fn call(cfg: &ZoneConfig, call: &ZoneCall) -> ApiAnswer {
    use wasm_bindgen::{JsCast, JsValue};
    let answer = async {
        let h = web_sys::Headers::new()?;
        h.set("authorization", &cfg.authorization())?;
        h.set("content-type", "application/json")?;
        let init = web_sys::RequestInit::new();
        init.set_method("POST");
        init.set_headers(h.as_ref());
        init.set_body(&call.body().into());
        // Manual redirects: the token never follows a redirect elsewhere (a 3xx is a failure).
        init.set_redirect(web_sys::RequestRedirect::Manual);
        // AbortSignal.timeout(ms): the fetch rejects when no answer came in time.
        let signal = super::conv::timeout_signal(zone::CALL_TIMEOUT_MS)?;
        js_sys::Reflect::set(&init, &"signal".into(), &signal)?;
        let req = web_sys::Request::new_with_str_and_init(&cfg.purge_url(), &init)?;
        let v = super::task::wait(&super::io::global_fetch(&req)).await?;
        let resp: web_sys::Response = v.dyn_into()?;
        let retry_after = resp.headers().get("retry-after").ok().flatten();
        let body = super::task::wait(&resp.text()?)
            .await?
            .as_string()
            .unwrap_or_default();
        Ok::<_, JsValue>(ApiAnswer {
            status: resp.status(),
            body,
            retry_after,
        })
    };
    match answer.await {
        Ok(a) => a,
        Err(e) => ApiAnswer {
            status: 0,
            body: super::io::js_err(&e),
            retry_after: None,
        },
    }
}
