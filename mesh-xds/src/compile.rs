//! The compiler: a snapshot and a proxy in, that proxy's listeners, routes,
//! clusters, endpoints and secrets out.
//!
//! [`Compiler::new`] indexes what every proxy of one snapshot shares
//! (AuthorizationPolicies, DestinationRules, VirtualServices with their
//! delegates merged); [`Compiler::compile`] builds one proxy's resources
//! from it. Route tables come from `mesh-route`,
//! PeerAuthentication modes and policy attachment from `mesh-authz`, so the
//! compiled Envoy configuration does what those crates decide.

mod incremental;

use crate::assemble::{self, ClusterInputs, InboundServicePort, ServicePolicy};
use crate::authz::{self, Actions, AuthzInputs, BuildOptions, TrustDomainBundle};
use crate::cluster;
use crate::http;
use crate::listener::{self, InboundPort, TcpTarget};
use crate::proxy::{Interception, Proxy, ProxyKind};
use crate::resources::{Resources, certificate_secret, root_secret};
use crate::route as rds;
use crate::util::{duration, socket_address};
use envoy_types::pb::envoy::config::core::v3::CidrRange;
use envoy_types::pb::envoy::config::listener::v3::{FilterChain, FilterChainMatch, Listener};
use envoy_types::pb::envoy::config::route::v3::{
    Route, RouteAction, RouteConfiguration, RouteMatch, VirtualHost, route::Action,
    route_action::ClusterSpecifier, route_match::PathSpecifier,
};
use envoy_types::pb::envoy::extensions::filters::network::http_connection_manager::v3::HttpFilter;
use envoy_types::pb::envoy::service::discovery::v3::Resource as DiscoveryResource;
use envoy_types::pb::google::protobuf::Any;
use mesh_authz::engine::{Authz, AuthzOptions};
use mesh_authz::jwt::{JwksSources, WorkloadJwt};
use mesh_authz::peer::{PeerPolicies, namespace_mtls_mode};
use mesh_model::labels::Labels;
use mesh_model::protocol::Protocol;
use mesh_model::security::MtlsMode;
use mesh_model::snapshot::{Service, Snapshot};
use mesh_route::config::{ConfigRef, RouteScope};
use mesh_route::l4::L4Listener;
use mesh_route::{ProxyContext, SnapshotRoutes};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

/// The certificates a proxy is served over SDS.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Certificates {
    /// The workload certificate chain (PEM).
    pub chain_pem: String,
    /// The workload private key (PEM).
    pub key_pem: String,
    /// The mesh root certificate (PEM).
    pub root_pem: String,
}

/// How to compile.
#[derive(Debug, Clone)]
pub struct CompileOptions {
    /// Certificates to include as the SDS secrets `default` and `ROOTCA`.
    pub certificates: Option<Certificates>,
    /// JWKS documents the caller fetched, by `jwksUri` (RA-4).
    pub jwks: BTreeMap<String, String>,
    /// The address of the local application, for inbound clusters.
    pub app_address: String,
    /// A JSON access log for every HTTP connection manager (Istio's
    /// `meshConfig.accessLogFile` + `accessLogEncoding: JSON`); `None`, the
    /// default, writes none.
    pub access_log: Option<http::AccessLog>,
}

impl Default for CompileOptions {
    fn default() -> Self {
        CompileOptions {
            certificates: None,
            jwks: BTreeMap::new(),
            app_address: "127.0.0.1".into(),
            access_log: None,
        }
    }
}

/// What every proxy of one snapshot shares, indexed once.
pub struct Compiler {
    snapshot: Snapshot,
    authz: Authz,
    /// The route indexes every proxy shares (merged VirtualServices,
    /// DestinationRules).
    routes: SnapshotRoutes,
    bundle: TrustDomainBundle,
    jwks: JwksSources,
    options: CompileOptions,
}

fn connect_timeout(snapshot: &Snapshot) -> Duration {
    snapshot
        .mesh()
        .connect_timeout
        .as_deref()
        .and_then(|s| mesh_model::duration::parse_duration(s).ok())
        .unwrap_or(Duration::from_secs(10))
}

/// Compiles one proxy's resources (a convenience for [`Compiler`]).
///
/// ```
/// use mesh_model::{load, LoadOptions};
/// use mesh_xds::{compile, CompileOptions, proxy::Proxy};
/// let yaml = "apiVersion: v1\nkind: Service\nmetadata: {name: ratings, namespace: shop}\nspec:\n  selector: {app: ratings}\n  ports: [{name: http, port: 9080}]\n";
/// let snapshot = load(&[("mesh.yaml", yaml)], &LoadOptions::default()).snapshot;
/// let proxy = Proxy::sidecar("shop", [("app".to_string(), "web".to_string())].into(), "web");
/// let r = compile(&snapshot, &proxy, &CompileOptions::default());
/// assert!(r.clusters.iter().any(|c| c.name == "outbound|9080||ratings.shop.svc.cluster.local"));
/// assert!(r.routes.iter().any(|rc| rc.name == "9080"));
/// ```
pub fn compile(snapshot: &Snapshot, proxy: &Proxy, options: &CompileOptions) -> Resources {
    Compiler::new(snapshot, options.clone()).compile(proxy)
}

