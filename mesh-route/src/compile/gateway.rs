//! A gateway's HTTP route configurations (GWC `buildGatewayHTTPRouteConfig`,
//! GWM `MergeGateways`; HOST-8, GW-2..GW-9).

use super::GatewayServerRoutes;
use super::translate::{RouteCx, build_http_routes, destination_hash};
use super::vs::{MergedVs, VsSet, for_gateway};
use crate::config::{
    ConfigRef, Route, RouteConfiguration, RouteScope, VirtualHost, VirtualHostKind,
};
use crate::destination_rule::DestinationRules;
use mesh_model::config::Config;
use mesh_model::host::{Hostname, PortDigits, concat};
use mesh_model::kube::TargetPort;
use mesh_model::labels::{Labels, Selector};
use mesh_model::networking::{Destination, Gateway, GatewayRef, HttpRetry, Server};
use mesh_model::protocol::Protocol;
use mesh_model::snapshot::{Service, Snapshot};
use mesh_model::wire::networking::ServerTlsMode;
use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::Arc;

/// One server of a Gateway the proxy runs.
#[derive(Debug, Clone)]
pub(crate) struct GwServer<'s> {
    pub gateway: ConfigRef,
    /// The same gateway as a route destination's `gateways` entry.
    pub gateway_ref: GatewayRef,
    /// The address of the Gateway in the snapshot: equal for two servers
    /// exactly when they are of the same Gateway, compared without
    /// comparing names.
    pub gateway_id: usize,
    pub server: &'s Server,
    pub server_port: u16,
    pub target_port: u16,
}

impl<'s> GwServer<'s> {
    fn new(gw: &Config<Gateway>, server: &'s Server, server_port: u16, target_port: u16) -> Self {
        GwServer {
            gateway: ConfigRef::new(gw.meta.namespace(), gw.meta.name()),
            gateway_ref: GatewayRef::Named {
                namespace: gw.meta.namespace().to_string(),
                name: gw.meta.name().to_string(),
            },
            gateway_id: std::ptr::from_ref(gw) as usize,
            server,
            server_port,
            target_port,
        }
    }

    pub(crate) fn protocol(&self) -> Protocol {
        self.server.port.protocol
    }

    pub(crate) fn is_passthrough(&self) -> bool {
        matches!(
            self.server.tls_mode(),
            Some(ServerTlsMode::Passthrough | ServerTlsMode::AutoPassthrough)
        )
    }

    /// GW-7: `AUTO_PASSTHROUGH`, SNI-DNAT to the cluster the SNI names.
    pub(crate) fn is_auto_passthrough(&self) -> bool {
        self.server.tls_mode() == Some(ServerTlsMode::AutoPassthrough)
    }

    /// `gateway.IsTLSServer`: TLS settings on a non-HTTP protocol.
    pub(crate) fn is_tls_server(&self) -> bool {
        self.server.tls.is_some() && !self.protocol().is_http()
    }

    /// `gateway.IsHTTPServer`: HTTP, or HTTPS terminating TLS.
    pub(crate) fn is_http_server(&self) -> bool {
        self.protocol().is_http() || (self.protocol() == Protocol::Https && !self.is_passthrough())
    }

    /// Whether the server has `tls.httpsRedirect` (GW-7).
    pub(crate) fn https_redirect(&self) -> bool {
        self.server
            .tls
            .as_ref()
            .is_some_and(|t| t.https_redirect == Some(true))
    }

    /// The server's hosts as written (`ns/host`, or `host` for any
    /// namespace).
    pub(crate) fn host_strings(&self) -> Vec<String> {
        self.server
            .hosts
            .iter()
            .map(|h| {
                if h.namespace == "*" {
                    h.host.to_string()
                } else {
                    format!("{}/{}", h.namespace, h.host)
                }
            })
            .collect()
    }

    /// The SNI names of the server (`GetSNIHostsForServer`).
    pub(crate) fn sni_hosts(&self) -> Vec<Hostname> {
        let set: BTreeSet<Hostname> = self.server.hosts.iter().map(|h| h.host.clone()).collect();
        set.into_iter().collect()
    }
}

