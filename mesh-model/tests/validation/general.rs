//! Rules every kind shares: VAL-G1, VAL-D1, VAL-P1, VAL-H1.

use crate::fixtures::*;

const AP_SPEC: &str = "
    action: ALLOW
    rules:
    - from:
      - source: {namespaces: [a]}
";

/// VAL-G1: `istio.io/dry-run` only on an AuthorizationPolicy, only with
/// ALLOW or DENY, and only with a value Go's `strconv.ParseBool` reads.
#[test]
fn val_g1_dry_run_annotation() {
    let path = "metadata.annotations[istio.io/dry-run]";
    let d = rejects(
        &mk_vs_meta(
            "annotations: {istio.io/dry-run: \"true\"}",
            "hosts: [r]\nhttp:\n- route:\n  - destination: {host: r}",
        ),
        "VAL-G1",
        path,
    );
    assert_eq!(
        d.message,
        "ns/r has unsupported annotation istio.io/dry-run, please remove the annotation"
    );
    let d = rejects(
        &mk_ap_meta(
            "annotations: {istio.io/dry-run: \"true\"}",
            "action: CUSTOM\nprovider: {name: ext}\nrules: [{}]",
        ),
        "VAL-G1",
        path,
    );
    assert_eq!(
        d.message,
        "the annotation istio.io/dry-run currently only supports action ALLOW/DENY, found action CUSTOM in ns/ap"
    );
    rejects(
        &mk_ap_meta("annotations: {istio.io/dry-run: \"yes\"}", AP_SPEC),
        "VAL-G1",
        path,
    );
    // Go's ParseBool spellings are all accepted.
    for v in ["true", "T", "1", "FALSE", "False", "0"] {
        accepts(&mk_ap_meta(
            &format!("annotations: {{istio.io/dry-run: \"{v}\"}}"),
            AP_SPEC,
        ));
    }
    let l = load_yaml(&mk_ap_meta(
        "annotations: {istio.io/dry-run: \"T\"}",
        AP_SPEC,
    ));
    let ap = l.snapshot.authorization_policies().next().unwrap();
    assert!(ap.spec.dry_run, "\"T\" is true for strconv.ParseBool");
    accepts(&mk_ap_meta(
        "annotations: {istio.io/dry-run: \"true\"}",
        "action: DENY\nrules: [{to: [{operation: {ports: [\"80\"]}}]}]",
    ));
}

/// VAL-D1: durations are at least 1ms and whole milliseconds. The CRD
/// schema repeats the 1ms floor, so below it the schema rejects first.
#[test]
fn val_d1_durations() {
    let vs = |t: &str| {
        mk_vs(&format!(
            "hosts: [r]\nhttp:\n- timeout: {t}\n  route:\n  - destination: {{host: r}}"
        ))
    };
    let d = rejects(&vs("1500us"), "VAL-D1", "spec.http[0].timeout");
    assert_eq!(d.message, "only durations to ms precision are supported");
    let d = webhook_rejects(&vs("500us"), "VAL-D1", "spec.http[0].timeout");
    assert_eq!(d.message, "duration must be greater than 1ms");
    webhook_rejects(&vs("0s"), "VAL-D1", "spec.http[0].timeout");
    for ok in ["1ms", "1.5s", "1h30m", "250ms"] {
        accepts(&vs(ok));
    }
    rejects(
        &mk_vs(
            "hosts: [r]\nhttp:\n- retries: {attempts: 2, perTryTimeout: 1.0001s}\n  route:\n  - destination: {host: r}",
        ),
        "VAL-D1",
        "spec.http[0].retries.perTryTimeout",
    );
    rejects(
        &mk_dr("host: r\ntrafficPolicy:\n  outlierDetection: {interval: 1.5ms}"),
        "VAL-D1",
        "spec.trafficPolicy.outlierDetection.interval",
    );
    rejects(
        &mk_dr("host: r\ntrafficPolicy:\n  connectionPool:\n    tcp: {connectTimeout: 10.0005s}"),
        "VAL-D1",
        "spec.trafficPolicy.connectionPool.tcp.connectTimeout",
    );
    accepts(&mk_dr(
        "host: r\ntrafficPolicy:\n  outlierDetection: {interval: 10s, baseEjectionTime: 30s}\n  connectionPool:\n    tcp: {connectTimeout: 250ms}",
    ));
    rejects(
        &mk_ra("jwtRules:\n- issuer: https://issuer\n  timeout: 2.5001s"),
        "VAL-D1",
        "spec.jwtRules[0].timeout",
    );
    accepts(&mk_ra("jwtRules:\n- issuer: https://issuer\n  timeout: 5s"));
}

