//! The VirtualService analyzers: destination hosts and ports, destination
//! rule subsets, gateways, hosts shared on the mesh gateway, and JWT claim
//! routes.

use super::util::{
    destination_host, exports_to_all, go_list, go_quote, host_matches, host_to_fqdn,
    resource_name_from_host, selects, service_host_map, short_or_full_name,
};
use super::{Analyzer, Cx, path};
use crate::input::{Entry, kinds};
use crate::message::types;
use mesh_model::diag::FieldPath;
use mesh_model::resource::IstioKind;
use mesh_model::wire::networking as w;
use std::collections::{BTreeMap, BTreeSet};

/// `virtualservice.ConflictingMeshGatewayHostsAnalyzer`.
pub const CONFLICTING_MESH_GATEWAY_HOSTS: Analyzer = Analyzer {
    name: "virtualservice.ConflictingMeshGatewayHostsAnalyzer",
    description: "Checks if multiple virtual services associated with the mesh gateway have conflicting hosts",
    default: true,
    run: conflicting_mesh_gateway_hosts,
};

/// `virtualservice.DestinationHostAnalyzer`.
pub const DESTINATION_HOST: Analyzer = Analyzer {
    name: "virtualservice.DestinationHostAnalyzer",
    description: "Checks the destination hosts associated with each virtual service",
    default: true,
    run: destination_hosts,
};

/// `virtualservice.DestinationRuleAnalyzer`.
pub const DESTINATION_RULE: Analyzer = Analyzer {
    name: "virtualservice.DestinationRuleAnalyzer",
    description: "Checks the destination rules associated with each virtual service",
    default: true,
    run: destination_rules,
};

/// `virtualservice.GatewayAnalyzer`.
pub const GATEWAY: Analyzer = Analyzer {
    name: "virtualservice.GatewayAnalyzer",
    description: "Checks the gateways associated with each virtual service",
    default: true,
    run: gateways,
};

/// `virtualservice.JWTClaimRouteAnalyzer`.
pub const JWT_CLAIM_ROUTE: Analyzer = Analyzer {
    name: "virtualservice.JWTClaimRouteAnalyzer",
    description: "Checks the VirtualService using JWT claim based routing has corresponding RequestAuthentication",
    default: true,
    run: jwt_claim_routes,
};

/// A destination of a route or mirror, with where it is written.
struct AnnotatedDestination<'a> {
    destination: Option<&'a w::Destination>,
    /// The field path of the destination's host.
    host_path: FieldPath,
}

impl AnnotatedDestination<'_> {
    fn host(&self) -> &str {
        self.destination
            .and_then(|d| d.host.as_deref())
            .unwrap_or("")
    }
    fn subset(&self) -> &str {
        self.destination
            .and_then(|d| d.subset.as_deref())
            .unwrap_or("")
    }
    fn port(&self) -> Option<u32> {
        self.destination
            .and_then(|d| d.port.as_ref())
            .map(|p| p.number.unwrap_or(0))
    }
}

/// Route destinations: TCP, then TLS, then HTTP (Istio's order).
fn route_destinations(vs: &w::VirtualService) -> Vec<AnnotatedDestination<'_>> {
    let mut out = Vec::new();
    for (i, r) in vs.tcp.as_deref().unwrap_or_default().iter().enumerate() {
        for (j, rd) in r.route.as_deref().unwrap_or_default().iter().enumerate() {
            out.push(AnnotatedDestination {
                destination: rd.destination.as_ref(),
                host_path: path(&format!("spec.tcp[{i}].route[{j}].destination.host")),
            });
        }
    }
    for (i, r) in vs.tls.as_deref().unwrap_or_default().iter().enumerate() {
        for (j, rd) in r.route.as_deref().unwrap_or_default().iter().enumerate() {
            out.push(AnnotatedDestination {
                destination: rd.destination.as_ref(),
                host_path: path(&format!("spec.tls[{i}].route[{j}].destination.host")),
            });
        }
    }
    for (i, r) in vs.http.as_deref().unwrap_or_default().iter().enumerate() {
        for (j, rd) in r.route.as_deref().unwrap_or_default().iter().enumerate() {
            out.push(AnnotatedDestination {
                destination: rd.destination.as_ref(),
                host_path: path(&format!("spec.http[{i}].route[{j}].destination.host")),
            });
        }
    }
    out
}

