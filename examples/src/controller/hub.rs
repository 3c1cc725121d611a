//! The state every ADS connection shares: the current mesh generation, the
//! compiled resources of each proxy shape (shared through `Arc` by every
//! proxy of that shape), the mesh's own configuration for proxies that
//! subscribe to it, the CA, the connected proxies' status and the metrics.

use super::ca::{Ca, IssuedCert};
use super::metrics::Metrics;
use super::store::ConfigSet;
use crate::config_xds::ConfigType;
use bytes::Bytes;
use envoy_types::pb::envoy::service::discovery::v3::{
    DeltaDiscoveryResponse, DiscoveryResponse, Resource,
};
use mesh_model::labels::Labels;
use mesh_model::resource::ResourceKey;
use mesh_model::snapshot::Snapshot;
use mesh_xds::proxy::{Proxy, ProxyKind};
use mesh_xds::resources::{ResourceType, Resources, Versioned};
use prost::Message as _;
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant, SystemTime};
use tokio::sync::watch;

/// Compiles one proxy of a prepared mesh: in full, or from what it was
/// compiled to in an earlier generation.
pub type ProxyCompileFn = Arc<dyn Fn(&Proxy, Option<Previous<'_>>) -> Resources + Send + Sync>;

/// What a proxy was compiled to in an earlier generation, and what changed
/// since: the input of an incremental compile
/// ([`mesh_xds::Compiler::recompile`]).
pub struct Previous<'a> {
    /// The earlier resources (sorted).
    pub resources: Resources,
    /// The earlier generation's mesh.
    pub snapshot: &'a Snapshot,
    /// The objects changed since (`None`: anything may have).
    pub changed: Option<&'a BTreeSet<ResourceKey>>,
}

/// Prepares a mesh for compiling (indexes what every proxy shares, once per
/// generation) and returns the per-proxy compiler.
pub type CompileFn = Arc<dyn Fn(&Snapshot) -> ProxyCompileFn + Send + Sync>;

/// The mesh compiler, `mesh_xds::Compiler`. Secrets are left to the CA.
pub fn mesh_compiler(options: mesh_xds::CompileOptions) -> CompileFn {
    Arc::new(move |snapshot: &Snapshot| {
        let c = Arc::new(mesh_xds::Compiler::new(snapshot, options.clone()));
        Arc::new(
            move |proxy: &Proxy, previous: Option<Previous<'_>>| match previous {
                Some(p) => c.recompile(proxy, p.resources, p.snapshot, p.changed),
                None => c.compile(proxy),
            },
        ) as ProxyCompileFn
    })
}

/// A resource type served over ADS: one of Envoy's, or a configuration
/// kind of the mesh ([`crate::config_xds`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum TypeKey {
    /// An Envoy resource type compiled by mesh-xds (or an SDS secret).
    Xds(ResourceType),
    /// A configuration kind, served as the objects themselves.
    Config(ConfigType),
}

impl TypeKey {
    /// The type of a type URL.
    pub fn from_type_url(url: &str) -> Option<TypeKey> {
        ResourceType::from_type_url(url)
            .map(TypeKey::Xds)
            .or_else(|| ConfigType::from_type_url(url).map(TypeKey::Config))
    }

    /// Its type URL.
    pub fn type_url(self) -> String {
        match self {
            TypeKey::Xds(t) => t.type_url(),
            TypeKey::Config(c) => c.type_url(),
        }
    }

