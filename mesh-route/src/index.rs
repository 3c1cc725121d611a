//! Indexes that answer "which route of this virtual host matches first"
//! and "which virtual host serves this host" without scanning and without
//! allocating.
//!
//! The route index keeps Envoy's first-match semantics exactly: it only
//! prunes. Every route is filed under one key that a matching request must
//! produce (its exact path, the literal prefix of its path, or an exact
//! header value), in route order. A lookup walks the keys the request
//! produces and, in each list, tries routes in order while their index is
//! below the best match found so far, with the same matcher the linear
//! scan uses. The answer is the lowest index that matches, which is what a
//! linear scan returns; a property test checks it against an independent
//! reference evaluator.

use crate::config::{HeaderMatcher, PathMatch, Route, ValueMatch, VirtualHost};
use crate::request::Request;
use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

const K: u64 = 0x517c_c1b7_2722_0a95;

/// ASCII-lower-cases the eight bytes of `x` at once (bytes ≥ 0x80 kept).
#[inline]
fn lower8(x: u64) -> u64 {
    const LO7: u64 = 0x7f7f_7f7f_7f7f_7f7f;
    const HI: u64 = 0x8080_8080_8080_8080;
    let heptets = x & LO7;
    let ge_a = heptets.wrapping_add(0x3f3f_3f3f_3f3f_3f3f);
    let gt_z = heptets.wrapping_add(0x2525_2525_2525_2525);
    let upper = !x & HI & (ge_a ^ gt_z);
    x | (upper >> 2)
}

/// A word-at-a-time hash of `s` (FxHash-style), optionally of its ASCII
/// lower-cased form. Only equality of hashes matters: candidates are
/// always checked by the real matcher.
#[inline]
fn hash(s: &[u8], fold: bool) -> u64 {
    let mut h: u64 = s.len() as u64;
    let mut chunks = s.chunks_exact(8);
    for c in &mut chunks {
        let mut w = u64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]);
        if fold {
            w = lower8(w);
        }
        h = (h.rotate_left(5) ^ w).wrapping_mul(K);
    }
    let rest = chunks.remainder();
    if !rest.is_empty() {
        let mut w = 0u64;
        for (i, b) in rest.iter().enumerate() {
            w |= u64::from(*b) << (8 * i);
        }
        if fold {
            w = lower8(w);
        }
        h = (h.rotate_left(5) ^ w).wrapping_mul(K);
    }
    h
}

fn hash_cs(s: &[u8]) -> u64 {
    hash(s, false)
}

fn hash_ci(s: &[u8]) -> u64 {
    hash(s, true)
}

/// A hasher for keys that are already hashes.
#[derive(Default)]
struct Identity(u64);

impl Hasher for Identity {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 = (self.0 << 8) | u64::from(*b);
        }
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}

type HashIndex<V> = HashMap<u64, V, BuildHasherDefault<Identity>>;

/// A list of route indexes, stored inline when it has one element (the
/// common case), so a lookup does not chase a pointer.
#[derive(Debug, Clone)]
enum Ids {
    One(u32),
    Many(Vec<u32>),
}

impl Ids {
    fn push(&mut self, i: u32) {
        match self {
            Ids::One(a) => *self = Ids::Many(vec![*a, i]),
            Ids::Many(v) => v.push(i),
        }
    }

    #[inline]
    fn as_slice(&self) -> &[u32] {
        match self {
            Ids::One(a) => std::slice::from_ref(a),
            Ids::Many(v) => v,
        }
    }
}

fn add_id(m: &mut HashIndex<Ids>, key: u64, i: u32) {
    match m.get_mut(&key) {
        Some(ids) => ids.push(i),
        None => {
            m.insert(key, Ids::One(i));
        }
    }
}

/// A radix tree of byte strings whose nodes hold route lists.
#[derive(Debug, Default, Clone)]
struct Radix {
    nodes: Vec<RadixNode>,
    /// Whether keys and lookups are ASCII-lower-cased.
    fold: bool,
}

#[derive(Debug, Default, Clone)]
struct RadixNode {
    routes: Vec<u32>,
    /// The first byte of each edge's label, sorted (searched without
    /// touching the labels).
    firsts: Vec<u8>,
    /// Edges in the order of `firsts`: (label, child).
    edges: Vec<(Box<[u8]>, u32)>,
}

impl Radix {
    fn new(fold: bool) -> Radix {
        Radix {
            nodes: vec![RadixNode::default()],
            fold,
        }
    }

