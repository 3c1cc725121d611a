//! Retries, timeouts, outlier ejection, connection pooling, and bad input:
//! what a client sees, and that the proxy keeps serving afterwards.

mod proxy_support;

use proxy_support::*;
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

fn vs(route_extra: &str) -> String {
    format!(
        "apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: {{name: pool, namespace: test}}\nspec:\n  hosts: [pool]\n  http:\n  - route: [{{destination: {{host: pool}}}}]\n{route_extra}"
    )
}

async fn setup(
    backends: &[&Backend],
    extra: &str,
    limits: mesh_examples::proxy::Limits,
) -> (
    SocketAddr,
    String,
    mesh_examples::proxy::RunningProxy,
    std::sync::Arc<std::sync::Mutex<Vec<serde_json::Value>>>,
) {
    let port = free_port();
    let eps: Vec<(SocketAddr, &str, bool)> =
        backends.iter().map(|b| (b.addr, "v1", false)).collect();
    let yaml = format!(
        "{}{}{extra}",
        service("pool", port, &eps),
        sidecar("client", Some(port), None)
    );
    let (p, log) = proxy_with(
        workload("client-0", "client", "client"),
        &yaml,
        None,
        limits,
    )
    .await;
    (
        format!("127.0.0.1:{port}").parse().unwrap(),
        format!("pool:{port}"),
        p,
        log,
    )
}

/// VS-25: a 503 is retried (`retryOn: 5xx`) and the client sees the
/// success; the access log counts the attempts.
#[tokio::test]
async fn retries_hide_transient_failures() {
    let b = Backend::start("b").await;
    b.fail_next.store(2, Ordering::SeqCst);
    let (egress, host, p, log) = setup(
        &[&b],
        &vs("    retries: {attempts: 3, retryOn: 5xx}\n"),
        Default::default(),
    )
    .await;
    let r = get(egress, &host, "/").await;
    assert_eq!(r.status, 200);
    assert_eq!(b.hits.load(Ordering::SeqCst), 3);
    let e = entries(&log, 1).await;
    assert_eq!(e[0]["attempts"], 3);
    // Without a matching retryOn the 503 reaches the client.
    b.fail_next.store(1, Ordering::SeqCst);
    p.update(snapshot(&format!(
        "{}{}{}",
        service(
            "pool",
            host.rsplit(':').next().unwrap().parse().unwrap(),
            &[(b.addr, "v1", false)]
        ),
        sidecar("client", Some(egress.port()), None),
        vs("    retries: {attempts: 3, retryOn: connect-failure}\n")
    )));
    assert_eq!(get(egress, &host, "/").await.status, 503);
    p.shutdown().await;
}

/// VS-24/VS-25: a per-try timeout moves to another endpoint; the route
/// timeout answers 504 with `UT`.
#[tokio::test]
async fn per_try_and_route_timeouts() {
    let slow = Backend::start("slow").await;
    slow.behaviour.lock().unwrap().delay = Duration::from_secs(3);
    let fast = Backend::start("fast").await;
    let (egress, host, p, _log) = setup(
        &[&slow, &fast],
        &vs("    retries: {attempts: 2, perTryTimeout: 200ms, retryOn: 5xx}\n"),
        Default::default(),
    )
    .await;
    for _ in 0..4 {
        let r = get(egress, &host, "/").await;
        assert_eq!((r.status, r.served_by()), (200, Some("fast")));
    }
    p.shutdown().await;
    let (egress, host, p, log) =
        setup(&[&slow], &vs("    timeout: 300ms\n"), Default::default()).await;
    let r = get(egress, &host, "/").await;
    assert_eq!(
        (r.status, r.body.as_str()),
        (504, "upstream request timeout")
    );
    let e = entries(&log, 1).await;
    assert_eq!(e[0]["response_flags"], "UT");
    p.shutdown().await;
}

/// DR-7: an endpoint that answers 5xx is ejected after
/// `consecutive5xxErrors` and the rest of the traffic goes to the healthy
/// one.
#[tokio::test]
async fn outlier_detection_ejects_failing_endpoints() {
    let bad = Backend::start("bad").await;
    bad.behaviour.lock().unwrap().status = 500;
    let good = Backend::start("good").await;
    let dr = "apiVersion: networking.istio.io/v1\nkind: DestinationRule\nmetadata: {name: pool, namespace: test}\nspec:\n  host: pool\n  trafficPolicy:\n    loadBalancer: {simple: ROUND_ROBIN}\n    outlierDetection: {consecutive5xxErrors: 2, interval: 1s, baseEjectionTime: 60s, maxEjectionPercent: 100}\n---\n";
    let (egress, host, p, _log) = setup(
        &[&bad, &good],
        &format!("{dr}{}", vs("    retries: {attempts: 0}\n")),
        Default::default(),
    )
    .await;
    for _ in 0..6 {
        let _ = get(egress, &host, "/").await;
    }
    assert_eq!(bad.hits.load(Ordering::SeqCst), 2, "ejected after two 5xx");
    for _ in 0..10 {
        assert_eq!(get(egress, &host, "/").await.served_by(), Some("good"));
    }
    let dump = reqwest_like(p.metrics_addr.unwrap(), "/config_dump").await;
    assert!(dump.contains("\"ejected\": true"), "{dump}");
    p.shutdown().await;
}

