//! The purge webhook's request body: strict parsing and validation.
//!
//! Body: `{"tags": [...], "urls": [...], "prefixes": [...], "everything": false, "soft": false}`.
//! Every field is optional; unknown and duplicate fields are rejected. Either the whole
//! request is valid and returned, or an error says what is wrong and nothing is purged.

use super::error::{truncate, PurgeError};
use super::prefix::normalise_prefix;
use crate::json::Json;

/// A validated purge request.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PurgeRequest {
    /// Surrogate keys (cache tags) to purge, as sent (validated, not deduplicated).
    pub tags: Vec<String>,
    /// URLs to purge: absolute `http(s)` URLs, or paths starting with `/` (the adapter
    /// resolves those against the site's host when normalising).
    pub urls: Vec<String>,
    /// Path prefixes to purge: a path starting with `/` (any host) or an absolute `http(s)`
    /// URL (that host only). Matched at path-segment boundaries; see [`super::record_keys`].
    pub prefixes: Vec<String>,
    /// Purge every cached entry.
    pub everything: bool,
    /// Soft purge: covered entries become stale (revalidated) instead of missing.
    pub soft: bool,
}

impl PurgeRequest {
    /// The record each of this request's keys receives for a purge performed at `now_ms`.
    pub fn record(&self, now_ms: u64) -> super::PurgeRecord {
        if self.soft {
            super::PurgeRecord::soft(now_ms)
        } else {
            super::PurgeRecord::hard(now_ms)
        }
    }
}

/// Limits applied by [`parse_purge_request`]; configuration may tighten or relax them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PurgeLimits {
    /// Largest accepted body, in bytes (413 above). Default 64 KiB.
    pub max_body_bytes: usize,
    /// Most tags per call (422 above). Default 100.
    pub max_tags: usize,
    /// Most URLs per call (422 above). Default 100.
    pub max_urls: usize,
    /// Most prefixes per call (422 above). Default 20.
    pub max_prefixes: usize,
    /// Longest tag, in bytes (422 above). Default 128.
    pub max_tag_bytes: usize,
    /// Longest URL or prefix, in bytes (422 above). Default 2048.
    pub max_url_bytes: usize,
}

impl Default for PurgeLimits {
    fn default() -> Self {
        PurgeLimits {
            max_body_bytes: 64 * 1024,
            max_tags: 100,
            max_urls: 100,
            max_prefixes: 20,
            max_tag_bytes: 128,
            max_url_bytes: 2048,
        }
    }
}

/// Whether a `Content-Type` value names JSON: `application/json` or `application/<x>+json`,
/// any case, optional parameters; a `charset` parameter, if present, must be UTF-8
/// (RFC 8259 §8.1: JSON exchanged between systems "MUST be encoded using UTF-8").
pub fn is_json_content_type(value: &str) -> bool {
    let mut parts = value.split(';');
    let essence = parts.next().unwrap_or("").trim().to_ascii_lowercase();
    let Some(subtype) = essence.strip_prefix("application/") else {
        return false;
    };
    let subtype_ok = subtype == "json"
        || (subtype.len() > "+json".len()
            && subtype.ends_with("+json")
            && subtype.bytes().all(|b| b.is_ascii_graphic() && b != b'/'));
    if !subtype_ok {
        return false;
    }
    parts.all(|param| {
        let Some((name, val)) = param.split_once('=') else {
            return param.trim().is_empty();
        };
        if !name.trim().eq_ignore_ascii_case("charset") {
            return true;
        }
        let val = val.trim().trim_matches('"');
        val.eq_ignore_ascii_case("utf-8") || val.eq_ignore_ascii_case("utf8")
    })
}

