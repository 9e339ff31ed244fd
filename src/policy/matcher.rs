//! Compiled route matcher: hash maps and a segment trie instead of a linear glob scan.
//!
//! Layout: rules are first split by host condition (exact-host map, wildcard-suffix map, and
//! "any host"); each part is a [`PathIndex`] holding a segment trie for glob/exact path patterns,
//! an extension map for `*.ext` patterns and path-less rules with `ext`, and a list of rules with
//! no path condition. A lookup gathers candidate rule indices from every applicable structure,
//! checks the remaining conditions (method, `ext` AND-condition) and keeps the lowest index.
//! Candidate lists are sorted, so each list stops at its first full match or at the best index
//! found so far; trie nodes record the lowest rule index below them to prune whole subtrees.
//! A lookup allocates nothing: host and extension are lower-cased into stack buffers.

use super::{path_ext, HostPattern, PathPattern, Rule, Segment};
use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

/// FNV-1a: fast for short keys. Keys come from the policy, so a hostile request cannot make the
/// tables degenerate (a lookup only compares against stored keys).
#[derive(Clone, Copy)]
struct Fnv(u64);

impl Default for Fnv {
    fn default() -> Self {
        Fnv(0xcbf2_9ce4_8422_2325)
    }
}

impl Hasher for Fnv {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 ^= u64::from(*b);
            self.0 = self.0.wrapping_mul(0x0000_0100_0000_01b3);
        }
    }
}

type FastMap<V> = HashMap<Box<str>, V, BuildHasherDefault<Fnv>>;

const NONE: u32 = u32::MAX;

#[derive(Debug, Clone, Default)]
struct Node {
    lit: FastMap<u32>,
    star: Option<u32>,
    /// Rules whose pattern ends exactly at this node.
    end: Vec<u32>,
    /// Rules whose pattern ends with `**` at this node.
    globstar: Vec<u32>,
    /// Lowest rule index in this subtree (pruning).
    min: u32,
}

#[derive(Debug, Clone)]
struct PathIndex {
    nodes: Vec<Node>,
    ext: FastMap<Vec<u32>>,
    any: Vec<u32>,
}

impl Default for PathIndex {
    fn default() -> Self {
        PathIndex {
            nodes: vec![Node {
                min: NONE,
                ..Node::default()
            }],
            ext: FastMap::default(),
            any: Vec::new(),
        }
    }
}

/// Lookup context shared by the structures of one request.
struct Query<'a> {
    rules: &'a [Rule],
    method: &'a str,
    path: &'a str,
    ext: Option<&'a str>,
}

impl Query<'_> {
    /// Scan a sorted candidate list; lower `best` to the first index that fully matches.
    fn check(&self, list: &[u32], best: &mut u32) {
        for &i in list {
            if i >= *best {
                return;
            }
            let Some(rule) = self.rules.get(i as usize) else {
                continue;
            };
            let w = &rule.when;
            if w.method_ok(self.method) && w.ext_ok(self.path) {
                *best = i;
                return;
            }
        }
    }
}

impl PathIndex {
    fn insert(&mut self, rule: &Rule, i: u32) {
        let w = &rule.when;
        if w.paths.is_empty() {
            if w.exts.is_empty() {
                self.any.push(i);
            } else {
                for e in &w.exts {
                    self.ext.entry(e.as_str().into()).or_default().push(i);
                }
            }
            return;
        }
        for p in &w.paths {
            match p {
                PathPattern::Ext(e) => self.ext.entry(e.as_str().into()).or_default().push(i),
                PathPattern::Glob { segments, globstar } => {
                    let mut n = 0usize;
                    if let Some(root) = self.nodes.get_mut(0) {
                        root.min = root.min.min(i);
                    }
                    for s in segments {
                        let next = self.nodes.get(n).and_then(|node| match s {
                            Segment::Literal(l) => node.lit.get(l.as_str()).copied(),
                            Segment::Star => node.star,
                        });
                        let next = match next {
                            Some(c) => c as usize,
                            None => {
                                let c = self.nodes.len();
                                self.nodes.push(Node {
                                    min: NONE,
                                    ..Node::default()
                                });
                                if let Some(node) = self.nodes.get_mut(n) {
                                    match s {
                                        Segment::Literal(l) => {
                                            node.lit.insert(l.as_str().into(), c as u32);
                                        }
                                        Segment::Star => node.star = Some(c as u32),
                                    }
                                }
                                c
                            }
                        };
                        n = next;
                        if let Some(node) = self.nodes.get_mut(n) {
                            node.min = node.min.min(i);
                        }
                    }
                    let Some(node) = self.nodes.get_mut(n) else {
                        continue;
                    };
                    if *globstar {
                        node.globstar.push(i);
                    } else {
                        node.end.push(i);
                    }
                }
            }
        }
    }

