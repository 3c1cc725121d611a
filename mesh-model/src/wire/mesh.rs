//! Istio's `MeshConfig`: the mesh-wide settings the project uses.
//!
//! MeshConfig has many more fields than the mesh semantics here need; the
//! others are accepted and ignored (they tune istiod and the proxies, not
//! routing or policy).

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The subset of Istio's `MeshConfig` the mesh semantics depend on.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MeshConfig {
    /// `rootNamespace` (default `istio-system`, RES-9).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub root_namespace: Option<String>,
    /// `trustDomain` (default `cluster.local`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trust_domain: Option<String>,
    /// `trustDomainAliases` (AZ-23).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub trust_domain_aliases: Vec<String>,
    /// `enableAutoMtls` (default true, DR-9).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enable_auto_mtls: Option<bool>,
    /// `outboundTrafficPolicy` (default ALLOW_ANY, SC-3).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub outbound_traffic_policy: Option<MeshOutboundTrafficPolicy>,
    /// `extensionProviders` (CUSTOM authorization, tracing, logging; AZ-7).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub extension_providers: Vec<ExtensionProvider>,
    /// `defaultHttpRetryPolicy` (VS-25).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default_http_retry_policy: Option<super::networking::HttpRetry>,
    /// `defaultVirtualServiceExportTo` (HOST-6).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub default_virtual_service_export_to: Vec<String>,
    /// `defaultDestinationRuleExportTo` (HOST-6).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub default_destination_rule_export_to: Vec<String>,
    /// `defaultServiceExportTo` (HOST-6).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub default_service_export_to: Vec<String>,
    /// `defaultTrafficPolicy` (1.31).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default_traffic_policy: Option<super::networking::TrafficPolicy>,
    /// `connectTimeout` (default 10s).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub connect_timeout: Option<String>,
    /// `ingressService` (the gateway Service for Kubernetes Ingress).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ingress_service: Option<String>,
    /// `ingressSelector`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ingress_selector: Option<String>,
    /// `defaultConfig` (ProxyConfig defaults, kept as written).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default_config: Option<serde_json::Value>,
    /// `meshMTLS` (minimum TLS version etc., kept as written).
    #[serde(default, rename = "meshMTLS", skip_serializing_if = "Option::is_none")]
    pub mesh_mtls: Option<serde_json::Value>,
}

/// `MeshConfig.outboundTrafficPolicy`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct MeshOutboundTrafficPolicy {
    /// `mode`: `ALLOW_ANY` (default) or `REGISTRY_ONLY`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<String>,
}

/// `MeshConfig.extensionProviders[]`: a name and one provider config.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ExtensionProvider {
    /// `name`: what `AuthorizationPolicy.provider.name` refers to.
    #[serde(default)]
    pub name: String,
    /// `envoyExtAuthzHttp`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub envoy_ext_authz_http: Option<ExtAuthzHttp>,
    /// `envoyExtAuthzGrpc`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub envoy_ext_authz_grpc: Option<ExtAuthzGrpc>,
    /// Every other provider kind (`zipkin`, `opentelemetry`,
    /// `envoyFileAccessLog` …), kept as written.
    #[serde(flatten)]
    pub other: BTreeMap<String, serde_json::Value>,
}

/// An HTTP ext_authz provider.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ExtAuthzHttp {
    /// `service`: the authorization service host (`ns/host` or host).
    #[serde(default)]
    pub service: String,
    /// `port`.
    #[serde(default)]
    pub port: u32,
    /// `timeout`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<String>,
    /// `pathPrefix`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path_prefix: Option<String>,
    /// `failOpen`.
    #[serde(default)]
    pub fail_open: bool,
    /// `clearRouteCache`.
    #[serde(default)]
    pub clear_route_cache: bool,
    /// `statusOnError`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status_on_error: Option<String>,
    /// `includeRequestHeadersInCheck`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub include_request_headers_in_check: Vec<String>,
    /// `includeHeadersInCheck` (deprecated).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub include_headers_in_check: Vec<String>,
    /// `includeAdditionalHeadersInCheck`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub include_additional_headers_in_check: BTreeMap<String, String>,
    /// `headersToUpstreamOnAllow`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub headers_to_upstream_on_allow: Vec<String>,
    /// `headersToDownstreamOnAllow`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub headers_to_downstream_on_allow: Vec<String>,
    /// `headersToDownstreamOnDeny`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub headers_to_downstream_on_deny: Vec<String>,
    /// `includeRequestBodyInCheck`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub include_request_body_in_check: Option<ExtAuthzRequestBody>,
}

