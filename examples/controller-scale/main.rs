//! `controller-scale`: the controller's fan-out, measured.
//!
//! ```text
//! cargo run --release -p mesh-examples --example controller-scale -- \
//!     --clients 100,1000,10000 --services 1000
//! ```
//!
//! For each client count N the controller (in this process) serves a mesh
//! of `--services` services (two endpoints each, one VirtualService with a
//! weighted split) and N simulated sidecars in a child process connect over
//! ADS (state of the world, or `--delta`), subscribe to CDS, EDS, LDS and
//! RDS as Envoy does, and ACK every response. Then one config change (the
//! VirtualService's weights) is published, and the time until every client
//! has ACKed the new routes is measured. The controller's memory per client
//! is its RSS growth (from `/proc/self/statm`) from after the first compile
//! to all N connected, divided by N: what each connection costs beyond the
//! compiled config they share.

use envoy_types::pb::envoy::config::cluster::v3::Cluster;
use envoy_types::pb::envoy::config::core::v3::Node;
use envoy_types::pb::envoy::config::listener::v3::{Listener, filter};
use envoy_types::pb::envoy::extensions::filters::network::http_connection_manager::v3::{
    HttpConnectionManager, http_connection_manager::RouteSpecifier,
};
use envoy_types::pb::envoy::service::discovery::v3::{
    DeltaDiscoveryRequest, DiscoveryRequest,
    aggregated_discovery_service_client::AggregatedDiscoveryServiceClient,
};
use envoy_types::pb::google::protobuf::{Struct, Value, value::Kind};
use mesh_examples::controller::{self, hub::Hub, store::Store};
use mesh_xds::resources::ResourceType;
use prost::Message;
use std::collections::BTreeMap;
use std::io::{BufRead, Write};
use std::process::ExitCode;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};
use tokio::sync::mpsc;

/// The controller's allocator: compiling xDS is mostly small allocations,
/// and mimalloc serves them about 1.5× faster than glibc's malloc (see
/// `benches/benches/xds.rs`).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn rss_bytes() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    let pages: u64 = statm
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    pages * 4096
}

fn mesh_yaml(services: usize, w1: u32) -> String {
    let mut s = String::new();
    for i in 0..services {
        let ns = format!("ns-{}", i % 10);
        s.push_str(&format!(
            "apiVersion: v1\nkind: Service\nmetadata: {{name: svc-{i}, namespace: {ns}}}\nspec:\n  selector: {{app: svc-{i}}}\n  ports: [{{name: http, port: 8080, targetPort: 8080}}]\n---\n"
        ));
        for r in 0..2 {
            s.push_str(&format!(
                "apiVersion: networking.istio.io/v1\nkind: WorkloadEntry\nmetadata: {{name: svc-{i}-{r}, namespace: {ns}}}\nspec: {{address: 10.{}.{}.{}, serviceAccount: svc-{i}, labels: {{app: svc-{i}, version: v{r}}}}}\n---\n",
                i / 250,
                i % 250,
                r + 1
            ));
        }
    }
    s.push_str(&format!(
        "apiVersion: networking.istio.io/v1\nkind: DestinationRule\nmetadata: {{name: svc-0, namespace: ns-0}}\nspec:\n  host: svc-0\n  subsets:\n  - {{name: v0, labels: {{version: v0}}}}\n  - {{name: v1, labels: {{version: v1}}}}\n---\napiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: {{name: svc-0, namespace: ns-0}}\nspec:\n  hosts: [svc-0]\n  http:\n  - route:\n    - {{destination: {{host: svc-0, subset: v0}}, weight: {w1}}}\n    - {{destination: {{host: svc-0, subset: v1}}, weight: {}}}\n---\napiVersion: networking.istio.io/v1\nkind: Sidecar\nmetadata: {{name: client, namespace: ns-0}}\nspec:\n  workloadSelector: {{labels: {{app: client}}}}\n  egress:\n  - port: {{number: 8080, protocol: HTTP, name: http}}\n    bind: 127.0.0.2\n    captureMode: NONE\n    hosts: [\"*/*\"]\n",
        100 - w1
    ));
    s
}

