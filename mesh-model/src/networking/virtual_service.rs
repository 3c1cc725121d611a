//! VirtualService: the domain type and Istio's webhook rules for it
//! (VAL-VS-*).

use super::common::{
    Destination, ExportTo, GatewayRef, Headers, StringMatch, duration_field, gateway_names, labels,
    percentage,
};
use crate::config::Cx;
use crate::host::Hostname;
use crate::labels::Labels;
use crate::validation;
use crate::wire::networking as w;
use serde::Serialize;
use std::time::Duration;

/// A VirtualService.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct VirtualService {
    /// The hosts, short names resolved in the VirtualService's namespace
    /// (HOST-1). Empty for a delegate VirtualService (HOST-9).
    pub hosts: Vec<Hostname>,
    /// The gateways as written, resolved (HOST-2). Empty means `mesh`
    /// (VS-4); see [`VirtualService::applies_to`].
    pub gateways: Vec<GatewayRef>,
    /// HTTP routes, in order.
    pub http: Vec<HttpRoute>,
    /// TLS routes.
    pub tls: Vec<TlsRoute>,
    /// TCP routes.
    pub tcp: Vec<TcpRoute>,
    /// Visibility.
    pub export_to: ExportTo,
}

impl VirtualService {
    /// Whether this is a delegate (no hosts; applied only through a root).
    pub fn is_delegate(&self) -> bool {
        self.hosts.is_empty()
    }

    /// Whether the VirtualService is bound to `gateway` (VS-4: no
    /// `gateways` means `mesh`).
    pub fn applies_to(&self, gateway: &GatewayRef) -> bool {
        if self.gateways.is_empty() {
            gateway.is_mesh()
        } else {
            self.gateways.contains(gateway)
        }
    }

    /// Whether the VirtualService applies to sidecars.
    pub fn applies_to_mesh(&self) -> bool {
        self.applies_to(&GatewayRef::Mesh)
    }
}

/// One HTTP route.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct HttpRoute {
    /// `name`.
    pub name: Option<String>,
    /// Match blocks, OR'ed; empty matches everything (VS-2).
    pub matches: Vec<HttpMatchRequest>,
    /// What the route does.
    pub action: HttpAction,
    /// URI and authority rewrite.
    pub rewrite: Option<HttpRewrite>,
    /// Route timeout (none: disabled, VS-24).
    pub timeout: Option<Duration>,
    /// Retry policy as written (defaults are applied by the router).
    pub retries: Option<HttpRetry>,
    /// Fault injection.
    pub fault: Option<HttpFault>,
    /// Mirrors (`mirror` + `mirrorPercentage`, or `mirrors`).
    pub mirrors: Vec<Mirror>,
    /// CORS policy.
    pub cors: Option<CorsPolicy>,
    /// Route-level header operations.
    pub headers: Headers,
}

impl HttpRoute {
    /// Whether the route matches every request: no match blocks, or a block
    /// with prefix `/` or regex `.*` and no header, query or other condition
    /// (Istio's `IsCatchAllRoute`, VS-1).
    pub fn is_catch_all(&self) -> bool {
        if self.matches.is_empty() {
            return true;
        }
        self.matches.iter().any(HttpMatchRequest::is_catch_all)
    }
}

/// What an HTTP route does (VS-20).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum HttpAction {
    /// Forward to weighted destinations.
    Route(Vec<HttpRouteDestination>),
    /// Redirect.
    Redirect(HttpRedirect),
    /// Answer directly.
    DirectResponse(DirectResponse),
    /// Replace by a delegate VirtualService's routes (HOST-9).
    Delegate {
        /// The delegate's name.
        name: String,
        /// The delegate's namespace (the root's when unset).
        namespace: String,
    },
}

/// A weighted destination of an HTTP route.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct HttpRouteDestination {
    /// Where.
    pub destination: Destination,
    /// The weight as written (0 when unset).
    pub weight: u32,
    /// Destination-level header operations.
    pub headers: Headers,
}

/// A match block: all its conditions must hold.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct HttpMatchRequest {
    /// `name`.
    pub name: Option<String>,
    /// `uri` (the path without query).
    pub uri: Option<StringMatch>,
    /// `scheme`.
    pub scheme: Option<StringMatch>,
    /// `method`.
    pub method: Option<StringMatch>,
    /// `authority`.
    pub authority: Option<StringMatch>,
    /// `headers`, names lower-cased, sorted by name.
    pub headers: Vec<(String, StringMatch)>,
    /// `withoutHeaders`, names lower-cased (VS-17).
    pub without_headers: Vec<(String, StringMatch)>,
    /// `queryParams` (names case-sensitive).
    pub query_params: Vec<(String, StringMatch)>,
    /// `ignoreUriCase`.
    pub ignore_uri_case: bool,
    /// `port`.
    pub port: Option<u16>,
    /// `sourceLabels`.
    pub source_labels: Labels,
    /// `sourceNamespace`.
    pub source_namespace: Option<String>,
    /// `gateways` (narrows the VirtualService's).
    pub gateways: Vec<GatewayRef>,
    /// `statPrefix`.
    pub stat_prefix: Option<String>,
}

impl HttpMatchRequest {
    /// Whether the block has no condition at all.
    pub fn is_empty(&self) -> bool {
        self.uri.is_none()
            && self.scheme.is_none()
            && self.method.is_none()
            && self.authority.is_none()
            && self.headers.is_empty()
            && self.without_headers.is_empty()
            && self.query_params.is_empty()
            && self.port.is_none()
            && self.source_labels.is_empty()
            && self.source_namespace.is_none()
            && self.gateways.is_empty()
    }

    /// Istio's `IsCatchAllRoute` for one block (VS-1): a prefix `/` or
    /// regex `.*` URI (or none), and no header, query param or other
    /// request condition.
    pub fn is_catch_all(&self) -> bool {
        let uri_all = match &self.uri {
            None => true,
            Some(StringMatch::Prefix(p)) => p == "/" || p.is_empty(),
            Some(StringMatch::Regex(r)) => r.pattern() == ".*" || r.pattern() == "*",
            Some(_) => false,
        };
        uri_all
            && self.scheme.is_none()
            && self.method.is_none()
            && self.authority.is_none()
            && self.headers.is_empty()
            && self.without_headers.is_empty()
            && self.query_params.is_empty()
    }
}