/// GW-2: the pod port a server port listens on: the target port of the
/// gateway Service port with that number, else the number as written.
fn resolve_port(snapshot: &Snapshot, gw: &Config<Gateway>, number: u16) -> u16 {
    let sel = &gw.spec.selector;
    if sel.is_empty() {
        return number;
    }
    for s in snapshot.services() {
        let Some(sp) = s.port(number) else { continue };
        let Some(ep) = s.endpoints.iter().find(|e| sel.matches(&e.labels)) else {
            continue;
        };
        return match (&sp.target_port, ep.ports.get(&number)) {
            (_, Some(p)) => *p,
            (TargetPort::Number(n), None) => *n,
            (TargetPort::Name(_), None) => number,
        };
    }
    number
}

/// The servers of the proxy's Gateways, merged as `MergeGateways` does:
/// HTTP route names to their servers, and the servers routed as TCP/TLS.
#[derive(Debug)]
pub(crate) struct MergedServers<'s> {
    pub http: BTreeMap<String, (Arc<RouteScope>, Vec<GwServer<'s>>)>,
    pub l4: Vec<GwServer<'s>>,
}

/// `MergeGateways` (GW-6, GW-8).
pub(crate) fn merge_servers<'s>(
    snapshot: &'s Snapshot,
    gateways: &[ConfigRef],
) -> MergedServers<'s> {
    let mut out = MergedServers {
        http: BTreeMap::new(),
        l4: Vec::new(),
    };
    let mut ports: BTreeSet<u16> = BTreeSet::new();
    let mut plain: BTreeMap<u16, (Protocol, Option<String>)> = BTreeMap::new();
    let mut tls_hosts: BTreeMap<u16, BTreeMap<String, Option<String>>> = BTreeMap::new();
    let wanted: BTreeSet<(&str, &str)> = gateways
        .iter()
        .map(|r| (r.namespace.as_str(), r.name.as_str()))
        .collect();
    let gws: Vec<&Arc<Config<Gateway>>> = snapshot
        .gateways()
        .filter(|g| wanted.contains(&(g.meta.namespace(), g.meta.name())))
        .collect();
    // GW-2 depends on the selector and the number only; gateways of one
    // deployment share both.
    let mut ports_seen: BTreeMap<(&Selector, u16), u16> = BTreeMap::new();
    for gw in gws {
        let gref = ConfigRef::new(gw.meta.namespace(), gw.meta.name());
        for server in &gw.spec.servers {
            let Ok(server_port) = u16::try_from(server.port.number) else {
                continue;
            };
            let target_port = *ports_seen
                .entry((&gw.spec.selector, server_port))
                .or_insert_with(|| resolve_port(snapshot, gw, server_port));
            let s = GwServer::new(gw, server, server_port, target_port);
            let bind = server.bind.clone();
            let bind_suffix = bind.as_deref().map(|b| format!(".{b}")).unwrap_or_default();
            let proto = s.protocol();
            let route_name = if proto.is_http() {
                format!("http.{target_port}{bind_suffix}")
            } else if proto == Protocol::Https && !s.is_passthrough() {
                format!(
                    "https.{server_port}.{}.{}.{}{bind_suffix}",
                    server.port.name, gref.name, gref.namespace
                )
            } else {
                String::new()
            };
            if server.tls.is_some() {
                let known = tls_hosts.entry(target_port).or_default();
                let hosts = s.host_strings();
                if hosts.iter().any(|h| known.get(h) == Some(&bind)) {
                    continue;
                }
                for h in hosts {
                    known.insert(h, bind.clone());
                }
            }
            let scope = Arc::new(if proto.is_http() {
                RouteScope::GatewayHttp {
                    server_port,
                    target_port,
                    bind: bind.clone(),
                }
            } else {
                RouteScope::GatewayHttps {
                    server_port,
                    target_port,
                    port_name: server.port.name.clone(),
                    gateway: gref.clone(),
                    sni_hosts: s.sni_hosts(),
                    bind: bind.clone(),
                }
            });
            let add_http = |out: &mut MergedServers<'s>, s: GwServer<'s>| {
                out.http
                    .entry(route_name.clone())
                    .or_insert_with(|| (scope.clone(), Vec::new()))
                    .1
                    .push(s);
            };
            if ports.contains(&target_port) {
                if let Some((cur, cur_bind)) = plain.get(&target_port).cloned() {
                    let mergeable = (cur.is_http() || cur == proto) && proto.is_http();
                    if !mergeable && cur_bind == bind {
                        continue;
                    }
                    if route_name.is_empty() && cur_bind == bind {
                        continue;
                    }
                    if s.is_http_server() {
                        add_http(&mut out, s);
                    } else {
                        out.l4.push(s);
                    }
                } else {
                    if !s.is_tls_server() {
                        plain.insert(target_port, (proto, bind.clone()));
                        if s.is_http_server() {
                            add_http(&mut out, s);
                        } else {
                            out.l4.push(s);
                        }
                        continue;
                    }
                    if s.is_http_server() {
                        if route_name.is_empty() || out.http.contains_key(&route_name) {
                            continue;
                        }
                        add_http(&mut out, s);
                    } else {
                        out.l4.push(s);
                    }
                }
            } else {
                ports.insert(target_port);
                if !s.is_tls_server() {
                    plain.insert(target_port, (proto, bind.clone()));
                }
                if s.is_http_server() {
                    add_http(&mut out, s);
                } else {
                    out.l4.push(s);
                }
            }
        }
    }
    out
}

