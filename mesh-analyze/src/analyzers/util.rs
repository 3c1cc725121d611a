//! Helpers the analyzers share, following Istio's analyzer utilities
//! (`pkg/config/analysis/analyzers/util`): host names as the analyzers
//! scope them, label selectors, and whether a pod is in the mesh.

use crate::input::{Entry, Inputs, kinds};
use mesh_model::labels::Labels;
use mesh_model::resource::IstioKind;
use std::collections::BTreeMap;

/// `*`: every namespace.
pub(crate) const ALL_NAMESPACES: &str = "*";

/// A Kubernetes equality selector rendered as Kubernetes does: `k=v`
/// pairs sorted by key, joined by commas (empty for no labels).
pub(crate) fn selector_string(sel: &Labels) -> String {
    sel.iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(",")
}

/// Whether every pair of `sel` is in `labels` (an empty selector selects
/// everything).
pub(crate) fn selects(sel: &Labels, labels: &Labels) -> bool {
    sel.iter().all(|(k, v)| labels.get(k) == Some(v))
}

/// The key of the first label of a selector (where istioctl points).
pub(crate) fn first_label(sel: &Labels) -> Option<&str> {
    sel.keys().next().map(String::as_str)
}

/// Istio's `host.Name.Matches` on names as written: equal names, a name
/// under a wildcard's suffix, or wildcards one of whose suffixes ends with
/// the other.
pub(crate) fn host_matches(a: &str, b: &str) -> bool {
    let aw = a.starts_with('*');
    let bw = b.starts_with('*');
    match (aw, bw) {
        (false, false) => a == b,
        (true, false) => b.ends_with(&a[1..]),
        (false, true) => a.ends_with(&b[1..]),
        (true, true) => {
            let (sa, sb) = (&a[1..], &b[1..]);
            if sa.len() > sb.len() {
                sa.ends_with(sb)
            } else {
                sb.ends_with(sa)
            }
        }
    }
}

/// Istio's analyzer `ConvertHostToFQDN`: a name without a dot (and not a
/// wildcard) becomes `name.<namespace>.svc.cluster.local`.
pub(crate) fn host_to_fqdn(namespace: &str, host: &str) -> String {
    if !host.starts_with('*') && !host.contains('.') {
        format!("{host}.{namespace}.svc.cluster.local")
    } else {
        host.to_string()
    }
}

/// Istio's `GetFullNameFromFQDN`: `(namespace, name)` of
/// `name.namespace.svc.cluster.local`, else empty strings.
pub(crate) fn fqdn_name(fqdn: &str) -> (String, String) {
    let Some(rest) = fqdn.strip_suffix(".svc.cluster.local") else {
        return (String::new(), String::new());
    };
    match rest.rsplit_once('.') {
        Some((name, ns)) if !name.is_empty() && !ns.is_empty() => {
            (ns.to_string(), name.to_string())
        }
        _ => (String::new(), String::new()),
    }
}

/// Istio's `GetResourceNameFromHost`: the `(namespace, name)` a host names,
/// a short name resolved in `default_namespace`.
pub(crate) fn resource_name_from_host(default_namespace: &str, host: &str) -> (String, String) {
    let (ns, name) = fqdn_name(host);
    if ns.is_empty() {
        (default_namespace.to_string(), host.to_string())
    } else {
        (ns, name)
    }
}

/// A service port as the destination analyzers see it.
#[derive(Debug, Clone)]
pub(crate) struct PortInfo {
    pub number: u32,
}

/// A service (ServiceEntry, or a Kubernetes Service seen as one) by
/// `scope/fqdn`.
#[derive(Debug, Clone)]
pub(crate) struct ServiceInfo {
    pub ports: Vec<PortInfo>,
    /// The workload selector of a ServiceEntry.
    pub workload_selector: Labels,
}

/// Istio's `InitServiceEntryHostMap`: every ServiceEntry host and every
/// Kubernetes Service, keyed by `scope/fqdn` where scope is the namespace
/// it is visible in, or `*`.
pub(crate) fn service_host_map(inputs: &Inputs) -> BTreeMap<String, ServiceInfo> {
    let mut out = BTreeMap::new();
    for e in inputs.istio(IstioKind::ServiceEntry) {
        let Some(se) = e.service_entry() else {
            continue;
        };
        let info = ServiceInfo {
            ports: se
                .ports
                .as_deref()
                .unwrap_or_default()
                .iter()
                .map(|p| PortInfo {
                    number: p.number.unwrap_or(0),
                })
                .collect(),
            workload_selector: se
                .workload_selector
                .as_ref()
                .and_then(|w| w.labels.clone())
                .unwrap_or_default(),
        };
        let export_to = se.export_to.as_deref().unwrap_or_default();
        let mut exports_to_all = false;
        for h in se.hosts.as_deref().unwrap_or_default() {
            let fqdn = host_to_fqdn(&e.namespace, h);
            if export_to.is_empty() || exports_to_all {
                out.insert(format!("*/{fqdn}"), info.clone());
                continue;
            }
            for ns in export_to {
                match ns.as_str() {
                    "*" => {
                        out.insert(format!("*/{fqdn}"), info.clone());
                        exports_to_all = true;
                    }
                    "." => {
                        out.insert(format!("{}/{fqdn}", e.namespace), info.clone());
                    }
                    other => {
                        out.insert(format!("{other}/{fqdn}"), info.clone());
                    }
                }
                if exports_to_all {
                    break;
                }
            }
        }
    }
    for e in inputs.of(kinds::SERVICE) {
        let Some(s) = e.service_spec() else { continue };
        let info = ServiceInfo {
            ports: s
                .ports
                .iter()
                .map(|p| PortInfo {
                    number: u32::try_from(p.port).unwrap_or(0),
                })
                .collect(),
            workload_selector: Labels::new(),
        };
        let fqdn = host_to_fqdn(&e.namespace, &e.name);
        let anno = e
            .annotations
            .get("networking.istio.io/exportTo")
            .map(String::as_str)
            .unwrap_or("");
        let scopes: Vec<String> = if anno.is_empty() {
            vec![ALL_NAMESPACES.to_string()]
        } else {
            anno.split(',')
                .map(str::trim)
                .map(|ns| {
                    if ns == "." {
                        e.namespace.clone()
                    } else {
                        ns.to_string()
                    }
                })
                .collect()
        };
        for scope in scopes {
            out.insert(format!("{scope}/{fqdn}"), info.clone());
        }
    }
    out
}

