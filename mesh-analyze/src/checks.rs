//! Checks no Istio analyzer makes, with this crate's own codes
//! (`MESH001`–`MESH006`, listed in the crate documentation). They read
//! the validated mesh ([`Inputs::snapshot`](crate::Inputs::snapshot)):
//! objects the webhook would reject are left to the schema analyzers.

use crate::analyzers::{Analyzer, Cx, path};
use crate::input::{Entry, kinds};
use crate::message::types;
use mesh_authz::engine::{Authz, AuthzOptions};
use mesh_authz::peer::PeerPolicies;
use mesh_model::config::Config;
use mesh_model::labels::{Labels, Selector};
use mesh_model::networking::{HttpMatchRequest, StringMatch, UnusedRule, unused_rules};
use mesh_model::resource::{IstioKind, ResourceKey};
use mesh_model::security::{Action, MtlsMode, Rule, is_http_only_key};
use mesh_model::snapshot::{Snapshot, WorkloadInstance};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

/// `mesh.ShadowedRouteAnalyzer` (MESH001).
pub const SHADOWED_ROUTES: Analyzer = Analyzer {
    name: "mesh.ShadowedRouteAnalyzer",
    description: "Finds HTTP routes that earlier routes of the same VirtualService always match first",
    default: true,
    run: shadowed_routes,
};

/// `mesh.AuthorizationRuleAnalyzer` (MESH002, MESH003, MESH004).
pub const AUTHZ_RULES: Analyzer = Analyzer {
    name: "mesh.AuthorizationRuleAnalyzer",
    description: "Finds AuthorizationPolicy rules that can never match as written",
    default: true,
    run: authz_rules,
};

/// `mesh.PeerAuthenticationAnalyzer` (MESH005).
pub const PEER_AUTHENTICATION: Analyzer = Analyzer {
    name: "mesh.PeerAuthenticationAnalyzer",
    description: "Finds PeerAuthentications that an older one silently overrides",
    default: true,
    run: peer_authentications,
};

/// `mesh.SubsetEndpointAnalyzer` (MESH006).
pub const SUBSET_ENDPOINTS: Analyzer = Analyzer {
    name: "mesh.SubsetEndpointAnalyzer",
    description: "Finds DestinationRule subsets that no endpoint of their host carries",
    default: true,
    run: subset_endpoints,
};

/// The input object of a validated one.
fn entry<'a>(cx: &Cx<'a>, kind: IstioKind, key: &ResourceKey) -> Option<&'a Entry> {
    cx.inputs
        .find(kinds::istio(kind), &key.namespace, &key.name)
}

// ---------------------------------------------------------------------------
// MESH001: routes shadowed by earlier routes.

/// Whether every value `b` matches is matched by `a` (`a_ci`/`b_ci`: the
/// match ignores ASCII case, as `ignoreUriCase` makes URI matches).
fn string_covers(a: &StringMatch, a_ci: bool, b: &StringMatch, b_ci: bool) -> bool {
    let starts = |s: &str, p: &str| {
        if a_ci {
            s.len() >= p.len() && s.as_bytes()[..p.len()].eq_ignore_ascii_case(p.as_bytes())
        } else {
            s.starts_with(p)
        }
    };
    let equal = |x: &str, y: &str| {
        if a_ci {
            x.eq_ignore_ascii_case(y)
        } else {
            x == y
        }
    };
    match (a, b) {
        (StringMatch::Present, _) => true,
        (_, StringMatch::Present) => false,
        // A case-insensitive `b` matches more spellings than a sensitive `a`.
        (_, _) if b_ci && !a_ci => false,
        (StringMatch::Exact(x), StringMatch::Exact(y)) => equal(x, y),
        (StringMatch::Prefix(p), StringMatch::Exact(e) | StringMatch::Prefix(e)) => starts(e, p),
        (StringMatch::Prefix(p), StringMatch::Regex(_)) => p.is_empty(),
        (StringMatch::Regex(r), StringMatch::Exact(e)) => !b_ci && r.is_match(e),
        (StringMatch::Regex(r), StringMatch::Regex(s)) => {
            r.pattern() == s.pattern() || r.pattern() == ".*"
        }
        (StringMatch::Regex(r), StringMatch::Prefix(_)) => r.pattern() == ".*",
        (StringMatch::Exact(_), _) => false,
    }
}

