//! Who may purge, and who may read the dashboard API: the webhook's and the admin API's
//! authentication over the configured secrets. Pure: the adapter passes the secrets, the
//! request's header values, the body and the time.

use super::error::PurgeError;
use crate::webhook_sig;

/// The configured secrets (unset and empty are the same: `None`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Secrets {
    /// `PURGE_TOKEN`: the webhook's bearer token.
    pub purge_token: Option<String>,
    /// `ADMIN_TOKEN`: the dashboard's token (defaults to `PURGE_TOKEN` for the admin API).
    pub admin_token: Option<String>,
    /// `PURGE_SECRET`: the Standard Webhooks signing secret (`whsec_...`).
    pub purge_secret: Option<String>,
}

/// The webhook headers of a signed call (empty when absent).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Signed<'a> {
    /// `webhook-id`.
    pub id: &'a str,
    /// `webhook-timestamp`.
    pub timestamp: &'a str,
    /// `webhook-signature`.
    pub signature: &'a str,
}

/// Who an accepted purge came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Caller {
    /// The purge token.
    Bearer,
    /// The admin (dashboard) token.
    Dashboard,
    /// A valid Standard Webhooks signature: its id and timestamp (for the replay check).
    Signed {
        /// `webhook-id`.
        id: String,
        /// `webhook-timestamp` (seconds).
        ts: u64,
    },
}

impl Caller {
    /// The purge log's actor.
    pub fn as_str(&self) -> &'static str {
        match self {
            Caller::Bearer => "bearer",
            Caller::Dashboard => "dashboard",
            Caller::Signed { .. } => "signed",
        }
    }

    /// The webhook id and timestamp of a signed call.
    pub fn webhook(&self) -> Option<(String, u64)> {
        match self {
            Caller::Signed { id, ts } => Some((id.clone(), *ts)),
            _ => None,
        }
    }
}

impl Secrets {
    /// Whether the webhook is enabled at all (a purge token or a signing secret is set).
    pub fn webhook_enabled(&self) -> bool {
        self.purge_token.is_some() || self.purge_secret.is_some()
    }

    /// Whether `authorization` carries the admin token (`ADMIN_TOKEN`, else `PURGE_TOKEN`).
    pub fn admin_ok(&self, authorization: Option<&str>) -> bool {
        self.admin_token
            .as_ref()
            .or(self.purge_token.as_ref())
            .is_some_and(|t| webhook_sig::bearer_matches(authorization, t))
    }

    /// Whether `authorization` carries the purge token.
    pub fn purge_token_ok(&self, authorization: Option<&str>) -> bool {
        self.purge_token
            .as_ref()
            .is_some_and(|t| webhook_sig::bearer_matches(authorization, t))
    }

    /// Authenticates a purge webhook call. With an `Authorization` header: the purge token,
    /// else the admin token. Without: a Standard Webhooks signature over `body` at `now_secs`
    /// (within [`webhook_sig::DEFAULT_TOLERANCE_SECS`]). Every failure is the same
    /// [`PurgeError::Unauthorized`] (the caller cannot probe which part failed).
    pub fn authorize_purge(
        &self,
        authorization: Option<&str>,
        signed: &Signed<'_>,
        body: &[u8],
        now_secs: u64,
    ) -> Result<Caller, PurgeError> {
        if authorization.is_some() {
            if self.purge_token_ok(authorization) {
                return Ok(Caller::Bearer);
            }
            let admin = self.admin_token.as_ref();
            if admin.is_some_and(|t| webhook_sig::bearer_matches(authorization, t)) {
                return Ok(Caller::Dashboard);
            }
            return Err(PurgeError::Unauthorized);
        }
        let Some(secret) = self
            .purge_secret
            .as_deref()
            .and_then(|s| webhook_sig::decode_secret(s).ok())
        else {
            return Err(PurgeError::Unauthorized);
        };
        webhook_sig::verify(
            &secret,
            signed.id,
            signed.timestamp,
            signed.signature,
            body,
            now_secs,
            webhook_sig::DEFAULT_TOLERANCE_SECS,
        )
        .map_err(|_| PurgeError::Unauthorized)?;
        Ok(Caller::Signed {
            id: signed.id.to_string(),
            ts: signed.timestamp.trim().parse().unwrap_or(0),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

    fn secrets() -> Secrets {
        Secrets {
            purge_token: Some("p-token".into()),
            admin_token: Some("a-token".into()),
            purge_secret: Some(SECRET.into()),
        }
    }

    #[test]
    fn bearer_tokens_pick_the_actor() {
        let s = secrets();
        let none = Signed::default();
        assert_eq!(
            s.authorize_purge(Some("Bearer p-token"), &none, b"", 0),
            Ok(Caller::Bearer)
        );
        assert_eq!(
            s.authorize_purge(Some("bearer a-token"), &none, b"", 0),
            Ok(Caller::Dashboard)
        );
        assert_eq!(
            s.authorize_purge(Some("Bearer nope"), &none, b"", 0),
            Err(PurgeError::Unauthorized)
        );
    }

    #[test]
    fn a_wrong_bearer_is_refused_even_with_a_valid_signature() {
        let s = secrets();
        let key = webhook_sig::decode_secret(SECRET).unwrap();
        let sig = webhook_sig::sign(&key, "msg_1", 1_000, b"{}");
        let signed = Signed {
            id: "msg_1",
            timestamp: "1000",
            signature: &sig,
        };
        assert_eq!(
            s.authorize_purge(Some("Bearer nope"), &signed, b"{}", 1_000),
            Err(PurgeError::Unauthorized)
        );
        assert_eq!(
            s.authorize_purge(None, &signed, b"{}", 1_000),
            Ok(Caller::Signed {
                id: "msg_1".into(),
                ts: 1_000
            })
        );
    }

    #[test]
    fn signatures_are_checked_over_body_and_time() {
        let s = secrets();
        let key = webhook_sig::decode_secret(SECRET).unwrap();
        let sig = webhook_sig::sign(&key, "msg_1", 1_000, b"{}");
        let signed = Signed {
            id: "msg_1",
            timestamp: "1000",
            signature: &sig,
        };
        assert!(s.authorize_purge(None, &signed, b"{ }", 1_000).is_err());
        let late = 1_000 + webhook_sig::DEFAULT_TOLERANCE_SECS + 1;
        assert!(s.authorize_purge(None, &signed, b"{}", late).is_err());
        let no_secret = Secrets {
            purge_secret: None,
            ..secrets()
        };
        assert!(no_secret
            .authorize_purge(None, &signed, b"{}", 1_000)
            .is_err());
    }

    #[test]
    fn admin_token_defaults_to_the_purge_token() {
        let s = secrets();
        assert!(s.admin_ok(Some("Bearer a-token")));
        assert!(!s.admin_ok(Some("Bearer p-token")));
        let only_purge = Secrets {
            admin_token: None,
            ..secrets()
        };
        assert!(only_purge.admin_ok(Some("Bearer p-token")));
        assert!(!Secrets::default().admin_ok(Some("Bearer ")));
        assert!(!Secrets::default().webhook_enabled());
        assert!(only_purge.webhook_enabled());
    }
}
