//! Inputs, output formats and workload selection shared by every command.

use mesh_examples::input::read_inputs;
use mesh_examples::sample;
use mesh_model::labels::Labels;
use mesh_model::parse::ParseOptions;
use mesh_model::snapshot::Snapshot;
use mesh_model::wire::mesh::MeshConfig;
use mesh_model::{LoadOptions, Loaded, load};
use std::process::ExitCode;

/// Output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// Aligned text for people.
    Text,
    /// JSON for scripts (a stable contract).
    Json,
    /// YAML.
    Yaml,
}

/// The inputs every command reads.
#[derive(Debug, Clone, clap::Args)]
pub struct InputArgs {
    /// A file or directory (read recursively: *.yaml, *.yml, *.json), or `-`
    /// for standard input. Repeatable.
    #[arg(short = 'f', long = "filename")]
    pub files: Vec<String>,
    /// Also read the embedded sample mesh.
    #[arg(long)]
    pub sample: bool,
    /// The root namespace (default istio-system).
    #[arg(long)]
    pub root_namespace: Option<String>,
    /// The trust domain (default cluster.local).
    #[arg(long)]
    pub trust_domain: Option<String>,
    /// Istio MeshConfig YAML (rootNamespace, trustDomain, extensionProviders …).
    #[arg(long)]
    pub mesh_config: Option<String>,
    /// Report unknown fields as warnings instead of errors.
    #[arg(long)]
    pub lenient: bool,
    /// Output format.
    #[arg(short = 'o', long, value_enum, default_value_t = Format::Text)]
    pub output: Format,
}

/// A failure that stops a command: one line on stderr, exit status 2.
#[derive(Debug)]
pub struct Fatal(pub String);

impl Fatal {
    /// Prints the message and returns exit status 2.
    pub fn exit(self) -> ExitCode {
        eprintln!("error: {}", self.0);
        ExitCode::from(2)
    }
}

impl InputArgs {
    /// The mesh config: the file, then the flags.
    pub fn mesh_config(&self) -> Result<Option<MeshConfig>, Fatal> {
        let mut mesh = match &self.mesh_config {
            Some(p) => {
                let text = std::fs::read_to_string(p).map_err(|e| Fatal(format!("{p}: {e}")))?;
                Some(MeshConfig::from_yaml(&text).map_err(|e| Fatal(format!("{p}: {e}")))?)
            }
            None => None,
        };
        if self.root_namespace.is_some() || self.trust_domain.is_some() {
            let m = mesh.get_or_insert_with(MeshConfig::default);
            if let Some(r) = &self.root_namespace {
                m.root_namespace = Some(r.clone());
            }
            if let Some(t) = &self.trust_domain {
                m.trust_domain = Some(t.clone());
            }
        }
        Ok(mesh)
    }

    /// Reads, parses and validates every input.
    pub fn load(&self) -> Result<Loaded, Fatal> {
        if self.files.is_empty() && !self.sample {
            return Err(Fatal(
                "no input: give -f PATH (repeatable) or --sample".into(),
            ));
        }
        let mut inputs = read_inputs(&self.files).map_err(|e| Fatal(e.to_string()))?;
        if self.sample {
            inputs.push(mesh_examples::input::Input {
                label: sample::BOOKINFO_LABEL.into(),
                text: sample::BOOKINFO.into(),
            });
        }
        let pairs: Vec<(&str, &str)> = inputs
            .iter()
            .map(|i| (i.label.as_str(), i.text.as_str()))
            .collect();
        let opts = LoadOptions {
            parse: if self.lenient {
                ParseOptions::lenient()
            } else {
                ParseOptions::default()
            },
            mesh: self.mesh_config()?,
            domain_suffix: None,
        };
        Ok(load(&pairs, &opts))
    }
}

/// Prints a JSON or YAML value.
pub fn print_value(format: Format, v: &serde_json::Value) {
    match format {
        Format::Yaml => print!("{}", serde_yaml::to_string(v).unwrap_or_default()),
        _ => println!("{}", serde_json::to_string_pretty(v).unwrap_or_default()),
    }
}

/// How a command names a workload.
#[derive(Debug, Clone, clap::Args)]
pub struct WorkloadArgs {
    /// A Pod, Deployment or WorkloadEntry found in the inputs, as NS/NAME.
    #[arg(long)]
    pub workload: Option<String>,
    /// The workload's namespace (with --label).
    #[arg(long)]
    pub namespace: Option<String>,
    /// A workload label k=v (repeatable, with --namespace).
    #[arg(long = "label")]
    pub labels: Vec<String>,
    /// The workload's service account (with --namespace; default `default`).
    #[arg(long)]
    pub service_account: Option<String>,
}

/// A workload resolved from the arguments.
#[derive(Debug, Clone)]
pub struct SelectedWorkload {
    /// Namespace.
    pub namespace: String,
    /// Name, when the workload was found by name.
    pub name: Option<String>,
    /// Labels.
    pub labels: Labels,
    /// Service account.
    pub service_account: String,
}

/// Parses `k=v`.
pub fn parse_kv(s: &str) -> Result<(String, String), Fatal> {
    s.split_once('=')
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .ok_or_else(|| Fatal(format!("{s:?}: expected key=value")))
}

impl WorkloadArgs {
    /// Resolves the workload against the snapshot.
    pub fn resolve(&self, snapshot: &Snapshot) -> Result<SelectedWorkload, Fatal> {
        if let Some(w) = &self.workload {
            let (ns, name) = w
                .split_once('/')
                .ok_or_else(|| Fatal(format!("--workload {w:?}: expected NAMESPACE/NAME")))?;
            let wl = snapshot
                .workload(ns, name)
                .ok_or_else(|| Fatal(format!("workload {ns}/{name} not found in the inputs")))?;
            return Ok(SelectedWorkload {
                namespace: ns.to_string(),
                name: Some(name.to_string()),
                labels: wl.labels.clone(),
                service_account: wl.service_account.clone(),
            });
        }
        let Some(ns) = &self.namespace else {
            return Err(Fatal(
                "name a workload with --workload NS/NAME or --namespace NS --label k=v".into(),
            ));
        };
        let mut labels = Labels::new();
        for l in &self.labels {
            let (k, v) = parse_kv(l)?;
            labels.insert(k, v);
        }
        Ok(SelectedWorkload {
            namespace: ns.clone(),
            name: None,
            labels,
            service_account: self
                .service_account
                .clone()
                .unwrap_or_else(|| "default".into()),
        })
    }
}