/// Whether an optional condition of `a` holds whenever `b`'s does.
fn optional_covers(a: Option<&StringMatch>, b: Option<&StringMatch>) -> bool {
    match (a, b) {
        (None, _) => true,
        (Some(_), None) => false,
        (Some(a), Some(b)) => string_covers(a, false, b, false),
    }
}

/// Whether every request block `b` matches is matched by block `a` (VS-2:
/// conditions of a block AND'ed; VS-3: with `gateways` set, source
/// conditions are ignored).
fn block_covers(a: &HttpMatchRequest, b: &HttpMatchRequest) -> bool {
    let uri_all = |m: &HttpMatchRequest| match &m.uri {
        None => true,
        Some(StringMatch::Prefix(p)) => p.is_empty() || p == "/",
        Some(StringMatch::Regex(r)) => r.pattern() == ".*",
        _ => false,
    };
    let uri = uri_all(a)
        || match (&a.uri, &b.uri) {
            (Some(x), Some(y)) => string_covers(x, a.ignore_uri_case, y, b.ignore_uri_case),
            _ => false,
        };
    let named = |list_a: &[(String, StringMatch)], list_b: &[(String, StringMatch)]| {
        list_a.iter().all(|(name, m)| {
            list_b
                .iter()
                .any(|(n, mb)| n == name && string_covers(m, false, mb, false))
        })
    };
    let without = a
        .without_headers
        .iter()
        .all(|h| b.without_headers.contains(h));
    let gateways = a.gateways.is_empty()
        || (!b.gateways.is_empty() && b.gateways.iter().all(|g| a.gateways.contains(g)));
    let (a_labels, a_ns) = if a.gateways.is_empty() {
        (&a.source_labels, a.source_namespace.as_deref())
    } else {
        (&Labels::new(), None)
    };
    let (b_labels, b_ns) = if b.gateways.is_empty() {
        (&b.source_labels, b.source_namespace.as_deref())
    } else {
        (&Labels::new(), None)
    };
    uri && optional_covers(a.scheme.as_ref(), b.scheme.as_ref())
        && optional_covers(a.method.as_ref(), b.method.as_ref())
        && optional_covers(a.authority.as_ref(), b.authority.as_ref())
        && named(&a.headers, &b.headers)
        && named(&a.query_params, &b.query_params)
        && without
        && (a.port.is_none() || a.port == b.port)
        && a_labels.iter().all(|(k, v)| b_labels.get(k) == Some(v))
        && (a_ns.is_none() || a_ns == b_ns)
        && gateways
}

/// The blocks of a route: none written is one block matching everything.
fn blocks(matches: &[HttpMatchRequest]) -> Vec<HttpMatchRequest> {
    if matches.is_empty() {
        vec![HttpMatchRequest::default()]
    } else {
        matches.to_vec()
    }
}

fn route_name(name: Option<&str>, i: usize) -> String {
    match name {
        Some(n) if !n.is_empty() => format!("#{i} ({n:?})"),
        _ => format!("#{i}"),
    }
}

fn shadowed_routes(cx: &mut Cx<'_>) {
    let snapshot = cx.inputs.snapshot();
    for vs in snapshot.virtual_services() {
        let Some(e) = entry(cx, IstioKind::VirtualService, &vs.meta.key) else {
            continue;
        };
        let Some(wire) = e.virtual_service() else {
            continue;
        };
        if wire.http.as_ref().map_or(0, Vec::len) != vs.http.len() {
            continue;
        }
        // Rules Istio's own check already reports as unused.
        let unused: BTreeSet<String> = unused_rules(wire)
            .iter()
            .filter(|f| matches!(f, UnusedRule::Unreachable { .. }))
            .map(|f| f.path().to_string())
            .collect();
        for (i, route) in vs.http.iter().enumerate() {
            let at = path(&format!("spec.http[{i}]"));
            if unused.contains(&at.to_string()) {
                continue;
            }
            let mut earlier: BTreeSet<usize> = BTreeSet::new();
            let shadowed = blocks(&route.matches).iter().all(|b| {
                let by = vs.http[..i]
                    .iter()
                    .enumerate()
                    .find(|(_, r)| blocks(&r.matches).iter().any(|a| block_covers(a, b)));
                if let Some((j, _)) = by {
                    earlier.insert(j);
                }
                by.is_some()
            });
            if !shadowed {
                continue;
            }
            let by: Vec<String> = earlier
                .iter()
                .map(|j| route_name(vs.http[*j].name.as_deref(), *j))
                .collect();
            cx.report(
                e,
                types::SHADOWED_ROUTE,
                format!(
                    "HTTP route {} is never used: every request it matches is matched first by route {} (routes are tried in order, VS-1)",
                    route_name(route.name.as_deref(), i),
                    by.join(", ")
                ),
                at,
            );
        }
    }
}

