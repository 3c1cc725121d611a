//! Routes (RDS): `mesh-route`'s compiled route configurations translated
//! one to one into Envoy protos, with VirtualService provenance in
//! `metadata.filter_metadata.istio.config` as Istio writes it.
//!
//! `encode::compiled` writes the bytes of this same translation straight
//! from mesh-route's types (for `PreparedProxy::route_resources`), through
//! this module's functions for all but the common fields. A change to how
//! a route configuration, virtual host, route, match, action or retry
//! policy is filled here needs the same change there; the tests that
//! compare the two (`per_type_compiles_match_the_full_compile`,
//! `envoy_validate`, the `compile` fuzz target) fail until it has it.

use crate::util::{any, duration, metadata, string_value, u32v};
use envoy_types::pb::envoy::config::core::v3::{
    DataSource, HeaderValue, HeaderValueOption, Metadata, RuntimeFractionalPercent,
    data_source::Specifier, header_value_option::HeaderAppendAction,
};
use envoy_types::pb::envoy::config::route::v3 as r;
use envoy_types::pb::envoy::extensions::filters::common::fault::v3::{
    FaultDelay, fault_delay::FaultDelaySecifier,
};
use envoy_types::pb::envoy::extensions::filters::http::cors::v3::CorsPolicy as CorsPerRoute;
use envoy_types::pb::envoy::extensions::filters::http::fault::v3::{
    FaultAbort, HttpFault, fault_abort::ErrorType,
};
use envoy_types::pb::envoy::r#type::matcher::v3::{
    ListMatcher, MetadataMatcher, RegexMatchAndSubstitute, RegexMatcher, StringMatcher,
    ValueMatcher,
    metadata_matcher::{PathSegment, path_segment},
    string_matcher::MatchPattern,
    value_matcher,
};
use envoy_types::pb::envoy::r#type::v3::{FractionalPercent, fractional_percent::DenominatorType};
use envoy_types::pb::google::protobuf::{Any, value::Kind};
use mesh_route::config::{self as c, ClusterSpecifier, PathMatch, RouteAction, ValueMatch};
use std::sync::LazyLock;

/// Translates one compiled route configuration.
pub fn translate(rc: &c::RouteConfiguration) -> r::RouteConfiguration {
    into_route_configuration(rc.clone())
}

/// Translates every route configuration of a proxy's route table, taking
/// the table's strings rather than copying them (what a compile that needs
/// nothing else of the table does).
pub fn translate_table(table: mesh_route::RouteTable) -> Vec<r::RouteConfiguration> {
    table
        .into_route_configurations()
        .into_iter()
        .map(into_route_configuration)
        .collect()
}

/// Translates one compiled route configuration, taking its strings rather
/// than copying them (what a compile that no longer needs the route table
/// does).
pub fn into_route_configuration(rc: c::RouteConfiguration) -> r::RouteConfiguration {
    r::RouteConfiguration {
        name: rc.name,
        virtual_hosts: rc.virtual_hosts.into_iter().map(virtual_host).collect(),
        ignore_port_in_host_matching: rc.ignore_port_in_host_matching,
        validate_clusters: Some(crate::util::boolv(false)),
        ..Default::default()
    }
}

fn virtual_host(v: c::VirtualHost) -> r::VirtualHost {
    r::VirtualHost {
        name: v.name,
        domains: v.domains,
        routes: into_routes(v.routes),
        require_tls: if v.require_tls {
            r::virtual_host::TlsRequirementType::All as i32
        } else {
            r::virtual_host::TlsRequirementType::None as i32
        },
        include_request_attempt_count: true,
        ..Default::default()
    }
}

fn string_matcher(m: c::StringMatcher) -> StringMatcher {
    StringMatcher {
        match_pattern: Some(match m {
            c::StringMatcher::Exact(s) => MatchPattern::Exact(s),
            c::StringMatcher::Prefix(s) => MatchPattern::Prefix(s),
            c::StringMatcher::SafeRegex(re) => MatchPattern::SafeRegex(regex(re.pattern())),
        }),
        ..Default::default()
    }
}

pub(crate) fn regex(pattern: &str) -> RegexMatcher {
    RegexMatcher {
        regex: pattern.to_string(),
        ..Default::default()
    }
}

fn header_values(hs: Vec<c::HeaderValueOption>) -> Vec<HeaderValueOption> {
    hs.into_iter().map(header_value).collect()
}

