//! Conditional requests against a stored response (RFC 9110 §13, RFC 9111 §4.3), and which
//! stored response a validation response updates (RFC 9111 §4.3.4, §4.3.5).
//!
//! Pure functions of header maps; the adapter (or the lifecycle) passes the stored response's
//! headers (at least `ETag`, `Last-Modified`, `Date`) and the time it was received.

use crate::freshness::parse_http_date;
use http::header::{
    CONTENT_LENGTH, DATE, ETAG, IF_MATCH, IF_MODIFIED_SINCE, IF_NONE_MATCH, IF_UNMODIFIED_SINCE,
    LAST_MODIFIED,
};
use http::{HeaderMap, HeaderName, Method};

/// The request header fields that make a request conditional (RFC 9110 §13.1), in the order
/// a recipient evaluates them (§13.2.2), `If-Range` last.
pub const CONDITIONAL_FIELDS: [HeaderName; 5] = [
    IF_MATCH,
    IF_UNMODIFIED_SINCE,
    IF_NONE_MATCH,
    IF_MODIFIED_SINCE,
    http::header::IF_RANGE,
];

/// The outcome of evaluating a request's preconditions against a stored response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Precondition {
    /// No precondition applies, or all hold: serve the stored response (Range handling next).
    Serve,
    /// `304 Not Modified` (only ever for GET and HEAD, RFC 9110 §13.1.2, §13.1.3).
    NotModified,
    /// `412 Precondition Failed` (RFC 9110 §15.5.13).
    Failed,
}

impl Precondition {
    /// The status code to answer with, `None` for [`Precondition::Serve`].
    pub fn status(self) -> Option<u16> {
        match self {
            Precondition::Serve => None,
            Precondition::NotModified => Some(304),
            Precondition::Failed => Some(412),
        }
    }
}

/// An `entity-tag` list (RFC 9110 §8.8.3: `[ "W/" ] DQUOTE *etagc DQUOTE`, commas and optional
/// whitespace between): `(weak, opaque-tag)` pairs, or `None` if any member is malformed
/// (unquoted, unterminated, bad characters). Commas inside the quotes belong to the tag.
pub fn entity_tags(list: &str) -> Option<Vec<(bool, &str)>> {
    let mut out = Vec::new();
    let mut rest = list;
    loop {
        rest = rest.trim_start_matches([' ', '\t', ',']);
        if rest.is_empty() {
            return Some(out);
        }
        let weak = rest.starts_with("W/");
        if let Some(r) = rest.strip_prefix("W/") {
            rest = r;
        }
        let body = rest.strip_prefix('"')?;
        let (tag, after) = body.split_once('"')?;
        if !tag
            .bytes()
            .all(|b| b == 0x21 || (0x23..=0x7e).contains(&b) || b >= 0x80)
        {
            return None;
        }
        out.push((weak, tag));
        rest = after;
        if !(rest.is_empty() || rest.starts_with([' ', '\t', ','])) {
            return None;
        }
    }
}

/// All lines of a field joined with `, ` (a list field, RFC 9110 §5.3); `None` when absent or
/// not visible ASCII/obs-text.
fn joined(h: &HeaderMap, name: &HeaderName) -> Option<String> {
    let all: Vec<String> = h
        .get_all(name)
        .iter()
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
        .collect();
    (!all.is_empty()).then(|| all.join(", "))
}

/// The stored response's one valid entity-tag, if it has exactly one.
fn stored_etag(stored: &HeaderMap) -> Option<(bool, String)> {
    let v = joined(stored, &ETAG)?;
    match entity_tags(&v)?.as_slice() {
        [(weak, tag)] => Some((*weak, (*tag).to_string())),
        _ => None,
    }
}

/// A single HTTP-date field (several lines, or an invalid date, give `None`: RFC 9110 §13.1.3
/// "A recipient MUST ignore the If-Modified-Since header field if the received field value is
/// not a valid HTTP-date, or if the field value has more than one member").
fn date_field(h: &HeaderMap, name: &HeaderName) -> Option<u64> {
    let mut it = h.get_all(name).iter();
    let v = it.next()?;
    if it.next().is_some() {
        return None;
    }
    parse_http_date(&String::from_utf8_lossy(v.as_bytes()))
}

