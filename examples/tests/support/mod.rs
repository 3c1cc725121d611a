//! The end-to-end harness: real Envoy processes, the controller on a
//! runtime of its own (dropping it is a crash: every task and socket goes
//! at once), tiny HTTP upstreams that answer with their own name, and a
//! small HTTP client.

#![allow(dead_code)]

use http_body_util::{BodyExt, Empty, Full};
use hyper::body::{Bytes, Incoming};
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use mesh_examples::controller::{self, Controller, bootstrap::BootstrapSpec, hub::Hub};
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::net::{TcpListener, TcpStream};

pub use mesh_examples::demo::envoy::find_for_test as envoy_binary;

/// A directory removed on drop.
pub struct TempDir(pub PathBuf);

impl TempDir {
    /// A new empty directory.
    pub fn new(tag: &str) -> TempDir {
        static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let p = std::env::temp_dir().join(format!("mesh-e2e-{}-{tag}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).expect("temp dir");
        TempDir(p)
    }

    /// A path inside.
    pub fn join(&self, p: &str) -> PathBuf {
        self.0.join(p)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A free TCP port on `ip`, asked from the OS.
pub fn free_port(ip: &str) -> u16 {
    let l = std::net::TcpListener::bind((ip, 0)).expect("bind a free port");
    l.local_addr().expect("local addr").port()
}

/// Writes `text` to `path` atomically (a rename), as editors and config
/// management do.
pub fn write_file(path: &Path, text: &str) {
    let tmp = path.with_extension("tmp~");
    std::fs::write(&tmp, text).expect("write");
    std::fs::rename(&tmp, path).expect("rename");
}

/// Polls `f` every 20 ms until it returns `Some`, or panics after
/// `timeout` with `what`.
pub async fn wait_for<T, F, Fut>(what: &str, timeout: Duration, mut f: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let start = Instant::now();
    loop {
        if let Some(v) = f().await {
            return v;
        }
        assert!(
            start.elapsed() < timeout,
            "timed out after {timeout:?} waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

// ---------------------------------------------------------------------------
// Upstreams.

/// A tiny HTTP server that answers `{"name", "path", "xfcc"}`.
pub struct Upstream {
    /// Its name.
    pub name: String,
    /// Where it listens.
    pub addr: SocketAddr,
    task: tokio::task::JoinHandle<()>,
}

impl Upstream {
    /// Starts one on 127.0.0.1.
    pub async fn start(name: &str) -> Upstream {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind upstream");
        let addr = listener.local_addr().expect("addr");
        let me = name.to_string();
        let task = tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                let me = me.clone();
                tokio::spawn(async move {
                    let svc = hyper::service::service_fn(move |req: Request<Incoming>| {
                        let body = serde_json::json!({
                            "name": me,
                            "path": req.uri().path(),
                            "xfcc": req.headers().get("x-forwarded-client-cert").and_then(|v| v.to_str().ok()),
                        })
                        .to_string();
                        async move {
                            Ok::<_, std::convert::Infallible>(Response::new(Full::new(
                                Bytes::from(body),
                            )))
                        }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), svc)
                        .await;
                });
            }
        });
        Upstream {
            name: name.to_string(),
            addr,
            task,
        }
    }

    /// Its port.
    pub fn port(&self) -> u16 {
        self.addr.port()
    }
}

impl Drop for Upstream {
    fn drop(&mut self) {
        self.task.abort();
    }
}

// ---------------------------------------------------------------------------
// HTTP client.

/// One reply.
#[derive(Debug, Clone)]
pub struct Reply {
    /// Status.
    pub status: u16,
    /// Body.
    pub body: String,
}

impl Reply {
    /// The upstream that answered (`name` of the JSON body), if any.
    pub fn upstream(&self) -> Option<String> {
        self.json()?.get("name")?.as_str().map(str::to_string)
    }

    /// The body as JSON.
    pub fn json(&self) -> Option<serde_json::Value> {
        serde_json::from_str(&self.body).ok()
    }
}

/// A keep-alive HTTP/1.1 client to one address.
pub struct Client {
    addr: SocketAddr,
    send: Option<hyper::client::conn::http1::SendRequest<Empty<Bytes>>>,
}

impl Client {
    /// A client of `addr`.
    pub fn new(addr: SocketAddr) -> Client {
        Client { addr, send: None }
    }

    /// GET `path` with `Host: host` and extra headers.
    pub async fn get(
        &mut self,
        host: &str,
        path: &str,
        headers: &[(&str, &str)],
    ) -> Result<Reply, String> {
        if self.send.as_ref().is_none_or(|s| s.is_closed()) {
            let stream =
                tokio::time::timeout(Duration::from_secs(5), TcpStream::connect(self.addr))
                    .await
                    .map_err(|_| "connect timeout".to_string())?
                    .map_err(|e| e.to_string())?;
            let _ = stream.set_nodelay(true);
            let (send, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
                .await
                .map_err(|e| e.to_string())?;
            tokio::spawn(conn);
            self.send = Some(send);
        }
        let send = self.send.as_mut().ok_or("no connection")?;
        let mut req = Request::get(path).header("host", host);
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let req = req.body(Empty::new()).map_err(|e| e.to_string())?;
        let result = tokio::time::timeout(Duration::from_secs(10), async {
            send.ready().await.map_err(|e| e.to_string())?;
            let resp = send.send_request(req).await.map_err(|e| e.to_string())?;
            let status = resp.status().as_u16();
            let body = resp
                .into_body()
                .collect()
                .await
                .map_err(|e| e.to_string())?
                .to_bytes();
            Ok::<_, String>(Reply {
                status,
                body: String::from_utf8_lossy(&body).into_owned(),
            })
        })
        .await
        .map_err(|_| "request timeout".to_string())
        .and_then(|r| r);
        if result.is_err() {
            self.send = None;
        }
        result
    }
}

/// One GET on a fresh connection.
pub async fn get(addr: SocketAddr, host: &str, path: &str) -> Result<Reply, String> {
    Client::new(addr).get(host, path, &[]).await
}

/// GET a JSON document (the debug port, Envoy's admin).
pub async fn get_json(addr: SocketAddr, path: &str) -> Option<serde_json::Value> {
    let r = get(addr, "localhost", path).await.ok()?;
    (r.status == 200).then_some(())?;
    serde_json::from_str(&r.body).ok()
}

/// Counts which upstream answered `n` requests.
pub async fn tally(
    client: &mut Client,
    host: &str,
    path: &str,
    headers: &[(&str, &str)],
    n: usize,
) -> std::collections::BTreeMap<String, usize> {
    let mut out = std::collections::BTreeMap::new();
    for _ in 0..n {
        let key = match client.get(host, path, headers).await {
            Ok(r) if r.status == 200 => r.upstream().unwrap_or_else(|| "?".into()),
            Ok(r) => format!("status {}", r.status),
            Err(e) => format!("error {e}"),
        };
        *out.entry(key).or_default() += 1;
    }
    out
}

// ---------------------------------------------------------------------------
// The controller.

/// A controller on a runtime of its own.
pub struct ControllerUnderTest {
    rt: Option<tokio::runtime::Runtime>,
    /// The shared state.
    pub hub: Arc<Hub>,
    /// ADS address.
    pub ads: SocketAddr,
    /// Debug address.
    pub debug: SocketAddr,
}

impl ControllerUnderTest {
    /// Starts a controller over `config_dir` with its CA root in `ca_dir`,
    /// on `ads` (port 0: any).
    pub async fn start(
        config_dir: &Path,
        ca_dir: &Path,
        ads: SocketAddr,
        cert_lifetime: Duration,
    ) -> Self {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .expect("runtime");
        let opts = controller::Options {
            config_dir: Some(config_dir.to_path_buf()),
            ads,
            debug: "127.0.0.1:0".parse().expect("addr"),
            ca_dir: Some(ca_dir.to_path_buf()),
            cert_lifetime,
            poll: Duration::from_millis(25),
            debounce: Duration::from_millis(10),
            push_debounce: Duration::from_millis(5),
            ..Default::default()
        };
        let compile: controller::hub::CompileFn =
            controller::hub::mesh_compiler(Default::default());
        let c: Controller = rt
            .spawn(Controller::start(opts, compile))
            .await
            .expect("controller task")
            .expect("controller starts");
        let hub = c.hub.clone();
        let (ads, debug) = (c.ads_addr, c.debug_addr);
        // The controller lives as long as its runtime.
        rt.spawn(async move {
            let _keep = c;
            std::future::pending::<()>().await;
        });
        ControllerUnderTest {
            rt: Some(rt),
            hub,
            ads,
            debug,
        }
    }

    /// The debug port's proxy status of the node whose id contains `needle`.
    pub async fn proxy_status(&self, needle: &str) -> Option<serde_json::Value> {
        let v = get_json(self.debug, "/debug/proxies").await?;
        v.as_array()?
            .iter()
            .find(|p| p["nodeId"].as_str().is_some_and(|id| id.contains(needle)))
            .cloned()
    }

    /// Kills it: every task and socket ends at once.
    pub fn kill(mut self) {
        if let Some(rt) = self.rt.take() {
            rt.shutdown_background();
        }
    }
}

impl Drop for ControllerUnderTest {
    fn drop(&mut self) {
        if let Some(rt) = self.rt.take() {
            rt.shutdown_background();
        }
    }
}

// ---------------------------------------------------------------------------
// Envoy.

/// A running Envoy, killed on drop.
pub struct Envoy {
    child: std::process::Child,
    /// The admin address.
    pub admin: SocketAddr,
    dir: TempDir,
    /// The node id.
    pub node_id: String,
}

/// The identity of a proxy to start.
pub struct ProxySpec<'a> {
    /// Gateway or sidecar.
    pub gateway: bool,
    /// Workload name.
    pub name: &'a str,
    /// Namespace.
    pub namespace: &'a str,
    /// Labels.
    pub labels: &'a [(&'a str, &'a str)],
    /// Service account.
    pub service_account: &'a str,
    /// Its loopback address.
    pub ip: &'a str,
    /// Delta xDS.
    pub delta: bool,
}

impl Envoy {
    /// Starts Envoy with the controller's bootstrap for `spec`.
    pub fn start(bin: &Path, ads: SocketAddr, spec: &ProxySpec<'_>) -> Envoy {
        let admin_port = free_port("127.0.0.1");
        let b = BootstrapSpec {
            gateway: spec.gateway,
            name: spec.name.to_string(),
            namespace: spec.namespace.to_string(),
            labels: spec
                .labels
                .iter()
                .map(|(k, v)| ((*k).to_string(), (*v).to_string()))
                .collect(),
            service_account: spec.service_account.to_string(),
            ips: vec![spec.ip.parse::<IpAddr>().expect("ip")],
            ads,
            admin_port,
            domain_suffix: "cluster.local".into(),
            cluster: None,
            interception: "NONE".into(),
        };
        let mut v = b.to_value();
        if spec.delta {
            BootstrapSpec::delta(&mut v);
        }
        let dir = TempDir::new(spec.name);
        let config = dir.join("envoy.json");
        std::fs::write(&config, v.to_string()).expect("write bootstrap");
        let log = std::fs::File::create(dir.join("envoy.log")).expect("log file");
        let mut cmd = mesh_examples::demo::envoy::command(bin, &config, "warn");
        cmd.stderr(log);
        #[cfg(unix)]
        {
            use std::os::unix::process::CommandExt;
            cmd.process_group(0);
        }
        let child = cmd.spawn().expect("spawn envoy");
        Envoy {
            child,
            admin: SocketAddr::from(([127, 0, 0, 1], admin_port)),
            dir,
            node_id: b.node_id(),
        }
    }

    /// Envoy's log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("envoy.log")).unwrap_or_default()
    }

    /// The admin config dump of `resource` (e.g. `dynamic_route_configs`), compact JSON text.
    pub async fn config_dump(&self, resource: &str) -> String {
        get_json(self.admin, &format!("/config_dump?resource={resource}"))
            .await
            .map(|v| v.to_string())
            .unwrap_or_default()
    }

    /// Waits until a listener named `name` is active.
    pub async fn wait_listener(&self, name: &str) {
        let needle = format!("\"name\":\"{name}\"");
        let what = format!("listener {name} on {}: {}", self.node_id, self.admin);
        wait_for(&what, Duration::from_secs(20), || async {
            let d = self.config_dump("dynamic_listeners").await;
            (d.contains(&needle) && d.contains("active_state")).then_some(())
        })
        .await;
    }

    /// A counter or gauge from `/stats`.
    pub async fn stat(&self, name: &str) -> Option<u64> {
        let r = get(
            self.admin,
            "localhost",
            &format!("/stats?filter=^{}$", name.replace('.', "\\.")),
        )
        .await
        .ok()?;
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
    }
}
