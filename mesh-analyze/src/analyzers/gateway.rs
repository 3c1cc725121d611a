//! The Gateway analyzers: ports against the gateway Service, certificates
//! shared between gateways, credential secrets, and conflicting gateways.

use super::util::{first_label, go_list, selector_string, selects, short_or_full_name};
use super::{Analyzer, Cx, path};
use crate::input::{Entry, kinds};
use crate::message::types;
use mesh_model::diag::FieldPath;
use mesh_model::labels::Labels;
use mesh_model::resource::IstioKind;
use mesh_model::wire::kube::IntOrString;
use std::collections::{BTreeMap, BTreeSet};

/// `gateway.IngressGatewayPortAnalyzer`.
pub const INGRESS_GATEWAY_PORT: Analyzer = Analyzer {
    name: "gateway.IngressGatewayPortAnalyzer",
    description: "Checks a gateway's ports against the gateway's Kubernetes service ports",
    default: true,
    run: ingress_gateway_ports,
};

/// `gateway.CertificateAnalyzer`.
pub const CERTIFICATE: Analyzer = Analyzer {
    name: "gateway.CertificateAnalyzer",
    description: "Checks a gateway certificate",
    default: true,
    run: certificates,
};

/// `gateway.SecretAnalyzer`.
pub const SECRET: Analyzer = Analyzer {
    name: "gateway.SecretAnalyzer",
    description: "Checks a gateway's referenced secrets for correctness",
    default: true,
    run: secrets,
};

/// `gateway.ConflictingGatewayAnalyzer`.
pub const CONFLICTING_GATEWAY: Analyzer = Analyzer {
    name: "gateway.ConflictingGatewayAnalyzer",
    description: "Checks a gateway's selector, port number and hosts",
    default: true,
    run: conflicting_gateways,
};

fn gateway_selector(e: &Entry) -> Labels {
    e.gateway()
        .and_then(|g| g.selector.clone())
        .unwrap_or_default()
}

fn selector_path(sel: &Labels) -> FieldPath {
    match first_label(sel) {
        Some(k) => FieldPath::root().field("spec").field("selector").key(k),
        None => FieldPath::root().field("spec").field("selector"),
    }
}

/// A `targetPort` as Kubernetes' `IntValue()`: the number, a numeric string's
/// number, else 0.
fn int_value(t: Option<&IntOrString>) -> i64 {
    match t {
        Some(IntOrString::Int(n)) => *n,
        Some(IntOrString::String(s)) => s.parse().unwrap_or(0),
        None => 0,
    }
}

fn ingress_gateway_ports(cx: &mut Cx<'_>) {
    let inputs = cx.inputs;
    for e in inputs.istio(IstioKind::Gateway) {
        let Some(gw) = e.gateway() else { continue };
        let sel = gateway_selector(e);
        let mut service_ports: BTreeSet<i64> = BTreeSet::new();
        let mut port_mapping: BTreeMap<i64, i64> = BTreeMap::new();
        let mut matched = 0;
        for pod in inputs.of(kinds::POD) {
            if !selects(&sel, &pod.labels) {
                continue;
            }
            matched += 1;
            for svc in inputs.of(kinds::SERVICE) {
                if svc.namespace != pod.namespace {
                    continue;
                }
                let Some(spec) = svc.service_spec() else {
                    continue;
                };
                let svc_sel = spec.selector.clone().unwrap_or_default();
                if !selects(&svc_sel, &pod.labels) {
                    continue;
                }
                for p in &spec.ports {
                    if p.protocol.as_deref() != Some("TCP") {
                        continue;
                    }
                    let tp = int_value(p.target_port.as_ref());
                    if tp != 0 {
                        service_ports.insert(tp);
                        port_mapping.entry(p.port).or_insert(tp);
                    } else {
                        service_ports.insert(p.port);
                    }
                }
            }
        }
        let sel_text = selector_string(&sel);
        if matched == 0 {
            cx.report(
                e,
                types::REFERENCED_RESOURCE_NOT_FOUND,
                format!("Referenced selector not found: {sel_text:?}"),
                selector_path(&sel),
            );
            continue;
        }
        for s in gw.servers.as_deref().unwrap_or_default() {
            let Some(port) = &s.port else { continue };
            let n = i64::from(port.number.unwrap_or(0));
            if !service_ports.contains(&n) && !port_mapping.contains_key(&n) {
                cx.report(
                    e,
                    types::GATEWAY_PORT_NOT_DEFINED_ON_SERVICE,
                    format!(
                        "The gateway is listening on a target port (port {n}) that is not defined in the Service associated with its workload instances (Pod selector {sel_text}). If you need to access the gateway port through the gateway Service, it will not be available."
                    ),
                    selector_path(&sel),
                );
            }
        }
    }
}

