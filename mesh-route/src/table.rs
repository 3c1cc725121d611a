//! The compiled, indexed route table of one proxy, and request evaluation.

use crate::compile::SnapshotRoutes;
use crate::compile::sidecar::CatchAll;
use crate::config::{
    Mismatch, Route, RouteAction, RouteConfiguration, RouteScope, VirtualHost, VirtualHostKind,
};
use crate::index::{DomainIndex, RouteIndex, hash_ci};
use crate::l4::{Connection, L4Decision, L4Listener, select_chain};
use crate::proxy::ProxyContext;
use crate::request::Request;
use mesh_model::snapshot::Snapshot;
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, OnceLock};

/// One proxy's routing, compiled once from a [`Snapshot`] and indexed;
/// answers many requests without allocating.
///
/// The route configurations ([`RouteTable::route_configurations`]) are the
/// neutral description of the Envoy `RouteConfiguration`s Istio generates
/// for the proxy; [`RouteTable::route`] evaluates a request on exactly
/// those values.
#[derive(Debug, Clone)]
pub struct RouteTable {
    /// Shared with the [`ProxyRoutes`](crate::ProxyRoutes) it came from:
    /// a gateway's lists every Gateway it runs.
    proxy: Arc<ProxyContext>,
    configs: Vec<RouteConfiguration>,
    /// Evaluation indexes of `configs`, built on the first request that
    /// needs them: compiling to xDS never does.
    indexes: Vec<OnceLock<ConfigIndex>>,
    /// Sidecar route configurations by port, sorted by port.
    ports: Vec<PortRoutes>,
    /// Gateway plain HTTP route configurations by server port, sorted.
    gateway_http: Vec<(u16, usize)>,
    /// Gateway HTTPS route configurations by server port, sorted.
    gateway_https: Vec<(u16, Vec<usize>)>,
    l4: Vec<L4Listener>,
    fallback: Option<CatchAll>,
}

/// A sidecar port's route configurations.
#[derive(Debug, Clone)]
struct PortRoutes {
    port: u16,
    /// The `"<port>"` route configuration.
    shared: Option<usize>,
    /// Sniffed per-service route configurations: their services' domains.
    sniffed: Option<(DomainIndex, Vec<usize>)>,
}

fn lookup<T>(v: &[(u16, T)], port: u16) -> Option<&T> {
    v.binary_search_by_key(&port, |e| e.0).ok().map(|i| &v[i].1)
}

#[derive(Debug, Clone)]
struct ConfigIndex {
    domains: DomainIndex,
    vhosts: Vec<VhostIndex>,
}

/// The evaluation index of one virtual host.
#[derive(Debug, Clone)]
struct VhostIndex {
    routes: RouteIndex,
    /// The outcome of each route, so that a route the index proves is
    /// answered without reading it.
    outcomes: Box<[Outcome]>,
}

impl ConfigIndex {
    fn build(c: &RouteConfiguration) -> ConfigIndex {
        ConfigIndex {
            domains: DomainIndex::build(&c.virtual_hosts),
            vhosts: c
                .virtual_hosts
                .iter()
                .map(|v| VhostIndex {
                    routes: RouteIndex::build(&v.routes),
                    outcomes: v.routes.iter().map(|r| outcome(v.kind, r)).collect(),
                })
                .collect(),
        }
    }
}

/// What happens to a request that route `r` of a virtual host of kind
/// `kind` matches.
fn outcome(kind: VirtualHostKind, r: &Route) -> Outcome {
    match (kind, &r.action, &r.origin) {
        (VirtualHostKind::AllowAny | VirtualHostKind::BlockAll, _, _) => Outcome::UnknownHost,
        (_, RouteAction::Unsupported { .. }, _) => Outcome::Rejected,
        (_, RouteAction::Route(_), None) => Outcome::Default,
        (_, RouteAction::Route(_), Some(_)) => Outcome::Route,
        (_, RouteAction::Redirect(_), _) => Outcome::Redirect,
        (_, RouteAction::DirectResponse(_), _) => Outcome::DirectResponse,
    }
}