    fn insert(&mut self, key: &[u8], route: u32) {
        let key: Vec<u8> = if self.fold {
            key.iter().map(u8::to_ascii_lowercase).collect()
        } else {
            key.to_vec()
        };
        let mut node = 0usize;
        let mut rest: &[u8] = &key;
        loop {
            if rest.is_empty() {
                self.nodes[node].routes.push(route);
                return;
            }
            let first = rest[0];
            let pos = self.nodes[node].firsts.binary_search(&first);
            match pos {
                Err(at) => {
                    let child = self.nodes.len() as u32;
                    self.nodes.push(RadixNode {
                        routes: vec![route],
                        firsts: Vec::new(),
                        edges: Vec::new(),
                    });
                    self.nodes[node].firsts.insert(at, first);
                    self.nodes[node].edges.insert(at, (rest.into(), child));
                    return;
                }
                Ok(at) => {
                    let (label, child) = self.nodes[node].edges[at].clone();
                    let common = label
                        .iter()
                        .zip(rest.iter())
                        .take_while(|(a, b)| a == b)
                        .count();
                    if common == label.len() {
                        node = child as usize;
                        rest = &rest[common..];
                        continue;
                    }
                    // Split the edge at `common`.
                    let mid = self.nodes.len() as u32;
                    self.nodes.push(RadixNode {
                        routes: Vec::new(),
                        firsts: vec![label[common]],
                        edges: vec![(label[common..].into(), child)],
                    });
                    self.nodes[node].edges[at] = (label[..common].into(), mid);
                    node = mid as usize;
                    rest = &rest[common..];
                }
            }
        }
    }

    /// Calls `f` with the route list of every node whose key is a prefix
    /// of `path`, shortest first.
    #[inline]
    fn walk(&self, path: &[u8], mut f: impl FnMut(&[u32])) {
        let mut node = &self.nodes[0];
        let mut rest = path;
        loop {
            if !node.routes.is_empty() {
                f(&node.routes);
            }
            let Some(&first) = rest.first() else { return };
            let first = if self.fold {
                first.to_ascii_lowercase()
            } else {
                first
            };
            let at = if node.firsts.len() > 16 {
                node.firsts.binary_search(&first).ok()
            } else {
                node.firsts.iter().position(|b| *b == first)
            };
            let Some(at) = at else {
                return;
            };
            let (label, child) = &node.edges[at];
            if rest.len() < label.len() {
                return;
            }
            let head = &rest[..label.len()];
            let same = if self.fold {
                head.iter()
                    .zip(label.iter())
                    .all(|(a, b)| a.to_ascii_lowercase() == *b)
            } else {
                head.iter().zip(label.iter()).all(|(a, b)| a == b)
            };
            if !same {
                return;
            }
            rest = &rest[label.len()..];
            node = &self.nodes[*child as usize];
        }
    }
}

/// The literal text a regex's every match must start with, conservatively
/// (empty when unsure): leading characters that are not regex syntax,
/// minus one if a quantifier follows, and nothing if the pattern has an
/// alternation anywhere.
pub(crate) fn regex_literal_prefix(pattern: &str) -> String {
    if pattern.contains('|') {
        return String::new();
    }
    let mut out = String::new();
    let mut chars = pattern.chars().peekable();
    while let Some(c) = chars.next() {
        let lit = match c {
            '\\' => match chars.peek() {
                Some(&n) if n.is_ascii_punctuation() => {
                    chars.next();
                    n
                }
                _ => break,
            },
            c if c.is_ascii_alphanumeric() => c,
            '/' | '-' | '_' | '~' | '%' | ',' | '=' | ':' | '@' | '!' | '&' | '\'' | ';' | '<'
            | '>' | '"' | '#' | ' ' => c,
            _ => return out,
        };
        if matches!(chars.peek(), Some('*' | '?' | '{')) {
            return out;
        }
        out.push(lit);
    }
    out
}

/// The index of one virtual host's routes.
#[derive(Debug, Clone, Default)]
pub(crate) struct RouteIndex {
    exact: HashIndex<Ids>,
    exact_ci: HashIndex<Ids>,
    prefix: Option<Radix>,
    prefix_ci: Option<Radix>,
    /// Routes on `/` keyed by one exact header value: (header, values).
    by_header: Vec<(String, HashIndex<Ids>)>,
    /// Routes with no key.
    rest: Vec<u32>,
}

/// The header matcher a route may be filed under: an exact value that a
/// matching request must carry in a plain (non-pseudo) header.
fn index_header(h: &HeaderMatcher) -> Option<&str> {
    // A missing header treated as empty could match without the header.
    if h.invert_match || h.treat_missing_header_as_empty || h.name.starts_with(':') {
        return None;
    }
    match &h.value {
        ValueMatch::String(m) => m.exact(),
        ValueMatch::Present => None,
    }
}

