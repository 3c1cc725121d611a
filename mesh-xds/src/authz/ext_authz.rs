//! CUSTOM action providers (AZ-7): MeshConfig `extensionProviders` of kind
//! `envoyExtAuthzHttp` / `envoyExtAuthzGrpc` as Envoy ext_authz filter
//! configs, checked the way istiod checks them (a provider with any error
//! is unusable, and the CUSTOM policies naming it fail closed).

use super::ServiceRegistry;
use super::matcher as m;
use envoy_types::pb::envoy::config::core::v3::{
    ApiVersion, GrpcService, HeaderValue, HttpUri, grpc_service, http_uri,
};
use envoy_types::pb::envoy::extensions::filters::http::ext_authz::v3 as http;
use envoy_types::pb::envoy::extensions::filters::network::ext_authz::v3 as network;
use envoy_types::pb::envoy::r#type::matcher::v3::{ListStringMatcher, MetadataMatcher};
use envoy_types::pb::envoy::r#type::v3::{HttpStatus, StatusCode};
use envoy_types::pb::google::protobuf::Duration;
use mesh_model::wire::mesh::{ExtAuthzGrpc, ExtAuthzHttp, ExtAuthzRequestBody, MeshConfig};
use std::collections::BTreeMap;

/// The prefix of every CUSTOM policy name, and of the metadata value that
/// turns the ext_authz filter on.
pub(crate) const MATCH_PREFIX: &str = "istio-ext-authz";
/// The shadow-rules stat prefix of CUSTOM RBAC filters.
pub(crate) const SHADOW_STAT_PREFIX: &str = "istio_ext_authz_";
/// Where Envoy's RBAC filter writes the id of the matched shadow policy.
const SHADOW_EFFECTIVE_POLICY_ID: &str = "shadow_effective_policy_id";
/// Timeout when the provider sets none.
const DEFAULT_TIMEOUT_SECONDS: i64 = 600;

/// One provider, built: its HTTP filter config, and its network filter
/// config when it has one (gRPC providers only).
#[derive(Debug, Clone)]
pub(crate) struct BuiltExtAuthz {
    pub http: http::ExtAuthz,
    pub tcp: Option<network::ExtAuthz>,
}

/// A provider, or why it is unusable.
pub(crate) type Resolved = BTreeMap<String, Result<BuiltExtAuthz, Vec<String>>>;

/// Every ext_authz provider of the MeshConfig, by name. Providers of other
/// kinds (tracing, logging) are not listed.
pub(crate) fn resolve_providers(mesh: &MeshConfig, registry: &dyn ServiceRegistry) -> Resolved {
    let mut resolved: Resolved = BTreeMap::new();
    for (i, p) in mesh.extension_providers.iter().enumerate() {
        let mut errors = Vec::new();
        if p.name.is_empty() {
            errors.push(format!(
                "extension provider name must not be empty, found empty at index: {i}"
            ));
        } else if resolved.contains_key(&p.name) {
            errors.push(format!(
                "extension provider name must be unique, found duplicate: {}",
                p.name
            ));
        }
        if !p.name.is_empty()
            && let Err(e) = validate_provider_name(&p.name)
        {
            errors.push(format!("invalid provider name {:?}: {e}", p.name));
        }
        let built = if let Some(h) = &p.envoy_ext_authz_http {
            build_http(h, registry)
        } else if let Some(g) = &p.envoy_ext_authz_grpc {
            build_grpc(g, registry)
        } else {
            continue;
        };
        let parsed = match built {
            Ok(b) if errors.is_empty() => Ok(b),
            Ok(_) => Err(errors),
            Err(errs) => {
                errors.extend(
                    errs.into_iter()
                        .map(|e| format!("failed to parse extension provider {:?}: {e}", p.name)),
                );
                Err(errors)
            }
        };
        resolved.insert(p.name.clone(), parsed);
    }
    resolved
}