/// One proxy's view of a [`Compiler`]'s snapshot ([`Compiler::prepare`]).
#[derive(Debug)]
pub struct PreparedProxy<'c> {
    routes: mesh_route::ProxyRoutes<'c>,
}

impl PreparedProxy<'_> {
    /// The proxy's route configurations (RDS), as [`Compiler::routes`]
    /// has them.
    pub fn routes(&self) -> Vec<RouteConfiguration> {
        // Each route configuration is translated as soon as it is
        // compiled, while it is fresh in memory; the route table's
        // listeners and indexes are not needed.
        let mut routes: Vec<RouteConfiguration> = self
            .routes
            .route_configurations()
            .map(rds::into_route_configuration)
            .collect();
        crate::resources::sort_dedup_by_name(&mut routes, |r| &r.name);
        routes
    }

    /// The proxy's route configurations as a server sends them: each one
    /// encoded to protobuf bytes inside an `Any`, named, in the order and
    /// with the names of [`PreparedProxy::routes`]. This is the shape of
    /// Istio's `BuildHTTPRoutes`, which returns `discovery.Resource`s.
    ///
    /// The bytes are prost's encoding of what `routes()` gives, but for the
    /// order of map entries: a route's `typed_per_filter_config` (a fault
    /// and a CORS policy) is written in key order, where prost writes a
    /// hash map in the order it iterates. So each resource has the content
    /// version ([`crate::version::version_of_encoded`]) of its
    /// configuration in `routes()`, and
    /// [`crate::version::in_order`] makes the two encodings equal.
    ///
    /// Each route configuration is compiled and written before the next is
    /// begun, and written straight from mesh-route's compiled
    /// configuration, without building Envoy's protos for the parts nearly
    /// every route has (its match, cluster, timeouts, retry policy,
    /// decorator and `istio.config` provenance). `routes()` followed by
    /// encoding builds every route's proto, 2,272 bytes each, and holds
    /// them all at once. For a server that needs only the bytes, this is
    /// the faster path.
    ///
    /// ```
    /// use mesh_model::{load, LoadOptions};
    /// use mesh_xds::{Compiler, CompileOptions, proxy::Proxy};
    /// use mesh_xds::version::in_order;
    /// use envoy_types::pb::envoy::config::route::v3::RouteConfiguration;
    /// use prost::{Message, Name};
    /// let yaml = "apiVersion: v1\nkind: Service\nmetadata: {name: ratings, namespace: shop}\nspec:\n  ports: [{name: http, port: 9080}]\n";
    /// let snapshot = load(&[("m.yaml", yaml)], &LoadOptions::default()).snapshot;
    /// let compiler = Compiler::new(&snapshot, CompileOptions::default());
    /// let prepared = compiler.prepare(&Proxy::sidecar("shop", Default::default(), "default"));
    /// let resources = prepared.route_resources();
    /// let routes = prepared.routes();
    /// assert_eq!(resources.len(), routes.len());
    /// let full_name = RouteConfiguration::full_name();
    /// for (resource, rc) in resources.iter().zip(&routes) {
    ///     assert_eq!(resource.name, rc.name);
    ///     let any = resource.resource.as_ref().unwrap();
    ///     assert_eq!(any.type_url, "type.googleapis.com/envoy.config.route.v3.RouteConfiguration");
    ///     assert_eq!(in_order(&full_name, any.value.clone()), in_order(&full_name, rc.encode_to_vec()));
    /// }
    /// ```
    pub fn route_resources(&self) -> Vec<DiscoveryResource> {
        let type_url = crate::resources::ResourceType::Route.type_url();
        let mut encoder = crate::encode::Encoder::default();
        let mut out: Vec<DiscoveryResource> = self
            .routes
            .route_configurations()
            .map(|rc| {
                let (name, value) = encoder.compiled_route_configuration(rc);
                DiscoveryResource {
                    name,
                    resource: Some(Any {
                        type_url: type_url.clone(),
                        value,
                    }),
                    ..Default::default()
                }
            })
            .collect();
        crate::resources::sort_dedup_by_name(&mut out, |r| &r.name);
        out
    }

    /// The proxy's route table as mesh-route builds it: the route
    /// configurations [`PreparedProxy::routes`] translates into Envoy's,
    /// indexed so that it can say which route a request takes on exactly
    /// this proxy.
    ///
    /// ```
    /// use mesh_model::{load, LoadOptions};
    /// use mesh_xds::{Compiler, CompileOptions, proxy::Proxy};
    /// let yaml = "apiVersion: v1\nkind: Service\nmetadata: {name: ratings, namespace: shop}\nspec:\n  ports: [{name: http, port: 9080}]\n";
    /// let snapshot = load(&[("m.yaml", yaml)], &LoadOptions::default()).snapshot;
    /// let compiler = Compiler::new(&snapshot, CompileOptions::default());
    /// let prepared = compiler.prepare(&Proxy::sidecar("shop", Default::default(), "default"));
    /// let table = prepared.route_table();
    /// let names: Vec<&str> = table.route_configurations().iter().map(|r| r.name.as_str()).collect();
    /// assert!(names.contains(&"9080"));
    /// assert_eq!(names.len(), prepared.routes().len());
    /// ```
    pub fn route_table(&self) -> mesh_route::RouteTable {
        self.routes.table()
    }
}

