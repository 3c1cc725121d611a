//! DestinationRule rules VAL-DR-1 … VAL-DR-7 (Istio's
//! `ValidateDestinationRule`, `validateTrafficPolicy`, `agent.ValidateTLS`).

use crate::fixtures::*;

/// A DestinationRule for `r` whose `trafficPolicy` is `tp` (flow YAML).
fn tp(tp: &str) -> String {
    mk_dr(&format!("host: r\ntrafficPolicy: {tp}"))
}

/// VAL-DR-1: a traffic policy (and a port-level entry) sets something; a
/// port-level entry has a port; tunnel and proxyProtocol are exclusive.
#[test]
fn val_dr_1_policy_shape() {
    let d = rejects(&tp("{}"), "VAL-DR-1", "spec.trafficPolicy");
    assert_eq!(d.message, "traffic policy must have at least one field");
    rejects(
        &mk_dr("host: r\nsubsets:\n- name: v1\n  labels: {version: v1}\n  trafficPolicy: {}"),
        "VAL-DR-1",
        "spec.subsets[0].trafficPolicy",
    );
    let d = rejects(
        &tp("{portLevelSettings: [{port: {number: 80}}]}"),
        "VAL-DR-1",
        "spec.trafficPolicy.portLevelSettings[0]",
    );
    assert_eq!(
        d.message,
        "port traffic policy must have at least one field"
    );
    let d = rejects(
        &tp("{portLevelSettings: [{tls: {mode: ISTIO_MUTUAL}}]}"),
        "VAL-DR-1",
        "spec.trafficPolicy.portLevelSettings[0]",
    );
    assert_eq!(d.message, "portTrafficPolicy must have valid port");
    let d = rejects(
        &tp(
            "{tunnel: {targetHost: egress.example.com, targetPort: 443}, proxyProtocol: {version: V2}}",
        ),
        "VAL-DR-1",
        "spec.trafficPolicy",
    );
    assert_eq!(
        d.message,
        "tunnel and proxyProtocol must not be set together"
    );
    rejects(
        &tp("{tunnel: {protocol: GET, targetHost: egress.example.com, targetPort: 443}}"),
        "VAL-DR-1",
        "spec.trafficPolicy.tunnel.protocol",
    );
    rejects(
        &tp("{tunnel: {targetHost: bad_host, targetPort: 443}}"),
        "VAL-DR-1",
        "spec.trafficPolicy.tunnel.targetHost",
    );
    accepts(&tp(
        "{tunnel: {protocol: POST, targetHost: 10.0.0.1, targetPort: 8443}}",
    ));
    accepts(&tp(
        "{portLevelSettings: [{port: {number: 80}, loadBalancer: {simple: ROUND_ROBIN}}]}",
    ));
    accepts(&tp("{proxyProtocol: {version: V1}}"));
}

/// VAL-DR-2: subset names are unique DNS labels; subset labels are label
/// keys and values.
#[test]
fn val_dr_2_subsets() {
    let d = rejects(
        &mk_dr(
            "host: r\nsubsets:\n- {name: v1, labels: {version: v1}}\n- {name: v1, labels: {version: v2}}",
        ),
        "VAL-DR-2",
        "spec.subsets[1].name",
    );
    assert_eq!(d.message, "duplicate subset names: v1");
    let d = rejects(
        &mk_dr("host: r\nsubsets:\n- {name: v_1}"),
        "VAL-DR-2",
        "spec.subsets[0].name",
    );
    assert_eq!(d.message, "subset name is invalid: v_1");
    webhook_rejects(
        &mk_dr("host: r\nsubsets:\n- {labels: {a: b}}"),
        "VAL-DR-2",
        "spec.subsets[0].name",
    );
    rejects(
        &mk_dr("host: r\nsubsets:\n- {name: v1, labels: {\"a b\": c}}"),
        "VAL-DR-2",
        "spec.subsets[0].labels[a b]",
    );
    accepts(&mk_dr(
        "host: r\nsubsets:\n- {name: V1, labels: {version: v1}}\n- {name: canary-2, labels: {example.com/track: Canary_2}}",
    ));
}