struct Args {
    clients: Vec<usize>,
    services: usize,
    delta: bool,
    child: Option<(String, usize)>,
}

fn parse_args() -> Result<Args, String> {
    let mut a = Args {
        clients: vec![100, 1000],
        services: 1000,
        delta: false,
        child: None,
    };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "--clients" => {
                a.clients = it
                    .next()
                    .ok_or("--clients N,N")?
                    .split(',')
                    .map(|n| n.trim().parse().map_err(|_| format!("bad count {n:?}")))
                    .collect::<Result<_, _>>()?;
            }
            "--services" => {
                a.services = it
                    .next()
                    .and_then(|n| n.parse().ok())
                    .ok_or("--services N")?;
            }
            "--delta" => a.delta = true,
            "--child" => {
                let addr = it.next().ok_or("--child ADDR N")?;
                let n = it
                    .next()
                    .and_then(|n| n.parse().ok())
                    .ok_or("--child ADDR N")?;
                a.child = Some((addr, n));
            }
            "-h" | "--help" => {
                return Err(
                    "usage: controller-scale [--clients 100,1000,10000] [--services 1000] [--delta]"
                        .into(),
                );
            }
            other => return Err(format!("unknown argument {other:?}")),
        }
    }
    Ok(a)
}

fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    match &args.child {
        Some((addr, n)) => rt.block_on(run_clients(addr.clone(), *n, args.delta)),
        None => rt.block_on(run_controller(&args)),
    }
}

// ---------------------------------------------------------------------------
// The controller side.

