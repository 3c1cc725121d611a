//! Test support for the mesh crates: a small typed description of a mesh
//! ([`Mesh`]) that renders to the Istio and Kubernetes YAML `mesh-model`
//! loads, proptest strategies that generate such meshes ([`strategy`]) and
//! requests biased toward the edges of their matches ([`requests`]), and a
//! greedy shrinker's candidate lists ([`shrink`]).
//!
//! Every generated mesh is valid: the strategies construct valid resources
//! and [`strategy::meshes`] also filters on `mesh-model` validation, so a
//! property test never spends its cases on configurations istiod would
//! reject.
//!
//! It deliberately does **not** evaluate anything: deciding what a request
//! does is the job of `mesh-route` and `mesh-authz` (and of a real Envoy
//! running what `mesh-xds` compiles). It does no I/O.
//!
//! ```
//! use mesh_testkit::{Bindings, strategy};
//! use proptest::strategy::{Strategy, ValueTree};
//! use proptest::test_runner::TestRunner;
//! let mut runner = TestRunner::deterministic();
//! let mesh = strategy::meshes().new_tree(&mut runner).unwrap().current();
//! let yaml = mesh.to_yaml(&Bindings::default());
//! let loaded = mesh_model::load(&[("mesh.yaml", yaml.as_str())], &mesh.load_options());
//! assert!(loaded.diagnostics.iter().all(|d| !d.is_error()));
//! ```
//!
//! # API themes
//!
//! * The mesh lives in one namespace, [`NAMESPACE`]; the client sidecar is
//!   labelled `app: client`, the server workload (for authorization)
//!   `app: server`, and service workloads `app: <service>, version: <v>`.
//! * Where a proxy listens is not part of the mesh: [`Bindings`] supplies
//!   the addresses when rendering, so the same mesh runs anywhere.

pub mod requests;
pub mod shrink;
pub mod strategy;
mod yaml;

pub use requests::{HttpRequest, Target};

/// The namespace of every generated resource (but mesh-wide policies).
pub const NAMESPACE: &str = "mesh";
/// The root namespace, home of mesh-wide policies (RES-9).
pub const ROOT_NAMESPACE: &str = "istio-system";
/// Service ports the generators choose from.
pub const PORTS: [u16; 3] = [7070, 8080, 9080];
/// The server workload's inbound port (its Sidecar ingress listener).
pub const SERVER_PORT: u16 = 8000;
/// Service names the generators choose from.
pub const SERVICES: [&str; 3] = ["alpha", "beta", "gamma"];

/// A service with its ports and the versions of its workloads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Service {
    /// Short name, in [`NAMESPACE`].
    pub name: String,
    /// Service ports (HTTP), distinct.
    pub ports: Vec<u16>,
    /// One workload per version, labelled `version: <v>`.
    pub versions: Vec<String>,
}

impl Service {
    /// The Service as YAML in namespace `namespace` (its workloads are not
    /// included).
    pub fn to_yaml(&self, namespace: &str) -> String {
        yaml::service(self, namespace)
    }
}

/// An Istio `StringMatch`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StringMatch {
    /// `{exact: s}`.
    Exact(String),
    /// `{prefix: s}`.
    Prefix(String),
    /// `{regex: pattern}`, with a string the pattern fully matches.
    Regex {
        /// The RE2 pattern.
        pattern: String,
        /// A string it matches (for request generation).
        sample: String,
    },
    /// `{}`: presence (headers and query parameters only, VS-16).
    Presence,
}

/// One `HTTPMatchRequest`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct HttpMatch {
    /// `name`.
    pub name: Option<String>,
    /// `uri`.
    pub uri: Option<StringMatch>,
    /// `ignoreUriCase`.
    pub ignore_uri_case: bool,
    /// `scheme`.
    pub scheme: Option<StringMatch>,
    /// `method`.
    pub method: Option<StringMatch>,
    /// `authority`.
    pub authority: Option<StringMatch>,
    /// `headers`.
    pub headers: Vec<(String, StringMatch)>,
    /// `withoutHeaders`.
    pub without_headers: Vec<(String, StringMatch)>,
    /// `queryParams`.
    pub query_params: Vec<(String, StringMatch)>,
    /// `port`.
    pub port: Option<u16>,
}

