//! Freshness and age (RFC 9111 §4.2) and HTTP dates (RFC 9110 §5.6.7).
//!
//! Pure functions: every time is unix seconds passed in by the caller; nothing reads a clock.

use crate::cache_control::{CacheControl, CcSource, EdgeCacheControl};
use http::header::{AGE, DATE, EXPIRES, LAST_MODIFIED};
use http::HeaderMap;

/// Upper bound on a heuristic freshness lifetime: one day.
///
/// RFC 9111 §4.2.2 leaves the bound to the cache ("caches are encouraged to use a heuristic
/// expiration value that is no more than some fraction of the interval since that time"); a day
/// keeps a years-old `Last-Modified` from pinning a page at the edge for weeks.
pub const HEURISTIC_CAP: u64 = 86_400;

/// Fraction of `Date − Last-Modified` used as heuristic lifetime: 1/10 (§4.2.2 "A typical setting
/// of this fraction might be 10%").
pub const HEURISTIC_DIVISOR: u64 = 10;

/// Largest time [`format_http_date`] can express: 9999-12-31T23:59:59Z.
pub const MAX_HTTP_DATE: u64 = 253_402_300_799;

const DAYS: [&str; 7] = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];
const LONG_DAYS: [&str; 7] = [
    "Sunday",
    "Monday",
    "Tuesday",
    "Wednesday",
    "Thursday",
    "Friday",
    "Saturday",
];
const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// Parses an HTTP-date (RFC 9110 §5.6.7) into unix seconds.
///
/// Contract: accepts the three formats a recipient MUST accept: IMF-fixdate
/// (`Sun, 06 Nov 1994 08:49:37 GMT`), obsolete RFC 850 (`Sunday, 06-Nov-94 08:49:37 GMT`) and
/// asctime (`Sun Nov  6 08:49:37 1994`). Structure is strict (single spaces, two-digit time
/// fields, four-digit IMF year, `GMT` only: `UTC` is invalid); day, month and `GMT` are matched
/// case-insensitively; the weekday must be a real name but is not cross-checked against the date.
/// RFC 850 two-digit years 00–69 read as 20xx and 70–99 as 19xx (a fixed pivot approximating
/// §5.6.7's "more than 50 years in the future" rule without a clock). Dates before 1970 saturate
/// to 0. Returns `None` for anything else; never panics.
pub fn parse_http_date(s: &str) -> Option<u64> {
    let s = s.trim_matches([' ', '\t']).as_bytes();
    let comma = s.iter().position(|&b| b == b',');
    match comma {
        Some(3) => parse_imf(s),
        Some(_) => parse_rfc850(s),
        None => parse_asctime(s),
    }
}

/// `Sun, 06 Nov 1994 08:49:37 GMT`
fn parse_imf(s: &[u8]) -> Option<u64> {
    // A fixed-size array: every index below is checked at compile time.
    let s: &[u8; 29] = s.try_into().ok()?;
    if &s[3..5] != b", " || s[7] != b' ' || s[11] != b' ' || s[16] != b' ' {
        return None;
    }
    name_index(&s[..3], &DAYS)?;
    let day = digits(&s[5..7])?;
    let month = name_index(&s[8..11], &MONTHS)?;
    let year = digits(&s[12..16])?;
    let secs = time_of_day(&s[17..25])?;
    if s[25] != b' ' || !s[26..].eq_ignore_ascii_case(b"GMT") {
        return None;
    }
    to_unix(year, month, day, secs)
}

/// `Sunday, 06-Nov-94 08:49:37 GMT`
fn parse_rfc850(s: &[u8]) -> Option<u64> {
    let comma = s.iter().position(|&b| b == b',')?;
    let (day_name, r) = s.split_at_checked(comma)?;
    name_index(day_name, &LONG_DAYS)?;
    let r: &[u8; 24] = r.try_into().ok()?;
    if &r[..2] != b", " || r[4] != b'-' || r[8] != b'-' || r[11] != b' ' {
        return None;
    }
    let day = digits(&r[2..4])?;
    let month = name_index(&r[5..8], &MONTHS)?;
    let yy = digits(&r[9..11])?;
    let year = if yy < 70 { 2000 + yy } else { 1900 + yy };
    let secs = time_of_day(&r[12..20])?;
    if r[20] != b' ' || !r[21..].eq_ignore_ascii_case(b"GMT") {
        return None;
    }
    to_unix(year, month, day, secs)
}

