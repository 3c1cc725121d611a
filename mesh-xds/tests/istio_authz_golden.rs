//! Istio's own AuthorizationPolicy → Envoy filter goldens
//! (`pilot/pkg/security/authz/builder/testdata`, read from
//! `../shared/corpus/istio` relative to the repository root), one test per
//! case of `authz-golden-index.md`, with the inputs that index states.
//!
//! Each golden file is parsed into its proto type (an `HttpFilter` for
//! `http/`, a listener `Filter` for `tcp/`) and compared with our filter as
//! protobuf JSON: map order does not matter, list order does.

// Tests read the corpus from disk; the library itself never does.
#![allow(clippy::disallowed_methods)]

mod common;

use envoy_types::pb::envoy::config::listener::v3::Filter;
use envoy_types::pb::envoy::extensions::filters::network::http_connection_manager::v3::HttpFilter;
use mesh_model::labels::Labels;
use mesh_model::wire::mesh::MeshConfig;
use mesh_model::{LoadOptions, load};
use mesh_xds::authz::{
    Actions, AuthzInputs, BuildOptions, Built, TrustDomainBundle, build_http, build_tcp,
};
use mesh_xds::json::{from_json, to_json};
use prost::{Message, Name};
use serde_json::Value;
use std::path::{Path, PathBuf};

fn testdata(corpus: &Path) -> PathBuf {
    corpus.join("pilot/pkg/security/authz/builder/testdata")
}

/// The registry: one service, `my-custom-ext-authz.foo.svc.cluster.local`
/// in namespace `foo`.
const REGISTRY: &str = "
apiVersion: v1
kind: Service
metadata: {name: my-custom-ext-authz, namespace: foo}
spec:
  ports:
  - {name: grpc, port: 9000}
";

/// Provider `default`, gRPC, `ns/host` service form.
const MESH_GRPC: &str = "
extensionProviders:
- name: default
  envoyExtAuthzGrpc:
    service: foo/my-custom-ext-authz.foo.svc.cluster.local
    port: 9000
    timeout: 0.002s
    failOpen: true
    statusOnError: '403'
    includeRequestBodyInCheck: {maxRequestBytes: 4096, allowPartialMessage: true}
";

/// Provider `default`, gRPC, bare host, no timeout.
const MESH_GRPC_NO_NAMESPACE: &str = "
extensionProviders:
- name: default
  envoyExtAuthzGrpc:
    service: my-custom-ext-authz.foo.svc.cluster.local
    port: 9000
    failOpen: true
    statusOnError: '403'
";

/// Provider `default`, HTTP, every field.
const MESH_HTTP: &str = "
extensionProviders:
- name: default
  envoyExtAuthzHttp:
    service: foo/my-custom-ext-authz.foo.svc.cluster.local
    port: 9000
    timeout: 10s
    failOpen: true
    statusOnError: '403'
    pathPrefix: /check
    includeRequestHeadersInCheck: [x-custom-id, x-prefix-*, '*-suffix']
    includeHeadersInCheck: [should-not-include-when-IncludeRequestHeadersInCheck-is-set]
    includeAdditionalHeadersInCheck: {x-header-1: value-1, x-header-2: value-2}
    includeRequestBodyInCheck: {maxRequestBytes: 2048, allowPartialMessage: true, packAsBytes: true}
    headersToUpstreamOnAllow: [Authorization, x-prefix-*, '*-suffix']
    headersToDownstreamOnDeny: [Set-cookie, x-prefix-*, '*-suffix']
    headersToDownstreamOnAllow: [Set-cookie, x-prefix-*, '*-suffix']
";

/// Provider `default`, HTTP, invalid: unknown service, port out of range,
/// path prefix without `/`, unknown status.
const MESH_INVALID: &str = "
extensionProviders:
- name: default
  envoyExtAuthzHttp:
    service: foo/my-custom-ext-authz
    port: 999999
    pathPrefix: check
    statusOnError: '999'
";

