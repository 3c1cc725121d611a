//! `deprecation.DeprecationAnalyzer`: deprecated fields and removed Istio
//! types.

use super::{Analyzer, Cx, path};
use crate::input::kinds;
use crate::message::types;
use mesh_model::diag::FieldPath;
use mesh_model::resource::IstioKind;

/// `deprecation.DeprecationAnalyzer`.
pub const DEPRECATION: Analyzer = Analyzer {
    name: "deprecation.DeprecationAnalyzer",
    description: "Checks for deprecated Istio types and fields",
    default: true,
    run: deprecation,
};

/// Istio CRDs that no longer exist.
const REMOVED_CRDS: &[(&str, &str)] = &[
    ("rbac.istio.io", "ClusterRbacConfig"),
    ("rbac.istio.io", "RbacConfig"),
    ("rbac.istio.io", "ServiceRole"),
    ("rbac.istio.io", "ServiceRoleBinding"),
];

fn deprecation(cx: &mut Cx<'_>) {
    let inputs = cx.inputs;
    for e in inputs.istio(IstioKind::VirtualService) {
        let Some(vs) = e.virtual_service() else {
            continue;
        };
        for (i, r) in vs.http.as_deref().unwrap_or_default().iter().enumerate() {
            let percent = r
                .fault
                .as_ref()
                .and_then(|f| f.delay.as_ref())
                .and_then(|d| d.percent)
                .unwrap_or(0);
            if percent > 0 {
                cx.report(
                    e,
                    types::DEPRECATED,
                    "Deprecated: HTTPRoute.fault.delay.percent is deprecated; use HTTPRoute.fault.delay.percentage",
                    path(&format!("spec.http[{i}].fault.delay.percent")),
                );
            }
        }
    }
    for e in inputs.istio(IstioKind::Sidecar) {
        let Some(sc) = e.sidecar() else { continue };
        if sc
            .outbound_traffic_policy
            .as_ref()
            .is_some_and(|o| o.egress_proxy.is_some())
        {
            cx.report(
                e,
                types::DEPRECATED,
                "Deprecated: OutboundTrafficPolicy.EgressProxy ignored",
                path("spec.outboundTrafficPolicy.egressProxy"),
            );
        }
    }
    for e in inputs.of(kinds::CRD) {
        let group = e
            .raw_at(&["spec", "group"])
            .and_then(|v| v.as_str())
            .unwrap_or("");
        let kind = e
            .raw_at(&["spec", "names", "kind"])
            .and_then(|v| v.as_str())
            .unwrap_or("");
        if REMOVED_CRDS.contains(&(group, kind)) {
            cx.report(
                e,
                types::DEPRECATED,
                format!("Deprecated: Custom resource type {group} {kind} is removed"),
                FieldPath::root(),
            );
        }
    }
}
