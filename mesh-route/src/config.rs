//! The compiled route tables: a neutral, typed description of the Envoy
//! `RouteConfiguration`s Istio generates for one proxy.
//!
//! Every type here maps one to one onto an Envoy proto
//! (`envoy.config.route.v3`), named as Envoy names it, so an xDS compiler can
//! translate it field by field; the same values are what
//! [`RouteTable::route`](crate::RouteTable::route) evaluates, so what the
//! router decides is what the translated Envoy config does. Where Istio
//! leaves a field unset, the field is an `Option` (or empty), never a
//! made-up default.
//!
//! Provenance that Envoy does not carry (which VirtualService, route and
//! match block produced a route) rides along in [`RouteOrigin`]; an xDS
//! compiler may turn it into route metadata or drop it.
//!
//! # Translating to Envoy
//!
//! | Here | Envoy (`envoy.config.route.v3` unless noted) |
//! |---|---|
//! | [`RouteConfiguration`] `name`, `virtual_hosts`, `ignore_port_in_host_matching` | `RouteConfiguration` (Istio also sets `validate_clusters: false`, `max_direct_response_body_size_bytes: 1048576`) |
//! | [`VirtualHost`] `require_tls` | `require_tls: ALL` |
//! | [`Route`] `name`, `match`, `stat_prefix`, `operation` | `Route.name`, `match`, `stat_prefix`, `decorator.operation` |
//! | `request_headers_to_add` … | the same fields ([`AppendAction`] is `HeaderValueOption.append_action`) |
//! | `fault`, `cors` | `typed_per_filter_config["envoy.filters.http.fault"]` (`HTTPFault`), `["envoy.filters.http.cors"]` (`CorsPolicy`, `filter_enabled` 100%) |
//! | [`PathMatch`] + `case_sensitive` | `prefix` / `path` / `safe_regex` and `case_sensitive` |
//! | [`HeaderMatcher`], [`QueryParameterMatcher`] | the same; [`ValueMatch::Present`] is `present_match: true` |
//! | [`ClaimMatcher`] | `dynamic_metadata`: filter `envoy.filters.http.jwt_authn`, path `payload` + claim, value `or_match[list_match.one_of(m), m]`, `invert` |
//! | [`RouteAction::Route`] ([`ForwardAction`]) | `route`: `cluster` or `weighted_clusters` ([`ClusterSpecifier`]), `timeout` and `max_grpc_timeout` (`None` ⇒ `0s`), `retry_policy`, `prefix_rewrite`, `regex_rewrite`, `host_rewrite_literal`, `request_mirror_policies` (`trace_sampled: false`), `hash_policy` |
//! | [`RetryPolicy`] | `num_retries`, `retry_on`, `retriable_status_codes`, `per_try_timeout`, `host_selection_retry_max_attempts`, `retry_host_predicate` (`envoy.retry_host_predicates.previous_hosts`), `retry_priority` (`envoy.retry_priorities.previous_priorities`, `update_frequency: 2`), `retry_back_off.base_interval` |
//! | [`RouteAction::Redirect`], [`RouteAction::DirectResponse`] | `redirect` (`response_code` 301 ⇒ `MOVED_PERMANENTLY` …), `direct_response` (`inline_string`/`inline_bytes`) |
//! | [`RouteAction::Unsupported`] | a route without action: Envoy rejects the configuration ([`RouteConfiguration::rejected`]) |

use mesh_model::host::Hostname;
use mesh_model::networking::FullRegex;
use serde::Serialize;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

/// `namespace/name` of a configuration object.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub struct ConfigRef {
    /// The namespace.
    pub namespace: String,
    /// The name.
    pub name: String,
}

impl ConfigRef {
    /// A reference to `namespace/name`.
    pub fn new(namespace: &str, name: &str) -> ConfigRef {
        ConfigRef {
            namespace: namespace.to_string(),
            name: name.to_string(),
        }
    }
}

impl fmt::Display for ConfigRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.namespace, self.name)
    }
}

