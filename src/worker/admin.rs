//! Everything under `/__edgecache/`: health, the dashboard's static assets, its JSON API, and the
//! purge webhook. Who may call what is `purge::Secrets`; what a purge does is `purge::accept`;
//! the explain API is `explain::api_query`. Errors are JSON `{"error", "detail"}` with their
//! status (one place: `PurgeError`).

use super::bindings::{self, ASSETS};
use super::conv::{self, json, now_ms};
use super::rt::{Env, Result};
use super::{metrics, purge_check, state};
use crate::explain;
use crate::origin::OriginMode;
use crate::purge::{self, PurgeError, PurgeLimits, Secrets, Signed};
use web_sys::{Request, Response};

/// URL prefix of everything edgecache serves itself.
pub const PREFIX: &str = "/__edgecache";

/// Upper bound (seconds) for a purge to take effect at every location: KV propagation (up to
/// 60 s) + the KV `cacheTtl` of the snapshot read (30 s) + the oldest view an isolate answers a
/// hit from (two refresh intervals: 60 s by default), so 150 s by default
/// ([`purge::propagation_bound_secs`]).
fn propagation_bound_secs(env: &Env) -> u64 {
    purge::propagation_bound_secs(purge_check::KV_CACHE_TTL_SECS, purge_check::refresh_ms(env))
}

/// The configured tokens and signing secret (set and non-empty).
fn secrets(env: &Env) -> Secrets {
    let get = |n: &str| env.var(n).filter(|s| !s.is_empty());
    Secrets {
        purge_token: get("PURGE_TOKEN"),
        admin_token: get("ADMIN_TOKEN"),
        purge_secret: get("PURGE_SECRET"),
    }
}

fn error(e: &PurgeError) -> Result<Response> {
    let r = json(e.status(), &e.to_json())?;
    let h = r.headers();
    for (k, v) in e.headers() {
        h.set(k, v)?;
    }
    Ok(r)
}

fn header(req: &Request, name: &str) -> Option<String> {
    req.headers().get(name).ok().flatten()
}

/// Routes a `/__edgecache/...` request; `url` is the request's, parsed.
pub async fn handle(
    req: Request,
    url: &url::Url,
    env: &Env,
    origin: &OriginMode,
) -> Result<Response> {
    let sub = url.path().strip_prefix(PREFIX).unwrap_or("");
    let auth = header(&req, "authorization");
    let admin_ok = || secrets(env).admin_ok(auth.as_deref());
    match sub {
        "/health" => conv::text(200, "ok"),
        "/purge" => purge(req, url, env).await,
        "/purges" | "/api/purges" => {
            let s = secrets(env);
            if !s.admin_ok(auth.as_deref()) && !s.purge_token_ok(auth.as_deref()) {
                return error(&PurgeError::Unauthorized);
            }
            bindings::ledger(env)?.get("https://ledger/log").await
        }
        "/api/stats" => {
            if !admin_ok() {
                return error(&PurgeError::Unauthorized);
            }
            metrics::flush_now(env).await;
            bindings::hub(env)?.get("https://hub/stats").await
        }
        "/api/policy" => {
            if !admin_ok() {
                return error(&PurgeError::Unauthorized);
            }
            json(
                200,
                &explain::policy_json_with_origin(state::policy(), state::POLICY_FILE, origin),
            )
        }
        "/api/explain" => {
            if !admin_ok() {
                return error(&PurgeError::Unauthorized);
            }
            let (status, body) = explain::api_query(state::policy(), url, origin);
            json(status, &body)
        }
        _ if sub.starts_with("/api/") => json(
            404,
            r#"{"error":"not_found","detail":"no such API endpoint"}"#,
        ),
        _ => assets(&req, url, env, sub).await,
    }
}

