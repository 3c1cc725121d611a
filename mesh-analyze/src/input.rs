//! What the analyzers read: every object of the inputs, as written and as
//! typed, the mesh config, and the indexed mesh.
//!
//! Inputs are read the way `istioctl analyze` reads files: objects without
//! a namespace keep none (the analysis default namespace is empty),
//! unknown fields are ignored, the CRD schema checks are left to the
//! schema analyzers, objects in Kubernetes' own namespaces are ignored, and
//! a later object with the same kind, namespace and name replaces an
//! earlier one. Kubernetes kinds the mesh model does not type (webhook
//! configurations, CRDs, Nodes, the Gateway API) are kept as written.

use crate::mesh::{MeshConfigError, merged_mesh_config};
use mesh_model::config::{Object, ValidationContext, convert};
use mesh_model::diag::{Diagnostic, FieldPath, Origin, PathSegment, Severity};
use mesh_model::labels::Labels;
use mesh_model::parse::{ParseOptions, Source, UnknownFields};
use mesh_model::resource::{Body, IstioKind, IstioSpec, KubeKind, Resource};
use mesh_model::snapshot::{Snapshot, SnapshotOptions};
use mesh_model::wire::{self, mesh::MeshConfig};
use std::collections::BTreeMap;
use std::sync::Arc;

/// An API group and kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct GroupKind {
    /// The API group (`""` for the core group).
    pub group: &'static str,
    /// The kind.
    pub kind: &'static str,
}

/// The kinds analysis reads, beyond Istio's CRDs.
pub mod kinds {
    use super::GroupKind;

    const fn gk(group: &'static str, kind: &'static str) -> GroupKind {
        GroupKind { group, kind }
    }

    /// `v1/Namespace`
    pub const NAMESPACE: GroupKind = gk("", "Namespace");
    /// `v1/Service`
    pub const SERVICE: GroupKind = gk("", "Service");
    /// `v1/Pod`
    pub const POD: GroupKind = gk("", "Pod");
    /// `v1/Secret`
    pub const SECRET: GroupKind = gk("", "Secret");
    /// `v1/ConfigMap`
    pub const CONFIG_MAP: GroupKind = gk("", "ConfigMap");
    /// `v1/ServiceAccount`
    pub const SERVICE_ACCOUNT: GroupKind = gk("", "ServiceAccount");
    /// `v1/Node`
    pub const NODE: GroupKind = gk("", "Node");
    /// `v1/Endpoints`
    pub const ENDPOINTS: GroupKind = gk("", "Endpoints");
    /// `apps/v1/Deployment`
    pub const DEPLOYMENT: GroupKind = gk("apps", "Deployment");
    /// `apps/v1/StatefulSet`
    pub const STATEFUL_SET: GroupKind = gk("apps", "StatefulSet");
    /// `apps/v1/DaemonSet`
    pub const DAEMON_SET: GroupKind = gk("apps", "DaemonSet");
    /// `apps/v1/ReplicaSet`
    pub const REPLICA_SET: GroupKind = gk("apps", "ReplicaSet");
    /// `admissionregistration.k8s.io/v1/MutatingWebhookConfiguration`
    pub const MUTATING_WEBHOOK: GroupKind = gk(
        "admissionregistration.k8s.io",
        "MutatingWebhookConfiguration",
    );
    /// `admissionregistration.k8s.io/v1/ValidatingWebhookConfiguration`
    pub const VALIDATING_WEBHOOK: GroupKind = gk(
        "admissionregistration.k8s.io",
        "ValidatingWebhookConfiguration",
    );
    /// `apiextensions.k8s.io/v1/CustomResourceDefinition`
    pub const CRD: GroupKind = gk("apiextensions.k8s.io", "CustomResourceDefinition");
    /// `networking.k8s.io/v1/Ingress`
    pub const INGRESS: GroupKind = gk("networking.k8s.io", "Ingress");
    /// The Gateway API's `Gateway`.
    pub const K8S_GATEWAY: GroupKind = gk("gateway.networking.k8s.io", "Gateway");
    /// The Gateway API's `GatewayClass`.
    pub const GATEWAY_CLASS: GroupKind = gk("gateway.networking.k8s.io", "GatewayClass");
    /// The Gateway API's `HTTPRoute`.
    pub const HTTP_ROUTE: GroupKind = gk("gateway.networking.k8s.io", "HTTPRoute");
    /// The Gateway API's `GRPCRoute`.
    pub const GRPC_ROUTE: GroupKind = gk("gateway.networking.k8s.io", "GRPCRoute");
    /// The Gateway API's `TCPRoute`.
    pub const TCP_ROUTE: GroupKind = gk("gateway.networking.k8s.io", "TCPRoute");
    /// The Gateway API's `TLSRoute`.
    pub const TLS_ROUTE: GroupKind = gk("gateway.networking.k8s.io", "TLSRoute");
    /// The Gateway API's `ReferenceGrant`.
    pub const REFERENCE_GRANT: GroupKind = gk("gateway.networking.k8s.io", "ReferenceGrant");

