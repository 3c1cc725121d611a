//! The decision: which policies apply to a workload, and what they say
//! about a request (AZ-1..AZ-7, AZ-30..AZ-32).
//!
//! [`Authz::compile`] compiles every AuthorizationPolicy of a snapshot once.
//! [`Authz::workload`] builds a [`WorkloadAuthz`]: the rules of the policies
//! that attach to one workload (AZ-3), grouped as the proxy's filter chain
//! runs them (CUSTOM per provider, AUDIT, DENY, ALLOW, each with its
//! dry-run shadow rules, AZ-2) and ordered as Envoy orders RBAC policies
//! (by name, AZ-6). [`WorkloadAuthz::decide`] evaluates a request against
//! it without allocating; [`WorkloadAuthz::explain`] runs the same
//! evaluation and also records why each rule did or did not match.

use crate::policy::{Clause, CompiledPolicy, CompiledRule, Ctx};
use crate::request::Request;
use crate::trust_domain::TrustDomainBundle;
use mesh_model::config::Config;
use mesh_model::host::Hostname;
use mesh_model::labels::{Labels, Selector};
use mesh_model::security::{Action, RequestAuthentication};
use mesh_model::snapshot::Snapshot;
use serde::Serialize;
use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

/// The label that marks a Gateway API gateway's pods.
pub const GATEWAY_NAME_LABEL: &str = "gateway.networking.k8s.io/gateway-name";

/// At most this many CUSTOM providers serve one workload; more fail closed
/// (their rules act as DENY, as for an invalid provider).
pub const MAX_CUSTOM_PROVIDERS: usize = 8;

/// Settings that are istiod feature flags rather than mesh config.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuthzOptions {
    /// `PILOT_ENABLE_MULTIPLE_CUSTOM_AUTHZ_PROVIDERS` (1.30+, default off):
    /// without it a workload with CUSTOM policies naming more than one
    /// provider gets all their rules as DENY (AZ-7).
    pub multiple_custom_providers: bool,
}

/// The kind of an ext_authz extension provider.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum ProviderKind {
    /// `envoyExtAuthzHttp`: HTTP only (skipped on TCP chains).
    Http,
    /// `envoyExtAuthzGrpc`: HTTP and TCP.
    Grpc,
}

/// An extension provider of the mesh config, as the builder resolves it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ProviderState {
    /// The name.
    pub name: String,
    /// The kind.
    pub kind: ProviderKind,
    /// Why the provider cannot be used, if it cannot (AZ-7: its CUSTOM rules
    /// then act as DENY).
    pub error: Option<String>,
}

/// Every AuthorizationPolicy of a mesh, compiled, with what attachment and
/// CUSTOM providers need.
#[derive(Debug, Clone)]
pub struct Authz {
    root: String,
    bundle: TrustDomainBundle,
    policies: Vec<Arc<CompiledPolicy>>,
    by_namespace: BTreeMap<String, Vec<usize>>,
    providers: BTreeMap<String, ProviderState>,
    request_authns: Vec<Arc<Config<RequestAuthentication>>>,
    options: AuthzOptions,
}

impl Authz {
    /// Compiles every AuthorizationPolicy of `snapshot`.
    ///
    /// ```
    /// use mesh_authz::engine::{Authz, AuthzOptions, Verdict};
    /// use mesh_authz::request::Request;
    /// use mesh_model::{load, LoadOptions};
    /// let yaml = r#"
    /// apiVersion: security.istio.io/v1
    /// kind: AuthorizationPolicy
    /// metadata: {name: deny-admin, namespace: shop}
    /// spec:
    ///   action: DENY
    ///   rules: [{to: [{operation: {paths: ["/admin/*"]}}]}]
    /// "#;
    /// let snapshot = load(&[("p.yaml", yaml)], &LoadOptions::default()).snapshot;
    /// let authz = Authz::compile(&snapshot, &AuthzOptions::default());
    /// let web = authz.workload("shop", &[("app".into(), "web".into())].into());
    /// let d = web.decide(&Request::http("GET", "/admin/users"));
    /// assert_eq!(d.verdict, Verdict::Deny);
    /// assert_eq!(d.rule.unwrap().policy.name(), "deny-admin");
    /// ```
    pub fn compile(snapshot: &Snapshot, options: &AuthzOptions) -> Authz {
        let bundle = TrustDomainBundle::from_mesh(snapshot.mesh());
        let mut policies = Vec::new();
        let mut by_namespace: BTreeMap<String, Vec<usize>> = BTreeMap::new();
        for (i, p) in snapshot.authorization_policies().enumerate() {
            policies.push(Arc::new(CompiledPolicy::compile(p, &bundle)));
            by_namespace
                .entry(p.meta.namespace().to_string())
                .or_default()
                .push(i);
        }
        Authz {
            root: snapshot.root_namespace().to_string(),
            bundle,
            policies,
            by_namespace,
            providers: resolve_providers(snapshot),
            request_authns: snapshot.request_authentications().cloned().collect(),
            options: options.clone(),
        }
    }

