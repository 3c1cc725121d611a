//! Our proxy and a real Envoy 1.40 sidecar (configured by mesh-xds from
//! the same mesh) speak Istio mTLS to each other: the same ALPN, SNI and
//! SPIFFE SANs, certificates from one mesh root.

mod proxy_support;

use proxy_support::*;
use std::net::SocketAddr;

const STRICT: &str = "apiVersion: security.istio.io/v1\nkind: PeerAuthentication\nmetadata: {name: default, namespace: test}\nspec:\n  mtls: {mode: STRICT}\n---\n";

/// Our proxy as the client of an Envoy sidecar under STRICT: the request
/// arrives at the app behind Envoy, and Envoy counts a TLS handshake on
/// its inbound listener; plaintext straight to Envoy is refused.
#[tokio::test]
async fn our_proxy_calls_an_envoy_sidecar_over_istio_mutual() {
    let Some(bin) = envoy_binary() else { return };
    let ca = TestCa::new();
    let port = free_port();
    let inbound = free_port();
    let admin = free_port();
    let app = Backend::start("behind-envoy").await;
    let envoy_inbound: SocketAddr = format!("127.0.0.1:{inbound}").parse().unwrap();
    let yaml = format!(
        "{STRICT}{}{}{}",
        service("server", port, &[(envoy_inbound, "v1", true)]),
        sidecar("client", Some(port), None),
        sidecar("server", None, Some((inbound, app.addr))),
    );
    let server = workload("server-0", "server", "server");
    let envoy = Envoy::start(
        &bin,
        &envoy_bootstrap(&yaml, &server, &ca, admin),
        format!("127.0.0.1:{admin}").parse().unwrap(),
    );
    envoy.ready(envoy_inbound).await;
    let (client, log) = proxy(
        workload("client-0", "client", "client"),
        &yaml,
        Some(ca.identity("test", "client")),
    )
    .await;
    let egress: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let r = get(egress, &format!("server:{port}"), "/through-envoy").await;
    assert_eq!(r.status, 200, "{} / {}", r.body, envoy.log());
    assert_eq!(r.served_by(), Some("behind-envoy"));
    let e = entries(&log, 1).await;
    assert_eq!(e[0]["upstream_transport"], "mtls");
    assert_eq!(e[0]["upstream_host"], envoy_inbound.to_string());
    let handshakes = envoy
        .stat(&format!("listener.127.0.0.1_{inbound}.ssl.handshake"))
        .await;
    assert!(handshakes.unwrap_or(0) >= 1, "{handshakes:?}");
    // Envoy enforces STRICT itself: plaintext is refused.
    let plain = send(envoy_inbound, "GET", "server", "/", &[]).await;
    assert!(plain.is_err() || plain.unwrap().status >= 400);
    client.shutdown().await;
    drop(envoy);
}

/// An Envoy sidecar as the client of our proxy under STRICT: Envoy's
/// upstream ISTIO_MUTUAL (SNI `outbound_.<port>_._.<host>`, SAN of the
/// server's service account) is accepted, and our proxy sees Envoy's
/// SPIFFE identity and hands it to the app.
#[tokio::test]
async fn an_envoy_sidecar_calls_our_proxy_over_istio_mutual() {
    let Some(bin) = envoy_binary() else { return };
    let ca = TestCa::new();
    let port = free_port();
    let inbound = free_port();
    let admin = free_port();
    let app = Backend::start("behind-us").await;
    let our_inbound: SocketAddr = format!("127.0.0.1:{inbound}").parse().unwrap();
    let yaml = format!(
        "{STRICT}{}{}{}",
        service("server", port, &[(our_inbound, "v1", true)]),
        sidecar("client", Some(port), None),
        sidecar("server", None, Some((inbound, app.addr))),
    );
    let (server, log) = proxy(
        workload("server-0", "server", "server"),
        &yaml,
        Some(ca.identity("test", "server")),
    )
    .await;
    let client = workload("client-0", "client", "client");
    let envoy = Envoy::start(
        &bin,
        &envoy_bootstrap(&yaml, &client, &ca, admin),
        format!("127.0.0.1:{admin}").parse().unwrap(),
    );
    let egress: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    envoy.ready(egress).await;
    let r = get(egress, &format!("server:{port}"), "/from-envoy").await;
    assert_eq!(r.status, 200, "{} / {}", r.body, envoy.log());
    assert_eq!(r.served_by(), Some("behind-us"));
    let xfcc = r.json()["headers"]["x-forwarded-client-cert"]
        .as_str()
        .unwrap_or("")
        .to_string();
    assert!(
        xfcc.contains("URI=spiffe://cluster.local/ns/test/sa/client"),
        "{xfcc}"
    );
    let e = entries(&log, 1).await;
    assert_eq!(e[0]["connection_security_policy"], "mutual_tls");
    assert_eq!(
        e[0]["requested_server_name"],
        format!("outbound_.{port}_._.server.test.svc.cluster.local")
    );
    server.shutdown().await;
    drop(envoy);
}
