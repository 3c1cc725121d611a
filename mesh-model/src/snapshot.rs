//! One mesh, indexed: an immutable view built once from validated objects.
//!
//! The [`Snapshot`] holds every validated object by kind, namespace and
//! name, each kind's objects in Istio's "oldest first" order (RES-8), the
//! namespaces and their labels, the MeshConfig, and the service registry
//! Istio derives from Kubernetes Services and ServiceEntries: services by
//! host with their ports and endpoints, and workloads by namespace with
//! their labels, service account and addresses.

use crate::config::{Config, Meta, Object};
use crate::host::{Hostname, service_fqdn};
use crate::kube::{KubeObject, TargetPort, Workload};
use crate::labels::{Labels, Selector};
use crate::networking::{
    DestinationRule, ExportTo, Gateway, ServiceEntry, Sidecar, VirtualService, WorkloadEntry,
};
use crate::protocol::Protocol;
use crate::resource::{IstioKind, Kind, KubeKind, ResourceKey};
use crate::security::{AuthorizationPolicy, PeerAuthentication, RequestAuthentication};
use crate::wire::mesh::MeshConfig;
use crate::wire::networking::{Location, Resolution};
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

/// A namespace of the mesh.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Namespace {
    /// The name.
    pub name: String,
    /// Its labels (empty when the inputs hold no Namespace object).
    pub labels: Labels,
    /// Whether a Namespace object was in the inputs.
    pub declared: bool,
}

/// A workload instance: a Pod, a controller's pod template, or a
/// WorkloadEntry.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct WorkloadInstance {
    /// The object it came from.
    pub key: ResourceKey,
    /// Labels.
    pub labels: Labels,
    /// Service account.
    pub service_account: String,
    /// Addresses (IPs, or a host name for a WorkloadEntry).
    pub addresses: Vec<String>,
    /// Whether it runs an Istio sidecar (explicit, else by the namespace's
    /// `istio-injection`/`istio.io/rev` label, else on when the namespace is
    /// not among the inputs).
    pub sidecar: bool,
    /// Named ports (container ports or WorkloadEntry ports).
    pub ports: Vec<(Option<String>, u16)>,
    /// Locality (`region/zone/subzone`).
    pub locality: Option<String>,
    /// Network.
    pub network: Option<String>,
    /// Load-balancing weight (WorkloadEntry).
    pub weight: Option<u32>,
    /// Annotations.
    pub annotations: Labels,
}

impl WorkloadInstance {
    /// The namespace.
    pub fn namespace(&self) -> &str {
        &self.key.namespace
    }

    /// The name.
    pub fn name(&self) -> &str {
        &self.key.name
    }

    /// The SPIFFE principal `td/ns/NS/sa/SA` of this workload.
    pub fn principal(&self, trust_domain: &str) -> String {
        format!(
            "{trust_domain}/ns/{}/sa/{}",
            self.key.namespace, self.service_account
        )
    }

    /// The port number for a target port (a number, or a port name).
    pub fn resolve_target_port(&self, t: &TargetPort) -> Option<u16> {
        match t {
            TargetPort::Number(n) => Some(*n),
            TargetPort::Name(name) => self
                .ports
                .iter()
                .find(|(n, _)| n.as_deref() == Some(name.as_str()))
                .map(|(_, p)| *p),
        }
    }
}

/// Where a registry service came from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub enum ServiceOrigin {
    /// A Kubernetes Service.
    Kubernetes,
    /// A ServiceEntry (its key).
    ServiceEntry(ResourceKey),
}

/// A service port.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ServicePort {
    /// Name.
    pub name: Option<String>,
    /// Number.
    pub number: u16,
    /// Protocol.
    pub protocol: Protocol,
    /// The workload port.
    pub target_port: TargetPort,
}

/// An endpoint of a registry service.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Endpoint {
    /// Address (IP or host name); `None` when the workload has none yet.
    pub address: Option<String>,
    /// The workload it belongs to, if any.
    pub workload: Option<ResourceKey>,
    /// Labels (subset selection, DR-3).
    pub labels: Labels,
    /// Service account.
    pub service_account: Option<String>,
    /// Whether the endpoint runs an Istio sidecar (auto mTLS, DR-9).
    pub sidecar: bool,
    /// Per service port number, the endpoint port.
    pub ports: BTreeMap<u16, u16>,
    /// Locality.
    pub locality: Option<String>,
    /// Network.
    pub network: Option<String>,
    /// Weight.
    pub weight: Option<u32>,
}

