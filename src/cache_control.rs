//! `Cache-Control` (RFC 9111 §5.2) and targeted `CDN-Cache-Control` (RFC 9213) parsing.
//!
//! Parsing is lenient and never panics: unknown directives are ignored, malformed values fall back
//! to the conservative reading (RFC 9111 §4.2.1: "Caches are encouraged to consider responses that
//! have invalid freshness information (e.g., a max-age directive with non-integer content) to be
//! stale").
//!
//! # Precedence for the edge (RFC 9213 §2.1)
//!
//! The edge is a CDN, so its target list is [`CDN_TARGET_LIST`]:
//! `Cloudflare-CDN-Cache-Control`, then `CDN-Cache-Control`. "the cache MUST select the first (in
//! target list order) field with a valid, non-empty value and use its value to determine the
//! caching policy for the response, and it MUST ignore the Cache-Control and Expires header fields
//! in that response, unless no valid, non-empty value is available from the listed header fields."
//! [`edge_cache_control`] applies that rule and tells the caller which field won, so that Expires
//! can be ignored too (see `freshness::edge_freshness_lifetime`). `Cache-Control` itself is still
//! what the browser sees (the adapter may rewrite it with [`CacheControl::to_header_value`]).

use http::HeaderMap;

/// Largest delta-seconds value we represent (RFC 9111 §1.2.2).
///
/// "If a cache receives a delta-seconds value greater than the greatest integer it can represent,
/// or if any of its subsequent calculations overflows, the cache MUST consider the value to be
/// 2147483648 (2^31) or the greatest positive integer it can conveniently represent."
pub const DELTA_SECONDS_CAP: u64 = 2_147_483_648;

/// Targeted cache-control fields the edge obeys, in precedence order (RFC 9213 §2.1).
///
/// The vendor-specific field comes first: it targets only Cloudflare's CDN, so it is more
/// specific than the generic `CDN-Cache-Control`.
pub const CDN_TARGET_LIST: [&str; 2] = ["cloudflare-cdn-cache-control", "cdn-cache-control"];

/// Value of the `max-stale` request directive (RFC 9111 §5.2.1.2).
///
/// A bare `max-stale` means the client accepts a stale response of any staleness.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MaxStale {
    /// `max-stale` without a value: any staleness is acceptable.
    Any,
    /// `max-stale=N`: staleness of at most N seconds is acceptable.
    Secs(u64),
}

/// Parsed cache directives, request (§5.2.1) and response (§5.2.2) ones in one struct.
///
/// Contract: value directives keep their first occurrence (§4.2.1 "either the first occurrence
/// should be used or the response should be considered stale"); boolean directives are set if they
/// occur anywhere (the most restrictive reading, §4.2.1 "the most restrictive directive should be
/// honored"). `no_cache` / `private` are the *unqualified* forms; the qualified forms
/// (`no-cache="Set-Cookie"`) fill `no_cache_fields` / `private_fields` with lowercase, deduplicated
/// field names instead.
#[derive(Default, Debug, Clone, PartialEq)]
pub struct CacheControl {
    /// `max-age=N` (§5.2.1.1 request, §5.2.2.1 response). Invalid value → `Some(0)`.
    pub max_age: Option<u64>,
    /// `s-maxage=N` (§5.2.2.10), shared caches only. Invalid value → `Some(0)`.
    pub s_maxage: Option<u64>,
    /// `no-store` (§5.2.1.5, §5.2.2.5).
    pub no_store: bool,
    /// Unqualified `no-cache` (§5.2.1.4, §5.2.2.4): every reuse needs validation.
    pub no_cache: bool,
    /// Field names of a qualified `no-cache="a, b"` (§5.2.2.4), lowercase.
    pub no_cache_fields: Vec<String>,
    /// Unqualified `private` (§5.2.2.7): a shared cache must not store the response.
    pub private: bool,
    /// Field names of a qualified `private="a, b"` (§5.2.2.7), lowercase.
    pub private_fields: Vec<String>,
    /// `public` (§5.2.2.9).
    pub public: bool,
    /// `must-revalidate` (§5.2.2.2).
    pub must_revalidate: bool,
    /// `proxy-revalidate` (§5.2.2.8): must-revalidate for shared caches.
    pub proxy_revalidate: bool,
    /// `must-understand` (§5.2.2.3).
    pub must_understand: bool,
    /// `no-transform` (§5.2.1.6, §5.2.2.6).
    pub no_transform: bool,
    /// `immutable` (RFC 8246).
    pub immutable: bool,
    /// `stale-while-revalidate=N` (RFC 5861 §3). Invalid value → `None` (ignored).
    pub stale_while_revalidate: Option<u64>,
    /// `stale-if-error=N` (RFC 5861 §4). Invalid value → `None` (ignored).
    pub stale_if_error: Option<u64>,
    /// `only-if-cached` request directive (§5.2.1.7).
    pub only_if_cached: bool,
    /// `max-stale[=N]` request directive (§5.2.1.2). Invalid value → `None` (ignored).
    pub max_stale: Option<MaxStale>,
    /// `min-fresh=N` request directive (§5.2.1.3). Invalid value → `None` (ignored).
    pub min_fresh: Option<u64>,
}

