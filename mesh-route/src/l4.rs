//! TCP and TLS routing (VS-30..VS-33): the filter chains Istio builds from
//! VirtualService `tcp` and `tls` routes, and Envoy's filter-chain choice
//! for a connection (destination address, then SNI).

use crate::compile::gateway::GwServer;
use crate::compile::scope::EgressScope;
use crate::compile::sidecar::vip;
use crate::compile::vs::{MergedVs, VsSet, for_gateway};
use crate::config::{ConfigRef, DestinationCluster};
use crate::destination_rule::DestinationRules;
use ipnet::IpNet;
use mesh_model::host::{Hostname, sni_name};
use mesh_model::labels::Labels;
use mesh_model::networking::{GatewayRef, L4MatchAttributes, RouteDestination, TlsMatchAttributes};
use mesh_model::protocol::Protocol;
use mesh_model::snapshot::{Service, Snapshot};
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;
use std::sync::Arc;

/// Which VirtualService route made a filter chain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct L4Origin {
    /// The VirtualService.
    pub virtual_service: Arc<ConfigRef>,
    /// `tls` or `tcp`.
    pub kind: L4Kind,
    /// The index in the VirtualService's `tls` or `tcp` list.
    pub route_index: usize,
    /// The match block; `None` for a `tcp` route without matches.
    pub match_index: Option<usize>,
}

/// The kind of an L4 route.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum L4Kind {
    /// A `tls` route (SNI).
    Tls,
    /// A `tcp` route.
    Tcp,
}

/// An Envoy filter chain of a TCP/TLS listener: its match and its
/// `tcp_proxy` destinations.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct FilterChain {
    /// `filter_chain_match.server_names` (SNI; empty: any).
    pub server_names: Vec<String>,
    /// `filter_chain_match.prefix_ranges` (destination; empty: any).
    pub destination_cidrs: Vec<IpNet>,
    /// `filter_chain_match.application_protocols` (TLS ALPN; empty: any).
    /// Set on `AUTO_PASSTHROUGH` chains, which accept only Istio mTLS
    /// clients ([`ISTIO_MTLS_ALPNS`]); connection evaluation assumes one.
    pub application_protocols: Vec<String>,
    /// `tcp_proxy` `cluster` or `weighted_clusters` (VS-33: WT-1..WT-3;
    /// zero weights dropped when there are several).
    pub destinations: Vec<DestinationCluster>,
    /// The VirtualService route; `None` for the service's own default
    /// chain.
    pub origin: Option<L4Origin>,
}

/// The ALPN values of Istio's mTLS (`allIstioMtlsALPNs`): what an
/// `AUTO_PASSTHROUGH` chain requires of a client, so that only Istio peers
/// reach the services behind it (GW-7).
pub const ISTIO_MTLS_ALPNS: [&str; 5] = [
    "istio",
    "istio-peer-exchange",
    "istio-http/1.0",
    "istio-http/1.1",
    "istio-h2",
];

/// A TCP/TLS listener: a sidecar's `<vip>_<port>` for one service, or a
/// gateway's port.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct L4Listener {
    /// The listener name (`<address>_<port>`).
    pub name: String,
    /// The port connections arrive on (service port, or server port).
    pub port: u16,
    /// The service it serves (sidecars).
    pub service: Option<Hostname>,
    /// The gateway servers it serves (gateways).
    pub servers: Vec<ConfigRef>,
    /// Filter chains, in Istio's order.
    pub chains: Vec<FilterChain>,
}

/// A TCP or TLS connection.
#[derive(Debug, Clone, Copy)]
pub struct Connection<'a> {
    /// The host the client dials (a sidecar: the service; a gateway:
    /// ignored).
    pub host: &'a str,
    /// The destination port.
    pub port: u16,
    /// The TLS SNI, if the client sends one.
    pub sni: Option<&'a str>,
    /// The destination IP, when it matters (`destinationSubnets`).
    pub destination_ip: Option<IpAddr>,
}

/// What a connection does.
#[derive(Debug, Clone, Copy)]
pub struct L4Decision<'t> {
    /// The listener that accepts it, if any.
    pub listener: Option<&'t L4Listener>,
    /// The filter chain chosen (index and chain).
    pub chain: Option<(usize, &'t FilterChain)>,
}