async fn run_controller(args: &Args) -> ExitCode {
    let mut store = Store::new();
    store.update("mesh.yaml", &mesh_yaml(args.services, 90));
    let built = Instant::now();
    let snapshot = store.snapshot();
    eprintln!(
        "mesh: {} services, {} objects, built in {:?}",
        snapshot.services().count(),
        snapshot.len(),
        built.elapsed()
    );
    let ca = Arc::new(
        controller::ca::Ca::generate("cluster.local", Duration::from_secs(86400)).expect("CA"),
    );
    let compile: controller::hub::CompileFn = controller::hub::mesh_compiler(Default::default());
    println!(
        "| clients | initial sync (all ACKed) | change → all ACKed | of which: compile of the one shape | controller RSS per client | shared config (RSS after first compile) |"
    );
    println!("|---:|---:|---:|---:|---:|---:|");
    for &n in &args.clients {
        let hub = Hub::new(
            snapshot.clone(),
            compile.clone(),
            ca.clone(),
            controller::hub::HubOptions::default(),
        );
        let (shutdown, shutdown_rx) = tokio::sync::watch::channel(false);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        let server = tokio::spawn(controller::serve_ads(hub.clone(), listener, shutdown_rx));
        let rss0 = rss_bytes();
        // Compile the shared config once before the clients come.
        let probe = mesh_xds::proxy::Proxy {
            labels: [("app".to_string(), "client".to_string())].into(),
            ..mesh_xds::proxy::Proxy::sidecar("ns-0", Default::default(), "client")
        };
        let compiled = hub.compiled(&hub.current(), &probe);
        let shared_bytes: usize = compiled
            .types
            .values()
            .flat_map(|t| t.items.values())
            .map(|v| v.resource.value.len())
            .sum();
        let rss_base = rss_bytes();
        let mut child = std::process::Command::new(std::env::current_exe().expect("exe"))
            .args(["--child", &addr.to_string(), &n.to_string()])
            .args(if args.delta { vec!["--delta"] } else { vec![] })
            .stdout(std::process::Stdio::piped())
            .stdin(std::process::Stdio::null())
            .spawn()
            .expect("spawn clients");
        let stdout = child.stdout.take().expect("stdout");
        let (tx, mut lines) = mpsc::unbounded_channel::<String>();
        std::thread::spawn(move || {
            for l in std::io::BufReader::new(stdout)
                .lines()
                .map_while(Result::ok)
            {
                if tx.send(l).is_err() {
                    break;
                }
            }
        });
        let started = Instant::now();
        // The child says "ready" when every client holds CDS, EDS, LDS, RDS.
        let mut ok = false;
        while let Some(l) = lines.recv().await {
            if l == "ready" {
                ok = true;
                break;
            }
        }
        if !ok {
            eprintln!("the clients did not get ready");
            let _ = child.kill();
            let _ = child.wait();
            return ExitCode::FAILURE;
        }
        let initial = started.elapsed();
        tokio::time::sleep(Duration::from_millis(300)).await;
        let rss_clients = rss_bytes();
        let acks_before = hub.metrics.acks(ResourceType::Route);
        let other_before: Vec<u64> = [
            ResourceType::Cluster,
            ResourceType::Endpoint,
            ResourceType::Listener,
        ]
        .iter()
        .map(|t| hub.metrics.pushes(*t))
        .collect();
        // One change: the VirtualService's weights.
        let mut changed = Store::new();
        changed.update("mesh.yaml", &mesh_yaml(args.services, 50));
        let snap2 = changed.snapshot();
        // What compiling the changed mesh for the one shape costs (measured
        // apart, on a copy; the push below compiles again).
        let c0 = Instant::now();
        let _ = controller::hub::Compiled::new(compile(&snap2)(&probe, None));
        let compile_time = c0.elapsed();
        let t0 = Instant::now();
        hub.publish(snap2);
        let target = acks_before + n as u64;
        while hub.metrics.acks(ResourceType::Route) < target {
            if t0.elapsed() > Duration::from_secs(120) {
                eprintln!(
                    "only {} of {n} clients ACKed the change",
                    hub.metrics.acks(ResourceType::Route) - acks_before
                );
                break;
            }
            tokio::time::sleep(Duration::from_micros(500)).await;
        }
        let converge = t0.elapsed();
        let other_after: Vec<u64> = [
            ResourceType::Cluster,
            ResourceType::Endpoint,
            ResourceType::Listener,
        ]
        .iter()
        .map(|t| hub.metrics.pushes(*t))
        .collect();
        let per_client = rss_clients.saturating_sub(rss_base) as f64 / n as f64 / 1024.0;
        println!(
            "| {n} | {:.0} ms | {:.1} ms | {:.1} ms | {:.1} KB | {:.1} MB ({:.1} MB encoded resources) |",
            initial.as_secs_f64() * 1000.0,
            converge.as_secs_f64() * 1000.0,
            compile_time.as_secs_f64() * 1000.0,
            per_client,
            rss_base.saturating_sub(rss0) as f64 / 1048576.0,
            shared_bytes as f64 / 1048576.0,
        );
        if other_before != other_after {
            eprintln!(
                "note: a weight change also pushed CDS/EDS/LDS: {other_before:?} → {other_after:?}"
            );
        }
        let _ = std::io::stdout().flush();
        let _ = child.kill();
        let _ = child.wait();
        let _ = shutdown.send(true);
        let _ = tokio::time::timeout(Duration::from_secs(5), server).await;
        drop(compiled);
    }
    ExitCode::SUCCESS
}

// ---------------------------------------------------------------------------
// The simulated clients (child process).

fn node(i: usize) -> Node {
    let s = |v: &str| Value {
        kind: Some(Kind::StringValue(v.into())),
    };
    Node {
        id: format!(
            "sidecar~10.200.{}.{}~client-{i}.ns-0~ns-0.svc.cluster.local",
            i / 250,
            i % 250
        ),
        cluster: "client.ns-0".into(),
        metadata: Some(Struct {
            fields: [
                ("NAMESPACE".to_string(), s("ns-0")),
                ("SERVICE_ACCOUNT".to_string(), s("client")),
                (
                    "LABELS".to_string(),
                    Value {
                        kind: Some(Kind::StructValue(Struct {
                            fields: [("app".to_string(), s("client"))].into(),
                        })),
                    },
                ),
            ]
            .into(),
        }),
        ..Default::default()
    }
}