/// The provider named `name`, usable, or why not.
pub(crate) fn provider<'a>(
    resolved: &'a Resolved,
    name: &str,
) -> Result<&'a BuiltExtAuthz, String> {
    match resolved.get(name) {
        None => Err(format!(
            "available providers are {:?} but found {name:?}",
            resolved.keys().collect::<Vec<_>>()
        )),
        Some(Err(errors)) => Err(format!(
            "found errors in provider {name}: {}",
            errors.join("; ")
        )),
        Some(Ok(p)) => Ok(p),
    }
}

/// Provider names are used in policy names, metadata and metrics: a
/// DNS-1123 label.
fn validate_provider_name(name: &str) -> Result<(), String> {
    if name.len() > 63 {
        return Err(format!(
            "provider name too long (max 63 characters): {}",
            name.len()
        ));
    }
    for (i, c) in name.chars().enumerate() {
        if c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' {
            continue;
        }
        if c.is_ascii_uppercase() {
            return Err(format!(
                "uppercase letters not allowed (use lowercase): character {c:?} at position {i}"
            ));
        }
        return Err(format!(
            "invalid character {c:?} at position {i} (only lowercase letters, digits, and hyphens allowed)"
        ));
    }
    if name.starts_with('-') || name.ends_with('-') {
        return Err("provider name cannot start or end with hyphen".into());
    }
    Ok(())
}

fn parse_port(port: u32) -> Result<u16, String> {
    u16::try_from(port)
        .ok()
        .filter(|p| *p != 0)
        .ok_or_else(|| format!("port must be in the range [1, 65535], found: {port}"))
}

/// `statusOnError`: an HTTP status Envoy knows (`envoy.type.v3.StatusCode`).
fn parse_status(status: Option<&str>) -> Result<Option<HttpStatus>, String> {
    let Some(s) = status.filter(|s| !s.is_empty()) else {
        return Ok(None);
    };
    let code: i32 = s
        .parse()
        .map_err(|e| format!("invalid statusOnError {s:?}: {e}"))?;
    StatusCode::try_from(code)
        .map(|_| Some(HttpStatus { code }))
        .map_err(|_| format!("unsupported statusOnError {s}"))
}

fn parse_timeout(t: Option<&str>) -> Result<Duration, String> {
    let Some(t) = t else {
        return Ok(Duration {
            seconds: DEFAULT_TIMEOUT_SECONDS,
            nanos: 0,
        });
    };
    let d = mesh_model::duration::parse_duration(t).map_err(|e| e.to_string())?;
    Ok(Duration {
        seconds: i64::try_from(d.as_secs()).map_err(|_| format!("timeout {t:?} is too long"))?,
        nanos: i32::try_from(d.subsec_nanos()).expect("sub-second nanos fit in i32"),
    })
}

/// `service` is `host` or `namespace/host`; the host must be a service of
/// the registry, and without a namespace it must be in one namespace only.
/// Returns the hostname and the cluster `outbound|<port>||<hostname>`.
fn lookup_cluster(
    registry: &dyn ServiceRegistry,
    service: &str,
    port: u16,
) -> Result<(String, String), String> {
    if service.is_empty() {
        return Err("service must not be empty".into());
    }
    let parts: Vec<&str> = service.split('/').collect();
    let found = if let [ns, host] = parts.as_slice() {
        registry
            .service_namespaces(host)
            .contains(&(*ns).to_string())
            .then(|| (*host).to_string())
    } else {
        let namespaces = registry.service_namespaces(service);
        match namespaces.len() {
            1 => Some(service.to_string()),
            0 => None,
            _ => {
                return Err(format!(
                    "found {service} in multiple namespaces {namespaces:?}, specify the namespace explicitly in the format of <Namespace>/<Hostname>"
                ));
            }
        }
    };
    let host = found
        .ok_or_else(|| format!("could not find service {service} in Istio service registry"))?;
    let cluster = format!("outbound|{port}||{host}");
    Ok((host, cluster))
}