/// What happened to a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum Outcome {
    /// A VirtualService route forwarded it.
    Route,
    /// A VirtualService route redirected it.
    Redirect,
    /// A VirtualService route answered it directly.
    DirectResponse,
    /// No VirtualService applies and the host is a known service: its
    /// default route (VS-7).
    Default,
    /// A virtual host matched but none of its routes did: Envoy's 404
    /// `NR` (VS-5).
    NoRouteMatched,
    /// No virtual host (or no listener) serves the host (VS-5): a sidecar
    /// passes it through (`allow_any`) or blocks it (`block_all`, 502); a
    /// gateway answers 404.
    UnknownHost,
    /// The virtual host requires TLS and the request is plain text: a 301
    /// to `https` (GW-7).
    TlsRequired,
    /// Envoy rejects the route configuration (VS-21) and keeps its
    /// previous one.
    Rejected,
}

/// The route a request matched.
#[derive(Debug, Clone, Copy)]
pub struct RouteHit<'t> {
    /// Its index in the virtual host.
    pub index: usize,
    /// The route.
    pub route: &'t Route,
}

/// The answer for one request: borrowed from the table.
#[derive(Debug, Clone, Copy)]
pub struct Decision<'t> {
    /// The route configuration the request's listener uses.
    pub route_configuration: Option<&'t RouteConfiguration>,
    /// The virtual host chosen.
    pub virtual_host: Option<&'t VirtualHost>,
    /// The route matched (including a sidecar's `allow_any`/`block_all`).
    pub route: Option<RouteHit<'t>>,
    /// What happened.
    pub outcome: Outcome,
}

/// One step of an explanation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ExplainStep {
    /// The route's index in the virtual host.
    pub index: usize,
    /// The Envoy route name.
    pub name: String,
    /// The VirtualService, if the route came from one.
    pub virtual_service: Option<String>,
    /// The route's index in the VirtualService.
    pub route: Option<usize>,
    /// The match block.
    #[serde(rename = "match")]
    pub match_index: Option<usize>,
    /// Whether the route matched.
    pub matched: bool,
    /// Why it did not.
    pub reason: Option<String>,
    /// The structured reason.
    #[serde(skip)]
    pub mismatch: Option<Mismatch>,
}

/// A decision with the routes tried on the way.
#[derive(Debug, Clone)]
pub struct Explanation<'t> {
    /// The decision (identical to [`RouteTable::route`]'s).
    pub decision: Decision<'t>,
    /// Each route tried, in order, up to the one that matched.
    pub steps: Vec<ExplainStep>,
}

/// Records on `c` why Envoy would reject it (VS-21), unless it says so
/// already.
pub(crate) fn mark_rejected(c: &mut RouteConfiguration) {
    if c.rejected.is_none() {
        c.rejected = rejection(c);
    }
}

/// Why Envoy would reject `c`, if it would.
fn rejection(c: &RouteConfiguration) -> Option<String> {
    for v in &c.virtual_hosts {
        for r in &v.routes {
            if let RouteAction::Unsupported { redirect_code } = r.action {
                return Some(format!(
                    "route {:?} of virtual host {} has no action (redirect code {redirect_code} is not supported), so Envoy rejects the route configuration",
                    r.name, v.name
                ));
            }
        }
    }
    None
}

impl RouteTable {
    /// The evaluation index of route configuration `i`.
    fn index(&self, i: usize) -> &ConfigIndex {
        self.indexes[i].get_or_init(|| ConfigIndex::build(&self.configs[i]))
    }

    /// Compiles the routes of `proxy` from `snapshot`.
    pub fn compile(snapshot: &Snapshot, proxy: &ProxyContext) -> RouteTable {
        RouteTable::compile_shared(&SnapshotRoutes::new(snapshot), proxy)
    }

    /// Compiles the routes of `proxy` from a snapshot indexed once for many
    /// proxies ([`SnapshotRoutes`]); the same table as
    /// [`RouteTable::compile`].
    pub fn compile_shared(shared: &SnapshotRoutes, proxy: &ProxyContext) -> RouteTable {
        shared.prepare(proxy).table()
    }

    /// A table over route configurations built elsewhere (tests, benches).
    pub fn from_route_configurations(
        proxy: ProxyContext,
        configs: Vec<RouteConfiguration>,
    ) -> RouteTable {
        let fallback = proxy
            .is_sidecar()
            .then(|| CatchAll::AllowAny("PassthroughCluster".into()));
        RouteTable::from_parts(Arc::new(proxy), configs, Vec::new(), fallback)
    }

