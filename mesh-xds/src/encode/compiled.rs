//! Route configurations written straight from `mesh-route`'s compiled
//! types, with the bytes prost gives for their translation
//! ([`crate::route::into_route_configuration`]), without building that
//! translation first.
//!
//! The parts nearly every route has (its path match, cluster, timeouts,
//! retry policy, decorator, provenance, name) are written here field by
//! field. The rest (header and claim matchers, weighted clusters, header
//! operations, redirects, direct responses, mirrors, hash policies, faults,
//! CORS) is translated by the same functions the translation uses, one
//! message at a time, and that message is written by prost.
//!
//! Each writer takes its compiled type apart whole, so that a field added
//! to `mesh-route` is a compile error here rather than silently left out.
//! One difference from prost: a route's `typed_per_filter_config` entries
//! are written in key order, where prost writes a hash map's entries in
//! whatever order it iterates them.

use super::{Widths, delimited, flag, text};
use crate::route as translation;
use envoy_types::pb::envoy::config::route::v3::{WeightedCluster, virtual_host};
use mesh_route::config::{self as c, ClusterSpecifier, PathMatch, RouteAction};
use prost::Message;
use prost::encoding::{WireType, encode_key, encode_varint, int32, int64, string, uint32};
use std::sync::LazyLock;
use std::time::Duration;

/// Writes the fields of `rc`'s translation in prost's order, and hands
/// back its name.
pub(super) fn route_configuration(
    rc: c::RouteConfiguration,
    out: &mut Vec<u8>,
    s: &mut Widths,
) -> String {
    let c::RouteConfiguration {
        name,
        virtual_hosts,
        ignore_port_in_host_matching,
        scope: _,
        rejected: _,
    } = rc;
    text(1, &name, out);
    for vh in virtual_hosts {
        s.nested(2, out, |b, s| self::virtual_host(vh, b, s));
    }
    // `validate_clusters: false`: a `BoolValue` with nothing set.
    s.nested(7, out, |_, _| {});
    flag(14, ignore_port_in_host_matching, out);
    name
}

/// Writes the fields of `vh`'s translation in prost's order.
fn virtual_host(vh: c::VirtualHost, out: &mut Vec<u8>, s: &mut Widths) {
    let c::VirtualHost {
        name,
        domains,
        routes,
        require_tls,
        kind: _,
    } = vh;
    text(1, &name, out);
    string::encode_repeated(2, &domains, out);
    for x in routes {
        s.nested(3, out, |b, s| route(x, b, s));
    }
    if require_tls {
        int32::encode(4, &(virtual_host::TlsRequirementType::All as i32), out);
    }
    // `include_request_attempt_count: true`.
    flag(14, true, out);
}

/// Writes the fields of `x`'s translation in prost's order (the action
/// oneof at its lowest number, 2).
fn route(x: c::Route, out: &mut Vec<u8>, s: &mut Widths) {
    let c::Route {
        name,
        origin,
        matcher,
        action,
        request_headers_to_add,
        request_headers_to_remove,
        response_headers_to_add,
        response_headers_to_remove,
        fault,
        cors,
        stat_prefix,
        operation,
    } = x;
    s.nested(1, out, |b, s| route_match(matcher, b, s));
    match action {
        RouteAction::Route(f) => s.nested(2, out, |b, s| forward(*f, b, s)),
        RouteAction::Redirect(rd) => s.message(3, &translation::redirect(rd), out),
        RouteAction::DirectResponse(d) => s.message(7, &translation::direct_response(d), out),
        // Istio emits no action (VS-21).
        RouteAction::Unsupported { .. } => {}
    }
    if let Some(o) = &origin {
        provenance(4, &o.virtual_service, out, s);
    }
    if !operation.is_empty() {
        s.nested(5, out, |b, _| text(1, &operation, b));
    }
    for h in request_headers_to_add {
        s.message(9, &translation::header_value(h), out);
    }
    for h in response_headers_to_add {
        s.message(10, &translation::header_value(h), out);
    }
    string::encode_repeated(11, &response_headers_to_remove, out);
    string::encode_repeated(12, &request_headers_to_remove, out);
    // `typed_per_filter_config`, in key order: cors, then fault.
    if let Some(p) = &cors {
        typed_config(13, "envoy.filters.http.cors", &translation::cors(p), out, s);
    }
    if let Some(f) = &fault {
        typed_config(
            13,
            "envoy.filters.http.fault",
            &translation::fault(f),
            out,
            s,
        );
    }
    text(14, &name, out);
    text(19, stat_prefix.as_deref().unwrap_or_default(), out);
}

/// Field `tag`: a `Metadata` of one `filter_metadata` entry, `istio`, a
/// `Struct` of one field, `config`, whose string value is the config path
/// of VirtualService `vs` (`route::config_path`); written as prost writes
/// the maps of that message, each length worked out once.
fn provenance(tag: u32, vs: &c::ConfigRef, out: &mut Vec<u8>, s: &mut Widths) {
    s.nested(tag, out, |b, s| {
        s.nested(1, b, |b, s| {
            text(1, "istio", b);
            s.nested(2, b, |b, s| {
                s.nested(1, b, |b, s| {
                    text(1, "config", b);
                    s.nested(2, b, |b, _| {
                        let pieces = translation::config_path_pieces(vs);
                        let len: usize = pieces.iter().map(|p| p.len()).sum();
                        encode_key(3, WireType::LengthDelimited, b);
                        encode_varint(len as u64, b);
                        for p in pieces {
                            b.extend_from_slice(p.as_bytes());
                        }
                    })
                })
            })
        })
    });
}