/// A redirect (VS-21).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct HttpRedirect {
    /// Replaces the whole path.
    pub uri: Option<String>,
    /// Replaces the matched prefix.
    pub prefix_rewrite: Option<String>,
    /// Replaces the authority.
    pub authority: Option<String>,
    /// The port.
    pub port: Option<RedirectPort>,
    /// The scheme.
    pub scheme: Option<String>,
    /// The status (301 unless set).
    pub redirect_code: u32,
}

/// The port of a redirect.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum RedirectPort {
    /// A fixed port.
    Number(u16),
    /// The port the request came in on.
    FromRequestPort,
    /// The scheme's default port (no port).
    FromProtocolDefault,
}

/// A direct response (VS-22).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DirectResponse {
    /// The status.
    pub status: u32,
    /// The body.
    pub body: Option<Vec<u8>>,
}

/// A rewrite (VS-23).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct HttpRewrite {
    /// Replaces the matched prefix (the whole path for exact and regex
    /// matches).
    pub uri: Option<String>,
    /// Replaces the authority.
    pub authority: Option<String>,
    /// Regex substitution on the path (every non-overlapping match).
    pub uri_regex: Option<RegexRewrite>,
}

/// `uriRegexRewrite`.
#[derive(Debug, Clone, Serialize)]
pub struct RegexRewrite {
    /// The pattern (not anchored).
    #[serde(serialize_with = "ser_regex")]
    pub pattern: regex::Regex,
    /// The substitution (`\1` groups).
    pub rewrite: String,
}

fn ser_regex<S: serde::Serializer>(r: &regex::Regex, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(r.as_str())
}

impl PartialEq for RegexRewrite {
    fn eq(&self, o: &Self) -> bool {
        self.pattern.as_str() == o.pattern.as_str() && self.rewrite == o.rewrite
    }
}

/// A retry policy as written (VS-25 defaults are applied by the router).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct HttpRetry {
    /// Retries (not tries).
    pub attempts: i32,
    /// Per-try timeout.
    pub per_try_timeout: Option<Duration>,
    /// `retryOn` as written.
    pub retry_on: Option<String>,
    /// `retryRemoteLocalities`.
    pub retry_remote_localities: Option<bool>,
    /// `retryIgnorePreviousHosts`.
    pub retry_ignore_previous_hosts: Option<bool>,
    /// `backoff` (base interval).
    pub backoff: Option<Duration>,
}

/// Fault injection (VS-26).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct HttpFault {
    /// A delay.
    pub delay: Option<FaultDelay>,
    /// An abort.
    pub abort: Option<FaultAbort>,
}

/// A delay fault.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct FaultDelay {
    /// How long.
    pub fixed_delay: Duration,
    /// Percent of requests (0 when unset: never fires).
    pub percentage: f64,
}

/// An abort fault.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct FaultAbort {
    /// The error.
    pub error: AbortError,
    /// Percent of requests (0 when unset: never fires).
    pub percentage: f64,
}

/// What an abort answers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum AbortError {
    /// An HTTP status.
    HttpStatus(u32),
    /// A gRPC status name.
    GrpcStatus(String),
    /// No error type written.
    None,
}

/// A mirror (VS-27).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Mirror {
    /// Where.
    pub destination: Destination,
    /// Percent of requests (100 when unset).
    pub percentage: f64,
}

/// CORS policy (VS-28).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CorsPolicy {
    /// Allowed origins.
    pub allow_origins: Vec<StringMatch>,
    /// Allowed methods.
    pub allow_methods: Vec<String>,
    /// Allowed headers.
    pub allow_headers: Vec<String>,
    /// Exposed headers.
    pub expose_headers: Vec<String>,
    /// Max age.
    pub max_age: Option<Duration>,
    /// `allowCredentials`.
    pub allow_credentials: Option<bool>,
    /// `unmatchedPreflights`: forward (default) or ignore.
    pub forward_unmatched_preflights: bool,
}

/// A TLS route (VS-31).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TlsRoute {
    /// Matches.
    pub matches: Vec<TlsMatchAttributes>,
    /// Destinations.
    pub route: Vec<RouteDestination>,
}

/// A TLS match.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TlsMatchAttributes {
    /// SNI hosts (not resolved).
    pub sni_hosts: Vec<Hostname>,
    /// Destination subnets.
    pub destination_subnets: Vec<ipnet::IpNet>,
    /// Port.
    pub port: Option<u16>,
    /// Source labels.
    pub source_labels: Labels,
    /// Gateways.
    pub gateways: Vec<GatewayRef>,
    /// Source namespace.
    pub source_namespace: Option<String>,
}

/// A TCP route (VS-32).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TcpRoute {
    /// Matches.
    pub matches: Vec<L4MatchAttributes>,
    /// Destinations.
    pub route: Vec<RouteDestination>,
}

/// A TCP match.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct L4MatchAttributes {
    /// Destination subnets.
    pub destination_subnets: Vec<ipnet::IpNet>,
    /// Port.
    pub port: Option<u16>,
    /// Source labels.
    pub source_labels: Labels,
    /// Gateways.
    pub gateways: Vec<GatewayRef>,
    /// Source namespace.
    pub source_namespace: Option<String>,
}

/// A weighted TCP/TLS destination.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RouteDestination {
    /// Where.
    pub destination: Destination,
    /// Weight.
    pub weight: u32,
}

const RETRY_ON: &[&str] = &[
    "5xx",
    "gateway-error",
    "reset",
    "connect-failure",
    "retriable-4xx",
    "refused-stream",
    "retriable-status-codes",
    "retriable-headers",
    "envoy-ratelimited",
    "http3-post-connect-failure",
    "cancelled",
    "deadline-exceeded",
    "internal",
    "resource-exhausted",
    "unavailable",
    "reset-before-request",
];

/// Whether `code` has a standard HTTP status text (Go's `http.StatusText`).
pub(crate) fn is_http_status(code: u32) -> bool {
    matches!(code,
        100..=103 | 200..=208 | 226 | 300..=305 | 307 | 308 | 400..=418 | 421..=426 | 428 | 429
        | 431 | 451 | 500..=508 | 510 | 511)
}