pub(crate) fn header_value(h: c::HeaderValueOption) -> HeaderValueOption {
    HeaderValueOption {
        header: Some(HeaderValue {
            key: h.key,
            value: h.value,
            ..Default::default()
        }),
        append_action: match h.append_action {
            c::AppendAction::OverwriteIfExistsOrAdd => HeaderAppendAction::OverwriteIfExistsOrAdd,
            c::AppendAction::AppendIfExistsOrAdd => HeaderAppendAction::AppendIfExistsOrAdd,
        } as i32,
        ..Default::default()
    }
}

fn fraction(f: &c::FractionalPercent) -> FractionalPercent {
    FractionalPercent {
        numerator: f.numerator,
        denominator: match f.denominator {
            c::Denominator::Hundred => DenominatorType::Hundred,
            c::Denominator::Million => DenominatorType::Million,
        } as i32,
    }
}

fn route_match(m: c::RouteMatch) -> r::RouteMatch {
    use r::route_match::PathSpecifier;
    r::RouteMatch {
        path_specifier: Some(match m.path {
            PathMatch::Prefix(p) => PathSpecifier::Prefix(p),
            PathMatch::Path(p) => PathSpecifier::Path(p),
            PathMatch::SafeRegex(re) => PathSpecifier::SafeRegex(regex(re.pattern())),
        }),
        case_sensitive: (!m.case_sensitive).then(|| crate::util::boolv(false)),
        headers: m.headers.into_iter().map(header_matcher).collect(),
        query_parameters: m
            .query_parameters
            .into_iter()
            .map(query_parameter_matcher)
            .collect(),
        dynamic_metadata: m.claims.into_iter().map(claim_matcher).collect(),
        ..Default::default()
    }
}

pub(crate) fn header_matcher(h: c::HeaderMatcher) -> r::HeaderMatcher {
    use r::header_matcher::HeaderMatchSpecifier;
    r::HeaderMatcher {
        name: h.name,
        invert_match: h.invert_match,
        treat_missing_header_as_empty: h.treat_missing_header_as_empty,
        header_match_specifier: Some(match h.value {
            ValueMatch::Present => HeaderMatchSpecifier::PresentMatch(true),
            ValueMatch::String(s) => HeaderMatchSpecifier::StringMatch(string_matcher(s)),
        }),
    }
}

pub(crate) fn query_parameter_matcher(q: c::QueryParameterMatcher) -> r::QueryParameterMatcher {
    use r::query_parameter_matcher::QueryParameterMatchSpecifier;
    r::QueryParameterMatcher {
        name: q.name,
        query_parameter_match_specifier: Some(match q.value {
            ValueMatch::Present => QueryParameterMatchSpecifier::PresentMatch(true),
            ValueMatch::String(s) => QueryParameterMatchSpecifier::StringMatch(string_matcher(s)),
        }),
    }
}

/// A `dynamic_metadata` matcher on a JWT claim (VS-13).
pub(crate) fn claim_matcher(cm: c::ClaimMatcher) -> MetadataMatcher {
    let mut path = vec![PathSegment {
        segment: Some(path_segment::Segment::Key("payload".into())),
    }];
    path.extend(cm.claim.into_iter().map(|k| PathSegment {
        segment: Some(path_segment::Segment::Key(k)),
    }));
    let string = |s: c::StringMatcher| ValueMatcher {
        match_pattern: Some(value_matcher::MatchPattern::StringMatch(string_matcher(s))),
    };
    let value = match cm.value {
        ValueMatch::Present => ValueMatcher {
            match_pattern: Some(value_matcher::MatchPattern::PresentMatch(true)),
        },
        // A list claim matches when any element does (VS-13).
        ValueMatch::String(s) => ValueMatcher {
            match_pattern: Some(value_matcher::MatchPattern::OrMatch(
                envoy_types::pb::envoy::r#type::matcher::v3::OrMatcher {
                    value_matchers: vec![
                        string(s.clone()),
                        ValueMatcher {
                            match_pattern: Some(value_matcher::MatchPattern::ListMatch(Box::new(ListMatcher {
                                match_pattern: Some(
                                    envoy_types::pb::envoy::r#type::matcher::v3::list_matcher::MatchPattern::OneOf(
                                        Box::new(string(s)),
                                    ),
                                ),
                            }))),
                        },
                    ],
                },
            )),
        },
    };
    MetadataMatcher {
        filter: "envoy.filters.http.jwt_authn".into(),
        path,
        value: Some(value),
        invert: cm.invert,
    }
}

