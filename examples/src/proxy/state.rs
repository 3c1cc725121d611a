//! One proxy's view of the mesh, compiled once per configuration: its
//! listeners, its route table (mesh-route), its authorization, peer
//! authentication and JWT rules (mesh-authz), and the clusters it can
//! forward to, each with its endpoints, load balancer, outlier detection and
//! upstream security (DestinationRule resolution, DR-1..DR-9).
//!
//! A new configuration builds a new [`MeshState`]; requests in flight keep
//! the one they started with. Endpoint health (outlier ejection, active
//! requests) lives in a [`HealthRegistry`] that outlives configurations.

use mesh_authz::engine::{Authz, AuthzOptions, WorkloadAuthz};
use mesh_authz::jwt::{JwksSources, WorkloadJwt};
use mesh_authz::peer::{PeerPolicies, namespace_mtls_mode};
use mesh_model::labels::Labels;
use mesh_model::networking::TrafficPolicy;
use mesh_model::security::MtlsMode;
use mesh_model::snapshot::{Service, Snapshot};
use mesh_model::wire::networking::{ClientTlsMode, SimpleLb};
use mesh_route::config::HashPolicy;
use mesh_route::{DestinationRules, ProxyContext, RouteTable};
use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicU32, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Whether the proxy is a sidecar or a gateway.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProxyKind {
    /// A sidecar beside one workload.
    Sidecar,
    /// An ingress gateway (Istio's `router`).
    Gateway,
}

/// The workload a proxy serves: who it is in the mesh.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Workload {
    /// Sidecar or gateway.
    pub kind: ProxyKind,
    /// The workload (Pod) name.
    pub name: String,
    /// The namespace.
    pub namespace: String,
    /// The labels.
    pub labels: Labels,
    /// The service account.
    pub service_account: String,
    /// The workload's address: where inbound and gateway listeners bind
    /// unless the configuration names a `bind`.
    pub ip: IpAddr,
}

impl Workload {
    /// Istio's node id: `sidecar~IP~NAME.NS~NS.svc.cluster.local`.
    pub fn node_id(&self) -> String {
        let kind = match self.kind {
            ProxyKind::Sidecar => "sidecar",
            ProxyKind::Gateway => "router",
        };
        format!(
            "{kind}~{}~{}.{ns}~{ns}.svc.cluster.local",
            self.ip,
            self.name,
            ns = self.namespace
        )
    }

    /// The canonical workload name Istio's telemetry reports: the
    /// Deployment name when the Pod name carries the usual suffixes, else
    /// the `app` label's owner, else the name.
    pub fn telemetry_name(&self) -> &str {
        &self.name
    }
}

/// What a listener does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ListenerKind {
    /// Outbound HTTP: a sidecar egress listener (routes of service port
    /// `port`) or a gateway server port (`port` is the server port).
    Outbound {
        /// The port requests are routed for.
        port: u16,
    },
    /// Inbound: mTLS per PeerAuthentication, authorization, then the local
    /// application.
    Inbound {
        /// The workload (target) port: PeerAuthentication port-level
        /// settings and the `ports` of authorization rules see it.
        target_port: u16,
        /// The application.
        app: SocketAddr,
    },
}

/// A listener of the proxy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listener {
    /// Where it binds.
    pub addr: SocketAddr,
    /// What it does.
    pub kind: ListenerKind,
}

/// Upstream TLS of an endpoint (ISTIO_MUTUAL, DR-8).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct UpstreamTls {
    /// The SNI (`outbound_.<port>_.<subset>_.<host>`).
    pub sni: String,
    /// The SPIFFE URIs the server certificate may carry.
    pub sans: Vec<String>,
}

/// Health of one endpoint, kept across configurations.
#[derive(Debug, Default)]
pub struct Health {
    /// Requests in flight (least request).
    pub active: AtomicUsize,
    consecutive_5xx: AtomicU32,
    consecutive_gateway: AtomicU32,
    /// Nanoseconds since the registry's epoch until which the endpoint is
    /// ejected (0: not ejected).
    ejected_until: AtomicU64,
    times_ejected: AtomicU32,
}

