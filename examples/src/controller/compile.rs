//! A stand-in for `mesh_xds::compile(&Snapshot, &Proxy, &CompileOptions)`
//! until that compiler lands: it assembles, from the `mesh_xds` builders,
//! the subset of Istio's output the controller's end-to-end tests need.
//!
//! What it covers:
//! * sidecars with a Sidecar resource in `captureMode: NONE`: one bound
//!   egress listener per egress port (RDS `"<port>"`), one bound ingress
//!   listener per ingress port with the chains of its effective
//!   PeerAuthentication mode and the `inbound|<port>||` cluster to the
//!   `defaultEndpoint`;
//! * gateways: one listener per Gateway server port (bound to `bind` or
//!   `0.0.0.0`), RDS `http.<port>`, virtual hosts from the Gateway ×
//!   VirtualService host intersection;
//! * route configurations from VirtualService HTTP routes: match blocks
//!   (uri, headers, method, authority, query parameters), weighted
//!   destinations, rewrites, timeouts, retries, fault injection, redirects
//!   and direct responses; a default route per service;
//! * outbound EDS clusters per service port and DestinationRule subset
//!   with auto mTLS (DR-9) or the DestinationRule's TLS mode, and their
//!   load assignments.
//!
//! * AuthorizationPolicy ALLOW and DENY on sidecar inbound HTTP ports as
//!   Envoy RBAC filters (DENY first, then ALLOW), for the fields
//!   `principals`, `notPrincipals`, `namespaces`, `notNamespaces`, `paths`,
//!   `notPaths`, `methods`, `notMethods`, `ports`, `notPorts`; a rule with
//!   any other field fails closed (an ALLOW rule is dropped, a DENY rule
//!   matches every request).
//!
//! What it does not: AUDIT and CUSTOM policies, `when` conditions,
//! RequestAuthentication, captured (iptables) sidecars' `virtualInbound`
//! / `virtualOutbound`, TCP/TLS routes, mirrors, CORS, header operations
//! on destinations, Sidecar egress host scoping.

use envoy_types::pb::envoy::config::core::v3::{DataSource, data_source};
use envoy_types::pb::envoy::config::route::v3::{
    DirectResponseAction, HeaderMatcher, QueryParameterMatcher, RedirectAction, RetryPolicy, Route,
    RouteAction, RouteConfiguration, RouteMatch, VirtualHost, WeightedCluster, header_matcher,
    query_parameter_matcher, redirect_action, route, route_action, route_match,
    weighted_cluster::ClusterWeight,
};
use envoy_types::pb::envoy::extensions::filters::common::fault::v3::{FaultDelay, fault_delay};
use envoy_types::pb::envoy::extensions::filters::http::fault::v3::{
    FaultAbort, HttpFault, fault_abort,
};
use envoy_types::pb::envoy::r#type::matcher::v3::{
    RegexMatchAndSubstitute, RegexMatcher, StringMatcher, string_matcher,
};
use envoy_types::pb::envoy::r#type::v3::{FractionalPercent, fractional_percent};
use mesh_model::host::Hostname;
use mesh_model::networking::{
    AbortError, GatewayRef, HttpAction, HttpMatchRequest, HttpRoute, StringMatch, VirtualService,
};
use mesh_model::protocol::Protocol;
use mesh_model::security::MtlsMode;
use mesh_model::snapshot::{Service, Snapshot};
use mesh_model::wire::networking::CaptureMode;
use mesh_xds::cluster::{
    self, ClusterPolicy, Discovery, OutboundClusterSpec, UpstreamProtocol, UpstreamSecurity,
};
use mesh_xds::endpoint::{self, EndpointSpec};
use mesh_xds::listener::{self, InboundPort};
use mesh_xds::proxy::{Proxy, ProxyKind};
use mesh_xds::resources::Resources;
use mesh_xds::util::{any, duration, u32v};
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Compiles `snapshot` for `proxy` (see the module doc for the subset).
pub fn compile(snapshot: &Snapshot, proxy: &Proxy) -> Resources {
    let mut r = Resources::default();
    outbound_clusters(snapshot, proxy, &mut r);
    match proxy.kind {
        ProxyKind::Sidecar => sidecar_listeners(snapshot, proxy, &mut r),
        ProxyKind::Router => gateway_listeners(snapshot, proxy, &mut r),
    }
    r.sort();
    r
}

fn visible_services<'a>(snapshot: &'a Snapshot, proxy: &'a Proxy) -> Vec<&'a Service> {
    let mut seen = BTreeSet::new();
    let mut out = Vec::new();
    for s in snapshot.services() {
        if seen.contains(&s.hostname) {
            continue;
        }
        if let Some(v) = snapshot.service_visible(&s.hostname, &proxy.namespace) {
            seen.insert(s.hostname.clone());
            out.push(&**v);
        }
    }
    out
}

