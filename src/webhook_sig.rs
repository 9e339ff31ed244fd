//! Standard Webhooks signatures (standardwebhooks.com, spec v1.0.0) and bearer-token checks
//! for the purge webhook.
//!
//! The sender signs `"{webhook-id}.{webhook-timestamp}.{body}"` with HMAC-SHA256 and sends
//! `webhook-signature: v1,<base64>` (several space-separated entries during key rotation; any
//! one matching suffices). The secret is shared as `whsec_<base64>`; a secret without that
//! prefix is used as raw bytes. Timestamps outside ±tolerance (5 minutes by default) are
//! refused, and [`ReplayGuard`] refuses an id already seen within that window.

use crate::base64;
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};
use std::collections::{BTreeSet, HashMap};

/// Default accepted clock difference between sender and receiver, in seconds.
pub const DEFAULT_TOLERANCE_SECS: u64 = 300;
/// The prefix of a Standard Webhooks secret whose remainder is base64.
pub const SECRET_PREFIX: &str = "whsec_";
/// Header names of the scheme (lowercase).
pub const HEADER_ID: &str = "webhook-id";
/// Header carrying the unix-seconds timestamp.
pub const HEADER_TIMESTAMP: &str = "webhook-timestamp";
/// Header carrying the space-separated `v1,<base64>` signatures.
pub const HEADER_SIGNATURE: &str = "webhook-signature";

/// Why a webhook signature was refused. The HTTP answer is always a bare 401 (see
/// `PurgeError::Unauthorized`); the variant is for logs and metrics only.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SigError {
    /// The secret is empty, or `whsec_` followed by invalid base64.
    BadSecret,
    /// The webhook id is empty.
    MissingId,
    /// The timestamp header is not a plain decimal number of seconds.
    BadTimestamp,
    /// The timestamp is more than the tolerance in the past.
    TimestampTooOld,
    /// The timestamp is more than the tolerance in the future.
    TimestampTooNew,
    /// No `v1` signature in the header matches.
    NoMatchingSignature,
    /// The id was already accepted within the tolerance window.
    Replayed,
}

impl SigError {
    /// Stable name for logs and metrics.
    pub fn as_str(&self) -> &'static str {
        match self {
            SigError::BadSecret => "bad_secret",
            SigError::MissingId => "missing_id",
            SigError::BadTimestamp => "bad_timestamp",
            SigError::TimestampTooOld => "timestamp_too_old",
            SigError::TimestampTooNew => "timestamp_too_new",
            SigError::NoMatchingSignature => "no_matching_signature",
            SigError::Replayed => "replayed",
        }
    }
}

impl std::fmt::Display for SigError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::error::Error for SigError {}

/// Decodes a configured secret: `whsec_<base64>` gives the decoded bytes, anything else its
/// raw UTF-8 bytes. Errors: empty secret, or invalid/empty base64 after the prefix.
pub fn decode_secret(configured: &str) -> Result<Vec<u8>, SigError> {
    let key = match configured.strip_prefix(SECRET_PREFIX) {
        Some(b64) => base64::decode(b64.trim()).ok_or(SigError::BadSecret)?,
        None => configured.as_bytes().to_vec(),
    };
    if key.is_empty() {
        return Err(SigError::BadSecret);
    }
    Ok(key)
}

/// The raw HMAC-SHA256 of `"{id}.{ts}.{body}"` under `secret` (already decoded).
fn mac(secret: &[u8], id: &str, ts: u64, body: &[u8]) -> [u8; 32] {
    // HMAC accepts keys of any length (RFC 2104 §2: longer keys are hashed, shorter ones
    // padded), so `new_from_slice` cannot fail for `Hmac<Sha256>`.
    #[allow(clippy::expect_used)]
    let mut m = <Hmac<Sha256> as Mac>::new_from_slice(secret).expect("HMAC takes any key length");
    m.update(id.as_bytes());
    m.update(b".");
    m.update(ts.to_string().as_bytes());
    m.update(b".");
    m.update(body);
    m.finalize().into_bytes().into()
}

/// Signs a webhook: returns the `webhook-signature` entry `v1,<base64 HMAC-SHA256>` of
/// `"{id}.{ts}.{body}"` under `secret` (decoded bytes; see [`decode_secret`]).
pub fn sign(secret: &[u8], id: &str, ts: u64, body: &[u8]) -> String {
    format!("v1,{}", base64::encode(&mac(secret, id, ts, body)))
}

