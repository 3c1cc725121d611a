//! `meshctl mtls`: the effective PeerAuthentication mode of a workload
//! (port) (MESHCTL.md).

use crate::common::{Fatal, Format, InputArgs, WorkloadArgs, print_value};
use mesh_authz::peer::effective_mtls;
use serde_json::json;
use std::process::ExitCode;

/// Arguments of `mtls`.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    inputs: InputArgs,
    #[command(flatten)]
    workload: WorkloadArgs,
    /// The workload (target) port, for port-level settings.
    #[arg(long)]
    port: Option<u16>,
}

pub fn run(args: Args) -> ExitCode {
    match run_inner(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(f) => f.exit(),
    }
}

fn run_inner(args: &Args) -> Result<(), Fatal> {
    let loaded = args.inputs.load()?;
    let wl = args.workload.resolve(&loaded.snapshot)?;
    let m = effective_mtls(&loaded.snapshot, &wl.namespace, &wl.labels, args.port);
    let scope = serde_json::to_value(m.scope).unwrap_or_default();
    match args.inputs.output {
        Format::Text => {
            println!("MODE    {}", m.mode);
            println!("POLICY  {}", m.policy.as_deref().unwrap_or("-"));
            println!(
                "SCOPE   {}{}",
                scope.as_str().unwrap_or(""),
                if m.port_level { " (port level)" } else { "" }
            );
        }
        f => print_value(
            f,
            &json!({
                "mode": m.mode.as_str(),
                "policy": m.policy,
                "scope": scope,
                "portLevel": m.port_level,
                "workload": {"namespace": wl.namespace, "name": wl.name, "serviceAccount": wl.service_account},
            }),
        ),
    }
    Ok(())
}
