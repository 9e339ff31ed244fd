//! Raw serde structs of the policy file, shared by TOML and JSON loading (host only).
//!
//! Every struct denies unknown fields. Values stay as written (durations may be strings or
//! integers); `validate` turns them into typed settings. Serialising a raw policy to JSON
//! and reading it back gives the same raw policy, so TOML → JSON conversion is exact.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::collections::BTreeMap;

/// A duration or size as written: a string (`"5m"`) or a non-negative integer (seconds/bytes).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scalar {
    /// Written as an integer.
    Int(u64),
    /// Written as a string.
    Text(String),
}

impl Serialize for Scalar {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Scalar::Int(n) => s.serialize_u64(*n),
            Scalar::Text(t) => s.serialize_str(t),
        }
    }
}

impl<'de> Deserialize<'de> for Scalar {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl serde::de::Visitor<'_> for V {
            type Value = Scalar;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a string such as \"5m\" or \"100MB\", or a non-negative integer")
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<Scalar, E> {
                Ok(Scalar::Int(v))
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<Scalar, E> {
                u64::try_from(v)
                    .map(Scalar::Int)
                    .map_err(|_| E::custom(format!("{v} is negative")))
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Scalar, E> {
                Ok(Scalar::Text(v.to_string()))
            }
        }
        d.deserialize_any(V)
    }
}

/// One string or a list of strings (`path = "/a"` or `path = ["/a", "/b"]`); serialised as a list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Default)]
#[serde(transparent)]
pub struct OneOrMany(pub Vec<String>);

impl<'de> Deserialize<'de> for OneOrMany {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Either {
            One(String),
            Many(Vec<String>),
        }
        match Either::deserialize(d) {
            Ok(Either::One(s)) => Ok(OneOrMany(vec![s])),
            Ok(Either::Many(v)) => Ok(OneOrMany(v)),
            Err(_) => Err(serde::de::Error::custom(
                "expected a string or a list of strings",
            )),
        }
    }
}

/// `[defaults.cookies]` / `[rules.cookies]`: fields merge one by one over the defaults.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawCookies {
    /// `strip` | `allow` | `pass`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mode: Option<String>,
    /// Names kept in `allow` mode.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub allow: Option<Vec<String>>,
    /// Names whose presence makes the request bypass the cache.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bypass: Option<Vec<String>>,
}

/// `[defaults.query]` / `[rules.query]`: fields merge one by one over the defaults.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawQuery {
    /// `ignore` | `allow` | `deny`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mode: Option<String>,
    /// Parameters kept in `allow` mode.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub allow: Option<Vec<String>>,
    /// Parameters removed in `deny` mode.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub deny: Option<Vec<String>>,
}

/// `[defaults.key]` / `[rules.key]`: fields merge one by one over the defaults.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawKey {
    /// Request header names folded into the key.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub vary: Option<Vec<String>>,
    /// Whether the host is part of the key.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub include_host: Option<bool>,
}

/// The settings a rule inherits from `[defaults]` (each `None` means "inherit").
///
/// Shared by [`RawDefaults`] and [`RawRule`] through a macro because `deny_unknown_fields`
/// does not combine with `#[serde(flatten)]`.
macro_rules! raw_settings {
    ($(#[$m:meta])* pub struct $name:ident { $($(#[$fm:meta])* pub $extra:ident : $ty:ty,)* }) => {
        $(#[$m])*
        #[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
        #[serde(deny_unknown_fields)]
        pub struct $name {
            $($(#[$fm])* pub $extra: $ty,)*
            /// Edge (shared cache) TTL.
            #[serde(skip_serializing_if = "Option::is_none")]
            pub edge_ttl: Option<Scalar>,
            /// Browser TTL (`max-age` sent downstream).
            #[serde(skip_serializing_if = "Option::is_none")]
            pub browser_ttl: Option<Scalar>,
            /// Stale-while-revalidate window.
            #[serde(skip_serializing_if = "Option::is_none")]
            pub stale_while_revalidate: Option<Scalar>,
            /// Stale-if-error window.
            #[serde(skip_serializing_if = "Option::is_none")]
            pub stale_if_error: Option<Scalar>,
            /// `respect` | `override` | `cap`.
            #[serde(skip_serializing_if = "Option::is_none")]
            pub origin_cache_control: Option<String>,
            /// Allow RFC 9111 §4.2.2 heuristic freshness in respect mode.
            #[serde(skip_serializing_if = "Option::is_none")]
            pub heuristic_freshness: Option<bool>,
            /// Per-status TTLs (`"404"` or `"4xx"`).
            #[serde(skip_serializing_if = "Option::is_none")]
            pub status_ttl: Option<BTreeMap<String, Scalar>>,
            /// ± percent jitter on the edge TTL.
            #[serde(skip_serializing_if = "Option::is_none")]
            pub jitter_percent: Option<i64>,
            /// Probabilistic early refresh factor.
            #[serde(skip_serializing_if = "Option::is_none")]
            pub xfetch_beta: Option<f64>,
            /// Origin fetch timeout.
            #[serde(skip_serializing_if = "Option::is_none")]
            pub origin_timeout: Option<Scalar>,
            /// Largest response body stored.
            #[serde(skip_serializing_if = "Option::is_none")]
            pub max_body_size: Option<Scalar>,
            /// Response headers carrying purge tags.
            #[serde(skip_serializing_if = "Option::is_none")]
            pub tag_headers: Option<Vec<String>>,
            /// Forward the tag headers to the client.
            #[serde(skip_serializing_if = "Option::is_none")]
            pub keep_tag_headers: Option<bool>,
            /// Cache requests that carry `Authorization`.
            #[serde(skip_serializing_if = "Option::is_none")]
            pub public_authorization: Option<bool>,
            /// `strip` | `uncacheable`.
            #[serde(skip_serializing_if = "Option::is_none")]
            pub set_cookie: Option<String>,
            /// Cookie handling.
            #[serde(skip_serializing_if = "Option::is_none")]
            pub cookies: Option<RawCookies>,
            /// Query string handling.
            #[serde(skip_serializing_if = "Option::is_none")]
            pub query: Option<RawQuery>,
            /// Cache key composition.
            #[serde(skip_serializing_if = "Option::is_none")]
            pub key: Option<RawKey>,
            /// Request headers forwarded to the origin without being in the key.
            #[serde(skip_serializing_if = "Option::is_none")]
            pub forward_unkeyed: Option<Vec<String>>,
            /// Refuse to store responses whose Content-Type contradicts the path's extension.
            #[serde(skip_serializing_if = "Option::is_none")]
            pub deception_armor: Option<bool>,
        }
    };
}

raw_settings! {
    /// `[defaults]`.
    pub struct RawDefaults {}
}

raw_settings! {
    /// One `[[rules]]` entry.
    pub struct RawRule {
        /// Unique rule name.
        #[serde(default)]
        pub name: String,
        /// Path patterns (any of).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub path: Option<OneOrMany>,
        /// File extensions (any of), ANDed with `path`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub ext: Option<OneOrMany>,
        /// Host patterns (any of).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub host: Option<OneOrMany>,
        /// Methods (any of).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub method: Option<OneOrMany>,
        /// Never cache matching requests.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub bypass: Option<bool>,
        /// Purge tags attached to every stored response.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub tags: Option<Vec<String>>,
    }
}

/// The whole file.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawPolicy {
    /// `[defaults]`.
    #[serde(default)]
    pub defaults: RawDefaults,
    /// `[[rules]]`, in order.
    #[serde(default)]
    pub rules: Vec<RawRule>,
}
