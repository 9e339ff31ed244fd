//! The zone purge accelerator's I/O: its configuration from the environment, and one call to
//! the purge API. What to call, when, and what an answer means is `crate::purge::zone`.

use crate::purge::zone::{self, ApiAnswer, ZoneCall, ZoneConfig};
use worker::{Delay, Env, Fetch, Headers};

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
pub async fn call(cfg: &ZoneConfig, call: &ZoneCall) -> ApiAnswer {
    use futures_util::future::{select, Either};
    let no_answer = |why: String| ApiAnswer {
        status: 0,
        body: why,
        retry_after: None,
    };
    let req = (|| {
        let h = Headers::new();
        h.set("authorization", &cfg.authorization())?;
        h.set("content-type", "application/json")?;
        // Manual redirects: the token never follows a redirect elsewhere (a 3xx is a failure).
        super::conv::request(
            &cfg.purge_url(),
            "POST",
            Some(&h),
            Some(call.body().into()),
            true,
        )
    })();
    let req = match req {
        Ok(r) => r,
        Err(e) => return no_answer(e.to_string()),
    };
    let work = Box::pin(async move {
        let mut resp = Fetch::Request(req).send().await?;
        let status = resp.status_code();
        let retry_after = resp.headers().get("retry-after").ok().flatten();
        let body = resp.text().await.unwrap_or_default();
        Ok::<_, worker::Error>(ApiAnswer {
            status,
            body,
            retry_after,
        })
    });
    let timer = Box::pin(Delay::from(std::time::Duration::from_millis(
        zone::CALL_TIMEOUT_MS,
    )));
    match select(work, timer).await {
        Either::Left((Ok(a), _)) => a,
        Either::Left((Err(e), _)) => no_answer(e.to_string()),
        Either::Right(_) => no_answer(format!("no answer within {} ms", zone::CALL_TIMEOUT_MS)),
    }
}