impl RouteIndex {
    pub(crate) fn build(routes: &[Route]) -> RouteIndex {
        let mut ix = RouteIndex::default();
        let mut prefix: Option<Radix> = None;
        let mut prefix_ci: Option<Radix> = None;
        for (i, r) in routes.iter().enumerate() {
            let i = i as u32;
            let m = &r.matcher;
            match &m.path {
                PathMatch::Path(p) => {
                    if m.case_sensitive {
                        add_id(&mut ix.exact, hash_cs(p.as_bytes()), i);
                    } else {
                        add_id(&mut ix.exact_ci, hash_ci(p.as_bytes()), i);
                    }
                }
                PathMatch::Prefix(p) => {
                    let header = if p == "/" {
                        m.headers
                            .iter()
                            .find_map(|h| index_header(h).map(|v| (h, v)))
                    } else {
                        None
                    };
                    if let Some((h, v)) = header {
                        let slot = match ix.by_header.iter().position(|(n, _)| *n == h.name) {
                            Some(s) => s,
                            None => {
                                ix.by_header.push((h.name.clone(), HashIndex::default()));
                                ix.by_header.len() - 1
                            }
                        };
                        add_id(&mut ix.by_header[slot].1, hash_cs(v.as_bytes()), i);
                    } else if m.case_sensitive {
                        prefix
                            .get_or_insert_with(|| Radix::new(false))
                            .insert(p.as_bytes(), i);
                    } else {
                        prefix_ci
                            .get_or_insert_with(|| Radix::new(true))
                            .insert(p.as_bytes(), i);
                    }
                }
                PathMatch::SafeRegex(re) => {
                    let lit = regex_literal_prefix(re.pattern());
                    if lit.is_empty() {
                        ix.rest.push(i);
                    } else {
                        prefix
                            .get_or_insert_with(|| Radix::new(false))
                            .insert(lit.as_bytes(), i);
                    }
                }
            }
        }
        ix.prefix = prefix;
        ix.prefix_ci = prefix_ci;
        ix
    }

    /// The index of the first route of `routes` that matches `req`.
    #[inline]
    pub(crate) fn first_match(&self, routes: &[Route], req: &Request<'_>) -> Option<usize> {
        let path_only = req.path_only();
        let mut best = u32::MAX;
        let mut visit = |list: &[u32]| {
            for &i in list {
                if i >= best {
                    return;
                }
                if routes[i as usize].matcher.matches_at(req, path_only) {
                    best = i;
                    return;
                }
            }
        };
        let path = path_only.as_bytes();
        if !self.exact.is_empty()
            && let Some(l) = self.exact.get(&hash_cs(path))
        {
            visit(l.as_slice());
        }
        if !self.exact_ci.is_empty()
            && let Some(l) = self.exact_ci.get(&hash_ci(path))
        {
            visit(l.as_slice());
        }
        if let Some(t) = &self.prefix {
            t.walk(path, &mut visit);
        }
        if let Some(t) = &self.prefix_ci {
            t.walk(path, &mut visit);
        }
        for (name, values) in &self.by_header {
            for v in req.header_occurrences(name) {
                if let Some(l) = values.get(&hash_cs(v.as_bytes())) {
                    visit(l.as_slice());
                }
            }
        }
        visit(&self.rest);
        (best != u32::MAX).then_some(best as usize)
    }
}

/// Envoy's virtual host selection (`RouteMatcher::findVirtualHost`):
/// exact domain, then the longest `*suffix`, then the longest `prefix*`,
/// then `*`; host names compared case-insensitively.
#[derive(Debug, Clone, Default)]
pub(crate) struct DomainIndex {
    /// Exact domains by hash (lower case), with colliding ones in
    /// `collisions`.
    exact: HashIndex<(Box<str>, u32)>,
    collisions: Vec<(u64, Box<str>, u32)>,
    /// By suffix length, longest first.
    suffix: Vec<(usize, HashIndex<u32>)>,
    /// By prefix length, longest first.
    prefix: Vec<(usize, HashIndex<u32>)>,
    any: Option<u32>,
}

impl DomainIndex {
    pub(crate) fn build(vhosts: &[VirtualHost]) -> DomainIndex {
        DomainIndex::from_domains(vhosts.iter().map(|v| v.domains.as_slice()))
    }

