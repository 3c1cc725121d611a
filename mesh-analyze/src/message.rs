//! Analysis messages: Istio's message types (code, name, level) and ours,
//! and the located [`Message`] an analyzer reports.

use mesh_model::diag::FieldPath;
use serde::Serialize;
use std::fmt;

/// How serious a message is, as `istioctl analyze` grades it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub enum Level {
    /// The configuration is broken.
    Error,
    /// The configuration probably does not do what was meant.
    Warning,
    /// Worth knowing.
    Info,
}

impl Level {
    /// `Error`, `Warning` or `Info`, as istioctl prints it.
    pub const fn as_str(self) -> &'static str {
        match self {
            Level::Error => "Error",
            Level::Warning => "Warning",
            Level::Info => "Info",
        }
    }
}

impl fmt::Display for Level {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A kind of message: its stable code, its name and its level.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub struct MessageType {
    /// `IST0101` (Istio's codes) or `MESH001` (this crate's own checks).
    pub code: &'static str,
    /// `ReferencedResourceNotFound`.
    pub name: &'static str,
    /// The level.
    pub level: Level,
}

impl MessageType {
    /// Whether the code is one of Istio's (`IST…`).
    pub fn is_istio(&self) -> bool {
        self.code.starts_with("IST")
    }

    /// Istio's documentation page for the code (none for our own codes).
    pub fn documentation_url(&self) -> Option<String> {
        self.is_istio().then(|| {
            format!(
                "https://istio.io/latest/docs/reference/config/analysis/{}/",
                self.code.to_ascii_lowercase()
            )
        })
    }
}

macro_rules! message_types {
    ($($(#[$doc:meta])* $konst:ident = $code:literal $name:literal $level:ident;)*) => {
        /// Every message type, Istio's (from its `messages.yaml`) and ours.
        pub mod types {
            use super::{Level, MessageType};
            $(
                $(#[$doc])*
                pub const $konst: MessageType = MessageType { code: $code, name: $name, level: Level::$level };
            )*
            /// All of them, in code order as declared.
            pub const ALL: &[MessageType] = &[$($konst,)*];
        }
    };
}

message_types! {
    /// IST0001: a bug in the analysis.
    INTERNAL_ERROR = "IST0001" "InternalError" Error;
    /// IST0002: a deprecated feature is used.
    DEPRECATED = "IST0002" "Deprecated" Warning;
    /// IST0101: a referenced resource does not exist.
    REFERENCED_RESOURCE_NOT_FOUND = "IST0101" "ReferencedResourceNotFound" Error;
    /// IST0102: a namespace is not enabled for injection.
    NAMESPACE_NOT_INJECTED = "IST0102" "NamespaceNotInjected" Info;
    /// IST0103: a pod lacks the Istio proxy.
    POD_MISSING_PROXY = "IST0103" "PodMissingProxy" Warning;
    /// IST0106: the webhook rejects the resource.
    SCHEMA_VALIDATION_ERROR = "IST0106" "SchemaValidationError" Error;
    /// IST0107: an Istio annotation on the wrong kind.
    MISPLACED_ANNOTATION = "IST0107" "MisplacedAnnotation" Warning;
    /// IST0108: an unknown Istio annotation.
    UNKNOWN_ANNOTATION = "IST0108" "UnknownAnnotation" Warning;
    /// IST0109: mesh-bound VirtualServices share a host.
    CONFLICTING_MESH_GATEWAY_VIRTUAL_SERVICE_HOSTS = "IST0109" "ConflictingMeshGatewayVirtualServiceHosts" Error;
    /// IST0110: Sidecars select the same pod.
    CONFLICTING_SIDECAR_WORKLOAD_SELECTORS = "IST0110" "ConflictingSidecarWorkloadSelectors" Error;
    /// IST0111: several selector-less Sidecars in a namespace.
    MULTIPLE_SIDECARS_WITHOUT_WORKLOAD_SELECTORS = "IST0111" "MultipleSidecarsWithoutWorkloadSelectors" Error;
    /// IST0112: a destination needs a port.
    VIRTUAL_SERVICE_DESTINATION_PORT_SELECTOR_REQUIRED = "IST0112" "VirtualServiceDestinationPortSelectorRequired" Error;
    /// IST0116: a deployment behind services with clashing protocols.
    DEPLOYMENT_ASSOCIATED_TO_MULTIPLE_SERVICES = "IST0116" "DeploymentAssociatedToMultipleServices" Warning;
    /// IST0118: a port name outside the naming convention.
    PORT_NAME_IS_NOT_UNDER_NAMING_CONVENTION = "IST0118" "PortNameIsNotUnderNamingConvention" Info;
    /// IST0123: several injection labels on a namespace.
    NAMESPACE_MULTIPLE_INJECTION_LABELS = "IST0123" "NamespaceMultipleInjectionLabels" Warning;
    /// IST0125: an invalid annotation value.
    INVALID_ANNOTATION = "IST0125" "InvalidAnnotation" Warning;
    /// IST0126: an unknown service registry in MeshNetworks.
    UNKNOWN_MESH_NETWORKS_SERVICE_REGISTRY = "IST0126" "UnknownMeshNetworksServiceRegistry" Error;
    /// IST0127: a selector matches no workload.
    NO_MATCHING_WORKLOADS_FOUND = "IST0127" "NoMatchingWorkloadsFound" Warning;
    /// IST0128: client TLS without CA certificates.
    NO_SERVER_CERTIFICATE_VERIFICATION_DESTINATION_LEVEL = "IST0128" "NoServerCertificateVerificationDestinationLevel" Warning;
    /// IST0129: port-level client TLS without CA certificates.
    NO_SERVER_CERTIFICATE_VERIFICATION_PORT_LEVEL = "IST0129" "NoServerCertificateVerificationPortLevel" Warning;
    /// IST0130: a VirtualService rule is never used.
    VIRTUAL_SERVICE_UNREACHABLE_RULE = "IST0130" "VirtualServiceUnreachableRule" Warning;
    /// IST0131: a VirtualService match duplicates an earlier one.
    VIRTUAL_SERVICE_INEFFECTIVE_MATCH = "IST0131" "VirtualServiceIneffectiveMatch" Info;
    /// IST0132: a VirtualService host not in its Gateway.
    VIRTUAL_SERVICE_HOST_NOT_FOUND_IN_GATEWAY = "IST0132" "VirtualServiceHostNotFoundInGateway" Warning;
    /// IST0133: the webhook warns about the resource.
    SCHEMA_WARNING = "IST0133" "SchemaWarning" Warning;
    /// IST0134: a TCP ServiceEntry without addresses.
    SERVICE_ENTRY_ADDRESSES_REQUIRED = "IST0134" "ServiceEntryAddressesRequired" Warning;
    /// IST0135: a deprecated annotation.
    DEPRECATED_ANNOTATION = "IST0135" "DeprecatedAnnotation" Info;
    /// IST0136: an alpha annotation.
    ALPHA_ANNOTATION = "IST0136" "AlphaAnnotation" Info;
    /// IST0137: services map one targetPort to different ports.
    DEPLOYMENT_CONFLICTING_PORTS = "IST0137" "DeploymentConflictingPorts" Warning;
    /// IST0138: gateways share a certificate.
    GATEWAY_DUPLICATE_CERTIFICATE = "IST0138" "GatewayDuplicateCertificate" Warning;
    /// IST0139: an invalid webhook.
    INVALID_WEBHOOK = "IST0139" "InvalidWebhook" Error;
    /// IST0140: a subset route has no effect on ingress.
    INGRESS_ROUTE_RULES_NOT_AFFECTED = "IST0140" "IngressRouteRulesNotAffected" Warning;
    /// IST0141: missing install permissions.
    INSUFFICIENT_PERMISSIONS = "IST0141" "InsufficientPermissions" Error;
    /// IST0142: an unsupported Kubernetes version.
    UNSUPPORTED_KUBERNETES_VERSION = "IST0142" "UnsupportedKubernetesVersion" Error;
    /// IST0143: a service port bound to localhost.
    LOCALHOST_LISTENER = "IST0143" "LocalhostListener" Error;
    /// IST0144: an application runs as UID 1337.
    INVALID_APPLICATION_UID = "IST0144" "InvalidApplicationUID" Warning;
    /// IST0145: gateways with the same selector, port and hosts.
    CONFLICTING_GATEWAYS = "IST0145" "ConflictingGateways" Error;
    /// IST0146: a deployment with `image: auto` that is not injected.
    IMAGE_AUTO_WITHOUT_INJECTION_WARNING = "IST0146" "ImageAutoWithoutInjectionWarning" Warning;
    /// IST0147: a pod with `image: auto` that is not injected.
    IMAGE_AUTO_WITHOUT_INJECTION_ERROR = "IST0147" "ImageAutoWithoutInjectionError" Error;
    /// IST0148: a namespace injected by default.
    NAMESPACE_INJECTION_ENABLED_BY_DEFAULT = "IST0148" "NamespaceInjectionEnabledByDefault" Info;
    /// IST0149: JWT claim routing without a RequestAuthentication.
    JWT_CLAIM_BASED_ROUTING_WITHOUT_REQUEST_AUTHN = "IST0149" "JwtClaimBasedRoutingWithoutRequestAuthN" Error;
    /// IST0150: an ExternalName service port named `tcp`.
    EXTERNAL_NAME_SERVICE_TYPE_INVALID_PORT_NAME = "IST0150" "ExternalNameServiceTypeInvalidPortName" Warning;
    /// IST0151: a relative EnvoyFilter patch without priority.
    ENVOY_FILTER_USES_RELATIVE_OPERATION = "IST0151" "EnvoyFilterUsesRelativeOperation" Warning;
    /// IST0152: REPLACE on the wrong `applyTo`.
    ENVOY_FILTER_USES_REPLACE_OPERATION_INCORRECTLY = "IST0152" "EnvoyFilterUsesReplaceOperationIncorrectly" Error;
    /// IST0153: ADD on the wrong `applyTo`.
    ENVOY_FILTER_USES_ADD_OPERATION_INCORRECTLY = "IST0153" "EnvoyFilterUsesAddOperationIncorrectly" Error;
    /// IST0154: REMOVE on the wrong `applyTo`.
    ENVOY_FILTER_USES_REMOVE_OPERATION_INCORRECTLY = "IST0154" "EnvoyFilterUsesRemoveOperationIncorrectly" Error;
    /// IST0155: a relative patch with `proxyVersion` and no priority.
    ENVOY_FILTER_USES_RELATIVE_OPERATION_WITH_PROXY_VERSION = "IST0155" "EnvoyFilterUsesRelativeOperationWithProxyVersion" Warning;
    /// IST0156: an unsupported Gateway API version.
    UNSUPPORTED_GATEWAY_API_VERSION = "IST0156" "UnsupportedGatewayAPIVersion" Error;
    /// IST0172: a Gateway API version soon unsupported.
    FUTURE_UNSUPPORTED_GATEWAY_API_VERSION = "IST0172" "FutureUnsupportedGatewayAPIVersion" Warning;
    /// IST0157: a Telemetry access log without providers.
    INVALID_TELEMETRY_PROVIDER = "IST0157" "InvalidTelemetryProvider" Warning;
    /// IST0158: proxy images differ from the injector's.
    PODS_ISTIO_PROXY_IMAGE_MISMATCH_IN_NAMESPACE = "IST0158" "PodsIstioProxyImageMismatchInNamespace" Warning;
    /// IST0159: Telemetries select the same pod.
    CONFLICTING_TELEMETRY_WORKLOAD_SELECTORS = "IST0159" "ConflictingTelemetryWorkloadSelectors" Error;
    /// IST0160: several selector-less Telemetries in a namespace.
    MULTIPLE_TELEMETRIES_WITHOUT_WORKLOAD_SELECTORS = "IST0160" "MultipleTelemetriesWithoutWorkloadSelectors" Error;
    /// IST0161: an invalid gateway credential.
    INVALID_GATEWAY_CREDENTIAL = "IST0161" "InvalidGatewayCredential" Error;
    /// IST0162: a gateway port its Service does not expose.
    GATEWAY_PORT_NOT_DEFINED_ON_SERVICE = "IST0162" "GatewayPortNotDefinedOnService" Warning;
    /// IST0163: an invalid external control plane address.
    INVALID_EXTERNAL_CONTROL_PLANE_CONFIG = "IST0163" "InvalidExternalControlPlaneConfig" Warning;
    /// IST0164: an external control plane addressed by IP.
    EXTERNAL_CONTROL_PLANE_ADDRESS_IS_NOT_A_HOSTNAME = "IST0164" "ExternalControlPlaneAddressIsNotAHostname" Info;
    /// IST0165: a VirtualService refers to an internal gateway.
    REFERENCED_INTERNAL_GATEWAY = "IST0165" "ReferencedInternalGateway" Warning;
    /// IST0166: a selector ignored on Kubernetes gateways.
    INEFFECTIVE_SELECTOR = "IST0166" "IneffectiveSelector" Warning;
    /// IST0167: a policy without effect.
    INEFFECTIVE_POLICY = "IST0167" "IneffectivePolicy" Warning;
    /// IST0168: upgrade compatibility unknown.
    UNKNOWN_UPGRADE_COMPATIBILITY = "IST0168" "UnknownUpgradeCompatibility" Warning;
    /// IST0169: incompatible after an upgrade.
    UPDATE_INCOMPATIBILITY = "IST0169" "UpdateIncompatibility" Warning;
    /// IST0170: a service differs between clusters.
    MULTI_CLUSTER_INCONSISTENT_SERVICE = "IST0170" "MultiClusterInconsistentService" Warning;
    /// IST0171: a negative status condition.
    NEGATIVE_CONDITION_STATUS = "IST0171" "NegativeConditionStatus" Warning;
    /// IST0173: a DestinationRule subset selects no pod.
    DESTINATION_RULE_SUBSET_NOT_SELECT_PODS = "IST0173" "DestinationRuleSubsetNotSelectPods" Error;
    /// IST0174: a DestinationRule host matches no service.
    UNKNOWN_DESTINATION_RULE_HOST = "IST0174" "UnknownDestinationRuleHost" Warning;
    /// IST0175: JWKS fetches are not restricted.
    JWKS_URI_FETCH_UNRESTRICTED = "IST0175" "JwksUriFetchUnrestricted" Warning;
    /// IST0176: a Gateway API CRD below the minimum version.
    GATEWAY_API_CRD_VERSION_BELOW_MINIMUM = "IST0176" "GatewayAPICRDVersionBelowMinimum" Warning;
    /// IST0177: ServiceEntries disagree on a port's protocol.
    CONFLICTING_SERVICE_ENTRY_PROTOCOL = "IST0177" "ConflictingServiceEntryProtocol" Warning;

    /// MESH001: an HTTP route that earlier routes of the same VirtualService
    /// always match first.
    SHADOWED_ROUTE = "MESH001" "ShadowedRoute" Warning;
    /// MESH002: an AuthorizationPolicy rule that needs a peer identity on
    /// workloads whose PeerAuthentication disables mTLS.
    AUTHZ_RULE_NEEDS_MTLS = "MESH002" "AuthorizationRuleNeedsMtls" Warning;
    /// MESH003: an AuthorizationPolicy rule with HTTP-only fields on a TCP
    /// port.
    AUTHZ_RULE_HTTP_ON_TCP = "MESH003" "AuthorizationRuleHttpOnTcp" Warning;
    /// MESH004: an AuthorizationPolicy whose selector selects no workload.
    AUTHZ_POLICY_SELECTS_NOTHING = "MESH004" "AuthorizationPolicySelectsNothing" Warning;
    /// MESH005: a PeerAuthentication that an older one silently overrides.
    SHADOWED_PEER_AUTHENTICATION = "MESH005" "ShadowedPeerAuthentication" Warning;
    /// MESH006: a DestinationRule subset no endpoint of its host carries.
    SUBSET_WITHOUT_ENDPOINTS = "MESH006" "SubsetWithoutEndpoints" Warning;
}

/// The resource a message is about.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub struct ResourceRef {
    /// The kind (`VirtualService`).
    pub kind: String,
    /// The namespace; empty for cluster-scoped resources and for resources
    /// written without one.
    pub namespace: String,
    /// The name.
    pub name: String,
    /// The cluster, for messages about several clusters' objects (empty
    /// otherwise).
    pub cluster: String,
}

impl fmt::Display for ResourceRef {
    /// istioctl's "friendly name": `Kind ns/name`, or `Kind name` without a
    /// namespace.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.namespace.is_empty() {
            write!(f, "{} {}", self.kind, self.name)
        } else {
            write!(f, "{} {}/{}", self.kind, self.namespace, self.name)
        }
    }
}

/// Where in the inputs a message points.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub struct Location {
    /// The input label (file).
    pub file: Option<String>,
    /// The 0-based document index in the file.
    pub document: Option<usize>,
    /// 1-based line of the field (or of the nearest enclosing field that is
    /// written), else of the document.
    pub line: Option<u32>,
    /// 1-based column.
    pub column: Option<u32>,
    /// The field path the message is about (`spec.gateways[0]`); empty for
    /// the resource as a whole.
    pub path: FieldPath,
}

