//! `envoyfilter.EnvoyPatchAnalyzer`: patch operations that are ignored for
//! their `applyTo`, and relative operations without a priority.

use super::{Analyzer, Cx, path};
use crate::input::Entry;
use crate::message::types;
use mesh_model::resource::IstioKind;
use mesh_model::wire::networking::{ApplyTo, Operation};

/// `envoyfilter.EnvoyPatchAnalyzer`.
pub const ENVOY_PATCH: Analyzer = Analyzer {
    name: "envoyfilter.EnvoyPatchAnalyzer",
    description: "Checks an envoyFilters ",
    default: true,
    run: envoy_patches,
};

/// A relative operation (its order against other filters matters) in an
/// EnvoyFilter without a priority; worse when another EnvoyFilter patches
/// the same filter with a `proxyVersion`.
fn relative(
    cx: &mut Cx<'_>,
    e: &Entry,
    index: usize,
    priority: i32,
    versioned: &[String],
    instance: &str,
) {
    if priority != 0 {
        return;
    }
    let at = path(&format!("spec.configPatches[{index}].patch.value"));
    if versioned.iter().any(|n| n == instance) {
        cx.report(
            e,
            types::ENVOY_FILTER_USES_RELATIVE_OPERATION_WITH_PROXY_VERSION,
            "This EnvoyFilter does not have a priority and has a relative patch operation (NSTERT_BEFORE/AFTER, REPLACE, MERGE, DELETE) and proxyVersion set which can cause the EnvoyFilter not to be applied during an upgrade. Using the INSERT_FIRST or ADD option or setting the priority may help in ensuring the EnvoyFilter is applied correctly.",
            at,
        );
    } else {
        cx.report(
            e,
            types::ENVOY_FILTER_USES_RELATIVE_OPERATION,
            "This EnvoyFilter does not have a priority and has a relative patch operation set which can cause the EnvoyFilter not to be applied. Using the INSERT_FIRST of ADD option or setting the priority may help in ensuring the EnvoyFilter is applied correctly.",
            at,
        );
    }
}

fn envoy_patches(cx: &mut Cx<'_>) {
    let inputs = cx.inputs;
    // The filter names patched by EnvoyFilters with a proxyVersion, so far.
    let mut versioned: Vec<String> = Vec::new();
    for e in inputs.istio(IstioKind::EnvoyFilter) {
        let Some(ef) = e.envoy_filter() else { continue };
        let priority = ef.priority.unwrap_or(0);
        for (index, cp) in ef
            .config_patches
            .as_deref()
            .unwrap_or_default()
            .iter()
            .enumerate()
        {
            let Some(patch) = &cp.patch else { break };
            let mut instance = String::new();
            if let Some(fields) = patch.value.as_ref().and_then(|v| v.as_object()) {
                if let Some(name) = fields.get("name") {
                    instance = name.to_string();
                } else if let Some(n) = cp
                    .r#match
                    .as_ref()
                    .and_then(|m| m.listener.as_ref())
                    .and_then(|l| l.filter_chain.as_ref())
                    .map(|fc| {
                        fc.filter
                            .as_ref()
                            .and_then(|f| f.name.clone())
                            .unwrap_or_default()
                    })
                {
                    instance = n;
                }
            }
            let apply_to = cp.apply_to.unwrap_or(ApplyTo::Invalid);
            let route_level = matches!(apply_to, ApplyTo::RouteConfiguration | ApplyTo::HttpRoute);
            let at = path(&format!("spec.configPatches[{index}].patch.value"));
            match patch.operation.unwrap_or(Operation::Invalid) {
                Operation::Add if route_level => {
                    cx.report(
                        e,
                        types::ENVOY_FILTER_USES_ADD_OPERATION_INCORRECTLY,
                        "The ADD operation will be ignored when applyTo is set to ROUTE_CONFIGURATION, or HTTP_ROUTE.",
                        at,
                    );
                }
                Operation::Remove => {
                    if route_level {
                        cx.report(
                            e,
                            types::ENVOY_FILTER_USES_REMOVE_OPERATION_INCORRECTLY,
                            "The REMOVE operation will be ignored when applyTo is set to ROUTE_CONFIGURATION, or HTTP_ROUTE.",
                            at,
                        );
                    } else {
                        relative(cx, e, index, priority, &versioned, &instance);
                    }
                }
                Operation::Replace => {
                    if !matches!(
                        apply_to,
                        ApplyTo::NetworkFilter | ApplyTo::HttpFilter | ApplyTo::VirtualHost
                    ) {
                        cx.report(
                            e,
                            types::ENVOY_FILTER_USES_REPLACE_OPERATION_INCORRECTLY,
                            "The REPLACE operation is only valid for HTTP_FILTER and NETWORK_FILTER.",
                            at,
                        );
                    } else {
                        relative(cx, e, index, priority, &versioned, &instance);
                    }
                }
                Operation::InsertBefore | Operation::InsertAfter => {
                    relative(cx, e, index, priority, &versioned, &instance);
                }
                _ => {}
            }
            let has_version = cp
                .r#match
                .as_ref()
                .and_then(|m| m.proxy.as_ref())
                .and_then(|p| p.proxy_version.as_deref())
                .is_some_and(|v| !v.is_empty());
            if has_version {
                versioned.push(instance);
            }
        }
    }
}
