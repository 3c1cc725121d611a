//! Endpoints (EDS): ClusterLoadAssignments grouped by locality, each
//! endpoint labelled for auto mTLS (DR-9) as Istio labels it.

use crate::util::{metadata, socket_address, string_value, u32v};
use envoy_types::pb::envoy::config::core::v3::Locality;
use envoy_types::pb::envoy::config::endpoint::v3::{
    ClusterLoadAssignment, Endpoint, LbEndpoint, LocalityLbEndpoints, lb_endpoint::HostIdentifier,
};
use std::collections::BTreeMap;

/// One endpoint of a cluster.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EndpointSpec {
    /// IP address (or host name for DNS clusters).
    pub address: String,
    /// Port.
    pub port: u16,
    /// `region/zone/subzone`.
    pub locality: Option<String>,
    /// Whether the endpoint runs an Istio sidecar that accepts mTLS
    /// (`tlsMode=istio`).
    pub istio_mtls: bool,
    /// Load-balancing weight.
    pub weight: Option<u32>,
    /// `name;namespace;…` workload metadata for telemetry, if known.
    pub workload: Option<String>,
}

fn locality(s: &str) -> Locality {
    let mut parts = s.splitn(3, '/');
    Locality {
        region: parts.next().unwrap_or("").to_string(),
        zone: parts.next().unwrap_or("").to_string(),
        sub_zone: parts.next().unwrap_or("").to_string(),
    }
}

/// The load assignment of `cluster`, endpoints grouped by locality (sorted,
/// so equal inputs give equal output).
pub fn assignment(cluster: &str, endpoints: &[EndpointSpec]) -> ClusterLoadAssignment {
    let mut by_locality: BTreeMap<String, Vec<&EndpointSpec>> = BTreeMap::new();
    for e in endpoints {
        by_locality
            .entry(e.locality.clone().unwrap_or_default())
            .or_default()
            .push(e);
    }
    let mut groups = Vec::new();
    for (loc, mut eps) in by_locality {
        eps.sort_by(|a, b| (&a.address, a.port).cmp(&(&b.address, b.port)));
        let weight: u32 = eps.iter().map(|e| e.weight.unwrap_or(1)).sum();
        groups.push(LocalityLbEndpoints {
            locality: (!loc.is_empty()).then(|| locality(&loc)),
            load_balancing_weight: Some(u32v(weight)),
            lb_endpoints: eps
                .into_iter()
                .map(|e| {
                    let mut fields = vec![];
                    if e.istio_mtls {
                        fields.push(("tlsMode", string_value("istio")));
                    }
                    let mut md = metadata("envoy.transport_socket_match", fields);
                    if let Some(wl) = &e.workload {
                        md.filter_metadata.extend(
                            metadata("istio", vec![("workload", string_value(wl.clone()))])
                                .filter_metadata,
                        );
                    }
                    LbEndpoint {
                        host_identifier: Some(HostIdentifier::Endpoint(Endpoint {
                            address: Some(match e.address.strip_prefix("unix://") {
                                Some(path) => pipe_address(path),
                                None => socket_address(&e.address, e.port),
                            }),
                            ..Default::default()
                        })),
                        metadata: Some(md),
                        load_balancing_weight: Some(u32v(e.weight.unwrap_or(1))),
                        ..Default::default()
                    }
                })
                .collect(),
            ..Default::default()
        });
    }
    ClusterLoadAssignment {
        cluster_name: cluster.to_string(),
        endpoints: groups,
        ..Default::default()
    }
}

/// A Unix domain socket address (`unix:///path` endpoints).
fn pipe_address(path: &str) -> envoy_types::pb::envoy::config::core::v3::Address {
    use envoy_types::pb::envoy::config::core::v3::{Address, Pipe, address};
    Address {
        address: Some(address::Address::Pipe(Pipe {
            path: path.to_string(),
            mode: 0,
        })),
    }
}

/// A load assignment of one plaintext endpoint.
pub fn single(cluster: &str, address: &str, port: u16) -> ClusterLoadAssignment {
    assignment(
        cluster,
        &[EndpointSpec {
            address: address.to_string(),
            port,
            locality: None,
            istio_mtls: false,
            weight: None,
            workload: None,
        }],
    )
}
