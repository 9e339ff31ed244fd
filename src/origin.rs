//! Where the origin request goes: the origin mode (the `ORIGIN` and `ORIGIN_HOST` vars) and, for
//! one client URL, the URL to fetch, the `Host` the origin sees and the DNS override.
//!
//! Three modes:
//!
//! - **same zone** (`ORIGIN` unset, empty or `"same-zone"`): the origin request goes to the
//!   request's own URL with the client's `Host`. On a Cloudflare route (`example.com/*`) a
//!   Worker's subrequest to a hostname of its own zone is not handled by a Worker again: it goes
//!   to the zone's origin server (the proxied DNS record), which sees the site's real `Host`
//!   (what CMSs such as WordPress build their links from). There is no zone origin on
//!   `*.workers.dev`, so this mode is refused there ([`OriginMode::check_client_host`]).
//! - **remote origin** (`ORIGIN = "https://origin.example.com[/base]"`): the request goes to that
//!   host, path appended to the base path, query kept; the origin sees its own hostname as `Host`.
//! - **remote origin, site's Host** (the same plus `ORIGIN_HOST = "site"`): the request keeps the
//!   client's URL and `Host` (scheme and port taken from `ORIGIN`) and carries
//!   `cf.resolveOverride = <ORIGIN's hostname>`, so Cloudflare connects to that host instead of
//!   resolving the site's. Cloudflare applies it only when both the URL's host and the override
//!   host are in the Worker's zone (a CNAME in the zone can point at an outside origin);
//!   otherwise it is ignored and the request goes to the site's own hostname (the zone's
//!   origin). `ORIGIN` must then have no path: the DNS override cannot change the path.

use std::fmt;

/// The `ORIGIN` value meaning "the request's own URL" (the same as leaving `ORIGIN` unset).
pub const SAME_ZONE: &str = "same-zone";
/// The `ORIGIN_HOST` value asking for the site's `Host` toward a remote `ORIGIN`.
pub const HOST_SITE: &str = "site";
/// The `ORIGIN_HOST` value for the origin's own hostname as `Host` (the default).
pub const HOST_ORIGIN: &str = "origin";
/// The hostname suffix of Cloudflare's `workers.dev` subdomains (no zone, no zone origin).
pub const WORKERS_DEV_SUFFIX: &str = ".workers.dev";

/// Where origin requests go (see the module docs).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OriginMode {
    /// The request's own URL, with the client's `Host` (the zone's origin server).
    SameZone,
    /// A separate origin; it sees its own hostname as `Host`.
    Remote(url::Url),
    /// A separate origin reached through `cf.resolveOverride`; it sees the site's `Host`.
    RemoteSiteHost(url::Url),
}

/// Why the `ORIGIN` / `ORIGIN_HOST` configuration is refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OriginConfigError(pub String);

impl fmt::Display for OriginConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for OriginConfigError {}

/// What one origin request looks like.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OriginTarget {
    /// The URL to fetch.
    pub url: url::Url,
    /// The `Host` the origin sees: always the authority of [`OriginTarget::url`] (host, plus
    /// `:port` when not the scheme's default), so a runtime deriving `Host` from the URL agrees.
    pub host: String,
    /// `cf.resolveOverride` for the subrequest (only in [`OriginMode::RemoteSiteHost`]).
    pub resolve_override: Option<String>,
}