/// Verifies a Standard Webhooks signature.
///
/// `ts_header` must be decimal seconds (surrounding whitespace ignored) within
/// `tolerance_secs` of `now` either way; `sig_header` holds space-separated
/// `<version>,<base64>` entries, of which any `v1` entry equal (constant-time) to the expected
/// HMAC suffices; other versions and undecodable entries are skipped. An empty secret or id is
/// refused. Checks the timestamp before the signature, but every failure maps to the same 401.
pub fn verify(
    secret: &[u8],
    id: &str,
    ts_header: &str,
    sig_header: &str,
    body: &[u8],
    now: u64,
    tolerance_secs: u64,
) -> Result<(), SigError> {
    if secret.is_empty() {
        return Err(SigError::BadSecret);
    }
    if id.is_empty() {
        return Err(SigError::MissingId);
    }
    let ts = parse_timestamp(ts_header).ok_or(SigError::BadTimestamp)?;
    if ts.saturating_add(tolerance_secs) < now {
        return Err(SigError::TimestampTooOld);
    }
    if ts > now.saturating_add(tolerance_secs) {
        return Err(SigError::TimestampTooNew);
    }
    let expected = mac(secret, id, ts, body);
    let mut matched = false;
    for entry in sig_header.split_ascii_whitespace() {
        let Some(("v1", b64)) = entry.split_once(',') else {
            continue;
        };
        if let Some(candidate) = base64::decode(b64) {
            // No early exit: every entry is compared, so timing does not reveal which matched.
            matched |= ct_eq(&candidate, &expected);
        }
    }
    if matched {
        Ok(())
    } else {
        Err(SigError::NoMatchingSignature)
    }
}

/// Parses a `webhook-timestamp`: ASCII digits only (after trimming), at most 20, no overflow.
fn parse_timestamp(s: &str) -> Option<u64> {
    let s = s.trim();
    if s.is_empty() || s.len() > 20 || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

/// Constant-time equality of two byte strings (the length is not secret: unequal lengths
/// return `false` at once).
pub fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let diff = a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y));
    std::hint::black_box(diff) == 0
}

/// Whether an `Authorization` header carries `Bearer <token>` for the configured token.
///
/// The scheme is case-insensitive; the comparison is constant-time over SHA-256 digests, so
/// neither the content nor the length of the token leaks. An empty configured token never
/// matches (purging is then disabled, not open).
pub fn bearer_matches(header: Option<&str>, token: &str) -> bool {
    if token.is_empty() {
        return false;
    }
    let Some((scheme, presented)) = header.map(str::trim).and_then(|h| h.split_once(' ')) else {
        return false;
    };
    if !scheme.eq_ignore_ascii_case("bearer") {
        return false;
    }
    let presented = presented.trim();
    ct_eq(
        &Sha256::digest(presented.as_bytes()),
        &Sha256::digest(token.as_bytes()),
    )
}

/// How long a durable record of an accepted webhook id (the purge ledger keeps one per id, so a
/// restart does not reopen the replay window) must be kept: twice the timestamp tolerance, so
/// a copy whose timestamp is anywhere inside the window is still caught.
pub const REPLAY_REMEMBER_SECS: u64 = 2 * DEFAULT_TOLERANCE_SECS;

/// Whether an id first accepted at `accepted_secs` is still remembered at `now_secs` (a call
/// with it is a replay); once not, the record may be deleted.
pub fn replay_remembered(accepted_secs: u64, now_secs: u64) -> bool {
    now_secs <= accepted_secs.saturating_add(REPLAY_REMEMBER_SECS)
}

/// Remembers accepted webhook ids for the tolerance window so a captured request cannot be
/// replayed. Pure and bounded: ids whose timestamp is older than `now - tolerance` are
/// forgotten (their signature would fail the timestamp check anyway); when full, the oldest
/// is evicted. Per isolate: it stops replays that reach the same isolate (or the Durable
/// Object that serialises purges, if the adapter keeps it there).
#[derive(Debug, Clone)]
pub struct ReplayGuard {
    tolerance_secs: u64,
    max_entries: usize,
    seen: HashMap<String, u64>,
    order: BTreeSet<(u64, String)>,
}

impl ReplayGuard {
    /// An empty guard for `tolerance_secs` holding at most `max_entries` ids (at least 1).
    pub fn new(tolerance_secs: u64, max_entries: usize) -> Self {
        ReplayGuard {
            tolerance_secs,
            max_entries: max_entries.max(1),
            seen: HashMap::new(),
            order: BTreeSet::new(),
        }
    }

