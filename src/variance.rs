//! Secondary cache keys from `Vary` (RFC 9111 §4.1).
//!
//! A stored response records the request values of the fields its `Vary` names ([`capture`]);
//! a later request may reuse it only if its own values normalise to the same ([`matches()`]).

use crate::cache_control::{is_tchar, split_list};
use http::header::VARY;
use http::HeaderMap;

/// Canonical captured value for `Accept-Encoding`, whatever the request sent (or if absent).
///
/// The edge decodes what it stores and (re-)encodes bodies itself per client on the way out, so
/// the stored variant never depends on the request's `Accept-Encoding`. §4.1 allows
/// "normalizing both header field values in a way that is known to have identical semantics";
/// for this cache every `Accept-Encoding` has identical semantics. Without this, `Vary:
/// Accept-Encoding` (on most compressible responses) would split the cache into dozens of
/// variants for no benefit.
pub const ACCEPT_ENCODING_CANONICAL: &str = "*";

/// The `Vary` of a response (RFC 9111 §4.1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Vary {
    /// No `Vary` (or only empty members): one variant for every request.
    None,
    /// `*` anywhere, or an unparseable member: never matches (§4.1 "A stored response with a Vary
    /// header field value containing a member "*" always fails to match").
    Star,
    /// Field names, lowercased, deduplicated and sorted.
    Headers(Vec<String>),
}

impl Vary {
    /// Parses all `Vary` lines of `headers`.
    ///
    /// Contract: members split on commas across lines, OWS trimmed, empty members ignored (RFC
    /// 9110 §5.6.1); a `*` member gives [`Vary::Star`]; a member that is not a valid field name
    /// also gives `Star` (the conservative choice: such a response is never reused).
    pub fn from_headers(headers: &HeaderMap) -> Self {
        let lines: Vec<String> = headers
            .get_all(VARY)
            .iter()
            .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
            .collect();
        Self::parse(&lines.join(","))
    }

    /// Parses one combined `Vary` field value (see [`Vary::from_headers`]).
    pub fn parse(value: &str) -> Self {
        let mut names = Vec::new();
        for member in split_list(value) {
            if member == "*" || !member.bytes().all(is_tchar) {
                return Vary::Star;
            }
            names.push(member.to_ascii_lowercase());
        }
        crate::sort::sort_dedup(&mut names);
        if names.is_empty() {
            Vary::None
        } else {
            Vary::Headers(names)
        }
    }

    /// The field names to [`capture`] (empty for `None` and `Star`).
    pub fn names(&self) -> &[String] {
        match self {
            Vary::Headers(names) => names,
            Vary::None | Vary::Star => &[],
        }
    }
}

/// Records the request's normalised values for the `names` a response varies on.
///
/// Contract: one `(name, value)` per name, in the given order; the name is lowercased; `None`
/// when the request lacks the field ("If (after any normalization that might take place) a
/// header field is absent from a request, it can only match another request if it is also absent
/// there"). See [`normalised_value`] for the normalisation.
pub fn capture(req_headers: &HeaderMap, names: &[String]) -> Vec<(String, Option<String>)> {
    names
        .iter()
        .map(|n| {
            let n = n.to_ascii_lowercase();
            let v = normalised_value(req_headers, &n);
            (n, v)
        })
        .collect()
}

/// Whether a request selects the stored response whose captured values are `captured` (§4.1).
///
/// Contract: true iff every captured field normalises to the same value (absent ↔ absent).
pub fn matches(captured: &[(String, Option<String>)], req_headers: &HeaderMap) -> bool {
    captured
        .iter()
        .all(|(name, value)| normalised_value(req_headers, name) == *value)
}

/// Whether a stored response whose `Vary` is `stored_vary` (as restored on a hit) and whose
/// captured request values are `captured` may be reused for a request (§4.1).
///
/// Contract: false for `Vary: *` ("always fails to match"); false unless every name the stored
/// `Vary` nominates has a captured value (absent counts as a value) — a response without a usable
/// stored request value is not reused; then [`matches()`].
pub fn selects(
    stored_vary: &Vary,
    captured: &[(String, Option<String>)],
    req_headers: &HeaderMap,
) -> bool {
    if *stored_vary == Vary::Star {
        return false;
    }
    let usable = stored_vary
        .names()
        .iter()
        .all(|n| captured.iter().any(|(c, _)| c == n));
    usable && matches(captured, req_headers)
}

