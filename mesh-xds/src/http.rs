//! HTTP connection managers and their filter chains as Istio orders them
//! (AZ-2): CUSTOM ext_authz, `jwt_authn`, RBAC, fault, CORS, router.

use crate::util::{ads, any, boolv, duration};
use envoy_types::pb::envoy::config::core::v3::DataSource;
use envoy_types::pb::envoy::config::listener::v3::{Filter, filter};
use envoy_types::pb::envoy::config::route::v3::RouteConfiguration;
use envoy_types::pb::envoy::config::route::v3::{RouteMatch, route_match::PathSpecifier};
use envoy_types::pb::envoy::extensions::filters::http::cors::v3::Cors;
use envoy_types::pb::envoy::extensions::filters::http::fault::v3::HttpFault;
use envoy_types::pb::envoy::extensions::filters::http::jwt_authn::v3::{
    JwtAuthentication, JwtClaimToHeader, JwtHeader, JwtProvider, JwtRequirement,
    JwtRequirementAndList, JwtRequirementOrList, RequirementRule,
    jwt_provider::JwksSourceSpecifier, jwt_requirement::RequiresType,
    requirement_rule::RequirementType,
};
use envoy_types::pb::envoy::extensions::filters::http::router::v3::Router;
use envoy_types::pb::envoy::extensions::filters::network::http_connection_manager::v3::{
    HttpConnectionManager, HttpFilter, Rds,
    http_connection_manager::{
        CodecType, ForwardClientCertDetails, RouteSpecifier, SetCurrentClientCertDetails,
        UpgradeConfig,
    },
    http_filter,
};
use mesh_model::wire::security::JwtRule;
use std::collections::BTreeMap;

/// `envoy.filters.http.router`.
pub fn router() -> HttpFilter {
    HttpFilter {
        name: "envoy.filters.http.router".into(),
        config_type: Some(http_filter::ConfigType::TypedConfig(
            any(&Router::default()),
        )),
        ..Default::default()
    }
}

/// `envoy.filters.http.fault` (routes configure it per route, VS-26).
pub fn fault() -> HttpFilter {
    HttpFilter {
        name: "envoy.filters.http.fault".into(),
        config_type: Some(http_filter::ConfigType::TypedConfig(any(
            &HttpFault::default(),
        ))),
        ..Default::default()
    }
}

/// `envoy.filters.http.cors` (routes configure it per route, VS-28).
pub fn cors() -> HttpFilter {
    HttpFilter {
        name: "envoy.filters.http.cors".into(),
        config_type: Some(http_filter::ConfigType::TypedConfig(any(&Cors::default()))),
        ..Default::default()
    }
}

/// Where an HTTP connection manager gets its routes.
#[derive(Debug, Clone)]
pub enum Routes {
    /// RDS over ADS, by name.
    Rds(String),
    /// Inline (inbound chains).
    Inline(Box<RouteConfiguration>),
}

/// Which side of the proxy the connection manager serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// Traffic from the local application to the mesh.
    Outbound,
    /// Traffic from the mesh to the local application.
    Inbound,
    /// A gateway.
    Gateway,
}

/// An `envoy.filters.network.http_connection_manager` filter.
pub fn connection_manager(
    stat_prefix: &str,
    routes: Routes,
    http_filters: Vec<HttpFilter>,
    direction: Direction,
) -> Filter {
    let mut hcm = HttpConnectionManager {
        codec_type: CodecType::Auto as i32,
        stat_prefix: stat_prefix.to_string(),
        http_filters,
        normalize_path: Some(boolv(true)),
        use_remote_address: Some(boolv(direction == Direction::Gateway)),
        upgrade_configs: vec![UpgradeConfig {
            upgrade_type: "websocket".into(),
            ..Default::default()
        }],
        stream_idle_timeout: Some(duration(std::time::Duration::ZERO)),
        route_specifier: Some(match routes {
            Routes::Rds(name) => RouteSpecifier::Rds(Rds {
                config_source: Some(ads()),
                route_config_name: name,
            }),
            Routes::Inline(rc) => RouteSpecifier::RouteConfig(*rc),
        }),
        ..Default::default()
    };
    if direction == Direction::Inbound {
        hcm.forward_client_cert_details = ForwardClientCertDetails::AppendForward as i32;
        hcm.set_current_client_cert_details = Some(SetCurrentClientCertDetails {
            subject: Some(boolv(true)),
            dns: true,
            uri: true,
            ..Default::default()
        });
    }
    Filter {
        name: "envoy.filters.network.http_connection_manager".into(),
        config_type: Some(filter::ConfigType::TypedConfig(any(&hcm))),
    }
}