    /// A short name for logs and metric labels: `clusters` … `secrets`,
    /// and `config` for every configuration kind.
    pub fn label(self) -> &'static str {
        match self {
            TypeKey::Xds(t) => t.plural(),
            TypeKey::Config(_) => "config",
        }
    }

    /// Whether a subscription without names means every resource (CDS,
    /// LDS and the configuration kinds).
    pub fn wildcard(self) -> bool {
        matches!(
            self,
            TypeKey::Xds(ResourceType::Cluster | ResourceType::Listener) | TypeKey::Config(_)
        )
    }

    /// Where a change of this type is pushed relative to the others:
    /// CDS, EDS, LDS, RDS, the configuration kinds, SDS.
    pub fn push_rank(self) -> usize {
        match self {
            TypeKey::Xds(ResourceType::Cluster) => 0,
            TypeKey::Xds(ResourceType::Endpoint) => 1,
            TypeKey::Xds(ResourceType::Listener) => 2,
            TypeKey::Xds(ResourceType::Route) => 3,
            TypeKey::Config(_) => 4,
            TypeKey::Xds(ResourceType::Secret) => 5,
        }
    }
}

impl From<ResourceType> for TypeKey {
    fn from(t: ResourceType) -> TypeKey {
        TypeKey::Xds(t)
    }
}

/// What the controller publishes: the mesh, and its objects as served to
/// proxies that subscribe to the configuration itself.
#[derive(Debug, Clone)]
pub struct Mesh {
    /// The mesh.
    pub snapshot: Snapshot,
    /// Its objects per configuration kind (empty when the mesh did not come
    /// from a [`super::store::Store`]).
    pub config: ConfigSet,
}

impl From<Snapshot> for Mesh {
    fn from(snapshot: Snapshot) -> Mesh {
        Mesh {
            snapshot,
            config: ConfigSet::new(),
        }
    }
}

/// One version of the mesh.
pub struct Generation {
    /// Increases with every new mesh.
    pub id: u64,
    /// The mesh.
    pub snapshot: Snapshot,
    /// The configuration kinds' resources.
    config: BTreeMap<ConfigType, Arc<TypeSet>>,
    /// When it was published (push latency is measured from here).
    pub published: Instant,
    /// The mesh prepared for compiling, once.
    compiler: OnceLock<ProxyCompileFn>,
    /// The objects changed since earlier generations, by their id, worked
    /// out once for every proxy shape that recompiles from that generation.
    changes: Mutex<HashMap<u64, Arc<Option<BTreeSet<ResourceKey>>>>>,
}

impl std::fmt::Debug for Generation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Generation")
            .field("id", &self.id)
            .field("published", &self.published)
            .finish_non_exhaustive()
    }
}

impl Generation {
    fn new(id: u64, mesh: Mesh) -> Generation {
        Generation {
            id,
            snapshot: mesh.snapshot,
            config: mesh
                .config
                .into_iter()
                .map(|(t, items)| (t, Arc::new(TypeSet::new(items))))
                .collect(),
            published: Instant::now(),
            compiler: OnceLock::new(),
            changes: Mutex::new(HashMap::new()),
        }
    }

    /// The objects changed since generation `id`, whose mesh was `before`
    /// ([`Snapshot::changed_since`]).
    fn changes_since(&self, id: u64, before: &Snapshot) -> Arc<Option<BTreeSet<ResourceKey>>> {
        let mut changes = self.changes.lock().unwrap_or_else(|e| e.into_inner());
        changes
            .entry(id)
            .or_insert_with(|| Arc::new(self.snapshot.changed_since(before)))
            .clone()
    }

    /// The resources of configuration kind `t` (empty when there are none).
    pub fn config(&self, t: ConfigType) -> Arc<TypeSet> {
        self.config.get(&t).cloned().unwrap_or_default()
    }

    /// The mesh this generation serves.
    pub fn mesh(&self) -> Mesh {
        Mesh {
            snapshot: self.snapshot.clone(),
            config: self
                .config
                .iter()
                .map(|(t, s)| (*t, s.items.clone()))
                .collect(),
        }
    }
}

