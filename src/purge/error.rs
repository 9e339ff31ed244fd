//! Errors of the purge webhook, and the one place that maps them to HTTP statuses.

/// Why a purge webhook call was refused.
///
/// Every variant maps to exactly one status in [`PurgeError::status`]; the JSON body the
/// adapter sends is [`PurgeError::to_json`]. Nothing is purged when any error is returned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PurgeError {
    /// 401: the bearer token or webhook signature is missing, wrong, or too old. The detail
    /// never says which part failed, so a caller cannot probe the check piece by piece.
    Unauthorized,
    /// 405: the webhook only accepts `POST`.
    MethodNotAllowed,
    /// 413: the body is larger than the limit (bytes).
    PayloadTooLarge {
        /// The limit that was exceeded, in bytes.
        limit: usize,
    },
    /// 415: the content type is not JSON (`application/json` or `application/*+json`).
    UnsupportedMediaType {
        /// The content type received, if any (truncated for the detail).
        got: Option<String>,
    },
    /// 400: the body is not JSON, or a field has the wrong type, or a field is unknown.
    /// The detail names the field, e.g. `tags[2]: expected a string`.
    BadRequest(String),
    /// 422: the body is well-formed but asks for nothing, exceeds a limit, or holds an
    /// invalid tag, URL or prefix. The detail names the offending item.
    Unprocessable(String),
    /// 503: purging is not configured on this deployment (no secret, or no KV binding).
    Disabled,
}

impl PurgeError {
    /// The HTTP status for this error (the single mapping point).
    pub fn status(&self) -> u16 {
        match self {
            PurgeError::BadRequest(_) => 400,
            PurgeError::Unauthorized => 401,
            PurgeError::MethodNotAllowed => 405,
            PurgeError::PayloadTooLarge { .. } => 413,
            PurgeError::UnsupportedMediaType { .. } => 415,
            PurgeError::Unprocessable(_) => 422,
            PurgeError::Disabled => 503,
        }
    }

    /// A short machine-readable code, e.g. `"bad_request"`; also the `as_str()` for metrics.
    pub fn error(&self) -> &'static str {
        match self {
            PurgeError::BadRequest(_) => "bad_request",
            PurgeError::Unauthorized => "unauthorized",
            PurgeError::MethodNotAllowed => "method_not_allowed",
            PurgeError::PayloadTooLarge { .. } => "payload_too_large",
            PurgeError::UnsupportedMediaType { .. } => "unsupported_media_type",
            PurgeError::Unprocessable(_) => "unprocessable",
            PurgeError::Disabled => "purge_disabled",
        }
    }

    /// Same as [`PurgeError::error`]; named like every other decision enum of the crate.
    pub fn as_str(&self) -> &'static str {
        self.error()
    }

    /// A human-readable explanation, safe to return to the caller.
    pub fn detail(&self) -> String {
        match self {
            PurgeError::BadRequest(d) | PurgeError::Unprocessable(d) => d.clone(),
            PurgeError::Unauthorized => "missing or invalid credentials".to_string(),
            PurgeError::MethodNotAllowed => "the purge endpoint only accepts POST".to_string(),
            PurgeError::PayloadTooLarge { limit } => {
                format!("the body is larger than {limit} bytes")
            }
            PurgeError::UnsupportedMediaType { got } => match got {
                Some(ct) => format!(
                    "content type must be application/json, got `{}`",
                    truncate(ct, 100)
                ),
                None => "content type must be application/json, got none".to_string(),
            },
            PurgeError::Disabled => "purging is not configured on this deployment".to_string(),
        }
    }

    /// The response body: `{"error": "<code>", "detail": "<detail>"}`.
    pub fn to_json(&self) -> String {
        crate::json::Obj::new()
            .str("error", self.error())
            .str("detail", &self.detail())
            .end()
    }

    /// Extra response headers the status calls for (`Allow` for 405,
    /// `WWW-Authenticate` for 401), as `(name, value)` pairs.
    pub fn headers(&self) -> Vec<(&'static str, &'static str)> {
        match self {
            PurgeError::MethodNotAllowed => vec![("allow", "POST")],
            PurgeError::Unauthorized => vec![("www-authenticate", "Bearer")],
            _ => Vec::new(),
        }
    }
}

impl std::fmt::Display for PurgeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({}): {}", self.error(), self.status(), self.detail())
    }
}

impl std::error::Error for PurgeError {}

impl From<crate::webhook_sig::SigError> for PurgeError {
    /// Every signature failure is a 401 that does not say what failed.
    fn from(_: crate::webhook_sig::SigError) -> Self {
        PurgeError::Unauthorized
    }
}

/// Cuts `s` to at most `max` bytes on a char boundary, adding `…` when cut.
pub(crate) fn truncate(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_string();
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &s[..end])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_variant_has_its_status_and_code() {
        let cases = [
            (PurgeError::BadRequest("x".into()), 400, "bad_request"),
            (PurgeError::Unauthorized, 401, "unauthorized"),
            (PurgeError::MethodNotAllowed, 405, "method_not_allowed"),
            (
                PurgeError::PayloadTooLarge { limit: 10 },
                413,
                "payload_too_large",
            ),
            (
                PurgeError::UnsupportedMediaType { got: None },
                415,
                "unsupported_media_type",
            ),
            (PurgeError::Unprocessable("y".into()), 422, "unprocessable"),
            (PurgeError::Disabled, 503, "purge_disabled"),
        ];
        for (e, status, code) in cases {
            assert_eq!(e.status(), status);
            assert_eq!(e.error(), code);
            let v: serde_json::Value = serde_json::from_str(&e.to_json()).unwrap();
            assert_eq!(v["error"], code);
            assert_eq!(v["detail"], e.detail());
            assert_eq!(v.as_object().unwrap().len(), 2);
        }
    }

    #[test]
    fn detail_is_json_escaped() {
        let e = PurgeError::BadRequest("tags[0]: \"quoted\" \\ \n".into());
        let v: serde_json::Value = serde_json::from_str(&e.to_json()).unwrap();
        assert_eq!(v["detail"], "tags[0]: \"quoted\" \\ \n");
    }

    #[test]
    fn truncate_respects_char_boundaries() {
        assert_eq!(truncate("héllo", 2), "h…");
        assert_eq!(truncate("abc", 3), "abc");
    }
}
