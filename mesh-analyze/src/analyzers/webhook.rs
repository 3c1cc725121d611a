//! The webhook analyzers: injector webhooks that overlap or name a missing
//! control plane Service, and webhooks of a remote cluster's external
//! control plane with a missing or IP address.

use super::injection::label_selector_matches;
use super::{Analyzer, Cx};
use crate::input::{Entry, kinds};
use crate::message::types;
use mesh_model::diag::FieldPath;
use mesh_model::labels::Labels;
use std::collections::{BTreeMap, BTreeSet};

/// `externalcontrolplane.ExternalControlPlaneAnalyzer`.
pub const EXTERNAL_CONTROL_PLANE: Analyzer = Analyzer {
    name: "externalcontrolplane.ExternalControlPlaneAnalyzer",
    description: "Checks that the remote IstioOperator resources reference an external control plane",
    default: true,
    run: external_control_plane,
};

/// `webhook.Analyzer`.
pub const WEBHOOK: Analyzer = Analyzer {
    name: "webhook.Analyzer",
    description: "Checks the validity of Istio webhooks",
    default: true,
    run: webhooks,
};

fn hooks(e: &Entry) -> Vec<&serde_json::Value> {
    e.raw
        .get("webhooks")
        .and_then(|w| w.as_array())
        .map(|a| a.iter().collect())
        .unwrap_or_default()
}

fn hook_name(h: &serde_json::Value) -> &str {
    h.get("name").and_then(|n| n.as_str()).unwrap_or("")
}

/// The host of a URL, as Go's `url.Parse(...).Hostname()`.
fn url_host(url: &str) -> Result<&str, String> {
    if url.chars().any(|c| c.is_control() || c == ' ') {
        return Err("was provided in an invalid format".into());
    }
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    let host_port = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    if let Some(v6) = host_port.strip_prefix('[') {
        return v6
            .split_once(']')
            .map(|(h, _)| h)
            .ok_or_else(|| "was provided in an invalid format".into());
    }
    Ok(host_port.split_once(':').map_or(host_port, |(h, _)| h))
}

fn external_control_plane(cx: &mut Cx<'_>) {
    let inputs = cx.inputs;
    let check = |cx: &mut Cx<'_>, e: &Entry| {
        for h in hooks(e) {
            let name = hook_name(h);
            let client = h.get("clientConfig");
            match client.and_then(|c| c.get("url")).and_then(|u| u.as_str()) {
                Some(url) => match url_host(url) {
                    Err(problem) => cx.report(
                        e,
                        types::INVALID_EXTERNAL_CONTROL_PLANE_CONFIG,
                        format!(
                            "The hostname ({url}) that was provided for the webhook ({name}) to reach the ingress gateway on the external control plane cluster {problem}. Traffic may not flow properly."
                        ),
                        FieldPath::root(),
                    ),
                    Ok(host) => {
                        if host.parse::<std::net::IpAddr>().is_ok() {
                            cx.report(
                                e,
                                types::EXTERNAL_CONTROL_PLANE_ADDRESS_IS_NOT_A_HOSTNAME,
                                format!(
                                    "The address ({url}) that was provided for the webhook ({name}) to reach the ingress gateway on the external control plane cluster is an IP address. This is not recommended for a production environment."
                                ),
                                FieldPath::root(),
                            );
                        }
                    }
                },
                None => {
                    if client.and_then(|c| c.get("service")).is_none_or(serde_json::Value::is_null) {
                        cx.report(
                            e,
                            types::INVALID_EXTERNAL_CONTROL_PLANE_CONFIG,
                            format!(
                                "The hostname () that was provided for the webhook ({name}) to reach the ingress gateway on the external control plane cluster is blank. Traffic may not flow properly."
                            ),
                            FieldPath::root(),
                        );
                    }
                }
            }
        }
    };
    for e in inputs.of(kinds::VALIDATING_WEBHOOK) {
        if e.name == "istiod-default-validator" || e.name.starts_with("istio-validator") {
            check(cx, e);
        }
    }
    for e in inputs.of(kinds::MUTATING_WEBHOOK) {
        if e.name.starts_with("istio-sidecar-injector") {
            check(cx, e);
        }
    }
}

