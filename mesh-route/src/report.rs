//! A decision as a serialisable report: the JSON contract of `meshctl
//! route` (MESHCTL.md), built from a [`Decision`] so the CLI, the
//! conformance suite and any other caller print the same thing.

use crate::config::{
    AbortStatus, AppendAction, ClusterSpecifier, CorsPolicy, DestinationCluster, FractionalPercent,
    HashPolicy, HeaderValueOption, PathMatch, RedirectAction, Route, RouteAction,
};
use crate::destination_rule::DestinationRules;
use crate::l4::{L4Decision, L4Kind};
use crate::proxy::ProxyContext;
use crate::request::Request;
use crate::table::{Decision, ExplainStep, Outcome, RouteTable};
use crate::weighted::pick;
use mesh_model::labels::Labels;
use mesh_model::networking::{Destination, TrafficPolicy};
use mesh_model::snapshot::Snapshot;
use serde::Serialize;
use std::collections::BTreeMap;
use std::time::Duration;

/// A duration as Istio users write it: `10s`, `500ms`, `1.5s`.
pub fn format_duration(d: Duration) -> String {
    let nanos = d.subsec_nanos();
    if nanos == 0 {
        return format!("{}s", d.as_secs());
    }
    if d.as_secs() == 0 && nanos.is_multiple_of(1_000_000) {
        return format!("{}ms", nanos / 1_000_000);
    }
    let s = format!("{}.{:09}", d.as_secs(), nanos);
    format!("{}s", s.trim_end_matches('0'))
}

/// `route` in the report: the VirtualService route.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RouteRef {
    /// The index in the VirtualService's `http` list.
    pub index: usize,
    /// The route's `name`.
    pub name: Option<String>,
}

/// `match` in the report.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MatchRef {
    /// The index of the match block (null when the route has none).
    pub index: Option<usize>,
    /// The match block's `name`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

/// One destination in the report.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DestinationReport {
    /// FQDN.
    pub host: String,
    /// Subset.
    pub subset: Option<String>,
    /// `destination.port.number` as written.
    pub port: Option<u16>,
    /// The weight (100 for a single destination).
    pub weight: u32,
    /// The Envoy cluster.
    pub cluster: String,
    /// Weighted-cluster header operations.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub headers: Option<HeadersReport>,
    /// The DestinationRule that applies (DR-1), when resolved.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub destination_rule: Option<String>,
    /// The subset's labels, when the rule defines the subset.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub subset_labels: Option<Labels>,
    /// The subset is named but no applicable rule defines it: the cluster
    /// does not exist (503 `NC`, WT-4).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub subset_missing: bool,
    /// The cluster does not exist, so Envoy answers 503 `NC` (WT-4): the
    /// host is no service visible to the proxy, the subset is missing, or
    /// the service has no port with the cluster's number (a destination
    /// without `port` on a multi-port service takes the listener port).
    /// Set when resolved.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub cluster_missing: bool,
    /// The effective traffic policy (DR-4), when resolved.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub traffic_policy: Option<TrafficPolicy>,
    /// The endpoint addresses the destination reaches (DR-3), when
    /// resolved.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub endpoints: Option<Vec<String>>,
}

/// Retries with Istio's defaults applied (VS-25).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RetryReport {
    /// Retries (not tries).
    pub attempts: u32,
    /// `retry_on`.
    pub retry_on: String,
    /// `retriable_status_codes`.
    pub retriable_status_codes: Vec<u32>,
    /// `per_try_timeout`.
    pub per_try_timeout: Option<String>,
    /// The previous-hosts predicate.
    pub retry_previous_hosts: bool,
    /// The previous-priorities predicate (`retryRemoteLocalities`).
    pub retry_remote_localities: bool,
    /// `host_selection_retry_max_attempts`.
    pub host_selection_retry_max_attempts: u32,
    /// `retry_back_off.base_interval`.
    pub backoff: Option<String>,
}

/// A fault (VS-26).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct FaultReport {
    /// The delay.
    pub delay: Option<DelayReport>,
    /// The abort.
    pub abort: Option<AbortReport>,
}

/// A delay fault.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DelayReport {
    /// `fixedDelay`.
    pub fixed_delay: String,
    /// Percent of requests.
    pub percentage: f64,
}

