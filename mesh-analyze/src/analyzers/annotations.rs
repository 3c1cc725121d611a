//! The annotation analyzers: unknown, misplaced, deprecated, invalid and
//! alpha-phase Istio annotations on Namespaces, Services, Pods and
//! Deployments.
//!
//! The table of annotations (name, the kinds it applies to, its feature
//! status, whether it is deprecated) follows Istio's published annotation
//! reference (`istio/api` `annotation/annotations.yaml`).

use super::{Analyzer, Cx};
use crate::input::{Entry, GroupKind, kinds};
use crate::message::types;
use mesh_model::diag::FieldPath;

/// `annotations.K8sAnalyzer`.
pub const K8S: Analyzer = Analyzer {
    name: "annotations.K8sAnalyzer",
    description: "Checks for misplaced and invalid Istio annotations in Kubernetes resources",
    default: true,
    run: k8s,
};

/// `annotations.AlphaAnalyzer` (not in the default set, as in Istio: many
/// alpha annotations are set by default).
pub const ALPHA: Analyzer = Analyzer {
    name: "annotations.AlphaAnalyzer",
    description: "Checks for alpha Istio annotations in Kubernetes resources",
    default: false,
    run: alpha,
};

/// A feature's maturity.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Status {
    Alpha,
    Beta,
    Stable,
}

/// One Istio annotation.
struct A {
    name: &'static str,
    /// The kinds it applies to (`Any`: every kind).
    resources: &'static [&'static str],
    status: Status,
    deprecated: bool,
}

