//! The aggregated discovery service: state of the world and incremental
//! (delta) xDS over one gRPC stream per proxy.
//!
//! Per connection the server keeps, per type, the subscription, the last
//! nonce and version sent, and what was ACKed or NACKed:
//!
//! * CDS and LDS are wildcard subscriptions; EDS, RDS and SDS are by name.
//! * Besides Envoy's types the server serves the mesh's own configuration
//!   kinds (`networking.istio.io/v1/VirtualService`, `core/v1/Service` …,
//!   [`crate::config_xds`]) to proxies that subscribe to them, wildcard,
//!   with the same versioning, ACK and NACK handling.
//! * A request is answered only when it opens a stream or a type (empty
//!   nonce) or changes the subscribed names. A request carrying the current
//!   nonce and the same names is an ACK; with `error_detail` it is a NACK,
//!   recorded, and the rejected version is never sent again on that stream
//!   (Envoy keeps serving its last good config). Stale nonces are ignored.
//! * On a mesh change each connection compares its per-type content
//!   versions and pushes only the types whose content changed, in the order
//!   CDS, EDS, LDS, RDS, configuration kinds, SDS.
//! * Workload certificates are renewed at half their lifetime and the new
//!   `default` secret is pushed.
//! * Responses are encoded once per resource set and shared by every
//!   stream that sends them ([`super::grpc`]): a state-of-the-world
//!   response is the set's shared body plus the stream's nonce, a delta
//!   response the shared encoding of each resource it carries plus the
//!   stream's removals and nonce. A stream keeps no encoded copy.

use super::grpc::{self, Message, Outbound, Requests};
use super::hub::{
    Compiled, Generation, Hub, Item, Nack, Names, ProxyStatus, TypeKey, TypeSet, TypeStatus,
    unix_now,
};
use bytes::Bytes;
use envoy_types::pb::envoy::config::core::v3::Node;
use envoy_types::pb::envoy::service::discovery::v3::{
    DeltaDiscoveryRequest, DeltaDiscoveryResponse, DiscoveryRequest, DiscoveryResponse,
};
use envoy_types::pb::google::protobuf::value::Kind;
use mesh_xds::proxy::{Interception, Proxy, ProxyKind};
use mesh_xds::resources::ResourceType;
use prost::Message as _;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::convert::Infallible;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Instant, SystemTime};
use tokio::sync::watch;
use tonic::Status;

/// The gRPC service name of ADS.
const SERVICE: &str = "envoy.service.discovery.v3.AggregatedDiscoveryService";
/// The state-of-the-world method.
const SOTW_PATH: &str =
    "/envoy.service.discovery.v3.AggregatedDiscoveryService/StreamAggregatedResources";
/// The delta method.
const DELTA_PATH: &str =
    "/envoy.service.discovery.v3.AggregatedDiscoveryService/DeltaAggregatedResources";
/// The largest request accepted.
const MAX_REQUEST: usize = 64 << 20;
/// Responses a stream may have queued before its driver waits for HTTP/2.
const QUEUED_RESPONSES: usize = 16;

/// The ADS service: what every stream shares.
#[derive(Debug, Clone)]
pub struct AdsService {
    hub: Arc<Hub>,
    shutdown: watch::Receiver<bool>,
}

impl AdsService {
    /// A service over `hub`; streams end when `shutdown` turns true.
    pub fn new(hub: Arc<Hub>, shutdown: watch::Receiver<bool>) -> AdsService {
        AdsService { hub, shutdown }
    }

    /// The gRPC server of this service, for a tonic router.
    pub fn into_server(self) -> AdsServer {
        AdsServer { service: self }
    }
}

/// The gRPC server of [`AdsService`] (both ADS methods), written by hand
/// rather than generated, served by a tonic router: responses are written
/// as pieces shared across streams and requests decoded without keeping
/// their buffers ([`super::grpc`]), so that a push to a thousand proxies of
/// one shape encodes its resources once and no stream keeps an encode or
/// decode buffer.
#[derive(Debug, Clone)]
pub struct AdsServer {
    service: AdsService,
}

