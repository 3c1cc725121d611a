//! DestinationRule: the domain type and its webhook rules (VAL-DR-*).
//!
//! Traffic-policy pieces keep their wire types (they are already typed
//! enums and scalars); durations in them are validated here, so readers may
//! parse them with [`crate::duration::parse_duration`] without failing.

use super::common::{ExportTo, duration_field, labels, workload_selector};
use crate::config::Cx;
use crate::host::Hostname;
use crate::labels::{Labels, Selector};
use crate::validation;
use crate::wire::networking as w;
use serde::Serialize;

/// A DestinationRule.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DestinationRule {
    /// The host, resolved in the rule's namespace (HOST-1).
    pub host: Hostname,
    /// The top-level traffic policy.
    pub traffic_policy: Option<TrafficPolicy>,
    /// Subsets.
    pub subsets: Vec<Subset>,
    /// Visibility.
    pub export_to: ExportTo,
    /// Client workloads the rule applies to (DR-1); `None` for all.
    pub workload_selector: Option<Selector>,
}

impl DestinationRule {
    /// The subset named `name`.
    pub fn subset(&self, name: &str) -> Option<&Subset> {
        self.subsets.iter().find(|s| s.name == name)
    }
}

/// A subset.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Subset {
    /// The name.
    pub name: String,
    /// Endpoints whose labels contain these belong to the subset (DR-3).
    pub labels: Labels,
    /// The subset's traffic policy (overrides field by field, DR-4).
    pub traffic_policy: Option<TrafficPolicy>,
}

/// A traffic policy.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TrafficPolicy {
    /// Load balancing.
    pub load_balancer: Option<w::LoadBalancerSettings>,
    /// Connection pool (circuit breakers).
    pub connection_pool: Option<w::ConnectionPoolSettings>,
    /// Outlier detection.
    pub outlier_detection: Option<w::OutlierDetection>,
    /// Client TLS.
    pub tls: Option<w::ClientTlsSettings>,
    /// Port-level policies, by port number.
    pub port_level_settings: Vec<PortTrafficPolicy>,
    /// PROXY protocol.
    pub proxy_protocol: Option<w::ProxyProtocol>,
    /// Tunnel.
    pub tunnel: Option<w::TunnelSettings>,
    /// Retry budget.
    pub retry_budget: Option<w::RetryBudget>,
}

/// A port-level policy: replaces the top-level one for its port (DR-4).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PortTrafficPolicy {
    /// The port.
    pub port: u16,
    /// Load balancing.
    pub load_balancer: Option<w::LoadBalancerSettings>,
    /// Connection pool.
    pub connection_pool: Option<w::ConnectionPoolSettings>,
    /// Outlier detection.
    pub outlier_detection: Option<w::OutlierDetection>,
    /// Client TLS.
    pub tls: Option<w::ClientTlsSettings>,
}

impl TrafficPolicy {
    /// The port-level entry for `port`.
    pub fn port_level(&self, port: u16) -> Option<&PortTrafficPolicy> {
        self.port_level_settings.iter().find(|p| p.port == port)
    }
}

impl DestinationRule {
    pub(crate) fn convert(s: &w::DestinationRule, cx: &mut Cx<'_>) -> DestinationRule {
        let host = s.host.as_deref().unwrap_or("");
        cx.field("host", |cx| {
            cx.check("VAL-H1", validation::wildcard_domain(host))
        });
        let traffic_policy = s
            .traffic_policy
            .as_ref()
            .map(|p| cx.field("trafficPolicy", |cx| TrafficPolicy::convert(p, cx)));
        let mut subsets = Vec::new();
        if let Some(ss) = &s.subsets {
            cx.field("subsets", |cx| {
                let mut names: Vec<&str> = Vec::new();
                for (i, sub) in ss.iter().enumerate() {
                    cx.index(i, |cx| {
                        let name = sub.name.as_deref().unwrap_or("");
                        cx.field("name", |cx| {
                            if names.contains(&name) {
                                cx.error("VAL-DR-2", format!("duplicate subset names: {name}"));
                            }
                            if name.is_empty() {
                                cx.error("VAL-DR-2", "subset name cannot be empty");
                            } else if !validation::is_dns_label(name) {
                                cx.error("VAL-DR-2", format!("subset name is invalid: {name}"));
                            }
                        });
                        names.push(name);
                        let labels = labels(sub.labels.as_ref(), "labels", "VAL-DR-2", cx);
                        let traffic_policy = sub
                            .traffic_policy
                            .as_ref()
                            .map(|p| cx.field("trafficPolicy", |cx| TrafficPolicy::convert(p, cx)));
                        subsets.push(Subset {
                            name: name.to_string(),
                            labels,
                            traffic_policy,
                        });
                    });
                }
            });
        }
        let export_to = ExportTo::convert(
            s.export_to.as_ref(),
            false,
            s.workload_selector.is_some(),
            cx,
        );
        let workload_selector = s.workload_selector.as_ref().map(|sel| {
            cx.field("workloadSelector", |cx| {
                Selector(workload_selector(sel.match_labels.as_ref(), "VAL-DR-7", cx))
            })
        });
        DestinationRule {
            host: cx.resolve(host),
            traffic_policy,
            subsets,
            export_to,
            workload_selector,
        }
    }
}

