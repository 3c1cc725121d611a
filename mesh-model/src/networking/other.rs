//! Webhook rules of the kinds kept as their wire spec: WorkloadGroup,
//! EnvoyFilter, ProxyConfig, Telemetry, WasmPlugin, TrafficExtension.
//! Their structural rules come from the CRD schema checks; these are the
//! webhook's additional ones.

use crate::config::Cx;
use crate::resource::IstioSpec;
use crate::validation;
use crate::wire::networking as w;

pub(crate) fn validate(spec: &IstioSpec, cx: &mut Cx<'_>) {
    match spec {
        IstioSpec::EnvoyFilter(f) => envoy_filter(f, cx),
        IstioSpec::WorkloadGroup(g) => {
            if let Some(t) = &g.template {
                cx.field("template", |cx| {
                    if let Some(l) = &t.labels {
                        cx.field("labels", |cx| {
                            for (k, v) in l {
                                cx.key(k, |cx| {
                                    cx.check("VAL-WG", validation::label_key(k));
                                    cx.check("VAL-WG", validation::label_value(v));
                                });
                            }
                        });
                    }
                    if t.address.as_deref().is_some_and(|a| !a.is_empty()) {
                        cx.field("address", |cx| {
                            cx.error(
                                "VAL-WG",
                                "address must not be set in a WorkloadGroup template",
                            )
                        });
                    }
                });
            }
        }
        IstioSpec::Telemetry(t) => {
            if let Some(tr) = &t.tracing {
                cx.field("tracing", |cx| {
                    for (i, x) in tr.iter().enumerate() {
                        if let Some(p) = x.random_sampling_percentage
                            && !(0.0..=100.0).contains(&p)
                        {
                            cx.index(i, |cx| {
                                cx.field("randomSamplingPercentage", |cx| {
                                    cx.error(
                                        "VAL-TM",
                                        "randomSamplingPercentage must be in range [0.0, 100.0]",
                                    )
                                })
                            });
                        }
                    }
                });
            }
        }
        _ => {}
    }
}

fn envoy_filter(f: &w::EnvoyFilter, cx: &mut Cx<'_>) {
    let Some(patches) = &f.config_patches else {
        return;
    };
    cx.field("configPatches", |cx| {
        for (i, p) in patches.iter().enumerate() {
            cx.index(i, |cx| {
                let apply_to = p.apply_to.unwrap_or(w::ApplyTo::Invalid);
                if apply_to == w::ApplyTo::Invalid {
                    cx.error("VAL-EF", "Envoy filter: missing applyTo");
                }
                let Some(patch) = &p.patch else {
                    cx.error("VAL-EF", "Envoy filter: missing patch");
                    return;
                };
                let op = patch.operation.unwrap_or(w::Operation::Invalid);
                if op == w::Operation::Invalid {
                    cx.field("patch", |cx| cx.error("VAL-EF", "Envoy filter: missing patch operation"));
                }
                if op != w::Operation::Remove && patch.value.is_none() && op != w::Operation::Invalid {
                    cx.field("patch", |cx| cx.error("VAL-EF", "Envoy filter: missing patch value for non-remove operation"));
                }
                if matches!(op, w::Operation::InsertBefore | w::Operation::InsertAfter | w::Operation::InsertFirst)
                    && !matches!(
                        apply_to,
                        w::ApplyTo::NetworkFilter | w::ApplyTo::HttpFilter | w::ApplyTo::HttpRoute | w::ApplyTo::ListenerFilter
                    )
                {
                    cx.field("patch", |cx| {
                        cx.error("VAL-EF", "Envoy filter: Insert operation supported only for network, HTTP, listener filters and HTTP routes")
                    });
                }
                if let Some(v) = &patch.value
                    && !v.is_object() {
                        cx.field("patch", |cx| cx.field("value", |cx| cx.error("VAL-EF", "Envoy filter: patch value must be an object")));
                    }
            });
        }
    });
}