/// Which field supplied the edge's cache directives (see [`edge_cache_control`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CcSource {
    /// A targeted field from [`CDN_TARGET_LIST`] (the lowercase field name). Expires is ignored.
    Targeted(&'static str),
    /// The plain `Cache-Control` field.
    CacheControl,
    /// Neither field was present (or usable): all directives are defaults.
    Absent,
}

impl CcSource {
    /// Short stable name for Cache-Status details and metrics.
    ///
    /// Contract: `cdn-cache-control`, `cloudflare-cdn-cache-control`, `cache-control` or `none`.
    pub fn as_str(&self) -> &'static str {
        match self {
            CcSource::Targeted(name) => name,
            CcSource::CacheControl => "cache-control",
            CcSource::Absent => "none",
        }
    }
}

/// The directives governing the edge's own caching of a response, and where they came from.
#[derive(Debug, Clone, PartialEq)]
pub struct EdgeCacheControl {
    /// The directives to apply.
    pub cc: CacheControl,
    /// Their source; when [`CcSource::Targeted`], `Expires` must be ignored (RFC 9213 §2.1).
    pub source: CcSource,
}

/// Directive-level state while parsing: which value directives were already seen.
#[derive(Default)]
struct Seen {
    max_age: bool,
    s_maxage: bool,
    swr: bool,
    sie: bool,
    max_stale: bool,
    min_fresh: bool,
}

impl CacheControl {
    /// Parses a `Cache-Control` field value (all lines already joined with `,`).
    ///
    /// Contract: never panics; names are case-insensitive; arguments may be tokens or quoted
    /// strings (§5.2: "recipients ought to accept both forms"); commas inside quoted strings do
    /// not split directives; empty list members are ignored; a name containing whitespace (e.g.
    /// `max-age =60`) is not a valid token and the member is ignored; delta-seconds are capped at
    /// [`DELTA_SECONDS_CAP`].
    pub fn parse(value: &str) -> Self {
        let mut cc = CacheControl::default();
        let mut seen = Seen::default();
        for member in split_list(value) {
            let (name, arg) = match member.find('=') {
                Some(eq) => (&member[..eq], Some(unquote(&member[eq + 1..]))),
                None => (member, None),
            };
            if name.is_empty() || !name.bytes().all(is_tchar) {
                continue;
            }
            cc.apply(&name.to_ascii_lowercase(), arg.as_deref(), &mut seen);
        }
        cc
    }

    /// Parses every line of header `name`, joined with `, ` (RFC 9110 §5.3).
    ///
    /// Contract: `None` when the header is absent; non-UTF-8 bytes are replaced (lossy), which can
    /// only make a directive unrecognisable, never invent one.
    pub fn from_headers(
        headers: &HeaderMap,
        name: impl http::header::AsHeaderName,
    ) -> Option<Self> {
        joined_lines(headers, name).map(|v| Self::parse(&v))
    }

    /// Applies one directive (lowercase name, unquoted argument).
    fn apply(&mut self, name: &str, arg: Option<&str>, seen: &mut Seen) {
        // Value directives: first occurrence wins (§4.2.1).
        fn first<T>(seen: &mut bool, slot: &mut Option<T>, value: Option<T>) {
            if !*seen {
                *seen = true;
                *slot = value;
            }
        }
        let delta = arg.and_then(parse_delta_seconds);
        match name {
            // §4.2.1: invalid freshness information → stale, i.e. max-age=0.
            "max-age" => first(
                &mut seen.max_age,
                &mut self.max_age,
                Some(delta.unwrap_or(0)),
            ),
            "s-maxage" => first(
                &mut seen.s_maxage,
                &mut self.s_maxage,
                Some(delta.unwrap_or(0)),
            ),
            "stale-while-revalidate" => {
                first(&mut seen.swr, &mut self.stale_while_revalidate, delta)
            }
            "stale-if-error" => first(&mut seen.sie, &mut self.stale_if_error, delta),
            "min-fresh" => first(&mut seen.min_fresh, &mut self.min_fresh, delta),
            "max-stale" => {
                let v = match arg {
                    None => Some(MaxStale::Any),
                    Some(_) => delta.map(MaxStale::Secs),
                };
                first(&mut seen.max_stale, &mut self.max_stale, v)
            }
            "no-cache" => qualified(arg, &mut self.no_cache, &mut self.no_cache_fields),
            "private" => qualified(arg, &mut self.private, &mut self.private_fields),
            "no-store" => self.no_store = true,
            "public" => self.public = true,
            "must-revalidate" => self.must_revalidate = true,
            "proxy-revalidate" => self.proxy_revalidate = true,
            "must-understand" => self.must_understand = true,
            "no-transform" => self.no_transform = true,
            "immutable" => self.immutable = true,
            "only-if-cached" => self.only_if_cached = true,
            _ => {} // §5.2.3: "A cache MUST ignore unrecognized cache directives."
        }
    }

