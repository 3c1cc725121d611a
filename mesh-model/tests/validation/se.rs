//! ServiceEntry rules VAL-SE-1 and VAL-SE-2 (Istio's
//! `ValidateServiceEntry`, `validateWorkloadEntry`).

use crate::fixtures::*;

const PORTS: &str = "ports: [{number: 80, name: http, protocol: HTTP}]";

/// VAL-SE-1: hosts present and not `*`; endpoints and a workload selector
/// are exclusive; CIDR addresses only with NONE or STATIC resolution; port
/// names and numbers unique; several hosts only on HTTP or TLS ports
/// unless resolution is NONE.
#[test]
fn val_se_1_hosts_addresses_ports() {
    webhook_rejects(
        &mk_se(&format!("hosts: []\nresolution: DNS\n{PORTS}")),
        "VAL-SE-1",
        "spec",
    );
    let d = webhook_rejects(
        &mk_se(&format!("hosts: [\"*\"]\nresolution: DNS\n{PORTS}")),
        "VAL-SE-1",
        "spec.hosts[0]",
    );
    assert_eq!(d.message, "invalid host *");
    let d = webhook_rejects(
        &mk_se(&format!(
            "hosts: [a.example.com]\nresolution: STATIC\n{PORTS}\nworkloadSelector: {{labels: {{app: a}}}}\nendpoints: [{{address: 10.0.0.1}}]"
        )),
        "VAL-SE-1",
        "spec",
    );
    assert_eq!(
        d.message,
        "only one of WorkloadSelector or Endpoints is allowed in Service Entry"
    );
    let d = webhook_rejects(
        &mk_se(&format!(
            "hosts: [a.example.com]\naddresses: [10.0.0.0/16]\nresolution: DNS\n{PORTS}"
        )),
        "VAL-SE-1",
        "spec.addresses",
    );
    assert_eq!(
        d.message,
        "CIDR addresses are allowed only for NONE/STATIC resolution types"
    );
    let d = rejects(
        &mk_se(&format!(
            "hosts: [a.example.com]\naddresses: [10.0.0.0/33]\n{PORTS}"
        )),
        "VAL-SE-1",
        "spec.addresses[0]",
    );
    assert_eq!(d.message, "10.0.0.0/33 is not a valid CIDR block");
    let d = webhook_rejects(
        &mk_se(
            "hosts: [a.example.com]\nresolution: DNS\nports:\n- {number: 80, name: http, protocol: HTTP}\n- {number: 8080, name: http, protocol: HTTP}",
        ),
        "VAL-SE-1",
        "spec.ports[1].name",
    );
    assert_eq!(
        d.message,
        "service entry port name \"http\" already defined"
    );
    let d = webhook_rejects(
        &mk_se(
            "hosts: [a.example.com]\nresolution: DNS\nports:\n- {number: 80, name: http, protocol: HTTP}\n- {number: 80, name: http2, protocol: HTTP2}",
        ),
        "VAL-SE-1",
        "spec.ports[1].number",
    );
    assert_eq!(d.message, "service entry port 80 already defined");
    let d = rejects(
        &mk_se(
            "hosts: [a.example.com]\nresolution: DNS\nports: [{number: 80, name: Bad_Name, protocol: HTTP}]",
        ),
        "VAL-SE-1",
        "spec.ports[0].name",
    );
    assert_eq!(d.message, "invalid port name: Bad_Name");
    let d = rejects(
        &mk_se(
            "hosts: [a.example.com]\nresolution: DNS\nports: [{number: 80, name: http, protocol: FOO}]",
        ),
        "VAL-SE-1",
        "spec.ports[0].protocol",
    );
    assert_eq!(d.message, "unsupported protocol: FOO");
    let d = rejects(
        &mk_se(
            "hosts: [a.example.com, b.example.com]\nresolution: DNS\nports: [{number: 3306, name: mysql, protocol: TCP}]",
        ),
        "VAL-SE-1",
        "spec",
    );
    assert_eq!(
        d.message,
        "multiple hosts provided with non-HTTP, non-TLS ports"
    );
    // A port without a protocol is neither HTTP nor TLS.
    rejects(
        &mk_se(
            "hosts: [a.example.com, b.example.com]\nresolution: DNS\nports: [{number: 8000, name: web}]",
        ),
        "VAL-SE-1",
        "spec",
    );
    accepts(&mk_se(
        "hosts: [a.example.com, b.example.com]\nresolution: DNS\nports: [{number: 443, name: tls, protocol: TLS}, {number: 80, name: http, protocol: HTTP}]",
    ));
    accepts(&mk_se(
        "hosts: [a.example.com, b.example.com]\naddresses: [10.0.0.0/16]\nresolution: NONE\nports: [{number: 3306, name: mysql, protocol: TCP}]",
    ));
    accepts(&mk_se(
        "hosts: [a.example.com]\nresolution: STATIC\nports: [{number: 80, name: HTTP-Web, protocol: HTTP}]\nendpoints: [{address: 10.0.0.1, ports: {HTTP-Web: 8080}}]",
    ));
}

