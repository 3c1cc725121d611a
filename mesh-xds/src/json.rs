//! Envoy resources in the protobuf JSON mapping, both ways.
//!
//! The crate carries the descriptors of the Envoy protos it uses (compiled
//! from the `.proto` files that ship with `envoy-types` by `build.rs`), so
//! any message, including `Any` payloads, converts to and from JSON exactly
//! as Envoy and `protoc` write it: lowerCamel field names, enums by name,
//! durations as `"1.5s"`, default values left out. Object keys come out
//! sorted, so equal messages give equal text (proto maps are hash maps in
//! `envoy-types`).

use prost::{Message, Name};
use prost_reflect::{DescriptorPool, DeserializeOptions, DynamicMessage, SerializeOptions};
use serde_json::Value;
use std::sync::LazyLock;

static POOL: LazyLock<DescriptorPool> = LazyLock::new(|| {
    DescriptorPool::decode(&include_bytes!(concat!(env!("OUT_DIR"), "/envoy.desc"))[..])
        .expect("the embedded Envoy descriptor set decodes")
});

/// Why a JSON value is not the message it should be.
#[derive(Debug, thiserror::Error)]
pub enum JsonError {
    /// The message type is not among the embedded descriptors.
    #[error("unknown message type {0}")]
    UnknownType(String),
    /// The JSON does not describe the message.
    #[error("{0}")]
    Invalid(String),
}

/// The embedded descriptor pool (every Envoy type the crate handles).
pub fn pool() -> &'static DescriptorPool {
    &POOL
}

fn serialize_options() -> SerializeOptions {
    SerializeOptions::new()
        .skip_default_fields(true)
        .use_proto_field_name(false)
        .stringify_64_bit_integers(true)
}

/// A message as protobuf JSON, object keys sorted.
///
/// ```
/// use envoy_types::pb::envoy::config::core::v3::SocketAddress;
/// let a = SocketAddress { address: "127.0.0.1".into(), ..Default::default() };
/// assert_eq!(mesh_xds::json::to_json(&a).to_string(), r#"{"address":"127.0.0.1"}"#);
/// ```
pub fn to_json<M: Message + Name>(m: &M) -> Value {
    encoded_to_json(&M::full_name(), &m.encode_to_vec())
        .expect("every emitted message type is in the pool")
}

/// Encoded bytes of the message `full_name` as protobuf JSON.
pub fn encoded_to_json(full_name: &str, bytes: &[u8]) -> Result<Value, JsonError> {
    let desc = POOL
        .get_message_by_name(full_name)
        .ok_or_else(|| JsonError::UnknownType(full_name.to_string()))?;
    let dm = DynamicMessage::decode(desc, bytes).map_err(|e| JsonError::Invalid(e.to_string()))?;
    let mut v = dm
        .serialize_with_options(serde_json::value::Serializer, &serialize_options())
        .map_err(|e| JsonError::Invalid(e.to_string()))?;
    sort_keys(&mut v);
    Ok(v)
}

/// Reads a message from protobuf JSON (unknown fields are an error).
pub fn from_json<M: Message + Name + Default>(v: &Value) -> Result<M, JsonError> {
    let desc = POOL
        .get_message_by_name(&M::full_name())
        .ok_or_else(|| JsonError::UnknownType(M::full_name()))?;
    let dm = DynamicMessage::deserialize_with_options(desc, v, &DeserializeOptions::new())
        .map_err(|e| JsonError::Invalid(e.to_string()))?;
    M::decode(dm.encode_to_vec().as_slice()).map_err(|e| JsonError::Invalid(e.to_string()))
}

/// Sorts every object's keys, recursively.
pub fn sort_keys(v: &mut Value) {
    match v {
        Value::Object(m) => {
            let mut entries: Vec<(String, Value)> = std::mem::take(m).into_iter().collect();
            entries.sort_by(|a, b| a.0.cmp(&b.0));
            for (k, mut val) in entries {
                sort_keys(&mut val);
                m.insert(k, val);
            }
        }
        Value::Array(a) => a.iter_mut().for_each(sort_keys),
        _ => {}
    }
}

/// A stable 64-bit hash (FNV-1a) of bytes, for short keys such as
/// configuration text (resource versions use [`crate::version`]).
pub fn fnv1a(bytes: impl AsRef<[u8]>) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in bytes.as_ref() {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

#[cfg(test)]
mod tests {
    use super::*;
    use envoy_types::pb::envoy::extensions::filters::http::rbac::v3::Rbac;

    #[test]
    fn round_trips_through_json() {
        let v = serde_json::json!({
            "rules": {"action": "DENY", "policies": {"p": {
                "permissions": [{"any": true}],
                "principals": [{"authenticated": {"principalName": {"exact": "spiffe://a"}}}]
            }}},
            "shadowRulesStatPrefix": "x_"
        });
        let m: Rbac = from_json(&v).unwrap();
        let back = to_json(&m);
        let mut want = v.clone();
        sort_keys(&mut want);
        assert_eq!(back, want);
    }
}