/// Endpoint health by cluster and address.
#[derive(Debug)]
pub struct HealthRegistry {
    epoch: Instant,
    map: Mutex<HashMap<(String, SocketAddr), Arc<Health>>>,
}

impl Default for HealthRegistry {
    fn default() -> Self {
        HealthRegistry {
            epoch: Instant::now(),
            map: Mutex::new(HashMap::new()),
        }
    }
}

impl HealthRegistry {
    fn get(&self, cluster: &str, addr: SocketAddr) -> Arc<Health> {
        self.map
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .entry((cluster.to_string(), addr))
            .or_default()
            .clone()
    }

    fn now(&self) -> u64 {
        self.epoch.elapsed().as_nanos() as u64
    }
}

/// One endpoint of a cluster.
#[derive(Debug)]
pub struct Endpoint {
    /// Where to connect.
    pub addr: SocketAddr,
    /// Istio mTLS, or plaintext.
    pub tls: Option<UpstreamTls>,
    /// Telemetry: the workload's name and namespace, app and version
    /// labels, and principal.
    pub peer: Arc<PeerInfo>,
    /// Health.
    pub health: Arc<Health>,
}

/// What telemetry reports about the other side of a request.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PeerInfo {
    /// Workload name.
    pub workload: Option<String>,
    /// Workload namespace.
    pub namespace: Option<String>,
    /// `app` label (canonical service).
    pub app: Option<String>,
    /// `version` label.
    pub version: Option<String>,
    /// SPIFFE principal (`td/ns/NS/sa/SA`).
    pub principal: Option<String>,
}

/// How a cluster picks an endpoint (DR-5).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LoadBalancer {
    /// Round robin.
    RoundRobin,
    /// Least request (power of two choices): Istio's default.
    LeastRequest,
    /// Random.
    Random,
    /// Consistent hash on a request property (WT-5).
    ConsistentHash(HashPolicy),
}

/// Outlier detection (DR-7): consecutive 5xx and gateway errors.
#[derive(Debug, Clone, PartialEq)]
pub struct Outlier {
    /// Consecutive 5xx before ejection (0: off).
    pub consecutive_5xx: u32,
    /// Consecutive 502/503/504 before ejection (0: off).
    pub consecutive_gateway: u32,
    /// The base ejection time (multiplied by the times ejected).
    pub base_ejection: Duration,
    /// At most this percentage of the cluster ejected (at least one host).
    pub max_ejection_percent: u32,
}

/// The service a cluster belongs to (telemetry).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ServiceInfo {
    /// The FQDN.
    pub host: String,
    /// The Kubernetes name.
    pub name: String,
    /// The namespace.
    pub namespace: String,
}

/// An upstream cluster: `outbound|port|subset|host` or the local app.
#[derive(Debug)]
pub struct Cluster {
    /// The name.
    pub name: String,
    /// The service.
    pub service: Arc<ServiceInfo>,
    /// The endpoints.
    pub endpoints: Vec<Arc<Endpoint>>,
    /// The load balancer.
    pub lb: LoadBalancer,
    /// Outlier detection.
    pub outlier: Option<Outlier>,
    /// Connect timeout.
    pub connect_timeout: Duration,
    /// `http2MaxRequests` / `http1MaxPendingRequests` style limit on
    /// requests in flight (circuit breaker; 503 `UO` beyond it).
    pub max_requests: Option<usize>,
    /// Requests in flight.
    pub active: AtomicUsize,
    rr: AtomicUsize,
    registry_epoch: Instant,
}

impl Cluster {
    fn now(&self) -> u64 {
        self.registry_epoch.elapsed().as_nanos() as u64
    }

    fn ejected(&self, e: &Endpoint, now: u64) -> bool {
        let until = e.health.ejected_until.load(Ordering::Relaxed);
        until != 0 && now < until
    }

