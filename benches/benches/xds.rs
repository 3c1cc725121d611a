//! xDS compile time for Istio's own benchmark configurations
//! (`pilot/pkg/xds/testdata/benchmarks`), rendered at the sizes Istio
//! uses. Each case is measured beside a baseline in the same run: encoding
//! the compiled resources to protobuf bytes (what a server does with them
//! anyway), so the report can say how compile time compares to the cost of
//! putting the result on the wire. Istio's published figures for its Go
//! code are printed beside ours for reference.
//!
//! `cargo bench -p mesh-benches --bench xds`

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use mesh_benches::istio_benchmark_config;
use mesh_model::{LoadOptions, load};
use mesh_xds::proxy::Proxy;
use mesh_xds::resources::Resources;
use mesh_xds::{CompileOptions, Compiler};
use prost::Message;
use std::hint::black_box;

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
        // The like-for-like figures: Istio's published numbers time one
        // resource type each (routes, or clusters).
        g.bench_with_input(BenchmarkId::new("routes", &id), &p, |b, p| {
            b.iter(|| black_box(compiler.routes(p)))
        });
        g.bench_with_input(BenchmarkId::new("clusters", &id), &p, |b, p| {
            b.iter(|| black_box(compiler.outbound_clusters(p)))
        });
        g.bench_with_input(BenchmarkId::new("encode_baseline", &id), &r, |b, r| {
            b.iter(|| black_box(encode(r)))
        });
        g.bench_with_input(
            BenchmarkId::new("index_snapshot", &id),
            &snapshot,
            |b, s| b.iter(|| black_box(Compiler::new(s, CompileOptions::default()))),
        );
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
