//! The purge ledger's pure half: the command the worker sends it, and the bounded purge log it
//! keeps. The Durable Object (the adapter's `objects.rs`) only stores and loads what these
//! functions produce.

use super::log::PurgeLogEntry;
use crate::json::{Arr, Json, Obj};

/// Purge log entries kept.
pub const PURGE_LOG_MAX: usize = 100;

/// What the worker asks the ledger to record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PurgeCommand {
    /// KV record keys.
    pub keys: Vec<String>,
    /// The record to merge into each.
    pub record: String,
    /// KV expiration TTL for the records.
    pub ttl: u64,
    /// Webhook id and timestamp, for signed calls (replay check).
    pub webhook: Option<(String, u64)>,
    /// The log entry.
    pub log: PurgeLogEntry,
    /// The zone purge job to run (`purge::zone::ZoneJob` as JSON; only when the accelerator is
    /// configured and the purge has calls to make). Stored as is: the ledger only executes it.
    pub zone: Option<String>,
}

impl PurgeCommand {
    /// As JSON (the worker → ledger request body).
    pub fn to_json(&self) -> String {
        let webhook = match &self.webhook {
            Some((id, ts)) => Arr::new().str(id).raw(&ts.to_string()).end(),
            None => "null".to_string(),
        };
        Obj::new()
            .strs("keys", &self.keys)
            .str("record", &self.record)
            .u64("ttl", self.ttl)
            .raw("webhook", &webhook)
            .raw("log", &self.log.to_json())
            .opt_str("zone", self.zone.as_deref())
            .end()
    }

    /// Reads [`PurgeCommand::to_json`] (`None` for anything else).
    pub fn from_json(j: &Json) -> Option<Self> {
        let webhook = match j.get("webhook")? {
            Json::Null => None,
            w => match w.as_array()? {
                [Json::Str(id), ts] => Some((id.clone(), ts.as_u64()?)),
                _ => return None,
            },
        };
        Some(PurgeCommand {
            keys: j.get("keys")?.as_strings()?,
            record: j.str_of("record")?,
            ttl: j.get("ttl")?.as_u64()?,
            webhook,
            log: PurgeLogEntry::from_json(j.get("log")?)?,
            zone: j.str_of("zone"),
        })
    }

    /// Reads a command from a request body (`None` when it is not one).
    pub fn parse(body: &str) -> Option<Self> {
        Json::parse(body).ok().as_ref().and_then(Self::from_json)
    }
}

/// The stored purge log (a JSON array, oldest first); empty when absent or unreadable, and
/// entries that do not read are skipped.
pub fn parse_log(text: Option<&str>) -> Vec<PurgeLogEntry> {
    let Some(j) = text.and_then(|t| Json::parse(t).ok()) else {
        return Vec::new();
    };
    j.as_array()
        .unwrap_or_default()
        .iter()
        .filter_map(PurgeLogEntry::from_json)
        .collect()
}

/// Appends `entry`, keeping the newest [`PURGE_LOG_MAX`].
pub fn push_log(log: &mut Vec<PurgeLogEntry>, entry: PurgeLogEntry) {
    log.push(entry);
    let extra = log.len().saturating_sub(PURGE_LOG_MAX);
    log.drain(..extra);
}

/// Log entries as a JSON array, in the order given.
pub fn log_json<'a>(entries: impl Iterator<Item = &'a PurgeLogEntry>) -> String {
    let mut a = Arr::new();
    for e in entries {
        a = a.raw(&e.to_json());
    }
    a.end()
}

/// The ledger's `/log` answer: `{"purges": [...]}`, newest first.
pub fn log_answer(log: &[PurgeLogEntry]) -> String {
    Obj::new().raw("purges", &log_json(log.iter().rev())).end()
}

/// The ledger's answer to a purge command: whether its webhook id was seen before.
pub fn replayed_json(replayed: bool) -> &'static str {
    if replayed {
        r#"{"replayed":true}"#
    } else {
        r#"{"replayed":false}"#
    }
}

/// Reads the ledger's answer to a purge command ([`replayed_json`]); `None` for anything else
/// (then nothing may have been recorded).
pub fn parse_replayed(text: &str) -> Option<bool> {
    Json::parse(text)
        .ok()
        .and_then(|v| v.get("replayed").and_then(Json::as_bool))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::purge::{parse_purge_request, PurgeLimits};

    fn entry(id: &str) -> PurgeLogEntry {
        let req = parse_purge_request(
            Some("application/json"),
            br#"{"tags":["a"]}"#,
            &PurgeLimits::default(),
        )
        .unwrap();
        PurgeLogEntry::new(id.to_string(), 1_000, &req, "bearer")
    }

    #[test]
    fn command_round_trips_with_and_without_webhook() {
        let mut c = PurgeCommand {
            keys: vec!["t:a".into(), "u:https://x/".into()],
            record: "1000;h".into(),
            ttl: 86_400,
            webhook: Some(("msg_1".into(), 1_700_000_000)),
            log: entry("p1"),
            zone: Some(r#"{"id":"p1"}"#.into()),
        };
        assert_eq!(PurgeCommand::parse(&c.to_json()), Some(c.clone()));
        c.webhook = None;
        c.zone = None;
        assert_eq!(PurgeCommand::parse(&c.to_json()), Some(c));
    }

    #[test]
    fn command_refuses_other_shapes() {
        assert_eq!(PurgeCommand::parse("not json"), None);
        assert_eq!(PurgeCommand::parse(r#"{"keys":["a"]}"#), None);
        let c = PurgeCommand {
            keys: vec![],
            record: "r".into(),
            ttl: 1,
            webhook: None,
            log: entry("p"),
            zone: None,
        };
        let bad = c
            .to_json()
            .replace(r#""webhook":null"#, r#""webhook":[1,2]"#);
        assert_eq!(PurgeCommand::parse(&bad), None);
    }

    #[test]
    fn log_keeps_the_newest_and_answers_newest_first() {
        let mut log = Vec::new();
        for i in 0..PURGE_LOG_MAX + 3 {
            push_log(&mut log, entry(&format!("p{i}")));
        }
        assert_eq!(log.len(), PURGE_LOG_MAX);
        assert_eq!(log[0].id, "p3");
        let stored = log_json(log.iter());
        let back = parse_log(Some(&stored));
        assert_eq!(back, log);
        let ans = Json::parse(&log_answer(&back)).unwrap();
        let first = &ans.get("purges").unwrap().as_array().unwrap()[0];
        assert_eq!(first.str_of("id").as_deref(), Some("p102"));
    }

    #[test]
    fn unreadable_log_is_empty() {
        assert!(parse_log(None).is_empty());
        assert!(parse_log(Some("{")).is_empty());
        assert!(parse_log(Some(r#"{"a":1}"#)).is_empty());
    }

    #[test]
    fn replayed_answer_round_trips() {
        assert_eq!(parse_replayed(replayed_json(true)), Some(true));
        assert_eq!(parse_replayed(replayed_json(false)), Some(false));
        assert_eq!(parse_replayed("ok"), None);
        assert_eq!(parse_replayed(r#"{"x":1}"#), None);
    }
}