/// A service of the registry: a Kubernetes Service or one host of a
/// ServiceEntry.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Service {
    /// The host.
    pub hostname: Hostname,
    /// The namespace of the defining object.
    pub namespace: String,
    /// The defining object's name.
    pub name: String,
    /// Where it came from.
    pub origin: ServiceOrigin,
    /// Ports.
    pub ports: Vec<ServicePort>,
    /// VIPs.
    pub addresses: Vec<String>,
    /// Resolution (Kubernetes services: STATIC, headless: NONE).
    pub resolution: Resolution,
    /// Whether the service is outside the mesh (no auto mTLS, SE-2).
    pub mesh_external: bool,
    /// Whether the Kubernetes service is headless.
    pub headless: bool,
    /// Visibility.
    pub export_to: ExportTo,
    /// Endpoints.
    pub endpoints: Vec<Endpoint>,
    /// The workload selector (a Kubernetes Service's `selector`, a
    /// ServiceEntry's `workloadSelector`); `None` when endpoints are listed.
    pub selector: Option<Labels>,
    /// Creation time of the defining object.
    pub creation: Option<i64>,
}

impl Service {
    /// The port numbered `n`.
    pub fn port(&self, n: u16) -> Option<&ServicePort> {
        self.ports.iter().find(|p| p.number == n)
    }

    /// The endpoints whose labels contain `subset`'s (all when `None`).
    pub fn endpoints_for<'a>(
        &'a self,
        subset: Option<&'a Labels>,
    ) -> impl Iterator<Item = &'a Endpoint> + 'a {
        self.endpoints.iter().filter(move |e| {
            subset.is_none_or(|l| l.iter().all(|(k, v)| e.labels.get(k) == Some(v)))
        })
    }

    /// The service accounts of its endpoints, sorted and unique.
    pub fn service_accounts(&self) -> Vec<String> {
        let mut v: Vec<String> = self
            .endpoints
            .iter()
            .filter_map(|e| e.service_account.clone())
            .collect();
        v.sort();
        v.dedup();
        v
    }
}

/// Options for building a snapshot.
#[derive(Debug, Clone, Default)]
pub struct SnapshotOptions {
    /// The mesh config; when `None`, the `mesh` key of the `istio`
    /// ConfigMap in the root namespace is used if the inputs have one.
    pub mesh: Option<MeshConfig>,
    /// The DNS suffix (`cluster.local`).
    pub domain_suffix: Option<String>,
}

/// One mesh, indexed. Cheap to share (`Arc` inside); never mutated.
#[derive(Debug, Clone)]
pub struct Snapshot {
    inner: Arc<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    mesh: Arc<MeshConfig>,
    domain_suffix: String,
    objects: BTreeMap<ResourceKey, Object>,
    virtual_services: Vec<Arc<Config<VirtualService>>>,
    destination_rules: Vec<Arc<Config<DestinationRule>>>,
    gateways: Vec<Arc<Config<Gateway>>>,
    service_entries: Vec<Arc<Config<ServiceEntry>>>,
    sidecars: Vec<Arc<Config<Sidecar>>>,
    workload_entries: Vec<Arc<Config<WorkloadEntry>>>,
    peer_authentications: Vec<Arc<Config<PeerAuthentication>>>,
    request_authentications: Vec<Arc<Config<RequestAuthentication>>>,
    authorization_policies: Vec<Arc<Config<AuthorizationPolicy>>>,
    namespaces: BTreeMap<String, Namespace>,
    services: Vec<Arc<Service>>,
    /// Looked up, never walked: a hash map (route compiles look up every
    /// destination's service), with foldhash's per-process random seed
    /// rather than SipHash, which was about half of a lookup's
    /// instructions.
    services_by_host: foldhash::HashMap<Hostname, Vec<usize>>,
    workloads: Vec<Arc<WorkloadInstance>>,
    workloads_by_namespace: BTreeMap<String, Vec<usize>>,
}

impl Default for Snapshot {
    fn default() -> Self {
        Snapshot::build(Vec::new(), &SnapshotOptions::default())
    }
}

fn sort_by_age<T>(v: &mut [Arc<Config<T>>]) {
    v.sort_by(|a, b| a.meta.age_cmp(&b.meta));
}