    /// Picks an endpoint: healthy ones (not ejected) by the load balancer,
    /// avoiding `avoid` (hosts already tried, the retry predicate) when
    /// others exist. `hash` is the request's consistent-hash key, `dice` a
    /// random draw.
    pub fn pick(
        &self,
        hash: Option<u64>,
        avoid: &[SocketAddr],
        dice: u64,
    ) -> Option<Arc<Endpoint>> {
        let now = self.now();
        let mut candidates: Vec<&Arc<Endpoint>> = self
            .endpoints
            .iter()
            .filter(|e| !self.ejected(e, now))
            .collect();
        if candidates.is_empty() {
            return None;
        }
        if candidates.len() > 1 && !avoid.is_empty() {
            let fresh: Vec<&Arc<Endpoint>> = candidates
                .iter()
                .copied()
                .filter(|e| !avoid.contains(&e.addr))
                .collect();
            if !fresh.is_empty() {
                candidates = fresh;
            }
        }
        let n = candidates.len();
        match (&self.lb, hash) {
            (LoadBalancer::ConsistentHash(_), Some(h)) => candidates
                .iter()
                .copied()
                .max_by_key(|e| mix(h ^ hash_addr(e.addr)))
                .cloned(),
            (LoadBalancer::RoundRobin, _) => {
                let i = self.rr.fetch_add(1, Ordering::Relaxed);
                Some(candidates[i % n].clone())
            }
            (LoadBalancer::Random, _) | (LoadBalancer::ConsistentHash(_), None) => {
                Some(candidates[(dice % n as u64) as usize].clone())
            }
            (LoadBalancer::LeastRequest, _) => {
                if n == 1 {
                    Some(candidates[0].clone())
                } else {
                    let a = candidates[(dice % n as u64) as usize];
                    let b = candidates[((dice >> 32) % n as u64) as usize];
                    let la = a.health.active.load(Ordering::Relaxed);
                    let lb = b.health.active.load(Ordering::Relaxed);
                    Some(if lb < la { b.clone() } else { a.clone() })
                }
            }
        }
    }

    /// Records an upstream result for outlier detection: `status` of the
    /// response, or `None` for a connection failure or reset (counted as
    /// a 503, as Envoy does when local and external errors are not split).
    pub fn observe(&self, e: &Endpoint, status: Option<u16>) {
        let Some(o) = &self.outlier else { return };
        let code = status.unwrap_or(503);
        let h = &e.health;
        if code < 500 {
            h.consecutive_5xx.store(0, Ordering::Relaxed);
            h.consecutive_gateway.store(0, Ordering::Relaxed);
            return;
        }
        let c5 = h.consecutive_5xx.fetch_add(1, Ordering::Relaxed) + 1;
        let gw = if matches!(code, 502..=504) {
            h.consecutive_gateway.fetch_add(1, Ordering::Relaxed) + 1
        } else {
            h.consecutive_gateway.store(0, Ordering::Relaxed);
            0
        };
        let trip = (o.consecutive_5xx > 0 && c5 >= o.consecutive_5xx)
            || (o.consecutive_gateway > 0 && gw >= o.consecutive_gateway);
        if !trip {
            return;
        }
        let now = self.now();
        let ejected = self
            .endpoints
            .iter()
            .filter(|x| self.ejected(x, now))
            .count();
        let limit = (self.endpoints.len() * o.max_ejection_percent as usize / 100).max(1);
        if ejected >= limit || self.ejected(e, now) {
            return;
        }
        let times = h.times_ejected.fetch_add(1, Ordering::Relaxed) + 1;
        let until = now + (o.base_ejection * times).as_nanos() as u64;
        h.ejected_until.store(until.max(1), Ordering::Relaxed);
        h.consecutive_5xx.store(0, Ordering::Relaxed);
        h.consecutive_gateway.store(0, Ordering::Relaxed);
    }

