//! One AuthorizationPolicy rule as Envoy RBAC: the rule's conditions
//! sorted into permissions (what is asked for) and principals (who asks),
//! then generated for an HTTP or a TCP filter chain (AZ-10..AZ-12,
//! AZ-20..AZ-22, AZ-30..AZ-32). This follows Istio's
//! `pilot/pkg/security/authz/model` package step for step, so the output is
//! the one istiod sends.

use super::TrustDomainBundle;
use super::matcher as m;
use crate::util::any as pack_any;
use envoy_types::pb::envoy::config::core::v3::{CidrRange, TypedExtensionConfig};
use envoy_types::pb::envoy::config::rbac::v3::principal::Authenticated;
use envoy_types::pb::envoy::config::rbac::v3::rbac::Action as RbacAction;
use envoy_types::pb::envoy::config::rbac::v3::{
    Permission, Policy, Principal, permission, principal,
};
use envoy_types::pb::envoy::r#type::matcher::v3::{
    FilterStateMatcher, MetadataMatcher, StringMatcher, filter_state_matcher,
};
use envoy_types::pb::google::protobuf::UInt32Value;
use mesh_model::security::{Condition, Operation, Rule, Source};

/// The JWT filter whose dynamic metadata holds the verified claims.
const JWT_FILTER: &str = "envoy.filters.http.jwt_authn";
/// The key of the JWT payload in that metadata.
const JWT_PAYLOAD: &str = "payload";
/// The filter-state key of the peer identity on HBONE-terminated chains.
const PEER_PRINCIPAL_KEY: &str = "io.istio.peer_principal";
const SPIFFE: &str = "spiffe://";

/// The attribute a condition tests: which Envoy matcher it becomes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Attr {
    // Permission side.
    Host,
    Method,
    Path,
    DestPort,
    DestIp,
    ConnSni,
    EnvoyFilter,
    /// A `when` key Istio does not know (AZ-21).
    Unknown,
    // Principal side.
    SrcPrincipal,
    RequestPrincipal,
    SrcServiceAccount,
    SrcTrustDomain,
    SrcNamespace,
    RemoteIp,
    SrcIp,
    RequestAudiences,
    RequestPresenter,
    RequestHeader,
    RequestClaims,
}

impl Attr {
    /// Extended attributes build one matcher over all values; their
    /// not-form is `not` of that matcher, with no `or` wrapper.
    fn extended(self) -> bool {
        matches!(
            self,
            Attr::EnvoyFilter
                | Attr::RequestPrincipal
                | Attr::RequestAudiences
                | Attr::RequestPresenter
                | Attr::RequestClaims
        )
    }
}

/// One field or `when` key of a rule with its values.
#[derive(Debug, Clone, PartialEq)]
struct Cond {
    key: String,
    attr: Attr,
    values: Vec<String>,
    not_values: Vec<String>,
}

impl Cond {
    fn new(attr: Attr, key: &str, values: Vec<String>, not_values: Vec<String>) -> Option<Cond> {
        (!values.is_empty() || !not_values.is_empty()).then(|| Cond {
            key: key.to_string(),
            attr,
            values,
            not_values,
        })
    }
}

/// A rule, sorted into permission lists (one per `to`) and principal lists
/// (one per `from`). The `when` conditions of each side are shared by every
/// list of that side and come after the list's own conditions.
#[derive(Debug, Clone)]
pub(crate) struct RuleModel {
    /// The policy's namespace: where a bare service account lives.
    namespace: String,
    permissions: Vec<Vec<Cond>>,
    /// Each `from`'s own conditions (one empty list when `from` is absent).
    principals: Vec<Vec<Cond>>,
    /// The principal-side `when` conditions, shared by every principal.
    shared_principal: Vec<Cond>,
}

/// Error text for a generator used on the wrong side (never reached: the
/// model puts every attribute on its own side).
const UNIMPLEMENTED: &str = "unimplemented";

