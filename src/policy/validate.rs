//! Loading (TOML/JSON → raw structs, collecting every error) and validation (raw → typed).
//!
//! Loading goes through a generic `serde_json::Value` tree so that TOML and JSON share one path.
//! Each field of each table is deserialised on its own, so one bad field never hides another and
//! every error names its field; for TOML the tree also remembers the line:col of every key.
//! Host only (the whole module): the worker gets its policy already resolved, see build.rs.

use super::model::{RawDefaults, RawPolicy, RawRule, Scalar};
use super::*;
use crate::cookies::NamePatterns;
use crate::duration::{format_duration, parse_duration, parse_size, DurationError};
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};
use std::collections::{HashMap, HashSet};

/// Most rules a policy may have.
pub const MAX_RULES: usize = 1000;
/// Longest path or host pattern, bytes.
pub const MAX_PATTERN_LEN: usize = 256;
/// Most entries in one list (`path`, `host`, `method`, `ext`, cookie and query name lists).
pub const MAX_PATTERNS_PER_LIST: usize = 64;
/// Most tags per rule.
pub const MAX_TAGS: usize = 64;
/// Longest tag, bytes.
pub const MAX_TAG_LEN: usize = 128;
/// Longest rule name, bytes.
pub const MAX_NAME_LEN: usize = 64;
/// Longest TTL or stale window: 10 years.
pub const MAX_DURATION_SECS: u64 = 3650 * 86_400;
const MAX_EXT_LEN: usize = 32;
const MAX_BODY: u64 = 512 << 20;
const MAX_TIMEOUT: u64 = 300;
const MAX_VARY: usize = 16;
const MAX_TAG_HEADERS: usize = 8;

/// Location of every key in the source: `"rules[3].cookies.mode"` → (line, col).
type Spans = HashMap<String, (usize, usize)>;

struct Sink<'a> {
    file: &'a str,
    spans: &'a Spans,
    errors: Vec<Diagnostic>,
    warnings: Vec<Diagnostic>,
}

impl Sink<'_> {
    fn diag(&self, scope: &Scope, field: &str, message: String) -> Diagnostic {
        let mut key = scope.path.clone();
        if !field.is_empty() {
            if !key.is_empty() {
                key.push('.');
            }
            key.push_str(field);
        }
        // Fall back to the enclosing table's position for fields the rule does not set.
        let line_col = self
            .spans
            .get(&key)
            .or_else(|| self.spans.get(&scope.path))
            .copied();
        Diagnostic {
            file: self.file.to_string(),
            line_col,
            scope: scope.label.clone(),
            field: field.to_string(),
            message,
        }
    }
    fn err(&mut self, scope: &Scope, field: &str, message: String) {
        let d = self.diag(scope, field, message);
        self.errors.push(d);
    }
    fn warn(&mut self, scope: &Scope, field: &str, message: String) {
        let d = self.diag(scope, field, message);
        self.warnings.push(d);
    }
}

/// `path` is the span key prefix (`rules[3]`), `label` the message scope (`rules[3] "blog"`).
#[derive(Clone)]
struct Scope {
    path: String,
    label: String,
}

impl Scope {
    fn file() -> Scope {
        Scope {
            path: String::new(),
            label: String::new(),
        }
    }
    fn defaults() -> Scope {
        Scope {
            path: "defaults".into(),
            label: "defaults".into(),
        }
    }
    fn rule(i: usize, name: Option<&str>) -> Scope {
        Scope {
            path: format!("rules[{i}]"),
            label: match name {
                Some(n) => format!("rules[{i}] {n:?}"),
                None => format!("rules[{i}]"),
            },
        }
    }
}

fn single_error(file: &str, line_col: Option<(usize, usize)>, message: String) -> PolicyErrors {
    PolicyErrors {
        errors: vec![Diagnostic {
            file: file.to_string(),
            line_col,
            scope: String::new(),
            field: String::new(),
            message,
        }],
    }
}

// ---------------------------------------------------------------------------------------------
// TOML with spans
// ---------------------------------------------------------------------------------------------

/// Positions of keys in TOML source, from `toml_edit` (already a dependency of `toml`).
mod toml_spans {
    use super::Spans;
    use std::ops::Range;
    use toml_edit::{ImDocument, Item, Table, Value};

    /// 1-based line and column (in characters) of a byte offset.
    pub(super) fn line_col(src: &str, offset: usize) -> (usize, usize) {
        let before = src.get(..offset).unwrap_or(src);
        let line = before.matches('\n').count() + 1;
        let col = before.rsplit('\n').next().unwrap_or("").chars().count() + 1;
        (line, col)
    }

    /// Map every key path (`rules[3].cookies.mode`) to the position of its key.
    pub(super) fn collect(src: &str) -> Spans {
        let mut spans = Spans::new();
        if let Ok(doc) = ImDocument::parse(src) {
            table(doc.as_table(), "", src, &mut spans);
        }
        spans
    }

    fn join(path: &str, k: &str) -> String {
        if path.is_empty() {
            k.to_string()
        } else {
            format!("{path}.{k}")
        }
    }

    fn put(spans: &mut Spans, path: &str, span: Option<Range<usize>>, src: &str) {
        if let Some(r) = span {
            spans.insert(path.to_string(), line_col(src, r.start));
        }
    }

    fn table(t: &Table, path: &str, src: &str, spans: &mut Spans) {
        for (k, item) in t.iter() {
            let p = join(path, k);
            put(
                spans,
                &p,
                t.key(k).and_then(|k| k.span()).or_else(|| item.span()),
                src,
            );
            match item {
                Item::Table(t) => table(t, &p, src, spans),
                Item::ArrayOfTables(a) => {
                    for (i, t) in a.iter().enumerate() {
                        let pi = format!("{p}[{i}]");
                        put(spans, &pi, t.span(), src);
                        table(t, &pi, src, spans);
                    }
                }
                Item::Value(v) => value(v, &p, src, spans),
                Item::None => {}
            }
        }
    }

