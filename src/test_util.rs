//! Helpers shared by the unit tests.

use http::HeaderMap;

/// A header map from `(name, value)` pairs, in order (repeated names append).
pub(crate) fn hm(pairs: &[(&str, &str)]) -> HeaderMap {
    let mut h = HeaderMap::new();
    for (k, v) in pairs {
        h.append(
            http::HeaderName::from_bytes(k.as_bytes()).expect("test header name"),
            http::HeaderValue::from_str(v).expect("test header value"),
        );
    }
    h
}
