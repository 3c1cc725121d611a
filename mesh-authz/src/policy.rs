//! AuthorizationPolicies compiled into matchers (AZ-10..AZ-23).
//!
//! A [`CompiledPolicy`] is built once per policy of the mesh; each rule
//! becomes a [`CompiledRule`] of [`Clause`]s: one per written field
//! (`principals`, `notPrincipals`, `paths`, a `when` key's `values` …), each
//! an OR over its values, possibly negated. A rule matches when any `from`
//! source (all of its clauses), any `to` operation and every `when` clause
//! hold (AZ-10, AZ-11).

use crate::matcher::{
    NamespaceMatch, PathMatch, PrincipalMatch, RequestPrincipalMatch, ServiceAccountMatch,
    StringMatch, TrustDomainMatch,
};
use crate::request::{JwtPayload, Request};
use crate::trust_domain::TrustDomainBundle;
use ipnet::IpNet;
use mesh_model::config::Config;
use mesh_model::labels::Selector;
use mesh_model::security::{
    Action, AuthorizationPolicy, Condition, Operation, PolicyTargetRef, Rule, Source,
};
use serde::Serialize;
use serde_json::Value;
use std::fmt;
use std::sync::Arc;

/// One AuthorizationPolicy, compiled.
#[derive(Debug, Clone)]
pub struct CompiledPolicy {
    namespace: String,
    name: String,
    action: Action,
    provider: Option<String>,
    dry_run: bool,
    selector: Option<Selector>,
    target_refs: Vec<PolicyTargetRef>,
    rules: Vec<CompiledRule>,
    warnings: Vec<String>,
    source: Arc<Config<AuthorizationPolicy>>,
}

impl CompiledPolicy {
    /// Compiles one policy; principals and trust domains are expanded over
    /// `bundle` (AZ-23).
    pub fn compile(
        policy: &Arc<Config<AuthorizationPolicy>>,
        bundle: &TrustDomainBundle,
    ) -> CompiledPolicy {
        let AuthorizationPolicy {
            selector,
            target_refs,
            action,
            provider,
            rules,
            dry_run,
        } = &policy.spec;
        let namespace = policy.meta.namespace().to_string();
        let name = policy.meta.name().to_string();
        let mut warnings = Vec::new();
        let rules = rules
            .iter()
            .enumerate()
            .map(|(i, r)| {
                let cr = CompiledRule::compile(i, r, &namespace, bundle);
                for c in cr.clauses() {
                    if let Matcher::Invalid(reason) = &c.matcher {
                        warnings.push(format!("rules[{i}].{}: {reason}", c.field));
                    }
                }
                cr
            })
            .collect();
        let mut compiled = CompiledPolicy {
            namespace,
            name,
            action: *action,
            provider: provider.clone(),
            dry_run: *dry_run,
            selector: selector.clone(),
            target_refs: target_refs.clone(),
            rules,
            warnings,
            source: policy.clone(),
        };
        for i in 0..compiled.rules.len() {
            compiled.rules[i].envoy_name = compiled.envoy_rule_name(i);
        }
        compiled
    }

    /// The namespace.
    pub fn namespace(&self) -> &str {
        &self.namespace
    }

    /// The name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// `namespace/name`.
    pub fn id(&self) -> String {
        format!("{}/{}", self.namespace, self.name)
    }

    /// The action.
    pub fn action(&self) -> Action {
        self.action
    }

    /// The CUSTOM provider's name.
    pub fn provider(&self) -> Option<&str> {
        self.provider.as_deref()
    }

    /// Whether the policy is in dry-run mode (AZ-5).
    pub fn dry_run(&self) -> bool {
        self.dry_run
    }

    /// The workload selector.
    pub fn selector(&self) -> Option<&Selector> {
        self.selector.as_ref()
    }

    /// The target references (ignored for sidecars, AZ-3).
    pub fn target_refs(&self) -> &[PolicyTargetRef] {
        &self.target_refs
    }

    /// The compiled rules; none means the policy never matches (AZ-4).
    pub fn rules(&self) -> &[CompiledRule] {
        &self.rules
    }

    /// Problems found while compiling (values the proxy could not apply);
    /// each is handled failing closed (see [`Clause::holds`]).
    pub fn warnings(&self) -> &[String] {
        &self.warnings
    }

