//! `Compiler::recompile` against a full compile: after any change the
//! result is the same, and a change to VirtualService HTTP routes alone
//! keeps the other resources instead of building them again.

use mesh_model::snapshot::Snapshot;
use mesh_model::{LoadOptions, load};
use mesh_testkit::{Bindings, Mesh, NAMESPACE, strategy};
use mesh_xds::proxy::Proxy;
use mesh_xds::resources::Resources;
use mesh_xds::{CompileOptions, Compiler};
use proptest::prelude::*;
use proptest::test_runner::TestCaseError;

/// The mesh loaded, when it validates.
fn snapshot(mesh: &Mesh) -> Option<Snapshot> {
    let yaml = mesh.to_yaml(&Bindings::default());
    let loaded = load(&[("mesh.yaml", yaml.as_str())], &mesh.load_options());
    loaded.errors().is_empty().then_some(loaded.snapshot)
}

fn client() -> Proxy {
    Proxy::sidecar(
        NAMESPACE,
        [("app".to_string(), "client".to_string())].into(),
        "client",
    )
}

/// Recompiles `proxy` from `before` to `after`; returns the result and
/// whether the previous clusters were kept rather than built again.
fn recompile(before: &Snapshot, after: &Snapshot, proxy: &Proxy) -> (Resources, Resources, bool) {
    let previous = Compiler::new(before, CompileOptions::default()).compile(proxy);
    let clusters = previous.clusters.as_ptr();
    let compiler = Compiler::new(after, CompileOptions::default());
    let changed = after.changed_since(before);
    let next = compiler.recompile(proxy, previous, before, changed.as_ref());
    let kept = !next.clusters.is_empty() && next.clusters.as_ptr() == clusters;
    (next, compiler.compile(proxy), kept)
}

/// Where two compiled results differ, briefly (the whole value is too
/// large for a failure message).
fn first_difference(a: &Resources, b: &Resources) -> String {
    if a.listeners != b.listeners {
        return "listeners".into();
    }
    if a.clusters != b.clusters || a.endpoints != b.endpoints || a.secrets != b.secrets {
        return "clusters, endpoints or secrets".into();
    }
    let names = |r: &Resources| r.routes.iter().map(|r| r.name.clone()).collect::<Vec<_>>();
    if names(a) != names(b) {
        return format!("route names {:?} != {:?}", names(a), names(b));
    }
    for (x, y) in a.routes.iter().zip(&b.routes) {
        let vh = |r: &envoy_types::pb::envoy::config::route::v3::RouteConfiguration| {
            r.virtual_hosts
                .iter()
                .map(|v| v.name.clone())
                .collect::<Vec<_>>()
        };
        if vh(x) != vh(y) {
            return format!("{}: virtual hosts {:?} != {:?}", x.name, vh(x), vh(y));
        }
        for (v, w) in x.virtual_hosts.iter().zip(&y.virtual_hosts) {
            if v != w {
                return format!(
                    "{} / {}:\n{:?}\n!=\n{:?}",
                    x.name, v.name, v.routes, w.routes
                );
            }
        }
    }
    "nothing".into()
}

const SERVICES: &str = "
apiVersion: v1
kind: Service
metadata: {name: ratings, namespace: shop}
spec: {ports: [{name: http, port: 80}, {name: http-alt, port: 8080}]}
---
apiVersion: v1
kind: Service
metadata: {name: reviews, namespace: shop}
spec: {ports: [{name: http, port: 80}]}
";

fn vs(http: &str) -> String {
    format!(
        "apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: {{name: ratings, namespace: shop, creationTimestamp: '2024-01-01T00:00:00Z'}}\nspec:\n  hosts: [ratings, reviews]\n  http:\n{http}"
    )
}

fn pair(a: &str, b: &str) -> (Snapshot, Snapshot) {
    let load = |vs: &str| {
        let l = load(
            &[("s.yaml", SERVICES), ("vs.yaml", vs)],
            &LoadOptions::default(),
        );
        assert!(l.errors().is_empty(), "{:?}", l.errors());
        l.snapshot
    };
    (load(a), load(b))
}

