//! Security rules VAL-AP-1 … VAL-AP-6, VAL-PA-1, VAL-RA-1 (Istio's
//! `ValidateAuthorizationPolicy`, `ValidatePeerAuthentication`,
//! `ValidateRequestAuthentication`, `pkg/config/security`).

use crate::fixtures::*;

/// An ALLOW policy with one rule (flow YAML).
fn rule(r: &str) -> String {
    mk_ap(&format!("rules:\n- {r}"))
}

/// VAL-AP-1: at most one of selector, targetRef, targetRefs; target
/// references name a Service, ServiceEntry, Gateway or GatewayClass in the
/// policy's namespace; selectors have no empty key or `*`.
#[test]
fn val_ap_1_targets() {
    let d = webhook_rejects(
        &mk_ap(
            "selector: {matchLabels: {app: a}}\ntargetRefs: [{group: gateway.networking.k8s.io, kind: Gateway, name: gw}]\nrules: [{}]",
        ),
        "VAL-AP-1",
        "spec",
    );
    assert_eq!(
        d.message,
        "only one of targetRefs or workloadSelector can be set"
    );
    let d = webhook_rejects(
        &mk_ap(
            "targetRef: {group: gateway.networking.k8s.io, kind: Gateway, name: gw, namespace: other}\nrules: [{}]",
        ),
        "VAL-AP-1",
        "spec.targetRef.namespace",
    );
    assert_eq!(
        d.message,
        "targetRef namespace must not be set; cross namespace referencing is not supported"
    );
    let d = rejects(
        &mk_ap("targetRefs: [{group: apps, kind: Deployment, name: d}]\nrules: [{}]"),
        "VAL-AP-1",
        "spec.targetRefs[0]",
    );
    assert!(
        d.message.ends_with("but was apps/Deployment"),
        "{}",
        d.message
    );
    webhook_rejects(
        &mk_ap("selector: {matchLabels: {app: \"*\"}}\nrules: [{}]"),
        "VAL-AP-1",
        "spec.selector.matchLabels[app]",
    );
    let d = warns(
        &mk_ap("selector: {matchLabels: {}}\nrules: [{}]"),
        "VAL-AP-1",
        "spec.selector",
    );
    assert_eq!(d.message, "workload selector specified without labels");
    accepts(&mk_ap(
        "targetRefs: [{group: gateway.networking.k8s.io, kind: Gateway, name: gw}, {kind: Service, name: s}, {group: networking.istio.io, kind: ServiceEntry, name: se}]\nrules: [{}]",
    ));
    accepts(&mk_ap(
        "selector: {matchLabels: {app: a, version: \"\"}}\nrules: [{}]",
    ));
}

/// VAL-AP-2: DENY and CUSTOM need rules; CUSTOM needs a provider and
/// excludes identity and JWT attributes; only CUSTOM takes a provider.
#[test]
fn val_ap_2_actions() {
    let d = rejects(&mk_ap("action: DENY"), "VAL-AP-2", "spec");
    assert_eq!(
        d.message,
        "DENY action without `rules` is meaningless as it will never be triggered, add an empty rule `{}` if you want it be triggered for every request"
    );
    rejects(
        &mk_ap("action: CUSTOM\nprovider: {name: ext}"),
        "VAL-AP-2",
        "spec",
    );
    let d = rejects(
        &mk_ap("action: CUSTOM\nrules: [{}]"),
        "VAL-AP-2",
        "spec.provider",
    );
    assert_eq!(d.message, "`provider.name` must not be empty");
    let d = rejects(
        &mk_ap("provider: {name: ext}\nrules: [{}]"),
        "VAL-AP-2",
        "spec.provider",
    );
    assert_eq!(
        d.message,
        "`provider` must not be with non CUSTOM action, found ALLOW"
    );
    let d = rejects(
        &mk_ap(
            "action: CUSTOM\nprovider: {name: ext}\nrules:\n- from: [{source: {principals: [cluster.local/ns/a/sa/b]}}]",
        ),
        "VAL-AP-2",
        "spec.rules[0].from[0].source.principals",
    );
    assert_eq!(
        d.message,
        "From.Principals is currently not supported with CUSTOM action"
    );
    let d = rejects(
        &mk_ap(
            "action: CUSTOM\nprovider: {name: ext}\nrules:\n- when: [{key: \"request.auth.claims[iss]\", values: [a]}]",
        ),
        "VAL-AP-2",
        "spec.rules[0].when[0].key",
    );
    assert_eq!(
        d.message,
        "request.auth.claims[iss] is currently not supported with CUSTOM action"
    );
    accepts(&mk_ap(
        "action: CUSTOM\nprovider: {name: ext}\nrules:\n- from: [{source: {ipBlocks: [10.0.0.0/8]}}]\n  to: [{operation: {paths: [/admin/*]}}]\n  when: [{key: \"request.headers[x-a]\", values: [b]}]",
    ));
    accepts(&mk_ap("action: DENY\nrules: [{}]"));
}