const GRPC_CODES: &[&str] = &[
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

const METHODS: &[&str] = &[
    "GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH",
];

/// Whether a header key routes on a JWT claim (VS-13): returns the claim
/// path when it does.
pub fn jwt_claim_route(key: &str) -> Option<Vec<String>> {
    if let Some(rest) = key.strip_prefix("@request.auth.claims.") {
        return Some(vec![rest.to_string()]);
    }
    let rest = key.strip_prefix("@request.auth.claims")?;
    let mut out = Vec::new();
    let mut r = rest;
    while let Some(s) = r.strip_prefix('[') {
        let end = s.find(']')?;
        out.push(s[..end].to_string());
        r = &s[end + 1..];
    }
    (r.is_empty() && !out.is_empty() && out.iter().all(|c| !c.is_empty())).then_some(out)
}

impl VirtualService {
    pub(crate) fn convert(s: &w::VirtualService, cx: &mut Cx<'_>) -> VirtualService {
        let raw_hosts = s.hosts.clone().unwrap_or_default();
        let delegate = raw_hosts.is_empty();
        let gateways = gateway_names(s.gateways.as_ref(), cx);
        if delegate {
            if !gateways.is_empty() {
                cx.field("gateways", |cx| {
                    cx.error(
                        "VAL-VS-1",
                        "delegate virtual service must have no gateways specified",
                    )
                });
            }
            if s.tls.as_ref().is_some_and(|t| !t.is_empty()) {
                cx.field("tls", |cx| {
                    cx.error(
                        "VAL-VS-1",
                        "delegate virtual service must have no tls route specified",
                    )
                });
            }
            if s.tcp.as_ref().is_some_and(|t| !t.is_empty()) {
                cx.field("tcp", |cx| {
                    cx.error(
                        "VAL-VS-1",
                        "delegate virtual service must have no tcp route specified",
                    )
                });
            }
        }
        let applies_to_mesh = gateways.is_empty() || gateways.iter().any(GatewayRef::is_mesh);
        let applies_to_gateway = gateways.iter().any(|g| !g.is_mesh());
        let mut all_valid = true;
        cx.field("hosts", |cx| {
            for (i, h) in raw_hosts.iter().enumerate() {
                cx.index(i, |cx| {
                    if let Err(e) = validation::wildcard_domain(h) {
                        if !validation::is_ip(h) {
                            cx.error("VAL-H1", e);
                            all_valid = false;
                        }
                    } else if applies_to_mesh && h == "*" {
                        cx.error(
                            "VAL-VS-2",
                            "wildcard host * is not allowed for virtual services bound to the mesh gateway",
                        );
                        all_valid = false;
                    }
                });
            }
            if all_valid {
                for i in 0..raw_hosts.len() {
                    for j in i + 1..raw_hosts.len() {
                        let (a, b) = (Hostname::new(&raw_hosts[i]), Hostname::new(&raw_hosts[j]));
                        if a.matches(&b) {
                            cx.index(j, |cx| {
                                cx.error("VAL-VS-3", format!("duplicate hosts in virtual service: {a} & {b}"))
                            });
                        }
                    }
                }
            }
        });
        let no_routes = s.http.as_ref().is_none_or(Vec::is_empty)
            && s.tcp.as_ref().is_none_or(Vec::is_empty)
            && s.tls.as_ref().is_none_or(Vec::is_empty);
        if no_routes {
            cx.error(
                "VAL-VS-ROUTES",
                "http, tcp or tls must be provided in virtual service",
            );
        }
        let mut http = Vec::new();
        if let Some(routes) = &s.http {
            cx.field("http", |cx| {
                for (i, r) in routes.iter().enumerate() {
                    if let Some(r) = cx.index(i, |cx| {
                        HttpRoute::convert(r, delegate, applies_to_gateway, cx)
                    }) {
                        http.push(r);
                    }
                }
            });
        }
        let hosts_for_sni: Vec<Hostname> = raw_hosts.iter().map(|h| Hostname::new(h)).collect();
        let mut tls = Vec::new();
        if let Some(routes) = &s.tls {
            cx.field("tls", |cx| {
                for (i, r) in routes.iter().enumerate() {
                    tls.push(cx.index(i, |cx| {
                        TlsRoute::convert(r, &hosts_for_sni, applies_to_gateway, cx)
                    }));
                }
            });
        }
        let mut tcp = Vec::new();
        if let Some(routes) = &s.tcp {
            cx.field("tcp", |cx| {
                for (i, r) in routes.iter().enumerate() {
                    tcp.push(cx.index(i, |cx| TcpRoute::convert(r, cx)));
                }
            });
        }
        // VAL-VS-23: rules and match blocks that can never be used.
        for f in super::unused_rules::unused_rules(s) {
            cx.diags.push(
                crate::diag::Diagnostic::new(
                    crate::diag::Severity::Warning,
                    "VAL-VS-23",
                    f.message(),
                )
                .at(f.path().clone()),
            );
        }
        let export_to = ExportTo::convert(s.export_to.as_ref(), false, cx);
        VirtualService {
            hosts: raw_hosts.iter().map(|h| cx.resolve(h)).collect(),
            gateways,
            http,
            tls,
            tcp,
            export_to,
        }
    }
}

impl HttpRoute {
    fn convert(
        r: &w::HttpRoute,
        delegate_vs: bool,
        on_gateway: bool,
        cx: &mut Cx<'_>,
    ) -> Option<HttpRoute> {
        let has_route = r.route.as_ref().is_some_and(|v| !v.is_empty());
        // VAL-VS-4 / VAL-VS-5 / VAL-VS-6: conflicting actions.
        if r.mirror.is_some() && r.mirrors.as_ref().is_some_and(|m| !m.is_empty()) {
            cx.error(
                "VAL-VS-6",
                "HTTP route cannot contain both mirror and mirrors",
            );
        }
        if let Some(d) = &r.delegate {
            if delegate_vs {
                cx.field("delegate", |cx| {
                    cx.error("VAL-VS-5", "delegate route must not have delegate")
                });
            }
            if d.name.as_deref().unwrap_or("").is_empty() {
                cx.field("delegate", |cx| {
                    cx.field("name", |cx| cx.error("VAL-VS-5", "delegate name is empty"))
                });
            }
            if has_route {
                cx.error(
                    "VAL-VS-5",
                    "HTTP route cannot contain both route and delegate",
                );
            }
            if r.redirect.is_some() {
                cx.error(
                    "VAL-VS-5",
                    "HTTP route cannot contain both redirect and delegate",
                );
            }
            if r.direct_response.is_some() {
                cx.error(
                    "VAL-VS-5",
                    "HTTP route cannot contain both direct_response and delegate",
                );
            }
        }
        if r.redirect.is_some() {
            if has_route {
                cx.error(
                    "VAL-VS-4",
                    "HTTP route cannot contain both route and redirect",
                );
            }
            if r.fault.is_some() {
                cx.error(
                    "VAL-VS-4",
                    "HTTP route cannot contain both fault and redirect",
                );
            }
            if r.rewrite.is_some() {
                cx.error(
                    "VAL-VS-4",
                    "HTTP route rule cannot contain both rewrite and redirect",
                );
            }
            if r.direct_response.is_some() {
                cx.error(
                    "VAL-VS-4",
                    "HTTP route cannot contain both redirect and direct_response",
                );
            }
        } else if !has_route && r.delegate.is_none() && r.direct_response.is_none() {
            cx.error(
                "VAL-VS-4",
                "HTTP route, redirect, direct_response or delegate is required",
            );
        }
        if r.direct_response.is_some() {
            if has_route {
                cx.error(
                    "VAL-VS-4",
                    "HTTP route cannot contain both route and direct_response",
                );
            }
            if r.fault.is_some() {
                cx.error(
                    "VAL-VS-4",
                    "HTTP route cannot contain both fault and direct_response",
                );
            }
            if r.rewrite.is_some() {
                cx.error(
                    "VAL-VS-4",
                    "HTTP route rule cannot contain both rewrite and direct_response",
                );
            }
        }

        let mut matches = Vec::new();
        if let Some(ms) = &r.r#match {
            cx.field("match", |cx| {
                for (i, m) in ms.iter().enumerate() {
                    matches.push(cx.index(i, |cx| HttpMatchRequest::convert(m, on_gateway, cx)));
                }
            });
        }
        let headers = Headers::convert(r.headers.as_ref(), cx);
        let cors = r
            .cors_policy
            .as_ref()
            .map(|c| cx.field("corsPolicy", |cx| CorsPolicy::convert(c, cx)));
        let fault = r
            .fault
            .as_ref()
            .map(|f| cx.field("fault", |cx| HttpFault::convert(f, cx)));

        let mut mirrors = Vec::new();
        if let Some(p) = r.mirror_percent.or(r.legacy_mirror_percent) {
            cx.field("mirrorPercent", |cx| {
                if p > 100 {
                    cx.error(
                        "VAL-VS-18",
                        format!("mirror_percent must have a max value of 100 (it has {p})"),
                    );
                }
                cx.warn(
                    "VAL-VS-18",
                    "using deprecated setting \"mirrorPercent\", use \"mirrorPercentage\" instead",
                );
            });
        }
        if let Some(mp) = &r.mirror_percentage {
            let v = mp.value.unwrap_or(0.0);
            cx.field("mirrorPercentage", |cx| {
                if v > 100.0 {
                    cx.error(
                        "VAL-VS-18",
                        format!("mirror_percentage must have a max value of 100 (it has {v})"),
                    );
                }
                if v < 0.0 {
                    cx.error(
                        "VAL-VS-18",
                        format!("mirror_percentage must have a min value of 0 (it has {v})"),
                    );
                }
            });
        }
        if let Some(m) = &r.mirror {
            let destination = cx.field("mirror", |cx| Destination::convert(m, cx, true));
            let percentage = r
                .mirror_percentage
                .as_ref()
                .map(|p| p.value.unwrap_or(0.0))
                .or(r.mirror_percent.or(r.legacy_mirror_percent).map(f64::from))
                .unwrap_or(100.0);
            mirrors.push(Mirror {
                destination,
                percentage,
            });
        }
        if let Some(ms) = &r.mirrors {
            cx.field("mirrors", |cx| {
                for (i, m) in ms.iter().enumerate() {
                    cx.index(i, |cx| {
                        let Some(d) = &m.destination else {
                            cx.error("VAL-VS-8", "destination is required for mirrors");
                            return;
                        };
                        let destination =
                            cx.field("destination", |cx| Destination::convert(d, cx, true));
                        let percentage =
                            percentage(m.percentage.as_ref(), "percentage", "VAL-VS-18", cx)
                                .unwrap_or(100.0);
                        mirrors.push(Mirror {
                            destination,
                            percentage,
                        });
                    });
                }
            });
        }
        let redirect = r
            .redirect
            .as_ref()
            .map(|rd| cx.field("redirect", |cx| HttpRedirect::convert(rd, &matches, cx)));
        let direct = r
            .direct_response
            .as_ref()
            .map(|d| cx.field("directResponse", |cx| DirectResponse::convert(d, cx)));
        let retries = r
            .retries
            .as_ref()
            .map(|rt| cx.field("retries", |cx| HttpRetry::convert(rt, cx)));
        let rewrite = r
            .rewrite
            .as_ref()
            .and_then(|rw| cx.field("rewrite", |cx| HttpRewrite::convert(rw, cx)));
        if let Some(rw) = &rewrite
            && rw.authority.is_some()
            && headers.authority_rewrite().is_some()
        {
            cx.field("rewrite", |cx| {
                    cx.field("authority", |cx| {
                        cx.error(
                            "VAL-VS-12",
                            "authority rewrite is set; the :authority or host header cannot also be set",
                        )
                    })
                });
        }
        let mut dests = Vec::new();
        if let Some(route) = &r.route {
            cx.field("route", |cx| {
                let mut total: i64 = 0;
                for (i, d) in route.iter().enumerate() {
                    cx.index(i, |cx| {
                        let headers = Headers::convert(d.headers.as_ref(), cx);
                        let Some(dest) = &d.destination else {
                            cx.error("VAL-VS-8", "destination is required");
                            return;
                        };
                        let destination =
                            cx.field("destination", |cx| Destination::convert(dest, cx, true));
                        let weight = d.weight.unwrap_or(0);
                        if weight < 0 {
                            cx.field("weight", |cx| {
                                cx.error("VAL-VS-7", format!("weight {weight} < 0"))
                            });
                        }
                        total += i64::from(weight);
                        dests.push(HttpRouteDestination {
                            destination,
                            weight: weight.max(0) as u32,
                            headers,
                        });
                    });
                }
                if route.len() > 1 && total == 0 {
                    cx.error("VAL-VS-7", "total destination weight = 0");
                }
            });
        }
        let timeout = duration_field(r.timeout.as_ref(), "timeout", "VAL-D1", cx);
        let action = if let Some(rd) = redirect {
            HttpAction::Redirect(rd)
        } else if let Some(d) = direct {
            HttpAction::DirectResponse(d)
        } else if let Some(d) = &r.delegate {
            HttpAction::Delegate {
                name: d.name.clone().unwrap_or_default(),
                namespace: d
                    .namespace
                    .clone()
                    .filter(|n| !n.is_empty())
                    .unwrap_or_else(|| cx.namespace.to_string()),
            }
        } else {
            HttpAction::Route(dests)
        };
        Some(HttpRoute {
            name: r.name.clone().filter(|n| !n.is_empty()),
            matches,
            action,
            rewrite,
            timeout,
            retries,
            fault,
            mirrors,
            cors,
            headers,
        })
    }
}