impl tonic::server::NamedService for AdsServer {
    const NAME: &'static str = SERVICE;
}

impl<B> tower_service::Service<http::Request<B>> for AdsServer
where
    B: http_body::Body<Data = Bytes> + Send + 'static,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    type Response = http::Response<tonic::body::Body>;
    type Error = Infallible;
    type Future = std::future::Ready<Result<Self::Response, Infallible>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: http::Request<B>) -> Self::Future {
        let service = self.service.clone();
        let response = match request.uri().path() {
            SOTW_PATH => open(request, move |inbound, tx| {
                tokio::spawn(service.run::<Sotw>(inbound, tx, "sotw"));
            }),
            DELTA_PATH => open(request, move |inbound, tx| {
                tokio::spawn(service.run::<Delta>(inbound, tx, "delta"));
            }),
            path => Status::unimplemented(format!("no method {path}")).into_http(),
        };
        std::future::ready(Ok(response))
    }
}

/// Opens one ADS stream: `start` runs its driver, which writes to the
/// response body.
fn open<R, B>(
    request: http::Request<B>,
    start: impl FnOnce(Requests<R>, Outbound),
) -> http::Response<tonic::body::Body>
where
    R: prost::Message + Default + Send + 'static,
    B: http_body::Body<Data = Bytes> + Send + 'static,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let inbound = match Requests::<R>::new(request, MAX_REQUEST) {
        Ok(s) => s,
        Err(status) => return status.into_http(),
    };
    let (tx, body) = grpc::channel(QUEUED_RESPONSES);
    start(inbound, tx);
    body.into_response()
}

impl AdsService {
    /// Serves one stream until it ends; an error ends it with that status.
    async fn run<S: Session>(
        self,
        inbound: Requests<S::Request>,
        tx: Outbound,
        protocol: &'static str,
    ) {
        if let Err(e) = drive::<S>(self.hub, inbound, tx.clone(), self.shutdown, protocol).await {
            let _ = tx.send(Err(e)).await;
        }
    }
}

/// Sends one response on a stream.
async fn send(tx: &Outbound, pieces: Vec<Bytes>) -> Result<(), Status> {
    tx.send(Ok(Message::new(pieces)?))
        .await
        .map_err(|_| Status::cancelled("stream closed"))
}

fn string_field(node: &Node, key: &str) -> Option<String> {
    let v = node.metadata.as_ref()?.fields.get(key)?;
    match &v.kind {
        Some(Kind::StringValue(s)) if !s.is_empty() => Some(s.clone()),
        _ => None,
    }
}

/// The proxy a node describes: kind, IP and name from the Istio node id
/// (`sidecar~10.1.0.5~reviews-v1.bookinfo~bookinfo.svc.cluster.local`),
/// then the node metadata as Istio's agent sends it: `NAMESPACE`, `NAME`,
/// `LABELS` (a struct of strings), `SERVICE_ACCOUNT`, `INSTANCE_IPS`
/// (comma-separated), `INTERCEPTION_MODE` (`REDIRECT`, `NONE`).
pub fn proxy_from_node(node: &Node) -> Result<Proxy, Status> {
    let mut p =
        Proxy::from_node_id(&node.id).map_err(|e| Status::invalid_argument(e.to_string()))?;
    if let Some(ns) = string_field(node, "NAMESPACE") {
        p.namespace = ns;
    }
    if let Some(name) = string_field(node, "NAME") {
        p.workload = Some(name);
    }
    if let Some(sa) = string_field(node, "SERVICE_ACCOUNT") {
        p.service_account = sa;
    }
    if let Some(ips) = string_field(node, "INSTANCE_IPS") {
        let parsed: Vec<std::net::IpAddr> = ips
            .split(',')
            .filter_map(|s| s.trim().parse().ok())
            .collect();
        if !parsed.is_empty() {
            p.ips = parsed;
        }
    }
    if let Some(mode) = string_field(node, "INTERCEPTION_MODE") {
        p.interception = match mode.as_str() {
            "NONE" => Interception::None,
            _ => Interception::Redirect,
        };
    }
    if let Some(Kind::StructValue(s)) = node
        .metadata
        .as_ref()
        .and_then(|m| m.fields.get("LABELS"))
        .and_then(|v| v.kind.as_ref())
    {
        for (k, v) in &s.fields {
            if let Some(Kind::StringValue(v)) = &v.kind {
                p.labels.insert(k.clone(), v.clone());
            }
        }
    }
    Ok(p)
}

