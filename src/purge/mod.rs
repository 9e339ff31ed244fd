//! Global purging, pure half: the webhook body, purge records and their KV keys, the check of
//! a cached entry against them, an in-isolate memo of record reads, when each record was first
//! seen (causality against clock skew), and the purge log.
//!
//! Flow: the adapter authenticates `POST /__edgecache/purge` (bearer token or
//! [`crate::webhook_sig`]), parses it with [`parse_purge_request`], computes
//! [`record_keys`], and writes `merge(existing, req.record(now_ms))` under each key through a
//! Durable Object that serialises purges, with [`record_expiration_ttl`]. Every location then
//! calls [`check_entry`] before serving a cached entry; a soft purge makes the entry stale,
//! a hard purge makes it a miss. Records never move backwards ([`merge`]).
//!
//! With the zone purge accelerator configured ([`zone`]), the ledger then also asks Cloudflare's
//! zone purge API to delete the stored copies everywhere at once.
//! The ledger also publishes every recent record under one key ([`PurgeSnapshot`]); an
//! isolate answers hits from its [`PurgeView`] of it, refreshed in the background, and reads
//! the per-record keys only for entries older than the snapshot's window.

mod accept;
mod auth;
mod error;
mod isolate;
mod keys;
mod ledger;
mod ledger_op;
mod log;
mod memo;
mod prefix;
mod record;
mod request;
mod seen;
mod snapshot;
pub mod zone;

pub use accept::{accept, Accepted};
pub use auth::{Caller, Secrets, Signed};
pub use error::PurgeError;
pub use isolate::{Entry, IsolatePurges, Records, RecordsCheck};
pub use keys::{
    base_keys_to_check, check_entry, host_of, keys_to_check, normalise_prefix, prefix_candidates,
    prefix_gate_open, prefix_key, prefix_keys_to_check, record_expiration_ttl, record_keys,
    record_prunable, tag_key, url_key, ALL_KEY, KV_KEY_MAX_BYTES, KV_MIN_EXPIRATION_TTL_SECS,
    MAX_PREFIX_DEPTH, PREFIX_GATE_KEY, RECORD_TTL_MARGIN_SECS,
};
pub use ledger::{
    alarm_covers, keys as ledger_keys, log_answer, log_json, merged_record, next_prune,
    note_zone_status, parse_log, parse_replayed, prunable, publish_retry_at, push_log, replayed,
    replayed_json, snapshot_with, PurgeCommand, PRUNE_EVERY_MS, PURGE_LOG_MAX,
};
pub use ledger_op::{
    KvWrite, LedgerAction, LedgerAnswer, LedgerEvent, LedgerMemory, LedgerOp, Stored, JSON_HEADERS,
    TEXT_HEADERS,
};
pub use log::{purge_id, PurgeLogEntry};
pub use memo::{RecordMemo, DEFAULT_MEMO_MAX_ENTRIES, DEV_MEMO_TTL_MS};
pub use record::{merge, PurgeRecord, PurgeVerdict, PURGE_SKEW_MS};
pub use request::{is_json_content_type, parse_purge_request, PurgeLimits, PurgeRequest};
pub use seen::{SeenRecords, SEEN_MAX_ENTRIES};
pub use snapshot::{
    next_publish_ms, propagation_bound_secs, PurgeSnapshot, PurgeView, RefreshPlan, ViewVerdict,
    DEFAULT_REFRESH_MS, KV_PROPAGATION_SECS, KV_WRITE_MIN_INTERVAL_MS, LOCAL_MAX_ENTRIES,
    REFRESH_TIMEOUT_MS, RETRY_AFTER_FAILURE_MS, SNAPSHOT_KEY, SNAPSHOT_MAX_BYTES,
};