/// An abort fault.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AbortReport {
    /// The HTTP status.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub http_status: Option<u32>,
    /// The gRPC status code.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub grpc_status: Option<u32>,
    /// Percent of requests (0 when unset: never fires).
    pub percentage: f64,
}

/// A mirror (VS-27).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct MirrorReport {
    /// FQDN.
    pub host: String,
    /// Subset.
    pub subset: Option<String>,
    /// Port as written.
    pub port: Option<u16>,
    /// The cluster.
    pub cluster: String,
    /// Percent of requests.
    pub percentage: f64,
}

/// A rewrite (VS-23).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RewriteReport {
    /// `prefix_rewrite`.
    pub uri: Option<String>,
    /// `regex_rewrite` pattern and substitution.
    pub uri_regex: Option<RegexRewriteReport>,
    /// The host rewrite.
    pub authority: Option<String>,
    /// The upstream `:path` after the rewrite (query kept).
    pub path: String,
}

/// `uriRegexRewrite`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RegexRewriteReport {
    /// The pattern.
    #[serde(rename = "match")]
    pub pattern: String,
    /// The substitution.
    pub rewrite: String,
}

/// A redirect (VS-21).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RedirectReport {
    /// The status.
    pub code: u32,
    /// The `Location` header Envoy sends.
    pub location: String,
    /// `path_redirect`.
    pub uri: Option<String>,
    /// `prefix_rewrite`.
    pub prefix_rewrite: Option<String>,
    /// `host_redirect`.
    pub authority: Option<String>,
    /// `scheme_redirect`.
    pub scheme: Option<String>,
    /// `port_redirect`.
    pub port: Option<u16>,
}

/// A direct response (VS-22).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DirectResponseReport {
    /// The status.
    pub status: u32,
    /// The body (lossy UTF-8).
    pub body: Option<String>,
}

/// Header operations of one direction.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct HeaderOpsReport {
    /// `set` (overwrite or add).
    pub set: BTreeMap<String, String>,
    /// `add` (append or add).
    pub add: BTreeMap<String, String>,
    /// `remove`.
    pub remove: Vec<String>,
}

/// Header operations (VS-29).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct HeadersReport {
    /// On the request.
    pub request: HeaderOpsReport,
    /// On the response.
    pub response: HeaderOpsReport,
}

/// Where traffic goes that no virtual host or listener takes (VS-5).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct FallbackReport {
    /// The catch-all virtual host (`allow_any`, `block_all`), if any.
    pub virtual_host: Option<String>,
    /// The cluster it forwards to.
    pub cluster: Option<String>,
    /// The status Envoy answers with.
    pub status: Option<u32>,
}

/// The delegate VirtualService of a merged route (HOST-9).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DelegateReport {
    /// `namespace/name`.
    pub virtual_service: String,
    /// The route's index in the delegate.
    pub route: usize,
}

/// The report of one HTTP request (the `meshctl route` JSON).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RouteReport {
    /// Whether the request is routed somewhere (any action).
    pub matched: bool,
    /// `route`, `redirect`, `directResponse`, `default`; null when not
    /// matched.
    pub action: Option<String>,
    /// Why it was not matched (`no route matched`, `unknown host`, …).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// `namespace/name` of the VirtualService.
    pub virtual_service: Option<String>,
    /// The VirtualService route.
    pub route: Option<RouteRef>,
    /// The match block.
    #[serde(rename = "match")]
    pub match_block: Option<MatchRef>,
    /// Destinations (weight-0 entries of weighted routes dropped, WT-2).
    pub destinations: Vec<DestinationReport>,
    /// The destination picked by `dice` (WT-3), when a dice was given.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub picked: Option<usize>,
    /// The route timeout (null: none, VS-24).
    pub timeout: Option<String>,
    /// Retries (null: disabled).
    pub retries: Option<RetryReport>,
    /// Fault injection.
    pub fault: Option<FaultReport>,
    /// Mirrors.
    pub mirrors: Vec<MirrorReport>,
    /// Rewrite.
    pub rewrite: Option<RewriteReport>,
    /// Redirect.
    pub redirect: Option<RedirectReport>,
    /// Direct response.
    pub direct_response: Option<DirectResponseReport>,
    /// Route-level header operations.
    pub headers: Option<HeadersReport>,
    /// CORS policy.
    pub cors: Option<CorsPolicy>,
    /// Consistent-hash policies (WT-5).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub hash_policy: Vec<HashPolicy>,
    /// The route configuration (RDS name).
    pub route_configuration: Option<String>,
    /// The virtual host.
    pub virtual_host: Option<String>,
    /// The Envoy route name (VS-6).
    pub envoy_route: Option<String>,
    /// The delegate, for a merged route.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub delegate: Option<DelegateReport>,
    /// Where unmatched traffic goes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fallback: Option<FallbackReport>,
    /// Each route tried and why it did or did not match.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub explain: Vec<ExplainStep>,
}