    /// Istio's mesh networks (the document given as
    /// [`AnalysisOptions::mesh_networks`](super::AnalysisOptions), not read
    /// from the inputs).
    pub const MESH_NETWORKS: GroupKind = gk("", "MeshNetworks");

    /// Every non-Istio kind read.
    pub const OTHERS: &[GroupKind] = &[
        NAMESPACE,
        SERVICE,
        POD,
        SECRET,
        CONFIG_MAP,
        SERVICE_ACCOUNT,
        NODE,
        ENDPOINTS,
        DEPLOYMENT,
        STATEFUL_SET,
        DAEMON_SET,
        REPLICA_SET,
        MUTATING_WEBHOOK,
        VALIDATING_WEBHOOK,
        CRD,
        INGRESS,
        K8S_GATEWAY,
        GATEWAY_CLASS,
        HTTP_ROUTE,
        GRPC_ROUTE,
        TCP_ROUTE,
        TLS_ROUTE,
        REFERENCE_GRANT,
    ];

    /// Kinds whose objects have no namespace.
    pub const CLUSTER_SCOPED: &[GroupKind] = &[
        NAMESPACE,
        NODE,
        MUTATING_WEBHOOK,
        VALIDATING_WEBHOOK,
        CRD,
        GATEWAY_CLASS,
    ];

    /// The group and kind of an Istio kind.
    pub fn istio(k: mesh_model::resource::IstioKind) -> GroupKind {
        gk(k.group(), k.name())
    }
}

impl GroupKind {
    /// The known kind with this group and name.
    pub fn find(group: &str, kind: &str) -> Option<GroupKind> {
        IstioKind::ALL
            .iter()
            .map(|k| kinds::istio(*k))
            .chain(kinds::OTHERS.iter().copied())
            .find(|g| g.group == group && g.kind == kind)
    }

    /// Whether objects of this kind have no namespace.
    pub fn cluster_scoped(self) -> bool {
        kinds::CLUSTER_SCOPED.contains(&self)
    }
}

/// Namespaces whose objects analysis ignores, as istioctl does.
const IGNORED_NAMESPACES: &[&str] = &[
    "kube-system",
    "kube-public",
    "kube-node-lease",
    "local-path-storage",
];

/// How to read the inputs.
#[derive(Debug, Clone)]
pub struct AnalysisOptions {
    /// A MeshConfig YAML fragment, merged over Istio's defaults as istiod
    /// merges it (`None`: the defaults).
    pub mesh_config: Option<String>,
    /// A MeshNetworks YAML document.
    pub mesh_networks: Option<String>,
    /// Istio's own namespace (`istio-system`).
    pub istio_namespace: String,
    /// Whether to add the stand-in ingress gateway Pod and Service that
    /// `istioctl analyze` adds when it reads files only (unless the mesh
    /// config's `ingressControllerMode` is `OFF`).
    pub default_resources: bool,
    /// The time, in seconds since the Unix epoch, against which certificate
    /// validity is checked; `None` skips the validity period check.
    pub now: Option<i64>,
}

impl Default for AnalysisOptions {
    fn default() -> Self {
        AnalysisOptions {
            mesh_config: None,
            mesh_networks: None,
            istio_namespace: "istio-system".into(),
            default_resources: true,
            now: None,
        }
    }
}

