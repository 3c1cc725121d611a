//! `sidecar.SelectorAnalyzer`: Sidecars whose selector selects no pod,
//! Sidecars that select the same pod, several selector-less Sidecars in a
//! namespace, and Sidecars without effect in ambient mode.

use super::util::{first_label, namespace_in_ambient, pod_in_ambient, selector_string, selects};
use super::{Analyzer, Cx, path};
use crate::input::{Entry, kinds};
use crate::message::types;
use mesh_model::diag::FieldPath;
use mesh_model::resource::IstioKind;
use std::collections::{BTreeMap, BTreeSet};

/// `sidecar.SelectorAnalyzer`.
pub const SELECTOR: Analyzer = Analyzer {
    name: "sidecar.SelectorAnalyzer",
    description: "Validates that sidecars that define a workload selector match at least one pod, and that there aren't multiple sidecar resources that select overlapping pods",
    default: true,
    run: selectors,
};

fn names(list: &[&Entry]) -> String {
    let mut n: Vec<&str> = list.iter().map(|e| e.name.as_str()).collect();
    n.sort_unstable();
    super::util::go_list(&n)
}

fn selectors(cx: &mut Cx<'_>) {
    let inputs = cx.inputs;
    let mut pods_to_sidecars: BTreeMap<(String, String), Vec<&Entry>> = BTreeMap::new();
    let mut pods: BTreeMap<(String, String), &Entry> = BTreeMap::new();
    let mut namespace_scoped: BTreeMap<String, Vec<&Entry>> = BTreeMap::new();
    for s in inputs.istio(IstioKind::Sidecar) {
        let Some(spec) = s.sidecar() else { continue };
        let sel = spec
            .workload_selector
            .as_ref()
            .and_then(|w| w.labels.clone())
            .unwrap_or_default();
        if sel.is_empty() {
            namespace_scoped
                .entry(s.namespace.clone())
                .or_default()
                .push(s);
            continue;
        }
        let mut found = false;
        for p in inputs.of(kinds::POD) {
            if p.namespace != s.namespace || !selects(&sel, &p.labels) {
                continue;
            }
            found = true;
            let key = (p.namespace.clone(), p.name.clone());
            pods_to_sidecars.entry(key.clone()).or_default().push(s);
            pods.insert(key, p);
        }
        if !found {
            let at = match first_label(&sel) {
                Some(k) => path("spec.workloadSelector.labels").key(k),
                None => path("spec.workloadSelector"),
            };
            cx.report(
                s,
                types::REFERENCED_RESOURCE_NOT_FOUND,
                format!("Referenced selector not found: {:?}", selector_string(&sel)),
                at,
            );
        }
    }
    let mut reported: BTreeSet<String> = BTreeSet::new();
    for (key, list) in &pods_to_sidecars {
        let pod = pods[key];
        let ambient = pod_in_ambient(pod);
        if list.len() == 1 && !ambient {
            continue;
        }
        for s in list {
            if ambient {
                if reported.insert(s.full_name()) {
                    cx.report(
                        s,
                        types::INEFFECTIVE_POLICY,
                        "The policy has no impact: selected workload is in ambient mode, the policy has no impact.",
                        FieldPath::root(),
                    );
                }
                continue;
            }
            cx.report(
                s,
                types::CONFLICTING_SIDECAR_WORKLOAD_SELECTORS,
                format!(
                    "The Sidecars {} in namespace {:?} select the same workload pod {:?}, which can lead to undefined behavior.",
                    names(list),
                    key.0,
                    key.1
                ),
                path("metadata.name"),
            );
        }
    }
    for (ns, list) in &namespace_scoped {
        if namespace_in_ambient(inputs.find(kinds::NAMESPACE, "", ns)) {
            for s in list {
                if reported.insert(s.full_name()) {
                    cx.report(
                        s,
                        types::INEFFECTIVE_POLICY,
                        "The policy has no impact: namespace is in ambient mode, the policy has no impact.",
                        FieldPath::root(),
                    );
                }
            }
            continue;
        }
        if list.len() > 1 {
            for s in list {
                cx.report(
                    s,
                    types::MULTIPLE_SIDECARS_WITHOUT_WORKLOAD_SELECTORS,
                    format!(
                        "The Sidecars {} in namespace {ns:?} have no workload selector, which can lead to undefined behavior.",
                        names(list)
                    ),
                    FieldPath::root(),
                );
            }
        }
    }
}