/// VAL-AP-3: from/to lists and sources/operations are not empty; values are
/// not empty strings; IPs/CIDRs, ports (0..65535) and trust domains are
/// well formed.
#[test]
fn val_ap_3_sources_and_operations() {
    let d = rejects(&rule("from: []"), "VAL-AP-3", "spec.rules[0].from");
    assert_eq!(d.message, "`from` must not be empty, found at rule 0");
    rejects(&rule("to: []"), "VAL-AP-3", "spec.rules[0].to");
    let d = rejects(&rule("from: [{}]"), "VAL-AP-3", "spec.rules[0].from[0]");
    assert_eq!(d.message, "`from.source` must not be nil, found at rule 0");
    rejects(&rule("to: [{}]"), "VAL-AP-3", "spec.rules[0].to[0]");
    let d = rejects(
        &rule("from: [{source: {}}]"),
        "VAL-AP-3",
        "spec.rules[0].from[0].source",
    );
    assert_eq!(
        d.message,
        "`from.source` must not be empty, found at rule 0"
    );
    rejects(
        &rule("from: [{source: {ipBlocks: []}}]"),
        "VAL-AP-3",
        "spec.rules[0].from[0].source",
    );
    let d = rejects(
        &rule("to: [{operation: {}}]"),
        "VAL-AP-3",
        "spec.rules[0].to[0].operation",
    );
    assert_eq!(
        d.message,
        "`to.operation` must not be empty, found at rule 0"
    );
    let d = rejects(
        &rule("from: [{source: {principals: [a, \"\"]}}]"),
        "VAL-AP-3",
        "spec.rules[0].from[0].source.principals[1]",
    );
    assert_eq!(d.message, "empty value not allowed, found in Principals");
    let d = rejects(
        &rule("from: [{source: {ipBlocks: [1.2.3.4.5]}}]"),
        "VAL-AP-3",
        "spec.rules[0].from[0].source.ipBlocks[0]",
    );
    assert_eq!(d.message, "bad IP address (1.2.3.4.5)");
    rejects(
        &rule("from: [{source: {notRemoteIpBlocks: [10.0.0.0/33]}}]"),
        "VAL-AP-3",
        "spec.rules[0].from[0].source.notRemoteIpBlocks[0]",
    );
    let d = rejects(
        &rule("to: [{operation: {ports: [\"80\", \"70000\"]}}]"),
        "VAL-AP-3",
        "spec.rules[0].to[0].operation.ports[1]",
    );
    assert!(d.message.starts_with("bad port (70000)"), "{}", d.message);
    rejects(
        &rule("to: [{operation: {notMethods: [\"\"]}}]"),
        "VAL-AP-3",
        "spec.rules[0].to[0].operation.notMethods[0]",
    );
    let d = rejects(
        &rule("from: [{source: {trustDomains: [\"a*b\"]}}]"),
        "VAL-AP-3",
        "spec.rules[0].from[0].source.trustDomains[0]",
    );
    assert_eq!(
        d.message,
        "wildcard is only allowed at the start or end, found in TrustDomains: \"a*b\""
    );
    rejects(
        &rule("from: [{source: {notTrustDomains: [example.com/x]}}]"),
        "VAL-AP-3",
        "spec.rules[0].from[0].source.notTrustDomains[0]",
    );
    accepts(&rule(
        "from: [{source: {ipBlocks: [10.0.0.1, \"2001:db8::/32\"], trustDomains: [\"*.example.com\", cluster.local]}}]\n  to: [{operation: {ports: [\"0\", \"65535\"], methods: [GET], hosts: [\"*.a.com\"]}}]",
    ));
}

