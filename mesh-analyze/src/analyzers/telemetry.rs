//! The Telemetry analyzers: access logging without providers, selectors
//! that select no pod or the same pod, several selector-less Telemetries in
//! a namespace, and the deprecated Lightstep provider.

use super::util::{first_label, go_list, selector_string, selects};
use super::{Analyzer, Cx, path};
use crate::input::{Entry, kinds};
use crate::message::types;
use mesh_model::diag::FieldPath;
use mesh_model::resource::IstioKind;
use std::collections::{BTreeMap, BTreeSet};

/// `telemetry.ProviderAnalyzer`.
pub const PROVIDER: Analyzer = Analyzer {
    name: "telemetry.ProviderAnalyzer",
    description: "Validates that providers in telemetry resource is valid",
    default: true,
    run: providers,
};

/// `telemetry.SelectorAnalyzer`.
pub const SELECTOR: Analyzer = Analyzer {
    name: "telemetry.SelectorAnalyzer",
    description: "Validates that telemetries that define a selector match at least one pod, and that there aren't multiple telemetry resources that select overlapping pods",
    default: true,
    run: selectors,
};

/// `telemetry.DefaultSelectorAnalyzer`.
pub const DEFAULT_SELECTOR: Analyzer = Analyzer {
    name: "telemetry.DefaultSelectorAnalyzer",
    description: "Validates that there aren't multiple telemetry resources that have no selector",
    default: true,
    run: default_selectors,
};

/// `telemetry.LightstepAnalyzer`.
pub const LIGHTSTEP: Analyzer = Analyzer {
    name: "telemetry.LightstepAnalyzer",
    description: "Validates that lightstep provider is still used",
    default: true,
    run: lightstep,
};

fn names(list: &[&Entry]) -> String {
    let mut n: Vec<&str> = list.iter().map(|e| e.name.as_str()).collect();
    n.sort_unstable();
    go_list(&n)
}

fn providers(cx: &mut Cx<'_>) {
    let inputs = cx.inputs;
    let defaults_log = inputs
        .mesh()
        .pointer("/defaultProviders/accessLogging")
        .and_then(|v| v.as_array())
        .is_some_and(|a| !a.is_empty());
    if defaults_log {
        return;
    }
    for e in inputs.istio(IstioKind::Telemetry) {
        let Some(t) = e.telemetry() else { continue };
        for l in t.access_logging.as_deref().unwrap_or_default() {
            if l.disabled == Some(true) {
                continue;
            }
            if l.providers.as_ref().is_none_or(Vec::is_empty) {
                cx.report(
                    e,
                    types::INVALID_TELEMETRY_PROVIDER,
                    format!(
                        "The Telemetry {} in namespace {:?} with empty providers will be ignored.",
                        e.name, e.namespace
                    ),
                    FieldPath::root(),
                );
            }
        }
    }
}

fn selectors(cx: &mut Cx<'_>) {
    let inputs = cx.inputs;
    let mut pods_to_telemetries: BTreeMap<(String, String), Vec<&Entry>> = BTreeMap::new();
    for t in inputs.istio(IstioKind::Telemetry) {
        let Some(spec) = t.telemetry() else { continue };
        let sel = spec
            .selector
            .as_ref()
            .and_then(|s| s.match_labels.clone())
            .unwrap_or_default();
        if sel.is_empty() {
            continue;
        }
        let mut found = false;
        for p in inputs.of(kinds::POD) {
            if p.namespace == t.namespace && selects(&sel, &p.labels) {
                found = true;
                pods_to_telemetries
                    .entry((p.namespace.clone(), p.name.clone()))
                    .or_default()
                    .push(t);
            }
        }
        if !found {
            let at = match first_label(&sel) {
                Some(k) => path("spec.selector.matchLabels").key(k),
                None => path("spec.selector"),
            };
            cx.report(
                t,
                types::REFERENCED_RESOURCE_NOT_FOUND,
                format!("Referenced selector not found: {:?}", selector_string(&sel)),
                at,
            );
        }
    }
    for ((ns, pod), list) in &pods_to_telemetries {
        if list.len() == 1 {
            continue;
        }
        for t in list {
            cx.report(
                t,
                types::CONFLICTING_TELEMETRY_WORKLOAD_SELECTORS,
                format!(
                    "The Telemetries {} in namespace {ns:?} select the same workload pod {pod:?}, which can lead to undefined behavior.",
                    names(list)
                ),
                path("metadata.name"),
            );
        }
    }
}

fn default_selectors(cx: &mut Cx<'_>) {
    let inputs = cx.inputs;
    let mut by_ns: BTreeMap<String, Vec<&Entry>> = BTreeMap::new();
    for t in inputs.istio(IstioKind::Telemetry) {
        let Some(spec) = t.telemetry() else { continue };
        if spec.selector.is_none() {
            by_ns.entry(t.namespace.clone()).or_default().push(t);
        }
    }
    for (ns, list) in &by_ns {
        if list.len() < 2 {
            continue;
        }
        for t in list {
            cx.report(
                t,
                types::MULTIPLE_TELEMETRIES_WITHOUT_WORKLOAD_SELECTORS,
                format!(
                    "The Telemetries {} in namespace {ns:?} have no workload selector, which can lead to undefined behavior.",
                    names(list)
                ),
                FieldPath::root(),
            );
        }
    }
}

fn lightstep(cx: &mut Cx<'_>) {
    let inputs = cx.inputs;
    let lightstep: BTreeSet<&str> = inputs
        .mesh()
        .get("extensionProviders")
        .and_then(|v| v.as_array())
        .into_iter()
        .flatten()
        .filter(|p| p.get("lightstep").is_some())
        .filter_map(|p| p.get("name").and_then(|n| n.as_str()))
        .collect();
    if lightstep.is_empty() {
        return;
    }
    for t in inputs.istio(IstioKind::Telemetry) {
        let Some(spec) = t.telemetry() else { continue };
        for tr in spec.tracing.as_deref().unwrap_or_default() {
            for p in tr.providers.as_deref().unwrap_or_default() {
                let name = p.name.as_deref().unwrap_or("");
                if lightstep.contains(name) {
                    cx.report(
                        t,
                        types::DEPRECATED,
                        format!(
                            "Deprecated: The Lightstep provider {name} is deprecated, please migrate to OpenTelemetry provider."
                        ),
                        FieldPath::root(),
                    );
                }
            }
        }
    }
}