    fn value(v: &Value, path: &str, src: &str, spans: &mut Spans) {
        match v {
            Value::InlineTable(t) => {
                for (k, v) in t.iter() {
                    let p = join(path, k);
                    put(
                        spans,
                        &p,
                        t.key(k).and_then(|k| k.span()).or_else(|| v.span()),
                        src,
                    );
                    value(v, &p, src, spans);
                }
            }
            Value::Array(a) => {
                for (i, v) in a.iter().enumerate() {
                    let p = format!("{path}[{i}]");
                    put(spans, &p, v.span(), src);
                    value(v, &p, src, spans);
                }
            }
            _ => {}
        }
    }
}

/// Raw policy plus key positions.
#[derive(Clone)]
pub(crate) struct Parsed {
    raw: RawPolicy,
    spans: Spans,
    /// Errors found while reading the structure (unknown fields, wrong types).
    errors: Vec<Diagnostic>,
    /// Rules whose `name` is unreadable (already reported; not reported again as missing).
    broken_rules: HashSet<usize>,
}

impl Parsed {
    pub(crate) fn raw(&self) -> &RawPolicy {
        &self.raw
    }
}

pub(crate) fn parse_toml(src: &str, file: &str) -> Result<Parsed, PolicyErrors> {
    let table: toml::Table = toml::from_str(src).map_err(|e| {
        let lc = e.span().map(|s| toml_spans::line_col(src, s.start));
        single_error(file, lc, e.message().trim().to_string())
    })?;
    let value = serde_json::to_value(table)
        .map_err(|e| single_error(file, None, format!("cannot convert TOML: {e}")))?;
    from_value(value, toml_spans::collect(src), file)
}

pub(crate) fn parse_json(src: &str, file: &str) -> Result<Parsed, PolicyErrors> {
    let value: Value = serde_json::from_str(src).map_err(|e| {
        single_error(
            file,
            Some((e.line(), e.column())),
            format!("invalid JSON: {e}"),
        )
    })?;
    from_value(value, Spans::new(), file)
}

/// Deserialise a table field by field (recursing into the nested tables listed in `nested`), so
/// that every bad field is reported with its own path. Returns the table without its bad fields
/// (so the good ones still get their semantic checks) and whether every field was good.
fn clean_fields<T: DeserializeOwned>(
    obj: Map<String, Value>,
    nested: &[&str],
    sink: &mut Sink<'_>,
    scope: &Scope,
    prefix: &str,
) -> (Map<String, Value>, bool) {
    let mut ok = true;
    let mut out = Map::new();
    for (k, v) in obj {
        let field = if prefix.is_empty() {
            k.clone()
        } else {
            format!("{prefix}.{k}")
        };
        let v = match v {
            Value::Object(inner) if nested.contains(&k.as_str()) => {
                let (inner, inner_ok) = match k.as_str() {
                    "cookies" => clean_fields::<model::RawCookies>(inner, &[], sink, scope, &field),
                    "query" => clean_fields::<model::RawQuery>(inner, &[], sink, scope, &field),
                    _ => clean_fields::<model::RawKey>(inner, &[], sink, scope, &field),
                };
                ok &= inner_ok;
                Value::Object(inner)
            }
            v => v,
        };
        let mut single = Map::new();
        single.insert(k.clone(), v);
        match serde_json::from_value::<T>(Value::Object(single.clone())) {
            Ok(_) => out.extend(single),
            Err(e) => {
                sink.err(scope, &field, friendlier(e.to_string(), &k));
                ok = false;
            }
        }
    }
    (out, ok)
}

/// Shorten serde's "unknown field `x`, expected one of ..." to a suggestion when one is close.
fn friendlier(msg: String, key: &str) -> String {
    if !msg.starts_with("unknown field") {
        return msg;
    }
    let expected = msg.split_once("expected").map_or("", |(_, e)| e);
    // The candidates are the `quoted` names: every odd piece between backticks.
    let best = expected
        .split('`')
        .enumerate()
        .filter_map(|(i, piece)| (i % 2 == 1).then_some(piece))
        .map(|cand| (edit_distance(cand, key), cand))
        .min();
    match best {
        Some((d, cand)) if d <= 2 || (d <= 4 && key.len() > 8) => {
            format!("unknown field; did you mean `{cand}`?")
        }
        _ => format!(
            "unknown field,{}",
            msg.split_once(',').map_or("", |(_, r)| r)
        ),
    }
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = Vec::with_capacity(prev.len());
        let mut left = i + 1;
        cur.push(left);
        // `diag` is prev[j], `up` is prev[j + 1], `left` is cur[j].
        for ((cb, diag), up) in b.iter().zip(&prev).zip(prev.iter().skip(1)) {
            let v = (diag + usize::from(ca != *cb)).min(up + 1).min(left + 1);
            cur.push(v);
            left = v;
        }
        prev = cur;
    }
    prev.last().copied().unwrap_or(0)
}

const SETTINGS_TABLES: &[&str] = &["cookies", "query", "key"];