const ANNOTATIONS: &[A] = &[
    A {
        name: "prometheus.istio.io/merge-metrics",
        resources: &["Pod"],
        status: Status::Alpha,
        deprecated: false,
    },
    A {
        name: "alpha.istio.io/kubernetes-serviceaccounts",
        resources: &["Service"],
        status: Status::Alpha,
        deprecated: true,
    },
    A {
        name: "alpha.istio.io/canonical-serviceaccounts",
        resources: &["Service"],
        status: Status::Alpha,
        deprecated: true,
    },
    A {
        name: "networking.istio.io/exportTo",
        resources: &["Service"],
        status: Status::Alpha,
        deprecated: false,
    },
    A {
        name: "sidecar.istio.io/inject",
        resources: &["Pod"],
        status: Status::Beta,
        deprecated: true,
    },
    A {
        name: "sidecar.istio.io/status",
        resources: &["Pod"],
        status: Status::Alpha,
        deprecated: false,
    },
    A {
        name: "sidecar.istio.io/rewriteAppHTTPProbers",
        resources: &["Pod"],
        status: Status::Alpha,
        deprecated: false,
    },
    A {
        name: "sidecar.istio.io/discoveryAddress",
        resources: &["Pod"],
        status: Status::Alpha,
        deprecated: true,
    },
    A {
        name: "sidecar.istio.io/proxyImage",
        resources: &["Pod"],
        status: Status::Alpha,
        deprecated: false,
    },
    A {
        name: "sidecar.istio.io/proxyImageType",
        resources: &["Pod"],
        status: Status::Alpha,
        deprecated: false,
    },
    A {
        name: "sidecar.istio.io/proxyCPU",
        resources: &["Pod"],
        status: Status::Alpha,
        deprecated: false,
    },
    A {
        name: "sidecar.istio.io/proxyCPULimit",
        resources: &["Pod"],
        status: Status::Alpha,
        deprecated: false,
    },
    A {
        name: "sidecar.istio.io/proxyMemory",
        resources: &["Pod"],
        status: Status::Alpha,
        deprecated: false,
    },
    A {
        name: "sidecar.istio.io/proxyMemoryLimit",
        resources: &["Pod"],
        status: Status::Alpha,
        deprecated: false,
    },
    A {
        name: "sidecar.istio.io/interceptionMode",
        resources: &["Pod"],
        status: Status::Alpha,
        deprecated: false,
    },
    A {
        name: "sidecar.istio.io/bootstrapOverride",
        resources: &["Pod"],
        status: Status::Alpha,
        deprecated: false,
    },
    A {
        name: "sidecar.istio.io/statsInclusionPrefixes",
        resources: &["Pod"],
        status: Status::Alpha,
        deprecated: true,
    },
    A {
        name: "sidecar.istio.io/statsInclusionSuffixes",
        resources: &["Pod"],
        status: Status::Alpha,
        deprecated: true,
    },
    A {
        name: "sidecar.istio.io/statsInclusionRegexps",
        resources: &["Pod"],
        status: Status::Alpha,
        deprecated: true,
    },
    A {
        name: "sidecar.istio.io/statsHistogramBuckets",
        resources: &["Pod"],
        status: Status::Alpha,
        deprecated: false,
    },
    A {
        name: "sidecar.istio.io/statsFlushInterval",
        resources: &["Pod"],
        status: Status::Alpha,
        deprecated: false,
    },
    A {
        name: "sidecar.istio.io/statsEvictionInterval",
        resources: &["Pod"],
        status: Status::Alpha,
        deprecated: false,
    },
    A {
        name: "sidecar.istio.io/statsHistogramBins",
        resources: &["Pod"],
        status: Status::Alpha,
        deprecated: false,
    },
    A {
        name: "sidecar.istio.io/userVolume",
        resources: &["Pod"],
        status: Status::Alpha,
        deprecated: false,
    },
    A {
        name: "sidecar.istio.io/userVolumeMount",
        resources: &["Pod"],
        status: Status::Alpha,
        deprecated: false,
    },
    A {
        name: "status.sidecar.istio.io/port",
        resources: &["Pod"],
        status: Status::Alpha,
        deprecated: false,
    },
    A {
        name: "sidecar.istio.io/logLevel",
        resources: &["Pod"],
        status: Status::Alpha,
        deprecated: false,
    },
    A {
        name: "sidecar.istio.io/componentLogLevel",
        resources: &["Pod"],
        status: Status::Alpha,
        deprecated: false,
    },
    A {
        name: "sidecar.istio.io/agentLogLevel",
        resources: &["Pod"],
        status: Status::Alpha,
        deprecated: false,
    },
    A {
        name: "sidecar.istio.io/nativeSidecar",
        resources: &["Pod"],
        status: Status::Alpha,
        deprecated: false,
    },
    A {
        name: "readiness.status.sidecar.istio.io/initialDelaySeconds",
        resources: &["Pod"],
        status: Status::Alpha,
        deprecated: false,
    },
    A {
        name: "readiness.status.sidecar.istio.io/periodSeconds",
        resources: &["Pod"],
        status: Status::Alpha,
        deprecated: false,
    },
    A {
        name: "readiness.status.sidecar.istio.io/failureThreshold",
        resources: &["Pod"],
        status: Status::Alpha,
        deprecated: false,
    },
    A {
        name: "readiness.status.sidecar.istio.io/applicationPorts",
        resources: &["Pod"],
        status: Status::Alpha,
        deprecated: false,
    },
    A {
        name: "traffic.istio.io/nodeSelector",
        resources: &["Service"],
        status: Status::Stable,
        deprecated: false,
    },
    A {
        name: "traffic.sidecar.istio.io/includeOutboundIPRanges",
        resources: &["Pod"],
        status: Status::Alpha,
        deprecated: false,
    },
    A {
        name: "traffic.sidecar.istio.io/excludeOutboundIPRanges",
        resources: &["Pod"],
        status: Status::Alpha,
        deprecated: false,
    },
    A {
        name: "traffic.sidecar.istio.io/includeInboundPorts",
        resources: &["Pod"],
        status: Status::Alpha,
        deprecated: false,
    },
    A {
        name: "traffic.sidecar.istio.io/excludeInboundPorts",
        resources: &["Pod"],
        status: Status::Alpha,
        deprecated: false,
    },
    A {
        name: "traffic.sidecar.istio.io/excludeInterfaces",
        resources: &["Pod"],
        status: Status::Alpha,
        deprecated: false,
    },
    A {
        name: "traffic.sidecar.istio.io/includeOutboundPorts",
        resources: &["Pod"],
        status: Status::Alpha,
        deprecated: false,
    },
    A {
        name: "traffic.sidecar.istio.io/excludeOutboundPorts",
        resources: &["Pod"],
        status: Status::Alpha,
        deprecated: false,
    },
    A {
        name: "traffic.sidecar.istio.io/kubevirtInterfaces",
        resources: &["Pod"],
        status: Status::Alpha,
        deprecated: true,
    },
    A {
        name: "kubernetes.io/ingress.class",
        resources: &["Ingress"],
        status: Status::Stable,
        deprecated: false,
    },
    A {
        name: "galley.istio.io/analyze-suppress",
        resources: &["Any"],
        status: Status::Alpha,
        deprecated: false,
    },
    A {
        name: "proxy.istio.io/config",
        resources: &["Pod"],
        status: Status::Beta,
        deprecated: false,
    },
    A {
        name: "istio.io/dry-run",
        resources: &["AuthorizationPolicy"],
        status: Status::Alpha,
        deprecated: false,
    },
    A {
        name: "istio.io/rev",
        resources: &["Pod"],
        status: Status::Alpha,
        deprecated: false,
    },
    A {
        name: "proxy.istio.io/overrides",
        resources: &["Pod"],
        status: Status::Alpha,
        deprecated: false,
    },
    A {
        name: "inject.istio.io/templates",
        resources: &["Pod"],
        status: Status::Alpha,
        deprecated: false,
    },
    A {
        name: "sidecar.istio.io/extraStatTags",
        resources: &["Pod"],
        status: Status::Alpha,
        deprecated: true,
    },
    A {
        name: "istio.io/autoRegistrationGroup",
        resources: &["WorkloadEntry"],
        status: Status::Alpha,
        deprecated: false,
    },
    A {
        name: "istio.io/workloadController",
        resources: &["WorkloadEntry"],
        status: Status::Alpha,
        deprecated: false,
    },
    A {
        name: "istio.io/connectedAt",
        resources: &["WorkloadEntry"],
        status: Status::Alpha,
        deprecated: false,
    },
    A {
        name: "istio.io/disconnectedAt",
        resources: &["WorkloadEntry"],
        status: Status::Alpha,
        deprecated: false,
    },
    A {
        name: "topology.istio.io/controlPlaneClusters",
        resources: &["Namespace"],
        status: Status::Alpha,
        deprecated: false,
    },
    A {
        name: "gateway.istio.io/controller-version",
        resources: &["Any"],
        status: Status::Alpha,
        deprecated: false,
    },
    A {
        name: "ambient.istio.io/redirection",
        resources: &["Pod"],
        status: Status::Beta,
        deprecated: false,
    },
    A {
        name: "ambient.istio.io/waypoint-inbound-binding",
        resources: &["GatewayClass", "Gateway"],
        status: Status::Alpha,
        deprecated: false,
    },
    A {
        name: "gateway.istio.io/service-account",
        resources: &["Gateway"],
        status: Status::Alpha,
        deprecated: false,
    },
    A {
        name: "gateway.istio.io/name-override",
        resources: &["Gateway"],
        status: Status::Alpha,
        deprecated: false,
    },
    A {
        name: "networking.istio.io/service-type",
        resources: &["Gateway"],
        status: Status::Alpha,
        deprecated: false,
    },
    A {
        name: "networking.istio.io/traffic-distribution",
        resources: &["Namespace", "Service", "ServiceEntry"],
        status: Status::Alpha,
        deprecated: false,
    },
    A {
        name: "istio.io/use-waypoint-canary-weight",
        resources: &["Service", "ServiceEntry", "Namespace"],
        status: Status::Alpha,
        deprecated: false,
    },
    A {
        name: "ambient.istio.io/bypass-inbound-capture",
        resources: &["Pod"],
        status: Status::Alpha,
        deprecated: false,
    },
    A {
        name: "istio.io/reroute-virtual-interfaces",
        resources: &["Pod"],
        status: Status::Alpha,
        deprecated: false,
    },
    A {
        name: "ambient.istio.io/dns-capture",
        resources: &["Pod"],
        status: Status::Alpha,
        deprecated: false,
    },
    A {
        name: "sidecar.istio.io/statsCompression",
        resources: &["Pod"],
        status: Status::Alpha,
        deprecated: true,
    },
];

