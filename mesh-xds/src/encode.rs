//! Protobuf encoding of route configurations and clusters that works out
//! each length once.
//!
//! prost writes a nested message as its length and then its fields, and
//! works the length out by walking the whole message; each level above it
//! does the same. A field `d` messages deep is therefore walked `d + 1`
//! times, and Istio's routes are deep: a route's `istio.config` metadata is
//! five messages below the route and seven below its route configuration.
//!
//! Clusters are deep in the same way: the strings of a cluster's
//! `istio.services` metadata sit about ten messages below it.
//!
//! [`Encoder`] writes each nested message in place, after room for its
//! length, and fills the length in once the message is written: for a
//! route configuration, down through the virtual hosts, the routes and
//! their metadata; for a cluster, its fields, its metadata and its
//! transport socket matches. `google.protobuf.Struct` values are written
//! this way however deep. Below that (a route's match and action, for
//! example), prost writes each message. The room left for a length is a
//! guess (what the last message in the same place needed); when it is
//! wrong, the message is moved to fit, which is rare in a list of similar
//! messages. The bytes are exactly prost's: fields in field-number order,
//! defaults left out, varints at their shortest, map entries in the map's
//! order.
//!
//! A route configuration as mesh-route compiles it is written the same
//! way without being translated into Envoy's protos first: the parts
//! nearly every route has are written straight from mesh-route's types
//! (`PreparedProxy::route_resources` uses this).
//!
//! ```
//! use mesh_xds::encode::Encoder;
//! use envoy_types::pb::envoy::config::route::v3::{Route, RouteConfiguration, VirtualHost};
//! use prost::Message;
//! let rc = RouteConfiguration {
//!     name: "80".into(),
//!     virtual_hosts: vec![VirtualHost {
//!         name: "a.example:80".into(),
//!         domains: vec!["a.example".into()],
//!         routes: vec![Route { name: "default".into(), ..Default::default() }],
//!         ..Default::default()
//!     }],
//!     ..Default::default()
//! };
//! assert_eq!(Encoder::default().route_configuration(&rc), rc.encode_to_vec());
//! ```

use envoy_types::pb::envoy::config::cluster::v3::Cluster;
use envoy_types::pb::envoy::config::cluster::v3::cluster::TransportSocketMatch;
use envoy_types::pb::envoy::config::core::v3::Metadata;
use envoy_types::pb::envoy::config::route::v3::{Route, RouteConfiguration, VirtualHost, route};
use envoy_types::pb::google::protobuf::{Any, Struct, Value, value::Kind};
use prost::Message;
use prost::encoding::{
    WireType, bool as pb_bool, double, encode_key, encode_varint, encoded_len_varint, hash_map,
    int32, key_len, message, string,
};
use std::collections::HashMap;

mod compiled;

/// Encodes route configurations and clusters, byte for byte as
/// [`Message::encode_to_vec`] does, working out each length once down to
/// their metadata (see the [module](self) docs). It keeps its guesses of
/// how long the lengths of nested messages are, and the size of the last
/// cluster, from one resource to the next.
///
/// ```
/// use mesh_xds::encode::Encoder;
/// use envoy_types::pb::envoy::config::cluster::v3::Cluster;
/// use envoy_types::pb::envoy::config::route::v3::RouteConfiguration;
/// use prost::Message;
/// let mut encoder = Encoder::default();
/// for i in 0..3 {
///     let rc = RouteConfiguration { name: format!("{i}"), ..Default::default() };
///     assert_eq!(encoder.route_configuration(&rc), rc.encode_to_vec());
///     let c = Cluster { name: format!("outbound|{i}||a"), ..Default::default() };
///     assert_eq!(encoder.cluster(&c), c.encode_to_vec());
/// }
/// ```
#[derive(Debug, Default)]
pub struct Encoder {
    widths: Widths,
}

impl Encoder {
    /// The protobuf encoding of `rc`, byte for byte prost's.
    pub fn route_configuration(&mut self, rc: &RouteConfiguration) -> Vec<u8> {
        let room = route_configuration_room(
            rc.virtual_hosts.iter().map(|v| v.routes.len()),
            rc.virtual_hosts.len(),
        );
        self.widths
            .exact(room, |out, s| route_configuration(rc, out, s))
    }

    /// The name and protobuf encoding of a route configuration as
    /// mesh-route compiles it: prost's encoding of
    /// [`crate::route::into_route_configuration`]`(rc)`, written straight
    /// from `rc` without building that message (see [`compiled`]). Byte
    /// for byte prost's, but for a route with both a fault and a CORS
    /// policy, whose two `typed_per_filter_config` entries are written in
    /// key order (prost writes a hash map in the order it iterates).
    pub(crate) fn compiled_route_configuration(
        &mut self,
        rc: mesh_route::config::RouteConfiguration,
    ) -> (String, Vec<u8>) {
        let room = route_configuration_room(
            rc.virtual_hosts.iter().map(|v| v.routes.len()),
            rc.virtual_hosts.len(),
        );
        let mut name = String::new();
        let bytes = self.widths.exact(room, |out, s| {
            name = compiled::route_configuration(rc, out, s);
        });
        (name, bytes)
    }