    /// The root namespace.
    pub fn root_namespace(&self) -> &str {
        &self.root
    }

    /// The trust domain and its aliases (AZ-23).
    pub fn trust_domain_bundle(&self) -> &TrustDomainBundle {
        &self.bundle
    }

    /// Every compiled policy, oldest first (RES-8).
    pub fn policies(&self) -> &[Arc<CompiledPolicy>] {
        &self.policies
    }

    /// The extension provider named `name`, as resolved for CUSTOM.
    pub fn provider(&self, name: &str) -> Option<&ProviderState> {
        self.providers.get(name)
    }

    /// The options.
    pub fn options(&self) -> &AuthzOptions {
        &self.options
    }

    /// Whether a policy attaches to a workload of `namespace` with `labels`
    /// (AZ-3): root-namespace and same-namespace policies; for sidecars
    /// policies with `targetRefs` are ignored and a selector must be a
    /// subset of the labels; Gateway API gateways (label
    /// `gateway.networking.k8s.io/gateway-name`) take `targetRefs` to their
    /// Gateway and fall back to selectors.
    pub fn attaches(&self, policy: &CompiledPolicy, namespace: &str, labels: &Labels) -> bool {
        attaches(
            &self.root,
            policy.namespace(),
            policy.selector(),
            policy.target_refs(),
            namespace,
            labels,
        )
    }

    /// The policies attached to a workload, in istiod's order: the root
    /// namespace's, then the workload namespace's, each oldest first.
    pub fn applicable<'a>(
        &'a self,
        namespace: &'a str,
        labels: &'a Labels,
    ) -> impl Iterator<Item = &'a Arc<CompiledPolicy>> + 'a {
        let root: &str = &self.root;
        let namespaces: Vec<&str> = if namespace == root {
            vec![root]
        } else {
            vec![root, namespace]
        };
        namespaces
            .into_iter()
            .flat_map(move |ns| self.by_namespace.get(ns).into_iter().flatten())
            .map(move |i| &self.policies[*i])
            .filter(move |p| self.attaches(p, namespace, labels))
    }

    /// Whether a RequestAuthentication applies to the workload (RA-1, selected
    /// as AZ-3), so that the proxy runs a JWT filter.
    pub fn jwt_applies(&self, namespace: &str, labels: &Labels) -> bool {
        self.request_authns.iter().any(|ra| {
            attaches(
                &self.root,
                ra.meta.namespace(),
                ra.spec.selector.as_ref(),
                &ra.spec.target_refs,
                namespace,
                labels,
            ) && !ra.spec.jwt_rules.is_empty()
        })
    }

    /// Builds the index of one workload.
    pub fn workload(&self, namespace: &str, labels: &Labels) -> WorkloadAuthz {
        WorkloadAuthz::build(self, namespace, labels)
    }
}

pub(crate) fn attaches(
    root: &str,
    policy_ns: &str,
    selector: Option<&Selector>,
    target_refs: &[mesh_model::security::PolicyTargetRef],
    namespace: &str,
    labels: &Labels,
) -> bool {
    if policy_ns != root && policy_ns != namespace {
        return false;
    }
    let selected = || selector.is_none_or(|s| s.matches(labels));
    match labels.get(GATEWAY_NAME_LABEL) {
        None => target_refs.is_empty() && selected(),
        Some(_) if target_refs.is_empty() => selected(),
        Some(gw) => {
            policy_ns == namespace
                && target_refs.iter().any(|t| {
                    t.group == "gateway.networking.k8s.io" && t.kind == "Gateway" && &t.name == gw
                })
        }
    }
}