fn mirror_destinations(vs: &w::VirtualService) -> Vec<AnnotatedDestination<'_>> {
    let mut out = Vec::new();
    for (i, r) in vs.http.as_deref().unwrap_or_default().iter().enumerate() {
        if let Some(m) = &r.mirror {
            out.push(AnnotatedDestination {
                destination: Some(m),
                host_path: path(&format!("spec.http[{i}].mirror.host")),
            });
        }
        for (j, m) in r.mirrors.as_deref().unwrap_or_default().iter().enumerate() {
            out.push(AnnotatedDestination {
                destination: m.destination.as_ref(),
                host_path: path(&format!("spec.http[{i}].mirrors[{j}].destination.host")),
            });
        }
    }
    out
}

fn destination_hosts(cx: &mut Cx<'_>) {
    let inputs = cx.inputs;
    let services = service_host_map(inputs);
    // VirtualServices with subset destinations to one of their own hosts.
    let mut subset_destinations: Vec<(String, Vec<String>)> = Vec::new();
    for e in inputs.istio(IstioKind::VirtualService) {
        let Some(vs) = e.virtual_service() else {
            continue;
        };
        let hosts = vs.hosts.as_deref().unwrap_or_default();
        let mut dests = Vec::new();
        for r in vs.http.as_deref().unwrap_or_default() {
            for rd in r.route.as_deref().unwrap_or_default() {
                let d = rd.destination.as_ref();
                if d.and_then(|d| d.subset.as_deref()).unwrap_or("").is_empty() {
                    continue;
                }
                let h = d.and_then(|d| d.host.as_deref()).unwrap_or("");
                for host in hosts {
                    if h == host {
                        dests.push(h.to_string());
                    }
                }
            }
        }
        if !dests.is_empty() {
            subset_destinations.push((e.full_name(), dests));
        }
    }
    for e in inputs.istio(IstioKind::VirtualService) {
        let Some(vs) = e.virtual_service() else {
            continue;
        };
        let export_to = vs.export_to.clone().unwrap_or_default();
        for d in route_destinations(vs) {
            match destination_host(&e.namespace, &export_to, d.host(), &services) {
                None => cx.report(
                    e,
                    types::REFERENCED_RESOURCE_NOT_FOUND,
                    format!("Referenced host not found: {}", go_quote(d.host())),
                    d.host_path.clone(),
                ),
                Some(s) => check_ports(cx, e, &d, &s.ports),
            }
        }
        for d in mirror_destinations(vs) {
            match destination_host(&e.namespace, &export_to, d.host(), &services) {
                None => cx.report(
                    e,
                    types::REFERENCED_RESOURCE_NOT_FOUND,
                    format!("Referenced mirror host not found: {}", go_quote(d.host())),
                    d.host_path.clone(),
                ),
                Some(s) => check_ports(cx, e, &d, &s.ports),
            }
        }
        // A subset has no effect on requests through an ingress gateway
        // when another VirtualService routes the same host by subset.
        if vs.gateways.as_deref().unwrap_or_default().is_empty() {
            continue;
        }
        for (i, r) in vs.http.as_deref().unwrap_or_default().iter().enumerate() {
            for (j, rd) in r.route.as_deref().unwrap_or_default().iter().enumerate() {
                let d = rd.destination.as_ref();
                if !d.and_then(|d| d.subset.as_deref()).unwrap_or("").is_empty() {
                    continue;
                }
                let h = d.and_then(|d| d.host.as_deref()).unwrap_or("");
                for (other, dests) in &subset_destinations {
                    for dh in dests {
                        if dh == h {
                            cx.report(
                                e,
                                types::INGRESS_ROUTE_RULES_NOT_AFFECTED,
                                format!(
                                    "Subset in virtual service {other} has no effect on ingress gateway {} requests",
                                    e.full_name()
                                ),
                                path(&format!("spec.http[{i}].route[{j}].destination.host")),
                            );
                        }
                    }
                }
            }
        }
    }
}

