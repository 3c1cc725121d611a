//! Requests for a generated [`Mesh`], biased toward the edges of its
//! matches: prefix boundaries, case variants, trailing slashes, regex
//! anchors, missing, empty and repeated headers, query parameter forms,
//! authorities with and without ports.

use crate::strategy::{HEADER_NAMES, METHODS, QUERY_NAMES};
use crate::{Action, AuthzAction, HttpMatch, Mesh, NAMESPACE, SERVER_PORT, StringMatch};
use proptest::collection::vec;
use proptest::prelude::*;
use proptest::sample::select;
use std::collections::BTreeSet;

/// Where a request is sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Target {
    /// The client sidecar's outbound listener for this service port.
    Outbound(u16),
    /// The server sidecar's inbound listener ([`SERVER_PORT`]).
    Inbound,
}

/// One HTTP/1.1 request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpRequest {
    /// The listener it goes to.
    pub target: Target,
    /// The `Host` header.
    pub authority: String,
    /// The method.
    pub method: String,
    /// The path with its query.
    pub path: String,
    /// Headers in order; a name may repeat.
    pub headers: Vec<(String, String)>,
}

fn flip_case(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_ascii_lowercase() {
                c.to_ascii_uppercase()
            } else {
                c.to_ascii_lowercase()
            }
        })
        .collect()
}

fn edges(m: &StringMatch, out: &mut BTreeSet<String>) {
    match m {
        StringMatch::Exact(s) | StringMatch::Prefix(s) => {
            out.insert(s.clone());
            out.insert(flip_case(s));
            out.insert(format!("{s}x"));
            out.insert(format!("{s}/"));
            if let Some(c) = s.char_indices().last() {
                out.insert(s[..c.0].to_string());
            }
        }
        StringMatch::Regex { sample, .. } => {
            out.insert(sample.clone());
            out.insert(format!("{sample}x"));
            out.insert(flip_case(sample));
            out.insert(format!("x{sample}"));
        }
        StringMatch::Presence => {}
    }
}

fn matches(mesh: &Mesh) -> impl Iterator<Item = &HttpMatch> {
    mesh.virtual_services
        .iter()
        .flat_map(|vs| vs.http.iter())
        .flat_map(|r| r.matches.iter())
}

/// Candidate values for each part of a request to `mesh`.
#[derive(Debug, Clone)]
struct Pools {
    ports: Vec<u16>,
    authorities: Vec<String>,
    paths: Vec<String>,
    queries: Vec<String>,
    headers: Vec<Vec<(String, String)>>,
    methods: Vec<String>,
    az_hosts: Vec<String>,
    az_paths: Vec<String>,
}