impl TrafficPolicy {
    fn convert(p: &w::TrafficPolicy, cx: &mut Cx<'_>) -> TrafficPolicy {
        let out = TrafficPolicy {
            load_balancer: p.load_balancer.clone(),
            connection_pool: p.connection_pool.clone(),
            outlier_detection: p.outlier_detection.clone(),
            tls: p.tls.clone(),
            port_level_settings: Vec::new(),
            proxy_protocol: p.proxy_protocol.clone(),
            tunnel: p.tunnel.clone(),
            retry_budget: p.retry_budget.clone(),
        };
        // `validateTrafficPolicy` stops at these two.
        if p.outlier_detection.is_none()
            && p.connection_pool.is_none()
            && p.load_balancer.is_none()
            && p.tls.is_none()
            && p.port_level_settings.is_none()
            && p.tunnel.is_none()
            && p.proxy_protocol.is_none()
            && p.retry_budget.is_none()
        {
            cx.error("VAL-DR-1", "traffic policy must have at least one field");
            return out;
        }
        if p.tunnel.is_some() && p.proxy_protocol.is_some() {
            cx.error(
                "VAL-DR-1",
                "tunnel and proxyProtocol must not be set together",
            );
            return out;
        }
        check_policy_parts(
            p.load_balancer.as_ref(),
            p.connection_pool.as_ref(),
            p.outlier_detection.as_ref(),
            p.tls.as_ref(),
            cx,
        );
        if let Some(t) = &p.tunnel {
            cx.field("tunnel", |cx| {
                let proto = t.protocol.as_deref().unwrap_or("");
                if !matches!(proto, "" | "CONNECT" | "POST") {
                    cx.field("protocol", |cx| {
                        cx.error("VAL-DR-1", "tunnel protocol must be \"CONNECT\" or \"POST\"")
                    });
                }
                let target = t.target_host.as_deref().unwrap_or("");
                if let Err(fqdn) = validation::fqdn(target)
                    && !validation::is_ip(target)
                {
                    cx.field("targetHost", |cx| {
                        cx.error(
                            "VAL-DR-1",
                            format!("tunnel target host must be valid FQDN or IP address: {fqdn}; {target} is not a valid IP"),
                        )
                    });
                }
                let port = t.target_port.unwrap_or(0);
                if let Err(e) = validation::port(port.into()) {
                    cx.field("targetPort", |cx| {
                        cx.error("VAL-P1", format!("tunnel target port is invalid: {e}"))
                    });
                }
            });
        }
        let mut port_level_settings = Vec::new();
        if let Some(pls) = &p.port_level_settings {
            cx.field("portLevelSettings", |cx| {
                for (i, pl) in pls.iter().enumerate() {
                    cx.index(i, |cx| {
                        if pl.port.is_none() {
                            cx.error("VAL-DR-1", "portTrafficPolicy must have valid port");
                        }
                        if pl.outlier_detection.is_none()
                            && pl.connection_pool.is_none()
                            && pl.load_balancer.is_none()
                            && pl.tls.is_none()
                        {
                            cx.error(
                                "VAL-DR-1",
                                "port traffic policy must have at least one field",
                            );
                        } else {
                            check_policy_parts(
                                pl.load_balancer.as_ref(),
                                pl.connection_pool.as_ref(),
                                pl.outlier_detection.as_ref(),
                                pl.tls.as_ref(),
                                cx,
                            );
                        }
                        let port = pl.port.as_ref().and_then(|p| p.number);
                        port_level_settings.push(PortTrafficPolicy {
                            port: port.and_then(|p| u16::try_from(p).ok()).unwrap_or(0),
                            load_balancer: pl.load_balancer.clone(),
                            connection_pool: pl.connection_pool.clone(),
                            outlier_detection: pl.outlier_detection.clone(),
                            tls: pl.tls.clone(),
                        });
                    });
                }
            });
        }
        TrafficPolicy {
            port_level_settings,
            ..out
        }
    }
}