/// Why the inputs could not be prepared.
#[derive(Debug, thiserror::Error)]
pub enum InputError {
    /// The mesh config does not parse.
    #[error("mesh config: {0}")]
    MeshConfig(#[from] MeshConfigError),
    /// The mesh networks document does not parse.
    #[error("mesh networks: {0}")]
    MeshNetworks(String),
}

/// One object of the inputs.
#[derive(Debug, Clone)]
pub struct Entry {
    /// Group and kind.
    pub gk: GroupKind,
    /// Namespace (empty for cluster-scoped kinds and objects written without
    /// one).
    pub namespace: String,
    /// Name.
    pub name: String,
    /// Labels.
    pub labels: Labels,
    /// Annotations.
    pub annotations: Labels,
    /// The object as written, as JSON.
    pub raw: serde_json::Value,
    /// The typed object, for the kinds the mesh model reads.
    pub resource: Option<Resource>,
    /// Where it came from.
    pub origin: Origin,
    /// The webhook's findings for it (Istio kinds).
    pub validation: Vec<Diagnostic>,
    /// The cluster it was read for (empty unless the inputs are
    /// [several clusters'](Inputs::load_clusters)).
    pub cluster: String,
}

macro_rules! spec_accessor {
    ($($fn_name:ident => $variant:ident : $ty:ty;)*) => {
        impl Entry {
            $(
                #[doc = concat!("The `", stringify!($variant), "` spec, if this is one.")]
                pub fn $fn_name(&self) -> Option<&$ty> {
                    match self.istio_spec()? {
                        IstioSpec::$variant(s) => Some(s),
                        _ => None,
                    }
                }
            )*
        }
    };
}

spec_accessor! {
    virtual_service => VirtualService: wire::networking::VirtualService;
    destination_rule => DestinationRule: wire::networking::DestinationRule;
    gateway => Gateway: wire::networking::Gateway;
    service_entry => ServiceEntry: wire::networking::ServiceEntry;
    sidecar => Sidecar: wire::networking::Sidecar;
    envoy_filter => EnvoyFilter: wire::networking::EnvoyFilter;
    authorization_policy => AuthorizationPolicy: wire::security::AuthorizationPolicy;
    request_authentication => RequestAuthentication: wire::security::RequestAuthentication;
    peer_authentication => PeerAuthentication: wire::security::PeerAuthentication;
    telemetry => Telemetry: wire::telemetry::Telemetry;
}

impl Entry {
    /// The Istio spec, for Istio kinds.
    pub fn istio_spec(&self) -> Option<&IstioSpec> {
        self.resource.as_ref()?.istio_spec()
    }

    /// `namespace/name`, or `name` without a namespace (Istio's full name).
    pub fn full_name(&self) -> String {
        if self.namespace.is_empty() {
            self.name.clone()
        } else {
            format!("{}/{}", self.namespace, self.name)
        }
    }

    /// The Service spec, for Services.
    pub fn service_spec(&self) -> Option<&wire::kube::ServiceSpec> {
        match &self.resource.as_ref()?.body {
            Body::Service(s) => Some(s),
            _ => None,
        }
    }

    /// The Pod spec, for Pods.
    pub fn pod_spec(&self) -> Option<&wire::kube::PodSpec> {
        match &self.resource.as_ref()?.body {
            Body::Pod { spec, .. } => Some(spec),
            _ => None,
        }
    }

    /// The spec of a Deployment (or another workload controller).
    pub fn workload_spec(&self) -> Option<&wire::kube::WorkloadControllerSpec> {
        match &self.resource.as_ref()?.body {
            Body::Workload(s) => Some(s),
            _ => None,
        }
    }

    /// The value at `path` of the object as written (`["spec", "type"]`).
    pub fn raw_at(&self, path: &[&str]) -> Option<&serde_json::Value> {
        let mut v = &self.raw;
        for p in path {
            v = v.get(p)?;
        }
        Some(v)
    }