    /// The protobuf encoding of `c`, byte for byte prost's.
    pub fn cluster(&mut self, c: &Cluster) -> Vec<u8> {
        // Clusters are mostly alike in size: room for as much as the last
        // one, up to 64 KiB (a cluster with its endpoints inline can be
        // far larger than the rest).
        let room = self.widths.last.min(1 << 16);
        self.widths.exact(room, |out, s| cluster(c, out, s))
    }
}

/// The room a route configuration's encoding starts with, from its
/// routes per virtual host: what Istio's routes and virtual hosts usually
/// take (about 470 and 560 bytes a route, virtual host included, in its
/// sidecar and gateway benchmarks), so that a large configuration is not
/// grown from a small start.
fn route_configuration_room(routes: impl Iterator<Item = usize>, virtual_hosts: usize) -> usize {
    512 * routes.sum::<usize>() + 128 * virtual_hosts
}

/// Writes the fields of `rc` in prost's order (by field number).
fn route_configuration(rc: &RouteConfiguration, out: &mut Vec<u8>, s: &mut Widths) {
    // Taken apart whole, so that a field a new Envoy adds is a compile
    // error here rather than silently left out.
    let RouteConfiguration {
        name,
        virtual_hosts,
        vhds,
        internal_only_headers,
        response_headers_to_add,
        response_headers_to_remove,
        request_headers_to_add,
        request_headers_to_remove,
        most_specific_header_mutations_wins,
        validate_clusters,
        max_direct_response_body_size_bytes,
        cluster_specifier_plugins,
        request_mirror_policies,
        ignore_port_in_host_matching,
        vhost_header,
        ignore_path_parameters_in_path_matching,
        typed_per_filter_config,
        metadata,
        route_specifiers,
    } = rc;
    text(1, name, out);
    for vh in virtual_hosts {
        s.nested(2, out, |b, s| virtual_host(vh, b, s));
    }
    string::encode_repeated(3, internal_only_headers, out);
    s.repeated(4, response_headers_to_add, out);
    string::encode_repeated(5, response_headers_to_remove, out);
    s.repeated(6, request_headers_to_add, out);
    s.optional(7, validate_clusters, out);
    string::encode_repeated(8, request_headers_to_remove, out);
    s.optional(9, vhds, out);
    flag(10, *most_specific_header_mutations_wins, out);
    s.optional(11, max_direct_response_body_size_bytes, out);
    s.repeated(12, cluster_specifier_plugins, out);
    s.repeated(13, request_mirror_policies, out);
    flag(14, *ignore_port_in_host_matching, out);
    flag(15, *ignore_path_parameters_in_path_matching, out);
    typed_configs(16, typed_per_filter_config, out);
    s.metadata(17, metadata, out);
    text(18, vhost_header, out);
    s.repeated(19, route_specifiers, out);
}

/// How many bytes the length of the next message at a place will take:
/// a nested message is written after room for its length, which is
/// filled in afterwards.
///
/// The guess is the width the last message written at the same depth
/// and field number had, as a list's elements are mostly of one size.
/// When a guess is wrong, the message is moved to make its length fit.
#[derive(Debug)]
struct Widths {
    /// The guess for field number `f` (up to 63) at depth `d` (up to 7):
    /// `guess[d][f]`, 1 to start with.
    guess: [[u8; 64]; 8],
    /// How deep the message being written is.
    depth: usize,
    /// The length of the last resource written: the room the next
    /// cluster starts with.
    last: usize,
}

impl Default for Widths {
    fn default() -> Self {
        Widths {
            guess: [[1; 64]; 8],
            depth: 0,
            last: 0,
        }
    }
}

impl Widths {
    /// Appends field `tag` to `out`: the message whose fields `write`
    /// writes, after its length.
    fn nested(
        &mut self,
        tag: u32,
        out: &mut Vec<u8>,
        write: impl FnOnce(&mut Vec<u8>, &mut Widths),
    ) {
        encode_key(tag, WireType::LengthDelimited, out);
        let (d, f) = (self.depth.min(7), (tag as usize).min(63));
        let guess = usize::from(self.guess[d][f]);
        let at = out.len();
        out.resize(at + guess, 0);
        self.depth += 1;
        write(out, self);
        self.depth -= 1;
        let len = out.len() - at - guess;
        let width = encoded_len_varint(len as u64);
        if width != guess {
            // The body moves so that its length fits before it.
            if width > guess {
                out.resize(out.len() + width - guess, 0);
            }
            out.copy_within(at + guess..at + guess + len, at + width);
            out.truncate(at + width + len);
            self.guess[d][f] = width as u8;
        }
        let mut v = len as u64;
        for b in &mut out[at..at + width] {
            *b = (v as u8 & 0x7f) | 0x80;
            v >>= 7;
        }
        out[at + width - 1] &= 0x7f;
    }

