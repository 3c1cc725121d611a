//! Content versions of resources: a hash of a message's protobuf encoding
//! put in canonical order, so that equal content has one version.
//!
//! The encoding itself is not canonical: proto maps are hash maps in
//! `envoy-types`, and prost writes their entries in the order the map
//! iterates, which differs between two equal maps. So the encoded message
//! is walked once with a table of its type's fields, made once from the
//! crate's embedded descriptors (see [`crate::json::pool`]): every map's
//! entries are sorted, and every `Any` payload whose type the pool knows is
//! put in the same order inside; then the result is hashed (FNV-1a, 64
//! bits). Fields other than maps keep the order prost writes them in, which
//! is fixed (field number order, repeated values as given).
//!
//! The walk reads the bytes once and allocates a buffer per map entry only;
//! deriving the version from the message's canonical JSON, as the crate
//! did before, cost ten times as much.
//!
//! ```
//! use envoy_types::pb::google::protobuf::{Struct, Value, value::Kind};
//! use mesh_xds::version::version_of;
//! let text = |s: &str| Value { kind: Some(Kind::StringValue(s.into())) };
//! let keys = ["a", "b", "c", "d", "e", "f", "g", "h"];
//! let forward = Struct { fields: keys.iter().map(|k| (k.to_string(), text(k))).collect() };
//! let backward = Struct { fields: keys.iter().rev().map(|k| (k.to_string(), text(k))).collect() };
//! assert_eq!(forward, backward);
//! assert_eq!(version_of(&forward), version_of(&backward));
//! let other = Struct { fields: [("a".to_string(), text("z"))].into() };
//! assert_ne!(version_of(&forward), version_of(&other));
//! ```

use crate::json::{fnv1a, pool};
use envoy_types::pb::google::protobuf::Any;
use prost::encoding::{WireType, decode_key, decode_varint};
use prost::{Message, Name};
use prost_reflect::Kind;
use std::collections::HashMap;
use std::sync::LazyLock;

/// How deep messages may nest: prost's own decoding limit.
const MAX_DEPTH: u32 = 100;

/// The full name of `google.protobuf.Any`.
const ANY: &str = "google.protobuf.Any";

/// What the walk needs of a field.
#[derive(Debug, Clone, Copy)]
enum Field {
    /// A message field (or repeated), of the message type at this index.
    Message(usize),
    /// A map field, whose entries are of the message type at this index.
    Map(usize),
    /// A `google.protobuf.Any` field.
    Any,
    /// Anything else: copied as it is.
    Other,
}

/// The pool's message types as the walk reads them, built once: each
/// type's fields by number, message types by index. Looking fields up in
/// the descriptors themselves cost a tree search and reference counting
/// per field.
struct Table {
    by_name: HashMap<String, usize>,
    /// Per message type, its fields sorted by number.
    fields: Vec<Vec<(u32, Field)>>,
}

static TABLE: LazyLock<Table> = LazyLock::new(|| {
    let all: Vec<_> = pool().all_messages().collect();
    let by_name: HashMap<String, usize> = all
        .iter()
        .enumerate()
        .map(|(i, m)| (m.full_name().to_string(), i))
        .collect();
    let fields = all
        .iter()
        .map(|m| {
            let mut fields: Vec<(u32, Field)> = m
                .fields()
                .map(|f| {
                    let field = match f.kind() {
                        Kind::Message(inner) if inner.full_name() == ANY => Field::Any,
                        Kind::Message(inner) => match by_name.get(inner.full_name()) {
                            Some(&i) if f.is_map() => Field::Map(i),
                            Some(&i) => Field::Message(i),
                            None => Field::Other,
                        },
                        _ => Field::Other,
                    };
                    (f.number(), field)
                })
                .collect();
            fields.sort_unstable_by_key(|(n, _)| *n);
            fields
        })
        .collect();
    Table { by_name, fields }
});

impl Table {
    fn field(&self, message: usize, number: u32) -> Field {
        let fields = &self.fields[message];
        match fields.binary_search_by_key(&number, |(n, _)| *n) {
            Ok(i) => fields[i].1,
            Err(_) => Field::Other,
        }
    }
}

/// The content version of a message, as 16 hex digits: equal messages
/// have equal versions.
pub fn version_of<M: Message + Name>(m: &M) -> String {
    version_of_encoded(&M::full_name(), &m.encode_to_vec())
}

