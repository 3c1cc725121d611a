//! The demo: the sample mesh running on this machine in one process.
//!
//! * The controller starts in-process on 127.0.0.1 and serves the embedded
//!   sample plus the demo's placement (below) over ADS; its CA issues every
//!   workload certificate (SDS).
//! * Every workload of the sample gets its own loopback address (a random
//!   `127.X.Y.0/24` block per run); its application listens on
//!   `127.0.0.1` on a port the OS picks. The mesh learns both at start: a
//!   Pod with that `podIP`, and a Sidecar resource that binds the proxy's
//!   inbound listener on the workload address with the application as its
//!   `defaultEndpoint`, and its egress listener beside it
//!   (`captureMode: NONE`).
//! * A proxy per workload and one for the ingress gateway, each taking its
//!   configuration and certificate from the controller: our proxy
//!   (`ConfigSource::Ads`), or with [`DemoOptions::envoy`] a real Envoy
//!   process ([`envoy`]).
//! * Traffic through the ingress gateway (`bookinfo.example.com`), then a
//!   summary: the reviews split per version against the configured
//!   weights, the requests that policies denied and the policy that denied
//!   them, and the mTLS mode and peer identity of every hop, read from the
//!   proxies' access logs.

pub mod apps;
pub mod envoy;

use crate::controller::{self, Controller};
use crate::proxy::state::{HealthRegistry, MeshState, ProxyKind, Workload};
use crate::proxy::telemetry::AccessLog;
use crate::proxy::{ConfigSource, ProxyOptions, RunningProxy};
use apps::AppKind;
use mesh_model::labels::Labels;
use mesh_model::snapshot::Snapshot;
use mesh_route::config::RouteAction;
use serde_json::Value;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::net::TcpListener;

/// How to run the demo.
#[derive(Debug, Clone)]
pub struct DemoOptions {
    /// Requests to `/productpage` without `end-user` (the split).
    pub requests: usize,
    /// Requests at once.
    pub concurrency: usize,
    /// Run real Envoy sidecars from this binary instead of our proxy
    /// ([`envoy::find`] locates one).
    pub envoy: Option<PathBuf>,
}

impl Default for DemoOptions {
    fn default() -> Self {
        DemoOptions {
            requests: 400,
            concurrency: 8,
            envoy: None,
        }
    }
}

/// One reviews version's share of the traffic.
#[derive(Debug, Clone, PartialEq)]
pub struct Share {
    /// `v1`, `v2`, `v3`.
    pub version: String,
    /// Requests it answered.
    pub count: usize,
    /// Its configured weight, percent.
    pub weight: u32,
}

/// A request a policy refused.
#[derive(Debug, Clone, PartialEq)]
pub struct Denial {
    /// What the demo sent.
    pub what: String,
    /// The calling workload.
    pub from: String,
    /// The refusing workload.
    pub to: String,
    /// 401 or 403.
    pub status: u16,
    /// The policy that decided (or the policies that applied).
    pub policy: String,
    /// Why.
    pub reason: String,
}

/// One hop of the mesh as the server side saw it.
#[derive(Debug, Clone, PartialEq)]
pub struct Hop {
    /// The client workload.
    pub from: String,
    /// The server workload.
    pub to: String,
    /// The PeerAuthentication mode of the server port.
    pub mode: String,
    /// `mutual_tls` or `none`.
    pub security: String,
    /// The client's SPIFFE identity.
    pub peer: String,
    /// Requests.
    pub requests: usize,
}

/// What the demo saw.
#[derive(Debug, Clone, Default)]
pub struct Summary {
    /// The data plane: `proxy` (ours) or `envoy`.
    pub data_plane: String,
    /// Requests sent through the gateway.
    pub sent: usize,
    /// Of those, answered 200.
    pub ok: usize,
    /// The split among reviews versions (no `end-user`).
    pub split: Vec<Share>,
    /// The VirtualService route of the split.
    pub split_route: String,
    /// Versions that answered `end-user: jason`.
    pub jason: BTreeMap<String, usize>,
    /// Refused requests.
    pub denied: Vec<Denial>,
    /// Hops.
    pub hops: Vec<Hop>,
    /// Wall time of the traffic.
    pub elapsed: Duration,
    /// Problems that make the run a failure.
    pub problems: Vec<String>,
}