fn check_policy_parts(
    lb: Option<&w::LoadBalancerSettings>,
    pool: Option<&w::ConnectionPoolSettings>,
    outlier: Option<&w::OutlierDetection>,
    tls: Option<&w::ClientTlsSettings>,
    cx: &mut Cx<'_>,
) {
    if let Some(o) = outlier {
        cx.field("outlierDetection", |cx| outlier_detection(o, cx));
    }
    if let Some(pool) = pool {
        cx.field("connectionPool", |cx| connection_pool(pool, cx));
    }
    if let Some(lb) = lb {
        cx.field("loadBalancer", |cx| {
            load_balancer(lb, outlier.is_some(), cx)
        });
    }
    if let Some(t) = tls {
        cx.field("tls", |cx| client_tls(t, cx));
    }
}

/// Envoy's `isPrime` (which Istio copies): 1, 2 and 3 are prime; 0 is not.
/// Decided by a deterministic Miller-Rabin test, so that a huge table size
/// costs nothing (trial division up to the square root of a 64-bit prime
/// takes seconds).
fn is_prime(x: u64) -> bool {
    if x != 0 && x < 4 {
        return true;
    }
    if x.is_multiple_of(2) {
        return false;
    }
    for p in [3u64, 5, 7, 11, 13, 17, 19, 23, 29, 31, 37] {
        if x == p {
            return true;
        }
        if x.is_multiple_of(p) {
            return false;
        }
    }
    let mul = |a: u64, b: u64| (u128::from(a) * u128::from(b) % u128::from(x)) as u64;
    let pow = |mut b: u64, mut e: u64| {
        let mut r = 1u64;
        while e > 0 {
            if e & 1 == 1 {
                r = mul(r, b);
            }
            b = mul(b, b);
            e >>= 1;
        }
        r
    };
    let (mut d, mut s) = (x - 1, 0u32);
    while d.is_multiple_of(2) {
        d /= 2;
        s += 1;
    }
    // These bases decide every 64-bit number.
    'bases: for a in [2u64, 3, 5, 7, 11, 13, 17, 19, 23, 29, 31, 37] {
        let mut y = pow(a, d);
        if y == 1 || y == x - 1 {
            continue;
        }
        for _ in 1..s {
            y = mul(y, y);
            if y == x - 1 {
                continue 'bases;
            }
        }
        return false;
    }
    true
}