/// The revisions a webhook configuration serves (its `istio.io/rev` label
/// and the revisions its selectors name).
fn revisions(e: &Entry) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    if let Some(r) = e.labels.get("istio.io/rev") {
        out.insert(r.clone());
    }
    for h in hooks(e) {
        for sel in ["namespaceSelector", "objectSelector"] {
            let Some(s) = h.get(sel) else { continue };
            if let Some(r) = s
                .pointer("/matchLabels/istio.io~1rev")
                .and_then(|v| v.as_str())
            {
                out.insert(r.to_string());
            }
            for ex in s
                .get("matchExpressions")
                .and_then(|m| m.as_array())
                .into_iter()
                .flatten()
            {
                if ex.get("key").and_then(|k| k.as_str()) == Some("istio.io/rev") {
                    for v in ex
                        .get("values")
                        .and_then(|v| v.as_array())
                        .into_iter()
                        .flatten()
                    {
                        if let Some(v) = v.as_str() {
                            out.insert(v.to_string());
                        }
                    }
                }
            }
        }
    }
    out
}

fn webhooks(cx: &mut Cx<'_>) {
    let inputs = cx.inputs;
    // Istio's injector webhooks, by `config/webhook` name.
    let mut found: BTreeMap<String, (&Entry, &serde_json::Value)> = BTreeMap::new();
    let mut revs: BTreeSet<String> = BTreeSet::new();
    for e in inputs.of(kinds::MUTATING_WEBHOOK) {
        let r = revisions(e);
        let istio = hooks(e).iter().any(|h| hook_name(h).ends_with("istio.io"));
        if r.is_empty() && !istio {
            continue;
        }
        for h in hooks(e) {
            found.insert(format!("{}/{}", e.full_name(), hook_name(h)), (e, h));
        }
        revs.extend(r);
    }
    let base = |pairs: &[(&str, &str)]| -> Labels {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_string(), (*v).to_string()))
            .collect()
    };
    let ns_bases = [
        base(&[]),
        base(&[("istio-injection", "enabled")]),
        base(&[("istio-injection", "disabled")]),
    ];
    let obj_bases = [
        base(&[]),
        base(&[("sidecar.istio.io/inject", "true")]),
        base(&[("sidecar.istio.io/inject", "false")]),
    ];
    let with_revisions = |bases: &[Labels]| -> Vec<Labels> {
        let mut out: Vec<Labels> = bases.to_vec();
        for r in &revs {
            for b in bases {
                let mut l = b.clone();
                l.insert("istio.io/rev".into(), r.clone());
                out.push(l);
            }
        }
        out
    };
    let namespaces = with_revisions(&ns_bases);
    let objects = with_revisions(&obj_bases);
    for nl in &namespaces {
        for ol in &objects {
            let matches: BTreeSet<&String> = found
                .iter()
                .filter(|(_, (_, h))| {
                    label_selector_matches(h.get("namespaceSelector"), nl)
                        && label_selector_matches(h.get("objectSelector"), ol)
                })
                .map(|(k, _)| k)
                .collect();
            if matches.len() < 2 {
                continue;
            }
            for m in &matches {
                let others: Vec<&str> = matches
                    .iter()
                    .filter(|o| *o != m)
                    .map(|s| s.as_str())
                    .collect();
                let (e, _) = found[*m];
                cx.report(
                    e,
                    types::INVALID_WEBHOOK,
                    format!(
                        "Webhook overlaps with others: [{}]. This may cause injection to occur twice.",
                        others.join(" ")
                    ),
                    FieldPath::root(),
                );
            }
        }
    }
    for (e, h) in found.values() {
        let Some(svc) = h.pointer("/clientConfig/service").filter(|s| !s.is_null()) else {
            continue;
        };
        let ns = svc.get("namespace").and_then(|v| v.as_str()).unwrap_or("");
        let name = svc.get("name").and_then(|v| v.as_str()).unwrap_or("");
        if inputs.find(kinds::SERVICE, ns, name).is_none() {
            cx.report(
                e,
                types::INVALID_WEBHOOK,
                format!(
                    "Injector refers to a control plane service that does not exist: {}.",
                    super::util::full_name(ns, name)
                ),
                FieldPath::root(),
            );
        }
    }
}
