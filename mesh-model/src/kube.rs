//! The Kubernetes objects the mesh refers to, as domain values: namespaces,
//! services, workloads (pods and the pod templates of controllers).

use crate::config::Cx;
use crate::labels::Labels;
use crate::protocol::Protocol;
use crate::resource::{Body, KubeKind};
use crate::wire::{kube as wk, meta::ObjectMeta};
use serde::Serialize;
use std::collections::BTreeMap;
use std::net::IpAddr;

/// A Kubernetes object's domain value.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum KubeObject {
    /// A namespace (its labels are in the metadata).
    Namespace,
    /// A service.
    Service(Service),
    /// A workload: a Pod, or the pod template of a controller.
    Workload(Workload),
    /// A service account.
    ServiceAccount,
    /// A ConfigMap's data.
    ConfigMap(BTreeMap<String, String>),
    /// A Secret's type and key names.
    Secret {
        /// `type`.
        type_: Option<String>,
        /// The keys of `data`.
        keys: Vec<String>,
    },
}

/// A Kubernetes Service.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Service {
    /// `type` (ClusterIP unless set).
    pub type_: String,
    /// Ports.
    pub ports: Vec<ServicePort>,
    /// Pod selector; `None` for a service without selector.
    pub selector: Option<Labels>,
    /// `clusterIP`; `None` for headless or unset.
    pub cluster_ip: Option<IpAddr>,
    /// Whether `clusterIP: None`.
    pub headless: bool,
    /// `externalName`.
    pub external_name: Option<String>,
}

/// A Service port.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ServicePort {
    /// Name.
    pub name: Option<String>,
    /// The service port.
    pub port: u16,
    /// The workload port.
    pub target_port: TargetPort,
    /// Istio's protocol, from `appProtocol` or the name prefix.
    pub protocol: Protocol,
}

/// A service's target port.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(untagged)]
pub enum TargetPort {
    /// A number.
    Number(u16),
    /// A container port name.
    Name(String),
}

/// A workload: a Pod or a controller's pod template.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Workload {
    /// The kind it came from.
    pub kind: KubeKind,
    /// The pod labels.
    pub labels: Labels,
    /// The pod annotations.
    pub annotations: Labels,
    /// The service account (`default` when unset).
    pub service_account: String,
    /// Pod IPs (empty for templates and unscheduled pods).
    pub ips: Vec<IpAddr>,
    /// Container ports: name, number, protocol.
    pub container_ports: Vec<ContainerPort>,
    /// Whether an Istio sidecar is present (`Some(true)`), ruled out
    /// (`Some(false)`, `sidecar.istio.io/inject: "false"`), or unknown.
    pub sidecar: Option<bool>,
    /// Replicas of a controller.
    pub replicas: Option<i64>,
}

/// A container port.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ContainerPort {
    /// Name.
    pub name: Option<String>,
    /// Number.
    pub port: u16,
}

impl Workload {
    /// Resolves a service target port to a number for this workload.
    pub fn resolve_target_port(&self, t: &TargetPort) -> Option<u16> {
        match t {
            TargetPort::Number(n) => Some(*n),
            TargetPort::Name(name) => self
                .container_ports
                .iter()
                .find(|c| c.name.as_deref() == Some(name.as_str()))
                .map(|c| c.port),
        }
    }
}