    /// Serialises the directives as a `Cache-Control` field value.
    ///
    /// Contract: canonical order, token form for numbers, quoted-string form for field lists;
    /// numbers are capped at [`DELTA_SECONDS_CAP`]; `parse(to_header_value(cc)) == cc` for any `cc`
    /// whose field names are lowercase tokens without duplicates (what `parse` produces). The
    /// default value serialises to the empty string.
    pub fn to_header_value(&self) -> String {
        let mut out: Vec<String> = Vec::new();
        let flag = |out: &mut Vec<String>, on: bool, name: &str| {
            if on {
                out.push(name.to_string());
            }
        };
        let num = |out: &mut Vec<String>, v: Option<u64>, name: &str| {
            if let Some(v) = v {
                out.push(format!("{name}={}", v.min(DELTA_SECONDS_CAP)));
            }
        };
        let fields = |out: &mut Vec<String>, list: &[String], name: &str| {
            if !list.is_empty() {
                out.push(format!("{name}={}", quote(&list.join(", "))));
            }
        };
        flag(&mut out, self.public, "public");
        flag(&mut out, self.private, "private");
        fields(&mut out, &self.private_fields, "private");
        flag(&mut out, self.no_cache, "no-cache");
        fields(&mut out, &self.no_cache_fields, "no-cache");
        flag(&mut out, self.no_store, "no-store");
        flag(&mut out, self.no_transform, "no-transform");
        flag(&mut out, self.must_revalidate, "must-revalidate");
        flag(&mut out, self.proxy_revalidate, "proxy-revalidate");
        flag(&mut out, self.must_understand, "must-understand");
        num(&mut out, self.max_age, "max-age");
        num(&mut out, self.s_maxage, "s-maxage");
        num(
            &mut out,
            self.stale_while_revalidate,
            "stale-while-revalidate",
        );
        num(&mut out, self.stale_if_error, "stale-if-error");
        flag(&mut out, self.immutable, "immutable");
        match self.max_stale {
            Some(MaxStale::Any) => out.push("max-stale".to_string()),
            Some(MaxStale::Secs(s)) => num(&mut out, Some(s), "max-stale"),
            None => {}
        }
        num(&mut out, self.min_fresh, "min-fresh");
        flag(&mut out, self.only_if_cached, "only-if-cached");
        out.join(", ")
    }
}

/// Handles `no-cache` / `private`: bare form sets the flag, argument form lists field names.
///
/// An argument that names no valid field (`no-cache=""`) is read as the bare form: the
/// conservative choice.
fn qualified(arg: Option<&str>, flag: &mut bool, fields: &mut Vec<String>) {
    let Some(arg) = arg else {
        *flag = true;
        return;
    };
    let mut any = false;
    for name in arg.split(',').map(|s| s.trim_matches(is_ows)) {
        if name.is_empty() || !name.bytes().all(is_tchar) {
            continue;
        }
        any = true;
        let lower = name.to_ascii_lowercase();
        if !fields.contains(&lower) {
            fields.push(lower);
        }
    }
    if !any {
        *flag = true;
    }
}

/// Returns the edge's governing directives per RFC 9213 §2.1 (see the module docs).
///
/// Contract: the first targeted field of [`CDN_TARGET_LIST`] that is a valid, non-empty
/// Structured Field dictionary wins; otherwise `Cache-Control`; otherwise defaults with
/// [`CcSource::Absent`].
pub fn edge_cache_control(headers: &HeaderMap) -> EdgeCacheControl {
    if let Some((cc, name)) = targeted(headers) {
        return EdgeCacheControl {
            cc,
            source: CcSource::Targeted(name),
        };
    }
    match CacheControl::from_headers(headers, http::header::CACHE_CONTROL) {
        Some(cc) => EdgeCacheControl {
            cc,
            source: CcSource::CacheControl,
        },
        None => EdgeCacheControl {
            cc: CacheControl::default(),
            source: CcSource::Absent,
        },
    }
}