/// One Envoy `RouteConfiguration` (XDS-2 names it).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RouteConfiguration {
    /// The RDS name: `"9080"` (sidecar port), `"reviews.ns.svc.cluster.local:9080"`
    /// (a sniffed service port), `"http.8080"` or
    /// `"https.443.https.gw.ns"` (gateway servers).
    pub name: String,
    /// Virtual hosts, in Envoy order (Istio sorts them by name; the
    /// sidecar catch-all comes last).
    pub virtual_hosts: Vec<VirtualHost>,
    /// `ignore_port_in_host_matching`: Istio sets it on every sidecar and
    /// gateway route configuration, so `Host: a:9080` matches domain `a`.
    pub ignore_port_in_host_matching: bool,
    /// Which traffic this route configuration serves (the listener or
    /// filter chain that names it). Not an Envoy field. Shared: every
    /// compile of a prepared gateway ([`ProxyRoutes`](crate::ProxyRoutes))
    /// gives its route configurations the same scopes.
    pub scope: Arc<RouteScope>,
    /// Why Envoy would reject the whole route configuration, if it would
    /// (VS-21: a redirect with an unsupported status leaves a route without
    /// an action). Envoy then keeps serving its previous configuration.
    pub rejected: Option<String>,
}

/// The traffic a route configuration serves.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase", tag = "kind")]
pub enum RouteScope {
    /// A sidecar's outbound HTTP listener `0.0.0.0_<port>`.
    SidecarPort {
        /// The port.
        port: u16,
    },
    /// A sidecar's per-service listener on an auto-detected (sniffed) port
    /// (`<vip>_<port>`): its single virtual host has domains `*` (VS-5).
    SniffedService {
        /// The service.
        host: Hostname,
        /// The port.
        port: u16,
        /// The domains the virtual host had before being widened to `*`:
        /// the names by which clients address the service.
        service_domains: Vec<String>,
    },
    /// Plain-text HTTP servers of a gateway sharing one port (GW-6).
    GatewayHttp {
        /// The server port (the gateway Service port).
        server_port: u16,
        /// The port the gateway pod listens on (GW-2).
        target_port: u16,
        /// `bind`, if any.
        bind: Option<String>,
    },
    /// One TLS-terminating HTTPS gateway server (GW-6).
    GatewayHttps {
        /// The server port.
        server_port: u16,
        /// The port the gateway pod listens on.
        target_port: u16,
        /// The server's port name.
        port_name: String,
        /// The Gateway.
        gateway: ConfigRef,
        /// The server's hosts: the SNI names of its filter chain (`*` for
        /// no SNI match).
        sni_hosts: Vec<Hostname>,
        /// `bind`, if any.
        bind: Option<String>,
    },
}

/// An Envoy `VirtualHost`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct VirtualHost {
    /// The name (`host:port`, `allow_any`, `block_all`, `blackhole:80`).
    pub name: String,
    /// The domains (exact, `*.suffix`, `prefix*`, or `*`), lower case.
    pub domains: Vec<String>,
    /// The routes, first match wins.
    pub routes: Vec<Route>,
    /// `require_tls: ALL` (a gateway server with `httpsRedirect`, GW-7):
    /// plain-text requests get a 301 to `https`.
    pub require_tls: bool,
    /// Where the virtual host came from. Not an Envoy field.
    pub kind: VirtualHostKind,
}

/// What a virtual host stands for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum VirtualHostKind {
    /// A registry service (its VirtualService routes, or its default
    /// route).
    Service,
    /// A VirtualService host that is not a registry service (VS-8).
    VirtualServiceHost,
    /// A gateway server host (GW-5).
    GatewayHost,
    /// The sidecar catch-all `allow_any` (PassthroughCluster, VS-5).
    AllowAny,
    /// The sidecar catch-all `block_all` (direct 502, REGISTRY_ONLY).
    BlockAll,
    /// A gateway route configuration with no virtual host: `blackhole:<port>`
    /// with no routes (GW-9).
    Blackhole,
}

