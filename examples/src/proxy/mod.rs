//! A sidecar and gateway data plane built on the mesh crates: mesh-route
//! decides where a request goes, mesh-authz whether it may, rustls carries
//! Istio mTLS, hyper speaks HTTP/1.1.
//!
//! ```text
//!  config (local YAML, or the controller over ADS: Istio resources + SDS)
//!      │ Snapshot
//!      ▼
//!  MeshState (per proxy: listeners, RouteTable, WorkloadAuthz, PeerPolicies,
//!      │       WorkloadJwt, clusters with endpoints, LB, outlier detection)
//!      ▼
//!  listeners ── outbound: route → fault → weighted pick → headers/rewrite
//!           │             → mirrors → LB → pool (mTLS|plain) → retries
//!           └─ inbound:  TLS sniff → mTLS per PeerAuthentication → JWT
//!                         → AuthorizationPolicy → local app
//!  metrics port (/stats/prometheus, /metrics) · JSON access log
//! ```
//!
//! Listeners come from the configuration as an Envoy sidecar without
//! traffic capture has them: a Sidecar resource's ingress listeners
//! (`bind`/`port` → `defaultEndpoint`) and egress listeners with a port
//! (`bind`/`port`, routing that port's services), a gateway's server ports.
//! The proxy keeps its last good configuration: a new one that fails to
//! bind a listener leaves the others serving.

pub mod ads;
pub mod http;
pub mod state;
pub mod telemetry;
pub mod tls;
pub mod upstream;

use http_body_util::BodyExt;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use mesh_model::security::MtlsMode;
use mesh_model::snapshot::Snapshot;
use state::{HealthRegistry, ListenerKind, MeshState, Workload};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;
use telemetry::{AccessLog, Metrics};
use tls::Identity;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// Limits that protect the proxy from clients.
#[derive(Debug, Clone)]
pub struct Limits {
    /// Request bodies are buffered (for retries and mirrors) up to this
    /// size; larger ones get 413.
    pub max_request_body: usize,
    /// A client has this long to send its request headers (and, on an
    /// inbound port, its first bytes).
    pub header_read_timeout: Duration,
    /// Request headers larger than this get 431.
    pub max_header_bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_request_body: 4 << 20,
            header_read_timeout: Duration::from_secs(10),
            max_header_bytes: 64 << 10,
        }
    }
}

/// Where the configuration comes from.
#[derive(Debug, Clone)]
pub enum ConfigSource {
    /// A fixed mesh (local YAML) and, for mTLS, a fixed identity.
    Static {
        /// The mesh.
        snapshot: Snapshot,
        /// The workload certificate.
        identity: Option<Arc<Identity>>,
    },
    /// The controller's ADS server: Istio resources and SDS secrets.
    Ads {
        /// Its address.
        address: SocketAddr,
    },
}

/// How to run a proxy.
#[derive(Debug, Clone)]
pub struct ProxyOptions {
    /// The workload it serves.
    pub workload: Workload,
    /// The configuration.
    pub source: ConfigSource,
    /// The metrics port (Prometheus text at `/stats/prometheus`).
    pub metrics: Option<SocketAddr>,
    /// The access log.
    pub access_log: AccessLog,
    /// Limits.
    pub limits: Limits,
    /// How long to wait for the first configuration.
    pub initial_fetch_timeout: Duration,
}

impl ProxyOptions {
    /// Options for `workload` with `source`, no metrics port, no log.
    pub fn new(workload: Workload, source: ConfigSource) -> ProxyOptions {
        ProxyOptions {
            workload,
            source,
            metrics: None,
            access_log: AccessLog::Off,
            limits: Limits::default(),
            initial_fetch_timeout: Duration::from_secs(15),
        }
    }
}

/// Why a proxy could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// A port could not be bound.
    #[error("bind {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// The error.
        source: std::io::Error,
    },
    /// No configuration arrived in time.
    #[error("no configuration from {0} within the initial fetch timeout")]
    NoConfig(String),
}

/// What every connection of a proxy shares.
pub struct Shared {
    state: RwLock<Arc<MeshState>>,
    identity: RwLock<Option<Arc<Identity>>>,
    /// The metrics.
    pub metrics: Metrics,
    /// The access log.
    pub log: AccessLog,
    pool: Arc<upstream::Pool>,
    health: HealthRegistry,
    workload: Workload,
    node_id: String,
    limits: Limits,
    listeners: Mutex<HashMap<SocketAddr, JoinHandle<()>>>,
    shutdown: watch::Receiver<bool>,
    config_version: watch::Sender<u64>,
}