impl HttpMatchRequest {
    fn convert(m: &w::HttpMatchRequest, on_gateway: bool, cx: &mut Cx<'_>) -> HttpMatchRequest {
        let mut out = HttpMatchRequest {
            name: m.name.clone(),
            ignore_uri_case: m.ignore_uri_case.unwrap_or(false),
            stat_prefix: m.stat_prefix.clone(),
            ..HttpMatchRequest::default()
        };
        let header_map = |cx: &mut Cx<'_>,
                          field: &'static str,
                          map: &Option<std::collections::BTreeMap<String, w::StringMatch>>,
                          without: bool|
         -> Vec<(String, StringMatch)> {
            let Some(map) = map else { return Vec::new() };
            cx.field(field, |cx| {
                let mut v = Vec::new();
                for (k, sm) in map {
                    cx.key(k, |cx| {
                        if let Some(claim) = jwt_claim_route(k) {
                            if !on_gateway {
                                cx.error(
                                    "VAL-VS-10",
                                    format!(
                                        "JWT claim based routing (key: {k}) is only supported for gateway, found no gateways"
                                    ),
                                );
                            }
                            let _ = claim;
                        } else if k.starts_with("@request.auth.claims") {
                            cx.error("VAL-VS-10", format!("invalid JWT claim route key {k:?}"));
                        } else if k.is_empty() {
                            cx.error("VAL-VS-10", "header name cannot be empty");
                        } else if !validation::is_header_name(k) {
                            cx.error("VAL-VS-10", format!("header name {k} is not a valid header name"));
                        }
                        if let Some(s) = StringMatch::convert(sm, field, false, without, cx) {
                            let name = if k.starts_with('@') { k.clone() } else { k.to_ascii_lowercase() };
                            v.push((name, s));
                        }
                    });
                }
                v
            })
        };
        out.headers = header_map(cx, "headers", &m.headers, false);
        out.without_headers = header_map(cx, "withoutHeaders", &m.without_headers, true);
        if let Some(q) = &m.query_params {
            cx.field("queryParams", |cx| {
                for (k, sm) in q {
                    if let Some(s) = cx.key(k, |cx| {
                        StringMatch::convert(sm, "queryParams", false, false, cx)
                    }) {
                        out.query_params.push((k.clone(), s));
                    }
                }
            });
        }
        out.uri = m
            .uri
            .as_ref()
            .and_then(|u| cx.field("uri", |cx| StringMatch::convert(u, "uri", true, false, cx)));
        out.scheme = m.scheme.as_ref().and_then(|u| {
            cx.field("scheme", |cx| {
                StringMatch::convert(u, "scheme", false, false, cx)
            })
        });
        out.method = m.method.as_ref().and_then(|u| {
            cx.field("method", |cx| {
                StringMatch::convert(u, "method", false, false, cx)
            })
        });
        out.authority = m.authority.as_ref().and_then(|u| {
            cx.field("authority", |cx| {
                StringMatch::convert(u, "authority", false, false, cx)
            })
        });
        if let Some(p) = m.port.filter(|p| *p != 0) {
            cx.field("port", |cx| cx.check("VAL-P1", validation::port(p.into())));
            out.port = u16::try_from(p).ok();
        }
        out.source_labels = labels(m.source_labels.as_ref(), "sourceLabels", "VAL-VS-20", cx);
        if let Some(ns) = m.source_namespace.as_ref().filter(|n| !n.is_empty()) {
            if !validation::is_dns1123_label(ns) {
                cx.field("sourceNamespace", |cx| {
                    cx.error(
                        "VAL-VS-20",
                        format!("sourceNamespace match {ns} is not a valid namespace"),
                    )
                });
            }
            out.source_namespace = Some(ns.clone());
        }
        out.gateways = gateway_names(m.gateways.as_ref(), cx);
        out
    }
}

