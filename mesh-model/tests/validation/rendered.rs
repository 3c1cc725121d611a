//! The full rendered text of representative diagnostics: file, line and
//! column, severity, code, kind and namespace/name, field path, message.
//! Lines and columns are 1-based and point at the offending value; a
//! document's lines count from the start of its file.

use mesh_model::{LoadOptions, load};

fn rendered(label: &str, text: &str) -> Vec<String> {
    let l = load(&[(label, text)], &LoadOptions::default());
    l.diagnostics.iter().map(ToString::to_string).collect()
}

/// A YAML syntax error in the second document of a file: located at the
/// token libyaml stopped at, counted from the start of the file; the first
/// document still loads.
#[test]
fn a_yaml_syntax_error() {
    let text = "\
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: reviews, namespace: bookinfo}
spec: {host: reviews}
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata:
  name: reviews
  namespace: bookinfo
spec:
  hosts: [reviews
  http: []
";
    let l = load(&[("reviews.yaml", text)], &LoadOptions::default());
    assert_eq!(l.snapshot.len(), 1);
    assert_eq!(
        rendered("reviews.yaml", text),
        [
            "reviews.yaml:13:7: error[PARSE-YAML]: did not find expected ',' or ']', while parsing a flow sequence"
        ]
    );
}

/// A value of the wrong type, at its field path.
#[test]
fn a_type_error() {
    let text = "\
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata:
  name: reviews
  namespace: bookinfo
spec:
  hosts: [reviews]
  http:
  - timeout: 10s
    route:
    - destination: {host: reviews, port: {number: http}}
";
    assert_eq!(
        rendered("reviews.yaml", text),
        [
            "reviews.yaml:11:51: error[PARSE-TYPE]: VirtualService bookinfo/reviews: spec.http[0].route[0].destination.port.number: invalid type: string \"http\", expected u32"
        ]
    );
}

/// A field the CRD does not have.
#[test]
fn an_unknown_field() {
    let text = "\
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: reviews, namespace: bookinfo}
spec:
  host: reviews
  trafficPolicy:
    loadBalancer:
      simple: ROUND_ROBIN
      consistentHashing: {useSourceIp: true}
";
    assert_eq!(
        rendered("dr.yaml", text),
        [
            "dr.yaml:9:7: error[SCHEMA-UNKNOWN-FIELD]: DestinationRule bookinfo/reviews: spec.trafficPolicy.loadBalancer.consistentHashing: unknown field \"consistentHashing\""
        ]
    );
}

/// A CRD schema violation (an enum value and a CEL rule).
#[test]
fn schema_violations() {
    let text = "\
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: deny-all, namespace: prod}
spec:
  action: REJECT
  rules: [{}]
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: external, namespace: prod}
spec:
  hosts: [\"*\"]
  resolution: DNS
  ports: [{number: 443, name: https, protocol: TLS}]
";
    assert_eq!(
        rendered("policies.yaml", text),
        [
            "policies.yaml:5:11: error[SCHEMA-ENUM]: AuthorizationPolicy prod/deny-all: spec.action: Unsupported value: \"REJECT\": supported values: \"ALLOW\", \"DENY\", \"AUDIT\", \"CUSTOM\"",
            "policies.yaml:12:11: error[SCHEMA-RULE]: ServiceEntry prod/external: spec.hosts[0]: Invalid value: \"*\": hostname cannot be wildcard",
        ]
    );
}

/// Webhook rules, errors and warnings, each at its field path.
#[test]
fn webhook_rules() {
    let text = "\
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: reviews, namespace: bookinfo}
spec:
  hosts: [reviews]
  http:
  - match:
    - uri: {prefix: /api}
    route:
    - destination: {host: reviews, subset: v1}
      weight: 0
    - destination: {host: reviews, subset: v2}
      weight: 0
  - match:
    - uri: {prefix: /api/v2}
    route:
    - destination: {host: reviews, subset: v_2}
    retries: {attempts: 3, retryOn: \"5xx,sometimes\"}
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: no-post, namespace: bookinfo}
spec:
  action: DENY
  rules:
  - to:
    - operation: {methods: [POST]}
---
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: ingress, namespace: istio-system}
spec:
  servers:
  - port: {number: 443, name: https, protocol: HTTPS}
    hosts: [reviews]
";
    assert_eq!(
        rendered("mesh.yaml", text),
        [
            "mesh.yaml:10:5: error[VAL-VS-7]: VirtualService bookinfo/reviews: spec.http[0].route: total destination weight = 0",
            "mesh.yaml:18:37: error[VAL-VS-17]: VirtualService bookinfo/reviews: spec.http[1].retries.retryOn: \"sometimes\" is not a valid retryOn policy",
            "mesh.yaml:17:44: error[VAL-VS-8]: VirtualService bookinfo/reviews: spec.http[1].route[0].destination.subset: subset name is invalid: v_2",
            "mesh.yaml:15:7: warning[VAL-VS-23]: VirtualService bookinfo/reviews: spec.http[1].match[0]: virtualService rule #1 match #0 of prefix /api/v2 is not used (duplicate/overlapping match in rule #0 of prefix /api on #0)",
            "mesh.yaml:26:5: warning[VAL-AP-6]: AuthorizationPolicy bookinfo/no-post: spec.rules[0]: configured AuthorizationPolicy will deny all traffic to TCP ports under its scope due to the use of only HTTP attributes in a DENY rule; it is recommended to explicitly specify the port",
            "mesh.yaml:35:13: error[VAL-GW-1]: Gateway istio-system/ingress: spec.servers[0].hosts[0]: short names (non FQDN) are not allowed",
            "mesh.yaml:34:5: error[VAL-GW-3]: Gateway istio-system/ingress: spec.servers[0]: server must have TLS settings for HTTPS/TLS protocols",
        ]
    );
}

/// The JSON form `meshctl validate -o json` prints (MESHCTL.md).
#[test]
fn json_form() {
    let text = "\
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: reviews, namespace: default}
spec:
  hosts: [reviews]
  http:
  - route:
    - destination: {host: reviews, subset: v1}
      weight: -1
";
    let l = load(&[("reviews.yaml", text)], &LoadOptions::default());
    let json = serde_json::to_value(&l.diagnostics).unwrap();
    assert_eq!(
        json,
        serde_json::json!([{
            "severity": "error", "code": "VAL-VS-7", "message": "weight -1 < 0",
            "file": "reviews.yaml", "document": 0, "line": 9, "column": 15,
            "kind": "VirtualService", "namespace": "default", "name": "reviews",
            "path": "spec.http[0].route[0].weight"
        }])
    );
}

/// A document that is not a Kubernetes object (a Helm values file in a
/// stream of manifests): located at its first token, after the marker,
/// blank lines and comments, counted from the start of the file.
#[test]
fn a_document_without_api_version() {
    let text = "\
apiVersion: v1
kind: Namespace
metadata: {name: bookinfo}
---

# values for the chart
  replicas: 2
  image: reviews
";
    assert_eq!(
        rendered("values.yaml", text),
        [
            "values.yaml:7:3: error[SCHEMA-REQUIRED]: apiVersion: apiVersion is required: not a Kubernetes object"
        ]
    );
}