    /// Whether `e` is ejected now.
    pub fn is_ejected(&self, e: &Endpoint) -> bool {
        self.ejected(e, self.now())
    }
}

/// A 64-bit mix (splitmix64's finaliser).
pub fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// FNV-1a of a string.
pub fn hash_str(s: &str) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in s.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

fn hash_addr(a: SocketAddr) -> u64 {
    hash_str(&a.to_string())
}

/// The proxy's compiled view of one mesh configuration.
#[derive(Debug)]
pub struct MeshState {
    /// The mesh.
    pub snapshot: Snapshot,
    /// The workload.
    pub workload: Workload,
    /// Routes (mesh-route).
    pub routes: RouteTable,
    /// Authorization (mesh-authz).
    pub authz: WorkloadAuthz,
    /// PeerAuthentication.
    pub peer: PeerPolicies,
    /// RequestAuthentication.
    pub jwt: WorkloadJwt,
    /// Clusters by name.
    pub clusters: HashMap<String, Arc<Cluster>>,
    /// Listeners.
    pub listeners: Vec<Listener>,
    /// The trust domain.
    pub trust_domain: String,
    /// The service of each inbound (target) port, for telemetry.
    pub inbound_services: HashMap<u16, ServiceInfo>,
    /// This workload, as telemetry reports it.
    pub me: Arc<PeerInfo>,
}

fn parse_duration(s: Option<&String>) -> Option<Duration> {
    s.and_then(|s| mesh_model::duration::parse_duration(s).ok())
}

fn parse_endpoint(s: &str) -> Option<SocketAddr> {
    s.parse().ok()
}

