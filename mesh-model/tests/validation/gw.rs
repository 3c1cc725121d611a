//! Gateway rules VAL-GW-1 … VAL-GW-4 (Istio's `ValidateGateway`,
//! `validateServer`, `validateTLSOptions`).

use crate::fixtures::*;

/// A Gateway with one server: `port` (flow YAML), `hosts`, and extra
/// server keys.
fn server(port: &str, hosts: &str, extra: &str) -> String {
    let mut s = format!("servers:\n- port: {port}\n  hosts: {hosts}\n");
    for l in dedent(extra).lines() {
        s.push_str("  ");
        s.push_str(l);
        s.push('\n');
    }
    mk_gw(&s)
}

const HTTP: &str = "{number: 80, name: http, protocol: HTTP}";
const HTTPS: &str = "{number: 443, name: https, protocol: HTTPS}";

/// VAL-GW-1: the name is a DNS label; there are servers, each with hosts of
/// the form `[ns/]dnsName` (namespace `*`, `.` or a label; a FQDN, `*`,
/// `*.suffix` or an IP; no short names, no partial wildcards).
#[test]
fn val_gw_1_name_servers_hosts() {
    let d = rejects(
        &mk_with(
            "networking.istio.io/v1",
            "Gateway",
            "gw.v1",
            "",
            &format!("servers:\n- port: {HTTP}\n  hosts: [\"*\"]"),
        ),
        "VAL-GW-1",
        "metadata.name",
    );
    assert_eq!(d.message, "invalid gateway name: \"gw.v1\"");
    webhook_rejects(&mk_gw("servers: []"), "VAL-GW-1", "spec");
    webhook_rejects(&server(HTTP, "[]", ""), "VAL-GW-1", "spec.servers[0]");
    for (host, code, msg) in [
        (
            "bad_ns/a.example.com",
            "VAL-GW-1",
            "invalid namespace value \"bad_ns\" in gateway",
        ),
        (
            "reviews",
            "VAL-GW-1",
            "short names (non FQDN) are not allowed",
        ),
        (
            "ns/reviews",
            "VAL-GW-1",
            "short names (non FQDN) are not allowed",
        ),
        (
            "\"*foo.example.com\"",
            "VAL-GW-1",
            "partial wildcard \"*foo.example.com\" not allowed",
        ),
        (
            "\"/a.example.com\"",
            "VAL-GW-1",
            "config namespace and dnsName in host entry cannot be empty",
        ),
        (
            "a.*.com",
            "VAL-H1",
            "domain name \"*.com\" invalid (label \"*\" invalid)",
        ),
    ] {
        let d = rejects(
            &server(HTTP, &format!("[{host}]"), ""),
            code,
            "spec.servers[0].hosts[0]",
        );
        assert_eq!(d.message, msg, "{host}");
    }
    accepts(&server(
        HTTP,
        "[\"*\", \"./a.example.com\", \"ns/*.b.example.com\", \"*/c.example.com\", 10.0.0.1, \"*/*\"]",
        "",
    ));
}

/// VAL-GW-2: a port with a number, a name unique across servers, a known
/// protocol and no targetPort; a bind address that is an IP or a unix
/// socket path (then port 0).
#[test]
fn val_gw_2_ports() {
    webhook_rejects(
        &server("{number: 80, protocol: HTTP}", "[\"*\"]", ""),
        "VAL-GW-2",
        "spec.servers[0].port.name",
    );
    let d = rejects(
        &mk_gw(&format!(
            "servers:\n- port: {HTTP}\n  hosts: [a.example.com]\n- port: {{number: 8080, name: http, protocol: HTTP}}\n  hosts: [b.example.com]"
        )),
        "VAL-GW-2",
        "spec.servers[1].port.name",
    );
    assert_eq!(
        d.message,
        "port names in servers must be unique: duplicate name http"
    );
    let d = rejects(
        &server("{number: 80, name: http, protocol: FOO}", "[\"*\"]", ""),
        "VAL-GW-2",
        "spec.servers[0].port.protocol",
    );
    assert_eq!(
        d.message,
        "invalid protocol \"FOO\", supported protocols are HTTP, HTTP2, GRPC, GRPC-WEB, MONGO, REDIS, MYSQL, TCP"
    );
    let d = rejects(
        &server(
            "{number: 80, name: http, protocol: HTTP, targetPort: 8080}",
            "[\"*\"]",
            "",
        ),
        "VAL-GW-2",
        "spec.servers[0].port.targetPort",
    );
    assert_eq!(d.message, "targetPort has no impact on Gateways");
    let d = rejects(
        &server(HTTP, "[\"*\"]", "bind: not-an-ip"),
        "VAL-GW-2",
        "spec.servers[0].bind",
    );
    assert_eq!(d.message, "not-an-ip is not a valid IP");
    rejects(
        &server(HTTP, "[\"*\"]", "bind: unix:///var/run/gw.sock"),
        "VAL-GW-2",
        "spec.servers[0].port.number",
    );
    rejects(
        &server(
            "{number: 0, name: uds, protocol: HTTP}",
            "[\"*\"]",
            "bind: unix://relative.sock",
        ),
        "VAL-GW-2",
        "spec.servers[0].bind",
    );
    accepts(&server(HTTP, "[\"*\"]", "bind: 0.0.0.0"));
    accepts(&server(
        "{number: 0, name: uds, protocol: HTTP}",
        "[\"*\"]",
        "bind: unix:///var/run/gw.sock",
    ));
    accepts(&server(
        "{number: 8080, name: h, protocol: http_proxy}",
        "[\"*\"]",
        "",
    ));
}

