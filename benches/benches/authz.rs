//! Authorization decisions and JWT validation, each beside its baseline.
//!
//! * `decide/N` vs `naive/N`: one request to one workload while the mesh
//!   holds N AuthorizationPolicies (a mix of selectors, principals,
//!   namespaces, paths, methods, ports, headers, IP blocks, JWT and dry-run
//!   policies). Namespaces grow with the mesh (20 policies each) and five
//!   root-namespace policies apply everywhere, so the policies that select
//!   the workload stay about constant: the indexed engine should cost the
//!   same at every N while the naive evaluator, which scans every policy,
//!   grows with N. Allocations per decision are counted with a counting
//!   global allocator and printed.
//! * `jwt/mesh-authz/ALG` vs `jwt/jsonwebtoken/ALG`: validating one token
//!   with the workload's RequestAuthentication rules against a direct
//!   `jsonwebtoken::decode` of the same token with the same key.
//!
//! Run: `cargo bench -p mesh-benches --bench authz`.

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use jsonwebtoken::jwk::Jwk;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use mesh_authz::engine::{Authz, AuthzOptions, Verdict};
use mesh_authz::jwt::{JwksSources, JwtOutcome, WorkloadJwt};
use mesh_authz::reference;
use mesh_authz::request::{JwtPayload, Request};
use mesh_model::labels::Labels;
use mesh_model::{LoadOptions, load};
use serde_json::{Value, json};
use std::alloc::{GlobalAlloc, Layout, System};
use std::hint::black_box;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

/// Counts heap allocations, to check that decisions do not allocate.
struct Counting;

static ALLOCATIONS: AtomicUsize = AtomicUsize::new(0);

// SAFETY: every call is forwarded unchanged to the system allocator.
#[allow(unsafe_code)]
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: same contract as the caller's.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as the caller's.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: same contract as the caller's.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// On-CPU nanoseconds of this thread (Linux `schedstat`), to measure work
/// without the time spent waiting for a core on a shared machine.
fn cpu_ns() -> Option<u64> {
    std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

fn cpu_ns_per_call(n: usize, mut f: impl FnMut()) -> Option<f64> {
    f();
    let start = cpu_ns()?;
    for _ in 0..n {
        f();
    }
    Some((cpu_ns()? - start) as f64 / n as f64)
}

fn allocations_per_call(n: usize, mut f: impl FnMut()) -> f64 {
    f();
    let before = ALLOCATIONS.load(Ordering::Relaxed);
    for _ in 0..n {
        f();
    }
    (ALLOCATIONS.load(Ordering::Relaxed) - before) as f64 / n as f64
}

const ROOT_POLICIES: &str = r#"
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: deny-blocked-ips, namespace: istio-system}
spec:
  action: DENY
  rules: [{from: [{source: {ipBlocks: ["203.0.113.0/24", "198.51.100.7"]}}]}]
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: audit-admin, namespace: istio-system}
spec:
  action: AUDIT
  rules: [{to: [{operation: {paths: ["/admin/*"]}}]}]
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: deny-debug, namespace: istio-system}
spec:
  action: DENY
  rules: [{to: [{operation: {paths: ["/debug/*", "*/pprof"], ports: ["15000"]}}]}]
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata:
  name: dry-deny-legacy
  namespace: istio-system
  annotations: {istio.io/dry-run: "true"}
spec:
  action: DENY
  rules: [{from: [{source: {notNamespaces: ["ns-*", "istio-system"]}}]}]
---
apiVersion: security.istio.io/v1
kind: RequestAuthentication
metadata: {name: jwt, namespace: istio-system}
spec:
  jwtRules: [{issuer: "https://auth.example.com", jwks: '{"keys":[]}'}]
"#;

