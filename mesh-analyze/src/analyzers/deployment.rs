//! The workload analyzers: Deployments behind Services that disagree on a
//! port's protocol or map one target port to different ports, and
//! applications that run as the proxy's user ID.

use super::util::{go_list, in_mesh, selects};
use super::{Analyzer, Cx, path};
use crate::input::{Entry, kinds};
use crate::message::types;
use mesh_model::diag::FieldPath;
use mesh_model::wire::kube::IntOrString;
use std::collections::BTreeMap;

/// `deployment.MultiServiceAnalyzer`.
pub const MULTI_SERVICE: Analyzer = Analyzer {
    name: "deployment.MultiServiceAnalyzer",
    description: "Checks association between services and pods",
    default: true,
    run: multi_service,
};

/// `applicationUID.Analyzer`.
pub const APPLICATION_UID: Analyzer = Analyzer {
    name: "applicationUID.Analyzer",
    description: "Checks invalid application UID",
    default: true,
    run: application_uid,
};

fn multi_service(cx: &mut Cx<'_>) {
    let inputs = cx.inputs;
    for d in inputs.of(kinds::DEPLOYMENT) {
        if d.labels.get("gateway.istio.io/managed").map(String::as_str)
            == Some("istio.io-mesh-controller")
        {
            continue;
        }
        let Some(spec) = d.workload_spec() else {
            continue;
        };
        let template = &spec.template;
        let labels = template.metadata.labels().clone();
        if !in_mesh(
            inputs,
            template.metadata.annotations(),
            &labels,
            &d.namespace,
            &template.spec.containers,
        ) {
            continue;
        }
        // The Services that select the Deployment's pods.
        let services: Vec<&Entry> = inputs
            .of(kinds::SERVICE)
            .filter(|s| s.namespace == d.namespace)
            .filter(|s| {
                s.service_spec()
                    .and_then(|sp| sp.selector.as_ref())
                    .is_some_and(|sel| !sel.is_empty() && selects(sel, &labels))
            })
            .collect();
        // port → protocol → services.
        let mut ports: BTreeMap<i64, BTreeMap<String, Vec<String>>> = BTreeMap::new();
        // targetPort → port → service.
        let mut targets: BTreeMap<String, BTreeMap<i64, String>> = BTreeMap::new();
        for s in &services {
            let Some(sp) = s.service_spec() else { continue };
            for p in &sp.ports {
                let protocol = p
                    .protocol
                    .clone()
                    .filter(|p| !p.is_empty())
                    .unwrap_or_else(|| "TCP".into());
                ports
                    .entry(p.port)
                    .or_default()
                    .entry(protocol)
                    .or_default()
                    .push(s.full_name());
                let target = match &p.target_port {
                    Some(IntOrString::Int(n)) if *n != 0 => n.to_string(),
                    Some(IntOrString::String(t)) if !t.is_empty() && t != "0" => t.clone(),
                    _ => p.port.to_string(),
                };
                targets
                    .entry(target)
                    .or_default()
                    .insert(p.port, s.full_name());
            }
        }
        for (port, protocols) in &ports {
            if protocols.len() < 2 {
                continue;
            }
            let mut names: Vec<String> = protocols.values().flatten().cloned().collect();
            names.sort();
            cx.report(
                d,
                types::DEPLOYMENT_ASSOCIATED_TO_MULTIPLE_SERVICES,
                format!(
                    "This deployment {} is associated with multiple services using port {port} but different protocols: {}",
                    d.name,
                    go_list(&names)
                ),
                path("metadata.name"),
            );
        }
        for (target, by_port) in &targets {
            if by_port.len() < 2 {
                continue;
            }
            let mut names: Vec<String> = by_port.values().cloned().collect();
            names.sort();
            let numbers: Vec<i64> = by_port.keys().copied().collect();
            cx.report(
                d,
                types::DEPLOYMENT_CONFLICTING_PORTS,
                format!(
                    "This deployment {} is associated with multiple services {} using targetPort {target:?} but different ports: {}.",
                    d.name,
                    go_list(&names),
                    go_list(&numbers)
                ),
                path("metadata.name"),
            );
        }
    }
}

/// Whether the pod spec (as written) runs the pod or an application
/// container as UID 1337 (istioctl reports each once: the messages are
/// the same).
fn runs_as_proxy_uid(spec: Option<&serde_json::Value>) -> bool {
    let Some(spec) = spec else { return false };
    let uid = |v: Option<&serde_json::Value>| {
        v.and_then(|s| s.get("runAsUser"))
            .and_then(serde_json::Value::as_i64)
            == Some(1337)
    };
    uid(spec.get("securityContext"))
        || spec
            .get("containers")
            .and_then(|c| c.as_array())
            .into_iter()
            .flatten()
            .any(|c| {
                let name = c.get("name").and_then(|n| n.as_str()).unwrap_or("");
                name != "istio-proxy" && name != "istio-operator" && uid(c.get("securityContext"))
            })
}

fn application_uid(cx: &mut Cx<'_>) {
    let inputs = cx.inputs;
    let control_plane = |e: &Entry| {
        e.labels.contains_key("istio")
            || e.labels.get("release").map(String::as_str) == Some("istio")
    };
    for p in inputs.of(kinds::POD) {
        if control_plane(p) {
            continue;
        }
        if runs_as_proxy_uid(p.raw.get("spec")) {
            cx.report(
                p,
                types::INVALID_APPLICATION_UID,
                "User ID (UID) 1337 is reserved for the sidecar proxy.",
                FieldPath::root(),
            );
        }
    }
    for d in inputs.of(kinds::DEPLOYMENT) {
        if control_plane(d) {
            continue;
        }
        if runs_as_proxy_uid(d.raw_at(&["spec", "template", "spec"])) {
            cx.report(
                d,
                types::INVALID_APPLICATION_UID,
                "User ID (UID) 1337 is reserved for the sidecar proxy.",
                FieldPath::root(),
            );
        }
    }
}
