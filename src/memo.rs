//! A bounded memo of a pure parse, keyed by the parsed text itself (issue 16, "The hit path").
//!
//! A hit's fixed cost is mostly code run once per request on cold CPU caches (README, "The hit
//! path"): a parse that takes a few µs warm costs tens of µs cold (`bench/wasm-core/cold.mjs`).
//! The texts a hit parses repeat from request to request (its URL, its entry's metadata), so the
//! isolate keeps what it parsed. The text names its value exactly, so nothing in a memo can be
//! stale; a text that does not parse is never kept. It holds at most [`TextMemo::CAPACITY`]
//! values and starts over when full, so an attacker's stream of new texts costs memory bounded
//! by that number and nothing else.

use std::collections::HashMap;

/// Parsed values by their exact text.
#[derive(Debug)]
pub struct TextMemo<T> {
    map: HashMap<String, T>,
}

impl<T> Default for TextMemo<T> {
    fn default() -> Self {
        Self {
            map: HashMap::new(),
        }
    }
}

impl<T: Clone> TextMemo<T> {
    /// How many values it keeps before starting over.
    pub const CAPACITY: usize = 256;

    /// `parse(text)`, remembered when it is `Some`.
    pub fn get_or_parse(&mut self, text: &str, parse: impl FnOnce(&str) -> Option<T>) -> Option<T> {
        if let Some(v) = self.map.get(text) {
            return Some(v.clone());
        }
        let v = parse(text)?;
        if self.map.len() >= Self::CAPACITY {
            self.map.clear();
        }
        self.map.insert(text.to_string(), v.clone());
        Some(v)
    }

    /// How many it holds.
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// Whether it holds none.
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_url(s: &str) -> Option<url::Url> {
        url::Url::parse(s).ok()
    }

    #[test]
    fn bounded_and_never_remembers_what_does_not_parse() {
        let mut m = TextMemo::default();
        assert_eq!(m.get_or_parse("not a url", parse_url), None);
        assert!(m.is_empty(), "a text that does not parse is not kept");
        for i in 0..(TextMemo::<url::Url>::CAPACITY * 2 + 7) {
            let text = format!("https://example.com/p/{i}?q={i}");
            let want = url::Url::parse(&text).ok();
            assert_eq!(m.get_or_parse(&text, parse_url), want);
            let again = m.get_or_parse(&text, |_| panic!("parsed twice"));
            assert_eq!(again, want, "the second time, from the memo");
            assert!(m.len() <= TextMemo::<url::Url>::CAPACITY);
        }
    }

    proptest::proptest! {
        /// The memo answers exactly what the parse answers, for any texts in any order, repeated.
        #[test]
        fn agrees_with_the_parse(
            picks in proptest::collection::vec(0usize..6, 1..60),
            junk in proptest::prelude::any::<String>(),
        ) {
            let texts = [
                junk,
                String::new(),
                "http://127.0.0.1:8787/a?b=c".to_string(),
                "HTTP://EXAMPLE.com/%7e/./x/../y".to_string(),
                "https://example.com:443/".to_string(),
                "http://[::1]:8080/z#frag".to_string(),
            ];
            let mut m = TextMemo::default();
            for i in picks {
                let t = &texts[i];
                proptest::prop_assert_eq!(m.get_or_parse(t, parse_url), url::Url::parse(t).ok());
            }
        }
    }
}
