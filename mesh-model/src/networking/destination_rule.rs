//! DestinationRule: the domain type and its webhook rules (VAL-DR-*).
//!
//! Traffic-policy pieces keep their wire types (they are already typed
//! enums and scalars); durations in them are validated here, so readers may
//! parse them with [`crate::duration::parse_duration`] without failing.

use super::common::{ExportTo, duration_field, labels};
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
                            if name.is_empty() {
                                cx.error("VAL-DR-2", "subset name cannot be empty");
                            } else if !validation::is_dns1123_label(name) {
                                cx.error("VAL-DR-2", format!("subset name is invalid: {name}"));
                            }
                            if names.contains(&name) {
                                cx.error("VAL-DR-2", format!("duplicate subset names: {name}"));
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
        let workload_selector = s.workload_selector.as_ref().map(|sel| {
            Selector(labels(
                sel.match_labels.as_ref(),
                "workloadSelector",
                "VAL-DR-7",
                cx,
            ))
        });
        let export_to = ExportTo::convert(s.export_to.as_ref(), false, cx);
        if workload_selector.is_some() {
            // VAL-DR-7: a selector rule applies in its own namespace only.
            let own = cx.namespace.to_string();
            let beyond = match &export_to {
                ExportTo::Default => false,
                ExportTo::Namespaces(ns) => !(ns.len() == 1 && ns[0] == own),
                _ => true,
            };
            if beyond {
                cx.field("exportTo", |cx| {
                    cx.error(
                        "VAL-DR-7",
                        "destination rule with workload selector cannot have exportTo beyond current namespace",
                    )
                });
            }
        }
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
        }
        if p.tunnel.is_some() && p.proxy_protocol.is_some() {
            cx.error(
                "VAL-DR-1",
                "tunnel and proxyProtocol must not be specified at the same time",
            );
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
                let proto = t.protocol.as_deref().unwrap_or("CONNECT");
                if proto != "CONNECT" && proto != "POST" {
                    cx.field("protocol", |cx| {
                        cx.error("VAL-DR-1", format!("tunnel protocol must be \"CONNECT\" or \"POST\", got {proto:?}"))
                    });
                }
                let target = t.target_host.as_deref().unwrap_or("");
                if !validation::is_ip(target) && validation::fqdn(target).is_err() {
                    cx.field("targetHost", |cx| {
                        cx.error("VAL-DR-1", format!("tunnel target host {target:?} must be a valid FQDN or an IP address"))
                    });
                }
                if let Some(port) = t.target_port {
                    cx.field("targetPort", |cx| cx.check("VAL-P1", validation::port(port.into())));
                }
            });
        }
        let mut port_level_settings = Vec::new();
        if let Some(pls) = &p.port_level_settings {
            cx.field("portLevelSettings", |cx| {
                for (i, pl) in pls.iter().enumerate() {
                    cx.index(i, |cx| {
                        let port = pl.port.as_ref().and_then(|p| p.number);
                        match port {
                            None => cx.error("VAL-DR-1", "port traffic policy must have a port"),
                            Some(n) if n != 0 => {
                                cx.field("port", |cx| {
                                    cx.field("number", |cx| {
                                        cx.check("VAL-P1", validation::port(n.into()))
                                    })
                                });
                            }
                            Some(_) => {}
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
                        }
                        check_policy_parts(
                            pl.load_balancer.as_ref(),
                            pl.connection_pool.as_ref(),
                            pl.outlier_detection.as_ref(),
                            pl.tls.as_ref(),
                            cx,
                        );
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
            load_balancer: p.load_balancer.clone(),
            connection_pool: p.connection_pool.clone(),
            outlier_detection: p.outlier_detection.clone(),
            tls: p.tls.clone(),
            port_level_settings,
            proxy_protocol: p.proxy_protocol.clone(),
            tunnel: p.tunnel.clone(),
            retry_budget: p.retry_budget.clone(),
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
    if let Some(lb) = lb {
        cx.field("loadBalancer", |cx| load_balancer(lb, cx));
    }
    if let Some(pool) = pool {
        cx.field("connectionPool", |cx| connection_pool(pool, cx));
    }
    if let Some(o) = outlier {
        cx.field("outlierDetection", |cx| outlier_detection(o, cx));
    }
    if let Some(t) = tls {
        cx.field("tls", |cx| client_tls(t, cx));
    }
}

fn is_prime(n: u64) -> bool {
    if n < 2 {
        return false;
    }
    let mut i = 2u64;
    while i * i <= n {
        if n.is_multiple_of(i) {
            return false;
        }
        i += 1;
    }
    true
}

/// VAL-DR-5.
fn load_balancer(lb: &w::LoadBalancerSettings, cx: &mut Cx<'_>) {
    if let Some(ch) = &lb.consistent_hash {
        cx.field("consistentHash", |cx| {
            if let Some(c) = &ch.http_cookie {
                if c.name.as_deref().unwrap_or("").is_empty() {
                    cx.field("httpCookie", |cx| {
                        cx.error("VAL-DR-5", "name required for HttpCookie")
                    });
                }
                let _ = duration_field(c.ttl.as_ref(), "ttl", "VAL-D1", cx);
            }
            if let Some(m) = &ch.maglev {
                let size = m.table_size.unwrap_or(0);
                if size != 0 && (!is_prime(size) || size >= 5_000_011) {
                    cx.field("maglev", |cx| {
                        cx.field("tableSize", |cx| {
                            cx.error(
                                "VAL-DR-5",
                                format!(
                                    "maglev table size {size} must be a prime number below 5000011"
                                ),
                            )
                        })
                    });
                }
            }
        });
    }
    if lb.locality_lb_setting.is_some() && lb.zone_aware_lb_setting.is_some() {
        cx.error(
            "VAL-DR-5",
            "cannot set both localityLbSetting and zoneAwareLbSetting",
        );
    }
    if let Some(l) = &lb.locality_lb_setting {
        cx.field("localityLbSetting", |cx| {
            if l.distribute.as_ref().is_some_and(|d| !d.is_empty())
                && l.failover.as_ref().is_some_and(|f| !f.is_empty())
            {
                cx.error("VAL-DR-5", "can not simultaneously set 'distribute' and 'failover'");
            }
            if let Some(ds) = &l.distribute {
                cx.field("distribute", |cx| {
                    for (i, d) in ds.iter().enumerate() {
                        let total: u64 = d.to.as_ref().map(|t| t.values().map(|v| u64::from(*v)).sum()).unwrap_or(0);
                        if total != 100 {
                            cx.index(i, |cx| {
                                cx.error("VAL-DR-5", format!("total weight across the 'to' localities must be 100, got {total}"))
                            });
                        }
                    }
                });
            }
            if let Some(fs) = &l.failover {
                cx.field("failover", |cx| {
                    for (i, f) in fs.iter().enumerate() {
                        if f.from.is_some() && f.from == f.to {
                            cx.index(i, |cx| cx.error("VAL-DR-5", "locality lb failover settings must specify different regions"));
                        }
                    }
                });
            }
        });
    }
    if let Some(wu) = &lb.warmup {
        let _ = cx.field("warmup", |cx| {
            duration_field(wu.duration.as_ref(), "duration", "VAL-D1", cx)
        });
    }
}

/// VAL-DR-3.
fn connection_pool(p: &w::ConnectionPoolSettings, cx: &mut Cx<'_>) {
    if p.http.is_none() && p.tcp.is_none() {
        cx.error("VAL-DR-3", "connection pool must have at least one field");
    }
    if let Some(h) = &p.http {
        cx.field("http", |cx| {
            for (name, v) in [
                ("http1MaxPendingRequests", h.http1_max_pending_requests),
                ("http2MaxRequests", h.http2_max_requests),
                ("maxRequestsPerConnection", h.max_requests_per_connection),
                ("maxRetries", h.max_retries),
                ("maxConcurrentStreams", h.max_concurrent_streams),
            ] {
                if v.is_some_and(|v| v < 0) {
                    cx.field(name, |cx| {
                        cx.error("VAL-DR-3", format!("{name} must be non-negative"))
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
                    if k.interval.is_none() || k.timeout.is_none() {
                        cx.error(
                            "VAL-DR-3",
                            "http2KeepAlive requires both interval and timeout",
                        );
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
            let _ = duration_field(t.idle_timeout.as_ref(), "idleTimeout", "VAL-D1", cx);
            let _ = duration_field(
                t.max_connection_duration.as_ref(),
                "maxConnectionDuration",
                "VAL-D1",
                cx,
            );
            if let Some(k) = &t.tcp_keepalive {
                cx.field("tcpKeepalive", |cx| {
                    let _ = duration_field(k.time.as_ref(), "time", "VAL-D1", cx);
                    let _ = duration_field(k.interval.as_ref(), "interval", "VAL-D1", cx);
                });
            }
        });
    }
}

/// VAL-DR-4.
fn outlier_detection(o: &w::OutlierDetection, cx: &mut Cx<'_>) {
    if o.consecutive_errors.is_some() {
        cx.field("consecutiveErrors", |cx| {
            cx.warn(
                "VAL-DR-4",
                "outlier detection consecutive errors is deprecated, use consecutiveGatewayErrors or consecutive5xxErrors instead",
            )
        });
    }
    let _ = duration_field(
        o.base_ejection_time.as_ref(),
        "baseEjectionTime",
        "VAL-D1",
        cx,
    );
    let _ = duration_field(o.interval.as_ref(), "interval", "VAL-D1", cx);
    for (name, v) in [
        ("maxEjectionPercent", o.max_ejection_percent),
        ("minHealthPercent", o.min_health_percent),
    ] {
        if let Some(v) = v
            && !(0..=100).contains(&v)
        {
            cx.field(name, |cx| {
                cx.error(
                    "VAL-DR-4",
                    format!("outlier detection {name} must be in range [0, 100]"),
                )
            });
        }
    }
    if o.consecutive_local_origin_failures.is_some()
        && o.split_external_local_origin_errors != Some(true)
    {
        cx.field("consecutiveLocalOriginFailures", |cx| {
            cx.error(
                "VAL-DR-4",
                "outlier detection consecutive local origin failures is specified, but split external local origin errors is set to false",
            )
        });
    }
}

/// VAL-DR-6.
fn client_tls(t: &w::ClientTlsSettings, cx: &mut Cx<'_>) {
    let mode = t.mode.unwrap_or(w::ClientTlsMode::Disable);
    let set = |v: &Option<String>| v.as_deref().is_some_and(|s| !s.is_empty());
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
    if t.insecure_skip_verify == Some(true) {
        if set(&t.ca_certificates) {
            cx.error(
                "VAL-DR-6",
                "cannot set caCertificates when insecureSkipVerify is set to true",
            );
        }
        if t.subject_alt_names.as_ref().is_some_and(|s| !s.is_empty()) {
            cx.error(
                "VAL-DR-6",
                "cannot set subjectAltNames when insecureSkipVerify is set to true",
            );
        }
    }
}