fn kind_name(k: ProxyKind) -> &'static str {
    match k {
        ProxyKind::Sidecar => "sidecar",
        ProxyKind::Router => "router",
    }
}

/// What one connection serves: the compiled mesh of its shape, and its
/// certificates.
struct Served {
    hub: Arc<Hub>,
    connection: u64,
    proxy: Proxy,
    generation: Arc<Generation>,
    compiled: Arc<Compiled>,
    secrets: Arc<TypeSet>,
    rotate_at: SystemTime,
}

impl Served {
    fn new(hub: Arc<Hub>, proxy: Proxy, protocol: &'static str) -> Served {
        let generation = hub.current();
        let compiled = hub.compiled(&generation, &proxy);
        let connection = hub.connection_id();
        hub.metrics.connect();
        hub.set_status(ProxyStatus {
            connection,
            node_id: proxy.id.clone(),
            kind: kind_name(proxy.kind),
            namespace: proxy.namespace.clone(),
            labels: proxy.labels.clone(),
            identity: hub.ca.spiffe_id(&proxy.namespace, &proxy.service_account),
            protocol,
            connected_at: unix_now(),
            generation: generation.id,
            types: BTreeMap::new(),
        });
        tracing::info!(connection, node = %proxy.id, protocol, "proxy connected");
        let mut s = Served {
            hub,
            connection,
            proxy,
            generation,
            compiled,
            secrets: Arc::default(),
            rotate_at: SystemTime::now() + std::time::Duration::from_secs(3600),
        };
        s.refresh_secrets();
        s
    }

    fn refresh_secrets(&mut self) {
        if let Some((set, rotate_at)) = self.hub.secrets(&self.proxy) {
            // Secrets the compiler emits (e.g. gateway credentials) join
            // the CA's.
            let compiled = self.compiled.get(ResourceType::Secret);
            if compiled.items.is_empty() {
                self.secrets = set;
            } else {
                let mut items = compiled.items.clone();
                items.extend(set.items.clone());
                self.secrets = Arc::new(TypeSet::new(items));
            }
            self.rotate_at = rotate_at;
        } else {
            self.rotate_at = SystemTime::now() + std::time::Duration::from_secs(10);
        }
    }

    fn set(&self, t: TypeKey) -> Arc<TypeSet> {
        match t {
            TypeKey::Xds(ResourceType::Secret) => self.secrets.clone(),
            TypeKey::Xds(t) => self.compiled.get(t),
            TypeKey::Config(c) => self.generation.config(c),
        }
    }

    /// Moves to generation `g`; returns whether it is new.
    fn advance(&mut self, g: Arc<Generation>) -> bool {
        if g.id == self.generation.id {
            return false;
        }
        self.compiled = self.hub.compiled(&g, &self.proxy);
        self.generation = g;
        let id = self.generation.id;
        self.hub
            .update_status(self.connection, |s| s.generation = id);
        if !self.compiled.get(ResourceType::Secret).items.is_empty() {
            self.refresh_secrets();
        }
        true
    }

    fn status(&self, t: TypeKey, f: impl FnOnce(&mut TypeStatus)) {
        self.hub.update_status(self.connection, |s| {
            f(s.types.entry(t.type_url()).or_default());
        });
    }