/// Recompiles a sidecar in `shop` from the mesh with VirtualService `a` to
/// the one with `b` (beside [`SERVICES`]); checks the result against a full
/// compile and whether the previous clusters were `kept`.
fn check_sidecar(a: &str, b: &str, kept: bool) -> Resources {
    let (before, after) = pair(a, b);
    let proxy = Proxy::sidecar("shop", Default::default(), "web");
    let (next, full, was_kept) = recompile(&before, &after, &proxy);
    assert!(next == full, "{}", first_difference(&next, &full));
    assert_eq!(was_kept, kept, "whether the previous clusters were kept");
    next
}

/// A new route, a new weight: only the route lists of the two virtual
/// hosts the VirtualService owns change (VS-7), on both ports.
#[test]
fn http_change_keeps_everything_else() {
    let next = check_sidecar(
        &vs("  - route: [{destination: {host: ratings}}]\n"),
        &vs(
            "  - match: [{uri: {prefix: /v2}}]\n    route: [{destination: {host: reviews}}]\n  - route: [{destination: {host: ratings}}]\n",
        ),
        true,
    );
    let port80 = next.routes.iter().find(|r| r.name == "80").unwrap();
    let owned: Vec<_> = port80
        .virtual_hosts
        .iter()
        .filter(|v| v.routes.len() == 2)
        .map(|v| v.name.as_str())
        .collect();
    assert_eq!(
        owned,
        [
            "ratings.shop.svc.cluster.local:80",
            "reviews.shop.svc.cluster.local:80"
        ]
    );
}

/// A wildcard host owns the virtual hosts of the services it matches
/// (VS-7): found by their routes' provenance rather than their names.
#[test]
fn wildcard_host_change_keeps_everything_else() {
    let a = vs("  - route: [{destination: {host: ratings}}]\n").replace(
        "hosts: [ratings, reviews]",
        "hosts: ['*.shop.svc.cluster.local']",
    );
    let b = a.replace(
        "  - route:",
        "  - match: [{headers: {x-user: {exact: tester}}}]\n    route: [{destination: {host: reviews}}]\n  - route:",
    );
    let next = check_sidecar(&a, &b, true);
    let port80 = next.routes.iter().find(|r| r.name == "80").unwrap();
    assert_eq!(
        port80
            .virtual_hosts
            .iter()
            .filter(|v| v.routes.len() == 2)
            .count(),
        2
    );
}

/// A route that no longer applies on a port (VS-3 `port`) removes the
/// VirtualService's virtual hosts there: the services fall back to their
/// default routes, which the fast path cannot know, so it compiles again.
#[test]
fn routes_gone_on_a_port_compile_again() {
    check_sidecar(
        &vs("  - route: [{destination: {host: ratings}}]\n"),
        &vs("  - match: [{port: 8080}]\n    route: [{destination: {host: ratings}}]\n"),
        false,
    );
}

/// Hosts that change move virtual hosts and domains: compiled again.
#[test]
fn host_change_compiles_again() {
    let a = vs("  - route: [{destination: {host: ratings}}]\n");
    let b = a.replace("hosts: [ratings, reviews]", "hosts: [ratings]");
    check_sidecar(&a, &b, false);
}

/// No change returns the previous resources, for a sidecar and for a
/// gateway.
#[test]
fn nothing_changed_and_gateways() {
    let a = vs("  - route: [{destination: {host: ratings}}]\n");
    check_sidecar(&a, &a, true);
    let (before, after) = pair(&a, &a);
    let router = Proxy::router("shop", Default::default(), "gw");
    let (next, full, kept) = recompile(&before, &after, &router);
    assert_eq!(next, full);
    assert!(kept);
}