fn from_value(value: Value, spans: Spans, file: &str) -> Result<Parsed, PolicyErrors> {
    let mut sink = Sink {
        file,
        spans: &spans,
        errors: Vec::new(),
        warnings: Vec::new(),
    };
    let mut raw = RawPolicy::default();
    let mut broken = HashSet::new();
    let Value::Object(top) = value else {
        return Err(single_error(
            file,
            None,
            "expected a table at the top level".into(),
        ));
    };
    for (k, v) in top {
        match (k.as_str(), v) {
            ("defaults", Value::Object(obj)) => {
                let scope = Scope::defaults();
                let (obj, _) =
                    clean_fields::<RawDefaults>(obj, SETTINGS_TABLES, &mut sink, &scope, "");
                match serde_json::from_value(Value::Object(obj)) {
                    Ok(d) => raw.defaults = d,
                    Err(e) => sink.err(&scope, "", e.to_string()),
                }
            }
            ("rules", Value::Array(items)) => {
                if items.len() > MAX_RULES {
                    sink.err(
                        &Scope::file(),
                        "rules",
                        format!("{} rules, at most {MAX_RULES} are allowed", items.len()),
                    );
                    continue;
                }
                for (i, item) in items.into_iter().enumerate() {
                    let name = item.get("name").and_then(Value::as_str).map(str::to_string);
                    if name.is_none() && item.get("name").is_some() {
                        broken.insert(i);
                    }
                    let scope = Scope::rule(i, name.as_deref());
                    let Value::Object(obj) = item else {
                        sink.err(&scope, "", "expected a table ([[rules]])".into());
                        broken.insert(i);
                        raw.rules.push(RawRule::default());
                        continue;
                    };
                    let (obj, _) =
                        clean_fields::<RawRule>(obj, SETTINGS_TABLES, &mut sink, &scope, "");
                    match serde_json::from_value(Value::Object(obj)) {
                        Ok(r) => raw.rules.push(r),
                        Err(e) => {
                            sink.err(&scope, "", e.to_string());
                            broken.insert(i);
                            raw.rules.push(RawRule::default());
                        }
                    }
                }
            }
            ("defaults", _) => sink.err(&Scope::file(), "defaults", "expected a table".into()),
            ("rules", _) => sink.err(
                &Scope::file(),
                "rules",
                "expected an array of tables ([[rules]])".into(),
            ),
            (other, _) => sink.err(
                &Scope::file(),
                other,
                "unknown field, expected `defaults` or `rules`".into(),
            ),
        }
    }
    let errors = sink.errors;
    Ok(Parsed {
        raw,
        spans,
        errors,
        broken_rules: broken,
    })
}

// ---------------------------------------------------------------------------------------------
// Semantic validation
// ---------------------------------------------------------------------------------------------

fn scalar_text(s: &Scalar) -> String {
    match s {
        Scalar::Int(n) => n.to_string(),
        Scalar::Text(t) => t.clone(),
    }
}

fn duration(s: &Scalar, sink: &mut Sink<'_>, scope: &Scope, field: &str) -> Option<u64> {
    let secs = match s {
        Scalar::Int(n) => *n,
        Scalar::Text(t) => match parse_duration(t) {
            Ok(n) => n,
            Err(DurationError::UnitOrder) => {
                sink.err(
                    scope,
                    field,
                    format!("{t:?}: units must appear once each, largest first (d, h, m, s)"),
                );
                return None;
            }
            Err(DurationError::Overflow) => {
                sink.err(scope, field, format!("{t:?} is too large"));
                return None;
            }
            Err(_) => {
                sink.err(
                    scope,
                    field,
                    format!("{t:?} is not a duration (use 300s, 5m, 1h)"),
                );
                return None;
            }
        },
    };
    if secs > MAX_DURATION_SECS {
        sink.err(
            scope,
            field,
            format!(
                "{:?} is longer than the maximum {}",
                scalar_text(s),
                format_duration(MAX_DURATION_SECS)
            ),
        );
        return None;
    }
    Some(secs)
}

fn enum_value<T: Copy>(
    s: &str,
    options: &[(&str, T)],
    sink: &mut Sink<'_>,
    scope: &Scope,
    field: &str,
) -> Option<T> {
    if let Some((_, v)) = options.iter().find(|(n, _)| *n == s) {
        return Some(*v);
    }
    let list: Vec<&str> = options.iter().map(|(n, _)| *n).collect();
    sink.err(
        scope,
        field,
        format!("{s:?} is not one of {}", list.join(", ")),
    );
    None
}

fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

fn too_many(len: usize, max: usize, sink: &mut Sink<'_>, scope: &Scope, field: &str) -> bool {
    if len > max {
        sink.err(
            scope,
            field,
            format!("{len} entries, at most {max} are allowed"),
        );
        return true;
    }
    false
}

/// Cookie names are RFC 6265 tokens; a trailing `*` makes a prefix.
fn cookie_names(
    list: &[String],
    sink: &mut Sink<'_>,
    scope: &Scope,
    field: &str,
) -> Option<NamePatterns> {
    if too_many(list.len(), 256, sink, scope, field) {
        return None;
    }
    let mut ok = true;
    for n in list {
        let body = n.strip_suffix('*').unwrap_or(n);
        if !(n == "*" || (!body.is_empty() && body.bytes().all(|b| is_tchar(b) && b != b'*'))) {
            sink.err(
                scope,
                field,
                format!("{n:?} is not a cookie name (a token, optionally ending in '*')"),
            );
            ok = false;
        }
    }
    ok.then(|| NamePatterns::new(list).ok()).flatten()
}

/// Query parameter names: no `&`, `=`, `#`, spaces or controls; a trailing `*` makes a prefix.
fn query_names(
    list: &[String],
    sink: &mut Sink<'_>,
    scope: &Scope,
    field: &str,
) -> Option<NamePatterns> {
    if too_many(list.len(), 256, sink, scope, field) {
        return None;
    }
    let mut ok = true;
    for n in list {
        let body = n.strip_suffix('*').unwrap_or(n);
        let bad = |c: char| c == '&' || c == '=' || c == '#' || c == '*' || c.is_whitespace();
        if !(n == "*"
            || (!body.is_empty() && !body.contains(bad) && !body.contains(char::is_control)))
        {
            sink.err(
                scope,
                field,
                format!(
                    "{n:?} is not a query parameter name (no '&', '=', '#' or spaces; \
                     optionally ending in '*')"
                ),
            );
            ok = false;
        }
    }
    ok.then(|| NamePatterns::new(list).ok()).flatten()
}

