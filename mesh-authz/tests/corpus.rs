//! Every AuthorizationPolicy among Istio's builder test inputs
//! (`pilot/pkg/security/authz/builder/testdata/**/*-in.yaml`, read from
//! `../shared/corpus/istio`) loads, compiles and evaluates for the workload
//! those tests use (namespace `foo`, labels `app: httpbin, version: v1`);
//! where the golden output shows a decision, the engine agrees.

// Tests read the corpus from disk; the library itself never does.
#![allow(clippy::disallowed_methods)]

use mesh_authz::engine::{Authz, AuthzOptions, Reason, Verdict};
use mesh_authz::request::{JwtPayload, Request};
use mesh_model::labels::Labels;
use mesh_model::wire::mesh::MeshConfig;
use mesh_model::{LoadOptions, load};
use std::path::{Path, PathBuf};
use std::sync::Arc;

fn corpus() -> Option<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../shared/corpus/istio/pilot/pkg/security/authz/builder/testdata");
    if dir.is_dir() {
        return Some(dir);
    }
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!("the Istio corpus is missing at {}", dir.display());
    }
    eprintln!("skipping: no corpus at {}", dir.display());
    None
}

fn labels() -> Labels {
    [
        ("app".into(), "httpbin".into()),
        ("version".into(), "v1".into()),
    ]
    .into()
}

fn authz(dir: &Path, file: &str, mesh: Option<MeshConfig>) -> Authz {
    let text = std::fs::read_to_string(dir.join(file)).unwrap();
    let loaded = load(
        &[(file, &text)],
        &LoadOptions {
            mesh,
            ..LoadOptions::default()
        },
    );
    let errors = loaded.errors();
    assert!(errors.is_empty(), "{file}: {errors:#?}");
    Authz::compile(&loaded.snapshot, &AuthzOptions::default())
}

/// Requests that exercise every kind of attribute, over HTTP and TCP.
fn requests() -> Vec<Request> {
    let jwt = Arc::new(JwtPayload::from_request_principal("iss/sub"));
    let full = Request::http("GET", "/httpbin1?x=1")
        .with_host("example.com")
        .with_port(80)
        .with_header("x-header", "value")
        .with_peer_principal("cluster.local/ns/ns-1/sa/sa-1")
        .with_source_ip("10.0.0.1".parse().unwrap())
        .with_sni("example.com")
        .with_jwt(jwt);
    vec![
        Request::http("GET", "/"),
        Request::http("POST", "/admin").with_port(8080),
        full,
        Request::tcp()
            .with_port(80)
            .with_peer_principal("cluster.local/ns/ns-1/sa/sa-1"),
        Request::tcp().with_port(9090),
    ]
}

#[test]
fn every_builder_input_loads_and_evaluates() {
    let Some(dir) = corpus() else { return };
    let mut files = Vec::new();
    for sub in ["http", "tcp"] {
        for e in std::fs::read_dir(dir.join(sub)).unwrap() {
            let p = e.unwrap().path();
            if p.to_string_lossy().ends_with("-in.yaml") {
                files.push(format!(
                    "{sub}/{}",
                    p.file_name().unwrap().to_string_lossy()
                ));
            }
        }
    }
    files.sort();
    assert!(files.len() >= 20, "{files:?}");
    let mut policies = 0;
    for f in &files {
        let a = authz(&dir, f, None);
        assert!(!a.policies().is_empty(), "{f}: no policy");
        let w = a.workload("foo", &labels());
        // The golden index: every input policy applies to this workload.
        assert_eq!(w.policies().len(), a.policies().len(), "{f}");
        policies += a.policies().len();
        for req in requests() {
            let d = w.decide(&req);
            let (d2, explain) = w.explain(&req);
            assert_eq!(d, d2, "{f}: explain disagrees with decide");
            assert!(!explain.is_empty(), "{f}");
        }
    }
    eprintln!("{} files, {policies} policies", files.len());
}

