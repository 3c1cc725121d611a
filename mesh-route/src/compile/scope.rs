//! What a sidecar sees (SCOPE): its Sidecar resource (SC-1), the egress
//! listeners' imported services and VirtualServices (SC-2, HOST-6,
//! HOST-7), and the most specific VirtualService of each service.

use super::vs::MergedVs;
use crate::config::ConfigRef;
use mesh_model::host::Hostname;
use mesh_model::labels::Labels;
use mesh_model::networking::GatewayRef;
use mesh_model::protocol::Protocol;
use mesh_model::snapshot::{Service, ServiceOrigin, Snapshot};
use std::cmp::Ordering;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

pub(crate) use mesh_model::scope::sidecar_for;

/// The imported hosts of one namespace key of an egress listener.
#[derive(Debug, Default, Clone)]
struct HostClass {
    exact: BTreeSet<Hostname>,
    all: Vec<Hostname>,
    excluded: Vec<Hostname>,
}

impl HostClass {
    fn excluded(&self, h: &Hostname) -> bool {
        self.excluded.iter().any(|e| h.subset_of(e))
    }

    /// `hostClassification.Matches` (services).
    fn matches(&self, h: &Hostname) -> bool {
        if self.exact.contains(h) {
            return true;
        }
        self.all
            .iter()
            .any(|i| (h.is_wildcard() || i.is_wildcard()) && h.subset_of(i))
    }

    /// `hostClassification.VSMatches` (VirtualServices: a two-way overlap).
    fn vs_matches(&self, h: &Hostname) -> bool {
        if self.exact.contains(h) {
            return true;
        }
        self.all
            .iter()
            .any(|i| (h.is_wildcard() || i.is_wildcard()) && h.matches(i))
    }
}

/// One egress listener of a sidecar, resolved.
#[derive(Debug, Clone)]
pub(crate) struct EgressScope<'v> {
    /// The listener's port and protocol; `None` for the catch-all.
    pub port: Option<(u16, Protocol)>,
    /// Imported services (one per host name), each trimmed to the
    /// listener's port when it has one.
    pub services: Vec<Arc<Service>>,
    /// Imported VirtualServices, in HOST-7 order.
    pub vss: Vec<&'v MergedVs>,
    /// Service host → the VirtualService whose host matches it most
    /// specifically (`computeWildcardHostVirtualServiceIndex`).
    pub vs_of_service: BTreeMap<Hostname, Arc<ConfigRef>>,
}

/// An egress listener as written: its port and `(namespace, excluded, host)` imports.
type Listener = (Option<(u16, Protocol)>, Vec<(String, bool, Hostname)>);

/// Every egress listener of the sidecar in `namespace` with `labels`.
pub(crate) fn egress_scopes<'v>(
    snapshot: &Snapshot,
    vss: &'v super::vs::VsSet,
    namespace: &str,
    labels: &Labels,
) -> Vec<EgressScope<'v>> {
    let sidecar = sidecar_for(snapshot, namespace, labels);
    let listeners: Vec<Listener> = match sidecar {
        Some(sc) if !sc.spec.egress.is_empty() => sc
            .spec
            .egress
            .iter()
            .map(|e| {
                let port = e.port.as_ref().and_then(|p| {
                    let n = u16::try_from(p.number.unwrap_or(0))
                        .ok()
                        .filter(|n| *n != 0)?;
                    Some((n, Protocol::parse(p.protocol.as_deref().unwrap_or(""))))
                });
                let hosts = e
                    .hosts
                    .iter()
                    .map(|h| (h.namespace.clone(), h.exclude, h.host.clone()))
                    .collect();
                (port, hosts)
            })
            .collect(),
        _ => vec![(None, vec![("*".into(), false, Hostname::new("*"))])],
    };
    let mesh = GatewayRef::Mesh;
    let candidates = super::vs::for_gateway(vss, namespace, &mesh);
    let visible: Vec<&Arc<Service>> = visible_services(snapshot, namespace);
    listeners
        .into_iter()
        .map(|(port, hosts)| {
            let mut by_ns: BTreeMap<String, HostClass> = BTreeMap::new();
            for (ns, exclude, h) in hosts {
                let hc = by_ns.entry(ns).or_default();
                if exclude {
                    hc.excluded.push(h);
                    continue;
                }
                if !h.is_wildcard() {
                    hc.exact.insert(h.clone());
                }
                hc.all.push(h);
            }
            let services = select_services(&visible, namespace, &by_ns, port);
            let vss_sel = select_virtual_services(&candidates, &by_ns);
            let vs_of_service = wildcard_index(&vss_sel, &services);
            EgressScope {
                port,
                services,
                vss: vss_sel,
                vs_of_service,
            }
        })
        .collect()
}

/// Services visible to `namespace` (HOST-6).
pub(crate) fn visible_services<'s>(
    snapshot: &'s Snapshot,
    namespace: &str,
) -> Vec<&'s Arc<Service>> {
    let defaults = &snapshot.mesh().default_service_export_to;
    snapshot
        .services()
        .filter(|s| s.export_to.visible_to(namespace, &s.namespace, defaults))
        .collect()
}

