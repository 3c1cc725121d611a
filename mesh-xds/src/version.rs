//! Content versions of resources: a hash of a message's protobuf encoding
//! put in canonical order, so that equal content has one version.
//!
//! The encoding itself is not canonical: proto maps are hash maps in
//! `envoy-types`, and prost writes their entries in the order the map
//! iterates, which differs between two equal maps. So the encoded message
//! is walked once with a table of its type's fields, made once from the
//! crate's embedded descriptors (see [`crate::json::pool`]): every map's
//! entries are sorted, and every `Any` payload whose type the pool knows is
//! put in the same order inside; then the result is hashed (XXH64, seed
//! 0). Fields other than maps keep the order prost writes them in, which
//! is fixed (field number order, repeated values as given).
//!
//! The walk reads the bytes once and allocates a buffer per map entry only.
//! A message of a type in which no map and no `Any` can occur, however
//! deep, is in order already and is copied whole without being read.
//! Deriving the version from the message's canonical JSON, as the crate
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

use crate::json::pool;
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
    /// Per message type, whether no map and no `Any` can occur anywhere in
    /// it: its encoding is canonical already, and the walk copies it whole.
    plain: Vec<bool>,
    /// Per message type whose field numbers are all below [`DENSE`], what
    /// the walk does with each number ([`Table::field`]), by number; empty
    /// for the others, which search `fields`.
    dense: Vec<Vec<Field>>,
}

/// The field numbers a dense table covers.
const DENSE: u32 = 128;

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
        .collect::<Vec<Vec<(u32, Field)>>>();
    let plain = plain_types(&fields);
    let mut table = Table {
        by_name,
        fields,
        plain,
        dense: Vec::new(),
    };
    table.dense = (0..table.fields.len())
        .map(|m| {
            let fields = &table.fields[m];
            if fields.last().is_some_and(|(n, _)| *n >= DENSE) {
                return Vec::new();
            }
            let top = fields.last().map_or(0, |(n, _)| *n);
            (0..=top).map(|n| table.search(m, n)).collect()
        })
        .collect();
    table
});

/// For each message type, whether no map and no `Any` is reachable from
/// it: every type starts plain, and a type with a map, an `Any` or a
/// message field of a type found not plain stops being so, until nothing
/// changes (types that refer to each other, as `Struct` and `Value` do,
/// settle together).
fn plain_types(fields: &[Vec<(u32, Field)>]) -> Vec<bool> {
    let mut plain = vec![true; fields.len()];
    let mut changed = true;
    while changed {
        changed = false;
        for (i, fs) in fields.iter().enumerate() {
            if plain[i]
                && fs.iter().any(|(_, f)| match f {
                    Field::Map(_) | Field::Any => true,
                    Field::Message(m) => !plain[*m],
                    Field::Other => false,
                })
            {
                plain[i] = false;
                changed = true;
            }
        }
    }
    plain
}

impl Table {
    /// What the walk does with field `number` of `message`: a field of a
    /// plain message type is copied as it is, like a scalar.
    fn field(&self, message: usize, number: u32) -> Field {
        let dense = &self.dense[message];
        if !dense.is_empty() {
            return dense.get(number as usize).copied().unwrap_or(Field::Other);
        }
        self.search(message, number)
    }