/// Istio's `selectorSubset`: every key of `x` is in `y` with the same value.
fn selector_subset(x: &Labels, y: &Labels) -> bool {
    x.iter().all(|(k, v)| y.get(k) == Some(v))
}

fn same_certificate(
    a: &mesh_model::wire::networking::ServerTlsSettings,
    b: &mesh_model::wire::networking::ServerTlsSettings,
) -> bool {
    let s = |o: &Option<String>| o.clone().unwrap_or_default();
    let (acn, bcn) = (s(&a.credential_name), s(&b.credential_name));
    if !acn.is_empty() && !bcn.is_empty() {
        return acn == bcn;
    }
    if acn.is_empty() && bcn.is_empty() {
        let (ac, bc) = (s(&a.server_certificate), s(&b.server_certificate));
        if !ac.is_empty() && !bc.is_empty() && ac == bc {
            let (ak, bk) = (s(&a.private_key), s(&b.private_key));
            if !ak.is_empty() && !bk.is_empty() {
                return ak == bk;
            }
            return false;
        }
    }
    false
}

fn certificates(cx: &mut Cx<'_>) {
    let inputs = cx.inputs;
    let gateways: Vec<&Entry> = inputs.istio(IstioKind::Gateway).collect();
    for current in &gateways {
        let Some(cg) = current.gateway() else {
            continue;
        };
        let csel = gateway_selector(current);
        for other in &gateways {
            if other.namespace == current.namespace && other.name == current.name {
                continue;
            }
            let Some(og) = other.gateway() else { continue };
            if !csel.is_empty() && !selector_subset(&csel, &gateway_selector(other)) {
                continue;
            }
            for cs in cg.servers.as_deref().unwrap_or_default() {
                for os in og.servers.as_deref().unwrap_or_default() {
                    let (Some(ct), Some(ot)) = (&cs.tls, &os.tls) else {
                        continue;
                    };
                    if same_certificate(ct, ot) {
                        let names = [current.full_name(), other.full_name()];
                        cx.report(
                            current,
                            types::GATEWAY_DUPLICATE_CERTIFICATE,
                            format!(
                                "Duplicate certificate in multiple gateways {} may cause 404s if clients re-use HTTP2 connections.",
                                go_list(&names)
                            ),
                            path("metadata.name"),
                        );
                    }
                }
            }
        }
    }
}

/// Whether a Secret holds a usable server certificate and key, as istiod
/// reads one (`cert`/`key`, else `tls.crt`/`tls.key`).
fn valid_secret(secret: &Entry, now: Option<i64>) -> bool {
    let data = secret.raw.get("data").and_then(|d| d.as_object());
    let value = |k: &str| -> Option<Vec<u8>> {
        let v = data?.get(k)?.as_str()?;
        let bytes = mesh_model::base64::decode(v).ok()?;
        (!bytes.is_empty()).then_some(bytes)
    };
    let cert = match (value("cert"), value("key")) {
        (Some(c), Some(_)) => c,
        _ => match (value("tls.crt"), value("tls.key")) {
            (Some(c), Some(_)) => c,
            _ => return false,
        },
    };
    crate::cert::check_pem(&cert, now).is_ok()
}

fn secrets(cx: &mut Cx<'_>) {
    let inputs = cx.inputs;
    let now = inputs.options().now;
    for e in inputs.istio(IstioKind::Gateway) {
        let Some(gw) = e.gateway() else { continue };
        let sel = gateway_selector(e);
        // The credential lives in the namespace of the gateway workload.
        let gw_ns = inputs
            .of(kinds::POD)
            .find(|p| selects(&sel, &p.labels))
            .map(|p| p.namespace.clone());
        let Some(gw_ns) = gw_ns.filter(|n| !n.is_empty()) else {
            cx.report(
                e,
                types::REFERENCED_RESOURCE_NOT_FOUND,
                format!("Referenced selector not found: {:?}", selector_string(&sel)),
                selector_path(&sel),
            );
            continue;
        };
        for (i, s) in gw.servers.as_deref().unwrap_or_default().iter().enumerate() {
            let Some(tls) = &s.tls else { continue };
            let cn = tls.credential_name.as_deref().unwrap_or("");
            if cn.is_empty() {
                continue;
            }
            let at = path(&format!("spec.servers[{i}].tls.credentialName"));
            let (sns, sname) = short_or_full_name(&gw_ns, cn);
            match inputs.find(kinds::SECRET, &sns, &sname) {
                None => cx.report(
                    e,
                    types::REFERENCED_RESOURCE_NOT_FOUND,
                    format!("Referenced credentialName not found: {cn:?}"),
                    at,
                ),
                Some(secret) => {
                    if !valid_secret(secret, now) {
                        cx.report(
                            e,
                            types::INVALID_GATEWAY_CREDENTIAL,
                            format!(
                                "The credential referenced by the Gateway {} in namespace {gw_ns} is invalid, which can cause the traffic not to work as expected.",
                                e.name
                            ),
                            at,
                        );
                    }
                }
            }
        }
    }
}

