//! Telemetry as a user scrapes and reads it: Istio's standard metrics on
//! the metrics port, the JSON access log, trace header propagation.

mod proxy_support;

use proxy_support::*;
use std::net::SocketAddr;

/// Both sides of a mesh request report `istio_requests_total` and
/// `istio_request_duration_milliseconds` with Istio's labels; the
/// destination side knows the peer's principal and that the connection
/// was mutual TLS.
#[tokio::test]
async fn istio_metrics_on_the_metrics_port() {
    let ca = TestCa::new();
    let port = free_port();
    let inbound = free_port();
    let app = Backend::start("app").await;
    let server_inbound: SocketAddr = format!("127.0.0.1:{inbound}").parse().unwrap();
    let yaml = format!(
        "{}{}{}",
        service("server", port, &[(server_inbound, "v1", true)]),
        sidecar("client", Some(port), None),
        sidecar("server", None, Some((inbound, app.addr))),
    );
    let (server, _) = proxy(
        workload("server-0", "server", "server"),
        &yaml,
        Some(ca.identity("test", "server")),
    )
    .await;
    let (client, _) = proxy(
        workload("client-0", "client", "client"),
        &yaml,
        Some(ca.identity("test", "client")),
    )
    .await;
    let egress: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    for _ in 0..3 {
        assert_eq!(
            get(egress, &format!("server:{port}"), "/").await.status,
            200
        );
    }
    let text = get(client.metrics_addr.unwrap(), "m", "/stats/prometheus")
        .await
        .body;
    let line = text
        .lines()
        .find(|l| l.starts_with("istio_requests_total{"))
        .unwrap_or_else(|| panic!("{text}"));
    for label in [
        "reporter=\"source\"",
        "source_workload=\"client-0\"",
        "source_workload_namespace=\"test\"",
        "source_principal=\"spiffe://cluster.local/ns/test/sa/client\"",
        "destination_service=\"server.test.svc.cluster.local\"",
        "destination_service_name=\"server\"",
        "destination_principal=\"spiffe://cluster.local/ns/test/sa/server\"",
        "request_protocol=\"http\"",
        "response_code=\"200\"",
    ] {
        assert!(line.contains(label), "{label} missing in {line}");
    }
    assert!(line.ends_with(" 3"), "{line}");
    assert!(text.contains("istio_request_duration_milliseconds_bucket{"));
    assert!(text.contains("le=\"+Inf\"} 3"));
    let text = get(server.metrics_addr.unwrap(), "m", "/metrics")
        .await
        .body;
    let line = text
        .lines()
        .find(|l| l.starts_with("istio_requests_total{"))
        .unwrap();
    for label in [
        "reporter=\"destination\"",
        "source_workload=\"client-0\"",
        "source_principal=\"spiffe://cluster.local/ns/test/sa/client\"",
        "destination_workload=\"server-0\"",
        "destination_workload_namespace=\"test\"",
        "destination_service=\"server.test.svc.cluster.local\"",
        "connection_security_policy=\"mutual_tls\"",
    ] {
        assert!(line.contains(label), "{label} missing in {line}");
    }
    client.shutdown().await;
    server.shutdown().await;
}

/// The access log has one JSON line per request with Envoy's field names;
/// `x-request-id` is generated when missing and kept when sent; B3 and W3C
/// trace headers reach the upstream, continuing the caller's trace.
#[tokio::test]
async fn access_log_and_trace_headers() {
    let port = free_port();
    let b = Backend::start("b").await;
    let yaml = format!(
        "{}{}",
        service("pool", port, &[(b.addr, "v1", false)]),
        sidecar("client", Some(port), None)
    );
    let (p, log) = proxy(workload("client-0", "client", "client"), &yaml, None).await;
    let egress: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let host = format!("pool:{port}");
    let r = get(egress, &host, "/first?x=1").await;
    let h = &r.json()["headers"];
    let rid = h["x-request-id"].as_str().unwrap().to_string();
    assert_eq!(rid.len(), 36);
    assert_eq!(r.header("x-request-id"), Some(rid.as_str()));
    let trace = h["x-b3-traceid"].as_str().unwrap();
    assert_eq!(trace.len(), 32);
    assert!(h["traceparent"].as_str().unwrap().contains(trace));
    let parent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
    let r = send(
        egress,
        "GET",
        &host,
        "/second",
        &[("x-request-id", "my-request"), ("traceparent", parent)],
    )
    .await
    .unwrap();
    let h = &r.json()["headers"];
    assert_eq!(h["x-request-id"], "my-request");
    assert_eq!(h["x-b3-traceid"], "0af7651916cd43dd8448eb211c80319c");
    assert_eq!(h["x-b3-parentspanid"], "b7ad6b7169203331");
    let tp = h["traceparent"].as_str().unwrap();
    assert!(
        tp.starts_with("00-0af7651916cd43dd8448eb211c80319c-") && !tp.contains("b7ad6b7169203331")
    );
    let e = entries(&log, 2).await;
    let first = &e[0];
    assert_eq!(first["method"], "GET");
    assert_eq!(first["path"], "/first?x=1");
    assert_eq!(first["authority"], host);
    assert_eq!(first["response_code"], 200);
    assert_eq!(first["response_flags"], "-");
    assert_eq!(first["upstream_host"], b.addr.to_string());
    assert_eq!(
        first["upstream_cluster"],
        format!("outbound|{port}||pool.test.svc.cluster.local")
    );
    assert_eq!(first["x_request_id"], rid);
    assert_eq!(first["direction"], "outbound");
    assert_eq!(e[1]["x_request_id"], "my-request");
    p.shutdown().await;
}
