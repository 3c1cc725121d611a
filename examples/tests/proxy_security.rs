//! Inbound security through the proxy, as a client sees it: mTLS between
//! two proxies with SPIFFE identities, PeerAuthentication modes per port
//! (PA-4..PA-6), RequestAuthentication (RA-2) and AuthorizationPolicy
//! (AZ-1, AZ-2) with the deciding policy in the access log.

mod proxy_support;

use proxy_support::*;
use std::net::SocketAddr;
use std::sync::Arc;

struct Pair {
    client_egress: SocketAddr,
    server_inbound: SocketAddr,
    port: u16,
    app: Backend,
}

/// A client proxy (`app: client`, sa `client`) and a server proxy
/// (`app: server`, sa `server`) in front of `app`, plus extra YAML.
async fn pair(
    ca: &TestCa,
    extra: &str,
) -> (
    Pair,
    mesh_examples::proxy::RunningProxy,
    mesh_examples::proxy::RunningProxy,
    Arc<std::sync::Mutex<Vec<serde_json::Value>>>,
) {
    let port = free_port();
    let inbound_port = free_port();
    let app = Backend::start("server-app").await;
    let server_inbound: SocketAddr = format!("127.0.0.1:{inbound_port}").parse().unwrap();
    let yaml = format!(
        "{}{}{}{extra}",
        service("server", port, &[(server_inbound, "v1", true)]),
        sidecar("client", Some(port), None),
        sidecar("server", None, Some((inbound_port, app.addr))),
    );
    let (server, log) = proxy(
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
    (
        Pair {
            client_egress: format!("127.0.0.1:{port}").parse().unwrap(),
            server_inbound,
            port,
            app,
        },
        client,
        server,
        log,
    )
}

const STRICT: &str = "apiVersion: security.istio.io/v1\nkind: PeerAuthentication\nmetadata: {name: server, namespace: test}\nspec:\n  selector: {matchLabels: {app: server}}\n  mtls: {mode: STRICT}\n---\n";

/// PA-6 STRICT: the client proxy connects over mTLS (the app sees the
/// client's SPIFFE identity in XFCC); a plaintext client is refused and the
/// refusal is logged.
#[tokio::test]
async fn strict_mtls_between_proxies() {
    let ca = TestCa::new();
    let (pr, client, server, log) = pair(&ca, STRICT).await;
    let r = get(pr.client_egress, &format!("server:{}", pr.port), "/hello").await;
    assert_eq!(r.status, 200, "{}", r.body);
    let xfcc = r.json()["headers"]["x-forwarded-client-cert"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        xfcc.contains("URI=spiffe://cluster.local/ns/test/sa/client"),
        "{xfcc}"
    );
    let e = entries(&log, 1).await;
    assert_eq!(e[0]["connection_security_policy"], "mutual_tls");
    assert_eq!(e[0]["mtls_mode"], "STRICT");
    assert_eq!(
        e[0]["source_principal"],
        "spiffe://cluster.local/ns/test/sa/client"
    );
    // Plaintext straight to the inbound port: refused.
    let plain = send(pr.server_inbound, "GET", "server", "/hello", &[]).await;
    assert!(plain.is_err(), "plaintext must be refused under STRICT");
    let e = entries(&log, 2).await;
    assert!(
        e.iter()
            .any(|e| e["response_code_details"] == "filter_chain_not_found"),
        "{e:#?}"
    );
    let _ = pr.app;
    client.shutdown().await;
    server.shutdown().await;
}

/// PA-6 PERMISSIVE accepts both; DISABLE accepts plaintext only (PA-5: the
/// port-level setting on the workload port wins).
#[tokio::test]
async fn permissive_and_port_level_disable() {
    let ca = TestCa::new();
    let permissive = "apiVersion: security.istio.io/v1\nkind: PeerAuthentication\nmetadata: {name: server, namespace: test}\nspec:\n  selector: {matchLabels: {app: server}}\n  mtls: {mode: PERMISSIVE}\n---\n";
    let (pr, client, server, log) = pair(&ca, permissive).await;
    assert_eq!(
        get(pr.client_egress, &format!("server:{}", pr.port), "/")
            .await
            .status,
        200
    );
    assert_eq!(get(pr.server_inbound, "server", "/").await.status, 200);
    let e = entries(&log, 2).await;
    let policies: Vec<&str> = e
        .iter()
        .map(|e| e["connection_security_policy"].as_str().unwrap())
        .collect();
    assert!(
        policies.contains(&"mutual_tls") && policies.contains(&"none"),
        "{policies:?}"
    );
    client.shutdown().await;
    server.shutdown().await;

    let disable = format!(
        "apiVersion: security.istio.io/v1\nkind: PeerAuthentication\nmetadata: {{name: server, namespace: test}}\nspec:\n  selector: {{matchLabels: {{app: server}}}}\n  mtls: {{mode: STRICT}}\n  portLevelMtls:\n    {}: {{mode: DISABLE}}\n---\n",
        "PORT"
    );
    // The inbound port is only known once the pair exists: build it with a
    // placeholder, then update both proxies.
    let (pr, client, server, log) = pair(&ca, "").await;
    let yaml = format!(
        "{}{}{}{}",
        service("server", pr.port, &[(pr.server_inbound, "v1", false)]),
        sidecar("client", Some(pr.port), None),
        sidecar(
            "server",
            None,
            Some((pr.server_inbound.port(), pr.app.addr))
        ),
        disable.replace("PORT", &pr.server_inbound.port().to_string()),
    );
    server.update(snapshot(&yaml));
    client.update(snapshot(&yaml));
    // The client sends plaintext (no tlsMode label) and DISABLE takes it.
    let r = get(pr.client_egress, &format!("server:{}", pr.port), "/").await;
    assert_eq!(r.status, 200, "{}", r.body);
    let e = entries(&log, 1).await;
    let last = e.last().unwrap();
    assert_eq!(last["mtls_mode"], "DISABLE");
    assert_eq!(last["connection_security_policy"], "none");
    client.shutdown().await;
    server.shutdown().await;
}

/// AZ-1/AZ-2: a DENY policy answers 403 `RBAC: access denied` and the
/// access log names it; an ALLOW policy on the client's principal lets it
/// through; a principal it does not name is denied by default.
#[tokio::test]
async fn authorization_policies_decide_and_are_named() {
    let ca = TestCa::new();
    let policies = format!(
        "{STRICT}apiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\nmetadata: {{name: deny-admin, namespace: test}}\nspec:\n  selector: {{matchLabels: {{app: server}}}}\n  action: DENY\n  rules:\n  - to: [{{operation: {{paths: [\"/admin\"]}}}}]\n---\napiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\nmetadata: {{name: allow-client, namespace: test}}\nspec:\n  selector: {{matchLabels: {{app: server}}}}\n  action: ALLOW\n  rules:\n  - from: [{{source: {{principals: [\"cluster.local/ns/test/sa/client\"]}}}}]\n    to: [{{operation: {{methods: [GET]}}}}]\n---\n"
    );
    let (pr, client, server, log) = pair(&ca, &policies).await;
    let host = format!("server:{}", pr.port);
    let ok = get(pr.client_egress, &host, "/books").await;
    assert_eq!(ok.status, 200);
    let denied = get(pr.client_egress, &host, "/admin").await;
    assert_eq!(
        (denied.status, denied.body.as_str()),
        (403, "RBAC: access denied")
    );
    let post = send(pr.client_egress, "POST", &host, "/books", &[])
        .await
        .unwrap();
    assert_eq!(post.status, 403);
    let e = entries(&log, 3).await;
    let find = |p: &str, m: &str| {
        e.iter()
            .find(|x| x["path"] == p && x["method"] == m)
            .unwrap()
            .clone()
    };
    assert_eq!(find("/books", "GET")["authz_policy"], "test/allow-client");
    let d = find("/admin", "GET");
    assert_eq!(d["authz_policy"], "test/deny-admin");
    assert_eq!(d["response_code"], 403);
    assert_eq!(
        d["response_code_details"],
        "rbac_access_denied_matched_policy[ns[test]-policy[deny-admin]-rule[0]]"
    );
    let p = find("/books", "POST");
    assert_eq!(p["authz_policy"], serde_json::Value::Null);
    assert_eq!(p["authz_reason"], "no ALLOW policy matched");
    assert_eq!(pr.app.hits.load(std::sync::atomic::Ordering::SeqCst), 1);
    client.shutdown().await;
    server.shutdown().await;
}

/// RA-2: no token passes, a valid token passes and its principal can be
/// required, an invalid token is 401.
#[tokio::test]
async fn request_authentication_rejects_invalid_tokens() {
    use jsonwebtoken::{Algorithm, EncodingKey, Header, encode};
    let ca = TestCa::new();
    let ra = format!(
        "apiVersion: security.istio.io/v1\nkind: RequestAuthentication\nmetadata: {{name: jwt, namespace: test}}\nspec:\n  selector: {{matchLabels: {{app: server}}}}\n  jwtRules:\n  - issuer: \"{}\"\n    audiences: [bookinfo]\n    jwks: |\n      {{\"keys\": [{{\"kty\": \"EC\", \"crv\": \"P-256\", \"alg\": \"ES256\", \"use\": \"sig\", \"kid\": \"demo\", \"x\": \"n8YbwpVgj5sxxI7gNMFqQXXgyBi3Wty_9ROSVA6qBoU\", \"y\": \"0vMV3v0FKzuPGhpBAUzyiqzwuHWHHU9QqRO8Tj-1JhQ\"}}]}}\n---\n",
        mesh_examples::sample::DEMO_JWT_ISSUER
    );
    let (pr, client, server, log) = pair(&ca, &ra).await;
    let host = format!("server:{}", pr.port);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let claims = serde_json::json!({
        "iss": mesh_examples::sample::DEMO_JWT_ISSUER, "sub": "jason", "aud": "bookinfo",
        "exp": now + 600, "iat": now,
    });
    let mut h = Header::new(Algorithm::ES256);
    h.kid = Some("demo".into());
    let key = EncodingKey::from_ec_pem(mesh_examples::sample::DEMO_JWT_KEY.as_bytes()).unwrap();
    let token = encode(&h, &claims, &key).unwrap();
    let good = format!("Bearer {token}");
    assert_eq!(get(pr.client_egress, &host, "/").await.status, 200);
    let r = send(
        pr.client_egress,
        "GET",
        &host,
        "/",
        &[("authorization", &good)],
    )
    .await
    .unwrap();
    assert_eq!(r.status, 200);
    let bad = format!("Bearer {}x", &token[..token.len() - 1]);
    let r = send(
        pr.client_egress,
        "GET",
        &host,
        "/",
        &[("authorization", &bad)],
    )
    .await
    .unwrap();
    assert_eq!(r.status, 401);
    let e = entries(&log, 3).await;
    let denied = e.iter().find(|x| x["response_code"] == 401).unwrap();
    assert_eq!(denied["authz_reason"], "invalid JWT");
    client.shutdown().await;
    server.shutdown().await;
}

/// DR-8: a client whose expected SAN does not match the server's
/// certificate refuses the connection (503 UF); certificates from another
/// root are refused by the server.
#[tokio::test]
async fn identities_are_verified_both_ways() {
    let ca = TestCa::new();
    let dr = "apiVersion: networking.istio.io/v1\nkind: DestinationRule\nmetadata: {name: server, namespace: test}\nspec:\n  host: server\n  trafficPolicy:\n    tls: {mode: ISTIO_MUTUAL, subjectAltNames: [\"spiffe://cluster.local/ns/test/sa/someone-else\"]}\n---\n";
    let (pr, client, server, _log) = pair(&ca, &format!("{STRICT}{dr}")).await;
    let r = get(pr.client_egress, &format!("server:{}", pr.port), "/").await;
    assert_eq!(r.status, 503, "{}", r.body);
    assert!(r.body.contains("connection failure"), "{}", r.body);
    client.shutdown().await;
    server.shutdown().await;

    let other = TestCa::new();
    let (pr, client, server, _log) = pair(&ca, STRICT).await;
    // The client's certificate comes from another root.
    client.shared.set_identity(other.identity("test", "client"));
    let r = get(pr.client_egress, &format!("server:{}", pr.port), "/").await;
    assert_eq!(r.status, 503, "{}", r.body);
    assert_eq!(pr.app.hits.load(std::sync::atomic::Ordering::SeqCst), 0);
    client.shutdown().await;
    server.shutdown().await;
}