impl Summary {
    /// Whether everything behaved as configured.
    pub fn success(&self) -> bool {
        self.problems.is_empty()
    }

    /// The summary for people.
    pub fn render(&self) -> String {
        let mut s = String::new();
        let plane = if self.data_plane == "envoy" {
            "Envoy sidecars"
        } else {
            "our proxies"
        };
        let _ = writeln!(
            s,
            "\nTraffic through the ingress gateway ({plane}, configured by the controller over ADS): {} requests in {:.2}s, {} answered 200",
            self.sent,
            self.elapsed.as_secs_f64(),
            self.ok
        );
        let total: usize = self.split.iter().map(|x| x.count).sum();
        let _ = writeln!(s, "\nReviews split ({}):", self.split_route);
        for x in &self.split {
            let pct = if total == 0 {
                0.0
            } else {
                100.0 * x.count as f64 / total as f64
            };
            let _ = writeln!(
                s,
                "  {:<4} {:>5}  {:>5.1}%   configured {:>3}%",
                x.version, x.count, pct, x.weight
            );
        }
        let jason: Vec<String> = self
            .jason
            .iter()
            .map(|(v, n)| format!("{v}: {n}"))
            .collect();
        let _ = writeln!(s, "  end-user: jason → {}", jason.join(", "));
        let _ = writeln!(s, "\nDenied:");
        for d in &self.denied {
            let _ = writeln!(
                s,
                "  {}  {:<28} {:>14} → {:<15} {} ({})",
                d.status, d.what, d.from, d.to, d.policy, d.reason
            );
        }
        let _ = writeln!(s, "\nmTLS per hop (server side):");
        for h in &self.hops {
            let _ = writeln!(
                s,
                "  {:>22} → {:<15} {:<10} {:<10} {} ({} requests)",
                h.from, h.to, h.mode, h.security, h.peer, h.requests
            );
        }
        if self.problems.is_empty() {
            let _ = writeln!(s, "\nOK: the mesh behaved as configured.");
        } else {
            let _ = writeln!(s, "\nPROBLEMS:");
            for p in &self.problems {
                let _ = writeln!(s, "  - {p}");
            }
        }
        s
    }
}

/// A workload of the sample.
#[derive(Debug, Clone)]
struct Member {
    name: &'static str,
    namespace: &'static str,
    app: AppKind,
    labels: Vec<(&'static str, &'static str)>,
    sa: &'static str,
}

fn members() -> Vec<Member> {
    let m = |name, app, l: Vec<(&'static str, &'static str)>, sa| Member {
        name,
        namespace: "bookinfo",
        app,
        labels: l,
        sa,
    };
    vec![
        m(
            "productpage-v1",
            AppKind::Productpage,
            vec![("app", "productpage"), ("version", "v1")],
            "bookinfo-productpage",
        ),
        m(
            "details-v1",
            AppKind::Details,
            vec![("app", "details"), ("version", "v1")],
            "bookinfo-details",
        ),
        m(
            "reviews-v1",
            AppKind::Reviews(1),
            vec![("app", "reviews"), ("version", "v1")],
            "bookinfo-reviews",
        ),
        m(
            "reviews-v2",
            AppKind::Reviews(2),
            vec![("app", "reviews"), ("version", "v2")],
            "bookinfo-reviews",
        ),
        m(
            "reviews-v3",
            AppKind::Reviews(3),
            vec![("app", "reviews"), ("version", "v3")],
            "bookinfo-reviews",
        ),
        m(
            "ratings-v1",
            AppKind::Ratings,
            vec![("app", "ratings"), ("version", "v1")],
            "bookinfo-ratings",
        ),
    ]
}

const GATEWAY_NAME: &str = "istio-ingressgateway";
const GATEWAY_SA: &str = "istio-ingressgateway-service-account";

/// Picks a free `127.X.Y.0/24` block: its `.1` must bind.
fn pick_block() -> [u8; 2] {
    for _ in 0..64 {
        let r = crate::proxy::telemetry::random();
        let b = [16 + (r % 230) as u8, (r >> 8) as u8];
        let probe = SocketAddr::from(([127, b[0], b[1], 1], 9080));
        if std::net::TcpListener::bind(probe).is_ok() {
            return b;
        }
    }
    [200, 200]
}