/// Evaluates a request's preconditions against a stored response, as a cache answering from it
/// (RFC 9110 §13.2.2 precedence; RFC 9111 §4.3.2).
///
/// Contract, in order:
/// 1. the stored status is not 2xx, or the method is neither GET nor HEAD → `Serve` (RFC 9110
///    §13.2.1: preconditions are evaluated for a selected representation; RFC 9111 §4.3.2: a
///    cache answers only requests its stored response can satisfy);
/// 2. `If-Match` (valid): true for `*` or when a listed tag matches the stored `ETag` by the
///    **strong** comparison (§13.1.1; a weak stored tag never matches), else `Failed`;
/// 3. without `If-Match`, `If-Unmodified-Since` (one valid date) and a stored `Last-Modified`:
///    `Failed` when the stored date is later (§13.1.4: ignored without a modification date);
/// 4. `If-None-Match` (valid): `NotModified` for `*` or when a tag matches the stored `ETag`
///    by the **weak** comparison (§13.1.2) — `*` only when the stored response has a valid
///    `ETag` to send with the 304; else `Serve`, and If-Modified-Since is not looked at;
/// 5. without `If-None-Match`, `If-Modified-Since` (one valid date): `NotModified` when the
///    stored `Last-Modified` — or, without it, the stored `Date`, or else `received_at` (RFC
///    9111 §4.3.2) — is not later than it.
///
/// A malformed `If-Match`/`If-None-Match` (unquoted tags, ...) is ignored here: a cache never
/// *fails* a request on a field it cannot read, and serving the full response is always a
/// correct answer. When there is no stored response the fields go to the origin verbatim (see
/// `decision::miss_origin_headers`).
pub fn evaluate(
    method: &Method,
    req: &HeaderMap,
    stored_status: u16,
    stored: &HeaderMap,
    received_at: Option<u64>,
) -> Precondition {
    if !(200..300).contains(&stored_status) || !(method == Method::GET || method == Method::HEAD) {
        return Precondition::Serve;
    }
    // None of the steps below applies without a conditional field; most hits carry none, and
    // the stored validators are then not parsed at all.
    if !is_conditional(req) {
        return Precondition::Serve;
    }
    let mine = stored_etag(stored);
    // §13.2.2 step 1.
    if let Some(im) = joined(req, &IF_MATCH) {
        let holds = if im.trim() == "*" {
            true
        } else {
            match entity_tags(&im) {
                None => true, // malformed: ignored
                Some(tags) => mine.as_ref().is_some_and(|(weak, m)| {
                    !*weak && tags.iter().any(|(w, t)| !*w && *t == m.as_str())
                }),
            }
        };
        if !holds {
            return Precondition::Failed;
        }
    } else if let (Some(since), Some(lm)) = (
        date_field(req, &IF_UNMODIFIED_SINCE),
        date_field(stored, &LAST_MODIFIED),
    ) {
        // §13.2.2 step 2.
        if lm > since {
            return Precondition::Failed;
        }
    }
    // §13.2.2 step 3.
    if let Some(inm) = joined(req, &IF_NONE_MATCH) {
        // `*` matches any current representation (§13.1.2); edgecache only answers 304 for a
        // stored response it can name in the 304's ETag, else the full response (always correct).
        if inm.trim() == "*" {
            return if mine.is_some() {
                Precondition::NotModified
            } else {
                Precondition::Serve
            };
        }
        return match entity_tags(&inm) {
            Some(tags)
                if mine
                    .as_ref()
                    .is_some_and(|(_, m)| tags.iter().any(|(_, t)| *t == m.as_str())) =>
            {
                Precondition::NotModified
            }
            _ => Precondition::Serve,
        };
    }
    // §13.2.2 step 4.
    if let Some(since) = date_field(req, &IF_MODIFIED_SINCE) {
        let modified = date_field(stored, &LAST_MODIFIED)
            .or_else(|| date_field(stored, &DATE))
            .or(received_at);
        if modified.is_some_and(|m| m <= since) {
            return Precondition::NotModified;
        }
    }
    Precondition::Serve
}