/// Runs `check` on 96 values of `strategy`, from a fixed seed (the share of
/// changes that keep resources is asserted): `check` tells whether the
/// previous resources were kept, and more than `1 / share` of the cases
/// must have been.
fn run_counting_kept<S: Strategy>(
    strategy: S,
    share: u32,
    why: &str,
    check: impl Fn(S::Value) -> Result<bool, TestCaseError>,
) {
    use proptest::test_runner::{Config, RngAlgorithm, TestRng, TestRunner};
    use std::cell::Cell;
    let cases = 96;
    let kept = Cell::new(0u32);
    let mut runner = TestRunner::new_with_rng(
        Config {
            cases,
            ..Config::default()
        },
        TestRng::deterministic_rng(RngAlgorithm::ChaCha),
    );
    runner
        .run(&strategy, |v| {
            kept.set(kept.get() + u32::from(check(v)?));
            Ok(())
        })
        .unwrap();
    assert!(
        kept.get() * share > cases,
        "only {} of {cases} changes kept the other resources ({why})",
        kept.get()
    );
}

/// Any change to one VirtualService's HTTP routes, or any other mesh:
/// the recompiled resources equal a full compile; and most changes of HTTP
/// routes alone take the path that keeps the other resources.
#[test]
fn recompile_equals_compile() {
    let strategy = strategy::meshes()
        .prop_filter("a VirtualService", |m| !m.virtual_services.is_empty())
        .prop_flat_map(|m| {
            let n = m.virtual_services.len();
            let services = m.services.clone();
            (
                Just(m),
                0..n,
                prop::collection::vec(strategy::http_route(services), 1..=4),
                strategy::meshes(),
            )
        });
    let why = "routes that stop (or start) applying on a port force a full \
               compile; the generator makes that the exception";
    run_counting_kept(strategy, 2, why, |(mesh, which, http, other)| {
        let mut changed = mesh.clone();
        changed.virtual_services[which].http = http;
        let before = snapshot(&mesh).expect("generated meshes validate");
        // New routes may not validate beside the others.
        let Some(after) = snapshot(&changed) else {
            return Ok(false);
        };
        let (next, full, kept) = recompile(&before, &after, &client());
        prop_assert_eq!(next, full);
        // A change of anything (another generated mesh).
        let other = snapshot(&other).expect("generated meshes validate");
        let (next, full, _) = recompile(&before, &other, &client());
        prop_assert_eq!(next, full);
        Ok(kept)
    });
}

/// Three Gateways in `edge`, two of them run by the ingress workload; hosts
/// shared between Gateways and between VirtualServices, a wildcard server,
/// an HTTPS server and an HTTPS redirect.
const GATEWAYS: &str = r#"
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: gw-a, namespace: edge}
spec:
  selector: {istio: ingress}
  servers:
  - {port: {number: 80, name: http, protocol: HTTP}, hosts: ["*"]}
  - port: {number: 443, name: https, protocol: HTTPS}
    hosts: [alpha.edge.svc.cluster.local, beta.edge.svc.cluster.local]
    tls: {mode: SIMPLE, credentialName: cert}
---
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: gw-b, namespace: edge}
spec:
  selector: {istio: ingress}
  servers:
  - {port: {number: 80, name: http, protocol: HTTP}, hosts: [beta.edge.svc.cluster.local]}
  - port: {number: 8080, name: http-redirect, protocol: HTTP}
    hosts: ["*"]
    tls: {httpsRedirect: true}
---
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: gw-c, namespace: edge}
spec:
  selector: {istio: other}
  servers:
  - {port: {number: 80, name: http, protocol: HTTP}, hosts: ["*"]}
"#;

