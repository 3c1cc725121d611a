//! Recompiling one proxy after a change: when only VirtualServices changed,
//! and only in their HTTP routes, a proxy keeps every resource but the
//! virtual hosts those VirtualServices own.
//!
//! Why this is exact: a VirtualService's hosts, gateways, visibility, age
//! and TCP/TLS routes decide which virtual hosts it makes, which services it
//! claims, which domains each host keeps and every listener (HTTPR
//! `BuildSidecarOutboundVirtualHosts`, VS-7, VS-8, HOST-8). With those
//! unchanged, its HTTP routes decide only the route list those virtual
//! hosts share, and whether it makes any on a port (a VirtualService with no
//! route left for this proxy and port makes none, VS-3). The fast path
//! replaces the route lists and gives up, compiling the proxy again, when
//! anything else may differ.

use super::Compiler;
use crate::proxy::{Proxy, ProxyKind};
use crate::resources::Resources;
use crate::route as rds;
use envoy_types::pb::envoy::config::route::v3::{Route, VirtualHost};
use envoy_types::pb::google::protobuf::value::Kind as ValueKind;
use mesh_model::config::{Config, Meta};
use mesh_model::networking::VirtualService;
use mesh_model::resource::{IstioKind, Kind, ResourceKey};
use mesh_model::snapshot::Snapshot;
use mesh_route::config::ConfigRef;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

impl Compiler {
    /// Compiles `proxy` again after a change, reusing what the change
    /// cannot affect. The result always equals [`Compiler::compile`]'s.
    ///
    /// `previous` is what a compiler for `before` with the same options
    /// compiled for this proxy; `changed` holds the keys of every object
    /// that differs between `before` and this compiler's snapshot, as
    /// [`Snapshot::changed_since`] computes them (`None`: anything may
    /// have changed).
    ///
    /// When nothing changed, `previous` is returned as it is. When only
    /// VirtualServices changed, and only in their HTTP routes, a
    /// sidecar's clusters, endpoints, listeners, secrets and every other
    /// virtual host are kept, and only the route lists of the virtual hosts
    /// those VirtualServices own are rebuilt. Any other change compiles the
    /// proxy again.
    ///
    /// ```
    /// use mesh_model::{load, LoadOptions};
    /// use mesh_xds::{Compiler, CompileOptions, proxy::Proxy};
    /// let svc = "apiVersion: v1\nkind: Service\nmetadata: {name: ratings, namespace: shop}\nspec: {ports: [{name: http, port: 80}]}\n";
    /// let vs = |prefix: &str| format!("apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: {{name: r, namespace: shop}}\nspec:\n  hosts: [ratings]\n  http:\n  - match: [{{uri: {{prefix: {prefix}}}}}]\n    route: [{{destination: {{host: ratings}}}}]\n");
    /// let before = load(&[("s.yaml", svc), ("vs.yaml", &vs("/v1"))], &LoadOptions::default()).snapshot;
    /// let after = load(&[("s.yaml", svc), ("vs.yaml", &vs("/v2"))], &LoadOptions::default()).snapshot;
    /// let proxy = Proxy::sidecar("shop", Default::default(), "web");
    ///
    /// let previous = Compiler::new(&before, CompileOptions::default()).compile(&proxy);
    /// let compiler = Compiler::new(&after, CompileOptions::default());
    /// let changed = after.changed_since(&before);
    /// let next = compiler.recompile(&proxy, previous, &before, changed.as_ref());
    /// assert_eq!(next, compiler.compile(&proxy));
    /// ```
    pub fn recompile(
        &self,
        proxy: &Proxy,
        previous: Resources,
        before: &Snapshot,
        changed: Option<&BTreeSet<ResourceKey>>,
    ) -> Resources {
        match changed {
            Some(keys) if keys.is_empty() => previous,
            Some(keys) => match self.splice_plan(proxy, &previous, before, keys) {
                Some(plan) => plan.apply(previous),
                None => self.compile(proxy),
            },
            None => self.compile(proxy),
        }
    }

    /// What to replace in `previous`, or `None` when the change needs a
    /// full compile.
    fn splice_plan(
        &self,
        proxy: &Proxy,
        previous: &Resources,
        before: &Snapshot,
        keys: &BTreeSet<ResourceKey>,
    ) -> Option<Plan> {
        let mut plan = Plan::default();
        for key in keys {
            if key.kind != Kind::Istio(IstioKind::VirtualService) {
                return None;
            }
            let old = before.virtual_service(&key.namespace, &key.name)?;
            let new = self.snapshot.virtual_service(&key.namespace, &key.name)?;
            if !only_http_differs(old, new) {
                return None;
            }
            let change = Change {
                proxy,
                previous,
                before,
                vs: (key.namespace.as_str(), key.name.as_str()),
                path: rds::config_path(&ConfigRef::new(&key.namespace, &key.name)),
                hosts: host_names(&new.spec),
            };
            match proxy.kind {
                // Not bound to `mesh`: no sidecar sees it (VS-4).
                ProxyKind::Sidecar if !new.spec.applies_to_mesh() => {}
                ProxyKind::Sidecar => self.plan_sidecar(&change, &mut plan)?,
                ProxyKind::Router => self.plan_gateway(&change, &mut plan)?,
            }
        }
        Some(plan)
    }

