//! The declarative caching policy: typed model, loading/validation and the compiled route matcher.
//!
//! A policy file has `[defaults]` and an ordered list of `[[rules]]`. Every rule inherits each
//! setting it does not set from `[defaults]` (which itself falls back to the built-in values of
//! [`Rule::builtin_default`]); the nested tables `cookies`, `query` and `key` merge field by
//! field, while the `status_ttl` map is one setting and is replaced as a whole (`{}` clears it).
//! The first rule whose conditions all hold
//! wins; when none matches, the synthetic rule named `"default"` (the resolved defaults) applies.
//!
//! ## Match syntax (all conditions of a rule must hold; each list matches if any entry matches)
//! - `path`: patterns against the normalised request path ([`crate::path::normalize_path`]):
//!   - exact: `"/about"` (matches only `/about`, not `/about/`);
//!   - glob: segments split on `/`; a segment `*` matches exactly one non-empty segment
//!     (`"/blog/*/comments"`); a final segment `**` matches the path before it and everything
//!     below it (`"/assets/**"` matches `/assets`, `/assets/` and `/assets/a/b.css`; `"/**"`
//!     matches every path). `*` must be a whole segment, `**` only the last one.
//!   - extension: `"*.css"` matches any path whose last segment ends in `.css`
//!     (ASCII case-insensitive).
//!   - omitted: any path.
//! - `ext`: extensions without the dot (`["css", "js"]`), ANDed with `path`.
//! - `host`: `"example.com"` (exact) or `"*.example.com"` (any subdomain at any depth, not the
//!   apex). ASCII case-insensitive; a `:port` in the request host is ignored. Omitted: any host.
//! - `method`: upper-case method names (`["GET", "HEAD"]`); omitted: any method.
//!
//! ## Where a policy is read and validated
//! Only on the host: [`Policy::from_toml_str`] (the `edgecache` CLI, tests) and build.rs, which
//! compiles this module, validates the policy file with it and embeds the *resolved* policy as
//! compact JSON ([`embed`]); the worker decodes that once per isolate (`crate::embedded`). So
//! the loaders (`model`, `validate`) are not compiled for wasm32: the worker carries no policy
//! parser or validator, only the [`embed`] decoder and [`Policy::from_rules`].

pub mod embed;
mod matcher;
#[cfg(not(target_arch = "wasm32"))]
pub mod model;
#[cfg(not(target_arch = "wasm32"))]
mod validate;

use crate::cookies::NamePatterns;
use std::fmt;

#[cfg(not(target_arch = "wasm32"))]
pub use validate::{
    MAX_DURATION_SECS, MAX_NAME_LEN, MAX_PATTERNS_PER_LIST, MAX_PATTERN_LEN, MAX_RULES, MAX_TAGS,
    MAX_TAG_LEN,
};

/// How the origin's `Cache-Control` is treated for the edge copy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OriginMode {
    /// Behave as an RFC 9111 shared cache: freshness comes from the origin's headers.
    Respect,
    /// Edge freshness is the rule's `edge_ttl`, whatever the origin says.
    Override,
    /// Origin freshness, but never longer than the rule's `edge_ttl`.
    Cap,
}

impl OriginMode {
    /// The policy-file spelling.
    pub fn as_str(&self) -> &'static str {
        match self {
            OriginMode::Respect => "respect",
            OriginMode::Override => "override",
            OriginMode::Cap => "cap",
        }
    }
}

/// Which request cookies reach the origin on a cacheable request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CookieMode {
    /// Remove the `Cookie` header before fetching from the origin.
    Strip,
    /// Keep only the cookies named in `cookies.allow`; the kept cookies are part of the cache key.
    Allow,
    /// Forward every cookie. Only accepted where no cookie can reach a shared entry: on a rule with
    /// `bypass = true`, or when `cookies.bypass` contains `"*"` (any cookie bypasses the cache).
    Pass,
}

impl CookieMode {
    /// The policy-file spelling.
    pub fn as_str(&self) -> &'static str {
        match self {
            CookieMode::Strip => "strip",
            CookieMode::Allow => "allow",
            CookieMode::Pass => "pass",
        }
    }
}

