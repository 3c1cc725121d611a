//! xDS compile time for Istio's own benchmark configurations
//! (`pilot/pkg/xds/testdata/benchmarks`), rendered at the sizes Istio
//! uses. Each case is measured beside a baseline in the same run: encoding
//! the compiled resources to protobuf bytes (what a server does with them
//! anyway), so the report can say how compile time compares to the cost of
//! putting the result on the wire. Istio's published figures for its Go
//! code are printed beside ours for reference.
//!
//! `cargo bench -p mesh-benches --bench xds`
//!
//! `xds_incremental` times what a server does after one VirtualService
//! changes, in a 10,000-service mesh (a sidecar) and in the 1,000-gateway
//! mesh (the gateway): [`Compiler::recompile`] of the affected proxy from
//! its previous resources, beside the full compile it replaces, and the
//! snapshot diff that finds what changed.

use criterion::{BatchSize, BenchmarkId, Criterion, criterion_group, criterion_main};
use mesh_benches::istio_benchmark_config;
use mesh_model::{LoadOptions, load};
use mesh_xds::encode::Encoder;
use mesh_xds::proxy::Proxy;
use mesh_xds::resources::{ResourceType, Resources};
use mesh_xds::{CompileOptions, Compiler};
use prost::Message;
use std::hint::black_box;

/// The allocator the controller runs with (mimalloc); the
/// `system-allocator` feature measures glibc's malloc instead.
#[cfg(not(feature = "system-allocator"))]
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn proxy(router: bool) -> Proxy {
    let labels = [("istio.io/benchmark".to_string(), "true".to_string())].into();
    let mut p = if router {
        Proxy::router("default", labels, "default")
    } else {
        Proxy::sidecar("default", labels, "default")
    };
    p.ips = vec!["1.1.1.1".parse().unwrap()];
    p
}

fn encode(r: &Resources) -> usize {
    r.listeners.iter().map(Message::encoded_len).sum::<usize>()
        + r.routes
            .iter()
            .map(|x| x.encode_to_vec().len())
            .sum::<usize>()
        + r.clusters
            .iter()
            .map(|x| x.encode_to_vec().len())
            .sum::<usize>()
        + r.endpoints
            .iter()
            .map(|x| x.encode_to_vec().len())
            .sum::<usize>()
}

/// Each resource encoded to protobuf bytes, as a server encodes it before
/// sending it (and as Istio's generators marshal it into an `Any`).
fn encoded<M: Message>(resources: Vec<M>) -> Vec<Vec<u8>> {
    resources.iter().map(Message::encode_to_vec).collect()
}

/// [`encoded`], by one [`Encoder`] as the server encodes them.
fn encoded_with<M>(resources: Vec<M>, encode: fn(&mut Encoder, &M) -> Vec<u8>) -> Vec<Vec<u8>> {
    let mut encoder = Encoder::default();
    resources.iter().map(|m| encode(&mut encoder, m)).collect()
}