/// The dashboard's files, from the ASSETS binding, addressed from the directory root.
async fn assets(req: &Request, url: &url::Url, env: &Env, sub: &str) -> Result<Response> {
    if !matches!(req.method().as_str(), "GET" | "HEAD") {
        return json(405, r#"{"error":"method_not_allowed","detail":"use GET"}"#);
    }
    let mut url = url.clone();
    if sub.is_empty() {
        // `/__edgecache` → `/__edgecache/` so relative asset URLs resolve.
        url.set_path(&format!("{PREFIX}/"));
        return conv::fixed(308, &[("location", url.as_str())], Vec::new());
    }
    url.set_path(if sub == "/" { "/index.html" } else { sub });
    let resp = env.fetcher(ASSETS)?.get(url.as_str()).await?;
    // The dashboard is never cached by browsers or the edge under the site's rules.
    let headers = web_sys::Headers::new_with_headers(&resp.headers())?;
    headers.set("cache-control", "no-store")?;
    headers.set("x-content-type-options", "nosniff")?;
    headers.set(
        "content-security-policy",
        "default-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:",
    )?;
    let body = match resp.body() {
        Some(b) => super::io::JsBody::Stream(b),
        None => super::io::JsBody::Empty,
    };
    Ok(super::io::response(resp.status(), &headers, body)?)
}

/// The purge webhook: `POST /__edgecache/purge`.
async fn purge(req: Request, url: &url::Url, env: &Env) -> Result<Response> {
    let secrets = secrets(env);
    if !secrets.webhook_enabled() {
        console_error!("edgecache: purge webhook disabled: set PURGE_TOKEN or PURGE_SECRET (wrangler secret put)");
        return error(&PurgeError::Disabled);
    }
    if req.method() != "POST" {
        return error(&PurgeError::MethodNotAllowed);
    }
    let body = conv::body_bytes(&req).await.unwrap_or_default();
    let now = now_ms();
    let h = |n: &str| header(&req, n).unwrap_or_default();
    let (id, ts, sig) = (
        h("webhook-id"),
        h("webhook-timestamp"),
        h("webhook-signature"),
    );
    let signed = Signed {
        id: &id,
        timestamp: &ts,
        signature: &sig,
    };
    let caller = match secrets.authorize_purge(
        header(&req, "authorization").as_deref(),
        &signed,
        &body,
        now / 1000,
    ) {
        Ok(c) => c,
        Err(e) => return error(&e),
    };
    let ct = header(&req, "content-type");
    let preq = match purge::parse_purge_request(ct.as_deref(), &body, &PurgeLimits::default()) {
        Ok(p) => p,
        Err(e) => return error(&e),
    };
    let policy = state::policy();
    let accepted = purge::accept(
        &preq,
        &caller,
        &url.origin().ascii_serialization(),
        url.host_str().unwrap_or(""),
        |u| crate::key::normalize_url_for_purge(u, policy).map_err(|e| e.to_string()),
        purge::record_expiration_ttl(crate::decision::MAX_ENTRY_KEEP_SECS),
        super::zone::config(env).is_some(),
        now,
        (conv::rand01() * u64::MAX as f64) as u64,
    );
    let accepted = match accepted {
        Ok(a) => a,
        Err(e) => return error(&e),
    };
    let cmd = accepted.command.to_json();
    // Anything but the ledger's JSON answer means nothing may have been recorded: say so
    // (never 202 for a purge that did not happen).
    let unavailable = |why: String| {
        console_error!("edgecache: purge ledger failed: {why}");
        json(
            503,
            r#"{"error":"ledger_unavailable","detail":"the purge could not be recorded; retry"}"#,
        )
    };
    let sent = match conv::request("https://ledger/purge", "POST", Some(&cmd)) {
        Ok(r) => bindings::ledger(env)?.fetch(&r).await,
        Err(e) => Err(e),
    };
    let ans = match sent {
        Ok(a) => a,
        Err(e) => return unavailable(e.to_string()),
    };
    let text = conv::body_text(ans.text()).await.unwrap_or_default();
    if ans.status() != 200 {
        return unavailable(format!("{} {text}", ans.status()));
    }
    let Some(replayed) = purge::parse_replayed(&text) else {
        return unavailable(format!("unexpected answer {text:?}"));
    };
    if replayed {
        return error(&PurgeError::Unauthorized);
    }
    // This location sees its own purge at once.
    purge_check::note_own_purge(env, accepted.keys(), accepted.record, now);
    for k in &accepted.urls {
        let _ = super::io::cache_delete(k).await;
    }
    metrics::purge();
    json(202, &accepted.answer_json(propagation_bound_secs(env)))
}