    /// Finds the virtual hosts the changed VirtualService owns in a
    /// gateway's `previous` resources and their new route lists. A gateway
    /// virtual host may join the routes of several VirtualServices, or of
    /// one through several servers (GWC `buildGatewayHTTPRouteConfig`):
    /// only those holding one server's routes of this VirtualService alone
    /// are rebuilt; meeting any other gives up.
    fn plan_gateway(&self, c: &Change<'_>, plan: &mut Plan) -> Option<()> {
        let by_server = |snapshot: &Snapshot| {
            mesh_route::gateway_virtual_service_routes(
                snapshot,
                self.routes.destination_rules(),
                &c.proxy.namespace,
                &c.proxy.labels,
                c.vs,
            )
        };
        let (old, new) = (by_server(c.before)?, by_server(&self.snapshot)?);
        if old.len() != new.len() {
            return None;
        }
        let mut lists: Vec<ServerLists> = Vec::new();
        for (o, n) in old.into_iter().zip(new) {
            if (&o.gateway, o.server_port, o.tls) != (&n.gateway, n.server_port, n.tls) {
                return None;
            }
            // A server where it starts or stops making virtual hosts moves
            // hosts and domains.
            if o.routes.is_empty() != n.routes.is_empty() {
                return None;
            }
            if o.routes.is_empty() {
                continue;
            }
            lists.push(ServerLists {
                server_port: o.server_port,
                old: catch_all_last(o.routes),
                new: Arc::new(catch_all_last(n.routes)),
            });
        }
        // Gateway virtual hosts are named `<first domain>:<server port>`;
        // with no wildcard host the first domain is one of the
        // VirtualService's hosts (GW-5).
        let mut ports: Vec<u16> = lists.iter().map(|l| l.server_port).collect();
        ports.sort_unstable();
        ports.dedup();
        let names = c.hosts.as_ref().map(|hosts| {
            hosts
                .iter()
                .flat_map(|h| ports.iter().map(move |p| format!("{h}:{p}")))
                .collect::<Vec<_>>()
        });
        for (rc_index, rc) in c.previous.routes.iter().enumerate() {
            for vh_index in candidates(&rc.virtual_hosts, names.as_deref()) {
                let vh = &rc.virtual_hosts[vh_index];
                let owned = vh.routes.iter().filter(|r| from(r, &c.path)).count();
                if owned == 0 {
                    continue;
                }
                if owned != vh.routes.len() {
                    return None;
                }
                // Every server whose old routes these are: a gateway's
                // routes are built once per route configuration, at the
                // first of its servers there (the name may carry another's
                // port), so any of them may be the source. They must agree.
                let mut next: Option<&Arc<Vec<Route>>> = None;
                for l in lists.iter().filter(|l| l.old == vh.routes) {
                    match next {
                        Some(n) if **n != *l.new => return None,
                        _ => next = Some(&l.new),
                    }
                }
                plan.splices.push(Splice {
                    route_configuration: rc_index,
                    virtual_host: vh_index,
                    routes: Arc::clone(next?),
                });
            }
        }
        Some(())
    }

    /// Finds the virtual hosts the changed VirtualService owns in a
    /// sidecar's `previous` resources and their new route lists.
    fn plan_sidecar(&self, c: &Change<'_>, plan: &mut Plan) -> Option<()> {
        // Both lists depend on the port only (the sidecar's namespace and
        // labels are fixed): build each once.
        let mut by_port: BTreeMap<u16, (Vec<Route>, Arc<Vec<Route>>)> = BTreeMap::new();
        for (rc_index, rc) in c.previous.routes.iter().enumerate() {
            // Sidecar route configurations are named `<port>` or
            // `<host>:<port>` (XDS-2).
            let port: u16 = rc.name.rsplit(':').next()?.parse().ok()?;
            let lists = match by_port.entry(port) {
                std::collections::btree_map::Entry::Occupied(e) => e.into_mut(),
                std::collections::btree_map::Entry::Vacant(e) => {
                    let build = |snapshot: &Snapshot| {
                        mesh_route::sidecar_virtual_service_routes(
                            snapshot,
                            self.routes.destination_rules(),
                            &c.proxy.namespace,
                            &c.proxy.labels,
                            c.vs,
                            port,
                        )
                        .map(rds::into_routes)
                    };
                    let (old, new) = (build(c.before)?, build(&self.snapshot)?);
                    // Whether it makes virtual hosts at all on this port
                    // changed: the hosts, their domains and the services
                    // left to default routes all move.
                    if old.is_empty() != new.is_empty() {
                        return None;
                    }
                    e.insert((old, Arc::new(new)))
                }
            };
            // Sidecar virtual hosts are `net.JoinHostPort(host, port)`.
            let names = c.hosts.as_ref().map(|hosts| {
                hosts
                    .iter()
                    .map(|h| {
                        if h.contains(':') {
                            format!("[{h}]:{port}")
                        } else {
                            format!("{h}:{port}")
                        }
                    })
                    .collect::<Vec<_>>()
            });
            for vh_index in candidates(&rc.virtual_hosts, names.as_deref()) {
                let vh = &rc.virtual_hosts[vh_index];
                // On a sidecar each virtual host holds one VirtualService's
                // routes.
                if !vh.routes.first().is_some_and(|r| from(r, &c.path)) {
                    continue;
                }
                // `previous` must be what this VirtualService compiled to.
                if vh.routes != lists.0 {
                    return None;
                }
                plan.splices.push(Splice {
                    route_configuration: rc_index,
                    virtual_host: vh_index,
                    routes: Arc::clone(&lists.1),
                });
            }
        }
        Some(())
    }
}