    /// A table over compiled route configurations and listeners.
    pub(crate) fn from_parts(
        proxy: Arc<ProxyContext>,
        mut configs: Vec<RouteConfiguration>,
        l4: Vec<L4Listener>,
        fallback: Option<CatchAll>,
    ) -> RouteTable {
        configs.iter_mut().for_each(mark_rejected);
        let indexes = configs.iter().map(|_| OnceLock::new()).collect();
        let mut shared: BTreeMap<u16, usize> = BTreeMap::new();
        let mut sniffed_lists: BTreeMap<u16, Vec<(Vec<String>, usize)>> = BTreeMap::new();
        let mut gateway_http: BTreeMap<u16, usize> = BTreeMap::new();
        let mut gateway_https: BTreeMap<u16, Vec<usize>> = BTreeMap::new();
        for (i, c) in configs.iter().enumerate() {
            match &*c.scope {
                RouteScope::SidecarPort { port } => {
                    shared.entry(*port).or_insert(i);
                }
                RouteScope::SniffedService {
                    port,
                    service_domains,
                    ..
                } => sniffed_lists
                    .entry(*port)
                    .or_default()
                    .push((service_domains.clone(), i)),
                RouteScope::GatewayHttp { server_port, .. } => {
                    gateway_http.entry(*server_port).or_insert(i);
                }
                RouteScope::GatewayHttps { server_port, .. } => {
                    gateway_https.entry(*server_port).or_default().push(i)
                }
            }
        }
        let all_ports: BTreeSet<u16> = shared.keys().chain(sniffed_lists.keys()).copied().collect();
        let ports = all_ports
            .into_iter()
            .map(|port| PortRoutes {
                port,
                shared: shared.get(&port).copied(),
                sniffed: sniffed_lists.remove(&port).map(|list| {
                    let ix = DomainIndex::from_domains(list.iter().map(|(d, _)| d.as_slice()));
                    (ix, list.into_iter().map(|(_, i)| i).collect())
                }),
            })
            .collect();
        RouteTable {
            proxy,
            configs,
            indexes,
            ports,
            gateway_http: gateway_http.into_iter().collect(),
            gateway_https: gateway_https.into_iter().collect(),
            l4,
            fallback,
        }
    }

    /// The proxy the table was compiled for.
    pub fn proxy(&self) -> &ProxyContext {
        &self.proxy
    }

    /// The route configurations, sorted by name: what an xDS compiler
    /// translates into Envoy `RouteConfiguration`s.
    pub fn route_configurations(&self) -> &[RouteConfiguration] {
        &self.configs
    }

    /// The route configurations, taken out of the table (what a caller
    /// that translates them and needs nothing else uses, so nothing is
    /// copied).
    ///
    /// ```
    /// use mesh_model::{load, LoadOptions};
    /// use mesh_route::{ProxyContext, RouteTable};
    /// let yaml = "apiVersion: v1\nkind: Service\nmetadata: {name: ratings, namespace: shop}\nspec: {ports: [{name: http, port: 9080}]}\n";
    /// let snapshot = load(&[("s.yaml", yaml)], &LoadOptions::default()).snapshot;
    /// let table = RouteTable::compile(&snapshot, &ProxyContext::sidecar("shop", Default::default()));
    /// let names: Vec<String> = table.route_configurations().iter().map(|r| r.name.clone()).collect();
    /// let owned = table.into_route_configurations();
    /// assert_eq!(owned.iter().map(|r| &r.name).collect::<Vec<_>>(), names.iter().collect::<Vec<_>>());
    /// ```
    pub fn into_route_configurations(self) -> Vec<RouteConfiguration> {
        self.configs
    }

    /// The route configuration named `name`.
    pub fn route_configuration(&self, name: &str) -> Option<&RouteConfiguration> {
        self.configs.iter().find(|c| c.name == name)
    }

    /// The TCP/TLS listeners and their filter chains (VS-30..VS-33).
    pub fn tcp_listeners(&self) -> &[L4Listener] {
        &self.l4
    }