impl HttpRedirect {
    fn convert(r: &w::HttpRedirect, matches: &[HttpMatchRequest], cx: &mut Cx<'_>) -> HttpRedirect {
        let uri = r.uri.clone().filter(|s| !s.is_empty());
        let prefix_rewrite = r.prefix_rewrite.clone().filter(|s| !s.is_empty());
        let authority = r.authority.clone().filter(|s| !s.is_empty());
        let scheme = r.scheme.clone().filter(|s| !s.is_empty());
        let port = match (r.port.filter(|p| *p != 0), r.derive_port) {
            (Some(p), _) => {
                cx.field("port", |cx| {
                    cx.check("VAL-VS-14", validation::port(p.into()))
                });
                Some(RedirectPort::Number(u16::try_from(p).unwrap_or(0)))
            }
            (None, Some(w::RedirectPortSelection::FromRequestPort)) => {
                Some(RedirectPort::FromRequestPort)
            }
            (None, Some(w::RedirectPortSelection::FromProtocolDefault)) => {
                Some(RedirectPort::FromProtocolDefault)
            }
            (None, None) => None,
        };
        if uri.is_none()
            && prefix_rewrite.is_none()
            && authority.is_none()
            && port.is_none()
            && scheme.is_none()
        {
            cx.error(
                "VAL-VS-14",
                "redirect must specify URI, authority, scheme, or port",
            );
        }
        if uri.is_some() && prefix_rewrite.is_some() {
            cx.error(
                "VAL-VS-14",
                "redirect may only contain one of uri or prefixRewrite",
            );
        }
        if prefix_rewrite.is_some()
            && matches
                .iter()
                .any(|m| !matches!(m.uri, Some(StringMatch::Prefix(_)) | None))
        {
            cx.field("prefixRewrite", |cx| {
                cx.error(
                    "VAL-VS-14",
                    "prefixRewrite is only allowed with a prefix uri match",
                )
            });
        }
        let code = r.redirect_code.unwrap_or(0);
        if code != 0 && !(300..=399).contains(&code) {
            cx.field("redirectCode", |cx| {
                cx.error(
                    "VAL-VS-14",
                    format!("{code} is not a valid redirect code, must be 3xx"),
                )
            });
        }
        if let Some(s) = &scheme
            && s != "http"
            && s != "https"
        {
            cx.field("scheme", |cx| {
                cx.error(
                    "VAL-VS-14",
                    "invalid redirect scheme, must be \"http\" or \"https\"",
                )
            });
        }
        HttpRedirect {
            uri,
            prefix_rewrite,
            authority,
            port,
            scheme,
            redirect_code: if code == 0 { 301 } else { code },
        }
    }
}