/// One changed VirtualService, and the proxy it is recompiled for.
struct Change<'a> {
    proxy: &'a Proxy,
    previous: &'a Resources,
    before: &'a Snapshot,
    /// `(namespace, name)`.
    vs: (&'a str, &'a str),
    /// Its routes' `metadata.istio.config`.
    path: String,
    /// The names its virtual hosts may take, as written and lowercased;
    /// `None` when a host is a wildcard (its virtual hosts are named after
    /// the services it matches).
    hosts: Option<Vec<String>>,
}

/// A gateway server's route lists of the changed VirtualService, as a
/// virtual host built from that server alone holds them.
struct ServerLists {
    server_port: u16,
    old: Vec<Route>,
    new: Arc<Vec<Route>>,
}

/// Whether two versions of a VirtualService differ at most in their HTTP
/// routes and `metadata.generation`. Every field is named, so one added to
/// the model is a compile error here rather than a change let through.
fn only_http_differs(old: &Config<VirtualService>, new: &Config<VirtualService>) -> bool {
    let Meta {
        key,
        labels,
        annotations,
        creation,
        generation: _,
        origin: _,
    } = &old.meta;
    let VirtualService {
        hosts,
        gateways,
        http: _,
        tls,
        tcp,
        export_to,
    } = &old.spec;
    let (m, v) = (&new.meta, &new.spec);
    *key == m.key
        && *labels == m.labels
        && *annotations == m.annotations
        && *creation == m.creation
        && *hosts == v.hosts
        && *gateways == v.gateways
        && *tls == v.tls
        && *tcp == v.tcp
        && *export_to == v.export_to
        && !old.spec.is_delegate()
}

/// The names the virtual hosts of a VirtualService with these hosts may
/// start with, as written and lowercased; `None` when one is a wildcard.
fn host_names(vs: &VirtualService) -> Option<Vec<String>> {
    if vs.hosts.iter().any(|h| h.is_wildcard()) {
        return None;
    }
    let mut n: Vec<String> = vs
        .hosts
        .iter()
        .flat_map(|h| [h.to_string(), h.as_str().to_ascii_lowercase()])
        .collect();
    n.sort();
    n.dedup();
    Some(n)
}

/// The positions of the virtual hosts named `names` in a route
/// configuration (every position when `names` is `None`). Virtual hosts
/// are sorted by name, but a sidecar's catch-all comes last (XDS-2).
fn candidates(vhosts: &[VirtualHost], names: Option<&[String]>) -> Vec<usize> {
    let Some(names) = names else {
        return (0..vhosts.len()).collect();
    };
    let sorted = match vhosts.last() {
        Some(v) if v.name == "allow_any" || v.name == "block_all" => &vhosts[..vhosts.len() - 1],
        _ => vhosts,
    };
    let mut out: Vec<usize> = names
        .iter()
        .filter_map(|n| sorted.binary_search_by(|v| v.name.as_str().cmp(n)).ok())
        .collect();
    out.sort_unstable();
    out.dedup();
    out
}

/// Translated routes with catch-all routes moved last, order otherwise kept
/// (`SortVHostRoutes`, HOST-8).
fn catch_all_last(mut routes: Vec<mesh_route::config::Route>) -> Vec<Route> {
    routes.sort_by_key(|r| r.matcher.is_catch_all());
    rds::into_routes(routes)
}

/// Whether a route comes from the VirtualService at `path`.
fn from(route: &Route, path: &str) -> bool {
    route
        .metadata
        .as_ref()
        .and_then(|m| m.filter_metadata.get("istio"))
        .and_then(|s| s.fields.get("config"))
        .and_then(|v| v.kind.as_ref())
        .is_some_and(|k| matches!(k, ValueKind::StringValue(s) if s == path))
}

/// Route lists to put in place of the ones `previous` has.
#[derive(Default)]
struct Plan {
    splices: Vec<Splice>,
}

/// One virtual host's new route list.
struct Splice {
    route_configuration: usize,
    virtual_host: usize,
    routes: Arc<Vec<Route>>,
}

impl Plan {
    fn apply(self, mut previous: Resources) -> Resources {
        for s in self.splices {
            // The last holder takes the list; the others copy it.
            previous.routes[s.route_configuration].virtual_hosts[s.virtual_host].routes =
                Arc::try_unwrap(s.routes).unwrap_or_else(|shared| (*shared).clone());
        }
        previous
    }
}
