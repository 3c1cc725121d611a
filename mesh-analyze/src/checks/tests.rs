use crate::{AnalysisOptions, Inputs, analyze};

/// Runs one analyzer over `yaml`; each message as `CODE path: text`.
fn run(analyzer: &str, yaml: &str) -> Vec<String> {
    let options = AnalysisOptions {
        default_resources: false,
        ..AnalysisOptions::default()
    };
    let inputs = Inputs::load(&[("mesh.yaml", yaml)], &options).expect("inputs");
    analyze(&inputs, &[analyzer])
        .expect("known analyzer")
        .iter()
        .map(|m| {
            format!(
                "{} {} {}: {}",
                m.code(),
                m.resource
                    .as_ref()
                    .map(ToString::to_string)
                    .unwrap_or_default(),
                m.location.path,
                m.text
            )
        })
        .collect()
}

const VS_HEAD: &str = "apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: r, namespace: shop}
spec:
  hosts: [reviews]
  http:
";

#[test]
fn a_route_covered_by_earlier_prefixes_is_shadowed() {
    // Route 1 is a sub-case of route 0 (longer prefix, extra header);
    // route 3 is matched by route 0 or route 2 in each of its blocks.
    let yaml = format!(
        "{VS_HEAD}  - name: api
    match: [{{uri: {{prefix: /api}}}}]
    route: [{{destination: {{host: a}}}}]
  - match: [{{uri: {{prefix: /api/v2}}, headers: {{x-user: {{exact: jason}}}}}}]
    route: [{{destination: {{host: b}}}}]
  - match: [{{method: {{exact: POST}}, uri: {{exact: /cart}}}}]
    route: [{{destination: {{host: c}}}}]
  - match: [{{uri: {{exact: /api/x}}}}, {{uri: {{exact: /cart}}, method: {{exact: POST}}, port: 80}}]
    route: [{{destination: {{host: d}}}}]
  - match: [{{uri: {{regex: /api/.*}}}}]
    route: [{{destination: {{host: e}}}}]
"
    );
    assert_eq!(
        run("mesh.ShadowedRouteAnalyzer", &yaml),
        [
            r#"MESH001 VirtualService shop/r spec.http[1]: HTTP route #1 is never used: every request it matches is matched first by route #0 ("api") (routes are tried in order, VS-1)"#,
            r#"MESH001 VirtualService shop/r spec.http[3]: HTTP route #3 is never used: every request it matches is matched first by route #0 ("api"), #2 (routes are tried in order, VS-1)"#,
        ]
    );
}

#[test]
fn routes_that_differ_are_not_shadowed() {
    // Case-insensitive matches, other headers, other ports, other methods
    // and regexes a prefix cannot judge all stay reachable.
    let yaml = format!(
        "{VS_HEAD}  - match: [{{uri: {{prefix: /api}}, port: 8080}}]
    route: [{{destination: {{host: a}}}}]
  - match: [{{uri: {{prefix: /api}}}}]
    route: [{{destination: {{host: a}}}}]
  - match: [{{uri: {{prefix: /API}}, ignoreUriCase: true}}]
    route: [{{destination: {{host: b}}}}]
  - match: [{{uri: {{prefix: /x}}, headers: {{x-user: {{exact: jason}}}}}}]
    route: [{{destination: {{host: c}}}}]
  - match: [{{uri: {{prefix: /x}}, headers: {{x-user: {{prefix: ja}}}}}}]
    route: [{{destination: {{host: c}}}}]
  - route: [{{destination: {{host: d}}}}]
"
    );
    assert_eq!(
        run("mesh.ShadowedRouteAnalyzer", &yaml),
        Vec::<String>::new()
    );
}

#[test]
fn istios_own_unused_rules_are_not_repeated() {
    // A second match-less rule is Istio's IST0130; not reported again.
    let yaml = format!(
        "{VS_HEAD}  - route: [{{destination: {{host: a}}}}]
  - route: [{{destination: {{host: b}}}}]
"
    );
    assert_eq!(
        run("mesh.ShadowedRouteAnalyzer", &yaml),
        Vec::<String>::new()
    );
}

const WORKLOADS: &str = "apiVersion: v1
kind: Pod
metadata: {name: db-0, namespace: data, labels: {app: db}}
spec: {containers: [{name: db, ports: [{containerPort: 5432}]}]}
status: {podIP: 10.0.0.5}
---
apiVersion: v1
kind: Service
metadata: {name: db, namespace: data}
spec:
  selector: {app: db}
  ports: [{name: tcp-pg, port: 5432}, {name: http-admin, port: 8080}]
