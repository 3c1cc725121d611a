//! The security analyzers: JWKS fetch restrictions on istiod, and
//! AuthorizationPolicies that select nothing or name unknown namespaces.

use super::util::{pod_in_ambient, pod_in_mesh, selector_string, selects};
use super::{Analyzer, Cx, path};
use crate::input::kinds;
use crate::message::types;
use mesh_model::diag::FieldPath;
use mesh_model::labels::Labels;
use mesh_model::resource::IstioKind;
use std::collections::BTreeMap;

/// `authn.BlockedCIDRsAnalyzer`.
pub const BLOCKED_CIDRS: Analyzer = Analyzer {
    name: "authn.BlockedCIDRsAnalyzer",
    description: "Checks that BLOCKED_CIDRS_IN_JWKS_URIS is configured on istiod when RequestAuthentication resources exist",
    default: true,
    run: blocked_cidrs,
};

/// `auth.AuthorizationPoliciesAnalyzer`.
pub const AUTHORIZATION_POLICIES: Analyzer = Analyzer {
    name: "auth.AuthorizationPoliciesAnalyzer",
    description: "Checks the validity of authorization policies",
    default: true,
    run: authorization_policies,
};

fn blocked_cidrs(cx: &mut Cx<'_>) {
    let inputs = cx.inputs;
    let names: Vec<String> = inputs
        .istio(IstioKind::RequestAuthentication)
        .map(|e| e.full_name())
        .collect();
    if names.is_empty() {
        return;
    }
    for d in inputs.of(kinds::DEPLOYMENT) {
        if d.labels.get("app").map(String::as_str) != Some("istiod") {
            continue;
        }
        let containers = d
            .raw_at(&["spec", "template", "spec", "containers"])
            .and_then(|c| c.as_array())
            .cloned()
            .unwrap_or_default();
        let configured = containers.iter().any(|c| {
            c.get("env")
                .and_then(|e| e.as_array())
                .into_iter()
                .flatten()
                .any(|e| {
                    e.get("name").and_then(|n| n.as_str()) == Some("BLOCKED_CIDRS_IN_JWKS_URIS")
                        && e.get("value")
                            .and_then(|v| v.as_str())
                            .is_some_and(|v| !v.is_empty())
                })
        });
        if configured {
            continue;
        }
        let shown = if names.len() <= 5 {
            names.join(", ")
        } else {
            format!("{}, and {} more", names[..5].join(", "), names.len() - 5)
        };
        cx.report(
            d,
            types::JWKS_URI_FETCH_UNRESTRICTED,
            format!(
                "BLOCKED_CIDRS_IN_JWKS_URIS is not configured but {} RequestAuthentication resource(s) exist ({shown}). Consider configuring it to restrict JWKS URI fetches to trusted networks.",
                names.len()
            ),
            FieldPath::root(),
        );
    }
}

/// Istio's namespace pattern: `*`, `*suffix`, `prefix*`, or a name (case
/// does not matter).
fn namespace_match(ns: &str, pattern: &str) -> bool {
    if pattern == "*" {
        return true;
    }
    if let Some(suffix) = pattern.strip_prefix('*') {
        return ns.ends_with(suffix);
    }
    if let Some(prefix) = pattern.strip_suffix('*') {
        return ns.starts_with(prefix);
    }
    ns.eq_ignore_ascii_case(pattern)
}

fn no_workloads(sel: &Labels) -> String {
    format!(
        "No matching workloads for this resource with the following labels: {}",
        selector_string(sel)
    )
}

fn authorization_policies(cx: &mut Cx<'_>) {
    let inputs = cx.inputs;
    // Namespace → the labels of its pods in the mesh (ambient pods count).
    let mut pods: BTreeMap<String, Vec<Labels>> = BTreeMap::new();
    for p in inputs.of(kinds::POD) {
        let list = pods.entry(p.namespace.clone()).or_default();
        if pod_in_mesh(inputs, p) {
            list.push(p.labels.clone());
        }
        if pod_in_ambient(p) {
            list.push(p.labels.clone());
        }
    }
    let root = inputs.root_namespace().to_string();
    let namespaces: Vec<&str> = inputs
        .of(kinds::NAMESPACE)
        .map(|n| n.name.as_str())
        .collect();
    for e in inputs.istio(IstioKind::AuthorizationPolicy) {
        let Some(ap) = e.authorization_policy() else {
            continue;
        };
        let selector: Option<Labels> = ap
            .selector
            .as_ref()
            .map(|s| s.match_labels.clone().unwrap_or_default());
        if e.namespace == root {
            if let Some(sel) = &selector
                && !pods.values().flatten().any(|l| selects(sel, l))
            {
                let text = no_workloads(sel);
                cx.report(
                    e,
                    types::NO_MATCHING_WORKLOADS_FOUND,
                    text,
                    FieldPath::root(),
                );
            }
        } else {
            match &selector {
                None => {
                    if pods.get(&e.namespace).is_none_or(Vec::is_empty) {
                        let text = no_workloads(&Labels::new());
                        cx.report(
                            e,
                            types::NO_MATCHING_WORKLOADS_FOUND,
                            text,
                            FieldPath::root(),
                        );
                    }
                }
                Some(sel) => {
                    let found = pods
                        .get(&e.namespace)
                        .is_some_and(|l| l.iter().any(|l| selects(sel, l)));
                    if !found {
                        let text = no_workloads(sel);
                        cx.report(
                            e,
                            types::NO_MATCHING_WORKLOADS_FOUND,
                            text,
                            FieldPath::root(),
                        );
                    }
                }
            }
        }
        for (i, rule) in ap.rules.as_deref().unwrap_or_default().iter().enumerate() {
            for (j, from) in rule.from.as_deref().unwrap_or_default().iter().enumerate() {
                let Some(src) = &from.source else { continue };
                let positive = src.namespaces.as_deref().unwrap_or_default();
                let negative = src.not_namespaces.as_deref().unwrap_or_default();
                for (k, ns) in positive.iter().chain(negative).enumerate() {
                    if namespaces.iter().any(|n| namespace_match(n, ns)) {
                        continue;
                    }
                    // Istio points at `namespaces[k]` for both lists.
                    let index = if k >= positive.len() {
                        k - positive.len()
                    } else {
                        k
                    };
                    cx.report(
                        e,
                        types::REFERENCED_RESOURCE_NOT_FOUND,
                        format!("Referenced namespace not found: {ns:?}"),
                        path(&format!(
                            "spec.rules[{i}].from[{j}].source.namespaces[{index}]"
                        )),
                    );
                }
            }
        }
    }
}