/// Parses the `ORIGIN` and `ORIGIN_HOST` vars (`None` when unset). Strict: a value that is
/// neither empty, [`SAME_ZONE`], nor an absolute `http(s)` URL without credentials, query or
/// fragment is an error; so is an `ORIGIN_HOST` other than [`HOST_ORIGIN`] or [`HOST_SITE`],
/// and a base path together with `ORIGIN_HOST = "site"`. `ORIGIN_HOST = "site"` in same-zone
/// mode is accepted (the same-zone request already carries the site's `Host`).
pub fn parse_origin_mode(
    origin: Option<&str>,
    host: Option<&str>,
) -> Result<OriginMode, OriginConfigError> {
    let site_host = match host.map(str::trim).unwrap_or("") {
        "" | HOST_ORIGIN => false,
        HOST_SITE => true,
        other => {
            return Err(OriginConfigError(format!(
                "ORIGIN_HOST {other:?}: use {HOST_ORIGIN:?} (the origin's hostname, the default) or {HOST_SITE:?} (the site's Host, through resolveOverride)"
            )))
        }
    };
    let raw = origin.map(str::trim).unwrap_or("");
    if raw.is_empty() || raw.eq_ignore_ascii_case(SAME_ZONE) {
        return Ok(OriginMode::SameZone);
    }
    let bad = |why: &str| OriginConfigError(format!("ORIGIN {raw:?}: {why}"));
    if !crate::key::plain_authority(raw) {
        return Err(bad(crate::key::NON_ASCII_HOST));
    }
    let u = url::Url::parse(raw).map_err(|e| {
        bad(&format!(
            "{e} (give an absolute http(s) URL, or {SAME_ZONE:?} for the request's own URL)"
        ))
    })?;
    if !matches!(u.scheme(), "http" | "https") {
        return Err(bad("the scheme must be http or https"));
    }
    if u.host_str().is_none_or(str::is_empty) {
        return Err(bad("no host"));
    }
    if !u.username().is_empty() || u.password().is_some() {
        return Err(bad("credentials in the URL are not allowed"));
    }
    if u.query().is_some() || u.fragment().is_some() {
        return Err(bad("a query or fragment is not allowed"));
    }
    if site_host {
        if u.path() != "/" {
            return Err(bad(
                "with ORIGIN_HOST = \"site\" the origin cannot have a path (resolveOverride only changes where the request connects)",
            ));
        }
        Ok(OriginMode::RemoteSiteHost(u))
    } else {
        Ok(OriginMode::Remote(u))
    }
}

/// The authority of `u` as a `Host` value: the host, plus `:port` when the URL names a port
/// other than its scheme's default (RFC 9110 §7.2: "the host and port information from the
/// target URI").
pub fn host_header(u: &url::Url) -> String {
    let host = u.host_str().unwrap_or("");
    match u.port() {
        Some(p) => format!("{host}:{p}"),
        None => host.to_string(),
    }
}

/// The origin request for a client request to `client` (see the module docs). The fragment is
/// never sent (RFC 9110 §4.2.5: it is not part of the target).
pub fn origin_target(mode: &OriginMode, client: &url::Url) -> OriginTarget {
    let mut url = match mode {
        OriginMode::SameZone => client.clone(),
        OriginMode::Remote(base) => {
            let mut u = base.clone();
            let base_path = base.path().trim_end_matches('/');
            u.set_path(&format!("{base_path}{}", client.path()));
            u.set_query(client.query());
            u
        }
        OriginMode::RemoteSiteHost(base) => {
            let mut u = client.clone();
            // Between the special schemes http and https, set_scheme cannot fail; if it ever
            // did, the client's scheme stays (still the site's URL and Host).
            let _ = u.set_scheme(base.scheme());
            // Cannot fail for an http(s) URL with a host; the client's port stays otherwise.
            let _ = u.set_port(base.port());
            u
        }
    };
    url.set_fragment(None);
    OriginTarget {
        host: host_header(&url),
        url,
        resolve_override: mode.resolve_override(),
    }
}

impl From<url::Url> for OriginMode {
    /// A separate origin at `base` (its own hostname as `Host`).
    fn from(base: url::Url) -> Self {
        OriginMode::Remote(base)
    }
}

impl OriginMode {
    /// The `cf.resolveOverride` every origin request of this mode carries (only in
    /// [`OriginMode::RemoteSiteHost`]: `ORIGIN`'s hostname).
    pub fn resolve_override(&self) -> Option<String> {
        match self {
            OriginMode::RemoteSiteHost(base) => base.host_str().map(str::to_string),
            _ => None,
        }
    }

