//! `meshctl xds`: the Envoy resources compiled for one proxy, in the
//! protobuf JSON mapping, grouped by type URL; `--bootstrap` prints one
//! static bootstrap holding them (MESHCTL.md).

use crate::common::{Format, InputArgs, WorkloadArgs, print_value};
use mesh_xds::proxy::{Interception, Proxy};
use mesh_xds::resources::{ResourceType, Resources, static_bootstrap};
use mesh_xds::{CompileOptions, compile};
use std::process::ExitCode;

/// Arguments of `xds`.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    inputs: InputArgs,
    #[command(flatten)]
    workload: WorkloadArgs,
    /// Compile for a gateway proxy instead of a sidecar.
    #[arg(long)]
    router: bool,
    /// Only this resource type.
    #[arg(long = "type", value_enum)]
    type_: Option<TypeArg>,
    /// Print one static Envoy bootstrap holding every resource.
    #[arg(long)]
    bootstrap: bool,
    /// Compile for a proxy without traffic capture (only explicitly bound
    /// Sidecar listeners).
    #[arg(long)]
    no_capture: bool,
}

/// A resource type on the command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum TypeArg {
    /// Listeners.
    Listeners,
    /// Route configurations.
    Routes,
    /// Clusters.
    Clusters,
    /// Endpoints.
    Endpoints,
    /// Secrets.
    Secrets,
}

impl TypeArg {
    fn resource_type(self) -> ResourceType {
        match self {
            TypeArg::Listeners => ResourceType::Listener,
            TypeArg::Routes => ResourceType::Route,
            TypeArg::Clusters => ResourceType::Cluster,
            TypeArg::Endpoints => ResourceType::Endpoint,
            TypeArg::Secrets => ResourceType::Secret,
        }
    }
}

fn only(r: &Resources, t: ResourceType) -> Resources {
    let mut out = Resources::default();
    match t {
        ResourceType::Listener => out.listeners = r.listeners.clone(),
        ResourceType::Route => out.routes = r.routes.clone(),
        ResourceType::Cluster => out.clusters = r.clusters.clone(),
        ResourceType::Endpoint => out.endpoints = r.endpoints.clone(),
        ResourceType::Secret => out.secrets = r.secrets.clone(),
    }
    out
}

pub fn run(args: Args) -> ExitCode {
    let loaded = match args.inputs.load() {
        Ok(l) => l,
        Err(f) => return f.exit(),
    };
    for d in loaded.diagnostics.iter().filter(|d| d.is_error()) {
        eprintln!("{d}");
    }
    let w = match args.workload.resolve(&loaded.snapshot) {
        Ok(w) => w,
        Err(f) => return f.exit(),
    };
    let mut proxy = if args.router {
        Proxy::router(&w.namespace, w.labels.clone(), &w.service_account)
    } else {
        Proxy::sidecar(&w.namespace, w.labels.clone(), &w.service_account)
    };
    proxy.workload = w.name.clone();
    proxy.id = proxy.node_id(loaded.snapshot.domain_suffix());
    if args.no_capture {
        proxy.interception = Interception::None;
    }
    let resources = compile(&loaded.snapshot, &proxy, &CompileOptions::default());
    let resources = match args.type_ {
        Some(t) => only(&resources, t.resource_type()),
        None => resources,
    };
    let value = if args.bootstrap {
        let b = static_bootstrap(
            &resources,
            &proxy.id,
            w.name.as_deref().unwrap_or("proxy"),
            15000,
        );
        mesh_xds::json::to_json(&b)
    } else {
        let mut v = resources.to_json();
        if let Some(t) = args.type_ {
            let url = t.resource_type().type_url();
            v = serde_json::json!({ url.clone(): v[&url].clone() });
        }
        v
    };
    match args.inputs.output {
        Format::Text => println!(
            "{}",
            serde_json::to_string_pretty(&value).unwrap_or_default()
        ),
        f => print_value(f, &value),
    }
    ExitCode::SUCCESS
}