    /// What `write` writes, in a vector of exactly its length (as prost's
    /// `encode_to_vec` gives), which starts with room for `room` bytes.
    fn exact(&mut self, room: usize, write: impl FnOnce(&mut Vec<u8>, &mut Widths)) -> Vec<u8> {
        let mut out = Vec::with_capacity(room);
        write(&mut out, self);
        self.last = out.len();
        out.shrink_to_fit();
        out
    }

    /// Appends field `tag` holding `m`, encoded by prost without working
    /// out its length first.
    fn message(&mut self, tag: u32, m: &impl Message, out: &mut Vec<u8>) {
        self.nested(tag, out, |b, _| m.encode_raw(b));
    }

    /// [`Widths::message`] for an optional field: nothing when unset.
    fn optional(&mut self, tag: u32, m: &Option<impl Message>, out: &mut Vec<u8>) {
        if let Some(m) = m {
            self.message(tag, m, out);
        }
    }

    /// A `Metadata` field, its `Struct`s written here however deep:
    /// nothing when unset.
    fn metadata(&mut self, tag: u32, m: &Option<Metadata>, out: &mut Vec<u8>) {
        if let Some(m) = m {
            self.nested(tag, out, |b, s| metadata_fields(m, b, s));
        }
    }

    /// [`Widths::message`] for each element of a repeated field.
    fn repeated(&mut self, tag: u32, list: &[impl Message], out: &mut Vec<u8>) {
        for m in list {
            self.message(tag, m, out);
        }
    }
}

/// Writes the fields of `vh` in prost's order (by field number).
fn virtual_host(vh: &VirtualHost, out: &mut Vec<u8>, s: &mut Widths) {
    // Taken apart whole, so that a field a new Envoy adds is a compile
    // error here rather than silently left out.
    #[allow(deprecated)]
    let VirtualHost {
        name,
        domains,
        routes,
        matcher,
        require_tls,
        virtual_clusters,
        rate_limits,
        request_headers_to_add,
        request_headers_to_remove,
        response_headers_to_add,
        response_headers_to_remove,
        cors,
        typed_per_filter_config,
        include_request_attempt_count,
        include_attempt_count_in_response,
        retry_policy,
        retry_policy_typed_config,
        hedge_policy,
        include_is_timeout_retry_header,
        per_request_buffer_limit_bytes,
        request_body_buffer_limit,
        request_mirror_policies,
        metadata,
        route_specifiers,
    } = vh;
    text(1, name, out);
    string::encode_repeated(2, domains, out);
    for r in routes {
        s.nested(3, out, |b, s| route_fields(r, b, s));
    }
    number(4, *require_tls, out);
    s.repeated(5, virtual_clusters, out);
    s.repeated(6, rate_limits, out);
    s.repeated(7, request_headers_to_add, out);
    s.optional(8, cors, out);
    s.repeated(10, response_headers_to_add, out);
    string::encode_repeated(11, response_headers_to_remove, out);
    string::encode_repeated(13, request_headers_to_remove, out);
    flag(14, *include_request_attempt_count, out);
    typed_configs(15, typed_per_filter_config, out);
    s.optional(16, retry_policy, out);
    s.optional(17, hedge_policy, out);
    s.optional(18, per_request_buffer_limit_bytes, out);
    flag(19, *include_attempt_count_in_response, out);
    s.optional(20, retry_policy_typed_config, out);
    s.optional(21, matcher, out);
    s.repeated(22, request_mirror_policies, out);
    flag(23, *include_is_timeout_retry_header, out);
    s.metadata(24, metadata, out);
    s.optional(25, request_body_buffer_limit, out);
    s.repeated(26, route_specifiers, out);
}

