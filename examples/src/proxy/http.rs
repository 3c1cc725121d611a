//! Request handling: outbound (a sidecar's egress listener, a gateway's
//! server port) and inbound (a sidecar's ingress listener).
//!
//! Outbound, in Envoy's filter order: route (mesh-route: VirtualService
//! match, redirect, direct response), fault injection (VS-26), weighted
//! destination pick (WT-3), header operations (VS-29), rewrites (VS-23),
//! mirrors (VS-27, fire and forget), then the router: endpoint choice by the
//! cluster's load balancer, Istio mTLS or plaintext, retries with per-try
//! timeouts inside the route timeout (VS-24, VS-25), outlier detection.
//!
//! Inbound: the connection's peer identity (mTLS), RequestAuthentication
//! (401 on an invalid token, RA-2), AuthorizationPolicy (403
//! `RBAC: access denied`, AZ-1, AZ-2), then the local application.

use super::Shared;
use super::state::{
    Cluster, Endpoint, ListenerKind, MeshState, PeerInfo, ProxyKind, hash_str, mix,
};
use super::telemetry::{RequestLabels, propagate, random};
use super::upstream::UpstreamError;
use bytes::Bytes;
use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::header::{HeaderName, HeaderValue};
use hyper::{HeaderMap, Request, Response, StatusCode};
use mesh_authz::engine::Verdict;
use mesh_authz::jwt::JwtOutcome;
use mesh_model::security::MtlsMode;
use mesh_route::Outcome;
use mesh_route::config::{
    AppendAction, DestinationCluster, ForwardAction, HashPolicy, HeaderValueOption, PathMatch,
    RedirectAction, Route, RouteAction,
};
use serde_json::json;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant, SystemTime};

/// The response body type.
pub type RespBody = UnsyncBoxBody<Bytes, hyper::Error>;

/// What the proxy knows about a downstream connection.
#[derive(Debug, Clone)]
pub struct ConnInfo {
    /// The client's address.
    pub peer: SocketAddr,
    /// The listener's address.
    pub local: SocketAddr,
    /// The listener's job.
    pub kind: ListenerKind,
    /// The peer's principal from its certificate (mTLS).
    pub principal: Option<String>,
    /// Whether the connection is mTLS.
    pub mtls: bool,
    /// The effective PeerAuthentication mode (inbound).
    pub mode: Option<MtlsMode>,
    /// The TLS server name the peer asked for.
    pub sni: Option<String>,
}

fn full(b: impl Into<Bytes>) -> RespBody {
    Full::new(b.into()).map_err(|n| match n {}).boxed_unsync()
}

/// A local reply.
fn local(status: u16, body: &str) -> Response<RespBody> {
    let mut r = Response::new(full(body.to_string()));
    *r.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    r.headers_mut()
        .insert("content-type", HeaderValue::from_static("text/plain"));
    r
}

const HOP_BY_HOP: [&str; 7] = [
    "connection",
    "keep-alive",
    "proxy-connection",
    "transfer-encoding",
    "upgrade",
    "te",
    "trailer",
];

/// The header carrying the client proxy's node id to the server proxy
/// (for telemetry's `source_workload`), as Istio's metadata exchange does.
pub const PEER_ID_HEADER: &str = "x-envoy-peer-metadata-id";

/// What happened to a request, for the access log and metrics.
#[derive(Debug, Default)]
struct Record {
    status: u16,
    flags: Vec<&'static str>,
    details: String,
    route_name: Option<String>,
    cluster: Option<String>,
    upstream: Option<SocketAddr>,
    upstream_tls: bool,
    attempts: u32,
    peer: Arc<PeerInfo>,
    service: Arc<super::state::ServiceInfo>,
    authz_policy: Option<String>,
    authz_rule: Option<usize>,
    authz_reason: Option<&'static str>,
    upstream_time: Option<Duration>,
}

impl Record {
    fn flags(&self) -> String {
        if self.flags.is_empty() {
            "-".into()
        } else {
            self.flags.join(",")
        }
    }
}

fn header_str<'a>(h: &'a HeaderMap, name: &str) -> Option<&'a str> {
    h.get(name).and_then(|v| v.to_str().ok())
}

fn authority(req: &Request<Incoming>) -> String {
    req.uri()
        .authority()
        .map(|a| a.as_str().to_string())
        .or_else(|| header_str(req.headers(), "host").map(str::to_string))
        .unwrap_or_default()
}

fn path_and_query(req: &Request<Incoming>) -> String {
    normalized(req.uri().path_and_query())
}

