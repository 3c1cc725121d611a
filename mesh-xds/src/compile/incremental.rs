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
use mesh_model::config::Config;
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
            match proxy.kind {
                // Not bound to `mesh`: no sidecar sees it (VS-4).
                ProxyKind::Sidecar if !new.spec.applies_to_mesh() => {}
                ProxyKind::Sidecar => self.plan_sidecar(proxy, previous, before, key, &mut plan)?,
                ProxyKind::Router => self.plan_gateway(proxy, previous, before, key, &mut plan)?,
            }
        }
        Some(plan)
    }

    /// Finds the virtual hosts VirtualService `key` owns in a gateway's
    /// `previous` resources and their new route lists. A gateway virtual
    /// host may join the routes of several VirtualServices, or of one
    /// through several servers (GWC `buildGatewayHTTPRouteConfig`): only
    /// those holding one server's routes of this VirtualService alone are
    /// rebuilt; meeting any other gives up.
    fn plan_gateway(
        &self,
        proxy: &Proxy,
        previous: &Resources,
        before: &Snapshot,
        key: &ResourceKey,
        plan: &mut Plan,
    ) -> Option<()> {
        let path = rds::config_path(&ConfigRef::new(&key.namespace, &key.name));
        let vs = (key.namespace.as_str(), key.name.as_str());
        let by_server = |snapshot: &Snapshot| {
            mesh_route::gateway_virtual_service_routes(
                snapshot,
                self.routes.destination_rules(),
                &proxy.namespace,
                &proxy.labels,
                vs,
            )
        };
        let (old, new) = (by_server(before)?, by_server(&self.snapshot)?);
        if old.len() != new.len() {
            return None;
        }
        // (server port, old routes, new routes), as a virtual host built
        // from that server alone holds them.
        let mut lists: Vec<(u16, Vec<Route>, Arc<Vec<Route>>)> = Vec::new();
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
            lists.push((
                o.server_port,
                catch_all_last(o.routes),
                Arc::new(catch_all_last(n.routes)),
            ));
        }
        // Gateway virtual hosts are named `<first domain>:<server port>`,
        // sorted by name; with no wildcard host the first domain is one of
        // the VirtualService's hosts (GW-5).
        let cfg = self.snapshot.virtual_service(&key.namespace, &key.name)?;
        let names: Option<Vec<String>> =
            (!cfg.spec.hosts.iter().any(|h| h.is_wildcard())).then(|| {
                let mut ports: Vec<u16> = lists.iter().map(|l| l.0).collect();
                ports.sort_unstable();
                ports.dedup();
                let mut n: Vec<String> = cfg
                    .spec
                    .hosts
                    .iter()
                    .flat_map(|h| {
                        let h = h.as_str().to_ascii_lowercase();
                        ports.iter().map(move |p| format!("{h}:{p}"))
                    })
                    .collect();
                n.sort();
                n.dedup();
                n
            });
        for (rc_index, rc) in previous.routes.iter().enumerate() {
            let found: Vec<usize> = match &names {
                None => (0..rc.virtual_hosts.len()).collect(),
                Some(names) => {
                    let mut f: Vec<usize> = names
                        .iter()
                        .filter_map(|n| {
                            rc.virtual_hosts
                                .binary_search_by(|v| v.name.as_str().cmp(n))
                                .ok()
                        })
                        .collect();
                    f.sort_unstable();
                    f.dedup();
                    f
                }
            };
            for vh_index in found {
                let vh = &rc.virtual_hosts[vh_index];
                let owned = vh.routes.iter().filter(|r| from(r, &path)).count();
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
                for (_, old_routes, new_routes) in &lists {
                    if *old_routes != vh.routes {
                        continue;
                    }
                    match next {
                        Some(n) if **n != **new_routes => return None,
                        _ => next = Some(new_routes),
                    }
                }
                plan.replace.push((rc_index, vh_index, Arc::clone(next?)));
            }
        }
        Some(())
    }

    /// Finds the virtual hosts VirtualService `key` owns in a sidecar's
    /// `previous` resources and their new route lists.
    fn plan_sidecar(
        &self,
        proxy: &Proxy,
        previous: &Resources,
        before: &Snapshot,
        key: &ResourceKey,
        plan: &mut Plan,
    ) -> Option<()> {
        let path = rds::config_path(&ConfigRef::new(&key.namespace, &key.name));
        // The virtual hosts a VirtualService makes are named after its hosts
        // (or, for a wildcard host, after the services it matches).
        let cfg = self.snapshot.virtual_service(&key.namespace, &key.name)?;
        let names: Option<Vec<String>> =
            (!cfg.spec.hosts.iter().any(|h| h.is_wildcard())).then(|| {
                let mut n: Vec<String> = cfg
                    .spec
                    .hosts
                    .iter()
                    .flat_map(|h| [h.to_string(), h.as_str().to_ascii_lowercase()])
                    .collect();
                n.sort();
                n.dedup();
                n
            });
        let vs = (key.namespace.as_str(), key.name.as_str());
        // Both lists depend on the port only (the sidecar's namespace and
        // labels are fixed): build each once.
        let mut by_port: BTreeMap<u16, (Vec<Route>, Arc<Vec<Route>>)> = BTreeMap::new();
        for (rc_index, rc) in previous.routes.iter().enumerate() {
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
                            &proxy.namespace,
                            &proxy.labels,
                            vs,
                            port,
                        )
                        .map(|routes| routes.iter().map(rds::route).collect::<Vec<Route>>())
                    };
                    let (old, new) = (build(before)?, build(&self.snapshot)?);
                    // Whether it makes virtual hosts at all on this port
                    // changed: the hosts, their domains and the services
                    // left to default routes all move.
                    if old.is_empty() != new.is_empty() {
                        return None;
                    }
                    e.insert((old, Arc::new(new)))
                }
            };
            for vh_index in candidates(&rc.virtual_hosts, names.as_deref(), port) {
                let vh = &rc.virtual_hosts[vh_index];
                if !owned_by(vh, &path) {
                    continue;
                }
                // `previous` must be what this VirtualService compiled to.
                if vh.routes != lists.0 {
                    return None;
                }
                plan.replace
                    .push((rc_index, vh_index, Arc::clone(&lists.1)));
            }
        }
        Some(())
    }
}

