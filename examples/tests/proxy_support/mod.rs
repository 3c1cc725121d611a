//! Shared pieces of the proxy tests: a test CA issuing SPIFFE workload
//! certificates, backends that say who answered, a plain HTTP client,
//! free ports from the OS, and the mesh YAML every test starts from.
//!
//! Everything runs in the test's own runtime: when a test ends (or
//! panics) the runtime drops and every server it started stops with it.

#![allow(dead_code)]

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use mesh_examples::controller::ca::Ca;
use mesh_examples::proxy::state::{ProxyKind, Workload};
use mesh_examples::proxy::telemetry::AccessLog;
use mesh_examples::proxy::tls::Identity;
use mesh_examples::proxy::{ConfigSource, ProxyOptions, RunningProxy};
use mesh_model::labels::Labels;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU32, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};
use tokio::net::{TcpListener, TcpStream};

/// A port on 127.0.0.1 that the OS handed out (and that is free again),
/// never the same twice in this process, so tests running side by side do
/// not race for one port between asking and binding.
pub fn free_port() -> u16 {
    static GIVEN: Mutex<Vec<u16>> = Mutex::new(Vec::new());
    loop {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .expect("a free port");
        let mut given = GIVEN.lock().unwrap();
        if !given.contains(&port) {
            given.push(port);
            return port;
        }
    }
}

/// The mesh CA for tests: the controller's own CA
/// (`mesh_examples::controller::ca::Ca`), so that proxies and Envoys in
/// these tests run with controller-issued SPIFFE certificates.
pub struct TestCa {
    ca: Ca,
    /// The root, PEM.
    pub root_pem: String,
}

impl TestCa {
    /// A new root for trust domain `cluster.local`.
    pub fn new() -> TestCa {
        let ca = Ca::generate("cluster.local", Duration::from_secs(24 * 3600)).unwrap();
        TestCa {
            root_pem: ca.root_pem().to_string(),
            ca,
        }
    }

    /// The workload certificate the controller issues for
    /// `spiffe://cluster.local/ns/NS/sa/SA`: (chain PEM, key PEM).
    pub fn issue_pem(&self, ns: &str, sa: &str) -> (String, String) {
        let c = self.ca.certificate(ns, sa, SystemTime::now()).unwrap();
        (c.chain_pem.clone(), c.key_pem.clone())
    }

    /// The identity of a workload.
    pub fn identity(&self, ns: &str, sa: &str) -> Arc<Identity> {
        let (c, k) = self.issue_pem(ns, sa);
        Arc::new(Identity::from_pem(&c, &k, &self.root_pem).unwrap())
    }
}

/// How a backend answers.
#[derive(Debug, Clone, Default)]
pub struct Behaviour {
    /// The status (200 when 0).
    pub status: u16,
    /// Delay before answering.
    pub delay: Duration,
    /// Close the connection without answering.
    pub reset: bool,
}

/// A request a backend saw: its path and headers.
pub type Seen = (String, BTreeMap<String, String>);

/// A backend that answers with `x-served-by: NAME` and a JSON echo of the
/// request (method, path, headers).
pub struct Backend {
    /// Its name.
    pub name: String,
    /// Its address.
    pub addr: SocketAddr,
    /// Requests served.
    pub hits: Arc<AtomicUsize>,
    /// Connections accepted.
    pub conns: Arc<AtomicUsize>,
    /// The next `fail_next` requests answer 503.
    pub fail_next: Arc<AtomicU32>,
    /// The behaviour.
    pub behaviour: Arc<Mutex<Behaviour>>,
    /// The requests seen (path, headers).
    pub seen: Arc<Mutex<Vec<Seen>>>,
}

impl Backend {
    /// Starts a backend on 127.0.0.1 (a port from the OS).
    pub async fn start(name: &str) -> Backend {
        // A port from `free_port`, never an ephemeral bind: the OS could
        // hand out a port another part of the test was given and has not
        // bound yet.
        let addr = SocketAddr::from(([127, 0, 0, 1], free_port()));
        Backend::start_on(addr, name).await
    }

