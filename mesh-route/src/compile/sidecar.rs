//! A sidecar's outbound HTTP route configurations (HTTPR
//! `BuildSidecarOutboundVirtualHosts`; HOST-8, VS-5, VS-7, VS-8, XDS-2).

use super::scope::EgressScope;
use super::translate::{RouteCx, build_http_routes, default_route, destination_hash};
use super::vs::MergedVs;
use crate::config::{
    ClusterSpecifier, DestinationCluster, DirectResponseAction, ForwardAction, Route, RouteAction,
    RouteConfiguration, RouteMatch, RouteScope, VirtualHost, VirtualHostKind,
};
use crate::destination_rule::DestinationRules;
use mesh_model::host::{Hostname, PortDigits, concat, host_port};
use mesh_model::labels::Labels;
use mesh_model::networking::{Destination, GatewayRef, HttpRetry};
use mesh_model::protocol::Protocol;
use mesh_model::snapshot::{Service, ServiceOrigin, Snapshot};
use mesh_model::wire::networking::Resolution;
use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::sync::Arc;

/// Everything the sidecar route builder needs.
pub(crate) struct SidecarCx<'a> {
    pub snapshot: &'a Snapshot,
    pub drs: &'a DestinationRules,
    pub namespace: &'a str,
    pub labels: &'a Labels,
    pub default_retry: Option<&'a HttpRetry>,
}

/// What traffic to unknown hosts does (SC-3).
#[derive(Debug, Clone)]
pub(crate) enum CatchAll {
    /// `ALLOW_ANY`: `allow_any` to this cluster (PassthroughCluster, or
    /// the egress proxy's).
    AllowAny(String),
    /// `REGISTRY_ONLY`: `block_all`, a direct 502.
    BlockAll,
}

/// A service port's listener class on a sidecar.
pub(crate) fn is_http_or_sniffed(p: Protocol) -> bool {
    p.is_http() || p == Protocol::Unsupported
}

/// The VIP a service's listener binds to, if it has one (a plain IP, not
/// a CIDR; headless services have none).
pub(crate) fn vip(s: &Service) -> Option<&str> {
    if s.headless {
        return None;
    }
    s.addresses
        .iter()
        .map(String::as_str)
        .find(|a| a.parse::<std::net::IpAddr>().is_ok() && *a != "0.0.0.0")
}