    fn nack(&self, t: TypeKey, version: String, error: String) {
        tracing::warn!(
            connection = self.connection,
            node = %self.proxy.id,
            r#type = t.label(),
            type_url = %t.type_url(),
            version = %version,
            error = %error,
            "proxy rejected a config (NACK); keeping its last good config"
        );
        self.hub.metrics.nack(t);
        self.status(t, |s| {
            s.nack = Some(Nack {
                version,
                error,
                at: unix_now(),
            });
        });
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        self.hub.metrics.disconnect();
        self.hub.remove_status(self.connection);
        tracing::info!(connection = self.connection, node = %self.proxy.id, "proxy disconnected");
    }
}

async fn sleep_until_system(t: SystemTime) {
    let d = t
        .duration_since(SystemTime::now())
        .unwrap_or(std::time::Duration::ZERO);
    tokio::time::sleep(d).await;
}

/// Sleeps until `deadline`, or forever when there is none.
async fn sleep_until_deadline(deadline: Option<tokio::time::Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(d).await,
        None => std::future::pending().await,
    }
}

async fn shutdown_signal(rx: &mut watch::Receiver<bool>) {
    while !*rx.borrow_and_update() {
        if rx.changed().await.is_err() {
            std::future::pending::<()>().await;
        }
    }
}

/// The subscribed types in push order: CDS, EDS, LDS, RDS, the
/// configuration kinds, SDS.
fn push_order<'a>(types: impl Iterator<Item = &'a TypeKey>) -> Vec<TypeKey> {
    let mut v: Vec<TypeKey> = types.copied().collect();
    v.sort_by_key(|t| (t.push_rank(), *t));
    v
}

// ---------------------------------------------------------------------------
// State of the world.

#[derive(Debug, Default)]
struct SotwType {
    /// `None`: wildcard.
    names: Option<Arc<Names>>,
    nonce: String,
    sent: Option<String>,
    nacked: Option<String>,
}

struct Sotw {
    served: Served,
    tx: Outbound,
    types: BTreeMap<TypeKey, SotwType>,
    nonce: u64,
}

fn requested_names(t: TypeKey, names: &[String]) -> Option<BTreeSet<String>> {
    if t.wildcard() && (names.is_empty() || names.iter().any(|n| n == "*")) {
        return None;
    }
    Some(names.iter().filter(|n| *n != "*").cloned().collect())
}

impl Session for Sotw {
    type Request = DiscoveryRequest;

    fn node(r: &DiscoveryRequest) -> Option<&Node> {
        r.node.as_ref()
    }

    fn new(served: Served, tx: Outbound) -> Sotw {
        Sotw {
            served,
            tx,
            types: BTreeMap::new(),
            nonce: 0,
        }
    }

    fn served(&mut self) -> &mut Served {
        &mut self.served
    }

    async fn handle(&mut self, r: DiscoveryRequest) -> Result<(), Status> {
        self.handle_request(r).await
    }

    async fn push_all(&mut self, cause: Option<Instant>) -> Result<(), Status> {
        for t in push_order(self.types.keys()) {
            self.respond(t, false, cause).await?;
        }
        Ok(())
    }

    async fn push_secrets(&mut self) -> Result<(), Status> {
        self.respond(TypeKey::Xds(ResourceType::Secret), false, None)
            .await
    }
}

