use super::*;

fn parse(text: &str) -> Parsed {
    parse_str("t.yaml", text, &ParseOptions::default())
}

fn rendered(p: &Parsed) -> Vec<String> {
    p.diagnostics.iter().map(ToString::to_string).collect()
}

#[test]
fn documents_stand_alone() {
    let text = "\
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: a}
spec: {hosts: [a]}
---
this: is: not yaml
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: b, namespace: x}
spec: {host: b}
";
    let p = parse(text);
    assert_eq!(p.resources.len(), 2, "{:?}", rendered(&p));
    assert_eq!(p.resources[0].namespace(), "default");
    assert_eq!(p.resources[1].origin.document, 2);
    assert_eq!(p.diagnostics.len(), 1, "{:?}", rendered(&p));
    let d = &p.diagnostics[0];
    assert_eq!(d.code, "PARSE-YAML");
    assert_eq!(d.document, 1);
    assert_eq!(d.line, Some(6));
}

#[test]
fn type_errors_carry_path_line_and_column() {
    let text = "\
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata:
  name: reviews
  namespace: bookinfo
spec:
  hosts: [reviews]
  http:
  - route:
    - destination:
        host: reviews
      weight: heavy
";
    let p = parse(text);
    assert!(p.resources.is_empty());
    assert_eq!(
        rendered(&p),
        [
            "t.yaml:12:15: error[PARSE-TYPE]: VirtualService bookinfo/reviews: spec.http[0].route[0].weight: invalid type: string \"heavy\", expected i32"
        ]
    );
}

#[test]
fn unknown_fields_are_errors_or_warnings() {
    let text = "\
apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata: {name: p, namespace: ns}
spec:
  mtls:
    mode: STRICT
    strict: true
";
    let p = parse(text);
    assert!(p.resources.is_empty());
    assert_eq!(
        rendered(&p),
        [
            "t.yaml:7:5: error[SCHEMA-UNKNOWN-FIELD]: PeerAuthentication ns/p: spec.mtls.strict: unknown field \"strict\""
        ]
    );
    let lenient = parse_str("t.yaml", text, &ParseOptions::lenient());
    assert_eq!(lenient.resources.len(), 1);
    assert_eq!(lenient.diagnostics[0].severity, Severity::Warning);
}

#[test]
fn schema_violations_are_located() {
    let text = "\
apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata: {name: zero-port}
spec:
  selector:
    matchLabels: {foo: bar}
  portLevelMtls:
    \"0\":
      mode: STRICT
";
    let p = parse(text);
    assert_eq!(
        rendered(&p),
        [
            "t.yaml:8:5: error[SCHEMA-RULE]: PeerAuthentication default/zero-port: spec.portLevelMtls: Invalid value: port must be between 1-65535"
        ]
    );
}

#[test]
fn enums_by_name_or_number_and_unsupported_values() {
    let ok = parse(
        "apiVersion: security.istio.io/v1\nkind: PeerAuthentication\nmetadata: {name: p}\nspec: {mtls: {mode: 3}}\n",
    );
    assert_eq!(ok.resources.len(), 1, "{:?}", rendered(&ok));
    let bad = parse(
        "apiVersion: security.istio.io/v1\nkind: PeerAuthentication\nmetadata: {name: p}\nspec: {mtls: {mode: BLAH}}\n",
    );
    assert_eq!(bad.diagnostics.len(), 1);
    assert!(
        bad.diagnostics[0]
            .message
            .starts_with("Unsupported value: \"BLAH\""),
        "{}",
        bad.diagnostics[0]
    );
    assert_eq!(bad.diagnostics[0].path.to_string(), "spec.mtls.mode");
}

#[test]
fn lists_kinds_and_versions() {
    let text = "\
apiVersion: v1
kind: List
items:
- apiVersion: v1
  kind: Namespace
  metadata: {name: bookinfo, labels: {istio-injection: enabled}}
- apiVersion: networking.istio.io/v1alpha1
  kind: VirtualService
  metadata: {name: old}
- apiVersion: example.com/v1
  kind: Widget
  metadata: {name: w}
";
    let p = parse(text);
    assert_eq!(p.resources.len(), 1);
    assert_eq!(p.resources[0].namespace(), "");
    let codes: Vec<_> = p.diagnostics.iter().map(|d| d.code.as_ref()).collect();
    assert_eq!(codes, ["PARSE-API-VERSION", "PARSE-KIND-SKIPPED"]);
    assert_eq!(p.diagnostics[0].path.to_string(), "items[1].apiVersion");
}

#[test]
fn nulls_are_rejected_where_the_schema_says_so() {
    for text in [
        "apiVersion: extensions.istio.io/v1alpha1\nkind: WasmPlugin\nmetadata: {name: nil}\nspec:\n",
        "apiVersion: extensions.istio.io/v1alpha1\nkind: WasmPlugin\nmetadata: {name: nil}\nspec:\n  url:\n",
        "apiVersion: security.istio.io/v1\nkind: RequestAuthentication\nmetadata: {name: n}\nspec:\n  jwtRules:\n  -\n",
    ] {
        let p = parse(text);
        assert!(p.resources.is_empty(), "accepted: {text}");
        assert_eq!(p.diagnostics.len(), 1, "{:?}", rendered(&p));
    }
}

#[test]
fn proto_field_names_are_accepted() {
    let p = parse(
        "apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: {name: r}\nspec:\n  hosts: [r]\n  http:\n  - retries: {attempts: 3, per_try_timeout: 2s}\n    route: [{destination: {host: r}}]\n",
    );
    assert_eq!(p.resources.len(), 1, "{:?}", rendered(&p));
}

