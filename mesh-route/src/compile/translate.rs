//! One VirtualService HTTP route and match block into one Envoy route, as
//! Istio's `TranslateRoute` does (ROUTE; VS-1..VS-29, WT-1..WT-5).

use super::vs::{MergedRoute, MergedVs};
use crate::config::{
    AbortStatus, AppendAction, ClaimMatcher, ClusterSpecifier, CorsPolicy, DestinationCluster,
    DirectResponseAction, FaultAbort, FaultDelay, FaultPolicy, ForwardAction, FractionalPercent,
    HashPolicy, HeaderMatcher, HeaderValueOption, MirrorPolicy, PathMatch, QueryParameterMatcher,
    RedirectAction, RegexRewrite, RetryPolicy, Route, RouteAction, RouteMatch, RouteOrigin,
    StringMatcher, ValueMatch,
};
use mesh_model::host::{Hostname, PortDigits, cluster_name, concat};
use mesh_model::labels::Labels;
use mesh_model::networking::{
    AbortError, CorsPolicy as VsCors, Destination, GatewayRef, HeaderOperations, Headers,
    HttpAction, HttpFault, HttpMatchRequest, HttpRedirect, HttpRetry, HttpRoute, RedirectPort,
    StringMatch,
};

/// The default `retryOn` (VS-25, since 1.24).
pub(crate) const DEFAULT_RETRY_ON: &str =
    "connect-failure,refused-stream,unavailable,cancelled,retriable-status-codes";

/// What a route is translated for.
pub(crate) struct RouteCx<'a> {
    /// The proxy's labels (VS-3 `sourceLabels`).
    pub labels: &'a Labels,
    /// The proxy's namespace (VS-3 `sourceNamespace`).
    pub namespace: &'a str,
    /// The gateway the routes are built for (`mesh` on sidecars).
    pub gateway: &'a GatewayRef,
    /// The listener port: the service port on sidecars, the server port
    /// on gateways (VS-3 `port`).
    pub port: u16,
    /// Whether the server terminates TLS (redirect port elision, VS-21).
    pub is_tls: bool,
    /// The mesh's `defaultHttpRetryPolicy`.
    pub default_retry: Option<&'a HttpRetry>,
    /// The port of the cluster for a destination without a port: the
    /// service's only port when it has one (WT-4).
    pub single_port: &'a dyn Fn(&Hostname) -> Option<u16>,
    /// The consistent-hash policy of a destination (WT-5).
    pub hash: &'a dyn Fn(&Destination) -> Option<HashPolicy>,
}

/// WT-5: the consistent-hash policy of destination `d`, from the
/// DestinationRule a client in `namespace` with `labels` sees for `svc`, the
/// service the destination names.
pub(crate) fn destination_hash(
    drs: &crate::destination_rule::DestinationRules,
    namespace: &str,
    labels: &Labels,
    svc: Option<&mesh_model::snapshot::Service>,
    d: &Destination,
) -> Option<HashPolicy> {
    let svc = svc?;
    drs.for_client(namespace, labels, &svc.hostname, &svc.namespace)?
        .hash_for_destination(d)
}

/// Istio's `BuildHTTPRoutesForVirtualService`: every surviving match block
/// of every route, in order, stopping after the first catch-all (VS-1).
pub(crate) fn build_http_routes(vs: &MergedVs, cx: &RouteCx<'_>) -> Vec<Route> {
    // At most one route per match block (per route without any): sized
    // once, as a route is several hundred bytes.
    let most = vs
        .http
        .iter()
        .map(|mr| vs.route(mr).matches.len().max(1))
        .sum();
    let mut out = Vec::with_capacity(most);
    for mr in &vs.http {
        let route = vs.route(mr);
        let mut catch_all = false;
        if route.matches.is_empty() {
            if let Some(r) = translate_route(vs, mr, None, cx) {
                out.push(r);
            }
            catch_all = true;
        } else {
            for (i, m) in route.matches.iter().enumerate() {
                if let Some(r) = translate_route(vs, mr, Some((i, m)), cx) {
                    let all = r.matcher.is_catch_all();
                    out.push(r);
                    if all {
                        catch_all = true;
                        break;
                    }
                }
            }
        }
        if catch_all {
            break;
        }
    }
    out
}

