//! Protobuf encoding of route configurations that works out each length
//! once.
//!
//! prost writes a nested message as its length and then its fields, and
//! works the length out by walking the whole message; each level above it
//! does the same. A field `d` messages deep is therefore walked `d + 1`
//! times, and Istio's routes are deep: a route's `istio.config` metadata is
//! five messages below the route and seven below its route configuration.
//!
//! [`RouteEncoder`] writes each nested message into a scratch buffer first
//! and then copies it after its length, down through the virtual hosts,
//! the routes and their metadata (`google.protobuf.Struct` values,
//! however deep). Below that (a route's match and action, for example),
//! prost writes each message. The bytes are exactly prost's: fields in
//! field-number order, defaults left out, map entries in the map's order.
//!
//! ```
//! use mesh_xds::encode::route_configuration_to_vec;
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
//! assert_eq!(route_configuration_to_vec(&rc), rc.encode_to_vec());
//! ```

use envoy_types::pb::envoy::config::core::v3::Metadata;
use envoy_types::pb::envoy::config::route::v3::{Route, RouteConfiguration, VirtualHost, route};
use envoy_types::pb::google::protobuf::{Struct, Value, value::Kind};
use prost::Message;
use prost::encoding::{
    WireType, bool as pb_bool, double, encode_key, encode_varint, encoded_len_varint, hash_map,
    int32, key_len, message, string,
};

/// The protobuf encoding of `rc`, byte for byte what
/// [`Message::encode_to_vec`] gives, written with each length worked out
/// once down to the routes' metadata (see the [module](self) docs). To
/// encode many, [`RouteEncoder`] keeps its buffers between them.
pub fn route_configuration_to_vec(rc: &RouteConfiguration) -> Vec<u8> {
    RouteEncoder::default().to_vec(rc)
}

/// Encodes route configurations as [`route_configuration_to_vec`] does,
/// keeping the buffers that nested messages are written into from one
/// to the next.
///
/// ```
/// use mesh_xds::encode::RouteEncoder;
/// use envoy_types::pb::envoy::config::route::v3::RouteConfiguration;
/// use prost::Message;
/// let configs: Vec<RouteConfiguration> = (0..3)
///     .map(|i| RouteConfiguration { name: format!("{i}"), ..Default::default() })
///     .collect();
/// let mut encoder = RouteEncoder::default();
/// for rc in &configs {
///     assert_eq!(encoder.to_vec(rc), rc.encode_to_vec());
/// }
/// ```
#[derive(Debug, Default)]
pub struct RouteEncoder {
    scratch: Scratch,
}

impl RouteEncoder {
    /// The protobuf encoding of `rc`, byte for byte prost's.
    pub fn to_vec(&mut self, rc: &RouteConfiguration) -> Vec<u8> {
        let mut out = Vec::new();
        route_configuration(rc, &mut out, &mut self.scratch);
        out
    }
}

/// Writes the fields of `rc`.
fn route_configuration(rc: &RouteConfiguration, out: &mut Vec<u8>, s: &mut Scratch) {
    // Field 1, then the virtual hosts (2), then the rest in prost's order.
    if !rc.name.is_empty() {
        string::encode(1, &rc.name, out);
    }
    for (i, vh) in rc.virtual_hosts.iter().enumerate() {
        s.nested(2, out, |b, s| virtual_host(vh, b, s));
        if i == 0 {
            // Room for as many more hosts of the first one's size.
            out.reserve(out.len() * rc.virtual_hosts.len());
        }
    }
    // Every field is named, so that a field a new Envoy adds is a compile
    // error here rather than silently left out.
    let rest = RouteConfiguration {
        name: String::new(),
        virtual_hosts: Vec::new(),
        vhds: rc.vhds.clone(),
        internal_only_headers: rc.internal_only_headers.clone(),
        response_headers_to_add: rc.response_headers_to_add.clone(),
        response_headers_to_remove: rc.response_headers_to_remove.clone(),
        request_headers_to_add: rc.request_headers_to_add.clone(),
        request_headers_to_remove: rc.request_headers_to_remove.clone(),
        most_specific_header_mutations_wins: rc.most_specific_header_mutations_wins,
        validate_clusters: rc.validate_clusters,
        max_direct_response_body_size_bytes: rc.max_direct_response_body_size_bytes,
        cluster_specifier_plugins: rc.cluster_specifier_plugins.clone(),
        request_mirror_policies: rc.request_mirror_policies.clone(),
        ignore_port_in_host_matching: rc.ignore_port_in_host_matching,
        vhost_header: rc.vhost_header.clone(),
        ignore_path_parameters_in_path_matching: rc.ignore_path_parameters_in_path_matching,
        typed_per_filter_config: rc.typed_per_filter_config.clone(),
        metadata: rc.metadata.clone(),
        route_specifiers: rc.route_specifiers.clone(),
    };
    rest.encode_raw(out);
}

