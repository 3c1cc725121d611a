//! What the compiler produces for the embedded sample mesh, checked at the
//! level an operator reads `meshctl xds` output: names, filter order,
//! PeerAuthentication chains, weighted routes, gateway listeners, and
//! pinned golden JSON (reviewed by hand, then pinned; regenerate with
//! `UPDATE_GOLDEN=1 cargo test -p mesh-xds --test compile`).

// Tests read the sample and golden files from disk.
#![allow(clippy::disallowed_methods)]

use envoy_types::pb::envoy::config::listener::v3::{Listener, filter};
use envoy_types::pb::envoy::config::route::v3::RouteConfiguration;
use envoy_types::pb::envoy::extensions::filters::network::http_connection_manager::v3::HttpConnectionManager;
use mesh_model::snapshot::Snapshot;
use mesh_model::{LoadOptions, load};
use mesh_xds::proxy::{Interception, Proxy};
use mesh_xds::resources::{ResourceType, Resources};
use mesh_xds::version::in_order;
use mesh_xds::{CompileOptions, compile};
use prost::{Message, Name};
use std::path::Path;

fn sample() -> Snapshot {
    let text = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/sample/bookinfo.yaml"),
    )
    .unwrap();
    let loaded = load(&[("bookinfo.yaml", &text)], &LoadOptions::default());
    assert!(!loaded.has_errors());
    loaded.snapshot
}

fn proxy_for(s: &Snapshot, ns: &str, name: &str, router: bool) -> Proxy {
    let w = s.workload(ns, name).unwrap();
    let mut p = if router {
        Proxy::router(ns, w.labels.clone(), &w.service_account)
    } else {
        Proxy::sidecar(ns, w.labels.clone(), &w.service_account)
    };
    p.workload = Some(name.to_string());
    p.id = p.node_id("cluster.local");
    p
}

fn hcm_filters(l: &Listener, chain: usize) -> Vec<String> {
    let f = &l.filter_chains[chain].filters[0];
    let Some(filter::ConfigType::TypedConfig(a)) = &f.config_type else {
        panic!("no typed config")
    };
    let hcm = HttpConnectionManager::decode(a.value.as_slice()).unwrap();
    hcm.http_filters.iter().map(|f| f.name.clone()).collect()
}

/// XDS-3 cluster names, DR-3 subsets, and Istio's fixed clusters.
#[test]
fn sidecar_clusters_are_named_as_istio_names_them() {
    let s = sample();
    let r = compile(
        &s,
        &proxy_for(&s, "bookinfo", "reviews-v2", false),
        &CompileOptions::default(),
    );
    let names: Vec<&str> = r.clusters.iter().map(|c| c.name.as_str()).collect();
    for want in [
        "outbound|9080||reviews.bookinfo.svc.cluster.local",
        "outbound|9080|v1|reviews.bookinfo.svc.cluster.local",
        "outbound|9080|v2|reviews.bookinfo.svc.cluster.local",
        "outbound|9080|v3|reviews.bookinfo.svc.cluster.local",
        "outbound|9080|v1|ratings.bookinfo.svc.cluster.local",
        "inbound|9080||",
        "PassthroughCluster",
        "BlackHoleCluster",
        "InboundPassthroughCluster",
    ] {
        assert!(names.contains(&want), "missing {want} in {names:?}");
    }
    // DR: ROUND_ROBIN for reviews (DR-5), LEAST_REQUEST by default.
    let json = r.to_json();
    let clusters = json[ResourceType::Cluster.type_url()].as_array().unwrap();
    let lb = |name: &str| {
        clusters.iter().find(|c| c["name"] == name).unwrap()["lbPolicy"]
            .as_str()
            .map(str::to_string)
    };
    assert_eq!(
        lb("outbound|9080|v1|reviews.bookinfo.svc.cluster.local"),
        None,
        "ROUND_ROBIN is the enum default"
    );
    assert_eq!(
        lb("outbound|9080||ratings.bookinfo.svc.cluster.local").as_deref(),
        Some("LEAST_REQUEST")
    );
}

