//! Request cookie parsing and filtering, and name patterns shared with query filtering.
//!
//! Parsing is lenient in the way of RFC 6265 §5.4 user agents and common servers: the `Cookie`
//! header is split on `;`, each piece is trimmed of spaces and tabs, and split at its first `=`.
//! A piece without `=` is a cookie with an empty name and the piece as value (what browsers send
//! for `document.cookie = "x"` and what most servers parse). Empty pieces are skipped. Values are
//! returned raw (quotes kept). Names are case-sensitive (RFC 6265 §5.4 compares them exactly).

/// A set of names: exact names plus prefixes written `"name_*"`; `"*"` alone matches every name.
///
/// Matching is case-sensitive byte comparison (cookie names and query parameter names are both
/// case-sensitive).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NamePatterns {
    /// Sorted, unique. `pub(crate)` for the policy embedding (policy/embed.rs).
    pub(crate) exact: Vec<String>,
    /// Prefixes without their `*` (`""` for `"*"`); sorted, unique.
    pub(crate) prefixes: Vec<String>,
}

/// Why a name pattern was rejected by [`NamePatterns::new`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PatternError {
    /// The offending pattern.
    pub pattern: String,
    /// Human-readable reason.
    pub reason: &'static str,
}

impl std::fmt::Display for PatternError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:?}: {}", self.pattern, self.reason)
    }
}

impl NamePatterns {
    /// Build from patterns; `*` may only appear once, as the last character.
    ///
    /// Rejects empty patterns. Character-set checks (cookie token, query name) are the caller's.
    pub fn new<I, S>(patterns: I) -> Result<Self, PatternError>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let mut out = NamePatterns::default();
        for p in patterns {
            let p = p.as_ref();
            if p.is_empty() {
                return Err(PatternError {
                    pattern: p.to_string(),
                    reason: "empty name",
                });
            }
            match p.find('*') {
                None => out.exact.push(p.to_string()),
                Some(i) if i == p.len() - 1 => out.prefixes.push(p[..i].to_string()),
                Some(_) => {
                    return Err(PatternError {
                        pattern: p.to_string(),
                        reason: "'*' is only allowed at the end (a prefix such as \"utm_*\")",
                    })
                }
            }
        }
        crate::sort::sort_dedup(&mut out.exact);
        crate::sort::sort_dedup(&mut out.prefixes);
        Ok(out)
    }

    /// True when no pattern is present (matches nothing).
    pub fn is_empty(&self) -> bool {
        self.exact.is_empty() && self.prefixes.is_empty()
    }

    /// True when `"*"` is present (matches every name, even the empty one).
    pub fn matches_all(&self) -> bool {
        self.prefixes.iter().any(|p| p.is_empty())
    }

    /// Whether `name` is one of the exact names or starts with one of the prefixes.
    pub fn matches(&self, name: &str) -> bool {
        self.exact
            .binary_search_by(|e| e.as_str().cmp(name))
            .is_ok()
            || self.prefixes.iter().any(|p| name.starts_with(p.as_str()))
    }

    /// The patterns in their written form (`"name"`, `"prefix*"`), exact names first.
    pub fn patterns(&self) -> impl Iterator<Item = String> + '_ {
        self.exact
            .iter()
            .cloned()
            .chain(self.prefixes.iter().map(|p| format!("{p}*")))
    }

    /// True when every name matched by `other` is matched by `self` (sound, not complete).
    pub fn covers(&self, other: &NamePatterns) -> bool {
        other.exact.iter().all(|n| self.matches(n))
            && other
                .prefixes
                .iter()
                .all(|q| self.prefixes.iter().any(|p| q.starts_with(p.as_str())))
    }
}

fn trim_ows(s: &str) -> &str {
    s.trim_matches(|c| c == ' ' || c == '\t')
}

/// Split one `Cookie` piece into (name, value); a piece without `=` has an empty name.
fn split_piece(piece: &str) -> (&str, &str) {
    match piece.split_once('=') {
        Some((n, v)) => (trim_ows(n), trim_ows(v)),
        None => ("", piece),
    }
}

/// Iterate over the `(name, value)` pairs of a `Cookie` request header value (lenient).
///
/// Never fails; garbage yields garbage pairs, never a panic.
pub fn parse_cookie_header(value: &str) -> impl Iterator<Item = (&str, &str)> {
    pieces(value).map(split_piece)
}

fn pieces(value: &str) -> impl Iterator<Item = &str> {
    value.split(';').map(trim_ows).filter(|p| !p.is_empty())
}

/// Name of the first cookie in the header whose name matches `pats` (it triggers a bypass).
pub fn find_bypass_cookie(cookie_header: &str, pats: &NamePatterns) -> Option<String> {
    if pats.is_empty() {
        return None;
    }
    parse_cookie_header(cookie_header)
        .find(|(n, _)| pats.matches(n))
        .map(|(n, _)| n.to_string())
}

/// Keep only the cookies whose names match `keep`, in their original order and spelling
/// (each kept piece is copied verbatim after trimming), joined with `"; "`.
///
/// Returns `None` when nothing is kept (the caller then removes the header). Idempotent:
/// filtering the output again returns it unchanged.
pub fn filter_cookie_header(cookie_header: &str, keep: &NamePatterns) -> Option<String> {
    let mut out = String::new();
    for piece in pieces(cookie_header) {
        let (name, _) = split_piece(piece);
        if keep.matches(name) {
            if !out.is_empty() {
                out.push_str("; ");
            }
            out.push_str(piece);
        }
    }
    (!out.is_empty()).then_some(out)
}