impl MeshState {
    /// Compiles `snapshot` for `workload`.
    pub fn build(snapshot: Snapshot, workload: Workload, health: &HealthRegistry) -> MeshState {
        let ns = workload.namespace.as_str();
        let labels = &workload.labels;
        let routes = match workload.kind {
            ProxyKind::Sidecar => {
                RouteTable::compile(&snapshot, &ProxyContext::sidecar(ns, labels.clone()))
            }
            ProxyKind::Gateway => RouteTable::compile(
                &snapshot,
                &ProxyContext::gateway_workload(&snapshot, ns, labels.clone()),
            ),
        };
        let authz = Authz::compile(&snapshot, &AuthzOptions::default()).workload(ns, labels);
        let peer = PeerPolicies::select(&snapshot, ns, labels);
        let jwt = WorkloadJwt::for_workload(&snapshot, ns, labels, &JwksSources::new());
        let sidecar = match workload.kind {
            ProxyKind::Sidecar => mesh_model::scope::sidecar_for(&snapshot, ns, labels),
            ProxyKind::Gateway => None,
        };
        let listeners = listeners(&workload, &routes, sidecar.map(|s| &s.spec));
        let connect_timeout = parse_duration(snapshot.mesh().connect_timeout.as_ref())
            .unwrap_or(Duration::from_secs(10));
        let services = mesh_model::scope::visible_services(&snapshot, ns, sidecar.map(|s| &s.spec));
        let drs = DestinationRules::new(&snapshot);
        let trust_domain = snapshot.trust_domain().to_string();
        let mut clusters = HashMap::new();
        for s in services {
            for c in service_clusters(
                &snapshot,
                &drs,
                &workload,
                s,
                &trust_domain,
                connect_timeout,
                health,
            ) {
                clusters.insert(c.name.clone(), Arc::new(c));
            }
        }
        for l in &listeners {
            if let ListenerKind::Inbound { target_port, app } = &l.kind {
                let name = format!("inbound|{target_port}||");
                let c = Cluster {
                    name: name.clone(),
                    service: Arc::default(),
                    endpoints: vec![Arc::new(Endpoint {
                        addr: *app,
                        tls: None,
                        peer: Arc::default(),
                        health: health.get(&name, *app),
                    })],
                    lb: LoadBalancer::RoundRobin,
                    outlier: None,
                    connect_timeout,
                    max_requests: None,
                    active: AtomicUsize::new(0),
                    rr: AtomicUsize::new(0),
                    registry_epoch: health.epoch,
                };
                clusters.insert(name, Arc::new(c));
            }
        }
        let xds_proxy = mesh_xds::proxy::Proxy::sidecar(
            &workload.namespace,
            workload.labels.clone(),
            &workload.service_account,
        );
        let mut inbound_services: HashMap<u16, ServiceInfo> =
            mesh_xds::assemble::inbound_service_ports(&snapshot, &xds_proxy)
                .into_iter()
                .map(|p| {
                    (
                        p.target_port,
                        ServiceInfo {
                            host: p.service.hostname.as_str().to_string(),
                            name: p.service.name.clone(),
                            namespace: p.service.namespace.clone(),
                        },
                    )
                })
                .collect();
        // Services that list this listener's address as an endpoint
        // (ServiceEntry endpoints, WorkloadEntries without a selector).
        for l in &listeners {
            let ListenerKind::Inbound { target_port, .. } = l.kind else {
                continue;
            };
            if inbound_services.contains_key(&target_port) {
                continue;
            }
            let ip = l.addr.ip().to_string();
            let found = snapshot.services().find(|s| {
                s.endpoints.iter().any(|e| {
                    e.address.as_deref() == Some(ip.as_str())
                        && e.ports.values().any(|p| *p == l.addr.port())
                })
            });
            if let Some(s) = found {
                inbound_services.insert(
                    target_port,
                    ServiceInfo {
                        host: s.hostname.as_str().to_string(),
                        name: s.name.clone(),
                        namespace: s.namespace.clone(),
                    },
                );
            }
        }
        let me = Arc::new(PeerInfo {
            workload: Some(workload.name.clone()),
            namespace: Some(workload.namespace.clone()),
            app: workload.labels.get("app").cloned(),
            version: workload.labels.get("version").cloned(),
            principal: Some(format!(
                "{trust_domain}/ns/{}/sa/{}",
                workload.namespace, workload.service_account
            )),
        });
        MeshState {
            me,
            inbound_services,
            snapshot,
            workload,
            routes,
            authz,
            peer,
            jwt,
            clusters,
            listeners,
            trust_domain,
        }
    }

    /// The listener bound at `addr`.
    pub fn listener(&self, addr: SocketAddr) -> Option<&Listener> {
        self.listeners.iter().find(|l| l.addr == addr)
    }

    /// The effective mTLS mode of a workload port (PA-4, PA-5).
    pub fn mtls_mode(&self, target_port: u16) -> MtlsMode {
        self.peer.effective(Some(target_port)).mode
    }

    /// The principal of this workload.
    pub fn principal(&self) -> String {
        format!(
            "{}/ns/{}/sa/{}",
            self.trust_domain, self.workload.namespace, self.workload.service_account
        )
    }
}