    /// The policy as loaded.
    pub fn source(&self) -> &Arc<Config<AuthorizationPolicy>> {
        &self.source
    }

    /// The Envoy RBAC policy name of rule `i` (AZ-6):
    /// `ns[<ns>]-policy[<name>]-rule[<i>]`, prefixed
    /// `istio-ext-authz-<provider>-` for CUSTOM.
    pub fn envoy_rule_name(&self, i: usize) -> String {
        let base = format!("ns[{}]-policy[{}]-rule[{i}]", self.namespace, self.name);
        match (self.action, &self.provider) {
            (Action::Custom, Some(p)) => format!("istio-ext-authz-{p}-{base}"),
            (Action::Custom, None) => format!("istio-ext-authz-{base}"),
            _ => base,
        }
    }
}

/// One rule of a policy, compiled.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CompiledRule {
    /// The index in `spec.rules`.
    pub index: usize,
    /// One entry per `from` source; empty means any source.
    pub from: Vec<Vec<Clause>>,
    /// One entry per `to` operation; empty means any operation.
    pub to: Vec<Vec<Clause>>,
    /// The `when` conditions.
    pub when: Vec<Clause>,
    /// Whether any clause uses an HTTP-only attribute (AZ-30).
    pub uses_http: bool,
    /// The Envoy RBAC policy name (AZ-6), the key the proxy orders by.
    pub envoy_name: String,
}

impl CompiledRule {
    fn compile(
        index: usize,
        rule: &Rule,
        namespace: &str,
        bundle: &TrustDomainBundle,
    ) -> CompiledRule {
        let Rule { from, to, when } = rule;
        let from: Vec<Vec<Clause>> = from
            .iter()
            .enumerate()
            .map(|(i, s)| source_clauses(i, s, namespace, bundle))
            .collect();
        let to: Vec<Vec<Clause>> = to
            .iter()
            .enumerate()
            .map(|(i, o)| operation_clauses(i, o))
            .collect();
        let when: Vec<Clause> = when
            .iter()
            .enumerate()
            .flat_map(|(i, c)| condition_clauses(i, c, namespace, bundle))
            .collect();
        let mut r = CompiledRule {
            index,
            from,
            to,
            when,
            uses_http: false,
            envoy_name: String::new(),
        };
        let uses_http = r.clauses().any(|c| c.http_only);
        r.uses_http = uses_http;
        r
    }

    /// Whether the rule matches (AZ-10, AZ-11), written plainly for
    /// reference evaluators: `jwt` is the validated payload where a
    /// RequestAuthentication applies; `enforced_as_allow` selects the TCP
    /// lowering of ALLOW rules (dropped when they use HTTP-only attributes,
    /// AZ-31) rather than of DENY/AUDIT/CUSTOM (HTTP-only conditions
    /// removed, AZ-32).
    pub fn matches(
        &self,
        req: &Request,
        jwt: Option<&JwtPayload>,
        enforced_as_allow: bool,
    ) -> bool {
        let tcp = req.is_tcp();
        if tcp && enforced_as_allow && self.uses_http {
            return false;
        }
        let action = if enforced_as_allow {
            Action::Allow
        } else {
            Action::Deny
        };
        let cx = Ctx { req, jwt };
        let all = |cs: &[Clause]| cs.iter().all(|c| c.holds(cx, action, tcp));
        (self.from.is_empty() || self.from.iter().any(|s| all(s)))
            && (self.to.is_empty() || self.to.iter().any(|o| all(o)))
            && all(&self.when)
    }

    /// Every clause of the rule.
    pub fn clauses(&self) -> impl Iterator<Item = &Clause> {
        self.from
            .iter()
            .flatten()
            .chain(self.to.iter().flatten())
            .chain(self.when.iter())
    }
}

/// One written field of a rule: `values` (any matches) or `notValues`
/// (none matches).
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Clause {
    /// Where it was written: `from[0].source.principals`,
    /// `when[1].notValues` …
    pub field: String,
    /// The attribute (`source.principal`, `request.headers[x-token]` …).
    pub attribute: String,
    /// Whether it is a `not*` field / `notValues`.
    pub negated: bool,
    /// Whether the attribute exists only on HTTP (AZ-30).
    pub http_only: bool,
    /// The values, OR'ed.
    pub matcher: Matcher,
}

