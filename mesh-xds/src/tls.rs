//! TLS contexts as Istio builds them: mesh certificates through SDS
//! (secrets `default` and `ROOTCA`), DestinationRule client TLS, gateway
//! server TLS.

use crate::util::{ads, any};
use envoy_types::pb::envoy::config::core::v3::{DataSource, TransportSocket, transport_socket};
use envoy_types::pb::envoy::extensions::transport_sockets::raw_buffer::v3::RawBuffer;
use envoy_types::pb::envoy::extensions::transport_sockets::tls::v3::{
    CertificateValidationContext, CommonTlsContext, DownstreamTlsContext, SdsSecretConfig,
    SubjectAltNameMatcher, UpstreamTlsContext,
    common_tls_context::{CombinedCertificateValidationContext, ValidationContextType},
    subject_alt_name_matcher::SanType,
};
use envoy_types::pb::envoy::r#type::matcher::v3::{StringMatcher, string_matcher::MatchPattern};

/// The SDS secret holding the workload certificate and key.
pub const SECRET_DEFAULT: &str = "default";
/// The SDS secret holding the mesh root certificate.
pub const SECRET_ROOTCA: &str = "ROOTCA";
/// The ALPN Istio offers on mTLS connections between sidecars.
pub const ISTIO_ALPN: &[&str] = &["istio-peer-exchange", "istio"];

/// An SDS secret config served over ADS.
pub fn sds(name: &str) -> SdsSecretConfig {
    SdsSecretConfig {
        name: name.to_string(),
        sds_config: Some(ads()),
    }
}

fn san_matchers(sans: &[String]) -> Vec<SubjectAltNameMatcher> {
    sans.iter()
        .map(|s| SubjectAltNameMatcher {
            san_type: if s.starts_with("spiffe://") {
                SanType::Uri as i32
            } else {
                SanType::Dns as i32
            },
            matcher: Some(StringMatcher {
                match_pattern: Some(MatchPattern::Exact(s.clone())),
                ..Default::default()
            }),
            ..Default::default()
        })
        .collect()
}

/// The common context of an Istio mTLS connection: the workload
/// certificate from SDS `default`, peers validated against SDS `ROOTCA`
/// and the given SANs.
pub fn istio_common_context(sans: &[String], alpn: &[&str]) -> CommonTlsContext {
    CommonTlsContext {
        tls_certificate_sds_secret_configs: vec![sds(SECRET_DEFAULT)],
        alpn_protocols: alpn.iter().map(|s| (*s).to_string()).collect(),
        validation_context_type: Some(ValidationContextType::CombinedValidationContext(
            CombinedCertificateValidationContext {
                default_validation_context: Some(CertificateValidationContext {
                    match_typed_subject_alt_names: san_matchers(sans),
                    ..Default::default()
                }),
                validation_context_sds_secret_config: Some(sds(SECRET_ROOTCA)),
                ..Default::default()
            },
        )),
        ..Default::default()
    }
}

/// The upstream TLS of an ISTIO_MUTUAL cluster (DR-8).
pub fn istio_mutual_upstream(sni: &str, sans: &[String], h2: bool) -> TransportSocket {
    let mut alpn: Vec<&str> = Vec::new();
    if h2 {
        alpn.push("istio-h2");
    }
    alpn.extend_from_slice(ISTIO_ALPN);
    let ctx = UpstreamTlsContext {
        common_tls_context: Some(istio_common_context(sans, &alpn)),
        sni: sni.to_string(),
        ..Default::default()
    };
    tls_socket(any(&ctx))
}

/// The downstream TLS of an inbound mTLS chain (PA-6): client certificates
/// required and validated against the mesh root.
pub fn istio_mutual_downstream() -> DownstreamTlsContext {
    DownstreamTlsContext {
        common_tls_context: Some(istio_common_context(&[], &["h2", "http/1.1"])),
        require_client_certificate: Some(crate::util::boolv(true)),
        ..Default::default()
    }
}

/// A `tls` transport socket with the given typed config.
pub fn tls_socket(config: envoy_types::pb::google::protobuf::Any) -> TransportSocket {
    TransportSocket {
        name: "envoy.transport_sockets.tls".into(),
        config_type: Some(transport_socket::ConfigType::TypedConfig(config)),
    }
}

/// A plaintext transport socket.
pub fn raw_buffer() -> TransportSocket {
    TransportSocket {
        name: "envoy.transport_sockets.raw_buffer".into(),
        config_type: Some(transport_socket::ConfigType::TypedConfig(any(
            &RawBuffer {},
        ))),
    }
}