fn destination_rule<'a>(
    snapshot: &'a Snapshot,
    proxy: &Proxy,
    host: &Hostname,
) -> Option<&'a mesh_model::networking::DestinationRule> {
    let root = snapshot.root_namespace();
    let candidates = snapshot
        .destination_rules()
        .filter(|d| d.spec.host == *host || d.spec.host.matches(host));
    let mut best = None;
    for d in candidates {
        let ns = d.meta.namespace();
        let rank = if ns == proxy.namespace {
            0
        } else if ns == host_namespace(host) {
            1
        } else if ns == root {
            2
        } else {
            3
        };
        if best.as_ref().is_none_or(|(r, _)| rank < *r) {
            best = Some((rank, &d.spec));
        }
    }
    best.map(|(_, d)| d)
}

fn host_namespace(h: &Hostname) -> &str {
    h.as_str().split('.').nth(1).unwrap_or("")
}

fn outbound_clusters(snapshot: &Snapshot, proxy: &Proxy, r: &mut Resources) {
    let td = snapshot.trust_domain();
    for s in visible_services(snapshot, proxy) {
        let dr = destination_rule(snapshot, proxy, &s.hostname);
        let mut sans: Vec<String> = s
            .service_accounts()
            .iter()
            .map(|sa| format!("spiffe://{td}/ns/{}/sa/{sa}", s.namespace))
            .collect();
        sans.sort();
        let mut subsets: Vec<(
            Option<&str>,
            Option<&mesh_model::labels::Labels>,
            ClusterPolicy<'_>,
        )> = vec![(
            None,
            None,
            policy(dr.and_then(|d| d.traffic_policy.as_ref())),
        )];
        if let Some(d) = dr {
            for ss in &d.subsets {
                let p = ss.traffic_policy.as_ref().or(d.traffic_policy.as_ref());
                subsets.push((Some(ss.name.as_str()), Some(&ss.labels), policy(p)));
            }
        }
        for port in &s.ports {
            for (subset, labels, pol) in &subsets {
                let name = format!(
                    "outbound|{}|{}|{}",
                    port.number,
                    subset.unwrap_or(""),
                    s.hostname.as_str()
                );
                let sni = cluster::istio_sni(port.number, *subset, s.hostname.as_str());
                let security = if s.mesh_external {
                    UpstreamSecurity::Plaintext
                } else {
                    UpstreamSecurity::Auto {
                        sni,
                        sans: sans.clone(),
                    }
                };
                let spec = OutboundClusterSpec {
                    name: name.clone(),
                    host: s.hostname.as_str(),
                    namespace: &s.namespace,
                    service_name: &s.name,
                    discovery: Discovery::Eds,
                    policy: *pol,
                    protocol: if matches!(port.protocol, Protocol::Http2 | Protocol::Grpc) {
                        UpstreamProtocol::Http2
                    } else {
                        UpstreamProtocol::Http1OrTcp
                    },
                    security,
                    connect_timeout: CONNECT_TIMEOUT,
                };
                r.clusters.push(cluster::outbound(&spec));
                let eps: Vec<EndpointSpec> = s
                    .endpoints_for(*labels)
                    .filter_map(|e| {
                        Some(EndpointSpec {
                            address: e.address.clone()?,
                            port: *e.ports.get(&port.number)?,
                            locality: e.locality.clone(),
                            istio_mtls: e.sidecar,
                            weight: e.weight,
                            workload: None,
                        })
                    })
                    .collect();
                r.endpoints.push(endpoint::assignment(&name, &eps));
            }
        }
    }
}

fn policy(tp: Option<&mesh_model::networking::TrafficPolicy>) -> ClusterPolicy<'_> {
    match tp {
        None => ClusterPolicy::default(),
        Some(t) => ClusterPolicy {
            load_balancer: t.load_balancer.as_ref(),
            connection_pool: t.connection_pool.as_ref(),
            outlier_detection: t.outlier_detection.as_ref(),
            tls: t.tls.as_ref(),
        },
    }
}

/// The effective PeerAuthentication mode of a workload port (PA-4/PA-5):
/// workload policy, else namespace policy, else mesh policy; PERMISSIVE
/// when none says.
pub fn mtls_mode(snapshot: &Snapshot, proxy: &Proxy, port: u16) -> MtlsMode {
    let root = snapshot.root_namespace();
    let mut workload = None;
    let mut namespace = None;
    let mut mesh = None;
    for pa in snapshot.peer_authentications() {
        let ns = pa.meta.namespace();
        match &pa.spec.selector {
            Some(sel) if ns == proxy.namespace && sel.matches(&proxy.labels) => {
                workload.get_or_insert(&pa.spec);
            }
            None if ns == proxy.namespace => {
                namespace.get_or_insert(&pa.spec);
            }
            None if ns == root => {
                mesh.get_or_insert(&pa.spec);
            }
            _ => {}
        }
    }
    let mut mode = MtlsMode::Permissive;
    for pa in [mesh, namespace, workload].into_iter().flatten() {
        if let Some(m) = pa.mode.filter(|m| *m != MtlsMode::Unset) {
            mode = m;
        }
        if let Some(m) = pa.port_level.get(&port).filter(|m| **m != MtlsMode::Unset) {
            mode = *m;
        }
    }
    mode
}