/// Whether two versions of a VirtualService differ at most in their HTTP
/// routes and `metadata.generation`.
fn only_http_differs(old: &Config<VirtualService>, new: &Config<VirtualService>) -> bool {
    let (a, b) = (&old.meta, &new.meta);
    let (x, y) = (&old.spec, &new.spec);
    a.key == b.key
        && a.labels == b.labels
        && a.annotations == b.annotations
        && a.creation == b.creation
        && x.hosts == y.hosts
        && x.gateways == y.gateways
        && x.tls == y.tls
        && x.tcp == y.tcp
        && x.export_to == y.export_to
        && !x.is_delegate()
}

/// The positions of the virtual hosts of a sidecar route configuration
/// that may belong to a VirtualService with hosts `hosts` (every position
/// when a host is a wildcard). Sidecar virtual hosts are `<host>:<port>`
/// (`net.JoinHostPort`) and sorted by name, the catch-all last (XDS-2).
fn candidates(vhosts: &[VirtualHost], hosts: Option<&[String]>, port: u16) -> Vec<usize> {
    let Some(hosts) = hosts else {
        return (0..vhosts.len()).collect();
    };
    let sorted = match vhosts.last() {
        Some(v) if v.name == "allow_any" || v.name == "block_all" => &vhosts[..vhosts.len() - 1],
        _ => vhosts,
    };
    let mut out: Vec<usize> = hosts
        .iter()
        .filter_map(|h| {
            let name = if h.contains(':') {
                format!("[{h}]:{port}")
            } else {
                format!("{h}:{port}")
            };
            sorted.binary_search_by(|v| v.name.as_str().cmp(&name)).ok()
        })
        .collect();
    out.sort_unstable();
    out.dedup();
    out
}

/// Translated routes with catch-all routes moved last, order otherwise kept
/// (`SortVHostRoutes`, HOST-8).
fn catch_all_last(mut routes: Vec<mesh_route::config::Route>) -> Vec<Route> {
    routes.sort_by_key(|r| r.matcher.is_catch_all());
    routes.iter().map(rds::route).collect()
}

/// Whether a virtual host's routes come from the VirtualService at `path`
/// (on a sidecar each virtual host holds one VirtualService's routes).
fn owned_by(vh: &VirtualHost, path: &str) -> bool {
    vh.routes.first().is_some_and(|r| from(r, path))
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

/// The route lists to put in place: (route configuration, virtual host,
/// routes).
#[derive(Default)]
struct Plan {
    replace: Vec<(usize, usize, Arc<Vec<Route>>)>,
}

impl Plan {
    fn apply(self, mut previous: Resources) -> Resources {
        for (rc, vh, routes) in self.replace {
            // The last holder takes the list; the others copy it.
            previous.routes[rc].virtual_hosts[vh].routes =
                Arc::try_unwrap(routes).unwrap_or_else(|shared| (*shared).clone());
        }
        previous
    }
}