/// Istio's `GetDestinationHost`: the service a host names, seen from
/// `source_ns` with the referring object's `exportTo`.
pub(crate) fn destination_host<'a>(
    source_ns: &str,
    export_to: &[String],
    host: &str,
    services: &'a BTreeMap<String, ServiceInfo>,
) -> Option<&'a ServiceInfo> {
    let fqdn = host_to_fqdn(source_ns, host);
    if let Some(s) = services.get(&format!("*/{fqdn}")) {
        return Some(s);
    }
    if export_to.is_empty() {
        if let Some(s) = services.get(&format!("{source_ns}/{fqdn}")) {
            return Some(s);
        }
    } else {
        for e in export_to {
            let scope = if e == "." { source_ns } else { e.as_str() };
            if let Some(s) = services.get(&format!("{scope}/{fqdn}")) {
                return Some(s);
            }
        }
    }
    for (key, s) in services {
        let Some((scope, se_host)) = key.split_once('/') else {
            continue;
        };
        let Some(suffix) = se_host.strip_prefix('*') else {
            continue;
        };
        if scope != ALL_NAMESPACES && scope != source_ns {
            continue;
        }
        let h = host.strip_prefix('*').unwrap_or(host);
        if h.ends_with(suffix) {
            return Some(s);
        }
    }
    None
}

/// Whether containers include an `istio-proxy` container with an image.
pub(crate) fn has_istio_proxy(containers: &[mesh_model::wire::kube::Container]) -> bool {
    containers
        .iter()
        .find(|c| c.name == "istio-proxy")
        .is_some_and(|c| c.image.as_deref().is_some_and(|i| !i.is_empty()))
}

/// Istio's `inMesh`: a proxy container; else the pod's inject label or
/// annotation; else the namespace's `istio-injection` label.
pub(crate) fn in_mesh(
    inputs: &Inputs,
    annotations: &Labels,
    labels: &Labels,
    namespace: &str,
    containers: &[mesh_model::wire::kube::Container],
) -> bool {
    if has_istio_proxy(containers) {
        return true;
    }
    if let Some(v) = labels.get("sidecar.istio.io/inject") {
        return v == "true";
    }
    if let Some(v) = annotations.get("sidecar.istio.io/inject") {
        return v == "true";
    }
    if let Some(ns) = inputs.find(kinds::NAMESPACE, "", namespace) {
        return ns.labels.get("istio-injection").map(String::as_str) == Some("enabled");
    }
    false
}

/// Istio's `PodInMesh`.
pub(crate) fn pod_in_mesh(inputs: &Inputs, pod: &Entry) -> bool {
    let Some(spec) = pod.pod_spec() else {
        return false;
    };
    let containers: Vec<_> = spec
        .containers
        .iter()
        .chain(spec.init_containers.iter())
        .cloned()
        .collect();
    in_mesh(
        inputs,
        &pod.annotations,
        &pod.labels,
        &pod.namespace,
        &containers,
    )
}

/// Istio's `PodInAmbientMode`.
pub(crate) fn pod_in_ambient(pod: &Entry) -> bool {
    pod.annotations
        .get("ambient.istio.io/redirection")
        .map(String::as_str)
        == Some("enabled")
}

/// Istio's `NamespaceInAmbientMode`.
pub(crate) fn namespace_in_ambient(ns: Option<&Entry>) -> bool {
    let Some(ns) = ns else { return false };
    if ns.labels.get("istio-injection").map(String::as_str) == Some("enabled") {
        return false;
    }
    if ns.labels.get("istio.io/rev").is_some_and(|v| !v.is_empty()) {
        return false;
    }
    ns.labels.get("istio.io/dataplane-mode").map(String::as_str) == Some("ambient")
}

/// Istio's `IsExportToAllNamespaces`.
pub(crate) fn exports_to_all(export_to: &[String]) -> bool {
    export_to.is_empty() || export_to.iter().any(|e| e == ALL_NAMESPACES)
}

/// A Go `%v` rendering of a list of strings: `[a b c]`.
pub(crate) fn go_list<T: std::fmt::Display>(items: &[T]) -> String {
    let parts: Vec<String> = items.iter().map(ToString::to_string).collect();
    format!("[{}]", parts.join(" "))
}

/// A Go `%q` rendering of a string.
pub(crate) fn go_quote(s: &str) -> String {
    format!("{s:?}")
}

/// `ns/name` of a gateway named in a VirtualService (Istio's
/// `NewShortOrFullName`): `name` alone is in `namespace`.
pub(crate) fn short_or_full_name(namespace: &str, name: &str) -> (String, String) {
    match name.split_once('/') {
        Some((ns, n)) => (ns.to_string(), n.to_string()),
        None => (namespace.to_string(), name.to_string()),
    }
}

/// A full name `ns/name` (or `name` without a namespace).
pub(crate) fn full_name(namespace: &str, name: &str) -> String {
    if namespace.is_empty() {
        name.to_string()
    } else {
        format!("{namespace}/{name}")
    }
}
