//! Indexes that answer "which route of this virtual host matches first"
//! and "which virtual host serves this host" without scanning and without
//! allocating.
//!
//! The route index keeps Envoy's first-match semantics exactly: it only
//! prunes. Every route is filed under one key that a matching request must
//! produce (its exact path, the literal prefix of its path, or an exact
//! header value), in route order. A lookup walks the keys the request
//! produces and, in each list, tries routes in order while their index is
//! below the best match found so far. The answer is the lowest index that
//! matches, which is what a linear scan returns; a property test checks it
//! against an independent reference evaluator.
//!
//! Where reaching a key already proves the route's path condition (an
//! exact or prefix path filed under itself), the lookup does not test the
//! path again: a route with no other condition matches outright, and one
//! with headers, query parameters or claims has only those tested, by the
//! same matcher the linear scan uses. Hashed keys (header values) and the
//! literal prefixes of regexes prove nothing, so those routes are tested
//! in full.
//!
//! Paths live in a radix tree laid out in flat arrays (one tree for
//! case-sensitive keys, one for case-insensitive ones): a prefix's entries
//! at the node of its key, visited by every walk that passes it, an exact
//! path's at the node of its key, visited only when the walk ends there.

use crate::config::{HeaderMatcher, PathMatch, Route, RouteMatch, ValueMatch, VirtualHost};
use crate::request::Request;
use std::collections::{HashMap, VecDeque};
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

/// The eight bytes at `at` as a little-endian word.
#[inline]
fn word(s: &[u8], at: usize) -> u64 {
    let mut w = [0u8; 8];
    w.copy_from_slice(&s[at..at + 8]);
    u64::from_le_bytes(w)
}

/// The four bytes at `at` as a little-endian word.
#[inline]
fn word4(s: &[u8], at: usize) -> u64 {
    let mut w = [0u8; 4];
    w.copy_from_slice(&s[at..at + 4]);
    u64::from(u32::from_le_bytes(w))
}

/// A word holding every byte of `s` (shorter than eight bytes), read with
/// at most two loads: two overlapping four-byte reads, or the first,
/// middle and last byte. Two strings of the same length give the same
/// word exactly when they are equal.
#[inline]
fn short_word(s: &[u8]) -> u64 {
    let n = s.len();
    if n >= 4 {
        word4(s, 0) | (word4(s, n - 4) << 32)
    } else if n > 0 {
        u64::from(s[0]) | (u64::from(s[n / 2]) << 8) | (u64::from(s[n - 1]) << 16)
    } else {
        0
    }
}

/// Calls `f` with words that together hold every byte of `s`: the full
/// eight-byte chunks, then (if the length is not a multiple of eight) the
/// last eight bytes, overlapping, or for a short `s` one [`short_word`].
/// Two strings of the same length produce the same words exactly when
/// they are equal.
#[inline(always)]
fn for_words(s: &[u8], mut f: impl FnMut(u64)) {
    let n = s.len();
    if n < 8 {
        return f(short_word(s));
    }
    let mut at = 0;
    while at + 8 <= n {
        f(word(s, at));
        at += 8;
    }
    if at != n {
        f(word(s, n - 8));
    }
}

/// A word-at-a-time hash of `s` (FxHash-style), optionally of its ASCII
/// lower-cased form. Only equality of hashes matters: candidates are
/// always checked by the real matcher or compared in full.
#[inline]
fn hash(s: &[u8], fold: bool) -> u64 {
    let mut h: u64 = s.len() as u64;
    for_words(s, |w| {
        let w = if fold { lower8(w) } else { w };
        h = (h.rotate_left(5) ^ w).wrapping_mul(K);
    });
    h
}

#[inline]
fn hash_cs(s: &[u8]) -> u64 {
    hash(s, false)
}

/// The hash of the ASCII lower-cased form of `s`.
#[inline]
pub(crate) fn hash_ci(s: &[u8]) -> u64 {
    hash(s, true)
}