    /// `status`, as written.
    pub fn status(&self) -> Option<&serde_json::Value> {
        self.raw.get("status")
    }
}

/// Everything the analyzers read.
#[derive(Debug, Clone)]
pub struct Inputs {
    sources: Vec<(String, String)>,
    entries: Vec<Entry>,
    by_kind: BTreeMap<GroupKind, Vec<usize>>,
    diagnostics: Vec<Diagnostic>,
    mesh: serde_json::Value,
    mesh_networks: Option<serde_json::Value>,
    snapshot: Snapshot,
    options: AnalysisOptions,
}

/// The label of the mesh networks document in messages.
pub const MESH_NETWORKS_LABEL: &str = "mesh-networks";

/// The label of the stand-in ingress gateway resources.
pub const DEFAULT_RESOURCES_LABEL: &str = "internal-ingress";

fn default_ingress(namespace: &str, service: &str) -> String {
    format!(
        "apiVersion: v1
kind: Pod
metadata:
  labels:
    istio: ingressgateway
  name: {service}-dummypod
  namespace: {namespace}
spec:
  containers:
    - args:
      name: istio-proxy
---
apiVersion: v1
kind: Service
metadata:
  name: {service}
  namespace: {namespace}
spec:
  ports:
  - name: http2
    nodePort: 31380
    port: 80
    protocol: TCP
    targetPort: 80
  - name: https
    nodePort: 31390
    port: 443
    protocol: TCP
    targetPort: 443
  - name: tcp
    nodePort: 31400
    port: 31400
    protocol: TCP
    targetPort: 31400
  - name: tls
    nodePort: 31447
    port: 15443
    protocol: TCP
    targetPort: 15443
  selector:
    istio: ingressgateway
"
    )
}

/// YAML to JSON, with map keys as strings (YAML allows `80:` keys).
pub(crate) fn yaml_to_json(v: serde_yaml::Value) -> serde_json::Value {
    use serde_json::Value as J;
    use serde_yaml::Value as Y;
    match v {
        Y::Null => J::Null,
        Y::Bool(b) => J::Bool(b),
        Y::Number(n) => {
            if let Some(i) = n.as_i64() {
                J::from(i)
            } else if let Some(u) = n.as_u64() {
                J::from(u)
            } else {
                n.as_f64()
                    .and_then(serde_json::Number::from_f64)
                    .map_or(J::Null, J::Number)
            }
        }
        Y::String(s) => J::String(s),
        Y::Sequence(s) => J::Array(s.into_iter().map(yaml_to_json).collect()),
        Y::Mapping(m) => J::Object(
            m.into_iter()
                .map(|(k, v)| {
                    let key = match k {
                        Y::String(s) => s,
                        Y::Bool(b) => b.to_string(),
                        Y::Number(n) => n.to_string(),
                        other => serde_yaml::to_string(&other)
                            .unwrap_or_default()
                            .trim()
                            .to_string(),
                    };
                    (key, yaml_to_json(v))
                })
                .collect(),
        ),
        Y::Tagged(t) => yaml_to_json(t.value),
    }
}

fn string_map(v: Option<&serde_json::Value>) -> Labels {
    v.and_then(serde_json::Value::as_object)
        .map(|m| {
            m.iter()
                .map(|(k, v)| {
                    let s = match v {
                        serde_json::Value::String(s) => s.clone(),
                        other => other.to_string(),
                    };
                    (k.clone(), s)
                })
                .collect()
        })
        .unwrap_or_default()
}

impl Inputs {
    /// Reads `(label, text)` inputs (a label is usually a file path).
    ///
    /// Problems reading an object are kept as [`Inputs::diagnostics`];
    /// the object is skipped and the rest still load. Only a mesh config
    /// or mesh networks document that does not parse is an error.
    pub fn load(sources: &[(&str, &str)], options: &AnalysisOptions) -> Result<Inputs, InputError> {
        Inputs::load_clusters(&[("", sources)], options)
    }