pub(crate) fn cluster_weight(d: c::DestinationCluster) -> r::weighted_cluster::ClusterWeight {
    r::weighted_cluster::ClusterWeight {
        name: d.name,
        weight: Some(u32v(d.weight)),
        request_headers_to_add: header_values(d.request_headers_to_add),
        request_headers_to_remove: d.request_headers_to_remove,
        response_headers_to_add: header_values(d.response_headers_to_add),
        response_headers_to_remove: d.response_headers_to_remove,
        host_rewrite_specifier: d
            .host_rewrite_literal
            .map(r::weighted_cluster::cluster_weight::HostRewriteSpecifier::HostRewriteLiteral),
        ..Default::default()
    }
}

fn retry(p: c::RetryPolicy) -> r::RetryPolicy {
    r::RetryPolicy {
        retry_on: p.retry_on,
        num_retries: Some(u32v(p.num_retries)),
        per_try_timeout: p.per_try_timeout.map(duration),
        retriable_status_codes: p.retriable_status_codes,
        host_selection_retry_max_attempts: i64::from(p.host_selection_retry_max_attempts),
        retry_host_predicate: if p.retry_previous_hosts {
            vec![previous_hosts()]
        } else {
            Vec::new()
        },
        retry_priority: p.retry_previous_priorities.then(previous_priorities),
        retry_back_off: p
            .backoff_base_interval
            .map(|b| r::retry_policy::RetryBackOff {
                base_interval: Some(duration(b)),
                ..Default::default()
            }),
        ..Default::default()
    }
}

/// `retry_host_predicate` `envoy.retry_host_predicates.previous_hosts`.
pub(crate) fn previous_hosts() -> r::retry_policy::RetryHostPredicate {
    // The config is a constant, packed once: nearly every route has a
    // retry policy, and packing costs more than copying.
    static PREVIOUS_HOSTS: LazyLock<Any> = LazyLock::new(|| {
        any(&envoy_types::pb::envoy::extensions::retry::host::previous_hosts::v3::PreviousHostsPredicate {})
    });
    r::retry_policy::RetryHostPredicate {
        name: "envoy.retry_host_predicates.previous_hosts".into(),
        config_type: Some(
            r::retry_policy::retry_host_predicate::ConfigType::TypedConfig(PREVIOUS_HOSTS.clone()),
        ),
    }
}

/// `retry_priority` `envoy.retry_priorities.previous_priorities`
/// (`retryRemoteLocalities`).
pub(crate) fn previous_priorities() -> r::retry_policy::RetryPriority {
    static PREVIOUS_PRIORITIES: LazyLock<Any> = LazyLock::new(|| {
        any(&envoy_types::pb::envoy::extensions::retry::priority::previous_priorities::v3::PreviousPrioritiesConfig {
            update_frequency: 2,
        })
    });
    r::retry_policy::RetryPriority {
        name: "envoy.retry_priorities.previous_priorities".into(),
        config_type: Some(r::retry_policy::retry_priority::ConfigType::TypedConfig(
            PREVIOUS_PRIORITIES.clone(),
        )),
    }
}

pub(crate) fn hash_policy(h: c::HashPolicy) -> r::route_action::HashPolicy {
    use r::route_action::hash_policy::{
        ConnectionProperties, Cookie, Header, PolicySpecifier, QueryParameter,
    };
    r::route_action::HashPolicy {
        policy_specifier: Some(match h {
            c::HashPolicy::Header(name) => PolicySpecifier::Header(Header {
                header_name: name,
                ..Default::default()
            }),
            c::HashPolicy::Cookie { name, path, ttl } => PolicySpecifier::Cookie(Cookie {
                name,
                path: path.unwrap_or_default(),
                ttl: ttl.map(duration),
                ..Default::default()
            }),
            c::HashPolicy::SourceIp => {
                PolicySpecifier::ConnectionProperties(ConnectionProperties { source_ip: true })
            }
            c::HashPolicy::QueryParameter(name) => {
                PolicySpecifier::QueryParameter(QueryParameter { name })
            }
        }),
        terminal: false,
    }
}

