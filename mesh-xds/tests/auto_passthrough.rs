//! GW-7 `AUTO_PASSTHROUGH`: the east-west gateway of Istio's multicluster
//! sample (`samples/multicluster/expose-services.yaml`) routes an Istio
//! client's mTLS connection, still encrypted, by the SNI it sends
//! (`outbound_.<port>_.<subset>_.<host>`) to the SNI-DNAT cluster of that
//! name. What is expected is what Istio's `builtAutoPassthroughFilterChains`
//! and `buildOutboundSniDnatClusters` build: one chain per service port and
//! subset within the server's hosts, matching the SNI and Istio's mTLS
//! ALPNs; one cluster per port and subset of every non-external service,
//! without upstream TLS; no chain or cluster for external services or UDP
//! ports.

// The test reads the Istio corpus from disk.
#![allow(clippy::disallowed_methods)]

mod common;

use envoy_types::pb::envoy::config::cluster::v3::Cluster;
use envoy_types::pb::envoy::config::listener::v3::{FilterChain, filter};
use envoy_types::pb::envoy::extensions::filters::network::tcp_proxy::v3::{
    TcpProxy, tcp_proxy::ClusterSpecifier,
};
use mesh_model::{LoadOptions, load};
use mesh_xds::proxy::Proxy;
use mesh_xds::resources::Resources;
use mesh_xds::{CompileOptions, Compiler};
use prost::Message;

/// The services behind the gateway.
const MESH: &str = include_str!("data/east-west-mesh.yaml");

const ALPNS: [&str; 5] = [
    "istio",
    "istio-peer-exchange",
    "istio-http/1.0",
    "istio-http/1.1",
    "istio-h2",
];

fn compile_east_west() -> Option<(Resources, Resources)> {
    let dir = common::istio_corpus()?;
    let sample = "samples/multicluster/expose-services.yaml";
    let gateway = std::fs::read_to_string(dir.join(sample)).unwrap();
    let loaded = load(
        &[(sample, gateway.as_str()), ("mesh.yaml", MESH)],
        &LoadOptions::default(),
    );
    assert!(!loaded.has_errors(), "{:?}", loaded.diagnostics);
    let compiler = Compiler::new(&loaded.snapshot, CompileOptions::default());
    let labels = [("istio".to_string(), "eastwestgateway".to_string())].into();
    let gw = compiler.compile(&Proxy::router("istio-system", labels, "eastwestgateway"));
    let sidecar = compiler.compile(&Proxy::sidecar("bookinfo", Default::default(), "default"));
    Some((gw, sidecar))
}

fn tcp_proxy(chain: &FilterChain) -> TcpProxy {
    let Some(filter::ConfigType::TypedConfig(a)) = &chain.filters[0].config_type else {
        panic!("no typed config")
    };
    TcpProxy::decode(a.value.as_slice()).unwrap()
}

fn cluster<'r>(r: &'r Resources, name: &str) -> &'r Cluster {
    r.clusters
        .iter()
        .find(|c| c.name == name)
        .unwrap_or_else(|| panic!("no cluster {name}"))
}

/// GW-7: one SNI- and ALPN-matched chain per service port and subset within
/// the server's `*.local`, each forwarding to the cluster its SNI names.
#[test]
fn auto_passthrough_chains_route_by_the_sni_istio_clients_send() {
    let Some((gw, _)) = compile_east_west() else {
        return;
    };
    let listener = gw
        .listeners
        .iter()
        .find(|l| l.name == "0.0.0.0_15443")
        .expect("a listener on the server port");
    assert!(
        listener
            .listener_filters
            .iter()
            .any(|f| f.name == "envoy.filters.listener.tls_inspector"),
        "SNI and ALPN are read by the TLS inspector"
    );
    let mut seen = Vec::new();
    for chain in &listener.filter_chains {
        let m = chain.filter_chain_match.as_ref().expect("a match");
        assert_eq!(m.application_protocols, ALPNS);
        assert!(chain.transport_socket.is_none(), "TLS passes through");
        let [sni] = m.server_names.as_slice() else {
            panic!("one SNI per chain: {:?}", m.server_names)
        };
        let tp = tcp_proxy(chain);
        assert_eq!(
            tp.cluster_specifier,
            Some(ClusterSpecifier::Cluster(sni.clone()))
        );
        assert_eq!(&tp.stat_prefix, sni);
        seen.push(sni.as_str());
    }
    seen.sort_unstable();
    // Not payments.example.com (outside `*.local`), not the external
    // search.global.local, not the UDP port.
    assert_eq!(
        seen,
        [
            "outbound_.9080_._.reviews.bookinfo.svc.cluster.local",
            "outbound_.9080_.v1_.reviews.bookinfo.svc.cluster.local",
        ]
    );
}

/// GW-7: SNI-DNAT clusters for every port but UDP and every subset of each
/// non-external service, the outbound cluster without upstream TLS, with
/// endpoints under their own name; a sidecar has none.
#[test]
fn sni_dnat_clusters_forward_without_tls() {
    let Some((gw, sidecar)) = compile_east_west() else {
        return;
    };
    let mut dnat: Vec<&str> = gw
        .clusters
        .iter()
        .map(|c| c.name.as_str())
        .filter(|n| n.starts_with("outbound_."))
        .collect();
    dnat.sort_unstable();
    assert_eq!(
        dnat,
        [
            "outbound_.8443_._.payments.example.com",
            "outbound_.9080_._.reviews.bookinfo.svc.cluster.local",
            "outbound_.9080_.v1_.reviews.bookinfo.svc.cluster.local",
        ]
    );
    for name in &dnat {
        let c = cluster(&gw, name);
        assert!(c.transport_socket.is_none(), "{name}");
        assert!(c.transport_socket_matches.is_empty(), "{name}");
    }
    // The outbound cluster of the same port keeps its auto-mTLS.
    let outbound = cluster(&gw, "outbound|9080|v1|reviews.bookinfo.svc.cluster.local");
    assert!(!outbound.transport_socket_matches.is_empty() || outbound.transport_socket.is_some());
    // EDS under the SNI-DNAT name, with the subset's endpoints that accept
    // Istio mTLS only (`EndpointsWithMTLSFilter`): not the pod without a
    // sidecar, which the outbound cluster of the same subset keeps.
    let dnat_v1 = "outbound_.9080_.v1_.reviews.bookinfo.svc.cluster.local";
    assert_eq!(
        cluster(&gw, dnat_v1)
            .eds_cluster_config
            .as_ref()
            .map(|e| e.service_name.as_str()),
        Some(dnat_v1)
    );
    let addresses = |name: &str| -> Vec<String> {
        let cla = gw
            .endpoints
            .iter()
            .find(|e| e.cluster_name == name)
            .unwrap_or_else(|| panic!("no endpoints for {name}"));
        let mut v: Vec<String> = cla
            .endpoints
            .iter()
            .flat_map(|l| &l.lb_endpoints)
            .map(|e| format!("{e:?}"))
            .collect();
        v.sort();
        v
    };
    let dnat = addresses(dnat_v1);
    assert!(dnat.len() == 1 && dnat[0].contains("10.1.0.7"), "{dnat:?}");
    let plain = addresses("outbound|9080|v1|reviews.bookinfo.svc.cluster.local");
    assert!(plain.len() == 2, "{plain:?}");
    assert!(plain.iter().any(|a| a.contains("10.1.0.8")), "{plain:?}");
    assert!(
        !sidecar
            .clusters
            .iter()
            .any(|c| c.name.starts_with("outbound_.")),
        "only an AUTO_PASSTHROUGH gateway has SNI-DNAT clusters"
    );
}