/// Annotations set by Istio itself, never reported.
const ALWAYS_IGNORED: &[&str] = &[
    "sidecar.istio.io/status",
    "gateway.istio.io/controller-version",
    "istio.io/rev",
];

/// Alpha annotations istio-cni sets on every pod it handles.
const SET_BY_CNI: &[&str] = &[
    "sidecar.istio.io/interceptionMode",
    "traffic.sidecar.istio.io/includeInboundPorts",
    "traffic.sidecar.istio.io/excludeInboundPorts",
    "traffic.sidecar.istio.io/includeOutboundIPRanges",
];

/// The kinds checked, with the name each is known by in the table.
const CHECKED: &[(GroupKind, &str)] = &[
    (kinds::NAMESPACE, "Namespace"),
    (kinds::SERVICE, "Service"),
    (kinds::POD, "Pod"),
    (kinds::DEPLOYMENT, "Deployment"),
];

/// Whether an annotation is in Istio's namespace (or the one Kubernetes
/// annotation Istio documents).
fn istio_annotation(name: &str) -> bool {
    name == "kubernetes.io/ingress.class"
        || name
            .split('/')
            .next()
            .is_some_and(|p| p.ends_with("istio.io"))
}

fn lookup(name: &str) -> Option<&'static A> {
    ANNOTATIONS.iter().find(|a| a.name == name)
}