/// One `HTTPRouteDestination`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Destination {
    /// A service short name.
    pub host: String,
    /// A subset name (possibly one no DestinationRule defines).
    pub subset: Option<String>,
    /// `destination.port.number`.
    pub port: Option<u16>,
    /// `weight`.
    pub weight: Option<u32>,
}

/// `HTTPRewrite`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rewrite {
    /// `uri`.
    pub uri: Option<String>,
    /// `authority`.
    pub authority: Option<String>,
}

/// `HTTPRedirect`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Redirect {
    /// `uri`.
    pub uri: Option<String>,
    /// `authority`.
    pub authority: Option<String>,
    /// `redirectCode`.
    pub code: Option<u16>,
}

/// What a route does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// `route` (with an optional `rewrite`).
    Route {
        /// Destinations.
        destinations: Vec<Destination>,
        /// `rewrite`.
        rewrite: Option<Rewrite>,
    },
    /// `redirect`.
    Redirect(Redirect),
    /// `directResponse`.
    DirectResponse {
        /// `status`.
        status: u16,
        /// `body.string`.
        body: String,
    },
}

/// Request header operations of a route (`headers.request`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct HeaderOps {
    /// `set`.
    pub set: Vec<(String, String)>,
    /// `add`.
    pub add: Vec<(String, String)>,
    /// `remove`.
    pub remove: Vec<String>,
}

/// One `HTTPRoute`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpRoute {
    /// `name`.
    pub name: Option<String>,
    /// `match` blocks (empty: match all).
    pub matches: Vec<HttpMatch>,
    /// The action.
    pub action: Action,
    /// Route-level request header operations.
    pub headers: Option<HeaderOps>,
}

/// A VirtualService (bound to the mesh unless `gateways` says otherwise).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VirtualService {
    /// `metadata.name`.
    pub name: String,
    /// `hosts` (service short names).
    pub hosts: Vec<String>,
    /// `gateways` as written; empty: the mesh. The generators leave it
    /// empty.
    pub gateways: Vec<String>,
    /// `http` routes.
    pub http: Vec<HttpRoute>,
}

impl VirtualService {
    /// The VirtualService as YAML in namespace `namespace`, created `age`
    /// minutes after the first of its kind (`creationTimestamp` orders
    /// VirtualServices, oldest first).
    pub fn to_yaml(&self, namespace: &str, age: usize) -> String {
        yaml::virtual_service(self, namespace, age)
    }
}

/// A DestinationRule whose subsets select `version: <subset>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DestinationRule {
    /// `metadata.name`.
    pub name: String,
    /// `host` (a service short name).
    pub host: String,
    /// Subset names (= version label values).
    pub subsets: Vec<String>,
}

/// An AuthorizationPolicy action.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthzAction {
    /// `ALLOW`.
    Allow,
    /// `DENY`.
    Deny,
    /// `AUDIT`.
    Audit,
    /// `CUSTOM` with a provider the mesh does not define (AZ-7).
    Custom,
}

/// `from[].source` or `to[].operation`: field name → values.
pub type Fields = Vec<(String, Vec<String>)>;

/// A `when` condition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Condition {
    /// `key`.
    pub key: String,
    /// `values`.
    pub values: Vec<String>,
    /// `notValues`.
    pub not_values: Vec<String>,
}

/// One AuthorizationPolicy rule.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Rule {
    /// `from[].source` field lists.
    pub from: Vec<Fields>,
    /// `to[].operation` field lists.
    pub to: Vec<Fields>,
    /// `when`.
    pub when: Vec<Condition>,
}