/// `sourceMatchHTTP` (VS-3): `gateways`, when set, replace the source
/// checks.
fn source_match(m: &HttpMatchRequest, cx: &RouteCx<'_>) -> bool {
    if !m.gateways.is_empty() {
        return m.gateways.contains(cx.gateway);
    }
    m.source_labels
        .iter()
        .all(|(k, v)| cx.labels.get(k) == Some(v))
        && m.source_namespace
            .as_deref()
            .is_none_or(|n| n == cx.namespace)
}

/// Istio's `TranslateRoute`; `None` when a static predicate drops the
/// match block for this proxy (VS-3).
fn translate_route(
    vs: &MergedVs,
    mr: &MergedRoute,
    m: Option<(usize, &HttpMatchRequest)>,
    cx: &RouteCx<'_>,
) -> Option<Route> {
    let r = vs.route(mr);
    if let Some((_, m)) = m {
        if m.port.is_some_and(|p| p != cx.port) {
            return None;
        }
        if !source_match(m, cx) {
            return None;
        }
    }
    let match_name = m
        .and_then(|(_, m)| m.name.clone())
        .filter(|n| !n.is_empty());
    let mut name = r.name.clone().unwrap_or_default();
    if let Some(mn) = &match_name {
        name.push('.');
        name.push_str(mn);
    }
    let matcher = m
        .map(|(_, m)| translate_match(m))
        .unwrap_or_else(RouteMatch::catch_all);
    let HeaderOps {
        request_add,
        request_remove,
        response_add,
        response_remove,
        authority,
    } = HeaderOps::from(&r.headers);
    let mut route = Route {
        name,
        origin: Some(RouteOrigin {
            virtual_service: vs.key.clone(),
            route_index: mr.route_index,
            route_name: r.name.clone(),
            match_index: m.map(|(i, _)| i),
            match_name,
            delegate: mr.delegate.clone(),
        }),
        matcher,
        action: RouteAction::Unsupported { redirect_code: 0 },
        request_headers_to_add: request_add,
        request_headers_to_remove: request_remove,
        response_headers_to_add: response_add,
        response_headers_to_remove: response_remove,
        fault: r.fault.as_ref().and_then(translate_fault),
        cors: r.cors.as_ref().map(translate_cors),
        stat_prefix: m.and_then(|(_, m)| m.stat_prefix.clone()),
        operation: String::new(),
    };
    route.action = match &r.action {
        HttpAction::Redirect(rd) => apply_redirect(rd, cx),
        HttpAction::DirectResponse(d) => RouteAction::DirectResponse(DirectResponseAction {
            status: d.status,
            body: d.body.clone(),
        }),
        HttpAction::Route(_) => RouteAction::Route(Box::new(forward(&mut route, r, authority, cx))),
        // A delegate that could not be merged never reaches here.
        HttpAction::Delegate { .. } => return None,
    };
    route.operation = operation(&route, &vs.key.name, cx.port);
    Some(route)
}

fn value_match(m: &StringMatch) -> ValueMatch {
    match m {
        StringMatch::Present => ValueMatch::Present,
        StringMatch::Exact(e) => ValueMatch::String(StringMatcher::Exact(e.clone())),
        StringMatch::Prefix(p) => ValueMatch::String(StringMatcher::Prefix(p.clone())),
        StringMatch::Regex(r) => ValueMatch::String(StringMatcher::SafeRegex(r.clone())),
    }
}