/// VAL-DR-3: a connection pool sets http or tcp; counts are not negative;
/// UPGRADE excludes useClientProtocol; HTTP/2 keepalive needs interval and
/// timeout.
#[test]
fn val_dr_3_connection_pool() {
    let d = rejects(
        &tp("{connectionPool: {}}"),
        "VAL-DR-3",
        "spec.trafficPolicy.connectionPool",
    );
    assert_eq!(d.message, "connection pool must have at least one field");
    for (field, what) in [
        ("http1MaxPendingRequests", "http1 max pending requests"),
        ("http2MaxRequests", "http2 max requests"),
        ("maxRequestsPerConnection", "max requests per connection"),
        ("maxRetries", "max retries"),
        ("maxConcurrentStreams", "max concurrent streams"),
    ] {
        let d = webhook_rejects(
            &tp(&format!("{{connectionPool: {{http: {{{field}: -1}}}}}}")),
            "VAL-DR-3",
            &format!("spec.trafficPolicy.connectionPool.http.{field}"),
        );
        assert_eq!(d.message, format!("{what} must be non-negative"));
    }
    webhook_rejects(
        &tp("{connectionPool: {tcp: {maxConnections: -1}}}"),
        "VAL-DR-3",
        "spec.trafficPolicy.connectionPool.tcp.maxConnections",
    );
    let d = rejects(
        &tp("{connectionPool: {http: {h2UpgradePolicy: UPGRADE, useClientProtocol: true}}}"),
        "VAL-DR-3",
        "spec.trafficPolicy.connectionPool.http",
    );
    assert_eq!(
        d.message,
        "use client protocol must not be true when H2UpgradePolicy is UPGRADE"
    );
    let d = rejects(
        &tp("{connectionPool: {http: {http2KeepAlive: {interval: 10s}}}}"),
        "VAL-DR-3",
        "spec.trafficPolicy.connectionPool.http.http2KeepAlive",
    );
    assert_eq!(d.message, "http2 keepalive timeout is required");
    accepts(&tp(
        "{connectionPool: {http: {http1MaxPendingRequests: 0, http2MaxRequests: 1000, h2UpgradePolicy: UPGRADE, http2KeepAlive: {interval: 10s, timeout: 3s}}, tcp: {maxConnections: 100, connectTimeout: 30ms}}}",
    ));
}

/// VAL-DR-4: outlier percentages within 0..100; local-origin failures only
/// with split errors; `consecutiveErrors` is deprecated (warning).
#[test]
fn val_dr_4_outlier_detection() {
    let d = webhook_rejects(
        &tp("{outlierDetection: {maxEjectionPercent: 101}}"),
        "VAL-DR-4",
        "spec.trafficPolicy.outlierDetection.maxEjectionPercent",
    );
    assert_eq!(d.message, "percentage 101 is not in range 0..100");
    webhook_rejects(
        &tp("{outlierDetection: {minHealthPercent: -1}}"),
        "VAL-DR-4",
        "spec.trafficPolicy.outlierDetection.minHealthPercent",
    );
    let d = rejects(
        &tp("{outlierDetection: {consecutiveLocalOriginFailures: 5}}"),
        "VAL-DR-4",
        "spec.trafficPolicy.outlierDetection.consecutiveLocalOriginFailures",
    );
    assert_eq!(
        d.message,
        "outlier detection consecutive local origin failures is specified, but split external local origin errors is set to false"
    );
    let d = warns(
        &tp("{outlierDetection: {consecutiveErrors: 5}}"),
        "VAL-DR-4",
        "spec.trafficPolicy.outlierDetection.consecutiveErrors",
    );
    assert_eq!(
        d.message,
        "outlier detection consecutive errors is deprecated, use consecutiveGatewayErrors or consecutive5xxErrors instead"
    );
    accepts(&tp(
        "{outlierDetection: {consecutive5xxErrors: 7, consecutiveLocalOriginFailures: 5, splitExternalLocalOriginErrors: true, maxEjectionPercent: 100, minHealthPercent: 0}}",
    ));
    accepts(&tp(
        "{outlierDetection: {consecutiveLocalOriginFailures: 0}}",
    ));
}