// ---------------------------------------------------------------------------
// MESH002..MESH004: AuthorizationPolicy rules that never match as written.

/// Whether a rule can only match a peer with an mTLS identity: each of its
/// sources names identities, or a `when` condition requires one (AZ-22).
fn needs_identity(rule: &Rule) -> bool {
    let source_needs = |s: &mesh_model::security::Source| {
        !s.principals.is_empty()
            || !s.namespaces.is_empty()
            || !s.service_accounts.is_empty()
            || !s.trust_domains.is_empty()
    };
    let from = !rule.from.is_empty() && rule.from.iter().all(source_needs);
    let when = rule.when.iter().any(|c| {
        matches!(
            c.key.as_str(),
            "source.principal"
                | "source.namespace"
                | "source.serviceAccount"
                | "source.trustDomain"
        ) && !c.values.is_empty()
    });
    from || when
}

/// The ports a rule is limited to (every operation names ports), else
/// `None` (every port).
fn rule_ports(rule: &Rule) -> Option<BTreeSet<u16>> {
    if rule.to.is_empty() || rule.to.iter().any(|o| o.ports.is_empty()) {
        return None;
    }
    Some(
        rule.to
            .iter()
            .flat_map(|o| o.ports.iter().copied())
            .collect(),
    )
}

/// Whether a rule uses HTTP-only attributes (AZ-30).
fn http_only_fields(rule: &Rule) -> bool {
    rule.from
        .iter()
        .any(|s| !s.request_principals.is_empty() || !s.not_request_principals.is_empty())
        || rule.to.iter().any(|o| {
            !(o.hosts.is_empty()
                && o.not_hosts.is_empty()
                && o.methods.is_empty()
                && o.not_methods.is_empty()
                && o.paths.is_empty()
                && o.not_paths.is_empty())
        })
        || rule.when.iter().any(|c| is_http_only_key(&c.key))
}

/// The protocol classes of a workload's target port across the Services
/// that send to it: `Some(true)` when every one is TCP (HTTP attributes
/// never reach the inbound chain), `None` when no Service names the port.
fn tcp_only_port(snapshot: &Snapshot, w: &WorkloadInstance, port: u16) -> Option<bool> {
    let mut seen = None;
    for s in snapshot.services() {
        for ep in s
            .endpoints
            .iter()
            .filter(|e| e.workload.as_ref() == Some(&w.key))
        {
            for sp in &s.ports {
                if ep.ports.get(&sp.number) == Some(&port) {
                    let tcp = sp.protocol.is_tcp();
                    seen = Some(seen.unwrap_or(true) && tcp);
                }
            }
        }
    }
    seen
}

/// Whether mTLS is disabled on every port of `ports` (or on the whole
/// workload and all its port-level settings) for a workload.
fn mtls_disabled(snapshot: &Snapshot, w: &WorkloadInstance, ports: Option<&BTreeSet<u16>>) -> bool {
    let p = PeerPolicies::select(snapshot, w.namespace(), &w.labels);
    match ports {
        Some(ports) => ports
            .iter()
            .all(|port| p.effective(Some(*port)).mode == MtlsMode::Disable),
        None => {
            let port_level: Vec<u16> = p
                .workload
                .as_ref()
                .map(|pa| pa.spec.port_level.keys().copied().collect())
                .unwrap_or_default();
            p.effective(None).mode == MtlsMode::Disable
                && port_level
                    .iter()
                    .all(|port| p.effective(Some(*port)).mode == MtlsMode::Disable)
        }
    }
}

