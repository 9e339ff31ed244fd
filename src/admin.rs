//! Everything edgecache serves itself under `/__edgecache/`: which route a request is, who may
//! call it, and the purge webhook's steps around the ledger. Pure: the adapter passes the path,
//! method, `Authorization` header and secrets, and carries out the [`AdminRoute`].

use crate::policy::Policy;
use crate::purge::{Accepted, PurgeError, PurgeLimits, Secrets, Signed};

/// URL prefix of everything edgecache serves itself.
pub const PREFIX: &str = "/__edgecache";

/// The answer to an unknown `/__edgecache/api/...` endpoint (404).
pub const API_NOT_FOUND_JSON: &str = r#"{"error":"not_found","detail":"no such API endpoint"}"#;
/// The answer to a dashboard file asked for with a method other than GET or HEAD (405).
pub const ASSET_METHOD_JSON: &str = r#"{"error":"method_not_allowed","detail":"use GET"}"#;
/// The webhook's answer when the ledger did not record the purge (503: never 202 for a purge
/// that did not happen).
pub const LEDGER_UNAVAILABLE_JSON: &str =
    r#"{"error":"ledger_unavailable","detail":"the purge could not be recorded; retry"}"#;
/// How long the purge webhook waits for the ledger to record a purge (milliseconds). A call
/// that got no answer by then is cut (`AbortSignal.timeout`), so a stalled Durable Object never
/// holds the CMS's call open; 50 concurrent purges take well under a second locally.
pub const LEDGER_TIMEOUT_MS: u64 = 20_000;
/// How long the purge webhook waits for this location's copies of the purged URLs to be
/// deleted (milliseconds, for all of a call's URLs: at most `max_urls`, 100). The purge is recorded
/// before: a copy that is still there is a purged entry to every request (its record is newer),
/// so a stalled Cache API delays the answer by this much and no more, and the answer is 202 all
/// the same.
pub const LOCAL_DELETE_TIMEOUT_MS: u64 = 5_000;
/// The webhook's answer when the ledger did not answer within [`LEDGER_TIMEOUT_MS`]: 504. The
/// ledger may still record it, so a retry is safe either way: a bearer call's retry records
/// the same purge again (purges are idempotent), a signed call's retry reuses its
/// `webhook-id` and is answered [`WEBHOOK_DUPLICATE_JSON`] if the first one was recorded.
pub const LEDGER_TIMEOUT_JSON: &str = r#"{"error":"ledger_timeout","detail":"the purge ledger did not answer within 20 s; the purge may still be recorded; retry (with the same webhook-id for a signed call)"}"#;
/// The webhook's answer to a signed call whose `webhook-id` the ledger accepted before (within
/// the replay window): 200, and nothing is purged or logged again. A Standard Webhooks sender
/// retries with the same id when it lost an answer (our 504, a network cut); a success is what
/// stops its retries. Someone replaying a captured call within the window gets the same answer
/// and purges nothing.
pub const WEBHOOK_DUPLICATE_JSON: &str = r#"{"duplicate":true,"detail":"this webhook-id was accepted before; nothing was purged again"}"#;

/// The status and JSON body of a ledger call that failed `waited_ms` after it was sent: cut at
/// [`LEDGER_TIMEOUT_MS`] (504 [`LEDGER_TIMEOUT_JSON`]), or failed sooner (503
/// [`LEDGER_UNAVAILABLE_JSON`]).
pub fn ledger_failure(waited_ms: u64) -> (u16, &'static str) {
    cut_or_failed(
        waited_ms,
        LEDGER_TIMEOUT_MS,
        LEDGER_TIMEOUT_JSON,
        LEDGER_UNAVAILABLE_JSON,
    )
}

/// A Durable Object call that failed `waited_ms` after it was sent, under a deadline of
/// `limit_ms`: 504 `cut` when the deadline cut it, else 503 `failed`.
fn cut_or_failed(
    waited_ms: u64,
    limit_ms: u64,
    cut: &'static str,
    failed: &'static str,
) -> (u16, &'static str) {
    if waited_ms >= limit_ms {
        (504, cut)
    } else {
        (503, failed)
    }
}
/// How long a read of the purge log or the stats may wait for its Durable Object (milliseconds).
/// The dashboard polls both; a call that got no answer by then is cut (the runtime's
/// `AbortSignal.timeout`), so no admin read can hang, and the poller's next call is a new
/// request to the object.
pub const OBJECT_READ_TIMEOUT_MS: u64 = 10_000;
/// The answer to a read whose Durable Object did not answer in [`OBJECT_READ_TIMEOUT_MS`]: 504.
pub const OBJECT_TIMEOUT_JSON: &str =
    r#"{"error":"object_timeout","detail":"the Durable Object did not answer within 10 s; retry"}"#;