/// VAL-AP-4: `when` conditions: a key, values or notValues, a known
/// attribute with well-formed `a[b]` keys and values that fit it.
#[test]
fn val_ap_4_conditions() {
    let w = |c: &str| rule(&format!("when: [{c}]"));
    let d = rejects(&w("{key: source.ip}"), "VAL-AP-4", "spec.rules[0].when[0]");
    assert_eq!(
        d.message,
        "at least one of `values` or `notValues` must be set for key source.ip"
    );
    for (key, msg) in [
        ("source.user", "unknown attribute: source.user"),
        (
            "request.headers[]",
            "bad key (request.headers[]): should have format a[b]",
        ),
        (
            "request.auth.claims",
            "bad key (request.auth.claims): should have format a[b]",
        ),
        (
            "destination.labels[app]",
            "attribute destination.labels[app] is replaced by the workload selector",
        ),
        (
            "destination.namespace",
            "attribute destination.namespace is replaced by the metadata.namespace",
        ),
        (
            "destination.user",
            "deprecated attribute destination.user: only supported in v1alpha1",
        ),
    ] {
        let d = rejects(
            &w(&format!("{{key: \"{key}\", values: [a]}}")),
            "VAL-AP-4",
            "spec.rules[0].when[0].values",
        );
        assert_eq!(d.message, format!("invalid `value` for `key` {key}: {msg}"));
    }
    let d = rejects(
        &w("{key: destination.port, notValues: [http]}"),
        "VAL-AP-4",
        "spec.rules[0].when[0].notValues",
    );
    assert!(
        d.message
            .starts_with("invalid `notValue` for `key` destination.port: bad port (http)"),
        "{}",
        d.message
    );
    rejects(
        &w("{key: source.ip, values: [not-an-ip]}"),
        "VAL-AP-4",
        "spec.rules[0].when[0].values",
    );
    rejects(
        &w("{key: \"request.headers[x-a]\", values: [\"\"]}"),
        "VAL-AP-4",
        "spec.rules[0].when[0].values",
    );
    accepts(&rule(
        "when:\n  - {key: \"request.headers[x-token]\", values: [a]}\n  - {key: \"request.auth.claims[groups][0]\", notValues: [b]}\n  - {key: \"experimental.envoy.filters.network.mysql_proxy[db.table]\", values: [\"[update]\"]}\n  - {key: source.ip, values: [10.0.0.0/8]}\n  - {key: destination.port, values: [\"8080\"]}\n  - {key: connection.sni, values: [\"*.example.com\"]}\n  - {key: source.serviceAccount, values: [ns/sa]}",
    ));
}