fn bench(c: &mut Criterion) {
    if !mesh_benches::corpus().is_dir() {
        eprintln!("skipping: no corpus");
        return;
    }
    // (config, services, router, Istio's published figure)
    let cases = [
        (
            "virtualservice.yaml",
            100,
            false,
            "100 VirtualServices: 1.03 ms",
        ),
        (
            "virtualservice.yaml",
            1000,
            false,
            "1,000 VirtualServices in one route table: 61.3 ms",
        ),
        (
            "gateways.yaml",
            1000,
            true,
            "routes for 1,000 gateway hosts: 22.5 ms; clusters for 1,000 gateways: 7.61 ms",
        ),
        ("http.yaml", 1000, false, "-"),
        ("tcp.yaml", 1000, false, "-"),
        ("authorizationpolicy.yaml", 1000, false, "-"),
    ];
    let mut g = c.benchmark_group("xds_compile");
    g.sample_size(10);
    for (file, n, router, istio) in cases {
        let yaml = istio_benchmark_config(file, n, n);
        let loaded = load(&[(file, &yaml)], &LoadOptions::default());
        let snapshot = loaded.snapshot;
        let p = proxy(router);
        let compiler = Compiler::new(&snapshot, CompileOptions::default());
        let r = compiler.compile(&p);
        eprintln!(
            "{file} x{n}: {} listeners, {} routes, {} clusters, {} endpoints; Istio: {istio}",
            r.listeners.len(),
            r.routes.len(),
            r.clusters.len(),
            r.endpoints.len()
        );
        let id = format!("{file}/{n}");
        g.bench_with_input(BenchmarkId::new("compile", &id), &p, |b, p| {
            b.iter(|| black_box(compiler.compile(p)))
        });
        // Istio's published numbers time one resource type each (routes,
        // or clusters). Istio's benchmark computes the proxy's SidecarScope
        // and MergedGateway before it starts the clock (`initPushContext`);
        // `prepare` is their counterpart, so `routes` times what is left,
        // and `routes_with_prepare` times both.
        let prepared = compiler.prepare(&p);
        g.bench_function(BenchmarkId::new("routes", &id), |b| {
            b.iter(|| black_box(prepared.routes()))
        });
        // mesh-route's route table alone, before any Envoy proto exists
        // (with the listeners and evaluation indexes a table also holds,
        // which `routes` does without): about the share of `routes` that
        // is not the translation to protos.
        g.bench_function(BenchmarkId::new("routes_table", &id), |b| {
            b.iter(|| black_box(prepared.route_table()))
        });
        g.bench_with_input(BenchmarkId::new("routes_with_prepare", &id), &p, |b, p| {
            b.iter(|| black_box(compiler.routes(p)))
        });
        // Istio's generators also marshal each resource into an `Any`
        // (`protoconv.MessageToAny` in `BuildHTTPRoutes`, and likewise for
        // clusters), and its published figures time that too: the
        // `*_encoded` cases and `route_resources` add the encoding to
        // protobuf bytes that a server does before it sends a resource.
        // `routes_encoded` encodes `routes()` as the controller does, with
        // `encode::Encoder`; prost's own `encode_to_vec`, which gives the
        // same bytes, is the baseline.
        g.bench_function(BenchmarkId::new("routes_encoded", &id), |b| {
            b.iter(|| {
                black_box(encoded_with(
                    prepared.routes(),
                    Encoder::route_configuration,
                ))
            })
        });
        // The same route configurations streamed out as Istio's
        // `BuildHTTPRoutes` makes them, the like-for-like comparison with
        // its published route figures: each one compiled and encoded into
        // a named `Any` before the next is begun, written straight from
        // mesh-route's compiled types without building Envoy's `Route`
        // protos (`PreparedProxy::route_resources`).
        g.bench_function(BenchmarkId::new("route_resources", &id), |b| {
            b.iter(|| black_box(prepared.route_resources()))
        });
        g.bench_function(BenchmarkId::new("routes_encoded_prost", &id), |b| {
            b.iter(|| black_box(encoded(prepared.routes())))
        });
        // CDS alone, as Istio's cluster generation is timed; and the
        // outbound clusters with their endpoints (CDS + EDS).
        g.bench_with_input(BenchmarkId::new("clusters", &id), &p, |b, p| {
            b.iter(|| black_box(compiler.clusters(p)))
        });
        // Encoded as the server encodes them, and by prost as the baseline.
        g.bench_with_input(BenchmarkId::new("clusters_encoded", &id), &p, |b, p| {
            b.iter(|| black_box(encoded_with(compiler.clusters(p), Encoder::cluster)))
        });
        g.bench_with_input(
            BenchmarkId::new("clusters_encoded_prost", &id),
            &p,
            |b, p| b.iter(|| black_box(encoded(compiler.clusters(p)))),
        );
        g.bench_with_input(
            BenchmarkId::new("clusters_and_endpoints", &id),
            &p,
            |b, p| b.iter(|| black_box(compiler.outbound_clusters(p))),
        );
        g.bench_with_input(BenchmarkId::new("encode_baseline", &id), &r, |b, r| {
            b.iter(|| black_box(encode(r)))
        });
        // What a server does with a compiled proxy before serving it:
        // every resource packed and given its content version, beside the
        // plain encoding above.
        let _ = mesh_xds::json::pool();
        g.bench_with_input(BenchmarkId::new("versions", &id), &r, |b, r| {
            b.iter(|| black_box(ResourceType::ALL.map(|t| r.of_type(t))))
        });
        g.bench_with_input(
            BenchmarkId::new("index_snapshot", &id),
            &snapshot,
            |b, s| b.iter(|| black_box(Compiler::new(s, CompileOptions::default()))),
        );
    }
    g.finish();
}

/// One VirtualService, `vs-<n/2>`, of one of Istio's benchmark meshes,
/// changed in its HTTP routes only (a new URI prefix).
fn change_one_virtual_service(yaml: &str, n: usize) -> String {
    let target = format!("name: vs-{}\n", n / 2);
    yaml.split("\n---")
        .map(|doc| {
            if doc.contains(&target) {
                doc.replace("prefix: \"/", "prefix: \"/changed")
            } else {
                doc.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join("\n---")
}

fn incremental(c: &mut Criterion) {
    if !mesh_benches::corpus().is_dir() {
        eprintln!("skipping: no corpus");
        return;
    }
    let mut g = c.benchmark_group("xds_incremental");
    g.sample_size(10);
    // (config, services, router)
    for (file, n, router) in [
        ("virtualservice.yaml", 10_000, false),
        ("gateways.yaml", 1000, true),
    ] {
        let yaml = istio_benchmark_config(file, n, n);
        let changed_yaml = change_one_virtual_service(&yaml, n);
        assert_ne!(yaml, changed_yaml);
        let before = load(&[(file, &yaml)], &LoadOptions::default()).snapshot;
        let after = load(&[(file, &changed_yaml)], &LoadOptions::default()).snapshot;
        let p = proxy(router);
        let previous = Compiler::new(&before, CompileOptions::default()).compile(&p);
        let compiler = Compiler::new(&after, CompileOptions::default());
        let changed = after.changed_since(&before);
        eprintln!(
            "{file} x{n}: {} route configurations, {} virtual hosts, {} clusters; changed: {:?}",
            previous.routes.len(),
            previous
                .routes
                .iter()
                .map(|r| r.virtual_hosts.len())
                .sum::<usize>(),
            previous.clusters.len(),
            changed
        );
        let next = compiler.recompile(&p, previous.clone(), &before, changed.as_ref());
        assert_eq!(next, compiler.compile(&p));
        assert_ne!(next, previous);
        let id = format!("{file}/{n}");
        // Both drop their result outside the timing.
        g.bench_function(BenchmarkId::new("compile", &id), |b| {
            b.iter_batched(|| (), |()| compiler.compile(&p), BatchSize::PerIteration)
        });
        g.bench_function(BenchmarkId::new("recompile", &id), |b| {
            b.iter_batched(
                || previous.clone(),
                |prev| compiler.recompile(&p, prev, &before, changed.as_ref()),
                BatchSize::PerIteration,
            )
        });
        g.bench_function(BenchmarkId::new("changed_since", &id), |b| {
            b.iter(|| black_box(after.changed_since(&before)))
        });
    }
    g.finish();
}

criterion_group!(benches, bench, incremental);
criterion_main!(benches);