fn pct(f: &FractionalPercent) -> f64 {
    f.percent()
}

fn ops(add: &[HeaderValueOption], remove: &[String]) -> HeaderOpsReport {
    let mut out = HeaderOpsReport::default();
    for h in add {
        let m = match h.append_action {
            AppendAction::OverwriteIfExistsOrAdd => &mut out.set,
            AppendAction::AppendIfExistsOrAdd => &mut out.add,
        };
        m.insert(h.key.clone(), h.value.clone());
    }
    out.remove = remove.to_vec();
    out
}

fn headers_report(
    req_add: &[HeaderValueOption],
    req_remove: &[String],
    resp_add: &[HeaderValueOption],
    resp_remove: &[String],
) -> Option<HeadersReport> {
    if req_add.is_empty() && req_remove.is_empty() && resp_add.is_empty() && resp_remove.is_empty()
    {
        return None;
    }
    Some(HeadersReport {
        request: ops(req_add, req_remove),
        response: ops(resp_add, resp_remove),
    })
}

fn destination(d: &DestinationCluster) -> DestinationReport {
    DestinationReport {
        host: d.host.to_string(),
        subset: d.subset.clone(),
        port: d.port,
        weight: d.weight,
        cluster: d.name.clone(),
        headers: headers_report(
            &d.request_headers_to_add,
            &d.request_headers_to_remove,
            &d.response_headers_to_add,
            &d.response_headers_to_remove,
        ),
        destination_rule: None,
        subset_labels: None,
        subset_missing: false,
        cluster_missing: false,
        traffic_policy: None,
        endpoints: None,
    }
}

/// The `:path` after replacing the part the route matched
/// (`generateNewPath`): the prefix for prefix routes, the whole path
/// without query for exact and regex routes (VS-23).
fn rewrite_prefix(route: &Route, req: &Request<'_>, new: &str) -> String {
    let path = req.path;
    let matched = match &route.matcher.path {
        PathMatch::Prefix(p) => p.len(),
        PathMatch::Path(_) | PathMatch::SafeRegex(_) => req.path_only().len(),
    };
    let rest = path.get(matched.min(path.len())..).unwrap_or("");
    format!("{new}{rest}")
}

/// Envoy's `processRequestHost`: the request's host, its port dropped when
/// a port is set or the scheme changes away from the port's default.
fn request_host(req: &Request<'_>, scheme: &str, new_port: bool) -> String {
    let host = req.authority;
    let end = if host.starts_with('[') {
        host.rfind("]:").map(|i| i + 1)
    } else {
        host.rfind(':')
    };
    if let Some(end) = end {
        let port = &host[end..];
        let proto = req.scheme;
        let mut remove = new_port;
        if scheme != proto {
            remove |= proto.eq_ignore_ascii_case("https") && port == ":443";
            remove |= proto.eq_ignore_ascii_case("http") && port == ":80";
        }
        if remove {
            return host[..end].to_string();
        }
    }
    host.to_string()
}

/// An RE2 substitution (`\\1`) in the `regex` crate's syntax (`${1}`).
fn re2_substitution(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '$' => out.push_str("$$"),
            '\\' => match chars.peek() {
                Some(d) if d.is_ascii_digit() => {
                    out.push_str("${");
                    out.push(*d);
                    out.push('}');
                    chars.next();
                }
                Some('\\') => {
                    out.push('\\');
                    chars.next();
                }
                _ => out.push('\\'),
            },
            c => out.push(c),
        }
    }
    out
}

