//! The reviewed names of the generated wire types.
//!
//! The CRD schemas are anonymous nested objects; Istio's protobuf messages
//! have names. This table gives each schema path (`Kind`, then `.field`,
//! `[]` for list items and `{}` for map values) the Rust spelling of the
//! Istio message or enum it was generated from. Paths that are not listed
//! reuse a structurally identical type of the same module, or get a name
//! derived from their parent type and field. A name given to two paths whose
//! schemas differ is a generation error, so a schema change cannot silently
//! merge two types.

/// `(schema path, "module::Name")` for message (struct) types.
pub const STRUCTS: &[(&str, &str)] = &[
    // istio.type.v1beta1
    ("AuthorizationPolicy.selector", "types::WorkloadSelector"),
    (
        "AuthorizationPolicy.targetRef",
        "types::PolicyTargetReference",
    ),
    // networking: VirtualService
    ("VirtualService", "networking::VirtualService"),
    ("VirtualService.http[]", "networking::HttpRoute"),
    (
        "VirtualService.http[].match[]",
        "networking::HttpMatchRequest",
    ),
    (
        "VirtualService.http[].match[].uri",
        "networking::StringMatch",
    ),
    (
        "VirtualService.http[].route[]",
        "networking::HttpRouteDestination",
    ),
    (
        "VirtualService.http[].route[].destination",
        "networking::Destination",
    ),
    (
        "VirtualService.http[].route[].destination.port",
        "networking::PortSelector",
    ),
    ("VirtualService.http[].redirect", "networking::HttpRedirect"),
    ("VirtualService.http[].rewrite", "networking::HttpRewrite"),
    (
        "VirtualService.http[].rewrite.uriRegexRewrite",
        "networking::RegexRewrite",
    ),
    ("VirtualService.http[].retries", "networking::HttpRetry"),
    (
        "VirtualService.http[].fault",
        "networking::HttpFaultInjection",
    ),
    ("VirtualService.http[].fault.delay", "networking::Delay"),
    ("VirtualService.http[].fault.abort", "networking::Abort"),
    (
        "VirtualService.http[].fault.abort.percentage",
        "networking::Percent",
    ),
    ("VirtualService.http[].corsPolicy", "networking::CorsPolicy"),
    ("VirtualService.http[].headers", "networking::Headers"),
    (
        "VirtualService.http[].headers.request",
        "networking::HeaderOperations",
    ),
    (
        "VirtualService.http[].mirrors[]",
        "networking::HttpMirrorPolicy",
    ),
    (
        "VirtualService.http[].directResponse",
        "networking::HttpDirectResponse",
    ),
    (
        "VirtualService.http[].directResponse.body",
        "networking::HttpBody",
    ),
    ("VirtualService.http[].delegate", "networking::Delegate"),
    ("VirtualService.tcp[]", "networking::TcpRoute"),
    (
        "VirtualService.tcp[].match[]",
        "networking::L4MatchAttributes",
    ),
    (
        "VirtualService.tcp[].route[]",
        "networking::RouteDestination",
    ),
    ("VirtualService.tls[]", "networking::TlsRoute"),
    (
        "VirtualService.tls[].match[]",
        "networking::TlsMatchAttributes",
    ),
    // networking: DestinationRule
    ("DestinationRule", "networking::DestinationRule"),
    (
        "DestinationRule.workloadSelector",
        "types::WorkloadSelector",
    ),
    ("DestinationRule.subsets[]", "networking::Subset"),
    ("DestinationRule.trafficPolicy", "networking::TrafficPolicy"),
    (
        "DestinationRule.trafficPolicy.portLevelSettings[]",
        "networking::PortTrafficPolicy",
    ),
    (
        "DestinationRule.trafficPolicy.connectionPool",
        "networking::ConnectionPoolSettings",
    ),
    (
        "DestinationRule.trafficPolicy.connectionPool.http",
        "networking::HttpSettings",
    ),
    (
        "DestinationRule.trafficPolicy.connectionPool.http.http2KeepAlive",
        "networking::Http2KeepAlive",
    ),
    (
        "DestinationRule.trafficPolicy.connectionPool.tcp",
        "networking::TcpSettings",
    ),
    (
        "DestinationRule.trafficPolicy.connectionPool.tcp.tcpKeepalive",
        "networking::TcpKeepalive",
    ),
    (
        "DestinationRule.trafficPolicy.loadBalancer",
        "networking::LoadBalancerSettings",
    ),
    (
        "DestinationRule.trafficPolicy.loadBalancer.backendUtilization",
        "networking::BackendUtilizationConfig",
    ),
    (
        "DestinationRule.trafficPolicy.loadBalancer.consistentHash",
        "networking::ConsistentHashLb",
    ),
    (
        "DestinationRule.trafficPolicy.loadBalancer.consistentHash.httpCookie",
        "networking::HttpCookie",
    ),
    (
        "DestinationRule.trafficPolicy.loadBalancer.consistentHash.httpCookie.attributes[]",
        "networking::HttpCookieAttribute",
    ),
    (
        "DestinationRule.trafficPolicy.loadBalancer.consistentHash.maglev",
        "networking::MagLev",
    ),
    (
        "DestinationRule.trafficPolicy.loadBalancer.consistentHash.ringHash",
        "networking::RingHash",
    ),
    (
        "DestinationRule.trafficPolicy.loadBalancer.localityLbSetting",
        "networking::LocalityLoadBalancerSetting",
    ),
    (
        "DestinationRule.trafficPolicy.loadBalancer.localityLbSetting.distribute[]",
        "networking::LocalityDistribute",
    ),
    (
        "DestinationRule.trafficPolicy.loadBalancer.localityLbSetting.failover[]",
        "networking::LocalityFailover",
    ),
    (
        "DestinationRule.trafficPolicy.loadBalancer.zoneAwareLbSetting",
        "networking::ZoneAwareLoadBalancerSetting",
    ),
    (
        "DestinationRule.trafficPolicy.loadBalancer.warmup",
        "networking::WarmupConfiguration",
    ),
    (
        "DestinationRule.trafficPolicy.outlierDetection",
        "networking::OutlierDetection",
    ),
    (
        "DestinationRule.trafficPolicy.tls",
        "networking::ClientTlsSettings",
    ),
    (
        "DestinationRule.trafficPolicy.proxyProtocol",
        "networking::ProxyProtocol",
    ),
    (
        "DestinationRule.trafficPolicy.retryBudget",
        "networking::RetryBudget",
    ),
    (
        "DestinationRule.trafficPolicy.tunnel",
        "networking::TunnelSettings",
    ),
    // networking: Gateway
    ("Gateway", "networking::Gateway"),
    ("Gateway.servers[]", "networking::Server"),
    ("Gateway.servers[].port", "networking::Port"),
    ("Gateway.servers[].tls", "networking::ServerTlsSettings"),
    (
        "Gateway.servers[].tls.tlsCertificates[]",
        "networking::TlsCertificate",
    ),
    // networking: ServiceEntry, WorkloadEntry, WorkloadGroup
    ("ServiceEntry", "networking::ServiceEntry"),
    ("ServiceEntry.endpoints[]", "networking::WorkloadEntry"),
    ("ServiceEntry.ports[]", "networking::ServicePort"),
    (
        "ServiceEntry.workloadSelector",
        "networking::WorkloadSelector",
    ),
    ("WorkloadEntry", "networking::WorkloadEntry"),
    ("WorkloadGroup", "networking::WorkloadGroup"),
    (
        "WorkloadGroup.metadata",
        "networking::WorkloadGroupObjectMeta",
    ),
    (
        "WorkloadGroup.template",
        "networking::WorkloadEntryTemplate",
    ),
    ("WorkloadGroup.probe", "networking::ReadinessProbe"),
    (
        "WorkloadGroup.probe.exec",
        "networking::ExecHealthCheckConfig",
    ),
    (
        "WorkloadGroup.probe.grpc",
        "networking::GrpcHealthCheckConfig",
    ),
    (
        "WorkloadGroup.probe.httpGet",
        "networking::HttpHealthCheckConfig",
    ),
    (
        "WorkloadGroup.probe.httpGet.httpHeaders[]",
        "networking::HttpHeader",
    ),
    (
        "WorkloadGroup.probe.tcpSocket",
        "networking::TcpHealthCheckConfig",
    ),
    // networking: Sidecar
    ("Sidecar", "networking::Sidecar"),
    ("Sidecar.egress[]", "networking::IstioEgressListener"),
    ("Sidecar.egress[].port", "networking::SidecarPort"),
    ("Sidecar.ingress[]", "networking::IstioIngressListener"),
    (
        "Sidecar.outboundTrafficPolicy",
        "networking::OutboundTrafficPolicy",
    ),
    // networking: EnvoyFilter
    ("EnvoyFilter", "networking::EnvoyFilter"),
    ("EnvoyFilter.targetRefs[]", "types::PolicyTargetReference"),
    (
        "EnvoyFilter.configPatches[]",
        "networking::EnvoyConfigObjectPatch",
    ),
    (
        "EnvoyFilter.configPatches[].match",
        "networking::EnvoyConfigObjectMatch",
    ),
    (
        "EnvoyFilter.configPatches[].match.cluster",
        "networking::ClusterMatch",
    ),
    (
        "EnvoyFilter.configPatches[].match.listener",
        "networking::ListenerMatch",
    ),
    (
        "EnvoyFilter.configPatches[].match.listener.filterChain",
        "networking::FilterChainMatch",
    ),
    (
        "EnvoyFilter.configPatches[].match.listener.filterChain.filter",
        "networking::FilterMatch",
    ),
    (
        "EnvoyFilter.configPatches[].match.listener.filterChain.filter.subFilter",
        "networking::SubFilterMatch",
    ),
    (
        "EnvoyFilter.configPatches[].match.proxy",
        "networking::ProxyMatch",
    ),
    (
        "EnvoyFilter.configPatches[].match.routeConfiguration",
        "networking::RouteConfigurationMatch",
    ),
    (
        "EnvoyFilter.configPatches[].match.routeConfiguration.vhost",
        "networking::VirtualHostMatch",
    ),
    (
        "EnvoyFilter.configPatches[].match.routeConfiguration.vhost.route",
        "networking::RouteMatch",
    ),
    (
        "EnvoyFilter.configPatches[].match.waypoint",
        "networking::WaypointMatch",
    ),
    (
        "EnvoyFilter.configPatches[].match.waypoint.route",
        "networking::WaypointRouteMatch",
    ),
    ("EnvoyFilter.configPatches[].patch", "networking::Patch"),
    // networking v1beta1: ProxyConfig
    ("ProxyConfig", "networking::ProxyConfig"),
    ("ProxyConfig.image", "networking::ProxyImage"),
    // security
    ("AuthorizationPolicy", "security::AuthorizationPolicy"),
    ("AuthorizationPolicy.rules[]", "security::Rule"),
    ("AuthorizationPolicy.rules[].from[]", "security::RuleFrom"),
    (
        "AuthorizationPolicy.rules[].from[].source",
        "security::Source",
    ),
    ("AuthorizationPolicy.rules[].to[]", "security::RuleTo"),
    (
        "AuthorizationPolicy.rules[].to[].operation",
        "security::Operation",
    ),
    ("AuthorizationPolicy.rules[].when[]", "security::Condition"),
    (
        "AuthorizationPolicy.provider",
        "security::ExtensionProvider",
    ),
    ("PeerAuthentication", "security::PeerAuthentication"),
    ("PeerAuthentication.mtls", "security::MutualTls"),
    ("RequestAuthentication", "security::RequestAuthentication"),
    ("RequestAuthentication.jwtRules[]", "security::JwtRule"),
    (
        "RequestAuthentication.jwtRules[].fromHeaders[]",
        "security::JwtHeader",
    ),
    (
        "RequestAuthentication.jwtRules[].outputClaimToHeaders[]",
        "security::ClaimToHeader",
    ),
    // telemetry
    ("Telemetry", "telemetry::Telemetry"),
    ("Telemetry.accessLogging[]", "telemetry::AccessLogging"),
    (
        "Telemetry.accessLogging[].filter",
        "telemetry::AccessLoggingFilter",
    ),
    ("Telemetry.accessLogging[].match", "telemetry::LogSelector"),
    (
        "Telemetry.accessLogging[].providers[]",
        "telemetry::ProviderRef",
    ),
    ("Telemetry.metrics[]", "telemetry::Metrics"),
    (
        "Telemetry.metrics[].overrides[]",
        "telemetry::MetricsOverrides",
    ),
    (
        "Telemetry.metrics[].overrides[].match",
        "telemetry::MetricSelector",
    ),
    (
        "Telemetry.metrics[].overrides[].tagOverrides{}",
        "telemetry::TagOverride",
    ),
    ("Telemetry.tracing[]", "telemetry::Tracing"),
    ("Telemetry.tracing[].match", "telemetry::LogSelector"),
    ("Telemetry.tracing[].customTags{}", "telemetry::CustomTag"),
    (
        "Telemetry.tracing[].customTags{}.environment",
        "telemetry::EnvironmentTag",
    ),
    (
        "Telemetry.tracing[].customTags{}.header",
        "telemetry::RequestHeaderTag",
    ),
    (
        "Telemetry.tracing[].customTags{}.formatter",
        "telemetry::FormatterTag",
    ),
    (
        "Telemetry.tracing[].customTags{}.literal",
        "telemetry::LiteralTag",
    ),
    // extensions
    ("WasmPlugin", "extensions::WasmPlugin"),
    ("WasmPlugin.match[]", "extensions::TrafficSelector"),
    ("WasmPlugin.match[].ports[]", "extensions::PortSelector"),
    ("WasmPlugin.vmConfig", "extensions::VmConfig"),
    ("WasmPlugin.vmConfig.env[]", "extensions::EnvVar"),
    ("TrafficExtension", "extensions::TrafficExtension"),
    ("TrafficExtension.lua", "extensions::LuaConfig"),
    ("TrafficExtension.wasm", "extensions::WasmConfig"),
];