/// VAL-GW-3: HTTPS and TLS servers have TLS settings; plain-text servers do
/// not, except an HTTP server's `httpsRedirect`.
#[test]
fn val_gw_3_tls_presence() {
    let d = rejects(&server(HTTPS, "[\"*\"]", ""), "VAL-GW-3", "spec.servers[0]");
    assert_eq!(
        d.message,
        "server must have TLS settings for HTTPS/TLS protocols"
    );
    let d = rejects(
        &server(HTTP, "[\"*\"]", "tls: {mode: SIMPLE, credentialName: cert}"),
        "VAL-GW-3",
        "spec.servers[0].tls",
    );
    assert_eq!(
        d.message,
        "server cannot have TLS settings for plain text HTTP ports"
    );
    let d = rejects(
        &server(
            "{number: 3306, name: tcp, protocol: TCP}",
            "[\"*\"]",
            "tls: {mode: PASSTHROUGH}",
        ),
        "VAL-GW-3",
        "spec.servers[0].tls",
    );
    assert_eq!(
        d.message,
        "server cannot have TLS settings for non HTTPS/TLS ports"
    );
    accepts(&server(HTTP, "[\"*\"]", "tls: {httpsRedirect: true}"));
    accepts(&server(
        HTTPS,
        "[\"*\"]",
        "tls: {mode: SIMPLE, credentialName: cert}",
    ));
    accepts(&server(
        "{number: 443, name: tls, protocol: TLS}",
        "[\"*\"]",
        "tls: {mode: PASSTHROUGH}",
    ));
}

/// VAL-GW-4: terminating TLS (SIMPLE, MUTUAL) needs a certificate and key
/// unless a credential provides them, MUTUAL a CA bundle; ISTIO_MUTUAL
/// takes no certificates; one certificate source only. Passthrough
/// modes with certificates and unknown cipher suites warn.
#[test]
fn val_gw_4_tls_options() {
    let tls = |t: &str| server(HTTPS, "[\"*\"]", &format!("tls: {t}"));
    let d = rejects(
        &tls("{mode: SIMPLE, privateKey: /k.pem}"),
        "VAL-GW-4",
        "spec.servers[0].tls",
    );
    assert_eq!(d.message, "SIMPLE TLS requires a server certificate");
    let d = rejects(
        &tls("{mode: MUTUAL, serverCertificate: /c.pem, privateKey: /k.pem}"),
        "VAL-GW-4",
        "spec.servers[0].tls",
    );
    assert_eq!(d.message, "MUTUAL TLS requires a client CA bundle");
    let d = rejects(
        &tls("{mode: ISTIO_MUTUAL, serverCertificate: /c.pem}"),
        "VAL-GW-4",
        "spec.servers[0].tls.serverCertificate",
    );
    assert_eq!(
        d.message,
        "ISTIO_MUTUAL TLS cannot have associated server certificate"
    );
    let d = rejects(
        &tls("{mode: SIMPLE, credentialName: cert, serverCertificate: /c.pem, privateKey: /k.pem}"),
        "VAL-GW-4",
        "spec.servers[0].tls",
    );
    assert_eq!(
        d.message,
        "only one of credential_name, credential_names, server_certificate/private_key, tls_certificates should be specified"
    );
    let d = rejects(
        &tls("{mode: SIMPLE, serverCertificate: /c.pem, privateKey: /k.pem, caCrl: /crl.pem}"),
        "VAL-GW-4",
        "spec.servers[0].tls",
    );
    assert_eq!(d.message, "CRL is not supported with SIMPLE TLS");
    let d = rejects(
        &tls("{mode: SIMPLE, tlsCertificates: [{serverCertificate: /c.pem}]}"),
        "VAL-GW-4",
        "spec.servers[0].tls.tlsCertificates[0]",
    );
    assert_eq!(d.message, "SIMPLE TLS requires a private key");
    let d = warns(
        &server(
            "{number: 443, name: tls, protocol: TLS}",
            "[\"*\"]",
            "tls: {mode: PASSTHROUGH, credentialName: cert}",
        ),
        "VAL-GW-4",
        "spec.servers[0].tls",
    );
    assert_eq!(
        d.message,
        "PASSTHROUGH mode does not use certificates, they will be ignored"
    );
    let d = warns(
        &tls(
            "{mode: SIMPLE, credentialName: cert, cipherSuites: [ECDHE-RSA-AES128-GCM-SHA256, NOT-A-CIPHER]}",
        ),
        "VAL-GW-4",
        "spec.servers[0].tls.cipherSuites",
    );
    assert_eq!(d.message, "ignoring invalid cipher suites: [NOT-A-CIPHER]");
    accepts(&tls(
        "{mode: MUTUAL, serverCertificate: /c.pem, privateKey: /k.pem, caCertificates: /ca.pem}",
    ));
    accepts(&tls("{mode: OPTIONAL_MUTUAL, credentialName: cert}"));
    accepts(&tls(
        "{mode: SIMPLE, credentialNames: [rsa, ecdsa], cipherSuites: [\"-ALL\", ECDHE-ECDSA-AES128-GCM-SHA256]}",
    ));
    accepts(&tls("{mode: ISTIO_MUTUAL}"));
}
