//! An authenticated, parsed purge turned into what the adapter carries out: the ledger command,
//! the URL keys to delete from this location's cache, the records to apply locally at once,
//! and the webhook's answer. Pure: the adapter passes the time, a random number, the URL
//! normaliser (`key::normalize_url_for_purge` with the policy) and whether the zone purge
//! accelerator is configured.

use super::auth::Caller;
use super::error::PurgeError;
use super::ledger::PurgeCommand;
use super::log::{purge_id, PurgeLogEntry};
use super::record::PurgeRecord;
use super::request::PurgeRequest;
use super::zone::{self, ZoneJob};
use crate::json::Obj;

/// What one accepted purge does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Accepted {
    /// The purge id.
    pub id: String,
    /// When it was accepted (ms).
    pub at_ms: u64,
    /// Its record.
    pub record: PurgeRecord,
    /// The command for the ledger (its keys are the record keys).
    pub command: PurgeCommand,
    /// The URLs as cache keys (this location deletes them from its cache at once).
    pub urls: Vec<String>,
    /// Only with the accelerator configured: `"queued"` (the ledger calls the zone purge API
    /// next) or `"kv-only"` (nothing the API can express, e.g. a soft purge).
    pub zone_queued: Option<&'static str>,
    tags: Vec<String>,
    prefixes: Vec<String>,
    everything: bool,
    soft: bool,
}

/// Plans an accepted purge. `site` is the origin (`scheme://host[:port]`) that received it:
/// path-only URLs are resolved against it; `site_host` its host (for zone prefixes);
/// `record_ttl` the KV expiration of the records; `zone_on` whether the accelerator is
/// configured. Fails with the offending item when a URL or prefix has no record key.
#[allow(clippy::too_many_arguments, reason = "every input of the plan, named")]
pub fn accept(
    req: &PurgeRequest,
    caller: &Caller,
    site: &str,
    site_host: &str,
    normalise: impl Fn(&str) -> Result<String, String>,
    record_ttl: u64,
    zone_on: bool,
    now_ms: u64,
    random: u64,
) -> Result<Accepted, PurgeError> {
    let normalise = |u: &str| {
        if u.starts_with('/') {
            normalise(&format!("{site}{u}"))
        } else {
            normalise(u)
        }
    };
    let keys = super::keys::record_keys(req, normalise)?;
    let record = req.record(now_ms);
    let id = purge_id(now_ms, random);
    let urls: Vec<String> = req.urls.iter().filter_map(|u| normalise(u).ok()).collect();
    let mut log = PurgeLogEntry::new(id.clone(), now_ms, req, caller.as_str());
    let job = zone_on.then(|| {
        let plan = zone::plan_zone_purge(req, &urls, site_host);
        ZoneJob::new(&id, &plan, now_ms)
    });
    log.zone = job.as_ref().map(ZoneJob::status);
    let zone_queued = job
        .as_ref()
        .map(|j| if j.finished() { "kv-only" } else { "queued" });
    let command = PurgeCommand {
        keys,
        record: record.encode(),
        ttl: record_ttl,
        webhook: caller.webhook(),
        log,
        zone: job.filter(|j| !j.finished()).map(|j| j.to_json()),
    };
    Ok(Accepted {
        id,
        at_ms: now_ms,
        record,
        command,
        urls,
        zone_queued,
        tags: req.tags.clone(),
        prefixes: req.prefixes.clone(),
        everything: req.everything,
        soft: req.soft,
    })
}

impl Accepted {
    /// The record keys.
    pub fn keys(&self) -> &[String] {
        &self.command.keys
    }

