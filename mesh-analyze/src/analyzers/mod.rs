//! The analyzers, by Istio's names, and the context they report into.

use crate::input::{Entry, Inputs, scalar_written};
use crate::message::{Message, MessageType, ResourceRef};
use mesh_model::diag::FieldPath;
use std::collections::BTreeMap;

pub(crate) mod annotations;
pub(crate) mod authz;
pub(crate) mod conditions;
pub(crate) mod deployment;
pub(crate) mod deprecation;
pub(crate) mod destinationrule;
pub(crate) mod envoyfilter;
pub(crate) mod gateway;
pub(crate) mod injection;
pub(crate) mod k8sgateway;
pub(crate) mod multicluster;
pub(crate) mod schema;
pub(crate) mod service;
pub(crate) mod serviceentry;
pub(crate) mod sidecar;
pub(crate) mod telemetry;
pub(crate) mod util;
pub(crate) mod virtualservice;
pub(crate) mod webhook;

/// One analyzer: its name, what it checks, and whether a plain
/// `analyze` runs it.
#[derive(Clone, Copy)]
pub struct Analyzer {
    /// The name (`virtualservice.GatewayAnalyzer`): Istio's, for Istio's
    /// analyzers.
    pub name: &'static str,
    /// What it checks.
    pub description: &'static str,
    /// Whether it runs when no analyzer is named (Istio leaves
    /// `annotations.AlphaAnalyzer` out of its default set).
    pub default: bool,
    pub(crate) run: fn(&mut Cx<'_>),
}

impl std::fmt::Debug for Analyzer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Analyzer")
            .field("name", &self.name)
            .field("default", &self.default)
            .finish()
    }
}

/// A message before it is located: the entry it is about and the field.
struct Pending {
    entry: usize,
    message_type: MessageType,
    text: String,
    path: FieldPath,
}

/// What an analyzer sees: the inputs, and where it reports.
pub(crate) struct Cx<'a> {
    pub inputs: &'a Inputs,
    pending: Vec<Pending>,
    entry_index: BTreeMap<*const Entry, usize>,
}

impl<'a> Cx<'a> {
    pub(crate) fn new(inputs: &'a Inputs) -> Self {
        let entry_index = inputs
            .entries()
            .iter()
            .enumerate()
            .map(|(i, e)| (e as *const Entry, i))
            .collect();
        Cx {
            inputs,
            pending: Vec::new(),
            entry_index,
        }
    }

    /// Reports a message about `entry`, at its field `path` (root: the
    /// object).
    pub(crate) fn report(
        &mut self,
        entry: &Entry,
        message_type: MessageType,
        text: impl Into<String>,
        path: FieldPath,
    ) {
        let Some(&i) = self.entry_index.get(&(entry as *const Entry)) else {
            return;
        };
        self.pending.push(Pending {
            entry: i,
            message_type,
            text: text.into(),
            path,
        });
    }

    /// The located messages, de-duplicated as istioctl does (two messages
    /// that would print the same line are one).
    pub(crate) fn finish(self, analyzer: &'static str) -> Vec<Message> {
        let mut seen = std::collections::BTreeSet::new();
        let mut out = Vec::new();
        for p in self.pending {
            let entry = &self.inputs.entries()[p.entry];
            // istioctl places a message on a written scalar field, else on
            // the object; messages that land on the same line are one.
            let key_path = if scalar_written(&entry.raw, &p.path) {
                p.path.clone()
            } else {
                FieldPath::root()
            };
            if !seen.insert((p.message_type, p.entry, p.text.clone(), key_path)) {
                continue;
            }
            out.push(Message {
                message_type: p.message_type,
                text: p.text,
                resource: Some(ResourceRef {
                    kind: entry.gk.kind.to_string(),
                    namespace: entry.namespace.clone(),
                    name: entry.name.clone(),
                    cluster: entry.cluster.clone(),
                }),
                location: self.inputs.locate(entry, &p.path),
                analyzer,
            });
        }
        out
    }
}

/// Parses a field path written as istioctl's analyzers name fields
/// (`spec.gateways[0]`).
pub(crate) fn path(s: &str) -> FieldPath {
    FieldPath::parse(s)
}

/// Every analyzer, Istio's in Istio's order, then ours.
pub const ALL: &[Analyzer] = &[
    annotations::K8S,
    annotations::ALPHA,
    authz::BLOCKED_CIDRS,
    authz::AUTHORIZATION_POLICIES,
    conditions::CONDITIONS,
    deployment::MULTI_SERVICE,
    deployment::APPLICATION_UID,
    destinationrule::CA_CERTIFICATE,
    destinationrule::SUBSET_SELECT_POD,
    deprecation::DEPRECATION,
    envoyfilter::ENVOY_PATCH,
    webhook::EXTERNAL_CONTROL_PLANE,
    gateway::INGRESS_GATEWAY_PORT,
    gateway::CERTIFICATE,
    gateway::SECRET,
    gateway::CONFLICTING_GATEWAY,
    injection::INJECTION,
    injection::IMAGE,
    injection::IMAGE_AUTO,
    k8sgateway::SELECTOR,
    k8sgateway::CRD_VERSION,
    multicluster::MESH_NETWORKS,
    multicluster::SERVICES,
    service::PORT_NAME,
    sidecar::SELECTOR,
    virtualservice::CONFLICTING_MESH_GATEWAY_HOSTS,
    virtualservice::DESTINATION_HOST,
    virtualservice::DESTINATION_RULE,
    virtualservice::GATEWAY,
    virtualservice::JWT_CLAIM_ROUTE,
    serviceentry::PROTOCOL_ADDRESSES,
    serviceentry::CONFLICTING_PROTOCOL,
    webhook::WEBHOOK,
    telemetry::PROVIDER,
    telemetry::SELECTOR,
    telemetry::DEFAULT_SELECTOR,
    telemetry::LIGHTSTEP,
    schema::VIRTUAL_SERVICE,
    schema::DESTINATION_RULE,
    schema::GATEWAY,
    schema::SERVICE_ENTRY,
    schema::SIDECAR,
    schema::WORKLOAD_ENTRY,
    schema::WORKLOAD_GROUP,
    schema::ENVOY_FILTER,
    schema::PROXY_CONFIG,
    schema::AUTHORIZATION_POLICY,
    schema::PEER_AUTHENTICATION,
    schema::REQUEST_AUTHENTICATION,
    schema::TELEMETRY,
    schema::WASM_PLUGIN,
    schema::TRAFFIC_EXTENSION,
    crate::checks::SHADOWED_ROUTES,
    crate::checks::AUTHZ_RULES,
    crate::checks::PEER_AUTHENTICATION,
    crate::checks::SUBSET_ENDPOINTS,
];
