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

/// A new route, a new weight: only the route lists of the two virtual
/// hosts the VirtualService owns change (VS-7), on both ports.
#[test]
fn http_change_keeps_everything_else() {
    let (before, after) = pair(
        &vs("  - route: [{destination: {host: ratings}}]\n"),
        &vs(
            "  - match: [{uri: {prefix: /v2}}]\n    route: [{destination: {host: reviews}}]\n  - route: [{destination: {host: ratings}}]\n",
        ),
    );
    let proxy = Proxy::sidecar("shop", Default::default(), "web");
    let (next, full, kept) = recompile(&before, &after, &proxy);
    assert_eq!(next, full);
    assert!(kept, "the clusters were built again");
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
    let (before, after) = pair(&a, &b);
    let proxy = Proxy::sidecar("shop", Default::default(), "web");
    let (next, full, kept) = recompile(&before, &after, &proxy);
    assert_eq!(next, full);
    assert!(kept, "the clusters were built again");
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
    let (before, after) = pair(
        &vs("  - route: [{destination: {host: ratings}}]\n"),
        &vs("  - match: [{port: 8080}]\n    route: [{destination: {host: ratings}}]\n"),
    );
    let proxy = Proxy::sidecar("shop", Default::default(), "web");
    let (next, full, kept) = recompile(&before, &after, &proxy);
    assert_eq!(next, full);
    assert!(!kept);
}

/// Hosts that change move virtual hosts and domains: compiled again.
#[test]
fn host_change_compiles_again() {
    let a = vs("  - route: [{destination: {host: ratings}}]\n");
    let b = a.replace("hosts: [ratings, reviews]", "hosts: [ratings]");
    let (before, after) = pair(&a, &b);
    let proxy = Proxy::sidecar("shop", Default::default(), "web");
    let (next, full, kept) = recompile(&before, &after, &proxy);
    assert_eq!(next, full);
    assert!(!kept);
}

/// No change returns the previous resources; a gateway always compiles
/// again.
#[test]
fn nothing_changed_and_gateways() {
    let a = vs("  - route: [{destination: {host: ratings}}]\n");
    let (before, after) = pair(&a, &a);
    let proxy = Proxy::sidecar("shop", Default::default(), "web");
    let (next, full, kept) = recompile(&before, &after, &proxy);
    assert_eq!(next, full);
    assert!(kept);
    let router = Proxy::router("shop", Default::default(), "gw");
    let (next, full, _) = recompile(&before, &after, &router);
    assert_eq!(next, full);
}

/// Any change to one VirtualService's HTTP routes, or any other mesh:
/// the recompiled resources equal a full compile; and most changes of HTTP
/// routes alone take the path that keeps the other resources.
#[test]
fn recompile_equals_compile() {
    use proptest::test_runner::{Config, TestRunner};
    use std::cell::Cell;
    let cases = 96;
    let kept_count = Cell::new(0u32);
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
    let mut runner = TestRunner::new(Config {
        cases,
        ..Config::default()
    });
    runner
        .run(&strategy, |(mesh, which, http, other)| {
            let mut changed = mesh.clone();
            changed.virtual_services[which].http = http;
            let before = snapshot(&mesh).expect("generated meshes validate");
            // New routes may not validate beside the others.
            let Some(after) = snapshot(&changed) else {
                return Ok(());
            };
            let (next, full, kept) = recompile(&before, &after, &client());
            prop_assert_eq!(next, full);
            kept_count.set(kept_count.get() + u32::from(kept));
            // A change of anything (another generated mesh).
            let other = snapshot(&other).expect("generated meshes validate");
            let (next, full, _) = recompile(&before, &other, &client());
            prop_assert_eq!(next, full);
            Ok(())
        })
        .unwrap();
    // Routes that stop (or start) applying on a port force a full compile;
    // the generator makes that the exception.
    assert!(
        kept_count.get() * 2 > cases,
        "only {} of {cases} changes kept the other resources",
        kept_count.get()
    );
}
