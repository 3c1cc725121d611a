//! `service.PortNameAnalyzer`: Service ports whose protocol Istio cannot
//! tell from the name (or `appProtocol`).

use super::{Analyzer, Cx, path};
use crate::input::kinds;
use crate::message::types;
use mesh_model::wire::kube::IntOrString;

/// `service.PortNameAnalyzer`.
pub const PORT_NAME: Analyzer = Analyzer {
    name: "service.PortNameAnalyzer",
    description: "Checks the port names associated with each service",
    default: true,
    run: port_names,
};

/// Whether Istio's `ConvertProtocol` finds no protocol for a Service port
/// (ports of well-known TCP services count as TCP).
pub(crate) fn protocol_unsupported(
    port: i64,
    name: &str,
    protocol: Option<&str>,
    app_protocol: Option<&str>,
) -> bool {
    if protocol == Some("UDP") {
        return false;
    }
    let mut n = name;
    if let Some(a) = app_protocol {
        if matches!(
            a,
            "kubernetes.io/h2c" | "kubernetes.io/ws" | "kubernetes.io/wss"
        ) {
            return false;
        }
        n = a;
    }
    if n.get(..8)
        .is_some_and(|p| p.eq_ignore_ascii_case("grpc-web"))
    {
        return false;
    }
    let prefix = n.split('-').next().unwrap_or("");
    let known = matches!(
        prefix.to_ascii_lowercase().as_str(),
        "tcp"
            | "udp"
            | "grpc"
            | "grpc-web"
            | "http"
            | "http_proxy"
            | "http2"
            | "https"
            | "tls"
            | "mongo"
            | "redis"
            | "mysql"
    );
    !known && !matches!(port, 25 | 53 | 3306 | 27017)
}

fn port_names(cx: &mut Cx<'_>) {
    let inputs = cx.inputs;
    for e in inputs.of(kinds::SERVICE) {
        // The control plane's own services are not checked.
        if e.labels.contains_key("istio")
            || e.labels.get("release").map(String::as_str) == Some("istio")
        {
            continue;
        }
        if matches!(
            e.labels.get("gateway.istio.io/managed").map(String::as_str),
            Some(
                "istio.io-gateway-controller"
                    | "istio.io-mesh-controller"
                    | "istio.io-eastwest-controller"
            )
        ) {
            continue;
        }
        let Some(spec) = e.service_spec() else {
            continue;
        };
        let external_name = spec.type_.as_deref() == Some("ExternalName");
        for (i, p) in spec.ports.iter().enumerate() {
            let name = p.name.as_deref().unwrap_or("");
            let unsupported = protocol_unsupported(
                p.port,
                name,
                p.protocol.as_deref(),
                p.app_protocol.as_deref(),
            );
            if !(unsupported || (name == "tcp" && external_name)) {
                continue;
            }
            let at = path(&format!("spec.ports[{i}].port"));
            if external_name {
                cx.report(
                    e,
                    types::EXTERNAL_NAME_SERVICE_TYPE_INVALID_PORT_NAME,
                    "Port name for ExternalName service is invalid. Proxy may prevent tcp named ports and unmatched traffic for ports serving TCP protocol from being forwarded correctly",
                    at,
                );
            } else {
                let target = match &p.target_port {
                    Some(IntOrString::Int(n)) => n.to_string(),
                    Some(IntOrString::String(s)) => s.clone(),
                    None => "0".into(),
                };
                cx.report(
                    e,
                    types::PORT_NAME_IS_NOT_UNDER_NAMING_CONVENTION,
                    format!(
                        "Port name {name} (port: {}, targetPort: {target}) doesn't follow the naming convention of Istio port.",
                        p.port
                    ),
                    at,
                );
            }
        }
    }
}