/// Compile-time context for sidecar chains.
pub(crate) struct SidecarL4<'a> {
    pub snapshot: &'a Snapshot,
    pub namespace: &'a str,
    pub labels: &'a Labels,
}

fn l4_destinations(
    routes: &[RouteDestination],
    port: u16,
    service_for: &dyn Fn(&Hostname) -> Option<Arc<Service>>,
) -> Vec<DestinationCluster> {
    let make = |r: &RouteDestination, weight: u32| {
        let svc = service_for(&r.destination.host);
        let p = r
            .destination
            .port
            .or_else(|| {
                svc.as_ref()
                    .filter(|s| s.ports.len() == 1)
                    .map(|s| s.ports[0].number)
            })
            .unwrap_or(port);
        DestinationCluster {
            weight,
            subset: r.destination.subset.clone(),
            port: r.destination.port,
            ..DestinationCluster::whole(
                r.destination.cluster_name(p),
                r.destination.host.clone(),
                p,
            )
        }
    };
    if routes.len() == 1 {
        return vec![make(&routes[0], 100)];
    }
    routes
        .iter()
        .filter(|r| r.weight > 0)
        .map(|r| make(r, r.weight))
        .collect()
}

/// `matchTLS` / `matchTCP` on sidecars: every static predicate AND'ed
/// (VS-31, VS-32).
fn static_match(
    gateways: &[GatewayRef],
    labels: &Labels,
    port: Option<u16>,
    namespace: Option<&String>,
    cx: &SidecarL4<'_>,
    listen_port: u16,
) -> bool {
    (gateways.is_empty() || gateways.iter().any(GatewayRef::is_mesh))
        && labels.iter().all(|(k, v)| cx.labels.get(k) == Some(v))
        && port.is_none_or(|p| p == listen_port)
        && namespace.is_none_or(|n| n == cx.namespace)
}

fn tls_key(m: &TlsMatchAttributes) -> String {
    let sni: Vec<&str> = m.sni_hosts.iter().map(Hostname::as_str).collect();
    let sub: Vec<String> = m
        .destination_subnets
        .iter()
        .map(ToString::to_string)
        .collect();
    format!("{}|{}", sni.join(","), sub.join(","))
}

/// The TCP/TLS listeners of a sidecar: one per service VIP and TCP-class
/// port (VS-30).
pub(crate) fn sidecar_listeners(cx: &SidecarL4<'_>, scopes: &[EgressScope<'_>]) -> Vec<L4Listener> {
    // Services without a VIP share Envoy's `0.0.0.0_<port>` listener; each
    // keeps its own chains here, found by the service a connection dials.
    let mut out: Vec<L4Listener> = Vec::new();
    let mut seen: BTreeSet<(String, u16)> = BTreeSet::new();
    let service_for = |h: &Hostname| cx.snapshot.service_visible(h, cx.namespace).cloned();
    let mut locked: BTreeSet<u16> = BTreeSet::new();
    for scope in scopes {
        for s in &scope.services {
            for sp in &s.ports {
                let (port, proto) = match scope.port {
                    Some((p, proto)) => (p, proto),
                    None => (sp.number, sp.protocol),
                };
                if scope.port.is_none() && locked.contains(&port) {
                    continue;
                }
                if proto.is_http() || matches!(proto, Protocol::Udp | Protocol::HttpProxy) {
                    continue;
                }
                let address = vip(s).unwrap_or("0.0.0.0");
                let key = match vip(s) {
                    Some(a) => (a.to_string(), port),
                    None => (s.hostname.to_string(), port),
                };
                if !seen.insert(key) {
                    continue;
                }
                out.push(L4Listener {
                    name: format!("{address}_{port}"),
                    port,
                    service: Some(s.hostname.clone()),
                    servers: Vec::new(),
                    chains: service_chains(cx, scope, s, port, proto, &service_for),
                });
            }
        }
        if let Some((p, _)) = scope.port {
            locked.insert(p);
        }
    }
    out
}

