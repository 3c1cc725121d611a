//! From a snapshot and a proxy to that proxy's route configurations and
//! TCP/TLS listeners, following istiod.

pub(crate) mod gateway;
pub(crate) mod scope;
pub(crate) mod sidecar;
pub(crate) mod translate;
pub(crate) mod vs;

use crate::config::RouteConfiguration;
use crate::destination_rule::DestinationRules;
use crate::l4::{L4Listener, SidecarL4, gateway_listeners, sidecar_listeners};
use crate::proxy::ProxyContext;
use mesh_model::duration::parse_duration;
use mesh_model::networking::HttpRetry;
use mesh_model::snapshot::Snapshot;
use mesh_model::wire::networking::OutboundTrafficPolicyMode;
use sidecar::CatchAll;
use std::sync::Arc;

/// What compiling produces.
pub(crate) struct Compiled {
    pub http: Vec<RouteConfiguration>,
    pub l4: Vec<L4Listener>,
    /// Sidecars: where traffic matching no listener or chain goes.
    pub fallback: Option<CatchAll>,
}

/// The mesh's `defaultHttpRetryPolicy` as a domain value (VS-25).
fn default_retry(snapshot: &Snapshot) -> Option<HttpRetry> {
    let r = snapshot.mesh().default_http_retry_policy.as_ref()?;
    let d = |s: &Option<String>| s.as_deref().and_then(|s| parse_duration(s).ok());
    Some(HttpRetry {
        attempts: r.attempts.unwrap_or(0),
        per_try_timeout: d(&r.per_try_timeout),
        retry_on: r.retry_on.clone().filter(|s| !s.is_empty()),
        retry_remote_localities: r.retry_remote_localities,
        retry_ignore_previous_hosts: r.retry_ignore_previous_hosts,
        backoff: d(&r.backoff),
    })
}

/// The routes VirtualService `namespace/name` gives a sidecar on port
/// `port`: the route list of every virtual host it makes in the sidecar's
/// route configurations for that port, built exactly as
/// [`RouteTable::compile`](crate::RouteTable::compile) builds them. Empty
/// when no route applies to this sidecar and port (VS-3); `None` when there
/// is no such VirtualService or it is a delegate, whose routes exist only
/// inside its roots (HOST-9).
///
/// A server that knows only one VirtualService changed uses this to
/// rebuild the virtual hosts it owns and keep every other one.
///
/// ```
/// use mesh_model::{load, LoadOptions};
/// use mesh_route::{DestinationRules, sidecar_virtual_service_routes};
/// let yaml = "apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: {name: r, namespace: shop}\nspec:\n  hosts: [ratings]\n  http:\n  - match: [{uri: {prefix: /v1}}]\n    route: [{destination: {host: ratings}}]\n";
/// let snapshot = load(&[("vs.yaml", yaml)], &LoadOptions::default()).snapshot;
/// let drs = DestinationRules::new(&snapshot);
/// let labels = Default::default();
/// let routes =
///     sidecar_virtual_service_routes(&snapshot, &drs, "shop", &labels, ("shop", "r"), 80).unwrap();
/// assert_eq!(routes.len(), 1);
/// assert_eq!(routes[0].origin.as_ref().unwrap().virtual_service.name, "r");
/// ```
pub fn sidecar_virtual_service_routes(
    snapshot: &Snapshot,
    drs: &DestinationRules,
    namespace: &str,
    labels: &mesh_model::labels::Labels,
    (vs_namespace, vs_name): (&str, &str),
    port: u16,
) -> Option<Vec<crate::config::Route>> {
    let (merged, retry) = one_virtual_service(snapshot, vs_namespace, vs_name)?;
    let cx = sidecar::SidecarCx {
        snapshot,
        drs,
        namespace,
        labels,
        default_retry: retry.as_ref(),
    };
    Some(sidecar::vs_routes(&cx, &merged, port))
}

/// VirtualService `namespace/name` with its delegates merged, and the
/// mesh's default retry policy: what building its routes alone needs.
fn one_virtual_service(
    snapshot: &Snapshot,
    namespace: &str,
    name: &str,
) -> Option<(vs::MergedVs, Option<HttpRetry>)> {
    let cfg = snapshot.virtual_service(namespace, name)?;
    Some((
        vs::merged_virtual_service(snapshot, cfg)?,
        default_retry(snapshot),
    ))
}

