//! Laws of the decision (AZ-1, AZ-5) over generated policies and requests,
//! the indexed engine against the naive reference evaluator, and the
//! compiled matchers against the regular expressions Istio generates for
//! Envoy (AZ-20).

use mesh_authz::engine::{Authz, AuthzOptions, Decision, Reason, Verdict};
use mesh_authz::matcher::{
    NamespaceMatch, PrincipalMatch, ServiceAccountMatch, StringMatch, TrustDomainMatch, regex_quote,
};
use mesh_authz::reference;
use mesh_authz::request::{JwtPayload, Request};
use mesh_model::labels::Labels;
use mesh_model::wire::mesh::MeshConfig;
use mesh_model::{LoadOptions, load};
use proptest::prelude::*;
use std::sync::Arc;

fn pick<T: Clone + std::fmt::Debug + 'static>(v: &[T]) -> impl Strategy<Value = T> + use<T> {
    proptest::sample::select(v.to_vec())
}

fn list(values: &'static [&'static str]) -> impl Strategy<Value = Vec<&'static str>> {
    proptest::sample::subsequence(values.to_vec(), 1..=values.len().min(2))
}

fn field(name: &'static str, values: &'static [&'static str]) -> impl Strategy<Value = String> {
    list(values).prop_map(move |v| {
        let quoted: Vec<String> = v.iter().map(|x| format!("{x:?}")).collect();
        format!("{name}: [{}]", quoted.join(", "))
    })
}

fn source() -> impl Strategy<Value = String> {
    prop_oneof![
        field(
            "principals",
            &[
                "cluster.local/ns/bar/sa/x",
                "*",
                "cluster.local/ns/foo/*",
                "*/sa/y"
            ]
        ),
        field("notPrincipals", &["cluster.local/ns/bar/sa/x", "*"]),
        field("namespaces", &["foo", "bar", "b*"]),
        field("notNamespaces", &["bar"]),
        field("requestPrincipals", &["iss/alice", "*", "iss/*"]),
        field("ipBlocks", &["10.0.0.0/8", "192.168.0.1"]),
        field("notIpBlocks", &["10.0.0.0/8"]),
        field("serviceAccounts", &["bar/x", "y"]),
    ]
    .prop_map(|f| format!("{{source: {{{f}}}}}"))
}

fn operation() -> impl Strategy<Value = String> {
    prop_oneof![
        field("methods", &["GET", "POST", "*"]),
        field("notMethods", &["GET"]),
        field("paths", &["/a", "/a/*", "*.png", "/b/{*}", "*"]),
        field("notPaths", &["/a", "/healthz"]),
        field("ports", &["80", "8080"]),
        field("hosts", &["example.com", "*.example.com"]),
    ]
    .prop_map(|f| format!("{{operation: {{{f}}}}}"))
}

fn condition() -> impl Strategy<Value = String> {
    let key = pick(&[
        "request.headers[x-env]",
        "source.ip",
        "destination.port",
        "request.auth.claims[group]",
        "source.namespace",
    ]);
    (key, any::<bool>()).prop_map(|(k, not)| {
        let v = match k {
            "source.ip" => "10.0.0.0/8",
            "destination.port" => "80",
            "source.namespace" => "bar",
            _ => "prod",
        };
        let which = if not { "notValues" } else { "values" };
        format!("{{key: {k:?}, {which}: [{v:?}]}}")
    })
}

fn rule() -> impl Strategy<Value = String> {
    (
        proptest::collection::vec(source(), 0..=2),
        proptest::collection::vec(operation(), 0..=2),
        proptest::collection::vec(condition(), 0..=1),
    )
        .prop_map(|(f, t, w)| {
            let mut parts = Vec::new();
            if !f.is_empty() {
                parts.push(format!("from: [{}]", f.join(", ")));
            }
            if !t.is_empty() {
                parts.push(format!("to: [{}]", t.join(", ")));
            }
            if !w.is_empty() {
                parts.push(format!("when: [{}]", w.join(", ")));
            }
            format!("{{{}}}", parts.join(", "))
        })
}

#[derive(Debug, Clone)]
struct Policy {
    namespace: &'static str,
    selector: Option<&'static str>,
    action: &'static str,
    dry_run: bool,
    rules: Option<Vec<String>>,
}

impl Policy {
    fn yaml(&self, name: &str) -> String {
        let mut s = format!(
            "apiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\nmetadata:\n  name: {name}\n  namespace: {}\n",
            self.namespace
        );
        if self.dry_run {
            s += "  annotations: {istio.io/dry-run: \"true\"}\n";
        }
        s += &format!("spec:\n  action: {}\n", self.action);
        if self.action == "CUSTOM" {
            s += "  provider: {name: ext}\n";
        }
        if let Some(sel) = self.selector {
            s += &format!("  selector: {{matchLabels: {sel}}}\n");
        }
        if let Some(r) = &self.rules {
            s += &format!("  rules: [{}]\n", r.join(", "));
        }
        s
    }
}

fn policy_with(
    action: impl Strategy<Value = &'static str>,
    dry: bool,
) -> impl Strategy<Value = Policy> {
    (
        pick(&["foo", "foo", "bar", "istio-system"]),
        pick(&[
            None,
            Some("{app: a}"),
            Some("{app: b}"),
            Some("{version: v1}"),
        ]),
        action,
        any::<bool>(),
        prop_oneof![
            1 => Just(None),
            6 => proptest::collection::vec(rule(), 1..=3).prop_map(Some),
        ],
    )
        .prop_map(move |(namespace, selector, action, d, rules)| Policy {
            namespace,
            selector,
            action,
            dry_run: dry && d && matches!(action, "ALLOW" | "DENY"),
            rules,
        })
}

fn policy() -> impl Strategy<Value = Policy> {
    policy_with(
        pick(&["ALLOW", "ALLOW", "DENY", "DENY", "AUDIT", "CUSTOM"]),
        true,
    )
}

fn request() -> impl Strategy<Value = Request> {
    (
        any::<bool>(),
        pick(&["GET", "POST", "PUT"]),
        pick(&["/a", "/a/b", "/x.png", "/b/c", "/healthz", "/"]),
        pick(&[80u16, 8080, 9090]),
        pick(&[
            None,
            Some("cluster.local/ns/bar/sa/x"),
            Some("cluster.local/ns/foo/sa/y"),
            Some("td/ns/b2/sa/z"),
        ]),
        pick(&[None, Some("prod"), Some("dev")]),
        pick(&["10.1.2.3", "192.168.0.1", "172.16.0.1"]),
        pick(&[None, Some("iss/alice"), Some("iss/bob")]),
        pick(&["example.com", "api.example.com", "other.org"]),
    )
        .prop_map(|(tcp, m, path, port, peer, env, ip, jwt, host)| {
            let mut r = if tcp {
                Request::tcp()
            } else {
                Request::http(m, path).with_host(host)
            };
            r = r.with_port(port).with_source_ip(ip.parse().unwrap());
            if let Some(p) = peer {
                r = r.with_peer_principal(p);
            }
            if let Some(e) = env {
                r = r.with_header("x-env", e);
            }
            if let Some(j) = jwt {
                let mut p = JwtPayload::from_request_principal(j);
                p.claims_mut().insert("group".into(), "prod".into());
                r = r.with_jwt(Arc::new(p));
            }
            r
        })
}

fn workload_labels() -> impl Strategy<Value = Labels> {
    pick(&[
        &[("app", "a"), ("version", "v1")][..],
        &[("app", "b")][..],
        &[][..],
    ])
    .prop_map(|l| {
        l.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    })
}

const REQUEST_AUTHN: &str = "apiVersion: security.istio.io/v1\nkind: RequestAuthentication\nmetadata: {name: jwt, namespace: istio-system}\nspec:\n  jwtRules: [{issuer: iss, jwks: '{\"keys\":[]}'}]\n";
const EXT_SERVICE: &str = "apiVersion: v1\nkind: Service\nmetadata: {name: ext, namespace: foo}\nspec:\n  ports: [{port: 9000}]\n";

fn compile(policies: &[Policy]) -> Authz {
    let mut docs = vec![REQUEST_AUTHN.to_string(), EXT_SERVICE.to_string()];
    docs.extend(
        policies
            .iter()
            .enumerate()
            .map(|(i, p)| p.yaml(&format!("p{i}"))),
    );
    let text = docs.join("---\n");
    let mesh: MeshConfig = serde_yaml::from_str(
        "extensionProviders: [{name: ext, envoyExtAuthzGrpc: {service: ext.foo.svc.cluster.local, port: 9000}}]",
    )
    .unwrap();
    let loaded = load(
        &[("gen.yaml", &text)],
        &LoadOptions {
            mesh: Some(mesh),
            ..LoadOptions::default()
        },
    );
    Authz::compile(&loaded.snapshot, &AuthzOptions::default())
}

fn summary(d: &Decision<'_>) -> (Verdict, Reason, Option<(String, usize)>) {
    (d.verdict, d.reason, d.rule.map(|r| (r.policy.id(), r.rule)))
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

    /// The index agrees with a naive scan of every policy of the mesh:
    /// verdict, reason, and the deciding policy and rule.
    #[test]
    fn index_agrees_with_naive_scan(
        policies in proptest::collection::vec(policy(), 0..8),
        labels in workload_labels(),
        reqs in proptest::collection::vec(request(), 1..6),
    ) {
        let authz = compile(&policies);
        let w = authz.workload("foo", &labels);
        for req in &reqs {
            let d = w.decide(req);
            let n = reference::decide(&authz, "foo", &labels, req, w.jwt_applies());
            prop_assert_eq!((d.verdict, d.reason, d.rule.map(|r| (r.policy.id(), r.rule))), (n.verdict, n.reason, n.rule));
            let (e, _) = w.explain(req);
            prop_assert_eq!(e, d);
        }
    }

    /// Adding a DENY policy never turns a denied request into an allowed one
    /// (AZ-1 step 2).
    #[test]
    fn adding_deny_never_allows(
        policies in proptest::collection::vec(policy(), 0..6),
        extra in policy_with(Just("DENY"), false),
        labels in workload_labels(),
        reqs in proptest::collection::vec(request(), 1..6),
    ) {
        let before = compile(&policies);
        let mut more = policies.clone();
        more.push(extra);
        let after = compile(&more);
        let (wb, wa) = (before.workload("foo", &labels), after.workload("foo", &labels));
        for req in &reqs {
            if wb.decide(req).verdict == Verdict::Deny {
                prop_assert_eq!(wa.decide(req).verdict, Verdict::Deny);
            }
        }
    }

    /// Adding an ALLOW policy never allows a request that a DENY policy
    /// denies (AZ-1: DENY before ALLOW).
    #[test]
    fn adding_allow_never_overrides_deny(
        policies in proptest::collection::vec(policy(), 0..6),
        extra in policy_with(Just("ALLOW"), false),
        labels in workload_labels(),
        reqs in proptest::collection::vec(request(), 1..6),
    ) {
        let before = compile(&policies);
        let mut more = policies.clone();
        more.push(extra);
        let after = compile(&more);
        let (wb, wa) = (before.workload("foo", &labels), after.workload("foo", &labels));
        for req in &reqs {
            let b = wb.decide(req);
            if matches!(b.reason, Reason::DenyMatched | Reason::BadCustomProvider) {
                prop_assert_eq!(summary(&wa.decide(req)), summary(&b));
            }
        }
    }

    /// Dry-run policies never change a decision (AZ-5).
    #[test]
    fn dry_run_never_changes_a_decision(
        policies in proptest::collection::vec(policy_with(pick(&["ALLOW", "DENY", "AUDIT", "CUSTOM"]), false), 0..6),
        dry in proptest::collection::vec(policy_with(pick(&["ALLOW", "DENY"]), false), 1..4),
        labels in workload_labels(),
        reqs in proptest::collection::vec(request(), 1..6),
    ) {
        let before = compile(&policies);
        let mut more = policies.clone();
        more.extend(dry.into_iter().map(|mut p| { p.dry_run = true; p }));
        let after = compile(&more);
        let (wb, wa) = (before.workload("foo", &labels), after.workload("foo", &labels));
        for req in &reqs {
            prop_assert_eq!(summary(&wa.decide(req)), summary(&wb.decide(req)));
        }
    }
}

/// The regex Istio hands Envoy, fully anchored as Envoy's `safe_regex`
/// matches.
fn full(re: &str) -> regex::Regex {
    regex::Regex::new(&format!("^(?:{re})$")).unwrap()
}

/// Istio's `StringMatcherWithPrefix(v, "spiffe://")` as a regex.
fn principal_regex(v: &str) -> String {
    if v == "*" {
        ".+".into()
    } else if let Some(s) = v.strip_prefix('*') {
        format!("spiffe://.*{}", regex_quote(s))
    } else if let Some(p) = v.strip_suffix('*') {
        format!("spiffe://{}.*", regex_quote(p))
    } else {
        format!("spiffe://{}", regex_quote(v))
    }
}

/// Istio's `srcTrustDomainGenerator` as a regex.
fn trust_domain_regex(v: &str) -> String {
    match v.split_once('*') {
        _ if v == "*" => "spiffe://.*".into(),
        None => format!("spiffe://{}/.*", regex_quote(v)),
        Some((a, b)) => format!("spiffe://{}[^/]*{}/.*", regex_quote(a), regex_quote(b)),
    }
}

fn segment() -> impl Strategy<Value = String> {
    "[a-c]{0,2}(-[a-c])?"
}

fn uri() -> impl Strategy<Value = String> {
    (
        segment(),
        pick(&["ns", "sa", "x"]),
        segment(),
        pick(&["sa", "ns"]),
        segment(),
        proptest::option::of(segment()),
    )
        .prop_map(|(td, k1, ns, k2, sa, extra)| {
            let mut u = format!("spiffe://{td}/{k1}/{ns}/{k2}/{sa}");
            if let Some(e) = extra {
                u += &format!("/{e}");
            }
            u
        })
}

fn value() -> impl Strategy<Value = String> {
    (pick(&["", "*"]), segment(), pick(&["", "*"])).prop_map(|(a, s, b)| {
        let v = format!("{a}{s}{b}");
        if v.is_empty() { "a".into() } else { v }
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    /// Identity matchers agree with the regexes of Istio's generator.
    #[test]
    fn identity_matchers_agree_with_istio_regexes(u in uri(), v in value(), w in segment()) {
        let p = format!("{v}/ns/{w}/sa/{v}");
        prop_assert_eq!(PrincipalMatch::parse(&p).matches(&u), full(&principal_regex(&p)).is_match(&u), "principal {} on {}", p, u);
        prop_assert_eq!(PrincipalMatch::parse(&v).matches(&u), full(&principal_regex(&v)).is_match(&u), "principal {} on {}", v, u);
        let ns = NamespaceMatch::parse(&v);
        prop_assert_eq!(ns.matches(&u), full(&ns.envoy_regex()).is_match(&u), "namespace {} on {}", v, u);
        if !v.contains('*') && !w.is_empty() {
            let sa = ServiceAccountMatch::parse(&format!("{w}/{v}"), "foo");
            prop_assert_eq!(sa.matches(&u), full(&sa.envoy_regex()).is_match(&u), "sa {}/{} on {}", w, v, u);
        }
        let td = TrustDomainMatch::parse(&v);
        prop_assert_eq!(td.matches(&u), full(&trust_domain_regex(&v)).is_match(&u), "trust domain {} on {}", v, u);
    }

    /// String matchers: exact, prefix, suffix, `*`.
    #[test]
    fn string_matchers_agree_with_regexes(v in value(), s in "[a-c*]{0,4}") {
        let re = if v == "*" { ".+".to_string() } else if let Some(x) = v.strip_prefix('*') {
            format!(".*{}", regex_quote(x))
        } else if let Some(x) = v.strip_suffix('*') {
            format!("{}.*", regex_quote(x))
        } else {
            regex_quote(&v)
        };
        prop_assert_eq!(StringMatch::parse(&v).matches(&s), full(&re).is_match(&s));
    }
}

/// The generators produce policies that load: the laws above are not
/// vacuous.
#[test]
fn generated_policies_load() {
    use proptest::strategy::ValueTree;
    let mut runner = proptest::test_runner::TestRunner::deterministic();
    let (mut generated, mut loaded, mut decided) = (0, 0, [0usize; 3]);
    for _ in 0..200 {
        let ps = proptest::collection::vec(policy(), 1..6)
            .new_tree(&mut runner)
            .unwrap()
            .current();
        let req = request().new_tree(&mut runner).unwrap().current();
        let authz = compile(&ps);
        generated += ps.len();
        loaded += authz.policies().len();
        let w = authz.workload("foo", &[("app".to_string(), "a".to_string())].into());
        decided[w.decide(&req).verdict as usize] += 1;
    }
    assert!(
        loaded * 10 >= generated * 8,
        "{loaded} of {generated} loaded"
    );
    assert!(
        decided.iter().filter(|n| **n > 0).count() >= 2,
        "{decided:?}"
    );
}