/// Writes the fields of `r` in prost's order (by field number; the
/// `action` oneof at its lowest number, 2).
fn route_fields(r: &Route, out: &mut Vec<u8>, s: &mut Widths) {
    // Taken apart whole, so that a field a new Envoy adds is a compile
    // error here rather than silently left out.
    #[allow(deprecated)]
    let Route {
        name,
        r#match,
        metadata,
        decorator,
        typed_per_filter_config,
        request_headers_to_add,
        request_headers_to_remove,
        response_headers_to_add,
        response_headers_to_remove,
        tracing,
        per_request_buffer_limit_bytes,
        stat_prefix,
        request_body_buffer_limit,
        route_specifiers,
        action,
    } = r;
    s.optional(1, r#match, out);
    match action {
        None => {}
        Some(route::Action::Route(a)) => s.message(2, a, out),
        Some(route::Action::Redirect(a)) => s.message(3, a, out),
        Some(route::Action::DirectResponse(a)) => s.message(7, a, out),
        Some(route::Action::FilterAction(a)) => s.message(17, a, out),
        Some(route::Action::NonForwardingAction(a)) => s.message(18, a, out),
    }
    s.metadata(4, metadata, out);
    s.optional(5, decorator, out);
    s.repeated(9, request_headers_to_add, out);
    s.repeated(10, response_headers_to_add, out);
    string::encode_repeated(11, response_headers_to_remove, out);
    string::encode_repeated(12, request_headers_to_remove, out);
    typed_configs(13, typed_per_filter_config, out);
    text(14, name, out);
    s.optional(15, tracing, out);
    s.optional(16, per_request_buffer_limit_bytes, out);
    text(19, stat_prefix, out);
    s.optional(20, request_body_buffer_limit, out);
    s.repeated(21, route_specifiers, out);
}

/// Writes the fields of `c` in prost's order (by field number; each
/// oneof at its lowest number).
fn cluster(c: &Cluster, out: &mut Vec<u8>, s: &mut Widths) {
    // Taken apart whole, so that a field a new Envoy adds is a compile
    // error here rather than silently left out.
    #[allow(deprecated)]
    let Cluster {
        transport_socket_matches,
        transport_socket_matcher,
        name,
        alt_stat_name,
        stats_matcher,
        eds_cluster_config,
        connect_timeout,
        per_connection_buffer_limit_bytes,
        per_connection_buffer_high_watermark_timeout,
        lb_policy,
        load_assignment,
        health_checks,
        max_requests_per_connection,
        circuit_breakers,
        upstream_http_protocol_options,
        common_http_protocol_options,
        http_protocol_options,
        http2_protocol_options,
        typed_extension_protocol_options,
        dns_refresh_rate,
        dns_jitter,
        dns_failure_refresh_rate,
        respect_dns_ttl,
        dns_lookup_family,
        dns_resolvers,
        use_tcp_for_dns_lookups,
        dns_resolution_config,
        typed_dns_resolver_config,
        wait_for_warm_on_init,
        outlier_detection,
        cleanup_interval,
        upstream_bind_config,
        lb_subset_config,
        common_lb_config,
        transport_socket,
        metadata,
        protocol_selection,
        upstream_connection_options,
        close_connections_on_host_health_failure,
        ignore_health_on_host_removal,
        filters,
        load_balancing_policy,
        lrs_server,
        lrs_report_endpoint_metrics,
        track_timeout_budgets,
        upstream_config,
        track_cluster_stats,
        preconnect_policy,
        connection_pool_per_downstream_connection,
        queuing_policies,
        cluster_discovery_type,
        lb_config,
    } = c;
    text(1, name, out);
    if let Some(d) = cluster_discovery_type {
        d.encode(out);
    }
    s.optional(3, eds_cluster_config, out);
    s.optional(4, connect_timeout, out);
    s.optional(5, per_connection_buffer_limit_bytes, out);
    number(6, *lb_policy, out);
    s.repeated(8, health_checks, out);
    s.optional(9, max_requests_per_connection, out);
    s.optional(10, circuit_breakers, out);
    s.optional(13, http_protocol_options, out);
    s.optional(14, http2_protocol_options, out);
    s.optional(16, dns_refresh_rate, out);
    number(17, *dns_lookup_family, out);
    s.repeated(18, dns_resolvers, out);
    s.optional(19, outlier_detection, out);
    s.optional(20, cleanup_interval, out);
    s.optional(21, upstream_bind_config, out);
    s.optional(22, lb_subset_config, out);
    if let Some(l) = lb_config {
        l.encode(out);
    }
    s.optional(24, transport_socket, out);
    s.metadata(25, metadata, out);
    number(26, *protocol_selection, out);
    s.optional(27, common_lb_config, out);
    text(28, alt_stat_name, out);
    s.optional(29, common_http_protocol_options, out);
    s.optional(30, upstream_connection_options, out);
    flag(31, *close_connections_on_host_health_failure, out);
    flag(32, *ignore_health_on_host_removal, out);
    s.optional(33, load_assignment, out);
    typed_configs(36, typed_extension_protocol_options, out);
    flag(39, *respect_dns_ttl, out);
    s.repeated(40, filters, out);
    s.optional(41, load_balancing_policy, out);
    s.optional(42, lrs_server, out);
    for m in transport_socket_matches {
        s.nested(43, out, |b, s| transport_socket_match(m, b, s));
    }
    s.optional(44, dns_failure_refresh_rate, out);
    flag(45, *use_tcp_for_dns_lookups, out);
    s.optional(46, upstream_http_protocol_options, out);
    flag(47, *track_timeout_budgets, out);
    s.optional(48, upstream_config, out);
    s.optional(49, track_cluster_stats, out);
    s.optional(50, preconnect_policy, out);
    flag(51, *connection_pool_per_downstream_connection, out);
    s.optional(53, dns_resolution_config, out);
    s.optional(54, wait_for_warm_on_init, out);
    s.optional(55, typed_dns_resolver_config, out);
    string::encode_repeated(57, lrs_report_endpoint_metrics, out);
    s.optional(58, dns_jitter, out);
    s.optional(59, transport_socket_matcher, out);
    s.optional(60, per_connection_buffer_high_watermark_timeout, out);
    s.optional(61, stats_matcher, out);
    s.optional(62, queuing_policies, out);
}

/// Writes the fields of a transport socket match: its `match` is a
/// `Struct`.
fn transport_socket_match(m: &TransportSocketMatch, out: &mut Vec<u8>, s: &mut Widths) {
    let TransportSocketMatch {
        name,
        r#match,
        transport_socket,
    } = m;
    text(1, name, out);
    if let Some(st) = r#match {
        s.nested(2, out, |b, s| struct_fields(st, b, s));
    }
    s.optional(3, transport_socket, out);
}