/// The routes a VirtualService gives a gateway workload through one server
/// of one of its Gateways (see [`gateway_virtual_service_routes`]).
#[derive(Debug, Clone, PartialEq)]
pub struct GatewayServerRoutes {
    /// The Gateway.
    pub gateway: crate::config::ConfigRef,
    /// The server's port number (the suffix of the virtual host names it
    /// creates).
    pub server_port: u16,
    /// Whether the server has TLS settings.
    pub tls: bool,
    /// The routes, in VirtualService order: a virtual host built from this
    /// server and VirtualService alone holds them with catch-all routes
    /// moved last (HOST-8).
    pub routes: Vec<crate::config::Route>,
}

/// The routes VirtualService `namespace/name` gives a gateway workload:
/// one list per server of a Gateway the workload runs (its selector matches
/// `labels`), that the VirtualService is bound to and shares a host with
/// (GW-4, GW-5), built exactly as
/// [`RouteTable::compile`](crate::RouteTable::compile) builds them. Servers
/// that merging the workload's Gateways drops (GW-6, GW-8) are included.
/// Empty when the VirtualService is not exported to `namespace`; `None`
/// when there is no such VirtualService or it is a delegate.
///
/// ```
/// use mesh_model::{load, LoadOptions};
/// use mesh_route::{DestinationRules, gateway_virtual_service_routes};
/// let yaml = "apiVersion: networking.istio.io/v1\nkind: Gateway\nmetadata: {name: gw, namespace: edge}\nspec:\n  selector: {istio: ingress}\n  servers: [{port: {number: 80, name: http, protocol: HTTP}, hosts: ['*']}]\n---\napiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: {name: r, namespace: edge}\nspec:\n  hosts: [shop.example.com]\n  gateways: [gw]\n  http:\n  - route: [{destination: {host: web.shop.svc.cluster.local}}]\n";
/// let snapshot = load(&[("gw.yaml", yaml)], &LoadOptions::default()).snapshot;
/// let drs = DestinationRules::new(&snapshot);
/// let labels = [("istio".to_string(), "ingress".to_string())].into();
/// let by_server =
///     gateway_virtual_service_routes(&snapshot, &drs, "edge", &labels, ("edge", "r")).unwrap();
/// assert_eq!(by_server.len(), 1);
/// assert_eq!((by_server[0].server_port, by_server[0].routes.len()), (80, 1));
/// ```
pub fn gateway_virtual_service_routes(
    snapshot: &Snapshot,
    drs: &DestinationRules,
    namespace: &str,
    labels: &mesh_model::labels::Labels,
    (vs_namespace, vs_name): (&str, &str),
) -> Option<Vec<GatewayServerRoutes>> {
    let (merged, retry) = one_virtual_service(snapshot, vs_namespace, vs_name)?;
    let cx = gateway::GatewayCx {
        snapshot,
        drs,
        namespace,
        labels,
        default_retry: retry.as_ref(),
    };
    Some(gateway::vs_routes_by_server(&cx, &merged))
}

/// What compiling the routes of every proxy of one snapshot shares, built
/// once per snapshot (as Istio builds its push context once per push):
/// VirtualServices with their delegates merged and indexed by gateway
/// (HOST-9), DestinationRules (DR-1), the mesh's default retry policy
/// (VS-25).
///
/// ```
/// use mesh_model::{load, LoadOptions};
/// use mesh_route::{ProxyContext, RouteTable, SnapshotRoutes};
/// let yaml = "apiVersion: v1\nkind: Service\nmetadata: {name: ratings, namespace: shop}\nspec: {ports: [{name: http, port: 9080}]}\n";
/// let snapshot = load(&[("s.yaml", yaml)], &LoadOptions::default()).snapshot;
/// let shared = SnapshotRoutes::new(&snapshot);
/// for ns in ["shop", "web"] {
///     let proxy = ProxyContext::sidecar(ns, Default::default());
///     let table = RouteTable::compile_shared(&shared, &proxy);
///     assert_eq!(table.route_configurations(), RouteTable::compile(&snapshot, &proxy).route_configurations());
/// }
/// ```
#[derive(Debug)]
pub struct SnapshotRoutes {
    snapshot: Snapshot,
    vss: vs::VsSet,
    drs: DestinationRules,
    retry: Option<HttpRetry>,
}