    /// The webhook's 202 answer, with the bound on when every location has applied it.
    pub fn answer_json(&self, propagation_bound_secs: u64) -> String {
        let recorded = Obj::new()
            .strs("tags", &self.tags)
            .strs("urls", &self.urls)
            .strs("prefixes", &self.prefixes)
            .bool("everything", self.everything)
            .bool("soft", self.soft)
            .end();
        let out = Obj::new()
            .str("id", &self.id)
            .raw("recorded", &recorded)
            .u64("keys", self.keys().len() as u64)
            .u64("at_ms", self.at_ms)
            .u64("propagation_bound_secs", propagation_bound_secs);
        match self.zone_queued {
            Some(z) => out.str("zone_purge", z).end(),
            None => out.end(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::json::Json;
    use crate::purge::{parse_purge_request, PurgeLimits};

    fn req(body: &str) -> PurgeRequest {
        parse_purge_request(
            Some("application/json"),
            body.as_bytes(),
            &PurgeLimits::default(),
        )
        .unwrap()
    }

    /// A stand-in normaliser: lower-cases; refuses the host `refused.test`.
    fn norm(u: &str) -> Result<String, String> {
        if u.contains("refused.test") {
            Err(format!("refused: {u}"))
        } else {
            Ok(u.to_ascii_lowercase())
        }
    }

    #[test]
    fn path_urls_resolve_against_the_site() {
        let r = req(r#"{"urls":["/A","https://other.test/b"],"tags":["t"]}"#);
        let a = accept(
            &r,
            &Caller::Bearer,
            "https://site.test",
            "site.test",
            norm,
            99,
            false,
            5_000,
            7,
        )
        .unwrap();
        assert_eq!(a.urls, vec!["https://site.test/a", "https://other.test/b"]);
        assert!(a.keys().len() >= 3, "{:?}", a.keys());
        assert_eq!(a.command.ttl, 99);
        assert_eq!(a.command.webhook, None);
        assert_eq!(a.command.log.actor, "bearer");
        assert_eq!(a.zone_queued, None);
        assert_eq!(a.command.zone, None);
        let ans = Json::parse(&a.answer_json(150)).unwrap();
        assert_eq!(
            ans.get("propagation_bound_secs").and_then(Json::as_u64),
            Some(150)
        );
        assert_eq!(
            ans.get("keys").and_then(Json::as_u64),
            Some(a.keys().len() as u64)
        );
        assert_eq!(ans.get("zone_purge"), None);
        assert_eq!(ans.str_of("id"), Some(a.id.clone()));
    }

    #[test]
    fn signed_calls_carry_their_webhook_id() {
        let r = req(r#"{"tags":["t"]}"#);
        let caller = Caller::Signed {
            id: "msg_1".into(),
            ts: 42,
        };
        let a = accept(
            &r,
            &caller,
            "https://s.test",
            "s.test",
            norm,
            1,
            false,
            1,
            1,
        )
        .unwrap();
        assert_eq!(a.command.webhook, Some(("msg_1".to_string(), 42)));
        assert_eq!(a.command.log.actor, "signed");
    }

    #[test]
    fn the_accelerator_queues_a_job_or_says_kv_only() {
        let hard = req(r#"{"tags":["t"]}"#);
        let a = accept(
            &hard,
            &Caller::Bearer,
            "https://s.test",
            "s.test",
            norm,
            1,
            true,
            1,
            1,
        )
        .unwrap();
        assert_eq!(a.zone_queued, Some("queued"));
        assert!(a.command.zone.is_some());
        let ans = Json::parse(&a.answer_json(1)).unwrap();
        assert_eq!(ans.str_of("zone_purge").as_deref(), Some("queued"));
        let soft = req(r#"{"tags":["t"],"soft":true}"#);
        let a = accept(
            &soft,
            &Caller::Bearer,
            "https://s.test",
            "s.test",
            norm,
            1,
            true,
            1,
            1,
        )
        .unwrap();
        assert_eq!(a.zone_queued, Some("kv-only"));
        assert_eq!(a.command.zone, None);
        assert!(a.command.log.zone.is_some());
    }

    #[test]
    fn an_unnormalisable_url_refuses_the_purge() {
        let r = req(r#"{"urls":["https://refused.test/x"]}"#);
        let e = accept(
            &r,
            &Caller::Bearer,
            "https://s.test",
            "s.test",
            norm,
            1,
            false,
            1,
            1,
        );
        assert!(matches!(e, Err(PurgeError::Unprocessable(_))), "{e:?}");
    }
}
