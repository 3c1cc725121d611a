//! Small constructors for well-known protobuf types.

use envoy_types::pb::envoy::config::core::v3::{
    Address, AggregatedConfigSource, ApiVersion, ConfigSource, Metadata, SocketAddress, address,
    config_source, socket_address,
};
use envoy_types::pb::google::protobuf::{
    Any, BoolValue, Duration as PbDuration, ListValue, Struct, UInt32Value, Value, value::Kind,
};
use prost::{Message, Name};
use std::collections::HashMap;
use std::time::Duration;

/// A `google.protobuf.Duration`.
pub fn duration(d: Duration) -> PbDuration {
    PbDuration {
        seconds: i64::try_from(d.as_secs()).unwrap_or(i64::MAX),
        nanos: i32::try_from(d.subsec_nanos()).unwrap_or(0),
    }
}

/// A `google.protobuf.UInt32Value`.
pub fn u32v(v: u32) -> UInt32Value {
    UInt32Value { value: v }
}

/// A `google.protobuf.BoolValue`.
pub fn boolv(v: bool) -> BoolValue {
    BoolValue { value: v }
}

/// Packs a message into an `Any`, with the entries of every map inside it
/// sorted: proto maps are hash maps in `envoy-types`, which prost writes in
/// the order they iterate, so two equal messages would otherwise pack into
/// two different `Any`s (and two compiles of one proxy would differ).
///
/// ```
/// use envoy_types::pb::google::protobuf::{Struct, Value};
/// use mesh_xds::util::any;
/// let keys = ["a", "b", "c", "d", "e", "f", "g", "h"];
/// let s = |keys: Vec<&str>| Struct {
///     fields: keys.into_iter().map(|k| (k.into(), Value::default())).collect(),
/// };
/// assert_eq!(any(&s(keys.to_vec())), any(&s(keys.into_iter().rev().collect())));
/// ```
pub fn any<M: Message + Name>(m: &M) -> Any {
    Any {
        type_url: M::type_url(),
        value: crate::version::in_order(&M::full_name(), m.encode_to_vec()),
    }
}

/// A string `Value`.
pub fn string_value(s: impl Into<String>) -> Value {
    Value {
        kind: Some(Kind::StringValue(s.into())),
    }
}

/// A struct `Value`.
pub fn struct_value(fields: Vec<(&str, Value)>) -> Value {
    Value {
        kind: Some(Kind::StructValue(pb_struct(fields))),
    }
}

/// A list `Value`.
pub fn list_value(values: Vec<Value>) -> Value {
    Value {
        kind: Some(Kind::ListValue(ListValue { values })),
    }
}

/// A `google.protobuf.Struct`.
pub fn pb_struct(fields: Vec<(&str, Value)>) -> Struct {
    Struct {
        fields: fields
            .into_iter()
            .map(|(k, v)| (k.to_string(), v))
            .collect(),
    }
}

/// Metadata with one filter namespace.
pub fn metadata(filter: &str, fields: Vec<(&str, Value)>) -> Metadata {
    Metadata {
        filter_metadata: HashMap::from([(filter.to_string(), pb_struct(fields))]),
        ..Default::default()
    }
}

/// A TCP socket address.
pub fn socket_address(ip: &str, port: u16) -> Address {
    Address {
        address: Some(address::Address::SocketAddress(SocketAddress {
            address: ip.to_string(),
            port_specifier: Some(socket_address::PortSpecifier::PortValue(u32::from(port))),
            ..Default::default()
        })),
    }
}

/// A config source that points at the ADS stream.
pub fn ads() -> ConfigSource {
    ConfigSource {
        resource_api_version: ApiVersion::V3 as i32,
        config_source_specifier: Some(config_source::ConfigSourceSpecifier::Ads(
            AggregatedConfigSource {},
        )),
        ..Default::default()
    }
}