/// Resource names decoded once and shared by every client.
#[derive(Default)]
struct Names {
    eds: OnceLock<Vec<String>>,
    rds: OnceLock<Vec<String>>,
}

fn eds_names(resources: &[envoy_types::pb::google::protobuf::Any]) -> Vec<String> {
    resources
        .iter()
        .filter_map(|a| Cluster::decode(a.value.as_slice()).ok())
        .filter(|c| c.eds_cluster_config.is_some())
        .map(|c| c.name)
        .collect()
}

fn rds_names(resources: &[envoy_types::pb::google::protobuf::Any]) -> Vec<String> {
    let mut out = Vec::new();
    for a in resources {
        let Ok(l) = Listener::decode(a.value.as_slice()) else {
            continue;
        };
        for fc in &l.filter_chains {
            for f in &fc.filters {
                if let Some(filter::ConfigType::TypedConfig(t)) = &f.config_type
                    && let Ok(h) = HttpConnectionManager::decode(t.value.as_slice())
                    && let Some(RouteSpecifier::Rds(r)) = h.route_specifier
                {
                    out.push(r.route_config_name);
                }
            }
        }
    }
    out.sort();
    out.dedup();
    out
}

async fn run_clients(addr: String, n: usize, delta: bool) -> ExitCode {
    let names = Arc::new(Names::default());
    let ready = Arc::new(AtomicUsize::new(0));
    let url = format!("http://{addr}");
    // At most this many clients connect and sync at once (a listen backlog
    // overflows when thousands connect in the same instant).
    let pacing = Arc::new(tokio::sync::Semaphore::new(256));
    let mut tasks = Vec::new();
    for i in 0..n {
        let (names, ready, url, pacing) =
            (names.clone(), ready.clone(), url.clone(), pacing.clone());
        tasks.push(tokio::spawn(async move {
            for attempt in 0..20 {
                let permit = pacing.clone().acquire_owned().await.ok();
                let r = if delta {
                    delta_client(i, &url, &names, &ready, permit).await
                } else {
                    sotw_client(i, &url, &names, &ready, permit).await
                };
                match r {
                    Ok(()) => return,
                    Err(e) if attempt == 19 => eprintln!("client {i}: {e}"),
                    Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
                }
            }
        }));
        if i % 100 == 99 {
            tokio::task::yield_now().await;
        }
    }
    while ready.load(Ordering::Relaxed) < n {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    println!("ready");
    let _ = std::io::stdout().flush();
    for t in tasks {
        let _ = t.await;
    }
    ExitCode::SUCCESS
}

async fn connect(
    url: &str,
) -> Result<AggregatedDiscoveryServiceClient<tonic::transport::Channel>, String> {
    for _ in 0..50 {
        match tonic::transport::Endpoint::from_shared(url.to_string())
            .map_err(|e| e.to_string())?
            .tcp_nodelay(true)
            .connect()
            .await
        {
            Ok(ch) => {
                return Ok(
                    AggregatedDiscoveryServiceClient::new(ch).max_decoding_message_size(usize::MAX)
                );
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    }
    Err("could not connect".into())
}

async fn sotw_client(
    i: usize,
    url: &str,
    names: &Names,
    ready: &AtomicUsize,
    mut permit: Option<tokio::sync::OwnedSemaphorePermit>,
) -> Result<(), String> {
    let mut client = connect(url).await?;
    let (tx, rx) = mpsc::unbounded_channel::<DiscoveryRequest>();
    let req = |t: ResourceType, names: Vec<String>| DiscoveryRequest {
        type_url: t.type_url(),
        resource_names: names,
        ..Default::default()
    };
    let mut first = req(ResourceType::Cluster, vec![]);
    first.node = Some(node(i));
    tx.send(first).map_err(|e| e.to_string())?;
    tx.send(req(ResourceType::Listener, vec![]))
        .map_err(|e| e.to_string())?;
    let mut inbound = client
        .stream_aggregated_resources(tokio_stream::wrappers::UnboundedReceiverStream::new(rx))
        .await
        .map_err(|e| e.to_string())?
        .into_inner();
    let mut subscribed: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut got_routes = false;
    while let Some(resp) = inbound.message().await.map_err(|e| e.to_string())? {
        let t = ResourceType::from_type_url(&resp.type_url);
        let names_now = subscribed.get(&resp.type_url).cloned().unwrap_or_default();
        tx.send(DiscoveryRequest {
            version_info: resp.version_info.clone(),
            resource_names: names_now,
            type_url: resp.type_url.clone(),
            response_nonce: resp.nonce.clone(),
            ..Default::default()
        })
        .map_err(|e| e.to_string())?;
        match t {
            Some(ResourceType::Cluster)
                if !subscribed.contains_key(&ResourceType::Endpoint.type_url()) =>
            {
                let eds = names.eds.get_or_init(|| eds_names(&resp.resources)).clone();
                subscribed.insert(ResourceType::Endpoint.type_url(), eds.clone());
                tx.send(req(ResourceType::Endpoint, eds))
                    .map_err(|e| e.to_string())?;
            }
            Some(ResourceType::Listener)
                if !subscribed.contains_key(&ResourceType::Route.type_url()) =>
            {
                let rds = names.rds.get_or_init(|| rds_names(&resp.resources)).clone();
                subscribed.insert(ResourceType::Route.type_url(), rds.clone());
                tx.send(req(ResourceType::Route, rds))
                    .map_err(|e| e.to_string())?;
            }
            Some(ResourceType::Route) if !got_routes => {
                got_routes = true;
                permit.take();
                ready.fetch_add(1, Ordering::Relaxed);
            }
            _ => {}
        }
    }
    Ok(())
}

async fn delta_client(
    i: usize,
    url: &str,
    names: &Names,
    ready: &AtomicUsize,
    mut permit: Option<tokio::sync::OwnedSemaphorePermit>,
) -> Result<(), String> {
    let mut client = connect(url).await?;
    let (tx, rx) = mpsc::unbounded_channel::<DeltaDiscoveryRequest>();
    let req = |t: ResourceType, names: Vec<String>| DeltaDiscoveryRequest {
        type_url: t.type_url(),
        resource_names_subscribe: names,
        ..Default::default()
    };
    let mut first = req(ResourceType::Cluster, vec![]);
    first.node = Some(node(i));
    tx.send(first).map_err(|e| e.to_string())?;
    tx.send(req(ResourceType::Listener, vec![]))
        .map_err(|e| e.to_string())?;
    let mut inbound = client
        .delta_aggregated_resources(tokio_stream::wrappers::UnboundedReceiverStream::new(rx))
        .await
        .map_err(|e| e.to_string())?
        .into_inner();
    let (mut eds, mut rds, mut got_routes) = (false, false, false);
    while let Some(resp) = inbound.message().await.map_err(|e| e.to_string())? {
        let t = ResourceType::from_type_url(&resp.type_url);
        tx.send(DeltaDiscoveryRequest {
            type_url: resp.type_url.clone(),
            response_nonce: resp.nonce.clone(),
            ..Default::default()
        })
        .map_err(|e| e.to_string())?;
        // The packed resources, copied only by the one client that reads
        // them for everyone.
        let anys = || -> Vec<_> {
            resp.resources
                .iter()
                .filter_map(|r| r.resource.clone())
                .collect()
        };
        match t {
            Some(ResourceType::Cluster) if !eds => {
                eds = true;
                let n = names.eds.get_or_init(|| eds_names(&anys())).clone();
                tx.send(req(ResourceType::Endpoint, n))
                    .map_err(|e| e.to_string())?;
            }
            Some(ResourceType::Listener) if !rds => {
                rds = true;
                let n = names.rds.get_or_init(|| rds_names(&anys())).clone();
                tx.send(req(ResourceType::Route, n))
                    .map_err(|e| e.to_string())?;
            }
            Some(ResourceType::Route) if !got_routes => {
                got_routes = true;
                permit.take();
                ready.fetch_add(1, Ordering::Relaxed);
            }
            _ => {}
        }
    }
    Ok(())
}