/// What happens to the query string in the cache key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QueryMode {
    /// Drop the whole query string from the key.
    Ignore,
    /// Keep only the parameters named in `query.allow`.
    Allow,
    /// Keep every parameter except those named in `query.deny`.
    Deny,
}

impl QueryMode {
    /// The policy-file spelling.
    pub fn as_str(&self) -> &'static str {
        match self {
            QueryMode::Ignore => "ignore",
            QueryMode::Allow => "allow",
            QueryMode::Deny => "deny",
        }
    }
}

/// What to do with an origin response carrying `Set-Cookie` (never stored with it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SetCookieMode {
    /// Store a copy without the `Set-Cookie` headers (the current client still receives them).
    Strip,
    /// Do not store the response at all.
    Uncacheable,
}

impl SetCookieMode {
    /// The policy-file spelling.
    pub fn as_str(&self) -> &'static str {
        match self {
            SetCookieMode::Strip => "strip",
            SetCookieMode::Uncacheable => "uncacheable",
        }
    }
}

/// Per-status edge TTLs: exact codes win over classes (`"404"` over `"4xx"`). Never 5xx or 1xx.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StatusTtl {
    /// Sorted by status code. `pub(crate)` (with `class`) for the embedding (embed.rs).
    pub(crate) exact: Vec<(u16, u64)>,
    /// Index 2..=4 for 2xx..4xx.
    pub(crate) class: [Option<u64>; 6],
}

impl StatusTtl {
    /// The TTL configured for `status`, exact code first, then its class.
    pub fn get(&self, status: u16) -> Option<u64> {
        if let Ok(i) = self.exact.binary_search_by_key(&status, |(c, _)| *c) {
            return self.exact.get(i).map(|(_, t)| *t);
        }
        self.class.get(usize::from(status / 100)).copied().flatten()
    }

    /// Every entry as (`"404"` or `"4xx"`, seconds), codes first.
    pub fn entries(&self) -> Vec<(String, u64)> {
        let mut out: Vec<(String, u64)> = self
            .exact
            .iter()
            .map(|(c, t)| (c.to_string(), *t))
            .collect();
        for (i, t) in self.class.iter().enumerate() {
            if let Some(t) = t {
                out.push((format!("{i}xx"), *t));
            }
        }
        out
    }

    fn set_exact(&mut self, code: u16, ttl: u64) {
        match self.exact.binary_search_by_key(&code, |(c, _)| *c) {
            Ok(i) => {
                if let Some(e) = self.exact.get_mut(i) {
                    e.1 = ttl;
                }
            }
            Err(i) => self.exact.insert(i, (code, ttl)),
        }
    }
}

/// Cookie handling of a rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CookiePolicy {
    /// What reaches the origin on cacheable requests.
    pub mode: CookieMode,
    /// Cookies kept (and folded into the key) in [`CookieMode::Allow`].
    pub allow: NamePatterns,
    /// Cookies whose presence turns the request into a pass-through.
    pub bypass: NamePatterns,
}

/// Query string handling of a rule (for the cache key).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueryPolicy {
    /// Which list applies.
    pub mode: QueryMode,
    /// Kept parameters in [`QueryMode::Allow`].
    pub allow: NamePatterns,
    /// Dropped parameters in [`QueryMode::Deny`].
    pub deny: NamePatterns,
}

impl QueryPolicy {
    /// Whether a parameter named `name` stays in the cache key.
    pub fn keeps(&self, name: &str) -> bool {
        match self.mode {
            QueryMode::Ignore => false,
            QueryMode::Allow => self.allow.matches(name),
            QueryMode::Deny => !self.deny.matches(name),
        }
    }
}

/// Cache key composition of a rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyPolicy {
    /// Request headers folded into the key; lower-case, sorted, unique, never `cookie`.
    pub vary: Vec<http::HeaderName>,
    /// Whether the request host is part of the key.
    pub include_host: bool,
}