/// Istio's `jwt.ToRoutingClaim`: `@request.auth.claims.a.b` and
/// `@request.auth.claims[a][b]` route on claim `a.b` (VS-13).
pub(crate) fn routing_claim(key: &str) -> Option<Vec<String>> {
    const PREFIX: &str = "@request.auth.claims";
    if !key.to_ascii_lowercase().starts_with(PREFIX) {
        return None;
    }
    let name = key.get(PREFIX.len()..)?;
    if let Some(dotted) = name.strip_prefix('.')
        && !dotted.is_empty()
    {
        return Some(dotted.split('.').map(str::to_string).collect());
    }
    if name.len() > 2 && name.starts_with('[') && name.ends_with(']') {
        return Some(
            name[1..name.len() - 1]
                .split("][")
                .map(str::to_string)
                .collect(),
        );
    }
    None
}

/// Istio's `TranslateRouteMatch` (§3.2).
pub(crate) fn translate_match(m: &HttpMatchRequest) -> RouteMatch {
    let mut headers = Vec::new();
    let mut claims = Vec::new();
    for (name, sm) in &m.headers {
        if let Some(claim) = routing_claim(name) {
            claims.push(ClaimMatcher {
                claim,
                value: value_match(sm),
                invert: false,
            });
        } else {
            headers.push(HeaderMatcher {
                name: name.clone(),
                value: value_match(sm),
                invert_match: false,
                treat_missing_header_as_empty: false,
            });
        }
    }
    for (name, sm) in &m.without_headers {
        if let Some(claim) = routing_claim(name) {
            claims.push(ClaimMatcher {
                claim,
                value: value_match(sm),
                invert: true,
            });
        } else {
            let value = value_match(sm);
            headers.push(HeaderMatcher {
                name: name.clone(),
                treat_missing_header_as_empty: value != ValueMatch::Present,
                value,
                invert_match: true,
            });
        }
    }
    headers.sort_by(|a, b| a.name.cmp(&b.name));
    let path = match &m.uri {
        Some(StringMatch::Exact(e)) => PathMatch::Path(e.clone()),
        Some(StringMatch::Prefix(p)) => PathMatch::Prefix(p.clone()),
        Some(StringMatch::Regex(r)) => PathMatch::SafeRegex(r.clone()),
        Some(StringMatch::Present) | None => PathMatch::Prefix("/".into()),
    };
    for (name, v) in [
        (":method", &m.method),
        (":authority", &m.authority),
        (":scheme", &m.scheme),
    ] {
        if let Some(sm) = v {
            headers.push(HeaderMatcher {
                name: name.into(),
                value: value_match(sm),
                invert_match: false,
                treat_missing_header_as_empty: false,
            });
        }
    }
    let mut query_parameters: Vec<QueryParameterMatcher> = m
        .query_params
        .iter()
        .map(|(k, v)| QueryParameterMatcher {
            name: k.clone(),
            value: value_match(v),
        })
        .collect();
    query_parameters.sort_by(|a, b| a.name.cmp(&b.name));
    RouteMatch {
        path,
        case_sensitive: !m.ignore_uri_case,
        headers,
        query_parameters,
        claims,
    }
}

/// Header operations of one `headers` block, translated
/// (`TranslateHeadersOperations`): `set` then `add`, each sorted by name;
/// `:authority`/`host` become a host rewrite; other `:`-names and `host`
/// are dropped (VS-29).
#[derive(Clone, Default)]
pub(crate) struct HeaderOps {
    pub request_add: Vec<HeaderValueOption>,
    pub request_remove: Vec<String>,
    pub response_add: Vec<HeaderValueOption>,
    pub response_remove: Vec<String>,
    pub authority: Option<String>,
}

fn is_internal(k: &str) -> bool {
    k.starts_with(':') || k.eq_ignore_ascii_case("host")
}

fn is_authority(k: &str) -> bool {
    k.eq_ignore_ascii_case(":authority") || k.eq_ignore_ascii_case("host")
}