/// The answer to a read whose Durable Object could not be reached: 503.
pub const OBJECT_UNAVAILABLE_JSON: &str =
    r#"{"error":"object_unavailable","detail":"the Durable Object could not be reached; retry"}"#;

/// The status and JSON body of a Durable Object read that failed `waited_ms` after it was sent
/// (cut at [`OBJECT_READ_TIMEOUT_MS`], or failed sooner).
pub fn object_read_failure(waited_ms: u64) -> (u16, &'static str) {
    cut_or_failed(
        waited_ms,
        OBJECT_READ_TIMEOUT_MS,
        OBJECT_TIMEOUT_JSON,
        OBJECT_UNAVAILABLE_JSON,
    )
}

/// Said on the console when the webhook is called but not configured.
pub const WEBHOOK_DISABLED_LOG: &str =
    "edgecache: purge webhook disabled: set PURGE_TOKEN or PURGE_SECRET (wrangler secret put)";

/// What a `/__edgecache...` request is, once its caller is checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AdminRoute<'a> {
    /// `GET /health`: "ok".
    Health,
    /// `/purge`: the webhook (it authenticates its callers itself: [`Secrets::authorize_purge`]).
    Purge,
    /// `/purges`, `/api/purges`: the ledger's log (admin or purge token).
    Log,
    /// `/api/stats`: the metrics hub's stats (admin token).
    Stats,
    /// `/api/policy`: the policy as JSON (admin token).
    Policy,
    /// `/api/explain`: the explain API (admin token).
    Explain,
    /// The caller may not: this error.
    Denied(PurgeError),
    /// An unknown API endpoint: 404 [`API_NOT_FOUND_JSON`].
    ApiNotFound,
    /// A dashboard file asked for with another method than GET/HEAD: 405 [`ASSET_METHOD_JSON`].
    AssetMethodNotAllowed,
    /// `/__edgecache` itself: redirect (308) to `/__edgecache/`, so relative asset URLs resolve.
    Redirect,
    /// A dashboard file: this path in the assets (`/` is `/index.html`).
    Asset(&'a str),
}

/// The route of a request for `path` (the URL path, starting with [`PREFIX`]) with `method`
/// and `authorization`, given the configured `secrets`.
pub fn route<'a>(
    path: &'a str,
    method: &str,
    secrets: &Secrets,
    authorization: Option<&str>,
) -> AdminRoute<'a> {
    let sub = path.strip_prefix(PREFIX).unwrap_or("");
    let admin = |r| match secrets.admin_ok(authorization) {
        true => r,
        false => AdminRoute::Denied(PurgeError::Unauthorized),
    };
    match sub {
        "/health" => AdminRoute::Health,
        "/purge" => AdminRoute::Purge,
        "/purges" | "/api/purges" => match secrets.purge_token_ok(authorization) {
            true => AdminRoute::Log,
            false => admin(AdminRoute::Log),
        },
        "/api/stats" => admin(AdminRoute::Stats),
        "/api/policy" => admin(AdminRoute::Policy),
        "/api/explain" => admin(AdminRoute::Explain),
        _ if sub.starts_with("/api/") => AdminRoute::ApiNotFound,
        _ if !matches!(method, "GET" | "HEAD") => AdminRoute::AssetMethodNotAllowed,
        "" => AdminRoute::Redirect,
        "/" => AdminRoute::Asset("/index.html"),
        _ => AdminRoute::Asset(sub),
    }
}

/// Whether the webhook takes a call with `method` at all: not when no purge token or signing
/// secret is set ([`PurgeError::Disabled`]: say [`WEBHOOK_DISABLED_LOG`]), only `POST`.
pub fn webhook_open(secrets: &Secrets, method: &str) -> Result<(), PurgeError> {
    if !secrets.webhook_enabled() {
        return Err(PurgeError::Disabled);
    }
    match method {
        "POST" => Ok(()),
        _ => Err(PurgeError::MethodNotAllowed),
    }
}

