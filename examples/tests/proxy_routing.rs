//! Outbound routing through the proxy, as a client sees it: which backend
//! answered, statuses, headers, paths, and the access log line. Rule ids
//! cite `istio-semantics.md`.

mod proxy_support;

use proxy_support::*;
use std::collections::HashMap;
use std::net::SocketAddr;

struct Mesh {
    port: u16,
    egress: SocketAddr,
    v1: Backend,
    v2: Backend,
    mirror: Backend,
}

async fn mesh(vs: &str, dr_extra: &str) -> (Mesh, String) {
    let port = free_port();
    let v1 = Backend::start("reviews-v1").await;
    let v2 = Backend::start("reviews-v2").await;
    let mirror = Backend::start("shadow").await;
    let yaml = format!(
        "{}{}{}apiVersion: networking.istio.io/v1\nkind: DestinationRule\nmetadata: {{name: reviews, namespace: test}}\nspec:\n  host: reviews\n{dr_extra}  subsets:\n  - {{name: v1, labels: {{version: v1}}}}\n  - {{name: v2, labels: {{version: v2}}}}\n---\n{vs}",
        service(
            "reviews",
            port,
            &[(v1.addr, "v1", false), (v2.addr, "v2", false)]
        ),
        service("shadow", port, &[(mirror.addr, "v1", false)]),
        sidecar("client", Some(port), None),
    );
    let egress: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    (
        Mesh {
            port,
            egress,
            v1,
            v2,
            mirror,
        },
        yaml,
    )
}

const VS: &str = r#"apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: reviews, namespace: test}
spec:
  hosts: [reviews]
  http:
  - name: jason
    match: [{headers: {end-user: {exact: jason}}}]
    route: [{destination: {host: reviews, subset: v2}}]
  - name: old
    match: [{uri: {prefix: /old}}]
    redirect: {uri: /new, redirectCode: 302}
  - name: teapot
    match: [{uri: {exact: /teapot}}]
    directResponse: {status: 418, body: {string: "short and stout"}}
  - name: rewrite
    match: [{uri: {prefix: /api/v1/}}]
    rewrite: {uri: /v2/}
    route: [{destination: {host: reviews, subset: v1}}]
  - name: headers
    match: [{uri: {prefix: /headers}}]
    headers:
      request: {set: {x-mesh-route: headers}, remove: [x-secret]}
      response: {add: {x-route-answer: "yes"}, remove: [x-served-by]}
    route: [{destination: {host: reviews, subset: v1}}]
  - name: abort
    match: [{uri: {prefix: /abort}}]
    fault: {abort: {httpStatus: 503, percentage: {value: 100}}}
    route: [{destination: {host: reviews, subset: v1}}]
  - name: delay
    match: [{uri: {prefix: /delay}}]
    fault: {delay: {fixedDelay: 1ms, percentage: {value: 100}}}
    route: [{destination: {host: reviews, subset: v1}}]
  - name: mirrored
    match: [{uri: {prefix: /mirrored}}]
    mirror: {host: shadow}
    route: [{destination: {host: reviews, subset: v1}}]
  - name: nothing-else
    match: [{uri: {prefix: /only}}]
    route: [{destination: {host: reviews, subset: v1}}]
  - name: split
    match: [{uri: {prefix: /split}}]
    route:
    - {destination: {host: reviews, subset: v1}, weight: 80}
    - {destination: {host: reviews, subset: v2}, weight: 20}
"#;