";

#[test]
fn identity_rules_on_workloads_without_mtls_never_match() {
    let yaml = format!(
        "{WORKLOADS}---
apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata: {{name: plain, namespace: data}}
spec:
  selector: {{matchLabels: {{app: db}}}}
  mtls: {{mode: DISABLE}}
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {{name: db, namespace: data}}
spec:
  selector: {{matchLabels: {{app: db}}}}
  rules:
  - from: [{{source: {{principals: [cluster.local/ns/shop/sa/api]}}}}]
  - from: [{{source: {{ipBlocks: [10.0.0.0/8]}}}}]
  - when: [{{key: source.namespace, values: [shop]}}]
"
    );
    assert_eq!(
        run("mesh.AuthorizationRuleAnalyzer", &yaml),
        [
            "MESH002 AuthorizationPolicy data/db spec.rules[0]: Rule 0 needs a peer identity (principals, namespaces, service accounts or trust domains), but PeerAuthentication disables mTLS for every workload the policy applies to (Pod data/db-0): plaintext peers have no identity, so the rule never matches",
            "MESH002 AuthorizationPolicy data/db spec.rules[2]: Rule 2 needs a peer identity (principals, namespaces, service accounts or trust domains), but PeerAuthentication disables mTLS for every workload the policy applies to (Pod data/db-0): plaintext peers have no identity, so the rule never matches",
        ]
    );
}

#[test]
fn identity_rules_are_fine_where_a_port_keeps_mtls() {
    let yaml = format!(
        "{WORKLOADS}---
apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata: {{name: plain, namespace: data}}
spec:
  selector: {{matchLabels: {{app: db}}}}
  mtls: {{mode: DISABLE}}
  portLevelMtls: {{5432: {{mode: STRICT}}}}
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {{name: db, namespace: data}}
spec:
  selector: {{matchLabels: {{app: db}}}}
  rules:
  - from: [{{source: {{principals: [cluster.local/ns/shop/sa/api]}}}}]
    to: [{{operation: {{ports: ['5432']}}}}]
  - from: [{{source: {{namespaces: [shop]}}}}]
    to: [{{operation: {{ports: ['8080']}}}}]
"
    );
    assert_eq!(
        run("mesh.AuthorizationRuleAnalyzer", &yaml),
        [
            "MESH002 AuthorizationPolicy data/db spec.rules[1]: Rule 1 needs a peer identity (principals, namespaces, service accounts or trust domains), but PeerAuthentication disables mTLS for every workload the policy applies to (Pod data/db-0): plaintext peers have no identity, so the rule never matches"
        ]
    );
}

#[test]
fn http_fields_on_a_tcp_port() {
    let yaml = format!(
        "{WORKLOADS}---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {{name: allow, namespace: data}}
spec:
  selector: {{matchLabels: {{app: db}}}}
  rules:
  - to: [{{operation: {{ports: ['5432'], methods: [GET]}}}}]
  - to: [{{operation: {{ports: ['8080'], methods: [GET]}}}}]
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {{name: deny, namespace: data}}
spec:
  selector: {{matchLabels: {{app: db}}}}
  action: DENY
  rules:
  - to: [{{operation: {{ports: ['5432'], paths: [/admin]}}}}]
"
    );
    assert_eq!(
        run("mesh.AuthorizationRuleAnalyzer", &yaml),
        [
            "MESH003 AuthorizationPolicy data/allow spec.rules[0]: Rule 0 uses HTTP-only fields (hosts, methods, paths, request principals or request.* conditions) for port(s) 5432 that the selected workloads serve as TCP: the rule is dropped on TCP and never matches (AZ-31)",
            "MESH003 AuthorizationPolicy data/deny spec.rules[0]: Rule 0 uses HTTP-only fields (hosts, methods, paths, request principals or request.* conditions) for port(s) 5432 that the selected workloads serve as TCP: on TCP those conditions are ignored and the rule matches every connection to the port (AZ-32)",
        ]
    );
}

