//! Listeners (LDS): the sidecar's `virtualOutbound`/`virtualInbound` and
//! per-port outbound listeners, explicitly bound listeners (Sidecar
//! `captureMode: NONE`, gateways), and the inbound filter chains that
//! enforce a PeerAuthentication mode (PA-6, XDS-1).

use crate::cluster::{BLACKHOLE, INBOUND_PASSTHROUGH, PASSTHROUGH};
use crate::http::{Direction, Routes, connection_manager};
use crate::tls::istio_mutual_downstream;
use crate::util::{any, boolv, socket_address};
use envoy_types::pb::envoy::config::core::v3::TrafficDirection;
use envoy_types::pb::envoy::config::listener::v3::{
    Filter, FilterChain, FilterChainMatch, Listener, ListenerFilter, filter, listener_filter,
};
use envoy_types::pb::envoy::config::route::v3::RouteConfiguration;
use envoy_types::pb::envoy::extensions::filters::listener::http_inspector::v3::HttpInspector;
use envoy_types::pb::envoy::extensions::filters::listener::original_dst::v3::OriginalDst;
use envoy_types::pb::envoy::extensions::filters::listener::tls_inspector::v3::TlsInspector;
use envoy_types::pb::envoy::extensions::filters::network::http_connection_manager::v3::HttpFilter;
use envoy_types::pb::envoy::extensions::filters::network::tcp_proxy::v3::{
    TcpProxy,
    tcp_proxy::{ClusterSpecifier, WeightedCluster, weighted_cluster::ClusterWeight},
};
use mesh_model::security::MtlsMode;

/// The Istio ALPN values that mark an mTLS connection from a sidecar.
pub const ISTIO_ALPNS: &[&str] = &[
    "istio-peer-exchange",
    "istio",
    "istio-http/1.0",
    "istio-http/1.1",
    "istio-h2",
];

fn listener_filter_of<M: prost::Message + prost::Name>(name: &str, m: &M) -> ListenerFilter {
    ListenerFilter {
        name: name.to_string(),
        config_type: Some(listener_filter::ConfigType::TypedConfig(any(m))),
        ..Default::default()
    }
}

/// `envoy.filters.listener.tls_inspector`.
pub fn tls_inspector() -> ListenerFilter {
    listener_filter_of(
        "envoy.filters.listener.tls_inspector",
        &TlsInspector::default(),
    )
}

/// `envoy.filters.listener.http_inspector`.
pub fn http_inspector() -> ListenerFilter {
    listener_filter_of(
        "envoy.filters.listener.http_inspector",
        &HttpInspector::default(),
    )
}

/// `envoy.filters.listener.original_dst`.
pub fn original_dst() -> ListenerFilter {
    listener_filter_of(
        "envoy.filters.listener.original_dst",
        &OriginalDst::default(),
    )
}

/// Where a TCP proxy sends a connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TcpTarget {
    /// One cluster.
    Cluster(String),
    /// Weighted clusters (VS-33).
    Weighted(Vec<(String, u32)>),
}

/// An `envoy.filters.network.tcp_proxy` filter.
pub fn tcp_proxy(stat_prefix: &str, target: &TcpTarget) -> Filter {
    let spec = match target {
        TcpTarget::Cluster(c) => ClusterSpecifier::Cluster(c.clone()),
        TcpTarget::Weighted(ws) => ClusterSpecifier::WeightedClusters(WeightedCluster {
            clusters: ws
                .iter()
                .map(|(name, weight)| ClusterWeight {
                    name: name.clone(),
                    weight: *weight,
                    ..Default::default()
                })
                .collect(),
        }),
    };
    let tp = TcpProxy {
        stat_prefix: stat_prefix.to_string(),
        cluster_specifier: Some(spec),
        ..Default::default()
    };
    Filter {
        name: "envoy.filters.network.tcp_proxy".into(),
        config_type: Some(filter::ConfigType::TypedConfig(any(&tp))),
    }
}

