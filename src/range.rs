//! Range requests answered from a complete stored response (RFC 9110 §14, §13.1.5).
//!
//! edgecache stores complete `200` responses only (a `206` is never stored as a complete one,
//! RFC 9111 §3.3/§3: see `storable::check_storable`). When a client asks for byte ranges of a
//! stored `200` (or of the `200` being stored), [`plan_range`] says what to send — one range, a
//! `multipart/byteranges` body built by [`apply_multipart`], or a 416 — and the adapter reads
//! the body's [`Segment`]s out of the stream in one pass.

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
    /// `206 Partial Content` as `multipart/byteranges` (RFC 9110 §14.6): two or more
    /// disjoint parts in ascending order, each `(start, end)` inclusive, of a body of `len`
    /// bytes.
    Multipart {
        /// The parts, ascending, never overlapping or closer than [`PART_GAP`].
        parts: Vec<(u64, u64)>,
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
            RangePlan::Partial { .. } | RangePlan::Multipart { .. } => 206,
            RangePlan::Unsatisfiable { .. } => 416,
        }
    }

    /// The `Content-Range` value (RFC 9110 §14.4): `bytes start-end/len` or `bytes */len`
    /// (none for a multipart answer: each part carries its own, §14.6).
    pub fn content_range(&self) -> Option<String> {
        match self {
            RangePlan::Full | RangePlan::Multipart { .. } => None,
            RangePlan::Partial { start, end, len } => Some(format!("bytes {start}-{end}/{len}")),
            RangePlan::Unsatisfiable { len } => Some(format!("bytes */{len}")),
        }
    }

    /// The `Content-Length` of the answer's body (`None` for `Full`: the stored body's own;
    /// `None` for `Multipart`: see [`body_length`]).
    pub fn content_length(&self) -> Option<u64> {
        match self {
            RangePlan::Full | RangePlan::Multipart { .. } => None,
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

/// Two satisfiable ranges closer than this many bytes are sent as one part: RFC 9110 §14.2 "a
/// server MAY coalesce any of the ranges that overlap, or that are separated by a gap that is
/// smaller than the overhead of sending multiple parts" (a part's delimiter and header fields
/// take about this much).
pub const PART_GAP: u64 = 80;

/// A piece of a `multipart/byteranges` body: fixed bytes (delimiters and part header fields)
/// or bytes `start..=end` of the stored body. Range pieces come in ascending order, so the
/// adapter reads the stored body once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Segment {
    /// These bytes.
    Bytes(Vec<u8>),
    /// Bytes `start..=end` (inclusive) of the stored body.
    Range {
        /// First byte.
        start: u64,
        /// Last byte (inclusive).
        end: u64,
    },
}

/// The body of a `multipart/byteranges` answer (RFC 9110 §14.6, RFC 2046 §5.1.1): for each part
/// a delimiter line `--boundary`, its `Content-Type` (the stored one, when it has one) and
/// `Content-Range`, an empty line and the bytes; then the close delimiter `--boundary--`.
/// Empty for a plan that is not `Multipart`.
pub fn multipart_segments(
    plan: &RangePlan,
    content_type: Option<&str>,
    boundary: &str,
) -> Vec<Segment> {
    let RangePlan::Multipart { parts, len } = plan else {
        return Vec::new();
    };
    let mut out = Vec::with_capacity(parts.len().saturating_mul(2).saturating_add(1));
    let ct = content_type
        .map(|c| format!("Content-Type: {c}\r\n"))
        .unwrap_or_default();
    for (i, &(start, end)) in parts.iter().enumerate() {
        let lead = if i == 0 { "" } else { "\r\n" };
        let len = *len;
        let cr = RangePlan::Partial { start, end, len }
            .content_range()
            .unwrap_or_default();
        let head = format!("{lead}--{boundary}\r\n{ct}Content-Range: {cr}\r\n\r\n");
        out.push(Segment::Bytes(head.into_bytes()));
        out.push(Segment::Range { start, end });
    }
    out.push(Segment::Bytes(
        format!("\r\n--{boundary}--\r\n").into_bytes(),
    ));
    out
}

/// Edits the full response's headers for a `Multipart` plan and returns its body: the stored
/// `Content-Type` moves into each part, the answer's becomes `multipart/byteranges;
/// boundary=…`, `Content-Length` is the body's and no `Content-Range` is sent (RFC 9110 §14.6,
/// §15.3.7.2). `boundary` must not occur in the body (RFC 2046 §5.1.1): the caller draws it at
/// random. Empty (headers untouched) for any other plan.
pub fn apply_multipart(plan: &RangePlan, h: &mut HeaderMap, boundary: &str) -> Vec<Segment> {
    if !matches!(plan, RangePlan::Multipart { .. }) {
        return Vec::new();
    }
    let ct = h
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let segs = multipart_segments(plan, ct.as_deref(), boundary);
    if let Ok(v) =
        http::HeaderValue::from_str(&format!("multipart/byteranges; boundary={boundary}"))
    {
        h.insert(http::header::CONTENT_TYPE, v);
    }
    h.insert(
        http::header::CONTENT_LENGTH,
        http::HeaderValue::from(body_length(&segs)),
    );
    h.remove(http::header::CONTENT_RANGE);
    segs
}

/// The length of a body made of `segments` (its `Content-Length`).
pub fn body_length(segments: &[Segment]) -> u64 {
    segments.iter().fold(0u64, |n, s| {
        n.saturating_add(match s {
            Segment::Bytes(b) => u64::try_from(b.len()).unwrap_or(u64::MAX),
            Segment::Range { start, end } => end.saturating_sub(*start).saturating_add(1),
        })
    })
}

/// The parts to send for the satisfiable ranges `sat` (request order): ranges that overlap or
/// lie within [`PART_GAP`] of the part before them are coalesced into it (RFC 9110 §14.2).
/// `None` when a range starts before the part before it: §14.6 asks for the parts "in the same
/// order that the corresponding range-spec appeared", and edgecache reads the stored body once,
/// front to back, so it ignores such a `Range` instead (§14.2 "MAY ignore").
fn coalesce(sat: &[(u64, u64)]) -> Option<Vec<(u64, u64)>> {
    let mut out: Vec<(u64, u64)> = Vec::with_capacity(sat.len());
    for &(start, end) in sat {
        match out.last_mut() {
            Some(last) if start < last.0 => return None,
            Some(last) if start <= last.1.saturating_add(PART_GAP) => last.1 = last.1.max(end),
            _ => out.push((start, end)),
        }
    }
    Some(out)
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
/// `Unsatisfiable`; else the satisfiable ranges (last-pos clamped to `len - 1`; a suffix longer
/// than the body gives the whole body), coalesced where they overlap or nearly touch
/// ([`PART_GAP`]): one part → `Partial`, several → `Multipart` (RFC 9110 §14.6; "A server MUST
/// NOT generate a multipart response to a request for a single range"). Ranges out of
/// ascending order → `Full` (§14.2 "A server MAY ignore the Range header field"; a full 200 is
/// always a correct answer).
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
    if satisfiable.is_empty() {
        return RangePlan::Unsatisfiable { len };
    }
    match coalesce(&satisfiable) {
        Some(parts) => match parts.as_slice() {
            [(start, end)] => RangePlan::Partial {
                start: *start,
                end: *end,
                len,
            },
            _ => RangePlan::Multipart { parts, len },
        },
        None => RangePlan::Full,
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
            "bytes=5-6,0-1",
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
                RangePlan::Multipart { parts, len: l } => {
                    prop_assert!(l == len && parts.len() >= 2);
                    for w in parts.windows(2) {
                        prop_assert!(w[0].1.saturating_add(PART_GAP) < w[1].0);
                    }
                    for (a, b) in parts {
                        prop_assert!(a <= b && b < len);
                    }
                }
                RangePlan::Unsatisfiable { len: l } => prop_assert_eq!(l, len),
                RangePlan::Full => {}
            }
        }

        /// A multipart body built from the plan parses back (RFC 2046 §5.1.1) into parts whose
        /// Content-Range and bytes are exactly the requested slices of the body, every requested
        /// satisfiable byte is in some part, and the announced length is the body's.
        #[test]
        fn multipart_bodies_parse_back(
            body in proptest::collection::vec(any::<u8>(), 1..600),
            specs in proptest::collection::vec((0u64..700, 0u64..200, any::<bool>()), 1..6),
        ) {
            let len = body.len() as u64;
            let header: Vec<String> = specs
                .iter()
                .map(|(a, n, suffix)| if *suffix { format!("-{n}") } else { format!("{a}-{}", a + n) })
                .collect();
            let header = format!("bytes={}", header.join(","));
            let plan = plan(&header, len);
            let RangePlan::Multipart { parts, .. } = &plan else {
                return Ok(());
            };
            let mut h = hm(&[("content-type", "text/plain")]);
            let boundary = "edgecache-0123456789abcdef";
            let segs = apply_multipart(&plan, &mut h, boundary);
            let mut out = Vec::new();
            for seg in &segs {
                match seg {
                    Segment::Bytes(b) => out.extend_from_slice(b),
                    Segment::Range { start, end } => {
                        out.extend_from_slice(&body[*start as usize..=*end as usize]);
                    }
                }
            }
            prop_assert_eq!(h["content-length"].to_str().unwrap(), out.len().to_string());
            prop_assert_eq!(
                h["content-type"].to_str().unwrap(),
                format!("multipart/byteranges; boundary={boundary}")
            );
            prop_assert!(!h.contains_key("content-range"));
            // Parse it front to back, part by part, as a client following the part heads.
            let delim = format!("--{boundary}");
            let close = format!("\r\n--{boundary}--\r\n");
            prop_assert!(out.ends_with(close.as_bytes()));
            let mut rest = &out[..out.len() - close.len()];
            for (i, (a, b)) in parts.iter().enumerate() {
                let lead = if i == 0 { String::new() } else { "\r\n".to_string() };
                let head = format!(
                    "{lead}{delim}\r\nContent-Type: text/plain\r\nContent-Range: bytes {a}-{b}/{len}\r\n\r\n"
                );
                prop_assert!(rest.starts_with(head.as_bytes()));
                rest = &rest[head.len()..];
                let n = (b - a + 1) as usize;
                prop_assert_eq!(&rest[..n], &body[*a as usize..=*b as usize]);
                rest = &rest[n..];
            }
            prop_assert!(rest.is_empty());
            // Every satisfiable requested byte is sent.
            for (a, n, suffix) in &specs {
                let (s, e) = if *suffix {
                    if *n == 0 { continue; }
                    (len.saturating_sub(*n), len - 1)
                } else {
                    if *a >= len { continue; }
                    (*a, (a + n).min(len - 1))
                };
                for x in s..=e {
                    prop_assert!(parts.iter().any(|(p, q)| *p <= x && x <= *q));
                }
            }
        }
    }

    #[test]
    fn multipart_plans() {
        // Far apart: two parts, request order kept.
        assert_eq!(
            plan("bytes=0-9, 500-509", 1000),
            RangePlan::Multipart {
                parts: vec![(0, 9), (500, 509)],
                len: 1000
            }
        );
        // Overlapping or close ranges are coalesced (RFC 9110 §14.2); one part is a plain 206.
        assert_eq!(
            plan("bytes=0-1,2-3", 10),
            RangePlan::Partial {
                start: 0,
                end: 3,
                len: 10
            }
        );
        assert_eq!(
            plan("bytes=0-99, 50-150, 900-", 1000),
            RangePlan::Multipart {
                parts: vec![(0, 150), (900, 999)],
                len: 1000
            }
        );
        // Unsatisfiable members are left out.
        assert_eq!(
            plan("bytes=0-0, 5000-6000, -1", 1000),
            RangePlan::Multipart {
                parts: vec![(0, 0), (999, 999)],
                len: 1000
            }
        );
        // Out of ascending order: ignored (a 200).
        assert_eq!(plan("bytes=500-509, 0-9", 1000), RangePlan::Full);
        let p = plan("bytes=0-9, 500-509", 1000);
        assert_eq!(p.status(), 206);
        assert_eq!(p.content_range(), None);
        let segs = multipart_segments(&p, None, "B");
        assert_eq!(
            segs.first(),
            Some(&Segment::Bytes(
                b"--B\r\nContent-Range: bytes 0-9/1000\r\n\r\n".to_vec()
            ))
        );
        assert_eq!(
            segs.last(),
            Some(&Segment::Bytes(b"\r\n--B--\r\n".to_vec()))
        );
        // 20 body bytes, two part heads (38 and 44 bytes) and the close delimiter (9).
        assert_eq!(body_length(&segs), 2 * 10 + 38 + 44 + 9);
    }
}