/// Buffers for messages being written, reused: a nested message is
/// written into one, then copied after its key and length.
#[derive(Debug, Default)]
struct Scratch {
    free: Vec<Vec<u8>>,
}

impl Scratch {
    /// Appends field `tag` to `out`: the message whose fields `write`
    /// writes, after its length.
    fn nested(
        &mut self,
        tag: u32,
        out: &mut Vec<u8>,
        write: impl FnOnce(&mut Vec<u8>, &mut Scratch),
    ) {
        let mut buf = self.free.pop().unwrap_or_default();
        buf.clear();
        write(&mut buf, self);
        encode_key(tag, WireType::LengthDelimited, out);
        encode_varint(buf.len() as u64, out);
        out.extend_from_slice(&buf);
        self.free.push(buf);
    }

    /// Appends field `tag` holding `m`, encoded by prost without working
    /// out its length first.
    fn message(&mut self, tag: u32, m: &impl Message, out: &mut Vec<u8>) {
        self.nested(tag, out, |b, _| m.encode_raw(b));
    }
}

/// Writes the fields of `vh`.
fn virtual_host(vh: &VirtualHost, out: &mut Vec<u8>, s: &mut Scratch) {
    // Fields 1 and 2, then the routes (3), then the rest in prost's order.
    if !vh.name.is_empty() {
        string::encode(1, &vh.name, out);
    }
    string::encode_repeated(2, &vh.domains, out);
    for r in &vh.routes {
        s.nested(3, out, |b, s| route_fields(r, b, s));
    }
    // Every field is named, so that a field a new Envoy adds is a compile
    // error here rather than silently left out; two are deprecated.
    #[allow(deprecated)]
    let rest = VirtualHost {
        name: String::new(),
        domains: Vec::new(),
        routes: Vec::new(),
        matcher: vh.matcher.clone(),
        require_tls: vh.require_tls,
        virtual_clusters: vh.virtual_clusters.clone(),
        rate_limits: vh.rate_limits.clone(),
        request_headers_to_add: vh.request_headers_to_add.clone(),
        request_headers_to_remove: vh.request_headers_to_remove.clone(),
        response_headers_to_add: vh.response_headers_to_add.clone(),
        response_headers_to_remove: vh.response_headers_to_remove.clone(),
        cors: vh.cors.clone(),
        typed_per_filter_config: vh.typed_per_filter_config.clone(),
        include_request_attempt_count: vh.include_request_attempt_count,
        include_attempt_count_in_response: vh.include_attempt_count_in_response,
        retry_policy: vh.retry_policy.clone(),
        retry_policy_typed_config: vh.retry_policy_typed_config.clone(),
        hedge_policy: vh.hedge_policy,
        include_is_timeout_retry_header: vh.include_is_timeout_retry_header,
        per_request_buffer_limit_bytes: vh.per_request_buffer_limit_bytes,
        request_body_buffer_limit: vh.request_body_buffer_limit,
        request_mirror_policies: vh.request_mirror_policies.clone(),
        metadata: vh.metadata.clone(),
        route_specifiers: vh.route_specifiers.clone(),
    };
    rest.encode_raw(out);
}