fn pools(mesh: &Mesh, normalization: bool) -> Pools {
    let mut authorities = BTreeSet::new();
    for s in &mesh.services {
        for form in [
            s.name.clone(),
            format!("{}.{NAMESPACE}", s.name),
            format!("{}.{NAMESPACE}.svc", s.name),
            format!("{}.{NAMESPACE}.svc.cluster.local", s.name),
        ] {
            for p in &s.ports {
                authorities.insert(format!("{form}:{p}"));
            }
            authorities.insert(flip_case(&form));
            authorities.insert(form);
        }
        authorities.insert(format!("{}.{NAMESPACE}.svc.cluster.local.", s.name));
    }
    authorities.insert("unknown.example".into());
    let mut paths = BTreeSet::from(["/".to_string(), "/api".to_string(), "/api/v1".to_string()]);
    let mut values: BTreeSet<String> = crate::strategy::VALUES
        .iter()
        .map(|s| s.to_string())
        .collect();
    // Only methods Envoy's HTTP/1 codec accepts: an unknown method is a
    // 400 before any routing.
    let methods: BTreeSet<String> = METHODS.iter().map(|s| s.to_string()).collect();
    for m in matches(mesh) {
        if let Some(u) = &m.uri {
            let mut e = BTreeSet::new();
            edges(u, &mut e);
            paths.extend(e.into_iter().filter(|p| p.starts_with('/')));
        }
        for (_, v) in m
            .headers
            .iter()
            .chain(&m.without_headers)
            .chain(&m.query_params)
        {
            edges(v, &mut values);
        }
        if let Some(a) = &m.authority {
            edges(a, &mut authorities);
        }
    }
    for vs in &mesh.virtual_services {
        for r in &vs.http {
            if let Action::Route {
                rewrite: Some(rw), ..
            } = &r.action
                && let Some(u) = &rw.uri
            {
                paths.insert(u.clone());
            }
        }
    }
    // Paths Envoy normalizes before routing (`normalize_path`): dot
    // segments, doubled slashes, encoded dots.
    let extra: Vec<String> = paths
        .iter()
        .filter(|p| normalization && p.len() > 1)
        .take(6)
        .flat_map(|p| {
            [
                format!("/x/..{p}"),
                format!("/.{p}"),
                p.replacen('/', "//", 1),
                format!("{p}/."),
                format!("/%2e%2e{p}"),
            ]
        })
        .collect();
    paths.extend(extra);
    let values: Vec<String> = values
        .into_iter()
        .filter(|v| v.bytes().all(|b| (b' '..=b'~').contains(&b)) && v.trim() == v)
        .collect();
    let mut headers: Vec<Vec<(String, String)>> = vec![vec![]];
    for h in HEADER_NAMES {
        for v in &values {
            headers.push(vec![(h.to_string(), v.clone())]);
        }
        headers.push(vec![
            (h.to_string(), "a".into()),
            (h.to_string(), "b".into()),
        ]);
        headers.push(vec![(h.to_uppercase(), "jason".into())]);
        for (a, b) in [("dev", "prod"), ("x", "jason")] {
            headers.push(vec![(h.to_string(), a.into()), (h.to_string(), b.into())]);
        }
    }
    let mut queries = vec![String::new()];
    for k in QUERY_NAMES {
        queries.push(format!("?{k}"));
        queries.push(format!("?{k}="));
        queries.push(format!("?{}=x", k.to_uppercase()));
        for v in values.iter().take(12) {
            let enc = v.replace(' ', "%20").replace(',', "%2C");
            queries.push(format!("?{k}={enc}"));
            queries.push(format!("?{k}={enc}&{k}=zz"));
            queries.push(format!("?other=1&{k}={enc}"));
        }
    }
    let mut az_paths: BTreeSet<String> = BTreeSet::from(["/".to_string()]);
    let mut az_hosts: BTreeSet<String> = BTreeSet::from([
        "server".to_string(),
        format!("server:{SERVER_PORT}"),
        "server.mesh".to_string(),
    ]);
    for ap in &mesh.authorization_policies {
        let _ = matches!(ap.action, AuthzAction::Allow);
        for r in ap.rules.iter().flatten() {
            for op in &r.to {
                for (k, vs) in op {
                    for v in vs {
                        let plain = v.trim_matches('*');
                        let target = if k.ends_with("aths") {
                            &mut az_paths
                        } else if k.ends_with("osts") {
                            &mut az_hosts
                        } else {
                            continue;
                        };
                        for e in [
                            plain.to_string(),
                            format!("{plain}x"),
                            format!("x{plain}"),
                            flip_case(plain),
                        ] {
                            if k.ends_with("aths") && !e.starts_with('/') {
                                target.insert(format!("/{e}"));
                            } else if !e.is_empty() {
                                target.insert(e);
                            }
                        }
                    }
                }
            }
        }
    }
    // A Host header Envoy's codec accepts (RFC 3986 reg-name and port).
    let valid_host = |h: &String| {
        !h.is_empty()
            && h.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-.:".contains(&b))
    };
    Pools {
        ports: mesh.ports(),
        authorities: authorities.into_iter().filter(valid_host).collect(),
        paths: paths.into_iter().collect(),
        queries,
        headers,
        methods: methods.into_iter().collect(),
        az_hosts: az_hosts.into_iter().filter(valid_host).collect(),
        az_paths: az_paths.into_iter().collect(),
    }
}

/// What [`requests_with`] generates beyond the defaults.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RequestOptions {
    /// Also paths that Envoy's `normalize_path` rewrites before routing
    /// (`/x/../a`, `/./a`, `/%2e%2e/a`, `a/.`): a caller comparing with
    /// Envoy applies `mesh_route::request::normalize_path` first.
    pub path_normalization: bool,
}

/// Requests for `mesh`: most go to the client's outbound listeners, about
/// one in five to the server's inbound listener (authorization).
pub fn requests(mesh: &Mesh) -> impl Strategy<Value = HttpRequest> + use<> {
    requests_with(mesh, RequestOptions::default())
}

/// [`requests`] with options.
pub fn requests_with(
    mesh: &Mesh,
    options: RequestOptions,
) -> impl Strategy<Value = HttpRequest> + use<> {
    let p = pools(mesh, options.path_normalization);
    let headers = vec(select(p.headers.clone()), 0..=2).prop_map(|hs| {
        let mut out: Vec<(String, String)> = Vec::new();
        for h in hs {
            if !out
                .iter()
                .any(|(k, _)| h.iter().any(|(n, _)| n.eq_ignore_ascii_case(k)))
            {
                out.extend(h);
            }
        }
        out
    });
    let outbound = (
        select(p.ports.clone()),
        select(p.authorities.clone()),
        select(p.methods.clone()),
        select(p.paths.clone()),
        prop::sample::select(p.queries.clone()),
        headers.clone(),
    )
        .prop_map(
            |(port, authority, method, path, query, headers)| HttpRequest {
                target: Target::Outbound(port),
                authority,
                method,
                path: format!("{path}{query}"),
                headers,
            },
        );
    let inbound = (
        select(p.az_hosts.clone()),
        select(vec!["GET", "POST", "DELETE", "PUT"]),
        select(p.az_paths.clone()),
        prop::sample::select(vec!["", "?a=1"]),
        headers,
    )
        .prop_map(|(authority, method, path, query, headers)| HttpRequest {
            target: Target::Inbound,
            authority,
            method: method.to_string(),
            path: format!("{path}{query}"),
            headers,
        });
    prop_oneof![4 => outbound, 1 => inbound]
}
