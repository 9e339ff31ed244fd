//! Everything under `/__edgecache/`: health, the dashboard's static assets, its JSON API, and the
//! purge webhook. Errors are JSON `{"error", "detail"}` with their status (one place: `PurgeError`).

use super::conv::{self, json, now_ms};
use super::objects::PurgeCommand;
use super::{metrics, state};
use crate::explain;
use crate::json::{Json, Obj};
use crate::origin::OriginMode;
use crate::purge::{self, PurgeError, PurgeLimits, PurgeLogEntry};
use crate::webhook_sig;
use worker::{Cache, Env, Method, Request, Response, Result};

/// URL prefix of everything edgecache serves itself.
pub const PREFIX: &str = "/__edgecache";

/// Upper bound (seconds) for a purge to take effect at every location: KV propagation (up to
/// 60 s) + the KV `cacheTtl` of the snapshot read (30 s) + the oldest view an isolate answers a
/// hit from (two refresh intervals: 60 s by default), so 150 s by default
/// ([`purge::propagation_bound_secs`]).
fn propagation_bound_secs(env: &Env) -> u64 {
    purge::propagation_bound_secs(
        super::purge_check::KV_CACHE_TTL_SECS,
        super::purge_check::refresh_ms(env),
    )
}

fn secret(env: &Env, name: &str) -> Option<String> {
    env.secret(name)
        .map(|s| s.to_string())
        .or_else(|_| env.var(name).map(|v| v.to_string()))
        .ok()
        .filter(|s| !s.is_empty())
}

fn error(e: &PurgeError) -> Result<Response> {
    let mut r = json(e.status(), &e.to_json())?;
    for (k, v) in e.headers() {
        r.headers_mut().set(k, v)?;
    }
    Ok(r)
}

fn bearer(req: &Request) -> Option<String> {
    req.headers().get("authorization").ok().flatten()
}

/// Whether the request carries the admin token (ADMIN_TOKEN, or PURGE_TOKEN when unset).
fn admin_ok(req: &Request, env: &Env) -> bool {
    let token = secret(env, "ADMIN_TOKEN").or_else(|| secret(env, "PURGE_TOKEN"));
    token.is_some_and(|t| webhook_sig::bearer_matches(bearer(req).as_deref(), &t))
}

/// Routes a `/__edgecache/...` request.
pub async fn handle(req: Request, env: &Env, origin: &OriginMode) -> Result<Response> {
    let path = req.path();
    let sub = path.strip_prefix(PREFIX).unwrap_or("");
    match sub {
        "/health" => Response::ok("ok"),
        "/purge" => purge(req, env).await,
        "/purges" | "/api/purges" => {
            if !admin_ok(&req, env) && !purge_token_ok(&req, env) {
                return error(&PurgeError::Unauthorized);
            }
            ledger(env)?.fetch_with_str("https://ledger/log").await
        }
        "/api/stats" => {
            if !admin_ok(&req, env) {
                return error(&PurgeError::Unauthorized);
            }
            super::flush_metrics(env, true).await;
            hub(env)?.fetch_with_str("https://hub/stats").await
        }
        "/api/policy" => {
            if !admin_ok(&req, env) {
                return error(&PurgeError::Unauthorized);
            }
            json(
                200,
                &explain::policy_json_with_origin(state::policy(), state::POLICY_FILE, origin),
            )
        }
        "/api/explain" => {
            if !admin_ok(&req, env) {
                return error(&PurgeError::Unauthorized);
            }
            api_explain(&req, origin)
        }
        _ if sub.starts_with("/api/") => json(
            404,
            r#"{"error":"not_found","detail":"no such API endpoint"}"#,
        ),
        _ => assets(req, env, sub).await,
    }
}

fn purge_token_ok(req: &Request, env: &Env) -> bool {
    secret(env, "PURGE_TOKEN")
        .is_some_and(|t| webhook_sig::bearer_matches(bearer(req).as_deref(), &t))
}

