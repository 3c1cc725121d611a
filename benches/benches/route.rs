//! Route lookup and compile benchmarks, each beside its baseline in the
//! same run:
//!
//! * `one-host/<mix>/<R>`: one virtual host with R routes, the indexed
//!   router (`indexed`) beside a linear first-match scan with the same
//!   matcher (`linear`, what Envoy's own route table does). `prefix-exact`
//!   mixes exact and prefix paths; `mixed` adds regexes and header routes.
//! * `mesh/<H>`: a sidecar route table of H services (with their
//!   VirtualServices), the full lookup (route configuration, virtual host,
//!   route) beside a plain linear evaluator that scans virtual hosts and
//!   routes in order.
//! * `compile/virtualservice-1000`: compiling Istio's xDS benchmark
//!   `virtualservice.yaml` rendered for 1,000 services into a sidecar's
//!   route table, beside loading (parsing and validating) the same input.
//!
//! Heap allocations per lookup are counted with a counting global
//! allocator and printed before the timings.

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use mesh_model::networking::FullRegex;
use mesh_model::{LoadOptions, load};
use mesh_route::config::{
    ClusterSpecifier, DestinationCluster, ForwardAction, HeaderMatcher, PathMatch, Route,
    RouteAction, RouteConfiguration, RouteMatch, RouteScope, StringMatcher, ValueMatch,
    VirtualHost, VirtualHostKind,
};
use mesh_route::{ProxyContext, Request, RouteTable};
use std::alloc::{GlobalAlloc, Layout, System};
use std::hint::black_box;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};

/// Counts every allocation, then defers to the system allocator.
struct Counting;

static ALLOCATIONS: AtomicU64 = AtomicU64::new(0);

