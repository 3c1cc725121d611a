//! The conformance suite: every vector file in `tests/conformance/` run
//! against the engine. Each case names the semantics rule(s) it exercises;
//! expectations come from `istio-semantics.md` and Istio's sources.
//!
//! A vector file is `{cases: [case…]}`; a case is
//!
//! ```yaml
//! rule: [AZ-20]                 # rule ids exercised
//! description: …
//! mesh: {trustDomain, trustDomainAliases, rootNamespace, extensionProviders}   # optional MeshConfig
//! options: {multipleCustomProviders: true}                                     # optional
//! config: |                     # multi-document YAML: the mesh's resources
//! workload: {namespace, labels, serviceAccount}
//! request:                      # authz: the request as the inbound proxy sees it
//!   method, host, path, headers: {name: value | [value, …]}, port, tcp, sni,
//!   sourcePrincipal, sourceIp, remoteIp, destinationIp,
//!   requestPrincipal, claims: {…}, audiences: […], presenter,   # a validated JWT
//!   jwt: TOKEN, now: SECONDS, metadata: {filter: {…}}
//! port: 8080                    # mtls cases: the workload port
//! expect:
//!   decision: ALLOW|DENY|CUSTOM # authz
//!   policy: ns/name|null, action, rule, reason, status, custom: [providers],
//!   audit: ns/name|null, dryRun: {DENY: …, ALLOW: …}   # shadow verdicts
//!   mode: STRICT, scope: mesh   # mtls
//! ```
//!
//! The format is explicit and self-contained so the same files can drive a
//! real proxy.

// The suite reads its vector files from disk; the library itself never does.
#![allow(clippy::disallowed_methods)]