/// VAL-SE-2: resolution rules. DNS without endpoints needs FQDN hosts;
/// DNS_ROUND_ROBIN takes at most one endpoint; NONE takes none; STATIC
/// endpoints are IPs and name declared ports; partial wildcards and TCP
/// ports without addresses (when Istio cannot allocate one) warn.
#[test]
fn val_se_2_resolution() {
    let d = rejects(
        &mk_se(&format!(
            "hosts: [\"*.example.com\"]\nresolution: DNS\n{PORTS}"
        )),
        "VAL-SE-2",
        "spec.hosts[0]",
    );
    assert_eq!(
        d.message,
        "hosts must be FQDN or contain only prefix wildcards if no endpoints are provided for resolution mode DNS, domain name \"*.example.com\" invalid (label \"*\" invalid)"
    );
    let d = webhook_rejects(
        &mk_se(&format!(
            "hosts: [a.example.com]\nresolution: DNS_ROUND_ROBIN\n{PORTS}\nendpoints: [{{address: a.example.com}}, {{address: b.example.com}}]"
        )),
        "VAL-SE-2",
        "spec.endpoints",
    );
    assert_eq!(
        d.message,
        "there must only be 0 or 1 endpoint for resolution mode DNS_ROUND_ROBIN"
    );
    let d = webhook_rejects(
        &mk_se(&format!(
            "hosts: [a.example.com]\naddresses: [10.0.0.1]\nresolution: NONE\n{PORTS}\nendpoints: [{{address: 10.0.0.2}}]"
        )),
        "VAL-SE-2",
        "spec.endpoints",
    );
    assert_eq!(
        d.message,
        "no endpoints should be provided for resolution type none"
    );
    let d = rejects(
        &mk_se(&format!(
            "hosts: [a.example.com]\nresolution: STATIC\n{PORTS}\nendpoints: [{{address: a.example.com}}]"
        )),
        "VAL-SE-2",
        "spec.endpoints[0].address",
    );
    assert_eq!(
        d.message,
        "endpoint address \"a.example.com\" is not a valid IP address"
    );
    let d = rejects(
        &mk_se(&format!(
            "hosts: [a.example.com]\nresolution: STATIC\n{PORTS}\nendpoints: [{{address: 10.0.0.1, ports: {{grpc: 9000}}}}]"
        )),
        "VAL-SE-2",
        "spec.endpoints[0].ports[grpc]",
    );
    assert_eq!(
        d.message,
        "endpoint port 9000 is not defined by the service entry"
    );
    rejects(
        &mk_se(&format!(
            "hosts: [a.example.com]\nresolution: DNS\n{PORTS}\nendpoints: [{{address: bad_host}}]"
        )),
        "VAL-SE-2",
        "spec.endpoints[0].address",
    );
    let d = warns(
        &mk_se(&format!(
            "hosts: [\"*foo.example.com\"]\nresolution: NONE\naddresses: [10.0.0.1]\n{PORTS}"
        )),
        "VAL-SE-2",
        "spec.hosts[0]",
    );
    assert_eq!(
        d.message,
        "partial wildcard \"*foo.example.com\" not allowed"
    );
    let d = warns(
        &mk_se(
            "hosts: [a.example.com]\nresolution: NONE\nports: [{number: 3306, name: tcp, protocol: TCP}]",
        ),
        "VAL-SE-2",
        "spec.ports[0]",
    );
    assert_eq!(
        d.message,
        "addresses are required for ports serving TCP (or unset) protocol when IP Autoallocation is not enabled"
    );
    warns(
        &mk_se_meta(
            "labels: {networking.istio.io/enable-autoallocate-ip: \"false\"}",
            "hosts: [a.example.com]\nresolution: DNS\nports: [{number: 3306, name: tcp}]",
        ),
        "VAL-SE-2",
        "spec.ports[0]",
    );
    // With DNS resolution Istio allocates an address itself.
    accepts(&mk_se(
        "hosts: [a.example.com]\nresolution: DNS\nports: [{number: 3306, name: tcp, protocol: TCP}]",
    ));
    accepts(&mk_se(&format!(
        "hosts: [\"*.example.com\"]\nresolution: DNS\n{PORTS}\nendpoints: [{{address: proxy.example.com}}]"
    )));
    accepts(&mk_se(&format!(
        "hosts: [a.example.com]\nresolution: DNS_ROUND_ROBIN\n{PORTS}\nendpoints: [{{address: a.example.com}}]"
    )));
    accepts(&mk_se(&format!(
        "hosts: [a.example.com]\nresolution: STATIC\n{PORTS}\nendpoints: [{{address: 10.0.0.1, labels: {{version: v1}}}}, {{address: \"2001:db8::1\"}}]"
    )));
    accepts(&mk_se(&format!(
        "hosts: [\"*.example.com\"]\nresolution: DYNAMIC_DNS\n{PORTS}"
    )));
}
