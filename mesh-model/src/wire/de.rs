//! Deserialization helpers used by the generated wire types.
//!
//! The Kubernetes API server rejects `null` for fields that are not
//! `nullable` (`spec.url in body must be of type string: "null"`), and list
//! items or map values that are `null`. serde would read them as absent, so
//! the generated fields deserialize through [`non_null`].

use serde::de::{self, Deserialize, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use std::collections::BTreeMap;
use std::fmt;
use std::marker::PhantomData;

/// Deserializes an optional field whose value may not be `null`; list
/// items and map values may not be `null` either.
pub fn non_null<'de, D, T>(d: D) -> Result<Option<T>, D::Error>
where
    D: Deserializer<'de>,
    T: NonNullValue<'de>,
{
    d.deserialize_option(NonNullVisitor(PhantomData)).map(Some)
}

struct NonNullVisitor<T>(PhantomData<T>);

impl<'de, T: NonNullValue<'de>> Visitor<'de> for NonNullVisitor<T> {
    type Value = T;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a value that is not null")
    }
    fn visit_none<E: de::Error>(self) -> Result<T, E> {
        Err(E::custom("must not be null"))
    }
    fn visit_unit<E: de::Error>(self) -> Result<T, E> {
        Err(E::custom("must not be null"))
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<T, D::Error> {
        T::deserialize_non_null(d)
    }
}

/// A value read through [`non_null`]: lists and maps check their elements.
pub trait NonNullValue<'de>: Sized {
    /// Reads the value (already known not to be `null` itself).
    fn deserialize_non_null<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error>;
}

macro_rules! plain {
    ($($t:ty),*) => {$(
        impl<'de> NonNullValue<'de> for $t {
            fn deserialize_non_null<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                <$t>::deserialize(d)
            }
        }
    )*};
}
plain!(String, bool, i32, i64, u32, u64, f64, serde_json::Value);

/// Implements [`NonNullValue`] for generated structs and enums.
#[macro_export]
#[doc(hidden)]
macro_rules! non_null_value {
    ($($t:ty),* $(,)?) => {$(
        impl<'de> $crate::wire::de::NonNullValue<'de> for $t {
            fn deserialize_non_null<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                <$t as serde::Deserialize>::deserialize(d)
            }
        }
    )*};
}

struct Element<T>(PhantomData<T>);

impl<'de, T: NonNullValue<'de>> DeserializeSeed<'de> for Element<T> {
    type Value = T;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<T, D::Error> {
        d.deserialize_option(NonNullVisitor(PhantomData))
    }
}

impl<'de, T: NonNullValue<'de>> NonNullValue<'de> for Vec<T> {
    fn deserialize_non_null<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<T>(PhantomData<T>);
        impl<'de, T: NonNullValue<'de>> Visitor<'de> for V<T> {
            type Value = Vec<T>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a list")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut s: A) -> Result<Vec<T>, A::Error> {
                let mut out = Vec::with_capacity(s.size_hint().unwrap_or(0).min(1024));
                while let Some(x) = s.next_element_seed(Element(PhantomData))? {
                    out.push(x);
                }
                Ok(out)
            }
        }
        d.deserialize_seq(V(PhantomData))
    }
}

impl<'de, T: NonNullValue<'de>> NonNullValue<'de> for BTreeMap<String, T> {
    fn deserialize_non_null<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<T>(PhantomData<T>);
        impl<'de, T: NonNullValue<'de>> Visitor<'de> for V<T> {
            type Value = BTreeMap<String, T>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a map")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut m: A) -> Result<Self::Value, A::Error> {
                let mut out = BTreeMap::new();
                while let Some(k) = m.next_key::<String>()? {
                    let v = m.next_value_seed(Element(PhantomData))?;
                    out.insert(k, v);
                }
                Ok(out)
            }
        }
        d.deserialize_map(V(PhantomData))
    }
}