/// `service_visible` over one host's services, oldest first: the first
/// visible to `namespace`, unless one in `namespace` itself is (HOST-6).
fn pick_visible<'a>(
    services: impl Iterator<Item = &'a Arc<Service>>,
    namespace: &str,
    mesh: &MeshConfig,
) -> Option<&'a Arc<Service>> {
    let defaults = &mesh.default_service_export_to;
    let mut visible =
        services.filter(|s| s.export_to.visible_to(namespace, &s.namespace, defaults));
    let first = visible.next()?;
    if first.namespace == namespace {
        return Some(first);
    }
    Some(visible.find(|s| s.namespace == namespace).unwrap_or(first))
}

impl Snapshot {
    /// Builds a snapshot from validated objects. Later objects with the same
    /// kind, namespace and name replace earlier ones.
    pub fn build(objects: Vec<Object>, opts: &SnapshotOptions) -> Snapshot {
        let mut inner = Inner {
            domain_suffix: opts
                .domain_suffix
                .clone()
                .unwrap_or_else(|| "cluster.local".into()),
            ..Inner::default()
        };
        for o in objects {
            inner.objects.insert(o.meta().key.clone(), o);
        }
        // The mesh config: given, or from the `istio` ConfigMap.
        let mesh = opts.mesh.clone().unwrap_or_else(|| {
            let root = "istio-system";
            inner
                .objects
                .values()
                .find_map(|o| match o {
                    Object::Kube(c)
                        if c.meta.key.kind == Kind::Kube(KubeKind::ConfigMap)
                            && c.meta.key.name == "istio"
                            && c.meta.key.namespace == root =>
                    {
                        match &c.spec {
                            KubeObject::ConfigMap(d) => {
                                d.get("mesh").and_then(|m| MeshConfig::from_yaml(m).ok())
                            }
                            _ => None,
                        }
                    }
                    _ => None,
                })
                .unwrap_or_default()
        });
        inner.mesh = Arc::new(mesh);
        let mut kube_services = Vec::new();
        let mut kube_workloads = Vec::new();
        for o in inner.objects.values() {
            match o {
                Object::VirtualService(c) => inner.virtual_services.push(c.clone()),
                Object::DestinationRule(c) => inner.destination_rules.push(c.clone()),
                Object::Gateway(c) => inner.gateways.push(c.clone()),
                Object::ServiceEntry(c) => inner.service_entries.push(c.clone()),
                Object::Sidecar(c) => inner.sidecars.push(c.clone()),
                Object::WorkloadEntry(c) => inner.workload_entries.push(c.clone()),
                Object::PeerAuthentication(c) => inner.peer_authentications.push(c.clone()),
                Object::RequestAuthentication(c) => inner.request_authentications.push(c.clone()),
                Object::AuthorizationPolicy(c) => inner.authorization_policies.push(c.clone()),
                Object::Kube(c) => match &c.spec {
                    KubeObject::Namespace => {
                        inner.namespaces.insert(
                            c.meta.key.name.clone(),
                            Namespace {
                                name: c.meta.key.name.clone(),
                                labels: c.meta.labels.clone(),
                                declared: true,
                            },
                        );
                    }
                    KubeObject::Service(s) => kube_services.push((c.meta.clone(), s.clone())),
                    KubeObject::Workload(w) => kube_workloads.push((c.meta.clone(), w.clone())),
                    _ => {}
                },
                Object::Other(_) => {}
            }
        }
        sort_by_age(&mut inner.virtual_services);
        sort_by_age(&mut inner.destination_rules);
        sort_by_age(&mut inner.gateways);
        sort_by_age(&mut inner.service_entries);
        sort_by_age(&mut inner.sidecars);
        sort_by_age(&mut inner.workload_entries);
        sort_by_age(&mut inner.peer_authentications);
        sort_by_age(&mut inner.request_authentications);
        sort_by_age(&mut inner.authorization_policies);
        // Every namespace any object lives in exists.
        let used: Vec<String> = inner
            .objects
            .keys()
            .filter(|k| !k.namespace.is_empty())
            .map(|k| k.namespace.clone())
            .collect();
        for ns in used {
            inner.namespaces.entry(ns.clone()).or_insert(Namespace {
                name: ns,
                labels: Labels::new(),
                declared: false,
            });
        }
        inner.build_workloads(kube_workloads);
        inner.build_services(kube_services);
        Snapshot {
            inner: Arc::new(inner),
        }
    }

    /// The mesh config.
    pub fn mesh(&self) -> &MeshConfig {
        &self.inner.mesh
    }

    /// The mesh config, shared.
    pub fn mesh_arc(&self) -> Arc<MeshConfig> {
        self.inner.mesh.clone()
    }

