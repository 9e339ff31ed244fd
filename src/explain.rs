//! "What would edgecache do with this request?": the same [`plan_request`] the worker runs,
//! rendered for people (CLI `edgecache explain`, dashboard `GET /__edgecache/api/explain`).

use crate::decision::{plan_request, RequestPlan};
use crate::duration::format_duration;
use crate::json::{Arr, Obj};
use crate::origin::OriginMode as Origin;
use crate::policy::{OriginMode, Policy};
use http::{HeaderMap, HeaderName, HeaderValue, Method};

/// An explanation of one request.
#[derive(Debug, Clone)]
pub struct Explanation {
    /// `cache` or `bypass`.
    pub decision: &'static str,
    /// Why (the bypass reason, or what the cache will do).
    pub reason: String,
    /// Matched rule name.
    pub rule: String,
    /// Matched rule index (`rules.len()` for the default rule).
    pub rule_index: usize,
    /// Cache key (empty on bypass).
    pub key: String,
    /// Edge TTL of the rule (formatted); empty on bypass.
    pub edge_ttl: String,
    /// Browser TTL of the rule.
    pub browser_ttl: String,
    /// Stale-while-revalidate window.
    pub swr: String,
    /// Stale-if-error window.
    pub sie: String,
    /// `respect`, `override` or `cap`.
    pub mode: &'static str,
    /// What happens to the request's cookies.
    pub cookies: String,
    /// Request headers sent to the origin, each as `name (why)` (see [`crate::forward::Why`]);
    /// on a bypass, every header (forwarded untouched).
    pub forwarded: Vec<String>,
    /// Request headers the key holds: the rule's `key.vary` (and `cookie` in `allow` mode),
    /// `host` when the key includes it. Empty on bypass.
    pub keyed: Vec<String>,
    /// Request headers not sent to the origin (empty on bypass).
    pub not_forwarded: Vec<String>,
    /// The path and query the origin is sent (the key's; on bypass, the client's).
    pub origin_target: String,
    /// The origin mode (`same-zone`, `origin`, `origin-site-host`); empty when not given.
    pub origin_mode: String,
    /// Where the origin request goes (empty when no origin mode was given).
    pub origin_url: String,
    /// The `Host` the origin sees (empty when no origin mode was given).
    pub origin_host: String,
    /// `cf.resolveOverride` of the origin request (empty when none).
    pub origin_resolve: String,
    /// The whole explanation as text (what the CLI prints).
    pub text: String,
}

impl Explanation {
    /// As a JSON object (the dashboard's explain API), fields named as in this struct.
    pub fn to_json(&self) -> String {
        Obj::new()
            .str("decision", self.decision)
            .str("reason", &self.reason)
            .str("rule", &self.rule)
            .u64("rule_index", self.rule_index as u64)
            .str("key", &self.key)
            .str("edge_ttl", &self.edge_ttl)
            .str("browser_ttl", &self.browser_ttl)
            .str("swr", &self.swr)
            .str("sie", &self.sie)
            .str("mode", self.mode)
            .str("cookies", &self.cookies)
            .strs("forwarded", &self.forwarded)
            .strs("keyed", &self.keyed)
            .strs("not_forwarded", &self.not_forwarded)
            .str("origin_target", &self.origin_target)
            .str("origin_mode", &self.origin_mode)
            .str("origin_url", &self.origin_url)
            .str("origin_host", &self.origin_host)
            .str("origin_resolve", &self.origin_resolve)
            .str("text", &self.text)
            .end()
    }
}

/// Errors in an explain request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExplainError(pub String);

impl std::fmt::Display for ExplainError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// Builds the request headers from `Name: value` lines and a cookie string.
pub fn request_headers(
    headers: &[String],
    cookie: Option<&str>,
) -> Result<HeaderMap, ExplainError> {
    let mut h = HeaderMap::new();
    for line in headers {
        let (k, v) = line
            .split_once(':')
            .ok_or_else(|| ExplainError(format!("header {line:?}: expected 'Name: value'")))?;
        let name = HeaderName::from_bytes(k.trim().as_bytes())
            .map_err(|_| ExplainError(format!("header {k:?}: not a valid header name")))?;
        let value = HeaderValue::from_str(v.trim())
            .map_err(|_| ExplainError(format!("header {k:?}: not a valid header value")))?;
        h.append(name, value);
    }
    if let Some(c) = cookie.filter(|c| !c.trim().is_empty()) {
        let v = HeaderValue::from_str(c.trim())
            .map_err(|_| ExplainError("cookie: not a valid header value".into()))?;
        h.append(http::header::COOKIE, v);
    }
    Ok(h)
}

/// Explains what the worker would do with `method url` and `headers` (origin not shown).
pub fn explain(
    policy: &Policy,
    method: &str,
    url: &str,
    headers: &HeaderMap,
) -> Result<Explanation, ExplainError> {
    explain_with_origin(policy, method, url, headers, None)
}