/// A forwarding action, written into an action already in place (see
/// [`into_route`]).
fn forward_into(f: c::ForwardAction, a: &mut r::RouteAction) {
    use r::route_action::ClusterSpecifier as Cs;
    a.cluster_specifier = Some(match f.clusters {
        ClusterSpecifier::Cluster(d) => Cs::Cluster(d.name),
        ClusterSpecifier::WeightedClusters(ds) => Cs::WeightedClusters(r::WeightedCluster {
            clusters: ds.into_iter().map(cluster_weight).collect(),
            ..Default::default()
        }),
    });
    a.timeout = Some(duration(f.timeout.unwrap_or_default()));
    // `max_grpc_timeout` (VS-24), in its current form: a request's
    // `grpc-timeout` is honoured up to this bound (0: no bound).
    a.max_stream_duration = Some(r::route_action::MaxStreamDuration {
        grpc_timeout_header_max: Some(duration(f.max_grpc_timeout.unwrap_or_default())),
        ..Default::default()
    });
    a.retry_policy = f.retry_policy.map(retry);
    a.prefix_rewrite = f.prefix_rewrite.unwrap_or_default();
    a.regex_rewrite = f.regex_rewrite.map(regex_rewrite);
    a.host_rewrite_specifier = f
        .host_rewrite_literal
        .map(r::route_action::HostRewriteSpecifier::HostRewriteLiteral);
    a.request_mirror_policies = f.request_mirror_policies.into_iter().map(mirror).collect();
    a.hash_policy = f.hash_policy.into_iter().map(hash_policy).collect();
}

pub(crate) fn regex_rewrite(rr: c::RegexRewrite) -> RegexMatchAndSubstitute {
    RegexMatchAndSubstitute {
        pattern: Some(regex(rr.pattern.as_str())),
        substitution: rr.substitution,
    }
}

pub(crate) fn mirror(m: c::MirrorPolicy) -> r::route_action::RequestMirrorPolicy {
    r::route_action::RequestMirrorPolicy {
        cluster: m.cluster,
        runtime_fraction: Some(RuntimeFractionalPercent {
            default_value: Some(fraction(&m.runtime_fraction)),
            ..Default::default()
        }),
        trace_sampled: Some(crate::util::boolv(m.trace_sampled)),
        ..Default::default()
    }
}

pub(crate) fn fault(f: &c::FaultPolicy) -> HttpFault {
    HttpFault {
        delay: f.delay.as_ref().map(|d| FaultDelay {
            fault_delay_secifier: Some(FaultDelaySecifier::FixedDelay(duration(d.fixed_delay))),
            percentage: Some(fraction(&d.percentage)),
        }),
        abort: f.abort.as_ref().map(|a| FaultAbort {
            error_type: Some(match a.status {
                c::AbortStatus::HttpStatus(s) => ErrorType::HttpStatus(s),
                c::AbortStatus::GrpcStatus(s) => ErrorType::GrpcStatus(s),
            }),
            percentage: a.percentage.as_ref().map(fraction),
            ..Default::default()
        }),
        ..Default::default()
    }
}

pub(crate) fn cors(p: &c::CorsPolicy) -> CorsPerRoute {
    CorsPerRoute {
        allow_origin_string_match: p
            .allow_origin_string_match
            .iter()
            .cloned()
            .map(string_matcher)
            .collect(),
        allow_methods: p.allow_methods.clone(),
        allow_headers: p.allow_headers.clone(),
        expose_headers: p.expose_headers.clone(),
        max_age: p.max_age.clone().unwrap_or_default(),
        allow_credentials: p.allow_credentials.map(crate::util::boolv),
        forward_not_matching_preflights: Some(crate::util::boolv(
            p.forward_not_matching_preflights,
        )),
        ..Default::default()
    }
}

/// Istio's config provenance path for a VirtualService
/// (`metadata.filter_metadata.istio.config` of its routes), in pieces.
pub(crate) fn config_path_pieces(vs: &c::ConfigRef) -> [&str; 4] {
    [
        "/apis/networking.istio.io/v1/namespaces/",
        &vs.namespace,
        "/virtual-service/",
        &vs.name,
    ]
}

/// Istio's config provenance path for a VirtualService
/// (`metadata.filter_metadata.istio.config` of its routes).
pub(crate) fn config_path(vs: &c::ConfigRef) -> String {
    mesh_model::host::concat(&config_path_pieces(vs))
}