/// A JSON access log written by every HTTP connection manager, as Istio's
/// `meshConfig.accessLogFile` with `accessLogEncoding: JSON` writes it:
/// Envoy's `envoy.access_loggers.file` with a JSON format dictionary.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessLog {
    /// The file (`/dev/stdout` writes to Envoy's standard output).
    pub path: String,
    /// The JSON object of each entry: field name → Envoy command operator
    /// (`%RESPONSE_CODE%`, `%DOWNSTREAM_PEER_URI_SAN%` …).
    pub json_format: BTreeMap<String, String>,
}

impl AccessLog {
    /// The `access_log` entry of a connection manager.
    pub fn to_proto(&self) -> envoy_types::pb::envoy::config::accesslog::v3::AccessLog {
        use envoy_types::pb::envoy::config::accesslog::v3::{AccessLog as Log, access_log};
        use envoy_types::pb::envoy::config::core::v3::{
            SubstitutionFormatString, substitution_format_string,
        };
        use envoy_types::pb::envoy::extensions::access_loggers::file::v3::{
            FileAccessLog, file_access_log,
        };
        use envoy_types::pb::google::protobuf::Struct;
        let json = Struct {
            fields: self
                .json_format
                .iter()
                .map(|(k, v)| (k.clone(), crate::util::string_value(v.clone())))
                .collect(),
        };
        let file = FileAccessLog {
            path: self.path.clone(),
            access_log_format: Some(file_access_log::AccessLogFormat::LogFormat(
                SubstitutionFormatString {
                    format: Some(substitution_format_string::Format::JsonFormat(json)),
                    ..Default::default()
                },
            )),
        };
        Log {
            name: "envoy.access_loggers.file".into(),
            config_type: Some(access_log::ConfigType::TypedConfig(any(&file))),
            ..Default::default()
        }
    }

    /// Adds this log to every HTTP connection manager of `listeners`.
    pub fn add_to(&self, listeners: &mut [envoy_types::pb::envoy::config::listener::v3::Listener]) {
        use prost::Message;
        let log = self.to_proto();
        for l in listeners {
            let chains = l
                .filter_chains
                .iter_mut()
                .chain(l.default_filter_chain.as_mut());
            for f in chains.flat_map(|c| c.filters.iter_mut()) {
                let Some(filter::ConfigType::TypedConfig(cfg)) = &mut f.config_type else {
                    continue;
                };
                if f.name != "envoy.filters.network.http_connection_manager" {
                    continue;
                }
                if let Ok(mut hcm) = HttpConnectionManager::decode(cfg.value.as_slice()) {
                    hcm.access_log.push(log.clone());
                    *cfg = any(&hcm);
                }
            }
        }
    }
}

/// A JWKS that no token verifies against (the public half of a key whose
/// private half was discarded): inlined when a `jwksUri` could not be
/// fetched, so that every token fails, as Istio does (RA-4, fail closed).
pub const FAIL_CLOSED_JWKS: &str = r#"{"keys":[{"kty":"RSA","e":"AQAB","n":"sMwBUUe-ujO9mbdOoqfkzFLAexK2I4XXAwxpyrD3MSYOZNCtpNR_qvzUmoUKjOwI4VJpCR8QTIEjtR4hkg4uLZ5QxYpG7Giv2A1RuQvZUZkwMA6_L3ZpJse_BMcEyNevdI2FGB3ZUSnq_0xDGPrUWvPL1gAl_PoS3DFoYe6idm16DHZul4Iw3b1TZJRqdv8WXYWebYdrSwNu3U3ytS3ZIkVoSJ_P1YW8U7vUHwkGTYRIdZ8-RD_5--8bxlh07DraJuDtZJOlQZdjFIHQECBTJFB6BKo8JVmCMVD3tMtVNaekLhvezmMjZdK-exkPPtpML_bdjnmlGXtfo5N06jrGiw"}]}"#;