impl RuleModel {
    /// Sorts a rule's conditions (AZ-12). `namespace` is the policy's, the
    /// default namespace of a bare service account.
    ///
    /// An unknown `when` key (AZ-21; validation rejects it, so only values
    /// built by hand hold one) fails closed: it voids an ALLOW rule, and
    /// is left out of a DENY, AUDIT or CUSTOM rule, which widens it, as an
    /// HTTP-only condition on TCP is (AZ-31, AZ-32). Istio skips such a
    /// rule whatever its action, which would make a DENY rule allow.
    pub(crate) fn new(namespace: &str, rule: &Rule) -> RuleModel {
        let Rule { from, to, when } = rule;
        let mut base_permission = Vec::new();
        let mut base_principal = Vec::new();
        for c in when {
            let Condition {
                key,
                values,
                not_values,
            } = c;
            let k = key.as_str();
            let (principal_side, attr) = match k {
                "destination.ip" => (false, Attr::DestIp),
                "destination.port" => (false, Attr::DestPort),
                "connection.sni" => (false, Attr::ConnSni),
                _ if k.starts_with("experimental.envoy.filters.") => (false, Attr::EnvoyFilter),
                "source.ip" => (true, Attr::SrcIp),
                "remote.ip" => (true, Attr::RemoteIp),
                "source.namespace" => (true, Attr::SrcNamespace),
                "source.trustDomain" => (true, Attr::SrcTrustDomain),
                "source.serviceAccount" => (true, Attr::SrcServiceAccount),
                "source.principal" => (true, Attr::SrcPrincipal),
                "request.auth.principal" => (true, Attr::RequestPrincipal),
                "request.auth.audiences" => (true, Attr::RequestAudiences),
                "request.auth.presenter" => (true, Attr::RequestPresenter),
                _ if k.starts_with("request.headers") => (true, Attr::RequestHeader),
                _ if k.starts_with("request.auth.claims") => (true, Attr::RequestClaims),
                _ => {
                    base_permission.push(Cond {
                        key: k.to_string(),
                        attr: Attr::Unknown,
                        values: values.clone(),
                        not_values: not_values.clone(),
                    });
                    continue;
                }
            };
            let cond = Cond::new(attr, k, values.clone(), not_values.clone());
            if principal_side {
                base_principal.extend(cond);
            } else {
                base_permission.extend(cond);
            }
        }

        let mut principals = Vec::new();
        for s in from {
            principals.push(source_conds(s));
        }
        if from.is_empty() {
            principals.push(Vec::new());
        }

        let mut permissions = Vec::new();
        for o in to {
            let mut list = operation_conds(o);
            list.extend(base_permission.iter().cloned());
            permissions.push(list);
        }
        if to.is_empty() {
            permissions.push(base_permission);
        }

        RuleModel {
            namespace: namespace.to_string(),
            permissions,
            principals,
            shared_principal: base_principal,
        }
    }

    /// Expands trust-domain aliases in `principals` / `source.principal`
    /// and `trustDomains` / `source.trustDomain` values (AZ-23).
    ///
    /// Istio shares the `when` conditions between the principals of a rule
    /// and migrates each principal's conditions in turn, so a shared
    /// `when` condition is migrated once per `from` entry. Principal
    /// migration is not idempotent (an expanded list is expanded again,
    /// with no de-duplication across values), so this is reproduced: the
    /// output then lists some principals more than once, with the same
    /// meaning.
    pub(crate) fn migrate_trust_domain(&mut self, bundle: &TrustDomainBundle) {
        for list in &mut self.principals {
            list.iter_mut().for_each(|c| migrate(c, bundle));
        }
        for _ in 0..self.principals.len() {
            self.shared_principal
                .iter_mut()
                .for_each(|c| migrate(c, bundle));
        }
    }