/// The listeners of a proxy: a sidecar's Sidecar resource ingress
/// listeners (bound to `bind`, else the workload address; forwarding to
/// `defaultEndpoint`) and egress listeners with a port (bound to `bind`,
/// else 127.0.0.1), as a sidecar with `captureMode: NONE` has them; a
/// gateway's server ports (the pod's target ports, GW-2).
fn listeners(
    workload: &Workload,
    routes: &RouteTable,
    sidecar: Option<&mesh_model::networking::Sidecar>,
) -> Vec<Listener> {
    let mut out: Vec<Listener> = Vec::new();
    let ip = |bind: Option<&String>, default: IpAddr| -> IpAddr {
        bind.and_then(|b| b.parse().ok()).unwrap_or(default)
    };
    match workload.kind {
        ProxyKind::Sidecar => {
            let Some(sc) = sidecar else { return out };
            for i in &sc.ingress {
                let Some(p) = &i.port else { continue };
                let Some(number) = p.number.and_then(|n| u16::try_from(n).ok()) else {
                    continue;
                };
                let target = p
                    .target_port
                    .and_then(|t| u16::try_from(t).ok())
                    .filter(|t| *t != 0)
                    .unwrap_or(number);
                let app = i
                    .default_endpoint
                    .as_deref()
                    .and_then(parse_endpoint)
                    .unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], target)));
                out.push(Listener {
                    addr: SocketAddr::new(ip(i.bind.as_ref(), workload.ip), number),
                    kind: ListenerKind::Inbound {
                        target_port: target,
                        app,
                    },
                });
            }
            for e in &sc.egress {
                let Some(port) = e
                    .port
                    .as_ref()
                    .and_then(|p| p.number)
                    .and_then(|n| u16::try_from(n).ok())
                else {
                    continue;
                };
                out.push(Listener {
                    addr: SocketAddr::new(ip(e.bind.as_ref(), IpAddr::from([127, 0, 0, 1])), port),
                    kind: ListenerKind::Outbound { port },
                });
            }
        }
        ProxyKind::Gateway => {
            for rc in routes.route_configurations() {
                if let mesh_route::config::RouteScope::GatewayHttp {
                    server_port,
                    target_port,
                    bind,
                } = &*rc.scope
                {
                    let addr = SocketAddr::new(ip(bind.as_ref(), workload.ip), *target_port);
                    if out.iter().all(|l| l.addr != addr) {
                        out.push(Listener {
                            addr,
                            kind: ListenerKind::Outbound { port: *server_port },
                        });
                    }
                }
            }
        }
    }
    out.dedup_by(|a, b| a.addr == b.addr);
    out
}