/// `Sun Nov  6 08:49:37 1994` (day is `2DIGIT / ( SP DIGIT )`)
fn parse_asctime(s: &[u8]) -> Option<u64> {
    let s: &[u8; 24] = s.try_into().ok()?;
    if s[3] != b' ' || s[7] != b' ' || s[10] != b' ' || s[19] != b' ' {
        return None;
    }
    name_index(&s[..3], &DAYS)?;
    let month = name_index(&s[4..7], &MONTHS)?;
    let day = if s[8] == b' ' {
        digits(&s[9..10])?
    } else {
        digits(&s[8..10])?
    };
    let secs = time_of_day(&s[11..19])?;
    let year = digits(&s[20..24])?;
    to_unix(year, month, day, secs)
}

fn name_index(s: &[u8], names: &[&str]) -> Option<usize> {
    names
        .iter()
        .position(|n| n.as_bytes().eq_ignore_ascii_case(s))
}

fn digits(s: &[u8]) -> Option<u64> {
    if s.is_empty() || !s.iter().all(u8::is_ascii_digit) {
        return None;
    }
    s.iter().try_fold(0u64, |acc, b| {
        acc.checked_mul(10)?
            .checked_add(u64::from(b.wrapping_sub(b'0')))
    })
}

/// `HH:MM:SS` → seconds in the day; second 60 (leap second) is allowed by RFC 5322.
fn time_of_day(s: &[u8]) -> Option<u64> {
    let s: &[u8; 8] = s.try_into().ok()?;
    if s[2] != b':' || s[5] != b':' {
        return None;
    }
    let (h, m, sec) = (digits(&s[0..2])?, digits(&s[3..5])?, digits(&s[6..8])?);
    if h > 23 || m > 59 || sec > 60 {
        return None;
    }
    Some(h * 3600 + m * 60 + sec)
}

fn is_leap(y: u64) -> bool {
    (y.is_multiple_of(4) && !y.is_multiple_of(100)) || y.is_multiple_of(400)
}

fn days_in_month(y: u64, month0: usize) -> u64 {
    match month0 {
        1 if is_leap(y) => 29,
        1 => 28,
        3 | 5 | 8 | 10 => 30,
        _ => 31,
    }
}

fn to_unix(year: u64, month0: usize, day: u64, secs: u64) -> Option<u64> {
    if day == 0 || day > days_in_month(year, month0) {
        return None;
    }
    // month0 < 12 because it comes from name_index over MONTHS.
    let days = days_from_civil(year as i64, month0 as i64 + 1, day as i64);
    let t = days * 86_400 + secs as i64;
    Some(u64::try_from(t).unwrap_or(0))
}

/// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400; // [0, 399]
    let mp = (m + 9) % 12; // March = 0
    let doy = (153 * mp + 2) / 5 + d - 1; // [0, 365]
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy; // [0, 146096]
    era * 146_097 + doe - 719_468
}

/// Inverse of [`days_from_civil`]: (year, month 1–12, day 1–31).
fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