#[test]
fn golden_decisions() {
    let Some(dir) = corpus() else { return };
    let get = Request::http("GET", "/");
    // allow-nil-rule: an ALLOW policy without rules never matches (AZ-4).
    let a = authz(&dir, "http/allow-nil-rule-in.yaml", None);
    let w = a.workload("foo", &labels());
    let d = w.decide(&get);
    assert_eq!(
        (d.verdict, d.reason),
        (Verdict::Deny, Reason::NoAllowMatched)
    );
    // allow-empty-rule / deny-empty-rule: `{}` matches everything.
    let a = authz(&dir, "http/allow-empty-rule-in.yaml", None);
    assert_eq!(
        a.workload("foo", &labels()).decide(&get).verdict,
        Verdict::Allow
    );
    let a = authz(&dir, "http/deny-empty-rule-in.yaml", None);
    assert_eq!(
        a.workload("foo", &labels()).decide(&get).verdict,
        Verdict::Deny
    );
    // dry-run-allow: shadow rules only, so no ALLOW is enforced (AZ-5).
    let a = authz(&dir, "http/dry-run-allow-in.yaml", None);
    let w = a.workload("foo", &labels());
    let d = w.decide(&Request::http("DELETE", "/nothing"));
    assert_eq!(
        (d.verdict, d.reason),
        (Verdict::Allow, Reason::NoAllowPolicy)
    );
    assert!(d.dry_run_allow.is_some());
    // custom-simple-http without a mesh config: provider "default" is
    // unknown, so the CUSTOM rules deny (AZ-7, custom-bad-*).
    let a = authz(&dir, "http/custom-simple-http-in.yaml", None);
    let w = a.workload("foo", &labels());
    let d = w.decide(&Request::http("GET", "/httpbin2"));
    assert_eq!(
        (d.verdict, d.rule.unwrap().policy.name()),
        (Verdict::Deny, "httpbin-2")
    );
    assert_eq!(
        w.decide(&Request::http("GET", "/other")).verdict,
        Verdict::Allow
    );
    // tcp/allow-only-http: every ALLOW rule is HTTP-only, the filter is
    // empty, every TCP connection is denied (AZ-31).
    let a = authz(&dir, "tcp/allow-only-http-in.yaml", None);
    let tcp = Request::tcp()
        .with_port(80)
        .with_peer_principal("cluster.local/ns/ns-1/sa/x");
    assert_eq!(
        a.workload("foo", &labels()).decide(&tcp).verdict,
        Verdict::Deny
    );
    // tcp/allow-both-http-tcp: only rule[3] (namespaces + port 80) is left.
    let a = authz(&dir, "tcp/allow-both-http-tcp-in.yaml", None);
    let w = a.workload("foo", &labels());
    let d = w.decide(&tcp);
    assert_eq!(
        (d.verdict, d.rule.map(|r| r.rule)),
        (Verdict::Allow, Some(3))
    );
    let tcp8080 = Request::tcp()
        .with_port(8080)
        .with_peer_principal("cluster.local/ns/ns-1/sa/x");
    assert_eq!(w.decide(&tcp8080).verdict, Verdict::Deny);
    // tcp/deny-both-http-tcp: rule[1] is made only of HTTP conditions and
    // becomes deny-everything on TCP (AZ-32).
    let a = authz(&dir, "tcp/deny-both-http-tcp-in.yaml", None);
    let w = a.workload("foo", &labels());
    assert_eq!(
        w.decide(&Request::tcp().with_port(12345)).verdict,
        Verdict::Deny
    );
    // trust-domain-one-alias: bundle td1 + [cluster.local]; the
    // cluster.local principals of the input also accept td1 (AZ-23).
    let mesh = MeshConfig {
        trust_domain: Some("td1".into()),
        trust_domain_aliases: vec!["cluster.local".into()],
        ..MeshConfig::default()
    };
    let a = authz(&dir, "http/simple-policy-td-aliases-in.yaml", Some(mesh));
    let w = a.workload("foo", &labels());
    for td in ["td1", "cluster.local"] {
        let req = Request::http("rule[0]-to[0]-method[0]", "/")
            .with_peer_principal(&format!("{td}/ns/rule[0]/sa/from[0]-principal[0]"));
        assert_eq!(w.decide(&req).verdict, Verdict::Allow, "{td}");
    }
}