// SAFETY: every method forwards its arguments unchanged to `System`, which
// upholds `GlobalAlloc`'s contract; the counter is a relaxed atomic.
#[allow(unsafe_code)]
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: forwarded with the caller's guarantees.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwarded with the caller's guarantees.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: forwarded with the caller's guarantees.
        unsafe { System.alloc_zeroed(layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: forwarded with the caller's guarantees.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn forward(cluster: String) -> RouteAction {
    RouteAction::Route(Box::new(ForwardAction {
        clusters: ClusterSpecifier::Cluster(Box::new(DestinationCluster {
            name: cluster,
            weight: 100,
            host: "backend".into(),
            subset: None,
            port: None,
            cluster_port: 80,
            request_headers_to_add: Vec::new(),
            request_headers_to_remove: Vec::new(),
            response_headers_to_add: Vec::new(),
            response_headers_to_remove: Vec::new(),
            host_rewrite_literal: None,
        })),
        timeout: None,
        max_grpc_timeout: None,
        retry_policy: None,
        prefix_rewrite: None,
        regex_rewrite: None,
        host_rewrite_literal: None,
        request_mirror_policies: Vec::new(),
        hash_policy: Vec::new(),
    }))
}

fn route(i: usize, path: PathMatch, headers: Vec<HeaderMatcher>) -> Route {
    Route {
        name: format!("r{i}"),
        origin: None,
        matcher: RouteMatch {
            path,
            case_sensitive: true,
            headers,
            query_parameters: Vec::new(),
            claims: Vec::new(),
        },
        action: forward(format!("outbound|80|v{i}|backend")),
        request_headers_to_add: Vec::new(),
        request_headers_to_remove: Vec::new(),
        response_headers_to_add: Vec::new(),
        response_headers_to_remove: Vec::new(),
        fault: None,
        cors: None,
        stat_prefix: None,
        operation: String::new(),
    }
}

/// A request (owned parts) and the route it must hit.
struct Probe {
    path: String,
    headers: Vec<(String, String)>,
    expected: usize,
}

/// R routes of kind `i % n` and a request for every 1/64th of them.
fn routes(r: usize, mixed: bool) -> (Vec<Route>, Vec<Probe>) {
    let kinds = if mixed { 4 } else { 2 };
    let mut out = Vec::with_capacity(r);
    let mut probes = Vec::new();
    for i in 0..r {
        let svc = format!("/api/v{}/svc-{i}", i % 7);
        let (route, path, headers) = match i % kinds {
            0 => (
                route(i, PathMatch::Path(format!("{svc}/items")), Vec::new()),
                format!("{svc}/items?limit=10"),
                Vec::new(),
            ),
            1 => (
                route(i, PathMatch::Prefix(format!("{svc}/")), Vec::new()),
                format!("{svc}/things/42"),
                Vec::new(),
            ),
            2 => (
                route(
                    i,
                    PathMatch::SafeRegex(FullRegex::new(&format!("{svc}/orders/[0-9]+")).unwrap()),
                    Vec::new(),
                ),
                format!("{svc}/orders/1234"),
                Vec::new(),
            ),
            _ => (
                route(
                    i,
                    PathMatch::Prefix("/".into()),
                    vec![HeaderMatcher {
                        name: "x-tenant".into(),
                        value: ValueMatch::String(StringMatcher::Exact(format!("tenant-{i}"))),
                        invert_match: false,
                        treat_missing_header_as_empty: false,
                    }],
                ),
                "/anything".to_string(),
                vec![("x-tenant".to_string(), format!("tenant-{i}"))],
            ),
        };
        out.push(route);
        if i % (r / 64).max(1) == 0 || i + 1 == r {
            probes.push(Probe {
                path,
                headers,
                expected: i,
            });
        }
    }
    (out, probes)
}

fn one_host_table(routes: Vec<Route>) -> RouteTable {
    RouteTable::from_route_configurations(
        ProxyContext::sidecar("default", Default::default()),
        vec![RouteConfiguration {
            name: "80".into(),
            virtual_hosts: vec![VirtualHost {
                name: "backend:80".into(),
                domains: vec!["backend".into()],
                routes,
                require_tls: false,
                kind: VirtualHostKind::Service,
            }],
            ignore_port_in_host_matching: true,
            scope: std::sync::Arc::new(RouteScope::SidecarPort { port: 80 }),
            rejected: None,
        }],
    )
}

fn with_requests<R>(probes: &[Probe], host: &str, f: impl FnOnce(&[Request<'_>]) -> R) -> R {
    let headers: Vec<Vec<(&str, &str)>> = probes
        .iter()
        .map(|p| {
            p.headers
                .iter()
                .map(|(k, v)| (k.as_str(), v.as_str()))
                .collect()
        })
        .collect();
    let reqs: Vec<Request<'_>> = probes
        .iter()
        .zip(&headers)
        .map(|(p, h)| Request::new(host, &p.path).with_port(80).with_headers(h))
        .collect();
    f(&reqs)
}

/// Allocations per lookup over `reqs`.
fn allocations_per_lookup(table: &RouteTable, reqs: &[Request<'_>]) -> f64 {
    let rounds = 100;
    let before = ALLOCATIONS.load(Ordering::Relaxed);
    for _ in 0..rounds {
        for r in reqs {
            black_box(table.route(black_box(r)));
        }
    }
    let after = ALLOCATIONS.load(Ordering::Relaxed);
    (after - before) as f64 / (rounds * reqs.len()) as f64
}

fn bench_one_host(c: &mut Criterion) {
    for mixed in [false, true] {
        let mix = if mixed { "mixed" } else { "prefix-exact" };
        let mut group = c.benchmark_group(format!("one-host/{mix}"));
        for r in [10usize, 100, 1_000, 10_000] {
            let (routes, probes) = routes(r, mixed);
            let table = one_host_table(routes);
            with_requests(&probes, "backend", |reqs| {
                for (p, q) in probes.iter().zip(reqs) {
                    let got = table.route(q).route.map(|h| h.index);
                    assert_eq!(got, Some(p.expected), "{mix}/{r}: {}", p.path);
                    assert_eq!(table.route_linear(q).route.map(|h| h.index), got);
                }
                eprintln!(
                    "one-host/{mix}/{r}: {:.3} allocations per indexed lookup",
                    allocations_per_lookup(&table, reqs)
                );
                let mut i = 0;
                group.bench_function(BenchmarkId::new("indexed", r), |b| {
                    b.iter(|| {
                        i = (i + 1) % reqs.len();
                        black_box(table.route(black_box(&reqs[i])))
                    })
                });
                let mut i = 0;
                group.bench_function(BenchmarkId::new("linear", r), |b| {
                    b.iter(|| {
                        i = (i + 1) % reqs.len();
                        black_box(table.route_linear(black_box(&reqs[i])))
                    })
                });
            });
        }
        group.finish();
    }
}

/// A mesh of `n` services in namespace `mesh`, each with a VirtualService
/// of four routes.
fn mesh_yaml(n: usize) -> String {
    let mut docs = Vec::with_capacity(2 * n);
    for i in 0..n {
        docs.push(format!(
            "apiVersion: v1\nkind: Service\nmetadata: {{name: svc-{i}, namespace: mesh}}\nspec:\n  clusterIP: 10.{}.{}.{}\n  ports: [{{name: http, port: 80}}]",
            (i >> 16) & 255,
            (i >> 8) & 255,
            i & 255
        ));
        docs.push(format!(
            "apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: {{name: svc-{i}, namespace: mesh}}\nspec:\n  hosts: [svc-{i}]\n  http:\n  - match: [{{uri: {{exact: /health}}}}]\n    directResponse: {{status: 200}}\n  - match: [{{headers: {{x-canary: {{exact: \"1\"}}}}}}]\n    route: [{{destination: {{host: svc-{i}, subset: canary}}}}]\n  - match: [{{uri: {{prefix: /api/}}}}]\n    route: [{{destination: {{host: svc-{i}, subset: v2}}}}]\n  - route: [{{destination: {{host: svc-{i}, subset: v1}}}}]"
        ));
    }
    docs.join("\n---\n")
}

/// The plain linear evaluator: virtual hosts in order (domain by domain,
/// Envoy's precedence), then routes in order.
fn linear_lookup<'t>(configs: &'t [RouteConfiguration], req: &Request<'_>) -> Option<&'t Route> {
    let c = configs
        .iter()
        .find(|c| *c.scope == RouteScope::SidecarPort { port: req.port })?;
    let host = req.host_without_port();
    let vhost = c
        .virtual_hosts
        .iter()
        .find(|v| v.domains.iter().any(|d| d.eq_ignore_ascii_case(host)))
        .or_else(|| {
            c.virtual_hosts
                .iter()
                .find(|v| v.domains.iter().any(|d| d == "*"))
        })?;
    vhost.routes.iter().find(|r| r.matcher.matches(req))
}

fn bench_mesh(c: &mut Criterion) {
    let mut group = c.benchmark_group("mesh");
    for n in [100usize, 10_000] {
        let yaml = mesh_yaml(n);
        let loaded = load(&[("mesh.yaml", yaml.as_str())], &LoadOptions::default());
        assert!(!loaded.has_errors());
        let table = RouteTable::compile(
            &loaded.snapshot,
            &ProxyContext::sidecar("client", Default::default()),
        );
        let hosts: Vec<String> = (0..64)
            .map(|k| format!("svc-{}.mesh", k * n / 64))
            .collect();
        let canary = [("x-canary", "1")];
        let reqs: Vec<Request<'_>> = hosts
            .iter()
            .enumerate()
            .map(|(k, h)| {
                let r = Request::new(h, if k % 2 == 0 { "/api/v1/x" } else { "/" }).with_port(80);
                if k % 3 == 0 {
                    r.with_headers(&canary)
                } else {
                    r
                }
            })
            .collect();
        for r in &reqs {
            let got = table.route(r).route.map(|h| h.route.name.clone());
            let want = linear_lookup(table.route_configurations(), r).map(|x| x.name.clone());
            assert_eq!(got, want);
            assert!(table.route(r).virtual_host.is_some());
        }
        eprintln!(
            "mesh/{n}: {:.3} allocations per lookup",
            allocations_per_lookup(&table, &reqs)
        );
        let mut i = 0;
        group.bench_function(BenchmarkId::new("indexed", n), |b| {
            b.iter(|| {
                i = (i + 1) % reqs.len();
                black_box(table.route(black_box(&reqs[i])))
            })
        });
        let mut i = 0;
        let configs = table.route_configurations();
        group.bench_function(BenchmarkId::new("linear", n), |b| {
            b.iter(|| {
                i = (i + 1) % reqs.len();
                black_box(linear_lookup(configs, black_box(&reqs[i])))
            })
        });
    }
    group.finish();
}

/// Renders the body of `{{- range $i := until .Services }}` … `{{- end }}`
/// of Istio's benchmark templates for `0..n`.
fn render(template: &str, n: usize) -> String {
    let lines: Vec<&str> = template.lines().collect();
    let Some(start) = lines
        .iter()
        .position(|l| l.contains("range $i := until .Services"))
    else {
        return template.to_string();
    };
    let end = lines
        .iter()
        .rposition(|l| l.trim_start().starts_with("{{- end"))
        .unwrap_or(lines.len());
    let mut out: Vec<String> = lines[..start].iter().map(|l| l.to_string()).collect();
    for i in 0..n {
        for l in &lines[start + 1..end] {
            out.push(l.replace("{{$i}}", &i.to_string()));
        }
    }
    out.extend(
        lines[end.min(lines.len())..]
            .iter()
            .skip(1)
            .map(|l| l.to_string()),
    );
    out.join("\n")
}

fn bench_compile(c: &mut Criterion) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../shared/corpus/istio/pilot/pkg/xds/testdata/benchmarks/virtualservice.yaml");
    let Ok(template) = std::fs::read_to_string(&path) else {
        eprintln!(
            "skipping compile benchmark: no corpus at {}",
            path.display()
        );
        return;
    };
    let yaml = render(&template, 1_000);
    let loaded = load(
        &[("virtualservice.yaml", yaml.as_str())],
        &LoadOptions::default(),
    );
    assert!(!loaded.has_errors());
    assert_eq!(loaded.snapshot.virtual_services().count(), 1_000);
    let proxy = ProxyContext::sidecar("default", Default::default());
    let table = RouteTable::compile(&loaded.snapshot, &proxy);
    let routes: usize = table
        .route_configurations()
        .iter()
        .flat_map(|c| &c.virtual_hosts)
        .map(|v| v.routes.len())
        .sum();
    eprintln!(
        "compile/virtualservice-1000: {} route configurations, {routes} routes",
        table.route_configurations().len()
    );
    let mut group = c.benchmark_group("compile");
    group.sample_size(20);
    group.bench_function("virtualservice-1000/compile", |b| {
        b.iter(|| black_box(RouteTable::compile(black_box(&loaded.snapshot), &proxy)))
    });
    group.bench_function("virtualservice-1000/load", |b| {
        b.iter(|| {
            black_box(load(
                &[("virtualservice.yaml", black_box(yaml.as_str()))],
                &LoadOptions::default(),
            ))
        })
    });
    group.finish();
}

criterion_group!(benches, bench_one_host, bench_mesh, bench_compile);
criterion_main!(benches);