/// `selectServices`: the services an egress listener imports, one per
/// host name (the proxy's own namespace first, then Kubernetes services
/// over ServiceEntries).
fn select_services(
    visible: &[&Arc<Service>],
    namespace: &str,
    by_ns: &BTreeMap<String, HostClass>,
    port: Option<(u16, Protocol)>,
) -> Vec<Arc<Service>> {
    let wild = by_ns.get("*");
    let mut imported: Vec<Arc<Service>> = Vec::new();
    for s in visible {
        let ns_hosts = by_ns.get(&s.namespace);
        if ns_hosts.is_some_and(|h| h.excluded(&s.hostname))
            || wild.is_some_and(|h| h.excluded(&s.hostname))
        {
            continue;
        }
        let hit = ns_hosts.is_some_and(|h| h.matches(&s.hostname))
            || wild.is_some_and(|h| h.matches(&s.hostname));
        if !hit {
            continue;
        }
        match port {
            None => imported.push((*s).clone()),
            Some((p, _)) => {
                if let Some(sp) = s.port(p) {
                    if s.ports.len() == 1 {
                        imported.push((*s).clone());
                    } else {
                        let mut t: Service = (***s).clone();
                        t.ports = vec![sp.clone()];
                        imported.push(Arc::new(t));
                    }
                }
            }
        }
    }
    // One namespace per host name.
    let mut chosen: BTreeMap<Hostname, (String, bool)> = BTreeMap::new();
    for s in &imported {
        let kube = s.origin == ServiceOrigin::Kubernetes;
        match chosen.get(&s.hostname) {
            None => {
                chosen.insert(s.hostname.clone(), (s.namespace.clone(), kube));
            }
            Some((ens, ekube)) => {
                if s.namespace == namespace || (!ekube && kube && ens != namespace) {
                    chosen.insert(s.hostname.clone(), (s.namespace.clone(), kube));
                }
            }
        }
    }
    imported
        .into_iter()
        .filter(|s| {
            chosen
                .get(&s.hostname)
                .is_some_and(|(n, _)| *n == s.namespace)
        })
        .collect()
}

/// `SelectVirtualServices`: the VirtualServices an egress listener imports
/// by host, in the given (HOST-7) order.
fn select_virtual_services<'v>(
    candidates: &[&'v MergedVs],
    by_ns: &BTreeMap<String, HostClass>,
) -> Vec<&'v MergedVs> {
    let wild = by_ns.get("*");
    let mut out: Vec<&MergedVs> = Vec::new();
    let mut seen: BTreeSet<*const MergedVs> = BTreeSet::new();
    for v in candidates {
        let ns = v.namespace();
        let ns_hosts = by_ns.get(ns);
        let excluded = |h: &Hostname| {
            ns_hosts.is_some_and(|c| c.excluded(h)) || wild.is_some_and(|c| c.excluded(h))
        };
        for hc in [ns_hosts, wild].into_iter().flatten() {
            if seen.contains(&(*v as *const MergedVs)) {
                break;
            }
            if v.vs()
                .hosts
                .iter()
                .any(|h| hc.vs_matches(h) && !excluded(h))
            {
                seen.insert(*v as *const MergedVs);
                out.push(*v);
            }
        }
    }
    out
}

/// `computeWildcardHostVirtualServiceIndex`: for each service, the
/// VirtualService (first in order) with the most specific host matching
/// it (HOST-5, HOST-7).
fn wildcard_index(
    vss: &[&MergedVs],
    services: &[Arc<Service>],
) -> BTreeMap<Hostname, Arc<ConfigRef>> {
    let mut exact: BTreeMap<&Hostname, &Arc<ConfigRef>> = BTreeMap::new();
    let mut wild: BTreeMap<&Hostname, &Arc<ConfigRef>> = BTreeMap::new();
    for v in vss {
        for h in &v.vs().hosts {
            let m = if h.is_wildcard() {
                &mut wild
            } else {
                &mut exact
            };
            m.entry(h).or_insert(&v.key);
        }
    }
    let mut out = BTreeMap::new();
    for s in services {
        let h = &s.hostname;
        if let Some(k) = exact.get(h) {
            out.insert(h.clone(), (*k).clone());
            continue;
        }
        let needle = h.as_str().trim_start_matches('*');
        let mut best: Option<(&Hostname, &Arc<ConfigRef>)> = None;
        for (w, k) in &wild {
            if needle.ends_with(&w.as_str()[1..]) {
                best = match best {
                    Some((b, bk)) if b.specificity_cmp(w) != Ordering::Greater => Some((b, bk)),
                    _ => Some((w, k)),
                };
            }
        }
        if let Some((_, k)) = best {
            out.insert(h.clone(), k.clone());
        }
    }
    out
}