/// Istio's webhook form of `service`: `host` or `namespace/host`.
fn validate_service(service: &str) -> Result<(), String> {
    if service.is_empty() {
        return Err("service must not be empty".into());
    }
    let parts: Vec<&str> = service.split('/').collect();
    let ok = match parts.as_slice() {
        [host] => !host.is_empty(),
        [ns, host] => !ns.is_empty() && !host.is_empty(),
        _ => false,
    };
    if ok {
        Ok(())
    } else {
        Err(format!("invalid service fmt {service}"))
    }
}

fn body(b: Option<&ExtAuthzRequestBody>) -> Option<http::BufferSettings> {
    b.map(|b| http::BufferSettings {
        max_request_bytes: b.max_request_bytes,
        allow_partial_message: b.allow_partial_message,
        pack_as_bytes: b.pack_as_bytes,
    })
}

/// Header names: `x*` → prefix, `*x` → suffix, otherwise exact; always
/// case-insensitive. `None` for no names.
fn headers(names: &[String]) -> Option<ListStringMatcher> {
    if names.is_empty() {
        return None;
    }
    let patterns = names
        .iter()
        .map(|h| {
            if let Some(rest) = h.strip_prefix('*') {
                m::suffix(rest, true)
            } else if let Some(rest) = h.strip_suffix('*') {
                m::prefix(rest, true)
            } else {
                m::exact(h, true)
            }
        })
        .collect();
    Some(ListStringMatcher { patterns })
}

fn build_http(
    c: &ExtAuthzHttp,
    registry: &dyn ServiceRegistry,
) -> Result<BuiltExtAuthz, Vec<String>> {
    let ExtAuthzHttp {
        service,
        port,
        timeout,
        path_prefix,
        fail_open,
        clear_route_cache: _,
        status_on_error,
        include_request_headers_in_check,
        include_headers_in_check,
        include_additional_headers_in_check,
        headers_to_upstream_on_allow,
        headers_to_downstream_on_allow,
        headers_to_downstream_on_deny,
        include_request_body_in_check,
    } = c;
    let mut errs = Vec::new();
    let port = parse_port(*port).map_err(|e| errs.push(e)).ok();
    if let Err(e) = validate_service(service) {
        errs.push(e);
    }
    let status = parse_status(status_on_error.as_deref())
        .map_err(|e| errs.push(e))
        .ok()
        .flatten();
    let path_prefix = path_prefix.clone().unwrap_or_default();
    if !path_prefix.is_empty() && !path_prefix.starts_with('/') {
        errs.push(format!(
            "pathPrefix must begin with `/`, found: {path_prefix:?}"
        ));
    }
    let timeout = parse_timeout(timeout.as_deref())
        .map_err(|e| errs.push(e))
        .ok();
    let cluster = port.and_then(|p| {
        lookup_cluster(registry, service, p)
            .map_err(|e| errs.push(e))
            .ok()
    });
    for (field, values) in [
        (
            "IncludeRequestHeadersInCheck",
            include_request_headers_in_check,
        ),
        ("IncludeHeadersInCheck", include_headers_in_check),
        ("HeadersToDownstreamOnDeny", headers_to_downstream_on_deny),
        ("HeadersToDownstreamOnAllow", headers_to_downstream_on_allow),
        ("HeadersToUpstreamOnAllow", headers_to_upstream_on_allow),
    ] {
        if values.iter().any(|v| v == "*") {
            errs.push(format!("a single wildcard (\"*\") is not supported, change it to either prefix or suffix match: {field}"));
        }
    }
    let (Some((hostname, cluster)), Some(timeout), true) = (cluster, timeout, errs.is_empty())
    else {
        return Err(errs);
    };

    let mut service = http::HttpService {
        path_prefix,
        server_uri: Some(HttpUri {
            // Required by Envoy, though the filter only uses the cluster.
            uri: format!("http://{hostname}"),
            timeout: Some(timeout),
            http_upstream_type: Some(http_uri::HttpUpstreamType::Cluster(cluster)),
        }),
        ..Default::default()
    };
    // The deprecated field counts only when the newer one is not set.
    let allowed_headers =
        headers(include_request_headers_in_check).or_else(|| headers(include_headers_in_check));
    let headers_to_add: Vec<HeaderValue> = include_additional_headers_in_check
        .iter()
        .map(|(k, v)| HeaderValue {
            key: k.clone(),
            value: v.clone(),
            ..Default::default()
        })
        .collect();
    if !headers_to_add.is_empty() {
        service.authorization_request = Some(http::AuthorizationRequest {
            headers_to_add,
            ..Default::default()
        });
    }
    if !headers_to_upstream_on_allow.is_empty()
        || !headers_to_downstream_on_deny.is_empty()
        || !headers_to_downstream_on_allow.is_empty()
    {
        service.authorization_response = Some(http::AuthorizationResponse {
            allowed_upstream_headers: headers(headers_to_upstream_on_allow),
            allowed_client_headers: headers(headers_to_downstream_on_deny),
            allowed_client_headers_on_success: headers(headers_to_downstream_on_allow),
            ..Default::default()
        });
    }
    let http = http::ExtAuthz {
        status_on_error: status,
        failure_mode_allow: *fail_open,
        transport_api_version: ApiVersion::V3 as i32,
        services: Some(http::ext_authz::Services::HttpService(service)),
        with_request_body: body(include_request_body_in_check.as_ref()),
        allowed_headers,
        ..Default::default()
    };
    Ok(BuiltExtAuthz { http, tcp: None })
}