/// The request path as Envoy's connection manager hands it on under
/// Istio's `normalize_path`: routing, authorization, the forwarded request
/// and the access log all see it.
fn normalized(p: Option<&hyper::http::uri::PathAndQuery>) -> String {
    p.map_or_else(
        || "/".to_string(),
        |p| mesh_route::request::normalize_path(p.as_str()).into_owned(),
    )
}

/// Serves one request.
pub async fn handle(
    shared: Arc<Shared>,
    conn: Arc<ConnInfo>,
    req: Request<Incoming>,
) -> Result<Response<RespBody>, Infallible> {
    let started = Instant::now();
    let start_time = SystemTime::now();
    let state = shared.state();
    let method = req.method().as_str().to_string();
    let path = path_and_query(&req);
    let auth = authority(&req);
    let request_id = header_str(req.headers(), "x-request-id").map(str::to_string);
    let mut record = Record::default();
    let resp = match conn.kind.clone() {
        ListenerKind::Outbound { port } => {
            outbound(&shared, &state, &conn, port, req, &mut record).await
        }
        ListenerKind::Inbound { target_port, app } => {
            inbound(&shared, &state, &conn, target_port, app, req, &mut record).await
        }
    };
    record.status = resp.status().as_u16();
    let elapsed = started.elapsed();
    let request_id = header_str(resp.headers(), "x-request-id")
        .map(str::to_string)
        .or(request_id);
    let what = (
        method.as_str(),
        path.as_str(),
        auth.as_str(),
        request_id.as_deref(),
    );
    finish(
        &shared, &state, &conn, &record, elapsed, start_time, what, &resp,
    );
    Ok(resp)
}

#[allow(clippy::too_many_arguments)]
fn finish(
    shared: &Shared,
    state: &MeshState,
    conn: &ConnInfo,
    r: &Record,
    elapsed: Duration,
    start_time: SystemTime,
    (method, path, authority, request_id): (&str, &str, &str, Option<&str>),
    resp: &Response<RespBody>,
) {
    let inbound = matches!(conn.kind, ListenerKind::Inbound { .. });
    let w = &state.workload;
    let me: &PeerInfo = &state.me;
    let peer: &PeerInfo = &r.peer;
    let (src, dst) = if inbound { (peer, me) } else { (me, peer) };
    let spiffe = |p: &Option<String>| {
        p.as_ref()
            .map_or_else(|| "unknown".to_string(), |p| format!("spiffe://{p}"))
    };
    let src_principal = spiffe(&src.principal);
    let dst_principal = spiffe(&dst.principal);
    let flags = r.flags();
    let security = if inbound {
        if conn.mtls { "mutual_tls" } else { "none" }
    } else {
        "unknown"
    };
    let s = |o: &Option<String>| o.clone().unwrap_or_default();
    let (sw, swn, sa, sv) = (
        s(&src.workload),
        s(&src.namespace),
        s(&src.app),
        s(&src.version),
    );
    let (dw, dwn, da, dv) = (
        s(&dst.workload),
        s(&dst.namespace),
        s(&dst.app),
        s(&dst.version),
    );
    let labels = RequestLabels {
        reporter: if inbound { "destination" } else { "source" },
        source_workload: &sw,
        source_workload_namespace: &swn,
        source_principal: &src_principal,
        source_app: &sa,
        source_version: &sv,
        destination_workload: &dw,
        destination_workload_namespace: &dwn,
        destination_principal: &dst_principal,
        destination_app: &da,
        destination_version: &dv,
        destination_service: &r.service.host,
        destination_service_name: &r.service.name,
        destination_service_namespace: &r.service.namespace,
        request_protocol: "http",
        response_code: r.status,
        response_flags: &flags,
        connection_security_policy: security,
    };
    let ms = elapsed.as_secs_f64() * 1000.0;
    shared.metrics.record(&labels, ms);
    if !shared.log.enabled() {
        return;
    }
    let start: time::OffsetDateTime = start_time.into();
    let entry = json!({
        "start_time": start.format(&time::format_description::well_known::Rfc3339).unwrap_or_default(),
        "direction": if inbound { "inbound" } else { "outbound" },
        "workload": format!("{}.{}", w.name, w.namespace),
        "method": method,
        "path": path,
        "authority": authority,
        "protocol": "HTTP/1.1",
        "response_code": r.status,
        "response_flags": flags,
        "response_code_details": if r.details.is_empty() { "via_upstream".to_string() } else { r.details.clone() },
        "duration": elapsed.as_millis() as u64,
        "upstream_service_time": r.upstream_time.map(|d| d.as_millis() as u64),
        "upstream_cluster": r.cluster,
        "upstream_host": r.upstream.map(|a| a.to_string()),
        "upstream_transport": if r.upstream.is_some() { Some(if r.upstream_tls { "mtls" } else { "plaintext" }) } else { None },
        "attempts": r.attempts,
        "route_name": r.route_name,
        "downstream_remote_address": conn.peer.to_string(),
        "downstream_local_address": conn.local.to_string(),
        "requested_server_name": conn.sni,
        "x_request_id": request_id,
        "bytes_sent": resp.headers().get("content-length").and_then(|v| v.to_str().ok()).and_then(|v| v.parse::<u64>().ok()),
        "source_principal": src_principal,
        "destination_principal": dst_principal,
        "destination_service": r.service.host,
        "connection_security_policy": security,
        "mtls_mode": conn.mode.map(|m| format!("{m:?}").to_uppercase()),
        "authz_policy": r.authz_policy,
        "authz_rule": r.authz_rule,
        "authz_reason": r.authz_reason,
    });
    shared.log.write(entry);
}