impl Sotw {
    async fn handle_request(&mut self, r: DiscoveryRequest) -> Result<(), Status> {
        let Some(t) = TypeKey::from_type_url(&r.type_url) else {
            tracing::debug!(type_url = %r.type_url, "request for an unknown type: ignored");
            return Ok(());
        };
        let names = requested_names(t, &r.resource_names);
        let st = self.types.entry(t).or_default();
        if !r.response_nonce.is_empty() && r.response_nonce != st.nonce {
            // A stale nonce: Envoy has a newer response coming.
            return Ok(());
        }
        if let Some(err) = &r.error_detail
            && !r.response_nonce.is_empty()
        {
            let version = st.sent.clone().unwrap_or_default();
            st.nacked = Some(version.clone());
            self.served.nack(t, version, err.message.clone());
            return Ok(());
        }
        let changed = match (&st.names, &names) {
            (None, None) => false,
            (Some(a), Some(b)) => a.set != *b,
            _ => true,
        };
        if r.response_nonce.is_empty() || changed {
            st.names = names.map(|n| self.served.hub.intern(n));
            let n = st.names.as_ref().map_or(usize::MAX, |n| n.set.len());
            self.served.status(t, |s| s.subscribed = n);
            return self.respond(t, true, None).await;
        }
        // An ACK.
        self.served.hub.metrics.ack(t);
        let acked = st.sent.clone();
        self.served.status(t, |s| s.acked = acked);
        Ok(())
    }

    async fn respond(
        &mut self,
        t: TypeKey,
        force: bool,
        cause: Option<Instant>,
    ) -> Result<(), Status> {
        let set = self.served.set(t);
        let Some(st) = self.types.get_mut(&t) else {
            return Ok(());
        };
        let version = set.version_of(st.names.as_deref());
        if !force && st.sent.as_deref() == Some(version.as_str()) {
            return Ok(());
        }
        if st.nacked.as_deref() == Some(version.as_str()) {
            return Ok(());
        }
        // The body (version, resources, type) is shared by every stream
        // that sends it; this stream adds its nonce.
        let body = set.sotw_body(t, st.names.as_ref());
        self.nonce += 1;
        let nonce = self.nonce.to_string();
        let tail = DiscoveryResponse {
            nonce: nonce.clone(),
            ..Default::default()
        };
        st.nonce = nonce;
        st.sent = Some(version.clone());
        send(&self.tx, vec![body, Bytes::from(tail.encode_to_vec())]).await?;
        self.served.hub.metrics.push(t, cause.map(|c| c.elapsed()));
        self.served.status(t, |s| {
            s.sent = Some(version);
            s.pushes += 1;
        });
        Ok(())
    }
}

/// One ADS stream's protocol (state of the world or delta): what the
/// shared driver, [`drive`], asks of it.
trait Session: Sized + Send {
    /// The requests the proxy sends.
    type Request: prost::Message + Default + Send + 'static;

    /// The node of a request (the first one carries it).
    fn node(r: &Self::Request) -> Option<&Node>;
    /// A session answering on `tx`.
    fn new(served: Served, tx: Outbound) -> Self;
    /// What the stream serves.
    fn served(&mut self) -> &mut Served;
    /// Handles one request.
    async fn handle(&mut self, r: Self::Request) -> Result<(), Status>;
    /// Pushes every subscribed type after a configuration change.
    async fn push_all(&mut self, cause: Option<Instant>) -> Result<(), Status>;
    /// Pushes the secrets after a certificate rotation.
    async fn push_secrets(&mut self) -> Result<(), Status>;
}

/// Serves one ADS stream: the first request names the proxy; then
/// requests are handled as they come, configuration changes pushed after
/// the debounce and certificates rotated when due, until the proxy leaves
/// or the controller shuts down.
async fn drive<S: Session>(
    hub: Arc<Hub>,
    mut inbound: Requests<S::Request>,
    tx: Outbound,
    mut shutdown: watch::Receiver<bool>,
    protocol: &'static str,
) -> Result<(), Status> {
    let Some(first) = inbound.message().await? else {
        return Ok(());
    };
    let node = S::node(&first)
        .ok_or_else(|| Status::invalid_argument("the first request carries no node"))?;
    let proxy = proxy_from_node(node)?;
    let mut generations = hub.subscribe();
    generations.borrow_and_update();
    let debounce = hub.options.push_debounce;
    let mut c = S::new(Served::new(hub, proxy, protocol), tx);
    c.handle(first).await?;
    let mut push_at = None;
    let mut closed = false;
    loop {
        let rotate_at = c.served().rotate_at;
        tokio::select! {
            m = inbound.message() => match m {
                Ok(Some(r)) => c.handle(r).await?,
                Ok(None) => return Ok(()),
                Err(e) => {
                    tracing::debug!(connection = c.served().connection, error = %e, "stream error");
                    return Ok(());
                }
            },
            changed = generations.changed(), if !closed => {
                if changed.is_err() {
                    closed = true;
                } else if push_at.is_none() {
                    push_at = Some(tokio::time::Instant::now() + debounce);
                }
            }
            () = sleep_until_deadline(push_at) => {
                push_at = None;
                let g = generations.borrow_and_update().clone();
                if c.served().advance(g) {
                    let cause = c.served().generation.published;
                    c.push_all(Some(cause)).await?;
                }
            }
            () = sleep_until_system(rotate_at) => {
                c.served().refresh_secrets();
                c.push_secrets().await?;
            }
            () = shutdown_signal(&mut shutdown) => {
                return Err(Status::unavailable("the controller is shutting down"));
            }
        }
    }
}