    /// Call after [`verify`] succeeded: `Ok` and remembers `id` if it is new,
    /// `Err(SigError::Replayed)` if it was seen within the window. A sender's retry reuses
    /// the id with a fresh timestamp, so the adapter should answer a replay with 200 and not
    /// purge again (the purge is idempotent, the retry just lost our first answer).
    pub fn check_and_insert(&mut self, id: &str, ts: u64, now: u64) -> Result<(), SigError> {
        while let Some(oldest) = self.order.iter().next().cloned() {
            if oldest.0.saturating_add(self.tolerance_secs) >= now {
                break;
            }
            self.order.remove(&oldest);
            self.seen.remove(&oldest.1);
        }
        if let Some(&held) = self.seen.get(id) {
            // Keep it for as long as the newest copy could still verify.
            if ts > held {
                self.order.remove(&(held, id.to_string()));
                self.order.insert((ts, id.to_string()));
                self.seen.insert(id.to_string(), ts);
            }
            return Err(SigError::Replayed);
        }
        while self.seen.len() >= self.max_entries {
            let Some(oldest) = self.order.iter().next().cloned() else {
                break;
            };
            self.order.remove(&oldest);
            self.seen.remove(&oldest.1);
        }
        self.seen.insert(id.to_string(), ts);
        self.order.insert((ts, id.to_string()));
        Ok(())
    }

    /// Number of ids held.
    pub fn len(&self) -> usize {
        self.seen.len()
    }

