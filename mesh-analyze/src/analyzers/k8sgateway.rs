//! The Kubernetes Gateway API analyzers: policy selectors that select
//! gateway pods (ignored there: such policies attach by `targetRefs`), and
//! Gateway API CRDs older than Istio requires.

use super::{Analyzer, Cx};
use crate::input::kinds;
use crate::message::types;
use mesh_model::diag::FieldPath;
use mesh_model::resource::IstioKind;

/// `k8sgateway.SelectorAnalyzer`.
pub const SELECTOR: Analyzer = Analyzer {
    name: "k8sgateway.SelectorAnalyzer",
    description: "Check that selectors are effective for Kubernetes gateway",
    default: true,
    run: selectors,
};

/// `k8sgateway.CRDVersionAnalyzer`.
pub const CRD_VERSION: Analyzer = Analyzer {
    name: "k8sgateway.CRDVersionAnalyzer",
    description: "Checks Gateway API CRDs are at the minimum version required by this Istio version",
    default: true,
    run: crd_versions,
};

/// The label a Gateway API deployment puts on its pods.
const GATEWAY_NAME_LABEL: &str = "gateway.networking.k8s.io/gateway-name";

fn selectors(cx: &mut Cx<'_>) {
    let inputs = cx.inputs;
    for kind in [
        IstioKind::AuthorizationPolicy,
        IstioKind::RequestAuthentication,
        IstioKind::Telemetry,
        IstioKind::WasmPlugin,
    ] {
        for e in inputs.istio(kind) {
            let spec = e.raw.get("spec");
            if spec
                .and_then(|s| s.get("targetRef"))
                .is_some_and(|t| !t.is_null())
            {
                continue;
            }
            let Some(sel) = spec
                .and_then(|s| s.get("selector"))
                .filter(|s| !s.is_null())
            else {
                continue;
            };
            let match_labels: Vec<(String, String)> = sel
                .get("matchLabels")
                .and_then(|m| m.as_object())
                .into_iter()
                .flatten()
                .map(|(k, v)| (k.clone(), v.as_str().unwrap_or("").to_string()))
                .collect();
            for pod in inputs.of(kinds::POD) {
                if pod.namespace != e.namespace {
                    continue;
                }
                let Some(gateway) = pod.labels.get(GATEWAY_NAME_LABEL) else {
                    continue;
                };
                if match_labels
                    .iter()
                    .all(|(k, v)| pod.labels.get(k) == Some(v))
                {
                    cx.report(
                        e,
                        types::INEFFECTIVE_SELECTOR,
                        format!("Ineffective selector on Kubernetes Gateway {gateway}. Use the TargetRef field instead."),
                        FieldPath::root(),
                    );
                }
            }
        }
    }
}

/// The minimum Gateway API bundle version per CRD.
const MINIMUM: &[(&str, (u64, u64, u64))] = &[
    ("grpcroutes.gateway.networking.k8s.io", (1, 1, 0)),
    ("backendtlspolicies.gateway.networking.k8s.io", (1, 4, 0)),
    ("tlsroutes.gateway.networking.k8s.io", (1, 5, 0)),
    ("tcproutes.gateway.networking.k8s.io", (1, 6, 0)),
];

/// A semantic version (`v1.4.1`, `1.4`, `1.5.0-rc.1`): the numbers and the
/// pre-release, as written.
fn semver(s: &str) -> Option<((u64, u64, u64), String)> {
    let s = s.strip_prefix('v').unwrap_or(s);
    let s = s.split_once('+').map_or(s, |(v, _)| v);
    let (core, pre) = s.split_once('-').map_or((s, ""), |(c, p)| (c, p));
    let mut parts = core.split('.');
    let mut n = [0u64; 3];
    for (i, slot) in n.iter_mut().enumerate() {
        match parts.next() {
            Some(p) => *slot = p.parse().ok()?,
            None if i > 0 => break,
            None => return None,
        }
    }
    if parts.next().is_some() {
        return None;
    }
    Some(((n[0], n[1], n[2]), pre.to_string()))
}

fn crd_versions(cx: &mut Cx<'_>) {
    let inputs = cx.inputs;
    for e in inputs.of(kinds::CRD) {
        let Some((_, minimum)) = MINIMUM.iter().find(|(n, _)| *n == e.name) else {
            continue;
        };
        let Some(bundle) = e
            .annotations
            .get("gateway.networking.k8s.io/bundle-version")
        else {
            continue;
        };
        let Some((installed, pre)) = semver(bundle) else {
            continue;
        };
        if installed < *minimum {
            let shown = if pre.is_empty() {
                format!("{}.{}.{}", installed.0, installed.1, installed.2)
            } else {
                format!("{}.{}.{}-{pre}", installed.0, installed.1, installed.2)
            };
            cx.report(
                e,
                types::GATEWAY_API_CRD_VERSION_BELOW_MINIMUM,
                format!(
                    "Gateway API CRD {:?} is at version {shown:?} but Istio requires at least {:?}; resources of this kind will not be processed. Upgrade the Gateway API CRDs to satisfy the minimum version.",
                    e.name,
                    format!("{}.{}.{}", minimum.0, minimum.1, minimum.2)
                ),
                FieldPath::root(),
            );
        }
    }
}
