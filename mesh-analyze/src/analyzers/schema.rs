//! `schema.ValidationAnalyzer.<Kind>`: Istio's webhook validation of each
//! resource, as messages. Errors are `SchemaValidationError` (IST0106),
//! warnings `SchemaWarning` (IST0133), except VAL-VS-23's unused rules and
//! matches, which are `VirtualServiceUnreachableRule` (IST0130) and
//! `VirtualServiceIneffectiveMatch` (IST0131) as in Istio.

use super::{Analyzer, Cx};
use crate::message::types;
use mesh_model::diag::{FieldPath, Severity};
use mesh_model::networking::{UnusedRule, unused_rules};
use mesh_model::resource::IstioKind;

fn validate(cx: &mut Cx<'_>, kind: IstioKind) {
    let inputs = cx.inputs;
    for e in inputs.istio(kind) {
        for d in &e.validation {
            if d.code == "VAL-VS-23" {
                continue;
            }
            // The diagnostic's path is within the document; drop the List
            // item prefix, the report adds it back.
            let mut path = d.path.clone();
            if e.origin.item.is_some() {
                path = FieldPath::from(path.segments().iter().skip(2).cloned().collect::<Vec<_>>());
            }
            match d.severity {
                Severity::Error => cx.report(
                    e,
                    types::SCHEMA_VALIDATION_ERROR,
                    format!("Schema validation error: {}", d.message),
                    path,
                ),
                Severity::Warning => cx.report(
                    e,
                    types::SCHEMA_WARNING,
                    format!("Schema validation warning: {}", d.message),
                    path,
                ),
                Severity::Info => {}
            }
        }
        if let Some(vs) = e.virtual_service() {
            for f in unused_rules(vs) {
                match &f {
                    UnusedRule::Unreachable { rule, reason, .. } => cx.report(
                        e,
                        types::VIRTUAL_SERVICE_UNREACHABLE_RULE,
                        format!("VirtualService rule {rule} not used ({reason})."),
                        f.path().clone(),
                    ),
                    UnusedRule::IneffectiveMatch {
                        rule,
                        matched,
                        earlier,
                        ..
                    } => cx.report(
                        e,
                        types::VIRTUAL_SERVICE_INEFFECTIVE_MATCH,
                        format!(
                            "VirtualService rule {rule} match {matched} is not used (duplicate/overlapping match in rule {earlier})."
                        ),
                        f.path().clone(),
                    ),
                }
            }
        }
    }
}

/// `schema.ValidationAnalyzer.VirtualService`.
pub const VIRTUAL_SERVICE: Analyzer = Analyzer {
    name: "schema.ValidationAnalyzer.VirtualService",
    description: "Runs schema validation as an analyzer on 'VirtualService' resources",
    default: true,
    run: |cx| validate(cx, IstioKind::VirtualService),
};

/// `schema.ValidationAnalyzer.DestinationRule`.
pub const DESTINATION_RULE: Analyzer = Analyzer {
    name: "schema.ValidationAnalyzer.DestinationRule",
    description: "Runs schema validation as an analyzer on 'DestinationRule' resources",
    default: true,
    run: |cx| validate(cx, IstioKind::DestinationRule),
};

/// `schema.ValidationAnalyzer.Gateway`.
pub const GATEWAY: Analyzer = Analyzer {
    name: "schema.ValidationAnalyzer.Gateway",
    description: "Runs schema validation as an analyzer on 'Gateway' resources",
    default: true,
    run: |cx| validate(cx, IstioKind::Gateway),
};

/// `schema.ValidationAnalyzer.ServiceEntry`.
pub const SERVICE_ENTRY: Analyzer = Analyzer {
    name: "schema.ValidationAnalyzer.ServiceEntry",
    description: "Runs schema validation as an analyzer on 'ServiceEntry' resources",
    default: true,
    run: |cx| validate(cx, IstioKind::ServiceEntry),
};