fn check_ports(
    cx: &mut Cx<'_>,
    e: &Entry,
    d: &AnnotatedDestination<'_>,
    ports: &[super::util::PortInfo],
) {
    match d.port() {
        None => {
            if ports.len() > 1 {
                let numbers: Vec<u32> = ports.iter().map(|p| p.number).collect();
                cx.report(
                    e,
                    types::VIRTUAL_SERVICE_DESTINATION_PORT_SELECTOR_REQUIRED,
                    format!(
                        "This VirtualService routes to a service {} that exposes multiple ports {}. Specifying a port in the destination is required to disambiguate.",
                        go_quote(d.host()),
                        go_list(&numbers)
                    ),
                    d.host_path.clone(),
                );
            }
        }
        Some(port) => {
            if !ports.iter().any(|p| p.number == port) {
                cx.report(
                    e,
                    types::REFERENCED_RESOURCE_NOT_FOUND,
                    format!(
                        "Referenced host:port not found: {}",
                        go_quote(&format!("{}:{port}", d.host()))
                    ),
                    d.host_path.clone(),
                );
            }
        }
    }
}

fn destination_rules(cx: &mut Cx<'_>) {
    let inputs = cx.inputs;
    let mut subsets: BTreeSet<((String, String), String)> = BTreeSet::new();
    for e in inputs.istio(IstioKind::DestinationRule) {
        let Some(dr) = e.destination_rule() else {
            continue;
        };
        let host = resource_name_from_host(&e.namespace, dr.host.as_deref().unwrap_or(""));
        for ss in dr.subsets.as_deref().unwrap_or_default() {
            subsets.insert((host.clone(), ss.name.clone().unwrap_or_default()));
        }
    }
    let exists = |ns: &str, d: &AnnotatedDestination<'_>| {
        let subset = d.subset();
        subset.is_empty()
            || subsets.contains(&(resource_name_from_host(ns, d.host()), subset.to_string()))
    };
    for e in inputs.istio(IstioKind::VirtualService) {
        let Some(vs) = e.virtual_service() else {
            continue;
        };
        for d in route_destinations(vs) {
            if !exists(&e.namespace, &d) {
                cx.report(
                    e,
                    types::REFERENCED_RESOURCE_NOT_FOUND,
                    format!(
                        "Referenced host+subset in destinationrule not found: {}",
                        go_quote(&format!("{}+{}", d.host(), d.subset()))
                    ),
                    d.host_path.clone(),
                );
            }
        }
        for d in mirror_destinations(vs) {
            if !exists(&e.namespace, &d) {
                cx.report(
                    e,
                    types::REFERENCED_RESOURCE_NOT_FOUND,
                    format!(
                        "Referenced mirror+subset in destinationrule not found: {}",
                        go_quote(&format!("{}+{}", d.host(), d.subset()))
                    ),
                    d.host_path.clone(),
                );
            }
        }
    }
}

/// Whether a gateway reference names a Gateway generated from a Kubernetes
/// Gateway (`ns/name~istio-autogenerated-k8s-gateway~…`).
fn is_internal_gateway_reference(name: &str) -> bool {
    let n = name.split_once('/').map_or(name, |(_, n)| n);
    n.contains("~istio-autogenerated-k8s-gateway~")
}

/// A Gateway's hosts as the VirtualService analyzers see them: `./h`
/// becomes `<gateway ns>/h`, `*/h` becomes `h`, and `*/*` stands for `*`.
fn sanitized_server_hosts(hosts: &[String], namespace: &str) -> Vec<String> {
    let mut out = Vec::with_capacity(hosts.len());
    for h in hosts {
        match h.split_once('/') {
            Some((".", rest)) => out.push(format!("{namespace}/{rest}")),
            Some(("*", "*")) => return vec!["*".to_string()],
            Some(("*", rest)) => out.push(rest.to_string()),
            _ => out.push(h.clone()),
        }
    }
    out
}

