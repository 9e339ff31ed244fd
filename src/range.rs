//! Range requests answered from a complete stored response (RFC 9110 §14, §13.1.5).
//!
//! edgecache stores complete `200` responses only (a `206` is never stored as a complete one,
//! RFC 9111 §3.3/§3: see `storable::check_storable`). When a client asks for a byte range of a
//! stored `200`, [`plan_range`] says what to send; the adapter slices the body stream.

use crate::freshness::parse_http_date;
use http::header::{DATE, ETAG, IF_RANGE, LAST_MODIFIED, RANGE};
use http::{HeaderMap, Method};

/// More range-specs than this in one `Range` field and the field is ignored (RFC 9110 §14.2:
/// a server "MAY ignore or reject a Range header field that contains ... a set of many small
/// ranges").
pub const MAX_RANGES: usize = 64;

/// What to answer a (possibly ranged) GET with, from a stored complete response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RangePlan {
    /// The whole stored response as it is (`200`): no `Range`, a `Range` that must or may be
    /// ignored (not GET, not `bytes`, invalid, several ranges, `If-Range` false).
    Full,
    /// `206 Partial Content` with the bytes `start..=end` of a body of `len` bytes.
    Partial {
        /// First byte offset.
        start: u64,
        /// Last byte offset (inclusive).
        end: u64,
        /// Complete length of the stored body.
        len: u64,
    },
    /// `416 Range Not Satisfiable`, with `Content-Range: bytes */len` (RFC 9110 §15.5.17).
    Unsatisfiable {
        /// Complete length of the stored body.
        len: u64,
    },
}

impl RangePlan {
    /// The status code to answer with.
    pub fn status(&self) -> u16 {
        match self {
            RangePlan::Full => 200,
            RangePlan::Partial { .. } => 206,
            RangePlan::Unsatisfiable { .. } => 416,
        }
    }

    /// The `Content-Range` value (RFC 9110 §14.4): `bytes start-end/len` or `bytes */len`.
    pub fn content_range(&self) -> Option<String> {
        match self {
            RangePlan::Full => None,
            RangePlan::Partial { start, end, len } => Some(format!("bytes {start}-{end}/{len}")),
            RangePlan::Unsatisfiable { len } => Some(format!("bytes */{len}")),
        }
    }

    /// The `Content-Length` of the answer's body (`None` for `Full`: the stored body's own).
    pub fn content_length(&self) -> Option<u64> {
        match self {
            RangePlan::Full => None,
            RangePlan::Partial { start, end, .. } => {
                Some(end.saturating_sub(*start).saturating_add(1))
            }
            RangePlan::Unsatisfiable { .. } => Some(0),
        }
    }
}

impl RangePlan {
    /// Edits the full response's headers into this plan's answer.
    ///
    /// Contract: `Full` leaves them as they are. `Partial` sets `Content-Range` and
    /// `Content-Length` (RFC 9110 §15.3.7: a single-part 206 carries Content-Range and the same
    /// header fields a 200 would, such as Date, Cache-Control, ETag, Expires, Vary). `Unsatisfiable`
    /// sets `Content-Range: bytes */len` (§15.5.17) and `Content-Length: 0`, and removes
    /// `Content-Type`/`Content-Encoding`, which would describe a body that is not sent.
    pub fn apply_headers(&self, h: &mut HeaderMap) {
        let (Some(cr), Some(cl)) = (self.content_range(), self.content_length()) else {
            return;
        };
        if let Ok(v) = http::HeaderValue::from_str(&cr) {
            h.insert(http::header::CONTENT_RANGE, v);
        }
        h.insert(http::header::CONTENT_LENGTH, http::HeaderValue::from(cl));
        if let RangePlan::Unsatisfiable { .. } = self {
            h.remove(http::header::CONTENT_TYPE);
            h.remove(http::header::CONTENT_ENCODING);
        }
    }
}

