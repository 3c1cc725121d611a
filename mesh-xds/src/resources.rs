//! The compiled resources of one proxy, their type URLs and content
//! versions, and the static bootstrap that holds them all.

use crate::json;
use crate::util::{any, socket_address};
use envoy_types::pb::envoy::config::bootstrap::v3::{Admin, Bootstrap, bootstrap};
use envoy_types::pb::envoy::config::cluster::v3::{
    Cluster, cluster::ClusterDiscoveryType, cluster::DiscoveryType,
};
use envoy_types::pb::envoy::config::core::v3::{Node, TransportSocket, transport_socket};
use envoy_types::pb::envoy::config::endpoint::v3::ClusterLoadAssignment;
use envoy_types::pb::envoy::config::listener::v3::{Listener, filter};
use envoy_types::pb::envoy::config::route::v3::RouteConfiguration;
use envoy_types::pb::envoy::extensions::filters::network::http_connection_manager::v3::{
    HttpConnectionManager, http_connection_manager::RouteSpecifier,
};
use envoy_types::pb::envoy::extensions::transport_sockets::tls::v3::{
    CertificateValidationContext, CommonTlsContext, DownstreamTlsContext, SdsSecretConfig, Secret,
    TlsCertificate, UpstreamTlsContext, common_tls_context::ValidationContextType, secret,
};
use envoy_types::pb::google::protobuf::Any;
use prost::{Message, Name};
use std::collections::BTreeMap;

/// The xDS resource types, in the order a proxy must receive them (CDS,
/// EDS, LDS, RDS; SDS secrets with the clusters and listeners that use
/// them).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ResourceType {
    /// `envoy.config.cluster.v3.Cluster`.
    Cluster,
    /// `envoy.config.endpoint.v3.ClusterLoadAssignment`.
    Endpoint,
    /// `envoy.config.listener.v3.Listener`.
    Listener,
    /// `envoy.config.route.v3.RouteConfiguration`.
    Route,
    /// `envoy.extensions.transport_sockets.tls.v3.Secret`.
    Secret,
}

impl ResourceType {
    /// Every type, in push order.
    pub const ALL: [ResourceType; 5] = [
        ResourceType::Secret,
        ResourceType::Cluster,
        ResourceType::Endpoint,
        ResourceType::Listener,
        ResourceType::Route,
    ];

    /// The type URL.
    pub fn type_url(self) -> String {
        match self {
            ResourceType::Cluster => Cluster::type_url(),
            ResourceType::Endpoint => ClusterLoadAssignment::type_url(),
            ResourceType::Listener => Listener::type_url(),
            ResourceType::Route => RouteConfiguration::type_url(),
            ResourceType::Secret => Secret::type_url(),
        }
    }

    /// The type for a type URL.
    pub fn from_type_url(url: &str) -> Option<ResourceType> {
        ResourceType::ALL.into_iter().find(|t| t.type_url() == url)
    }

    /// The short name used on the command line (`clusters` …).
    pub fn plural(self) -> &'static str {
        match self {
            ResourceType::Cluster => "clusters",
            ResourceType::Endpoint => "endpoints",
            ResourceType::Listener => "listeners",
            ResourceType::Route => "routes",
            ResourceType::Secret => "secrets",
        }
    }
}

/// One named resource with its content version.
#[derive(Debug, Clone, PartialEq)]
pub struct Versioned {
    /// The resource name.
    pub name: String,
    /// The content version ([`crate::version`]).
    pub version: String,
    /// The packed resource.
    pub resource: Any,
}

/// Everything compiled for one proxy.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Resources {
    /// Listeners.
    pub listeners: Vec<Listener>,
    /// Route configurations.
    pub routes: Vec<RouteConfiguration>,
    /// Clusters.
    pub clusters: Vec<Cluster>,
    /// Endpoints.
    pub endpoints: Vec<ClusterLoadAssignment>,
    /// Secrets.
    pub secrets: Vec<Secret>,
}

fn versioned<M: Message + Name + PartialEq>(
    items: &[M],
    name: impl Fn(&M) -> &str,
    mut encode: impl FnMut(&M) -> Vec<u8>,
    before: Option<(&[M], &BTreeMap<String, Versioned>)>,
) -> BTreeMap<String, Versioned> {
    let full_name = M::full_name();
    items
        .iter()
        .map(|m| {
            let n = name(m);
            // An unchanged resource keeps its version and encoding: equal
            // messages have equal versions, and comparing is far cheaper
            // than writing the JSON the version hashes.
            let kept = before.and_then(|(old, versions)| {
                let i = old.binary_search_by(|o| name(o).cmp(n)).ok()?;
                (old[i] == *m).then(|| versions.get(n).cloned()).flatten()
            });
            let v = kept.unwrap_or_else(|| {
                let resource = Any {
                    type_url: M::type_url(),
                    value: encode(m),
                };
                Versioned {
                    name: n.to_string(),
                    version: crate::version::version_of_encoded(&full_name, &resource.value),
                    resource,
                }
            });
            (n.to_string(), v)
        })
        .collect()
}

