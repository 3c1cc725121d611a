//! `meshctl`: ask a mesh a question without a cluster.
//!
//! ```text
//! meshctl validate -f DIR          # Istio's webhook checks, per resource
//! meshctl xds -f DIR --workload NS/NAME [--router] [--type T] [--bootstrap]
//! ```
//!
//! The JSON output of every command is a stable contract (MESHCTL.md).
//! Exit status: 0 done; 1 `validate` found an error; 79 `analyze` found an
//! error; 2 the command could not run.

mod common;
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

#[derive(Subcommand)]
enum Command {
    /// Check each resource as Istio's validating webhook does.
    Validate(validate::Args),
    /// The Envoy resources compiled for one proxy.
    Xds(xds::Args),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Validate(a) => validate::run(a),
        Command::Xds(a) => xds::run(a),
    }
}