/// Reads the whole request body, within the limit.
async fn read_body(body: Incoming, limit: usize) -> Result<Bytes, Response<RespBody>> {
    match Limited::new(body, limit).collect().await {
        Ok(c) => Ok(c.to_bytes()),
        Err(e) => {
            if e.downcast_ref::<http_body_util::LengthLimitError>()
                .is_some()
            {
                Err(local(413, "payload too large"))
            } else {
                Err(local(400, "bad request body"))
            }
        }
    }
}

fn fires(p: &mesh_route::config::FractionalPercent) -> bool {
    let per_million = match p.denominator {
        mesh_route::config::Denominator::Hundred => u64::from(p.numerator) * 10_000,
        mesh_route::config::Denominator::Million => u64::from(p.numerator),
    };
    random() % 1_000_000 < per_million
}

fn apply_header_ops(h: &mut HeaderMap, remove: &[String], add: &[HeaderValueOption]) {
    for r in remove {
        h.remove(r.as_str());
    }
    for o in add {
        let Ok(name) = HeaderName::from_bytes(o.key.as_bytes()) else {
            continue;
        };
        let Ok(value) = HeaderValue::from_str(&o.value) else {
            continue;
        };
        match o.append_action {
            AppendAction::OverwriteIfExistsOrAdd => {
                h.insert(name, value);
            }
            AppendAction::AppendIfExistsOrAdd => {
                h.append(name, value);
            }
        }
    }
}

/// VS-21: the `Location` of a redirect.
fn redirect_location(
    a: &RedirectAction,
    route: &Route,
    scheme: &str,
    authority: &str,
    path: &str,
) -> String {
    let host_port = authority;
    let (host, port) = match host_port.rsplit_once(':') {
        Some((h, p))
            if p.chars().all(|c| c.is_ascii_digit()) && !h.ends_with(']')
                || !h.is_empty() && p.parse::<u16>().is_ok() =>
        {
            (h.to_string(), p.parse::<u16>().ok())
        }
        _ => (host_port.to_string(), None),
    };
    let scheme = a
        .scheme_redirect
        .clone()
        .unwrap_or_else(|| scheme.to_string());
    let host = a.host_redirect.clone().unwrap_or(host);
    let port = a.port_redirect.or(if a.host_redirect.is_none() {
        port
    } else {
        None
    });
    let port =
        port.filter(|p| !((scheme == "http" && *p == 80) || (scheme == "https" && *p == 443)));
    let (path_only, query) = match path.find('?') {
        Some(i) => (&path[..i], &path[i..]),
        None => (path, ""),
    };
    let new_path = if let Some(p) = &a.path_redirect {
        if p.contains('?') {
            p.clone()
        } else {
            format!("{p}{query}")
        }
    } else if let Some(pr) = &a.prefix_rewrite {
        match &route.matcher.path {
            PathMatch::Prefix(pre) if path_only.len() >= pre.len() => {
                format!("{pr}{}{query}", &path_only[pre.len()..])
            }
            _ => format!("{pr}{query}"),
        }
    } else {
        path.to_string()
    };
    match port {
        Some(p) => format!("{scheme}://{host}:{p}{new_path}"),
        None => format!("{scheme}://{host}{new_path}"),
    }
}

