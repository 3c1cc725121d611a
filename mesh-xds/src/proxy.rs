//! The proxy a configuration is compiled for, as Istio identifies one from
//! its Envoy node (id and metadata).

use mesh_model::labels::Labels;
use std::net::IpAddr;

/// What kind of proxy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ProxyKind {
    /// A sidecar beside a workload (Istio's `sidecar` node type).
    Sidecar,
    /// A gateway (Istio's `router` node type).
    Router,
}

/// How traffic reaches the proxy (Istio's `INTERCEPTION_MODE`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Interception {
    /// iptables redirects the workload's traffic to `virtualOutbound`
    /// (15001) and `virtualInbound` (15006).
    #[default]
    Redirect,
    /// No capture: only listeners bound to explicit addresses (Sidecar
    /// `captureMode: NONE` egress and ingress listeners) carry traffic.
    None,
}

/// One proxy: its kind, identity and workload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Proxy {
    /// Sidecar or gateway.
    pub kind: ProxyKind,
    /// The Envoy node id (`sidecar~10.1.0.5~reviews-v1.bookinfo~bookinfo.svc.cluster.local`).
    pub id: String,
    /// The workload's namespace.
    pub namespace: String,
    /// The workload's name (Pod or Deployment), where known.
    pub workload: Option<String>,
    /// The workload's labels.
    pub labels: Labels,
    /// The workload's service account.
    pub service_account: String,
    /// The workload's IPs.
    pub ips: Vec<IpAddr>,
    /// How traffic reaches the proxy.
    pub interception: Interception,
}

/// Why a node does not describe a proxy.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NodeError {
    /// The node id is not `type~ip~name.namespace~domain`.
    #[error("node id {0:?} is not of the form type~ip~pod.namespace~namespace.svc.cluster.local")]
    BadId(String),
    /// The node type is neither `sidecar` nor `router`.
    #[error("node type {0:?} is neither sidecar nor router")]
    BadType(String),
}

impl Proxy {
    /// A sidecar for a workload.
    pub fn sidecar(namespace: &str, labels: Labels, service_account: &str) -> Proxy {
        Proxy::new(ProxyKind::Sidecar, namespace, labels, service_account)
    }

    /// A gateway proxy for a workload.
    pub fn router(namespace: &str, labels: Labels, service_account: &str) -> Proxy {
        Proxy::new(ProxyKind::Router, namespace, labels, service_account)
    }

    fn new(kind: ProxyKind, namespace: &str, labels: Labels, service_account: &str) -> Proxy {
        let mut p = Proxy {
            kind,
            id: String::new(),
            namespace: namespace.to_string(),
            workload: None,
            labels,
            service_account: service_account.to_string(),
            ips: Vec::new(),
            interception: Interception::Redirect,
        };
        p.id = p.node_id("cluster.local");
        p
    }

    /// Istio's node id for this proxy: `type~ip~name.namespace~namespace.svc.domain`.
    pub fn node_id(&self, domain: &str) -> String {
        let kind = match self.kind {
            ProxyKind::Sidecar => "sidecar",
            ProxyKind::Router => "router",
        };
        let ip = self
            .ips
            .first()
            .map_or_else(|| "0.0.0.0".to_string(), ToString::to_string);
        let name = self
            .workload
            .clone()
            .or_else(|| self.labels.get("app").cloned())
            .unwrap_or_else(|| "proxy".into());
        format!(
            "{kind}~{ip}~{name}.{ns}~{ns}.svc.{domain}",
            ns = self.namespace
        )
    }

    /// Parses an Istio node id; labels and the service account come from
    /// the node metadata (`LABELS`, `SERVICE_ACCOUNT`), which the caller
    /// fills in.
    pub fn from_node_id(id: &str) -> Result<Proxy, NodeError> {
        let parts: Vec<&str> = id.split('~').collect();
        let [kind, ip, name_ns, _domain] = parts.as_slice() else {
            return Err(NodeError::BadId(id.to_string()));
        };
        let kind = match *kind {
            "sidecar" => ProxyKind::Sidecar,
            "router" => ProxyKind::Router,
            other => return Err(NodeError::BadType(other.to_string())),
        };
        let (name, namespace) = name_ns
            .rsplit_once('.')
            .ok_or_else(|| NodeError::BadId(id.to_string()))?;
        Ok(Proxy {
            kind,
            id: id.to_string(),
            namespace: namespace.to_string(),
            workload: Some(name.to_string()),
            labels: Labels::new(),
            service_account: "default".into(),
            ips: ip.parse().into_iter().collect(),
            interception: Interception::Redirect,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn node_ids_round_trip() {
        let p =
            Proxy::from_node_id("sidecar~10.1.0.5~reviews-v1.bookinfo~bookinfo.svc.cluster.local")
                .unwrap();
        assert_eq!(p.kind, ProxyKind::Sidecar);
        assert_eq!(p.namespace, "bookinfo");
        assert_eq!(p.workload.as_deref(), Some("reviews-v1"));
        assert_eq!(p.node_id("cluster.local"), p.id);
        assert!(Proxy::from_node_id("nonsense").is_err());
        assert!(Proxy::from_node_id("ingress~1.2.3.4~a.b~b.svc.cluster.local").is_err());
    }
}
