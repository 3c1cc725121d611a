//! proptest strategies for the Istio wire types: realistic, nested values
//! (host names, label maps, durations, string matches, routes, traffic
//! policies, rules), with a share of strings that YAML reads as something
//! else unless they are quoted (`true`, `null`, `0x1F`, `a: b` …).
//!
//! The strategies build values of the generated wire structs only; they
//! make no attempt to satisfy Istio's webhook rules.

#![allow(dead_code)]

use mesh_model::wire::networking as n;
use mesh_model::wire::security as s;
use mesh_model::wire::types as t;
use proptest::collection::{btree_map, vec};
use proptest::option::of;
use proptest::prelude::*;
use std::collections::BTreeMap;

/// Strings YAML would read as another type, or that need quoting.
pub const TRICKY: &[&str] = &[
    "true",
    "false",
    "yes",
    "No",
    "null",
    "~",
    "",
    "0",
    "-1",
    "0x1F",
    "0o17",
    "1e3",
    ".inf",
    "-.nan",
    "1_000",
    "12:30",
    "2024-01-01",
    "- x",
    "a: b",
    "#not a comment",
    "[x]",
    "{x}",
    "*",
    "&anchor",
    "!tag",
    "%p",
    "@request.auth.claims.groups",
    "'q'",
    "\"dq\"",
    " leading",
    "trailing ",
    "multi\nline",
    "tab\there",
    "é☃",
    "\\backslash",
];

/// A string: mostly plain words, sometimes a tricky one.
pub fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => "[a-z][a-z0-9-]{0,12}",
        1 => prop::sample::select(TRICKY).prop_map(str::to_string),
        1 => "[ -~]{0,16}",
    ]
}

/// A DNS-1123 label.
pub fn label() -> impl Strategy<Value = String> {
    "[a-z]([a-z0-9-]{0,8}[a-z0-9])?"
}

/// A host name: a short name, an FQDN, a wildcard, or `*`.
pub fn host() -> impl Strategy<Value = String> {
    prop_oneof![
        label(),
        (label(), label()).prop_map(|(a, b)| format!("{a}.{b}.svc.cluster.local")),
        (label(), label()).prop_map(|(a, b)| format!("{a}.{b}.com")),
        label().prop_map(|a| format!("*.{a}.example.com")),
        Just("*".to_string()),
    ]
}

/// A `namespace/name` reference, a bare name or `mesh`.
pub fn gateway_name() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("mesh".to_string()),
        label(),
        (label(), label()).prop_map(|(a, b)| format!("{a}/{b}")),
    ]
}

/// A Go duration string.
pub fn duration() -> impl Strategy<Value = String> {
    prop_oneof![
        (
            1u32..10_000,
            prop::sample::select(&["ms", "s", "m", "h"][..])
        )
            .prop_map(|(n, u)| format!("{n}{u}")),
        prop::sample::select(&["1.5s", "1h30m", "0.25s", "100us"][..]).prop_map(str::to_string),
    ]
}

/// An IP address or CIDR block.
pub fn ip_or_cidr() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<[u8; 4]>().prop_map(|b| format!("{}.{}.{}.{}", b[0], b[1], b[2], b[3])),
        (any::<[u8; 4]>(), 0u8..=32)
            .prop_map(|(b, p)| format!("{}.{}.{}.{}/{p}", b[0], b[1], b[2], b[3])),
        any::<u16>().prop_map(|x| format!("2001:db8::{x:x}/64")),
    ]
}

/// A URL path.
pub fn path() -> impl Strategy<Value = String> {
    vec("[a-z0-9_.-]{1,6}", 0..4).prop_map(|s| format!("/{}", s.join("/")))
}

/// A label map (keys optionally prefixed).
pub fn labels() -> impl Strategy<Value = BTreeMap<String, String>> {
    btree_map(
        prop_oneof![
            label(),
            (label(), label()).prop_map(|(p, k)| format!("{p}.io/{k}"))
        ],
        prop_oneof![4 => label(), 1 => text()],
        0..4,
    )
}

/// A small list.
pub fn list<S: Strategy>(s: S) -> impl Strategy<Value = Vec<S::Value>> {
    vec(s, 0..3)
}

/// An optional small list.
pub fn opt_list<S: Strategy>(s: S) -> impl Strategy<Value = Option<Vec<S::Value>>> {
    of(list(s))
}