/// The dashboard's files, from the ASSETS binding, addressed from the directory root.
async fn assets(req: Request, env: &Env, sub: &str) -> Result<Response> {
    if !matches!(req.method(), Method::Get | Method::Head) {
        return json(405, r#"{"error":"method_not_allowed","detail":"use GET"}"#);
    }
    let mut url = req.url()?;
    let file = if sub.is_empty() || sub == "/" {
        "/index.html"
    } else {
        sub
    };
    if sub.is_empty() {
        // `/__edgecache` → `/__edgecache/` so relative asset URLs resolve.
        url.set_path(&format!("{PREFIX}/"));
        return Response::redirect_with_status(url, 308);
    }
    url.set_path(file);
    // fetch_request, not fetch(url, None): the latter links worker's RequestInit conversion.
    let asset = conv::request(url.as_str(), "GET", None, None, false)?;
    let mut resp = env.assets("ASSETS")?.fetch_request(asset).await?;
    // The dashboard is never cached by browsers or the edge under the site's rules.
    let headers = resp.headers().clone();
    headers.set("cache-control", "no-store")?;
    headers.set("x-content-type-options", "nosniff")?;
    headers.set(
        "content-security-policy",
        "default-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:",
    )?;
    let status = resp.status_code();
    let body = resp.bytes().await?;
    Ok(worker::ResponseBuilder::new()
        .with_status(status)
        .with_headers(headers)
        .fixed(body))
}

fn api_explain(req: &Request, origin: &OriginMode) -> Result<Response> {
    let policy = state::policy();
    let u = req.url()?;
    let mut target = None;
    let mut method = "GET".to_string();
    let mut cookie = None;
    let mut headers = Vec::new();
    for (k, v) in u.query_pairs() {
        match k.as_ref() {
            "url" => target = Some(v.into_owned()),
            "method" => method = v.into_owned(),
            "cookie" => cookie = Some(v.into_owned()),
            "header" => headers.push(v.into_owned()),
            _ => {}
        }
    }
    let bad = |d: String| {
        json(
            400,
            &Obj::new()
                .str("error", "bad_request")
                .str("detail", &d)
                .end(),
        )
    };
    let Some(mut target) = target.filter(|t| !t.is_empty()) else {
        return bad("url: required (an absolute URL, or a path of this site)".into());
    };
    if target.starts_with('/') {
        target = format!("{}{}", u.origin().ascii_serialization(), target);
    }
    let h = match explain::request_headers(&headers, cookie.as_deref()) {
        Ok(h) => h,
        Err(e) => return bad(e.0),
    };
    match explain::explain_with_origin(policy, &method, &target, &h, Some(origin)) {
        Ok(x) => json(200, &x.to_json()),
        Err(e) => bad(e.0),
    }
}

/// The purge webhook: `POST /__edgecache/purge`.
async fn purge(mut req: Request, env: &Env) -> Result<Response> {
    let token = secret(env, "PURGE_TOKEN");
    let admin = secret(env, "ADMIN_TOKEN");
    let sig_secret = secret(env, "PURGE_SECRET");
    if token.is_none() && sig_secret.is_none() {
        worker::console_error!("edgecache: purge webhook disabled: set PURGE_TOKEN or PURGE_SECRET (wrangler secret put)");
        return error(&PurgeError::Disabled);
    }
    if req.method() != Method::Post {
        return error(&PurgeError::MethodNotAllowed);
    }
    let limits = PurgeLimits::default();
    // Read at most a little over the limit: a larger body is refused with 413 either way.
    let body = req.bytes().await.unwrap_or_default();
    let now = now_ms();
    let auth_header = bearer(&req);
    let (actor, webhook) = if auth_header.is_some() {
        if token
            .as_deref()
            .is_some_and(|t| webhook_sig::bearer_matches(auth_header.as_deref(), t))
        {
            ("bearer", None)
        } else if admin
            .as_deref()
            .is_some_and(|t| webhook_sig::bearer_matches(auth_header.as_deref(), t))
        {
            ("dashboard", None)
        } else {
            return error(&PurgeError::Unauthorized);
        }
    } else {
        let h = |n: &str| req.headers().get(n).ok().flatten().unwrap_or_default();
        let (id, ts, sig) = (
            h("webhook-id"),
            h("webhook-timestamp"),
            h("webhook-signature"),
        );
        let Some(secret_bytes) = sig_secret
            .as_deref()
            .and_then(|s| webhook_sig::decode_secret(s).ok())
        else {
            return error(&PurgeError::Unauthorized);
        };
        if webhook_sig::verify(
            &secret_bytes,
            &id,
            &ts,
            &sig,
            &body,
            now / 1000,
            webhook_sig::DEFAULT_TOLERANCE_SECS,
        )
        .is_err()
        {
            return error(&PurgeError::Unauthorized);
        }
        let ts: u64 = ts.trim().parse().unwrap_or(0);
        ("signed", Some((id, ts)))
    };
    let ct = req.headers().get("content-type").ok().flatten();
    let preq = match purge::parse_purge_request(ct.as_deref(), &body, &limits) {
        Ok(p) => p,
        Err(e) => return error(&e),
    };
    let policy = state::policy();
    let site = req.url()?.origin().ascii_serialization();
    let normalise = |u: &str| {
        let abs = if u.starts_with('/') {
            format!("{site}{u}")
        } else {
            u.to_string()
        };
        crate::key::normalize_url_for_purge(&abs, policy).map_err(|e| e.to_string())
    };
    let keys = match purge::record_keys(&preq, normalise) {
        Ok(k) => k,
        Err(e) => return error(&e),
    };
    let record = preq.record(now);
    let id = purge::purge_id(now, (conv::rand01() * u64::MAX as f64) as u64);
    let mut log = PurgeLogEntry::new(id.clone(), now, &preq, actor);
    // The zone purge accelerator (CF_API_TOKEN + CF_ZONE_ID): the ledger stores this job and
    // makes its calls after recording the KV records, off this answer's path.
    let job = super::zone::config(env).map(|_| {
        let url_keys: Vec<String> = preq.urls.iter().filter_map(|u| normalise(u).ok()).collect();
        let site_host = req
            .url()
            .ok()
            .and_then(|u| u.host_str().map(str::to_string));
        let plan =
            purge::zone::plan_zone_purge(&preq, &url_keys, site_host.as_deref().unwrap_or(""));
        purge::zone::ZoneJob::new(&id, &plan, now)
    });
    log.zone = job.as_ref().map(purge::zone::ZoneJob::status);
    // Only with the accelerator configured: "queued" (the ledger calls the zone purge API
    // next) or "kv-only" (nothing the API can express, e.g. a soft purge).
    let zone_queued = job
        .as_ref()
        .map(|j| if j.finished() { "kv-only" } else { "queued" });
    let cmd = PurgeCommand {
        keys: keys.clone(),
        record: record.encode(),
        ttl: purge::record_expiration_ttl(crate::decision::MAX_ENTRY_KEEP_SECS),
        webhook,
        log,
        zone: job.filter(|j| !j.finished()).map(|j| j.to_json()),
    };
    let body = cmd.to_json();
    let r = conv::request(
        "https://ledger/purge",
        "POST",
        None,
        Some(body.into()),
        false,
    )?;
    // Anything but the ledger's JSON answer means nothing may have been recorded: say so
    // (never 202 for a purge that did not happen).
    let unavailable = |why: String| {
        worker::console_error!("edgecache: purge ledger failed: {why}");
        json(
            503,
            r#"{"error":"ledger_unavailable","detail":"the purge could not be recorded; retry"}"#,
        )
    };
    let mut ans = match ledger(env)?.fetch_with_request(r).await {
        Ok(a) => a,
        Err(e) => return unavailable(e.to_string()),
    };
    if ans.status_code() != 200 {
        let body = ans.text().await.unwrap_or_default();
        return unavailable(format!("{} {body}", ans.status_code()));
    }
    let text = ans.text().await.unwrap_or_default();
    let replayed = Json::parse(&text)
        .ok()
        .and_then(|v| v.get("replayed").and_then(Json::as_bool));
    let Some(replayed) = replayed else {
        return unavailable(format!("unexpected answer {text:?}"));
    };
    if replayed {
        return error(&PurgeError::Unauthorized);
    }
    // This location sees its own purge at once.
    let seen = now_ms();
    state::with_memo(|m| {
        for k in &keys {
            m.insert(k, Some(record), now);
        }
    });
    for k in &keys {
        super::purge_check::note(k, Some(record), seen);
        super::purge_check::note_local(env, k, record);
    }
    let cache = Cache::default();
    let mut urls = Vec::new();
    for u in &preq.urls {
        if let Ok(k) = normalise(u) {
            let _ = cache.delete(k.as_str(), true).await;
            urls.push(k);
        }
    }
    metrics::purge();
    let recorded = Obj::new()
        .strs("tags", &preq.tags)
        .strs("urls", &urls)
        .strs("prefixes", &preq.prefixes)
        .bool("everything", preq.everything)
        .bool("soft", preq.soft)
        .end();
    let out = Obj::new()
        .str("id", &id)
        .raw("recorded", &recorded)
        .u64("keys", keys.len() as u64)
        .u64("at_ms", now)
        .u64("propagation_bound_secs", propagation_bound_secs(env));
    let out = match zone_queued {
        Some(z) => out.str("zone_purge", z).end(),
        None => out.end(),
    };
    json(202, &out)
}

fn ledger(env: &Env) -> Result<worker::Stub> {
    env.durable_object("PURGE_LEDGER")?.get_by_name("global")
}

/// The purge snapshot from the ledger itself (which publishes it to KV if it never did): used
/// when KV has none yet. `None` when the ledger cannot be reached or answers anything else.
pub async fn ledger_snapshot(env: &Env) -> Option<purge::PurgeSnapshot> {
    let req = conv::request("https://ledger/snapshot", "GET", None, None, false).ok()?;
    let mut ans = ledger(env).ok()?.fetch_with_request(req).await.ok()?;
    if ans.status_code() != 200 {
        return None;
    }
    purge::PurgeSnapshot::decode(&ans.text().await.ok()?)
}

/// The metrics hub stub.
pub fn hub(env: &Env) -> Result<worker::Stub> {
    env.durable_object("METRICS_HUB")?.get_by_name("global")
}
