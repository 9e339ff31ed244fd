//! The request headers known to poison caches: a leaf list that the forwarding allowlist
//! ([`crate::forward`]), the policy check and `explain` all name.

/// Request headers that published cache-poisoning research shows origins and frameworks act on
/// (forwarded host/scheme/port/prefix, URL and method overrides, client IP headers, ...). They
/// are dropped like every other header outside the allowlist; this list is what `explain`
/// singles out, what the docs name and what the tests try.
pub const KNOWN_UNKEYED_INPUTS: &[&str] = &[
    "forwarded",
    "x-forwarded-host",
    "x-forwarded-scheme",
    "x-forwarded-proto",
    "x-forwarded-port",
    "x-forwarded-prefix",
    "x-forwarded-server",
    "x-forwarded-for",
    "x-forwarded-ssl",
    "x-forwarded-uri",
    "x-forwarded-path",
    "x-host",
    "x-http-host-override",
    "x-original-host",
    "x-original-url",
    "x-original-uri",
    "x-rewrite-url",
    "x-override-url",
    "x-http-method-override",
    "x-http-method",
    "x-method-override",
    "x-original-method",
    "x-real-ip",
    "x-client-ip",
    "true-client-ip",
    "x-cluster-client-ip",
    "x-requested-with",
    "x-wap-profile",
    "origin",
    "referer",
    "user-agent",
];
