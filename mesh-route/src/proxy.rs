//! The proxy a route table is compiled for: a sidecar (the `mesh`
//! gateway) or a gateway workload.

use crate::config::ConfigRef;
use mesh_model::labels::Labels;
use mesh_model::snapshot::Snapshot;
use serde::Serialize;

/// Who the route table is for. Istio evaluates `sourceLabels`,
/// `sourceNamespace`, `gateways` and `port` match conditions when it
/// generates a proxy's configuration (VS-3), so they are properties of the
/// proxy, not of a request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase", tag = "kind")]
pub enum ProxyContext {
    /// A sidecar: outbound traffic of a workload, bound to the `mesh`
    /// gateway.
    Sidecar {
        /// The workload's namespace.
        namespace: String,
        /// The workload's labels.
        labels: Labels,
    },
    /// A gateway workload running one or more Gateways.
    Gateway {
        /// The gateway workload's namespace (VirtualService `exportTo` is
        /// checked against it, GW-4).
        namespace: String,
        /// The gateway workload's labels.
        labels: Labels,
        /// The Gateways it runs, `namespace/name`.
        gateways: Vec<ConfigRef>,
    },
}

impl ProxyContext {
    /// A sidecar in `namespace` with `labels`.
    pub fn sidecar(namespace: &str, labels: Labels) -> ProxyContext {
        ProxyContext::Sidecar {
            namespace: namespace.to_string(),
            labels,
        }
    }

    /// A gateway workload running the Gateway `namespace/name`, deployed in
    /// the Gateway's namespace.
    pub fn gateway(namespace: &str, name: &str) -> ProxyContext {
        ProxyContext::Gateway {
            namespace: namespace.to_string(),
            labels: Labels::new(),
            gateways: vec![ConfigRef::new(namespace, name)],
        }
    }

    /// A gateway workload in `namespace` with `labels`: it runs every
    /// Gateway whose selector its labels satisfy, in any namespace (GW-1).
    pub fn gateway_workload(snapshot: &Snapshot, namespace: &str, labels: Labels) -> ProxyContext {
        let gateways = snapshot
            .gateways()
            .filter(|g| g.spec.selector.matches(&labels))
            .map(|g| ConfigRef::new(g.meta.namespace(), g.meta.name()))
            .collect();
        ProxyContext::Gateway {
            namespace: namespace.to_string(),
            labels,
            gateways,
        }
    }

    /// The proxy's namespace.
    pub fn namespace(&self) -> &str {
        match self {
            ProxyContext::Sidecar { namespace, .. } | ProxyContext::Gateway { namespace, .. } => {
                namespace
            }
        }
    }

    /// The proxy's labels.
    pub fn labels(&self) -> &Labels {
        match self {
            ProxyContext::Sidecar { labels, .. } | ProxyContext::Gateway { labels, .. } => labels,
        }
    }

    /// Whether this is a sidecar.
    pub fn is_sidecar(&self) -> bool {
        matches!(self, ProxyContext::Sidecar { .. })
    }
}