    /// The root namespace.
    pub fn root_namespace(&self) -> &str {
        self.inner.mesh.root_namespace()
    }

    /// The trust domain.
    pub fn trust_domain(&self) -> &str {
        self.inner.mesh.trust_domain()
    }

    /// The DNS suffix of service names.
    pub fn domain_suffix(&self) -> &str {
        &self.inner.domain_suffix
    }

    /// The keys of the objects that differ between `before` and this
    /// snapshot: added, removed, or changed in metadata or spec
    /// ([`Object::same_content`]). `None` when something every object
    /// depends on differs: the mesh config or the domain suffix.
    ///
    /// This is what a server hands to
    /// `mesh_xds::Compiler::recompile` after a change, as Istio's push
    /// requests carry the keys of the configs that were updated.
    ///
    /// ```
    /// use mesh_model::{load, LoadOptions};
    /// let a = "apiVersion: v1\nkind: Service\nmetadata: {name: a, namespace: ns}\nspec: {ports: [{port: 80}]}\n";
    /// let b = "apiVersion: v1\nkind: Service\nmetadata: {name: b, namespace: ns}\nspec: {ports: [{port: 80}]}\n";
    /// let b2 = "apiVersion: v1\nkind: Service\nmetadata: {name: b, namespace: ns}\nspec: {ports: [{port: 81}]}\n";
    /// let before = load(&[("a.yaml", a), ("b.yaml", b)], &LoadOptions::default()).snapshot;
    /// let after = load(&[("a.yaml", a), ("b.yaml", b2)], &LoadOptions::default()).snapshot;
    /// let changed = after.changed_since(&before).unwrap();
    /// let names: Vec<&str> = changed.iter().map(|k| k.name.as_str()).collect();
    /// assert_eq!(names, ["b"]);
    /// ```
    pub fn changed_since(&self, before: &Snapshot) -> Option<BTreeSet<ResourceKey>> {
        if Arc::ptr_eq(&self.inner, &before.inner) {
            return Some(BTreeSet::new());
        }
        if self.inner.mesh != before.inner.mesh
            || self.inner.domain_suffix != before.inner.domain_suffix
        {
            return None;
        }
        // Both maps are sorted by key: walk them side by side.
        let mut out = BTreeSet::new();
        let mut old = before.inner.objects.iter().peekable();
        let mut new = self.inner.objects.iter().peekable();
        loop {
            match (old.peek(), new.peek()) {
                (None, None) => break,
                (Some((k, _)), None) => {
                    out.insert((*k).clone());
                    old.next();
                }
                (None, Some((k, _))) => {
                    out.insert((*k).clone());
                    new.next();
                }
                (Some((ko, o)), Some((kn, n))) => match ko.cmp(kn) {
                    std::cmp::Ordering::Less => {
                        out.insert((*ko).clone());
                        old.next();
                    }
                    std::cmp::Ordering::Greater => {
                        out.insert((*kn).clone());
                        new.next();
                    }
                    std::cmp::Ordering::Equal => {
                        if !o.same_content(n) {
                            out.insert((*ko).clone());
                        }
                        old.next();
                        new.next();
                    }
                },
            }
        }
        Some(out)
    }

    /// Every object, by key.
    pub fn objects(&self) -> impl Iterator<Item = &Object> {
        self.inner.objects.values()
    }

    /// The object with `key`.
    pub fn get(&self, key: &ResourceKey) -> Option<&Object> {
        self.inner.objects.get(key)
    }

    /// The number of objects.
    pub fn len(&self) -> usize {
        self.inner.objects.len()
    }

    /// Whether the snapshot holds no object.
    pub fn is_empty(&self) -> bool {
        self.inner.objects.is_empty()
    }

    /// VirtualServices, oldest first.
    pub fn virtual_services(&self) -> impl Iterator<Item = &Arc<Config<VirtualService>>> {
        self.inner.virtual_services.iter()
    }

    /// The VirtualService `namespace/name`.
    pub fn virtual_service(
        &self,
        namespace: &str,
        name: &str,
    ) -> Option<&Arc<Config<VirtualService>>> {
        match self.object(IstioKind::VirtualService, namespace, name)? {
            Object::VirtualService(c) => Some(c),
            _ => None,
        }
    }

    fn object(&self, kind: IstioKind, namespace: &str, name: &str) -> Option<&Object> {
        self.inner.objects.get(&ResourceKey {
            kind: Kind::Istio(kind),
            namespace: namespace.to_string(),
            name: name.to_string(),
        })
    }