/// `buildSidecarOutboundTLSFilterChainOpts` +
/// `buildSidecarOutboundTCPFilterChainOpts` for one service and port.
fn service_chains(
    cx: &SidecarL4<'_>,
    scope: &EgressScope<'_>,
    s: &Service,
    port: u16,
    proto: Protocol,
    service_for: &dyn Fn(&Hostname) -> Option<Arc<Service>>,
) -> Vec<FilterChain> {
    let configs: Vec<&MergedVs> = scope
        .vss
        .iter()
        .copied()
        .filter(|v| v.vs().hosts.iter().any(|h| h.matches(&s.hostname)))
        .collect();
    let service_cidrs: Vec<IpNet> = s
        .addresses
        .iter()
        .filter(|a| a.contains('/'))
        .filter_map(|a| a.parse().ok())
        .collect();
    let default_port = if s.ports.len() == 1 {
        s.ports[0].number
    } else {
        port
    };
    let default_chain = |sni: Vec<String>, cidrs: Vec<IpNet>| FilterChain {
        server_names: sni,
        destination_cidrs: cidrs,
        application_protocols: Vec::new(),
        destinations: vec![DestinationCluster::whole(
            mesh_model::host::cluster_name(default_port, "", s.hostname.as_str()),
            s.hostname.clone(),
            default_port,
        )],
        origin: None,
    };
    let mut out = Vec::new();
    if proto.is_tls() {
        let mut handled = BTreeSet::new();
        let mut has_tls = false;
        let mut cidrs = service_cidrs.clone();
        for v in &configs {
            for (ti, tls) in v.vs().tls.iter().enumerate() {
                if tls.route.is_empty() {
                    continue;
                }
                for (mi, m) in tls.matches.iter().enumerate() {
                    if !static_match(
                        &m.gateways,
                        &m.source_labels,
                        m.port,
                        m.source_namespace.as_ref(),
                        cx,
                        port,
                    ) {
                        continue;
                    }
                    if !m.destination_subnets.is_empty() {
                        cidrs = m.destination_subnets.clone();
                    }
                    let key = tls_key(m);
                    if handled.insert(key) {
                        out.push(FilterChain {
                            server_names: m.sni_hosts.iter().map(ToString::to_string).collect(),
                            destination_cidrs: cidrs.clone(),
                            application_protocols: Vec::new(),
                            destinations: l4_destinations(&tls.route, port, service_for),
                            origin: Some(L4Origin {
                                virtual_service: v.key.clone(),
                                kind: L4Kind::Tls,
                                route_index: ti,
                                match_index: Some(mi),
                            }),
                        });
                        has_tls = true;
                    }
                }
            }
        }
        if !has_tls {
            let sni = if !cidrs.is_empty() || vip(s).is_none() {
                vec![s.hostname.to_string()]
            } else {
                Vec::new()
            };
            out.push(default_chain(sni, cidrs));
        }
        return out;
    }
    let mut default_added = false;
    'routes: for v in &configs {
        for (ti, tcp) in v.vs().tcp.iter().enumerate() {
            if tcp.route.is_empty() {
                continue;
            }
            let origin = |mi: Option<usize>| {
                Some(L4Origin {
                    virtual_service: v.key.clone(),
                    kind: L4Kind::Tcp,
                    route_index: ti,
                    match_index: mi,
                })
            };
            if tcp.matches.is_empty() {
                out.push(FilterChain {
                    server_names: Vec::new(),
                    destination_cidrs: service_cidrs.clone(),
                    application_protocols: Vec::new(),
                    destinations: l4_destinations(&tcp.route, port, service_for),
                    origin: origin(None),
                });
                default_added = true;
                break 'routes;
            }
            let mut subnets: Vec<IpNet> = Vec::new();
            let mut first = None;
            for (mi, m) in tcp.matches.iter().enumerate() {
                if !l4_static(m, cx, port) {
                    continue;
                }
                if m.destination_subnets.is_empty() {
                    out.push(FilterChain {
                        server_names: Vec::new(),
                        destination_cidrs: service_cidrs.clone(),
                        application_protocols: Vec::new(),
                        destinations: l4_destinations(&tcp.route, port, service_for),
                        origin: origin(Some(mi)),
                    });
                    default_added = true;
                    break 'routes;
                }
                first.get_or_insert(mi);
                subnets.extend(m.destination_subnets.iter().copied());
            }
            if !subnets.is_empty() {
                let mut a = subnets.clone();
                a.sort();
                let mut b = service_cidrs.clone();
                b.sort();
                if a == b {
                    default_added = true;
                }
                out.push(FilterChain {
                    server_names: Vec::new(),
                    destination_cidrs: subnets,
                    application_protocols: Vec::new(),
                    destinations: l4_destinations(&tcp.route, port, service_for),
                    origin: origin(first),
                });
            }
        }
    }
    if !default_added {
        out.push(default_chain(Vec::new(), service_cidrs));
    }
    out
}