/// What one inbound port of a workload needs.
#[derive(Debug, Clone)]
pub struct InboundPort {
    /// The workload (target) port.
    pub target_port: u16,
    /// Whether the port carries HTTP (else opaque TCP).
    pub http: bool,
    /// The effective PeerAuthentication mode (PA-4), `UNSET` resolved.
    pub mode: MtlsMode,
    /// The HTTP filters before the router (authz, JWT, fault, CORS), in
    /// Istio's order; the router is appended.
    pub http_filters: Vec<HttpFilter>,
    /// The network filters before the TCP proxy (network RBAC).
    pub tcp_filters: Vec<Filter>,
    /// The inline route configuration (`inbound|<port>||`).
    pub route: RouteConfiguration,
    /// The inbound cluster (`inbound|<port>||`).
    pub cluster: String,
}

/// The filter chains of one inbound port for its PeerAuthentication mode
/// (PA-6): STRICT accepts only mTLS with an Istio ALPN; PERMISSIVE accepts
/// mTLS and plaintext (and on TCP ports, other TLS as opaque TCP); DISABLE
/// inspects nothing.
pub fn inbound_chains(p: &InboundPort, match_port: bool) -> Vec<FilterChain> {
    let name = format!("0.0.0.0_{}", p.target_port);
    let dport = match_port.then(|| crate::util::u32v(u32::from(p.target_port)));
    let filters = |mtls: bool| -> Vec<Filter> {
        if p.http {
            let mut hf = p.http_filters.clone();
            hf.push(crate::http::router());
            let _ = mtls;
            vec![connection_manager(
                &format!("inbound_0.0.0.0_{}", p.target_port),
                Routes::Inline(Box::new(p.route.clone())),
                hf,
                Direction::Inbound,
            )]
        } else {
            let mut f = p.tcp_filters.clone();
            f.push(tcp_proxy(
                &p.cluster,
                &TcpTarget::Cluster(p.cluster.clone()),
            ));
            f
        }
    };
    let mut chains = Vec::new();
    let mtls_chain = FilterChain {
        name: name.clone(),
        filter_chain_match: Some(FilterChainMatch {
            destination_port: dport,
            transport_protocol: "tls".into(),
            application_protocols: ISTIO_ALPNS.iter().map(|s| (*s).to_string()).collect(),
            ..Default::default()
        }),
        filters: filters(true),
        transport_socket: Some(crate::tls::tls_socket(any(&istio_mutual_downstream()))),
        ..Default::default()
    };
    let plain = |transport: &str| FilterChain {
        name: name.clone(),
        filter_chain_match: Some(FilterChainMatch {
            destination_port: dport,
            transport_protocol: transport.to_string(),
            ..Default::default()
        }),
        filters: filters(false),
        ..Default::default()
    };
    match p.mode {
        MtlsMode::Strict => chains.push(mtls_chain),
        MtlsMode::Disable => chains.push(plain("")),
        MtlsMode::Permissive | MtlsMode::Unset => {
            chains.push(mtls_chain);
            chains.push(plain("raw_buffer"));
            if !p.http {
                // Non-Istio TLS passes through untouched as TCP.
                let mut tls_passthrough = plain("tls");
                tls_passthrough.name = format!("{name}-tls-passthrough");
                chains.push(tls_passthrough);
            }
        }
    }
    chains
}

/// `virtualInbound` (0.0.0.0:15006): the inbound chains of every port, and
/// passthrough chains for ports no service names, with the workload-level
/// mode (PA-5).
pub fn virtual_inbound(ports: &[InboundPort], workload_mode: MtlsMode) -> Listener {
    let mut chains: Vec<FilterChain> = ports.iter().flat_map(|p| inbound_chains(p, true)).collect();
    let passthrough = InboundPort {
        target_port: 0,
        http: false,
        mode: workload_mode,
        http_filters: Vec::new(),
        tcp_filters: Vec::new(),
        route: RouteConfiguration::default(),
        cluster: INBOUND_PASSTHROUGH.into(),
    };
    for mut c in inbound_chains(&passthrough, false) {
        c.name = if c.transport_socket.is_some() {
            "virtualInbound-mtls".into()
        } else {
            "virtualInbound".into()
        };
        chains.push(c);
    }
    Listener {
        name: "virtualInbound".into(),
        address: Some(socket_address("0.0.0.0", 15006)),
        filter_chains: chains,
        listener_filters: vec![original_dst(), tls_inspector(), http_inspector()],
        traffic_direction: TrafficDirection::Inbound as i32,
        use_original_dst: Some(boolv(true)),
        ..Default::default()
    }
}