/// Formats unix seconds as an IMF-fixdate, e.g. `Sun, 06 Nov 1994 08:49:37 GMT`.
///
/// Contract: the preferred format of RFC 9110 §5.6.7; times after [`MAX_HTTP_DATE`] are clamped
/// to it (four-digit years). `parse_http_date(&format_http_date(t)) == Some(t)` for every
/// `t <= MAX_HTTP_DATE`.
pub fn format_http_date(secs: u64) -> String {
    let secs = secs.min(MAX_HTTP_DATE) as i64; // fits: MAX_HTTP_DATE < i64::MAX
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    let weekday = (days + 4).rem_euclid(7) as usize; // 1970-01-01 was a Thursday.
    format!(
        "{}, {:02} {} {:04} {:02}:{:02}:{:02} GMT",
        DAYS.get(weekday).copied().unwrap_or("Thu"),
        d,
        MONTHS
            .get(usize::try_from(m - 1).unwrap_or(0))
            .copied()
            .unwrap_or("Jan"),
        y,
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// The response's `Date` (first line) if valid, else `fallback`.
///
/// RFC 9110 §6.6.1: "A recipient with a clock that receives a response with an invalid Date
/// header field value MAY replace that value with the time that response was received."
pub fn date_or(headers: &HeaderMap, fallback: u64) -> u64 {
    header_date(headers, DATE).unwrap_or(fallback)
}

fn header_date(headers: &HeaderMap, name: http::HeaderName) -> Option<u64> {
    let v = headers.get(name)?;
    parse_http_date(std::str::from_utf8(v.as_bytes()).ok()?)
}

/// Explicit freshness lifetime for a shared cache (RFC 9111 §4.2.1), in seconds.
///
/// Contract: `None` means "no explicit expiration time" (a heuristic may apply, §4.2.2).
/// `date_or` is the time the response was received, used when `Date` is absent or invalid. An
/// invalid `Expires` (e.g. `0`) or several `Expires` lines give `Some(0)`: already expired.
pub fn freshness_lifetime(cc: &CacheControl, headers: &HeaderMap, date_or: u64) -> Option<u64> {
    // "If the cache is shared and the s-maxage response directive (Section 5.2.2.10) is
    //  present, use its value, or"
    cc.s_maxage
        // "If the max-age response directive (Section 5.2.2.1) is present, use its value, or"
        .or(cc.max_age)
        // "If the Expires response header field (Section 5.3) is present, use its value minus
        //  the value of the Date response header field (using the time the message was received
        //  if it is not present, as per Section 6.6.1 of [HTTP]), or"
        .or_else(|| expires_lifetime(headers, date_or))
    // "Otherwise, no explicit expiration time is present in the response. A heuristic
    //  freshness lifetime might be applicable; see Section 4.2.2."
}

/// [`freshness_lifetime`] for the edge's own directives: when they come from a targeted field
/// (`CDN-Cache-Control`), `Expires` is ignored (RFC 9213 §2.1 "it MUST ignore the Cache-Control
/// and Expires header fields in that response").
pub fn edge_freshness_lifetime(
    edge: &EdgeCacheControl,
    headers: &HeaderMap,
    date_or: u64,
) -> Option<u64> {
    match edge.source {
        CcSource::Targeted(_) => edge.cc.s_maxage.or(edge.cc.max_age),
        CcSource::CacheControl | CcSource::Absent => freshness_lifetime(&edge.cc, headers, date_or),
    }
}

/// `Expires − Date` (§5.3); `None` when Expires is absent.
fn expires_lifetime(headers: &HeaderMap, date_or: u64) -> Option<u64> {
    let mut lines = headers.get_all(EXPIRES).iter();
    let first = lines.next()?;
    if lines.next().is_some() {
        // §4.2.1: with more than one value "either the first occurrence should be used or the
        // response should be considered stale"; we choose stale.
        return Some(0);
    }
    // §5.3: "A cache recipient MUST interpret invalid date formats, especially the value "0",
    // as representing a time in the past (i.e., "already expired")."
    let Some(expires) = std::str::from_utf8(first.as_bytes())
        .ok()
        .and_then(parse_http_date)
    else {
        return Some(0);
    };
    Some(expires.saturating_sub(self::date_or(headers, date_or)))
}

/// Heuristic freshness lifetime (RFC 9111 §4.2.2) from `Last-Modified`.
///
/// Contract: `(Date − Last-Modified) / 10`, capped at [`HEURISTIC_CAP`]; `Date` falls back to
/// `now_or_date` when absent/invalid. `None` without a valid `Last-Modified` or when it is later
/// than `Date`. The caller decides whether heuristics apply at all: only when policy allows,
/// there is no explicit freshness, and [`heuristically_cacheable`] holds for the status.
pub fn heuristic_lifetime(headers: &HeaderMap, now_or_date: u64) -> Option<u64> {
    let last_modified = header_date(headers, LAST_MODIFIED)?;
    let date = date_or(headers, now_or_date);
    let interval = date.checked_sub(last_modified)?;
    Some((interval / HEURISTIC_DIVISOR).min(HEURISTIC_CAP))
}

/// Whether `status` is heuristically cacheable (RFC 9110 §15.1, referenced by RFC 9111 §4.2.2).
///
/// Contract: true exactly for 200, 203, 204, 206, 300, 301, 308, 404, 405, 410, 414, 501.
pub fn heuristically_cacheable(status: u16) -> bool {
    matches!(
        status,
        200 | 203 | 204 | 206 | 300 | 301 | 308 | 404 | 405 | 410 | 414 | 501
    )
}

/// The `Age` header's value (RFC 9111 §5.1), 0 when absent or invalid.
///
/// Contract: first line only; within it the first list member, with any `;parameters` dropped;
/// `1*DIGIT` capped at [`DELTA_SECONDS_CAP`](crate::cache_control::DELTA_SECONDS_CAP); non-numeric, negative or fractional → 0 (ignored,
/// as the cache-tests suite expects).
pub fn age_value(headers: &HeaderMap) -> u64 {
    let Some(v) = headers.get(AGE) else { return 0 };
    let s = String::from_utf8_lossy(v.as_bytes());
    let first = s.split(',').next().unwrap_or("");
    let first = first.split(';').next().unwrap_or("");
    crate::cache_control::parse_delta_seconds(first.trim_matches([' ', '\t'])).unwrap_or(0)
}

/// `corrected_initial_age` of RFC 9111 §4.2.3, in seconds.
///
/// Contract: `request_time` is when the request was sent, `response_time` when the response
/// arrived; a missing or invalid `Date` counts as `response_time` (apparent age 0). Saturating
/// arithmetic, never panics.
pub fn initial_age(headers: &HeaderMap, request_time: u64, response_time: u64) -> u64 {
    let date_value = date_or(headers, response_time);
    // apparent_age = max(0, response_time - date_value);
    let apparent_age = response_time.saturating_sub(date_value);
    // response_delay = response_time - request_time;
    let response_delay = response_time.saturating_sub(request_time);
    // corrected_age_value = age_value + response_delay;
    let corrected_age_value = age_value(headers).saturating_add(response_delay);
    // corrected_initial_age = max(apparent_age, corrected_age_value);
    apparent_age.max(corrected_age_value)
}

/// `current_age` of RFC 9111 §4.2.3: `corrected_initial_age + (now - response_time)`.
///
/// Contract: a `now` earlier than `response_time` (clock skew) adds nothing.
pub fn current_age(initial_age: u64, response_time: u64, now: u64) -> u64 {
    // resident_time = now - response_time;
    // current_age = corrected_initial_age + resident_time;
    initial_age.saturating_add(now.saturating_sub(response_time))
}

/// Whether a response is fresh (RFC 9111 §4.2: `response_is_fresh = (freshness_lifetime >
/// current_age)`).
pub fn is_fresh(freshness_lifetime: u64, current_age: u64) -> bool {
    freshness_lifetime > current_age
}

/// Remaining freshness in seconds, negative once stale (the Cache-Status `ttl`, RFC 9211 §2.4).
pub fn ttl(freshness_lifetime: u64, current_age: u64) -> i64 {
    let clamp = |v: u64| i64::try_from(v).unwrap_or(i64::MAX);
    clamp(freshness_lifetime).saturating_sub(clamp(current_age))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cache_control::DELTA_SECONDS_CAP;
    use proptest::prelude::*;

    const SUNDAY_1994: u64 = 784_111_777; // Sun, 06 Nov 1994 08:49:37 GMT

    use crate::test_util::hm;

    #[test]
    fn three_formats() {
        assert_eq!(
            parse_http_date("Sun, 06 Nov 1994 08:49:37 GMT"),
            Some(SUNDAY_1994)
        );
        assert_eq!(
            parse_http_date("Sunday, 06-Nov-94 08:49:37 GMT"),
            Some(SUNDAY_1994)
        );
        assert_eq!(
            parse_http_date("Sun Nov  6 08:49:37 1994"),
            Some(SUNDAY_1994)
        );
        assert_eq!(
            format_http_date(SUNDAY_1994),
            "Sun, 06 Nov 1994 08:49:37 GMT"
        );
    }

    #[test]
    fn case_insensitive_names() {
        let t = parse_http_date("Thu, 18 Aug 2050 02:01:18 GMT");
        assert!(t.is_some());
        assert_eq!(parse_http_date("THU, 18 Aug 2050 02:01:18 GMT"), t);
        assert_eq!(parse_http_date("Thu, 18 AUG 2050 02:01:18 GMT"), t);
        assert_eq!(parse_http_date("Thu, 18 Aug 2050 02:01:18 gMT"), t);
        assert_eq!(parse_http_date("Thursday, 18-Aug-50 02:01:18 GMT"), t);
        assert_eq!(parse_http_date("Thu Aug 18 02:01:18 2050"), t);
    }

    #[test]
    fn rejects_invalid() {
        for s in [
            "0",
            "",
            "Thu, 18 Aug 2050 02:01:18 UTC",
            "Thu, 18 Aug 2050 02:01:18 AEST",
            "Thu, 18 Aug 50 02:01:18 GMT",
            "Thu 18 Aug 2050 02:01:18 GMT",
            "Thu, 18  Aug  2050 02:01:18 GMT",
            "Thu, 18-Aug-2050 02:01:18 GMT",
            "Thu, 18 Aug 2050 02.01.18 GMT",
            "Thu, 18 Aug 2050 2:01:18 GMT",
            "Thu, 31 Feb 2050 02:01:18 GMT",
            "Thu, 18 Aug 2050 24:01:18 GMT",
            "Xyz, 18 Aug 2050 02:01:18 GMT",
            "Thu, 18 Aug 2050 02:01:18 GMT junk",
            "Thu Aug 18 02:01:18 50",
        ] {
            assert_eq!(parse_http_date(s), None, "{s}");
        }
    }

    #[test]
    fn leap_years_and_bounds() {
        assert!(parse_http_date("Tue, 29 Feb 2000 00:00:00 GMT").is_some());
        assert!(parse_http_date("Mon, 29 Feb 1900 00:00:00 GMT").is_none());
        assert_eq!(parse_http_date("Thu, 01 Jan 1970 00:00:00 GMT"), Some(0));
        assert_eq!(parse_http_date("Mon, 01 Jan 1900 00:00:00 GMT"), Some(0));
        assert_eq!(
            parse_http_date("Tue, 19 Jan 2038 14:14:08 GMT"),
            Some(2_147_523_248)
        );
        assert_eq!(format_http_date(u64::MAX), "Fri, 31 Dec 9999 23:59:59 GMT");
    }

    #[test]
    fn explicit_freshness_order() {
        let h = hm(&[
            ("date", "Sun, 06 Nov 1994 08:49:37 GMT"),
            ("expires", "Sun, 06 Nov 1994 09:49:37 GMT"),
        ]);
        let cc = CacheControl::parse("max-age=60, s-maxage=120");
        assert_eq!(freshness_lifetime(&cc, &h, 0), Some(120));
        let cc = CacheControl::parse("max-age=60");
        assert_eq!(freshness_lifetime(&cc, &h, 0), Some(60));
        assert_eq!(
            freshness_lifetime(&CacheControl::default(), &h, 0),
            Some(3600)
        );
        assert_eq!(
            freshness_lifetime(&CacheControl::default(), &hm(&[]), 0),
            None
        );
    }

    #[test]
    fn expires_without_date_uses_receipt_time() {
        let h = hm(&[("expires", "Sun, 06 Nov 1994 09:49:37 GMT")]);
        let lt = freshness_lifetime(&CacheControl::default(), &h, SUNDAY_1994 + 600);
        assert_eq!(lt, Some(3000));
    }

    #[test]
    fn invalid_or_duplicate_expires_is_expired() {
        let h = hm(&[("expires", "0")]);
        assert_eq!(freshness_lifetime(&CacheControl::default(), &h, 5), Some(0));
        let h = hm(&[
            ("expires", "Sun, 06 Nov 2094 09:49:37 GMT"),
            ("expires", "Sun, 06 Nov 2094 09:49:37 GMT"),
        ]);
        assert_eq!(freshness_lifetime(&CacheControl::default(), &h, 5), Some(0));
    }

    #[test]
    fn heuristic() {
        let h = hm(&[
            ("date", "Sun, 06 Nov 1994 08:49:37 GMT"),
            ("last-modified", "Sun, 06 Nov 1994 06:49:37 GMT"),
        ]);
        assert_eq!(heuristic_lifetime(&h, 0), Some(720));
        let h = hm(&[("last-modified", "Thu, 01 Jan 1970 00:00:00 GMT")]);
        assert_eq!(heuristic_lifetime(&h, SUNDAY_1994), Some(HEURISTIC_CAP));
        assert_eq!(heuristic_lifetime(&h, 0), Some(0));
        let h = hm(&[("last-modified", "Sun, 06 Nov 2094 06:49:37 GMT")]);
        assert_eq!(heuristic_lifetime(&h, SUNDAY_1994), None);
        assert_eq!(heuristic_lifetime(&hm(&[]), SUNDAY_1994), None);
        assert!(heuristically_cacheable(404) && !heuristically_cacheable(302));
    }

    #[test]
    fn age_parsing() {
        let age = |v: &[&str]| {
            let mut h = HeaderMap::new();
            for x in v {
                h.append(AGE, http::HeaderValue::from_str(x).unwrap());
            }
            age_value(&h)
        };
        assert_eq!(age(&[]), 0);
        assert_eq!(age(&["abc"]), 0);
        assert_eq!(age(&["-7200"]), 0);
        assert_eq!(age(&["7200.0"]), 0);
        assert_eq!(age(&["7200, 0"]), 7200);
        assert_eq!(age(&["0, 7200"]), 0);
        assert_eq!(age(&["7200", "0"]), 7200);
        assert_eq!(age(&["7200;foo=bar"]), 7200);
        assert_eq!(age(&["2147483649"]), DELTA_SECONDS_CAP);
    }

    #[test]
    fn age_math() {
        // Date 10s before receipt, Age 3, 2s of delay: max(10, 3 + 2) = 10.
        let h = hm(&[("date", "Sun, 06 Nov 1994 08:49:37 GMT"), ("age", "3")]);
        let a = initial_age(&h, SUNDAY_1994 + 8, SUNDAY_1994 + 10);
        assert_eq!(a, 10);
        assert_eq!(current_age(a, SUNDAY_1994 + 10, SUNDAY_1994 + 15), 15);
        assert_eq!(current_age(a, SUNDAY_1994 + 10, 0), 10);
        // Age dominates.
        let h = hm(&[("date", "Sun, 06 Nov 1994 08:49:37 GMT"), ("age", "100")]);
        assert_eq!(initial_age(&h, SUNDAY_1994, SUNDAY_1994 + 1), 101);
        // Date in the future: apparent age 0.
        let h = hm(&[("date", "Sun, 06 Nov 1994 08:49:37 GMT")]);
        assert_eq!(initial_age(&h, 0, 1), 1);
        assert!(is_fresh(10, 9) && !is_fresh(10, 10));
        assert_eq!(ttl(10, 22), -12);
    }

    proptest! {
        #[test]
        fn round_trip(t in 0..=MAX_HTTP_DATE) {
            prop_assert_eq!(parse_http_date(&format_http_date(t)), Some(t));
        }

        #[test]
        fn parse_never_panics(s in ".{0,40}") {
            let _ = parse_http_date(&s);
        }

        #[test]
        fn parse_never_panics_near_valid(s in "[A-Za-z]{3,9},? [0-9 ]{1,2}[- ][A-Za-z]{3}[- ][0-9]{2,4} [0-9:.]{8} [A-Za-z]{0,4}") {
            let _ = parse_http_date(&s);
        }

        #[test]
        fn asctime_and_rfc850_agree(t in 0u64..3_155_760_000) {
            // 1970..2069 so the RFC 850 two-digit pivot is unambiguous.
            let imf = format_http_date(t);
            let b = imf.as_bytes();
            let day: u64 = imf[5..7].parse().unwrap();
            let wd = DAYS.iter().position(|d| d.as_bytes() == &b[..3]).unwrap();
            let asctime = format!("{} {} {:>2} {} {}", &imf[..3], &imf[8..11], day, &imf[17..25], &imf[12..16]);
            let rfc850 = format!("{}, {}-{}-{} {} GMT", LONG_DAYS[wd], &imf[5..7], &imf[8..11], &imf[14..16], &imf[17..25]);
            prop_assert_eq!(parse_http_date(&asctime), Some(t));
            prop_assert_eq!(parse_http_date(&rfc850), Some(t));
        }
    }
}