/// Parses and validates a purge webhook body.
///
/// Checks, in order: content type (415), body size (413), JSON syntax and field types (400,
/// detail names the field, e.g. `tags[2]: expected a string`; unknown or repeated fields are
/// 400 too), then content (422: nothing to purge, too many items, empty or over-long strings,
/// a tag with a control character, a URL that is neither an absolute `http(s)` URL nor a path
/// starting with `/`, a prefix that is neither, or that has a query, a fragment, or more than
/// 32 path segments). Never panics, whatever the bytes.
pub fn parse_purge_request(
    content_type: Option<&str>,
    body: &[u8],
    limits: &PurgeLimits,
) -> Result<PurgeRequest, PurgeError> {
    match content_type {
        Some(ct) if is_json_content_type(ct) => {}
        other => {
            return Err(PurgeError::UnsupportedMediaType {
                got: other.map(|s| truncate(s, 100)),
            })
        }
    }
    if body.len() > limits.max_body_bytes {
        return Err(PurgeError::PayloadTooLarge {
            limit: limits.max_body_bytes,
        });
    }
    let doc = Json::parse_bytes(body)
        .map_err(|e| PurgeError::BadRequest(format!("malformed JSON: {e}")))?;
    let Json::Obj(fields) = doc else {
        return Err(PurgeError::BadRequest(
            "body: expected a JSON object".to_string(),
        ));
    };

    let mut req = PurgeRequest::default();
    let mut seen: Vec<&str> = Vec::new();
    for (name, value) in &fields {
        if seen.contains(&name.as_str()) {
            return Err(PurgeError::BadRequest(format!(
                "{}: field given twice",
                field_name(name)
            )));
        }
        match name.as_str() {
            "tags" => req.tags = string_array("tags", value)?,
            "urls" => req.urls = string_array("urls", value)?,
            "prefixes" => req.prefixes = string_array("prefixes", value)?,
            "everything" => req.everything = boolean("everything", value)?,
            "soft" => req.soft = boolean("soft", value)?,
            other => {
                return Err(PurgeError::BadRequest(format!(
                    "{}: unknown field (expected tags, urls, prefixes, everything, soft)",
                    field_name(other)
                )))
            }
        }
        seen.push(name.as_str());
    }
    validate(&req, limits)?;
    Ok(req)
}

/// Field name for an error detail, truncated and debug-quoted so control chars show.
fn field_name(name: &str) -> String {
    format!("{:?}", truncate(name, 40))
}

fn string_array(field: &str, value: &Json) -> Result<Vec<String>, PurgeError> {
    let Json::Arr(items) = value else {
        return Err(PurgeError::BadRequest(format!(
            "{field}: expected an array of strings, got {}",
            value.kind()
        )));
    };
    items
        .iter()
        .enumerate()
        .map(|(i, v)| match v {
            Json::Str(s) => Ok(s.clone()),
            other => Err(PurgeError::BadRequest(format!(
                "{field}[{i}]: expected a string, got {}",
                other.kind()
            ))),
        })
        .collect()
}

fn boolean(field: &str, value: &Json) -> Result<bool, PurgeError> {
    match value {
        Json::Bool(b) => Ok(*b),
        other => Err(PurgeError::BadRequest(format!(
            "{field}: expected true or false, got {}",
            other.kind()
        ))),
    }
}

fn validate(req: &PurgeRequest, limits: &PurgeLimits) -> Result<(), PurgeError> {
    let bad = |s: String| Err(PurgeError::Unprocessable(s));
    if !req.everything && req.tags.is_empty() && req.urls.is_empty() && req.prefixes.is_empty() {
        return bad(
            "nothing to purge: give tags, urls, prefixes, or \"everything\": true".to_string(),
        );
    }
    for (field, n, max) in [
        ("tags", req.tags.len(), limits.max_tags),
        ("urls", req.urls.len(), limits.max_urls),
        ("prefixes", req.prefixes.len(), limits.max_prefixes),
    ] {
        if n > max {
            return bad(format!("{field}: {n} given, at most {max} per call"));
        }
    }
    for (i, tag) in req.tags.iter().enumerate() {
        if tag.is_empty() {
            return bad(format!("tags[{i}]: must not be empty"));
        }
        if tag.len() > limits.max_tag_bytes {
            return bad(format!(
                "tags[{i}]: longer than {} bytes",
                limits.max_tag_bytes
            ));
        }
        if tag.chars().any(char::is_control) {
            return bad(format!("tags[{i}]: contains a control character"));
        }
    }
    for (i, u) in req.urls.iter().enumerate() {
        check_len("urls", i, u, limits)?;
        if let Err(why) = check_url(u) {
            return bad(format!("urls[{i}]: {why}"));
        }
    }
    for (i, p) in req.prefixes.iter().enumerate() {
        check_len("prefixes", i, p, limits)?;
        if let Err(why) = normalise_prefix(p) {
            return bad(format!("prefixes[{i}]: {why}"));
        }
    }
    Ok(())
}