fn vs_host_in_gateway(
    cx: &Cx<'_>,
    gw_ns: &str,
    gw_name: &str,
    vs_hosts: &[String],
    vs_ns: &str,
) -> bool {
    let mut gateway_hosts = Vec::new();
    for g in cx.inputs.istio(IstioKind::Gateway) {
        if g.namespace != gw_ns || g.name != gw_name {
            continue;
        }
        let Some(spec) = g.gateway() else { continue };
        for s in spec.servers.as_deref().unwrap_or_default() {
            gateway_hosts.extend(sanitized_server_hosts(
                s.hosts.as_deref().unwrap_or_default(),
                &g.namespace,
            ));
        }
    }
    // Hosts scoped to another namespace do not apply to this VirtualService.
    let names: Vec<String> = gateway_hosts
        .into_iter()
        .filter_map(|h| match h.split_once('/') {
            Some((ns, name)) => (ns == vs_ns || ns == "*").then(|| name.to_string()),
            None => Some(h),
        })
        .collect();
    names
        .iter()
        .any(|gh| vs_hosts.iter().any(|vh| host_matches(gh, vh)))
}

fn vs_host_in_kubernetes_gateway(gw: &Entry, vs_hosts: &[String]) -> bool {
    let listeners = gw
        .raw_at(&["spec", "listeners"])
        .and_then(|l| l.as_array())
        .cloned()
        .unwrap_or_default();
    let mut hosts = Vec::new();
    for l in &listeners {
        match l.get("hostname").and_then(|h| h.as_str()) {
            None | Some("") => return true,
            Some(h) => hosts.push(h.to_string()),
        }
    }
    hosts
        .iter()
        .any(|gh| vs_hosts.iter().any(|vh| host_matches(gh, vh)))
}

fn gateways(cx: &mut Cx<'_>) {
    let inputs = cx.inputs;
    for e in inputs.istio(IstioKind::VirtualService) {
        let Some(vs) = e.virtual_service() else {
            continue;
        };
        let vs_hosts = vs.hosts.clone().unwrap_or_default();
        for (i, gw) in vs
            .gateways
            .as_deref()
            .unwrap_or_default()
            .iter()
            .enumerate()
        {
            if gw == "mesh" {
                continue;
            }
            let at = path(&format!("spec.gateways[{i}]"));
            if is_internal_gateway_reference(gw) {
                cx.report(
                    e,
                    types::REFERENCED_INTERNAL_GATEWAY,
                    format!(
                        "Gateway reference in VirtualService {} is to an implementation-generated internal Gateway: {gw}.",
                        e.full_name()
                    ),
                    at,
                );
                continue;
            }
            let (gns, gname) = short_or_full_name(&e.namespace, gw);
            let istio_gw = inputs
                .find(crate::input::kinds::istio(IstioKind::Gateway), &gns, &gname)
                .is_some();
            let k8s_gw = if istio_gw {
                None
            } else {
                inputs.find(kinds::K8S_GATEWAY, &gns, &gname)
            };
            if !istio_gw && k8s_gw.is_none() {
                cx.report(
                    e,
                    types::REFERENCED_RESOURCE_NOT_FOUND,
                    format!("Referenced gateway not found: {}", go_quote(gw)),
                    at.clone(),
                );
            }
            let hosts_match = match k8s_gw {
                Some(g) => vs_host_in_kubernetes_gateway(g, &vs_hosts),
                None => vs_host_in_gateway(cx, &gns, &gname, &vs_hosts, &e.namespace),
            };
            if !hosts_match {
                cx.report(
                    e,
                    types::VIRTUAL_SERVICE_HOST_NOT_FOUND_IN_GATEWAY,
                    format!(
                        "one or more host {} defined in VirtualService {} not found in Gateway {}.",
                        go_list(&vs_hosts),
                        e.full_name(),
                        super::util::full_name(&gns, &gname)
                    ),
                    at,
                );
            }
        }
    }
}

