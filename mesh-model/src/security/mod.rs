//! The `security.istio.io` domain types: PeerAuthentication,
//! RequestAuthentication and AuthorizationPolicy, with their webhook rules
//! (VAL-PA-1, VAL-RA-1, VAL-AP-*).

use crate::config::{Cx, Meta};
use crate::labels::{Labels, Selector};
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

fn selector(
    s: Option<&t::WorkloadSelector>,
    cx: &mut Cx<'_>,
    code: &'static str,
) -> Option<Selector> {
    let s = s?;
    let labels: Labels = s.match_labels.clone().unwrap_or_default();
    cx.field("selector", |cx| {
        cx.field("matchLabels", |cx| {
            for (k, v) in &labels {
                cx.key(k, |cx| {
                    if k.is_empty() || k == "*" {
                        cx.error(code, "invalid label selector key: empty or wildcard key");
                    } else {
                        cx.check(code, validation::label_key(k));
                    }
                    if v.contains('*') {
                        cx.error(code, "wildcard is not supported in selector");
                    } else {
                        cx.check(code, validation::label_value(v));
                    }
                });
            }
        })
    });
    Some(Selector(labels))
}

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
        let allowed = matches!(
            (group.as_str(), kind.as_str()),
            ("gateway.networking.k8s.io", "Gateway" | "GatewayClass")
                | ("", "Service")
                | ("networking.istio.io", "ServiceEntry")
        );
        if !allowed {
            cx.error(code, format!("targetRef must be to one of Gateway, GatewayClass, Service or ServiceEntry, got {group}/{kind}"));
        }
        out.push(PolicyTargetRef {
            group,
            kind,
            name: r.name.clone().unwrap_or_default(),
        });
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
    pub(crate) fn convert(
        s: &w::PeerAuthentication,
        _meta: &Meta,
        cx: &mut Cx<'_>,
    ) -> PeerAuthentication {
        let selector = selector(s.selector.as_ref(), cx, "VAL-PA-1");
        let mut port_level = BTreeMap::new();
        if let Some(pl) = &s.port_level_mtls {
            cx.field("portLevelMtls", |cx| {
                if selector.as_ref().is_none_or(Selector::is_empty) {
                    cx.error(
                        "VAL-PA-1",
                        "mesh/namespace peer authentication cannot have port level mTLS",
                    );
                }
                if pl.is_empty() {
                    cx.error("VAL-PA-1", "port level mTLS must not be empty");
                }
                for (k, m) in pl {
                    cx.key(k, |cx| match k.parse::<u16>() {
                        Ok(p) if p != 0 => {
                            port_level.insert(p, m.mode.unwrap_or(MtlsMode::Unset));
                        }
                        _ => cx.error("VAL-PA-1", format!("port {k:?} must be between 1-65535")),
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
    pub(crate) fn convert(s: &w::RequestAuthentication, cx: &mut Cx<'_>) -> RequestAuthentication {
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

/// VAL-RA-1.
fn jwt_rule(r: &w::JwtRule, cx: &mut Cx<'_>) {
    let code = "VAL-RA-1";
    let issuer = r.issuer.as_deref().unwrap_or("");
    let uri = r
        .jwks_uri
        .as_deref()
        .or(r.legacy_jwks_uri.as_deref())
        .unwrap_or("");
    if issuer.is_empty() && uri.is_empty() {
        cx.error(
            code,
            "issuer must be set, or jwksUri must be set for issuer discovery",
        );
    }
    if let Some(a) = &r.audiences {
        cx.field("audiences", |cx| {
            for (i, aud) in a.iter().enumerate() {
                if aud.is_empty() {
                    cx.index(i, |cx| cx.error(code, "audience must be non-empty string"));
                }
            }
        });
    }
    if !uri.is_empty() {
        cx.field("jwksUri", |cx| {
            let scheme = uri.split_once("://").map(|(s, _)| s.to_ascii_lowercase());
            match scheme.as_deref() {
                Some("http" | "https") => {
                    let rest = uri.split_once("://").map(|(_, r)| r).unwrap_or("");
                    let host = rest.split(['/', '?', '#']).next().unwrap_or("");
                    if host.is_empty() {
                        cx.error(code, format!("jwks uri {uri:?} has no host"));
                    }
                }
                _ => cx.error(
                    code,
                    format!("URI scheme of jwks uri {uri:?} is not supported (http or https)"),
                ),
            }
        });
    }
    if let Some(jwks) = r.jwks.as_deref().filter(|j| !j.is_empty()) {
        cx.field("jwks", |cx| {
            match serde_json::from_str::<serde_json::Value>(jwks) {
                Err(e) => cx.error(code, format!("jwks parse error: {e}")),
                Ok(v) => {
                    let keys: Vec<&serde_json::Value> = match v
                        .get("keys")
                        .and_then(|k| k.as_array())
                    {
                        Some(k) => k.iter().collect(),
                        None if v.get("kty").is_some() => vec![&v],
                        None => {
                            cx.error(code, "jwks parse error: expected a JWK set with \"keys\"");
                            return;
                        }
                    };
                    for k in keys {
                        if k.get("kty").and_then(|x| x.as_str()).is_none() {
                            cx.error(code, "jwks parse error: key without \"kty\"");
                        }
                        if k.get("d").is_some() || k.get("p").is_some() {
                            cx.warn(
                                code,
                                "jwks contains a private key; only public keys should be published",
                            );
                        }
                    }
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
    for (field, list) in [
        ("fromParams", &r.from_params),
        ("fromCookies", &r.from_cookies),
    ] {
        if let Some(l) = list {
            cx.field(field, |cx| {
                for (i, p) in l.iter().enumerate() {
                    if p.is_empty() {
                        cx.index(i, |cx| {
                            cx.error(code, format!("{field} must be non-empty string"))
                        });
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
                            "outputClaimToHeaders must specify both claim and header",
                        );
                    } else if !validation::is_header_name(header) || header.starts_with(':') {
                        cx.error(code, format!("invalid header name {header:?}"));
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

/// The `when` keys Istio knows (AZ-20 table).
const WHEN_KEYS: &[&str] = &[
    "source.ip",
    "remote.ip",
    "source.namespace",
    "source.principal",
    "source.serviceAccount",
    "source.trustDomain",
    "request.auth.principal",
    "request.auth.audiences",
    "request.auth.presenter",
    "destination.ip",
    "destination.port",
    "connection.sni",
];

/// Whether a `when` key, its values, or a rule's fields use HTTP-only
/// attributes (AZ-30).
pub fn is_http_only_key(key: &str) -> bool {
    key.starts_with("request.headers[") || key.starts_with("request.auth.")
}

fn bracketed(s: &str) -> bool {
    let mut r = s;
    let mut n = 0;
    while let Some(x) = r.strip_prefix('[') {
        let Some(end) = x.find(']') else { return false };
        if end == 0 {
            return false;
        }
        n += 1;
        r = &x[end + 1..];
    }
    r.is_empty() && n > 0
}

/// `security.ValidateAttribute` (VAL-AP-4).
fn when_key(key: &str) -> Result<(), String> {
    if key.starts_with("destination.labels[")
        || matches!(
            key,
            "destination.name" | "destination.namespace" | "destination.user"
        )
    {
        return Err(format!("{key} is disabled"));
    }
    if key == "source.user" {
        return Err("source.user is deprecated, use source.principal".into());
    }
    if let Some(rest) = key.strip_prefix("request.headers") {
        return if bracketed(rest) && rest.matches('[').count() == 1 {
            Ok(())
        } else {
            Err(format!(
                "invalid request.headers key {key:?}: must be request.headers[NAME]"
            ))
        };
    }
    if let Some(rest) = key.strip_prefix("request.auth.claims") {
        return if bracketed(rest) {
            Ok(())
        } else {
            Err(format!(
                "invalid claims key {key:?}: must be request.auth.claims[NAME] or nested [A][B]"
            ))
        };
    }
    if let Some(rest) = key.strip_prefix("experimental.envoy.filters.") {
        let ok = rest
            .find('[')
            .is_some_and(|i| i > 0 && bracketed(&rest[i..]));
        return if ok {
            Ok(())
        } else {
            Err(format!(
                "invalid key {key:?}: must be experimental.envoy.filters.FILTER[KEY]"
            ))
        };
    }
    if WHEN_KEYS.contains(&key) {
        Ok(())
    } else {
        Err(format!("unknown attribute: {key}"))
    }
}

fn ip_blocks(
    list: Option<&Vec<String>>,
    field: &'static str,
    cx: &mut Cx<'_>,
) -> Vec<ipnet::IpNet> {
    let Some(list) = list else { return Vec::new() };
    cx.field(field, |cx| {
        let mut out = Vec::new();
        for (i, s) in list.iter().enumerate() {
            match s
                .parse::<ipnet::IpNet>()
                .or_else(|_| s.parse::<std::net::IpAddr>().map(ipnet::IpNet::from))
            {
                Ok(n) => out.push(n),
                Err(_) => cx.index(i, |cx| {
                    cx.error("VAL-AP-3", format!("invalid IP address or CIDR range: {s}"))
                }),
            }
        }
        out
    })
}

fn strings(list: Option<&Vec<String>>, field: &'static str, cx: &mut Cx<'_>) -> Vec<String> {
    let Some(list) = list else { return Vec::new() };
    cx.field(field, |cx| {
        for (i, s) in list.iter().enumerate() {
            if s.is_empty() {
                cx.index(i, |cx| {
                    cx.error(
                        "VAL-AP-3",
                        format!("empty value is not allowed, found in {field}"),
                    )
                });
            }
        }
    });
    list.clone()
}

fn ports(list: Option<&Vec<String>>, field: &'static str, cx: &mut Cx<'_>) -> Vec<u16> {
    let Some(list) = list else { return Vec::new() };
    cx.field(field, |cx| {
        let mut out = Vec::new();
        for (i, s) in list.iter().enumerate() {
            match s.parse::<u16>() {
                Ok(p) if p != 0 => out.push(p),
                _ => cx.index(i, |cx| {
                    cx.error(
                        "VAL-AP-3",
                        format!("invalid port {s:?}: must be between 1-65535"),
                    )
                }),
            }
        }
        out
    })
}

/// `CheckValidPathTemplate` (VAL-AP-5): `{*}` matches one segment, `{**}`
/// the rest and must come last.
fn path_template(path: &str) -> Result<(), String> {
    let templated = path.contains("{*}") || path.contains("{**}");
    let mut any_seen = false;
    for glob in path.trim_matches('/').split('/') {
        match glob {
            "{*}" | "{**}" if any_seen => {
                return Err(format!(
                    "invalid or unsupported path {path}: {{**}} is not the last operator"
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
                "invalid or unsupported path {path}: contains '{{' or '}}' beyond a supported path template"
            ));
        }
        let literal_ok = glob
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-._~!$&'()+,;=:@%".contains(&b));
        if templated && !literal_ok {
            return Err(format!(
                "invalid or unsupported path {path}: contains segment {glob} with invalid string literal"
            ));
        }
    }
    Ok(())
}

fn paths(list: Option<&Vec<String>>, field: &'static str, cx: &mut Cx<'_>) -> Vec<String> {
    let v = strings(list, field, cx);
    cx.field(field, |cx| {
        for (i, p) in v.iter().enumerate() {
            if let Err(e) = path_template(p) {
                cx.index(i, |cx| cx.error("VAL-AP-5", e));
            }
        }
    });
    v
}

impl AuthorizationPolicy {
    pub(crate) fn convert(
        s: &w::AuthorizationPolicy,
        meta: &Meta,
        cx: &mut Cx<'_>,
    ) -> AuthorizationPolicy {
        let set = usize::from(s.selector.is_some())
            + usize::from(s.target_ref.is_some())
            + usize::from(s.target_refs.as_ref().is_some_and(|v| !v.is_empty()));
        if set > 1 {
            cx.error("VAL-AP-1", "only one of targetRefs or selector can be set");
        }
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
                    rules.push(cx.index(i, |cx| Rule::convert(r, i, action, meta, cx)));
                }
            });
        }
        if action == Action::Deny {
            for (i, r) in rules.iter().enumerate() {
                if r.uses_only_http() {
                    cx.field("rules", |cx| {
                        cx.index(i, |cx| {
                            cx.warn(
                                "VAL-AP-6",
                                "configured AuthorizationPolicy will deny all traffic to TCP ports under its scope due to the use of only HTTP attributes in a DENY rule; it is recommended to explicitly specify the port",
                            )
                        })
                    });
                }
            }
        }
        let dry_run = meta
            .annotations
            .get("istio.io/dry-run")
            .is_some_and(|v| validation::parse_go_bool(v) == Some(true));
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

    fn convert(r: &w::Rule, i: usize, action: Action, meta: &Meta, cx: &mut Cx<'_>) -> Rule {
        let mut out = Rule::default();
        if r.from.as_ref().is_some_and(Vec::is_empty) {
            cx.field("from", |cx| {
                cx.error(
                    "VAL-AP-3",
                    format!("`from` must not be empty, found at rule {i}"),
                )
            });
        }
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
                        out.from.push(
                            cx.field("source", |cx| Source::convert(src, i, action, meta, cx)),
                        );
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
                        } else if let Err(e) = when_key(&key) {
                            cx.field("key", |cx| cx.error("VAL-AP-4", e));
                        } else {
                            let check_values = |cx: &mut Cx<'_>, field: &'static str, vs: &[String]| {
                                cx.field(field, |cx| {
                                    for (n, v) in vs.iter().enumerate() {
                                        let bad = match key.as_str() {
                                            "source.ip" | "remote.ip" | "destination.ip" => (!validation::is_ip_or_cidr(v))
                                                .then(|| format!("invalid IP address or CIDR range: {v}")),
                                            "destination.port" => (!v.parse::<u16>().is_ok_and(|p| p != 0))
                                                .then(|| format!("invalid port {v:?}")),
                                            _ => v.is_empty().then(|| "empty value is not allowed".to_string()),
                                        };
                                        if let Some(b) = bad {
                                            cx.index(n, |cx| cx.error("VAL-AP-4", format!("invalid value for key {key}: {b}")));
                                        }
                                    }
                                });
                            };
                            check_values(cx, "values", &values);
                            check_values(cx, "notValues", &not_values);
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
        out
    }
}

impl Source {
    fn convert(s: &w::Source, i: usize, action: Action, meta: &Meta, cx: &mut Cx<'_>) -> Source {
        let out = Source {
            principals: strings(s.principals.as_ref(), "principals", cx),
            not_principals: strings(s.not_principals.as_ref(), "notPrincipals", cx),
            request_principals: strings(s.request_principals.as_ref(), "requestPrincipals", cx),
            not_request_principals: strings(
                s.not_request_principals.as_ref(),
                "notRequestPrincipals",
                cx,
            ),
            namespaces: strings(s.namespaces.as_ref(), "namespaces", cx),
            not_namespaces: strings(s.not_namespaces.as_ref(), "notNamespaces", cx),
            service_accounts: strings(s.service_accounts.as_ref(), "serviceAccounts", cx),
            not_service_accounts: strings(
                s.not_service_accounts.as_ref(),
                "notServiceAccounts",
                cx,
            ),
            trust_domains: strings(s.trust_domains.as_ref(), "trustDomains", cx),
            not_trust_domains: strings(s.not_trust_domains.as_ref(), "notTrustDomains", cx),
            ip_blocks: ip_blocks(s.ip_blocks.as_ref(), "ipBlocks", cx),
            not_ip_blocks: ip_blocks(s.not_ip_blocks.as_ref(), "notIpBlocks", cx),
            remote_ip_blocks: ip_blocks(s.remote_ip_blocks.as_ref(), "remoteIpBlocks", cx),
            not_remote_ip_blocks: ip_blocks(
                s.not_remote_ip_blocks.as_ref(),
                "notRemoteIpBlocks",
                cx,
            ),
        };
        if out == Source::default()
            && s.ip_blocks.is_none()
            && s.not_ip_blocks.is_none()
            && s.remote_ip_blocks.is_none()
            && s.not_remote_ip_blocks.is_none()
        {
            cx.error(
                "VAL-AP-3",
                format!("`from.source` must not be empty, found at rule {i}"),
            );
        }
        for (field, list) in [
            ("serviceAccounts", &out.service_accounts),
            ("notServiceAccounts", &out.not_service_accounts),
        ] {
            if list.is_empty() {
                continue;
            }
            cx.field(field, |cx| {
                if list.len() > 16 {
                    cx.error(
                        "VAL-AP-5",
                        format!("too many {field}, at most 16 are allowed"),
                    );
                }
                for (n, sa) in list.iter().enumerate() {
                    cx.index(n, |cx| {
                        if sa.contains('*') {
                            cx.error("VAL-AP-5", "wildcard is not supported in serviceAccounts");
                            return;
                        }
                        let parts: Vec<&str> = sa.split('/').collect();
                        let ok = match parts.as_slice() {
                            [sa] => validation::is_dns1123_label(sa) || is_subdomain(sa),
                            [ns, sa] => {
                                validation::is_dns1123_label(ns)
                                    && (validation::is_dns1123_label(sa) || is_subdomain(sa))
                            }
                            _ => false,
                        };
                        if !ok {
                            cx.error(
                                "VAL-AP-5",
                                format!(
                                    "invalid service account {sa:?}: must be NAMESPACE/NAME or NAME"
                                ),
                            );
                        }
                    });
                }
            });
            if !out.principals.is_empty()
                || !out.not_principals.is_empty()
                || !out.namespaces.is_empty()
                || !out.not_namespaces.is_empty()
            {
                cx.error(
                    "VAL-AP-5",
                    "Cannot set serviceAccounts with namespaces or principals",
                );
            }
        }
        if action == Action::Custom {
            for (field, set) in [
                ("namespaces", !out.namespaces.is_empty()),
                ("notNamespaces", !out.not_namespaces.is_empty()),
                ("principals", !out.principals.is_empty()),
                ("notPrincipals", !out.not_principals.is_empty()),
                ("requestPrincipals", !out.request_principals.is_empty()),
                (
                    "notRequestPrincipals",
                    !out.not_request_principals.is_empty(),
                ),
                ("serviceAccounts", !out.service_accounts.is_empty()),
                ("notServiceAccounts", !out.not_service_accounts.is_empty()),
                ("trustDomains", !out.trust_domains.is_empty()),
                ("notTrustDomains", !out.not_trust_domains.is_empty()),
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
        let _ = meta;
        out
    }
}

fn pascal(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_uppercase().collect::<String>() + c.as_str(),
        None => String::new(),
    }
}

fn is_subdomain(s: &str) -> bool {
    s.len() <= 253 && s.split('.').all(validation::is_dns1123_label)
}

impl Operation {
    fn convert(o: &w::Operation, i: usize, cx: &mut Cx<'_>) -> Operation {
        let out = Operation {
            hosts: strings(o.hosts.as_ref(), "hosts", cx),
            not_hosts: strings(o.not_hosts.as_ref(), "notHosts", cx),
            ports: ports(o.ports.as_ref(), "ports", cx),
            not_ports: ports(o.not_ports.as_ref(), "notPorts", cx),
            methods: strings(o.methods.as_ref(), "methods", cx),
            not_methods: strings(o.not_methods.as_ref(), "notMethods", cx),
            paths: paths(o.paths.as_ref(), "paths", cx),
            not_paths: paths(o.not_paths.as_ref(), "notPaths", cx),
        };
        let written = o.ports.is_some() || o.not_ports.is_some();
        if out == Operation::default() && !written {
            cx.error(
                "VAL-AP-3",
                format!("`to.operation` must not be empty, found at rule {i}"),
            );
        }
        out
    }
}