/// Istio's `processExtensionProvider`: each ext_authz provider, valid or
/// with the reason it is not.
fn resolve_providers(snapshot: &Snapshot) -> BTreeMap<String, ProviderState> {
    let mut out: BTreeMap<String, ProviderState> = BTreeMap::new();
    for (i, p) in snapshot.mesh().extension_providers.iter().enumerate() {
        let mut errors = Vec::new();
        if p.name.is_empty() {
            errors.push(format!(
                "extension provider name must not be empty, found empty at index: {i}"
            ));
        } else if out.contains_key(&p.name) {
            errors.push(format!(
                "extension provider name must be unique, found duplicate: {}",
                p.name
            ));
        } else if let Err(e) = provider_name(&p.name) {
            errors.push(format!("invalid provider name {:?}: {e}", p.name));
        }
        let (kind, service, port, status) = match (&p.envoy_ext_authz_http, &p.envoy_ext_authz_grpc)
        {
            (Some(h), _) => {
                if let Some(pp) = &h.path_prefix
                    && !pp.is_empty()
                    && !pp.starts_with('/')
                {
                    errors.push(format!("pathPrefix must begin with `/`, found: {pp:?}"));
                }
                for (field, list) in [
                    (
                        "includeRequestHeadersInCheck",
                        &h.include_request_headers_in_check,
                    ),
                    ("includeHeadersInCheck", &h.include_headers_in_check),
                    (
                        "headersToDownstreamOnDeny",
                        &h.headers_to_downstream_on_deny,
                    ),
                    (
                        "headersToDownstreamOnAllow",
                        &h.headers_to_downstream_on_allow,
                    ),
                    ("headersToUpstreamOnAllow", &h.headers_to_upstream_on_allow),
                ] {
                    if list.iter().any(|v| v == "*") {
                        errors.push(format!("a single wildcard (\"*\") is not supported, change it to either prefix or suffix match: {field}"));
                    }
                }
                (ProviderKind::Http, &h.service, h.port, &h.status_on_error)
            }
            (None, Some(g)) => (ProviderKind::Grpc, &g.service, g.port, &g.status_on_error),
            (None, None) => continue,
        };
        if !(1..=65535).contains(&port) {
            errors.push(format!(
                "port must be in the range [1, 65535], found: {port}"
            ));
        }
        if let Err(e) = lookup_service(snapshot, service) {
            errors.push(e);
        }
        if let Some(s) = status.as_deref().filter(|s| !s.is_empty())
            && !s.parse::<i32>().is_ok_and(is_envoy_status)
        {
            errors.push(format!("unsupported statusOnError {s}"));
        }
        out.insert(
            p.name.clone(),
            ProviderState {
                name: p.name.clone(),
                kind,
                error: (!errors.is_empty()).then(|| errors.join("; ")),
            },
        );
    }
    out
}

/// Istio's `validateProviderName`: a DNS-1123 label.
fn provider_name(name: &str) -> Result<(), String> {
    if name.len() > 63 {
        return Err(format!(
            "provider name too long (max 63 characters): {}",
            name.len()
        ));
    }
    if let Some(c) = name
        .chars()
        .find(|c| !(c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '-'))
    {
        return Err(format!("invalid character {c:?}"));
    }
    if name.starts_with('-') || name.ends_with('-') {
        return Err("provider name cannot start or end with hyphen".into());
    }
    Ok(())
}

/// Istio's `LookupCluster`: `ns/host`, or a host defined in one namespace.
fn lookup_service(snapshot: &Snapshot, service: &str) -> Result<(), String> {
    if service.is_empty() {
        return Err("service must not be empty".into());
    }
    let (ns, host) = match service.split_once('/') {
        Some((ns, host)) => (Some(ns), host),
        None => (None, service),
    };
    let services: Vec<_> = snapshot.services_for_host(&Hostname::new(host)).collect();
    let found = match ns {
        Some(ns) => services.iter().any(|s| s.namespace == ns),
        None => {
            let mut namespaces: Vec<&str> = services.iter().map(|s| s.namespace.as_str()).collect();
            namespaces.sort_unstable();
            namespaces.dedup();
            if namespaces.len() > 1 {
                return Err(format!(
                    "found {service} in multiple namespaces {namespaces:?}, specify the namespace explicitly in the format of <Namespace>/<Hostname>"
                ));
            }
            namespaces.len() == 1
        }
    };
    if found {
        Ok(())
    } else {
        Err(format!(
            "could not find service {service} in Istio service registry"
        ))
    }
}

/// Envoy's `StatusCode` enum.
fn is_envoy_status(code: i32) -> bool {
    matches!(code,
        0 | 100 | 200..=208 | 226 | 300..=305 | 307 | 308 | 400..=418 | 421..=424 | 426 | 428
        | 429 | 431 | 500..=508 | 510 | 511)
}

/// A rule of a workload's index: (policy, rule) positions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct RuleIx {
    policy: u32,
    rule: u32,
}

/// The CUSTOM rules of one provider.
#[derive(Debug, Clone)]
struct ProviderGroup {
    name: String,
    kind: Option<ProviderKind>,
    /// Why the rules act as DENY (AZ-7), if they do.
    bad: Option<String>,
    rules: Vec<RuleIx>,
}