impl Compiler {
    /// Indexes `snapshot` for compiling many proxies.
    pub fn new(snapshot: &Snapshot, options: CompileOptions) -> Compiler {
        let mut jwks = JwksSources::new();
        for (uri, doc) in &options.jwks {
            jwks.insert(uri, doc);
        }
        Compiler {
            authz: Authz::compile(snapshot, &AuthzOptions::default()),
            routes: SnapshotRoutes::new(snapshot),
            bundle: TrustDomainBundle::from_mesh(snapshot.mesh()),
            snapshot: snapshot.clone(),
            jwks,
            options,
        }
    }

    /// The snapshot.
    pub fn snapshot(&self) -> &Snapshot {
        &self.snapshot
    }

    /// Compiles one proxy.
    pub fn compile(&self, proxy: &Proxy) -> Resources {
        let mut out = match proxy.kind {
            ProxyKind::Sidecar => self.sidecar(proxy),
            ProxyKind::Router => self.gateway(proxy),
        };
        if let Some(c) = &self.options.certificates {
            out.secrets.push(certificate_secret(
                crate::tls::SECRET_DEFAULT,
                &c.chain_pem,
                &c.key_pem,
            ));
            out.secrets
                .push(root_secret(crate::tls::SECRET_ROOTCA, &c.root_pem));
        }
        if let Some(log) = &self.options.access_log {
            log.add_to(&mut out.listeners);
        }
        out.sort();
        out
    }

    /// The route configurations (RDS) of one proxy alone, as
    /// [`Compiler::compile`] has them: what a server recomputes when only
    /// HTTP routing changed. The same as
    /// `compiler.prepare(proxy).routes()`; a server answering many route
    /// requests for one proxy prepares it once ([`Compiler::prepare`]).
    ///
    /// ```
    /// use mesh_model::{load, LoadOptions};
    /// use mesh_xds::{Compiler, CompileOptions, proxy::Proxy};
    /// let yaml = "apiVersion: v1\nkind: Service\nmetadata: {name: ratings, namespace: shop}\nspec:\n  ports: [{name: http, port: 9080}]\n";
    /// let snapshot = load(&[("m.yaml", yaml)], &LoadOptions::default()).snapshot;
    /// let compiler = Compiler::new(&snapshot, CompileOptions::default());
    /// let proxy = Proxy::sidecar("shop", Default::default(), "default");
    /// let routes = compiler.routes(&proxy);
    /// assert_eq!(routes, compiler.compile(&proxy).routes);
    /// ```
    pub fn routes(&self, proxy: &Proxy) -> Vec<RouteConfiguration> {
        self.prepare(proxy).routes()
    }

