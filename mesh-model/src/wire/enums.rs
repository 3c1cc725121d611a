//! Support for the generated enums: read by name or by proto number, as
//! Istio's jsonpb decoder accepts both; written by name.

/// An enum of an Istio API.
pub trait WireEnum: Copy + 'static {
    /// Every value, indexed by proto number.
    const ALL: &'static [Self];
    /// The value's name as written in YAML.
    fn as_str(self) -> &'static str;

    /// The value named `s`.
    fn from_name(s: &str) -> Option<Self> {
        Self::ALL.iter().copied().find(|v| v.as_str() == s)
    }

    /// The value with proto number `n`.
    fn from_number(n: i64) -> Option<Self> {
        usize::try_from(n)
            .ok()
            .and_then(|i| Self::ALL.get(i).copied())
    }

    /// The Kubernetes-style message for an unsupported value.
    fn unsupported(value: &str) -> String {
        let supported: Vec<String> = Self::ALL
            .iter()
            .map(|v| format!("{:?}", v.as_str()))
            .collect();
        format!(
            "Unsupported value: {value:?}: supported values: {}",
            supported.join(", ")
        )
    }
}

/// Implements `Serialize`, `Deserialize`, `Display` and `NonNullValue` for a
/// [`WireEnum`].
#[macro_export]
#[doc(hidden)]
macro_rules! wire_enum_serde {
    ($t:ident) => {
        impl serde::Serialize for $t {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.as_str())
            }
        }
        impl<'de> serde::Deserialize<'de> for $t {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                struct V;
                impl<'de> serde::de::Visitor<'de> for V {
                    type Value = $t;
                    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                        f.write_str(concat!("a ", stringify!($t), " name or number"))
                    }
                    fn visit_str<E: serde::de::Error>(self, s: &str) -> Result<$t, E> {
                        <$t as $crate::wire::enums::WireEnum>::from_name(s).ok_or_else(|| {
                            E::custom(<$t as $crate::wire::enums::WireEnum>::unsupported(s))
                        })
                    }
                    fn visit_i64<E: serde::de::Error>(self, n: i64) -> Result<$t, E> {
                        <$t as $crate::wire::enums::WireEnum>::from_number(n).ok_or_else(|| {
                            E::custom(<$t as $crate::wire::enums::WireEnum>::unsupported(
                                &n.to_string(),
                            ))
                        })
                    }
                    fn visit_u64<E: serde::de::Error>(self, n: u64) -> Result<$t, E> {
                        self.visit_i64(i64::try_from(n).unwrap_or(i64::MAX))
                    }
                }
                d.deserialize_any(V)
            }
        }
        impl std::fmt::Display for $t {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
        $crate::non_null_value!($t);
    };
}
pub use wire_enum_serde;