fn append_headers(
    kv: &[(String, String)],
    action: AppendAction,
    out: &mut Vec<HeaderValueOption>,
) -> Option<String> {
    let mut authority = None;
    let mut list: Vec<HeaderValueOption> = Vec::new();
    for (k, v) in kv {
        if is_authority(k) {
            authority = Some(v.clone());
        }
        if is_internal(k) {
            continue;
        }
        list.push(HeaderValueOption {
            key: k.clone(),
            value: v.clone(),
            append_action: action,
        });
    }
    list.sort_by(|a, b| a.key.cmp(&b.key));
    out.extend(list);
    authority
}

impl From<&Headers> for HeaderOps {
    fn from(h: &Headers) -> HeaderOps {
        let mut out = HeaderOps::default();
        if h.is_empty() {
            return out;
        }
        let side = |ops: &HeaderOperations, add: &mut Vec<HeaderValueOption>| {
            let set = append_headers(&ops.set, AppendAction::OverwriteIfExistsOrAdd, add);
            let added = append_headers(&ops.add, AppendAction::AppendIfExistsOrAdd, add);
            set.or(added)
        };
        out.authority = side(&h.request, &mut out.request_add).filter(|a| !a.is_empty());
        side(&h.response, &mut out.response_add);
        out.request_remove = h
            .request
            .remove
            .iter()
            .filter(|k| !is_internal(k))
            .cloned()
            .collect();
        out.response_remove = h
            .response
            .remove
            .iter()
            .filter(|k| !is_internal(k))
            .cloned()
            .collect();
        out
    }
}

/// `ApplyRedirect` (VS-21).
fn apply_redirect(rd: &HttpRedirect, cx: &RouteCx<'_>) -> RouteAction {
    let response_code = match rd.redirect_code {
        0 | 301 => 301,
        c @ (302 | 303 | 307 | 308) => c,
        other => {
            return RouteAction::Unsupported {
                redirect_code: other,
            };
        }
    };
    let mut port_redirect = None;
    if let Some(p) = rd.port {
        let mut port = match p {
            RedirectPort::Number(n) => n,
            RedirectPort::FromRequestPort => cx.port,
            RedirectPort::FromProtocolDefault => 0,
        };
        let scheme = rd
            .scheme
            .as_deref()
            .unwrap_or(if cx.is_tls { "https" } else { "http" });
        if (port == 80 && scheme == "http") || (port == 443 && scheme == "https") {
            port = 0;
        }
        port_redirect = (port != 0).then_some(port);
    }
    RouteAction::Redirect(RedirectAction {
        host_redirect: rd.authority.clone(),
        path_redirect: if rd.prefix_rewrite.is_some() {
            None
        } else {
            rd.uri.clone()
        },
        prefix_rewrite: rd.prefix_rewrite.clone(),
        scheme_redirect: rd.scheme.clone(),
        port_redirect,
        response_code,
    })
}

/// The cluster of a destination on listener port `port` (WT-4, XDS-3).
pub(crate) fn destination_cluster(
    d: &Destination,
    port: u16,
    single_port: &dyn Fn(&Hostname) -> Option<u16>,
) -> (String, u16) {
    let p = d.port.or_else(|| single_port(&d.host)).unwrap_or(port);
    (d.cluster_name(p), p)
}