fn l4_static(m: &L4MatchAttributes, cx: &SidecarL4<'_>, port: u16) -> bool {
    static_match(
        &m.gateways,
        &m.source_labels,
        m.port,
        m.source_namespace.as_ref(),
        cx,
        port,
    )
}

/// `pickMatchingGatewayHosts`: whether any VirtualService host matches a
/// server host open to the VirtualService's namespace.
fn gateway_hosts_match(server: &GwServer<'_>, v: &MergedVs) -> bool {
    v.vs().hosts.iter().any(|vh| {
        server
            .server
            .hosts
            .iter()
            .any(|gh| (gh.namespace == "*" || gh.namespace == v.namespace()) && gh.host.matches(vh))
    })
}

/// `l4SingleMatch` on gateways: only `port` and `gateways` (VS-31, VS-32).
fn gateway_l4_match(
    port: Option<u16>,
    gateways: &[GatewayRef],
    server_port: u16,
    gw: &GatewayRef,
) -> bool {
    port.is_none_or(|p| p == server_port) && (gateways.is_empty() || gateways.contains(gw))
}

/// The TCP/TLS listeners of a gateway (GWC `createGatewayTCPFilterChainOpts`).
pub(crate) fn gateway_listeners(
    snapshot: &Snapshot,
    vss: &VsSet,
    drs: &DestinationRules,
    client: (&str, &Labels),
    servers: &[GwServer<'_>],
) -> Vec<L4Listener> {
    let (namespace, labels) = client;
    let mut out: BTreeMap<String, L4Listener> = BTreeMap::new();
    let mut sni_seen: BTreeMap<u16, BTreeSet<(String, Option<String>)>> = BTreeMap::new();
    let service_for = |h: &Hostname| snapshot.service_visible(h, namespace).cloned();
    for s in servers {
        let gw = &s.gateway_ref;
        let bind = s.server.bind.clone().unwrap_or_else(|| "0.0.0.0".into());
        let name = format!("{bind}_{}", s.target_port);
        let listener = out.entry(name.clone()).or_insert_with(|| L4Listener {
            name,
            port: s.server_port,
            service: None,
            servers: Vec::new(),
            chains: Vec::new(),
        });
        listener.servers.push(s.gateway.clone());
        let candidates = for_gateway(vss, namespace, gw);
        if s.server.tls.is_none() || !s.is_passthrough() {
            // Opaque TCP, or TLS terminated then TCP: the first passing
            // `tcp` route (VS-32).
            let sni: Vec<String> = if s.server.tls.is_some() {
                s.sni_hosts()
                    .iter()
                    .filter(|h| h.as_str() != "*")
                    .map(ToString::to_string)
                    .collect()
            } else {
                Vec::new()
            };
            'vs: for v in &candidates {
                if !gateway_hosts_match(s, v) {
                    continue;
                }
                for (ti, tcp) in v.vs().tcp.iter().enumerate() {
                    let hit = if tcp.matches.is_empty() {
                        Some(None)
                    } else {
                        tcp.matches
                            .iter()
                            .position(|m| gateway_l4_match(m.port, &m.gateways, s.server_port, gw))
                            .map(Some)
                    };
                    let Some(mi) = hit else { continue };
                    if tcp.route.is_empty() {
                        continue;
                    }
                    listener.chains.push(FilterChain {
                        server_names: sni.clone(),
                        destination_cidrs: Vec::new(),
                        application_protocols: Vec::new(),
                        destinations: l4_destinations(&tcp.route, s.server_port, &service_for),
                        origin: Some(L4Origin {
                            virtual_service: v.key.clone(),
                            kind: L4Kind::Tcp,
                            route_index: ti,
                            match_index: mi,
                        }),
                    });
                    break 'vs;
                }
            }
            continue;
        }
        let seen = sni_seen.entry(s.target_port).or_default();
        if s.is_auto_passthrough() {
            auto_passthrough_chains(
                snapshot,
                drs,
                (namespace, labels),
                s,
                seen,
                &mut listener.chains,
            );
            continue;
        }
        // PASSTHROUGH: one chain per passing `tls` match, SNI-routed
        // (VS-31); a repeated SNI host on the port is skipped.
        for v in &candidates {
            if !gateway_hosts_match(s, v) {
                continue;
            }
            for (ti, tls) in v.vs().tls.iter().enumerate() {
                if tls.route.is_empty() {
                    continue;
                }
                for (mi, m) in tls.matches.iter().enumerate() {
                    if !gateway_l4_match(m.port, &m.gateways, s.server_port, gw) {
                        continue;
                    }
                    let keys: Vec<(String, Option<String>)> = m
                        .sni_hosts
                        .iter()
                        .map(|h| (h.to_string(), s.server.bind.clone()))
                        .collect();
                    if keys.iter().any(|k| seen.contains(k)) {
                        continue;
                    }
                    seen.extend(keys);
                    listener.chains.push(FilterChain {
                        server_names: m.sni_hosts.iter().map(ToString::to_string).collect(),
                        destination_cidrs: Vec::new(),
                        application_protocols: Vec::new(),
                        destinations: l4_destinations(&tls.route, s.server_port, &service_for),
                        origin: Some(L4Origin {
                            virtual_service: v.key.clone(),
                            kind: L4Kind::Tls,
                            route_index: ti,
                            match_index: Some(mi),
                        }),
                    });
                }
            }
        }
    }
    out.into_values().collect()
}

