//! What one sidecar sees: the Sidecar resource that applies to a workload
//! (SC-1) and the registry services visible to it (HOST-6 exportTo, SC-2
//! egress host imports).

use crate::config::Config;
use crate::host::Hostname;
use crate::labels::Labels;
use crate::networking::{EgressHost, Sidecar};
use crate::snapshot::{Service, Snapshot};
use std::sync::Arc;

/// The Sidecar that applies to a workload in `namespace` with `labels`
/// (SC-1): a matching selector Sidecar of its namespace (oldest first), else
/// its namespace's selector-less Sidecar, else the root namespace's
/// selector-less Sidecar.
///
/// ```
/// use mesh_model::{load, LoadOptions, scope::sidecar_for};
/// let yaml = "apiVersion: networking.istio.io/v1\nkind: Sidecar\nmetadata: {name: default, namespace: istio-system}\nspec:\n  egress:\n  - hosts: [\"./*\"]\n";
/// let s = load(&[("s.yaml", yaml)], &LoadOptions::default()).snapshot;
/// assert_eq!(sidecar_for(&s, "bookinfo", &Default::default()).unwrap().meta.name(), "default");
/// ```
pub fn sidecar_for<'s>(
    snapshot: &'s Snapshot,
    namespace: &str,
    labels: &Labels,
) -> Option<&'s Arc<Config<Sidecar>>> {
    let in_ns = || {
        snapshot
            .sidecars()
            .filter(move |s| s.meta.namespace() == namespace)
    };
    in_ns()
        .find(|s| {
            s.spec
                .workload_selector
                .as_ref()
                .is_some_and(|sel| sel.matches(labels))
        })
        .or_else(|| in_ns().find(|s| s.spec.workload_selector.is_none()))
        .or_else(|| {
            snapshot.sidecars().find(|s| {
                s.meta.namespace() == snapshot.root_namespace()
                    && s.spec.workload_selector.is_none()
            })
        })
}

/// Whether an egress host import admits a host defined in `namespace`
/// (SC-2): the import's namespace is `*`, the Sidecar's own (`.`, resolved
/// at conversion), or `namespace`; `~ns` excludes.
pub fn egress_admits(imports: &[EgressHost], namespace: &str, host: &Hostname) -> bool {
    let mut admitted = false;
    for i in imports {
        let ns_ok = i.namespace == "*" || i.namespace == namespace;
        let host_ok = i.host.as_str() == "*" || host.subset_of(&i.host) || i.host == *host;
        if i.exclude {
            if (i.namespace == namespace) && host_ok {
                return false;
            }
            continue;
        }
        if ns_ok && host_ok {
            admitted = true;
        }
    }
    admitted
}

/// The services a proxy in `namespace` sees: visible by exportTo (HOST-6),
/// and, when a Sidecar applies, imported by one of its egress listeners
/// (SC-2). One service per host (the proxy's own namespace's definition
/// first, else the oldest visible).
pub fn visible_services<'s>(
    snapshot: &'s Snapshot,
    namespace: &str,
    sidecar: Option<&Sidecar>,
) -> Vec<&'s Arc<Service>> {
    let imports: Option<Vec<EgressHost>> = sidecar.map(|s| {
        s.egress
            .iter()
            .flat_map(|e| e.hosts.iter().cloned())
            .collect()
    });
    snapshot
        .services_visible_to(namespace)
        .filter(|chosen| {
            imports
                .as_ref()
                .is_none_or(|imp| egress_admits(imp, &chosen.namespace, &chosen.hostname))
        })
        .collect()
}