fn pod_workload(
    kind: KubeKind,
    meta: &ObjectMeta,
    spec: &wk::PodSpec,
    status: Option<&wk::PodStatus>,
    replicas: Option<i64>,
) -> Workload {
    let labels = meta.labels().clone();
    let annotations = meta.annotations().clone();
    let has_proxy = spec
        .containers
        .iter()
        .chain(spec.init_containers.iter())
        .any(|c| c.name == "istio-proxy")
        || annotations.contains_key("sidecar.istio.io/status");
    let opted_out = annotations
        .get("sidecar.istio.io/inject")
        .map(String::as_str)
        == Some("false")
        || labels.get("sidecar.istio.io/inject").map(String::as_str) == Some("false");
    let sidecar = if has_proxy {
        Some(true)
    } else if opted_out {
        Some(false)
    } else {
        None
    };
    let mut ips: Vec<IpAddr> = Vec::new();
    if let Some(st) = status {
        for ip in st
            .pod_ips
            .iter()
            .map(|p| p.ip.as_str())
            .chain(st.pod_ip.as_deref())
        {
            if let Ok(a) = ip.parse::<IpAddr>()
                && !ips.contains(&a)
            {
                ips.push(a);
            }
        }
    }
    let container_ports = spec
        .containers
        .iter()
        .flat_map(|c| c.ports.iter())
        .filter_map(|p| {
            u16::try_from(p.container_port)
                .ok()
                .map(|port| ContainerPort {
                    name: p.name.clone(),
                    port,
                })
        })
        .collect();
    Workload {
        kind,
        labels,
        annotations,
        service_account: spec
            .service_account_name
            .clone()
            .or_else(|| spec.service_account.clone())
            .filter(|s| !s.is_empty())
            .unwrap_or_else(|| "default".into()),
        ips,
        container_ports,
        sidecar,
        replicas,
    }
}

impl KubeObject {
    pub(crate) fn convert(
        kind: KubeKind,
        body: &Body,
        meta: &ObjectMeta,
        cx: &mut Cx<'_>,
    ) -> KubeObject {
        match body {
            Body::Namespace => KubeObject::Namespace,
            Body::ServiceAccount => KubeObject::ServiceAccount,
            Body::ConfigMap(d) => KubeObject::ConfigMap(d.clone()),
            Body::Secret { type_, keys } => KubeObject::Secret {
                type_: type_.clone(),
                keys: keys.clone(),
            },
            Body::Pod { spec, status } => {
                KubeObject::Workload(pod_workload(kind, meta, spec, Some(status), None))
            }
            Body::Workload(spec) => {
                let mut m = spec.template.metadata.clone();
                if m.labels.is_none() {
                    m.labels = spec.selector.as_ref().and_then(|s| s.match_labels.clone());
                }
                KubeObject::Workload(pod_workload(
                    kind,
                    &m,
                    &spec.template.spec,
                    None,
                    spec.replicas,
                ))
            }
            Body::Service(s) => {
                let mut ports = Vec::new();
                cx.field("ports", |cx| {
                    for (i, p) in s.ports.iter().enumerate() {
                        cx.index(i, |cx| {
                            let Ok(port) = u16::try_from(p.port) else {
                                cx.error(
                                    "K8S-SERVICE-PORT",
                                    format!("port {} must be between 1-65535", p.port),
                                );
                                return;
                            };
                            if port == 0 {
                                cx.error("K8S-SERVICE-PORT", "port 0 is not valid");
                                return;
                            }
                            let target_port = match &p.target_port {
                                Some(wk::IntOrString::Int(n)) => match u16::try_from(*n) {
                                    Ok(n) if n != 0 => TargetPort::Number(n),
                                    _ => {
                                        cx.error(
                                            "K8S-SERVICE-PORT",
                                            format!("targetPort {n} must be between 1-65535"),
                                        );
                                        TargetPort::Number(port)
                                    }
                                },
                                Some(wk::IntOrString::String(s)) => match s.parse::<u16>() {
                                    Ok(n) => TargetPort::Number(n),
                                    Err(_) => TargetPort::Name(s.clone()),
                                },
                                None => TargetPort::Number(port),
                            };
                            ports.push(ServicePort {
                                name: p.name.clone(),
                                port,
                                target_port,
                                protocol: Protocol::from_port_name(
                                    p.app_protocol.as_deref(),
                                    p.name.as_deref(),
                                ),
                            });
                        });
                    }
                });
                let headless = s.cluster_ip.as_deref() == Some("None");
                KubeObject::Service(Service {
                    type_: s.type_.clone().unwrap_or_else(|| "ClusterIP".into()),
                    ports,
                    selector: s.selector.clone(),
                    cluster_ip: s.cluster_ip.as_deref().and_then(|ip| ip.parse().ok()),
                    headless,
                    external_name: s.external_name.clone(),
                })
            }
            Body::Istio { .. } => unreachable!("Istio bodies are converted elsewhere"),
        }
    }
}
