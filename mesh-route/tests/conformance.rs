//! The conformance suite: YAML vectors in `tests/conformance/*.yaml`, each a
//! mesh configuration, a proxy, a request and the expected subset of the
//! `meshctl route` JSON, with the semantics rule ids it checks.
//!
//! Vector format (one file holds `cases:`, and may hold `definitions:`, a
//! place for YAML anchors that cases refer to):
//!
//! ```yaml
//! - rule: [VS-10]                 # one id or a list
//!   description: exact URI match
//!   config: |                     # multi-document YAML (Istio + Kubernetes),
//!     ...                         # or a list of such strings joined by `---`
//!   mesh: {outboundTrafficPolicy: {mode: REGISTRY_ONLY}}   # optional MeshConfig
//!   proxy: {sidecar: {namespace: ns, labels: {app: a}}}   # or {gateway: ns/name},
//!                                 # or {gatewayWorkload: {namespace, labels}}
//!   request: {host: h, port: 80, method: GET, path: /, scheme: http,
//!             headers: {k: v | [v1, v2]}, sni: s, claims: {c: v | [v]},
//!             tcp: false, destinationIp: 10.0.0.1}
//!   dice: 7                       # optional, in 0..2^32
//!   expect: {matched: true, ...}  # a subset of the report JSON
//! ```
//!
//! `expect` matches when every key it names has the same value in the
//! report (objects recursively; arrays element by element, same length).

// The suite reads its vector files from disk; the library never does.
#![allow(clippy::disallowed_methods)]

use mesh_model::labels::Labels;
use mesh_model::wire::mesh::MeshConfig;
use mesh_model::{LoadOptions, load};
use mesh_route::l4::Connection;
use mesh_route::report::{RouteReport, TcpReport};
use mesh_route::{DestinationRules, ProxyContext, Request, RouteTable};
use serde::Deserialize;
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::Path;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    /// YAML anchors for configs shared by cases; not read otherwise.
    #[serde(default)]
    #[allow(dead_code)]
    definitions: Option<serde_yaml::Value>,
    cases: Vec<Case>,
}

/// `config`: one multi-document YAML string, or a list of them joined
/// with `---`.
#[derive(Deserialize)]
#[serde(untagged)]
enum Config {
    One(String),
    Many(Vec<String>),
}

impl Config {
    fn text(&self) -> String {
        match self {
            Config::One(s) => s.clone(),
            Config::Many(v) => v.join("\n---\n"),
        }
    }
}

#[derive(Deserialize)]
#[serde(untagged)]
enum OneOrMany {
    One(String),
    Many(Vec<String>),
}

