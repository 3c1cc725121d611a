//! Unit tests of the builder and the rule model, citing the AZ-* rules of
//! `istio-semantics.md` §7. Istio's own goldens are in
//! `tests/istio_authz_golden.rs`.

use super::*;
use crate::json::to_json;
use mesh_model::{LoadOptions, load};
use serde_json::{Value, json};

const AUTHZ_SERVICE: &str = "
apiVersion: v1
kind: Service
metadata: {name: authz, namespace: foo}
spec:
  ports: [{name: grpc, port: 9000}]
";

/// Loads `yaml` (policies) beside a registry holding
/// `authz.foo.svc.cluster.local`; every policy must validate.
fn snapshot(yaml: &str) -> Snapshot {
    let loaded = load(
        &[("p.yaml", yaml), ("svc.yaml", AUTHZ_SERVICE)],
        &LoadOptions::default(),
    );
    assert!(!loaded.has_errors(), "{:#?}", loaded.diagnostics);
    loaded.snapshot
}

fn policies(s: &Snapshot) -> Vec<Arc<Config<AuthorizationPolicy>>> {
    s.authorization_policies().cloned().collect()
}

fn mesh(yaml: &str) -> MeshConfig {
    MeshConfig::from_yaml(yaml).unwrap()
}

const GRPC_PROVIDERS: &str = "
extensionProviders:
- name: a
  envoyExtAuthzGrpc: {service: foo/authz.foo.svc.cluster.local, port: 9000}
- name: b
  envoyExtAuthzGrpc: {service: authz.foo.svc.cluster.local, port: 9000, timeout: 1s}
- name: web
  envoyExtAuthzHttp: {service: authz.foo.svc.cluster.local, port: 9000}
";

#[derive(Default)]
struct Run {
    mesh: MeshConfig,
    bundle: TrustDomainBundle,
    options: BuildOptions,
}

impl Run {
    fn http(&self, yaml: &str) -> (Vec<Value>, Vec<Note>) {
        let s = snapshot(yaml);
        let p = policies(&s);
        let built = build_http(&self.inputs(&p, &s));
        (built.filters.iter().map(to_json).collect(), built.notes)
    }

    fn tcp(&self, yaml: &str) -> (Vec<Value>, Vec<Note>) {
        let s = snapshot(yaml);
        let p = policies(&s);
        let built = build_tcp(&self.inputs(&p, &s));
        (built.filters.iter().map(to_json).collect(), built.notes)
    }

    fn inputs<'a>(
        &'a self,
        p: &'a [Arc<Config<AuthorizationPolicy>>],
        s: &'a Snapshot,
    ) -> AuthzInputs<'a> {
        AuthzInputs {
            policies: p,
            trust_domains: &self.bundle,
            mesh: &self.mesh,
            registry: s,
            options: self.options,
        }
    }
}

/// Filter names and, for RBAC filters, the actions of `rules` and
/// `shadowRules` (`-` when absent).
fn summary(filters: &[Value]) -> Vec<String> {
    filters
        .iter()
        .map(|f| {
            let c = &f["typedConfig"];
            let act = |v: &Value| match v {
                Value::Null => "-".to_string(),
                v => v["action"].as_str().unwrap_or("ALLOW").to_string(),
            };
            match f["name"].as_str().unwrap() {
                n if n.ends_with(".rbac") => {
                    format!("{n} {}/{}", act(&c["rules"]), act(&c["shadowRules"]))
                }
                n => n.to_string(),
            }
        })
        .collect()
}

fn policy_names(rbac: &Value, field: &str) -> Vec<String> {
    let mut v: Vec<String> = rbac["typedConfig"][field]["policies"]
        .as_object()
        .map(|m| m.keys().cloned().collect())
        .unwrap_or_default();
    v.sort();
    v
}

/// The one Envoy policy of a one-rule ALLOW policy.
fn only_policy(filters: &[Value]) -> &Value {
    let policies = filters[0]["typedConfig"]["rules"]["policies"]
        .as_object()
        .unwrap();
    assert_eq!(policies.len(), 1);
    policies.values().next().unwrap()
}