/// What a clause compares, and the matchers of its values.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase", tag = "kind", content = "values")]
pub enum Matcher {
    /// The peer URI SAN.
    Principal(Vec<PrincipalMatch>),
    /// The namespace in the peer URI SAN.
    Namespace(Vec<NamespaceMatch>),
    /// The namespace and service account in the peer URI SAN.
    ServiceAccount(Vec<ServiceAccountMatch>),
    /// The trust domain of the peer URI SAN.
    TrustDomain(Vec<TrustDomainMatch>),
    /// The peer address.
    SourceIp(Vec<IpNet>),
    /// The original client address.
    RemoteIp(Vec<IpNet>),
    /// The local address.
    DestinationIp(Vec<IpNet>),
    /// The local (target) port.
    Port(Vec<u16>),
    /// `:authority`, case-insensitive.
    Host(Vec<StringMatch>),
    /// `:method`.
    Method(Vec<StringMatch>),
    /// The path without query.
    Path(Vec<PathMatch>),
    /// A request header.
    Header(String, Vec<StringMatch>),
    /// The TLS server name.
    Sni(Vec<StringMatch>),
    /// The JWT's `iss` and `sub`.
    RequestPrincipal(Vec<RequestPrincipalMatch>),
    /// A (nested) JWT claim: a string, or a list holding a matching string.
    Claim(Vec<String>, Vec<StringMatch>),
    /// Envoy dynamic metadata `filter`/`key`: `(list, matcher)`, where a
    /// list matcher (`[v]`) needs a list holding a matching string.
    Metadata(String, String, Vec<(bool, StringMatch)>),
    /// A value the proxy could not apply (an unknown key, a template Envoy
    /// rejects): see [`Clause::holds`].
    Invalid(String),
}

/// What a clause evaluation needs besides the request.
#[derive(Clone, Copy)]
pub(crate) struct Ctx<'r> {
    pub req: &'r Request,
    /// The JWT payload, when a RequestAuthentication applies.
    pub jwt: Option<&'r JwtPayload>,
}

fn any_ip(nets: &[IpNet], ip: Option<std::net::IpAddr>) -> bool {
    ip.is_some_and(|ip| nets.iter().any(|n| n.contains(&ip)))
}

fn claim_matches(v: Option<&Value>, ms: &[StringMatch]) -> bool {
    match v {
        Some(Value::String(s)) => ms.iter().any(|m| m.matches(s)),
        Some(Value::Array(a)) => a
            .iter()
            .filter_map(Value::as_str)
            .any(|s| ms.iter().any(|m| m.matches(s))),
        _ => false,
    }
}

impl Matcher {
    /// Whether any value matches the request.
    pub(crate) fn any(&self, cx: Ctx<'_>) -> bool {
        let r = cx.req;
        let peer = r.peer_uri();
        match self {
            Matcher::Principal(ms) => peer.is_some_and(|u| ms.iter().any(|m| m.matches(u))),
            Matcher::Namespace(ms) => peer.is_some_and(|u| ms.iter().any(|m| m.matches(u))),
            Matcher::ServiceAccount(ms) => peer.is_some_and(|u| ms.iter().any(|m| m.matches(u))),
            Matcher::TrustDomain(ms) => peer.is_some_and(|u| ms.iter().any(|m| m.matches(u))),
            Matcher::SourceIp(n) => any_ip(n, r.source_ip()),
            Matcher::RemoteIp(n) => any_ip(n, r.remote_ip()),
            Matcher::DestinationIp(n) => any_ip(n, r.destination_ip()),
            Matcher::Port(ps) => r.port().is_some_and(|p| ps.contains(&p)),
            Matcher::Host(ms) => r
                .host()
                .is_some_and(|h| ms.iter().any(|m| m.matches_ignore_case(h))),
            Matcher::Method(ms) => r.method().is_some_and(|v| ms.iter().any(|m| m.matches(v))),
            Matcher::Path(ms) => r
                .path()
                .map(crate::matcher::strip_query)
                .is_some_and(|p| ms.iter().any(|m| m.matches_without_query(p))),
            // Any one occurrence of a repeated header (Envoy 1.40).
            Matcher::Header(name, ms) => r
                .header_values(name)
                .any(|v| ms.iter().any(|m| m.matches(v))),
            Matcher::Sni(ms) => r.sni().is_some_and(|v| ms.iter().any(|m| m.matches(v))),
            Matcher::RequestPrincipal(ms) => cx
                .jwt
                .and_then(|j| Some((j.issuer()?, j.subject()?)))
                .is_some_and(|(i, s)| ms.iter().any(|m| m.matches(i, s))),
            Matcher::Claim(path, ms) => claim_matches(cx.jwt.and_then(|j| j.claim(path)), ms),
            Matcher::Metadata(filter, key, ms) => {
                let v = r.filter_metadata(filter).and_then(|m| m.get(key));
                ms.iter().any(|(list, m)| match (list, v) {
                    (false, Some(Value::String(s))) => m.matches(s),
                    (true, Some(Value::Array(a))) => {
                        a.iter().filter_map(Value::as_str).any(|s| m.matches(s))
                    }
                    _ => false,
                })
            }
            Matcher::Invalid(_) => false,
        }
    }