/// An Envoy `Route`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Route {
    /// The route name (VS-6): `http.name`, `http.name.match.name`,
    /// `.match.name` when only the match is named, `default` for a
    /// service's default route; empty when unnamed.
    pub name: String,
    /// The VirtualService route this came from; `None` for routes Istio
    /// generates (a service's default route, `allow_any`, `block_all`).
    pub origin: Option<RouteOrigin>,
    /// When the route applies.
    #[serde(rename = "match")]
    pub matcher: RouteMatch,
    /// What it does.
    pub action: RouteAction,
    /// `request_headers_to_add`.
    pub request_headers_to_add: Vec<HeaderValueOption>,
    /// `request_headers_to_remove`.
    pub request_headers_to_remove: Vec<String>,
    /// `response_headers_to_add`.
    pub response_headers_to_add: Vec<HeaderValueOption>,
    /// `response_headers_to_remove`.
    pub response_headers_to_remove: Vec<String>,
    /// The `envoy.filters.http.fault` per-route config (VS-26).
    pub fault: Option<FaultPolicy>,
    /// The `envoy.filters.http.cors` per-route config (VS-28).
    pub cors: Option<CorsPolicy>,
    /// `stat_prefix` (from the match block's `statPrefix`).
    pub stat_prefix: Option<String>,
    /// The tracing decorator's operation (`host:port/path*`).
    pub operation: String,
}

/// Where a route came from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RouteOrigin {
    /// The VirtualService (the root, for delegated routes); shared by
    /// every route it produces.
    pub virtual_service: Arc<ConfigRef>,
    /// The index of the route in the VirtualService's `http` list as
    /// written (for delegated routes: the root route that delegates).
    pub route_index: usize,
    /// The route's `name` (after delegate merging: `root-leaf`).
    pub route_name: Option<String>,
    /// The index of the match block that became this Envoy route (in the
    /// route's match list after delegate merging); `None` when the route
    /// has no match blocks.
    pub match_index: Option<usize>,
    /// The match block's `name`.
    pub match_name: Option<String>,
    /// For a route merged from a delegate VirtualService (HOST-9).
    pub delegate: Option<DelegateOrigin>,
}

/// The delegate half of a merged route.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DelegateOrigin {
    /// The delegate VirtualService.
    pub virtual_service: ConfigRef,
    /// The index of the route in the delegate's `http` list.
    pub route_index: usize,
}

/// An Envoy `RouteMatch`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RouteMatch {
    /// The path specifier.
    pub path: PathMatch,
    /// `case_sensitive` for prefix and exact paths (false for
    /// `ignoreUriCase`); regexes are always case sensitive.
    pub case_sensitive: bool,
    /// `headers`: all must match (method, authority and scheme are
    /// `:method`, `:authority`, `:scheme` matchers).
    pub headers: Vec<HeaderMatcher>,
    /// `query_parameters`: all must match.
    pub query_parameters: Vec<QueryParameterMatcher>,
    /// `dynamic_metadata` matchers on validated JWT claims (VS-13).
    pub claims: Vec<ClaimMatcher>,
}

impl RouteMatch {
    /// The match Istio uses for "everything": prefix `/`.
    pub fn catch_all() -> RouteMatch {
        RouteMatch {
            path: PathMatch::Prefix("/".into()),
            case_sensitive: true,
            headers: Vec::new(),
            query_parameters: Vec::new(),
            claims: Vec::new(),
        }
    }

    /// Istio's `IsCatchAllRoute` (VS-1): prefix `/` or regex `.*`, and no
    /// header, query or metadata matcher.
    pub fn is_catch_all(&self) -> bool {
        let path_all = match &self.path {
            PathMatch::Prefix(p) => p == "/",
            PathMatch::SafeRegex(r) => r.pattern() == ".*",
            PathMatch::Path(_) => false,
        };
        path_all
            && self.headers.is_empty()
            && self.query_parameters.is_empty()
            && self.claims.is_empty()
    }
}

/// The path specifier of a route match. The path compared is the request
/// `:path` with the query string (and fragment) removed (VS-10, VS-15).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum PathMatch {
    /// `prefix`: starts with.
    Prefix(String),
    /// `path`: equal.
    Path(String),
    /// `safe_regex`: RE2 full match.
    SafeRegex(FullRegex),
}