    /// The cluster (or status) a sidecar sends traffic that no listener or
    /// filter chain takes: `PassthroughCluster` (or the egress proxy's
    /// cluster) under `ALLOW_ANY`, `BlackHoleCluster` under
    /// `REGISTRY_ONLY` (SC-3); `None` on gateways.
    pub fn passthrough_cluster(&self) -> Option<&str> {
        match self.fallback.as_ref()? {
            CatchAll::AllowAny(c) => Some(c),
            CatchAll::BlockAll => Some("BlackHoleCluster"),
        }
    }

    /// The port a request goes to when it names none: the request's
    /// `port`, else the authority's, else (sidecars) the one port whose
    /// routes serve the host, else 80 (443 for `https`).
    pub fn request_port(&self, req: &Request<'_>) -> u16 {
        if req.port != 0 {
            return req.port;
        }
        if let Some(p) = req.authority_port() {
            return p;
        }
        let default = if req.scheme.eq_ignore_ascii_case("https") {
            443
        } else {
            80
        };
        if !self.proxy.is_sidecar() {
            return default;
        }
        let host = req.host_without_port();
        let mut found: Vec<u16> = Vec::new();
        for (i, c) in self.configs.iter().enumerate() {
            let port = match &*c.scope {
                RouteScope::SidecarPort { port } => *port,
                RouteScope::SniffedService {
                    port,
                    service_domains,
                    ..
                } => {
                    if service_domains.iter().any(|d| d.eq_ignore_ascii_case(host)) {
                        found.push(*port);
                    }
                    continue;
                }
                _ => continue,
            };
            if let Some(v) = self.index(i).domains.find(host) {
                let kind = c.virtual_hosts[v].kind;
                if !matches!(kind, VirtualHostKind::AllowAny | VirtualHostKind::BlockAll) {
                    found.push(port);
                }
            }
        }
        found.sort_unstable();
        found.dedup();
        match found.as_slice() {
            [p] => *p,
            ps if ps.contains(&default) => default,
            [p, ..] => *p,
            [] => default,
        }
    }

    /// The route configuration serving `req`, whose host is `host` with
    /// [`hash_ci`] `key`.
    #[inline]
    fn config_for(&self, req: &Request<'_>, port: u16, host: &str, key: u64) -> Option<usize> {
        if self.proxy.is_sidecar() {
            let i = self.ports.binary_search_by_key(&port, |p| p.port).ok()?;
            let p = &self.ports[i];
            if let Some((ix, list)) = &p.sniffed
                && let Some(i) = ix.find_hashed(host, key)
            {
                return Some(list[i]);
            }
            return p.shared;
        }
        let tls = req.scheme.eq_ignore_ascii_case("https");
        if !tls {
            return lookup(&self.gateway_http, port).copied();
        }
        let sni = req.sni.unwrap_or(host);
        let list = lookup(&self.gateway_https, port)?;
        let mut best: Option<(usize, usize)> = None;
        for &i in list {
            let RouteScope::GatewayHttps { sni_hosts, .. } = &*self.configs[i].scope else {
                continue;
            };
            let rank = sni_hosts
                .iter()
                .filter_map(|h| {
                    let h = h.as_str();
                    if h == "*" {
                        Some(1)
                    } else if h.eq_ignore_ascii_case(sni) {
                        Some(usize::MAX)
                    } else if let Some(suffix) = h.strip_prefix('*') {
                        (sni.len() > suffix.len()
                            && sni.as_bytes()[sni.len() - suffix.len()..]
                                .eq_ignore_ascii_case(suffix.as_bytes()))
                        .then_some(suffix.len() + 2)
                    } else {
                        None
                    }
                })
                .max();
            if let Some(r) = rank
                && best.is_none_or(|(b, _)| r > b)
            {
                best = Some((r, i));
            }
        }
        best.map(|(_, i)| i)
    }

    /// Evaluates a request: the route configuration of its listener, the
    /// virtual host of its authority, the first route that matches
    /// (index-accelerated; the same answer as a linear scan).
    #[inline]
    pub fn route<'t>(&'t self, req: &Request<'_>) -> Decision<'t> {
        self.evaluate(req, None)
    }

    /// Evaluates a request and records each route tried and why it did
    /// not match.
    pub fn explain<'t>(&'t self, req: &Request<'_>) -> Explanation<'t> {
        let mut steps = Vec::new();
        let decision = self.evaluate(req, Some(&mut steps));
        Explanation { decision, steps }
    }