    /// The request's value of this attribute, for explanations.
    pub(crate) fn actual(&self, cx: Ctx<'_>) -> String {
        let r = cx.req;
        let show = |v: Option<&str>| match v {
            Some(v) => format!("{v:?}"),
            None => "(absent)".to_string(),
        };
        let ip = |v: Option<std::net::IpAddr>| match v {
            Some(v) => v.to_string(),
            None => "(absent)".to_string(),
        };
        match self {
            Matcher::Principal(_)
            | Matcher::Namespace(_)
            | Matcher::ServiceAccount(_)
            | Matcher::TrustDomain(_) => match r.peer_uri() {
                Some(u) => format!("peer {u:?}"),
                None => "no peer identity (plaintext, AZ-22)".to_string(),
            },
            Matcher::SourceIp(_) => ip(r.source_ip()),
            Matcher::RemoteIp(_) => ip(r.remote_ip()),
            Matcher::DestinationIp(_) => ip(r.destination_ip()),
            Matcher::Port(_) => r.port().map_or("(absent)".into(), |p| p.to_string()),
            Matcher::Host(_) => show(r.host()),
            Matcher::Method(_) => show(r.method()),
            Matcher::Path(_) => show(r.path()),
            Matcher::Header(n, _) => show(r.header(n)),
            Matcher::Sni(_) => show(r.sni()),
            Matcher::RequestPrincipal(_) => match cx.jwt {
                Some(j) => show(j.request_principal().as_deref()),
                None => "no validated JWT".to_string(),
            },
            Matcher::Claim(path, _) => match cx.jwt {
                Some(j) => j
                    .claim(path)
                    .map_or("(absent)".to_string(), ToString::to_string),
                None => "no validated JWT".to_string(),
            },
            Matcher::Metadata(f, k, _) => r
                .filter_metadata(f)
                .and_then(|m| m.get(k))
                .map_or("(absent)".to_string(), ToString::to_string),
            Matcher::Invalid(reason) => format!("invalid: {reason}"),
        }
    }
}

impl Clause {
    /// Whether the clause holds for a rule of `action` on a chain that is
    /// TCP or not.
    ///
    /// * On TCP an HTTP-only clause of a DENY/AUDIT/CUSTOM rule is removed,
    ///   so it holds (AZ-32); ALLOW rules using one are dropped whole before
    ///   clauses are looked at (AZ-31).
    /// * An invalid clause fails closed: it never holds in an ALLOW rule (the
    ///   rule cannot allow) and holds in the others (the rule denies or
    ///   audits more), Istio's `checkError` principle.
    pub(crate) fn holds(&self, cx: Ctx<'_>, action: Action, tcp: bool) -> bool {
        if let Matcher::Invalid(_) = self.matcher {
            return action != Action::Allow;
        }
        if tcp && self.http_only {
            return true;
        }
        self.matcher.any(cx) != self.negated
    }
}