/// VAL-DR-5 (`validateLoadBalancer`).
fn load_balancer(lb: &w::LoadBalancerSettings, has_outlier: bool, cx: &mut Cx<'_>) {
    if let Some(ch) = &lb.consistent_hash {
        cx.field("consistentHash", |cx| {
            if let Some(c) = &ch.http_cookie {
                cx.field("httpCookie", |cx| {
                    if c.name.as_deref().unwrap_or("").is_empty() {
                        cx.error("VAL-DR-5", "name required for HttpCookie");
                    }
                    let mut names: Vec<&str> = Vec::new();
                    for (i, a) in c.attributes.iter().flatten().enumerate() {
                        let name = a.name.as_deref().unwrap_or("");
                        cx.field("attributes", |cx| {
                            cx.index(i, |cx| {
                                if name.is_empty() {
                                    cx.error("VAL-DR-5", "cookie attribute name cannot be empty");
                                } else if names.contains(&name) {
                                    cx.error(
                                        "VAL-DR-5",
                                        format!("duplicate cookie attribute name: {name}"),
                                    );
                                } else {
                                    names.push(name);
                                }
                            })
                        });
                    }
                });
            }
            let ring = ch.minimum_ring_size.unwrap_or(0);
            if ring != 0 {
                cx.field("minimumRingSize", |cx| {
                    cx.warn(
                        "VAL-DR-5",
                        "consistent hash MinimumRingSize is deprecated, use ConsistentHashLB's RingHash configuration instead",
                    );
                    if ch.maglev.is_some() || ch.ring_hash.is_some() {
                        cx.error(
                            "VAL-DR-5",
                            "only one of MinimumRingSize or Maglev/Ringhash can be specified",
                        );
                    }
                });
            }
            if let Some(m) = &ch.maglev {
                let size = m.table_size.unwrap_or(0);
                cx.field("maglev", |cx| {
                    cx.field("tableSize", |cx| {
                        if size == 0 {
                            cx.error("VAL-DR-5", "tableSize must be set for maglev");
                        }
                        if size >= 5_000_011 {
                            cx.error("VAL-DR-5", "tableSize must be less than 5000011 for maglev");
                        }
                        if !is_prime(size) {
                            cx.error("VAL-DR-5", "tableSize must be a prime number for maglev");
                        }
                    })
                });
            }
        });
    }
    if lb.locality_lb_setting.is_some() && lb.zone_aware_lb_setting.is_some() {
        cx.error(
            "VAL-DR-5",
            "only one of localityLbSetting and zoneAwareLbSetting can be set",
        );
    }
    if let Some(l) = &lb.locality_lb_setting {
        cx.field("localityLbSetting", |cx| locality_lb(l, has_outlier, cx));
    }
    if let Some(z) = &lb.zone_aware_lb_setting {
        cx.field("zoneAwareLbSetting", |cx| zone_aware_lb(z, has_outlier, cx));
    }
    if let Some(wu) = &lb.warmup {
        cx.field("warmup", |cx| {
            if wu.duration.is_none() {
                cx.error("VAL-DR-5", "duration is required");
            }
            let _ = duration_field(wu.duration.as_ref(), "duration", "VAL-D1", cx);
            if wu.minimum_percent.is_some_and(|p| p > 100.0) {
                cx.field("minimumPercent", |cx| {
                    cx.error(
                        "VAL-DR-5",
                        "minimumPercent value should be less than or equal to 100",
                    )
                });
            }
            if wu.aggression.is_some_and(|a| a <= 0.0) {
                cx.field("aggression", |cx| {
                    cx.error("VAL-DR-5", "aggression should be greater than 0")
                });
            }
        });
    }
}

const TOPOLOGY_LABELS: &[&str] = &[
    "topology.kubernetes.io/region",
    "topology.kubernetes.io/zone",
    "topology.istio.io/subzone",
];

/// `ValidateLocalityLbSetting` (VAL-DR-5).
fn locality_lb(l: &w::LocalityLoadBalancerSetting, has_outlier: bool, cx: &mut Cx<'_>) {
    let distribute = l.distribute.as_deref().unwrap_or_default();
    let failover = l.failover.as_deref().unwrap_or_default();
    let priority = l.failover_priority.as_deref().unwrap_or_default();
    if !distribute.is_empty() && !failover.is_empty() {
        cx.error(
            "VAL-DR-5",
            "can not simultaneously specify 'distribute' and 'failover'",
        );
        return;
    }
    if !failover.is_empty()
        && let Some(p) = priority
            .iter()
            .find(|p| TOPOLOGY_LABELS.contains(&p.as_str()))
    {
        cx.error(
            "VAL-DR-5",
            format!("can not simultaneously set 'failover' and topology label '{p}' in 'failover_priority'"),
        );
        return;
    }
    let mut sources = Vec::new();
    for (i, d) in distribute.iter().enumerate() {
        sources.push(d.from.clone().unwrap_or_default());
        let to = d.to.clone().unwrap_or_default();
        let mut total: u64 = 0;
        for w in to.values() {
            if *w == 0 || *w > 100 {
                cx.field("distribute", |cx| {
                    cx.index(i, |cx| {
                        cx.error("VAL-DR-5", "locality weight must be in range [1, 100]")
                    })
                });
                return;
            }
            total += u64::from(*w);
        }
        if total != 100 {
            cx.field("distribute", |cx| {
                cx.index(i, |cx| {
                    cx.error("VAL-DR-5", format!("total locality weight {total} != 100"))
                })
            });
            return;
        }
        let dests: Vec<String> = to.into_keys().collect();
        if let Err(e) = localities(&dests) {
            cx.field("distribute", |cx| cx.index(i, |cx| cx.error("VAL-DR-5", e)));
        }
    }
    if let Err(e) = localities(&sources) {
        cx.field("distribute", |cx| cx.error("VAL-DR-5", e));
    }
    if (!failover.is_empty() || !priority.is_empty()) && !has_outlier {
        cx.warn(
            "VAL-DR-5",
            "outlier detection policy must be provided for failover",
        );
    }
    failovers(failover, "locality lb failover", cx);
}