/// `virtualOutbound` (0.0.0.0:15001): hands connections to the listener of
/// their original destination; what none claims goes to
/// `PassthroughCluster` (ALLOW_ANY) or `BlackHoleCluster` (REGISTRY_ONLY).
pub fn virtual_outbound(registry_only: bool) -> Listener {
    let target = if registry_only {
        BLACKHOLE
    } else {
        PASSTHROUGH
    };
    Listener {
        name: "virtualOutbound".into(),
        address: Some(socket_address("0.0.0.0", 15001)),
        filter_chains: vec![FilterChain {
            name: if registry_only {
                "virtualOutbound-blackhole".into()
            } else {
                "virtualOutbound-catchall-tcp".into()
            },
            filters: vec![tcp_proxy(target, &TcpTarget::Cluster(target.into()))],
            ..Default::default()
        }],
        listener_filters: vec![original_dst()],
        traffic_direction: TrafficDirection::Outbound as i32,
        use_original_dst: Some(boolv(true)),
        ..Default::default()
    }
}

/// An outbound HTTP listener for a port (`0.0.0.0_<port>`, route
/// configuration `"<port>"`, XDS-1/XDS-2). `bind` is `None` for a captured
/// sidecar (the listener only receives hand-offs from `virtualOutbound`),
/// or the address to bind for Sidecar `captureMode: NONE` egress.
pub fn outbound_http(
    port: u16,
    route_name: &str,
    bind: Option<&str>,
    http_filters: Vec<HttpFilter>,
) -> Listener {
    let address = bind.unwrap_or("0.0.0.0");
    let mut hf = http_filters;
    hf.push(crate::http::router());
    Listener {
        name: format!("{address}_{port}"),
        address: Some(socket_address(address, port)),
        filter_chains: vec![FilterChain {
            filters: vec![connection_manager(
                &format!("outbound_{address}_{port}"),
                Routes::Rds(route_name.to_string()),
                hf,
                Direction::Outbound,
            )],
            ..Default::default()
        }],
        traffic_direction: TrafficDirection::Outbound as i32,
        bind_to_port: Some(boolv(bind.is_some())),
        ..Default::default()
    }
}

/// An outbound TCP listener (`<vip>_<port>` for a captured sidecar, or a
/// bound address).
pub fn outbound_tcp(address: &str, port: u16, target: &TcpTarget, bound: bool) -> Listener {
    Listener {
        name: format!("{address}_{port}"),
        address: Some(socket_address(address, port)),
        filter_chains: vec![FilterChain {
            filters: vec![tcp_proxy(&format!("outbound|{port}||"), target)],
            ..Default::default()
        }],
        traffic_direction: TrafficDirection::Outbound as i32,
        bind_to_port: Some(boolv(bound)),
        ..Default::default()
    }
}

/// An inbound listener bound to an address (Sidecar ingress with
/// `captureMode: NONE`): the port's chains for its PeerAuthentication mode.
pub fn inbound_bound(address: &str, port: u16, p: &InboundPort) -> Listener {
    Listener {
        name: format!("{address}_{port}"),
        address: Some(socket_address(address, port)),
        filter_chains: inbound_chains(p, false),
        listener_filters: vec![tls_inspector()],
        traffic_direction: TrafficDirection::Inbound as i32,
        ..Default::default()
    }
}

/// A gateway filter chain for plain-text HTTP servers on a port (RDS
/// `http.<port>`, GW-6).
pub fn gateway_http_chain(
    route_name: &str,
    http_filters: Vec<HttpFilter>,
    stat_prefix: &str,
) -> FilterChain {
    let mut hf = http_filters;
    hf.push(crate::http::router());
    FilterChain {
        filters: vec![connection_manager(
            stat_prefix,
            Routes::Rds(route_name.to_string()),
            hf,
            Direction::Gateway,
        )],
        ..Default::default()
    }
}