/// One entry of a `map<string, Any>` field: `key` and `m` packed.
fn typed_config<M: Message + prost::Name>(
    tag: u32,
    key: &str,
    m: &M,
    out: &mut Vec<u8>,
    s: &mut Widths,
) {
    let any = crate::util::any(m);
    s.nested(tag, out, |b, s| {
        text(1, key, b);
        s.message(2, &any, b);
    });
}

/// Writes the fields of `m`'s translation (`RouteMatch`) in prost's order
/// (the path specifier oneof at its lowest number, 1).
fn route_match(m: c::RouteMatch, out: &mut Vec<u8>, s: &mut Widths) {
    let c::RouteMatch {
        path,
        case_sensitive,
        headers,
        query_parameters,
        claims,
    } = m;
    match path {
        PathMatch::Prefix(p) => delimited(1, p.as_bytes(), out),
        PathMatch::Path(p) => delimited(2, p.as_bytes(), out),
        PathMatch::SafeRegex(re) => s.message(10, &translation::regex(re.pattern()), out),
    }
    if !case_sensitive {
        // `BoolValue { value: false }`: nothing set.
        s.nested(4, out, |_, _| {});
    }
    for h in headers {
        s.message(6, &translation::header_matcher(h), out);
    }
    for q in query_parameters {
        s.message(7, &translation::query_parameter_matcher(q), out);
    }
    for cm in claims {
        s.message(13, &translation::claim_matcher(cm), out);
    }
}

/// Writes the fields of `f`'s translation (`RouteAction`) in prost's
/// order (each oneof at its lowest number).
fn forward(f: c::ForwardAction, out: &mut Vec<u8>, s: &mut Widths) {
    let c::ForwardAction {
        clusters,
        timeout,
        max_grpc_timeout,
        retry_policy,
        prefix_rewrite,
        regex_rewrite,
        host_rewrite_literal,
        request_mirror_policies,
        hash_policy,
    } = f;
    match clusters {
        ClusterSpecifier::Cluster(d) => delimited(1, d.name.as_bytes(), out),
        ClusterSpecifier::WeightedClusters(ds) => {
            let w = WeightedCluster {
                clusters: ds.into_iter().map(translation::cluster_weight).collect(),
                ..Default::default()
            };
            s.message(3, &w, out);
        }
    }
    text(5, prefix_rewrite.as_deref().unwrap_or_default(), out);
    if let Some(h) = &host_rewrite_literal {
        delimited(6, h.as_bytes(), out);
    }
    s.nested(8, out, |b, _| duration(timeout.unwrap_or_default(), b));
    if let Some(p) = retry_policy {
        s.nested(9, out, |b, s| retry(p, b, s));
    }
    for h in hash_policy {
        s.message(15, &translation::hash_policy(h), out);
    }
    for m in request_mirror_policies {
        s.message(30, &translation::mirror(m), out);
    }
    if let Some(rr) = regex_rewrite {
        s.message(32, &translation::regex_rewrite(rr), out);
    }
    // `max_stream_duration.grpc_timeout_header_max` (VS-24).
    s.nested(36, out, |b, s| {
        s.nested(2, b, |b, _| {
            duration(max_grpc_timeout.unwrap_or_default(), b)
        })
    });
}

/// Writes the fields of `p`'s translation (`RetryPolicy`) in prost's
/// order.
fn retry(p: c::RetryPolicy, out: &mut Vec<u8>, s: &mut Widths) {
    // Both configs are constants, encoded once: nearly every route has a
    // retry policy.
    static PREVIOUS_HOSTS: LazyLock<Vec<u8>> =
        LazyLock::new(|| translation::previous_hosts().encode_to_vec());
    static PREVIOUS_PRIORITIES: LazyLock<Vec<u8>> =
        LazyLock::new(|| translation::previous_priorities().encode_to_vec());
    let c::RetryPolicy {
        num_retries,
        retry_on,
        retriable_status_codes,
        per_try_timeout,
        host_selection_retry_max_attempts,
        retry_previous_hosts,
        retry_previous_priorities,
        backoff_base_interval,
    } = p;
    text(1, &retry_on, out);
    // `num_retries`, a `UInt32Value`.
    s.nested(2, out, |b, _| {
        if num_retries != 0 {
            uint32::encode(1, &num_retries, b);
        }
    });
    if let Some(d) = per_try_timeout {
        s.nested(3, out, |b, _| duration(d, b));
    }
    if retry_previous_priorities {
        delimited(4, &PREVIOUS_PRIORITIES, out);
    }
    if retry_previous_hosts {
        delimited(5, &PREVIOUS_HOSTS, out);
    }
    if host_selection_retry_max_attempts != 0 {
        int64::encode(6, &i64::from(host_selection_retry_max_attempts), out);
    }
    uint32::encode_packed(7, &retriable_status_codes, out);
    if let Some(d) = backoff_base_interval {
        // `retry_back_off.base_interval`.
        s.nested(8, out, |b, s| s.nested(1, b, |b, _| duration(d, b)));
    }
}

/// The fields of `d` as a `google.protobuf.Duration`
/// ([`crate::util::duration`]).
fn duration(d: Duration, out: &mut Vec<u8>) {
    let d = crate::util::duration(d);
    if d.seconds != 0 {
        int64::encode(1, &d.seconds, out);
    }
    if d.nanos != 0 {
        int32::encode(2, &d.nanos, out);
    }
}
