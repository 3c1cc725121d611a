//! Candidates for a greedy shrinker: each is the input with one part
//! removed or simplified. A caller keeps the first candidate that still
//! shows the failure and repeats until none does.

use crate::{Action, HttpRequest, Mesh};

/// Smaller variants of `mesh`, the boldest first: whole resources, then
/// routes, match blocks and match fields, destinations, rules.
pub fn mesh_candidates(mesh: &Mesh) -> Vec<Mesh> {
    let mut out = Vec::new();
    for i in 0..mesh.virtual_services.len() {
        let mut m = mesh.clone();
        m.virtual_services.remove(i);
        out.push(m);
    }
    for i in 0..mesh.authorization_policies.len() {
        let mut m = mesh.clone();
        m.authorization_policies.remove(i);
        out.push(m);
    }
    for i in 0..mesh.peer_authentications.len() {
        let mut m = mesh.clone();
        m.peer_authentications.remove(i);
        out.push(m);
    }
    for i in 0..mesh.destination_rules.len() {
        let mut m = mesh.clone();
        m.destination_rules.remove(i);
        out.push(m);
    }
    if mesh.registry_only {
        let mut m = mesh.clone();
        m.registry_only = false;
        out.push(m);
    }
    for (v, vs) in mesh.virtual_services.iter().enumerate() {
        for h in 0..vs.hosts.len() {
            if vs.hosts.len() > 1 {
                let mut m = mesh.clone();
                m.virtual_services[v].hosts.remove(h);
                out.push(m);
            }
        }
        for r in 0..vs.http.len() {
            if vs.http.len() > 1 {
                let mut m = mesh.clone();
                m.virtual_services[v].http.remove(r);
                out.push(m);
            }
        }
        for (r, route) in vs.http.iter().enumerate() {
            if route.headers.is_some() {
                let mut m = mesh.clone();
                m.virtual_services[v].http[r].headers = None;
                out.push(m);
            }
            if route.name.is_some() {
                let mut m = mesh.clone();
                m.virtual_services[v].http[r].name = None;
                out.push(m);
            }
            for k in 0..route.matches.len() {
                let mut m = mesh.clone();
                m.virtual_services[v].http[r].matches.remove(k);
                out.push(m);
                let mk = &route.matches[k];
                let mut field = |f: &dyn Fn(&mut crate::HttpMatch)| {
                    let mut m = mesh.clone();
                    f(&mut m.virtual_services[v].http[r].matches[k]);
                    if m != *mesh {
                        out.push(m);
                    }
                };
                field(&|x| x.name = None);
                field(&|x| {
                    x.uri = None;
                    x.ignore_uri_case = false;
                });
                field(&|x| x.ignore_uri_case = false);
                field(&|x| x.scheme = None);
                field(&|x| x.method = None);
                field(&|x| x.authority = None);
                field(&|x| x.port = None);
                for i in 0..mk.headers.len() {
                    field(&|x| {
                        x.headers.remove(i);
                    });
                }
                for i in 0..mk.without_headers.len() {
                    field(&|x| {
                        x.without_headers.remove(i);
                    });
                }
                for i in 0..mk.query_params.len() {
                    field(&|x| {
                        x.query_params.remove(i);
                    });
                }
            }
            if let Action::Route {
                destinations,
                rewrite,
            } = &route.action
            {
                if rewrite.is_some() {
                    let mut m = mesh.clone();
                    if let Action::Route { rewrite, .. } = &mut m.virtual_services[v].http[r].action
                    {
                        *rewrite = None;
                    }
                    out.push(m);
                }
                for d in 0..destinations.len() {
                    if destinations.len() > 1 {
                        let mut m = mesh.clone();
                        if let Action::Route { destinations, .. } =
                            &mut m.virtual_services[v].http[r].action
                        {
                            destinations.remove(d);
                            if destinations.len() == 1 {
                                destinations[0].weight = None;
                            } else if destinations.iter().all(|d| d.weight == Some(0)) {
                                continue;
                            }
                        }
                        out.push(m);
                    }
                }
            }
        }
    }
    for (a, ap) in mesh.authorization_policies.iter().enumerate() {
        if ap.dry_run {
            let mut m = mesh.clone();
            m.authorization_policies[a].dry_run = false;
            out.push(m);
        }
        let Some(rules) = &ap.rules else { continue };
        for (i, rule) in rules.iter().enumerate() {
            if rules.len() > 1 {
                let mut m = mesh.clone();
                if let Some(rs) = &mut m.authorization_policies[a].rules {
                    rs.remove(i);
                }
                out.push(m);
            }
            let mut part = |f: &dyn Fn(&mut crate::Rule)| {
                let mut m = mesh.clone();
                if let Some(rs) = &mut m.authorization_policies[a].rules {
                    f(&mut rs[i]);
                }
                if m != *mesh {
                    out.push(m);
                }
            };
            for j in 0..rule.from.len() {
                part(&|r| {
                    r.from.remove(j);
                });
            }
            for j in 0..rule.to.len() {
                part(&|r| {
                    r.to.remove(j);
                });
                for f in 0..rule.to[j].len() {
                    if rule.to[j].len() > 1 {
                        part(&|r| {
                            r.to[j].remove(f);
                        });
                    }
                }
            }
            for j in 0..rule.when.len() {
                part(&|r| {
                    r.when.remove(j);
                });
            }
        }
    }
    for s in 0..mesh.services.len() {
        let used = mesh.virtual_services.iter().any(|vs| {
            vs.hosts.contains(&mesh.services[s].name)
                || vs.http.iter().any(|r| match &r.action {
                    Action::Route { destinations, .. } => {
                        destinations.iter().any(|d| d.host == mesh.services[s].name)
                    }
                    _ => false,
                })
        }) || mesh
            .destination_rules
            .iter()
            .any(|d| d.host == mesh.services[s].name);
        if !used && mesh.services.len() > 1 {
            let mut m = mesh.clone();
            m.services.remove(s);
            out.push(m);
        }
    }
    out
}

/// Smaller variants of `req`: fewer headers, no query, a plainer method.
pub fn request_candidates(req: &HttpRequest) -> Vec<HttpRequest> {
    let mut out = Vec::new();
    for i in 0..req.headers.len() {
        let mut r = req.clone();
        r.headers.remove(i);
        out.push(r);
    }
    if let Some((p, _)) = req.path.split_once('?') {
        let mut r = req.clone();
        r.path = p.to_string();
        out.push(r);
    }
    if req.method != "GET" {
        let mut r = req.clone();
        r.method = "GET".into();
        out.push(r);
    }
    out
}