fn sidecar_listeners(snapshot: &Snapshot, proxy: &Proxy, r: &mut Resources) {
    let root = snapshot.root_namespace();
    let sidecar = snapshot
        .sidecars()
        .find(|s| {
            s.meta.namespace() == proxy.namespace
                && s.spec
                    .workload_selector
                    .as_ref()
                    .is_some_and(|sel| sel.matches(&proxy.labels))
        })
        .or_else(|| {
            snapshot.sidecars().find(|s| {
                s.meta.namespace() == proxy.namespace && s.spec.workload_selector.is_none()
            })
        })
        .or_else(|| {
            snapshot
                .sidecars()
                .find(|s| s.meta.namespace() == root && s.spec.workload_selector.is_none())
        });
    let Some(sc) = sidecar else {
        return;
    };
    let services = visible_services(snapshot, proxy);
    for eg in &sc.spec.egress {
        let (Some(port), Some(bind)) = (&eg.port, &eg.bind) else {
            continue;
        };
        if eg.capture_mode != Some(CaptureMode::None) && sc.spec.ingress.is_empty() {
            continue;
        }
        let Some(number) = port.number.and_then(|n| u16::try_from(n).ok()) else {
            continue;
        };
        let route_name = number.to_string();
        r.listeners.push(listener::outbound_http(
            number,
            &route_name,
            Some(bind),
            vec![mesh_xds::http::fault()],
        ));
        r.routes.push(sidecar_routes(
            snapshot,
            proxy,
            &services,
            number,
            &route_name,
        ));
    }
    for ing in &sc.spec.ingress {
        let (Some(port), Some(bind), Some(ep)) = (&ing.port, &ing.bind, &ing.default_endpoint)
        else {
            continue;
        };
        let Some(number) = port.number.and_then(|n| u16::try_from(n).ok()) else {
            continue;
        };
        let Some((addr, app_port)) = ep
            .rsplit_once(':')
            .and_then(|(a, p)| Some((a.to_string(), p.parse::<u16>().ok()?)))
        else {
            continue;
        };
        let cluster_name = format!("inbound|{number}||");
        let http = Protocol::parse(port.protocol.as_deref().unwrap_or("")).is_http();
        let route = RouteConfiguration {
            name: cluster_name.clone(),
            virtual_hosts: vec![VirtualHost {
                name: format!("inbound|http|{number}"),
                domains: vec!["*".into()],
                routes: vec![Route {
                    name: "default".into(),
                    r#match: Some(prefix("/")),
                    action: Some(route::Action::Route(RouteAction {
                        cluster_specifier: Some(route_action::ClusterSpecifier::Cluster(
                            cluster_name.clone(),
                        )),
                        timeout: Some(duration(Duration::ZERO)),
                        ..Default::default()
                    })),
                    ..Default::default()
                }],
                ..Default::default()
            }],
            validate_clusters: Some(mesh_xds::util::boolv(false)),
            ..Default::default()
        };
        let inbound = InboundPort {
            target_port: number,
            http,
            mode: mtls_mode(snapshot, proxy, number),
            http_filters: authz::filters(snapshot, proxy),
            tcp_filters: Vec::new(),
            route,
            cluster: cluster_name,
        };
        r.listeners
            .push(listener::inbound_bound(bind, number, &inbound));
        r.clusters.push(cluster::inbound(
            number,
            &addr,
            app_port,
            CONNECT_TIMEOUT,
            false,
        ));
    }
}

fn prefix(p: &str) -> RouteMatch {
    RouteMatch {
        path_specifier: Some(route_match::PathSpecifier::Prefix(p.into())),
        ..Default::default()
    }
}

/// The virtual-host domains of a service (XDS-2).
fn domains(s: &Service, proxy_ns: &str, port: u16, suffix: &str) -> Vec<String> {
    let fqdn = s.hostname.as_str().to_string();
    let mut d = vec![fqdn.clone(), format!("{fqdn}.")];
    let short = format!(".svc.{suffix}");
    if let Some(name_ns) = fqdn.strip_suffix(&short)
        && let Some((name, _)) = name_ns.split_once('.')
    {
        if name_ns.ends_with(&format!(".{proxy_ns}")) {
            d.push(name.to_string());
        }
        d.push(name_ns.to_string());
        d.push(format!("{name_ns}.svc"));
    }
    d.extend(s.addresses.iter().cloned());
    let with_port: Vec<String> = d.iter().map(|h| format!("{h}:{port}")).collect();
    d.extend(with_port);
    d
}

fn mesh_virtual_service<'a>(
    snapshot: &'a Snapshot,
    proxy: &Proxy,
    host: &Hostname,
) -> Option<&'a VirtualService> {
    let defaults = &snapshot.mesh().default_virtual_service_export_to;
    snapshot
        .virtual_services()
        .filter(|v| v.spec.applies_to_mesh())
        .filter(|v| {
            v.spec
                .export_to
                .visible_to(&proxy.namespace, v.meta.namespace(), defaults)
        })
        .find(|v| v.spec.hosts.iter().any(|h| h == host || h.matches(host)))
        .map(|v| &v.spec)
}

