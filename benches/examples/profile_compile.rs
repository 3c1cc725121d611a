//! Compiles one of Istio's benchmark configurations many times, for a
//! profiler: `cargo run --release -p mesh-benches --example profile_compile -- gateways.yaml 1000 router 20 [routes|routes_table|routes_encoded|route_resources|routes_encoded_prost|routes_with_prepare|clusters|clusters_encoded|clusters_encoded_prost|clusters_and_endpoints|versions]`.

use mesh_model::{LoadOptions, load};
use mesh_xds::proxy::Proxy;
use mesh_xds::resources::ResourceType;
use mesh_xds::{CompileOptions, Compiler};

/// The allocator the controller runs with (mimalloc); the
/// `system-allocator` feature measures glibc's malloc instead.
#[cfg(not(feature = "system-allocator"))]
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let file = args.first().map_or("virtualservice.yaml", String::as_str);
    let n: usize = args.get(1).and_then(|s| s.parse().ok()).unwrap_or(1000);
    let router = args.get(2).is_some_and(|s| s == "router");
    let iters: usize = args.get(3).and_then(|s| s.parse().ok()).unwrap_or(10);
    let what = args.get(4).map_or("all", String::as_str);
    let yaml = mesh_benches::istio_benchmark_config(file, n, n);
    let snapshot = load(&[(file, &yaml)], &LoadOptions::default()).snapshot;
    let labels = [("istio.io/benchmark".to_string(), "true".to_string())].into();
    let p = if router {
        Proxy::router("default", labels, "default")
    } else {
        Proxy::sidecar("default", labels, "default")
    };
    let compiler = Compiler::new(&snapshot, CompileOptions::default());
    let prepared = compiler.prepare(&p);
    // The descriptor pool the versions read is built once per process.
    let _ = mesh_xds::json::pool();
    let start = std::time::Instant::now();
    let mut total = 0;
    for _ in 0..iters {
        total += match what {
            "routes" => prepared.routes().len(),
            "routes_table" => prepared.route_table().route_configurations().len(),
            "routes_encoded" => {
                let mut encoder = mesh_xds::encode::Encoder::default();
                prepared
                    .routes()
                    .iter()
                    .map(|r| encoder.route_configuration(r).len())
                    .sum()
            }
            "route_resources" => prepared
                .route_resources()
                .iter()
                .map(|r| r.resource.as_ref().map_or(0, |a| a.value.len()))
                .sum(),
            "routes_encoded_prost" => encoded(prepared.routes()),
            "routes_with_prepare" => compiler.routes(&p).len(),
            "clusters" => compiler.clusters(&p).len(),
            "clusters_encoded" => {
                let mut encoder = mesh_xds::encode::Encoder::default();
                compiler
                    .clusters(&p)
                    .iter()
                    .map(|c| encoder.cluster(c).len())
                    .sum()
            }
            "clusters_encoded_prost" => encoded(compiler.clusters(&p)),
            // What a server does before serving a compiled proxy: every
            // resource encoded and given its content version.
            "versions" => {
                let r = compiler.compile(&p);
                ResourceType::ALL.iter().map(|t| r.of_type(*t).len()).sum()
            }
            "clusters_and_endpoints" => compiler.outbound_clusters(&p).0.len(),
            _ => compiler.compile(&p).clusters.len(),
        };
    }
    eprintln!(
        "{file} x{n} {what}: {:?} per compile ({total})",
        start.elapsed() / iters as u32
    );
}

/// Encodes each resource to protobuf bytes, as a server does before
/// sending it; the total size.
fn encoded<M: prost::Message>(resources: Vec<M>) -> usize {
    resources.iter().map(|r| r.encode_to_vec().len()).sum()
}