    /// The Envoy RBAC policy of the rule. `Err` means the rule is skipped:
    /// for ALLOW, a value that cannot be generated (an HTTP-only field on
    /// TCP, AZ-31) voids the whole rule; for DENY and LOG such a value is
    /// left out, which widens the rule (AZ-32), and the reason is added to
    /// `dropped`.
    pub(crate) fn generate(
        &self,
        for_tcp: bool,
        use_authenticated: bool,
        action: RbacAction,
        dropped: &mut Vec<String>,
    ) -> Result<Policy, String> {
        let mut g = Gen {
            for_tcp,
            use_authenticated,
            action,
            namespace: &self.namespace,
            dropped,
        };
        let mut permissions = Vec::new();
        for list in &self.permissions {
            let mut and = Vec::new();
            for c in list {
                and.extend(g.permissions(c)?);
            }
            if and.is_empty() {
                and.push(permission_any());
            }
            permissions.push(permission_and(and));
        }
        if permissions.is_empty() {
            return Err("must have at least 1 permission".into());
        }
        let mut principals = Vec::new();
        for list in &self.principals {
            let mut and = Vec::new();
            for c in list.iter().chain(&self.shared_principal) {
                and.extend(g.principals(c)?);
            }
            if and.is_empty() {
                and.push(principal_any());
            }
            principals.push(principal_and(and));
        }
        if principals.is_empty() {
            return Err("must have at least 1 principal".into());
        }
        Ok(Policy {
            permissions,
            principals,
            ..Default::default()
        })
    }
}

fn replace_aliases(bundle: &TrustDomainBundle, principals: &[String]) -> Vec<String> {
    principals
        .iter()
        .flat_map(|p| bundle.expand_principal(p))
        .collect()
}

fn migrate(c: &mut Cond, bundle: &TrustDomainBundle) {
    let f = match c.attr {
        Attr::SrcPrincipal => replace_aliases,
        Attr::SrcTrustDomain => TrustDomainBundle::expand_trust_domains,
        _ => return,
    };
    if !c.values.is_empty() {
        c.values = f(bundle, &c.values);
    }
    if !c.not_values.is_empty() {
        c.not_values = f(bundle, &c.not_values);
    }
}

/// A `from.source`'s conditions, in Istio's order: principals,
/// requestPrincipals, serviceAccounts, trustDomains, namespaces,
/// remoteIpBlocks, ipBlocks.
fn source_conds(s: &Source) -> Vec<Cond> {
    let Source {
        principals,
        not_principals,
        request_principals,
        not_request_principals,
        namespaces,
        not_namespaces,
        service_accounts,
        not_service_accounts,
        trust_domains,
        not_trust_domains,
        ip_blocks,
        not_ip_blocks,
        remote_ip_blocks,
        not_remote_ip_blocks,
    } = s;
    let nets = |v: &[ipnet::IpNet]| v.iter().map(ToString::to_string).collect::<Vec<_>>();
    [
        Cond::new(
            Attr::SrcPrincipal,
            "source.principal",
            principals.clone(),
            not_principals.clone(),
        ),
        Cond::new(
            Attr::RequestPrincipal,
            "request.auth.principal",
            request_principals.clone(),
            not_request_principals.clone(),
        ),
        Cond::new(
            Attr::SrcServiceAccount,
            "source.serviceAccount",
            service_accounts.clone(),
            not_service_accounts.clone(),
        ),
        Cond::new(
            Attr::SrcTrustDomain,
            "source.trustDomain",
            trust_domains.clone(),
            not_trust_domains.clone(),
        ),
        Cond::new(
            Attr::SrcNamespace,
            "source.namespace",
            namespaces.clone(),
            not_namespaces.clone(),
        ),
        Cond::new(
            Attr::RemoteIp,
            "remote.ip",
            nets(remote_ip_blocks),
            nets(not_remote_ip_blocks),
        ),
        Cond::new(
            Attr::SrcIp,
            "source.ip",
            nets(ip_blocks),
            nets(not_ip_blocks),
        ),
    ]
    .into_iter()
    .flatten()
    .collect()
}

/// A `to.operation`'s conditions, in Istio's order: hosts, methods,
/// paths, ports.
fn operation_conds(o: &Operation) -> Vec<Cond> {
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
    let ports_s = |v: &[u16]| v.iter().map(ToString::to_string).collect::<Vec<_>>();
    [
        Cond::new(Attr::Host, ":authority", hosts.clone(), not_hosts.clone()),
        Cond::new(
            Attr::Method,
            ":method",
            methods.clone(),
            not_methods.clone(),
        ),
        Cond::new(Attr::Path, "path-matcher", paths.clone(), not_paths.clone()),
        Cond::new(
            Attr::DestPort,
            "destination.port",
            ports_s(ports),
            ports_s(not_ports),
        ),
    ]
    .into_iter()
    .flatten()
    .collect()
}

