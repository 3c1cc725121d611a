//! The ServiceEntry analyzers: TCP ports without addresses, and hosts and
//! ports that ServiceEntries give different protocols.

use super::util::{exports_to_all, go_quote};
use super::{Analyzer, Cx, path};
use crate::input::Entry;
use crate::message::types;
use mesh_model::resource::IstioKind;
use std::collections::{BTreeMap, BTreeSet};

/// `serviceentry.Analyzer`.
pub const PROTOCOL_ADDRESSES: Analyzer = Analyzer {
    name: "serviceentry.Analyzer",
    description: "Checks the validity of ServiceEntry",
    default: true,
    run: protocol_addresses,
};

/// `serviceentry.ConflictingServiceEntryProtocolAnalyzer`.
pub const CONFLICTING_PROTOCOL: Analyzer = Analyzer {
    name: "serviceentry.ConflictingServiceEntryProtocolAnalyzer",
    description: "Checks if multiple ServiceEntries define the same host and port with different protocols",
    default: true,
    run: conflicting_protocols,
};

fn protocol_addresses(cx: &mut Cx<'_>) {
    let inputs = cx.inputs;
    let meta = |k: &str| {
        inputs
            .mesh()
            .pointer(&format!("/defaultConfig/proxyMetadata/{k}"))
            .and_then(|v| v.as_str())
            == Some("true")
    };
    // With DNS capture, the agent allocates addresses itself.
    let auto_allocated = meta("ISTIO_META_DNS_CAPTURE")
        && (meta("ISTIO_META_DNS_AUTO_ALLOCATE") || meta("PILOT_ENABLE_IP_AUTOALLOCATE"));
    if auto_allocated {
        return;
    }
    for e in inputs.istio(IstioKind::ServiceEntry) {
        let Some(se) = e.service_entry() else {
            continue;
        };
        if se.addresses.as_ref().is_some_and(|a| !a.is_empty()) || address_allocated(e) {
            continue;
        }
        for (i, p) in se.ports.as_deref().unwrap_or_default().iter().enumerate() {
            let proto = p.protocol.as_deref().unwrap_or("");
            if proto.is_empty() || proto.eq_ignore_ascii_case("TCP") {
                cx.report(
                    e,
                    types::SERVICE_ENTRY_ADDRESSES_REQUIRED,
                    "ServiceEntry addresses are required for this protocol.",
                    path(&format!("spec.ports[{i}].name")),
                );
            }
        }
    }
}

/// Whether istiod allocated addresses (`status.addresses`).
fn address_allocated(e: &Entry) -> bool {
    e.status()
        .and_then(|s| s.get("addresses"))
        .and_then(|a| a.as_array())
        .is_some_and(|a| !a.is_empty())
}

fn conflicting_protocols(cx: &mut Cx<'_>) {
    let inputs = cx.inputs;
    // (scope, host, port) → (protocol, entry), in input order.
    type Key = (String, String, u32);
    let mut index: BTreeMap<Key, Vec<(String, &Entry)>> = BTreeMap::new();
    for e in inputs.istio(IstioKind::ServiceEntry) {
        let Some(se) = e.service_entry() else {
            continue;
        };
        let export_to = se.export_to.as_deref().unwrap_or_default();
        let scopes: BTreeSet<String> = if exports_to_all(export_to) {
            ["*".to_string()].into()
        } else {
            export_to
                .iter()
                .map(|x| {
                    if x == "." {
                        e.namespace.clone()
                    } else {
                        x.clone()
                    }
                })
                .collect()
        };
        for scope in &scopes {
            for h in se.hosts.as_deref().unwrap_or_default() {
                for p in se.ports.as_deref().unwrap_or_default() {
                    index
                        .entry((scope.clone(), h.clone(), p.number.unwrap_or(0)))
                        .or_default()
                        .push((p.protocol.clone().unwrap_or_default(), e));
                }
            }
        }
    }
    let mut reported: BTreeSet<String> = BTreeSet::new();
    for ((scope, host, port), entries) in &index {
        let mut entries = entries.clone();
        if scope != "*"
            && let Some(more) = index.get(&("*".to_string(), host.clone(), *port))
        {
            entries.extend(more.iter().cloned());
        }
        let protocols: BTreeSet<String> = entries.iter().map(|(p, _)| p.to_uppercase()).collect();
        if protocols.len() < 2 {
            continue;
        }
        let names: BTreeSet<String> = entries.iter().map(|(_, e)| e.full_name()).collect();
        let names = names.into_iter().collect::<Vec<_>>().join(", ");
        let protocols = protocols.into_iter().collect::<Vec<_>>().join(", ");
        for (_, e) in &entries {
            if !reported.insert(e.full_name()) {
                continue;
            }
            cx.report(
                e,
                types::CONFLICTING_SERVICE_ENTRY_PROTOCOL,
                format!(
                    "Multiple ServiceEntries ({names}) define the same host {} and port {port} with conflicting protocols ({protocols}).",
                    go_quote(host)
                ),
                path("metadata.name"),
            );
        }
    }
}