fn header_names(
    list: &[String],
    max: usize,
    sink: &mut Sink<'_>,
    scope: &Scope,
    field: &str,
) -> Option<Vec<http::HeaderName>> {
    if too_many(list.len(), max, sink, scope, field) {
        return None;
    }
    let mut out = Vec::new();
    let mut ok = true;
    for n in list {
        match http::HeaderName::from_bytes(n.as_bytes()) {
            Ok(h) => out.push(h),
            Err(_) => {
                sink.err(scope, field, format!("{n:?} is not a header name"));
                ok = false;
            }
        }
    }
    ok.then_some(out)
}

fn status_key(k: &str) -> Result<(u16, bool), String> {
    let (well_formed, class, first) = match *k.as_bytes() {
        [d0, d1, d2] if d0.is_ascii_digit() => {
            let class = d1.eq_ignore_ascii_case(&b'x') && d2.eq_ignore_ascii_case(&b'x');
            (
                class || (d1.is_ascii_digit() && d2.is_ascii_digit()),
                class,
                d0,
            )
        }
        _ => (false, false, b'0'),
    };
    if !well_formed {
        return Err(format!(
            "{k:?} is not a status code or class (use \"404\" or \"4xx\")"
        ));
    }
    let code = if class {
        u16::from(first - b'0')
    } else {
        k.parse::<u16>().unwrap_or(0)
    };
    let first = if class { code } else { code / 100 };
    match first {
        5 => Err(format!("{k:?}: 5xx responses are never cached")),
        1 => Err(format!(
            "{k:?}: 1xx responses are not final and are never cached"
        )),
        2..=4 => Ok((code, class)),
        _ => Err(format!(
            "{k:?} is not a status code or class (use \"404\" or \"4xx\")"
        )),
    }
}

/// Overlay the settings of `raw` onto `base` (inheritance), reporting invalid values.
fn apply_settings(base: &mut Rule, raw: &RawDefaults, sink: &mut Sink<'_>, scope: &Scope) {
    macro_rules! dur {
        ($f:ident) => {
            if let Some(s) = &raw.$f {
                if let Some(v) = duration(s, sink, scope, stringify!($f)) {
                    base.$f = v;
                }
            }
        };
    }
    dur!(edge_ttl);
    dur!(browser_ttl);
    dur!(stale_while_revalidate);
    dur!(stale_if_error);
    base.configured.edge_ttl |= raw.edge_ttl.is_some();
    base.configured.status_ttl |= raw.status_ttl.is_some();
    base.configured.stale_while_revalidate |= raw.stale_while_revalidate.is_some();
    base.configured.stale_if_error |= raw.stale_if_error.is_some();
    if let Some(s) = &raw.origin_timeout {
        if let Some(v) = duration(s, sink, scope, "origin_timeout") {
            if v == 0 || v > MAX_TIMEOUT {
                sink.err(
                    scope,
                    "origin_timeout",
                    format!(
                        "{:?} must be between 1s and {}",
                        scalar_text(s),
                        format_duration(MAX_TIMEOUT)
                    ),
                );
            } else {
                base.origin_timeout = v;
            }
        }
    }
    if let Some(s) = &raw.max_body_size {
        let bytes = match s {
            Scalar::Int(n) => Ok(*n),
            Scalar::Text(t) => parse_size(t),
        };
        match bytes {
            Ok(0) => sink.err(scope, "max_body_size", "must be at least 1 byte".into()),
            Ok(n) if n > MAX_BODY => sink.err(
                scope,
                "max_body_size",
                format!("{:?} exceeds the 512MB limit", scalar_text(s)),
            ),
            Ok(n) => base.max_body_size = n,
            Err(_) => sink.err(
                scope,
                "max_body_size",
                format!(
                    "{:?} is not a size (use 512KB, 100MB or bytes)",
                    scalar_text(s)
                ),
            ),
        }
    }
    if let Some(s) = &raw.origin_cache_control {
        let opts = [
            ("respect", OriginMode::Respect),
            ("override", OriginMode::Override),
            ("cap", OriginMode::Cap),
        ];
        if let Some(v) = enum_value(s, &opts, sink, scope, "origin_cache_control") {
            base.origin_cache_control = v;
        }
    }
    if let Some(b) = raw.heuristic_freshness {
        base.heuristic_freshness = b;
    }
    if let Some(map) = &raw.status_ttl {
        // The map is one setting: a rule's map replaces the inherited one (`{}` clears it).
        base.status_ttl = StatusTtl::default();
        for (k, v) in map {
            let field = format!("status_ttl.{k}");
            match status_key(k) {
                Err(msg) => sink.err(scope, "status_ttl", msg),
                Ok((code, class)) => {
                    if let Some(ttl) = duration(v, sink, scope, &field) {
                        if class {
                            if let Some(slot) = base.status_ttl.class.get_mut(usize::from(code)) {
                                *slot = Some(ttl);
                            }
                        } else {
                            base.status_ttl.set_exact(code, ttl);
                        }
                    }
                }
            }
        }
    }
    if let Some(j) = raw.jitter_percent {
        match u8::try_from(j) {
            Ok(v) if v <= 50 => base.jitter_percent = v,
            _ => sink.err(
                scope,
                "jitter_percent",
                format!("{j} is out of range (0..=50)"),
            ),
        }
    }
    if let Some(x) = raw.xfetch_beta {
        if x.is_finite() && (0.0..=10.0).contains(&x) {
            base.xfetch_beta = x;
        } else {
            sink.err(
                scope,
                "xfetch_beta",
                format!("{x} is out of range (0.0..=10.0, 0 = off)"),
            );
        }
    }
    if let Some(list) = &raw.tag_headers {
        if let Some(h) = header_names(list, MAX_TAG_HEADERS, sink, scope, "tag_headers") {
            base.tag_headers = h;
        }
    }
    if let Some(b) = raw.keep_tag_headers {
        base.keep_tag_headers = b;
    }
    if let Some(b) = raw.public_authorization {
        base.public_authorization = b;
    }
    if let Some(s) = &raw.set_cookie {
        let opts = [
            ("strip", SetCookieMode::Strip),
            ("uncacheable", SetCookieMode::Uncacheable),
        ];
        if let Some(v) = enum_value(s, &opts, sink, scope, "set_cookie") {
            base.set_cookie = v;
        }
    }
    if let Some(c) = &raw.cookies {
        if let Some(m) = &c.mode {
            let opts = [
                ("strip", CookieMode::Strip),
                ("allow", CookieMode::Allow),
                ("pass", CookieMode::Pass),
            ];
            if let Some(v) = enum_value(m, &opts, sink, scope, "cookies.mode") {
                base.cookies.mode = v;
            }
        }
        if let Some(l) = &c.allow {
            if let Some(p) = cookie_names(l, sink, scope, "cookies.allow") {
                base.cookies.allow = p;
            }
        }
        if let Some(l) = &c.bypass {
            if let Some(p) = cookie_names(l, sink, scope, "cookies.bypass") {
                base.cookies.bypass = p;
            }
        }
    }
    if let Some(q) = &raw.query {
        if let Some(m) = &q.mode {
            let opts = [
                ("ignore", QueryMode::Ignore),
                ("allow", QueryMode::Allow),
                ("deny", QueryMode::Deny),
            ];
            if let Some(v) = enum_value(m, &opts, sink, scope, "query.mode") {
                base.query.mode = v;
            }
        }
        if let Some(l) = &q.allow {
            if let Some(p) = query_names(l, sink, scope, "query.allow") {
                base.query.allow = p;
            }
        }
        if let Some(l) = &q.deny {
            if let Some(p) = query_names(l, sink, scope, "query.deny") {
                base.query.deny = p;
            }
        }
        // In [defaults] both lists are legitimately set (rules switch modes); in a rule, a
        // non-empty list its own mode ignores is most likely a mistake.
        let set = |l: &Option<Vec<String>>| l.as_ref().is_some_and(|l| !l.is_empty());
        let unused = match base.query.mode {
            _ if scope.path == "defaults" => None,
            QueryMode::Allow => set(&q.deny).then_some("query.deny"),
            QueryMode::Deny => set(&q.allow).then_some("query.allow"),
            QueryMode::Ignore => None,
        };
        if let Some(f) = unused {
            sink.warn(
                scope,
                f,
                format!("unused: query.mode is {:?}", base.query.mode.as_str()),
            );
        }
    }
    if let Some(k) = &raw.key {
        if let Some(l) = &k.vary {
            if let Some(mut h) = header_names(l, MAX_VARY, sink, scope, "key.vary") {
                if h.contains(&http::header::COOKIE) {
                    sink.err(
                        scope,
                        "key.vary",
                        "\"cookie\" cannot be in the key; list the cookies that matter in \
                         cookies.allow with cookies.mode = \"allow\""
                            .into(),
                    );
                } else {
                    h.sort_by(|a, b| a.as_str().cmp(b.as_str()));
                    h.dedup();
                    base.key.vary = h;
                }
            }
        }
        if let Some(b) = k.include_host {
            base.key.include_host = b;
        }
    }
    if let Some(l) = &raw.forward_unkeyed {
        forward_unkeyed(base, l, sink, scope);
    }
    if let Some(b) = raw.deception_armor {
        base.deception_armor = b;
    }
}