/// PA-6 and AZ-2: productpage is STRICT (namespace policy), its inbound
/// HTTP chain runs jwt_authn (RequestAuthentication), then the DENY and
/// ALLOW RBAC filters, then fault, CORS and the router.
#[test]
fn inbound_chain_enforces_mode_and_filter_order() {
    let s = sample();
    let r = compile(
        &s,
        &proxy_for(&s, "bookinfo", "productpage-v1", false),
        &CompileOptions::default(),
    );
    let vi = r
        .listeners
        .iter()
        .find(|l| l.name == "virtualInbound")
        .unwrap();
    let port_chains: Vec<_> = vi
        .filter_chains
        .iter()
        .filter(|c| c.name == "0.0.0.0_9080")
        .collect();
    assert_eq!(port_chains.len(), 1, "STRICT: only the mTLS chain");
    assert_eq!(
        port_chains[0]
            .filter_chain_match
            .as_ref()
            .unwrap()
            .transport_protocol,
        "tls"
    );
    let idx = vi
        .filter_chains
        .iter()
        .position(|c| c.name == "0.0.0.0_9080")
        .unwrap();
    assert_eq!(
        hcm_filters(vi, idx),
        [
            "envoy.filters.http.jwt_authn",
            "envoy.filters.http.rbac",
            "envoy.filters.http.rbac",
            "envoy.filters.http.fault",
            "envoy.filters.http.cors",
            "envoy.filters.http.router"
        ]
    );
}

