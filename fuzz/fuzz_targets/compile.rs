//! Arbitrary bytes, read as a mesh, through everything downstream of
//! parsing: route tables (`mesh-route`), authorization (`mesh-authz`, as
//! the listeners' filters) and xDS (`mesh-xds`), for a sidecar and a
//! gateway router in every namespace and for every workload. None of it
//! may panic, and each proxy's output must agree with itself:
//!
//! - the per-type entry points give what the full compile gives, and
//!   the route configurations streamed out encoded
//!   (`PreparedProxy::route_resources`) are the full compile's, encoded
//!   (prost's bytes but for the order of map entries);
//! - the hand-written protobuf encoder gives prost's bytes;
//! - the indexed route lookup gives what a linear scan gives, for a
//!   request to each domain of each virtual host;
//! - the indexed authorization decision gives what a scan of every policy
//!   gives (`mesh_authz::reference`), and explaining a decision does not
//!   change it;
//! - content versions are the same when taken twice;
//! - every resource's JSON (what `meshctl xds` prints and a bootstrap
//!   holds) reads back into a resource with the same JSON;
//! - recompiling after a change gives what a full compile of the changed
//!   mesh gives (`Compiler::recompile`), for two changes derived from the
//!   input: its first URI `prefix:` match made `exact:` (mostly a
//!   VirtualService's HTTP routes alone, the fast path), and its last
//!   document dropped.
//!
//! Seed it with real configuration (`fuzz/seed.sh` copies the YAML of
//! Istio's samples from the corpus); random bytes rarely parse.

#![no_main]

use libfuzzer_sys::fuzz_target;
use mesh_authz::engine::{Authz, AuthzOptions};
use mesh_authz::reference;
use mesh_authz::request::Request as AuthzRequest;
use mesh_model::labels::Labels;
use mesh_model::parse::ParseOptions;
use mesh_model::{LoadOptions, load};
use mesh_route::{ProxyContext, Request, RouteTable};
use mesh_xds::encode::Encoder;
use mesh_xds::json::{from_json, to_json};
use mesh_xds::proxy::{Proxy, ProxyKind};
use mesh_xds::resources::ResourceType;
use mesh_xds::version::in_order;
use mesh_xds::{CompileOptions, Compiler};
use prost::{Message, Name};

/// Proxies per input, so that one input with many workloads stays fast.
const MAX_PROXIES: usize = 12;

