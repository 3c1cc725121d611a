//! Shared pieces of the benchmarks: rendering Istio's xDS benchmark
//! configurations (`pilot/pkg/xds/testdata/benchmarks/*.yaml`, Go
//! templates), and locating the corpus.
//!
//! ```
//! let out = mesh_benches::render("{{- range $i := until .Services }}\nhost-{{$i}}-{{mod $i 2}}\n{{- end }}\n", 3, 1);
//! assert_eq!(out, "\nhost-0-0\nhost-1-1\nhost-2-0\n");
//! ```

// Benchmarks read the corpus from disk.
#![allow(clippy::disallowed_methods)]

use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// The Istio corpus (`../shared/corpus/istio` from the repository root).
pub fn corpus() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/corpus/istio")
}

/// Reads one of Istio's xDS benchmark configurations and renders it for
/// `services` services (and `instances` instances where the template uses
/// `.Instances`).
pub fn istio_benchmark_config(name: &str, services: usize, instances: usize) -> String {
    let path = corpus().join("pilot/pkg/xds/testdata/benchmarks").join(name);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    render(&text, services, instances)
}

#[derive(Debug)]
enum Node {
    Text(String),
    Expr(String),
    Range { var: String, count: String, body: Vec<Node> },
}

fn parse(mut s: &str) -> Vec<Node> {
    fn inner(s: &mut &str) -> Vec<Node> {
        let mut out = Vec::new();
        while !s.is_empty() {
            let Some(start) = s.find("{{") else {
                out.push(Node::Text(s.to_string()));
                *s = "";
                break;
            };
            let mut text = &s[..start];
            let end = s[start..].find("}}").map_or(s.len(), |e| start + e + 2);
            let tag = s[start + 2..end - 2].trim();
            let trim_left = tag.starts_with('-');
            let tag = tag.trim_start_matches('-').trim();
            if trim_left {
                text = text.trim_end();
            }
            if !text.is_empty() {
                out.push(Node::Text(text.to_string()));
            }
            *s = &s[end..];
            if let Some(rest) = tag.strip_prefix("range ") {
                // `range $i := until .Services`
                let mut parts = rest.split_whitespace();
                let var = parts.next().unwrap_or("$i").to_string();
                let count = parts.nth(2).unwrap_or(".Services").to_string();
                let body = inner(s);
                out.push(Node::Range { var, count, body });
            } else if tag == "end" {
                return out;
            } else {
                out.push(Node::Expr(tag.to_string()));
            }
        }
        out
    }
    inner(&mut s)
}

fn value(token: &str, vars: &HashMap<String, usize>, params: &HashMap<&str, usize>) -> usize {
    if let Some(v) = vars.get(token) {
        return *v;
    }
    if let Some(p) = token.strip_prefix("$.").or_else(|| token.strip_prefix('.')) {
        return params.get(p).copied().unwrap_or(0);
    }
    token.parse().unwrap_or(0)
}

fn eval(expr: &str, vars: &HashMap<String, usize>, params: &HashMap<&str, usize>) -> String {
    let parts: Vec<&str> = expr.split_whitespace().collect();
    match parts.as_slice() {
        ["mod", a, b] => (value(a, vars, params) % value(b, vars, params).max(1)).to_string(),
        ["div", a, b] => (value(a, vars, params) / value(b, vars, params).max(1)).to_string(),
        [one] => value(one, vars, params).to_string(),
        _ => String::new(),
    }
}

fn emit(nodes: &[Node], vars: &mut HashMap<String, usize>, params: &HashMap<&str, usize>, out: &mut String) {
    for n in nodes {
        match n {
            Node::Text(t) => out.push_str(t),
            Node::Expr(e) => out.push_str(&eval(e, vars, params)),
            Node::Range { var, count, body } => {
                let n = value(count, vars, params);
                for i in 0..n {
                    vars.insert(var.clone(), i);
                    emit(body, vars, params, out);
                }
                vars.remove(var);
            }
        }
    }
}

/// Renders the subset of Go templates Istio's benchmark configurations
/// use: `range $i := until .Services` / `.Instances` … `end`, `{{$i}}`,
/// `mod` and `div`, with `{{-` trimming the whitespace before a tag.
pub fn render(template: &str, services: usize, instances: usize) -> String {
    let nodes = parse(template);
    let params = HashMap::from([("Services", services), ("Instances", instances)]);
    let mut out = String::with_capacity(template.len() * services.max(1));
    emit(&nodes, &mut HashMap::new(), &params, &mut out);
    out
}
