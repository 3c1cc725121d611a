//! Assembling a sidecar's resources: which services it sees, which of its
//! ports are inbound service ports, its Sidecar resource's explicit
//! listeners, and the clusters and endpoints of every visible service port
//! and subset.
//!
//! The policy decisions that other crates own (DestinationRule resolution,
//! PeerAuthentication modes, authorization filters, route tables) come in
//! through [`ClusterInputs`], so this module is only about Istio's resource shapes.

use crate::cluster::{
    self, ClusterPolicy, Discovery, OutboundClusterSpec, UpstreamProtocol, UpstreamSecurity,
};
use crate::endpoint::{self, EndpointSpec};
use crate::proxy::Proxy;
use envoy_types::pb::envoy::config::cluster::v3::Cluster;
use envoy_types::pb::envoy::config::endpoint::v3::ClusterLoadAssignment;
use mesh_model::kube::TargetPort;
use mesh_model::labels::Labels;
use mesh_model::networking::TrafficPolicy;
use mesh_model::protocol::Protocol;
use mesh_model::snapshot::{Service, Snapshot};
use mesh_model::wire::networking::Resolution;
use std::sync::Arc;
use std::time::Duration;

/// The DestinationRule facts cluster generation needs for one service.
#[derive(Debug, Clone, Default)]
pub struct ServicePolicy {
    /// Subsets: name and labels.
    pub subsets: Vec<(String, Labels)>,
    /// The effective policy per (port, subset) (DR-4), computed by the caller.
    pub policies: Vec<((u16, Option<String>), TrafficPolicy)>,
}

impl ServicePolicy {
    fn policy(&self, port: u16, subset: Option<&str>) -> Option<&TrafficPolicy> {
        self.policies
            .iter()
            .find(|((p, s), _)| *p == port && s.as_deref() == subset)
            .map(|(_, t)| t)
    }
}

/// One inbound service port of the proxy's workload.
#[derive(Debug, Clone, PartialEq)]
pub struct InboundServicePort {
    /// The service.
    pub service: Arc<Service>,
    /// The service port.
    pub port: u16,
    /// The workload port it targets.
    pub target_port: u16,
    /// The protocol.
    pub protocol: Protocol,
}

/// The inbound service ports of the workload: ports of services in its
/// namespace that select it (XDS-1 `0.0.0.0_<targetPort>` chains).
pub fn inbound_service_ports(snapshot: &Snapshot, proxy: &Proxy) -> Vec<InboundServicePort> {
    let mut out: Vec<InboundServicePort> = Vec::new();
    for s in snapshot.services() {
        if s.namespace != proxy.namespace {
            continue;
        }
        let selects = s.selector.as_ref().is_some_and(|sel| {
            !sel.is_empty() && sel.iter().all(|(k, v)| proxy.labels.get(k) == Some(v))
        });
        if !selects {
            continue;
        }
        for p in &s.ports {
            let target_port = match &p.target_port {
                TargetPort::Number(n) => *n,
                TargetPort::Name(name) => s
                    .endpoints
                    .iter()
                    .find_map(|e| e.ports.get(&p.number).copied())
                    .unwrap_or_else(|| name.parse().unwrap_or(p.number)),
            };
            if out.iter().any(|x| x.target_port == target_port) {
                continue;
            }
            out.push(InboundServicePort {
                service: s.clone(),
                port: p.number,
                target_port,
                protocol: p.protocol,
            });
        }
    }
    out.sort_by_key(|p| p.target_port);
    out
}

/// The SPIFFE URIs of a service's workloads (DR-8 default SANs).
pub fn service_sans(service: &Service, trust_domain: &str) -> Vec<String> {
    let mut sans: Vec<String> = service
        .endpoints
        .iter()
        .filter_map(|e| {
            let sa = e.service_account.as_deref()?;
            let ns = e
                .workload
                .as_ref()
                .map_or(service.namespace.as_str(), |w| w.namespace.as_str());
            Some(format!("spiffe://{trust_domain}/ns/{ns}/sa/{sa}"))
        })
        .collect();
    sans.sort();
    sans.dedup();
    sans
}

/// How a service's clusters discover endpoints (SE-3).
fn discovery(service: &Service, cluster_name: &str, endpoints: &[EndpointSpec]) -> Discovery {
    match service.resolution {
        Resolution::None if service.headless || service.endpoints.is_empty() => {
            Discovery::OriginalDst
        }
        Resolution::Dns | Resolution::DnsRoundRobin | Resolution::DynamicDns => {
            let eps: Vec<EndpointSpec> = if endpoints.is_empty() {
                Vec::new()
            } else {
                endpoints.to_vec()
            };
            Discovery::StrictDns(endpoint::assignment(cluster_name, &eps))
        }
        _ => Discovery::Eds,
    }
}

