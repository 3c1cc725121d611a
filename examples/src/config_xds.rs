//! The mesh's own configuration over xDS, as istiod serves it: the type
//! URLs and the resource encoding that the controller (server) and the
//! proxy (client) share.
//!
//! * The type URL of a kind is its `group/version/Kind`:
//!   `networking.istio.io/v1/VirtualService`,
//!   `security.istio.io/v1/AuthorizationPolicy`, and for Kubernetes kinds
//!   `core/v1/Service`, `apps/v1/Deployment` ([`CONFIG_TYPES`]). The
//!   version is the kind's stable one, whatever version an object was
//!   written in. Subscriptions are wildcard (no resource names).
//! * Each resource is a `google.protobuf.Any` holding a
//!   `google.protobuf.StringValue` whose value is the object as JSON, in its
//!   Kubernetes form (`apiVersion`, `kind`, `metadata`, `spec`), so a client
//!   reads it with the same parser as a YAML file ([`encode`], [`decode`]).
//! * The resource name is `namespace/name` (`name` for cluster-scoped
//!   kinds) ([`resource_name`]).
//! * Workload certificates travel as Envoy's SDS secrets `default` and
//!   `ROOTCA` (`mesh_xds::tls::SECRET_DEFAULT`, `SECRET_ROOTCA`) on the same
//!   stream.

use envoy_types::pb::google::protobuf::{Any, StringValue};
use prost::{Message, Name};

/// The configuration kinds served over xDS: (`apiVersion`, `kind`).
pub const CONFIG_TYPES: &[(&str, &str)] = &[
    ("networking.istio.io/v1", "VirtualService"),
    ("networking.istio.io/v1", "DestinationRule"),
    ("networking.istio.io/v1", "Gateway"),
    ("networking.istio.io/v1", "ServiceEntry"),
    ("networking.istio.io/v1", "Sidecar"),
    ("networking.istio.io/v1", "WorkloadEntry"),
    ("security.istio.io/v1", "AuthorizationPolicy"),
    ("security.istio.io/v1", "PeerAuthentication"),
    ("security.istio.io/v1", "RequestAuthentication"),
    ("v1", "Namespace"),
    ("v1", "Service"),
    ("v1", "Pod"),
    ("v1", "ConfigMap"),
    ("v1", "ServiceAccount"),
    ("apps/v1", "Deployment"),
    ("apps/v1", "StatefulSet"),
    ("apps/v1", "DaemonSet"),
    ("apps/v1", "ReplicaSet"),
];

/// One of [`CONFIG_TYPES`], by its index there.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ConfigType(usize);

impl ConfigType {
    /// Every configuration type, in the order of [`CONFIG_TYPES`].
    pub fn all() -> impl Iterator<Item = ConfigType> {
        (0..CONFIG_TYPES.len()).map(ConfigType)
    }

    /// The type of a type URL.
    pub fn from_type_url(url: &str) -> Option<ConfigType> {
        ConfigType::all().find(|t| t.type_url() == url)
    }

    /// The type of objects of `kind` in API group `group` (`""` for the
    /// Kubernetes core group), whatever their version.
    pub fn of(group: &str, kind: &str) -> Option<ConfigType> {
        ConfigType::all().find(|t| {
            let (v, k) = CONFIG_TYPES[t.0];
            let g = v.rsplit_once('/').map_or("", |(g, _)| g);
            k == kind && g == group
        })
    }

    /// Its type URL.
    pub fn type_url(self) -> String {
        let (v, k) = CONFIG_TYPES[self.0];
        type_url(v, k)
    }

    /// The kind (`VirtualService`).
    pub fn kind(self) -> &'static str {
        CONFIG_TYPES[self.0].1
    }
}

/// The type URL of a configuration kind: `group/version/Kind`, with
/// `core` for the Kubernetes core group.
pub fn type_url(api_version: &str, kind: &str) -> String {
    if api_version.contains('/') {
        format!("{api_version}/{kind}")
    } else {
        format!("core/{api_version}/{kind}")
    }
}

/// Whether a type URL names a configuration kind of [`CONFIG_TYPES`].
pub fn is_config_type(url: &str) -> bool {
    ConfigType::from_type_url(url).is_some()
}

/// The resource name of an object: `namespace/name`, or `name` when it has
/// no namespace.
pub fn resource_name(namespace: &str, name: &str) -> String {
    if namespace.is_empty() {
        name.to_string()
    } else {
        format!("{namespace}/{name}")
    }
}

/// A configuration object (its JSON) as an xDS resource.
pub fn encode(object_json: &str) -> Any {
    envoy_types::util::pack_any(StringValue {
        value: object_json.to_string(),
    })
}

/// The JSON of a configuration resource, or `None` when it is not a
/// `StringValue`.
pub fn decode(any: &Any) -> Option<String> {
    if any.type_url != StringValue::type_url() {
        return None;
    }
    StringValue::decode(any.value.as_slice())
        .ok()
        .map(|s| s.value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn type_urls_name_group_version_and_kind() {
        let vs = ConfigType::of("networking.istio.io", "VirtualService").unwrap();
        assert_eq!(vs.type_url(), "networking.istio.io/v1/VirtualService");
        assert_eq!(
            ConfigType::of("", "Service").unwrap().type_url(),
            "core/v1/Service"
        );
        assert_eq!(
            ConfigType::from_type_url("apps/v1/Deployment").map(ConfigType::kind),
            Some("Deployment")
        );
        assert_eq!(ConfigType::of("gateway.networking.k8s.io", "Gateway"), None);
        assert!(!is_config_type("core/v1/Secret"));
        let json = r#"{"apiVersion":"v1","kind":"Namespace","metadata":{"name":"a"}}"#;
        assert_eq!(decode(&encode(json)).as_deref(), Some(json));
        assert_eq!(resource_name("", "a"), "a");
        assert_eq!(resource_name("ns", "a"), "ns/a");
    }
}