impl DirectResponse {
    fn convert(d: &w::HttpDirectResponse, cx: &mut Cx<'_>) -> DirectResponse {
        let status = d.status.unwrap_or(0);
        if !(200..=599).contains(&status) {
            cx.field("status", |cx| {
                cx.error(
                    "VAL-VS-15",
                    format!("HTTP status {status} is not in range 200-599"),
                )
            });
        }
        let body = d.body.as_ref().and_then(|b| {
            cx.field("body", |cx| {
                let bytes = if let Some(s) = &b.string {
                    Some(s.clone().into_bytes())
                } else if let Some(s) = &b.bytes {
                    match crate::base64::decode(s) {
                        Ok(v) => Some(v),
                        Err(e) => {
                            cx.field("bytes", |cx| cx.error("VAL-VS-15", format!("invalid base64: {e}")));
                            None
                        }
                    }
                } else {
                    None
                };
                if let Some(b) = &bytes {
                    if b.len() > 1024 * 1024 {
                        cx.error(
                            "VAL-VS-15",
                            "large direct_responses may impact control plane performance, must be less than 1MB",
                        );
                    } else if b.len() > 100 * 1024 {
                        cx.warn("VAL-VS-15", "large direct_responses may impact control plane performance");
                    }
                }
                bytes
            })
        });
        DirectResponse { status, body }
    }
}

impl HttpRewrite {
    fn convert(r: &w::HttpRewrite, cx: &mut Cx<'_>) -> Option<HttpRewrite> {
        let uri = r.uri.clone().filter(|s| !s.is_empty());
        let authority = r.authority.clone().filter(|s| !s.is_empty());
        if uri.is_some() && r.uri_regex_rewrite.is_some() {
            cx.error(
                "VAL-VS-13",
                "rewrite may only contain one of URI or UriRegexRewrite",
            );
        }
        if uri.is_none() && r.uri_regex_rewrite.is_none() && authority.is_none() {
            cx.error(
                "VAL-VS-13",
                "rewrite must specify URI, UriRegexRewrite, or authority",
            );
        }
        let uri_regex = r.uri_regex_rewrite.as_ref().and_then(|rr| {
            cx.field("uriRegexRewrite", |cx| {
                let m = rr.r#match.as_deref().unwrap_or("");
                let rw = rr.rewrite.as_deref().unwrap_or("");
                if m.is_empty() || rw.is_empty() {
                    cx.error(
                        "VAL-VS-13",
                        "UriRegexRewrite requires both Rewrite and Match fields to be specified",
                    );
                    return None;
                }
                if m.len() > 1024 {
                    cx.field("match", |cx| {
                        cx.error(
                            "VAL-VS-9",
                            "regex string match should be less than 1024 characters long",
                        )
                    });
                    return None;
                }
                match regex::Regex::new(m) {
                    Ok(pattern) => Some(RegexRewrite {
                        pattern,
                        rewrite: rw.to_string(),
                    }),
                    Err(e) => {
                        cx.field("match", |cx| {
                            cx.error(
                                "VAL-VS-9",
                                format!("\"HTTPRewrite.UriRegexRewrite.Match\": {e}"),
                            )
                        });
                        None
                    }
                }
            })
        });
        Some(HttpRewrite {
            uri,
            authority,
            uri_regex,
        })
    }
}

impl HttpRetry {
    fn convert(r: &w::HttpRetry, cx: &mut Cx<'_>) -> HttpRetry {
        let attempts = r.attempts.unwrap_or(0);
        if attempts < 0 {
            cx.field("attempts", |cx| {
                cx.error("VAL-VS-17", "attempts cannot be negative")
            });
        }
        if attempts == 0
            && (r.per_try_timeout.is_some()
                || r.retry_on.as_deref().is_some_and(|s| !s.is_empty())
                || r.retry_remote_localities.is_some())
        {
            cx.error(
                "VAL-VS-17",
                "http retry policy configured when attempts are set to 0 (disabled)",
            );
        }
        let per_try_timeout =
            duration_field(r.per_try_timeout.as_ref(), "perTryTimeout", "VAL-D1", cx);
        let backoff = duration_field(r.backoff.as_ref(), "backoff", "VAL-D1", cx);
        if let Some(on) = r.retry_on.as_deref().filter(|s| !s.is_empty()) {
            cx.field("retryOn", |cx| {
                for p in on.split(',') {
                    let p = p.trim();
                    let is_code = p.parse::<u32>().is_ok_and(is_http_status);
                    if !is_code && !RETRY_ON.contains(&p) {
                        cx.error("VAL-VS-17", format!("{p:?} is not a valid retryOn policy"));
                    }
                }
            });
        }
        HttpRetry {
            attempts,
            per_try_timeout,
            retry_on: r.retry_on.clone().filter(|s| !s.is_empty()),
            retry_remote_localities: r.retry_remote_localities,
            retry_ignore_previous_hosts: r.retry_ignore_previous_hosts,
            backoff,
        }
    }
}