/// The YAML that places the workloads: a Pod per workload with its
/// address, and a Sidecar binding its proxy's listeners.
fn placement(members: &[(Member, IpAddr, IpAddr, SocketAddr)], gateway_ip: IpAddr) -> String {
    let mut y = String::new();
    for (m, ip, egress_ip, app) in members {
        let labels: Vec<String> = m.labels.iter().map(|(k, v)| format!("{k}: {v}")).collect();
        let labels = labels.join(", ");
        let _ = write!(
            y,
            "apiVersion: v1\nkind: Pod\nmetadata: {{name: {name}-demo, namespace: {ns}, labels: {{{labels}}}}}\nspec:\n  serviceAccountName: {sa}\n  containers: [{{name: app, ports: [{{containerPort: 9080}}]}}]\nstatus: {{podIP: \"{ip}\"}}\n---\napiVersion: networking.istio.io/v1\nkind: Sidecar\nmetadata: {{name: {name}, namespace: {ns}}}\nspec:\n  workloadSelector: {{labels: {{{labels}}}}}\n  ingress:\n  - port: {{number: 9080, protocol: HTTP, name: http}}\n    bind: \"{ip}\"\n    defaultEndpoint: \"{app}\"\n    captureMode: NONE\n  egress:\n  - port: {{number: 9080, protocol: HTTP, name: http}}\n    bind: \"{egress_ip}\"\n    captureMode: NONE\n    hosts: [\"bookinfo/*\"]\n---\n",
            name = m.name,
            ns = m.namespace,
            sa = m.sa,
        );
    }
    let _ = write!(
        y,
        "apiVersion: v1\nkind: Pod\nmetadata:\n  name: {GATEWAY_NAME}-demo\n  namespace: istio-system\n  labels: {{istio: ingressgateway, app: istio-ingressgateway}}\n  annotations: {{sidecar.istio.io/inject: \"false\"}}\nspec:\n  serviceAccountName: {GATEWAY_SA}\n  containers: [{{name: istio-proxy, ports: [{{containerPort: 8080}}]}}]\nstatus: {{podIP: \"{gateway_ip}\"}}\n---\n"
    );
    y
}

fn labels_of(m: &Member) -> Labels {
    m.labels
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// The weights of the reviews split as productpage's sidecar sees them.
fn configured_split(snapshot: &Snapshot, productpage: &Labels) -> (String, Vec<(String, u32)>) {
    let table = mesh_route::RouteTable::compile(
        snapshot,
        &mesh_route::ProxyContext::sidecar("bookinfo", productpage.clone()),
    );
    let req = mesh_route::Request::new("reviews:9080", "/reviews/0");
    let d = table.route(&req);
    let Some(hit) = d.route else {
        return ("no route".into(), Vec::new());
    };
    let name = hit
        .route
        .origin
        .as_ref()
        .map(|o| {
            format!(
                "VirtualService {}, route {:?}",
                o.virtual_service,
                o.route_name.clone().unwrap_or_default()
            )
        })
        .unwrap_or_default();
    let RouteAction::Route(f) = &hit.route.action else {
        return (name, Vec::new());
    };
    let dests = f.clusters.destinations();
    let total: u32 = dests.iter().map(|d| d.weight).sum::<u32>().max(1);
    (
        name,
        dests
            .iter()
            .map(|d| (d.subset.clone().unwrap_or_default(), d.weight * 100 / total))
            .collect(),
    )
}

pub(crate) async fn request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
) -> (u16, Value) {
    use http_body_util::BodyExt;
    let Ok(s) = tokio::net::TcpStream::connect(addr).await else {
        return (0, Value::Null);
    };
    let Ok((mut tx, conn)) =
        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(s)).await
    else {
        return (0, Value::Null);
    };
    tokio::spawn(conn);
    let mut b = hyper::Request::builder()
        .method(method)
        .uri(path)
        .header("host", "bookinfo.example.com");
    for (k, v) in headers {
        b = b.header(*k, *v);
    }
    let Ok(req) = b.body(http_body_util::Full::new(bytes::Bytes::new())) else {
        return (0, Value::Null);
    };
    match tokio::time::timeout(Duration::from_secs(10), tx.send_request(req)).await {
        Ok(Ok(r)) => {
            let status = r.status().as_u16();
            let body = r
                .into_body()
                .collect()
                .await
                .map(|c| c.to_bytes())
                .unwrap_or_default();
            (status, serde_json::from_slice(&body).unwrap_or(Value::Null))
        }
        _ => (0, Value::Null),
    }
}