/// The request's value for `name`, normalised per §4.1.
///
/// Contract: `accept-encoding` (present or not) → [`ACCEPT_ENCODING_CANONICAL`]. Otherwise all
/// lines are combined ("combining multiple header field lines with the same field name"), list
/// members are split on commas outside quoted strings, whitespace around them is removed and
/// empty members dropped ("adding or removing whitespace, where allowed"), and members are joined
/// with `, `. For `Accept`, `Accept-Language` and `Accept-Charset` the weighted-list grammar is
/// also normalised (case, `q` spelling, order by weight: see `weighted_members`); for any other
/// field case and order are kept (they can be significant). Bytes outside visible ASCII and
/// SP/HTAB are escaped as `\xNN`, so distinct raw values never normalise to the same string.
/// `None` when the field is absent.
pub fn normalised_value(req_headers: &HeaderMap, name: &str) -> Option<String> {
    if name.eq_ignore_ascii_case("accept-encoding") {
        return Some(ACCEPT_ENCODING_CANONICAL.to_string());
    }
    let mut lines = req_headers.get_all(name).iter().peekable();
    lines.peek()?;
    let escaped: Vec<String> = lines.map(|v| escape(v.as_bytes())).collect();
    let joined = escaped.join(",");
    let members = split_list(&joined);
    let field = WeightedField::of(name);
    if let Some(n) = field.and_then(|f| weighted_members(&members, f)) {
        return Some(n);
    }
    Some(members.join(", "))
}

/// The proactive-negotiation fields whose grammar is a list of weighted members
/// (RFC 9110 §12.4.2, §12.5): their values can be normalised beyond whitespace.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum WeightedField {
    /// `Accept`: `media-range [ weight ]`; type, subtype and parameter names are
    /// case-insensitive (RFC 9110 §8.3.1), parameter values are kept as sent.
    Accept,
    /// `Accept-Language` (language-range, case-insensitive: RFC 4647 §2) and `Accept-Charset`
    /// (token, case-insensitive: RFC 9110 §8.3.2), `Accept-Encoding` when not canonical.
    Token,
}

impl WeightedField {
    fn of(name: &str) -> Option<Self> {
        match name.to_ascii_lowercase().as_str() {
            "accept" => Some(WeightedField::Accept),
            "accept-language" | "accept-charset" | "accept-encoding" => Some(WeightedField::Token),
            _ => None,
        }
    }
}

/// A qvalue (RFC 9110 §12.4.2: `( "0" [ "." 0*3DIGIT ] ) / ( "1" [ "." 0*3("0") ] )`) in
/// thousandths; `None` when malformed.
fn qvalue(v: &str) -> Option<u16> {
    let (int, frac) = v.split_once('.').unwrap_or((v, ""));
    if frac.len() > 3 || !frac.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let mut thousandths: u16 = 0;
    for (i, b) in frac
        .bytes()
        .chain(std::iter::repeat(b'0'))
        .take(3)
        .enumerate()
    {
        let place: u16 = [100, 10, 1].get(i).copied().unwrap_or(0);
        thousandths =
            thousandths.saturating_add(u16::from(b.saturating_sub(b'0')).saturating_mul(place));
    }
    match int {
        "0" => Some(thousandths),
        "1" if thousandths == 0 => Some(1000),
        _ => None,
    }
}