/// The route configurations of a sidecar: `"<port>"` for HTTP ports and
/// auto-detected ports without a VIP, `"<host>:<port>"` for auto-detected
/// ports with one (XDS-2).
/// `catch_all` is the outbound traffic policy's (VS-5, SC-3).
pub(crate) fn route_configurations(
    cx: &SidecarCx<'_>,
    scopes: &[EgressScope<'_>],
    catch_all: &CatchAll,
) -> Vec<RouteConfiguration> {
    let mut out: BTreeMap<String, RouteConfiguration> = BTreeMap::new();
    let mut locked: BTreeSet<u16> = BTreeSet::new();
    for scope in scopes {
        // Ports this listener builds, and the sniffed services on them.
        let mut ports: BTreeSet<u16> = BTreeSet::new();
        let mut sniffed: Vec<(Hostname, u16)> = Vec::new();
        match scope.port {
            Some((p, proto)) => {
                if proto.is_http() {
                    ports.insert(p);
                } else if proto == Protocol::Unsupported {
                    for s in &scope.services {
                        if vip(s).is_some() {
                            sniffed.push((s.hostname.clone(), p));
                        } else {
                            ports.insert(p);
                        }
                    }
                }
            }
            None => {
                for s in &scope.services {
                    for sp in &s.ports {
                        if locked.contains(&sp.number) {
                            continue;
                        }
                        if sp.protocol.is_http() {
                            ports.insert(sp.number);
                        } else if sp.protocol == Protocol::Unsupported {
                            if vip(s).is_some() {
                                sniffed.push((s.hostname.clone(), sp.number));
                            } else {
                                ports.insert(sp.number);
                            }
                        }
                    }
                }
            }
        }
        // Sniffed services first: they pick their virtual host out of the
        // port's list; the shared route then takes the list itself.
        let mut computed: BTreeMap<u16, Vec<VirtualHost>> = BTreeMap::new();
        for (h, p) in &sniffed {
            let name = format!("{h}:{p}");
            if out.contains_key(&name) {
                continue;
            }
            let all = computed
                .entry(*p)
                .or_insert_with(|| virtual_hosts(cx, scope, *p));
            let host = h.as_str();
            let mut picked: Vec<VirtualHost> = all
                .iter()
                .filter(|v| v.domains.iter().any(|d| *d == name || d == host))
                .cloned()
                .collect();
            let service_domains = picked
                .first()
                .map(|v| v.domains.clone())
                .unwrap_or_default();
            if picked.len() == 1 {
                picked[0].domains = vec!["*".into()];
            }
            out.insert(
                name.clone(),
                RouteConfiguration {
                    name,
                    virtual_hosts: picked,
                    ignore_port_in_host_matching: true,
                    scope: Arc::new(RouteScope::SniffedService {
                        host: h.clone(),
                        port: *p,
                        service_domains,
                    }),
                    rejected: None,
                },
            );
        }
        for p in &ports {
            let name = p.to_string();
            if out.contains_key(&name) {
                continue;
            }
            let mut vhosts = computed
                .remove(p)
                .unwrap_or_else(|| virtual_hosts(cx, scope, *p));
            vhosts.push(catch_all_vhost(catch_all));
            out.insert(
                name.clone(),
                RouteConfiguration {
                    name,
                    virtual_hosts: vhosts,
                    ignore_port_in_host_matching: true,
                    scope: Arc::new(RouteScope::SidecarPort { port: *p }),
                    rejected: None,
                },
            );
        }
        if let Some((p, _)) = scope.port {
            locked.insert(p);
        }
    }
    out.into_values().collect()
}

/// `buildCatchAllVirtualHost` (VS-5).
fn catch_all_vhost(c: &CatchAll) -> VirtualHost {
    let (name, action, kind) = match c {
        CatchAll::AllowAny(cluster) => (
            "allow_any",
            RouteAction::Route(Box::new(ForwardAction {
                clusters: ClusterSpecifier::Cluster(Box::new(DestinationCluster::whole(
                    cluster.clone(),
                    Hostname::new(cluster),
                    0,
                ))),
                timeout: None,
                max_grpc_timeout: None,
                retry_policy: None,
                prefix_rewrite: None,
                regex_rewrite: None,
                host_rewrite_literal: None,
                request_mirror_policies: Vec::new(),
                hash_policy: Vec::new(),
            })),
            VirtualHostKind::AllowAny,
        ),
        CatchAll::BlockAll => (
            "block_all",
            RouteAction::DirectResponse(DirectResponseAction {
                status: 502,
                body: None,
            }),
            VirtualHostKind::BlockAll,
        ),
    };
    VirtualHost {
        name: name.into(),
        domains: vec!["*".into()],
        routes: vec![Route {
            name: name.into(),
            origin: None,
            matcher: RouteMatch::catch_all(),
            action,
            request_headers_to_add: Vec::new(),
            request_headers_to_remove: Vec::new(),
            response_headers_to_add: Vec::new(),
            response_headers_to_remove: Vec::new(),
            fault: None,
            cors: None,
            stat_prefix: None,
            operation: String::new(),
        }],
        require_tls: false,
        kind,
    }
}

/// A group of virtual hosts sharing routes (`VirtualHostWrapper`).
struct Wrapper {
    services: Vec<Arc<Service>>,
    vs_hosts: Vec<String>,
    routes: Vec<Route>,
}

/// `util.IPv6Compliant`.
fn ipv6_compliant(h: &str) -> String {
    if h.contains(':') {
        concat(&["[", h, "]"])
    } else {
        h.to_string()
    }
}

/// The virtual hosts of the sidecar route for port `port`, sorted by name
/// (the catch-all is added by the caller).
fn virtual_hosts(cx: &SidecarCx<'_>, scope: &EgressScope<'_>, port: u16) -> Vec<VirtualHost> {
    // Services with this port, trimmed to it.
    let mut by_name: BTreeMap<Hostname, Arc<Service>> = BTreeMap::new();
    for s in &scope.services {
        if let Some(sp) = s.port(port) {
            let trimmed = if s.ports.len() == 1 {
                s.clone()
            } else {
                let mut t = (**s).clone();
                t.ports = vec![sp.clone()];
                Arc::new(t)
            };
            by_name.insert(s.hostname.clone(), trimmed);
        }
    }
    // VS-8: on ports other than 80, only VirtualServices naming a service
    // on the port.
    let vss: Vec<&MergedVs> = if port == 80 {
        scope.vss.clone()
    } else {
        scope
            .vss
            .iter()
            .copied()
            .filter(|v| {
                v.vs().hosts.iter().any(|h| {
                    by_name.contains_key(h)
                        || (h.is_wildcard() && by_name.keys().any(|s| h.matches(s)))
                        || (!h.is_wildcard()
                            && by_name.keys().any(|s| s.is_wildcard() && h.matches(s)))
                })
            })
            .collect()
    };
    let mut wrappers: Vec<Wrapper> = Vec::new();
    for v in vss {
        let routes = vs_routes(cx, v, port);
        if routes.is_empty() {
            continue;
        }
        let (hosts, services) = separate_hosts(v, &by_name, &scope.vs_of_service);
        let services: Vec<Arc<Service>> = services
            .into_iter()
            .filter(|s| s.ports.iter().any(|p| is_http_or_sniffed(p.protocol)))
            .collect();
        if services.is_empty() && port != 80 {
            continue;
        }
        wrappers.push(Wrapper {
            services,
            vs_hosts: hosts,
            routes,
        });
    }
    let covered: BTreeSet<Hostname> = wrappers
        .iter()
        .flat_map(|w| w.services.iter().map(|s| s.hostname.clone()))
        .collect();
    for (h, s) in &by_name {
        if covered.contains(h) || !s.ports.iter().any(|p| is_http_or_sniffed(p.protocol)) {
            continue;
        }
        let hash = cx
            .drs
            .for_client(cx.namespace, cx.labels, &s.hostname, &s.namespace)
            .and_then(|r| r.hash_for_service_port(port));
        wrappers.push(Wrapper {
            services: vec![s.clone()],
            vs_hosts: Vec::new(),
            routes: vec![default_route(&s.hostname, port, cx.default_retry, hash)],
        });
    }
    // An alternative domain is dropped when it is the name of a service
    // given a virtual host here, bare or as `host:port`.
    let known: BTreeSet<Hostname> = wrappers
        .iter()
        .flat_map(|w| w.services.iter().map(|s| s.hostname.clone()))
        .collect();
    let port_suffix = concat(&[":", PortDigits::new(port).as_str()]);
    let known_fqdn = |d: &str| {
        known.contains(d)
            || d.strip_suffix(port_suffix.as_str()).is_some_and(|h| {
                match h.strip_prefix('[').and_then(|h| h.strip_suffix(']')) {
                    Some(v6) => v6.contains(':') && known.contains(v6),
                    None => !h.contains(':') && known.contains(h),
                }
            })
    };
    let proxy_domain = format!("{}.svc.{}", cx.namespace, cx.snapshot.domain_suffix());
    let proxy_domain = ProxyDomain::split(&proxy_domain);
    // About one name and a few domains per virtual host: sized once, and
    // hashed with foldhash (per-process random seed) rather than SipHash.
    let mut names: foldhash::HashSet<String> =
        HashSet::with_capacity_and_hasher(wrappers.len(), Default::default());
    let mut seen_domains: foldhash::HashSet<String> =
        HashSet::with_capacity_and_hasher(4 * wrappers.len(), Default::default());
    let mut out = Vec::new();
    for w in wrappers.iter_mut() {
        let first = out.len();
        let mut build = |host: &str, svc: Option<&Service>| {
            let name = host_port(host, port);
            if !names.insert(name.clone()) {
                return None;
            }
            let (domains, alt) = match svc {
                None => (vec![ipv6_compliant(host)], Vec::new()),
                Some(s) => service_domains(s, proxy_domain),
            };
            let mut kept = Vec::new();
            for d in domains {
                // Skipping a known alternative form first leaves one hash
                // of the domain: the insert, which fails for one seen.
                if alt.contains(&d) && known_fqdn(&d) {
                    continue;
                }
                if !seen_domains.insert(d.to_ascii_lowercase()) {
                    continue;
                }
                kept.push(d);
            }
            if kept.is_empty() {
                return None;
            }
            Some(VirtualHost {
                name,
                domains: kept,
                routes: Vec::new(),
                require_tls: false,
                kind: if svc.is_some() {
                    VirtualHostKind::Service
                } else {
                    VirtualHostKind::VirtualServiceHost
                },
            })
        };
        for h in &w.vs_hosts {
            if let Some(v) = build(&h.to_ascii_lowercase(), None) {
                out.push(v);
            }
        }
        for s in &w.services {
            if let Some(v) = build(s.hostname.as_str(), Some(s)) {
                out.push(v);
            }
        }
        // Every virtual host of the wrapper shares its routes: clone for
        // all but the last, which takes them.
        let made = out.len() - first;
        for (k, v) in out[first..].iter_mut().enumerate() {
            v.routes = if k + 1 == made {
                std::mem::take(&mut w.routes)
            } else {
                w.routes.clone()
            };
        }
    }
    out.sort_by(|a, b| a.name.cmp(&b.name));
    out
}

/// The routes of VirtualService `v` on a sidecar's port `port`: what every
/// virtual host it makes there holds (`BuildHTTPRoutesForVirtualService`
/// with the `mesh` gateway).
pub(crate) fn vs_routes(cx: &SidecarCx<'_>, v: &MergedVs, port: u16) -> Vec<Route> {
    let mesh = GatewayRef::Mesh;
    let no_port = |_: &Hostname| None;
    let hash = |d: &Destination| {
        let svc = cx
            .snapshot
            .service_visible(&d.host, cx.namespace)
            .map(|s| &**s);
        destination_hash(cx.drs, cx.namespace, cx.labels, svc, d)
    };
    let rcx = RouteCx {
        labels: cx.labels,
        namespace: cx.namespace,
        gateway: &mesh,
        port,
        is_tls: false,
        default_retry: cx.default_retry,
        single_port: &no_port,
        hash: &hash,
    };
    build_http_routes(v, &rcx)
}

/// `separateVSHostsAndServices`: a VirtualService's hosts that are
/// registry services on this port, and the others (VS-7, VS-8).
fn separate_hosts(
    v: &MergedVs,
    by_name: &BTreeMap<Hostname, Arc<Service>>,
    vs_of_service: &BTreeMap<Hostname, Arc<crate::config::ConfigRef>>,
) -> (Vec<String>, Vec<Arc<Service>>) {
    let mut hosts = Vec::new();
    let mut services = Vec::new();
    let mut wild = Vec::new();
    for h in &v.vs().hosts {
        if h.is_wildcard() {
            wild.push(h);
            continue;
        }
        match by_name.get(h) {
            Some(s) => services.push(s.clone()),
            None => hosts.push(h.as_str().to_owned()),
        }
    }
    for h in wild {
        let mut found = false;
        for (sh, s) in by_name {
            if !sh.matches(h) {
                continue;
            }
            found = true;
            if vs_of_service.get(sh) != Some(&v.key) {
                continue;
            }
            services.push(s.clone());
        }
        if !found {
            hosts.push(h.as_str().to_owned());
        }
    }
    (hosts, services)
}

/// `generateVirtualHostDomains` for a sidecar (no port suffixes; XDS-2):
/// the FQDN, `fqdn.`, the short forms a client in the proxy's namespace
/// may use, `*.` copies for headless Kubernetes services, and the VIPs.
/// Also returns the alternative forms (`GenerateAltVirtualHosts`).
pub(crate) fn service_domains(
    s: &Service,
    proxy_domain: Option<ProxyDomain<'_>>,
) -> (Vec<String>, Vec<String>) {
    let host = s.hostname.as_str();
    let alt = alt_hosts(host, proxy_domain);
    let mut domains = vec![ipv6_compliant(host)];
    domains.extend(alt.iter().cloned());
    if s.resolution == Resolution::None && s.origin == ServiceOrigin::Kubernetes {
        let n = domains.len();
        for i in 0..n {
            let d = concat(&["*.", &domains[i]]);
            domains.push(d);
        }
    }
    for a in &s.addresses {
        if !a.is_empty() && a != "0.0.0.0" {
            domains.push(ipv6_compliant(a));
        }
    }
    (domains, alt)
}

/// A proxy's DNS domain (`ns.svc.cluster.local`) split at `.svc.`: its
/// namespace and the suffix its namespace's services share. Split once per
/// route configuration, not once per service.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ProxyDomain<'a> {
    namespace: &'a str,
    svc_suffix: &'a str,
}