/// An access log, in our proxy's JSON fields.
pub type Log = Arc<Mutex<Vec<Value>>>;

/// The running data plane: our proxies, or Envoy processes.
enum Plane {
    Proxies(Vec<RunningProxy>),
    Envoy(envoy::Fleet),
}

impl Plane {
    async fn stop(self) {
        match self {
            Plane::Proxies(ps) => {
                for p in ps {
                    p.shutdown().await;
                }
            }
            Plane::Envoy(f) => f.stop().await,
        }
    }
}

/// Aborts the applications' tasks when dropped (every exit path).
struct Tasks(Vec<tokio::task::JoinHandle<()>>);

impl Drop for Tasks {
    fn drop(&mut self) {
        for t in &self.0 {
            t.abort();
        }
    }
}

/// One proxy of the demo: a workload or the gateway.
struct Node {
    name: String,
    workload: Workload,
}

/// Runs the demo. `progress(done, total)` is called as traffic flows.
pub async fn run(
    opts: &DemoOptions,
    mut progress: impl FnMut(usize, usize),
) -> Result<Summary, String> {
    if opts.envoy.is_some() && std::net::TcpListener::bind(("0.0.0.0", 8080)).is_err() {
        return Err("port 8080 is in use: the ingress gateway Envoy binds 0.0.0.0:8080 (the sample Gateway's port 80 targets the gateway Pod's port 8080)".into());
    }
    let block = pick_block();
    let ip = |last: u8| IpAddr::V4(Ipv4Addr::new(127, block[0], block[1], last));
    // Applications first: their addresses place the workloads.
    let mut placed = Vec::new();
    let mut app_listeners = Vec::new();
    for (i, m) in members().into_iter().enumerate() {
        let wip = ip(10 + i as u8);
        let eip = ip(110 + i as u8);
        // Istio's defaultEndpoint is 127.0.0.1:<port>: the app listens
        // there, on a port the OS picks.
        let l = TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0)))
            .await
            .map_err(|e| format!("bind an application port: {e}"))?;
        let app_addr = l.local_addr().map_err(|e| e.to_string())?;
        app_listeners.push((m.app, l, SocketAddr::new(eip, 9080)));
        placed.push((m, wip, eip, app_addr));
    }
    let gateway_ip = ip(2);
    let yaml = placement(&placed, gateway_ip);
    // The controller serves the sample and the placement; its CA issues
    // every certificate.
    let mut compile_options = mesh_xds::CompileOptions::default();
    if opts.envoy.is_some() {
        compile_options.access_log = Some(envoy::access_log());
    }
    let ctl = Controller::start(
        controller::Options {
            inline: vec![
                (
                    crate::sample::BOOKINFO_LABEL.to_string(),
                    crate::sample::BOOKINFO.to_string(),
                ),
                ("demo/placement.yaml".to_string(), yaml),
            ],
            ads: SocketAddr::from(([127, 0, 0, 1], 0)),
            debug: SocketAddr::from(([127, 0, 0, 1], 0)),
            ..Default::default()
        },
        controller::hub::mesh_compiler(compile_options),
    )
    .await
    .map_err(|e| format!("the controller did not start: {e}"))?;
    let result =
        with_controller(opts, &ctl, placed, app_listeners, gateway_ip, &mut progress).await;
    ctl.shutdown().await;
    result
}

type Placed = (Member, IpAddr, IpAddr, SocketAddr);