/// Whether `a` equals `key` (of the same length), `a` ASCII-lower-cased
/// first when `fold` (`key` is already lower case), compared a word at a
/// time.
#[inline(always)]
fn same(a: &[u8], key: &[u8], fold: bool) -> bool {
    debug_assert_eq!(a.len(), key.len());
    let n = a.len();
    if n < 8 {
        let w = short_word(a);
        return (if fold { lower8(w) } else { w }) == short_word(key);
    }
    let mut at = 0;
    loop {
        let w = word(a, at);
        if (if fold { lower8(w) } else { w }) != word(key, at) {
            return false;
        }
        at += 8;
        if at >= n {
            return true;
        }
        if at + 8 > n {
            at = n - 8;
        }
    }
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

/// A route index in an index list, tagged with what reaching the list
/// already proves about the route (the top two bits).
type Entry = u32;

/// The route index part of an [`Entry`].
const ID: u32 = (1 << 30) - 1;
/// Nothing is proven: test the whole route match.
const TEST_ALL: u32 = 0;
/// The path condition is proven: test the other conditions only.
const TEST_REST: u32 = 1 << 30;
/// The whole route match is proven.
const PROVEN: u32 = 2 << 30;

/// The tag of a route filed under its own exact or prefix path.
fn path_proof(m: &RouteMatch) -> u32 {
    if m.headers.is_empty() && m.query_parameters.is_empty() && m.claims.is_empty() {
        PROVEN
    } else {
        TEST_REST
    }
}

/// A list of entries, stored inline when it has one element (the common
/// case), so a lookup does not chase a pointer.
#[derive(Debug, Clone)]
enum Ids {
    One(Entry),
    Many(Vec<Entry>),
}

impl Ids {
    fn push(&mut self, e: Entry) {
        match self {
            Ids::One(a) => *self = Ids::Many(vec![*a, e]),
            Ids::Many(v) => v.push(e),
        }
    }

    #[inline]
    fn as_slice(&self) -> &[Entry] {
        match self {
            Ids::One(a) => std::slice::from_ref(a),
            Ids::Many(v) => v,
        }
    }
}

fn add_id(m: &mut HashIndex<Ids>, key: u64, e: Entry) {
    match m.get_mut(&key) {
        Some(ids) => ids.push(e),
        None => {
            m.insert(key, Ids::One(e));
        }
    }
}

/// A radix tree of byte strings under construction: nodes with owned
/// edges, flattened by [`RadixBuilder::build`].
#[derive(Debug, Default)]
struct RadixBuilder {
    nodes: Vec<BuildNode>,
    /// Whether keys and lookups are ASCII-lower-cased.
    fold: bool,
}

#[derive(Debug, Default)]
struct BuildNode {
    /// Entries of routes that match every path starting with the key.
    prefix: Vec<Entry>,
    /// Entries of routes that match only the key itself.
    exact: Vec<Entry>,
    /// Edges sorted by the first byte of their label: (label, child).
    edges: Vec<(Vec<u8>, usize)>,
}

impl RadixBuilder {
    fn new(fold: bool) -> RadixBuilder {
        RadixBuilder {
            nodes: vec![BuildNode::default()],
            fold,
        }
    }

    /// The node of `key`, created (splitting an edge if need be).
    fn node(&mut self, key: &[u8]) -> usize {
        let key: Vec<u8> = if self.fold {
            key.to_ascii_lowercase()
        } else {
            key.to_vec()
        };
        let mut node = 0usize;
        let mut rest: &[u8] = &key;
        loop {
            let Some(&first) = rest.first() else {
                return node;
            };
            let edges = &self.nodes[node].edges;
            match edges.binary_search_by_key(&first, |(l, _)| l[0]) {
                Err(at) => {
                    let child = self.nodes.len();
                    self.nodes.push(BuildNode::default());
                    self.nodes[node].edges.insert(at, (rest.to_vec(), child));
                    return child;
                }
                Ok(at) => {
                    let (label, child) = &edges[at];
                    let child = *child;
                    let common = label
                        .iter()
                        .zip(rest.iter())
                        .take_while(|(a, b)| a == b)
                        .count();
                    if common == label.len() {
                        node = child;
                        rest = &rest[common..];
                        continue;
                    }
                    // Split the edge at `common`.
                    let label = label.clone();
                    let mid = self.nodes.len();
                    self.nodes.push(BuildNode {
                        edges: vec![(label[common..].to_vec(), child)],
                        ..BuildNode::default()
                    });
                    self.nodes[node].edges[at] = (label[..common].to_vec(), mid);
                    node = mid;
                    rest = &rest[common..];
                }
            }
        }
    }

    fn insert_prefix(&mut self, key: &[u8], e: Entry) {
        let n = self.node(key);
        self.nodes[n].prefix.push(e);
    }

    fn insert_exact(&mut self, key: &[u8], e: Entry) {
        let n = self.node(key);
        self.nodes[n].exact.push(e);
    }

    /// The tree laid out breadth first in flat arrays, each node's
    /// children side by side.
    fn build(mut self) -> Radix {
        // A node's label length is a `u16`: chain longer labels.
        let mut n = 0;
        while n < self.nodes.len() {
            for e in 0..self.nodes[n].edges.len() {
                let (label, child) = &self.nodes[n].edges[e];
                if label.len() > MAX_LABEL {
                    let tail = label[MAX_LABEL..].to_vec();
                    let child = *child;
                    let mid = self.nodes.len();
                    self.nodes.push(BuildNode {
                        edges: vec![(tail, child)],
                        ..BuildNode::default()
                    });
                    let edge = &mut self.nodes[n].edges[e];
                    edge.0.truncate(MAX_LABEL);
                    edge.1 = mid;
                }
            }
            n += 1;
        }
        let mut r = Radix {
            fold: self.fold,
            nodes: vec![Node::default()],
            firsts: vec![0],
            labels: Vec::new(),
            // Entry lists start after index 0, which means "none".
            entries: vec![0],
        };
        let mut queue = VecDeque::from([(0usize, 0usize)]);
        while let Some((b, f)) = queue.pop_front() {
            let BuildNode {
                prefix,
                exact,
                edges,
            } = &self.nodes[b];
            let children = r.nodes.len() as u32;
            let node = &mut r.nodes[f];
            if !prefix.is_empty() || !exact.is_empty() {
                node.entries = r.entries.len() as u32;
                r.entries.push(prefix.len() as u32);
                r.entries.push(exact.len() as u32);
                r.entries.extend_from_slice(prefix);
                r.entries.extend_from_slice(exact);
            }
            node.children = children;
            node.n_children = edges.len() as u16;
            for (label, child) in edges {
                queue.push_back((*child, r.nodes.len()));
                r.firsts.push(label[0]);
                r.nodes.push(Node {
                    label: r.labels.len() as u32,
                    label_len: (label.len() - 1) as u16,
                    ..Node::default()
                });
                r.labels.extend_from_slice(&label[1..]);
            }
        }
        r
    }
}

/// The longest label after its first byte.
const MAX_LABEL: usize = u16::MAX as usize + 1;

/// A radix tree of byte strings whose nodes hold route entries, in flat
/// arrays: a walk reads one 16-byte node, its children's first bytes and
/// its label, all by index, with no pointer per node or edge.
#[derive(Debug, Default, Clone)]
struct Radix {
    /// Whether keys and lookups are ASCII-lower-cased.
    fold: bool,
    /// Node 0 is the root; a node's children are `n_children` nodes from
    /// `children`, sorted by the first byte of their label.
    nodes: Vec<Node>,
    /// The first byte of node `n`'s label (the root's is unused).
    firsts: Vec<u8>,
    /// The labels' bytes after the first.
    labels: Vec<u8>,
    /// The nodes' entry lists: the number of prefix entries, the number
    /// of exact entries, then the entries.
    entries: Vec<Entry>,
}

#[derive(Debug, Default, Clone, Copy)]
struct Node {
    /// The label after its first byte: `label_len` bytes from `label` in
    /// `labels`.
    label: u32,
    children: u32,
    /// Where the node's entry lists start in `entries` (0: it has none).
    entries: u32,
    label_len: u16,
    n_children: u16,
}

impl Radix {
    /// The child of `node` whose label starts with `b`. A short list is
    /// scanned with a branch per byte rather than searched word-wise: a
    /// predicted branch lets the processor fetch the child before the
    /// comparison is done.
    #[inline]
    fn child(&self, node: &Node, b: u8) -> Option<usize> {
        let start = node.children as usize;
        let kids = &self.firsts[start..start + usize::from(node.n_children)];
        let at = if kids.len() > 16 {
            kids.binary_search(&b).ok()
        } else {
            kids.iter().position(|k| *k == b)
        };
        at.map(|i| start + i)
    }

    /// Calls `f` with the prefix entries of every node whose key is a
    /// prefix of `path`, shortest first, then with the exact entries of
    /// the node whose key is `path`, if any.
    #[inline]
    fn walk(&self, path: &[u8], f: impl FnMut(&[Entry])) {
        if self.fold {
            self.walk_as::<true>(path, f)
        } else {
            self.walk_as::<false>(path, f)
        }
    }

    /// [`Radix::walk`] with `fold` known at compile time.
    #[inline]
    fn walk_as<const FOLD: bool>(&self, path: &[u8], mut f: impl FnMut(&[Entry])) {
        let mut node = &self.nodes[0];
        let mut rest = path;
        loop {
            let lists = node.entries as usize;
            let n_prefix = if lists == 0 {
                0
            } else {
                self.entries[lists] as usize
            };
            if n_prefix != 0 {
                f(&self.entries[lists + 2..][..n_prefix]);
            }
            let Some((&first, tail)) = rest.split_first() else {
                if lists != 0 {
                    let n_exact = self.entries[lists + 1] as usize;
                    if n_exact != 0 {
                        f(&self.entries[lists + 2 + n_prefix..][..n_exact]);
                    }
                }
                return;
            };
            let first = if FOLD {
                first.to_ascii_lowercase()
            } else {
                first
            };
            let Some(child) = self.child(node, first) else {
                return;
            };
            node = &self.nodes[child];
            let label = &self.labels[node.label as usize..][..usize::from(node.label_len)];
            if tail.len() < label.len() || !same(&tail[..label.len()], label, FOLD) {
                return;
            }
            rest = &tail[label.len()..];
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
    /// Exact and prefix paths (and regexes' literal prefixes), compared
    /// as they are.
    paths: Option<Radix>,
    /// Case-insensitive exact and prefix paths.
    paths_ci: Option<Radix>,
    /// Routes on `/` keyed by one exact header value: (header, values).
    by_header: Vec<(String, HashIndex<Ids>)>,
    /// Routes with no key.
    rest: Vec<Entry>,
    /// More routes than an [`Entry`] can name, or more key bytes than a
    /// `u32` can count: scan them in order.
    linear: bool,
}

/// The tree for case-sensitive keys or the one for case-insensitive keys,
/// created on first use.
fn tree<'a>(
    paths: &'a mut Option<RadixBuilder>,
    paths_ci: &'a mut Option<RadixBuilder>,
    case_sensitive: bool,
) -> &'a mut RadixBuilder {
    if case_sensitive {
        paths.get_or_insert_with(|| RadixBuilder::new(false))
    } else {
        paths_ci.get_or_insert_with(|| RadixBuilder::new(true))
    }
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
        let key_bytes: usize = routes
            .iter()
            .map(|r| match &r.matcher.path {
                PathMatch::Path(p) | PathMatch::Prefix(p) => p.len(),
                PathMatch::SafeRegex(re) => re.pattern().len(),
            })
            .sum();
        if routes.len() > ID as usize || key_bytes > u32::MAX as usize {
            ix.linear = true;
            return ix;
        }
        let mut paths: Option<RadixBuilder> = None;
        let mut paths_ci: Option<RadixBuilder> = None;
        for (i, r) in routes.iter().enumerate() {
            let i = i as u32;
            let m = &r.matcher;
            match &m.path {
                PathMatch::Path(p) => {
                    tree(&mut paths, &mut paths_ci, m.case_sensitive)
                        .insert_exact(p.as_bytes(), i | path_proof(m));
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
                        add_id(
                            &mut ix.by_header[slot].1,
                            hash_cs(v.as_bytes()),
                            i | TEST_ALL,
                        );
                    } else {
                        tree(&mut paths, &mut paths_ci, m.case_sensitive)
                            .insert_prefix(p.as_bytes(), i | path_proof(m));
                    }
                }
                PathMatch::SafeRegex(re) => {
                    // VS-10: case sensitivity never applies to a regex.
                    let lit = regex_literal_prefix(re.pattern());
                    if lit.is_empty() {
                        ix.rest.push(i | TEST_ALL);
                    } else {
                        tree(&mut paths, &mut paths_ci, true)
                            .insert_prefix(lit.as_bytes(), i | TEST_ALL);
                    }
                }
            }
        }
        ix.paths = paths.map(RadixBuilder::build);
        ix.paths_ci = paths_ci.map(RadixBuilder::build);
        ix
    }

    /// The index of the first route of `routes` that matches `req`.
    #[inline]
    pub(crate) fn first_match(&self, routes: &[Route], req: &Request<'_>) -> Option<usize> {
        let path_only = req.path_only();
        if self.linear {
            return routes
                .iter()
                .position(|r| r.matcher.matches_at(req, path_only));
        }
        let mut best = Best {
            routes,
            req,
            path_only,
            best: u32::MAX,
        };
        let path = path_only.as_bytes();
        if let Some(t) = &self.paths {
            t.walk(path, |l| best.visit(l));
        }
        if let Some(t) = &self.paths_ci {
            t.walk(path, |l| best.visit(l));
        }
        for (name, values) in &self.by_header {
            for v in req.header_occurrences(name) {
                if let Some(l) = values.get(&hash_cs(v.as_bytes())) {
                    best.visit(l.as_slice());
                }
            }
        }
        best.visit(&self.rest);
        (best.best != u32::MAX).then_some(best.best as usize)
    }
}