#[test]
fn a_selector_that_selects_nothing() {
    let yaml = format!(
        "{WORKLOADS}---
apiVersion: apps/v1
kind: Deployment
metadata: {{name: api, namespace: shop}}
spec:
  selector: {{matchLabels: {{app: api}}}}
  template:
    metadata: {{labels: {{app: api}}}}
    spec: {{containers: [{{name: api}}]}}
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {{name: typo, namespace: data}}
spec:
  selector: {{matchLabels: {{app: dbb}}}}
  rules: [{{}}]
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {{name: by-deployment, namespace: shop}}
spec:
  selector: {{matchLabels: {{app: api}}}}
  rules: [{{}}]
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {{name: no-workloads-here, namespace: elsewhere}}
spec:
  selector: {{matchLabels: {{app: api}}}}
  rules: [{{}}]
"
    );
    assert_eq!(
        run("mesh.AuthorizationRuleAnalyzer", &yaml),
        [
            "MESH004 AuthorizationPolicy data/typo spec.selector: The selector app=dbb selects no workload (Pod, workload controller or WorkloadEntry) in namespace data: the policy never applies"
        ]
    );
}

#[test]
fn younger_peer_authentications_are_ignored() {
    let yaml = "apiVersion: v1
kind: Pod
metadata: {name: db-0, namespace: data, labels: {app: db, tier: backend}}
spec: {containers: [{name: db}]}
---
apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata: {name: a-first, namespace: data, creationTimestamp: '2024-01-01T00:00:00Z'}
spec: {mtls: {mode: STRICT}}
---
apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata: {name: b-second, namespace: data, creationTimestamp: '2024-02-01T00:00:00Z'}
spec: {mtls: {mode: PERMISSIVE}}
---
apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata: {name: db, namespace: data, creationTimestamp: '2024-01-01T00:00:00Z'}
spec: {selector: {matchLabels: {app: db}}, mtls: {mode: DISABLE}}
---
apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata: {name: backend, namespace: data, creationTimestamp: '2024-03-01T00:00:00Z'}
spec: {selector: {matchLabels: {tier: backend}}, mtls: {mode: STRICT}}
---
apiVersion: v1
kind: Pod
metadata: {name: cache-0, namespace: data, labels: {app: cache, tier: backend}}
spec: {containers: [{name: cache}]}
---
apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata: {name: cache, namespace: data, creationTimestamp: '2024-04-01T00:00:00Z'}
spec: {selector: {matchLabels: {app: cache}}, mtls: {mode: DISABLE}}
---
apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata: {name: misplaced, namespace: istio-system}
spec: {selector: {matchLabels: {app: db}}, mtls: {mode: STRICT}}
";
    assert_eq!(
        run("mesh.PeerAuthenticationAnalyzer", yaml),
        [
            "MESH005 PeerAuthentication data/b-second metadata.name: Ignored: data/a-first is older and is the namespace-wide PeerAuthentication of data; only the oldest selector-less policy of a namespace applies (PA-3)",
            "MESH005 PeerAuthentication data/backend spec.selector: Ignored for Pod data/db-0: the older data/db also selects them (the oldest matching workload policy wins, PA-3)",
            "MESH005 PeerAuthentication data/cache spec.selector: Never applies: every workload it selects is also selected by the older data/backend (the oldest matching workload policy wins, PA-3)",
            "MESH005 PeerAuthentication istio-system/misplaced spec.selector: A PeerAuthentication with a selector in the root namespace is ignored (PA-1): put workload policies in the workload's namespace",
        ]
    );
}

#[test]
fn subsets_that_no_endpoint_carries() {
    let yaml = "apiVersion: v1
kind: Pod
metadata: {name: reviews-v1, namespace: shop, labels: {app: reviews, version: v1}}
spec: {containers: [{name: r}]}
status: {podIP: 10.0.0.7}
---
apiVersion: v1
kind: Service
metadata: {name: reviews, namespace: shop}
spec: {selector: {app: reviews}, ports: [{name: http, port: 9080}]}
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: reviews, namespace: shop}
spec:
  host: reviews
  subsets:
  - {name: v1, labels: {version: v1}}
  - {name: v2, labels: {version: v2}}
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: ratings, namespace: shop}
spec:
  host: ratings
  subsets:
  - {name: v1, labels: {version: v1}}
";
    assert_eq!(
        run("mesh.SubsetEndpointAnalyzer", yaml),
        [
            r#"MESH006 DestinationRule shop/reviews spec.subsets[1]: Subset "v2" (version=v2) matches none of the 1 endpoint(s) of reviews.shop.svc.cluster.local: requests routed to it fail with 503 (DR-3)"#
        ]
    );
}