/// The content version of the encoded message of type `full_name`
/// ([`version_of`] for a message already encoded, as a server has it in
/// the `Any` it sends). Bytes of a type the pool does not know, or that do
/// not decode, are hashed as they are.
pub fn version_of_encoded(full_name: &str, bytes: &[u8]) -> String {
    let table = &*TABLE;
    let mut out = Vec::with_capacity(bytes.len());
    let canonical = match table.by_name.get(full_name) {
        Some(&m) if canonical(table, m, bytes, &mut out, MAX_DEPTH).is_some() => out.as_slice(),
        _ => bytes,
    };
    format!("{:016x}", fnv1a(canonical))
}

/// Appends the encoded message `bytes` of type `message` to `out` in
/// canonical order: fields as they come, except that map entries go last,
/// by field number and then by their own canonical bytes (so by key).
/// `None` when the bytes do not decode, or nest deeper than prost decodes
/// (`depth` counts the levels left).
fn canonical(
    table: &Table,
    message: usize,
    bytes: &[u8],
    out: &mut Vec<u8>,
    depth: u32,
) -> Option<()> {
    let depth = depth.checked_sub(1)?;
    let mut maps: Vec<(u32, Vec<u8>)> = Vec::new();
    let mut buf = bytes;
    while !buf.is_empty() {
        let field_start = buf;
        let (tag, wire_type) = decode_key(&mut buf).ok()?;
        match wire_type {
            WireType::Varint => {
                decode_varint(&mut buf).ok()?;
            }
            WireType::SixtyFourBit => buf = skip(buf, 8)?,
            WireType::ThirtyTwoBit => buf = skip(buf, 4)?,
            WireType::LengthDelimited => {
                let len = usize::try_from(decode_varint(&mut buf).ok()?).ok()?;
                let value = buf.get(..len)?;
                buf = &buf[len..];
                // Putting a message in canonical order moves its parts but
                // keeps its length, so its key and length go out as they
                // came and the message follows them in place; a map entry
                // waits in a buffer of its own to be sorted.
                let header = &field_start[..field_start.len() - buf.len() - len];
                match table.field(message, tag) {
                    Field::Message(m) => {
                        out.extend_from_slice(header);
                        canonical(table, m, value, out, depth)?;
                        continue;
                    }
                    Field::Any => {
                        out.extend_from_slice(header);
                        canonical_any(table, value, out, depth)?;
                        continue;
                    }
                    Field::Map(m) => {
                        let mut entry = Vec::with_capacity(value.len() + 6);
                        entry.extend_from_slice(header);
                        canonical(table, m, value, &mut entry, depth)?;
                        maps.push((tag, entry));
                        continue;
                    }
                    Field::Other => {}
                }
            }
            // Groups are not in proto3.
            WireType::StartGroup | WireType::EndGroup => return None,
        }
        let used = field_start.len() - buf.len();
        out.extend_from_slice(&field_start[..used]);
    }
    maps.sort_unstable();
    for (_, entry) in maps {
        out.extend_from_slice(&entry);
    }
    Some(())
}

/// An `Any` in canonical order: its payload too, when the pool knows the
/// payload's type.
fn canonical_any(table: &Table, bytes: &[u8], out: &mut Vec<u8>, depth: u32) -> Option<()> {
    let any = Any::decode(bytes).ok()?;
    let name = any.type_url.rsplit('/').next().unwrap_or_default();
    let Some(&message) = table.by_name.get(name) else {
        out.extend_from_slice(bytes);
        return Some(());
    };
    let mut value = Vec::with_capacity(any.value.len());
    canonical(table, message, &any.value, &mut value, depth)?;
    Any {
        type_url: any.type_url,
        value,
    }
    .encode_raw(out);
    Some(())
}

