//! Helpers shared by the scenario tests (each file under `tests/` is its own crate; `mod common;`).
#![allow(dead_code)]

use edgecache::policy::Policy;
use http::{HeaderMap, HeaderName, HeaderValue};
use url::Url;

/// A policy from TOML text; panics with every diagnostic when it is invalid.
pub fn policy(src: &str) -> Policy {
    Policy::from_toml_str(src, "test.toml")
        .unwrap_or_else(|e| panic!("{e}"))
        .policy
}

/// Header fields from `(name, value)` pairs, repeated names kept in order.
pub fn hm(pairs: &[(&str, &str)]) -> HeaderMap {
    let mut h = HeaderMap::new();
    for (k, v) in pairs {
        h.append(
            HeaderName::from_bytes(k.as_bytes()).unwrap(),
            HeaderValue::from_str(v).unwrap(),
        );
    }
    h
}

/// A URL.
pub fn url(s: &str) -> Url {
    Url::parse(s).unwrap()
}
pub mod world;