/// The lowest route index found to match so far, and what testing a
/// route takes.
struct Best<'a, 'r> {
    routes: &'a [Route],
    req: &'a Request<'r>,
    path_only: &'a str,
    best: u32,
}

impl Best<'_, '_> {
    /// Tries the entries of `list` in order, while they are below the
    /// best match.
    #[inline(always)]
    fn visit(&mut self, list: &[Entry]) {
        for &e in list {
            let i = e & ID;
            if i >= self.best {
                return;
            }
            if e & !ID == PROVEN || self.test(e) {
                self.best = i;
                return;
            }
        }
    }

    /// Whether the route of entry `e` matches, testing what its tag does
    /// not prove.
    fn test(&self, e: Entry) -> bool {
        let m = &self.routes[(e & ID) as usize].matcher;
        if e & !ID == TEST_REST {
            m.first_failure_beyond_path(self.req).is_none()
        } else {
            m.matches_at(self.req, self.path_only)
        }
    }
}

/// An exact domain (lower case) and its value.
type Domain = (Box<str>, u32);

/// Envoy's virtual host selection (`RouteMatcher::findVirtualHost`):
/// exact domain, then the longest `*suffix`, then the longest `prefix*`,
/// then `*`; host names compared case-insensitively.
#[derive(Debug, Clone, Default)]
pub(crate) struct DomainIndex {
    /// Exact domains by hash (lower case), with colliding ones in
    /// `collisions`.
    exact: HashIndex<(Box<str>, u32)>,
    collisions: Vec<(u64, Box<str>, u32)>,
    /// All exact domains, when there are few: compared in turn, without
    /// a hash table probe.
    few: Option<Box<[Domain]>>,
    /// By suffix length, longest first; suffixes (lower case) by hash.
    suffix: Vec<(usize, HashIndex<Vec<Domain>>)>,
    /// By prefix length, longest first; prefixes (lower case) by hash.
    prefix: Vec<(usize, HashIndex<Vec<Domain>>)>,
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
        if ix.exact.len() + ix.collisions.len() <= FEW_DOMAINS {
            let mut few: Vec<Domain> = ix.exact.values().cloned().collect();
            few.extend(ix.collisions.iter().map(|(_, k, i)| (k.clone(), *i)));
            few.sort();
            ix.few = Some(few.into());
        }
        ix
    }

    /// The virtual host serving `host` (the port already removed).
    pub(crate) fn find(&self, host: &str) -> Option<usize> {
        self.find_hashed(host, hash_ci(host.as_bytes()))
    }

    /// [`DomainIndex::find`] with `key`, the [`hash_ci`] of `host`,
    /// computed once by a caller that asks several indexes.
    #[inline]
    pub(crate) fn find_hashed(&self, host: &str, key: u64) -> Option<usize> {
        let h = host.as_bytes();
        // Keys are stored lower case: compare the folded host to them a
        // word at a time.
        let is = |k: &str| k.len() == h.len() && same(h, k.as_bytes(), true);
        if let Some(few) = &self.few {
            for (k, i) in few.iter() {
                if is(k) {
                    return Some(*i as usize);
                }
            }
        } else if let Some((k, i)) = self.exact.get(&key) {
            if is(k) {
                return Some(*i as usize);
            }
            for (ch, k, i) in &self.collisions {
                if *ch == key && is(k) {
                    return Some(*i as usize);
                }
            }
        }
        for (len, map) in &self.suffix {
            if *len >= h.len() {
                continue;
            }
            let tail = &h[h.len() - len..];
            if let Some(i) = wild_get(map, tail) {
                return Some(i);
            }
        }
        for (len, map) in &self.prefix {
            if *len >= h.len() {
                continue;
            }
            if let Some(i) = wild_get(map, &h[..*len]) {
                return Some(i);
            }
        }
        self.any.map(|i| i as usize)
    }
}