/// A host condition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HostPattern {
    /// `example.com` (lower-case).
    Exact(String),
    /// `*.example.com`, stored as `example.com`: any strict subdomain.
    Subdomains(String),
}

impl HostPattern {
    /// Whether a lower-case, port-less host matches.
    pub fn matches(&self, host: &str) -> bool {
        match self {
            HostPattern::Exact(h) => host == h,
            HostPattern::Subdomains(s) => {
                // `host` is `<label(s)>.<s>`: a dot just before the suffix, something before it.
                host.strip_suffix(s.as_str())
                    .and_then(|p| p.strip_suffix('.'))
                    .is_some_and(|p| !p.is_empty())
            }
        }
    }
}

impl fmt::Display for HostPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HostPattern::Exact(h) => f.write_str(h),
            HostPattern::Subdomains(s) => write!(f, "*.{s}"),
        }
    }
}

/// One segment of a glob path pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Segment {
    /// Matches exactly this text.
    Literal(String),
    /// `*`: exactly one non-empty segment.
    Star,
}

/// A path condition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PathPattern {
    /// Segments after the leading `/`; `globstar` when the pattern ends in `/**`.
    Glob {
        /// Segments before an optional final `**`.
        segments: Vec<Segment>,
        /// Pattern ends with `**`.
        globstar: bool,
    },
    /// `*.ext` (lower-case, no dot).
    Ext(String),
}

/// The segments of a path for matching: after the leading `/`, split on `/` (`"/"` → `[""]`).
pub(crate) fn path_segments(path: &str) -> std::str::Split<'_, char> {
    path.strip_prefix('/').unwrap_or(path).split('/')
}

/// The extension of a path's last segment (after its last `.`), if non-empty.
pub(crate) fn path_ext(path: &str) -> Option<&str> {
    let last = path.rsplit('/').next().unwrap_or(path);
    match last.rsplit_once('.') {
        Some((_, ext)) if !ext.is_empty() => Some(ext),
        _ => None,
    }
}

impl PathPattern {
    /// Whether a (normalised) path matches; the straightforward reference implementation.
    pub fn matches(&self, path: &str) -> bool {
        match self {
            PathPattern::Ext(e) => path_ext(path).is_some_and(|x| x.eq_ignore_ascii_case(e)),
            PathPattern::Glob { segments, globstar } => {
                let mut segs = path_segments(path);
                for s in segments {
                    match (s, segs.next()) {
                        (Segment::Literal(l), Some(p)) if l == p => {}
                        (Segment::Star, Some(p)) if !p.is_empty() => {}
                        _ => return false,
                    }
                }
                *globstar || segs.next().is_none()
            }
        }
    }
}

impl fmt::Display for PathPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PathPattern::Ext(e) => write!(f, "*.{e}"),
            PathPattern::Glob { segments, globstar } => {
                for s in segments {
                    match s {
                        Segment::Literal(l) => write!(f, "/{l}")?,
                        Segment::Star => f.write_str("/*")?,
                    }
                }
                if *globstar {
                    f.write_str("/**")
                } else if segments.is_empty() {
                    f.write_str("/")
                } else {
                    Ok(())
                }
            }
        }
    }
}

/// The conditions of a rule; an empty list means "any".
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Conditions {
    /// Any of these hosts.
    pub hosts: Vec<HostPattern>,
    /// Any of these methods (upper-case).
    pub methods: Vec<String>,
    /// Any of these path patterns.
    pub paths: Vec<PathPattern>,
    /// Any of these extensions (lower-case), in addition to `paths`.
    pub exts: Vec<String>,
}

impl Conditions {
    /// Reference (linear) check of every condition; `host` lower-case without port.
    pub fn matches(&self, method: &str, host: &str, path: &str) -> bool {
        (self.hosts.is_empty() || self.hosts.iter().any(|h| h.matches(host)))
            && self.method_ok(method)
            && (self.paths.is_empty() || self.paths.iter().any(|p| p.matches(path)))
            && self.ext_ok(path)
    }

    pub(crate) fn method_ok(&self, method: &str) -> bool {
        self.methods.is_empty() || self.methods.iter().any(|m| m == method)
    }

