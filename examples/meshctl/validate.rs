//! `meshctl validate`: per-resource checks as Istio's validating webhook
//! makes them (MESHCTL.md).

use crate::common::{Format, InputArgs, print_value};
use mesh_model::diag::Severity;
use std::process::ExitCode;

/// Arguments of `validate`.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    inputs: InputArgs,
}

pub fn run(args: Args) -> ExitCode {
    let loaded = match args.inputs.load() {
        Ok(l) => l,
        Err(f) => return f.exit(),
    };
    let errors = loaded
        .diagnostics
        .iter()
        .filter(|d| d.severity == Severity::Error)
        .count();
    let warnings = loaded
        .diagnostics
        .iter()
        .filter(|d| d.severity == Severity::Warning)
        .count();
    match args.inputs.output {
        Format::Text => {
            for d in &loaded.diagnostics {
                println!("{d}");
            }
            println!(
                "{} resources: {errors} error{}, {warnings} warning{}",
                loaded.resources,
                if errors == 1 { "" } else { "s" },
                if warnings == 1 { "" } else { "s" }
            );
        }
        f => print_value(
            f,
            &serde_json::json!({
                "resources": loaded.resources,
                "diagnostics": loaded.diagnostics,
            }),
        ),
    }
    if errors > 0 {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}