/// WT-2 and XDS-2: the reviews VirtualService becomes route configuration
/// "9080" with the header route first and an 80/20 weighted route second;
/// provenance rides in `metadata.filter_metadata.istio.config`.
#[test]
fn routes_carry_weights_and_provenance() {
    let s = sample();
    let r = compile(
        &s,
        &proxy_for(&s, "bookinfo", "productpage-v1", false),
        &CompileOptions::default(),
    );
    let rc = r.routes.iter().find(|rc| rc.name == "9080").unwrap();
    let json = mesh_xds::json::to_json(rc);
    let vhost = json["virtualHosts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["name"] == "reviews.bookinfo.svc.cluster.local:9080")
        .unwrap();
    let routes = vhost["routes"].as_array().unwrap();
    assert_eq!(routes[0]["name"], "jason");
    assert_eq!(routes[0]["match"]["headers"][0]["name"], "end-user");
    assert_eq!(
        routes[0]["route"]["cluster"],
        "outbound|9080|v2|reviews.bookinfo.svc.cluster.local"
    );
    let weighted = routes[1]["route"]["weightedClusters"]["clusters"]
        .as_array()
        .unwrap();
    assert_eq!(weighted.len(), 2);
    assert_eq!(weighted[0]["weight"], 80);
    assert_eq!(weighted[1]["weight"], 20);
    assert_eq!(
        routes[1]["metadata"]["filterMetadata"]["istio"]["config"],
        "/apis/networking.istio.io/v1/namespaces/bookinfo/virtual-service/reviews"
    );
    assert_eq!(routes[1]["route"]["timeout"], "10s");
    assert_eq!(routes[1]["route"]["retryPolicy"]["numRetries"], 2);
}

/// A mesh of one service, `reviews` in `shop` (port 9080), and a
/// VirtualService for it whose `http` routes are `http` (YAML list items
/// indented by two), loaded from a file named `file`.
fn reviews_with_routes(file: &str, http: &str) -> Snapshot {
    let yaml = format!(
        r#"
apiVersion: v1
kind: Service
metadata: {{name: reviews, namespace: shop}}
spec:
  ports: [{{name: http, port: 9080}}]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {{name: reviews, namespace: shop}}
spec:
  hosts: [reviews]
  http:{http}"#
    );
    let loaded = load(&[(file, &yaml)], &LoadOptions::default());
    assert!(!loaded.has_errors(), "{:?}", loaded.diagnostics);
    loaded.snapshot
}

/// VS-25: `retryRemoteLocalities` adds Envoy's previous-priorities
/// predicate (`update_frequency: 2`), and the previous-hosts predicate is
/// there unless `retryIgnorePreviousHosts: false`; both as typed configs.
#[test]
fn retries_carry_istios_predicates() {
    use envoy_types::pb::envoy::config::route::v3::{
        Route, retry_policy::retry_host_predicate, retry_policy::retry_priority, route,
    };
    use envoy_types::pb::envoy::extensions::retry::priority::previous_priorities::v3::PreviousPrioritiesConfig;
    let s = reviews_with_routes(
        "retries.yaml",
        r#"
  - name: remote
    match: [{uri: {prefix: /remote}}]
    retries: {attempts: 3, retryRemoteLocalities: true}
    route: [{destination: {host: reviews}}]
  - name: same-host
    retries: {attempts: 2, retryIgnorePreviousHosts: false}
    route: [{destination: {host: reviews}}]
"#,
    );
    let r = compile(
        &s,
        &Proxy::sidecar("shop", Default::default(), "default"),
        &CompileOptions::default(),
    );
    let rc = r.routes.iter().find(|rc| rc.name == "9080").unwrap();
    let routes: Vec<&Route> = rc.virtual_hosts.iter().flat_map(|v| &v.routes).collect();
    let retry = |name: &str| {
        let r = routes.iter().find(|r| r.name == name).unwrap();
        let Some(route::Action::Route(a)) = &r.action else {
            panic!("{name}: not a forwarding route")
        };
        a.retry_policy.clone().unwrap()
    };
    let remote = retry("remote");
    assert_eq!(remote.num_retries.map(|n| n.value), Some(3));
    let [hosts] = remote.retry_host_predicate.as_slice() else {
        panic!("{:?}", remote.retry_host_predicate)
    };
    let priority = remote.retry_priority.unwrap();
    assert_eq!(
        [hosts.name.as_str(), priority.name.as_str()],
        [
            "envoy.retry_host_predicates.previous_hosts",
            "envoy.retry_priorities.previous_priorities"
        ]
    );
    let host_config = match &hosts.config_type {
        Some(retry_host_predicate::ConfigType::TypedConfig(any)) => any,
        other => panic!("{other:?}"),
    };
    let priority_config = match &priority.config_type {
        Some(retry_priority::ConfigType::TypedConfig(any)) => any,
        other => panic!("{other:?}"),
    };
    assert_eq!(
        [&host_config.type_url, &priority_config.type_url],
        [
            "type.googleapis.com/envoy.extensions.retry.host.previous_hosts.v3.PreviousHostsPredicate",
            "type.googleapis.com/envoy.extensions.retry.priority.previous_priorities.v3.PreviousPrioritiesConfig"
        ]
    );
    assert!(host_config.value.is_empty());
    assert_eq!(
        PreviousPrioritiesConfig::decode(priority_config.value.as_slice()).unwrap(),
        PreviousPrioritiesConfig {
            update_frequency: 2
        }
    );
    let same_host = retry("same-host");
    assert_eq!(same_host.num_retries.map(|n| n.value), Some(2));
    assert!(same_host.retry_host_predicate.is_empty());
    assert!(same_host.retry_priority.is_none());
}

/// GW-2, GW-6: the ingress gateway listens on the Service's target port
/// 8080 with RDS `http.8080`.
#[test]
fn gateway_listens_on_the_target_port() {
    let s = sample();
    let r = compile(
        &s,
        &proxy_for(&s, "istio-system", "istio-ingressgateway", true),
        &CompileOptions::default(),
    );
    let l = r
        .listeners
        .iter()
        .find(|l| l.name == "0.0.0.0_8080")
        .expect("listener 0.0.0.0_8080");
    let json = mesh_xds::json::to_json(l);
    assert_eq!(
        json["filterChains"][0]["filters"][0]["typedConfig"]["rds"]["routeConfigName"],
        "http.8080"
    );
    assert!(r.routes.iter().any(|rc| rc.name == "http.8080"));
}

/// A workload that several AuthorizationPolicies of each action and a
/// RequestAuthentication with several issuers apply to: its RBAC filters
/// (HTTP on one port, network on the other) hold their policies, and its
/// JWT filter its providers, in proto maps.
const POLICIES: &str = r#"
apiVersion: v1
kind: Service
metadata: {name: httpbin, namespace: foo}
spec:
  selector: {app: httpbin}
  ports: [{name: http, port: 8000, targetPort: 80}, {name: tcp, port: 9000, targetPort: 90}]
---
apiVersion: v1
kind: Pod
metadata: {name: httpbin-1, namespace: foo, labels: {app: httpbin}}
spec:
  serviceAccountName: httpbin
  containers: [{name: httpbin, image: httpbin, ports: [{containerPort: 80}, {containerPort: 90}]}]
---
apiVersion: security.istio.io/v1
kind: RequestAuthentication
metadata: {name: jwt, namespace: foo}
spec:
  selector: {matchLabels: {app: httpbin}}
  jwtRules:
  - {issuer: "https://a.example", jwksUri: "https://a.example/jwks"}
  - {issuer: "https://b.example", jwksUri: "https://b.example/jwks"}
  - {issuer: "https://c.example", jwksUri: "https://c.example/jwks"}
  - {issuer: "https://d.example", jwksUri: "https://d.example/jwks"}
"#;

/// The mesh above with `n` ALLOW and `n` DENY AuthorizationPolicies.
fn policies(n: usize) -> String {
    let mut yaml = POLICIES.to_string();
    for action in ["ALLOW", "DENY"] {
        for i in 0..n {
            yaml.push_str(&format!(
                "---\napiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\nmetadata: {{name: {}-{i}, namespace: foo}}\nspec:\n  selector: {{matchLabels: {{app: httpbin}}}}\n  action: {action}\n  rules: [{{to: [{{operation: {{paths: [\"/p{i}\"]}}}}]}}]\n",
                action.to_ascii_lowercase()
            ));
        }
    }
    yaml
}

/// Deterministic output: one proxy compiled twice gives equal resources,
/// down to the bytes of each packed filter config. Proto maps are hash
/// maps, which prost writes in their iteration order; `Any` payloads are
/// packed with their maps' entries sorted.
#[test]
fn compiling_twice_gives_equal_resources() {
    let loaded = load(&[("policies.yaml", &policies(6))], &LoadOptions::default());
    assert!(!loaded.has_errors(), "{:?}", loaded.diagnostics);
    let s = loaded.snapshot;
    let p = proxy_for(&s, "foo", "httpbin-1", false);
    let a = compile(&s, &p, &CompileOptions::default());
    let inbound = a
        .listeners
        .iter()
        .find(|l| l.name == "virtualInbound")
        .unwrap();
    let mut filters = Vec::new();
    for (i, chain) in inbound.filter_chains.iter().enumerate() {
        for f in &chain.filters {
            if f.name == "envoy.filters.network.http_connection_manager" {
                filters.extend(hcm_filters(inbound, i));
            } else {
                filters.push(f.name.clone());
            }
        }
    }
    for rbac in ["envoy.filters.http.rbac", "envoy.filters.network.rbac"] {
        assert!(filters.iter().any(|f| f == rbac), "{rbac}: {filters:?}");
    }
    for _ in 0..4 {
        assert!(
            a == compile(&s, &p, &CompileOptions::default()),
            "two compiles differ"
        );
    }
}

/// Deterministic output (issue: stable order, content versions).
#[test]
fn compiling_twice_gives_identical_versions() {
    let s = sample();
    let p = proxy_for(&s, "bookinfo", "reviews-v1", false);
    let a = compile(&s, &p, &CompileOptions::default());
    let b = compile(&s, &p, &CompileOptions::default());
    for t in ResourceType::ALL {
        let (va, vb) = (a.of_type(t), b.of_type(t));
        assert_eq!(va.keys().collect::<Vec<_>>(), vb.keys().collect::<Vec<_>>());
        for (k, v) in &va {
            assert_eq!(v.version, vb[k].version, "{k}");
        }
    }
}

fn golden(name: &str, r: &Resources) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/golden")
        .join(name);
    let actual = r.to_json();
    if std::env::var("UPDATE_GOLDEN").is_ok_and(|v| v == "1") {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, serde_json::to_string_pretty(&actual).unwrap() + "\n").unwrap();
        return;
    }
    let expected: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    assert!(
        expected == actual,
        "{name} differs from the pinned golden file; inspect `meshctl xds` output and rerun with UPDATE_GOLDEN=1 once reviewed"
    );
}