/// A webhook call as received (header values and body).
#[derive(Debug, Clone, Default)]
pub struct WebhookCall<'a> {
    /// `Authorization`.
    pub authorization: Option<&'a str>,
    /// The Standard Webhooks headers.
    pub signed: Signed<'a>,
    /// `Content-Type`.
    pub content_type: Option<&'a str>,
    /// The body.
    pub body: &'a [u8],
}

/// Admits a webhook call at `now_ms` for the site at `url`: authenticated first (a caller
/// without the token or a valid signature learns nothing about its body), then parsed, then
/// accepted ([`crate::purge::accept`]: records with the KV expiration of the longest an entry
/// can live). `zone_on`: whether the zone purge accelerator is configured (asked only for an
/// authenticated, valid call); `random`: a random number (the purge id).
pub fn admit(
    secrets: &Secrets,
    call: &WebhookCall<'_>,
    url: &url::Url,
    policy: &Policy,
    zone_on: impl FnOnce() -> bool,
    now_ms: u64,
    random: u64,
) -> Result<Accepted, PurgeError> {
    let caller =
        secrets.authorize_purge(call.authorization, &call.signed, call.body, now_ms / 1000)?;
    let req =
        crate::purge::parse_purge_request(call.content_type, call.body, &PurgeLimits::default())?;
    crate::purge::accept(
        &req,
        &caller,
        &url.origin().ascii_serialization(),
        url.host_str().unwrap_or(""),
        |u| crate::key::normalize_url_for_purge(u, policy).map_err(|e| e.to_string()),
        crate::purge::record_expiration_ttl(crate::decision::MAX_ENTRY_KEEP_SECS),
        zone_on(),
        now_ms,
        random,
    )
}

/// What the ledger's answer to a purge command means for the webhook.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LedgerReply {
    /// Recorded: apply it here, answer 202.
    Recorded,
    /// The signed call's id was accepted before: 200 [`WEBHOOK_DUPLICATE_JSON`], nothing done
    /// again.
    Replayed,
    /// Anything else: it may or may not have been recorded; [`ledger_failure`] (504 when the
    /// call was cut, else 503), and say why on the console.
    Unavailable(String),
}