/// An AuthorizationPolicy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthorizationPolicy {
    /// `metadata.name`.
    pub name: String,
    /// [`NAMESPACE`] or [`ROOT_NAMESPACE`].
    pub namespace: String,
    /// Whether it selects `app: server` (else the whole namespace).
    pub selector: bool,
    /// `action`.
    pub action: AuthzAction,
    /// `istio.io/dry-run: "true"`.
    pub dry_run: bool,
    /// `rules`; `None` renders `spec` without rules (AZ-4).
    pub rules: Option<Vec<Rule>>,
}

/// A PeerAuthentication mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// `UNSET`.
    Unset,
    /// `DISABLE`.
    Disable,
    /// `PERMISSIVE`.
    Permissive,
    /// `STRICT`.
    Strict,
}

impl Mode {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Unset => "UNSET",
            Mode::Disable => "DISABLE",
            Mode::Permissive => "PERMISSIVE",
            Mode::Strict => "STRICT",
        }
    }
}

/// A PeerAuthentication.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerAuthentication {
    /// `metadata.name`.
    pub name: String,
    /// [`NAMESPACE`] or [`ROOT_NAMESPACE`].
    pub namespace: String,
    /// Whether it selects `app: server` (never in the root namespace).
    pub selector: bool,
    /// `mtls.mode`.
    pub mode: Mode,
    /// `portLevelMtls[SERVER_PORT]` (selector policies only, VAL-PA-1).
    pub port_level: Option<Mode>,
}

/// One generated mesh.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Mesh {
    /// Services.
    pub services: Vec<Service>,
    /// VirtualServices, oldest first.
    pub virtual_services: Vec<VirtualService>,
    /// DestinationRules.
    pub destination_rules: Vec<DestinationRule>,
    /// AuthorizationPolicies.
    pub authorization_policies: Vec<AuthorizationPolicy>,
    /// PeerAuthentications.
    pub peer_authentications: Vec<PeerAuthentication>,
    /// MeshConfig `outboundTrafficPolicy.mode: REGISTRY_ONLY`.
    pub registry_only: bool,
}

/// Where the proxies of a rendered mesh listen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bindings {
    /// The client sidecar's egress listeners bind here (one per service port).
    pub client_ip: String,
    /// The server sidecar's ingress listener binds here, on [`SERVER_PORT`].
    pub server_ip: String,
    /// The server application (`host:port`), the ingress `defaultEndpoint`.
    pub app_endpoint: String,
}

impl Default for Bindings {
    fn default() -> Self {
        Bindings {
            client_ip: "127.0.0.2".into(),
            server_ip: "127.0.0.3".into(),
            app_endpoint: "127.0.0.1:8081".into(),
        }
    }
}

impl Mesh {
    /// Every service port, sorted and distinct.
    pub fn ports(&self) -> Vec<u16> {
        let mut p: Vec<u16> = self
            .services
            .iter()
            .flat_map(|s| s.ports.iter().copied())
            .collect();
        p.sort_unstable();
        p.dedup();
        p
    }

    /// The service named `name`.
    pub fn service(&self, name: &str) -> Option<&Service> {
        self.services.iter().find(|s| s.name == name)
    }

    /// The MeshConfig as YAML, when it differs from the defaults.
    pub fn mesh_config_yaml(&self) -> Option<String> {
        self.registry_only
            .then(|| "outboundTrafficPolicy: {mode: REGISTRY_ONLY}\n".to_string())
    }

    /// Load options carrying [`mesh_config_yaml`](Self::mesh_config_yaml).
    pub fn load_options(&self) -> mesh_model::LoadOptions {
        mesh_model::LoadOptions {
            mesh: self
                .mesh_config_yaml()
                .and_then(|y| mesh_model::wire::mesh::MeshConfig::from_yaml(&y).ok()),
            ..mesh_model::LoadOptions::default()
        }
    }

    /// The mesh as multi-document YAML: services and their workloads, the
    /// client and server workloads with their Sidecars (bound per `b`),
    /// and every policy.
    pub fn to_yaml(&self, b: &Bindings) -> String {
        yaml::render(self, b)
    }
}