/// `applyHTTPRouteDestination`.
/// `authority`: the host rewrite the route's header operations ask for.
fn forward(
    route: &mut Route,
    r: &HttpRoute,
    mut authority: Option<String>,
    cx: &RouteCx<'_>,
) -> ForwardAction {
    let HttpAction::Route(dests) = &r.action else {
        unreachable!("forward is called for route actions")
    };
    let mut action = ForwardAction {
        clusters: ClusterSpecifier::WeightedClusters(Vec::new()),
        timeout: r.timeout.filter(|t| !t.is_zero()),
        max_grpc_timeout: r.timeout.filter(|t| !t.is_zero()),
        retry_policy: None,
        prefix_rewrite: None,
        regex_rewrite: None,
        host_rewrite_literal: None,
        request_mirror_policies: Vec::new(),
        hash_policy: Vec::new(),
    };
    if let Some(rw) = &r.rewrite {
        if let Some(re) = &rw.uri_regex {
            action.regex_rewrite = Some(RegexRewrite {
                pattern: re.pattern.clone(),
                substitution: re.rewrite.clone(),
            });
        } else if let Some(u) = &rw.uri {
            action.prefix_rewrite = Some(u.clone());
        }
        if let Some(a) = &rw.authority {
            authority = Some(a.clone());
        }
    }
    action.host_rewrite_literal = authority;
    for m in &r.mirrors {
        if m.percentage <= 0.0 {
            continue;
        }
        let (cluster, _) = destination_cluster(&m.destination, cx.port, cx.single_port);
        action.request_mirror_policies.push(MirrorPolicy {
            cluster,
            host: m.destination.host.clone(),
            subset: m.destination.subset.clone(),
            port: m.destination.port,
            runtime_fraction: if m.percentage == 100.0 {
                FractionalPercent::hundred(100)
            } else {
                FractionalPercent::from_percent(m.percentage)
            },
            trace_sampled: false,
        });
    }
    let mut consistent_hash = false;
    if dests.len() == 1 {
        let d = &dests[0];
        let (name, cluster_port) = destination_cluster(&d.destination, cx.port, cx.single_port);
        let dops = HeaderOps::from(&d.headers);
        route.request_headers_to_add.extend(dops.request_add);
        route.request_headers_to_remove.extend(dops.request_remove);
        route.response_headers_to_add.extend(dops.response_add);
        route
            .response_headers_to_remove
            .extend(dops.response_remove);
        if action.host_rewrite_literal.is_none() {
            action.host_rewrite_literal = dops.authority;
        }
        if let Some(h) = (cx.hash)(&d.destination) {
            action.hash_policy.push(h);
            consistent_hash = true;
        }
        action.clusters = ClusterSpecifier::Cluster(Box::new(DestinationCluster {
            subset: d.destination.subset.clone(),
            port: d.destination.port,
            ..DestinationCluster::whole(name, d.destination.host.clone(), cluster_port)
        }));
    } else {
        let mut weighted = Vec::new();
        for d in dests {
            if d.weight == 0 {
                continue;
            }
            let (name, cluster_port) = destination_cluster(&d.destination, cx.port, cx.single_port);
            let dops = HeaderOps::from(&d.headers);
            if let Some(h) = (cx.hash)(&d.destination) {
                action.hash_policy.push(h);
            }
            weighted.push(DestinationCluster {
                name,
                weight: d.weight,
                host: d.destination.host.clone(),
                subset: d.destination.subset.clone(),
                port: d.destination.port,
                cluster_port,
                request_headers_to_add: dops.request_add,
                request_headers_to_remove: dops.request_remove,
                response_headers_to_add: dops.response_add,
                response_headers_to_remove: dops.response_remove,
                host_rewrite_literal: dops.authority,
            });
        }
        action.clusters = ClusterSpecifier::WeightedClusters(weighted);
    }
    let policy = r.retries.as_ref().or(cx.default_retry);
    action.retry_policy = convert_retry(policy, consistent_hash);
    action
}

/// Whether Go's `http.StatusText(code)` is non-empty.
fn is_http_status(code: u32) -> bool {
    matches!(code,
        100..=103 | 200..=208 | 226 | 300..=305 | 307 | 308 | 400..=418 | 421..=426 | 428 | 429
        | 431 | 451 | 500..=508 | 510 | 511)
}

