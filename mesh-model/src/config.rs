//! Validated configuration: the domain types of every kind, joined to the
//! wire types by conversion.
//!
//! Converting a [`Resource`] ([`convert`]) applies Istio's validating
//! webhook rules (`VAL-*` of `istio-semantics.md` §10): the conversion
//! succeeds exactly when no rule with severity error fails, so admission
//! and runtime cannot disagree. Warnings come back beside the value.

use crate::diag::{Diagnostic, FieldPath, Severity};
use crate::host::Hostname;
use crate::labels::Labels;
use crate::resource::{Body, IstioKind, IstioSpec, Kind, Resource, ResourceKey};
use crate::wire::mesh::MeshConfig;
use serde::Serialize;
use std::sync::Arc;

/// The metadata every validated object carries.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Meta {
    /// Kind, namespace and name.
    pub key: ResourceKey,
    /// Labels.
    pub labels: Labels,
    /// Annotations.
    pub annotations: Labels,
    /// `creationTimestamp` in seconds since the epoch, where set.
    pub creation: Option<i64>,
    /// `metadata.generation`, where set.
    pub generation: Option<i64>,
    /// Where the object came from.
    pub origin: crate::diag::Origin,
}

impl Meta {
    /// The name.
    pub fn name(&self) -> &str {
        &self.key.name
    }

    /// The namespace (`""` for cluster-scoped kinds).
    pub fn namespace(&self) -> &str {
        &self.key.namespace
    }

    /// `namespace/name`.
    pub fn id(&self) -> String {
        format!("{}/{}", self.key.namespace, self.key.name)
    }

    /// Whether two metadata are equal in everything but their
    /// [`Meta::origin`].
    pub fn same_content(&self, other: &Meta) -> bool {
        // Every field named: one added is a compile error here, not a
        // change missed.
        let Meta {
            key,
            labels,
            annotations,
            creation,
            generation,
            origin: _,
        } = self;
        *key == other.key
            && *labels == other.labels
            && *annotations == other.annotations
            && *creation == other.creation
            && *generation == other.generation
    }

    /// Istio's "oldest first" order (RES-8): creation time (unset first),
    /// then name, then namespace.
    pub fn age_cmp(&self, other: &Meta) -> std::cmp::Ordering {
        self.creation
            .unwrap_or(i64::MIN)
            .cmp(&other.creation.unwrap_or(i64::MIN))
            .then_with(|| self.key.name.cmp(&other.key.name))
            .then_with(|| self.key.namespace.cmp(&other.key.namespace))
    }

    pub(crate) fn from_resource(r: &Resource) -> Meta {
        Meta {
            key: r.key(),
            labels: r.labels().clone(),
            annotations: r.annotations().clone(),
            creation: r.metadata.creation_seconds(),
            generation: r.metadata.generation,
            origin: r.origin.clone(),
        }
    }
}

/// A validated object: its metadata and its domain spec.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Config<T> {
    /// Metadata.
    pub meta: Meta,
    /// The domain value.
    pub spec: T,
}

impl<T> std::ops::Deref for Config<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.spec
    }
}

/// Settings the webhook rules depend on.
#[derive(Debug, Clone)]
pub struct ValidationContext {
    /// The DNS suffix of service names (`cluster.local`).
    pub domain_suffix: String,
    /// The mesh config.
    pub mesh: Arc<MeshConfig>,
}

impl Default for ValidationContext {
    fn default() -> Self {
        ValidationContext {
            domain_suffix: "cluster.local".into(),
            mesh: Arc::new(MeshConfig::default()),
        }
    }
}

/// The conversion context: where we are and what we found.
pub(crate) struct Cx<'a> {
    pub path: FieldPath,
    pub diags: Vec<Diagnostic>,
    /// The namespace of the object being converted.
    pub namespace: &'a str,
    pub vcx: &'a ValidationContext,
}

impl<'a> Cx<'a> {
    pub fn new(namespace: &'a str, vcx: &'a ValidationContext) -> Self {
        let mut path = FieldPath::root();
        path.push_field("spec");
        Cx {
            path,
            diags: Vec::new(),
            namespace,
            vcx,
        }
    }