/// The `i`-th policy of namespace `ns`: a realistic variety of shapes.
fn policy(ns: usize, i: usize) -> String {
    let app = format!("app-{}", i % 4);
    let selector = match i % 4 {
        0 | 1 => format!("  selector: {{matchLabels: {{app: {app}}}}}\n"),
        2 => format!(
            "  selector: {{matchLabels: {{app: {app}, version: v{}}}}}\n",
            i % 3
        ),
        _ => String::new(),
    };
    let (action, dry) = match i % 10 {
        0..=5 => ("ALLOW", false),
        6 | 7 => ("DENY", false),
        8 => ("AUDIT", false),
        _ => ("ALLOW", true),
    };
    let rules = match (i / 4) % 5 {
        0 => format!(
            "  - from: [{{source: {{principals: [\"cluster.local/ns/ns-{ns}/sa/client-{i}\", \"cluster.local/ns/ns-{}/sa/*\"]}}}}]\n    to: [{{operation: {{methods: [GET, HEAD], paths: [\"/api/v{i}/*\"]}}}}]\n",
            (ns + 1) % 7
        ),
        1 => format!(
            "  - from: [{{source: {{namespaces: [\"team-{i}\", \"ns-{}\"]}}}}]\n    to: [{{operation: {{ports: [\"8080\"], notPaths: [\"/internal/*\"]}}}}]\n  - to: [{{operation: {{paths: [{}]}}}}]\n",
            (ns + 3) % 11,
            if action == "ALLOW" {
                "\"/healthz\", \"/ready\""
            } else {
                "\"/internal/debug\""
            }
        ),
        2 => format!(
            "  - to: [{{operation: {{paths: [\"/orders/{{*}}/items/{{**}}\"], methods: [POST]}}}}]\n    when: [{{key: \"request.headers[x-tenant]\", values: [\"tenant-{i}\", \"shared-*\"]}}]\n"
        ),
        3 => format!(
            "  - from: [{{source: {{requestPrincipals: [\"https://auth.example.com/user-{i}\"], ipBlocks: [\"10.{}.0.0/16\"]}}}}]\n    when: [{{key: \"request.auth.claims[groups]\", values: [\"group-{i}\"]}}]\n",
            i % 200
        ),
        _ => format!(
            "  - from: [{{source: {{serviceAccounts: [\"ns-{ns}/sa-{i}\"]}}}}]\n    to: [{{operation: {{hosts: [\"svc-{i}.example.com\", \"*.svc-{i}.example.com\"]}}}}]\n"
        ),
    };
    let annotations = if dry {
        "  annotations: {istio.io/dry-run: \"true\"}\n"
    } else {
        ""
    };
    format!(
        "apiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\nmetadata:\n  name: p-{i}\n  namespace: ns-{ns}\n{annotations}spec:\n{selector}  action: {action}\n  rules:\n{rules}"
    )
}

/// A mesh of `n` policies: 20 per namespace, plus the root ones.
fn mesh(n: usize) -> String {
    let per_ns = 20;
    let mut docs = vec![ROOT_POLICIES.to_string()];
    for i in 0..n.saturating_sub(4) {
        docs.push(policy(i / per_ns, i % per_ns));
    }
    docs.join("---\n")
}

fn request() -> Request {
    // Walks the whole DENY list without a match, then matches an ALLOW
    // rule (`/healthz` of a rule with two alternatives).
    Request::http("GET", "/healthz?probe=1")
        .with_host("svc-3.example.com")
        .with_port(8080)
        .with_header("x-tenant", "shared-a")
        .with_header("user-agent", "curl/8.5.0")
        .with_peer_principal("cluster.local/ns/ns-5/sa/client-9")
        .with_source_ip("10.7.1.2".parse().unwrap())
        .with_jwt(Arc::new(JwtPayload::from_request_principal(
            "https://auth.example.com/user-1",
        )))
}