/// The policies attached to one workload, indexed for decisions.
#[derive(Debug, Clone)]
pub struct WorkloadAuthz {
    namespace: String,
    labels: Labels,
    policies: Vec<Arc<CompiledPolicy>>,
    custom: Vec<ProviderGroup>,
    audit: Vec<RuleIx>,
    deny: Vec<RuleIx>,
    deny_dry: Vec<RuleIx>,
    allow: Vec<RuleIx>,
    allow_dry: Vec<RuleIx>,
    has_allow: bool,
    jwt_applies: bool,
}

/// The policies attached to a workload grouped by action, in istiod's
/// order, as the xDS compiler builds RBAC filters from them (Istio's
/// `AuthorizationPoliciesResult`). Dry-run policies are in their action's
/// list; [`CompiledPolicy::dry_run`] tells them apart.
#[derive(Debug, Clone, Default)]
pub struct PoliciesByAction<'a> {
    /// CUSTOM.
    pub custom: Vec<&'a CompiledPolicy>,
    /// DENY.
    pub deny: Vec<&'a CompiledPolicy>,
    /// ALLOW.
    pub allow: Vec<&'a CompiledPolicy>,
    /// AUDIT.
    pub audit: Vec<&'a CompiledPolicy>,
}

impl WorkloadAuthz {
    fn build(authz: &Authz, namespace: &str, labels: &Labels) -> WorkloadAuthz {
        let policies: Vec<Arc<CompiledPolicy>> =
            authz.applicable(namespace, labels).cloned().collect();
        let mut w = WorkloadAuthz {
            namespace: namespace.to_string(),
            labels: labels.clone(),
            policies: Vec::new(),
            custom: Vec::new(),
            audit: Vec::new(),
            deny: Vec::new(),
            deny_dry: Vec::new(),
            allow: Vec::new(),
            allow_dry: Vec::new(),
            has_allow: false,
            jwt_applies: authz.jwt_applies(namespace, labels),
        };
        let mut custom: BTreeMap<String, Vec<RuleIx>> = BTreeMap::new();
        for (pi, p) in policies.iter().enumerate() {
            let ixs: Vec<RuleIx> = (0..p.rules().len())
                .map(|ri| RuleIx {
                    policy: pi as u32,
                    rule: ri as u32,
                })
                .collect();
            match (p.action(), p.dry_run()) {
                (Action::Custom, _) => custom
                    .entry(p.provider().unwrap_or_default().to_string())
                    .or_default()
                    .extend(ixs),
                (Action::Audit, _) => w.audit.extend(ixs),
                (Action::Deny, false) => w.deny.extend(ixs),
                (Action::Deny, true) => w.deny_dry.extend(ixs),
                (Action::Allow, false) => {
                    // An ALLOW policy applies even when it has no rules
                    // (then it never matches, AZ-4).
                    w.has_allow = true;
                    w.allow.extend(ixs);
                }
                (Action::Allow, true) => w.allow_dry.extend(ixs),
            }
        }
        w.policies = policies;
        let several = custom.len() > 1 && !authz.options.multiple_custom_providers;
        let too_many = custom.len() > MAX_CUSTOM_PROVIDERS;
        let count = custom.len();
        for (name, rules) in custom {
            let state = authz.provider(&name);
            let bad = if too_many {
                Some(format!(
                    "{count} CUSTOM providers for one workload (at most {MAX_CUSTOM_PROVIDERS})"
                ))
            } else if several {
                Some(format!(
                    "{count} CUSTOM providers for one workload need PILOT_ENABLE_MULTIPLE_CUSTOM_AUTHZ_PROVIDERS"
                ))
            } else {
                match state {
                    None => Some(format!(
                        "provider {name:?} is not an ext_authz provider of meshConfig.extensionProviders"
                    )),
                    Some(s) => s.error.clone(),
                }
            };
            w.custom.push(ProviderGroup {
                name,
                kind: state.map(|s| s.kind),
                bad,
                rules,
            });
        }
        for list in [
            &mut w.audit,
            &mut w.deny,
            &mut w.deny_dry,
            &mut w.allow,
            &mut w.allow_dry,
        ] {
            sort_envoy(list, &w.policies);
        }
        for g in &mut w.custom {
            sort_envoy(&mut g.rules, &w.policies);
        }
        w
    }

    /// The workload's namespace.
    pub fn namespace(&self) -> &str {
        &self.namespace
    }

    /// The workload's labels.
    pub fn labels(&self) -> &Labels {
        &self.labels
    }

    /// The attached policies, in istiod's order.
    pub fn policies(&self) -> &[Arc<CompiledPolicy>] {
        &self.policies
    }