/// `forward_unkeyed`: header names reaching the origin on shared requests without being in the
/// key. Valid names are accepted with a warning (each is an unkeyed input, see
/// [`crate::forward`]); the headers with their own settings are refused.
fn forward_unkeyed(base: &mut Rule, list: &[String], sink: &mut Sink<'_>, scope: &Scope) {
    let field = "forward_unkeyed";
    let Some(mut h) = header_names(list, MAX_VARY, sink, scope, field) else {
        return;
    };
    let own = [
        (http::header::COOKIE, "cookies.mode / cookies.allow"),
        (http::header::AUTHORIZATION, "public_authorization"),
        (http::header::HOST, "key.include_host"),
    ];
    let mut ok = true;
    for (name, setting) in own {
        if h.contains(&name) {
            sink.err(
                scope,
                field,
                format!("{name:?} cannot be listed here; it is governed by {setting}"),
            );
            ok = false;
        }
    }
    if !ok {
        return;
    }
    h.sort_by(|a, b| a.as_str().cmp(b.as_str()));
    h.dedup();
    if !h.is_empty() {
        let names: Vec<&str> = h.iter().map(http::HeaderName::as_str).collect();
        let known: Vec<&str> = names
            .iter()
            .copied()
            .filter(|n| crate::unkeyed::KNOWN_UNKEYED_INPUTS.contains(n))
            .collect();
        let mut msg = format!(
            "{} reach{} the origin on cached requests without being in the cache key: if the              origin reflects {} in a response, whoever sends {} decides what everybody is              served (cache poisoning); prefer key.vary",
            names.join(", "),
            if names.len() == 1 { "es" } else { "" },
            if names.len() == 1 { "it" } else { "them" },
            if names.len() == 1 { "it" } else { "them" },
        );
        if !known.is_empty() {
            msg.push_str(&format!(
                "; {} {} known cache-poisoning vector{}",
                known.join(", "),
                if known.len() == 1 { "is a" } else { "are" },
                if known.len() == 1 { "" } else { "s" },
            ));
        }
        sink.warn(scope, field, msg);
    }
    base.forward_unkeyed = h;
}