impl std::fmt::Debug for Shared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shared")
            .field("workload", &self.workload)
            .finish_non_exhaustive()
    }
}

impl Shared {
    /// The current configuration.
    pub fn state(&self) -> Arc<MeshState> {
        self.state.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// The current workload certificate.
    pub fn identity(&self) -> Option<Arc<Identity>> {
        self.identity
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Installs a new mesh: compiles it, binds new listeners, stops
    /// removed ones.
    pub fn apply(self: &Arc<Self>, snapshot: Snapshot) {
        let st = Arc::new(MeshState::build(
            snapshot,
            self.workload.clone(),
            &self.health,
        ));
        *self.state.write().unwrap_or_else(|e| e.into_inner()) = st.clone();
        self.reconcile(&st);
        self.config_version.send_modify(|v| *v += 1);
    }

    /// Loads configuration texts and installs them only if every object is
    /// valid (Envoy's NACK: the last good configuration stays).
    pub fn apply_checked(self: &Arc<Self>, sources: &[(&str, &str)]) -> Result<(), Vec<String>> {
        let loaded = mesh_model::load(sources, &mesh_model::LoadOptions::default());
        let errors = loaded.errors();
        if !errors.is_empty() {
            tracing::warn!(?errors, "configuration rejected; keeping the last good one");
            return Err(errors);
        }
        self.apply(loaded.snapshot);
        Ok(())
    }

    /// Installs a new workload certificate.
    pub fn set_identity(&self, id: Arc<Identity>) {
        *self.identity.write().unwrap_or_else(|e| e.into_inner()) = Some(id);
    }

    fn reconcile(self: &Arc<Self>, st: &MeshState) {
        let mut ls = self.listeners.lock().unwrap_or_else(|e| e.into_inner());
        ls.retain(|addr, task| {
            let keep = st.listener(*addr).is_some();
            if !keep {
                task.abort();
            }
            keep
        });
        for l in &st.listeners {
            if ls.contains_key(&l.addr) {
                continue;
            }
            match bind(l.addr) {
                Ok(listener) => {
                    let task = tokio::spawn(accept_loop(self.clone(), listener, l.addr));
                    ls.insert(l.addr, task);
                }
                Err(e) => {
                    tracing::error!(addr = %l.addr, error = %e, "could not bind a listener");
                }
            }
        }
    }

    /// The addresses listened on.
    pub fn listening(&self) -> Vec<SocketAddr> {
        let mut v: Vec<SocketAddr> = self
            .listeners
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .keys()
            .copied()
            .collect();
        v.sort();
        v
    }
}

fn bind(addr: SocketAddr) -> std::io::Result<TcpListener> {
    let std = std::net::TcpListener::bind(addr)?;
    std.set_nonblocking(true)?;
    TcpListener::from_std(std)
}

async fn accept_loop(shared: Arc<Shared>, listener: TcpListener, addr: SocketAddr) {
    let mut stop = shared.shutdown.clone();
    loop {
        tokio::select! {
            r = listener.accept() => match r {
                Ok((stream, peer)) => {
                    let _ = stream.set_nodelay(true);
                    tokio::spawn(connection(shared.clone(), stream, peer, addr));
                }
                Err(e) => {
                    tracing::warn!(%addr, error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            },
            _ = stop.changed() => return,
        }
    }
}

/// Whether the first byte of a connection starts a TLS handshake.
async fn sniff_tls(stream: &TcpStream, timeout: Duration) -> Option<bool> {
    let mut b = [0u8; 1];
    match tokio::time::timeout(timeout, stream.peek(&mut b)).await {
        Ok(Ok(1)) => Some(b[0] == 0x16),
        _ => None,
    }
}

async fn connection(shared: Arc<Shared>, stream: TcpStream, peer: SocketAddr, local: SocketAddr) {
    let st = shared.state();
    let Some(l) = st.listener(local).cloned() else {
        return;
    };
    drop(st);
    let mut info = http::ConnInfo {
        peer,
        local,
        kind: l.kind.clone(),
        principal: None,
        mtls: false,
        mode: None,
        sni: None,
    };
    match l.kind {
        ListenerKind::Outbound { .. } => serve(shared, stream, info).await,
        ListenerKind::Inbound { target_port, .. } => {
            let mode = shared.state().mtls_mode(target_port);
            info.mode = Some(mode);
            let tls = if mode == MtlsMode::Disable {
                false
            } else {
                match sniff_tls(&stream, shared.limits.header_read_timeout).await {
                    Some(t) => t,
                    None => return,
                }
            };
            if !tls {
                if mode == MtlsMode::Strict {
                    // PA-6: plaintext matches no filter chain under STRICT.
                    refused(
                        &shared,
                        &info,
                        "plaintext connection refused: mTLS is STRICT",
                    );
                    return;
                }
                return serve(shared, stream, info).await;
            }
            let Some(id) = shared.identity() else {
                refused(
                    &shared,
                    &info,
                    "mTLS connection refused: no workload certificate",
                );
                return;
            };
            let acceptor = tokio_rustls::TlsAcceptor::from(id.server_config());
            let accepted =
                tokio::time::timeout(shared.limits.header_read_timeout, acceptor.accept(stream))
                    .await;
            let tls_stream = match accepted {
                Ok(Ok(s)) => s,
                Ok(Err(e)) => {
                    refused(&shared, &info, &format!("TLS handshake failed: {e}"));
                    return;
                }
                Err(_) => return,
            };
            let (_, c) = tls_stream.get_ref();
            info.principal = tls::peer_principal(c.peer_certificates());
            info.sni = c.server_name().map(str::to_string);
            info.mtls = true;
            serve(shared, tls_stream, info).await
        }
    }
}

fn refused(shared: &Shared, info: &http::ConnInfo, why: &str) {
    if !shared.log.enabled() {
        return;
    }
    let st = shared.state();
    shared.log.write(serde_json::json!({
        "direction": "inbound",
        "workload": format!("{}.{}", st.workload.name, st.workload.namespace),
        "response_code": 0,
        "response_flags": "NR",
        "response_code_details": "filter_chain_not_found",
        "connection_termination_details": why,
        "downstream_remote_address": info.peer.to_string(),
        "downstream_local_address": info.local.to_string(),
        "mtls_mode": info.mode.map(|m| format!("{m:?}").to_uppercase()),
    }));
}

async fn serve<S>(shared: Arc<Shared>, stream: S, info: http::ConnInfo)
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let info = Arc::new(info);
    let svc = {
        let shared = shared.clone();
        service_fn(move |req| http::handle(shared.clone(), info.clone(), req))
    };
    let mut b = http1::Builder::new();
    b.timer(TokioTimer::new())
        .header_read_timeout(shared.limits.header_read_timeout)
        .max_buf_size(shared.limits.max_header_bytes.max(8192))
        .keep_alive(true);
    let conn = b.serve_connection(TokioIo::new(stream), svc);
    let mut stop = shared.shutdown.clone();
    tokio::pin!(conn);
    tokio::select! {
        _ = conn.as_mut() => {}
        _ = stop.changed() => {
            conn.as_mut().graceful_shutdown();
            let _ = tokio::time::timeout(Duration::from_secs(1), conn).await;
        }
    }
}

/// A running proxy.
#[derive(Debug)]
pub struct RunningProxy {
    /// The shared state.
    pub shared: Arc<Shared>,
    /// The metrics address.
    pub metrics_addr: Option<SocketAddr>,
    shutdown: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
}

impl RunningProxy {
    /// Starts a proxy: waits for its first configuration (and, over ADS,
    /// its certificate), binds its listeners and serves.
    pub async fn start(opts: ProxyOptions) -> Result<RunningProxy, StartError> {
        let (shutdown, shutdown_rx) = watch::channel(false);
        let (config_version, mut version_rx) = watch::channel(0u64);
        let metrics_listener = match opts.metrics {
            Some(a) => Some(bind(a).map_err(|source| StartError::Bind { addr: a, source })?),
            None => None,
        };
        let health = HealthRegistry::default();
        let empty = MeshState::build(Snapshot::default(), opts.workload.clone(), &health);
        let shared = Arc::new(Shared {
            state: RwLock::new(Arc::new(empty)),
            identity: RwLock::new(None),
            metrics: Metrics::default(),
            log: opts.access_log.clone(),
            pool: Arc::default(),
            health,
            node_id: opts.workload.node_id(),
            workload: opts.workload.clone(),
            limits: opts.limits.clone(),
            listeners: Mutex::new(HashMap::new()),
            shutdown: shutdown_rx.clone(),
            config_version,
        });
        let mut tasks = Vec::new();
        let mut metrics_addr = None;
        if let Some(l) = metrics_listener {
            metrics_addr = l.local_addr().ok();
            tasks.push(tokio::spawn(serve_metrics(shared.clone(), l)));
        }
        match opts.source {
            ConfigSource::Static { snapshot, identity } => {
                if let Some(id) = identity {
                    shared.set_identity(id);
                }
                shared.apply(snapshot);
            }
            ConfigSource::Ads { address } => {
                tasks.push(tokio::spawn(ads::run(
                    shared.clone(),
                    address,
                    shutdown_rx.clone(),
                )));
                let ready = async {
                    loop {
                        if *version_rx.borrow_and_update() > 0 && shared.identity().is_some() {
                            return;
                        }
                        if version_rx.changed().await.is_err() {
                            return;
                        }
                    }
                };
                if tokio::time::timeout(opts.initial_fetch_timeout, ready)
                    .await
                    .is_err()
                {
                    let _ = shutdown.send(true);
                    for t in tasks {
                        t.abort();
                    }
                    return Err(StartError::NoConfig(address.to_string()));
                }
            }
        }
        Ok(RunningProxy {
            shared,
            metrics_addr,
            shutdown,
            tasks,
        })
    }

    /// Installs a new mesh (local configuration).
    pub fn update(&self, snapshot: Snapshot) {
        self.shared.apply(snapshot);
    }

    /// Loads configuration texts (`(label, YAML)`) and installs them only
    /// if every object is valid; otherwise the proxy keeps its last good
    /// configuration and the errors are returned.
    pub fn update_from(&self, sources: &[(&str, &str)]) -> Result<(), Vec<String>> {
        self.shared.apply_checked(sources)
    }

    /// The addresses the proxy listens on.
    pub fn listening(&self) -> Vec<SocketAddr> {
        self.shared.listening()
    }

    /// The metrics in Prometheus text format.
    pub fn metrics(&self) -> String {
        self.shared.metrics.render()
    }

    /// Stops serving and closes every listener.
    pub async fn shutdown(self) {
        let _ = self.shutdown.send(true);
        let handles: Vec<JoinHandle<()>> = self
            .shared
            .listeners
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .drain()
            .map(|(_, t)| t)
            .collect();
        for t in handles {
            t.abort();
            let _ = t.await;
        }
        for t in self.tasks {
            t.abort();
            let _ = t.await;
        }
    }
}

async fn serve_metrics(shared: Arc<Shared>, listener: TcpListener) {
    let mut stop = shared.shutdown.clone();
    loop {
        let stream = tokio::select! {
            r = listener.accept() => match r {
                Ok((s, _)) => s,
                Err(_) => continue,
            },
            _ = stop.changed() => return,
        };
        let shared = shared.clone();
        tokio::spawn(async move {
            let svc = service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
                let shared = shared.clone();
                async move {
                    let (status, body) = match req.uri().path() {
                        "/stats/prometheus" | "/metrics" => (200, shared.metrics.render()),
                        "/ready" | "/healthz/ready" => (200, "ready\n".to_string()),
                        "/config_dump" => (200, config_dump(&shared)),
                        _ => (404, "not found\n".to_string()),
                    };
                    let mut r = hyper::Response::new(
                        http_body_util::Full::new(bytes::Bytes::from(body)).map_err(|n| match n {}),
                    );
                    *r.status_mut() =
                        hyper::StatusCode::from_u16(status).unwrap_or(hyper::StatusCode::OK);
                    Ok::<_, std::convert::Infallible>(r)
                }
            });
            let _ = http1::Builder::new()
                .serve_connection(TokioIo::new(stream), svc)
                .await;
        });
    }
}

fn config_dump(shared: &Shared) -> String {
    let st = shared.state();
    let mut clusters: Vec<serde_json::Value> = st
        .clusters
        .values()
        .map(|c| {
            serde_json::json!({
                "name": c.name,
                "lb": format!("{:?}", c.lb),
                "endpoints": c.endpoints.iter().map(|e| serde_json::json!({
                    "address": e.addr.to_string(),
                    "mtls": e.tls.is_some(),
                    "ejected": c.is_ejected(e),
                })).collect::<Vec<_>>(),
            })
        })
        .collect();
    clusters.sort_by(|a, b| a["name"].as_str().cmp(&b["name"].as_str()));
    let listeners: Vec<serde_json::Value> = st
        .listeners
        .iter()
        .map(
            |l| serde_json::json!({"address": l.addr.to_string(), "kind": format!("{:?}", l.kind)}),
        )
        .collect();
    serde_json::to_string_pretty(&serde_json::json!({
        "workload": st.workload.node_id(),
        "identity": shared.identity().map(|i| i.spiffe_id.clone()),
        "listeners": listeners,
        "clusters": clusters,
    }))
    .unwrap_or_default()
}