impl OneOrMany {
    fn list(&self) -> Vec<String> {
        match self {
            OneOrMany::One(s) => vec![s.clone()],
            OneOrMany::Many(v) => v.clone(),
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Case {
    rule: OneOrMany,
    description: String,
    config: Config,
    #[serde(default)]
    mesh: Option<serde_yaml::Value>,
    #[serde(default)]
    proxy: Option<ProxySpec>,
    request: RequestSpec,
    #[serde(default)]
    dice: Option<u32>,
    expect: serde_yaml::Value,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct ProxySpec {
    #[serde(default)]
    sidecar: Option<SidecarSpec>,
    #[serde(default)]
    gateway: Option<String>,
    #[serde(default)]
    gateway_workload: Option<SidecarSpec>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SidecarSpec {
    namespace: String,
    #[serde(default)]
    labels: Labels,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum Values {
    One(String),
    Many(Vec<String>),
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct RequestSpec {
    host: String,
    #[serde(default)]
    port: Option<u16>,
    #[serde(default)]
    method: Option<String>,
    #[serde(default)]
    path: Option<String>,
    #[serde(default)]
    scheme: Option<String>,
    #[serde(default)]
    headers: BTreeMap<String, Values>,
    #[serde(default)]
    source_namespace: Option<String>,
    #[serde(default)]
    source_labels: Labels,
    #[serde(default)]
    sni: Option<String>,
    #[serde(default)]
    claims: BTreeMap<String, Values>,
    #[serde(default)]
    tcp: bool,
    #[serde(default)]
    destination_ip: Option<String>,
}

fn pairs(m: &BTreeMap<String, Values>) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for (k, v) in m {
        match v {
            Values::One(s) => out.push((k.clone(), s.clone())),
            Values::Many(vs) => out.extend(vs.iter().map(|s| (k.clone(), s.clone()))),
        }
    }
    out
}

/// Whether `actual` contains `expected`; the first difference otherwise.
fn subset(expected: &Value, actual: &Value, path: &str) -> Result<(), String> {
    match (expected, actual) {
        (Value::Object(e), Value::Object(a)) => {
            for (k, ev) in e {
                let av = a.get(k).unwrap_or(&Value::Null);
                subset(ev, av, &format!("{path}.{k}"))?;
            }
            Ok(())
        }
        (Value::Array(e), Value::Array(a)) => {
            if e.len() != a.len() {
                return Err(format!(
                    "{path}: expected {} elements, got {}: {}",
                    e.len(),
                    a.len(),
                    actual
                ));
            }
            for (i, (ev, av)) in e.iter().zip(a).enumerate() {
                subset(ev, av, &format!("{path}[{i}]"))?;
            }
            Ok(())
        }
        (Value::Number(e), Value::Number(a)) if e.as_f64() == a.as_f64() => Ok(()),
        (e, a) if e == a => Ok(()),
        (e, a) => Err(format!("{path}: expected {e}, got {a}")),
    }
}

fn proxy_for(case: &Case, snapshot: &mesh_model::snapshot::Snapshot) -> ProxyContext {
    if let Some(p) = &case.proxy {
        if let Some(s) = &p.sidecar {
            return ProxyContext::sidecar(&s.namespace, s.labels.clone());
        }
        if let Some(g) = &p.gateway {
            let (ns, name) = g.split_once('/').expect("gateway as ns/name");
            return ProxyContext::gateway(ns, name);
        }
        if let Some(w) = &p.gateway_workload {
            return ProxyContext::gateway_workload(snapshot, &w.namespace, w.labels.clone());
        }
    }
    let r = &case.request;
    ProxyContext::sidecar(
        r.source_namespace.as_deref().unwrap_or("default"),
        r.source_labels.clone(),
    )
}

/// Runs one case: the report JSON, or why the case could not run.
fn run(case: &Case, label: &str) -> Result<Value, String> {
    let mesh = match &case.mesh {
        Some(m) => Some(
            MeshConfig::from_yaml(&serde_yaml::to_string(m).map_err(|e| e.to_string())?)
                .map_err(|e| format!("mesh config: {e}"))?,
        ),
        None => None,
    };
    let text = case.config.text();
    let loaded = load(
        &[(label, text.as_str())],
        &LoadOptions {
            mesh,
            ..LoadOptions::default()
        },
    );
    let errors = loaded.errors();
    if !errors.is_empty() {
        return Err(format!("config does not validate: {errors:#?}"));
    }
    let snapshot = &loaded.snapshot;
    let proxy = proxy_for(case, snapshot);
    let table = RouteTable::compile(snapshot, &proxy);
    let r = &case.request;
    if r.tcp {
        let ip = match &r.destination_ip {
            Some(s) => Some(s.parse().map_err(|e| format!("destinationIp: {e}"))?),
            None => None,
        };
        let conn = Connection {
            host: &r.host,
            port: r.port.unwrap_or(0),
            sni: r.sni.as_deref(),
            destination_ip: ip,
        };
        let d = table.route_tcp(&conn);
        return serde_json::to_value(TcpReport::new(&table, &d, case.dice))
            .map_err(|e| e.to_string());
    }
    let headers = pairs(&r.headers);
    let header_refs: Vec<(&str, &str)> = headers
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let claims = pairs(&r.claims);
    let claim_refs: Vec<(&str, &str)> = claims
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    // The path as Envoy's router sees it (Istio's `normalize_path`).
    let path = mesh_route::request::normalize_path(r.path.as_deref().unwrap_or("/"));
    let req = Request {
        authority: &r.host,
        method: r.method.as_deref().unwrap_or("GET"),
        path: &path,
        scheme: r.scheme.as_deref().unwrap_or("http"),
        headers: &header_refs,
        port: r.port.unwrap_or(0),
        claims: &claim_refs,
        sni: r.sni.as_deref(),
    };
    let explained = table.explain(&req);
    let fast = table.route(&req);
    if fast.route.map(|h| h.index) != explained.decision.route.map(|h| h.index)
        || fast.outcome != explained.decision.outcome
    {
        return Err("indexed and explained evaluation disagree".into());
    }
    let mut report = RouteReport::new(&table, &explained.decision, &req, case.dice);
    report.explain = explained.steps.clone();
    let drs = DestinationRules::new(snapshot);
    report.resolve_destinations(snapshot, &drs, &proxy, &explained.decision);
    serde_json::to_value(report).map_err(|e| e.to_string())
}

/// Every rule id the suite must cover.
const REQUIRED: &[&str] = &[
    "HOST-1", "HOST-2", "HOST-3", "HOST-4", "HOST-5", "HOST-6", "HOST-7", "HOST-8", "HOST-9",
    "VS-1", "VS-2", "VS-3", "VS-4", "VS-5", "VS-6", "VS-7", "VS-8", "VS-10", "VS-11", "VS-12",
    "VS-13", "VS-14", "VS-15", "VS-16", "VS-17", "VS-20", "VS-21", "VS-22", "VS-23", "VS-24",
    "VS-25", "VS-26", "VS-27", "VS-28", "VS-29", "VS-30", "VS-31", "VS-32", "VS-33", "WT-1",
    "WT-2", "WT-3", "WT-4", "WT-5", "DR-1", "DR-2", "DR-3", "DR-4", "DR-5", "DR-6", "DR-7", "DR-8",
    "DR-9", "DR-10", "GW-1", "GW-2", "GW-3", "GW-4", "GW-5", "GW-6", "GW-7", "GW-8", "GW-9",
];

#[test]
fn conformance_vectors() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/conformance");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .expect("tests/conformance exists")
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    files.sort();
    let mut total = 0;
    let mut failures = Vec::new();
    let mut per_rule: BTreeMap<String, usize> = BTreeMap::new();
    for f in &files {
        let name = f.file_name().unwrap().to_string_lossy().to_string();
        let text = std::fs::read_to_string(f).unwrap();
        let file: File = serde_yaml::from_str(&text)
            .unwrap_or_else(|e| panic!("{name}: not a vector file: {e}"));
        for (i, case) in file.cases.iter().enumerate() {
            total += 1;
            for r in case.rule.list() {
                *per_rule.entry(r).or_default() += 1;
            }
            let label = format!("{name}#{i}");
            let expected: Value = serde_json::to_value(&case.expect).unwrap();
            match run(case, &label) {
                Ok(actual) => {
                    if let Err(diff) = subset(&expected, &actual, "expect") {
                        failures.push(format!(
                            "{label} [{}] {}\n  {diff}\n  report: {}",
                            case.rule.list().join(","),
                            case.description,
                            serde_json::to_string(&actual).unwrap()
                        ));
                    }
                }
                Err(e) => failures.push(format!("{label} {}: {e}", case.description)),
            }
        }
    }
    let summary: Vec<String> = per_rule.iter().map(|(r, n)| format!("{r}:{n}")).collect();
    eprintln!("{total} vectors; per rule: {}", summary.join(" "));
    assert!(
        failures.is_empty(),
        "{} of {total} vectors failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
    assert!(total >= 150, "only {total} vectors");
    let missing: Vec<&&str> = REQUIRED
        .iter()
        .filter(|r| !per_rule.contains_key(**r))
        .collect();
    assert!(missing.is_empty(), "rules without vectors: {missing:?}");
}
