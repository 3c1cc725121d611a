//! A plain reference evaluator: first match over a list of routes, written
//! for obviousness rather than speed (it allocates freely), independently
//! of the indexed router. Property tests check that both always agree.

use crate::config::{
    ClaimMatcher, HeaderMatcher, PathMatch, QueryParameterMatcher, Route, RouteMatch,
    StringMatcher, ValueMatch, VirtualHost,
};
use crate::request::Request;

fn path_without_query(path: &str) -> String {
    path.chars()
        .take_while(|c| *c != '?' && *c != '#')
        .collect()
}

fn string_matches(m: &StringMatcher, v: &str) -> bool {
    match m {
        StringMatcher::Exact(e) => v == e,
        StringMatcher::Prefix(p) => v.len() >= p.len() && &v.as_bytes()[..p.len()] == p.as_bytes(),
        StringMatcher::SafeRegex(r) => r.regex().is_match(v),
    }
}

fn header_values(req: &Request<'_>, name: &str) -> Vec<String> {
    match name {
        ":method" => vec![req.method.to_string()],
        ":authority" => vec![req.authority.to_string()],
        ":scheme" => vec![req.scheme.to_string()],
        ":path" => vec![req.path.to_string()],
        _ => req
            .headers
            .iter()
            .filter(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.to_string())
            .collect(),
    }
}

fn header_ok(h: &HeaderMatcher, req: &Request<'_>) -> bool {
    let values = header_values(req, &h.name);
    let present = !values.is_empty();
    let result = match &h.value {
        ValueMatch::Present => present,
        ValueMatch::String(m) => {
            if !present && !h.treat_missing_header_as_empty {
                return false;
            }
            if present {
                // VS-12: any one occurrence (Envoy 1.40).
                values.iter().any(|v| string_matches(m, v))
            } else {
                string_matches(m, "")
            }
        }
    };
    if h.invert_match { !result } else { result }
}

fn query_pairs(path: &str) -> Vec<(String, String)> {
    let Some(q) = path.split_once('?').map(|(_, q)| q) else {
        return Vec::new();
    };
    if q.is_empty() {
        return Vec::new();
    }
    q.split('&')
        .map(|kv| match kv.find('=') {
            Some(i) => (kv[..i].to_string(), kv[i + 1..].to_string()),
            None => (kv.to_string(), String::new()),
        })
        .collect()
}

fn query_ok(q: &QueryParameterMatcher, req: &Request<'_>) -> bool {
    let pairs = query_pairs(req.path);
    let Some((_, v)) = pairs.iter().find(|(k, _)| *k == q.name) else {
        return false;
    };
    match &q.value {
        ValueMatch::Present => true,
        ValueMatch::String(m) => string_matches(m, v),
    }
}

fn claim_ok(c: &ClaimMatcher, req: &Request<'_>) -> bool {
    let path = c.claim.join(".");
    let any = req
        .claims
        .iter()
        .filter(|(k, _)| *k == path)
        .any(|(_, v)| match &c.value {
            ValueMatch::Present => true,
            ValueMatch::String(m) => string_matches(m, v),
        });
    any != c.invert
}

/// Whether `req` satisfies every condition of `m`.
pub fn matches(m: &RouteMatch, req: &Request<'_>) -> bool {
    let path = path_without_query(req.path);
    let path_ok = match &m.path {
        PathMatch::Prefix(p) if m.case_sensitive => path.starts_with(p.as_str()),
        PathMatch::Prefix(p) => path
            .to_ascii_lowercase()
            .starts_with(&p.to_ascii_lowercase()),
        PathMatch::Path(p) if m.case_sensitive => path == *p,
        PathMatch::Path(p) => path.eq_ignore_ascii_case(p),
        PathMatch::SafeRegex(r) => r.regex().is_match(&path),
    };
    path_ok
        && m.headers.iter().all(|h| header_ok(h, req))
        && m.query_parameters.iter().all(|q| query_ok(q, req))
        && m.claims.iter().all(|c| claim_ok(c, req))
}

/// The index of the first route that matches.
pub fn first_match(routes: &[Route], req: &Request<'_>) -> Option<usize> {
    routes.iter().position(|r| matches(&r.matcher, req))
}

/// The virtual host for `host` (port removed): exact, then the longest
/// `*suffix`, then the longest `prefix*`, then `*` (Envoy).
pub fn find_virtual_host(vhosts: &[VirtualHost], host: &str) -> Option<usize> {
    let host = host.to_ascii_lowercase();
    let all = || {
        vhosts
            .iter()
            .enumerate()
            .flat_map(|(i, v)| v.domains.iter().map(move |d| (i, d.to_ascii_lowercase())))
    };
    if let Some((i, _)) = all().find(|(_, d)| *d == host) {
        return Some(i);
    }
    let best = |f: &dyn Fn(&str) -> Option<usize>| {
        let mut b: Option<(usize, usize)> = None;
        for (i, d) in all() {
            if let Some(len) = f(&d)
                && b.is_none_or(|(bl, _)| len > bl)
            {
                b = Some((len, i));
            }
        }
        b.map(|(_, i)| i)
    };
    let suffix = best(&|d: &str| {
        let s = d.strip_prefix('*')?;
        (d != "*" && host.len() > s.len() && host.ends_with(s)).then_some(s.len())
    });
    if suffix.is_some() {
        return suffix;
    }
    let prefix = best(&|d: &str| {
        let p = d.strip_suffix('*')?;
        (!d.starts_with('*') && host.len() > p.len() && host.starts_with(p)).then_some(p.len())
    });
    if prefix.is_some() {
        return prefix;
    }
    all().find(|(_, d)| d == "*").map(|(i, _)| i)
}
