//! `meshctl`: ask a mesh a question without a cluster.
//!
//! ```text
//! meshctl validate -f DIR          # Istio's webhook checks, per resource
//! ```
//!
//! The JSON output of every command is a stable contract (MESHCTL.md).
//! Exit status: 0 done; 1 `validate` found an error; 79 `analyze` found an
//! error; 2 the command could not run.

mod common;
mod route;
mod validate;

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
    /// Where a request goes, and why.
    Route(route::Args),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Validate(a) => validate::run(a),
        Command::Route(a) => route::run(a),
    }
}