fn at(name: &str) -> FieldPath {
    FieldPath::root()
        .field("metadata")
        .field("annotations")
        .key(name)
}

fn parse_port(s: &str) -> Result<u16, String> {
    s.trim()
        .parse::<u16>()
        .map_err(|e| format!("failed parsing port '{s}': {e}"))
}

fn port_list(parameter: &str, ports: &str) -> Result<(), String> {
    let ports = ports.trim();
    if ports.is_empty() {
        return Ok(());
    }
    for p in ports.split(',') {
        parse_port(p)
            .map_err(|e| format!("{parameter} invalid: failed parsing port '{p}': {e}"))?;
    }
    Ok(())
}

fn cidr_list(parameter: &str, cidrs: &str) -> Result<(), String> {
    if cidrs.is_empty() {
        return Ok(());
    }
    for c in cidrs.split(',') {
        c.parse::<ipnet::IpNet>()
            .map_err(|e| format!("{parameter} invalid: failed parsing cidr '{c}': {e}"))?;
    }
    Ok(())
}

fn interfaces(v: &str) -> Result<(), String> {
    if v.is_empty() {
        return Ok(());
    }
    for i in v.split(',') {
        let i = i.trim();
        if i.is_empty() {
            return Err("empty interface name".into());
        }
        if i.len() > 15 {
            return Err(format!("interface name {i:?} too long (max 15 chars)"));
        }
        if !i
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-' | b'@'))
        {
            return Err(format!("interface name {i:?} contains invalid characters"));
        }
    }
    Ok(())
}

/// A Kubernetes resource quantity (`100m`, `1Gi`, `0.5`, `1e3`).
fn quantity(v: &str) -> Result<(), String> {
    if v.chars().any(char::is_control) {
        return Err("value contains control characters".into());
    }
    let s = v.strip_prefix(['+', '-']).unwrap_or(v);
    let digits_end = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(s.len());
    let (number, suffix) = s.split_at(digits_end);
    let valid_number = !number.is_empty() && number != "." && number.matches('.').count() <= 1;
    let valid_suffix = matches!(
        suffix,
        "" | "m"
            | "k"
            | "M"
            | "G"
            | "T"
            | "P"
            | "E"
            | "Ki"
            | "Mi"
            | "Gi"
            | "Ti"
            | "Pi"
            | "Ei"
            | "n"
            | "u"
    ) || suffix.strip_prefix(['e', 'E']).is_some_and(|e| {
        let e = e.strip_prefix(['+', '-']).unwrap_or(e);
        !e.is_empty() && e.bytes().all(|b| b.is_ascii_digit())
    });
    if valid_number && valid_suffix {
        Ok(())
    } else {
        Err("quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'".into())
    }
}

/// Go's `strconv.ParseBool`.
fn go_bool(v: &str) -> Result<(), String> {
    match v {
        "1" | "t" | "T" | "TRUE" | "true" | "True" | "0" | "f" | "F" | "FALSE" | "false"
        | "False" => Ok(()),
        _ => Err(format!("strconv.ParseBool: parsing {v:?}: invalid syntax")),
    }
}

