//! Every case of Istio's analyzer tests, from the facts in
//! `../shared/corpus/istio/analyzers-expected.yaml` (relative to the
//! repository root): each case runs only its analyzer over its input files
//! (plus the stand-in ingress gateway istioctl adds, and its mesh config
//! merged over the defaults), and the multiset of (message name, resource)
//! must equal Istio's.
//!
//! Cases that do not pass yet are listed in [`KNOWN_FAILURES`] with the
//! reason; the test fails when an unlisted case fails or a listed one
//! passes, so the list stays true.

// Tests read the corpus from disk and take the time for certificate
// validity; the library itself does neither.
#![allow(clippy::disallowed_methods)]

use mesh_analyze::{AnalysisOptions, Inputs, analyze};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Cases expected to fail: (case name, first input file), and why.
const KNOWN_FAILURES: &[(&str, &str, &str)] = &[];

#[derive(Deserialize)]
struct Facts {
    cases: Vec<Case>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Case {
    name: String,
    analyzer: String,
    #[serde(default)]
    input_files: Vec<String>,
    mesh_config_file: Option<String>,
    mesh_networks_file: Option<String>,
    #[serde(default)]
    expected: Vec<Expected>,
    /// Per cluster, its input files (multi-cluster cases).
    #[serde(default)]
    clusters: BTreeMap<String, Vec<String>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Expected {
    message_name: String,
    resource: String,
}

fn corpus() -> Option<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/corpus/istio");
    if dir.join("analyzers-expected.yaml").is_file() {
        return Some(dir);
    }
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!("the Istio corpus is missing at {}", dir.display());
    }
    eprintln!("skipping: no corpus at {}", dir.display());
    None
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// Runs one case; `Err` describes the difference.
fn run(root: &Path, case: &Case) -> Result<(), String> {
    // The single-cluster files, then each cluster's.
    let mut groups: Vec<(String, Vec<String>)> = vec![(String::new(), case.input_files.clone())];
    groups.extend(case.clusters.iter().map(|(c, f)| (c.clone(), f.clone())));
    let mut texts: Vec<(String, Vec<(String, String)>)> = Vec::new();
    for (cluster, files) in &groups {
        let mut read = Vec::new();
        for f in files {
            let text = std::fs::read_to_string(root.join(f)).map_err(|e| format!("{f}: {e}"))?;
            read.push((f.clone(), text));
        }
        texts.push((cluster.clone(), read));
    }
    let read = |f: &Option<String>| -> Result<Option<String>, String> {
        f.as_ref()
            .map(|p| std::fs::read_to_string(root.join(p)).map_err(|e| format!("{p}: {e}")))
            .transpose()
    };
    let options = AnalysisOptions {
        mesh_config: read(&case.mesh_config_file)?,
        mesh_networks: read(&case.mesh_networks_file)?,
        now: Some(now()),
        ..AnalysisOptions::default()
    };
    let pairs: Vec<(&str, Vec<(&str, &str)>)> = texts
        .iter()
        .map(|(c, files)| {
            (
                c.as_str(),
                files
                    .iter()
                    .map(|(l, t)| (l.as_str(), t.as_str()))
                    .collect(),
            )
        })
        .collect();
    let clusters: Vec<(&str, &[(&str, &str)])> =
        pairs.iter().map(|(c, f)| (*c, f.as_slice())).collect();
    let inputs = Inputs::load_clusters(&clusters, &options).map_err(|e| e.to_string())?;
    let messages = analyze(&inputs, &[case.analyzer.as_str()]).map_err(|e| e.to_string())?;
    let mut want: BTreeMap<(String, String), i32> = BTreeMap::new();
    for e in &case.expected {
        *want
            .entry((e.message_name.clone(), e.resource.clone()))
            .or_default() += 1;
    }
    let mut got: BTreeMap<(String, String), i32> = BTreeMap::new();
    for m in &messages {
        let r = m
            .resource
            .as_ref()
            .map(ToString::to_string)
            .unwrap_or_default();
        *got.entry((m.message_type.name.to_string(), r)).or_default() += 1;
    }
    if want == got {
        return Ok(());
    }
    let mut diff = Vec::new();
    for (k, n) in &want {
        let g = got.get(k).copied().unwrap_or(0);
        if g != *n {
            diff.push(format!("want {n}× {} {}, got {g}", k.0, k.1));
        }
    }
    for (k, g) in &got {
        if !want.contains_key(k) {
            diff.push(format!("unexpected {g}× {} {}", k.0, k.1));
        }
    }
    let shown: Vec<String> = messages.iter().map(ToString::to_string).collect();
    Err(format!("{}\n      messages: {shown:#?}", diff.join("; ")))
}

#[test]
fn istio_analyzer_cases() {
    let Some(root) = corpus() else { return };
    let text = std::fs::read_to_string(root.join("analyzers-expected.yaml")).unwrap();
    let facts: Facts = serde_yaml::from_str(&text).unwrap();
    let mut passed = 0;
    let mut failed = Vec::new();
    let mut surprises = Vec::new();
    let mut total = 0;
    for case in &facts.cases {
        total += 1;
        let first = case
            .input_files
            .first()
            .or_else(|| case.clusters.values().flatten().next())
            .map(String::as_str)
            .unwrap_or("");
        let file = first.rsplit('/').next().unwrap_or(first);
        let known = KNOWN_FAILURES
            .iter()
            .find(|(n, f, _)| *n == case.name && *f == file);
        match (run(&root, case), known) {
            (Ok(()), None) => passed += 1,
            (Ok(()), Some(_)) => surprises.push(format!(
                "{} ({file}) passes: take it off KNOWN_FAILURES",
                case.name
            )),
            (Err(e), Some((_, _, why))) => failed.push(format!(
                "{} [{}] ({file}): {why}\n      {e}",
                case.name, case.analyzer
            )),
            (Err(e), None) => surprises.push(format!(
                "{} [{}] ({file}) fails:\n      {e}",
                case.name, case.analyzer
            )),
        }
    }
    eprintln!("{passed} of {total} Istio analyzer cases pass");
    for f in &failed {
        eprintln!("  known failure: {f}");
    }
    assert!(surprises.is_empty(), "\n{}", surprises.join("\n"));
}

fn yaml_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return;
    };
    let mut entries: Vec<_> = rd.filter_map(Result::ok).map(|e| e.path()).collect();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            yaml_files(&p, out);
        } else if p.extension().is_some_and(|e| e == "yaml" || e == "yml") {
            out.push(p);
        }
    }
}

/// Every analyzer over every analyzer test file, whole and with lines
/// removed (broken YAML, missing fields, dangling references): nothing
/// panics, and every message names a resource and a file.
#[test]
fn every_analyzer_survives_damaged_inputs() {
    let Some(root) = corpus() else { return };
    let mut files = Vec::new();
    yaml_files(
        &root.join("pkg/config/analysis/analyzers/testdata"),
        &mut files,
    );
    assert!(files.len() > 100, "{} analyzer test files", files.len());
    let options = AnalysisOptions {
        now: Some(now()),
        ..AnalysisOptions::default()
    };
    let mut runs = 0;
    for f in &files {
        let text = std::fs::read_to_string(f).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        let mut variants = vec![text.clone()];
        for skip in (0..lines.len()).step_by(10) {
            let mut v: Vec<&str> = lines.clone();
            v.remove(skip);
            variants.push(v.join("\n"));
        }
        for v in &variants {
            let inputs = Inputs::load(&[("damaged.yaml", v.as_str())], &options).unwrap();
            for m in analyze(&inputs, &[]).unwrap() {
                assert!(m.resource.is_some() && m.location.file.is_some(), "{m}");
            }
            runs += 1;
        }
    }
    eprintln!("{runs} damaged inputs analyzed");
}