/// The clusters of one service: per port, the service-wide cluster and
/// one per DestinationRule subset (XDS-3).
fn service_clusters(
    snapshot: &Snapshot,
    drs: &DestinationRules,
    workload: &Workload,
    s: &Arc<Service>,
    trust_domain: &str,
    connect_timeout: Duration,
    health: &HealthRegistry,
) -> Vec<Cluster> {
    let rule = drs.for_client(
        &workload.namespace,
        &workload.labels,
        &s.hostname,
        &s.namespace,
    );
    let mtls_ok = snapshot.mesh().auto_mtls()
        && !s.mesh_external
        && namespace_mtls_mode(snapshot, &s.namespace) != Some(MtlsMode::Disable);
    let default_sans = mesh_xds::assemble::service_sans(s, trust_domain);
    let info = Arc::new(ServiceInfo {
        host: s.hostname.as_str().to_string(),
        name: s.name.clone(),
        namespace: s.namespace.clone(),
    });
    let mut subsets: Vec<(Option<String>, Option<Labels>)> = vec![(None, None)];
    if let Some(r) = rule {
        for sub in &r.rule.subsets {
            subsets.push((Some(sub.name.clone()), Some(sub.labels.clone())));
        }
    }
    let mut out = Vec::new();
    for port in &s.ports {
        for (subset, sub_labels) in &subsets {
            let name = format!(
                "outbound|{}|{}|{}",
                port.number,
                subset.as_deref().unwrap_or(""),
                s.hostname
            );
            let policy: Option<TrafficPolicy> =
                rule.and_then(|r| r.effective_policy(port.number, subset.as_deref()));
            let tls_settings = policy.as_ref().and_then(|p| p.tls.as_ref());
            let sans = tls_settings
                .and_then(|t| t.subject_alt_names.clone())
                .filter(|v| !v.is_empty())
                .unwrap_or_else(|| default_sans.clone());
            let sni = tls_settings
                .and_then(|t| t.sni.clone())
                .filter(|s| !s.is_empty())
                .unwrap_or_else(|| {
                    mesh_model::host::sni_name(port.number, subset.as_deref(), s.hostname.as_str())
                });
            let mut endpoints = Vec::new();
            for e in s.endpoints_for(sub_labels.as_ref()) {
                let Some(ip) = e.address.as_deref().and_then(|a| a.parse::<IpAddr>().ok()) else {
                    continue;
                };
                let Some(p) = e.ports.get(&port.number).copied() else {
                    continue;
                };
                let addr = SocketAddr::new(ip, p);
                let mtls = match tls_settings.and_then(|t| t.mode) {
                    Some(ClientTlsMode::IstioMutual) => true,
                    Some(_) => false,
                    None => mtls_ok && e.sidecar,
                };
                endpoints.push(Arc::new(Endpoint {
                    addr,
                    tls: mtls.then(|| UpstreamTls {
                        sni: sni.clone(),
                        sans: sans.clone(),
                    }),
                    peer: Arc::new(PeerInfo {
                        workload: e.workload.as_ref().map(|w| w.name.clone()),
                        namespace: e
                            .workload
                            .as_ref()
                            .map(|w| w.namespace.clone())
                            .or_else(|| Some(s.namespace.clone())),
                        app: e.labels.get("app").cloned(),
                        version: e.labels.get("version").cloned(),
                        principal: e.service_account.as_ref().map(|sa| {
                            let ns = e
                                .workload
                                .as_ref()
                                .map_or(s.namespace.as_str(), |w| w.namespace.as_str());
                            format!("{trust_domain}/ns/{ns}/sa/{sa}")
                        }),
                    }),
                    health: health.get(&name, addr),
                }));
            }
            let lb_settings = policy.as_ref().and_then(|p| p.load_balancer.as_ref());
            let lb = match lb_settings {
                Some(l) if l.consistent_hash.is_some() => rule
                    .and_then(|r| {
                        r.hash_for_destination(&mesh_model::networking::Destination {
                            host: s.hostname.clone(),
                            subset: subset.clone(),
                            port: Some(port.number),
                        })
                    })
                    .map_or(LoadBalancer::LeastRequest, LoadBalancer::ConsistentHash),
                Some(l) => match l.simple {
                    Some(SimpleLb::RoundRobin) => LoadBalancer::RoundRobin,
                    Some(SimpleLb::Random) => LoadBalancer::Random,
                    _ => LoadBalancer::LeastRequest,
                },
                None => LoadBalancer::LeastRequest,
            };
            let outlier = policy
                .as_ref()
                .and_then(|p| p.outlier_detection.as_ref())
                .map(|o| Outlier {
                    consecutive_5xx: o
                        .consecutive5xx_errors
                        .or(o.consecutive_errors.map(|n| n.max(0) as u32))
                        .unwrap_or(5),
                    consecutive_gateway: o.consecutive_gateway_errors.unwrap_or(0),
                    base_ejection: parse_duration(o.base_ejection_time.as_ref())
                        .unwrap_or(Duration::from_secs(30)),
                    max_ejection_percent: o.max_ejection_percent.unwrap_or(10).clamp(0, 100) as u32,
                });
            let pool = policy.as_ref().and_then(|p| p.connection_pool.as_ref());
            let max_requests = pool
                .and_then(|p| p.http.as_ref())
                .and_then(|h| {
                    h.http2_max_requests
                        .filter(|n| *n > 0)
                        .or(h.http1_max_pending_requests.filter(|n| *n > 0))
                })
                .map(|n| n as usize);
            let connect = pool
                .and_then(|p| p.tcp.as_ref())
                .and_then(|t| parse_duration(t.connect_timeout.as_ref()))
                .unwrap_or(connect_timeout);
            out.push(Cluster {
                name,
                service: info.clone(),
                endpoints,
                lb,
                outlier,
                connect_timeout: connect,
                max_requests,
                active: AtomicUsize::new(0),
                rr: AtomicUsize::new(0),
                registry_epoch: health.epoch,
            });
        }
    }
    out
}

impl HealthRegistry {
    /// The current time on the registry's clock (tests).
    pub fn elapsed(&self) -> Duration {
        Duration::from_nanos(self.now())
    }
}