/// `ValidateZoneAwareLbSetting` (VAL-DR-5).
fn zone_aware_lb(z: &w::ZoneAwareLoadBalancerSetting, has_outlier: bool, cx: &mut Cx<'_>) {
    let failover = z.failover.as_deref().unwrap_or_default();
    let priority = z.failover_priority.as_deref().unwrap_or_default();
    for p in priority {
        if TOPOLOGY_LABELS.contains(&p.as_str()) {
            cx.field("failoverPriority", |cx| {
                cx.error(
                    "VAL-DR-5",
                    format!("'failover_priority' for zone aware lb must not use topology label '{p}'; region- and zone-level routing are handled automatically"),
                )
            });
        }
    }
    if (!failover.is_empty() || !priority.is_empty()) && !has_outlier {
        cx.warn(
            "VAL-DR-5",
            "outlier detection policy must be provided for failover",
        );
    }
    failovers(failover, "zone aware lb failover", cx);
}

fn failovers(list: &[w::LocalityFailover], what: &str, cx: &mut Cx<'_>) {
    cx.field("failover", |cx| {
        for (i, f) in list.iter().enumerate() {
            let from = f.from.as_deref().unwrap_or("");
            let to = f.to.as_deref().unwrap_or("");
            cx.index(i, |cx| {
                if from == to {
                    let head = what.strip_suffix(" failover").unwrap_or(what);
                    cx.error(
                        "VAL-DR-5",
                        format!("{head} failover settings must specify different regions"),
                    );
                }
                if from.contains('/') || to.contains('/') {
                    cx.error(
                        "VAL-DR-5",
                        if what.starts_with("zone") {
                            "zone aware lb failover only specifies region; zone and subzone failover are handled automatically"
                        } else {
                            "locality lb failover only specify region"
                        },
                    );
                }
                if from.contains('*') || to.contains('*') {
                    cx.error(
                        "VAL-DR-5",
                        format!("{what} region should not contain '*' wildcard"),
                    );
                }
            });
        }
    });
}

/// `validateLocalities`: `region[/zone[/subzone]]`, `*` only last and
/// once, no empty part, no locality overlapping an earlier one.
fn localities(list: &[String]) -> Result<(), String> {
    use std::collections::{BTreeMap, BTreeSet};
    // region → zone → subzones; "*" marks "all of it".
    let mut seen: BTreeMap<&str, BTreeMap<&str, BTreeSet<&str>>> = BTreeMap::new();
    for loc in list {
        let overlap = || format!("locality {loc} overlap with previous specified ones");
        let stars = loc.matches('*').count();
        if stars > 1 || (stars == 1 && !loc.ends_with('*')) {
            return Err(format!(
                "locality {loc} wildcard '*' number can not exceed 1 and must be in the end"
            ));
        }
        if seen.contains_key("*") {
            return Err(overlap());
        }
        let parts: Vec<&str> = loc.splitn(3, '/').collect();
        if parts.iter().any(|p| p.is_empty()) {
            return Err(format!(
                "locality {loc} must not contain empty region/zone/subzone info"
            ));
        }
        match parts.as_slice() {
            [region] => {
                if seen.contains_key(region) {
                    return Err(overlap());
                }
                seen.insert(region, BTreeMap::from([("*", BTreeSet::from(["*"]))]));
            }
            [region, zone] => match seen.get_mut(region) {
                Some(zones) => {
                    if zones.contains_key("*") || zones.contains_key(zone) {
                        return Err(overlap());
                    }
                    zones.insert(zone, BTreeSet::from(["*"]));
                }
                None => {
                    seen.insert(region, BTreeMap::from([(*zone, BTreeSet::from(["*"]))]));
                }
            },
            [region, zone, sub] => match seen.get_mut(region) {
                Some(zones) => {
                    if zones.contains_key("*") {
                        return Err(overlap());
                    }
                    match zones.get_mut(zone) {
                        Some(subs) => {
                            if subs.contains("*") || subs.contains(sub) {
                                return Err(overlap());
                            }
                            subs.insert(sub);
                        }
                        None => {
                            zones.insert(zone, BTreeSet::from([*sub]));
                        }
                    }
                }
                None => {
                    seen.insert(region, BTreeMap::from([(*zone, BTreeSet::from([*sub]))]));
                }
            },
            _ => {}
        }
    }
    Ok(())
}