fn sidecar_routes(
    snapshot: &Snapshot,
    proxy: &Proxy,
    services: &[&Service],
    port: u16,
    name: &str,
) -> RouteConfiguration {
    let suffix = snapshot.domain_suffix();
    let mut vhosts = Vec::new();
    for s in services {
        if s.port(port).is_none() {
            continue;
        }
        let routes = match mesh_virtual_service(snapshot, proxy, &s.hostname) {
            Some(vs) => http_routes(snapshot, proxy, vs, port),
            None => vec![default_route(&s.hostname, port)],
        };
        vhosts.push(VirtualHost {
            name: format!("{}:{port}", s.hostname.as_str()),
            domains: domains(s, &proxy.namespace, port, suffix),
            routes,
            ..Default::default()
        });
    }
    RouteConfiguration {
        name: name.to_string(),
        virtual_hosts: vhosts,
        validate_clusters: Some(mesh_xds::util::boolv(false)),
        ..Default::default()
    }
}

fn default_route(host: &Hostname, port: u16) -> Route {
    Route {
        name: "default".into(),
        r#match: Some(prefix("/")),
        action: Some(route::Action::Route(RouteAction {
            cluster_specifier: Some(route_action::ClusterSpecifier::Cluster(format!(
                "outbound|{port}||{}",
                host.as_str()
            ))),
            timeout: Some(duration(Duration::ZERO)),
            ..Default::default()
        })),
        ..Default::default()
    }
}

fn string_matcher(m: &StringMatch, ignore_case: bool) -> StringMatcher {
    let pattern = match m {
        StringMatch::Exact(s) => string_matcher::MatchPattern::Exact(s.clone()),
        StringMatch::Prefix(s) => string_matcher::MatchPattern::Prefix(s.clone()),
        StringMatch::Regex(r) => string_matcher::MatchPattern::SafeRegex(RegexMatcher {
            regex: r.pattern().to_string(),
            ..Default::default()
        }),
        StringMatch::Present => string_matcher::MatchPattern::SafeRegex(RegexMatcher {
            regex: ".*".into(),
            ..Default::default()
        }),
    };
    StringMatcher {
        match_pattern: Some(pattern),
        ignore_case,
    }
}

fn header(name: &str, m: &StringMatch, invert: bool) -> HeaderMatcher {
    let spec = match m {
        StringMatch::Present => header_matcher::HeaderMatchSpecifier::PresentMatch(true),
        m => header_matcher::HeaderMatchSpecifier::StringMatch(string_matcher(m, false)),
    };
    HeaderMatcher {
        name: name.to_string(),
        header_match_specifier: Some(spec),
        invert_match: invert,
        ..Default::default()
    }
}

fn route_match(m: Option<&HttpMatchRequest>) -> RouteMatch {
    let Some(m) = m else {
        return prefix("/");
    };
    let path = match &m.uri {
        None => route_match::PathSpecifier::Prefix("/".into()),
        Some(StringMatch::Exact(p)) => route_match::PathSpecifier::Path(p.clone()),
        Some(StringMatch::Prefix(p)) => route_match::PathSpecifier::Prefix(p.clone()),
        Some(StringMatch::Regex(r)) => route_match::PathSpecifier::SafeRegex(RegexMatcher {
            regex: r.pattern().to_string(),
            ..Default::default()
        }),
        Some(StringMatch::Present) => route_match::PathSpecifier::Prefix("/".into()),
    };
    let mut headers: Vec<HeaderMatcher> =
        m.headers.iter().map(|(n, v)| header(n, v, false)).collect();
    headers.extend(m.without_headers.iter().map(|(n, v)| header(n, v, true)));
    if let Some(v) = &m.method {
        headers.push(header(":method", v, false));
    }
    if let Some(v) = &m.authority {
        headers.push(header(":authority", v, false));
    }
    if let Some(v) = &m.scheme {
        headers.push(header(":scheme", v, false));
    }
    RouteMatch {
        path_specifier: Some(path),
        case_sensitive: m.ignore_uri_case.then(|| mesh_xds::util::boolv(false)),
        headers,
        query_parameters: m
            .query_params
            .iter()
            .map(|(n, v)| QueryParameterMatcher {
                name: n.clone(),
                query_parameter_match_specifier: Some(match v {
                    StringMatch::Present => {
                        query_parameter_matcher::QueryParameterMatchSpecifier::PresentMatch(true)
                    }
                    v => query_parameter_matcher::QueryParameterMatchSpecifier::StringMatch(
                        string_matcher(v, false),
                    ),
                }),
            })
            .collect(),
        ..Default::default()
    }
}

fn percent(p: f64) -> FractionalPercent {
    FractionalPercent {
        numerator: (p * 10_000.0).round().clamp(0.0, 1_000_000.0) as u32,
        denominator: fractional_percent::DenominatorType::Million as i32,
    }
}

fn fault_config(f: &mesh_model::networking::HttpFault) -> HttpFault {
    HttpFault {
        delay: f.delay.as_ref().map(|d| FaultDelay {
            percentage: Some(percent(d.percentage)),
            fault_delay_secifier: Some(fault_delay::FaultDelaySecifier::FixedDelay(duration(
                d.fixed_delay,
            ))),
        }),
        abort: f.abort.as_ref().and_then(|a| {
            let error_type = match &a.error {
                AbortError::HttpStatus(s) => fault_abort::ErrorType::HttpStatus(*s),
                _ => return None,
            };
            Some(FaultAbort {
                percentage: Some(percent(a.percentage)),
                error_type: Some(error_type),
                ..Default::default()
            })
        }),
        ..Default::default()
    }
}