fn ap(name: &str, action: &str, extra: &str, rules: &str) -> String {
    format!(
        "apiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\nmetadata: {{name: {name}, namespace: foo{extra}}}\nspec:\n  action: {action}\n{rules}\n---\n"
    )
}

// ------------------------------------------------------------ order

/// AZ-2: CUSTOM (shadow RBAC + ext_authz per provider, in name order),
/// then AUDIT (LOG), DENY, ALLOW; each only when a policy has the action.
#[test]
fn az2_filter_order() {
    let yaml = [
        ap("allow", "ALLOW", "", "  rules: [{}]"),
        ap("deny", "DENY", "", "  rules: [{}]"),
        ap("audit", "AUDIT", "", "  rules: [{}]"),
        ap(
            "custom-b",
            "CUSTOM",
            "",
            "  provider: {name: b}\n  rules: [{}]",
        ),
        ap(
            "custom-a",
            "CUSTOM",
            "",
            "  provider: {name: a}\n  rules: [{}]",
        ),
    ]
    .concat();
    let run = Run {
        mesh: mesh(GRPC_PROVIDERS),
        options: BuildOptions {
            multiple_custom_providers: true,
            ..Default::default()
        },
        ..Default::default()
    };
    let (f, notes) = run.http(&yaml);
    assert_eq!(
        summary(&f),
        [
            "envoy.filters.http.rbac -/DENY",
            "envoy.filters.http.ext_authz",
            "envoy.filters.http.rbac -/DENY",
            "envoy.filters.http.ext_authz",
            "envoy.filters.http.rbac LOG/-",
            "envoy.filters.http.rbac DENY/-",
            "envoy.filters.http.rbac ALLOW/-",
        ]
    );
    assert!(notes.is_empty(), "{notes:?}");
    // Each ext_authz filter is enabled by its own provider's shadow policies.
    for (i, p) in [(1, "a"), (3, "b")] {
        assert_eq!(
            f[i]["typedConfig"]["filterEnabledMetadata"]["value"]["stringMatch"]["prefix"],
            format!("istio-ext-authz-{p}")
        );
        assert_eq!(
            policy_names(&f[i - 1], "shadowRules"),
            [format!(
                "istio-ext-authz-{p}-ns[foo]-policy[custom-{p}]-rule[0]"
            )]
        );
    }
    // The same on TCP, with network filters.
    let (t, _) = run.tcp(&yaml);
    assert_eq!(
        summary(&t),
        [
            "envoy.filters.network.rbac -/DENY",
            "envoy.filters.network.ext_authz",
            "envoy.filters.network.rbac -/DENY",
            "envoy.filters.network.ext_authz",
            "envoy.filters.network.rbac LOG/-",
            "envoy.filters.network.rbac DENY/-",
            "envoy.filters.network.rbac ALLOW/-",
        ]
    );
    assert!(t.iter().all(|f| f["typedConfig"]["statPrefix"] == "tcp."));
    // Each group on its own.
    let rbac_only = Run {
        options: BuildOptions {
            actions: Actions::Rbac,
            multiple_custom_providers: true,
            ..Default::default()
        },
        mesh: mesh(GRPC_PROVIDERS),
        ..Default::default()
    };
    assert_eq!(rbac_only.http(&yaml).0, f[4..]);
    let custom_only = Run {
        options: BuildOptions {
            actions: Actions::Custom,
            multiple_custom_providers: true,
            ..Default::default()
        },
        mesh: mesh(GRPC_PROVIDERS),
        ..Default::default()
    };
    assert_eq!(custom_only.http(&yaml).0, f[..4]);
}

/// No policy, no filter (AZ-1 step 3: nothing to enforce).
#[test]
fn no_policies_no_filters() {
    let s = Snapshot::default();
    let run = Run::default();
    let built = build_http(&run.inputs(&[], &s));
    assert!(built.filters.is_empty() && built.notes.is_empty());
}

// ---------------------------------------------------------- names, AZ-4/5/6