/// The resources of one type, by name, with a version of the whole set,
/// and their encodings as ADS responses carry them, made once and shared
/// by every stream that sends them ([`super::grpc`]).
#[derive(Debug, Default)]
pub struct TypeSet {
    /// Resources by name.
    pub items: BTreeMap<String, Versioned>,
    /// The version of the whole set (hash of names and versions).
    pub version: String,
    /// Versions of subsets already computed, by the subset's hash (every
    /// proxy of a shape subscribes to the same names).
    subsets: Mutex<HashMap<u64, String>>,
    /// State-of-the-world response bodies already encoded, by type and
    /// subscription (`None`: wildcard).
    bodies: Mutex<HashMap<(TypeKey, Option<u64>), SotwBody>>,
    /// Each item's name and version, shared, in item order.
    keys: Vec<(Arc<str>, Arc<str>)>,
    /// Each item's encoding as an entry of a delta response, in item order.
    entries: Vec<OnceLock<Bytes>>,
    /// Runs of consecutive items' delta entries already joined, by the
    /// run's first and last item index.
    runs: Mutex<HashMap<(usize, usize), Bytes>>,
}

/// An encoded state-of-the-world response body and the names it is for.
#[derive(Debug)]
struct SotwBody {
    names: Option<Arc<Names>>,
    body: Bytes,
}

/// At most this many state-of-the-world bodies are kept per set (the
/// proxies of a shape subscribe alike: one or two are the rule).
const MAX_BODIES: usize = 16;

/// At most this many joined runs of delta entries are kept per set.
const MAX_RUNS: usize = 64;

/// One resource of a [`TypeSet`], with its shared encoding.
#[derive(Debug, Clone, Copy)]
pub struct Item<'a> {
    /// Its position in the set.
    pub index: usize,
    /// The resource.
    pub resource: &'a Versioned,
    key: &'a (Arc<str>, Arc<str>),
    encoded: &'a OnceLock<Bytes>,
}

impl Item<'_> {
    /// Its name and version, as strings shared by every holder.
    pub fn key(&self) -> (Arc<str>, Arc<str>) {
        self.key.clone()
    }

    /// The resource as one entry of a delta response's `resources`: the
    /// encoding of a `DeltaDiscoveryResponse` holding only this resource
    /// (name, version and the packed resource), made once.
    pub fn delta_entry(&self) -> Bytes {
        self.encoded
            .get_or_init(|| {
                let v = self.resource;
                let r = DeltaDiscoveryResponse {
                    resources: vec![Resource {
                        name: v.name.clone(),
                        version: v.version.clone(),
                        resource: Some(v.resource.clone()),
                        ..Default::default()
                    }],
                    ..Default::default()
                };
                Bytes::from(r.encode_to_vec())
            })
            .clone()
    }
}

/// A set of subscribed resource names, interned: the proxies of one shape
/// subscribe to the same names and share one copy.
#[derive(Debug, PartialEq, Eq)]
pub struct Names {
    /// A hash of the names.
    pub hash: u64,
    /// The names.
    pub set: BTreeSet<String>,
}

impl Names {
    /// Hashes a set of names.
    pub fn hash_of(set: &BTreeSet<String>) -> u64 {
        let mut h: u64 = 0xcbf2_9ce4_8422_2325;
        for n in set {
            for b in n.bytes().chain([0]) {
                h ^= u64::from(b);
                h = h.wrapping_mul(0x0100_0000_01b3);
            }
        }
        h
    }
}

impl TypeSet {
    /// A set from named, versioned resources.
    pub fn new(items: BTreeMap<String, Versioned>) -> TypeSet {
        let version = set_version(
            items
                .values()
                .map(|v| (v.name.as_str(), v.version.as_str())),
        );
        let keys = items
            .values()
            .map(|v| (Arc::from(v.name.as_str()), Arc::from(v.version.as_str())))
            .collect();
        let entries = items.values().map(|_| OnceLock::new()).collect();
        TypeSet {
            items,
            version,
            subsets: Mutex::default(),
            bodies: Mutex::default(),
            keys,
            entries,
            runs: Mutex::default(),
        }
    }