/// A `map<string, google.protobuf.Any>` field (typed configurations and
/// typed metadata), written by prost in the map's order.
fn typed_configs(tag: u32, map: &HashMap<String, Any>, out: &mut Vec<u8>) {
    hash_map::encode(
        string::encode,
        string::encoded_len,
        message::encode,
        message::encoded_len,
        tag,
        map,
        out,
    );
}

/// A proto3 string field: left out when empty.
fn text(tag: u32, v: &str, out: &mut Vec<u8>) {
    if !v.is_empty() {
        delimited(tag, v.as_bytes(), out);
    }
}

/// A length-delimited field holding `bytes` as they are: a string field
/// of a oneof (written even when empty, as prost writes a oneof that is
/// set), or a message already encoded.
fn delimited(tag: u32, bytes: &[u8], out: &mut Vec<u8>) {
    encode_key(tag, WireType::LengthDelimited, out);
    encode_varint(bytes.len() as u64, out);
    out.extend_from_slice(bytes);
}

/// A proto3 `bool` field: left out when false.
fn flag(tag: u32, v: bool, out: &mut Vec<u8>) {
    if v {
        pb_bool::encode(tag, &v, out);
    }
}

/// A proto3 `int32` or enum field: left out when 0.
fn number(tag: u32, v: i32, out: &mut Vec<u8>) {
    if v != 0 {
        int32::encode(tag, &v, out);
    }
}

/// Writes the fields of `m`: each `filter_metadata` entry (1) as prost
/// writes a map entry (key 1 and value 2, each left out when empty), in
/// the map's order; `typed_filter_metadata` (2) by prost.
fn metadata_fields(m: &Metadata, out: &mut Vec<u8>, s: &mut Widths) {
    let Metadata {
        filter_metadata,
        typed_filter_metadata,
    } = m;
    for (k, v) in filter_metadata {
        s.nested(1, out, |b, s| {
            text(1, k, b);
            if !v.fields.is_empty() {
                s.nested(2, b, |b, s| struct_fields(v, b, s));
            }
        });
    }
    typed_configs(2, typed_filter_metadata, out);
}

/// Writes the fields of a `Struct`: its map entries in the map's order.
fn struct_fields(st: &Struct, out: &mut Vec<u8>, s: &mut Widths) {
    for (k, v) in &st.fields {
        let key = if k.is_empty() {
            0
        } else {
            string::encoded_len(1, k)
        };
        match scalar_len(v) {
            // A scalar value's length is known without a walk, so the
            // entry is written in place.
            Some(len) => {
                let value = if v.kind.is_none() {
                    0
                } else {
                    key_len(2) + encoded_len_varint(len as u64) + len
                };
                encode_key(1, WireType::LengthDelimited, out);
                encode_varint((key + value) as u64, out);
                text(1, k, out);
                if v.kind.is_some() {
                    encode_key(2, WireType::LengthDelimited, out);
                    encode_varint(len as u64, out);
                    value_fields(v, out, s);
                }
            }
            None => s.nested(1, out, |b, s| {
                text(1, k, b);
                s.nested(2, b, |b, s| value_fields(v, b, s));
            }),
        }
    }
}