    /// Stable short name: `same-zone`, `origin` or `origin-site-host`.
    pub fn as_str(&self) -> &'static str {
        match self {
            OriginMode::SameZone => "same-zone",
            OriginMode::Remote(_) => "origin",
            OriginMode::RemoteSiteHost(_) => "origin-site-host",
        }
    }

    /// One line for people (explain, the dashboard).
    pub fn describe(&self) -> String {
        match self {
            OriginMode::SameZone => "the request's own URL with the client's Host (on a route: the zone's origin server; ORIGIN unset)".to_string(),
            OriginMode::Remote(u) => format!("{} with its own hostname as Host (ORIGIN)", u.as_str()),
            OriginMode::RemoteSiteHost(u) => format!(
                "the site's URL and Host, connecting to {} (cf.resolveOverride; ORIGIN_HOST = \"site\")",
                u.host_str().unwrap_or("")
            ),
        }
    }

    /// `Err` with the reason when this mode cannot serve a request for `host`: same-zone mode on
    /// a `*.workers.dev` hostname, which has no zone origin (a subrequest to its own URL would
    /// only reach the Worker's own hostname again).
    pub fn check_client_host(&self, host: &str) -> Result<(), OriginConfigError> {
        let h = host.trim_end_matches('.').to_ascii_lowercase();
        if *self == OriginMode::SameZone
            && (h.ends_with(WORKERS_DEV_SUFFIX) || h == WORKERS_DEV_SUFFIX.trim_start_matches('.'))
        {
            return Err(OriginConfigError(format!(
                "{host} is a workers.dev hostname: there is no zone origin behind it; set ORIGIN to the origin's URL (or deploy on a route of your zone)"
            )));
        }
        Ok(())
    }

    /// As a JSON object `{"mode", "describe", "origin"}` (`origin` empty in same-zone mode).
    pub fn to_json(&self) -> String {
        let origin = match self {
            OriginMode::SameZone => "",
            OriginMode::Remote(u) | OriginMode::RemoteSiteHost(u) => u.as_str(),
        };
        crate::json::Obj::new()
            .str("mode", self.as_str())
            .str("describe", &self.describe())
            .str("origin", origin)
            .end()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn u(s: &str) -> url::Url {
        url::Url::parse(s).unwrap()
    }

    #[test]
    fn unset_empty_and_same_zone_mean_the_request_own_url() {
        for (o, h) in [
            (None, None),
            (Some(""), None),
            (Some("  "), None),
            (Some("same-zone"), None),
            (Some("Same-Zone"), Some("")),
            (Some("same-zone"), Some("site")),
            (None, Some("origin")),
        ] {
            assert_eq!(
                parse_origin_mode(o, h),
                Ok(OriginMode::SameZone),
                "{o:?} {h:?}"
            );
        }
    }

    #[test]
    fn urls_and_the_site_host_option() {
        assert_eq!(
            parse_origin_mode(Some("https://origin.example.com"), None),
            Ok(OriginMode::Remote(u("https://origin.example.com/")))
        );
        assert_eq!(
            parse_origin_mode(Some("http://127.0.0.1:8788/base/"), Some("origin")),
            Ok(OriginMode::Remote(u("http://127.0.0.1:8788/base/")))
        );
        assert_eq!(
            parse_origin_mode(Some("https://origin.example.com/"), Some(" site ")),
            Ok(OriginMode::RemoteSiteHost(u("https://origin.example.com/")))
        );
    }

    #[test]
    fn refusals_say_why() {
        let cases = [
            (Some("origin.example.com"), None, "absolute"),
            (Some("ftp://origin.example.com"), None, "scheme"),
            (
                Some("https://user:pw@origin.example.com"),
                None,
                "credentials",
            ),
            (Some("https://origin.example.com/?a=1"), None, "query"),
            (Some("https://origin.example.com/#x"), None, "fragment"),
            (Some("https://%65xample.com/"), None, "ASCII"),
            (
                Some("https://origin.example.com/base"),
                Some("site"),
                "path",
            ),
            (
                Some("https://origin.example.com"),
                Some("client"),
                "ORIGIN_HOST",
            ),
        ];
        for (o, h, want) in cases {
            let e = parse_origin_mode(o, h).expect_err(&format!("{o:?} {h:?}"));
            assert!(e.0.contains(want), "{o:?} {h:?}: {e}");
        }
    }

    #[test]
    fn same_zone_target_is_the_client_url_and_host() {
        let t = origin_target(
            &OriginMode::SameZone,
            &u("https://www.example.com/a/b?x=1#frag"),
        );
        assert_eq!(t.url.as_str(), "https://www.example.com/a/b?x=1");
        assert_eq!(t.host, "www.example.com");
        assert_eq!(t.resolve_override, None);
        let t = origin_target(&OriginMode::SameZone, &u("http://127.0.0.1:8787/x"));
        assert_eq!(t.host, "127.0.0.1:8787");
    }

    #[test]
    fn remote_target_keeps_base_path_and_uses_origin_host() {
        let m = OriginMode::Remote(u("http://127.0.0.1:8788/base/"));
        let t = origin_target(&m, &u("https://www.example.com/a?b=1"));
        assert_eq!(t.url.as_str(), "http://127.0.0.1:8788/base/a?b=1");
        assert_eq!(t.host, "127.0.0.1:8788");
        assert_eq!(t.resolve_override, None);
        let m = OriginMode::Remote(u("https://origin.example.com"));
        let t = origin_target(&m, &u("https://www.example.com/"));
        assert_eq!(t.url.as_str(), "https://origin.example.com/");
        assert_eq!(t.host, "origin.example.com");
    }

    #[test]
    fn site_host_target_keeps_the_site_url_and_overrides_dns() {
        let m = OriginMode::RemoteSiteHost(u("http://origin.example.com"));
        let t = origin_target(&m, &u("https://www.example.com/p?q=1"));
        assert_eq!(t.url.as_str(), "http://www.example.com/p?q=1");
        assert_eq!(t.host, "www.example.com");
        assert_eq!(t.resolve_override.as_deref(), Some("origin.example.com"));
        let m = OriginMode::RemoteSiteHost(u("https://origin.example.com:8443"));
        let t = origin_target(&m, &u("https://www.example.com/p"));
        assert_eq!(t.url.as_str(), "https://www.example.com:8443/p");
        assert_eq!(t.host, "www.example.com:8443");
    }

    #[test]
    fn workers_dev_has_no_zone_origin() {
        let m = OriginMode::SameZone;
        assert!(m.check_client_host("edgecache.me.workers.dev").is_err());
        assert!(m.check_client_host("EDGECACHE.ME.WORKERS.DEV.").is_err());
        assert!(m.check_client_host("www.example.com").is_ok());
        assert!(m.check_client_host("notworkers.dev").is_ok());
        let r = OriginMode::Remote(u("https://origin.example.com"));
        assert!(r.check_client_host("edgecache.me.workers.dev").is_ok());
    }

    #[test]
    fn descriptions_and_json() {
        assert_eq!(OriginMode::SameZone.as_str(), "same-zone");
        let j = OriginMode::Remote(u("https://o.example.com/")).to_json();
        let p = crate::json::Json::parse(&j).unwrap();
        assert_eq!(p.str_of("mode").as_deref(), Some("origin"));
        assert_eq!(
            p.str_of("origin").as_deref(),
            Some("https://o.example.com/")
        );
        assert!(OriginMode::RemoteSiteHost(u("https://o.example.com/"))
            .describe()
            .contains("resolveOverride"));
    }

    fn client_url() -> impl Strategy<Value = url::Url> {
        (
            prop::sample::select(vec!["http", "https"]),
            "[a-z]{1,8}(\\.[a-z]{1,8}){0,2}",
            prop::option::of(1u16..65535),
            "(/[a-zA-Z0-9._~%-]{0,6}){0,4}",
            prop::option::of("[a-z0-9=&]{0,12}"),
        )
            .prop_filter_map("valid URL", |(s, h, p, path, q)| {
                let port = p.map(|p| format!(":{p}")).unwrap_or_default();
                let query = q.map(|q| format!("?{q}")).unwrap_or_default();
                url::Url::parse(&format!("{s}://{h}{port}{path}{query}")).ok()
            })
    }

    proptest! {
        #[test]
        fn parse_never_panics(o in proptest::option::of(".{0,60}"), h in proptest::option::of(".{0,12}")) {
            let _ = parse_origin_mode(o.as_deref(), h.as_deref());
        }

        #[test]
        fn targets_keep_path_and_query_and_host_matches_the_url(c in client_url(), base in prop::sample::select(vec![
            "http://127.0.0.1:8788/", "https://origin.example.com/", "http://o.example.com:81/base/",
        ])) {
            for m in [
                OriginMode::SameZone,
                OriginMode::Remote(u(base)),
                OriginMode::RemoteSiteHost(u(&base.replace("base/", ""))),
            ] {
                let t = origin_target(&m, &c);
                prop_assert!(t.url.path().ends_with(c.path()), "{m:?} {c} -> {}", t.url);
                prop_assert_eq!(t.url.query(), c.query());
                prop_assert_eq!(t.url.fragment(), None);
                prop_assert_eq!(&t.host, &host_header(&t.url));
                match &m {
                    OriginMode::SameZone => {
                        prop_assert_eq!(t.url.as_str(), c.as_str());
                        prop_assert_eq!(t.host, host_header(&c));
                    }
                    OriginMode::Remote(b) => prop_assert_eq!(t.url.host_str(), b.host_str()),
                    OriginMode::RemoteSiteHost(b) => {
                        prop_assert_eq!(t.url.host_str(), c.host_str());
                        prop_assert_eq!(t.resolve_override.as_deref(), b.host_str());
                    }
                }
            }
        }
    }
}