async fn with_controller(
    opts: &DemoOptions,
    ctl: &Controller,
    placed: Vec<Placed>,
    app_listeners: Vec<(AppKind, TcpListener, SocketAddr)>,
    gateway_ip: IpAddr,
    progress: &mut impl FnMut(usize, usize),
) -> Result<Summary, String> {
    let status = ctl.sources.store().status();
    if let Some(d) = status
        .iter()
        .flat_map(|o| &o.diagnostics)
        .find(|d| d.is_error())
    {
        return Err(format!("the demo mesh does not load: {d}"));
    }
    let snapshot = ctl.hub.current().snapshot.clone();
    let _apps = Tasks(
        app_listeners
            .into_iter()
            .map(|(kind, l, egress)| apps::start(kind, l, egress))
            .collect(),
    );
    let mut nodes: Vec<Node> = placed
        .iter()
        .map(|(m, wip, ..)| Node {
            name: m.name.to_string(),
            workload: Workload {
                kind: ProxyKind::Sidecar,
                name: format!("{}-demo", m.name),
                namespace: m.namespace.into(),
                labels: labels_of(m),
                service_account: m.sa.into(),
                ip: *wip,
            },
        })
        .collect();
    nodes.push(Node {
        name: GATEWAY_NAME.to_string(),
        workload: Workload {
            kind: ProxyKind::Gateway,
            name: format!("{GATEWAY_NAME}-demo"),
            namespace: "istio-system".into(),
            labels: [
                ("istio".to_string(), "ingressgateway".to_string()),
                ("app".to_string(), "istio-ingressgateway".to_string()),
            ]
            .into(),
            service_account: GATEWAY_SA.into(),
            ip: gateway_ip,
        },
    });
    let (plane, logs) = match &opts.envoy {
        None => {
            let mut proxies = Vec::new();
            let mut logs = Vec::new();
            for n in &nodes {
                let (log, entries) = AccessLog::memory();
                let mut o = ProxyOptions::new(
                    n.workload.clone(),
                    ConfigSource::Ads {
                        address: ctl.ads_addr,
                    },
                );
                o.access_log = log;
                match RunningProxy::start(o).await {
                    Ok(p) => proxies.push(p),
                    Err(e) => {
                        Plane::Proxies(proxies).stop().await;
                        return Err(format!("the proxy of {}: {e}", n.name));
                    }
                }
                logs.push((n.name.clone(), entries));
            }
            (Plane::Proxies(proxies), logs)
        }
        Some(bin) => {
            let health = HealthRegistry::default();
            let specs: Vec<envoy::Spec> = nodes
                .iter()
                .map(|n| {
                    let gateway = n.workload.kind == ProxyKind::Gateway;
                    let mode = (!gateway).then(|| {
                        let st = MeshState::build(snapshot.clone(), n.workload.clone(), &health);
                        format!("{:?}", st.mtls_mode(9080)).to_uppercase()
                    });
                    envoy::Spec {
                        name: n.name.clone(),
                        pod: n.workload.name.clone(),
                        namespace: n.workload.namespace.clone(),
                        labels: n.workload.labels.clone(),
                        service_account: n.workload.service_account.clone(),
                        ip: n.workload.ip,
                        gateway,
                        inbound: (!gateway).then(|| SocketAddr::new(n.workload.ip, 9080)),
                        mtls_mode: mode,
                    }
                })
                .collect();
            let (mut fleet, logs) = envoy::Fleet::start(bin, ctl.ads_addr, &specs)?;
            if let Err(e) = fleet.ready(Duration::from_secs(30)).await {
                fleet.stop().await;
                return Err(e);
            }
            (Plane::Envoy(fleet), logs)
        }
    };
    let gateway = SocketAddr::new(gateway_ip, 8080);
    warm_up(gateway).await;
    let mut summary = traffic(opts, gateway, &placed, &snapshot, progress).await;
    summary.data_plane = if opts.envoy.is_some() {
        "envoy"
    } else {
        "proxy"
    }
    .into();
    if opts.envoy.is_some() {
        // Envoy flushes its access log every 50 ms.
        settle(&logs).await;
    }
    let labels: BTreeMap<String, Labels> = nodes
        .iter()
        .map(|n| (n.name.clone(), n.workload.labels.clone()))
        .collect();
    summarize(&mut summary, &logs, &labels, &snapshot);
    plane.stop().await;
    Ok(summary)
}

