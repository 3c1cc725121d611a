//! `meshctl`: ask a mesh a question without a cluster.
//!
//! ```text
//! meshctl validate -f DIR          # Istio's webhook checks, per resource
//! meshctl xds -f DIR --workload NS/NAME [--router] [--type T] [--bootstrap]
//! meshctl authz -f DIR --workload NS/NAME --path /x   # may this request pass?
//! meshctl mtls -f DIR --workload NS/NAME --port 8080   # effective mTLS mode
//! ```
//!
//! The JSON output of every command is a stable contract (MESHCTL.md).
//! Exit status: 0 done; 1 `validate` found an error; 79 `analyze` found an
//! error; 2 the command could not run.

mod analyze;
mod authz;
mod common;
mod mtls;
mod validate;
mod xds;

use clap::{Parser, Subcommand};
use std::process::ExitCode;

#[derive(Parser)]
#[command(
    name = "meshctl",
    version,
    about = "Ask an Istio mesh a question without a cluster"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

// Parsed once per run: the size of the largest variant does not matter.
#[allow(clippy::large_enum_variant)]
#[derive(Subcommand)]
enum Command {
    /// Check each resource as Istio's validating webhook does.
    Validate(validate::Args),
    /// Analyze the mesh as istioctl analyze does, plus the mesh's own checks.
    Analyze(analyze::Args),
    /// The Envoy resources compiled for one proxy.
    Xds(xds::Args),
    /// Decide whether a request may reach a workload, and explain why.
    Authz(authz::Args),
    /// Show a workload port's effective mTLS mode.
    Mtls(mtls::Args),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Validate(a) => validate::run(a),
        Command::Analyze(a) => analyze::run(a),
        Command::Xds(a) => xds::run(a),
        Command::Authz(a) => authz::run(a),
        Command::Mtls(a) => mtls::run(a),
    }
}