fn destination_port(
    snapshot: &Snapshot,
    proxy: &Proxy,
    d: &mesh_model::networking::Destination,
    port: u16,
) -> u16 {
    if let Some(p) = d.port {
        return p;
    }
    match snapshot.service_visible(&d.host, &proxy.namespace) {
        Some(s) if s.ports.len() == 1 => s.ports[0].number,
        _ => port,
    }
}

fn http_routes(snapshot: &Snapshot, proxy: &Proxy, vs: &VirtualService, port: u16) -> Vec<Route> {
    let mut out = Vec::new();
    for (i, h) in vs.http.iter().enumerate() {
        let matches: Vec<Option<&HttpMatchRequest>> = if h.matches.is_empty() {
            vec![None]
        } else {
            h.matches
                .iter()
                .filter(|m| m.port.is_none_or(|p| p == port))
                .map(Some)
                .collect()
        };
        for m in matches {
            out.push(http_route(snapshot, proxy, h, m, port, i));
        }
    }
    out
}

fn http_route(
    snapshot: &Snapshot,
    proxy: &Proxy,
    h: &HttpRoute,
    m: Option<&HttpMatchRequest>,
    port: u16,
    index: usize,
) -> Route {
    let mut route = Route {
        name: h.name.clone().unwrap_or_else(|| format!("route-{index}")),
        r#match: Some(route_match(m)),
        ..Default::default()
    };
    route.action = Some(match &h.action {
        HttpAction::Route(dests) => {
            let live: Vec<_> = if dests.len() == 1 {
                dests.iter().collect()
            } else {
                dests.iter().filter(|d| d.weight > 0).collect()
            };
            let clusters: Vec<(String, u32)> = live
                .iter()
                .map(|d| {
                    let p = destination_port(snapshot, proxy, &d.destination, port);
                    (d.destination.cluster_name(p), d.weight)
                })
                .collect();
            let spec = if clusters.len() == 1 {
                route_action::ClusterSpecifier::Cluster(clusters[0].0.clone())
            } else {
                route_action::ClusterSpecifier::WeightedClusters(WeightedCluster {
                    clusters: clusters
                        .into_iter()
                        .map(|(name, w)| ClusterWeight {
                            name,
                            weight: Some(u32v(w)),
                            ..Default::default()
                        })
                        .collect(),
                    ..Default::default()
                })
            };
            let mut a = RouteAction {
                cluster_specifier: Some(spec),
                timeout: Some(duration(h.timeout.unwrap_or(Duration::ZERO))),
                ..Default::default()
            };
            if let Some(rw) = &h.rewrite {
                if let Some(u) = &rw.uri {
                    a.prefix_rewrite = u.clone();
                }
                if let Some(au) = &rw.authority {
                    a.host_rewrite_specifier = Some(
                        route_action::HostRewriteSpecifier::HostRewriteLiteral(au.clone()),
                    );
                }
                if let Some(re) = &rw.uri_regex {
                    a.regex_rewrite = Some(RegexMatchAndSubstitute {
                        pattern: Some(RegexMatcher {
                            regex: re.pattern.as_str().to_string(),
                            ..Default::default()
                        }),
                        substitution: re.rewrite.clone(),
                    });
                }
            }
            if let Some(rt) = &h.retries {
                a.retry_policy = Some(RetryPolicy {
                    retry_on: rt.retry_on.clone().unwrap_or_else(|| {
                        "connect-failure,refused-stream,unavailable,cancelled".into()
                    }),
                    num_retries: Some(u32v(u32::try_from(rt.attempts).unwrap_or(0))),
                    per_try_timeout: rt.per_try_timeout.map(duration),
                    ..Default::default()
                });
            }
            route::Action::Route(a)
        }
        HttpAction::Redirect(rd) => {
            let mut a = RedirectAction {
                response_code: match rd.redirect_code {
                    302 => redirect_action::RedirectResponseCode::Found,
                    303 => redirect_action::RedirectResponseCode::SeeOther,
                    307 => redirect_action::RedirectResponseCode::TemporaryRedirect,
                    308 => redirect_action::RedirectResponseCode::PermanentRedirect,
                    _ => redirect_action::RedirectResponseCode::MovedPermanently,
                } as i32,
                host_redirect: rd.authority.clone().unwrap_or_default(),
                ..Default::default()
            };
            if let Some(u) = &rd.uri {
                a.path_rewrite_specifier = Some(
                    redirect_action::PathRewriteSpecifier::PathRedirect(u.clone()),
                );
            }
            route::Action::Redirect(a)
        }
        HttpAction::DirectResponse(dr) => route::Action::DirectResponse(DirectResponseAction {
            status: dr.status,
            body: dr.body.as_ref().map(|b| DataSource {
                specifier: Some(data_source::Specifier::InlineBytes(b.clone())),
                ..Default::default()
            }),
            ..Default::default()
        }),
        HttpAction::Delegate { .. } => route::Action::DirectResponse(DirectResponseAction {
            status: 404,
            ..Default::default()
        }),
    });
    if let Some(f) = &h.fault {
        route
            .typed_per_filter_config
            .insert("envoy.filters.http.fault".into(), any(&fault_config(f)));
    }
    route
}