/// Proxies per input recompiled after each derived change.
const MAX_RECOMPILED: usize = 4;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let opts = LoadOptions {
        parse: ParseOptions::lenient(),
        ..LoadOptions::default()
    };
    let snapshot = load(&[("fuzz.yaml", &text)], &opts).snapshot;
    // The two changed meshes, each loaded and indexed once, with what
    // changed: the compiler to recompile with, and the changed keys.
    let changes = [
        text.replacen("prefix:", "exact:", 1),
        match text.rfind("\n---") {
            Some(i) => text[..i].to_string(),
            None => String::new(),
        },
    ]
    .map(|changed_text| {
        let after = load(&[("fuzz.yaml", &changed_text)], &opts).snapshot;
        let keys = after.changed_since(&snapshot);
        (Compiler::new(&after, CompileOptions::default()), keys)
    });
    let compiler = Compiler::new(&snapshot, CompileOptions::default());
    let authz = Authz::compile(&snapshot, &AuthzOptions::default());
    let requests = [
        AuthzRequest::http("GET", "/").with_port(80),
        AuthzRequest::http("POST", "/admin/x?y=z")
            .with_host("httpbin.foo")
            .with_port(8080)
            .with_header("x-token", "admin")
            .with_peer_principal("cluster.local/ns/foo/sa/sleep"),
        AuthzRequest::tcp()
            .with_port(9080)
            .with_peer_principal("cluster.local/ns/default/sa/default"),
    ];

    let mut proxies = Vec::new();
    let mut namespaces: Vec<String> = snapshot.namespaces().map(|n| n.name.clone()).collect();
    namespaces.push("default".into());
    for ns in &namespaces {
        proxies.push(Proxy::sidecar(ns, Labels::new(), "default"));
    }
    for w in snapshot.workloads() {
        proxies.push(Proxy::sidecar(
            w.namespace(),
            w.labels.clone(),
            &w.service_account,
        ));
        proxies.push(Proxy::router(
            w.namespace(),
            w.labels.clone(),
            &w.service_account,
        ));
    }
    for g in snapshot.gateways() {
        proxies.push(Proxy::router(
            g.meta.namespace(),
            g.spec.selector.0.clone(),
            "default",
        ));
    }
    proxies.truncate(MAX_PROXIES);

    let mut encoder = Encoder::default();
    for (i, proxy) in proxies.iter().enumerate() {
        let r = compiler.compile(proxy);
        assert_eq!(compiler.routes(proxy), r.routes);
        assert_eq!(compiler.clusters(proxy), r.clusters);
        for rc in &r.routes {
            assert_eq!(encoder.route_configuration(rc), rc.encode_to_vec());
        }
        let streamed = compiler.prepare(proxy).route_resources();
        assert_eq!(streamed.len(), r.routes.len());
        let full_name = full_name(&r.routes);
        for (x, rc) in streamed.iter().zip(&r.routes) {
            assert_eq!(x.name, rc.name);
            // prost's bytes but for the order of map entries.
            let bytes = x
                .resource
                .as_ref()
                .map(|a| a.value.clone())
                .unwrap_or_default();
            assert_eq!(
                in_order(&full_name, bytes),
                in_order(&full_name, rc.encode_to_vec())
            );
        }
        for c in &r.clusters {
            assert_eq!(encoder.cluster(c), c.encode_to_vec());
        }
        for t in ResourceType::ALL {
            assert_eq!(r.of_type(t), r.of_type(t));
        }
        // Every resource as `Resources::to_json` converts it.
        round_trip(&r.listeners);
        round_trip(&r.routes);
        round_trip(&r.clusters);
        round_trip(&r.endpoints);
        round_trip(&r.secrets);
        if i < MAX_RECOMPILED {
            for (next, keys) in &changes {
                assert_eq!(
                    next.recompile(proxy, r.clone(), &snapshot, keys.as_ref()),
                    next.compile(proxy)
                );
            }
        }

        let w = authz.workload(&proxy.namespace, &proxy.labels);
        for req in &requests {
            let d = w.decide(req);
            let n = reference::decide(
                &authz,
                &proxy.namespace,
                &proxy.labels,
                req,
                w.jwt_applies(),
            );
            assert_eq!(
                (d.verdict, d.reason, d.rule.map(|r| (r.policy.id(), r.rule))),
                (n.verdict, n.reason, n.rule)
            );
            assert_eq!(w.explain(req).0, d);
        }

        let cx = match proxy.kind {
            ProxyKind::Sidecar => ProxyContext::sidecar(&proxy.namespace, proxy.labels.clone()),
            ProxyKind::Router => {
                ProxyContext::gateway_workload(&snapshot, &proxy.namespace, proxy.labels.clone())
            }
        };
        let table = RouteTable::compile(&snapshot, &cx);
        for rc in table.route_configurations() {
            for vh in &rc.virtual_hosts {
                for d in vh.domains.iter().take(4) {
                    let authority = d.replace('*', "x");
                    for path in ["/", "/a/b?c=d"] {
                        let req = Request::new(&authority, path);
                        let indexed = table.route(&req);
                        let linear = table.route_linear(&req);
                        assert_eq!(
                            indexed.route.map(|h| h.index),
                            linear.route.map(|h| h.index),
                            "{authority}{path}"
                        );
                        let _ = table.explain(&req);
                    }
                }
            }
        }
    }
});

/// Each message's JSON reads back into a message with the same JSON.
/// (Its version may differ: read from JSON, a packed payload is written
/// with each oneof in field-number order, where prost writes a oneof at
/// its lowest number, and versions keep the order of fields other than
/// maps.)
fn round_trip<M: Message + Name + Default>(items: &[M]) {
    for m in items {
        let json = to_json(m);
        let back: M = from_json(&json).unwrap_or_else(|e| panic!("{e}: {json}"));
        assert_eq!(to_json(&back), json);
    }
}

/// The protobuf full name of the type of `items`.
fn full_name<M: Name>(_: &[M]) -> String {
    M::full_name()
}