    pub fn domain(&self) -> &'a str {
        &self.vcx.domain_suffix
    }

    /// Resolves a host written in this object's namespace (HOST-1).
    pub fn resolve(&self, host: &str) -> Hostname {
        Hostname::resolve(host, self.namespace, self.domain())
    }

    pub fn error(&mut self, code: &'static str, msg: impl Into<String>) {
        self.diags
            .push(Diagnostic::new(Severity::Error, code, msg).at(self.path.clone()));
    }

    pub fn warn(&mut self, code: &'static str, msg: impl Into<String>) {
        self.diags
            .push(Diagnostic::new(Severity::Warning, code, msg).at(self.path.clone()));
    }

    /// Reports `r`'s error, if any, under `code`.
    pub fn check(&mut self, code: &'static str, r: Result<(), String>) -> bool {
        match r {
            Ok(()) => true,
            Err(m) => {
                self.error(code, m);
                false
            }
        }
    }

    pub fn field<R>(&mut self, name: &'static str, f: impl FnOnce(&mut Self) -> R) -> R {
        self.path.push_field(name);
        let r = f(self);
        self.path.pop();
        r
    }

    pub fn index<R>(&mut self, i: usize, f: impl FnOnce(&mut Self) -> R) -> R {
        self.path.push_index(i);
        let r = f(self);
        self.path.pop();
        r
    }

    pub fn key<R>(&mut self, k: &str, f: impl FnOnce(&mut Self) -> R) -> R {
        self.path.push_key(k);
        let r = f(self);
        self.path.pop();
        r
    }
}

/// Every kind's validated value.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum Object {
    /// A VirtualService.
    VirtualService(Arc<Config<crate::networking::VirtualService>>),
    /// A DestinationRule.
    DestinationRule(Arc<Config<crate::networking::DestinationRule>>),
    /// A Gateway.
    Gateway(Arc<Config<crate::networking::Gateway>>),
    /// A ServiceEntry.
    ServiceEntry(Arc<Config<crate::networking::ServiceEntry>>),
    /// A Sidecar.
    Sidecar(Arc<Config<crate::networking::Sidecar>>),
    /// A WorkloadEntry.
    WorkloadEntry(Arc<Config<crate::networking::WorkloadEntry>>),
    /// A PeerAuthentication.
    PeerAuthentication(Arc<Config<crate::security::PeerAuthentication>>),
    /// A RequestAuthentication.
    RequestAuthentication(Arc<Config<crate::security::RequestAuthentication>>),
    /// An AuthorizationPolicy.
    AuthorizationPolicy(Arc<Config<crate::security::AuthorizationPolicy>>),
    /// A kind kept as its validated wire spec (WorkloadGroup, EnvoyFilter,
    /// ProxyConfig, Telemetry, WasmPlugin, TrafficExtension).
    Other(Arc<Config<IstioSpec>>),
    /// A Kubernetes object.
    Kube(Arc<Config<crate::kube::KubeObject>>),
}

impl Object {
    /// The metadata.
    pub fn meta(&self) -> &Meta {
        match self {
            Object::VirtualService(c) => &c.meta,
            Object::DestinationRule(c) => &c.meta,
            Object::Gateway(c) => &c.meta,
            Object::ServiceEntry(c) => &c.meta,
            Object::Sidecar(c) => &c.meta,
            Object::WorkloadEntry(c) => &c.meta,
            Object::PeerAuthentication(c) => &c.meta,
            Object::RequestAuthentication(c) => &c.meta,
            Object::AuthorizationPolicy(c) => &c.meta,
            Object::Other(c) => &c.meta,
            Object::Kube(c) => &c.meta,
        }
    }

    /// The kind.
    pub fn kind(&self) -> Kind {
        self.meta().key.kind
    }