use mesh_authz::engine::{Authz, AuthzOptions, Decision};
use mesh_authz::jwt::{JwksSources, WorkloadJwt};
use mesh_authz::peer::effective_mtls;
use mesh_authz::request::{JwtPayload, Request};
use mesh_model::labels::Labels;
use mesh_model::wire::mesh::MeshConfig;
use mesh_model::{LoadOptions, load};
use serde::Deserialize;
use serde_json::{Map, Value};
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    cases: Vec<Case>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct Case {
    rule: Vec<String>,
    description: String,
    #[serde(default)]
    mesh: Option<serde_yaml::Value>,
    #[serde(default)]
    options: Options,
    config: String,
    workload: Workload,
    #[serde(default)]
    request: Req,
    #[serde(default)]
    port: Option<u16>,
    expect: Expect,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct Options {
    #[serde(default)]
    multiple_custom_providers: bool,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct Workload {
    namespace: String,
    #[serde(default)]
    labels: Labels,
    #[serde(default)]
    service_account: Option<String>,
}

/// A header's value, or each occurrence of a repeated header.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum HeaderValues {
    One(String),
    Many(Vec<String>),
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct Req {
    method: Option<String>,
    host: Option<String>,
    path: Option<String>,
    #[serde(default)]
    headers: BTreeMap<String, HeaderValues>,
    port: Option<u16>,
    #[serde(default)]
    tcp: bool,
    sni: Option<String>,
    source_principal: Option<String>,
    source_ip: Option<std::net::IpAddr>,
    remote_ip: Option<std::net::IpAddr>,
    destination_ip: Option<std::net::IpAddr>,
    request_principal: Option<String>,
    claims: Option<Map<String, Value>>,
    audiences: Option<Vec<String>>,
    presenter: Option<String>,
    jwt: Option<String>,
    now: Option<u64>,
    #[serde(default)]
    metadata: BTreeMap<String, Value>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct Expect {
    decision: Option<String>,
    #[serde(default, deserialize_with = "nullable")]
    policy: Option<Option<String>>,
    #[serde(default, deserialize_with = "nullable")]
    action: Option<Option<String>>,
    #[serde(default, deserialize_with = "nullable")]
    rule: Option<Option<usize>>,
    reason: Option<String>,
    status: Option<u16>,
    custom: Option<Vec<String>>,
    #[serde(default, deserialize_with = "nullable")]
    audit: Option<Option<String>>,
    dry_run: Option<BTreeMap<String, String>>,
    mode: Option<String>,
    scope: Option<String>,
    port_level: Option<bool>,
}

/// `key: null` is `Some(None)`; an absent key is `None`.
fn nullable<'de, D, T>(d: D) -> Result<Option<Option<T>>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(d).map(Some)
}

fn request(r: &Req) -> Request {
    let mut q = if r.tcp {
        Request::tcp()
    } else {
        Request::http(
            r.method.as_deref().unwrap_or("GET"),
            r.path.as_deref().unwrap_or("/"),
        )
    };
    if let Some(h) = &r.host {
        q = q.with_host(h);
    }
    for (k, v) in &r.headers {
        match v {
            HeaderValues::One(v) => q = q.with_header(k, v),
            HeaderValues::Many(vs) => {
                for v in vs {
                    q = q.with_header(k, v);
                }
            }
        }
    }
    if let Some(p) = r.port {
        q = q.with_port(p);
    }
    if let Some(s) = &r.sni {
        q = q.with_sni(s);
    }
    if let Some(p) = &r.source_principal {
        q = q.with_peer_principal(p);
    }
    if let Some(ip) = r.source_ip {
        q = q.with_source_ip(ip);
    }
    if let Some(ip) = r.remote_ip {
        q = q.with_remote_ip(ip);
    }
    if let Some(ip) = r.destination_ip {
        q = q.with_destination_ip(ip);
    }
    for (f, v) in &r.metadata {
        q = q.with_filter_metadata(f, v.clone());
    }
    if r.request_principal.is_some()
        || r.claims.is_some()
        || r.audiences.is_some()
        || r.presenter.is_some()
    {
        let mut p = r
            .request_principal
            .as_deref()
            .map(JwtPayload::from_request_principal)
            .unwrap_or_default();
        let c = p.claims_mut();
        for (k, v) in r.claims.clone().unwrap_or_default() {
            c.insert(k, v);
        }
        if let Some(a) = &r.audiences {
            c.insert("aud".into(), Value::from(a.clone()));
        }
        if let Some(a) = &r.presenter {
            c.insert("azp".into(), Value::from(a.clone()));
        }
        q = q.with_jwt(Arc::new(p));
    }
    q
}

fn check_decision(name: &str, d: &Decision<'_>, e: &Expect) -> Vec<String> {
    let mut errs = Vec::new();
    let mut eq = |what: &str, got: String, want: String| {
        if got != want {
            errs.push(format!("{name}: {what}: got {got}, want {want}"));
        }
    };
    if let Some(want) = &e.decision {
        eq("decision", d.verdict.to_string(), want.clone());
    }
    if let Some(want) = &e.policy {
        eq(
            "policy",
            format!("{:?}", d.rule.map(|r| r.policy.id())),
            format!("{want:?}"),
        );
    }
    if let Some(want) = &e.action {
        eq(
            "action",
            format!("{:?}", d.action().map(|a| a.as_str().to_string())),
            format!("{want:?}"),
        );
    }
    if let Some(want) = &e.rule {
        eq(
            "rule",
            format!("{:?}", d.rule.map(|r| r.rule)),
            format!("{want:?}"),
        );
    }
    if let Some(want) = &e.reason {
        eq("reason", d.reason.describe().to_string(), want.clone());
    }
    if let Some(want) = e.status {
        eq(
            "status",
            format!("{:?}", d.deny_status()),
            format!("{:?}", Some(want)),
        );
    }
    if let Some(want) = &e.custom {
        let got: Vec<String> = d.custom.iter().map(|c| c.provider.to_string()).collect();
        eq("custom", format!("{got:?}"), format!("{want:?}"));
    }
    if let Some(want) = &e.audit {
        eq(
            "audit",
            format!("{:?}", d.audit.map(|r| r.policy.id())),
            format!("{want:?}"),
        );
    }
    if let Some(want) = &e.dry_run {
        let mut got = BTreeMap::new();
        for s in [d.dry_run_deny, d.dry_run_allow].into_iter().flatten() {
            got.insert(s.action.as_str().to_string(), s.verdict.to_string());
        }
        eq("dryRun", format!("{got:?}"), format!("{want:?}"));
    }
    errs
}

fn run_case(file: &str, i: usize, c: &Case) -> Vec<String> {
    let name = format!("{file}#{i} [{}] {}", c.rule.join(","), c.description);
    let mesh = c.mesh.as_ref().map(|m| {
        serde_yaml::from_value::<MeshConfig>(m.clone())
            .unwrap_or_else(|e| panic!("{name}: mesh: {e}"))
    });
    let loaded = load(
        &[("config.yaml", &c.config)],
        &LoadOptions {
            mesh,
            ..LoadOptions::default()
        },
    );
    let errors = loaded.errors();
    if !errors.is_empty() {
        return vec![format!("{name}: config does not load: {errors:?}")];
    }
    let snapshot = &loaded.snapshot;
    let w = &c.workload;
    let _ = &w.service_account;
    if let Some(mode) = &c.expect.mode {
        let m = effective_mtls(snapshot, &w.namespace, &w.labels, c.port);
        let mut errs = Vec::new();
        if m.mode.as_str() != mode {
            errs.push(format!("{name}: mode: got {}, want {mode}", m.mode));
        }
        if let Some(want) = &c.expect.policy
            && &m.policy != want
        {
            errs.push(format!("{name}: policy: got {:?}, want {want:?}", m.policy));
        }
        if let Some(want) = &c.expect.scope {
            let got = serde_json::to_value(m.scope).unwrap();
            if got.as_str() != Some(want.as_str()) {
                errs.push(format!("{name}: scope: got {got}, want {want}"));
            }
        }
        if let Some(want) = c.expect.port_level
            && m.port_level != want
        {
            errs.push(format!(
                "{name}: portLevel: got {}, want {want}",
                m.port_level
            ));
        }
        return errs;
    }
    assert!(
        c.expect.decision.is_some(),
        "{name}: a case expects a decision or a mode"
    );
    let authz = Authz::compile(
        snapshot,
        &AuthzOptions {
            multiple_custom_providers: c.options.multiple_custom_providers,
        },
    );
    let wl = authz.workload(&w.namespace, &w.labels);
    let mut req = request(&c.request);
    let jwt = WorkloadJwt::for_workload(snapshot, &w.namespace, &w.labels, &JwksSources::new());
    let now = c.request.now.unwrap_or(1_700_000_000);
    // Without a pre-validated JWT the proxy's JWT filter looks for tokens.
    if req.jwt().is_none() {
        if let Some(token) = &c.request.jwt {
            req = req.with_header("authorization", &format!("Bearer {token}"));
        }
        req = jwt.authenticate(&req, now).apply(req);
    }
    let d = wl.decide(&req);
    let mut errs = check_decision(&name, &d, &c.expect);
    // explain() runs the same evaluation: it must reach the same decision.
    let (d2, entries) = wl.explain(&req);
    if d2 != d {
        errs.push(format!("{name}: explain decided {d2:?}, decide {d:?}"));
    }
    if let Some(r) = d.rule
        && !entries.iter().any(|e| {
            e.policy == r.policy.id()
                && e.rule == Some(r.rule)
                && e.result == mesh_authz::engine::RuleResult::Matched
        })
    {
        errs.push(format!(
            "{name}: explain does not list the deciding rule as matched"
        ));
    }
    errs
}

#[test]
fn conformance_vectors() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/conformance");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    files.sort();
    let mut failures = Vec::new();
    let mut per_rule: BTreeMap<String, usize> = BTreeMap::new();
    let mut total = 0;
    for f in &files {
        let text = std::fs::read_to_string(f).unwrap();
        let name = f.file_name().unwrap().to_string_lossy().to_string();
        let file: File = serde_yaml::from_str(&text).unwrap_or_else(|e| panic!("{name}: {e}"));
        for (i, c) in file.cases.iter().enumerate() {
            assert!(!c.rule.is_empty(), "{name}#{i}: no rule id");
            for r in &c.rule {
                *per_rule.entry(r.clone()).or_default() += 1;
            }
            total += 1;
            failures.extend(run_case(&name, i, c));
        }
    }
    eprintln!("{total} vectors; per rule id: {per_rule:?}");
    assert!(
        failures.is_empty(),
        "{} failures:\n{}",
        failures.len(),
        failures.join("\n")
    );
    assert!(total >= 150, "only {total} vectors");
}