/// WT-3: an 80/20 split over 1,000 requests lands within ±4 points; VS-2:
/// a header match wins over the split.
#[tokio::test]
async fn weighted_split_and_header_match() {
    let (m, yaml) = mesh(VS, "").await;
    let (p, _log) = proxy(workload("client-0", "client", "client"), &yaml, None).await;
    let host = format!("reviews:{}", m.port);
    let mut counts: HashMap<String, usize> = HashMap::new();
    for _ in 0..1000 {
        let r = get(m.egress, &host, "/split").await;
        assert_eq!(r.status, 200);
        *counts
            .entry(r.served_by().unwrap().to_string())
            .or_default() += 1;
    }
    let v1 = counts.get("reviews-v1").copied().unwrap_or(0);
    assert!((760..=840).contains(&v1), "v1 got {v1} of 1000: {counts:?}");
    for _ in 0..20 {
        let r = send(m.egress, "GET", &host, "/split", &[("end-user", "jason")])
            .await
            .unwrap();
        assert_eq!(r.served_by(), Some("reviews-v2"));
    }
    let _ = (&m.v1, &m.v2);
    p.shutdown().await;
}

/// VS-21 redirect, VS-22 direct response, VS-5 no route matched (404 NR).
#[tokio::test]
async fn redirects_direct_responses_and_no_route() {
    let (m, yaml) = mesh(VS, "").await;
    let (p, log) = proxy(workload("client-0", "client", "client"), &yaml, None).await;
    let host = format!("reviews:{}", m.port);
    let r = get(m.egress, &host, "/old/page?q=1").await;
    assert_eq!(r.status, 302);
    assert_eq!(
        r.header("location"),
        Some(format!("http://reviews:{}/new?q=1", m.port).as_str())
    );
    let r = get(m.egress, &host, "/teapot").await;
    assert_eq!((r.status, r.body.as_str()), (418, "short and stout"));
    let r = get(m.egress, &host, "/nowhere").await;
    assert_eq!(r.status, 404);
    let e = entries(&log, 3).await;
    let nr = e.iter().find(|e| e["path"] == "/nowhere").unwrap();
    assert_eq!(nr["response_flags"], "NR");
    assert_eq!(m.v1.hits.load(std::sync::atomic::Ordering::SeqCst), 0);
    p.shutdown().await;
}

/// VS-23 prefix rewrite keeps the rest and the query; VS-29 header
/// operations on requests and responses.
#[tokio::test]
async fn rewrites_and_header_operations() {
    let (m, yaml) = mesh(VS, "").await;
    let (p, _log) = proxy(workload("client-0", "client", "client"), &yaml, None).await;
    let host = format!("reviews:{}", m.port);
    let r = get(m.egress, &host, "/api/v1/books/7?x=1").await;
    assert_eq!(r.status, 200);
    let echo = r.json();
    assert_eq!(echo["path"], "/v2/books/7?x=1");
    assert_eq!(
        echo["headers"]["x-envoy-original-path"],
        "/api/v1/books/7?x=1"
    );
    let r = send(m.egress, "GET", &host, "/headers", &[("x-secret", "s3")])
        .await
        .unwrap();
    let echo = r.json();
    assert_eq!(echo["headers"]["x-mesh-route"], "headers");
    assert!(echo["headers"].get("x-secret").is_none());
    assert_eq!(r.header("x-route-answer"), Some("yes"));
    assert_eq!(r.served_by(), None, "the route removes x-served-by");
    p.shutdown().await;
}

/// Istio's `normalize_path`: dot segments and escaped unreserved
/// characters are resolved before routing, and the upstream gets the
/// normalized path (what Envoy does; `mesh_route::request::normalize_path`).
#[tokio::test]
async fn paths_are_normalized_before_routing() {
    let (m, yaml) = mesh(VS, "").await;
    let (p, _log) = proxy(workload("client-0", "client", "client"), &yaml, None).await;
    let host = format!("reviews:{}", m.port);
    let r = get(m.egress, &host, "/x/../%61pi/v1/./books/7").await;
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["path"], "/v2/books/7");
    let r = get(m.egress, &host, "/nowhere/../teapot").await;
    assert_eq!((r.status, r.body.as_str()), (418, "short and stout"));
    p.shutdown().await;
}