/// Kept cookies in a canonical order for the cache key: sorted by name (stable, so cookies with
/// equal names keep their order), pieces joined with `"; "`. `None` when nothing is kept.
pub fn canonical_kept_cookies(cookie_header: &str, keep: &NamePatterns) -> Option<String> {
    let mut kept: Vec<(&str, &str)> = pieces(cookie_header)
        .map(|p| (split_piece(p).0, p))
        .filter(|(n, _)| keep.matches(n))
        .collect();
    if kept.is_empty() {
        return None;
    }
    crate::sort::sort_by_str(&mut kept, |k| k.0);
    Some(kept.iter().map(|(_, p)| *p).collect::<Vec<_>>().join("; "))
}

/// Name of the cookie a `Set-Cookie` response header value sets (RFC 6265 §5.2), if any.
///
/// `None` when the name-value pair lacks `=` (user agents ignore such a header).
pub fn set_cookie_name(set_cookie: &str) -> Option<&str> {
    let pair = set_cookie.split(';').next().unwrap_or("");
    pair.split_once('=').map(|(n, _)| trim_ows(n))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const HEADER: &str = "a=1; wordpress_logged_in_abc=x;sessionid=s ; b = 2 ;; lone; c=x=y";

    fn pats(p: &[&str]) -> NamePatterns {
        NamePatterns::new(p.iter().copied()).unwrap()
    }

    #[test]
    fn parses_lenient() {
        let got: Vec<_> = parse_cookie_header(HEADER).collect();
        assert_eq!(
            got,
            vec![
                ("a", "1"),
                ("wordpress_logged_in_abc", "x"),
                ("sessionid", "s"),
                ("b", "2"),
                ("", "lone"),
                ("c", "x=y"),
            ]
        );
        assert_eq!(parse_cookie_header("").count(), 0);
        assert_eq!(parse_cookie_header(" ; ;").count(), 0);
    }

    #[test]
    fn patterns() {
        let p = pats(&["sessionid", "wordpress_logged_in_*"]);
        assert!(p.matches("sessionid"));
        assert!(!p.matches("sessionid2"));
        assert!(!p.matches("SESSIONID"));
        assert!(p.matches("wordpress_logged_in_"));
        assert!(p.matches("wordpress_logged_in_123"));
        assert!(pats(&["*"]).matches(""));
        assert!(pats(&["*"]).matches_all());
        assert!(NamePatterns::new(["a*b"]).is_err());
        assert!(NamePatterns::new([""]).is_err());
        assert_eq!(
            p.patterns().collect::<Vec<_>>(),
            vec!["sessionid", "wordpress_logged_in_*"]
        );
        assert!(pats(&["a*"]).covers(&pats(&["ab", "abc*"])));
        assert!(!pats(&["ab*"]).covers(&pats(&["a*"])));
    }

    #[test]
    fn bypass() {
        let p = pats(&["sessionid", "wordpress_logged_in_*"]);
        assert_eq!(
            find_bypass_cookie(HEADER, &p).as_deref(),
            Some("wordpress_logged_in_abc")
        );
        assert_eq!(find_bypass_cookie("a=1; b=2", &p), None);
        assert_eq!(find_bypass_cookie(HEADER, &NamePatterns::default()), None);
    }

    #[test]
    fn filter() {
        let p = pats(&["b", "c", "a"]);
        assert_eq!(
            filter_cookie_header(HEADER, &p).as_deref(),
            Some("a=1; b = 2; c=x=y")
        );
        assert_eq!(filter_cookie_header(HEADER, &pats(&["zz"])), None);
        assert_eq!(
            canonical_kept_cookies("c=3; a=1; c=2", &pats(&["a", "c"])).as_deref(),
            Some("a=1; c=3; c=2")
        );
    }

    #[test]
    fn set_cookie() {
        assert_eq!(
            set_cookie_name("sessionid=abc; Path=/; HttpOnly"),
            Some("sessionid")
        );
        assert_eq!(set_cookie_name(" x = 1"), Some("x"));
        assert_eq!(set_cookie_name("novalue; Path=/"), None);
    }

    proptest! {
        #[test]
        fn never_panics(h in ".{0,80}", p in "[a-z_]{1,6}\\*?") {
            let pats = NamePatterns::new([p]).unwrap();
            let _ = parse_cookie_header(&h).count();
            let _ = find_bypass_cookie(&h, &pats);
            let _ = filter_cookie_header(&h, &pats);
            let _ = canonical_kept_cookies(&h, &pats);
            let _ = set_cookie_name(&h);
        }

        #[test]
        fn filter_idempotent(h in "[a-c =;\t]{0,40}", p in prop::sample::select(vec!["a", "b*", "*", "c"])) {
            let pats = NamePatterns::new([p]).unwrap();
            if let Some(once) = filter_cookie_header(&h, &pats) {
                prop_assert_eq!(filter_cookie_header(&once, &pats), Some(once.clone()));
            }
        }

        #[test]
        fn filter_keeps_only_matching(h in "[a-c0-9 =;]{0,40}") {
            let pats = NamePatterns::new(["a"]).unwrap();
            if let Some(out) = filter_cookie_header(&h, &pats) {
                prop_assert!(parse_cookie_header(&out).all(|(n, _)| n == "a"));
            }
        }
    }
}