    /// The items in name order, each with its shared encoding.
    pub fn iter(&self) -> impl Iterator<Item = Item<'_>> {
        self.items
            .values()
            .zip(&self.keys)
            .zip(&self.entries)
            .enumerate()
            .map(|(index, ((resource, key), encoded))| Item {
                index,
                resource,
                key,
                encoded,
            })
    }

    /// The delta entries of the consecutive items `first..=last`
    /// ([`Item::delta_entry`], made by `entries` when not yet joined),
    /// joined into one buffer
    /// made once and shared by every stream that sends the same run: a
    /// response is then a few large pieces rather than one per resource
    /// (HTTP/2 queues each piece as a frame, and a connection keeps the
    /// room of the most frames it ever queued).
    pub fn delta_run(
        &self,
        first: usize,
        last: usize,
        entries: impl FnOnce() -> Vec<Bytes>,
    ) -> Bytes {
        let mut runs = self.runs.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(b) = runs.get(&(first, last)) {
            return b.clone();
        }
        let entries = entries();
        let mut joined = Vec::with_capacity(entries.iter().map(Bytes::len).sum());
        for e in &entries {
            joined.extend_from_slice(e);
        }
        let joined = Bytes::from(joined);
        if runs.len() >= MAX_RUNS {
            runs.clear();
        }
        runs.insert((first, last), joined.clone());
        joined
    }

    /// A state-of-the-world response of type `t` with the resources among
    /// `names` (all when `None`), without its nonce: the encoding of a
    /// `DiscoveryResponse` holding only `version_info`, `resources` and
    /// `type_url`, made once and shared by every stream that sends it. A
    /// stream appends the encoding of its nonce (protobuf fields
    /// concatenate).
    pub fn sotw_body(&self, t: TypeKey, names: Option<&Arc<Names>>) -> Bytes {
        let key = (t, names.map(|n| n.hash));
        let mut bodies = self.bodies.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(b) = bodies.get(&key) {
            let same = match (&b.names, names) {
                (None, None) => true,
                (Some(a), Some(b)) => Arc::ptr_eq(a, b) || a.set == b.set,
                _ => false,
            };
            if same {
                return b.body.clone();
            }
        }
        let response = DiscoveryResponse {
            version_info: self.version_of(names.map(|n| &**n)),
            resources: self
                .items
                .values()
                .filter(|v| names.is_none_or(|n| n.set.contains(&v.name)))
                .map(|v| v.resource.clone())
                .collect(),
            type_url: t.type_url(),
            ..Default::default()
        };
        let body = Bytes::from(response.encode_to_vec());
        if bodies.len() >= MAX_BODIES {
            bodies.clear();
        }
        bodies.insert(
            key,
            SotwBody {
                names: names.cloned(),
                body: body.clone(),
            },
        );
        body
    }

    /// The version of the resources among `names` (all when `None`).
    pub fn version_of(&self, names: Option<&Names>) -> String {
        let Some(n) = names else {
            return self.version.clone();
        };
        let mut memo = self.subsets.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(v) = memo.get(&n.hash) {
            return v.clone();
        }
        let v = set_version(
            self.items
                .values()
                .filter(|v| n.set.contains(&v.name))
                .map(|v| (v.name.as_str(), v.version.as_str())),
        );
        if memo.len() > 1024 {
            memo.clear();
        }
        memo.insert(n.hash, v.clone());
        v
    }
}

/// The version of a set of (name, version) pairs.
pub fn set_version<'a>(pairs: impl Iterator<Item = (&'a str, &'a str)>) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for (n, v) in pairs {
        for b in n.bytes().chain([0]).chain(v.bytes()).chain([0]) {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
    }
    format!("{h:016x}")
}

/// Everything compiled for one proxy shape, one `Arc` per type so that
/// unchanged types are shared across generations' comparisons.
#[derive(Debug, Default)]
pub struct Compiled {
    /// Per type (secrets excluded: they come from the CA).
    pub types: BTreeMap<ResourceType, Arc<TypeSet>>,
    /// The resources themselves (sorted), which the next generation's
    /// incremental compile starts from.
    resources: Resources,
}