/// AZ-6: one Envoy policy per rule, named by namespace, policy and rule
/// index; AZ-4: a policy without rules gets one that never matches.
#[test]
fn az4_az6_names_and_never_match() {
    let yaml = [
        ap(
            "two",
            "ALLOW",
            "",
            "  rules:\n  - {}\n  - to: [{operation: {ports: ['80']}}]",
        ),
        ap("none", "ALLOW", "", ""),
    ]
    .concat();
    let (f, _) = Run::default().http(&yaml);
    assert_eq!(
        policy_names(&f[0], "rules"),
        [
            "ns[foo]-policy[none]-rule[0]",
            "ns[foo]-policy[two]-rule[0]",
            "ns[foo]-policy[two]-rule[1]",
        ]
    );
    let never = &f[0]["typedConfig"]["rules"]["policies"]["ns[foo]-policy[none]-rule[0]"];
    assert_eq!(
        *never,
        json!({"permissions": [{"notRule": {"any": true}}], "principals": [{"notId": {"any": true}}]})
    );
    let all = &f[0]["typedConfig"]["rules"]["policies"]["ns[foo]-policy[two]-rule[0]"];
    assert_eq!(
        *all,
        json!({"permissions": [{"andRules": {"rules": [{"any": true}]}}],
               "principals": [{"andIds": {"ids": [{"any": true}]}}]})
    );
}

/// AZ-5: dry-run DENY policies are shadow rules counted under
/// `istio_dry_run_deny_`; without dry-run policies the prefix still reads
/// `istio_dry_run_allow_` (Istio reads the action of absent shadow rules).
#[test]
fn az5_shadow_stat_prefixes() {
    let dry = ", annotations: {istio.io/dry-run: 'true'}";
    let (f, _) = Run::default().http(&ap("d", "DENY", dry, "  rules: [{}]"));
    assert_eq!(summary(&f), ["envoy.filters.http.rbac -/DENY"]);
    assert_eq!(
        f[0]["typedConfig"]["shadowRulesStatPrefix"],
        "istio_dry_run_deny_"
    );
    let (f, _) = Run::default().http(&ap("d", "DENY", "", "  rules: [{}]"));
    assert_eq!(
        f[0]["typedConfig"]["shadowRulesStatPrefix"],
        "istio_dry_run_allow_"
    );
    let (f, _) = Run::default().http(&ap("a", "ALLOW", dry, "  rules: [{}]"));
    assert_eq!(summary(&f), ["envoy.filters.http.rbac -/ALLOW"]);
    assert_eq!(
        f[0]["typedConfig"]["shadowRulesStatPrefix"],
        "istio_dry_run_allow_"
    );
}

// -------------------------------------------------------------- CUSTOM

/// AZ-7: without the multiple-providers option, two providers make every
/// CUSTOM rule a DENY rule (fail closed), one filter per provider, no
/// ext_authz.
#[test]
fn az7_multiple_providers_need_the_option() {
    let yaml = [
        ap(
            "x",
            "CUSTOM",
            "",
            "  provider: {name: b}\n  rules: [{to: [{operation: {paths: [/x]}}]}]",
        ),
        ap("y", "CUSTOM", "", "  provider: {name: a}\n  rules: [{}]"),
    ]
    .concat();
    let run = Run {
        mesh: mesh(GRPC_PROVIDERS),
        ..Default::default()
    };
    let (f, notes) = run.http(&yaml);
    assert_eq!(
        summary(&f),
        [
            "envoy.filters.http.rbac DENY/-",
            "envoy.filters.http.rbac DENY/-"
        ]
    );
    assert_eq!(
        policy_names(&f[0], "rules"),
        ["istio-ext-authz-a-ns[foo]-policy[y]-rule[0]-deny-due-to-bad-CUSTOM-action"]
    );
    assert_eq!(f[1]["typedConfig"].get("shadowRulesStatPrefix"), None);
    assert_eq!(notes.len(), 1);
    assert!(notes[0].message.contains("2 providers"), "{notes:?}");
}