/// VAL-DR-5: load balancer: a cookie hash has a name; a maglev table is a
/// prime below 5000011 (Envoy's isPrime: 0 is not, 1 is); locality and
/// zone-aware settings are exclusive; locality weights and failovers are
/// well formed; warmup has a duration.
#[test]
fn val_dr_5_load_balancer() {
    let lb = |lb: &str| tp(&format!("{{loadBalancer: {lb}}}"));
    let d = webhook_rejects(
        &lb("{consistentHash: {httpCookie: {ttl: 0s}}}"),
        "VAL-DR-5",
        "spec.trafficPolicy.loadBalancer.consistentHash.httpCookie",
    );
    assert_eq!(d.message, "name required for HttpCookie");
    for (size, msg) in [
        (0, "tableSize must be set for maglev"),
        (4, "tableSize must be a prime number for maglev"),
        (5000011, "tableSize must be less than 5000011 for maglev"),
    ] {
        let d = rejects(
            &lb(&format!(
                "{{consistentHash: {{httpHeaderName: x-user, maglev: {{tableSize: {size}}}}}}}"
            )),
            "VAL-DR-5",
            "spec.trafficPolicy.loadBalancer.consistentHash.maglev.tableSize",
        );
        assert_eq!(d.message, msg, "{size}");
    }
    let d = rejects(
        &lb("{localityLbSetting: {enabled: true}, zoneAwareLbSetting: {enabled: true}}"),
        "VAL-DR-5",
        "spec.trafficPolicy.loadBalancer",
    );
    assert_eq!(
        d.message,
        "only one of localityLbSetting and zoneAwareLbSetting can be set"
    );
    let d = rejects(
        &lb(
            "{localityLbSetting: {distribute: [{from: us-east/*, to: {\"us-east/*\": 80, \"us-west/*\": 10}}]}}",
        ),
        "VAL-DR-5",
        "spec.trafficPolicy.loadBalancer.localityLbSetting.distribute[0]",
    );
    assert_eq!(d.message, "total locality weight 90 != 100");
    let d = rejects(
        &lb("{localityLbSetting: {distribute: [{from: \"*/a/*\", to: {us-east: 100}}]}}"),
        "VAL-DR-5",
        "spec.trafficPolicy.loadBalancer.localityLbSetting.distribute",
    );
    assert_eq!(
        d.message,
        "locality */a/* wildcard '*' number can not exceed 1 and must be in the end"
    );
    let d = rejects(
        &tp(
            "{outlierDetection: {consecutive5xxErrors: 3}, loadBalancer: {localityLbSetting: {failover: [{from: us-east, to: us-east}]}}}",
        ),
        "VAL-DR-5",
        "spec.trafficPolicy.loadBalancer.localityLbSetting.failover[0]",
    );
    assert_eq!(
        d.message,
        "locality lb failover settings must specify different regions"
    );
    let d = warns(
        &lb("{localityLbSetting: {failover: [{from: us-east, to: us-west}]}}"),
        "VAL-DR-5",
        "spec.trafficPolicy.loadBalancer.localityLbSetting",
    );
    assert_eq!(
        d.message,
        "outlier detection policy must be provided for failover"
    );
    webhook_rejects(
        &lb("{warmup: {minimumPercent: 10}}"),
        "VAL-DR-5",
        "spec.trafficPolicy.loadBalancer.warmup",
    );
    rejects(
        &lb("{warmup: {duration: 60s, aggression: 0}}"),
        "VAL-DR-5",
        "spec.trafficPolicy.loadBalancer.warmup.aggression",
    );
    accepts(&lb(
        "{consistentHash: {httpCookie: {name: user, ttl: 0s}, maglev: {tableSize: 65537}}}",
    ));
    accepts(&lb(
        "{consistentHash: {useSourceIp: true, maglev: {tableSize: 1}}}",
    ));
    accepts(&lb(
        "{localityLbSetting: {distribute: [{from: us-east/zone1/*, to: {\"us-east/zone1/*\": 80, \"us-east/zone2/*\": 20}}]}, warmup: {duration: 60s, minimumPercent: 10, aggression: 1.5}}",
    ));
}