impl Resources {
    /// The resources of one type, by name, each with its content version.
    pub fn of_type(&self, t: ResourceType) -> BTreeMap<String, Versioned> {
        self.versions(t, None)
    }

    /// [`Resources::of_type`] after an earlier compile: a resource equal to
    /// the one of the same name in `before` (sorted, as
    /// [`Resources::sort`] leaves it) takes its entry in `versions` (what
    /// `before.of_type(t)` gave) instead of being encoded and hashed again.
    /// The result equals `self.of_type(t)`; after an incremental compile
    /// ([`crate::Compiler::recompile`]) most of it is copied.
    ///
    /// ```
    /// use mesh_model::{load, LoadOptions};
    /// use mesh_xds::{Compiler, CompileOptions, proxy::Proxy, resources::ResourceType};
    /// let yaml = "apiVersion: v1\nkind: Service\nmetadata: {name: ratings, namespace: shop}\nspec: {ports: [{name: http, port: 80}]}\n";
    /// let snapshot = load(&[("m.yaml", yaml)], &LoadOptions::default()).snapshot;
    /// let r = Compiler::new(&snapshot, CompileOptions::default())
    ///     .compile(&Proxy::sidecar("shop", Default::default(), "web"));
    /// let versions = r.of_type(ResourceType::Cluster);
    /// assert_eq!(r.of_type_since(ResourceType::Cluster, &r, &versions), versions);
    /// ```
    pub fn of_type_since(
        &self,
        t: ResourceType,
        before: &Resources,
        versions: &BTreeMap<String, Versioned>,
    ) -> BTreeMap<String, Versioned> {
        self.versions(t, Some((before, versions)))
    }

    /// [`Resources::of_type`], reusing what `before` has for an unchanged
    /// resource.
    fn versions(
        &self,
        t: ResourceType,
        before: Option<(&Resources, &BTreeMap<String, Versioned>)>,
    ) -> BTreeMap<String, Versioned> {
        match t {
            ResourceType::Cluster => versioned(
                &self.clusters,
                |c| &c.name,
                // Byte for byte prost's encoding, made in one pass.
                {
                    let mut encoder = crate::encode::Encoder::default();
                    move |c| encoder.cluster(c)
                },
                before.map(|(b, v)| (&b.clusters[..], v)),
            ),
            ResourceType::Endpoint => versioned(
                &self.endpoints,
                |c| &c.cluster_name,
                Message::encode_to_vec,
                before.map(|(b, v)| (&b.endpoints[..], v)),
            ),
            ResourceType::Listener => versioned(
                &self.listeners,
                |c| &c.name,
                Message::encode_to_vec,
                before.map(|(b, v)| (&b.listeners[..], v)),
            ),
            ResourceType::Route => versioned(
                &self.routes,
                |c| &c.name,
                // Byte for byte prost's encoding, made in one pass.
                {
                    let mut encoder = crate::encode::Encoder::default();
                    move |rc| encoder.route_configuration(rc)
                },
                before.map(|(b, v)| (&b.routes[..], v)),
            ),
            ResourceType::Secret => versioned(
                &self.secrets,
                |c| &c.name,
                Message::encode_to_vec,
                before.map(|(b, v)| (&b.secrets[..], v)),
            ),
        }
    }

    /// Every resource as protobuf JSON, grouped by type URL (object keys and
    /// resources sorted): what `meshctl xds` prints.
    pub fn to_json(&self) -> serde_json::Value {
        let mut out = serde_json::Map::new();
        for t in ResourceType::ALL {
            let list: Vec<serde_json::Value> = match t {
                ResourceType::Cluster => self.clusters.iter().map(json::to_json).collect(),
                ResourceType::Endpoint => self.endpoints.iter().map(json::to_json).collect(),
                ResourceType::Listener => self.listeners.iter().map(json::to_json).collect(),
                ResourceType::Route => self.routes.iter().map(json::to_json).collect(),
                ResourceType::Secret => self.secrets.iter().map(json::to_json).collect(),
            };
            out.insert(t.type_url(), serde_json::Value::Array(list));
        }
        serde_json::Value::Object(out)
    }

    /// Sorts every list by name, so equal configurations give equal output,
    /// and keeps the first of resources that share a name.
    pub fn sort(&mut self) {
        sort_dedup_by_name(&mut self.listeners, |l| &l.name);
        sort_dedup_by_name(&mut self.routes, |r| &r.name);
        sort_dedup_by_name(&mut self.clusters, |c| &c.name);
        sort_dedup_by_name(&mut self.endpoints, |e| &e.cluster_name);
        sort_dedup_by_name(&mut self.secrets, |s| &s.name);
    }
}