/// The `Location` of a redirect (VS-21; Envoy `Utility::newUri`).
pub fn redirect_location(rd: &RedirectAction, route: &Route, req: &Request<'_>) -> String {
    let scheme = rd.scheme_redirect.as_deref().unwrap_or(req.scheme);
    let port = rd
        .port_redirect
        .map(|p| format!(":{p}"))
        .unwrap_or_default();
    let host = match &rd.host_redirect {
        Some(h) => h.clone(),
        None => request_host(req, scheme, !port.is_empty()),
    };
    let mut path = match (&rd.prefix_rewrite, &rd.path_redirect) {
        (Some(p), _) => rewrite_prefix(route, req, p),
        (None, Some(p)) if p.contains('?') => p.clone(),
        (None, Some(p)) => match req.path.find('?') {
            Some(q) => format!("{p}{}", &req.path[q..]),
            None => p.clone(),
        },
        (None, None) => req.path.to_string(),
    };
    if !path.starts_with('/') {
        path.insert(0, '/');
    }
    format!("{scheme}://{host}{port}{path}")
}

impl RouteReport {
    /// The report of `decision` for `req`; `dice` picks a weighted
    /// destination (WT-3).
    pub fn new(
        table: &RouteTable,
        decision: &Decision<'_>,
        req: &Request<'_>,
        dice: Option<u32>,
    ) -> RouteReport {
        let mut out = RouteReport {
            matched: false,
            action: None,
            reason: None,
            virtual_service: None,
            route: None,
            match_block: None,
            destinations: Vec::new(),
            picked: None,
            timeout: None,
            retries: None,
            fault: None,
            mirrors: Vec::new(),
            rewrite: None,
            redirect: None,
            direct_response: None,
            headers: None,
            cors: None,
            hash_policy: Vec::new(),
            route_configuration: decision.route_configuration.map(|c| c.name.clone()),
            virtual_host: decision.virtual_host.map(|v| v.name.clone()),
            envoy_route: decision.route.map(|r| r.route.name.clone()),
            delegate: None,
            fallback: None,
            explain: Vec::new(),
        };
        match decision.outcome {
            Outcome::NoRouteMatched => {
                out.reason = Some("no route matched".into());
                out.fallback = Some(FallbackReport {
                    virtual_host: None,
                    cluster: None,
                    status: Some(404),
                });
                return out;
            }
            Outcome::UnknownHost => {
                out.reason = Some("unknown host".into());
                out.fallback = Some(match decision.route.map(|r| &r.route.action) {
                    Some(RouteAction::Route(f)) => FallbackReport {
                        virtual_host: decision.virtual_host.map(|v| v.name.clone()),
                        cluster: f.clusters.destinations().first().map(|d| d.name.clone()),
                        status: None,
                    },
                    Some(RouteAction::DirectResponse(d)) => FallbackReport {
                        virtual_host: decision.virtual_host.map(|v| v.name.clone()),
                        cluster: None,
                        status: Some(d.status),
                    },
                    _ => match table.passthrough_cluster() {
                        Some(c) if decision.route_configuration.is_none() => FallbackReport {
                            virtual_host: None,
                            cluster: Some(c.to_string()),
                            status: None,
                        },
                        _ => FallbackReport {
                            virtual_host: None,
                            cluster: None,
                            status: Some(404),
                        },
                    },
                });
                return out;
            }
            Outcome::TlsRequired => {
                out.matched = true;
                out.action = Some("redirect".into());
                out.redirect = Some(RedirectReport {
                    code: 301,
                    location: format!("https://{}{}", req.authority, req.path),
                    uri: None,
                    prefix_rewrite: None,
                    authority: None,
                    scheme: Some("https".into()),
                    port: None,
                });
                out.reason = Some("virtual host requires TLS".into());
                return out;
            }
            Outcome::Rejected => {
                out.reason = Some(
                    decision
                        .route_configuration
                        .and_then(|c| c.rejected.clone())
                        .unwrap_or_else(|| "route configuration rejected".into()),
                );
                return out;
            }
            Outcome::Route | Outcome::Default | Outcome::Redirect | Outcome::DirectResponse => {}
        }
        let Some(hit) = decision.route else {
            return out;
        };
        let route = hit.route;
        out.matched = true;
        out.action = Some(
            match decision.outcome {
                Outcome::Default => "default",
                Outcome::Redirect => "redirect",
                Outcome::DirectResponse => "directResponse",
                _ => "route",
            }
            .into(),
        );
        if let Some(o) = &route.origin {
            out.virtual_service = Some(o.virtual_service.to_string());
            out.route = Some(RouteRef {
                index: o.route_index,
                name: o.route_name.clone(),
            });
            out.match_block = Some(MatchRef {
                index: o.match_index,
                name: o.match_name.clone(),
            });
            out.delegate = o.delegate.as_ref().map(|d| DelegateReport {
                virtual_service: d.virtual_service.to_string(),
                route: d.route_index,
            });
        }
        out.headers = headers_report(
            &route.request_headers_to_add,
            &route.request_headers_to_remove,
            &route.response_headers_to_add,
            &route.response_headers_to_remove,
        );
        out.cors = route.cors.clone();
        out.fault = route.fault.as_ref().map(|f| FaultReport {
            delay: f.delay.as_ref().map(|d| DelayReport {
                fixed_delay: format_duration(d.fixed_delay),
                percentage: pct(&d.percentage),
            }),
            abort: f.abort.as_ref().map(|a| AbortReport {
                http_status: match a.status {
                    AbortStatus::HttpStatus(s) => Some(s),
                    AbortStatus::GrpcStatus(_) => None,
                },
                grpc_status: match a.status {
                    AbortStatus::GrpcStatus(s) => Some(s),
                    AbortStatus::HttpStatus(_) => None,
                },
                percentage: a.percentage.as_ref().map(pct).unwrap_or(0.0),
            }),
        });
        match &route.action {
            RouteAction::Route(f) => {
                let dests = f.clusters.destinations();
                out.destinations = dests.iter().map(destination).collect();
                if let Some(d) = dice {
                    let weights: Vec<u32> = dests.iter().map(|d| d.weight).collect();
                    out.picked = match &f.clusters {
                        ClusterSpecifier::Cluster(_) => Some(0),
                        ClusterSpecifier::WeightedClusters(_) => pick(&weights, d),
                    };
                }
                out.timeout = f.timeout.map(format_duration);
                out.hash_policy = f.hash_policy.clone();
                out.retries = f.retry_policy.as_ref().map(|r| RetryReport {
                    attempts: r.num_retries,
                    retry_on: r.retry_on.clone(),
                    retriable_status_codes: r.retriable_status_codes.clone(),
                    per_try_timeout: r.per_try_timeout.map(format_duration),
                    retry_previous_hosts: r.retry_previous_hosts,
                    retry_remote_localities: r.retry_previous_priorities,
                    host_selection_retry_max_attempts: r.host_selection_retry_max_attempts,
                    backoff: r.backoff_base_interval.map(format_duration),
                });
                out.mirrors = f
                    .request_mirror_policies
                    .iter()
                    .map(|m| MirrorReport {
                        host: m.host.to_string(),
                        subset: m.subset.clone(),
                        port: m.port,
                        cluster: m.cluster.clone(),
                        percentage: pct(&m.runtime_fraction),
                    })
                    .collect();
                if f.prefix_rewrite.is_some()
                    || f.regex_rewrite.is_some()
                    || f.host_rewrite_literal.is_some()
                {
                    let path = if let Some(p) = &f.prefix_rewrite {
                        rewrite_prefix(route, req, p)
                    } else if let Some(r) = &f.regex_rewrite {
                        let only = req.path_only();
                        let new = r
                            .pattern
                            .replace_all(only, re2_substitution(&r.substitution));
                        format!("{new}{}", &req.path[only.len()..])
                    } else {
                        req.path.to_string()
                    };
                    out.rewrite = Some(RewriteReport {
                        uri: f.prefix_rewrite.clone(),
                        uri_regex: f.regex_rewrite.as_ref().map(|r| RegexRewriteReport {
                            pattern: r.pattern.as_str().to_string(),
                            rewrite: r.substitution.clone(),
                        }),
                        authority: f.host_rewrite_literal.clone(),
                        path,
                    });
                }
            }
            RouteAction::Redirect(rd) => {
                out.redirect = Some(RedirectReport {
                    code: rd.response_code,
                    location: redirect_location(rd, route, req),
                    uri: rd.path_redirect.clone(),
                    prefix_rewrite: rd.prefix_rewrite.clone(),
                    authority: rd.host_redirect.clone(),
                    scheme: rd.scheme_redirect.clone(),
                    port: rd.port_redirect,
                });
            }
            RouteAction::DirectResponse(d) => {
                out.direct_response = Some(DirectResponseReport {
                    status: d.status,
                    body: d
                        .body
                        .as_ref()
                        .map(|b| String::from_utf8_lossy(b).into_owned()),
                });
            }
            RouteAction::Unsupported { .. } => {}
        }
        out
    }