/// VAL-DR-6: client TLS: MUTUAL needs a certificate and key unless a
/// credentialName fetches them, which excludes file certificates;
/// insecureSkipVerify excludes CA certificates and SANs.
#[test]
fn val_dr_6_client_tls() {
    let tls = |t: &str| tp(&format!("{{tls: {t}}}"));
    let d = rejects(
        &tls("{mode: MUTUAL, privateKey: /k.pem}"),
        "VAL-DR-6",
        "spec.trafficPolicy.tls",
    );
    assert_eq!(d.message, "client certificate required for mutual tls");
    rejects(
        &tls("{mode: MUTUAL, clientCertificate: /c.pem}"),
        "VAL-DR-6",
        "spec.trafficPolicy.tls",
    );
    let d = rejects(
        &tls("{mode: SIMPLE, credentialName: cred, caCertificates: /ca.pem}"),
        "VAL-DR-6",
        "spec.trafficPolicy.tls",
    );
    assert_eq!(
        d.message,
        "cannot specify client certificates or CA certificate or CA CRL If credentialName is set"
    );
    let d = rejects(
        &tls("{mode: SIMPLE, insecureSkipVerify: true, subjectAltNames: [a.com]}"),
        "VAL-DR-6",
        "spec.trafficPolicy.tls",
    );
    assert_eq!(
        d.message,
        "cannot specify CaCertificates or CredentialName or SubjectAltNames when InsecureSkipVerify is set true"
    );
    rejects(
        &tls(
            "{mode: MUTUAL, insecureSkipVerify: true, clientCertificate: /c.pem, privateKey: /k.pem, caCertificates: /ca.pem}",
        ),
        "VAL-DR-6",
        "spec.trafficPolicy.tls",
    );
    rejects(
        &mk_dr(
            "host: r\ntrafficPolicy:\n  portLevelSettings:\n  - port: {number: 443}\n    tls: {mode: MUTUAL}",
        ),
        "VAL-DR-6",
        "spec.trafficPolicy.portLevelSettings[0].tls",
    );
    accepts(&tls("{mode: MUTUAL, credentialName: client-cred}"));
    accepts(&tls(
        "{mode: MUTUAL, clientCertificate: /c.pem, privateKey: /k.pem, caCertificates: /ca.pem, sni: a.com}",
    ));
    accepts(&tls("{mode: SIMPLE, insecureSkipVerify: true}"));
    accepts(&tls("{mode: ISTIO_MUTUAL}"));
}

/// VAL-DR-7: a DestinationRule with a workload selector is exported to its
/// own namespace only; its selector has no empty key or `*`, and an empty
/// one warns.
#[test]
fn val_dr_7_selector_rules() {
    let sel = |extra: &str| {
        mk_dr(&format!(
            "host: r\nworkloadSelector: {{matchLabels: {{app: a}}}}\n{extra}"
        ))
    };
    let d = rejects(&sel("exportTo: [other]"), "VAL-DR-7", "spec.exportTo");
    assert_eq!(
        d.message,
        "destination rule with workload selector cannot have exportTo beyond current namespace"
    );
    let d = rejects(&sel("exportTo: [., other]"), "VAL-DR-7", "spec.exportTo");
    assert_eq!(
        d.message,
        "destination rule with workload selector cannot have multiple entries in exportTo"
    );
    rejects(&sel("exportTo: [\"*\"]"), "VAL-DR-7", "spec.exportTo");
    let d = webhook_rejects(
        &mk_dr("host: r\nworkloadSelector: {matchLabels: {app: \"a*\"}}"),
        "VAL-DR-7",
        "spec.workloadSelector.matchLabels[app]",
    );
    assert_eq!(
        d.message,
        "wildcard is not supported in selector: \"app=a*\""
    );
    let d = warns(
        &mk_dr("host: r\nworkloadSelector: {matchLabels: {}}"),
        "VAL-DR-7",
        "spec.workloadSelector",
    );
    assert_eq!(d.message, "workload selector specified without labels");
    accepts(&sel("exportTo: [.]"));
    accepts(&sel("exportTo: [ns]"));
    accepts(&sel("trafficPolicy: {tls: {mode: DISABLE}}"));
}