/// [`explain`], plus where the origin request goes under `origin` (the worker's `ORIGIN`
/// setting, see [`crate::origin`]): its URL, the `Host` the origin sees, any DNS override.
pub fn explain_with_origin(
    policy: &Policy,
    method: &str,
    url: &str,
    headers: &HeaderMap,
    origin: Option<&Origin>,
) -> Result<Explanation, ExplainError> {
    if !crate::key::plain_authority(url) {
        return Err(ExplainError(format!(
            "url {url:?}: {}",
            crate::key::NON_ASCII_HOST
        )));
    }
    let url = url::Url::parse(url)
        .map_err(|e| ExplainError(format!("url {url:?}: {e} (give an absolute http(s) URL)")))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(ExplainError(format!(
            "url: scheme {:?} is not http(s)",
            url.scheme()
        )));
    }
    let method = Method::from_bytes(method.to_ascii_uppercase().as_bytes())
        .map_err(|_| ExplainError(format!("method {method:?}: not a valid method")))?;
    let plan = plan_request(policy, &method, &url, headers);
    let rule = plan.rule();
    let fmt = |s: u64| format_duration(s);
    let cached = matches!(plan, RequestPlan::Cache(_));
    let mut forwarded: Vec<String> = Vec::new();
    let mut keyed: Vec<String> = Vec::new();
    let mut not_forwarded: Vec<String> = Vec::new();
    let mut origin_target = match url.query() {
        Some(q) => format!("{}?{q}", url.path()),
        None => url.path().to_string(),
    };
    let (reason, key, cookies) = match &plan {
        RequestPlan::Bypass { reason, .. } => {
            let why = match reason {
                crate::decision::BypassReason::Cookie(name) => {
                    format!("cookie: the request carries {name:?}, a bypass cookie of rule {:?}", rule.name)
                }
                crate::decision::BypassReason::Method => format!("method: {method} is never cached; forwarded untouched"),
                crate::decision::BypassReason::Rule => format!("rule: {:?} has bypass = true", rule.name),
                crate::decision::BypassReason::Authorization => {
                    "authorization: the request carries Authorization and the rule is not public_authorization".into()
                }
                crate::decision::BypassReason::Upgrade => "upgrade: protocol upgrades are never cached".into(),
                crate::decision::BypassReason::Body => {
                    "get-body: a GET/HEAD with a body is never served from or stored in the cache".into()
                }
                crate::decision::BypassReason::MethodOverride(h) => format!(
                    "method-override: {h} may turn the GET into another method; never cached"
                ),
            };
            for name in headers.keys() {
                forwarded.push(format!("{} (bypass: untouched)", name.as_str()));
            }
            (why, String::new(), "forwarded untouched".to_string())
        }
        RequestPlan::Cache(c) => {
            let how = match rule.origin_cache_control {
                OriginMode::Respect => {
                    "origin Cache-Control / CDN-Cache-Control decides freshness (RFC 9111)"
                }
                OriginMode::Override => "the rule's TTLs win over the origin's headers",
                OriginMode::Cap => "the origin's freshness, capped at the rule's edge TTL",
            };
            let cookies = if c.cookies_dropped.is_empty() {
                format!("mode {}: nothing removed", rule.cookies.mode.as_str())
            } else {
                format!(
                    "mode {}: removed before the origin: {}",
                    rule.cookies.mode.as_str(),
                    c.cookies_dropped.join(", ")
                )
            };
            for (name, why) in &c.forwarded {
                forwarded.push(format!("{} ({})", name.as_str(), why.as_str()));
            }
            keyed = rule
                .key
                .vary
                .iter()
                .map(|h| h.as_str().to_string())
                .collect();
            if rule.cookies.mode == crate::policy::CookieMode::Allow {
                keyed.push("cookie (cookies.allow)".into());
            }
            if rule.key.include_host {
                keyed.push("host".into());
            }
            for name in &c.headers_dropped {
                let known = crate::forward::KNOWN_UNKEYED_INPUTS.contains(&name.as_str());
                not_forwarded.push(if known {
                    format!("{} (unkeyed input)", name.as_str())
                } else {
                    name.as_str().to_string()
                });
            }
            origin_target = c.origin_path_and_query.clone();
            (format!("cacheable: {how}"), c.key.clone(), cookies)
        }
    };
    let mut text = String::new();
    text.push_str(&format!("request     {method} {url}\n"));
    text.push_str(&format!(
        "rule        #{} {:?} ({})\n",
        rule.index,
        rule.name,
        rule.when.describe()
    ));
    text.push_str(&format!("decision    {}\n", plan.as_str()));
    text.push_str(&format!("reason      {reason}\n"));
    if !key.is_empty() {
        text.push_str(&format!("cache key   {key}\n"));
        text.push_str(&format!(
            "mode        {}\n",
            rule.origin_cache_control.as_str()
        ));
        text.push_str(&format!(
            "edge ttl    {}  (swr {}, sie {})\n",
            fmt(rule.edge_ttl),
            fmt(rule.stale_while_revalidate),
            fmt(rule.stale_if_error)
        ));
        text.push_str(&format!("browser ttl {}\n", fmt(rule.browser_ttl)));
    }
    text.push_str(&format!("cookies     {cookies}\n"));
    text.push_str(&format!("origin gets {origin_target}\n"));
    let list = |v: &[String]| {
        if v.is_empty() {
            "(none)".to_string()
        } else {
            v.join(", ")
        }
    };
    text.push_str(&format!("forwarded   {}\n", list(&forwarded)));
    if cached {
        text.push_str(&format!("keyed       {}\n", list(&keyed)));
        text.push_str(&format!("dropped     {}\n", list(&not_forwarded)));
    }
    let target = origin.map(|o| (o, crate::origin::origin_target(o, &url)));
    if let Some((o, t)) = &target {
        text.push_str(&format!(
            "origin      {}: {method} {} (Host: {}{})\n",
            o.as_str(),
            t.url,
            t.host,
            t.resolve_override
                .as_deref()
                .map(|r| format!("; connects to {r} via resolveOverride"))
                .unwrap_or_default()
        ));
        if let Err(e) = o.check_client_host(url.host_str().unwrap_or("")) {
            text.push_str(&format!("            refused: {e}\n"));
        }
    }
    // A bypassed request is never cached: no TTLs apply to it (empty strings).
    let ttl = |secs: u64| if cached { fmt(secs) } else { String::new() };
    Ok(Explanation {
        decision: plan.as_str(),
        reason,
        rule: rule.name.clone(),
        rule_index: rule.index,
        edge_ttl: ttl(rule.edge_ttl),
        browser_ttl: ttl(rule.browser_ttl),
        swr: ttl(rule.stale_while_revalidate),
        sie: ttl(rule.stale_if_error),
        key,
        mode: rule.origin_cache_control.as_str(),
        cookies,
        forwarded,
        keyed,
        not_forwarded,
        origin_target,
        origin_mode: target
            .as_ref()
            .map(|(o, _)| o.as_str().to_string())
            .unwrap_or_default(),
        origin_url: target
            .as_ref()
            .map(|(_, t)| t.url.to_string())
            .unwrap_or_default(),
        origin_host: target
            .as_ref()
            .map(|(_, t)| t.host.clone())
            .unwrap_or_default(),
        origin_resolve: target
            .as_ref()
            .and_then(|(_, t)| t.resolve_override.clone())
            .unwrap_or_default(),
        text,
    })
}