/// RES-4: digit names keep the proto's own spelling
/// (`consecutive_5xx_errors`, `http1_max_pending_requests`).
#[test]
fn proto_names_with_digits_are_accepted() {
    let p = parse(
        "apiVersion: networking.istio.io/v1\nkind: DestinationRule\nmetadata: {name: r}\nspec:\n  host: r\n  trafficPolicy:\n    connectionPool:\n      http: {http1_max_pending_requests: 1, http2_max_requests: 2, h2_upgrade_policy: UPGRADE}\n    outlierDetection: {consecutive_5xx_errors: 3}\n",
    );
    assert_eq!(p.resources.len(), 1, "{:?}", rendered(&p));
    let Some(crate::resource::IstioSpec::DestinationRule(dr)) = p.resources[0].istio_spec() else {
        panic!("not a DestinationRule");
    };
    let tp = dr.traffic_policy.as_ref().unwrap();
    let od = tp.outlier_detection.as_ref().unwrap();
    assert_eq!(od.consecutive5xx_errors, Some(3));
    let http = tp.connection_pool.as_ref().unwrap().http.as_ref().unwrap();
    assert_eq!(http.http1_max_pending_requests, Some(1));
    assert_eq!(http.http2_max_requests, Some(2));
    let old = parse(
        "apiVersion: networking.istio.io/v1\nkind: DestinationRule\nmetadata: {name: r}\nspec:\n  host: r\n  trafficPolicy:\n    outlierDetection: {consecutive5xx_errors: 3}\n",
    );
    assert_eq!(old.diagnostics[0].code, "SCHEMA-UNKNOWN-FIELD");
}

#[test]
fn garbage_never_panics() {
    for text in [
        "",
        "---",
        "- a\n- b",
        "42",
        "{",
        "kind: [",
        "\u{0}",
        "a: !!binary x",
        "? [a]\n: b",
    ] {
        let _ = parse(text);
    }
}

#[test]
fn an_empty_default_namespace_leaves_objects_without_one() {
    let text = "\
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: gw}
spec: {}
";
    let opts = ParseOptions {
        default_namespace: String::new(),
        ..ParseOptions::default()
    };
    let p = parse_str("t.yaml", text, &opts);
    assert_eq!(p.resources.len(), 1, "{:?}", rendered(&p));
    assert_eq!(p.resources[0].metadata.namespace, None);
    assert_eq!(p.resources[0].key().to_string(), "Gateway gw");
}

#[test]
fn another_groups_kind_of_the_same_name_is_skipped() {
    let text = "\
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: gw, namespace: x}
spec:
  gatewayClassName: istio
  listeners: [{name: http, port: 80, protocol: HTTP}]
---
apiVersion: networking.istio.io/v1
kind: Service
metadata: {name: s, namespace: x}
";
    let p = parse(text);
    assert!(p.resources.is_empty());
    let codes: Vec<&str> = p.diagnostics.iter().map(|d| d.code.as_ref()).collect();
    // The Gateway API's Gateway is not Istio's; a core kind under an Istio
    // group is a wrong apiVersion.
    assert_eq!(
        codes,
        ["PARSE-KIND-SKIPPED", "PARSE-API-VERSION"],
        "{:?}",
        rendered(&p)
    );
}

#[test]
fn documents_are_reachable_by_index() {
    let text = "a: 1\n---\nb: 2\n";
    let src = Source::new("t.yaml", text);
    assert_eq!(src.documents(), 2);
    assert_eq!(src.document(1), Some("---\nb: 2\n"));
    assert_eq!(src.document_line_offset(1), Some(1));
    assert_eq!(src.document(2), None);
}

/// The shortcut for a document's root position agrees with the full
/// parse wherever it answers, on handwritten shapes and on every document
/// of the Istio corpus.
#[test]
// A test reads its fixtures; the library itself does no I/O.
#[allow(clippy::disallowed_methods)]
fn root_position_agrees_with_the_parser() {
    let shapes = [
        "kind: A\n",
        "---\nkind: A\n",
        "--- \n\n# c\n  # d\n\nkind: A\n",
        "---\t{kind: A}\n",
        "--- {kind: A}\n",
        "# lead\n---\n- a\n- b\n",
        "---\n   [1, 2]\n",
        "---\r\nkind: A\r\n",
        "---\n\"quoted\": 1\n",
        "---\n'single': x\n",
        "---\nplain scalar\n",
        "---\n\tkind: A\n",
        "--- !!map\nkind: A\n",
        "---\n&a kind: A\n",
        "%YAML 1.2\n---\nkind: A\n",
        "---\n\u{feff}kind: A\n",
    ];
    let mut compared = 0;
    let mut check = |text: &str| {
        if let Some(fast) = root_position(text) {
            let slow = locate_path(text, &[]);
            if slow.is_some() {
                assert_eq!(Some(fast), slow, "{text:?}");
                compared += 1;
            }
        }
    };
    for s in shapes {
        check(s);
    }
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/corpus/istio");
    let mut stack = vec![root];
    while let Some(dir) = stack.pop() {
        let Ok(rd) = std::fs::read_dir(&dir) else {
            continue;
        };
        for e in rd.flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|x| x == "yaml" || x == "yml")
                && let Ok(text) = std::fs::read_to_string(&p)
            {
                for chunk in split_documents(&text) {
                    check(chunk.text);
                }
            }
        }
    }
    eprintln!("root positions compared: {compared}");
    assert!(compared >= 10, "{compared}");
}