impl Compiled {
    /// From compiled resources (sorted, as every compile leaves them).
    pub fn new(r: Resources) -> Compiled {
        let types = ResourceType::ALL
            .into_iter()
            .map(|t| (t, Arc::new(TypeSet::new(r.of_type(t)))))
            .collect();
        Compiled {
            types,
            resources: r,
        }
    }

    /// From resources compiled after `before`: a resource equal to its
    /// namesake in `before` keeps its version and encoding, and a type
    /// whose resources are all unchanged is `before`'s own set, with the
    /// response bodies it has already encoded.
    pub fn after(r: Resources, before: &Compiled) -> Compiled {
        let types = ResourceType::ALL
            .into_iter()
            .map(|t| {
                let old = before.get(t);
                let items = r.of_type_since(t, &before.resources, &old.items);
                let same = items.len() == old.items.len()
                    && items
                        .iter()
                        .zip(&old.items)
                        .all(|((n, v), (on, ov))| n == on && v.version == ov.version);
                let set = if same {
                    old
                } else {
                    Arc::new(TypeSet::new(items))
                };
                (t, set)
            })
            .collect();
        Compiled {
            types,
            resources: r,
        }
    }

    /// The resources of type `t`.
    pub fn get(&self, t: ResourceType) -> Arc<TypeSet> {
        self.types.get(&t).cloned().unwrap_or_default()
    }
}

/// What the compiled config of a proxy depends on: proxies with the same
/// shape share one compiled copy. The replicas of a workload (same kind,
/// interception, namespace, labels and service account) share one; the pod
/// name is left out because the compiler does not read it, and the IPs
/// count only without interception, where the compiler binds an ingress
/// listener that names no address to the proxy's first IP.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Shape {
    kind: ProxyKind,
    interception: mesh_xds::proxy::Interception,
    namespace: String,
    labels: Vec<(String, String)>,
    service_account: String,
    ips: Vec<std::net::IpAddr>,
}

impl Shape {
    /// The shape of a proxy.
    pub fn of(p: &Proxy) -> Shape {
        Shape {
            kind: p.kind,
            interception: p.interception,
            namespace: p.namespace.clone(),
            labels: p
                .labels
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
            service_account: p.service_account.clone(),
            ips: if p.interception == mesh_xds::proxy::Interception::None {
                p.ips.clone()
            } else {
                Vec::new()
            },
        }
    }
}

type Cell = Arc<OnceLock<Arc<Compiled>>>;

/// A shape's latest compile: its generation, that generation's mesh, and
/// what it compiled to.
#[derive(Clone)]
struct Last {
    generation: u64,
    snapshot: Snapshot,
    compiled: Arc<Compiled>,
}

/// Push, connection and NACK state of one type on one connection.
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TypeStatus {
    /// The version last sent.
    pub sent: Option<String>,
    /// The version last ACKed.
    pub acked: Option<String>,
    /// The last NACK.
    pub nack: Option<Nack>,
    /// Responses sent.
    pub pushes: u64,
    /// Resources subscribed (`*` for wildcard).
    pub subscribed: usize,
}

/// A rejected version.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Nack {
    /// The version Envoy rejected.
    pub version: String,
    /// Envoy's error message.
    pub error: String,
    /// When (seconds since the Unix epoch).
    pub at: u64,
}

/// One connected proxy, as the debug port shows it.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ProxyStatus {
    /// The connection id.
    pub connection: u64,
    /// The Envoy node id.
    pub node_id: String,
    /// `sidecar` or `router`.
    pub kind: &'static str,
    /// The namespace.
    pub namespace: String,
    /// The workload labels.
    pub labels: Labels,
    /// The SPIFFE identity.
    pub identity: String,
    /// `sotw` or `delta`.
    pub protocol: &'static str,
    /// Connected since (seconds since the Unix epoch).
    pub connected_at: u64,
    /// The mesh generation last pushed.
    pub generation: u64,
    /// Per type URL.
    pub types: BTreeMap<String, TypeStatus>,
}