/// `retry.ConvertPolicy` (VS-25): Istio's defaults, or the policy as
/// written; `None` when `attempts <= 0`.
pub(crate) fn convert_retry(
    policy: Option<&HttpRetry>,
    consistent_hash: bool,
) -> Option<RetryPolicy> {
    let mut out = RetryPolicy {
        num_retries: 2,
        retry_on: DEFAULT_RETRY_ON.into(),
        retriable_status_codes: Vec::new(),
        per_try_timeout: None,
        host_selection_retry_max_attempts: 5,
        retry_previous_hosts: !consistent_hash,
        retry_previous_priorities: false,
        backoff_base_interval: None,
    };
    let Some(p) = policy else {
        return Some(out);
    };
    if p.attempts <= 0 {
        return None;
    }
    out.num_retries = p.attempts as u32;
    if let Some(on) = p.retry_on.as_deref().filter(|s| !s.is_empty()) {
        let mut codes = Vec::new();
        let mut words = Vec::new();
        for part in on.split(',') {
            let part = part.trim();
            if part.is_empty() {
                continue;
            }
            match part.parse::<u32>() {
                Ok(c) if is_http_status(c) => codes.push(c),
                _ => words.push(part),
            }
        }
        out.retry_on = words.join(",");
        if !codes.is_empty() && !out.retry_on.contains("retriable-status-codes") {
            out.retry_on.push_str(",retriable-status-codes");
        }
        out.retriable_status_codes = codes;
    }
    out.per_try_timeout = p.per_try_timeout;
    if let Some(v) = p.retry_ignore_previous_hosts {
        out.retry_previous_hosts = v;
    }
    if p.retry_remote_localities == Some(true) {
        out.retry_previous_priorities = true;
    }
    out.backoff_base_interval = p.backoff;
    Some(out)
}

/// gRPC status names to codes (`grpc.SupportedGRPCStatus`).
fn grpc_code(name: &str) -> Option<u32> {
    const CODES: [&str; 17] = [
        "OK",
        "CANCELLED",
        "UNKNOWN",
        "INVALID_ARGUMENT",
        "DEADLINE_EXCEEDED",
        "NOT_FOUND",
        "ALREADY_EXISTS",
        "PERMISSION_DENIED",
        "RESOURCE_EXHAUSTED",
        "FAILED_PRECONDITION",
        "ABORTED",
        "OUT_OF_RANGE",
        "UNIMPLEMENTED",
        "INTERNAL",
        "UNAVAILABLE",
        "DATA_LOSS",
        "UNAUTHENTICATED",
    ];
    CODES.iter().position(|c| *c == name).map(|i| i as u32)
}

/// `TranslateFault` (VS-26): exponential delays and aborts without an
/// error type are dropped; nothing left means no fault filter config.
fn translate_fault(f: &HttpFault) -> Option<FaultPolicy> {
    let delay = f.delay.as_ref().map(|d| FaultDelay {
        fixed_delay: d.fixed_delay,
        percentage: FractionalPercent::from_percent(d.percentage),
    });
    let abort = f.abort.as_ref().and_then(|a| {
        let status = match &a.error {
            AbortError::HttpStatus(s) => AbortStatus::HttpStatus(*s),
            AbortError::GrpcStatus(g) => AbortStatus::GrpcStatus(grpc_code(g)?),
            AbortError::None => return None,
        };
        Some(FaultAbort {
            status,
            percentage: Some(FractionalPercent::from_percent(a.percentage)),
        })
    });
    if delay.is_none() && abort.is_none() {
        return None;
    }
    Some(FaultPolicy { delay, abort })
}

/// `TranslateCORSPolicy` (VS-28).
fn translate_cors(c: &VsCors) -> CorsPolicy {
    CorsPolicy {
        allow_origin_string_match: c
            .allow_origins
            .iter()
            .filter_map(|o| match value_match(o) {
                ValueMatch::String(s) => Some(s),
                ValueMatch::Present => None,
            })
            .collect(),
        allow_methods: c.allow_methods.join(","),
        allow_headers: c.allow_headers.join(","),
        expose_headers: c.expose_headers.join(","),
        max_age: c.max_age.map(|d| d.as_secs().to_string()),
        allow_credentials: c.allow_credentials,
        forward_not_matching_preflights: c.forward_unmatched_preflights,
    }
}