/// VS-23: the upstream path after `prefix_rewrite` or `regex_rewrite`.
fn rewrite_path(fwd: &ForwardAction, route: &Route, path: &str) -> Option<String> {
    let (path_only, query) = match path.find('?') {
        Some(i) => (&path[..i], &path[i..]),
        None => (path, ""),
    };
    if let Some(p) = &fwd.prefix_rewrite {
        return Some(match &route.matcher.path {
            PathMatch::Prefix(pre) if path_only.len() >= pre.len() => {
                let rest = &path_only[pre.len()..];
                let mut out = format!("{p}{rest}");
                if out.is_empty() {
                    out.push('/');
                }
                format!("{out}{query}")
            }
            _ => format!("{p}{query}"),
        });
    }
    if let Some(rr) = &fwd.regex_rewrite {
        let sub = envoy_substitution(&rr.substitution);
        let out = rr.pattern.replace_all(path_only, sub.as_str());
        return Some(format!("{out}{query}"));
    }
    None
}

/// Envoy's `\1` group references as the regex crate's `${1}`.
fn envoy_substitution(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' if chars.peek().is_some_and(char::is_ascii_digit) => {
                let mut n = String::new();
                while let Some(d) = chars.peek().filter(|d| d.is_ascii_digit()) {
                    n.push(*d);
                    chars.next();
                }
                out.push_str(&format!("${{{n}}}"));
            }
            '$' => out.push_str("$$"),
            c => out.push(c),
        }
    }
    out
}

fn hash_key(
    policies: &[HashPolicy],
    cluster: &Cluster,
    headers: &HeaderMap,
    path: &str,
    peer: SocketAddr,
) -> Option<u64> {
    let fallback;
    let list: &[HashPolicy] = if policies.is_empty() {
        match &cluster.lb {
            super::state::LoadBalancer::ConsistentHash(p) => {
                fallback = [p.clone()];
                &fallback
            }
            _ => return None,
        }
    } else {
        policies
    };
    for p in list {
        let v = match p {
            HashPolicy::Header(name) => header_str(headers, name).map(str::to_string),
            HashPolicy::Cookie { name, .. } => header_str(headers, "cookie").and_then(|c| {
                c.split(';').find_map(|kv| {
                    let (k, v) = kv.trim().split_once('=')?;
                    (k == name).then(|| v.to_string())
                })
            }),
            HashPolicy::SourceIp => Some(peer.ip().to_string()),
            HashPolicy::QueryParameter(q) => mesh_route::Request::new("", path)
                .query_param(q)
                .map(str::to_string),
        };
        if let Some(v) = v {
            return Some(mix(hash_str(&v)));
        }
    }
    None
}

fn has(retry_on: &str, token: &str) -> bool {
    retry_on.split(',').any(|t| t.trim() == token)
}

