//! `demo`: the sample mesh on this machine, one command.
//!
//! ```sh
//! cargo run --release --example demo                  # our proxies
//! cargo run --release --example demo -- --requests 1000
//! ```
//!
//! Starts the sample's applications, a proxy per workload and the ingress
//! gateway on loopback addresses, sends traffic through the gateway with a
//! progress bar, and prints what the mesh did: the reviews split against
//! its configured weights, the requests policies denied and which policy
//! denied them, and the mTLS mode and peer identity of each hop. Exit
//! status 0 when the mesh behaved as configured, 1 otherwise.

use clap::Parser;
use mesh_examples::demo::{DemoOptions, run};
use std::io::Write;

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
    let opts = DemoOptions {
        requests: args.requests,
        concurrency: args.concurrency,
    };
    eprintln!("Starting the sample mesh (applications, sidecars, ingress gateway) on loopback…");
    match rt.block_on(run(&opts, bar)) {
        Ok(summary) => {
            print!("{}", summary.render());
            std::process::exit(if summary.success() { 0 } else { 1 });
        }
        Err(e) => {
            eprintln!("demo: {e}");
            std::process::exit(2);
        }
    }
}