    /// DestinationRules, oldest first.
    pub fn destination_rules(&self) -> impl Iterator<Item = &Arc<Config<DestinationRule>>> {
        self.inner.destination_rules.iter()
    }

    /// Gateways, oldest first.
    pub fn gateways(&self) -> impl Iterator<Item = &Arc<Config<Gateway>>> {
        self.inner.gateways.iter()
    }

    /// The Gateway `namespace/name`.
    pub fn gateway(&self, namespace: &str, name: &str) -> Option<&Arc<Config<Gateway>>> {
        match self.object(IstioKind::Gateway, namespace, name)? {
            Object::Gateway(c) => Some(c),
            _ => None,
        }
    }

    /// ServiceEntries, oldest first.
    pub fn service_entries(&self) -> impl Iterator<Item = &Arc<Config<ServiceEntry>>> {
        self.inner.service_entries.iter()
    }

    /// Sidecars, oldest first.
    pub fn sidecars(&self) -> impl Iterator<Item = &Arc<Config<Sidecar>>> {
        self.inner.sidecars.iter()
    }

    /// WorkloadEntries, oldest first.
    pub fn workload_entries(&self) -> impl Iterator<Item = &Arc<Config<WorkloadEntry>>> {
        self.inner.workload_entries.iter()
    }

    /// PeerAuthentications, oldest first.
    pub fn peer_authentications(&self) -> impl Iterator<Item = &Arc<Config<PeerAuthentication>>> {
        self.inner.peer_authentications.iter()
    }

    /// RequestAuthentications, oldest first.
    pub fn request_authentications(
        &self,
    ) -> impl Iterator<Item = &Arc<Config<RequestAuthentication>>> {
        self.inner.request_authentications.iter()
    }

    /// AuthorizationPolicies, oldest first.
    pub fn authorization_policies(
        &self,
    ) -> impl Iterator<Item = &Arc<Config<AuthorizationPolicy>>> {
        self.inner.authorization_policies.iter()
    }

    /// Namespaces (declared or used by some object).
    pub fn namespaces(&self) -> impl Iterator<Item = &Namespace> {
        self.inner.namespaces.values()
    }

    /// The namespace `name`.
    pub fn namespace(&self, name: &str) -> Option<&Namespace> {
        self.inner.namespaces.get(name)
    }

    /// Every registry service.
    pub fn services(&self) -> impl Iterator<Item = &Arc<Service>> {
        self.inner.services.iter()
    }

    /// The services for `host` (several when a Kubernetes Service and
    /// ServiceEntries, or ServiceEntries of several namespaces, define it),
    /// oldest first.
    pub fn services_for_host(
        &self,
        host: &Hostname,
    ) -> impl Iterator<Item = &Arc<Service>> + Clone {
        self.inner
            .services_by_host
            .get(host)
            .into_iter()
            .flatten()
            .map(|i| &self.inner.services[*i])
    }

    /// The service for `host` visible from `namespace` (the first visible
    /// one: the own namespace's definition first, then oldest).
    pub fn service_visible(&self, host: &Hostname, namespace: &str) -> Option<&Arc<Service>> {
        pick_visible(self.services_for_host(host), namespace, self.mesh())
    }

    /// The service for `host` that a proxy in `namespace` routes to from
    /// configuration written in `config_namespace` (Istio's
    /// `buildNameToServiceMapForHTTPRoutes` on gateways): the definition in
    /// `config_namespace` when the proxy sees it, else the one
    /// [`Snapshot::service_visible`] picks. One lookup of the host.
    ///
    /// ```
    /// use mesh_model::{load, LoadOptions};
    /// let se = |ns: &str| format!("apiVersion: networking.istio.io/v1\nkind: ServiceEntry\nmetadata: {{name: api, namespace: {ns}}}\nspec: {{hosts: [api.example.com], ports: [{{number: 80, name: http, protocol: HTTP}}], resolution: DNS}}\n");
    /// let snapshot = load(&[("a.yaml", &se("a")), ("b.yaml", &se("b"))], &LoadOptions::default()).snapshot;
    /// let host = "api.example.com".into();
    /// let pick = |config_ns| snapshot.service_for_config(&host, config_ns, "gw").map(|s| s.namespace.as_str());
    /// assert_eq!(pick("b"), Some("b"));
    /// assert_eq!(pick("c"), snapshot.service_visible(&host, "gw").map(|s| s.namespace.as_str()));
    /// ```
    pub fn service_for_config(
        &self,
        host: &Hostname,
        config_namespace: &str,
        namespace: &str,
    ) -> Option<&Arc<Service>> {
        let defaults = &self.mesh().default_service_export_to;
        let found = self.services_for_host(host);
        found
            .clone()
            .find(|s| {
                s.namespace == config_namespace
                    && s.export_to.visible_to(namespace, &s.namespace, defaults)
            })
            .or_else(|| pick_visible(found, namespace, self.mesh()))
    }