fn skip(buf: &[u8], n: usize) -> Option<&[u8]> {
    buf.get(n..)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::util::{any, metadata, string_value, struct_value};
    use envoy_types::pb::envoy::config::core::v3::Metadata;
    use envoy_types::pb::envoy::config::route::v3::{Route, RouteConfiguration, VirtualHost};
    use envoy_types::pb::google::protobuf::Struct;

    /// Metadata whose maps hold `keys`, inserted in the order given.
    fn md(keys: &[&str]) -> Metadata {
        metadata(
            "istio",
            keys.iter()
                .map(|k| {
                    (
                        *k,
                        struct_value(keys.iter().map(|v| (*v, string_value(*k))).collect()),
                    )
                })
                .collect(),
        )
    }

    /// A route configuration holding `md` in a route's metadata and, packed
    /// in an `Any`, in its per-filter config.
    fn rc(md: Metadata) -> RouteConfiguration {
        let mut route = Route {
            name: "r".into(),
            metadata: Some(md.clone()),
            ..Default::default()
        };
        route.typed_per_filter_config.insert("x".into(), any(&md));
        RouteConfiguration {
            name: "80".into(),
            virtual_hosts: vec![VirtualHost {
                name: "v".into(),
                domains: vec!["a".into(), "b".into()],
                routes: vec![route],
                ..Default::default()
            }],
            ..Default::default()
        }
    }

    /// Equal content, maps filled in opposite orders (and so, most likely,
    /// encoded in different orders), has one version; the same at every
    /// depth, inside `Any` payloads too.
    #[test]
    fn equal_content_one_version() {
        let keys: Vec<String> = (0..24).map(|i| format!("key-{i}")).collect();
        let forward: Vec<&str> = keys.iter().map(String::as_str).collect();
        let backward: Vec<&str> = forward.iter().rev().copied().collect();
        let (a, b) = (rc(md(&forward)), rc(md(&backward)));
        assert_eq!(
            a.virtual_hosts[0].routes[0].metadata,
            b.virtual_hosts[0].routes[0].metadata
        );
        assert_ne!(
            a.encode_to_vec(),
            b.encode_to_vec(),
            "the test needs two encodings of equal maps that differ"
        );
        assert_eq!(version_of(&a), version_of(&b));
        assert_eq!(version_of(&a), version_of(&a.clone()));
    }

    /// A change anywhere, a map key or value, a field, a repeated value's
    /// order, gives another version.
    #[test]
    fn changed_content_another_version() {
        let base = rc(md(&["a", "b", "c"]));
        let v = version_of(&base);
        let mut changed = Vec::new();
        changed.push(rc(md(&["a", "b", "d"])));
        let mut x = base.clone();
        x.virtual_hosts[0].domains.reverse();
        changed.push(x);
        let mut x = base.clone();
        x.name = "81".into();
        changed.push(x);
        let mut x = base.clone();
        x.virtual_hosts[0].routes[0]
            .typed_per_filter_config
            .insert("x".into(), any(&md(&["a"])));
        changed.push(x);
        for c in &changed {
            assert_ne!(version_of(c), v, "{c:?}");
        }
    }

    /// Unknown payload types and bytes that do not decode are hashed as
    /// they are, without a panic.
    #[test]
    fn unknown_and_broken_bytes() {
        let s = Struct::default();
        assert_eq!(
            version_of(&s),
            version_of_encoded("google.protobuf.Struct", &[])
        );
        let v = version_of_encoded("no.such.Type", b"\x0a\x03abc");
        assert_eq!(v.len(), 16);
        let broken = version_of_encoded("google.protobuf.Struct", b"\x0a\xff");
        assert_eq!(broken, format!("{:016x}", fnv1a(b"\x0a\xff")));
    }

    /// Values nested deeper than prost decodes are not walked (they would
    /// run the walk off the stack long before a server's memory runs out);
    /// the version is then the hash of the bytes as they are.
    #[test]
    fn nesting_is_bounded() {
        // `n` lists, each the only value of the one around it.
        let nested = |n: usize| {
            let mut deep: Vec<u8> = Vec::new();
            for _ in 0..n {
                let mut list = vec![0x0a]; // ListValue.values
                prost::encoding::encode_varint(deep.len() as u64, &mut list);
                list.extend_from_slice(&deep);
                let mut value = vec![0x32]; // Value.list_value
                prost::encoding::encode_varint(list.len() as u64, &mut value);
                value.extend_from_slice(&list);
                deep = value;
            }
            deep
        };
        let table = &*TABLE;
        let value = table.by_name["google.protobuf.Value"];
        let walk = |bytes: &[u8]| canonical(table, value, bytes, &mut Vec::new(), MAX_DEPTH);
        assert!(walk(&nested(40)).is_some());
        assert!(walk(&nested(60)).is_none());
        let deep = nested(60);
        assert_eq!(
            version_of_encoded("google.protobuf.Value", &deep),
            format!("{:016x}", fnv1a(&deep))
        );
    }
}