/// One finding.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Message {
    /// Code, name and level.
    pub message_type: MessageType,
    /// The text, for people (Istio's wording for Istio's codes).
    pub text: String,
    /// The resource it is about, if any.
    pub resource: Option<ResourceRef>,
    /// Where.
    pub location: Location,
    /// The analyzer that reported it (`virtualservice.GatewayAnalyzer`).
    pub analyzer: &'static str,
}

impl Message {
    /// The level.
    pub fn level(&self) -> Level {
        self.message_type.level
    }

    /// The code (`IST0101`).
    pub fn code(&self) -> &'static str {
        self.message_type.code
    }

    /// istioctl's reference: `file:line` (or just the file).
    pub fn reference(&self) -> Option<String> {
        let file = self.location.file.as_ref()?;
        Some(match self.location.line {
            Some(l) => format!("{file}:{l}"),
            None => file.clone(),
        })
    }

    /// istioctl's JSON object for this message (`code`, `level`, `message`,
    /// `origin`, `reference`, `documentationUrl`), extended with the
    /// location (`file`, `document`, `line`, `column`, `path`) and the
    /// resource (`kind`, `namespace`, `name`), and the analyzer.
    pub fn to_json(&self) -> serde_json::Value {
        let r = self.resource.as_ref();
        let mut v = serde_json::json!({
            "code": self.message_type.code,
            "level": self.message_type.level.as_str(),
            "message": self.text,
            "origin": r.map(ToString::to_string),
            "reference": self.reference(),
            "documentationUrl": self.message_type.documentation_url(),
            "file": self.location.file,
            "document": self.location.document,
            "line": self.location.line,
            "column": self.location.column,
            "path": self.location.path.to_string(),
            "kind": r.map(|r| r.kind.clone()),
            "namespace": r.map(|r| r.namespace.clone()).filter(|n| !n.is_empty()),
            "name": r.map(|r| r.name.clone()),
            "analyzer": self.analyzer,
        });
        if let Some(c) = r.map(|r| &r.cluster).filter(|c| !c.is_empty())
            && let Some(o) = v.as_object_mut()
        {
            o.insert("cluster".into(), c.clone().into());
        }
        v
    }
}

impl fmt::Display for Message {
    /// istioctl's line: `Error [IST0101] (VirtualService ns/name file:line) text`
    /// (with `[cluster-c1]` before the resource for another cluster's
    /// object).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} [{}]",
            self.message_type.level, self.message_type.code
        )?;
        if let Some(r) = &self.resource {
            match self.reference() {
                Some(loc) => write!(f, " ({r} {loc})")?,
                None => write!(f, " ({r})")?,
            }
        }
        write!(f, " {}", self.text)
    }
}