/// A file data source (certificates named by path in a DestinationRule).
pub fn file(path: &str) -> DataSource {
    DataSource {
        specifier: Some(
            envoy_types::pb::envoy::config::core::v3::data_source::Specifier::Filename(
                path.to_string(),
            ),
        ),
        ..Default::default()
    }
}

/// The downstream TLS context of a terminating gateway server (GW-7):
/// `SIMPLE`, `MUTUAL`/`OPTIONAL_MUTUAL` (client certificates), with the
/// certificate from SDS `kubernetes://<credentialName>` or from files, or
/// `ISTIO_MUTUAL` with the mesh certificates.
pub fn gateway_server(t: &mesh_model::wire::networking::ServerTlsSettings) -> DownstreamTlsContext {
    use envoy_types::pb::envoy::extensions::transport_sockets::tls::v3::{
        TlsCertificate, TlsParameters, tls_parameters::TlsProtocol as EnvoyTls,
    };
    use mesh_model::wire::networking::{ServerTlsMode, TlsProtocol};
    let mode = t.mode.unwrap_or(ServerTlsMode::Simple);
    if mode == ServerTlsMode::IstioMutual {
        return istio_mutual_downstream();
    }
    let mutual = matches!(mode, ServerTlsMode::Mutual | ServerTlsMode::OptionalMutual);
    let mut common = CommonTlsContext {
        alpn_protocols: vec!["h2".into(), "http/1.1".into()],
        ..Default::default()
    };
    let creds: Vec<String> = t
        .credential_name
        .iter()
        .chain(t.credential_names.iter().flatten())
        .filter(|c| !c.is_empty())
        .cloned()
        .collect();
    if !creds.is_empty() {
        common.tls_certificate_sds_secret_configs = creds
            .iter()
            .map(|c| sds(&format!("kubernetes://{c}")))
            .collect();
        if mutual {
            let ca = t
                .ca_cert_credential_name
                .clone()
                .unwrap_or_else(|| format!("{}-cacert", creds[0]));
            common.validation_context_type =
                Some(ValidationContextType::ValidationContextSdsSecretConfig(
                    sds(&format!("kubernetes://{ca}")),
                ));
        }
    } else {
        let pairs: Vec<(String, String)> =
            match t.tls_certificates.as_ref().filter(|v| !v.is_empty()) {
                Some(list) => list
                    .iter()
                    .map(|c| {
                        (
                            c.server_certificate.clone().unwrap_or_default(),
                            c.private_key.clone().unwrap_or_default(),
                        )
                    })
                    .collect(),
                None => vec![(
                    t.server_certificate.clone().unwrap_or_default(),
                    t.private_key.clone().unwrap_or_default(),
                )],
            };
        common.tls_certificates = pairs
            .into_iter()
            .map(|(cert, key)| TlsCertificate {
                certificate_chain: Some(file(&cert)),
                private_key: Some(file(&key)),
                ..Default::default()
            })
            .collect();
        if mutual && let Some(ca) = &t.ca_certificates {
            common.validation_context_type = Some(ValidationContextType::ValidationContext(
                CertificateValidationContext {
                    trusted_ca: Some(file(ca)),
                    match_typed_subject_alt_names: san_matchers(
                        t.subject_alt_names.as_deref().unwrap_or_default(),
                    ),
                    ..Default::default()
                },
            ));
        }
    }
    let proto = |p: Option<TlsProtocol>| match p {
        Some(TlsProtocol::TlsV1_0) => EnvoyTls::TlSv10,
        Some(TlsProtocol::TlsV1_1) => EnvoyTls::TlSv11,
        Some(TlsProtocol::TlsV1_2) => EnvoyTls::TlSv12,
        Some(TlsProtocol::TlsV1_3) => EnvoyTls::TlSv13,
        _ => EnvoyTls::TlsAuto,
    } as i32;
    if t.min_protocol_version.is_some()
        || t.max_protocol_version.is_some()
        || t.cipher_suites.is_some()
    {
        common.tls_params = Some(TlsParameters {
            tls_minimum_protocol_version: proto(t.min_protocol_version),
            tls_maximum_protocol_version: proto(t.max_protocol_version),
            cipher_suites: t.cipher_suites.clone().unwrap_or_default(),
            ecdh_curves: t.ecdh_curves.clone().unwrap_or_default(),
            ..Default::default()
        });
    }
    DownstreamTlsContext {
        common_tls_context: Some(common),
        require_client_certificate: Some(crate::util::boolv(mode == ServerTlsMode::Mutual)),
        ..Default::default()
    }
}