impl HttpFault {
    fn convert(f: &w::HttpFaultInjection, cx: &mut Cx<'_>) -> HttpFault {
        if f.abort.is_none() && f.delay.is_none() {
            cx.error(
                "VAL-VS-16",
                "HTTP fault injection must have an abort and/or a delay",
            );
        }
        let delay = f.delay.as_ref().and_then(|d| {
            cx.field("delay", |cx| {
                if let Some(p) = d.percent
                    && !(0..=100).contains(&p)
                {
                    cx.field("percent", |cx| {
                        cx.error(
                            "VAL-VS-16",
                            format!("percentage {p} is not in range 0..100"),
                        )
                    });
                }
                let pct = percentage(d.percentage.as_ref(), "percentage", "VAL-VS-16", cx)
                    .or(d.percent.map(f64::from))
                    .unwrap_or(0.0);
                if d.exponential_delay.is_some() {
                    let _ = duration_field(
                        d.exponential_delay.as_ref(),
                        "exponentialDelay",
                        "VAL-D1",
                        cx,
                    );
                    cx.field("exponentialDelay", |cx| {
                        cx.error("VAL-VS-16", "exponentialDelay not supported yet")
                    });
                    return None;
                }
                match duration_field(d.fixed_delay.as_ref(), "fixedDelay", "VAL-D1", cx) {
                    Some(fixed) => Some(FaultDelay {
                        fixed_delay: fixed,
                        percentage: pct,
                    }),
                    None => {
                        if d.fixed_delay.is_none() {
                            cx.error("VAL-VS-16", "delay must specify fixedDelay");
                        }
                        None
                    }
                }
            })
        });
        let abort = f.abort.as_ref().map(|a| {
            cx.field("abort", |cx| {
                let pct =
                    percentage(a.percentage.as_ref(), "percentage", "VAL-VS-16", cx).unwrap_or(0.0);
                let error = if let Some(s) = a.http_status {
                    if !(200..=599).contains(&s) {
                        cx.field("httpStatus", |cx| {
                            cx.error(
                                "VAL-VS-16",
                                format!("HTTP status {s} is not in range 200-599"),
                            )
                        });
                    }
                    AbortError::HttpStatus(s.max(0) as u32)
                } else if let Some(g) = &a.grpc_status {
                    if !GRPC_CODES.contains(&g.as_str()) {
                        cx.field("grpcStatus", |cx| {
                            cx.error("VAL-VS-16", format!("{g:?} is not a valid gRPC code"))
                        });
                    }
                    AbortError::GrpcStatus(g.clone())
                } else if a.http2_error.is_some() {
                    cx.field("http2Error", |cx| {
                        cx.error(
                            "VAL-VS-16",
                            "HTTP/2 abort fault injection not supported yet",
                        )
                    });
                    AbortError::None
                } else {
                    cx.warn("VAL-VS-16", "abort fault injection has no error type");
                    AbortError::None
                };
                FaultAbort {
                    error,
                    percentage: pct,
                }
            })
        });
        HttpFault { delay, abort }
    }
}

impl CorsPolicy {
    fn convert(c: &w::CorsPolicy, cx: &mut Cx<'_>) -> CorsPolicy {
        let mut allow_origins = Vec::new();
        if let Some(os) = &c.allow_origins {
            cx.field("allowOrigins", |cx| {
                for (i, o) in os.iter().enumerate() {
                    cx.index(i, |cx| {
                        for (f, v) in [("exact", &o.exact), ("prefix", &o.prefix)] {
                            if v.as_deref() == Some("") {
                                cx.field(f, |cx| {
                                    cx.error(
                                        "VAL-VS-19",
                                        format!("'{f}' field in AllowOrigins cannot be empty"),
                                    )
                                });
                            }
                        }
                        if let Some(s) = StringMatch::convert(o, "allowOrigins", false, false, cx) {
                            allow_origins.push(s);
                        }
                    });
                }
            });
        }
        if let Some(os) = &c.allow_origin {
            cx.field("allowOrigin", |cx| {
                cx.warn("VAL-VS-19", "allowOrigin is deprecated, use allowOrigins");
            });
            allow_origins.extend(os.iter().map(|o| StringMatch::Exact(o.clone())));
        }
        let methods = c.allow_methods.clone().unwrap_or_default();
        cx.field("allowMethods", |cx| {
            for (i, m) in methods.iter().enumerate() {
                if !METHODS.contains(&m.as_str()) {
                    cx.index(i, |cx| {
                        cx.error("VAL-VS-19", format!("{m:?} is not a supported HTTP method"))
                    });
                }
            }
        });
        for (field, list) in [
            ("allowHeaders", &c.allow_headers),
            ("exposeHeaders", &c.expose_headers),
        ] {
            if let Some(hs) = list {
                cx.field(field, |cx| {
                    for (i, h) in hs.iter().enumerate() {
                        if !validation::is_header_name(h) {
                            cx.index(i, |cx| {
                                cx.error(
                                    "VAL-VS-19",
                                    format!("header name {h} is not a valid header name"),
                                )
                            });
                        }
                    }
                });
            }
        }
        let max_age = duration_field(c.max_age.as_ref(), "maxAge", "VAL-D1", cx);
        if let Some(d) = max_age
            && d.subsec_nanos() != 0
        {
            cx.field("maxAge", |cx| {
                cx.error(
                    "VAL-VS-19",
                    "max_age duration is accurate only to seconds precision",
                )
            });
        }
        CorsPolicy {
            allow_origins,
            allow_methods: methods,
            allow_headers: c.allow_headers.clone().unwrap_or_default(),
            expose_headers: c.expose_headers.clone().unwrap_or_default(),
            max_age,
            allow_credentials: c.allow_credentials,
            forward_unmatched_preflights: c.unmatched_preflights
                != Some(w::UnmatchedPreflights::Ignore),
        }
    }
}