impl SnapshotRoutes {
    /// Indexes `snapshot` for compiling the routes of many proxies.
    pub fn new(snapshot: &Snapshot) -> SnapshotRoutes {
        SnapshotRoutes {
            snapshot: snapshot.clone(),
            vss: vs::merged_virtual_services(snapshot),
            drs: DestinationRules::new(snapshot),
            retry: default_retry(snapshot),
        }
    }

    /// The snapshot.
    pub fn snapshot(&self) -> &Snapshot {
        &self.snapshot
    }

    /// The DestinationRule index.
    pub fn destination_rules(&self) -> &DestinationRules {
        &self.drs
    }
}

/// What one proxy sees of a snapshot, worked out once and reused by every
/// route compile for it: for a sidecar its egress listeners' imported
/// services and VirtualServices (what Istio keeps in a proxy's
/// `SidecarScope`), and where unknown traffic goes; for a gateway workload
/// its Gateways' servers merged by port and route name (Istio's
/// `MergedGateway`). Istio computes both when a proxy connects or the push
/// context changes, not for each xDS response; so can a server here.
///
/// ```
/// use mesh_model::{load, LoadOptions};
/// use mesh_route::{ProxyContext, RouteTable, SnapshotRoutes};
/// let yaml = "apiVersion: v1\nkind: Service\nmetadata: {name: ratings, namespace: shop}\nspec: {ports: [{name: http, port: 9080}]}\n";
/// let snapshot = load(&[("s.yaml", yaml)], &LoadOptions::default()).snapshot;
/// let shared = SnapshotRoutes::new(&snapshot);
/// let proxy = ProxyContext::sidecar("shop", Default::default());
/// let view = shared.prepare(&proxy);
/// assert_eq!(view.table().route_configurations(), RouteTable::compile(&snapshot, &proxy).route_configurations());
/// ```
#[derive(Debug)]
pub struct ProxyRoutes<'a> {
    shared: &'a SnapshotRoutes,
    proxy: Arc<ProxyContext>,
    view: View<'a>,
}

#[derive(Debug)]
enum View<'a> {
    Sidecar {
        scopes: Vec<scope::EgressScope<'a>>,
        catch_all: CatchAll,
    },
    Gateway {
        merged: gateway::MergedServers<'a>,
    },
}

impl SnapshotRoutes {
    /// What `proxy` sees of the snapshot, for compiling its routes any
    /// number of times ([`ProxyRoutes::table`]).
    pub fn prepare(&self, proxy: &ProxyContext) -> ProxyRoutes<'_> {
        ProxyRoutes {
            shared: self,
            proxy: Arc::new(proxy.clone()),
            view: view(self, proxy),
        }
    }
}