fn decisions(c: &mut Criterion) {
    let labels: Labels = [
        ("app".to_string(), "app-1".to_string()),
        ("version".to_string(), "v1".to_string()),
    ]
    .into();
    let req = request();
    let mut group = c.benchmark_group("authz");
    for n in [10usize, 100, 1_000, 10_000] {
        let text = mesh(n);
        let loaded = load(&[("mesh.yaml", &text)], &LoadOptions::default());
        assert!(!loaded.has_errors(), "{:?}", loaded.diagnostics.first());
        let authz = Authz::compile(&loaded.snapshot, &AuthzOptions::default());
        let w = authz.workload("ns-0", &labels);
        let d = w.decide(&req);
        let naive = reference::decide(&authz, "ns-0", &labels, &req, w.jwt_applies());
        assert_eq!(d.verdict, Verdict::Allow);
        assert_eq!(naive.verdict, d.verdict);
        let rules: usize = w.policies().iter().map(|p| p.rules().len()).sum();
        let allocs = allocations_per_call(10_000, || {
            black_box(w.decide(black_box(&req)));
        });
        let naive_allocs = allocations_per_call(100, || {
            black_box(reference::decide(&authz, "ns-0", &labels, &req, true));
        });
        let cpu = cpu_ns_per_call(200_000, || {
            black_box(w.decide(black_box(&req)));
        });
        let naive_cpu = cpu_ns_per_call(if n >= 10_000 { 200 } else { 5_000 }, || {
            black_box(reference::decide(&authz, "ns-0", &labels, &req, true));
        });
        eprintln!(
            "mesh of {} policies: {} attach to the workload ({rules} rules); allocations per decision: indexed {allocs}, naive {naive_allocs}; on-CPU ns per decision: indexed {cpu:.0?}, naive {naive_cpu:.0?}",
            authz.policies().len(),
            w.policies().len()
        );
        group.bench_with_input(BenchmarkId::new("decide", n), &n, |b, _| {
            b.iter(|| black_box(w.decide(black_box(&req))).verdict)
        });
        group.bench_with_input(BenchmarkId::new("naive", n), &n, |b, _| {
            b.iter(|| {
                black_box(reference::decide(
                    &authz,
                    "ns-0",
                    &labels,
                    black_box(&req),
                    true,
                ))
                .verdict
            })
        });
    }
    group.finish();
}

const ISS: &str = "https://auth.example.com";

fn jwt(c: &mut Criterion) {
    let claims = json!({"iss": ISS, "sub": "alice", "aud": "books", "exp": 4_102_444_800u64,
                        "scope": "read write", "groups": ["dev"]});
    let ec = rcgen::KeyPair::generate().unwrap();
    let keys = [
        (
            "RS256",
            EncodingKey::from_rsa_pem(include_str!("throwaway-rsa-key.pem").as_bytes()).unwrap(),
            Algorithm::RS256,
        ),
        (
            "ES256",
            EncodingKey::from_ec_pem(ec.serialize_pem().as_bytes()).unwrap(),
            Algorithm::ES256,
        ),
    ];
    let mut group = c.benchmark_group("jwt");
    for (name, key, alg) in keys {
        let mut jwk: Value =
            serde_json::to_value(Jwk::from_encoding_key(&key, alg).unwrap()).unwrap();
        jwk["kid"] = json!("k1");
        let mut header = Header::new(alg);
        header.kid = Some("k1".into());
        let token = jsonwebtoken::encode(&header, &claims, &key).unwrap();
        let jwks = json!({"keys": [jwk.clone()]}).to_string();
        let yaml = format!(
            "apiVersion: security.istio.io/v1\nkind: RequestAuthentication\nmetadata: {{name: jwt, namespace: foo}}\nspec:\n  jwtRules:\n  - issuer: {ISS:?}\n    audiences: [books]\n    jwks: '{jwks}'\n"
        );
        let loaded = load(&[("ra.yaml", &yaml)], &LoadOptions::default());
        let w =
            WorkloadJwt::for_workload(&loaded.snapshot, "foo", &Labels::new(), &JwksSources::new());
        let req =
            Request::http("GET", "/").with_header("authorization", &format!("Bearer {token}"));
        let now = 1_700_000_000;
        assert!(matches!(w.authenticate(&req, now), JwtOutcome::Valid(_)));
        let decoding = DecodingKey::from_jwk(&serde_json::from_value(jwk).unwrap()).unwrap();
        let mut validation = Validation::new(alg);
        validation.set_audience(&["books"]);
        validation.set_issuer(&[ISS]);
        assert!(jsonwebtoken::decode::<Value>(&token, &decoding, &validation).is_ok());
        group.bench_function(BenchmarkId::new("mesh-authz", name), |b| {
            b.iter(|| black_box(w.authenticate(black_box(&req), now)))
        });
        group.bench_function(BenchmarkId::new("jsonwebtoken", name), |b| {
            b.iter(|| {
                black_box(jsonwebtoken::decode::<Value>(
                    black_box(&token),
                    &decoding,
                    &validation,
                ))
            })
        });
    }
    group.finish();
}

fn config() -> Criterion {
    Criterion::default()
        .sample_size(20)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_millis(1500))
}

criterion_group! {
    name = benches;
    config = config();
    targets = decisions, jwt
}
criterion_main!(benches);