    /// For every host, in host order, the service [`Snapshot::service_visible`]
    /// picks for `namespace` (hosts with none visible are skipped), found
    /// in one pass over the services rather than a lookup per host.
    ///
    /// ```
    /// use mesh_model::{load, LoadOptions};
    /// let se = |ns: &str, export: &str| format!("apiVersion: networking.istio.io/v1\nkind: ServiceEntry\nmetadata: {{name: api, namespace: {ns}}}\nspec: {{hosts: [api.example.com], exportTo: [{export}], ports: [{{number: 80, name: http, protocol: HTTP}}], resolution: DNS}}\n");
    /// let snapshot = load(
    ///     &[("a.yaml", &se("a", "'*'")), ("b.yaml", &se("b", "'.'"))],
    ///     &LoadOptions::default(),
    /// )
    /// .snapshot;
    /// let pick = |ns| snapshot.services_visible_to(ns).map(|s| s.namespace.clone()).collect::<Vec<_>>();
    /// assert_eq!(pick("b"), ["b"]); // its own namespace's first
    /// assert_eq!(pick("c"), ["a"]); // `b` exports to itself only
    /// for ns in ["a", "b", "c"] {
    ///     let host = "api.example.com".into();
    ///     assert_eq!(snapshot.services_visible_to(ns).next(), snapshot.service_visible(&host, ns));
    /// }
    /// ```
    pub fn services_visible_to<'a, 'n>(
        &'a self,
        namespace: &'n str,
    ) -> impl Iterator<Item = &'a Arc<Service>> + use<'a, 'n> {
        // Services are sorted by host: each host's services are one run.
        let all = &self.inner.services;
        let mut at = 0;
        std::iter::from_fn(move || {
            while at < all.len() {
                let host = &all[at].hostname;
                let end = at + all[at..].iter().take_while(|s| &s.hostname == host).count();
                let run = &all[at..end];
                at = end;
                if let Some(s) = pick_visible(run.iter(), namespace, self.mesh()) {
                    return Some(s);
                }
            }
            None
        })
    }

    /// Every workload.
    pub fn workloads(&self) -> impl Iterator<Item = &Arc<WorkloadInstance>> {
        self.inner.workloads.iter()
    }

    /// Workloads in `namespace`.
    pub fn workloads_in(&self, namespace: &str) -> impl Iterator<Item = &Arc<WorkloadInstance>> {
        self.inner
            .workloads_by_namespace
            .get(namespace)
            .into_iter()
            .flatten()
            .map(|i| &self.inner.workloads[*i])
    }

    /// The workload `namespace/name` (a Pod, controller or WorkloadEntry).
    pub fn workload(&self, namespace: &str, name: &str) -> Option<&Arc<WorkloadInstance>> {
        self.workloads_in(namespace).find(|w| w.key.name == name)
    }

    /// Workloads in `namespace` selected by `selector`.
    pub fn workloads_matching<'a>(
        &'a self,
        namespace: &'a str,
        selector: &'a Selector,
    ) -> impl Iterator<Item = &'a Arc<WorkloadInstance>> + 'a {
        self.workloads_in(namespace)
            .filter(move |w| selector.matches(&w.labels))
    }

    /// Whether a workload in `namespace` with these annotations runs a
    /// sidecar when it does not say so itself.
    fn injected(&self, namespace: &str) -> bool {
        injected(&self.inner.namespaces, namespace)
    }

    /// Metadata of every object of `kind`, oldest first.
    pub fn metas_of(&self, kind: IstioKind) -> Vec<&Meta> {
        let mut v: Vec<&Meta> = self
            .inner
            .objects
            .values()
            .filter(|o| o.kind() == Kind::Istio(kind))
            .map(Object::meta)
            .collect();
        v.sort_by(|a, b| a.age_cmp(b));
        v
    }

    /// Whether workloads of `namespace` get a sidecar by default.
    pub fn namespace_injected(&self, namespace: &str) -> bool {
        self.injected(namespace)
    }
}