/// Writes the fields of `r` in prost's order (by field number; the
/// `action` oneof at its lowest number, 2).
fn route_fields(r: &Route, out: &mut Vec<u8>, s: &mut Scratch) {
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
    if let Some(m) = r#match {
        s.message(1, m, out);
    }
    match action {
        None => {}
        Some(route::Action::Route(a)) => s.message(2, a, out),
        Some(route::Action::Redirect(a)) => s.message(3, a, out),
        Some(route::Action::DirectResponse(a)) => s.message(7, a, out),
        Some(route::Action::FilterAction(a)) => s.message(17, a, out),
        Some(route::Action::NonForwardingAction(a)) => s.message(18, a, out),
    }
    if let Some(m) = metadata {
        s.nested(4, out, |b, s| metadata_fields(m, b, s));
    }
    if let Some(d) = decorator {
        s.message(5, d, out);
    }
    message::encode_repeated(9, request_headers_to_add, out);
    message::encode_repeated(10, response_headers_to_add, out);
    string::encode_repeated(11, response_headers_to_remove, out);
    string::encode_repeated(12, request_headers_to_remove, out);
    hash_map::encode(
        string::encode,
        string::encoded_len,
        message::encode,
        message::encoded_len,
        13,
        typed_per_filter_config,
        out,
    );
    if !name.is_empty() {
        string::encode(14, name, out);
    }
    if let Some(t) = tracing {
        message::encode(15, t, out);
    }
    #[allow(deprecated)]
    if let Some(v) = per_request_buffer_limit_bytes {
        message::encode(16, v, out);
    }
    if !stat_prefix.is_empty() {
        string::encode(19, stat_prefix, out);
    }
    if let Some(v) = request_body_buffer_limit {
        message::encode(20, v, out);
    }
    message::encode_repeated(21, route_specifiers, out);
}

/// Writes the fields of `m`: each `filter_metadata` entry (1) as prost
/// writes a map entry (key 1 and value 2, each left out when empty), in
/// the map's order; `typed_filter_metadata` (2) by prost.
fn metadata_fields(m: &Metadata, out: &mut Vec<u8>, s: &mut Scratch) {
    let Metadata {
        filter_metadata,
        typed_filter_metadata,
    } = m;
    for (k, v) in filter_metadata {
        s.nested(1, out, |b, s| {
            if !k.is_empty() {
                string::encode(1, k, b);
            }
            if !v.fields.is_empty() {
                s.nested(2, b, |b, s| struct_fields(v, b, s));
            }
        });
    }
    hash_map::encode(
        string::encode,
        string::encoded_len,
        message::encode,
        message::encoded_len,
        2,
        typed_filter_metadata,
        out,
    );
}

/// Writes the fields of a `Struct`: its map entries in the map's order.
fn struct_fields(st: &Struct, out: &mut Vec<u8>, s: &mut Scratch) {
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
                if !k.is_empty() {
                    string::encode(1, k, out);
                }
                if v.kind.is_some() {
                    encode_key(2, WireType::LengthDelimited, out);
                    encode_varint(len as u64, out);
                    value_fields(v, out, s);
                }
            }
            None => s.nested(1, out, |b, s| {
                if !k.is_empty() {
                    string::encode(1, k, b);
                }
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
fn value_fields(v: &Value, out: &mut Vec<u8>, s: &mut Scratch) {
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
        assert_eq!(route_configuration_to_vec(&rc), rc.encode_to_vec());
        let decoded = RouteConfiguration::decode(&route_configuration_to_vec(&rc)[..]).unwrap();
        assert_eq!(decoded, rc);
        // Empty messages and empty names, which prost leaves out.
        for rc in [
            RouteConfiguration::default(),
            RouteConfiguration {
                virtual_hosts: vec![VirtualHost::default(); 2],
                ..Default::default()
            },
        ] {
            assert_eq!(route_configuration_to_vec(&rc), rc.encode_to_vec());
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
        let bytes = route_configuration_to_vec(&rc);
        assert!(bytes.len() > 1 << 14);
        assert_eq!(bytes, rc.encode_to_vec());
    }
}