/// One golden case.
struct Case {
    /// The `-in.yaml` file.
    input: &'static str,
    /// The MeshConfig; given, only CUSTOM policies are built (the
    /// harness's `IsCustomBuilder`), else only ALLOW/DENY/AUDIT.
    mesh: Option<&'static str>,
    /// The trust-domain bundle `(local, aliases)`.
    bundle: Option<(&'static str, &'static [&'static str])>,
    /// The expected filters, in order.
    want: &'static [&'static str],
}

const fn case(input: &'static str, want: &'static [&'static str]) -> Case {
    Case {
        input,
        mesh: None,
        bundle: None,
        want,
    }
}

/// Builds the case's filters, or `None` when the corpus is absent.
fn build<F>(
    dir: &str,
    c: &Case,
    f: impl Fn(&AuthzInputs<'_>) -> Built<F>,
) -> Option<(PathBuf, Vec<F>)> {
    let root = testdata(&common::istio_corpus()?).join(dir);
    let text = std::fs::read_to_string(root.join(c.input)).expect("the input is readable");
    let loaded = load(
        &[(c.input, text.as_str()), ("registry.yaml", REGISTRY)],
        &LoadOptions::default(),
    );
    assert!(!loaded.has_errors(), "{:#?}", loaded.diagnostics);
    // The workload: namespace foo, labels app=httpbin, version=v1; the
    // policies that apply are those of foo with no selector or a selector
    // the labels satisfy (no root-namespace policies in the inputs).
    let labels: Labels = [("app", "httpbin"), ("version", "v1")]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let policies: Vec<_> = loaded
        .snapshot
        .authorization_policies()
        .filter(|p| p.meta.namespace() == "foo")
        .filter(|p| p.spec.target_refs.is_empty())
        .filter(|p| p.spec.selector.as_ref().is_none_or(|s| s.matches(&labels)))
        .cloned()
        .collect();
    assert!(!policies.is_empty(), "no policy applies to the workload");
    let mesh = c
        .mesh
        .map(|m| MeshConfig::from_yaml(m).expect("the MeshConfig parses"))
        .unwrap_or_default();
    // The harness's default bundle is empty; ours always holds the local
    // trust domain. `cluster.local` alone gives the same output for every
    // input without a bundle (no principal names another trust domain).
    let bundle = c
        .bundle
        .map(|(local, aliases)| {
            TrustDomainBundle::new(
                local,
                &aliases.iter().map(|a| a.to_string()).collect::<Vec<_>>(),
            )
        })
        .unwrap_or_default();
    let inputs = AuthzInputs {
        policies: &policies,
        trust_domains: &bundle,
        mesh: &mesh,
        registry: &loaded.snapshot,
        options: BuildOptions {
            actions: if c.mesh.is_some() {
                Actions::Custom
            } else {
                Actions::Rbac
            },
            ..BuildOptions::default()
        },
    };
    let built = f(&inputs);
    Some((root, built.filters))
}

/// A golden file as canonical protobuf JSON of type `M`.
fn golden<M: Message + Name + Default>(path: &Path) -> Value {
    let text = std::fs::read_to_string(path).expect("the golden file is readable");
    let yaml: serde_yaml::Value = serde_yaml::from_str(&text).expect("the golden file is YAML");
    let json = serde_json::to_value(yaml).expect("the golden YAML is JSON");
    let m: M = from_json(&json).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    to_json(&m)
}

fn compare<M: Message + Name + Default>(root: &Path, got: &[M], want: &[&str]) {
    let got: Vec<Value> = got.iter().map(to_json).collect();
    let want_json: Vec<Value> = want.iter().map(|w| golden::<M>(&root.join(w))).collect();
    assert_eq!(
        got.len(),
        want.len(),
        "got {} filters, want {}: {}",
        got.len(),
        want.len(),
        serde_json::to_string_pretty(&got).unwrap()
    );
    for ((g, w), name) in got.iter().zip(&want_json).zip(want) {
        assert!(
            g == w,
            "{name} differs\n--- got\n{}\n--- want\n{}",
            serde_json::to_string_pretty(g).unwrap(),
            serde_json::to_string_pretty(w).unwrap()
        );
    }
}

fn http(c: Case) {
    if let Some((root, got)) = build("http", &c, build_http) {
        compare::<HttpFilter>(&root, &got, c.want);
    }
}

fn tcp(c: Case) {
    if let Some((root, got)) = build("tcp", &c, build_tcp) {
        compare::<Filter>(&root, &got, c.want);
    }
}

// ---------------------------------------------------------------- HTTP

/// AZ-4: `rules: [{}]` matches everything.
#[test]
fn http_allow_empty_rule() {
    http(case(
        "allow-empty-rule-in.yaml",
        &["allow-empty-rule-out.yaml"],
    ));
}

/// AZ-10..AZ-12, AZ-20: every source, operation and `when` field.
#[test]
fn http_allow_full_rule() {
    http(case(
        "allow-full-rule-in.yaml",
        &["allow-full-rule-out.yaml"],
    ));
}

/// AZ-4: an ALLOW policy without rules never matches.
#[test]
fn http_allow_nil_rule() {
    http(case("allow-nil-rule-in.yaml", &["allow-nil-rule-out.yaml"]));
}

/// AZ-20: path forms and templates.
#[test]
fn http_allow_path() {
    http(case("allow-path-in.yaml", &["allow-path-out.yaml"]));
}

/// AZ-1: AUDIT is Envoy RBAC `LOG`.
#[test]
fn http_audit_full_rule() {
    http(case(
        "audit-full-rule-in.yaml",
        &["audit-full-rule-out.yaml"],
    ));
}

/// AZ-7: gRPC provider named by bare host, default timeout.
#[test]
fn http_custom_grpc_provider_no_namespace() {
    http(Case {
        mesh: Some(MESH_GRPC_NO_NAMESPACE),
        ..case(
            "custom-simple-http-in.yaml",
            &[
                "custom-grpc-provider-no-namespace-out1.yaml",
                "custom-grpc-provider-no-namespace-out2.yaml",
            ],
        )
    });
}

/// AZ-7: gRPC provider named `ns/host`.
#[test]
fn http_custom_grpc_provider() {
    http(Case {
        mesh: Some(MESH_GRPC),
        ..case(
            "custom-simple-http-in.yaml",
            &[
                "custom-grpc-provider-out1.yaml",
                "custom-grpc-provider-out2.yaml",
            ],
        )
    });
}

/// AZ-7: HTTP provider with every setting.
#[test]
fn http_custom_http_provider() {
    http(Case {
        mesh: Some(MESH_HTTP),
        ..case(
            "custom-simple-http-in.yaml",
            &[
                "custom-http-provider-out1.yaml",
                "custom-http-provider-out2.yaml",
            ],
        )
    });
}

/// AZ-7: two providers without the multiple-providers option: DENY.
#[test]
fn http_custom_bad_multiple_providers() {
    http(Case {
        mesh: Some(MESH_HTTP),
        ..case(
            "custom-bad-multiple-providers-in.yaml",
            &[
                "custom-bad-multiple-providers-out1.yaml",
                "custom-bad-multiple-providers-out2.yaml",
            ],
        )
    });
}

/// AZ-7: an invalid provider: DENY (fail closed).
#[test]
fn http_custom_bad_invalid_config() {
    http(Case {
        mesh: Some(MESH_INVALID),
        ..case("custom-simple-http-in.yaml", &["custom-bad-out.yaml"])
    });
}

/// AZ-2: DENY filter before ALLOW filter.
#[test]
fn http_deny_and_allow() {
    http(case(
        "deny-and-allow-in.yaml",
        &["deny-and-allow-out1.yaml", "deny-and-allow-out2.yaml"],
    ));
}

/// AZ-4: DENY `rules: [{}]` denies everything.
#[test]
fn http_deny_empty_rule() {
    http(case(
        "deny-empty-rule-in.yaml",
        &["deny-empty-rule-out.yaml"],
    ));
}

/// AZ-5: dry-run policies are shadow rules only.
#[test]
fn http_dry_run_allow_and_deny() {
    http(case(
        "dry-run-allow-and-deny-in.yaml",
        &[
            "dry-run-allow-and-deny-out1.yaml",
            "dry-run-allow-and-deny-out2.yaml",
        ],
    ));
}

/// AZ-5.
#[test]
fn http_dry_run_allow() {
    http(case("dry-run-allow-in.yaml", &["dry-run-allow-out.yaml"]));
}

/// AZ-5: enforced and dry-run ALLOW policies share one filter.
#[test]
fn http_dry_run_mix() {
    http(case("dry-run-mix-in.yaml", &["dry-run-mix-out.yaml"]));
}

/// AZ-3, AZ-6: all ALLOW policies of the workload in one filter.
#[test]
fn http_multiple_policies() {
    http(case(
        "multiple-policies-in.yaml",
        &["multiple-policies-out.yaml"],
    ));
}

/// AZ-12: `from` → principals, `to` → permissions, `when` split between.
#[test]
fn http_single_policy() {
    http(case("single-policy-in.yaml", &["single-policy-out.yaml"]));
}

/// AZ-23: one alias.
#[test]
fn http_trust_domain_one_alias() {
    http(Case {
        bundle: Some(("td1", &["cluster.local"])),
        ..case(
            "simple-policy-td-aliases-in.yaml",
            &["simple-policy-td-aliases-out.yaml"],
        )
    });
}

/// AZ-23: several aliases, bundle order.
#[test]
fn http_trust_domain_multiple_aliases() {
    http(Case {
        bundle: Some(("td1", &["cluster.local", "some-td"])),
        ..case(
            "simple-policy-multiple-td-aliases-in.yaml",
            &["simple-policy-multiple-td-aliases-out.yaml"],
        )
    });
}

/// AZ-23: `*` trust domains are not expanded; `*suffix` ones are kept.
#[test]
fn http_trust_domain_wildcard_in_principal() {
    http(Case {
        bundle: Some(("td1", &["foobar"])),
        ..case(
            "simple-policy-principal-with-wildcard-in.yaml",
            &["simple-policy-principal-with-wildcard-out.yaml"],
        )
    });
}

/// AZ-23: `source.principal` is expanded too.
#[test]
fn http_trust_domain_aliases_in_source_principal() {
    http(Case {
        bundle: Some(("new-td", &["old-td", "some-trustdomain"])),
        ..case(
            "td-aliases-source-principal-in.yaml",
            &["td-aliases-source-principal-out.yaml"],
        )
    });
}

/// AZ-20 table: `trustDomains` / `notTrustDomains`.
#[test]
fn http_trust_domains_field() {
    http(case("trust-domains-in.yaml", &["trust-domains-out.yaml"]));
}

/// The harness runs the HTTP table a second time against `extended-*`
/// files with the same inputs: every output golden but the orphan
/// `allow-host-before-111` has an `extended-` twin holding the same filter.
#[test]
fn http_extended_goldens_equal_their_base() {
    let Some(c) = common::istio_corpus() else {
        return;
    };
    let root = testdata(&c).join("http");
    let mut names: Vec<String> = std::fs::read_dir(&root)
        .expect("the http testdata is readable")
        .map(|e| {
            e.expect("a directory entry")
                .file_name()
                .to_string_lossy()
                .into_owned()
        })
        .collect();
    names.sort();
    let bases: Vec<&String> = names
        .iter()
        .filter(|n| !n.starts_with("extended-") && n.contains("-out"))
        .filter(|n| !n.starts_with("allow-host-before-111"))
        .collect();
    let extended = names.iter().filter(|n| n.starts_with("extended-")).count();
    assert_eq!(extended, bases.len(), "one extended twin per output golden");
    for base in bases {
        let twin = format!("extended-{base}");
        assert_eq!(
            golden::<HttpFilter>(&root.join(&twin)),
            golden::<HttpFilter>(&root.join(base)),
            "{twin}"
        );
    }
}

// ----------------------------------------------------------------- TCP

/// AZ-31: ALLOW rules using HTTP-only fields are dropped whole on TCP.
#[test]
fn tcp_allow_both_http_tcp() {
    tcp(case(
        "allow-both-http-tcp-in.yaml",
        &["allow-both-http-tcp-out.yaml"],
    ));
}

/// AZ-31: no ALLOW rule survives: an empty ALLOW filter denies all TCP.
#[test]
fn tcp_allow_only_http() {
    tcp(case(
        "allow-only-http-in.yaml",
        &["allow-only-http-out.yaml"],
    ));
}

/// AZ-32: AUDIT keeps its rules and drops the HTTP-only conditions.
#[test]
fn tcp_audit_both_http_tcp() {
    tcp(case(
        "audit-both-http-tcp-in.yaml",
        &["audit-both-http-tcp-out.yaml"],
    ));
}

/// AZ-7, AZ-32: CUSTOM on TCP with a gRPC provider.
#[test]
fn tcp_custom_both_http_tcp() {
    tcp(Case {
        mesh: Some(MESH_GRPC),
        ..case(
            "custom-both-http-tcp-in.yaml",
            &[
                "custom-both-http-tcp-out1.yaml",
                "custom-both-http-tcp-out2.yaml",
            ],
        )
    });
}

/// AZ-7: an HTTP provider has no TCP form: no filters.
#[test]
fn tcp_custom_only_http() {
    tcp(Case {
        mesh: Some(MESH_HTTP),
        ..case("custom-only-http-in.yaml", &[])
    });
}

/// AZ-32: DENY keeps every rule; all-HTTP rules deny every connection.
#[test]
fn tcp_deny_both_http_tcp() {
    tcp(case(
        "deny-both-http-tcp-in.yaml",
        &["deny-both-http-tcp-out.yaml"],
    ));
}

/// AZ-5 on TCP.
#[test]
fn tcp_dry_run_mix() {
    tcp(case("dry-run-mix-in.yaml", &["dry-run-mix-out.yaml"]));
}
