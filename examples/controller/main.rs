//! `controller`: serve a mesh to Envoy proxies.
//!
//! ```text
//! controller serve -f DIR [--ads 127.0.0.1:15010] [--debug 127.0.0.1:15014]
//!                  [--ca-dir DIR] [--cert-lifetime 24h] [--poll 200ms]
//! controller bootstrap --namespace NS --name POD [--gateway] [--label k=v]…
//!                  [--service-account SA] [--ip IP]… [--ads ADDR]
//!                  [--interception NONE] [--delta] [--json]
//! ```
//!
//! `serve` watches a directory of Istio and Kubernetes YAML (and, built
//! with the `kube` feature, a cluster with `--kube`), compiles it for every
//! proxy that connects over ADS (state of the world or delta), issues SPIFFE
//! workload certificates from the mesh CA over SDS, and answers on the
//! debug port: `/debug/proxies`, `/debug/config`, `/metrics`.
//!
//! `bootstrap` prints the Envoy bootstrap of a sidecar or gateway proxy that
//! takes its whole configuration from the controller.

use clap::{Args, Parser, Subcommand};
use mesh_examples::controller::{self, bootstrap::BootstrapSpec};
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

/// The controller's allocator: compiling xDS is mostly small allocations,
/// and mimalloc serves them about 1.5× faster than glibc's malloc (see
/// `benches/benches/xds.rs`).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(
    name = "controller",
    version,
    about = "Serve an Istio mesh to Envoy proxies over ADS"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Watch the config and serve it over ADS, with the mesh CA over SDS.
    Serve(ServeArgs),
    /// Print the Envoy bootstrap of a proxy of the given identity.
    Bootstrap(BootstrapArgs),
}

fn parse_duration(s: &str) -> Result<Duration, String> {
    mesh_model::duration::parse_duration(s).map_err(|e| e.to_string())
}

#[derive(Args)]
struct ServeArgs {
    /// A directory of YAML/JSON mesh config, watched for changes.
    #[arg(short = 'f', long = "config")]
    config: Option<PathBuf>,
    /// Read the mesh from the Kubernetes cluster of the ambient kubeconfig.
    #[cfg(feature = "kube")]
    #[arg(long)]
    kube: bool,
    /// The ADS (gRPC) address.
    #[arg(long, default_value = "127.0.0.1:15010")]
    ads: SocketAddr,
    /// The debug (HTTP) address.
    #[arg(long, default_value = "127.0.0.1:15014")]
    debug: SocketAddr,
    /// A directory with the CA root (root-cert.pem, root-key.pem); a root is
    /// generated there when absent. Without it the root lives in memory.
    #[arg(long)]
    ca_dir: Option<PathBuf>,
    /// The trust domain (default: the mesh config's).
    #[arg(long)]
    trust_domain: Option<String>,
    /// Workload certificate lifetime; renewed at half.
    #[arg(long, default_value = "24h", value_parser = parse_duration)]
    cert_lifetime: Duration,
    /// How often the config directory is polled.
    #[arg(long, default_value = "200ms", value_parser = parse_duration)]
    poll: Duration,
    /// Quiet time after a config change before the mesh is rebuilt.
    #[arg(long, default_value = "50ms", value_parser = parse_duration)]
    debounce: Duration,
    /// Quiet time after a new mesh before proxies are pushed.
    #[arg(long, default_value = "20ms", value_parser = parse_duration)]
    push_debounce: Duration,
    /// Log as JSON lines.
    #[arg(long)]
    log_json: bool,
}

#[derive(Args)]
struct BootstrapArgs {
    /// A gateway (Istio `router`) instead of a sidecar.
    #[arg(long)]
    gateway: bool,
    /// The workload (Pod) name.
    #[arg(long)]
    name: String,
    /// The namespace.
    #[arg(long)]
    namespace: String,
    /// A workload label `key=value` (repeat).
    #[arg(long = "label", value_parser = parse_label)]
    labels: Vec<(String, String)>,
    /// The service account.
    #[arg(long, default_value = "default")]
    service_account: String,
    /// A workload IP (repeat).
    #[arg(long = "ip")]
    ips: Vec<IpAddr>,
    /// The controller's ADS address.
    #[arg(long, default_value = "127.0.0.1:15010")]
    ads: SocketAddr,
    /// Envoy's admin port.
    #[arg(long, default_value_t = 15000)]
    admin_port: u16,
    /// Use delta (incremental) xDS.
    #[arg(long)]
    delta: bool,
    /// How traffic reaches the proxy: REDIRECT (iptables) or NONE (only the
    /// Sidecar's bound listeners).
    #[arg(long, default_value = "REDIRECT", value_parser = ["REDIRECT", "NONE"])]
    interception: String,
    /// Print JSON instead of YAML.
    #[arg(long)]
    json: bool,
}

fn parse_label(s: &str) -> Result<(String, String), String> {
    s.split_once('=')
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .ok_or_else(|| format!("{s:?} is not key=value"))
}

fn init_logs(json: bool) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    if json {
        builder.json().init();
    } else {
        builder.init();
    }
}

fn serve(a: ServeArgs) -> ExitCode {
    init_logs(a.log_json);
    let opts = controller::Options {
        config_dir: a.config,
        inline: Vec::new(),
        #[cfg(feature = "kube")]
        kube: a.kube,
        ads: a.ads,
        debug: a.debug,
        ca_dir: a.ca_dir,
        trust_domain: a.trust_domain,
        cert_lifetime: a.cert_lifetime,
        poll: a.poll,
        debounce: a.debounce,
        push_debounce: a.push_debounce,
    };
    let rt = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("controller: {e}");
            return ExitCode::from(2);
        }
    };
    rt.block_on(async move {
        let compile: controller::hub::CompileFn =
            controller::hub::mesh_compiler(Default::default());
        let c = match controller::Controller::start(opts, compile).await {
            Ok(c) => c,
            Err(e) => {
                tracing::error!(error = %e, "could not start");
                return ExitCode::from(2);
            }
        };
        let _ = tokio::signal::ctrl_c().await;
        tracing::info!("shutting down");
        c.shutdown().await;
        ExitCode::SUCCESS
    })
}

fn bootstrap(a: BootstrapArgs) -> ExitCode {
    let spec = BootstrapSpec {
        gateway: a.gateway,
        name: a.name,
        namespace: a.namespace,
        labels: a.labels.into_iter().collect(),
        service_account: a.service_account,
        ips: a.ips,
        ads: a.ads,
        admin_port: a.admin_port,
        domain_suffix: "cluster.local".into(),
        cluster: None,
        interception: a.interception,
    };
    let mut v = spec.to_value();
    if a.delta {
        BootstrapSpec::delta(&mut v);
    }
    let text = if a.json {
        serde_json::to_string_pretty(&v)
            .map(|s| s + "\n")
            .map_err(|e| e.to_string())
    } else {
        serde_yaml::to_string(&v).map_err(|e| e.to_string())
    };
    match text {
        Ok(t) => {
            print!("{t}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("controller: {e}");
            ExitCode::from(2)
        }
    }
}

fn main() -> ExitCode {
    match Cli::parse().command {
        Command::Serve(a) => serve(a),
        Command::Bootstrap(a) => bootstrap(a),
    }
}