/// Waits until the gateway answers `/productpage` (every proxy has its
/// configuration and endpoints), at most a few seconds.
async fn warm_up(gateway: SocketAddr) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        if request(gateway, "GET", "/productpage", &[]).await.0 == 200 {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Waits until the access logs stop growing.
async fn settle(logs: &[(String, Log)]) {
    let count = || -> usize {
        logs.iter()
            .map(|(_, l)| l.lock().unwrap_or_else(|e| e.into_inner()).len())
            .sum()
    };
    let mut last = count();
    for _ in 0..40 {
        tokio::time::sleep(Duration::from_millis(150)).await;
        let now = count();
        if now == last {
            return;
        }
        last = now;
    }
}

async fn traffic(
    opts: &DemoOptions,
    gateway: SocketAddr,
    placed: &[Placed],
    snapshot: &Snapshot,
    progress: &mut impl FnMut(usize, usize),
) -> Summary {
    let mut s = Summary::default();
    let pp_labels = placed
        .iter()
        .find(|(m, ..)| m.name == "productpage-v1")
        .map(|(m, ..)| labels_of(m))
        .unwrap_or_default();
    let (route, weights) = configured_split(snapshot, &pp_labels);
    s.split_route = route;
    let jason_n = (opts.requests / 10).max(10);
    let total = opts.requests + jason_n;
    let started = Instant::now();
    let mut versions: BTreeMap<String, usize> = BTreeMap::new();
    let mut done = 0;
    let conc = opts.concurrency.max(1);
    let mut queue: Vec<bool> = std::iter::repeat_n(false, opts.requests)
        .chain(std::iter::repeat_n(true, jason_n))
        .collect();
    while !queue.is_empty() {
        let batch: Vec<bool> = queue.drain(..conc.min(queue.len())).collect();
        let mut set = tokio::task::JoinSet::new();
        for jason in batch {
            set.spawn(async move {
                let headers: &[(&str, &str)] = if jason { &[("end-user", "jason")] } else { &[] };
                (
                    jason,
                    request(gateway, "GET", "/productpage", headers).await,
                )
            });
        }
        for (jason, (status, body)) in set.join_all().await {
            done += 1;
            s.sent += 1;
            if status == 200 {
                s.ok += 1;
            }
            let v = body["reviews"]["version"]
                .as_str()
                .unwrap_or("none")
                .to_string();
            if jason {
                *s.jason.entry(v).or_default() += 1;
            } else {
                *versions.entry(v).or_default() += 1;
            }
        }
        progress(done, total);
    }
    s.elapsed = started.elapsed();
    for (subset, w) in &weights {
        s.split.push(Share {
            version: subset.clone(),
            count: versions.remove(subset).unwrap_or(0),
            weight: *w,
        });
    }
    for (v, n) in versions {
        s.split.push(Share {
            version: v,
            count: n,
            weight: 0,
        });
    }
    // Requests the policies refuse.
    let app = |name: &str| {
        placed
            .iter()
            .find(|(m, ..)| m.name == name)
            .map(|(.., a)| *a)
    };
    let mut probes: Vec<(String, &str, &str, u16)> = Vec::new();
    let (st, _) = request(gateway, "POST", "/productpage", &[]).await;
    probes.push((
        "POST /productpage".into(),
        GATEWAY_NAME,
        "productpage-v1",
        st,
    ));
    let (st, _) = request(
        gateway,
        "GET",
        "/productpage",
        &[("authorization", "Bearer not.a.valid-token")],
    )
    .await;
    probes.push((
        "GET /productpage (bad JWT)".into(),
        GATEWAY_NAME,
        "productpage-v1",
        st,
    ));
    if let Some(a) = app("reviews-v1") {
        let (_, body) = call_via(a, "productpage", "/admin").await;
        let st = body["status"].as_u64().unwrap_or(0) as u16;
        probes.push(("GET /admin".into(), "reviews-v1", "productpage-v1", st));
    }
    if let Some(a) = app("productpage-v1") {
        let (_, body) = call_via(a, "ratings", "/ratings/0").await;
        let st = body["status"].as_u64().unwrap_or(0) as u16;
        probes.push(("GET /ratings/0".into(), "productpage-v1", "ratings-v1", st));
    }
    for (what, from, to, st) in probes {
        s.denied.push(Denial {
            what,
            from: from.into(),
            to: to.into(),
            status: st,
            policy: String::new(),
            reason: String::new(),
        });
    }
    s
}

async fn call_via(app: SocketAddr, host: &str, path: &str) -> (u16, Value) {
    request(app, "GET", &format!("/call?host={host}&path={path}"), &[]).await
}

fn workload_of(entry: &Value) -> String {
    entry["workload"]
        .as_str()
        .unwrap_or("")
        .split('.')
        .next()
        .unwrap_or("")
        .trim_end_matches("-demo")
        .to_string()
}

fn summarize(
    s: &mut Summary,
    logs: &[(String, Log)],
    labels: &BTreeMap<String, Labels>,
    snapshot: &Snapshot,
) {
    let mut hops: BTreeMap<(String, String), Hop> = BTreeMap::new();
    let mut inbound: Vec<Value> = Vec::new();
    for (_, log) in logs {
        for e in log.lock().unwrap_or_else(|e| e.into_inner()).iter() {
            if e["direction"] == "inbound" {
                inbound.push(e.clone());
            }
        }
    }
    // The client workload of an inbound request is the outbound entry with
    // the same request id on the client side.
    let mut by_rid: BTreeMap<String, String> = BTreeMap::new();
    for (_, log) in logs {
        for e in log.lock().unwrap_or_else(|e| e.into_inner()).iter() {
            if e["direction"] == "outbound"
                && let (Some(rid), Some(up)) =
                    (e["x_request_id"].as_str(), e["upstream_host"].as_str())
            {
                by_rid.insert(format!("{rid}|{up}"), workload_of(e));
            }
        }
    }
    for e in &inbound {
        let to = workload_of(e);
        let local = e["downstream_local_address"].as_str().unwrap_or("");
        let rid = e["x_request_id"].as_str().unwrap_or("");
        let from = by_rid
            .get(&format!("{rid}|{local}"))
            .cloned()
            .unwrap_or_else(|| "unknown".into());
        let h = hops
            .entry((from.clone(), to.clone()))
            .or_insert_with(|| Hop {
                from,
                to,
                mode: e["mtls_mode"].as_str().unwrap_or("").to_string(),
                security: e["connection_security_policy"]
                    .as_str()
                    .unwrap_or("")
                    .to_string(),
                peer: e["source_principal"].as_str().unwrap_or("").to_string(),
                requests: 0,
            });
        h.requests += 1;
    }
    s.hops = hops.into_values().collect();
    // Name the policies behind each refusal.
    let authz = mesh_authz::engine::Authz::compile(snapshot, &Default::default());
    for d in &mut s.denied {
        let entry = inbound.iter().rev().find(|e| {
            workload_of(e) == d.to
                && e["response_code"].as_u64() == Some(u64::from(d.status))
                && d.what.contains(
                    e["path"]
                        .as_str()
                        .unwrap_or("~")
                        .split('?')
                        .next()
                        .unwrap_or("~"),
                )
        });
        let Some(e) = entry else {
            d.reason = "no access log entry".into();
            continue;
        };
        d.reason = e["authz_reason"].as_str().unwrap_or("").to_string();
        d.policy = match e["authz_policy"].as_str() {
            Some(p) => p.to_string(),
            None if d.status == 401 => snapshot
                .request_authentications()
                .find(|ra| {
                    ra.spec.selector.as_ref().is_some_and(|sel| {
                        sel.0.get("app").map(String::as_str) == d.to.split('-').next()
                    })
                })
                .map_or_else(String::new, |ra| ra.meta.id()),
            None => {
                let labels = labels.get(&d.to).cloned().unwrap_or_default();
                let w = authz.workload("bookinfo", &labels);
                let allow: Vec<String> = w
                    .policies_by_action()
                    .allow
                    .iter()
                    .map(|p| p.id())
                    .collect();
                format!("ALLOW policies {} apply", allow.join(", "))
            }
        };
    }
    // What must hold.
    if s.ok != s.sent {
        s.problems
            .push(format!("{} of {} requests failed", s.sent - s.ok, s.sent));
    }
    let total: usize = s.split.iter().map(|x| x.count).sum();
    for x in &s.split {
        if total >= 100 {
            let pct = 100.0 * x.count as f64 / total as f64;
            if (pct - f64::from(x.weight)).abs() > 10.0 {
                s.problems.push(format!(
                    "reviews {} got {pct:.1}%, configured {}%",
                    x.version, x.weight
                ));
            }
        }
    }
    if s.jason.keys().any(|v| v != "v2") {
        s.problems.push(format!(
            "end-user: jason reached {:?}, not only v2",
            s.jason
        ));
    }
    let expect = [403, 401, 403, 403];
    for (d, want) in s.denied.iter().zip(expect) {
        if d.status != want {
            s.problems
                .push(format!("{} got {}, expected {want}", d.what, d.status));
        }
    }
    for h in &s.hops {
        if h.security != "mutual_tls" {
            s.problems
                .push(format!("{} → {} is not mutual TLS", h.from, h.to));
        }
    }
    if s.hops.len() < 5 {
        s.problems.push(format!("only {} hops seen", s.hops.len()));
    }
}