fn subnets(list: Option<&Vec<String>>, cx: &mut Cx<'_>, code: &'static str) -> Vec<ipnet::IpNet> {
    let Some(list) = list else { return Vec::new() };
    cx.field("destinationSubnets", |cx| {
        let mut out = Vec::new();
        for (i, s) in list.iter().enumerate() {
            match s
                .parse::<ipnet::IpNet>()
                .or_else(|_| s.parse::<std::net::IpAddr>().map(ipnet::IpNet::from))
            {
                Ok(n) => out.push(n),
                Err(_) => cx.index(i, |cx| {
                    cx.error(code, format!("{s:?} is not a valid IP or CIDR"))
                }),
            }
        }
        out
    })
}

fn route_destinations(
    list: Option<&Vec<w::RouteDestination>>,
    cx: &mut Cx<'_>,
    code: &'static str,
) -> Vec<RouteDestination> {
    let Some(list) = list.filter(|l| !l.is_empty()) else {
        cx.error(
            code,
            if code == "VAL-VS-21" {
                "TLS route is required"
            } else {
                "TCP route is required"
            },
        );
        return Vec::new();
    };
    cx.field("route", |cx| {
        let mut out = Vec::new();
        let mut total: i64 = 0;
        for (i, d) in list.iter().enumerate() {
            cx.index(i, |cx| {
                let Some(dest) = &d.destination else {
                    cx.error("VAL-VS-8", "destination is required");
                    return;
                };
                let destination =
                    cx.field("destination", |cx| Destination::convert(dest, cx, true));
                let weight = d.weight.unwrap_or(0);
                if weight < 0 {
                    cx.field("weight", |cx| {
                        cx.error("VAL-VS-7", format!("weight {weight} < 0"))
                    });
                }
                total += i64::from(weight);
                out.push(RouteDestination {
                    destination,
                    weight: weight.max(0) as u32,
                });
            });
        }
        if list.len() > 1 && total == 0 {
            cx.error("VAL-VS-7", "total destination weight = 0");
        }
        out
    })
}

impl TlsRoute {
    fn convert(
        r: &w::TlsRoute,
        vs_hosts: &[Hostname],
        on_gateway: bool,
        cx: &mut Cx<'_>,
    ) -> TlsRoute {
        let ms = r.r#match.as_deref().unwrap_or_default();
        if ms.is_empty() {
            cx.error(
                "VAL-VS-21",
                "TLS route must have at least one match condition",
            );
        }
        let mut matches = Vec::new();
        cx.field("match", |cx| {
            for (i, m) in ms.iter().enumerate() {
                matches.push(cx.index(i, |cx| {
                    let sni = m.sni_hosts.clone().unwrap_or_default();
                    if sni.is_empty() {
                        cx.error("VAL-VS-21", "TLS match must have at least one SNI host");
                    }
                    cx.field("sniHosts", |cx| {
                        for (j, h) in sni.iter().enumerate() {
                            cx.index(j, |cx| {
                                let bad = if on_gateway && h == "*" {
                                    None
                                } else {
                                    validation::wildcard_domain(h).err()
                                };
                                if let Some(e) = bad {
                                    if validation::is_ip(h) {
                                        cx.warn(
                                            "VAL-VS-21",
                                            format!("using an IP address ({h:?}) goes against SNI spec and most clients do not support this"),
                                        );
                                    } else {
                                        cx.error("VAL-H1", e);
                                    }
                                    return;
                                }
                                let hn = Hostname::new(h);
                                if !vs_hosts.iter().any(|v| hn.subset_of(v)) {
                                    cx.error(
                                        "VAL-VS-21",
                                        format!("TLS match SNI host {h:?} is not in any of the VirtualService hosts"),
                                    );
                                }
                            });
                        }
                    });
                    let destination_subnets = subnets(m.destination_subnets.as_ref(), cx, "VAL-VS-21");
                    let port = m.port.filter(|p| *p != 0);
                    if let Some(p) = port {
                        cx.field("port", |cx| cx.check("VAL-P1", validation::port(p.into())));
                    }
                    TlsMatchAttributes {
                        sni_hosts: sni.iter().map(|h| Hostname::new(h)).collect(),
                        destination_subnets,
                        port: port.and_then(|p| u16::try_from(p).ok()),
                        source_labels: labels(m.source_labels.as_ref(), "sourceLabels", "VAL-VS-20", cx),
                        gateways: gateway_names(m.gateways.as_ref(), cx),
                        source_namespace: m.source_namespace.clone().filter(|s| !s.is_empty()),
                    }
                }));
            }
        });
        let route = route_destinations(r.route.as_ref(), cx, "VAL-VS-21");
        TlsRoute { matches, route }
    }
}

impl TcpRoute {
    fn convert(r: &w::TcpRoute, cx: &mut Cx<'_>) -> TcpRoute {
        let mut matches = Vec::new();
        if let Some(ms) = &r.r#match {
            cx.field("match", |cx| {
                for (i, m) in ms.iter().enumerate() {
                    matches.push(cx.index(i, |cx| {
                        let destination_subnets =
                            subnets(m.destination_subnets.as_ref(), cx, "VAL-VS-22");
                        let port = m.port.filter(|p| *p != 0);
                        if let Some(p) = port {
                            cx.field("port", |cx| cx.check("VAL-P1", validation::port(p.into())));
                        }
                        if let Some(s) = &m.source_subnet
                            && !validation::is_ip_or_cidr(s)
                        {
                            cx.field("sourceSubnet", |cx| {
                                cx.error("VAL-VS-22", format!("{s:?} is not a valid IP or CIDR"))
                            });
                        }
                        L4MatchAttributes {
                            destination_subnets,
                            port: port.and_then(|p| u16::try_from(p).ok()),
                            source_labels: labels(
                                m.source_labels.as_ref(),
                                "sourceLabels",
                                "VAL-VS-20",
                                cx,
                            ),
                            gateways: gateway_names(m.gateways.as_ref(), cx),
                            source_namespace: m.source_namespace.clone().filter(|s| !s.is_empty()),
                        }
                    }));
                }
            });
        }
        let route = route_destinations(r.route.as_ref(), cx, "VAL-VS-22");
        TcpRoute { matches, route }
    }
}