/// Settings of the ADS server.
#[derive(Debug, Clone)]
pub struct HubOptions {
    /// Quiet time after a mesh change before connections push.
    pub push_debounce: Duration,
    /// The DNS suffix of the mesh (node ids).
    pub domain_suffix: String,
}

impl Default for HubOptions {
    fn default() -> Self {
        HubOptions {
            push_debounce: Duration::from_millis(20),
            domain_suffix: "cluster.local".into(),
        }
    }
}

/// The shared state.
pub struct Hub {
    /// Settings.
    pub options: HubOptions,
    generation: watch::Sender<Arc<Generation>>,
    compile: CompileFn,
    cache: Mutex<(u64, HashMap<Shape, Cell>)>,
    /// Each shape's latest compile, which the next generation's starts from.
    last: Mutex<HashMap<Shape, Last>>,
    /// The CA.
    pub ca: Arc<Ca>,
    proxies: Mutex<BTreeMap<u64, ProxyStatus>>,
    /// Metrics.
    pub metrics: Metrics,
    next_connection: std::sync::atomic::AtomicU64,
    config_status: Mutex<serde_json::Value>,
    names: Mutex<(usize, HashMap<u64, Arc<Names>>)>,
    secret_sets: Mutex<SecretSets>,
}

/// The SDS secrets of each identity, with the certificate they hold.
type SecretSets = HashMap<String, (Arc<IssuedCert>, Arc<TypeSet>)>;

impl std::fmt::Debug for Hub {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Hub")
            .field("options", &self.options)
            .finish_non_exhaustive()
    }
}

/// Seconds since the Unix epoch.
pub fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

impl Hub {
    /// A hub serving `mesh` (a [`Mesh`] or a bare [`Snapshot`]) first.
    pub fn new(
        mesh: impl Into<Mesh>,
        compile: CompileFn,
        ca: Arc<Ca>,
        options: HubOptions,
    ) -> Arc<Hub> {
        let (generation, _) = watch::channel(Arc::new(Generation::new(1, mesh.into())));
        Arc::new(Hub {
            options,
            generation,
            compile,
            cache: Mutex::new((0, HashMap::new())),
            last: Mutex::new(HashMap::new()),
            ca,
            proxies: Mutex::new(BTreeMap::new()),
            metrics: Metrics::default(),
            next_connection: std::sync::atomic::AtomicU64::new(1),
            config_status: Mutex::new(serde_json::Value::Null),
            names: Mutex::new((64, HashMap::new())),
            secret_sets: Mutex::new(HashMap::new()),
        })
    }

    /// Publishes a new mesh (a [`Mesh`] or a bare [`Snapshot`]);
    /// connections push what changed for them.
    pub fn publish(&self, mesh: impl Into<Mesh>) -> u64 {
        let id = self.generation.borrow().id + 1;
        self.generation
            .send_replace(Arc::new(Generation::new(id, mesh.into())));
        self.metrics.generation(id);
        tracing::info!(generation = id, "published a new mesh");
        id
    }

    /// The current generation.
    pub fn current(&self) -> Arc<Generation> {
        self.generation.borrow().clone()
    }

    /// A receiver of new generations.
    pub fn subscribe(&self) -> watch::Receiver<Arc<Generation>> {
        self.generation.subscribe()
    }