fn list<T: std::fmt::Display>(items: impl IntoIterator<Item = T>) -> String {
    items
        .into_iter()
        .map(|x| x.to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

fn authz_rules(cx: &mut Cx<'_>) {
    let snapshot = cx.inputs.snapshot();
    let root = snapshot.root_namespace().to_string();
    // Which workloads a policy attaches to is mesh-authz's answer (AZ-3).
    let authz = Authz::compile(snapshot, &AuthzOptions::default());
    for policy in authz.policies() {
        let ap = policy.source();
        let Some(e) = entry(cx, IstioKind::AuthorizationPolicy, &ap.meta.key) else {
            continue;
        };
        // Policies for Gateway API gateways and waypoints attach by target.
        if !ap.spec.target_refs.is_empty() {
            continue;
        }
        let workloads: Vec<&Arc<WorkloadInstance>> = snapshot
            .workloads()
            .filter(|w| authz.attaches(policy, w.namespace(), &w.labels))
            .collect();
        // A namespace without any workload in the inputs says nothing
        // about the selector; one with workloads none of which it selects
        // points at a wrong label.
        let in_scope = snapshot
            .workloads()
            .any(|w| ap.meta.namespace() == root || w.namespace() == ap.meta.namespace());
        if let Some(sel) = &ap.spec.selector
            && !sel.is_empty()
            && workloads.is_empty()
            && in_scope
        {
            let scope = if ap.meta.namespace() == root {
                "in the mesh".to_string()
            } else {
                format!("in namespace {}", ap.meta.namespace())
            };
            cx.report(
                e,
                types::AUTHZ_POLICY_SELECTS_NOTHING,
                format!(
                    "The selector {} selects no workload (Pod, workload controller or WorkloadEntry) {scope}: the policy never applies",
                    crate::analyzers::util::selector_string(sel.labels())
                ),
                path("spec.selector"),
            );
            continue;
        }
        if workloads.is_empty() {
            continue;
        }
        for (i, rule) in ap.spec.rules.iter().enumerate() {
            let at = path(&format!("spec.rules[{i}]"));
            let ports = rule_ports(rule);
            if needs_identity(rule)
                && workloads
                    .iter()
                    .all(|w| mtls_disabled(snapshot, w, ports.as_ref()))
            {
                cx.report(
                    e,
                    types::AUTHZ_RULE_NEEDS_MTLS,
                    format!(
                        "Rule {i} needs a peer identity (principals, namespaces, service accounts or trust domains), but PeerAuthentication disables mTLS for every workload the policy applies to ({}): plaintext peers have no identity, so the rule never matches",
                        list(workloads.iter().map(|w| w.key.to_string()))
                    ),
                    at.clone(),
                );
            }
            if !http_only_fields(rule) || ap.spec.action == Action::Custom {
                continue;
            }
            let Some(ports) = &ports else { continue };
            let tcp = workloads.iter().all(|w| {
                ports
                    .iter()
                    .all(|p| tcp_only_port(snapshot, w, *p) == Some(true))
            });
            if !tcp {
                continue;
            }
            let effect = match ap.spec.action {
                Action::Allow => "the rule is dropped on TCP and never matches (AZ-31)",
                _ => {
                    "on TCP those conditions are ignored and the rule matches every connection to the port (AZ-32)"
                }
            };
            cx.report(
                e,
                types::AUTHZ_RULE_HTTP_ON_TCP,
                format!(
                    "Rule {i} uses HTTP-only fields (hosts, methods, paths, request principals or request.* conditions) for port(s) {} that the selected workloads serve as TCP: {effect}",
                    list(ports)
                ),
                at,
            );
        }
    }
}

// ---------------------------------------------------------------------------
// MESH005: PeerAuthentications an older one overrides.

fn peer_authentications(cx: &mut Cx<'_>) {
    let snapshot = cx.inputs.snapshot();
    let root = snapshot.root_namespace().to_string();
    let has_selector = |pa: &Config<mesh_model::security::PeerAuthentication>| {
        pa.spec.selector.as_ref().is_some_and(|s| !s.is_empty())
    };
    // Namespace- and mesh-wide policies: the one mesh-authz selects for a
    // namespace is the oldest (PA-3); the others are ignored.
    for pa in snapshot.peer_authentications() {
        let Some(e) = entry(cx, IstioKind::PeerAuthentication, &pa.meta.key) else {
            continue;
        };
        let ns = pa.meta.namespace();
        if has_selector(pa) {
            if ns == root {
                cx.report(
                    e,
                    types::SHADOWED_PEER_AUTHENTICATION,
                    "A PeerAuthentication with a selector in the root namespace is ignored (PA-1): put workload policies in the workload's namespace",
                    path("spec.selector"),
                );
            }
            continue;
        }
        let chosen = PeerPolicies::select(snapshot, ns, &Labels::new());
        let winner = if ns == root {
            chosen.mesh
        } else {
            chosen.namespace
        };
        if let Some(w) = winner.filter(|w| w.meta.key != pa.meta.key) {
            let scope = if ns == root {
                "mesh-wide"
            } else {
                "namespace-wide"
            };
            cx.report(
                e,
                types::SHADOWED_PEER_AUTHENTICATION,
                format!(
                    "Ignored: {} is older and is the {scope} PeerAuthentication of {ns}; only the oldest selector-less policy of a namespace applies (PA-3)",
                    w.meta.id()
                ),
                path("metadata.name"),
            );
        }
    }
    // Workload policies: per selected workload, the one mesh-authz selects
    // (the oldest) applies; for the others, which workloads they lose.
    let mut lost: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
    let mut selected: BTreeMap<String, usize> = BTreeMap::new();
    for w in snapshot.workloads() {
        let chosen = PeerPolicies::select(snapshot, w.namespace(), &w.labels);
        let Some(winner) = chosen.workload else {
            continue;
        };
        for pa in snapshot.peer_authentications() {
            let selects = pa.meta.namespace() == w.namespace()
                && has_selector(pa)
                && pa
                    .spec
                    .selector
                    .as_ref()
                    .is_some_and(|s| s.matches(&w.labels));
            if !selects {
                continue;
            }
            *selected.entry(pa.meta.id()).or_default() += 1;
            if pa.meta.key != winner.meta.key {
                lost.entry(pa.meta.id())
                    .or_default()
                    .insert(w.key.to_string(), winner.meta.id());
            }
        }
    }
    for pa in snapshot.peer_authentications() {
        let id = pa.meta.id();
        let Some(workloads) = lost.get(&id) else {
            continue;
        };
        let Some(e) = entry(cx, IstioKind::PeerAuthentication, &pa.meta.key) else {
            continue;
        };
        let by: BTreeSet<&String> = workloads.values().collect();
        let text = if selected.get(&id) == Some(&workloads.len()) {
            format!(
                "Never applies: every workload it selects is also selected by the older {} (the oldest matching workload policy wins, PA-3)",
                list(by)
            )
        } else {
            format!(
                "Ignored for {}: the older {} also selects them (the oldest matching workload policy wins, PA-3)",
                list(workloads.keys()),
                list(by)
            )
        };
        cx.report(
            e,
            types::SHADOWED_PEER_AUTHENTICATION,
            text,
            path("spec.selector"),
        );
    }
}

// ---------------------------------------------------------------------------
// MESH006: subsets no endpoint carries.

fn subset_endpoints(cx: &mut Cx<'_>) {
    let snapshot = cx.inputs.snapshot();
    for dr in snapshot.destination_rules() {
        let Some(e) = entry(cx, IstioKind::DestinationRule, &dr.meta.key) else {
            continue;
        };
        if dr.spec.host.is_wildcard() {
            continue;
        }
        let services: Vec<_> = snapshot.services_for_host(&dr.spec.host).collect();
        let endpoints: Vec<&Labels> = services
            .iter()
            .flat_map(|s| s.endpoints.iter().map(|e| &e.labels))
            .collect();
        // No endpoints at all is another matter (the inputs may not hold
        // the workloads); a subset is suspicious when others are there.
        if endpoints.is_empty() {
            continue;
        }
        for (i, subset) in dr.spec.subsets.iter().enumerate() {
            let sel = Selector(subset.labels.clone());
            if endpoints.iter().any(|l| sel.matches(l)) {
                continue;
            }
            cx.report(
                e,
                types::SUBSET_WITHOUT_ENDPOINTS,
                format!(
                    "Subset {:?} ({}) matches none of the {} endpoint(s) of {}: requests routed to it fail with 503 (DR-3)",
                    subset.name,
                    crate::analyzers::util::selector_string(&subset.labels),
                    endpoints.len(),
                    dr.spec.host
                ),
                path(&format!("spec.subsets[{i}]")),
            );
        }
    }
}

#[cfg(test)]
mod tests;