/// VS-26: an abort answers without calling the upstream; a delay is
/// injected and flagged (DI) and the request still goes through.
#[tokio::test]
async fn fault_injection() {
    let (m, yaml) = mesh(VS, "").await;
    let (p, log) = proxy(workload("client-0", "client", "client"), &yaml, None).await;
    let host = format!("reviews:{}", m.port);
    let r = get(m.egress, &host, "/abort").await;
    assert_eq!((r.status, r.body.as_str()), (503, "fault filter abort"));
    assert_eq!(m.v1.hits.load(std::sync::atomic::Ordering::SeqCst), 0);
    let r = get(m.egress, &host, "/delay").await;
    assert_eq!(r.status, 200);
    let e = entries(&log, 2).await;
    let abort = e.iter().find(|e| e["path"] == "/abort").unwrap();
    assert_eq!(abort["response_flags"], "FI");
    let delay = e.iter().find(|e| e["path"] == "/delay").unwrap();
    assert_eq!(delay["response_flags"], "DI");
    p.shutdown().await;
}

/// VS-27: the mirror gets a copy (fire and forget); the client sees the
/// primary's answer.
#[tokio::test]
async fn mirrors_are_fire_and_forget() {
    let (m, yaml) = mesh(VS, "").await;
    let (p, _log) = proxy(workload("client-0", "client", "client"), &yaml, None).await;
    let host = format!("reviews:{}", m.port);
    m.mirror.behaviour.lock().unwrap().delay = std::time::Duration::from_millis(300);
    let r = get(m.egress, &host, "/mirrored").await;
    assert_eq!(r.served_by(), Some("reviews-v1"));
    for _ in 0..200 {
        if m.mirror.hits.load(std::sync::atomic::Ordering::SeqCst) > 0 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    let seen = m.mirror.seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].0, "/mirrored");
    p.shutdown().await;
}

/// DR-5: ROUND_ROBIN alternates between the endpoints of a subset; a
/// consistent hash on a header sends one key to one endpoint.
#[tokio::test]
async fn load_balancing_per_destination_rule() {
    let port = free_port();
    let a = Backend::start("a").await;
    let b = Backend::start("b").await;
    let yaml_for = |lb: &str| {
        format!(
            "{}{}apiVersion: networking.istio.io/v1\nkind: DestinationRule\nmetadata: {{name: pool, namespace: test}}\nspec:\n  host: pool\n  trafficPolicy:\n    loadBalancer: {lb}\n",
            service(
                "pool",
                port,
                &[(a.addr, "v1", false), (b.addr, "v1", false)]
            ),
            sidecar("client", Some(port), None),
        )
    };
    let egress: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let host = format!("pool:{port}");
    let (p, _log) = proxy(
        workload("client-0", "client", "client"),
        &yaml_for("{simple: ROUND_ROBIN}"),
        None,
    )
    .await;
    let mut order = Vec::new();
    for _ in 0..6 {
        order.push(
            get(egress, &host, "/")
                .await
                .served_by()
                .unwrap()
                .to_string(),
        );
    }
    for w in order.windows(2) {
        assert_ne!(w[0], w[1], "round robin alternates: {order:?}");
    }
    p.update(snapshot(&yaml_for(
        "{consistentHash: {httpHeaderName: x-user}}",
    )));
    let mut by_user: HashMap<String, std::collections::BTreeSet<String>> = HashMap::new();
    // 32 keys over two endpoints: all on one has odds of 2 in 2^32 (with
    // 8 keys it was 1 in 128, and it happened).
    for i in 0..96 {
        let user = format!("user-{}", i % 32);
        let r = send(egress, "GET", &host, "/", &[("x-user", &user)])
            .await
            .unwrap();
        by_user
            .entry(user)
            .or_default()
            .insert(r.served_by().unwrap().to_string());
    }
    assert!(by_user.values().all(|s| s.len() == 1), "{by_user:?}");
    let used: std::collections::BTreeSet<_> = by_user.values().flatten().collect();
    assert_eq!(used.len(), 2, "32 keys use both endpoints: {by_user:?}");
    p.shutdown().await;
}