    /// Starts a backend on `addr`.
    pub async fn start_on(addr: SocketAddr, name: &str) -> Backend {
        let l = TcpListener::bind(addr).await.unwrap();
        let addr = l.local_addr().unwrap();
        let b = Backend {
            name: name.to_string(),
            addr,
            hits: Arc::default(),
            conns: Arc::default(),
            fail_next: Arc::default(),
            behaviour: Arc::default(),
            seen: Arc::default(),
        };
        let (name, hits, fail, beh, seen) = (
            b.name.clone(),
            b.hits.clone(),
            b.fail_next.clone(),
            b.behaviour.clone(),
            b.seen.clone(),
        );
        let conns = b.conns.clone();
        tokio::spawn(async move {
            loop {
                let Ok((s, _)) = l.accept().await else {
                    continue;
                };
                conns.fetch_add(1, Ordering::SeqCst);
                let (name, hits, fail, beh, seen) = (
                    name.clone(),
                    hits.clone(),
                    fail.clone(),
                    beh.clone(),
                    seen.clone(),
                );
                tokio::spawn(async move {
                    let svc = service_fn(move |req: Request<Incoming>| {
                        let (name, hits, fail, beh, seen) = (
                            name.clone(),
                            hits.clone(),
                            fail.clone(),
                            beh.clone(),
                            seen.clone(),
                        );
                        async move {
                            hits.fetch_add(1, Ordering::SeqCst);
                            let b = beh.lock().unwrap().clone();
                            let path = req
                                .uri()
                                .path_and_query()
                                .map_or("/".to_string(), |p| p.to_string());
                            let headers: BTreeMap<String, String> = req
                                .headers()
                                .iter()
                                .map(|(k, v)| (k.to_string(), v.to_str().unwrap_or("").to_string()))
                                .collect();
                            seen.lock().unwrap().push((path.clone(), headers.clone()));
                            let method = req.method().to_string();
                            let _ = req.into_body().collect().await;
                            if !b.delay.is_zero() {
                                tokio::time::sleep(b.delay).await;
                            }
                            if b.reset {
                                return Err("reset");
                            }
                            let mut status = if b.status == 0 { 200 } else { b.status };
                            if fail
                                .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| {
                                    n.checked_sub(1)
                                })
                                .is_ok()
                            {
                                status = 503;
                            }
                            let body = serde_json::json!({
                                "served_by": name, "method": method, "path": path, "headers": headers,
                            });
                            let mut r = Response::new(Full::new(Bytes::from(body.to_string())));
                            *r.status_mut() = hyper::StatusCode::from_u16(status).unwrap();
                            r.headers_mut().insert("x-served-by", name.parse().unwrap());
                            Ok::<_, &str>(r)
                        }
                    });
                    let _ = http1::Builder::new()
                        .serve_connection(TokioIo::new(s), svc)
                        .await;
                });
            }
        });
        b
    }
}

/// A response as a test sees it.
#[derive(Debug)]
pub struct Reply {
    /// Status.
    pub status: u16,
    /// Headers.
    pub headers: hyper::HeaderMap,
    /// Body.
    pub body: String,
}

impl Reply {
    /// `x-served-by`.
    pub fn served_by(&self) -> Option<&str> {
        self.headers
            .get("x-served-by")
            .and_then(|v| v.to_str().ok())
    }

    /// A response header.
    pub fn header(&self, n: &str) -> Option<&str> {
        self.headers.get(n).and_then(|v| v.to_str().ok())
    }

    /// The body as JSON.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap_or(serde_json::Value::Null)
    }
}

/// Sends one request on a new connection.
pub async fn send(
    addr: SocketAddr,
    method: &str,
    host: &str,
    path: &str,
    headers: &[(&str, &str)],
) -> Result<Reply, String> {
    let s = TcpStream::connect(addr).await.map_err(|e| e.to_string())?;
    let (mut tx, conn) = hyper::client::conn::http1::handshake(TokioIo::new(s))
        .await
        .map_err(|e| e.to_string())?;
    tokio::spawn(conn);
    let mut b = Request::builder()
        .method(method)
        .uri(path)
        .header("host", host);
    for (k, v) in headers {
        b = b.header(*k, *v);
    }
    let req = b.body(Full::new(Bytes::new())).map_err(|e| e.to_string())?;
    let resp = tokio::time::timeout(Duration::from_secs(20), tx.send_request(req))
        .await
        .map_err(|_| "timeout".to_string())?
        .map_err(|e| e.to_string())?;
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    let body = resp
        .into_body()
        .collect()
        .await
        .map_err(|e| e.to_string())?
        .to_bytes();
    Ok(Reply {
        status,
        headers,
        body: String::from_utf8_lossy(&body).into_owned(),
    })
}