async fn outbound(
    shared: &Arc<Shared>,
    state: &Arc<MeshState>,
    conn: &ConnInfo,
    port: u16,
    req: Request<Incoming>,
    record: &mut Record,
) -> Response<RespBody> {
    let (parts, body) = req.into_parts();
    let path = normalized(parts.uri.path_and_query());
    let authority = parts
        .uri
        .authority()
        .map(|a| a.as_str().to_string())
        .or_else(|| header_str(&parts.headers, "host").map(str::to_string))
        .unwrap_or_default();
    let hdrs: Vec<(&str, &str)> = parts
        .headers
        .iter()
        .filter_map(|(k, v)| Some((k.as_str(), v.to_str().ok()?)))
        .collect();
    let rreq = mesh_route::Request {
        authority: &authority,
        method: parts.method.as_str(),
        path: &path,
        scheme: "http",
        headers: &hdrs,
        port,
        claims: &[],
        sni: None,
    };
    let decision = state.routes.route(&rreq);
    drop(hdrs);
    let hit = decision.route;
    record.route_name = hit.map(|h| h.route.name.clone()).filter(|n| !n.is_empty());
    let route = match decision.outcome {
        Outcome::UnknownHost => {
            record.flags.push("NR");
            record.details = "route_not_found".into();
            return if state.workload.kind == ProxyKind::Gateway
                || state.routes.passthrough_cluster() != Some("PassthroughCluster")
            {
                local(404, "")
            } else {
                local(502, "unknown host")
            };
        }
        Outcome::NoRouteMatched => {
            record.flags.push("NR");
            record.details = "route_not_found".into();
            return local(404, "");
        }
        Outcome::Rejected => {
            record.flags.push("NR");
            record.details = "route_configuration_rejected".into();
            return local(503, "route configuration rejected");
        }
        Outcome::TlsRequired => {
            let mut r = local(301, "");
            if let Ok(v) = HeaderValue::from_str(&format!("https://{authority}{path}")) {
                r.headers_mut().insert("location", v);
            }
            return r;
        }
        _ => match hit {
            Some(h) => h.route,
            None => return local(404, ""),
        },
    };
    let fwd = match &route.action {
        RouteAction::Redirect(a) => {
            let loc = redirect_location(a, route, "http", &authority, &path);
            let mut r = local(a.response_code as u16, "");
            if let Ok(v) = HeaderValue::from_str(&loc) {
                r.headers_mut().insert("location", v);
            }
            record.details = "direct_response".into();
            return r;
        }
        RouteAction::DirectResponse(d) => {
            let mut r = Response::new(full(d.body.clone().unwrap_or_default()));
            *r.status_mut() = StatusCode::from_u16(d.status as u16).unwrap_or(StatusCode::OK);
            record.details = "direct_response".into();
            return r;
        }
        RouteAction::Unsupported { .. } => return local(503, "route has no action"),
        RouteAction::Route(f) => f,
    };
    // Fault injection (VS-26): the delay first, then the abort.
    if let Some(f) = &route.fault {
        if let Some(d) = &f.delay
            && fires(&d.percentage)
        {
            record.flags.push("DI");
            tokio::time::sleep(d.fixed_delay).await;
        }
        if let Some(a) = &f.abort
            && a.percentage.as_ref().is_some_and(fires)
        {
            record.flags.push("FI");
            record.details = "fault_filter_abort".into();
            return match a.status {
                mesh_route::config::AbortStatus::HttpStatus(s) => {
                    local(s as u16, "fault filter abort")
                }
                mesh_route::config::AbortStatus::GrpcStatus(g) => {
                    let mut r = local(200, "");
                    if let Ok(v) = HeaderValue::from_str(&g.to_string()) {
                        r.headers_mut().insert("grpc-status", v);
                    }
                    r
                }
            };
        }
    }
    let dests = fwd.clusters.destinations();
    let weights: Vec<u32> = dests.iter().map(|d| d.weight).collect();
    let Some(i) = mesh_route::weighted::pick(&weights, random() as u32) else {
        record.details = "no_cluster".into();
        return local(503, "no cluster");
    };
    let dc: &DestinationCluster = &dests[i];
    record.cluster = Some(dc.name.clone());
    let Some(cluster) = state.clusters.get(&dc.name).cloned() else {
        record.flags.push("NC");
        record.details = "cluster_not_found".into();
        return local(503, "no cluster");
    };
    record.service = cluster.service.clone();
    let body = match read_body(body, shared.limits.max_request_body).await {
        Ok(b) => b,
        Err(r) => return r,
    };
    // Headers (VS-29): weighted-cluster operations, then the route's.
    let mut headers = parts.headers;
    for h in HOP_BY_HOP {
        headers.remove(h);
    }
    apply_header_ops(
        &mut headers,
        &dc.request_headers_to_remove,
        &dc.request_headers_to_add,
    );
    apply_header_ops(
        &mut headers,
        &route.request_headers_to_remove,
        &route.request_headers_to_add,
    );
    let host = fwd
        .host_rewrite_literal
        .clone()
        .or_else(|| dc.host_rewrite_literal.clone())
        .unwrap_or_else(|| authority.clone());
    if let Ok(v) = HeaderValue::from_str(&host) {
        headers.insert("host", v);
    }
    let upstream_path = match rewrite_path(fwd, route, &path) {
        Some(p) => {
            if let Ok(v) = HeaderValue::from_str(&path) {
                headers.insert("x-envoy-original-path", v);
            }
            p
        }
        None => path.clone(),
    };
    if state.workload.kind == ProxyKind::Gateway {
        let xff = match header_str(&headers, "x-forwarded-for") {
            Some(x) => format!("{x}, {}", conn.peer.ip()),
            None => conn.peer.ip().to_string(),
        };
        if let Ok(v) = HeaderValue::from_str(&xff) {
            headers.insert("x-forwarded-for", v);
        }
        headers.insert("x-forwarded-proto", HeaderValue::from_static("http"));
    }
    propagate(&mut headers);
    if let Ok(v) = HeaderValue::from_str(&shared.node_id) {
        headers.insert(PEER_ID_HEADER, v);
    }
    let hash = hash_key(&fwd.hash_policy, &cluster, &headers, &path, conn.peer);
    // Mirrors (VS-27): fire and forget.
    for m in &fwd.request_mirror_policies {
        if !fires(&m.runtime_fraction) {
            continue;
        }
        let Some(mc) = state.clusters.get(&m.cluster).cloned() else {
            continue;
        };
        let req = build(&parts.method, &upstream_path, &headers, &body);
        let shared = shared.clone();
        tokio::spawn(async move {
            if let Some(ep) = mc.pick(None, &[], random()) {
                let id = shared.identity();
                if let Ok(r) = shared
                    .pool
                    .send(
                        ep.addr,
                        ep.tls.as_ref(),
                        id.as_ref(),
                        req,
                        mc.connect_timeout,
                    )
                    .await
                {
                    let _ = r.into_body().collect().await;
                }
            }
        });
    }
    let resp = forward(
        shared,
        &cluster,
        fwd,
        &parts.method,
        &upstream_path,
        &headers,
        &body,
        hash,
        record,
    )
    .await;
    let mut resp = resp;
    apply_header_ops(
        resp.headers_mut(),
        &dc.response_headers_to_remove,
        &dc.response_headers_to_add,
    );
    apply_header_ops(
        resp.headers_mut(),
        &route.response_headers_to_remove,
        &route.response_headers_to_add,
    );
    if let Some(rid) = header_str(&headers, "x-request-id")
        && !resp.headers().contains_key("x-request-id")
        && let Ok(v) = HeaderValue::from_str(rid)
    {
        resp.headers_mut().insert("x-request-id", v);
    }
    resp
}