    /// Whether two objects say the same thing: equal metadata and spec.
    /// Where an object was read from ([`Meta::origin`]) is not compared:
    /// moving a document within its file changes no configuration.
    pub fn same_content(&self, other: &Object) -> bool {
        fn same<T: PartialEq>(a: &Arc<Config<T>>, b: &Arc<Config<T>>) -> bool {
            Arc::ptr_eq(a, b) || (a.meta.same_content(&b.meta) && a.spec == b.spec)
        }
        match (self, other) {
            (Object::VirtualService(a), Object::VirtualService(b)) => same(a, b),
            (Object::DestinationRule(a), Object::DestinationRule(b)) => same(a, b),
            (Object::Gateway(a), Object::Gateway(b)) => same(a, b),
            (Object::ServiceEntry(a), Object::ServiceEntry(b)) => same(a, b),
            (Object::Sidecar(a), Object::Sidecar(b)) => same(a, b),
            (Object::WorkloadEntry(a), Object::WorkloadEntry(b)) => same(a, b),
            (Object::PeerAuthentication(a), Object::PeerAuthentication(b)) => same(a, b),
            (Object::RequestAuthentication(a), Object::RequestAuthentication(b)) => same(a, b),
            (Object::AuthorizationPolicy(a), Object::AuthorizationPolicy(b)) => same(a, b),
            (Object::Other(a), Object::Other(b)) => same(a, b),
            (Object::Kube(a), Object::Kube(b)) => same(a, b),
            _ => false,
        }
    }
}

/// The result of [`convert`].
#[derive(Debug, Clone)]
pub struct Converted {
    /// The value, when no error was found.
    pub object: Option<Object>,
    /// Errors and warnings, with field paths (lines are filled in by
    /// [`crate::parse::Source::locate`]).
    pub diagnostics: Vec<Diagnostic>,
}

/// Validates a resource and converts it to its domain value.
///
/// ```
/// use mesh_model::config::{convert, ValidationContext};
/// use mesh_model::parse::{parse_str, ParseOptions};
/// let yaml = "apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: {name: r, namespace: ns}\nspec:\n  hosts: [r]\n  http:\n  - route:\n    - {destination: {host: r}, weight: -1}\n";
/// let parsed = parse_str("r.yaml", yaml, &ParseOptions::default());
/// let c = convert(&parsed.resources[0], &ValidationContext::default());
/// assert!(c.object.is_none());
/// assert_eq!(c.diagnostics[0].code, "VAL-VS-7");
/// assert_eq!(c.diagnostics[0].path.to_string(), "spec.http[0].route[0].weight");
/// ```
pub fn convert(r: &Resource, vcx: &ValidationContext) -> Converted {
    let meta = Meta::from_resource(r);
    let ns = meta.key.namespace.clone();
    let mut cx = Cx::new(&ns, vcx);
    validate_meta(r, &mut cx);
    let object = match &r.body {
        Body::Istio { spec, .. } => match spec {
            IstioSpec::VirtualService(s) => {
                let v = crate::networking::VirtualService::convert(s, &mut cx);
                Object::VirtualService(Arc::new(Config { meta, spec: v }))
            }
            IstioSpec::DestinationRule(s) => {
                let v = crate::networking::DestinationRule::convert(s, &mut cx);
                Object::DestinationRule(Arc::new(Config { meta, spec: v }))
            }
            IstioSpec::Gateway(s) => {
                let v = crate::networking::Gateway::convert(s, &r.metadata, &mut cx);
                Object::Gateway(Arc::new(Config { meta, spec: v }))
            }
            IstioSpec::ServiceEntry(s) => {
                let v = crate::networking::ServiceEntry::convert(s, &meta.labels, &mut cx);
                Object::ServiceEntry(Arc::new(Config { meta, spec: v }))
            }
            IstioSpec::Sidecar(s) => {
                let v = crate::networking::Sidecar::convert(s, &mut cx);
                Object::Sidecar(Arc::new(Config { meta, spec: v }))
            }
            IstioSpec::WorkloadEntry(s) => {
                let v = crate::networking::WorkloadEntry::convert(s, &mut cx);
                Object::WorkloadEntry(Arc::new(Config { meta, spec: v }))
            }
            IstioSpec::PeerAuthentication(s) => {
                let v = crate::security::PeerAuthentication::convert(s, &meta, &mut cx);
                Object::PeerAuthentication(Arc::new(Config { meta, spec: v }))
            }
            IstioSpec::RequestAuthentication(s) => {
                let v = crate::security::RequestAuthentication::convert(s, &mut cx);
                Object::RequestAuthentication(Arc::new(Config { meta, spec: v }))
            }
            IstioSpec::AuthorizationPolicy(s) => {
                let v = crate::security::AuthorizationPolicy::convert(s, &meta, &mut cx);
                Object::AuthorizationPolicy(Arc::new(Config { meta, spec: v }))
            }
            other => {
                crate::networking::other::validate(other, &mut cx);
                Object::Other(Arc::new(Config {
                    meta,
                    spec: other.clone(),
                }))
            }
        },
        body => {
            let Kind::Kube(kind) = r.kind else {
                unreachable!("Kubernetes bodies have Kubernetes kinds")
            };
            let v = crate::kube::KubeObject::convert(kind, body, &r.metadata, &mut cx);
            Object::Kube(Arc::new(Config { meta, spec: v }))
        }
    };
    let subject = r.subject();
    let mut diagnostics = cx.diags;
    for d in &mut diagnostics {
        *d = std::mem::replace(d, Diagnostic::error("", ""))
            .in_origin(&r.origin)
            .about(&subject);
    }
    let ok = !diagnostics.iter().any(Diagnostic::is_error);
    Converted {
        object: ok.then_some(object),
        diagnostics,
    }
}