    /// The attached policies grouped by action.
    pub fn policies_by_action(&self) -> PoliciesByAction<'_> {
        let mut out = PoliciesByAction::default();
        for p in &self.policies {
            match p.action() {
                Action::Custom => out.custom.push(p),
                Action::Deny => out.deny.push(p),
                Action::Allow => out.allow.push(p),
                Action::Audit => out.audit.push(p),
            }
        }
        out
    }

    /// The CUSTOM providers of this workload in the order the proxy asks
    /// them, with the reason each acts as DENY, if it does (AZ-7).
    pub fn custom_providers(&self) -> impl Iterator<Item = (&str, Option<&str>)> {
        self.custom
            .iter()
            .map(|g| (g.name.as_str(), g.bad.as_deref()))
    }

    /// Whether a RequestAuthentication applies, so JWT attributes count.
    pub fn jwt_applies(&self) -> bool {
        self.jwt_applies
    }

    /// Whether an enforced ALLOW policy applies (AZ-1 step 3).
    pub fn has_allow(&self) -> bool {
        self.has_allow
    }

    /// Decides a request (AZ-1) without allocating.
    pub fn decide(&self, req: &Request) -> Decision<'_> {
        self.run(req, &mut NoTrace)
    }

    /// Decides a request and explains every attached rule: the same
    /// evaluation as [`decide`](Self::decide), which also records each
    /// rule's outcome and the clauses that failed.
    pub fn explain(&self, req: &Request) -> (Decision<'_>, Vec<ExplainEntry>) {
        let mut t = ExplainTrace::default();
        let d = self.run(req, &mut t);
        for p in &self.policies {
            if p.rules().is_empty() {
                t.entries.push(ExplainEntry {
                    policy: p.id(),
                    action: p.action(),
                    dry_run: p.dry_run(),
                    provider: p.provider().map(str::to_string),
                    rule: None,
                    envoy_name: None,
                    result: RuleResult::NeverMatches,
                    reasons: vec!["the policy has no rules, so it never matches (AZ-4)".into()],
                });
            }
        }
        (d, t.entries)
    }

    fn rule_of(&self, ix: RuleIx) -> (&CompiledPolicy, &CompiledRule) {
        let p = &self.policies[ix.policy as usize];
        (p, &p.rules()[ix.rule as usize])
    }

    fn matched(&self, ix: RuleIx) -> MatchedRule<'_> {
        MatchedRule {
            policy: &self.policies[ix.policy as usize],
            rule: ix.rule as usize,
        }
    }

    /// The first rule of `list` (Envoy's order) that matches; with an
    /// exhaustive tracer every rule is evaluated.
    fn first_match<T: Trace>(
        &self,
        list: &[RuleIx],
        cx: Ctx<'_>,
        tcp: bool,
        as_deny: bool,
        t: &mut T,
    ) -> Option<MatchedRule<'_>> {
        let mut found = None;
        for ix in list {
            if found.is_some() && !T::EXHAUSTIVE {
                break;
            }
            let (p, r) = self.rule_of(*ix);
            if eval_rule(p, r, cx, tcp, as_deny, t) && found.is_none() {
                found = Some(self.matched(*ix));
            }
        }
        found
    }

    fn run<T: Trace>(&self, req: &Request, t: &mut T) -> Decision<'_> {
        let tcp = req.is_tcp();
        let jwt_present = req.jwt().is_some() || req.jwt_rejection().is_some();
        let cx = Ctx {
            req,
            jwt: if self.jwt_applies { req.jwt() } else { None },
        };
        let mut d = Decision {
            verdict: Verdict::Allow,
            reason: Reason::NoAllowPolicy,
            rule: None,
            custom: CustomAsks::default(),
            audit: None,
            dry_run_deny: None,
            dry_run_allow: None,
            jwt_ignored: jwt_present && !self.jwt_applies,
            jwt_status: None,
        };
        let mut decided = false;

        // 1. CUSTOM: a shadow RBAC and an ext_authz filter per provider, in
        // provider-name order, ahead of everything else (AZ-2). A provider
        // that is unknown or invalid, or one of several without the feature
        // flag, has its rules enforced as DENY (AZ-7). HTTP providers have
        // no TCP form.
        for g in &self.custom {
            if tcp && g.bad.is_none() && g.kind == Some(ProviderKind::Http) {
                t.skipped(
                    self,
                    &g.rules,
                    "HTTP ext_authz provider: no TCP filter (AZ-7)",
                );
                continue;
            }
            let bad = g.bad.is_some();
            let hit = self.first_match(&g.rules, cx, tcp, true, t);
            if decided {
                continue;
            }
            if let Some(m) = hit {
                if bad {
                    d.verdict = Verdict::Deny;
                    d.reason = Reason::BadCustomProvider;
                    d.rule = Some(m);
                    decided = true;
                } else {
                    d.custom.push(CustomAsk {
                        provider: &g.name,
                        rule: m,
                    });
                }
            }
        }

        // 2. The JWT filter (RA-2): an invalid token is refused before RBAC.
        if !decided
            && self.jwt_applies
            && !tcp
            && let Some(rej) = req.jwt_rejection()
        {
            d.verdict = Verdict::Deny;
            d.reason = Reason::InvalidJwt;
            d.jwt_status = Some(rej.status);
            decided = true;
        }

        // 3. AUDIT (RBAC LOG): never changes the decision.
        let audit = self.first_match(&self.audit, cx, tcp, true, t);
        if !decided {
            d.audit = audit;
        }

        // 4. DENY, with its dry-run shadow rules (AZ-5).
        if !self.deny_dry.is_empty() {
            let hit = self.first_match(&self.deny_dry, cx, tcp, true, t);
            if !decided {
                d.dry_run_deny = Some(ShadowResult {
                    action: Action::Deny,
                    verdict: if hit.is_some() {
                        Verdict::Deny
                    } else {
                        Verdict::Allow
                    },
                    rule: hit,
                });
            }
        }
        let deny = self.first_match(&self.deny, cx, tcp, true, t);
        if !decided && let Some(m) = deny {
            d.verdict = Verdict::Deny;
            d.reason = Reason::DenyMatched;
            d.rule = Some(m);
            decided = true;
        }

        // 5. ALLOW, with its dry-run shadow rules. Only enforced ALLOW
        // policies count for "no ALLOW policy applies" (AZ-5).
        if !self.allow_dry.is_empty() {
            let hit = self.first_match(&self.allow_dry, cx, tcp, false, t);
            if !decided {
                d.dry_run_allow = Some(ShadowResult {
                    action: Action::Allow,
                    verdict: if hit.is_some() {
                        Verdict::Allow
                    } else {
                        Verdict::Deny
                    },
                    rule: hit,
                });
            }
        }
        let allow = self.first_match(&self.allow, cx, tcp, false, t);
        if !decided {
            if !self.has_allow {
                d.verdict = Verdict::Allow;
                d.reason = Reason::NoAllowPolicy;
            } else if let Some(m) = allow {
                d.verdict = Verdict::Allow;
                d.reason = Reason::AllowMatched;
                d.rule = Some(m);
            } else {
                d.verdict = Verdict::Deny;
                d.reason = Reason::NoAllowMatched;
            }
            if d.verdict == Verdict::Allow && !d.custom.is_empty() {
                d.verdict = Verdict::Custom;
            }
        }
        d
    }
}