/// A gateway filter chain for one TLS-terminating server: matched by SNI
/// (no SNI match for `*`), TLS terminated, then HTTP with the server's own
/// RDS (`https.<port>.<portName>.<gateway>.<namespace>`, GW-6).
pub fn gateway_https_chain(
    server_names: &[String],
    tls: &envoy_types::pb::envoy::extensions::transport_sockets::tls::v3::DownstreamTlsContext,
    route_name: &str,
    http_filters: Vec<HttpFilter>,
    stat_prefix: &str,
) -> FilterChain {
    let mut hf = http_filters;
    hf.push(crate::http::router());
    FilterChain {
        filter_chain_match: Some(FilterChainMatch {
            server_names: server_names
                .iter()
                .filter(|s| s.as_str() != "*")
                .cloned()
                .collect(),
            ..Default::default()
        }),
        filters: vec![connection_manager(
            stat_prefix,
            Routes::Rds(route_name.to_string()),
            hf,
            Direction::Gateway,
        )],
        transport_socket: Some(crate::tls::tls_socket(any(tls))),
        ..Default::default()
    }
}

/// A gateway filter chain that passes TLS through by SNI (GW-7
/// `PASSTHROUGH`; `AUTO_PASSTHROUGH` also by ALPN) or proxies plain TCP.
pub fn gateway_tcp_chain(
    server_names: &[String],
    application_protocols: &[String],
    target: &TcpTarget,
    stat_prefix: &str,
) -> FilterChain {
    // `*` means any SNI: no server-name match at all.
    let names: Vec<String> = server_names
        .iter()
        .filter(|s| s.as_str() != "*")
        .cloned()
        .collect();
    FilterChain {
        filter_chain_match: (!names.is_empty() || !application_protocols.is_empty()).then(|| {
            FilterChainMatch {
                server_names: names,
                application_protocols: application_protocols.to_vec(),
                ..Default::default()
            }
        }),
        filters: vec![tcp_proxy(stat_prefix, target)],
        ..Default::default()
    }
}

/// A gateway listener `<bind>_<port>` bound to the port the gateway pod
/// listens on (GW-2), with TLS inspection when any chain matches SNI.
pub fn gateway(bind: &str, port: u16, chains: Vec<FilterChain>) -> Listener {
    let sni = chains.iter().any(|c| {
        c.filter_chain_match
            .as_ref()
            .is_some_and(|m| !m.server_names.is_empty())
            || c.transport_socket.is_some()
    });
    Listener {
        name: format!("{bind}_{port}"),
        address: Some(socket_address(bind, port)),
        filter_chains: chains,
        listener_filters: if sni {
            vec![tls_inspector()]
        } else {
            Vec::new()
        },
        traffic_direction: TrafficDirection::Outbound as i32,
        ..Default::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn port(mode: MtlsMode, http: bool) -> InboundPort {
        InboundPort {
            target_port: 9080,
            http,
            mode,
            http_filters: vec![],
            tcp_filters: vec![],
            route: RouteConfiguration::default(),
            cluster: "inbound|9080||".into(),
        }
    }

    /// PA-6: chains per mode.
    #[test]
    fn chains_follow_the_peer_authentication_mode() {
        let transports = |mode, http| -> Vec<String> {
            inbound_chains(&port(mode, http), true)
                .iter()
                .map(|c| {
                    c.filter_chain_match
                        .as_ref()
                        .unwrap()
                        .transport_protocol
                        .clone()
                })
                .collect()
        };
        assert_eq!(transports(MtlsMode::Strict, true), ["tls"]);
        assert_eq!(
            transports(MtlsMode::Permissive, true),
            ["tls", "raw_buffer"]
        );
        assert_eq!(
            transports(MtlsMode::Permissive, false),
            ["tls", "raw_buffer", "tls"]
        );
        assert_eq!(transports(MtlsMode::Disable, true), [""]);
    }
}
