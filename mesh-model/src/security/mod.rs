//! The `security.istio.io` domain types: PeerAuthentication,
//! RequestAuthentication and AuthorizationPolicy, with their webhook rules
//! (VAL-PA-1, VAL-RA-1, VAL-AP-*).

use crate::config::{Cx, Meta};
use crate::labels::Selector;
use crate::validation;
use crate::wire::security as w;
use crate::wire::types as t;
use serde::Serialize;
use std::collections::BTreeMap;

pub use crate::wire::security::{Action, MtlsMode};

/// A PeerAuthentication.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PeerAuthentication {
    /// The workload selector; `None` for a namespace or mesh policy (PA-1).
    pub selector: Option<Selector>,
    /// The mode; `None` when unset or `UNSET` (inherits, PA-4).
    pub mode: Option<MtlsMode>,
    /// Port-level modes by workload (target) port (PA-5); `UNSET` entries
    /// are kept (they inherit).
    pub port_level: BTreeMap<u16, MtlsMode>,
}

/// A RequestAuthentication.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RequestAuthentication {
    /// The workload selector; `None` for the whole namespace (mesh in the
    /// root namespace).
    pub selector: Option<Selector>,
    /// Target references (Gateway API gateways and waypoints).
    pub target_refs: Vec<PolicyTargetRef>,
    /// JWT rules (wire type, validated).
    pub jwt_rules: Vec<w::JwtRule>,
}

/// A policy target reference.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PolicyTargetRef {
    /// API group.
    pub group: String,
    /// Kind.
    pub kind: String,
    /// Name.
    pub name: String,
}

/// An AuthorizationPolicy.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AuthorizationPolicy {
    /// The workload selector; `None` for the whole namespace (mesh in the
    /// root namespace).
    pub selector: Option<Selector>,
    /// Target references.
    pub target_refs: Vec<PolicyTargetRef>,
    /// The action (ALLOW when unset).
    pub action: Action,
    /// The CUSTOM provider's name.
    pub provider: Option<String>,
    /// The rules; none means the policy never matches (AZ-4).
    pub rules: Vec<Rule>,
    /// `istio.io/dry-run: "true"` (AZ-5).
    pub dry_run: bool,
}

/// A rule: all of its parts must match (AZ-10).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Rule {
    /// Sources, OR'ed; empty means any source.
    pub from: Vec<Source>,
    /// Operations, OR'ed; empty means any operation.
    pub to: Vec<Operation>,
    /// Conditions, AND'ed.
    pub when: Vec<Condition>,
}

/// A rule source: fields AND'ed, values OR'ed (AZ-11).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Source {
    /// `principals`.
    pub principals: Vec<String>,
    /// `notPrincipals`.
    pub not_principals: Vec<String>,
    /// `requestPrincipals`.
    pub request_principals: Vec<String>,
    /// `notRequestPrincipals`.
    pub not_request_principals: Vec<String>,
    /// `namespaces`.
    pub namespaces: Vec<String>,
    /// `notNamespaces`.
    pub not_namespaces: Vec<String>,
    /// `serviceAccounts`.
    pub service_accounts: Vec<String>,
    /// `notServiceAccounts`.
    pub not_service_accounts: Vec<String>,
    /// `trustDomains`.
    pub trust_domains: Vec<String>,
    /// `notTrustDomains`.
    pub not_trust_domains: Vec<String>,
    /// `ipBlocks`.
    pub ip_blocks: Vec<ipnet::IpNet>,
    /// `notIpBlocks`.
    pub not_ip_blocks: Vec<ipnet::IpNet>,
    /// `remoteIpBlocks`.
    pub remote_ip_blocks: Vec<ipnet::IpNet>,
    /// `notRemoteIpBlocks`.
    pub not_remote_ip_blocks: Vec<ipnet::IpNet>,
}

/// A rule operation: fields AND'ed, values OR'ed (AZ-11).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Operation {
    /// `hosts`.
    pub hosts: Vec<String>,
    /// `notHosts`.
    pub not_hosts: Vec<String>,
    /// `ports`.
    pub ports: Vec<u16>,
    /// `notPorts`.
    pub not_ports: Vec<u16>,
    /// `methods`.
    pub methods: Vec<String>,
    /// `notMethods`.
    pub not_methods: Vec<String>,
    /// `paths`.
    pub paths: Vec<String>,
    /// `notPaths`.
    pub not_paths: Vec<String>,
}

/// A `when` condition.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Condition {
    /// The attribute key (`request.headers[x-token]`).
    pub key: String,
    /// `values`.
    pub values: Vec<String>,
    /// `notValues`.
    pub not_values: Vec<String>,
}

/// `validateWorkloadSelector` on `selector` (VAL-AP-1 and the PA/RA
/// equivalents): no empty key, no `*`; no labels is a warning.
fn selector(
    s: Option<&t::WorkloadSelector>,
    cx: &mut Cx<'_>,
    code: &'static str,
) -> Option<Selector> {
    let s = s?;
    let labels = cx.field("selector", |cx| {
        crate::networking::workload_selector(s.match_labels.as_ref(), code, cx)
    });
    Some(Selector(labels))
}

