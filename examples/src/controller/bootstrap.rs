//! The Envoy bootstrap of a sidecar or gateway proxy that takes all its
//! configuration from the controller over ADS: node id and Istio node
//! metadata, an admin port, and an HTTP/2 `xds_cluster` pointing at the
//! controller.

use mesh_model::labels::Labels;
use serde_json::{Value, json};
use std::net::{IpAddr, SocketAddr};

/// The proxy a bootstrap is for.
#[derive(Debug, Clone)]
pub struct BootstrapSpec {
    /// `sidecar` (`false`) or gateway (`true`, Istio's `router`).
    pub gateway: bool,
    /// The workload name (Pod name).
    pub name: String,
    /// The namespace.
    pub namespace: String,
    /// The workload labels.
    pub labels: Labels,
    /// The service account.
    pub service_account: String,
    /// The workload IPs.
    pub ips: Vec<IpAddr>,
    /// The controller's ADS address.
    pub ads: SocketAddr,
    /// Envoy's admin port (on 127.0.0.1).
    pub admin_port: u16,
    /// The DNS suffix (`cluster.local`).
    pub domain_suffix: String,
    /// The mesh ID / Envoy node cluster (`<app>.<namespace>` when unset).
    pub cluster: Option<String>,
    /// Istio's `INTERCEPTION_MODE`: `REDIRECT` (iptables) or `NONE` (only
    /// explicitly bound listeners).
    pub interception: String,
}

impl BootstrapSpec {
    /// Istio's node id: `sidecar~IP~NAME.NS~NS.svc.SUFFIX`.
    pub fn node_id(&self) -> String {
        let kind = if self.gateway { "router" } else { "sidecar" };
        let ip = self
            .ips
            .first()
            .map_or_else(|| "0.0.0.0".to_string(), ToString::to_string);
        format!(
            "{kind}~{ip}~{name}.{ns}~{ns}.svc.{suffix}",
            name = self.name,
            ns = self.namespace,
            suffix = self.domain_suffix
        )
    }

    /// The bootstrap as a JSON value (print it as JSON or YAML).
    pub fn to_value(&self) -> Value {
        let app = self
            .labels
            .get("app")
            .cloned()
            .unwrap_or_else(|| self.name.clone());
        let cluster = self
            .cluster
            .clone()
            .unwrap_or_else(|| format!("{app}.{}", self.namespace));
        let ips: Vec<String> = self.ips.iter().map(ToString::to_string).collect();
        json!({
            "node": {
                "id": self.node_id(),
                "cluster": cluster,
                "metadata": {
                    "NAME": self.name,
                    "NAMESPACE": self.namespace,
                    "LABELS": self.labels,
                    "SERVICE_ACCOUNT": self.service_account,
                    "INSTANCE_IPS": ips.join(","),
                    "CLUSTER_ID": "Kubernetes",
                    "INTERCEPTION_MODE": self.interception,
                },
            },
            "admin": {
                "address": {"socket_address": {"address": "127.0.0.1", "port_value": self.admin_port}},
            },
            "dynamic_resources": {
                "ads_config": {
                    "api_type": "GRPC",
                    "transport_api_version": "V3",
                    "set_node_on_first_message_only": true,
                    "grpc_services": [{"envoy_grpc": {"cluster_name": "xds_cluster"}}],
                },
                "cds_config": {"ads": {}, "resource_api_version": "V3"},
                "lds_config": {"ads": {}, "resource_api_version": "V3"},
            },
            "static_resources": {
                "clusters": [{
                    "name": "xds_cluster",
                    "type": "STATIC",
                    "connect_timeout": "1s",
                    "typed_extension_protocol_options": {
                        "envoy.extensions.upstreams.http.v3.HttpProtocolOptions": {
                            "@type": "type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions",
                            "explicit_http_config": {"http2_protocol_options": {}},
                        },
                    },
                    "load_assignment": {
                        "cluster_name": "xds_cluster",
                        "endpoints": [{"lb_endpoints": [{"endpoint": {"address": {"socket_address": {
                            "address": self.ads.ip().to_string(),
                            "port_value": self.ads.port(),
                        }}}}]}],
                    },
                }],
            },
        })
    }

    /// Uses delta (incremental) xDS instead of state of the world.
    pub fn delta(v: &mut Value) {
        v["dynamic_resources"]["ads_config"]["api_type"] = json!("DELTA_GRPC");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn node_id_and_metadata() {
        let b = BootstrapSpec {
            gateway: false,
            name: "reviews-v1".into(),
            namespace: "bookinfo".into(),
            labels: [("app".to_string(), "reviews".to_string())].into(),
            service_account: "bookinfo-reviews".into(),
            ips: vec!["10.1.0.5".parse().unwrap()],
            ads: "127.0.0.1:15010".parse().unwrap(),
            admin_port: 15000,
            domain_suffix: "cluster.local".into(),
            cluster: None,
            interception: "REDIRECT".into(),
        };
        let v = b.to_value();
        assert_eq!(
            v["node"]["id"],
            "sidecar~10.1.0.5~reviews-v1.bookinfo~bookinfo.svc.cluster.local"
        );
        assert_eq!(v["node"]["cluster"], "reviews.bookinfo");
        assert_eq!(v["node"]["metadata"]["LABELS"]["app"], "reviews");
        // The node id parses back into the same proxy.
        let p = mesh_xds::proxy::Proxy::from_node_id(&b.node_id()).unwrap();
        assert_eq!(p.namespace, "bookinfo");
    }
}