/// `pass` would send the user's cookies to the origin while sharing the response.
fn check_cookie_pass(rule: &Rule, sink: &mut Sink<'_>, scope: &Scope) {
    if rule.cookies.mode == CookieMode::Pass && !rule.bypass && !rule.cookies.bypass.matches_all() {
        sink.err(
            scope,
            "cookies.mode",
            "\"pass\" forwards every cookie to the origin while responses are shared; \
             only allowed with bypass = true or cookies.bypass = [\"*\"]"
                .into(),
        );
    }
}

fn check_list_len<T>(
    list: &[T],
    max: usize,
    sink: &mut Sink<'_>,
    scope: &Scope,
    field: &str,
) -> bool {
    !too_many(list.len(), max, sink, scope, field)
}

fn path_pattern(p: &str) -> Result<PathPattern, String> {
    if p.len() > MAX_PATTERN_LEN {
        return Err(format!(
            "pattern is {} bytes, at most {MAX_PATTERN_LEN} are allowed",
            p.len()
        ));
    }
    if let Some(ext) = p.strip_prefix("*.") {
        return ext_name(ext).map(PathPattern::Ext);
    }
    if !p.starts_with('/') {
        return Err(format!(
            "{p:?} must start with '/' (a path) or \"*.\" (an extension)"
        ));
    }
    if p.contains(['?', '#']) || p.contains(char::is_whitespace) || p.contains(char::is_control) {
        return Err(format!(
            "{p:?}: a path pattern cannot contain '?', '#', spaces or control characters"
        ));
    }
    let normal = crate::path::normalize_path(p);
    if normal != p {
        return Err(format!(
            "{p:?} is not a normalised path; write it as {normal:?}"
        ));
    }
    let raw: Vec<&str> = super::path_segments(p).collect();
    let mut segments = Vec::new();
    let mut globstar = false;
    for (i, s) in raw.iter().enumerate() {
        match *s {
            "**" if i + 1 == raw.len() => globstar = true,
            "**" => return Err(format!("{p:?}: '**' is only allowed as the last segment")),
            "*" => segments.push(Segment::Star),
            s if s.contains('*') => {
                return Err(format!(
                    "{p:?}: '*' must be a whole segment (use \"*.ext\" or ext = [...] for \
                     extensions)"
                ))
            }
            s => segments.push(Segment::Literal(s.to_string())),
        }
    }
    // "/" is the single empty segment; keep it as such (matches only "/").
    Ok(PathPattern::Glob { segments, globstar })
}

fn ext_name(e: &str) -> Result<String, String> {
    let e = e.strip_prefix('.').unwrap_or(e);
    if e.is_empty()
        || e.len() > MAX_EXT_LEN
        || !e
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
    {
        return Err(format!(
            "{e:?} is not an extension (letters, digits, '_' or '-', at most {MAX_EXT_LEN})"
        ));
    }
    Ok(e.to_ascii_lowercase())
}

fn host_pattern(h: &str) -> Result<HostPattern, String> {
    let lower = h.to_ascii_lowercase();
    let (sub, name) = match lower.strip_prefix("*.") {
        Some(rest) => (true, rest),
        None => (false, lower.as_str()),
    };
    let ok = !name.is_empty()
        && name.len() <= 253
        && name.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        });
    if !ok {
        return Err(format!(
            "{h:?} is not a host name or \"*.\" wildcard (no port, no scheme)"
        ));
    }
    Ok(if sub {
        HostPattern::Subdomains(name.to_string())
    } else {
        HostPattern::Exact(name.to_string())
    })
}

fn method_name(m: &str) -> Result<String, String> {
    if m.is_empty() || !m.bytes().all(is_tchar) {
        return Err(format!("{m:?} is not a method name"));
    }
    if m.bytes().any(|b| b.is_ascii_lowercase()) {
        return Err(format!(
            "{m:?}: methods are case-sensitive (RFC 9110 §9.1); write {:?}",
            m.to_ascii_uppercase()
        ));
    }
    Ok(m.to_string())
}

fn tag(t: &str) -> Result<String, String> {
    if t.is_empty() || t.len() > MAX_TAG_LEN {
        return Err(format!("{t:?}: tags are 1 to {MAX_TAG_LEN} bytes"));
    }
    if !t.bytes().all(|b| b.is_ascii_graphic() && b != b',') {
        return Err(format!(
            "{t:?}: tags are printable ASCII without spaces or commas"
        ));
    }
    Ok(t.to_string())
}

fn compile_list<T>(
    list: Option<&model::OneOrMany>,
    f: impl Fn(&str) -> Result<T, String>,
    sink: &mut Sink<'_>,
    scope: &Scope,
    field: &str,
) -> Vec<T> {
    let Some(list) = list else {
        return Vec::new();
    };
    if !check_list_len(&list.0, MAX_PATTERNS_PER_LIST, sink, scope, field) {
        return Vec::new();
    }
    if list.0.is_empty() {
        sink.err(
            scope,
            field,
            "empty list (omit the field to match anything)".into(),
        );
    }
    let mut out = Vec::new();
    for item in &list.0 {
        match f(item) {
            Ok(v) => out.push(v),
            Err(msg) => sink.err(scope, field, msg),
        }
    }
    out
}

fn rule_name(raw: &RawRule, seen: &mut HashSet<String>, sink: &mut Sink<'_>, scope: &Scope) {
    let n = &raw.name;
    if n.is_empty() {
        sink.err(
            scope,
            "name",
            "missing (every rule needs a unique name)".into(),
        );
    } else if n.len() > MAX_NAME_LEN
        || !n
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
    {
        sink.err(
            scope,
            "name",
            format!("{n:?}: names are 1 to {MAX_NAME_LEN} of A-Z a-z 0-9 - _ ."),
        );
    } else if n == "default" {
        sink.err(
            scope,
            "name",
            "\"default\" is reserved for the rule applied when none matches".into(),
        );
    } else if !seen.insert(n.clone()) {
        sink.err(scope, "name", format!("{n:?} is used by an earlier rule"));
    }
}