/// `schema.ValidationAnalyzer.Sidecar`.
pub const SIDECAR: Analyzer = Analyzer {
    name: "schema.ValidationAnalyzer.Sidecar",
    description: "Runs schema validation as an analyzer on 'Sidecar' resources",
    default: true,
    run: |cx| validate(cx, IstioKind::Sidecar),
};

/// `schema.ValidationAnalyzer.WorkloadEntry`.
pub const WORKLOAD_ENTRY: Analyzer = Analyzer {
    name: "schema.ValidationAnalyzer.WorkloadEntry",
    description: "Runs schema validation as an analyzer on 'WorkloadEntry' resources",
    default: true,
    run: |cx| validate(cx, IstioKind::WorkloadEntry),
};

/// `schema.ValidationAnalyzer.WorkloadGroup`.
pub const WORKLOAD_GROUP: Analyzer = Analyzer {
    name: "schema.ValidationAnalyzer.WorkloadGroup",
    description: "Runs schema validation as an analyzer on 'WorkloadGroup' resources",
    default: true,
    run: |cx| validate(cx, IstioKind::WorkloadGroup),
};

/// `schema.ValidationAnalyzer.EnvoyFilter`.
pub const ENVOY_FILTER: Analyzer = Analyzer {
    name: "schema.ValidationAnalyzer.EnvoyFilter",
    description: "Runs schema validation as an analyzer on 'EnvoyFilter' resources",
    default: true,
    run: |cx| validate(cx, IstioKind::EnvoyFilter),
};

/// `schema.ValidationAnalyzer.ProxyConfig`.
pub const PROXY_CONFIG: Analyzer = Analyzer {
    name: "schema.ValidationAnalyzer.ProxyConfig",
    description: "Runs schema validation as an analyzer on 'ProxyConfig' resources",
    default: true,
    run: |cx| validate(cx, IstioKind::ProxyConfig),
};

/// `schema.ValidationAnalyzer.AuthorizationPolicy`.
pub const AUTHORIZATION_POLICY: Analyzer = Analyzer {
    name: "schema.ValidationAnalyzer.AuthorizationPolicy",
    description: "Runs schema validation as an analyzer on 'AuthorizationPolicy' resources",
    default: true,
    run: |cx| validate(cx, IstioKind::AuthorizationPolicy),
};

/// `schema.ValidationAnalyzer.PeerAuthentication`.
pub const PEER_AUTHENTICATION: Analyzer = Analyzer {
    name: "schema.ValidationAnalyzer.PeerAuthentication",
    description: "Runs schema validation as an analyzer on 'PeerAuthentication' resources",
    default: true,
    run: |cx| validate(cx, IstioKind::PeerAuthentication),
};

/// `schema.ValidationAnalyzer.RequestAuthentication`.
pub const REQUEST_AUTHENTICATION: Analyzer = Analyzer {
    name: "schema.ValidationAnalyzer.RequestAuthentication",
    description: "Runs schema validation as an analyzer on 'RequestAuthentication' resources",
    default: true,
    run: |cx| validate(cx, IstioKind::RequestAuthentication),
};

/// `schema.ValidationAnalyzer.Telemetry`.
pub const TELEMETRY: Analyzer = Analyzer {
    name: "schema.ValidationAnalyzer.Telemetry",
    description: "Runs schema validation as an analyzer on 'Telemetry' resources",
    default: true,
    run: |cx| validate(cx, IstioKind::Telemetry),
};

/// `schema.ValidationAnalyzer.WasmPlugin`.
pub const WASM_PLUGIN: Analyzer = Analyzer {
    name: "schema.ValidationAnalyzer.WasmPlugin",
    description: "Runs schema validation as an analyzer on 'WasmPlugin' resources",
    default: true,
    run: |cx| validate(cx, IstioKind::WasmPlugin),
};

/// `schema.ValidationAnalyzer.TrafficExtension`.
pub const TRAFFIC_EXTENSION: Analyzer = Analyzer {
    name: "schema.ValidationAnalyzer.TrafficExtension",
    description: "Runs schema validation as an analyzer on 'TrafficExtension' resources",
    default: true,
    run: |cx| validate(cx, IstioKind::TrafficExtension),
};