/// `validateOneOfSelectorType`: at most one of `selector`, `targetRef`
/// and `targetRefs`.
fn one_selector_type(
    selector: bool,
    target_ref: bool,
    target_refs: bool,
    code: &'static str,
    cx: &mut Cx<'_>,
) {
    if usize::from(selector) + usize::from(target_ref) + usize::from(target_refs) > 1 {
        cx.error(
            code,
            "only one of targetRefs or workloadSelector can be set",
        );
    }
}

/// `validatePolicyTargetReference`: a name, no namespace (no cross-namespace
/// references), and a Service, ServiceEntry, Gateway or GatewayClass.
fn target_refs(
    one: Option<&t::PolicyTargetReference>,
    many: Option<&Vec<t::PolicyTargetReference>>,
    cx: &mut Cx<'_>,
    code: &'static str,
) -> Vec<PolicyTargetRef> {
    let mut out = Vec::new();
    let mut push = |r: &t::PolicyTargetReference, cx: &mut Cx<'_>| {
        let group = r.group.clone().unwrap_or_default();
        let kind = r.kind.clone().unwrap_or_default();
        let name = r.name.clone().unwrap_or_default();
        if name.is_empty() {
            cx.error(code, "targetRef name must be set");
        }
        if r.namespace.as_deref().is_some_and(|n| !n.is_empty()) {
            cx.field("namespace", |cx| {
                cx.error(
                    code,
                    "targetRef namespace must not be set; cross namespace referencing is not supported",
                )
            });
        }
        let allowed = matches!(
            (group.as_str(), kind.as_str()),
            ("" | "core", "Service")
                | ("networking.istio.io", "ServiceEntry")
                | ("gateway.networking.k8s.io", "Gateway" | "GatewayClass")
        );
        if !allowed {
            cx.error(
                code,
                format!("targetRef must be to one of [core/v1/Service networking.istio.io/v1/ServiceEntry gateway.networking.k8s.io/v1/Gateway gateway.networking.k8s.io/v1/GatewayClass] but was {group}/{kind}"),
            );
        }
        out.push(PolicyTargetRef { group, kind, name });
    };
    if let Some(r) = one {
        cx.field("targetRef", |cx| push(r, cx));
    }
    if let Some(rs) = many {
        cx.field("targetRefs", |cx| {
            for (i, r) in rs.iter().enumerate() {
                cx.index(i, |cx| push(r, cx));
            }
        });
    }
    out
}

impl PeerAuthentication {
    /// VAL-PA-1 (`ValidatePeerAuthentication`).
    pub(crate) fn convert(
        s: &w::PeerAuthentication,
        _meta: &Meta,
        cx: &mut Cx<'_>,
    ) -> PeerAuthentication {
        let selector = selector(s.selector.as_ref(), cx, "VAL-PA-1");
        let mut port_level = BTreeMap::new();
        if let Some(pl) = &s.port_level_mtls {
            cx.field("portLevelMtls", |cx| {
                if selector.as_ref().is_none_or(Selector::is_empty) && !pl.is_empty() {
                    cx.error(
                        "VAL-PA-1",
                        "mesh/namespace peer authentication cannot have port level mTLS",
                    );
                }
                if pl.is_empty() {
                    cx.error(
                        "VAL-PA-1",
                        "port level mTLS, if defined, must have at least one element",
                    );
                }
                for (k, m) in pl {
                    cx.key(k, |cx| match k.parse::<u16>() {
                        Ok(p) if p != 0 => {
                            port_level.insert(p, m.mode.unwrap_or(MtlsMode::Unset));
                        }
                        _ => cx.error("VAL-PA-1", "port must be in range 1..65535"),
                    });
                }
            });
        }
        let mode = s
            .mtls
            .as_ref()
            .and_then(|m| m.mode)
            .filter(|m| *m != MtlsMode::Unset);
        PeerAuthentication {
            selector,
            mode,
            port_level,
        }
    }
}

impl RequestAuthentication {
    /// VAL-RA-1 (`ValidateRequestAuthentication`).
    pub(crate) fn convert(s: &w::RequestAuthentication, cx: &mut Cx<'_>) -> RequestAuthentication {
        one_selector_type(
            s.selector.is_some(),
            s.target_ref.is_some(),
            s.target_refs.as_ref().is_some_and(|v| !v.is_empty()),
            "VAL-RA-1",
            cx,
        );
        let selector = selector(s.selector.as_ref(), cx, "VAL-RA-1");
        let target_refs = target_refs(
            s.target_ref.as_ref(),
            s.target_refs.as_ref(),
            cx,
            "VAL-RA-1",
        );
        let rules = s.jwt_rules.clone().unwrap_or_default();
        cx.field("jwtRules", |cx| {
            for (i, r) in rules.iter().enumerate() {
                cx.index(i, |cx| jwt_rule(r, cx));
            }
        });
        RequestAuthentication {
            selector,
            target_refs,
            jwt_rules: rules,
        }
    }
}