/// Sorts `items` by name (stable) and drops later items with a name
/// already present.
///
/// The generated Envoy messages are large values (a `Cluster` is several
/// kilobytes inline), so the sort orders indices and then moves each item
/// once into place, rather than moving items at every comparison of a
/// merge sort; lists built in order (the common case) are not moved at all.
pub(crate) fn sort_dedup_by_name<T>(items: &mut Vec<T>, name: impl Fn(&T) -> &str) {
    if !items.is_sorted_by(|a, b| name(a) <= name(b)) {
        let mut order: Vec<usize> = (0..items.len()).collect();
        order.sort_by(|&a, &b| name(&items[a]).cmp(name(&items[b])));
        // Apply the permutation in place, as `slice::sort_by_cached_key`
        // does: position i takes the item that order[i] names, following
        // earlier swaps to where that item now is.
        for i in 0..order.len() {
            let mut at = order[i];
            while at < i {
                at = order[at];
            }
            order[i] = at;
            if at != i {
                items.swap(i, at);
            }
        }
    }
    items.dedup_by(|a, b| name(a) == name(b));
}

/// A workload certificate secret (`default`): chain and key in PEM.
pub fn certificate_secret(name: &str, chain_pem: &str, key_pem: &str) -> Secret {
    use envoy_types::pb::envoy::config::core::v3::{DataSource, data_source::Specifier};
    Secret {
        name: name.to_string(),
        r#type: Some(secret::Type::TlsCertificate(TlsCertificate {
            certificate_chain: Some(DataSource {
                specifier: Some(Specifier::InlineString(chain_pem.to_string())),
                ..Default::default()
            }),
            private_key: Some(DataSource {
                specifier: Some(Specifier::InlineString(key_pem.to_string())),
                ..Default::default()
            }),
            ..Default::default()
        })),
    }
}

/// A root certificate secret (`ROOTCA`).
pub fn root_secret(name: &str, root_pem: &str) -> Secret {
    use envoy_types::pb::envoy::config::core::v3::{DataSource, data_source::Specifier};
    Secret {
        name: name.to_string(),
        r#type: Some(secret::Type::ValidationContext(
            CertificateValidationContext {
                trusted_ca: Some(DataSource {
                    specifier: Some(Specifier::InlineString(root_pem.to_string())),
                    ..Default::default()
                }),
                ..Default::default()
            },
        )),
    }
}

fn staticize_sds(s: &mut SdsSecretConfig) {
    // A secret config with only a name refers to a static secret.
    s.sds_config = None;
}

fn staticize_common(c: &mut CommonTlsContext) {
    c.tls_certificate_sds_secret_configs
        .iter_mut()
        .for_each(staticize_sds);
    match &mut c.validation_context_type {
        Some(ValidationContextType::CombinedValidationContext(v)) => {
            if let Some(s) = &mut v.validation_context_sds_secret_config {
                staticize_sds(s);
            }
        }
        Some(ValidationContextType::ValidationContextSdsSecretConfig(s)) => staticize_sds(s),
        _ => {}
    }
}

fn staticize_transport_socket(ts: &mut TransportSocket) {
    let Some(transport_socket::ConfigType::TypedConfig(a)) = &mut ts.config_type else {
        return;
    };
    if a.type_url == UpstreamTlsContext::type_url() {
        if let Ok(mut u) = UpstreamTlsContext::decode(a.value.as_slice()) {
            if let Some(c) = &mut u.common_tls_context {
                staticize_common(c);
            }
            *a = any(&u);
        }
    } else if a.type_url == DownstreamTlsContext::type_url()
        && let Ok(mut d) = DownstreamTlsContext::decode(a.value.as_slice())
    {
        if let Some(c) = &mut d.common_tls_context {
            staticize_common(c);
        }
        *a = any(&d);
    }
}