/// Pinned outputs for the sample: a captured sidecar and the ingress
/// gateway. (Without capture and without a Sidecar resource naming ports,
/// a sidecar has no listeners at all; see `uncaptured_sidecar_binds_nothing`.)
#[test]
fn golden_sample_outputs() {
    let s = sample();
    let p = proxy_for(&s, "bookinfo", "reviews-v2", false);
    golden(
        "reviews-v2-sidecar.json",
        &compile(&s, &p, &CompileOptions::default()),
    );
    golden(
        "ingressgateway.json",
        &compile(
            &s,
            &proxy_for(&s, "istio-system", "istio-ingressgateway", true),
            &CompileOptions::default(),
        ),
    );
}

/// Without traffic capture only explicitly bound listeners exist; the
/// sample has no Sidecar resource, so there are none.
#[test]
fn uncaptured_sidecar_binds_nothing() {
    let s = sample();
    let mut p = proxy_for(&s, "bookinfo", "reviews-v2", false);
    p.interception = Interception::None;
    let r = compile(&s, &p, &CompileOptions::default());
    assert!(r.listeners.is_empty());
    assert!(!r.clusters.is_empty() && !r.routes.is_empty());
}

/// The per-type entry points give exactly what a full compile gives for
/// those types, for a sidecar and a gateway.
#[test]
fn per_type_compiles_match_the_full_compile() {
    let s = sample();
    let compiler = mesh_xds::Compiler::new(&s, CompileOptions::default());
    for p in [
        proxy_for(&s, "bookinfo", "reviews-v2", false),
        proxy_for(&s, "istio-system", "istio-ingressgateway", true),
    ] {
        let full = compiler.compile(&p);
        assert!(!full.routes.is_empty());
        assert_eq!(compiler.routes(&p), full.routes);
        // Streamed out encoded, route by route: the same configurations,
        // with prost's bytes (faults, redirects, retries, provenance) but
        // for the order of map entries.
        let streamed = compiler.prepare(&p).route_resources();
        assert_eq!(streamed.len(), full.routes.len());
        let full_name = RouteConfiguration::full_name();
        for (x, rc) in streamed.iter().zip(&full.routes) {
            assert_eq!(x.name, rc.name);
            let any = x.resource.as_ref().unwrap();
            assert_eq!(
                in_order(&full_name, any.value.clone()),
                in_order(&full_name, rc.encode_to_vec()),
                "{}",
                rc.name
            );
            // So each has its configuration's content version.
            assert_eq!(
                mesh_xds::version::version_of_encoded(&full_name, &any.value),
                mesh_xds::version::version_of(rc)
            );
        }
        assert_eq!(compiler.clusters(&p), full.clusters);
        let (clusters, endpoints) = compiler.outbound_clusters(&p);
        assert!(clusters.iter().any(|c| c.name.starts_with("outbound|")));
        assert!(
            clusters
                .iter()
                .all(|c| full.clusters.iter().any(|f| f == c))
        );
        let outbound: Vec<_> = full
            .clusters
            .iter()
            .filter(|c| c.name.starts_with("outbound|"))
            .collect();
        assert_eq!(clusters.iter().collect::<Vec<_>>(), outbound);
        assert_eq!(endpoints, full.endpoints);
    }
}