/// The encoded length of a value that holds no message; `None` for a
/// `Struct` or a list.
fn scalar_len(v: &Value) -> Option<usize> {
    match &v.kind {
        None => Some(0),
        Some(Kind::NullValue(n)) => Some(int32::encoded_len(1, n)),
        Some(Kind::NumberValue(x)) => Some(double::encoded_len(2, x)),
        Some(Kind::StringValue(x)) => Some(string::encoded_len(3, x)),
        Some(Kind::BoolValue(b)) => Some(pb_bool::encoded_len(4, b)),
        Some(Kind::StructValue(_) | Kind::ListValue(_)) => None,
    }
}

/// Writes the fields of a `Value`: its one kind, written even when it is
/// the kind's default, as prost writes a oneof.
fn value_fields(v: &Value, out: &mut Vec<u8>, s: &mut Widths) {
    match &v.kind {
        None => {}
        Some(Kind::NullValue(n)) => int32::encode(1, n, out),
        Some(Kind::NumberValue(x)) => double::encode(2, x, out),
        Some(Kind::StringValue(x)) => string::encode(3, x, out),
        Some(Kind::BoolValue(b)) => pb_bool::encode(4, b, out),
        Some(Kind::StructValue(st)) => s.nested(5, out, |b, s| struct_fields(st, b, s)),
        Some(Kind::ListValue(l)) => s.nested(6, out, |b, s| {
            for v in &l.values {
                s.nested(1, b, |b, s| value_fields(v, b, s));
            }
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::util::{any, metadata, string_value, u32v};
    use envoy_types::pb::envoy::config::core::v3::{HeaderValue, HeaderValueOption};
    use envoy_types::pb::envoy::config::route::v3::{
        CorsPolicy, Decorator, RetryPolicy, VirtualCluster,
    };

    fn header(k: &str) -> HeaderValueOption {
        HeaderValueOption {
            header: Some(HeaderValue {
                key: k.into(),
                value: "v".into(),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    /// Metadata of every shape: each kind of value, nested structs and
    /// lists, empty keys, an empty struct, a value with no kind.
    fn deep_metadata(i: u32) -> Metadata {
        let scalars = vec![
            Value { kind: None },
            Value {
                kind: Some(Kind::NullValue(0)),
            },
            Value {
                kind: Some(Kind::NumberValue(f64::from(i) + 0.5)),
            },
            Value {
                kind: Some(Kind::NumberValue(0.0)),
            },
            Value {
                kind: Some(Kind::StringValue(String::new())),
            },
            Value {
                kind: Some(Kind::BoolValue(false)),
            },
            string_value("s".repeat(200)),
        ];
        let mut fields: Vec<(&str, Value)> = vec![
            ("", string_value("empty key")),
            ("none", Value { kind: None }),
            ("empty", crate::util::struct_value(vec![])),
            ("list", crate::util::list_value(scalars.clone())),
            (
                "nested",
                crate::util::struct_value(vec![(
                    "deeper",
                    crate::util::list_value(vec![
                        crate::util::struct_value(vec![("x", string_value(format!("{i}")))]),
                        crate::util::list_value(vec![]),
                    ]),
                )]),
            ),
        ];
        let names = ["a", "b", "c", "d", "e", "f", "g"];
        fields.extend(names.iter().copied().zip(scalars));
        let mut m = metadata("istio", fields);
        m.filter_metadata.insert(String::new(), Struct::default());
        m.filter_metadata.insert(
            "other".into(),
            crate::util::pb_struct(vec![("k", string_value("v"))]),
        );
        m.typed_filter_metadata.insert("t".into(), any(&u32v(i)));
        m
    }

    /// A route with every field set; `i` picks its action.
    #[allow(deprecated)]
    fn route(i: u32) -> Route {
        use envoy_types::pb::envoy::config::route::v3::{
            DirectResponseAction, FilterAction, NonForwardingAction, RedirectAction, RouteAction,
            RouteMatch, Tracing,
        };
        let action = match i % 6 {
            0 => None,
            1 => Some(route::Action::Route(RouteAction {
                retry_policy: Some(RetryPolicy {
                    retry_on: "5xx".into(),
                    ..Default::default()
                }),
                ..Default::default()
            })),
            2 => Some(route::Action::Redirect(RedirectAction {
                host_redirect: "h".into(),
                ..Default::default()
            })),
            3 => Some(route::Action::DirectResponse(DirectResponseAction {
                status: 418,
                ..Default::default()
            })),
            4 => Some(route::Action::FilterAction(FilterAction::default())),
            _ => Some(route::Action::NonForwardingAction(NonForwardingAction {})),
        };
        Route {
            name: format!("r{i}"),
            r#match: Some(RouteMatch::default()),
            metadata: Some(deep_metadata(i)),
            decorator: Some(Decorator {
                operation: format!("op-{i}"),
                ..Default::default()
            }),
            typed_per_filter_config: [
                ("f1".to_string(), any(&u32v(i))),
                ("f2".to_string(), any(&u32v(0))),
            ]
            .into(),
            request_headers_to_add: vec![header("ra")],
            request_headers_to_remove: vec!["rr".into()],
            response_headers_to_add: vec![header("sa")],
            response_headers_to_remove: vec!["sr".into()],
            tracing: Some(Tracing::default()),
            per_request_buffer_limit_bytes: Some(u32v(5)),
            stat_prefix: "sp".into(),
            request_body_buffer_limit: Some(envoy_types::pb::google::protobuf::UInt64Value {
                value: 6,
            }),
            route_specifiers: Vec::new(),
            action,
        }
    }

    /// Every field of a virtual host and a route configuration set, each
    /// to a value of its own, so that a field written from the wrong
    /// source or left out changes the bytes.
    #[allow(deprecated)]
    fn full() -> RouteConfiguration {
        let host = |n: u32| VirtualHost {
            name: format!("h{n}"),
            domains: vec![format!("h{n}.example"), format!("h{n}.example:*")],
            routes: (0..n).map(route).collect(),
            require_tls: 2,
            virtual_clusters: vec![VirtualCluster {
                name: "vc".into(),
                ..Default::default()
            }],
            request_headers_to_add: vec![header("a")],
            request_headers_to_remove: vec!["b".into()],
            response_headers_to_add: vec![header("c")],
            response_headers_to_remove: vec!["d".into()],
            cors: Some(CorsPolicy::default()),
            typed_per_filter_config: [("f".to_string(), any(&u32v(n)))].into(),
            include_request_attempt_count: true,
            include_attempt_count_in_response: true,
            retry_policy: Some(RetryPolicy {
                retry_on: "5xx".into(),
                ..Default::default()
            }),
            include_is_timeout_retry_header: true,
            per_request_buffer_limit_bytes: Some(u32v(7)),
            request_body_buffer_limit: Some(envoy_types::pb::google::protobuf::UInt64Value {
                value: 9,
            }),
            metadata: Some(metadata("m", vec![("k", string_value("v"))])),
            ..Default::default()
        };
        RouteConfiguration {
            name: "rc".into(),
            virtual_hosts: vec![host(0), host(1), host(7)],
            internal_only_headers: vec!["i".into()],
            response_headers_to_add: vec![header("e")],
            response_headers_to_remove: vec!["f".into()],
            request_headers_to_add: vec![header("g")],
            request_headers_to_remove: vec!["h".into()],
            most_specific_header_mutations_wins: true,
            validate_clusters: Some(crate::util::boolv(false)),
            max_direct_response_body_size_bytes: Some(u32v(11)),
            ignore_port_in_host_matching: true,
            vhost_header: "x-host".into(),
            ignore_path_parameters_in_path_matching: true,
            typed_per_filter_config: [("g".to_string(), any(&u32v(3)))].into(),
            metadata: Some(metadata("n", vec![("k", string_value("w"))])),
            ..Default::default()
        }
    }

    #[test]
    fn bytes_are_prosts() {
        let rc = full();
        let bytes = Encoder::default().route_configuration(&rc);
        assert_eq!(bytes, rc.encode_to_vec());
        // No spare room kept for as long as the resource is.
        assert_eq!(bytes.capacity(), bytes.len());
        let decoded =
            RouteConfiguration::decode(&Encoder::default().route_configuration(&rc)[..]).unwrap();
        assert_eq!(decoded, rc);
        // Empty messages and empty names, which prost leaves out.
        for rc in [
            RouteConfiguration::default(),
            RouteConfiguration {
                virtual_hosts: vec![VirtualHost::default(); 2],
                ..Default::default()
            },
        ] {
            assert_eq!(
                Encoder::default().route_configuration(&rc),
                rc.encode_to_vec()
            );
        }
    }

    /// A route long enough that its length takes two varint bytes, in a
    /// host long enough for three.
    #[test]
    fn long_lengths() {
        let mut r = route(1);
        r.name = "n".repeat(300);
        let rc = RouteConfiguration {
            virtual_hosts: vec![VirtualHost {
                routes: vec![r; 100],
                ..Default::default()
            }],
            ..Default::default()
        };
        let bytes = Encoder::default().route_configuration(&rc);
        assert!(bytes.len() > 1 << 14);
        assert_eq!(bytes, rc.encode_to_vec());
    }

    /// Lengths of one, two and three varint bytes side by side, in both
    /// orders, so that every guess of a length's width is wrong some of
    /// the time: each wrong guess moves the message to fit.
    #[test]
    fn lengths_of_every_width_in_any_order() {
        let sized = |n: usize| {
            if n == 0 {
                return Route::default();
            }
            let mut r = route(1);
            r.name = "n".repeat(n);
            r
        };
        let mut e = Encoder::default();
        for sizes in [
            [0, 200, 20_000, 5, 20_000, 300, 1],
            [20_000, 1, 300, 300, 0, 20_000, 20_000],
        ] {
            let host = |n: usize| VirtualHost {
                name: "h".repeat(n),
                routes: sizes.iter().map(|&n| sized(n)).collect(),
                ..Default::default()
            };
            let rc = RouteConfiguration {
                virtual_hosts: vec![host(0), VirtualHost::default(), host(70_000), host(1)],
                ..Default::default()
            };
            let bytes = e.route_configuration(&rc);
            assert_eq!(bytes, rc.encode_to_vec());
            assert_eq!(bytes.capacity(), bytes.len());
        }
    }

    /// A value of `fd` that is not its default: one element for a list,
    /// one entry for a map, an empty message for a message.
    fn sample(fd: &prost_reflect::FieldDescriptor) -> prost_reflect::Value {
        use prost_reflect::{DynamicMessage, Kind as K, MapKey, Value as V};
        fn one(k: &K) -> V {
            match k {
                K::Double => V::F64(1.5),
                K::Float => V::F32(1.5),
                K::Int32 | K::Sint32 | K::Sfixed32 => V::I32(3),
                K::Int64 | K::Sint64 | K::Sfixed64 => V::I64(3),
                K::Uint32 | K::Fixed32 => V::U32(3),
                K::Uint64 | K::Fixed64 => V::U64(3),
                K::Bool => V::Bool(true),
                K::String => V::String("s".into()),
                K::Bytes => V::Bytes(vec![1].into()),
                K::Message(m) => V::Message(DynamicMessage::new(m.clone())),
                K::Enum(e) => V::EnumNumber(e.values().map(|v| v.number()).max().unwrap_or(0)),
            }
        }
        if fd.is_map() {
            let entry = fd.kind().as_message().unwrap().clone();
            let key = match one(&entry.map_entry_key_field().kind()) {
                V::String(s) => MapKey::String(s),
                V::Bool(b) => MapKey::Bool(b),
                V::I32(n) => MapKey::I32(n),
                V::I64(n) => MapKey::I64(n),
                V::U32(n) => MapKey::U32(n),
                V::U64(n) => MapKey::U64(n),
                other => panic!("map key {other:?}"),
            };
            V::Map([(key, one(&entry.map_entry_value_field().kind()))].into())
        } else if fd.is_list() {
            V::List(vec![one(&fd.kind())])
        } else {
            one(&fd.kind())
        }
    }

    /// Messages of type `M` with each field alone set to a value not its
    /// default (which catches a field written under another number), and
    /// one with every field set (which catches fields out of order).
    fn one_field_each<M>() -> Vec<(String, M)>
    where
        M: Message + Default + PartialEq + prost::Name,
    {
        let desc = crate::json::pool()
            .get_message_by_name(&M::full_name())
            .unwrap();
        let mut all = prost_reflect::DynamicMessage::new(desc.clone());
        let mut out = Vec::new();
        for fd in desc.fields() {
            let mut one = prost_reflect::DynamicMessage::new(desc.clone());
            one.set_field(&fd, sample(&fd));
            // A oneof keeps its last member set.
            all.set_field(&fd, sample(&fd));
            let m = M::decode(&one.encode_to_vec()[..]).unwrap();
            assert!(m != M::default(), "{}", fd.full_name());
            out.push((fd.full_name().to_string(), m));
        }
        out.push(("all".into(), M::decode(&all.encode_to_vec()[..]).unwrap()));
        out
    }

    #[test]
    fn every_field_is_written_as_prost_writes_it() {
        let mut e = Encoder::default();
        for (field, c) in one_field_each::<Cluster>() {
            assert_eq!(e.cluster(&c), c.encode_to_vec(), "{field}");
        }
        for (field, rc) in one_field_each::<RouteConfiguration>() {
            assert_eq!(e.route_configuration(&rc), rc.encode_to_vec(), "{field}");
        }
        for (field, vh) in one_field_each::<VirtualHost>() {
            let rc = RouteConfiguration {
                virtual_hosts: vec![vh],
                ..Default::default()
            };
            assert_eq!(e.route_configuration(&rc), rc.encode_to_vec(), "{field}");
        }
        for (field, r) in one_field_each::<Route>() {
            let rc = RouteConfiguration {
                virtual_hosts: vec![VirtualHost {
                    routes: vec![r],
                    ..Default::default()
                }],
                ..Default::default()
            };
            assert_eq!(e.route_configuration(&rc), rc.encode_to_vec(), "{field}");
        }
    }
}