// ---------------------------------------------------------------------------
// Incremental (delta).

/// A (name, version) pair whose strings are shared with the [`TypeSet`]
/// the resource was sent from.
type Key = (Arc<str>, Arc<str>);

/// What a proxy holds of one type: (name, version) pairs sorted by name.
/// The strings are shared with the sets they were sent from, so that a
/// thousand proxies holding the same thousand resources do not each keep
/// a copy of every name and version.
#[derive(Debug, Default)]
struct Held(Vec<Key>);

impl Held {
    fn find(&self, name: &str) -> Result<usize, usize> {
        self.0.binary_search_by(|(n, _)| (**n).cmp(name))
    }

    fn remove(&mut self, name: &str) -> Option<Arc<str>> {
        self.find(name).ok().map(|i| self.0.remove(i).1)
    }

    fn insert(&mut self, name: Arc<str>, version: Arc<str>) {
        match self.find(&name) {
            Ok(i) => self.0[i].1 = version,
            Err(i) => self.0.insert(i, (name, version)),
        }
    }
}

/// Consecutive items of a set being added to a delta response: sent as
/// one shared piece ([`TypeSet::delta_run`]).
#[derive(Debug, Default)]
struct Run<'a> {
    items: Vec<Item<'a>>,
}

impl<'a> Run<'a> {
    /// Adds `item`, after the items before it.
    fn push(&mut self, set: &TypeSet, pieces: &mut Vec<Bytes>, item: Item<'a>) {
        if self
            .items
            .last()
            .is_some_and(|last| last.index + 1 != item.index)
        {
            self.flush(set, pieces);
        }
        self.items.push(item);
    }

    /// Ends the run: its piece joins `pieces`.
    fn flush(&mut self, set: &TypeSet, pieces: &mut Vec<Bytes>) {
        match self.items.as_slice() {
            [] => {}
            [one] => pieces.push(one.delta_entry()),
            [first, .., last] => {
                pieces.push(set.delta_run(first.index, last.index, || {
                    self.items.iter().map(Item::delta_entry).collect()
                }));
            }
        }
        self.items.clear();
    }
}

#[derive(Debug, Default)]
struct DeltaType {
    wildcard: bool,
    /// The names subscribed to (interned: proxies of a shape share them).
    names: Option<Arc<Names>>,
    /// What the proxy holds.
    sent: Held,
    /// Versions rejected: name → version.
    nacked: HashMap<String, String>,
    /// Responses not yet answered: nonce → (system version, what was sent).
    pending: HashMap<String, (String, Vec<Key>)>,
    /// The version of the set last compared with what the proxy holds,
    /// while neither the subscription nor what it holds has changed since
    /// (other than by that comparison's push): comparing again would find
    /// nothing to send.
    walked: Option<String>,
}

impl DeltaType {
    fn wants(&self, name: &str) -> bool {
        self.wildcard || self.names.as_ref().is_some_and(|n| n.set.contains(name))
    }
}