    /// What `proxy` sees of the snapshot, worked out once for any number
    /// of route compiles: for a sidecar, the services and VirtualServices
    /// its egress listeners import (Istio's `SidecarScope`); for a gateway
    /// workload, its Gateways' servers merged by port and route name
    /// (Istio's `MergedGateway`). Istio computes both when a proxy connects
    /// or the configuration changes, not for each response.
    ///
    /// ```
    /// use mesh_model::{load, LoadOptions};
    /// use mesh_xds::{Compiler, CompileOptions, proxy::Proxy};
    /// let yaml = "apiVersion: v1\nkind: Service\nmetadata: {name: ratings, namespace: shop}\nspec:\n  ports: [{name: http, port: 9080}]\n";
    /// let snapshot = load(&[("m.yaml", yaml)], &LoadOptions::default()).snapshot;
    /// let compiler = Compiler::new(&snapshot, CompileOptions::default());
    /// let proxy = Proxy::sidecar("shop", Default::default(), "default");
    /// let prepared = compiler.prepare(&proxy);
    /// assert_eq!(prepared.routes(), compiler.routes(&proxy));
    /// assert_eq!(prepared.routes()[0].name, "9080");
    /// ```
    pub fn prepare(&self, proxy: &Proxy) -> PreparedProxy<'_> {
        PreparedProxy {
            routes: self.routes.prepare(&self.route_context(proxy)),
        }
    }

    /// The proxy as `mesh-route` sees it.
    fn route_context(&self, proxy: &Proxy) -> ProxyContext {
        match proxy.kind {
            ProxyKind::Sidecar => ProxyContext::sidecar(&proxy.namespace, proxy.labels.clone()),
            ProxyKind::Router => ProxyContext::gateway_workload(
                &self.snapshot,
                &proxy.namespace,
                proxy.labels.clone(),
            ),
        }
    }

    /// The clusters (CDS) of one proxy alone, as [`Compiler::compile`] has
    /// them: outbound, inbound, passthrough and blackhole clusters, without
    /// building the endpoints (EDS) of any. What a server recomputes for a
    /// CDS push; Istio's own cluster generation is timed the same way.
    ///
    /// ```
    /// use mesh_model::{load, LoadOptions};
    /// use mesh_xds::{Compiler, CompileOptions, proxy::Proxy};
    /// let yaml = "apiVersion: v1\nkind: Service\nmetadata: {name: ratings, namespace: shop}\nspec:\n  selector: {app: ratings}\n  ports: [{name: http, port: 9080}]\n";
    /// let snapshot = load(&[("m.yaml", yaml)], &LoadOptions::default()).snapshot;
    /// let compiler = Compiler::new(&snapshot, CompileOptions::default());
    /// let proxy = Proxy::sidecar("shop", [("app".to_string(), "ratings".to_string())].into(), "ratings");
    /// let clusters = compiler.clusters(&proxy);
    /// assert!(clusters.iter().any(|c| c.name == "inbound|9080||"));
    /// assert_eq!(clusters, compiler.compile(&proxy).clusters);
    /// ```
    pub fn clusters(
        &self,
        proxy: &Proxy,
    ) -> Vec<envoy_types::pb::envoy::config::cluster::v3::Cluster> {
        let (scope, services) = self.scope(proxy);
        let fixed = match proxy.kind {
            ProxyKind::Sidecar => {
                self.fixed_clusters(proxy, &self.inbound_ports(proxy, scope.map(|s| &s.spec)))
            }
            ProxyKind::Router => self.fixed_clusters(proxy, &[]),
        };
        let (mut clusters, _) = self.outbound_with(fixed, &services, proxy, false);
        crate::resources::sort_dedup_by_name(&mut clusters, |c| &c.name);
        clusters
    }

    /// The outbound clusters (CDS) and their endpoints (EDS) of one proxy
    /// alone, as [`Compiler::compile`] has them, without the fixed
    /// clusters (passthrough, blackhole, inbound): what a server recomputes
    /// when only services, endpoints or DestinationRules changed.
    pub fn outbound_clusters(
        &self,
        proxy: &Proxy,
    ) -> (
        Vec<envoy_types::pb::envoy::config::cluster::v3::Cluster>,
        Vec<envoy_types::pb::envoy::config::endpoint::v3::ClusterLoadAssignment>,
    ) {
        let (_, services) = self.scope(proxy);
        let mut out = Resources::default();
        self.outbound(&services, proxy, &mut out);
        out.sort();
        (out.clusters, out.endpoints)
    }

    /// The HTTP filters of an inbound or gateway chain in Istio's order
    /// (AZ-2): CUSTOM (shadow RBAC + ext_authz), `jwt_authn`, RBAC (AUDIT,
    /// DENY, ALLOW), fault, CORS. The router is appended by the listener.
    fn http_filters(&self, namespace: &str, labels: &Labels) -> Vec<HttpFilter> {
        let policies: Vec<_> = self
            .authz
            .applicable(namespace, labels)
            .map(|p| p.source().clone())
            .collect();
        let build = |actions| {
            authz::build_http(&AuthzInputs {
                policies: &policies,
                trust_domains: &self.bundle,
                mesh: self.snapshot.mesh(),
                registry: &self.snapshot,
                options: BuildOptions {
                    actions,
                    ..Default::default()
                },
            })
            .filters
        };
        let mut out = build(Actions::Custom);
        let jwt = WorkloadJwt::for_workload(&self.snapshot, namespace, labels, &self.jwks);
        let rules: Vec<_> = jwt.rules().iter().map(|r| &r.rule).collect();
        let jwks = |uri: &str| self.jwks.get(uri).map(str::to_string);
        out.extend(http::jwt_authn(&rules, &jwks));
        out.extend(build(Actions::Rbac));
        out.push(http::fault());
        out.push(http::cors());
        out
    }

    /// The network filters of an inbound TCP chain (network RBAC, ext_authz).
    fn tcp_filters(
        &self,
        namespace: &str,
        labels: &Labels,
    ) -> Vec<envoy_types::pb::envoy::config::listener::v3::Filter> {
        let policies: Vec<_> = self
            .authz
            .applicable(namespace, labels)
            .map(|p| p.source().clone())
            .collect();
        authz::build_tcp(&AuthzInputs {
            policies: &policies,
            trust_domains: &self.bundle,
            mesh: self.snapshot.mesh(),
            registry: &self.snapshot,
            options: BuildOptions::default(),
        })
        .filters
    }

    /// The DestinationRule facts of a service for a client (DR-1..DR-4).
    fn service_policy(
        &self,
        client_namespace: &str,
        client_labels: &Labels,
        s: &Service,
    ) -> ServicePolicy {
        let Some(rule) = self.routes.destination_rules().for_client(
            client_namespace,
            client_labels,
            &s.hostname,
            &s.namespace,
        ) else {
            return ServicePolicy::default();
        };
        let subsets: Vec<(String, Labels)> = rule
            .rule
            .subsets
            .iter()
            .map(|sub| (sub.name.clone(), sub.labels.clone()))
            .collect();
        let mut policies = Vec::new();
        for p in &s.ports {
            if let Some(tp) = rule.effective_policy(p.number, None) {
                policies.push(((p.number, None), tp));
            }
            for (name, _) in &subsets {
                if let Some(tp) = rule.effective_policy(p.number, Some(name)) {
                    policies.push(((p.number, Some(name.clone())), tp));
                }
            }
        }
        ServicePolicy { subsets, policies }
    }

    /// Whether a proxy gets SNI-DNAT clusters: a gateway workload running a
    /// Gateway with an `AUTO_PASSTHROUGH` server (GW-7,
    /// `ContainsAutoPassthroughGateways`).
    fn sni_dnat(&self, proxy: &Proxy) -> bool {
        proxy.kind == ProxyKind::Router
            && self
                .snapshot
                .gateways()
                .filter(|g| g.spec.selector.matches(&proxy.labels))
                .flat_map(|g| &g.spec.servers)
                .any(|s| {
                    s.tls_mode()
                        == Some(mesh_model::wire::networking::ServerTlsMode::AutoPassthrough)
                })
    }

    fn outbound(&self, services: &[&Arc<Service>], proxy: &Proxy, out: &mut Resources) {
        let (clusters, endpoints) =
            self.outbound_with(std::mem::take(&mut out.clusters), services, proxy, true);
        out.clusters = clusters;
        out.endpoints = endpoints;
    }

    /// A sidecar's Sidecar resource (none for a gateway) and the services
    /// the proxy sees through it (HOST-6, SC-1).
    fn scope(
        &self,
        proxy: &Proxy,
    ) -> (
        Option<&Arc<mesh_model::config::Config<mesh_model::networking::Sidecar>>>,
        Vec<&Arc<Service>>,
    ) {
        let scope = match proxy.kind {
            ProxyKind::Sidecar => {
                mesh_model::scope::sidecar_for(&self.snapshot, &proxy.namespace, &proxy.labels)
            }
            ProxyKind::Router => None,
        };
        let services = mesh_model::scope::visible_services(
            &self.snapshot,
            &proxy.namespace,
            scope.map(|s| &s.spec),
        );
        (scope, services)
    }

    /// The clusters a proxy has besides the outbound ones: for a sidecar,
    /// passthrough, blackhole, inbound passthrough and one per inbound port
    /// (`ports`); for a gateway, blackhole. Sorted: every name sorts before
    /// `outbound|`, so the outbound clusters are built after them, in
    /// place, and the list is never moved or sorted again (a `Cluster` is
    /// several kilobytes).
    fn fixed_clusters(
        &self,
        proxy: &Proxy,
        ports: &[InboundPortSpec],
    ) -> Vec<envoy_types::pb::envoy::config::cluster::v3::Cluster> {
        let timeout = connect_timeout(&self.snapshot);
        let mut fixed = match proxy.kind {
            ProxyKind::Sidecar => {
                let mut v = vec![
                    cluster::passthrough(timeout),
                    cluster::blackhole(timeout),
                    cluster::inbound_passthrough(timeout),
                ];
                v.extend(ports.iter().map(|p| self.inbound_cluster(p, timeout)));
                v
            }
            ProxyKind::Router => vec![cluster::blackhole(timeout)],
        };
        fixed.sort_by(|a, b| a.name.cmp(&b.name));
        debug_assert!(fixed.iter().all(|c| c.name.as_str() < "outbound|"));
        fixed
    }

    /// The outbound clusters of `services` for a client, after `before`,
    /// and their endpoints when `with_endpoints`.
    fn outbound_with(
        &self,
        before: Vec<envoy_types::pb::envoy::config::cluster::v3::Cluster>,
        services: &[&Arc<Service>],
        proxy: &Proxy,
        with_endpoints: bool,
    ) -> (
        Vec<envoy_types::pb::envoy::config::cluster::v3::Cluster>,
        Vec<envoy_types::pb::envoy::config::endpoint::v3::ClusterLoadAssignment>,
    ) {
        let (namespace, labels) = (proxy.namespace.as_str(), &proxy.labels);
        let policy = |s: &Service| self.service_policy(namespace, labels, s);
        let accepts = |s: &Service| {
            namespace_mtls_mode(&self.snapshot, &s.namespace) != Some(MtlsMode::Disable)
        };
        let inputs = ClusterInputs {
            trust_domain: self.snapshot.trust_domain(),
            auto_mtls: self.snapshot.mesh().auto_mtls(),
            server_accepts_mtls: &accepts,
            policy: &policy,
            connect_timeout: connect_timeout(&self.snapshot),
            sni_dnat: self.sni_dnat(proxy),
        };
        assemble::build_outbound(before, services, &inputs, with_endpoints)
    }

    /// The inbound cluster of an inbound port: the application, at the
    /// Sidecar's `defaultEndpoint` or the configured address.
    fn inbound_cluster(
        &self,
        p: &InboundPortSpec,
        timeout: Duration,
    ) -> envoy_types::pb::envoy::config::cluster::v3::Cluster {
        let (app_addr, app_port) = p
            .endpoint
            .clone()
            .unwrap_or((self.options.app_address.clone(), p.target_port));
        cluster::inbound(
            p.target_port,
            &app_addr,
            app_port,
            timeout,
            p.protocol.is_http2(),
        )
    }

    fn sidecar(&self, proxy: &Proxy) -> Resources {
        let mut out = Resources::default();
        let table = self.prepare(proxy).routes.table();
        let (scope, services) = self.scope(proxy);
        let ports = self.inbound_ports(proxy, scope.map(|s| &s.spec));
        out.clusters = self.fixed_clusters(proxy, &ports);
        self.outbound(&services, proxy, &mut out);

        // Explicit egress listeners of the Sidecar (captureMode NONE or a
        // bind address) are bound; the rest hang off virtualOutbound.
        let mut bound_egress: BTreeMap<u16, String> = BTreeMap::new();
        if let Some(sc) = scope {
            for e in &sc.spec.egress {
                let Some(port) = e
                    .port
                    .as_ref()
                    .and_then(|p| p.number)
                    .and_then(|n| u16::try_from(n).ok())
                else {
                    continue;
                };
                let none = e.capture_mode == Some(mesh_model::wire::networking::CaptureMode::None);
                if none || e.bind.is_some() || proxy.interception == Interception::None {
                    bound_egress.insert(port, e.bind.clone().unwrap_or_else(|| "127.0.0.1".into()));
                }
            }
        }
        let registry_only = table.passthrough_cluster().is_none();
        for rc in table.route_configurations() {
            match &*rc.scope {
                RouteScope::SidecarPort { port } => {
                    let bind = bound_egress.get(port).map(String::as_str);
                    if bind.is_none() && proxy.interception == Interception::None {
                        continue;
                    }
                    out.listeners.push(listener::outbound_http(
                        *port,
                        &rc.name,
                        bind,
                        vec![http::fault(), http::cors()],
                    ));
                }
                RouteScope::SniffedService { host, port, .. } => {
                    if proxy.interception == Interception::None {
                        continue;
                    }
                    out.listeners
                        .push(sniffed_listener(host.as_str(), *port, &rc.name, &services));
                }
                _ => {}
            }
        }
        for l4 in table.tcp_listeners() {
            let bind = bound_egress.get(&l4.port).map(String::as_str);
            if (bind.is_none() && proxy.interception == Interception::None) || l4.chains.is_empty()
            {
                continue;
            }
            out.listeners.push(l4_listener(l4, bind));
        }
        // The table is done with: its routes are moved, not copied.
        out.routes = rds::translate_table(table);

        // Inbound.
        let peer = PeerPolicies::select(&self.snapshot, &proxy.namespace, &proxy.labels);
        let http_filters = self.http_filters(&proxy.namespace, &proxy.labels);
        let tcp_filters = self.tcp_filters(&proxy.namespace, &proxy.labels);
        let mut inbound: Vec<(InboundPort, Option<(String, u16)>)> = Vec::new();
        for p in &ports {
            let mode = peer.effective(Some(p.target_port)).mode;
            let http = p.protocol.is_http();
            let cluster_name = format!("inbound|{}||", p.target_port);
            inbound.push((
                InboundPort {
                    target_port: p.target_port,
                    http,
                    mode,
                    http_filters: http_filters.clone(),
                    tcp_filters: tcp_filters.clone(),
                    route: inbound_route(p.target_port, p.service_port, &cluster_name),
                    cluster: cluster_name,
                },
                p.bind.clone().map(|b| (b, p.listen_port)),
            ));
        }
        for (p, bind) in &inbound {
            if let Some((addr, port)) = bind {
                out.listeners.push(listener::inbound_bound(addr, *port, p));
            }
        }
        if proxy.interception == Interception::Redirect {
            out.listeners
                .push(listener::virtual_outbound(registry_only));
            let capture: Vec<InboundPort> = inbound
                .iter()
                .filter(|(_, b)| b.is_none())
                .map(|(p, _)| p.clone())
                .collect();
            out.listeners.push(listener::virtual_inbound(
                &capture,
                peer.effective(None).mode,
            ));
        }
        out
    }

    /// The workload's inbound ports: the Sidecar's ingress listeners when it
    /// has any, else the ports of the services that select the workload.
    fn inbound_ports(
        &self,
        proxy: &Proxy,
        sidecar: Option<&mesh_model::networking::Sidecar>,
    ) -> Vec<InboundPortSpec> {
        if let Some(sc) = sidecar.filter(|s| !s.ingress.is_empty()) {
            return sc
                .ingress
                .iter()
                .filter_map(|i| {
                    let p = i.port.as_ref()?;
                    let number = u16::try_from(p.number?).ok()?;
                    let target = p
                        .target_port
                        .and_then(|t| u16::try_from(t).ok())
                        .filter(|t| *t != 0)
                        .unwrap_or(number);
                    let endpoint = i.default_endpoint.as_deref().and_then(parse_endpoint);
                    let none = i.capture_mode
                        == Some(mesh_model::wire::networking::CaptureMode::None)
                        || proxy.interception == Interception::None;
                    Some(InboundPortSpec {
                        target_port: target,
                        service_port: number,
                        protocol: Protocol::parse(p.protocol.as_deref().unwrap_or("")),
                        endpoint,
                        bind: (none || i.bind.is_some()).then(|| {
                            i.bind
                                .clone()
                                .or_else(|| proxy.ips.first().map(ToString::to_string))
                                .unwrap_or_else(|| "0.0.0.0".into())
                        }),
                        listen_port: number,
                    })
                })
                .collect();
        }
        assemble::inbound_service_ports(&self.snapshot, proxy)
            .into_iter()
            .map(
                |InboundServicePort {
                     port,
                     target_port,
                     protocol,
                     ..
                 }| InboundPortSpec {
                    target_port,
                    service_port: port,
                    protocol,
                    endpoint: None,
                    bind: None,
                    listen_port: target_port,
                },
            )
            .collect()
    }

    fn gateway(&self, proxy: &Proxy) -> Resources {
        let mut out = Resources::default();
        let table = self.prepare(proxy).routes.table();
        let (_, services) = self.scope(proxy);
        out.clusters = self.fixed_clusters(proxy, &[]);
        self.outbound(&services, proxy, &mut out);
        let filters = self.http_filters(&proxy.namespace, &proxy.labels);
        let mut listeners: BTreeMap<(String, u16), Vec<FilterChain>> = BTreeMap::new();
        for rc in table.route_configurations() {
            match &*rc.scope {
                RouteScope::GatewayHttp {
                    target_port, bind, ..
                } => {
                    let bind = bind.clone().unwrap_or_else(|| "0.0.0.0".into());
                    listeners
                        .entry((bind.clone(), *target_port))
                        .or_default()
                        .push(listener::gateway_http_chain(
                            &rc.name,
                            filters.clone(),
                            &format!("outbound_{bind}_{target_port}"),
                        ));
                }
                RouteScope::GatewayHttps {
                    target_port,
                    gateway,
                    server_port,
                    port_name,
                    sni_hosts,
                    bind,
                } => {
                    let Some(tls) = self.server_tls(gateway, *server_port, port_name) else {
                        continue;
                    };
                    let bind = bind.clone().unwrap_or_else(|| "0.0.0.0".into());
                    let names: Vec<String> =
                        sni_hosts.iter().map(|h| h.as_str().to_string()).collect();
                    listeners
                        .entry((bind.clone(), *target_port))
                        .or_default()
                        .push(listener::gateway_https_chain(
                            &names,
                            &crate::tls::gateway_server(&tls),
                            &rc.name,
                            filters.clone(),
                            &format!("outbound_{bind}_{target_port}"),
                        ));
                }
                _ => {}
            }
        }
        for l4 in table.tcp_listeners() {
            let (bind, port) = l4
                .name
                .rsplit_once('_')
                .map_or(("0.0.0.0".to_string(), l4.port), |(b, p)| {
                    (b.to_string(), p.parse().unwrap_or(l4.port))
                });
            let entry = listeners.entry((bind, port)).or_default();
            for c in &l4.chains {
                // An `AUTO_PASSTHROUGH` chain (no VirtualService) counts
                // its statistics under its cluster's name, as Istio's do.
                let stat = match (&c.origin, c.destinations.as_slice()) {
                    (None, [one]) => one.name.as_str(),
                    _ => l4.name.as_str(),
                };
                entry.push(listener::gateway_tcp_chain(
                    &c.server_names,
                    &c.application_protocols,
                    &tcp_target(c),
                    stat,
                ));
            }
        }
        out.routes = rds::translate_table(table);
        for ((bind, port), chains) in listeners {
            // A port with no usable server yields no listener (Envoy
            // rejects a listener without filter chains).
            if !chains.is_empty() {
                out.listeners.push(listener::gateway(&bind, port, chains));
            }
        }
        out
    }

    /// The TLS settings of the Gateway server with this port.
    fn server_tls(
        &self,
        gw: &ConfigRef,
        server_port: u16,
        port_name: &str,
    ) -> Option<mesh_model::wire::networking::ServerTlsSettings> {
        let g = self.snapshot.gateway(&gw.namespace, &gw.name)?;
        g.spec
            .servers
            .iter()
            .find(|s| s.port.number == u32::from(server_port) && s.port.name == port_name)
            .and_then(|s| s.tls.clone())
    }
}