    /// [`Table::field`] by searching the fields.
    fn search(&self, message: usize, number: u32) -> Field {
        let fields = &self.fields[message];
        match fields.binary_search_by_key(&number, |(n, _)| *n) {
            Ok(i) => match fields[i].1 {
                Field::Message(m) if self.plain[m] => Field::Other,
                f => f,
            },
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
    let mut out = Vec::new();
    let canonical = if reorder(full_name, bytes, &mut out) {
        &out[..]
    } else {
        bytes
    };
    format!("{:016x}", xxh64(canonical))
}

/// The encoded message `bytes` of type `full_name` with every map's
/// entries sorted, inside it and inside the `Any`s it holds (the order
/// [`version_of_encoded`] hashes): equal messages give equal bytes, where
/// prost gives each map's entries in the order that map iterates. Bytes of
/// a type in which no map and no `Any` can occur, of a type the pool does
/// not know, or that do not decode, are returned as they are.
///
/// Two encodings of one message compare equal after this whatever order
/// their maps were written in; fields other than map entries stay where
/// they are, so it tells apart encodings that differ in anything else.
///
/// ```
/// use envoy_types::pb::envoy::config::route::v3::Route;
/// use envoy_types::pb::google::protobuf::Any;
/// use mesh_xds::version::in_order;
/// use prost::{Message, Name};
/// // A route of one `typed_per_filter_config` entry, encoded.
/// let one = |key: &str| {
///     let config = Any { type_url: format!("type.googleapis.com/{key}"), value: Vec::new() };
///     let route = Route {
///         typed_per_filter_config: [(key.to_string(), config)].into(),
///         ..Default::default()
///     };
///     route.encode_to_vec()
/// };
/// // Two encodings of the route holding both entries, in either order
/// // (concatenated encodings of a message are one encoding of it, merged).
/// let ab = [one("a"), one("b")].concat();
/// let ba = [one("b"), one("a")].concat();
/// assert_ne!(ab, ba);
/// assert_eq!(Route::decode(&ab[..]).unwrap(), Route::decode(&ba[..]).unwrap());
/// assert_eq!(in_order(&Route::full_name(), ab), in_order(&Route::full_name(), ba));
/// ```
pub fn in_order(full_name: &str, bytes: Vec<u8>) -> Vec<u8> {
    let mut out = Vec::new();
    if reorder(full_name, &bytes, &mut out) {
        out
    } else {
        bytes
    }
}

/// Writes `bytes` of type `full_name` to `out` in canonical order and says
/// so; `false` (and nothing written) when they are canonical as they are:
/// a type in which no map and no `Any` can occur, a type the pool does not
/// know, or bytes that do not decode.
fn reorder(full_name: &str, bytes: &[u8], out: &mut Vec<u8>) -> bool {
    let table = &*TABLE;
    let Some(&m) = table.by_name.get(full_name) else {
        return false;
    };
    if table.plain[m] {
        return false;
    }
    out.reserve(bytes.len());
    if Walk::new().canonical(m, bytes, out, MAX_DEPTH).is_some() {
        return true;
    }
    out.clear();
    false
}

/// One walk over a resource's bytes, and the payload types of the `Any`s
/// it has met (a resource holds a few types many times over).
struct Walk<'b> {
    table: &'static Table,
    types: Vec<(&'b str, Option<usize>)>,
}

impl<'b> Walk<'b> {
    fn new() -> Self {
        Walk {
            table: &TABLE,
            types: Vec::new(),
        }
    }

    /// The message type an `Any` of `type_url` holds, if the pool knows it.
    fn type_of(&mut self, type_url: &'b str) -> Option<usize> {
        if let Some((_, m)) = self.types.iter().find(|(u, _)| *u == type_url) {
            return *m;
        }
        let name = type_url.rsplit('/').next().unwrap_or_default();
        let m = self.table.by_name.get(name).copied();
        self.types.push((type_url, m));
        m
    }

    /// Appends the encoded message `bytes` of type `message` to `out` in
    /// canonical order: fields as they come, except that map entries go last,
    /// by field number and then by their own canonical bytes (so by key).
    /// `None` when the bytes do not decode, or nest deeper than prost decodes
    /// (`depth` counts the levels left).
    fn canonical(
        &mut self,
        message: usize,
        bytes: &'b [u8],
        out: &mut Vec<u8>,
        depth: u32,
    ) -> Option<()> {
        let table = self.table;
        let depth = depth.checked_sub(1)?;
        let mut maps: Vec<(u32, Vec<u8>)> = Vec::new();
        let mut buf = bytes;
        // Fields copied as they are go out in runs, a run at a time.
        let mut run = bytes;
        while !buf.is_empty() {
            let field_start = buf;
            let (tag, wire_type) = decode_key(&mut buf).ok()?;
            let value = take_value(wire_type, &mut buf)?;
            if wire_type != WireType::LengthDelimited {
                continue;
            }
            // Putting a message in canonical order moves its parts but
            // keeps its length, so its key and length go out as they came
            // and the message follows them in place; a map entry waits in a
            // buffer of its own to be sorted.
            let field = table.field(message, tag);
            if matches!(field, Field::Other) {
                continue;
            }
            // The run so far, then this field's key and length.
            let run_len = run.len() - field_start.len();
            let header_len = field_start.len() - buf.len() - value.len();
            let header = &field_start[..header_len];
            match field {
                Field::Message(m) => {
                    out.extend_from_slice(&run[..run_len + header_len]);
                    self.canonical(m, value, out, depth)?;
                }
                Field::Any => {
                    out.extend_from_slice(&run[..run_len + header_len]);
                    self.any(value, out, depth)?;
                }
                Field::Map(m) => {
                    out.extend_from_slice(&run[..run_len]);
                    let mut entry = Vec::with_capacity(value.len() + 6);
                    entry.extend_from_slice(header);
                    self.canonical(m, value, &mut entry, depth)?;
                    maps.push((tag, entry));
                }
                Field::Other => {}
            }
            run = buf;
        }
        out.extend_from_slice(run);
        maps.sort_unstable();
        for (_, entry) in maps {
            out.extend_from_slice(&entry);
        }
        Some(())
    }

    /// An `Any` in canonical order: its payload too, when the pool knows the
    /// payload's type. The result is what prost gives for the decoded `Any`
    /// with its payload put in order (type URL, then payload; fields it does
    /// not know dropped; the last of a repeated field kept), read without
    /// copying either.
    fn any(&mut self, bytes: &'b [u8], out: &mut Vec<u8>, depth: u32) -> Option<()> {
        let (mut type_url, mut value): (&'b [u8], &'b [u8]) = (&[], &[]);
        let mut buf = bytes;
        while !buf.is_empty() {
            let (tag, wire_type) = decode_key(&mut buf).ok()?;
            let field = take_value(wire_type, &mut buf)?;
            match (tag, wire_type) {
                (1, WireType::LengthDelimited) => type_url = field,
                (2, WireType::LengthDelimited) => value = field,
                (1 | 2, _) => return None,
                _ => {}
            }
        }
        let type_url = std::str::from_utf8(type_url).ok()?;
        let Some(message) = self.type_of(type_url) else {
            out.extend_from_slice(bytes);
            return Some(());
        };
        if !type_url.is_empty() {
            prost::encoding::encode_key(1, WireType::LengthDelimited, out);
            prost::encoding::encode_varint(type_url.len() as u64, out);
            out.extend_from_slice(type_url.as_bytes());
        }
        if !value.is_empty() {
            // In order, the payload keeps its length.
            prost::encoding::encode_key(2, WireType::LengthDelimited, out);
            prost::encoding::encode_varint(value.len() as u64, out);
            if self.table.plain[message] {
                out.extend_from_slice(value);
            } else {
                self.canonical(message, value, out, depth)?;
            }
        }
        Some(())
    }
}

/// XXH64 with seed 0: a stable 64-bit hash (the same on every platform
/// and build) that reads eight bytes at a time in four independent lanes.
/// Versions are hashes of every byte a server sends, so the hash's speed
/// is a good part of their cost: FNV-1a, which read a byte at a time, took
/// about four times the instructions, each waiting on the one before.
fn xxh64(bytes: &[u8]) -> u64 {
    const P1: u64 = 0x9E37_79B1_85EB_CA87;
    const P2: u64 = 0xC2B2_AE3D_27D4_EB4F;
    const P3: u64 = 0x1656_67B1_9E37_79F9;
    const P4: u64 = 0x85EB_CA77_C2B2_AE63;
    const P5: u64 = 0x27D4_EB2F_1656_67C5;
    fn round(acc: u64, lane: u64) -> u64 {
        acc.wrapping_add(lane.wrapping_mul(P2))
            .rotate_left(31)
            .wrapping_mul(P1)
    }
    fn merge(acc: u64, lane: u64) -> u64 {
        (acc ^ round(0, lane)).wrapping_mul(P1).wrapping_add(P4)
    }
    fn word(b: &[u8]) -> u64 {
        let mut w = [0u8; 8];
        w.copy_from_slice(&b[..8]);
        u64::from_le_bytes(w)
    }
    let mut rest = bytes;
    let mut h = if bytes.len() >= 32 {
        let mut v = [P1.wrapping_add(P2), P2, 0, 0u64.wrapping_sub(P1)];
        while rest.len() >= 32 {
            for (i, lane) in v.iter_mut().enumerate() {
                *lane = round(*lane, word(&rest[i * 8..]));
            }
            rest = &rest[32..];
        }
        let h = v[0]
            .rotate_left(1)
            .wrapping_add(v[1].rotate_left(7))
            .wrapping_add(v[2].rotate_left(12))
            .wrapping_add(v[3].rotate_left(18));
        v.iter().fold(h, |h, lane| merge(h, *lane))
    } else {
        P5
    };
    h = h.wrapping_add(bytes.len() as u64);
    while rest.len() >= 8 {
        h ^= round(0, word(rest));
        h = h.rotate_left(27).wrapping_mul(P1).wrapping_add(P4);
        rest = &rest[8..];
    }
    if rest.len() >= 4 {
        let mut w = [0u8; 4];
        w.copy_from_slice(&rest[..4]);
        h ^= u64::from(u32::from_le_bytes(w)).wrapping_mul(P1);
        h = h.rotate_left(23).wrapping_mul(P2).wrapping_add(P3);
        rest = &rest[4..];
    }
    for b in rest {
        h ^= u64::from(*b).wrapping_mul(P5);
        h = h.rotate_left(11).wrapping_mul(P1);
    }
    h ^= h >> 33;
    h = h.wrapping_mul(P2);
    h ^= h >> 29;
    h = h.wrapping_mul(P3);
    h ^ (h >> 32)
}

/// Takes one field's value, of `wire_type`, off the front of `buf`: a
/// length-delimited value's bytes without their length, or the bytes of a
/// number. `None` when it does not decode (groups are not in proto3).
fn take_value<'b>(wire_type: WireType, buf: &mut &'b [u8]) -> Option<&'b [u8]> {
    let start = *buf;
    let len = match wire_type {
        WireType::Varint => {
            decode_varint(buf).ok()?;
            return Some(&start[..start.len() - buf.len()]);
        }
        WireType::SixtyFourBit => 8,
        WireType::ThirtyTwoBit => 4,
        WireType::LengthDelimited => usize::try_from(decode_varint(buf).ok()?).ok()?,
        WireType::StartGroup | WireType::EndGroup => return None,
    };
    let value = buf.get(..len)?;
    *buf = &buf[len..];
    Some(value)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::util::{metadata, string_value, struct_value};
    use envoy_types::pb::envoy::config::core::v3::Metadata;
    use envoy_types::pb::envoy::config::route::v3::{Route, RouteConfiguration, VirtualHost};
    use envoy_types::pb::google::protobuf::{Any, Struct};