    pub(crate) fn ext_ok(&self, path: &str) -> bool {
        self.exts.is_empty()
            || path_ext(path).is_some_and(|x| self.exts.iter().any(|e| e.eq_ignore_ascii_case(x)))
    }

    /// A short human description: `GET,HEAD example.com /assets/** ext=css`; `*` for no condition.
    pub fn describe(&self) -> String {
        let mut parts = Vec::new();
        if !self.methods.is_empty() {
            parts.push(self.methods.join(","));
        }
        if !self.hosts.is_empty() {
            parts.push(join(self.hosts.iter()));
        }
        if !self.paths.is_empty() {
            parts.push(join(self.paths.iter()));
        }
        if !self.exts.is_empty() {
            parts.push(format!("ext={}", self.exts.join(",")));
        }
        if parts.is_empty() {
            "*".to_string()
        } else {
            parts.join(" ")
        }
    }
}

fn join<T: fmt::Display>(it: impl Iterator<Item = T>) -> String {
    it.map(|x| x.to_string()).collect::<Vec<_>>().join(",")
}

/// A fully resolved rule: inheritance applied, every value typed.
#[derive(Debug, Clone, PartialEq)]
pub struct Rule {
    /// Position in `[[rules]]` (0-based); the synthetic default rule has `index == rules.len()`.
    pub index: usize,
    /// Unique name; `"default"` for the synthetic default rule.
    pub name: String,
    /// When the rule applies.
    pub when: Conditions,
    /// Never cache: requests go to the origin untouched (all cookies forwarded).
    pub bypass: bool,
    /// Purge tags added to every response stored under this rule.
    pub tags: Vec<String>,
    /// Edge TTL, seconds.
    pub edge_ttl: u64,
    /// Browser TTL (downstream `max-age`), seconds.
    pub browser_ttl: u64,
    /// Stale-while-revalidate window, seconds.
    pub stale_while_revalidate: u64,
    /// Stale-if-error window, seconds.
    pub stale_if_error: u64,
    /// How origin `Cache-Control` is used.
    pub origin_cache_control: OriginMode,
    /// Respect mode: allow RFC 9111 §4.2.2 heuristic freshness.
    pub heuristic_freshness: bool,
    /// Per-status TTLs.
    pub status_ttl: StatusTtl,
    /// ± percent jitter on the edge TTL, `0..=50`.
    pub jitter_percent: u8,
    /// Probabilistic early refresh factor, `0.0..=10.0` (0 = off).
    pub xfetch_beta: f64,
    /// Origin fetch timeout, seconds (≥ 1).
    pub origin_timeout: u64,
    /// Largest body stored, bytes (≤ 512 MiB).
    pub max_body_size: u64,
    /// Response headers carrying purge tags (lower-case).
    pub tag_headers: Vec<http::HeaderName>,
    /// Forward the tag headers to clients.
    pub keep_tag_headers: bool,
    /// Cache requests that carry `Authorization` (otherwise they bypass).
    pub public_authorization: bool,
    /// Handling of responses with `Set-Cookie`.
    pub set_cookie: SetCookieMode,
    /// Request cookie handling.
    pub cookies: CookiePolicy,
    /// Query string handling.
    pub query: QueryPolicy,
    /// Cache key composition.
    pub key: KeyPolicy,
    /// Request headers forwarded to the origin on shared requests although they are not in the
    /// key (lower-case, sorted, unique; never `cookie`, `authorization` or `host`). Everything
    /// outside the key and the safe list is dropped otherwise (see [`crate::forward`]); naming a
    /// header here lets whoever sends it choose what everybody gets if the origin reflects it,
    /// so `edgecache check` warns about it.
    pub forward_unkeyed: Vec<http::HeaderName>,
    /// Web cache deception armor: a 2xx response whose `Content-Type` contradicts the extension
    /// of the requested path (HTML for `.css`, JSON for `.jpg`, ...) is not stored
    /// (see [`crate::deception`]). On by default.
    pub deception_armor: bool,
    /// Which freshness settings the policy itself wrote (in this rule or in `[defaults]`) rather
    /// than inheriting from the built-in defaults. `respect` mode applies only these, so a
    /// minimal `respect` policy is a plain RFC 9111 shared cache.
    pub configured: Configured,
}