impl<'a> ProxyDomain<'a> {
    /// `None` when the domain has no `.svc.` part (no short forms then).
    pub(crate) fn split(proxy_domain: &'a str) -> Option<ProxyDomain<'a>> {
        let idx = proxy_domain.find(".svc.")?;
        Some(ProxyDomain {
            namespace: &proxy_domain[..idx],
            svc_suffix: &proxy_domain[idx..],
        })
    }
}

/// `GenerateAltVirtualHosts` with no port, for a proxy in `proxy_domain`.
fn alt_hosts(host: &str, proxy_domain: Option<ProxyDomain<'_>>) -> Vec<String> {
    let mut v = Vec::new();
    if host.parse::<std::net::IpAddr>().is_err() {
        v.push(concat(&[host, "."]));
    }
    let Some(ProxyDomain {
        namespace: proxy_ns,
        svc_suffix,
    }) = proxy_domain
    else {
        return v;
    };
    if !host.ends_with(svc_suffix) {
        return v;
    }
    let Some(ih) = host.find(".svc.").filter(|i| *i > 0) else {
        return v;
    };
    let Some(dot) = host.find('.') else { return v };
    if dot + 1 >= host.len() || dot + 1 > ih {
        return v;
    }
    if &host[dot + 1..ih] == proxy_ns {
        v.push(host[..dot].to_string());
        v.push(concat(&[&host[..ih], ".svc"]));
        v.push(host[..ih].to_string());
    } else {
        v.push(host[..ih].to_string());
        v.push(concat(&[&host[..ih], ".svc"]));
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    /// XDS-2: the short forms of a service name.
    #[test]
    fn alt_host_forms() {
        let pd = ProxyDomain::split("bookinfo.svc.cluster.local");
        assert_eq!(
            alt_hosts("reviews.bookinfo.svc.cluster.local", pd),
            [
                "reviews.bookinfo.svc.cluster.local.",
                "reviews",
                "reviews.bookinfo.svc",
                "reviews.bookinfo"
            ]
        );
        assert_eq!(
            alt_hosts("ratings.other.svc.cluster.local", pd),
            [
                "ratings.other.svc.cluster.local.",
                "ratings.other",
                "ratings.other.svc"
            ]
        );
        assert_eq!(alt_hosts("api.example.com", pd), ["api.example.com."]);
        assert!(alt_hosts("10.0.0.1", pd).is_empty());
    }
}
