//! Parsing and validating Istio's own configuration with `mesh_model::load`,
//! beside reading the same bytes into untyped `serde_yaml::Value` documents.
//!
//! The input is every YAML file under `samples`, `tests/testdata/config` and
//! `pilot/pkg/security/authz/builder/testdata` of the Istio corpus
//! (`../shared/corpus/istio` from the repository root), joined with `---`
//! lines. Both are measured by criterion in the same run, and the run ends
//! with the ratio of their medians, `load / untyped`, from interleaved
//! timings of the two.

#![allow(missing_docs)]

use criterion::{Criterion, Throughput, criterion_group};
use serde::Deserialize;
use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

fn yaml_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return;
    };
    let mut entries: Vec<PathBuf> = rd.filter_map(Result::ok).map(|e| e.path()).collect();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            yaml_files(&p, out);
        } else if p.extension().is_some_and(|e| e == "yaml" || e == "yml") {
            out.push(p);
        }
    }
}

/// The corpus joined into one multi-document text, or `None` (with a
/// message) when the corpus is absent outside CI.
fn corpus() -> Option<String> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/corpus/istio");
    if !root.is_dir() {
        assert!(
            std::env::var("CI").map_or(true, |v| v != "true"),
            "the Istio corpus is missing at {}",
            root.display()
        );
        eprintln!("skipping: no corpus at {}", root.display());
        return None;
    }
    let mut files = Vec::new();
    for sub in [
        "samples",
        "tests/testdata/config",
        "pilot/pkg/security/authz/builder/testdata",
    ] {
        yaml_files(&root.join(sub), &mut files);
    }
    let mut text = String::new();
    for f in &files {
        let t = std::fs::read_to_string(f).expect("corpus files are UTF-8");
        text.push_str("---\n");
        text.push_str(&t);
        if !t.ends_with('\n') {
            text.push('\n');
        }
    }
    let loaded = mesh_model::load(
        &[("corpus.yaml", &text)],
        &mesh_model::LoadOptions::default(),
    );
    let mut codes = std::collections::BTreeMap::new();
    for d in &loaded.diagnostics {
        *codes.entry(d.code.to_string()).or_insert(0) += 1;
    }
    eprintln!(
        "corpus: {} files, {} bytes, {} lines, {} objects, {} valid, diagnostics {codes:?}",
        files.len(),
        text.len(),
        text.lines().count(),
        loaded.resources,
        loaded.snapshot.len(),
    );
    Some(text)
}

/// mesh-model: parse, schema and webhook checks, locate, snapshot.
fn typed(text: &str) -> usize {
    let loaded = mesh_model::load(
        &[("corpus.yaml", text)],
        &mesh_model::LoadOptions::default(),
    );
    loaded.resources + loaded.diagnostics.len()
}

/// The baseline: every document read into an untyped `serde_yaml::Value`.
fn untyped(text: &str) -> usize {
    let mut n = 0;
    for doc in serde_yaml::Deserializer::from_str(text) {
        match serde_yaml::Value::deserialize(doc) {
            Ok(v) => n += usize::from(!v.is_null()),
            // A syntax error ends the stream (serde_yaml repeats it).
            Err(_) => break,
        }
    }
    n
}

fn bench(c: &mut Criterion) {
    let Some(text) = corpus() else { return };
    let mut g = c.benchmark_group("model/corpus");
    g.throughput(Throughput::Bytes(text.len() as u64));
    g.sample_size(30);
    g.bench_function("load", |b| b.iter(|| typed(black_box(&text))));
    g.bench_function("serde_yaml_value", |b| b.iter(|| untyped(black_box(&text))));
    g.finish();
}

/// Interleaved timings of both, so that both see the same machine load;
/// prints the medians and their ratio.
fn ratio() {
    let Some(text) = corpus() else { return };
    let time = |f: fn(&str) -> usize| {
        let start = Instant::now();
        black_box(f(black_box(&text)));
        start.elapsed()
    };
    let (mut a, mut b) = (Vec::new(), Vec::new());
    for _ in 0..3 {
        time(typed);
        time(untyped);
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    while a.len() < 21 || (Instant::now() < deadline && a.len() < 201) {
        a.push(time(typed));
        b.push(time(untyped));
    }
    a.sort();
    b.sort();
    let (ma, mb) = (a[a.len() / 2], b[b.len() / 2]);
    println!(
        "model/corpus: load {:.2?}, serde_yaml_value {:.2?} (medians of {} interleaved runs): ratio {:.2}x",
        ma,
        mb,
        a.len(),
        ma.as_secs_f64() / mb.as_secs_f64()
    );
}

criterion_group!(benches, bench);

fn main() {
    benches();
    Criterion::default().configure_from_args().final_summary();
    ratio();
}