/// The endpoints of `service` on `port` whose labels contain `subset`.
pub fn endpoint_specs(
    service: &Service,
    port: u16,
    subset: Option<&Labels>,
    auto_mtls: bool,
) -> Vec<EndpointSpec> {
    let mut out = Vec::new();
    for e in service.endpoints_for(subset) {
        let Some(address) = &e.address else { continue };
        let Some(p) = e.ports.get(&port).copied() else {
            continue;
        };
        out.push(EndpointSpec {
            address: address.clone(),
            port: p,
            locality: e.locality.clone(),
            istio_mtls: auto_mtls && e.sidecar,
            weight: e.weight,
            workload: e
                .workload
                .as_ref()
                .map(|w| format!("{};{}", w.name, w.namespace)),
        });
    }
    out
}

/// The endpoints of an SNI-DNAT cluster's EDS (`EndpointsWithMTLSFilter`):
/// the gateway cannot see whether a passed-through connection is Istio
/// mTLS, so only endpoints that accept it are kept (GW-7). All of them when
/// the DestinationRule's TLS mode for the port and subset is
/// `ISTIO_MUTUAL`, none when it is `DISABLE`; otherwise those that run a
/// sidecar, when the service's namespace does not disable mTLS (PA-7).
fn mtls_endpoints(
    service: &Service,
    port: u16,
    subset: Option<&Labels>,
    policy: Option<&TrafficPolicy>,
    inputs: &ClusterInputs<'_>,
) -> Vec<EndpointSpec> {
    use mesh_model::wire::networking::ClientTlsMode;
    let mut eps = endpoint_specs(service, port, subset, true);
    match policy.and_then(|p| p.tls.as_ref()).and_then(|t| t.mode) {
        Some(ClientTlsMode::IstioMutual) => {}
        Some(ClientTlsMode::Disable) => eps.clear(),
        _ if !(inputs.server_accepts_mtls)(service) => eps.clear(),
        _ => eps.retain(|e| e.istio_mtls),
    }
    eps
}

/// What cluster generation needs from the mesh beyond the services.
pub struct ClusterInputs<'a> {
    /// The trust domain.
    pub trust_domain: &'a str,
    /// Whether auto mTLS is on (DR-9).
    pub auto_mtls: bool,
    /// Whether the service's server side accepts mTLS (its namespace/mesh
    /// PeerAuthentication is not DISABLE, PA-7).
    pub server_accepts_mtls: &'a dyn Fn(&Service) -> bool,
    /// The DestinationRule facts for a service.
    pub policy: &'a dyn Fn(&Service) -> ServicePolicy,
    /// The mesh connect timeout.
    pub connect_timeout: Duration,
    /// Whether to add the SNI-DNAT clusters of an `AUTO_PASSTHROUGH`
    /// gateway (GW-7): for every service in the mesh and every port but
    /// UDP, `outbound_.<port>_.<subset>_.<host>`, the outbound cluster
    /// without upstream TLS (the client's mTLS passes through).
    pub sni_dnat: bool,
}

/// The outbound clusters and endpoints of every port and subset of the
/// given services (XDS-3 `outbound|port|subset|host`).
pub fn outbound_clusters(
    services: &[&Arc<Service>],
    inputs: &ClusterInputs<'_>,
) -> (Vec<Cluster>, Vec<ClusterLoadAssignment>) {
    build_outbound(Vec::new(), services, inputs, true)
}

/// One outbound cluster to build: its name, the indexes of its service,
/// port and subset, and whether it is an SNI-DNAT cluster.
struct Planned {
    name: String,
    service: usize,
    port: usize,
    subset: Option<usize>,
    sni_dnat: bool,
}