    /// The compiled resources of `proxy` in generation `g`, compiled once
    /// per shape and generation.
    pub fn compiled(&self, g: &Generation, proxy: &Proxy) -> Arc<Compiled> {
        let shape = Shape::of(proxy);
        let cell = {
            let mut cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
            if cache.0 != g.id {
                if g.id < cache.0 {
                    // An older generation (a slow connection): compile apart.
                    drop(cache);
                    return Arc::new(Compiled::new(self.compile_one(g, proxy, None)));
                }
                *cache = (g.id, HashMap::new());
            }
            cache.1.entry(shape.clone()).or_default().clone()
        };
        cell.get_or_init(|| {
            let started = Instant::now();
            let last = self
                .lock_last()
                .get(&shape)
                .filter(|l| l.generation < g.id)
                .cloned();
            // From the shape's latest compile when there is one: only what
            // the changes since can affect is compiled again, and unchanged
            // resources keep their versions and encodings.
            let c = Arc::new(match last {
                Some(l) => {
                    let changed = g.changes_since(l.generation, &l.snapshot);
                    let previous = Previous {
                        resources: l.compiled.resources.clone(),
                        snapshot: &l.snapshot,
                        changed: changed.as_ref().as_ref(),
                    };
                    Compiled::after(self.compile_one(g, proxy, Some(previous)), &l.compiled)
                }
                None => Compiled::new(self.compile_one(g, proxy, None)),
            });
            let mut last = self.lock_last();
            // Shapes no proxy asked for in the last two generations go.
            last.retain(|_, l| l.generation + 1 >= g.id);
            last.insert(
                shape,
                Last {
                    generation: g.id,
                    snapshot: g.snapshot.clone(),
                    compiled: c.clone(),
                },
            );
            drop(last);
            self.metrics.compiled(started.elapsed());
            c
        })
        .clone()
    }

    fn lock_last(&self) -> std::sync::MutexGuard<'_, HashMap<Shape, Last>> {
        self.last.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn compile_one(
        &self,
        g: &Generation,
        proxy: &Proxy,
        previous: Option<Previous<'_>>,
    ) -> Resources {
        let c = g.compiler.get_or_init(|| (self.compile)(&g.snapshot));
        // Sorted by name, as versions and the next incremental compile
        // expect (a no-op for mesh-xds, whose output is sorted already).
        let mut r = c(proxy, previous);
        r.sort();
        r
    }

    /// The SDS secrets of a proxy: `default` (its certificate) and `ROOTCA`,
    /// and when to renew them.
    pub fn secrets(&self, proxy: &Proxy) -> Option<(Arc<TypeSet>, SystemTime)> {
        let cert =
            match self
                .ca
                .certificate(&proxy.namespace, &proxy.service_account, SystemTime::now())
            {
                Ok(c) => c,
                Err(e) => {
                    tracing::error!(proxy = %proxy.id, error = %e, "could not issue a certificate");
                    return None;
                }
            };
        // The proxies of one identity share one set (and its encodings).
        let mut sets = self.secret_sets.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((issued, set)) = sets.get(&cert.spiffe_id)
            && Arc::ptr_eq(issued, &cert)
        {
            return Some((set.clone(), cert.rotate_at));
        }
        let r = Resources {
            secrets: vec![
                mesh_xds::resources::certificate_secret(
                    mesh_xds::tls::SECRET_DEFAULT,
                    &cert.chain_pem,
                    &cert.key_pem,
                ),
                mesh_xds::resources::root_secret(mesh_xds::tls::SECRET_ROOTCA, self.ca.root_pem()),
            ],
            ..Default::default()
        };
        let set = Arc::new(TypeSet::new(r.of_type(ResourceType::Secret)));
        sets.insert(cert.spiffe_id.clone(), (cert.clone(), set.clone()));
        Some((set, cert.rotate_at))
    }

    /// The shared copy of a set of subscribed names.
    pub fn intern(&self, set: BTreeSet<String>) -> Arc<Names> {
        let hash = Names::hash_of(&set);
        let mut names = self.names.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(n) = names.1.get(&hash).filter(|n| n.set == set) {
            return n.clone();
        }
        if names.1.len() >= names.0 {
            // Forget the sets no connection holds any more.
            names.1.retain(|_, n| Arc::strong_count(n) > 1);
            names.0 = (names.1.len() * 2).max(64);
        }
        let n = Arc::new(Names { hash, set });
        names.1.insert(hash, n.clone());
        n
    }