impl fmt::Display for Matcher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fn list<T: fmt::Display>(f: &mut fmt::Formatter<'_>, v: &[T]) -> fmt::Result {
            let s: Vec<String> = v.iter().map(ToString::to_string).collect();
            write!(f, "[{}]", s.join(", "))
        }
        match self {
            Matcher::Principal(v) => list(f, v),
            Matcher::Namespace(v) => {
                let s: Vec<&str> = v.iter().map(|m| m.value.as_str()).collect();
                write!(f, "[{}]", s.join(", "))
            }
            Matcher::ServiceAccount(v) => {
                let s: Vec<String> = v
                    .iter()
                    .map(|m| format!("{}/{}", m.namespace, m.service_account))
                    .collect();
                write!(f, "[{}]", s.join(", "))
            }
            Matcher::TrustDomain(v) => list(f, v),
            Matcher::SourceIp(v) | Matcher::RemoteIp(v) | Matcher::DestinationIp(v) => list(f, v),
            Matcher::Port(v) => list(f, v),
            Matcher::Host(v) | Matcher::Method(v) | Matcher::Sni(v) => list(f, v),
            Matcher::Header(_, v) | Matcher::Claim(_, v) => list(f, v),
            Matcher::Path(v) => {
                let s: Vec<String> = v
                    .iter()
                    .map(|m| match m {
                        PathMatch::String(s) => s.to_string(),
                        PathMatch::Template(t) => t.template.clone(),
                    })
                    .collect();
                write!(f, "[{}]", s.join(", "))
            }
            Matcher::RequestPrincipal(v) => {
                let s: Vec<String> = v
                    .iter()
                    .map(|m| format!("{}/{}", m.issuer, m.subject))
                    .collect();
                write!(f, "[{}]", s.join(", "))
            }
            Matcher::Metadata(_, _, v) => {
                let s: Vec<String> = v
                    .iter()
                    .map(|(l, m)| if *l { format!("[{m}]") } else { m.to_string() })
                    .collect();
                write!(f, "[{}]", s.join(", "))
            }
            Matcher::Invalid(r) => write!(f, "invalid ({r})"),
        }
    }
}

fn clause(field: String, attribute: &str, negated: bool, http_only: bool, m: Matcher) -> Clause {
    Clause {
        field,
        attribute: attribute.to_string(),
        negated,
        http_only,
        matcher: m,
    }
}

/// Pushes a `values`/`notValues` pair of clauses for one field.
fn pair<T>(
    out: &mut Vec<Clause>,
    prefix: &str,
    (pos, neg): (&str, &str),
    attribute: &str,
    http_only: bool,
    (values, not_values): (&[T], &[T]),
    build: impl Fn(&[T]) -> Matcher,
) {
    if !values.is_empty() {
        out.push(clause(
            format!("{prefix}.{pos}"),
            attribute,
            false,
            http_only,
            build(values),
        ));
    }
    if !not_values.is_empty() {
        out.push(clause(
            format!("{prefix}.{neg}"),
            attribute,
            true,
            http_only,
            build(not_values),
        ));
    }
}

fn principals(values: &[String], bundle: &TrustDomainBundle) -> Matcher {
    Matcher::Principal(
        values
            .iter()
            .flat_map(|v| bundle.expand_principal(v))
            .map(|v| PrincipalMatch::parse(&v))
            .collect(),
    )
}

fn trust_domains(values: &[String], bundle: &TrustDomainBundle) -> Matcher {
    Matcher::TrustDomain(
        bundle
            .expand_trust_domains(values)
            .iter()
            .map(|v| TrustDomainMatch::parse(v))
            .collect(),
    )
}