/// VAL-AP-5: serviceAccounts exclude principals and namespaces, at most 16
/// values of the form `sa` or `ns/sa` without `*`; path templates use
/// `{*}` and a final `{**}` between literal segments.
#[test]
fn val_ap_5_service_accounts_and_paths() {
    let d = webhook_rejects(
        &rule("from: [{source: {serviceAccounts: [sa], namespaces: [ns]}}]"),
        "VAL-AP-5",
        "spec.rules[0].from[0].source",
    );
    assert_eq!(
        d.message,
        "cannot set serviceAccounts with namespaces or principals, found at rule 0"
    );
    let many: Vec<String> = (0..17).map(|i| format!("sa{i}")).collect();
    let d = webhook_rejects(
        &rule(&format!(
            "from: [{{source: {{serviceAccounts: [{}]}}}}]",
            many.join(", ")
        )),
        "VAL-AP-5",
        "spec.rules[0].from[0].source.serviceAccounts",
    );
    assert_eq!(d.message, "may not have more than 16 values");
    let d = rejects(
        &rule("from: [{source: {notServiceAccounts: [\"ns/*\"]}}]"),
        "VAL-AP-5",
        "spec.rules[0].from[0].source.notServiceAccounts[0]",
    );
    assert_eq!(
        d.message,
        "wildcard not allowed, found in NotServiceAccounts"
    );
    rejects(
        &rule("from: [{source: {serviceAccounts: [a/b/c]}}]"),
        "VAL-AP-5",
        "spec.rules[0].from[0].source.serviceAccounts[0]",
    );
    let d = rejects(
        &rule("to: [{operation: {paths: [\"/a/{**}/b/{*}\"]}}]"),
        "VAL-AP-5",
        "spec.rules[0].to[0].operation.paths[0]",
    );
    assert_eq!(
        d.message,
        "invalid or unsupported path a/{**}/b/{*}, found in Paths. {**} is not the last operator"
    );
    rejects(
        &rule("to: [{operation: {notPaths: [\"/a/{name}\"]}}]"),
        "VAL-AP-5",
        "spec.rules[0].to[0].operation.notPaths[0]",
    );
    rejects(
        &rule("to: [{operation: {paths: [\"/{*}/a*b\"]}}]"),
        "VAL-AP-5",
        "spec.rules[0].to[0].operation.paths[0]",
    );
    // Istio checks the shape only, not that the names are DNS labels.
    accepts(&rule(
        "from: [{source: {serviceAccounts: [sa, ns/sa, Upper_Case.Name]}}]",
    ));
    accepts(&rule(
        "to: [{operation: {paths: [\"/api/{*}/items/{**}\", \"/static/*\", \"*.png\"]}}]",
    ));
}

/// VAL-AP-6 (warning): a DENY rule whose source or operation uses only HTTP
/// attributes denies every TCP connection in scope.
#[test]
fn val_ap_6_deny_http_only() {
    let deny = |r: &str| mk_ap(&format!("action: DENY\nrules:\n- {r}"));
    let d = warns(
        &deny("to: [{operation: {methods: [POST]}}]"),
        "VAL-AP-6",
        "spec.rules[0]",
    );
    assert_eq!(
        d.message,
        "configured AuthorizationPolicy will deny all traffic to TCP ports under its scope due to the use of only HTTP attributes in a DENY rule; it is recommended to explicitly specify the port"
    );
    warns(
        &deny("from: [{source: {requestPrincipals: [\"*\"]}}]"),
        "VAL-AP-6",
        "spec.rules[0]",
    );
    // Istio's condition looks at the operation alone once one is set.
    warns(
        &deny("from: [{source: {namespaces: [a]}}]\n  to: [{operation: {paths: [/admin]}}]"),
        "VAL-AP-6",
        "spec.rules[0]",
    );
    accepts(&deny(
        "to: [{operation: {methods: [POST], ports: [\"8080\"]}}]",
    ));
    accepts(&deny(
        "from: [{source: {requestPrincipals: [\"*\"], ipBlocks: [10.0.0.0/8]}}]",
    ));
    accepts(&deny(
        "when: [{key: \"request.headers[x-a]\", values: [b]}]",
    ));
}

/// VAL-PA-1: port-level mTLS only with a workload selector, not empty, with
/// ports in 1..65535.
#[test]
fn val_pa_1_port_level_mtls() {
    let d = webhook_rejects(
        &mk_pa("mtls: {mode: STRICT}\nportLevelMtls: {\"8080\": {mode: DISABLE}}"),
        "VAL-PA-1",
        "spec.portLevelMtls",
    );
    assert_eq!(
        d.message,
        "mesh/namespace peer authentication cannot have port level mTLS"
    );
    webhook_rejects(
        &mk_pa("selector: {matchLabels: {}}\nportLevelMtls: {\"8080\": {mode: DISABLE}}"),
        "VAL-PA-1",
        "spec.portLevelMtls",
    );
    let d = webhook_rejects(
        &mk_pa("selector: {matchLabels: {app: a}}\nportLevelMtls: {}"),
        "VAL-PA-1",
        "spec.portLevelMtls",
    );
    assert_eq!(
        d.message,
        "port level mTLS, if defined, must have at least one element"
    );
    let d = webhook_rejects(
        &mk_pa("selector: {matchLabels: {app: a}}\nportLevelMtls: {\"0\": {mode: DISABLE}}"),
        "VAL-PA-1",
        "spec.portLevelMtls[0]",
    );
    assert_eq!(d.message, "port must be in range 1..65535");
    accepts(&mk_pa(
        "selector: {matchLabels: {app: a}}\nmtls: {mode: STRICT}\nportLevelMtls: {\"8080\": {mode: PERMISSIVE}, \"9090\": {mode: UNSET}}",
    ));
    accepts(&mk_pa("mtls: {mode: STRICT}"));
}

