//! `meshctl analyze`: cross-resource analysis as `istioctl analyze` makes
//! it, with Istio's analyzers and message codes, plus the mesh's own checks
//! (MESHCTL.md).

use crate::common::{Fatal, Format, InputArgs, print_value};
use mesh_analyze::{AnalysisOptions, Inputs, Level, all_analyzers, analyze};
use mesh_examples::input::{Input, read_inputs};
use mesh_examples::sample;
use std::process::ExitCode;

/// Arguments of `analyze`.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    inputs: InputArgs,
    /// Run only this analyzer (repeatable), e.g. virtualservice.GatewayAnalyzer.
    #[arg(long = "analyzer", value_name = "NAME")]
    analyzers: Vec<String>,
    /// List the analyzers and exit.
    #[arg(long)]
    list_analyzers: bool,
}

/// The exit status when an Error-level message is found (istioctl's).
const FOUND_ERRORS: u8 = 79;

/// The mesh config fragment: the file, with the flags' root namespace and
/// trust domain over it.
fn mesh_config(args: &InputArgs) -> Result<Option<String>, Fatal> {
    let text = match &args.mesh_config {
        Some(p) => Some(std::fs::read_to_string(p).map_err(|e| Fatal(format!("{p}: {e}")))?),
        None => None,
    };
    if args.root_namespace.is_none() && args.trust_domain.is_none() {
        return Ok(text);
    }
    let mut v: serde_yaml::Value = match &text {
        Some(t) if !t.trim().is_empty() => serde_yaml::from_str(t).map_err(|e| {
            Fatal(format!(
                "{}: {e}",
                args.mesh_config.as_deref().unwrap_or("")
            ))
        })?,
        _ => serde_yaml::Value::Mapping(serde_yaml::Mapping::new()),
    };
    let Some(m) = v.as_mapping_mut() else {
        return Err(Fatal("the mesh config must be a YAML mapping".into()));
    };
    if let Some(r) = &args.root_namespace {
        m.insert("rootNamespace".into(), r.clone().into());
    }
    if let Some(t) = &args.trust_domain {
        m.insert("trustDomain".into(), t.clone().into());
    }
    serde_yaml::to_string(&v)
        .map(Some)
        .map_err(|e| Fatal(e.to_string()))
}

fn now() -> Option<i64> {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .ok()
        .and_then(|d| i64::try_from(d.as_secs()).ok())
}

pub fn run(args: Args) -> ExitCode {
    match run_inner(&args) {
        Ok(code) => code,
        Err(f) => f.exit(),
    }
}

fn run_inner(args: &Args) -> Result<ExitCode, Fatal> {
    if args.list_analyzers {
        for a in all_analyzers() {
            let default = if a.default {
                ""
            } else {
                " (not run by default)"
            };
            println!("{:<55} {}{default}", a.name, a.description);
        }
        return Ok(ExitCode::SUCCESS);
    }
    let a = &args.inputs;
    if a.files.is_empty() && !a.sample {
        return Err(Fatal(
            "no input: give -f PATH (repeatable) or --sample".into(),
        ));
    }
    let mut files = read_inputs(&a.files).map_err(|e| Fatal(e.to_string()))?;
    if a.sample {
        files.push(Input {
            label: sample::BOOKINFO_LABEL.into(),
            text: sample::BOOKINFO.into(),
        });
    }
    let options = AnalysisOptions {
        mesh_config: mesh_config(a)?,
        now: now(),
        ..AnalysisOptions::default()
    };
    let pairs: Vec<(&str, &str)> = files
        .iter()
        .map(|i| (i.label.as_str(), i.text.as_str()))
        .collect();
    let inputs = Inputs::load(&pairs, &options).map_err(|e| Fatal(e.to_string()))?;
    for d in inputs.diagnostics() {
        eprintln!("{d}");
    }
    let names: Vec<&str> = args.analyzers.iter().map(String::as_str).collect();
    let messages = analyze(&inputs, &names).map_err(|e| Fatal(e.to_string()))?;
    match a.output {
        Format::Text => {
            if messages.is_empty() {
                println!("\u{2714} No validation issues found when analyzing the inputs.");
            }
            for m in &messages {
                println!("{m}");
            }
        }
        f => print_value(
            f,
            &serde_json::Value::Array(messages.iter().map(|m| m.to_json()).collect()),
        ),
    }
    if messages.iter().any(|m| m.level() == Level::Error) {
        Ok(ExitCode::from(FOUND_ERRORS))
    } else {
        Ok(ExitCode::SUCCESS)
    }
}