fn gateway_listeners(snapshot: &Snapshot, proxy: &Proxy, r: &mut Resources) {
    // GW-1: Gateways whose selector matches the proxy's labels.
    let mut by_port: BTreeMap<(String, u16), Vec<(String, &mesh_model::networking::Server)>> =
        BTreeMap::new();
    for g in snapshot.gateways() {
        if !g.spec.selector.matches(&proxy.labels) {
            continue;
        }
        let gw = format!("{}/{}", g.meta.namespace(), g.meta.name());
        for s in &g.spec.servers {
            if s.tls.is_some() || !s.port.protocol.is_http() {
                continue;
            }
            let Ok(port) = u16::try_from(s.port.number) else {
                continue;
            };
            let bind = s.bind.clone().unwrap_or_else(|| "0.0.0.0".into());
            by_port
                .entry((bind, port))
                .or_default()
                .push((gw.clone(), s));
        }
    }
    let defaults = &snapshot.mesh().default_virtual_service_export_to;
    for ((bind, port), servers) in by_port {
        let route_name = if bind == "0.0.0.0" {
            format!("http.{port}")
        } else {
            format!("http.{port}.{bind}")
        };
        let mut l = listener::outbound_http(
            port,
            &route_name,
            Some(&bind),
            vec![mesh_xds::http::fault()],
        );
        l.traffic_direction = 0;
        r.listeners.push(l);
        let mut vhosts: BTreeMap<String, VirtualHost> = BTreeMap::new();
        for (gw, server) in &servers {
            let (gns, gname) = gw.split_once('/').unwrap_or(("", gw));
            let gref = GatewayRef::Named {
                namespace: gns.to_string(),
                name: gname.to_string(),
            };
            for vs in snapshot.virtual_services() {
                if !vs.spec.applies_to(&gref)
                    || !vs.spec.export_to.visible_to(
                        &proxy.namespace,
                        vs.meta.namespace(),
                        defaults,
                    )
                {
                    continue;
                }
                for vh in &vs.spec.hosts {
                    // GW-5: the narrower of the server host and the VS host.
                    let Some(domain) = server.hosts.iter().find_map(|sh| {
                        if sh.namespace != "*" && sh.namespace != vs.meta.namespace() {
                            return None;
                        }
                        if sh.host.subset_of(vh) {
                            Some(sh.host.as_str().to_string())
                        } else if vh.subset_of(&sh.host) {
                            Some(vh.as_str().to_string())
                        } else {
                            None
                        }
                    }) else {
                        continue;
                    };
                    let key = format!("{domain}:{port}");
                    if vhosts.contains_key(&key) {
                        continue;
                    }
                    vhosts.insert(
                        key.clone(),
                        VirtualHost {
                            name: key,
                            domains: vec![domain.clone(), format!("{domain}:*")],
                            routes: http_routes(snapshot, proxy, &vs.spec, port),
                            ..Default::default()
                        },
                    );
                }
            }
        }
        let mut vhosts: Vec<VirtualHost> = vhosts.into_values().collect();
        if vhosts.is_empty() {
            // GW-9.
            vhosts.push(VirtualHost {
                name: format!("blackhole:{port}"),
                domains: vec!["*".into()],
                ..Default::default()
            });
        }
        r.routes.push(RouteConfiguration {
            name: route_name,
            virtual_hosts: vhosts,
            validate_clusters: Some(mesh_xds::util::boolv(false)),
            ..Default::default()
        });
    }
}

mod authz {
    //! AuthorizationPolicy → Envoy RBAC (AZ-1, AZ-2), the subset above.

    use super::*;
    use envoy_types::pb::envoy::config::rbac::v3::{
        Permission, Policy, Principal, Rbac, permission, principal, rbac,
    };
    use envoy_types::pb::envoy::extensions::filters::http::rbac::v3::Rbac as RbacFilter;
    use envoy_types::pb::envoy::extensions::filters::network::http_connection_manager::v3::{
        HttpFilter, http_filter,
    };
    use envoy_types::pb::envoy::r#type::matcher::v3::{PathMatcher, path_matcher};
    use mesh_model::security::{Action, Operation, Rule, Source};

    fn exact_or_glob(v: &str, prefix: &str) -> StringMatcher {
        let pattern = if v == "*" {
            string_matcher::MatchPattern::Prefix(prefix.to_string())
        } else if let Some(p) = v.strip_suffix('*') {
            string_matcher::MatchPattern::Prefix(format!("{prefix}{p}"))
        } else if let Some(sfx) = v.strip_prefix('*') {
            string_matcher::MatchPattern::Suffix(sfx.to_string())
        } else {
            string_matcher::MatchPattern::Exact(format!("{prefix}{v}"))
        };
        StringMatcher {
            match_pattern: Some(pattern),
            ignore_case: false,
        }
    }