fn build(
    method: &hyper::Method,
    path: &str,
    headers: &HeaderMap,
    body: &Bytes,
) -> Request<Full<Bytes>> {
    let mut r = Request::new(Full::new(body.clone()));
    *r.method_mut() = method.clone();
    *r.uri_mut() = path
        .parse()
        .unwrap_or_else(|_| hyper::Uri::from_static("/"));
    *r.headers_mut() = headers.clone();
    r
}

enum Try {
    Done(Response<RespBody>),
    Retry(Response<RespBody>),
}

/// The router: endpoint choice, retries with per-try timeouts, all within
/// the route timeout.
#[allow(clippy::too_many_arguments)]
async fn forward(
    shared: &Arc<Shared>,
    cluster: &Arc<Cluster>,
    fwd: &ForwardAction,
    method: &hyper::Method,
    path: &str,
    headers: &HeaderMap,
    body: &Bytes,
    hash: Option<u64>,
    record: &mut Record,
) -> Response<RespBody> {
    let rp = fwd.retry_policy.as_ref();
    let retry_on = rp.map_or("", |r| r.retry_on.as_str());
    let tries = 1 + rp.map_or(0, |r| r.num_retries);
    let per_try = rp.and_then(|r| r.per_try_timeout);
    let base = rp
        .and_then(|r| r.backoff_base_interval)
        .unwrap_or(Duration::from_millis(25));
    let deadline = fwd.timeout.map(|t| Instant::now() + t);
    let previous_hosts = rp.is_some_and(|r| r.retry_previous_hosts);
    let identity = shared.identity();
    let mut tried: Vec<SocketAddr> = Vec::new();
    let mut last = local(503, "no healthy upstream");
    for attempt in 0..tries {
        if attempt > 0 {
            let cap = base
                .saturating_mul(1 << (attempt - 1).min(10))
                .min(base * 10);
            let jitter = Duration::from_nanos(random() % (cap.as_nanos() as u64).max(1));
            let wait = match deadline {
                Some(d) => jitter.min(d.saturating_duration_since(Instant::now())),
                None => jitter,
            };
            tokio::time::sleep(wait).await;
        }
        if let Some(max) = cluster.max_requests
            && cluster.active.load(Ordering::Relaxed) >= max
        {
            record.flags.push("UO");
            record.details = "upstream_overflow".into();
            return local(
                503,
                "upstream connect error or disconnect/reset before headers. reset reason: overflow",
            );
        }
        let avoid: &[SocketAddr] = if previous_hosts { &tried } else { &[] };
        let Some(ep) = cluster.pick(hash, avoid, random()) else {
            record.flags.push("UH");
            record.details = "no_healthy_upstream".into();
            return local(503, "no healthy upstream");
        };
        tried.push(ep.addr);
        record.attempts = attempt + 1;
        record.upstream = Some(ep.addr);
        record.upstream_tls = ep.tls.is_some();
        record.peer = ep.peer.clone();
        let now = Instant::now();
        let limit = match (per_try, deadline) {
            (Some(p), Some(d)) => Some((now + p).min(d)),
            (Some(p), None) => Some(now + p),
            (None, Some(d)) => Some(d),
            (None, None) => None,
        };
        let req = build(method, path, headers, body);
        match attempt_once(shared, cluster, &ep, identity.as_ref(), req, limit).await {
            Ok(resp) => {
                record.upstream_time = Some(now.elapsed());
                let status = resp.status().as_u16();
                let grpc = header_str(resp.headers(), "grpc-status").unwrap_or("");
                let retriable = (has(retry_on, "5xx") && status >= 500)
                    || (has(retry_on, "gateway-error") && matches!(status, 502..=504))
                    || (has(retry_on, "retriable-4xx") && status == 409)
                    || (has(retry_on, "retriable-status-codes")
                        && rp.is_some_and(|r| {
                            r.retriable_status_codes.contains(&u32::from(status))
                        }))
                    || (has(retry_on, "unavailable") && grpc == "14")
                    || (has(retry_on, "cancelled") && grpc == "1");
                match if retriable && attempt + 1 < tries {
                    Try::Retry(resp)
                } else {
                    Try::Done(resp)
                } {
                    Try::Done(r) => {
                        record.details = "via_upstream".into();
                        return r;
                    }
                    Try::Retry(r) => {
                        last = r;
                        continue;
                    }
                }
            }
            Err(Failure::Timeout) => {
                let route_expired = deadline.is_some_and(|d| Instant::now() >= d);
                if route_expired {
                    record.flags.push("UT");
                    record.details = "upstream_response_timeout".into();
                    return local(504, "upstream request timeout");
                }
                last = local(504, "upstream request timeout");
                record.details = "upstream_per_try_timeout".into();
                let retriable = has(retry_on, "5xx")
                    || has(retry_on, "gateway-error")
                    || has(retry_on, "reset");
                if !(retriable && attempt + 1 < tries) {
                    record.flags.push("UT");
                    return last;
                }
            }
            Err(Failure::Upstream(e)) => {
                let connect = matches!(e, UpstreamError::Connect(_));
                record.details = if connect {
                    "upstream_reset_before_response_started{connection_failure}".into()
                } else {
                    "upstream_reset_before_response_started{remote_reset}".into()
                };
                last = local(
                    503,
                    &format!(
                        "upstream connect error or disconnect/reset before headers. reset reason: {}",
                        if connect {
                            "connection failure"
                        } else {
                            "remote reset"
                        }
                    ),
                );
                let retriable = if connect {
                    has(retry_on, "connect-failure")
                        || has(retry_on, "5xx")
                        || has(retry_on, "gateway-error")
                        || has(retry_on, "reset")
                } else {
                    has(retry_on, "reset") || has(retry_on, "5xx")
                };
                if !(retriable && attempt + 1 < tries) {
                    record.flags.push(if connect { "UF" } else { "UC" });
                    if attempt > 0 {
                        record.flags.push("URX");
                    }
                    return last;
                }
            }
        }
    }
    if tries > 1 {
        record.flags.push("URX");
    }
    last
}