/// An Envoy `StringMatcher` (`ignore_case` is never set by Istio).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum StringMatcher {
    /// Equal.
    Exact(String),
    /// Starts with.
    Prefix(String),
    /// RE2 full match.
    SafeRegex(FullRegex),
}

impl StringMatcher {
    /// Whether `value` matches.
    pub fn matches(&self, value: &str) -> bool {
        match self {
            StringMatcher::Exact(e) => e == value,
            StringMatcher::Prefix(p) => value.starts_with(p.as_str()),
            StringMatcher::SafeRegex(r) => r.is_match(value),
        }
    }
}

/// How a header, query parameter or claim value is matched.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum ValueMatch {
    /// `present_match: true`: present, any value (VS-16).
    Present,
    /// `string_match`.
    String(StringMatcher),
}

/// An Envoy `HeaderMatcher`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct HeaderMatcher {
    /// The header name, lower case (pseudo-headers `:method`,
    /// `:authority`, `:scheme`, `:path` included).
    pub name: String,
    /// The value match.
    pub value: ValueMatch,
    /// `invert_match` (`withoutHeaders`, VS-17).
    pub invert_match: bool,
    /// `treat_missing_header_as_empty` (set on inverted non-presence
    /// matchers since Istio 1.22, VS-17).
    pub treat_missing_header_as_empty: bool,
}

/// An Envoy `QueryParameterMatcher` (first occurrence, raw value; VS-12).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct QueryParameterMatcher {
    /// The parameter name (case sensitive).
    pub name: String,
    /// The value match.
    pub value: ValueMatch,
}

/// A `dynamic_metadata` matcher on a validated JWT claim (VS-13): filter
/// `envoy.filters.http.jwt_authn`, path `payload` + the claim path; a
/// string claim or any element of a list claim must match.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ClaimMatcher {
    /// The claim path (`["groups"]`, `["org", "id"]`).
    pub claim: Vec<String>,
    /// The value match.
    pub value: ValueMatch,
    /// `invert` (`withoutHeaders`).
    pub invert: bool,
}

/// A route's action: exactly one of Envoy's `route`, `redirect`,
/// `direct_response` (VS-20).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase", tag = "kind")]
pub enum RouteAction {
    /// `route`: forward upstream.
    Route(Box<ForwardAction>),
    /// `redirect`.
    Redirect(RedirectAction),
    /// `direct_response`.
    DirectResponse(DirectResponseAction),
    /// No action: Istio emits this for a redirect with an unsupported
    /// status (VS-21), and Envoy rejects the route configuration.
    Unsupported {
        /// The redirect status written.
        redirect_code: u32,
    },
}

/// Envoy's `RouteAction`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ForwardAction {
    /// `cluster` or `weighted_clusters` (WT-1, WT-2).
    pub clusters: ClusterSpecifier,
    /// `timeout`: `None` is Istio's `0s` (disabled, VS-24).
    #[serde(serialize_with = "ser_opt_duration")]
    pub timeout: Option<Duration>,
    /// `max_grpc_timeout`: equal to the timeout; `None` is `0s` (no cap on
    /// a request's `grpc-timeout`, VS-24).
    #[serde(serialize_with = "ser_opt_duration")]
    pub max_grpc_timeout: Option<Duration>,
    /// `retry_policy` with Istio's defaults applied (VS-25); `None` when
    /// retries are disabled (`attempts: 0`).
    pub retry_policy: Option<RetryPolicy>,
    /// `prefix_rewrite` (VS-23).
    pub prefix_rewrite: Option<String>,
    /// `regex_rewrite` (VS-23).
    pub regex_rewrite: Option<RegexRewrite>,
    /// `host_rewrite_literal` (`rewrite.authority`, or a route-level
    /// `:authority`/`host` header set; VS-23, VS-29).
    pub host_rewrite_literal: Option<String>,
    /// `request_mirror_policies` (VS-27).
    pub request_mirror_policies: Vec<MirrorPolicy>,
    /// `hash_policy` from DestinationRule consistent hashing (WT-5).
    pub hash_policy: Vec<HashPolicy>,
}