    fn or_ids(ids: Vec<Principal>) -> Principal {
        Principal {
            identifier: Some(principal::Identifier::OrIds(principal::Set { ids })),
        }
    }

    fn not_id(p: Principal) -> Principal {
        Principal {
            identifier: Some(principal::Identifier::NotId(Box::new(p))),
        }
    }

    fn authenticated(m: StringMatcher) -> Principal {
        Principal {
            identifier: Some(principal::Identifier::Authenticated(
                principal::Authenticated {
                    principal_name: Some(m),
                },
            )),
        }
    }

    fn principals_of(v: &[String]) -> Principal {
        or_ids(
            v.iter()
                .map(|p| authenticated(exact_or_glob(p, "spiffe://")))
                .collect(),
        )
    }

    fn namespaces_of(v: &[String]) -> Principal {
        or_ids(
            v.iter()
                .map(|ns| {
                    authenticated(StringMatcher {
                        match_pattern: Some(string_matcher::MatchPattern::SafeRegex(
                            RegexMatcher {
                                regex: format!(".*/ns/{}/.*", regex::escape(ns)),
                                ..Default::default()
                            },
                        )),
                        ignore_case: false,
                    })
                })
                .collect(),
        )
    }

    fn or_rules(rules: Vec<Permission>) -> Permission {
        Permission {
            rule: Some(permission::Rule::OrRules(permission::Set { rules })),
        }
    }

    fn not_rule(p: Permission) -> Permission {
        Permission {
            rule: Some(permission::Rule::NotRule(Box::new(p))),
        }
    }

    fn paths_of(v: &[String]) -> Permission {
        or_rules(
            v.iter()
                .map(|p| Permission {
                    rule: Some(permission::Rule::UrlPath(PathMatcher {
                        rule: Some(path_matcher::Rule::Path(exact_or_glob(p, ""))),
                    })),
                })
                .collect(),
        )
    }

    fn methods_of(v: &[String]) -> Permission {
        or_rules(
            v.iter()
                .map(|m| Permission {
                    rule: Some(permission::Rule::Header(header(
                        ":method",
                        &StringMatch::Exact(m.clone()),
                        false,
                    ))),
                })
                .collect(),
        )
    }

    fn ports_of(v: &[u16]) -> Permission {
        or_rules(
            v.iter()
                .map(|p| Permission {
                    rule: Some(permission::Rule::DestinationPort(u32::from(*p))),
                })
                .collect(),
        )
    }