/// GW-5: `Names.Intersection` of server hosts and VirtualService hosts.
fn intersection<'h>(
    server: impl IntoIterator<Item = &'h Hostname>,
    vs: &'h [Hostname],
) -> Vec<&'h Hostname> {
    let mut out: Vec<&Hostname> = Vec::new();
    for h in server {
        for v in vs {
            let Some(pick) = h.intersection(v) else {
                continue;
            };
            if !out.contains(&pick) {
                out.push(pick);
            }
        }
    }
    out
}

/// A server's hosts that VirtualServices in `namespace` may bind to
/// (`ns/host` or `*/host`, GW-4).
fn server_hosts<'s>(server: &'s Server, namespace: &'s str) -> impl Iterator<Item = &'s Hostname> {
    server
        .hosts
        .iter()
        .filter(move |h| h.namespace == "*" || h.namespace == namespace)
        .map(|h| &h.host)
}

/// The gateway route builder's context.
pub(crate) struct GatewayCx<'a> {
    pub snapshot: &'a Snapshot,
    pub drs: &'a DestinationRules,
    pub namespace: &'a str,
    pub labels: &'a Labels,
    pub default_retry: Option<&'a HttpRetry>,
}

/// The last host whose service was looked up, and the service.
type LastService<'s> = (Hostname, Option<&'s Arc<Service>>);

/// The routes of VirtualService `v` through a server of `gateway` on
/// `port` (`BuildHTTPRoutesForVirtualService` on a gateway): what the
/// virtual hosts of its hosts there hold, before catch-all routes are
/// moved last (HOST-8).
pub(crate) fn vs_routes(
    cx: &GatewayCx<'_>,
    v: &MergedVs,
    gateway: &GatewayRef,
    port: u16,
    is_tls: bool,
) -> Vec<Route> {
    let vs_ns = v.namespace();
    // The routes of one VirtualService mostly name one host, and each
    // destination asks for its service twice (port and hash policy).
    let last: RefCell<Option<LastService<'_>>> = RefCell::new(None);
    let service = |h: &Hostname| {
        if let Some((k, found)) = &*last.borrow()
            && k == h
        {
            return *found;
        }
        // `buildNameToServiceMapForHTTPRoutes`.
        let found = cx.snapshot.service_for_config(h, vs_ns, cx.namespace);
        *last.borrow_mut() = Some((h.clone(), found));
        found
    };
    let single = |h: &Hostname| {
        service(h)
            .filter(|s| s.ports.len() == 1)
            .map(|s| s.ports[0].number)
    };
    let hash = |d: &Destination| {
        let svc = service(&d.host).map(|s| &**s);
        destination_hash(cx.drs, cx.namespace, cx.labels, svc, d)
    };
    let rcx = RouteCx {
        labels: cx.labels,
        namespace: cx.namespace,
        gateway,
        port,
        is_tls,
        default_retry: cx.default_retry,
        single_port: &single,
        hash: &hash,
    };
    build_http_routes(v, &rcx)
}