fn source_clauses(
    i: usize,
    s: &Source,
    namespace: &str,
    bundle: &TrustDomainBundle,
) -> Vec<Clause> {
    let Source {
        principals: p,
        not_principals: np,
        request_principals: rp,
        not_request_principals: nrp,
        namespaces: ns,
        not_namespaces: nns,
        service_accounts: sa,
        not_service_accounts: nsa,
        trust_domains: td,
        not_trust_domains: ntd,
        ip_blocks: ip,
        not_ip_blocks: nip,
        remote_ip_blocks: rip,
        not_remote_ip_blocks: nrip,
    } = s;
    let prefix = format!("from[{i}].source");
    let mut out = Vec::new();
    pair(
        &mut out,
        &prefix,
        ("principals", "notPrincipals"),
        "source.principal",
        false,
        (p, np),
        |v| principals(v, bundle),
    );
    pair(
        &mut out,
        &prefix,
        ("requestPrincipals", "notRequestPrincipals"),
        "request.auth.principal",
        true,
        (rp, nrp),
        |v| Matcher::RequestPrincipal(v.iter().map(|x| RequestPrincipalMatch::parse(x)).collect()),
    );
    pair(
        &mut out,
        &prefix,
        ("namespaces", "notNamespaces"),
        "source.namespace",
        false,
        (ns, nns),
        |v| Matcher::Namespace(v.iter().map(|x| NamespaceMatch::parse(x)).collect()),
    );
    pair(
        &mut out,
        &prefix,
        ("serviceAccounts", "notServiceAccounts"),
        "source.serviceAccount",
        false,
        (sa, nsa),
        |v| {
            Matcher::ServiceAccount(
                v.iter()
                    .map(|x| ServiceAccountMatch::parse(x, namespace))
                    .collect(),
            )
        },
    );
    pair(
        &mut out,
        &prefix,
        ("trustDomains", "notTrustDomains"),
        "source.trustDomain",
        false,
        (td, ntd),
        |v| trust_domains(v, bundle),
    );
    pair(
        &mut out,
        &prefix,
        ("ipBlocks", "notIpBlocks"),
        "source.ip",
        false,
        (ip, nip),
        |v| Matcher::SourceIp(v.to_vec()),
    );
    pair(
        &mut out,
        &prefix,
        ("remoteIpBlocks", "notRemoteIpBlocks"),
        "remote.ip",
        false,
        (rip, nrip),
        |v| Matcher::RemoteIp(v.to_vec()),
    );
    out
}

fn operation_clauses(i: usize, o: &Operation) -> Vec<Clause> {
    let Operation {
        hosts,
        not_hosts,
        ports,
        not_ports,
        methods,
        not_methods,
        paths,
        not_paths,
    } = o;
    let prefix = format!("to[{i}].operation");
    let mut out = Vec::new();
    pair(
        &mut out,
        &prefix,
        ("hosts", "notHosts"),
        ":authority",
        true,
        (hosts, not_hosts),
        |v| Matcher::Host(v.iter().map(|x| StringMatch::parse_header(x)).collect()),
    );
    pair(
        &mut out,
        &prefix,
        ("methods", "notMethods"),
        ":method",
        true,
        (methods, not_methods),
        |v| Matcher::Method(v.iter().map(|x| StringMatch::parse_header(x)).collect()),
    );
    pair(
        &mut out,
        &prefix,
        ("paths", "notPaths"),
        ":path",
        true,
        (paths, not_paths),
        path_matcher,
    );
    pair(
        &mut out,
        &prefix,
        ("ports", "notPorts"),
        "destination.port",
        false,
        (ports, not_ports),
        |v| Matcher::Port(v.to_vec()),
    );
    out
}

fn path_matcher(values: &[String]) -> Matcher {
    let mut out = Vec::new();
    for v in values {
        match PathMatch::parse(v) {
            Ok(m) => out.push(m),
            Err(e) => return Matcher::Invalid(e.to_string()),
        }
    }
    Matcher::Path(out)
}

/// Istio's `extractNameInNestedBrackets`: `[a][b]` → `[a, b]`; anything
/// else in one pair of brackets is one name.
fn nested_names(s: &str) -> Option<Vec<String>> {
    let mut names = Vec::new();
    let mut rest = s;
    while !rest.is_empty() {
        let nested = rest
            .strip_prefix('[')
            .and_then(|r| r.find(['[', ']']).map(|j| (r, j)))
            .filter(|(r, j)| r.as_bytes()[*j] == b']');
        match nested {
            Some((r, j)) => {
                names.push(r[..j].to_string());
                rest = &r[j + 1..];
            }
            None => {
                let inner = s.strip_prefix('[')?.strip_suffix(']')?;
                return Some(vec![inner.to_string()]);
            }
        }
    }
    (!names.is_empty()).then_some(names)
}

fn ip_values(values: &[String]) -> Result<Vec<IpNet>, String> {
    values
        .iter()
        .map(|v| {
            v.parse::<IpNet>()
                .or_else(|_| v.parse::<std::net::IpAddr>().map(IpNet::from))
                .map_err(|_| format!("invalid IP address or CIDR range {v:?}"))
        })
        .collect()
}