    /// The principal of one `from`, or `None` when it uses a field this
    /// translation does not cover.
    fn source(s: &Source) -> Option<Principal> {
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
            ..
        } = s;
        let unsupported = [
            request_principals,
            not_request_principals,
            service_accounts,
            not_service_accounts,
            trust_domains,
            not_trust_domains,
        ];
        if unsupported.iter().any(|v| !v.is_empty()) || !ip_blocks.is_empty() {
            return None;
        }
        let mut ids = Vec::new();
        if !principals.is_empty() {
            ids.push(principals_of(principals));
        }
        if !not_principals.is_empty() {
            ids.push(not_id(principals_of(not_principals)));
        }
        if !namespaces.is_empty() {
            ids.push(namespaces_of(namespaces));
        }
        if !not_namespaces.is_empty() {
            ids.push(not_id(namespaces_of(not_namespaces)));
        }
        Some(Principal {
            identifier: Some(if ids.is_empty() {
                principal::Identifier::Any(true)
            } else {
                principal::Identifier::AndIds(principal::Set { ids })
            }),
        })
    }

    fn operation(o: &Operation) -> Option<Permission> {
        let Operation {
            hosts,
            not_hosts,
            ports,
            not_ports,
            methods,
            not_methods,
            paths,
            not_paths,
            ..
        } = o;
        if !hosts.is_empty() || !not_hosts.is_empty() {
            return None;
        }
        let mut rules = Vec::new();
        if !paths.is_empty() {
            rules.push(paths_of(paths));
        }
        if !not_paths.is_empty() {
            rules.push(not_rule(paths_of(not_paths)));
        }
        if !methods.is_empty() {
            rules.push(methods_of(methods));
        }
        if !not_methods.is_empty() {
            rules.push(not_rule(methods_of(not_methods)));
        }
        if !ports.is_empty() {
            rules.push(ports_of(ports));
        }
        if !not_ports.is_empty() {
            rules.push(not_rule(ports_of(not_ports)));
        }
        Some(Permission {
            rule: Some(if rules.is_empty() {
                permission::Rule::Any(true)
            } else {
                permission::Rule::AndRules(permission::Set { rules })
            }),
        })
    }

    /// One rule as a policy; `None` when it cannot be translated.
    fn rule(r: &Rule) -> Option<Policy> {
        if !r.when.is_empty() {
            return None;
        }
        let principals: Option<Vec<Principal>> = r.from.iter().map(source).collect();
        let permissions: Option<Vec<Permission>> = r.to.iter().map(operation).collect();
        let mut principals = principals?;
        let mut permissions = permissions?;
        if principals.is_empty() {
            principals.push(Principal {
                identifier: Some(principal::Identifier::Any(true)),
            });
        }
        if permissions.is_empty() {
            permissions.push(Permission {
                rule: Some(permission::Rule::Any(true)),
            });
        }
        Some(Policy {
            permissions,
            principals,
            ..Default::default()
        })
    }

    fn match_all() -> Policy {
        Policy {
            permissions: vec![Permission {
                rule: Some(permission::Rule::Any(true)),
            }],
            principals: vec![Principal {
                identifier: Some(principal::Identifier::Any(true)),
            }],
            ..Default::default()
        }
    }

    fn filter(
        action: rbac::Action,
        policies: std::collections::HashMap<String, Policy>,
    ) -> HttpFilter {
        let config = RbacFilter {
            rules: Some(Rbac {
                action: action as i32,
                policies,
                ..Default::default()
            }),
            ..Default::default()
        };
        HttpFilter {
            name: "envoy.filters.http.rbac".into(),
            config_type: Some(http_filter::ConfigType::TypedConfig(any(&config))),
            ..Default::default()
        }
    }

    /// The RBAC filters of a workload: policies selecting it in its
    /// namespace, its namespace's, and the mesh's (root namespace).
    pub fn filters(snapshot: &Snapshot, proxy: &Proxy) -> Vec<HttpFilter> {
        let root = snapshot.root_namespace();
        let mut deny = std::collections::HashMap::new();
        let mut allow = std::collections::HashMap::new();
        let mut any_allow = false;
        for ap in snapshot.authorization_policies() {
            let ns = ap.meta.namespace();
            let applies = match &ap.spec.selector {
                Some(sel) => ns == proxy.namespace && sel.matches(&proxy.labels),
                None => ap.spec.target_refs.is_empty() && (ns == proxy.namespace || ns == root),
            };
            if !applies || ap.spec.dry_run {
                continue;
            }
            let (map, allow_policy) = match ap.spec.action {
                Action::Allow => (&mut allow, true),
                Action::Deny => (&mut deny, false),
                _ => continue,
            };
            any_allow |= allow_policy;
            for (i, r) in ap.spec.rules.iter().enumerate() {
                let name = format!("ns[{ns}]-policy[{}]-rule[{i}]", ap.meta.name());
                match rule(r) {
                    Some(p) => {
                        map.insert(name, p);
                    }
                    // Fail closed: an untranslatable DENY rule denies all.
                    None if !allow_policy => {
                        map.insert(name, match_all());
                    }
                    None => {}
                }
            }
        }
        let mut out = Vec::new();
        if !deny.is_empty() {
            out.push(filter(rbac::Action::Deny, deny));
        }
        if any_allow {
            out.push(filter(rbac::Action::Allow, allow));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mesh_model::{LoadOptions, load};

    const MESH: &str = r#"
apiVersion: v1
kind: Service
metadata: {name: reviews, namespace: app}
spec:
  selector: {app: reviews}
  ports: [{name: http, port: 9080, targetPort: http}]
---
apiVersion: networking.istio.io/v1
kind: WorkloadEntry
metadata: {name: reviews-v1, namespace: app}
spec: {address: 127.0.0.1, labels: {app: reviews, version: v1}, ports: {http: 18081}}
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: reviews, namespace: app}
spec:
  host: reviews
  subsets:
  - {name: v1, labels: {version: v1}}
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: reviews, namespace: app}
spec:
  hosts: [reviews]
  http:
  - route:
    - {destination: {host: reviews, subset: v1}, weight: 80}
    - {destination: {host: reviews}, weight: 20}
---
apiVersion: networking.istio.io/v1
kind: Sidecar
metadata: {name: client, namespace: app}
spec:
  workloadSelector: {labels: {app: client}}
  egress:
  - port: {number: 9080, protocol: HTTP, name: http}
    bind: 127.0.0.2
    captureMode: NONE
    hosts: ["./*"]
"#;

    #[test]
    fn compiles_a_bound_egress_listener_and_weighted_routes() {
        let loaded = load(&[("mesh.yaml", MESH)], &LoadOptions::default());
        assert!(!loaded.has_errors(), "{:?}", loaded.diagnostics);
        let proxy = Proxy::sidecar(
            "app",
            [("app".to_string(), "client".to_string())].into(),
            "client",
        );
        let r = compile(&loaded.snapshot, &proxy);
        let names: Vec<&str> = r.clusters.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "outbound|9080|v1|reviews.app.svc.cluster.local",
                "outbound|9080||reviews.app.svc.cluster.local",
            ]
        );
        assert_eq!(r.listeners[0].name, "127.0.0.2_9080");
        let j = mesh_xds::json::to_json(&r.routes[0]);
        let w = &j["virtualHosts"][0]["routes"][0]["route"]["weightedClusters"]["clusters"];
        assert_eq!(w[0]["weight"], 80);
        assert_eq!(w[1]["name"], "outbound|9080||reviews.app.svc.cluster.local");
        let ep = mesh_xds::json::to_json(&r.endpoints[1]);
        assert_eq!(
            ep["endpoints"][0]["lbEndpoints"][0]["endpoint"]["address"]["socketAddress"]["portValue"],
            18081
        );
    }
}