/// Whether a request carries any conditional field (RFC 9110 §13.1).
pub fn is_conditional(req: &HeaderMap) -> bool {
    CONDITIONAL_FIELDS.iter().any(|n| req.contains_key(n))
}

/// Whether a 304 received while validating selects the (one) stored response for freshening
/// (RFC 9111 §4.3.4).
///
/// Contract: §4.3.4 "The stored response(s) to update are identified as follows: If the 304
/// response contains a strong entity tag: the stored responses with the same strong entity
/// tag. If the 304 response contains a Last-Modified value: the stored responses with the same
/// Last-Modified value. If there is only a single stored response: that response." edgecache
/// keeps one response per key, so the last rule would always select it; it is applied only when
/// the 304 names no validator that *contradicts* the stored one: a 304 whose strong `ETag`
/// differs (strong comparison), whose weak `ETag` differs (weak comparison) or whose
/// `Last-Modified` differs selects nothing, and the caller fetches the full response instead
/// (§4.3.3: "the cache ... MUST use the full response" when no stored response can be updated).
pub fn freshen_selects(stored: &HeaderMap, resp_304: &HeaderMap) -> bool {
    let mine = stored_etag(stored);
    if let Some(v) = joined(resp_304, &ETAG) {
        match entity_tags(&v).as_deref() {
            Some([(weak, tag)]) => {
                let same = mine
                    .as_ref()
                    .is_some_and(|(w, m)| m == tag && (*weak || !*w));
                if !same {
                    return false;
                }
                if !*weak {
                    return true; // first rule: the same strong entity tag
                }
            }
            _ => return false, // an ETag we cannot read cannot identify our response
        }
    }
    if resp_304.contains_key(LAST_MODIFIED) {
        return match (
            date_field(resp_304, &LAST_MODIFIED),
            date_field(stored, &LAST_MODIFIED),
        ) {
            (Some(a), Some(b)) => a == b,
            _ => false,
        };
    }
    true
}

/// What a `200` answer to an inbound HEAD does to the stored GET response (RFC 9111 §4.3.5).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HeadUpdate {
    /// Validators (and Content-Length, when given) agree: freshen the stored headers with the
    /// HEAD response's, as for a 304 (§3.2: `storable::merge_304_headers`).
    Freshen,
    /// They disagree: the stored response must be considered stale (revalidate before reuse).
    MarkStale,
    /// Not a 200: nothing to do.
    Ignore,
}