fn sort_envoy(list: &mut [RuleIx], policies: &[Arc<CompiledPolicy>]) {
    list.sort_by(|a, b| {
        let na = &policies[a.policy as usize].rules()[a.rule as usize].envoy_name;
        let nb = &policies[b.policy as usize].rules()[b.rule as usize].envoy_name;
        na.cmp(nb)
    });
}

/// Evaluates one rule (AZ-10, AZ-11) with the TCP lowering (AZ-31, AZ-32).
/// `as_deny`: the rule is enforced as DENY/AUDIT/CUSTOM (HTTP-only
/// conditions are removed on TCP) rather than ALLOW (such rules are
/// dropped on TCP).
fn eval_rule<T: Trace>(
    p: &CompiledPolicy,
    r: &CompiledRule,
    cx: Ctx<'_>,
    tcp: bool,
    as_deny: bool,
    t: &mut T,
) -> bool {
    if tcp && !as_deny && r.uses_http {
        t.rule(p, r, RuleResult::DroppedOnTcp);
        return false;
    }
    let action = if as_deny { Action::Deny } else { Action::Allow };
    let all = |clauses: &[Clause], t: &mut T| -> bool {
        let mut ok = true;
        for c in clauses {
            if !c.holds(cx, action, tcp) {
                ok = false;
                if !T::EXHAUSTIVE {
                    break;
                }
                t.clause(c, cx);
            }
        }
        ok
    };
    let mut from = r.from.is_empty();
    for s in &r.from {
        if from && !T::EXHAUSTIVE {
            break;
        }
        from |= all(s, t);
    }
    let mut to = r.to.is_empty();
    if from || T::EXHAUSTIVE {
        for o in &r.to {
            if to && !T::EXHAUSTIVE {
                break;
            }
            to |= all(o, t);
        }
    }
    let when = (from && to || T::EXHAUSTIVE) && all(&r.when, t);
    let matched = from && to && when;
    t.rule(
        p,
        r,
        if matched {
            RuleResult::Matched
        } else {
            RuleResult::NotMatched
        },
    );
    matched
}