/// Where a VirtualService's HTTP routes reach a gateway workload: each
/// server of a Gateway the workload runs and the VirtualService is bound
/// to, sharing a host with it (GW-5), with the routes built there.
/// Servers that `MergeGateways` drops are included: a superset.
pub(crate) fn vs_routes_by_server(cx: &GatewayCx<'_>, v: &MergedVs) -> Vec<GatewayServerRoutes> {
    let mut out = Vec::new();
    // GW-4: a VirtualService not exported to the workload's namespace is
    // not used there.
    if !v.export.contains("*") && !v.export.contains(cx.namespace) {
        return out;
    }
    let mut seen: BTreeSet<&GatewayRef> = BTreeSet::new();
    for g in &v.vs().gateways {
        let GatewayRef::Named { namespace, name } = g else {
            continue;
        };
        if !seen.insert(g) {
            continue;
        }
        let Some(gw) = cx.snapshot.gateway(namespace, name) else {
            continue;
        };
        if !gw.spec.selector.matches(cx.labels) {
            continue;
        }
        for server in &gw.spec.servers {
            let Ok(port) = u16::try_from(server.port.number) else {
                continue;
            };
            let s = GwServer::new(gw, server, port, port);
            if !s.is_http_server() {
                continue;
            }
            if intersection(server_hosts(server, v.namespace()), &v.vs().hosts).is_empty() {
                continue;
            }
            let tls = server.tls.is_some();
            out.push(GatewayServerRoutes {
                routes: vs_routes(cx, v, g, port, tls),
                gateway: s.gateway,
                server_port: port,
                tls,
            });
        }
    }
    out
}

/// A hasher for keys made of addresses and counts, which no one outside
/// chooses (so need no defence against chosen collisions): one rotate,
/// xor and multiply per word, the FxHash scheme.
#[derive(Default, Clone, Copy)]
struct WordHasher(u64);

impl WordHasher {
    fn add(&mut self, word: u64) {
        self.0 = (self.0.rotate_left(5) ^ word).wrapping_mul(0x517c_c1b7_2722_0a95);
    }
}

impl Hasher for WordHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for chunk in bytes.chunks(8) {
            let mut word = [0u8; 8];
            word[..chunk.len()].copy_from_slice(chunk);
            self.add(u64::from_le_bytes(word));
        }
    }

    fn write_u8(&mut self, n: u8) {
        self.add(u64::from(n));
    }

    fn write_usize(&mut self, n: usize) {
        self.add(n as u64);
    }
}

/// A hash map keyed by addresses and counts ([`WordHasher`]).
type WordMap<K, V> = HashMap<K, V, BuildHasherDefault<WordHasher>>;

/// One (gateway, VirtualService) route list, by the addresses of the
/// Gateway and of the merged VirtualService (each has one `Arc` in the
/// snapshot, so equal addresses are equal keys): compared without
/// comparing either name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct Source {
    gateway: usize,
    virtual_service: usize,
}

/// One host name's share of a virtual host, in the order found: the
/// route list of one (gateway, VirtualService), or none for a host that
/// is only redirected to HTTPS.
#[derive(Default)]
struct Entry {
    host: String,
    port: u16,
    routes: Option<(Source, Arc<Vec<Route>>)>,
    require_tls: bool,
}

/// A virtual host being assembled, one per host name: its route lists
/// stay shared (one per gateway and VirtualService) until the duplicates
/// are collapsed.
struct Building {
    /// The port of the server that created it (its name's suffix).
    port: u16,
    host: String,
    require_tls: bool,
    /// Its (gateway, VirtualService) route lists: a range of the route
    /// configuration's `sources` and `lists`, which hold each host's side
    /// by side.
    lists: std::ops::Range<usize>,
}

/// The first 16 bytes of `s` as a big-endian number, zero-padded: when
/// the keys of two strings differ, they order the strings as the strings
/// order themselves (a zero pad sorts first, as a shorter prefix does), so
/// the strings need comparing only when the keys are equal.
fn prefix_key(s: &str) -> u128 {
    let mut b = [0u8; 16];
    let n = s.len().min(16);
    b[..n].copy_from_slice(&s.as_bytes()[..n]);
    u128::from_be_bytes(b)
}