/// `(schema path, "module::Name")` for enums.
pub const ENUMS: &[(&str, &str)] = &[
    (
        "VirtualService.http[].corsPolicy.unmatchedPreflights",
        "networking::UnmatchedPreflights",
    ),
    (
        "VirtualService.http[].redirect.derivePort",
        "networking::RedirectPortSelection",
    ),
    (
        "DestinationRule.trafficPolicy.connectionPool.http.h2UpgradePolicy",
        "networking::H2UpgradePolicy",
    ),
    (
        "DestinationRule.trafficPolicy.loadBalancer.simple",
        "networking::SimpleLb",
    ),
    (
        "DestinationRule.trafficPolicy.tls.mode",
        "networking::ClientTlsMode",
    ),
    (
        "DestinationRule.trafficPolicy.proxyProtocol.version",
        "networking::ProxyProtocolVersion",
    ),
    ("Gateway.servers[].tls.mode", "networking::ServerTlsMode"),
    (
        "Gateway.servers[].tls.minProtocolVersion",
        "networking::TlsProtocol",
    ),
    ("ServiceEntry.location", "networking::Location"),
    ("ServiceEntry.resolution", "networking::Resolution"),
    ("Sidecar.egress[].captureMode", "networking::CaptureMode"),
    (
        "Sidecar.outboundTrafficPolicy.mode",
        "networking::OutboundTrafficPolicyMode",
    ),
    ("EnvoyFilter.configPatches[].applyTo", "networking::ApplyTo"),
    (
        "EnvoyFilter.configPatches[].match.context",
        "networking::PatchContext",
    ),
    (
        "EnvoyFilter.configPatches[].match.routeConfiguration.vhost.route.action",
        "networking::RouteAction",
    ),
    (
        "EnvoyFilter.configPatches[].patch.operation",
        "networking::Operation",
    ),
    (
        "EnvoyFilter.configPatches[].patch.filterClass",
        "networking::FilterClass",
    ),
    ("AuthorizationPolicy.action", "security::Action"),
    ("PeerAuthentication.mtls.mode", "security::MtlsMode"),
    (
        "RequestAuthentication.jwtRules[].presence",
        "security::JwtPresence",
    ),
    (
        "Telemetry.accessLogging[].match.mode",
        "telemetry::WorkloadMode",
    ),
    (
        "Telemetry.metrics[].overrides[].match.metric",
        "telemetry::IstioMetric",
    ),
    (
        "Telemetry.metrics[].overrides[].tagOverrides{}.operation",
        "telemetry::TagOperation",
    ),
    ("WasmPlugin.match[].mode", "extensions::WorkloadMode"),
    ("WasmPlugin.phase", "extensions::PluginPhase"),
    ("WasmPlugin.failStrategy", "extensions::FailStrategy"),
    ("WasmPlugin.imagePullPolicy", "extensions::PullPolicy"),
    ("WasmPlugin.type", "extensions::PluginType"),
    (
        "WasmPlugin.vmConfig.env[].valueFrom",
        "extensions::EnvValueSource",
    ),
    ("TrafficExtension.phase", "extensions::ExtensionPhase"),
];

/// Rust variant spellings where the derived one would be unreadable.
pub const VARIANTS: &[(&str, &str)] = &[
    ("TLSV1_0", "TlsV1_0"),
    ("TLSV1_1", "TlsV1_1"),
    ("TLSV1_2", "TlsV1_2"),
    ("TLSV1_3", "TlsV1_3"),
    ("V1", "V1"),
    ("V2", "V2"),
];