struct Delta {
    served: Served,
    tx: Outbound,
    types: BTreeMap<TypeKey, DeltaType>,
    nonce: u64,
}

impl Session for Delta {
    type Request = DeltaDiscoveryRequest;

    fn node(r: &DeltaDiscoveryRequest) -> Option<&Node> {
        r.node.as_ref()
    }

    fn new(served: Served, tx: Outbound) -> Delta {
        Delta {
            served,
            tx,
            types: BTreeMap::new(),
            nonce: 0,
        }
    }

    fn served(&mut self) -> &mut Served {
        &mut self.served
    }

    async fn handle(&mut self, r: DeltaDiscoveryRequest) -> Result<(), Status> {
        self.handle_request(r).await
    }

    async fn push_all(&mut self, cause: Option<Instant>) -> Result<(), Status> {
        for t in push_order(self.types.keys()) {
            self.push(t, cause).await?;
        }
        Ok(())
    }

    async fn push_secrets(&mut self) -> Result<(), Status> {
        self.push(TypeKey::Xds(ResourceType::Secret), None).await
    }
}

impl Delta {
    async fn handle_request(&mut self, r: DeltaDiscoveryRequest) -> Result<(), Status> {
        let Some(t) = TypeKey::from_type_url(&r.type_url) else {
            tracing::debug!(type_url = %r.type_url, "request for an unknown type: ignored");
            return Ok(());
        };
        let first = !self.types.contains_key(&t);
        let st = self.types.entry(t).or_default();
        if !r.response_nonce.is_empty()
            && let Some((version, sent)) = st.pending.remove(&r.response_nonce)
        {
            match &r.error_detail {
                Some(err) => {
                    for (n, v) in sent {
                        st.sent.remove(&n);
                        st.nacked.insert(n.to_string(), v.to_string());
                    }
                    st.walked = None;
                    self.served.nack(t, version, err.message.clone());
                }
                None => {
                    self.served.hub.metrics.ack(t);
                    self.served.status(t, |s| s.acked = Some(version));
                }
            }
        }
        if first {
            for (n, v) in &r.initial_resource_versions {
                st.sent.insert(n.as_str().into(), v.as_str().into());
            }
            if t.wildcard() && r.resource_names_subscribe.is_empty() {
                st.wildcard = true;
            }
        }
        let mut subscribed = false;
        let mut names =
            if r.resource_names_subscribe.is_empty() && r.resource_names_unsubscribe.is_empty() {
                BTreeSet::new()
            } else {
                // The subscription changes: a new set, interned below.
                st.names.as_ref().map(|n| n.set.clone()).unwrap_or_default()
            };
        let mut names_changed = false;
        for n in &r.resource_names_subscribe {
            if n == "*" {
                subscribed |= !st.wildcard;
                st.wildcard = true;
            } else {
                let added = names.insert(n.clone());
                names_changed |= added;
                subscribed |= added;
                // A re-subscription asks for the resource again.
                subscribed |= st.sent.remove(n).is_some();
            }
        }
        for n in &r.resource_names_unsubscribe {
            if n == "*" {
                st.wildcard = false;
            } else {
                names_changed |= names.remove(n);
                st.sent.remove(n);
            }
        }
        if names_changed {
            st.names = (!names.is_empty()).then(|| self.served.hub.intern(names));
        }
        if first || subscribed || !r.resource_names_unsubscribe.is_empty() {
            st.walked = None;
        }
        let n = if st.wildcard {
            usize::MAX
        } else {
            st.names.as_ref().map_or(0, |n| n.set.len())
        };
        self.served.status(t, |s| s.subscribed = n);
        if first || subscribed {
            self.push(t, None).await?;
        }
        Ok(())
    }