    /// Evaluates a request by trying every route in order (Envoy's own
    /// linear matcher): the baseline the index is measured against.
    pub fn route_linear<'t>(&'t self, req: &Request<'_>) -> Decision<'t> {
        self.evaluate_with(req, |vhost, _, req| {
            let path = req.path_only();
            let i = vhost
                .routes
                .iter()
                .position(|r| r.matcher.matches_at(req, path))?;
            Some((i, outcome(vhost.kind, &vhost.routes[i])))
        })
    }

    fn evaluate<'t>(
        &'t self,
        req: &Request<'_>,
        trace: Option<&mut Vec<ExplainStep>>,
    ) -> Decision<'t> {
        match trace {
            None => self.evaluate_with(req, |vhost, ix, req| {
                let i = ix.routes.first_match(&vhost.routes, req)?;
                Some((i, ix.outcomes[i]))
            }),
            Some(steps) => self.evaluate_with(req, |vhost, _, req| {
                for (i, r) in vhost.routes.iter().enumerate() {
                    let mismatch = r.matcher.mismatch(req);
                    let o = r.origin.as_ref();
                    steps.push(ExplainStep {
                        index: i,
                        name: r.name.clone(),
                        virtual_service: o.map(|o| o.virtual_service.to_string()),
                        route: o.map(|o| o.route_index),
                        match_index: o.and_then(|o| o.match_index),
                        matched: mismatch.is_none(),
                        reason: mismatch.as_ref().map(ToString::to_string),
                        mismatch: mismatch.clone(),
                    });
                    if mismatch.is_none() {
                        return Some((i, outcome(vhost.kind, r)));
                    }
                }
                None
            }),
        }
    }

    #[inline]
    fn evaluate_with<'t>(
        &'t self,
        req: &Request<'_>,
        pick: impl FnOnce(&'t VirtualHost, &'t VhostIndex, &Request<'_>) -> Option<(usize, Outcome)>,
    ) -> Decision<'t> {
        let port = if req.port != 0 {
            req.port
        } else {
            self.request_port(req)
        };
        let unknown = Decision {
            route_configuration: None,
            virtual_host: None,
            route: None,
            outcome: Outcome::UnknownHost,
        };
        let host = req.host_without_port();
        let key = hash_ci(host.as_bytes());
        let Some(ci) = self.config_for(req, port, host, key) else {
            return unknown;
        };
        let config = &self.configs[ci];
        if config.rejected.is_some() {
            return Decision {
                route_configuration: Some(config),
                outcome: Outcome::Rejected,
                ..unknown
            };
        }
        let ix = self.index(ci);
        let Some(vi) = ix.domains.find_hashed(host, key) else {
            return Decision {
                route_configuration: Some(config),
                ..unknown
            };
        };
        let vhost = &config.virtual_hosts[vi];
        let base = Decision {
            route_configuration: Some(config),
            virtual_host: Some(vhost),
            route: None,
            outcome: Outcome::NoRouteMatched,
        };
        if vhost.require_tls && !req.scheme.eq_ignore_ascii_case("https") {
            return Decision {
                outcome: Outcome::TlsRequired,
                ..base
            };
        }
        let Some((ri, outcome)) = pick(vhost, &ix.vhosts[vi], req) else {
            return base;
        };
        let route = &vhost.routes[ri];
        Decision {
            route: Some(RouteHit { index: ri, route }),
            outcome,
            ..base
        }
    }

    /// The TCP/TLS listener and filter chain for a connection (VS-30..
    /// VS-32). On a sidecar the listener is the dialled service's; on a
    /// gateway, the server port's.
    pub fn route_tcp<'t>(&'t self, conn: &Connection<'_>) -> L4Decision<'t> {
        let listener = if self.proxy.is_sidecar() {
            let host = crate::request::strip_port(conn.host);
            self.l4.iter().find(|l| {
                l.port == conn.port
                    && l.service
                        .as_ref()
                        .is_some_and(|s| s.as_str().eq_ignore_ascii_case(host))
            })
        } else {
            self.l4.iter().find(|l| l.port == conn.port)
        };
        let chain = listener.and_then(|l| select_chain(&l.chains, conn).map(|i| (i, &l.chains[i])));
        L4Decision { listener, chain }
    }
}