/// The ingress workload's mesh: the services of `services` in `edge`, the
/// Gateways above and the VirtualServices, bound to `gw-a` and `gw-b`,
/// `gw-b`, and `gw-a` and `gw-c`.
fn gateway_mesh(
    services: &[mesh_testkit::Service],
    vss: &[mesh_testkit::VirtualService],
) -> Option<Snapshot> {
    let mut docs = vec![GATEWAYS.to_string()];
    docs.extend(services.iter().map(|s| s.to_yaml("edge")));
    let gateways = [vec!["gw-a", "gw-b"], vec!["gw-b"], vec!["gw-a", "gw-c"]];
    for (i, vs) in vss.iter().enumerate() {
        let mut vs = vs.clone();
        vs.name = format!("vs{i}");
        vs.gateways = gateways[i % 3].iter().map(|g| g.to_string()).collect();
        docs.push(vs.to_yaml("edge", i));
    }
    let yaml = docs.join("---\n");
    let loaded = load(&[("edge.yaml", yaml.as_str())], &LoadOptions::default());
    loaded.errors().is_empty().then_some(loaded.snapshot)
}

fn ingress() -> Proxy {
    Proxy::router(
        "edge",
        [("istio".to_string(), "ingress".to_string())].into(),
        "ingress",
    )
}

/// A gateway after any change to one VirtualService's HTTP routes: the
/// recompiled resources equal a full compile, and the virtual hosts that
/// hold that VirtualService's routes alone are rebuilt in place.
#[test]
fn gateway_recompile_equals_compile() {
    let strategy = strategy::services().prop_flat_map(|services| {
        (
            prop::collection::vec(strategy::virtual_service(services.clone()), 1..=3),
            prop::collection::vec(strategy::http_route(services.clone()), 1..=3),
            any::<prop::sample::Index>(),
            any::<bool>(),
            Just(services),
        )
    });
    let why = "a host reached through two servers of one route configuration, \
               or shared by two VirtualServices, sends a change to a full \
               compile: with three service names to choose hosts from, many do";
    run_counting_kept(
        strategy,
        5,
        why,
        |(mut vss, http, which, wildcard, services)| {
            if wildcard {
                // A wildcard host: its virtual hosts are found by scanning.
                let last = vss.len() - 1;
                vss[last].hosts = vec!["*.edge.svc.cluster.local".into()];
            }
            let Some(before) = gateway_mesh(&services, &vss) else {
                return Ok(false);
            };
            let i = which.index(vss.len());
            vss[i].http = http;
            let Some(after) = gateway_mesh(&services, &vss) else {
                return Ok(false);
            };
            let (next, full, kept) = recompile(&before, &after, &ingress());
            prop_assert!(next == full, "{}", first_difference(&next, &full));
            Ok(kept)
        },
    );
}

/// Istio's own gateway benchmark mesh, one VirtualService changed: its two
/// virtual hosts (HTTP and HTTPS) are rebuilt, everything else kept.
#[test]
fn gateway_benchmark_mesh_change_keeps_everything_else() {
    let gw = |prefix: &str| {
        let mut docs = vec![
            "apiVersion: v1\nkind: Service\nmetadata: {name: ingress, namespace: edge}\nspec: {selector: {istio: ingress}, ports: [{name: http, port: 80}]}\n".to_string(),
            GATEWAYS.to_string(),
        ];
        for i in 0..20 {
            let p = if i == 7 { prefix } else { "/route" };
            docs.push(format!(
                "apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: {{name: vs-{i}, namespace: edge}}\nspec:\n  hosts: [a-{i}.example.com, b-{i}.example.com]\n  gateways: [gw-a]\n  http:\n  - match: [{{uri: {{prefix: \"{p}-{i}\"}}}}]\n    route: [{{destination: {{host: random-{i}.example.com}}}}]\n"
            ));
        }
        let yaml = docs.join("---\n");
        let loaded = load(&[("gw.yaml", yaml.as_str())], &LoadOptions::default());
        assert!(loaded.errors().is_empty(), "{:?}", loaded.errors());
        loaded.snapshot
    };
    let (before, after) = (gw("/route"), gw("/changed"));
    let (next, full, kept) = recompile(&before, &after, &ingress());
    assert!(next == full, "{}", first_difference(&next, &full));
    assert!(kept, "the clusters were built again");
}