    async fn push(&mut self, t: TypeKey, cause: Option<Instant>) -> Result<(), Status> {
        let set = self.served.set(t);
        let Some(st) = self.types.get_mut(&t) else {
            return Ok(());
        };
        if st.walked.as_deref() == Some(set.version.as_str()) {
            return Ok(());
        }
        st.walked = Some(set.version.clone());
        // The message: the system version, each resource's shared
        // encoding, then the type, the removals and the nonce.
        let head = DeltaDiscoveryResponse {
            system_version_info: set.version.clone(),
            ..Default::default()
        };
        let mut pieces = vec![Bytes::from(head.encode_to_vec())];
        let mut sent: Vec<Key> = Vec::new();
        let mut removed: Vec<String> = Vec::new();
        // What the proxy will hold; both lists are sorted by name, so they
        // are walked side by side.
        let mut held: Vec<Key> = Vec::with_capacity(st.sent.0.len());
        let mut run = Run::default();
        let mut old = st.sent.0.iter().peekable();
        for item in set.iter() {
            let v = item.resource;
            let name = v.name.as_str();
            // Held, but no longer in the set.
            while let Some((n, _)) = old.next_if(|(n, _)| &**n < name) {
                removed.push(n.to_string());
            }
            let had = old.next_if(|(n, _)| &**n == name);
            if !st.wants(name) {
                if let Some((n, _)) = had {
                    removed.push(n.to_string());
                }
                continue;
            }
            if let Some(h) = had
                && *h.1 == *v.version
            {
                held.push(h.clone());
                continue;
            }
            if st.nacked.get(name) == Some(&v.version) {
                held.extend(had.cloned());
                continue;
            }
            run.push(&set, &mut pieces, item);
            sent.push(item.key());
            held.push(item.key());
        }
        run.flush(&set, &mut pieces);
        removed.extend(old.map(|(n, _)| n.to_string()));
        if sent.is_empty() && removed.is_empty() {
            return Ok(());
        }
        st.sent = Held(held);
        self.nonce += 1;
        let nonce = self.nonce.to_string();
        if st.pending.len() > 64 {
            st.pending.clear();
        }
        st.pending
            .insert(nonce.clone(), (set.version.clone(), sent));
        let tail = DeltaDiscoveryResponse {
            type_url: t.type_url(),
            removed_resources: removed,
            nonce,
            ..Default::default()
        };
        pieces.push(Bytes::from(tail.encode_to_vec()));
        send(&self.tx, pieces).await?;
        self.served.hub.metrics.push(t, cause.map(|c| c.elapsed()));
        let version = set.version.clone();
        self.served.status(t, |s| {
            s.sent = Some(version);
            s.pushes += 1;
        });
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use envoy_types::pb::google::protobuf::{Struct, Value};

    fn s(v: &str) -> Value {
        Value {
            kind: Some(Kind::StringValue(v.into())),
        }
    }

    #[test]
    fn a_node_describes_its_proxy() {
        let node = Node {
            id: "sidecar~10.1.0.5~reviews-v1-abc.bookinfo~bookinfo.svc.cluster.local".into(),
            metadata: Some(Struct {
                fields: [
                    ("NAMESPACE".to_string(), s("bookinfo")),
                    ("SERVICE_ACCOUNT".to_string(), s("bookinfo-reviews")),
                    ("INSTANCE_IPS".to_string(), s("10.1.0.5,fd00::5")),
                    (
                        "LABELS".to_string(),
                        Value {
                            kind: Some(Kind::StructValue(Struct {
                                fields: [("app".to_string(), s("reviews"))].into(),
                            })),
                        },
                    ),
                ]
                .into(),
            }),
            ..Default::default()
        };
        let p = proxy_from_node(&node).unwrap();
        assert_eq!(p.kind, ProxyKind::Sidecar);
        assert_eq!(p.namespace, "bookinfo");
        assert_eq!(p.service_account, "bookinfo-reviews");
        assert_eq!(p.ips.len(), 2);
        assert_eq!(p.labels.get("app").map(String::as_str), Some("reviews"));
        assert!(proxy_from_node(&Node::default()).is_err());
    }
}