fn condition_matcher(
    key: &str,
    values: &[String],
    namespace: &str,
    bundle: &TrustDomainBundle,
) -> (bool, Matcher) {
    let strings = |v: &[String]| v.iter().map(|x| StringMatch::parse(x)).collect::<Vec<_>>();
    let ips = |v: &[String], f: fn(Vec<IpNet>) -> Matcher| match ip_values(v) {
        Ok(n) => f(n),
        Err(e) => Matcher::Invalid(e),
    };
    match key {
        "source.ip" => (false, ips(values, Matcher::SourceIp)),
        "remote.ip" => (false, ips(values, Matcher::RemoteIp)),
        "destination.ip" => (false, ips(values, Matcher::DestinationIp)),
        "destination.port" => {
            let ports: Result<Vec<u16>, _> = values.iter().map(|v| v.parse::<u16>()).collect();
            (
                false,
                match ports {
                    Ok(p) => Matcher::Port(p),
                    Err(_) => Matcher::Invalid(format!("invalid port in {values:?}")),
                },
            )
        }
        "connection.sni" => (false, Matcher::Sni(strings(values))),
        "source.namespace" => (
            false,
            Matcher::Namespace(values.iter().map(|x| NamespaceMatch::parse(x)).collect()),
        ),
        "source.principal" => (false, principals(values, bundle)),
        "source.serviceAccount" => (
            false,
            Matcher::ServiceAccount(
                values
                    .iter()
                    .map(|x| ServiceAccountMatch::parse(x, namespace))
                    .collect(),
            ),
        ),
        "source.trustDomain" => (false, trust_domains(values, bundle)),
        "request.auth.principal" => (
            true,
            Matcher::RequestPrincipal(
                values
                    .iter()
                    .map(|x| RequestPrincipalMatch::parse(x))
                    .collect(),
            ),
        ),
        "request.auth.audiences" => (true, Matcher::Claim(vec!["aud".into()], strings(values))),
        "request.auth.presenter" => (true, Matcher::Claim(vec!["azp".into()], strings(values))),
        _ => {
            if let Some(rest) = key.strip_prefix("request.auth.claims") {
                return match nested_names(rest) {
                    Some(path) => (true, Matcher::Claim(path, strings(values))),
                    None => (true, Matcher::Invalid(format!("malformed claim key {key}"))),
                };
            }
            if let Some(rest) = key.strip_prefix("request.headers") {
                return match rest.strip_prefix('[').and_then(|r| r.strip_suffix(']')) {
                    Some(h) => (
                        true,
                        Matcher::Header(
                            h.to_string(),
                            values
                                .iter()
                                .map(|x| StringMatch::parse_header(x))
                                .collect(),
                        ),
                    ),
                    None => (
                        true,
                        Matcher::Invalid(format!("malformed header key {key}")),
                    ),
                };
            }
            if let Some(rest) = key.strip_prefix("experimental.") {
                let inner = rest.strip_suffix(']').unwrap_or(rest);
                if let Some((filter, k)) = inner.split_once('[')
                    && filter.starts_with("envoy.filters.")
                {
                    let ms = values
                        .iter()
                        .map(
                            |v| match v.strip_prefix('[').and_then(|x| x.strip_suffix(']')) {
                                Some(inner) => (true, StringMatch::parse(inner)),
                                None => (false, StringMatch::parse(v)),
                            },
                        )
                        .collect();
                    return (
                        false,
                        Matcher::Metadata(filter.to_string(), k.to_string(), ms),
                    );
                }
            }
            (
                mesh_model::security::is_http_only_key(key),
                Matcher::Invalid(format!("unknown attribute {key}")),
            )
        }
    }
}

fn condition_clauses(
    i: usize,
    c: &Condition,
    namespace: &str,
    bundle: &TrustDomainBundle,
) -> Vec<Clause> {
    let Condition {
        key,
        values,
        not_values,
    } = c;
    let mut out = Vec::new();
    for (vals, negated, field) in [(values, false, "values"), (not_values, true, "notValues")] {
        if vals.is_empty() {
            continue;
        }
        let (http_only, m) = condition_matcher(key, vals, namespace, bundle);
        out.push(clause(
            format!("when[{i}].{field}"),
            key,
            negated,
            http_only,
            m,
        ));
    }
    out
}