    /// Reads the inputs of several clusters: `(cluster, sources)`. Objects
    /// of different clusters are different objects (the multi-cluster
    /// analyzers compare them); the stand-in ingress gateway belongs to no
    /// cluster.
    pub fn load_clusters(
        clusters: &[(&str, &[(&str, &str)])],
        options: &AnalysisOptions,
    ) -> Result<Inputs, InputError> {
        let mesh = merged_mesh_config(options.mesh_config.as_deref())?;
        let mesh_networks = match &options.mesh_networks {
            Some(text) => Some(
                serde_yaml::from_str::<serde_yaml::Value>(text)
                    .map(yaml_to_json)
                    .map_err(|e| InputError::MeshNetworks(e.to_string()))?,
            ),
            None => None,
        };
        let mut all: Vec<(String, String)> = Vec::new();
        let mut cluster_of: Vec<String> = Vec::new();
        for (cluster, sources) in clusters {
            for (l, t) in *sources {
                all.push(((*l).to_string(), (*t).to_string()));
                cluster_of.push((*cluster).to_string());
            }
        }
        let ingress_off = mesh
            .get("ingressControllerMode")
            .and_then(|v| v.as_str())
            .is_some_and(|m| m.eq_ignore_ascii_case("OFF"));
        if options.default_resources && !ingress_off {
            let service = mesh
                .get("ingressService")
                .and_then(|v| v.as_str())
                .unwrap_or("istio-ingressgateway");
            all.push((
                DEFAULT_RESOURCES_LABEL.to_string(),
                default_ingress(&options.istio_namespace, service),
            ));
            cluster_of.push(String::new());
        }
        let mesh_model: MeshConfig = serde_json::from_value(mesh.clone())
            .map_err(|e| InputError::MeshConfig(MeshConfigError(e.to_string())))?;
        let parse_opts = ParseOptions {
            unknown_fields: UnknownFields::Warn,
            default_namespace: String::new(),
            schema_check: false,
        };
        let vcx = ValidationContext {
            domain_suffix: "cluster.local".into(),
            mesh: Arc::new(mesh_model.clone()),
        };
        let mut entries: Vec<Entry> = Vec::new();
        let mut index: BTreeMap<(String, GroupKind, String, String), usize> = BTreeMap::new();
        let mut diagnostics = Vec::new();
        for ((label, text), cluster) in all.iter().zip(&cluster_of) {
            let src = Source::new(label.as_str(), text);
            let parsed = src.parse(&parse_opts);
            let mut diags: Vec<Diagnostic> = parsed
                .diagnostics
                .into_iter()
                .filter(|d| d.severity == Severity::Error)
                .collect();
            let mut typed: BTreeMap<(usize, Option<usize>), Resource> = parsed
                .resources
                .into_iter()
                .map(|r| ((r.origin.document, r.origin.item), r))
                .collect();
            for doc in 0..src.documents() {
                let Some(doc_text) = src.document(doc) else {
                    continue;
                };
                let Ok(value) = serde_yaml::from_str::<serde_yaml::Value>(doc_text) else {
                    continue;
                };
                let value = yaml_to_json(value);
                let is_list = value
                    .get("kind")
                    .and_then(|k| k.as_str())
                    .is_some_and(|k| k.ends_with("List"))
                    && value.get("items").is_some_and(serde_json::Value::is_array);
                let objects: Vec<(Option<usize>, serde_json::Value)> = if is_list {
                    value["items"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .cloned()
                        .enumerate()
                        .map(|(i, v)| (Some(i), v))
                        .collect()
                } else {
                    vec![(None, value)]
                };
                for (item, raw) in objects {
                    let resource = typed.remove(&(doc, item));
                    let origin = Origin {
                        file: label.clone(),
                        document: doc,
                        item,
                    };
                    let Some(mut entry) = make_entry(raw, resource, origin, &vcx) else {
                        continue;
                    };
                    entry.cluster.clone_from(cluster);
                    let ns_of_interest = if entry.gk == kinds::NAMESPACE {
                        entry.name.as_str()
                    } else {
                        entry.namespace.as_str()
                    };
                    if IGNORED_NAMESPACES.contains(&ns_of_interest) {
                        continue;
                    }
                    let key = (
                        entry.cluster.clone(),
                        entry.gk,
                        entry.namespace.clone(),
                        entry.name.clone(),
                    );
                    match index.get(&key) {
                        Some(&i) => entries[i] = entry,
                        None => {
                            index.insert(key, entries.len());
                            entries.push(entry);
                        }
                    }
                }
            }
            src.locate(&mut diags);
            diagnostics.extend(diags);
        }
        // The mesh networks document is an object of its own (Istio's
        // `MeshNetworks istio-system/meshnetworks`).
        if let (Some(text), Some(networks)) = (&options.mesh_networks, &mesh_networks) {
            all.push((MESH_NETWORKS_LABEL.to_string(), text.clone()));
            entries.push(Entry {
                gk: kinds::MESH_NETWORKS,
                namespace: options.istio_namespace.clone(),
                name: "meshnetworks".into(),
                labels: Labels::new(),
                annotations: Labels::new(),
                raw: networks.clone(),
                resource: None,
                origin: Origin {
                    file: MESH_NETWORKS_LABEL.to_string(),
                    document: 0,
                    item: None,
                },
                validation: Vec::new(),
                cluster: String::new(),
            });
        }
        // The mesh, from what validates.
        let mut objects: Vec<Object> = Vec::new();
        for e in &mut entries {
            if let Some(r) = &e.resource {
                let c = convert(r, &vcx);
                objects.extend(c.object);
                e.validation = c.diagnostics;
            }
        }
        let snapshot = Snapshot::build(
            objects,
            &SnapshotOptions {
                mesh: Some(mesh_model),
                domain_suffix: None,
            },
        );
        for (label, text) in &all {
            let src = Source::new(label.as_str(), text);
            for e in &mut entries {
                if e.origin.file == *label {
                    src.locate(&mut e.validation);
                }
            }
        }
        let mut by_kind: BTreeMap<GroupKind, Vec<usize>> = BTreeMap::new();
        for (i, e) in entries.iter().enumerate() {
            by_kind.entry(e.gk).or_default().push(i);
        }
        Ok(Inputs {
            sources: all,
            entries,
            by_kind,
            diagnostics,
            mesh,
            mesh_networks,
            snapshot,
            options: options.clone(),
        })
    }

    /// Problems reading the inputs (objects that did not parse; skipped).
    pub fn diagnostics(&self) -> &[Diagnostic] {
        &self.diagnostics
    }

    /// Every object read.
    pub fn entries(&self) -> &[Entry] {
        &self.entries
    }

    /// The objects of one kind, in input order.
    pub fn of(&self, gk: GroupKind) -> impl Iterator<Item = &Entry> {
        self.by_kind
            .get(&gk)
            .into_iter()
            .flatten()
            .map(|i| &self.entries[*i])
    }

    /// The objects of an Istio kind, in input order.
    pub fn istio(&self, kind: IstioKind) -> impl Iterator<Item = &Entry> {
        self.of(kinds::istio(kind))
    }

    /// The object of `gk` named `namespace/name`.
    pub fn find(&self, gk: GroupKind, namespace: &str, name: &str) -> Option<&Entry> {
        self.of(gk)
            .find(|e| e.namespace == namespace && e.name == name)
    }

    /// The merged mesh config, as JSON (MeshConfig's field names).
    pub fn mesh(&self) -> &serde_json::Value {
        &self.mesh
    }

    /// The mesh networks document, if one was given.
    pub fn mesh_networks(&self) -> Option<&serde_json::Value> {
        self.mesh_networks.as_ref()
    }

    /// The root namespace of the mesh config.
    pub fn root_namespace(&self) -> &str {
        self.mesh
            .get("rootNamespace")
            .and_then(|v| v.as_str())
            .unwrap_or("istio-system")
    }

    /// The mesh, built from every object that validates.
    pub fn snapshot(&self) -> &Snapshot {
        &self.snapshot
    }

    /// The options the inputs were read with.
    pub fn options(&self) -> &AnalysisOptions {
        &self.options
    }

    /// Fills in the file, document, line and column of a location of
    /// `entry`'s field `path` (the nearest written enclosing field).
    pub(crate) fn locate(&self, entry: &Entry, path: &FieldPath) -> crate::message::Location {
        let mut d = Diagnostic::new(Severity::Info, "", "")
            .at(path.clone())
            .in_origin(&entry.origin);
        if let Some((label, text)) = self.sources.iter().find(|(l, _)| *l == entry.origin.file) {
            Source::new(label.as_str(), text).locate(std::slice::from_mut(&mut d));
        }
        crate::message::Location {
            file: Some(entry.origin.file.clone()),
            document: Some(entry.origin.document),
            line: d.line,
            column: d.column,
            path: path.clone(),
        }
    }
}

fn make_entry(
    raw: serde_json::Value,
    resource: Option<Resource>,
    origin: Origin,
    _vcx: &ValidationContext,
) -> Option<Entry> {
    let api_version = raw.get("apiVersion")?.as_str()?;
    let kind = raw.get("kind")?.as_str()?;
    let group = api_version.rsplit_once('/').map_or("", |(g, _)| g);
    let gk = GroupKind::find(group, kind)?;
    let istio_kind = IstioKind::from_name(kind).filter(|k| k.group() == group);
    let kube_kind = KubeKind::from_name(kind).is_some_and(|k| k.group() == group);
    let resource = match (resource, istio_kind) {
        (Some(r), _) => Some(r),
        // Istio reads a `null` as an absent field, where the API server
        // (and so the mesh model) rejects the object: read it again
        // without its nulls.
        (None, Some(k)) => Some(lenient_istio(&raw, k, api_version, &origin)?),
        // The mesh model could not read it: Istio's reader could not either.
        (None, None) if kube_kind => return None,
        (None, None) => None,
    };
    let meta = raw.get("metadata");
    let name = meta?.get("name")?.as_str()?.to_string();
    if name.is_empty() {
        return None;
    }
    let namespace = if gk.cluster_scoped() {
        String::new()
    } else {
        meta.and_then(|m| m.get("namespace"))
            .and_then(|n| n.as_str())
            .unwrap_or("")
            .to_string()
    };
    let labels = string_map(meta.and_then(|m| m.get("labels")));
    let annotations = string_map(meta.and_then(|m| m.get("annotations")));
    Some(Entry {
        gk,
        namespace,
        name,
        labels,
        annotations,
        raw,
        resource,
        origin,
        validation: Vec::new(),
        cluster: String::new(),
    })
}

/// `v` without the `null` values of its objects.
fn without_nulls(v: &serde_json::Value) -> serde_json::Value {
    match v {
        serde_json::Value::Object(m) => serde_json::Value::Object(
            m.iter()
                .filter(|(_, v)| !v.is_null())
                .map(|(k, v)| (k.clone(), without_nulls(v)))
                .collect(),
        ),
        serde_json::Value::Array(a) => {
            serde_json::Value::Array(a.iter().map(without_nulls).collect())
        }
        other => other.clone(),
    }
}

/// Reads an Istio object as istiod's file reader does: `null` fields are
/// absent and unknown fields ignored.
fn lenient_istio(
    raw: &serde_json::Value,
    kind: IstioKind,
    api_version: &str,
    origin: &Origin,
) -> Option<Resource> {
    use mesh_model::resource::Kind;
    let v = without_nulls(raw);
    let spec_value = v
        .get("spec")
        .cloned()
        .unwrap_or_else(|| serde_json::json!({}));
    macro_rules! spec {
        ($($k:ident => $m:ident :: $t:ident,)*) => {
            match kind {
                $(IstioKind::$k => IstioSpec::$k(Box::new(
                    serde_json::from_value::<wire::$m::$t>(spec_value).ok()?,
                )),)*
            }
        };
    }
    let spec = spec! {
        TrafficExtension => extensions::TrafficExtension,
        WasmPlugin => extensions::WasmPlugin,
        DestinationRule => networking::DestinationRule,
        EnvoyFilter => networking::EnvoyFilter,
        Gateway => networking::Gateway,
        ProxyConfig => networking::ProxyConfig,
        ServiceEntry => networking::ServiceEntry,
        Sidecar => networking::Sidecar,
        VirtualService => networking::VirtualService,
        WorkloadEntry => networking::WorkloadEntry,
        WorkloadGroup => networking::WorkloadGroup,
        AuthorizationPolicy => security::AuthorizationPolicy,
        PeerAuthentication => security::PeerAuthentication,
        RequestAuthentication => security::RequestAuthentication,
        Telemetry => telemetry::Telemetry,
    };
    let mut metadata: wire::meta::ObjectMeta =
        serde_json::from_value(v.get("metadata").cloned()?).ok()?;
    if metadata.namespace.as_deref() == Some("") {
        metadata.namespace = None;
    }
    Some(Resource {
        api_version: api_version.to_string(),
        kind: Kind::Istio(kind),
        metadata,
        body: Body::Istio {
            spec,
            status: v.get("status").cloned(),
        },
        origin: origin.clone(),
    })
}

/// Whether the written object has a scalar at `path` (Istio locates a
/// message by a written scalar field, else by the object).
pub(crate) fn scalar_written(raw: &serde_json::Value, path: &FieldPath) -> bool {
    let mut v = raw;
    for seg in path.segments() {
        v = match seg {
            PathSegment::Field(f) => match v.get(f.as_ref()) {
                Some(x) => x,
                None => return false,
            },
            PathSegment::Key(k) => match v.get(k.as_str()) {
                Some(x) => x,
                None => return false,
            },
            PathSegment::Index(i) => match v.get(*i) {
                Some(x) => x,
                None => return false,
            },
        };
    }
    !(v.is_object() || v.is_array() || v.is_null())
}