/// One inbound port to build.
#[derive(Debug, Clone)]
struct InboundPortSpec {
    target_port: u16,
    service_port: u16,
    protocol: Protocol,
    /// The application endpoint (Sidecar `defaultEndpoint`).
    endpoint: Option<(String, u16)>,
    /// A bind address for an explicitly bound ingress listener.
    bind: Option<String>,
    /// The port that listener binds.
    listen_port: u16,
}

fn parse_endpoint(s: &str) -> Option<(String, u16)> {
    let (host, port) = s.rsplit_once(':')?;
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let host = if host.is_empty() || host == "0.0.0.0" {
        "127.0.0.1"
    } else {
        host
    };
    Some((host.to_string(), port.parse().ok()?))
}

/// The inline inbound route configuration `inbound|<port>||` (XDS-2): one
/// virtual host `inbound|http|<servicePort>` for every domain, one route to
/// the inbound cluster with no timeout (VS-24).
fn inbound_route(target_port: u16, service_port: u16, cluster: &str) -> RouteConfiguration {
    RouteConfiguration {
        name: format!("inbound|{target_port}||"),
        virtual_hosts: vec![VirtualHost {
            name: format!("inbound|http|{service_port}"),
            domains: vec!["*".into()],
            routes: vec![Route {
                name: "default".into(),
                r#match: Some(RouteMatch {
                    path_specifier: Some(PathSpecifier::Prefix("/".into())),
                    ..Default::default()
                }),
                action: Some(Action::Route(RouteAction {
                    cluster_specifier: Some(ClusterSpecifier::Cluster(cluster.to_string())),
                    timeout: Some(duration(Duration::ZERO)),
                    ..Default::default()
                })),
                ..Default::default()
            }],
            ..Default::default()
        }],
        validate_clusters: Some(crate::util::boolv(false)),
        ..Default::default()
    }
}