/// Any finite double (including very small, very large and negative zero).
pub fn finite() -> impl Strategy<Value = f64> {
    prop_oneof![
        (0u32..=1_000_000).prop_map(|n| f64::from(n) / 10_000.0),
        any::<f64>().prop_filter("finite", |f| f.is_finite()),
    ]
}

fn select<T: Clone + std::fmt::Debug + 'static>(all: &'static [T]) -> impl Strategy<Value = T> {
    prop::sample::select(all)
}

// ---------------------------------------------------------------------------
// Shared networking pieces.

/// A StringMatch: one of exact, prefix, regex, or none (presence).
pub fn string_match() -> BoxedStrategy<n::StringMatch> {
    prop_oneof![
        text().prop_map(|e| n::StringMatch {
            exact: Some(e),
            ..Default::default()
        }),
        path().prop_map(|p| n::StringMatch {
            prefix: Some(p),
            ..Default::default()
        }),
        prop::sample::select(&["^/api/v[0-9]+/.*", ".*", "(?i)abc", "[a-z]+"][..]).prop_map(|r| {
            n::StringMatch {
                regex: Some(r.to_string()),
                ..Default::default()
            }
        }),
        Just(n::StringMatch::default()),
    ]
    .boxed()
}

/// A destination.
pub fn destination() -> BoxedStrategy<n::Destination> {
    (host(), of(label()), of(of(any::<u32>())))
        .prop_map(|(host, subset, port)| n::Destination {
            host: Some(host),
            subset,
            port: port.map(|number| n::PortSelector { number }),
        })
        .boxed()
}

/// A percentage.
pub fn percent() -> BoxedStrategy<n::Percent> {
    of(finite()).prop_map(|value| n::Percent { value }).boxed()
}

/// Header operations.
pub fn header_ops() -> BoxedStrategy<n::HeaderOperations> {
    (
        of(btree_map("[a-z-]{1,10}", text(), 0..3)),
        of(btree_map("[a-z-]{1,10}", text(), 0..3)),
        opt_list("[a-z-]{1,10}"),
    )
        .prop_map(|(set, add, remove)| n::HeaderOperations { set, add, remove })
        .boxed()
}

/// Request and response header operations.
pub fn headers() -> BoxedStrategy<n::Headers> {
    (of(header_ops()), of(header_ops()))
        .prop_map(|(request, response)| n::Headers { request, response })
        .boxed()
}

fn string_match_map() -> impl Strategy<Value = BTreeMap<String, n::StringMatch>> {
    btree_map("[a-z][a-z-]{0,8}", string_match(), 0..3)
}

// ---------------------------------------------------------------------------
// VirtualService.

/// An HTTP match block.
pub fn http_match() -> BoxedStrategy<n::HttpMatchRequest> {
    (
        (
            of(text()),
            of(string_match()),
            of(string_match()),
            of(string_match()),
            of(string_match()),
        ),
        (
            of(string_match_map()),
            of(string_match_map()),
            of(string_match_map()),
        ),
        (
            of(any::<bool>()),
            of(any::<u32>()),
            of(labels()),
            of(label()),
            opt_list(gateway_name()),
            of(text()),
        ),
    )
        .prop_map(
            |(
                (name, uri, scheme, method, authority),
                (headers, query_params, without_headers),
                (ignore_uri_case, port, source_labels, source_namespace, gateways, stat_prefix),
            )| {
                n::HttpMatchRequest {
                    name,
                    uri,
                    scheme,
                    method,
                    authority,
                    headers,
                    query_params,
                    without_headers,
                    ignore_uri_case,
                    port,
                    source_labels,
                    source_namespace,
                    gateways,
                    stat_prefix,
                }
            },
        )
        .boxed()
}