fn conflicting_mesh_gateway_hosts(cx: &mut Cx<'_>) {
    let inputs = cx.inputs;
    // scope/fqdn → the VirtualServices bound to the mesh that define it.
    let mut hosts: BTreeMap<(String, String), Vec<&Entry>> = BTreeMap::new();
    for e in inputs.istio(IstioKind::VirtualService) {
        let Some(vs) = e.virtual_service() else {
            continue;
        };
        let gws = vs.gateways.as_deref().unwrap_or_default();
        if !(gws.is_empty() || gws.iter().any(|g| g == "mesh")) {
            continue;
        }
        let export_to = vs.export_to.as_deref().unwrap_or_default();
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
            for h in vs.hosts.as_deref().unwrap_or_default() {
                hosts
                    .entry((scope.clone(), host_to_fqdn(&e.namespace, h)))
                    .or_default()
                    .push(e);
            }
        }
    }
    let mut reported: BTreeSet<String> = BTreeSet::new();
    for ((scope, fqdn), list) in &hosts {
        let mut list = list.clone();
        if scope != "*" {
            for ((s, h), more) in &hosts {
                if s == "*" && host_matches(fqdn, h) {
                    list.extend(more.iter().copied());
                }
            }
        }
        if list.len() < 2 {
            continue;
        }
        let mut names: Vec<String> = list.iter().map(|e| e.full_name()).collect();
        names.sort();
        let joined = names.join(",");
        for e in &list {
            if !reported.insert(e.full_name()) {
                continue;
            }
            cx.report(
                e,
                types::CONFLICTING_MESH_GATEWAY_VIRTUAL_SERVICE_HOSTS,
                format!(
                    "The VirtualServices {joined} associated with mesh gateway define the same host {scope}/{fqdn} which can lead to undefined behavior. This can be fixed by merging the conflicting VirtualServices into a single resource."
                ),
                path("metadata.name"),
            );
        }
    }
}

/// The first header or without-header key that routes on a JWT claim.
fn jwt_claim_key(vs: &w::VirtualService) -> Option<String> {
    for r in vs.http.as_deref().unwrap_or_default() {
        for m in r.r#match.as_deref().unwrap_or_default() {
            for key in m
                .headers
                .iter()
                .flat_map(|h| h.keys())
                .chain(m.without_headers.iter().flat_map(|h| h.keys()))
            {
                if mesh_model::networking::jwt_claim_route(key).is_some() {
                    return Some(key.clone());
                }
            }
        }
    }
    None
}

fn jwt_claim_routes(cx: &mut Cx<'_>) {
    let inputs = cx.inputs;
    let mut ra_by_namespace: BTreeMap<&str, Vec<mesh_model::labels::Labels>> = BTreeMap::new();
    for e in inputs.istio(IstioKind::RequestAuthentication) {
        let Some(ra) = e.request_authentication() else {
            continue;
        };
        ra_by_namespace.entry(&e.namespace).or_default().push(
            ra.selector
                .as_ref()
                .and_then(|s| s.match_labels.clone())
                .unwrap_or_default(),
        );
    }
    for e in inputs.istio(IstioKind::VirtualService) {
        let Some(vs) = e.virtual_service() else {
            continue;
        };
        let Some(key) = jwt_claim_key(vs) else {
            continue;
        };
        for gw in vs.gateways.as_deref().unwrap_or_default() {
            if gw == "mesh" {
                continue;
            }
            let (gns, gname) = short_or_full_name(&e.namespace, gw);
            let Some(g) = inputs.find(crate::input::kinds::istio(IstioKind::Gateway), &gns, &gname)
            else {
                continue;
            };
            let selector = g
                .gateway()
                .and_then(|s| s.selector.clone())
                .unwrap_or_default();
            for pod in inputs.of(kinds::POD) {
                if !selects(&selector, &pod.labels) {
                    continue;
                }
                let covered = ra_by_namespace
                    .get("istio-system")
                    .into_iter()
                    .flatten()
                    .chain(
                        ra_by_namespace
                            .get(pod.namespace.as_str())
                            .into_iter()
                            .flatten(),
                    )
                    .any(|sel| selects(sel, &pod.labels));
                if !covered {
                    cx.report(
                        e,
                        types::JWT_CLAIM_BASED_ROUTING_WITHOUT_REQUEST_AUTHN,
                        format!(
                            "The virtual service uses the JWT claim based routing (key: {key}) but found no request authentication for the gateway ({}) pod ({}). The request authentication must first be applied for the gateway pods to validate the JWT token and make the claims available for routing.",
                            super::util::full_name(&gns, &gname),
                            pod.name
                        ),
                        FieldPath::root(),
                    );
                }
            }
        }
    }
}