/// `cluster` or `weighted_clusters`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase", tag = "kind")]
pub enum ClusterSpecifier {
    /// One destination: `cluster` (WT-1; its weight is ignored).
    Cluster(Box<DestinationCluster>),
    /// Several: `weighted_clusters` without `total_weight`, zero weights
    /// dropped (WT-2). Empty when every weight was zero: Envoy rejects it.
    WeightedClusters(Vec<DestinationCluster>),
}

impl ClusterSpecifier {
    /// The destinations in order.
    pub fn destinations(&self) -> &[DestinationCluster] {
        match self {
            ClusterSpecifier::Cluster(c) => std::slice::from_ref(c),
            ClusterSpecifier::WeightedClusters(v) => v,
        }
    }
}

/// One destination of a route: an Envoy cluster (a `weighted_clusters`
/// entry when there are several).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DestinationCluster {
    /// Istio's cluster name `outbound|port|subset|host` (XDS-3, WT-4).
    pub name: String,
    /// The weight (100 for a single destination).
    pub weight: u32,
    /// The destination host (FQDN).
    pub host: Hostname,
    /// The subset.
    pub subset: Option<String>,
    /// `destination.port.number` as written.
    pub port: Option<u16>,
    /// The port in the cluster name.
    pub cluster_port: u16,
    /// Weighted-cluster `request_headers_to_add` (destination-level
    /// headers of a weighted route; VS-29). Empty for a single destination,
    /// whose header operations are appended to the route's.
    pub request_headers_to_add: Vec<HeaderValueOption>,
    /// Weighted-cluster `request_headers_to_remove`.
    pub request_headers_to_remove: Vec<String>,
    /// Weighted-cluster `response_headers_to_add`.
    pub response_headers_to_add: Vec<HeaderValueOption>,
    /// Weighted-cluster `response_headers_to_remove`.
    pub response_headers_to_remove: Vec<String>,
    /// Weighted-cluster `host_rewrite_literal`.
    pub host_rewrite_literal: Option<String>,
}

impl DestinationCluster {
    /// A destination that takes all the traffic (weight 100) to cluster
    /// `name` of `host`, with no subset, no port written in the route and
    /// no header operations of its own.
    pub fn whole(name: String, host: Hostname, cluster_port: u16) -> DestinationCluster {
        DestinationCluster {
            name,
            weight: 100,
            host,
            subset: None,
            port: None,
            cluster_port,
            request_headers_to_add: Vec::new(),
            request_headers_to_remove: Vec::new(),
            response_headers_to_add: Vec::new(),
            response_headers_to_remove: Vec::new(),
            host_rewrite_literal: None,
        }
    }
}

/// An Envoy `HeaderValueOption`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct HeaderValueOption {
    /// The header name.
    pub key: String,
    /// The value.
    pub value: String,
    /// `append_action`.
    pub append_action: AppendAction,
}

/// `HeaderValueOption.append_action`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum AppendAction {
    /// `set` (VS-29).
    OverwriteIfExistsOrAdd,
    /// `add`.
    AppendIfExistsOrAdd,
}

/// Envoy's `RetryPolicy` as Istio builds it (VS-25).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RetryPolicy {
    /// `num_retries` (retries, not tries).
    pub num_retries: u32,
    /// `retry_on`.
    pub retry_on: String,
    /// `retriable_status_codes` (integer `retryOn` tokens).
    pub retriable_status_codes: Vec<u32>,
    /// `per_try_timeout`.
    #[serde(serialize_with = "ser_opt_duration")]
    pub per_try_timeout: Option<Duration>,
    /// `host_selection_retry_max_attempts` (5).
    pub host_selection_retry_max_attempts: u32,
    /// `retry_host_predicate: envoy.retry_host_predicates.previous_hosts`.
    pub retry_previous_hosts: bool,
    /// `retry_priority: envoy.retry_priorities.previous_priorities`
    /// (`retryRemoteLocalities`).
    pub retry_previous_priorities: bool,
    /// `retry_back_off.base_interval` (Envoy default 25 ms when unset).
    #[serde(serialize_with = "ser_opt_duration")]
    pub backoff_base_interval: Option<Duration>,
}