/// The answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Verdict {
    /// Allowed.
    Allow,
    /// Denied (HTTP 403, or 401 for an invalid JWT; TCP: connection closed).
    Deny,
    /// The built-in policies allow and a CUSTOM policy matched: the ext_authz
    /// provider decides.
    Custom,
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Verdict::Allow => "ALLOW",
            Verdict::Deny => "DENY",
            Verdict::Custom => "CUSTOM",
        })
    }
}

/// Why the verdict is what it is (AZ-1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum Reason {
    /// No enforced ALLOW policy applies: allowed by default (step 3).
    NoAllowPolicy,
    /// An ALLOW rule matched (step 4).
    AllowMatched,
    /// ALLOW policies apply and none matched: denied by default (step 5).
    NoAllowMatched,
    /// A DENY rule matched (step 2).
    DenyMatched,
    /// A CUSTOM rule matched whose provider is unknown, invalid or one of
    /// several: enforced as DENY (AZ-7).
    BadCustomProvider,
    /// The JWT filter rejected the token (RA-2).
    InvalidJwt,
}

impl Reason {
    /// A sentence for people.
    pub fn describe(self) -> &'static str {
        match self {
            Reason::NoAllowPolicy => "no ALLOW policy applies",
            Reason::AllowMatched => "an ALLOW rule matched",
            Reason::NoAllowMatched => "no ALLOW policy matched",
            Reason::DenyMatched => "a DENY rule matched",
            Reason::BadCustomProvider => "a CUSTOM rule matched and its provider is not usable",
            Reason::InvalidJwt => "invalid JWT",
        }
    }
}

/// A rule of a policy.
#[derive(Debug, Clone, Copy)]
pub struct MatchedRule<'a> {
    /// The policy.
    pub policy: &'a CompiledPolicy,
    /// The rule's index in `spec.rules`.
    pub rule: usize,
}

impl PartialEq for MatchedRule<'_> {
    fn eq(&self, other: &Self) -> bool {
        std::ptr::eq(self.policy, other.policy) && self.rule == other.rule
    }
}

impl MatchedRule<'_> {
    /// The Envoy RBAC policy name.
    pub fn envoy_name(&self) -> &str {
        &self.policy.rules()[self.rule].envoy_name
    }
}

/// What a dry-run shadow engine observed (AZ-5): Envoy's
/// `shadow_engine_result` and `shadow_effective_policy_id`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ShadowResult<'a> {
    /// ALLOW or DENY: which dry-run policies.
    pub action: Action,
    /// What they would have decided alone.
    pub verdict: Verdict,
    /// The first matching dry-run rule.
    pub rule: Option<MatchedRule<'a>>,
}

/// A CUSTOM provider to ask, and the rule that triggers it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CustomAsk<'a> {
    /// The provider's name.
    pub provider: &'a str,
    /// The first matching rule of that provider's policies.
    pub rule: MatchedRule<'a>,
}

/// The CUSTOM providers a request triggers, in the order the proxy asks
/// them (inline storage: deciding does not allocate).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct CustomAsks<'a> {
    asks: [Option<CustomAsk<'a>>; MAX_CUSTOM_PROVIDERS],
    len: usize,
}

impl<'a> CustomAsks<'a> {
    fn push(&mut self, a: CustomAsk<'a>) {
        if self.len < MAX_CUSTOM_PROVIDERS {
            self.asks[self.len] = Some(a);
            self.len += 1;
        }
    }

    /// Whether no provider is triggered.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The number of providers triggered.
    pub fn len(&self) -> usize {
        self.len
    }

    /// The providers triggered.
    pub fn iter(&self) -> impl Iterator<Item = &CustomAsk<'a>> {
        self.asks[..self.len].iter().flatten()
    }
}

/// An authorization decision with its provenance.
#[derive(Debug, Clone, PartialEq)]
pub struct Decision<'a> {
    /// ALLOW, DENY or CUSTOM.
    pub verdict: Verdict,
    /// Why.
    pub reason: Reason,
    /// The rule that decided; `None` when allowed or denied by default
    /// (AZ-1 steps 3 and 5) or refused by the JWT filter. Where several
    /// rules of the deciding action match, the one named is the first in
    /// Envoy's order of RBAC policy names (AZ-6).
    pub rule: Option<MatchedRule<'a>>,
    /// CUSTOM providers that the request triggers.
    pub custom: CustomAsks<'a>,
    /// The first AUDIT rule that matched (the request is logged).
    pub audit: Option<MatchedRule<'a>>,
    /// The dry-run DENY policies' shadow result, when there are any.
    pub dry_run_deny: Option<ShadowResult<'a>>,
    /// The dry-run ALLOW policies' shadow result, when there are any.
    pub dry_run_allow: Option<ShadowResult<'a>>,
    /// JWT attributes were given but no RequestAuthentication applies to
    /// the workload, so they were ignored (as Envoy has no JWT filter).
    pub jwt_ignored: bool,
    /// The JWT filter's status when it refused the request (401/403).
    pub jwt_status: Option<u16>,
}