    /// An index of domain lists: entry `i` of the iterator is value `i`.
    pub(crate) fn from_domains<'d>(lists: impl IntoIterator<Item = &'d [String]>) -> DomainIndex {
        let mut ix = DomainIndex::default();
        for (i, domains) in lists.into_iter().enumerate() {
            let i = i as u32;
            for d in domains {
                if d == "*" {
                    ix.any.get_or_insert(i);
                } else if let Some(s) = d.strip_prefix('*') {
                    add_wild(&mut ix.suffix, s, i);
                } else if let Some(p) = d.strip_suffix('*') {
                    add_wild(&mut ix.prefix, p, i);
                } else {
                    let h = hash_ci(d.as_bytes());
                    match ix.exact.get(&h) {
                        None => {
                            ix.exact.insert(h, (d.to_ascii_lowercase().into(), i));
                        }
                        Some((k, _)) if k.eq_ignore_ascii_case(d) => {}
                        Some(_) => {
                            if !ix
                                .collisions
                                .iter()
                                .any(|(ch, k, _)| *ch == h && k.eq_ignore_ascii_case(d))
                            {
                                ix.collisions.push((h, d.to_ascii_lowercase().into(), i));
                            }
                        }
                    }
                }
            }
        }
        ix.suffix.sort_by_key(|e| std::cmp::Reverse(e.0));
        ix.prefix.sort_by_key(|e| std::cmp::Reverse(e.0));
        ix
    }

    /// The virtual host serving `host` (the port already removed).
    pub(crate) fn find(&self, host: &str) -> Option<usize> {
        let h = host.as_bytes();
        let key = hash_ci(h);
        if let Some((k, i)) = self.exact.get(&key) {
            if k.as_bytes().eq_ignore_ascii_case(h) {
                return Some(*i as usize);
            }
            for (ch, k, i) in &self.collisions {
                if *ch == key && k.as_bytes().eq_ignore_ascii_case(h) {
                    return Some(*i as usize);
                }
            }
        }
        for (len, map) in &self.suffix {
            if *len >= h.len() {
                continue;
            }
            if let Some(i) = map.get(&hash_ci(&h[h.len() - len..])) {
                return Some(*i as usize);
            }
        }
        for (len, map) in &self.prefix {
            if *len >= h.len() {
                continue;
            }
            if let Some(i) = map.get(&hash_ci(&h[..*len])) {
                return Some(*i as usize);
            }
        }
        self.any.map(|i| i as usize)
    }
}

fn add_wild(v: &mut Vec<(usize, HashIndex<u32>)>, key: &str, i: u32) {
    let slot = match v.iter().position(|(l, _)| *l == key.len()) {
        Some(s) => s,
        None => {
            v.push((key.len(), HashIndex::default()));
            v.len() - 1
        }
    };
    v[slot].1.entry(hash_ci(key.as_bytes())).or_insert(i);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn literal_prefixes() {
        assert_eq!(regex_literal_prefix("/api/v[0-9]+/.*"), "/api/v");
        assert_eq!(regex_literal_prefix("/a+"), "/a");
        assert_eq!(regex_literal_prefix("/ab*"), "/a");
        assert_eq!(regex_literal_prefix("/ab?"), "/a");
        assert_eq!(regex_literal_prefix("/a\\.b/.*"), "/a.b/");
        assert_eq!(regex_literal_prefix("/a|/b"), "");
        assert_eq!(regex_literal_prefix("(?i)/a"), "");
        assert_eq!(regex_literal_prefix(".*"), "");
        assert_eq!(regex_literal_prefix("/x\\d"), "/x");
        assert_eq!(regex_literal_prefix("/x{2}"), "/");
    }

    #[test]
    fn folded_hash_is_the_hash_of_the_lower_case() {
        for s in [
            "",
            "a",
            "AbC",
            "/Api/V1/Items-ÄÖ?x=Y",
            "0123456789ABCDEFGHIJ@[`{",
        ] {
            assert_eq!(
                hash_ci(s.as_bytes()),
                hash_cs(s.to_ascii_lowercase().as_bytes()),
                "{s}"
            );
        }
        assert_ne!(hash_cs(b"abc"), hash_cs(b"abd"));
    }

    #[test]
    fn radix_walk() {
        let mut t = Radix::new(false);
        t.insert(b"/api", 0);
        t.insert(b"/apple", 1);
        t.insert(b"/", 2);
        t.insert(b"/api/v1", 3);
        t.insert(b"/ap", 4);
        let mut seen = Vec::new();
        t.walk(b"/api/v1/x", |l| seen.extend_from_slice(l));
        seen.sort();
        assert_eq!(seen, [0, 2, 3, 4]);
        let mut seen = Vec::new();
        t.walk(b"/apples", |l| seen.extend_from_slice(l));
        seen.sort();
        assert_eq!(seen, [1, 2, 4]);
        let mut ci = Radix::new(true);
        ci.insert(b"/Foo", 7);
        let mut seen = Vec::new();
        ci.walk(b"/fOO/bar", |l| seen.extend_from_slice(l));
        assert_eq!(seen, [7]);
    }
}