/// Generation of one rule's matchers.
struct Gen<'a> {
    for_tcp: bool,
    use_authenticated: bool,
    action: RbacAction,
    /// The policy's namespace.
    namespace: &'a str,
    /// Why conditions were left out.
    dropped: &'a mut Vec<String>,
}

impl Gen<'_> {
    /// Istio's `checkError`: an ALLOW rule fails with its first error (a
    /// narrower ALLOW); otherwise the value is left out (a wider DENY or
    /// AUDIT).
    fn check<T>(&mut self, r: Result<Option<T>, String>) -> Result<Option<T>, String> {
        match r {
            Err(e) if self.action == RbacAction::Allow => Err(e),
            Err(e) => {
                if !self.dropped.contains(&e) {
                    self.dropped.push(e);
                }
                Ok(None)
            }
            ok => ok,
        }
    }

    fn permissions(&mut self, c: &Cond) -> Result<Vec<Permission>, String> {
        let for_tcp = self.for_tcp;
        let mut out = Vec::new();
        if c.attr == Attr::Unknown {
            self.check::<Permission>(Err(format!("unknown attribute {}", c.key)))?;
            return Ok(out);
        }
        if c.attr.extended() {
            if !c.values.is_empty() {
                out.extend(self.check(extended_permission(c, &c.values, for_tcp))?);
            }
            if !c.not_values.is_empty()
                && let Some(p) = self.check(extended_permission(c, &c.not_values, for_tcp))?
            {
                out.push(permission_not(p));
            }
        } else {
            let mut or = Vec::new();
            for v in &c.values {
                or.extend(self.check(value_permission(c, v, for_tcp).map(Some))?);
            }
            if !or.is_empty() {
                out.push(permission_or(or));
            }
            let mut or = Vec::new();
            for v in &c.not_values {
                or.extend(self.check(value_permission(c, v, for_tcp).map(Some))?);
            }
            if !or.is_empty() {
                out.push(permission_not(permission_or(or)));
            }
        }
        Ok(out)
    }

    fn principals(&mut self, c: &Cond) -> Result<Vec<Principal>, String> {
        let (for_tcp, auth, ns) = (self.for_tcp, self.use_authenticated, self.namespace);
        let mut out = Vec::new();
        if c.attr.extended() {
            if !c.values.is_empty() {
                out.extend(self.check(extended_principal(c, &c.values, for_tcp))?);
            }
            if !c.not_values.is_empty()
                && let Some(p) = self.check(extended_principal(c, &c.not_values, for_tcp))?
            {
                out.push(principal_not(p));
            }
        } else {
            let mut or = Vec::new();
            for v in &c.values {
                or.extend(self.check(value_principal(c, ns, v, for_tcp, auth).map(Some))?);
            }
            if !or.is_empty() {
                out.push(principal_or(or));
            }
            let mut or = Vec::new();
            for v in &c.not_values {
                or.extend(self.check(value_principal(c, ns, v, for_tcp, auth).map(Some))?);
            }
            if !or.is_empty() {
                out.push(principal_not(principal_or(or)));
            }
        }
        Ok(out)
    }
}

fn http_only(c: &Cond) -> String {
    format!("{:?} is HTTP only", c.key)
}