    /// A new connection id.
    pub fn connection_id(&self) -> u64 {
        self.next_connection
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed)
    }

    /// Records a connection's status.
    pub fn set_status(&self, s: ProxyStatus) {
        self.proxies
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(s.connection, s);
    }

    /// Updates a connection's status in place.
    pub fn update_status(&self, connection: u64, f: impl FnOnce(&mut ProxyStatus)) {
        if let Some(s) = self
            .proxies
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get_mut(&connection)
        {
            f(s);
        }
    }

    /// Forgets a connection.
    pub fn remove_status(&self, connection: u64) {
        self.proxies
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&connection);
    }

    /// Every connected proxy.
    pub fn statuses(&self) -> Vec<ProxyStatus> {
        self.proxies
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .values()
            .cloned()
            .collect()
    }

    /// Records the configuration sources' status (shown on the debug port).
    pub fn set_config_status(&self, v: serde_json::Value) {
        *self.config_status.lock().unwrap_or_else(|e| e.into_inner()) = v;
    }

    /// The configuration sources' status.
    pub fn config_status(&self) -> serde_json::Value {
        self.config_status
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use envoy_types::pb::google::protobuf::Any;

    fn set() -> TypeSet {
        let items = (0..5)
            .map(|i| {
                let name = format!("r{i}");
                let v = Versioned {
                    name: name.clone(),
                    version: format!("v{i}"),
                    resource: Any {
                        type_url: "type.googleapis.com/x".into(),
                        value: vec![i; 3],
                    },
                };
                (name, v)
            })
            .collect();
        TypeSet::new(items)
    }

    #[test]
    fn a_shared_body_and_a_nonce_make_the_whole_response() {
        let s = set();
        let t = TypeKey::Xds(ResourceType::Route);
        let names = Arc::new(Names {
            hash: 7,
            set: ["r1".to_string(), "r3".to_string()].into(),
        });
        let mut wire = s.sotw_body(t, Some(&names)).to_vec();
        wire.extend(
            DiscoveryResponse {
                nonce: "9".into(),
                ..Default::default()
            }
            .encode_to_vec(),
        );
        let expected = DiscoveryResponse {
            version_info: s.version_of(Some(&names)),
            resources: vec![
                s.items["r1"].resource.clone(),
                s.items["r3"].resource.clone(),
            ],
            type_url: t.type_url(),
            nonce: "9".into(),
            ..Default::default()
        };
        assert_eq!(
            DiscoveryResponse::decode(wire.as_slice()).unwrap(),
            expected
        );
        // The same subscription gets the same shared bytes.
        assert_eq!(
            s.sotw_body(t, Some(&names)).as_ptr(),
            s.sotw_body(t, Some(&names)).as_ptr()
        );
    }

    #[test]
    fn joined_runs_and_single_entries_make_the_whole_delta_response() {
        let s = set();
        let items: Vec<Item<'_>> = s.iter().collect();
        let run = s.delta_run(1, 3, || {
            items[1..=3].iter().map(Item::delta_entry).collect()
        });
        let again = s.delta_run(1, 3, || unreachable!("joined once"));
        assert_eq!(run.as_ptr(), again.as_ptr());
        let mut wire = items[0].delta_entry().to_vec();
        wire.extend_from_slice(&run);
        let r = DeltaDiscoveryResponse::decode(wire.as_slice()).unwrap();
        let names: Vec<&str> = r.resources.iter().map(|r| r.name.as_str()).collect();
        assert_eq!(names, ["r0", "r1", "r2", "r3"]);
        assert_eq!(r.resources[2].version, "v2");
        assert_eq!(
            r.resources[2].resource,
            Some(s.items["r2"].resource.clone())
        );
    }
}
