//! Durations and sizes as written in the policy file.
//!
//! Durations: `"0"`, a plain integer (seconds, as a string or a TOML/JSON integer), or a sequence
//! of `<digits><unit>` with units `d` (86 400 s), `h`, `m`, `s` in strictly decreasing order, each
//! at most once: `"30s"`, `"5m"`, `"1h30m"`, `"7d"`. No spaces, no signs, no fractions.
//!
//! Sizes: a plain integer (bytes) or `<digits><unit>` with unit `B`, `KB`, `MB` or `GB`
//! (case-insensitive; binary multiples: `1KB` = 1024 bytes; `KiB`/`MiB`/`GiB` are accepted as
//! synonyms). `"512KB"`, `"100MB"`.
//!
//! Both parsers are strict (config input) and never panic; overflow is an error, not a wrap.

use std::fmt;

/// Why a duration string was rejected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DurationError {
    /// The text is empty.
    Empty,
    /// The text is not of the accepted shape (a number, then a unit).
    Malformed,
    /// A unit appears twice or out of `d`, `h`, `m`, `s` order (e.g. `"5m1h"`).
    UnitOrder,
    /// The value does not fit in `u64` seconds.
    Overflow,
}

impl DurationError {
    /// Stable short identifier of the error kind.
    pub fn as_str(&self) -> &'static str {
        match self {
            DurationError::Empty => "empty",
            DurationError::Malformed => "malformed",
            DurationError::UnitOrder => "unit-order",
            DurationError::Overflow => "overflow",
        }
    }
}

impl fmt::Display for DurationError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DurationError::Empty => f.write_str("empty duration"),
            DurationError::Malformed => f.write_str("not a duration"),
            DurationError::UnitOrder => {
                f.write_str("units must appear once each, largest first (d, h, m, s)")
            }
            DurationError::Overflow => f.write_str("duration is too large"),
        }
    }
}

impl std::error::Error for DurationError {}

const UNITS: [(char, u64); 4] = [('d', 86_400), ('h', 3_600), ('m', 60), ('s', 1)];

/// Parse a policy duration into whole seconds.
///
/// Accepts `"0"`, `"300"` (seconds), `"30s"`, `"5m"`, `"1h30m"`, `"7d"`. Rejects anything else,
/// including whitespace, signs, fractions and repeated or misordered units.
pub fn parse_duration(s: &str) -> Result<u64, DurationError> {
    if s.is_empty() {
        return Err(DurationError::Empty);
    }
    if s.bytes().all(|b| b.is_ascii_digit()) {
        return parse_digits(s).ok_or(DurationError::Overflow);
    }
    let mut total: u64 = 0;
    let mut rest = s;
    // Index into UNITS of the next unit allowed (strictly decreasing order).
    let mut next_unit = 0usize;
    while !rest.is_empty() {
        let digits_end = rest
            .bytes()
            .position(|b| !b.is_ascii_digit())
            .ok_or(DurationError::Malformed)?;
        if digits_end == 0 {
            return Err(DurationError::Malformed);
        }
        let n = parse_digits(&rest[..digits_end]).ok_or(DurationError::Overflow)?;
        let unit = rest[digits_end..]
            .chars()
            .next()
            .ok_or(DurationError::Malformed)?;
        let (pos, unit_secs) = UNITS
            .iter()
            .enumerate()
            .find_map(|(i, (c, secs))| (*c == unit).then_some((i, *secs)))
            .ok_or(DurationError::Malformed)?;
        if pos < next_unit {
            return Err(DurationError::UnitOrder);
        }
        next_unit = pos + 1;
        let secs = n.checked_mul(unit_secs).ok_or(DurationError::Overflow)?;
        total = total.checked_add(secs).ok_or(DurationError::Overflow)?;
        rest = &rest[digits_end + unit.len_utf8()..];
    }
    Ok(total)
}

fn parse_digits(s: &str) -> Option<u64> {
    let mut n: u64 = 0;
    for b in s.bytes() {
        n = n.checked_mul(10)?.checked_add(u64::from(b - b'0'))?;
    }
    Some(n)
}

/// Format seconds in the policy syntax, largest units first: `5400` → `"1h30m"`, `0` → `"0"`.
///
/// The output always parses back to the same value with [`parse_duration`].
pub fn format_duration(secs: u64) -> String {
    if secs == 0 {
        return "0".to_string();
    }
    let mut out = String::new();
    let mut rest = secs;
    for (unit, size) in UNITS {
        let n = rest / size;
        if n > 0 {
            out.push_str(&n.to_string());
            out.push(unit);
            rest -= n * size;
        }
    }
    out
}

/// Why a size string was rejected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SizeError {
    /// The text is empty.
    Empty,
    /// Not digits followed by an optional `B`/`KB`/`MB`/`GB` unit.
    Malformed,
    /// The value does not fit in `u64` bytes.
    Overflow,
}

impl fmt::Display for SizeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SizeError::Empty => f.write_str("empty size"),
            SizeError::Malformed => f.write_str("not a size"),
            SizeError::Overflow => f.write_str("size is too large"),
        }
    }
}

impl std::error::Error for SizeError {}