/// `buildGatewayHTTPRouteConfig` for one route name.
/// `vss`: the snapshot's VirtualServices.
pub(crate) fn route_configuration(
    cx: &GatewayCx<'_>,
    vss: &VsSet,
    name: &str,
    scope: &Arc<RouteScope>,
    servers: &[GwServer<'_>],
) -> RouteConfiguration {
    // Every (host, route list) pair in the order Istio meets them; sorted
    // by host below (stably, so each host keeps that order), which is
    // Istio's map of virtual hosts by host name built in one pass.
    let mut entries: Vec<Entry> =
        Vec::with_capacity(servers.iter().map(|s| s.server.hosts.len()).sum());
    // Each (gateway, VirtualService) route list is built once (Istio's
    // `gatewayRoutes`). It is asked for again only when two servers come
    // from one Gateway, so only then is it kept in a map.
    let shared = servers.len() > 1 && {
        let mut ids: Vec<usize> = servers.iter().map(|s| s.gateway_id).collect();
        ids.sort_unstable();
        ids.windows(2).any(|w| w[0] == w[1])
    };
    let mut cache: WordMap<Source, Arc<Vec<Route>>> = WordMap::default();
    for s in servers {
        let port = s.server_port;
        let redirect = s.https_redirect();
        for v in for_gateway(vss, cx.namespace, &s.gateway_ref) {
            let hosts = intersection(server_hosts(s.server, v.namespace()), &v.vs().hosts);
            if hosts.is_empty() {
                continue;
            }
            let key = Source {
                gateway: s.gateway_id,
                virtual_service: Arc::as_ptr(&v.key) as usize,
            };
            let build = || {
                Arc::new(vs_routes(
                    cx,
                    v,
                    &s.gateway_ref,
                    port,
                    s.server.tls.is_some(),
                ))
            };
            let routes = if shared {
                cache.entry(key).or_insert_with(build).clone()
            } else {
                build()
            };
            if routes.is_empty() {
                continue;
            }
            // Host names are lower case already (`Hostname::new`).
            entries.extend(hosts.into_iter().map(|h| Entry {
                host: h.as_str().to_owned(),
                port,
                routes: Some((key, routes.clone())),
                require_tls: redirect,
            }));
        }
        if redirect {
            entries.extend(s.host_strings().into_iter().map(|h| Entry {
                host: h.to_ascii_lowercase(),
                port,
                routes: None,
                require_tls: true,
            }));
        }
    }
    // The cache's references go first, so that a route list used by one
    // virtual host only is moved into it rather than copied.
    drop(cache);
    // Sorted through their positions, which are small to move, with the
    // position as the tie-break that keeps the sort stable; each host's
    // first 16 bytes are compared as one number before the whole host:
    // first by (key, position), two numbers compared without a closure,
    // then each run of equal keys, if any, by its hosts.
    let mut order: Vec<(u128, usize)> = entries
        .iter()
        .enumerate()
        .map(|(i, e)| (prefix_key(&e.host), i))
        .collect();
    order.sort_unstable();
    for run in order.chunk_by_mut(|a, b| a.0 == b.0) {
        if run.len() > 1 {
            run.sort_unstable_by(|&(_, a), &(_, b)| {
                entries[a].host.cmp(&entries[b].host).then(a.cmp(&b))
            });
        }
    }
    // One virtual host per host name. Each one's (gateway, VirtualService)
    // route lists are side by side in `sources` and `lists`, in the order
    // found, as a host's entries are side by side once sorted.
    let mut dedup: Vec<Building> = Vec::new();
    let mut sources: Vec<Source> = Vec::with_capacity(entries.len());
    let mut lists: Vec<Option<Arc<Vec<Route>>>> = Vec::with_capacity(entries.len());
    for (_, i) in order {
        let e = std::mem::take(&mut entries[i]);
        let same = dedup.last().is_some_and(|b| b.host == e.host);
        if !same {
            dedup.push(Building {
                port: e.port,
                host: e.host,
                require_tls: false,
                lists: sources.len()..sources.len(),
            });
        }
        if let Some(b) = dedup.last_mut() {
            b.require_tls |= e.require_tls;
            if let Some((key, list)) = e.routes {
                sources.push(key);
                lists.push(Some(list));
                b.lists.end += 1;
            }
        }
    }
    let mut vhosts: Vec<VirtualHost> = Vec::new();
    if dedup.is_empty() {
        let port = servers.first().map(|s| s.server_port).unwrap_or(0);
        vhosts.push(VirtualHost {
            name: format!("blackhole:{port}"),
            domains: vec!["*".into()],
            routes: Vec::new(),
            require_tls: false,
            kind: VirtualHostKind::Blackhole,
        });
    } else {
        // `collapseDuplicateRoutes`: host names with identical route lists
        // share the alphabetically first one's virtual host, whose domains
        // they join.
        let mut kept: Vec<(Building, Vec<String>)> = Vec::with_capacity(dedup.len());
        let mut by_sources: WordMap<(&[Source], bool), usize> =
            WordMap::with_capacity_and_hasher(dedup.len(), Default::default());
        for b in dedup {
            let key = &sources[b.lists.clone()];
            if !key.is_empty() {
                match by_sources.entry((key, b.require_tls)) {
                    std::collections::hash_map::Entry::Occupied(k) => {
                        // Its route lists are the kept host's: only that
                        // one's references stay.
                        lists[b.lists].fill(None);
                        kept[*k.get()].1.push(b.host);
                        continue;
                    }
                    std::collections::hash_map::Entry::Vacant(slot) => {
                        slot.insert(kept.len());
                    }
                }
            }
            kept.push((b, Vec::new()));
        }
        drop(by_sources);
        vhosts.reserve(kept.len());
        for (b, more) in kept {
            let mine = &mut lists[b.lists];
            let mut routes: Vec<Route> = Vec::new();
            for list in mine.iter_mut().filter_map(Option::take) {
                match Arc::try_unwrap(list) {
                    // The first list, when no other host holds it, is
                    // taken as it is.
                    Ok(own) if routes.is_empty() => routes = own,
                    Ok(own) => routes.extend(own),
                    Err(shared) => routes.extend(shared.iter().cloned()),
                }
            }
            // `SortVHostRoutes`: catch-all routes last, order kept (HOST-8);
            // the sort is stable.
            routes.sort_by_key(|r| r.matcher.is_catch_all());
            let port = PortDigits::new(b.port);
            let mut domains = Vec::with_capacity(1 + more.len());
            domains.push(b.host);
            domains.extend(more);
            vhosts.push(VirtualHost {
                name: concat(&[&domains[0], ":", port.as_str()]),
                domains,
                routes,
                require_tls: b.require_tls,
                kind: VirtualHostKind::GatewayHost,
            });
        }
        vhosts.sort_by(|a, b| a.name.cmp(&b.name));
    }
    RouteConfiguration {
        name: name.to_string(),
        virtual_hosts: vhosts,
        ignore_port_in_host_matching: true,
        scope: scope.clone(),
        rejected: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Keys that differ order their strings as the strings order
    /// themselves; equal keys leave it to the strings.
    #[test]
    fn prefix_keys_keep_string_order() {
        let words = [
            "",
            "a",
            "a\0",
            "a\0b",
            "ab",
            "abc",
            "b",
            "random-a-1.host.example",
            "random-a-10.host.example",
            "random-a-1.host.exampl",
            "random-a-1.host.example.",
            "\u{ff}",
            "é",
            "0123456789abcdef",
            "0123456789abcdeg",
            "0123456789abcdef0",
        ];
        for a in words {
            for b in words {
                let (ka, kb) = (prefix_key(a), prefix_key(b));
                if ka != kb {
                    assert_eq!(ka.cmp(&kb), a.cmp(b), "{a:?} {b:?}");
                }
            }
        }
    }

    /// GW-5: intersections.
    #[test]
    fn host_intersection() {
        let h = |v: &[&str]| v.iter().map(|s| Hostname::new(s)).collect::<Vec<_>>();
        let intersection = |a: &[Hostname], b: &[Hostname]| -> Vec<Hostname> {
            intersection(a, b).into_iter().cloned().collect()
        };
        assert_eq!(
            intersection(&h(&["*.foo.com"]), &h(&["a.foo.com", "b.bar.com"])),
            h(&["a.foo.com"])
        );
        assert_eq!(
            intersection(&h(&["a.foo.com"]), &h(&["*.foo.com"])),
            h(&["a.foo.com"])
        );
        assert_eq!(intersection(&h(&["*"]), &h(&["x.com"])), h(&["x.com"]));
        assert!(intersection(&h(&["a.com"]), &h(&["b.com"])).is_empty());
    }
}