/// Up to this many exact domains are compared in turn.
const FEW_DOMAINS: usize = 4;

fn add_wild(v: &mut Vec<(usize, HashIndex<Vec<Domain>>)>, key: &str, i: u32) {
    let slot = match v.iter().position(|(l, _)| *l == key.len()) {
        Some(s) => s,
        None => {
            v.push((key.len(), HashIndex::default()));
            v.len() - 1
        }
    };
    // The first virtual host with a suffix (or prefix) serves it; keys
    // whose hashes collide are kept side by side.
    let same_hash = v[slot].1.entry(hash_ci(key.as_bytes())).or_default();
    if !same_hash.iter().any(|(k, _)| k.eq_ignore_ascii_case(key)) {
        same_hash.push((key.to_ascii_lowercase().into(), i));
    }
}

/// The value of the wildcard part `part` of a host (a suffix or prefix of
/// the length the map holds), compared by name, not by hash alone.
#[inline]
fn wild_get(map: &HashIndex<Vec<Domain>>, part: &[u8]) -> Option<usize> {
    map.get(&hash_ci(part))?
        .iter()
        .find(|(k, _)| same(part, k.as_bytes(), true))
        .map(|(_, i)| *i as usize)
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

    fn walk(t: &Radix, path: &[u8]) -> Vec<u32> {
        let mut seen = Vec::new();
        t.walk(path, |l| seen.extend(l.iter().map(|e| e & ID)));
        seen.sort();
        seen
    }

    #[test]
    fn radix_walk() {
        let mut b = RadixBuilder::new(false);
        b.insert_prefix(b"/api", 0);
        b.insert_prefix(b"/apple", 1);
        b.insert_prefix(b"/", 2);
        b.insert_prefix(b"/api/v1", 3);
        b.insert_prefix(b"/ap", 4);
        b.insert_exact(b"/api/v1/x", 5);
        b.insert_exact(b"/api/v1", 6);
        b.insert_exact(b"/api/v1/xy", 7);
        b.insert_prefix(b"", 8);
        let t = b.build();
        assert_eq!(walk(&t, b"/api/v1/x"), [0, 2, 3, 4, 5, 8]);
        assert_eq!(walk(&t, b"/api/v1/"), [0, 2, 3, 4, 8]);
        assert_eq!(walk(&t, b"/api/v1"), [0, 2, 3, 4, 6, 8]);
        assert_eq!(walk(&t, b"/apples"), [1, 2, 4, 8]);
        assert_eq!(walk(&t, b"/API"), [2, 8]);
        assert_eq!(walk(&t, b""), [8]);
        let mut ci = RadixBuilder::new(true);
        ci.insert_prefix(b"/Foo", 7);
        ci.insert_exact(b"/Foo/BAR-baz-QUX/\xc3\x84", 9);
        let ci = ci.build();
        assert_eq!(walk(&ci, b"/fOO/bar"), [7]);
        assert_eq!(walk(&ci, b"/fOO/bar-BAZ-qux/\xc3\x84"), [7, 9]);
        assert_eq!(walk(&ci, b"/fOO/bar-BAZ-qux/\xc3\xa4"), [7]);
        assert_eq!(walk(&ci, b"/fo"), Vec::<u32>::new());
    }

    /// Labels longer than a node holds are chained; wide nodes are
    /// searched by bisection.
    #[test]
    fn radix_long_labels_and_wide_nodes() {
        let long: Vec<u8> = (0..70_000u32).map(|i| b'a' + (i % 26) as u8).collect();
        let mut b = RadixBuilder::new(false);
        b.insert_prefix(&long[..69_000], 1);
        b.insert_exact(&long, 2);
        for c in 0..=255u8 {
            b.insert_prefix(&[b'/', c], 10 + u32::from(c));
        }
        let t = b.build();
        assert_eq!(walk(&t, &long), [1, 2]);
        assert_eq!(walk(&t, &long[..69_999]), [1]);
        assert_eq!(walk(&t, &long[..68_999]), Vec::<u32>::new());
        for c in 0..=255u8 {
            assert_eq!(walk(&t, &[b'/', c, b'x']), [10 + u32::from(c)]);
        }
        let mut b = RadixBuilder::new(false);
        for c in (b'a'..=b'z').rev() {
            b.insert_prefix(&[c], u32::from(c));
        }
        let t = b.build();
        for c in b'a'..=b'z' {
            assert_eq!(walk(&t, &[c, c]), [u32::from(c)]);
        }
        assert_eq!(walk(&t, b"A"), Vec::<u32>::new());
    }

    /// Word-at-a-time comparison agrees with byte comparison at every
    /// length and position of a difference.
    /// A wildcard part is found by its name: an entry filed under the same
    /// hash with another name (a collision) does not answer for it.
    #[test]
    fn wildcard_parts_are_compared_by_name() {
        let mut map: HashIndex<Vec<Domain>> = HashIndex::default();
        map.entry(hash_ci(b".aaa.com"))
            .or_default()
            .push((".bbb.com".into(), 7));
        assert_eq!(wild_get(&map, b".aaa.com"), None);
        map.entry(hash_ci(b".aaa.com"))
            .or_default()
            .push((".aaa.com".into(), 3));
        assert_eq!(wild_get(&map, b".AAA.com"), Some(3));
        let ix = DomainIndex::from_domains([
            &["*.example.com".to_string()][..],
            &["*.EXAMPLE.com".to_string(), "api.*".to_string()][..],
        ]);
        assert_eq!(ix.find("www.Example.COM"), Some(0));
        assert_eq!(ix.find("api.other"), Some(1));
        assert_eq!(ix.find("example.com"), None);
    }

    #[test]
    fn same_is_byte_equality() {
        let base: Vec<u8> = (0..40u8).map(|i| b'a' + i % 26).collect();
        for n in 0..base.len() {
            let a = &base[..n];
            assert!(same(a, a, false));
            assert!(same(&a.to_ascii_uppercase(), a, true));
            for at in 0..n {
                let mut b = a.to_vec();
                b[at] = b'#';
                assert!(!same(&b, a, false), "{n} {at}");
                assert!(!same(&b, a, true), "{n} {at}");
                assert_ne!(hash_cs(&b), hash_cs(a), "{n} {at}");
            }
        }
    }
}