/// One value of a permission-side condition.
fn value_permission(c: &Cond, v: &str, for_tcp: bool) -> Result<Permission, String> {
    let rule = match c.attr {
        Attr::Host if for_tcp => return Err(http_only(c)),
        Attr::Host => permission::Rule::Header(m::host(":authority", v)),
        Attr::Method if for_tcp => return Err(http_only(c)),
        Attr::Method => permission::Rule::Header(m::header(":method", v)),
        Attr::Path if for_tcp => return Err(http_only(c)),
        Attr::Path if m::contains_path_template(v) => {
            permission::Rule::UriTemplate(TypedExtensionConfig {
                name: "uri-template".into(),
                typed_config: Some(pack_any(&m::path_template(v))),
            })
        }
        Attr::Path => permission::Rule::UrlPath(m::path(v)),
        Attr::DestPort => permission::Rule::DestinationPort(port(v)?),
        Attr::DestIp => permission::Rule::DestinationIp(cidr(v)?),
        Attr::ConnSni => permission::Rule::RequestedServerName(m::string(v)),
        _ => return Err(UNIMPLEMENTED.into()),
    };
    Ok(Permission { rule: Some(rule) })
}

/// All values of an extended permission-side condition as one matcher.
fn extended_permission(
    c: &Cond,
    values: &[String],
    _for_tcp: bool,
) -> Result<Option<Permission>, String> {
    if c.attr != Attr::EnvoyFilter {
        return Err(UNIMPLEMENTED.into());
    }
    // "experimental.envoy.filters.a.b[c]" → filter "envoy.filters.a.b", key "c".
    let k = c.key.strip_prefix("experimental.").unwrap_or(&c.key);
    let k = k.strip_suffix(']').unwrap_or(k);
    let Some((filter, key)) = k.split_once('[') else {
        return Err(format!("invalid key: {}", c.key));
    };
    let matchers = values
        .iter()
        .map(|v| {
            if v.starts_with('[') && v.ends_with(']') {
                let inner = v.trim_matches(|ch| ch == '[' || ch == ']');
                m::value_list_one_of(m::value_string(m::string(inner)))
            } else {
                m::value_string(m::string(v))
            }
        })
        .collect();
    let md = m::metadata(filter, &[key], m::value_or(matchers));
    Ok(Some(permission_metadata(md)))
}

/// One value of a principal-side condition.
fn value_principal(
    c: &Cond,
    ns: &str,
    v: &str,
    for_tcp: bool,
    use_authenticated: bool,
) -> Result<Principal, String> {
    let id = match c.attr {
        Attr::SrcIp => principal::Identifier::DirectRemoteIp(cidr(v)?),
        Attr::RemoteIp => principal::Identifier::RemoteIp(cidr(v)?),
        Attr::SrcNamespace => {
            let ns = v
                .split('*')
                .map(m::quote_meta)
                .collect::<Vec<_>>()
                .join(".*");
            return Ok(authenticated(
                m::regex(&format!(".*/ns/{ns}/.*")),
                use_authenticated,
            ));
        }
        Attr::SrcServiceAccount => {
            return Ok(authenticated(
                m::regex(&service_account_regex(ns, v)),
                use_authenticated,
            ));
        }
        Attr::SrcTrustDomain => {
            let sm = if v == "*" {
                m::prefix(SPIFFE, false)
            } else if let Some((a, b)) = v.split_once('*') {
                m::regex(&format!(
                    "{SPIFFE}{}[^/]*{}/.*",
                    m::quote_meta(a),
                    m::quote_meta(b)
                ))
            } else {
                m::prefix(&format!("{SPIFFE}{v}/"), false)
            };
            return Ok(authenticated(sm, use_authenticated));
        }
        Attr::SrcPrincipal => {
            return Ok(authenticated(
                m::string_with_prefix(v, SPIFFE),
                use_authenticated,
            ));
        }
        Attr::RequestHeader if for_tcp => return Err(http_only(c)),
        Attr::RequestHeader => {
            let name = in_brackets(c.key.strip_prefix("request.headers").unwrap_or(&c.key))?;
            principal::Identifier::Header(m::header(name, v))
        }
        _ => return Err(UNIMPLEMENTED.into()),
    };
    Ok(Principal {
        identifier: Some(id),
    })
}