fn check_len(field: &str, i: usize, s: &str, limits: &PurgeLimits) -> Result<(), PurgeError> {
    if s.is_empty() {
        return Err(PurgeError::Unprocessable(format!(
            "{field}[{i}]: must not be empty"
        )));
    }
    if s.len() > limits.max_url_bytes {
        return Err(PurgeError::Unprocessable(format!(
            "{field}[{i}]: longer than {} bytes",
            limits.max_url_bytes
        )));
    }
    Ok(())
}

/// Checks a URL to purge: an absolute `http(s)` URL with a host, or a path starting with a
/// single `/` (a leading `//` would be a scheme-relative URL, which is ambiguous).
pub(crate) fn check_url(u: &str) -> Result<(), String> {
    if u.starts_with('/') {
        if u.starts_with("//") {
            return Err("a path must not start with \"//\"".to_string());
        }
        if u.chars().any(char::is_control) {
            return Err("contains a control character".to_string());
        }
        return Ok(());
    }
    if !crate::key::plain_authority(u) {
        return Err(crate::key::NON_ASCII_HOST.to_string());
    }
    let parsed = url::Url::parse(u).map_err(|_| {
        "expected an absolute http(s) URL or a path starting with \"/\"".to_string()
    })?;
    if !matches!(parsed.scheme(), "http" | "https") || parsed.host_str().is_none() {
        return Err("expected an absolute http(s) URL or a path starting with \"/\"".to_string());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const JSON: Option<&str> = Some("application/json");

    fn parse(body: &str) -> Result<PurgeRequest, PurgeError> {
        parse_purge_request(JSON, body.as_bytes(), &PurgeLimits::default())
    }

    fn detail(body: &str) -> (u16, String) {
        let e = parse(body).unwrap_err();
        (e.status(), e.detail())
    }

    #[test]
    fn content_types() {
        for ok in [
            "application/json",
            "Application/JSON",
            "application/json; charset=utf-8",
            "application/json;charset=\"UTF-8\"",
            "application/vnd.cms+json",
            "application/merge-patch+json; v=1",
        ] {
            assert!(is_json_content_type(ok), "{ok}");
        }
        for bad in [
            "",
            "text/json",
            "application/jsonx",
            "application/+json",
            "application/x-www-form-urlencoded",
            "application/json; charset=latin1",
            "text/plain; x=application/json",
            "multipart/form-data",
            "application/a/b+json",
        ] {
            assert!(!is_json_content_type(bad), "{bad}");
        }
    }

    #[test]
    fn full_body() {
        let r = parse(
            r#"{"tags":["a","b"],"urls":["https://ex.com/x","/y"],"prefixes":["/blog/"],"everything":false,"soft":true}"#,
        )
        .unwrap();
        assert_eq!(r.tags, ["a", "b"]);
        assert_eq!(r.urls, ["https://ex.com/x", "/y"]);
        assert_eq!(r.prefixes, ["/blog/"]);
        assert!(r.soft && !r.everything);
    }

    #[test]
    fn only_everything() {
        let r = parse(r#"{"everything": true}"#).unwrap();
        assert!(r.everything && !r.soft);
    }

    #[test]
    fn type_errors_name_the_field() {
        assert_eq!(
            detail(r#"{"tags":["a","b",3]}"#),
            (400, "tags[2]: expected a string, got a number".into())
        );
        assert_eq!(
            detail(r#"{"urls":"x"}"#),
            (
                400,
                "urls: expected an array of strings, got a string".into()
            )
        );
        assert_eq!(
            detail(r#"{"tags":["a"],"soft":"yes"}"#),
            (400, "soft: expected true or false, got a string".into())
        );
        assert_eq!(
            detail(r#"{"tags":null}"#),
            (400, "tags: expected an array of strings, got null".into())
        );
        assert_eq!(detail("[1]").1, "body: expected a JSON object");
        assert_eq!(detail("\"x\"").1, "body: expected a JSON object");
        assert!(detail("{").1.starts_with("malformed JSON"));
        assert!(detail("").1.starts_with("malformed JSON"));
        assert!(detail("{} x").1.starts_with("malformed JSON"));
    }

    #[test]
    fn unknown_and_duplicate_fields() {
        let (s, d) = detail(r#"{"tags":["a"],"tag":["b"]}"#);
        assert_eq!(s, 400);
        assert!(d.starts_with("\"tag\": unknown field"), "{d}");
        let (s, d) = detail(r#"{"tags":["a"],"tags":["b"]}"#);
        assert_eq!((s, d.as_str()), (400, "\"tags\": field given twice"));
    }

    #[test]
    fn content_errors() {
        assert_eq!(detail("{}").0, 422);
        assert_eq!(detail(r#"{"everything":false,"soft":true}"#).0, 422);
        assert_eq!(
            detail(r#"{"tags":["a",""]}"#),
            (422, "tags[1]: must not be empty".into())
        );
        let long = "x".repeat(129);
        assert_eq!(
            detail(&format!(r#"{{"tags":["{long}"]}}"#)),
            (422, "tags[0]: longer than 128 bytes".into())
        );
        assert_eq!(
            detail(r#"{"tags":["a\nb"]}"#),
            (422, "tags[0]: contains a control character".into())
        );
        assert_eq!(detail(r#"{"urls":["ftp://x/y"]}"#).0, 422);
        assert_eq!(detail(r#"{"urls":["relative/x"]}"#).0, 422);
        assert_eq!(detail(r#"{"urls":["//evil.com/x"]}"#).0, 422);
        assert_eq!(detail(r#"{"prefixes":["blog"]}"#).0, 422);
        assert_eq!(detail(r#"{"prefixes":["/blog?x=1"]}"#).0, 422);
        assert!(detail(r#"{"urls":["/ok","mailto:a@b"]}"#)
            .1
            .starts_with("urls[1]:"));
    }

    #[test]
    fn count_limits() {
        let tags: Vec<String> = (0..101).map(|i| format!("t{i}")).collect();
        let body = serde_json::json!({ "tags": tags }).to_string();
        assert_eq!(
            detail(&body),
            (422, "tags: 101 given, at most 100 per call".into())
        );
        let ok: Vec<String> = (0..100).map(|i| format!("t{i}")).collect();
        assert!(parse(&serde_json::json!({ "tags": ok }).to_string()).is_ok());
        let prefixes: Vec<String> = (0..21).map(|i| format!("/p{i}/")).collect();
        assert_eq!(
            detail(&serde_json::json!({ "prefixes": prefixes }).to_string()).0,
            422
        );
    }

    #[test]
    fn body_size_and_content_type_statuses() {
        let limits = PurgeLimits::default();
        let big = vec![b' '; limits.max_body_bytes + 1];
        assert_eq!(
            parse_purge_request(JSON, &big, &limits)
                .unwrap_err()
                .status(),
            413
        );
        assert_eq!(
            parse_purge_request(Some("text/plain"), b"{}", &limits)
                .unwrap_err()
                .status(),
            415
        );
        assert_eq!(
            parse_purge_request(None, b"{}", &limits)
                .unwrap_err()
                .status(),
            415
        );
    }

    proptest! {
        #[test]
        fn never_panics_on_bytes(body in proptest::collection::vec(any::<u8>(), 0..256)) {
            let _ = parse_purge_request(JSON, &body, &PurgeLimits::default());
        }

        #[test]
        fn never_panics_on_jsonish(body in r#"[{}\[\]",:a-z0-9 /\\u\-\.]{0,80}"#) {
            if let Err(e) = parse(&body) {
                prop_assert!([400u16, 422].contains(&e.status()));
            }
        }

        #[test]
        fn never_panics_on_content_type(ct in "\\PC{0,60}") {
            let _ = is_json_content_type(&ct);
        }

        #[test]
        fn valid_requests_round_trip(
            tags in proptest::collection::vec("[a-z0-9:_-]{1,20}", 0..5),
            paths in proptest::collection::vec("/([a-z0-9]{1,5}/){0,4}", 0..5),
            soft in any::<bool>(),
        ) {
            let body = serde_json::json!({ "tags": tags, "urls": paths, "prefixes": paths, "soft": soft, "everything": true });
            let r = parse(&body.to_string()).unwrap();
            prop_assert_eq!(r.tags, tags);
            prop_assert_eq!(&r.urls, &paths);
            prop_assert_eq!(r.soft, soft);
        }
    }
}