    /// Adds, for each destination, the DestinationRule that applies to
    /// the proxy (DR-1), the subset's labels, the effective policy on the
    /// cluster's port (DR-4) and the endpoints reached (DR-3).
    pub fn resolve_destinations(
        &mut self,
        snapshot: &Snapshot,
        rules: &DestinationRules,
        proxy: &ProxyContext,
        decision: &Decision<'_>,
    ) {
        let Some(RouteAction::Route(f)) = decision.route.map(|r| &r.route.action) else {
            return;
        };
        for (rep, d) in self.destinations.iter_mut().zip(f.clusters.destinations()) {
            let dest = Destination {
                host: d.host.clone(),
                subset: d.subset.clone(),
                port: d.port,
            };
            let r = rules.resolve(
                snapshot,
                proxy.namespace(),
                proxy.labels(),
                &dest,
                d.cluster_port,
            );
            rep.destination_rule = r.rule.map(|r| {
                r.from
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join(",")
            });
            rep.subset_labels = r.subset.map(|s| s.labels.clone());
            rep.subset_missing = r.subset_missing;
            rep.cluster_missing = r.service.is_none() || r.subset_missing || r.port_missing;
            rep.traffic_policy = r.policy;
            rep.endpoints = r.service.map(|_| {
                r.endpoints
                    .iter()
                    .filter_map(|e| e.address.clone())
                    .collect()
            });
        }
    }
}

