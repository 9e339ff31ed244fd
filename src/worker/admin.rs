//! Everything under `/__edgecache/`: health, the dashboard's static assets, its JSON API, and the
//! purge webhook. Who may call what is `purge::Secrets`; what a purge does is `purge::accept`;
//! the explain API is `explain::api_query`. Errors are JSON `{"error", "detail"}` with their
//! status (one place: `PurgeError`).

use super::bindings::{self, ASSETS};
use super::conv::{self, json, now_ms};
use super::rt::{Env, Fetcher, Result};
use super::{metrics, purge_check, state};
use crate::admin::{self, AdminRoute, LedgerReply, WebhookCall};
use crate::explain;
use crate::origin::OriginMode;
use crate::purge::{self, PurgeError, Secrets, Signed};
use web_sys::{Request, Response};

pub use crate::admin::PREFIX;

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

/// Carries out the route (`admin::route`) of a `/__edgecache...` request; `url` is the
/// request's, parsed.
pub async fn handle(
    req: Request,
    url: &url::Url,
    env: &Env,
    origin: &OriginMode,
) -> Result<Response> {
    let auth = header(&req, "authorization");
    match admin::route(url.path(), &req.method(), &secrets(env), auth.as_deref()) {
        AdminRoute::Health => conv::text(200, "ok"),
        AdminRoute::Purge => purge(req, url, env).await,
        AdminRoute::Log => read_object(bindings::ledger(env), "https://ledger/log").await,
        AdminRoute::Stats => {
            metrics::flush_now(env).await;
            read_object(bindings::hub(env), "https://hub/stats").await
        }
        AdminRoute::Policy => json(
            200,
            &explain::policy_json_with_origin(state::policy(), state::POLICY_FILE, origin),
        ),
        AdminRoute::Explain => {
            let (status, body) = explain::api_query(state::policy(), url, origin);
            json(status, &body)
        }
        AdminRoute::Denied(e) => error(&e),
        AdminRoute::ApiNotFound => json(404, admin::API_NOT_FOUND_JSON),
        AdminRoute::AssetMethodNotAllowed => json(405, admin::ASSET_METHOD_JSON),
        AdminRoute::Redirect => {
            let mut url = url.clone();
            url.set_path(&format!("{PREFIX}/"));
            conv::fixed(308, &[("location", url.as_str())], Vec::new())
        }
        AdminRoute::Asset(path) => asset(url, env, path).await,
    }
}

/// A read from one of the Durable Objects, cut at `admin::OBJECT_READ_TIMEOUT_MS`: its answer,
/// or a JSON error (504 when it was cut, 503 when the object could not be reached).
async fn read_object(stub: Result<Fetcher>, url: &str) -> Result<Response> {
    let sent_ms = now_ms();
    let req = conv::get_within(url, admin::OBJECT_READ_TIMEOUT_MS);
    let sent = match (stub, req) {
        (Ok(stub), Ok(req)) => stub.fetch(&req).await,
        (Err(e), _) | (_, Err(e)) => Err(e),
    };
    match sent {
        Ok(r) => Ok(r),
        Err(e) => {
            console_error!("edgecache: {url}: {e}");
            let waited = now_ms().saturating_sub(sent_ms);
            let (status, body) = admin::object_read_failure(waited);
            json(status, body)
        }
    }
}

/// A dashboard file, from the ASSETS binding, never cached by browsers or the edge under the
/// site's rules.
async fn asset(url: &url::Url, env: &Env, path: &str) -> Result<Response> {
    let mut url = url.clone();
    url.set_path(path);
    let resp = env.fetcher(ASSETS)?.get(url.as_str()).await?;
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
    if let Err(e) = admin::webhook_open(&secrets, &req.method()) {
        if e == PurgeError::Disabled {
            console_error!("{}", admin::WEBHOOK_DISABLED_LOG);
        }
        return error(&e);
    }
    let body = conv::body_bytes(&req).await.unwrap_or_default();
    let now = now_ms();
    let h = |n: &str| header(&req, n);
    let (id, ts, sig) = (
        h("webhook-id"),
        h("webhook-timestamp"),
        h("webhook-signature"),
    );
    let (auth, ct) = (h("authorization"), h("content-type"));
    let call = WebhookCall {
        authorization: auth.as_deref(),
        signed: Signed {
            id: id.as_deref().unwrap_or_default(),
            timestamp: ts.as_deref().unwrap_or_default(),
            signature: sig.as_deref().unwrap_or_default(),
        },
        content_type: ct.as_deref(),
        body: &body,
    };
    let zone_on = || super::zone::config(env).is_some();
    let random = (conv::rand01() * u64::MAX as f64) as u64;
    let accepted = match admin::admit(&secrets, &call, url, state::policy(), zone_on, now, random) {
        Ok(a) => a,
        Err(e) => return error(&e),
    };
    let cmd = accepted.command.to_json();
    // Cut at admin::LEDGER_TIMEOUT_MS, the answer's body included: never a hanging webhook call.
    let sent_ms = now_ms();
    let req = conv::request_within(
        "https://ledger/purge",
        "POST",
        Some(&cmd),
        admin::LEDGER_TIMEOUT_MS,
    );
    let sent = match (bindings::ledger(env), req) {
        (Ok(stub), Ok(r)) => stub.fetch(&r).await,
        (Err(e), _) | (_, Err(e)) => Err(e),
    };
    let answer = match sent {
        Ok(a) => match conv::body_text(a.text()).await {
            Ok(text) => Ok((a.status(), text)),
            Err(e) => Err(format!("reading its answer: {e}")),
        },
        Err(e) => Err(e.to_string()),
    };
    match admin::ledger_reply(answer) {
        LedgerReply::Recorded => {}
        LedgerReply::Replayed => return json(200, admin::WEBHOOK_DUPLICATE_JSON),
        LedgerReply::Unavailable(why) => {
            console_error!("edgecache: purge ledger failed: {why}");
            let (status, body) = admin::ledger_failure(now_ms().saturating_sub(sent_ms));
            return json(status, body);
        }
    }
    // This location sees its own purge at once.
    purge_check::note_own_purge(env, accepted.keys(), accepted.record, now);
    // This location's copies, waited for at most `admin::LOCAL_DELETE_TIMEOUT_MS` in all (the
    // purge record already makes them misses). One after the other: `join_all` of these cost
    // 2 KB of wasm, and a local delete takes about a millisecond.
    let urls = &accepted.urls;
    let deletes = async move {
        let mut failed = 0usize;
        for k in urls {
            if super::io::cache_delete(k).await.is_err() {
                failed += 1;
            }
        }
        failed
    };
    match super::task::within(admin::LOCAL_DELETE_TIMEOUT_MS, deletes).await {
        Some(0) => {}
        Some(failed) => console_error!(
            "edgecache: purge: {failed} of {} local cache deletes failed (the purge is recorded)",
            urls.len()
        ),
        None => console_error!(
            "edgecache: purge: local cache deletes still unfinished after {} ms; answering (the purge is recorded)",
            admin::LOCAL_DELETE_TIMEOUT_MS
        ),
    }
    metrics::purge();
    json(202, &accepted.answer_json(propagation_bound_secs(env)))
}