/// `GET` on a new connection.
pub async fn get(addr: SocketAddr, host: &str, path: &str) -> Reply {
    send(addr, "GET", host, path, &[]).await.unwrap()
}

/// A sidecar workload in namespace `test`.
pub fn workload(name: &str, app: &str, sa: &str) -> Workload {
    let mut labels = Labels::new();
    labels.insert("app".into(), app.into());
    Workload {
        kind: ProxyKind::Sidecar,
        name: name.into(),
        namespace: "test".into(),
        labels,
        service_account: sa.into(),
        ip: "127.0.0.1".parse().unwrap(),
    }
}

/// Loads YAML into a snapshot, failing on any error.
pub fn snapshot(yaml: &str) -> mesh_model::snapshot::Snapshot {
    let loaded = mesh_model::load(&[("test.yaml", yaml)], &mesh_model::LoadOptions::default());
    let errors = loaded.errors();
    assert!(errors.is_empty(), "{errors:#?}");
    loaded.snapshot
}

/// A proxy from YAML, with an in-memory access log.
pub async fn proxy(
    w: Workload,
    yaml: &str,
    identity: Option<Arc<Identity>>,
) -> (RunningProxy, Arc<Mutex<Vec<serde_json::Value>>>) {
    proxy_with(w, yaml, identity, mesh_examples::proxy::Limits::default()).await
}

/// A proxy from YAML with these limits.
pub async fn proxy_with(
    w: Workload,
    yaml: &str,
    identity: Option<Arc<Identity>>,
    limits: mesh_examples::proxy::Limits,
) -> (RunningProxy, Arc<Mutex<Vec<serde_json::Value>>>) {
    let (log, entries) = AccessLog::memory();
    let mut opts = ProxyOptions::new(
        w,
        ConfigSource::Static {
            snapshot: snapshot(yaml),
            identity,
        },
    );
    opts.access_log = log;
    opts.limits = limits;
    opts.metrics = Some(SocketAddr::from(([127, 0, 0, 1], free_port())));
    let p = RunningProxy::start(opts).await.unwrap();
    (p, entries)
}

/// A ServiceEntry `NAME` in namespace `test` on port `port`, its endpoints
/// (address, port, version, sidecar) on 127.0.0.1.
pub fn service(name: &str, port: u16, endpoints: &[(SocketAddr, &str, bool)]) -> String {
    let mut eps = String::new();
    for (a, v, sidecar) in endpoints {
        let tls = if *sidecar {
            ", security.istio.io/tlsMode: istio"
        } else {
            ""
        };
        eps.push_str(&format!(
            "  - {{address: \"{}\", ports: {{http: {}}}, labels: {{app: {name}, version: {v}{tls}}}, serviceAccount: {name}}}\n",
            a.ip(),
            a.port()
        ));
    }
    format!(
        "apiVersion: networking.istio.io/v1\nkind: ServiceEntry\nmetadata: {{name: {name}, namespace: test}}\nspec:\n  hosts: [{name}.test.svc.cluster.local]\n  location: MESH_INTERNAL\n  resolution: STATIC\n  ports: [{{number: {port}, name: http, protocol: HTTP}}]\n  endpoints:\n{eps}---\n"
    )
}

/// A Sidecar for workloads `app: APP` in `test` with an egress listener on
/// 127.0.0.1:`egress` and optionally an ingress listener on
/// 127.0.0.1:`ingress` forwarding to `app_addr`.
pub fn sidecar(app: &str, egress: Option<u16>, ingress: Option<(u16, SocketAddr)>) -> String {
    let mut s = format!(
        "apiVersion: networking.istio.io/v1\nkind: Sidecar\nmetadata: {{name: {app}, namespace: test}}\nspec:\n  workloadSelector: {{labels: {{app: {app}}}}}\n"
    );
    if let Some((port, a)) = ingress {
        s.push_str(&format!(
            "  ingress:\n  - port: {{number: {port}, protocol: HTTP, name: http}}\n    bind: 127.0.0.1\n    defaultEndpoint: \"{a}\"\n    captureMode: NONE\n"
        ));
    }
    match egress {
        Some(port) => s.push_str(&format!(
            "  egress:\n  - port: {{number: {port}, protocol: HTTP, name: http}}\n    bind: 127.0.0.1\n    captureMode: NONE\n    hosts: [\"*/*\"]\n"
        )),
        None => s.push_str("  egress:\n  - hosts: [\"*/*\"]\n"),
    }
    s.push_str("---\n");
    s
}