/// `envoy.type.v3.FractionalPercent`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct FractionalPercent {
    /// The numerator.
    pub numerator: u32,
    /// The denominator.
    pub denominator: Denominator,
}

impl FractionalPercent {
    /// `value` percent as Istio writes a `Percent` (`value × 10000` per
    /// million, truncated).
    pub fn from_percent(value: f64) -> FractionalPercent {
        FractionalPercent {
            numerator: (value * 10000.0) as u32,
            denominator: Denominator::Million,
        }
    }

    /// An integer percent (`HUNDRED`).
    pub fn hundred(n: u32) -> FractionalPercent {
        FractionalPercent {
            numerator: n,
            denominator: Denominator::Hundred,
        }
    }

    /// The value in percent.
    pub fn percent(&self) -> f64 {
        match self.denominator {
            Denominator::Hundred => f64::from(self.numerator),
            Denominator::Million => f64::from(self.numerator) / 10000.0,
        }
    }
}

/// `FractionalPercent.denominator`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Denominator {
    /// Per hundred.
    Hundred,
    /// Per million.
    Million,
}

/// The fault filter's per-route `HTTPFault` (VS-26).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct FaultPolicy {
    /// A fixed delay.
    pub delay: Option<FaultDelay>,
    /// An abort.
    pub abort: Option<FaultAbort>,
}

/// A fixed delay.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct FaultDelay {
    /// `fixed_delay`.
    #[serde(serialize_with = "ser_duration")]
    pub fixed_delay: Duration,
    /// `percentage` (from `percentage`, else the deprecated integer
    /// `percent`, 0 when neither is set).
    pub percentage: FractionalPercent,
}

/// An abort.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct FaultAbort {
    /// What the abort answers.
    pub status: AbortStatus,
    /// `percentage`; `None` when unset, which never fires.
    pub percentage: Option<FractionalPercent>,
}

/// The abort's error.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum AbortStatus {
    /// `http_status`.
    HttpStatus(u32),
    /// `grpc_status` (the numeric code).
    GrpcStatus(u32),
}

/// A `RequestMirrorPolicy` (VS-27).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct MirrorPolicy {
    /// The cluster (`outbound|port|subset|host`).
    pub cluster: String,
    /// The mirror host.
    pub host: Hostname,
    /// The subset.
    pub subset: Option<String>,
    /// `destination.port.number` as written.
    pub port: Option<u16>,
    /// `runtime_fraction.default_value`.
    pub runtime_fraction: FractionalPercent,
    /// `trace_sampled` (always false).
    pub trace_sampled: bool,
}

/// The CORS filter's per-route `CorsPolicy` (VS-28).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CorsPolicy {
    /// `allow_origin_string_match`.
    pub allow_origin_string_match: Vec<StringMatcher>,
    /// `allow_methods` (comma-joined).
    pub allow_methods: String,
    /// `allow_headers` (comma-joined).
    pub allow_headers: String,
    /// `expose_headers` (comma-joined).
    pub expose_headers: String,
    /// `max_age` in seconds.
    pub max_age: Option<String>,
    /// `allow_credentials`.
    pub allow_credentials: Option<bool>,
    /// `forward_not_matching_preflights` (true unless
    /// `unmatchedPreflights: IGNORE`).
    pub forward_not_matching_preflights: bool,
}

/// `RegexMatchAndSubstitute` (VS-23).
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RegexRewrite {
    /// The pattern (unanchored; every non-overlapping match is replaced).
    #[serde(serialize_with = "ser_regex")]
    pub pattern: regex::Regex,
    /// The substitution (`\1` groups).
    pub substitution: String,
}

impl PartialEq for RegexRewrite {
    fn eq(&self, o: &Self) -> bool {
        self.pattern.as_str() == o.pattern.as_str() && self.substitution == o.substitution
    }
}

fn ser_duration<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&crate::report::format_duration(*d))
}

fn ser_opt_duration<S: serde::Serializer>(d: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
    match d {
        Some(d) => ser_duration(d, s),
        None => s.serialize_none(),
    }
}