    fn finish(&mut self) {
        // Rules are inserted in increasing index order; a rule with two patterns ending in the
        // same place appears twice in a row.
        for n in &mut self.nodes {
            n.end.dedup();
            n.globstar.dedup();
        }
        for l in self.ext.values_mut() {
            l.dedup();
        }
        self.any.dedup();
    }

    fn find(&self, q: &Query<'_>, best: &mut u32) {
        q.check(&self.any, best);
        if let Some(e) = q.ext {
            if let Some(l) = self.ext.get(e) {
                q.check(l, best);
            }
        }
        let rest = q.path.strip_prefix('/').unwrap_or(q.path);
        self.walk(0, Some(rest), q, best);
    }

    /// `rest` is the unconsumed path after a `/`; `None` once every segment is consumed.
    fn walk(&self, node: usize, rest: Option<&str>, q: &Query<'_>, best: &mut u32) {
        let Some(n) = self.nodes.get(node) else {
            return;
        };
        if n.min >= *best {
            return;
        }
        q.check(&n.globstar, best);
        match rest {
            None => q.check(&n.end, best),
            Some(r) => {
                let (seg, tail) = match r.find('/') {
                    Some(i) => (&r[..i], Some(&r[i + 1..])),
                    None => (r, None),
                };
                if let Some(&c) = n.lit.get(seg) {
                    self.walk(c as usize, tail, q, best);
                }
                if !seg.is_empty() {
                    if let Some(c) = n.star {
                        self.walk(c as usize, tail, q, best);
                    }
                }
            }
        }
    }
}

/// The compiled matcher of a policy.
#[derive(Debug, Clone, Default)]
pub(crate) struct Matcher {
    exact_host: FastMap<PathIndex>,
    sub_host: FastMap<PathIndex>,
    any_host: PathIndex,
}

/// Remove a `:port` suffix (and keep IPv6 brackets): `example.com:8080` → `example.com`.
pub(crate) fn strip_port(host: &str) -> &str {
    if host.starts_with('[') {
        return match host.find(']') {
            Some(i) => &host[..=i],
            None => host,
        };
    }
    match host.rsplit_once(':') {
        Some((h, p)) if p.bytes().all(|b| b.is_ascii_digit()) => h,
        _ => host,
    }
}

/// ASCII-lower-case `s` into `buf`; `None` if it does not fit.
fn lower<'b>(s: &str, buf: &'b mut [u8]) -> Option<&'b str> {
    let out = buf.get_mut(..s.len())?;
    out.copy_from_slice(s.as_bytes());
    out.make_ascii_lowercase();
    std::str::from_utf8(out).ok()
}

impl Matcher {
    /// Index `rules` (their positions are their indices).
    pub(crate) fn build(rules: &[Rule]) -> Matcher {
        let mut m = Matcher::default();
        for (i, r) in rules.iter().enumerate() {
            let i = u32::try_from(i).unwrap_or(NONE - 1);
            if r.when.hosts.is_empty() {
                m.any_host.insert(r, i);
            }
            for h in &r.when.hosts {
                let idx = match h {
                    HostPattern::Exact(h) => m.exact_host.entry(h.as_str().into()).or_default(),
                    HostPattern::Subdomains(s) => m.sub_host.entry(s.as_str().into()).or_default(),
                };
                idx.insert(r, i);
            }
        }
        m.any_host.finish();
        for idx in m.exact_host.values_mut().chain(m.sub_host.values_mut()) {
            idx.finish();
        }
        m
    }

    /// Index of the first matching rule, if any.
    pub(crate) fn find(
        &self,
        rules: &[Rule],
        method: &str,
        host: &str,
        path: &str,
    ) -> Option<usize> {
        let mut ext_buf = [0u8; 32];
        let q = Query {
            rules,
            method,
            path,
            ext: path_ext(path).and_then(|e| lower(e, &mut ext_buf)),
        };
        let mut best = NONE;
        let mut host_buf = [0u8; 255];
        if let Some(h) = lower(strip_port(host), &mut host_buf) {
            if let Some(idx) = self.exact_host.get(h) {
                idx.find(&q, &mut best);
            }
            if !self.sub_host.is_empty() {
                for (i, b) in h.bytes().enumerate() {
                    if b == b'.' && i > 0 {
                        if let Some(idx) = self.sub_host.get(&h[i + 1..]) {
                            idx.find(&q, &mut best);
                        }
                    }
                }
            }
        }
        self.any_host.find(&q, &mut best);
        (best != NONE).then_some(best as usize)
    }
}