/// The outbound clusters, appended to `before` (clusters whose names sort
/// before `outbound|`, already in order), and the endpoints of the EDS ones
/// when `with_endpoints`.
pub(crate) fn build_outbound(
    mut clusters: Vec<Cluster>,
    services: &[&Arc<Service>],
    inputs: &ClusterInputs<'_>,
    with_endpoints: bool,
) -> (Vec<Cluster>, Vec<ClusterLoadAssignment>) {
    // Cluster messages are large values (several kilobytes inline): the
    // names are worked out and sorted first, and each cluster is built in
    // its final place, so that neither sorting nor growing the list moves
    // clusters around.
    struct Facts<'s> {
        service: &'s Service,
        policy: ServicePolicy,
        mtls_ok: bool,
        sans: Vec<String>,
    }
    let facts: Vec<Facts<'_>> = services
        .iter()
        .map(|s| {
            let policy = (inputs.policy)(s);
            let mtls_ok = inputs.auto_mtls && !s.mesh_external && (inputs.server_accepts_mtls)(s);
            Facts {
                service: s,
                policy,
                mtls_ok,
                sans: service_sans(s, inputs.trust_domain),
            }
        })
        .collect();
    let mut plan: Vec<Planned> = Vec::new();
    for (si, f) in facts.iter().enumerate() {
        let s = f.service;
        for (pi, port) in s.ports.iter().enumerate() {
            let subsets = std::iter::once(None).chain((0..f.policy.subsets.len()).map(Some));
            for subset in subsets {
                let subset_name = subset.map(|i| f.policy.subsets[i].0.as_str());
                let host = s.hostname.as_str();
                let name = cluster::outbound_name(port.number, subset_name.unwrap_or(""), host);
                plan.push(Planned {
                    name,
                    service: si,
                    port: pi,
                    subset,
                    sni_dnat: false,
                });
                if inputs.sni_dnat && !s.mesh_external && port.protocol != Protocol::Udp {
                    plan.push(Planned {
                        name: mesh_model::host::sni_name(port.number, subset_name, host),
                        service: si,
                        port: pi,
                        subset,
                        sni_dnat: true,
                    });
                }
            }
        }
    }
    plan.sort_by(|a, b| a.name.cmp(&b.name));
    clusters.reserve_exact(plan.len());
    let mut assignments = Vec::with_capacity(if with_endpoints { plan.len() } else { 0 });
    // The clusters of one service share their mTLS context but the SNI.
    let mut sockets = crate::tls::IstioMutualUpstreams::default();
    for Planned {
        name,
        service: si,
        port: pi,
        subset,
        sni_dnat,
    } in plan
    {
        let f = &facts[si];
        let (s, sp, mtls_ok) = (f.service, &f.policy, f.mtls_ok);
        let port = &s.ports[pi];
        let protocol = if port.protocol.is_http2() {
            UpstreamProtocol::Http2
        } else {
            UpstreamProtocol::Http1OrTcp
        };
        let (subset, labels) = match subset {
            Some(i) => {
                let (n, l) = &sp.subsets[i];
                (Some(n.as_str()), Some(l))
            }
            None => (None, None),
        };
        // Endpoints are inline only in DNS clusters; EDS sends the others'.
        let dns = matches!(
            s.resolution,
            Resolution::Dns | Resolution::DnsRoundRobin | Resolution::DynamicDns
        );
        let policy = sp.policy(port.number, subset);
        let eps = if sni_dnat && !dns {
            if with_endpoints {
                mtls_endpoints(s, port.number, labels, policy, inputs)
            } else {
                Vec::new()
            }
        } else if with_endpoints || dns {
            endpoint_specs(s, port.number, labels, mtls_ok)
        } else {
            Vec::new()
        };
        let cp = ClusterPolicy {
            load_balancer: policy.and_then(|p| p.load_balancer.as_ref()),
            connection_pool: policy.and_then(|p| p.connection_pool.as_ref()),
            outlier_detection: policy.and_then(|p| p.outlier_detection.as_ref()),
            tls: policy.and_then(|p| p.tls.as_ref()),
        };
        let security = if mtls_ok && !sni_dnat {
            UpstreamSecurity::Auto {
                sni: mesh_model::host::sni_name(port.number, subset, s.hostname.as_str()),
                sans: f.sans.clone(),
            }
        } else {
            UpstreamSecurity::Plaintext
        };
        let disc = discovery(s, &name, &eps);
        let eds = matches!(disc, Discovery::Eds);
        if eds && with_endpoints {
            assignments.push(endpoint::assignment(&name, &eps));
        }
        // Built in its slot (a `Cluster` is over three kilobytes).
        clusters.push(Cluster::default());
        let Some(slot) = clusters.last_mut() else {
            continue;
        };
        cluster::outbound_with(
            slot,
            &OutboundClusterSpec {
                name,
                host: s.hostname.as_str(),
                namespace: &s.namespace,
                service_name: &s.name,
                discovery: disc,
                policy: cp,
                protocol,
                security,
                connect_timeout: inputs.connect_timeout,
            },
            &mut sockets,
        );
    }
    (clusters, assignments)
}