/// VAL-RA-1: JWT rules: an issuer or a jwksUri (http or https); inline
/// JWKS that parse; no empty audiences, header, param or cookie names;
/// claim-to-header outputs name a header; private keys in JWKS warn.
#[test]
fn val_ra_1_jwt_rules() {
    let j = |r: &str| mk_ra(&format!("jwtRules:\n- {r}"));
    let d = webhook_rejects(&j("{audiences: [a]}"), "VAL-RA-1", "spec.jwtRules[0]");
    assert_eq!(d.message, "issuer or jwksUri must be non-empty string");
    let d = webhook_rejects(
        &j("{issuer: iss, jwksUri: \"ftp://keys.example.com/jwks\"}"),
        "VAL-RA-1",
        "spec.jwtRules[0].jwksUri",
    );
    assert_eq!(d.message, "URI scheme \"ftp\" is not supported");
    let d = rejects(
        &j("{issuer: iss, jwks: \"not json\"}"),
        "VAL-RA-1",
        "spec.jwtRules[0].jwks",
    );
    assert!(d.message.starts_with("jwks parse error: "), "{}", d.message);
    webhook_rejects(
        &j("{issuer: iss, audiences: [\"\"]}"),
        "VAL-RA-1",
        "spec.jwtRules[0].audiences[0]",
    );
    webhook_rejects(
        &j("{issuer: iss, fromHeaders: [{name: \"\"}]}"),
        "VAL-RA-1",
        "spec.jwtRules[0].fromHeaders[0]",
    );
    let d = webhook_rejects(
        &j("{issuer: iss, fromParams: [\"\"]}"),
        "VAL-RA-1",
        "spec.jwtRules[0].fromParams[0]",
    );
    assert_eq!(d.message, "location query must be non-empty string");
    let d = webhook_rejects(
        &j("{issuer: iss, fromCookies: [\"\"]}"),
        "VAL-RA-1",
        "spec.jwtRules[0].fromCookies[0]",
    );
    assert_eq!(d.message, "cookie name must be non-empty string");
    let d = webhook_rejects(
        &j("{issuer: iss, outputClaimToHeaders: [{header: \"x.user\", claim: sub}]}"),
        "VAL-RA-1",
        "spec.jwtRules[0].outputClaimToHeaders[0].header",
    );
    assert_eq!(d.message, "header name x.user is not a valid header name");
    let d = warns(
        &j("{issuer: iss, jwks: '{\"keys\": [{\"kty\": \"oct\", \"k\": \"c2VjcmV0\"}]}'}"),
        "VAL-RA-1",
        "spec.jwtRules[0].jwks",
    );
    assert_eq!(
        d.message,
        "jwks key at index 0 contains private key material; only public keys are used for verification"
    );
    accepts(&j(
        "{issuer: \"https://accounts.example.com\", jwksUri: \"https://accounts.example.com:8443/jwks\", audiences: [api], fromHeaders: [{name: Authorization, prefix: \"Bearer \"}], fromParams: [token], fromCookies: [session], outputClaimToHeaders: [{header: x-jwt_sub, claim: sub}], forwardOriginalToken: true}",
    ));
    accepts(&j(
        "{issuer: iss, jwks: '{\"keys\": [{\"kty\": \"RSA\", \"e\": \"AQAB\", \"n\": \"xyz\"}]}'}",
    ));
    accepts(&j("{jwksUri: \"http://keys.example.com/jwks\"}"));
}