/// VAL-DR-3 (`validateConnectionPool`).
pub(crate) fn connection_pool(p: &w::ConnectionPoolSettings, cx: &mut Cx<'_>) {
    if p.http.is_none() && p.tcp.is_none() {
        cx.error("VAL-DR-3", "connection pool must have at least one field");
        return;
    }
    if let Some(h) = &p.http {
        cx.field("http", |cx| {
            for (name, what, v) in [
                (
                    "http1MaxPendingRequests",
                    "http1 max pending requests",
                    h.http1_max_pending_requests,
                ),
                (
                    "http2MaxRequests",
                    "http2 max requests",
                    h.http2_max_requests,
                ),
                (
                    "maxRequestsPerConnection",
                    "max requests per connection",
                    h.max_requests_per_connection,
                ),
                ("maxRetries", "max retries", h.max_retries),
                (
                    "maxConcurrentStreams",
                    "max concurrent streams",
                    h.max_concurrent_streams,
                ),
            ] {
                if v.is_some_and(|v| v < 0) {
                    cx.field(name, |cx| {
                        cx.error("VAL-DR-3", format!("{what} must be non-negative"))
                    });
                }
            }
            let _ = duration_field(h.idle_timeout.as_ref(), "idleTimeout", "VAL-D1", cx);
            if h.use_client_protocol == Some(true)
                && h.h2_upgrade_policy == Some(w::H2UpgradePolicy::Upgrade)
            {
                cx.error(
                    "VAL-DR-3",
                    "use client protocol must not be true when H2UpgradePolicy is UPGRADE",
                );
            }
            if let Some(k) = &h.http2_keep_alive {
                cx.field("http2KeepAlive", |cx| {
                    if k.interval.is_none() {
                        cx.error("VAL-DR-3", "http2 keepalive interval is required");
                    }
                    if k.timeout.is_none() {
                        cx.error("VAL-DR-3", "http2 keepalive timeout is required");
                    }
                    let _ = duration_field(k.interval.as_ref(), "interval", "VAL-D1", cx);
                    let _ = duration_field(k.timeout.as_ref(), "timeout", "VAL-D1", cx);
                });
            }
        });
    }
    if let Some(t) = &p.tcp {
        cx.field("tcp", |cx| {
            if t.max_connections.is_some_and(|v| v < 0) {
                cx.field("maxConnections", |cx| {
                    cx.error("VAL-DR-3", "max connections must be non-negative")
                });
            }
            let _ = duration_field(t.connect_timeout.as_ref(), "connectTimeout", "VAL-D1", cx);
            let _ = duration_field(
                t.max_connection_duration.as_ref(),
                "maxConnectionDuration",
                "VAL-D1",
                cx,
            );
            // An idle timeout under 1ms ("0s") disables it and is not checked.
            let idle_off = t
                .idle_timeout
                .as_deref()
                .and_then(|d| crate::duration::parse_duration(d).ok())
                .is_some_and(|d| d.as_millis() == 0);
            if !idle_off {
                let _ = duration_field(t.idle_timeout.as_ref(), "idleTimeout", "VAL-D1", cx);
            }
            if let Some(k) = &t.tcp_keepalive {
                cx.field("tcpKeepalive", |cx| {
                    let _ = duration_field(k.time.as_ref(), "time", "VAL-D1", cx);
                    let _ = duration_field(k.interval.as_ref(), "interval", "VAL-D1", cx);
                });
            }
        });
    }
}