/// The `envoy.filters.http.jwt_authn` filter for the JWT rules that apply
/// to a workload (RA-1..RA-6): rules sorted by issuer become providers
/// `origins-<i>`; a token is required to be valid when present (one
/// provider: valid or missing; several: any valid, or all valid-or-missing);
/// CORS preflights bypass. `jwks_for_uri` supplies JWKS fetched by the
/// caller for rules that name a `jwksUri`.
pub fn jwt_authn(
    rules: &[&JwtRule],
    jwks_for_uri: &dyn Fn(&str) -> Option<String>,
) -> Option<HttpFilter> {
    if rules.is_empty() {
        return None;
    }
    let mut sorted: Vec<&JwtRule> = rules.to_vec();
    sorted.sort_by(|a, b| a.issuer.cmp(&b.issuer));
    let mut providers = std::collections::HashMap::new();
    let mut names = Vec::new();
    for (i, r) in sorted.iter().enumerate() {
        let name = format!("origins-{i}");
        let jwks = match r.jwks.as_deref().filter(|j| !j.is_empty()) {
            Some(j) => j.to_string(),
            None => r
                .jwks_uri
                .as_deref()
                .or(r.legacy_jwks_uri.as_deref())
                .and_then(jwks_for_uri)
                .unwrap_or_else(|| FAIL_CLOSED_JWKS.to_string()),
        };
        let provider = JwtProvider {
            issuer: r.issuer.clone().unwrap_or_default(),
            audiences: r.audiences.clone().unwrap_or_default(),
            from_headers: r
                .from_headers
                .iter()
                .flatten()
                .map(|h| JwtHeader {
                    name: h.name.clone().unwrap_or_default(),
                    value_prefix: h.prefix.clone().unwrap_or_default(),
                })
                .collect(),
            from_params: r.from_params.clone().unwrap_or_default(),
            from_cookies: r.from_cookies.clone().unwrap_or_default(),
            forward: r.forward_original_token.unwrap_or(false),
            forward_payload_header: r.output_payload_to_header.clone().unwrap_or_default(),
            claim_to_headers: r
                .output_claim_to_headers
                .iter()
                .flatten()
                .map(|c| JwtClaimToHeader {
                    header_name: c.header.clone().unwrap_or_default(),
                    claim_name: c.claim.clone().unwrap_or_default(),
                    ..Default::default()
                })
                .collect(),
            payload_in_metadata: "payload".into(),
            jwks_source_specifier: Some(JwksSourceSpecifier::LocalJwks(DataSource {
                specifier: Some(
                    envoy_types::pb::envoy::config::core::v3::data_source::Specifier::InlineString(
                        jwks,
                    ),
                ),
                ..Default::default()
            })),
            ..Default::default()
        };
        providers.insert(name.clone(), provider);
        names.push(name);
    }
    let provider = |n: &str| JwtRequirement {
        requires_type: Some(RequiresType::ProviderName(n.to_string())),
    };
    let allow_missing = JwtRequirement {
        requires_type: Some(RequiresType::AllowMissing(Default::default())),
    };
    let requirement = if names.len() == 1 {
        JwtRequirement {
            requires_type: Some(RequiresType::RequiresAny(JwtRequirementOrList {
                requirements: vec![provider(&names[0]), allow_missing],
            })),
        }
    } else {
        let mut any_of: Vec<JwtRequirement> = names.iter().map(|n| provider(n)).collect();
        any_of.push(JwtRequirement {
            requires_type: Some(RequiresType::RequiresAll(JwtRequirementAndList {
                requirements: names
                    .iter()
                    .map(|n| JwtRequirement {
                        requires_type: Some(RequiresType::RequiresAny(JwtRequirementOrList {
                            requirements: vec![provider(n), allow_missing.clone()],
                        })),
                    })
                    .collect(),
            })),
        });
        JwtRequirement {
            requires_type: Some(RequiresType::RequiresAny(JwtRequirementOrList {
                requirements: any_of,
            })),
        }
    };
    let config = JwtAuthentication {
        providers,
        rules: vec![RequirementRule {
            r#match: Some(RouteMatch {
                path_specifier: Some(PathSpecifier::Prefix("/".into())),
                ..Default::default()
            }),
            requirement_type: Some(RequirementType::Requires(requirement)),
        }],
        bypass_cors_preflight: true,
        ..Default::default()
    };
    Some(HttpFilter {
        name: "envoy.filters.http.jwt_authn".into(),
        config_type: Some(http_filter::ConfigType::TypedConfig(any(&config))),
        ..Default::default()
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use envoy_types::pb::envoy::config::listener::v3::{FilterChain, Listener};

    #[test]
    fn an_access_log_joins_every_connection_manager() {
        let mut listeners = vec![Listener {
            name: "l".into(),
            filter_chains: vec![FilterChain {
                filters: vec![connection_manager(
                    "s",
                    Routes::Rds("80".into()),
                    vec![router()],
                    Direction::Inbound,
                )],
                ..Default::default()
            }],
            ..Default::default()
        }];
        let log = AccessLog {
            path: "/dev/stdout".into(),
            json_format: [("code".to_string(), "%RESPONSE_CODE%".to_string())].into(),
        };
        log.add_to(&mut listeners);
        let v = crate::json::to_json(&listeners[0]);
        let hcm = &v["filterChains"][0]["filters"][0]["typedConfig"];
        let al = &hcm["accessLog"][0];
        assert_eq!(al["name"], "envoy.access_loggers.file");
        assert_eq!(al["typedConfig"]["path"], "/dev/stdout");
        assert_eq!(
            al["typedConfig"]["logFormat"]["jsonFormat"]["code"],
            "%RESPONSE_CODE%"
        );
    }
}