/// A route's provenance metadata, `istio.config` = `path`: a copy of one
/// built once, its one value set in place, so that no key is hashed again
/// for each of thousands of routes.
fn config_metadata(path: String) -> Metadata {
    static TEMPLATE: std::sync::OnceLock<Metadata> = std::sync::OnceLock::new();
    let mut md = TEMPLATE
        .get_or_init(|| metadata("istio", vec![("config", string_value(String::new()))]))
        .clone();
    if let Some(value) = md
        .filter_metadata
        .values_mut()
        .next()
        .and_then(|s| s.fields.values_mut().next())
    {
        value.kind = Some(Kind::StringValue(path));
    }
    md
}

/// Translates one compiled route, taking its strings.
pub fn into_route(x: c::Route) -> r::Route {
    let mut route = r::Route::default();
    fill_route(&mut route, x);
    route
}

/// Translates compiled routes, taking their strings.
///
/// Each route is filled where it will stay: an Envoy `Route` is over two
/// kilobytes, and every move of one is a copy of all of it.
pub(crate) fn into_routes(xs: Vec<c::Route>) -> Vec<r::Route> {
    let mut routes = Vec::new();
    routes.resize_with(xs.len(), r::Route::default);
    for (route, x) in routes.iter_mut().zip(xs) {
        fill_route(route, x);
    }
    routes
}

/// Translates `x` into `route`, a default route.
fn fill_route(route: &mut r::Route, x: c::Route) {
    if let Some(f) = &x.fault {
        route
            .typed_per_filter_config
            .insert("envoy.filters.http.fault".to_string(), any(&fault(f)));
    }
    if let Some(p) = &x.cors {
        route
            .typed_per_filter_config
            .insert("envoy.filters.http.cors".to_string(), any(&cors(p)));
    }
    match x.action {
        RouteAction::Route(f) => {
            let action = route
                .action
                .insert(r::route::Action::Route(r::RouteAction::default()));
            if let r::route::Action::Route(a) = action {
                forward_into(*f, a);
            }
        }
        RouteAction::Redirect(rd) => route.action = Some(r::route::Action::Redirect(redirect(rd))),
        RouteAction::DirectResponse(d) => {
            route.action = Some(r::route::Action::DirectResponse(direct_response(d)))
        }
        // Istio emits no action (VS-21); Envoy rejects the configuration.
        RouteAction::Unsupported { .. } => {}
    }
    route.name = x.name;
    route.r#match = Some(route_match(x.matcher));
    if !x.operation.is_empty() {
        route.decorator = Some(r::Decorator {
            operation: x.operation,
            ..Default::default()
        });
    }
    route.request_headers_to_add = header_values(x.request_headers_to_add);
    route.request_headers_to_remove = x.request_headers_to_remove;
    route.response_headers_to_add = header_values(x.response_headers_to_add);
    route.response_headers_to_remove = x.response_headers_to_remove;
    route.stat_prefix = x.stat_prefix.unwrap_or_default();
    if let Some(o) = x.origin {
        route.metadata = Some(config_metadata(config_path(&o.virtual_service)));
    }
}

pub(crate) fn redirect(rd: c::RedirectAction) -> r::RedirectAction {
    r::RedirectAction {
        host_redirect: rd.host_redirect.unwrap_or_default(),
        port_redirect: rd.port_redirect.map(u32::from).unwrap_or(0),
        response_code: match rd.response_code {
            302 => r::redirect_action::RedirectResponseCode::Found,
            303 => r::redirect_action::RedirectResponseCode::SeeOther,
            307 => r::redirect_action::RedirectResponseCode::TemporaryRedirect,
            308 => r::redirect_action::RedirectResponseCode::PermanentRedirect,
            _ => r::redirect_action::RedirectResponseCode::MovedPermanently,
        } as i32,
        scheme_rewrite_specifier: rd
            .scheme_redirect
            .map(r::redirect_action::SchemeRewriteSpecifier::SchemeRedirect),
        path_rewrite_specifier: rd
            .path_redirect
            .map(r::redirect_action::PathRewriteSpecifier::PathRedirect)
            .or_else(|| {
                rd.prefix_rewrite
                    .map(r::redirect_action::PathRewriteSpecifier::PrefixRewrite)
            }),
        ..Default::default()
    }
}

pub(crate) fn direct_response(d: c::DirectResponseAction) -> r::DirectResponseAction {
    r::DirectResponseAction {
        status: d.status,
        body: d.body.map(|b| DataSource {
            specifier: Some(match String::from_utf8(b) {
                Ok(s) => Specifier::InlineString(s),
                Err(e) => Specifier::InlineBytes(e.into_bytes()),
            }),
            ..Default::default()
        }),
        ..Default::default()
    }
}