/// `includeRequestBodyInCheck` of an ext_authz provider: whether and how the
/// request body is buffered and sent to the authorization service.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ExtAuthzRequestBody {
    /// `maxRequestBytes`: the most body bytes buffered for the check.
    #[serde(default)]
    pub max_request_bytes: u32,
    /// `allowPartialMessage`: send the first `maxRequestBytes` of a larger
    /// body instead of answering 413.
    #[serde(default)]
    pub allow_partial_message: bool,
    /// `packAsBytes` (HTTP providers): send the body as raw bytes.
    #[serde(default)]
    pub pack_as_bytes: bool,
}

/// A gRPC ext_authz provider.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ExtAuthzGrpc {
    /// `service`.
    #[serde(default)]
    pub service: String,
    /// `port`.
    #[serde(default)]
    pub port: u32,
    /// `timeout`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<String>,
    /// `failOpen`.
    #[serde(default)]
    pub fail_open: bool,
    /// `clearRouteCache`.
    #[serde(default)]
    pub clear_route_cache: bool,
    /// `statusOnError`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status_on_error: Option<String>,
    /// `includeRequestBodyInCheck`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub include_request_body_in_check: Option<ExtAuthzRequestBody>,
}

impl MeshConfig {
    /// Parses MeshConfig YAML (the `mesh` key of the `istio` ConfigMap, or a
    /// file given to `--mesh-config`).
    pub fn from_yaml(text: &str) -> Result<MeshConfig, serde_yaml::Error> {
        if text.trim().is_empty() {
            return Ok(MeshConfig::default());
        }
        serde_yaml::from_str(text)
    }

    /// The root namespace (`istio-system` unless set).
    pub fn root_namespace(&self) -> &str {
        self.root_namespace.as_deref().unwrap_or("istio-system")
    }

    /// The trust domain (`cluster.local` unless set).
    pub fn trust_domain(&self) -> &str {
        self.trust_domain.as_deref().unwrap_or("cluster.local")
    }

    /// Whether auto mTLS is on (default true).
    pub fn auto_mtls(&self) -> bool {
        self.enable_auto_mtls.unwrap_or(true)
    }

    /// Whether outbound traffic to unknown hosts is blocked.
    pub fn registry_only(&self) -> bool {
        self.outbound_traffic_policy
            .as_ref()
            .and_then(|p| p.mode.as_deref())
            == Some("REGISTRY_ONLY")
    }

    /// The extension provider named `name`.
    pub fn extension_provider(&self, name: &str) -> Option<&ExtensionProvider> {
        self.extension_providers.iter().find(|p| p.name == name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ext_authz_request_body_is_typed() {
        let m = MeshConfig::from_yaml(
            "extensionProviders:\n- name: a\n  envoyExtAuthzHttp:\n    service: foo/authz.foo.svc.cluster.local\n    port: 9000\n    includeRequestBodyInCheck: {maxRequestBytes: 2048, allowPartialMessage: true, packAsBytes: true}\n- name: b\n  envoyExtAuthzGrpc:\n    service: authz.foo.svc.cluster.local\n    port: 9000\n",
        )
        .unwrap();
        let http = m
            .extension_provider("a")
            .unwrap()
            .envoy_ext_authz_http
            .as_ref()
            .unwrap();
        assert_eq!(
            http.include_request_body_in_check,
            Some(ExtAuthzRequestBody {
                max_request_bytes: 2048,
                allow_partial_message: true,
                pack_as_bytes: true
            })
        );
        let grpc = m
            .extension_provider("b")
            .unwrap()
            .envoy_ext_authz_grpc
            .as_ref()
            .unwrap();
        assert_eq!(grpc.include_request_body_in_check, None);
    }
}