fn injected(namespaces: &BTreeMap<String, Namespace>, namespace: &str) -> bool {
    match namespaces.get(namespace) {
        Some(ns) if ns.declared => {
            ns.labels.get("istio-injection").map(String::as_str) == Some("enabled")
                || ns.labels.contains_key("istio.io/rev")
        }
        _ => true,
    }
}

impl Inner {
    fn build_workloads(&mut self, kube: Vec<(Meta, Workload)>) {
        let mut out = Vec::new();
        for (meta, w) in kube {
            let sidecar = w.sidecar.unwrap_or_else(|| {
                w.labels.get("sidecar.istio.io/inject").map(String::as_str) == Some("true")
                    || injected(&self.namespaces, meta.namespace())
            });
            out.push(WorkloadInstance {
                key: meta.key.clone(),
                labels: w.labels.clone(),
                service_account: w.service_account.clone(),
                addresses: w.ips.iter().map(ToString::to_string).collect(),
                sidecar,
                ports: w
                    .container_ports
                    .iter()
                    .map(|c| (c.name.clone(), c.port))
                    .collect(),
                locality: None,
                network: None,
                weight: None,
                annotations: w.annotations.clone(),
            });
        }
        for we in &self.workload_entries {
            let e = &we.spec;
            out.push(WorkloadInstance {
                key: we.meta.key.clone(),
                labels: e.labels.clone(),
                service_account: e
                    .service_account
                    .clone()
                    .unwrap_or_else(|| "default".into()),
                addresses: if e.address.is_empty() {
                    Vec::new()
                } else {
                    vec![e.address.clone()]
                },
                sidecar: we
                    .meta
                    .annotations
                    .get("sidecar.istio.io/inject")
                    .map(String::as_str)
                    != Some("false"),
                ports: e.ports.iter().map(|(n, p)| (Some(n.clone()), *p)).collect(),
                locality: e.locality.clone(),
                network: e.network.clone(),
                weight: e.weight,
                annotations: we.meta.annotations.clone(),
            });
        }
        out.sort_by(|a, b| a.key.cmp(&b.key));
        for (i, w) in out.iter().enumerate() {
            self.workloads_by_namespace
                .entry(w.key.namespace.clone())
                .or_default()
                .push(i);
        }
        self.workloads = out.into_iter().map(Arc::new).collect();
    }

    /// Workloads in `namespace` selected by `selector`: Pods and
    /// WorkloadEntries when any match, else controller templates.
    fn select(&self, namespace: &str, selector: &Labels) -> Vec<&Arc<WorkloadInstance>> {
        let sel = Selector(selector.clone());
        let all: Vec<&Arc<WorkloadInstance>> = self
            .workloads_by_namespace
            .get(namespace)
            .into_iter()
            .flatten()
            .map(|i| &self.workloads[*i])
            .filter(|w| sel.matches(&w.labels))
            .collect();
        let concrete: Vec<&Arc<WorkloadInstance>> = all
            .iter()
            .copied()
            .filter(|w| {
                matches!(
                    w.key.kind,
                    Kind::Kube(KubeKind::Pod) | Kind::Istio(IstioKind::WorkloadEntry)
                )
            })
            .collect();
        if concrete.is_empty() { all } else { concrete }
    }