/// Go's `url.Parse` enough to find the scheme (`scheme:…`).
fn url_scheme(uri: &str) -> Option<&str> {
    let (scheme, _) = uri.split_once(':')?;
    let mut chars = scheme.chars();
    let first = chars.next()?;
    (first.is_ascii_alphabetic()
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.')))
    .then_some(scheme)
}

/// VAL-RA-1 (`validateJwtRule`, `warnPrivateJwksKeys`).
fn jwt_rule(r: &w::JwtRule, cx: &mut Cx<'_>) {
    let code = "VAL-RA-1";
    let issuer = r.issuer.as_deref().unwrap_or("");
    let uri = r
        .jwks_uri
        .as_deref()
        .or(r.legacy_jwks_uri.as_deref())
        .unwrap_or("");
    if let Some(a) = &r.audiences {
        cx.field("audiences", |cx| {
            for (i, aud) in a.iter().enumerate() {
                if aud.is_empty() {
                    cx.index(i, |cx| cx.error(code, "audience must be non-empty string"));
                }
            }
        });
    }
    if issuer.is_empty() && uri.is_empty() {
        cx.error(code, "issuer or jwksUri must be non-empty string");
    }
    if !uri.is_empty() {
        cx.field("jwksUri", |cx| {
            // `ParseJwksURI`: only http and https, and a numeric port.
            let scheme = url_scheme(uri).unwrap_or("");
            if scheme != "http" && scheme != "https" {
                cx.error(code, format!("URI scheme {scheme:?} is not supported"));
                return;
            }
            let rest = &uri[scheme.len() + 1..];
            let authority = rest
                .strip_prefix("//")
                .map(|r| r.split(['/', '?', '#']).next().unwrap_or(""))
                .unwrap_or("");
            let hostport = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
            let port = if let Some(v6) = hostport.strip_prefix('[') {
                v6.split_once(']').and_then(|(_, p)| p.strip_prefix(':'))
            } else {
                hostport.split_once(':').map(|(_, p)| p)
            };
            if let Some(p) = port.filter(|p| !p.is_empty())
                && !p.bytes().all(|b| b.is_ascii_digit())
            {
                cx.error(
                    code,
                    format!("parse {uri:?}: invalid port \":{p}\" after host"),
                );
            }
        });
    }
    if let Some(jwks) = r.jwks.as_deref().filter(|j| !j.is_empty()) {
        cx.field("jwks", |cx| {
            let keys = match parse_jwks(jwks) {
                Ok(k) => k,
                Err(e) => {
                    cx.error(code, format!("jwks parse error: {e}"));
                    return;
                }
            };
            for (i, k) in keys.iter().enumerate() {
                let kty = k.get("kty").and_then(|x| x.as_str()).unwrap_or("");
                let private = kty == "oct" || (k.get("d").is_some() && !kty.is_empty());
                if private {
                    cx.warn(
                        code,
                        format!("jwks key at index {i} contains private key material; only public keys are used for verification"),
                    );
                }
            }
        });
    }
    if let Some(hs) = &r.from_headers {
        cx.field("fromHeaders", |cx| {
            for (i, h) in hs.iter().enumerate() {
                if h.name.as_deref().unwrap_or("").is_empty() {
                    cx.index(i, |cx| {
                        cx.error(code, "location header name must be non-empty string")
                    });
                }
            }
        });
    }
    for (field, list, msg) in [
        (
            "fromParams",
            &r.from_params,
            "location query must be non-empty string",
        ),
        (
            "fromCookies",
            &r.from_cookies,
            "cookie name must be non-empty string",
        ),
    ] {
        if let Some(l) = list {
            cx.field(field, |cx| {
                for (i, p) in l.iter().enumerate() {
                    if p.is_empty() {
                        cx.index(i, |cx| cx.error(code, msg));
                    }
                }
            });
        }
    }
    if let Some(o) = &r.output_claim_to_headers {
        cx.field("outputClaimToHeaders", |cx| {
            for (i, c) in o.iter().enumerate() {
                cx.index(i, |cx| {
                    let header = c.header.as_deref().unwrap_or("");
                    if c.claim.as_deref().unwrap_or("").is_empty() || header.is_empty() {
                        cx.error(
                            code,
                            "outputClaimToHeaders header and claim value must be non-empty string",
                        );
                    } else if !header
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
                    {
                        cx.field("header", |cx| {
                            cx.error(
                                code,
                                format!("header name {header} is not a valid header name"),
                            )
                        });
                    }
                });
            }
        });
    }
    if let Some(to) = &r.timeout {
        let _ = cx.field("timeout", |cx| match crate::duration::parse_duration(to) {
            Ok(d) => cx.check("VAL-D1", validation::duration(d)),
            Err(e) => cx.check("VAL-D1", Err(e.to_string())),
        });
    }
}

/// A JWK set (`{"keys": [...]}`) or one JWK, as the keys it holds; each key
/// needs a known `kty`.
fn parse_jwks(text: &str) -> Result<Vec<serde_json::Value>, String> {
    let v: serde_json::Value = serde_json::from_str(text).map_err(|e| e.to_string())?;
    let keys = match v.get("keys") {
        Some(serde_json::Value::Array(k)) => k.clone(),
        Some(_) => return Err("\"keys\" must be a list of keys".into()),
        None if v.get("kty").is_some() => vec![v],
        None => return Err("failed to parse key: invalid key type from JSON ()".into()),
    };
    for k in &keys {
        let kty = k.get("kty").and_then(|x| x.as_str()).unwrap_or("");
        if !matches!(kty, "RSA" | "EC" | "OKP" | "oct") {
            return Err(format!("invalid key type from JSON ({kty})"));
        }
    }
    Ok(keys)
}

/// Whether a `when` key, its values, or a rule's fields use HTTP-only
/// attributes (AZ-30).
pub fn is_http_only_key(key: &str) -> bool {
    key.starts_with("request.headers[") || key.starts_with("request.auth.")
}

/// `validateMapKey`: `a[b]` with a non-empty name before the bracket.
fn map_key(key: &str) -> Result<(), String> {
    match key.find('[') {
        Some(open) if key.ends_with(']') && open > 0 && open + 2 < key.len() => Ok(()),
        _ => Err(format!("bad key ({key}): should have format a[b]")),
    }
}

/// `CheckEmptyValues`.
fn no_empty(field: &str, values: &[String]) -> Result<(), String> {
    if values.iter().any(String::is_empty) {
        return Err(format!("empty value not allowed, found in {field}"));
    }
    Ok(())
}

/// `CheckWildcardValues`: at most one `*`, at the start or the end.
fn wildcard_values(field: &str, values: &[String]) -> Result<(), String> {
    no_empty(field, values)?;
    for v in values {
        let n = v.matches('*').count();
        if n > 1 {
            return Err(format!(
                "at most one wildcard is allowed, found in {field}: {v:?}"
            ));
        }
        if n == 1 && v != "*" && !v.starts_with('*') && !v.ends_with('*') {
            return Err(format!(
                "wildcard is only allowed at the start or end, found in {field}: {v:?}"
            ));
        }
    }
    Ok(())
}

/// `CheckTrustDomainValues`: wildcard values without `/`.
fn trust_domain_values(field: &str, values: &[String]) -> Result<(), String> {
    wildcard_values(field, values)?;
    if let Some(v) = values.iter().find(|v| v.contains('/')) {
        return Err(format!(
            "trust domain must not contain '/', found in {field}: {v:?}"
        ));
    }
    Ok(())
}

/// `CheckServiceAccount` (VAL-AP-5): at most 16 values, each `sa` or
/// `ns/sa`, no `*`, at most 320 characters.
fn service_account_values(field: &str, values: &[String]) -> Result<(), String> {
    if values.len() > 16 {
        return Err("may not have more than 16 values".into());
    }
    for v in values {
        if v.is_empty() {
            return Err(format!("empty value not allowed, found in {field}"));
        }
        if v.contains('*') {
            return Err(format!("wildcard not allowed, found in {field}"));
        }
        if v.matches('/').count() > 1 {
            return Err(format!(
                "expected format 'serviceAccount' or 'namespace/serviceAccount', found {v:?} in {field}"
            ));
        }
        if v.len() > 320 {
            return Err(format!(
                "value cannot exceed 320 characters, found {v:?} in {field}"
            ));
        }
        if let Some((ns, sa)) = v.split_once('/') {
            if ns.is_empty() {
                return Err(format!(
                    "expected format 'serviceAccount' or 'namespace/serviceAccount', found empty namespace {v:?} in {field}"
                ));
            }
            if sa.is_empty() {
                return Err(format!(
                    "expected format 'serviceAccount' or 'namespace/serviceAccount', found empty serviceAccount {v:?} in {field}"
                ));
            }
        }
    }
    Ok(())
}

/// `ValidateIPs`: IPs or CIDR blocks.
fn ip_values(values: &[String]) -> Result<(), String> {
    for v in values {
        if v.contains('/') {
            if v.parse::<ipnet::IpNet>().is_err() {
                return Err(format!(
                    "bad CIDR range ({v}): netip.ParsePrefix({v:?}): invalid prefix"
                ));
            }
        } else if !validation::is_ip(v) {
            return Err(format!("bad IP address ({v})"));
        }
    }
    Ok(())
}

/// `ValidatePorts`: decimal numbers 0..=65535.
fn port_values(values: &[String]) -> Result<(), String> {
    for p in values {
        let ok = !p.is_empty()
            && p.bytes().all(|b| b.is_ascii_digit())
            && p.parse::<u32>().is_ok_and(|n| n <= 65535);
        if !ok {
            return Err(format!(
                "bad port ({p}): strconv.ParseUint: parsing {p:?}: invalid syntax"
            ));
        }
    }
    Ok(())
}

/// `security.ValidateAttribute` (VAL-AP-4): the `when` key is known and its
/// values fit it.
fn validate_attribute(key: &str, values: &[String]) -> Result<(), String> {
    no_empty(key, values)?;
    if key.starts_with("request.headers") {
        return map_key(key);
    }
    match key {
        "source.ip" | "remote.ip" | "destination.ip" => ip_values(values),
        "source.namespace"
        | "source.principal"
        | "request.auth.principal"
        | "request.auth.audiences"
        | "request.auth.presenter"
        | "connection.sni" => Ok(()),
        "source.serviceAccount" => service_account_values(key, values),
        "source.trustDomain" => wildcard_values(key, values),
        "destination.port" => port_values(values),
        "destination.namespace" => Err(format!(
            "attribute {key} is replaced by the metadata.namespace"
        )),
        "destination.name" | "destination.user" => Err(format!(
            "deprecated attribute {key}: only supported in v1alpha1"
        )),
        _ if key.starts_with("request.auth.claims") => map_key(key),
        _ if key.starts_with("experimental.envoy.filters.") => map_key(key),
        _ if key.starts_with("destination.labels") => Err(format!(
            "attribute {key} is replaced by the workload selector"
        )),
        _ => Err(format!("unknown attribute: {key}")),
    }
}

fn ip_blocks(list: Option<&Vec<String>>) -> Vec<ipnet::IpNet> {
    list.iter()
        .flat_map(|l| l.iter())
        .filter_map(|s| validation::ip_subnet(s).ok())
        .collect()
}

fn ports(list: Option<&Vec<String>>) -> Vec<u16> {
    list.iter()
        .flat_map(|l| l.iter())
        .filter_map(|s| s.parse::<u16>().ok())
        .collect()
}

/// `CheckValidPathTemplate` (VAL-AP-5): `{*}` matches one segment, `{**}`
/// the rest and must come last; a templated path's other segments are
/// RFC 3986 `pchar` literals.
fn path_template(field: &str, path: &str) -> Result<(), String> {
    let templated = path.contains("{*}") || path.contains("{**}");
    let trimmed = path.trim_matches('/');
    let mut any_seen = false;
    for glob in trimmed.split('/') {
        match glob {
            "{*}" | "{**}" if any_seen => {
                return Err(format!(
                    "invalid or unsupported path {trimmed}, found in {field}. {{**}} is not the last operator"
                ));
            }
            "{*}" => continue,
            "{**}" => {
                any_seen = true;
                continue;
            }
            _ => {}
        }
        if glob.contains(['{', '}']) {
            return Err(format!(
                "invalid or unsupported path {trimmed}, found in {field}. Contains '{{' or '}}' beyond a supported path template"
            ));
        }
        let literal_ok = !glob.is_empty()
            && glob
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-._~%!$&'()+,;:@=".contains(&b));
        if templated && !literal_ok {
            return Err(format!(
                "invalid or unsupported path {trimmed}, found in {field}. Contains segment {glob} with invalid string literal"
            ));
        }
    }
    Ok(())
}

impl AuthorizationPolicy {
    /// VAL-AP-1 … VAL-AP-6 (`ValidateAuthorizationPolicy`).
    pub(crate) fn convert(
        s: &w::AuthorizationPolicy,
        meta: &Meta,
        cx: &mut Cx<'_>,
    ) -> AuthorizationPolicy {
        one_selector_type(
            s.selector.is_some(),
            s.target_ref.is_some(),
            s.target_refs.as_ref().is_some_and(|v| !v.is_empty()),
            "VAL-AP-1",
            cx,
        );
        let selector = selector(s.selector.as_ref(), cx, "VAL-AP-1");
        let target_refs = target_refs(
            s.target_ref.as_ref(),
            s.target_refs.as_ref(),
            cx,
            "VAL-AP-1",
        );
        let action = s.action.unwrap_or(Action::Allow);
        let provider = s.provider.as_ref().and_then(|p| p.name.clone());
        if action == Action::Custom {
            if s.rules.is_none() {
                cx.error(
                    "VAL-AP-2",
                    "CUSTOM action without `rules` is meaningless as it will never be triggered, add an empty rule `{}` if you want it be triggered for every request",
                );
            } else if provider.as_deref().unwrap_or("").is_empty() {
                cx.field("provider", |cx| {
                    cx.error("VAL-AP-2", "`provider.name` must not be empty")
                });
            }
        }
        if s.provider.is_some() && action != Action::Custom {
            cx.field("provider", |cx| {
                cx.error(
                    "VAL-AP-2",
                    format!("`provider` must not be with non CUSTOM action, found {action}"),
                )
            });
        }
        if action == Action::Deny && s.rules.is_none() {
            cx.error(
                "VAL-AP-2",
                "DENY action without `rules` is meaningless as it will never be triggered, add an empty rule `{}` if you want it be triggered for every request",
            );
        }
        let mut rules = Vec::new();
        if let Some(rs) = &s.rules {
            cx.field("rules", |cx| {
                for (i, r) in rs.iter().enumerate() {
                    rules.push(cx.index(i, |cx| Rule::convert(r, i, action, cx)));
                }
            });
        }
        let dry_run = meta
            .annotations
            .get("istio.io/dry-run")
            .and_then(|v| validation::parse_go_bool(v))
            .unwrap_or(false);
        AuthorizationPolicy {
            selector,
            target_refs,
            action,
            provider,
            rules,
            dry_run,
        }
    }
}

impl Rule {
    /// Whether every constraint of the rule is HTTP-only (so on TCP the rule
    /// becomes match-all for DENY, AZ-32) — and it has at least one.
    pub fn uses_only_http(&self) -> bool {
        let src_http =
            |s: &Source| !s.request_principals.is_empty() || !s.not_request_principals.is_empty();
        let src_tcp = |s: &Source| {
            !(s.principals.is_empty()
                && s.not_principals.is_empty()
                && s.namespaces.is_empty()
                && s.not_namespaces.is_empty()
                && s.service_accounts.is_empty()
                && s.not_service_accounts.is_empty()
                && s.trust_domains.is_empty()
                && s.not_trust_domains.is_empty()
                && s.ip_blocks.is_empty()
                && s.not_ip_blocks.is_empty()
                && s.remote_ip_blocks.is_empty()
                && s.not_remote_ip_blocks.is_empty())
        };
        let op_http = |o: &Operation| {
            !(o.hosts.is_empty()
                && o.not_hosts.is_empty()
                && o.methods.is_empty()
                && o.not_methods.is_empty()
                && o.paths.is_empty()
                && o.not_paths.is_empty())
        };
        let op_tcp = |o: &Operation| !o.ports.is_empty() || !o.not_ports.is_empty();
        let any_http = self.from.iter().any(src_http)
            || self.to.iter().any(op_http)
            || self.when.iter().any(|c| is_http_only_key(&c.key));
        let any_tcp = self.from.iter().any(src_tcp)
            || self.to.iter().any(op_tcp)
            || self.when.iter().any(|c| !is_http_only_key(&c.key));
        any_http && !any_tcp
    }

    fn convert(r: &w::Rule, i: usize, action: Action, cx: &mut Cx<'_>) -> Rule {
        let mut out = Rule::default();
        if r.from.as_ref().is_some_and(Vec::is_empty) {
            cx.field("from", |cx| {
                cx.error(
                    "VAL-AP-3",
                    format!("`from` must not be empty, found at rule {i}"),
                )
            });
        }
        // For VAL-AP-6: whether from/to exist and carry TCP attributes.
        let (mut from_exists, mut tcp_in_from) = (false, false);
        let (mut to_exists, mut tcp_in_to) = (false, false);
        if let Some(from) = &r.from {
            cx.field("from", |cx| {
                for (j, f) in from.iter().enumerate() {
                    cx.index(j, |cx| {
                        let Some(src) = &f.source else {
                            cx.error(
                                "VAL-AP-3",
                                format!("`from.source` must not be nil, found at rule {i}"),
                            );
                            return;
                        };
                        from_exists = true;
                        tcp_in_from |= [
                            &src.principals,
                            &src.not_principals,
                            &src.ip_blocks,
                            &src.not_ip_blocks,
                            &src.namespaces,
                            &src.not_namespaces,
                            &src.remote_ip_blocks,
                            &src.not_remote_ip_blocks,
                            &src.service_accounts,
                            &src.not_service_accounts,
                        ]
                        .iter()
                        .any(|l| l.is_some());
                        out.from
                            .push(cx.field("source", |cx| Source::convert(src, i, action, cx)));
                    });
                }
            });
        }
        if r.to.as_ref().is_some_and(Vec::is_empty) {
            cx.field("to", |cx| {
                cx.error(
                    "VAL-AP-3",
                    format!("`to` must not be empty, found at rule {i}"),
                )
            });
        }
        if let Some(to) = &r.to {
            cx.field("to", |cx| {
                for (j, t) in to.iter().enumerate() {
                    cx.index(j, |cx| {
                        let Some(op) = &t.operation else {
                            cx.error(
                                "VAL-AP-3",
                                format!("`to.operation` must not be nil, found at rule {i}"),
                            );
                            return;
                        };
                        to_exists = true;
                        tcp_in_to |= op.ports.is_some() || op.not_ports.is_some();
                        out.to
                            .push(cx.field("operation", |cx| Operation::convert(op, i, cx)));
                    });
                }
            });
        }
        if let Some(when) = &r.when {
            cx.field("when", |cx| {
                for (j, c) in when.iter().enumerate() {
                    cx.index(j, |cx| {
                        let key = c.key.clone().unwrap_or_default();
                        let values = c.values.clone().unwrap_or_default();
                        let not_values = c.not_values.clone().unwrap_or_default();
                        if key.is_empty() {
                            cx.field("key", |cx| cx.error("VAL-AP-4", "`key` must not be empty"));
                        } else if values.is_empty() && not_values.is_empty() {
                            cx.error("VAL-AP-4", format!("at least one of `values` or `notValues` must be set for key {key}"));
                        } else {
                            for (field, what, vs) in [
                                ("values", "value", &values),
                                ("notValues", "notValue", &not_values),
                            ] {
                                if let Err(e) = validate_attribute(&key, vs) {
                                    let at = if vs.is_empty() { "key" } else { field };
                                    cx.field(at, |cx| {
                                        cx.error("VAL-AP-4", format!("invalid `{what}` for `key` {key}: {e}"))
                                    });
                                }
                            }
                        }
                        if action == Action::Custom
                            && (matches!(
                                key.as_str(),
                                "source.namespace"
                                    | "source.principal"
                                    | "source.serviceAccount"
                                    | "source.trustDomain"
                            ) || key.starts_with("request.auth."))
                        {
                            cx.field("key", |cx| {
                                cx.error("VAL-AP-2", format!("{key} is currently not supported with CUSTOM action"))
                            });
                        }
                        out.when.push(Condition { key, values, not_values });
                    });
                }
            });
        }
        // VAL-AP-6: a DENY rule whose source or operation is made of HTTP
        // attributes only matches every TCP connection.
        let http_only = (from_exists && !to_exists && !tcp_in_from) || (to_exists && !tcp_in_to);
        if action == Action::Deny && http_only {
            cx.warn(
                "VAL-AP-6",
                "configured AuthorizationPolicy will deny all traffic to TCP ports under its scope due to the use of only HTTP attributes in a DENY rule; it is recommended to explicitly specify the port",
            );
        }
        out
    }
}

impl Source {
    fn convert(s: &w::Source, i: usize, action: Action, cx: &mut Cx<'_>) -> Source {
        let list = |v: &Option<Vec<String>>| v.clone().unwrap_or_default();
        let out = Source {
            principals: list(&s.principals),
            not_principals: list(&s.not_principals),
            request_principals: list(&s.request_principals),
            not_request_principals: list(&s.not_request_principals),
            namespaces: list(&s.namespaces),
            not_namespaces: list(&s.not_namespaces),
            service_accounts: list(&s.service_accounts),
            not_service_accounts: list(&s.not_service_accounts),
            trust_domains: list(&s.trust_domains),
            not_trust_domains: list(&s.not_trust_domains),
            ip_blocks: ip_blocks(s.ip_blocks.as_ref()),
            not_ip_blocks: ip_blocks(s.not_ip_blocks.as_ref()),
            remote_ip_blocks: ip_blocks(s.remote_ip_blocks.as_ref()),
            not_remote_ip_blocks: ip_blocks(s.not_remote_ip_blocks.as_ref()),
        };
        let len = |v: &Option<Vec<String>>| v.as_ref().map_or(0, Vec::len);
        if len(&s.principals) + len(&s.not_principals) + len(&s.namespaces) + len(&s.not_namespaces)
            > 0
            && len(&s.service_accounts) + len(&s.not_service_accounts) > 0
        {
            cx.error(
                "VAL-AP-5",
                format!(
                    "cannot set serviceAccounts with namespaces or principals, found at rule {i}"
                ),
            );
        }
        let all = [
            &s.principals,
            &s.request_principals,
            &s.namespaces,
            &s.ip_blocks,
            &s.remote_ip_blocks,
            &s.not_principals,
            &s.not_request_principals,
            &s.not_namespaces,
            &s.not_ip_blocks,
            &s.not_remote_ip_blocks,
            &s.service_accounts,
            &s.not_service_accounts,
            &s.trust_domains,
            &s.not_trust_domains,
        ];
        if all.iter().all(|l| len(l) == 0) {
            cx.error(
                "VAL-AP-3",
                format!("`from.source` must not be empty, found at rule {i}"),
            );
        }
        let ips: ListCheck = |_, v| ip_values(v);
        check_lists(
            &[
                Checked("ipBlocks", "IpBlocks", &s.ip_blocks, ips, "VAL-AP-3"),
                Checked(
                    "notIpBlocks",
                    "NotIpBlocks",
                    &s.not_ip_blocks,
                    ips,
                    "VAL-AP-3",
                ),
                Checked(
                    "remoteIpBlocks",
                    "RemoteIpBlocks",
                    &s.remote_ip_blocks,
                    ips,
                    "VAL-AP-3",
                ),
                Checked(
                    "notRemoteIpBlocks",
                    "NotRemoteIpBlocks",
                    &s.not_remote_ip_blocks,
                    ips,
                    "VAL-AP-3",
                ),
                Checked(
                    "principals",
                    "Principals",
                    &s.principals,
                    no_empty,
                    "VAL-AP-3",
                ),
                Checked(
                    "requestPrincipals",
                    "RequestPrincipals",
                    &s.request_principals,
                    no_empty,
                    "VAL-AP-3",
                ),
                Checked(
                    "namespaces",
                    "Namespaces",
                    &s.namespaces,
                    no_empty,
                    "VAL-AP-3",
                ),
                Checked(
                    "serviceAccounts",
                    "ServiceAccounts",
                    &s.service_accounts,
                    service_account_values,
                    "VAL-AP-5",
                ),
                Checked(
                    "trustDomains",
                    "TrustDomains",
                    &s.trust_domains,
                    trust_domain_values,
                    "VAL-AP-3",
                ),
                Checked("ipBlocks", "IpBlocks", &s.ip_blocks, no_empty, "VAL-AP-3"),
                Checked(
                    "remoteIpBlocks",
                    "RemoteIpBlocks",
                    &s.remote_ip_blocks,
                    no_empty,
                    "VAL-AP-3",
                ),
                Checked(
                    "notPrincipals",
                    "NotPrincipals",
                    &s.not_principals,
                    no_empty,
                    "VAL-AP-3",
                ),
                Checked(
                    "notRequestPrincipals",
                    "NotRequestPrincipals",
                    &s.not_request_principals,
                    no_empty,
                    "VAL-AP-3",
                ),
                Checked(
                    "notNamespaces",
                    "NotNamespaces",
                    &s.not_namespaces,
                    no_empty,
                    "VAL-AP-3",
                ),
                Checked(
                    "notServiceAccounts",
                    "NotServiceAccounts",
                    &s.not_service_accounts,
                    service_account_values,
                    "VAL-AP-5",
                ),
                Checked(
                    "notTrustDomains",
                    "NotTrustDomains",
                    &s.not_trust_domains,
                    trust_domain_values,
                    "VAL-AP-3",
                ),
                Checked(
                    "notIpBlocks",
                    "NotIpBlocks",
                    &s.not_ip_blocks,
                    no_empty,
                    "VAL-AP-3",
                ),
                Checked(
                    "notRemoteIpBlocks",
                    "NotRemoteIpBlocks",
                    &s.not_remote_ip_blocks,
                    no_empty,
                    "VAL-AP-3",
                ),
            ],
            cx,
        );
        if action == Action::Custom {
            for (field, set) in [
                ("namespaces", !out.namespaces.is_empty()),
                ("notNamespaces", !out.not_namespaces.is_empty()),
                ("serviceAccounts", !out.service_accounts.is_empty()),
                ("notServiceAccounts", !out.not_service_accounts.is_empty()),
                ("trustDomains", !out.trust_domains.is_empty()),
                ("notTrustDomains", !out.not_trust_domains.is_empty()),
                ("principals", !out.principals.is_empty()),
                ("notPrincipals", !out.not_principals.is_empty()),
                ("requestPrincipals", !out.request_principals.is_empty()),
                (
                    "notRequestPrincipals",
                    !out.not_request_principals.is_empty(),
                ),
            ] {
                if set {
                    cx.field(field, |cx| {
                        cx.error(
                            "VAL-AP-2",
                            format!(
                                "From.{} is currently not supported with CUSTOM action",
                                pascal(field)
                            ),
                        )
                    });
                }
            }
        }
        out
    }
}

/// A check of one string list of a Source or Operation.
type ListCheck = fn(&str, &[String]) -> Result<(), String>;

/// One list check: wire field, the name Istio's messages use, the values,
/// the check and the rule id.
struct Checked<'a>(
    &'static str,
    &'static str,
    &'a Option<Vec<String>>,
    ListCheck,
    &'static str,
);