/// Parses the first valid, non-empty targeted field of [`CDN_TARGET_LIST`] (RFC 9213).
///
/// Contract: `None` when no targeted field is present, or all present ones are empty or invalid
/// (RFC 9213 §2.2: "If a targeted field in a given response is empty, or a parsing error is
/// encountered, that field SHOULD be ignored by the cache"). Leniency: uppercase keys are
/// lowercased (Structured Fields would reject them). A known directive with a value of the wrong
/// type (`max-age="60"`, `max-age` as a string/token/decimal) makes the whole field invalid, so the
/// cache falls back to `Cache-Control`. `no-store=?0` turns a boolean directive off; a negative
/// `max-age` reads as 0 (stale).
pub fn cdn_cache_control(headers: &HeaderMap) -> Option<CacheControl> {
    targeted(headers).map(|(cc, _)| cc)
}

fn targeted(headers: &HeaderMap) -> Option<(CacheControl, &'static str)> {
    CDN_TARGET_LIST.iter().find_map(|name| {
        let value = joined_lines(headers, *name)?;
        let dict = sf::parse_dictionary(&value)?;
        if dict.is_empty() {
            return None;
        }
        from_dictionary(&dict).map(|cc| (cc, *name))
    })
}

/// Maps a Structured Field dictionary onto cache directives (RFC 9213 §2.2).
fn from_dictionary(dict: &[(String, sf::Item)]) -> Option<CacheControl> {
    use sf::Item;
    let mut cc = CacheControl::default();
    let mut seen = Seen::default();
    for (key, item) in dict {
        match key.as_str() {
            "max-age" | "s-maxage" | "stale-while-revalidate" | "stale-if-error" | "min-fresh" => {
                let Item::Integer(n) = item else {
                    return None; // wrong type: the field is invalid.
                };
                let arg = if *n < 0 {
                    "invalid".to_string()
                } else {
                    n.to_string()
                };
                cc.apply(key, Some(&arg), &mut seen);
            }
            "no-cache" | "private" => match item {
                Item::Boolean(true) => cc.apply(key, None, &mut seen),
                Item::Boolean(false) => {}
                Item::String(s) | Item::Token(s) => cc.apply(key, Some(s), &mut seen),
                Item::InnerList(names) => cc.apply(key, Some(&names.join(",")), &mut seen),
                _ => return None,
            },
            "no-store" | "public" | "must-revalidate" | "proxy-revalidate" | "must-understand"
            | "no-transform" | "immutable" => match item {
                Item::Boolean(true) => cc.apply(key, None, &mut seen),
                Item::Boolean(false) => {}
                _ => return None,
            },
            _ => {} // unknown or request-only directives: ignored.
        }
    }
    Some(cc)
}

/// Joins all lines of header `name` with `, `; `None` when absent.
pub(crate) fn joined_lines(
    headers: &HeaderMap,
    name: impl http::header::AsHeaderName,
) -> Option<String> {
    let mut lines = headers.get_all(name).iter().peekable();
    lines.peek()?;
    let parts: Vec<String> = lines
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
        .collect();
    Some(parts.join(", "))
}

/// Parses delta-seconds (§1.2.2): 1*DIGIT, capped at [`DELTA_SECONDS_CAP`]; anything else → None.
pub(crate) fn parse_delta_seconds(s: &str) -> Option<u64> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let mut v: u64 = 0;
    for b in s.bytes() {
        v = v.saturating_mul(10).saturating_add(u64::from(b - b'0'));
        if v >= DELTA_SECONDS_CAP {
            return Some(DELTA_SECONDS_CAP);
        }
    }
    Some(v)
}

/// Splits a comma-separated list, respecting quoted strings; trims OWS; drops empty members.
pub(crate) fn split_list(value: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let (mut in_quotes, mut escaped, mut start) = (false, false, 0);
    for (i, c) in value.char_indices() {
        if in_quotes {
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == '"' {
                in_quotes = false;
            }
        } else if c == '"' {
            in_quotes = true;
        } else if c == ',' {
            out.push(&value[start..i]);
            start = i + 1;
        }
    }
    out.push(&value[start..]);
    out.into_iter()
        .map(|m| m.trim_matches(is_ows))
        .filter(|m| !m.is_empty())
        .collect()
}

/// Unquotes a directive argument if it is a quoted-string; returns it unchanged otherwise.
///
/// An unterminated quoted-string yields its content up to the end; text after the closing quote
/// is dropped.
fn unquote(arg: &str) -> String {
    let Some(rest) = arg.strip_prefix('"') else {
        return arg.to_string();
    };
    let mut out = String::new();
    let mut chars = rest.chars();
    while let Some(c) = chars.next() {
        match c {
            '"' => break,
            '\\' => {
                if let Some(n) = chars.next() {
                    out.push(n);
                }
            }
            _ => out.push(c),
        }
    }
    out
}

/// Serialises `s` as a quoted-string (RFC 9110 §5.6.4), escaping `"` and `\`.
fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        if c == '"' || c == '\\' {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
    out
}