/// Reads the ledger's answer: `Err` when it could not be asked, else its status and body.
pub fn ledger_reply(answer: Result<(u16, String), String>) -> LedgerReply {
    match answer {
        Err(why) => LedgerReply::Unavailable(why),
        Ok((200, text)) => match crate::purge::parse_replayed(&text) {
            Some(true) => LedgerReply::Replayed,
            Some(false) => LedgerReply::Recorded,
            None => LedgerReply::Unavailable(format!("unexpected answer {text:?}")),
        },
        Ok((status, text)) => LedgerReply::Unavailable(format!("{status} {text}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secrets() -> Secrets {
        Secrets {
            purge_token: Some("p".into()),
            admin_token: Some("a".into()),
            purge_secret: None,
        }
    }

    #[test]
    fn an_object_call_cut_at_its_deadline_is_a_504_an_earlier_failure_a_503() {
        type Mapping = fn(u64) -> (u16, &'static str);
        let cases: [(Mapping, u64, &str, &str); 2] = [
            (
                object_read_failure,
                OBJECT_READ_TIMEOUT_MS,
                "object_timeout",
                "object_unavailable",
            ),
            (
                ledger_failure,
                LEDGER_TIMEOUT_MS,
                "ledger_timeout",
                "ledger_unavailable",
            ),
        ];
        let error = |body: &str| {
            let j = crate::json::Json::parse(body).expect("JSON");
            j.get("error").and_then(|e| e.as_str()).map(str::to_string)
        };
        for (failure, limit, cut, failed) in cases {
            let (status, body) = failure(limit);
            assert_eq!((status, error(body).as_deref()), (504, Some(cut)));
            let secs = format!("within {} s", limit / 1000);
            assert!(body.contains(&secs), "{body} says {secs}");
            for waited in [0, 3, limit - 1] {
                let (status, body) = failure(waited);
                assert_eq!((status, error(body).as_deref()), (503, Some(failed)));
            }
        }
    }

    #[test]
    fn a_repeated_webhook_id_is_answered_as_a_duplicate_not_an_error() {
        let j = crate::json::Json::parse(WEBHOOK_DUPLICATE_JSON).expect("JSON");
        assert_eq!(j.get("duplicate").and_then(|d| d.as_bool()), Some(true));
        assert!(j.get("error").is_none(), "a duplicate is not an error");
    }

    #[test]
    fn routes_and_who_may_call_them() {
        let s = secrets();
        let r = |path, method, auth| route(path, method, &s, auth);
        let denied = AdminRoute::Denied(PurgeError::Unauthorized);
        assert_eq!(r("/__edgecache/health", "GET", None), AdminRoute::Health);
        assert_eq!(r("/__edgecache/purge", "PUT", None), AdminRoute::Purge);
        assert_eq!(
            r("/__edgecache/purges", "GET", Some("Bearer p")),
            AdminRoute::Log
        );
        assert_eq!(
            r("/__edgecache/api/purges", "GET", Some("Bearer a")),
            AdminRoute::Log
        );
        assert_eq!(
            r("/__edgecache/api/purges", "GET", Some("Bearer x")),
            denied
        );
        for p in [
            "/__edgecache/api/stats",
            "/__edgecache/api/policy",
            "/__edgecache/api/explain",
        ] {
            assert_eq!(
                r(p, "GET", Some("Bearer p")),
                denied,
                "{p}: the purge token is not admin"
            );
            assert_eq!(r(p, "GET", None), denied);
            assert_ne!(r(p, "GET", Some("Bearer a")), denied);
        }
        assert_eq!(
            r("/__edgecache/api/nope", "GET", None),
            AdminRoute::ApiNotFound
        );
        assert_eq!(r("/__edgecache", "GET", None), AdminRoute::Redirect);
        assert_eq!(
            r("/__edgecache/", "HEAD", None),
            AdminRoute::Asset("/index.html")
        );
        assert_eq!(
            r("/__edgecache/app.js", "GET", None),
            AdminRoute::Asset("/app.js")
        );
        assert_eq!(
            r("/__edgecache/app.js", "POST", None),
            AdminRoute::AssetMethodNotAllowed
        );
    }

    #[test]
    fn admin_falls_back_to_the_purge_token() {
        let s = Secrets {
            admin_token: None,
            ..secrets()
        };
        assert_eq!(
            route("/__edgecache/api/stats", "GET", &s, Some("Bearer p")),
            AdminRoute::Stats
        );
    }

    #[test]
    fn the_webhook_is_open_only_when_configured_and_for_post() {
        assert_eq!(webhook_open(&secrets(), "POST"), Ok(()));
        assert_eq!(
            webhook_open(&secrets(), "GET"),
            Err(PurgeError::MethodNotAllowed)
        );
        assert_eq!(
            webhook_open(&Secrets::default(), "POST"),
            Err(PurgeError::Disabled)
        );
    }

    #[test]
    fn a_call_is_authenticated_before_its_body_is_read() {
        let url = url::Url::parse("https://s.test/__edgecache/purge").unwrap();
        let policy = Policy::from_rules(crate::policy::Rule::builtin_default(), vec![]);
        let admit = |auth, body: &'static str| {
            let call = WebhookCall {
                authorization: auth,
                content_type: Some("application/json"),
                body: body.as_bytes(),
                ..WebhookCall::default()
            };
            admit(&secrets(), &call, &url, &policy, || false, 1_000_000, 7)
        };
        assert_eq!(
            admit(None, "not json").unwrap_err(),
            PurgeError::Unauthorized
        );
        assert_eq!(
            admit(Some("Bearer x"), "not json").unwrap_err(),
            PurgeError::Unauthorized
        );
        assert!(matches!(
            admit(Some("Bearer p"), "not json"),
            Err(PurgeError::BadRequest(_))
        ));
        let ok = admit(Some("Bearer p"), r#"{"urls":["/a"]}"#).unwrap();
        assert_eq!((ok.at_ms, ok.urls.len()), (1_000_000, 1));
        assert!(ok.urls[0].contains("s.test/a"), "{:?}", ok.urls);
    }

    #[test]
    fn only_the_ledgers_json_answer_means_recorded() {
        let ok = |t: &str| ledger_reply(Ok((200, t.into())));
        assert_eq!(ok(r#"{"replayed":false}"#), LedgerReply::Recorded);
        assert_eq!(ok(r#"{"replayed":true}"#), LedgerReply::Replayed);
        assert!(matches!(ok("hm"), LedgerReply::Unavailable(w) if w.contains("unexpected")));
        assert_eq!(
            ledger_reply(Ok((500, "boom".into()))),
            LedgerReply::Unavailable("500 boom".into())
        );
        assert_eq!(
            ledger_reply(Err("down".into())),
            LedgerReply::Unavailable("down".into())
        );
    }
}