enum Failure {
    Timeout,
    Upstream(UpstreamError),
}

async fn attempt_once(
    shared: &Arc<Shared>,
    cluster: &Cluster,
    ep: &Arc<Endpoint>,
    identity: Option<&Arc<super::tls::Identity>>,
    req: Request<Full<Bytes>>,
    limit: Option<Instant>,
) -> Result<Response<RespBody>, Failure> {
    ep.health.active.fetch_add(1, Ordering::Relaxed);
    cluster.active.fetch_add(1, Ordering::Relaxed);
    let fut = shared.pool.send(
        ep.addr,
        ep.tls.as_ref(),
        identity,
        req,
        cluster.connect_timeout,
    );
    let res = match limit {
        Some(l) => match tokio::time::timeout_at(l.into(), fut).await {
            Ok(r) => r.map_err(Failure::Upstream),
            Err(_) => Err(Failure::Timeout),
        },
        None => fut.await.map_err(Failure::Upstream),
    };
    ep.health.active.fetch_sub(1, Ordering::Relaxed);
    cluster.active.fetch_sub(1, Ordering::Relaxed);
    match res {
        Ok(resp) => {
            cluster.observe(ep, Some(resp.status().as_u16()));
            Ok(resp.map(BodyExt::boxed_unsync))
        }
        Err(e) => {
            cluster.observe(ep, None);
            Err(e)
        }
    }
}

fn peer_from_node_id(h: &HeaderMap) -> PeerInfo {
    // sidecar~IP~NAME.NS~NS.svc.cluster.local
    let Some(id) = header_str(h, PEER_ID_HEADER) else {
        return PeerInfo::default();
    };
    let mut parts = id.split('~');
    let (_, _, name_ns) = (parts.next(), parts.next(), parts.next());
    match name_ns.and_then(|n| n.rsplit_once('.')) {
        Some((name, ns)) => PeerInfo {
            workload: Some(name.to_string()),
            namespace: Some(ns.to_string()),
            ..PeerInfo::default()
        },
        None => PeerInfo::default(),
    }
}