impl ProxyRoutes<'_> {
    /// The proxy.
    pub fn proxy(&self) -> &ProxyContext {
        &self.proxy
    }

    /// The proxy's route table: the same as
    /// [`RouteTable::compile_shared`](crate::RouteTable::compile_shared).
    pub fn table(&self) -> crate::RouteTable {
        let Compiled { http, l4, fallback } = self.compile();
        crate::RouteTable::from_parts(self.proxy.clone(), http, l4, fallback)
    }

    /// The proxy's route configurations, one at a time: those of
    /// [`ProxyRoutes::table`], in the same order, without the listeners
    /// and evaluation indexes a table also holds. A caller that only
    /// translates them (into Envoy's, say) can take each while it is
    /// fresh in memory: a gateway's are compiled one by one as they are
    /// asked for.
    ///
    /// ```
    /// use mesh_model::{load, LoadOptions};
    /// use mesh_route::{ProxyContext, SnapshotRoutes};
    /// let yaml = "apiVersion: networking.istio.io/v1\nkind: Gateway\nmetadata: {name: gw, namespace: shop}\nspec:\n  servers:\n  - port: {number: 80, name: http, protocol: HTTP}\n    hosts: ['*']\n  - port: {number: 443, name: https, protocol: HTTPS}\n    hosts: ['*']\n    tls: {mode: SIMPLE, credentialName: cert}\n";
    /// let snapshot = load(&[("g.yaml", yaml)], &LoadOptions::default()).snapshot;
    /// let shared = SnapshotRoutes::new(&snapshot);
    /// let view = shared.prepare(&ProxyContext::gateway("shop", "gw"));
    /// let configs: Vec<_> = view.route_configurations().collect();
    /// assert_eq!(configs.len(), 2);
    /// assert_eq!(configs, view.table().route_configurations());
    /// ```
    pub fn route_configurations(&self) -> impl Iterator<Item = RouteConfiguration> + '_ {
        self.http().map(|mut c| {
            crate::table::mark_rejected(&mut c);
            c
        })
    }

    /// The HTTP route configurations, as compiled.
    fn http(&self) -> Box<dyn Iterator<Item = RouteConfiguration> + '_> {
        let shared = self.shared;
        let snapshot = &shared.snapshot;
        let drs = &shared.drs;
        let default_retry = shared.retry.as_ref();
        let (namespace, labels) = (self.proxy.namespace(), self.proxy.labels());
        match &self.view {
            View::Sidecar { scopes, catch_all } => {
                let cx = sidecar::SidecarCx {
                    snapshot,
                    drs,
                    namespace,
                    labels,
                    default_retry,
                };
                Box::new(sidecar::route_configurations(&cx, scopes, catch_all).into_iter())
            }
            View::Gateway { merged } => {
                let cx = gateway::GatewayCx {
                    snapshot,
                    drs,
                    namespace,
                    labels,
                    default_retry,
                };
                Box::new(merged.http.iter().map(move |(name, (scope, servers))| {
                    gateway::route_configuration(&cx, &shared.vss, name, scope, servers)
                }))
            }
        }
    }

    fn compile(&self) -> Compiled {
        let shared = self.shared;
        let snapshot = &shared.snapshot;
        let drs = &shared.drs;
        let (namespace, labels) = (self.proxy.namespace(), self.proxy.labels());
        let http = self.http().collect();
        match &self.view {
            View::Sidecar { scopes, catch_all } => Compiled {
                http,
                l4: sidecar_listeners(
                    &SidecarL4 {
                        snapshot,
                        namespace,
                        labels,
                    },
                    scopes,
                ),
                fallback: Some(catch_all.clone()),
            },
            View::Gateway { merged } => Compiled {
                http,
                l4: gateway_listeners(snapshot, &shared.vss, drs, (namespace, labels), &merged.l4),
                fallback: None,
            },
        }
    }
}

fn view<'a>(shared: &'a SnapshotRoutes, proxy: &ProxyContext) -> View<'a> {
    let snapshot = &shared.snapshot;
    match proxy {
        ProxyContext::Sidecar { namespace, labels } => {
            let scopes = scope::egress_scopes(snapshot, &shared.vss, namespace, labels);
            let policy = scope::sidecar_for(snapshot, namespace, labels)
                .and_then(|s| s.spec.outbound_traffic_policy.clone());
            let registry_only = match policy.as_ref().and_then(|p| p.mode) {
                Some(m) => m == OutboundTrafficPolicyMode::RegistryOnly,
                None => snapshot.mesh().registry_only(),
            };
            let catch_all = if registry_only {
                CatchAll::BlockAll
            } else {
                let cluster = policy
                    .as_ref()
                    .and_then(|p| p.egress_proxy.as_ref())
                    .and_then(|d| {
                        let host = d.host.as_deref()?;
                        let port = d.port.as_ref().and_then(|p| p.number).unwrap_or(0);
                        Some(format!(
                            "outbound|{port}|{}|{host}",
                            d.subset.as_deref().unwrap_or("")
                        ))
                    })
                    .unwrap_or_else(|| "PassthroughCluster".into());
                CatchAll::AllowAny(cluster)
            };
            View::Sidecar { scopes, catch_all }
        }
        ProxyContext::Gateway { gateways, .. } => View::Gateway {
            merged: gateway::merge_servers(snapshot, gateways),
        },
    }
}