/// Parses `k=v,k2=v2` back into labels (Istio's `parseSelectorFromString`).
fn parse_selector(s: &str) -> Labels {
    s.split(',')
        .filter_map(|pair| {
            let parts: Vec<&str> = pair.split('=').collect();
            (parts.len() == 2).then(|| (parts[0].to_string(), parts[1].to_string()))
        })
        .collect()
}

/// Istio's `CheckDuplicates` for gateway hosts: whether a host of the
/// server is already known with the same bind. Without a conflict the
/// hosts become known (Istio's analyzer keeps that side effect across the
/// gateways it compares, and so does this one).
fn hosts_conflict(hosts: &[String], bind: &str, known: &mut BTreeMap<String, String>) -> bool {
    let conflict = hosts
        .iter()
        .any(|h| known.get(h).is_some_and(|b| b == bind));
    if !conflict {
        for h in hosts {
            known.insert(h.clone(), bind.to_string());
        }
    }
    conflict
}

fn conflicting_gateways(cx: &mut Cx<'_>) {
    let inputs = cx.inputs;
    // selector~port → gateway full name → host → bind.
    type HostsBind = BTreeMap<String, String>;
    let mut map: BTreeMap<(String, String), BTreeMap<String, HostsBind>> = BTreeMap::new();
    for e in inputs.istio(IstioKind::Gateway) {
        let Some(gw) = e.gateway() else { continue };
        let sel = selector_string(&gateway_selector(e));
        for s in gw.servers.as_deref().unwrap_or_default() {
            let port = s
                .port
                .as_ref()
                .and_then(|p| p.number)
                .unwrap_or(0)
                .to_string();
            let bind = s.bind.clone().unwrap_or_default();
            let hb: HostsBind = s
                .hosts
                .as_deref()
                .unwrap_or_default()
                .iter()
                .map(|h| (h.clone(), bind.clone()))
                .collect();
            map.entry((sel.clone(), port))
                .or_default()
                .insert(e.full_name(), hb);
        }
    }
    for e in inputs.istio(IstioKind::Gateway) {
        let Some(gw) = e.gateway() else { continue };
        let gw_sel = gateway_selector(e);
        let sel = selector_string(&gw_sel);
        let name = e.full_name();
        let mut exists = false;
        let mut same: Vec<(String, String)> = Vec::new();
        for key in map.keys() {
            let x = &key.0;
            let mut matched = false;
            if *x == sel {
                matched = true;
            } else if x.contains(sel.as_str()) || sel.contains(x.as_str()) {
                let xsel = parse_selector(x);
                matched = inputs
                    .of(kinds::POD)
                    .any(|p| selects(&gw_sel, &p.labels) && selects(&xsel, &p.labels));
            }
            if matched {
                exists = true;
                same.push(key.clone());
            }
        }
        if !sel.is_empty() && !exists {
            cx.report(
                e,
                types::REFERENCED_RESOURCE_NOT_FOUND,
                format!("Referenced selector not found: {sel:?}"),
                selector_path(&gw_sel),
            );
            continue;
        }
        for s in gw.servers.as_deref().unwrap_or_default() {
            let port = s
                .port
                .as_ref()
                .and_then(|p| p.number)
                .unwrap_or(0)
                .to_string();
            let hosts = s.hosts.clone().unwrap_or_default();
            let bind = s.bind.clone().unwrap_or_default();
            let mut conflicting: Vec<String> = Vec::new();
            for key in &same {
                if key.1 != port {
                    continue;
                }
                let Some(values) = map.get_mut(key) else {
                    continue;
                };
                for (other, hb) in values.iter_mut() {
                    if *other != name && hosts_conflict(&hosts, &bind, hb) {
                        conflicting.push(other.clone());
                    }
                }
            }
            if !conflicting.is_empty() {
                conflicting.sort();
                cx.report(
                    e,
                    types::CONFLICTING_GATEWAYS,
                    format!(
                        "Conflict with gateways {} (workload selector {sel}, port {port}, hosts {}).",
                        conflicting.join(","),
                        hosts.join(",")
                    ),
                    FieldPath::root(),
                );
            }
        }
    }
}