fn build_grpc(
    c: &ExtAuthzGrpc,
    registry: &dyn ServiceRegistry,
) -> Result<BuiltExtAuthz, Vec<String>> {
    let ExtAuthzGrpc {
        service,
        port,
        timeout,
        fail_open,
        clear_route_cache: _,
        status_on_error,
        include_request_body_in_check,
    } = c;
    let mut errs = Vec::new();
    let port = parse_port(*port)
        .map_err(|e| errs.push(format!("invalid service port: {e}")))
        .ok();
    if let Err(e) = validate_service(service) {
        errs.push(e);
    }
    let status = parse_status(status_on_error.as_deref())
        .map_err(|e| errs.push(e))
        .ok()
        .flatten();
    let timeout = parse_timeout(timeout.as_deref())
        .map_err(|e| errs.push(e))
        .ok();
    let cluster = port.and_then(|p| {
        lookup_cluster(registry, service, p)
            .map_err(|e| errs.push(e))
            .ok()
    });
    let (Some((hostname, cluster)), Some(timeout), true) = (cluster, timeout, errs.is_empty())
    else {
        return Err(errs);
    };
    let grpc = GrpcService {
        target_specifier: Some(grpc_service::TargetSpecifier::EnvoyGrpc(
            grpc_service::EnvoyGrpc {
                cluster_name: cluster,
                authority: hostname,
                ..Default::default()
            },
        )),
        timeout: Some(timeout),
        ..Default::default()
    };
    let http = http::ExtAuthz {
        status_on_error: status,
        failure_mode_allow: *fail_open,
        services: Some(http::ext_authz::Services::GrpcService(grpc.clone())),
        transport_api_version: ApiVersion::V3 as i32,
        with_request_body: body(include_request_body_in_check.as_ref()),
        ..Default::default()
    };
    let tcp = network::ExtAuthz {
        stat_prefix: "tcp.".into(),
        failure_mode_allow: *fail_open,
        transport_api_version: ApiVersion::V3 as i32,
        grpc_service: Some(grpc),
        ..Default::default()
    };
    Ok(BuiltExtAuthz {
        http,
        tcp: Some(tcp),
    })
}

/// Turns the ext_authz filter on only for requests that matched a shadow
/// policy of `provider` in the RBAC filter named `rbac_filter`.
pub(crate) fn filter_enabled_metadata(rbac_filter: &str, provider: &str) -> MetadataMatcher {
    m::metadata(
        rbac_filter,
        &[&format!("{SHADOW_STAT_PREFIX}{SHADOW_EFFECTIVE_POLICY_ID}")],
        m::value_string(m::prefix(&format!("{MATCH_PREFIX}-{provider}"), false)),
    )
}
