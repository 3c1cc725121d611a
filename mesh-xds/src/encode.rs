//! Protobuf encoding of route configurations that works out each route's
//! length once.
//!
//! prost writes a nested message as its length and then its fields, and
//! works the length out by walking the whole message; each level above it
//! does the same. A field `d` messages deep is therefore walked `d + 1`
//! times, and Istio's routes are deep: a route's `istio.config` metadata is
//! five messages below the route and seven below its route configuration.
//! [`route_configuration_to_vec`] writes each route into a scratch buffer
//! first and each virtual host into another, so neither they nor the route
//! configuration are walked for their lengths. The bytes are exactly
//! prost's: fields in field-number order, defaults left out.
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

use envoy_types::pb::envoy::config::route::v3::{RouteConfiguration, VirtualHost};
use prost::Message;
use prost::encoding::{WireType, encode_key, encode_varint, string};

/// The protobuf encoding of `rc`, byte for byte what
/// [`Message::encode_to_vec`] gives, written with each route's and each
/// virtual host's length worked out once (see the [module](self) docs).
pub fn route_configuration_to_vec(rc: &RouteConfiguration) -> Vec<u8> {
    let mut out = Vec::new();
    let mut host = Vec::new();
    let mut route = Vec::new();
    // Field 1, then the virtual hosts (2), then the rest in prost's order.
    if !rc.name.is_empty() {
        string::encode(1, &rc.name, &mut out);
    }
    for vh in &rc.virtual_hosts {
        host.clear();
        virtual_host(vh, &mut host, &mut route);
        if out.capacity() == 0 {
            // Room for as many more hosts of this one's size.
            out.reserve((host.len() + 8) * rc.virtual_hosts.len() + 64);
        }
        length_delimited(2, &host, &mut out);
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
    append(&rest, &mut out);
    out
}

/// Writes the fields of `vh` to `out`, each route through `scratch`.
fn virtual_host(vh: &VirtualHost, out: &mut Vec<u8>, scratch: &mut Vec<u8>) {
    // Fields 1 and 2, then the routes (3), then the rest in prost's order.
    if !vh.name.is_empty() {
        string::encode(1, &vh.name, out);
    }
    string::encode_repeated(2, &vh.domains, out);
    for r in &vh.routes {
        scratch.clear();
        append(r, scratch);
        length_delimited(3, scratch, out);
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
    append(&rest, out);
}

/// Appends the fields of `m` to `out`, without working out its length
/// first (`out` grows as it needs).
fn append(m: &impl Message, out: &mut Vec<u8>) {
    m.encode_raw(out);
}

/// Appends field `tag` holding the message whose fields are `bytes`.
fn length_delimited(tag: u32, bytes: &[u8], out: &mut Vec<u8>) {
    encode_key(tag, WireType::LengthDelimited, out);
    encode_varint(bytes.len() as u64, out);
    out.extend_from_slice(bytes);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::util::{any, metadata, string_value, u32v};
    use envoy_types::pb::envoy::config::core::v3::{HeaderValue, HeaderValueOption};
    use envoy_types::pb::envoy::config::route::v3::{
        CorsPolicy, Decorator, RetryPolicy, Route, VirtualCluster,
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

    fn route(i: u32) -> Route {
        Route {
            name: format!("r{i}"),
            metadata: Some(metadata(
                "istio",
                vec![("config", string_value(format!("/vs-{i}")))],
            )),
            decorator: Some(Decorator {
                operation: format!("op-{i}"),
                ..Default::default()
            }),
            ..Default::default()
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
            virtual_hosts: vec![host(0), host(1), host(3)],
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