/// AZ-7: a CUSTOM policy whose provider is unknown, invalid or of another
/// kind denies what it matches, and says why.
#[test]
fn az7_unusable_providers_deny() {
    let cases = [
        ("missing", "extensionProviders: []", "available providers"),
        (
            "p",
            "extensionProviders:\n- name: p\n  envoyExtAuthzGrpc: {service: nowhere.foo.svc.cluster.local, port: 9000}",
            "could not find service",
        ),
        (
            "p",
            "extensionProviders:\n- name: p\n  envoyExtAuthzGrpc: {service: authz.foo.svc.cluster.local, port: 9000, timeout: 1x}",
            "unknown unit",
        ),
        (
            "p",
            "extensionProviders:\n- name: p\n  envoyExtAuthzHttp: {service: authz.foo.svc.cluster.local, port: 9000, includeRequestHeadersInCheck: ['*']}",
            "single wildcard",
        ),
        (
            "p",
            "extensionProviders:\n- name: p\n  envoyExtAuthzGrpc: {service: authz.foo.svc.cluster.local, port: 9000}\n- name: p\n  envoyExtAuthzGrpc: {service: authz.foo.svc.cluster.local, port: 9000}",
            "must be unique",
        ),
        (
            "P",
            "extensionProviders:\n- name: P\n  envoyExtAuthzGrpc: {service: authz.foo.svc.cluster.local, port: 9000}",
            "uppercase",
        ),
        (
            "p",
            "extensionProviders:\n- name: p\n  zipkin: {service: zipkin.istio-system.svc.cluster.local, port: 9411}",
            "available providers",
        ),
    ];
    for (provider, m, why) in cases {
        let run = Run {
            mesh: mesh(m),
            ..Default::default()
        };
        let yaml = ap(
            "x",
            "CUSTOM",
            "",
            &format!("  provider: {{name: {provider}}}\n  rules: [{{}}]"),
        );
        for (f, notes) in [run.http(&yaml), run.tcp(&yaml)] {
            assert_eq!(summary(&f).len(), 1, "{why}");
            assert!(summary(&f)[0].ends_with("rbac DENY/-"), "{why}");
            assert_eq!(
                policy_names(&f[0], "rules"),
                [format!(
                    "istio-ext-authz-{provider}-ns[foo]-policy[x]-rule[0]-deny-due-to-bad-CUSTOM-action"
                )]
            );
            assert!(notes[0].message.contains(why), "{why}: {notes:?}");
        }
    }
}

/// AZ-7: HTTP providers have no TCP form: no filters on TCP, with a note.
#[test]
fn az7_http_provider_skipped_on_tcp() {
    let run = Run {
        mesh: mesh(GRPC_PROVIDERS),
        ..Default::default()
    };
    let yaml = ap("x", "CUSTOM", "", "  provider: {name: web}\n  rules: [{}]");
    let (f, notes) = run.tcp(&yaml);
    assert!(f.is_empty());
    assert_eq!(notes[0].subject, "provider web");
    let (f, _) = run.http(&yaml);
    assert_eq!(
        summary(&f),
        [
            "envoy.filters.http.rbac -/DENY",
            "envoy.filters.http.ext_authz"
        ]
    );
    assert_eq!(
        f[1]["typedConfig"]["httpService"]["serverUri"],
        json!({"uri": "http://authz.foo.svc.cluster.local",
               "cluster": "outbound|9000||authz.foo.svc.cluster.local", "timeout": "600s"})
    );
}

// --------------------------------------------------------- rule model

/// AZ-12: each `from` is a principal and each `to` a permission; `when`
/// keys join the side they describe, after the entry's own fields.
#[test]
fn az12_when_keys_split_between_sides() {
    let yaml = ap(
        "x",
        "ALLOW",
        "",
        "  rules:
  - from: [{source: {namespaces: [a]}}, {source: {ipBlocks: [1.2.3.4]}}]
    to: [{operation: {ports: ['80']}}]
    when:
    - {key: destination.port, values: ['81']}
    - {key: source.ip, values: [10.0.0.0/8]}",
    );
    let (f, _) = Run::default().http(&yaml);
    let p = only_policy(&f);
    assert_eq!(
        p["permissions"],
        json!([{"andRules": {"rules": [
            {"orRules": {"rules": [{"destinationPort": 80}]}},
            {"orRules": {"rules": [{"destinationPort": 81}]}}
        ]}}])
    );
    let src_ip = json!({"orIds": {"ids": [{"directRemoteIp": {"addressPrefix": "10.0.0.0", "prefixLen": 8}}]}});
    assert_eq!(p["principals"].as_array().unwrap().len(), 2);
    assert_eq!(p["principals"][0]["andIds"]["ids"][1], src_ip);
    assert_eq!(
        p["principals"][1]["andIds"]["ids"],
        json!([{"orIds": {"ids": [{"directRemoteIp": {"addressPrefix": "1.2.3.4", "prefixLen": 32}}]}}, src_ip])
    );
}