/// All values of an extended principal-side condition as one matcher.
fn extended_principal(
    c: &Cond,
    values: &[String],
    for_tcp: bool,
) -> Result<Option<Principal>, String> {
    match c.attr {
        Attr::RequestPrincipal
        | Attr::RequestAudiences
        | Attr::RequestPresenter
        | Attr::RequestClaims
            if for_tcp =>
        {
            Err(http_only(c))
        }
        Attr::RequestPrincipal => {
            let mut or: Vec<Principal> = values.iter().map(|v| request_principal(v)).collect();
            Ok(match or.len() {
                0 => None,
                1 => or.pop(),
                _ => Some(principal_or(or)),
            })
        }
        Attr::RequestAudiences => Ok(Some(jwt_claims(&["aud"], values))),
        Attr::RequestPresenter => Ok(Some(jwt_claims(&["azp"], values))),
        Attr::RequestClaims => {
            let claims =
                nested_brackets(c.key.strip_prefix("request.auth.claims").unwrap_or(&c.key))?;
            let claims: Vec<&str> = claims.iter().map(String::as_str).collect();
            Ok(Some(jwt_claims(&claims, values)))
        }
        _ => Err(UNIMPLEMENTED.into()),
    }
}

/// A claim (at `claims` in the JWT payload) that is, or is a list holding,
/// one of the values.
fn jwt_claims(claims: &[&str], values: &[String]) -> Principal {
    let mut keys = vec![JWT_PAYLOAD];
    keys.extend_from_slice(claims);
    principal_metadata(m::metadata_list_or_value(
        JWT_FILTER,
        &keys,
        m::string_or(values),
    ))
}

/// `requestPrincipals` / `request.auth.principal`: `iss/sub`, split at the
/// last `/` (the issuer may be a URL); `*` on either side means any
/// non-empty value (AZ-20 table).
fn request_principal(value: &str) -> Principal {
    let any = || m::regex(".+");
    let split = value.rfind('/').map(|i| (&value[..i], &value[i + 1..]));
    // Go's TrimPrefix/TrimSuffix: remove one `*` if there is one.
    let trim_start = |s: &str| -> String { s.strip_prefix('*').unwrap_or(s).to_string() };
    let trim_end = |s: &str| -> String { s.strip_suffix('*').unwrap_or(s).to_string() };
    let (match_iss, match_sub) = if value == "*" {
        (any(), any())
    } else if value.starts_with('*') {
        // `*suffix`: the issuer ends with it (or is any), the subject is exact.
        match split {
            Some(("*", sub)) => (any(), m::exact(sub, false)),
            Some((iss, sub)) => (m::suffix(&trim_start(iss), false), m::exact(sub, false)),
            None => (any(), m::suffix(&trim_start(value), false)),
        }
    } else if value.ends_with('*') {
        // `prefix*`: the issuer is exact, the subject starts with it (or is any).
        match split {
            Some((iss, "*")) => (m::exact(iss, false), any()),
            Some((iss, sub)) => (m::exact(iss, false), m::prefix(&trim_end(sub), false)),
            None => (m::prefix(&trim_end(value), false), any()),
        }
    } else {
        match split {
            Some((iss, sub)) => (m::exact(iss, false), m::exact(sub, false)),
            None => (m::exact(value, false), m::exact("", false)),
        }
    };
    let claim = |name: &str, sm: StringMatcher| {
        principal_metadata(m::metadata(
            JWT_FILTER,
            &[JWT_PAYLOAD, name],
            m::value_string(sm),
        ))
    };
    principal_and(vec![claim("iss", match_iss), claim("sub", match_sub)])
}

/// `serviceAccounts`: `ns/sa`, or a bare `sa` in the policy's namespace,
/// in any trust domain (AZ-20 table).
fn service_account_regex(default_ns: &str, value: &str) -> String {
    let (ns, sa) = value.split_once('/').unwrap_or((default_ns, value));
    format!(
        "spiffe://.+/ns/{}/(.+/|)sa/{}(/.+)?",
        m::quote_meta(ns),
        m::quote_meta(sa)
    )
}

/// The peer identity matched by `sm`: the certificate's URI SAN, or the
/// filter state HBONE termination leaves.
fn authenticated(sm: StringMatcher, use_authenticated: bool) -> Principal {
    let id = if use_authenticated {
        principal::Identifier::Authenticated(Authenticated {
            principal_name: Some(sm),
        })
    } else {
        principal::Identifier::FilterState(FilterStateMatcher {
            key: PEER_PRINCIPAL_KEY.into(),
            matcher: Some(filter_state_matcher::Matcher::StringMatch(sm)),
        })
    };
    Principal {
        identifier: Some(id),
    }
}