/// An HTTP route.
pub fn http_route() -> BoxedStrategy<n::HttpRoute> {
    let dest = (of(destination()), of(any::<i32>()), of(headers())).prop_map(
        |(destination, weight, headers)| n::HttpRouteDestination {
            destination,
            weight,
            headers,
        },
    );
    let redirect = (
        of(path()),
        of(path()),
        of(host()),
        of(any::<u32>()),
        of(select(n::RedirectPortSelection::ALL)),
        of(select(&[301u32, 302, 308][..])),
        of(prop::sample::select(&["http", "https"][..]).prop_map(str::to_string)),
    )
        .prop_map(
            |(uri, prefix_rewrite, authority, port, derive_port, redirect_code, scheme)| {
                n::HttpRedirect {
                    uri,
                    prefix_rewrite,
                    authority,
                    port,
                    derive_port,
                    redirect_code,
                    scheme,
                }
            },
        );
    let rewrite = (
        of(path()),
        of(host()),
        of((of(text()), of(text())).prop_map(|(m, r)| n::RegexRewrite {
            r#match: m,
            rewrite: r,
        })),
    )
        .prop_map(|(uri, authority, uri_regex_rewrite)| n::HttpRewrite {
            uri,
            authority,
            uri_regex_rewrite,
        });
    let retries = (
        of(any::<i32>()),
        of(duration()),
        of(text()),
        of(any::<bool>()),
        of(any::<bool>()),
        of(duration()),
    )
        .prop_map(
            |(
                attempts,
                per_try_timeout,
                retry_on,
                retry_remote_localities,
                retry_ignore_previous_hosts,
                backoff,
            )| n::HttpRetry {
                attempts,
                per_try_timeout,
                retry_on,
                retry_remote_localities,
                retry_ignore_previous_hosts,
                backoff,
            },
        );
    let fault = (
        of((
            of(duration()),
            of(duration()),
            of(any::<i32>()),
            of(percent()),
        )
            .prop_map(
                |(fixed_delay, exponential_delay, percent, percentage)| n::Delay {
                    fixed_delay,
                    exponential_delay,
                    percent,
                    percentage,
                },
            )),
        of(
            (of(any::<i32>()), of(text()), of(text()), of(percent())).prop_map(
                |(http_status, grpc_status, http2_error, percentage)| n::Abort {
                    http_status,
                    grpc_status,
                    http2_error,
                    percentage,
                },
            ),
        ),
    )
        .prop_map(|(delay, abort)| n::HttpFaultInjection { delay, abort });
    let cors = (
        opt_list(string_match()),
        opt_list(text()),
        opt_list(select(&["GET", "POST", "*"][..]).prop_map(str::to_string)),
        opt_list(text()),
        opt_list(text()),
        of(duration()),
        of(any::<bool>()),
        of(select(n::UnmatchedPreflights::ALL)),
    )
        .prop_map(
            |(
                allow_origins,
                allow_origin,
                allow_methods,
                allow_headers,
                expose_headers,
                max_age,
                allow_credentials,
                unmatched_preflights,
            )| n::CorsPolicy {
                allow_origins,
                allow_origin,
                allow_methods,
                allow_headers,
                expose_headers,
                max_age,
                allow_credentials,
                unmatched_preflights,
            },
        );
    let direct = (
        of(any::<u32>()),
        of(prop_oneof![
            text().prop_map(|s| n::HttpBody {
                string: Some(s),
                bytes: None
            }),
            "[A-Za-z0-9+/]{0,12}".prop_map(|b| n::HttpBody {
                string: None,
                bytes: Some(b)
            })
        ]),
    )
        .prop_map(|(status, body)| n::HttpDirectResponse { status, body });
    let mirror = (of(destination()), of(percent())).prop_map(|(destination, percentage)| {
        n::HttpMirrorPolicy {
            destination,
            percentage,
        }
    });
    (
        (
            of(text()),
            opt_list(http_match()),
            opt_list(dest),
            of(redirect),
            of(direct),
            of((of(label()), of(label()))
                .prop_map(|(name, namespace)| n::Delegate { name, namespace })),
        ),
        (
            of(rewrite),
            of(duration()),
            of(retries),
            of(fault),
            of(destination()),
            of(any::<u32>()),
        ),
        (
            of(percent()),
            opt_list(mirror),
            of(cors),
            of(headers()),
            of(0u32..=100),
        ),
    )
        .prop_map(
            |(
                (name, r#match, route, redirect, direct_response, delegate),
                (rewrite, timeout, retries, fault, mirror, mirror_percent),
                (mirror_percentage, mirrors, cors_policy, headers, legacy_mirror_percent),
            )| n::HttpRoute {
                name,
                r#match,
                route,
                redirect,
                direct_response,
                delegate,
                rewrite,
                timeout,
                retries,
                fault,
                mirror,
                mirror_percent,
                mirror_percentage,
                legacy_mirror_percent,
                mirrors,
                cors_policy,
                headers,
            },
        )
        .boxed()
}

fn route_destination() -> BoxedStrategy<n::RouteDestination> {
    (of(destination()), of(any::<i32>()))
        .prop_map(|(destination, weight)| n::RouteDestination {
            destination,
            weight,
        })
        .boxed()
}

/// A TLS route.
pub fn tls_route() -> BoxedStrategy<n::TlsRoute> {
    let m = (
        opt_list(host()),
        opt_list(ip_or_cidr()),
        of(any::<u32>()),
        of(labels()),
        opt_list(gateway_name()),
        of(label()),
    )
        .prop_map(
            |(sni_hosts, destination_subnets, port, source_labels, gateways, source_namespace)| {
                n::TlsMatchAttributes {
                    sni_hosts,
                    destination_subnets,
                    port,
                    source_labels,
                    gateways,
                    source_namespace,
                }
            },
        );
    (opt_list(m), opt_list(route_destination()))
        .prop_map(|(r#match, route)| n::TlsRoute { r#match, route })
        .boxed()
}

/// A TCP route.
pub fn tcp_route() -> BoxedStrategy<n::TcpRoute> {
    let m = (
        opt_list(ip_or_cidr()),
        of(any::<u32>()),
        of(ip_or_cidr()),
        of(labels()),
        opt_list(gateway_name()),
        of(label()),
    )
        .prop_map(
            |(
                destination_subnets,
                port,
                source_subnet,
                source_labels,
                gateways,
                source_namespace,
            )| n::L4MatchAttributes {
                destination_subnets,
                port,
                source_subnet,
                source_labels,
                gateways,
                source_namespace,
            },
        );
    (opt_list(m), opt_list(route_destination()))
        .prop_map(|(r#match, route)| n::TcpRoute { r#match, route })
        .boxed()
}

/// A VirtualService spec.
pub fn virtual_service() -> BoxedStrategy<n::VirtualService> {
    (
        opt_list(host()),
        opt_list(gateway_name()),
        of(vec(http_route(), 0..3)),
        opt_list(tls_route()),
        opt_list(tcp_route()),
        opt_list(prop_oneof![
            label(),
            Just(".".to_string()),
            Just("*".to_string())
        ]),
    )
        .prop_map(
            |(hosts, gateways, http, tls, tcp, export_to)| n::VirtualService {
                hosts,
                gateways,
                http,
                tls,
                tcp,
                export_to,
            },
        )
        .boxed()
}

// ---------------------------------------------------------------------------
// DestinationRule.

fn client_tls() -> BoxedStrategy<n::ClientTlsSettings> {
    (
        of(select(n::ClientTlsMode::ALL)),
        of(path()),
        of(path()),
        of(path()),
        of(path()),
        of(label()),
        opt_list(text()),
        of(host()),
        of(any::<bool>()),
    )
        .prop_map(
            |(
                mode,
                client_certificate,
                private_key,
                ca_certificates,
                ca_crl,
                credential_name,
                subject_alt_names,
                sni,
                insecure_skip_verify,
            )| n::ClientTlsSettings {
                mode,
                client_certificate,
                private_key,
                ca_certificates,
                ca_crl,
                credential_name,
                subject_alt_names,
                sni,
                insecure_skip_verify,
            },
        )
        .boxed()
}

fn connection_pool() -> BoxedStrategy<n::ConnectionPoolSettings> {
    let tcp = (
        of(any::<i32>()),
        of(duration()),
        of(duration()),
        of(duration()),
        of((of(any::<u32>()), of(duration()), of(duration())).prop_map(
            |(probes, time, interval)| n::TcpKeepalive {
                probes,
                time,
                interval,
            },
        )),
    )
        .prop_map(
            |(
                max_connections,
                connect_timeout,
                idle_timeout,
                max_connection_duration,
                tcp_keepalive,
            )| n::TcpSettings {
                max_connections,
                connect_timeout,
                idle_timeout,
                max_connection_duration,
                tcp_keepalive,
            },
        );
    let http = (
        of(any::<i32>()),
        of(any::<i32>()),
        of(any::<i32>()),
        of(any::<i32>()),
        of(duration()),
        of(select(n::H2UpgradePolicy::ALL)),
        of(any::<bool>()),
        of(any::<i32>()),
        of((of(duration()), of(duration()))
            .prop_map(|(interval, timeout)| n::Http2KeepAlive { interval, timeout })),
    )
        .prop_map(
            |(
                http1_max_pending_requests,
                http2_max_requests,
                max_requests_per_connection,
                max_retries,
                idle_timeout,
                h2_upgrade_policy,
                use_client_protocol,
                max_concurrent_streams,
                http2_keep_alive,
            )| n::HttpSettings {
                http1_max_pending_requests,
                http2_max_requests,
                max_requests_per_connection,
                max_retries,
                idle_timeout,
                h2_upgrade_policy,
                use_client_protocol,
                max_concurrent_streams,
                http2_keep_alive,
            },
        );
    (of(tcp), of(http))
        .prop_map(|(tcp, http)| n::ConnectionPoolSettings { tcp, http })
        .boxed()
}

fn outlier() -> BoxedStrategy<n::OutlierDetection> {
    (
        (
            of(any::<u32>()),
            of(any::<i32>()),
            of(any::<u32>()),
            of(any::<u32>()),
            of(any::<bool>()),
        ),
        (
            of(duration()),
            of(duration()),
            of(any::<i32>()),
            of(any::<i32>()),
            opt_list(400u32..600),
        ),
    )
        .prop_map(
            |(
                (
                    consecutive5xx_errors,
                    consecutive_errors,
                    consecutive_gateway_errors,
                    consecutive_local_origin_failures,
                    split_external_local_origin_errors,
                ),
                (
                    interval,
                    base_ejection_time,
                    max_ejection_percent,
                    min_health_percent,
                    outlier_detection_http_error_codes,
                ),
            )| n::OutlierDetection {
                consecutive5xx_errors,
                consecutive_errors,
                consecutive_gateway_errors,
                consecutive_local_origin_failures,
                split_external_local_origin_errors,
                interval,
                base_ejection_time,
                max_ejection_percent,
                min_health_percent,
                outlier_detection_http_error_codes,
            },
        )
        .boxed()
}

fn load_balancer() -> BoxedStrategy<n::LoadBalancerSettings> {
    let cookie = (
        of(label()),
        of(path()),
        of(duration()),
        opt_list(
            (of(text()), of(text()))
                .prop_map(|(name, value)| n::HttpCookieAttribute { name, value }),
        ),
    )
        .prop_map(|(name, path, ttl, attributes)| n::HttpCookie {
            name,
            path,
            ttl,
            attributes,
        });
    let hash = (
        of(cookie),
        of(text()),
        of(text()),
        of(any::<bool>()),
        of(of(any::<u64>()).prop_map(|table_size| n::MagLev { table_size })),
        of(of(any::<u64>()).prop_map(|minimum_ring_size| n::RingHash { minimum_ring_size })),
        of(any::<u64>()),
    )
        .prop_map(
            |(
                http_cookie,
                http_header_name,
                http_query_parameter_name,
                use_source_ip,
                maglev,
                ring_hash,
                minimum_ring_size,
            )| n::ConsistentHashLb {
                http_cookie,
                http_header_name,
                http_query_parameter_name,
                use_source_ip,
                maglev,
                ring_hash,
                minimum_ring_size,
            },
        );
    let failover =
        (of(label()), of(label())).prop_map(|(from, to)| n::LocalityFailover { from, to });
    let locality = (
        of(any::<bool>()),
        opt_list(
            (of(text()), of(btree_map(text(), any::<u32>(), 0..3)))
                .prop_map(|(from, to)| n::LocalityDistribute { from, to }),
        ),
        opt_list(failover),
        opt_list(text()),
    )
        .prop_map(|(enabled, distribute, failover, failover_priority)| {
            n::LocalityLoadBalancerSetting {
                enabled,
                distribute,
                failover,
                failover_priority,
            }
        });
    let warmup = (of(duration()), of(finite()), of(finite())).prop_map(
        |(duration, minimum_percent, aggression)| n::WarmupConfiguration {
            duration,
            minimum_percent,
            aggression,
        },
    );
    (
        of(select(n::SimpleLb::ALL)),
        of(hash),
        of(locality),
        of(warmup),
        of(duration()),
    )
        .prop_map(
            |(simple, consistent_hash, locality_lb_setting, warmup, warmup_duration_secs)| {
                n::LoadBalancerSettings {
                    simple,
                    consistent_hash,
                    locality_lb_setting,
                    warmup,
                    warmup_duration_secs,
                    ..Default::default()
                }
            },
        )
        .boxed()
}

/// A traffic policy.
pub fn traffic_policy() -> BoxedStrategy<n::TrafficPolicy> {
    let port_level = (
        of(of(any::<u32>()).prop_map(|number| n::PortSelector { number })),
        of(load_balancer()),
        of(connection_pool()),
        of(outlier()),
        of(client_tls()),
    )
        .prop_map(
            |(port, load_balancer, connection_pool, outlier_detection, tls)| n::PortTrafficPolicy {
                port,
                load_balancer,
                connection_pool,
                outlier_detection,
                tls,
            },
        );
    let tunnel = (
        of(select(&["CONNECT", "POST"][..]).prop_map(str::to_string)),
        of(host()),
        of(any::<u32>()),
    )
        .prop_map(|(protocol, target_host, target_port)| n::TunnelSettings {
            protocol,
            target_host,
            target_port,
        });
    (
        of(load_balancer()),
        of(connection_pool()),
        of(outlier()),
        of(client_tls()),
        opt_list(port_level),
        of(tunnel),
        of(of(select(n::ProxyProtocolVersion::ALL))
            .prop_map(|version| n::ProxyProtocol { version })),
    )
        .prop_map(
            |(
                load_balancer,
                connection_pool,
                outlier_detection,
                tls,
                port_level_settings,
                tunnel,
                proxy_protocol,
            )| n::TrafficPolicy {
                load_balancer,
                connection_pool,
                outlier_detection,
                tls,
                port_level_settings,
                tunnel,
                proxy_protocol,
                retry_budget: None,
            },
        )
        .boxed()
}

/// A DestinationRule spec.
pub fn destination_rule() -> BoxedStrategy<n::DestinationRule> {
    let subset = (of(label()), of(labels()), of(traffic_policy())).prop_map(
        |(name, labels, traffic_policy)| n::Subset {
            name,
            labels,
            traffic_policy,
        },
    );
    (
        of(host()),
        of(traffic_policy()),
        opt_list(subset),
        opt_list(label()),
        of(of(labels()).prop_map(|match_labels| t::WorkloadSelector { match_labels })),
    )
        .prop_map(
            |(host, traffic_policy, subsets, export_to, workload_selector)| n::DestinationRule {
                host,
                traffic_policy,
                subsets,
                export_to,
                workload_selector,
            },
        )
        .boxed()
}

// ---------------------------------------------------------------------------
// Gateway and ServiceEntry.

fn protocol() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => select(&["HTTP", "HTTPS", "HTTP2", "GRPC", "TCP", "TLS", "MONGO", "http"][..]).prop_map(str::to_string),
        1 => text(),
    ]
}

/// A Gateway spec.
pub fn gateway() -> BoxedStrategy<n::Gateway> {
    let port = (
        of(any::<u32>()),
        of(protocol()),
        of(label()),
        of(any::<u32>()),
    )
        .prop_map(|(number, protocol, name, target_port)| n::Port {
            number,
            protocol,
            name,
            target_port,
        });
    let tls_cert = (of(path()), of(path()), of(path())).prop_map(
        |(server_certificate, private_key, ca_certificates)| n::TlsCertificate {
            server_certificate,
            private_key,
            ca_certificates,
        },
    );
    let tls = (
        (
            of(any::<bool>()),
            of(select(n::ServerTlsMode::ALL)),
            of(path()),
            of(path()),
            of(path()),
            of(path()),
            of(label()),
        ),
        (
            opt_list(label()),
            opt_list(tls_cert),
            opt_list(host()),
            opt_list(text()),
            opt_list(text()),
            of(select(n::TlsProtocol::ALL)),
            of(select(n::TlsProtocol::ALL)),
        ),
        (
            opt_list(text()),
            opt_list(text()),
            of(label()),
            of(any::<bool>()),
        ),
    )
        .prop_map(
            |(
                (
                    https_redirect,
                    mode,
                    server_certificate,
                    private_key,
                    ca_certificates,
                    ca_crl,
                    credential_name,
                ),
                (
                    credential_names,
                    tls_certificates,
                    subject_alt_names,
                    verify_certificate_spki,
                    verify_certificate_hash,
                    min_protocol_version,
                    max_protocol_version,
                ),
                (cipher_suites, ecdh_curves, ca_cert_credential_name, insecure_skip_verify),
            )| n::ServerTlsSettings {
                https_redirect,
                mode,
                server_certificate,
                private_key,
                ca_certificates,
                ca_crl,
                credential_name,
                credential_names,
                tls_certificates,
                subject_alt_names,
                verify_certificate_spki,
                verify_certificate_hash,
                min_protocol_version,
                max_protocol_version,
                cipher_suites,
                ecdh_curves,
                ca_cert_credential_name,
                insecure_skip_verify,
            },
        );
    let server = (
        of(port),
        opt_list(prop_oneof![
            host(),
            (label(), host()).prop_map(|(n, h)| format!("{n}/{h}"))
        ]),
        of(tls),
        of(ip_or_cidr()),
        of(text()),
        of(text()),
    )
        .prop_map(
            |(port, hosts, tls, bind, name, default_endpoint)| n::Server {
                port,
                hosts,
                tls,
                bind,
                name,
                default_endpoint,
            },
        );
    (of(labels()), opt_list(server))
        .prop_map(|(selector, servers)| n::Gateway { selector, servers })
        .boxed()
}

/// A WorkloadEntry (also a ServiceEntry endpoint).
pub fn workload_entry() -> BoxedStrategy<n::WorkloadEntry> {
    (
        of(prop_oneof![
            ip_or_cidr(),
            host(),
            Just("unix:///var/run/a.sock".to_string())
        ]),
        of(btree_map(label(), any::<u32>(), 0..3)),
        of(labels()),
        of(label()),
        of("[a-z]+/[a-z0-9]+"),
        of(any::<u32>()),
        of(label()),
    )
        .prop_map(
            |(address, ports, labels, network, locality, weight, service_account)| {
                n::WorkloadEntry {
                    address,
                    ports,
                    labels,
                    network,
                    locality,
                    weight,
                    service_account,
                }
            },
        )
        .boxed()
}

/// A ServiceEntry spec.
pub fn service_entry() -> BoxedStrategy<n::ServiceEntry> {
    let port = (
        of(any::<u32>()),
        of(protocol()),
        of(label()),
        of(any::<u32>()),
    )
        .prop_map(|(number, protocol, name, target_port)| n::ServicePort {
            number,
            protocol,
            name,
            target_port,
        });
    (
        opt_list(host()),
        opt_list(ip_or_cidr()),
        opt_list(port),
        of(select(n::Location::ALL)),
        of(select(n::Resolution::ALL)),
        opt_list(workload_entry()),
        of(of(labels()).prop_map(|labels| n::WorkloadSelector { labels })),
        opt_list(prop_oneof![label(), Just("~".to_string())]),
        opt_list(text()),
    )
        .prop_map(
            |(
                hosts,
                addresses,
                ports,
                location,
                resolution,
                endpoints,
                workload_selector,
                export_to,
                subject_alt_names,
            )| n::ServiceEntry {
                hosts,
                addresses,
                ports,
                location,
                resolution,
                endpoints,
                workload_selector,
                export_to,
                subject_alt_names,
            },
        )
        .boxed()
}

// ---------------------------------------------------------------------------
// Security.

fn selector() -> BoxedStrategy<t::WorkloadSelector> {
    of(labels())
        .prop_map(|match_labels| t::WorkloadSelector { match_labels })
        .boxed()
}

fn target_ref() -> BoxedStrategy<t::PolicyTargetReference> {
    (
        of(
            select(&["gateway.networking.k8s.io", "", "networking.istio.io"][..])
                .prop_map(str::to_string),
        ),
        of(select(&["Gateway", "Service", "ServiceEntry"][..]).prop_map(str::to_string)),
        of(label()),
        of(label()),
    )
        .prop_map(|(group, kind, name, namespace)| t::PolicyTargetReference {
            group,
            kind,
            name,
            namespace,
        })
        .boxed()
}

/// An AuthorizationPolicy spec.
pub fn authorization_policy() -> BoxedStrategy<s::AuthorizationPolicy> {
    let principal = prop_oneof![
        (label(), label()).prop_map(|(ns, sa)| format!("cluster.local/ns/{ns}/sa/{sa}")),
        Just("*".to_string()),
        text(),
    ];
    let source = (
        (
            opt_list(principal.clone()),
            opt_list(principal.clone()),
            opt_list(text()),
            opt_list(text()),
            opt_list(label()),
            opt_list(label()),
            opt_list(label()),
        ),
        (
            opt_list(label()),
            opt_list(text()),
            opt_list(text()),
            opt_list(ip_or_cidr()),
            opt_list(ip_or_cidr()),
            opt_list(ip_or_cidr()),
            opt_list(ip_or_cidr()),
        ),
    )
        .prop_map(
            |(
                (
                    principals,
                    not_principals,
                    request_principals,
                    not_request_principals,
                    namespaces,
                    not_namespaces,
                    service_accounts,
                ),
                (
                    not_service_accounts,
                    trust_domains,
                    not_trust_domains,
                    ip_blocks,
                    not_ip_blocks,
                    remote_ip_blocks,
                    not_remote_ip_blocks,
                ),
            )| s::Source {
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
                not_ip_blocks,
                remote_ip_blocks,
                not_remote_ip_blocks,
            },
        );
    let port = any::<u16>().prop_map(|p| p.to_string());
    let operation = (
        opt_list(host()),
        opt_list(host()),
        opt_list(port.clone()),
        opt_list(port),
        opt_list(select(&["GET", "POST", "*"][..]).prop_map(str::to_string)),
        opt_list(text()),
        opt_list(path()),
        opt_list(path()),
    )
        .prop_map(
            |(hosts, not_hosts, ports, not_ports, methods, not_methods, paths, not_paths)| {
                s::Operation {
                    hosts,
                    not_hosts,
                    ports,
                    not_ports,
                    methods,
                    not_methods,
                    paths,
                    not_paths,
                }
            },
        );
    let condition = (
        of(prop_oneof![
            Just("source.ip".to_string()),
            "request\\.headers\\[[a-z-]{1,8}\\]",
            Just("request.auth.claims[groups]".to_string()),
            text()
        ]),
        opt_list(text()),
        opt_list(text()),
    )
        .prop_map(|(key, values, not_values)| s::Condition {
            key,
            values,
            not_values,
        });
    let rule = (
        opt_list(of(source).prop_map(|source| s::RuleFrom { source })),
        opt_list(of(operation).prop_map(|operation| s::RuleTo { operation })),
        opt_list(condition),
    )
        .prop_map(|(from, to, when)| s::Rule { from, to, when });
    (
        of(selector()),
        of(target_ref()),
        opt_list(target_ref()),
        of(select(s::Action::ALL)),
        of(of(label()).prop_map(|name| s::ExtensionProvider { name })),
        opt_list(rule),
    )
        .prop_map(
            |(selector, target_ref, target_refs, action, provider, rules)| s::AuthorizationPolicy {
                selector,
                target_ref,
                target_refs,
                action,
                provider,
                rules,
            },
        )
        .boxed()
}

/// A PeerAuthentication spec.
pub fn peer_authentication() -> BoxedStrategy<s::PeerAuthentication> {
    let mtls = || of(select(s::MtlsMode::ALL)).prop_map(|mode| s::MutualTls { mode });
    (
        of(selector()),
        of(mtls()),
        of(btree_map(
            (1u32..=65535).prop_map(|p| p.to_string()),
            mtls(),
            0..3,
        )),
    )
        .prop_map(|(selector, mtls, port_level_mtls)| s::PeerAuthentication {
            selector,
            mtls,
            port_level_mtls,
        })
        .boxed()
}

/// A RequestAuthentication spec.
pub fn request_authentication() -> BoxedStrategy<s::RequestAuthentication> {
    let header = (of(text()), of(text())).prop_map(|(name, prefix)| s::JwtHeader { name, prefix });
    let claim = (of(text()), of("[a-z-]{1,10}"))
        .prop_map(|(claim, header)| s::ClaimToHeader { claim, header });
    let rule = (
        (
            of(prop_oneof![
                Just("https://accounts.example.com".to_string()),
                text()
            ]),
            opt_list(text()),
            of(prop_oneof![
                Just("https://accounts.example.com/jwks".to_string()),
                text()
            ]),
            of(text()),
            opt_list(header),
            opt_list(text()),
        ),
        (
            opt_list(text()),
            of(text()),
            of(any::<bool>()),
            opt_list(claim),
            of(duration()),
            opt_list(text()),
            of(select(s::JwtPresence::ALL)),
        ),
    )
        .prop_map(
            |(
                (issuer, audiences, jwks_uri, jwks, from_headers, from_params),
                (
                    from_cookies,
                    output_payload_to_header,
                    forward_original_token,
                    output_claim_to_headers,
                    timeout,
                    space_delimited_claims,
                    presence,
                ),
            )| s::JwtRule {
                issuer,
                audiences,
                jwks_uri,
                legacy_jwks_uri: None,
                jwks,
                from_headers,
                from_params,
                from_cookies,
                output_payload_to_header,
                forward_original_token,
                output_claim_to_headers,
                timeout,
                space_delimited_claims,
                presence,
            },
        );
    (
        of(selector()),
        of(target_ref()),
        opt_list(target_ref()),
        opt_list(rule),
    )
        .prop_map(
            |(selector, target_ref, target_refs, jwt_rules)| s::RequestAuthentication {
                selector,
                target_ref,
                target_refs,
                jwt_rules,
            },
        )
        .boxed()
}