/// AZ-11: values OR, `notValues` is `not(or(...))`, both must hold.
#[test]
fn az11_values_and_not_values() {
    let yaml = ap(
        "x",
        "ALLOW",
        "",
        "  rules: [{to: [{operation: {methods: [GET, HEAD], notMethods: [PUT]}}]}]",
    );
    let (f, _) = Run::default().http(&yaml);
    let get = |m: &str| json!({"header": {"name": ":method", "stringMatch": {"exact": m}}});
    assert_eq!(
        only_policy(&f)["permissions"][0]["andRules"]["rules"],
        json!([
            {"orRules": {"rules": [get("GET"), get("HEAD")]}},
            {"notRule": {"orRules": {"rules": [get("PUT")]}}}
        ])
    );
}

/// AZ-20 table: `serviceAccounts` (bare name in the policy's namespace),
/// `trustDomains` and `requestPrincipals` forms.
#[test]
fn az20_identity_forms() {
    let yaml = ap(
        "x",
        "ALLOW",
        "",
        "  rules:
  - from: [{source: {serviceAccounts: [sa.x, other/sa]}}]
  - from: [{source: {trustDomains: ['*', 'td.*', example.com]}}]
  - from: [{source: {requestPrincipals: [https://issuer.example.com/sub, '*/sub', 'iss/*', 'iss*']}}]",
    );
    let (f, _) = Run::default().http(&yaml);
    let pol = &f[0]["typedConfig"]["rules"]["policies"];
    let name = |sm: Value| json!({"authenticated": {"principalName": sm}});
    assert_eq!(
        pol["ns[foo]-policy[x]-rule[0]"]["principals"][0]["andIds"]["ids"][0]["orIds"]["ids"],
        json!([
            name(json!({"safeRegex": {"regex": r"spiffe://.+/ns/foo/(.+/|)sa/sa\.x(/.+)?"}})),
            name(json!({"safeRegex": {"regex": "spiffe://.+/ns/other/(.+/|)sa/sa(/.+)?"}})),
        ])
    );
    assert_eq!(
        pol["ns[foo]-policy[x]-rule[1]"]["principals"][0]["andIds"]["ids"][0]["orIds"]["ids"],
        json!([
            name(json!({"prefix": "spiffe://"})),
            name(json!({"safeRegex": {"regex": r"spiffe://td\.[^/]*/.*"}})),
            name(json!({"prefix": "spiffe://example.com/"})),
        ])
    );
    let claim = |c: &str, sm: Value| {
        json!({"metadata": {"filter": "envoy.filters.http.jwt_authn",
            "path": [{"key": "payload"}, {"key": c}], "value": {"stringMatch": sm}}})
    };
    let both =
        |iss: Value, sub: Value| json!({"andIds": {"ids": [claim("iss", iss), claim("sub", sub)]}});
    let any = json!({"safeRegex": {"regex": ".+"}});
    assert_eq!(
        pol["ns[foo]-policy[x]-rule[2]"]["principals"][0]["andIds"]["ids"][0]["orIds"]["ids"],
        json!([
            // Split at the last `/`: the issuer may be a URL.
            both(
                json!({"exact": "https://issuer.example.com"}),
                json!({"exact": "sub"})
            ),
            both(any.clone(), json!({"exact": "sub"})),
            both(json!({"exact": "iss"}), any.clone()),
            both(json!({"prefix": "iss"}), any.clone()),
        ])
    );
}

/// AZ-31: on TCP an ALLOW rule using any HTTP-only field is dropped
/// whole, with a note naming it; the other rules stay.
#[test]
fn az31_allow_drops_http_rules_on_tcp() {
    let yaml = ap(
        "x",
        "ALLOW",
        "",
        "  rules:
  - to: [{operation: {ports: ['80'], notPaths: [/admin]}}]
  - to: [{operation: {ports: ['81']}}]
  - when: [{key: 'request.auth.claims[group]', values: [admin]}]",
    );
    let (f, notes) = Run::default().tcp(&yaml);
    assert_eq!(policy_names(&f[0], "rules"), ["ns[foo]-policy[x]-rule[1]"]);
    let skipped: Vec<&str> = notes.iter().map(|n| n.subject.as_str()).collect();
    assert_eq!(
        skipped,
        ["ns[foo]-policy[x]-rule[0]", "ns[foo]-policy[x]-rule[2]"]
    );
    // The same policy on HTTP keeps every rule.
    let (f, notes) = Run::default().http(&yaml);
    assert_eq!(policy_names(&f[0], "rules").len(), 3);
    assert!(notes.is_empty());
}

/// AZ-32: on TCP a DENY rule loses its HTTP-only conditions and keeps the
/// rest; a rule of HTTP-only conditions denies every connection (the
/// example of the rule: methods + ports ⇒ all TCP to the port denied).
#[test]
fn az32_deny_widens_on_tcp() {
    let yaml = ap(
        "x",
        "DENY",
        "",
        "  rules:
  - to: [{operation: {methods: [GET], ports: ['8080']}}]
  - from: [{source: {requestPrincipals: ['*']}}]
    when: [{key: 'request.headers[x-a]', values: [b]}]",
    );
    let (f, notes) = Run::default().tcp(&yaml);
    let pol = &f[0]["typedConfig"]["rules"]["policies"];
    assert_eq!(
        pol["ns[foo]-policy[x]-rule[0]"]["permissions"],
        json!([{"andRules": {"rules": [{"orRules": {"rules": [{"destinationPort": 8080}]}}]}}])
    );
    assert_eq!(
        pol["ns[foo]-policy[x]-rule[1]"],
        json!({"permissions": [{"andRules": {"rules": [{"any": true}]}}],
               "principals": [{"andIds": {"ids": [{"any": true}]}}]})
    );
    let said: Vec<(&str, &str)> = notes
        .iter()
        .map(|n| (n.subject.as_str(), n.message.as_str()))
        .collect();
    let wider = "left out a condition on TCP filter chain, the rule is wider";
    assert_eq!(
        said,
        [
            (
                "ns[foo]-policy[x]-rule[0]",
                &*format!("{wider}: \":method\" is HTTP only")
            ),
            (
                "ns[foo]-policy[x]-rule[1]",
                &*format!("{wider}: \"request.auth.principal\" is HTTP only")
            ),
            (
                "ns[foo]-policy[x]-rule[1]",
                &*format!("{wider}: \"request.headers[x-a]\" is HTTP only")
            ),
        ]
    );
}

/// AZ-21: an unknown `when` key (only in values built by hand: validation
/// rejects it) fails closed: the ALLOW rule is skipped, the DENY rule
/// loses the condition and denies more.
#[test]
fn az21_unknown_key_fails_closed() {
    let unknown = mesh_model::security::Condition {
        key: "destination.labels[app]".into(),
        values: vec!["x".into()],
        not_values: vec![],
    };
    for (action, want) in [("ALLOW", None), ("DENY", Some("DENY/-"))] {
        let yaml = ap(
            "x",
            action,
            "",
            "  rules: [{to: [{operation: {ports: ['80']}}]}, {}]",
        );
        let s = snapshot(&yaml);
        let mut p = (*policies(&s)[0]).clone();
        p.spec.rules[0].when.push(unknown.clone());
        let run = Run::default();
        let built = build_http(&run.inputs(&[Arc::new(p)], &s));
        let f: Vec<Value> = built.filters.iter().map(to_json).collect();
        let pol = &f[0]["typedConfig"]["rules"]["policies"];
        match want {
            None => {
                assert_eq!(policy_names(&f[0], "rules"), ["ns[foo]-policy[x]-rule[1]"]);
                assert!(built.notes[0].message.contains("skipped rule"));
            }
            Some(w) => {
                assert!(summary(&f)[0].ends_with(w));
                assert_eq!(
                    pol["ns[foo]-policy[x]-rule[0]"]["permissions"],
                    json!([{"andRules": {"rules": [{"orRules": {"rules": [{"destinationPort": 80}]}}]}}])
                );
                assert!(built.notes[0].message.contains("unknown attribute"));
            }
        }
    }
}

/// Identities read from filter state (HBONE): the same string matchers
/// under `io.istio.peer_principal`.
#[test]
fn peer_identity_from_filter_state() {
    let yaml = ap(
        "x",
        "ALLOW",
        "",
        "  rules: [{from: [{source: {principals: [a/ns/b/sa/c]}}]}]",
    );
    let run = Run {
        options: BuildOptions {
            use_filter_state: true,
            ..Default::default()
        },
        ..Default::default()
    };
    let (f, _) = run.http(&yaml);
    assert_eq!(
        only_policy(&f)["principals"][0]["andIds"]["ids"][0]["orIds"]["ids"][0],
        json!({"filterState": {"key": "io.istio.peer_principal",
                               "stringMatch": {"exact": "spiffe://a/ns/b/sa/c"}}})
    );
}

/// AZ-23, as Istio does it: `when` conditions are shared by the rule's
/// principals and migrated once per `from` entry, so with two `from`
/// entries an aliased `source.principal` is expanded twice (same meaning,
/// values repeated).
#[test]
fn az23_shared_when_principal_migrated_per_from() {
    let yaml = ap(
        "x",
        "ALLOW",
        "",
        "  rules:
  - from: [{source: {namespaces: [a]}}, {source: {namespaces: [b]}}]
    when: [{key: source.principal, values: [cluster.local/ns/a/sa/s]}]",
    );
    let run = Run {
        bundle: TrustDomainBundle::new("td1", &["cluster.local".to_string()]),
        ..Default::default()
    };
    let (f, _) = run.http(&yaml);
    let p = only_policy(&f);
    let exact = |s: &str| json!({"authenticated": {"principalName": {"exact": s}}});
    let td1 = exact("spiffe://td1/ns/a/sa/s");
    let local = exact("spiffe://cluster.local/ns/a/sa/s");
    for i in 0..2 {
        assert_eq!(
            p["principals"][i]["andIds"]["ids"][1]["orIds"]["ids"],
            json!([td1, local, td1, local])
        );
    }
    // With one `from` entry, once.
    let yaml = yaml.replace(", {source: {namespaces: [b]}}", "");
    let (f, _) = run.http(&yaml);
    assert_eq!(
        only_policy(&f)["principals"][0]["andIds"]["ids"][1]["orIds"]["ids"],
        json!([td1, local])
    );
}

/// AZ-20: `experimental.envoy.filters.*` values; `[v]` matches a list
/// element.
#[test]
fn az20_envoy_filter_metadata() {
    let yaml = ap(
        "x",
        "ALLOW",
        "",
        "  rules: [{when: [{key: 'experimental.envoy.filters.f[k]', values: ['[a]', b]}]}]",
    );
    let (f, _) = Run::default().http(&yaml);
    assert_eq!(
        only_policy(&f)["permissions"][0]["andRules"]["rules"][0],
        json!({"metadata": {"filter": "envoy.filters.f", "path": [{"key": "k"}],
        "value": {"orMatch": {"valueMatchers": [
            {"listMatch": {"oneOf": {"stringMatch": {"exact": "a"}}}},
            {"stringMatch": {"exact": "b"}}
        ]}}}})
    );
}

#[test]
fn registry_lookup_by_host() {
    let s = snapshot("");
    assert_eq!(s.service_namespaces("authz.foo.svc.cluster.local"), ["foo"]);
    assert!(
        s.service_namespaces("authz.bar.svc.cluster.local")
            .is_empty()
    );
}