/// Decides what a HEAD response does to the stored response (RFC 9111 §4.3.5).
///
/// Contract: §4.3.5 "if the stored response and HEAD response have matching values for any
/// received validator fields (ETag and Last-Modified) and, if the HEAD response has a
/// Content-Length header field, the value of Content-Length matches that of the stored
/// response, the cache SHOULD update the stored response ...; otherwise, the cache SHOULD
/// consider the stored response to be stale." `stored_len` is the stored body's length.
pub fn head_update(
    status: u16,
    stored: &HeaderMap,
    stored_len: u64,
    head: &HeaderMap,
) -> HeadUpdate {
    if status != 200 {
        return HeadUpdate::Ignore;
    }
    let same = |name: &HeaderName| match (joined(head, name), joined(stored, name)) {
        (None, _) => true,
        (Some(a), Some(b)) => a.trim() == b.trim(),
        (Some(_), None) => false,
    };
    let length_ok = match joined(head, &CONTENT_LENGTH) {
        None => true,
        Some(v) => v.trim().parse::<u64>().ok() == Some(stored_len),
    };
    if same(&ETAG) && same(&LAST_MODIFIED) && length_ok {
        HeadUpdate::Freshen
    } else {
        HeadUpdate::MarkStale
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_util::hm;
    use proptest::prelude::*;

    const LM: &str = "Tue, 31 Dec 2024 00:00:00 GMT";
    const BEFORE: &str = "Mon, 30 Dec 2024 00:00:00 GMT";
    const AFTER: &str = "Wed, 01 Jan 2025 00:00:00 GMT";

    fn ev(req: &[(&str, &str)], stored: &[(&str, &str)]) -> Precondition {
        evaluate(&Method::GET, &hm(req), 200, &hm(stored), None)
    }

    #[test]
    fn if_match_is_strong_and_first() {
        let st = [("etag", "\"a\""), ("last-modified", LM)];
        assert_eq!(ev(&[("if-match", "\"a\"")], &st), Precondition::Serve);
        assert_eq!(
            ev(&[("if-match", "\"b\", \"a\"")], &st),
            Precondition::Serve
        );
        assert_eq!(ev(&[("if-match", "*")], &st), Precondition::Serve);
        assert_eq!(ev(&[("if-match", "\"b\"")], &st), Precondition::Failed);
        assert_eq!(ev(&[("if-match", "W/\"a\"")], &st), Precondition::Failed);
        let weak = [("etag", "W/\"a\"")];
        assert_eq!(ev(&[("if-match", "\"a\"")], &weak), Precondition::Failed);
        // If-Match wins over If-None-Match (checked first), and over If-Unmodified-Since.
        assert_eq!(
            ev(&[("if-match", "\"b\""), ("if-none-match", "\"a\"")], &st),
            Precondition::Failed
        );
        assert_eq!(
            ev(
                &[("if-match", "\"a\""), ("if-unmodified-since", BEFORE)],
                &st
            ),
            Precondition::Serve
        );
        // malformed: ignored
        assert_eq!(ev(&[("if-match", "a")], &st), Precondition::Serve);
    }

    #[test]
    fn if_unmodified_since() {
        let st = [("last-modified", LM)];
        assert_eq!(
            ev(&[("if-unmodified-since", BEFORE)], &st),
            Precondition::Failed
        );
        assert_eq!(ev(&[("if-unmodified-since", LM)], &st), Precondition::Serve);
        assert_eq!(
            ev(&[("if-unmodified-since", AFTER)], &st),
            Precondition::Serve
        );
        // no Last-Modified: ignored
        assert_eq!(
            ev(&[("if-unmodified-since", BEFORE)], &[]),
            Precondition::Serve
        );
    }

    #[test]
    fn if_none_match_weak_and_over_ims() {
        let st = [("etag", "W/\"a\""), ("last-modified", LM)];
        assert_eq!(
            ev(&[("if-none-match", "\"a\"")], &st),
            Precondition::NotModified
        );
        assert_eq!(
            ev(&[("if-none-match", "W/\"a\"")], &st),
            Precondition::NotModified
        );
        assert_eq!(
            ev(&[("if-none-match", "*")], &st),
            Precondition::NotModified
        );
        // present but not matching: If-Modified-Since is not evaluated
        assert_eq!(
            ev(
                &[("if-none-match", "\"b\""), ("if-modified-since", AFTER)],
                &st
            ),
            Precondition::Serve
        );
        assert_eq!(
            ev(&[("if-modified-since", AFTER)], &st),
            Precondition::NotModified
        );
        assert_eq!(
            ev(&[("if-modified-since", BEFORE)], &st),
            Precondition::Serve
        );
        // only GET/HEAD get 304; other methods are never answered here
        let post = evaluate(
            &Method::POST,
            &hm(&[("if-none-match", "*")]),
            200,
            &hm(&st),
            None,
        );
        assert_eq!(post, Precondition::Serve);
        let head = evaluate(
            &Method::HEAD,
            &hm(&[("if-none-match", "*")]),
            200,
            &hm(&st),
            None,
        );
        assert_eq!(head, Precondition::NotModified);
        // not a 2xx stored response: preconditions do not apply
        let e404 = evaluate(
            &Method::GET,
            &hm(&[("if-none-match", "*")]),
            404,
            &hm(&st),
            None,
        );
        assert_eq!(e404, Precondition::Serve);
    }

    #[test]
    fn freshening_selection() {
        let st = hm(&[("etag", "\"a\""), ("last-modified", LM)]);
        assert!(freshen_selects(&st, &hm(&[("etag", "\"a\"")])));
        assert!(!freshen_selects(&st, &hm(&[("etag", "\"b\"")])));
        assert!(freshen_selects(&st, &hm(&[("last-modified", LM)])));
        assert!(!freshen_selects(&st, &hm(&[("last-modified", BEFORE)])));
        assert!(freshen_selects(&st, &hm(&[])));
        assert!(freshen_selects(
            &st,
            &hm(&[("etag", "W/\"a\""), ("last-modified", LM)])
        ));
        let weak = hm(&[("etag", "W/\"a\"")]);
        assert!(!freshen_selects(&weak, &hm(&[("etag", "\"a\"")])));
        assert!(freshen_selects(&weak, &hm(&[("etag", "W/\"a\"")])));
        assert!(!freshen_selects(&st, &hm(&[("etag", "a")])));
    }

    #[test]
    fn head_updates() {
        let st = hm(&[("etag", "\"a\""), ("content-length", "5")]);
        let h = |p: &[(&str, &str)]| head_update(200, &st, 5, &hm(p));
        assert_eq!(
            h(&[("etag", "\"a\""), ("content-length", "5")]),
            HeadUpdate::Freshen
        );
        assert_eq!(h(&[]), HeadUpdate::Freshen);
        assert_eq!(h(&[("etag", "\"b\"")]), HeadUpdate::MarkStale);
        assert_eq!(h(&[("content-length", "6")]), HeadUpdate::MarkStale);
        assert_eq!(h(&[("last-modified", LM)]), HeadUpdate::MarkStale);
        assert_eq!(head_update(404, &st, 5, &hm(&[])), HeadUpdate::Ignore);
    }

    proptest! {
        #[test]
        fn evaluate_never_panics(a in "[ -~]{0,30}", b in "[ -~]{0,30}", c in "[ -~]{0,30}") {
            for name in ["if-match", "if-none-match", "if-modified-since", "if-unmodified-since"] {
                let mut req = HeaderMap::new();
                if let Ok(v) = http::HeaderValue::from_str(&a) {
                    req.insert(HeaderName::from_static(name), v);
                }
                let mut st = HeaderMap::new();
                if let Ok(v) = http::HeaderValue::from_str(&b) { st.insert(ETAG, v); }
                if let Ok(v) = http::HeaderValue::from_str(&c) { st.insert(LAST_MODIFIED, v); }
                let _ = evaluate(&Method::GET, &req, 200, &st, Some(0));
                let _ = freshen_selects(&st, &req);
            }
        }

        /// RFC 9110 §13.2.2: without a conditional field every step is skipped, whatever is
        /// stored (the shortcut on the hit path must not change an answer).
        #[test]
        fn no_conditional_field_is_always_served(
            other in proptest::collection::vec(("x-[a-z]{1,8}|accept|range|cookie", "[ -~]{0,30}"), 0..4),
            etag in "[ -~]{0,30}", lm in "[ -~]{0,30}", status in 200u16..300,
        ) {
            let mut req = HeaderMap::new();
            for (n, v) in &other {
                if let (Ok(n), Ok(v)) = (HeaderName::from_bytes(n.as_bytes()), http::HeaderValue::from_str(v)) {
                    req.append(n, v);
                }
            }
            let mut st = HeaderMap::new();
            if let Ok(v) = http::HeaderValue::from_str(&etag) { st.insert(ETAG, v); }
            if let Ok(v) = http::HeaderValue::from_str(&lm) { st.insert(LAST_MODIFIED, v); }
            for m in [Method::GET, Method::HEAD] {
                prop_assert_eq!(evaluate(&m, &req, status, &st, Some(0)), Precondition::Serve);
            }
        }
    }
}