async fn reqwest_like(addr: SocketAddr, path: &str) -> String {
    get(addr, "admin", path).await.body
}

/// Upstream connections are pooled: sequential requests reuse one.
#[tokio::test]
async fn upstream_connections_are_reused() {
    let b = Backend::start("b").await;
    let (egress, host, p, _log) = setup(&[&b], "", Default::default()).await;
    for _ in 0..20 {
        assert_eq!(get(egress, &host, "/").await.status, 200);
    }
    assert_eq!(b.hits.load(Ordering::SeqCst), 20);
    assert_eq!(b.conns.load(Ordering::SeqCst), 1);
    p.shutdown().await;
}

async fn raw(addr: SocketAddr, bytes: &[u8]) -> String {
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.write_all(bytes).await.unwrap();
    let mut out = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(5), s.read_to_end(&mut out)).await;
    String::from_utf8_lossy(&out).into_owned()
}

/// A malformed request gets 400, oversized headers 431, an upstream that
/// resets 503; a client that never finishes its headers is cut off; and
/// the proxy serves the next request every time.
#[tokio::test]
async fn bad_input_gets_a_clear_status_and_the_proxy_keeps_serving() {
    let b = Backend::start("b").await;
    let resetter = Backend::start("resetter").await;
    resetter.behaviour.lock().unwrap().reset = true;
    let limits = mesh_examples::proxy::Limits {
        header_read_timeout: Duration::from_millis(300),
        max_header_bytes: 16 << 10,
        ..Default::default()
    };
    let port = free_port();
    let yaml = format!(
        "{}{}{}",
        service("pool", port, &[(b.addr, "v1", false)]),
        service("resetter", port, &[(resetter.addr, "v1", false)]),
        sidecar("client", Some(port), None)
    );
    let (p, _log) = proxy_with(
        workload("client-0", "client", "client"),
        &yaml,
        None,
        limits,
    )
    .await;
    let egress: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let host = format!("pool:{port}");
    let ok = || async { get(egress, &host, "/").await.status };

    let reply = raw(egress, b"THIS IS NOT HTTP\r\n\r\n").await;
    assert!(reply.starts_with("HTTP/1.1 400"), "{reply:?}");
    assert_eq!(ok().await, 200);

    let big = "x".repeat(32 << 10);
    let req = format!("GET / HTTP/1.1\r\nhost: {host}\r\nx-big: {big}\r\n\r\n");
    let reply = raw(egress, req.as_bytes()).await;
    assert!(reply.starts_with("HTTP/1.1 431"), "{reply:?}");
    assert_eq!(ok().await, 200);

    let r = get(egress, &format!("resetter:{port}"), "/").await;
    assert_eq!(r.status, 503);
    assert!(r.body.contains("reset"), "{}", r.body);
    assert_eq!(ok().await, 200);

    // A slow client: half a request line, then nothing.
    let mut slow = TcpStream::connect(egress).await.unwrap();
    slow.write_all(b"GET / HT").await.unwrap();
    assert_eq!(ok().await, 200, "others are served meanwhile");
    let mut buf = Vec::new();
    let closed = tokio::time::timeout(Duration::from_secs(5), slow.read_to_end(&mut buf)).await;
    assert!(closed.is_ok(), "the slow client is cut off");
    assert_eq!(ok().await, 200);
    p.shutdown().await;
}

/// A configuration with an invalid object is refused as a whole and the
/// proxy keeps routing with its last good one; a valid update applies.
#[tokio::test]
async fn keeps_the_last_good_configuration() {
    let a = Backend::start("a").await;
    let b = Backend::start("b").await;
    let port = free_port();
    let base = format!(
        "{}{}apiVersion: networking.istio.io/v1\nkind: DestinationRule\nmetadata: {{name: pool, namespace: test}}\nspec:\n  host: pool\n  subsets:\n  - {{name: a, labels: {{version: a}}}}\n  - {{name: b, labels: {{version: b}}}}\n---\n",
        service("pool", port, &[(a.addr, "a", false), (b.addr, "b", false)]),
        sidecar("client", Some(port), None)
    );
    let to = |subset: &str| {
        format!(
            "{base}apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: {{name: pool, namespace: test}}\nspec:\n  hosts: [pool]\n  http:\n  - route: [{{destination: {{host: pool, subset: {subset}}}}}]\n"
        )
    };
    let (p, _log) = proxy(workload("client-0", "client", "client"), &to("a"), None).await;
    let egress: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let host = format!("pool:{port}");
    assert_eq!(get(egress, &host, "/").await.served_by(), Some("a"));
    // VAL-VS-7: a negative weight is invalid.
    let bad = to("b").replace("subset: b}}", "subset: b}, weight: -1}");
    let errors = p.update_from(&[("bad.yaml", &bad)]).unwrap_err();
    assert!(errors.iter().any(|e| e.contains("weight")), "{errors:?}");
    assert_eq!(get(egress, &host, "/").await.served_by(), Some("a"));
    p.update_from(&[("good.yaml", &to("b"))]).unwrap();
    assert_eq!(get(egress, &host, "/").await.served_by(), Some("b"));
    p.shutdown().await;
}