/// The report of one TCP/TLS connection.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TcpReport {
    /// Whether a filter chain takes the connection.
    pub matched: bool,
    /// `route` (a VirtualService chain) or `default` (the service's own).
    pub action: Option<String>,
    /// Why not.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// `namespace/name`.
    pub virtual_service: Option<String>,
    /// The route: index and kind (`tls`, `tcp`).
    pub route: Option<TcpRouteRef>,
    /// The match block.
    #[serde(rename = "match")]
    pub match_block: Option<MatchRef>,
    /// Destinations.
    pub destinations: Vec<DestinationReport>,
    /// The destination picked by `dice`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub picked: Option<usize>,
    /// The listener.
    pub listener: Option<String>,
    /// The filter chain's index.
    pub filter_chain: Option<usize>,
    /// Where an unmatched connection goes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fallback: Option<FallbackReport>,
}

/// A TCP/TLS route reference.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TcpRouteRef {
    /// The index in the VirtualService's `tcp` or `tls` list.
    pub index: usize,
    /// `tcp` or `tls`.
    pub kind: L4Kind,
}

impl TcpReport {
    /// The report of an L4 decision.
    pub fn new(table: &RouteTable, d: &L4Decision<'_>, dice: Option<u32>) -> TcpReport {
        let mut out = TcpReport {
            matched: false,
            action: None,
            reason: None,
            virtual_service: None,
            route: None,
            match_block: None,
            destinations: Vec::new(),
            picked: None,
            listener: d.listener.map(|l| l.name.clone()),
            filter_chain: d.chain.map(|(i, _)| i),
            fallback: None,
        };
        let Some((_, chain)) = d.chain else {
            out.reason = Some(if d.listener.is_none() {
                "no listener".into()
            } else {
                "no filter chain matched".into()
            });
            out.fallback = table.passthrough_cluster().map(|c| FallbackReport {
                virtual_host: None,
                cluster: Some(c.to_string()),
                status: None,
            });
            return out;
        };
        out.matched = true;
        out.action = Some(
            if chain.origin.is_some() {
                "route"
            } else {
                "default"
            }
            .into(),
        );
        if let Some(o) = &chain.origin {
            out.virtual_service = Some(o.virtual_service.to_string());
            out.route = Some(TcpRouteRef {
                index: o.route_index,
                kind: o.kind,
            });
            out.match_block = Some(MatchRef {
                index: o.match_index,
                name: None,
            });
        }
        out.destinations = chain.destinations.iter().map(destination).collect();
        if let Some(dice) = dice {
            let w: Vec<u32> = chain.destinations.iter().map(|d| d.weight).collect();
            out.picked = pick(&w, dice);
        }
        out
    }
}