/// One static Envoy bootstrap holding every resource: EDS clusters get their
/// load assignment inline, RDS references become inline route
/// configurations, SDS references point at static secrets. `envoy --mode
/// validate` accepts it.
pub fn static_bootstrap(
    r: &Resources,
    node_id: &str,
    node_cluster: &str,
    admin_port: u16,
) -> Bootstrap {
    let endpoints: BTreeMap<&str, &ClusterLoadAssignment> = r
        .endpoints
        .iter()
        .map(|e| (e.cluster_name.as_str(), e))
        .collect();
    let routes: BTreeMap<&str, &RouteConfiguration> =
        r.routes.iter().map(|x| (x.name.as_str(), x)).collect();
    let clusters = r
        .clusters
        .iter()
        .map(|c| {
            let mut c = c.clone();
            if c.eds_cluster_config.is_some() {
                let la = endpoints
                    .get(c.name.as_str())
                    .map(|e| (*e).clone())
                    .unwrap_or_else(|| ClusterLoadAssignment {
                        cluster_name: c.name.clone(),
                        ..Default::default()
                    });
                c.eds_cluster_config = None;
                c.cluster_discovery_type =
                    Some(ClusterDiscoveryType::Type(DiscoveryType::Static as i32));
                c.load_assignment = Some(la);
            }
            if let Some(ts) = &mut c.transport_socket {
                staticize_transport_socket(ts);
            }
            for m in &mut c.transport_socket_matches {
                if let Some(ts) = &mut m.transport_socket {
                    staticize_transport_socket(ts);
                }
            }
            c
        })
        .collect();
    let listeners = r
        .listeners
        .iter()
        .map(|l| {
            let mut l = l.clone();
            for chain in &mut l.filter_chains {
                if let Some(ts) = &mut chain.transport_socket {
                    staticize_transport_socket(ts);
                }
                for f in &mut chain.filters {
                    let Some(filter::ConfigType::TypedConfig(a)) = &mut f.config_type else {
                        continue;
                    };
                    if a.type_url != HttpConnectionManager::type_url() {
                        continue;
                    }
                    let Ok(mut hcm) = HttpConnectionManager::decode(a.value.as_slice()) else {
                        continue;
                    };
                    if let Some(RouteSpecifier::Rds(rds)) = &hcm.route_specifier {
                        let rc = routes
                            .get(rds.route_config_name.as_str())
                            .map(|x| (*x).clone())
                            .unwrap_or_else(|| RouteConfiguration {
                                name: rds.route_config_name.clone(),
                                ..Default::default()
                            });
                        hcm.route_specifier = Some(RouteSpecifier::RouteConfig(rc));
                        *a = any(&hcm);
                    }
                }
            }
            l
        })
        .collect();
    Bootstrap {
        node: Some(Node {
            id: node_id.to_string(),
            cluster: node_cluster.to_string(),
            ..Default::default()
        }),
        admin: Some(Admin {
            address: Some(socket_address("127.0.0.1", admin_port)),
            ..Default::default()
        }),
        static_resources: Some(bootstrap::StaticResources {
            listeners,
            clusters,
            secrets: r.secrets.clone(),
        }),
        ..Default::default()
    }
}

impl Resources {
    /// The names of every SDS secret the listeners and clusters refer to
    /// (`default`, `ROOTCA`, `kubernetes://<credential>` …), sorted.
    pub fn referenced_secrets(&self) -> Vec<String> {
        fn walk(v: &serde_json::Value, out: &mut std::collections::BTreeSet<String>) {
            match v {
                serde_json::Value::Object(m) => {
                    if m.contains_key("sdsConfig")
                        && let Some(n) = m.get("name").and_then(|n| n.as_str())
                    {
                        out.insert(n.to_string());
                    }
                    m.values().for_each(|x| walk(x, out));
                }
                serde_json::Value::Array(a) => a.iter().for_each(|x| walk(x, out)),
                _ => {}
            }
        }
        let mut out = std::collections::BTreeSet::new();
        for l in &self.listeners {
            walk(&json::to_json(l), &mut out);
        }
        for c in &self.clusters {
            walk(&json::to_json(c), &mut out);
        }
        out.into_iter().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::sort_dedup_by_name;

    /// The index sort gives what a stable sort and `dedup_by` give, on
    /// every arrangement of a list with repeated names.
    #[test]
    fn sort_dedup_by_name_is_a_stable_sort_and_dedup() {
        fn check(input: &[(&str, usize)]) {
            let mut expected = input.to_vec();
            expected.sort_by(|a, b| a.0.cmp(b.0));
            expected.dedup_by(|a, b| a.0 == b.0);
            let mut got = input.to_vec();
            sort_dedup_by_name(&mut got, |i| i.0);
            assert_eq!(got, expected, "{input:?}");
        }
        // Each item remembers where it came from, to check stability.
        let mut items: Vec<(&str, usize)> = ["c", "a", "b", "a", "c", "d", "a"]
            .into_iter()
            .enumerate()
            .map(|(i, n)| (n, i))
            .collect();
        // Heap's algorithm: every permutation of the seven items.
        let n = items.len();
        let mut c = vec![0usize; n];
        check(&items);
        let mut i = 0;
        let mut seen = 1;
        while i < n {
            if c[i] < i {
                items.swap(if i % 2 == 0 { 0 } else { c[i] }, i);
                check(&items);
                seen += 1;
                c[i] += 1;
                i = 0;
            } else {
                c[i] = 0;
                i += 1;
            }
        }
        assert_eq!(seen, 5040);
    }
}