fn tcp_target(c: &mesh_route::l4::FilterChain) -> TcpTarget {
    match c.destinations.as_slice() {
        [one] => TcpTarget::Cluster(one.name.clone()),
        many => TcpTarget::Weighted(many.iter().map(|d| (d.name.clone(), d.weight)).collect()),
    }
}

/// A sidecar's TCP/TLS listener from the route crate's L4 listener.
fn l4_listener(l4: &L4Listener, bind: Option<&str>) -> Listener {
    let (address, port) = match bind {
        Some(b) => (b.to_string(), l4.port),
        None => l4
            .name
            .rsplit_once('_')
            .map_or(("0.0.0.0".to_string(), l4.port), |(a, p)| {
                (a.to_string(), p.parse().unwrap_or(l4.port))
            }),
    };
    let chains = l4
        .chains
        .iter()
        .map(|c| FilterChain {
            filter_chain_match: (!c.server_names.is_empty() || !c.destination_cidrs.is_empty())
                .then(|| FilterChainMatch {
                    server_names: c.server_names.clone(),
                    prefix_ranges: c
                        .destination_cidrs
                        .iter()
                        .map(|n| CidrRange {
                            address_prefix: n.network().to_string(),
                            prefix_len: Some(crate::util::u32v(u32::from(n.prefix_len()))),
                        })
                        .collect(),
                    ..Default::default()
                }),
            filters: vec![listener::tcp_proxy(&l4.name, &tcp_target(c))],
            ..Default::default()
        })
        .collect();
    let sni = l4.chains.iter().any(|c| !c.server_names.is_empty());
    Listener {
        name: format!("{address}_{port}"),
        address: Some(socket_address(&address, port)),
        filter_chains: chains,
        listener_filters: if sni {
            vec![listener::tls_inspector()]
        } else {
            Vec::new()
        },
        bind_to_port: Some(crate::util::boolv(bind.is_some())),
        ..Default::default()
    }
}