/// Normalises a weighted list (§4.1 "normalizing both header field values in a way that is
/// known to have identical semantics"): members lowercased where their grammar is
/// case-insensitive, whitespace around `;` and `=` removed, `q=1` (in any spelling) dropped and
/// other weights written in thousandths, then members stably sorted by weight, highest first.
/// Members of equal weight keep their order (RFC 9110 §12.5.4: some recipients treat it as
/// priority). `None` if any member is not in the grammar (the caller then keeps the value as
/// sent, only whitespace-normalised).
fn weighted_members(members: &[&str], field: WeightedField) -> Option<String> {
    let mut out: Vec<(u16, String)> = Vec::with_capacity(members.len());
    for m in members {
        let mut parts = m.split(';').map(|p| p.trim_matches([' ', '\t']));
        let value = parts.next().filter(|v| !v.is_empty())?;
        if value.contains(['"', ' ', '\t', '=']) {
            return None;
        }
        let mut q = 1000;
        let mut params = Vec::new();
        for p in parts {
            let (k, v) = p.split_once('=')?;
            let (k, v) = (
                k.trim_end_matches([' ', '\t']),
                v.trim_start_matches([' ', '\t']),
            );
            if k.is_empty() || v.is_empty() {
                return None;
            }
            if k.eq_ignore_ascii_case("q") {
                q = qvalue(v)?;
                continue; // the weight ends the member (RFC 9110 §12.5.1 `weight` last)
            }
            if field == WeightedField::Token {
                return None; // no parameters in these grammars
            }
            params.push(format!("{}={v}", k.to_ascii_lowercase()));
        }
        let mut norm = value.to_ascii_lowercase();
        for p in params {
            norm.push(';');
            norm.push_str(&p);
        }
        if q != 1000 {
            let frac = format!("{q:03}");
            norm.push_str(&format!(";q=0.{}", frac.trim_end_matches('0')));
            if q == 0 {
                norm.push('0');
            }
        }
        out.push((q, norm));
    }
    out.sort_by_key(|a| std::cmp::Reverse(a.0));
    Some(
        out.into_iter()
            .map(|(_, m)| m)
            .collect::<Vec<_>>()
            .join(", "),
    )
}