/// See [`Rule::configured`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Configured {
    /// `edge_ttl` was written.
    pub edge_ttl: bool,
    /// `status_ttl` was written.
    pub status_ttl: bool,
    /// `stale_while_revalidate` was written.
    pub stale_while_revalidate: bool,
    /// `stale_if_error` was written.
    pub stale_if_error: bool,
}

impl Rule {
    /// The built-in defaults every `[defaults]` field falls back to (index 0, name `"default"`);
    /// also documented in `edgecache.toml`.
    pub fn builtin_default() -> Rule {
        // The built-in lists below are valid by construction; an error would only drop them.
        let names = |list: &[&str]| NamePatterns::new(list.iter().copied()).unwrap_or_default();
        let header = http::HeaderName::from_static;
        let mut status_ttl = StatusTtl::default();
        for (code, ttl) in [(404, 30), (410, 30), (301, 3600), (308, 3600)] {
            status_ttl.set_exact(code, ttl);
        }
        Rule {
            index: 0,
            name: "default".into(),
            when: Conditions::default(),
            bypass: false,
            tags: Vec::new(),
            edge_ttl: 300,
            browser_ttl: 0,
            stale_while_revalidate: 60,
            stale_if_error: 86_400,
            origin_cache_control: OriginMode::Respect,
            heuristic_freshness: false,
            status_ttl,
            jitter_percent: 0,
            xfetch_beta: 0.0,
            origin_timeout: 10,
            max_body_size: 100 << 20,
            tag_headers: vec![header("cache-tag"), header("surrogate-key")],
            keep_tag_headers: false,
            public_authorization: false,
            set_cookie: SetCookieMode::Uncacheable,
            cookies: CookiePolicy {
                mode: CookieMode::Strip,
                allow: NamePatterns::default(),
                bypass: names(&["wordpress_logged_in_*", "sessionid", "session"]),
            },
            query: QueryPolicy {
                mode: QueryMode::Deny,
                allow: NamePatterns::default(),
                deny: names(&["utm_*", "gclid", "fbclid", "msclkid", "mc_*"]),
            },
            key: KeyPolicy {
                vary: Vec::new(),
                include_host: true,
            },
            forward_unkeyed: Vec::new(),
            deception_armor: true,
            configured: Configured::default(),
        }
    }

    /// Whether this is the synthetic default rule.
    pub fn is_default(&self) -> bool {
        self.name == "default"
    }
}

/// A problem found while loading a policy: an error or a warning.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    /// File name as given by the caller.
    pub file: String,
    /// 1-based line and column in the source, when known (TOML input).
    pub line_col: Option<(usize, usize)>,
    /// `defaults`, `rules[3] "blog"`, or empty for the whole file.
    pub scope: String,
    /// Field path inside the scope (`edge_ttl`, `cookies.mode`), or empty.
    pub field: String,
    /// The reason.
    pub message: String,
}

impl fmt::Display for Diagnostic {
    /// `file[:line:col]: scope: field: message`, skipping empty parts.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.file)?;
        if let Some((l, c)) = self.line_col {
            write!(f, ":{l}:{c}")?;
        }
        f.write_str(":")?;
        if !self.scope.is_empty() {
            write!(f, " {}:", self.scope)?;
        }
        if !self.field.is_empty() {
            write!(f, " {}:", self.field)?;
        }
        write!(f, " {}", self.message)
    }
}

/// Every error found in a policy (never empty).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyErrors {
    /// The errors, in file order.
    pub errors: Vec<Diagnostic>,
}

impl fmt::Display for PolicyErrors {
    /// One error per line.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.errors.iter().enumerate() {
            if i > 0 {
                f.write_str("\n")?;
            }
            write!(f, "{e}")?;
        }
        Ok(())
    }
}

impl std::error::Error for PolicyErrors {}