/// [`policy_json`] plus `"origin"`: the worker's origin mode ([`Origin::to_json`]).
pub fn policy_json_with_origin(policy: &Policy, file: &str, origin: &Origin) -> String {
    let base = policy_json(policy, file);
    // `policy_json` is an object: insert the member before its closing brace.
    match base.strip_suffix('}') {
        Some(head) => format!("{head},\"origin\":{}}}", origin.to_json()),
        None => base,
    }
}

/// The policy's rules for the dashboard (`GET /__edgecache/api/policy`), as JSON.
pub fn policy_json(policy: &Policy, file: &str) -> String {
    let fmt = |s: u64| format_duration(s);
    let mut rules = Arr::new();
    for r in policy.rules.iter().chain(std::iter::once(&policy.defaults)) {
        let o = Obj::new()
            .u64("index", r.index as u64)
            .str("name", &r.name)
            .str("match", &r.when.describe())
            .str("mode", r.origin_cache_control.as_str())
            .str("edge_ttl", &fmt(r.edge_ttl))
            .str("browser_ttl", &fmt(r.browser_ttl))
            .str("swr", &fmt(r.stale_while_revalidate))
            .str("sie", &fmt(r.stale_if_error))
            .bool("bypass", r.bypass);
        rules = rules.raw(&o.end());
    }
    Obj::new()
        .str("file", file)
        .raw("rules", &rules.end())
        .end()
}

/// The dashboard's explain API (`GET /__edgecache/api/explain?url=&method=&cookie=&header=`):
/// `(status, JSON body)` for the API request's URL `api_url` (its query; a path-only `url` is
/// resolved against its origin). 400 with `{"error":"bad_request","detail"}` for bad input.
pub fn api_query(policy: &Policy, api_url: &url::Url, origin: &Origin) -> (u16, String) {
    let mut target = None;
    let mut method = "GET".to_string();
    let mut cookie = None;
    let mut headers = Vec::new();
    for (k, v) in api_url.query_pairs() {
        match k.as_ref() {
            "url" => target = Some(v.into_owned()),
            "method" => method = v.into_owned(),
            "cookie" => cookie = Some(v.into_owned()),
            "header" => headers.push(v.into_owned()),
            _ => {}
        }
    }
    let bad = |d: &str| {
        let body = Obj::new()
            .str("error", "bad_request")
            .str("detail", d)
            .end();
        (400, body)
    };
    let Some(mut target) = target.filter(|t| !t.is_empty()) else {
        return bad("url: required (an absolute URL, or a path of this site)");
    };
    if target.starts_with('/') {
        target = format!("{}{}", api_url.origin().ascii_serialization(), target);
    }
    let h = match request_headers(&headers, cookie.as_deref()) {
        Ok(h) => h,
        Err(e) => return bad(&e.0),
    };
    match explain_with_origin(policy, &method, &target, &h, Some(origin)) {
        Ok(x) => (200, x.to_json()),
        Err(e) => bad(&e.0),
    }
}