/// A per-service listener on an auto-detected port (`<vip>_<port>`): HTTP
/// detected by the HTTP inspector goes to the service's route
/// configuration (XDS-2 `<host>:<port>`), anything else to its cluster.
fn sniffed_listener(
    host: &str,
    port: u16,
    route_name: &str,
    services: &[&Arc<Service>],
) -> Listener {
    let vip = services
        .iter()
        .find(|s| s.hostname.as_str() == host)
        .and_then(|s| s.addresses.first().cloned())
        .unwrap_or_else(|| "0.0.0.0".into());
    let mut hf = vec![http::fault(), http::cors()];
    hf.push(http::router());
    Listener {
        name: format!("{vip}_{port}"),
        address: Some(socket_address(&vip, port)),
        filter_chains: vec![
            FilterChain {
                filter_chain_match: Some(FilterChainMatch {
                    application_protocols: vec!["http/1.1".into(), "h2c".into()],
                    ..Default::default()
                }),
                filters: vec![http::connection_manager(
                    &format!("outbound_{vip}_{port}"),
                    http::Routes::Rds(route_name.to_string()),
                    hf,
                    http::Direction::Outbound,
                )],
                ..Default::default()
            },
            FilterChain {
                filters: vec![listener::tcp_proxy(
                    &format!("outbound|{port}||{host}"),
                    &TcpTarget::Cluster(format!("outbound|{port}||{host}")),
                )],
                ..Default::default()
            },
        ],
        listener_filters: vec![listener::http_inspector()],
        bind_to_port: Some(crate::util::boolv(false)),
        ..Default::default()
    }
}