/// VAL-DR-4 (`validateOutlierDetection`).
fn outlier_detection(o: &w::OutlierDetection, cx: &mut Cx<'_>) {
    let _ = duration_field(
        o.base_ejection_time.as_ref(),
        "baseEjectionTime",
        "VAL-D1",
        cx,
    );
    if o.consecutive_errors.is_some_and(|n| n != 0) {
        cx.field("consecutiveErrors", |cx| {
            cx.warn(
                "VAL-DR-4",
                "outlier detection consecutive errors is deprecated, use consecutiveGatewayErrors or consecutive5xxErrors instead",
            )
        });
    }
    if o.split_external_local_origin_errors != Some(true)
        && o.consecutive_local_origin_failures.is_some_and(|n| n > 0)
    {
        cx.field("consecutiveLocalOriginFailures", |cx| {
            cx.error(
                "VAL-DR-4",
                "outlier detection consecutive local origin failures is specified, but split external local origin errors is set to false",
            )
        });
    }
    let _ = duration_field(o.interval.as_ref(), "interval", "VAL-D1", cx);
    for (name, v) in [
        ("maxEjectionPercent", o.max_ejection_percent),
        ("minHealthPercent", o.min_health_percent),
    ] {
        if let Some(v) = v
            && !(0..=100).contains(&v)
        {
            cx.field(name, |cx| {
                cx.error("VAL-DR-4", format!("percentage {v} is not in range 0..100"))
            });
        }
    }
}

/// VAL-DR-6 (`ValidateTLS`).
fn client_tls(t: &w::ClientTlsSettings, cx: &mut Cx<'_>) {
    let mode = t.mode.unwrap_or(w::ClientTlsMode::Disable);
    let set = |v: &Option<String>| v.as_deref().is_some_and(|s| !s.is_empty());
    let credential = t.credential_name.as_deref().unwrap_or("");
    if let Some(rest) = credential.strip_prefix("configmap://") {
        let ns = match rest.split_once('/') {
            Some((ns, _)) => ns,
            None => cx.namespace,
        };
        if ns != cx.namespace || cx.namespace.is_empty() {
            let own = cx.namespace.to_string();
            cx.field("credentialName", |cx| {
                cx.error(
                    "VAL-DR-6",
                    format!("invalid configmap:// credentialName: namespace must match the configuration namespace {own:?}"),
                )
            });
        }
    }
    if t.insecure_skip_verify == Some(true) {
        if mode == w::ClientTlsMode::Simple
            && (set(&t.ca_certificates) || set(&t.credential_name) || t.subject_alt_names.is_some())
        {
            cx.error(
                "VAL-DR-6",
                "cannot specify CaCertificates or CredentialName or SubjectAltNames when InsecureSkipVerify is set true",
            );
        }
        if mode == w::ClientTlsMode::Mutual
            && (set(&t.ca_certificates) || t.subject_alt_names.is_some())
        {
            cx.error(
                "VAL-DR-6",
                "cannot specify CaCertificates or SubjectAltNames when InsecureSkipVerify is set true",
            );
        }
    }
    if matches!(mode, w::ClientTlsMode::Simple | w::ClientTlsMode::Mutual)
        && set(&t.credential_name)
    {
        if set(&t.client_certificate)
            || set(&t.private_key)
            || set(&t.ca_certificates)
            || set(&t.ca_crl)
        {
            cx.error(
                "VAL-DR-6",
                "cannot specify client certificates or CA certificate or CA CRL If credentialName is set",
            );
        }
        return;
    }
    if mode == w::ClientTlsMode::Mutual {
        if !set(&t.client_certificate) {
            cx.error("VAL-DR-6", "client certificate required for mutual tls");
        }
        if !set(&t.private_key) {
            cx.error("VAL-DR-6", "private key required for mutual tls");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::is_prime;

    /// Envoy's `isPrime` by trial division, as Istio copies it.
    fn trial(x: u64) -> bool {
        if x != 0 && x < 4 {
            return true;
        }
        if x.is_multiple_of(2) {
            return false;
        }
        let mut f = 3;
        while f * f <= x {
            if x.is_multiple_of(f) {
                return false;
            }
            f += 2;
        }
        true
    }

    #[test]
    fn primes_agree_with_trial_division() {
        for x in (0..20_000).chain(4_999_900..5_000_100) {
            assert_eq!(is_prime(x), trial(x), "{x}");
        }
        assert!(is_prime(65537) && is_prime(5_000_011) && !is_prime(5_000_013 * 3));
        assert!(is_prime(18_446_744_073_709_551_557));
        assert!(!is_prime(u64::MAX));
    }
}