/// `GetRouteOperation`: the tracing decorator.
fn operation(route: &Route, vs_name: &str, port: u16) -> String {
    let (path, star) = match &route.matcher.path {
        PathMatch::Prefix(p) => (p.as_str(), "*"),
        PathMatch::Path(p) => (p.as_str(), ""),
        PathMatch::SafeRegex(r) => (r.pattern(), ""),
    };
    let (host, port) = match &route.action {
        RouteAction::Route(f) => match &f.clusters {
            ClusterSpecifier::Cluster(c) => (c.host.as_str(), c.cluster_port),
            ClusterSpecifier::WeightedClusters(_) => (vs_name, port),
        },
        _ => (vs_name, port),
    };
    concat(&[host, ":", PortDigits::new(port).as_str(), path, star])
}

/// A service's default route (`BuildDefaultHTTPOutboundRoute`, VS-7): its
/// own `outbound|port||host` cluster, default retries, no timeout.
pub(crate) fn default_route(
    host: &Hostname,
    port: u16,
    default_retry: Option<&HttpRetry>,
    hash: Option<HashPolicy>,
) -> Route {
    let cluster = cluster_name(port, "", host.as_str());
    Route {
        name: "default".into(),
        origin: None,
        matcher: RouteMatch::catch_all(),
        action: RouteAction::Route(Box::new(ForwardAction {
            clusters: ClusterSpecifier::Cluster(Box::new(DestinationCluster::whole(
                cluster,
                host.clone(),
                port,
            ))),
            timeout: None,
            max_grpc_timeout: None,
            // `BuildDefaultHTTPOutboundRoute` converts the mesh default
            // without the consistent-hash flag.
            retry_policy: convert_retry(default_retry, false),
            prefix_rewrite: None,
            regex_rewrite: None,
            host_rewrite_literal: None,
            request_mirror_policies: Vec::new(),
            hash_policy: hash.into_iter().collect(),
        })),
        request_headers_to_add: Vec::new(),
        request_headers_to_remove: Vec::new(),
        response_headers_to_add: Vec::new(),
        response_headers_to_remove: Vec::new(),
        fault: None,
        cors: None,
        stat_prefix: None,
        operation: concat(&[host.as_str(), ":", PortDigits::new(port).as_str(), "/*"]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn retry(attempts: i32, on: Option<&str>) -> HttpRetry {
        HttpRetry {
            attempts,
            per_try_timeout: Some(Duration::from_secs(2)),
            retry_on: on.map(str::to_string),
            retry_remote_localities: None,
            retry_ignore_previous_hosts: None,
            backoff: None,
        }
    }

    /// VS-25: defaults, disabling, status codes.
    #[test]
    fn retries() {
        let d = convert_retry(None, false).unwrap();
        assert_eq!(d.num_retries, 2);
        assert_eq!(d.retry_on, DEFAULT_RETRY_ON);
        assert!(d.retriable_status_codes.is_empty());
        assert!(d.retry_previous_hosts);
        assert!(!convert_retry(None, true).unwrap().retry_previous_hosts);
        assert_eq!(convert_retry(Some(&retry(0, None)), false), None);
        let r = convert_retry(Some(&retry(3, Some("5xx,503,gateway-error"))), false).unwrap();
        assert_eq!(r.retry_on, "5xx,gateway-error,retriable-status-codes");
        assert_eq!(r.retriable_status_codes, [503]);
        assert_eq!(r.num_retries, 3);
        assert_eq!(r.per_try_timeout, Some(Duration::from_secs(2)));
        let only = convert_retry(Some(&retry(1, Some("503"))), false).unwrap();
        assert_eq!(only.retry_on, ",retriable-status-codes");
    }

    /// VS-13: claim keys.
    #[test]
    fn claims() {
        assert_eq!(
            routing_claim("@request.auth.claims.group.id"),
            Some(vec!["group".to_string(), "id".to_string()])
        );
        assert_eq!(
            routing_claim("@request.auth.claims[a][b.c]"),
            Some(vec!["a".to_string(), "b.c".to_string()])
        );
        assert_eq!(routing_claim("@request.auth.claims"), None);
        assert_eq!(routing_claim("x-user"), None);
    }
}
