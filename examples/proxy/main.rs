//! `proxy`: a sidecar or gateway data plane for one workload.
//!
//! ```sh
//! # From the controller over ADS (Istio resources + SDS certificates):
//! cargo run --example proxy -- --ads 127.0.0.1:15010 --namespace bookinfo \
//!     --name reviews-v1 --label app=reviews --label version=v1 \
//!     --service-account bookinfo-reviews --ip 127.0.0.12 --metrics 127.0.0.1:15090
//! # From local YAML alone (plaintext upstreams unless --cert/--key/--root):
//! cargo run --example proxy -- -f mesh/ --namespace bookinfo --name reviews-v1 \
//!     --label app=reviews --ip 127.0.0.12
//! ```
//!
//! Listeners come from the configuration (a Sidecar resource's ingress and
//! egress listeners, a gateway's server ports). Access logs are JSON lines
//! on standard output; logs of the proxy itself go to standard error.

use clap::Parser;
use mesh_examples::proxy::state::{ProxyKind, Workload};
use mesh_examples::proxy::telemetry::AccessLog;
use mesh_examples::proxy::tls::Identity;
use mesh_examples::proxy::{ConfigSource, ProxyOptions, RunningProxy};
use mesh_model::labels::Labels;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

#[derive(Parser, Debug)]
#[command(name = "proxy", about = "A mesh sidecar or gateway for one workload")]
struct Args {
    /// The controller's ADS address.
    #[arg(long, conflicts_with = "file")]
    ads: Option<SocketAddr>,
    /// Local configuration: a YAML/JSON file or a directory (repeatable),
    /// polled for changes.
    #[arg(short = 'f', long = "file")]
    file: Vec<String>,
    /// The workload's namespace.
    #[arg(long)]
    namespace: String,
    /// The workload (Pod) name.
    #[arg(long)]
    name: String,
    /// A workload label `k=v` (repeatable).
    #[arg(long = "label")]
    labels: Vec<String>,
    /// The service account.
    #[arg(long = "service-account", default_value = "default")]
    service_account: String,
    /// The workload address (inbound and gateway listeners bind here).
    #[arg(long, default_value = "127.0.0.1")]
    ip: IpAddr,
    /// Run as a gateway (Istio's `router`) instead of a sidecar.
    #[arg(long)]
    gateway: bool,
    /// The metrics address (`/stats/prometheus`).
    #[arg(long)]
    metrics: Option<SocketAddr>,
    /// Local mode: the workload certificate chain (PEM).
    #[arg(long, requires_all = ["key", "root"])]
    cert: Option<PathBuf>,
    /// Local mode: its private key (PEM).
    #[arg(long)]
    key: Option<PathBuf>,
    /// Local mode: the mesh root certificate (PEM).
    #[arg(long)]
    root: Option<PathBuf>,
    /// Do not write access logs.
    #[arg(long)]
    no_access_log: bool,
    /// Worker threads (1: a single-threaded runtime); default: the cores,
    /// at most 4.
    #[arg(long)]
    workers: Option<usize>,
}

fn fail(msg: &str) -> ! {
    eprintln!("proxy: {msg}");
    std::process::exit(2);
}

/// A digest of the inputs' text: a reload is due when it changes.
fn fingerprint(files: &[String]) -> u64 {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    if let Ok(inputs) = mesh_examples::input::read_inputs(files) {
        for i in inputs {
            std::hash::Hash::hash(&i.label, &mut h);
            std::hash::Hash::hash(&i.text, &mut h);
        }
    }
    std::hash::Hasher::finish(&h)
}

fn load_local(files: &[String]) -> Result<mesh_model::snapshot::Snapshot, String> {
    let inputs = mesh_examples::input::read_inputs(files).map_err(|e| e.to_string())?;
    let sources: Vec<(&str, &str)> = inputs
        .iter()
        .map(|i| (i.label.as_str(), i.text.as_str()))
        .collect();
    let loaded = mesh_model::load(&sources, &mesh_model::LoadOptions::default());
    for d in &loaded.diagnostics {
        eprintln!("{d}");
    }
    Ok(loaded.snapshot)
}

fn main() {
    let args = Args::parse();
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .init();
    let mut labels = Labels::new();
    for l in &args.labels {
        match l.split_once('=') {
            Some((k, v)) => {
                labels.insert(k.to_string(), v.to_string());
            }
            None => fail(&format!("--label {l:?}: expected k=v")),
        }
    }
    let workload = Workload {
        kind: if args.gateway {
            ProxyKind::Gateway
        } else {
            ProxyKind::Sidecar
        },
        name: args.name.clone(),
        namespace: args.namespace.clone(),
        labels,
        service_account: args.service_account.clone(),
        ip: args.ip,
    };
    let source = match args.ads {
        Some(address) => ConfigSource::Ads { address },
        None => {
            if args.file.is_empty() {
                fail("give --ads ADDR or -f PATH");
            }
            let snapshot = load_local(&args.file).unwrap_or_else(|e| fail(&e));
            let identity = match (&args.cert, &args.key, &args.root) {
                (Some(c), Some(k), Some(r)) => {
                    let read = |p: &PathBuf| {
                        std::fs::read_to_string(p)
                            .unwrap_or_else(|e| fail(&format!("{}: {e}", p.display())))
                    };
                    Some(Arc::new(
                        Identity::from_pem(&read(c), &read(k), &read(r))
                            .unwrap_or_else(|e| fail(&e.to_string())),
                    ))
                }
                _ => None,
            };
            ConfigSource::Static { snapshot, identity }
        }
    };
    let mut opts = ProxyOptions::new(workload, source);
    opts.metrics = args.metrics;
    opts.access_log = if args.no_access_log {
        AccessLog::Off
    } else {
        AccessLog::Stdout
    };
    let workers = args
        .workers
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(2, |n| n.get().min(4)));
    let rt = if workers <= 1 {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
    } else {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(workers)
            .enable_all()
            .build()
    }
    .unwrap_or_else(|e| fail(&e.to_string()));
    rt.block_on(async move {
        let proxy = RunningProxy::start(opts)
            .await
            .unwrap_or_else(|e| fail(&e.to_string()));
        tracing::info!(listening = ?proxy.listening(), metrics = ?proxy.metrics_addr, "proxy started");
        if args.ads.is_none() {
            let files = args.file.clone();
            let shared = proxy.shared.clone();
            tokio::spawn(async move {
                let mut last = fingerprint(&files);
                loop {
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    let now = fingerprint(&files);
                    if now != last {
                        last = now;
                        match mesh_examples::input::read_inputs(&files) {
                            Ok(inputs) => {
                                let sources: Vec<(&str, &str)> = inputs
                                    .iter()
                                    .map(|i| (i.label.as_str(), i.text.as_str()))
                                    .collect();
                                match shared.apply_checked(&sources) {
                                    Ok(()) => tracing::info!("configuration reloaded"),
                                    Err(errors) => {
                                        for e in errors {
                                            eprintln!("{e}");
                                        }
                                    }
                                }
                            }
                            Err(e) => tracing::warn!(error = %e, "reload failed; keeping the last configuration"),
                        }
                    }
                }
            });
        }
        let _ = tokio::signal::ctrl_c().await;
        proxy.shutdown().await;
    });
}