/// GW-7 `AUTO_PASSTHROUGH` (`builtAutoPassthroughFilterChains`): no
/// VirtualService; one chain per service port and DestinationRule subset
/// the gateway sees, for every service in the mesh whose host is within
/// the server's hosts. Each matches the SNI an Istio client sends for that
/// cluster, `outbound_.<port>_.<subset>_.<host>`, and Istio's mTLS ALPNs,
/// and forwards the still-encrypted connection to the SNI-DNAT cluster of
/// that name. External services and UDP ports have none; an SNI already
/// served on the port is skipped.
fn auto_passthrough_chains(
    snapshot: &Snapshot,
    drs: &DestinationRules,
    (namespace, labels): (&str, &Labels),
    server: &GwServer<'_>,
    seen: &mut BTreeSet<(String, Option<String>)>,
    chains: &mut Vec<FilterChain>,
) {
    let hosts = server.sni_hosts();
    for svc in mesh_model::scope::visible_services(snapshot, namespace, None) {
        if svc.mesh_external || !hosts.iter().any(|h| svc.hostname.subset_of(h)) {
            continue;
        }
        let subsets: Vec<String> = drs
            .for_client(namespace, labels, &svc.hostname, &svc.namespace)
            .map(|r| r.rule.subsets.iter().map(|s| s.name.clone()).collect())
            .unwrap_or_default();
        for port in svc.ports.iter().filter(|p| p.protocol != Protocol::Udp) {
            for subset in std::iter::once(None).chain(subsets.iter().map(|s| Some(s.as_str()))) {
                let name = sni_name(port.number, subset, svc.hostname.as_str());
                if !seen.insert((name.clone(), server.server.bind.clone())) {
                    continue;
                }
                chains.push(FilterChain {
                    server_names: vec![name.clone()],
                    destination_cidrs: Vec::new(),
                    application_protocols: ISTIO_MTLS_ALPNS.iter().map(|a| a.to_string()).collect(),
                    destinations: vec![DestinationCluster {
                        subset: subset.map(str::to_string),
                        port: Some(port.number),
                        ..DestinationCluster::whole(name, svc.hostname.clone(), port.number)
                    }],
                    origin: None,
                });
            }
        }
    }
}