/// A route with both a fault and a CORS policy has two
/// `typed_per_filter_config` entries, which prost writes in the order its
/// hash map iterates. Streamed out (`route_resources`), they are written in
/// key order, the same on every compile, in a message equal to the full
/// compile's.
#[test]
fn streamed_routes_write_their_filter_configs_in_key_order() {
    let s = reviews_with_routes(
        "fault-cors.yaml",
        r#"
  - fault: {abort: {httpStatus: 503, percentage: {value: 10}}}
    corsPolicy: {allowOrigins: [{exact: "https://a.example"}], allowMethods: [GET]}
    route: [{destination: {host: reviews}}]
"#,
    );
    let compiler = mesh_xds::Compiler::new(&s, CompileOptions::default());
    let p = Proxy::sidecar("shop", Default::default(), "default");
    let full = compiler.compile(&p);
    let rc = full.routes.iter().find(|rc| rc.name == "9080").unwrap();
    let streamed = |prepared: &mesh_xds::PreparedProxy| {
        let resources = prepared.route_resources();
        let x = resources.into_iter().find(|x| x.name == "9080").unwrap();
        x.resource.unwrap().value
    };
    let bytes = streamed(&compiler.prepare(&p));
    let decoded = RouteConfiguration::decode(&bytes[..]).unwrap();
    assert_eq!(&decoded, rc);
    let route = &decoded.virtual_hosts[0].routes[0];
    let mut keys: Vec<&str> = route
        .typed_per_filter_config
        .keys()
        .map(String::as_str)
        .collect();
    keys.sort_unstable();
    assert_eq!(
        keys,
        ["envoy.filters.http.cors", "envoy.filters.http.fault"]
    );
    let at = |key: &str| {
        bytes
            .windows(key.len())
            .position(|w| w == key.as_bytes())
            .unwrap()
    };
    assert!(at("envoy.filters.http.cors") < at("envoy.filters.http.fault"));
    for _ in 0..4 {
        assert_eq!(streamed(&compiler.prepare(&p)), bytes);
    }
}
