//! Purge tags of a response: the origin's tag headers plus the rule's static tags.
//!
//! `Cache-Tag` is comma-separated (Cloudflare's convention), `Surrogate-Key` space-separated
//! (Fastly's); any other configured header is split on both. Limits keep metadata small and a
//! hostile origin harmless: at most [`MAX_TAGS`] tags of at most [`MAX_TAG_BYTES`] bytes each;
//! what is over is dropped (and counted by [`collect_counted`]), never an error. Tags starting
//! with `__ec_` are edgecache's own (the URL tag a stored copy carries in `Cache-Tag` for the
//! zone purge API, see `purge::zone`) and are ignored wherever they come from.

use crate::policy::Rule;
use http::HeaderMap;

/// Most tags kept per entry.
pub const MAX_TAGS: usize = 64;
/// Longest tag kept, in bytes.
pub const MAX_TAG_BYTES: usize = 128;

/// The entry's tags (deduplicated, in first-seen order: rule tags first).
pub fn collect(rule: &Rule, headers: &HeaderMap) -> Vec<String> {
    collect_counted(rule, headers).0
}

/// [`collect`] plus how many tags were dropped by the limits.
pub fn collect_counted(rule: &Rule, headers: &HeaderMap) -> (Vec<String>, usize) {
    let mut out: Vec<String> = Vec::new();
    let mut dropped = 0;
    let mut push = |t: &str| {
        let t = t.trim();
        if t.is_empty() || out.iter().any(|o| o == t) || crate::purge::zone::is_reserved_tag(t) {
            return;
        }
        if t.len() > MAX_TAG_BYTES || out.len() >= MAX_TAGS || t.chars().any(char::is_control) {
            dropped += 1;
            return;
        }
        out.push(t.to_string());
    };
    for t in &rule.tags {
        push(t);
    }
    for name in &rule.tag_headers {
        let seps: &[char] = match name.as_str() {
            "cache-tag" => &[','],
            "surrogate-key" => &[' ', '\t'],
            _ => &[',', ' ', '\t'],
        };
        for v in headers.get_all(name) {
            for t in String::from_utf8_lossy(v.as_bytes()).split(seps) {
                push(t);
            }
        }
    }
    (out, dropped)
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    fn rule() -> Rule {
        let mut r = Rule::builtin_default();
        r.tags = vec!["site".into()];
        r
    }

    #[test]
    fn both_header_styles_and_rule_tags() {
        let mut h = HeaderMap::new();
        h.insert(
            "cache-tag",
            HeaderValue::from_static("article-1, section-news,,"),
        );
        h.insert("surrogate-key", HeaderValue::from_static("a  b site"));
        assert_eq!(
            collect(&rule(), &h),
            ["site", "article-1", "section-news", "a", "b"]
        );
    }

    #[test]
    fn reserved_tags_are_ignored() {
        let mut h = HeaderMap::new();
        let stored = crate::purge::zone::stored_cache_tag(&["a".into()], "https://e.com/x");
        h.insert("cache-tag", HeaderValue::from_str(&stored).unwrap());
        assert_eq!(collect(&rule(), &h), ["site", "a"]);
    }

    #[test]
    fn limits_drop_and_count() {
        let mut h = HeaderMap::new();
        let many: Vec<String> = (0..100).map(|i| format!("t{i}")).collect();
        h.insert("cache-tag", HeaderValue::from_str(&many.join(",")).unwrap());
        h.append(
            "cache-tag",
            HeaderValue::from_str(&"x".repeat(MAX_TAG_BYTES + 1)).unwrap(),
        );
        let (tags, dropped) = collect_counted(&rule(), &h);
        assert_eq!(tags.len(), MAX_TAGS);
        assert_eq!(dropped, 101 - (MAX_TAGS - 1));
    }
}