    fn build_services(&mut self, kube: Vec<(Meta, crate::kube::Service)>) {
        let mut services = Vec::new();
        let domain = self.domain_suffix.clone();
        for (meta, s) in kube {
            let hostname = service_fqdn(meta.name(), meta.namespace(), &domain);
            let ports: Vec<ServicePort> = s
                .ports
                .iter()
                .map(|p| ServicePort {
                    name: p.name.clone(),
                    number: p.port,
                    protocol: p.protocol,
                    target_port: p.target_port.clone(),
                })
                .collect();
            let mut endpoints = Vec::new();
            if let Some(sel) = &s.selector {
                for w in self.select(meta.namespace(), sel) {
                    let mut port_map = BTreeMap::new();
                    for p in &ports {
                        if let Some(tp) = w.resolve_target_port(&p.target_port) {
                            port_map.insert(p.number, tp);
                        }
                    }
                    let addrs: Vec<Option<String>> = if w.addresses.is_empty() {
                        vec![None]
                    } else {
                        w.addresses.iter().cloned().map(Some).collect()
                    };
                    for address in addrs {
                        endpoints.push(Endpoint {
                            address,
                            workload: Some(w.key.clone()),
                            labels: w.labels.clone(),
                            service_account: Some(w.service_account.clone()),
                            sidecar: w.sidecar,
                            ports: port_map.clone(),
                            locality: w.locality.clone(),
                            network: w.network.clone(),
                            weight: w.weight,
                        });
                    }
                }
            }
            services.push(Service {
                hostname,
                namespace: meta.namespace().to_string(),
                name: meta.name().to_string(),
                origin: ServiceOrigin::Kubernetes,
                ports,
                addresses: s.cluster_ip.iter().map(ToString::to_string).collect(),
                resolution: if s.headless {
                    Resolution::None
                } else {
                    Resolution::Static
                },
                mesh_external: false,
                headless: s.headless,
                export_to: ExportTo::Default,
                endpoints,
                selector: s.selector.clone(),
                creation: meta.creation,
            });
        }
        for se in &self.service_entries {
            let e = &se.spec;
            let ports: Vec<ServicePort> = e
                .ports
                .iter()
                .map(|p| ServicePort {
                    name: Some(p.name.clone()),
                    number: p.number,
                    protocol: p.protocol,
                    target_port: TargetPort::Number(p.target_port.unwrap_or(p.number)),
                })
                .collect();
            let mut endpoints = Vec::new();
            let internal = e.location == Location::MeshInternal;
            for ep in &e.endpoints {
                let mut port_map = BTreeMap::new();
                for p in &ports {
                    let mapped = ep.ports.get(p.name.as_deref().unwrap_or("")).copied();
                    let TargetPort::Number(t) = p.target_port else {
                        continue;
                    };
                    port_map.insert(p.number, mapped.unwrap_or(t));
                }
                endpoints.push(Endpoint {
                    address: Some(ep.address.clone()).filter(|a| !a.is_empty()),
                    workload: None,
                    labels: ep.labels.clone(),
                    service_account: ep.service_account.clone(),
                    sidecar: internal
                        && ep
                            .labels
                            .get("security.istio.io/tlsMode")
                            .map(String::as_str)
                            == Some("istio"),
                    ports: port_map,
                    locality: ep.locality.clone(),
                    network: ep.network.clone(),
                    weight: ep.weight,
                });
            }
            if let Some(sel) = &e.workload_selector {
                for w in self.select(se.meta.namespace(), &sel.0) {
                    let mut port_map = BTreeMap::new();
                    for p in &ports {
                        let named = w
                            .ports
                            .iter()
                            .find(|(n, _)| n.as_deref() == p.name.as_deref())
                            .map(|(_, n)| *n);
                        let TargetPort::Number(t) = p.target_port else {
                            continue;
                        };
                        port_map.insert(p.number, named.unwrap_or(t));
                    }
                    for a in &w.addresses {
                        endpoints.push(Endpoint {
                            address: Some(a.clone()),
                            workload: Some(w.key.clone()),
                            labels: w.labels.clone(),
                            service_account: Some(w.service_account.clone()),
                            sidecar: w.sidecar,
                            ports: port_map.clone(),
                            locality: w.locality.clone(),
                            network: w.network.clone(),
                            weight: w.weight,
                        });
                    }
                }
            }
            for h in &e.hosts {
                services.push(Service {
                    hostname: h.clone(),
                    namespace: se.meta.namespace().to_string(),
                    name: se.meta.name().to_string(),
                    origin: ServiceOrigin::ServiceEntry(se.meta.key.clone()),
                    ports: ports.clone(),
                    addresses: e.addresses.clone(),
                    resolution: e.resolution,
                    mesh_external: e.location == Location::MeshExternal,
                    headless: false,
                    export_to: e.export_to.clone(),
                    endpoints: endpoints.clone(),
                    selector: e.workload_selector.as_ref().map(|s| s.0.clone()),
                    creation: se.meta.creation,
                });
            }
        }
        services.sort_by(|a, b| {
            a.hostname
                .cmp(&b.hostname)
                .then(
                    a.creation
                        .unwrap_or(i64::MIN)
                        .cmp(&b.creation.unwrap_or(i64::MIN)),
                )
                .then(a.namespace.cmp(&b.namespace))
                .then(a.name.cmp(&b.name))
        });
        for (i, s) in services.iter().enumerate() {
            self.services_by_host
                .entry(s.hostname.clone())
                .or_default()
                .push(i);
        }
        self.services = services.into_iter().map(Arc::new).collect();
    }
}