/// Validate a parsed policy into typed form, collecting every error.
pub(crate) fn validate(parsed: Parsed, file: &str) -> Result<Loaded, PolicyErrors> {
    let mut sink = Sink {
        file,
        spans: &parsed.spans,
        errors: parsed.errors.clone(),
        warnings: Vec::new(),
    };
    let raw = &parsed.raw;
    if raw.rules.len() > MAX_RULES {
        sink.err(
            &Scope::file(),
            "rules",
            format!("{} rules, at most {MAX_RULES} are allowed", raw.rules.len()),
        );
    }
    let mut defaults = Rule::builtin_default();
    let dscope = Scope::defaults();
    apply_settings(&mut defaults, &raw.defaults, &mut sink, &dscope);
    check_cookie_pass(&defaults, &mut sink, &dscope);

    let mut seen = HashSet::new();
    let mut rules = Vec::with_capacity(raw.rules.len());
    for (i, r) in raw.rules.iter().enumerate() {
        let scope = Scope::rule(i, (!r.name.is_empty()).then_some(r.name.as_str()));
        if !(r.name.is_empty() && parsed.broken_rules.contains(&i)) {
            rule_name(r, &mut seen, &mut sink, &scope);
        }
        let mut rule = defaults.clone();
        rule.index = i;
        rule.name = r.name.clone();
        apply_settings(&mut rule, &r.settings(), &mut sink, &scope);
        rule.when = Conditions {
            paths: compile_list(r.path.as_ref(), path_pattern, &mut sink, &scope, "path"),
            exts: compile_list(r.ext.as_ref(), ext_name, &mut sink, &scope, "ext"),
            hosts: compile_list(r.host.as_ref(), host_pattern, &mut sink, &scope, "host"),
            methods: compile_list(r.method.as_ref(), method_name, &mut sink, &scope, "method"),
        };
        rule.bypass = r.bypass.unwrap_or(false);
        if let Some(tags) = &r.tags {
            if check_list_len(tags, MAX_TAGS, &mut sink, &scope, "tags") {
                for t in tags {
                    match tag(t) {
                        Ok(t) => rule.tags.push(t),
                        Err(msg) => sink.err(&scope, "tags", msg),
                    }
                }
            }
        }
        check_cookie_pass(&rule, &mut sink, &scope);
        if rule.bypass {
            let ignored: Vec<&str> = [
                ("edge_ttl", r.edge_ttl.is_some()),
                ("browser_ttl", r.browser_ttl.is_some()),
                ("stale_while_revalidate", r.stale_while_revalidate.is_some()),
                ("stale_if_error", r.stale_if_error.is_some()),
                ("status_ttl", r.status_ttl.is_some()),
                ("tags", r.tags.is_some()),
                ("forward_unkeyed", r.forward_unkeyed.is_some()),
                ("deception_armor", r.deception_armor.is_some()),
            ]
            .iter()
            .filter(|(_, set)| *set)
            .map(|(n, _)| *n)
            .collect();
            if !ignored.is_empty() {
                sink.warn(
                    &scope,
                    "bypass",
                    format!(
                        "bypass = true: {} never apply (nothing is cached)",
                        ignored.join(", ")
                    ),
                );
            }
        }
        rules.push(rule);
    }
    if !sink.errors.is_empty() {
        // File order when positions are known (TOML); positionless errors keep their order.
        let mut errors = sink.errors;
        errors.sort_by_key(|d| d.line_col.unwrap_or((usize::MAX, 0)));
        return Err(PolicyErrors { errors });
    }
    shadow_warnings(&rules, &mut sink);
    let warnings = sink.warnings;
    Ok(Loaded {
        policy: Policy::from_rules(defaults, rules),
        warnings,
    })
}

// ---------------------------------------------------------------------------------------------
// Shadowing (sound: a warning means the later rule really can never match)
// ---------------------------------------------------------------------------------------------

fn host_covers(a: &HostPattern, b: &HostPattern) -> bool {
    match (a, b) {
        (HostPattern::Exact(x), HostPattern::Exact(y)) => x == y,
        (HostPattern::Subdomains(s), HostPattern::Exact(y)) => a.matches(y) && s != y,
        (HostPattern::Subdomains(s), HostPattern::Subdomains(t)) => {
            s == t || HostPattern::Subdomains(s.clone()).matches(t)
        }
        (HostPattern::Exact(_), HostPattern::Subdomains(_)) => false,
    }
}

/// Every path matched by `b` is matched by `a`.
fn path_covers(a: &PathPattern, b: &PathPattern) -> bool {
    match (a, b) {
        (PathPattern::Glob { segments, globstar }, _) if segments.is_empty() && *globstar => true,
        (PathPattern::Ext(x), PathPattern::Ext(y)) => x == y,
        (PathPattern::Ext(_), PathPattern::Glob { segments, globstar }) => {
            // Only a literal path (no wildcard, no globstar) can be known to end in `.x`.
            !*globstar
                && segments.iter().all(|s| matches!(s, Segment::Literal(_)))
                && a.matches(&b.to_string())
        }
        (PathPattern::Glob { .. }, PathPattern::Ext(_)) => false,
        (
            PathPattern::Glob {
                segments: sa,
                globstar: ga,
            },
            PathPattern::Glob {
                segments: sb,
                globstar: gb,
            },
        ) => {
            for (i, x) in sa.iter().enumerate() {
                let Some(y) = sb.get(i) else {
                    // `b` ends (or reaches its `**`) before `a`'s segments are all consumed:
                    // `b` matches paths that are too short for `a`.
                    return false;
                };
                let ok = match (x, y) {
                    (Segment::Literal(l), Segment::Literal(m)) => l == m,
                    (Segment::Star, Segment::Literal(m)) => !m.is_empty(),
                    (Segment::Star, Segment::Star) => true,
                    (Segment::Literal(_), Segment::Star) => false,
                };
                if !ok {
                    return false;
                }
            }
            if *ga {
                true
            } else {
                !*gb && sa.len() == sb.len()
            }
        }
    }
}