    /// Packs `m` as prost alone does, its maps' entries in iteration order
    /// (what the walk must put in order; [`crate::util::any`] packs them
    /// in order already).
    fn any<M: Message + Name>(m: &M) -> Any {
        Any {
            type_url: M::type_url(),
            value: m.encode_to_vec(),
        }
    }

    /// `util::any` packs a payload in the order the walk puts it in.
    #[test]
    fn packed_in_order() {
        let keys: Vec<String> = (0..24).map(|i| format!("key-{i}")).collect();
        let forward: Vec<&str> = keys.iter().map(String::as_str).collect();
        let backward: Vec<&str> = forward.iter().rev().copied().collect();
        let (a, b) = (md(&forward), md(&backward));
        assert_ne!(any(&a).value, any(&b).value, "the test needs two orders");
        let packed = crate::util::any(&a);
        assert_eq!(packed, crate::util::any(&b));
        assert_eq!(packed.type_url, any(&a).type_url);
        assert_eq!(Metadata::decode(packed.value.as_slice()).unwrap(), a);
        let mut walked = Vec::new();
        let m = TABLE.by_name[&Metadata::full_name()];
        Walk::new()
            .canonical(m, &any(&a).value, &mut walked, MAX_DEPTH)
            .unwrap();
        assert_eq!(packed.value, walked);
    }

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
        assert_eq!(broken, format!("{:016x}", xxh64(b"\x0a\xff")));
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
        let walk = |bytes: &[u8]| Walk::new().canonical(value, bytes, &mut Vec::new(), MAX_DEPTH);
        assert!(walk(&nested(40)).is_some());
        assert!(walk(&nested(60)).is_none());
        let deep = nested(60);
        assert_eq!(
            version_of_encoded("google.protobuf.Value", &deep),
            format!("{:016x}", xxh64(&deep))
        );
    }

    /// Which types the walk copies whole: those where no map and no `Any`
    /// can occur, however deep; types that hold each other settle together.
    #[test]
    fn plain_types_are_those_without_maps_or_anys() {
        let table = &*TABLE;
        let plain = |name: &str| table.plain[table.by_name[name]];
        assert!(plain("google.protobuf.Duration"));
        assert!(plain("envoy.config.route.v3.Decorator"));
        assert!(plain("envoy.config.core.v3.HeaderValue"));
        // A map, directly or through each other.
        assert!(!plain("google.protobuf.Struct"));
        assert!(!plain("google.protobuf.Value"));
        assert!(!plain("google.protobuf.ListValue"));
        // An `Any` a few messages down (retry host predicates).
        assert!(!plain("envoy.config.route.v3.RouteAction"));
        assert!(!plain("envoy.config.cluster.v3.Cluster"));
        // A plain message's version is the hash of its bytes.
        let d = envoy_types::pb::google::protobuf::Duration {
            seconds: 3,
            nanos: 1,
        };
        assert_eq!(
            version_of(&d),
            format!("{:016x}", xxh64(&d.encode_to_vec()))
        );
    }

    /// An `Any` is read as prost decodes it: its two fields in either
    /// order, the payload put in order.
    #[test]
    fn any_fields_in_any_order() {
        let payload = md(&["a", "b", "c"]);
        let packed = any(&payload);
        let field = |tag: u32, bytes: &[u8]| {
            let mut out = Vec::new();
            prost::encoding::encode_key(tag, WireType::LengthDelimited, &mut out);
            prost::encoding::encode_varint(bytes.len() as u64, &mut out);
            out.extend_from_slice(bytes);
            out
        };
        let type_url = field(1, packed.type_url.as_bytes());
        let value = field(2, &packed.value);
        // Each `Any` as the `typed_config` of a `TypedExtensionConfig`.
        const TYPED: &str = "envoy.config.core.v3.TypedExtensionConfig";
        let wrap = |parts: &[&[u8]]| [field(1, b"n"), field(2, &parts.concat())].concat();
        let version = |parts: &[&[u8]]| version_of_encoded(TYPED, &wrap(parts));
        let v = version(&[&type_url, &value]);
        assert_eq!(version(&[&value, &type_url]), v);
        assert_ne!(version(&[&type_url]), v);
        // The same payload with its maps filled the other way round.
        let other = any(&md(&["c", "b", "a"]));
        assert_ne!(other.value, packed.value, "the test needs two orders");
        let (type_url2, value2) = (field(1, other.type_url.as_bytes()), field(2, &other.value));
        assert_eq!(version(&[&type_url2, &value2]), v);
        // A type URL that is not UTF-8 does not decode: hashed as it is.
        let bad = wrap(&[&field(1, b"\xff"), &value]);
        assert_eq!(
            version_of_encoded(TYPED, &bad),
            format!("{:016x}", xxh64(&bad))
        );
    }

    /// XXH64 gives the reference implementation's values (from the
    /// `xxhash` Python package, which wraps it), at every length class:
    /// under 4, 4 to 7, 8 to 31 bytes, and 32 or more.
    #[test]
    fn xxh64_matches_the_reference() {
        let all: Vec<u8> = (0..=255u8).cycle().take(768).collect();
        for (bytes, want) in [
            (&b""[..], 0xef46_db37_51d8_e999),
            (b"a", 0xd24e_c4f1_a98c_6e5b),
            (b"abc", 0x44bc_2cf5_ad77_0999),
            (b"0123456789abcdef0123456789abcdef", 0x642a_9495_8e71_e6c5),
            (&[b'x'; 31], 0x60dd_0d01_083b_99f0),
            (&[b'y'; 33], 0xf27d_5a84_556c_aef4),
            (&all, 0x8e03_c838_c596_036f),
        ] {
            assert_eq!(xxh64(bytes), want, "{} bytes", bytes.len());
        }
    }
}
