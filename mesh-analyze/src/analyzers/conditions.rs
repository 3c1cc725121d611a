//! `conditions.ConditionAnalyzer`: status conditions that report a
//! problem (a waypoint not bound, a policy not accepted, a Gateway API
//! object not accepted, programmed or resolved).

use super::{Analyzer, Cx};
use crate::input::{GroupKind, kinds};
use crate::message::types;
use mesh_model::diag::FieldPath;
use mesh_model::resource::IstioKind;

/// `conditions.ConditionAnalyzer`.
pub const CONDITIONS: Analyzer = Analyzer {
    name: "conditions.ConditionAnalyzer",
    description: "Checks for negative status conditions on resources",
    default: true,
    run: conditions,
};

/// Per kind, the condition types whose `False` status is a problem.
fn negative(gk: GroupKind) -> &'static [&'static str] {
    if gk == kinds::SERVICE
        || gk == kinds::istio(IstioKind::ServiceEntry)
        || gk == kinds::istio(IstioKind::WorkloadEntry)
    {
        &["istio.io/WaypointBound"]
    } else if gk == kinds::istio(IstioKind::AuthorizationPolicy) {
        &["ZtunnelAccepted", "WaypointAccepted"]
    } else if gk == kinds::K8S_GATEWAY || gk == kinds::HTTP_ROUTE || gk == kinds::GRPC_ROUTE {
        &["Accepted", "Programmed", "ResolvedRefs"]
    } else {
        &[]
    }
}

fn conditions(cx: &mut Cx<'_>) {
    let inputs = cx.inputs;
    let checked = [
        kinds::SERVICE,
        kinds::istio(IstioKind::ServiceEntry),
        kinds::istio(IstioKind::WorkloadEntry),
        kinds::istio(IstioKind::AuthorizationPolicy),
        kinds::K8S_GATEWAY,
        kinds::HTTP_ROUTE,
        kinds::GRPC_ROUTE,
    ];
    for gk in checked {
        let route = gk == kinds::HTTP_ROUTE || gk == kinds::GRPC_ROUTE;
        for e in inputs.of(gk) {
            let Some(status) = e.status() else { continue };
            let list: Vec<&serde_json::Value> = if route {
                status
                    .get("parents")
                    .and_then(|p| p.as_array())
                    .into_iter()
                    .flatten()
                    .flat_map(|p| {
                        p.get("conditions")
                            .and_then(|c| c.as_array())
                            .into_iter()
                            .flatten()
                    })
                    .collect()
            } else {
                status
                    .get("conditions")
                    .and_then(|c| c.as_array())
                    .into_iter()
                    .flatten()
                    .collect()
            };
            for c in list {
                let s = |k: &str| c.get(k).and_then(|v| v.as_str()).unwrap_or("");
                let (ty, st, reason, message) = (s("type"), s("status"), s("reason"), s("message"));
                let partially_invalid = gk == kinds::istio(IstioKind::AuthorizationPolicy)
                    && ty == "WaypointAccepted"
                    && reason == "PartiallyInvalid";
                let text = format!(
                    "A condition with a negative status is present: type={ty}, reason={reason}, message={message}."
                );
                if st == "False" && negative(gk).contains(&ty) {
                    cx.report(
                        e,
                        types::NEGATIVE_CONDITION_STATUS,
                        text.clone(),
                        FieldPath::root(),
                    );
                }
                if partially_invalid {
                    cx.report(e, types::NEGATIVE_CONDITION_STATUS, text, FieldPath::root());
                }
            }
        }
    }
}