/// OWS = *( SP / HTAB ) (RFC 9110 §5.6.3).
pub(crate) fn is_ows(c: char) -> bool {
    c == ' ' || c == '\t'
}

/// tchar (RFC 9110 §5.6.2).
pub(crate) fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

/// A small Structured Field Values parser (RFC 8941 / RFC 9651), enough to validate
/// dictionaries and lists. Parameters are validated and discarded.
pub(crate) mod sf {
    /// A parsed member value (parameters dropped).
    #[derive(Debug, Clone, PartialEq)]
    pub enum Item {
        /// sf-integer.
        Integer(i64),
        /// sf-decimal (kept as text; we never need its value).
        Decimal,
        /// sf-string (unescaped).
        String(String),
        /// sf-token.
        Token(String),
        /// sf-binary.
        Bytes,
        /// sf-boolean.
        Boolean(bool),
        /// sf-date (RFC 9651).
        Date,
        /// Inner list; members rendered as text (tokens/strings), others as their kind.
        InnerList(Vec<String>),
    }

    struct P<'a> {
        s: &'a [u8],
        i: usize,
    }

    impl<'a> P<'a> {
        /// The bytes read since `start`.
        fn since(&self, start: usize) -> Option<&'a [u8]> {
            self.s.get(start..self.i)
        }

        fn peek(&self) -> Option<u8> {
            self.s.get(self.i).copied()
        }
        fn eat(&mut self, b: u8) -> bool {
            if self.peek() == Some(b) {
                self.i += 1;
                true
            } else {
                false
            }
        }
        fn skip_sp(&mut self) {
            while self.peek() == Some(b' ') {
                self.i += 1;
            }
        }
        fn skip_ows(&mut self) {
            while matches!(self.peek(), Some(b' ' | b'\t')) {
                self.i += 1;
            }
        }
        fn done(&self) -> bool {
            self.i >= self.s.len()
        }

        /// key = ( lcalpha / "*" ) *( lcalpha / DIGIT / "_" / "-" / "." / "*" ); uppercase
        /// accepted and lowercased (leniency).
        fn key(&mut self) -> Option<String> {
            let start = self.i;
            match self.peek() {
                Some(b) if b.is_ascii_alphabetic() || b == b'*' => self.i += 1,
                _ => return None,
            }
            while let Some(b) = self.peek() {
                if b.is_ascii_alphanumeric() || b"_-.*".contains(&b) {
                    self.i += 1;
                } else {
                    break;
                }
            }
            let key = std::str::from_utf8(self.since(start)?).ok()?;
            Some(key.to_ascii_lowercase())
        }

        fn bare_item(&mut self) -> Option<Item> {
            match self.peek()? {
                b'-' | b'0'..=b'9' => self.number(),
                b'"' => self.string().map(Item::String),
                b':' => {
                    self.i += 1;
                    while let Some(b) = self.peek() {
                        if b == b':' {
                            self.i += 1;
                            return Some(Item::Bytes);
                        }
                        if !(b.is_ascii_alphanumeric() || b"+/=".contains(&b)) {
                            return None;
                        }
                        self.i += 1;
                    }
                    None
                }
                b'?' => {
                    self.i += 1;
                    if self.eat(b'1') {
                        Some(Item::Boolean(true))
                    } else if self.eat(b'0') {
                        Some(Item::Boolean(false))
                    } else {
                        None
                    }
                }
                b'@' => {
                    self.i += 1;
                    match self.number()? {
                        Item::Integer(_) => Some(Item::Date),
                        _ => None,
                    }
                }
                b if b.is_ascii_alphabetic() || b == b'*' => {
                    let start = self.i;
                    while let Some(b) = self.peek() {
                        if super::is_tchar(b) || b == b':' || b == b'/' {
                            self.i += 1;
                        } else {
                            break;
                        }
                    }
                    let t = std::str::from_utf8(self.since(start)?).ok()?;
                    Some(Item::Token(t.to_string()))
                }
                _ => None,
            }
        }

        fn number(&mut self) -> Option<Item> {
            let neg = self.eat(b'-');
            let start = self.i;
            let mut dot = None;
            while let Some(b) = self.peek() {
                if b.is_ascii_digit() {
                    self.i += 1;
                } else if b == b'.' && dot.is_none() {
                    dot = Some(self.i);
                    self.i += 1;
                } else {
                    break;
                }
            }
            let digits = self.since(start)?;
            match dot {
                None => {
                    if digits.is_empty() || digits.len() > 15 {
                        return None;
                    }
                    let mut v: i64 = 0;
                    for b in digits {
                        v = v * 10 + i64::from(b - b'0');
                    }
                    Some(Item::Integer(if neg { -v } else { v }))
                }
                Some(d) => {
                    let int_len = d.saturating_sub(start);
                    let frac_len = self.i.saturating_sub(d).saturating_sub(1);
                    if int_len == 0 || int_len > 12 || frac_len == 0 || frac_len > 3 {
                        return None;
                    }
                    Some(Item::Decimal)
                }
            }
        }

        fn string(&mut self) -> Option<String> {
            if !self.eat(b'"') {
                return None;
            }
            let mut out = String::new();
            loop {
                let b = self.peek()?;
                self.i += 1;
                match b {
                    b'\\' => {
                        let n = self.peek()?;
                        if n != b'"' && n != b'\\' {
                            return None;
                        }
                        self.i += 1;
                        out.push(char::from(n));
                    }
                    b'"' => return Some(out),
                    0x20..=0x7e => out.push(char::from(b)),
                    _ => return None,
                }
            }
        }

        fn params(&mut self) -> Option<()> {
            while self.eat(b';') {
                self.skip_sp();
                self.key()?;
                if self.eat(b'=') {
                    self.bare_item()?;
                }
            }
            Some(())
        }

        fn item_or_inner_list(&mut self) -> Option<Item> {
            if self.eat(b'(') {
                let mut members = Vec::new();
                loop {
                    self.skip_sp();
                    if self.eat(b')') {
                        break;
                    }
                    let item = self.bare_item()?;
                    self.params()?;
                    members.push(match item {
                        Item::String(s) | Item::Token(s) => s,
                        Item::Integer(n) => n.to_string(),
                        other => format!("{other:?}"),
                    });
                    match self.peek()? {
                        b' ' | b')' => {}
                        _ => return None,
                    }
                }
                self.params()?;
                Some(Item::InnerList(members))
            } else {
                let item = self.bare_item()?;
                self.params()?;
                Some(item)
            }
        }

        /// Parses comma-separated members with `member` until the end.
        fn members<T>(&mut self, mut member: impl FnMut(&mut Self) -> Option<T>) -> Option<Vec<T>> {
            let mut out = Vec::new();
            self.skip_sp();
            if self.done() {
                return Some(out);
            }
            loop {
                out.push(member(self)?);
                self.skip_ows();
                if self.done() {
                    return Some(out);
                }
                if !self.eat(b',') {
                    return None;
                }
                self.skip_ows();
                if self.done() {
                    return None; // trailing comma
                }
            }
        }
    }

    /// Parses an sf-dictionary; duplicate keys keep their first position and last value
    /// (RFC 8941 §4.2.2). `None` on any syntax error.
    pub fn parse_dictionary(input: &str) -> Option<Vec<(String, Item)>> {
        let mut p = P {
            s: input.trim_end_matches([' ', '\t']).as_bytes(),
            i: 0,
        };
        let members = p.members(|p| {
            let key = p.key()?;
            let item = if p.eat(b'=') {
                p.item_or_inner_list()?
            } else {
                p.params()?;
                Item::Boolean(true)
            };
            Some((key, item))
        })?;
        let mut out: Vec<(String, Item)> = Vec::new();
        for (k, v) in members {
            match out.iter_mut().find(|(ek, _)| *ek == k) {
                Some(slot) => slot.1 = v,
                None => out.push((k, v)),
            }
        }
        Some(out)
    }

    /// Parses an sf-list. `None` on any syntax error.
    #[cfg(test)]
    pub fn parse_list(input: &str) -> Option<Vec<Item>> {
        let mut p = P {
            s: input.trim_end_matches([' ', '\t']).as_bytes(),
            i: 0,
        };
        p.members(|p| p.item_or_inner_list())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const TYPICAL: &str = "public, max-age=60, s-maxage=300, stale-while-revalidate=30";
    const QUOTED_FIELDS: &str = r#"no-cache="Set-Cookie, X-Foo", private="x-user""#;

    use crate::test_util::hm;

    #[test]
    fn parses_typical_response() {
        let cc = CacheControl::parse(TYPICAL);
        assert!(cc.public);
        assert_eq!(cc.max_age, Some(60));
        assert_eq!(cc.s_maxage, Some(300));
        assert_eq!(cc.stale_while_revalidate, Some(30));
        assert!(!cc.no_cache && !cc.no_store);
    }

    #[test]
    fn case_insensitive_names_and_whitespace() {
        let cc = CacheControl::parse("  No-StOrE ,,\tMAX-AGE=5 , ,");
        assert!(cc.no_store);
        assert_eq!(cc.max_age, Some(5));
    }

    #[test]
    fn quoted_field_lists() {
        let cc = CacheControl::parse(QUOTED_FIELDS);
        assert!(!cc.no_cache);
        assert_eq!(cc.no_cache_fields, vec!["set-cookie", "x-foo"]);
        assert!(!cc.private);
        assert_eq!(cc.private_fields, vec!["x-user"]);
    }

    #[test]
    fn empty_qualified_list_is_unqualified() {
        assert!(CacheControl::parse(r#"no-cache="""#).no_cache);
        assert!(CacheControl::parse("private=\" , \"").private);
    }

    #[test]
    fn commas_in_quotes_do_not_split() {
        let cc = CacheControl::parse(r#"extension="max-age=3600, public", max-age=1"#);
        assert_eq!(cc.max_age, Some(1));
        assert!(!cc.public);
        let cc = CacheControl::parse(r#"max-age=1, extension="max-age=3600""#);
        assert_eq!(cc.max_age, Some(1));
    }

    #[test]
    fn quoted_max_age_accepted() {
        assert_eq!(CacheControl::parse(r#"max-age="3600""#).max_age, Some(3600));
    }

    #[test]
    fn invalid_max_age_is_zero() {
        for v in [
            "max-age=abc",
            "max-age=3600a",
            "max-age=-1",
            "max-age=1.5",
            "max-age='3600'",
            "max-age",
            "max-age=",
            "max-age= 3600",
        ] {
            assert_eq!(CacheControl::parse(v).max_age, Some(0), "{v}");
        }
        assert_eq!(CacheControl::parse("s-maxage=x").s_maxage, Some(0));
    }

    #[test]
    fn space_before_equals_is_not_the_directive() {
        assert_eq!(CacheControl::parse("max-age =3600").max_age, None);
    }

    #[test]
    fn leading_zeros_and_cap() {
        assert_eq!(CacheControl::parse("max-age=003600").max_age, Some(3600));
        assert_eq!(
            CacheControl::parse("max-age=99999999999999999999999").max_age,
            Some(DELTA_SECONDS_CAP)
        );
        assert_eq!(
            CacheControl::parse("max-age=2147483649").max_age,
            Some(DELTA_SECONDS_CAP)
        );
    }

    #[test]
    fn first_value_wins_booleans_anywhere() {
        let cc = CacheControl::parse("max-age=1800, max-age=1, no-cache, no-cache=\"a\"");
        assert_eq!(cc.max_age, Some(1800));
        assert!(cc.no_cache);
        assert_eq!(cc.no_cache_fields, vec!["a"]);
        let cc = CacheControl::parse("max-age=x, max-age=60");
        assert_eq!(cc.max_age, Some(0));
    }

    #[test]
    fn request_directives() {
        let cc = CacheControl::parse("max-stale, min-fresh=10, only-if-cached, no-transform");
        assert_eq!(cc.max_stale, Some(MaxStale::Any));
        assert_eq!(cc.min_fresh, Some(10));
        assert!(cc.only_if_cached && cc.no_transform);
        let cc = CacheControl::parse("max-stale=20");
        assert_eq!(cc.max_stale, Some(MaxStale::Secs(20)));
        assert_eq!(CacheControl::parse("max-stale=x").max_stale, None);
    }

    #[test]
    fn from_headers_joins_lines() {
        let h = hm(&[
            ("cache-control", "max-age=1"),
            ("cache-control", "no-store"),
        ]);
        let cc = CacheControl::from_headers(&h, "cache-control").unwrap();
        assert_eq!(cc.max_age, Some(1));
        assert!(cc.no_store);
        assert!(CacheControl::from_headers(&h, "cdn-cache-control").is_none());
    }

    #[test]
    fn serialise_examples() {
        let cc = CacheControl::parse(TYPICAL);
        assert_eq!(
            cc.to_header_value(),
            "public, max-age=60, s-maxage=300, stale-while-revalidate=30"
        );
        let cc = CacheControl::parse(QUOTED_FIELDS);
        assert_eq!(
            cc.to_header_value(),
            r#"private="x-user", no-cache="set-cookie, x-foo""#
        );
        assert_eq!(CacheControl::default().to_header_value(), "");
    }

    #[test]
    fn cdn_cache_control_basic() {
        let h = hm(&[
            ("cache-control", "no-store"),
            ("cdn-cache-control", "max-age=60"),
        ]);
        let cc = cdn_cache_control(&h).unwrap();
        assert_eq!(cc.max_age, Some(60));
        assert!(!cc.no_store);
        let e = edge_cache_control(&h);
        assert_eq!(e.source, CcSource::Targeted("cdn-cache-control"));
        assert_eq!(e.source.as_str(), "cdn-cache-control");
    }

    #[test]
    fn cloudflare_targeted_field_first() {
        let h = hm(&[
            ("cdn-cache-control", "max-age=60"),
            ("cloudflare-cdn-cache-control", "max-age=5"),
        ]);
        assert_eq!(cdn_cache_control(&h).unwrap().max_age, Some(5));
        let h = hm(&[
            ("cdn-cache-control", "max-age=60"),
            ("cloudflare-cdn-cache-control", "max-age=&&"),
        ]);
        assert_eq!(cdn_cache_control(&h).unwrap().max_age, Some(60));
    }

    #[test]
    fn cdn_invalid_falls_back() {
        for v in [
            "max-age=10000, &&&&&",
            "max-age=\"10000\"",
            "max-age =100",
            "max-age= 100",
            "max-age=1.5",
            "no-store=5",
            "",
            "max-age=1,",
        ] {
            let h = hm(&[("cache-control", "no-store"), ("cdn-cache-control", v)]);
            assert_eq!(cdn_cache_control(&h), None, "{v}");
            let e = edge_cache_control(&h);
            assert_eq!(e.source, CcSource::CacheControl, "{v}");
            assert!(e.cc.no_store);
        }
    }

    #[test]
    fn cdn_lenient_and_typed() {
        let h = hm(&[(
            "cdn-cache-control",
            "MaX-aGe=3600, foobar, no-store=?0, private=\"set-cookie\", s-maxage=99999999999",
        )]);
        let cc = cdn_cache_control(&h).unwrap();
        assert_eq!(cc.max_age, Some(3600));
        assert!(!cc.no_store);
        assert_eq!(cc.private_fields, vec!["set-cookie"]);
        assert_eq!(cc.s_maxage, Some(DELTA_SECONDS_CAP));
        let h = hm(&[("cdn-cache-control", "max-age=-5, no-cache")]);
        let cc = cdn_cache_control(&h).unwrap();
        assert_eq!(cc.max_age, Some(0));
        assert!(cc.no_cache);
    }

    #[test]
    fn absent_everything() {
        let e = edge_cache_control(&HeaderMap::new());
        assert_eq!(e.source, CcSource::Absent);
        assert_eq!(e.cc, CacheControl::default());
        assert_eq!(e.source.as_str(), "none");
    }

    #[test]
    fn sf_list_parser() {
        assert!(sf::parse_list("a;b=1, \"x\";k=?0, (c d);e").is_some());
        assert!(sf::parse_list("a, ").is_none());
        assert!(sf::parse_list("\"unterminated").is_none());
    }

    fn arb_fields() -> impl Strategy<Value = Vec<String>> {
        proptest::collection::btree_set("[a-z0-9][a-z0-9-]{0,8}", 0..3)
            .prop_map(|s| s.into_iter().collect())
    }

    fn arb_cc() -> impl Strategy<Value = CacheControl> {
        let secs = || proptest::option::of(0..=DELTA_SECONDS_CAP);
        (
            (secs(), secs(), secs(), secs(), secs()),
            (arb_fields(), arb_fields()),
            proptest::collection::vec(any::<bool>(), 12),
            proptest::option::of(prop_oneof![
                Just(MaxStale::Any),
                (0..=DELTA_SECONDS_CAP).prop_map(MaxStale::Secs)
            ]),
        )
            .prop_map(|((a, b, c, d, e), (ncf, pf), f, ms)| CacheControl {
                max_age: a,
                s_maxage: b,
                stale_while_revalidate: c,
                stale_if_error: d,
                min_fresh: e,
                no_cache_fields: ncf,
                private_fields: pf,
                no_store: f[0],
                no_cache: f[1],
                private: f[2],
                public: f[3],
                must_revalidate: f[4],
                proxy_revalidate: f[5],
                must_understand: f[6],
                no_transform: f[7],
                immutable: f[8],
                only_if_cached: f[9],
                max_stale: ms,
            })
    }

    proptest! {
        #[test]
        fn parse_never_panics(s in ".*") {
            let _ = CacheControl::parse(&s);
            let _ = sf::parse_dictionary(&s);
        }

        #[test]
        fn parse_never_panics_on_directive_soup(
            s in r#"([a-zA-Z-]{1,12}(=("[^"]{0,10}"?|[0-9a-z.\-]{0,12}))?[ ,;\t]{0,3}){0,8}"#
        ) {
            let cc = CacheControl::parse(&s);
            // Serialising what we parsed is a fixed point.
            prop_assert_eq!(CacheControl::parse(&cc.to_header_value()), cc);
        }

        #[test]
        fn round_trip(cc in arb_cc()) {
            prop_assert_eq!(CacheControl::parse(&cc.to_header_value()), cc);
        }

        #[test]
        fn serialised_form_is_a_valid_targeted_field(cc in arb_cc()) {
            // Booleans and integers are valid sf items; field lists are sf-strings.
            let v = cc.to_header_value();
            let dict = sf::parse_dictionary(&v);
            prop_assert!(dict.is_some(), "{}", v);
        }
    }
}