fn conditions_cover(a: &Conditions, b: &Conditions) -> bool {
    let hosts = a.hosts.is_empty()
        || (!b.hosts.is_empty()
            && b.hosts
                .iter()
                .all(|y| a.hosts.iter().any(|x| host_covers(x, y))));
    let methods = a.methods.is_empty()
        || (!b.methods.is_empty() && b.methods.iter().all(|m| a.methods.contains(m)));
    let exts =
        a.exts.is_empty() || (!b.exts.is_empty() && b.exts.iter().all(|e| a.exts.contains(e)));
    let paths = a.paths.is_empty()
        || (!b.paths.is_empty()
            && b.paths
                .iter()
                .all(|y| a.paths.iter().any(|x| path_covers(x, y))));
    hosts && methods && exts && paths
}

fn shadow_warnings(rules: &[Rule], sink: &mut Sink<'_>) {
    for (j, b) in rules.iter().enumerate() {
        if let Some(a) = rules
            .iter()
            .take(j)
            .find(|a| conditions_cover(&a.when, &b.when))
        {
            let scope = Scope::rule(j, Some(&b.name));
            sink.warn(
                &scope,
                "",
                format!(
                    "never matches: every request it matches is matched first by rules[{}] {:?}",
                    a.index, a.name
                ),
            );
        }
    }
}

impl RawRule {
    /// The inheritable settings of this rule, as a defaults-shaped struct.
    pub(crate) fn settings(&self) -> RawDefaults {
        RawDefaults {
            edge_ttl: self.edge_ttl.clone(),
            browser_ttl: self.browser_ttl.clone(),
            stale_while_revalidate: self.stale_while_revalidate.clone(),
            stale_if_error: self.stale_if_error.clone(),
            origin_cache_control: self.origin_cache_control.clone(),
            heuristic_freshness: self.heuristic_freshness,
            status_ttl: self.status_ttl.clone(),
            jitter_percent: self.jitter_percent,
            xfetch_beta: self.xfetch_beta,
            origin_timeout: self.origin_timeout.clone(),
            max_body_size: self.max_body_size.clone(),
            tag_headers: self.tag_headers.clone(),
            keep_tag_headers: self.keep_tag_headers,
            public_authorization: self.public_authorization,
            set_cookie: self.set_cookie.clone(),
            cookies: self.cookies.clone(),
            query: self.query.clone(),
            key: self.key.clone(),
            forward_unkeyed: self.forward_unkeyed.clone(),
            deception_armor: self.deception_armor,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_keys() {
        assert_eq!(status_key("404"), Ok((404, false)));
        assert_eq!(status_key("4xx"), Ok((4, true)));
        assert_eq!(status_key("3XX"), Ok((3, true)));
        assert!(status_key("503").unwrap_err().contains("never cached"));
        assert!(status_key("5xx").unwrap_err().contains("never cached"));
        assert!(status_key("1xx").is_err());
        assert!(status_key("600").is_err());
        assert!(status_key("44").is_err());
        assert!(status_key("4x4").is_err());
    }

    #[test]
    fn path_patterns() {
        assert!(path_pattern("/assets/**").is_ok());
        assert!(path_pattern("/").is_ok());
        assert!(path_pattern("/blog/*/comments").is_ok());
        assert!(path_pattern("*.css").is_ok());
        assert!(path_pattern("assets").is_err());
        assert!(path_pattern("/a/**/b").is_err());
        assert!(path_pattern("/a*").is_err());
        assert!(path_pattern("/a/../b").is_err());
        assert!(path_pattern("/a/%7e").is_err());
        assert!(path_pattern("/a?b").is_err());
        assert!(path_pattern(&format!("/{}", "a".repeat(300))).is_err());
        assert_eq!(path_pattern("/").unwrap().to_string(), "/");
        assert_eq!(path_pattern("/a/*/**").unwrap().to_string(), "/a/*/**");
    }

    #[test]
    fn hosts_and_methods() {
        assert_eq!(
            host_pattern("*.Example.com"),
            Ok(HostPattern::Subdomains("example.com".into()))
        );
        assert!(host_pattern("example.com:8080").is_err());
        assert!(host_pattern("https://example.com").is_err());
        assert!(host_pattern("*.").is_err());
        assert!(method_name("get").unwrap_err().contains("case-sensitive"));
        assert_eq!(method_name("PURGE"), Ok("PURGE".into()));
    }

    #[test]
    fn covers() {
        let p = |s: &str| path_pattern(s).unwrap();
        assert!(path_covers(&p("/**"), &p("*.css")));
        assert!(path_covers(&p("/a/**"), &p("/a")));
        assert!(path_covers(&p("/a/**"), &p("/a/*/b")));
        assert!(path_covers(&p("/a/*"), &p("/a/b")));
        assert!(!path_covers(&p("/a/*"), &p("/a/**")));
        assert!(!path_covers(&p("/a/*/**"), &p("/a/**")));
        assert!(!path_covers(&p("/a/b"), &p("/a/*")));
        assert!(path_covers(&p("*.css"), &p("/x/y.css")));
        assert!(!path_covers(&p("*.css"), &p("/x/*")));
        assert!(!path_covers(&p("/a/*"), &p("/a/")));
    }
}