/// One parsed range-spec (RFC 9110 §14.1.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Spec {
    /// `first-pos "-" [ last-pos ]`
    Int(u64, Option<u64>),
    /// `"-" suffix-length`
    Suffix(u64),
}

/// Parses a `bytes` ranges-specifier; `None` when the unit is not `bytes` (case-insensitive)
/// or the range-set is invalid (an int-range whose last-pos is less than its first-pos, a
/// non-digit, no ranges, more than [`MAX_RANGES`]).
fn parse(value: &str) -> Option<Vec<Spec>> {
    let (unit, set) = value.trim().split_once('=')?;
    if !unit.trim_end().eq_ignore_ascii_case("bytes") {
        return None;
    }
    let digits = |s: &str| -> Option<u64> {
        let s = s.trim_matches([' ', '\t']);
        if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        // Offsets past u64 cannot be satisfied by any body; saturate rather than fail.
        Some(s.parse::<u64>().unwrap_or(u64::MAX))
    };
    let mut out = Vec::new();
    for member in set.split(',') {
        let member = member.trim_matches([' ', '\t']);
        if member.is_empty() {
            continue; // 1#element: empty list elements are ignored (RFC 9110 §5.6.1)
        }
        let (a, b) = member.split_once('-')?;
        let spec = if a.trim().is_empty() {
            Spec::Suffix(digits(b)?)
        } else {
            let first = digits(a)?;
            let last = if b.trim().is_empty() {
                None
            } else {
                Some(digits(b)?)
            };
            if last.is_some_and(|l| l < first) {
                return None; // §14.1.1: invalid
            }
            Spec::Int(first, last)
        };
        out.push(spec);
        if out.len() > MAX_RANGES {
            return None;
        }
    }
    (!out.is_empty()).then_some(out)
}

/// The satisfiable part of a spec against `len` bytes, as `(start, end)` inclusive.
fn resolve(spec: Spec, len: u64) -> Option<(u64, u64)> {
    let last = len.checked_sub(1)?;
    match spec {
        // §14.1.1: "An int-range is satisfiable if the first-pos is less than the current length"
        Spec::Int(first, l) => (first < len).then(|| (first, l.map_or(last, |l| l.min(last)))),
        // "A suffix-range is satisfiable if the suffix-length is not zero"
        Spec::Suffix(n) => (n > 0).then(|| (len.saturating_sub(n), last)),
    }
}

/// Whether `If-Range` lets the `Range` apply to the stored response (RFC 9110 §13.1.5).
///
/// Contract: absent → true. An entity-tag: true iff it and the stored `ETag` are both strong and
/// equal ("the server MUST use the strong comparison"). An HTTP-date: true iff it equals the
/// stored `Last-Modified` exactly and that date is strong, i.e. at least one second before the
/// stored `Date` (§8.8.2.2). Anything else → false (the Range is then ignored: "If the
/// validator does not match, the server MUST ignore the Range header field").
pub fn if_range_holds(req: &HeaderMap, stored: &HeaderMap) -> bool {
    let Some(v) = req.get(IF_RANGE) else {
        return true;
    };
    if req.get_all(IF_RANGE).iter().count() != 1 {
        return false;
    }
    let v = String::from_utf8_lossy(v.as_bytes());
    let v = v.trim();
    // §13.1.5: "A valid entity-tag can be distinguished from a valid HTTP-date by examining the
    // first three characters for a DQUOTE."
    if v.chars().take(3).any(|c| c == '"') {
        let tags = crate::conditional::entity_tags(v);
        let theirs = match tags.as_deref() {
            Some([(false, t)]) => *t,
            _ => return false,
        };
        let mine = stored
            .get(ETAG)
            .map(|e| String::from_utf8_lossy(e.as_bytes()).into_owned());
        return mine
            .as_deref()
            .and_then(crate::conditional::entity_tags)
            .is_some_and(|m| matches!(m.as_slice(), [(false, t)] if *t == theirs));
    }
    let date = |h: &HeaderMap, n| {
        h.get(n).and_then(|x: &http::HeaderValue| {
            parse_http_date(&String::from_utf8_lossy(x.as_bytes()))
        })
    };
    match (
        parse_http_date(v),
        date(stored, LAST_MODIFIED),
        date(stored, DATE),
    ) {
        (Some(given), Some(lm), Some(d)) => given == lm && d.saturating_sub(lm) >= 1,
        _ => false,
    }
}