/// VAL-P1: ports are 1..65535 wherever a port number is written.
#[test]
fn val_p1_ports() {
    let d = rejects(
        &mk_vs("hosts: [r]\nhttp:\n- route:\n  - destination: {host: r, port: {number: 0}}"),
        "VAL-P1",
        "spec.http[0].route[0].destination.port.number",
    );
    assert_eq!(d.message, "port number 0 must be in the range 1..65535");
    accepts(&mk_vs(
        "hosts: [r]\nhttp:\n- route:\n  - destination: {host: r, port: {number: 9080}}",
    ));
    webhook_rejects(
        &mk_vs("hosts: [r]\nhttp:\n- match: [{port: 70000}]\n  route:\n  - destination: {host: r}"),
        "VAL-P1",
        "spec.http[0].match[0].port",
    );
    webhook_rejects(
        &mk_se(
            "hosts: [a.example.com]\nresolution: DNS\nports:\n- {number: 70000, name: http, protocol: HTTP}",
        ),
        "VAL-P1",
        "spec.ports[0].number",
    );
    webhook_rejects(
        &mk_gw("servers:\n- port: {number: 70000, name: http, protocol: HTTP}\n  hosts: [\"*\"]"),
        "VAL-P1",
        "spec.servers[0].port.number",
    );
    webhook_rejects(
        &mk_sc("egress:\n- port: {number: 65536, protocol: HTTP, name: http}\n  hosts: [\"*/*\"]"),
        "VAL-P1",
        "spec.egress[0].port.number",
    );
    accepts(&mk_gw(
        "servers:\n- port: {number: 65535, name: http, protocol: HTTP}\n  hosts: [\"*\"]",
    ));
}

/// VAL-H1: host names are at most 255 characters of DNS labels, with a
/// wildcard only in the first label (`*`, `*x`, `*-x`) and a top-level
/// domain that is not all digits.
#[test]
fn val_h1_hosts() {
    let dr = |h: &str| mk_dr(&format!("host: \"{h}\""));
    for (bad, msg) in [
        (
            "foo.*.com",
            "domain name \"*.com\" invalid (label \"*\" invalid)",
        ),
        (
            "foo*.com",
            "domain name \"foo*.com\" invalid (label \"foo*\" invalid)",
        ),
        (
            "-bad.com",
            "domain name \"-bad.com\" invalid (label \"-bad\" invalid)",
        ),
        ("a..b", "domain name \".b\" invalid (label \"\" invalid)"),
        (
            "foo.123",
            "domain name \"123\" invalid (top level domain \"123\" cannot be all-numeric)",
        ),
        (
            "under_score.com",
            "domain name \"under_score.com\" invalid (label \"under_score\" invalid)",
        ),
    ] {
        let d = rejects(&dr(bad), "VAL-H1", "spec.host");
        assert_eq!(d.message, msg, "{bad}");
    }
    let long = format!("{}com", "a.".repeat(127));
    rejects(&dr(&long), "VAL-H1", "spec.host");
    for ok in [
        "reviews",
        "*",
        "*.foo.com",
        "*foo.com",
        "*-bar.foo.com",
        "Foo.COM",
        "istio.io.",
        "123",
    ] {
        accepts(&dr(ok));
    }
    rejects(
        &mk_vs(
            "hosts: [\"foo.*.com\"]\ngateways: [gw]\nhttp:\n- route:\n  - destination: {host: r}",
        ),
        "VAL-H1",
        "spec.hosts[0]",
    );
    // A VirtualService bound to a gateway with SNI routes may name the
    // AUTO_PASSTHROUGH cluster names.
    accepts(&mk_vs(
        "hosts: [outbound_.80_._.e2e.foobar.mesh]\ngateways: [gw]\ntls:\n- match: [{sniHosts: [outbound_.80_._.e2e.foobar.mesh]}]\n  route:\n  - destination: {host: e2e.foobar.mesh}",
    ));
    rejects(
        &mk_vs(
            "hosts: [outbound_.80_._.e2e.foobar.mesh]\ngateways: [gw]\nhttp:\n- route:\n  - destination: {host: r}",
        ),
        "VAL-H1",
        "spec.hosts[0]",
    );
}