/// The value checks of Istio's injector (`pkg/kube/inject/validate.go`).
fn validate(name: &str, value: &str) -> Option<Result<(), String>> {
    Some(match name {
        "sidecar.istio.io/interceptionMode" => match value {
            "REDIRECT" | "TPROXY" | "NONE" => Ok(()),
            _ => Err(format!(
                "interceptionMode invalid, use REDIRECT,TPROXY,NONE: {value}"
            )),
        },
        "status.sidecar.istio.io/port" => parse_port(value)
            .map(|_| ())
            .map_err(|e| format!("excludeInboundPorts invalid: {e}")),
        "readiness.status.sidecar.istio.io/initialDelaySeconds"
        | "readiness.status.sidecar.istio.io/periodSeconds"
        | "readiness.status.sidecar.istio.io/failureThreshold" => value
            .parse::<u32>()
            .map(|_| ())
            .map_err(|e| format!("strconv.ParseUint: parsing {value:?}: {e}")),
        "traffic.sidecar.istio.io/includeOutboundIPRanges" => {
            if value == "*" {
                Ok(())
            } else {
                cidr_list("includeIPRanges", value)
            }
        }
        "traffic.sidecar.istio.io/excludeOutboundIPRanges" => cidr_list("excludeIPRanges", value),
        "traffic.sidecar.istio.io/includeInboundPorts" => {
            if value == "*" {
                Ok(())
            } else {
                port_list("includeInboundPorts", value)
            }
        }
        "traffic.sidecar.istio.io/excludeInboundPorts" => port_list("excludeInboundPorts", value),
        "traffic.sidecar.istio.io/excludeOutboundPorts" => port_list("excludeOutboundPorts", value),
        "traffic.sidecar.istio.io/excludeInterfaces"
        | "traffic.sidecar.istio.io/kubevirtInterfaces"
        | "istio.io/reroute-virtual-interfaces" => interfaces(value),
        "prometheus.istio.io/merge-metrics" => go_bool(value),
        "proxy.istio.io/config" => match serde_yaml::from_str::<serde_yaml::Value>(value) {
            Ok(serde_yaml::Value::Mapping(_) | serde_yaml::Value::Null) => Ok(()),
            Ok(_) => Err("failed to convert to apply proxy config: not a ProxyConfig".into()),
            Err(e) => Err(format!("failed to convert to apply proxy config: {e}")),
        },
        "sidecar.istio.io/proxyCPU"
        | "sidecar.istio.io/proxyMemory"
        | "sidecar.istio.io/proxyCPULimit"
        | "sidecar.istio.io/proxyMemoryLimit" => quantity(value),
        _ => return None,
    })
}

fn k8s(cx: &mut Cx<'_>) {
    let inputs = cx.inputs;
    for (gk, kind) in CHECKED {
        for e in inputs.of(*gk) {
            check_annotations(cx, e, kind);
        }
    }
}

fn check_annotations(cx: &mut Cx<'_>, e: &Entry, kind: &str) {
    for (name, value) in &e.annotations {
        if !istio_annotation(name) || ALWAYS_IGNORED.contains(&name.as_str()) {
            continue;
        }
        let Some(def) = lookup(name) else {
            cx.report(
                e,
                types::UNKNOWN_ANNOTATION,
                format!("Unknown annotation: {name}"),
                at(name),
            );
            continue;
        };
        if def.deprecated {
            let replaced = name == "sidecar.istio.io/inject"
                && e.labels.contains_key("sidecar.istio.io/inject");
            if !replaced {
                let extra = if name == "sidecar.istio.io/inject" {
                    " in favor of the \"sidecar.istio.io/inject\" label"
                } else {
                    ""
                };
                cx.report(
                    e,
                    types::DEPRECATED_ANNOTATION,
                    format!("Annotation {name:?} has been deprecated{extra} and may not work in future Istio versions."),
                    at(name),
                );
            }
        }
        if def.resources.contains(&"Any") {
            continue;
        }
        if !def.resources.contains(&kind) {
            cx.report(
                e,
                types::MISPLACED_ANNOTATION,
                format!(
                    "Misplaced annotation: {name} can only be applied to {}",
                    def.resources.join(", ")
                ),
                at(name),
            );
            continue;
        }
        if let Some(Err(problem)) = validate(name, value) {
            cx.report(
                e,
                types::INVALID_ANNOTATION,
                format!("Invalid annotation {name}: {problem}"),
                at(name),
            );
        }
    }
}

fn alpha(cx: &mut Cx<'_>) {
    let inputs = cx.inputs;
    for (gk, _) in CHECKED {
        for e in inputs.of(*gk) {
            // Without an `istio-init` container istio-cni set the pod up,
            // and with it some alpha annotations by default.
            let cni = *gk == kinds::POD
                && !e
                    .pod_spec()
                    .is_some_and(|s| s.init_containers.iter().any(|c| c.name == "istio-init"));
            for name in e.annotations.keys() {
                if !istio_annotation(name) {
                    continue;
                }
                let Some(def) = lookup(name) else { continue };
                if def.status != Status::Alpha || ALWAYS_IGNORED.contains(&def.name) {
                    continue;
                }
                if cni && SET_BY_CNI.contains(&def.name) {
                    continue;
                }
                cx.report(
                    e,
                    types::ALPHA_ANNOTATION,
                    format!("Annotation {name:?} is part of an alpha-phase feature and may be incompletely supported."),
                    at(name),
                );
            }
        }
    }
}