/// Envoy's server-name match rank of `sni` against a chain's names: exact
/// beats the longest `*.` suffix; `None` when the chain names others.
fn sni_rank(names: &[String], sni: Option<&str>) -> Option<usize> {
    if names.is_empty() {
        return Some(0);
    }
    let sni = sni?.to_ascii_lowercase();
    let mut best = None;
    for n in names {
        let n = n.to_ascii_lowercase();
        let r = if n == sni {
            usize::MAX
        } else if let Some(suffix) = n.strip_prefix('*') {
            if sni.len() > suffix.len() && sni.ends_with(suffix) {
                suffix.len() + 1
            } else {
                continue;
            }
        } else {
            continue;
        };
        best = best.max(Some(r));
    }
    best
}

/// Envoy's filter chain selection (`FilterChainManagerImpl`): the longest
/// destination prefix (chains without ranges match any address), then
/// the most specific server name (VS-31).
pub fn select_chain(chains: &[FilterChain], conn: &Connection<'_>) -> Option<usize> {
    let ip_rank = |c: &FilterChain| -> Option<u8> {
        if c.destination_cidrs.is_empty() {
            return Some(0);
        }
        let ip = conn.destination_ip?;
        c.destination_cidrs
            .iter()
            .filter(|n| n.contains(&ip))
            .map(|n| n.prefix_len() + 1)
            .max()
    };
    let best_ip = chains.iter().filter_map(ip_rank).max()?;
    let by_ip: Vec<usize> = (0..chains.len())
        .filter(|i| ip_rank(&chains[*i]) == Some(best_ip))
        .collect();
    let best_sni = by_ip
        .iter()
        .filter_map(|i| sni_rank(&chains[*i].server_names, conn.sni))
        .max()?;
    by_ip
        .into_iter()
        .find(|i| sni_rank(&chains[*i].server_names, conn.sni) == Some(best_sni))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chain(sni: &[&str], cidrs: &[&str]) -> FilterChain {
        FilterChain {
            server_names: sni.iter().map(|s| s.to_string()).collect(),
            destination_cidrs: cidrs.iter().map(|c| c.parse().unwrap()).collect(),
            application_protocols: Vec::new(),
            destinations: Vec::new(),
            origin: None,
        }
    }

    /// VS-31: exact SNI beats the longest wildcard, which beats none.
    #[test]
    fn sni_specificity() {
        let chains = [
            chain(&["*.com"], &[]),
            chain(&["*.a.com"], &[]),
            chain(&["x.a.com"], &[]),
            chain(&[], &[]),
        ];
        let c = |sni| Connection {
            host: "",
            port: 443,
            sni,
            destination_ip: None,
        };
        assert_eq!(select_chain(&chains, &c(Some("x.a.com"))), Some(2));
        assert_eq!(select_chain(&chains, &c(Some("y.a.com"))), Some(1));
        assert_eq!(select_chain(&chains, &c(Some("b.com"))), Some(0));
        assert_eq!(select_chain(&chains, &c(Some("b.org"))), Some(3));
        assert_eq!(select_chain(&chains, &c(None)), Some(3));
        assert_eq!(select_chain(&chains[..3], &c(Some("b.org"))), None);
    }

    /// VS-32: the longest destination prefix wins.
    #[test]
    fn cidr_specificity() {
        let chains = [
            chain(&[], &["10.0.0.0/8"]),
            chain(&[], &["10.1.0.0/16"]),
            chain(&[], &[]),
        ];
        let c = |ip: &str| Connection {
            host: "",
            port: 5000,
            sni: None,
            destination_ip: Some(ip.parse().unwrap()),
        };
        assert_eq!(select_chain(&chains, &c("10.1.2.3")), Some(1));
        assert_eq!(select_chain(&chains, &c("10.2.2.3")), Some(0));
        assert_eq!(select_chain(&chains, &c("192.168.0.1")), Some(2));
    }
}