/// Rules on metadata every kind shares: the `istio.io/dry-run` annotation
/// (VAL-G1) and the object name.
fn validate_meta(r: &Resource, cx: &mut Cx<'_>) {
    let saved = std::mem::replace(&mut cx.path, FieldPath::root());
    if let Some(v) = r.annotations().get("istio.io/dry-run") {
        cx.path = FieldPath::root()
            .field("metadata")
            .field("annotations")
            .key("istio.io/dry-run");
        let (ns, name) = (r.namespace(), r.name());
        match &r.body {
            Body::Istio {
                spec: IstioSpec::AuthorizationPolicy(ap),
                ..
            } => {
                use crate::wire::security::Action;
                let action = ap.action.unwrap_or(Action::Allow);
                if !matches!(action, Action::Allow | Action::Deny) {
                    cx.error(
                        "VAL-G1",
                        format!("the annotation istio.io/dry-run currently only supports action ALLOW/DENY, found action {action} in {ns}/{name}"),
                    );
                } else if crate::validation::parse_go_bool(v).is_none() {
                    cx.error(
                        "VAL-G1",
                        format!("{ns}/{name} has annotation istio.io/dry-run with invalid value ({v}): strconv.ParseBool: parsing {v:?}: invalid syntax"),
                    );
                }
            }
            Body::Istio { .. } => cx.error(
                "VAL-G1",
                format!(
                    "{ns}/{name} has unsupported annotation istio.io/dry-run, please remove the annotation"
                ),
            ),
            _ => {}
        }
    }
    if let Kind::Istio(k) = r.kind {
        // Istio config names are DNS-1123 subdomains.
        let name = r.name();
        let valid = name.len() <= 253 && name.split('.').all(crate::validation::is_dns1123_label);
        if !valid && k != IstioKind::EnvoyFilter {
            cx.path = FieldPath::root().field("metadata").field("name");
            cx.error(
                "VAL-NAME",
                format!("invalid name {name:?}: must be a DNS-1123 subdomain"),
            );
        }
    }
    cx.path = saved;
}

/// Converts every resource, returning the validated objects and every
/// diagnostic (errors reject only their own resource).
pub fn convert_all<'r>(
    resources: impl IntoIterator<Item = &'r Resource>,
    vcx: &ValidationContext,
) -> (Vec<Object>, Vec<Diagnostic>) {
    let mut objects = Vec::new();
    let mut diags = Vec::new();
    for r in resources {
        let c = convert(r, vcx);
        objects.extend(c.object);
        diags.extend(c.diagnostics);
    }
    (objects, diags)
}