/// The access log entries, waiting briefly for `n` of them.
pub async fn entries(log: &Arc<Mutex<Vec<serde_json::Value>>>, n: usize) -> Vec<serde_json::Value> {
    for _ in 0..100 {
        if log.lock().unwrap().len() >= n {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    log.lock().unwrap().clone()
}

// ---------------------------------------------------------------------------
// Envoy.

// Not every test binary that shares this module runs Envoy.
#[allow(unused_imports)]
pub use mesh_examples::demo::envoy::find_for_test as envoy_binary;

/// A running Envoy, killed (with its process group) on drop.
pub struct Envoy {
    child: std::process::Child,
    /// The admin address.
    pub admin: SocketAddr,
    dir: std::path::PathBuf,
}

impl Envoy {
    /// Starts Envoy on a bootstrap (JSON).
    pub fn start(bin: &std::path::Path, bootstrap: &serde_json::Value, admin: SocketAddr) -> Envoy {
        static N: AtomicU32 = AtomicU32::new(0);
        let dir = std::env::temp_dir().join(format!(
            "mesh-proxy-envoy-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::SeqCst)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let config = dir.join("envoy.json");
        std::fs::write(&config, bootstrap.to_string()).unwrap();
        let log = std::fs::File::create(dir.join("envoy.log")).unwrap();
        let mut cmd = mesh_examples::demo::envoy::command(bin, &config, "warn");
        cmd.stderr(log);
        {
            use std::os::unix::process::CommandExt;
            cmd.process_group(0);
        }
        let child = cmd.spawn().expect("spawn envoy");
        Envoy { child, admin, dir }
    }

    /// Envoy's log.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("envoy.log")).unwrap_or_default()
    }

    /// Waits until Envoy is ready and `listen` accepts connections.
    pub async fn ready(&self, listen: SocketAddr) {
        for _ in 0..500 {
            let admin_ok = match send(self.admin, "GET", "admin", "/ready", &[]).await {
                Ok(r) => r.status == 200,
                Err(_) => false,
            };
            if admin_ok && TcpStream::connect(listen).await.is_ok() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        panic!("Envoy did not become ready: {}", self.log());
    }

    /// A stat from `/stats`.
    pub async fn stat(&self, name: &str) -> Option<u64> {
        let r = send(self.admin, "GET", "admin", "/stats", &[]).await.ok()?;
        r.body
            .lines()
            .find_map(|l| l.strip_prefix(&format!("{name}: ")))
            .and_then(|v| v.trim().parse().ok())
    }
}

impl Drop for Envoy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A static Envoy bootstrap for a sidecar, compiled by mesh-xds from the
/// same mesh our proxies read, with the workload's certificates inline.
pub fn envoy_bootstrap(
    yaml: &str,
    w: &Workload,
    ca: &TestCa,
    admin_port: u16,
) -> serde_json::Value {
    let snap = snapshot(yaml);
    let (chain, key) = ca.issue_pem(&w.namespace, &w.service_account);
    let mut proxy =
        mesh_xds::proxy::Proxy::sidecar(&w.namespace, w.labels.clone(), &w.service_account);
    proxy.workload = Some(w.name.clone());
    proxy.ips = vec![w.ip];
    proxy.interception = mesh_xds::proxy::Interception::None;
    proxy.id = proxy.node_id("cluster.local");
    let opts = mesh_xds::CompileOptions {
        certificates: Some(mesh_xds::Certificates {
            chain_pem: chain,
            key_pem: key,
            root_pem: ca.root_pem.clone(),
        }),
        ..Default::default()
    };
    let r = mesh_xds::compile(&snap, &proxy, &opts);
    let b = mesh_xds::resources::static_bootstrap(&r, &proxy.id, "test", admin_port);
    mesh_xds::json::to_json(&b)
}