/// What to answer a request with from a stored complete response of `len` bytes
/// (RFC 9110 §14.2).
///
/// Contract: `Full` unless the method is GET (§14.2: "GET is the only method for which range
/// handling is defined"), the stored status is 200, `len > 0`, there is exactly one `Range`
/// line with a valid `bytes` specifier and [`if_range_holds`]. Then: no satisfiable range →
/// `Unsatisfiable`; exactly one range-spec → `Partial` (last-pos clamped to `len - 1`; a suffix
/// longer than the body gives the whole body); several range-specs → `Full`. Several ranges
/// would need a `multipart/byteranges` body; §14.2 lets a server ignore `Range`
/// ("A server MAY ignore the Range header field"), and a full 200 is always a correct answer,
/// so edgecache does not build multipart bodies.
pub fn plan_range(
    method: &Method,
    req: &HeaderMap,
    stored_status: u16,
    stored: &HeaderMap,
    len: u64,
) -> RangePlan {
    if method != Method::GET || stored_status != 200 || len == 0 {
        return RangePlan::Full;
    }
    let mut lines = req.get_all(RANGE).iter();
    let (Some(line), None) = (lines.next(), lines.next()) else {
        return RangePlan::Full;
    };
    let Some(specs) = parse(&String::from_utf8_lossy(line.as_bytes())) else {
        return RangePlan::Full;
    };
    if !if_range_holds(req, stored) {
        return RangePlan::Full;
    }
    let satisfiable: Vec<(u64, u64)> = specs.iter().filter_map(|s| resolve(*s, len)).collect();
    match (satisfiable.as_slice(), specs.len()) {
        ([], _) => RangePlan::Unsatisfiable { len },
        ([(start, end)], 1) => RangePlan::Partial {
            start: *start,
            end: *end,
            len,
        },
        _ => RangePlan::Full,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_util::hm;
    use proptest::prelude::*;

    fn plan(range: &str, len: u64) -> RangePlan {
        plan_range(
            &Method::GET,
            &hm(&[("range", range)]),
            200,
            &HeaderMap::new(),
            len,
        )
    }

    #[test]
    fn single_ranges() {
        assert_eq!(
            plan("bytes=0-4", 10),
            RangePlan::Partial {
                start: 0,
                end: 4,
                len: 10
            }
        );
        assert_eq!(
            plan("bytes=5-", 10),
            RangePlan::Partial {
                start: 5,
                end: 9,
                len: 10
            }
        );
        assert_eq!(
            plan("bytes=-3", 10),
            RangePlan::Partial {
                start: 7,
                end: 9,
                len: 10
            }
        );
        assert_eq!(
            plan("bytes=-30", 10),
            RangePlan::Partial {
                start: 0,
                end: 9,
                len: 10
            }
        );
        assert_eq!(
            plan("bytes=8-100", 10),
            RangePlan::Partial {
                start: 8,
                end: 9,
                len: 10
            }
        );
        assert_eq!(
            plan("BYTES = 1-1", 10),
            RangePlan::Partial {
                start: 1,
                end: 1,
                len: 10
            }
        );
        let p = plan("bytes=2-5", 10);
        assert_eq!(p.content_range().as_deref(), Some("bytes 2-5/10"));
        assert_eq!(p.content_length(), Some(4));
        assert_eq!(p.status(), 206);
    }

    #[test]
    fn unsatisfiable_and_ignored() {
        let u = plan("bytes=10-", 10);
        assert_eq!(u, RangePlan::Unsatisfiable { len: 10 });
        assert_eq!(u.content_range().as_deref(), Some("bytes */10"));
        assert_eq!(u.status(), 416);
        assert_eq!(plan("bytes=-0", 10), RangePlan::Unsatisfiable { len: 10 });
        assert_eq!(
            plan("bytes=20-30, 40-", 10),
            RangePlan::Unsatisfiable { len: 10 }
        );
        for ignored in [
            "bytes=5-2",
            "items=0-1",
            "bytes=a-b",
            "bytes=",
            "bytes 0-1",
            "0-1",
            "bytes=0-1,2-3",
        ] {
            assert_eq!(plan(ignored, 10), RangePlan::Full, "{ignored}");
        }
        assert_eq!(plan("bytes=0-1", 0), RangePlan::Full);
        let head = plan_range(
            &Method::HEAD,
            &hm(&[("range", "bytes=0-1")]),
            200,
            &HeaderMap::new(),
            10,
        );
        assert_eq!(head, RangePlan::Full);
        let not200 = plan_range(
            &Method::GET,
            &hm(&[("range", "bytes=0-1")]),
            404,
            &HeaderMap::new(),
            10,
        );
        assert_eq!(not200, RangePlan::Full);
    }

    #[test]
    fn headers_of_the_answer() {
        let full = hm(&[
            ("content-type", "text/plain"),
            ("content-length", "10"),
            ("etag", "\"a\""),
        ]);
        let mut h = full.clone();
        plan("bytes=2-3", 10).apply_headers(&mut h);
        assert_eq!(h["content-range"], "bytes 2-3/10");
        assert_eq!(h["content-length"], "2");
        assert_eq!(h["etag"], "\"a\"");
        let mut h = full.clone();
        plan("bytes=20-", 10).apply_headers(&mut h);
        assert_eq!(h["content-range"], "bytes */10");
        assert_eq!(h["content-length"], "0");
        assert!(!h.contains_key("content-type"));
        let mut h = full.clone();
        RangePlan::Full.apply_headers(&mut h);
        assert_eq!(h, full);
    }

    #[test]
    fn if_range() {
        let stored = hm(&[
            ("etag", "\"v1\""),
            ("last-modified", "Tue, 31 Dec 2024 00:00:00 GMT"),
            ("date", "Wed, 01 Jan 2025 00:00:00 GMT"),
        ]);
        let p = |ir: &str| {
            plan_range(
                &Method::GET,
                &hm(&[("range", "bytes=0-0"), ("if-range", ir)]),
                200,
                &stored,
                10,
            )
        };
        let partial = RangePlan::Partial {
            start: 0,
            end: 0,
            len: 10,
        };
        assert_eq!(p("\"v1\""), partial);
        assert_eq!(p("\"v2\""), RangePlan::Full);
        assert_eq!(p("W/\"v1\""), RangePlan::Full);
        assert_eq!(p("Tue, 31 Dec 2024 00:00:00 GMT"), partial);
        assert_eq!(p("Mon, 30 Dec 2024 00:00:00 GMT"), RangePlan::Full);
        assert_eq!(p("garbage"), RangePlan::Full);
        // Last-Modified equal to Date is weak: If-Range with it is false.
        let weak = hm(&[
            ("last-modified", "Wed, 01 Jan 2025 00:00:00 GMT"),
            ("date", "Wed, 01 Jan 2025 00:00:00 GMT"),
        ]);
        let r = hm(&[
            ("range", "bytes=0-0"),
            ("if-range", "Wed, 01 Jan 2025 00:00:00 GMT"),
        ]);
        assert_eq!(
            plan_range(&Method::GET, &r, 200, &weak, 10),
            RangePlan::Full
        );
    }

    proptest! {
        #[test]
        fn ranges_stay_inside_the_body(s in "[bytes=0-9, -]{0,20}", len in 0u64..50) {
            match plan(&s, len) {
                RangePlan::Partial { start, end, len: l } => {
                    prop_assert!(start <= end && end < len && l == len);
                }
                RangePlan::Unsatisfiable { len: l } => prop_assert_eq!(l, len),
                RangePlan::Full => {}
            }
        }
    }
}