async fn inbound(
    shared: &Arc<Shared>,
    state: &Arc<MeshState>,
    conn: &ConnInfo,
    target_port: u16,
    app: SocketAddr,
    req: Request<Incoming>,
    record: &mut Record,
) -> Response<RespBody> {
    let (parts, body) = req.into_parts();
    let path = normalized(parts.uri.path_and_query());
    let mut peer = peer_from_node_id(&parts.headers);
    peer.principal = conn.principal.clone();
    let peer = Arc::new(peer);
    record.peer = peer.clone();
    record.service = Arc::new(
        state
            .inbound_services
            .get(&target_port)
            .cloned()
            .unwrap_or_default(),
    );
    // Authentication and authorization (RA-2, AZ-1).
    let mut areq = mesh_authz::request::Request::http(parts.method.as_str(), &path)
        .with_port(target_port)
        .with_source_ip(conn.peer.ip())
        .with_destination_ip(conn.local.ip());
    if let Some(a) = parts.uri.authority() {
        areq = areq.with_host(a.as_str());
    }
    for (k, v) in &parts.headers {
        if let Ok(v) = v.to_str() {
            areq = areq.with_header(k.as_str(), v);
        }
    }
    if let Some(p) = &conn.principal {
        areq = areq.with_peer_principal(p);
    }
    if let Some(s) = &conn.sni {
        areq = areq.with_sni(s);
    }
    let now = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let jwt = state.jwt.authenticate(&areq, now);
    let jwt_error = match &jwt {
        JwtOutcome::Invalid(e) => Some(e.to_string()),
        _ => None,
    };
    let areq = jwt.apply(areq);
    let d = state.authz.decide(&areq);
    record.authz_policy = d.rule.map(|r| r.policy.id());
    record.authz_rule = d.rule.map(|r| r.rule);
    record.authz_reason = Some(d.reason.describe());
    match d.verdict {
        Verdict::Allow => {}
        Verdict::Deny => {
            let status = d.deny_status().unwrap_or(403);
            if status == 401 {
                record.details = format!(
                    "jwt_authn_access_denied{{{}}}",
                    jwt_error.as_deref().unwrap_or("invalid")
                );
                return local(401, "Jwt verification fails");
            }
            record.details = match d.rule {
                Some(r) => format!("rbac_access_denied_matched_policy[{}]", r.envoy_name()),
                None => "rbac_access_denied_matched_policy[none]".into(),
            };
            record.flags.push("RBAC");
            return local(status, "RBAC: access denied");
        }
        Verdict::Custom => {
            // No ext_authz client here: fail closed.
            record.flags.push("UAEX");
            record.details = "ext_authz_unavailable".into();
            return local(403, "RBAC: access denied");
        }
    }
    let body = match read_body(body, shared.limits.max_request_body).await {
        Ok(b) => b,
        Err(r) => return r,
    };
    let mut headers = parts.headers;
    for h in HOP_BY_HOP {
        headers.remove(h);
    }
    headers.remove(PEER_ID_HEADER);
    headers.remove("x-forwarded-client-cert");
    if let Some(p) = &conn.principal {
        let xfcc = format!("By=spiffe://{};URI=spiffe://{p}", state.principal());
        if let Ok(v) = HeaderValue::from_str(&xfcc) {
            headers.insert("x-forwarded-client-cert", v);
        }
    }
    headers.insert("x-forwarded-proto", HeaderValue::from_static("http"));
    if !headers.contains_key("x-request-id")
        && let Ok(v) = HeaderValue::from_str(&super::telemetry::request_id())
    {
        headers.insert("x-request-id", v);
    }
    let name = format!("inbound|{target_port}||");
    record.cluster = Some(name.clone());
    let Some(cluster) = state.clusters.get(&name).cloned() else {
        return local(503, "no cluster");
    };
    let _ = app;
    let fwd = ForwardAction {
        clusters: mesh_route::config::ClusterSpecifier::WeightedClusters(Vec::new()),
        timeout: None,
        max_grpc_timeout: None,
        retry_policy: None,
        prefix_rewrite: None,
        regex_rewrite: None,
        host_rewrite_literal: None,
        request_mirror_policies: Vec::new(),
        hash_policy: Vec::new(),
    };
    let mut resp = forward(
        shared,
        &cluster,
        &fwd,
        &parts.method,
        &path,
        &headers,
        &body,
        None,
        record,
    )
    .await;
    // Telemetry's peer is the client, not the application.
    record.peer = peer;
    if let Some(rid) = header_str(&headers, "x-request-id")
        && !resp.headers().contains_key("x-request-id")
        && let Ok(v) = HeaderValue::from_str(rid)
    {
        resp.headers_mut().insert("x-request-id", v);
    }
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn envoy_group_references() {
        assert_eq!(envoy_substitution(r"/v2/\1/x"), "/v2/${1}/x");
        assert_eq!(envoy_substitution("a$b"), "a$$b");
    }
}