fn escape(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len());
    for &b in bytes {
        match b {
            b'\\' => out.push_str("\\\\"),
            b' ' | b'\t' | 0x21..=0x7e => out.push(char::from(b)),
            _ => out.push_str(&format!("\\x{b:02x}")),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    use crate::test_util::hm;

    #[test]
    fn parse_vary() {
        assert_eq!(Vary::from_headers(&hm(&[])), Vary::None);
        assert_eq!(Vary::from_headers(&hm(&[("vary", " , ")])), Vary::None);
        assert_eq!(
            Vary::from_headers(&hm(&[("vary", "Foo, accept-language"), ("vary", "FOO")])),
            Vary::Headers(vec!["accept-language".into(), "foo".into()])
        );
        for v in ["*", "*, *", ", *", "Foo, *", "*, Foo", "Fo o", "a\"b"] {
            assert_eq!(Vary::parse(v), Vary::Star, "{v}");
        }
        assert_eq!(
            Vary::from_headers(&hm(&[("vary", ""), ("vary", "*")])),
            Vary::Star
        );
    }

    #[test]
    fn whitespace_and_lines_normalised() {
        let names = vec!["foo".to_string()];
        let c = capture(&hm(&[("foo", "a,b")]), &names);
        assert!(matches(&c, &hm(&[("Foo", "a ,  b")])));
        assert!(matches(&c, &hm(&[("foo", "a"), ("foo", "b")])));
        assert!(!matches(&c, &hm(&[("foo", "b, a")])));
        assert!(!matches(&c, &hm(&[])));
        let absent = capture(&hm(&[]), &names);
        assert_eq!(absent, vec![("foo".to_string(), None)]);
        assert!(matches(&absent, &hm(&[("bar", "1")])));
        assert!(!matches(&absent, &hm(&[("foo", "")])));
    }

    #[test]
    fn quoted_commas_are_kept() {
        let names = vec!["foo".to_string()];
        let c = capture(&hm(&[("foo", "\"a, b\"")]), &names);
        assert!(!matches(&c, &hm(&[("foo", "\"a,b\"")])));
    }

    #[test]
    fn accept_encoding_is_canonical() {
        let names = vec!["accept-encoding".to_string(), "accept-language".to_string()];
        let c = capture(
            &hm(&[("accept-encoding", "gzip"), ("accept-language", "en")]),
            &names,
        );
        assert!(matches(
            &c,
            &hm(&[("accept-encoding", "br"), ("accept-language", "en")])
        ));
        assert!(matches(&c, &hm(&[("accept-language", "en")])));
        assert!(!matches(&c, &hm(&[("accept-language", "fr")])));
    }

    /// RFC 9111 §4.1: weighted lists normalise case, `q` spelling and order by weight.
    #[test]
    fn weighted_lists_normalised() {
        let n = |name: &str, v: &str| normalised_value(&hm(&[(name, v)]), name);
        let al = "accept-language";
        assert_eq!(n(al, "en-US, fr;q=0.5").as_deref(), Some("en-us, fr;q=0.5"));
        assert_eq!(n(al, "fr ; Q=0.500,EN-us;q=1.0"), n(al, "en-US, fr;q=0.5"));
        assert_eq!(n(al, "de;q=0, en"), n(al, "en, de;q=0.000"));
        // equal weights keep their order (it can be a priority)
        assert_ne!(n(al, "en, fr"), n(al, "fr, en"));
        assert_ne!(n(al, "en;q=0.5"), n(al, "en;q=0.6"));
        // out of grammar: kept as sent (whitespace only)
        assert_eq!(n(al, "en;q=2").as_deref(), Some("en;q=2"));
        assert_eq!(n(al, "en;level=1").as_deref(), Some("en;level=1"));
        let a = "accept";
        assert_eq!(
            n(a, "Text/HTML;Level=1;q=0.9, */*;q=0.1, application/json").as_deref(),
            Some("application/json, text/html;level=1;q=0.9, */*;q=0.1")
        );
        assert_ne!(
            n(a, "text/html;charset=UTF-8"),
            n(a, "text/html;charset=utf-8")
        );
        assert_eq!(qvalue("0.001"), Some(1));
        assert_eq!(qvalue("1.000"), Some(1000));
        for bad in ["1.001", "0.0001", "2", "", ".5", "0.x"] {
            assert_eq!(qvalue(bad), None, "{bad}");
        }
    }

    /// §4.1: Vary: * never matches; a nominated field without a captured value is not reused.
    #[test]
    fn selects_needs_a_captured_value_for_every_name() {
        let req = hm(&[("foo", "1"), ("bar", "2")]);
        let both = capture(&req, &["bar".to_string(), "foo".to_string()]);
        let vary = Vary::parse("Foo, Bar");
        assert!(selects(&vary, &both, &req));
        assert!(!selects(&vary, &both[..1], &req));
        assert!(!selects(&Vary::Star, &[], &req));
        assert!(selects(&Vary::None, &[], &req));
        assert!(!selects(&vary, &both, &hm(&[("foo", "1")])));
    }

    #[test]
    fn non_ascii_is_injective() {
        let mut a = HeaderMap::new();
        a.insert("foo", http::HeaderValue::from_bytes(b"\xff").unwrap());
        let mut b = HeaderMap::new();
        b.insert("foo", http::HeaderValue::from_bytes(b"\xfe").unwrap());
        let names = vec!["foo".to_string()];
        assert!(!matches(&capture(&a, &names), &b));
        assert!(matches(&capture(&a, &names), &a));
    }

    proptest! {
        #[test]
        fn vary_parse_never_panics_and_is_idempotent(s in ".*") {
            if let Vary::Headers(names) = Vary::parse(&s) {
                prop_assert_eq!(Vary::parse(&names.join(", ")), Vary::Headers(names));
            }
        }

        #[test]
        fn weighted_normalisation_is_idempotent(v in "[a-zA-Z*/;=.,0-9 q-]{0,30}") {
            for name in ["accept", "accept-language"] {
                let once = normalised_value(&crate::test_util::hm(&[(name, v.as_str())]), name);
                if let Some(o) = once.as_deref().filter(|o| !o.is_empty()) {
                    let twice = normalised_value(&crate::test_util::hm(&[(name, o)]), name);
                    prop_assert_eq!(twice.as_deref(), Some(o));
                }
            }
        }

        #[test]
        fn capture_matches_itself(v in proptest::collection::vec("[ -~]{0,12}", 0..3)) {
            let mut h = HeaderMap::new();
            for x in &v {
                h.append("x-v", http::HeaderValue::from_str(x).unwrap());
            }
            let names = vec!["x-v".to_string()];
            prop_assert!(matches(&capture(&h, &names), &h));
        }
    }
}