const SIZE_UNITS: [(&str, u64); 7] = [
    ("b", 1),
    ("kb", 1 << 10),
    ("kib", 1 << 10),
    ("mb", 1 << 20),
    ("mib", 1 << 20),
    ("gb", 1 << 30),
    ("gib", 1 << 30),
];

/// Parse a size into bytes: `"1048576"`, `"512KB"`, `"100MB"`, `"1GB"` (binary multiples).
pub fn parse_size(s: &str) -> Result<u64, SizeError> {
    if s.is_empty() {
        return Err(SizeError::Empty);
    }
    let digits_end = s
        .bytes()
        .position(|b| !b.is_ascii_digit())
        .unwrap_or(s.len());
    if digits_end == 0 {
        return Err(SizeError::Malformed);
    }
    let n = parse_digits(&s[..digits_end]).ok_or(SizeError::Overflow)?;
    let unit = &s[digits_end..];
    if unit.is_empty() {
        return Ok(n);
    }
    let mult = SIZE_UNITS
        .iter()
        .find(|(u, _)| u.eq_ignore_ascii_case(unit))
        .map(|(_, m)| *m)
        .ok_or(SizeError::Malformed)?;
    n.checked_mul(mult).ok_or(SizeError::Overflow)
}

/// Format bytes with the largest unit that divides exactly: `104857600` → `"100MB"`,
/// `1000` → `"1000B"`. Parses back to the same value with [`parse_size`].
pub fn format_size(bytes: u64) -> String {
    for (unit, size) in [("GB", 1u64 << 30), ("MB", 1 << 20), ("KB", 1 << 10)] {
        if bytes != 0 && bytes.is_multiple_of(size) {
            return format!("{}{}", bytes / size, unit);
        }
    }
    format!("{bytes}B")
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const GOOD: &[(&str, u64)] = &[
        ("0", 0),
        ("300", 300),
        ("30s", 30),
        ("5m", 300),
        ("1h", 3600),
        ("7d", 604_800),
        ("1h30m", 5400),
        ("1d1h1m1s", 90_061),
        ("365d", 31_536_000),
        ("0s", 0),
        ("90m", 5400),
    ];

    const BAD: &[(&str, DurationError)] = &[
        ("", DurationError::Empty),
        ("5 minutes", DurationError::Malformed),
        (" 5m", DurationError::Malformed),
        ("5m ", DurationError::Malformed),
        ("-5s", DurationError::Malformed),
        ("1.5h", DurationError::Malformed),
        ("m", DurationError::Malformed),
        ("5x", DurationError::Malformed),
        ("5M", DurationError::Malformed),
        ("5m1h", DurationError::UnitOrder),
        ("1m1m", DurationError::UnitOrder),
        ("99999999999999999999", DurationError::Overflow),
        ("999999999999999999d", DurationError::Overflow),
        ("5m5", DurationError::Malformed),
        ("5é", DurationError::Malformed),
    ];

    #[test]
    fn parses_good_durations() {
        for (s, want) in GOOD {
            assert_eq!(parse_duration(s), Ok(*want), "{s}");
        }
    }

    #[test]
    fn rejects_bad_durations() {
        for (s, want) in BAD {
            assert_eq!(parse_duration(s).as_ref(), Err(want), "{s}");
        }
    }

    #[test]
    fn formats_durations() {
        assert_eq!(format_duration(0), "0");
        assert_eq!(format_duration(5400), "1h30m");
        assert_eq!(format_duration(90_061), "1d1h1m1s");
        assert_eq!(format_duration(31_536_000), "365d");
        assert_eq!(format_duration(59), "59s");
    }

    #[test]
    fn sizes() {
        assert_eq!(parse_size("100MB"), Ok(100 << 20));
        assert_eq!(parse_size("512KB"), Ok(512 << 10));
        assert_eq!(parse_size("512kib"), Ok(512 << 10));
        assert_eq!(parse_size("1GB"), Ok(1 << 30));
        assert_eq!(parse_size("12B"), Ok(12));
        assert_eq!(parse_size("12"), Ok(12));
        assert_eq!(parse_size(""), Err(SizeError::Empty));
        assert_eq!(parse_size("MB"), Err(SizeError::Malformed));
        assert_eq!(parse_size("1.5MB"), Err(SizeError::Malformed));
        assert_eq!(parse_size("1 MB"), Err(SizeError::Malformed));
        assert_eq!(parse_size("99999999999GB"), Err(SizeError::Overflow));
        assert_eq!(format_size(100 << 20), "100MB");
        assert_eq!(format_size(1000), "1000B");
        assert_eq!(format_size(0), "0B");
    }

    proptest! {
        #[test]
        fn duration_never_panics(s in ".{0,40}") {
            let _ = parse_duration(&s);
        }

        #[test]
        fn duration_never_panics_on_shaped_input(s in "[0-9dhms]{0,30}") {
            let _ = parse_duration(&s);
        }

        #[test]
        fn duration_round_trip(n in any::<u64>()) {
            prop_assert_eq!(parse_duration(&format_duration(n)), Ok(n));
        }

        #[test]
        fn size_never_panics(s in ".{0,40}") {
            let _ = parse_size(&s);
        }

        #[test]
        fn size_round_trip(n in any::<u64>()) {
            prop_assert_eq!(parse_size(&format_size(n)), Ok(n));
        }
    }
}