/// An IP or CIDR as Envoy's `CidrRange` (a bare IP is /32 or /128). The
/// address is written as given, host bits included.
fn cidr(v: &str) -> Result<CidrRange, String> {
    let (addr, len) = if v.contains('/') {
        let net: ipnet::IpNet = v.parse().map_err(|e| format!("{e}: {v}"))?;
        (net.addr(), net.prefix_len())
    } else {
        let ip: std::net::IpAddr = v.parse().map_err(|e| format!("{e}: {v}"))?;
        (ip, if ip.is_ipv4() { 32 } else { 128 })
    };
    Ok(CidrRange {
        address_prefix: addr.to_string(),
        prefix_len: Some(UInt32Value { value: len.into() }),
    })
}

fn port(v: &str) -> Result<u32, String> {
    v.parse::<u16>()
        .map(u32::from)
        .map_err(|e| format!("invalid port {v}: {e}"))
}

/// `[NAME]` → `NAME`.
fn in_brackets(s: &str) -> Result<&str, String> {
    s.strip_prefix('[')
        .and_then(|s| s.strip_suffix(']'))
        .ok_or_else(|| format!("expecting format [<NAME>], but found {s}"))
}

/// `[a][b]` → `[a, b]`; anything else falls back to one `[NAME]`.
fn nested_brackets(s: &str) -> Result<Vec<String>, String> {
    let b = s.as_bytes();
    let end_of = |begin: usize| -> Option<usize> {
        if begin >= b.len() || b[begin] != b'[' {
            return None;
        }
        for (i, &c) in b.iter().enumerate().skip(begin + 1) {
            match c {
                b'[' => return None,
                b']' => return Some(i),
                _ => {}
            }
        }
        None
    };
    let mut claims = Vec::new();
    let mut begin = 0;
    while begin < b.len() {
        match end_of(begin) {
            Some(end) => {
                claims.push(s[begin + 1..end].to_string());
                begin = end + 1;
            }
            None => return in_brackets(s).map(|n| vec![n.to_string()]),
        }
    }
    Ok(claims)
}

pub(crate) fn permission_any() -> Permission {
    Permission {
        rule: Some(permission::Rule::Any(true)),
    }
}

fn permission_and(rules: Vec<Permission>) -> Permission {
    Permission {
        rule: Some(permission::Rule::AndRules(permission::Set { rules })),
    }
}

fn permission_or(rules: Vec<Permission>) -> Permission {
    Permission {
        rule: Some(permission::Rule::OrRules(permission::Set { rules })),
    }
}

pub(crate) fn permission_not(p: Permission) -> Permission {
    Permission {
        rule: Some(permission::Rule::NotRule(Box::new(p))),
    }
}

#[allow(deprecated)] // Istio writes `metadata`, not `sourcedMetadata`.
fn permission_metadata(md: MetadataMatcher) -> Permission {
    Permission {
        rule: Some(permission::Rule::Metadata(md)),
    }
}

pub(crate) fn principal_any() -> Principal {
    Principal {
        identifier: Some(principal::Identifier::Any(true)),
    }
}

fn principal_and(ids: Vec<Principal>) -> Principal {
    Principal {
        identifier: Some(principal::Identifier::AndIds(principal::Set { ids })),
    }
}

fn principal_or(ids: Vec<Principal>) -> Principal {
    Principal {
        identifier: Some(principal::Identifier::OrIds(principal::Set { ids })),
    }
}

pub(crate) fn principal_not(p: Principal) -> Principal {
    Principal {
        identifier: Some(principal::Identifier::NotId(Box::new(p))),
    }
}

#[allow(deprecated)] // Istio writes `metadata`, not `sourcedMetadata`.
fn principal_metadata(md: MetadataMatcher) -> Principal {
    Principal {
        identifier: Some(principal::Identifier::Metadata(md)),
    }
}
