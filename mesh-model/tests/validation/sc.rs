//! Sidecar rule VAL-SC-1 (Istio's `ValidateSidecar`).

use crate::fixtures::*;

/// VAL-SC-1: a Sidecar configures something; egress listeners have hosts
/// of the form `ns/dnsName`, at most one catch-all (port-less) listener
/// and it comes last; ports of IP-bound listeners are unique; ingress
/// listeners have a port and a local default endpoint; the selector has no
/// empty key or `*` (no labels warns).
#[test]
fn val_sc_1_sidecar() {
    let d = rejects(&mk_sc("{}"), "VAL-SC-1", "spec");
    assert_eq!(d.message, "sidecar: empty configuration provided");
    let d = rejects(
        &mk_sc(
            "egress:\n- hosts: [\"./*\"]\n- port: {number: 80, protocol: HTTP, name: http}\n  hosts: [\"*/*\"]",
        ),
        "VAL-SC-1",
        "spec.egress[0]",
    );
    assert_eq!(
        d.message,
        "sidecar: the egress listener with empty port should be the last listener in the list"
    );
    // Of two catch-all listeners only the first is out of place: Istio
    // accepts the last one (its "only one listener with empty port" check
    // cannot be reached).
    let two = mk_sc("egress:\n- hosts: [\"./*\"]\n- hosts: [\"istio-system/*\"]");
    rejects(&two, "VAL-SC-1", "spec.egress[0]");
    assert_eq!(load_yaml(&two).diagnostics.len(), 1);
    webhook_rejects(
        &mk_sc("egress:\n- port: {number: 80, protocol: HTTP, name: http}\n  hosts: []"),
        "VAL-SC-1",
        "spec.egress[0]",
    );
    let d = rejects(
        &mk_sc("egress:\n- hosts: [reviews]"),
        "VAL-SC-1",
        "spec.egress[0].hosts[0]",
    );
    assert_eq!(d.message, "host must be of form namespace/dnsName");
    let d = rejects(
        &mk_sc("egress:\n- hosts: [bad_ns/a.example.com]"),
        "VAL-SC-1",
        "spec.egress[0].hosts[0]",
    );
    assert_eq!(d.message, "invalid namespace value \"bad_ns\" in sidecar");
    rejects(
        &mk_sc("egress:\n- hosts: [ns/reviews]"),
        "VAL-SC-1",
        "spec.egress[0].hosts[0]",
    );
    let d = rejects(
        &mk_sc(
            "egress:\n- port: {number: 80, protocol: HTTP, name: a}\n  hosts: [\"*/*\"]\n- port: {number: 80, protocol: HTTP, name: b}\n  hosts: [\"*/*\"]",
        ),
        "VAL-SC-1",
        "spec.egress[1]",
    );
    assert_eq!(
        d.message,
        "sidecar: ports on IP bound listeners must be unique"
    );
    webhook_rejects(
        &mk_sc("ingress:\n- defaultEndpoint: 127.0.0.1:8080"),
        "VAL-SC-1",
        "spec.ingress[0]",
    );
    rejects(
        &mk_sc(
            "ingress:\n- port: {number: 9080, protocol: HTTP, name: http}\n  defaultEndpoint: 10.0.0.1:8080",
        ),
        "VAL-SC-1",
        "spec.ingress[0].defaultEndpoint",
    );
    let d = rejects(
        &mk_sc(
            "ingress:\n- port: {number: 9080, protocol: HTTP, name: http}\n  defaultEndpoint: 127.0.0.1:8080\n  tls: {mode: SIMPLE, serverCertificate: /c.pem, privateKey: /k.pem}",
        ),
        "VAL-SC-1",
        "spec.ingress[0].tls",
    );
    assert_eq!(
        d.message,
        "server cannot have TLS settings for non HTTPS/TLS ports"
    );
    let d = rejects(
        &mk_sc(
            "outboundTrafficPolicy: {mode: REGISTRY_ONLY, egressProxy: {host: egress.example.com, port: {number: 443}}}",
        ),
        "VAL-SC-1",
        "spec.outboundTrafficPolicy",
    );
    assert_eq!(
        d.message,
        "sidecar: egress_proxy must be set only with ALLOW_ANY outbound_traffic_policy mode"
    );
    webhook_rejects(
        &mk_sc("workloadSelector: {labels: {app: \"*\"}}\negress:\n- hosts: [\"./*\"]"),
        "VAL-SC-1",
        "spec.workloadSelector.labels[app]",
    );
    let d = warns(
        &mk_sc("workloadSelector: {labels: {}}\negress:\n- hosts: [\"./*\"]"),
        "VAL-SC-1",
        "spec.workloadSelector",
    );
    assert_eq!(
        d.message,
        "sidecar: workload selector specified without labels, will be applied to all services in namespace"
    );
    let d = warns(
        &mk_sc("egress:\n- hosts: [\"ns/*\", \"ns/a.example.com\"]"),
        "VAL-SC-1",
        "spec.egress[0].hosts[1]",
    );
    assert_eq!(d.message, "duplicated egress host: ns/a.example.com");
    accepts(&mk_sc(
        "workloadSelector: {labels: {app: reviews}}\ningress:\n- port: {number: 9080, protocol: HTTP, name: http}\n  defaultEndpoint: 127.0.0.1:8080\n- port: {number: 9443, protocol: HTTPS, name: https}\n  defaultEndpoint: \"[::1]:8443\"\n  tls: {mode: SIMPLE, serverCertificate: /c.pem, privateKey: /k.pem}\negress:\n- port: {number: 3306, protocol: MYSQL, name: mysql}\n  bind: 127.0.0.1\n  hosts: [\"*/mysql.example.com\"]\n- hosts: [\"./*\", \"istio-system/*\", \"~prod/*.internal.example.com\"]\noutboundTrafficPolicy: {mode: ALLOW_ANY, egressProxy: {host: egress.example.com, port: {number: 443}}}",
    ));
    accepts(&mk_sc("outboundTrafficPolicy: {mode: REGISTRY_ONLY}"));
}