fn ser_regex<S: serde::Serializer>(r: &regex::Regex, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(r.as_str())
}

/// A consistent-hash `HashPolicy` (WT-5).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum HashPolicy {
    /// `header.header_name`.
    Header(String),
    /// `cookie`.
    Cookie {
        /// The cookie name.
        name: String,
        /// The path.
        path: Option<String>,
        /// The TTL.
        #[serde(serialize_with = "ser_opt_duration")]
        ttl: Option<Duration>,
    },
    /// `connection_properties.source_ip`.
    SourceIp,
    /// `query_parameter.name`.
    QueryParameter(String),
}

/// Envoy's `RedirectAction` (VS-21).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RedirectAction {
    /// `host_redirect`.
    pub host_redirect: Option<String>,
    /// `path_redirect` (replaces the path; the request query is kept unless
    /// it has its own `?`).
    pub path_redirect: Option<String>,
    /// `prefix_rewrite` (replaces the matched prefix).
    pub prefix_rewrite: Option<String>,
    /// `scheme_redirect`.
    pub scheme_redirect: Option<String>,
    /// `port_redirect`.
    pub port_redirect: Option<u16>,
    /// `response_code` (301, 302, 303, 307 or 308).
    pub response_code: u32,
}

/// Envoy's `DirectResponseAction` (VS-22).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DirectResponseAction {
    /// The status.
    pub status: u32,
    /// The body (`inline_string` or `inline_bytes`).
    pub body: Option<Vec<u8>>,
}

/// The result of `matches`-style checks: why a route did not match.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase", tag = "kind")]
pub enum Mismatch {
    /// The path specifier failed.
    Path {
        /// The matcher, rendered.
        expected: String,
        /// The path compared (without query).
        actual: String,
    },
    /// A header matcher failed.
    Header {
        /// The header name.
        name: String,
        /// The matcher, rendered.
        expected: String,
        /// The value the request carried (joined with `,`), if any.
        actual: Option<String>,
    },
    /// A query parameter matcher failed.
    QueryParameter {
        /// The parameter name.
        name: String,
        /// The matcher, rendered.
        expected: String,
        /// The first value the request carried, if any.
        actual: Option<String>,
    },
    /// A JWT claim matcher failed.
    Claim {
        /// The claim path.
        claim: String,
        /// The matcher, rendered.
        expected: String,
    },
}

impl fmt::Display for StringMatcher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StringMatcher::Exact(s) => write!(f, "exact {s:?}"),
            StringMatcher::Prefix(s) => write!(f, "prefix {s:?}"),
            StringMatcher::SafeRegex(r) => write!(f, "regex {:?}", r.pattern()),
        }
    }
}

impl fmt::Display for ValueMatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ValueMatch::Present => f.write_str("present"),
            ValueMatch::String(s) => s.fmt(f),
        }
    }
}

impl fmt::Display for PathMatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PathMatch::Prefix(s) => write!(f, "prefix {s:?}"),
            PathMatch::Path(s) => write!(f, "exact {s:?}"),
            PathMatch::SafeRegex(r) => write!(f, "regex {:?}", r.pattern()),
        }
    }
}

impl fmt::Display for Mismatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Mismatch::Path { expected, actual } => {
                write!(f, "path {actual:?} does not match {expected}")
            }
            Mismatch::Header {
                name,
                expected,
                actual: Some(a),
            } => write!(f, "header {name} {a:?} does not match {expected}"),
            Mismatch::Header {
                name,
                expected,
                actual: None,
            } => write!(f, "header {name} absent (wanted {expected})"),
            Mismatch::QueryParameter {
                name,
                expected,
                actual: Some(a),
            } => write!(f, "query parameter {name} {a:?} does not match {expected}"),
            Mismatch::QueryParameter {
                name,
                expected,
                actual: None,
            } => write!(f, "query parameter {name} absent (wanted {expected})"),
            Mismatch::Claim { claim, expected } => {
                write!(f, "JWT claim {claim} does not match {expected}")
            }
        }
    }
}
