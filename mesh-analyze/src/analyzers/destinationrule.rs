//! The DestinationRule analyzers: client TLS without CA certificates, and
//! subsets that select no pod.

use super::util::{destination_host, selects, service_host_map};
use super::{Analyzer, Cx, path};
use crate::input::{Entry, kinds};
use crate::message::types;
use mesh_model::diag::FieldPath;
use mesh_model::labels::Labels;
use mesh_model::resource::IstioKind;
use mesh_model::wire::networking::{ClientTlsMode, ClientTlsSettings};

/// `destinationrule.CaCertificateAnalyzer`.
pub const CA_CERTIFICATE: Analyzer = Analyzer {
    name: "destinationrule.CaCertificateAnalyzer",
    description: "Checks if caCertificates is set when TLS mode is SIMPLE/MUTUAL",
    default: true,
    run: ca_certificates,
};

/// `destinationrule.SubsetSelectPodAnalyzer`.
pub const SUBSET_SELECT_POD: Analyzer = Analyzer {
    name: "destinationrule.SubsetSelectPodAnalyzer",
    description: "Checks if pods are selected by subsets in destination rules.",
    default: true,
    run: subsets_select_pods,
};

/// The mode, when it verifies the server (`SIMPLE`, `MUTUAL`) and no CA
/// is given (a credential on a selector DR carries its own).
fn unverified(tls: Option<&ClientTlsSettings>, has_selector: bool) -> Option<ClientTlsMode> {
    let tls = tls?;
    let mode = tls.mode?;
    if !matches!(mode, ClientTlsMode::Simple | ClientTlsMode::Mutual) {
        return None;
    }
    let no_ca = tls.ca_certificates.as_deref().unwrap_or("").is_empty();
    let credential = !tls.credential_name.as_deref().unwrap_or("").is_empty();
    (no_ca && !(credential && has_selector)).then_some(mode)
}

fn ca_certificates(cx: &mut Cx<'_>) {
    let inputs = cx.inputs;
    for e in inputs.istio(IstioKind::DestinationRule) {
        let Some(dr) = e.destination_rule() else {
            continue;
        };
        let selector = dr.workload_selector.is_some();
        let host = dr.host.as_deref().unwrap_or("");
        let tp = dr.traffic_policy.as_ref();
        if let Some(mode) = unverified(tp.and_then(|t| t.tls.as_ref()), selector) {
            cx.report(
                e,
                types::NO_SERVER_CERTIFICATE_VERIFICATION_DESTINATION_LEVEL,
                format!(
                    "DestinationRule {} in namespace {} has TLS mode set to {} but no caCertificates are set to validate server identity for host: {host}",
                    e.full_name(),
                    e.namespace,
                    mode.as_str()
                ),
                path("spec.trafficPolicy.tls.caCertificates"),
            );
        }
        let ports = tp
            .and_then(|t| t.port_level_settings.as_deref())
            .unwrap_or_default();
        for (i, p) in ports.iter().enumerate() {
            if let Some(mode) = unverified(p.tls.as_ref(), selector) {
                let port = p
                    .port
                    .as_ref()
                    .map(|p| format!("number:{}", p.number.unwrap_or(0)))
                    .unwrap_or_default();
                cx.report(
                    e,
                    types::NO_SERVER_CERTIFICATE_VERIFICATION_PORT_LEVEL,
                    format!(
                        "DestinationRule {} in namespace {} has TLS mode set to {} but no caCertificates are set to validate server identity for host: {host} at port {port}",
                        e.full_name(),
                        e.namespace,
                        mode.as_str()
                    ),
                    path(&format!(
                        "spec.trafficPolicy.portLevelSettings[{i}].tls.caCertificates"
                    )),
                );
            }
        }
    }
}

/// A pod's labels as the registry sees them: with the topology labels of
/// its node (region, zone, subzone) and its node name (pilot's
/// `AugmentLabels`).
fn augmented_labels(pod: &Entry, nodes: &[&Entry]) -> Labels {
    let mut labels = pod.labels.clone();
    let node_name = pod
        .pod_spec()
        .and_then(|s| s.node_name.clone())
        .unwrap_or_default();
    if let Some(node) = nodes
        .iter()
        .find(|n| !node_name.is_empty() && n.name == node_name)
    {
        let get = |k: &str| node.labels.get(k).cloned().unwrap_or_default();
        let (region, zone, subzone) = (
            get("topology.kubernetes.io/region"),
            get("topology.kubernetes.io/zone"),
            get("topology.istio.io/subzone"),
        );
        // pilot's LocalityToString, then SplitLocalityLabel.
        let mut locality = region;
        if !zone.is_empty() {
            locality = format!("{locality}/{zone}");
            if !subzone.is_empty() {
                locality = format!("{locality}/{subzone}");
            }
        }
        let parts: Vec<&str> = locality.split('/').collect();
        let keys = [
            "topology.kubernetes.io/region",
            "topology.kubernetes.io/zone",
            "topology.istio.io/subzone",
        ];
        for (k, v) in keys.iter().zip(parts) {
            if !v.is_empty() {
                labels.insert((*k).to_string(), v.to_string());
            }
        }
    }
    if !node_name.is_empty() {
        labels.insert("kubernetes.io/hostname".into(), node_name);
    }
    labels
}

fn subsets_select_pods(cx: &mut Cx<'_>) {
    let inputs = cx.inputs;
    let services = service_host_map(inputs);
    let nodes: Vec<&Entry> = inputs.of(kinds::NODE).collect();
    let pods: Vec<Labels> = inputs
        .of(kinds::POD)
        .map(|p| augmented_labels(p, &nodes))
        .collect();
    for e in inputs.istio(IstioKind::DestinationRule) {
        let Some(dr) = e.destination_rule() else {
            continue;
        };
        let host = dr.host.as_deref().unwrap_or("");
        let export_to = dr.export_to.clone().unwrap_or_default();
        let Some(service) = destination_host(&e.namespace, &export_to, host, &services) else {
            cx.report(
                e,
                types::UNKNOWN_DESTINATION_RULE_HOST,
                format!(
                    "The host {host} defined in the DestinationRule does not match any services in the mesh."
                ),
                FieldPath::root(),
            );
            continue;
        };
        for subset in dr.subsets.as_deref().unwrap_or_default() {
            let mut selector = service.workload_selector.clone();
            selector.extend(subset.labels.clone().unwrap_or_default());
            if !pods.iter().any(|l| selects(&selector, l)) {
                cx.report(
                    e,
                    types::DESTINATION_RULE_SUBSET_NOT_SELECT_PODS,
                    format!(
                        "The Subset {} defined in the DestinationRule does not select any pods. Which may lead to 503 UH (NoHealthyUpstream).",
                        subset.name.as_deref().unwrap_or("")
                    ),
                    FieldPath::root(),
                );
            }
        }
    }
}