    /// Whether no id is held.
    pub fn is_empty(&self) -> bool {
        self.seen.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepted_ids_are_remembered_for_twice_the_tolerance() {
        let t = 1_700_000_000;
        assert!(replay_remembered(t, t));
        assert!(replay_remembered(t, t + 2 * DEFAULT_TOLERANCE_SECS));
        assert!(!replay_remembered(t, t + 2 * DEFAULT_TOLERANCE_SECS + 1));
        // A clock behind the acceptance time still remembers.
        assert!(replay_remembered(t, t - 10));
        assert!(replay_remembered(u64::MAX, u64::MAX));
    }
    use proptest::prelude::*;

    /// Computed independently with python3: `hmac.new(key, msg, hashlib.sha256)`.
    const RAW_KEY: &[u8] = b"edgecache-raw-secret";
    const RAW_BODY: &[u8] = br#"{"tags":["product-42"],"soft":true}"#;
    const RAW_SIG: &str = "v1,ugJ3NmtF9TJNjlkDK966E0qhoUT/18Z6KlZknf06cJs=";
    const NOW: u64 = 1_732_560_000;

    #[test]
    fn raw_key_vector() {
        assert_eq!(sign(RAW_KEY, "msg_edgecache_1", NOW, RAW_BODY), RAW_SIG);
        assert_eq!(
            verify(
                RAW_KEY,
                "msg_edgecache_1",
                "1732560000",
                RAW_SIG,
                RAW_BODY,
                NOW,
                300
            ),
            Ok(())
        );
    }

    #[test]
    fn secrets() {
        assert_eq!(decode_secret("whsec_AAEC").unwrap(), [0, 1, 2]);
        assert_eq!(decode_secret("plain").unwrap(), b"plain");
        assert_eq!(decode_secret(""), Err(SigError::BadSecret));
        assert_eq!(decode_secret("whsec_"), Err(SigError::BadSecret));
        assert_eq!(decode_secret("whsec_!!!"), Err(SigError::BadSecret));
    }

    #[test]
    fn timestamp_window() {
        let sig = sign(RAW_KEY, "id", NOW, b"x");
        let v = |ts: u64, now: u64| {
            let sig = sign(RAW_KEY, "id", ts, b"x");
            verify(RAW_KEY, "id", &ts.to_string(), &sig, b"x", now, 300)
        };
        assert_eq!(v(NOW, NOW + 300), Ok(()));
        assert_eq!(v(NOW, NOW + 301), Err(SigError::TimestampTooOld));
        assert_eq!(v(NOW + 300, NOW), Ok(()));
        assert_eq!(v(NOW + 301, NOW), Err(SigError::TimestampTooNew));
        for bad in [
            "",
            "abc",
            "-1",
            "1.5",
            "+1",
            "1e9",
            "99999999999999999999999",
        ] {
            assert_eq!(
                verify(RAW_KEY, "id", bad, &sig, b"x", NOW, 300),
                Err(SigError::BadTimestamp),
                "{bad:?}"
            );
        }
        assert_eq!(
            verify(RAW_KEY, "id", " 1732560000 ", &sig, b"x", NOW, 300),
            Ok(())
        );
        // Same number, non-canonical digits: signed content uses the number.
        assert_eq!(
            verify(RAW_KEY, "id", "01732560000", &sig, b"x", NOW, 300),
            Ok(())
        );
    }

    #[test]
    fn signature_header_forms() {
        let good = sign(RAW_KEY, "id", NOW, b"x");
        let ok = |h: &str| verify(RAW_KEY, "id", "1732560000", h, b"x", NOW, 300);
        assert_eq!(ok(&format!("v1,bm9wZQ== {good}")), Ok(()));
        assert_eq!(ok(&format!("v2,abc  {good}  v1a,zzz")), Ok(()));
        assert_eq!(ok("v1,bm9wZQ=="), Err(SigError::NoMatchingSignature));
        assert_eq!(ok(""), Err(SigError::NoMatchingSignature));
        assert_eq!(
            ok(&good.replace("v1,", "v2,")),
            Err(SigError::NoMatchingSignature)
        );
        assert_eq!(
            ok(&good.replace("v1,", "v1 ")),
            Err(SigError::NoMatchingSignature)
        );
        assert_eq!(
            verify(b"", "id", "1732560000", &good, b"x", NOW, 300),
            Err(SigError::BadSecret)
        );
        assert_eq!(
            verify(RAW_KEY, "", "1732560000", &good, b"x", NOW, 300),
            Err(SigError::MissingId)
        );
    }

    #[test]
    fn bearer() {
        assert!(bearer_matches(Some("Bearer s3cret"), "s3cret"));
        assert!(bearer_matches(Some("bearer  s3cret "), "s3cret"));
        assert!(!bearer_matches(Some("Bearer s3cre"), "s3cret"));
        assert!(!bearer_matches(Some("Basic s3cret"), "s3cret"));
        assert!(!bearer_matches(Some("s3cret"), "s3cret"));
        assert!(!bearer_matches(None, "s3cret"));
        assert!(!bearer_matches(Some("Bearer "), ""));
        assert!(!bearer_matches(Some("Bearer"), ""));
    }

    #[test]
    fn ct_eq_basics() {
        assert!(ct_eq(b"", b""));
        assert!(ct_eq(b"abc", b"abc"));
        assert!(!ct_eq(b"abc", b"abd"));
        assert!(!ct_eq(b"abc", b"ab"));
    }

    #[test]
    fn replay_guard_bounded() {
        let mut g = ReplayGuard::new(300, 2);
        assert_eq!(g.check_and_insert("a", NOW, NOW), Ok(()));
        assert_eq!(g.check_and_insert("b", NOW + 1, NOW), Ok(()));
        assert_eq!(g.check_and_insert("c", NOW + 2, NOW), Ok(()));
        assert_eq!(g.len(), 2);
        assert_eq!(
            g.check_and_insert("b", NOW + 1, NOW),
            Err(SigError::Replayed)
        );
    }

    proptest! {
        #[test]
        fn verify_never_panics(
            ts in "\\PC{0,24}", sig in "\\PC{0,120}", id in "\\PC{0,20}",
            body in proptest::collection::vec(any::<u8>(), 0..64),
        ) {
            let _ = verify(RAW_KEY, &id, &ts, &sig, &body, NOW, 300);
        }

        #[test]
        fn sign_then_verify(
            key in proptest::collection::vec(any::<u8>(), 1..80),
            id in "[a-zA-Z0-9_]{1,30}",
            ts in 0u64..4_000_000_000,
            body in proptest::collection::vec(any::<u8>(), 0..64),
        ) {
            let sig = sign(&key, &id, ts, &body);
            prop_assert_eq!(verify(&key, &id, &ts.to_string(), &sig, &body, ts, 0), Ok(()));
            let mut other = body.clone();
            other.push(b'!');
            prop_assert_eq!(
                verify(&key, &id, &ts.to_string(), &sig, &other, ts, 0),
                Err(SigError::NoMatchingSignature)
            );
        }

        #[test]
        fn bearer_never_panics(h in "\\PC{0,40}", t in "\\PC{0,10}") {
            let _ = bearer_matches(Some(&h), &t);
        }
    }
}
