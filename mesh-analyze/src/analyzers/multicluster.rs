//! `meshnetworks.MeshNetworksAnalyzer`: network endpoints that name a
//! service registry Istio does not know.

use super::{Analyzer, Cx};
use crate::input::kinds;
use crate::message::types;
use mesh_model::diag::FieldPath;

/// `meshnetworks.MeshNetworksAnalyzer`.
pub const MESH_NETWORKS: Analyzer = Analyzer {
    name: "meshnetworks.MeshNetworksAnalyzer",
    description: "Check the validity of MeshNetworks in the cluster",
    default: true,
    run: mesh_networks,
};

fn mesh_networks(cx: &mut Cx<'_>) {
    let inputs = cx.inputs;
    // Istio's own registries, and the clusters of remote secrets.
    let mut registries: Vec<String> = ["Mock", "Kubernetes", "External"]
        .map(String::from)
        .to_vec();
    for s in inputs.of(kinds::SECRET) {
        if s.labels.get("istio/multiCluster").map(String::as_str) == Some("true") {
            registries.extend(
                s.raw
                    .get("data")
                    .and_then(|d| d.as_object())
                    .into_iter()
                    .flatten()
                    .map(|(k, _)| k.clone()),
            );
        }
    }
    for e in inputs.of(kinds::MESH_NETWORKS) {
        let networks = e.raw.get("networks").and_then(|n| n.as_object());
        for (name, network) in networks.into_iter().flatten() {
            let endpoints = network.get("endpoints").and_then(|e| e.as_array());
            for (j, ep) in endpoints.into_iter().flatten().enumerate() {
                let Some(registry) = ep.get("fromRegistry").and_then(|r| r.as_str()) else {
                    continue;
                };
                if !registries.iter().any(|r| r == registry) {
                    cx.report(
                        e,
                        types::UNKNOWN_MESH_NETWORKS_SERVICE_REGISTRY,
                        format!("Unknown service registry {registry} in network {name}"),
                        FieldPath::root()
                            .field("networks")
                            .field(name.clone())
                            .field("endpoints")
                            .index(j),
                    );
                }
            }
        }
    }
}

/// `services.MultiClusterServiceAnalyzer`.
pub const SERVICES: Analyzer = Analyzer {
    name: "services.MultiClusterServiceAnalyzer",
    description: "Check the validity of services in the multi-cluster environment",
    default: true,
    run: services,
};

fn services(cx: &mut Cx<'_>) {
    use std::collections::{BTreeMap, BTreeSet};
    let inputs = cx.inputs;
    // (namespace, name) → cluster → Service.
    let mut by_name: BTreeMap<(String, String), BTreeMap<String, &crate::input::Entry>> =
        BTreeMap::new();
    for s in inputs.of(kinds::SERVICE) {
        if s.cluster.is_empty() {
            continue;
        }
        by_name
            .entry((s.namespace.clone(), s.name.clone()))
            .or_default()
            .insert(s.cluster.clone(), s);
    }
    for ((ns, name), per_cluster) in &by_name {
        if per_cluster.len() < 2 {
            continue;
        }
        let sorted_ports = |e: &crate::input::Entry| {
            let mut p = e
                .service_spec()
                .map(|s| s.ports.clone())
                .unwrap_or_default();
            p.sort_by(|a, b| a.name.cmp(&b.name));
            p
        };
        let Some((first_cluster, first)) = per_cluster.iter().next() else {
            continue;
        };
        let headless = |e: &crate::input::Entry| {
            e.service_spec().and_then(|s| s.cluster_ip.as_deref()) == Some("None")
        };
        let service_type = |e: &crate::input::Entry| e.service_spec().and_then(|s| s.type_.clone());
        let mut clusters: BTreeSet<String> = BTreeSet::new();
        let mut reasons: BTreeSet<&str> = BTreeSet::new();
        for (c, s) in per_cluster {
            if headless(first) != headless(s) {
                clusters.extend(per_cluster.keys().cloned());
                reasons.insert("service has mixed mode like headless and clusterIP");
            }
            if service_type(first) != service_type(s) {
                clusters.insert(c.clone());
                reasons.insert("service type is inconsistent");
            }
            if sorted_ports(first) != sorted_ports(s) {
                clusters.insert(c.clone());
                reasons.insert("service ports are inconsistent");
            }
        }
        if clusters.is_empty() {
            continue;
        }
        clusters.insert(first_cluster.clone());
        let quoted: Vec<String> = clusters.iter().map(|c| format!("{c:?}")).collect();
        cx.report(
            first,
            types::MULTI_CLUSTER_INCONSISTENT_SERVICE,
            format!(
                "The service {name} in namespace {ns:?} is inconsistent across clusters [{}], which can lead to undefined behaviors. The inconsistent behaviors are: {}.",
                quoted.join(" "),
                reasons.into_iter().collect::<Vec<_>>().join("; ")
            ),
            FieldPath::root(),
        );
    }
}