impl Decision<'_> {
    /// The action of the deciding rule's policy.
    pub fn action(&self) -> Option<Action> {
        self.rule.map(|r| r.policy.action())
    }

    /// The HTTP status the proxy answers with when it refuses the request.
    pub fn deny_status(&self) -> Option<u16> {
        match self.verdict {
            Verdict::Deny => Some(self.jwt_status.unwrap_or(403)),
            _ => None,
        }
    }
}

/// How a rule fared.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum RuleResult {
    /// Every part matched.
    Matched,
    /// Some part did not match.
    NotMatched,
    /// An ALLOW rule using HTTP-only attributes on a TCP chain (AZ-31).
    DroppedOnTcp,
    /// The policy has no rules (AZ-4).
    NeverMatches,
    /// Not evaluated (a CUSTOM HTTP provider on TCP).
    Skipped,
}

/// One line of an explanation: a rule of an attached policy.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ExplainEntry {
    /// `namespace/name`.
    pub policy: String,
    /// The action.
    pub action: Action,
    /// Whether the policy is dry-run.
    pub dry_run: bool,
    /// The CUSTOM provider.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub provider: Option<String>,
    /// The rule index (none for a policy without rules).
    pub rule: Option<usize>,
    /// The Envoy RBAC policy name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub envoy_name: Option<String>,
    /// The outcome.
    pub result: RuleResult,
    /// Why (the clauses that failed, with the request's value).
    pub reasons: Vec<String>,
}

/// Observes an evaluation.
pub(crate) trait Trace {
    /// Whether every rule and clause is evaluated (explain) or evaluation
    /// stops at the first answer (decide).
    const EXHAUSTIVE: bool;
    fn clause(&mut self, _c: &Clause, _cx: Ctx<'_>) {}
    fn rule(&mut self, _p: &CompiledPolicy, _r: &CompiledRule, _result: RuleResult) {}
    fn skipped(&mut self, _w: &WorkloadAuthz, _rules: &[RuleIx], _why: &str) {}
}

struct NoTrace;

impl Trace for NoTrace {
    const EXHAUSTIVE: bool = false;
}

#[derive(Default)]
struct ExplainTrace {
    failed: Vec<String>,
    entries: Vec<ExplainEntry>,
}

impl Trace for ExplainTrace {
    const EXHAUSTIVE: bool = true;

    fn clause(&mut self, c: &Clause, cx: Ctx<'_>) {
        let what = if c.negated {
            "matched one of the excluded"
        } else {
            "matched none of"
        };
        self.failed.push(format!(
            "{} ({}): {} {what} {}",
            c.field,
            c.attribute,
            c.matcher.actual(cx),
            c.matcher
        ));
    }

    fn rule(&mut self, p: &CompiledPolicy, r: &CompiledRule, result: RuleResult) {
        let reasons = match result {
            RuleResult::DroppedOnTcp => {
                vec!["uses HTTP-only attributes: an ALLOW rule is dropped on TCP (AZ-31)".into()]
            }
            RuleResult::Matched => Vec::new(),
            _ => std::mem::take(&mut self.failed),
        };
        self.failed.clear();
        self.entries.push(ExplainEntry {
            policy: p.id(),
            action: p.action(),
            dry_run: p.dry_run(),
            provider: p.provider().map(str::to_string),
            rule: Some(r.index),
            envoy_name: Some(r.envoy_name.clone()),
            result,
            reasons,
        });
    }

    fn skipped(&mut self, w: &WorkloadAuthz, rules: &[RuleIx], why: &str) {
        for ix in rules {
            let (p, r) = w.rule_of(*ix);
            self.entries.push(ExplainEntry {
                policy: p.id(),
                action: p.action(),
                dry_run: p.dry_run(),
                provider: p.provider().map(str::to_string),
                rule: Some(r.index),
                envoy_name: Some(r.envoy_name.clone()),
                result: RuleResult::Skipped,
                reasons: vec![why.to_string()],
            });
        }
    }
}