/// A successfully validated policy plus its warnings.
#[derive(Debug, Clone)]
pub struct Loaded {
    /// The policy.
    pub policy: Policy,
    /// Non-fatal findings (shadowed rules, ignored settings).
    pub warnings: Vec<Diagnostic>,
}

/// A validated policy with its compiled matcher.
#[derive(Debug, Clone)]
pub struct Policy {
    /// The resolved defaults as the synthetic rule `"default"` (`index == rules.len()`).
    pub defaults: Rule,
    /// The rules in file order.
    pub rules: Vec<Rule>,
    matcher: matcher::Matcher,
}

impl Policy {
    /// Load and validate a TOML policy; `file` is used in messages only. Host only.
    #[cfg(not(target_arch = "wasm32"))]
    pub fn from_toml_str(src: &str, file: &str) -> Result<Loaded, PolicyErrors> {
        let raw = validate::parse_toml(src, file)?;
        validate::validate(raw, file)
    }

    /// Load and validate a JSON policy (the output of [`toml_to_json`]); same schema as TOML.
    /// Host only.
    #[cfg(not(target_arch = "wasm32"))]
    pub fn from_json_str(src: &str, file: &str) -> Result<Loaded, PolicyErrors> {
        let raw = validate::parse_json(src, file)?;
        validate::validate(raw, file)
    }

    /// Build from already-typed rules (tests, benches); `defaults` gets `index = rules.len()`.
    ///
    /// Rule indices are reassigned to their positions. No validation beyond that.
    pub fn from_rules(mut defaults: Rule, mut rules: Vec<Rule>) -> Policy {
        for (i, r) in rules.iter_mut().enumerate() {
            r.index = i;
        }
        defaults.index = rules.len();
        defaults.name = "default".to_string();
        let matcher = matcher::Matcher::build(&rules);
        Policy {
            defaults,
            rules,
            matcher,
        }
    }

    /// The first rule matching the request, or the default rule.
    ///
    /// `path` should be the normalised path ([`crate::path::normalize_path`]); `host` may carry a
    /// port and any case. Uses the compiled index: no allocation, sub-linear in the rule count.
    pub fn match_rule(&self, method: &str, host: &str, path: &str) -> &Rule {
        self.matcher
            .find(&self.rules, method, host, path)
            .and_then(|i| self.rules.get(i))
            .unwrap_or(&self.defaults)
    }

    /// Reference implementation of [`Policy::match_rule`]: a linear scan (tests and benches).
    ///
    /// Hosts longer than 255 bytes match only rules without a host condition (as in the index).
    pub fn match_rule_linear(&self, method: &str, host: &str, path: &str) -> &Rule {
        let host = matcher::strip_port(host);
        let host = if host.len() > 255 {
            String::from("\u{0}")
        } else {
            host.to_ascii_lowercase()
        };
        self.rules
            .iter()
            .find(|r| r.when.matches(method, &host, path))
            .unwrap_or(&self.defaults)
    }

    /// The rule with this name (`"default"` gives the default rule).
    pub fn rule(&self, name: &str) -> Option<&Rule> {
        if name == "default" {
            return Some(&self.defaults);
        }
        self.rules.iter().find(|r| r.name == name)
    }
}

/// Convert a TOML policy to JSON (same schema), after full validation. Host only.
///
/// The JSON is the raw policy re-serialised, so loading it with [`Policy::from_json_str`] yields
/// the same policy. (The worker does not use it: it embeds the resolved policy, see [`embed`].)
#[cfg(not(target_arch = "wasm32"))]
pub fn toml_to_json(src: &str, file: &str) -> Result<String, PolicyErrors> {
    let parsed = validate::parse_toml(src, file)?;
    validate::validate(parsed.clone(), file)?;
    serde_json::to_string_pretty(parsed.raw()).map_err(|e| PolicyErrors {
        errors: vec![Diagnostic {
            file: file.to_string(),
            line_col: None,
            scope: String::new(),
            field: String::new(),
            message: format!("cannot serialise to JSON: {e}"),
        }],
    })
}