/// Runs list checks in order, reporting at most one problem per field (as
/// Istio's checks stop at the first), at the offending entry where one can
/// be named.
fn check_lists(checks: &[Checked<'_>], cx: &mut Cx<'_>) {
    let mut reported: Vec<&str> = Vec::new();
    for Checked(field, name, values, check, code) in checks {
        let Some(values) = values else { continue };
        if reported.contains(field) {
            continue;
        }
        if let Err(e) = check(name, values) {
            reported.push(field);
            let at = values
                .iter()
                .position(|v| check(name, std::slice::from_ref(v)).is_err());
            cx.field(field, |cx| match at {
                Some(n) => cx.index(n, |cx| cx.error(code, e)),
                None => cx.error(code, e),
            });
        }
    }
}

fn pascal(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_uppercase().collect::<String>() + c.as_str(),
        None => String::new(),
    }
}

impl Operation {
    fn convert(o: &w::Operation, i: usize, cx: &mut Cx<'_>) -> Operation {
        let list = |v: &Option<Vec<String>>| v.clone().unwrap_or_default();
        let out = Operation {
            hosts: list(&o.hosts),
            not_hosts: list(&o.not_hosts),
            ports: ports(o.ports.as_ref()),
            not_ports: ports(o.not_ports.as_ref()),
            methods: list(&o.methods),
            not_methods: list(&o.not_methods),
            paths: list(&o.paths),
            not_paths: list(&o.not_paths),
        };
        let len = |v: &Option<Vec<String>>| v.as_ref().map_or(0, Vec::len);
        if [
            &o.ports,
            &o.methods,
            &o.paths,
            &o.hosts,
            &o.not_ports,
            &o.not_methods,
            &o.not_paths,
            &o.not_hosts,
        ]
        .iter()
        .all(|l| len(l) == 0)
        {
            cx.error(
                "VAL-AP-3",
                format!("`to.operation` must not be empty, found at rule {i}"),
            );
        }
        let port_check: ListCheck = |_, v| port_values(v);
        let path_check: ListCheck = |f, v| v.iter().try_for_each(|p| path_template(f, p));
        check_lists(
            &[
                Checked("ports", "Ports", &o.ports, port_check, "VAL-AP-3"),
                Checked("notPorts", "NotPorts", &o.not_ports, port_check, "VAL-AP-3"),
                Checked("ports", "Ports", &o.ports, no_empty, "VAL-AP-3"),
                Checked("methods", "Methods", &o.methods, no_empty, "VAL-AP-3"),
                Checked("paths", "Paths", &o.paths, no_empty, "VAL-AP-3"),
                Checked("hosts", "Hosts", &o.hosts, no_empty, "VAL-AP-3"),
                Checked("notPorts", "NotPorts", &o.not_ports, no_empty, "VAL-AP-3"),
                Checked(
                    "notMethods",
                    "NotMethods",
                    &o.not_methods,
                    no_empty,
                    "VAL-AP-3",
                ),
                Checked("notPaths", "NotPaths", &o.not_paths, no_empty, "VAL-AP-3"),
                Checked("notHosts", "NotHosts", &o.not_hosts, no_empty, "VAL-AP-3"),
                Checked("paths", "Paths", &o.paths, path_check, "VAL-AP-5"),
                Checked("notPaths", "NotPaths", &o.not_paths, path_check, "VAL-AP-5"),
            ],
            cx,
        );
        out
    }
}
